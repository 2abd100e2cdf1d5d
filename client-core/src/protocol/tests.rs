//! Per-message and error-case tests, on frames shaped as cbor-x writes them.

use std::collections::BTreeMap;

use ciborium::Value;

use super::*;
use crate::ids::DocumentId;

fn cbor(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).unwrap();
    out
}

/// A map frame from already-encoded values, so tests can write what
/// ciborium never does: `undefined` (0xf7), float64 integers, 16-bit map
/// lengths (0xb9, as cbor-x writes them).
fn raw_frame(pairs: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![0xb9, 0, u8::try_from(pairs.len()).unwrap()];
    for (key, value) in pairs {
        out.extend(cbor(&Value::Text((*key).to_owned())));
        out.extend(value);
    }
    out
}

fn text(s: &str) -> Vec<u8> {
    cbor(&Value::Text(s.to_owned()))
}

fn float64(f: f64) -> Vec<u8> {
    let mut out = vec![0xfb];
    out.extend(f.to_be_bytes());
    out
}

const UNDEFINED: u8 = 0xf7;

fn doc() -> DocumentId {
    DocumentId::from_bytes(*b"gridsync-doc-id!")
}

fn peer(s: &str) -> PeerId {
    PeerId::from(s)
}

/// `senderId`, `targetId` and `documentId` as JS sends them.
fn routed(type_name: &str, rest: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut pairs = vec![
        ("type", text(type_name)),
        ("senderId", text("alice")),
        ("targetId", text("bob")),
        ("documentId", text(&doc().to_string())),
    ];
    pairs.extend(rest.iter().cloned());
    raw_frame(&pairs)
}

#[test]
fn join_with_undefined_storage_id_and_unknown_keys() {
    let frame = raw_frame(&[
        ("type", text("join")),
        ("senderId", text("alice")),
        (
            "peerMetadata",
            raw_frame(&[
                ("storageId", vec![UNDEFINED]),
                ("isEphemeral", vec![0xf5]),
                ("gridsync", text("tickets/1")),
            ]),
        ),
        (
            "supportedProtocolVersions",
            cbor(&Value::Array(vec![Value::Text("1".into())])),
        ),
        ("futureKey", float64(1.5)),
    ]);
    let Ok(Message::Join {
        sender_id,
        supported_protocol_versions,
        peer_metadata,
    }) = decode(&frame)
    else {
        panic!("not a join: {:?}", decode(&frame));
    };
    assert_eq!(sender_id, peer("alice"));
    assert_eq!(
        negotiate(&supported_protocol_versions),
        Some(PROTOCOL_VERSION)
    );
    assert_eq!(peer_metadata.storage_id, None);
    assert_eq!(peer_metadata.is_ephemeral, Some(true));
    assert_eq!(
        peer_metadata.extra,
        BTreeMap::from([("gridsync".to_owned(), Value::Text("tickets/1".into()))])
    );
}

#[test]
fn join_without_peer_metadata_has_default_metadata() {
    let frame = raw_frame(&[
        ("type", text("join")),
        ("senderId", text("alice")),
        ("supportedProtocolVersions", cbor(&Value::Array(vec![]))),
    ]);
    let Ok(Message::Join { peer_metadata, .. }) = decode(&frame) else {
        panic!("not a join");
    };
    assert_eq!(peer_metadata, PeerMetadata::default());
}

#[test]
fn peer_keeps_extra_metadata_through_a_round_trip() {
    let message = Message::Peer {
        sender_id: peer("server"),
        target_id: peer("alice"),
        selected_protocol_version: PROTOCOL_VERSION.into(),
        peer_metadata: PeerMetadata {
            storage_id: Some(StorageId::from("store-1")),
            is_ephemeral: Some(false),
            extra: BTreeMap::from([(
                "extensions".to_owned(),
                Value::Array(vec![Value::Text("gridsync-lease".into())]),
            )]),
        },
    };
    assert_eq!(decode(&encode(&message)), Ok(message));
}

