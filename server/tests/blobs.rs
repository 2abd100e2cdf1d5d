//! Photos through the relay's blob routes (tus 1.0 core + creation), over
//! real sockets: an upload resumes from the offset the relay holds and a
//! wrong offset is answered 409 with it; bytes that do not hash to the
//! photo's name are refused and dropped, and the photo is taken when sent
//! again; a photo is uploaded only for a ticket the uploader may write and
//! read only by those who may read such a ticket (everyone else, and a
//! guessed hash, gets 404); thumbnails are JPEGs of at most 320 px; the
//! size and daily limits answer 413 and 429; the sweep removes stale
//! partial uploads and blobs no ticket lists any more.
//!
//! The city is `support::city`: `wang` works G-01 (ticket `t1`), `li`
//! G-02, `zhou` supervises G-01 and G-02, `zhao` reviews, `wuye` is the
//! unit `t1` is dispatched to.

mod support;

use std::time::Duration;

use automerge::transaction::Transactable as _;
use automerge::{ROOT, ReadDoc as _};
use base64::Engine as _;
use client_core::ids::TicketId;
use server::Config;
use sha2::{Digest, Sha256};
use support::PATIENCE;
use support::city::{City, config};
use support::http::{Answer, Request};

/// A PNG of `w`×`h` pixels with some texture (so it is not tiny).
fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 7 % 256) as u8,
            (y * 13 % 256) as u8,
            ((x ^ y) % 256) as u8,
        ])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `wang` puts the photo `bytes` on ticket `t` (phase before) and syncs it.
async fn attach(city: &City, t: TicketId, bytes: &[u8]) -> String {
    let hash = hex(bytes);
    let mut wang = city.join("wang", &["G-01"]).await;
    assert!(wang.fetch(&t.document_id()).await);
    wang.device.add_photo(t, &hash, "before", 10).unwrap();
    wang.try_push(&t.document_id()).await.unwrap();
    hash
}

async fn create(city: &City, user: &str, hash: &str, length: usize) -> Answer {
    let meta = base64::engine::general_purpose::STANDARD.encode(hash);
    Request::post("/api/blobs")
        .bearer(&city.tokens[user])
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", &length.to_string())
        .header("Upload-Metadata", &format!("sha256 {meta}"))
        .send(city.server.addr)
        .await
}

async fn patch(city: &City, user: &str, hash: &str, offset: usize, bytes: &[u8]) -> Answer {
    Request::new("PATCH", &format!("/api/blobs/{hash}"))
        .bearer(&city.tokens[user])
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", &offset.to_string())
        .header("Content-Type", "application/offset+octet-stream")
        .bytes(bytes)
        .send(city.server.addr)
        .await
}

async fn head(city: &City, user: &str, hash: &str) -> Answer {
    Request::new("HEAD", &format!("/api/blobs/{hash}"))
        .bearer(&city.tokens[user])
        .send(city.server.addr)
        .await
}

async fn get(city: &City, user: &str, path: &str) -> Answer {
    Request::get(path)
        .bearer(&city.tokens[user])
        .send(city.server.addr)
        .await
}

