//! Misbehaving clients: each gets an `error` message (where the socket
//! still allows) and a close, while the relay keeps serving others and
//! loses nothing it stored.

mod support;

use std::collections::BTreeMap;

use automerge::sync::{State, SyncDoc};
use client_core::ids::DocumentId;
use client_core::protocol::{Message, PeerId, PeerMetadata};
use server::Config;
use support::{Client, Fixture, join_message};
use tokio_tungstenite::tungstenite::Message as WsMessage;

fn empty_sync_message() -> Vec<u8> {
    automerge::Automerge::new()
        .generate_sync_message(&mut State::new())
        .unwrap()
        .encode()
}

/// A frame that decodes to nothing but an unknown message `type`.
fn unknown_type(name: &str) -> Vec<u8> {
    client_core::protocol::encode(&Message::Extension {
        type_name: name.into(),
        fields: BTreeMap::new(),
    })
}

#[tokio::test]
async fn a_text_frame() {
    let fixture = Fixture::start(Config::default()).await;
    let (mut bad, _) = Client::join(&fixture.server, "bad").await;
    bad.send_raw(WsMessage::text(r#"{"type":"sync"}"#)).await;
    bad.refusal().await.assert("text frames", 1003);
    fixture.assert_still_serving().await;
}

#[tokio::test]
async fn garbage_cbor() {
    let fixture = Fixture::start(Config::default()).await;
    let (mut bad, _) = Client::join(&fixture.server, "bad").await;
    bad.send_raw(WsMessage::binary(vec![0xff, 0x00, 0x13, 0x37]))
        .await;
    bad.refusal().await.assert("undecodable frame", 1002);
    fixture.assert_still_serving().await;
}

#[tokio::test]
async fn an_oversized_frame() {
    let fixture = Fixture::start(Config {
        max_frame_bytes: 64 * 1024,
        ..Config::default()
    })
    .await;
    let (mut bad, _) = Client::join(&fixture.server, "bad").await;
    let big = Message::Sync {
        sender_id: bad.me.clone(),
        target_id: PeerId::from("relay"),
        document_id: DocumentId::random(),
        data: vec![7; 100 * 1024],
    };
    bad.send(&big).await;
    bad.refusal().await.assert("larger than", 1009);
    fixture.assert_still_serving().await;
}

#[tokio::test]
async fn an_unknown_message_type() {
    let fixture = Fixture::start(Config::default()).await;
    let (mut bad, _) = Client::join(&fixture.server, "bad").await;
    bad.send_raw(WsMessage::binary(unknown_type("frobnicate")))
        .await;
    bad.refusal()
        .await
        .assert("unknown message type `frobnicate`", 1002);
    fixture.assert_still_serving().await;
}

#[tokio::test]
async fn a_sync_for_an_unknown_document_with_garbage_data() {
    let fixture = Fixture::start(Config::default()).await;
    let (mut bad, _) = Client::join(&fixture.server, "bad").await;
    let doc = DocumentId::random();
    bad.send(&Message::Sync {
        sender_id: bad.me.clone(),
        target_id: PeerId::from("relay"),
        document_id: doc,
        data: vec![0x42, 0xff, 0x00, 0x01],
    })
    .await;
    bad.refusal().await.assert("undecodable sync message", 1002);
    fixture.assert_still_serving().await;
    // Nothing was stored for it: asking for it now says unavailable.
    let (mut other, _) = Client::join(&fixture.server, "other").await;
    other
        .send(&Message::Request {
            sender_id: other.me.clone(),
            target_id: PeerId::from("relay"),
            document_id: doc,
            data: empty_sync_message(),
        })
        .await;
    assert!(matches!(
        other.recv().await,
        Message::DocUnavailable { document_id, .. } if document_id == doc
    ));
}

#[tokio::test]
async fn a_message_before_join() {
    let fixture = Fixture::start(Config::default()).await;
    let mut bad = Client::connect(&fixture.server, "bad").await;
    bad.send(&Message::Request {
        sender_id: bad.me.clone(),
        target_id: PeerId::from("relay"),
        document_id: DocumentId::random(),
        data: empty_sync_message(),
    })
    .await;
    bad.refusal()
        .await
        .assert("expected `join` as the first message, got `request`", 1002);
    fixture.assert_still_serving().await;
}

#[tokio::test]
async fn a_second_join() {
    let fixture = Fixture::start(Config::default()).await;
    let (mut bad, _) = Client::join(&fixture.server, "bad").await;
    let again = join_message(&bad.me);
    bad.send(&again).await;
    bad.refusal().await.assert("a second `join`", 1002);
    fixture.assert_still_serving().await;
}

#[tokio::test]
async fn a_frame_from_another_peer_id() {
    let fixture = Fixture::start(Config::default()).await;
    let (mut bad, _) = Client::join(&fixture.server, "bad").await;
    bad.send(&Message::Request {
        sender_id: PeerId::from("wang"),
        target_id: PeerId::from("relay"),
        document_id: DocumentId::random(),
        data: empty_sync_message(),
    })
    .await;
    bad.refusal()
        .await
        .assert("from `wang` on a connection that joined as `bad`", 1002);
    fixture.assert_still_serving().await;
}

#[tokio::test]
async fn a_join_with_an_empty_peer_id() {
    let fixture = Fixture::start(Config::default()).await;
    let mut bad = Client::connect(&fixture.server, "").await;
    bad.send(&Message::Join {
        sender_id: PeerId::from(""),
        supported_protocol_versions: vec!["1".into()],
        peer_metadata: PeerMetadata::default(),
    })
    .await;
    bad.refusal().await.assert("empty senderId", 1002);
    fixture.assert_still_serving().await;
}
