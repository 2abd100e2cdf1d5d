//! The heads-batch extension as a wire format: GridSync's fast reconnect.
//!
//! A device that reconnects holds thousands of documents it has not edited.
//! Instead of one `sync` exchange per document, it sends the heads of all of
//! them in one message; the relay compares them with its heads table (no
//! document is loaded) and answers which it holds with exactly those heads.
//! Only the others go through the per-document sync protocol.
//!
//! Both messages are CBOR maps like the v1 messages (carried as
//! [`Message::Extension`], framed by [`encode`](super::encode) and
//! [`decode_with_extensions`](super::decode_with_extensions)), with text
//! `senderId` and `targetId`:
//!
//! - `gridsync-heads` ([`HEADS_MESSAGE`], device → relay): `heads` is a byte
//!   string of entries, each 16 bytes of document id, one byte `n`, then `n`
//!   32-byte change hashes; at most [`MAX_HEADS_BATCH_ENTRIES`] entries.
//! - `gridsync-heads-reply` ([`HEADS_REPLY`], relay → device): `same` is a
//!   byte string of the 16-byte ids whose heads the relay holds too. Replies
//!   answer batches in the order they were sent.
//!
//! The extension is offered under `gridsyncExtensions` in `peerMetadata`
//! (see `sync::offers`); neither message is ever sent to a peer that did not
//! offer it.
//!
//! ```
//! use client_core::ids::DocumentId;
//! use client_core::protocol::heads_batch::{self, HeadsBatch, HeadsEntry};
//! use client_core::protocol::PeerId;
//!
//! let entry = HeadsEntry::new(DocumentId::random(), vec![automerge::ChangeHash([7; 32])]).unwrap();
//! let batch = HeadsBatch::Batch {
//!     sender_id: PeerId::from("phone"),
//!     target_id: PeerId::from("relay"),
//!     entries: vec![entry],
//! };
//! let message = heads_batch::encode(&batch);
//! assert_eq!(heads_batch::decode(&message), Ok(batch));
//! ```

use std::collections::BTreeMap;

use automerge::ChangeHash;
use ciborium::Value;

use super::message::{Message, PeerId};
use crate::ids::DocumentId;

/// Device → relay: the heads of many documents.
pub const HEADS_MESSAGE: &str = "gridsync-heads";
/// Relay → device: which of a batch's documents have the same heads.
pub const HEADS_REPLY: &str = "gridsync-heads-reply";
/// Most entries in one `gridsync-heads` message; a sender splits larger
/// batches, and [`decode`] refuses more.
pub const MAX_HEADS_BATCH_ENTRIES: usize = 10_000;
/// Most heads one entry can carry (its count is one byte). A document with
/// more goes through the per-document sync protocol instead.
pub const MAX_HEADS_PER_ENTRY: usize = u8::MAX as usize;

const DOC_BYTES: usize = 16;
const HASH_BYTES: usize = 32;

/// One document's heads in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadsEntry {
    doc: DocumentId,
    heads: Vec<ChangeHash>,
}

impl HeadsEntry {
    /// `None` if `heads` has more than [`MAX_HEADS_PER_ENTRY`] hashes.
    pub fn new(doc: DocumentId, heads: Vec<ChangeHash>) -> Option<Self> {
        (heads.len() <= MAX_HEADS_PER_ENTRY).then_some(Self { doc, heads })
    }

    pub fn doc(&self) -> &DocumentId {
        &self.doc
    }

    pub fn heads(&self) -> &[ChangeHash] {
        &self.heads
    }
}

/// A heads-batch message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadsBatch {
    /// `gridsync-heads`: at most [`MAX_HEADS_BATCH_ENTRIES`] entries.
    Batch {
        sender_id: PeerId,
        target_id: PeerId,
        entries: Vec<HeadsEntry>,
    },
    /// `gridsync-heads-reply`: the batch's documents whose heads are equal.
    Reply {
        sender_id: PeerId,
        target_id: PeerId,
        same: Vec<DocumentId>,
    },
}

