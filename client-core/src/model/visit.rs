//! The visit log: one document per worker, grid and day.
//!
//! Its id is derived from (grid, worker, date), so the same worker's phone
//! and tablet write into one document. Each visit is an immutable map under
//! its own root key `visit:<id>`: two devices that each started a `visits`
//! list offline would conflict and one list would hide the other, whereas
//! distinct keys always merge. A correction is a new visit that `amends`
//! the old one.

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc, ScalarValue, Value};
use serde::{Deserialize, Serialize};

use super::schema::{self, DocType, SchemaError};
use super::text_enum;
use crate::ids::{DocumentId, GridCode, TicketId, VisitId};

const VISIT_PREFIX: &str = "visit:";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitType {
    /// 入户走访
    Household,
    /// 巡查打卡
    Patrol,
    /// 重点人群走访
    Vulnerable,
    /// 回访
    Callback,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Met,
    NotHome,
    Refused,
}

text_enum!(VisitType {
    Household => "household",
    Patrol => "patrol",
    Vulnerable => "vulnerable",
    Callback => "callback",
});
text_enum!(Outcome {
    Met => "met",
    NotHome => "not_home",
    Refused => "refused",
});

impl VisitType {
    pub fn label_zh(&self) -> &'static str {
        match self {
            VisitType::Household => "入户走访",
            VisitType::Patrol => "巡查打卡",
            VisitType::Vulnerable => "重点人群走访",
            VisitType::Callback => "回访",
        }
    }
}

impl Outcome {
    pub fn label_zh(&self) -> &'static str {
        match self {
            Outcome::Met => "见面",
            Outcome::NotHome => "不在家",
            Outcome::Refused => "拒访",
        }
    }
}

/// One visit record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Visit {
    pub id: VisitId,
    pub visit_type: VisitType,
    pub grid: GridCode,
    /// Building-unit-room, for example `3-2-501`.
    pub household: Option<String>,
    pub worker: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    /// Check-in point (WGS84).
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub outcome: Outcome,
    pub notes: String,
    /// Tickets this visit spawned.
    pub tickets: Vec<TicketId>,
    /// The visit this one corrects.
    pub amends: Option<VisitId>,
}

/// Which visit log a visit belongs in.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct VisitLogKey {
    pub grid: GridCode,
    pub worker: String,
    /// `YYYY-MM-DD` in the grid's local time.
    pub date: String,
}

impl VisitLogKey {
    pub fn document_id(&self) -> DocumentId {
        DocumentId::derived(&format!(
            "gridsync:visit-log:{}:{}:{}",
            self.grid, self.worker, self.date
        ))
    }

    /// The key of this log in its grid index.
    pub fn index_key(&self) -> String {
        format!("{}:{}", self.worker, self.date)
    }
}

/// Writes the header (idempotent: concurrent writers put equal values).
pub fn init(
    tx: &mut impl Transactable,
    key: &VisitLogKey,
) -> Result<(), automerge::AutomergeError> {
    schema::write_header(tx, DocType::VisitLog)?;
    tx.put(ROOT, "grid", key.grid.as_str())?;
    tx.put(ROOT, "worker", key.worker.as_str())?;
    tx.put(ROOT, "date", key.date.as_str())?;
    Ok(())
}

/// Adds a visit under its own key.
pub fn add(tx: &mut impl Transactable, v: &Visit) -> Result<(), automerge::AutomergeError> {
    let m = tx.put_object(ROOT, format!("{VISIT_PREFIX}{}", v.id), ObjType::Map)?;
    tx.put(&m, "id", v.id.to_string())?;
    tx.put(&m, "type", v.visit_type.as_str())?;
    tx.put(&m, "grid", v.grid.as_str())?;
    schema::put_opt(tx, &m, "household", v.household.as_deref())?;
    tx.put(&m, "worker", v.worker.as_str())?;
    tx.put(&m, "started_at", ScalarValue::Timestamp(v.started_at))?;
    schema::put_opt(tx, &m, "ended_at", v.ended_at.map(ScalarValue::Timestamp))?;
    schema::put_opt(tx, &m, "lat", v.lat)?;
    schema::put_opt(tx, &m, "lon", v.lon)?;
    tx.put(&m, "outcome", v.outcome.as_str())?;
    tx.put(&m, "notes", v.notes.as_str())?;
    let tickets = tx.put_object(&m, "tickets", ObjType::List)?;
    for (i, t) in v.tickets.iter().enumerate() {
        tx.insert(&tickets, i, t.to_string())?;
    }
    schema::put_opt(tx, &m, "amends", v.amends.map(|a| a.to_string()))?;
    Ok(())
}

/// Reads every visit in a log, ordered by start time then id. Visits that
/// cannot be read are skipped and counted in the second value.
pub fn read(doc: &impl ReadDoc) -> Result<(Vec<Visit>, usize), SchemaError> {
    schema::expect_type(doc, DocType::VisitLog)?;
    let mut visits = Vec::new();
    let mut unreadable = 0;
    for item in doc.map_range(ROOT, VISIT_PREFIX.to_owned()..) {
        if !item.key.starts_with(VISIT_PREFIX) {
            break;
        }
        let Ok(Some((Value::Object(ObjType::Map), m))) = doc.get(ROOT, item.key.as_ref()) else {
            unreadable += 1;
            continue;
        };
        let s = |k: &str| schema::read_str(doc, &m, k);
        let visit = (|| {
            Some(Visit {
                id: s("id")?.parse().ok()?,
                visit_type: s("type")?.parse().ok()?,
                grid: s("grid")?.parse().ok()?,
                household: s("household"),
                worker: s("worker")?,
                started_at: schema::read_i64(doc, &m, "started_at")?,
                ended_at: schema::read_i64(doc, &m, "ended_at"),
                lat: schema::read_f64(doc, &m, "lat"),
                lon: schema::read_f64(doc, &m, "lon"),
                outcome: s("outcome")?.parse().ok()?,
                notes: s("notes").unwrap_or_default(),
                tickets: schema::read_list_of_str(doc, &m, "tickets")
                    .iter()
                    .filter_map(|t| t.parse().ok())
                    .collect(),
                amends: s("amends").and_then(|a| a.parse().ok()),
            })
        })();
        match visit {
            Some(v) => visits.push(v),
            None => unreadable += 1,
        }
    }
    visits.sort_by_key(|v| (v.started_at, v.id));
    Ok((visits, unreadable))
}
