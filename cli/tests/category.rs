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

/// The help showed `0101 (暴露垃圾)` as its example code, but the shipped
/// catalog's 0101 is 上水井盖 (暴露垃圾 is 1102), and it gave the default
/// deadline as 3 working days where the code counts 21 working hours.
#[test]
fn the_help_names_a_shipped_category_and_the_default_deadline_the_code_uses() {
    use client_core::model::catalog::urgency_default;
    use client_core::model::ticket::Urgency;

    let gs = Gs::init("wang", "worker", &[GRID]);
    let help = gs.ok(&["ticket", "new", "--help"]);
    let example = help
        .split("for example ")
        .find_map(|rest| {
            let (code, rest) = rest.split_once(" (")?;
            let (name, _) = rest.split_once(')')?;
            code.chars()
                .all(|c| c.is_ascii_digit())
                .then(|| (code.to_owned(), name.to_owned()))
        })
        .unwrap_or_else(|| panic!("a `for example CODE (NAME)` in {help}"));
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/catalog/default.csv"),
    )
    .unwrap();
    let row = shipped
        .lines()
        .find(|l| l.starts_with(&format!("{},", example.0)))
        .unwrap_or_else(|| panic!("{} in the shipped catalog", example.0));
    assert_eq!(row.split(',').nth(1), Some(example.1.as_str()), "{row}");

    let hours = |u| match urgency_default(u) {
        TimeLimit::WorkingHours(h) => h,
        other => panic!("{other:?}"),
    };
    let help = gs.ok(&["ticket", "event", "--help"]);
    let default = format!(
        "else {} working hours ({} if urgent)",
        hours(Urgency::Normal),
        hours(Urgency::Urgent)
    );
    assert!(
        help.replace('\n', " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .contains(&default),
        "{default} in {help}"
    );
}
