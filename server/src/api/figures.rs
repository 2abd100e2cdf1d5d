//! `GET /api/figures` (the district-review figures, computed by the export
//! itself) and `GET /api/visits` (visits by grid and period).

use std::io::Write;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use client_core::ids::{GridCode, TicketId, VisitId};
use client_core::model::grid_index;
use client_core::model::lifecycle::Role;
use client_core::model::visit::{self, Outcome, VisitType};
use client_core::report::{Format, Lang, ReportOptions};
use client_core::store::{RedbStore, Store};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;

use super::tickets::grids_of;
use super::{ApiError, ApiResult, Request, blocking, iso, iso_opt};
use crate::access;
use crate::auth::Principal;
use crate::connection::Shared;
use crate::export::{self, ExportError, Hooks, Selection};
use crate::registry::Registry;

/// Figure computations that may run at once (each loads every ticket of
/// its selection, on the blocking pool).
const MAX_CONCURRENT: usize = 2;
static FIGURES: Semaphore = Semaphore::const_new(MAX_CONCURRENT);

impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> Self {
        let message = e.to_string();
        match e {
            ExportError::Usage(_) | ExportError::Calendar(_) => ApiError::bad_request(message),
            ExportError::Forbidden(_) => ApiError::forbidden(message),
            ExportError::NoMatch(_) => ApiError::not_found(message),
            other => ApiError::internal("compute the figures", &other),
        }
    }
}

/// A period asked for as `from`/`to` days (`to` inclusive), as the export
/// reads it; the current month by default.
fn period(
    from: Option<&str>,
    to: Option<&str>,
    now: i64,
) -> ApiResult<client_core::report::Period> {
    let day = |field: &str, v: &str| {
        export::parse_day(v.trim()).map_err(|e| ApiError::bad_request(format!("`{field}`: {e}")))
    };
    let from = from.map(|v| day("from", v)).transpose()?;
    let to = to.map(|v| day("to", v)).transpose()?;
    Ok(export::period(from, to, super::offset(), now)?)
}

/// What the export's JSON holds before its ticket and visit rows: the
/// metadata and the three summary tables. A sink that keeps only that.
struct UntilRows {
    kept: Vec<u8>,
    done: bool,
}

/// Where the export's JSON starts its ticket rows (`report/json.rs`).
const ROWS_START: &[u8] = b",\n\"tickets\":[";

impl Write for UntilRows {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if !self.done {
            self.kept.extend_from_slice(bytes);
            let tail = self
                .kept
                .len()
                .saturating_sub(bytes.len() + ROWS_START.len());
            if let Some(i) = self.kept[tail..]
                .windows(ROWS_START.len())
                .position(|w| w == ROWS_START)
            {
                self.kept.truncate(tail + i);
                self.done = true;
            }
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The figures `p` asked for: the export's JSON without its rows.
fn compute(store: &RedbStore, p: &Principal, pairs: &[(String, String)]) -> ApiResult<Value> {
    let mut selection = Selection::default();
    let (mut from, mut to) = (None, None);
    for (key, value) in pairs {
        let name = || {
            let v = value.trim();
            (!v.is_empty())
                .then(|| v.to_owned())
                .ok_or_else(|| ApiError::bad_request(format!("`{key}` is blank")))
        };
        match key.as_str() {
            "grid" => grids_of(value, &mut selection.grids)?,
            "community" => selection.community = Some(name()?),
            "street" => selection.street = Some(name()?),
            "district" => selection.district = Some(name()?),
            "from" => from = Some(value.as_str()),
            "to" => to = Some(value.as_str()),
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter `{}`; figures take grid, community, street, district, \
                     from and to",
                    client_core::clip::clip(other)
                )));
            }
        }
    }
    let now = super::now();
    let period = period(from, to, now)?;
    let db = store.database();
    let registry = Registry::reader(&db);
    let selected = export::select(&registry, store, &selection, &p.scope)?;
    let mut options = ReportOptions::new(period);
    options.as_of = Some(now);
    options.lang = Lang::Zh;
    options.offset = super::offset();
    options.filter = selected.filter;
    options.grids = selected.directory;
    let mut sink = UntilRows {
        kept: Vec::new(),
        done: false,
    };
    export::write(
        store,
        &selected.grids,
        Format::Json,
        options,
        &mut sink,
        Hooks::default(),
    )?;
    if !sink.done {
        return Err(ApiError::internal(
            "compute the figures",
            &"the export's JSON did not have the expected layout",
        ));
    }
    sink.kept.push(b'}');
    serde_json::from_slice(&sink.kept).map_err(|e| ApiError::internal("compute the figures", &e))
}

