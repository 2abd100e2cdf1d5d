//! The district-review export on the relay: `gridsync-server export` and
//! `GET /api/export`.
//!
//! Both gather and check their inputs, decide which grids to read
//! ([`select`]) and stream them through the client-core [`Exporter`]
//! ([`write()`]): each grid's ticket summaries come from the store's listing
//! index; a summary that carries the ticket's export row is pushed as it is,
//! and only the other tickets (and all of them when personal data is asked
//! for, which lives in the documents alone) are loaded, pushed and dropped
//! in turn; visits are
//! read one visit log at a time from the grid's index document. The
//! exporter spools rows to temporary files, so memory grows with the number
//! of grids, not with the number of tickets.
//!
//! Where a grid sits (name, community, street, district) comes from the
//! [`Registry`]; a grid with documents on the relay but missing from the
//! registry reads as unknown (未知).

pub mod cli;
pub(crate) mod http;

use std::collections::BTreeSet;
use std::io::Write;

use automerge::Automerge;
use chrono::{FixedOffset, NaiveDate, TimeZone};
use client_core::ids::{DocumentId, GridCode, TicketId};
use client_core::model::schema::{self, DocType};
use client_core::model::summary::TicketSummary;
use client_core::model::ticket::Ticket;
use client_core::model::{grid_index, ticket, ticket_private, visit};
use client_core::report::input::{self, CalendarFileError, LangArg, TableArg};
use client_core::report::{
    ExportStats, Exporter, Filter, Format, GridDirectory, GridInfo, Lang, Period, ReportError,
    ReportOptions,
};
use client_core::store::{Listing, Store, StoreError, StoredDoc};

use crate::registry::{Registry, RegistryError, Scope};

/// The progress callback runs every this many records.
const PROGRESS_EVERY: u64 = 16;

/// Why an export was refused or failed. Messages name their cause, so no
/// field is also the error's `source()`.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A bad flag or parameter (exit code 2, HTTP 400).
    #[error("{0}")]
    Usage(String),
    /// The request reaches outside the user's scope (HTTP 403).
    #[error("{0}")]
    Forbidden(String),
    /// The filter names no grid (exit code 1, HTTP 404).
    #[error("{0}")]
    NoMatch(String),
    #[error("could not read the relay registry: {0}")]
    Registry(RegistryError),
    #[error("could not read the relay database: {0}")]
    Store(StoreError),
    #[error(transparent)]
    Report(#[from] ReportError),
    /// A `--calendar` file cannot be read or used (exit code 2).
    #[error(transparent)]
    Calendar(#[from] CalendarFileError),
    /// The client went away (HTTP) before the export was complete.
    #[error("the export was cancelled")]
    Cancelled,
}

impl From<RegistryError> for ExportError {
    fn from(e: RegistryError) -> Self {
        ExportError::Registry(e)
    }
}

impl From<StoreError> for ExportError {
    fn from(e: StoreError) -> Self {
        ExportError::Store(e)
    }
}

/// What part of the district to export, as asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Only these grids (any of them; empty: every grid).
    pub grids: Vec<GridCode>,
    pub community: Option<String>,
    pub street: Option<String>,
    pub district: Option<String>,
}

impl Selection {
    fn narrows_by_place(&self) -> bool {
        self.community.is_some() || self.street.is_some() || self.district.is_some()
    }
}

/// The grids to read and how the report describes and places them.
#[derive(Debug, Clone)]
pub struct Selected {
    /// In code order.
    pub grids: Vec<GridCode>,
    /// For the exporter: it also names the selection in the metadata.
    pub filter: Filter,
    /// Every registered grid's place.
    pub directory: GridDirectory,
    /// Requested grids the registry does not know (they read as unknown).
    pub unregistered: Vec<GridCode>,
}