/// Why a message is not a well-formed heads-batch message. The receiver
/// refuses the peer that sent it; nothing is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadsBatchError {
    #[error("`{0}` is not a heads-batch message")]
    NotHeadsBatch(String),
    #[error("missing field `{field}` in `{message_type}` message")]
    MissingField {
        message_type: &'static str,
        field: &'static str,
    },
    #[error("field `{field}` of `{message_type}` message must be {expected}")]
    WrongType {
        message_type: &'static str,
        field: &'static str,
        expected: &'static str,
    },
    #[error("the heads batch ends inside an entry ({0} bytes left over)")]
    Truncated(usize),
    #[error("the heads reply's `same` holds {0} bytes, not a whole number of 16-byte document ids")]
    Ragged(usize),
    #[error("the heads batch has more than {MAX_HEADS_BATCH_ENTRIES} entries")]
    TooManyEntries,
}

/// The [`Message::Extension`] that carries `message`.
pub fn encode(message: &HeadsBatch) -> Message {
    let (type_name, sender_id, target_id, payload_key, payload) = match message {
        HeadsBatch::Batch {
            sender_id,
            target_id,
            entries,
        } => {
            let len = entries
                .iter()
                .map(|e| DOC_BYTES + 1 + HASH_BYTES * e.heads.len())
                .sum();
            let mut bytes = Vec::with_capacity(len);
            for entry in entries {
                bytes.extend_from_slice(entry.doc.as_bytes());
                bytes.push(u8::try_from(entry.heads.len()).expect("HeadsEntry::new bounds it"));
                for hash in &entry.heads {
                    bytes.extend_from_slice(&hash.0);
                }
            }
            (HEADS_MESSAGE, sender_id, target_id, "heads", bytes)
        }
        HeadsBatch::Reply {
            sender_id,
            target_id,
            same,
        } => {
            let bytes = same.iter().flat_map(|d| *d.as_bytes()).collect();
            (HEADS_REPLY, sender_id, target_id, "same", bytes)
        }
    };
    let fields = BTreeMap::from([
        ("senderId".to_owned(), Value::Text(sender_id.to_string())),
        ("targetId".to_owned(), Value::Text(target_id.to_string())),
        (payload_key.to_owned(), Value::Bytes(payload)),
    ]);
    Message::Extension {
        type_name: type_name.to_owned(),
        fields,
    }
}

/// The heads-batch message `message` carries. Any other message, v1 or
/// extension, is [`HeadsBatchError::NotHeadsBatch`].
pub fn decode(message: &Message) -> Result<HeadsBatch, HeadsBatchError> {
    let Message::Extension { type_name, fields } = message else {
        return Err(HeadsBatchError::NotHeadsBatch(
            message.type_name().to_owned(),
        ));
    };
    let message_type = match type_name.as_str() {
        HEADS_MESSAGE => HEADS_MESSAGE,
        HEADS_REPLY => HEADS_REPLY,
        other => return Err(HeadsBatchError::NotHeadsBatch(other.to_owned())),
    };
    let field = |field: &'static str| {
        fields.get(field).ok_or(HeadsBatchError::MissingField {
            message_type,
            field,
        })
    };
    let wrong = |field: &'static str, expected: &'static str| HeadsBatchError::WrongType {
        message_type,
        field,
        expected,
    };
    let peer = |key: &'static str| match field(key)? {
        Value::Text(t) => Ok(PeerId::from(t.as_str())),
        _ => Err(wrong(key, "text")),
    };
    let bytes = |key: &'static str| match field(key)? {
        Value::Bytes(b) => Ok(b.as_slice()),
        _ => Err(wrong(key, "a byte string")),
    };
    let (sender_id, target_id) = (peer("senderId")?, peer("targetId")?);
    if message_type == HEADS_MESSAGE {
        Ok(HeadsBatch::Batch {
            sender_id,
            target_id,
            entries: decode_entries(bytes("heads")?)?,
        })
    } else {
        let same = bytes("same")?;
        if same.len() % DOC_BYTES != 0 {
            return Err(HeadsBatchError::Ragged(same.len()));
        }
        Ok(HeadsBatch::Reply {
            sender_id,
            target_id,
            same: same
                .chunks_exact(DOC_BYTES)
                .map(|c| DocumentId::from_bytes(c.try_into().expect("16 bytes")))
                .collect(),
        })
    }
}

