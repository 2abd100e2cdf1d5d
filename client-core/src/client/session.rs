//! The device's side of one connection to the relay: a synchronous,
//! sans-IO state machine around the [`Hub`].
//!
//! Start-up is a state machine too: [`Handshake::open`] reads the device's
//! identity and storage id and makes the `join` frame; the relay's answer
//! turns it into a [`Session`] ([`Handshake::accept`]). The session then
//! decides what to sync and when:
//!
//! - [`Session::discover`] wants every document the device should hold: its
//!   grids' indexes and what they list, the category catalog (written by
//!   the relay; [`Handshake::without_catalog`] leaves it out), its outbox of
//!   unacknowledged edits, and extra ids. With a relay that offers the heads-batch extension, the
//!   unedited ones go in one heads batch; the rest are asked for one by one,
//!   at most [`IN_FLIGHT`] unsettled at once, so the relay's replies never
//!   pile up beyond what the device reads.
//! - [`Session::handle`] takes frames from the relay, follows new grid-index
//!   entries, and clears a document from the outbox as soon as the relay's
//!   heads equal ours.
//! - [`Session::local_edits`] picks up edits other processes committed to
//!   the same store since (for `watch`).
//!
//! Every call returns a [`Step`]: frames for the relay, whose storage batch
//! is already committed (nothing is acknowledged before it is durable). The
//! session reads no clock and opens no socket: the tokio runtime
//! (`client::transport` and `client::sync_until_quiescent`, feature
//! `runtime`), tests, and an in-memory network all drive it the same way.
//!
//! ```
//! use std::sync::Arc;
//! use client_core::client::session::Handshake;
//! use client_core::device::{Device, Identity};
//! use client_core::ids::GridCode;
//! use client_core::model::lifecycle::Role;
//! use client_core::protocol::{Message, PeerId, PeerMetadata};
//! use client_core::store::{MemoryStore, Store};
//! use client_core::sync::{Effects, Hub};
//!
//! let store = Arc::new(MemoryStore::new());
//! let grid = GridCode::new("G-01").unwrap();
//! Device::init(store.clone(), Identity::new("wang", Role::Worker, vec![grid])).unwrap();
//! // This relay is a bare hub, without the category catalog a real one serves.
//! let handshake = Handshake::open(store, Vec::new()).unwrap().without_catalog();
//!
//! // The relay: a hub that accepts the device's `join`.
//! let mut relay = Hub::new(MemoryStore::new(), PeerId::from("relay"), 100);
//! let Message::Join { sender_id, peer_metadata, .. } = handshake.join() else { unreachable!() };
//! relay.connect(sender_id.clone(), &peer_metadata);
//! let peer = Message::Peer {
//!     sender_id: PeerId::from("relay"),
//!     target_id: sender_id.clone(),
//!     selected_protocol_version: "1".into(),
//!     peer_metadata: PeerMetadata::default(),
//! };
//! let mut session = handshake.accept(peer).unwrap();
//!
//! // Deliver frames both ways until neither side has anything to say.
//! let mut step = session.discover().unwrap();
//! while !step.send.is_empty() {
//!     let mut fx = Effects::default();
//!     for frame in step.send {
//!         relay.receive(&sender_id, frame, &mut fx).unwrap();
//!     }
//!     relay.repo().store().write(fx.batch).unwrap();
//!     step = session.handle(fx.send.into_iter().map(|(_, m)| m).collect()).unwrap();
//! }
//! let progress = session.progress();
//! assert_eq!((progress.done, progress.total), (1, 1), "the relay has no grid index yet");
//! ```

use std::collections::{HashMap, HashSet, VecDeque};

use super::error::{ClientError, ProtocolError};
use super::{Progress, SyncReport};
use automerge::{Automerge, ChangeHash, ROOT};

use crate::device::Device;
use crate::ids::EventId;
use crate::ids::{DocumentId, GridCode, TicketId};
use crate::model::catalog::Catalog;
use crate::model::lifecycle::{Event, Role};
use crate::model::ticket::{self, Comment, Photo};
use crate::model::{grid_index, schema};
use crate::protocol::{self, Message, PeerId, PeerMetadata, StorageId};
use crate::store::{Batch, Store, StoreError, meta};
use crate::sync::{self, Effects, Hub, HubEvent};

