//! The hub thread writes the catalog document: the relay is its only
//! writer (clients' changes to it are refused in [`crate::access`]).

use automerge::Automerge;
use client_core::model::catalog::{self, Catalog};

use super::*;

impl<S: Store> Relay<S> {
    /// Makes the catalog document say what the registry holds (the
    /// imported catalog, or the default), through the hub's repo, and
    /// sends the change to the devices subscribed to it (in `fx`). Writes
    /// nothing when the document already says it. Called at start and on
    /// every registry change; a failure is logged and retried at the next.
    pub(super) fn publish_catalog(&mut self, fx: &mut Effects) {
        let Some(guard) = &self.guard else {
            return;
        };
        let wanted = match Registry::reader(&guard.store.database()).catalog() {
            Ok(c) => c,
            Err(e) => {
                error!(error = %e, "could not read the catalog from the registry; devices keep the last one");
                return;
            }
        };
        let id = Catalog::document_id();
        let written = self.hub.repo().apply(&id, |doc: &mut Automerge| {
            doc.transact(|tx| catalog::write(tx, &wanted))
                .map(|_| ())
                .map_err(|failure| failure.error)
        });
        match written {
            Ok(((), false)) => debug!(version = wanted.version, "the catalog document is current"),
            Ok(((), true)) => {
                info!(
                    version = wanted.version,
                    categories = wanted.categories.len(),
                    doc = %id,
                    "catalog document written"
                );
                if let Err(e) = self.hub.local_change(&id, fx) {
                    error!(error = %e, "could not announce the new catalog; devices get it when they next sync");
                }
            }
            Err(e) => error!(
                error = %e,
                "could not write the catalog document; it is retried at the next registry change or restart"
            ),
        }
    }
}
