//! Dispatch deadlines from the category catalog on the working calendar,
//! extensions (延期) and urging (督办) through a device.

use client_core::device::{self, CategoryCheck, Device, DeviceError, EventInput, Identity};
use client_core::ids::{GridCode, TicketId};
use client_core::model::catalog::{self, Catalog, Category, TimeLimit};
use client_core::model::lifecycle::{Action, Role, Status};
use client_core::model::ticket::{Kind, NewTicket, Source, Urgency};
use client_core::report::Calendar;
use client_core::report::calendar::china_offset;
use client_core::store::MemoryStore;

fn at(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}

fn category(code: &str, name: &str, limit: Option<TimeLimit>) -> Category {
    Category {
        code: code.into(),
        name_zh: name.into(),
        name_en: String::new(),
        kind: Kind::Event,
        time_limit: limit,
        urgent_time_limit: None,
        filing: String::new(),
        closing: String::new(),
        after_photos_required: false,
    }
}

fn test_catalog() -> Catalog {
    let cats = [
        category("0101", "暴露垃圾", Some(TimeLimit::WorkingHours(4))),
        category("0501", "路灯损坏", Some(TimeLimit::WorkingDays(2))),
        category("0901", "其他事件", None),
    ];
    Catalog {
        version: 7,
        categories: cats.into_iter().map(|c| (c.code.clone(), c)).collect(),
    }
}

fn grid() -> GridCode {
    GridCode::new("G-01").unwrap()
}

/// A supervisor's device; with `catalog`, holding it as if synced.
fn supervisor(catalog: Option<&Catalog>) -> Device<MemoryStore> {
    let dev = Device::init(
        MemoryStore::new(),
        Identity::new("chen", Role::Supervisor, vec![grid()]),
    )
    .unwrap();
    if let Some(c) = catalog {
        let repo = dev.repo();
        let ((), batch) = repo
            .edit(&Catalog::document_id(), |tx| catalog::write(tx, c))
            .unwrap();
        repo.commit(batch).unwrap();
    }
    dev
}

/// Reports a ticket of `code` at `now` and accepts it.
fn accepted(dev: &Device<MemoryStore>, code: &str, urgency: Urgency, now: i64) -> TicketId {
    let t = NewTicket {
        id: TicketId::random(),
        grid: grid(),
        source: Source::Patrol,
        kind: Kind::Event,
        category: code.into(),
        urgency,
        title: "巡查发现".into(),
        description: String::new(),
        location: None,
        resident: None,
    };
    dev.report(&t, now - 60_000).unwrap();
    dev.act(t.id, Action::Accepted, EventInput::default(), now - 30_000)
        .unwrap();
    t.id
}

fn dispatch(dev: &Device<MemoryStore>, id: TicketId, due: Option<i64>, now: i64) -> i64 {
    let input = EventInput {
        unit: Some("wuye".into()),
        due_at: due,
        ..EventInput::default()
    };
    let t = dev.act(id, Action::Dispatched, input, now).unwrap();
    t.state.due_at.unwrap()
}

/// Exposed rubbish (4 working hours) dispatched on Friday 2026-04-03 at
/// 15:00, the afternoon before Qingming (Sat 4 – Mon 6 April): 2.5 hours
/// that Friday, nothing over the weekend and the holiday Monday, and the
/// last 1.5 hours on Tuesday morning.
#[test]
fn a_four_working_hour_category_on_a_friday_afternoon_before_a_holiday() {
    let dev = supervisor(Some(&test_catalog()));
    let now = at("2026-04-03T15:00:00+08:00");
    let id = accepted(&dev, "0101", Urgency::Normal, now);
    assert_eq!(
        dispatch(&dev, id, None, now),
        at("2026-04-07T10:30:00+08:00")
    );
    let t = dev.ticket(id).unwrap();
    let ev = t.events.last().unwrap().as_ref().unwrap();
    assert_eq!(
        ev.catalog_version,
        Some(7),
        "the catalog version is recorded"
    );
    assert_eq!(ev.time_limit.as_deref(), Some("4h"));
    assert_eq!(t.state.catalog_version, Some(7));
}

