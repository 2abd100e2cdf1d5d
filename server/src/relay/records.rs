//! Writes of the records API, performed on the hub thread as the caller.
//!
//! The thread first commits what its round holds, so the store and the
//! hub's memory agree, then runs the client-core `Device` operation the
//! CLI runs (`act`, `comment`, `report`) over the hub's store, as the
//! caller: the caller's user, role and grids, and an Automerge actor
//! derived for (this relay, that user). The actor is registered to the
//! user in the policy's actors table in the same commit as the change, so
//! devices syncing it and the audit trail see the change as the user's,
//! and a device cannot send changes under it. Before acting, the policy
//! decides as for a peer: a ticket the caller may not read is unknown, one
//! it may not change is refused, and a new ticket may reuse an existing id
//! only as its reporter's retry. After the commit the hub tells subscribed
//! peers (`Hub::local_change`), and the changed tickets' summaries go to
//! the `/api/events` broadcast.

use std::sync::Mutex;

use automerge::ActorId;
use client_core::device::{Device, Identity};
use client_core::repo::RepoError;
use client_core::store::{Batch, Listing, StoreError, StoredDoc};
use sha2::{Digest, Sha256};

use super::*;
use crate::access::{self, ACTORS_TABLE};
use crate::api::write::{Operation, WriteError, WriteRequest, Written};
use crate::auth::Principal;

/// The meta key of the relay's secret for deriving users' actor ids: a
/// device that knows a user's name and the relay's public ids still
/// cannot predict (and squat) the actor the relay writes as for them.
const ACTOR_KEY: &str = "relay_api_actor_key";

impl<S: Store> Relay<S> {
    /// Performs a records-API write and answers it.
    pub(super) fn write_as(&mut self, request: WriteRequest, round: &mut Round) {
        // A device operation edits through the store: memory must hold
        // nothing the store lacks.
        self.flush(round);
        let WriteRequest {
            principal,
            operation,
            now,
            reply,
        } = request;
        let what = operation.describe();
        let ticket = operation.ticket();
        let result = self.perform(&principal, operation, now, round);
        match &result {
            Ok(_) => debug!(user = %principal.user, %ticket, "{what}: done"),
            Err(e) => info!(user = %principal.user, %ticket, error = %e, "{what}: refused"),
        }
        let _ = reply.send(result);
    }

    fn perform(
        &mut self,
        p: &Principal,
        operation: Operation,
        now: i64,
        round: &mut Round,
    ) -> Result<Written, WriteError> {
        if let Some(fault) = &self.fault {
            return Err(WriteError::ReadOnly {
                reason: fault.reason.clone(),
            });
        }
        let Some(guard) = &self.guard else {
            // `server::run` always guards; a bare relay has no users to act as.
            return Err(WriteError::Stopping);
        };
        let policy = guard.policy.clone();
        let id = operation.ticket();
        let doc_id = id.document_id();
        let mut touched = vec![doc_id];
        let grid = match &operation {
            Operation::Act { .. } | Operation::Comment { .. } => {
                let doc = self
                    .hub
                    .repo()
                    .load(&doc_id)
                    .map_err(WriteError::Store)?
                    .ok_or(WriteError::Unknown(id))?;
                if !access::may_read_document(p, &doc_id, &doc) {
                    return Err(WriteError::Unknown(id));
                }
                access::may_change_ticket(p, &doc_id, &doc).map_err(WriteError::Refused)?;
                access::grid_of(&doc)
            }
            Operation::Report(t) => {
                // A client-chosen id that is taken: `Device::report` would
                // answer with the stored ticket, whoever asks, so the policy
                // decides first, as for any request about that ticket.
                if let Some(doc) = self.hub.repo().load(&doc_id).map_err(WriteError::Store)? {
                    if !access::may_read_document(p, &doc_id, &doc) {
                        return Err(WriteError::Unknown(id));
                    }
                    if !access::reported_by(p, &doc) {
                        return Err(WriteError::IdTaken(id));
                    }
                }
                touched.push(t.grid.index_document_id());
                Some(t.grid.to_string())
            }
        };

        let (key, new_key) = self.actor_key().map_err(WriteError::Store)?;
        let actor = actor_for(&key, &p.user);
        let owner = policy.owner_of(&actor);
        if let Some(owner) = &owner
            && *owner != p.user
        {
            return Err(WriteError::ActorTaken {
                user: p.user.clone(),
                owner: owner.clone(),
            });
        }
        let mut extra = Batch::new();
        if owner.is_none() {
            extra.put_record(
                ACTORS_TABLE,
                actor.to_bytes().to_vec(),
                p.user.as_bytes().to_vec(),
            );
        }
        if new_key {
            extra.put_meta(ACTOR_KEY, key.to_vec());
        }
        // The audit row commits with the change it records.
        let mut row = AuditRecord::new(AuditAction::Change);
        row.user = Some(p.user.clone());
        row.peer = Some(API_PEER.to_owned());
        row.doc = Some(doc_id.to_string());
        row.grid = grid;
        row.changes = Some(1);
        row.reason = Some(operation.describe());
        guard.audit.append(&mut extra, &row);
        let identity = Identity {
            user: p.user.clone(),
            role: p.role,
            grids: p.grids.iter().cloned().collect(),
            actor: actor.to_hex_string(),
        };
        let through = Through {
            inner: self.hub.repo().store(),
            extra: Mutex::new(Some(extra)),
            wrote: Mutex::new(None),
        };
        let device = Device::acting_as(through, identity).map_err(WriteError::Device)?;
        let done = match operation {
            Operation::Act { action, input, .. } => device.act(id, action, input, now).map(drop),
            Operation::Comment { text, .. } => device.comment(id, &text, now).map(drop),
            Operation::Report(t) => device.report(&t, now).map(drop),
        };
        let wrote = device
            .into_repo()
            .into_store()
            .wrote
            .into_inner()
            .unwrap_or_else(|p| p.into_inner());
        match (done, wrote) {
            (Err(client_core::device::DeviceError::Repo(RepoError::Store(e))), Some(false)) => {
                // The commit failed: the relay turns read-only, as after a
                // round's failed commit.
                self.enter_fault(&e);
                if let Err(e) = self.hub.repo().store().recover() {
                    warn!(error = %e, "could not reopen the store after the failed commit; reads fail until it can");
                }
                let reason = self
                    .fault
                    .as_ref()
                    .map_or_else(|| e.to_string(), |f| f.reason.clone());
                return Err(WriteError::ReadOnly { reason });
            }
            (Err(e), _) => return Err(WriteError::Device(e)),
            (Ok(()), Some(true)) => {
                if owner.is_none() {
                    policy.registered(actor, p.user.clone());
                }
                if new_key {
                    self.api_actor_key = Some(key);
                }
                for doc in &touched {
                    let mut fx = Effects::default();
                    if let Err(e) = self.hub.local_change(doc, &mut fx) {
                        warn!(%doc, error = %e, "could not offer an API change to subscribed peers; they get it on their next sync");
                    }
                    round.absorb(fx);
                    round.docs.insert(*doc);
                    self.publish(doc);
                }
            }
            // Nothing to write (a ticket reported again under its id).
            (Ok(()), _) => {}
        }
        let doc = self
            .hub
            .repo()
            .load(&doc_id)
            .map_err(WriteError::Store)?
            .ok_or(WriteError::Unknown(id))?;
        let may_change = access::may_change_ticket(p, &doc_id, &doc).is_ok();
        // Read through the repo, so the contact comes from the private
        // document (the answer shows it only to those who may read that).
        let ticket = self
            .hub
            .repo()
            .ticket(id)
            .map_err(WriteError::Store)?
            .ok_or(WriteError::Unknown(id))?;
        Ok(Written { ticket, may_change })
    }

