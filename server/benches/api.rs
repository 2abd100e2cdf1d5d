//! Records-API benchmark: a relay holding 100,000 tickets (written
//! straight into its store: documents, summaries, listing index and grid
//! indexes, as sync would leave them), served by `server::run` on
//! loopback, and timed over real HTTP: lists and filters, one ticket, the
//! queue counts and the figures. Prints p50/p95; asserts nothing.
//!
//! Run: `cargo bench -p server --bench api` (GRIDSYNC_BENCH_TICKETS
//! changes the 100,000; GRIDSYNC_BENCH_ROUNDS the 40 requests per line).
//!
//! The district: 西湖区, 4 streets × 5 communities × 5 grids (100 grids,
//! 1,000 tickets each at 100,000), reported over 2026; 30% reported, 30%
//! dispatched (a tenth of them overdue), 40% closed after verification,
//! and 1% with a conflict.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::{AutoCommit, Automerge};
use client_core::ids::{GridCode, TicketId};
use client_core::model::grid_index;
use client_core::model::lifecycle::{Action, CloseReason, Event, Role, Status};
use client_core::model::ticket::{self, Kind, NewTicket, Source, Urgency};
use client_core::repo::summary_of;
use client_core::store::{Batch, RedbStore, Store};
use server::registry::{GridRecord, Registry, Scope};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const STREETS: usize = 4;
const COMMUNITIES: usize = 5;
const GRIDS: usize = 5;
/// 2026-01-01T00:00+08:00.
const YEAR_START: i64 = 1_767_196_800_000;
const DAY: i64 = 86_400_000;

fn street(s: usize) -> String {
    format!("街道{s}")
}

fn community(s: usize, c: usize) -> String {
    format!("社区{s}-{c}")
}

fn grid(s: usize, c: usize, g: usize) -> GridCode {
    GridCode::new(format!("G-{s}{c}{g}")).unwrap()
}

fn all_grids() -> Vec<(usize, usize, GridCode)> {
    let mut out = Vec::new();
    for s in 0..STREETS {
        for c in 0..COMMUNITIES {
            for g in 0..GRIDS {
                out.push((s, c, grid(s, c, g)));
            }
        }
    }
    out
}

fn event(from: Option<Status>, to: Action, actor: &str, role: Role, at: i64) -> Event {
    Event::new(from, to, actor, role, at)
}

/// One ticket's document, by number `n` in grid `code`.
fn ticket_doc(code: &GridCode, n: usize) -> (TicketId, Automerge) {
    let id = TicketId::random();
    let reported = YEAR_START + (n as i64 * 7_919 % 330) * DAY + (n as i64 % 9) * 3_600_000;
    let t = NewTicket {
        id,
        grid: code.clone(),
        source: Source::Patrol,
        kind: Kind::Component,
        category: format!("01{:02}", n % 12),
        urgency: if n.is_multiple_of(7) {
            Urgency::Urgent
        } else {
            Urgency::Normal
        },
        title: format!("路灯不亮 {code} {n}"),
        description: "3号楼前，晚上全黑，居民反映多次".into(),
        location: None,
        resident: None,
    };
    let mut doc = AutoCommit::new();
    ticket::create(&mut doc, &t, "worker", Role::Worker, reported).unwrap();
    let sup = "supervisor";
    let mut push = |ev: Event| ticket::append_event(&mut doc, &ev).unwrap();
    let kind = n % 10;
    if kind >= 3 {
        push(event(
            Some(Status::Reported),
            Action::Accepted,
            sup,
            Role::Supervisor,
            reported + 3_600_000,
        ));
        let mut d = event(
            Some(Status::Accepted),
            Action::Dispatched,
            sup,
            Role::Supervisor,
            reported + 7_200_000,
        );
        d.unit = Some(format!("unit-{}", n % 3));
        // A tenth of the dispatched ones are past their deadline.
        d.due_at = Some(if n % 10 == 3 {
            reported + 2 * DAY
        } else {
            reported + 400 * DAY
        });
        push(d);
    }
    if kind >= 6 {
        let unit = format!("unit-{}", n % 3);
        let at = reported + DAY;
        push(event(
            Some(Status::Dispatched),
            Action::Acknowledged,
            &unit,
            Role::Unit,
            at,
        ));
        push(event(
            Some(Status::Acknowledged),
            Action::InProgress,
            &unit,
            Role::Unit,
            at + 1,
        ));
        push(event(
            Some(Status::InProgress),
            Action::Handled,
            &unit,
            Role::Unit,
            at + 2 * 3_600_000,
        ));
        push(event(
            Some(Status::Handled),
            Action::Verified,
            "worker",
            Role::Worker,
            at + 3 * 3_600_000,
        ));
        let mut c = event(
            Some(Status::Verified),
            Action::Closed,
            sup,
            Role::Supervisor,
            at + 4 * 3_600_000,
        );
        c.close_reason = Some(CloseReason::Resolved);
        push(c);
    }
    if n % 100 == 55 {
        // A second supervisor's offline accept, made from `reported`.
        push(event(
            Some(Status::Reported),
            Action::Accepted,
            "other",
            Role::Supervisor,
            reported + 3_600_001,
        ));
    }
    (id, doc.document().clone())
}