#[test]
fn error_with_and_without_ids() {
    let js = raw_frame(&[
        ("type", text("error")),
        ("senderId", text("server")),
        ("message", text("unsupported protocol version")),
        ("targetId", text("alice")),
    ]);
    assert_eq!(
        decode(&js),
        Ok(Message::Error {
            sender_id: Some(peer("server")),
            target_id: Some(peer("alice")),
            message: "unsupported protocol version".into(),
        })
    );
    let bare = raw_frame(&[("type", text("error")), ("message", text("bad frame"))]);
    assert_eq!(
        decode(&bare),
        Ok(Message::Error {
            sender_id: None,
            target_id: None,
            message: "bad frame".into(),
        })
    );
}

#[test]
fn leave() {
    let frame = raw_frame(&[("type", text("leave")), ("senderId", text("alice"))]);
    assert_eq!(
        decode(&frame),
        Ok(Message::Leave {
            sender_id: peer("alice")
        })
    );
}

#[test]
fn sync_data_may_be_a_tagged_uint8_array() {
    let tagged = cbor(&Value::Tag(64, Box::new(Value::Bytes(vec![1, 2, 3]))));
    assert_eq!(
        &tagged[..2],
        [0xd8, 64],
        "cbor-x's default Uint8Array encoding"
    );
    assert_eq!(
        decode(&routed("sync", &[("data", tagged)])),
        Ok(Message::Sync {
            sender_id: peer("alice"),
            target_id: peer("bob"),
            document_id: doc(),
            data: vec![1, 2, 3],
        })
    );
}

#[test]
fn request_with_plain_bytes() {
    let frame = routed("request", &[("data", cbor(&Value::Bytes(vec![0x42])))]);
    assert_eq!(
        decode(&frame),
        Ok(Message::Request {
            sender_id: peer("alice"),
            target_id: peer("bob"),
            document_id: doc(),
            data: vec![0x42],
        })
    );
}

#[test]
fn doc_unavailable() {
    assert_eq!(
        decode(&routed("doc-unavailable", &[])),
        Ok(Message::DocUnavailable {
            sender_id: peer("alice"),
            target_id: peer("bob"),
            document_id: doc(),
        })
    );
}

#[test]
fn ephemeral_count_may_be_a_float() {
    let frame = routed(
        "ephemeral",
        &[
            ("count", float64(3.0)),
            ("sessionId", text("session-9")),
            ("data", cbor(&Value::Bytes(vec![0xa0]))),
        ],
    );
    assert_eq!(
        decode(&frame),
        Ok(Message::Ephemeral {
            sender_id: peer("alice"),
            target_id: peer("bob"),
            count: 3,
            session_id: "session-9".into(),
            document_id: doc(),
            data: vec![0xa0],
        })
    );
}

#[test]
fn counts_must_be_whole_and_non_negative() {
    for (bad, found) in [
        (float64(2.5), "a float"),
        (float64(-1.0), "a float"),
        (float64(f64::NAN), "a float"),
        (cbor(&Value::from(-4)), "an integer"),
    ] {
        let frame = routed(
            "ephemeral",
            &[
                ("count", bad),
                ("sessionId", text("s")),
                ("data", cbor(&Value::Bytes(vec![1]))),
            ],
        );
        assert_eq!(
            decode(&frame),
            Err(DecodeError::WrongType {
                message_type: "ephemeral".into(),
                field: "count".into(),
                expected: "a non-negative integer",
                found,
            })
        );
    }
}

#[test]
fn remote_subscription_change_with_undefined_remove() {
    let frame = raw_frame(&[
        ("type", text("remote-subscription-change")),
        ("senderId", text("alice")),
        ("targetId", text("bob")),
        (
            "add",
            cbor(&Value::Array(vec![Value::Text("store-1".into())])),
        ),
        ("remove", vec![UNDEFINED]),
    ]);
    assert_eq!(
        decode(&frame),
        Ok(Message::RemoteSubscriptionChange {
            sender_id: peer("alice"),
            target_id: peer("bob"),
            add: Some(vec![StorageId::from("store-1")]),
            remove: None,
        })
    );
}

