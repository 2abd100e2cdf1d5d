//! Who is asking: bearer tokens and console sessions at the HTTP edge.
//!
//! [`authenticate`] is the one path every `/api` route takes (the
//! [`Authenticated`] extractor wraps it). A request carries either a device
//! token in `Authorization: Bearer <token>` (or, for `/api/export` and
//! browsers that cannot set headers on a WebSocket, a `token` query
//! parameter) or the console's session cookie `gridsync_session`
//! (`session.rs`); a bearer token wins when both are present. Either is
//! hashed and looked up (the token in the [`Registry`], the session in the
//! session table), and resolves to the same [`Principal`]. A missing,
//! unknown, revoked or expired one gets HTTP 401 and nothing else happens
//! (no slot, no hub input but the audit row).
//!
//! A cookie-authenticated request other than GET and HEAD must also carry
//! `X-CSRF-Token` (from `/api/login` or `/api/me`), and if it has an
//! `Origin` header, that must name the request's `Host`; otherwise 403
//! `csrf`. A bearer-authenticated one needs neither: no other site can make
//! a browser send a token.
//!
//! The WebSocket upgrade takes bearer tokens only ([`admit`]): a cookie is
//! never looked at there, so no page can open a sync connection as the
//! browser's user, and the relay's revocation re-check stays a token
//! check. The connection then carries the user's [`Principal`] for its
//! whole life.
//!
//! Failed attempts on every route are rate limited with token buckets
//! (`Config::auth_failure_burst`, refilled one per
//! `Config::auth_failure_refill`), one per client IP and one per (client
//! IP, failing token or session). A credential that has used up its own
//! bucket gets HTTP 429 *before* it is looked up again (a device retrying
//! a revoked token costs nothing). Once an address's bucket is empty, a
//! credential from it is still looked up, and a valid one gets in, so one
//! bad device behind a carrier-grade NAT does not lock out the others
//! behind the same address; an invalid one gets 429, unaudited. A burst of
//! guesses therefore costs one hash and one key read each, and nothing is
//! written for them. Successful checks cost nothing. Passwords have
//! buckets of their own ([`LoginLimiter`]), stricter, since a password can
//! be guessed.
//!
//! Refusals are logged with the address and the reason, never the
//! credential.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use client_core::clip::clip;
use client_core::ids::GridCode;
use client_core::model::lifecycle::Role;
use client_core::store::RedbStore;
use serde::Deserialize;
use tracing::{debug, error, info, warn};

use crate::Config;
use crate::audit::{AuditAction, AuditRecord};
use crate::connection::Shared;
use crate::registry::{Registry, RegistryError, Scope, UserRecord, now_ms, token_hash};
use crate::relay::Input;
use crate::session;

/// An authenticated user, as a connection, a route and the access policy
/// see it, whether a device token or a console session vouched for it.
#[derive(Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: String,
    pub role: Role,
    pub scope: Scope,
    /// The grids the scope covers, resolved when the credential was checked
    /// (and again whenever the registry changes).
    pub grids: BTreeSet<GridCode>,
    /// The credential's id, for logs: the first 12 hex digits of the
    /// token's hash (as `token list` shows it), or of the session id's.
    pub token_id: String,
    /// What vouched for the user: how the relay re-checks it.
    pub(crate) credential: Credential,
    /// The registry generation it was checked at.
    pub(crate) generation: u64,
}

/// A checked credential, by its hash.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    Token {
        hash: String,
    },
    /// A console session, with the CSRF token its requests must carry.
    Session {
        hash: String,
        csrf: String,
    },
}

impl Credential {
    fn hash(&self) -> &str {
        match self {
            Credential::Token { hash } | Credential::Session { hash, .. } => hash,
        }
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("user", &self.user)
            .field("role", &self.role)
            .field("scope", &self.scope)
            .field("grids", &self.grids)
            .field("token_id", &self.token_id)
            .field("session", &self.by_session())
            .finish_non_exhaustive()
    }
}

