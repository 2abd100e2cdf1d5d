//! The data directory and the device stored in it.

use std::path::{Path, PathBuf};

use client_core::device::{Device, Identity};
use client_core::store::RedbStore;

use crate::error::CliError;

/// The database file inside a data directory.
pub const DATABASE_FILE: &str = "gridsync.redb";

/// Where this person's local database lives.
#[derive(Debug, Clone)]
pub struct DataDir {
    dir: PathBuf,
}

impl DataDir {
    /// `--data` (or `$GRIDSYNC_DATA`, which clap reads into it), else
    /// `$HOME/.gridsync`.
    pub fn resolve(flag: Option<&Path>) -> Result<Self, CliError> {
        let dir = match flag {
            Some(d) => d.to_path_buf(),
            None => match std::env::var_os("HOME") {
                Some(home) if !home.is_empty() => PathBuf::from(home).join(".gridsync"),
                _ => {
                    return Err(CliError::Usage(
                        "no data directory: pass --data DIR or set GRIDSYNC_DATA (HOME is not set)"
                            .to_owned(),
                    ));
                }
            },
        };
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn database(&self) -> PathBuf {
        self.dir.join(DATABASE_FILE)
    }

    /// Opens the device set up earlier by `gridsync init`. Never creates a
    /// database: a read in the wrong directory must not leave files behind.
    pub fn open_device(&self) -> Result<Device<RedbStore>, CliError> {
        let db = self.database();
        if !db.is_file() {
            return Err(CliError::Refused(format!(
                "no GridSync data in {}; run `gridsync init --user NAME --role ROLE --grid CODE` \
                 first, or point --data / GRIDSYNC_DATA at your data directory",
                self.dir.display()
            )));
        }
        tracing::debug!(path = %db.display(), "opening the local database");
        let store = RedbStore::open(&db)?;
        Ok(Device::open(store)?)
    }

    /// Opens the device's store for sharing with a sync client.
    pub fn open_shared(&self) -> Result<std::sync::Arc<RedbStore>, CliError> {
        let device = self.open_device()?;
        Ok(std::sync::Arc::new(device.into_repo().into_store()))
    }

    /// Creates the directory (owner-only: it holds residents' contact
    /// details) and sets up a new device in it.
    pub fn init_device(&self, identity: Identity) -> Result<Device<RedbStore>, CliError> {
        create_private_dir(&self.dir).map_err(|cause| CliError::Storage {
            context: format!("cannot create the data directory {}", self.dir.display()),
            cause,
        })?;
        let store = RedbStore::open(self.database())?;
        Ok(Device::init(store, identity)?)
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
