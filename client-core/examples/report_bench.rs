//! Export benchmark: streams synthetic tickets and visits into each format
//! and prints the elapsed time and the process's peak resident memory
//! (VmHWM). Each format runs in a child process of its own, so one
//! format's peak does not hide another's.
//!
//! ```text
//! cargo run -p client-core --example report_bench                  # 100,000 tickets, XLSX and CSV
//! cargo run -p client-core --example report_bench -- --tickets 20000 xlsx csv-zip csv json geojson
//! ```
//!
//! Tickets are made one at a time and dropped after they are pushed, as a
//! caller reading documents from the store would, so the peak measures the
//! exporter. Each ticket's state is the real lifecycle fold of its events.

use std::fs::File;
use std::io::BufWriter;
use std::process::Command;
use std::time::Instant;

use chrono::{FixedOffset, NaiveDate};
use client_core::ids::{GridCode, TicketId, VisitId};
use client_core::model::lifecycle::{self, Action, Event, EventEntry, Rating, Role, Status};
use client_core::model::ticket::{Kind, Location, Resident, Source, Ticket, Urgency};
use client_core::model::visit::{Outcome, Visit, VisitType};
use client_core::report::{
    Calendar, Exporter, Format, GridDirectory, GridInfo, Period, ReportOptions, Table,
};

const DEFAULT_TICKETS: u64 = 100_000;
const GRIDS: u64 = 200;
const MINUTE: i64 = 60_000;

fn offset() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("valid offset")
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn grid_code(i: u64) -> GridCode {
    GridCode::new(format!("GL-{:02}-{:03}", i / 40, i % 40)).expect("valid grid code")
}

fn directory() -> GridDirectory {
    (0..GRIDS)
        .map(|i| {
            let info = GridInfo {
                name: format!("第{i}网格"),
                community: format!("第{}社区", i / 10),
                street: format!("第{}街道", i / 40),
                district: "示例区".into(),
            };
            (grid_code(i), info)
        })
        .collect()
}

/// A ticket's events as they are made, with the status they lead to.
struct Life {
    events: Vec<EventEntry>,
    status: Option<Status>,
    before_suspension: Option<Status>,
    at: i64,
}

impl Life {
    fn wait(&mut self, rng: &mut fastrand::Rng, max_minutes: i64) {
        self.at += rng.i64(5..max_minutes) * MINUTE;
    }

    fn push(&mut self, to: Action, role: Role, f: impl FnOnce(&mut Event)) {
        let actor = match role {
            Role::Unit => "u1",
            Role::Worker => "w1",
            _ => "s1",
        };
        let mut ev = Event::new(self.status, to, actor, role, self.at);
        f(&mut ev);
        self.events.push(Ok(ev));
        self.status = Some(match to {
            Action::Reported => Status::Reported,
            Action::Accepted | Action::Reopened => Status::Accepted,
            Action::Invalid => Status::Invalid,
            Action::Dispatched | Action::Rework => Status::Dispatched,
            Action::Acknowledged => Status::Acknowledged,
            Action::Returned => Status::Returned,
            Action::InProgress => Status::InProgress,
            Action::Handled => Status::Handled,
            Action::Verified => Status::Verified,
            Action::Closed | Action::Rated => Status::Closed,
            Action::Suspended => {
                self.before_suspension = self.status;
                Status::Suspended
            }
            Action::Resumed => self.before_suspension.unwrap_or(Status::Accepted),
            Action::ExtensionRequested
            | Action::ExtensionApproved
            | Action::ExtensionRefused
            | Action::Urged => self.status.unwrap_or(Status::Reported),
        });
    }
}

/// A ticket reported at a random time of 2025 that went some way along its
/// lifecycle: most are closed, some reworked, returned, suspended or left
/// open. Its state is the real fold of its events.
fn synthetic_ticket(rng: &mut fastrand::Rng, cal: &Calendar, year: Period) -> Ticket {
    let reported = rng.i64(year.from..year.to - 40 * 24 * 60 * MINUTE);
    let mut life = Life {
        events: Vec::with_capacity(16),
        status: None,
        before_suspension: None,
        at: reported,
    };
    life.push(Action::Reported, Role::Worker, |_| {});
    life.wait(rng, 240);
    life.push(Action::Accepted, Role::Supervisor, |_| {});
    life.wait(rng, 240);
    let due = cal.add_working_hours(life.at, [4, 16, 24, 40][rng.usize(0..4)], offset());
    life.push(Action::Dispatched, Role::Supervisor, |e| {
        e.unit = Some("物业公司".into());
        e.due_at = Some(due);
    });
    let fate = rng.u8(0..100);
    if fate < 5 {
        life.wait(rng, 600);
        life.push(Action::Suspended, Role::Supervisor, |_| {});
        life.wait(rng, 6000);
        life.push(Action::Resumed, Role::Supervisor, |_| {});
    }
    if fate >= 90 {
        return ticket_from(life.events, reported, rng);
    }
    if (5..10).contains(&fate) {
        life.wait(rng, 300);
        life.push(Action::Returned, Role::Unit, |e| {
            e.note = Some("非本单位".into())
        });
        life.wait(rng, 300);
        life.push(Action::Dispatched, Role::Supervisor, |e| {
            e.unit = Some("市政".into())
        });
    }
    let rounds = if fate.is_multiple_of(7) { 2 } else { 1 };
    for round in 0..rounds {
        life.wait(rng, 120);
        life.push(Action::Acknowledged, Role::Unit, |_| {});
        life.wait(rng, 120);
        life.push(Action::InProgress, Role::Unit, |_| {});
        life.wait(rng, 3000);
        life.push(Action::Handled, Role::Unit, |_| {});
        life.wait(rng, 600);
        if round + 1 < rounds {
            life.push(Action::Rework, Role::Worker, |e| {
                e.note = Some("返工".into())
            });
        }
    }
    life.push(Action::Verified, Role::Worker, |_| {});
    life.wait(rng, 600);
    life.push(Action::Closed, Role::Supervisor, |_| {});
    if fate.is_multiple_of(3) {
        life.wait(rng, 3000);
        let rating = [Rating::Satisfied, Rating::Basic, Rating::Dissatisfied][rng.usize(0..3)];
        life.push(Action::Rated, Role::Supervisor, |e| e.rating = Some(rating));
    }
    ticket_from(life.events, reported, rng)
}