impl Principal {
    /// Resolves a user vouched for by `credential` into a principal.
    pub(crate) fn resolve(
        registry: &Registry<'_>,
        user: UserRecord,
        credential: Credential,
    ) -> Result<Self, RegistryError> {
        let generation = registry.generation()?;
        let grids = registry.grids_in(&user.scope)?;
        Ok(Self {
            user: user.name,
            role: user.role,
            scope: user.scope,
            grids,
            token_id: credential.hash()[..12].to_owned(),
            credential,
            generation,
        })
    }

    /// The principal of a token hash, if the token is still valid.
    pub(crate) fn of_hash(
        registry: &Registry<'_>,
        hash: &str,
    ) -> Result<Option<Self>, RegistryError> {
        match registry.authenticate_hash(hash)? {
            Some((_, user)) => Self::resolve(
                registry,
                user,
                Credential::Token {
                    hash: hash.to_owned(),
                },
            )
            .map(Some),
            None => Ok(None),
        }
    }

    /// The principal of the session `id`, if it exists and has not expired.
    fn of_session(registry: &Registry<'_>, id: &str) -> Result<Option<Self>, RegistryError> {
        let hash = token_hash(id);
        let csrf = session::csrf_of(id);
        Self::of_session_hash(registry, hash, csrf)
    }

    fn of_session_hash(
        registry: &Registry<'_>,
        hash: String,
        csrf: String,
    ) -> Result<Option<Self>, RegistryError> {
        let Some(record) = session::get(registry.database(), &hash, now_ms())? else {
            return Ok(None);
        };
        match registry.user(&record.user)? {
            Some(user) => {
                Self::resolve(registry, user, Credential::Session { hash, csrf }).map(Some)
            }
            None => Ok(None),
        }
    }

    /// The same credential checked again: `None` once the token is revoked
    /// or the session ended or expired; else fresh role, scope and grids.
    pub(crate) fn refresh(&self, registry: &Registry<'_>) -> Result<Option<Self>, RegistryError> {
        match &self.credential {
            Credential::Token { hash } => Self::of_hash(registry, hash),
            Credential::Session { hash, csrf } => {
                Self::of_session_hash(registry, hash.clone(), csrf.clone())
            }
        }
    }

    /// Whether a console session (not a device token) vouched for this
    /// user: what a request must be to issue device tokens.
    pub fn by_session(&self) -> bool {
        matches!(self.credential, Credential::Session { .. })
    }

    /// The CSRF token of the session, for `/api/login` and `/api/me`.
    pub fn csrf(&self) -> Option<&str> {
        match &self.credential {
            Credential::Session { csrf, .. } => Some(csrf),
            Credential::Token { .. } => None,
        }
    }
}

/// Token buckets of failed attempts, keyed by [`Key`].
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
    /// One credential's failures from an address (by its hash).
    Token(IpAddr, String),
    /// Failed passwords for one user name from an address.
    User(IpAddr, String),
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Beyond this many tracked buckets, full ones are forgotten.
const MAX_TRACKED: usize = 10_000;

impl Limiter {
    fn new(burst: u32, refill: Duration) -> Self {
        Self {
            burst: f64::from(burst),
            refill,
            buckets: Mutex::default(),
        }
    }

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

    fn wait(&self, b: Bucket) -> Duration {
        self.refill.mul_f64(1.0 - b.tokens)
    }

    /// `Err(retry after)` when `key` has no attempt left.
    fn check(&self, key: &Key, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = self.bucket(&mut buckets, key, now);
        if b.tokens >= 1.0 {
            Ok(())
        } else {
            Err(self.wait(b))
        }
    }

