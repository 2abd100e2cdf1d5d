//! The district-review export on a fixed dataset whose figures are worked
//! out by hand below, read back from every format.
//!
//! Period: February 2025, [2025-02-01 00:00, 2025-03-01 00:00) at +08:00;
//! as-of instant = end of the period. Calendar: the shipped mainland China
//! calendar; working day 09:00–12:00, 13:30–17:30 (7 h). Spring Festival
//! 2025-01-28..02-04 is off; Sat 2025-02-08 is a make-up working day.
//!
//! Grids: A = GL-01-01 and B = GL-01-02 in 幸福社区 / 东城街道, C = GL-02-01 in
//! 和平社区 / 西城街道, all in 示例区; GL-99-99 is not in the directory.
//!
//! Tickets (h = working hours):
//!
//! - T1 (A) dispatched Mon 01-27 10:00 with a 30 h limit: 01-27 gives 6 h,
//!   the festival nothing, 02-05/06/07 give 21 h, and the last 3 h fall on
//!   the make-up Saturday 02-08, so due = Sat 02-08 12:00. Handled 02-08
//!   11:00, closed 11:45: on time. Handling 6 + 21 + 2 = 29 h. Rated 满意
//!   02-10. Reported and accepted in January.
//! - T2 (A) reported, accepted, dispatched 02-10 09:20 with 16 h: due Wed
//!   02-12 11:20. Handled 02-11 10:00, sent back (rework) 11:00, handled
//!   again 02-12 10:00, closed 11:00: on time, 2 handlings, 1 rework.
//!   Handling 02-10 09:20 → 02-12 10:00 = 6h40 + 7 + 1 = 14h40 (880 min).
//!   Rated 基本满意 02-13.
//! - T3 (B) dispatched Thu 02-13 09:00 with 14 h: due Fri 02-14 17:30.
//!   Handled Sat 02-15 09:30, closed Sat 10:30: after due_at but with no
//!   working time in between, so on time. Handling 14 h. Rated 不满意.
//! - T4 (B) dispatched Mon 02-17 09:30 with 7 h: due Tue 02-18 09:30.
//!   Returned 10:00, dispatched again 10:30; handled Wed 02-19 10:00, closed
//!   11:00: late by 2.5 + 4 + 2 = 8.5 h. Handling 6.5 + 7 + 1 = 14.5 h.
//! - T5 (C) dispatched Wed 02-05 10:00, due Fri 02-07 10:00; suspended
//!   (挂账) 02-06 09:00, resumed 02-20 09:00, handled 02-21 10:00, closed
//!   11:00. Late, but suspended: excluded from closed / on time / overdue.
//!   Handling = 6 h (02-05) + 8 h (02-20 09:00 → 02-21 10:00) = 14 h.
//! - T6 (C) dispatched Tue 02-18 10:00, due Thu 02-20 10:00, acknowledged,
//!   then a unit member's stale `returned` (made from `dispatched`) is a
//!   conflict. Still open at 03-01: overdue by 6 + 7 + 5 × 7 = 48 h.
//! - T7 (A) reported and accepted 02-26, due in March: counts as reported
//!   and accepted only. No location. Its title holds commas, a quote and a
//!   line break.
//! - T8 (GL-99-99) reported 02-03 and written off as invalid: reported only.
//! - T9 (B) entirely in January: no row.
//!
//! | ticket | rep | acc | due | susp | closed | on time | overdue open | ret | handled | rework | handling | rating |
//! |---|---|---|---|---|---|---|---|---|---|---|---|---|
//! | T1 A | | | 1 | | 1 | 1 | | | 1 | | 1740 min | 满意 |
//! | T2 A | 1 | 1 | 1 | | 1 | 1 | | | 2 | 1 | 880 min | 基本满意 |
//! | T3 B | 1 | 1 | 1 | | 1 | 1 | | | 1 | | 840 min | 不满意 |
//! | T4 B | 1 | 1 | 1 | | 1 | | | 1 | 1 | | 870 min | |
//! | T5 C | 1 | 1 | 1 | 1 | | | | | 1 | | 840 min | |
//! | T6 C | 1 | 1 | 1 | | | | 1 | | | | | |
//! | T7 A | 1 | 1 | | | | | | | | | | |
//! | T8 ? | 1 | | | | | | | | | | | |
//!
//! Totals: reported 7, accepted 6, due 6, suspended 1, closed 4, on time 3,
//! overdue open 1, returned 1, handled 6, reworked 1.
//! 按期结案率 = 3 / (6 − 1) = 0.6; 结案率 = 4 / 5 = 0.8; 返工率 = 1 / 6.
//! Handling minutes sorted 840, 840, 870, 880, 1740: median 870 = 14.5 h,
//! mean 5170 / 5 = 1034 min = 17.2333 h. 满意率 = (1 + 1) / 3.
//!
//! Visits: V1 A 3-2-501 met 02-05; V2 A 3-2-501 met 02-12; V3 A 3-2-502 not
//! home 02-12; V4 B 3-2-501 met 02-13; V5 B corrects V4 (same household,
//! met); V6 C patrol 01-30 (outside); V7 C 1-1-101 refused 02-20.
//! A: 3 visits, 1 household; B: 1 visit (V5 is a correction), 1 household
//! (refs are per grid); C: 1 visit, 0 households. Total 5 visits, 2 households.

