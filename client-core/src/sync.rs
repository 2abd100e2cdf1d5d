//! The sync session: a sans-IO state machine that speaks automerge-repo's
//! v1 protocol for many documents and many peers.
//!
//! A [`Hub`] holds one `automerge::sync::State` per (document, peer). The
//! shell (the relay's connection loop, or the device client) feeds it
//! [`Message`]s from peers; each call adds to an [`Effects`]: frames to send,
//! a storage [`Batch`] to commit, connections to close and events to report.
//! The shell must commit `effects.batch` *before* sending `effects.send`, so
//! nothing is acknowledged (by sending heads that include it) before it is
//! durable; it may fold many inputs into one `Effects` to commit them in one
//! transaction.
//!
//! The hub does no network I/O and reads no clock. Storage goes through the
//! synchronous [`Store`] trait. Documents are loaded on demand and evicted
//! when more than `capacity` are in memory; sync states for peers with
//! persistent storage are kept in the store (by storage id) so a
//! reconnecting peer resumes where it left off.
//!
//! ```
//! use client_core::protocol::{Message, PeerId, PeerMetadata};
//! use client_core::store::MemoryStore;
//! use client_core::sync::{Effects, Hub};
//!
//! let mut relay = Hub::new(MemoryStore::new(), PeerId::from("relay"), 100);
//! let mut device = Hub::new(MemoryStore::new(), PeerId::from("phone"), 100);
//! relay.connect(PeerId::from("phone"), &PeerMetadata::default());
//! device.connect(PeerId::from("relay"), &PeerMetadata::default());
//!
//! // The phone asks for a document nobody has: the relay says so.
//! let doc = client_core::ids::DocumentId::random();
//! let mut fx = Effects::default();
//! device.want(&doc, &PeerId::from("relay"), &mut fx).unwrap();
//! let (_, request) = fx.send.pop().unwrap();
//! let mut fx = Effects::default();
//! relay.receive(&PeerId::from("phone"), request, &mut fx).unwrap();
//! assert!(matches!(fx.send[0].1, Message::DocUnavailable { .. }));
//! ```

use std::collections::{BTreeSet, HashMap, HashSet};

use automerge::sync::{self, SyncDoc};
use automerge::{ActorId, Automerge, Change, ChangeHash, ReadDoc};

use crate::clip::clip;
use crate::ids::DocumentId;
use crate::model::limits::Limits;
use crate::protocol::heads_batch::{self, HeadsBatch, HeadsBatchError};
use crate::protocol::{Message, PeerId, PeerMetadata, StorageId};
use crate::repo::{Repo, RepoError};
use crate::store::{Batch, Store};

pub mod access;
pub mod heads;
pub mod limits;

pub use self::access::{Access, AllowAll, Refusal};
pub use self::heads::{
    EXTENSION_MESSAGES, EXTENSIONS_KEY, HEADS_BATCH, HEADS_BATCH_SPLIT, HEADS_MESSAGE, HEADS_REPLY,
    offers, with_extensions,
};
pub use self::limits::HubLimits;

/// What one or more calls into the hub ask the shell to do.
#[derive(Debug, Default)]
pub struct Effects {
    /// Frames to send, in order, after `batch` is committed.
    pub send: Vec<(PeerId, Message)>,
    /// Storage writes to commit before sending.
    pub batch: Batch,
    /// Connections to close after sending, with the reason.
    pub close: Vec<(PeerId, String)>,
    pub events: Vec<HubEvent>,
}

/// Things the shell may want to show or act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HubEvent {
    /// A peer's changes were applied to a document (and are in the batch).
    Changed {
        doc: DocumentId,
        by: PeerId,
        changes: usize,
    },
    /// A peer's changes were refused by the access policy; nothing stored.
    Refused {
        doc: DocumentId,
        by: PeerId,
        reason: String,
    },
    /// A peer asked for a document it may not see; it was told the
    /// document is unavailable.
    Denied { doc: DocumentId, peer: PeerId },
    /// The relay holds these documents with exactly our heads (reply to a
    /// heads batch): they are in sync without a per-document exchange.
    SameHeads {
        docs: Vec<DocumentId>,
        of: Vec<DocumentId>,
    },
    /// A peer has no copy of a document and knows nobody who has.
    Unavailable { doc: DocumentId, peer: PeerId },
}

/// Why the hub could not handle an input. Peer misbehaviour is not an
/// error here (it becomes a close in [`Effects`]); these are local faults.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// A connected peer.
#[derive(Debug)]
struct Peer {
    /// Where its sync states persist; `None` for ephemeral peers.
    storage: Option<StorageId>,
    /// Documents it has synced or asked for in this connection.
    docs: HashSet<DocumentId>,
    /// Documents nobody had when it asked (its entries in `Hub::waiting`).
    waiting: HashSet<DocumentId>,
    /// Highest ephemeral `count` seen per session, to drop relayed loops.
    ephemeral_seen: HashMap<String, u64>,
    /// It offered the heads-batch extension.
    heads_batch: bool,
}

impl Peer {
    fn new(storage: Option<StorageId>, heads_batch: bool) -> Self {
        Self {
            storage,
            docs: HashSet::new(),
            waiting: HashSet::new(),
            ephemeral_seen: HashMap::new(),
            heads_batch,
        }
    }
}

/// A document in memory.
#[derive(Debug)]
struct Loaded {
    doc: Automerge,
    states: HashMap<PeerId, sync::State>,
    last_used: u64,
    /// Encoded size: as stored when loaded, plus the changes received
    /// since (checked against [`Limits::max_document_bytes`]).
    bytes: usize,
}

/// The sync state machine for many documents and peers.
#[derive(Debug)]
pub struct Hub<S> {
    repo: Repo<S>,
    me: PeerId,
    peers: HashMap<PeerId, Peer>,
    docs: HashMap<DocumentId, Loaded>,
    /// Peers that asked for a document nobody had yet.
    waiting: HashMap<DocumentId, BTreeSet<PeerId>>,
    /// Connected peers per document, kept when the document is evicted.
    subscribers: HashMap<DocumentId, BTreeSet<PeerId>>,
    capacity: usize,
    tick: u64,
    access: Box<dyn Access>,
    /// What a peer's changes may make of a document.
    document_limits: Limits,
    /// Others write to the store too (a device's own edits): a document
    /// held in memory is brought up to date with the store before use.
    other_writers: bool,
    /// Heads batches sent and not yet answered, oldest first.
    batches_sent: std::collections::VecDeque<Vec<DocumentId>>,
    limits: HubLimits,
    /// Documents being downloaded afresh ([`Hub::want_afresh`]): the
    /// stored copy is neither used nor merged, and the first changes that
    /// arrive replace it whole.
    replacing: HashSet<DocumentId>,
    /// Peers are told this hub takes changes, not whole documents
    /// ([`Hub::ask_for_changes`]).
    changes_only: bool,
}