    /// Spends one attempt of `key`.
    fn failed(&self, key: Key, now: Instant) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let mut b = self.bucket(&mut buckets, &key, now);
        b.tokens = (b.tokens - 1.0).max(0.0);
        self.put(&mut buckets, key, b, now);
    }

    /// Spends one attempt of `key` if it has one left (checked and spent
    /// under one lock, so parallel attempts cannot all pass the check);
    /// else `Err(retry after)` and nothing spent.
    fn spend(&self, key: Key, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let mut b = self.bucket(&mut buckets, &key, now);
        if b.tokens < 1.0 {
            return Err(self.wait(b));
        }
        b.tokens -= 1.0;
        self.put(&mut buckets, key, b, now);
        Ok(())
    }

    /// Gives back an attempt [`Limiter::spend`] took.
    fn refund(&self, key: Key, now: Instant) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let mut b = self.bucket(&mut buckets, &key, now);
        b.tokens = (b.tokens + 1.0).min(self.burst);
        self.put(&mut buckets, key, b, now);
    }

    fn put(&self, buckets: &mut HashMap<Key, Bucket>, key: Key, b: Bucket, now: Instant) {
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

/// Failed passwords: per (address, user name) (`Config::login_failure_burst`)
/// and per address, whatever the name (`Config::login_failure_burst_per_address`),
/// both refilled one per `Config::login_failure_refill`. Unlike a token, a
/// password can be guessed, so an attempt needs an attempt left in both,
/// spent before the password is checked and given back when it matched:
/// a locked-out pair or address gets 429 even for the right password
/// (else the lock-out would be an oracle).
#[derive(Debug)]
pub(crate) struct LoginLimiter {
    per_user: Limiter,
    per_addr: Limiter,
}

impl LoginLimiter {
    /// Spends an attempt of (`ip`, `user`) and of `ip`, or neither.
    pub(crate) fn spend(&self, ip: IpAddr, user: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let pair = Key::User(ip, user.to_owned());
        self.per_user.spend(pair.clone(), now)?;
        if let Err(after) = self.per_addr.spend(Key::Addr(ip), now) {
            self.per_user.refund(pair, now);
            return Err(after);
        }
        Ok(())
    }

    /// Gives back what [`LoginLimiter::spend`] took: the password matched
    /// (or was never checked).
    pub(crate) fn refund(&self, ip: IpAddr, user: &str) {
        let now = Instant::now();
        self.per_user.refund(Key::User(ip, user.to_owned()), now);
        self.per_addr.refund(Key::Addr(ip), now);
    }
}

/// Checks credentials for the HTTP handlers.
#[derive(Debug)]
pub(crate) struct Gate {
    store: Arc<RedbStore>,
    /// Shared with the access policy: true while the relay serves openly.
    open: Arc<AtomicBool>,
    limiter: Limiter,
    /// Failed passwords.
    pub(crate) logins: LoginLimiter,
    /// Password checks that may run at once (`Config::password_checks`).
    pub(crate) password_checks: Arc<tokio::sync::Semaphore>,
}

/// What a request presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Presented {
    Nothing,
    Token(String),
    /// A session id from the cookie.
    Session(String),
}

/// Why a request was turned away.
#[derive(Debug)]
pub(crate) enum Refusal {
    Unauthorized(&'static str),
    TooMany(Duration),
    Internal,
}

const NO_CREDENTIAL: &str = "a bearer token is required, or a console session: log in with \
     `POST /api/login` (the console does), run `gridsync login --server URL --user NAME`, or ask \
     an admin for a token (`gridsync-server token issue`)";
const NO_TOKEN: &str = "a bearer token is required: run `gridsync login --server URL --user NAME` \
     (or `--token TOKEN`), or ask an admin for a token (`gridsync-server token issue`)";
const BAD_TOKEN: &str =
    "unknown or revoked token: ask an admin for a new one and run `gridsync login` again";
const BAD_SESSION: &str = "unknown or expired session (sessions end after a while, at logout and when the password \
     changes): log in again";

impl Gate {
    pub(crate) fn new(store: Arc<RedbStore>, open: Arc<AtomicBool>, config: &Config) -> Self {
        Self {
            store,
            open,
            limiter: Limiter::new(config.auth_failure_burst, config.auth_failure_refill),
            logins: LoginLimiter {
                per_user: Limiter::new(config.login_failure_burst, config.login_failure_refill),
                per_addr: Limiter::new(
                    config.login_failure_burst_per_address,
                    config.login_failure_refill,
                ),
            },
            password_checks: Arc::new(tokio::sync::Semaphore::new(config.password_checks)),
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::SeqCst)
    }