#![cfg(feature = "export")]

use std::io::{Cursor, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use automerge::Automerge;
use calamine::{Data, Reader, Xlsx};
use chrono::{FixedOffset, NaiveDate, TimeZone};
use client_core::ids::{GridCode, TicketId, VisitId};
use client_core::model::lifecycle::{self, Action, CloseReason, Event, Rating, Role, Status};
use client_core::model::summary::TicketSummary;
use client_core::model::ticket::{
    self, Kind, Location, NewTicket, Resident, Source, Ticket, Urgency,
};
use client_core::model::ticket_private;
use client_core::model::visit::{self, Outcome, Visit, VisitLogKey, VisitType};
use client_core::report::{
    Calendar, ExportStats, Exporter, Filter, Format, GridDirectory, GridInfo, Lang, Period,
    ReportOptions, Table,
};
use serde_json::Value;

const A: &str = "GL-01-01";
const B: &str = "GL-01-02";
const C: &str = "GL-02-01";
const UNKNOWN_GRID: &str = "GL-99-99";
const MINUTE: i64 = 60_000;
/// A 16-digit category code: as an Excel number it would lose its last digit.
const LONG_CATEGORY: &str = "3301020000000001";
const T7_TITLE: &str = "路灯不亮，影响夜间出行, 居民称\"很危险\"\n请尽快处理";
const PHONE: &str = "13800138000";

fn offset() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap()
}

/// 2025-`m`-`d` `h`:`min` at +08:00.
fn at(m: u32, d: u32, h: u32, min: u32) -> i64 {
    offset()
        .with_ymd_and_hms(2025, m, d, h, min, 0)
        .unwrap()
        .timestamp_millis()
}

fn grid(code: &str) -> GridCode {
    GridCode::new(code).unwrap()
}

/// A ticket's life, written through the real document API.
struct Story {
    new: NewTicket,
    reported_at: i64,
    events: Vec<Event>,
}

impl Story {
    fn new(grid_code: &str, title: &str, reported_at: i64) -> Self {
        Story {
            new: NewTicket {
                id: TicketId::random(),
                grid: grid(grid_code),
                source: Source::Patrol,
                kind: Kind::Component,
                category: "0102".into(),
                urgency: Urgency::Normal,
                title: title.into(),
                description: "井盖破损".into(),
                location: Some(Location {
                    lat: 30.2741,
                    lon: 120.1551,
                    accuracy_m: Some(5.0),
                    address: Some("幸福里3幢".into()),
                }),
                resident: Some(Resident {
                    name: Some("张三".into()),
                    phone: Some(PHONE.into()),
                }),
            },
            reported_at,
            events: Vec::new(),
        }
    }

    fn status(&self) -> Option<Status> {
        let mut entries = vec![Ok(Event::new(
            None,
            Action::Reported,
            "w1",
            Role::Worker,
            self.reported_at,
        ))];
        entries.extend(self.events.iter().cloned().map(Ok));
        lifecycle::fold(&entries).status
    }

    /// Appends `to` made from the current status, with the fields the
    /// lifecycle requires filled in.
    fn then(mut self, to: Action, actor: &str, role: Role, at: i64) -> Self {
        let mut ev = Event::new(self.status(), to, actor, role, at);
        match to {
            Action::Dispatched => ev.unit = Some("幸福物业".into()),
            Action::Returned => ev.note = Some("非本单位职责".into()),
            Action::Rework => ev.note = Some("未修好".into()),
            Action::Invalid => ev.note = Some("重复上报".into()),
            Action::Rated => ev.rating = Some(Rating::Satisfied),
            _ => {}
        }
        self.events.push(ev);
        self
    }

    fn dispatch(self, at: i64, due_at: i64) -> Self {
        self.then(Action::Dispatched, "s1", Role::Supervisor, at)
            .with(|e| e.due_at = Some(due_at))
    }

    fn with(mut self, f: impl FnOnce(&mut Event)) -> Self {
        f(self.events.last_mut().expect("an event to change"));
        self
    }

    /// Accepted, dispatched, acknowledged, in progress, handled by u1.
    fn handled(self, accepted: i64, dispatched: i64, due: i64, handled: i64) -> Self {
        self.then(Action::Accepted, "s1", Role::Supervisor, accepted)
            .dispatch(dispatched, due)
            .then(Action::Acknowledged, "u1", Role::Unit, dispatched + MINUTE)
            .then(
                Action::InProgress,
                "u1",
                Role::Unit,
                dispatched + 2 * MINUTE,
            )
            .then(Action::Handled, "u1", Role::Unit, handled)
    }

    fn closed(self, verified: i64, closed: i64) -> Self {
        self.then(Action::Verified, "w1", Role::Worker, verified)
            .then(Action::Closed, "s1", Role::Supervisor, closed)
    }

    fn rated(self, at: i64, rating: Rating) -> Self {
        self.then(Action::Rated, "s1", Role::Supervisor, at)
            .with(|e| e.rating = Some(rating))
    }

