//! A client that stops reading must not stall the relay or grow its
//! memory: once its outbound queue is full it is disconnected, and every
//! other client keeps being served.

mod support;

use automerge::sync::{State, SyncDoc};
use client_core::ids::DocumentId;
use client_core::protocol::{Message, PeerId};
use server::Config;
use support::{Client, Fixture};
use tokio_tungstenite::tungstenite::Message as WsMessage;

const FRAMES: u64 = 200;
const FRAME_BYTES: usize = 256 * 1024;

fn request(from: &PeerId, relay: &PeerId, doc: DocumentId) -> Message {
    Message::Request {
        sender_id: from.clone(),
        target_id: relay.clone(),
        document_id: doc,
        data: automerge::Automerge::new()
            .generate_sync_message(&mut State::new())
            .unwrap()
            .encode(),
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected_while_others_are_served() {
    let fixture = Fixture::start(Config {
        outbound_queue: 8,
        ..Config::default()
    })
    .await;
    let (mut talker, peer) = Client::join(&fixture.server, "talker").await;
    let Message::Peer {
        sender_id: relay, ..
    } = peer
    else {
        unreachable!()
    };
    let (mut sleeper, _) = Client::join(&fixture.server, "sleeper").await;

    // Both follow a stored document (the fixture's grid index); the relay
    // relays ephemeral data about it to its followers.
    let doc = support::grid().index_document_id();
    for client in [&mut talker, &mut sleeper] {
        client.send(&request(&client.me.clone(), &relay, doc)).await;
        assert!(matches!(client.recv().await, Message::Sync { .. }));
    }

    // The sleeper stops reading; the talker sends far more than socket
    // buffers and the sleeper's queue hold (50 MiB).
    for count in 1..=FRAMES {
        talker
            .send(&Message::Ephemeral {
                sender_id: talker.me.clone(),
                target_id: relay.clone(),
                count,
                session_id: "presence".into(),
                document_id: doc,
                data: vec![count as u8; FRAME_BYTES],
            })
            .await;
    }
    // The hub handles one connection's frames in order: once this answer
    // arrives, every ephemeral message above has been routed.
    talker
        .send(&request(&talker.me.clone(), &relay, DocumentId::random()))
        .await;
    assert!(matches!(
        talker.recv().await,
        Message::DocUnavailable { .. }
    ));

    // The sleeper wakes up to what was already on the wire, then the end.
    let mut relayed = 0;
    while let Some(frame) = sleeper.next().await {
        match frame {
            WsMessage::Binary(_) => relayed += 1,
            WsMessage::Close(close) => {
                let close = close.expect("a close frame with a reason");
                assert_eq!(u16::from(close.code), 1008);
                assert!(close.reason.as_str().contains("not reading"), "{close:?}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        relayed < FRAMES,
        "the sleeper was cut off, not buffered for: got {relayed} of {FRAMES}"
    );

    // The talker is still served, and so is a newcomer.
    talker
        .send(&request(&talker.me.clone(), &relay, DocumentId::random()))
        .await;
    assert!(matches!(
        talker.recv().await,
        Message::DocUnavailable { .. }
    ));
    fixture.assert_still_serving().await;
}
