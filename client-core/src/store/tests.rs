//! The same behaviours, asserted of both stores.

use super::*;
use crate::ids::TicketId;
use crate::model::lifecycle::Status;

pub(super) fn summary(id: TicketId, grid: &str, status: Status, conflicts: u32) -> TicketSummary {
    TicketSummary {
        id,
        grid: GridCode::new(grid).unwrap(),
        status,
        category: "0101".into(),
        title: "井盖松动".into(),
        urgency: None,
        unit: None,
        due_at: None,
        reported_at: Some(1),
        updated_at: Some(1),
        rework_count: 0,
        conflicts,
        handled_by: None,
        created_by: "w".into(),
        photos: Vec::new(),
        urged_at: None,
        extension_pending: false,
        figures: None,
        row: None,
    }
}

fn behaves_like_a_store(store: &dyn Store) {
    let doc = DocumentId::random();
    assert_eq!(
        store.load(&doc).unwrap(),
        None,
        "an unknown document is None, not an error"
    );

    let mut b = Batch::new();
    b.append_chunk(doc, vec![1, 2]).append_chunk(doc, vec![3]);
    store.write(b).unwrap();
    let loaded = store.load(&doc).unwrap().unwrap();
    assert_eq!(loaded.concat(), vec![1, 2, 3]);
    assert_eq!(store.chunk_count(&doc).unwrap(), 2);

    let mut b = Batch::new();
    b.compact(doc, vec![9, 9]);
    b.append_chunk(doc, vec![4]);
    store.write(b).unwrap();
    let loaded = store.load(&doc).unwrap().unwrap();
    assert_eq!(loaded.snapshot, Some(vec![9, 9]));
    assert_eq!(
        loaded.chunks,
        vec![vec![4]],
        "compaction drops the chunks it replaced"
    );
    assert_eq!(store.documents().unwrap(), vec![doc]);

    // Many at once: in the order asked, unknown ones `None`; the bytes
    // Automerge loads are borrowed when stored in one piece.
    let single = DocumentId::random();
    let mut b = Batch::new();
    b.append_chunk(single, vec![7]);
    store.write(b).unwrap();
    let unknown = DocumentId::random();
    let many = store.load_many(&[single, unknown, doc]).unwrap();
    assert_eq!(many.len(), 3);
    assert_eq!(many[0].as_ref().unwrap().bytes().as_ref(), [7]);
    assert!(matches!(
        many[0].as_ref().unwrap().bytes(),
        std::borrow::Cow::Borrowed(_)
    ));
    assert_eq!(many[1], None);
    assert_eq!(many[2].as_ref().unwrap().bytes().as_ref(), [9, 9, 4]);
    assert_eq!(many[2], store.load(&doc).unwrap());
    assert_eq!(store.load_many(&[]).unwrap(), Vec::new());
    let mut b = Batch::new();
    b.compact(single, vec![8]);
    store.write(b).unwrap();
    let compacted = store.load(&single).unwrap().unwrap();
    assert!(matches!(compacted.bytes(), std::borrow::Cow::Borrowed([8])));

    // The listing index follows status changes and conflicts.
    let t = TicketId::random();
    let grid = GridCode::new("G-1").unwrap();
    let mut b = Batch::new();
    b.put_summary(summary(t, "G-1", Status::Reported, 0));
    store.write(b).unwrap();
    assert_eq!(store.grid_summaries(&grid, Listing::Open).unwrap().len(), 1);
    let mut b = Batch::new();
    b.put_summary(summary(t, "G-1", Status::Closed, 1));
    store.write(b).unwrap();
    assert!(
        store
            .grid_summaries(&grid, Listing::Open)
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.grid_summaries(&grid, Listing::All).unwrap().len(), 1);
    assert_eq!(
        store
            .grid_summaries(&grid, Listing::Conflicted)
            .unwrap()
            .len(),
        1
    );
    let mut b = Batch::new();
    b.put_summary(summary(t, "G-1", Status::Closed, 0));
    store.write(b).unwrap();
    assert!(
        store
            .grid_summaries(&grid, Listing::Conflicted)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.summary(&t.document_id()).unwrap().unwrap().status,
        Status::Closed
    );
    let other = GridCode::new("G-2").unwrap();
    assert!(
        store
            .grid_summaries(&other, Listing::All)
            .unwrap()
            .is_empty()
    );

    let mut b = Batch::new();
    b.put_meta("k", b"v".to_vec())
        .put_sync_state(doc, "peer-1", vec![7]);
    store.write(b).unwrap();
    assert_eq!(store.meta("k").unwrap(), Some(b"v".to_vec()));
    assert_eq!(store.sync_state(&doc, "peer-1").unwrap(), Some(vec![7]));
    assert_eq!(store.sync_state(&doc, "peer-2").unwrap(), None);

    let heads = vec![
        automerge::ChangeHash([3; 32]),
        automerge::ChangeHash([4; 32]),
    ];
    let mut b = Batch::new();
    b.put_heads(doc, &heads);
    store.write(b).unwrap();
    assert_eq!(store.heads(&doc).unwrap(), Some(heads.clone()));
    assert_eq!(store.heads(&DocumentId::random()).unwrap(), None);
    let missing = DocumentId::random();
    assert_eq!(
        store.heads_many(&[missing, doc, doc]).unwrap(),
        vec![None, Some(heads.clone()), Some(heads.clone())],
        "heads of many documents, in their order"
    );

    // The outbox: a clear with a stale token (an edit since) keeps the mark.
    let mut b = Batch::new();
    b.mark_local(doc);
    store.write(b).unwrap();
    let token = store.outbox().unwrap()[0].1;
    let mut b = Batch::new();
    b.mark_local(doc);
    store.write(b).unwrap();
    let mut b = Batch::new();
    b.clear_local(doc, token);
    store.write(b).unwrap();
    assert_eq!(
        store.outbox().unwrap().len(),
        1,
        "edited again since: still pending"
    );
    let token = store.outbox().unwrap()[0].1;
    let mut b = Batch::new();
    b.clear_local(doc, token);
    store.write(b).unwrap();
    assert!(store.outbox().unwrap().is_empty());
}

