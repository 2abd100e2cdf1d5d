//! Visit logging: the log's date is the start date in +08:00, the worker is
//! the device's user, and corrections amend earlier visits.

mod support;

use support::{Gs, REFUSED, USAGE};

const GRID: &str = "GL-01";

#[test]
fn visits_are_filed_under_their_china_date() {
    let gs = Gs::init("王芳", "worker", &[GRID]);
    // 16:30 UTC on 1 March is 00:30 on 2 March in China.
    let late = gs.json(&[
        "visit",
        "add",
        "--grid",
        GRID,
        "--type",
        "household",
        "--household",
        "3-2-501",
        "--outcome",
        "not_home",
        "--started",
        "2025-03-01T16:30:00Z",
    ]);
    assert_eq!(late["date"], "2025-03-02");
    let early = gs.json(&[
        "visit",
        "add",
        "--grid",
        GRID,
        "--type",
        "vulnerable",
        "--household",
        "5-1-302",
        "--outcome",
        "met",
        "--notes",
        "独居老人，身体尚好，\n需定期回访",
        "--started",
        "2025-03-01T09:00:00+08:00",
        "--ended",
        "2025-03-01T09:40:00+08:00",
        "--lat",
        "31.2",
        "--lon",
        "121.4",
    ]);
    assert_eq!(early["date"], "2025-03-01");

    let first = gs.json(&["visit", "list", "--date", "2025-03-01"]);
    assert_eq!(first.as_array().map(Vec::len), Some(1));
    assert_eq!(first[0]["id"], early["id"]);
    assert_eq!(first[0]["worker"], "王芳");
    assert_eq!(first[0]["notes"], "独居老人，身体尚好，\n需定期回访");
    assert_eq!(first[0]["household"], "5-1-302");
    assert_eq!(first[0]["outcome"], "met");
    assert!(first[0]["ended_at"].as_i64() > first[0]["started_at"].as_i64());
    let second = gs.json(&["visit", "list", "--date", "2025-03-02"]);
    assert_eq!(second[0]["id"], late["id"]);
    assert_eq!(
        gs.json(&["visit", "list"]).as_array().map(Vec::len),
        Some(2)
    );

    let table = gs.ok(&["visit", "list"]);
    assert!(table.contains("重点人群走访 vulnerable"), "{table}");
    assert!(table.contains("不在家 not_home"), "{table}");
    assert!(
        gs.ok(&["visit", "list", "--date", "2025-03-03"])
            .contains("no visits")
    );
}

#[test]
fn a_visit_links_tickets_and_a_correction_amends_by_prefix() {
    let gs = Gs::init("王芳", "worker", &[GRID]);
    let ticket = gs.report(GRID, "走访发现楼道灯坏", &[]);
    let first = gs.json(&[
        "visit",
        "add",
        "--grid",
        GRID,
        "--type",
        "household",
        "--household",
        "3-2-501",
        "--outcome",
        "met",
        "--ticket",
        &ticket[..6],
    ]);
    let first_id = first["id"].as_str().expect("id").to_owned();
    let fix = gs.json(&[
        "visit",
        "add",
        "--grid",
        GRID,
        "--type",
        "household",
        "--household",
        "3-2-502",
        "--outcome",
        "met",
        "--notes",
        "门牌号记错，更正为502",
        "--amends",
        &first_id[..8],
    ]);
    let visits = gs.json(&["visit", "list"]);
    let by_id = |id: &serde_json::Value| {
        visits
            .as_array()
            .expect("visits")
            .iter()
            .find(|v| v["id"] == *id)
            .cloned()
            .expect("listed")
    };
    assert_eq!(by_id(&first["id"])["tickets"], serde_json::json!([ticket]));
    assert_eq!(by_id(&fix["id"])["amends"], first_id.as_str());

    gs.run(&[
        "visit",
        "add",
        "--grid",
        GRID,
        "--type",
        "patrol",
        "--outcome",
        "met",
        "--amends",
        "ffff",
    ])
    .fails_with(REFUSED)
    .stderr_has("no visit on this device starts with `ffff`");
    gs.run(&[
        "visit",
        "add",
        "--grid",
        GRID,
        "--type",
        "patrol",
        "--outcome",
        "met",
        "--ticket",
        "ffff",
    ])
    .fails_with(REFUSED);
    gs.run(&[
        "visit",
        "add",
        "--grid",
        GRID,
        "--type",
        "patrol",
        "--outcome",
        "met",
        "--started",
        "2025-03-01T10:00:00+08:00",
        "--ended",
        "2025-03-01T09:00:00+08:00",
    ])
    .fails_with(USAGE)
    .stderr_has("--ended is before --started");
    assert_eq!(
        gs.json(&["visit", "list"]).as_array().map(Vec::len),
        Some(2)
    );
}
