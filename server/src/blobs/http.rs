//! The blob routes: tus 1.0 core with the creation extension for uploads,
//! and plain `GET` for photos and their thumbnails.
//!
//! | route | does |
//! |---|---|
//! | `OPTIONS /api/blobs` | `Tus-Version`, `Tus-Extension: creation`, `Tus-Max-Size` |
//! | `POST /api/blobs` | starts (or finds) the upload of the blob named by `Upload-Metadata: sha256 <base64 of its hex>`, `Upload-Length` bytes; 201, `Location: /api/blobs/<hex>`, `Upload-Offset` |
//! | `HEAD /api/blobs/<hex>` | `Upload-Offset` and `Upload-Length` (equal once finished) |
//! | `PATCH /api/blobs/<hex>` | appends the body (`application/offset+octet-stream`) at `Upload-Offset`; 204 and the new offset; 409 if the offset is not the relay's; 460 if the finished bytes do not hash to the name |
//! | `GET /api/blobs/<hex>` | the photo; `?size=thumb`: a JPEG of at most 320 px a side |
//!
//! The routes are listed in `crate::api::ROUTES` (the records API's router
//! serves them, and `/api/openapi.json` describes them). Every route
//! authenticates with [`auth::authenticate_request`] (bearer
//! token, `?token=`, or the console's session cookie with its CSRF token
//! for `POST` and `PATCH`); an open relay needs none. Access is the sync's
//! policy, asked of the tickets that reference the hash: uploading needs a
//! ticket the user may write that lists the photo, reading one the user may
//! read; for anybody else, and for a hash no ticket lists, the answer is
//! 404, as for a blob that does not exist.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use client_core::ids::TicketId;
use client_core::model::ticket;
use client_core::store::Store as _;
use futures_util::StreamExt as _;
use tokio::io::{AsyncSeekExt as _, AsyncWriteExt as _};
use tracing::{info, warn};

use super::{BlobError, BlobHash, Blobs, Finished, Started, Upload};
use crate::access;
use crate::auth::{self, Denial, Principal};
use crate::connection::Shared;
use crate::registry::now_ms;

/// Bytes appended between two fsyncs of a partial file and its recorded
/// offset: what a crashed relay may ask to be sent again.
const CHECKPOINT_BYTES: u64 = 256 * 1024;

const TUS_VERSION: &str = "1.0.0";
/// The offset+octet-stream media type of tus `PATCH` bodies.
const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";

/// What a route needs of the tickets referencing a blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Need {
    Read,
    Attach,
}

/// Adds the tus headers every answer carries.
fn tus(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn not_found() -> Denial {
    Denial::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such photo here: sync the ticket that holds it first (a photo is uploaded and \
         shown only for a ticket you may write or read)",
    )
}

/// A hash that is not 64 hex digits names no photo that could exist.
fn parse(hex: &str) -> Result<BlobHash, Denial> {
    BlobHash::parse(hex).ok_or_else(|| {
        Denial::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "a photo is named by the 64 hex digits of its SHA-256",
        )
    })
}

fn internal(e: &BlobError) -> Denial {
    if let BlobError::Image(_) = e {
        return Denial::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_an_image",
            "this photo is not a JPEG or PNG the relay can make a thumbnail of; fetch it whole",
        )
        .because(e.chain());
    }
    warn!(error = %e.chain(), "blob route failed");
    Denial::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the relay could not read or write its blob store; retry later",
    )
    .because(e.chain())
}

/// The requester: `None` on an open relay asked without credentials.
fn who(
    shared: &Shared,
    headers: &HeaderMap,
    query: Option<&str>,
    addr: SocketAddr,
    method: &Method,
) -> Result<Option<Principal>, Denial> {
    let query_token = query.and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("token="))
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    });
    let presented = query_token.is_some()
        || headers.contains_key(header::AUTHORIZATION)
        || headers.contains_key(header::COOKIE);
    if shared.gate.is_open() && !presented {
        return Ok(None);
    }
    auth::authenticate_request(shared, headers, query_token, addr, method, "/api/blobs").map(Some)
}

