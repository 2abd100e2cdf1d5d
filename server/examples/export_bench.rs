//! The relay-side export path at scale: tickets stored as real automerge
//! documents in a redb file, read back one at a time by
//! `server::export::write` (the engine bench, client-core's `report_bench`,
//! feeds the exporter from memory and so leaves out the loading).
//!
//! ```text
//! cargo run --release -p server --example export_bench -- --tickets 100000 xlsx csv-zip
//! cargo run --release -p server --example export_bench -- --db /tmp/export.redb xlsx
//! cargo run --release -p server --example export_bench -- --db /tmp/export.redb --out /tmp/x xlsx
//! ```
//!
//! Seeds `--tickets` reported tickets over 200 grids (in batches of 1,000
//! per transaction) into a temporary file, or into `--db PATH` if that
//! file does not exist yet (an existing one is exported as it is, so two
//! builds can be compared on the same data), then runs each format in a
//! child process of its own and prints its wall time, its CPU time (user
//! and system, from `/proc/self/stat`: on a shared machine the wall time
//! says more about the neighbours), tickets per second and peak RSS
//! (VmHWM, Linux). With `--out DIR` each file is kept as `DIR/export.<ext>`,
//! so the output of two builds can be compared.

use std::sync::Arc;
use std::time::Instant;

/// The relay binary's allocator (`server/src/main.rs`), so the figures are
/// the relay's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use automerge::ActorId;
use chrono::{FixedOffset, TimeZone};
use client_core::ids::{GridCode, TicketId};
use client_core::model::lifecycle::Role;
use client_core::model::ticket::{self, Kind, Location, NewTicket, Source, Urgency};
use client_core::repo::Repo;
use client_core::report::{Format, Period, ReportOptions};
use client_core::store::{Batch, RedbStore, Store};
use server::export::{self, Hooks};

const GRIDS: u64 = 200;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// User and system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at 3.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        // utime and stime, in clock ticks of 1/100 s on Linux.
        (Some(user), Some(system)) => (user + system) / 100.0,
        _ => f64::NAN,
    }
}

fn january() -> (Period, i64) {
    let cn = FixedOffset::east_opt(8 * 3600).unwrap();
    let from = cn.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let to = cn.with_ymd_and_hms(2025, 2, 1, 0, 0, 0).unwrap();
    let period = Period::new(from.timestamp_millis(), to.timestamp_millis()).unwrap();
    (period, from.timestamp_millis())
}

fn grid(i: u64) -> GridCode {
    GridCode::new(format!("GL-{:03}", i % GRIDS)).unwrap()
}

fn seed(path: &std::path::Path, tickets: u64) {
    let store = Arc::new(RedbStore::open(path).unwrap());
    let repo = Repo::new(store.clone(), ActorId::random());
    let (_, start) = january();
    let mut batch = Batch::new();
    for i in 0..tickets {
        let t = NewTicket {
            id: TicketId::random(),
            grid: grid(i),
            source: Source::Patrol,
            kind: Kind::Component,
            category: "0102".into(),
            urgency: Urgency::Normal,
            title: format!("路灯不亮，第 {i} 号"),
            description: "居民反映夜间无照明".into(),
            location: Some(Location {
                lat: 30.25 + (i % 100) as f64 / 1e4,
                lon: 120.15 + (i % 97) as f64 / 1e4,
                accuracy_m: Some(5.0),
                address: None,
            }),
            resident: None,
        };
        let at = start + (i as i64 % (30 * 24 * 60)) * 60_000;
        let (_, b) = repo
            .edit(&t.id.document_id(), |tx| {
                ticket::create(tx, &t, "wang", Role::Worker, at)
            })
            .unwrap();
        batch.extend(b);
        if i % 1000 == 999 {
            store.write(std::mem::take(&mut batch)).unwrap();
        }
    }
    store.write(batch).unwrap();
}

fn run(path: &std::path::Path, format: &str, out: Option<&str>) {
    let before = peak_rss_mb();
    let format: Format = match format {
        "xlsx" => Format::Xlsx,
        "csv-zip" => Format::CsvZip,
        "json" => Format::Json,
        "geojson" => Format::GeoJson,
        other => panic!("unknown format {other}"),
    };
    let started = Instant::now();
    let cpu = cpu_seconds();
    let store = RedbStore::open(path).unwrap();
    let grids: Vec<GridCode> = (0..GRIDS).map(grid).collect();
    let (period, _) = january();
    let out = match out {
        Some(dir) => std::fs::File::create(
            std::path::Path::new(dir).join(format!("export.{}", format.extension())),
        )
        .unwrap(),
        None => tempfile::tempfile().unwrap(),
    };
    let written = export::write(
        &store,
        &grids,
        format,
        ReportOptions::new(period),
        std::io::BufWriter::new(out),
        Hooks::default(),
    )
    .unwrap();
    let wall = started.elapsed().as_secs_f64();
    let tickets = written.stats.tickets_exported;
    println!(
        "{:<8} {tickets} tickets from redb: {wall:.2} s wall, {:.2} s CPU, {:.0} tickets/s; \
         peak RSS {:.1} MB (before {:.1} MB)",
        format.extension(),
        cpu_seconds() - cpu,
        tickets as f64 / wall,
        peak_rss_mb(),
        before
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, path, format, out @ ..] = args.as_slice()
        && flag == "--child"
    {
        run(
            std::path::Path::new(path),
            format,
            out.first().map(String::as_str),
        );
        return;
    }
    let mut tickets = 100_000;
    let mut formats = Vec::new();
    let mut db = None;
    let mut out = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--tickets" {
            tickets = it.next().and_then(|n| n.parse().ok()).expect("--tickets N");
        } else if a == "--db" {
            db = Some(std::path::PathBuf::from(it.next().expect("--db PATH")));
        } else if a == "--out" {
            out = Some(it.next().expect("--out DIR").clone());
        } else {
            formats.push(a.clone());
        }
    }
    if formats.is_empty() {
        formats = vec!["xlsx".into(), "csv-zip".into()];
    }
    let dir = tempfile::tempdir().unwrap();
    let path = db.unwrap_or_else(|| dir.path().join("relay.redb"));
    if path.exists() {
        println!("exporting {} as it is", path.display());
    } else {
        let started = Instant::now();
        seed(&path, tickets);
        println!(
            "seeded {tickets} tickets in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
    println!("database file {:.1} MB", size as f64 / 1e6);
    let me = std::env::current_exe().unwrap();
    for format in formats {
        let status = std::process::Command::new(&me)
            .args(["--child", path.to_str().unwrap(), &format])
            .args(out.as_slice())
            .status()
            .unwrap();
        assert!(status.success());
    }
}
