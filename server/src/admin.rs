//! What the administration commands (`grid`, `user`, `token`, `audit`,
//! `export`) share: opening the relay's database in its data directory.
//! They work while the relay runs: the database is shared between processes.

use std::path::{Path, PathBuf};

use client_core::store::{RedbStore, StoreError};

/// The database file in a relay's data directory.
pub const DATABASE_FILE: &str = "relay.redb";

/// The relay database's page cache while serving (`serve
/// --store-cache-mib`), in MiB. redb's default, 1 GiB, is kept whole by a
/// relay that reads many documents once: 1,000 connections each given its
/// grid's index from a 100,000-ticket store held 343 MB; what this leaves
/// out is read from the OS page cache.
pub const STORE_CACHE_MIB: usize = 32;

/// Why the relay's database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "no relay database at {}; run `gridsync-server serve --data {}` once, or pass the \
         right --data (or set GRIDSYNC_DATA)",
        .path.display(),
        .data.display()
    )]
    Missing { path: PathBuf, data: PathBuf },
    #[error("could not open the relay database {}: {cause}", .path.display())]
    Open { path: PathBuf, cause: StoreError },
}

/// Opens the database of the relay whose data directory is `data`; it must
/// exist already (only `serve` creates one).
pub fn open_store(data: &Path) -> Result<RedbStore, OpenError> {
    let path = data.join(DATABASE_FILE);
    if !path.is_file() {
        return Err(OpenError::Missing {
            path,
            data: data.to_path_buf(),
        });
    }
    RedbStore::open(&path).map_err(|cause| OpenError::Open { path, cause })
}
