//! Interop with the real JS `@automerge/automerge-repo` 2.5 client and its
//! websocket adapter (pinned in tests/js/package-lock.json): a document the
//! JS client creates reaches a GridSync device through the relay, and a
//! ticket a GridSync device reports can be read by the JS client — on an
//! open relay, and on one that requires tokens (the JS client passes its
//! token as the `token` query parameter).

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use client_core::client::{self, ClientConfig};
use client_core::device::{Device, Identity};
use client_core::ids::{DocumentId, GridCode, TicketId};
use client_core::model::lifecycle::Role;
use client_core::model::ticket::{Kind, NewTicket, Source, Urgency};
use client_core::store::RedbStore;
use tests::Relay;

fn js_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js");
    assert!(
        dir.join("node_modules/@automerge/automerge-repo").exists(),
        "the JS client is not installed; run `npm install --prefix tests/js` (the README's test command does)"
    );
    dir
}

fn node(args: &[&str]) -> serde_json::Value {
    let out = Command::new("node")
        .current_dir(js_dir())
        .arg("interop.mjs")
        .args(args)
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "node interop.mjs {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("interop.mjs prints JSON")
}

fn device(dir: &std::path::Path) -> Arc<RedbStore> {
    std::fs::create_dir_all(dir).unwrap();
    let store = Arc::new(RedbStore::open(dir.join("gridsync.redb")).unwrap());
    Device::init(
        store.clone(),
        Identity::new("wang", Role::Worker, vec![GridCode::new("GL-01").unwrap()]),
    )
    .unwrap();
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_js_client_and_a_gridsync_device_share_documents_through_the_relay() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(&tmp.path().join("relay"));
    share(&relay, tmp.path(), None).await;
}