    /// The principal of what was presented (or the refusal), rate limiting
    /// failures per `ip` and per (`ip`, credential). Reads, never writes.
    pub(crate) fn check(
        &self,
        ip: IpAddr,
        presented: &Presented,
        bearer_only: bool,
    ) -> Result<Principal, Refusal> {
        let now = Instant::now();
        let (secret, bad) = match presented {
            Presented::Token(t) if !t.is_empty() => (t, BAD_TOKEN),
            Presented::Session(s) if !s.is_empty() => (s, BAD_SESSION),
            _ => {
                let addr = Key::Addr(ip);
                self.limiter.check(&addr, now).map_err(Refusal::TooMany)?;
                self.limiter.failed(addr, now);
                return Err(Refusal::Unauthorized(if bearer_only {
                    NO_TOKEN
                } else {
                    NO_CREDENTIAL
                }));
            }
        };
        let hash = token_hash(secret);
        let this_one = Key::Token(ip, hash.clone());
        // A credential that failed too often from here is not looked up again.
        self.limiter
            .check(&this_one, now)
            .map_err(Refusal::TooMany)?;
        let db = self.store.database();
        let registry = Registry::reader(&db);
        let found = match presented {
            Presented::Session(id) => Principal::of_session(&registry, id),
            _ => Principal::of_hash(&registry, &hash),
        };
        match found {
            // Valid: in, even from an address out of attempts.
            Ok(Some(p)) => Ok(p),
            Ok(None) => {
                self.limiter.failed(this_one, now);
                let addr = Key::Addr(ip);
                let left = self.limiter.check(&addr, now);
                self.limiter.failed(addr, now);
                left.map_err(Refusal::TooMany)?;
                Err(Refusal::Unauthorized(bad))
            }
            Err(e) => {
                error!(error = %e, "could not read the registry to check a credential");
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

/// An error answer of the HTTP API: `{"error": <what to do>, "reason":
/// <machine code>}` with its status (and `Retry-After` for 429,
/// `WWW-Authenticate` for 401).
#[derive(Debug)]
pub(crate) struct Denial {
    pub status: StatusCode,
    /// A machine code: `unauthenticated`, `bad_credentials`, `csrf`,
    /// `rate_limited`, `session_required`, `bad_request`, ...
    pub reason: &'static str,
    pub message: Cow<'static, str>,
    /// For 429: when an attempt is free again.
    pub retry_after: Option<Duration>,
}

impl Denial {
    pub(crate) fn new(
        status: StatusCode,
        reason: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            reason,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Adds the detail `why` to the message.
    pub(crate) fn because(mut self, why: impl fmt::Display) -> Self {
        self.message = format!("{} ({})", self.message, clip(&why.to_string())).into();
        self
    }

    pub(crate) fn too_many(after: Duration) -> Self {
        Self {
            retry_after: Some(after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many failed logins from this address or with these credentials; wait and retry",
            )
        }
    }

    pub(crate) fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the relay could not check the credentials; retry later",
        )
    }

    fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "a request with the session cookie must come from this relay's own pages and carry \
             the X-CSRF-Token header that /api/login and /api/me give; reload the console",
        )
    }
}

impl IntoResponse for Denial {
    fn into_response(self) -> Response {
        let body = axum::Json(serde_json::json!({
            "error": self.message,
            "reason": self.reason,
        }));
        let mut response = (self.status, body).into_response();
        let h = response.headers_mut();
        if let Some(after) = self.retry_after {
            h.insert(header::RETRY_AFTER, after.as_secs().max(1).into());
        }
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"gridsync\""),
            );
        }
        response
    }
}

