//! The one error type of the binary and its exit codes.

use client_core::client::ClientError;
use client_core::device::DeviceError;
use client_core::repo::RepoError;
use client_core::report::ReportError;
use client_core::report::input::CalendarFileError;
use client_core::report::output::{DestinationError, ExportFailed, OutputError};
use client_core::store::StoreError;

/// The operation was refused: not allowed, or its input does not fit the data.
pub const EXIT_REFUSED: u8 = 1;
/// Bad flags or values (clap uses the same code for its own errors).
pub const EXIT_USAGE: u8 = 2;
/// The local database is damaged, in use, or cannot be written.
pub const EXIT_STORAGE: u8 = 3;
/// Sync did not finish: the relay is unreachable, refused us, or did not
/// acknowledge every local change.
pub const EXIT_SYNC: u8 = 4;
/// A bug in gridsync (a panic outside the storage engine), as Rust reports panics.
pub const EXIT_INTERNAL: u8 = 101;

/// Why a command failed. Every message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A flag combination clap cannot express (`--unit` on `accepted`, ...).
    #[error("{0}")]
    Usage(String),
    /// Refused by the CLI itself (unknown id prefix, missing data dir, ...).
    #[error("{0}")]
    Refused(String),
    /// Refused or failed inside the device (boxed: it is large).
    #[error(transparent)]
    Device(Box<DeviceError>),
    /// A file-system problem around the database (creating the data dir).
    #[error("{context}: {cause}")]
    Storage {
        context: String,
        cause: std::io::Error,
    },
    /// Writing to stdout failed (a closed pipe is not reported).
    #[error("cannot write the output: {0}")]
    Output(std::io::Error),
    /// Sync could not reach the relay or finish.
    #[error(transparent)]
    Sync(Box<ClientError>),
    /// Sync finished but some local changes are not acknowledged yet.
    #[error("{0}")]
    Unacknowledged(String),
    /// `login` could not reach the relay or it turned the token away.
    #[error("{0}")]
    Login(String),
    /// A photo could not be fetched from or sent to the relay.
    #[error("{0}")]
    Photo(String),
    /// A bug: a panic outside the storage engine.
    #[error("{0}")]
    Internal(String),
    /// `--out` cannot take this export.
    #[error(transparent)]
    Destination(#[from] DestinationError),
    /// The export file could not be written (nothing was left behind).
    #[error(transparent)]
    Write(OutputError),
    /// The export failed partway.
    #[error(transparent)]
    Export(Box<ExportFailed<ReportError>>),
    /// A `--calendar` file cannot be read or used.
    #[error(transparent)]
    Calendar(#[from] CalendarFileError),
    /// Another error retold with what the command had done so far; keeps
    /// that error's exit code.
    #[error("{message}")]
    Retold { message: String, exit: u8 },
}

impl From<DeviceError> for CliError {
    fn from(e: DeviceError) -> Self {
        CliError::Device(Box::new(e))
    }
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        CliError::Sync(Box::new(e))
    }
}

impl From<OutputError> for CliError {
    fn from(e: OutputError) -> Self {
        match e {
            // Stdout, like every other write to it: a closed pipe is the
            // reader's choice (`main` exits 0).
            OutputError::Stdout(e) => CliError::Output(e),
            other => CliError::Write(other),
        }
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        DeviceError::from(e).into()
    }
}

impl CliError {
    /// Rewrites the message (`retell` gets the original) and keeps the exit code.
    pub fn retold(self, retell: impl FnOnce(&str) -> String) -> Self {
        CliError::Retold {
            message: retell(&self.to_string()),
            exit: self.exit_code(),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Retold { exit, .. } => *exit,
            CliError::Internal(_) => EXIT_INTERNAL,
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Refused(_)
            | CliError::Output(_)
            | CliError::Export(_)
            | CliError::Calendar(_)
            | CliError::Write(OutputError::Io { .. } | OutputError::Stdout(_)) => EXIT_REFUSED,
            CliError::Write(OutputError::NoFileName(_)) => EXIT_USAGE,
            CliError::Destination(DestinationError::Directory { .. }) => EXIT_REFUSED,
            CliError::Destination(_) => EXIT_USAGE,
            CliError::Storage { .. } => EXIT_STORAGE,
            CliError::Unacknowledged(_) | CliError::Login(_) | CliError::Photo(_) => EXIT_SYNC,
            CliError::Sync(e) => match e.as_ref() {
                // Local faults while syncing: the database, not the network.
                ClientError::Device(_) | ClientError::Sync(_) => EXIT_STORAGE,
                _ => EXIT_SYNC,
            },
            CliError::Device(e) => match e.as_ref() {
                DeviceError::BadIdentity(_) => EXIT_STORAGE,
                DeviceError::Repo(RepoError::Store(_) | RepoError::Load { .. }) => EXIT_STORAGE,
                DeviceError::Repo(RepoError::Edit(_)) => EXIT_STORAGE,
                // A newer schema or a document of another type: upgrade, not repair.
                DeviceError::Repo(RepoError::Schema(_)) => EXIT_REFUSED,
                DeviceError::NotInitialized
                | DeviceError::AlreadyInitialized { .. }
                | DeviceError::UnknownTicket(_)
                | DeviceError::ForbiddenGrid { .. }
                | DeviceError::ReadOnly(_)
                | DeviceError::Transition { .. }
                | DeviceError::AfterPhotosRequired { .. }
                | DeviceError::NotNearlyDue { .. }
                | DeviceError::Invalid(_)
                | DeviceError::InvalidIdentity(_) => EXIT_REFUSED,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use client_core::ids::TicketId;

    /// `CliError::Storage` named its cause and returned it as `source()`
    /// too, so the debug log's chain showed it twice.
    #[test]
    fn a_storage_error_names_its_cause_once() {
        let e = CliError::Storage {
            context: "cannot create the data directory /x".into(),
            cause: std::io::Error::other("read-only file system"),
        };
        assert!(std::error::Error::source(&e).is_none());
        assert_eq!(
            e.to_string(),
            "cannot create the data directory /x: read-only file system"
        );
        assert_eq!(e.exit_code(), EXIT_STORAGE);
    }

    #[test]
    fn storage_problems_have_their_own_code() {
        let damaged = StoreError::Corrupted {
            path: "x".into(),
            detail: "y".into(),
        };
        assert_eq!(CliError::from(damaged).exit_code(), EXIT_STORAGE);
        let in_use = StoreError::InUse { path: "x".into() };
        assert_eq!(CliError::from(in_use).exit_code(), EXIT_STORAGE);
        let unknown = CliError::from(DeviceError::UnknownTicket(TicketId::random()));
        assert_eq!(unknown.exit_code(), EXIT_REFUSED);
        assert_eq!(CliError::Usage("u".into()).exit_code(), EXIT_USAGE);
    }
}
