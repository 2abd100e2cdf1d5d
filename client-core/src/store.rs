//! Local persistence: a small, synchronous, fallible storage trait.
//!
//! A document is kept as an optional compacted snapshot plus incremental
//! change chunks; loading concatenates them (Automerge loads concatenated
//! saves). Every write is a [`Batch`] applied atomically: a change chunk,
//! the ticket summary it produces and any sync state land in one
//! transaction, so the summary index can never disagree with the documents.
//! `RedbStore` (feature `redb`, on by default) is what devices and the relay
//! use; [`MemoryStore`] serves tests and builds without redb, and
//! [`FaultyStore`] wraps either to fail writes or reads on command.
//!
//! Errors are returned, never swallowed or turned into "missing".

mod faulty;
mod memory;
pub mod meta;
#[cfg(feature = "redb")]
mod redb;

use crate::ids::{DocumentId, GridCode};
use crate::model::summary::TicketSummary;

pub use self::faulty::FaultyStore;
pub use self::memory::MemoryStore;
#[cfg(feature = "redb")]
pub use self::redb::RedbStore;

/// A document as stored: snapshot first, then chunks in write order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredDoc {
    pub snapshot: Option<Vec<u8>>,
    pub chunks: Vec<Vec<u8>>,
}

impl StoredDoc {
    /// Stored bytes: snapshot and chunks.
    pub fn len(&self) -> usize {
        self.snapshot.as_ref().map_or(0, Vec::len) + self.chunks.iter().map(Vec::len).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes Automerge loads, borrowed when the document is stored in
    /// one piece (a snapshot alone, or one chunk), else concatenated.
    pub fn bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        use std::borrow::Cow;
        match (&self.snapshot, self.chunks.as_slice()) {
            (Some(s), []) => Cow::Borrowed(s),
            (None, [one]) => Cow::Borrowed(one),
            _ => Cow::Owned(self.concat()),
        }
    }

    /// The bytes Automerge loads: snapshot and chunks concatenated.
    pub fn concat(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        if let Some(s) = &self.snapshot {
            out.extend_from_slice(s);
        }
        for c in &self.chunks {
            out.extend_from_slice(c);
        }
        out
    }

    pub fn len_bytes(&self) -> usize {
        self.snapshot.as_ref().map_or(0, Vec::len) + self.chunks.iter().map(Vec::len).sum::<usize>()
    }
}

/// One write, applied atomically by [`Store::write`].
#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub(crate) ops: Vec<Op>,
}

#[derive(Clone, Debug)]
pub(crate) enum Op {
    AppendChunk {
        doc: DocumentId,
        bytes: Vec<u8>,
    },
    /// Replaces the snapshot and drops every chunk written before it.
    Compact {
        doc: DocumentId,
        snapshot: Vec<u8>,
    },
    PutSummary(Box<TicketSummary>),
    PutMeta {
        key: String,
        value: Vec<u8>,
    },
    PutSyncState {
        doc: DocumentId,
        peer: String,
        state: Vec<u8>,
    },
    /// Records a document's current heads (32-byte change hashes).
    PutHeads {
        doc: DocumentId,
        heads: Vec<[u8; 32]>,
    },
    /// Marks a document as having local changes the relay has not
    /// acknowledged, with a fresh token.
    MarkLocal {
        doc: DocumentId,
        token: u64,
    },
    /// Clears the mark if it still carries `token` (no edit since).
    ClearLocal {
        doc: DocumentId,
        token: u64,
    },
    /// Forgets every persisted sync state of a document (its history was
    /// replaced: the states name heads it no longer has).
    DropSyncStates {
        doc: DocumentId,
    },
    /// A row of a table the application owns (bytes → bytes).
    PutRecord {
        table: &'static str,
        key: Vec<u8>,
        value: Vec<u8>,
    },
}

