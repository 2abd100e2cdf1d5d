//! The relay's blob store: photos, named by the SHA-256 of their bytes,
//! in `<data>/blobs/` beside the relay database.
//!
//! **Files, not redb pages.** A photo is a few MB written once and read
//! whole; in redb every blob would be copied through the page cache into
//! B-tree pages, every commit that touches one would rewrite and fsync
//! megabytes, and a deleted photo's pages would stay in the file until a
//! compaction. So a blob is a file: bytes arrive into
//! `blobs/partial/<hex>`, are fsynced at checkpoints, and when the last one
//! arrives the file is hashed; only if it hashes to its name is it renamed
//! to `blobs/<hex>` and the directory fsynced. A finished blob's presence
//! *is* that file: nothing in the database says a blob exists, so a crash
//! between the rename and a database write cannot leave one half-known.
//! Thumbnails are made once, on first request, and kept as
//! `blobs/thumbs/<hex>.jpg` (written to a temporary file, fsynced and
//! renamed the same way).
//!
//! **The database** (tables of the relay's redb file) holds what must
//! change together with other state:
//! - `blob_uploads`: hash → [`Upload`] (declared length, the offset fsynced
//!   so far, uploader, UTC day), so `HEAD` answers the offset that survived
//!   a crash; bytes on disk past it (written but not yet recorded) are cut
//!   off before the next `PATCH` appends.
//! - `blob_refs`: (hash ‖ ticket id) → nothing, written by the hub thread in
//!   the same commit as the ticket summary that lists the photo
//!   ([`stage_refs`]). A reference is only a hint: access is decided by
//!   reading the ticket (it must still list the photo), and the sweep drops
//!   references whose ticket no longer does.
//! - `blob_quota`: (user, UTC day) → bytes declared in new uploads.
//!
//! **Sweep**: blobs no ticket references and partial uploads untouched for
//! `Config::blob_grace` are removed by [`Blobs::sweep`], run every
//! `Config::blob_sweep_interval`.

pub(crate) mod http;

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use client_core::ids::DocumentId;
use client_core::store::{Batch, RedbStore, Store, StoreError};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

/// (32-byte hash ‖ 16-byte ticket document id) → empty.
pub(crate) const REFS_TABLE: &str = "blob_refs";
const REFS: TableDefinition<&[u8], &[u8]> = TableDefinition::new(REFS_TABLE);
/// 32-byte hash → JSON [`Upload`].
const UPLOADS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("blob_uploads");
/// (user, UTC day number) → bytes declared that day.
const QUOTA: TableDefinition<(&str, u32), u64> = TableDefinition::new("blob_quota");

/// Longest side of a thumbnail, in pixels.
pub(crate) const THUMB_SIDE: u32 = 320;

/// The SHA-256 of a blob's bytes: its name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) struct BlobHash([u8; 32]);

impl BlobHash {
    /// From 64 hex digits (either case); `None` for anything else.
    pub(crate) fn parse(hex: &str) -> Option<Self> {
        if hex.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
            let digit = |c: u8| (c as char).to_digit(16);
            out[i] = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
        }
        Some(Self(out))
    }

    pub(crate) fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn ref_key(&self, ticket: &DocumentId) -> Vec<u8> {
        let mut key = self.0.to_vec();
        key.extend_from_slice(ticket.as_bytes());
        key
    }
}

/// An upload under way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Upload {
    /// `Upload-Length`: what the blob will hold.
    pub length: u64,
    /// Bytes received and fsynced (what `HEAD` answers).
    pub offset: u64,
    pub uploader: String,
    /// The UTC day its length was counted against the uploader's quota.
    pub day: u32,
    /// When bytes last arrived (ms since the epoch), for the sweep.
    pub updated_ms: i64,
}

