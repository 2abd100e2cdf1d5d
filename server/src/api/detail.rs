//! One ticket whole, as `GET /api/tickets/{id}` and every write answer it:
//! its fields, its events (with actor, role and whether the fold applied
//! them), its comments, its conflicts explained, and the actions the
//! caller may take next.

use std::collections::BTreeSet;

use client_core::ids::{EventId, GridCode, TicketId};
use client_core::model::lifecycle::{
    self, Action, CloseReason, ConflictReason, Event, Rating, Role, Status,
};
use client_core::model::summary::TicketSummary;
use client_core::model::ticket::{Kind, Photo, Source, Ticket, Urgency};
use serde::Serialize;

use super::iso_opt;
use super::tickets::SummaryJson;
use crate::access;
use crate::auth::Principal;

#[derive(Debug, Serialize)]
pub(crate) struct Detail {
    pub summary: Option<SummaryJson>,
    pub ticket: TicketJson,
    pub events: Vec<EventJson>,
    pub comments: Vec<CommentJson>,
    pub conflicts: Vec<ConflictJson>,
    pub actions: Vec<NextAction>,
}

#[derive(Debug, Serialize)]
pub(crate) struct TicketJson {
    pub id: TicketId,
    pub grid: Option<GridCode>,
    pub status: Status,
    pub kind: Option<Kind>,
    pub source: Option<Source>,
    pub category: String,
    pub urgency: Option<Urgency>,
    pub title: String,
    pub description: String,
    pub location: Option<LocationJson>,
    /// Residents' contact details: only for those who may read the
    /// ticket's private document (`access::may_read_contact`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resident: Option<ResidentJson>,
    pub photos: Vec<PhotoJson>,
    pub created_by: String,
    pub created_at: Option<String>,
    pub unit: Option<String>,
    pub due_at: Option<String>,
    pub reported_at: Option<String>,
    pub accepted_at: Option<String>,
    pub dispatched_at: Option<String>,
    pub handled_at: Option<String>,
    pub handled_by: Option<String>,
    pub closed_at: Option<String>,
    pub close_reason: Option<CloseReason>,
    pub rating: Option<Rating>,
    pub rework_count: u32,
    pub returned_count: u32,
}