impl Batch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Adds another batch's operations after this one's.
    pub fn extend(&mut self, other: Batch) -> &mut Self {
        self.ops.extend(other.ops);
        self
    }

    /// Appends an incremental change chunk to a document.
    pub fn append_chunk(&mut self, doc: DocumentId, bytes: Vec<u8>) -> &mut Self {
        self.ops.push(Op::AppendChunk { doc, bytes });
        self
    }

    /// Replaces a document's chunks by one snapshot that contains them all.
    pub fn compact(&mut self, doc: DocumentId, snapshot: Vec<u8>) -> &mut Self {
        self.ops.push(Op::Compact { doc, snapshot });
        self
    }

    /// Inserts or replaces a ticket's summary (and its index entries).
    pub fn put_summary(&mut self, summary: TicketSummary) -> &mut Self {
        self.ops.push(Op::PutSummary(Box::new(summary)));
        self
    }

    pub fn put_meta(&mut self, key: impl Into<String>, value: Vec<u8>) -> &mut Self {
        self.ops.push(Op::PutMeta {
            key: key.into(),
            value,
        });
        self
    }

    /// Records a document's heads, so sync can compare heads without
    /// loading the document.
    pub fn put_heads(&mut self, doc: DocumentId, heads: &[automerge::ChangeHash]) -> &mut Self {
        self.ops.push(Op::PutHeads {
            doc,
            heads: heads.iter().map(|h| h.0).collect(),
        });
        self
    }

    /// Records that `doc` has local changes not yet acknowledged by the
    /// relay (the outbox).
    pub fn mark_local(&mut self, doc: DocumentId) -> &mut Self {
        self.ops.push(Op::MarkLocal {
            doc,
            token: fastrand::u64(1..),
        });
        self
    }

    /// Takes `doc` out of the outbox, unless it was edited again since the
    /// outbox was read (its token changed).
    pub fn clear_local(&mut self, doc: DocumentId, token: u64) -> &mut Self {
        self.ops.push(Op::ClearLocal { doc, token });
        self
    }

    /// Inserts or replaces a row of an application-owned table (bytes →
    /// bytes), committed with the rest of the batch: the relay keeps its
    /// audit trail and actor registrations this way, in the same
    /// transaction as the changes they describe. `table` must not name one
    /// of the store's own tables.
    pub fn put_record(&mut self, table: &'static str, key: Vec<u8>, value: Vec<u8>) -> &mut Self {
        self.ops.push(Op::PutRecord { table, key, value });
        self
    }

    /// The ticket summaries the batch writes, in order (the relay derives
    /// its blob references from them, into the same batch).
    pub fn summaries(&self) -> impl Iterator<Item = &TicketSummary> {
        self.ops.iter().filter_map(|op| match op {
            Op::PutSummary(s) => Some(&**s),
            _ => None,
        })
    }

    /// Whether the batch holds anything besides sync states: sync states
    /// only spare a reconnecting peer some round trips, so a store that
    /// cannot write may drop them; everything else must be kept.
    pub fn holds_data(&self) -> bool {
        self.ops
            .iter()
            .any(|op| !matches!(op, Op::PutSyncState { .. }))
    }

    /// Drops the batch's outbox marks: a relay acting for a person writes
    /// to its own store, which has no relay to hand an outbox to.
    pub fn drop_outbox_marks(&mut self) -> &mut Self {
        self.ops
            .retain(|op| !matches!(op, Op::MarkLocal { .. } | Op::ClearLocal { .. }));
        self
    }

    /// Drops the batch's sync states (see [`Batch::holds_data`]).
    pub fn drop_sync_states(&mut self) -> &mut Self {
        self.ops.retain(|op| !matches!(op, Op::PutSyncState { .. }));
        self
    }

    /// Forgets every persisted sync state of `doc`, for whatever peer: for
    /// a document whose history was replaced (the states name its old
    /// heads).
    pub fn drop_doc_sync_states(&mut self, doc: DocumentId) -> &mut Self {
        self.ops.push(Op::DropSyncStates { doc });
        self
    }

    /// Persists an encoded `automerge::sync::State` for a known peer.
    pub fn put_sync_state(
        &mut self,
        doc: DocumentId,
        peer: impl Into<String>,
        state: Vec<u8>,
    ) -> &mut Self {
        self.ops.push(Op::PutSyncState {
            doc,
            peer: peer.into(),
            state,
        });
        self
    }
}

