//! A store that fails on command, for tests of what happens when storage
//! does: a full disk, a commit that fails once, reads that fail.
//!
//! [`FaultyStore`] wraps any [`Store`] and passes every call through
//! unless told otherwise. A failed call returns the same [`StoreError`] a
//! real store returns for the same fault (an [`std::io::Error`] of kind
//! [`ErrorKind::StorageFull`] for a full disk), and leaves the wrapped
//! store untouched: a refused write writes nothing.
//!
//! ```
//! use client_core::ids::DocumentId;
//! use client_core::store::{Batch, FaultyStore, MemoryStore, Store};
//!
//! let store = FaultyStore::new(MemoryStore::new());
//! let mut batch = Batch::new();
//! batch.append_chunk(DocumentId::random(), vec![1, 2, 3]);
//!
//! store.fill_disk();
//! let err = store.write(batch.clone()).unwrap_err();
//! assert!(err.is_out_of_space());
//! assert!(store.documents().unwrap().is_empty());
//!
//! store.free_disk();
//! store.write(batch).unwrap();
//! assert_eq!(store.commits(), 1);
//! ```

use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::{Batch, Listing, Store, StoreError, StoredDoc};
use crate::ids::{DocumentId, GridCode};
use crate::model::summary::TicketSummary;

/// A [`Store`] over `S` whose writes and reads fail on command.
///
/// An empty batch never fails (it touches no disk) and is not counted.
#[derive(Debug, Default)]
pub struct FaultyStore<S> {
    inner: S,
    /// Writes still to fail before writes succeed again.
    fail_writes: AtomicUsize,
    /// Every write fails until [`FaultyStore::free_disk`].
    disk_full: AtomicBool,
    /// Every read fails until [`FaultyStore::heal_reads`].
    fail_reads: AtomicBool,
    commits: AtomicUsize,
    refused: AtomicUsize,
    recoveries: AtomicUsize,
}

impl<S: Store> FaultyStore<S> {
    /// Passes everything through to `inner` until told to fail.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            fail_writes: AtomicUsize::new(0),
            disk_full: AtomicBool::new(false),
            fail_reads: AtomicBool::new(false),
            commits: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            recoveries: AtomicUsize::new(0),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Fails the next `n` non-empty writes as a full disk would, then
    /// lets writes through again.
    pub fn fail_next_commits(&self, n: usize) {
        self.fail_writes.store(n, Ordering::SeqCst);
    }

    /// Fails every non-empty write as a full disk would, until
    /// [`FaultyStore::free_disk`].
    pub fn fill_disk(&self) {
        self.disk_full.store(true, Ordering::SeqCst);
    }

    /// Space is back: writes go through (unless some of
    /// [`FaultyStore::fail_next_commits`] are still to fail).
    pub fn free_disk(&self) {
        self.disk_full.store(false, Ordering::SeqCst);
    }

    /// Fails every read with an I/O error, until [`FaultyStore::heal_reads`].
    pub fn fail_reads(&self) {
        self.fail_reads.store(true, Ordering::SeqCst);
    }

    pub fn heal_reads(&self) {
        self.fail_reads.store(false, Ordering::SeqCst);
    }

    /// Non-empty writes that reached the wrapped store and succeeded.
    pub fn commits(&self) -> usize {
        self.commits.load(Ordering::SeqCst)
    }