/// What asking to start an upload found.
#[derive(Debug)]
pub(crate) enum Started {
    /// A new upload, its length counted against the quota.
    New(Upload),
    /// One already under way (resume it from its offset).
    Existing(Upload),
    /// The uploader's bytes for today would pass the limit.
    OverQuota { used: u64 },
}

/// How a finished upload ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Finished {
    /// Its bytes hash to its name: kept.
    Kept,
    /// They do not: the partial file is gone and the upload forgotten.
    Mismatch { got: BlobHash },
}

/// What the blob store could not do.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error(
        "the blob store could not read or write its files; check the data directory's \
         disk space and permissions"
    )]
    Io(#[from] io::Error),
    #[error("the blob store could not use the relay database")]
    Database(#[from] redb::Error),
    #[error("the blob store could not read a ticket")]
    Store(#[from] StoreError),
    #[error("a stored upload record does not decode; the sweep removes it after the grace period")]
    Record(#[from] serde_json::Error),
    #[error("the photo is not a JPEG or PNG image the relay can make a thumbnail of")]
    Image(#[from] image::ImageError),
}

impl BlobError {
    /// The message with its causes, for a log line or an HTTP answer.
    pub(crate) fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(e) = cause {
            out.push_str(": ");
            out.push_str(&e.to_string());
            cause = e.source();
        }
        out
    }
}

fn db(e: impl Into<redb::Error>) -> BlobError {
    BlobError::Database(e.into())
}

/// What a sweep removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Swept {
    pub blobs: usize,
    pub uploads: usize,
    pub refs: usize,
}

/// The blob store of one relay.
#[derive(Debug)]
pub(crate) struct Blobs {
    dir: PathBuf,
    store: Arc<RedbStore>,
    /// Hashes with a `PATCH` in progress: one writer per partial file.
    busy: Mutex<HashSet<BlobHash>>,
}

/// Holds a hash's upload for one `PATCH`; released when dropped.
#[derive(Debug)]
pub(crate) struct Busy<'a> {
    blobs: &'a Blobs,
    hash: BlobHash,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.blobs.busy().remove(&self.hash);
    }
}

impl Blobs {
    /// The blob store beside `store`'s file (`<its directory>/blobs`),
    /// created if absent, with its tables.
    pub(crate) fn open(store: Arc<RedbStore>) -> Result<Self, BlobError> {
        let dir = store
            .path()
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join("blobs");
        fs::create_dir_all(dir.join("partial"))?;
        fs::create_dir_all(dir.join("thumbs"))?;
        let database = store.database();
        let tx = database.begin_write().map_err(db)?;
        tx.open_table(REFS).map_err(db)?;
        tx.open_table(UPLOADS).map_err(db)?;
        tx.open_table(QUOTA).map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(Self {
            dir,
            store,
            busy: Mutex::default(),
        })
    }

