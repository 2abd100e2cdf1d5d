//! The README's catalog walk-through with the real binaries: an admin
//! imports a catalog, a worker's device receives it and reports under one
//! of its codes offline (an unknown code is refused with the nearest), and
//! the supervisor's dispatch gets that category's deadline, recording the
//! catalog version that set it.

use std::process::Command;

use client_core::model::catalog::TimeLimit;
use tests::{Cli, Relay, bin};

const GRID: &str = "GL-03-07";

fn init(root: &std::path::Path, user: &str, role: &str) -> Cli {
    let cli = Cli::new(&root.join(user));
    cli.ok(&["init", "--user", user, "--role", role, "--grid", GRID]);
    cli
}

#[test]
fn an_imported_category_sets_the_dispatch_deadline() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    // The first start creates the relay's database (and listens only after
    // it is committed).
    Relay::start(&data).kill();
    let file = tmp.path().join("our-city.csv");
    std::fs::write(
        &file,
        "code,name_zh,name_en,kind,time_limit,urgent_time_limit,filing,closing,after_photos_required\n\
         1102,暴露垃圾,Exposed rubbish,事件,4h,2h,道路暴露垃圾,清理干净,yes\n\
         8801,高空抛物,Objects thrown from height,event,1d,,,,no\n",
    )
    .unwrap();
    let imported = Command::new(bin("gridsync-server"))
        .args(["category", "import"])
        .arg(&file)
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let relay = Relay::start(&data);

    let wang = init(tmp.path(), "wang", "worker");
    wang.ok(&["sync", "--server", &relay.url()]);
    let listed = wang.ok(&["category", "list"]);
    assert!(
        listed.contains("catalog version 2: 2 categories"),
        "{listed}"
    );

    // Offline from here.
    let refused = wang.run(&[
        "ticket",
        "new",
        "--grid",
        GRID,
        "--title",
        "?",
        "--category",
        "8802",
    ]);
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("nearest: 8801 高空抛物"), "{err}");
    let id = wang
        .ok(&[
            "ticket",
            "new",
            "--grid",
            GRID,
            "--title",
            "路口垃圾堆积",
            "--category",
            "1102",
        ])
        .trim()
        .to_owned();
    wang.ok(&["sync"]);

    let li = init(tmp.path(), "li", "supervisor");
    li.ok(&["sync", "--server", &relay.url()]);
    li.ok(&["ticket", "event", &id, "accepted"]);
    li.ok(&["ticket", "event", &id, "dispatched", "--unit", "幸福物业"]);
    let shown = li.json(&["ticket", "show", &id]);
    let dispatch = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.get("Ok"))
        .find(|e| e["to"] == "dispatched")
        .expect("the dispatch event");
    assert_eq!(dispatch["catalog_version"], 2);
    assert_eq!(dispatch["time_limit"], "4h");
    let at = dispatch["at_device"].as_i64().unwrap();
    assert_eq!(
        shown["state"]["due_at"].as_i64(),
        Some(client_core::device::due_after(
            at,
            TimeLimit::WorkingHours(4)
        ))
    );
    assert_eq!(shown["kind"], "event", "the category's kind");
    li.ok(&["sync"]);
    drop(relay);
}
