//! The audit trail: who sent which change to which document and when, and
//! every refusal with its reason, in the relay's redb file.
//!
//! Rows live in the `audit` table keyed by (milliseconds since the epoch,
//! sequence number), both big-endian, so a time range is a key range. The
//! hub thread adds a round's rows to the round's storage batch
//! ([`client_core::store::Batch::put_record`]): they are committed in the
//! same transaction as the changes they describe, with no fsync of their
//! own, and a round whose commit fails leaves no row behind. Rows never
//! hold a token, a session id or a password, only the user they belong to.

use std::sync::atomic::{AtomicU64, Ordering};

use client_core::clip::clip;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

/// Name of the audit table.
pub const AUDIT_TABLE: &str = "audit";
const AUDIT: TableDefinition<&[u8], &[u8]> = TableDefinition::new(AUDIT_TABLE);

/// What an audit row records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// Changes were stored.
    Change,
    /// Changes were refused by the access policy; nothing was stored.
    Refused,
    /// A document the peer may not see was answered `doc-unavailable`.
    Denied,
    /// A request with a missing, unknown or revoked token or an unknown
    /// or expired session, or a login with a wrong password (HTTP 401).
    AuthFailed,
    /// A person logged in with a password (`POST /api/login`).
    Login,
    /// A logged-in person issued a device token (`POST /api/tokens`).
    TokenIssued,
    /// An open connection was closed because its token was revoked.
    Revoked,
}

impl AuditAction {
    pub fn as_str(&self) -> &'static str {
        match self {
            AuditAction::Change => "change",
            AuditAction::Refused => "refused",
            AuditAction::Denied => "denied",
            AuditAction::AuthFailed => "auth_failed",
            AuditAction::Login => "login",
            AuditAction::TokenIssued => "token_issued",
            AuditAction::Revoked => "revoked",
        }
    }
}

/// One row of the audit trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Milliseconds since the Unix epoch, relay time.
    pub at: i64,
    /// The authenticated user; `None` on an open relay or a failed token.
    /// For a wrong password, the user it was for; a login for a name that
    /// is no user keeps no name (people type passwords into it).
    pub user: Option<String>,
    /// The peer id the connection joined as.
    pub peer: Option<String>,
    pub doc: Option<String>,
    pub grid: Option<String>,
    pub action: AuditAction,
    /// How many changes were stored (`change`).
    pub changes: Option<usize>,
    /// Why it was refused or denied.
    pub reason: Option<String>,
    /// The client's address (`auth_failed`).
    pub addr: Option<String>,
    /// How many events one row stands for: a connection's denials beyond
    /// the first few, written as one row when it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

impl AuditRecord {
    /// A row with only the time and the action set.
    pub fn new(action: AuditAction) -> Self {
        Self {
            at: chrono::Utc::now().timestamp_millis(),
            user: None,
            peer: None,
            doc: None,
            grid: None,
            action,
            changes: None,
            reason: None,
            addr: None,
            count: None,
        }
    }
}

/// Which rows `gridsync-server audit` shows; every set field must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub user: Option<String>,
    pub doc: Option<String>,
    pub grid: Option<String>,
    /// Milliseconds since the epoch, inclusive.
    pub since: Option<i64>,
    /// Milliseconds since the epoch, exclusive.
    pub until: Option<i64>,
}

impl AuditFilter {
    fn matches(&self, r: &AuditRecord) -> bool {
        let eq = |want: &Option<String>, have: &Option<String>| {
            want.as_ref().is_none_or(|w| have.as_ref() == Some(w))
        };
        eq(&self.user, &r.user) && eq(&self.doc, &r.doc) && eq(&self.grid, &r.grid)
    }
}

/// Why the audit trail could not be read. Messages name their cause, so
/// no field is also the error's `source()`.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("could not read the audit trail: {0}")]
    Storage(redb::Error),
    #[error("an audit row could not be decoded ({0}); the database may be damaged")]
    Decode(serde_json::Error),
}

fn storage(e: impl Into<redb::Error>) -> AuditError {
    AuditError::Storage(e.into())
}

/// The rows matching `filter`, oldest first. A relay that never wrote one
/// has none.
pub fn query(db: &Database, filter: &AuditFilter) -> Result<Vec<AuditRecord>, AuditError> {
    let tx = db.begin_read().map_err(storage)?;
    let table = match tx.open_table(AUDIT) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(storage(e)),
    };
    let from = key(filter.since.unwrap_or(0), 0);
    let to = key(filter.until.unwrap_or(i64::MAX), 0);
    let mut out = Vec::new();
    for entry in table
        .range::<&[u8]>(from.as_slice()..to.as_slice())
        .map_err(storage)?
    {
        let (_, v) = entry.map_err(storage)?;
        let record: AuditRecord = serde_json::from_slice(v.value()).map_err(AuditError::Decode)?;
        if filter.matches(&record) {
            out.push(record);
        }
    }
    Ok(out)
}

