//! The default store: one redb file.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use redb::{
    ConcurrencyMode, Database, DatabaseError, ReadableDatabase, ReadableTable, StorageError,
    TableDefinition, TableError, TransactionError,
};

use super::{Batch, Listing, Op, Store, StoreError, StoredDoc};
use crate::ids::{DocumentId, GridCode};
use crate::model::lifecycle::Status;
use crate::model::summary::TicketSummary;

type Id = [u8; 16];

const SNAPSHOTS: TableDefinition<Id, &[u8]> = TableDefinition::new("doc_snapshots");
/// (document, sequence) → incremental change chunk.
const CHUNKS: TableDefinition<(Id, u64), &[u8]> = TableDefinition::new("doc_chunks");
/// document → JSON [`TicketSummary`].
const SUMMARIES: TableDefinition<Id, &[u8]> = TableDefinition::new("ticket_summaries");
/// (grid, status, document) → (): the listing index.
const GRID_STATUS: TableDefinition<(&str, &str, Id), ()> =
    TableDefinition::new("grid_status_index");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// (document, peer) → encoded `automerge::sync::State`.
const SYNC_STATES: TableDefinition<(Id, &str), &[u8]> = TableDefinition::new("sync_states");
/// document → its heads, 32 bytes each, concatenated.
const HEADS: TableDefinition<Id, &[u8]> = TableDefinition::new("doc_heads");
/// document → token: local changes not yet acknowledged by the relay.
const OUTBOX: TableDefinition<Id, u64> = TableDefinition::new("outbox");

/// A [`Store`] in one redb file.
///
/// After an I/O error in a commit (a full disk) redb refuses every later
/// operation of that handle ([`StorageError::PreviousIo`]) until the file
/// is opened again; [`Store::recover`] does that, with no restart: a fresh
/// handle (which repairs the file if it must) replaces the failed one.
#[derive(Debug)]
pub struct RedbStore {
    /// The current handle; replaced by `recover`.
    db: RwLock<Arc<Database>>,
    path: PathBuf,
    /// Bytes redb may keep of the file in memory; `None` for redb's
    /// default (1 GiB).
    cache: Option<usize>,
}

