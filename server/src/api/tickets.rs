//! `GET /api/tickets` (list, from the summary index), `GET /api/queues`
//! (the console's 待办 counts) and `GET /api/tickets/{id}` (one whole).

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use client_core::ids::{DocumentId, GridCode, TicketId};
use client_core::model::lifecycle::Status;
use client_core::model::summary::TicketSummary;
use client_core::model::{ticket, ticket_private};
use client_core::store::{RedbStore, Store};
use serde::Serialize;

use super::index::GridSummaries;
use super::{ApiError, ApiResult, Request, blocking, iso_opt, parse_day_start};
use crate::access;
use crate::auth::Principal;
use crate::connection::Shared;
use crate::registry::Registry;

/// Items a page holds unless `limit` says otherwise, and at most.
pub(crate) const DEFAULT_LIMIT: usize = 50;
pub(crate) const MAX_LIMIT: usize = 500;

/// A ticket summary as the API writes it (the contract's `Summary`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SummaryJson {
    pub id: TicketId,
    pub grid: GridCode,
    pub status: Status,
    pub category: String,
    pub title: String,
    pub urgency: Option<client_core::model::ticket::Urgency>,
    pub unit: Option<String>,
    pub due_at: Option<String>,
    pub reported_at: Option<String>,
    pub updated_at: Option<String>,
    pub rework_count: u32,
    pub conflicts: u32,
    pub overdue: bool,
    pub created_by: String,
    /// The photos it lists (hex SHA-256), before and after: lists show
    /// their count, `GET /api/tickets/{id}` says what each is.
    pub photos: Vec<String>,
}

impl SummaryJson {
    pub(crate) fn of(s: &TicketSummary, now: i64) -> Self {
        Self {
            id: s.id,
            grid: s.grid.clone(),
            status: s.status,
            category: s.category.clone(),
            title: s.title.clone(),
            urgency: s.urgency,
            unit: s.unit.clone(),
            due_at: iso_opt(s.due_at),
            reported_at: iso_opt(s.reported_at),
            updated_at: iso_opt(s.updated_at),
            rework_count: s.rework_count,
            conflicts: s.conflicts,
            overdue: s.is_overdue(now),
            created_by: s.created_by.clone(),
            photos: s.photos.clone(),
        }
    }
}

/// How a list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    /// Last change first (the default).
    Updated,
    /// Last reported first.
    Reported,
    /// Soonest deadline first; tickets without one last.
    Due,
}

impl Sort {
    fn name(self) -> &'static str {
        match self {
            Sort::Updated => "updated",
            Sort::Reported => "reported",
            Sort::Due => "due",
        }
    }

    /// The sort key: smaller comes first.
    fn key(self, s: &TicketSummary) -> i64 {
        match self {
            Sort::Updated => -s.updated_at.or(s.reported_at).unwrap_or(i64::MIN + 1),
            Sort::Reported => -s.reported_at.unwrap_or(i64::MIN + 1),
            Sort::Due => s.due_at.unwrap_or(i64::MAX),
        }
    }
}

/// Where a page ends: the last item's (sort, key, id). Opaque to clients
/// (base58 of `sort:key:id`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
    sort: Sort,
    key: i64,
    id: TicketId,
}

impl Cursor {
    fn encode(&self) -> String {
        bs58::encode(format!("{}:{}:{}", self.sort.name(), self.key, self.id)).into_string()
    }

