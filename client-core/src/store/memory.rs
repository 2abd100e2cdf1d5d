//! An in-memory store for tests, with the same semantics as the redb one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use super::{Batch, Listing, Op, Store, StoreError, StoredDoc};
use crate::ids::{DocumentId, GridCode};
use crate::model::summary::TicketSummary;

#[derive(Debug, Default)]
struct Inner {
    docs: BTreeMap<DocumentId, StoredDoc>,
    summaries: BTreeMap<DocumentId, TicketSummary>,
    meta: BTreeMap<String, Vec<u8>>,
    sync_states: BTreeMap<(DocumentId, String), Vec<u8>>,
    outbox: BTreeMap<DocumentId, u64>,
    heads: BTreeMap<DocumentId, Vec<[u8; 32]>>,
    records: BTreeMap<(&'static str, Vec<u8>), Vec<u8>>,
}

/// A [`Store`] held in memory; lost on drop.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A row written with [`Batch::put_record`].
    pub fn record(&self, table: &str, key: &[u8]) -> Option<Vec<u8>> {
        self.lock()
            .records
            .iter()
            .find(|((t, k), _)| *t == table && k.as_slice() == key)
            .map(|(_, v)| v.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Batch ops cannot panic midway, so a poisoned lock holds whole batches.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Store for MemoryStore {
    fn load(&self, doc: &DocumentId) -> Result<Option<StoredDoc>, StoreError> {
        Ok(self.lock().docs.get(doc).cloned())
    }

    fn chunk_count(&self, doc: &DocumentId) -> Result<usize, StoreError> {
        Ok(self.lock().docs.get(doc).map_or(0, |d| d.chunks.len()))
    }

    fn write(&self, batch: Batch) -> Result<(), StoreError> {
        let mut inner = self.lock();
        for op in batch.ops {
            match op {
                Op::AppendChunk { doc, bytes } => {
                    inner.docs.entry(doc).or_default().chunks.push(bytes)
                }
                Op::Compact { doc, snapshot } => {
                    inner.docs.insert(
                        doc,
                        StoredDoc {
                            snapshot: Some(snapshot),
                            chunks: Vec::new(),
                        },
                    );
                }
                Op::PutSummary(s) => {
                    inner.summaries.insert(s.id.document_id(), *s);
                }
                Op::PutMeta { key, value } => {
                    inner.meta.insert(key, value);
                }
                Op::PutSyncState { doc, peer, state } => {
                    inner.sync_states.insert((doc, peer), state);
                }
                Op::PutHeads { doc, heads } => {
                    inner.heads.insert(doc, heads);
                }
                Op::MarkLocal { doc, token } => {
                    inner.outbox.insert(doc, token);
                }
                Op::ClearLocal { doc, token } => {
                    if inner.outbox.get(&doc) == Some(&token) {
                        inner.outbox.remove(&doc);
                    }
                }
                Op::DropSyncStates { doc } => {
                    inner.sync_states.retain(|(d, _), _| *d != doc);
                }
                Op::PutRecord { table, key, value } => {
                    inner.records.insert((table, key), value);
                }
            }
        }
        Ok(())
    }

    fn documents(&self) -> Result<Vec<DocumentId>, StoreError> {
        let inner = self.lock();
        let ids: BTreeSet<_> = inner.docs.keys().copied().collect();
        Ok(ids.into_iter().collect())
    }

    fn summary(&self, doc: &DocumentId) -> Result<Option<TicketSummary>, StoreError> {
        Ok(self.lock().summaries.get(doc).cloned())
    }

    fn grid_summaries(
        &self,
        grid: &GridCode,
        which: Listing,
    ) -> Result<Vec<TicketSummary>, StoreError> {
        let mut out: Vec<_> = self
            .lock()
            .summaries
            .values()
            .filter(|s| &s.grid == grid)
            .filter(|s| match which {
                Listing::All => true,
                Listing::Open => s.status.is_open(),
                Listing::Conflicted => s.conflicts > 0,
            })
            .cloned()
            .collect();
        out.sort_by_key(|s| (s.status, s.id.document_id()));
        Ok(out)
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().meta.get(key).cloned())
    }

    fn sync_state(&self, doc: &DocumentId, peer: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .lock()
            .sync_states
            .get(&(*doc, peer.to_owned()))
            .cloned())
    }

    fn heads(&self, doc: &DocumentId) -> Result<Option<Vec<automerge::ChangeHash>>, StoreError> {
        Ok(self
            .lock()
            .heads
            .get(doc)
            .map(|h| h.iter().map(|b| automerge::ChangeHash(*b)).collect()))
    }

    fn outbox(&self) -> Result<Vec<(DocumentId, u64)>, StoreError> {
        Ok(self.lock().outbox.iter().map(|(d, t)| (*d, *t)).collect())
    }
}