/// Writes `per_grid` tickets into every grid, and each grid's index.
fn load(store: &RedbStore, per_grid: usize) -> Vec<TicketId> {
    let mut ids = Vec::new();
    for (_, _, code) in all_grids() {
        let mut index = AutoCommit::new();
        grid_index::init(&mut index, &code).unwrap();
        let mut batch = Batch::new();
        for n in 0..per_grid {
            let (id, doc) = ticket_doc(&code, n);
            let doc_id = id.document_id();
            batch.compact(doc_id, doc.save());
            batch.put_heads(doc_id, &doc.get_heads());
            batch.put_summary(summary_of(&doc_id, &doc).expect("a ticket"));
            grid_index::add_ticket(&mut index, id).unwrap();
            ids.push(id);
            if batch_len(n) {
                store.write(std::mem::take(&mut batch)).unwrap();
            }
        }
        let index_id = code.index_document_id();
        let index = index.document().clone();
        batch.compact(index_id, index.save());
        batch.put_heads(index_id, &index.get_heads());
        store.write(batch).unwrap();
    }
    ids
}

fn batch_len(n: usize) -> bool {
    n % 500 == 499
}

/// Users: a district reviewer, a street and a community supervisor, a
/// worker of one grid and a unit; their tokens.
fn users(store: &RedbStore) -> Vec<(&'static str, String)> {
    let db = store.database();
    let r = Registry::new(&db).unwrap();
    for (s, c, code) in all_grids() {
        r.add_grid(&GridRecord {
            code: code.clone(),
            name: format!("{code} 网格"),
            community: community(s, c),
            street: street(s),
            district: "西湖区".into(),
        })
        .unwrap();
    }
    let mut tokens = Vec::new();
    for (name, role, scope) in [
        ("reviewer", Role::Reviewer, Scope::District("西湖区".into())),
        ("street", Role::Supervisor, Scope::Street(street(0))),
        (
            "community",
            Role::Supervisor,
            Scope::Community(community(0, 0)),
        ),
        ("worker", Role::Worker, Scope::Grids(vec![grid(0, 0, 0)])),
        ("unit-1", Role::Unit, Scope::Street(street(0))),
    ] {
        r.add_user(name, role, scope).unwrap();
        tokens.push((name, r.issue_token(name, None).unwrap().0));
    }
    tokens
}

/// One GET over a fresh loopback connection; the status and body length.
async fn get(addr: SocketAddr, path: &str, token: &str) -> (u16, Vec<u8>) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tcp.read_to_end(&mut response).await.unwrap();
    let status = std::str::from_utf8(&response[9..12])
        .unwrap()
        .parse()
        .unwrap();
    (status, response)
}