impl<S: Store> Hub<S> {
    /// A hub over `store`, known to peers as `me`, keeping at most
    /// `capacity` documents in memory between calls.
    pub fn new(store: S, me: PeerId, capacity: usize) -> Self {
        Self::with_actor(store, me, capacity, ActorId::random())
    }

    pub fn with_actor(store: S, me: PeerId, capacity: usize, actor: ActorId) -> Self {
        Self {
            repo: Repo::new(store, actor),
            me,
            peers: HashMap::new(),
            docs: HashMap::new(),
            waiting: HashMap::new(),
            subscribers: HashMap::new(),
            capacity: capacity.max(1),
            tick: 0,
            access: Box::new(AllowAll),
            document_limits: Limits::DEFAULT,
            other_writers: false,
            batches_sent: std::collections::VecDeque::new(),
            limits: HubLimits::default(),
            replacing: HashSet::new(),
            changes_only: false,
        }
    }

    /// Puts `limits` in force for every later input.
    pub fn set_limits(&mut self, limits: HubLimits) {
        self.limits = limits;
    }

    /// Puts an access policy in force for every later input.
    pub fn set_access(&mut self, access: Box<dyn Access>) {
        self.access = access;
    }

    /// Sends sync messages without automerge's flags, so without the
    /// `MessageV2` capability: peers then send this hub the changes it
    /// lacks, never a whole document. A document chunk would have to be
    /// loaded and each of its changes rebuilt from it
    /// (`Automerge::get_changes` re-encodes every one) for the limits and
    /// the access policy, which read changes; on a relay that rebuild was
    /// the largest avoidable cost of a JS client's upload. The flags' only
    /// other uses are read-only mode and sync resets, which a hub never
    /// asks for. Peers that advertise V2 are still sent whole documents
    /// when they hold nothing.
    pub fn ask_for_changes(&mut self) {
        self.changes_only = true;
    }

    /// Declares that others write to the store too (a device, whose own
    /// edits go straight to the store): before the hub uses a document it
    /// holds, it takes in whatever the store has that it lacks. A relay,
    /// the only writer of its store, leaves this off and saves the lookup.
    pub fn share_store(&mut self) {
        self.other_writers = true;
    }

    /// Puts document limits in force for every later input (by default
    /// [`Limits::DEFAULT`]).
    pub fn set_document_limits(&mut self, limits: Limits) {
        self.document_limits = limits;
    }

    pub fn me(&self) -> &PeerId {
        &self.me
    }

    pub fn repo(&self) -> &Repo<S> {
        &self.repo
    }

    /// How many documents are in memory now.
    pub fn loaded(&self) -> usize {
        self.docs.len()
    }

    /// Registers a peer after its handshake.
    pub fn connect(&mut self, peer: PeerId, meta: &PeerMetadata) {
        let storage = match meta.is_ephemeral {
            Some(true) => None,
            _ => meta.storage_id.clone(),
        };
        self.peers
            .insert(peer, Peer::new(storage, offers(meta, HEADS_BATCH)));
    }

    /// Forgets a peer: its in-memory sync states go, its persisted ones stay.
    pub fn disconnect(&mut self, peer: &PeerId) {
        let Some(p) = self.peers.remove(peer) else {
            return;
        };
        for doc in &p.waiting {
            if let Some(w) = self.waiting.get_mut(doc) {
                w.remove(peer);
                if w.is_empty() {
                    self.waiting.remove(doc);
                }
            }
        }
        for doc in p.docs {
            if let Some(subs) = self.subscribers.get_mut(&doc) {
                subs.remove(peer);
                if subs.is_empty() {
                    self.subscribers.remove(&doc);
                }
            }
            if let Some(d) = self.docs.get_mut(&doc) {
                d.states.remove(peer);
            }
            if let Some(w) = self.waiting.get_mut(&doc) {
                w.remove(peer);
                if w.is_empty() {
                    self.waiting.remove(&doc);
                }
            }
        }
    }

    /// Drops a document from memory, with its in-memory sync states; the
    /// next message about it reloads it (and persisted sync states) from
    /// the store. For a shell whose commit failed: memory must never claim
    /// more than the store holds. Peers stay subscribed.
    pub fn forget(&mut self, doc: &DocumentId) {
        self.docs.remove(doc);
    }

    pub fn is_connected(&self, peer: &PeerId) -> bool {
        self.peers.contains_key(peer)
    }

    /// Starts syncing `doc` with `peer`: a `sync` if we hold the document,
    /// a `request` if we do not.
    pub fn want(
        &mut self,
        doc: &DocumentId,
        peer: &PeerId,
        fx: &mut Effects,
    ) -> Result<(), SyncError> {
        if !self.peers.contains_key(peer) {
            return Ok(());
        }
        let have = self.ensure_loaded(doc)?;
        self.subscribe(doc, peer);
        if !have && !self.replacing.contains(doc) {
            // `ensure_loaded` just found nothing stored: a fresh download
            // starts from an empty document without a second store read
            // (one read transaction per document of a fresh device).
            self.docs.insert(
                *doc,
                Loaded {
                    doc: Automerge::new().with_actor(self.repo.actor().clone()),
                    states: HashMap::new(),
                    last_used: self.tick,
                    bytes: 0,
                },
            );
        }
        self.send_sync(doc, peer, !have, fx)?;
        Ok(())
    }

    /// Downloads `doc` from `peer` afresh, as if this hub had never held
    /// it: for a stored copy whose history the relay retired (it rewrote
    /// the document). The stored copy stays until the first changes
    /// arrive, which then replace it whole (snapshot, heads, summary) in
    /// one batch; its persisted sync states go now (they name its heads).
    pub fn want_afresh(
        &mut self,
        doc: &DocumentId,
        peer: &PeerId,
        fx: &mut Effects,
    ) -> Result<(), SyncError> {
        if !self.peers.contains_key(peer) {
            return Ok(());
        }
        self.replacing.insert(*doc);
        self.docs.insert(
            *doc,
            Loaded {
                doc: Automerge::new().with_actor(self.repo.actor().clone()),
                states: HashMap::new(),
                last_used: self.tick,
                bytes: 0,
            },
        );
        fx.batch.drop_doc_sync_states(*doc);
        self.subscribe(doc, peer);
        self.send_sync(doc, peer, true, fx)
    }

    /// Whether `doc` is being downloaded afresh and has not arrived yet.
    pub fn is_replacing(&self, doc: &DocumentId) -> bool {
        self.replacing.contains(doc)
    }

