//! `GET /api/export`: the district-review export over HTTP.
//!
//! Parameters: `format` (xlsx|csv|geojson|json, required), `table` (csv
//! only), `from`, `to` (YYYY-MM-DD, `to` inclusive), `grid` (repeat, or
//! comma-separated), `community`, `street`, `district`, `lang` (zh|en),
//! `offset` (+HH:MM), `include_personal` (true|false), and `token` when the
//! client cannot send `Authorization: Bearer`.
//!
//! Only reviewers, supervisors and admins may export; the grids read are
//! the intersection of the request and the user's scope, as for sync.
//! Residents' personal data is for admins only. Errors are JSON
//! `{"error": "..."}` with 400, 401, 403, 404 or 500.
//!
//! The token or session is checked like every other route's
//! (`auth::authenticate_request`: one registry read, nothing written,
//! failures counted against the same rate limit) before anything else is done; the export itself runs on
//! tokio's blocking pool, never on the async workers. The export is written to an unnamed
//! temporary file (gone when closed, even after a crash) and the file is
//! then streamed as the body: the status says whether the export is
//! complete, and memory stays flat. At most [`MAX_CONCURRENT`] exports run
//! at once; more wait their turn. A client that hangs up stops its export
//! at the next record.

use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use client_core::ids::GridCode;
use client_core::model::lifecycle::Role;
use client_core::report::{Format, Lang, ReportOptions};
use client_core::store::RedbStore;
use tokio::io::AsyncReadExt as _;
use tokio::sync::Semaphore;
use tracing::{error, info, warn};

use super::{ExportError, Hooks, Selection, Written};
use crate::auth::Principal;
use crate::connection::Shared;
use crate::registry::Registry;

/// Exports that may run at once (each keeps a core busy).
pub(crate) const MAX_CONCURRENT: usize = 2;

static EXPORTS: Semaphore = Semaphore::const_new(MAX_CONCURRENT);

/// What the query asks for.
#[derive(Debug)]
struct Params {
    format: Format,
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
    selection: Selection,
    lang: Lang,
    offset: chrono::FixedOffset,
    include_personal: bool,
    /// The base of photo links: this relay's `/api/blobs/` as the request
    /// reached it.
    photo_url: Option<String>,
}

/// An export ready to send.
struct Ready {
    file: std::fs::File,
    len: u64,
    name: String,
    written: Written,
    grids: usize,
    filter: String,
}

/// An error answer.
struct Refusal {
    status: StatusCode,
    message: String,
    /// For 429: when to retry.
    retry_after: Option<std::time::Duration>,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }
}

impl From<ExportError> for Refusal {
    fn from(e: ExportError) -> Self {
        let status = match &e {
            ExportError::Usage(_) => StatusCode::BAD_REQUEST,
            ExportError::Forbidden(_) => StatusCode::FORBIDDEN,
            ExportError::NoMatch(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Refusal::new(status, e.to_string())
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = axum::Json(serde_json::json!({ "error": self.message }));
        let mut response = (self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"gridsync\""),
            );
        }
        if let Some(after) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, after.as_secs().max(1).into());
        }
        response
    }
}

/// Sets the flag when the request is dropped (the client hung up).
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

pub(crate) async fn export(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let metrics = shared.metrics.clone();
    match answer(shared, addr, &headers, query).await {
        Ok(response) => response,
        Err(refusal) => {
            if refusal.status == StatusCode::FORBIDDEN {
                metrics.denied(crate::metrics::Denied::Export);
            }
            refusal.into_response()
        }
    }
}