/// Documents a client syncs at once.
pub const IN_FLIGHT: usize = 256;

/// Documents a device's hub keeps in memory.
const HUB_CAPACITY: usize = 100_000;

/// This device's storage id, made on first use.
pub fn storage_id(store: &impl Store) -> Result<StorageId, StoreError> {
    if let Some(bytes) = store.meta(meta::STORAGE_ID)? {
        return Ok(StorageId::new(String::from_utf8_lossy(&bytes).into_owned()));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let mut batch = Batch::new();
    batch.put_meta(meta::STORAGE_ID, id.clone().into_bytes());
    store.write(batch)?;
    Ok(StorageId::new(id))
}

/// A session before the relay has answered `join`.
#[derive(Debug)]
pub struct Handshake<S> {
    store: S,
    device: Device<S>,
    me: PeerId,
    storage: StorageId,
    extra: Vec<DocumentId>,
    /// Whether the session syncs the category catalog.
    catalog: bool,
}

impl<S: Store + Clone> Handshake<S> {
    /// Opens the device in `store`; `extra_documents` are synced besides
    /// those its grids list (for example a document shared by URL).
    pub fn open(store: S, extra_documents: Vec<DocumentId>) -> Result<Self, ClientError> {
        let storage = storage_id(&store)?;
        let device = Device::open(store.clone())?;
        let short: String = storage.as_str().chars().take(8).collect();
        let me = PeerId::new(format!("gridsync-{}-{short}", device.identity().user));
        Ok(Self {
            store,
            device,
            me,
            storage,
            extra: extra_documents,
            catalog: true,
        })
    }

    /// Leaves the category catalog out of what the session syncs (every
    /// session syncs it by default, so devices check codes and compute
    /// deadlines offline): for a caller that counts documents exactly.
    pub fn without_catalog(mut self) -> Self {
        self.catalog = false;
        self
    }

    /// Joins as `me` instead of the peer id made from the user and the
    /// storage id (for a caller that keeps its own, stable peer id).
    pub fn as_peer(mut self, me: PeerId) -> Self {
        self.me = me;
        self
    }

    /// This device's peer id: by default its user and the start of its
    /// storage id.
    pub fn me(&self) -> &PeerId {
        &self.me
    }

    /// The `join` frame, offering this build's extensions.
    pub fn join(&self) -> Message {
        Message::Join {
            sender_id: self.me.clone(),
            supported_protocol_versions: vec![protocol::PROTOCOL_VERSION.to_owned()],
            peer_metadata: sync::with_extensions(PeerMetadata {
                storage_id: Some(self.storage.clone()),
                is_ephemeral: Some(false),
                ..Default::default()
            }),
        }
    }

    /// Takes the relay's answer to `join`: `peer` opens the session.
    pub fn accept(self, answer: Message) -> Result<Session<S>, ClientError> {
        let (relay, relay_meta) = match answer {
            Message::Peer {
                sender_id,
                peer_metadata,
                ..
            } => (sender_id, peer_metadata),
            Message::Error { message, .. } => return Err(ProtocolError::Rejected(message).into()),
            other => return Err(ProtocolError::Unexpected(other.type_name().to_owned()).into()),
        };
        let actor = self.device.repo().actor().clone();
        let mut hub = Hub::with_actor(self.store, self.me, HUB_CAPACITY, actor);
        hub.share_store();
        hub.connect(relay.clone(), &relay_meta);
        let indexes = self
            .device
            .identity()
            .grids
            .iter()
            .map(|g| g.index_document_id())
            .collect();
        Ok(Session {
            hub,
            device: self.device,
            relay,
            relay_meta,
            indexes,
            extra: self.extra.into_iter().collect(),
            catalog: self.catalog,
            wanted: HashSet::new(),
            done: HashSet::new(),
            unavailable: HashSet::new(),
            confirmed: HashSet::new(),
            outbox: HashMap::new(),
            received: HashSet::new(),
            queue: VecDeque::new(),
            in_flight: HashSet::new(),
            held: VecDeque::new(),
            rewritten: HashMap::new(),
            reapply: HashMap::new(),
        })
    }
}

/// What one call into the session asks the transport to do. Its storage
/// batch is already committed.
#[derive(Debug, Default)]
#[must_use]
pub struct Step {
    /// Frames for the relay, in order.
    pub send: Vec<Message>,
    /// Documents the relay sent changes to in this step.
    pub changed: Vec<DocumentId>,
    /// The session's hub closes the connection (the reason): send `send`
    /// (an `error` frame), then close.
    pub close: Option<String>,
    /// Progress after this step.
    pub progress: Progress,
}

/// One connection's sync state: the hub, what we want, what is done.
#[derive(Debug)]
pub struct Session<S> {
    hub: Hub<S>,
    device: Device<S>,
    relay: PeerId,
    relay_meta: PeerMetadata,
    /// The grid indexes of this device's grids.
    indexes: HashSet<DocumentId>,
    extra: HashSet<DocumentId>,
    /// Whether the category catalog is among the documents synced.
    catalog: bool,
    /// Every document this session syncs.
    wanted: HashSet<DocumentId>,
    /// The wanted documents settled now: [`Session::progress`]'s running
    /// count, updated for the documents each step touches.
    done: HashSet<DocumentId>,
    /// Documents the relay has no copy of (or may not share).
    unavailable: HashSet<DocumentId>,
    /// Documents the relay confirmed hold our exact heads (heads batch).
    confirmed: HashSet<DocumentId>,
    /// Edited documents not yet acknowledged, with their outbox tokens.
    outbox: HashMap<DocumentId, u64>,
    /// Documents that received changes from the relay.
    received: HashSet<DocumentId>,
    /// Documents waiting to be asked for, and those asked for and not yet
    /// settled: at most [`IN_FLIGHT`] at once.
    queue: VecDeque<DocumentId>,
    in_flight: HashSet<DocumentId>,
    /// Documents other than grid indexes wait here until this session has
    /// synced every grid index: an index may say a ticket was rewritten,
    /// and a retired copy must never be synced (it would merge back).
    held: VecDeque<DocumentId>,
    /// Tickets the relay rewrote (grid indexes' `rewritten:` entries),
    /// with the root change of the new history.
    rewritten: HashMap<DocumentId, ChangeHash>,
    /// Tickets being downloaded afresh, with this device's own entries
    /// from the retired copy, re-applied (by id) once the new one arrives.
    reapply: HashMap<DocumentId, OwnEntries>,
}

/// A user's own events, comments and photos in a ticket copy.
#[derive(Debug, Default)]
struct OwnEntries {
    events: Vec<Event>,
    comments: Vec<Comment>,
    photos: Vec<Photo>,
}

impl OwnEntries {
    fn of(doc: &Automerge, ticket: TicketId, user: &str) -> Self {
        let Ok(t) = ticket::read(doc, ticket) else {
            return Self::default();
        };
        Self {
            events: t
                .events
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.actor == user)
                .collect(),
            comments: t
                .comments
                .into_iter()
                .filter(|c| c.author == user)
                .collect(),
            photos: t
                .photos
                .into_iter()
                .filter(|p| p.added_by == user)
                .collect(),
        }
    }
}