    fn busy(&self) -> std::sync::MutexGuard<'_, HashSet<BlobHash>> {
        self.busy.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the hash's upload for one writer; `None` while another has it.
    pub(crate) fn lock(&self, hash: BlobHash) -> Option<Busy<'_>> {
        // The set's guard must be gone before a `Busy` can exist: one made
        // and dropped while it is held (`then_some` builds its argument
        // even for `false`) would lock the set again from its `drop` (a
        // deadlock of the worker thread) and free the other writer's hash.
        let taken = self.busy().insert(hash);
        taken.then(|| Busy { blobs: self, hash })
    }

    /// Where a finished blob lives.
    pub(crate) fn path(&self, hash: &BlobHash) -> PathBuf {
        self.dir.join(hash.hex())
    }

    pub(crate) fn partial_path(&self, hash: &BlobHash) -> PathBuf {
        self.dir.join("partial").join(hash.hex())
    }

    fn thumb_path(&self, hash: &BlobHash) -> PathBuf {
        self.dir.join("thumbs").join(format!("{}.jpg", hash.hex()))
    }

    /// The size of a finished blob; `None` if there is none.
    pub(crate) fn finished(&self, hash: &BlobHash) -> Result<Option<u64>, BlobError> {
        match fs::metadata(self.path(hash)) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The tickets whose summaries listed `hash` (a hint: see the module).
    pub(crate) fn tickets_of(&self, hash: &BlobHash) -> Result<Vec<DocumentId>, BlobError> {
        let database = self.store.database();
        let tx = database.begin_read().map_err(db)?;
        let table = tx.open_table(REFS).map_err(db)?;
        let from = hash.ref_key(&DocumentId::from_bytes([0; 16]));
        let to = hash.ref_key(&DocumentId::from_bytes([0xff; 16]));
        let mut out = Vec::new();
        for row in table.range(from.as_slice()..=to.as_slice()).map_err(db)? {
            let (key, _) = row.map_err(db)?;
            if let Ok(id) = <[u8; 16]>::try_from(&key.value()[32..]) {
                out.push(DocumentId::from_bytes(id));
            }
        }
        Ok(out)
    }

    /// The upload under way for `hash`, its offset no further than the
    /// partial file reaches.
    pub(crate) fn upload(&self, hash: &BlobHash) -> Result<Option<Upload>, BlobError> {
        let database = self.store.database();
        let tx = database.begin_read().map_err(db)?;
        let table = tx.open_table(UPLOADS).map_err(db)?;
        let Some(raw) = table.get(hash.0.as_slice()).map_err(db)? else {
            return Ok(None);
        };
        let mut upload: Upload = serde_json::from_slice(raw.value())?;
        let on_disk = match fs::metadata(self.partial_path(hash)) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e.into()),
        };
        upload.offset = upload.offset.min(on_disk);
        Ok(Some(upload))
    }

    /// Starts an upload of `length` bytes by `uploader` (or finds the one
    /// under way), counting a new one against the uploader's bytes of
    /// today's UTC day, at most `per_day`.
    pub(crate) fn start(
        &self,
        hash: &BlobHash,
        length: u64,
        uploader: &str,
        now_ms: i64,
        per_day: u64,
    ) -> Result<Started, BlobError> {
        if let Some(upload) = self.upload(hash)? {
            return Ok(Started::Existing(upload));
        }
        let day = u32::try_from(now_ms.max(0) / 86_400_000).unwrap_or(u32::MAX);
        let upload = Upload {
            length,
            offset: 0,
            uploader: uploader.to_owned(),
            day,
            updated_ms: now_ms,
        };
        // The empty partial file exists before the record that names it.
        let file = File::create(self.partial_path(hash))?;
        file.sync_all()?;
        sync_dir(&self.dir.join("partial"))?;
        let database = self.store.database();
        let tx = database.begin_write().map_err(db)?;
        {
            let mut quota = tx.open_table(QUOTA).map_err(db)?;
            let used = quota
                .get((uploader, day))
                .map_err(db)?
                .map_or(0, |v| v.value());
            if used.saturating_add(length) > per_day {
                drop(quota);
                tx.abort().map_err(db)?;
                let _ = fs::remove_file(self.partial_path(hash));
                return Ok(Started::OverQuota { used });
            }
            quota.insert((uploader, day), used + length).map_err(db)?;
            tx.open_table(UPLOADS)
                .map_err(db)?
                .insert(hash.0.as_slice(), serde_json::to_vec(&upload)?.as_slice())
                .map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(Started::New(upload))
    }

    /// Records that `upload` now holds `offset` bytes, fsynced.
    pub(crate) fn record_offset(
        &self,
        hash: &BlobHash,
        upload: &Upload,
        offset: u64,
        now_ms: i64,
    ) -> Result<(), BlobError> {
        let record = Upload {
            offset,
            updated_ms: now_ms,
            ..upload.clone()
        };
        let database = self.store.database();
        let tx = database.begin_write().map_err(db)?;
        tx.open_table(UPLOADS)
            .map_err(db)?
            .insert(hash.0.as_slice(), serde_json::to_vec(&record)?.as_slice())
            .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(())
    }

    /// Ends a complete upload: keeps the blob only if its bytes hash to
    /// its name; else drops the partial file, forgets the upload and gives
    /// its bytes back to the uploader's quota, so a re-sent copy is taken.
    pub(crate) fn finish(&self, hash: &BlobHash, upload: &Upload) -> Result<Finished, BlobError> {
        let partial = self.partial_path(hash);
        let got = hash_file(&partial)?;
        let database = self.store.database();
        if got == *hash {
            fs::rename(&partial, self.path(hash))?;
            sync_dir(&self.dir)?;
            let tx = database.begin_write().map_err(db)?;
            tx.open_table(UPLOADS)
                .map_err(db)?
                .remove(hash.0.as_slice())
                .map_err(db)?;
            tx.commit().map_err(db)?;
            return Ok(Finished::Kept);
        }
        fs::remove_file(&partial)?;
        let tx = database.begin_write().map_err(db)?;
        {
            tx.open_table(UPLOADS)
                .map_err(db)?
                .remove(hash.0.as_slice())
                .map_err(db)?;
            let mut quota = tx.open_table(QUOTA).map_err(db)?;
            let key = (upload.uploader.as_str(), upload.day);
            let used = quota.get(key).map_err(db)?.map_or(0, |v| v.value());
            quota
                .insert(key, used.saturating_sub(upload.length))
                .map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(Finished::Mismatch { got })
    }

    /// The blob's thumbnail (JPEG, at most [`THUMB_SIDE`] pixels a side),
    /// made and stored on first request; `None` if there is no such blob.
    pub(crate) fn thumbnail(&self, hash: &BlobHash) -> Result<Option<Vec<u8>>, BlobError> {
        let path = self.thumb_path(hash);
        match fs::read(&path) {
            Ok(bytes) => return Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let bytes = match fs::read(self.path(hash)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let image = image::load_from_memory(&bytes)?;
        let small = image.thumbnail(THUMB_SIDE, THUMB_SIDE).to_rgb8();
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80).encode_image(&small)?;
        write_atomically(&path, &out)?;
        Ok(Some(out))
    }

    /// Removes partial uploads untouched for `grace`, references whose
    /// ticket no longer lists its photo, and finished blobs older than
    /// `grace` that no ticket lists.
    pub(crate) fn sweep(&self, now_ms: i64, grace: Duration) -> Result<Swept, BlobError> {
        let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
        let mut swept = Swept::default();
        let database = self.store.database();
        let mut stale_uploads = Vec::new();
        let mut refs: Vec<(BlobHash, DocumentId)> = Vec::new();
        {
            let tx = database.begin_read().map_err(db)?;
            for row in tx.open_table(UPLOADS).map_err(db)?.iter().map_err(db)? {
                let (key, value) = row.map_err(db)?;
                let stale = serde_json::from_slice::<Upload>(value.value())
                    .map_or(true, |u| u.updated_ms.saturating_add(grace_ms) < now_ms);
                if let (true, Ok(hash)) = (stale, <[u8; 32]>::try_from(key.value())) {
                    stale_uploads.push(BlobHash(hash));
                }
            }
            for row in tx.open_table(REFS).map_err(db)?.iter().map_err(db)? {
                let (key, _) = row.map_err(db)?;
                let key = key.value();
                if let (Ok(hash), Ok(doc)) = (
                    <[u8; 32]>::try_from(&key[..32]),
                    <[u8; 16]>::try_from(&key[32..]),
                ) {
                    refs.push((BlobHash(hash), DocumentId::from_bytes(doc)));
                }
            }
        }
        let mut referenced = HashSet::new();
        let mut dead_refs = Vec::new();
        for (hash, doc) in refs {
            let lists = self
                .store
                .summary(&doc)?
                .is_some_and(|s| s.photos.iter().any(|p| BlobHash::parse(p) == Some(hash)));
            if lists {
                referenced.insert(hash);
            } else {
                dead_refs.push(hash.ref_key(&doc));
            }
        }
        // Rows first, files after the commit: a request never finds an
        // upload whose file is gone (a crash in between leaves a file no
        // row names, which the scan of `partial/` below removes).
        let mut dropped = Vec::new();
        if !stale_uploads.is_empty() || !dead_refs.is_empty() {
            let tx = database.begin_write().map_err(db)?;
            {
                let mut uploads = tx.open_table(UPLOADS).map_err(db)?;
                for hash in &stale_uploads {
                    if self.busy().contains(hash) {
                        continue;
                    }
                    uploads.remove(hash.0.as_slice()).map_err(db)?;
                    dropped.push(*hash);
                }
                let mut table = tx.open_table(REFS).map_err(db)?;
                for key in &dead_refs {
                    table.remove(key.as_slice()).map_err(db)?;
                    swept.refs += 1;
                }
            }
            tx.commit().map_err(db)?;
        }
        for hash in &dropped {
            match fs::remove_file(self.partial_path(hash)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
                _ => swept.uploads += 1,
            }
        }
        let cutoff = SystemTime::UNIX_EPOCH
            + Duration::from_millis(u64::try_from(now_ms.saturating_sub(grace_ms)).unwrap_or(0));
        for entry in fs::read_dir(self.dir.join("partial"))? {
            let entry = entry?;
            let Some(hash) = entry.file_name().to_str().and_then(BlobHash::parse) else {
                continue;
            };
            if entry.metadata()?.modified()? <= cutoff
                && !self.busy().contains(&hash)
                && self.upload(&hash)?.is_none()
            {
                fs::remove_file(entry.path())?;
                swept.uploads += 1;
            }
        }
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(hash) = name.to_str().and_then(BlobHash::parse) else {
                continue;
            };
            let meta = entry.metadata()?;
            if !meta.is_file() || referenced.contains(&hash) || meta.modified()? > cutoff {
                continue;
            }
            fs::remove_file(entry.path())?;
            match fs::remove_file(self.thumb_path(&hash)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
            swept.blobs += 1;
        }
        Ok(swept)
    }
}

/// Adds to `batch` a reference (hash → ticket) for every photo of every
/// ticket summary it writes, so the references commit with the change.
pub(crate) fn stage_refs(batch: &mut Batch) {
    let refs: Vec<Vec<u8>> = batch
        .summaries()
        .flat_map(|s| {
            let doc = s.id.document_id();
            s.photos
                .iter()
                .filter_map(move |p| BlobHash::parse(p).map(|h| h.ref_key(&doc)))
        })
        .collect();
    for key in refs {
        batch.put_record(REFS_TABLE, key, Vec::new());
    }
}

/// Runs [`Blobs::sweep`] every `period` until `stopping`.
pub(crate) async fn sweep_every(
    blobs: Arc<Blobs>,
    period: Duration,
    grace: Duration,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
        let blobs = blobs.clone();
        let now = crate::registry::now_ms();
        match tokio::task::spawn_blocking(move || blobs.sweep(now, grace)).await {
            Ok(Ok(swept)) if swept != Swept::default() => info!(
                blobs = swept.blobs,
                uploads = swept.uploads,
                refs = swept.refs,
                "blob sweep removed what no ticket references"
            ),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => warn!(error = %e.chain(), "the blob sweep failed; it runs again later"),
            Err(e) => warn!(error = %e, "the blob sweep panicked; it runs again later"),
        }
    }
}

/// SHA-256 of a file's bytes.
fn hash_file(path: &Path) -> io::Result<BlobHash> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(BlobHash(hasher.finalize().into()))
}

/// Writes `bytes` to a temporary file beside `path`, fsyncs it, renames it
/// to `path` and fsyncs the directory.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

/// Makes a directory's entries (a rename, a new file) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
