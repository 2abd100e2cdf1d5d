//! Console sessions: `POST /api/login` with a name and a password gives a
//! session cookie; `POST /api/logout` ends it.
//!
//! A session id is 32 random bytes (`gss_` and base58), sent only in the
//! cookie `gridsync_session` (HttpOnly, SameSite=Strict, Path=/, Max-Age the
//! session's lifetime, Secure when the request came over TLS, that is with
//! `X-Forwarded-Proto: https` from the proxy in front). The relay stores
//! only the id's SHA-256 (as it stores tokens), in the `sessions` table of
//! its database, with the user and an absolute expiry
//! (`Config::session_lifetime`, 8 hours by default; no sliding renewal).
//! The `session_expiry` table indexes them by expiry, so every login
//! deletes the sessions that have expired since without scanning the rest.
//! Setting a user's password ends all their sessions
//! (`Registry::set_password`).
//!
//! The CSRF token is derived from the session id (SHA-256 of a fixed prefix
//! and the id), so nothing more is stored: whoever holds the cookie can
//! compute it, no one who only sees the database or another page can.
//! `auth::authenticate` asks for it on every cookie-authenticated request
//! other than GET and HEAD.
//!
//! A login is checked on a blocking thread (an Argon2id hash takes tens of
//! milliseconds and 19 MiB), at most `Config::password_checks` at once.
//! Failures are rate limited per address and per (address, user name) and
//! spent *before* the check, so a burst of parallel guesses gets no more
//! tries than a sequence; a name without a password, or no such user, is
//! checked against a dummy hash, so the answer takes as long and says the
//! same (`bad_credentials`). Nothing is written before the password
//! matched but the failure's audit row (through the hub's queue, dropped
//! when it is full).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::{debug, error, info, warn};

use crate::audit::{AuditAction, AuditRecord};
use crate::auth::{self, Credential, Denial, Principal};
use crate::connection::Shared;
use crate::password;
use crate::registry::{
    Registry, RegistryError, UserRecord, decode, encode, now_ms, secret, token_hash,
};
use crate::relay::Input;

/// The session cookie's name.
pub const COOKIE: &str = "gridsync_session";

/// SHA-256 hex of the session id → JSON [`SessionRecord`].
const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
/// (expiry in ms since the epoch, big-endian, then the id's hash) → ().
const EXPIRY: TableDefinition<&[u8], ()> = TableDefinition::new("session_expiry");

/// Longest user name a login may carry (longer is bad input).
const MAX_NAME_BYTES: usize = 256;

/// One stored session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SessionRecord {
    pub user: String,
    /// ms since the epoch.
    pub created_at: i64,
    /// ms since the epoch; the session is refused from then on.
    pub expires_at: i64,
}

/// A session just opened: the id goes into the cookie and is then
/// forgotten.
pub(crate) struct NewSession {
    pub id: String,
    pub hash: String,
    pub csrf: String,
}

/// Creates the session tables inside `tx` (with the registry's).
pub(crate) fn create_tables(tx: &WriteTransaction) -> Result<(), RegistryError> {
    tx.open_table(SESSIONS)?;
    tx.open_table(EXPIRY)?;
    Ok(())
}

fn expiry_key(expires_at: i64, hash: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + hash.len());
    key.extend_from_slice(&u64::try_from(expires_at.max(0)).unwrap_or(0).to_be_bytes());
    key.extend_from_slice(hash.as_bytes());
    key
}

/// The CSRF token of the session `id`.
pub(crate) fn csrf_of(id: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"gridsync-csrf\0")
        .chain_update(id.as_bytes())
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Opens a session of `user` lasting `lifetime`, deleting the sessions
/// that have expired, in one transaction.
pub(crate) fn open(
    db: &Database,
    user: &str,
    lifetime: Duration,
) -> Result<NewSession, RegistryError> {
    let now = now_ms();
    let id = secret("gss_");
    let hash = token_hash(&id);
    let lifetime_ms = i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX);
    let record = SessionRecord {
        user: user.to_owned(),
        created_at: now,
        expires_at: now.saturating_add(lifetime_ms),
    };
    let tx = db.begin_write()?;
    {
        let mut sessions = tx.open_table(SESSIONS)?;
        let mut expiry = tx.open_table(EXPIRY)?;
        let mut expired = Vec::new();
        for entry in expiry.range::<&[u8]>(..expiry_key(now, "").as_slice())? {
            expired.push(entry?.0.value().to_vec());
        }
        for key in &expired {
            expiry.remove(key.as_slice())?;
            if let Some(hash) = key.get(8..).and_then(|h| std::str::from_utf8(h).ok()) {
                sessions.remove(hash)?;
            }
        }
        if !expired.is_empty() {
            debug!(sessions = expired.len(), "deleted expired sessions");
        }
        sessions.insert(hash.as_str(), encode(&record).as_slice())?;
        expiry.insert(expiry_key(record.expires_at, &hash).as_slice(), ())?;
    }
    tx.commit()?;
    Ok(NewSession {
        csrf: csrf_of(&id),
        id,
        hash,
    })
}

