//! What crosses between the connection tasks and the hub thread: the
//! hub's inputs, each connection's outbound queue and kill switch, and how
//! a connection is closed.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use client_core::clip::clip;
use client_core::protocol::{Message, PeerId, PeerMetadata};
use tokio::sync::{mpsc, oneshot};

use crate::audit::AuditRecord;
use crate::auth::Principal;
use crate::budget::Held;

/// One WebSocket connection's number, unique in this process. A peer id
/// may reconnect on a new connection before the old one is gone; inputs
/// from a replaced connection are recognised by this and ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ConnId(u64);

impl ConnId {
    pub(crate) fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What a connection task tells the hub thread.
#[derive(Debug)]
pub(crate) enum Input {
    /// A peer completed its handshake on `conn`.
    Connect {
        conn: ConnId,
        peer: PeerId,
        metadata: PeerMetadata,
        link: Link,
        /// Who the connection authenticated as; `None` on an open relay.
        principal: Option<Arc<Principal>>,
    },
    /// A frame from the peer bound to `conn`.
    Frame {
        conn: ConnId,
        peer: PeerId,
        message: Message,
        /// The frame's bytes in the hub queue's budget, given back when
        /// the input is dropped after handling.
        held: Held,
    },
    /// The connection is gone.
    Disconnect { conn: ConnId, peer: PeerId },
    /// A row for the audit trail from outside the hub (a failed login).
    Audit(AuditRecord),
    /// The registry changed (it is now at `generation`): re-check the open
    /// connections' tokens and scopes, and whether tokens are required.
    Recheck { generation: u64 },
    /// The store is faulty: let it recover and try a small commit (sent on
    /// a backoff by [`crate::storage::probe`]).
    Probe,
    /// A records-API write to perform as its caller; answered on its
    /// oneshot (`relay/records.rs`).
    Write(Box<crate::api::write::WriteRequest>),
    /// Commit what is pending and end the thread (graceful shutdown).
    Stop,
}

/// How the hub thread reaches one connection.
#[derive(Debug)]
pub(crate) struct Link {
    /// Frames and the final close, in order; bounded by `outbound_queue`.
    pub outbound: mpsc::Sender<Outbound>,
    /// Closes at once, skipping queued frames: for a connection that does
    /// not read, or that a newer connection of the same peer replaces.
    pub kill: oneshot::Sender<Close>,
    /// Bytes (by [`weight`]) of the frames in `outbound`: added when the
    /// hub queues a frame, taken off when the writer has sent it.
    pub queued: Arc<AtomicUsize>,
}

/// About how many bytes a frame takes on the wire (what a connection's
/// outbound byte bound counts).
pub(crate) fn weight(message: &Message) -> usize {
    const HEADER: usize = 128;
    HEADER
        + match message {
            Message::Sync { data, .. }
            | Message::Request { data, .. }
            | Message::Ephemeral { data, .. } => data.len(),
            Message::Error { message, .. } => message.len(),
            Message::Extension { fields, .. } => fields
                .values()
                .map(|v| match v {
                    ciborium::Value::Bytes(b) => b.len(),
                    ciborium::Value::Text(t) => t.len(),
                    _ => 16,
                })
                .sum(),
            _ => 0,
        }
}

/// An item in a connection's outbound queue.
#[derive(Debug)]
pub(crate) enum Outbound {
    Frame(Message),
    /// Close after the frames queued before.
    Close(Close),
}

/// Why a connection is closed, in terms the connection maps to a
/// WebSocket close code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Close {
    pub kind: CloseKind,
    pub reason: String,
}

impl Close {
    /// The reason is [`clip`]ped: it may quote what a client sent.
    pub(crate) fn new(kind: CloseKind, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Self {
            kind,
            reason: match clip(&reason) {
                std::borrow::Cow::Borrowed(_) => reason,
                std::borrow::Cow::Owned(cut) => cut,
            },
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CloseKind {
    /// Shutdown, `leave`, or replaced by a newer connection.
    Normal,
    /// The peer broke the protocol.
    Protocol,
    /// A text frame.
    Unsupported,
    /// Too slow: no `join`, no keepalive answer, or not reading.
    Policy,
    /// A frame over `max_frame_bytes`.
    TooBig,
    /// The relay's own fault (storage); the peer should retry.
    Internal,
}
