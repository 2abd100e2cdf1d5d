//! The records API: JSON over HTTP for the supervisor console, scoped
//! exactly like sync.
//!
//! Every route authenticates through [`crate::auth::authenticate`] (the
//! one path of every route, so failures count against the same rate limit)
//! and then asks the access policy (`access.rs`) the same questions the
//! hub asks for a WebSocket peer: a ticket the caller may not read is 404,
//! exactly like a missing one; an action its role or scope may not take is
//! 403.
//!
//! - **Reads** (`tickets.rs`, `figures.rs`, `admin.rs`) run on tokio's
//!   blocking pool over the relay's store, never on the async workers or
//!   the hub thread. Lists and queue counts come from the store's summary
//!   index (`Store::grid_summaries`) without loading a document; the read
//!   decision is made from each [`TicketSummary`] by the policy's
//!   `may_read_summary`, the function the hub's document check shares. One
//!   ticket is loaded whole (`detail.rs`): fields, events with actor and
//!   role and whether the fold applied them, conflicts explained, and the
//!   actions the caller may take next, computed from `lifecycle::RULES`.
//! - **Writes** (`write.rs`) are performed *as the caller* on the hub
//!   thread: an [`Input::Write`](crate::relay::Input) carries the principal
//!   and the operation, the thread runs client-core's `Device` operation
//!   (`act`, `comment`, `report`) with the caller's identity and an
//!   Automerge actor derived for (this relay, that user) and registered to
//!   the user, commits through the hub's store and tells the hub
//!   (`Hub::local_change`), so subscribed devices receive it at once and
//!   others on their next sync (`relay/records.rs`).
//! - **Live changes** (`events.rs`): after every commit the hub thread
//!   broadcasts the summaries of the tickets that changed; each
//!   `GET /api/events` stream keeps those its caller may read. A
//!   subscriber that falls behind the broadcast is dropped; the hub never
//!   waits for one.
//! - `GET /api/openapi.json` (`openapi.rs`) describes every route; a test
//!   checks it against [`ROUTES`], which holds every `/api` route the relay
//!   serves, the login, session, token and export routes of `session.rs`,
//!   `auth.rs` and `export/http.rs` included (the relay's router adds no
//!   `/api` route of its own).
//!
//! Errors are `{"error": "<what to do next>", "reason": "<code>"}` with
//! 400, 401, 403, 404, 409, 429, 500 or 503 ([`ApiError`]).

mod admin;
mod detail;
mod events;
mod figures;
mod index;
mod openapi;
mod tickets;
pub(crate) mod write;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, RawQuery};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use chrono::{FixedOffset, TimeZone};
use serde::Serialize;
use tracing::error;

use crate::auth::{self, Principal};
use crate::connection::Shared;

pub(crate) use events::Changes;
pub(crate) use index::SummaryIndex;

/// Every `/api` route: (method, path as axum routes it). The router is
/// built from this list, and the OpenAPI test checks the document against
/// it.
pub const ROUTES: &[(&str, &str)] = &[
    // Logging in (`crate::session`), who one is and device tokens
    // (`crate::auth`), the district-review export (`crate::export::http`).
    ("post", "/api/login"),
    ("post", "/api/logout"),
    ("get", "/api/me"),
    ("post", "/api/tokens"),
    ("get", "/api/export"),
    ("get", "/api/tickets"),
    ("post", "/api/tickets"),
    ("get", "/api/tickets/{id}"),
    ("post", "/api/tickets/{id}/actions"),
    ("post", "/api/tickets/{id}/comments"),
    ("get", "/api/queues"),
    ("get", "/api/visits"),
    ("get", "/api/figures"),
    ("get", "/api/events"),
    ("get", "/api/admin/users"),
    ("get", "/api/admin/grids"),
    ("get", "/api/admin/tokens"),
    ("get", "/api/admin/audit"),
    ("get", "/api/openapi.json"),
    // Photos (`crate::blobs::http`): tus 1.0 uploads and the photos.
    ("options", "/api/blobs"),
    ("post", "/api/blobs"),
    ("head", "/api/blobs/{hash}"),
    ("patch", "/api/blobs/{hash}"),
    ("get", "/api/blobs/{hash}"),
];

/// The records API's routes, to merge into the relay's router.
pub(crate) fn router() -> Router<Arc<Shared>> {
    let mut router = Router::new();
    for (method, path) in ROUTES {
        router = router.route(path, handler(method, path));
    }
    router
}

fn handler(method: &str, path: &str) -> MethodRouter<Arc<Shared>> {
    match (method, path) {
        ("post", "/api/login") => post(crate::session::login),
        ("post", "/api/logout") => post(crate::session::logout),
        ("get", "/api/me") => get(auth::me),
        ("post", "/api/tokens") => post(auth::issue_token),
        ("get", "/api/export") => get(crate::export::http::export),
        ("get", "/api/tickets") => get(tickets::list),
        ("post", "/api/tickets") => post(write::create),
        ("get", "/api/tickets/{id}") => get(tickets::one),
        ("post", "/api/tickets/{id}/actions") => post(write::act),
        ("post", "/api/tickets/{id}/comments") => post(write::comment),
        ("get", "/api/queues") => get(tickets::queues),
        ("get", "/api/visits") => get(figures::visits),
        ("get", "/api/figures") => get(figures::figures),
        ("get", "/api/events") => get(events::stream),
        ("get", "/api/admin/users") => get(admin::users),
        ("get", "/api/admin/grids") => get(admin::grids),
        ("get", "/api/admin/tokens") => get(admin::tokens),
        ("get", "/api/admin/audit") => get(admin::audit),
        ("get", "/api/openapi.json") => get(openapi::serve),
        ("options", "/api/blobs") => axum::routing::options(crate::blobs::http::options),
        ("post", "/api/blobs") => post(crate::blobs::http::create),
        ("head", "/api/blobs/{hash}") => axum::routing::head(crate::blobs::http::head),
        ("patch", "/api/blobs/{hash}") => axum::routing::patch(crate::blobs::http::patch),
        ("get", "/api/blobs/{hash}") => get(crate::blobs::http::get),
        _ => unreachable!("every route in ROUTES has a handler: {method} {path}"),
    }
}