    /// Whether `peer` may read the stored `doc`: asks the policy with the
    /// document as held in memory, else as stored (read for the question
    /// and not kept, so a long heads batch does not fill memory).
    fn may_read_stored(&mut self, peer: &PeerId, doc: &DocumentId) -> Result<bool, SyncError> {
        if !self.access.checks_reads() {
            return Ok(true);
        }
        if let Some(d) = self.docs.get(doc) {
            return Ok(self.access.may_read(peer, doc, &d.doc));
        }
        Ok(match self.repo.load(doc)? {
            Some(content) => self.access.may_read(peer, doc, &content),
            None => false,
        })
    }

    /// Whether `peer` may be subscribed to one more document (always, if
    /// it already is to `doc`); refuses it if not.
    fn may_subscribe(&mut self, doc: &DocumentId, peer: &PeerId, fx: &mut Effects) -> bool {
        let limit = self.limits.subscriptions;
        let full = self
            .peers
            .get(peer)
            .is_some_and(|p| !p.docs.contains(doc) && p.docs.len() >= limit);
        if full {
            let reason = format!(
                "more than {limit} documents on one connection, the relay's limit; \
                 reconnect and sync fewer at once"
            );
            self.refuse(peer, &reason, fx);
        }
        !full
    }

    /// Tells every subscribed peer about local changes to `doc` made
    /// outside the hub (already committed by the caller).
    pub fn local_change(&mut self, doc: &DocumentId, fx: &mut Effects) -> Result<(), SyncError> {
        if let Some(d) = self.docs.get_mut(doc)
            && !self.replacing.contains(doc)
        {
            // Reload: the change was written through another repo handle.
            if let Some(fresh) = self.repo.load(doc)? {
                d.doc = fresh;
            }
        }
        let peers: Vec<PeerId> = self
            .subscribers
            .get(doc)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        for p in peers {
            self.ensure_loaded(doc)?;
            self.send_sync(doc, &p, false, fx)?;
        }
        Ok(())
    }

    /// Whether `peer` has acknowledged everything we hold of `doc` and we
    /// hold everything it has: its last reported heads equal ours.
    pub fn in_sync(&self, doc: &DocumentId, peer: &PeerId) -> Option<bool> {
        let d = self.docs.get(doc)?;
        let state = d.states.get(peer)?;
        let theirs: BTreeSet<ChangeHash> = state.their_heads.as_ref()?.iter().copied().collect();
        let ours: BTreeSet<ChangeHash> = d.doc.get_heads().into_iter().collect();
        Some(theirs == ours)
    }

    /// The document as held in memory, if loaded.
    pub fn document(&self, doc: &DocumentId) -> Option<&Automerge> {
        self.docs.get(doc).map(|d| &d.doc)
    }

    /// Heads of a document as held now (loading it if needed).
    pub fn heads(&mut self, doc: &DocumentId) -> Result<Vec<ChangeHash>, SyncError> {
        if self.ensure_loaded(doc)? {
            Ok(self.docs[doc].doc.get_heads())
        } else {
            Ok(Vec::new())
        }
    }

    /// Handles one frame from `from`.
    pub fn receive(
        &mut self,
        from: &PeerId,
        msg: Message,
        fx: &mut Effects,
    ) -> Result<(), SyncError> {
        self.tick += 1;
        if !self.peers.contains_key(from) {
            fx.close
                .push((from.clone(), "a message before the join handshake".into()));
            return Ok(());
        }
        match msg {
            Message::Sync {
                document_id, data, ..
            } => self.on_sync(from, document_id, &data, false, fx)?,
            Message::Request {
                document_id, data, ..
            } => self.on_sync(from, document_id, &data, true, fx)?,
            Message::DocUnavailable { document_id, .. } => {
                fx.events.push(HubEvent::Unavailable {
                    doc: document_id,
                    peer: from.clone(),
                });
            }
            Message::Ephemeral {
                sender_id,
                count,
                session_id,
                document_id,
                data,
                ..
            } => {
                self.on_ephemeral(from, sender_id, count, session_id, document_id, data, fx)?;
            }
            Message::Leave { .. } => fx.close.push((from.clone(), "peer left".into())),
            Message::Error { message, .. } => {
                fx.close.push((
                    from.clone(),
                    format!("peer reported an error: {}", clip(&message)),
                ));
            }
            // Remote-heads gossip is optional; this hub does not take part.
            Message::RemoteSubscriptionChange { .. } | Message::RemoteHeadsChanged { .. } => {}
            Message::Join { .. } | Message::Peer { .. } => {
                self.refuse(from, "a second handshake on an open connection", fx);
            }
            Message::Extension { type_name, .. } if !self.speaks_heads_batch(from) => {
                self.refuse(from, &format!("unsupported message type `{type_name}`"), fx);
            }
            extension @ Message::Extension { .. } => match heads_batch::decode(&extension) {
                Ok(HeadsBatch::Batch { entries, .. }) => self.on_heads_batch(from, &entries, fx)?,
                Ok(HeadsBatch::Reply { same, .. }) => {
                    let of = self.batches_sent.pop_front().unwrap_or_default();
                    fx.events.push(HubEvent::SameHeads { docs: same, of });
                }
                Err(HeadsBatchError::NotHeadsBatch(type_name)) => {
                    self.refuse(from, &format!("unsupported message type `{type_name}`"), fx);
                }
                Err(e) => self.refuse(from, &format!("a malformed heads batch: {e}"), fx),
            },
        }
        self.evict_idle();
        Ok(())
    }

    /// Answers a misbehaving peer with an `error` frame and closes it.
    /// The reason is [`clip`]ped: it may quote what the peer sent.
    pub fn refuse(&mut self, peer: &PeerId, reason: &str, fx: &mut Effects) {
        let reason = clip(reason);
        fx.send.push((
            peer.clone(),
            Message::Error {
                sender_id: Some(self.me.clone()),
                target_id: Some(peer.clone()),
                message: reason.clone().into_owned(),
            },
        ));
        fx.close.push((peer.clone(), reason.into_owned()));
    }