/// Whether some ticket that still lists `hash` lets `who` do `need`.
fn allowed(
    shared: &Shared,
    who: Option<&Principal>,
    hash: &BlobHash,
    need: Need,
) -> Result<bool, BlobError> {
    let hex = hash.hex();
    for id in shared.blobs.tickets_of(hash)? {
        let Some(stored) = shared.store.load(&id)? else {
            continue;
        };
        let Ok(doc) = automerge::Automerge::load(&stored.concat()) else {
            warn!(document = %id, "a ticket referencing a photo does not load; skipped");
            continue;
        };
        let lists = ticket::read(&doc, TicketId::from_document_id(&id))
            .is_ok_and(|t| t.photos.iter().any(|p| p.hash.eq_ignore_ascii_case(&hex)));
        if !lists {
            continue;
        }
        let ok = match (who, need) {
            (None, _) => true,
            (Some(p), Need::Read) => access::may_read_stored(p, &id, &doc),
            (Some(p), Need::Attach) => access::may_attach(p, &id, &doc),
        };
        if ok {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Runs `f` over the blob store on a blocking thread.
async fn blocking<T: Send + 'static>(
    shared: &Arc<Shared>,
    f: impl FnOnce(&Shared) -> Result<T, BlobError> + Send + 'static,
) -> Result<T, Denial> {
    let shared = shared.clone();
    match tokio::task::spawn_blocking(move || f(&shared)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(internal(&e)),
        Err(e) => {
            warn!(error = %e, "a blob task panicked");
            Err(Denial::internal())
        }
    }
}

async fn check_access(
    shared: &Arc<Shared>,
    who: Option<Principal>,
    hash: BlobHash,
    need: Need,
) -> Result<(), Denial> {
    if blocking(shared, move |s| allowed(s, who.as_ref(), &hash, need)).await? {
        Ok(())
    } else {
        Err(not_found())
    }
}

fn tus_version(headers: &HeaderMap) -> Result<(), Denial> {
    match headers.get("tus-resumable").and_then(|v| v.to_str().ok()) {
        Some(TUS_VERSION) => Ok(()),
        _ => Err(Denial::new(
            StatusCode::PRECONDITION_FAILED,
            "tus_version",
            "uploads speak tus 1.0.0: send `Tus-Resumable: 1.0.0`",
        )),
    }
}

fn number(headers: &HeaderMap, name: &str) -> Result<u64, Denial> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            Denial::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("send `{name}` as a number of bytes"),
            )
        })
}

fn offsets(mut response: Response, offset: u64, length: u64) -> Response {
    let h = response.headers_mut();
    h.insert("upload-offset", offset.into());
    h.insert("upload-length", length.into());
    response
}

fn or_denial(result: Result<Response, Denial>) -> Response {
    tus(result.unwrap_or_else(IntoResponse::into_response))
}

/// `OPTIONS /api/blobs`.
pub(crate) async fn options(State(shared): State<Arc<Shared>>) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    h.insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    h.insert("tus-extension", HeaderValue::from_static("creation"));
    h.insert("tus-max-size", shared.config.max_photo_bytes.into());
    tus(response)
}

/// The hash `Upload-Metadata` names (`sha256 <base64 of the hex>`).
fn metadata_hash(headers: &HeaderMap) -> Result<BlobHash, Denial> {
    let bad = || {
        Denial::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "name the photo in `Upload-Metadata: sha256 <base64 of its 64 hex digits>`",
        )
    };
    let meta = headers
        .get("upload-metadata")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(bad)?;
    let value = meta
        .split(',')
        .filter_map(|pair| pair.trim().split_once(' '))
        .find_map(|(k, v)| (k == "sha256").then_some(v))
        .ok_or_else(bad)?;
    let hex = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|_| bad())?;
    std::str::from_utf8(&hex)
        .ok()
        .and_then(BlobHash::parse)
        .ok_or_else(bad)
}