/// The entries of a `heads` byte string.
fn decode_entries(mut rest: &[u8]) -> Result<Vec<HeadsEntry>, HeadsBatchError> {
    let mut entries = Vec::new();
    while !rest.is_empty() {
        if entries.len() == MAX_HEADS_BATCH_ENTRIES {
            return Err(HeadsBatchError::TooManyEntries);
        }
        let Some((&count, after_doc)) = rest.get(DOC_BYTES..).and_then(|tail| tail.split_first())
        else {
            return Err(HeadsBatchError::Truncated(rest.len()));
        };
        let hashes_len = HASH_BYTES * usize::from(count);
        let Some(hashes) = after_doc.get(..hashes_len) else {
            return Err(HeadsBatchError::Truncated(rest.len()));
        };
        let doc = DocumentId::from_bytes(rest[..DOC_BYTES].try_into().expect("16 bytes"));
        let heads = hashes
            .chunks_exact(HASH_BYTES)
            .map(|c| ChangeHash(c.try_into().expect("32 bytes")))
            .collect();
        entries.push(HeadsEntry { doc, heads });
        rest = &after_doc[hashes_len..];
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;
    use crate::protocol::{decode_with_extensions, encode as encode_frame};
    use crate::sync::EXTENSION_MESSAGES;

    fn peer_id() -> impl Strategy<Value = PeerId> {
        any::<String>().prop_map(PeerId::from)
    }

    fn document_id() -> impl Strategy<Value = DocumentId> {
        any::<[u8; 16]>().prop_map(DocumentId::from_bytes)
    }

    fn entry() -> impl Strategy<Value = HeadsEntry> {
        (document_id(), vec(any::<[u8; 32]>(), 0..4)).prop_map(|(doc, heads)| {
            HeadsEntry::new(doc, heads.into_iter().map(ChangeHash).collect()).unwrap()
        })
    }

    fn heads_batch() -> impl Strategy<Value = HeadsBatch> {
        prop_oneof![
            (peer_id(), peer_id(), vec(entry(), 0..20)).prop_map(|(s, t, entries)| {
                HeadsBatch::Batch {
                    sender_id: s,
                    target_id: t,
                    entries,
                }
            }),
            (peer_id(), peer_id(), vec(document_id(), 0..20)).prop_map(|(s, t, same)| {
                HeadsBatch::Reply {
                    sender_id: s,
                    target_id: t,
                    same,
                }
            }),
        ]
    }

    fn extension(type_name: &str, payload_key: &str, payload: Vec<u8>) -> Message {
        Message::Extension {
            type_name: type_name.to_owned(),
            fields: BTreeMap::from([
                ("senderId".to_owned(), Value::Text("phone".into())),
                ("targetId".to_owned(), Value::Text("relay".into())),
                (payload_key.to_owned(), Value::Bytes(payload)),
            ]),
        }
    }

    proptest! {
        #[test]
        fn heads_batch_round_trips_through_a_frame(message in heads_batch()) {
            let frame = encode_frame(&encode(&message));
            let carried = decode_with_extensions(&frame, EXTENSION_MESSAGES).unwrap();
            prop_assert_eq!(decode(&carried), Ok(message));
        }

        #[test]
        fn heads_batch_decode_never_panics_on_arbitrary_payloads(
            payload in vec(any::<u8>(), 0..600),
            reply in any::<bool>(),
        ) {
            let message = if reply {
                extension(HEADS_REPLY, "same", payload)
            } else {
                extension(HEADS_MESSAGE, "heads", payload)
            };
            match decode(&message) {
                // Whatever decodes encodes back to the same message.
                Ok(decoded) => prop_assert_eq!(encode(&decoded), message),
                Err(e) => prop_assert!(
                    matches!(e, HeadsBatchError::Truncated(_) | HeadsBatchError::Ragged(_)),
                    "{}", e
                ),
            }
        }

        #[test]
        fn heads_batch_decode_never_panics_on_arbitrary_frames(bytes in vec(any::<u8>(), 0..256)) {
            if let Ok(message) = decode_with_extensions(&bytes, EXTENSION_MESSAGES) {
                match decode(&message) {
                    Ok(decoded) => prop_assert_eq!(decode(&encode(&decoded)), Ok(decoded)),
                    Err(e) => prop_assert!(!e.to_string().is_empty()),
                }
            }
        }
    }

    #[test]
    fn the_entry_layout_is_id_count_hashes() {
        let doc = DocumentId::from_bytes([1; 16]);
        let entry = HeadsEntry::new(doc, vec![ChangeHash([2; 32]), ChangeHash([3; 32])]).unwrap();
        let message = encode(&HeadsBatch::Batch {
            sender_id: PeerId::from("phone"),
            target_id: PeerId::from("relay"),
            entries: vec![entry],
        });
        let Message::Extension { type_name, fields } = &message else {
            unreachable!("encode makes an extension message")
        };
        assert_eq!(type_name, HEADS_MESSAGE);
        let mut want = vec![1; 16];
        want.push(2);
        want.extend([2; 32]);
        want.extend([3; 32]);
        assert_eq!(fields["heads"], Value::Bytes(want));
        assert_eq!(fields["senderId"], Value::Text("phone".into()));
        assert_eq!(fields["targetId"], Value::Text("relay".into()));
    }

    #[test]
    fn malformed_payloads_are_refused() {
        let mut short = vec![9; 16];
        short.push(1);
        short.extend([0; 31]);
        assert_eq!(
            decode(&extension(HEADS_MESSAGE, "heads", short)),
            Err(HeadsBatchError::Truncated(48))
        );
        assert_eq!(
            decode(&extension(HEADS_MESSAGE, "heads", vec![0; 16])),
            Err(HeadsBatchError::Truncated(16))
        );
        assert_eq!(
            decode(&extension(HEADS_REPLY, "same", vec![0; 17])),
            Err(HeadsBatchError::Ragged(17))
        );
        assert_eq!(
            decode(&extension(HEADS_MESSAGE, "same", vec![])),
            Err(HeadsBatchError::MissingField {
                message_type: HEADS_MESSAGE,
                field: "heads"
            })
        );
        let mut text_payload = extension(HEADS_REPLY, "same", vec![]);
        if let Message::Extension { fields, .. } = &mut text_payload {
            fields.insert("same".into(), Value::Text("x".into()));
        }
        assert!(matches!(
            decode(&text_payload),
            Err(HeadsBatchError::WrongType { field: "same", .. })
        ));
        assert_eq!(
            decode(&Message::Leave {
                sender_id: PeerId::from("p")
            }),
            Err(HeadsBatchError::NotHeadsBatch("leave".into()))
        );
    }

    #[test]
    fn a_batch_over_the_bound_is_refused_and_one_at_it_is_not() {
        let entry = |i: usize| {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&(i as u64).to_be_bytes());
            HeadsEntry::new(DocumentId::from_bytes(bytes), vec![ChangeHash([5; 32])]).unwrap()
        };
        let batch = |n: usize| {
            encode(&HeadsBatch::Batch {
                sender_id: PeerId::from("phone"),
                target_id: PeerId::from("relay"),
                entries: (0..n).map(entry).collect(),
            })
        };
        assert!(decode(&batch(MAX_HEADS_BATCH_ENTRIES)).is_ok());
        assert_eq!(
            decode(&batch(MAX_HEADS_BATCH_ENTRIES + 1)),
            Err(HeadsBatchError::TooManyEntries)
        );
    }

    #[test]
    fn an_entry_holds_at_most_255_heads() {
        let doc = DocumentId::random();
        assert!(HeadsEntry::new(doc, vec![ChangeHash([0; 32]); MAX_HEADS_PER_ENTRY]).is_some());
        assert!(HeadsEntry::new(doc, vec![ChangeHash([0; 32]); MAX_HEADS_PER_ENTRY + 1]).is_none());
    }
}
