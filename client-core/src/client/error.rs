//! Why a sync round failed.
//!
//! A variant whose message names its cause (`{0}`) keeps the cause as a
//! field without also returning it as `source()`, so a report that walks
//! the chain never prints it twice.

#[cfg(feature = "runtime")]
use tokio_tungstenite::tungstenite;

use crate::device::DeviceError;
use crate::protocol::DecodeError;
use crate::repo::RepoError;
use crate::store::StoreError;
use crate::sync::SyncError;

/// Why a sync round failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[cfg(feature = "runtime")]
    #[error(
        "could not reach the relay at {url}: {source}; check the address and your signal, then retry"
    )]
    Connect {
        url: String,
        source: Box<tungstenite::Error>,
    },
    #[error("the relay at {url} refused the connection: HTTP {status}{hint}")]
    Refused {
        url: String,
        status: u16,
        hint: &'static str,
    },
    #[error("timed out connecting to {0}; check the address and your signal, then retry")]
    ConnectTimeout(String),
    #[cfg(feature = "runtime")]
    #[error(
        "the stored token contains characters an HTTP header cannot carry; run `gridsync login` again"
    )]
    BadToken(#[source] tungstenite::http::header::InvalidHeaderValue),
    #[error("the relay broke the protocol: {0}")]
    Protocol(ProtocolError),
    #[error("the connection to the relay was lost: {0}")]
    Lost(Lost),
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error(transparent)]
    Sync(#[from] SyncError),
}

/// How the relay broke the protocol.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("no answer to `join`")]
    NoAnswer,
    /// The relay answered `join` with an `error` message (its text).
    #[error("{0}")]
    Rejected(String),
    /// The relay answered `join` with another message (its type).
    #[error("expected `peer`, got `{0}`")]
    Unexpected(String),
    #[error("undecodable frame from the relay: {0}")]
    Undecodable(DecodeError),
    /// The session's hub closed the connection (the hub's reason): the
    /// relay sent something it must not, or reported an error.
    #[error("{0}")]
    Closed(String),
}

/// How the connection was lost.
#[derive(Debug, thiserror::Error)]
pub enum Lost {
    #[cfg(feature = "runtime")]
    #[error("{0}")]
    Socket(Box<tungstenite::Error>),
    /// The stream ended without a close frame.
    #[error("{}", if *.handshake { "closed during the handshake" } else { "the relay closed the connection" })]
    Ended { handshake: bool },
    /// The relay sent a close frame.
    #[error(
        "{}: {}",
        if *.handshake { "closed during the handshake" } else { "the relay closed the connection" },
        if .reason.is_empty() && !*.handshake { "no reason given" } else { .reason.as_str() }
    )]
    Closed {
        code: u16,
        reason: String,
        handshake: bool,
    },
    /// The blocking thread that runs the session failed.
    #[cfg(feature = "runtime")]
    #[error("sync worker failed: {0}")]
    Worker(tokio::task::JoinError),
}

impl ClientError {
    /// A fault of this device (its database), not of the network or the
    /// relay: retrying will not help.
    pub fn is_local(&self) -> bool {
        matches!(self, ClientError::Device(_) | ClientError::Sync(_))
    }
}

impl From<ProtocolError> for ClientError {
    fn from(e: ProtocolError) -> Self {
        ClientError::Protocol(e)
    }
}

impl From<Lost> for ClientError {
    fn from(e: Lost) -> Self {
        ClientError::Lost(e)
    }
}

impl From<StoreError> for ClientError {
    fn from(e: StoreError) -> Self {
        ClientError::Sync(SyncError::Repo(RepoError::Store(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_happened_once() {
        let closed = ClientError::from(Lost::Closed {
            code: 1000,
            reason: "shutting down".into(),
            handshake: false,
        });
        assert_eq!(
            closed.to_string(),
            "the connection to the relay was lost: the relay closed the connection: shutting down"
        );
        let silent = Lost::Closed {
            code: 1000,
            reason: String::new(),
            handshake: false,
        };
        assert_eq!(
            silent.to_string(),
            "the relay closed the connection: no reason given"
        );
        assert_eq!(
            Lost::Ended { handshake: true }.to_string(),
            "closed during the handshake"
        );
        let undecodable = ClientError::from(ProtocolError::Undecodable(DecodeError::MissingType));
        assert_eq!(
            undecodable.to_string(),
            "the relay broke the protocol: undecodable frame from the relay: the message has no `type` field"
        );
        assert!(
            std::error::Error::source(&undecodable).is_none(),
            "named in the message, not repeated as a source"
        );
    }
}