/// A streetlight (2 working days) dispatched on Friday 2026-10-09: the
/// make-up working Saturday after National Day (10 October) is the first
/// working day, Sunday is not, Monday 12 October the second; the deadline
/// is the end of that day's last working period.
#[test]
fn a_working_day_category_across_a_make_up_saturday() {
    let dev = supervisor(Some(&test_catalog()));
    let now = at("2026-10-09T14:00:00+08:00");
    let id = accepted(&dev, "0501", Urgency::Normal, now);
    assert_eq!(
        dispatch(&dev, id, None, now),
        at("2026-10-12T17:30:00+08:00")
    );

    let cal = Calendar::china_default();
    let one_day = cal.add_working_days(now, 1, china_offset());
    assert_eq!(one_day, at("2026-10-10T17:30:00+08:00"), "Saturday counts");
    // Dispatched on the holiday itself, the count starts after it.
    let in_holiday = at("2026-10-03T10:00:00+08:00");
    assert_eq!(
        cal.add_working_days(in_holiday, 1, china_offset()),
        at("2026-10-08T17:30:00+08:00")
    );
}

#[test]
fn an_explicit_deadline_wins_and_the_urgency_default_fills_gaps() {
    let now = at("2026-03-02T09:00:00+08:00");
    let explicit = at("2026-03-20T12:00:00+08:00");
    let dev = supervisor(Some(&test_catalog()));
    let id = accepted(&dev, "0101", Urgency::Normal, now);
    assert_eq!(dispatch(&dev, id, Some(explicit), now), explicit);
    let t = dev.ticket(id).unwrap();
    let ev = t.events.last().unwrap().as_ref().unwrap();
    assert_eq!((ev.catalog_version, ev.time_limit.as_deref()), (None, None));

    // A category without a limit, and an unknown code: the urgency default.
    for code in ["0901", "4242"] {
        let id = accepted(&dev, code, Urgency::Urgent, now);
        assert_eq!(
            dispatch(&dev, id, None, now),
            device::default_due_at(now, Urgency::Urgent)
        );
        let t = dev.ticket(id).unwrap();
        assert_eq!(t.state.catalog_version, None);
    }
    // No catalog on the device at all.
    let bare = supervisor(None);
    let id = accepted(&bare, "0101", Urgency::Normal, now);
    assert_eq!(
        dispatch(&bare, id, None, now),
        device::default_due_at(now, Urgency::Normal)
    );
    assert_eq!(
        bare.check_category("0101").unwrap(),
        CategoryCheck::NoCatalog
    );
    match dev.check_category("0103").unwrap() {
        CategoryCheck::Unknown { version, nearest } => {
            assert_eq!(version, 7);
            assert_eq!(nearest[0].code, "0101");
        }
        other => panic!("{other:?}"),
    }
}

/// The unit asks for more time, the supervisor sees it in `todo` and
/// approves: the proposed deadline becomes the ticket's; the supervisor
/// urges and the unit's `todo` lists that ticket first.
#[test]
fn an_extension_and_an_urging_through_the_device() {
    let now = at("2026-03-02T09:00:00+08:00");
    let mut dev = supervisor(Some(&test_catalog()));
    let chen = dev.identity().clone();
    let urged = accepted(&dev, "0101", Urgency::Normal, now);
    let other = accepted(&dev, "0501", Urgency::Normal, now);
    let first_due = dispatch(&dev, urged, None, now);
    dispatch(&dev, other, Some(first_due - 1), now);

    let mut wuye = Identity::new("wuye", Role::Unit, vec![grid()]);
    wuye.actor = chen.actor.clone();
    dev.set_identity(wuye.clone()).unwrap();
    for id in [urged, other] {
        dev.act(id, Action::Acknowledged, EventInput::default(), now + 1)
            .unwrap();
    }
    let proposed = at("2026-03-06T17:30:00+08:00");
    let ask = EventInput {
        note: Some("需协调环卫车辆".into()),
        due_at: Some(proposed),
        ..EventInput::default()
    };
    let t = dev
        .act(urged, Action::ExtensionRequested, ask, now + 2)
        .unwrap();
    assert_eq!(t.status(), Status::Acknowledged);
    assert!(t.state.extension.is_some());
    // Without a reason it is refused on the device.
    let bare = EventInput {
        due_at: Some(proposed),
        ..EventInput::default()
    };
    assert!(
        dev.act(other, Action::ExtensionRequested, bare, now + 2)
            .is_err()
    );

    dev.set_identity(chen.clone()).unwrap();
    let todo = dev.todo(now + 3).unwrap();
    assert_eq!(todo[0].ticket.id, urged);
    assert_eq!(todo[0].why, "extension");
    assert!(todo[0].actions.contains(&Action::ExtensionApproved));
    let t = dev
        .act(
            urged,
            Action::ExtensionApproved,
            EventInput::default(),
            now + 4,
        )
        .unwrap();
    assert_eq!(t.state.due_at, Some(proposed));
    assert_eq!(t.state.extensions_approved, 1);
    // Nothing is pending now: a refusal is refused.
    assert!(
        dev.act(
            urged,
            Action::ExtensionRefused,
            EventInput::default(),
            now + 5
        )
        .is_err()
    );
    let urge = EventInput {
        note: Some("居民多次投诉，今日必须处理".into()),
        ..EventInput::default()
    };
    // The Friday afternoon it is due: in the last quarter of its time.
    let t = dev
        .act(urged, Action::Urged, urge, at("2026-03-06T16:00:00+08:00"))
        .unwrap();
    assert_eq!(t.status(), Status::Acknowledged);

    dev.set_identity(wuye).unwrap();
    let todo = dev.todo(now + 7).unwrap();
    let order: Vec<(TicketId, &str)> = todo.iter().map(|i| (i.ticket.id, i.why)).collect();
    // `other` is due sooner, but the urged ticket comes first.
    assert_eq!(order, [(urged, "urged"), (other, "action")]);
}

