//! The device's photos: a store of files in the data directory and their
//! upload to the relay (tus 1.0: `HEAD` for the offset the relay holds,
//! `PATCH` from it; `POST /api/blobs` to start).
//!
//! `<data>/photos/<hex sha256>` holds a photo's bytes, written to a
//! temporary file, fsynced, renamed and the directory fsynced before the
//! ticket names it, so a photo a ticket lists is on the device even after
//! a crash or a power cut. `<hex>.sent` (empty) marks one the relay holds
//! whole. Files rather than the device's redb: photos are megabytes written
//! once, which redb would copy into its pages and rewrite at compaction.
//! Sent photos stay (they are what `photo get` copies from first).

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::data_dir::DataDir;
use crate::error::CliError;

/// Largest file `--photo` takes (the relay's default per-photo limit).
pub const MAX_PHOTO_BYTES: u64 = 20 * 1024 * 1024;

/// Transient failures in a row, with no byte gained, before an upload is
/// left for the next `sync` (backing off from 0.5 s to 5 s between them:
/// about half a minute of no signal or a restarting relay).
const MAX_FAILURES: u32 = 8;
/// Damaged copies in a row before giving up on a photo for this sync.
const MAX_DAMAGED: u32 = 3;

/// A photo file read and named by its hash, not stored yet.
#[derive(Debug)]
pub struct Taken {
    pub hash: String,
    bytes: Vec<u8>,
}

/// The device's photo files.
#[derive(Debug, Clone)]
pub struct PhotoStore {
    dir: PathBuf,
}

fn io_error(context: String) -> impl FnOnce(io::Error) -> CliError {
    move |cause| CliError::Storage { context, cause }
}

impl PhotoStore {
    pub fn new(data: &DataDir) -> Self {
        Self {
            dir: data.dir().join("photos"),
        }
    }

    pub fn path(&self, hash: &str) -> PathBuf {
        self.dir.join(hash)
    }

    fn sent_marker(&self, hash: &str) -> PathBuf {
        self.dir.join(format!("{hash}.sent"))
    }

    pub fn has(&self, hash: &str) -> bool {
        self.path(hash).is_file()
    }

    pub fn is_sent(&self, hash: &str) -> bool {
        self.sent_marker(hash).is_file()
    }

    /// Whether this device holds the photo and the relay does not yet.
    pub fn is_pending(&self, hash: &str) -> bool {
        self.has(hash) && !self.is_sent(hash)
    }

    /// Reads the photo at `from` and names it by its hash, writing nothing:
    /// a file that cannot be read or is too large stops a command before it
    /// records anything.
    pub fn read(from: &Path) -> Result<Taken, CliError> {
        let size = fs::metadata(from)
            .map_err(io_error(format!(
                "cannot read the photo {}",
                from.display()
            )))?
            .len();
        if size > MAX_PHOTO_BYTES {
            return Err(CliError::Refused(format!(
                "{} has {size} bytes; a photo may have at most {MAX_PHOTO_BYTES}: take it at a \
                 lower resolution or compress it",
                from.display()
            )));
        }
        let bytes = fs::read(from).map_err(io_error(format!(
            "cannot read the photo {}",
            from.display()
        )))?;
        let hash = hex(&Sha256::digest(&bytes));
        Ok(Taken { hash, bytes })
    }

    /// Stores a photo read by [`Self::read`] (durably) and returns its
    /// hash. A photo already stored is not written again. Called once the
    /// device has agreed to record it and before a ticket names it.
    pub fn keep(&self, photo: Taken) -> Result<String, CliError> {
        self.put(&photo.hash, &photo.bytes)?;
        Ok(photo.hash)
    }

    /// Stores `bytes` as `hash` (already checked) durably.
    fn put(&self, hash: &str, bytes: &[u8]) -> Result<(), CliError> {
        if self.has(hash) {
            return Ok(());
        }
        let context = || format!("cannot store the photo in {}", self.dir.display());
        fs::create_dir_all(&self.dir).map_err(io_error(context()))?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir).map_err(io_error(context()))?;
        tmp.write_all(bytes).map_err(io_error(context()))?;
        tmp.as_file().sync_all().map_err(io_error(context()))?;
        tmp.persist(self.path(hash))
            .map_err(|e| io_error(context())(e.error))?;
        sync_dir(&self.dir).map_err(io_error(context()))
    }

    fn mark_sent(&self, hash: &str) -> Result<(), CliError> {
        let context = || format!("cannot note an uploaded photo in {}", self.dir.display());
        File::create(self.sent_marker(hash))
            .and_then(|f| f.sync_all())
            .map_err(io_error(context()))?;
        sync_dir(&self.dir).map_err(io_error(context()))
    }

    /// Photos on this device the relay does not hold yet and some ticket
    /// in `listed` names, by hash. A file no ticket names (left by a crash
    /// between storing a photo and recording it) is the relay's 404: it is
    /// never offered, so it cannot hold `sync` back.
    pub fn pending(&self, listed: &BTreeSet<String>) -> Result<Vec<String>, CliError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(format!("cannot list {}", self.dir.display()))(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_error(format!("cannot list {}", self.dir.display())))?;
            if let Some(name) = entry.file_name().to_str()
                && is_hash(name)
                && listed.contains(name)
                && !self.is_sent(name)
            {
                out.push(name.to_owned());
            }
        }
        out.sort();
        Ok(out)
    }
}

