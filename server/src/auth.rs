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
//! Failed attempts are rate limited per client IP with a token bucket
//! (`Config::auth_failure_burst`, refilled one per
//! `Config::auth_failure_refill`): once the bucket is empty, requests from
//! that IP get HTTP 429 *before* their token is looked at, so a burst of
//! guesses learns nothing and costs the relay almost nothing, while other
//! clients keep being served. Successful logins cost nothing. Devices
//! behind one NAT share a bucket; that is the price of the limit.
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

/// Token buckets of failed attempts, per client IP.
#[derive(Debug)]
struct Limiter {
    burst: f64,
    refill: Duration,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Beyond this many tracked addresses, full buckets are forgotten.
const MAX_TRACKED: usize = 10_000;

impl Limiter {
    fn bucket(&self, buckets: &mut HashMap<IpAddr, Bucket>, ip: IpAddr, now: Instant) -> Bucket {
        let b = buckets.get(&ip).copied().unwrap_or(Bucket {
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

    /// `Err(retry after)` when `ip` has no attempt left.
    fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = self.bucket(&mut buckets, ip, now);
        if b.tokens >= 1.0 {
            Ok(())
        } else {
            Err(self.refill.mul_f64(1.0 - b.tokens))
        }
    }

    /// Spends one attempt of `ip`.
    fn failed(&self, ip: IpAddr, now: Instant) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let mut b = self.bucket(&mut buckets, ip, now);
        b.tokens = (b.tokens - 1.0).max(0.0);
        if buckets.len() >= MAX_TRACKED {
            let burst = self.burst;
            let refill = self.refill;
            buckets.retain(|_, old| {
                let idle = now.saturating_duration_since(old.at);
                old.tokens + idle.as_secs_f64() / refill.as_secs_f64() < burst
            });
        }
        buckets.insert(ip, b);
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
    /// per `ip`.
    pub(crate) fn check(&self, ip: IpAddr, token: Option<&str>) -> Result<Principal, Refusal> {
        let now = Instant::now();
        self.limiter.check(ip, now).map_err(Refusal::TooMany)?;
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            self.limiter.failed(ip, now);
            return Err(Refusal::Unauthorized(
                "a bearer token is required: run `gridsync login --server URL --token TOKEN`, \
                 or ask an admin for a token (`gridsync-server token issue`)",
            ));
        };
        let db = self.store.database();
        let registry = Registry::reader(&db);
        let hash = token_hash(token);
        match Principal::of_hash(&registry, &hash) {
            Ok(Some(p)) => Ok(p),
            Ok(None) => {
                self.limiter.failed(ip, now);
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

/// Checks a request to `what` (for logs); `Ok(None)` on an open relay
/// unless `always` asks for a token anyway. A refusal is logged and
/// audited here and returned as the response to send.
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
    match shared.gate.check(addr.ip(), token.as_deref()) {
        Ok(p) => {
            debug!(%addr, user = %p.user, token = %p.token_id, "{what}: authenticated");
            Ok(Some(p))
        }
        Err(Refusal::TooMany(after)) => {
            debug!(%addr, "{what}: refused, too many failed tokens from this address");
            let secs = after.as_secs().max(1).to_string();
            Err(Box::new(
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, secs)],
                    "too many failed logins from this address; wait and retry",
                )
                    .into_response(),
            ))
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
            Err(Box::new(
                (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Bearer")],
                    why,
                )
                    .into_response(),
            ))
        }
        Err(Refusal::Internal) => Err(Box::new(
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the relay could not check the token; retry later",
            )
                .into_response(),
        )),
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
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let now = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(a, now).is_ok());
            limiter.failed(a, now);
        }
        let wait = limiter.check(a, now).unwrap_err();
        assert!(wait > Duration::from_secs(3000), "{wait:?}");
        assert!(
            limiter.check(b, now).is_ok(),
            "other addresses are unaffected"
        );
        let later = now + Duration::from_secs(3600);
        assert!(limiter.check(a, later).is_ok(), "one attempt refilled");
        limiter.failed(a, later);
        assert!(limiter.check(a, later).is_err(), "and spent again");
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
