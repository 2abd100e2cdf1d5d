//! Newtype identifiers shared by every layer.
//!
//! A [`DocumentId`] is 16 UUID bytes, written as bs58check text exactly as
//! automerge-repo does, so `automerge:<id>` URLs are interchangeable with the
//! JS client and samod. Ticket ids are UUIDs made on the device; a ticket's
//! document id *is* its ticket id, so a retried create can never duplicate.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Namespace for ids derived from names (grid indexes, visit logs,
/// tickets' private documents).
const GRIDSYNC_NAMESPACE: Uuid = Uuid::from_bytes([
    0x6b, 0x1f, 0x3c, 0x52, 0x0d, 0x8e, 0x4a, 0x51, 0x9a, 0x2b, 0x77, 0x41, 0x2e, 0x90, 0xc3, 0x15,
]);

/// Why a piece of text is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error(
        "`{0}` is not a document id: expected bs58check text of 16 bytes (or `automerge:<id>`)"
    )]
    DocumentId(String),
    #[error("`{0}` is not a UUID")]
    Uuid(String),
    #[error(
        "`{0}` is not a grid code: use 1 to 64 letters, digits, `-` or `_` (for example `GL-03-07`)"
    )]
    GridCode(String),
}

/// An automerge-repo document id: 16 bytes, shown as bs58check text.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentId([u8; 16]);

impl DocumentId {
    pub fn random() -> Self {
        Self(*Uuid::new_v4().as_bytes())
    }

    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// A stable id derived from a name, identical on every device, so a
    /// document can be addressed offline before anyone has synced it.
    pub fn derived(name: &str) -> Self {
        Self(*Uuid::new_v5(&GRIDSYNC_NAMESPACE, name.as_bytes()).as_bytes())
    }

    /// Whether the id has the form [`Self::derived`] gives (a name-based
    /// UUID, version 5): such ids belong to grid indexes, visit logs and
    /// tickets' private documents,
    /// while tickets and the documents automerge-repo creates get random
    /// ones (version 4), so no ticket can occupy a derived id.
    pub fn is_name_derived(&self) -> bool {
        Uuid::from_bytes(self.0).get_version_num() == 5
    }

    /// `automerge:<id>`, the URL form used by automerge-repo.
    pub fn url(&self) -> String {
        format!("automerge:{self}")
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(self.0).with_check().into_string())
    }
}

impl fmt::Debug for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentId({self})")
    }
}

impl FromStr for DocumentId {
    type Err = IdError;

    /// Accepts bare bs58check text or an `automerge:` URL (a `#heads` suffix
    /// is ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bare = s.strip_prefix("automerge:").unwrap_or(s);
        let bare = bare.split('#').next().unwrap_or(bare);
        let bytes = bs58::decode(bare)
            .with_check(None)
            .into_vec()
            .map_err(|_| IdError::DocumentId(s.to_owned()))?;
        let bytes: [u8; 16] = bytes
            .try_into()
            .map_err(|_| IdError::DocumentId(s.to_owned()))?;
        Ok(Self(bytes))
    }
}

impl Serialize for DocumentId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DocumentId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub fn random() -> Self {
                Self(Uuid::new_v4())
            }
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }
            pub const fn uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|_| IdError::Uuid(s.to_owned()))
            }
        }
    };
}

uuid_id!(
    /// A ticket's id, made on the device that reported it.
    TicketId
);
uuid_id!(
    /// One visit record's id, made on the device.
    VisitId
);
uuid_id!(
    /// One lifecycle event's id (so resends and merges never duplicate it).
    EventId
);

impl TicketId {
    /// A ticket's document id is its ticket id.
    pub fn document_id(&self) -> DocumentId {
        DocumentId(*self.0.as_bytes())
    }

    pub fn from_document_id(id: &DocumentId) -> Self {
        Self(Uuid::from_bytes(id.0))
    }

    /// The id of the ticket's private document (the resident's contact),
    /// derived from the ticket id so every device addresses it offline.
    pub fn private_document_id(&self) -> DocumentId {
        DocumentId::derived(&format!("gridsync:ticket-private:{}", self.0))
    }
}

/// A grid's code, as the district assigns it (for example `GL-03-07`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GridCode(String);

impl GridCode {
    pub fn new(code: impl Into<String>) -> Result<Self, IdError> {
        let code = code.into();
        let valid = !code.is_empty()
            && code.len() <= 64
            && code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if valid {
            Ok(Self(code))
        } else {
            Err(IdError::GridCode(code))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The grid index document's id, derived from the code so every device
    /// can address it offline.
    pub fn index_document_id(&self) -> DocumentId {
        DocumentId::derived(&format!("gridsync:grid-index:{}", self.0))
    }
}

impl TryFrom<String> for GridCode {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<GridCode> for String {
    fn from(g: GridCode) -> Self {
        g.0
    }
}

impl FromStr for GridCode {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl fmt::Display for GridCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for GridCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GridCode({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn grid_index_id_is_stable_across_devices() {
        let a = GridCode::new("GL-03-07").unwrap();
        let b = GridCode::new("GL-03-07").unwrap();
        assert_eq!(a.index_document_id(), b.index_document_id());
        assert_ne!(
            a.index_document_id(),
            GridCode::new("GL-03-08").unwrap().index_document_id()
        );
    }

    #[test]
    fn document_id_rejects_bad_checksum() {
        let id = DocumentId::random().to_string();
        let mut broken = id.clone().into_bytes();
        let last = broken.last_mut().unwrap();
        *last = if *last == b'2' { b'3' } else { b'2' };
        let broken = String::from_utf8(broken).unwrap();
        assert!(broken.parse::<DocumentId>().is_err());
    }

    proptest! {
        #[test]
        fn document_id_text_round_trips(bytes in any::<[u8; 16]>()) {
            let id = DocumentId::from_bytes(bytes);
            prop_assert_eq!(id.to_string().parse::<DocumentId>().unwrap(), id);
            prop_assert_eq!(id.url().parse::<DocumentId>().unwrap(), id);
        }
    }
}