fn offset(a: &Answer) -> usize {
    a.header("upload-offset")
        .unwrap_or_else(|| panic!("HTTP {} without Upload-Offset: {}", a.status, a.body))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn an_upload_resumes_from_the_relays_offset_and_only_readers_of_the_ticket_get_it() {
    let city = City::start(config()).await;
    let photo = png(600, 400);
    let hash = attach(&city, city.t1, &photo).await;

    let created = create(&city, "wang", &hash, photo.len()).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.header("tus-resumable"), Some("1.0.0"));
    assert_eq!(
        created.header("location"),
        Some(format!("/api/blobs/{hash}").as_str())
    );
    assert_eq!(offset(&created), 0);

    let half = photo.len() / 2;
    let first = patch(&city, "wang", &hash, 0, &photo[..half]).await;
    assert_eq!(first.status, 204, "{}", first.body);
    assert_eq!(offset(&first), half);
    assert_eq!(offset(&head(&city, "wang", &hash).await), half);
    // Not yet a photo anyone can read.
    assert_eq!(
        get(&city, "wang", &format!("/api/blobs/{hash}"))
            .await
            .status,
        404
    );

    // Sent again from 0 (as by a client that lost the answer): refused with
    // the relay's offset, nothing appended twice.
    let wrong = patch(&city, "wang", &hash, 0, &photo[..half]).await;
    assert_eq!(wrong.status, 409, "{}", wrong.body);
    assert_eq!(offset(&wrong), half);

    let rest = patch(&city, "wang", &hash, half, &photo[half..]).await;
    assert_eq!(rest.status, 204, "{}", rest.body);
    assert_eq!(offset(&rest), photo.len());
    let whole = head(&city, "wang", &hash).await;
    assert_eq!(
        (offset(&whole), whole.header("upload-length")),
        (photo.len(), Some(photo.len().to_string().as_str()))
    );

    for reader in ["wang", "zhou", "wuye", "zhao", "root"] {
        let got = get(&city, reader, &format!("/api/blobs/{hash}")).await;
        assert_eq!(got.status, 200, "{reader}: {}", got.body);
        assert_eq!(got.raw, photo, "{reader}");
        assert_eq!(got.header("content-type"), Some("image/png"));
    }
    // A worker of another grid, and a hash nobody attached: 404 alike.
    let outsider = get(&city, "li", &format!("/api/blobs/{hash}")).await;
    assert_eq!(outsider.status, 404, "{}", outsider.body);
    assert_eq!(outsider.reason(), "not_found");
    assert_eq!(head(&city, "li", &hash).await.status, 404);
    let guessed = hex(b"a guess");
    assert_eq!(
        get(&city, "wang", &format!("/api/blobs/{guessed}"))
            .await
            .status,
        404
    );
    // Without a token: 401.
    let anonymous = Request::get(&format!("/api/blobs/{hash}"))
        .send(city.server.addr)
        .await;
    assert_eq!(anonymous.status, 401);

    let thumb = get(&city, "zhou", &format!("/api/blobs/{hash}?size=thumb")).await;
    assert_eq!(thumb.status, 200, "{}", thumb.body);
    assert_eq!(thumb.header("content-type"), Some("image/jpeg"));
    let small = image::load_from_memory(&thumb.raw).unwrap();
    assert_eq!((small.width(), small.height()), (320, 213));
    // Made once: the stored one is served again.
    let again = get(&city, "wang", &format!("/api/blobs/{hash}?size=thumb")).await;
    assert_eq!(again.raw, thumb.raw);
    assert!(
        city._dir
            .path()
            .join("blobs/thumbs")
            .join(format!("{hash}.jpg"))
            .exists()
    );
    assert_eq!(
        std::fs::read(city._dir.path().join("blobs").join(&hash)).unwrap(),
        photo
    );
}

#[tokio::test]
async fn damaged_bytes_are_refused_and_dropped_and_the_photo_is_taken_when_sent_again() {
    let city = City::start(config()).await;
    let photo = png(200, 200);
    let hash = attach(&city, city.t1, &photo).await;
    assert_eq!(create(&city, "wang", &hash, photo.len()).await.status, 201);
    let mut damaged = photo.clone();
    damaged[photo.len() / 3] ^= 0x40;
    let refused = patch(&city, "wang", &hash, 0, &damaged).await;
    assert_eq!(refused.status, 460, "{}", refused.body);
    assert_eq!(refused.reason(), "hash_mismatch");
    assert!(
        refused.json()["error"]
            .as_str()
            .unwrap()
            .contains("send the photo again")
    );
    // Nothing of it is kept: no photo, no upload, no partial file.
    assert_eq!(head(&city, "wang", &hash).await.status, 404);
    assert!(!city._dir.path().join("blobs/partial").join(&hash).exists());
    assert!(!city._dir.path().join("blobs").join(&hash).exists());

    let again = create(&city, "wang", &hash, photo.len()).await;
    assert_eq!((again.status, offset(&again)), (201, 0));
    assert_eq!(patch(&city, "wang", &hash, 0, &photo).await.status, 204);
    assert_eq!(
        get(&city, "zhou", &format!("/api/blobs/{hash}")).await.raw,
        photo
    );
    // Another upload of a photo the relay holds sends nothing.
    let held = create(&city, "wang", &hash, photo.len()).await;
    assert_eq!((held.status, offset(&held)), (201, photo.len()));
}

