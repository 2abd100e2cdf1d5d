//! Connecting: the `join` → `peer` handshake, its failures, the connection
//! limit, keepalive, duplicate peers and `/healthz`.

mod support;

use std::time::Duration;

use client_core::model::lifecycle::Role;
use client_core::protocol::{self, Message, PeerId, PeerMetadata};
use server::Config;
use support::{Client, RawWs, SyncClient, TestServer, join_message};
use tokio_tungstenite::tungstenite;

async fn server(config: Config) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("relay.redb"), config).await;
    (server, dir)
}

#[tokio::test]
async fn join_is_answered_with_peer_on_version_1_with_a_storage_id() {
    let (server, _dir) = server(Config::default()).await;
    let (_client, peer) = Client::join(&server, "wang").await;
    let Message::Peer {
        sender_id,
        target_id,
        selected_protocol_version,
        peer_metadata,
    } = peer
    else {
        unreachable!()
    };
    assert_eq!(selected_protocol_version, "1");
    assert_eq!(target_id, PeerId::from("wang"));
    assert!(!sender_id.as_str().is_empty());
    let storage = peer_metadata.storage_id.expect("a storageId");
    assert!(!storage.as_str().is_empty());
    assert_eq!(peer_metadata.is_ephemeral, Some(false));
}

#[tokio::test]
async fn a_join_without_a_common_version_gets_an_error_and_a_close() {
    let (server, _dir) = server(Config::default()).await;
    let mut client = Client::connect(&server, "wang").await;
    client
        .send(&Message::Join {
            sender_id: client.me.clone(),
            supported_protocol_versions: vec!["2".into()],
            peer_metadata: PeerMetadata::default(),
        })
        .await;
    client
        .refusal()
        .await
        .assert("unsupported protocol version", 1002);
}

/// Timers run on tokio's paused clock: the relay's ten-second handshake
/// limit passes in virtual time, as soon as everything is waiting.
#[tokio::test]
async fn a_connection_that_never_joins_is_closed_with_a_reason() {
    let (server, _dir) = server(Config {
        handshake_timeout: Duration::from_secs(10),
        ..Config::default()
    })
    .await;
    let mut client = Client::connect(&server, "silent").await;
    tokio::time::pause();
    let refusal = client.refusal().await;
    let close = refusal.close.expect("a close frame");
    assert_eq!(u16::from(close.code), 1008);
    assert!(close.reason.as_str().contains("no `join`"), "{close:?}");
}

#[tokio::test]
async fn healthz_reports_connections_and_documents() {
    let (server, _dir) = server(Config::default()).await;
    let (status, body) = server.get("/healthz").await;
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["connections"], 0);
    assert_eq!(health["documents_in_memory"], 0);

    let mut worker = SyncClient::join_without_catalog(&server, "wang", Role::Worker).await;
    worker
        .device
        .report(&support::new_ticket("井盖缺失"), 1)
        .unwrap();
    worker.sync_all().await;
    let (status, body) = server.get("/healthz").await;
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["connections"], 1);
    assert_eq!(
        health["documents_in_memory"], 2,
        "the ticket and its grid index"
    );
}

#[tokio::test]
async fn beyond_the_connection_limit_an_upgrade_gets_503() {
    let (server, _dir) = server(Config {
        max_connections: 1,
        ..Config::default()
    })
    .await;
    let (mut first, _) = Client::join(&server, "wang").await;
    match tokio_tungstenite::connect_async(server.url()).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
        other => panic!("expected HTTP 503, got {other:?}"),
    }
    // The first connection is still served.
    first
        .send(&Message::Leave {
            sender_id: first.me.clone(),
        })
        .await;
    let close = first.refusal().await.close.expect("a close frame");
    assert_eq!(u16::from(close.code), 1000);
    // Its slot is free once the relay has dropped its socket.
    first.wait_dropped().await;
    let (_second, _) = Client::join(&server, "liu").await;
}

#[tokio::test]
async fn a_newer_connection_of_the_same_peer_closes_the_older() {
    let (server, _dir) = server(Config::default()).await;
    let (mut older, _) = Client::join(&server, "wang").await;
    let (mut newer, _) = Client::join(&server, "wang").await;
    let close = older.refusal().await.close.expect("a close frame");
    assert_eq!(u16::from(close.code), 1000);
    assert!(close.reason.as_str().contains("replaced"), "{close:?}");
    // The newer one is served.
    newer
        .send(&Message::Request {
            sender_id: newer.me.clone(),
            target_id: PeerId::from("relay"),
            document_id: client_core::ids::DocumentId::random(),
            data: empty_sync_message(),
        })
        .await;
    assert!(matches!(newer.recv().await, Message::DocUnavailable { .. }));
}

#[tokio::test]
async fn a_client_that_answers_pings_stays_connected() {
    let (server, _dir) = server(Config {
        keepalive_interval: Duration::from_secs(15),
        ..Config::default()
    })
    .await;
    let (mut client, _) = Client::join(&server, "wang").await;
    // Keepalive runs on the paused clock: five pings, 75 virtual seconds.
    tokio::time::pause();
    // Five pings span more than two intervals; reading answers each.
    let mut pings = 0;
    while pings < 5 {
        match client.next_any().await {
            Some(tungstenite::Message::Ping(_)) => pings += 1,
            other => panic!("expected a ping, got {other:?}"),
        }
    }
    client
        .send(&Message::Request {
            sender_id: client.me.clone(),
            target_id: PeerId::from("relay"),
            document_id: client_core::ids::DocumentId::random(),
            data: empty_sync_message(),
        })
        .await;
    assert!(matches!(
        client.recv().await,
        Message::DocUnavailable { .. }
    ));
}

#[tokio::test]
async fn a_client_that_does_not_answer_pings_is_closed() {
    let (server, _dir) = server(Config {
        keepalive_interval: Duration::from_secs(15),
        ..Config::default()
    })
    .await;
    let mut raw = RawWs::connect(server.addr).await;
    // Keepalive runs on the paused clock.
    tokio::time::pause();
    raw.send_binary(&protocol::encode(&join_message(&PeerId::from("mute"))))
        .await;
    let peer = raw.read_frame().await.expect("the peer answer");
    assert_eq!(peer.opcode, 2);
    assert!(matches!(
        protocol::decode(&peer.payload),
        Ok(Message::Peer { .. })
    ));
    let mut pings = 0;
    let close = loop {
        let frame = raw
            .read_frame()
            .await
            .expect("a close frame before the end");
        match frame.opcode {
            9 => pings += 1,
            8 => break frame.payload,
            other => panic!("unexpected opcode {other}"),
        }
    };
    assert!(pings >= 1, "pinged before being closed");
    assert_eq!(u16::from_be_bytes([close[0], close[1]]), 1008);
    let reason = String::from_utf8_lossy(&close[2..]);
    assert!(reason.contains("keepalive"), "{reason}");
}

fn empty_sync_message() -> Vec<u8> {
    use automerge::sync::{State, SyncDoc};
    automerge::Automerge::new()
        .generate_sync_message(&mut State::new())
        .unwrap()
        .encode()
}
