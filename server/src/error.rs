//! Why the relay could not start or stopped abnormally.

use client_core::store::StoreError;

/// Why [`run`](crate::run) failed. A misbehaving client is never one of
/// these: it is refused and closed, and the relay keeps serving.
///
/// Each message names its cause, so no field is also the error's
/// `source()`: `gridsync-server`'s `{:#}` shows every cause once.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("invalid relay configuration: {0}")]
    InvalidConfig(String),
    #[error("could not read or create the relay's identity in the store: {0}")]
    Identity(StoreError),
    #[error("could not start the hub thread: {0}")]
    SpawnHub(std::io::Error),
    #[error(
        "the hub thread stopped unexpectedly (a bug: see the panic message above); \
         everything it acknowledged is stored, restart the relay"
    )]
    HubPanicked,
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
    #[error("could not read the registry in the relay's database: {0}")]
    Registry(crate::registry::RegistryError),
    #[error("could not read the registered actor ids in the relay's database: {0}")]
    Actors(redb::Error),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error("could not take residents' contacts out of tickets at start: {0}")]
    Migrate(#[from] crate::migrate::MigrateError),
    #[error("could not open the blob store (photos) in the data directory")]
    Blobs(#[from] crate::blobs::BlobError),
}

impl From<crate::registry::RegistryError> for ServerError {
    fn from(e: crate::registry::RegistryError) -> Self {
        ServerError::Registry(e)
    }
}

#[cfg(test)]
mod tests {
    //! `gridsync-server` prints errors with anyhow's `{:#}`, which follows
    //! `source()`. Messages that named their cause and also returned it as
    //! the source printed it twice ("...: disk full: disk full").

    use super::*;
    use crate::audit::AuditError;
    use crate::export::ExportError;
    use crate::registry::RegistryError;

    fn printed(e: impl std::error::Error + Send + Sync + 'static) -> String {
        format!("{:#}", anyhow::Error::from(e))
    }

    fn disk_full() -> redb::Error {
        redb::Error::Io(std::io::Error::other("disk full"))
    }

    #[test]
    fn each_cause_is_printed_once() {
        let once = |text: String| assert_eq!(text.matches("disk full").count(), 1, "{text}");
        once(printed(ServerError::Registry(RegistryError::from(
            disk_full(),
        ))));
        once(printed(ServerError::Actors(disk_full())));
        once(printed(ServerError::Identity(
            StoreError::from(disk_full()),
        )));
        once(printed(ServerError::Serve(std::io::Error::other(
            "disk full",
        ))));
        once(printed(AuditError::Storage(disk_full())));
        once(printed(ExportError::from(RegistryError::from(disk_full()))));
        once(printed(ExportError::from(StoreError::from(disk_full()))));
        once(printed(ExportError::from(
            client_core::report::ReportError::from(std::io::Error::other("disk full")),
        )));

        let json = serde_json::from_slice::<u8>(b"[").unwrap_err();
        let said = json.to_string();
        let text = printed(RegistryError::Decode(json));
        assert_eq!(text.matches(&said).count(), 1, "{text}");
    }

    #[test]
    fn a_bad_grid_code_in_a_scope_keeps_its_cause() {
        let err = "grids:GL-01,GL 02"
            .parse::<crate::registry::Scope>()
            .unwrap_err();
        assert!(
            matches!(
                &err,
                RegistryError::BadGridCode(client_core::ids::IdError::GridCode(code)) if code == "GL 02"
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("is not a grid code"), "{err}");
    }
}
