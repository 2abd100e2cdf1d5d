//! Bad input and broken storage end in one `error:` line and the
//! documented exit code, never a panic or a backtrace.

mod support;

use support::{Gs, REFUSED, STORAGE, USAGE};

const GRID: &str = "GL-01";

#[test]
fn bad_flags_and_values_exit_2() {
    let gs = Gs::init("王芳", "worker", &[GRID]);
    for args in [
        &["ticket", "new", "--grid", GRID][..],
        &[
            "ticket", "new", "--grid", GRID, "--title", "x", "--colour", "red",
        ],
        &[
            "ticket", "new", "--grid", GRID, "--title", "x", "--lat", "31.2",
        ],
        &[
            "ticket", "new", "--grid", GRID, "--title", "x", "--lat", "95", "--lon", "1",
        ],
        &[
            "ticket",
            "new",
            "--grid",
            GRID,
            "--title",
            "x",
            "--urgency",
            "asap",
        ],
        &["ticket", "new", "--grid", "GL 01", "--title", "x"],
        &[
            "ticket",
            "new",
            "--grid",
            GRID,
            "--title",
            "x",
            "--id",
            "not-a-uuid",
        ],
        &["ticket", "new", "--grid", GRID, "--title", "   "],
        &["ticket", "list", "--status", "done"],
        &["ticket", "show", "abc"],
        &["ticket", "show", "zzzz"],
        &["ticket", "event", "abcd", "approve"],
        &["ticket", "event", "abcd", "dispatched", "--due", "tomorrow"],
        &["visit", "add", "--grid", GRID, "--type", "household"],
        &["visit", "list", "--date", "2025-02-30"],
        &["init", "--user", "x", "--role", "boss", "--grid", GRID],
        &["frobnicate"],
    ] {
        let r = gs.run(args);
        assert_eq!(r.code, Some(USAGE), "{args:?}: {r:#?}");
        assert!(r.stderr.starts_with("error:"), "{args:?}: {r:#?}");
        assert!(r.stdout.is_empty(), "{args:?}: {r:#?}");
    }
}

#[test]
fn unknown_and_ambiguous_ids_exit_1_and_name_the_candidates() {
    let gs = Gs::init("李明", "supervisor", &[GRID]);
    let a = "abcd1111-0000-4000-8000-000000000001";
    let b = "abcd2222-0000-4000-8000-000000000002";
    gs.report(GRID, "路灯不亮", &["--id", a]);
    gs.report(GRID, "井盖缺失", &["--id", b]);

    gs.run(&["ticket", "show", "abcd"])
        .fails_with(REFUSED)
        .stderr_has("matches 2 tickets")
        .stderr_has(a)
        .stderr_has("井盖缺失");
    gs.run(&["ticket", "show", "ffff"])
        .fails_with(REFUSED)
        .stderr_has("no ticket on this device starts with `ffff`");
    gs.run(&["ticket", "show", "12345678-0000-4000-8000-000000000000"])
        .fails_with(REFUSED)
        .stderr_has("gridsync ticket list");
    gs.run(&["ticket", "comment", "ffff", "备注"])
        .fails_with(REFUSED);
    // One more digit makes it unique; dashes and case do not matter.
    assert_eq!(gs.json(&["ticket", "show", "ABCD-1"])["id"], a);
}

#[test]
fn a_grid_that_is_not_mine_exits_1() {
    let gs = Gs::init("王芳", "worker", &[GRID, "GL-02"]);
    gs.run(&["ticket", "new", "--grid", "GL-99", "--title", "越界上报"])
        .fails_with(REFUSED)
        .stderr_has("grid GL-99 is not one of yours (GL-01, GL-02)");
    gs.run(&["ticket", "list", "--grid", "GL-99"])
        .fails_with(REFUSED);
    gs.run(&[
        "visit",
        "add",
        "--grid",
        "GL-99",
        "--type",
        "patrol",
        "--outcome",
        "met",
    ])
    .fails_with(REFUSED)
    .stderr_has("ask an admin");
    assert_eq!(gs.json(&["ticket", "list", "--all"]), serde_json::json!([]));
}

#[test]
fn an_unset_directory_is_refused_without_leaving_files() {
    let gs = Gs::empty();
    gs.run(&["ticket", "list"])
        .fails_with(REFUSED)
        .stderr_has("gridsync init");
    gs.run(&["whoami"]).fails_with(REFUSED);
    assert!(
        !gs.data().exists(),
        "a read must not create the data directory"
    );
}

#[test]
fn a_second_init_is_refused() {
    let gs = Gs::init("王芳", "worker", &[GRID]);
    gs.run(&[
        "init",
        "--user",
        "李明",
        "--role",
        "supervisor",
        "--grid",
        GRID,
    ])
    .fails_with(REFUSED)
    .stderr_has("already set up for `王芳`");
    assert_eq!(gs.json(&["whoami"])["user"], "王芳");
}

#[test]
fn a_garbage_database_is_reported_as_damaged() {
    let gs = Gs::init("王芳", "worker", &[GRID]);
    let garbage: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(gs.database(), &garbage).expect("write garbage");
    gs.run(&["ticket", "list"])
        .fails_with(STORAGE)
        .stderr_has("is damaged")
        .stderr_has("move it aside");
}

/// redb checks its header but trusts its pages: with the header intact and
/// the body overwritten, redb 4.6 reached `unreachable!()` and the binary
/// died with a backtrace. It must report a damaged database instead.
#[test]
fn a_database_with_a_damaged_body_is_reported_not_panicked() {
    let gs = Gs::init("王芳", "worker", &[GRID]);
    for i in 0..3 {
        gs.report(GRID, &format!("测试工单{i}"), &[]);
    }
    let mut bytes = std::fs::read(gs.database()).expect("read db");
    assert!(bytes.len() > 8192);
    for (i, b) in bytes.iter_mut().enumerate().skip(4096) {
        *b = (i.wrapping_mul(2_654_435_761) >> 7) as u8;
    }
    std::fs::write(gs.database(), &bytes).expect("damage db");
    for args in [&["ticket", "list"][..], &["todo"], &["whoami"]] {
        let r = gs.run(args);
        assert_eq!(r.code, Some(STORAGE), "{args:?}: {r:#?}");
        assert!(
            r.stderr.starts_with("error: the local database at"),
            "{r:#?}"
        );
        assert!(
            !r.stderr.contains("panicked") && !r.stderr.contains("backtrace"),
            "{r:#?}"
        );
    }
}

#[test]
fn a_database_in_use_by_another_process_exits_3() {
    let gs = Gs::init("王芳", "worker", &[GRID]);
    let held = client_core::store::RedbStore::open(gs.database()).expect("open");
    gs.run(&["ticket", "list"])
        .fails_with(STORAGE)
        .stderr_has("in use by another gridsync process");
    drop(held);
    gs.ok(&["ticket", "list"]);
}
