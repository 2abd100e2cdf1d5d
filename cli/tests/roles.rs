//! What each role may and may not do from its own device, and what its
//! to-do list shows.

mod support;

use support::{Gs, REFUSED, USAGE, merge};

const GRID: &str = "GL-01";

#[test]
fn a_supervisor_enters_a_hotline_ticket_and_moves_it_on() {
    let li = Gs::init("李明", "supervisor", &[GRID]);
    let id = li.report(
        GRID,
        "12345转办：小区门口占道经营",
        &[
            "--source",
            "hotline",
            "--urgency",
            "urgent",
            "--kind",
            "event",
        ],
    );
    assert_eq!(
        li.todo(),
        vec![(
            id.clone(),
            vec!["accepted".to_owned(), "invalid".to_owned()],
            "action".to_owned()
        )]
    );
    li.ok(&["ticket", "event", &id[..6], "accepted"]);
    assert_eq!(li.todo()[0].1, ["dispatched"]);
    let out = li.ok(&[
        "ticket",
        "event",
        &id[..6],
        "dispatched",
        "--unit",
        "城管中队",
    ]);
    assert!(
        out.contains("派遣 dispatched -> 已派遣 dispatched"),
        "{out}"
    );

    // Urgent tickets get one working day (7 working hours on the China
    // calendar) when the dispatcher gives no deadline.
    let t = li.json(&["ticket", "show", &id]);
    let due = t["state"]["due_at"].as_i64().expect("due_at");
    let dispatched = t["state"]["dispatched_at"].as_i64().expect("dispatched_at");
    let expected = client_core::device::default_due_at(
        dispatched,
        client_core::model::ticket::Urgency::Urgent,
    );
    assert_eq!(due, expected);
    assert!(due - dispatched >= 7 * 3_600_000, "at least 7 hours later");
    assert_eq!(t["source"], "hotline");
    assert_eq!(t["urgency"], "urgent");

    // Waiting for the unit now: nothing for the supervisor.
    assert!(li.todo().is_empty(), "{:?}", li.todo());
    li.run(&["ticket", "event", &id, "acknowledged"])
        .fails_with(REFUSED)
        .stderr_has("Only 处置单位 unit may 签收 acknowledged");
    assert_eq!(li.status(&id), "dispatched");
}

#[test]
fn a_worker_may_not_accept_and_the_ticket_stays_as_it_was() {
    let wang = Gs::init("王芳", "worker", &[GRID]);
    let id = wang.report(GRID, "井盖破损", &[]);
    let r = wang.run(&["ticket", "event", &id, "accepted"]);
    r.fails_with(REFUSED)
        .stderr_has("role `worker` may not do this")
        .stderr_has("Only 调度员 supervisor may 立案 accepted");
    assert_eq!(wang.status(&id), "reported");
    let events = wang.json(&["ticket", "show", &id])["events"]
        .as_array()
        .map(Vec::len);
    assert_eq!(events, Some(1), "a refused action writes nothing");
}

#[test]
fn a_reviewer_reads_but_writes_nothing_and_sees_no_resident_details() {
    let wang = Gs::init("王芳", "worker", &[GRID]);
    let id = wang.report(
        GRID,
        "邻里噪音纠纷",
        &[
            "--kind",
            "dispute",
            "--resident-name",
            "赵先生",
            "--resident-phone",
            "13900000000",
        ],
    );
    let zhou = Gs::init("周审", "reviewer", &[GRID]);
    zhou.run(&["ticket", "new", "--grid", GRID, "--title", "x"])
        .fails_with(REFUSED)
        .stderr_has("reviewers read and export");
    merge(&wang, &zhou);
    let t = zhou.json(&["ticket", "show", &id]);
    assert_eq!(t["title"], "邻里噪音纠纷");
    assert_eq!(t["resident"]["name"], serde_json::Value::Null);
    assert!(!zhou.ok(&["ticket", "show", &id]).contains("13900000000"));
    zhou.run(&["ticket", "comment", &id, "已阅"])
        .fails_with(REFUSED)
        .stderr_has("reviewers read and export");
    zhou.run(&["ticket", "event", &id, "accepted"])
        .fails_with(REFUSED);
    assert!(zhou.todo().is_empty());
    // The worker who entered the details still sees them.
    assert_eq!(
        wang.json(&["ticket", "show", &id])["resident"]["name"],
        "赵先生"
    );
}

