//! The category catalog through the real relay: every role receives it,
//! no client changes it, an offline device checks codes once it has it, a
//! dispatch takes the category's time limit, an import reaches connected
//! devices, and a bad import changes nothing; and two supervisors'
//! concurrent decisions of one extension request merge into a conflict.

mod support;

use std::process::Command;

use automerge::ROOT;
use automerge::transaction::Transactable;
use client_core::device::{CategoryCheck, EventInput};
use client_core::ids::DocumentId;
use client_core::model::catalog::{self, Catalog, TimeLimit};
use client_core::model::lifecycle::Action;
use client_core::model::ticket::Urgency;
use server::audit::{AuditAction, AuditFilter};
use server::registry::Registry;
use support::city::{City, config, ticket_in};

const BIN: &str = env!("CARGO_BIN_EXE_gridsync-server");

fn at(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}

#[tokio::test]
async fn every_role_receives_the_catalog_and_no_client_changes_it() {
    let city = City::start(config()).await;
    for user in ["wang", "chen", "wuye", "zhao", "root"] {
        let mut c = city.join(user, &["G-01"]).await;
        c.sync_all().await;
        let got = c.device.catalog().unwrap();
        let got = got.unwrap_or_else(|| panic!("{user} has no catalog after a sync"));
        assert_eq!(got, server::catalog::default_catalog(), "{user}");
    }

    // Not even an admin changes it through sync.
    let id = Catalog::document_id();
    let mut root = city.join("root", &["G-01"]).await;
    root.sync_all().await;
    root.device
        .repo()
        .change(&id, |tx| tx.put(ROOT, "version", 99_i64))
        .unwrap();
    let refused = root.try_push(&id).await.unwrap_err();
    assert!(refused.contains("only the relay writes"), "{refused}");
    let rows = city.audit(&AuditFilter {
        doc: Some(id.to_string()),
        ..AuditFilter::default()
    });
    assert!(
        rows.iter()
            .any(|r| r.action == AuditAction::Refused && r.user.as_deref() == Some("root")),
        "{rows:?}"
    );

    // Nor does a worker store a catalog document anywhere else.
    let mut wang = city.join("wang", &["G-01"]).await;
    let elsewhere = DocumentId::random();
    let mut fake = server::catalog::default_catalog();
    fake.categories.get_mut("1102").unwrap().time_limit = Some(TimeLimit::WorkingDays(30));
    wang.device
        .repo()
        .change(&elsewhere, |tx| catalog::write(tx, &fake))
        .unwrap();
    let refused = wang.try_push(&elsewhere).await.unwrap_err();
    assert!(refused.contains("lives only at"), "{refused}");

    // What devices receive is still the relay's own.
    let mut liu = city.join("liu", &["G-01"]).await;
    liu.sync_all().await;
    assert_eq!(
        liu.device.catalog().unwrap(),
        Some(server::catalog::default_catalog())
    );
}

/// A worker's phone that has never synced records a ticket under a code it
/// cannot check (the CLI warns); after its first sync it holds the catalog
/// and checks codes offline, and the supervisor's dispatch gets the
/// category's deadline: exposed rubbish, 4 working hours from a Friday
/// afternoon before Qingming, is due on Tuesday morning.
#[tokio::test]
async fn an_offline_device_without_the_catalog_records_tickets_and_validates_once_it_has_it() {
    let city = City::start(config()).await;
    let mut wang = city.join("wang", &["G-01"]).await;
    assert_eq!(
        wang.device.check_category("1102").unwrap(),
        CategoryCheck::NoCatalog
    );
    let friday = at("2026-04-03T14:00:00+08:00");
    let mut new = ticket_in("G-01", "垃圾堆在路口");
    new.category = "1102".into();
    let id = wang.device.report(&new, friday).unwrap();
    wang.sync_all().await;

    match wang.device.check_category("1102").unwrap() {
        CategoryCheck::Known(c) => assert_eq!(c.name_zh, "暴露垃圾"),
        other => panic!("{other:?}"),
    }
    match wang.device.check_category("1199").unwrap() {
        CategoryCheck::Unknown { version, nearest } => {
            assert_eq!(version, server::catalog::DEFAULT_VERSION);
            assert!(
                nearest.iter().all(|c| c.code.starts_with("11")),
                "{nearest:?}"
            );
        }
        other => panic!("{other:?}"),
    }

    let mut zhou = city.join("zhou", &["G-01"]).await;
    zhou.sync_all().await;
    zhou.device
        .act(id, Action::Accepted, EventInput::default(), friday + 1)
        .unwrap();
    let dispatch = EventInput {
        unit: Some("wuye".into()),
        ..EventInput::default()
    };
    let dispatched_at = at("2026-04-03T15:00:00+08:00");
    let t = zhou
        .device
        .act(id, Action::Dispatched, dispatch, dispatched_at)
        .unwrap();
    assert_eq!(t.urgency, Some(Urgency::Normal));
    assert_eq!(t.state.due_at, Some(at("2026-04-07T10:30:00+08:00")));
    assert_eq!(
        t.state.catalog_version,
        Some(server::catalog::DEFAULT_VERSION)
    );
    zhou.try_push(&id.document_id()).await.unwrap();
}