/// Which summaries a grid listing returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    Open,
    All,
    /// Tickets with unresolved lifecycle conflicts, whatever their status.
    Conflicted,
}

/// Why a storage operation failed.
///
/// Each message names its cause, so no field is also the error's
/// `source()`: a chain printer (anyhow's `{:#}`) shows every cause once.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the local database at {path} is damaged ({detail}); move it aside and sync again \
         from the relay, or restore it from a backup"
    )]
    Corrupted { path: String, detail: String },
    #[error(
        "the local database at {path} is in use by another gridsync process; close it and retry"
    )]
    InUse { path: String },
    #[cfg(feature = "redb")]
    #[error("storage error: {0}")]
    Redb(::redb::Error),
    #[error("I/O error on the local database: {0}")]
    Io(std::io::Error),
    /// A stored record (`what`: "ticket summary", "relay identity", ...)
    /// that does not read back as what was written.
    #[error("a stored {what} could not be decoded ({cause}); the database may be damaged")]
    Decode {
        what: &'static str,
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    /// A stored `what` that does not decode, keeping why.
    pub fn decode(
        what: &'static str,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        StoreError::Decode {
            what,
            cause: cause.into(),
        }
    }
}

#[cfg(feature = "redb")]
impl From<::redb::Error> for StoreError {
    fn from(e: ::redb::Error) -> Self {
        StoreError::Redb(e)
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e)
    }
}

impl StoreError {
    /// Whether the storage ran out of space (a full disk or quota): the
    /// condition clears by itself once space is freed.
    pub fn is_out_of_space(&self) -> bool {
        let io = match self {
            StoreError::Io(e) => e,
            #[cfg(feature = "redb")]
            StoreError::Redb(::redb::Error::Io(e)) => e,
            _ => return false,
        };
        matches!(
            io.kind(),
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
        )
    }
}

/// Storage for documents, their summaries, sync states and device metadata.
pub trait Store: Send + Sync {
    /// A document's snapshot and chunks; `None` if never stored.
    fn load(&self, doc: &DocumentId) -> Result<Option<StoredDoc>, StoreError>;

    /// [`Store::load`] of each of `docs`, in order, from one consistent
    /// read where the store has such a thing (`RedbStore`: one read
    /// transaction, its tables opened once): what a reader of many
    /// documents (the export) asks instead of one `load` each.
    fn load_many(&self, docs: &[DocumentId]) -> Result<Vec<Option<StoredDoc>>, StoreError> {
        docs.iter().map(|d| self.load(d)).collect()
    }

    /// How many change chunks a document has beyond its snapshot.
    fn chunk_count(&self, doc: &DocumentId) -> Result<usize, StoreError>;

    /// Applies a batch atomically and durably: when this returns `Ok`, the
    /// batch survives a crash.
    fn write(&self, batch: Batch) -> Result<(), StoreError>;

    /// Every stored document id.
    fn documents(&self) -> Result<Vec<DocumentId>, StoreError>;

    fn summary(&self, doc: &DocumentId) -> Result<Option<TicketSummary>, StoreError>;

