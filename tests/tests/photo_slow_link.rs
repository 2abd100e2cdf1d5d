//! A 3 MB photo over a 50 kbit/s link with 400 ms round trips whose
//! connection is cut every 20 s, through the degraded-link proxy, with the
//! real relay and the real `gridsync sync`. It completes, the relay's blob
//! hashes right, and the bytes that crossed the link stay under 1.1 times
//! the photo: every cut costs a `HEAD`, a new `PATCH` head and the bytes
//! the relay had not yet taken, never the part it holds.
//!
//! The photo alone takes 3 MB × 8 / 50 kbit/s ≈ 8 minutes, which is why
//! this is a test binary of its own: nothing else waits on it.

use std::time::Duration;

use sha2::{Digest, Sha256};
use tests::city::set_up;
use tests::proxy::{Proxy, Shape};
use tests::{Cli, Relay};

#[test]
fn a_3_mb_photo_crosses_a_50_kbit_link_cut_every_20_s() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    let tokens = set_up(&data);
    let relay = Relay::start(&data);
    let link = Proxy::start(
        &relay.addr,
        Shape {
            bits_per_sec: Some(50_000),
            latency: Duration::from_millis(200),
            cut_after: Some(Duration::from_secs(20)),
            damage_patch_at: None,
        },
    );
    let wang = Cli::new(&tmp.path().join("wang"));
    wang.ok(&["login", "--server", &link.url(), "--token", &tokens["wang"]]);

    let len = 3 * 1024 * 1024;
    let bytes = tests::photo_bytes(len, 0);
    let hash: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let file = tmp.path().join("photo.jpg");
    std::fs::write(&file, &bytes).unwrap();
    wang.ok(&[
        "ticket",
        "new",
        "--grid",
        "GL-01",
        "--title",
        "违章搭建",
        "--photo",
        file.to_str().unwrap(),
    ]);

    // A cut may also land in the document sync; a person runs sync again.
    let mut runs = 0;
    loop {
        runs += 1;
        let out = wang.run(&["--json", "sync"]);
        if out.status.success() {
            break;
        }
        assert!(
            runs < 5,
            "sync did not finish in {runs} runs:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let kept = std::fs::read(data.join("blobs").join(&hash)).unwrap();
    let got: String = Sha256::digest(&kept)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(got, hash);
    let sent = link.bytes_up();
    println!(
        "3 MiB photo over 50 kbit/s, 400 ms RTT, cut every 20 s: {sent} bytes up \
         ({:.3}x the photo), {} bytes down, {} connections, {} cut, {runs} sync runs",
        sent as f64 / len as f64,
        link.bytes_down(),
        link.connections(),
        link.cuts()
    );
    assert!(
        link.cuts() > 10,
        "only {} cuts: the link was not cut every 20 s",
        link.cuts()
    );
    assert!(
        sent * 10 < len as u64 * 11,
        "{sent} bytes crossed the link for a photo of {len}"
    );
}