#[test]
fn remote_heads_changed_with_float_timestamp() {
    let heads = raw_frame(&[(
        "store-1",
        raw_frame(&[
            ("heads", cbor(&Value::Array(vec![Value::Text("h1".into())]))),
            ("timestamp", float64(1_732_370_000_123.0)),
        ]),
    )]);
    let Ok(Message::RemoteHeadsChanged { new_heads, .. }) =
        decode(&routed("remote-heads-changed", &[("newHeads", heads)]))
    else {
        panic!("not remote-heads-changed");
    };
    assert_eq!(
        new_heads,
        BTreeMap::from([(
            StorageId::from("store-1"),
            HeadsInfo {
                heads: vec!["h1".into()],
                timestamp: 1_732_370_000_123,
            }
        )])
    );
}

#[test]
fn nested_errors_name_the_path() {
    let heads = raw_frame(&[("store-1", raw_frame(&[("timestamp", text("now"))]))]);
    let frame = routed("remote-heads-changed", &[("newHeads", heads)]);
    let err = decode(&frame).unwrap_err();
    assert_eq!(
        err.to_string(),
        "missing field `newHeads.store-1.heads` in `remote-heads-changed` message"
    );
}

#[test]
fn encoding_uses_plain_byte_strings_text_ids_and_js_keys() {
    let message = Message::Ephemeral {
        sender_id: peer("alice"),
        target_id: peer("bob"),
        count: 7,
        session_id: "s".into(),
        document_id: doc(),
        data: vec![1, 2],
    };
    let value: Value = ciborium::from_reader(encode(&message).as_slice()).unwrap();
    let expected = Value::Map(
        [
            ("type", Value::Text("ephemeral".into())),
            ("senderId", Value::Text("alice".into())),
            ("targetId", Value::Text("bob".into())),
            ("documentId", Value::Text(doc().to_string())),
            ("count", Value::from(7u64)),
            ("sessionId", Value::Text("s".into())),
            ("data", Value::Bytes(vec![1, 2])),
        ]
        .map(|(k, v)| (Value::Text(k.into()), v))
        .to_vec(),
    );
    assert_eq!(value, expected);
}

#[test]
fn large_numbers_are_written_as_cbor_x_writes_them() {
    let heads = |timestamp| Message::RemoteHeadsChanged {
        sender_id: peer("alice"),
        target_id: peer("bob"),
        document_id: doc(),
        new_heads: BTreeMap::from([(
            StorageId::from("s"),
            HeadsInfo {
                heads: vec![],
                timestamp,
            },
        )]),
    };
    // cbor-x writes Date.now() as float64.
    let frame = encode(&heads(1_795_449_974_893));
    let expected = float64(1_795_449_974_893.0);
    assert!(frame.ends_with(&expected), "{frame:02x?}");
    for timestamp in [
        0,
        u64::from(u32::MAX),
        1 << 40,
        (1 << 53) - 1,
        1 << 60,
        u64::MAX,
    ] {
        assert_eq!(decode(&encode(&heads(timestamp))), Ok(heads(timestamp)));
    }
}

#[test]
fn optional_keys_are_left_out_when_absent() {
    let message = Message::RemoteSubscriptionChange {
        sender_id: peer("alice"),
        target_id: peer("bob"),
        add: None,
        remove: Some(vec![]),
    };
    let value: Value = ciborium::from_reader(encode(&message).as_slice()).unwrap();
    let keys: Vec<&str> = value
        .as_map()
        .unwrap()
        .iter()
        .map(|(k, _)| k.as_text().unwrap())
        .collect();
    assert_eq!(keys, ["type", "senderId", "targetId", "remove"]);
}

#[test]
fn the_last_of_repeated_keys_wins() {
    let frame = raw_frame(&[
        ("type", text("leave")),
        ("senderId", text("first")),
        ("senderId", text("second")),
    ]);
    assert_eq!(
        decode(&frame),
        Ok(Message::Leave {
            sender_id: peer("second")
        })
    );
}