    fn on_sync(
        &mut self,
        from: &PeerId,
        doc_id: DocumentId,
        data: &[u8],
        is_request: bool,
        fx: &mut Effects,
    ) -> Result<(), SyncError> {
        let msg = match sync::Message::decode(data) {
            Ok(m) => m,
            Err(e) => {
                self.refuse(
                    from,
                    &format!("undecodable sync message for {doc_id}: {e}"),
                    fx,
                );
                return Ok(());
            }
        };
        if let Err(broken) = self.document_limits.check_chunks(msg.changes.iter()) {
            self.refuse_changes(from, doc_id, broken.to_string(), fx);
            return Ok(());
        }
        let have = self.ensure_loaded(&doc_id)?;
        // A document with no changes yet (held in memory while another
        // peer's first message is answered) has nothing to deny: its first
        // changes go to `check_write`, which answers with a reason.
        let held = have && !self.docs[&doc_id].doc.get_heads().is_empty();
        if held && !self.access.may_read(from, &doc_id, &self.docs[&doc_id].doc) {
            // Indistinguishable from a document that does not exist.
            fx.events.push(HubEvent::Denied {
                doc: doc_id,
                peer: from.clone(),
            });
            self.unavailable(from, doc_id, fx);
            return Ok(());
        }
        if !have && is_request && msg.heads.is_empty() {
            // Nobody here has it: say so, and remember who asked.
            let limit = self.limits.unknown_requests;
            let peer = self.peers.get_mut(from).expect("checked in receive");
            if !peer.waiting.contains(&doc_id) && peer.waiting.len() >= limit {
                let reason = format!(
                    "asked for more than {limit} documents the relay does not hold \
                     on one connection; reconnect and ask for fewer"
                );
                self.refuse(from, &reason, fx);
                return Ok(());
            }
            peer.waiting.insert(doc_id);
            self.waiting.entry(doc_id).or_default().insert(from.clone());
            self.unavailable(from, doc_id, fx);
            return Ok(());
        }
        if !self.may_subscribe(&doc_id, from, fx) {
            return Ok(());
        }
        if !have && !self.replacing.contains(&doc_id) {
            // `ensure_loaded` just found it stored nowhere: a new document
            // (reading the store again for it was a second lookup per new
            // document).
            self.docs.insert(
                doc_id,
                Loaded {
                    doc: Automerge::new().with_actor(self.repo.actor().clone()),
                    states: HashMap::new(),
                    last_used: self.tick,
                    bytes: 0,
                },
            );
        }
        let storage = self.peers.get(from).and_then(|p| p.storage.clone());
        let mut state = self.state_for(&doc_id, from, storage.as_ref())?;
        let shared_before = state.shared_heads.clone();
        let d = self.docs.get_mut(&doc_id).expect("loaded above");
        d.last_used = self.tick;
        let before = d.doc.get_heads();
        let carries_changes = !msg.changes.is_empty();
        let incoming = Incoming::of(&d.doc, &msg.changes);
        let mut changes = Vec::new();
        let applied = if carries_changes && self.access.checks_writes() {
            // Apply to a copy first; only an accepted copy replaces the document.
            let mut copy = d.doc.clone();
            let mut copy_state = state.clone();
            match incoming.receive(&mut copy, &mut copy_state, msg) {
                Err(e) => Err(format!(
                    "sync message for {doc_id} could not be applied: {e}"
                )),
                Ok(()) => {
                    changes = incoming.applied(&copy, &before);
                    let bytes = d.bytes + encoded_len(&changes);
                    let prior = (!before.is_empty()).then_some(&d.doc);
                    match self
                        .document_limits
                        .check_document(&copy, &changes, bytes)
                        .map_err(Refusal::new)
                        .and_then(|()| {
                            self.access
                                .check_write(from, &doc_id, prior, &copy, &changes)
                        })
                        .map_err(|refusal| refusal.to_string())
                    {
                        Ok(()) => {
                            d.doc = copy;
                            d.bytes = bytes;
                            state = copy_state;
                            Ok(())
                        }
                        Err(reason) => {
                            fx.events.push(HubEvent::Refused {
                                doc: doc_id,
                                by: from.clone(),
                                reason: reason.clone(),
                            });
                            Err(format!("refused changes to {doc_id}: {reason}"))
                        }
                    }
                }
            }
        } else {
            incoming
                .receive(&mut d.doc, &mut state, msg)
                .map_err(|e| format!("sync message for {doc_id} could not be applied: {e}"))
                .and_then(|()| {
                    changes = incoming.applied(&d.doc, &before);
                    let bytes = d.bytes + encoded_len(&changes);
                    match self.document_limits.check_document(&d.doc, &changes, bytes) {
                        Ok(()) => {
                            d.bytes = bytes;
                            Ok(())
                        }
                        Err(broken) => {
                            // Applied in place (nothing checks writes): put
                            // the document back as it was.
                            let actor = d.doc.get_actor().clone();
                            match d.doc.fork_at(&before) {
                                Ok(restored) => d.doc = restored.with_actor(actor),
                                Err(_) => d.doc = Automerge::new().with_actor(actor),
                            }
                            fx.events.push(HubEvent::Refused {
                                doc: doc_id,
                                by: from.clone(),
                                reason: broken.to_string(),
                            });
                            Err(format!("refused changes to {doc_id}: {broken}"))
                        }
                    }
                })
        };
        if let Err(reason) = applied {
            if before.is_empty() && d.doc.get_heads().is_empty() {
                // A refused new document leaves nothing behind in memory.
                self.docs.remove(&doc_id);
            } else {
                d.states.insert(from.clone(), state);
            }
            self.refuse(from, &reason, fx);
            return Ok(());
        }
        resend_what_they_need(&mut state);
        if !have && !self.access.may_read(from, &doc_id, &d.doc) {
            // Allowed to write but not to read back: nothing more to say.
            d.states.insert(from.clone(), state);
        } else {
            d.states.insert(from.clone(), state);
            self.subscribe(&doc_id, from);
        }
        let d = &self.docs[&doc_id];
        let changed = d.doc.get_heads() != before;
        if let Some(storage) = &storage
            && d.states[from].shared_heads != shared_before
        {
            fx.batch
                .put_sync_state(doc_id, storage.as_str(), d.states[from].encode());
        }
        if changed {
            let batch = if self.replacing.remove(&doc_id) {
                self.repo.replacement(&doc_id, &d.doc)
            } else {
                self.repo.changes_applied(&doc_id, &d.doc, &changes)?
            };
            fx.batch.extend(batch);
            fx.events.push(HubEvent::Changed {
                doc: doc_id,
                by: from.clone(),
                changes: changes.len(),
            });
        }
        self.send_sync(&doc_id, from, false, fx)?;
        if changed {
            let waiting = self.waiting.remove(&doc_id).unwrap_or_default();
            for p in &waiting {
                if let Some(peer) = self.peers.get_mut(p) {
                    peer.waiting.remove(&doc_id);
                }
            }
            let others: BTreeSet<PeerId> = self
                .subscribers
                .get(&doc_id)
                .into_iter()
                .flatten()
                .chain(waiting.iter())
                .filter(|p| *p != from && self.peers.contains_key(*p))
                .cloned()
                .collect();
            for p in others {
                // Readability can change with the content (a re-dispatch).
                if !self.access.may_read(&p, &doc_id, &self.docs[&doc_id].doc) {
                    continue;
                }
                self.subscribe(&doc_id, &p);
                self.send_sync(&doc_id, &p, false, fx)?;
            }
        }
        Ok(())
    }

