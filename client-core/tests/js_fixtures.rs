//! Frames recorded from the real JS `@automerge/automerge-repo` 2.5.6 and
//! its websocket adapters (`tests/js/record-fixtures.mjs`), decoded here and
//! checked against what cbor-x itself decoded from the same bytes
//! (`manifest.json`). Node is not needed: the frames are committed files.

use std::collections::BTreeSet;

use automerge::sync::{State, SyncDoc};
use automerge::{AutoCommit, ReadDoc};
use ciborium::Value;
use client_core::protocol::{Message, PeerMetadata, StorageId, decode, encode};
use serde_json::{Value as Json, json};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/js-frames");

#[derive(Debug)]
struct Fixture {
    file: String,
    /// The object cbor-x decoded, through `JSON.stringify` (bytes as
    /// `{"$bytes": hex}`, `undefined` keys dropped).
    js: Json,
    bytes: Vec<u8>,
}

fn fixtures() -> Vec<Fixture> {
    let manifest = std::fs::read_to_string(format!("{DIR}/manifest.json")).unwrap();
    let entries: Vec<Json> = serde_json::from_str(&manifest).unwrap();
    entries
        .into_iter()
        .map(|entry| {
            let file = entry["file"].as_str().unwrap().to_owned();
            let bytes = std::fs::read(format!("{DIR}/{file}")).unwrap();
            Fixture {
                file,
                js: entry["message"].clone(),
                bytes,
            }
        })
        .collect()
}

fn fixture(file: &str) -> (Fixture, Message) {
    let fixture = fixtures().into_iter().find(|f| f.file == file).unwrap();
    let message = decode(&fixture.bytes).unwrap();
    (fixture, message)
}

fn hex(bytes: &[u8]) -> Json {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    json!({ "$bytes": hex })
}

fn metadata_json(meta: &PeerMetadata) -> Json {
    let mut out = serde_json::Map::new();
    if let Some(id) = &meta.storage_id {
        out.insert("storageId".into(), json!(id.as_str()));
    }
    if let Some(e) = meta.is_ephemeral {
        out.insert("isEphemeral".into(), json!(e));
    }
    assert!(meta.extra.is_empty(), "JS sent unexpected metadata keys");
    Json::Object(out)
}

fn storage_ids(ids: &[StorageId]) -> Json {
    json!(ids.iter().map(StorageId::as_str).collect::<Vec<_>>())
}

/// A decoded message in the JSON shape of the manifest.
fn to_json(message: &Message) -> Json {
    let mut out = json!({ "type": message.type_name() });
    let fields = out.as_object_mut().unwrap();
    let mut put = |key: &str, value: Json| {
        fields.insert(key.to_owned(), value);
    };
    match message {
        Message::Join {
            sender_id,
            supported_protocol_versions,
            peer_metadata,
        } => {
            put("senderId", json!(sender_id.as_str()));
            put(
                "supportedProtocolVersions",
                json!(supported_protocol_versions),
            );
            put("peerMetadata", metadata_json(peer_metadata));
        }
        Message::Peer {
            sender_id,
            target_id,
            selected_protocol_version,
            peer_metadata,
        } => {
            put("senderId", json!(sender_id.as_str()));
            put("targetId", json!(target_id.as_str()));
            put("selectedProtocolVersion", json!(selected_protocol_version));
            put("peerMetadata", metadata_json(peer_metadata));
        }
        Message::Error {
            sender_id,
            target_id,
            message,
        } => {
            if let Some(id) = sender_id {
                put("senderId", json!(id.as_str()));
            }
            if let Some(id) = target_id {
                put("targetId", json!(id.as_str()));
            }
            put("message", json!(message));
        }
        Message::Leave { sender_id } => put("senderId", json!(sender_id.as_str())),
        Message::Sync {
            sender_id,
            target_id,
            document_id,
            data,
        }
        | Message::Request {
            sender_id,
            target_id,
            document_id,
            data,
        } => {
            put("senderId", json!(sender_id.as_str()));
            put("targetId", json!(target_id.as_str()));
            put("documentId", json!(document_id.to_string()));
            put("data", hex(data));
        }
        Message::DocUnavailable {
            sender_id,
            target_id,
            document_id,
        } => {
            put("senderId", json!(sender_id.as_str()));
            put("targetId", json!(target_id.as_str()));
            put("documentId", json!(document_id.to_string()));
        }
        Message::Ephemeral {
            sender_id,
            target_id,
            count,
            session_id,
            document_id,
            data,
        } => {
            put("senderId", json!(sender_id.as_str()));
            put("targetId", json!(target_id.as_str()));
            put("count", json!(count));
            put("sessionId", json!(session_id));
            put("documentId", json!(document_id.to_string()));
            put("data", hex(data));
        }
        Message::RemoteSubscriptionChange {
            sender_id,
            target_id,
            add,
            remove,
        } => {
            put("senderId", json!(sender_id.as_str()));
            put("targetId", json!(target_id.as_str()));
            if let Some(add) = add {
                put("add", storage_ids(add));
            }
            if let Some(remove) = remove {
                put("remove", storage_ids(remove));
            }
        }
        Message::RemoteHeadsChanged {
            sender_id,
            target_id,
            document_id,
            new_heads,
        } => {
            put("senderId", json!(sender_id.as_str()));
            put("targetId", json!(target_id.as_str()));
            put("documentId", json!(document_id.to_string()));
            let heads: serde_json::Map<String, Json> = new_heads
                .iter()
                .map(|(storage, info)| {
                    let info = json!({ "heads": info.heads, "timestamp": info.timestamp });
                    (storage.as_str().to_owned(), info)
                })
                .collect();
            put("newHeads", Json::Object(heads));
        }
        Message::Extension { .. } => panic!("the JS repo sends no extension messages"),
    }
    out
}