/// Urging (督办) is for an overdue or nearly due ticket: one without a
/// deadline, or with more than a quarter of its working time left, is
/// refused on the device, and the status never changes.
#[test]
fn urging_is_only_for_an_overdue_or_nearly_due_ticket() {
    let now = at("2026-03-02T09:00:00+08:00");
    let dev = supervisor(Some(&test_catalog()));
    let note = || EventInput {
        note: Some("请加快".into()),
        ..EventInput::default()
    };
    let fresh = accepted(&dev, "0101", Urgency::Normal, now);
    let why = dev.act(fresh, Action::Urged, note(), now).unwrap_err();
    assert!(
        matches!(why, DeviceError::NotNearlyDue { from: None, .. }),
        "{why}"
    );
    assert!(
        why.to_string()
            .contains("no deadline yet: dispatch it first"),
        "{why}"
    );
    assert_eq!(why.reason_code(), Some(device::NOT_NEARLY_DUE));

    // 4 working hours from 09:00: due 14:30, and its last working hour
    // starts at 12:00 (the lunch break is no working time).
    let id = accepted(&dev, "0101", Urgency::Normal, now);
    assert_eq!(
        dispatch(&dev, id, None, now),
        at("2026-03-02T14:30:00+08:00")
    );
    let from = at("2026-03-02T12:00:00+08:00");
    assert_eq!(device::urgeable_from(&dev.ticket(id).unwrap()), Some(from));
    for early in [now + 1, from - 60_000] {
        let why = dev.act(id, Action::Urged, note(), early).unwrap_err();
        assert!(
            why.to_string()
                .contains("due 2026-03-02 14:30 and may be urged from 2026-03-02 12:00"),
            "{why}"
        );
    }
    assert_eq!(dev.ticket(id).unwrap().state.urge_count, 0);
    let t = dev.act(id, Action::Urged, note(), from).unwrap();
    assert_eq!((t.state.urge_count, t.status()), (1, Status::Dispatched));
    // Overdue, and the next day: still urgeable.
    for (late, count) in [
        (at("2026-03-02T16:00:00+08:00"), 2),
        (at("2026-03-03T09:30:00+08:00"), 3),
    ] {
        let t = dev.act(id, Action::Urged, note(), late).unwrap();
        assert_eq!(
            (t.state.urge_count, t.status()),
            (count, Status::Dispatched)
        );
    }
}