/// `GET /api/figures`: for reviewers, supervisors and admins (as exports).
pub(crate) async fn figures(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let answer = async {
        let p = req.caller(&shared, "/api/figures")?;
        if !matches!(p.role, Role::Reviewer | Role::Supervisor | Role::Admin) {
            return Err(ApiError::forbidden(format!(
                "figures are for reviewers, supervisors and admins; `{}` is a {}",
                p.user, p.role
            )));
        }
        let pairs = req.pairs()?;
        let _permit = FIGURES
            .acquire()
            .await
            .map_err(|e| ApiError::internal("compute the figures", &e))?;
        let store = shared.store.clone();
        blocking(move || compute(&store, &p, &pairs)).await
    };
    match answer.await {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Serialize)]
struct VisitJson {
    id: VisitId,
    visit_type: VisitType,
    grid: GridCode,
    household: Option<String>,
    worker: String,
    started_at: Option<String>,
    ended_at: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    outcome: Outcome,
    /// Free text that often names residents: not for reviewers.
    #[serde(skip_serializing_if = "Option::is_none")]
    notes: Option<String>,
    tickets: Vec<TicketId>,
    amends: Option<VisitId>,
}

#[derive(Serialize)]
struct Visits {
    items: Vec<VisitJson>,
}

/// The visits of `p`'s scope (or `grid`s of it) started in the period,
/// in time order: each grid's index names its visit logs by worker and
/// day, so only logs of the period's days are loaded.
fn visits_of(store: &RedbStore, p: &Principal, pairs: &[(String, String)]) -> ApiResult<Visits> {
    let mut grids = Vec::new();
    let (mut from, mut to) = (None, None);
    for (key, value) in pairs {
        match key.as_str() {
            "grid" => grids_of(value, &mut grids)?,
            "from" => from = Some(value.as_str()),
            "to" => to = Some(value.as_str()),
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter `{}`; visits take grid, from and to",
                    client_core::clip::clip(other)
                )));
            }
        }
    }
    let grids = super::tickets::grids_for(store, p, &grids, None, None)?;
    let period = period(from, to, super::now())?;
    let first_day = iso(period.from)
        .map(|t| t[..10].to_owned())
        .unwrap_or_default();
    let last_day = iso(period.to - 1)
        .map(|t| t[..10].to_owned())
        .unwrap_or_default();
    let load = |id: &client_core::ids::DocumentId| -> ApiResult<Option<automerge::Automerge>> {
        let Some(stored) = store
            .load(id)
            .map_err(|e| ApiError::internal("read a visit log", &e))?
        else {
            return Ok(None);
        };
        let options =
            automerge::LoadOptions::new().verification_mode(automerge::VerificationMode::DontCheck);
        Ok(automerge::Automerge::load_with_options(&stored.concat(), options).ok())
    };
    let mut items = Vec::new();
    for grid in &grids {
        let Some(index) = load(&grid.index_document_id())? else {
            continue;
        };
        let Ok(index) = grid_index::read(&index) else {
            continue;
        };
        for (key, doc_id) in &index.visit_logs {
            // `worker:YYYY-MM-DD`, the day in the grid's local time.
            let day = key.rsplit_once(':').map_or("", |(_, d)| d);
            if day < first_day.as_str() || day > last_day.as_str() {
                continue;
            }
            let Some(doc) = load(doc_id)? else {
                continue;
            };
            if !access::may_read_document(p, doc_id, &doc) {
                continue;
            }
            let Ok((visits, _)) = visit::read(&doc) else {
                continue;
            };
            for v in visits.into_iter().filter(|v| period.contains(v.started_at)) {
                items.push(VisitJson {
                    id: v.id,
                    visit_type: v.visit_type,
                    grid: v.grid,
                    household: v.household,
                    worker: v.worker,
                    started_at: iso(v.started_at),
                    ended_at: iso_opt(v.ended_at),
                    lat: v.lat,
                    lon: v.lon,
                    outcome: v.outcome,
                    notes: (p.role != Role::Reviewer).then_some(v.notes),
                    tickets: v.tickets,
                    amends: v.amends,
                });
            }
        }
    }
    items.sort_by(|a, b| (&a.started_at, a.id).cmp(&(&b.started_at, b.id)));
    Ok(Visits { items })
}

/// `GET /api/visits`.
pub(crate) async fn visits(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let answer = async {
        let p = req.caller(&shared, "/api/visits")?;
        let pairs = req.pairs()?;
        let store = shared.store.clone();
        blocking(move || visits_of(&store, &p, &pairs)).await
    };
    match answer.await {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}