    fn decode(text: &str, sort: Sort) -> ApiResult<Self> {
        let bad = || {
            ApiError::bad_request(
                "`cursor` is not one this relay gave out; start again without it \
                 (and keep the same sort)",
            )
        };
        let raw = bs58::decode(text).into_vec().map_err(|_| bad())?;
        let raw = String::from_utf8(raw).map_err(|_| bad())?;
        let mut parts = raw.splitn(3, ':');
        let (Some(name), Some(key), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        if name != sort.name() {
            return Err(bad());
        }
        Ok(Self {
            sort,
            key: key.parse().map_err(|_| bad())?,
            id: id.parse().map_err(|_| bad())?,
        })
    }

    fn of(sort: Sort, s: &TicketSummary) -> Self {
        Self {
            sort,
            key: sort.key(s),
            id: s.id,
        }
    }

    fn position(&self) -> (i64, TicketId) {
        (self.key, self.id)
    }
}

/// What a list asks for.
#[derive(Debug, Default)]
pub(crate) struct Filters {
    /// Only these grids (empty: the whole scope).
    pub grids: Vec<GridCode>,
    pub community: Option<String>,
    pub street: Option<String>,
    pub statuses: BTreeSet<Status>,
    pub overdue: bool,
    /// Open, not overdue, due within [`DUE_SOON_MS`]: the 即将超期 queue.
    pub due_soon: bool,
    pub conflict: bool,
    pub unit: Option<String>,
    pub q: Option<String>,
    /// `reported_at` in [from, to): from midnight of `from` to the midnight
    /// after `to` (+08:00).
    pub from: Option<i64>,
    pub to: Option<i64>,
}

#[derive(Debug)]
struct ListQuery {
    filters: Filters,
    sort: Sort,
    cursor: Option<String>,
    limit: usize,
}

fn flag(key: &str, value: &str) -> ApiResult<bool> {
    match value {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" | "" => Ok(false),
        other => Err(ApiError::bad_request(format!(
            "`{key}` is true or false, not `{}`",
            client_core::clip::clip(other)
        ))),
    }
}

fn text(key: &str, value: &str) -> ApiResult<Option<String>> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::bad_request(format!(
            "`{key}` is blank; give a value or leave it out"
        )));
    }
    Ok(Some(value.to_owned()))
}

/// Adds the comma-separated grid codes of `value` to `grids`.
pub(crate) fn grids_of(value: &str, grids: &mut Vec<GridCode>) -> ApiResult<()> {
    for code in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let grid = GridCode::new(code).map_err(|e| ApiError::bad_request(format!("grid: {e}")))?;
        if !grids.contains(&grid) {
            grids.push(grid);
        }
    }
    Ok(())
}

fn parse_list(pairs: &[(String, String)]) -> ApiResult<ListQuery> {
    let mut q = ListQuery {
        filters: Filters::default(),
        sort: Sort::Updated,
        cursor: None,
        limit: DEFAULT_LIMIT,
    };
    for (key, value) in pairs {
        let f = &mut q.filters;
        match key.as_str() {
            "grid" => grids_of(value, &mut f.grids)?,
            "community" => f.community = text(key, value)?,
            "street" => f.street = text(key, value)?,
            "status" => {
                for name in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let status: Status =
                        name.parse().map_err(|e: client_core::model::UnknownName| {
                            ApiError::bad_request(format!("status: {e}"))
                        })?;
                    f.statuses.insert(status);
                }
            }
            "overdue" => f.overdue = flag(key, value)?,
            "due_soon" => f.due_soon = flag(key, value)?,
            "conflict" => f.conflict = flag(key, value)?,
            "unit" => f.unit = text(key, value)?,
            "q" => f.q = Some(value.trim().to_owned()).filter(|v| !v.is_empty()),
            "from" => f.from = Some(parse_day_start("from", value.trim())?),
            "to" => f.to = Some(parse_day_start("to", value.trim())? + DAY_MS),
            "sort" => {
                q.sort = match value.trim() {
                    "updated" | "" => Sort::Updated,
                    "reported" => Sort::Reported,
                    "due" => Sort::Due,
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "`sort` is updated, reported or due, not `{}`",
                            client_core::clip::clip(other)
                        )));
                    }
                }
            }
            "cursor" => q.cursor = Some(value.trim().to_owned()).filter(|c| !c.is_empty()),
            "limit" => {
                q.limit = value
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_request(format!("`limit` is a number from 1 to {MAX_LIMIT}"))
                    })?;
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter `{}`; tickets take grid, community, street, status, \
                     overdue, due_soon, conflict, unit, q, from, to, sort, cursor and limit",
                    client_core::clip::clip(other)
                )));
            }
        }
    }
    Ok(q)
}

const DAY_MS: i64 = 24 * 3_600_000;

