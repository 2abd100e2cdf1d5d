//! The ticket summary kept in the local index, so listing a grid's open
//! tickets does not load every document.

use serde::{Deserialize, Serialize};

use super::lifecycle::{Action, CloseReason, Rating, Status};
use super::ticket::{Kind, Location, Source, Ticket, Urgency};
use crate::ids::{GridCode, TicketId};

/// What a listing shows of one ticket. Rebuilt from the document whenever
/// the document changes, in the same storage transaction as the change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TicketSummary {
    pub id: TicketId,
    pub grid: GridCode,
    pub status: Status,
    pub category: String,
    pub title: String,
    pub urgency: Option<Urgency>,
    /// The handling unit it is dispatched to.
    pub unit: Option<String>,
    pub due_at: Option<i64>,
    pub reported_at: Option<i64>,
    pub updated_at: Option<i64>,
    pub rework_count: u32,
    /// Unresolved lifecycle conflicts, for supervisors.
    pub conflicts: u32,
    /// The user who handled it last (verifiers must differ).
    pub handled_by: Option<String>,
    pub created_by: String,
    /// Hex SHA-256 of each photo the ticket holds, once each: the relay
    /// keeps its blob references (hash -> tickets) from these, in the same
    /// commit as the change that added them.
    #[serde(default)]
    pub photos: Vec<String>,
    /// The latest urging (督办), if any: the unit's `todo` lists it first.
    #[serde(default)]
    pub urged_at: Option<i64>,
    /// An extension request waits for a supervisor.
    #[serde(default)]
    pub extension_pending: bool,
    /// What the district-review figures read of it; `None` in a summary
    /// stored before summaries carried it (read the document instead).
    #[serde(default)]
    pub figures: Option<FigureRecord>,
    /// What its export row shows, so an export without personal data needs
    /// no document; `None` in a summary stored before summaries carried it
    /// (read the document instead), and in the records API's memory, which
    /// lists and counts but never exports from it.
    #[serde(default)]
    pub row: Option<RowRecord>,
}

/// A ticket as its row in an export shows it (`report::tables`), apart
/// from its place, its figures for the period and its personal data
/// (description and resident contact, read from the documents only when
/// an export includes them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowRecord {
    pub id: TicketId,
    pub category: String,
    pub kind: Option<Kind>,
    pub source: Option<Source>,
    pub urgency: Option<Urgency>,
    pub title: String,
    pub status: Status,
    pub unit: Option<String>,
    /// The `reported` event, or the creation time.
    pub reported_at: Option<i64>,
    pub dispatched_at: Option<i64>,
    pub due_at: Option<i64>,
    pub handled_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub close_reason: Option<CloseReason>,
    pub rework_count: u32,
    pub returned_count: u32,
    pub rating: Option<Rating>,
    pub location: Option<Location>,
    pub conflicts: u32,
    pub extensions_requested: u32,
    pub extensions_approved: u32,
    pub urge_count: u32,
    /// Each photo's phase and hash, in the ticket's order.
    pub photos: Box<[(String, String)]>,
}

impl RowRecord {
    pub fn of(t: &Ticket) -> Self {
        let st = &t.state;
        Self {
            id: t.id,
            category: t.category.clone(),
            kind: t.kind,
            source: t.source,
            urgency: t.urgency,
            title: t.title.clone(),
            status: t.status(),
            unit: st.unit.clone(),
            reported_at: st.reported_at.or(t.created_at),
            dispatched_at: st.dispatched_at,
            due_at: st.due_at,
            handled_at: st.handled_at,
            closed_at: st.closed_at,
            close_reason: st.close_reason.clone(),
            rework_count: st.rework_count,
            returned_count: st.returned_count,
            rating: st.rating,
            location: t.location.clone(),
            conflicts: u32::try_from(st.conflicts.len()).unwrap_or(u32::MAX),
            extensions_requested: st.extensions_requested,
            extensions_approved: st.extensions_approved,
            urge_count: st.urge_count,
            photos: t
                .photos
                .iter()
                .map(|p| (p.phase.clone(), p.hash.clone()))
                .collect(),
        }
    }

