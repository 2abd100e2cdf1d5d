//! Why a frame could not be decoded.

use super::decode::MAX_DEPTH;
use crate::ids::IdError;

/// Why bytes are not a v1 message. Every variant is a reason to answer
/// with an `error` message (or drop the frame), never to crash.
///
/// Messages name their cause, so no field is also the error's `source()`:
/// a chain printer (anyhow's `{:#}`) shows every cause once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not valid CBOR: {0}")]
    Cbor(CborError),
    #[error("{0} bytes follow the message's CBOR map")]
    TrailingBytes(usize),
    #[error("a message must be a CBOR map, found {0}")]
    NotAMap(&'static str),
    #[error("the message has no `type` field")]
    MissingType,
    #[error("the message's `type` must be text, found {0}")]
    TypeNotText(&'static str),
    /// A `type` this side does not speak; answer with an `error` message.
    #[error("unknown message type `{0}`")]
    UnknownType(String),
    #[error("missing field `{field}` in `{message_type}` message")]
    MissingField { message_type: String, field: String },
    #[error("field `{field}` of `{message_type}` message must be {expected}, found {found}")]
    WrongType {
        message_type: String,
        field: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("field `documentId` of `{message_type}` message: {cause}")]
    InvalidDocumentId {
        message_type: String,
        cause: IdError,
    },
}

/// What ciborium found wrong with the bytes. Its own error is not kept: it
/// holds an `io::Error` (neither `Clone` nor `Eq`) that, reading from a
/// slice, only ever says the bytes ended early, which is [`Self::Truncated`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CborError {
    #[error("the frame ends inside a CBOR item")]
    Truncated,
    #[error("malformed CBOR at byte {at}")]
    Syntax { at: usize },
    /// Well-formed CBOR that ciborium cannot represent (`what` is its text).
    #[error("{what}{}", at.map(|at| format!(" at byte {at}")).unwrap_or_default())]
    Semantic { at: Option<usize>, what: String },
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

impl From<ciborium::de::Error<std::io::Error>> for CborError {
    fn from(err: ciborium::de::Error<std::io::Error>) -> Self {
        use ciborium::de::Error;
        match err {
            Error::Io(_) => CborError::Truncated,
            Error::Syntax(at) => CborError::Syntax { at },
            Error::Semantic(at, what) => CborError::Semantic { at, what },
            Error::RecursionLimitExceeded => CborError::TooDeep,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_field_and_the_message() {
        let err = DecodeError::WrongType {
            message_type: "sync".into(),
            field: "data".into(),
            expected: "a byte string",
            found: "text",
        };
        assert_eq!(
            err.to_string(),
            "field `data` of `sync` message must be a byte string, found text"
        );
        let err = DecodeError::MissingField {
            message_type: "join".into(),
            field: "senderId".into(),
        };
        assert_eq!(
            err.to_string(),
            "missing field `senderId` in `join` message"
        );
    }
}