/// Whether a copy of a rewritten document holds (some of) its retired
/// history: it lacks the new history's root, or it has another change
/// with no dependencies (every retired change descends from an old root).
fn holds_retired_history(doc: &Automerge, root: &ChangeHash) -> bool {
    doc.get_change_meta_by_hash(root).is_none()
        || doc
            .get_changes_meta(&[])
            .iter()
            .any(|m| m.deps.is_empty() && m.hash != *root)
}

/// The document a frame is about, if any.
fn document_of(msg: &Message) -> Option<DocumentId> {
    match msg {
        Message::Sync { document_id, .. }
        | Message::Request { document_id, .. }
        | Message::DocUnavailable { document_id, .. }
        | Message::Ephemeral { document_id, .. }
        | Message::RemoteHeadsChanged { document_id, .. } => Some(*document_id),
        _ => None,
    }
}

impl<S: Store> Session<S> {
    pub fn relay(&self) -> &PeerId {
        &self.relay
    }

    /// What the relay said about itself in `peer`.
    pub fn relay_metadata(&self) -> &PeerMetadata {
        &self.relay_meta
    }

    pub fn hub(&self) -> &Hub<S> {
        &self.hub
    }

    pub fn device(&self) -> &Device<S> {
        &self.device
    }

    /// Who reported `ticket`, as this device holds it (in memory or stored).
    fn reporter(&self, ticket: TicketId) -> Result<Option<String>, ClientError> {
        let doc = ticket.document_id();
        if let Some(held) = self.hub.document(&doc) {
            return Ok(schema::read_str(held, &ROOT, "created_by"));
        }
        let summary = self.hub.repo().store().summary(&doc)?;
        Ok(summary.map(|s| s.created_by))
    }