    /// Refuses a peer's changes to `doc` before anything is applied.
    fn refuse_changes(&mut self, from: &PeerId, doc: DocumentId, reason: String, fx: &mut Effects) {
        let message = format!("refused changes to {doc}: {reason}");
        fx.events.push(HubEvent::Refused {
            doc,
            by: from.clone(),
            reason,
        });
        self.refuse(from, &message, fx);
    }

    fn unavailable(&mut self, to: &PeerId, doc: DocumentId, fx: &mut Effects) {
        fx.send.push((
            to.clone(),
            Message::DocUnavailable {
                sender_id: self.me.clone(),
                target_id: to.clone(),
                document_id: doc,
            },
        ));
    }

    /// Relays an ephemeral message to the document's other subscribers
    /// that may read it. The sender must be able to read the document: one
    /// it may not read, or one the hub does not hold, is answered with an
    /// `error` message (the same for both, so nothing about the document's
    /// existence leaks) and relayed to nobody.
    #[allow(clippy::too_many_arguments)]
    fn on_ephemeral(
        &mut self,
        from: &PeerId,
        sender: PeerId,
        count: u64,
        session: String,
        doc: DocumentId,
        data: Vec<u8>,
        fx: &mut Effects,
    ) -> Result<(), SyncError> {
        if self.access.checks_reads()
            && !(self.ensure_loaded(&doc)? && self.may_read_loaded(from, &doc))
        {
            let have = self.docs.contains_key(&doc);
            if have {
                fx.events.push(HubEvent::Denied {
                    doc,
                    peer: from.clone(),
                });
            }
            fx.send.push((
                from.clone(),
                Message::Error {
                    sender_id: Some(self.me.clone()),
                    target_id: Some(from.clone()),
                    message: format!(
                        "ephemeral message about {doc} not relayed: this relay holds no \
                         document with that id that you may read"
                    ),
                },
            ));
            return Ok(());
        }
        let limit = self.limits.ephemeral_sessions;
        let Some(peer) = self.peers.get_mut(from) else {
            return Ok(());
        };
        let key = format!("{sender}/{session}");
        if !peer.ephemeral_seen.contains_key(&key) && peer.ephemeral_seen.len() >= limit {
            let reason = format!("more than {limit} ephemeral sessions on one connection");
            self.refuse(from, &reason, fx);
            return Ok(());
        }
        let seen = peer.ephemeral_seen.entry(key).or_insert(0);
        if count != 0 && count <= *seen {
            return Ok(());
        }
        *seen = count;
        let to: Vec<PeerId> = self
            .subscribers
            .get(&doc)
            .into_iter()
            .flatten()
            .filter(|p| *p != from)
            .cloned()
            .collect();
        for p in to {
            // Readability can change with the content (a re-dispatch).
            if !self.may_read_loaded(&p, &doc) {
                continue;
            }
            fx.send.push((
                p.clone(),
                Message::Ephemeral {
                    sender_id: sender.clone(),
                    target_id: p,
                    count,
                    session_id: session.clone(),
                    document_id: doc,
                    data: data.clone(),
                },
            ));
        }
        Ok(())
    }

    /// [`Access::may_read`] for a document in memory.
    fn may_read_loaded(&self, peer: &PeerId, doc: &DocumentId) -> bool {
        !self.access.checks_reads()
            || self
                .docs
                .get(doc)
                .is_some_and(|d| self.access.may_read(peer, doc, &d.doc))
    }

    fn subscribe(&mut self, doc: &DocumentId, peer: &PeerId) {
        if let Some(p) = self.peers.get_mut(peer)
            && p.docs.insert(*doc)
        {
            self.subscribers
                .entry(*doc)
                .or_default()
                .insert(peer.clone());
        }
    }