    /// The secret the relay derives users' actors from, and whether it is
    /// new (to be stored with the first write that uses it).
    fn actor_key(&self) -> Result<([u8; 32], bool), RepoError> {
        if let Some(key) = self.api_actor_key {
            return Ok((key, false));
        }
        if let Some(stored) = self.hub.repo().store().meta(ACTOR_KEY)?
            && let Ok(key) = <[u8; 32]>::try_from(stored.as_slice())
        {
            return Ok((key, false));
        }
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Ok((key, true))
    }
}

/// What the audit row of an API write names as its peer.
pub(crate) const API_PEER: &str = "records-api";

/// The Automerge actor the relay writes as for `user`: 16 bytes of
/// SHA-256(key, user), the same on every call, different on every relay.
fn actor_for(key: &[u8; 32], user: &str) -> ActorId {
    let mut h = Sha256::new();
    h.update(b"gridsync records-api actor\0");
    h.update(key);
    h.update(user.as_bytes());
    let digest = h.finalize();
    ActorId::from(&digest[..16])
}

/// The hub's store as a device operation sees it: reads go through; the
/// one write adds the actor registration (and the key) to its batch and
/// drops outbox marks (a relay has no relay to hand its outbox to).
struct Through<'a, S> {
    inner: &'a S,
    extra: Mutex<Option<Batch>>,
    /// `Some(true)` once a write committed, `Some(false)` if one failed.
    wrote: Mutex<Option<bool>>,
}

impl<S: Store> Store for Through<'_, S> {
    fn load(&self, doc: &DocumentId) -> Result<Option<StoredDoc>, StoreError> {
        self.inner.load(doc)
    }
    fn chunk_count(&self, doc: &DocumentId) -> Result<usize, StoreError> {
        self.inner.chunk_count(doc)
    }
    fn write(&self, mut batch: Batch) -> Result<(), StoreError> {
        batch.drop_outbox_marks();
        if let Some(extra) = self.extra.lock().unwrap_or_else(|p| p.into_inner()).take() {
            batch.extend(extra);
        }
        let written = self.inner.write(batch);
        *self.wrote.lock().unwrap_or_else(|p| p.into_inner()) = Some(written.is_ok());
        written
    }
    fn documents(&self) -> Result<Vec<DocumentId>, StoreError> {
        self.inner.documents()
    }
    fn summary(
        &self,
        doc: &DocumentId,
    ) -> Result<Option<client_core::model::summary::TicketSummary>, StoreError> {
        self.inner.summary(doc)
    }
    fn grid_summaries(
        &self,
        grid: &client_core::ids::GridCode,
        which: Listing,
    ) -> Result<Vec<client_core::model::summary::TicketSummary>, StoreError> {
        self.inner.grid_summaries(grid, which)
    }
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.meta(key)
    }
    fn sync_state(&self, doc: &DocumentId, peer: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.sync_state(doc, peer)
    }
    fn outbox(&self) -> Result<Vec<(DocumentId, u64)>, StoreError> {
        Ok(Vec::new())
    }
    fn heads(&self, doc: &DocumentId) -> Result<Option<Vec<automerge::ChangeHash>>, StoreError> {
        self.inner.heads(doc)
    }
    fn recover(&self) -> Result<(), StoreError> {
        self.inner.recover()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_actor_is_stable_per_relay_and_differs_between_users_and_relays() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        assert_eq!(actor_for(&a, "chen"), actor_for(&a, "chen"));
        assert_ne!(actor_for(&a, "chen"), actor_for(&a, "zhou"));
        assert_ne!(actor_for(&a, "chen"), actor_for(&b, "chen"));
    }
}
