//! A day's patrol over a poor link (issue 10): a worker records tickets,
//! visits and photos offline with the real `gridsync`, then `gridsync sync`
//! sends them through the degraded-link proxy (`tests/src/proxy.rs`) to the
//! real relay binary, re-run after every cut as a person would. Prints the
//! total time, the bytes that crossed the link each way against the
//! payload, and then, on a reconnect with nothing changed, the bytes sent
//! per unchanged document (raw automerge's sync needs about 123). Asserts
//! nothing about time.
//!
//! Run: `cargo build --release --bins && cargo bench -p tests --bench patrol`
//!
//! The figures are the defaults; 30 photos of 1.5 MB at 50 kbit/s
//! are about 2 hours by their nature. Environment:
//! - `PATROL_TICKETS` (30), `PATROL_VISITS` (50), `PATROL_PHOTOS` (30),
//!   `PATROL_PHOTO_BYTES` (1,500,000): the day's records;
//! - `PATROL_KBITS` (50), `PATROL_RTT_MS` (400), `PATROL_CUT_SECS` (60,
//!   0 for none): the link;
//! - `GRIDSYNC_BIN_DIR`: where `gridsync` and `gridsync-server` are (copies,
//!   so a long run does not pick up a rebuild).

use std::time::{Duration, Instant};

use tests::city::set_up;
use tests::proxy::{Proxy, Shape};
use tests::{Cli, Relay};

fn env(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a whole number")),
        Err(_) => default,
    }
}