/// Runs `gridsync-server` administration on `data`.
fn admin(data: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(tests::bin("gridsync-server"))
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .expect("run gridsync-server");
    assert!(
        out.status.success(),
        "gridsync-server {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_js_client_syncs_with_a_token_on_a_relay_that_requires_one() {
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
    admin(
        &data,
        &[
            "user",
            "add",
            "--name",
            "wang",
            "--role",
            "worker",
            "--scope",
            "grids:GL-01",
        ],
    );
    let issued: serde_json::Value = serde_json::from_str(&admin(
        &data,
        &["token", "issue", "--user", "wang", "--json"],
    ))
    .unwrap();
    let token = issued["token"].as_str().unwrap().to_owned();
    let relay = Relay::start(&data);
    share(&relay, tmp.path(), Some(&token)).await;
}

/// JS → relay → GridSync, then GridSync → relay → JS, with `token` if any.
async fn share(relay: &Relay, tmp: &std::path::Path, token: Option<&str>) {
    let with_token = |mut args: Vec<String>| {
        args.extend(token.map(str::to_owned));
        args
    };
    // JS → relay → GridSync.
    let created = tokio::task::spawn_blocking({
        let args = with_token(vec!["create".into(), relay.url()]);
        move || node(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    let js_doc: DocumentId = created["url"]
        .as_str()
        .unwrap()
        .parse()
        .expect("an automerge: URL");
    let store = device(&tmp.join("device"));
    let mut cfg = ClientConfig::new(relay.url());
    cfg.token = token.map(str::to_owned);
    cfg.extra_documents = vec![js_doc];
    let report = client::sync_until_quiescent(store.clone(), &cfg, |_| {})
        .await
        .unwrap();
    assert_eq!(report.acknowledged, report.documents);
    let device = Device::open(store.clone()).unwrap();
    let doc = device
        .repo()
        .load(&js_doc)
        .unwrap()
        .expect("the JS document arrived");
    let json = serde_json::to_value(automerge::AutoSerde::from(&doc)).unwrap();
    assert_eq!(json["title"], "from the JS client");
    assert_eq!(json["items"], serde_json::json!(["一", "二", "三"]));

    // GridSync → relay → JS.
    let ticket = NewTicket {
        id: TicketId::random(),
        grid: GridCode::new("GL-01").unwrap(),
        source: Source::Patrol,
        kind: Kind::Component,
        category: "0101".into(),
        urgency: Urgency::Normal,
        title: "路灯不亮，请尽快修理".into(),
        description: "3号楼前".into(),
        location: None,
        resident: None,
    };
    let id = device.report(&ticket, 1_763_900_000_000).unwrap();
    let mut cfg = ClientConfig::new(relay.url());
    cfg.token = token.map(str::to_owned);
    let report = client::sync_until_quiescent(store, &cfg, |_| {})
        .await
        .unwrap();
    assert!(report.pending.is_empty(), "{report:?}");
    let url = id.document_id().url();
    let read = tokio::task::spawn_blocking({
        let args = with_token(vec!["read".into(), relay.url(), url]);
        move || node(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    assert_eq!(read["title"], "路灯不亮，请尽快修理");
    assert_eq!(read["grid"], "GL-01");
    assert_eq!(read["events"][0]["to"], "reported");
}

/// A JS client that still holds a ticket's history from before the relay
/// rewrote it (`migrate personal-data` took the resident's contact out)
/// syncs it: the relay refuses the retired history with an `error` frame
/// naming why and closes the connection; the JS client does not crash,
/// nothing of the old history is stored, and a fresh JS client reads the
/// rewritten ticket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_js_client_holding_a_rewritten_tickets_old_history_is_refused_not_crashed() {
    use automerge::transaction::Transactable;
    use automerge::{Automerge, ROOT};
    use client_core::repo::Repo;
    use client_core::store::Store;

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    std::fs::create_dir_all(&data).unwrap();
    let ticket = NewTicket {
        id: TicketId::random(),
        grid: GridCode::new("GL-01").unwrap(),
        source: Source::Resident,
        kind: Kind::Livelihood,
        category: "0502".into(),
        urgency: Urgency::Normal,
        title: "楼上漏水".into(),
        description: String::new(),
        location: None,
        resident: None,
    };
    // The ticket as an older GridSync wrote it: the contact on the ticket.
    let mut old = Automerge::new();
    old.transact(|tx| {
        client_core::model::ticket::create(tx, &ticket, "wang", Role::Worker, 1)?;
        tx.put(ROOT, "resident_name", "孙先生")?;
        tx.put(ROOT, "resident_phone", "13600000000")
    })
    .unwrap();
    let saved = tmp.path().join("old-copy.automerge");
    std::fs::write(&saved, old.save()).unwrap();
    {
        let store = RedbStore::open(data.join("relay.redb")).unwrap();
        let repo = Repo::new(&store, automerge::ActorId::random());
        repo.apply(&ticket.id.document_id(), |doc| doc.merge(&mut old.clone()))
            .unwrap();
    }
    admin(&data, &["migrate", "personal-data"]);
    let relay = Relay::start(&data);
    let url = ticket.id.document_id().url();

    let held = tokio::task::spawn_blocking({
        let args = [
            "hold".to_owned(),
            relay.url(),
            url.clone(),
            saved.display().to_string(),
        ];
        move || node(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    assert_eq!(held["closed"], true, "{held}");
    let error = held["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("the retired history of a document the relay rewrote")
            && error.ends_with("download the document again"),
        "{held}"
    );

    let read = tokio::task::spawn_blocking({
        let args = ["read".to_owned(), relay.url(), url];
        move || node(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    assert_eq!(read["title"], "楼上漏水");
    assert_eq!(read["resident_name"], serde_json::Value::Null, "{read}");
    drop(relay);
    let store = RedbStore::open(data.join("relay.redb")).unwrap();
    let stored = store.load(&ticket.id.document_id()).unwrap().unwrap();
    let stored = Automerge::load(&stored.concat()).unwrap();
    assert_eq!(
        stored.get_changes(&[]).len(),
        1,
        "only the rewritten history"
    );
}