/// The session whose id hashes to `hash`, unless it has expired at `now`
/// (ms). Reads only.
pub(crate) fn get(
    db: &Database,
    hash: &str,
    now: i64,
) -> Result<Option<SessionRecord>, RegistryError> {
    let tx = db.begin_read()?;
    let t = tx.open_table(SESSIONS)?;
    let record: Option<SessionRecord> = t.get(hash)?.map(|v| decode(v.value())).transpose()?;
    Ok(record.filter(|r| r.expires_at > now))
}

/// Ends the session whose id hashes to `hash`; whether there was one.
pub(crate) fn end(db: &Database, hash: &str) -> Result<bool, RegistryError> {
    let tx = db.begin_write()?;
    let ended = {
        let mut sessions = tx.open_table(SESSIONS)?;
        let record: Option<SessionRecord> = sessions
            .remove(hash)?
            .map(|v| decode(v.value()))
            .transpose()?;
        if let Some(r) = &record {
            tx.open_table(EXPIRY)?
                .remove(expiry_key(r.expires_at, hash).as_slice())?;
        }
        record.is_some()
    };
    tx.commit()?;
    Ok(ended)
}

/// Ends every session of `user` inside `tx`; how many. Scans the session
/// table (a few per console user; called when a password changes).
pub(crate) fn end_all_of(tx: &WriteTransaction, user: &str) -> Result<usize, RegistryError> {
    let mut sessions = tx.open_table(SESSIONS)?;
    let mut theirs = Vec::new();
    for entry in sessions.iter()? {
        let (k, v) = entry?;
        let record: SessionRecord = decode(v.value())?;
        if record.user == user {
            theirs.push((k.value().to_owned(), record.expires_at));
        }
    }
    let mut expiry = tx.open_table(EXPIRY)?;
    for (hash, expires_at) in &theirs {
        sessions.remove(hash.as_str())?;
        expiry.remove(expiry_key(*expires_at, hash).as_slice())?;
    }
    Ok(theirs.len())
}

/// The session id in the request's `Cookie` headers, if any.
pub(crate) fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE && !value.is_empty()).then(|| value.trim_matches('"').to_owned())
        })
}

/// Whether the request reached the proxy in front of the relay over TLS.
fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// The `Set-Cookie` value carrying `id` for `max_age`, or clearing the
/// cookie (`None`).
fn set_cookie(id: Option<&str>, max_age: Duration, headers: &HeaderMap) -> HeaderValue {
    // Rounded up: a lifetime under a second is not a cookie deleted at once.
    let (value, age) = match id {
        Some(id) => (
            id,
            max_age.as_secs() + u64::from(max_age.subsec_nanos() > 0),
        ),
        None => ("", 0),
    };
    let secure = if over_tls(headers) { "; Secure" } else { "" };
    let cookie =
        format!("{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={age}{secure}");
    HeaderValue::from_str(&cookie).expect("session ids are base58")
}

/// What `POST /api/login` takes.
#[derive(Deserialize)]
pub(crate) struct Login {
    user: String,
    password: String,
}

/// What a password check found.
enum Checked {
    Matched(UserRecord),
    /// The user exists and has a password, and this is not it.
    Wrong,
    /// No such user, or one without a password (checked against the dummy).
    NoPassword,
}

/// Checks `password` for `name`: always one Argon2id verification and the
/// same two reads, whether the user exists or not.
fn check(db: &Database, name: &str, password: &str) -> Result<Checked, RegistryError> {
    let registry = Registry::reader(db);
    let user = registry.user(name)?;
    let hash = registry.password_hash(name)?;
    Ok(match (user, hash) {
        (Some(user), Some(hash)) => {
            if password::verify(&hash, password) {
                Checked::Matched(user)
            } else {
                Checked::Wrong
            }
        }
        _ => {
            password::verify(password::dummy(), password);
            Checked::NoPassword
        }
    })
}

