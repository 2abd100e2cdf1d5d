//! What `gridsync` says it saved survives the process being killed.
//!
//! `ticket import` prints `saved <id>` only after the ticket's storage
//! transaction committed, so after a SIGKILL at any point every printed id
//! must be on disk, the database must open cleanly, and re-running the same
//! file must complete the import without duplicating anything.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use support::Gs;

const GRIDS: [&str; 2] = ["GL-01", "GL-02"];
/// A stuck child fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(120);

fn listed_ids(gs: &Gs) -> Vec<String> {
    gs.json(&["ticket", "list", "--all"])
        .as_array()
        .expect("array")
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_owned())
        .collect()
}

fn import_file(gs: &Gs, n: usize) -> (std::path::PathBuf, Vec<String>) {
    let ids: Vec<String> = (0..n).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let mut text = String::new();
    for (i, id) in ids.iter().enumerate() {
        let record = serde_json::json!({
            "id": id,
            "grid": GRIDS[i % 2],
            "title": format!("巡查发现第{i}处问题，\n请处理"),
            "kind": "component",
            "category": "0102",
            "location": { "lat": 31.2, "lon": 121.4, "accuracy_m": 5.0, "address": "幸福路" },
        });
        text.push_str(&record.to_string());
        text.push('\n');
    }
    let path = gs.data().with_file_name("import.jsonl");
    std::fs::write(&path, text).expect("write import file");
    (path, ids)
}

/// Reads `saved <id>` lines from a child's stdout on a thread, so the test
/// can wait for them with a time limit.
fn saved_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let id = line
                .strip_prefix("saved ")
                .unwrap_or_else(|| panic!("unexpected output line {line:?}"))
                .to_owned();
            if tx.send(id).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn sigkill_during_import_keeps_every_saved_ticket() {
    let gs = Gs::init("李明", "supervisor", &GRIDS);
    let (file, ids) = import_file(&gs, 2_000);
    let mut child = gs
        .command()
        .args(["ticket", "import"])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn import");
    let lines = saved_lines(&mut child);
    let mut saved = Vec::new();
    while saved.len() < 200 {
        let id = lines
            .recv_timeout(PATIENCE)
            .expect("import stalled or ended before 200 tickets");
        saved.push(id);
    }
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("reap");
    assert!(!status.success(), "the import was killed midway: {status}");
    // Lines already in the pipe were printed after their commit too.
    saved.extend(lines.iter());
    assert!(saved.len() < ids.len(), "killed before the end");
    assert_eq!(saved[..], ids[..saved.len()], "saved in file order");

    let listed = listed_ids(&gs);
    let listed_set: BTreeSet<&String> = listed.iter().collect();
    for id in &saved {
        assert!(
            listed_set.contains(id),
            "saved {id} is missing after SIGKILL"
        );
    }
    // At most the one ticket in flight committed without its line printed.
    assert!(
        listed.len() <= saved.len() + 1,
        "{} listed, {} saved",
        listed.len(),
        saved.len()
    );
    assert_eq!(listed.len(), listed_set.len(), "no duplicates");

    // The database opens cleanly: reads and writes work.
    let t = gs.json(&["ticket", "show", &saved[saved.len() - 1]]);
    assert_eq!(t["state"]["status"], "reported");
    assert!(
        t["title"]
            .as_str()
            .is_some_and(|s| s.starts_with("巡查发现第"))
    );
    gs.report("GL-01", "重启后新上报", &[]);

    // Re-running the file finishes the job without duplicating anything.
    let rerun = gs.run(&["ticket", "import", file.to_str().expect("utf-8 path")]);
    assert_eq!(rerun.code, Some(0), "{rerun:#?}");
    assert_eq!(rerun.stdout.lines().count(), ids.len());
    let listed: BTreeSet<String> = listed_ids(&gs).into_iter().collect();
    assert_eq!(listed.len(), ids.len() + 1);
    assert!(ids.iter().all(|id| listed.contains(id)));
}

/// Many short `ticket new` processes with a fixed id each, some killed at
/// whatever point they have reached: every one that exited 0 is on disk, a
/// killed one is either wholly there or absent, and retrying every id
/// afterwards yields exactly one ticket per id.
#[test]
fn killed_and_retried_reports_never_lose_or_duplicate() {
    const N: usize = 24;
    let gs = Gs::init("王芳", "worker", &GRIDS);
    let ids: Vec<String> = (0..N).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let (tx, rx) = mpsc::channel();
    let worker = {
        let ids = ids.clone();
        let data = gs.data();
        thread::spawn(move || {
            let mut saved = Vec::new();
            for (i, id) in ids.iter().enumerate() {
                let mut child = std::process::Command::new(support::BIN)
                    .arg("--data")
                    .arg(&data)
                    .env_remove("GRIDSYNC_DATA")
                    .env_remove("RUST_LOG")
                    .args(["ticket", "new", "--grid", GRIDS[i % 2], "--id", id])
                    .args(["--title", &format!("第{i}次上报")])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("spawn");
                if i % 3 == 1 {
                    child.kill().expect("SIGKILL");
                }
                if child.wait().expect("reap").success() {
                    saved.push(id.clone());
                }
            }
            tx.send(saved).expect("report back");
        })
    };
    let saved = rx.recv_timeout(PATIENCE).expect("the report loop stalled");
    worker.join().expect("loop thread");
    assert!(
        saved.len() >= N - N / 3,
        "only the killed ones may fail: {}",
        saved.len()
    );

    let listed: BTreeSet<String> = listed_ids(&gs).into_iter().collect();
    for id in &saved {
        assert!(listed.contains(id), "exited 0 but {id} is missing");
    }
    for id in &listed {
        // Whatever is listed is whole: the document and its summary agree.
        let t = gs.json(&["ticket", "show", id]);
        assert_eq!(t["state"]["status"], "reported", "{id}");
    }

    for (i, id) in ids.iter().enumerate() {
        gs.report(GRIDS[i % 2], &format!("第{i}次上报"), &["--id", id]);
    }
    let listed = listed_ids(&gs);
    assert_eq!(listed.len(), N);
    assert_eq!(
        listed.iter().collect::<BTreeSet<_>>(),
        ids.iter().collect::<BTreeSet<_>>()
    );
}