    /// Its location as (lon, lat) when usable (GeoJSON's order).
    pub fn usable_location(&self) -> Option<(f64, f64)> {
        self.location.as_ref()?.usable()
    }
}

/// What the district-review figures (`report::figures::TicketFacts`) read
/// of a ticket: its lifecycle times and the events they count, for any
/// period. Kept in the ticket's summary, so figures need no document; the
/// lists are boxed slices, as small in memory as they can be.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FigureRecord {
    /// The `reported` event, or the creation time.
    pub reported_at: Option<i64>,
    /// The first accept (立案).
    pub accepted_at: Option<i64>,
    pub dispatched_at: Option<i64>,
    /// The latest `handled`.
    pub handled_at: Option<i64>,
    /// When it was closed or declared invalid, if it is so now.
    pub closed_at: Option<i64>,
    /// Declared invalid (注销), or closed as a duplicate or cancelled: in no
    /// closure figure.
    pub written_off: bool,
    /// The deadline, an approved extension's once one is approved.
    pub due_at: Option<i64>,
    /// Suspensions (挂账): start and, once resumed, end.
    pub suspensions: Box<[(i64, Option<i64>)]>,
    /// The events the figures count (returned, handled, rework, extension
    /// approved, urged) with their device times, in the order applied.
    pub events: Box<[(Action, i64)]>,
    /// The latest rating (回访) and when it was recorded.
    pub rated: Option<(Rating, i64)>,
    /// It has a usable WGS84 location (GeoJSON leaves the others out).
    pub located: bool,
}

impl FigureRecord {
    pub fn of(t: &Ticket) -> Self {
        let st = &t.state;
        let mut events = Vec::new();
        let mut rated_at = None;
        for ev in st
            .applied
            .iter()
            .filter_map(|&i| t.events.get(i)?.as_ref().ok())
        {
            match ev.to {
                Action::Returned
                | Action::Handled
                | Action::Rework
                | Action::ExtensionApproved
                | Action::Urged => events.push((ev.to, ev.at_device)),
                Action::Rated => rated_at = Some(ev.at_device),
                _ => {}
            }
        }
        let status = t.status();
        Self {
            reported_at: st.reported_at.or(t.created_at),
            accepted_at: st.accepted_at,
            dispatched_at: st.dispatched_at,
            handled_at: st.handled_at,
            closed_at: match status {
                Status::Closed | Status::Invalid => st.closed_at,
                _ => None,
            },
            written_off: status == Status::Invalid
                || matches!(
                    st.close_reason,
                    Some(CloseReason::Duplicate(_) | CloseReason::Cancelled)
                ),
            due_at: st.due_at,
            suspensions: st.suspensions.as_slice().into(),
            events: events.into(),
            rated: st.rating.zip(rated_at),
            located: t.usable_location().is_some(),
        }
    }
}

impl TicketSummary {
    /// The summary of a ticket; `None` for a ticket with no grid yet (its
    /// first change has not arrived), which cannot be listed under a grid.
    pub fn of(t: &Ticket) -> Option<Self> {
        Some(Self {
            id: t.id,
            grid: t.grid.clone()?,
            status: t.status(),
            category: t.category.clone(),
            title: t.title.clone(),
            urgency: t.urgency,
            unit: t.state.unit.clone(),
            due_at: t.state.due_at,
            reported_at: t.state.reported_at.or(t.created_at),
            updated_at: t.updated_at(),
            rework_count: t.state.rework_count,
            conflicts: u32::try_from(t.state.conflicts.len()).unwrap_or(u32::MAX),
            handled_by: t.state.handled_by.clone(),
            created_by: t.created_by.clone(),
            photos: {
                let mut hashes: Vec<String> = Vec::new();
                for p in &t.photos {
                    if !hashes.contains(&p.hash) {
                        hashes.push(p.hash.clone());
                    }
                }
                hashes
            },
            urged_at: t.state.urged_at,
            extension_pending: t.state.extension.is_some(),
            figures: Some(FigureRecord::of(t)),
            row: Some(RowRecord::of(t)),
        })
    }

    pub fn is_overdue(&self, now: i64) -> bool {
        self.status.is_open() && self.due_at.is_some_and(|d| d < now)
    }
}
