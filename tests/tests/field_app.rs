//! Documents the field app (`web/app`) wrote, read by client-core from the
//! real relay. The app runs in headless Chromium (`tests/web/app-writes.mjs`,
//! playwright-core and Debian's chromium, installed by `scripts/test`): a
//! worker logs in, goes offline, reports a ticket with a resident's contact
//! and logs a household visit, and syncs. A supervisor's `gridsync` then
//! syncs from the relay, and this test opens its store and reads every
//! document the app wrote with client-core's readers, field by field, and
//! checks the value types: scalar strings (not text), timestamps, f64
//! coordinates, exactly the keys client-core writes. The resident's contact
//! is in the ticket's private document at `TicketId::private_document_id`,
//! listed in the grid index as `private:<ticket>`, and not in the ticket.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use automerge::{Automerge, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use client_core::ids::{GridCode, TicketId};
use client_core::model::lifecycle::{Action, Role, Status};
use client_core::model::ticket::{Kind, Source, Urgency};
use client_core::model::visit::{Outcome, VisitType};
use client_core::model::{grid_index, ticket, ticket_private, visit};
use client_core::repo::Repo;
use client_core::store::RedbStore;
use serde_json::Value as Json;
use tests::city::{admin, admin_with_input};
use tests::{Cli, Relay};

const GRID: &str = "GL-03-07";
const PASSWORD: &str = "wang-密码-2026";

fn web_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "the browser tests' package is not installed; run \
         `PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix tests/web` (scripts/test does)"
    );
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is missing: `apt-get install chromium fonts-wqy-microhei` (scripts/test does)"
    );
    dir
}

/// The value at `key` of the root, with its type.
fn root_value<'a>(doc: &'a Automerge, key: &str) -> Value<'a> {
    doc.get(ROOT, key)
        .unwrap()
        .unwrap_or_else(|| panic!("no `{key}`"))
        .0
}

fn assert_str(doc: &Automerge, key: &str, want: &str) {
    match root_value(doc, key) {
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(s) => assert_eq!(s.as_str(), want, "`{key}`"),
            other => panic!("`{key}` is {other:?}, not a scalar string"),
        },
        other => panic!("`{key}` is {other:?}, not a scalar string"),
    }
}

fn keys(doc: &Automerge) -> BTreeSet<String> {
    doc.keys(ROOT).collect()
}