#[tokio::test]
async fn only_a_writer_of_a_ticket_that_lists_the_photo_may_upload_it() {
    let city = City::start(config()).await;
    let photo = png(64, 64);
    // Listed by no ticket: nobody may upload it.
    let unlisted = hex(&photo);
    let refused = create(&city, "wang", &unlisted, photo.len()).await;
    assert_eq!(
        (refused.status, refused.reason().as_str()),
        (404, "not_found")
    );
    let hash = attach(&city, city.t1, &photo).await;
    // li works another grid; zhao reviews (reads, never writes).
    for user in ["li", "zhao"] {
        let refused = create(&city, user, &hash, photo.len()).await;
        assert_eq!(refused.status, 404, "{user}: {}", refused.body);
    }
    // The unit the ticket is dispatched to writes it, and may.
    let unit = create(&city, "wuye", &hash, photo.len()).await;
    assert_eq!(unit.status, 201, "{}", unit.body);
    // Only the uploader continues an upload.
    let other = patch(&city, "zhou", &hash, 0, &photo).await;
    assert_eq!(
        (other.status, other.reason().as_str()),
        (403, "not_your_upload")
    );
    // A tus request without its version header is refused.
    let bare = Request::new("PATCH", &format!("/api/blobs/{hash}"))
        .bearer(&city.tokens["wuye"])
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/offset+octet-stream")
        .bytes(&photo)
        .send(city.server.addr)
        .await;
    assert_eq!(bare.status, 412);
    let options = Request::new("OPTIONS", "/api/blobs")
        .send(city.server.addr)
        .await;
    assert_eq!(options.header("tus-version"), Some("1.0.0"));
    assert_eq!(options.header("tus-extension"), Some("creation"));
}

#[tokio::test]
async fn a_photo_that_is_no_image_is_served_whole_and_its_thumbnail_refused() {
    let city = City::start(config()).await;
    let bytes = b"not an image at all, just bytes".repeat(100);
    let hash = attach(&city, city.t1, &bytes).await;
    assert_eq!(create(&city, "wang", &hash, bytes.len()).await.status, 201);
    assert_eq!(patch(&city, "wang", &hash, 0, &bytes).await.status, 204);
    let whole = get(&city, "wang", &format!("/api/blobs/{hash}")).await;
    assert_eq!(
        (whole.status, whole.raw.as_slice()),
        (200, bytes.as_slice())
    );
    assert_eq!(
        whole.header("content-type"),
        Some("application/octet-stream")
    );
    let thumb = get(&city, "wang", &format!("/api/blobs/{hash}?size=thumb")).await;
    assert_eq!(
        (thumb.status, thumb.reason().as_str()),
        (422, "not_an_image")
    );
    // A name that is no hash at all.
    assert_eq!(get(&city, "wang", "/api/blobs/abc").await.status, 400);
}

#[tokio::test]
async fn the_size_and_daily_limits_answer_413_and_429() {
    let photo = png(300, 300);
    let second = png(301, 300);
    let city = City::start(Config {
        max_photo_bytes: 2 * photo.len() as u64,
        max_upload_bytes_per_user_per_day: (photo.len() + second.len()) as u64 - 1,
        ..config()
    })
    .await;
    let hash = attach(&city, city.t1, &photo).await;
    let too_big = create(&city, "wang", &hash, 2 * photo.len() + 1).await;
    assert_eq!(
        (too_big.status, too_big.reason().as_str()),
        (413, "photo_too_large")
    );
    assert!(
        too_big.json()["error"]
            .as_str()
            .unwrap()
            .contains("at most")
    );
    assert_eq!(create(&city, "wang", &hash, photo.len()).await.status, 201);
    assert_eq!(patch(&city, "wang", &hash, 0, &photo).await.status, 204);
    let hash2 = attach(&city, city.t1, &second).await;
    let over = create(&city, "wang", &hash2, second.len()).await;
    assert_eq!((over.status, over.reason().as_str()), (429, "upload_quota"));
    assert!(over.json()["error"].as_str().unwrap().contains("tomorrow"));
    // Another user's day is their own.
    assert_eq!(
        create(&city, "zhou", &hash2, second.len()).await.status,
        201
    );
}

