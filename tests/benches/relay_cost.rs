//! Relay cost benchmark: what the real `gridsync-server` binary spends on
//! the standard JS client, against the JS sync server on the same workload,
//! and what idle connections cost. Prints figures; asserts nothing about
//! time.
//!
//! Run (from the workspace root):
//!
//! ```text
//! cargo build --release --bins
//! npm install --prefix tests/js --no-audit --no-fund
//! cargo bench -p tests --bench relay_cost            # the JS-client workloads
//! GRIDSYNC_BENCH_MODE=idle cargo bench -p tests --bench relay_cost
//! GRIDSYNC_BENCH_MODE=all cargo bench -p tests --bench relay_cost   # everything, one table
//! ```
//!
//! Modes (`GRIDSYNC_BENCH_MODE`, a comma list, or `all` for `js,idle,scale`);
//! every figure of the run is printed again at the end in one table, with
//! its target where the issue sets one:
//! - `js` (default): JS `@automerge/automerge-repo` workers
//!   (`tests/js/upload.mjs`, split over node processes of at most 60
//!   workers) upload tickets to a fresh relay, then to a fresh
//!   JS sync server (`@automerge/automerge-repo-sync-server`); workloads
//!   60 × 31 all at once, 300 × 31 thirty at a time, 300 × 31 all at once.
//!   `GRIDSYNC_BENCH_REPEAT` (default 1) repeats each; `GRIDSYNC_BENCH_SERVERS`
//!   (`relay,js`) picks the servers, where `base` is another relay build
//!   named by `GRIDSYNC_BENCH_BASE_BIN` (a before/after in one run;
//!   `GRIDSYNC_BENCH_RELAY_BIN` replaces `target/release/gridsync-server`
//!   for `relay`); and
//!   `GRIDSYNC_BENCH_WORKLOADS` (`1,2,3`) the workloads. A driver process
//!   that dies is counted (`crashed`), apart from the server's time-outs
//!   and unacknowledged workers.
//! - `idle`: `GRIDSYNC_BENCH_CONNECTIONS` (default 5,000) joined, idle
//!   WebSockets to a fresh relay; prints its RSS before and after.
//! - `scale`: for each count in `GRIDSYNC_BENCH_STORED` (default
//!   `10000,100000`), a relay store seeded with that many tickets in grids
//!   of 100, then, each on a relay started afresh over it: the time from
//!   starting the process to the first document served; 1,000 idle
//!   connections each subscribed to one grid's index (RSS); a fresh
//!   supervisor device downloading 9,300 tickets (93 grids) straight from
//!   disk; 60 Rust-client workers uploading 31 new tickets each (relay
//!   CPU). The two counts, 10× apart, show what the stored count costs.
//!   `GRIDSYNC_BENCH_SEED_DIR` keeps each count's seeded store in that
//!   directory and copies it in on later runs; `GRIDSYNC_BENCH_SCALE_STOP=
//!   subscribed` ends each count after the subscribed connections.
//!
//! CPU is the server process's user + system time from `/proc/PID/stat`
//! (all its threads), read before and after the workload, so it does not
//! depend on how loaded the machine is; wall-clock figures do. Peak RSS is
//! `VmHWM` of a server process started for that one run.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::sync::Arc;

use automerge::Automerge;
use automerge::sync::SyncDoc;
use client_core::client::transport::Transport;
use client_core::client::{self, ClientConfig};
use client_core::device::{Device, Identity};
use client_core::ids::{DocumentId, GridCode, TicketId};
use client_core::model::grid_index;
use client_core::model::lifecycle::Role;
use client_core::model::ticket::{self, Kind, NewTicket, Source, Urgency};
use client_core::protocol::{self, Message, PeerId, PeerMetadata, StorageId};
use client_core::repo::Repo;
use client_core::store::{Batch, RedbStore};
use tests::Relay;

fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("js")
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// User + system CPU seconds of a live process, all threads.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime is field 14, stime field 15.
    let tick = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    match (tick(11), tick(12)) {
        (Some(u), Some(s)) => (u + s) / clock_ticks(),
        _ => f64::NAN,
    }
}