pub fn is_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The relay's HTTP API, as this device reaches it.
#[derive(Debug)]
pub struct Relay {
    /// `http://host:port`, from the relay's `ws://` address.
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

/// How one photo's upload ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// The relay holds it whole.
    Done,
    /// Not now; the reason says why and what to do.
    Later(String),
}

/// A refusal or a transient failure of one request.
enum Failure {
    /// The connection broke or timed out: retry.
    Transient(String),
    /// The relay answered that it will not take the photo now.
    Refused(String),
}

impl Relay {
    pub fn new(ws_url: &str, token: Option<String>) -> Result<Self, CliError> {
        let uri = crate::commands::api_url(ws_url, "/")?;
        let base = uri.to_string().trim_end_matches('/').to_owned();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .timeout_recv_body(Some(Duration::from_secs(600)))
            .build()
            .into();
        Ok(Self { base, token, agent })
    }

    /// The URL of a photo on the relay (what exports link to).
    pub fn blob_url(&self, hash: &str) -> String {
        format!("{}/api/blobs/{hash}", self.base)
    }

    fn auth<B>(&self, r: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(t) => r.header("Authorization", format!("Bearer {t}")),
            None => r,
        }
    }

    /// Sends the stored photo `hash` to the relay, from the offset the
    /// relay holds, calling `progress(sent, total)` as bytes leave.
    pub fn upload(
        &self,
        store: &PhotoStore,
        hash: &str,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<Sent, CliError> {
        let path = store.path(hash);
        let length = fs::metadata(&path)
            .map_err(io_error(format!(
                "cannot read the photo {}",
                path.display()
            )))?
            .len();
        let mut failures = 0u32;
        let mut damaged = 0u32;
        let mut backoff = Duration::from_millis(500);
        // The furthest offset the relay has confirmed: a cut connection
        // that still moved it is progress, not a failure.
        let mut furthest: Option<u64> = None;
        loop {
            let failure = match self.offset(hash, length) {
                Ok(Some(offset)) => {
                    if furthest.is_none_or(|f| offset > f) {
                        furthest = Some(offset);
                        failures = 0;
                        backoff = Duration::from_millis(500);
                    }
                    if offset >= length {
                        return self.done(store, hash, length, &mut progress);
                    }
                    progress(offset, length);
                    match self.patch(&path, hash, offset, length, &mut progress) {
                        Ok(Step::Done) => return self.done(store, hash, length, &mut progress),
                        Ok(Step::Progressed) => continue,
                        Ok(Step::Again) => "the relay is still taking an earlier request".into(),
                        Ok(Step::Damaged) => {
                            damaged += 1;
                            tracing::warn!(
                                photo = hash,
                                "the relay refused damaged bytes; sending the photo again"
                            );
                            if damaged >= MAX_DAMAGED {
                                return Ok(Sent::Later(format!(
                                    "the relay refused {damaged} damaged copies in a row; check \
                                     the connection and run `gridsync sync` again"
                                )));
                            }
                            continue;
                        }
                        Err(Failure::Refused(why)) => return Ok(Sent::Later(why)),
                        Err(Failure::Transient(why)) => why,
                    }
                }
                Ok(None) => "the relay is still taking an earlier request".into(),
                Err(Failure::Refused(why)) => return Ok(Sent::Later(why)),
                Err(Failure::Transient(why)) => why,
            };
            failures += 1;
            tracing::info!(photo = hash, attempt = failures, error = %failure, "photo upload interrupted; resuming");
            if failures >= MAX_FAILURES {
                return Ok(Sent::Later(format!(
                    "could not reach the relay ({failure}); run `gridsync sync` again with \
                     signal: it resumes where it stopped"
                )));
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    fn done(
        &self,
        store: &PhotoStore,
        hash: &str,
        length: u64,
        progress: &mut impl FnMut(u64, u64),
    ) -> Result<Sent, CliError> {
        progress(length, length);
        store.mark_sent(hash)?;
        Ok(Sent::Done)
    }

    /// The offset the relay holds (`HEAD`), starting the upload (`POST`)
    /// when there is none; `None` to ask again shortly.
    fn offset(&self, hash: &str, length: u64) -> Result<Option<u64>, Failure> {
        let url = self.blob_url(hash);
        let answer = self
            .auth(self.agent.head(&url))
            .header("Tus-Resumable", "1.0.0")
            .call()
            .map_err(transient)?;
        match answer.status().as_u16() {
            200 => return Ok(Some(upload_offset(&answer).unwrap_or(0))),
            404 => {}
            status => return Err(refused(status, answer)),
        }
        let meta = base64::engine::general_purpose::STANDARD.encode(hash);
        let answer = self
            .auth(self.agent.post(format!("{}/api/blobs", self.base)))
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", length.to_string())
            .header("Upload-Metadata", format!("sha256 {meta}"))
            .send_empty()
            .map_err(transient)?;
        match answer.status().as_u16() {
            201 => Ok(Some(upload_offset(&answer).unwrap_or(0))),
            409 => Ok(None),
            status => Err(refused(status, answer)),
        }
    }

    fn patch(
        &self,
        path: &Path,
        hash: &str,
        offset: u64,
        length: u64,
        progress: &mut impl FnMut(u64, u64),
    ) -> Result<Step, Failure> {
        let mut file = File::open(path).map_err(|e| Failure::Refused(e.to_string()))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| Failure::Refused(e.to_string()))?;
        let mut body = Counting {
            inner: file.take(length - offset),
            at: offset,
            total: length,
            progress,
        };
        let answer = self
            .auth(self.agent.patch(self.blob_url(hash)))
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", offset.to_string())
            .header("Content-Type", "application/offset+octet-stream")
            .send(ureq::SendBody::from_reader(&mut body))
            .map_err(transient)?;
        match answer.status().as_u16() {
            204 => match upload_offset(&answer) {
                Some(o) if o >= length => Ok(Step::Done),
                _ => Ok(Step::Progressed),
            },
            409 => Ok(Step::Again),
            460 => Ok(Step::Damaged),
            status => Err(refused(status, answer)),
        }
    }

    /// The photo `hash` from the relay, checked against its name; `None`
    /// if the relay has none this user may see.
    pub fn download(&self, hash: &str) -> Result<Option<Vec<u8>>, CliError> {
        let url = self.blob_url(hash);
        let unreachable = |e: ureq::Error| {
            CliError::Photo(format!(
                "could not fetch the photo from {url}: {e}; check your signal and retry"
            ))
        };
        let mut answer = self
            .auth(self.agent.get(&url))
            .call()
            .map_err(unreachable)?;
        match answer.status().as_u16() {
            200 => {}
            404 => return Ok(None),
            status => {
                let why = error_of(answer.body_mut().read_to_vec().unwrap_or_default());
                return Err(CliError::Refused(format!(
                    "the relay answered HTTP {status} for the photo {hash}: {why}"
                )));
            }
        }
        let bytes = answer
            .body_mut()
            .with_config()
            .limit(MAX_PHOTO_BYTES)
            .read_to_vec()
            .map_err(unreachable)?;
        if hex(&Sha256::digest(&bytes)) != hash {
            return Err(CliError::Refused(format!(
                "the photo {hash} arrived damaged (its bytes hash to something else); retry"
            )));
        }
        Ok(Some(bytes))
    }
}

/// Stores a photo fetched from the relay (it holds it: marked sent).
pub fn keep_downloaded(store: &PhotoStore, hash: &str, bytes: &[u8]) -> Result<(), CliError> {
    store.put(hash, bytes)?;
    store.mark_sent(hash)
}

enum Step {
    Done,
    Progressed,
    Again,
    Damaged,
}

fn upload_offset(answer: &ureq::http::Response<ureq::Body>) -> Option<u64> {
    answer
        .headers()
        .get("upload-offset")?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn transient(e: ureq::Error) -> Failure {
    Failure::Transient(e.to_string())
}

fn error_of(body: Vec<u8>) -> String {
    serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_owned())
}

fn refused(status: u16, mut answer: ureq::http::Response<ureq::Body>) -> Failure {
    let why = error_of(answer.body_mut().read_to_vec().unwrap_or_default());
    match status {
        // A relay restarting behind a proxy, or one briefly overloaded.
        502..=504 => Failure::Transient(format!("HTTP {status}")),
        404 => Failure::Refused(
            "the relay holds no ticket listing this photo yet: sync the ticket first".into(),
        ),
        _ => Failure::Refused(format!("HTTP {status}: {why}")),
    }
}

/// A reader that reports how far the body has been read.
struct Counting<'a, R, F> {
    inner: R,
    at: u64,
    total: u64,
    progress: &'a mut F,
}

impl<R: Read, F: FnMut(u64, u64)> Read for Counting<'_, R, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.at += n as u64;
        (self.progress)(self.at, self.total);
        Ok(n)
    }
}
