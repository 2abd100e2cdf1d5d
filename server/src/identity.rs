//! Who the relay is to its peers, kept in the store across restarts.
//!
//! Peers persist their sync states under the relay's storage id, and the
//! relay persists its sync states under theirs. Both ids are random on the
//! first start and read back afterwards, so after a restart a known peer
//! resumes from the shared heads it reached instead of starting over.

use client_core::protocol::{PeerId, PeerMetadata, StorageId};
use client_core::store::meta::{RELAY_PEER_ID, RELAY_STORAGE_ID};
use client_core::store::{Batch, Store, StoreError};

/// The relay's peer id and storage id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayIdentity {
    pub peer_id: PeerId,
    pub storage_id: StorageId,
}

impl RelayIdentity {
    /// Reads the identity from `store`'s meta, creating and committing one
    /// on the first start.
    pub fn load_or_create(store: &impl Store) -> Result<Self, StoreError> {
        let peer = store.meta(RELAY_PEER_ID)?.map(text).transpose()?;
        let storage = store.meta(RELAY_STORAGE_ID)?.map(text).transpose()?;
        let mut batch = Batch::new();
        let peer_id = peer.unwrap_or_else(|| {
            let id = format!("gridsync-relay-{}", uuid::Uuid::new_v4().simple());
            batch.put_meta(RELAY_PEER_ID, id.clone().into_bytes());
            id
        });
        let storage_id = storage.unwrap_or_else(|| {
            let id = uuid::Uuid::new_v4().to_string();
            batch.put_meta(RELAY_STORAGE_ID, id.clone().into_bytes());
            id
        });
        store.write(batch)?;
        Ok(Self {
            peer_id: PeerId::from(peer_id),
            storage_id: StorageId::from(storage_id),
        })
    }

    /// What the relay says about itself in `peer`: persistent storage.
    pub fn metadata(&self) -> PeerMetadata {
        PeerMetadata {
            storage_id: Some(self.storage_id.clone()),
            is_ephemeral: Some(false),
            ..PeerMetadata::default()
        }
    }
}

fn text(bytes: Vec<u8>) -> Result<String, StoreError> {
    String::from_utf8(bytes).map_err(|e| StoreError::decode("relay identity", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use client_core::store::MemoryStore;

    #[test]
    fn created_once_then_read_back() {
        let store = MemoryStore::new();
        let first = RelayIdentity::load_or_create(&store).unwrap();
        let again = RelayIdentity::load_or_create(&store).unwrap();
        assert_eq!(first, again);
        assert_eq!(
            store.meta(RELAY_STORAGE_ID).unwrap().unwrap(),
            first.storage_id.as_str().as_bytes()
        );
        let meta = first.metadata();
        assert_eq!(meta.storage_id, Some(first.storage_id.clone()));
        assert_eq!(meta.is_ephemeral, Some(false));
    }

    #[test]
    fn two_relays_differ() {
        let a = RelayIdentity::load_or_create(&MemoryStore::new()).unwrap();
        let b = RelayIdentity::load_or_create(&MemoryStore::new()).unwrap();
        assert_ne!(a.peer_id, b.peer_id);
        assert_ne!(a.storage_id, b.storage_id);
    }
}