/// The grids `want` names within `scope`: the intersection of the request
/// and the scope. A requested grid outside the scope, or a community,
/// street or district with grids but none in the scope, is
/// [`ExportError::Forbidden`]; a filter that matches no grid at all is
/// [`ExportError::NoMatch`]. With [`Scope::All`] and no filter, every grid
/// the registry lists or the store holds documents of is read.
pub fn select<S: Store>(
    registry: &Registry<'_>,
    store: &S,
    want: &Selection,
    scope: &Scope,
) -> Result<Selected, ExportError> {
    let registered = registry.grids()?;
    let directory: GridDirectory = registered
        .iter()
        .map(|g| {
            (
                g.code.clone(),
                GridInfo {
                    name: g.name.clone(),
                    community: g.community.clone(),
                    street: g.street.clone(),
                    district: g.district.clone(),
                },
            )
        })
        .collect();
    let allowed = match scope {
        Scope::All => None,
        other => Some(registry.grids_in(other)?),
    };
    if let Some(allowed) = &allowed
        && let Some(outside) = want.grids.iter().find(|g| !allowed.contains(*g))
    {
        return Err(ExportError::Forbidden(format!(
            "grid {outside} is outside your scope ({scope}); ask for grids in it, or leave out \
             grid to export all of it"
        )));
    }
    let in_place = |code: &GridCode| {
        let info = directory.get(code);
        let matches = |want: &Option<String>, have: Option<&String>| {
            want.as_ref().is_none_or(|w| have == Some(w))
        };
        matches(&want.community, info.map(|i| &i.community))
            && matches(&want.street, info.map(|i| &i.street))
            && matches(&want.district, info.map(|i| &i.district))
    };
    let candidates: BTreeSet<GridCode> = if !want.grids.is_empty() {
        want.grids.iter().cloned().collect()
    } else if let Some(allowed) = &allowed {
        allowed.clone()
    } else if want.narrows_by_place() {
        // Unregistered grids match no community, street or district.
        registered.iter().map(|g| g.code.clone()).collect()
    } else {
        let indexes = registered
            .iter()
            .map(|g| g.code.index_document_id())
            .collect();
        let mut all = stored_grids(store, &indexes)?;
        all.extend(registered.iter().map(|g| g.code.clone()));
        all
    };
    let grids: Vec<GridCode> = candidates.into_iter().filter(|g| in_place(g)).collect();

    let place_filter = Filter {
        district: want.district.clone(),
        street: want.street.clone(),
        community: want.community.clone(),
        grid: None,
    };
    if grids.is_empty() && want.narrows_by_place() {
        let asked = place_filter.describe(Lang::En);
        let exists = registered.iter().any(|g| in_place(&g.code));
        return Err(if !exists {
            ExportError::NoMatch(format!(
                "no registered grid is in {asked}; check the spelling (`gridsync-server grid \
                 list` shows every grid and where it sits)"
            ))
        } else if allowed.is_some() && want.grids.is_empty() {
            ExportError::Forbidden(format!(
                "{asked} is outside your scope ({scope}); ask for part of your scope"
            ))
        } else {
            ExportError::NoMatch(format!("none of the grids asked for is in {asked}"))
        });
    }

    let mut filter = place_filter;
    if let [one] = want.grids.as_slice() {
        filter.grid = Some(one.clone());
    }
    // Say in the metadata what the scope narrowed the export to.
    match scope {
        Scope::Community(c) if filter.community.is_none() => filter.community = Some(c.clone()),
        Scope::Street(s) if filter.street.is_none() => filter.street = Some(s.clone()),
        Scope::District(d) if filter.district.is_none() => filter.district = Some(d.clone()),
        Scope::Grids(codes) if filter.grid.is_none() && codes.len() == 1 => {
            filter.grid = Some(codes[0].clone());
        }
        _ => {}
    }
    let unregistered = want
        .grids
        .iter()
        .filter(|g| directory.get(g).is_none())
        .cloned()
        .collect();
    Ok(Selected {
        grids,
        filter,
        directory,
        unregistered,
    })
}