/// A ticket closed after its dispatch deadline but before the deadline an
/// approved extension granted is closed on time; the export's row counts
/// its extensions and urgings, and the statistics count urgings per unit.
#[test]
fn the_figures_count_an_approved_extension_and_urging_per_unit() {
    use client_core::report::{Exporter, Format, Period, ReportOptions};

    let now = at("2026-03-02T09:00:00+08:00");
    let mut dev = supervisor(Some(&test_catalog()));
    let chen = dev.identity().clone();
    let id = accepted(&dev, "0101", Urgency::Normal, now);
    let due = dispatch(&dev, id, None, now);
    assert_eq!(due, at("2026-03-02T14:30:00+08:00"), "4 working hours");
    let mut wuye = Identity::new("wuye", Role::Unit, vec![grid()]);
    wuye.actor = chen.actor.clone();
    dev.set_identity(wuye.clone()).unwrap();
    dev.act(id, Action::Acknowledged, EventInput::default(), now + 1)
        .unwrap();
    let extended = at("2026-03-03T17:30:00+08:00");
    let ask = EventInput {
        note: Some("需要吊车".into()),
        due_at: Some(extended),
        ..EventInput::default()
    };
    dev.act(id, Action::ExtensionRequested, ask, now + 2)
        .unwrap();
    dev.set_identity(chen.clone()).unwrap();
    let urge = EventInput {
        note: Some("请加快".into()),
        ..EventInput::default()
    };
    let nearly_due = at("2026-03-02T14:00:00+08:00");
    dev.act(id, Action::Urged, urge, nearly_due).unwrap();
    dev.act(
        id,
        Action::ExtensionApproved,
        EventInput::default(),
        nearly_due + 1,
    )
    .unwrap();
    dev.set_identity(wuye).unwrap();
    let late_for_the_first_deadline = at("2026-03-03T10:00:00+08:00");
    for (i, action) in [Action::InProgress, Action::Handled]
        .into_iter()
        .enumerate()
    {
        dev.act(
            id,
            action,
            EventInput::default(),
            late_for_the_first_deadline + i as i64,
        )
        .unwrap();
    }
    dev.set_identity(chen).unwrap();
    let mut worker = Identity::new("wang", Role::Worker, vec![grid()]);
    worker.actor = dev.identity().actor.clone();
    dev.set_identity(worker).unwrap();
    dev.act(
        id,
        Action::Verified,
        EventInput::default(),
        late_for_the_first_deadline + 5,
    )
    .unwrap();
    let mut back = Identity::new("chen", Role::Supervisor, vec![grid()]);
    back.actor = dev.identity().actor.clone();
    dev.set_identity(back).unwrap();
    let t = dev
        .act(
            id,
            Action::Closed,
            EventInput::default(),
            late_for_the_first_deadline + 6,
        )
        .unwrap();
    assert_eq!(t.state.due_at, Some(extended));

    let period = Period::new(
        at("2026-03-01T00:00:00+08:00"),
        at("2026-04-01T00:00:00+08:00"),
    )
    .unwrap();
    let export = |format: Format| {
        let mut out = Vec::new();
        let mut exporter = Exporter::new(format, ReportOptions::new(period), &mut out).unwrap();
        assert!(exporter.push_ticket(&t).unwrap());
        let stats = exporter.finish().unwrap();
        (out, stats)
    };
    let (out, stats) = export(Format::Json);
    assert_eq!((stats.total.due, stats.total.closed_on_time), (1, 1));
    assert_eq!(stats.total.on_time_rate, Some(1.0));
    assert_eq!((stats.total.extensions_approved, stats.total.urged), (1, 1));
    let wuye = &stats.by_unit["wuye"];
    assert_eq!((wuye.tickets, wuye.figures.urged), (1, 1));
    assert_eq!(wuye.figures.extensions_approved, 1);
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let row = &json["tickets"][0];
    assert_eq!(row["extensions_requested"], 1);
    assert_eq!(row["extensions_approved"], 1);
    assert_eq!(row["urge_count"], 1);
    assert_eq!(row["overdue"], false);

    // The by-unit table, read back from every format that has tables.
    let units = json["summary_by_unit"].as_array().unwrap();
    assert_eq!(units.len(), 2, "wuye and the total: {units:?}");
    for (row, unit) in units.iter().zip(["wuye", "合计"]) {
        assert_eq!(row["unit"], unit);
        assert_eq!(row["tickets"], 1, "{row}");
        assert_eq!(row["urged"], 1, "{row}");
        assert_eq!(row["extensions_approved"], 1, "{row}");
        assert_eq!(row["closed_on_time"], 1, "{row}");
    }
    let (zip, _) = export(Format::CsvZip);
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let mut csv = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("summary_by_unit.csv").unwrap(), &mut csv)
        .unwrap();
    let mut lines = csv.trim_start_matches('\u{feff}').lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let wuye: Vec<&str> = lines.next().unwrap().split(',').collect();
    let cell = |name: &str| wuye[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(
        (
            cell("处置单位"),
            cell("工单数"),
            cell("督办次数"),
            cell("延期批准次数")
        ),
        ("wuye", "1", "1", "1")
    );
    let (xlsx, _) = export(Format::Xlsx);
    let mut book: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx)).unwrap();
    let sheet = calamine::Reader::worksheet_range(&mut book, "按处置单位汇总").unwrap();
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    let col = |name: &str| rows[0].iter().position(|h| h == name).unwrap();
    assert_eq!(rows[1][0], "wuye");
    assert_eq!(rows[1][col("督办次数")], "1");
    assert_eq!(rows[1][col("延期批准次数")], "1");
    assert_eq!(rows[2][0], "合计");
}
