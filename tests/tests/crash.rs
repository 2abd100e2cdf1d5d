//! The relay is killed with SIGKILL while several devices upload, then
//! restarted. Every document a device saw acknowledged (it left the
//! device's outbox) must be in the relay's database with all the changes
//! that were acknowledged, and the devices finish the rest on their own.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use automerge::ReadDoc;
use client_core::client::{self, ClientConfig, ClientEvent};
use client_core::device::{Device, Identity};
use client_core::ids::{DocumentId, GridCode, TicketId};
use client_core::model::lifecycle::Role;
use client_core::model::ticket::{Kind, NewTicket, Source, Urgency};
use client_core::repo::Repo;
use client_core::store::{RedbStore, Store};
use tests::Relay;

const DEVICES: usize = 4;
const TICKETS: usize = 150;

fn grid(i: usize) -> GridCode {
    GridCode::new(format!("G-{i:02}")).unwrap()
}

fn make_device(dir: &std::path::Path, i: usize) -> Arc<RedbStore> {
    let store = Arc::new(RedbStore::open(dir.join(format!("device-{i}.redb"))).unwrap());
    let device = Device::init(
        store.clone(),
        Identity::new(format!("worker-{i}"), Role::Worker, vec![grid(i)]),
    )
    .unwrap();
    for n in 0..TICKETS {
        let t = NewTicket {
            id: TicketId::random(),
            grid: grid(i),
            source: Source::Patrol,
            kind: Kind::Event,
            category: "0301".into(),
            urgency: Urgency::Normal,
            title: format!("巡查发现问题 {n}"),
            description: "离线记录".repeat(20),
            location: None,
            resident: None,
        };
        device.report(&t, 1_763_900_000_000 + n as i64).unwrap();
    }
    store
}

/// Documents of a device that the relay acknowledged: not in its outbox.
fn acknowledged(store: &RedbStore) -> BTreeSet<DocumentId> {
    let pending: BTreeSet<DocumentId> = store
        .outbox()
        .unwrap()
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    store
        .documents()
        .unwrap()
        .into_iter()
        .filter(|d| !pending.contains(d))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_changes_survive_a_relay_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let relay_dir = tmp.path().join("relay");
    let stores: Vec<Arc<RedbStore>> = (0..DEVICES).map(|i| make_device(tmp.path(), i)).collect();

    let relay = Relay::start(&relay_dir);
    let url = relay.url();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut uploads = Vec::new();
    for store in &stores {
        let (store, url, tx) = (store.clone(), url.clone(), tx.clone());
        uploads.push(tokio::spawn(async move {
            let cfg = ClientConfig::new(url);
            client::sync_until_quiescent(store, &cfg, move |e| {
                if let ClientEvent::Progress { done, .. } = e {
                    let _ = tx.send(done);
                }
            })
            .await
        }));
    }
    // Kill the relay once uploads are under way but not finished.
    let mut acked_so_far = 0;
    while acked_so_far < DEVICES * TICKETS / 4 {
        match tokio::time::timeout(Duration::from_secs(60), rx.recv()).await {
            Ok(Some(done)) => acked_so_far += done.min(5),
            _ => break,
        }
    }
    relay.kill();
    let mut failed = 0;
    for u in uploads {
        if u.await.unwrap().is_err() {
            failed += 1;
        }
    }
    assert!(failed > 0, "the crash interrupted at least one upload");

    // With the relay down, read its database directly.
    {
        let relay_store = RedbStore::open(relay_dir.join("relay.redb"))
            .expect("the relay database reopens after SIGKILL");
        let relay_repo = Repo::new(relay_store, automerge::ActorId::random());
        let mut checked = 0;
        for store in &stores {
            let device_repo = Repo::new(store.clone(), automerge::ActorId::random());
            for doc in acknowledged(store) {
                let ours = device_repo.load(&doc).unwrap().unwrap();
                let theirs = relay_repo
                    .load(&doc)
                    .unwrap()
                    .unwrap_or_else(|| panic!("acknowledged {doc} is missing on the relay"));
                for head in ours.get_heads() {
                    assert!(
                        theirs.get_change_by_hash(&head).is_some(),
                        "acknowledged change of {doc} lost"
                    );
                }
                checked += 1;
            }
        }
        assert!(
            checked > 0,
            "some documents were acknowledged before the crash"
        );
    }

    // Restarted, the relay lets every device finish.
    let relay = Relay::start(&relay_dir);
    for store in &stores {
        let report =
            client::sync_until_quiescent(store.clone(), &ClientConfig::new(relay.url()), |_| {})
                .await
                .unwrap();
        assert!(report.pending.is_empty(), "{report:?}");
        assert!(store.outbox().unwrap().is_empty());
    }
    // A fresh supervisor for all grids now sees every ticket.
    let sup_store = Arc::new(RedbStore::open(tmp.path().join("supervisor.redb")).unwrap());
    let sup = Device::init(
        sup_store.clone(),
        Identity::new("chen", Role::Supervisor, (0..DEVICES).map(grid).collect()),
    )
    .unwrap();
    client::sync_until_quiescent(sup_store, &ClientConfig::new(relay.url()), |_| {})
        .await
        .unwrap();
    let listed = sup.tickets(None, client_core::store::Listing::All).unwrap();
    assert_eq!(listed.len(), DEVICES * TICKETS);
}
