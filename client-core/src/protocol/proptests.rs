//! Properties: every message survives encode → decode, unknown keys are
//! ignored, and no input makes decoding panic.

use std::collections::BTreeMap;

use ciborium::Value;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::select;

use super::message::V1_TYPES;
use super::*;
use crate::ids::DocumentId;

fn peer_id() -> impl Strategy<Value = PeerId> {
    any::<String>().prop_map(PeerId::from)
}

fn storage_id() -> impl Strategy<Value = StorageId> {
    any::<String>().prop_map(StorageId::from)
}

fn document_id() -> impl Strategy<Value = DocumentId> {
    any::<[u8; 16]>().prop_map(DocumentId::from_bytes)
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..48)
}

/// Any CBOR value ciborium round-trips exactly (no bignum tags, no NaN).
fn cbor_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e300..1e300f64).prop_map(Value::Float),
        any::<String>().prop_map(Value::Text),
        bytes().prop_map(Value::Bytes),
        bytes().prop_map(|b| Value::Tag(64, Box::new(Value::Bytes(b)))),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            vec((any::<String>().prop_map(Value::Text), inner), 0..4).prop_map(Value::Map),
        ]
    })
}

fn peer_metadata() -> impl Strategy<Value = PeerMetadata> {
    let extra_key =
        "[a-zA-Z]{1,10}".prop_filter("known key", |k| k != "storageId" && k != "isEphemeral");
    (
        proptest::option::of(storage_id()),
        proptest::option::of(any::<bool>()),
        btree_map(extra_key, cbor_value(), 0..3),
    )
        .prop_map(|(storage_id, is_ephemeral, extra)| PeerMetadata {
            storage_id,
            is_ephemeral,
            extra,
        })
}

fn new_heads() -> impl Strategy<Value = BTreeMap<StorageId, HeadsInfo>> {
    let info = (vec(any::<String>(), 0..3), any::<u64>())
        .prop_map(|(heads, timestamp)| HeadsInfo { heads, timestamp });
    btree_map(storage_id(), info, 0..3)
}

fn extension() -> impl Strategy<Value = Message> {
    let name = "[a-z][a-z-]{0,20}".prop_filter("v1 type", |n| !V1_TYPES.contains(&n.as_str()));
    let key = "[a-zA-Z]{1,10}".prop_filter("type key", |k| k != "type");
    (name, btree_map(key, cbor_value(), 0..4))
        .prop_map(|(type_name, fields)| Message::Extension { type_name, fields })
}

fn message() -> impl Strategy<Value = Message> {
    let storage_ids = || proptest::option::of(vec(storage_id(), 0..3));
    prop_oneof![
        (peer_id(), vec(any::<String>(), 0..3), peer_metadata()).prop_map(|(s, v, m)| {
            Message::Join {
                sender_id: s,
                supported_protocol_versions: v,
                peer_metadata: m,
            }
        }),
        (peer_id(), peer_id(), any::<String>(), peer_metadata()).prop_map(|(s, t, v, m)| {
            Message::Peer {
                sender_id: s,
                target_id: t,
                selected_protocol_version: v,
                peer_metadata: m,
            }
        }),
        (
            proptest::option::of(peer_id()),
            proptest::option::of(peer_id()),
            any::<String>()
        )
            .prop_map(|(s, t, message)| Message::Error {
                sender_id: s,
                target_id: t,
                message,
            }),
        peer_id().prop_map(|sender_id| Message::Leave { sender_id }),
        (peer_id(), peer_id(), document_id(), bytes()).prop_map(|(s, t, d, data)| {
            Message::Sync {
                sender_id: s,
                target_id: t,
                document_id: d,
                data,
            }
        }),
        (peer_id(), peer_id(), document_id(), bytes()).prop_map(|(s, t, d, data)| {
            Message::Request {
                sender_id: s,
                target_id: t,
                document_id: d,
                data,
            }
        }),
        (peer_id(), peer_id(), document_id()).prop_map(|(s, t, d)| Message::DocUnavailable {
            sender_id: s,
            target_id: t,
            document_id: d,
        }),
        (
            peer_id(),
            peer_id(),
            any::<u64>(),
            any::<String>(),
            document_id(),
            bytes()
        )
            .prop_map(|(s, t, count, session_id, d, data)| Message::Ephemeral {
                sender_id: s,
                target_id: t,
                count,
                session_id,
                document_id: d,
                data,
            }),
        (peer_id(), peer_id(), storage_ids(), storage_ids()).prop_map(|(s, t, add, remove)| {
            Message::RemoteSubscriptionChange {
                sender_id: s,
                target_id: t,
                add,
                remove,
            }
        }),
        (peer_id(), peer_id(), document_id(), new_heads()).prop_map(|(s, t, d, new_heads)| {
            Message::RemoteHeadsChanged {
                sender_id: s,
                target_id: t,
                document_id: d,
                new_heads,
            }
        }),
        extension(),
    ]
}

