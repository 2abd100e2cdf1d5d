//! Who is connecting: bearer tokens at the HTTP edge.
//!
//! A WebSocket upgrade (and `GET /api/me`) carries a token in
//! `Authorization: Bearer <token>` or, for browsers that cannot set
//! headers on a WebSocket, in a `token` query parameter. The token is
//! hashed and looked up in the [`Registry`]; a missing, unknown or revoked
//! one gets HTTP 401 and nothing else happens (no slot, no hub input but
//! the audit row). The connection then carries the user's [`Principal`]
//! for its whole life.
//!
//! Failed attempts on every route (the upgrade, `/api/me`, `/api/export`)
//! are rate limited with token buckets (`Config::auth_failure_burst`,
//! refilled one per `Config::auth_failure_refill`), one per client IP and
//! one per (client IP, failing token). A token that has used up its own
//! bucket gets HTTP 429 *before* it is looked up again (a device retrying
//! a revoked token costs nothing). Once an address's bucket is empty, a
//! token from it is still looked up, and a valid one gets in, so one bad
//! device behind a carrier-grade NAT does not lock out the others behind
//! the same address; an invalid one gets 429, unaudited. A burst of guesses
//! therefore costs one hash and one key read each, and nothing is written
//! for them. Successful logins cost nothing.
//!
//! Refusals are logged with the address and the reason, never the token.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use client_core::ids::GridCode;
use client_core::model::lifecycle::Role;
use client_core::store::RedbStore;
use serde::Serialize;
use tracing::{debug, error, warn};

use crate::audit::{AuditAction, AuditRecord};
use crate::connection::Shared;
use crate::registry::{Registry, RegistryError, Scope, TokenRecord, UserRecord, token_hash};
use crate::relay::Input;

/// An authenticated user, as a connection and the access policy see it.
#[derive(Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: String,
    pub role: Role,
    pub scope: Scope,
    /// The grids the scope covers, resolved when the token was checked
    /// (and again whenever the registry changes).
    pub grids: BTreeSet<GridCode>,
    /// The token's id (first 12 hex digits of its hash), for logs.
    pub token_id: String,
    /// The token's hash: how the relay re-checks it after a revocation.
    pub(crate) token_hash: String,
    /// The registry generation it was checked at.
    pub(crate) generation: u64,
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("user", &self.user)
            .field("role", &self.role)
            .field("scope", &self.scope)
            .field("grids", &self.grids)
            .field("token_id", &self.token_id)
            .finish_non_exhaustive()
    }
}

impl Principal {
    /// Resolves a token's user into a principal.
    pub(crate) fn resolve(
        registry: &Registry<'_>,
        token: TokenRecord,
        user: UserRecord,
        hash: String,
    ) -> Result<Self, RegistryError> {
        let generation = registry.generation()?;
        let grids = registry.grids_in(&user.scope)?;
        Ok(Self {
            user: user.name,
            role: user.role,
            scope: user.scope,
            grids,
            token_id: token.id,
            token_hash: hash,
            generation,
        })
    }

    /// The principal of a token hash, if the token is still valid.
    pub(crate) fn of_hash(
        registry: &Registry<'_>,
        hash: &str,
    ) -> Result<Option<Self>, RegistryError> {
        match registry.authenticate_hash(hash)? {
            Some((token, user)) => Self::resolve(registry, token, user, hash.to_owned()).map(Some),
            None => Ok(None),
        }
    }
}

/// Token buckets of failed attempts, per client IP and per (client IP,
/// token).
#[derive(Debug)]
struct Limiter {
    burst: f64,
    refill: Duration,
    buckets: Mutex<HashMap<Key, Bucket>>,
}

/// What a bucket counts the failures of.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// Every failure from an address.
    Addr(IpAddr),
    /// One token's failures from an address (by the token's hash).
    Token(IpAddr, String),
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Beyond this many tracked buckets, full ones are forgotten.
const MAX_TRACKED: usize = 10_000;