/// Grids the store holds documents of: the grid of every ticket summary,
/// and of every grid index document (found by loading, one at a time, the
/// documents that are neither tickets nor a registered grid's index).
fn stored_grids<S: Store>(
    store: &S,
    known_indexes: &BTreeSet<DocumentId>,
) -> Result<BTreeSet<GridCode>, ExportError> {
    let mut grids = BTreeSet::new();
    for doc_id in store.documents()? {
        if let Some(summary) = store.summary(&doc_id)? {
            grids.insert(summary.grid);
            continue;
        }
        if known_indexes.contains(&doc_id) {
            continue;
        }
        let Some(doc) = load(store, &doc_id)? else {
            continue;
        };
        if matches!(schema::doc_type(&doc), Ok(Some(DocType::GridIndex)))
            && let Ok(index) = grid_index::read(&doc)
            && let Some(grid) = index.grid
        {
            grids.insert(grid);
        }
    }
    Ok(grids)
}

/// A stored document; `None` if absent or unreadable (logged).
fn load<S: Store>(store: &S, doc_id: &DocumentId) -> Result<Option<Automerge>, ExportError> {
    Ok(decode(doc_id, store.load(doc_id)?))
}

/// A document as stored, loaded; `None` if absent or unreadable (logged).
fn decode(doc_id: &DocumentId, stored: Option<StoredDoc>) -> Option<Automerge> {
    let stored = stored?;
    let options =
        automerge::LoadOptions::new().verification_mode(automerge::VerificationMode::DontCheck);
    match Automerge::load_with_options(&stored.bytes(), options) {
        Ok(doc) => Some(doc),
        Err(e) => {
            tracing::warn!(doc = %doc_id, error = %e, "export: skipping a document that does not load");
            None
        }
    }
}

/// What [`write()`] did.
#[derive(Debug, Clone, Default)]
pub struct Written {
    pub stats: ExportStats,
    /// Ticket or visit-log documents listed but missing, unloadable or of
    /// an unknown schema; left out of the export (and logged).
    pub documents_skipped: u64,
}

/// Callbacks while [`write()`] runs.
pub struct Hooks<'a> {
    /// Called with the number of records pushed so far.
    pub progress: Option<Box<dyn FnMut(u64) + Send>>,
    /// Called with what is being read (`tickets of G-01`).
    pub phase: &'a dyn Fn(String),
    /// Checked before each record; `true` stops with [`ExportError::Cancelled`].
    pub cancelled: &'a dyn Fn() -> bool,
}

impl std::fmt::Debug for Hooks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks").finish_non_exhaustive()
    }
}

impl Default for Hooks<'_> {
    fn default() -> Self {
        Self {
            progress: None,
            phase: &|_| {},
            cancelled: &|| false,
        }
    }
}