    /// Non-empty writes refused by an injected fault.
    pub fn refused_writes(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    /// Calls of [`Store::recover`] that reached the wrapped store.
    pub fn recoveries(&self) -> usize {
        self.recoveries.load(Ordering::SeqCst)
    }

    fn take_write_fault(&self) -> bool {
        if self.disk_full.load(Ordering::SeqCst) {
            return true;
        }
        self.fail_writes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    fn check_read(&self) -> Result<(), StoreError> {
        if self.fail_reads.load(Ordering::SeqCst) {
            return Err(StoreError::Io(std::io::Error::other(
                "injected read fault (FaultyStore)",
            )));
        }
        Ok(())
    }
}

fn disk_full() -> StoreError {
    StoreError::Io(std::io::Error::new(
        ErrorKind::StorageFull,
        "no space left on device (injected by FaultyStore)",
    ))
}

impl<S: Store> Store for FaultyStore<S> {
    fn load(&self, doc: &DocumentId) -> Result<Option<StoredDoc>, StoreError> {
        self.check_read()?;
        self.inner.load(doc)
    }

    fn chunk_count(&self, doc: &DocumentId) -> Result<usize, StoreError> {
        self.check_read()?;
        self.inner.chunk_count(doc)
    }

    fn write(&self, batch: Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return self.inner.write(batch);
        }
        if self.take_write_fault() {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(disk_full());
        }
        self.inner.write(batch)?;
        self.commits.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn documents(&self) -> Result<Vec<DocumentId>, StoreError> {
        self.check_read()?;
        self.inner.documents()
    }

    fn summary(&self, doc: &DocumentId) -> Result<Option<TicketSummary>, StoreError> {
        self.check_read()?;
        self.inner.summary(doc)
    }

    fn grid_summaries(
        &self,
        grid: &GridCode,
        which: Listing,
    ) -> Result<Vec<TicketSummary>, StoreError> {
        self.check_read()?;
        self.inner.grid_summaries(grid, which)
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.check_read()?;
        self.inner.meta(key)
    }

    fn sync_state(&self, doc: &DocumentId, peer: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.check_read()?;
        self.inner.sync_state(doc, peer)
    }

    fn outbox(&self) -> Result<Vec<(DocumentId, u64)>, StoreError> {
        self.check_read()?;
        self.inner.outbox()
    }

    fn heads(&self, doc: &DocumentId) -> Result<Option<Vec<automerge::ChangeHash>>, StoreError> {
        self.check_read()?;
        self.inner.heads(doc)
    }

    fn recover(&self) -> Result<(), StoreError> {
        self.recoveries.fetch_add(1, Ordering::SeqCst);
        self.inner.recover()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn one_chunk() -> (DocumentId, Batch) {
        let doc = DocumentId::random();
        let mut batch = Batch::new();
        batch.append_chunk(doc, vec![7; 8]);
        (doc, batch)
    }

    #[test]
    fn passes_everything_through_until_told_otherwise() {
        let store = FaultyStore::new(MemoryStore::new());
        let (doc, batch) = one_chunk();
        store.write(batch).unwrap();
        assert_eq!(store.load(&doc).unwrap().unwrap().chunks, vec![vec![7; 8]]);
        assert_eq!((store.commits(), store.refused_writes()), (1, 0));
    }

    #[test]
    fn fails_the_next_n_commits_as_a_full_disk_and_writes_nothing() {
        let store = FaultyStore::new(MemoryStore::new());
        store.fail_next_commits(2);
        let (doc, batch) = one_chunk();
        for _ in 0..2 {
            let err = store.write(batch.clone()).unwrap_err();
            assert!(err.is_out_of_space(), "{err}");
            assert!(matches!(&err, StoreError::Io(io) if io.kind() == ErrorKind::StorageFull));
        }
        assert_eq!(
            store.load(&doc).unwrap(),
            None,
            "a refused write writes nothing"
        );
        store.write(batch).unwrap();
        assert!(store.load(&doc).unwrap().is_some());
        assert_eq!((store.commits(), store.refused_writes()), (1, 2));
    }

    #[test]
    fn a_full_disk_fails_writes_until_freed_but_not_reads_or_empty_batches() {
        let store = FaultyStore::new(MemoryStore::new());
        let (doc, batch) = one_chunk();
        store.write(batch.clone()).unwrap();
        store.fill_disk();
        for _ in 0..3 {
            assert!(store.write(one_chunk().1).unwrap_err().is_out_of_space());
        }
        store.write(Batch::new()).unwrap();
        assert!(store.load(&doc).unwrap().is_some(), "reads still work");
        store.free_disk();
        store.write(one_chunk().1).unwrap();
        assert_eq!((store.commits(), store.refused_writes()), (2, 3));
    }

    #[test]
    fn failed_reads_are_io_errors_not_missing_documents() {
        let store = FaultyStore::new(MemoryStore::new());
        let (doc, batch) = one_chunk();
        store.write(batch).unwrap();
        store.fail_reads();
        assert!(matches!(store.load(&doc), Err(StoreError::Io(_))));
        assert!(matches!(store.documents(), Err(StoreError::Io(_))));
        assert!(!store.load(&doc).unwrap_err().is_out_of_space());
        store.heal_reads();
        assert!(store.load(&doc).unwrap().is_some());
    }
}
