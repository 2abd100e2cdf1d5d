//! The ticket summary kept in the local index, so listing a grid's open
//! tickets does not load every document.

use serde::{Deserialize, Serialize};

use super::lifecycle::Status;
use super::ticket::{Ticket, Urgency};
use crate::ids::{GridCode, TicketId};

/// What a listing shows of one ticket. Rebuilt from the document whenever
/// the document changes, in the same storage transaction as the change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
        })
    }

    pub fn is_overdue(&self, now: i64) -> bool {
        self.status.is_open() && self.due_at.is_some_and(|d| d < now)
    }
}
