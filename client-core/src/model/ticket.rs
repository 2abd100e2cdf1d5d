//! The ticket document: one Automerge document per ticket.
//!
//! Root map: header (`doc_type`, `schema`), identity and description fields
//! written once by the reporting device, and two append-only lists, `events`
//! (lifecycle transitions) and `comments`. Status is never stored: it is
//! [`lifecycle::fold`] of `events`. The resident's contact is not in it:
//! it lives in the ticket's private document ([`super::ticket_private`]),
//! which fewer people may read; tickets written before that document
//! existed still carry `resident_name` and `resident_phone`, which
//! [`read`] reads.

use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc, ScalarValue};
use serde::{Deserialize, Serialize};

use super::lifecycle::{self, Action, CloseReason, Event, EventEntry, Folded, Role, Status};
use super::schema::{self, DocType, Node, SchemaError, Tree};
use crate::ids::{EventId, GridCode, TicketId};

/// Where a ticket came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// 巡查上报: found on patrol.
    Patrol,
    /// 居民诉求: a resident asked.
    Resident,
    /// 12345 热线转办.
    Hotline,
    /// 上级交办: assigned from above.
    Assigned,
}

/// The kind of problem (GB/T 30428 部件/事件 plus grid work's own kinds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// 部件: street furniture, lights, covers.
    Component,
    /// 事件: events such as illegal parking, litter.
    Event,
    /// 民生诉求
    Livelihood,
    /// 矛盾纠纷
    Dispute,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    Normal,
    Urgent,
}

super::text_enum!(Source {
    Patrol => "patrol",
    Resident => "resident",
    Hotline => "hotline",
    Assigned => "assigned",
});
super::text_enum!(Kind {
    Component => "component",
    Event => "event",
    Livelihood => "livelihood",
    Dispute => "dispute",
});
super::text_enum!(Urgency {
    Normal => "normal",
    Urgent => "urgent",
});

impl Source {
    pub fn label_zh(&self) -> &'static str {
        match self {
            Source::Patrol => "巡查上报",
            Source::Resident => "居民诉求",
            Source::Hotline => "12345转办",
            Source::Assigned => "上级交办",
        }
    }
}

impl Kind {
    pub fn label_zh(&self) -> &'static str {
        match self {
            Kind::Component => "部件",
            Kind::Event => "事件",
            Kind::Livelihood => "民生诉求",
            Kind::Dispute => "矛盾纠纷",
        }
    }
}

/// A WGS84 position as the device measured it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: Option<f64>,
    pub address: Option<String>,
}

impl Location {
    /// (lon, lat) when both are finite and in range (GeoJSON's order).
    pub fn usable(&self) -> Option<(f64, f64)> {
        let ok = self.lat.is_finite()
            && self.lon.is_finite()
            && (-90.0..=90.0).contains(&self.lat)
            && (-180.0..=180.0).contains(&self.lon);
        ok.then_some((self.lon, self.lat))
    }
}

/// Resident contact details: personal data, shown to supervisors, left out
/// of exports unless an admin asks. Kept in the ticket's private document,
/// never written into the ticket.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resident {
    pub name: Option<String>,
    pub phone: Option<String>,
}

/// A photo, by content hash (the bytes travel separately).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Photo {
    /// Hex SHA-256 of the image bytes.
    pub hash: String,
    /// `before` or `after` the work.
    pub phase: String,
    pub added_by: String,
    pub at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub id: EventId,
    pub author: String,
    pub at: i64,
    pub text: String,
}

/// What a reporter fills in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewTicket {
    pub id: TicketId,
    pub grid: GridCode,
    pub source: Source,
    pub kind: Kind,
    /// 大类+小类 code, for example `0102`.
    pub category: String,
    pub urgency: Urgency,
    pub title: String,
    pub description: String,
    pub location: Option<Location>,
    /// Written to the ticket's private document, not to the ticket.
    pub resident: Option<Resident>,
}

/// A ticket as read from its document, with its folded lifecycle.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ticket {
    pub id: TicketId,
    pub grid: Option<GridCode>,
    pub source: Option<Source>,
    pub kind: Option<Kind>,
    pub category: String,
    pub urgency: Option<Urgency>,
    pub title: String,
    pub description: String,
    pub location: Option<Location>,
    /// From the private document when the reader holds it, else what a
    /// ticket written before private documents carries itself.
    pub resident: Resident,
    pub created_by: String,
    pub created_at: Option<i64>,
    pub photos: Vec<Photo>,
    pub events: Vec<EventEntry>,
    pub comments: Vec<Comment>,
    pub state: Folded,
}

