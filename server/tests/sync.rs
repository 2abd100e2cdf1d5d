//! Documents through the relay: stored durably, served after a restart,
//! forwarded live between connected devices.

mod support;

use client_core::device::EventInput;
use client_core::model::lifecycle::{Action, Role, Status};
use server::Config;
use support::{SyncClient, TestServer, new_ticket};

#[tokio::test]
async fn a_ticket_uploaded_before_a_restart_reaches_a_device_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.redb");

    let server = TestServer::start(&path, Config::default()).await;
    let mut worker = SyncClient::join(&server, "wang", Role::Worker).await;
    let ticket = worker.device.report(&new_ticket("占道经营"), 1).unwrap();
    worker.sync_all().await;
    let before = worker.relay_storage.clone();
    let relay_before = worker.relay.clone();
    drop(worker);
    server.stop().await.unwrap();

    let server = TestServer::start(&path, Config::default()).await;
    let mut supervisor = SyncClient::join(&server, "chen", Role::Supervisor).await;
    assert_eq!(
        supervisor.relay_storage, before,
        "the relay's storage id survives restarts"
    );
    assert_eq!(supervisor.relay, relay_before, "so does its peer id");
    supervisor.sync_all().await;
    assert_eq!(supervisor.titles(), vec!["占道经营".to_owned()]);
    assert_eq!(
        supervisor.device.ticket(ticket).unwrap().status(),
        Status::Reported
    );
    drop(supervisor);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_change_is_forwarded_to_another_connected_device() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("relay.redb"), Config::default()).await;
    let mut worker = SyncClient::join(&server, "wang", Role::Worker).await;
    let mut supervisor = SyncClient::join(&server, "chen", Role::Supervisor).await;
    let ticket = worker.device.report(&new_ticket("下水道堵塞"), 1).unwrap();
    worker.sync_all().await;
    supervisor.sync_all().await;
    assert_eq!(supervisor.titles(), vec!["下水道堵塞".to_owned()]);

    // The supervisor accepts; the worker is told without asking.
    supervisor
        .device
        .act(ticket, Action::Accepted, EventInput::default(), 5)
        .unwrap();
    supervisor.push(&ticket.document_id()).await;
    while worker.device.ticket(ticket).unwrap().status() != Status::Accepted {
        worker.receive_one().await;
    }
    drop((worker, supervisor));
    server.stop().await.unwrap();
}