/// `POST /api/blobs` (tus creation).
pub(crate) async fn create(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    or_denial(create_inner(shared, addr, method, headers).await)
}

async fn create_inner(
    shared: Arc<Shared>,
    addr: SocketAddr,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, Denial> {
    let who = who(&shared, &headers, None, addr, &method)?;
    tus_version(&headers)?;
    let hash = metadata_hash(&headers)?;
    let length = number(&headers, "upload-length")?;
    let max = shared.config.max_photo_bytes;
    if length > max {
        info!(%addr, length, max, "photo upload refused (HTTP 413): too large");
        return Err(Denial::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "photo_too_large",
            format!(
                "a photo may hold at most {max} bytes and this one has {length}: \
                 take it at a lower resolution or compress it"
            ),
        ));
    }
    let user = who
        .as_ref()
        .map_or_else(|| "(open relay)".to_owned(), |p| p.user.clone());
    check_access(&shared, who, hash, Need::Attach).await?;
    let per_day = shared.config.max_upload_bytes_per_user_per_day;
    let (started, finished) = blocking(&shared, move |s| {
        if let Some(len) = s.blobs.finished(&hash)? {
            return Ok((None, Some(len)));
        }
        s.blobs
            .start(&hash, length, &user, now_ms(), per_day)
            .map(|st| (Some(st), None))
    })
    .await?;
    let location = format!("/api/blobs/{}", hash.hex());
    let created = |offset: u64, length: u64| {
        let mut response = offsets(StatusCode::CREATED.into_response(), offset, length);
        if let Ok(v) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, v);
        }
        response
    };
    if let Some(len) = finished {
        return Ok(created(len, len));
    }
    match started {
        Some(Started::New(u)) => {
            info!(%addr, blob = %hash.hex(), length, "photo upload started");
            Ok(created(u.offset, u.length))
        }
        Some(Started::Existing(u)) if u.length == length => Ok(created(u.offset, u.length)),
        Some(Started::Existing(u)) => Err(Denial::new(
            StatusCode::CONFLICT,
            "length_mismatch",
            format!(
                "an upload of this photo with {} bytes is under way; a photo's bytes are its \
                 name, so send the same file",
                u.length
            ),
        )),
        Some(Started::OverQuota { used }) => {
            warn!(%addr, used, length, per_day, "photo upload refused (HTTP 429): daily bytes used up");
            Err(Denial::new(
                StatusCode::TOO_MANY_REQUESTS,
                "upload_quota",
                format!(
                    "you have uploaded {used} of your {per_day} bytes for today (UTC) and this \
                     photo needs {length}: it stays on the device and is sent tomorrow"
                ),
            ))
        }
        None => Err(Denial::internal()),
    }
}

/// `HEAD /api/blobs/<hex>`.
pub(crate) async fn head(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    method: Method,
    headers: HeaderMap,
    Path(hex): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    or_denial(
        async {
            let who = who(&shared, &headers, query.as_deref(), addr, &method)?;
            let hash = parse(&hex)?;
            let (finished, upload) = blocking(&shared, move |s| {
                Ok((s.blobs.finished(&hash)?, s.blobs.upload(&hash)?))
            })
            .await?;
            match (finished, upload) {
                (Some(len), _) => {
                    check_access(&shared, who, hash, Need::Read).await?;
                    Ok(offsets(StatusCode::OK.into_response(), len, len))
                }
                (None, Some(u)) => {
                    check_access(&shared, who, hash, Need::Attach).await?;
                    Ok(offsets(StatusCode::OK.into_response(), u.offset, u.length))
                }
                (None, None) => Err(not_found()),
            }
        }
        .await,
    )
}

/// `PATCH /api/blobs/<hex>`.
pub(crate) async fn patch(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    method: Method,
    headers: HeaderMap,
    Path(hex): Path<String>,
    body: Body,
) -> Response {
    or_denial(patch_inner(shared, addr, method, headers, hex, body).await)
}