impl Ticket {
    /// Takes the resident's contact from the ticket's private document:
    /// its fields win over what a ticket written before private documents
    /// carries itself.
    pub fn fill_contact(&mut self, private: &super::ticket_private::TicketPrivate) {
        let r = &private.resident;
        if r.name.is_some() {
            self.resident.name.clone_from(&r.name);
        }
        if r.phone.is_some() {
            self.resident.phone.clone_from(&r.phone);
        }
    }

    /// The folded status; a ticket whose creation event has not arrived yet
    /// reads as `reported`.
    pub fn status(&self) -> Status {
        self.state.status.unwrap_or(Status::Reported)
    }

    /// The `(lon, lat)` of a finite WGS84 position in range, if it has one.
    pub fn usable_location(&self) -> Option<(f64, f64)> {
        self.location.as_ref()?.usable()
    }

    /// The latest time anything happened on the ticket (device clocks).
    pub fn updated_at(&self) -> Option<i64> {
        let events = self.events.iter().flatten().map(|e| e.at_device);
        let comments = self.comments.iter().map(|c| c.at);
        events.chain(comments).chain(self.created_at).max()
    }

    /// Whether `ev` may be appended now; an event that fails this check
    /// would be kept but reported as a conflict, so callers refuse it.
    pub fn check(&self, ev: &Event) -> Result<(), lifecycle::ConflictReason> {
        lifecycle::check(&self.state, ev)
    }
}

mod key {
    pub const ID: &str = "id";
    pub const GRID: &str = "grid";
    pub const SOURCE: &str = "source";
    pub const KIND: &str = "kind";
    pub const CATEGORY: &str = "category";
    pub const URGENCY: &str = "urgency";
    pub const TITLE: &str = "title";
    pub const DESCRIPTION: &str = "description";
    pub const LAT: &str = "lat";
    pub const LON: &str = "lon";
    pub const ACCURACY: &str = "accuracy_m";
    pub const ADDRESS: &str = "address";
    pub const RESIDENT_NAME: &str = "resident_name";
    pub const RESIDENT_PHONE: &str = "resident_phone";
    pub const CREATED_BY: &str = "created_by";
    pub const CREATED_AT: &str = "created_at";
    pub const PHOTOS: &str = "photos";
    pub const EVENTS: &str = "events";
    pub const COMMENTS: &str = "comments";
}

/// Writes a new ticket and its `reported` event into an empty document.
/// `t.resident` is not written: it belongs in the private document
/// ([`super::ticket_private::create`]).
pub fn create(
    tx: &mut impl Transactable,
    t: &NewTicket,
    actor: &str,
    role: Role,
    at: i64,
) -> Result<EventId, automerge::AutomergeError> {
    schema::write_header(tx, DocType::Ticket)?;
    tx.put(ROOT, key::ID, t.id.to_string())?;
    tx.put(ROOT, key::GRID, t.grid.as_str())?;
    tx.put(ROOT, key::SOURCE, t.source.as_str())?;
    tx.put(ROOT, key::KIND, t.kind.as_str())?;
    tx.put(ROOT, key::CATEGORY, t.category.as_str())?;
    tx.put(ROOT, key::URGENCY, t.urgency.as_str())?;
    tx.put(ROOT, key::TITLE, t.title.as_str())?;
    tx.put(ROOT, key::DESCRIPTION, t.description.as_str())?;
    if let Some(loc) = &t.location {
        tx.put(ROOT, key::LAT, loc.lat)?;
        tx.put(ROOT, key::LON, loc.lon)?;
        schema::put_opt(tx, &ROOT, key::ACCURACY, loc.accuracy_m)?;
        schema::put_opt(tx, &ROOT, key::ADDRESS, loc.address.as_deref())?;
    }
    tx.put(ROOT, key::CREATED_BY, actor)?;
    tx.put(ROOT, key::CREATED_AT, ScalarValue::Timestamp(at))?;
    schema::root_list(tx, key::PHOTOS)?;
    schema::root_list(tx, key::COMMENTS)?;
    let event = Event::new(None, Action::Reported, actor, role, at);
    append_event(tx, &event)?;
    Ok(event.id)
}