/// Streams every ticket and visit of `grids` from `store` through an
/// exporter into `sink`. Nothing is complete until this returns `Ok`.
pub fn write<S: Store, W: Write + Send>(
    store: &S,
    grids: &[GridCode],
    format: Format,
    options: ReportOptions,
    sink: W,
    mut hooks: Hooks<'_>,
) -> Result<Written, ExportError> {
    let personal = options.include_personal;
    let mut exporter = Exporter::new(format, options, sink)?;
    if let Some(progress) = hooks.progress.take() {
        exporter = exporter.with_progress(PROGRESS_EVERY, progress);
    }
    let mut skipped = 0u64;
    // A lister thread lists each grid's tickets and cuts the list into jobs
    // of `READ_TOGETHER` tickets (one read transaction each), ending each
    // grid with a job of its own; job k goes to loader k % LOADERS, which
    // loads and parses it and sends one message for it. This thread takes
    // message k from loader k % LOADERS, so it writes in grid order while
    // every loader works (a loader is never idle waiting for another's
    // grid), and at most `AHEAD` batches per loader wait in memory.
    const LOADERS: usize = 2;
    const AHEAD: usize = 4;
    const READ_TOGETHER: usize = 64;
    enum Job {
        Read(Vec<TicketSummary>),
        EndOfGrid,
        Failed(ExportError),
    }
    // `None`: the end of a grid.
    type Loaded = Option<Result<Vec<Item>, ExportError>>;
    std::thread::scope(|scope| -> Result<(), ExportError> {
        let mut jobs = Vec::with_capacity(LOADERS);
        let mut queues = Vec::with_capacity(LOADERS);
        for _ in 0..LOADERS {
            let (job_tx, job_rx) = std::sync::mpsc::sync_channel::<Job>(AHEAD);
            let (tx, rx) = std::sync::mpsc::sync_channel::<Loaded>(AHEAD);
            jobs.push(job_tx);
            queues.push(rx);
            scope.spawn(move || {
                for job in job_rx {
                    let (loaded, last) = match job {
                        Job::Read(summaries) => {
                            let read = read_items(store, summaries, personal);
                            let failed = read.is_err();
                            (Some(read), failed)
                        }
                        Job::EndOfGrid => (None, false),
                        Job::Failed(e) => (Some(Err(e)), true),
                    };
                    if tx.send(loaded).is_err() || last {
                        return; // the writer stopped, or was told why
                    }
                }
            });
        }
        scope.spawn(move || {
            let mut next = (0..LOADERS).cycle();
            let mut send = |job: Job| {
                let loader = next.next().unwrap_or_default();
                jobs[loader].send(job).is_ok()
            };
            for grid in grids {
                // Summaries are small index records.
                let mut summaries = match store.grid_summaries(grid, Listing::All) {
                    Ok(summaries) => summaries,
                    Err(e) => {
                        send(Job::Failed(e.into()));
                        return;
                    }
                };
                summaries.sort_by_key(|s| (s.reported_at, s.id));
                let mut summaries = summaries.into_iter().peekable();
                while summaries.peek().is_some() {
                    let job = summaries.by_ref().take(READ_TOGETHER).collect();
                    if !send(Job::Read(job)) {
                        return; // a loader stopped
                    }
                }
                if !send(Job::EndOfGrid) {
                    return;
                }
            }
        });
        let mut from = (0..LOADERS).cycle();
        for grid in grids {
            (hooks.phase)(format!("tickets of {grid}"));
            loop {
                let loader = from.next().unwrap_or_default();
                // A loader that hung up early has sent its error first.
                let Ok(Some(batch)) = queues[loader].recv() else {
                    break;
                };
                for item in batch? {
                    check(&hooks)?;
                    match item {
                        Item::Summary(s) => {
                            exporter.push_summary_row(&s)?;
                        }
                        Item::Ticket(t) => {
                            exporter.push_ticket(&t)?;
                        }
                        Item::Skipped => skipped += 1,
                    }
                }
            }
        }
        Ok(())
    })?;
    skipped += push_visits(store, grids, &mut exporter, &hooks)?;
    (hooks.phase)("writing the file".to_owned());
    Ok(Written {
        stats: exporter.finish()?,
        documents_skipped: skipped,
    })
}

/// Like [`write()`] for the figures alone: each ticket is counted from its
/// summary's figure record ([`Exporter::push_summary`]), so no ticket
/// document is loaded; visits are read as [`write()`] reads them. The
/// output has [`write()`]'s metadata and summary tables, and no ticket
/// rows. `summaries` are the tickets of `grids` (the records API passes
/// the ones it holds in memory); one without a record counts as a skipped
/// document.
pub fn write_figures<'s, S: Store, W: Write + Send>(
    store: &S,
    grids: &[GridCode],
    summaries: impl IntoIterator<Item = &'s TicketSummary>,
    format: Format,
    options: ReportOptions,
    sink: W,
    hooks: Hooks<'_>,
) -> Result<Written, ExportError> {
    let mut exporter = Exporter::new(format, options, sink)?;
    let mut skipped = 0u64;
    (hooks.phase)("ticket figures".to_owned());
    for s in summaries {
        check(&hooks)?;
        if exporter.push_summary(s).is_none() {
            skipped += 1;
        }
    }
    skipped += push_visits(store, grids, &mut exporter, &hooks)?;
    (hooks.phase)("writing the file".to_owned());
    Ok(Written {
        stats: exporter.finish()?,
        documents_skipped: skipped,
    })
}