/// One `gridsync --json sync`: its JSON when it succeeded.
fn sync(cli: &Cli) -> (bool, serde_json::Value, String) {
    let out = cli.run(&["--json", "sync"]);
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.success(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn main() {
    let tickets = env("PATROL_TICKETS", 30) as usize;
    let visits = env("PATROL_VISITS", 50) as usize;
    let photos = env("PATROL_PHOTOS", 30) as usize;
    let photo_len = env("PATROL_PHOTO_BYTES", 1_500_000) as usize;
    let kbits = env("PATROL_KBITS", 50);
    let rtt = Duration::from_millis(env("PATROL_RTT_MS", 400));
    let cut = env("PATROL_CUT_SECS", 60);
    assert!(
        tickets > 0 || photos == 0,
        "photos need a ticket to hang on"
    );

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    let tokens = set_up(&data);
    let relay = Relay::start(&data);
    let link = Proxy::start(
        &relay.addr,
        Shape {
            bits_per_sec: Some(kbits * 1000),
            latency: rtt / 2,
            cut_after: (cut > 0).then(|| Duration::from_secs(cut)),
            damage_patch_at: None,
        },
    );
    let wang = Cli::new(&tmp.path().join("wang"));
    wang.ok(&["login", "--server", &link.url(), "--token", &tokens["wang"]]);
    let (up0, down0) = (link.bytes_up(), link.bytes_down());

    // The day, offline: nothing below touches the network.
    let started = Instant::now();
    let dir = tmp.path().join("camera");
    std::fs::create_dir_all(&dir).unwrap();
    let mut ids = Vec::new();
    for n in 0..tickets {
        let mut args = vec![
            "ticket".to_owned(),
            "new".to_owned(),
            "--grid".to_owned(),
            "GL-01".to_owned(),
            "--title".to_owned(),
            format!("巡查发现 {n}: 路灯不亮"),
        ];
        if n < photos {
            let file = dir.join(format!("p{n}.jpg"));
            std::fs::write(&file, tests::photo_bytes(photo_len, n as u64)).unwrap();
            args.extend(["--photo".to_owned(), file.display().to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let id = wang.json(&args)["id"].as_str().unwrap().to_owned();
        ids.push(id);
    }
    for n in tickets..photos {
        let file = dir.join(format!("p{n}.jpg"));
        std::fs::write(&file, tests::photo_bytes(photo_len, n as u64)).unwrap();
        let id = &ids[n % tickets];
        wang.ok(&[
            "ticket",
            "photo",
            "add",
            id,
            file.to_str().unwrap(),
            "--phase",
            "after",
        ]);
    }
    for n in 0..visits {
        let household = format!("{}-{}-{}", n % 9 + 1, n % 3 + 1, 100 + n);
        let mut args = vec![
            "visit",
            "add",
            "--grid",
            "GL-01",
            "--type",
            "household",
            "--household",
            &household,
            "--outcome",
            "met",
        ];
        let ticket = ids.get(n);
        if let Some(id) = ticket {
            args.extend(["--ticket", id]);
        }
        wang.ok(&args);
    }
    let recorded = started.elapsed();
    let payload = (photos * photo_len) as u64;
    println!(
        "a day's patrol: {tickets} tickets, {visits} visits, {photos} photos of {photo_len} bytes \
         ({:.1} MB), recorded offline in {:.1} s",
        payload as f64 / 1e6,
        recorded.as_secs_f64()
    );
    println!(
        "link: {kbits} kbit/s each way, {} ms RTT, cut {}",
        rtt.as_millis(),
        if cut > 0 {
            format!("every {cut} s")
        } else {
            "never".to_owned()
        }
    );

    // Back in signal: sync until it says done.
    let started = Instant::now();
    let mut runs = 0u32;
    let mut doc_bytes_out = 0u64;
    let documents = loop {
        runs += 1;
        let (ok, json, stderr) = sync(&wang);
        doc_bytes_out += json["bytes_out"].as_u64().unwrap_or(0);
        if ok {
            break json["documents"].as_u64().unwrap_or(0);
        }
        let left = json["photos_not_uploaded"]
            .as_array()
            .map_or("?".to_owned(), |a| a.len().to_string());
        eprintln!(
            "  run {runs} at {:.0} s stopped ({left} photos left): {}",
            started.elapsed().as_secs_f64(),
            stderr.lines().last().unwrap_or_default()
        );
        assert!(runs < 10_000, "sync never finished");
    };
    let took = started.elapsed().as_secs_f64();
    let (up, down) = (link.bytes_up() - up0, link.bytes_down() - down0);
    println!(
        "sync: {took:.1} s ({:.1} min), {runs} `gridsync sync` runs, {} connections, {} cut",
        took / 60.0,
        link.connections(),
        link.cuts()
    );
    println!(
        "  up   {up:>11} bytes on the wire for {payload} bytes of photos \
         and {doc_bytes_out} bytes of sync messages: {:.3}x the payload",
        up as f64 / (payload + doc_bytes_out).max(1) as f64
    );
    println!(
        "  down {down:>11} bytes on the wire; {documents} documents; \
         link floor for the payload {:.1} min",
        (payload + doc_bytes_out) as f64 * 8.0 / (kbits as f64 * 1000.0) / 60.0
    );
    for hash in std::fs::read_dir(wang.data.join("photos")).unwrap() {
        let name = hash.unwrap().file_name().to_string_lossy().into_owned();
        if name.len() == 64 {
            assert!(
                data.join("blobs").join(&name).exists(),
                "photo {name} not on the relay"
            );
        }
    }

    // The next reconnect, nothing changed on either side.
    let (up0, down0) = (link.bytes_up(), link.bytes_down());
    let started = Instant::now();
    let (ok, json, stderr) = sync(&wang);
    assert!(ok, "the quiet reconnect failed: {stderr}");
    let took = started.elapsed().as_secs_f64();
    let (up, down) = (link.bytes_up() - up0, link.bytes_down() - down0);
    let documents = json["documents"].as_u64().unwrap_or(0).max(1);
    println!(
        "reconnect, {documents} documents unchanged: {took:.2} s, {up} bytes up \
         ({:.0} per document; raw automerge 123), {down} bytes down ({:.0} per document); \
         sync messages {} out, {} in",
        up as f64 / documents as f64,
        down as f64 / documents as f64,
        json["bytes_out"],
        json["bytes_in"]
    );
    assert_eq!(json["received"], 0, "nothing changed, nothing received");
}
