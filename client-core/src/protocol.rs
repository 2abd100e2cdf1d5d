//! The wire protocol of automerge-repo (v1), as its websocket adapter
//! speaks it: every websocket binary frame is one CBOR map with a text
//! `type` and camelCase keys. Wire-compatible with the JS
//! `@automerge/automerge-repo` 2.5.x and with samod.
//!
//! # Message flow
//!
//! 1. **Handshake.** The connecting peer sends `join` (its `senderId`,
//!    `supportedProtocolVersions` and `peerMetadata`: `storageId`,
//!    `isEphemeral`). The accepting peer answers `peer` with the
//!    [`negotiate`]d `selectedProtocolVersion` and its own metadata, or with
//!    `error` and closes if no version matches. Nothing else is sent before.
//! 2. **Sync.** A peer that has a document sends `sync` frames whose `data`
//!    is a raw automerge sync message; both sides answer each other until
//!    they have nothing new. A peer that lacks a document sends `request`
//!    (same shape) instead; the other answers `sync` if it has the document
//!    or can get it, else `doc-unavailable`.
//! 3. **Ephemeral.** `ephemeral` carries application data (presence, cursors)
//!    about a document. It is never stored: a peer relays it to its other
//!    peers unchanged, dropping any `(senderId, sessionId, count)` it has
//!    already seen so relays cannot loop.
//! 4. **Remote heads.** With gossiping on, `remote-subscription-change`
//!    says which storage ids' heads a peer wants, and
//!    `remote-heads-changed` reports the heads those storages reached.
//! 5. `leave` announces a disconnect; `error` precedes a close.
//!
//! # Extensions
//!
//! A message type outside v1 must be negotiated first: each side lists the
//! extensions it speaks under a key of its `peerMetadata` (unknown metadata
//! keys are kept in [`PeerMetadata::extra`]), and a peer sends an extension
//! message only to a peer that offered it. Never send one to a peer that did
//! not: samod disconnects on an unknown type, and the JS repo ignores it.
//! Decode such frames with [`decode_with_extensions`] listing the
//! negotiated names; plain [`decode`] returns [`DecodeError::UnknownType`],
//! which the caller answers with an `error` message rather than a crash.
//! GridSync's one extension, the heads batch, has its codec in
//! [`heads_batch`].
//!
//! ```
//! use automerge::sync::{State, SyncDoc};
//! use client_core::ids::DocumentId;
//! use client_core::protocol::{decode, encode, Message, PeerId};
//!
//! let mut doc = automerge::AutoCommit::new();
//! let first = doc.sync().generate_sync_message(&mut State::new()).unwrap();
//! let sync = Message::Sync {
//!     sender_id: PeerId::from("device-1"),
//!     target_id: PeerId::from("server"),
//!     document_id: DocumentId::random(),
//!     data: first.encode(),
//! };
//! let frame = encode(&sync);
//! assert_eq!(decode(&frame), Ok(sync));
//! ```

mod decode;
mod encode;
mod error;
pub mod heads_batch;
mod message;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
mod version;

pub use decode::{MAX_DEPTH, decode, decode_with_extensions};
pub use encode::encode;
pub use error::{CborError, DecodeError};
pub use message::{HeadsInfo, Message, PeerId, PeerMetadata, StorageId};
pub use version::{PROTOCOL_VERSION, negotiate};
