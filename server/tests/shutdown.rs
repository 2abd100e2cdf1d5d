//! Graceful shutdown: connections get a normal close frame, `run`
//! returns, and the database is released with everything in it.

mod support;

use client_core::model::lifecycle::Role;
use client_core::store::{RedbStore, Store};
use server::Config;
use support::{SyncClient, TestServer, new_ticket};

#[tokio::test]
async fn shutdown_closes_connections_normally_and_releases_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.redb");
    let server = TestServer::start(&path, Config::default()).await;
    let store = server.store.clone();
    let mut worker = SyncClient::join(&server, "wang", Role::Worker).await;
    let ticket = worker.device.report(&new_ticket("违章搭建"), 1).unwrap();
    worker.sync_all().await;

    // The worker keeps reading while the relay shuts down.
    let stopping = tokio::spawn(server.stop());
    let refusal = worker.refusal().await;
    let close = refusal.close.expect("a close frame");
    assert_eq!(u16::from(close.code), 1000);
    assert!(close.reason.as_str().contains("shutting down"), "{close:?}");
    assert!(refusal.error.is_none(), "a normal close carries no error");
    stopping.await.unwrap().expect("run returns Ok");

    assert!(store.upgrade().is_none(), "run let go of the store");
    let reopened = RedbStore::open(&path).expect("the database reopens");
    assert!(
        reopened
            .documents()
            .unwrap()
            .contains(&ticket.document_id()),
        "the synced ticket is stored"
    );
}

#[tokio::test]
async fn shutdown_with_no_connections_returns_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.redb");
    let server = TestServer::start(&path, Config::default()).await;
    let addr = server.addr;
    server.stop().await.unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
    RedbStore::open(&path).expect("the database reopens");
}