/// The one authentication path of every `/api` route: resolves the
/// request's bearer token or session cookie into its [`Principal`], and
/// for a cookie-authenticated `method` other than GET and HEAD checks the
/// CSRF token and the origin. Failures count against the rate limits, are
/// logged, and (401s) audited here. Reads the store, never writes it.
///
/// ```text
/// async fn handler(State(shared): State<Arc<Shared>>, ConnectInfo(addr): ConnectInfo<SocketAddr>,
///                  method: Method, headers: HeaderMap) -> Response {
///     let p = match auth::authenticate(&shared, &headers, addr, &method) {
///         Ok(p) => p,
///         Err(refused) => return refused.into_response(),
///     };
///     ...
/// }
/// ```
/// (a handler returning `Result<_, Denial>` can use `?`), or take
/// [`Authenticated`] as an argument.
pub(crate) fn authenticate(
    shared: &Shared,
    headers: &HeaderMap,
    addr: SocketAddr,
    method: &Method,
) -> Result<Principal, Denial> {
    authenticate_request(shared, headers, None, addr, method, "request")
}

/// [`authenticate`], also taking `query_token` (the query's `token=`, for
/// downloads a browser starts) when there is no `Authorization` header,
/// naming the route `what` in logs.
pub(crate) fn authenticate_request(
    shared: &Shared,
    headers: &HeaderMap,
    query_token: Option<String>,
    addr: SocketAddr,
    method: &Method,
    what: &str,
) -> Result<Principal, Denial> {
    let token = bearer(headers, None).or(query_token);
    let presented = match (token, session::cookie(headers)) {
        (Some(token), _) => Presented::Token(token),
        (None, Some(id)) => Presented::Session(id),
        (None, None) => Presented::Nothing,
    };
    let p = check(shared, addr, &presented, false, what)?;
    if p.by_session() && !matches!(*method, Method::GET | Method::HEAD) {
        let sent = headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let expected = p.csrf().unwrap_or_default();
        if !same_text(sent, expected) {
            warn!(%addr, user = %p.user, "{}: refused (HTTP 403), no or a wrong X-CSRF-Token", clip(what));
            return Err(Denial::csrf());
        }
        same_origin(headers).inspect_err(|_| {
            warn!(%addr, user = %p.user, "{}: refused (HTTP 403), from another origin", clip(what));
        })?;
    }
    Ok(p)
}

/// Compares without stopping at the first difference.
fn same_text(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// `Ok` unless the request has an `Origin` header that names neither its
/// `Host` nor, behind a proxy that rewrites `Host`, its `X-Forwarded-Host`
/// (a page of another site, or `Origin: null`). No page of another site
/// can set `X-Forwarded-Host`: a custom header needs a CORS preflight,
/// which the relay never grants.
pub(crate) fn same_origin(headers: &HeaderMap) -> Result<(), Denial> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let authority = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'));
    let mut ours = [header::HOST.as_str(), "x-forwarded-host"]
        .into_iter()
        .filter_map(|name| headers.get(name)?.to_str().ok())
        .flat_map(|hosts| hosts.split(','))
        .map(str::trim);
    if authority.is_some_and(|a| ours.any(|h| a.eq_ignore_ascii_case(h))) {
        Ok(())
    } else {
        Err(Denial::csrf())
    }
}

/// Checks `presented` for a request to `what`; a refusal is logged and
/// (401s) audited here.
fn check(
    shared: &Shared,
    addr: SocketAddr,
    presented: &Presented,
    bearer_only: bool,
    what: &str,
) -> Result<Principal, Denial> {
    let what = clip(what);
    match shared.gate.check(addr.ip(), presented, bearer_only) {
        Ok(p) => {
            debug!(%addr, user = %p.user, credential = %p.token_id, session = p.by_session(), "{what}: authenticated");
            Ok(p)
        }
        Err(Refusal::TooMany(after)) => {
            shared.metrics.refused(crate::metrics::Refused::RateLimited);
            debug!(%addr, "{what}: refused (HTTP 429), too many failed credentials");
            Err(Denial::too_many(after))
        }
        Err(Refusal::Unauthorized(why)) => {
            shared
                .metrics
                .refused(crate::metrics::Refused::Unauthenticated);
            warn!(%addr, reason = why, "{what}: refused (HTTP 401)");
            let mut record = AuditRecord::new(AuditAction::AuthFailed);
            record.addr = Some(addr.to_string());
            record.reason = Some(
                match presented {
                    Presented::Token(_) => "unknown or revoked token",
                    Presented::Session(_) => "unknown or expired session",
                    Presented::Nothing => "no token",
                }
                .into(),
            );
            if shared.hub.try_send(Input::Audit(record)).is_err() {
                debug!("the hub is busy; an auth failure goes unaudited");
            }
            Err(Denial::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                why,
            ))
        }
        Err(Refusal::Internal) => Err(Denial::internal()),
    }
}