async fn patch_inner(
    shared: Arc<Shared>,
    addr: SocketAddr,
    method: Method,
    headers: HeaderMap,
    hex: String,
    body: Body,
) -> Result<Response, Denial> {
    let who = who(&shared, &headers, None, addr, &method)?;
    tus_version(&headers)?;
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if media != Some(OFFSET_OCTET_STREAM) {
        return Err(Denial::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "bad_request",
            "send the bytes as `Content-Type: application/offset+octet-stream`",
        ));
    }
    let offset = number(&headers, "upload-offset")?;
    let hash = parse(&hex)?;
    let user = who.as_ref().map(|p| p.user.clone());
    check_access(&shared, who, hash, Need::Attach).await?;
    let blobs: &Blobs = &shared.blobs;
    let Some(_busy) = blobs.lock(hash) else {
        return Err(Denial::new(
            StatusCode::CONFLICT,
            "upload_busy",
            "another request is sending this photo; ask HEAD for the offset and retry",
        ));
    };
    let (finished, upload) = blocking(&shared, move |s| {
        Ok((s.blobs.finished(&hash)?, s.blobs.upload(&hash)?))
    })
    .await?;
    let upload = match (finished, upload) {
        (Some(len), _) => {
            return Ok(conflict(
                len,
                len,
                "the relay holds this photo whole already",
            ));
        }
        (None, None) => {
            return Err(Denial::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no upload of this photo is under way: start one with POST /api/blobs",
            ));
        }
        (None, Some(u)) => u,
    };
    if let Some(user) = &user
        && *user != upload.uploader
    {
        return Err(Denial::new(
            StatusCode::FORBIDDEN,
            "not_your_upload",
            "another user is uploading this photo; it appears once they finish",
        ));
    }
    if offset != upload.offset {
        return Ok(conflict(
            upload.offset,
            upload.length,
            "the relay holds another offset: ask HEAD and send from there",
        ));
    }
    let reached = append(&shared, addr, &hash, &upload, body).await?;
    if reached < upload.length {
        return Ok(offsets(
            StatusCode::NO_CONTENT.into_response(),
            reached,
            upload.length,
        ));
    }
    let done = upload.clone();
    match blocking(&shared, move |s| s.blobs.finish(&hash, &done)).await? {
        Finished::Kept => {
            info!(%addr, blob = %hash.hex(), length = upload.length, "photo stored");
            Ok(offsets(
                StatusCode::NO_CONTENT.into_response(),
                reached,
                upload.length,
            ))
        }
        Finished::Mismatch { got } => {
            warn!(%addr, blob = %hash.hex(), got = %got.hex(), "photo refused (HTTP 460): its bytes do not hash to its name; partial upload dropped");
            Err(Denial::new(
                StatusCode::from_u16(460).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
                "hash_mismatch",
                format!(
                    "the bytes received hash to {}, not to the photo's name: they were \
                     damaged on the way and have been dropped; send the photo again from the \
                     start (POST /api/blobs)",
                    got.hex()
                ),
            ))
        }
    }
}

/// 409 with the relay's offset, to send from.
fn conflict(offset: u64, length: u64, why: &'static str) -> Response {
    offsets(
        Denial::new(StatusCode::CONFLICT, "offset_mismatch", why).into_response(),
        offset,
        length,
    )
}