/// Decodes with the message's own extension type allowed.
fn decode_as(frame: &[u8], message: &Message) -> Result<Message, DecodeError> {
    decode_with_extensions(frame, &[message.type_name()])
}

/// Whatever `decode` accepted encodes back to the same message.
fn assert_stable(decoded: &Message) {
    assert_eq!(decode(&encode(decoded)).as_ref(), Ok(decoded));
}

const KNOWN_KEYS: [&str; 17] = [
    "type",
    "senderId",
    "targetId",
    "documentId",
    "data",
    "count",
    "sessionId",
    "message",
    "peerMetadata",
    "supportedProtocolVersions",
    "selectedProtocolVersion",
    "add",
    "remove",
    "newHeads",
    "heads",
    "timestamp",
    "storageId",
];

proptest! {
    #[test]
    fn protocol_round_trips_every_message(message in message()) {
        prop_assert_eq!(decode_as(&encode(&message), &message), Ok(message));
    }

    #[test]
    fn protocol_ignores_unknown_keys(
        message in message().prop_filter("extension", |m| !matches!(m, Message::Extension { .. })),
        junk in vec(("x-[a-z]{1,8}", cbor_value()), 1..4),
    ) {
        let Value::Map(mut entries) = ciborium::from_reader(encode(&message).as_slice()).unwrap() else {
            unreachable!("encode writes a map");
        };
        entries.extend(junk.into_iter().map(|(k, v)| (Value::Text(k), v)));
        let mut frame = Vec::new();
        ciborium::into_writer(&Value::Map(entries), &mut frame).unwrap();
        prop_assert_eq!(decode(&frame), Ok(message));
    }

    #[test]
    fn protocol_rejects_every_truncated_frame(message in message()) {
        let frame = encode(&message);
        for len in 0..frame.len() {
            prop_assert!(
                matches!(decode_as(&frame[..len], &message), Err(DecodeError::Cbor(_))),
                "prefix of {} bytes decoded", len
            );
        }
    }

    #[test]
    fn protocol_decode_never_panics_on_arbitrary_bytes(bytes in vec(any::<u8>(), 0..256)) {
        match decode(&bytes) {
            Ok(message) => assert_stable(&message),
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
    }

    #[test]
    fn protocol_decode_never_panics_on_arbitrary_maps(
        type_value in prop_oneof![
            select(V1_TYPES.to_vec()).prop_map(|t| Value::Text(t.into())),
            any::<String>().prop_map(Value::Text),
            cbor_value(),
        ],
        entries in vec((select(KNOWN_KEYS.to_vec()), cbor_value()), 0..8),
    ) {
        let mut map: Vec<(Value, Value)> = entries
            .into_iter()
            .filter(|(k, _)| *k != "type")
            .map(|(k, v)| (Value::Text(k.into()), v))
            .collect();
        map.push((Value::Text("type".into()), type_value.clone()));
        let mut frame = Vec::new();
        ciborium::into_writer(&Value::Map(map), &mut frame).unwrap();
        let result = decode(&frame);
        match (&type_value, &result) {
            (Value::Null, _) => prop_assert_eq!(result, Err(DecodeError::MissingType)),
            (Value::Text(t), _) if !V1_TYPES.contains(&t.as_str()) => {
                prop_assert_eq!(result, Err(DecodeError::UnknownType(t.clone())));
            }
            (Value::Text(t), Ok(message)) => {
                prop_assert_eq!(message.type_name(), t.as_str());
                assert_stable(message);
            }
            (Value::Text(_), Err(error)) => prop_assert!(
                matches!(
                    error,
                    DecodeError::MissingField { .. }
                        | DecodeError::WrongType { .. }
                        | DecodeError::InvalidDocumentId { .. }
                ),
                "{}", error
            ),
            (_, _) => prop_assert!(matches!(result, Err(DecodeError::TypeNotText(_)))),
        }
    }
}
