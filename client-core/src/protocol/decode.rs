//! CBOR bytes to [`Message`], as leniently as the JS decoder reads them.
//!
//! Accepted beyond the strict shape, because JS peers send them: floats for
//! integer fields (cbor-x writes integers above 2³² as float64), `null` or
//! `undefined` for absent optional keys, byte strings wrapped in the
//! typed-array tags 64/68, unknown keys (ignored), and repeated keys (the
//! last one wins, as in JS).
//!
//! Memory stays linear in the frame length: ciborium grows buffers as bytes
//! arrive rather than trusting length prefixes, and nesting is capped at
//! [`MAX_DEPTH`]. Capping the frame length itself is the transport's job.

use std::collections::BTreeMap;

use ciborium::Value;

use super::error::DecodeError;
use super::message::{HeadsInfo, Message, PeerId, PeerMetadata, StorageId, V1_TYPES};
use crate::ids::DocumentId;

/// Deepest CBOR nesting accepted; v1 frames need 4 levels.
pub const MAX_DEPTH: usize = 32;

/// RFC 8746 typed-array tags whose content is plain bytes: cbor-x tags
/// `Uint8Array` with 64 unless told `tagUint8Array: false`.
const BYTE_ARRAY_TAGS: [u64; 2] = [64, 68];

/// Decodes one frame holding exactly one v1 message.
///
/// Any other `type` is [`DecodeError::UnknownType`].
pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
    decode_with_extensions(bytes, &[])
}

/// Like [`decode`], but a frame whose `type` is one of `extensions` becomes
/// [`Message::Extension`]. Pass only the extensions negotiated with this
/// peer. v1 types always decode as v1, whatever `extensions` holds.
pub fn decode_with_extensions(bytes: &[u8], extensions: &[&str]) -> Result<Message, DecodeError> {
    let mut rest = bytes;
    let value: Value =
        ciborium::de::from_reader_with_recursion_limit(&mut rest, MAX_DEPTH).map_err(cbor_error)?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes(rest.len()));
    }
    let Value::Map(entries) = value else {
        return Err(DecodeError::NotAMap(kind(&value)));
    };
    let mut fields = Fields {
        message_type: String::new(),
        prefix: String::new(),
        entries,
    };
    fields.message_type = match fields.take("type") {
        Some(Value::Text(t)) => t,
        Some(other) => return Err(DecodeError::TypeNotText(kind(&other))),
        None => return Err(DecodeError::MissingType),
    };
    let name = fields.message_type.as_str();
    if !V1_TYPES.contains(&name) && extensions.contains(&name) {
        return Ok(fields.into_extension());
    }
    fields.v1_message()
}

fn cbor_error(err: ciborium::de::Error<std::io::Error>) -> DecodeError {
    DecodeError::Cbor(err.into())
}

/// What a CBOR value is, for error messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Integer(_) => "an integer",
        Value::Bytes(_) => "a byte string",
        Value::Float(_) => "a float",
        Value::Text(_) => "text",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
        Value::Tag(..) => "a tagged value",
        Value::Array(_) => "an array",
        Value::Map(_) => "a map",
        _ => "an unknown CBOR value",
    }
}

/// The keys of one CBOR map, taken out one by one.
struct Fields {
    message_type: String,
    /// Path of this map inside the message, for error messages (`newHeads.x.`).
    prefix: String,
    entries: Vec<(Value, Value)>,
}

impl Fields {
    /// Removes `key` (its last occurrence) and returns its value; `null` and
    /// `undefined` (which ciborium reads as `Null`) count as absent.
    fn take(&mut self, key: &str) -> Option<Value> {
        let at = self
            .entries
            .iter()
            .rposition(|(k, _)| matches!(k, Value::Text(t) if t == key))?;
        match self.entries.remove(at).1 {
            Value::Null => None,
            value => Some(value),
        }
    }

    fn required(&mut self, key: &str) -> Result<Value, DecodeError> {
        self.take(key).ok_or_else(|| DecodeError::MissingField {
            message_type: self.message_type.clone(),
            field: format!("{}{key}", self.prefix),
        })
    }