/// The grids of `p`'s scope that `filters` keep (by grid, community and
/// street, placed by the registry). A grid asked for outside the scope is
/// 403, as for exports.
pub(crate) fn grids_for(
    store: &RedbStore,
    p: &Principal,
    grids: &[GridCode],
    community: Option<&str>,
    street: Option<&str>,
) -> ApiResult<Vec<GridCode>> {
    if let Some(outside) = grids.iter().find(|g| !p.grids.contains(*g)) {
        return Err(ApiError::forbidden(format!(
            "grid {outside} is outside your scope ({}); ask for grids in it, or leave out `grid`",
            p.scope
        )));
    }
    let mut out: Vec<GridCode> = if grids.is_empty() {
        p.grids.iter().cloned().collect()
    } else {
        grids.to_vec()
    };
    if community.is_some() || street.is_some() {
        let db = store.database();
        let registry = Registry::reader(&db);
        let all = registry
            .grids()
            .map_err(|e| ApiError::internal("read the registry", &e))?;
        out.retain(|code| {
            all.iter().any(|g| {
                g.code == *code
                    && community.is_none_or(|c| g.community == c)
                    && street.is_none_or(|s| g.street == s)
            })
        });
    }
    Ok(out)
}

/// The summary index of `grids`: held in memory, or read from the store's
/// listing index the first time (never a document).
pub(crate) fn held(shared: &Shared, grids: &[GridCode]) -> ApiResult<Vec<Arc<GridSummaries>>> {
    grids
        .iter()
        .map(|g| {
            shared
                .summaries
                .grid(&*shared.store, g)
                .map_err(|e| ApiError::internal("read the ticket index", &e))
        })
        .collect()
}

/// The summaries in `held` that `p` may read and `f` keeps (`now`
/// decides what is overdue).
pub(crate) fn matching<'a>(
    held: &'a [Arc<GridSummaries>],
    p: &Principal,
    f: &Filters,
    now: i64,
) -> Vec<&'a TicketSummary> {
    let q = f.q.as_deref().map(str::to_lowercase);
    held.iter()
        .flat_map(|g| g.items.iter())
        .filter(|s| {
            access::may_read_summary(p, s)
                && (f.statuses.is_empty() || f.statuses.contains(&s.status))
                && (!f.overdue || s.is_overdue(now))
                && (!f.due_soon || is_due_soon(s, now))
                && (!f.conflict || s.conflicts > 0)
                && f.unit
                    .as_deref()
                    .is_none_or(|u| s.unit.as_deref() == Some(u))
                && f.from
                    .is_none_or(|from| s.reported_at.is_some_and(|r| r >= from))
                && f.to.is_none_or(|to| s.reported_at.is_some_and(|r| r < to))
                && q.as_deref().is_none_or(|q| matches_text(s, q))
        })
        .collect()
}

/// Whether `q` (lower case) is in the title, the id or the category.
fn matches_text(s: &TicketSummary, q: &str) -> bool {
    s.title.to_lowercase().contains(q)
        || s.id.to_string().to_lowercase().contains(q)
        || s.category.to_lowercase().contains(q)
}

#[derive(Serialize)]
struct Page {
    items: Vec<SummaryJson>,
    next_cursor: Option<String>,
}

/// `GET /api/tickets`.
pub(crate) async fn list(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let answer = async {
        let p = req.caller(&shared, "/api/tickets")?;
        let q = parse_list(&req.pairs()?)?;
        let shared = shared.clone();
        blocking(move || page(&shared, &p, &q, super::now())).await
    };
    match answer.await {
        Ok(page) => Json(page).into_response(),
        Err(e) => e.into_response(),
    }
}