    /// Loads `doc` into memory if stored; false if we have no copy.
    fn ensure_loaded(&mut self, doc: &DocumentId) -> Result<bool, SyncError> {
        if self.replacing.contains(doc) {
            // The stored copy is retired: never load or merge it.
            let actor = self.repo.actor().clone();
            let tick = self.tick;
            let d = self.docs.entry(*doc).or_insert_with(|| Loaded {
                doc: Automerge::new().with_actor(actor),
                states: HashMap::new(),
                last_used: tick,
                bytes: 0,
            });
            d.last_used = tick;
            return Ok(!d.doc.get_heads().is_empty());
        }
        if let Some(d) = self.docs.get_mut(doc) {
            d.last_used = self.tick;
            if self.other_writers
                && let Some(stored) = self.repo.store().heads(doc).map_err(RepoError::from)?
                && stored
                    .iter()
                    .any(|h| d.doc.get_change_meta_by_hash(h).is_none())
                && let Some((mut fresh, bytes)) = self.repo.load_sized(doc)?
            {
                // Someone else (the device's own edits, another process)
                // stored changes this copy lacks: take them in first, so
                // what is written next, the ticket summary above all, is
                // computed from the whole document.
                d.doc.merge(&mut fresh).map_err(RepoError::from)?;
                d.bytes = d.bytes.max(bytes);
            }
            return Ok(true);
        }
        match self.repo.load_sized(doc)? {
            Some((loaded, bytes)) => {
                self.docs.insert(
                    *doc,
                    Loaded {
                        doc: loaded,
                        states: HashMap::new(),
                        last_used: self.tick,
                        bytes,
                    },
                );
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The sync state for (doc, peer), from memory, the store, or new.
    fn state_for(
        &mut self,
        doc: &DocumentId,
        peer: &PeerId,
        storage: Option<&StorageId>,
    ) -> Result<sync::State, SyncError> {
        if let Some(s) = self.docs.get_mut(doc).and_then(|d| d.states.remove(peer)) {
            return Ok(s);
        }
        if self.replacing.contains(doc) {
            return Ok(sync::State::new());
        }
        if let Some(storage) = storage
            && let Some(bytes) = self
                .repo
                .store()
                .sync_state(doc, storage.as_str())
                .map_err(RepoError::from)?
            && let Ok(state) = sync::State::decode(&bytes)
        {
            return Ok(state);
        }
        Ok(sync::State::new())
    }

    /// Generates the next sync message for (doc, peer) and queues it.
    fn send_sync(
        &mut self,
        doc: &DocumentId,
        peer: &PeerId,
        as_request: bool,
        fx: &mut Effects,
    ) -> Result<(), SyncError> {
        let storage = self.peers.get(peer).and_then(|p| p.storage.clone());
        let mut state = self.state_for(doc, peer, storage.as_ref())?;
        let d = self.docs.get_mut(doc).expect("caller loads the document");
        if let Some(mut msg) = d.doc.generate_sync_message(&mut state) {
            if self.changes_only {
                // No flags, so no `MessageV2` capability: see `ask_for_changes`.
                msg.flags = None;
            }
            let data = msg.encode();
            let (sender_id, target_id, document_id) = (self.me.clone(), peer.clone(), *doc);
            fx.send.push((
                peer.clone(),
                if as_request {
                    Message::Request {
                        sender_id,
                        target_id,
                        document_id,
                        data,
                    }
                } else {
                    Message::Sync {
                        sender_id,
                        target_id,
                        document_id,
                        data,
                    }
                },
            ));
        }
        d.states.insert(peer.clone(), state);
        Ok(())
    }

    /// Drops least recently used documents beyond capacity. In-memory sync
    /// states go with them; a later message rebuilds them from the
    /// persisted shared heads, which the sync protocol tolerates.
    /// Runs when a quarter over capacity, so its cost is amortised.
    fn evict_idle(&mut self) {
        if self.docs.len() <= self.capacity + self.capacity / 4 {
            return;
        }
        let excess = self.docs.len() - self.capacity;
        let mut by_age: Vec<(u64, DocumentId)> =
            self.docs.iter().map(|(id, d)| (d.last_used, *id)).collect();
        by_age.select_nth_unstable(excess - 1);
        for (_, id) in by_age.into_iter().take(excess) {
            self.docs.remove(&id);
        }
    }
}

/// The changes a sync message brings, kept as they came off the wire so
/// that what a document gained need not be re-encoded from its op set
/// (`Automerge::get_changes` rebuilds every change it returns; it was the
/// largest cost of an upload, done three times per message).
struct Incoming {
    /// The message's changes, each once, when the document queues none of
    /// its own (so whatever applies comes from the message).
    changes: Option<Vec<Change>>,
    /// How many changes the document held before.
    known: u64,
}

impl Incoming {
    /// A chunk that is not a single change (a v2 message's document
    /// chunk) leaves the changes to be read from the document.
    fn of(doc: &Automerge, chunks: &sync::ChunkList) -> Self {
        let quiet = doc.get_missing_deps(&[]).is_empty();
        let changes = quiet
            .then(|| {
                let mut seen = HashSet::new();
                let mut changes = Vec::with_capacity(chunks.len());
                for chunk in chunks.iter() {
                    // Only a change chunk (type 1, or 2 compressed) is read
                    // here: a document chunk, what the JS client sends for a
                    // new document, was parsed whole only to be refused.
                    if !matches!(chunk.get(8), Some(1 | 2)) {
                        return None;
                    }
                    let change = Change::from_bytes(chunk.to_vec()).ok()?;
                    // A chunk's header carries the first bytes of its
                    // change's hash; `from_bytes` does not compare them,
                    // and automerge's own reading skips a chunk where they
                    // differ. Such a message is left to automerge.
                    if chunk.get(4..8) != Some(&change.hash().0[..4]) {
                        return None;
                    }
                    if seen.insert(change.hash()) {
                        changes.push(change);
                    }
                }
                Some(changes)
            })
            .flatten();
        Incoming {
            changes,
            known: doc.stats().num_changes,
        }
    }

    /// Applies `msg` to `doc` as `receive_sync_message` does, without
    /// reading its changes a second time: the changes `of` read are
    /// applied, then the rest of the message (heads, needs, bloom) is
    /// received with no changes in it, and `state` is left as receiving
    /// the whole message leaves it. A message `of` could not read whole
    /// goes to automerge as it is.
    fn receive(
        &self,
        doc: &mut Automerge,
        state: &mut sync::State,
        mut msg: sync::Message,
    ) -> Result<(), automerge::AutomergeError> {
        let Some(changes) = self.changes.as_ref() else {
            return doc.receive_sync_message(state, msg);
        };
        if changes.is_empty() || state.read_only || msg.changes.is_empty() {
            return doc.receive_sync_message(state, msg);
        }
        let before: HashSet<ChangeHash> = doc.get_heads().into_iter().collect();
        doc.apply_changes(changes.iter().cloned())?;
        let after = doc.get_heads();
        // What automerge makes of the heads it shares with the peer once
        // the changes applied: its own new heads, and those shared heads
        // still heads.
        let mut shared: Vec<ChangeHash> = after
            .iter()
            .filter(|h| !before.contains(h))
            .chain(state.shared_heads.iter().filter(|h| after.contains(h)))
            .copied()
            .collect();
        shared.sort();
        shared.dedup();
        state.shared_heads = shared;
        // A message with no changes whose heads are ours marks them sent
        // (nothing to answer); this one brought changes, and the peer is
        // owed the answer that acknowledges them.
        let owed = !msg.heads.is_empty() && msg.heads == after;
        let last_sent = state.last_sent_heads.clone();
        msg.changes = sync::ChunkList::empty();
        doc.receive_sync_message(state, msg)?;
        if owed {
            state.last_sent_heads = last_sent;
        }
        Ok(())
    }

    /// What `doc` gained since `before` by applying the message: the
    /// message's changes when the counts prove every one of them applied
    /// (none was known, none is left queued), else read from `doc`.
    fn applied(self, doc: &Automerge, before: &[ChangeHash]) -> Vec<Change> {
        match self.changes {
            Some(changes)
                if doc.stats().num_changes.checked_sub(self.known)
                    == Some(changes.len() as u64) =>
            {
                changes
            }
            _ => doc.get_changes(before),
        }
    }
}

/// Takes the changes a peer just said it needs out of what `state`
/// remembers sending it, so the next message carries them again.
///
/// Automerge never sends a change twice in one session (`sent_hashes`),
/// trusting that what it sent is held, applied or queued, at the other
/// end. A change whose dependencies have not arrived waits in the
/// document's queue, in memory only, and a hub drops that queue when it
/// evicts the document, or a device's hub when it reloads the document
/// after a local edit. The peer then asked for the change (`need`) and
/// never got it, while each side answered the other's message with
/// another one: a livelock that burned the relay's CPU. On an ordered
/// connection a change already sent is asked for again only if it was
/// lost, or when the request crossed it on the wire (then it goes twice).
fn resend_what_they_need(state: &mut sync::State) {
    if let Some(need) = &state.their_need {
        for hash in need {
            state.sent_hashes.remove(hash);
        }
    }
}

/// Encoded bytes of `changes`.
fn encoded_len(changes: &[automerge::Change]) -> usize {
    changes.iter().map(|c| c.raw_bytes().len()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn request(from: &PeerId, doc: DocumentId) -> Message {
        Message::Request {
            sender_id: from.clone(),
            target_id: PeerId::from("relay"),
            document_id: doc,
            data: Automerge::new()
                .generate_sync_message(&mut sync::State::new())
                .expect("a first message")
                .encode(),
        }
    }

    fn two_changes() -> (automerge::Change, automerge::Change) {
        use automerge::transaction::Transactable;
        let mut doc = Automerge::new();
        for key in ["a", "b"] {
            let mut tx = doc.transaction();
            tx.put(automerge::ROOT, key, 1).unwrap();
            tx.commit();
        }
        let mut changes = doc.get_changes(&[]).into_iter();
        (changes.next().unwrap(), changes.next().unwrap())
    }

    /// What a document gained from a message is taken from the message
    /// only when that is provably all of it: a change queued earlier for a
    /// missing dependency, applied when the dependency comes, is counted
    /// too, and a change the document already held is not.
    #[test]
    fn the_changes_a_message_brings_are_what_the_document_gained() {
        let (first, second) = two_changes();
        let chunks = |c: &automerge::Change| sync::ChunkList::from(vec![c.raw_bytes().to_vec()]);
        let mut doc = Automerge::new();
        let before = doc.get_heads();
        // The second change alone waits for the first: nothing applied.
        let incoming = Incoming::of(&doc, &chunks(&second));
        doc.apply_changes([second.clone()]).unwrap();
        assert!(incoming.applied(&doc, &before).is_empty());
        // The first comes: both apply, one of them from the queue.
        let incoming = Incoming::of(&doc, &chunks(&first));
        doc.apply_changes([first.clone()]).unwrap();
        let mut gained: Vec<_> = incoming
            .applied(&doc, &before)
            .iter()
            .map(|c| c.hash())
            .collect();
        let mut expected = vec![first.hash(), second.hash()];
        gained.sort();
        expected.sort();
        assert_eq!(gained, expected);
        // The same change again, twice in one message: nothing gained.
        let heads = doc.get_heads();
        let twice = sync::ChunkList::from(vec![first.raw_bytes().to_vec(); 2]);
        let incoming = Incoming::of(&doc, &twice);
        doc.apply_changes([first.clone(), first.clone()]).unwrap();
        assert!(incoming.applied(&doc, &heads).is_empty());
        // A new document's changes in one message are those changes.
        let mut fresh = Automerge::new();
        let both = sync::ChunkList::from(vec![
            first.raw_bytes().to_vec(),
            second.raw_bytes().to_vec(),
        ]);
        let incoming = Incoming::of(&fresh, &both);
        fresh
            .apply_changes([first.clone(), second.clone()])
            .unwrap();
        let gained: Vec<_> = incoming
            .applied(&fresh, &[])
            .iter()
            .map(|c| c.hash())
            .collect();
        assert_eq!(gained, vec![first.hash(), second.hash()]);
    }

    /// Receives `msg` both ways, into copies of `relay` and `state`: the
    /// relay's own (`Incoming`) and automerge's `receive_sync_message`.
    /// The documents, the states and what each answers next must agree.
    /// Leaves `relay` and `state` as automerge's receive left them.
    fn receive_both(relay: &mut Automerge, state: &mut sync::State, msg: sync::Message) {
        use automerge::sync::SyncDoc;
        let (mut ours, mut ours_state) = (relay.clone(), state.clone());
        let incoming = Incoming::of(&ours, &msg.changes);
        let ours_ok = incoming
            .receive(&mut ours, &mut ours_state, msg.clone())
            .is_ok();
        let theirs_ok = relay.receive_sync_message(state, msg).is_ok();
        assert_eq!(ours_ok, theirs_ok);
        assert_eq!(ours.get_heads(), relay.get_heads());
        assert_eq!(ours_state.shared_heads, state.shared_heads);
        assert_eq!(ours_state.last_sent_heads, state.last_sent_heads);
        assert_eq!(ours_state.sent_hashes, state.sent_hashes);
        let answer =
            |d: &mut Automerge, s: &mut sync::State| d.generate_sync_message(s).map(|m| m.encode());
        assert_eq!(
            answer(&mut ours, &mut ours_state),
            answer(&mut relay.clone(), &mut state.clone()),
            "the relay's next answer"
        );
    }

    fn edit(doc: &mut Automerge, key: &str, n: i64) {
        use automerge::transaction::Transactable;
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, key, n).unwrap();
        let list = tx
            .put_object(
                automerge::ROOT,
                format!("{key}-list"),
                automerge::ObjType::List,
            )
            .unwrap();
        tx.insert(&list, 0, "x".repeat(300)).unwrap();
        tx.commit();
    }

    /// Syncs `phone` into `relay` to the end, every message the relay gets
    /// received both ways (`receive_both`); how many of them carried
    /// changes the relay read itself.
    fn sync_both(phone: &mut Automerge, relay: &mut Automerge) -> usize {
        use automerge::sync::SyncDoc;
        let (mut phone_state, mut relay_state) = (sync::State::new(), sync::State::new());
        let mut received = 0;
        for _ in 0..10 {
            if let Some(msg) = phone.generate_sync_message(&mut phone_state) {
                if Incoming::of(relay, &msg.changes)
                    .changes
                    .is_some_and(|c| !c.is_empty())
                {
                    received += 1;
                }
                receive_both(relay, &mut relay_state, msg);
            }
            let mut to_phone = relay.generate_sync_message(&mut relay_state);
            if let Some(msg) = &mut to_phone {
                // As the relay says it (`ask_for_changes`): the phone then
                // sends changes, not a whole document.
                msg.flags = None;
                phone
                    .receive_sync_message(&mut phone_state, msg.clone())
                    .unwrap();
            }
            if to_phone.is_none() && phone.get_heads() == relay.get_heads() {
                break;
            }
        }
        assert_eq!(phone.get_heads(), relay.get_heads(), "in sync");
        received
    }

    fn message(heads: Vec<ChangeHash>, changes: Vec<Vec<u8>>) -> sync::Message {
        sync::Message {
            heads,
            need: Vec::new(),
            have: Vec::new(),
            changes: sync::ChunkList::from(changes),
            flags: None,
            version: sync::MessageVersion::V1,
        }
    }

    /// The relay reads a message's changes once (`Incoming::of`) and
    /// applies them itself: the document, its sync state and what it
    /// answers next are what automerge's own `receive_sync_message` makes
    /// of the same message: an upload into an empty document (the answer
    /// acknowledges it), a sync in which both sides have changes of their
    /// own, a message of which only some changes apply (one waits for a
    /// dependency), a whole document in one chunk (left to automerge), and
    /// a chunk whose header checksum is wrong (left to automerge, which
    /// does not apply it).
    #[test]
    fn changes_read_once_leave_the_document_and_the_answer_as_automerge_does() {
        // An upload: the relay holds nothing of it.
        let mut phone = Automerge::new();
        for n in 0..3 {
            edit(&mut phone, "phone", n);
        }
        let mut relay = Automerge::new();
        assert!(sync_both(&mut phone, &mut relay) >= 1);

        // Both sides changed a shared document.
        let mut phone = Automerge::new();
        edit(&mut phone, "shared", 0);
        let mut relay = phone.fork();
        for n in 1..4 {
            edit(&mut phone, "phone", n);
        }
        edit(&mut relay, "relay", 9);
        assert!(sync_both(&mut phone, &mut relay) >= 1);

        // Of the first and third change, the first applies and the third
        // waits for the second.
        let mut phone = Automerge::new();
        for n in 0..3 {
            edit(&mut phone, "phone", n);
        }
        let changes = phone.get_changes(&[]);
        let mut relay = Automerge::new();
        let mut state = sync::State::new();
        let chunks = vec![
            changes[0].raw_bytes().to_vec(),
            changes[2].raw_bytes().to_vec(),
        ];
        receive_both(&mut relay, &mut state, message(phone.get_heads(), chunks));
        assert_eq!(relay.get_heads(), vec![changes[0].hash()]);

        // A whole document in one chunk, as the JS client sends a new one:
        // left to automerge, which loads it.
        let msg = message(phone.get_heads(), vec![phone.save()]);
        assert!(
            Incoming::of(&Automerge::new(), &msg.changes)
                .changes
                .is_none()
        );
        let mut fresh = Automerge::new();
        receive_both(&mut fresh, &mut sync::State::new(), msg);
        assert_eq!(fresh.get_heads(), phone.get_heads());

        // A damaged checksum.
        let before = relay.get_heads();
        let mut bytes = changes[1].raw_bytes().to_vec();
        bytes[5] ^= 0xff;
        let msg = message(phone.get_heads(), vec![bytes]);
        assert!(Incoming::of(&relay, &msg.changes).changes.is_none());
        receive_both(&mut relay, &mut state, msg);
        assert_eq!(
            relay.get_heads(),
            before,
            "the damaged change is not applied"
        );
    }

    /// A request for a document nobody held was remembered in the hub's
    /// `waiting` map but not in the peer's own list, so a disconnect left
    /// it behind for ever: random ids from clients that come and go grew
    /// the relay's memory without bound. Now the peer's entries go with it.
    /// A hub that asks for changes is uploaded changes; one that does not
    /// is sent a whole document by a peer that holds it and sees the hub
    /// hold nothing.
    #[test]
    fn a_hub_that_asks_for_changes_is_sent_changes_not_a_document() {
        use automerge::sync::SyncDoc;
        let upload = |changes_only: bool| {
            let (first, second) = two_changes();
            let mut phone_doc = Automerge::new();
            phone_doc.apply_changes([first, second]).unwrap();
            let mut hub = Hub::new(MemoryStore::new(), PeerId::from("relay"), 10);
            if changes_only {
                hub.ask_for_changes();
            }
            let peer = PeerId::from("phone");
            hub.connect(peer.clone(), &PeerMetadata::default());
            let doc = DocumentId::random();
            let mut state = sync::State::new();
            let mut sent = Vec::new();
            for _ in 0..4 {
                let Some(msg) = phone_doc.generate_sync_message(&mut state) else {
                    break;
                };
                sent.push(msg.clone());
                let sync = Message::Sync {
                    sender_id: peer.clone(),
                    target_id: PeerId::from("relay"),
                    document_id: doc,
                    data: msg.encode(),
                };
                let mut fx = Effects::default();
                hub.receive(&peer, sync, &mut fx).unwrap();
                hub.repo().store().write(fx.batch).unwrap();
                for (_, reply) in fx.send {
                    let Message::Sync { data, .. } = reply else {
                        panic!("a sync reply: {reply:?}")
                    };
                    phone_doc
                        .receive_sync_message(&mut state, sync::Message::decode(&data).unwrap())
                        .unwrap();
                }
            }
            assert_eq!(hub.heads(&doc).unwrap(), phone_doc.get_heads(), "uploaded");
            let chunks: Vec<Vec<u8>> = sent
                .iter()
                .flat_map(|m| m.changes.iter().map(|c| c.to_vec()))
                .collect();
            chunks
        };
        let chunks = upload(true);
        assert_eq!(chunks.len(), 2, "two changes, each its own chunk");
        assert!(
            chunks
                .iter()
                .all(|c| automerge::Change::from_bytes(c.clone()).is_ok())
        );
        let chunks = upload(false);
        assert_eq!(chunks.len(), 1, "one document chunk");
        assert!(automerge::Change::from_bytes(chunks[0].clone()).is_err());
    }

    #[test]
    fn a_disconnect_forgets_what_the_peer_was_waiting_for() {
        let mut hub = Hub::new(MemoryStore::new(), PeerId::from("relay"), 10);
        let peer = PeerId::from("phone");
        hub.connect(peer.clone(), &PeerMetadata::default());
        let mut fx = Effects::default();
        for _ in 0..3 {
            hub.receive(&peer, request(&peer, DocumentId::random()), &mut fx)
                .unwrap();
        }
        assert_eq!(hub.waiting.len(), 3);
        hub.disconnect(&peer);
        assert!(hub.waiting.is_empty(), "{:?}", hub.waiting);
        assert!(hub.subscribers.is_empty());
    }

    /// Past `unknown_requests`, a request is refused rather than
    /// remembered.
    #[test]
    fn requests_for_unknown_documents_are_bounded() {
        let mut hub = Hub::new(MemoryStore::new(), PeerId::from("relay"), 10);
        hub.set_limits(HubLimits {
            unknown_requests: 2,
            ..HubLimits::default()
        });
        let peer = PeerId::from("phone");
        hub.connect(peer.clone(), &PeerMetadata::default());
        let mut fx = Effects::default();
        for _ in 0..3 {
            hub.receive(&peer, request(&peer, DocumentId::random()), &mut fx)
                .unwrap();
        }
        assert_eq!(hub.waiting.len(), 2);
        assert_eq!(fx.close.len(), 1, "{:?}", fx.close);
        assert!(fx.close[0].1.contains("more than 2"), "{:?}", fx.close);
    }
}