/// The newest `limit` rows, newest first (the console's audit page).
pub fn latest(db: &Database, limit: usize) -> Result<Vec<AuditRecord>, AuditError> {
    let tx = db.begin_read().map_err(storage)?;
    let table = match tx.open_table(AUDIT) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(storage(e)),
    };
    let mut out = Vec::with_capacity(limit.min(1024));
    for entry in table.iter().map_err(storage)?.rev().take(limit) {
        let (_, v) = entry.map_err(storage)?;
        out.push(serde_json::from_slice(v.value()).map_err(AuditError::Decode)?);
    }
    Ok(out)
}

/// The row key: time, then a sequence number that separates rows of one
/// millisecond.
fn key(at: i64, seq: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&u64::try_from(at.max(0)).unwrap_or(0).to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// Hands out row keys; continues after the last stored row, so a restart
/// within the same millisecond overwrites nothing.
#[derive(Debug)]
pub(crate) struct AuditLog {
    seq: AtomicU64,
}

impl AuditLog {
    pub(crate) fn open(db: &Database) -> Result<Self, AuditError> {
        let tx = db.begin_read().map_err(storage)?;
        let last = match tx.open_table(AUDIT) {
            Ok(t) => t
                .last()
                .map_err(storage)?
                .map(|(k, _)| {
                    let k = k.value();
                    k.get(8..16)
                        .and_then(|s| <[u8; 8]>::try_from(s).ok())
                        .map_or(0, u64::from_be_bytes)
                })
                .unwrap_or(0),
            Err(redb::TableError::TableDoesNotExist(_)) => 0,
            Err(e) => return Err(storage(e)),
        };
        Ok(Self {
            seq: AtomicU64::new(last.wrapping_add(1)),
        })
    }

    /// Adds `record` to `batch`, its text fields [`clip`]ped (they may
    /// quote what a client sent).
    pub(crate) fn append(&self, batch: &mut client_core::store::Batch, record: &AuditRecord) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let cut = |field: &Option<String>| field.as_deref().map(|s| clip(s).into_owned());
        let record = AuditRecord {
            user: cut(&record.user),
            peer: cut(&record.peer),
            doc: cut(&record.doc),
            grid: cut(&record.grid),
            reason: cut(&record.reason),
            addr: cut(&record.addr),
            ..record.clone()
        };
        let value = serde_json::to_vec(&record).expect("audit rows serialize");
        batch.put_record(AUDIT_TABLE, key(record.at, seq).to_vec(), value);
    }
}

#[cfg(test)]
mod tests {
    use client_core::store::{RedbStore, Store};

    use super::*;

    #[test]
    fn rows_are_filtered_by_user_document_grid_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(dir.path().join("r.redb")).unwrap();
        let log = AuditLog::open(&store.database()).unwrap();
        let mut batch = client_core::store::Batch::new();
        for (at, user, grid) in [
            (10, "wang", "G-01"),
            (20, "li", "G-02"),
            (30, "wang", "G-02"),
        ] {
            let mut r = AuditRecord::new(AuditAction::Change);
            r.at = at;
            r.user = Some(user.into());
            r.grid = Some(grid.into());
            r.doc = Some(format!("doc{at}"));
            log.append(&mut batch, &r);
        }
        store.write(batch).unwrap();
        let db = &*store.database();
        let all = query(db, &AuditFilter::default()).unwrap();
        assert_eq!(all.iter().map(|r| r.at).collect::<Vec<_>>(), [10, 20, 30]);
        let wang = AuditFilter {
            user: Some("wang".into()),
            ..AuditFilter::default()
        };
        assert_eq!(query(db, &wang).unwrap().len(), 2);
        let g2_late = AuditFilter {
            grid: Some("G-02".into()),
            since: Some(25),
            ..AuditFilter::default()
        };
        assert_eq!(query(db, &g2_late).unwrap()[0].at, 30);
        let early = AuditFilter {
            until: Some(20),
            ..AuditFilter::default()
        };
        assert_eq!(query(db, &early).unwrap().len(), 1);
        let doc = AuditFilter {
            doc: Some("doc20".into()),
            ..AuditFilter::default()
        };
        assert_eq!(query(db, &doc).unwrap()[0].user.as_deref(), Some("li"));
        // A reopened log continues after the last row.
        assert!(AuditLog::open(db).unwrap().seq.load(Ordering::Relaxed) > 3);
    }
}