    /// Wants every document the device should hold and is not yet syncing.
    pub fn discover(&mut self) -> Result<Step, ClientError> {
        let mut fx = Effects::default();
        self.discover_into(&mut fx)?;
        self.finish(fx, Vec::new())
    }

    /// Handles frames from the relay.
    pub fn handle(&mut self, frames: Vec<Message>) -> Result<Step, ClientError> {
        let mut fx = Effects::default();
        let mut touched = Vec::new();
        for msg in frames {
            tracing::trace!(kind = msg.type_name(), "frame from the relay");
            touched.extend(document_of(&msg));
            self.hub.receive(&self.relay, msg, &mut fx)?;
        }
        let mut changed = Vec::new();
        let mut changed_indexes = Vec::new();
        for ev in &fx.events {
            match ev {
                HubEvent::Changed { doc, .. } => {
                    if self.received.insert(*doc) {
                        changed.push(*doc);
                    }
                    if self.indexes.contains(doc) {
                        changed_indexes.push(*doc);
                    }
                }
                HubEvent::Unavailable { doc, .. } => {
                    self.unavailable.insert(*doc);
                }
                HubEvent::SameHeads { docs, of } => {
                    tracing::debug!(same = docs.len(), of = of.len(), "heads batch answered");
                    self.confirmed.extend(docs.iter().copied());
                    let same: HashSet<&DocumentId> = docs.iter().collect();
                    // Documents whose heads differ go through the sync protocol.
                    self.queue
                        .extend(of.iter().filter(|d| !same.contains(d)).copied());
                    touched.extend(docs.iter().copied());
                }
                HubEvent::Refused { .. } | HubEvent::Denied { .. } => {}
            }
        }
        self.reapply_own_entries(&changed, &mut fx)?;
        // A grid index that gained entries lists documents to ask for.
        for index in changed_indexes {
            let (listed, private): (Vec<DocumentId>, _) = match self.hub.document(&index) {
                Some(doc) => grid_index::read(doc)
                    .map(|i| {
                        self.rewritten
                            .extend(i.rewritten.iter().map(|(t, root)| (t.document_id(), *root)));
                        (i.documents().collect(), i.private)
                    })
                    .unwrap_or_default(),
                None => Default::default(),
            };
            for doc in listed {
                if self.wanted.insert(doc) {
                    self.queue.push_back(doc);
                }
            }
            for (ticket, doc) in private {
                let reporter = self.reporter(ticket)?;
                if self.device.wants_private(reporter.as_deref()) && self.wanted.insert(doc) {
                    self.queue.push_back(doc);
                }
            }
        }
        // A worker's own ticket that arrived may have a private document
        // its grid index lists (the index can arrive before the ticket).
        if self.device.identity().role == Role::Worker {
            for doc in &changed {
                let ticket = TicketId::from_document_id(doc);
                let private = ticket.private_document_id();
                if self.wanted.contains(&private) || self.indexes.contains(doc) {
                    continue;
                }
                let Some(held) = self.hub.document(doc) else {
                    continue;
                };
                let mine = schema::read_str(held, &ROOT, "created_by").as_deref()
                    == Some(self.device.identity().user.as_str());
                let listed = mine
                    && schema::read_str(held, &ROOT, "grid")
                        .and_then(|g| g.parse::<GridCode>().ok())
                        .and_then(|g| self.hub.document(&g.index_document_id()))
                        .is_some_and(|index| grid_index::has_private(index, ticket));
                if listed && self.wanted.insert(private) {
                    self.queue.push_back(private);
                }
            }
        }
        for doc in touched {
            self.touch(doc, &mut fx.batch);
        }
        self.pump(&mut fx)?;
        self.finish(fx, changed)
    }