/// What a login answers (`GET /api/me` answers the same for a session).
#[derive(Serialize)]
pub(crate) struct Me {
    pub user: String,
    pub role: client_core::model::lifecycle::Role,
    pub scope: crate::registry::Scope,
    pub grids: Vec<client_core::ids::GridCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf: Option<String>,
}

impl Me {
    pub(crate) fn of(p: &Principal) -> Self {
        Self {
            user: p.user.clone(),
            role: p.role,
            scope: p.scope.clone(),
            grids: p.grids.iter().cloned().collect(),
            csrf: p.csrf().map(str::to_owned),
        }
    }
}

fn bad_credentials() -> Denial {
    Denial::new(
        StatusCode::UNAUTHORIZED,
        "bad_credentials",
        "wrong user name or password; check both and retry (an admin sets passwords with \
         `gridsync-server user passwd NAME`)",
    )
}

fn audit(shared: &Shared, record: AuditRecord) {
    if shared.hub.try_send(Input::Audit(record)).is_err() {
        debug!("the hub is busy; a login goes unaudited");
    }
}

/// `POST /api/login` `{"user","password"}`: 200 with who they are and the
/// CSRF token, and the session cookie.
pub(crate) async fn login(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<axum::Json<Login>, JsonRejection>,
) -> Response {
    match log_in(&shared, addr, &headers, body).await {
        Ok(response) => response,
        Err(denial) => denial.into_response(),
    }
}

async fn log_in(
    shared: &Arc<Shared>,
    addr: SocketAddr,
    headers: &HeaderMap,
    body: Result<axum::Json<Login>, JsonRejection>,
) -> Result<Response, Denial> {
    // A foreign page may not log a browser in (login CSRF).
    auth::same_origin(headers)?;
    let axum::Json(Login { user, password }) = body.map_err(|e| {
        Denial::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "send JSON {\"user\": NAME, \"password\": PASSWORD} with Content-Type: application/json",
        )
        .because(e.body_text())
    })?;
    if user.len() > MAX_NAME_BYTES || password.len() > password::MAX_BYTES {
        return Err(Denial::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the user name or the password is too long",
        ));
    }
    let ip = addr.ip();
    shared.gate.logins.spend(ip, &user).map_err(|after| {
        shared.metrics.refused(crate::metrics::Refused::RateLimited);
        debug!(%addr, "login refused (HTTP 429): too many failed passwords");
        Denial::too_many(after)
    })?;
    let permit = shared
        .gate
        .password_checks
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| Denial::internal())?;
    let store = shared.store.clone();
    let name = user.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        check(&store.database(), &name, &password)
    })
    .await;
    let matched = match checked {
        Ok(Ok(Checked::Matched(record))) => record,
        Ok(Ok(failed)) => {
            let known = matches!(failed, Checked::Wrong);
            shared
                .metrics
                .refused(crate::metrics::Refused::Unauthenticated);
            warn!(%addr, known_user = known, "login refused (HTTP 401): bad credentials");
            let mut record = AuditRecord::new(AuditAction::AuthFailed);
            record.addr = Some(addr.to_string());
            // An unknown name is not kept: people type passwords into it.
            if known {
                record.user = Some(user.clone());
                record.reason = Some("wrong password".into());
            } else {
                record.reason = Some("login for an unknown user or one without a password".into());
            }
            audit(shared, record);
            return Err(bad_credentials());
        }
        Ok(Err(e)) => {
            shared.gate.logins.refund(ip, &user);
            error!(error = %e, "could not read the registry to check a password");
            return Err(Denial::internal());
        }
        Err(e) => {
            shared.gate.logins.refund(ip, &user);
            error!(error = %e, "a password check panicked");
            return Err(Denial::internal());
        }
    };
    shared.gate.logins.refund(ip, &user);
    let store = shared.store.clone();
    let lifetime = shared.config.session_lifetime;
    let opened = tokio::task::spawn_blocking(move || {
        let db = store.database();
        let new = open(&db, &matched.name, lifetime)?;
        let credential = Credential::Session {
            hash: new.hash.clone(),
            csrf: new.csrf.clone(),
        };
        let p = Principal::resolve(&Registry::reader(&db), matched, credential)?;
        Ok::<_, RegistryError>((new, p))
    })
    .await;
    let (new, principal) = match opened {
        Ok(Ok(opened)) => opened,
        Ok(Err(e)) => {
            error!(error = %e, "could not store a session");
            return Err(Denial::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "read_only",
                "the relay could not store the session (its disk may be full); retry later",
            ));
        }
        Err(e) => {
            error!(error = %e, "opening a session panicked");
            return Err(Denial::internal());
        }
    };
    info!(%addr, user = %principal.user, session = %principal.token_id, "logged in");
    let mut record = AuditRecord::new(AuditAction::Login);
    record.user = Some(principal.user.clone());
    record.addr = Some(addr.to_string());
    audit(shared, record);
    let mut response = axum::Json(Me::of(&principal)).into_response();
    let h = response.headers_mut();
    h.insert(
        header::SET_COOKIE,
        set_cookie(Some(&new.id), lifetime, headers),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `POST /api/logout`: ends the request's session (204) and clears the
/// cookie. A bearer token is not a session: 400.
pub(crate) async fn logout(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    method: axum::http::Method,
    headers: HeaderMap,
) -> Response {
    let p = match auth::authenticate(&shared, &headers, addr, &method) {
        Ok(p) => p,
        Err(refused) => return refused.into_response(),
    };
    let Credential::Session { hash, .. } = &p.credential else {
        return Denial::new(
            StatusCode::BAD_REQUEST,
            "not_a_session",
            "this request carries a device token, which logout does not end; an admin revokes \
             tokens with `gridsync-server token revoke ID`",
        )
        .into_response();
    };
    let store = shared.store.clone();
    let hash = hash.clone();
    match tokio::task::spawn_blocking(move || end(&store.database(), &hash)).await {
        Ok(Ok(_)) => {
            info!(user = %p.user, session = %p.token_id, "logged out");
            let mut response = StatusCode::NO_CONTENT.into_response();
            response.headers_mut().insert(
                header::SET_COOKIE,
                set_cookie(None, Duration::ZERO, &headers),
            );
            response
        }
        Ok(Err(e)) => {
            error!(error = %e, "could not end a session");
            Denial::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "read_only",
                "the relay could not end the session (its disk may be full); retry later",
            )
            .into_response()
        }
        Err(_) => Denial::internal().into_response(),
    }
}

