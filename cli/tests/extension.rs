//! Extensions (延期) and urging (督办) with `ticket event`, across the
//! devices of a supervisor and a handling unit (`support::merge` carries
//! the documents as sync would).

mod support;

use support::{Gs, REFUSED, USAGE, merge};

const GRID: &str = "GL-03-07";

#[test]
fn a_unit_asks_for_more_time_and_the_supervisor_approves_and_urges() {
    let li = Gs::init("li", "supervisor", &[GRID]);
    let wuye = Gs::init("wuye", "unit", &[GRID]);
    let urged = li.report(GRID, "路口垃圾堆积", &[]);
    let other = li.report(GRID, "井盖松动", &[]);
    // `urged` is long overdue; `other` is due in 2099.
    for (id, due) in [
        (&urged, "2026-03-02T17:30:00+08:00"),
        (&other, "2099-03-01T12:00:00+08:00"),
    ] {
        li.ok(&["ticket", "event", id, "accepted"]);
        li.ok(&[
            "ticket",
            "event",
            id,
            "dispatched",
            "--unit",
            "wuye",
            "--due",
            due,
        ]);
    }
    merge(&li, &wuye);
    for id in [&urged, &other] {
        wuye.ok(&["ticket", "event", id, "acknowledged"]);
    }
    // Urging is for an overdue or nearly due ticket.
    li.ok(&["ticket", "event", &urged, "urged", "--note", "居民多次投诉"]);
    li.run(&["ticket", "event", &other, "urged", "--note", "请尽快"])
        .fails_with(REFUSED)
        .stderr_has("it is due 2099-03-01 12:00 and may be urged from ");
    merge(&li, &wuye);
    wuye.run(&[
        "ticket",
        "event",
        &urged,
        "extension_requested",
        "--note",
        "需协调环卫车辆",
    ])
    .fails_with(REFUSED)
    .stderr_has("Add --due");
    wuye.run(&[
        "ticket",
        "event",
        &urged,
        "in_progress",
        "--due",
        "2099-03-09T17:30:00+08:00",
    ])
    .fails_with(USAGE)
    .stderr_has("--due applies only to");
    wuye.ok(&[
        "ticket",
        "event",
        &urged,
        "extension_requested",
        "--note",
        "需协调环卫车辆",
        "--due",
        "2099-03-09T17:30:00+08:00",
    ]);
    assert_eq!(wuye.status(&urged), "acknowledged", "status unchanged");

    merge(&wuye, &li);
    let todo = li.todo();
    assert_eq!(todo[0].0, urged);
    assert_eq!(todo[0].2, "extension");
    assert!(
        todo[0].1.contains(&"extension_approved".to_owned()),
        "{todo:?}"
    );
    li.ok(&["ticket", "event", &urged, "extension_approved"]);
    li.run(&["ticket", "event", &urged, "extension_refused"])
        .fails_with(REFUSED)
        .stderr_has("no extension request is pending");
    // Its new deadline is years away: no second urging.
    li.run(&["ticket", "event", &urged, "urged", "--note", "再次督办"])
        .fails_with(REFUSED)
        .stderr_has("(not_nearly_due)");
    let t = li.json(&["ticket", "show", &urged]);
    assert_eq!(t["state"]["status"], "acknowledged");
    assert_eq!(
        t["state"]["due_at"].as_i64(),
        Some(4_076_731_800_000),
        "2099-03-09T17:30:00+08:00, the deadline approved"
    );
    assert_eq!(t["state"]["urge_count"], 1);

    merge(&li, &wuye);
    let order: Vec<(String, String)> = wuye
        .todo()
        .into_iter()
        .map(|(id, _, why)| (id, why))
        .collect();
    assert_eq!(
        order,
        [
            (urged.clone(), "urged".to_owned()),
            (other, "action".to_owned())
        ],
        "the urged ticket first, though the other is due sooner"
    );
    let shown = wuye.ok(&["ticket", "show", &urged]);
    assert!(
        shown.contains("督办 urged") && shown.contains("居民多次投诉"),
        "{shown}"
    );
}