    /// Picks up edits committed to the store since the outbox was read
    /// (by this device's other processes): clears what the relay holds,
    /// wants new documents and announces edits of known ones.
    pub fn local_edits(&mut self) -> Result<Step, ClientError> {
        self.settle_outbox()?;
        let mut fx = Effects::default();
        let new: HashSet<DocumentId> = self.discover_into(&mut fx)?.into_iter().collect();
        let edited: Vec<DocumentId> = self
            .outbox
            .keys()
            .filter(|d| !new.contains(d))
            .copied()
            .collect();
        for doc in edited {
            self.hub.local_change(&doc, &mut fx)?;
            self.touch(doc, &mut fx.batch);
        }
        self.finish(fx, Vec::new())
    }

    /// Asks for `doc` now, even if it was asked for before (or found
    /// unavailable).
    pub fn want(&mut self, doc: DocumentId) -> Result<Step, ClientError> {
        let mut fx = Effects::default();
        self.unavailable.remove(&doc);
        self.wanted.insert(doc);
        self.hub.want(&doc, &self.relay, &mut fx)?;
        self.in_flight.insert(doc);
        self.touch(doc, &mut fx.batch);
        self.finish(fx, Vec::new())
    }

    /// Announces an edit of `doc` already committed to the store.
    pub fn local_change(&mut self, doc: DocumentId) -> Result<Step, ClientError> {
        let mut fx = Effects::default();
        self.hub.local_change(&doc, &mut fx)?;
        self.touch(doc, &mut fx.batch);
        self.finish(fx, Vec::new())
    }

    /// Whether the relay's heads of `doc` equal ours.
    pub fn in_sync(&self, doc: &DocumentId) -> bool {
        self.confirmed.contains(doc) || self.hub.in_sync(doc, &self.relay) == Some(true)
    }

    /// Whether the relay said it has no copy of `doc` (or may not share it).
    pub fn unavailable(&self, doc: &DocumentId) -> bool {
        self.unavailable.contains(doc)
    }

    /// Acknowledged and total wanted documents: a document counts once the
    /// relay's heads equal ours, or once the relay said it has none and
    /// neither do we. A running count, not a scan.
    pub fn progress(&self) -> Progress {
        Progress {
            done: self.done.len(),
            total: self.wanted.len(),
        }
    }

    /// Clears acknowledged documents from the outbox; returns what is left.
    pub fn settle_outbox(&mut self) -> Result<Vec<DocumentId>, ClientError> {
        let mut batch = Batch::new();
        let mut pending = Vec::new();
        let relay = &self.relay;
        let hub = &self.hub;
        self.outbox.retain(|doc, token| {
            let acknowledged = hub.in_sync(doc, relay) == Some(true);
            if acknowledged {
                batch.clear_local(*doc, *token);
            } else {
                pending.push(*doc);
            }
            !acknowledged
        });
        self.hub.repo().store().write(batch)?;
        Ok(pending)
    }

    /// The outcome so far (traffic is the transport's to fill in); settles
    /// the outbox first.
    pub fn report(&mut self) -> Result<SyncReport, ClientError> {
        let pending = self.settle_outbox()?;
        let progress = self.progress();
        Ok(SyncReport {
            documents: progress.total,
            acknowledged: progress.done,
            pending,
            received: self.received.len(),
            ..SyncReport::default()
        })
    }

    fn settled(&self, doc: &DocumentId) -> bool {
        self.in_sync(doc) || self.unavailable.contains(doc)
    }

