//! `ticket new --category` against the catalog on the device, and
//! `category list`. The catalog is put in the device's database as a sync
//! from the relay would write it.

mod support;

use client_core::model::catalog::{self, Catalog, Category, TimeLimit};
use client_core::model::ticket::Kind;
use client_core::repo::Repo;
use client_core::store::RedbStore;
use support::{Gs, REFUSED};

const GRID: &str = "GL-03-07";

fn receive_catalog(gs: &Gs) {
    let cats = [
        ("0101", "上水井盖", Kind::Component, "1d"),
        ("0102", "污水井盖", Kind::Component, "1d"),
        ("1102", "暴露垃圾", Kind::Event, "4h"),
    ];
    let catalog = Catalog {
        version: 3,
        categories: cats
            .into_iter()
            .map(|(code, name, kind, limit)| {
                let c = Category {
                    code: code.into(),
                    name_zh: name.into(),
                    name_en: String::new(),
                    kind,
                    time_limit: Some(limit.parse::<TimeLimit>().unwrap()),
                    urgent_time_limit: None,
                    filing: String::new(),
                    closing: String::new(),
                    after_photos_required: true,
                };
                (c.code.clone(), c)
            })
            .collect(),
    };
    let repo = Repo::new(
        RedbStore::open(gs.database()).unwrap(),
        automerge::ActorId::random(),
    );
    repo.apply(&Catalog::document_id(), |doc: &mut automerge::Automerge| {
        doc.transact(|tx| catalog::write(tx, &catalog))
            .map(|_| ())
            .map_err(|f| f.error)
    })
    .unwrap();
}

#[test]
fn an_unknown_category_is_refused_with_the_nearest_codes_once_the_device_has_the_catalog() {
    let wang = Gs::init("wang", "worker", &[GRID]);
    // No catalog yet: the code is kept, with a warning.
    let run = wang.run(&[
        "ticket",
        "new",
        "--grid",
        GRID,
        "--title",
        "路口垃圾",
        "--category",
        "0103",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr.contains("no category catalog yet"),
        "{}",
        run.stderr
    );
    assert!(
        wang.ok(&["category", "list"])
            .contains("no category catalog yet"),
        "category list says there is none"
    );

    receive_catalog(&wang);
    wang.run(&[
        "ticket",
        "new",
        "--grid",
        GRID,
        "--title",
        "井盖",
        "--category",
        "0103",
    ])
    .fails_with(REFUSED)
    .stderr_has(
        "category `0103` is not in the catalog (version 3); nearest: 0101 上水井盖, 0102 污水井盖",
    )
    .stderr_has("gridsync category list");

    let id = wang.report(GRID, "路口垃圾", &["--category", "1102"]);
    let shown = wang.json(&["ticket", "show", &id]);
    assert_eq!(shown["kind"], "event", "the category's kind");
    let id = wang.report(GRID, "井盖松动", &["--category", "0101"]);
    assert_eq!(wang.json(&["ticket", "show", &id])["kind"], "component");

    let listed = wang.ok(&["category", "list"]);
    assert!(
        listed.contains("暴露垃圾") && listed.contains("4 工作小时"),
        "{listed}"
    );
    assert!(
        listed.contains("catalog version 3: 3 categories"),
        "{listed}"
    );
}

#[test]
fn an_import_with_an_unknown_category_imports_nothing() {
    let wang = Gs::init("wang", "worker", &[GRID]);
    receive_catalog(&wang);
    let file = wang.data().join("tickets.jsonl");
    std::fs::write(
        &file,
        format!(
            "{{\"grid\":\"{GRID}\",\"title\":\"垃圾\",\"category\":\"1102\"}}\n\
             {{\"grid\":\"{GRID}\",\"title\":\"井盖\",\"category\":\"0109\"}}\n"
        ),
    )
    .unwrap();
    wang.run(&["ticket", "import", file.to_str().unwrap()])
        .fails_with(REFUSED)
        .stderr_has("line 2: category `0109` is not in the catalog (version 3)")
        .stderr_has("nothing was imported");
    assert_eq!(
        wang.json(&["ticket", "list", "--all"]),
        serde_json::json!([])
    );
}
