//! Capture benchmark: how fast a device records tickets, how fast it lists
//! a grid, and how much disk a ticket takes. A plain program that prints
//! figures, checking only that its setup did what it says:
//! `cargo bench -p cli --bench capture`.
//!
//! 1. Record: 1,000 tickets, each reported and then moved through 5
//!    lifecycle events (accepted, dispatched, acknowledged, in_progress,
//!    handled), all through `Device` on a `RedbStore`, one durable commit
//!    per operation, exactly as `gridsync` does them. The supervisor's
//!    steps run first for every ticket, then the device switches identity
//!    to the handling unit with `Device::set_identity` (one device cannot
//!    hold two roles at once, and redb allows one open handle per file).
//! 2. List: a store of 10,000 tickets spread over 100 grids (about two
//!    thirds open); the time `Device::tickets(grid, Listing::Open)` takes
//!    for one grid, median of many runs over different grids. The store is
//!    filled through the repo in large batches (setup, not measured).
//! 3. Disk: the database file size divided by the ticket count.

use std::path::Path;
use std::time::{Duration, Instant};

use client_core::device::{Device, EventInput, Identity};
use client_core::ids::{GridCode, TicketId};
use client_core::model::grid_index;
use client_core::model::lifecycle::{Action, Event, Role, Status};
use client_core::model::ticket::{self, Kind, Location, NewTicket, Source, Urgency};
use client_core::store::{Batch, Listing, RedbStore};

const RECORD_TICKETS: usize = 1_000;
const LIST_TICKETS: usize = 10_000;
const LIST_GRIDS: usize = 100;
const LIST_RUNS: usize = 200;
/// A fixed device clock: the figures must not depend on the date.
const T0: i64 = 1_740_790_800_000; // 2025-03-01T09:00:00+08:00

fn grid(i: usize) -> GridCode {
    GridCode::new(format!("GL-{:02}-{:02}", i / 10, i % 10)).expect("valid grid code")
}

fn new_ticket(i: usize, grid: GridCode) -> NewTicket {
    NewTicket {
        id: TicketId::random(),
        grid,
        source: Source::Patrol,
        kind: Kind::Component,
        category: "0102".to_owned(),
        urgency: if i.is_multiple_of(10) {
            Urgency::Urgent
        } else {
            Urgency::Normal
        },
        title: format!("幸福小区{}号楼东侧路灯不亮", i % 40 + 1),
        description: "巡查发现，晚上七点后整段道路全黑，居民出行不便，请尽快处理。".to_owned(),
        location: Some(Location {
            lat: 31.2304 + (i as f64) * 1e-5,
            lon: 121.4737,
            accuracy_m: Some(6.0),
            address: Some("长宁区幸福路88弄".to_owned()),
        }),
        resident: None,
    }
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn record() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("gridsync.redb");
    let g = grid(0);
    let store = RedbStore::open(&path).expect("open store");
    let mut device = Device::init(
        store,
        Identity::new("李明", Role::Supervisor, vec![g.clone()]),
    )
    .expect("init");

    // Time spent per kind of operation, in the order they run.
    let mut spent: Vec<(&str, Duration)> = Vec::new();
    let mut add = |what: &'static str, d: Duration| match spent.iter_mut().find(|(w, _)| *w == what)
    {
        Some((_, total)) => *total += d,
        None => spent.push((what, d)),
    };
    let started = Instant::now();
    let mut ids = Vec::with_capacity(RECORD_TICKETS);
    for i in 0..RECORD_TICKETS {
        let now = T0 + i as i64 * 1_000;
        let t = Instant::now();
        let id = device
            .report(&new_ticket(i, g.clone()), now)
            .expect("report");
        add("report", t.elapsed());
        let t = Instant::now();
        device
            .act(id, Action::Accepted, EventInput::default(), now + 1)
            .expect("accepted");
        add("accepted", t.elapsed());
        let dispatch = EventInput {
            unit: Some("幸福物业".to_owned()),
            ..EventInput::default()
        };
        let t = Instant::now();
        device
            .act(id, Action::Dispatched, dispatch, now + 2)
            .expect("dispatched");
        add("dispatched", t.elapsed());
        ids.push(id);
    }
    let supervisor_done = started.elapsed();
    device
        .set_identity(Identity::new("幸福物业", Role::Unit, vec![g.clone()]))
        .expect("switch to the unit");
    for (i, id) in ids.iter().enumerate() {
        let now = T0 + 3_600_000 + i as i64 * 1_000;
        for (k, action) in [Action::Acknowledged, Action::InProgress, Action::Handled]
            .into_iter()
            .enumerate()
        {
            let t = Instant::now();
            device
                .act(*id, action, EventInput::default(), now + k as i64)
                .expect("unit step");
            add(action.as_str(), t.elapsed());
        }
    }
    let total = started.elapsed();
    let handled = device
        .tickets(Some(&g), Listing::Open)
        .expect("list")
        .iter()
        .filter(|t| t.status == Status::Handled)
        .count();
    assert_eq!(handled, RECORD_TICKETS, "every ticket reached handled");

    let operations = RECORD_TICKETS * 6;
    println!(
        "record {RECORD_TICKETS} tickets x 5 events (+ report): {:.2} s ({:.0} tickets/s, \
         {:.2} ms per operation; supervisor part {:.2} s, unit part {:.2} s)",
        total.as_secs_f64(),
        RECORD_TICKETS as f64 / total.as_secs_f64(),
        ms(total) / operations as f64,
        supervisor_done.as_secs_f64(),
        (total - supervisor_done).as_secs_f64(),
    );
    let per_op: Vec<String> = spent
        .iter()
        .map(|(what, d)| format!("{what} {:.2}", ms(*d) / RECORD_TICKETS as f64))
        .collect();
    println!("  mean ms per operation: {}", per_op.join(", "));
    drop(device);
    let bytes = file_size(&path);
    println!(
        "disk after recording: {:.1} MB, {:.0} bytes per ticket (6 events, one grid index)",
        bytes as f64 / 1e6,
        bytes as f64 / RECORD_TICKETS as f64
    );
}

