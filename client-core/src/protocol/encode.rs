//! [`Message`] to CBOR bytes that the JS decoder (cbor-x) reads as the
//! object automerge-repo itself would send: one map with camelCase text
//! keys, ids as text, `data` as a plain byte string (no tag), numbers as
//! cbor-x writes them (see [`js_number`]), and absent optional keys left out.

use std::collections::BTreeMap;

use ciborium::Value;

use super::message::{HeadsInfo, Message, PeerId, PeerMetadata, StorageId};
use crate::ids::DocumentId;

/// Encodes one message as one frame.
pub fn encode(message: &Message) -> Vec<u8> {
    let mut map = Map(Vec::new());
    map.text("type", message.type_name());
    match message {
        Message::Join {
            sender_id,
            supported_protocol_versions,
            peer_metadata,
        } => {
            map.peer("senderId", sender_id);
            map.put(
                "supportedProtocolVersions",
                text_list(supported_protocol_versions),
            );
            map.put("peerMetadata", metadata(peer_metadata));
        }
        Message::Peer {
            sender_id,
            target_id,
            selected_protocol_version,
            peer_metadata,
        } => {
            map.peer("senderId", sender_id);
            map.peer("targetId", target_id);
            map.text("selectedProtocolVersion", selected_protocol_version);
            map.put("peerMetadata", metadata(peer_metadata));
        }
        Message::Error {
            sender_id,
            target_id,
            message,
        } => {
            if let Some(sender_id) = sender_id {
                map.peer("senderId", sender_id);
            }
            if let Some(target_id) = target_id {
                map.peer("targetId", target_id);
            }
            map.text("message", message);
        }
        Message::Leave { sender_id } => map.peer("senderId", sender_id),
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
            map.route(sender_id, target_id, document_id);
            map.put("data", Value::Bytes(data.clone()));
        }
        Message::DocUnavailable {
            sender_id,
            target_id,
            document_id,
        } => map.route(sender_id, target_id, document_id),
        Message::Ephemeral {
            sender_id,
            target_id,
            count,
            session_id,
            document_id,
            data,
        } => {
            map.route(sender_id, target_id, document_id);
            map.put("count", js_number(*count));
            map.text("sessionId", session_id);
            map.put("data", Value::Bytes(data.clone()));
        }
        Message::RemoteSubscriptionChange {
            sender_id,
            target_id,
            add,
            remove,
        } => {
            map.peer("senderId", sender_id);
            map.peer("targetId", target_id);
            if let Some(add) = add {
                map.put("add", text_list(add.iter().map(StorageId::as_str)));
            }
            if let Some(remove) = remove {
                map.put("remove", text_list(remove.iter().map(StorageId::as_str)));
            }
        }
        Message::RemoteHeadsChanged {
            sender_id,
            target_id,
            document_id,
            new_heads,
        } => {
            map.route(sender_id, target_id, document_id);
            map.put("newHeads", heads(new_heads));
        }
        Message::Extension { fields, .. } => {
            for (key, value) in fields.iter().filter(|(key, _)| *key != "type") {
                map.put(key, value.clone());
            }
        }
    }
    let mut frame = Vec::new();
    ciborium::into_writer(&Value::Map(map.0), &mut frame)
        .expect("writing a CBOR value into a Vec cannot fail");
    frame
}

/// A CBOR map being built, in insertion order.
struct Map(Vec<(Value, Value)>);

impl Map {
    fn put(&mut self, key: &str, value: Value) {
        self.0.push((Value::Text(key.to_owned()), value));
    }

    fn text(&mut self, key: &str, text: &str) {
        self.put(key, Value::Text(text.to_owned()));
    }

    fn peer(&mut self, key: &str, peer: &PeerId) {
        self.text(key, peer.as_str());
    }

    fn route(&mut self, sender_id: &PeerId, target_id: &PeerId, document_id: &DocumentId) {
        self.peer("senderId", sender_id);
        self.peer("targetId", target_id);
        self.text("documentId", &document_id.to_string());
    }
}

fn text_list<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Value {
    Value::Array(
        items
            .into_iter()
            .map(|s| Value::Text(s.as_ref().to_owned()))
            .collect(),
    )
}

fn metadata(meta: &PeerMetadata) -> Value {
    let mut map = Map(Vec::new());
    if let Some(storage_id) = &meta.storage_id {
        map.text("storageId", storage_id.as_str());
    }
    if let Some(is_ephemeral) = meta.is_ephemeral {
        map.put("isEphemeral", Value::Bool(is_ephemeral));
    }
    for (key, value) in &meta.extra {
        if key != "storageId" && key != "isEphemeral" {
            map.put(key, value.clone());
        }
    }
    Value::Map(map.0)
}

fn heads(new_heads: &BTreeMap<StorageId, HeadsInfo>) -> Value {
    let entries = new_heads.iter().map(|(storage_id, info)| {
        let mut map = Map(Vec::new());
        map.put("heads", text_list(&info.heads));
        map.put("timestamp", js_number(info.timestamp));
        (
            Value::Text(storage_id.as_str().to_owned()),
            Value::Map(map.0),
        )
    });
    Value::Map(entries.collect())
}

/// A number as cbor-x writes a JS number: an integer up to 2³²−1, a float
/// above. cbor-x reads a 64-bit CBOR integer as a `BigInt`, which the repo
/// cannot use (`Date.now()` timestamps are past 2³²). Integers above 2⁵³,
/// which no JS number holds exactly, stay 64-bit integers so nothing is lost.
fn js_number(n: u64) -> Value {
    const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
    if n > u64::from(u32::MAX) && n <= MAX_SAFE_INTEGER {
        Value::Float(n as f64)
    } else {
        Value::from(n)
    }
}
