//! `--json` output parses and carries Chinese text unchanged; tables line
//! Chinese text up in display columns.

mod support;

use support::Gs;
use unicode_width::UnicodeWidthStr;

const GRID: &str = "GL-01";

#[test]
fn chinese_text_round_trips_through_show_json() {
    let gs = Gs::init("王芳", "worker", &[GRID]);
    let title = "幸福小区3号楼，东侧路灯不亮\n第二行：\"引号\"、逗号,以及\t制表符 🏮";
    let description = "居民张阿姨反映：\n1. 晚上七点后全黑，\n2. 老人出行不便。";
    let id = gs.report(
        GRID,
        title,
        &[
            "--description",
            description,
            "--address",
            "长宁区，幸福路88弄",
            "--lat",
            "31.2",
            "--lon",
            "121.4",
            "--accuracy",
            "6.5",
            "--category",
            "0102",
        ],
    );
    gs.ok(&["ticket", "comment", &id, "已电话联系，\n明早复查"]);
    let t = gs.json(&["ticket", "show", &id]);
    assert_eq!(t["id"], id.as_str());
    assert_eq!(t["title"], title);
    assert_eq!(t["description"], description);
    assert_eq!(t["location"]["address"], "长宁区，幸福路88弄");
    assert_eq!(t["location"]["accuracy_m"], 6.5);
    assert_eq!(t["created_by"], "王芳");
    assert_eq!(t["comments"][0]["text"], "已电话联系，\n明早复查");
    assert_eq!(t["comments"][0]["author"], "王芳");
    assert_eq!(t["kind"], "event");
    assert_eq!(t["source"], "patrol");

    let list = gs.json(&["ticket", "list"]);
    assert_eq!(list[0]["title"], title);
    assert_eq!(list[0]["status"], "reported");
}

#[test]
fn every_command_prints_parseable_json() {
    let gs = Gs::init("李明", "supervisor", &[GRID]);
    let who = gs.json(&["whoami"]);
    assert_eq!(who["user"], "李明");
    assert_eq!(who["role"], "supervisor");
    assert_eq!(who["grids"], serde_json::json!([GRID]));
    assert!(
        who["database"]
            .as_str()
            .is_some_and(|d| d.ends_with("gridsync.redb"))
    );

    let new = gs.json(&["ticket", "new", "--grid", GRID, "--title", "垃圾满溢"]);
    let id = new["id"].as_str().expect("id").to_owned();
    let comment = gs.json(&["ticket", "comment", &id, "已通知保洁"]);
    assert_eq!(comment["ticket"], id.as_str());
    assert!(comment["comment"].is_string());
    let moved = gs.json(&["ticket", "event", &id, "accepted"]);
    assert_eq!(moved["state"]["status"], "accepted");
    let todo = gs.json(&["todo"]);
    assert_eq!(todo[0]["ticket"]["id"], id.as_str());
    assert_eq!(todo[0]["actions"], serde_json::json!(["dispatched"]));
    assert_eq!(todo[0]["why"], "action");
    let visit = gs.json(&[
        "visit",
        "add",
        "--grid",
        GRID,
        "--type",
        "patrol",
        "--outcome",
        "met",
    ]);
    assert!(visit["id"].is_string());
    assert!(visit["date"].as_str().is_some_and(|d| d.len() == 10));
    let visits = gs.json(&["visit", "list"]);
    assert_eq!(visits[0]["worker"], "李明");
    assert_eq!(visits[0]["visit_type"], "patrol");
}

#[test]
fn tables_align_chinese_text() {
    let gs = Gs::init("王芳", "worker", &[GRID]);
    gs.report(GRID, "路灯不亮", &[]);
    gs.report(GRID, "A short English title", &[]);
    gs.report(
        GRID,
        "楼道内堆放大量易燃杂物，存在消防隐患",
        &["--urgency", "urgent"],
    );
    let table = gs.ok(&["ticket", "list"]);
    let widths: Vec<usize> = table.lines().map(UnicodeWidthStr::width).collect();
    assert!(widths.len() >= 6, "{table}");
    assert!(
        widths.iter().all(|w| *w == widths[0]),
        "{widths:?}\n{table}"
    );
    assert!(table.contains("已上报 reported"), "{table}");
    assert!(table.contains("紧急"), "{table}");

    let show = gs.ok(&["whoami"]);
    let widths: Vec<usize> = show.lines().map(UnicodeWidthStr::width).collect();
    assert!(widths.iter().all(|w| *w == widths[0]), "{widths:?}\n{show}");
}

#[test]
fn a_retried_report_with_the_same_id_is_one_ticket() {
    let gs = Gs::init("王芳", "worker", &[GRID]);
    let id = "0f0e0d0c-0b0a-4909-8807-060504030201";
    for _ in 0..3 {
        assert_eq!(gs.report(GRID, "重复提交", &["--id", id]), id);
    }
    let list = gs.json(&["ticket", "list", "--all"]);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(
        gs.json(&["ticket", "show", id])["events"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}