fn ticket_from(events: Vec<EventEntry>, reported: i64, rng: &mut fastrand::Rng) -> Ticket {
    let state = lifecycle::fold(&events);
    debug_assert!(state.conflicts.is_empty(), "{:?}", state.conflicts);
    Ticket {
        id: TicketId::random(),
        grid: Some(grid_code(rng.u64(0..GRIDS))),
        source: Some(Source::Patrol),
        kind: Some(Kind::Component),
        category: format!("{:04}", rng.u32(100..2000)),
        urgency: Some(Urgency::Normal),
        title: "路灯不亮，影响夜间出行".into(),
        description: "居民反映小区东门路灯连续三晚不亮，存在安全隐患。".into(),
        location: Some(Location {
            lat: 30.2 + rng.f64() * 0.1,
            lon: 120.1 + rng.f64() * 0.1,
            accuracy_m: Some(5.0),
            address: Some("幸福里3幢东侧".into()),
        }),
        resident: Resident {
            name: Some("张三".into()),
            phone: Some("13800138000".into()),
        },
        created_by: "w1".into(),
        created_at: Some(reported),
        photos: Vec::new(),
        events,
        comments: Vec::new(),
        state,
    }
}

fn synthetic_visit(rng: &mut fastrand::Rng, year: Period) -> Visit {
    let started = rng.i64(year.from..year.to);
    Visit {
        id: VisitId::random(),
        visit_type: VisitType::Household,
        grid: grid_code(rng.u64(0..GRIDS)),
        household: Some(format!(
            "{}-{}-{}0{}",
            rng.u8(1..20),
            rng.u8(1..4),
            rng.u8(1..20),
            rng.u8(1..5)
        )),
        worker: "w1".into(),
        started_at: started,
        ended_at: Some(started + 20 * MINUTE),
        lat: Some(30.25),
        lon: Some(120.15),
        outcome: if rng.bool() {
            Outcome::Met
        } else {
            Outcome::NotHome
        },
        notes: String::new(),
        tickets: Vec::new(),
        amends: None,
    }
}

fn run(format_name: &str, tickets: u64) {
    let format = match format_name {
        "xlsx" => Format::Xlsx,
        "csv-zip" => Format::CsvZip,
        "csv" => Format::Csv(Table::Tickets),
        "json" => Format::Json,
        "geojson" => Format::GeoJson,
        other => panic!("unknown format `{other}`: use xlsx, csv-zip, csv, json or geojson"),
    };
    let year = Period::days(
        NaiveDate::from_ymd_opt(2025, 1, 1).expect("date"),
        NaiveDate::from_ymd_opt(2025, 12, 31).expect("date"),
        offset(),
    )
    .expect("a year");
    let mut options = ReportOptions::new(year);
    options.grids = directory();
    let calendar = options.calendar.clone();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join(format!("report.{}", format.extension()));
    let before = peak_rss_mb();

    // Total time, and the part spent inside the exporter (the rest makes
    // the synthetic records).
    let start = Instant::now();
    let sink = BufWriter::new(File::create(&path).expect("output file"));
    let mut exporter = Exporter::new(format, options, sink).expect("exporter");
    let mut in_exporter = start.elapsed();
    let mut rng = fastrand::Rng::with_seed(7);
    let visits = tickets / 10;
    for _ in 0..tickets {
        let t = synthetic_ticket(&mut rng, &calendar, year);
        let push = Instant::now();
        exporter.push_ticket(&t).expect("push ticket");
        in_exporter += push.elapsed();
    }
    for _ in 0..visits {
        let v = synthetic_visit(&mut rng, year);
        let push = Instant::now();
        exporter.push_visit(&v).expect("push visit");
        in_exporter += push.elapsed();
    }
    let finish = Instant::now();
    let stats = exporter.finish().expect("finish");
    in_exporter += finish.elapsed();
    let elapsed = start.elapsed();
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "{format_name:8} {tickets} tickets + {visits} visits ({} rows): {:.2} s total, {:.2} s in the exporter; peak RSS {:.1} MB (before export {:.1} MB); file {:.1} MB; on-time rate {:.4}",
        stats.tickets_exported + stats.visits_exported,
        elapsed.as_secs_f64(),
        in_exporter.as_secs_f64(),
        peak_rss_mb(),
        before,
        size as f64 / 1e6,
        stats.total.on_time_rate.unwrap_or(f64::NAN),
    );
}

fn main() {
    let mut tickets = DEFAULT_TICKETS;
    let mut formats = Vec::new();
    let mut child = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--tickets" => {
                tickets = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--tickets takes a number")
            }
            "--child" => child = true,
            f => formats.push(f.to_owned()),
        }
    }
    if formats.is_empty() {
        formats = vec!["xlsx".into(), "csv-zip".into(), "csv".into()];
    }
    if child {
        for f in &formats {
            run(f, tickets);
        }
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    for f in &formats {
        let status = Command::new(&exe)
            .args(["--child", "--tickets", &tickets.to_string(), f])
            .status()
            .expect("run the benchmark child");
        assert!(status.success(), "{f} failed");
    }
}
