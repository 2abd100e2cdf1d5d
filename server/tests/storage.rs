//! Storage faults over real sockets: the real relay (`server::run_over`)
//! with a `FaultyStore` over a real redb file, and real devices syncing.
//! Also the bound on audit rows a client's denied requests can cause.

mod support;

use std::sync::Arc;
use std::time::Duration;

use automerge::sync::SyncDoc;
use client_core::device::Identity;
use client_core::ids::GridCode;
use client_core::model::lifecycle::Role;
use client_core::protocol::Message;
use client_core::store::{FaultyStore, RedbStore};
use server::audit::{AuditAction, AuditFilter};
use server::registry::{GridRecord, Registry};
use server::{AuthMode, Config};
use support::{Client, PATIENCE, SyncClient, TestServer, join_message, new_ticket};

fn config() -> Config {
    Config {
        auth: AuthMode::Open,
        storage_retry: Duration::from_millis(20),
        ..Config::default()
    }
}

async fn wait_for_health(server: &TestServer, status: u16) -> String {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let (code, body) = server.get("/healthz").await;
            if code == status {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("/healthz never answered {status}"))
}

/// Regression: when the relay's disk filled up, every commit failed and
/// closed its peers without a word, readers included, and nothing said
/// so outside the log. Now the first failed commit puts the relay in a
/// read-only state: writes get an `error` frame that says the disk is
/// full, reads are served, `/healthz` answers 503 with the reason, and a
/// probe on a backoff lets writes in again once space is back, with no
/// restart; nothing acknowledged before or after is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_serves_reads_and_recovers_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.redb");
    let store = Arc::new(RedbStore::open(&path).unwrap());
    let disk = Arc::new(FaultyStore::new(store.clone()));
    let server = TestServer::start_over(store, disk.clone(), config()).await;

    let mut wang = SyncClient::join(&server, "wang", Role::Worker).await;
    wang.device.report(&new_ticket("路灯不亮"), 1).unwrap();
    wang.sync_all().await;
    assert_eq!(server.get("/healthz").await.0, 200);

    // The disk fills up: the next upload's commit fails.
    disk.fill_disk();
    let second = wang.device.report(&new_ticket("井盖松动"), 2).unwrap();
    let (_, close) = wang.push_until_closed(&second.document_id()).await;
    assert!(close.contains("could not store"), "{close}");
    let health = wait_for_health(&server, 503).await;
    assert!(
        health.contains("degraded") && health.contains("disk is full"),
        "{health}"
    );

    // Writes are refused with a clear error while it lasts.
    wang.reconnect(&server).await;
    let error = wang.try_push(&second.document_id()).await.unwrap_err();
    assert!(error.contains("disk is full"), "{error}");
    assert!(error.contains("kept on your device"), "{error}");

    // Reads keep working: a new device downloads what was stored.
    let mut chen = SyncClient::join(&server, "chen", Role::Supervisor).await;
    chen.sync_all().await;
    assert_eq!(chen.titles(), vec!["路灯不亮".to_owned()]);
    assert_eq!(server.get("/healthz").await.0, 503);

    // Space is back: the relay notices by itself, and the change syncs.
    disk.free_disk();
    let health = wait_for_health(&server, 200).await;
    assert!(!health.contains("disk is full"), "{health}");
    wang.reconnect(&server).await;
    wang.try_push(&second.document_id()).await.unwrap();
    // The grid index the report added it to (the hub holds its own copy).
    wang.try_push(&support::grid().index_document_id())
        .await
        .unwrap();

    // Everything acknowledged is still there after a restart.
    server.stop().await.unwrap();
    drop(disk);
    let server = TestServer::start(&path, config()).await;
    let mut reader = SyncClient::join(&server, "zhou", Role::Supervisor).await;
    reader.sync_all().await;
    assert_eq!(
        reader.titles(),
        vec!["井盖松动".to_owned(), "路灯不亮".to_owned()]
    );
    server.stop().await.unwrap();
}

/// Regression: every request for a document a user may not read wrote
/// one audit row, so one connection asking for ids in a loop could fill
/// the relay's disk with rows. Now a connection's first denials are
/// written one by one and the rest become one row with their count when
/// the connection ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denials_beyond_the_first_of_a_connection_become_one_counted_row() {
    const REQUESTS: usize = 40;
    const AUDITED: usize = 16;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.redb");
    let mut tokens = Vec::new();
    {
        let store = RedbStore::open(&path).unwrap();
        let db = store.database();
        let r = Registry::new(&db).unwrap();
        for (grid, community) in [("G-01", "幸福社区"), ("G-02", "和平社区")] {
            r.add_grid(&GridRecord {
                code: GridCode::new(grid).unwrap(),
                name: format!("{grid} 网格"),
                community: community.into(),
                street: "文三街道".into(),
                district: "西湖区".into(),
            })
            .unwrap();
        }
        for (user, scope) in [("wang", "grids:G-01"), ("li", "grids:G-02")] {
            r.add_user(user, Role::Worker, scope.parse().unwrap())
                .unwrap();
            tokens.push(r.issue_token(user, None).unwrap().0);
        }
    }
    let server = TestServer::start(&path, Config::default()).await;
    let g2 = GridCode::new("G-02").unwrap();
    let mut li = SyncClient::join_as(
        &server,
        Identity::new("li", Role::Worker, vec![g2.clone()]),
        Some(&tokens[1]),
    )
    .await;
    let mut ticket = new_ticket("G-02 路灯");
    ticket.grid = g2;
    let hidden = li.device.report(&ticket, 1).unwrap().document_id();
    li.try_push(&hidden).await.unwrap();

    let mut wang = Client::connect_as(&server, "wang", Some(&tokens[0]), support::LOCALHOST)
        .await
        .unwrap();
    wang.send(&join_message(&wang.me)).await;
    assert!(matches!(wang.recv().await, Message::Peer { .. }));
    let empty = automerge::Automerge::new()
        .generate_sync_message(&mut automerge::sync::State::new())
        .unwrap()
        .encode();
    for _ in 0..REQUESTS {
        wang.send(&Message::Request {
            sender_id: wang.me.clone(),
            target_id: li.relay.clone(),
            document_id: hidden,
            data: empty.clone(),
        })
        .await;
        assert!(matches!(wang.recv().await, Message::DocUnavailable { .. }));
    }
    let denials = |server: &TestServer| {
        let filter = AuditFilter {
            user: Some("wang".into()),
            ..AuditFilter::default()
        };
        server::audit::query(&server.database().database(), &filter)
            .unwrap()
            .into_iter()
            .filter(|r| r.action == AuditAction::Denied)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        denials(&server).len(),
        AUDITED,
        "only the first are written"
    );
    wang.ws.close(None).await.unwrap();
    let rows = tokio::time::timeout(PATIENCE, async {
        loop {
            let rows = denials(&server);
            if rows.len() > AUDITED {
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the counted row is written when the connection ends");
    assert_eq!(rows.len(), AUDITED + 1);
    let counted = rows.last().unwrap();
    assert_eq!(counted.count, Some((REQUESTS - AUDITED) as u64));
    assert_eq!(counted.peer.as_deref(), Some("wang"));
    assert!(rows[..AUDITED].iter().all(|r| r.count.is_none()));
    server.stop().await.unwrap();
}