fn page(shared: &Shared, p: &Principal, q: &ListQuery, now: i64) -> ApiResult<Page> {
    let f = &q.filters;
    let grids = grids_for(
        &shared.store,
        p,
        &f.grids,
        f.community.as_deref(),
        f.street.as_deref(),
    )?;
    let after = q
        .cursor
        .as_deref()
        .map(|c| Cursor::decode(c, q.sort))
        .transpose()?;
    let held = held(shared, &grids)?;
    let sort = q.sort;
    let mut found: Vec<(i64, TicketId, &TicketSummary)> = matching(&held, p, f, now)
        .into_iter()
        .map(|s| (sort.key(s), s.id, s))
        .filter(|(key, id, _)| after.as_ref().is_none_or(|a| (*key, *id) > a.position()))
        .collect();
    let order = |a: &(i64, TicketId, &TicketSummary), b: &(i64, TicketId, &TicketSummary)| {
        (a.0, a.1).cmp(&(b.0, b.1))
    };
    let more = found.len() > q.limit;
    if more {
        found.select_nth_unstable_by(q.limit, order);
        found.truncate(q.limit);
    }
    found.sort_unstable_by(order);
    let next_cursor = if more {
        found.last().map(|(_, _, s)| Cursor::of(sort, s).encode())
    } else {
        None
    };
    Ok(Page {
        items: found
            .iter()
            .map(|(_, _, s)| SummaryJson::of(s, now))
            .collect(),
        next_cursor,
    })
}

/// What the console's 待办 shows, counted in the caller's scope.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub(crate) struct Queues {
    /// 待立案: reported, to accept or declare invalid.
    pub to_accept: u64,
    /// 待派遣: accepted or returned by a unit, to dispatch.
    pub to_dispatch: u64,
    /// 待核查: handled, to verify.
    pub to_verify: u64,
    /// 即将超期: open, due within the next 24 hours.
    pub due_soon: u64,
    /// 已超期: open and past the deadline.
    pub overdue: u64,
    /// 冲突: with unresolved lifecycle conflicts.
    pub conflicts: u64,
}

/// How far ahead "due soon" looks.
pub(crate) const DUE_SOON_MS: i64 = DAY_MS;

/// Whether `s` is due soon at `now`: open, not yet overdue, and due within
/// [`DUE_SOON_MS`]. The one definition of the 即将超期 count and of the
/// `due_soon` list filter, so the queue lists what its card counts.
fn is_due_soon(s: &TicketSummary, now: i64) -> bool {
    !s.is_overdue(now) && s.status.is_open() && s.due_at.is_some_and(|d| d < now + DUE_SOON_MS)
}

impl Queues {
    fn count(&mut self, s: &TicketSummary, now: i64) {
        match s.status {
            Status::Reported => self.to_accept += 1,
            Status::Accepted | Status::Returned => self.to_dispatch += 1,
            Status::Handled => self.to_verify += 1,
            _ => {}
        }
        if s.is_overdue(now) {
            self.overdue += 1;
        }
        if is_due_soon(s, now) {
            self.due_soon += 1;
        }
        if s.conflicts > 0 {
            self.conflicts += 1;
        }
    }
}