fn status_mb(pid: u32, key: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The relay under test: `GRIDSYNC_BENCH_RELAY_BIN`, else
/// `target/release/gridsync-server`.
fn start_relay(data: &Path) -> Relay {
    match std::env::var("GRIDSYNC_BENCH_RELAY_BIN") {
        Ok(binary) => Relay::start_binary(Path::new(&binary), data, "127.0.0.1:0"),
        Err(_) => Relay::start(data),
    }
}

/// The server under test: the relay binary or the JS sync server.
enum Server {
    Relay(Relay),
    Js { child: Child, port: u16 },
}

impl Server {
    fn start(kind: &str, data: &Path) -> Server {
        match kind {
            "relay" => Server::Relay(start_relay(data)),
            // Another build of the relay, to compare two in one run.
            "base" => Server::Relay(Relay::start_binary(
                Path::new(&std::env::var("GRIDSYNC_BENCH_BASE_BIN").expect(
                    "GRIDSYNC_BENCH_BASE_BIN names the relay binary the `base` server runs",
                )),
                data,
                "127.0.0.1:0",
            )),
            "js" => {
                std::fs::create_dir_all(data).unwrap();
                let port = std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port();
                let script = js_dir()
                    .join("node_modules/@automerge/automerge-repo-sync-server/src/index.js");
                let mut child = Command::new("node")
                    .arg(script)
                    .env("PORT", port.to_string())
                    .env("DATA_DIR", data)
                    .current_dir(data)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .expect("start the JS sync server (node)");
                let stdout = child.stdout.take().unwrap();
                let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
                loop {
                    let line = lines
                        .next()
                        .expect("the JS sync server exited before it listened")
                        .unwrap();
                    if line.contains("Listening") {
                        break;
                    }
                }
                std::thread::spawn(move || for _ in lines {});
                Server::Js { child, port }
            }
            other => panic!("unknown server {other}: use relay or js"),
        }
    }

    fn url(&self) -> String {
        match self {
            Server::Relay(r) => r.url(),
            Server::Js { port, .. } => format!("ws://127.0.0.1:{port}"),
        }
    }

    fn pid(&self) -> u32 {
        match self {
            Server::Relay(r) => r.pid(),
            Server::Js { child, .. } => child.id(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Server::Js { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

struct Run {
    docs: u64,
    acked: u64,
    secs: f64,
    cpu: f64,
    peak_mb: f64,
    timeouts: u64,
    unacked: u64,
    /// Driver processes that died (their workers give no figure).
    crashes: u64,
    lost: u64,
    client_cpu: f64,
}

fn upload(kind: &str, dir: &Path, workers: usize, per_worker: usize, at_once: usize) -> Run {
    let server = Server::start(kind, dir);
    // Let the server settle (the JS server's startup is not the workload).
    std::thread::sleep(Duration::from_millis(300));
    let cpu0 = cpu_secs(server.pid());
    let out = Command::new("node")
        .arg(js_dir().join("upload.mjs"))
        .arg(server.url())
        .args([
            workers.to_string(),
            per_worker.to_string(),
            at_once.to_string(),
        ])
        .arg("180000")
        .stderr(Stdio::inherit())
        .output()
        .expect("run node tests/js/upload.mjs");
    let cpu = cpu_secs(server.pid()) - cpu0;
    let peak_mb = status_mb(server.pid(), "VmHWM:");
    assert!(
        out.status.success(),
        "upload.mjs failed; run `npm install --prefix tests/js --no-audit --no-fund` first"
    );
    let r: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("upload.mjs prints one JSON line");
    let n = |k: &str| r[k].as_u64().unwrap_or(0);
    Run {
        docs: n("docs"),
        acked: n("acked"),
        secs: r["secs"].as_f64().unwrap_or(f64::NAN),
        cpu,
        peak_mb,
        timeouts: n("connect_timeouts") + n("connect_errors"),
        unacked: n("unacked_workers"),
        crashes: n("driver_crashes"),
        lost: n("lost_workers"),
        client_cpu: r["client_cpu_secs"].as_f64().unwrap_or(f64::NAN),
    }
}

fn js_mode(table: &mut Table) {
    let repeat: usize = env_or("GRIDSYNC_BENCH_REPEAT", 1);
    let servers = std::env::var("GRIDSYNC_BENCH_SERVERS").unwrap_or_else(|_| "relay,js".into());
    let servers: Vec<&str> = servers.split(',').collect();
    let workloads = [
        ("60x31 at once", 60, 31, 60),
        ("300x31 30 at a time", 300, 31, 30),
        ("300x31 at once", 300, 31, 300),
    ];
    let picked = std::env::var("GRIDSYNC_BENCH_WORKLOADS").unwrap_or_else(|_| "1,2,3".into());
    let picked: Vec<usize> = picked.split(',').filter_map(|w| w.parse().ok()).collect();
    let tmp = tempfile::tempdir().unwrap();
    println!("load average before: {}", loadavg());
    println!(
        "{:<22} {:<6} {:>6} {:>7} {:>8} {:>7} {:>9} {:>8} {:>8} {:>7} {:>7} {:>8}",
        "workload",
        "server",
        "acked",
        "wall s",
        "docs/s",
        "CPU s",
        "ms CPU/doc",
        "peak MB",
        "timeouts", // time-outs and refused upgrades
        "unacked",
        "crashed", // driver processes that died
        "node CPU s"
    );
    let mut n = 0;
    for (w, (name, workers, per, at_once)) in workloads.into_iter().enumerate() {
        if !picked.contains(&(w + 1)) {
            continue;
        }
        for _ in 0..repeat {
            let mut cpu_per_doc = Vec::new();
            for kind in &servers {
                n += 1;
                let r = upload(
                    kind,
                    &tmp.path().join(format!("{n}")),
                    workers,
                    per,
                    at_once,
                );
                let per_doc = r.cpu / r.acked.max(1) as f64;
                cpu_per_doc.push((kind, per_doc));
                println!(
                    "{name:<22} {kind:<6} {:>6} {:>7.2} {:>8.0} {:>7.2} {:>9.3} {:>8.1} {:>8} {:>7} {:>7} {:>8.1}{}",
                    r.acked,
                    r.secs,
                    r.acked as f64 / r.secs,
                    r.cpu,
                    per_doc * 1e3,
                    r.peak_mb,
                    r.timeouts,
                    r.unacked,
                    r.crashes,
                    r.client_cpu,
                    if r.acked < r.docs {
                        format!(
                            "  ({} of {} acked{})",
                            r.acked,
                            r.docs,
                            if r.lost > 0 {
                                format!("; {} workers lost with their driver process", r.lost)
                            } else {
                                String::new()
                            }
                        )
                    } else {
                        String::new()
                    }
                );
                if *kind == "js" {
                    continue;
                }
                let who = if *kind == "relay" { "" } else { " (base)" };
                let storm = workers == 300;
                table.add(
                    format!("{name}{who}: relay CPU per doc"),
                    per_doc * 1e3,
                    "ms",
                    (workers == 60).then_some(Target::Below(0.3)),
                );
                table.add(
                    format!("{name}{who}: relay peak RSS"),
                    r.peak_mb,
                    "MB",
                    (workers == 60).then_some(Target::Below(40.0)),
                );
                table.add(
                    format!("{name}{who}: docs/s"),
                    r.acked as f64 / r.secs,
                    "docs/s",
                    storm.then_some(Target::Above(2_000.0)),
                );
                if storm {
                    table.add(
                        format!("{name}{who}: time-outs + unacked workers"),
                        (r.timeouts + r.unacked) as f64,
                        "",
                        Some(Target::Below(0.5)),
                    );
                    table.add(
                        format!("{name}{who}: driver processes crashed"),
                        r.crashes as f64,
                        "",
                        Some(Target::Below(0.5)),
                    );
                }
            }
            let of = |k: &str| cpu_per_doc.iter().find(|(s, _)| **s == k).map(|(_, v)| *v);
            if let (Some(relay), Some(js)) = (of("relay"), of("js")) {
                println!(
                    "{:<22} JS sync server CPU / relay CPU: {:.1}x",
                    "",
                    js / relay
                );
                table.add(
                    format!("{name}: JS sync server CPU / relay CPU"),
                    js / relay,
                    "x",
                    Some(Target::Above(20.0)),
                );
            }
            if let (Some(relay), Some(base)) = (of("relay"), of("base")) {
                println!(
                    "{:<22} base relay CPU / this relay CPU: {:.1}x",
                    "",
                    base / relay
                );
                table.add(
                    format!("{name}: base relay CPU / this relay CPU"),
                    base / relay,
                    "x",
                    None,
                );
            }
        }
    }
    println!("load average after: {}", loadavg());
}

/// What a figure must be to meet its target.
#[derive(Clone, Copy)]
enum Target {
    Below(f64),
    Above(f64),
}

/// Every figure of a run, printed together at the end.
#[derive(Default)]
struct Table(Vec<(String, f64, &'static str, Option<Target>)>);

impl Table {
    fn add(&mut self, name: String, value: f64, unit: &'static str, target: Option<Target>) {
        self.0.push((name, value, unit, target));
    }

    fn print(&self) {
        if self.0.is_empty() {
            return;
        }
        let width = self.0.iter().map(|(n, ..)| n.len()).max().unwrap_or(0);
        println!();
        println!(
            "{:<width$}  {:>10} {:<7} {:>10}  met",
            "figure", "value", "unit", "target"
        );
        for (name, value, unit, target) in &self.0 {
            let (target, met) = match target {
                Some(Target::Below(t)) => {
                    (format!("< {t}"), if *value < *t { "yes" } else { "NO" })
                }
                Some(Target::Above(t)) => {
                    (format!("> {t}"), if *value > *t { "yes" } else { "NO" })
                }
                None => (String::new(), ""),
            };
            let shown = if value.abs() >= 100.0 || *value == value.trunc() {
                format!("{value:.0}")
            } else {
                format!("{value:.3}")
            };
            println!("{name:<width$}  {shown:>10} {unit:<7} {target:>10}  {met}");
        }
    }
}

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn join(i: usize) -> Message {
    Message::Join {
        sender_id: PeerId::new(format!("idle-{i}")),
        supported_protocol_versions: vec![protocol::PROTOCOL_VERSION.to_owned()],
        peer_metadata: PeerMetadata {
            storage_id: Some(StorageId::new(format!("idle-storage-{i}"))),
            is_ephemeral: Some(false),
            ..Default::default()
        },
    }
}

/// Opens `n` joined connections, 50 at a time, and keeps them.
async fn open_idle(url: &str, n: usize) -> Vec<Transport> {
    let mut open = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        let batch = (n - i).min(50);
        let mut tasks = Vec::new();
        for k in i..i + batch {
            let cfg = ClientConfig::new(url.to_owned());
            tasks.push(tokio::spawn(async move {
                let mut t = Transport::connect(&cfg).await.expect("connect");
                let answer = t
                    .handshake(&join(k), Duration::from_secs(30))
                    .await
                    .expect("join");
                assert!(matches!(answer, Message::Peer { .. }), "joined: {answer:?}");
                t
            }));
        }
        for t in tasks {
            open.push(t.await.unwrap());
        }
        i += batch;
    }
    open
}

async fn idle_mode(table: &mut Table) {
    let n: usize = env_or("GRIDSYNC_BENCH_CONNECTIONS", 5_000);
    let servers = std::env::var("GRIDSYNC_BENCH_SERVERS").unwrap_or_else(|_| "relay".into());
    for kind in servers.split(',').filter(|k| *k != "js" || servers == "js") {
        println!("{kind}:");
        let rss = idle(kind, n).await;
        table.add(
            format!("{n} idle connections ({kind}): RSS"),
            rss,
            "MB",
            (n == 5_000).then_some(Target::Below(100.0)),
        );
    }
}

/// The server's RSS with `n` joined idle connections open.
async fn idle(kind: &str, n: usize) -> f64 {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Server::start(kind, &tmp.path().join("relay"));
    std::thread::sleep(Duration::from_millis(300));
    println!("load average before: {}", loadavg());
    let before = status_mb(relay.pid(), "VmRSS:");
    let cpu0 = cpu_secs(relay.pid());
    let start = Instant::now();
    let open = open_idle(&relay.url(), n).await;
    let secs = start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = status_mb(relay.pid(), "VmRSS:");
    println!(
        "{n} joined idle connections: relay RSS {before:.1} MB before, {after:.1} MB after \
         ({:.1} KB each), peak {:.1} MB; opened in {secs:.2} s, relay CPU {:.2} s",
        (after - before) * 1024.0 / n as f64,
        status_mb(relay.pid(), "VmHWM:"),
        cpu_secs(relay.pid()) - cpu0,
    );
    println!("load average after: {}", loadavg());
    drop(open);
    after
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mode = std::env::var("GRIDSYNC_BENCH_MODE").unwrap_or_else(|_| "js".into());
    let modes: Vec<&str> = if mode == "all" {
        vec!["js", "idle", "scale"]
    } else {
        mode.split(',').collect()
    };
    let mut table = Table::default();
    for mode in modes {
        match mode {
            "js" => js_mode(&mut table),
            "idle" => idle_mode(&mut table).await,
            "scale" => scale_mode(&mut table).await,
            other => panic!("unknown GRIDSYNC_BENCH_MODE {other}: use js, idle, scale or all"),
        }
    }
    table.print();
}

const PER_GRID: usize = 100;

fn grid(i: usize) -> GridCode {
    GridCode::new(format!("S-{i:04}")).unwrap()
}

fn new_ticket(grid: &GridCode, n: usize) -> NewTicket {
    NewTicket {
        id: TicketId::random(),
        grid: grid.clone(),
        source: Source::Patrol,
        kind: Kind::Component,
        category: "0101".into(),
        urgency: Urgency::Normal,
        title: format!("路灯不亮 {n}"),
        description: "3号楼前，晚上全黑，居民反映多次".into(),
        location: None,
        resident: None,
    }
}

/// Writes `grids` grids of `PER_GRID` tickets (and their indexes) straight
/// into the relay's store, one commit per grid.
fn seed(path: &Path, grids: usize) {
    let store = RedbStore::open(path).unwrap();
    let repo = Repo::new(store, automerge::ActorId::random());
    for g in 0..grids {
        let code = grid(g);
        let mut batch = Batch::new();
        let mut index = Automerge::new();
        let mut ids = Vec::with_capacity(PER_GRID);
        for n in 0..PER_GRID {
            let t = new_ticket(&code, n);
            let mut doc = Automerge::new();
            doc.transact(|tx| ticket::create(tx, &t, "seed", Role::Worker, 1_763_900_000_000))
                .map_err(|f| f.error)
                .unwrap();
            batch.extend(repo.changes_since(&t.id.document_id(), &doc, &[]).unwrap());
            ids.push(t.id);
        }
        index
            .transact(|tx| {
                grid_index::init(tx, &code)?;
                for id in &ids {
                    grid_index::add_ticket(tx, *id)?;
                }
                Ok::<_, automerge::AutomergeError>(())
            })
            .map_err(|f| f.error)
            .unwrap();
        batch.extend(
            repo.changes_since(&code.index_document_id(), &index, &[])
                .unwrap(),
        );
        repo.commit(batch).unwrap();
    }
}

fn request(i: usize, relay: PeerId, doc: DocumentId) -> Message {
    let data = Automerge::new()
        .generate_sync_message(&mut automerge::sync::State::new())
        .expect("a first message")
        .encode();
    Message::Request {
        sender_id: PeerId::new(format!("idle-{i}")),
        target_id: relay,
        document_id: doc,
        data,
    }
}

/// Joins, asks for `doc` and waits for the relay's answer.
async fn fetch_one(url: &str, i: usize, doc: DocumentId) -> Transport {
    let cfg = ClientConfig::new(url.to_owned());
    let mut t = Transport::connect(&cfg).await.expect("connect");
    let Message::Peer { sender_id, .. } = t
        .handshake(&join(i), Duration::from_secs(30))
        .await
        .expect("join")
    else {
        panic!("the relay did not answer join with peer");
    };
    t.send(vec![request(i, sender_id, doc)])
        .await
        .expect("send");
    loop {
        let frames = t.receive(16).await.expect("answer");
        if frames
            .iter()
            .any(|m| matches!(m, Message::Sync { document_id, .. } if *document_id == doc))
        {
            return t;
        }
    }
}

async fn scale_mode(table: &mut Table) {
    let counts = std::env::var("GRIDSYNC_BENCH_STORED").unwrap_or_else(|_| "10000,100000".into());
    let counts: Vec<usize> = counts
        .split(',')
        .map(|c| {
            c.parse()
                .expect("GRIDSYNC_BENCH_STORED: stored ticket counts, e.g. 10000,100000")
        })
        .collect();
    let mut upload_cost = Vec::new();
    for stored in counts {
        upload_cost.push((stored, scale(stored, table).await));
    }
    if let [.., (low, low_cost), (high, high_cost)] = upload_cost[..] {
        table.add(
            format!("Rust upload CPU per doc, {high} stored / {low} stored"),
            high_cost / low_cost,
            "x",
            None,
        );
    }
}

/// One scale run over `stored` tickets; returns the relay's CPU per
/// document of the upload into it, in ms.
async fn scale(stored: usize, table: &mut Table) -> f64 {
    let grids = stored.div_ceil(PER_GRID);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    println!("load average before: {}", loadavg());
    // `GRIDSYNC_BENCH_SEED_DIR` keeps each count's seeded store there and
    // copies it in on later runs (seeding 100,000 tickets takes minutes).
    let kept = std::env::var_os("GRIDSYNC_BENCH_SEED_DIR")
        .map(|dir| PathBuf::from(dir).join(stored.to_string()));
    if let Some(kept) = kept.as_ref().filter(|k| k.join("relay.redb").exists()) {
        copy_dir(kept, &data);
        println!("seeded store copied from {}", kept.display());
    } else {
        seed_store(&data, grids).await;
        if let Some(kept) = &kept {
            copy_dir(&data, kept);
        }
    }
    scale_runs(stored, grids, tmp.path(), &data, table).await
}

/// Copies the directory `from` (files only, one level deep) to `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// A relay store at `data` holding `grids` grids of `PER_GRID` tickets.
async fn seed_store(data: &Path, grids: usize) {
    // A first start creates the store and runs its one-off migration on
    // nothing (done once it answers a `join`); the seed goes in while it is
    // stopped. (Its exit status on SIGTERM does not matter here; dropping
    // it kills it if it has not exited.)
    let first = start_relay(data);
    let mut joined = Transport::connect(&ClientConfig::new(first.url()))
        .await
        .expect("connect");
    joined
        .handshake(&join(0), Duration::from_secs(30))
        .await
        .expect("join");
    drop(joined);
    let _ = first.terminate();
    let start = Instant::now();
    seed(&data.join("relay.redb"), grids);
    println!(
        "seeded {} tickets in {grids} grids in {:.1} s",
        grids * PER_GRID,
        start.elapsed().as_secs_f64()
    );
}

/// The runs of one scale count over the seeded store at `data`.
async fn scale_runs(
    stored: usize,
    grids: usize,
    tmp: &Path,
    data: &Path,
    table: &mut Table,
) -> f64 {
    let probe = grid(grids / 2).index_document_id();

    // 1. Cold start to the first document served.
    let start = Instant::now();
    let relay = start_relay(data);
    let listening = start.elapsed().as_secs_f64();
    drop(fetch_one(&relay.url(), 0, probe).await);
    let cold = start.elapsed().as_secs_f64() * 1e3;
    println!(
        "cold start to first document served: {cold:.0} ms (listening after {:.0} ms)",
        listening * 1e3
    );
    table.add(
        format!("{stored} stored: cold start to first document served"),
        cold,
        "ms",
        Some(Target::Below(100.0)),
    );

    // 2. 1,000 idle connections, each subscribed to its grid's index.
    let before = status_mb(relay.pid(), "VmRSS:");
    let mut open = Vec::new();
    for chunk in (0..1_000).collect::<Vec<_>>().chunks(50) {
        let mut tasks = Vec::new();
        for &i in chunk {
            let (url, doc) = (relay.url(), grid(i % grids).index_document_id());
            tasks.push(tokio::spawn(
                async move { fetch_one(&url, i + 1, doc).await },
            ));
        }
        for t in tasks {
            open.push(t.await.unwrap());
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss = status_mb(relay.pid(), "VmRSS:");
    println!(
        "{stored} stored, 1,000 idle connections each subscribed to a grid: relay RSS {rss:.1} MB \
         ({before:.1} MB before them; {} documents in memory)",
        documents_in_memory(&relay.url()).await,
    );
    table.add(
        format!("{stored} stored + 1,000 subscribed connections: RSS"),
        rss,
        "MB",
        (stored >= 100_000).then_some(Target::Below(200.0)),
    );
    drop(open);
    drop(relay);
    if std::env::var("GRIDSYNC_BENCH_SCALE_STOP").as_deref() == Ok("subscribed") {
        return f64::NAN;
    }

    // 3. A fresh supervisor downloads 9,300 tickets, all read from disk.
    let relay = start_relay(data);
    let served = 93.min(grids);
    let sup_store = Arc::new(RedbStore::open(tmp.join("supervisor.redb")).unwrap());
    Device::init(
        sup_store.clone(),
        Identity::new("chen", Role::Supervisor, (0..served).map(grid).collect()),
    )
    .unwrap();
    let cpu0 = cpu_secs(relay.pid());
    let start = Instant::now();
    let r = client::sync_until_quiescent(sup_store, &ClientConfig::new(relay.url()), |_| {})
        .await
        .expect("download");
    let secs = start.elapsed().as_secs_f64();
    println!(
        "after a restart, {} documents served from disk: {secs:.2} s, relay CPU {:.2} s, peak RSS {:.1} MB",
        r.documents,
        cpu_secs(relay.pid()) - cpu0,
        status_mb(relay.pid(), "VmHWM:"),
    );
    table.add(
        format!(
            "{stored} stored: {} documents from disk after a restart",
            r.documents
        ),
        secs,
        "s",
        (r.documents >= 9_300).then_some(Target::Below(5.0)),
    );

    // 4. 60 workers upload 31 new tickets each into a store this size.
    let workers: Vec<Arc<RedbStore>> = (0..60)
        .map(|i| {
            let store = Arc::new(RedbStore::open(tmp.join(format!("worker-{i}.redb"))).unwrap());
            let code = GridCode::new(format!("W-{i:03}")).unwrap();
            let device = Device::init(
                store.clone(),
                Identity::new(format!("worker-{i}"), Role::Worker, vec![code.clone()]),
            )
            .unwrap();
            for n in 0..31 {
                device
                    .report(&new_ticket(&code, n), 1_763_900_000_000)
                    .unwrap();
            }
            store
        })
        .collect();
    let cpu0 = cpu_secs(relay.pid());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for store in &workers {
        let (store, cfg) = (store.clone(), ClientConfig::new(relay.url()));
        tasks.push(tokio::spawn(async move {
            client::sync_until_quiescent(store, &cfg, |_| {}).await
        }));
    }
    for t in tasks {
        let r = t.await.unwrap().expect("upload");
        assert!(r.pending.is_empty(), "every upload acknowledged");
    }
    let cpu = cpu_secs(relay.pid()) - cpu0;
    println!(
        "{stored} stored, 60 Rust workers upload 1,860 new tickets: {:.2} s, relay CPU {cpu:.2} s \
         ({:.3} ms per document)",
        start.elapsed().as_secs_f64(),
        cpu / 1.860
    );
    table.add(
        format!("{stored} stored: 60x31 Rust upload relay CPU per doc"),
        cpu / 1.860,
        "ms",
        None,
    );
    println!("load average after: {}", loadavg());
    cpu / 1.860
}

/// The relay's `documents_in_memory`, from `/healthz`.
async fn documents_in_memory(url: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("ws://").trim_end_matches('/');
    let Ok(mut tcp) = tokio::net::TcpStream::connect(addr).await else {
        return "?".into();
    };
    let ask = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut answer = Vec::new();
    if tcp.write_all(ask.as_bytes()).await.is_err() || tcp.read_to_end(&mut answer).await.is_err() {
        return "?".into();
    }
    let answer = String::from_utf8_lossy(&answer);
    answer
        .split_once("\r\n\r\n")
        .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(body).ok())
        .map_or("?".into(), |v| v["documents_in_memory"].to_string())
}