#[test]
fn memory_store_behaves_like_a_store() {
    behaves_like_a_store(&MemoryStore::new());
}

#[cfg(feature = "redb")]
#[test]
fn redb_store_behaves_like_a_store_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gridsync.redb");
    let doc = DocumentId::random();
    {
        let store = RedbStore::open(&path).unwrap();
        behaves_like_a_store(&store);
        let mut b = Batch::new();
        b.append_chunk(doc, vec![5, 6]);
        store.write(b).unwrap();
    }
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(store.load(&doc).unwrap().unwrap().concat(), vec![5, 6]);
}

#[cfg(feature = "redb")]
#[test]
fn a_garbage_file_is_reported_as_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gridsync.redb");
    std::fs::write(&path, vec![0x5a; 64 * 1024]).unwrap();
    let err = RedbStore::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupted { .. }), "{err:?}");
    assert!(err.to_string().contains("damaged"), "{err}");
}

#[cfg(feature = "redb")]
#[test]
fn a_truncated_file_gives_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gridsync.redb");
    {
        let store = RedbStore::open(&path).unwrap();
        let mut b = Batch::new();
        for _ in 0..200 {
            b.append_chunk(DocumentId::random(), vec![1; 1000]);
        }
        store.write(b).unwrap();
    }
    let len = std::fs::metadata(&path).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len / 3).unwrap();
    drop(file);
    match RedbStore::open(&path) {
        // redb may repair from its last good commit; then reads must either
        // succeed or fail with an error, never panic.
        Ok(store) => {
            for id in store.documents().unwrap_or_default() {
                let _ = store.load(&id);
            }
        }
        Err(e) => assert!(
            matches!(e, StoreError::Corrupted { .. } | StoreError::Redb(_)),
            "{e:?}"
        ),
    }
}

#[cfg(feature = "redb")]
#[test]
fn records_commit_with_the_batch_in_their_own_table() {
    let memory = MemoryStore::new();
    let mut b = Batch::new();
    b.put_record("app_rows", b"k".to_vec(), b"v1".to_vec());
    b.put_record("app_rows", b"k".to_vec(), b"v2".to_vec());
    memory.write(b).unwrap();
    assert_eq!(memory.record("app_rows", b"k"), Some(b"v2".to_vec()));
    assert_eq!(memory.record("other", b"k"), None);

    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path().join("gridsync.redb")).unwrap();
    let doc = DocumentId::random();
    let mut b = Batch::new();
    b.append_chunk(doc, vec![1]);
    b.put_record("app_rows", b"k".to_vec(), b"v".to_vec());
    store.write(b).unwrap();
    let tx = ::redb::ReadableDatabase::begin_read(&*store.database()).unwrap();
    let def: ::redb::TableDefinition<&[u8], &[u8]> = ::redb::TableDefinition::new("app_rows");
    let table = tx.open_table(def).unwrap();
    assert_eq!(table.get(b"k".as_slice()).unwrap().unwrap().value(), b"v");
}