impl RedbStore {
    /// Opens the database at `path`, creating it (and its tables) if absent.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let db = open_database(&path, None)?;
        Self::over(db, path)
    }

    /// [`Self::open`] with redb's page cache bounded to `bytes`. redb keeps
    /// every page it reads in that cache (1 GiB by default) and never gives
    /// it back, so a relay reading many documents once grows by what it
    /// read: 1,000 grid indexes served from a 100,000-ticket store held
    /// about 330 MB. Past the bound, reads come from the OS page cache.
    pub fn open_with_cache(path: impl AsRef<Path>, bytes: usize) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let db = open_database(&path, Some(bytes))?;
        let mut store = Self::over(db, path)?;
        store.cache = Some(bytes);
        Ok(store)
    }

    /// A store over an open `db` (kept at `path`, where `recover` reopens it).
    pub(super) fn over(db: Database, path: PathBuf) -> Result<Self, StoreError> {
        let store = Self {
            db: RwLock::new(Arc::new(db)),
            path,
            cache: None,
        };
        store.create_tables()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying database, for callers that keep tables of their own
    /// (the relay's users and audit trail) in the same file. Take it anew
    /// for each use: [`Store::recover`] may replace it.
    pub fn database(&self) -> Arc<Database> {
        self.db
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn create_tables(&self) -> Result<(), StoreError> {
        let tx = self.database().begin_write().map_err(redb::Error::from)?;
        {
            tx.open_table(SNAPSHOTS).map_err(|e| self.table_error(e))?;
            tx.open_table(CHUNKS).map_err(|e| self.table_error(e))?;
            tx.open_table(SUMMARIES).map_err(|e| self.table_error(e))?;
            tx.open_table(GRID_STATUS)
                .map_err(|e| self.table_error(e))?;
            tx.open_table(META).map_err(|e| self.table_error(e))?;
            tx.open_table(SYNC_STATES)
                .map_err(|e| self.table_error(e))?;
        }
        tx.commit().map_err(redb::Error::from)?;
        Ok(())
    }

    fn table_error(&self, e: TableError) -> StoreError {
        match e {
            TableError::Storage(StorageError::Corrupted(detail)) => StoreError::Corrupted {
                path: self.path.display().to_string(),
                detail,
            },
            TableError::TableTypeMismatch { .. } | TableError::TypeDefinitionChanged { .. } => {
                StoreError::Corrupted {
                    path: self.path.display().to_string(),
                    detail: e.to_string(),
                }
            }
            other => StoreError::Redb(other.into()),
        }
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<T, redb::Error>,
    ) -> Result<T, StoreError> {
        let tx = self.database().begin_read().map_err(redb::Error::from)?;
        f(&tx).map_err(|e| self.storage_error(e))
    }

    fn storage_error(&self, e: redb::Error) -> StoreError {
        match e {
            redb::Error::Corrupted(detail) => StoreError::Corrupted {
                path: self.path.display().to_string(),
                detail,
            },
            other => StoreError::Redb(other),
        }
    }
}

/// Opens (or creates) the file; repairs it if a commit was cut short.
fn open_database(path: &Path, cache: Option<usize>) -> Result<Database, StoreError> {
    // Several processes may share a device's database: `gridsync sync
    // --watch` runs while the same person records tickets. It also lets
    // `recover` open a fresh handle while the failed one is still held.
    let mut builder = Database::builder();
    builder.set_concurrency_mode(ConcurrencyMode::MultiWriter);
    if let Some(bytes) = cache {
        builder.set_cache_size(bytes);
    }
    builder.create(path).map_err(|e| open_error(path, e))
}

fn open_error(path: &Path, e: DatabaseError) -> StoreError {
    let path_text = path.display().to_string();
    match e {
        DatabaseError::DatabaseAlreadyOpen => StoreError::InUse { path: path_text },
        DatabaseError::Storage(StorageError::Corrupted(detail)) => StoreError::Corrupted {
            path: path_text,
            detail,
        },
        DatabaseError::Storage(StorageError::Io(io))
            if io.kind() == std::io::ErrorKind::InvalidData
                || io.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            StoreError::Corrupted {
                path: path_text,
                detail: io.to_string(),
            }
        }
        DatabaseError::UpgradeRequired(v) => StoreError::Corrupted {
            path: path_text,
            detail: format!("file format version {v} is not supported"),
        },
        other => StoreError::Redb(other.into()),
    }
}

fn status_key(s: Status) -> &'static str {
    s.as_str()
}

/// The index bucket that lists conflicted tickets beside their status.
const CONFLICT_KEY: &str = "!conflict";

/// The index buckets a summary is listed under.
fn index_keys(s: &TicketSummary) -> impl Iterator<Item = &'static str> {
    std::iter::once(status_key(s.status)).chain((s.conflicts > 0).then_some(CONFLICT_KEY))
}

fn decode_summary(bytes: &[u8]) -> Result<TicketSummary, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::decode("ticket summary", e))
}

/// One document from open tables.
fn stored(
    snapshots: &redb::ReadOnlyTable<Id, &'static [u8]>,
    chunks: &redb::ReadOnlyTable<(Id, u64), &'static [u8]>,
    doc: &DocumentId,
) -> Result<Option<StoredDoc>, redb::Error> {
    let id = *doc.as_bytes();
    let snapshot = snapshots.get(id)?.map(|v| v.value().to_vec());
    let mut out = Vec::new();
    for entry in chunks.range((id, 0)..=(id, u64::MAX))? {
        out.push(entry?.1.value().to_vec());
    }
    if snapshot.is_none() && out.is_empty() {
        return Ok(None);
    }
    Ok(Some(StoredDoc {
        snapshot,
        chunks: out,
    }))
}