#[test]
fn a_unit_sees_only_what_is_dispatched_to_it_and_overdue_comes_first() {
    let li = Gs::init("李明", "supervisor", &[GRID]);
    let late = li.report(GRID, "下水道堵塞", &[]);
    let fresh = li.report(GRID, "路面坑洼", &[]);
    let other = li.report(GRID, "树枝遮挡路灯", &[]);
    for (id, unit, due) in [
        (&late, "市政养护", "2020-01-01T09:00:00+08:00"),
        (&fresh, "市政养护", "2099-01-01T09:00:00+08:00"),
        (&other, "园林绿化", "2099-01-01T09:00:00+08:00"),
    ] {
        li.ok(&["ticket", "event", id, "accepted"]);
        li.ok(&[
            "ticket",
            "event",
            id,
            "dispatched",
            "--unit",
            unit,
            "--due",
            due,
        ]);
    }
    let unit = Gs::init("市政养护", "unit", &[GRID]);
    merge(&li, &unit);
    let todo = unit.todo();
    let ids: Vec<&str> = todo.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(ids, [late.as_str(), fresh.as_str()]);
    assert_eq!(todo[0].2, "overdue");
    assert_eq!(todo[1].2, "action");
    let table = unit.ok(&["todo"]);
    assert!(table.contains("超期 overdue"), "{table}");
    assert!(table.contains("签收 acknowledged"), "{table}");
    assert!(
        table.contains(&format!("gridsync ticket event {}", &late[..8])),
        "{table}"
    );

    // Returning needs a reason; the hint says which flag.
    unit.run(&["ticket", "event", &late, "returned"])
        .fails_with(REFUSED)
        .stderr_has("--note");
    unit.ok(&[
        "ticket",
        "event",
        &late,
        "returned",
        "--note",
        "不属于本单位职责",
    ]);
    merge(&unit, &li);
    assert_eq!(
        li.todo()[0],
        (
            late.clone(),
            vec!["dispatched".to_owned()],
            "overdue".to_owned()
        )
    );
}

#[test]
fn flags_that_do_not_fit_the_action_are_usage_errors() {
    let li = Gs::init("李明", "supervisor", &[GRID]);
    let id = li.report(GRID, "共享单车乱停放", &[]);
    li.run(&["ticket", "event", &id, "accepted", "--unit", "城管"])
        .fails_with(USAGE)
        .stderr_has("--unit applies only to `dispatched`");
    li.run(&["ticket", "event", &id, "accepted", "--rating", "basic"])
        .fails_with(USAGE);
    li.run(&["ticket", "event", &id, "reported"])
        .fails_with(USAGE);
    li.run(&["ticket", "event", &id, "invalid"])
        .fails_with(REFUSED)
        .stderr_has("Add --note");
    li.run(&["ticket", "event", &id, "closed", "--duplicate-of", &id])
        .fails_with(USAGE)
        .stderr_has("duplicate of itself");
    assert_eq!(li.status(&id), "reported");

    // Closing as a duplicate of another ticket records which one.
    let first = li.report(GRID, "共享单车乱停放（首报）", &[]);
    li.ok(&[
        "ticket",
        "event",
        &id,
        "closed",
        "--duplicate-of",
        &first[..8],
    ]);
    let t = li.json(&["ticket", "show", &id]);
    assert_eq!(t["state"]["close_reason"]["kind"], "duplicate");
    assert_eq!(t["state"]["close_reason"]["of"], first.as_str());
}