/// A link that goes silent in the middle of a PATCH body, without closing
/// (a phone out of reach): the relay used to wait on the body for as long
/// as the socket lived, holding the photo's upload lock, so the device's
/// resume got `409 upload_busy` again and again. Now the body read times
/// out after `upload_idle_timeout` of no bytes, what arrived is kept, and
/// the resume (HEAD for the offset, PATCH from it) completes. The second
/// request while the first still held the photo also found that `409
/// upload_busy` was never answered: `Blobs::lock` dropped a `Busy` while
/// holding the set's mutex, which deadlocked the relay's worker thread.
#[tokio::test]
async fn an_upload_whose_link_goes_silent_is_let_go_and_resumed_from_what_arrived() {
    use tokio::io::AsyncWriteExt as _;
    let city = City::start(Config {
        upload_idle_timeout: Duration::from_secs(1),
        ..config()
    })
    .await;
    let photo = png(500, 400);
    let hash = attach(&city, city.t1, &photo).await;
    assert_eq!(create(&city, "wang", &hash, photo.len()).await.status, 201);

    // The stalled request: every header, a body of the whole length
    // announced, a third of it sent, then nothing; the socket stays open.
    let third = photo.len() / 3;
    let mut stalled = tokio::net::TcpStream::connect(city.server.addr)
        .await
        .unwrap();
    let head_lines = format!(
        "PATCH /api/blobs/{hash} HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer {}\r\n\
         Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n\
         Content-Type: application/offset+octet-stream\r\nContent-Length: {}\r\n\r\n",
        city.tokens["wang"],
        photo.len()
    );
    stalled.write_all(head_lines.as_bytes()).await.unwrap();
    stalled.write_all(&photo[..third]).await.unwrap();
    stalled.flush().await.unwrap();
    // While the body is still expected, the photo is busy.
    tokio::time::sleep(Duration::from_millis(200)).await;
    // (A few bytes: a relay that answers without reading would leave a
    // big body unsent in a full socket buffer.)
    let busy = patch(&city, "wang", &hash, third, &photo[third..third + 16]).await;
    assert_eq!((busy.status, busy.reason().as_str()), (409, "upload_busy"));

    // A second past the last byte the relay lets the stalled body go.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let at = offset(&head(&city, "wang", &hash).await);
    assert_eq!(at, third, "the relay kept what arrived");
    let rest = patch(&city, "wang", &hash, at, &photo[at..]).await;
    assert_eq!(rest.status, 204, "{}", rest.body);
    assert_eq!(offset(&rest), photo.len());
    let got = get(&city, "zhou", &format!("/api/blobs/{hash}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(hex(&got.raw), hash);
    drop(stalled);
}

#[tokio::test]
async fn the_sweep_removes_stale_uploads_and_photos_no_ticket_lists() {
    let city = City::start(Config {
        blob_grace: Duration::from_secs(2),
        blob_sweep_interval: Duration::from_millis(50),
        ..config()
    })
    .await;
    let kept = png(40, 40);
    let kept_hash = attach(&city, city.t1, &kept).await;
    assert_eq!(
        create(&city, "wang", &kept_hash, kept.len()).await.status,
        201
    );
    assert_eq!(patch(&city, "wang", &kept_hash, 0, &kept).await.status, 204);
    let dropped = png(41, 40);
    let dropped_hash = attach(&city, city.t1, &dropped).await;
    assert_eq!(
        create(&city, "wang", &dropped_hash, dropped.len())
            .await
            .status,
        201
    );
    assert_eq!(
        patch(&city, "wang", &dropped_hash, 0, &dropped)
            .await
            .status,
        204
    );
    let partial = png(42, 40);
    let partial_hash = attach(&city, city.t1, &partial).await;
    assert_eq!(
        create(&city, "wang", &partial_hash, partial.len())
            .await
            .status,
        201
    );
    assert_eq!(
        patch(&city, "wang", &partial_hash, 0, &partial[..10])
            .await
            .status,
        204
    );

    // The ticket stops listing the second photo.
    let mut wang = city.join("wang", &["G-01"]).await;
    assert!(wang.fetch(&city.t1.document_id()).await);
    wang.device
        .repo()
        .change(&city.t1.document_id(), |tx| {
            let (_, photos) = tx.get(ROOT, "photos")?.expect("a photos list");
            let at = (0..tx.length(&photos))
                .find(|i| {
                    let (_, m) = tx.get(&photos, *i).unwrap().unwrap();
                    tx.get(&m, "hash").unwrap().unwrap().0.as_str() == Some(dropped_hash.as_str())
                })
                .expect("the photo is listed");
            tx.delete(&photos, at)
        })
        .unwrap();
    wang.try_push(&city.t1.document_id()).await.unwrap();

    let blobs = city._dir.path().join("blobs");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while blobs.join(&dropped_hash).exists() || blobs.join("partial").join(&partial_hash).exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sweep never ran"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(blobs.join(&kept_hash).exists(), "a listed photo is kept");
    assert_eq!(
        get(&city, "wang", &format!("/api/blobs/{kept_hash}"))
            .await
            .raw,
        kept
    );
    assert_eq!(
        get(&city, "wang", &format!("/api/blobs/{dropped_hash}"))
            .await
            .status,
        404
    );
    assert_eq!(head(&city, "wang", &partial_hash).await.status, 404);
}