/// Appends the body to the partial file from `upload.offset`, fsyncing and
/// recording the offset every [`CHECKPOINT_BYTES`] and when the body ends
/// (or breaks off: what arrived is kept). Returns the offset reached.
async fn append(
    shared: &Arc<Shared>,
    addr: SocketAddr,
    hash: &BlobHash,
    upload: &Upload,
    body: Body,
) -> Result<u64, Denial> {
    let io = |e: std::io::Error| internal(&BlobError::Io(e));
    // Created if the sweep took a file whose row was not yet written.
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(shared.blobs.partial_path(hash))
        .await
        .map_err(io)?;
    // Bytes written past the recorded offset before a crash are not trusted.
    file.set_len(upload.offset).await.map_err(io)?;
    file.seek(std::io::SeekFrom::Start(upload.offset))
        .await
        .map_err(io)?;
    let mut at = upload.offset;
    let mut synced = at;
    let mut stream = body.into_data_stream();
    let mut too_long = false;
    let mut broke = None;
    let idle = shared.config.upload_idle_timeout;
    loop {
        // A body that stops arriving without its connection closing (a
        // link gone silent) ends here, so the lock goes with the handler.
        let bytes = match tokio::time::timeout(idle, stream.next()).await {
            Err(_) => {
                info!(%addr, blob = %hash.hex(), offset = at, idle_secs = idle.as_secs_f64(), "photo upload stalled; kept what arrived");
                break;
            }
            Ok(None) => break,
            Ok(Some(Ok(bytes))) => bytes,
            Ok(Some(Err(e))) => {
                broke = Some(e);
                break;
            }
        };
        let room = usize::try_from(upload.length - at).unwrap_or(usize::MAX);
        let take = bytes.len().min(room);
        file.write_all(&bytes[..take]).await.map_err(io)?;
        at += take as u64;
        if take < bytes.len() {
            too_long = true;
            break;
        }
        if at - synced >= CHECKPOINT_BYTES {
            synced = checkpoint(shared, &mut file, hash, upload, at).await?;
        }
    }
    if at != synced {
        checkpoint(shared, &mut file, hash, upload, at).await?;
    }
    if let Some(e) = broke {
        info!(%addr, blob = %hash.hex(), offset = at, error = %e, "photo upload broke off; kept what arrived");
    }
    if too_long {
        return Err(Denial::new(
            StatusCode::BAD_REQUEST,
            "too_long",
            "the body runs past the upload's declared length; the bytes up to it were kept",
        ));
    }
    Ok(at)
}

async fn checkpoint(
    shared: &Arc<Shared>,
    file: &mut tokio::fs::File,
    hash: &BlobHash,
    upload: &Upload,
    at: u64,
) -> Result<u64, Denial> {
    file.flush()
        .await
        .map_err(|e| internal(&BlobError::Io(e)))?;
    file.sync_data()
        .await
        .map_err(|e| internal(&BlobError::Io(e)))?;
    let (hash, upload) = (*hash, upload.clone());
    blocking(shared, move |s| {
        s.blobs.record_offset(&hash, &upload, at, now_ms())
    })
    .await?;
    Ok(at)
}

/// `GET /api/blobs/<hex>[?size=thumb]`.
pub(crate) async fn get(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    method: Method,
    headers: HeaderMap,
    Path(hex): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let result = async {
        let who = who(&shared, &headers, query.as_deref(), addr, &method)?;
        let hash = parse(&hex)?;
        let thumb = query
            .as_deref()
            .is_some_and(|q| q.split('&').any(|p| p == "size=thumb"));
        if blocking(&shared, move |s| s.blobs.finished(&hash))
            .await?
            .is_none()
        {
            return Err(not_found());
        }
        check_access(&shared, who, hash, Need::Read).await?;
        let bytes = blocking(&shared, move |s| {
            if thumb {
                s.blobs.thumbnail(&hash)
            } else {
                std::fs::read(s.blobs.path(&hash))
                    .map(Some)
                    .map_err(BlobError::from)
            }
        })
        .await;
        let bytes = match bytes {
            Ok(Some(b)) => b,
            Ok(None) => return Err(not_found()),
            Err(denial) => return Err(denial),
        };
        let media = if thumb { "image/jpeg" } else { sniff(&bytes) };
        let mut response = Body::from(bytes).into_response();
        let h = response.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, max-age=31536000, immutable"),
        );
        if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", hash.hex())) {
            h.insert(header::ETAG, etag);
        }
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        Ok(response)
    }
    .await;
    match result {
        Ok(response) => response,
        Err(denial) => tus(denial.into_response()),
    }
}

/// The media type of a photo's bytes (JPEG and PNG by their magic).
fn sniff(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        "image/jpeg"
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else {
        "application/octet-stream"
    }
}