    fn build(self) -> Ticket {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        ticket::create(&mut tx, &self.new, "w1", Role::Worker, self.reported_at).unwrap();
        for ev in &self.events {
            ticket::append_event(&mut tx, ev).unwrap();
        }
        tx.commit();
        let mut t = ticket::read(&doc, self.new.id).unwrap();
        // The contact is in the ticket's private document.
        if let Some(resident) = &self.new.resident {
            let mut private = Automerge::new();
            private
                .transact(|tx| {
                    ticket_private::create(tx, self.new.id, &self.new.grid, "w1", resident)
                })
                .unwrap();
            t.fill_contact(&ticket_private::read(&private).unwrap());
        }
        t
    }
}

struct Dataset {
    tickets: Vec<Ticket>,
    visits: Vec<Visit>,
}

fn dataset() -> Dataset {
    let cal = Calendar::china_default();
    let due = |start: i64, hours: u32| cal.add_working_hours(start, hours, offset());

    // The deadline across the Spring Festival and the make-up Saturday.
    let t1_due = due(at(1, 27, 10, 0), 30);
    assert_eq!(t1_due, at(2, 8, 12, 0), "30 working hours from 01-27 10:00");
    let mut t1 = Story::new(A, "井盖缺失", at(1, 27, 9, 0))
        .handled(at(1, 27, 9, 30), at(1, 27, 10, 0), t1_due, at(2, 8, 11, 0))
        .closed(at(2, 8, 11, 30), at(2, 8, 11, 45))
        .rated(at(2, 10, 9, 0), Rating::Satisfied);
    t1.new.category = LONG_CATEGORY.into();
    t1.new.location = Some(Location {
        lat: 39.9042,
        lon: 116.4074,
        accuracy_m: None,
        address: None,
    });

    let t2_due = due(at(2, 10, 9, 20), 16);
    assert_eq!(t2_due, at(2, 12, 11, 20));
    let t2 = Story::new(A, "路面塌陷", at(2, 10, 9, 0))
        .handled(at(2, 10, 9, 10), at(2, 10, 9, 20), t2_due, at(2, 11, 10, 0))
        .then(Action::Rework, "w1", Role::Worker, at(2, 11, 11, 0))
        .then(Action::Acknowledged, "u1", Role::Unit, at(2, 11, 11, 30))
        .then(Action::InProgress, "u1", Role::Unit, at(2, 11, 11, 40))
        .then(Action::Handled, "u1", Role::Unit, at(2, 12, 10, 0))
        .closed(at(2, 12, 10, 30), at(2, 12, 11, 0))
        .rated(at(2, 13, 9, 0), Rating::Basic);

    let t3_due = due(at(2, 13, 9, 0), 14);
    assert_eq!(t3_due, at(2, 14, 17, 30));
    let t3 = Story::new(B, "垃圾满溢", at(2, 12, 9, 0))
        .handled(at(2, 12, 9, 30), at(2, 13, 9, 0), t3_due, at(2, 15, 9, 30))
        .closed(at(2, 15, 10, 0), at(2, 15, 10, 30))
        .rated(at(2, 17, 9, 0), Rating::Dissatisfied);

    let t4_due = due(at(2, 17, 9, 30), 7);
    assert_eq!(t4_due, at(2, 18, 9, 30));
    let t4 = Story::new(B, "违章停车", at(2, 17, 9, 0))
        .then(Action::Accepted, "s1", Role::Supervisor, at(2, 17, 9, 10))
        .dispatch(at(2, 17, 9, 30), t4_due)
        .then(Action::Returned, "u1", Role::Unit, at(2, 17, 10, 0))
        .dispatch(at(2, 17, 10, 30), t4_due)
        .then(Action::Acknowledged, "u1", Role::Unit, at(2, 17, 11, 0))
        .then(Action::InProgress, "u1", Role::Unit, at(2, 17, 11, 10))
        .then(Action::Handled, "u1", Role::Unit, at(2, 19, 10, 0))
        .closed(at(2, 19, 10, 30), at(2, 19, 11, 0));

    let t5 = Story::new(C, "楼道堆物", at(2, 5, 9, 0))
        .then(Action::Accepted, "s1", Role::Supervisor, at(2, 5, 9, 30))
        .dispatch(at(2, 5, 10, 0), at(2, 7, 10, 0))
        .then(Action::Suspended, "s1", Role::Supervisor, at(2, 6, 9, 0))
        .then(Action::Resumed, "s1", Role::Supervisor, at(2, 20, 9, 0))
        .then(Action::Acknowledged, "u1", Role::Unit, at(2, 20, 10, 0))
        .then(Action::InProgress, "u1", Role::Unit, at(2, 20, 10, 10))
        .then(Action::Handled, "u1", Role::Unit, at(2, 21, 10, 0))
        .closed(at(2, 21, 10, 30), at(2, 21, 11, 0));

    let mut t6 = Story::new(C, "消防通道堵塞", at(2, 18, 9, 0))
        .then(Action::Accepted, "s1", Role::Supervisor, at(2, 18, 9, 30))
        .dispatch(at(2, 18, 10, 0), at(2, 20, 10, 0))
        .then(Action::Acknowledged, "u1", Role::Unit, at(2, 18, 11, 0));
    let mut stale = Event::new(
        Some(Status::Dispatched),
        Action::Returned,
        "u2",
        Role::Unit,
        at(2, 18, 11, 5),
    );
    stale.note = Some("不归我们管".into());
    t6.events.push(stale);
    t6.new.location = Some(Location {
        lat: 31.2304,
        lon: 121.4737,
        accuracy_m: None,
        address: None,
    });

    let mut t7 = Story::new(A, T7_TITLE, at(2, 26, 9, 0))
        .then(Action::Accepted, "s1", Role::Supervisor, at(2, 26, 9, 30))
        .dispatch(at(2, 26, 10, 0), due(at(2, 26, 10, 0), 30));
    t7.new.location = None;

    let t8 = Story::new(UNKNOWN_GRID, "重复上报的井盖", at(2, 3, 9, 0)).then(
        Action::Invalid,
        "s1",
        Role::Supervisor,
        at(2, 3, 10, 0),
    );

    let t9 = Story::new(B, "一月的工单", at(1, 6, 9, 0))
        .handled(
            at(1, 6, 9, 30),
            at(1, 6, 10, 0),
            at(1, 8, 10, 0),
            at(1, 7, 10, 0),
        )
        .closed(at(1, 7, 11, 0), at(1, 7, 12, 0));

    let tickets: Vec<Ticket> = [t1, t2, t3, t4, t5, t6, t7, t8, t9]
        .into_iter()
        .map(Story::build)
        .collect();
    for (i, t) in tickets.iter().enumerate() {
        let expected = usize::from(i == 5);
        assert_eq!(
            t.state.conflicts.len(),
            expected,
            "T{}: {:?}",
            i + 1,
            t.state.conflicts
        );
    }
    assert_eq!(tickets[1].state.rework_count, 1);
    assert_eq!(tickets[3].state.returned_count, 1);
    assert_eq!(
        tickets[4].state.suspensions,
        vec![(at(2, 6, 9, 0), Some(at(2, 20, 9, 0)))]
    );
    assert_eq!(tickets[5].status(), Status::Acknowledged);
    assert_eq!(tickets[7].status(), Status::Invalid);

    let v1 = VisitId::random();
    let v4 = VisitId::random();
    let visit =
        |id: VisitId, g: &str, household: Option<&str>, started: i64, outcome: Outcome| Visit {
            id,
            visit_type: VisitType::Household,
            grid: grid(g),
            household: household.map(str::to_owned),
            worker: "w1".into(),
            started_at: started,
            ended_at: Some(started + 20 * MINUTE),
            lat: Some(30.27),
            lon: Some(120.15),
            outcome,
            notes: format!("居民张三，电话{PHONE}，独居"),
            tickets: Vec::new(),
            amends: None,
        };
    let mut v5 = visit(
        VisitId::random(),
        B,
        Some("3-2-501"),
        at(2, 13, 10, 0),
        Outcome::Met,
    );
    v5.amends = Some(v4);
    let mut v6 = visit(VisitId::random(), C, None, at(1, 30, 10, 0), Outcome::Met);
    v6.visit_type = VisitType::Patrol;
    let mut v7 = visit(
        VisitId::random(),
        C,
        Some("1-1-101"),
        at(2, 20, 10, 0),
        Outcome::Refused,
    );
    v7.visit_type = VisitType::Callback;
    v7.tickets = vec![tickets[4].id];
    let written = vec![
        visit(v1, A, Some("3-2-501"), at(2, 5, 10, 0), Outcome::Met),
        visit(
            VisitId::random(),
            A,
            Some("3-2-501"),
            at(2, 12, 10, 0),
            Outcome::Met,
        ),
        visit(
            VisitId::random(),
            A,
            Some("3-2-502"),
            at(2, 12, 11, 0),
            Outcome::NotHome,
        ),
        visit(v4, B, Some("3-2-501"), at(2, 13, 9, 0), Outcome::Met),
        v5,
        v6,
        v7,
    ];
    // Through the visit-log document, as devices write them.
    let mut visits = Vec::new();
    for v in &written {
        let key = VisitLogKey {
            grid: v.grid.clone(),
            worker: v.worker.clone(),
            date: "2025-02".into(),
        };
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        visit::init(&mut tx, &key).unwrap();
        visit::add(&mut tx, v).unwrap();
        tx.commit();
        let (mut read, unreadable) = visit::read(&doc).unwrap();
        assert_eq!(unreadable, 0);
        visits.append(&mut read);
    }
    assert_eq!(visits, written);
    Dataset { tickets, visits }
}