async fn answer(
    shared: Arc<Shared>,
    addr: SocketAddr,
    headers: &HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Refusal> {
    let pairs = match query {
        Ok(Query(pairs)) => pairs,
        Err(e) => return Err(Refusal::new(StatusCode::BAD_REQUEST, e.body_text())),
    };
    let user = crate::auth::authenticate_request(
        &shared,
        headers,
        bearer(headers, &pairs),
        addr,
        &axum::http::Method::GET,
        "/api/export",
    )
    .map_err(|denial| Refusal {
        status: denial.status,
        message: denial.message.into_owned(),
        retry_after: denial.retry_after,
    })?;
    if !matches!(user.role, Role::Reviewer | Role::Supervisor | Role::Admin) {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            format!(
                "exports are for reviewers, supervisors and admins; `{}` is a {}",
                user.user, user.role
            ),
        ));
    }
    let mut params = parse(&pairs)?;
    params.photo_url = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(axum::http::header::HOST))
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.split(',').next())
        .map(|host| format!("http://{}/api/blobs/", host.trim()));
    if params.include_personal && user.role != Role::Admin {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            format!(
                "include_personal adds residents' names, phone numbers and notes, and only an \
                 admin may export them; `{}` is a {}. Export without include_personal, or ask \
                 an admin",
                user.user, user.role
            ),
        ));
    }

    let _permit = EXPORTS
        .acquire()
        .await
        .map_err(|_| Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "exports are closed"))?;
    let cancelled = Arc::new(AtomicBool::new(false));
    let _guard = CancelOnDrop(cancelled.clone());
    let store = shared.store.clone();
    let who = user.clone();
    let format = params.format;
    let include_personal = params.include_personal;
    let ready = blocking(move || Ok(run(&store, &who, params, &cancelled)?)).await;
    let ready = match ready {
        Ok(ready) => ready,
        Err(refusal) => {
            if refusal.status.is_server_error() {
                error!(user = %user.user, error = %refusal.message, "export failed");
            } else {
                info!(user = %user.user, status = %refusal.status, error = %refusal.message, "export refused");
            }
            return Err(refusal);
        }
    };
    shared.metrics.exported(format);
    let stats = &ready.written.stats;
    info!(
        user = %user.user,
        role = %user.role,
        scope = %user.scope,
        format = format.extension(),
        filter = %ready.filter,
        grids = ready.grids,
        tickets = stats.tickets_exported,
        visits = stats.visits_exported,
        include_personal,
        bytes = ready.len,
        "export served"
    );
    if ready.written.documents_skipped > 0 {
        warn!(
            user = %user.user,
            skipped = ready.written.documents_skipped,
            "the export left out documents it could not read"
        );
    }
    Ok(respond(ready, format))
}

fn respond(ready: Ready, format: Format) -> Response {
    let file = tokio::fs::File::from_std(ready.file);
    let chunks = futures_util::stream::try_unfold(file, |mut file| async move {
        let mut buf = vec![0u8; 64 * 1024];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok::<_, std::io::Error>(None);
        }
        buf.truncate(n);
        Ok(Some((Bytes::from(buf), file)))
    });
    let disposition = format!("attachment; filename=\"{}\"", ready.name);
    let mut response = Body::from_stream(chunks).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(format)),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(ready.len));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    // Exports may hold residents' data: keep them out of caches.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn content_type(format: Format) -> &'static str {
    match format {
        Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Format::CsvZip => "application/zip",
        Format::Csv(_) => "text/csv; charset=utf-8",
        Format::GeoJson => "application/geo+json",
        Format::Json => "application/json",
    }
}

/// Runs `f` on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Refusal> + Send + 'static,
) -> Result<T, Refusal> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        error!(error = %e, "an export task panicked");
        Err(Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the export failed unexpectedly; the relay's log says why",
        ))
    })
}

/// Selects the grids and writes the export to an unnamed temporary file.
fn run(
    store: &RedbStore,
    user: &Principal,
    params: Params,
    cancelled: &AtomicBool,
) -> Result<Ready, ExportError> {
    let now = chrono::Utc::now().timestamp_millis();
    let period = super::period(params.from, params.to, params.offset, now)?;
    let db = store.database();
    let registry = Registry::reader(&db);
    let selected = super::select(&registry, store, &params.selection, &user.scope)?;
    let mut options = ReportOptions::new(period);
    options.as_of = Some(now);
    options.lang = params.lang;
    options.offset = params.offset;
    options.include_personal = params.include_personal;
    options.photo_url = params.photo_url;
    let filter = selected.filter.describe(Lang::En);
    options.filter = selected.filter;
    options.grids = selected.directory;

    let io = |e: std::io::Error| ExportError::Report(e.into());
    let mut file = tempfile::tempfile().map_err(io)?;
    let written = {
        let mut sink = BufWriter::new(&mut file);
        let hooks = Hooks {
            cancelled: &|| cancelled.load(Ordering::Relaxed),
            ..Hooks::default()
        };
        let written = super::write(
            store,
            &selected.grids,
            params.format,
            options,
            &mut sink,
            hooks,
        )?;
        sink.flush().map_err(io)?;
        written
    };
    let len = file.seek(SeekFrom::End(0)).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    Ok(Ready {
        file,
        len,
        name: super::file_name(params.format, period, params.offset),
        written,
        grids: selected.grids.len(),
        filter,
    })
}

/// The request's token: `Authorization: Bearer`, else `?token=` (URL
/// decoded); `None` when neither holds one.
fn bearer(headers: &HeaderMap, pairs: &[(String, String)]) -> Option<String> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let (scheme, token) = value.to_str().ok()?.trim().split_once(' ')?;
        let token = token.trim();
        return (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty())
            .then(|| token.to_owned());
    }
    pairs
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.trim().to_owned())
        .filter(|t| !t.is_empty())
}

