//! `ticket import` checks the whole file before writing anything.

mod support;

use std::io::Write;
use std::process::Stdio;

use support::{Gs, REFUSED};

const GRID: &str = "GL-01";

fn write(gs: &Gs, text: &str) -> String {
    let path = gs.data().with_file_name("in.jsonl");
    std::fs::write(&path, text).expect("write");
    path.to_str().expect("utf-8").to_owned()
}

#[test]
fn a_bad_line_imports_nothing_and_is_named() {
    let gs = Gs::init("李明", "supervisor", &[GRID]);
    let file = write(
        &gs,
        concat!(
            "{\"grid\":\"GL-01\",\"title\":\"路灯不亮\"}\n",
            "\n",
            "{\"grid\":\"GL-01\",\"title\":\"井盖\",\"colour\":\"red\"}\n",
            "{\"grid\":\"GL-09\",\"title\":\"越界\"}\n",
            "{\"grid\":\"GL-01\",\"title\":\"   \"}\n",
            "not json\n",
        ),
    );
    gs.run(&["ticket", "import", &file])
        .fails_with(REFUSED)
        .stderr_has("4 problem(s)")
        .stderr_has("line 3: unknown field `colour`")
        .stderr_has("line 4: grid GL-09 is not one of yours")
        .stderr_has("line 5: a ticket needs a title")
        .stderr_has("line 6:")
        .stderr_has("nothing was imported");
    assert_eq!(gs.json(&["ticket", "list", "--all"]), serde_json::json!([]));
    gs.run(&["ticket", "import", "/nonexistent/in.jsonl"])
        .fails_with(REFUSED)
        .stderr_has("cannot read");
}

#[test]
fn stdin_imports_with_json_progress_lines() {
    let gs = Gs::init("李明", "supervisor", &[GRID]);
    let id = "11111111-2222-4333-8444-555555555555";
    let input = format!(
        "{{\"id\":\"{id}\",\"grid\":\"GL-01\",\"title\":\"12345转办：噪音扰民\",\"source\":\"hotline\",\
         \"urgency\":\"urgent\",\"resident\":{{\"name\":\"钱女士\",\"phone\":\"13700000000\"}}}}\n\
         {{\"grid\":\"GL-01\",\"title\":\"第二条\"}}\n"
    );
    let mut child = gs
        .command()
        .args(["--json", "ticket", "import", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("feed");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["saved"], id);
    assert_eq!(lines[0]["line"], 1);
    assert_eq!(lines[1]["line"], 2);
    let t = gs.json(&["ticket", "show", id]);
    assert_eq!(t["source"], "hotline");
    assert_eq!(t["resident"]["name"], "钱女士");
    assert_eq!(gs.todo().len(), 2);
}

#[test]
fn a_reviewer_import_stops_at_the_first_line() {
    let gs = Gs::init("周审", "reviewer", &[GRID]);
    let file = write(&gs, "{\"grid\":\"GL-01\",\"title\":\"x\"}\n");
    gs.run(&["ticket", "import", &file])
        .fails_with(REFUSED)
        .stderr_has("line 1 was not imported")
        .stderr_has("reviewers read and export");
}