#[cfg(test)]
mod tests {
    use redb::ReadableTableMetadata as _;

    use super::*;

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        assert_eq!(cookie(&headers), None);
        headers.append(header::COOKIE, "a=1; b=2".parse().unwrap());
        headers.append(
            header::COOKIE,
            format!("x=y; {COOKIE}=gss_abc; z=1").parse().unwrap(),
        );
        assert_eq!(cookie(&headers).as_deref(), Some("gss_abc"));
        let mut empty = HeaderMap::new();
        empty.insert(header::COOKIE, format!("{COOKIE}=").parse().unwrap());
        assert_eq!(cookie(&empty), None);
    }

    #[test]
    fn sessions_expire_end_and_leave_no_id_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("r.redb")).unwrap();
        let tx = db.begin_write().unwrap();
        create_tables(&tx).unwrap();
        tx.commit().unwrap();
        let a = open(&db, "chen", Duration::from_secs(3600)).unwrap();
        let b = open(&db, "zhou", Duration::from_millis(1)).unwrap();
        let now = now_ms();
        assert_eq!(get(&db, &a.hash, now).unwrap().unwrap().user, "chen");
        assert!(get(&db, &b.hash, now + 10).unwrap().is_none(), "expired");
        assert_ne!(a.csrf, csrf_of(&b.id));
        std::thread::sleep(Duration::from_millis(5));
        // The next login deletes the expired one.
        let c = open(&db, "chen", Duration::from_secs(3600)).unwrap();
        let tx = db.begin_read().unwrap();
        assert!(
            tx.open_table(SESSIONS)
                .unwrap()
                .get(b.hash.as_str())
                .unwrap()
                .is_none()
        );
        assert_eq!(tx.open_table(EXPIRY).unwrap().len().unwrap(), 2);
        drop(tx);
        assert!(end(&db, &a.hash).unwrap());
        assert!(!end(&db, &a.hash).unwrap());
        let tx = db.begin_write().unwrap();
        assert_eq!(end_all_of(&tx, "chen").unwrap(), 1);
        tx.commit().unwrap();
        assert!(get(&db, &c.hash, now).unwrap().is_none());
        drop(db);
        let raw = std::fs::read(dir.path().join("r.redb")).unwrap();
        for id in [&a.id, &b.id, &c.id, &a.csrf] {
            assert!(!raw.windows(id.len()).any(|w| w == id.as_bytes()));
        }
    }
}
