//! Photos end to end, with the real `gridsync-server` and `gridsync`
//! binaries and the degraded-link proxy (`tests::proxy`) between them:
//! a photo attached offline is durable on the device and shown as not
//! uploaded; `gridsync sync` uploads it after the documents; a copy damaged
//! in transit is refused by the relay (its bytes do not hash to its name)
//! and sent again; a supervisor gets it with `ticket photo get`, a worker
//! of another grid gets 404; the export lists the photo; and a relay
//! SIGKILLed in the middle of an upload takes the rest after its restart
//! without the device sending it all again.
//!
//! The slow-link test (3 MB at 50 kbit/s with cuts) is `photo_slow_link.rs`,
//! a test binary of its own so nothing waits on it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tests::city::{http_get, set_up};
use tests::proxy::{Proxy, Shape};
use tests::{Cli, Relay, bin, photo_bytes};

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn device(dir: &Path, name: &str, url: &str, token: &str) -> Cli {
    let cli = Cli::new(&dir.join(name));
    cli.ok(&["login", "--server", url, "--token", token]);
    cli
}

#[test]
fn a_photo_damaged_on_the_way_is_refused_and_sent_again_and_only_the_grid_sees_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    let tokens = set_up(&data);
    let relay = Relay::start(&data);
    let link = Proxy::start(
        &relay.addr,
        Shape {
            latency: Duration::from_millis(20),
            damage_patch_at: Some(10_000),
            ..Shape::default()
        },
    );
    let wang = device(tmp.path(), "wang", &link.url(), &tokens["wang"]);

    // Offline: the ticket and its photo.
    let bytes = photo_bytes(120_000, 7);
    let file = tmp.path().join("井盖.jpg");
    std::fs::write(&file, &bytes).unwrap();
    let hash = hex(&bytes);
    let made = wang.json(&[
        "ticket",
        "new",
        "--grid",
        "GL-01",
        "--title",
        "井盖缺失",
        "--photo",
        file.to_str().unwrap(),
    ]);
    let id = made["id"].as_str().unwrap().to_owned();
    assert_eq!(made["photos"][0], hash.as_str());
    // On the device, whatever happens to the original file.
    std::fs::remove_file(&file).unwrap();
    let stored = wang.data.join("photos").join(&hash);
    assert_eq!(std::fs::read(&stored).unwrap(), bytes);
    let shown = wang.ok(&["ticket", "show", &id]);
    assert!(shown.contains("not uploaded yet"), "{shown}");
    assert_eq!(
        wang.json(&["ticket", "show", &id])["photos_not_uploaded"][0],
        hash.as_str()
    );

    let synced = wang.json(&["sync"]);
    assert_eq!(synced["photos_uploaded"], 1, "{synced}");
    assert_eq!(synced["photos_not_uploaded"].as_array().unwrap().len(), 0);
    assert!(link.damaged(), "the proxy damaged no byte");
    // The relay kept only bytes that hash right, and got them twice.
    let kept = std::fs::read(data.join("blobs").join(&hash)).unwrap();
    assert_eq!(hex(&kept), hash);
    assert!(
        link.bytes_up() > 2 * bytes.len() as u64,
        "sent {} bytes for a photo of {}: the damaged copy was not refused",
        link.bytes_up(),
        bytes.len()
    );
    assert!(
        !wang
            .ok(&["ticket", "show", &id])
            .contains("not uploaded yet")
    );

    // The street supervisor gets it; a worker of another grid does not.
    let chen = device(tmp.path(), "chen", &relay.url(), &tokens["chen"]);
    chen.ok(&["sync"]);
    let out = tmp.path().join("chen-photos");
    let got = chen.json(&[
        "ticket",
        "photo",
        "get",
        &id,
        "--out",
        out.to_str().unwrap(),
    ]);
    let written = got["written"][0].as_str().unwrap();
    assert!(
        written.ends_with(&format!("before-{hash}.jpg")),
        "{written}"
    );
    assert_eq!(std::fs::read(written).unwrap(), bytes);
    let path = format!("/api/blobs/{hash}");
    assert_eq!(http_get(&relay.addr, &path, &tokens["chen"]).0, 200);
    let (status, body) = http_get(&relay.addr, &path, &tokens["li"]);
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));

    // The export lists the photo and links to the relay's copy.
    let report: serde_json::Value =
        serde_json::from_str(&chen.ok(&["export", "--format", "json", "--out", "-"])).unwrap();
    let row = report["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .expect("the ticket is exported");
    assert_eq!(row["photos"], 1);
    assert_eq!(
        row["photo_links"],
        format!("before http://{}/api/blobs/{hash}", relay.addr).as_str()
    );
}