/// An admin imports a catalog while devices are connected: the relay
/// notices the registry change, rewrites the document and sends it on.
#[tokio::test]
async fn an_imported_catalog_reaches_a_connected_device() {
    let city = City::start(config()).await;
    let mut wang = city.join("wang", &["G-01"]).await;
    wang.sync_all().await;
    let categories = server::catalog::parse_csv(
        "code,name_zh,kind,time_limit\n1102,暴露垃圾,event,2h\n8801,高空抛物,event,1d\n",
    )
    .unwrap();
    let imported = Registry::new(&city.server.database().database())
        .unwrap()
        .import_catalog(categories, true)
        .unwrap();
    assert_eq!(imported.version, server::catalog::DEFAULT_VERSION + 1);
    loop {
        let have = wang.device.catalog().unwrap().unwrap();
        if have.version == imported.version {
            assert_eq!(have, imported);
            let rubbish = have.get("1102").unwrap();
            assert_eq!(rubbish.time_limit, Some(TimeLimit::WorkingHours(2)));
            assert!(have.get("0101").is_some(), "--extend keeps the rest");
            break;
        }
        wang.receive_one().await;
    }
}

/// `category import` with one bad row imports nothing, says which line,
/// and `category list` still shows the catalog as it was.
#[test]
fn a_catalog_import_with_a_bad_row_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    drop(client_core::store::RedbStore::open(data.join(server::admin::DATABASE_FILE)).unwrap());
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .arg("--data")
            .arg(data)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let good = data.join("good.csv");
    std::fs::write(
        &good,
        "code,name_zh,name_en,kind,time_limit\n1102,暴露垃圾,Exposed rubbish,事件,4h\n3101,邻里纠纷,,dispute,5d\n",
    )
    .unwrap();
    let (ok, out, err) = run(&["category", "import", good.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("version 2 with 2 categories"), "{out}");
    let (_, before, _) = run(&["category", "list", "--json"]);

    let bad = data.join("bad.csv");
    std::fs::write(
        &bad,
        "# our city\ncode,name_zh,kind,time_limit\n1102,暴露垃圾,event,2h\n1103,积存垃圾,event,two days\n",
    )
    .unwrap();
    let (ok, _, err) = run(&["category", "import", bad.to_str().unwrap()]);
    assert!(!ok, "a bad row fails the import");
    assert!(err.contains("line 4: time_limit: `two days`"), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");
    let (_, after, _) = run(&["category", "list", "--json"]);
    assert_eq!(after, before, "the catalog is unchanged");
    let listed: Catalog = serde_json::from_str(&after).unwrap();
    assert_eq!(listed.version, 2);
    assert_eq!(
        listed.get("1102").unwrap().time_limit,
        Some(TimeLimit::WorkingHours(4))
    );
}

/// Two supervisors decide one extension request on their own devices
/// offline, one approving and one refusing; the relay stores both (neither
/// is forged or rewrites history), and every device folds the merge to one
/// decision and one conflict for a supervisor to resolve.
#[tokio::test]
async fn a_concurrent_approve_and_refuse_through_the_relay_is_one_conflict() {
    use client_core::model::lifecycle::{ConflictReason, Status};

    let city = City::start(config()).await;
    let t1 = city.t1;
    let mut wuye = city.join("wuye", &["G-01"]).await;
    assert!(wuye.fetch(&t1.document_id()).await);
    wuye.device
        .act(t1, Action::Acknowledged, EventInput::default(), 10)
        .unwrap();
    let ask = EventInput {
        note: Some("需要更换整段管道".into()),
        due_at: Some(5_000_000),
        ..EventInput::default()
    };
    let asked = wuye
        .device
        .act(t1, Action::ExtensionRequested, ask, 11)
        .unwrap();
    let request = asked.state.extension.unwrap().request;
    wuye.try_push(&t1.document_id()).await.unwrap();

    let mut chen = city.join("chen", &["G-01"]).await;
    let mut zhou = city.join("zhou", &["G-01"]).await;
    assert!(chen.fetch(&t1.document_id()).await);
    assert!(zhou.fetch(&t1.document_id()).await);
    chen.device
        .act(t1, Action::ExtensionApproved, EventInput::default(), 12)
        .unwrap();
    zhou.device
        .act(t1, Action::ExtensionRefused, EventInput::default(), 12)
        .unwrap();
    chen.try_push(&t1.document_id()).await.unwrap();
    zhou.try_push(&t1.document_id()).await.unwrap();

    let mut fresh = city.join("zhou", &["G-01"]).await;
    assert!(fresh.fetch(&t1.document_id()).await);
    let t = fresh.device.ticket(t1).unwrap();
    assert_eq!(t.status(), Status::Acknowledged);
    assert_eq!(t.state.conflicts.len(), 1, "{:?}", t.state.conflicts);
    assert_eq!(
        t.state.conflicts[0].reason,
        ConflictReason::NoPendingExtension {
            request: Some(request)
        }
    );
    assert_eq!(
        t.state.extensions_approved + t.state.extensions_refused,
        1,
        "one decision stands"
    );
    let extended = t.state.extensions_approved == 1;
    assert_eq!(t.state.due_at == Some(5_000_000), extended);
}