#[test]
fn client_core_reads_every_field_of_the_ticket_its_private_document_and_the_visit_the_field_app_wrote()
 {
    let web = web_dir();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    Relay::start(&data).kill(); // creates the database
    admin(
        &data,
        &[
            "grid",
            "add",
            "--code",
            GRID,
            "--name",
            "七网格",
            "--community",
            "幸福社区",
            "--street",
            "文三街道",
            "--district",
            "西湖区",
        ],
    );
    admin_with_input(
        &data,
        &[
            "user",
            "add",
            "--name",
            "wang",
            "--role",
            "worker",
            "--scope",
            &format!("grids:{GRID}"),
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    admin(
        &data,
        &[
            "user",
            "add",
            "--name",
            "chen",
            "--role",
            "supervisor",
            "--scope",
            "community:幸福社区",
        ],
    );
    let issued: Json = serde_json::from_str(&admin(
        &data,
        &["token", "issue", "--user", "chen", "--json"],
    ))
    .unwrap();
    let relay = Relay::start(&data);

    let out = Command::new("node")
        .current_dir(&web)
        .args(["app-writes.mjs", &relay.addr, "wang", PASSWORD])
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "node app-writes.mjs failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let entered: Json = serde_json::from_slice(&out.stdout).expect("app-writes.mjs prints JSON");
    let id: TicketId = entered["ticket"].as_str().unwrap().parse().unwrap();
    let s = |k: &str| entered[k].as_str().unwrap().to_owned();

    let chen = Cli::new(&tmp.path().join("chen"));
    chen.ok(&[
        "login",
        "--server",
        &relay.url(),
        "--token",
        issued["token"].as_str().unwrap(),
    ]);
    chen.ok(&["sync"]);
    drop(relay);
    let store = RedbStore::open(chen.data.join("gridsync.redb")).unwrap();
    let repo = Repo::new(store, automerge::ActorId::random());
    let grid = GridCode::new(GRID).unwrap();

    // The grid index lists the ticket, its private document and the log.
    let index_doc = repo.load(&grid.index_document_id()).unwrap().unwrap();
    let index = grid_index::read(&index_doc).unwrap();
    assert_eq!(index.grid, Some(grid.clone()));
    assert_eq!(index.tickets, vec![(id, id.document_id())]);
    assert_eq!(index.private, vec![(id, id.private_document_id())]);
    assert_eq!(index.visit_logs.len(), 1, "{:?}", index.visit_logs);
    assert!(index.visit_logs[0].0.starts_with("wang:"));
    assert_str(
        &index_doc,
        &format!("ticket:{id}"),
        &id.document_id().to_string(),
    );
    assert_str(
        &index_doc,
        &format!("private:{id}"),
        &id.private_document_id().to_string(),
    );

    // The private document: exactly client-core's keys, scalar strings.
    let private_doc = repo.load(&id.private_document_id()).unwrap().unwrap();
    assert_eq!(
        keys(&private_doc),
        ticket_private::KEYS.iter().map(|k| k.to_string()).collect(),
    );
    assert_str(&private_doc, "doc_type", "ticket_private");
    assert_str(&private_doc, "schema", "1.0");
    assert_str(&private_doc, "ticket", &id.to_string());
    assert_str(&private_doc, "grid", GRID);
    assert_str(&private_doc, "created_by", "wang");
    assert_str(
        &private_doc,
        "resident_name",
        entered["resident"]["name"].as_str().unwrap(),
    );
    assert_str(
        &private_doc,
        "resident_phone",
        entered["resident"]["phone"].as_str().unwrap(),
    );
    let private = ticket_private::read(&private_doc).unwrap();
    assert_eq!(private.ticket, Some(id));
    assert_eq!(private.grid, Some(grid.clone()));
    assert_eq!(private.created_by, "wang");
    assert_eq!(
        private.resident.name.as_deref(),
        entered["resident"]["name"].as_str()
    );
    assert_eq!(
        private.resident.phone.as_deref(),
        entered["resident"]["phone"].as_str()
    );

    // The ticket: every field, with its type; no contact in it.
    let ticket_doc = repo.load(&id.document_id()).unwrap().unwrap();
    for key in ticket_private::CONTACT_KEYS {
        assert!(
            ticket_doc.get(ROOT, key).unwrap().is_none(),
            "`{key}` in the ticket"
        );
    }
    for key in [
        "doc_type",
        "schema",
        "id",
        "grid",
        "source",
        "kind",
        "category",
        "urgency",
        "title",
        "description",
        "address",
        "created_by",
    ] {
        assert!(
            matches!(root_value(&ticket_doc, key), Value::Scalar(s) if matches!(s.as_ref(), ScalarValue::Str(_))),
            "`{key}` is not a scalar string"
        );
    }
    for key in ["lat", "lon", "accuracy_m"] {
        assert!(
            matches!(root_value(&ticket_doc, key), Value::Scalar(s) if matches!(s.as_ref(), ScalarValue::F64(_))),
            "`{key}` is not an f64"
        );
    }
    assert!(
        matches!(root_value(&ticket_doc, "created_at"), Value::Scalar(s) if matches!(s.as_ref(), ScalarValue::Timestamp(_)))
    );
    for key in ["events", "photos", "comments"] {
        assert_eq!(
            root_value(&ticket_doc, key),
            Value::Object(ObjType::List),
            "`{key}`"
        );
    }
    let t = ticket::read(&ticket_doc, id).unwrap();
    assert_eq!(t.id, id);
    assert_eq!(t.grid, Some(grid.clone()));
    assert_eq!(t.source, Some(Source::Resident));
    assert_eq!(t.kind, Some(Kind::Component), "the catalog's kind for 0101");
    assert_eq!(t.category, s("category"));
    assert_eq!(t.urgency, Some(Urgency::Urgent));
    assert_eq!(t.title, s("title"));
    assert_eq!(t.description, s("description"));
    let at = t.location.clone().expect("a location");
    assert_eq!(at.lat, entered["lat"].as_f64().unwrap());
    assert_eq!(at.lon, entered["lon"].as_f64().unwrap());
    assert_eq!(at.accuracy_m, entered["accuracy_m"].as_f64());
    assert_eq!(at.address.as_deref(), Some(s("address").as_str()));
    assert_eq!(
        t.resident,
        Default::default(),
        "read alone, the ticket has no contact"
    );
    assert_eq!(t.created_by, "wang");
    assert!(t.photos.is_empty() && t.comments.is_empty());
    assert_eq!(t.events.len(), 1);
    let reported = t.events[0].as_ref().expect("a readable event");
    assert_eq!(reported.from, None);
    assert_eq!(reported.to, Action::Reported);
    assert_eq!(reported.actor, "wang");
    assert_eq!(reported.role, Role::Worker);
    assert_eq!(Some(reported.at_device), t.created_at);
    assert_eq!(t.state.status, Some(Status::Reported));
    assert!(t.state.conflicts.is_empty());
    // Through the repo, the contact comes from the private document.
    let filled = repo.ticket(id).unwrap().unwrap();
    assert_eq!(filled.resident, private.resident);

    // The visit log: the household visit with every field.
    let log_doc = repo.load(&index.visit_logs[0].1).unwrap().unwrap();
    let (visits, unreadable) = visit::read(&log_doc).unwrap();
    assert_eq!(unreadable, 0);
    assert_eq!(visits.len(), 1);
    let v = &visits[0];
    assert_eq!(v.visit_type, VisitType::Household);
    assert_eq!(v.grid, grid);
    assert_eq!(v.household.as_deref(), Some(s("household").as_str()));
    assert_eq!(v.worker, "wang");
    assert_eq!(v.outcome, Outcome::NotHome);
    assert_eq!(v.notes, s("notes"));
    assert_eq!(v.lat, entered["lat"].as_f64());
    assert_eq!(v.lon, entered["lon"].as_f64());
    assert_eq!(v.ended_at, None);
    assert!(v.tickets.is_empty() && v.amends.is_none());
    let date = match root_value(&log_doc, "date") {
        Value::Scalar(d) => d.as_str().expect("a scalar string date").to_owned(),
        other => panic!("`date` is {other:?}"),
    };
    assert_eq!(index.visit_logs[0].0, format!("wang:{date}"));
    let key = visit::VisitLogKey {
        grid,
        worker: "wang".into(),
        date,
    };
    assert_eq!(key.document_id(), index.visit_logs[0].1);
}