impl Store for RedbStore {
    fn load(&self, doc: &DocumentId) -> Result<Option<StoredDoc>, StoreError> {
        self.load_many(std::slice::from_ref(doc))
            .map(|mut one| one.pop().flatten())
    }

    fn load_many(&self, docs: &[DocumentId]) -> Result<Vec<Option<StoredDoc>>, StoreError> {
        self.read(|tx| {
            let snapshots = tx.open_table(SNAPSHOTS)?;
            let chunks = tx.open_table(CHUNKS)?;
            docs.iter()
                .map(|doc| stored(&snapshots, &chunks, doc))
                .collect()
        })
    }

    fn chunk_count(&self, doc: &DocumentId) -> Result<usize, StoreError> {
        let id = *doc.as_bytes();
        self.read(|tx| {
            let chunks = tx.open_table(CHUNKS)?;
            let mut n = 0;
            for entry in chunks.range((id, 0)..=(id, u64::MAX))? {
                entry?;
                n += 1;
            }
            Ok(n)
        })
    }

    fn write(&self, batch: Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let tx = self.database().begin_write().map_err(redb::Error::from)?;
        apply(&tx, batch).map_err(|e| self.storage_error(e))?;
        tx.commit().map_err(|e| self.storage_error(e.into()))?;
        Ok(())
    }

    fn documents(&self) -> Result<Vec<DocumentId>, StoreError> {
        self.read(|tx| {
            let snapshots = tx.open_table(SNAPSHOTS)?;
            let chunks = tx.open_table(CHUNKS)?;
            let mut ids = std::collections::BTreeSet::new();
            for entry in snapshots.iter()? {
                ids.insert(entry?.0.value());
            }
            for entry in chunks.iter()? {
                ids.insert(entry?.0.value().0);
            }
            Ok(ids.into_iter().map(DocumentId::from_bytes).collect())
        })
    }

    fn summary(&self, doc: &DocumentId) -> Result<Option<TicketSummary>, StoreError> {
        let raw = self.read(|tx| {
            let t = tx.open_table(SUMMARIES)?;
            Ok(t.get(*doc.as_bytes())?.map(|v| v.value().to_vec()))
        })?;
        raw.map(|b| decode_summary(&b)).transpose()
    }