    /// Brings the running count up to date for `doc`, and takes an
    /// acknowledged edit out of the outbox (in `batch`).
    fn touch(&mut self, doc: DocumentId, batch: &mut Batch) {
        if !self.wanted.contains(&doc) {
            return;
        }
        if self.settled(&doc) {
            self.done.insert(doc);
        } else {
            self.done.remove(&doc);
        }
        if self.hub.in_sync(&doc, &self.relay) == Some(true)
            && let Some(token) = self.outbox.remove(&doc)
        {
            batch.clear_local(doc, token);
        }
    }

    /// Reads the outbox and wants what is new; returns the new documents.
    fn discover_into(&mut self, fx: &mut Effects) -> Result<Vec<DocumentId>, ClientError> {
        let mut docs = self.device.known_documents()?;
        for index in &self.indexes {
            if let Some(doc) = self.hub.repo().load(index).map_err(sync::SyncError::from)?
                && let Ok(index) = grid_index::read(&doc)
            {
                self.rewritten.extend(
                    index
                        .rewritten
                        .iter()
                        .map(|(t, root)| (t.document_id(), *root)),
                );
            }
        }
        self.outbox = self.hub.repo().store().outbox()?.into_iter().collect();
        docs.extend(self.outbox.keys().copied());
        docs.extend(self.extra.iter().copied());
        if self.catalog {
            // Written by the relay only; every device reads it offline.
            docs.insert(Catalog::document_id());
        }
        let new: Vec<DocumentId> = docs
            .into_iter()
            .filter(|d| self.wanted.insert(*d))
            .collect();
        if self.hub.speaks_heads_batch(&self.relay) {
            // Unedited documents we hold: one message asks which changed.
            let (edited_or_extra, unedited): (Vec<_>, Vec<_>) = new
                .iter()
                .partition(|d| self.outbox.contains_key(d) || self.extra.contains(d));
            let unknown = self.hub.send_heads_batch(&unedited, &self.relay, fx)?;
            tracing::debug!(
                edited = edited_or_extra.len(),
                batched = unedited.len() - unknown.len(),
                unknown = unknown.len(),
                "discovered documents"
            );
            self.queue
                .extend(edited_or_extra.into_iter().chain(unknown));
        } else {
            self.queue.extend(new.iter().copied());
        }
        self.pump(fx)?;
        Ok(new)
    }

    /// Asks for queued documents while fewer than [`IN_FLIGHT`] are unsettled.
    /// Documents other than grid indexes wait until every grid index this
    /// session wants is settled (see [`Session::held`]).
    fn pump(&mut self, fx: &mut Effects) -> Result<(), ClientError> {
        let done = &self.done;
        self.in_flight.retain(|d| !done.contains(d));
        let indexes_settled = self
            .indexes
            .iter()
            .all(|i| !self.wanted.contains(i) || self.done.contains(i));
        if indexes_settled {
            while let Some(doc) = self.held.pop_back() {
                self.queue.push_front(doc);
            }
        }
        while self.in_flight.len() < IN_FLIGHT {
            let Some(doc) = self.queue.pop_front() else {
                break;
            };
            if !indexes_settled && !self.indexes.contains(&doc) {
                self.held.push_back(doc);
                continue;
            }
            self.start(doc, fx)?;
            self.in_flight.insert(doc);
        }
        Ok(())
    }

    /// Asks the relay for `doc`; a copy of a rewritten ticket that holds
    /// its retired history is downloaded afresh instead, keeping this
    /// device's own entries to re-apply.
    fn start(&mut self, doc: DocumentId, fx: &mut Effects) -> Result<(), ClientError> {
        if let Some(root) = self.rewritten.get(&doc).copied()
            && !self.hub.is_replacing(&doc)
            && let Some(old) = self.hub.repo().load(&doc).map_err(sync::SyncError::from)?
            && holds_retired_history(&old, &root)
        {
            let ticket = TicketId::from_document_id(&doc);
            let own = OwnEntries::of(&old, ticket, &self.device.identity().user);
            tracing::info!(
                %ticket,
                events = own.events.len(),
                comments = own.comments.len(),
                "the relay rewrote this ticket (residents' personal data taken out); \
                 downloading it afresh"
            );
            self.reapply.insert(doc, own);
            self.hub.want_afresh(&doc, &self.relay, fx)?;
            return Ok(());
        }
        self.hub.want(&doc, &self.relay, fx)?;
        Ok(())
    }