    fn wrong(&self, field: &str, expected: &'static str, found: &Value) -> DecodeError {
        DecodeError::WrongType {
            message_type: self.message_type.clone(),
            field: format!("{}{field}", self.prefix),
            expected,
            found: kind(found),
        }
    }

    fn text_value(&self, field: &str, value: Value) -> Result<String, DecodeError> {
        match value {
            Value::Text(t) => Ok(t),
            other => Err(self.wrong(field, "text", &other)),
        }
    }

    fn text(&mut self, key: &str) -> Result<String, DecodeError> {
        let value = self.required(key)?;
        self.text_value(key, value)
    }

    fn opt_text(&mut self, key: &str) -> Result<Option<String>, DecodeError> {
        self.take(key)
            .map(|value| self.text_value(key, value))
            .transpose()
    }

    fn peer(&mut self, key: &str) -> Result<PeerId, DecodeError> {
        self.text(key).map(PeerId::from)
    }

    fn document_id(&mut self) -> Result<DocumentId, DecodeError> {
        self.text("documentId")?
            .parse()
            .map_err(|cause| DecodeError::InvalidDocumentId {
                message_type: self.message_type.clone(),
                cause,
            })
    }

    fn bytes(&mut self, key: &str) -> Result<Vec<u8>, DecodeError> {
        match self.required(key)? {
            Value::Bytes(b) => Ok(b),
            Value::Tag(tag, inner) if BYTE_ARRAY_TAGS.contains(&tag) => match *inner {
                Value::Bytes(b) => Ok(b),
                other => Err(self.wrong(key, "a byte string", &other)),
            },
            other => Err(self.wrong(key, "a byte string", &other)),
        }
    }

    /// A non-negative integer, sent as a CBOR integer or an integral float.
    fn uint(&mut self, key: &str) -> Result<u64, DecodeError> {
        const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
        match self.required(key)? {
            Value::Integer(i) => u64::try_from(i)
                .map_err(|_| self.wrong(key, "a non-negative integer", &Value::Integer(i))),
            Value::Float(f) if (0.0..TWO_POW_64).contains(&f) && f.fract() == 0.0 => Ok(f as u64),
            other => Err(self.wrong(key, "a non-negative integer", &other)),
        }
    }

    fn text_list(&mut self, key: &str) -> Result<Vec<String>, DecodeError> {
        let value = self.required(key)?;
        self.text_list_value(key, value)
    }