#[derive(Debug, Serialize)]
pub(crate) struct LocationJson {
    pub lat: f64,
    pub lon: f64,
    pub accuracy: Option<f64>,
    pub address: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ResidentJson {
    pub name: Option<String>,
    pub phone: Option<String>,
}

/// A photo the ticket lists, and where the relay serves it.
#[derive(Debug, Serialize)]
pub(crate) struct PhotoJson {
    /// Hex SHA-256 of its bytes (its name).
    pub hash: String,
    /// `before` (处置前) or `after` (处置后) the work.
    pub phase: String,
    pub added_by: String,
    pub at: Option<String>,
    /// Whether the relay holds the photo whole: the device that took it
    /// may not have uploaded it yet (then `url` answers 404).
    pub uploaded: bool,
    /// `GET /api/blobs/<hash>`: the photo.
    pub url: String,
    /// `GET /api/blobs/<hash>?size=thumb`: at most 320 px a side.
    pub thumb_url: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct EventJson {
    pub id: Option<EventId>,
    pub action: Option<Action>,
    pub from: Option<Status>,
    pub actor: Option<String>,
    pub role: Option<Role>,
    pub at: Option<String>,
    pub note: Option<String>,
    pub unit: Option<String>,
    pub due_at: Option<String>,
    pub rating: Option<Rating>,
    pub close_reason: Option<CloseReason>,
    /// Whether the fold applied it (otherwise it is a conflict).
    pub applied: bool,
    /// Why the stored entry could not be read, for an unreadable one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct CommentJson {
    pub id: EventId,
    pub author: String,
    pub at: Option<String>,
    pub text: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct ConflictJson {
    pub event_id: Option<EventId>,
    pub action: Option<Action>,
    pub actor: Option<String>,
    pub role: Option<Role>,
    /// Why the event was not applied, as a sentence.
    pub reason: String,
    /// The same, as data (`{"kind": "concurrent", "expected", "actual"}`).
    pub detail: ConflictReason,
}

/// An action the caller may take next and what its form needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct NextAction {
    pub action: Action,
    /// Fields the action cannot be taken without.
    pub needs: Vec<&'static str>,
    /// Fields it also takes (`due_at` defaults from the working calendar).
    pub optional: Vec<&'static str>,
}

impl Detail {
    /// `t` as `p` sees it; `may_change` is the policy's write decision
    /// for `p` and the ticket's document (`access::may_change_ticket`);
    /// `uploaded` the photos (lowercase hex) the relay holds whole.
    pub(crate) fn of(
        p: &Principal,
        t: &Ticket,
        may_change: bool,
        now: i64,
        uploaded: &BTreeSet<String>,
    ) -> Self {
        let st = &t.state;
        let events = t
            .events
            .iter()
            .enumerate()
            .map(|(i, entry)| event_json(entry, st.applied.contains(&i)))
            .collect();
        let conflicts = st
            .conflicts
            .iter()
            .map(|c| ConflictJson {
                event_id: c.event_id,
                action: c.action,
                actor: c.actor.clone(),
                role: t
                    .events
                    .get(c.index)
                    .and_then(|e| e.as_ref().ok())
                    .map(|e| e.role),
                reason: c.reason.to_string(),
                detail: c.reason.clone(),
            })
            .collect();
        Self {
            summary: TicketSummary::of(t).map(|s| SummaryJson::of(&s, now)),
            ticket: ticket_json(p, t, uploaded),
            events,
            comments: t
                .comments
                .iter()
                .map(|c| CommentJson {
                    id: c.id,
                    author: c.author.clone(),
                    at: iso_opt(Some(c.at)),
                    text: c.text.clone(),
                })
                .collect(),
            conflicts,
            actions: if may_change {
                next_actions(p, t, super::now())
            } else {
                Vec::new()
            },
        }
    }
}

fn ticket_json(p: &Principal, t: &Ticket, uploaded: &BTreeSet<String>) -> TicketJson {
    let st = &t.state;
    TicketJson {
        id: t.id,
        grid: t.grid.clone(),
        status: t.status(),
        kind: t.kind,
        source: t.source,
        category: t.category.clone(),
        urgency: t.urgency,
        title: t.title.clone(),
        description: t.description.clone(),
        location: t.location.as_ref().map(|l| LocationJson {
            lat: l.lat,
            lon: l.lon,
            accuracy: l.accuracy_m,
            address: l.address.clone(),
        }),
        resident: t
            .grid
            .as_ref()
            .is_some_and(|g| access::may_read_contact(p, g, Some(&t.created_by)))
            .then(|| ResidentJson {
                name: t.resident.name.clone(),
                phone: t.resident.phone.clone(),
            }),
        photos: t.photos.iter().map(|ph| photo_json(ph, uploaded)).collect(),
        created_by: t.created_by.clone(),
        created_at: iso_opt(t.created_at),
        unit: st.unit.clone(),
        due_at: iso_opt(st.due_at),
        reported_at: iso_opt(st.reported_at),
        accepted_at: iso_opt(st.accepted_at),
        dispatched_at: iso_opt(st.dispatched_at),
        handled_at: iso_opt(st.handled_at),
        handled_by: st.handled_by.clone(),
        closed_at: iso_opt(st.closed_at),
        close_reason: st.close_reason.clone(),
        rating: st.rating,
        rework_count: st.rework_count,
        returned_count: st.returned_count,
    }
}

fn photo_json(ph: &Photo, uploaded: &BTreeSet<String>) -> PhotoJson {
    let hash = ph.hash.to_ascii_lowercase();
    PhotoJson {
        uploaded: uploaded.contains(&hash),
        url: format!("/api/blobs/{hash}"),
        thumb_url: format!("/api/blobs/{hash}?size=thumb"),
        hash,
        phase: ph.phase.clone(),
        added_by: ph.added_by.clone(),
        at: iso_opt(Some(ph.at)),
    }
}

/// The photos of `t` that `blobs` holds whole (a file each: one `stat`
/// per photo, so this runs on the blocking pool).
pub(crate) fn uploaded_photos(
    blobs: &crate::blobs::Blobs,
    t: &Ticket,
) -> Result<BTreeSet<String>, crate::blobs::BlobError> {
    let mut out = BTreeSet::new();
    for ph in &t.photos {
        if let Some(hash) = crate::blobs::BlobHash::parse(&ph.hash)
            && blobs.finished(&hash)?.is_some()
        {
            out.insert(hash.hex());
        }
    }
    Ok(out)
}

fn event_json(entry: &lifecycle::EventEntry, applied: bool) -> EventJson {
    match entry {
        Ok(e) => EventJson {
            id: Some(e.id),
            action: Some(e.to),
            from: e.from,
            actor: Some(e.actor.clone()),
            role: Some(e.role),
            at: iso_opt(Some(e.at_device)),
            note: e.note.clone(),
            unit: e.unit.clone(),
            due_at: iso_opt(e.due_at),
            rating: e.rating,
            close_reason: e.close_reason.clone(),
            applied,
            unreadable: None,
        },
        Err(detail) => EventJson {
            id: None,
            action: None,
            from: None,
            actor: None,
            role: None,
            at: None,
            note: None,
            unit: None,
            due_at: None,
            rating: None,
            close_reason: None,
            applied: false,
            unreadable: Some(detail.clone()),
        },
    }
}

/// The actions `p` may take on `t` now: the rules of `lifecycle::RULES`
/// whose roles include `p`'s and whose states include the ticket's, that
/// the lifecycle check (`lifecycle::check`, what `Device::act` runs) lets
/// `p` take once their required fields are filled, and that the device's
/// own checks allow at `now` (urging only an overdue or nearly due ticket,
/// `device::urgeable_from`). The caller has asked the policy whether `p`
/// may change the ticket at all.
fn next_actions(p: &Principal, t: &Ticket, now: i64) -> Vec<NextAction> {
    let mut out = Vec::new();
    for rule in lifecycle::RULES {
        if !rule.roles.contains(&p.role) || !rule.from.contains(&t.state.status) {
            continue;
        }
        if rule.action == Action::Urged
            && client_core::device::urgeable_from(t).is_none_or(|from| now < from)
        {
            continue;
        }
        // Ask the lifecycle check what is missing, filling in each field
        // it names until it accepts the event or refuses it otherwise.
        let mut ev = Event::new(t.state.status, rule.action, &p.user, p.role, 0);
        let mut needs = Vec::new();
        let allowed = loop {
            match t.check(&ev) {
                Ok(()) => break true,
                Err(ConflictReason::MissingField { field }) if !needs.contains(&field) => {
                    needs.push(field);
                    if !fill(&mut ev, field) {
                        break true;
                    }
                }
                Err(_) => break false,
            }
        };
        if allowed {
            out.push(NextAction {
                action: rule.action,
                optional: optional(rule.action, &needs),
                needs,
            });
        }
    }
    out
}

/// Puts a stand-in value in `field` of `ev` (for probing the check only);
/// `false` for a field this does not know.
fn fill(ev: &mut Event, field: &str) -> bool {
    match field {
        "note" => ev.note = Some("-".into()),
        "unit" => ev.unit = Some("-".into()),
        "rating" => ev.rating = Some(Rating::Satisfied),
        _ => return false,
    }
    true
}

/// What `Device::act` also takes for `action`: a note on any action, a
/// deadline on a dispatch (else one from the working calendar), the
/// original on a close as a duplicate.
fn optional(action: Action, needs: &[&'static str]) -> Vec<&'static str> {
    let mut out = Vec::new();
    if !needs.contains(&"note") {
        out.push("note");
    }
    match action {
        Action::Dispatched => out.push("due_at"),
        Action::Closed => out.push("duplicate_of"),
        _ => {}
    }
    out
}