#[test]
fn extensions_decode_only_when_negotiated() {
    let message = Message::Extension {
        type_name: "gridsync-lease".into(),
        fields: BTreeMap::from([
            ("senderId".to_owned(), Value::Text("alice".into())),
            ("ttl".to_owned(), Value::from(30)),
        ]),
    };
    let frame = encode(&message);
    assert_eq!(
        decode(&frame),
        Err(DecodeError::UnknownType("gridsync-lease".into()))
    );
    assert_eq!(
        decode_with_extensions(&frame, &["gridsync-lease"]),
        Ok(message)
    );
    let leave = raw_frame(&[("type", text("leave")), ("senderId", text("a"))]);
    assert!(matches!(
        decode_with_extensions(&leave, &["leave"]),
        Ok(Message::Leave { .. })
    ));
}

fn err(bytes: &[u8]) -> String {
    decode(bytes).unwrap_err().to_string()
}

#[test]
fn frame_level_errors_say_what_was_wrong() {
    assert_eq!(err(&[0x1c]), "not valid CBOR: malformed CBOR at byte 0");
    assert_eq!(
        err(&[0xff]),
        "not valid CBOR: invalid type: break, expected non-break"
    );
    assert_eq!(
        err(&[]),
        "not valid CBOR: the frame ends inside a CBOR item"
    );
    assert_eq!(err(&[0x80]), "a message must be a CBOR map, found an array");
    assert_eq!(err(&[0xa0]), "the message has no `type` field");
    assert_eq!(
        err(&raw_frame(&[("type", cbor(&Value::from(1)))])),
        "the message's `type` must be text, found an integer"
    );
    assert_eq!(
        err(&raw_frame(&[("type", text("gossip"))])),
        "unknown message type `gossip`"
    );
    let mut trailing = raw_frame(&[("type", text("leave")), ("senderId", text("a"))]);
    trailing.extend([0x00, 0x00]);
    assert_eq!(err(&trailing), "2 bytes follow the message's CBOR map");
}

#[test]
fn field_errors_name_the_field_and_the_message() {
    assert_eq!(
        err(&raw_frame(&[
            ("type", text("sync")),
            ("senderId", text("a"))
        ])),
        "missing field `targetId` in `sync` message"
    );
    assert_eq!(
        err(&routed("sync", &[("data", text("not bytes"))])),
        "field `data` of `sync` message must be a byte string, found text"
    );
    assert_eq!(
        err(&routed("sync", &[("data", vec![0xf6])])),
        "missing field `data` in `sync` message"
    );
}

#[test]
fn bad_document_id_names_the_field() {
    let frame = raw_frame(&[
        ("type", text("doc-unavailable")),
        ("senderId", text("a")),
        ("targetId", text("b")),
        ("documentId", text("not-a-doc")),
    ]);
    let error = decode(&frame).unwrap_err();
    assert!(matches!(error, DecodeError::InvalidDocumentId { .. }));
    assert!(
        error.to_string().starts_with(
            "field `documentId` of `doc-unavailable` message: `not-a-doc` is not a document id"
        ),
        "{error}"
    );
}

#[test]
fn huge_length_prefixes_fail_without_allocating() {
    // A byte string, an array and a map each claiming 2^64-1 items.
    for header in [0x5b, 0x9b, 0xbb] {
        let mut value = vec![header];
        value.extend([0xff; 8]);
        let frame = routed("sync", &[("data", value)]);
        assert!(matches!(decode(&frame), Err(DecodeError::Cbor(_))));
    }
}

#[test]
fn deep_nesting_is_refused() {
    let mut nested = vec![0x81; 10_000];
    nested.push(0x00);
    let frame = raw_frame(&[("type", text("leave")), ("x", nested)]);
    assert_eq!(
        err(&frame),
        format!("not valid CBOR: nested deeper than {MAX_DEPTH} levels")
    );
}
