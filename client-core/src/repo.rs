//! The document layer over a [`Store`]: loads documents, applies edits and
//! remote changes, and keeps the ticket summary index in step.
//!
//! Every write goes through [`Repo::changes_since`], which turns the
//! changes a document gained into one [`Batch`]: the incremental change
//! chunk, a compacted snapshot when the chunk list grows long, and the
//! ticket's new summary. The caller commits the batch (possibly together
//! with other documents' batches) with [`Repo::commit`], so an edit is
//! durable before the call that made it returns.

use automerge::transaction::Transaction;
use automerge::{ActorId, Automerge, AutomergeError, Change, ChangeHash, ReadDoc};

use crate::ids::{DocumentId, TicketId};
use crate::model::schema::{self, DocType, SchemaError};
use crate::model::summary::TicketSummary;
use crate::model::ticket::{self, Ticket};
use crate::model::ticket_private;
use crate::store::{Batch, Store, StoreError, StoredDoc};

/// Compact a document once it has this many change chunks.
pub const COMPACT_AFTER_CHUNKS: usize = 32;

/// Why a document operation failed.
///
/// Each message names its cause, so no field is also the error's
/// `source()`: a chain printer (anyhow's `{:#}`) shows every cause once.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "document {doc} could not be loaded ({cause}); it may be damaged — sync it again from the relay"
    )]
    Load {
        doc: DocumentId,
        cause: Box<AutomergeError>,
    },
    #[error("an edit could not be applied: {0}")]
    Edit(Box<AutomergeError>),
    #[error(transparent)]
    Schema(#[from] SchemaError),
}

impl From<AutomergeError> for RepoError {
    fn from(e: AutomergeError) -> Self {
        RepoError::Edit(Box::new(e))
    }
}

/// Documents over a store, edited as one device (one Automerge actor).
#[derive(Debug)]
pub struct Repo<S> {
    store: S,
    actor: ActorId,
}