/// `GET /api/queues`.
pub(crate) async fn queues(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let answer = async {
        let p = req.caller(&shared, "/api/queues")?;
        if let Some((k, _)) = req.pairs()?.first() {
            return Err(ApiError::bad_request(format!(
                "unknown parameter `{}`; /api/queues takes none",
                client_core::clip::clip(k)
            )));
        }
        let shared = shared.clone();
        blocking(move || {
            let now = super::now();
            let grids: Vec<GridCode> = p.grids.iter().cloned().collect();
            let held = held(&shared, &grids)?;
            let mut counts = Queues::default();
            for s in matching(&held, &p, &Filters::default(), now) {
                counts.count(s, now);
            }
            Ok(counts)
        })
        .await
    };
    match answer.await {
        Ok(q) => Json(q).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Parses a ticket id from the path.
pub(crate) fn ticket_id(text: &str) -> ApiResult<TicketId> {
    text.parse().map_err(|_| {
        ApiError::not_found(format!(
            "`{}` is not a ticket id; take ids from /api/tickets",
            client_core::clip::clip(text)
        ))
    })
}

/// The answer for a ticket outside the caller's scope or missing: the
/// same, so the API says nothing about tickets one may not see.
pub(crate) fn unknown(id: TicketId) -> ApiError {
    ApiError::not_found(format!(
        "no ticket {id} in your scope; check the id (/api/tickets lists yours), or sync the \
         device that recorded it"
    ))
}

/// A stored document, loaded as the relay stored it (already checked).
fn load_document(
    store: &RedbStore,
    id: &DocumentId,
    what: &str,
) -> ApiResult<Option<automerge::Automerge>> {
    let Some(stored) = store
        .load(id)
        .map_err(|e| ApiError::internal(&format!("read {what}"), &e))?
    else {
        return Ok(None);
    };
    let options =
        automerge::LoadOptions::new().verification_mode(automerge::VerificationMode::DontCheck);
    automerge::Automerge::load_with_options(&stored.concat(), options)
        .map(Some)
        .map_err(|e| ApiError::internal(&format!("load {what}'s document"), &e))
}

/// Loads ticket `id` whole, if `p` may read it, and whether `p` may change
/// it (the policy's decisions on the document).
pub(crate) fn load_readable(
    store: &RedbStore,
    p: &Principal,
    id: TicketId,
) -> ApiResult<(ticket::Ticket, bool)> {
    let doc_id = id.document_id();
    let doc = load_document(store, &doc_id, "the ticket")?.ok_or_else(|| unknown(id))?;
    if !access::may_read_document(p, &doc_id, &doc) {
        return Err(unknown(id));
    }
    let t = ticket::read(&doc, id).map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "unreadable",
            format!("ticket {id} cannot be read here ({e}); update the relay"),
        )
    })?;
    if t.grid.is_none() {
        // A document of another type under a ticket's id, or a ticket whose
        // first change has not arrived.
        return Err(unknown(id));
    }
    let mut t = t;
    if let Some(grid) = &t.grid
        && access::may_read_contact(p, grid, Some(&t.created_by))
    {
        let private = load_document(store, &id.private_document_id(), "its private document")?;
        if let Some(private) = private.and_then(|d| ticket_private::read(&d).ok()) {
            t.fill_contact(&private);
        }
    }
    let may_change = access::may_change_ticket(p, &doc_id, &doc).is_ok();
    Ok((t, may_change))
}

/// `GET /api/tickets/{id}`.
pub(crate) async fn one(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let answer = async {
        let p = req.caller(&shared, "/api/tickets/{id}")?;
        let id = ticket_id(&id)?;
        let store = shared.store.clone();
        let blobs = shared.blobs.clone();
        blocking(move || {
            let (t, may_change) = load_readable(&store, &p, id)?;
            let uploaded = super::detail::uploaded_photos(&blobs, &t)
                .map_err(|e| ApiError::internal("read the photo store", &e.chain()))?;
            Ok(super::detail::Detail::of(
                &p,
                &t,
                may_change,
                super::now(),
                &uploaded,
            ))
        })
        .await
    };
    match answer.await {
        Ok(d) => Json(d).into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_is_bound_to_its_sort() {
        let c = Cursor {
            sort: Sort::Due,
            key: -42,
            id: TicketId::random(),
        };
        assert_eq!(Cursor::decode(&c.encode(), Sort::Due).unwrap(), c);
        assert!(Cursor::decode(&c.encode(), Sort::Updated).is_err());
        assert!(Cursor::decode("not base58 0OIl", Sort::Due).is_err());
    }

    #[test]
    fn list_parameters_are_checked() {
        let pairs = |q: &[(&str, &str)]| -> Vec<(String, String)> {
            q.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
        };
        let q = parse_list(&pairs(&[
            ("status", "reported,accepted"),
            ("status", "closed"),
            ("limit", "10"),
            ("sort", "due"),
        ]))
        .unwrap();
        assert_eq!(q.filters.statuses.len(), 3);
        assert_eq!(q.limit, 10);
        assert_eq!(q.sort, Sort::Due);
        for bad in [
            ("status", "done"),
            ("limit", "0"),
            ("limit", "501"),
            ("sort", "title"),
            ("from", "2025-02-30"),
            ("colour", "red"),
        ] {
            assert_eq!(
                parse_list(&pairs(&[bad])).unwrap_err().status,
                axum::http::StatusCode::BAD_REQUEST,
                "{bad:?}"
            );
        }
    }
}