fn check(hooks: &Hooks<'_>) -> Result<(), ExportError> {
    if (hooks.cancelled)() {
        Err(ExportError::Cancelled)
    } else {
        Ok(())
    }
}

/// Pushes the visits of `grids`, one visit log at a time from each grid's
/// index document; returns how many logs or indexes were skipped.
fn push_visits<S: Store, W: Write + Send>(
    store: &S,
    grids: &[GridCode],
    exporter: &mut Exporter<W>,
    hooks: &Hooks<'_>,
) -> Result<u64, ExportError> {
    let mut skipped = 0u64;
    for grid in grids {
        (hooks.phase)(format!("visits of {grid}"));
        let Some(index) = load(store, &grid.index_document_id())? else {
            continue;
        };
        let mut logs = match grid_index::read(&index) {
            Ok(index) => index.visit_logs,
            Err(e) => {
                tracing::warn!(%grid, error = %e, "export: skipping the visits of a grid whose index is unreadable");
                skipped += 1;
                continue;
            }
        };
        drop(index);
        // `worker:date`: by date, then worker, for rows in about time order.
        logs.sort_by(|(a, _), (b, _)| {
            let key = |k: &str| {
                k.rsplit_once(':')
                    .map(|(w, d)| (d.to_owned(), w.to_owned()))
            };
            key(a).cmp(&key(b))
        });
        for (key, doc_id) in logs {
            check(hooks)?;
            let Some(doc) = load(store, &doc_id)? else {
                skipped += 1;
                continue;
            };
            let mut visits = match visit::read(&doc) {
                Ok((visits, _unreadable)) => visits,
                Err(e) => {
                    tracing::warn!(%grid, log = %key, error = %e, "export: skipping an unreadable visit log");
                    skipped += 1;
                    continue;
                }
            };
            visits.sort_by_key(|v| (v.started_at, v.id));
            for v in &visits {
                exporter.push_visit(v)?;
            }
        }
    }
    Ok(skipped)
}

/// One ticket as the writer takes it: whole from its summary when that
/// holds its row and the export needs no personal data, else loaded.
enum Item {
    Summary(Box<TicketSummary>),
    Ticket(Box<Ticket>),
    /// Listed, but its document is missing or unreadable (logged).
    Skipped,
}

/// The tickets of `summaries`, in their order: those whose summary gives
/// their whole row as they are, the others loaded ([`read_tickets`]).
fn read_items<S: Store>(
    store: &S,
    summaries: Vec<TicketSummary>,
    personal: bool,
) -> Result<Vec<Item>, ExportError> {
    let whole = |s: &TicketSummary| !personal && s.figures.is_some() && s.row.is_some();
    let load: Vec<TicketId> = summaries
        .iter()
        .filter(|s| !whole(s))
        .map(|s| s.id)
        .collect();
    let mut loaded = read_tickets(store, &load, personal)?.into_iter();
    Ok(summaries
        .into_iter()
        .map(|s| {
            if whole(&s) {
                Item::Summary(Box::new(s))
            } else {
                match loaded.next().flatten() {
                    Some(t) => Item::Ticket(Box::new(t)),
                    None => Item::Skipped,
                }
            }
        })
        .collect())
}