impl Limiter {
    fn bucket(&self, buckets: &mut HashMap<Key, Bucket>, key: &Key, now: Instant) -> Bucket {
        let b = buckets.get(key).copied().unwrap_or(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refilled =
            now.saturating_duration_since(b.at).as_secs_f64() / self.refill.as_secs_f64();
        Bucket {
            tokens: (b.tokens + refilled).min(self.burst),
            at: now,
        }
    }

    /// `Err(retry after)` when `key` has no attempt left.
    fn check(&self, key: &Key, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = self.bucket(&mut buckets, key, now);
        if b.tokens >= 1.0 {
            Ok(())
        } else {
            Err(self.refill.mul_f64(1.0 - b.tokens))
        }
    }

    /// Spends one attempt of `key`.
    fn failed(&self, key: Key, now: Instant) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let mut b = self.bucket(&mut buckets, &key, now);
        b.tokens = (b.tokens - 1.0).max(0.0);
        if buckets.len() >= MAX_TRACKED {
            let burst = self.burst;
            let refill = self.refill;
            buckets.retain(|_, old| {
                let idle = now.saturating_duration_since(old.at);
                old.tokens + idle.as_secs_f64() / refill.as_secs_f64() < burst
            });
        }
        buckets.insert(key, b);
    }
}

/// Checks tokens for the HTTP handlers.
#[derive(Debug)]
pub(crate) struct Gate {
    store: Arc<RedbStore>,
    /// Shared with the access policy: true while the relay serves openly.
    open: Arc<AtomicBool>,
    limiter: Limiter,
}

/// Why a request was turned away.
#[derive(Debug)]
pub(crate) enum Refusal {
    Unauthorized(&'static str),
    TooMany(Duration),
    Internal,
}

impl Gate {
    pub(crate) fn new(
        store: Arc<RedbStore>,
        open: Arc<AtomicBool>,
        burst: u32,
        refill: Duration,
    ) -> Self {
        Self {
            store,
            open,
            limiter: Limiter {
                burst: f64::from(burst),
                refill,
                buckets: Mutex::default(),
            },
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::SeqCst)
    }

    /// The principal of `token` (or the refusal), rate limiting failures
    /// per `ip` and per (`ip`, token). Reads the registry, never writes.
    pub(crate) fn check(&self, ip: IpAddr, token: Option<&str>) -> Result<Principal, Refusal> {
        let now = Instant::now();
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            let addr = Key::Addr(ip);
            self.limiter.check(&addr, now).map_err(Refusal::TooMany)?;
            self.limiter.failed(addr, now);
            return Err(Refusal::Unauthorized(
                "a bearer token is required: run `gridsync login --server URL --token TOKEN`, \
                 or ask an admin for a token (`gridsync-server token issue`)",
            ));
        };
        let hash = token_hash(token);
        let this_token = Key::Token(ip, hash.clone());
        // A token that failed too often from here is not looked up again.
        self.limiter
            .check(&this_token, now)
            .map_err(Refusal::TooMany)?;
        let db = self.store.database();
        let registry = Registry::reader(&db);
        match Principal::of_hash(&registry, &hash) {
            // Valid: in, even from an address out of attempts.
            Ok(Some(p)) => Ok(p),
            Ok(None) => {
                self.limiter.failed(this_token, now);
                let addr = Key::Addr(ip);
                let left = self.limiter.check(&addr, now);
                self.limiter.failed(addr, now);
                left.map_err(Refusal::TooMany)?;
                Err(Refusal::Unauthorized(
                    "unknown or revoked token: ask an admin for a new one and run `gridsync login` again",
                ))
            }
            Err(e) => {
                error!(error = %e, "could not read the registry to check a token");
                Err(Refusal::Internal)
            }
        }
    }
}

/// The token of a request: `Authorization: Bearer`, else `?token=`.
/// Issued tokens are `gs_` and base58, which need no URL decoding.
pub(crate) fn bearer(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(value) = headers.get(header::AUTHORIZATION)
        && let Ok(value) = value.to_str()
        && let Some((scheme, token)) = value.trim().split_once(' ')
        && scheme.eq_ignore_ascii_case("bearer")
    {
        return Some(token.trim().to_owned());
    }
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .map(str::to_owned)
}

/// Why a request was not authenticated, as each route renders it.
#[derive(Debug)]
pub(crate) struct Denial {
    pub status: StatusCode,
    pub message: &'static str,
    /// For 429: when an attempt is free again.
    pub retry_after: Option<Duration>,
}