/// Appends a lifecycle event. The caller checks it first
/// ([`Ticket::next_event`]); whatever is appended is kept forever and
/// folded on read.
pub fn append_event(
    tx: &mut impl Transactable,
    ev: &Event,
) -> Result<(), automerge::AutomergeError> {
    let list = schema::root_list(tx, key::EVENTS)?;
    let m = schema::push_map(tx, &list)?;
    tx.put(&m, "id", ev.id.to_string())?;
    match ev.from {
        Some(s) => tx.put(&m, "from", s.as_str())?,
        None => tx.put(&m, "from", ScalarValue::Null)?,
    }
    tx.put(&m, "to", ev.to.as_str())?;
    tx.put(&m, "actor", ev.actor.as_str())?;
    tx.put(&m, "role", ev.role.as_str())?;
    tx.put(&m, "at_device", ScalarValue::Timestamp(ev.at_device))?;
    schema::put_opt(tx, &m, "note", ev.note.as_deref())?;
    schema::put_opt(tx, &m, "unit", ev.unit.as_deref())?;
    schema::put_opt(tx, &m, "due_at", ev.due_at.map(ScalarValue::Timestamp))?;
    if let Some(reason) = &ev.close_reason {
        let (kind, of) = match reason {
            CloseReason::Resolved => ("resolved", None),
            CloseReason::Duplicate(of) => ("duplicate", Some(of.as_str())),
            CloseReason::Cancelled => ("cancelled", None),
        };
        tx.put(&m, "close_reason", kind)?;
        schema::put_opt(tx, &m, "duplicate_of", of)?;
    }
    schema::put_opt(tx, &m, "rating", ev.rating.map(|r| r.as_str()))?;
    schema::put_opt(tx, &m, "request", ev.request.map(|r| r.to_string()))?;
    schema::put_opt(
        tx,
        &m,
        "catalog_version",
        ev.catalog_version
            .and_then(|v| i64::try_from(v).ok())
            .map(ScalarValue::Int),
    )?;
    schema::put_opt(tx, &m, "time_limit", ev.time_limit.as_deref())?;
    Ok(())
}

pub fn add_comment(
    tx: &mut impl Transactable,
    c: &Comment,
) -> Result<(), automerge::AutomergeError> {
    let list = schema::root_list(tx, key::COMMENTS)?;
    let m = schema::push_map(tx, &list)?;
    tx.put(&m, "id", c.id.to_string())?;
    tx.put(&m, "author", c.author.as_str())?;
    tx.put(&m, "at", ScalarValue::Timestamp(c.at))?;
    tx.put(&m, "text", c.text.as_str())?;
    Ok(())
}

pub fn add_photo(tx: &mut impl Transactable, p: &Photo) -> Result<(), automerge::AutomergeError> {
    let list = schema::root_list(tx, key::PHOTOS)?;
    let m = schema::push_map(tx, &list)?;
    tx.put(&m, "hash", p.hash.as_str())?;
    tx.put(&m, "phase", p.phase.as_str())?;
    tx.put(&m, "added_by", p.added_by.as_str())?;
    tx.put(&m, "at", ScalarValue::Timestamp(p.at))?;
    Ok(())
}

/// Reads a ticket. Fails only on a document of another type or a newer
/// schema major; missing or mistyped fields read as absent, and unreadable
/// events become conflicts. The document is read in one bounded pass
/// ([`schema::read_tree`], three levels: root, its lists, their maps)
/// rather than field by field: Automerge's columnar reads are costly one
/// key at a time, and listing, sync and export read every ticket. Anything
/// nested deeper than a ticket's layout is not read at all.
pub fn read(doc: &impl ReadDoc, id: TicketId) -> Result<Ticket, SchemaError> {
    schema::expect_type(doc, DocType::Ticket)?;
    let root = schema::read_tree(doc, &ROOT, 3);
    let s = |k: &str| h_str(&root, k);
    let location = match (h_f64(&root, key::LAT), h_f64(&root, key::LON)) {
        (Some(lat), Some(lon)) => Some(Location {
            lat,
            lon,
            accuracy_m: h_f64(&root, key::ACCURACY),
            address: s(key::ADDRESS),
        }),
        _ => None,
    };
    let events: Vec<EventEntry> = h_maps(&root, key::EVENTS)
        .into_iter()
        .map(|m| match m {
            Some(m) => read_event(m),
            None => Err("an event that is not a map".to_owned()),
        })
        .collect();
    let comments = h_maps(&root, key::COMMENTS)
        .into_iter()
        .flatten()
        .filter_map(|m| {
            Some(Comment {
                id: h_str(m, "id")?.parse().ok()?,
                author: h_str(m, "author").unwrap_or_default(),
                at: h_i64(m, "at").unwrap_or_default(),
                text: h_str(m, "text").unwrap_or_default(),
            })
        })
        .collect();
    let photos = h_maps(&root, key::PHOTOS)
        .into_iter()
        .flatten()
        .filter_map(|m| {
            Some(Photo {
                hash: h_str(m, "hash")?,
                phase: h_str(m, "phase").unwrap_or_default(),
                added_by: h_str(m, "added_by").unwrap_or_default(),
                at: h_i64(m, "at").unwrap_or_default(),
            })
        })
        .collect();
    let state = lifecycle::fold(&events);
    Ok(Ticket {
        id,
        grid: s(key::GRID).and_then(|g| g.parse().ok()),
        source: s(key::SOURCE).and_then(|v| v.parse().ok()),
        kind: s(key::KIND).and_then(|v| v.parse().ok()),
        category: s(key::CATEGORY).unwrap_or_default(),
        urgency: s(key::URGENCY).and_then(|v| v.parse().ok()),
        title: s(key::TITLE).unwrap_or_default(),
        description: s(key::DESCRIPTION).unwrap_or_default(),
        location,
        resident: Resident {
            name: s(key::RESIDENT_NAME),
            phone: s(key::RESIDENT_PHONE),
        },
        created_by: s(key::CREATED_BY).unwrap_or_default(),
        created_at: h_i64(&root, key::CREATED_AT),
        photos,
        events,
        comments,
        state,
    })
}

