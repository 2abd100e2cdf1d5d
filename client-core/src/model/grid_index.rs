//! The grid index: one document per grid, mapping every ticket and visit
//! log of the grid to its document id, so a device that knows its grid
//! codes can discover every document.
//!
//! Its document id is derived from the grid code
//! ([`GridCode::index_document_id`]), so every device addresses it offline.
//! Entries are flat keys on the root map (`ticket:<id>`, `visits:<worker>:
//! <date>`): two devices that each created a nested map under one key
//! offline would conflict, and one map would hide the other's entries.
//!
//! Two more kinds of entry concern a ticket's personal data:
//! `private:<ticket>` names the ticket's private document (only those who
//! may read it ask for it; the entry itself says nothing personal), and
//! `rewritten:<ticket>`, written only by the relay, names the first change
//! of a ticket document the relay rewrote without its personal data: a
//! device whose copy lacks that change holds the retired history and must
//! download the ticket anew.

use automerge::transaction::Transactable;
use automerge::{ChangeHash, ROOT, ReadDoc};

use super::schema::{self, DocType, SchemaError};
use super::visit::VisitLogKey;
use crate::ids::{DocumentId, GridCode, TicketId};

const TICKET_PREFIX: &str = "ticket:";
const VISITS_PREFIX: &str = "visits:";
const PRIVATE_PREFIX: &str = "private:";
/// Entries only the relay writes (it refuses them from peers).
pub const REWRITTEN_PREFIX: &str = "rewritten:";

/// What a grid index lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GridIndex {
    pub grid: Option<GridCode>,
    pub tickets: Vec<(TicketId, DocumentId)>,
    /// Visit logs by `worker:date`.
    pub visit_logs: Vec<(String, DocumentId)>,
    /// Tickets' private documents.
    pub private: Vec<(TicketId, DocumentId)>,
    /// Tickets the relay rewrote, with the first change of the new history.
    pub rewritten: Vec<(TicketId, ChangeHash)>,
}

impl GridIndex {
    /// Every ticket and visit log the index names (private documents are
    /// in [`GridIndex::private`], for those who may read them).
    pub fn documents(&self) -> impl Iterator<Item = DocumentId> + '_ {
        self.tickets
            .iter()
            .map(|(_, d)| *d)
            .chain(self.visit_logs.iter().map(|(_, d)| *d))
    }
}

/// Writes the header (idempotent: concurrent writers put equal values).
pub fn init(tx: &mut impl Transactable, grid: &GridCode) -> Result<(), automerge::AutomergeError> {
    schema::write_header(tx, DocType::GridIndex)?;
    tx.put(ROOT, "grid", grid.as_str())?;
    Ok(())
}

pub fn add_ticket(
    tx: &mut impl Transactable,
    id: TicketId,
) -> Result<(), automerge::AutomergeError> {
    tx.put(
        ROOT,
        format!("{TICKET_PREFIX}{id}"),
        id.document_id().to_string(),
    )?;
    Ok(())
}

/// Lists a ticket's private document.
pub fn add_private(
    tx: &mut impl Transactable,
    id: TicketId,
) -> Result<(), automerge::AutomergeError> {
    tx.put(
        ROOT,
        format!("{PRIVATE_PREFIX}{id}"),
        id.private_document_id().to_string(),
    )?;
    Ok(())
}

/// Records that the relay rewrote ticket `id`, whose new history starts
/// with change `root` (the relay's migration writes this; peers may not).
pub fn add_rewritten(
    tx: &mut impl Transactable,
    id: TicketId,
    root: ChangeHash,
) -> Result<(), automerge::AutomergeError> {
    tx.put(ROOT, format!("{REWRITTEN_PREFIX}{id}"), root.to_string())?;
    Ok(())
}

pub fn add_visit_log(
    tx: &mut impl Transactable,
    key: &VisitLogKey,
) -> Result<(), automerge::AutomergeError> {
    tx.put(
        ROOT,
        format!("{VISITS_PREFIX}{}", key.index_key()),
        key.document_id().to_string(),
    )?;
    Ok(())
}

/// Whether the index already lists this ticket (so a re-sent create writes
/// nothing).
pub fn has_ticket(doc: &impl ReadDoc, id: TicketId) -> bool {
    schema::read_str(doc, &ROOT, &format!("{TICKET_PREFIX}{id}")).is_some()
}

/// Whether the index lists the ticket's private document.
pub fn has_private(doc: &impl ReadDoc, id: TicketId) -> bool {
    schema::read_str(doc, &ROOT, &format!("{PRIVATE_PREFIX}{id}")).is_some()
}

pub fn has_visit_log(doc: &impl ReadDoc, key: &VisitLogKey) -> bool {
    schema::read_str(doc, &ROOT, &format!("{VISITS_PREFIX}{}", key.index_key())).is_some()
}

/// Reads the index; entries whose values are not document ids are skipped.
pub fn read(doc: &impl ReadDoc) -> Result<GridIndex, SchemaError> {
    schema::expect_type(doc, DocType::GridIndex)?;
    let mut index = GridIndex {
        grid: schema::read_str(doc, &ROOT, "grid").and_then(|g| g.parse().ok()),
        ..GridIndex::default()
    };
    for key in doc.keys(ROOT) {
        let Some(value) = schema::read_str(doc, &ROOT, &key) else {
            continue;
        };
        if let Some(t) = key.strip_prefix(REWRITTEN_PREFIX) {
            if let (Ok(t), Ok(root)) = (t.parse(), value.parse()) {
                index.rewritten.push((t, root));
            }
            continue;
        }
        let Ok(doc_id) = value.parse::<DocumentId>() else {
            continue;
        };
        if let Some(t) = key.strip_prefix(TICKET_PREFIX) {
            if let Ok(t) = t.parse() {
                index.tickets.push((t, doc_id));
            }
        } else if let Some(v) = key.strip_prefix(VISITS_PREFIX) {
            index.visit_logs.push((v.to_owned(), doc_id));
        } else if let Some(t) = key.strip_prefix(PRIVATE_PREFIX)
            && let Ok(t) = t.parse()
        {
            index.private.push((t, doc_id));
        }
    }
    Ok(index)
}