fn parse(pairs: &[(String, String)]) -> Result<Params, Refusal> {
    let bad = |m: String| Refusal::new(StatusCode::BAD_REQUEST, m);
    let mut format = None;
    let mut table = None;
    let mut params = Params {
        format: Format::Json,
        from: None,
        to: None,
        selection: Selection::default(),
        lang: Lang::Zh,
        offset: client_core::report::china_offset(),
        include_personal: false,
        photo_url: None,
    };
    let mut seen: Vec<&str> = Vec::new();
    for (key, value) in pairs {
        let key = key.as_str();
        if key != "grid" && key != "token" {
            if seen.contains(&key) {
                return Err(bad(format!("`{key}` is given twice; give it once")));
            }
            seen.push(key);
        }
        let value = value.trim();
        let name = || {
            if value.is_empty() {
                Err(bad(format!(
                    "`{key}` is blank; give a name or leave it out"
                )))
            } else {
                Ok(Some(value.to_owned()))
            }
        };
        match key {
            "format" => format = Some(value),
            "table" => table = Some(value),
            "from" => params.from = Some(super::parse_day(value).map_err(bad)?),
            "to" => params.to = Some(super::parse_day(value).map_err(bad)?),
            "grid" => {
                for code in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                    let grid = GridCode::new(code).map_err(|e| bad(format!("grid: {e}")))?;
                    if !params.selection.grids.contains(&grid) {
                        params.selection.grids.push(grid);
                    }
                }
            }
            "community" => params.selection.community = name()?,
            "street" => params.selection.street = name()?,
            "district" => params.selection.district = name()?,
            "lang" => params.lang = super::parse_lang(value)?,
            "offset" => params.offset = super::parse_offset(value).map_err(bad)?,
            "include_personal" => {
                params.include_personal = match value {
                    "true" | "1" | "yes" => true,
                    "false" | "0" | "no" => false,
                    other => {
                        return Err(bad(format!(
                            "include_personal is true or false, not `{other}`"
                        )));
                    }
                }
            }
            "token" => {}
            other => {
                return Err(bad(format!(
                    "unknown parameter `{other}`; the export takes format, table, from, to, \
                     grid, community, street, district, lang, offset and include_personal"
                )));
            }
        }
    }
    let format =
        format.ok_or_else(|| bad("`format` is required: xlsx, csv, geojson or json".to_owned()))?;
    params.format = super::format(format, table)?;
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &[(&str, &str)]) -> Vec<(String, String)> {
        query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn parameters_are_checked() {
        let p = parse(&pairs(&[
            ("format", "csv"),
            ("table", "tickets"),
            ("grid", "G-01,G-02"),
            ("grid", "G-03"),
            ("community", "幸福社区"),
            ("lang", "en"),
            ("include_personal", "true"),
            ("token", "x"),
        ]))
        .ok()
        .unwrap();
        assert_eq!(p.format, Format::Csv(client_core::report::Table::Tickets));
        assert_eq!(p.selection.grids.len(), 3);
        assert_eq!(p.selection.community.as_deref(), Some("幸福社区"));
        assert_eq!(p.lang, Lang::En);
        assert!(p.include_personal);

        let refused = |q: &[(&str, &str)]| parse(&pairs(q)).err().unwrap();
        assert!(refused(&[]).message.contains("`format` is required"));
        assert!(
            refused(&[("format", "xlsx"), ("grids", "G-01")])
                .message
                .contains("unknown parameter `grids`")
        );
        assert!(
            refused(&[("format", "xlsx"), ("from", "2025-13-01")])
                .message
                .contains("not a date")
        );
        assert!(
            refused(&[("format", "xlsx"), ("lang", "en"), ("lang", "zh")])
                .message
                .contains("twice")
        );
        assert!(
            refused(&[("format", "xlsx"), ("community", " ")])
                .message
                .contains("blank")
        );
        assert_eq!(
            refused(&[("format", "xlsx"), ("table", "tickets")]).status,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn the_token_comes_from_the_header_or_the_query() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers, &pairs(&[("token", "q")])).unwrap(), "q");
        // No token: `authenticate` answers 401.
        assert_eq!(bearer(&headers, &[]), None);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  abc "),
        );
        assert_eq!(bearer(&headers, &[]).unwrap(), "abc");
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert!(bearer(&headers, &pairs(&[("token", "q")])).is_none());
    }
}