/// Authenticates a request to `what` (for logs) carrying `token`: the
/// shared path of every route, so failures on all of them count against
/// the same rate limit. A refusal is logged and (401s) audited here.
pub(crate) fn authenticate(
    shared: &Shared,
    addr: SocketAddr,
    token: Option<&str>,
    what: &'static str,
) -> Result<Principal, Denial> {
    match shared.gate.check(addr.ip(), token) {
        Ok(p) => {
            debug!(%addr, user = %p.user, token = %p.token_id, "{what}: authenticated");
            Ok(p)
        }
        Err(Refusal::TooMany(after)) => {
            debug!(%addr, "{what}: refused (HTTP 429), too many failed tokens");
            Err(Denial {
                status: StatusCode::TOO_MANY_REQUESTS,
                message: "too many failed logins from this address or with this token; wait and retry",
                retry_after: Some(after),
            })
        }
        Err(Refusal::Unauthorized(why)) => {
            warn!(%addr, reason = why, "{what}: refused (HTTP 401)");
            let mut record = AuditRecord::new(AuditAction::AuthFailed);
            record.addr = Some(addr.to_string());
            record.reason = Some(
                if token.is_some() {
                    "unknown or revoked token"
                } else {
                    "no token"
                }
                .into(),
            );
            if shared.hub.try_send(Input::Audit(record)).is_err() {
                debug!("the hub is busy; an auth failure goes unaudited");
            }
            Err(Denial {
                status: StatusCode::UNAUTHORIZED,
                message: why,
                retry_after: None,
            })
        }
        Err(Refusal::Internal) => Err(Denial {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "the relay could not check the token; retry later",
            retry_after: None,
        }),
    }
}

/// Checks a request to `what` (for logs); `Ok(None)` on an open relay
/// unless `always` asks for a token anyway. A refusal is returned as the
/// plain-text response to send.
pub(crate) fn admit(
    shared: &Shared,
    addr: SocketAddr,
    headers: &HeaderMap,
    query: Option<&str>,
    what: &'static str,
    always: bool,
) -> Result<Option<Principal>, Box<Response>> {
    if !always && shared.gate.is_open() {
        return Ok(None);
    }
    let token = bearer(headers, query);
    match authenticate(shared, addr, token.as_deref(), what) {
        Ok(p) => Ok(Some(p)),
        Err(denial) => {
            let mut response = (denial.status, denial.message).into_response();
            if let Some(after) = denial.retry_after {
                let secs = after.as_secs().max(1);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, secs.into());
            }
            if denial.status == StatusCode::UNAUTHORIZED {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    "Bearer".parse().expect("a header value"),
                );
            }
            Err(Box::new(response))
        }
    }
}

/// What `GET /api/me` answers: who the token belongs to, for
/// `gridsync login`.
#[derive(Debug, Serialize)]
struct Me {
    user: String,
    role: Role,
    scope: Scope,
    grids: Vec<GridCode>,
}

/// `GET /api/me`: the identity of the bearer token. Always needs a token,
/// even on an open relay (there is nobody to be without one).
pub(crate) async fn me(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match admit(&shared, addr, &headers, query.as_deref(), "/api/me", true) {
        Ok(Some(p)) => axum::Json(Me {
            user: p.user,
            role: p.role,
            scope: p.scope,
            grids: p.grids.into_iter().collect(),
        })
        .into_response(),
        Ok(None) => unreachable!("`always` asks for a token"),
        Err(response) => *response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_empties_on_failures_and_refills_with_time() {
        let limiter = Limiter {
            burst: 3.0,
            refill: Duration::from_secs(3600),
            buckets: Mutex::default(),
        };
        let a = Key::Addr("10.0.0.1".parse().unwrap());
        let b = Key::Addr("10.0.0.2".parse().unwrap());
        let now = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(&a, now).is_ok());
            limiter.failed(a.clone(), now);
        }
        let wait = limiter.check(&a, now).unwrap_err();
        assert!(wait > Duration::from_secs(3000), "{wait:?}");
        assert!(
            limiter.check(&b, now).is_ok(),
            "other addresses are unaffected"
        );
        let later = now + Duration::from_secs(3600);
        assert!(limiter.check(&a, later).is_ok(), "one attempt refilled");
        limiter.failed(a.clone(), later);
        assert!(limiter.check(&a, later).is_err(), "and spent again");
    }

    #[test]
    fn the_token_comes_from_the_header_or_the_query() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            bearer(&headers, Some("a=1&token=gs_q")),
            Some("gs_q".into())
        );
        headers.insert(header::AUTHORIZATION, "Bearer gs_h".parse().unwrap());
        assert_eq!(bearer(&headers, Some("token=gs_q")), Some("gs_h".into()));
        assert_eq!(bearer(&HeaderMap::new(), None), None);
    }
}