    /// For tickets that just arrived afresh: appends this device's own
    /// entries from the retired copy that the new one lacks (entries are
    /// append-only with ids, so this is safe), commits, and sends them.
    fn reapply_own_entries(
        &mut self,
        changed: &[DocumentId],
        fx: &mut Effects,
    ) -> Result<(), ClientError> {
        let due: Vec<DocumentId> = changed
            .iter()
            .filter(|d| self.reapply.contains_key(d) && !self.hub.is_replacing(d))
            .copied()
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let mut sent = Vec::new();
        for doc in due {
            let own = self.reapply.remove(&doc).unwrap_or_default();
            let Some(held) = self.hub.document(&doc) else {
                continue;
            };
            let ticket = TicketId::from_document_id(&doc);
            let Ok(now) = ticket::read(held, ticket) else {
                continue;
            };
            let events: HashSet<EventId> = now
                .events
                .iter()
                .filter_map(|e| e.as_ref().ok())
                .map(|e| e.id)
                .collect();
            let comments: HashSet<EventId> = now.comments.iter().map(|c| c.id).collect();
            let photos: HashSet<(&str, &str)> = now
                .photos
                .iter()
                .map(|p| (p.hash.as_str(), p.phase.as_str()))
                .collect();
            let mut fresh = held.clone();
            let before = fresh.get_heads();
            fresh
                .transact(|tx| {
                    for e in own.events.iter().filter(|e| !events.contains(&e.id)) {
                        ticket::append_event(tx, e)?;
                    }
                    for c in own.comments.iter().filter(|c| !comments.contains(&c.id)) {
                        ticket::add_comment(tx, c)?;
                    }
                    for p in own
                        .photos
                        .iter()
                        .filter(|p| !photos.contains(&(p.hash.as_str(), p.phase.as_str())))
                    {
                        ticket::add_photo(tx, p)?;
                    }
                    Ok::<_, automerge::AutomergeError>(())
                })
                .map_err(|f| sync::SyncError::from(crate::repo::RepoError::from(f.error)))?;
            if fresh.get_heads() == before {
                continue;
            }
            let mut batch = self
                .hub
                .repo()
                .changes_since(&doc, &fresh, &before)
                .map_err(sync::SyncError::from)?;
            batch.mark_local(doc);
            fx.batch.extend(batch);
            tracing::info!(%ticket, "re-applied this device's entries to the rewritten ticket");
            sent.push(doc);
        }
        if sent.is_empty() {
            return Ok(());
        }
        // Stored first: the hub reloads the document from the store.
        self.hub
            .repo()
            .store()
            .write(std::mem::take(&mut fx.batch))?;
        let outbox: HashMap<DocumentId, u64> =
            self.hub.repo().store().outbox()?.into_iter().collect();
        for doc in sent {
            if let Some(token) = outbox.get(&doc) {
                self.outbox.insert(doc, *token);
            }
            self.hub.local_change(&doc, fx)?;
        }
        Ok(())
    }

    /// Commits the step's batch (before anything that acknowledges it is
    /// sent) and hands over the rest.
    fn finish(&mut self, mut fx: Effects, changed: Vec<DocumentId>) -> Result<Step, ClientError> {
        self.hub
            .repo()
            .store()
            .write(std::mem::take(&mut fx.batch))?;
        Ok(Step {
            send: fx.send.into_iter().map(|(_, msg)| msg).collect(),
            changed,
            close: fx.close.into_iter().next().map(|(_, reason)| reason),
            progress: self.progress(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_id_is_made_once() {
        let store = crate::store::MemoryStore::new();
        let a = storage_id(&store).unwrap();
        assert_eq!(storage_id(&store).unwrap(), a);
    }
}