    /// A grid's tickets, from the summary index alone.
    fn grid_summaries(
        &self,
        grid: &GridCode,
        which: Listing,
    ) -> Result<Vec<TicketSummary>, StoreError>;

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    fn sync_state(&self, doc: &DocumentId, peer: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Documents with local changes the relay has not acknowledged, with
    /// their outbox tokens.
    fn outbox(&self) -> Result<Vec<(DocumentId, u64)>, StoreError>;

    /// A document's heads as last written; `None` if never stored.
    fn heads(&self, doc: &DocumentId) -> Result<Option<Vec<automerge::ChangeHash>>, StoreError>;

    /// [`Store::heads`] of many documents, in their order: a store may
    /// read them all at once (a heads batch names thousands).
    fn heads_many(
        &self,
        docs: &[DocumentId],
    ) -> Result<Vec<Option<Vec<automerge::ChangeHash>>>, StoreError> {
        docs.iter().map(|d| self.heads(d)).collect()
    }

    /// Makes the store usable again after a failed write, as far as the
    /// store itself can: a redb database refuses every operation after an
    /// I/O error in a commit until it is reopened. Cheap when nothing
    /// failed; an error means the store is still unusable (retry later).
    fn recover(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    fn load(&self, doc: &DocumentId) -> Result<Option<StoredDoc>, StoreError> {
        (**self).load(doc)
    }
    fn load_many(&self, docs: &[DocumentId]) -> Result<Vec<Option<StoredDoc>>, StoreError> {
        (**self).load_many(docs)
    }
    fn chunk_count(&self, doc: &DocumentId) -> Result<usize, StoreError> {
        (**self).chunk_count(doc)
    }
    fn write(&self, batch: Batch) -> Result<(), StoreError> {
        (**self).write(batch)
    }
    fn documents(&self) -> Result<Vec<DocumentId>, StoreError> {
        (**self).documents()
    }
    fn summary(&self, doc: &DocumentId) -> Result<Option<TicketSummary>, StoreError> {
        (**self).summary(doc)
    }
    fn grid_summaries(
        &self,
        grid: &GridCode,
        which: Listing,
    ) -> Result<Vec<TicketSummary>, StoreError> {
        (**self).grid_summaries(grid, which)
    }
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).meta(key)
    }
    fn sync_state(&self, doc: &DocumentId, peer: &str) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).sync_state(doc, peer)
    }
    fn outbox(&self) -> Result<Vec<(DocumentId, u64)>, StoreError> {
        (**self).outbox()
    }
    fn heads(&self, doc: &DocumentId) -> Result<Option<Vec<automerge::ChangeHash>>, StoreError> {
        (**self).heads(doc)
    }
    fn heads_many(
        &self,
        docs: &[DocumentId],
    ) -> Result<Vec<Option<Vec<automerge::ChangeHash>>>, StoreError> {
        (**self).heads_many(docs)
    }
    fn recover(&self) -> Result<(), StoreError> {
        (**self).recover()
    }
}

impl<S: Store + ?Sized> Store for &S {
    fn load(&self, doc: &DocumentId) -> Result<Option<StoredDoc>, StoreError> {
        (**self).load(doc)
    }
    fn load_many(&self, docs: &[DocumentId]) -> Result<Vec<Option<StoredDoc>>, StoreError> {
        (**self).load_many(docs)
    }
    fn chunk_count(&self, doc: &DocumentId) -> Result<usize, StoreError> {
        (**self).chunk_count(doc)
    }
    fn write(&self, batch: Batch) -> Result<(), StoreError> {
        (**self).write(batch)
    }
    fn documents(&self) -> Result<Vec<DocumentId>, StoreError> {
        (**self).documents()
    }
    fn summary(&self, doc: &DocumentId) -> Result<Option<TicketSummary>, StoreError> {
        (**self).summary(doc)
    }
    fn grid_summaries(
        &self,
        grid: &GridCode,
        which: Listing,
    ) -> Result<Vec<TicketSummary>, StoreError> {
        (**self).grid_summaries(grid, which)
    }
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).meta(key)
    }
    fn sync_state(&self, doc: &DocumentId, peer: &str) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).sync_state(doc, peer)
    }
    fn outbox(&self) -> Result<Vec<(DocumentId, u64)>, StoreError> {
        (**self).outbox()
    }
    fn heads(&self, doc: &DocumentId) -> Result<Option<Vec<automerge::ChangeHash>>, StoreError> {
        (**self).heads(doc)
    }
    fn heads_many(
        &self,
        docs: &[DocumentId],
    ) -> Result<Vec<Option<Vec<automerge::ChangeHash>>>, StoreError> {
        (**self).heads_many(docs)
    }
    fn recover(&self) -> Result<(), StoreError> {
        (**self).recover()
    }
}

#[cfg(test)]
mod tests;
