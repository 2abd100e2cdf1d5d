//! A ticket's whole life, in Chinese, across the devices of the people who
//! move it: worker → supervisor → handling unit → worker → supervisor.
//! Each person has their own data directory; `support::merge` carries the
//! documents between them the way sync will. At every step the person's
//! allowed action succeeds and a forbidden one exits 1 with a message
//! naming who may do it.

mod support;

use support::{Gs, REFUSED, merge};

const GRID: &str = "GL-03-07";
const TITLE: &str = "3号楼东侧路灯不亮，影响夜间出行\n居民多次反映，请尽快处理";

#[test]
fn a_ticket_walks_through_every_role() {
    let wang = Gs::init("王芳", "worker", &[GRID]);
    let li = Gs::init("李明", "supervisor", &[GRID]);
    let wuye = Gs::init("幸福物业", "unit", &[GRID]);

    // 网格员 reports on patrol.
    let id = wang.report(
        GRID,
        TITLE,
        &[
            "--description",
            "灯杆编号 L-17，\n晚上七点后全黑",
            "--kind",
            "component",
            "--category",
            "0102",
            "--lat",
            "31.2304",
            "--lon",
            "121.4737",
            "--address",
            "幸福小区3号楼东侧",
            "--resident-name",
            "张阿姨",
            "--resident-phone",
            "13800000000",
        ],
    );
    let prefix = &id[..8];
    assert_eq!(wang.status(&id), "reported");
    assert!(wang.todo().is_empty(), "nothing for the reporter yet");
    wang.run(&["ticket", "event", prefix, "accepted"])
        .fails_with(REFUSED)
        .stderr_has("Only 调度员 supervisor may 立案 accepted");

    // 调度员 accepts (立案) and dispatches (派遣).
    merge(&wang, &li);
    assert_eq!(
        li.todo(),
        vec![(
            id.clone(),
            vec!["accepted".to_owned(), "invalid".to_owned()],
            "action".to_owned()
        )]
    );
    li.ok(&[
        "ticket",
        "event",
        prefix,
        "accepted",
        "--note",
        "已核实，立案",
    ]);
    li.run(&["ticket", "event", prefix, "dispatched"])
        .fails_with(REFUSED)
        .stderr_has("--unit");
    li.ok(&[
        "ticket",
        "event",
        prefix,
        "dispatched",
        "--unit",
        "幸福物业",
        "--due",
        "2099-03-01T18:00:00+08:00",
    ]);
    li.run(&["ticket", "event", prefix, "acknowledged"])
        .fails_with(REFUSED)
        .stderr_has("Only 处置单位 unit may 签收 acknowledged");

    // 处置单位 acknowledges (签收), works and reports it handled.
    merge(&li, &wuye);
    assert_eq!(
        wuye.todo(),
        vec![(
            id.clone(),
            vec!["acknowledged".to_owned(), "returned".to_owned()],
            "action".to_owned()
        )]
    );
    for action in ["acknowledged", "in_progress"] {
        wuye.ok(&["ticket", "event", prefix, action]);
    }
    wuye.ok(&["ticket", "event", prefix, "handled", "--note", "已更换灯泡"]);
    wuye.ok(&["ticket", "comment", prefix, "更换了LED灯泡，\n保修一年"]);
    wuye.run(&["ticket", "event", prefix, "verified"])
        .fails_with(REFUSED)
        .stderr_has("Only 网格员 worker or 调度员 supervisor may 核查通过 verified");

    // The worker checks the result on site (核查).
    merge(&wuye, &wang);
    assert_eq!(
        wang.todo(),
        vec![(
            id.clone(),
            vec!["verified".to_owned(), "rework".to_owned()],
            "action".to_owned()
        )]
    );
    wang.ok(&[
        "ticket",
        "event",
        prefix,
        "verified",
        "--note",
        "现场确认已亮",
    ]);
    wang.run(&["ticket", "event", prefix, "closed"])
        .fails_with(REFUSED)
        .stderr_has("Only 调度员 supervisor may 结案 closed");

    // The supervisor closes (结案) and records the callback (回访).
    merge(&wang, &li);
    assert_eq!(
        li.todo(),
        vec![(id.clone(), vec!["closed".to_owned()], "action".to_owned())]
    );
    li.ok(&["ticket", "event", prefix, "closed"]);
    li.ok(&["ticket", "event", prefix, "rated", "--rating", "satisfied"]);

    let t = li.json(&["ticket", "show", prefix]);
    assert_eq!(t["title"], TITLE);
    assert_eq!(t["state"]["status"], "closed");
    assert_eq!(t["state"]["rating"], "satisfied");
    assert_eq!(t["state"]["close_reason"]["kind"], "resolved");
    assert_eq!(t["state"]["unit"], "幸福物业");
    assert_eq!(t["state"]["handled_by"], "幸福物业");
    assert_eq!(t["state"]["conflicts"].as_array().map(Vec::len), Some(0));
    let actions: Vec<&str> = t["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["Ok"]["to"].as_str().expect("readable event"))
        .collect();
    assert_eq!(
        actions,
        [
            "reported",
            "accepted",
            "dispatched",
            "acknowledged",
            "in_progress",
            "handled",
            "verified",
            "closed",
            "rated"
        ]
    );
    let actors: Vec<&str> = t["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["Ok"]["actor"].as_str().expect("actor"))
        .collect();
    assert_eq!(
        actors,
        [
            "王芳",
            "李明",
            "李明",
            "幸福物业",
            "幸福物业",
            "幸福物业",
            "王芳",
            "李明",
            "李明"
        ]
    );
    assert_eq!(t["comments"][0]["text"], "更换了LED灯泡，\n保修一年");
    assert_eq!(t["resident"]["name"], "张阿姨");

    // Closed tickets leave the default listing and the to-do list.
    assert_eq!(li.json(&["ticket", "list"]), serde_json::json!([]));
    assert_eq!(li.json(&["ticket", "list", "--all"])[0]["id"], id.as_str());
    assert!(li.todo().is_empty());

    // The human view shows the history with Chinese labels.
    let shown = li.ok(&["ticket", "show", prefix]);
    for text in [
        "已结案 closed",
        "签收 acknowledged",
        "满意 satisfied",
        "现场确认已亮",
    ] {
        assert!(shown.contains(text), "{text:?} in\n{shown}");
    }
}

#[test]
fn the_handler_may_not_verify_their_own_work() {
    let wang = Gs::init("王芳", "worker", &[GRID]);
    let li = Gs::init("李明", "supervisor", &[GRID]);
    let wuye = Gs::init("幸福物业", "unit", &[GRID]);
    let id = wang.report(GRID, "楼道堆放杂物", &[]);
    merge(&wang, &li);
    li.ok(&["ticket", "event", &id, "accepted"]);
    li.ok(&["ticket", "event", &id, "dispatched", "--unit", "幸福物业"]);
    merge(&li, &wuye);
    wuye.ok(&["ticket", "event", &id, "acknowledged"]);
    wuye.ok(&["ticket", "event", &id, "in_progress"]);
    merge(&wuye, &wang);

    // The worker clears the corridor themself (self-handled), so someone
    // else must verify: nothing to do for the worker, and verifying fails.
    wang.ok(&["ticket", "event", &id, "handled", "--note", "已自行清理"]);
    assert!(wang.todo().is_empty(), "{:?}", wang.todo());
    wang.run(&["ticket", "event", &id, "verified"])
        .fails_with(REFUSED)
        .stderr_has("ask another worker or a supervisor");
    assert_eq!(wang.status(&id), "handled");

    // The supervisor sees it and may verify.
    merge(&wang, &li);
    let todo = li.todo();
    assert_eq!(todo.len(), 1);
    assert_eq!(todo[0].1, ["verified", "rework"]);
    li.ok(&["ticket", "event", &id, "rework", "--note", "仍有纸箱未清"]);
    let t = li.json(&["ticket", "show", &id]);
    assert_eq!(t["state"]["status"], "dispatched");
    assert_eq!(t["state"]["rework_count"], 1);
}

#[test]
fn concurrent_offline_decisions_surface_as_a_conflict_with_its_reason() {
    let wang = Gs::init("王芳", "worker", &[GRID]);
    let li = Gs::init("李明", "supervisor", &[GRID]);
    let zhao = Gs::init("赵强", "supervisor", &[GRID]);
    let id = wang.report(GRID, "小区绿地被占用种菜", &[]);
    merge(&wang, &li);
    merge(&wang, &zhao);
    // Both dispatchers decide offline: one accepts, the other suspends it
    // (挂账). Which event the merged list orders first depends on the
    // devices' actor ids; either way the ticket stays open and the other
    // event is the conflict. (A conflict on a ticket that ends up closed or
    // invalid is not in `todo`, which lists open tickets only.)
    li.ok(&["ticket", "event", &id, "accepted"]);
    zhao.ok(&["ticket", "event", &id, "suspended", "--note", "待街道协调"]);
    merge(&zhao, &li);

    let t = li.json(&["ticket", "show", &id]);
    let conflicts = t["state"]["conflicts"].as_array().expect("conflicts");
    assert_eq!(conflicts.len(), 1, "{t:#}");
    assert_eq!(conflicts[0]["reason"]["kind"], "concurrent");
    assert_eq!(conflicts[0]["reason"]["expected"], "reported");
    let kept = conflicts[0]["actor"].as_str().expect("actor");
    assert!(kept == "李明" || kept == "赵强");
    assert_eq!(
        t["events"].as_array().map(Vec::len),
        Some(3),
        "both events are kept"
    );

    let todo = li.todo();
    assert_eq!(todo.len(), 1);
    assert_eq!(todo[0].2, "conflict");
    let shown = li.ok(&["ticket", "show", &id]);
    assert!(shown.contains("冲突 conflicts"), "{shown}");
    assert!(shown.contains("(concurrent change)"), "{shown}");
    assert!(li.ok(&["todo"]).contains("冲突 conflict"));
}