/// An error answer: a status, a machine-readable reason and a sentence
/// saying what to do next.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub reason: &'static str,
    pub message: String,
    /// For 429: when an attempt is free again.
    pub retry_after: Option<Duration>,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            reason,
            message: message.into(),
            retry_after: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A fault of the relay's own (logged here, with its cause).
    pub(crate) fn internal(what: &str, cause: &dyn std::fmt::Display) -> Self {
        error!(error = %cause, "records API: {what}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!(
                "the relay could not {what}; retry, and if it persists the relay's log says why"
            ),
        )
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    reason: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = axum::Json(ErrorBody {
            error: &self.message,
            reason: self.reason,
        });
        let mut response = (self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(after) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, after.as_secs().max(1).into());
        }
        response
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// Who is calling `what` (for logs): the request's credentials resolved by
/// [`auth::authenticate`], on an open relay too (the API acts as someone).
pub(crate) fn caller(
    shared: &Shared,
    addr: SocketAddr,
    headers: &HeaderMap,
    query: Option<&str>,
    method: &axum::http::Method,
    what: &'static str,
) -> ApiResult<Principal> {
    // The session-aware authenticate (merge of wt-auth): a cookie-borne
    // request other than GET/HEAD must carry the session's CSRF token.
    let token = auth::bearer(headers, query);
    auth::authenticate_request(shared, headers, token, addr, method, what).map_err(|denial| {
        ApiError {
            status: denial.status,
            reason: match denial.status {
                StatusCode::UNAUTHORIZED => "unauthorized",
                StatusCode::TOO_MANY_REQUESTS => "rate_limited",
                _ => denial.reason,
            },
            message: denial.message.into_owned(),
            retry_after: denial.retry_after,
        }
    })
}

/// The request parts every handler authenticates from.
pub(crate) struct Request {
    pub addr: SocketAddr,
    pub method: axum::http::Method,
    pub headers: HeaderMap,
    pub query: Option<String>,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Request {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let ConnectInfo(addr) = ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
            .await
            .unwrap_or(ConnectInfo(SocketAddr::from(([0, 0, 0, 0], 0))));
        let RawQuery(query) = RawQuery::from_request_parts(parts, state)
            .await
            .unwrap_or(RawQuery(None));
        Ok(Self {
            addr,
            method: parts.method.clone(),
            headers: parts.headers.clone(),
            query,
        })
    }
}

impl Request {
    pub(crate) fn caller(&self, shared: &Shared, what: &'static str) -> ApiResult<Principal> {
        caller(
            shared,
            self.addr,
            &self.headers,
            self.query.as_deref(),
            &self.method,
            what,
        )
    }

    /// The query's `(key, value)` pairs, URL-decoded (`token` left out).
    pub(crate) fn pairs(&self) -> ApiResult<Vec<(String, String)>> {
        let Some(q) = self.query.as_deref() else {
            return Ok(Vec::new());
        };
        let pairs: Vec<(String, String)> = serde_urlencoded_pairs(q)?;
        Ok(pairs.into_iter().filter(|(k, _)| k != "token").collect())
    }
}

/// Decodes `a=1&b=x%20y` (axum's `Query` would reject repeated keys into a
/// map; a list of pairs keeps them).
fn serde_urlencoded_pairs(q: &str) -> ApiResult<Vec<(String, String)>> {
    use axum::extract::Query;
    let uri: axum::http::Uri = format!("/?{q}")
        .parse()
        .map_err(|_| ApiError::bad_request("the query string is not valid; check its encoding"))?;
    Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map(|Query(p)| p)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

/// Runs `f` on the blocking pool (store reads never run on async workers).
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(ApiError::internal("answer the request", &e)))
}

/// The offset every JSON time is written at (+08:00, as the export).
pub(crate) fn offset() -> FixedOffset {
    client_core::report::china_offset()
}

/// ms since the epoch as ISO 8601 at +08:00 (`2025-01-06T09:30:00+08:00`).
pub(crate) fn iso(ms: i64) -> Option<String> {
    offset()
        .timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false))
}

/// An optional instant as ISO 8601 text or `null`.
pub(crate) fn iso_opt(ms: Option<i64>) -> Option<String> {
    ms.and_then(iso)
}

/// Parses an instant: ISO 8601 with an offset, or a day (YYYY-MM-DD,
/// midnight at +08:00).
pub(crate) fn parse_instant(field: &str, text: &str) -> ApiResult<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    parse_day_start(field, text)
}

/// Midnight (+08:00) starting day `text` (YYYY-MM-DD).
pub(crate) fn parse_day_start(field: &str, text: &str) -> ApiResult<i64> {
    let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        ApiError::bad_request(format!(
            "`{field}` is `{}`, not a date; give YYYY-MM-DD",
            client_core::clip::clip(text)
        ))
    })?;
    day.and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(offset()).single())
        .map(|t| t.timestamp_millis())
        .ok_or_else(|| ApiError::bad_request(format!("`{field}` is out of range")))
}

/// The relay's clock, ms since the epoch (read at the edge).
pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