/// Fills a store with `LIST_TICKETS` tickets over `LIST_GRIDS` grids:
/// a third left reported, a third accepted and dispatched, a third
/// marked invalid (closed, so not listed as open).
fn fill(device: &Device<RedbStore>) -> usize {
    let repo = device.repo();
    let per_grid = LIST_TICKETS / LIST_GRIDS;
    let mut open = 0;
    for gi in 0..LIST_GRIDS {
        let g = grid(gi);
        let mut batch = Batch::new();
        let mut ids = Vec::with_capacity(per_grid);
        for k in 0..per_grid {
            let i = gi * per_grid + k;
            let t = new_ticket(i, g.clone());
            let at = T0 + i as i64;
            let (_, b) = repo
                .edit(&t.id.document_id(), |tx| {
                    ticket::create(tx, &t, "王芳", Role::Worker, at)?;
                    match i % 3 {
                        0 => {
                            let mut ev = Event::new(
                                Some(Status::Reported),
                                Action::Invalid,
                                "李明",
                                Role::Supervisor,
                                at + 1,
                            );
                            ev.note = Some("重复上报".to_owned());
                            ticket::append_event(tx, &ev)
                        }
                        1 => {
                            let accepted = Event::new(
                                Some(Status::Reported),
                                Action::Accepted,
                                "李明",
                                Role::Supervisor,
                                at + 1,
                            );
                            ticket::append_event(tx, &accepted)?;
                            let mut dispatched = Event::new(
                                Some(Status::Accepted),
                                Action::Dispatched,
                                "李明",
                                Role::Supervisor,
                                at + 2,
                            );
                            dispatched.unit = Some("幸福物业".to_owned());
                            dispatched.due_at = Some(at + 72 * 3_600_000);
                            ticket::append_event(tx, &dispatched)
                        }
                        _ => Ok(()),
                    }
                })
                .expect("ticket edit");
            if !i.is_multiple_of(3) {
                open += 1;
            }
            batch.extend(b);
            ids.push(t.id);
        }
        let (_, index) = repo
            .edit(&g.index_document_id(), |tx| {
                grid_index::init(tx, &g)?;
                for id in &ids {
                    grid_index::add_ticket(tx, *id)?;
                }
                Ok(())
            })
            .expect("index edit");
        batch.extend(index);
        repo.commit(batch).expect("commit grid");
    }
    open
}

fn list() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("gridsync.redb");
    let grids: Vec<GridCode> = (0..LIST_GRIDS).map(grid).collect();
    let store = RedbStore::open(&path).expect("open store");
    let device = Device::init(
        store,
        Identity::new("李明", Role::Supervisor, grids.clone()),
    )
    .expect("init");
    let setup = Instant::now();
    let open = fill(&device);
    println!(
        "list setup: {LIST_TICKETS} tickets over {LIST_GRIDS} grids ({open} open) written in \
         {:.1} s (batched, not a capture figure)",
        setup.elapsed().as_secs_f64()
    );

    let mut one_grid = Vec::with_capacity(LIST_RUNS);
    let mut listed = 0;
    for run in 0..LIST_RUNS {
        let g = &grids[(run * 37) % LIST_GRIDS];
        let t = Instant::now();
        let tickets = device.tickets(Some(g), Listing::Open).expect("list");
        one_grid.push(t.elapsed());
        listed = tickets.len();
    }
    println!(
        "list one grid's open tickets ({listed} of {} in the grid, store of {LIST_TICKETS}): \
         median {:.2} ms, p90 {:.2} ms over {LIST_RUNS} runs (target < 50 ms)",
        LIST_TICKETS / LIST_GRIDS,
        ms(median(one_grid.clone())),
        ms(percentile(one_grid, 0.9)),
    );

    let mut all_grids = Vec::new();
    let mut all_listed = 0;
    for _ in 0..11 {
        let t = Instant::now();
        all_listed = device.tickets(None, Listing::Open).expect("list").len();
        all_grids.push(t.elapsed());
    }
    println!(
        "list all {LIST_GRIDS} grids' open tickets ({all_listed}): median {:.1} ms over 11 runs",
        ms(median(all_grids)),
    );
    drop(device);
    let bytes = file_size(&path);
    println!(
        "disk for the listing store: {:.1} MB, {:.0} bytes per ticket (1-3 events each)",
        bytes as f64 / 1e6,
        bytes as f64 / LIST_TICKETS as f64
    );
}

fn main() {
    // `cargo bench` passes `--bench`; this program takes no arguments.
    println!(
        "gridsync capture benchmark (client-core Device over RedbStore, one commit per write)"
    );
    record();
    list();
}