fn quantile(sorted: &[Duration], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Times `rounds` requests of `path()` and prints a line.
async fn line(
    name: &str,
    addr: SocketAddr,
    token: &str,
    rounds: usize,
    mut path: impl FnMut(usize) -> String,
) {
    let mut times = Vec::with_capacity(rounds);
    let mut bytes = 0;
    for i in 0..rounds {
        let p = path(i);
        let started = Instant::now();
        let (status, body) = get(addr, &p, token).await;
        times.push(started.elapsed());
        assert_eq!(status, 200, "{p}: {}", String::from_utf8_lossy(&body));
        bytes = body.len();
    }
    times.sort();
    println!(
        "{name:<44} p50 {:>8.1} ms  p95 {:>8.1} ms  ({rounds} requests, {bytes} bytes)",
        quantile(&times, 0.5),
        quantile(&times, 0.95),
    );
}

/// The `next_cursor` of a list answer.
fn cursor_of(response: &[u8]) -> String {
    let text = String::from_utf8_lossy(response);
    let body = text.split_once("\r\n\r\n").unwrap().1;
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["next_cursor"].as_str().unwrap().to_owned()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let total: usize = std::env::var("GRIDSYNC_BENCH_TICKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let rounds: usize = std::env::var("GRIDSYNC_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let per_grid = total.div_ceil(STREETS * COMMUNITIES * GRIDS);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.redb");
    let store = Arc::new(RedbStore::open(&path).unwrap());
    let started = Instant::now();
    let ids = tokio::task::block_in_place(|| load(&store, per_grid));
    let tokens = users(&store);
    println!(
        "loaded {} tickets in {} grids in {:.1} s ({:.0} MB on disk)",
        ids.len(),
        STREETS * COMMUNITIES * GRIDS,
        started.elapsed().as_secs_f64(),
        std::fs::metadata(&path).map_or(0.0, |m| m.len() as f64 / 1e6),
    );
    let token = |name: &str| tokens.iter().find(|(n, _)| *n == name).unwrap().1.clone();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = server::Config {
        auth_failure_burst: 1_000,
        ..server::Config::default()
    };
    let relay = tokio::spawn(server::run(listener, store, config, async move {
        let _ = stopped.await;
    }));

    let per_community = GRIDS * per_grid;
    let per_street = COMMUNITIES * per_community;
    let (reviewer, street_sup, community_sup, worker, unit) = (
        token("reviewer"),
        token("street"),
        token("community"),
        token("worker"),
        token("unit-1"),
    );
    println!("-- cold: the first list reads the summary index of its grids from redb --");
    line(
        &format!("district reviewer, first list ({})", ids.len()),
        addr,
        &reviewer,
        1,
        |_| "/api/tickets".into(),
    )
    .await;
    println!("-- lists (50 a page, newest change first) --");
    line(
        &format!("worker, 1 grid ({per_grid})"),
        addr,
        &worker,
        rounds,
        |_| "/api/tickets".into(),
    )
    .await;
    line(
        &format!("community supervisor ({per_community})"),
        addr,
        &community_sup,
        rounds,
        |_| "/api/tickets".into(),
    )
    .await;
    line(
        &format!("street supervisor ({per_street})"),
        addr,
        &street_sup,
        rounds,
        |_| "/api/tickets".into(),
    )
    .await;
    line(
        &format!("district reviewer ({})", ids.len()),
        addr,
        &reviewer,
        rounds,
        |_| "/api/tickets".into(),
    )
    .await;
    line(
        "unit (its tickets in a street)",
        addr,
        &unit,
        rounds,
        |_| "/api/tickets".into(),
    )
    .await;
    println!("-- filters --");
    line(
        "street: status=dispatched&overdue=true",
        addr,
        &street_sup,
        rounds,
        |_| "/api/tickets?status=dispatched&overdue=true".into(),
    )
    .await;
    line("street: conflict=true", addr, &street_sup, rounds, |_| {
        "/api/tickets?conflict=true".into()
    })
    .await;
    line(
        "street: q=<text>&sort=due",
        addr,
        &street_sup,
        rounds,
        |i| format!("/api/tickets?q=G-00{}&sort=due", i % 5),
    )
    .await;
    line(
        "street: from/to one month",
        addr,
        &street_sup,
        rounds,
        |_| "/api/tickets?from=2026-03-01&to=2026-03-31".into(),
    )
    .await;
    line(
        "district: community=… (one community)",
        addr,
        &reviewer,
        rounds,
        |_| {
            "/api/tickets?community=%E7%A4%BE%E5%8C%BA1-1".into() // 社区1-1
        },
    )
    .await;
    let (_, first) = get(addr, "/api/tickets?limit=50", &street_sup).await;
    let cursor = cursor_of(&first);
    line(
        "street: second page (cursor)",
        addr,
        &street_sup,
        rounds,
        |_| format!("/api/tickets?limit=50&cursor={cursor}"),
    )
    .await;
    line(
        "street: queue counts (/api/queues)",
        addr,
        &street_sup,
        rounds,
        |_| "/api/queues".into(),
    )
    .await;
    println!("-- one ticket --");
    line(
        "district reviewer: one ticket",
        addr,
        &reviewer,
        rounds,
        |i| format!("/api/tickets/{}", ids[(i * 7_919) % ids.len()]),
    )
    .await;
    println!("-- figures (2026-01-01 .. 2026-11-30) --");
    let year = "from=2026-01-01&to=2026-11-30";
    let few = rounds.clamp(1, 5);
    line(
        &format!("one community ({per_community} tickets)"),
        addr,
        &reviewer,
        few,
        |_| format!("/api/figures?{year}&community=%E7%A4%BE%E5%8C%BA1-1"),
    )
    .await;
    line(
        &format!("one street ({per_street} tickets)"),
        addr,
        &reviewer,
        few,
        |_| {
            format!("/api/figures?{year}&street=%E8%A1%97%E9%81%931") // 街道1
        },
    )
    .await;
    line(
        &format!("the district ({} tickets)", ids.len()),
        addr,
        &reviewer,
        few,
        |_| format!("/api/figures?{year}"),
    )
    .await;
    let _ = stop.send(());
    relay.await.unwrap().unwrap();
}