/// Stored tickets, in the order of `ids`, read in one read of the store
/// ([`Store::load_many`]); `None` for one missing or unreadable (logged).
/// With `personal`, each resident's contact is taken from the ticket's
/// private document (a ticket written before private documents may carry
/// its own, which is read either way).
fn read_tickets<S: Store>(
    store: &S,
    ids: &[TicketId],
    personal: bool,
) -> Result<Vec<Option<Ticket>>, ExportError> {
    let docs: Vec<DocumentId> = ids.iter().map(TicketId::document_id).collect();
    let stored = store.load_many(&docs)?;
    let private = if personal {
        let docs: Vec<DocumentId> = ids.iter().map(TicketId::private_document_id).collect();
        store.load_many(&docs)?
    } else {
        Vec::new()
    };
    let mut private = private.into_iter();
    Ok(ids
        .iter()
        .zip(docs.iter().zip(stored))
        .map(|(id, (doc_id, stored))| {
            let contact = private.next().flatten();
            let doc = decode(doc_id, stored)?;
            let mut t = ticket::read(&doc, *id)
                .inspect_err(|e| {
                    tracing::warn!(ticket = %id, error = %e, "export: skipping an unreadable ticket");
                })
                .ok()?;
            if let Some(private) = decode(&id.private_document_id(), contact) {
                match ticket_private::read(&private) {
                    Ok(private) => t.fill_contact(&private),
                    Err(e) => {
                        tracing::warn!(ticket = %id, error = %e, "export: skipping an unreadable private document");
                    }
                }
            }
            Some(t)
        })
        .collect())
}

/// The exporter's format from a format name and an optional table name
/// (`GET /api/export`'s `format` and `table`).
pub fn format(format: &str, table: Option<&str>) -> Result<Format, ExportError> {
    let table = table
        .map(str::parse::<TableArg>)
        .transpose()
        .map_err(usage)?;
    input::format(format.parse().map_err(usage)?, table).map_err(usage)
}

pub fn parse_lang(name: &str) -> Result<Lang, ExportError> {
    name.parse::<LangArg>().map(Lang::from).map_err(usage)
}

/// A usage message: the value's own wording is all there is to it.
fn usage(e: impl std::fmt::Display) -> ExportError {
    ExportError::Usage(e.to_string())
}

pub use client_core::report::input::{parse_day, parse_offset};

/// The report period, as `gridsync export` reads it: whole local days at
/// `offset`, `to` inclusive; the current month by default, `from` to today,
/// or the 1st of `to`'s month to `to`.
pub fn period(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    offset: FixedOffset,
    now: i64,
) -> Result<Period, ExportError> {
    client_core::report::input::period_of_days(from, to, offset, now).map_err(ExportError::Usage)
}

pub use client_core::report::input::load_calendar;

