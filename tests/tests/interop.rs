//! Interop with the real JS `@automerge/automerge-repo` 2.5 client and its
//! websocket adapter (pinned in tests/js/package-lock.json): a document the
//! JS client creates reaches a GridSync device through the relay, and a
//! ticket a GridSync device reports can be read by the JS client.

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

    // JS → relay → GridSync.
    let created = tokio::task::spawn_blocking({
        let url = relay.url();
        move || node(&["create", &url])
    })
    .await
    .unwrap();
    let js_doc: DocumentId = created["url"]
        .as_str()
        .unwrap()
        .parse()
        .expect("an automerge: URL");
    let store = device(&tmp.path().join("device"));
    let mut cfg = ClientConfig::new(relay.url());
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
    let report = client::sync_until_quiescent(store, &ClientConfig::new(relay.url()), |_| {})
        .await
        .unwrap();
    assert!(report.pending.is_empty(), "{report:?}");
    let url = id.document_id().url();
    let read = tokio::task::spawn_blocking({
        let relay_url = relay.url();
        move || node(&["read", &relay_url, &url])
    })
    .await
    .unwrap();
    assert_eq!(read["title"], "路灯不亮，请尽快修理");
    assert_eq!(read["grid"], "GL-01");
    assert_eq!(read["events"][0]["to"], "reported");
}