fn directory() -> GridDirectory {
    let info = |name: &str, community: &str, street: &str| GridInfo {
        name: name.into(),
        community: community.into(),
        street: street.into(),
        district: "示例区".into(),
    };
    [
        (grid(A), info("幸福里一网格", "幸福社区", "东城街道")),
        (grid(B), info("幸福里二网格", "幸福社区", "东城街道")),
        (grid(C), info("和平一网格", "和平社区", "西城街道")),
    ]
    .into_iter()
    .collect()
}

fn options() -> ReportOptions {
    let period = Period::days(
        NaiveDate::from_ymd_opt(2025, 2, 1).unwrap(),
        NaiveDate::from_ymd_opt(2025, 2, 28).unwrap(),
        offset(),
    )
    .unwrap();
    assert_eq!((period.from, period.to), (at(2, 1, 0, 0), at(3, 1, 0, 0)));
    let mut o = ReportOptions::new(period);
    o.grids = directory();
    o
}

fn export(format: Format, options: ReportOptions, data: &Dataset) -> (Vec<u8>, ExportStats) {
    let mut out = Vec::new();
    let mut ex = Exporter::new(format, options, &mut out).unwrap();
    for t in &data.tickets {
        ex.push_ticket(t).unwrap();
    }
    for v in &data.visits {
        ex.push_visit(v).unwrap();
    }
    let stats = ex.finish().unwrap();
    (out, stats)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-4
}