    fn grid_summaries(
        &self,
        grid: &GridCode,
        which: Listing,
    ) -> Result<Vec<TicketSummary>, StoreError> {
        let buckets: Vec<&str> = match which {
            Listing::Conflicted => vec![CONFLICT_KEY],
            Listing::Open | Listing::All => Status::ALL
                .iter()
                .filter(|s| which == Listing::All || s.is_open())
                .map(|s| status_key(*s))
                .collect(),
        };
        let raw = self.read(|tx| {
            let index = tx.open_table(GRID_STATUS)?;
            let summaries = tx.open_table(SUMMARIES)?;
            let mut out = Vec::new();
            for s in buckets {
                let g = grid.as_str();
                for entry in index.range((g, s, [0u8; 16])..=(g, s, [0xffu8; 16]))? {
                    let id = entry?.0.value().2;
                    if let Some(v) = summaries.get(id)? {
                        out.push(v.value().to_vec());
                    }
                }
            }
            Ok(out)
        })?;
        raw.iter().map(|b| decode_summary(b)).collect()
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|tx| Ok(tx.open_table(META)?.get(key)?.map(|v| v.value().to_vec())))
    }

    fn sync_state(&self, doc: &DocumentId, peer: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|tx| {
            let t = tx.open_table(SYNC_STATES)?;
            Ok(t.get((*doc.as_bytes(), peer))?.map(|v| v.value().to_vec()))
        })
    }

    fn heads(&self, doc: &DocumentId) -> Result<Option<Vec<automerge::ChangeHash>>, StoreError> {
        self.read(|tx| {
            let t = tx.open_table(HEADS)?;
            Ok(t.get(*doc.as_bytes())?.map(|v| {
                v.value()
                    .chunks_exact(32)
                    .map(|c| automerge::ChangeHash(c.try_into().expect("32-byte chunk")))
                    .collect()
            }))
        })
    }

    fn heads_many(
        &self,
        docs: &[DocumentId],
    ) -> Result<Vec<Option<Vec<automerge::ChangeHash>>>, StoreError> {
        // One read transaction for all (a reconnect's heads batch).
        self.read(|tx| {
            let t = tx.open_table(HEADS)?;
            docs.iter()
                .map(|doc| {
                    Ok(t.get(*doc.as_bytes())?.map(|v| {
                        v.value()
                            .chunks_exact(32)
                            .map(|c| automerge::ChangeHash(c.try_into().expect("32-byte chunk")))
                            .collect()
                    }))
                })
                .collect()
        })
    }

    fn outbox(&self) -> Result<Vec<(DocumentId, u64)>, StoreError> {
        self.read(|tx| {
            let t = tx.open_table(OUTBOX)?;
            let mut out = Vec::new();
            for entry in t.iter()? {
                let (k, v) = entry?;
                out.push((DocumentId::from_bytes(k.value()), v.value()));
            }
            Ok(out)
        })
    }

    fn recover(&self) -> Result<(), StoreError> {
        match self.database().begin_read() {
            Err(TransactionError::Storage(StorageError::PreviousIo)) => {}
            _ => return Ok(()),
        }
        let fresh = Arc::new(open_database(&self.path, self.cache)?);
        *self.db.write().unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }
}