#[test]
fn a_relay_killed_in_the_middle_of_an_upload_takes_the_rest_after_its_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    let tokens = set_up(&data);
    let relay = Relay::start(&data);
    let addr = relay.addr.clone();
    // 1 Mbit/s: 2 MB take about 17 s, time to kill the relay half way.
    let link = Proxy::start(
        &addr,
        Shape {
            bits_per_sec: Some(1_000_000),
            latency: Duration::from_millis(20),
            ..Shape::default()
        },
    );
    let wang = device(tmp.path(), "wang", &link.url(), &tokens["wang"]);
    let id = wang.json(&["ticket", "new", "--grid", "GL-01", "--title", "路灯不亮"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wang.ok(&["sync"]);
    let bytes = photo_bytes(2_000_000, 11);
    let hash = hex(&bytes);
    let file = tmp.path().join("after.jpg");
    std::fs::write(&file, &bytes).unwrap();
    wang.ok(&[
        "ticket",
        "photo",
        "add",
        &id,
        file.to_str().unwrap(),
        "--phase",
        "after",
    ]);
    let sent_before = link.bytes_up();

    let mut sync = Command::new(bin("gridsync"))
        .arg("--data")
        .arg(&wang.data)
        .args(["--json", "sync"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let partial = data.join("blobs/partial").join(&hash);
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::fs::metadata(&partial).map_or(0, |m| m.len()) < bytes.len() as u64 / 2 {
        assert!(Instant::now() < deadline, "the upload never got half way");
        assert!(
            sync.try_wait().unwrap().is_none(),
            "sync ended before the kill"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    relay.kill();
    let relay = Relay::start_on(&data, &addr);

    let out = sync.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "sync failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let kept = std::fs::read(data.join("blobs").join(&hash)).unwrap();
    assert_eq!(hex(&kept), hash);
    // Resumed: starting over would have sent at least 1.5 times the photo.
    let sent = link.bytes_up() - sent_before;
    assert!(
        sent < bytes.len() as u64 * 13 / 10,
        "sent {sent} bytes for a photo of {}: the upload started over",
        bytes.len()
    );
    assert_eq!(
        http_get(&relay.addr, &format!("/api/blobs/{hash}"), &tokens["wang"]),
        (200, bytes)
    );
}

/// The README's walk-through, "A photo from the field to the console":
/// the worker names the link's address to a `sync` that fails (nothing
/// listens there yet), and once `gridsync-proxy` is up a plain `sync`
/// goes through it. `sync --server` used to remember the address only
/// after a sync that worked, so that plain `sync` went straight to the
/// relay the device logged in to and the proxy carried nothing.
#[test]
fn the_address_given_to_a_sync_that_failed_is_the_one_the_next_sync_uses() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    let tokens = set_up(&data);
    let relay = Relay::start(&data);
    let wang = device(tmp.path(), "wang", &relay.url(), &tokens["wang"]);
    wang.ok(&["sync"]);

    // On patrol: the ticket and its photo, and the link's address.
    let bytes = photo_bytes(50_000, 3);
    let file = tmp.path().join("IMG_0412.jpg");
    std::fs::write(&file, &bytes).unwrap();
    let hash = hex(&bytes);
    wang.ok(&[
        "ticket",
        "new",
        "--grid",
        "GL-01",
        "--title",
        "路口垃圾堆积",
        "--photo",
        file.to_str().unwrap(),
    ]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap();
    drop(listener);
    let link_url = format!("ws://{port}/");
    let out = wang.run(&["sync", "--server", &link_url, "--timeout", "5"]);
    assert_eq!(out.status.code(), Some(4), "out of reach: exit 4");
    assert_eq!(wang.json(&["whoami"])["server"], link_url.as_str());

    // The signal returns through the link; a plain `sync` takes it.
    let link = Proxy::start_on(
        std::net::TcpListener::bind(port).unwrap(),
        relay.addr.parse().unwrap(),
        Shape {
            latency: Duration::from_millis(20),
            ..Shape::default()
        },
    );
    let synced = wang.json(&["sync"]);
    assert_eq!(synced["relay"], link_url.as_str());
    assert_eq!(synced["photos_uploaded"], 1, "{synced}");
    assert!(
        link.bytes_up() > bytes.len() as u64,
        "{} bytes crossed the link for a photo of {}: the sync went round it",
        link.bytes_up(),
        bytes.len()
    );
    assert_eq!(
        hex(&std::fs::read(data.join("blobs").join(&hash)).unwrap()),
        hash
    );
}

/// A photo stored on the device for a record the device then refused (a
/// ticket in a grid not the worker's, a photo added by a reviewer) was
/// kept, and `sync` offered every stored photo: the relay answered 404
/// (no ticket lists it) and `sync` exited 4 on every run, for good. Now a
/// refused command stores nothing, and `sync` offers only photos a ticket
/// lists (a file left by a crash between storing and recording is never
/// offered).
#[test]
fn a_photo_for_a_refused_record_is_not_kept_and_never_holds_sync_back() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    let tokens = set_up(&data);
    tests::city::admin(
        &data,
        &[
            "user",
            "add",
            "--name",
            "zhao",
            "--role",
            "reviewer",
            "--scope",
            "street:文三街道",
        ],
    );
    let zhao_token: serde_json::Value = serde_json::from_str(&tests::city::admin(
        &data,
        &["token", "issue", "--user", "zhao", "--json"],
    ))
    .unwrap();
    let relay = Relay::start(&data);
    let wang = device(tmp.path(), "wang", &relay.url(), &tokens["wang"]);
    let zhao = device(
        tmp.path(),
        "zhao",
        &relay.url(),
        zhao_token["token"].as_str().unwrap(),
    );
    let bytes = photo_bytes(30_000, 5);
    let file = tmp.path().join("p.jpg");
    std::fs::write(&file, &bytes).unwrap();
    let hash = hex(&bytes);
    let f = file.to_str().unwrap();

    // Another grid's ticket: refused, and no photo stored.
    let out = wang.run(&[
        "ticket",
        "new",
        "--grid",
        "GL-02",
        "--title",
        "别人的网格",
        "--photo",
        f,
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        !wang.data.join("photos").join(&hash).exists(),
        "the refused report left its photo on the device"
    );
    assert_eq!(
        wang.json(&["sync"])["photos_not_uploaded"],
        serde_json::json!([])
    );

    // A reviewer adding a photo: refused, and no photo stored.
    let id = wang.json(&["ticket", "new", "--grid", "GL-01", "--title", "井盖缺失"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wang.ok(&["sync"]);
    zhao.ok(&["sync"]);
    let out = zhao.run(&["ticket", "photo", "add", &id, f, "--phase", "after"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        !zhao.data.join("photos").join(&hash).exists(),
        "the refused photo was kept on the reviewer's device"
    );
    zhao.ok(&["sync"]);

    // A file no ticket names (a crash between storing and recording) is
    // never offered to the relay.
    std::fs::create_dir_all(wang.data.join("photos")).unwrap();
    std::fs::write(wang.data.join("photos").join(&hash), &bytes).unwrap();
    let synced = wang.json(&["sync"]);
    assert_eq!(synced["photos_uploaded"], 0, "{synced}");
    assert_eq!(synced["photos_not_uploaded"], serde_json::json!([]));
    assert!(!data.join("blobs/partial").join(&hash).exists());
}

/// The per-photo limit is the operator's: `gridsync-server serve
/// --max-photo-size` (with the daily quota, the grace period and the idle
/// timeout beside it in `--help`). A photo over it is refused at the
/// start of its upload, and `sync` names it and says why.
#[test]
fn a_per_photo_limit_set_on_the_relay_refuses_a_bigger_photo_clearly() {
    let help = Command::new(bin("gridsync-server"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--max-photo-size <SIZE>",
        "[default: 20MiB]",
        "--daily-upload-per-user <SIZE>",
        "[default: 1GiB]",
        "--blob-grace <DURATION>",
        "[default: 24h]",
        "--upload-idle-timeout <DURATION>",
        "[default: 30s]",
    ] {
        assert!(help.contains(flag), "`serve --help` lacks {flag}:\n{help}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    let tokens = set_up(&data);
    let bad = Command::new(bin("gridsync-server"))
        .args(["serve", "--max-photo-size", "100XB", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let said = String::from_utf8_lossy(&bad.stderr);
    assert!(said.contains("`100XB` is not a size"), "{said}");

    let relay = Relay::start_with(
        &bin("gridsync-server"),
        &data,
        "127.0.0.1:0",
        &["--max-photo-size", "100KiB"],
    );
    let wang = device(tmp.path(), "wang", &relay.url(), &tokens["wang"]);
    let small = tmp.path().join("small.jpg");
    let big = tmp.path().join("big.jpg");
    std::fs::write(&small, photo_bytes(100 * 1024, 1)).unwrap();
    let big_bytes = photo_bytes(100 * 1024 + 1, 2);
    std::fs::write(&big, &big_bytes).unwrap();
    for (title, file) in [("小图", &small), ("大图", &big)] {
        wang.ok(&[
            "ticket",
            "new",
            "--grid",
            "GL-01",
            "--title",
            title,
            "--photo",
            file.to_str().unwrap(),
        ]);
    }
    let out = wang.run(&["sync"]);
    assert_eq!(out.status.code(), Some(4));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("photos: 1 uploaded, 1 not yet uploaded"),
        "{said}"
    );
    let line = said
        .lines()
        .find(|l| l.contains(&hex(&big_bytes)))
        .unwrap_or_else(|| panic!("the big photo is not named:\n{said}"));
    assert!(
        line.contains("at most 102400 bytes and this one has 102401"),
        "{line}"
    );
}

/// `--photo` given more than once attaches each file once; a device whose
/// ticket lists photos nobody has uploaded yet gets none from `photo get`,
/// which names them and exits 4; and the CSV export links every photo, one
/// per line of the cell.
#[test]
fn two_photos_on_one_report_wait_for_their_upload_and_the_csv_links_both() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    let tokens = set_up(&data);
    // Photos of 2 KiB do not fit: they stay on the worker's device.
    let relay = Relay::start_with(
        &bin("gridsync-server"),
        &data,
        "127.0.0.1:0",
        &["--max-photo-size", "1KiB"],
    );
    let wang = device(tmp.path(), "wang", &relay.url(), &tokens["wang"]);
    let (a, b) = (photo_bytes(2048, 21), photo_bytes(2048, 22));
    let (fa, fb) = (tmp.path().join("a.jpg"), tmp.path().join("b.jpg"));
    std::fs::write(&fa, &a).unwrap();
    std::fs::write(&fb, &b).unwrap();
    let (fa, fb) = (fa.to_str().unwrap(), fb.to_str().unwrap());
    let made = wang.json(&[
        "ticket",
        "new",
        "--grid",
        "GL-01",
        "--title",
        "两张照片",
        "--photo",
        fa,
        "--photo",
        fb,
        "--photo",
        fa,
    ]);
    let id = made["id"].as_str().unwrap().to_owned();
    let (ha, hb) = (hex(&a), hex(&b));
    assert_eq!(made["photos"], serde_json::json!([ha, hb]));
    let shown = wang.json(&["ticket", "show", &id]);
    assert_eq!(shown["photos"].as_array().unwrap().len(), 2, "{shown}");
    assert_eq!(shown["photos_not_uploaded"], serde_json::json!([ha, hb]));
    let out = wang.run(&["--json", "sync"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "the photos are too large for the relay"
    );

    let chen = device(tmp.path(), "chen", &relay.url(), &tokens["chen"]);
    chen.ok(&["sync"]);
    let dir = tmp.path().join("chen-photos");
    let got = chen.run(&[
        "--json",
        "ticket",
        "photo",
        "get",
        &id,
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(got.status.code(), Some(4), "{got:?}");
    let said: serde_json::Value = serde_json::from_slice(&got.stdout).unwrap();
    assert_eq!(said["written"], serde_json::json!([]));
    assert_eq!(said["missing"], serde_json::json!([ha, hb]));
    let err = String::from_utf8_lossy(&got.stderr);
    assert!(
        err.contains("2 of the ticket's photos are neither on this device nor on the relay"),
        "{err}"
    );

    let csv = chen.ok(&[
        "export", "--format", "csv", "--table", "tickets", "--out", "-",
    ]);
    assert!(csv.lines().next().unwrap().contains("照片链接"), "{csv}");
    let base = format!("http://{}/api/blobs/", relay.addr);
    let cell = format!("\"before {base}{ha}\nbefore {base}{hb}\"");
    assert!(csv.contains(&cell), "no cell {cell} in:\n{csv}");
}

/// A `--photo` the device cannot take (missing, or over the 20 MiB a
/// photo may have) stops the report before anything is recorded, and says
/// what to do.
#[test]
fn a_photo_file_that_cannot_be_taken_stops_the_report_before_it_is_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let wang = Cli::new(&tmp.path().join("wang"));
    wang.ok(&[
        "init", "--user", "wang", "--role", "worker", "--grid", "GL-01",
    ]);
    let huge = tmp.path().join("huge.jpg");
    // Sparse: the size is refused before a byte is read.
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(20 * 1024 * 1024 + 1)
        .unwrap();
    let missing = tmp.path().join("missing.jpg");
    for (file, code, says) in [
        (
            &huge,
            1,
            "a photo may have at most 20971520: take it at a lower resolution",
        ),
        (&missing, 3, "cannot read the photo"),
    ] {
        let out = wang.run(&[
            "ticket",
            "new",
            "--grid",
            "GL-01",
            "--title",
            "拍不进来",
            "--photo",
            file.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(code), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{err}");
    }
    assert_eq!(wang.json(&["ticket", "list"]), serde_json::json!([]));
    assert!(!wang.data.join("photos").exists());
}
