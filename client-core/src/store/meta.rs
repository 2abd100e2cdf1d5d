//! The keys of [`Store::meta`](super::Store::meta), all of them: a device's
//! database and the relay's have the same layout, so every key is named
//! here, once, and none is reused for another record.

/// The device's [`Identity`](crate::device::Identity), as JSON.
pub const IDENTITY: &str = "identity";
/// The device's automerge-repo storage id (text), made on the first sync;
/// the relay keeps its sync states with the device under it.
pub const STORAGE_ID: &str = "storage_id";
/// The relay URL `gridsync login` or `gridsync sync --server` last used (text).
pub const SERVER_URL: &str = "server_url";
/// The bearer token `gridsync login` stored (text); sent at the upgrade.
pub const TOKEN: &str = "token";
/// The relay's storage id (text), made on its first start.
pub const RELAY_STORAGE_ID: &str = "relay_storage_id";
/// The relay's peer id (text), made on its first start.
pub const RELAY_PEER_ID: &str = "relay_peer_id";
/// Set on the relay once `migrate personal-data` has run to the end
/// (tickets written before private documents no longer hold contacts).
pub const PERSONAL_DATA_MIGRATED: &str = "personal_data_migrated";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_record_has_its_own_key() {
        let keys = [
            IDENTITY,
            STORAGE_ID,
            SERVER_URL,
            TOKEN,
            RELAY_STORAGE_ID,
            RELAY_PEER_ID,
            PERSONAL_DATA_MIGRATED,
        ];
        let distinct: std::collections::BTreeSet<_> = keys.iter().collect();
        assert_eq!(distinct.len(), keys.len(), "a meta key is used twice");
    }
}