    fn text_list_value(&self, key: &str, value: Value) -> Result<Vec<String>, DecodeError> {
        let Value::Array(items) = value else {
            return Err(self.wrong(key, "an array of text", &value));
        };
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| self.text_value(&format!("{key}[{i}]"), item))
            .collect()
    }

    fn storage_ids(&mut self, key: &str) -> Result<Option<Vec<StorageId>>, DecodeError> {
        let Some(value) = self.take(key) else {
            return Ok(None);
        };
        let ids = self.text_list_value(key, value)?;
        Ok(Some(ids.into_iter().map(StorageId::from).collect()))
    }

    /// The map under `key`, as `Fields` whose errors name `key.`.
    fn nested(&self, key: &str, value: Value) -> Result<Fields, DecodeError> {
        match value {
            Value::Map(entries) => Ok(Fields {
                message_type: self.message_type.clone(),
                prefix: format!("{}{key}.", self.prefix),
                entries,
            }),
            other => Err(self.wrong(key, "a map", &other)),
        }
    }

    fn peer_metadata(&mut self) -> Result<PeerMetadata, DecodeError> {
        let Some(value) = self.take("peerMetadata") else {
            return Ok(PeerMetadata::default());
        };
        let mut meta = self.nested("peerMetadata", value)?;
        let storage_id = meta.opt_text("storageId")?.map(StorageId::from);
        let is_ephemeral = match meta.take("isEphemeral") {
            None => None,
            Some(Value::Bool(b)) => Some(b),
            Some(other) => return Err(meta.wrong("isEphemeral", "a boolean", &other)),
        };
        let extra = meta.into_text_keyed();
        Ok(PeerMetadata {
            storage_id,
            is_ephemeral,
            extra,
        })
    }

    fn new_heads(&mut self) -> Result<BTreeMap<StorageId, HeadsInfo>, DecodeError> {
        let value = self.required("newHeads")?;
        let heads_by_storage = self.nested("newHeads", value)?;
        let mut new_heads = BTreeMap::new();
        for (key, value) in heads_by_storage.entries {
            let Value::Text(storage_id) = key else {
                return Err(self.wrong("newHeads", "a map keyed by text", &key));
            };
            let mut info = self.nested(&format!("newHeads.{storage_id}"), value)?;
            let heads = info.text_list("heads")?;
            let timestamp = info.uint("timestamp")?;
            new_heads.insert(StorageId::from(storage_id), HeadsInfo { heads, timestamp });
        }
        Ok(new_heads)
    }

    /// The remaining text-keyed entries (later duplicates win).
    fn into_text_keyed(self) -> BTreeMap<String, Value> {
        self.entries
            .into_iter()
            .filter_map(|(k, v)| match k {
                Value::Text(k) => Some((k, v)),
                _ => None,
            })
            .collect()
    }

    fn into_extension(mut self) -> Message {
        while self.take("type").is_some() {}
        let type_name = std::mem::take(&mut self.message_type);
        Message::Extension {
            type_name,
            fields: self.into_text_keyed(),
        }
    }

    fn v1_message(mut self) -> Result<Message, DecodeError> {
        let message_type = self.message_type.clone();
        Ok(match message_type.as_str() {
            "join" => Message::Join {
                sender_id: self.peer("senderId")?,
                supported_protocol_versions: self.text_list("supportedProtocolVersions")?,
                peer_metadata: self.peer_metadata()?,
            },
            "peer" => Message::Peer {
                sender_id: self.peer("senderId")?,
                target_id: self.peer("targetId")?,
                selected_protocol_version: self.text("selectedProtocolVersion")?,
                peer_metadata: self.peer_metadata()?,
            },
            "error" => Message::Error {
                sender_id: self.opt_text("senderId")?.map(PeerId::from),
                target_id: self.opt_text("targetId")?.map(PeerId::from),
                message: self.text("message")?,
            },
            "leave" => Message::Leave {
                sender_id: self.peer("senderId")?,
            },
            "sync" => Message::Sync {
                sender_id: self.peer("senderId")?,
                target_id: self.peer("targetId")?,
                document_id: self.document_id()?,
                data: self.bytes("data")?,
            },
            "request" => Message::Request {
                sender_id: self.peer("senderId")?,
                target_id: self.peer("targetId")?,
                document_id: self.document_id()?,
                data: self.bytes("data")?,
            },
            "doc-unavailable" => Message::DocUnavailable {
                sender_id: self.peer("senderId")?,
                target_id: self.peer("targetId")?,
                document_id: self.document_id()?,
            },
            "ephemeral" => Message::Ephemeral {
                sender_id: self.peer("senderId")?,
                target_id: self.peer("targetId")?,
                count: self.uint("count")?,
                session_id: self.text("sessionId")?,
                document_id: self.document_id()?,
                data: self.bytes("data")?,
            },
            "remote-subscription-change" => Message::RemoteSubscriptionChange {
                sender_id: self.peer("senderId")?,
                target_id: self.peer("targetId")?,
                add: self.storage_ids("add")?,
                remove: self.storage_ids("remove")?,
            },
            "remote-heads-changed" => Message::RemoteHeadsChanged {
                sender_id: self.peer("senderId")?,
                target_id: self.peer("targetId")?,
                document_id: self.document_id()?,
                new_heads: self.new_heads()?,
            },
            _ => return Err(DecodeError::UnknownType(message_type)),
        })
    }
}
