//! The messages of automerge-repo's v1 wire protocol, as Rust types.

use std::collections::BTreeMap;
use std::fmt;

use ciborium::Value;

use crate::ids::DocumentId;

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }
    };
}

text_id!(
    /// A peer's id: opaque text chosen by the peer itself (automerge-repo
    /// makes random text; it is not validated on the wire).
    PeerId
);
text_id!(
    /// A storage id: opaque text naming one peer's persistent storage, used
    /// to gossip which heads each store has seen.
    StorageId
);

/// What a peer says about itself in `join` and `peer`.
///
/// Keys this crate does not know are kept in `extra`, so capabilities that
/// peers negotiate here (see the module docs on extensions) survive a decode
/// and re-encode.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeerMetadata {
    /// The sender's storage id, if it has persistent storage.
    pub storage_id: Option<StorageId>,
    /// Whether the sender will not come back with the same storage.
    pub is_ephemeral: Option<bool>,
    /// Every other key, as sent.
    pub extra: BTreeMap<String, Value>,
}

/// The heads one storage had of a document, and when the sender learned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadsInfo {
    /// Change hashes, as automerge-repo encodes them (bs58check text).
    pub heads: Vec<String>,
    /// Milliseconds since the Unix epoch on the sending peer.
    pub timestamp: u64,
}

/// One frame of the v1 protocol.
///
/// Field names follow the JS keys (`sender_id` is `senderId` on the wire).
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// First frame from the connecting peer.
    Join {
        sender_id: PeerId,
        supported_protocol_versions: Vec<String>,
        peer_metadata: PeerMetadata,
    },
    /// The accepting peer's answer to `join`.
    Peer {
        sender_id: PeerId,
        target_id: PeerId,
        selected_protocol_version: String,
        peer_metadata: PeerMetadata,
    },
    /// A protocol error; the sender closes the connection after it. The JS
    /// server includes `senderId` and `targetId`, the spec does not.
    Error {
        sender_id: Option<PeerId>,
        target_id: Option<PeerId>,
        message: String,
    },
    /// Advisory: the sender is about to disconnect.
    Leave { sender_id: PeerId },
    /// An automerge sync message for one document.
    Sync {
        sender_id: PeerId,
        target_id: PeerId,
        document_id: DocumentId,
        data: Vec<u8>,
    },
    /// Like `sync`, but the sender does not have the document and wants
    /// `doc-unavailable` back if the target has no copy either.
    Request {
        sender_id: PeerId,
        target_id: PeerId,
        document_id: DocumentId,
        data: Vec<u8>,
    },
    /// Neither the sender nor any of its peers has the document.
    DocUnavailable {
        sender_id: PeerId,
        target_id: PeerId,
        document_id: DocumentId,
    },
    /// Application data about a document that is relayed, never stored.
    /// `(sender_id, session_id, count)` identifies it for de-duplication.
    Ephemeral {
        sender_id: PeerId,
        target_id: PeerId,
        count: u64,
        session_id: String,
        document_id: DocumentId,
        data: Vec<u8>,
    },
    /// Change which storages' heads the sender wants to hear about.
    RemoteSubscriptionChange {
        sender_id: PeerId,
        target_id: PeerId,
        add: Option<Vec<StorageId>>,
        remove: Option<Vec<StorageId>>,
    },
    /// Heads of a document that other storages have reached.
    RemoteHeadsChanged {
        sender_id: PeerId,
        target_id: PeerId,
        document_id: DocumentId,
        new_heads: BTreeMap<StorageId, HeadsInfo>,
    },
    /// A message type outside v1, decoded only by
    /// [`decode_with_extensions`](super::decode_with_extensions) for the
    /// names it was given. `fields` holds every key but `type`; a `type` key
    /// in it is ignored when encoding. `type_name` must not be a v1 type.
    Extension {
        type_name: String,
        fields: BTreeMap<String, Value>,
    },
}

/// The `type` of every v1 message.
pub(crate) const V1_TYPES: [&str; 10] = [
    "join",
    "peer",
    "error",
    "leave",
    "sync",
    "request",
    "doc-unavailable",
    "ephemeral",
    "remote-subscription-change",
    "remote-heads-changed",
];

impl Message {
    /// The `type` key on the wire.
    pub fn type_name(&self) -> &str {
        match self {
            Message::Join { .. } => "join",
            Message::Peer { .. } => "peer",
            Message::Error { .. } => "error",
            Message::Leave { .. } => "leave",
            Message::Sync { .. } => "sync",
            Message::Request { .. } => "request",
            Message::DocUnavailable { .. } => "doc-unavailable",
            Message::Ephemeral { .. } => "ephemeral",
            Message::RemoteSubscriptionChange { .. } => "remote-subscription-change",
            Message::RemoteHeadsChanged { .. } => "remote-heads-changed",
            Message::Extension { type_name, .. } => type_name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_are_the_v1_types() {
        let peer = PeerId::from("p");
        let doc = DocumentId::from_bytes([7; 16]);
        let messages = [
            Message::Join {
                sender_id: peer.clone(),
                supported_protocol_versions: vec![],
                peer_metadata: PeerMetadata::default(),
            },
            Message::Peer {
                sender_id: peer.clone(),
                target_id: peer.clone(),
                selected_protocol_version: "1".into(),
                peer_metadata: PeerMetadata::default(),
            },
            Message::Error {
                sender_id: None,
                target_id: None,
                message: "boom".into(),
            },
            Message::Leave {
                sender_id: peer.clone(),
            },
            Message::Sync {
                sender_id: peer.clone(),
                target_id: peer.clone(),
                document_id: doc,
                data: vec![1],
            },
            Message::Request {
                sender_id: peer.clone(),
                target_id: peer.clone(),
                document_id: doc,
                data: vec![1],
            },
            Message::DocUnavailable {
                sender_id: peer.clone(),
                target_id: peer.clone(),
                document_id: doc,
            },
            Message::Ephemeral {
                sender_id: peer.clone(),
                target_id: peer.clone(),
                count: 1,
                session_id: "s".into(),
                document_id: doc,
                data: vec![1],
            },
            Message::RemoteSubscriptionChange {
                sender_id: peer.clone(),
                target_id: peer.clone(),
                add: None,
                remove: None,
            },
            Message::RemoteHeadsChanged {
                sender_id: peer.clone(),
                target_id: peer,
                document_id: doc,
                new_heads: BTreeMap::new(),
            },
        ];
        let names: Vec<&str> = messages.iter().map(Message::type_name).collect();
        assert_eq!(names, V1_TYPES);
    }

    #[test]
    fn ids_show_their_text() {
        let peer = PeerId::new("peer-1");
        assert_eq!(peer.to_string(), "peer-1");
        assert_eq!(format!("{peer:?}"), "PeerId(\"peer-1\")");
        assert_eq!(StorageId::from("s".to_owned()).as_str(), "s");
    }
}