/// An authenticated request: take it as a handler's argument and the
/// handler runs only for a request [`authenticate`] let in (else the
/// refusal is the answer). Takes a token from `?token=` too, for pages
/// and downloads that cannot set a header.
#[derive(Debug, Clone)]
pub(crate) struct Authenticated(pub Principal);

impl FromRequestParts<Arc<Shared>> for Authenticated {
    type Rejection = Denial;

    async fn from_request_parts(
        parts: &mut Parts,
        shared: &Arc<Shared>,
    ) -> Result<Self, Self::Rejection> {
        let Some(ConnectInfo(addr)) = parts.extensions.get::<ConnectInfo<SocketAddr>>().copied()
        else {
            error!("a request without its peer address reached an authenticated route");
            return Err(Denial::internal());
        };
        let query_token = parts.uri.query().and_then(|q| {
            q.split('&')
                .find_map(|pair| pair.strip_prefix("token="))
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        });
        authenticate_request(
            shared,
            &parts.headers,
            query_token,
            addr,
            &parts.method,
            parts.uri.path(),
        )
        .map(Authenticated)
    }
}

/// A request that must carry a bearer token in its `Authorization` header
/// (no `?token=`, no session cookie), even on an open relay: `GET
/// /metrics`. Failures are rate limited, logged and audited as for every
/// route; `what` names the route in logs.
pub(crate) fn authenticate_bearer(
    shared: &Shared,
    headers: &HeaderMap,
    addr: SocketAddr,
    what: &str,
) -> Result<Principal, Denial> {
    let presented = bearer(headers, None).map_or(Presented::Nothing, Presented::Token);
    check(shared, addr, &presented, true, what)
}