fn h_scalar<'a>(map: &'a Tree, key: &str) -> Option<&'a ScalarValue> {
    match map.get(key)? {
        Node::Scalar(v) => Some(v),
        _ => None,
    }
}

fn h_str(map: &Tree, key: &str) -> Option<String> {
    match h_scalar(map, key)? {
        ScalarValue::Str(s) => Some(s.to_string()),
        _ => None,
    }
}

/// Integers, timestamps and whole floats (JS writes numbers as floats).
fn h_i64(map: &Tree, key: &str) -> Option<i64> {
    match h_scalar(map, key)? {
        ScalarValue::Int(i) | ScalarValue::Timestamp(i) => Some(*i),
        ScalarValue::Uint(u) => i64::try_from(*u).ok(),
        ScalarValue::F64(f) if f.fract() == 0.0 && f.abs() < 9e15 => Some(*f as i64),
        _ => None,
    }
}

fn h_f64(map: &Tree, key: &str) -> Option<f64> {
    match h_scalar(map, key)? {
        ScalarValue::F64(f) => Some(*f),
        ScalarValue::Int(i) => Some(*i as f64),
        ScalarValue::Uint(u) => Some(*u as f64),
        _ => None,
    }
}

/// The items of the list at `key`; an item that is not a map is `None`.
fn h_maps<'a>(map: &'a Tree, key: &str) -> Vec<Option<&'a Tree>> {
    match map.get(key) {
        Some(Node::List(list)) => list
            .iter()
            .map(|item| match item {
                Node::Map(m) => Some(m),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn read_event(m: &Tree) -> EventEntry {
    let s = |k: &str| h_str(m, k);
    let need = |k: &str| s(k).ok_or_else(|| format!("missing `{k}`"));
    let id: EventId = need("id")?.parse().map_err(|e| format!("{e}"))?;
    let from = match s("from") {
        None => None,
        Some(f) => Some(f.parse::<Status>().map_err(|e| e.to_string())?),
    };
    let to: Action = need("to")?
        .parse()
        .map_err(|e: super::UnknownName| e.to_string())?;
    let role: Role = need("role")?
        .parse()
        .map_err(|e: super::UnknownName| e.to_string())?;
    let close_reason = match s("close_reason").as_deref() {
        None => None,
        Some("duplicate") => Some(CloseReason::Duplicate(
            s("duplicate_of").unwrap_or_default(),
        )),
        Some("cancelled") => Some(CloseReason::Cancelled),
        Some(_) => Some(CloseReason::Resolved),
    };
    Ok(Event {
        id,
        from,
        to,
        actor: need("actor")?,
        role,
        at_device: h_i64(m, "at_device").ok_or("missing `at_device`")?,
        note: s("note"),
        unit: s("unit"),
        due_at: h_i64(m, "due_at"),
        close_reason,
        rating: s("rating").and_then(|r| r.parse().ok()),
        request: s("request").and_then(|r| r.parse().ok()),
        catalog_version: h_i64(m, "catalog_version").and_then(|v| u64::try_from(v).ok()),
        time_limit: s("time_limit"),
    })
}