impl<S: Store> Repo<S> {
    pub fn new(store: S, actor: ActorId) -> Self {
        Self { store, actor }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn into_store(self) -> S {
        self.store
    }

    pub fn set_actor(&mut self, actor: ActorId) {
        self.actor = actor;
    }

    pub fn actor(&self) -> &ActorId {
        &self.actor
    }

    /// Loads a document; `None` if it was never stored.
    pub fn load(&self, doc: &DocumentId) -> Result<Option<Automerge>, RepoError> {
        let Some(stored) = self.store.load(doc)? else {
            return Ok(None);
        };
        Ok(Some(self.load_stored(doc, &stored)?))
    }

    /// Loads a document with its stored size in bytes; `None` if it was
    /// never stored.
    pub fn load_sized(&self, doc: &DocumentId) -> Result<Option<(Automerge, usize)>, RepoError> {
        let Some(stored) = self.store.load(doc)? else {
            return Ok(None);
        };
        let bytes = stored.len();
        Ok(Some((self.load_stored(doc, &stored)?, bytes)))
    }

    /// Loads a document, or a new empty one with this device's actor.
    pub fn load_or_new(&self, doc: &DocumentId) -> Result<Automerge, RepoError> {
        Ok(self
            .load(doc)?
            .unwrap_or_else(|| Automerge::new().with_actor(self.actor.clone())))
    }

    fn load_stored(&self, doc: &DocumentId, stored: &StoredDoc) -> Result<Automerge, RepoError> {
        // Verified when it arrived; the store checksums its pages, so the
        // heads are not re-hashed on every load (the dominant load cost).
        let options =
            automerge::LoadOptions::new().verification_mode(automerge::VerificationMode::DontCheck);
        let loaded = Automerge::load_with_options(&stored.concat(), options).map_err(|cause| {
            RepoError::Load {
                doc: *doc,
                cause: Box::new(cause),
            }
        })?;
        Ok(loaded.with_actor(self.actor.clone()))
    }

    /// Applies `f` in one transaction to the document and returns the batch
    /// that persists it (empty if `f` changed nothing) and puts the document
    /// in the outbox. Nothing is written until the batch is committed.
    pub fn edit<T>(
        &self,
        doc_id: &DocumentId,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T, AutomergeError>,
    ) -> Result<(T, Batch), RepoError> {
        let mut doc = self.load_or_new(doc_id)?;
        self.edit_loaded(doc_id, &mut doc, f)
    }

    /// [`Self::edit`] on a document the caller already loaded (and keeps,
    /// with the edit applied).
    pub fn edit_loaded<T>(
        &self,
        doc_id: &DocumentId,
        doc: &mut Automerge,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T, AutomergeError>,
    ) -> Result<(T, Batch), RepoError> {
        let before = doc.get_heads();
        let out = doc.transact(f).map_err(|failure| failure.error)?;
        let mut batch = self.changes_since(doc_id, doc, &before)?;
        if !batch.is_empty() {
            batch.mark_local(*doc_id);
        }
        Ok((out.result, batch))
    }

    /// Runs `f` on the document (loaded, or new and empty) — for example to
    /// merge a remote copy or receive a sync message — and commits whatever
    /// it gained. Returns `f`'s result and whether the document changed.
    pub fn apply<T, E>(
        &self,
        doc_id: &DocumentId,
        f: impl FnOnce(&mut Automerge) -> Result<T, E>,
    ) -> Result<(T, bool), RepoError>
    where
        RepoError: From<E>,
    {
        let mut doc = self.load_or_new(doc_id)?;
        let before = doc.get_heads();
        let out = f(&mut doc)?;
        let batch = self.changes_since(doc_id, &doc, &before)?;
        let changed = !batch.is_empty();
        self.commit(batch)?;
        Ok((out, changed))
    }

    /// [`Self::edit`] and commit at once.
    pub fn change<T>(
        &self,
        doc_id: &DocumentId,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T, AutomergeError>,
    ) -> Result<T, RepoError> {
        let (out, batch) = self.edit(doc_id, f)?;
        self.commit(batch)?;
        Ok(out)
    }

    /// The batch that persists what `doc` gained since `before`: the new
    /// change chunk (or a compacted snapshot) and, for a ticket, its new
    /// summary.
    pub fn changes_since(
        &self,
        doc_id: &DocumentId,
        doc: &Automerge,
        before: &[ChangeHash],
    ) -> Result<Batch, RepoError> {
        if doc.get_heads() == before {
            return Ok(Batch::new());
        }
        self.changes_applied(doc_id, doc, &doc.get_changes(before))
    }

    /// [`Self::changes_since`] for a caller that holds the changes `doc`
    /// gained (the hub, which has them from the sync message): the chunk
    /// is their bytes as they are, with nothing re-encoded.
    pub fn changes_applied(
        &self,
        doc_id: &DocumentId,
        doc: &Automerge,
        changes: &[Change],
    ) -> Result<Batch, RepoError> {
        let mut batch = Batch::new();
        if changes.is_empty() {
            return Ok(batch);
        }
        // A document made of these changes alone has no chunk stored yet
        // (whatever the store held of it is in `doc`): no lookup needed.
        let new = doc.stats().num_changes == changes.len() as u64;
        if !new && self.store.chunk_count(doc_id)? + 1 >= COMPACT_AFTER_CHUNKS {
            batch.compact(*doc_id, doc.save());
        } else {
            let mut chunk = Vec::with_capacity(changes.iter().map(|c| c.raw_bytes().len()).sum());
            for c in changes {
                chunk.extend_from_slice(c.raw_bytes());
            }
            batch.append_chunk(*doc_id, chunk);
        }
        batch.put_heads(*doc_id, &doc.get_heads());
        if let Some(summary) = summary_of(doc_id, doc) {
            batch.put_summary(summary);
        }
        Ok(batch)
    }

    /// The batch that replaces whatever is stored of `doc_id` by `doc`
    /// whole: a snapshot (dropping every chunk), its heads and, for a
    /// ticket, its summary.
    pub fn replacement(&self, doc_id: &DocumentId, doc: &Automerge) -> Batch {
        let mut batch = Batch::new();
        batch.compact(*doc_id, doc.save());
        batch.put_heads(*doc_id, &doc.get_heads());
        if let Some(summary) = summary_of(doc_id, doc) {
            batch.put_summary(summary);
        }
        batch
    }

    pub fn commit(&self, batch: Batch) -> Result<(), RepoError> {
        self.store.write(batch)?;
        Ok(())
    }

    /// Reads a ticket; `None` if this device has never seen it. The
    /// resident's contact comes from the ticket's private document when
    /// this store holds it (only devices that may read it do).
    pub fn ticket(&self, id: TicketId) -> Result<Option<Ticket>, RepoError> {
        let Some(doc) = self.load(&id.document_id())? else {
            return Ok(None);
        };
        let mut t = ticket::read(&doc, id)?;
        if let Some(private) = self.load(&id.private_document_id())? {
            t.fill_contact(&ticket_private::read(&private)?);
        }
        Ok(Some(t))
    }
}

/// The summary of a ticket document; `None` for other documents, tickets
/// of a newer schema, or tickets whose first change has not arrived.
pub fn summary_of(doc_id: &DocumentId, doc: &Automerge) -> Option<TicketSummary> {
    if schema::doc_type(doc).ok()?? != DocType::Ticket {
        return None;
    }
    let t = ticket::read(doc, TicketId::from_document_id(doc_id)).ok()?;
    TicketSummary::of(&t)
}