/// Checks a WebSocket upgrade (bearer tokens only, from the header or
/// `?token=`); `Ok(None)` on an open relay. A refusal is returned as the
/// response to send.
pub(crate) fn admit(
    shared: &Shared,
    addr: SocketAddr,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Option<Principal>, Box<Response>> {
    if shared.gate.is_open() {
        return Ok(None);
    }
    let presented = bearer(headers, query).map_or(Presented::Nothing, Presented::Token);
    match check(shared, addr, &presented, true, "upgrade") {
        Ok(p) => Ok(Some(p)),
        Err(denial) => Err(Box::new(denial.into_response())),
    }
}

/// `GET /api/me`: who the credential belongs to (for `gridsync login` and
/// the console), and the CSRF token when it is a session. Always needs a
/// credential, even on an open relay (there is nobody to be without one).
pub(crate) async fn me(Authenticated(p): Authenticated) -> Response {
    let mut response = axum::Json(session::Me::of(&p)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Longest device label `POST /api/tokens` takes, in bytes.
const MAX_LABEL_BYTES: usize = 128;

/// What `POST /api/tokens` takes.
#[derive(Debug, Deserialize)]
pub(crate) struct NewToken {
    device: String,
}

/// `POST /api/tokens` `{"device": LABEL}` → 201 `{"token","id"}`: a device
/// token for the logged-in user. Only a console session may ask (a
/// password was given for it): a device token that could mint tokens
/// would outlive its own revocation.
pub(crate) async fn issue_token(
    State(shared): State<Arc<Shared>>,
    Authenticated(p): Authenticated,
    body: Result<axum::Json<NewToken>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if !p.by_session() {
        return Denial::new(
            StatusCode::FORBIDDEN,
            "session_required",
            "device tokens are issued to a logged-in person: log in with a password \
             (`gridsync login --server URL --user NAME`), or ask an admin \
             (`gridsync-server token issue`)",
        )
        .into_response();
    }
    let device = match body {
        Ok(axum::Json(NewToken { device })) => device.trim().to_owned(),
        Err(e) => {
            return Denial::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "send JSON {\"device\": LABEL} naming the new device",
            )
            .because(e.body_text())
            .into_response();
        }
    };
    if device.is_empty() || device.len() > MAX_LABEL_BYTES {
        return Denial::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("name the device in 1 to {MAX_LABEL_BYTES} bytes, for example \"王伟的手机\""),
        )
        .into_response();
    }
    let store = shared.store.clone();
    let user = p.user.clone();
    let label = device.clone();
    let issued = tokio::task::spawn_blocking(move || {
        Registry::reader(&store.database()).issue_token(&user, Some(label))
    })
    .await;
    match issued {
        Ok(Ok((token, record))) => {
            info!(user = %p.user, token = %record.id, device = %clip(&device), "issued a device token");
            let mut row = AuditRecord::new(AuditAction::TokenIssued);
            row.user = Some(p.user.clone());
            row.reason = Some(format!("token {} for device {device}", record.id));
            if shared.hub.try_send(Input::Audit(row)).is_err() {
                debug!("the hub is busy; a token issue goes unaudited");
            }
            let mut response = (
                StatusCode::CREATED,
                axum::Json(serde_json::json!({ "token": token, "id": record.id })),
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Ok(Err(e)) => {
            error!(error = %e, user = %p.user, "could not issue a device token");
            Denial::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "read_only",
                "the relay could not store the token (its disk may be full); retry later",
            )
            .into_response()
        }
        Err(_) => Denial::internal().into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_empties_on_failures_and_refills_with_time() {
        let limiter = Limiter::new(3, Duration::from_secs(3600));
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
    fn a_login_spends_both_buckets_or_neither() {
        let logins = LoginLimiter {
            per_user: Limiter::new(2, Duration::from_secs(3600)),
            per_addr: Limiter::new(3, Duration::from_secs(3600)),
        };
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(logins.spend(ip, "chen").is_ok());
        assert!(logins.spend(ip, "chen").is_ok());
        assert!(logins.spend(ip, "chen").is_err(), "the pair is spent");
        assert!(logins.spend(ip, "zhou").is_ok(), "the address has one left");
        assert!(logins.spend(ip, "wang").is_err(), "the address is spent");
        logins.refund(ip, "zhou");
        assert!(logins.spend(ip, "wang").is_ok(), "a refund gives one back");
        assert!(logins.spend("10.0.0.2".parse().unwrap(), "chen").is_ok());
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

    #[test]
    fn an_origin_must_name_the_host() {
        let mut headers = HeaderMap::new();
        assert!(
            same_origin(&headers).is_ok(),
            "no Origin: not a browser's cross-site request"
        );
        headers.insert(header::HOST, "relay.example:3030".parse().unwrap());
        headers.insert(
            header::ORIGIN,
            "https://relay.example:3030".parse().unwrap(),
        );
        assert!(same_origin(&headers).is_ok());
        headers.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(same_origin(&headers).is_err());
        headers.insert(header::ORIGIN, "null".parse().unwrap());
        assert!(same_origin(&headers).is_err());
        // Behind a proxy that rewrites Host.
        headers.insert(header::HOST, "127.0.0.1:3030".parse().unwrap());
        headers.insert("x-forwarded-host", "grid.example.cn".parse().unwrap());
        headers.insert(header::ORIGIN, "https://grid.example.cn".parse().unwrap());
        assert!(same_origin(&headers).is_ok());
        headers.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(same_origin(&headers).is_err());
        assert!(same_text("abc", "abc") && !same_text("abc", "abd") && !same_text("ab", "abc"));
    }
}
