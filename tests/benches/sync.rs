//! Sync benchmark: the three workloads of the performance budget, against
//! the real `gridsync-server` binary on loopback. Prints figures; asserts
//! nothing about time.
//!
//! Run: `cargo build --release --bins && cargo bench -p tests --bench sync`
//! (set GRIDSYNC_BENCH_DOCS to change the 5,000 documents).

use std::sync::Arc;
use std::time::Instant;

use client_core::client::{self, ClientConfig, SyncReport};
use client_core::device::{Device, Identity};
use client_core::ids::{GridCode, TicketId};
use client_core::model::lifecycle::Role;
use client_core::model::ticket::{Kind, NewTicket, Source, Urgency};
use client_core::store::{Listing, RedbStore};
use tests::Relay;

const WORKERS: usize = 50;

fn grid(i: usize) -> GridCode {
    GridCode::new(format!("G-{i:03}")).unwrap()
}

fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn worker_store(dir: &std::path::Path, i: usize, tickets: usize) -> Arc<RedbStore> {
    let store = Arc::new(RedbStore::open(dir.join(format!("worker-{i}.redb"))).unwrap());
    let device = Device::init(
        store.clone(),
        Identity::new(format!("worker-{i}"), Role::Worker, vec![grid(i)]),
    )
    .unwrap();
    for n in 0..tickets {
        let t = NewTicket {
            id: TicketId::random(),
            grid: grid(i),
            source: Source::Patrol,
            kind: Kind::Component,
            category: "0101".into(),
            urgency: Urgency::Normal,
            title: format!("路灯不亮 {n}"),
            description: "3号楼前，晚上全黑，居民反映多次".into(),
            location: None,
            resident: None,
        };
        device.report(&t, 1_763_900_000_000 + n as i64).unwrap();
    }
    store
}

fn line(name: &str, docs: usize, secs: f64, wire: u64, rss: f64) {
    println!(
        "{name:<44} {secs:>7.2} s  {:>8.0} docs/s  {:>9.1} MB on the wire  relay peak RSS {rss:>6.1} MB",
        docs as f64 / secs,
        wire as f64 / 1e6
    );
}

fn wire(r: &SyncReport) -> u64 {
    r.bytes_in + r.bytes_out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let docs: usize = std::env::var("GRIDSYNC_BENCH_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let per_worker = docs / WORKERS;
    let tmp = tempfile::tempdir().unwrap();
    eprintln!("preparing {WORKERS} worker devices with {per_worker} tickets each ...");
    let workers: Vec<Arc<RedbStore>> = (0..WORKERS)
        .map(|i| worker_store(tmp.path(), i, per_worker))
        .collect();
    let relay = Relay::start(&tmp.path().join("relay"));
    println!(
        "workload (relay: {}, {} documents)",
        relay.url(),
        WORKERS * per_worker
    );

    // 1. Fifty workers upload their new documents at once.
    let start = Instant::now();
    let mut tasks = Vec::new();
    for store in &workers {
        let (store, cfg) = (store.clone(), ClientConfig::new(relay.url()));
        tasks.push(tokio::spawn(async move {
            client::sync_until_quiescent(store, &cfg, |_| {}).await
        }));
    }
    let mut bytes = 0;
    for t in tasks {
        let r = t.await.unwrap().expect("upload");
        assert!(r.pending.is_empty(), "every upload acknowledged");
        bytes += wire(&r);
    }
    line(
        &format!(
            "{WORKERS} workers upload {} new docs at once",
            WORKERS * per_worker
        ),
        WORKERS * per_worker,
        start.elapsed().as_secs_f64(),
        bytes,
        peak_rss_mb(relay.pid()),
    );

    // 2. A fresh supervisor device downloads every document.
    let sup_store = Arc::new(RedbStore::open(tmp.path().join("supervisor.redb")).unwrap());
    let sup = Device::init(
        sup_store.clone(),
        Identity::new("chen", Role::Supervisor, (0..WORKERS).map(grid).collect()),
    )
    .unwrap();
    let start = Instant::now();
    let r =
        client::sync_until_quiescent(sup_store.clone(), &ClientConfig::new(relay.url()), |_| {})
            .await
            .expect("download");
    let secs = start.elapsed().as_secs_f64();
    let listed = sup.tickets(None, Listing::All).unwrap().len();
    assert_eq!(listed, WORKERS * per_worker);
    line(
        &format!("fresh device downloads {listed} docs"),
        r.documents,
        secs,
        wire(&r),
        peak_rss_mb(relay.pid()),
    );

    // 3. The same device reconnects with nothing changed.
    let start = Instant::now();
    let r = client::sync_until_quiescent(sup_store, &ClientConfig::new(relay.url()), |_| {})
        .await
        .expect("reconnect");
    line(
        &format!("reconnect, {} docs unchanged", r.documents),
        r.documents,
        start.elapsed().as_secs_f64(),
        wire(&r),
        peak_rss_mb(relay.pid()),
    );
    assert_eq!(r.received, 0);
}
