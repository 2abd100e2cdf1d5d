//! Why the relay could not start or stopped abnormally.

use client_core::store::StoreError;

/// Why [`run`](crate::run) failed. A misbehaving client is never one of
/// these: it is refused and closed, and the relay keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("invalid relay configuration: {0}")]
    InvalidConfig(String),
    #[error("could not read or create the relay's identity in the store: {0}")]
    Identity(#[source] StoreError),
    #[error("could not start the hub thread: {0}")]
    SpawnHub(#[source] std::io::Error),
    #[error(
        "the hub thread stopped unexpectedly (a bug: see the panic message above); \
         everything it acknowledged is stored, restart the relay"
    )]
    HubPanicked,
    #[error("the HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
    #[error("could not read the registry in the relay's database: {0}")]
    Registry(#[from] crate::registry::RegistryError),
    #[error("could not read the registered actor ids in the relay's database: {0}")]
    Actors(#[source] redb::Error),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
}