#[test]
fn report_figures_match_the_hand_computed_dataset() {
    let data = dataset();
    let (out, stats) = export(Format::Json, options(), &data);
    assert_eq!(stats.tickets_seen, 9);
    assert_eq!(stats.tickets_exported, 8);
    assert_eq!(stats.tickets_outside_period, 1);
    assert_eq!(stats.tickets_without_location, 1);
    assert_eq!(stats.tickets_outside_calendar, 0);
    assert_eq!((stats.visits_exported, stats.visits_outside_period), (6, 1));

    let s = &stats.total;
    assert_eq!(
        (
            s.reported,
            s.accepted,
            s.due,
            s.suspended,
            s.closed,
            s.closed_on_time,
            s.overdue_open
        ),
        (7, 6, 6, 1, 4, 3, 1)
    );
    assert_eq!((s.returned, s.handled, s.reworked), (1, 6, 1));
    assert_eq!(s.on_time_rate, Some(0.6));
    assert_eq!(s.closure_rate, Some(0.8));
    assert!(close(s.rework_rate.unwrap(), 1.0 / 6.0));
    assert_eq!(s.handling_count, 5);
    assert_eq!(s.median_handling_hours, Some(14.5));
    assert!(close(s.mean_handling_hours.unwrap(), 1034.0 / 60.0));
    assert_eq!(
        (s.rated, s.satisfied, s.basically_satisfied, s.dissatisfied),
        (3, 1, 1, 1)
    );
    assert!(close(s.satisfaction_rate.unwrap(), 2.0 / 3.0));
    assert_eq!((s.visits, s.households_visited), (5, 2));

    let json: Value = serde_json::from_slice(&out).unwrap();
    let by_grid = json["summary_by_grid"].as_array().unwrap();
    let row = |code: &str| {
        by_grid
            .iter()
            .find(|r| r["grid"] == code)
            .unwrap_or_else(|| panic!("no row for {code}"))
    };
    let a = row(A);
    assert_eq!(a["grid_name"], "幸福里一网格");
    assert_eq!(
        (a["reported"].as_u64(), a["due"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(a["on_time_rate"], 1.0);
    assert_eq!(
        (a["handled"].as_u64(), a["reworked"].as_u64()),
        (Some(3), Some(1))
    );
    // (1740 + 880) / 2 minutes.
    assert_eq!(a["median_handling_hours"], 21.83);
    assert_eq!(a["satisfaction_rate"], 1.0);
    assert_eq!(
        (a["visits"].as_u64(), a["households_visited"].as_u64()),
        (Some(3), Some(1))
    );
    let b = row(B);
    assert_eq!(b["closed_on_time"], 1);
    assert_eq!(b["on_time_rate"], 0.5);
    assert_eq!(b["median_handling_hours"], 14.25);
    assert_eq!(b["satisfaction_rate"], 0.0);
    assert_eq!(
        (b["visits"].as_u64(), b["households_visited"].as_u64()),
        (Some(1), Some(1))
    );
    let c = row(C);
    // Suspended T5 leaves the denominator: 0 / (2 − 1).
    assert_eq!(
        (c["due"].as_u64(), c["suspended"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(c["on_time_rate"], 0.0);
    assert_eq!(c["overdue_open"], 1);
    let unknown = row(UNKNOWN_GRID);
    assert_eq!(unknown["grid_name"], "未知");
    assert_eq!(unknown["community"], "未知");
    assert_eq!(unknown["reported"], 1);
    assert_eq!(
        unknown["on_time_rate"],
        Value::Null,
        "no denominator, no rate"
    );

    let communities = json["summary_by_community"].as_array().unwrap();
    let happy = communities
        .iter()
        .find(|r| r["community"] == "幸福社区")
        .unwrap();
    assert_eq!(happy["on_time_rate"], 0.75);
    assert_eq!(happy["households_visited"], 2);
    let streets = json["summary_by_street"].as_array().unwrap();
    assert_eq!(streets.len(), 4, "东城, 西城, 未知 and the total");
    let total = streets.last().unwrap();
    assert_eq!(total["district"], "合计");
    assert_eq!(total["on_time_rate"], 0.6);

    let tickets = json["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 8);
    let t = |i: usize| {
        let id = data.tickets[i].id.to_string();
        tickets.iter().find(|r| r["id"] == id.as_str()).unwrap()
    };
    assert_eq!(t(0)["due_at"], "2025-02-08T12:00:00+08:00");
    assert_eq!(t(0)["overdue"], false);
    assert_eq!(t(2)["overdue"], false, "late only in non-working time");
    assert_eq!(t(3)["overdue"], true);
    assert_eq!(t(3)["overdue_hours"], 8.5);
    assert_eq!(t(3)["returned_count"], 1);
    assert_eq!(t(1)["rework_count"], 1);
    assert_eq!(t(4)["suspended"], true);
    assert_eq!(t(5)["open_conflicts"], 1);
    assert_eq!(t(5)["overdue_hours"], 48.0);
    assert_eq!(t(5)["status"], "acknowledged");
    assert_eq!(t(7)["status"], "invalid");
    assert_eq!(t(7)["grid_name"], "未知");
    assert_eq!(json["metadata"]["calendar"], stats.calendar.as_str());
    assert!(
        stats.calendar.contains("中国大陆 2025"),
        "{}",
        stats.calendar
    );
    assert_eq!(json["metadata"]["utc_offset"], "+08:00");
    assert_eq!(json["visits"].as_array().unwrap().len(), 6);
}

#[test]
fn report_xlsx_has_typed_cells_and_states_its_calendar() {
    let data = dataset();
    let (out, stats) = export(Format::Xlsx, options(), &data);
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(out)).unwrap();
    assert_eq!(
        book.sheet_names(),
        [
            "说明",
            "按网格汇总",
            "按社区汇总",
            "按街道汇总",
            "按处置单位汇总",
            "工单明细",
            "走访明细"
        ]
    );

    let meta = book.worksheet_range("说明").unwrap();
    let calendar_row = meta
        .rows()
        .find(|r| r[0] == Data::String("工作日历".into()))
        .expect("a calendar row");
    assert_eq!(calendar_row[1], Data::String(stats.calendar.clone()));

    let sheet = book.worksheet_range("工单明细").unwrap();
    let rows: Vec<&[Data]> = sheet.rows().collect();
    assert_eq!(rows.len(), 1 + 8);
    let header = rows[0];
    let colum = |name: &str| {
        header
            .iter()
            .position(|h| *h == Data::String(name.into()))
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let t1_id = data.tickets[0].id.to_string();
    let t1 = rows
        .iter()
        .find(|r| r[colum("工单编号")] == Data::String(t1_id.clone()))
        .expect("T1 by its id, as text");
    assert_eq!(t1[colum("类别编码")], Data::String(LONG_CATEGORY.into()));
    assert_eq!(t1[colum("网格编码")], Data::String(A.into()));
    match &t1[colum("处置期限")] {
        Data::DateTime(dt) => {
            assert!(dt.is_datetime());
            let local = dt.as_datetime().unwrap();
            assert_eq!(local.to_string(), "2025-02-08 12:00:00");
        }
        other => panic!("due date is not a date cell: {other:?}"),
    }
    assert!(matches!(t1[colum("上报时间")], Data::DateTime(_)));
    assert_eq!(t1[colum("状态")], Data::String("已结案".into()));
    assert_eq!(t1[colum("是否超期")], Data::String("否".into()));
    assert_eq!(t1[colum("经度")], Data::Float(116.4074));
    assert_eq!(t1[colum("纬度")], Data::Float(39.9042));
    assert_eq!(t1[colum("返工次数")], Data::Float(0.0));
    assert!(
        !header.contains(&Data::String("居民电话".into())),
        "personal data is left out by default"
    );

    let summary = book.worksheet_range("按网格汇总").unwrap();
    let rows: Vec<&[Data]> = summary.rows().collect();
    let header = rows[0];
    let rate = header
        .iter()
        .position(|h| *h == Data::String("按期结案率".into()))
        .unwrap();
    let total = rows.last().unwrap();
    assert_eq!(total[0], Data::String("合计".into()));
    assert_eq!(total[rate], Data::Float(0.6));

    let visits = book.worksheet_range("走访明细").unwrap();
    assert_eq!(visits.rows().count(), 1 + 6);
    assert!(matches!(
        visits.rows().nth(1).unwrap()[9],
        Data::DateTime(_)
    ));
}

#[test]
fn report_csv_has_a_bom_and_quotes_chinese_text() {
    let data = dataset();
    let (out, stats) = export(Format::Csv(Table::Tickets), options(), &data);
    assert!(out.starts_with(b"\xEF\xBB\xBF"), "UTF-8 BOM first");
    let text = std::str::from_utf8(&out[3..]).unwrap();
    // The title holds an ASCII comma, a quote and a line break: quoted,
    // with the quote doubled.
    let quoted = format!("\"{}\"", T7_TITLE.replace('"', "\"\""));
    assert!(text.contains(&quoted), "{text}");
    assert!(text.contains("\r\n"));

    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(&headers[0], "工单编号");
    assert_eq!(headers.iter().next_back(), Some("工作日历"));
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 8);
    let title = headers.iter().position(|h| h == "标题").unwrap();
    let t7 = records
        .iter()
        .find(|r| r[0] == data.tickets[6].id.to_string())
        .unwrap();
    assert_eq!(&t7[title], T7_TITLE);
    assert_eq!(t7.iter().next_back(), Some(stats.calendar.as_str()));
    let due = headers.iter().position(|h| h == "处置期限").unwrap();
    let t1 = records
        .iter()
        .find(|r| r[0] == data.tickets[0].id.to_string())
        .unwrap();
    assert_eq!(&t1[due], "2025-02-08T12:00:00+08:00");
    assert!(!text.contains(PHONE), "no resident phone by default");

    // A summary table alone, in English.
    let mut o = options();
    o.lang = Lang::En;
    let (out, _) = export(Format::Csv(Table::ByStreet), o, &data);
    let mut reader = csv::Reader::from_reader(&out[3..]);
    let headers = reader.headers().unwrap().clone();
    assert_eq!(&headers[1], "Street");
    let rate = headers
        .iter()
        .position(|h| h == "On-time closure rate")
        .unwrap();
    let last = reader.records().map(Result::unwrap).last().unwrap();
    assert_eq!(&last[0], "Total");
    assert_eq!(&last[rate], "60.00%");
}

#[test]
fn report_csv_zip_holds_every_table_with_a_bom() {
    let data = dataset();
    let (out, _) = export(Format::CsvZip, options(), &data);
    let mut zip = zip::ZipArchive::new(Cursor::new(out)).unwrap();
    let mut names: Vec<String> = (0..zip.len())
        .map(|i| zip.by_index(i).unwrap().name().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "metadata.csv",
            "summary_by_community.csv",
            "summary_by_grid.csv",
            "summary_by_street.csv",
            "summary_by_unit.csv",
            "tickets.csv",
            "visits.csv"
        ]
    );
    for name in &names {
        let mut bytes = Vec::new();
        zip.by_name(name).unwrap().read_to_end(&mut bytes).unwrap();
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "{name} has a BOM");
        let rows = csv::Reader::from_reader(&bytes[3..]).records().count();
        let expected = match name.as_str() {
            "tickets.csv" => 8,
            "visits.csv" => 6,
            "summary_by_grid.csv" => 5,
            _ => rows,
        };
        assert_eq!(rows, expected, "{name}");
    }
    let mut meta = String::new();
    zip.by_name("metadata.csv")
        .unwrap()
        .read_to_string(&mut meta)
        .unwrap();
    assert!(meta.contains("工作日历"), "{meta}");
    assert!(meta.contains("按期结案数 ÷ (应结案数 − 挂账数)"));
}

#[test]
fn report_geojson_is_rfc7946_with_lon_lat_points() {
    let data = dataset();
    let (out, stats) = export(Format::GeoJson, options(), &data);
    let raw: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(raw["type"], "FeatureCollection");
    assert!(raw.get("crs").is_none(), "RFC 7946 has no crs member");
    let features = raw["features"].as_array().unwrap();
    // Eight exported tickets, one (T7) without a location.
    assert_eq!(features.len(), 7);
    assert_eq!(stats.tickets_without_location, 1);
    assert_eq!(raw["metadata"]["tickets_without_location"], 1);
    assert_eq!(raw["metadata"]["calendar"], stats.calendar.as_str());
    for f in features {
        assert_eq!(f["type"], "Feature");
        assert_eq!(f["geometry"]["type"], "Point");
        let c = f["geometry"]["coordinates"].as_array().unwrap();
        assert_eq!(c.len(), 2);
        let (lon, lat) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
        assert!((-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat));
        assert_eq!(f["properties"]["lon"].as_f64(), Some(lon));
        assert_eq!(f["properties"]["lat"].as_f64(), Some(lat));
    }
    let t1 = features
        .iter()
        .find(|f| f["id"] == data.tickets[0].id.to_string().as_str())
        .unwrap();
    assert_eq!(
        t1["geometry"]["coordinates"],
        serde_json::json!([116.4074, 39.9042])
    );

    // And the geojson crate reads it as a FeatureCollection.
    let parsed: geojson::GeoJson = std::str::from_utf8(&out).unwrap().parse().unwrap();
    match parsed {
        geojson::GeoJson::FeatureCollection(fc) => assert_eq!(fc.features.len(), 7),
        other => panic!("not a FeatureCollection: {other:?}"),
    }
}

#[test]
fn report_personal_data_only_when_asked() {
    let data = dataset();
    let (plain, _) = export(Format::Json, options(), &data);
    let plain = String::from_utf8(plain).unwrap();
    assert!(!plain.contains(PHONE) && !plain.contains("张三"));
    let mut o = options();
    o.include_personal = true;
    let (full, _) = export(Format::Json, o, &data);
    let json: Value = serde_json::from_slice(&full).unwrap();
    assert_eq!(json["metadata"]["include_personal"], true);
    let t = &json["tickets"][0];
    assert_eq!(t["resident_phone"], PHONE);
    assert_eq!(t["resident_name"], "张三");
    assert!(json["visits"][0]["notes"].as_str().unwrap().contains(PHONE));
}

#[test]
fn report_filters_progress_and_as_of() {
    let data = dataset();
    let mut o = options();
    o.filter = Filter {
        street: Some("东城街道".into()),
        ..Filter::default()
    };
    let calls = Arc::new(AtomicU64::new(0));
    let last = Arc::new(AtomicU64::new(0));
    let mut out = Vec::new();
    let (c, l) = (calls.clone(), last.clone());
    let mut ex = Exporter::new(Format::Json, o, &mut out)
        .unwrap()
        .with_progress(4, move |n| {
            c.fetch_add(1, Ordering::SeqCst);
            l.store(n, Ordering::SeqCst);
        });
    for t in &data.tickets {
        ex.push_ticket(t).unwrap();
    }
    for v in &data.visits {
        ex.push_visit(v).unwrap();
    }
    let stats = ex.finish().unwrap();
    // 16 records: called at 4, 8, 12, 16 and once from finish.
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    assert_eq!(last.load(Ordering::SeqCst), 16);
    // T5, T6 (西城) and T8 (unknown grid) are filtered out; T9 is outside.
    assert_eq!(stats.tickets_filtered_out, 3);
    assert_eq!(stats.tickets_exported, 5);
    assert_eq!(stats.total.on_time_rate, Some(0.75));
    assert_eq!(stats.visits_filtered_out, 2);
    let json: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(json["metadata"]["filter"], "街道=东城街道");

    // A report of a period not over yet, as of just after Wed 02-12 11:00:
    // T1 (closed 02-08) and T2 (closed 02-12 11:00) are closed on time; T3,
    // T4 and T6 are open but their deadlines (02-14, 02-18, 02-20) are
    // ahead, so none is overdue; T5 is already suspended.
    let mut o = options();
    o.as_of = Some(at(2, 12, 11, 0) + 1);
    let (_, stats) = export(Format::Json, o, &data);
    let s = &stats.total;
    assert_eq!((s.due, s.suspended), (6, 1));
    assert_eq!((s.closed, s.closed_on_time, s.overdue_open), (2, 2, 0));
}

#[test]
fn report_closure_reasons_and_reopen_follow_the_definitions() {
    // A ticket closed as a duplicate does not count as due to close.
    let dup = Story::new(A, "重复", at(2, 3, 9, 0))
        .then(Action::Accepted, "s1", Role::Supervisor, at(2, 3, 9, 30))
        .dispatch(at(2, 3, 10, 0), at(2, 4, 10, 0))
        .then(Action::Closed, "s1", Role::Supervisor, at(2, 3, 11, 0))
        .with(|e| e.close_reason = Some(CloseReason::Duplicate("other".into())))
        .build();
    assert_eq!(
        dup.state.close_reason,
        Some(CloseReason::Duplicate("other".into()))
    );
    // A ticket closed on time, then reopened and still open when the period
    // ends: open and overdue.
    let reopened = Story::new(A, "复开", at(2, 3, 9, 0))
        .handled(
            at(2, 3, 9, 30),
            at(2, 5, 10, 0),
            at(2, 6, 10, 0),
            at(2, 5, 15, 0),
        )
        .closed(at(2, 5, 16, 0), at(2, 5, 17, 0))
        .then(Action::Reopened, "s1", Role::Supervisor, at(2, 10, 9, 0))
        .build();
    assert_eq!(reopened.status(), Status::Accepted);
    let data = Dataset {
        tickets: vec![dup, reopened],
        visits: Vec::new(),
    };
    let (_, stats) = export(Format::Json, options(), &data);
    let s = &stats.total;
    assert_eq!(
        (s.due, s.closed, s.closed_on_time, s.overdue_open),
        (1, 0, 0, 1)
    );
    assert_eq!(s.on_time_rate, Some(0.0));
}

/// The figures from the tickets' summaries (their figure records, no
/// document) are the export's, and so is the JSON apart from its rows.
#[test]
fn report_figures_from_summaries_equal_the_export() {
    let data = dataset();
    let (out, stats) = export(Format::Json, options(), &data);

    let mut from_summaries = Vec::new();
    let mut ex = Exporter::new(Format::Json, options(), &mut from_summaries).unwrap();
    for t in &data.tickets {
        let summary = TicketSummary::of(t).expect("every ticket has a grid");
        let counted = ex
            .push_summary(&summary)
            .expect("a fresh summary has its record");
        assert_eq!(counted, has_row(&out, t), "{}", t.title);
    }
    for v in &data.visits {
        ex.push_visit(v).unwrap();
    }
    assert_eq!(ex.finish().unwrap(), stats);

    let mut full: Value = serde_json::from_slice(&out).unwrap();
    let mut figures: Value = serde_json::from_slice(&from_summaries).unwrap();
    assert!(
        full["tickets"]
            .as_array()
            .is_some_and(|rows| !rows.is_empty())
    );
    assert_eq!(figures["tickets"], serde_json::json!([]));
    for json in [&mut full, &mut figures] {
        json.as_object_mut().unwrap().remove("tickets");
    }
    assert_eq!(figures, full);

    // A summary stored before summaries carried the record reads, without it.
    let summary = TicketSummary::of(&data.tickets[0]).unwrap();
    let mut old = serde_json::to_value(&summary).unwrap();
    old.as_object_mut().unwrap().remove("figures");
    let old: TicketSummary = serde_json::from_value(old).unwrap();
    assert_eq!(old.figures, None);
    let mut out = Vec::new();
    let mut ex = Exporter::new(Format::Json, options(), &mut out).unwrap();
    assert_eq!(ex.push_summary(&old), None);
}

/// Whether the export's JSON has a row for `t`.
fn has_row(out: &[u8], t: &Ticket) -> bool {
    let json: Value = serde_json::from_slice(out).unwrap();
    let id = t.id.to_string();
    json["tickets"].as_array().unwrap().iter().any(|row| {
        row.as_object()
            .unwrap()
            .values()
            .any(|v| v.as_str() == Some(&id))
    })
}