/// A file name for the export: `gridsync-<what>_<first day>_<last day>.<ext>`.
pub fn file_name(format: Format, period: Period, offset: FixedOffset) -> String {
    let day = |ms: i64| {
        offset.timestamp_millis_opt(ms).single().map_or_else(
            || "unknown".to_owned(),
            |t| t.format("%Y-%m-%d").to_string(),
        )
    };
    let what = match format {
        Format::Csv(table) => table.key(),
        Format::GeoJson => "tickets",
        _ => "report",
    };
    format!(
        "gridsync-{what}_{}_{}.{}",
        day(period.from),
        day(period.to - 1),
        format.extension()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use client_core::report::Table;
    use client_core::store::MemoryStore;

    /// Rows come out grid by grid in code order, each grid's by report
    /// time, whatever the grids' sizes: grids of many read jobs, of one,
    /// and with none, over both loaders.
    #[test]
    fn tickets_are_written_in_grid_then_report_order() {
        use client_core::model::lifecycle::Role;
        use client_core::model::ticket::{Kind, NewTicket, Source, Urgency};
        use client_core::repo::Repo;
        use std::sync::Arc;

        let cn = parse_offset("+08:00").unwrap();
        let jan = period(Some(day(2025, 1, 1)), Some(day(2025, 1, 31)), cn, 0).unwrap();
        let store = Arc::new(MemoryStore::new());
        let repo = Repo::new(store.clone(), automerge::ActorId::random());
        let sizes = [
            ("GL-001", 150),
            ("GL-002", 1),
            ("GL-003", 0),
            ("GL-004", 129),
        ];
        let mut want = Vec::new();
        for (grid, n) in sizes {
            for i in 0..n {
                let t = NewTicket {
                    id: TicketId::random(),
                    grid: grid.parse().unwrap(),
                    source: Source::Patrol,
                    kind: Kind::Component,
                    category: "0102".into(),
                    urgency: Urgency::Normal,
                    title: format!("{grid} #{i}"),
                    description: String::new(),
                    location: None,
                    resident: None,
                };
                // Reported in reverse of creation, so report order is not
                // creation order.
                let at = jan.from + (1_000 - i64::from(i)) * 60_000;
                let (_, batch) = repo
                    .edit(&t.id.document_id(), |tx| {
                        ticket::create(tx, &t, "wang", Role::Worker, at)
                    })
                    .unwrap();
                store.write(batch).unwrap();
                want.push((grid.to_owned(), at, t.title));
            }
        }
        want.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        let grids: Vec<GridCode> = sizes.iter().map(|(g, _)| g.parse().unwrap()).collect();
        let mut out = Vec::new();
        let written = write(
            &*store,
            &grids,
            Format::Json,
            ReportOptions::new(jan),
            &mut out,
            Hooks::default(),
        )
        .unwrap();
        assert_eq!(written.stats.tickets_exported, 280);
        assert_eq!(written.documents_skipped, 0);
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let got: Vec<&str> = json["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["title"].as_str().unwrap())
            .collect();
        let want: Vec<&str> = want.iter().map(|w| w.2.as_str()).collect();
        assert_eq!(got, want);
    }

    /// Exports in every format read a ticket's row from its summary when the
    /// summary holds one (no document is loaded for it), and the rows are
    /// those the documents give; with personal data, or from a summary
    /// stored before summaries held rows, the document is read.
    #[test]
    fn rows_come_from_summaries_and_equal_the_documents_rows() {
        use client_core::device::{Device, EventInput, Identity};
        use client_core::model::lifecycle::{Action, Role};
        use client_core::model::ticket::{Kind, Location, NewTicket, Resident, Source, Urgency};
        use client_core::store::Batch;
        use std::sync::Arc;

        let cn = parse_offset("+08:00").unwrap();
        let jan = period(Some(day(2025, 1, 1)), Some(day(2025, 1, 31)), cn, 0).unwrap();
        let store = Arc::new(MemoryStore::new());
        let grid: GridCode = "GL-001".parse().unwrap();
        let chen = Device::init(
            store.clone(),
            Identity::new("chen", Role::Supervisor, vec![grid.clone()]),
        )
        .unwrap();
        let mut ids = Vec::new();
        for i in 0..5i64 {
            let t = NewTicket {
                id: TicketId::random(),
                grid: grid.clone(),
                source: Source::Resident,
                kind: Kind::Event,
                category: "1102".into(),
                urgency: if i % 2 == 0 {
                    Urgency::Urgent
                } else {
                    Urgency::Normal
                },
                title: format!("暴露垃圾 {i}"),
                description: "3号楼北侧".into(),
                location: (i != 3).then(|| Location {
                    lat: 30.27 + i as f64 / 1_000.0,
                    lon: 120.15,
                    accuracy_m: Some(8.0),
                    address: Some("文三路 1 号".into()),
                }),
                resident: Some(Resident {
                    name: Some("王阿姨".into()),
                    phone: Some("13800000000".into()),
                }),
            };
            let at = jan.from + i * 3_600_000;
            let id = chen.report(&t, at).unwrap();
            chen.add_photo(id, &format!("{i:064x}"), "before", at + 1)
                .unwrap();
            if i > 0 {
                chen.act(id, Action::Accepted, EventInput::default(), at + 2)
                    .unwrap();
            }
            if i > 1 {
                let dispatch = EventInput {
                    unit: Some("shuiwu".into()),
                    ..EventInput::default()
                };
                chen.act(id, Action::Dispatched, dispatch, at + 3).unwrap();
            }
            if i == 4 {
                let note = EventInput {
                    note: Some("快点".into()),
                    ..EventInput::default()
                };
                // Urged once overdue (urging waits until a ticket is nearly due).
                let due = store
                    .summary(&id.document_id())
                    .unwrap()
                    .unwrap()
                    .due_at
                    .unwrap();
                chen.act(id, Action::Urged, note, due + 1).unwrap();
            }
            ids.push(id);
        }
        let export = |format: Format, personal: bool| {
            let mut options = ReportOptions::new(jan);
            options.include_personal = personal;
            let mut out = Vec::new();
            let written = write(
                &*store,
                std::slice::from_ref(&grid),
                format,
                options,
                &mut out,
                Hooks::default(),
            )
            .unwrap();
            assert_eq!(written.stats.tickets_exported, 5);
            out
        };
        let formats = [Format::Json, Format::Csv(Table::Tickets), Format::GeoJson];
        let from_summaries: Vec<Vec<u8>> = formats.iter().map(|f| export(*f, false)).collect();
        let with_personal = export(Format::Json, true);

        // A summary's row is what the export shows: change one and it shows.
        let mut s = store.summary(&ids[2].document_id()).unwrap().unwrap();
        s.row.as_mut().unwrap().title = "只在摘要里".into();
        let mut b = Batch::new();
        b.put_summary(s.clone());
        store.write(b).unwrap();
        let shown = String::from_utf8(export(Format::Json, false)).unwrap();
        assert!(
            shown.contains("只在摘要里"),
            "the summary's row is exported"
        );
        let personal = String::from_utf8(export(Format::Json, true)).unwrap();
        assert!(
            !personal.contains("只在摘要里") && personal.contains("王阿姨"),
            "an export with personal data reads the documents"
        );

        // Summaries stored without rows: the documents give the same rows.
        for id in &ids {
            let mut s = store.summary(&id.document_id()).unwrap().unwrap();
            s.row = None;
            let mut b = Batch::new();
            b.put_summary(s);
            store.write(b).unwrap();
        }
        for (format, want) in formats.iter().zip(&from_summaries) {
            assert_eq!(
                String::from_utf8(export(*format, false)).unwrap(),
                String::from_utf8(want.clone()).unwrap(),
                "{format:?}"
            );
        }
        assert_eq!(export(Format::Json, true), with_personal);
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn formats_tables_and_file_names() {
        assert_eq!(format("xlsx", None).unwrap(), Format::Xlsx);
        assert_eq!(format("csv", None).unwrap(), Format::CsvZip);
        assert_eq!(
            format("csv", Some("tickets")).unwrap(),
            Format::Csv(Table::Tickets)
        );
        assert!(matches!(
            format("xlsx", Some("tickets")),
            Err(ExportError::Usage(m)) if m.contains("csv only")
        ));
        assert!(matches!(format("pdf", None), Err(ExportError::Usage(_))));
        assert!(matches!(
            format("csv", Some("people")),
            Err(ExportError::Usage(_))
        ));
        let cn = parse_offset("+08:00").unwrap();
        let p = period(Some(day(2025, 1, 1)), Some(day(2025, 1, 31)), cn, 0).unwrap();
        assert_eq!(
            file_name(Format::Csv(Table::Tickets), p, cn),
            "gridsync-tickets_2025-01-01_2025-01-31.csv"
        );
        assert_eq!(
            file_name(Format::Xlsx, p, cn),
            "gridsync-report_2025-01-01_2025-01-31.xlsx"
        );
        assert!(period(Some(day(2025, 2, 1)), Some(day(2025, 1, 31)), cn, 0).is_err());
        assert_eq!(parse_offset("-0530").unwrap().local_minus_utc(), -19_800);
        assert!(parse_offset("08:00").is_err());
    }
}