fn apply(tx: &redb::WriteTransaction, batch: Batch) -> Result<(), redb::Error> {
    let mut snapshots = tx.open_table(SNAPSHOTS)?;
    let mut chunks = tx.open_table(CHUNKS)?;
    let mut summaries = tx.open_table(SUMMARIES)?;
    let mut grid_status = tx.open_table(GRID_STATUS)?;
    let mut meta = tx.open_table(META)?;
    let mut sync_states = tx.open_table(SYNC_STATES)?;
    let mut outbox = tx.open_table(OUTBOX)?;
    let mut heads_table = tx.open_table(HEADS)?;
    for op in batch.ops {
        match op {
            Op::AppendChunk { doc, bytes } => {
                let id = *doc.as_bytes();
                let next = chunks
                    .range((id, 0)..=(id, u64::MAX))?
                    .next_back()
                    .transpose()?
                    .map_or(0, |(k, _)| k.value().1 + 1);
                chunks.insert((id, next), bytes.as_slice())?;
            }
            Op::Compact { doc, snapshot } => {
                let id = *doc.as_bytes();
                chunks.retain_in((id, 0)..=(id, u64::MAX), |_, _| false)?;
                snapshots.insert(id, snapshot.as_slice())?;
            }
            Op::PutSummary(summary) => {
                let id = *summary.id.document_id().as_bytes();
                let old = summaries.get(id)?.map(|v| v.value().to_vec());
                match old.as_deref().map(decode_summary) {
                    None => {}
                    Some(Ok(old)) => {
                        for key in index_keys(&old) {
                            grid_status.remove((old.grid.as_str(), key, id))?;
                        }
                    }
                    // Which buckets list it is unknown: drop every entry of
                    // this document, so none is left beside the new ones.
                    Some(Err(e)) => {
                        tracing::warn!(
                            doc = %DocumentId::from_bytes(id),
                            error = %e,
                            "replacing a ticket summary that does not decode; its listing \
                             entries are rebuilt"
                        );
                        grid_status.retain(|(_, _, doc), ()| doc != id)?;
                    }
                }
                let json = serde_json::to_vec(&summary).expect("summaries always serialize");
                summaries.insert(id, json.as_slice())?;
                for key in index_keys(&summary) {
                    grid_status.insert((summary.grid.as_str(), key, id), ())?;
                }
            }
            Op::PutMeta { key, value } => {
                meta.insert(key.as_str(), value.as_slice())?;
            }
            Op::PutSyncState { doc, peer, state } => {
                sync_states.insert((*doc.as_bytes(), peer.as_str()), state.as_slice())?;
            }
            Op::PutHeads { doc, heads } => {
                heads_table.insert(*doc.as_bytes(), heads.concat().as_slice())?;
            }
            Op::MarkLocal { doc, token } => {
                outbox.insert(*doc.as_bytes(), token)?;
            }
            Op::ClearLocal { doc, token } => {
                let current = outbox.get(*doc.as_bytes())?.map(|v| v.value());
                if current == Some(token) {
                    outbox.remove(*doc.as_bytes())?;
                }
            }
            Op::DropSyncStates { doc } => {
                let id = *doc.as_bytes();
                sync_states.retain_in((id, "")..=(id, "\u{10ffff}"), |_, _| false)?;
            }
            Op::PutRecord { table, key, value } => {
                let def: TableDefinition<&[u8], &[u8]> = TableDefinition::new(table);
                tx.open_table(def)?
                    .insert(key.as_slice(), value.as_slice())?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! A stored ticket summary that does not decode (damaged, or written by
    //! a newer gridsync that knows a status this one does not) used to be
    //! skipped when its ticket changed: its old listing entries stayed
    //! beside the new ones, so the ticket was listed under a status it no
    //! longer had (and twice under `All`), and nothing said why. The write
    //! now drops every listing entry of that ticket, and logs it.

    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::ids::TicketId;

    fn summary(grid: &GridCode, status: Status) -> TicketSummary {
        crate::store::tests::summary(TicketId::random(), grid.as_str(), status, 0)
    }

    fn put(store: &RedbStore, s: &TicketSummary) {
        let mut b = Batch::new();
        b.put_summary(s.clone());
        store.write(b).unwrap();
    }

    /// Runs `f`, returning what it logged.
    fn logged(f: impl FnOnce()) -> String {
        #[derive(Clone)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer(Arc::default());
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn an_undecodable_summary_is_reported_and_its_listing_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(dir.path().join("device.redb")).unwrap();
        let grid = GridCode::new("G-1").unwrap();
        let neighbour = summary(&grid, Status::Reported);
        put(&store, &neighbour);
        let mut s = summary(&grid, Status::Reported);
        put(&store, &s);
        let doc = s.id.document_id();

        // A status this build does not know.
        let newer = serde_json::to_string(&s)
            .unwrap()
            .replace("\"reported\"", "\"escalated\"");
        let tx = store.database().begin_write().unwrap();
        tx.open_table(SUMMARIES)
            .unwrap()
            .insert(*doc.as_bytes(), newer.as_bytes())
            .unwrap();
        tx.commit().unwrap();

        let err = store.summary(&doc).unwrap_err();
        assert!(
            matches!(&err, StoreError::Decode { what: "ticket summary", cause }
                if cause.is::<serde_json::Error>()),
            "{err:?}"
        );
        assert!(err.to_string().contains("escalated"), "{err}");
        assert!(store.grid_summaries(&grid, Listing::All).is_err());

        s.status = Status::Accepted;
        let log = logged(|| put(&store, &s));
        assert!(log.contains("WARN"), "{log}");
        assert!(log.contains(&doc.to_string()), "{log}");
        assert!(log.contains("escalated"), "{log}");

        let mut all = store.grid_summaries(&grid, Listing::All).unwrap();
        all.sort_by_key(|x| x.status);
        assert_eq!(all, vec![neighbour.clone(), s.clone()]);
        let reported: Vec<_> = store
            .grid_summaries(&grid, Listing::Open)
            .unwrap()
            .into_iter()
            .filter(|x| x.id == s.id)
            .collect();
        assert_eq!(reported, vec![s.clone()], "listed once, as accepted");
    }
}