#[test]
fn protocol_js_fixtures_cover_every_message_js_sends() {
    let files: BTreeSet<String> = fixtures().into_iter().map(|f| f.file).collect();
    let expected: BTreeSet<String> = [
        "doc-unavailable.client-to-server.cbor",
        "doc-unavailable.server-to-client.cbor",
        "ephemeral.client-to-server.cbor",
        "ephemeral.server-to-client.cbor",
        "error.server-to-client.cbor",
        "join.client-to-server.cbor",
        "join.client-to-server.with-storage.cbor",
        "peer.server-to-client.cbor",
        "remote-heads-changed.client-to-server.cbor",
        "remote-heads-changed.server-to-client.cbor",
        "remote-subscription-change.client-to-server.cbor",
        "remote-subscription-change.server-to-client.cbor",
        "request.client-to-server.cbor",
        "request.server-to-client.cbor",
        "sync.client-to-server.cbor",
        "sync.server-to-client.cbor",
    ]
    .map(String::from)
    .into();
    assert_eq!(files, expected);
}

#[test]
fn protocol_js_frames_decode_to_what_cbor_x_decodes() {
    for fixture in fixtures() {
        let message = decode(&fixture.bytes).unwrap_or_else(|e| panic!("{}: {e}", fixture.file));
        assert_eq!(to_json(&message), fixture.js, "{}", fixture.file);
        let kind = fixture.file.split('.').next().unwrap();
        assert_eq!(message.type_name(), kind, "{}", fixture.file);
    }
}

#[test]
fn protocol_js_sync_data_is_an_automerge_sync_message() {
    for fixture in fixtures() {
        let (Message::Sync { data, .. } | Message::Request { data, .. }) =
            decode(&fixture.bytes).unwrap()
        else {
            continue;
        };
        let sync = automerge::sync::Message::decode(&data)
            .unwrap_or_else(|e| panic!("{}: {e}", fixture.file));
        if fixture.file.starts_with("sync.") {
            assert!(!sync.changes.is_empty(), "{}: no changes", fixture.file);
        }
    }
}

#[test]
fn protocol_js_sync_to_a_requesting_client_carries_the_document() {
    let (_, message) = fixture("sync.server-to-client.cbor");
    let Message::Sync { data, .. } = message else {
        panic!("not a sync message: {message:?}");
    };
    let mut doc = AutoCommit::new();
    let sync = automerge::sync::Message::decode(&data).unwrap();
    doc.sync()
        .receive_sync_message(&mut State::new(), sync)
        .unwrap();
    // automerge-js 3 stores strings as text objects.
    let (_, title) = doc.get(automerge::ROOT, "title").unwrap().unwrap();
    assert_eq!(doc.text(&title).unwrap(), "server doc");
}

#[test]
fn protocol_js_ephemeral_data_is_the_broadcast_cbor() {
    for (file, key) in [
        ("ephemeral.client-to-server.cbor", "cursor"),
        ("ephemeral.server-to-client.cbor", "hello"),
    ] {
        let (_, message) = fixture(file);
        let Message::Ephemeral { data, count, .. } = message else {
            panic!("{file}: not ephemeral");
        };
        assert!(count >= 1, "{file}");
        let value: Value = ciborium::from_reader(data.as_slice()).unwrap();
        let keys: Vec<&str> = value
            .as_map()
            .unwrap()
            .iter()
            .filter_map(|(k, _)| k.as_text())
            .collect();
        assert_eq!(keys, [key], "{file}");
    }
}

/// A CBOR value as a JS reader sees it: `null`/`undefined` keys gone, map
/// keys sorted. Integers and floats stay apart: cbor-x reads a 64-bit
/// integer as a `BigInt`, so a timestamp must be a float as JS sends it.
fn as_js_sees_it(value: Value) -> Value {
    match value {
        Value::Map(entries) => {
            let mut entries: Vec<(Value, Value)> = entries
                .into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, as_js_sees_it(v)))
                .collect();
            entries.sort_by(|(a, _), (b, _)| a.as_text().cmp(&b.as_text()));
            Value::Map(entries)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(as_js_sees_it).collect()),
        other => other,
    }
}

#[test]
fn protocol_reencoded_js_frames_match_what_js_sent() {
    for fixture in fixtures() {
        let ours = encode(&decode(&fixture.bytes).unwrap());
        let js: Value = ciborium::from_reader(fixture.bytes.as_slice()).unwrap();
        let ours: Value = ciborium::from_reader(ours.as_slice()).unwrap();
        assert_eq!(as_js_sees_it(ours), as_js_sees_it(js), "{}", fixture.file);
    }
}
