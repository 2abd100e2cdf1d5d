//! Residents' contact details with the real binaries: a worker reports a
//! ticket with a resident's name and phone; the grid's supervisor sees
//! them in `gridsync ticket show`, the handling unit it is dispatched to
//! does not (its device never receives them: they live in the ticket's
//! private document, which the relay does not give to units).

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use tests::{Cli, Relay, bin};

const NAME: &str = "钱女士";
const PHONE: &str = "13700000000";

fn admin(data: &Path, args: &[&str]) -> String {
    let out = Command::new(bin("gridsync-server"))
        .args(args)
        .arg("--data")
        .arg(data)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run gridsync-server");
    assert!(
        out.status.success(),
        "gridsync-server {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn login(tmp: &Path, data: &Path, url: &str, user: &str, role: &str, scope: &str) -> Cli {
    admin(
        data,
        &[
            "user", "add", "--name", user, "--role", role, "--scope", scope,
        ],
    );
    let issued: Value =
        serde_json::from_str(&admin(data, &["token", "issue", "--user", user, "--json"])).unwrap();
    let cli = Cli::new(&tmp.join(user));
    cli.ok(&[
        "login",
        "--server",
        url,
        "--token",
        issued["token"].as_str().unwrap(),
    ]);
    cli
}

#[test]
fn the_supervisor_sees_the_residents_contact_and_the_unit_does_not() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    Relay::start(&data).kill(); // creates the database
    admin(
        &data,
        &[
            "grid",
            "add",
            "--code",
            "GL-01",
            "--name",
            "一",
            "--community",
            "幸福社区",
            "--street",
            "文三街道",
            "--district",
            "西湖区",
        ],
    );
    let relay = Relay::start(&data);
    let url = relay.url();
    let wang = login(tmp.path(), &data, &url, "wang", "worker", "grids:GL-01");
    let chen = login(
        tmp.path(),
        &data,
        &url,
        "chen",
        "supervisor",
        "community:幸福社区",
    );
    let wuye = login(tmp.path(), &data, &url, "wuye", "unit", "street:文三街道");

    let id = wang.json(&[
        "ticket",
        "new",
        "--grid",
        "GL-01",
        "--title",
        "水管爆裂",
        "--resident-name",
        NAME,
        "--resident-phone",
        PHONE,
    ])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wang.json(&["sync"]);

    chen.json(&["sync"]);
    let shown = chen.ok(&["ticket", "show", &id]);
    assert!(shown.contains(NAME) && shown.contains(PHONE), "{shown}");
    chen.ok(&["ticket", "event", &id, "accepted"]);
    chen.ok(&["ticket", "event", &id, "dispatched", "--unit", "wuye"]);
    chen.json(&["sync"]);

    wuye.json(&["sync"]);
    let t = wuye.json(&["ticket", "show", &id]);
    assert_eq!(t["title"], "水管爆裂", "the unit holds the ticket");
    assert_eq!(t["resident"]["name"], Value::Null);
    assert_eq!(t["resident"]["phone"], Value::Null);
    let shown = wuye.ok(&["ticket", "show", &id]);
    assert!(!shown.contains(NAME) && !shown.contains(PHONE), "{shown}");
    // Nothing of it is anywhere in the unit's database file.
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(tmp.path().join("wuye")).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap_or_default());
    }
    let holds = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(!holds(PHONE), "the unit's store holds the phone number");
    drop(relay);
}

/// `gridsync-server migrate personal-data` on a relay's data that holds a
/// ticket written the old way (the contact on the ticket itself): it
/// rewrites the ticket without the contact and moves the contact to the
/// private document, refuses to run while a relay serves the directory,
/// and finds nothing more to do the second time.
#[test]
fn migrate_personal_data_rewrites_old_tickets_and_waits_for_the_relay_to_stop() {
    use automerge::transaction::Transactable;
    use automerge::{Automerge, ROOT};
    use client_core::ids::{GridCode, TicketId};
    use client_core::model::lifecycle::Role;
    use client_core::model::ticket::{self, Kind, NewTicket, Source, Urgency};
    use client_core::model::{schema, ticket_private};
    use client_core::repo::Repo;
    use client_core::store::{RedbStore, Store};

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    std::fs::create_dir_all(&data).unwrap();
    let t = NewTicket {
        id: TicketId::random(),
        grid: GridCode::new("GL-01").unwrap(),
        source: Source::Resident,
        kind: Kind::Livelihood,
        category: "0502".into(),
        urgency: Urgency::Normal,
        title: "噪音扰民".into(),
        description: String::new(),
        location: None,
        resident: None,
    };
    let load = |store: &RedbStore, id| {
        let stored = store.load(&id).unwrap().unwrap();
        Automerge::load(&stored.concat()).unwrap()
    };
    {
        let store = RedbStore::open(data.join("relay.redb")).unwrap();
        let repo = Repo::new(&store, automerge::ActorId::random());
        repo.change(&t.id.document_id(), |tx| {
            ticket::create(tx, &t, "wang", Role::Worker, 1)?;
            tx.put(ROOT, "resident_name", NAME)?;
            tx.put(ROOT, "resident_phone", PHONE)
        })
        .unwrap();
    }
    let migrate = || {
        Command::new(bin("gridsync-server"))
            .args(["migrate", "personal-data", "--json", "--data"])
            .arg(&data)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run gridsync-server")
    };
    let done = migrate();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let report: Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(report["rewritten"], serde_json::json!([t.id.to_string()]));
    assert_eq!(report["contacts_moved"], 1);
    // Not while a relay serves the directory (its hub holds documents).
    let relay = Relay::start(&data);
    let busy = migrate();
    assert!(!busy.status.success());
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("in use by another gridsync-server"),
        "{}",
        String::from_utf8_lossy(&busy.stderr)
    );
    relay.kill();
    let again: Value = serde_json::from_slice(&migrate().stdout).unwrap();
    assert_eq!(again["rewritten"], serde_json::json!([]));

    let store = RedbStore::open(data.join("relay.redb")).unwrap();
    let rewritten = load(&store, t.id.document_id());
    assert_eq!(schema::read_str(&rewritten, &ROOT, "resident_name"), None);
    assert_eq!(rewritten.get_changes(&[]).len(), 1, "a new history");
    assert_eq!(ticket::read(&rewritten, t.id).unwrap().title, "噪音扰民");
    let private = ticket_private::read(&load(&store, t.id.private_document_id())).unwrap();
    assert_eq!(private.resident.name.as_deref(), Some(NAME));
    assert_eq!(private.created_by, "wang");
}