/// A full disk under a real redb file.
#[cfg(feature = "redb")]
mod full_disk {
    use super::*;

    /// A file whose writes fail while `full` is set, as a full disk's do.
    #[derive(Debug)]
    struct FullDisk {
        file: ::redb::backends::FileBackend,
        full: std::sync::Arc<std::sync::atomic::AtomicBool>,
    }

    impl FullDisk {
        fn check(&self) -> Result<(), std::io::Error> {
            if self.full.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(std::io::Error::from(std::io::ErrorKind::StorageFull));
            }
            Ok(())
        }
    }

    impl ::redb::StorageBackend for FullDisk {
        fn len(&self) -> Result<u64, std::io::Error> {
            self.file.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
            self.file.read(offset, out)
        }
        fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
            self.check()?;
            self.file.set_len(len)
        }
        fn sync_data(&self) -> Result<(), std::io::Error> {
            self.check()?;
            self.file.sync_data()
        }
        fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
            self.check()?;
            self.file.write(offset, data)
        }
        fn close(&self) -> Result<(), std::io::Error> {
            self.file.close()
        }
        fn try_lock_range(
            &self,
            start: std::ops::Bound<u64>,
            end: std::ops::Bound<u64>,
        ) -> Result<bool, ::redb::BackendError> {
            self.file.try_lock_range(start, end)
        }
        fn try_lock_shared_range(
            &self,
            start: std::ops::Bound<u64>,
            end: std::ops::Bound<u64>,
        ) -> Result<bool, ::redb::BackendError> {
            self.file.try_lock_shared_range(start, end)
        }
        fn lock_range(
            &self,
            start: std::ops::Bound<u64>,
            end: std::ops::Bound<u64>,
        ) -> Result<(), ::redb::BackendError> {
            self.file.lock_range(start, end)
        }
        fn lock_shared_range(
            &self,
            start: std::ops::Bound<u64>,
            end: std::ops::Bound<u64>,
        ) -> Result<(), ::redb::BackendError> {
            self.file.lock_shared_range(start, end)
        }
        fn unlock_range(
            &self,
            start: std::ops::Bound<u64>,
            end: std::ops::Bound<u64>,
        ) -> Result<(), ::redb::BackendError> {
            self.file.unlock_range(start, end)
        }
        fn query_lock_range(
            &self,
            start: std::ops::Bound<u64>,
            end: std::ops::Bound<u64>,
        ) -> Result<bool, ::redb::BackendError> {
            self.file.query_lock_range(start, end)
        }
    }

    /// Regression: after a commit failed for lack of space, redb refuses
    /// every later read and write of that handle (`PreviousIo`) until the file
    /// is opened again, so a relay whose disk filled up served nothing until
    /// it was restarted, even once space was back. `recover` now reopens it in
    /// place; what was committed before is there, and writes work again.
    #[test]
    fn recover_reopens_the_database_after_a_commit_failed_for_lack_of_space() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gridsync.redb");
        let full = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .unwrap();
        let backend = FullDisk {
            file: ::redb::backends::FileBackend::new(file).unwrap(),
            full: full.clone(),
        };
        let db = ::redb::Database::builder()
            .set_concurrency_mode(::redb::ConcurrencyMode::MultiWriter)
            .create_with_backend(backend)
            .unwrap();
        let store = RedbStore::over(db, path).unwrap();
        let chunk = |bytes: Vec<u8>| {
            let doc = DocumentId::random();
            let mut b = Batch::new();
            b.append_chunk(doc, bytes);
            (doc, b)
        };
        let (kept, batch) = chunk(vec![1]);
        store.write(batch).unwrap();
        store.recover().unwrap();
        assert!(
            store.load(&kept).unwrap().is_some(),
            "recover of a sound store changes nothing"
        );

        full.store(true, std::sync::atomic::Ordering::SeqCst);
        let (lost, batch) = chunk(vec![2]);
        let err = store.write(batch.clone()).unwrap_err();
        assert!(err.is_out_of_space(), "{err:?}");
        full.store(false, std::sync::atomic::Ordering::SeqCst);
        assert!(store.load(&kept).is_err(), "redb refuses the failed handle");

        store.recover().unwrap();
        assert_eq!(store.load(&kept).unwrap().unwrap().chunks, vec![vec![1]]);
        assert_eq!(store.load(&lost).unwrap(), None);
        store.write(batch).unwrap();
        assert_eq!(store.load(&lost).unwrap().unwrap().chunks, vec![vec![2]]);
    }
}
