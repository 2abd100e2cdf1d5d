//! `after_photos_required` with the real binaries: the relay's default
//! catalog says 1102 暴露垃圾 needs a photo after the work (处置后照片).
//! A unit's device that received it refuses `handled` on such a ticket
//! while it lists only a before photo, exits 1 and says how to attach one;
//! after `ticket photo add ID FILE --phase after` the same command goes
//! through. A ticket of 2103 噪声扰民 (no after photo required) is
//! handled without one.

use tests::{Cli, Relay};

const GRID: &str = "GL-03-07";

fn init(root: &std::path::Path, user: &str, role: &str, relay: &Relay) -> Cli {
    let cli = Cli::new(&root.join(user));
    cli.ok(&["init", "--user", user, "--role", role, "--grid", GRID]);
    cli.ok(&["sync", "--server", &relay.url()]);
    cli
}

#[test]
fn handled_needs_an_after_photo_where_the_category_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    // An open relay (no users yet) still publishes its default catalog.
    let relay = Relay::start(&tmp.path().join("relay"));
    let wang = init(tmp.path(), "wang", "worker", &relay);
    let li = init(tmp.path(), "li", "supervisor", &relay);
    let wuye = init(tmp.path(), "wuye", "unit", &relay);

    let before = tmp.path().join("before.jpg");
    std::fs::write(&before, [0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]).unwrap();
    let report = |title: &str, category: &str| {
        wang.json(&[
            "ticket",
            "new",
            "--grid",
            GRID,
            "--title",
            title,
            "--category",
            category,
            "--photo",
            before.to_str().unwrap(),
        ])["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let rubbish = report("路口垃圾堆积", "1102");
    let noise = report("夜间施工噪声", "2103");
    wang.ok(&["sync"]);

    li.ok(&["sync"]);
    for id in [&rubbish, &noise] {
        li.ok(&["ticket", "event", id, "accepted"]);
        li.ok(&["ticket", "event", id, "dispatched", "--unit", "wuye"]);
    }
    li.ok(&["sync"]);
    wuye.ok(&["sync"]);
    for id in [&rubbish, &noise] {
        wuye.ok(&["ticket", "event", id, "acknowledged"]);
        wuye.ok(&["ticket", "event", id, "in_progress"]);
    }

    let refused = wuye.run(&["ticket", "event", &rubbish, "handled"]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(err.contains("after_photos_required"), "{err}");
    assert!(err.contains("1102 (暴露垃圾)"), "{err}");
    assert!(
        err.contains(&format!(
            "gridsync ticket photo add {rubbish} FILE --phase after"
        )),
        "{err}"
    );
    let shown = wuye.json(&["ticket", "show", &rubbish]);
    assert_eq!(shown["state"]["status"], "in_progress");

    // No after photo needed for noise.
    wuye.ok(&["ticket", "event", &noise, "handled"]);

    let after = tmp.path().join("after.jpg");
    std::fs::write(&after, [0xff, 0xd8, 0xff, 0xe0, 4, 5, 6]).unwrap();
    wuye.ok(&[
        "ticket",
        "photo",
        "add",
        &rubbish,
        after.to_str().unwrap(),
        "--phase",
        "after",
    ]);
    wuye.ok(&["ticket", "event", &rubbish, "handled"]);
    let shown = wuye.json(&["ticket", "show", &rubbish]);
    assert_eq!(shown["state"]["status"], "handled");
    wuye.ok(&["sync"]);
}
