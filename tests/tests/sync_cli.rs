//! Workers and supervisors syncing through the real relay with the real
//! `gridsync` binary: two workers report offline and, with a handling unit
//! and a supervisor, change the same ticket concurrently (comments, handled,
//! closed as duplicate); they reconnect in either order, and a supervisor
//! device with an empty store sees everything merged with the conflict
//! reported.

use serde_json::Value;
use tests::{Cli, Relay};

const GRID: &str = "GL-03-07";

fn init(root: &std::path::Path, user: &str, role: &str) -> Cli {
    let cli = Cli::new(&root.join(user));
    cli.ok(&["init", "--user", user, "--role", role, "--grid", GRID]);
    cli
}

fn report(cli: &Cli, title: &str) -> String {
    cli.ok(&["ticket", "new", "--grid", GRID, "--title", title])
        .trim()
        .to_owned()
}

fn sync(cli: &Cli, relay: &Relay) -> Value {
    cli.json(&["sync", "--server", &relay.url()])
}

fn show(cli: &Cli, id: &str) -> Value {
    cli.json(&["ticket", "show", id])
}

fn concurrent_changes_merge(order: &[usize]) {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(&tmp.path().join("relay"));
    let wang = init(tmp.path(), "王芳", "worker");
    let liu = init(tmp.path(), "刘强", "worker");
    let li = init(tmp.path(), "李明", "supervisor");
    let wuye = init(tmp.path(), "幸福物业", "unit");

    // Offline reports.
    let t = report(&wang, "3号楼东侧路灯不亮，居民反映多次");
    let a2 = report(&wang, "井盖松动");
    let b1 = report(&liu, "路灯不亮（重复上报）");

    // Online: the ticket reaches the unit and work starts.
    sync(&wang, &relay);
    sync(&li, &relay);
    li.ok(&["ticket", "event", &t, "accepted"]);
    li.ok(&["ticket", "event", &t, "dispatched", "--unit", "幸福物业"]);
    sync(&li, &relay);
    sync(&wuye, &relay);
    wuye.ok(&["ticket", "event", &t, "acknowledged"]);
    wuye.ok(&["ticket", "event", &t, "in_progress"]);
    for cli in [&wuye, &wang, &liu, &li] {
        sync(cli, &relay);
    }
    assert_eq!(show(&liu, &t)["state"]["status"], "in_progress");

    // Offline again, all at once.
    wang.ok(&["ticket", "comment", &t, "我已到现场，灯杆编号 L-17"]);
    liu.ok(&["ticket", "comment", &t, "居民又来电话催促"]);
    wuye.ok(&["ticket", "event", &t, "handled", "--note", "已更换灯泡"]);
    li.ok(&["ticket", "event", &t, "closed", "--duplicate-of", &b1]);

    let people = [&liu, &wuye, &wang, &li];
    for &i in order {
        let report = sync(people[i], &relay);
        assert_eq!(
            report["pending"],
            serde_json::json!([]),
            "everything acknowledged"
        );
    }

    // A supervisor's new device, empty, syncs its grid.
    let chen = init(tmp.path(), "陈静", "supervisor");
    sync(&chen, &relay);
    let mut listed: Vec<String> = chen
        .json(&["ticket", "list", "--all"])
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    listed.sort();
    let mut want = vec![t.clone(), a2, b1];
    want.sort();
    assert_eq!(listed, want, "every offline report arrived");

    let merged = show(&chen, &t);
    let comments: Vec<&str> = merged["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect();
    assert_eq!(comments.len(), 2, "{comments:?}");
    assert!(
        comments.contains(&"我已到现场，灯杆编号 L-17") && comments.contains(&"居民又来电话催促")
    );
    let actions: Vec<&str> = merged["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Ok"]["to"].as_str().unwrap_or("?"))
        .collect();
    assert!(
        actions.contains(&"handled") && actions.contains(&"closed"),
        "both concurrent events kept: {actions:?}"
    );
    let conflicts = merged["state"]["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "the losing event is reported: {merged}");
    let status = merged["state"]["status"].as_str().unwrap();
    assert!(status == "handled" || status == "closed");

    // Every replica folds the same status, whatever the reconnect order.
    for cli in [&wang, &liu, &wuye, &li] {
        sync(cli, &relay);
        assert_eq!(show(cli, &t)["state"], merged["state"]);
    }
    let todo = chen.json(&["todo"]);
    assert!(
        todo.as_array()
            .unwrap()
            .iter()
            .any(|i| i["ticket"]["id"] == t.as_str() && i["why"] == "conflict"),
        "{todo}"
    );
}

#[test]
fn concurrent_changes_merge_when_reconnecting_in_one_order() {
    concurrent_changes_merge(&[0, 1, 2, 3]);
}

#[test]
fn concurrent_changes_merge_when_reconnecting_in_the_other_order() {
    concurrent_changes_merge(&[3, 2, 1, 0]);
}

#[test]
fn sync_without_a_reachable_relay_fails_clearly_and_keeps_local_data() {
    let tmp = tempfile::tempdir().unwrap();
    let wang = init(tmp.path(), "王芳", "worker");
    let id = report(&wang, "占道经营");
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    drop(listener);
    let out = wang.run(&["sync", "--server", &url]);
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("could not reach the relay"), "{err}");
    assert_eq!(show(&wang, &id)["title"], "占道经营");
    assert!(
        wang.ok(&["ticket", "list"]).contains("未同步"),
        "still marked as not yet synced"
    );
}

#[test]
fn a_ticket_is_marked_unsynced_until_the_relay_acknowledges_it() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(&tmp.path().join("relay"));
    let wang = init(tmp.path(), "王芳", "worker");
    report(&wang, "垃圾满溢");
    assert!(wang.ok(&["ticket", "list"]).contains("未同步"));
    let report = sync(&wang, &relay);
    assert_eq!(report["acknowledged"], report["documents"]);
    assert!(
        !wang.ok(&["ticket", "list"]).contains("未同步"),
        "acknowledged"
    );
}

#[test]
fn sync_watch_sends_edits_made_by_other_commands_while_it_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(&tmp.path().join("relay"));
    let wang = init(tmp.path(), "王芳", "worker");
    let li = init(tmp.path(), "李明", "supervisor");
    let mut watcher = std::process::Command::new(tests::bin("gridsync"))
        .arg("--data")
        .arg(&wang.data)
        .args(["sync", "--watch", "--server", &relay.url()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the watcher is connected and idle, so the ticket below is
    // picked up by its polling, not by its first round.
    let stderr = std::io::BufReader::new(watcher.stderr.take().unwrap());
    let mut lines = std::io::BufRead::lines(stderr);
    assert!(
        lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.starts_with("in sync")),
        "the watcher settles"
    );
    std::thread::spawn(move || for _ in lines {});
    // Recorded by another process while the watcher holds the database.
    let id = report(&wang, "楼道灯不亮");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut seen = false;
    while !seen && std::time::Instant::now() < deadline {
        sync(&li, &relay);
        seen = li
            .json(&["ticket", "list"])
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == id.as_str());
    }
    let _ = watcher.kill();
    let _ = watcher.wait();
    assert!(seen, "the watcher sent the new ticket to the relay");
}
