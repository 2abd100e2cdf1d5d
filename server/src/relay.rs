//! The hub thread: one OS thread owns the sync [`Hub`] and the store.
//!
//! Connection tasks send it [`Input`]s over a bounded channel. The thread
//! blocks for one input, takes whatever else is already queued (up to
//! `max_commit_inputs`; a round with changes to store waits `commit_delay`
//! once for more), feeds all of it to the hub, commits the combined
//! storage batch in one transaction, and only then hands the frames to the
//! connections' outbound queues with `try_send`. Nothing is acknowledged
//! before it is durable, and a busy relay commits many frames per fsync.
//!
//! The thread never waits for a socket: a connection whose queue is full is
//! killed instead. When a commit fails, nothing from that round is sent,
//! the round's documents are dropped from memory (so memory never claims
//! more than the store holds) and the round's peers are closed so they
//! reconnect and sync again.
//!
//! A failed commit also marks the store faulty ([`StorageHealth`], logged
//! once): until a probe ([`Input::Probe`], sent on a backoff) commits
//! again, a frame that would store anything is refused with an `error`
//! frame and a close (the device keeps its changes and retries), while
//! reads are served from what is stored; rounds that hold only sync states
//! commit nothing, and their audit rows wait in memory for the next commit.
//!
//! Denials are audited one by one only for the first
//! [`DENIALS_AUDITED`] of a connection; the rest are counted and written
//! as one row when the connection ends, so a client probing ids cannot
//! fill the disk with audit rows.
//!
//! With a [`Guard`] (always, under `server::run`) the thread also binds
//! each peer to the user its connection authenticated as, adds the round's
//! audit rows and newly registered actor ids to the round's batch (one
//! commit, no second fsync), and on [`Input::Recheck`] re-checks the open
//! connections' tokens, closing the revoked ones.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use client_core::clip::clip;
use client_core::ids::DocumentId;
use client_core::model::summary::TicketSummary;
use client_core::protocol::{Message, PeerId};
use client_core::store::{RedbStore, Store};
use client_core::sync::{Effects, Hub, HubEvent};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

use crate::access::Policy;
use crate::api::{Changes, SummaryIndex};
use crate::audit::{AuditAction, AuditLog, AuditRecord};
use crate::auth::Principal;
use crate::config::AuthMode;
use crate::identity::RelayIdentity;
use crate::metrics::{Denied, Metrics, Refused, StorageOp};
use crate::registry::Registry;
use crate::storage::StorageHealth;
use crate::{Config, ServerError};

mod access;
mod channel;
mod fault;
mod publish;
mod records;

pub(crate) use self::channel::{Close, CloseKind, ConnId, Input, Link, Outbound, weight};
use self::fault::Fault;

/// Denials of one connection audited row by row; the rest of them become
/// one row with their count when the connection ends.
pub(crate) const DENIALS_AUDITED: u32 = 16;

/// Access control, as the hub thread applies it.
#[derive(Debug)]
pub(crate) struct Guard {
    pub policy: Policy,
    pub audit: AuditLog,
    /// The relay's database, for re-checking tokens in the registry.
    pub store: Arc<RedbStore>,
    pub mode: AuthMode,
    /// The registry generation the open connections were last checked at.
    pub generation: u64,
}

/// The running hub thread, as `run` sees it.
#[derive(Debug)]
pub(crate) struct RelayHandle {
    pub inputs: mpsc::Sender<Input>,
    pub identity: RelayIdentity,
    /// The summaries of tickets changed by each commit, for `/api/events`.
    pub changes: Changes,
    /// The summary index in memory, kept up to date after each commit.
    pub summaries: Arc<SummaryIndex>,

    thread: JoinHandle<()>,
}

/// Starts the hub thread over `store`; returns once the relay's identity
/// is loaded (or created) from the store.
pub(crate) async fn start<S: Store + 'static>(
    store: S,
    config: &Config,
    documents_in_memory: Arc<AtomicUsize>,
    storage: Arc<StorageHealth>,
    metrics: Arc<Metrics>,
    guard: Option<Guard>,
) -> Result<RelayHandle, ServerError> {
    let (inputs, receiver) = mpsc::channel(config.hub_queue);
    let (ready_tx, ready_rx) = oneshot::channel();
    let (capacity, max_inputs, outbound_queue) = (
        config.doc_capacity,
        config.max_commit_inputs,
        config.outbound_queue,
    );
    let commit_delay = config.commit_delay;
    let (limits, outbound_bytes) = (config.hub_limits(), config.outbound_queue_bytes);
    let changes = Changes::new();
    let publish = changes.clone();
    let summaries = Arc::new(SummaryIndex::default());
    let index = summaries.clone();
    let thread = std::thread::Builder::new()
        .name("gridsync-hub".into())
        .spawn(move || {
            let identity = match RelayIdentity::load_or_create(&store) {
                Ok(identity) => identity,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let mut relay = Relay::new(store, identity.peer_id.clone(), capacity, outbound_queue);
            relay.outbound_bytes = outbound_bytes;
            relay.hub.set_limits(limits);
            relay.documents_in_memory = documents_in_memory;
            relay.storage = storage;
            relay.metrics = metrics;
            relay.changes = Some((publish, index));
            if let Some(guard) = guard {
                relay.guard(guard);
                // No device is connected yet: nothing to send.
                relay.publish_catalog(&mut Effects::default());
            }
            let _ = ready_tx.send(Ok(identity));
            relay.serve(receiver, max_inputs, commit_delay);
        })
        .map_err(ServerError::SpawnHub)?;
    match ready_rx.await {
        Ok(Ok(identity)) => Ok(RelayHandle {
            inputs,
            identity,
            changes,
            summaries,
            thread,
        }),
        Ok(Err(e)) => {
            join(thread).await?;
            Err(ServerError::Identity(e))
        }
        Err(_) => {
            join(thread).await?;
            Err(ServerError::HubPanicked)
        }
    }
}

impl RelayHandle {
    /// Lets the thread commit what it has, and waits for it to end.
    pub(crate) async fn stop(self) -> Result<(), ServerError> {
        // If the thread is already gone, joining reports why.
        let _ = self.inputs.send(Input::Stop).await;
        drop(self.inputs);
        join(self.thread).await
    }
}

async fn join(thread: JoinHandle<()>) -> Result<(), ServerError> {
    match tokio::task::spawn_blocking(move || thread.join()).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(ServerError::HubPanicked),
    }
}

/// The hub, the store under it, and the connections it routes to.
#[derive(Debug)]
pub(crate) struct Relay<S: Store> {
    hub: Hub<S>,
    /// The current connection of each joined peer.
    links: HashMap<PeerId, (ConnId, Link)>,
    outbound_queue: usize,
    /// Bytes queued for one connection before it is killed as not reading.
    outbound_bytes: usize,
    /// Published after every round for `/healthz`.
    documents_in_memory: Arc<AtomicUsize>,
    guard: Option<Guard>,
    /// Set while commits fail: writes are refused, reads served.
    fault: Option<Fault>,
    /// The fault as `/healthz` reports it.
    storage: Arc<StorageHealth>,
    /// Audit rows waiting for the next commit: those of rounds that
    /// committed nothing while the store was faulty, and the denial
    /// tallies of connections that ended.
    deferred_audit: Vec<AuditRecord>,
    /// Audit rows dropped because `deferred_audit` was full.
    audit_overflow: u64,
    /// Denials of each open connection so far.
    denials: HashMap<PeerId, Denials>,
    /// Where the summaries of changed tickets go after each commit: the
    /// `/api/events` broadcast and the summary index in memory.
    changes: Option<(Changes, Arc<SummaryIndex>)>,
    /// The secret users' API actors are derived from, once read or made.
    api_actor_key: Option<[u8; 32]>,
    /// Commits, synced documents, refusals and storage errors, for `/metrics`.
    metrics: Arc<Metrics>,
}

/// One connection's denials: how many were audited, how many only counted.
#[derive(Debug, Default)]
struct Denials {
    audited: u32,
    counted: u64,
    user: Option<String>,
}

/// Inputs folded into one commit, and whom they concern.
#[derive(Debug, Default)]
struct Round {
    fx: Effects,
    /// Peers whose frames are in this round.
    senders: BTreeSet<PeerId>,
    /// Documents those frames are about.
    docs: HashSet<DocumentId>,
    /// Audit rows from outside the hub's events.
    audit: Vec<AuditRecord>,
    /// Inputs folded into it (for the commit-size histogram).
    inputs: usize,
}

impl Round {
    fn absorb(&mut self, fx: Effects) {
        self.fx.send.extend(fx.send);
        self.fx.batch.extend(fx.batch);
        self.fx.close.extend(fx.close);
        self.fx.events.extend(fx.events);
    }
}

impl<S: Store> Relay<S> {
    pub(crate) fn new(store: S, me: PeerId, capacity: usize, outbound_queue: usize) -> Self {
        let mut hub = Hub::new(store, me, capacity);
        // Peers upload changes, which the limits and the policy read as
        // they come, rather than whole documents to rebuild them from.
        hub.ask_for_changes();
        Self {
            hub,
            links: HashMap::new(),
            outbound_queue,
            outbound_bytes: usize::MAX,
            documents_in_memory: Arc::default(),
            guard: None,
            fault: None,
            storage: Arc::default(),
            deferred_audit: Vec::new(),
            audit_overflow: 0,
            denials: HashMap::new(),
            changes: None,
            api_actor_key: None,
            metrics: Arc::default(),
        }
    }

    /// Puts access control in force.
    pub(crate) fn guard(&mut self, guard: Guard) {
        self.hub.set_access(Box::new(guard.policy.clone()));
        self.guard = Some(guard);
    }

    /// The thread's loop: one round per wake-up, until `Stop` or until
    /// every sender is gone. A round that has changes to store and room
    /// for more inputs waits `commit_delay` once for more before it
    /// commits (see [`crate::Config::commit_delay`]).
    fn serve(
        mut self,
        mut inputs: mpsc::Receiver<Input>,
        max_inputs: usize,
        commit_delay: Duration,
    ) {
        let mut pending = Vec::with_capacity(max_inputs);
        let take = |inputs: &mut mpsc::Receiver<Input>, pending: &mut Vec<Input>, room: usize| {
            while pending.len() < room {
                match inputs.try_recv() {
                    Ok(input) => pending.push(input),
                    Err(_) => break,
                }
            }
        };
        while let Some(first) = inputs.blocking_recv() {
            pending.push(first);
            take(&mut inputs, &mut pending, max_inputs);
            let mut round = Round::default();
            let mut stop = self.handle(&mut round, pending.drain(..));
            if !stop
                && !commit_delay.is_zero()
                && round.inputs < max_inputs
                && round.fx.batch.holds_data()
            {
                std::thread::sleep(commit_delay);
                take(&mut inputs, &mut pending, max_inputs - round.inputs);
                stop = self.handle(&mut round, pending.drain(..));
            }
            self.finish(&mut round);
            if stop {
                break;
            }
        }
        debug!(
            connections = self.links.len(),
            "hub thread stopped; remaining connections close"
        );
    }

    /// Handles a batch of inputs with one commit. Returns whether `Stop`
    /// was among them.
    #[cfg(test)]
    pub(crate) fn round(&mut self, inputs: impl IntoIterator<Item = Input>) -> bool {
        let mut round = Round::default();
        let stop = self.handle(&mut round, inputs);
        self.finish(&mut round);
        stop
    }

    /// Feeds inputs to the hub, gathering what they do in `round` (which
    /// may already hold earlier inputs' effects). Returns whether `Stop`
    /// was among them.
    fn handle(&mut self, round: &mut Round, inputs: impl IntoIterator<Item = Input>) -> bool {
        let mut stop = false;
        for input in inputs {
            round.inputs += 1;
            match input {
                Input::Connect {
                    conn,
                    peer,
                    metadata,
                    link,
                    principal,
                } => {
                    let principal = match self.admit(&peer, principal, round) {
                        Ok(principal) => principal,
                        Err(close) => {
                            self.metrics.refused(Refused::Join);
                            refuse_link(self.hub.me(), &peer, link, close);
                            continue;
                        }
                    };
                    if self.links.contains_key(&peer) {
                        // Frames for the old connection must not reach the
                        // new one: route them before replacing it.
                        self.flush(round);
                        self.kill(
                            &peer,
                            Close::new(
                                CloseKind::Normal,
                                "replaced by a newer connection of the same peer",
                            ),
                        );
                    }
                    self.hub.connect(peer.clone(), &metadata);
                    if let (Some(guard), Some(p)) = (&self.guard, principal) {
                        guard.policy.bind(peer.clone(), p);
                    }
                    self.links.insert(peer, (conn, link));
                }
                Input::Frame {
                    conn,
                    peer,
                    message,
                    held: _held,
                } => {
                    if !self.is_current(&peer, conn) {
                        continue;
                    }
                    let doc = document_of(&message);
                    let mut fx = Effects::default();
                    // One input must not take the hub thread (and with it
                    // every connection) down: a panic fails that input.
                    let handled = panic::catch_unwind(AssertUnwindSafe(|| {
                        self.hub.receive(&peer, message, &mut fx)
                    }));
                    match handled {
                        Ok(Ok(())) if self.fault.is_some() && fx.batch.holds_data() => {
                            // Nothing can be stored: drop what the hub
                            // applied in memory and refuse the write.
                            self.flush(round);
                            if let Some(doc) = doc {
                                self.hub.forget(&doc);
                            }
                            self.refuse_write(&peer);
                        }
                        Ok(Ok(())) => {
                            round.senders.insert(peer);
                            round.docs.extend(doc);
                            round.absorb(fx);
                        }
                        Ok(Err(e)) => {
                            // A local fault (the store could not be read).
                            self.metrics.storage_error(StorageOp::Read);
                            error!(%peer, error = %e, "could not handle a frame; closing the connection so the peer retries");
                            self.fail_frame(
                                round,
                                &peer,
                                doc,
                                format!("the relay could not handle this message ({e}); reconnect and retry"),
                                Close::new(CloseKind::Internal, "relay storage error; retry"),
                            );
                        }
                        Err(payload) => {
                            let what = panic_message(payload.as_ref());
                            self.metrics.refused(Refused::Panic);
                            error!(%peer, doc = ?doc, panic = %what, "a frame made the hub panic; refusing it and closing that connection");
                            self.fail_frame(
                                round,
                                &peer,
                                doc,
                                "the relay could not handle this message; it was refused".into(),
                                Close::new(CloseKind::Internal, "message refused"),
                            );
                        }
                    }
                }
                Input::Disconnect { conn, peer } => {
                    if self.is_current(&peer, conn) {
                        self.unlink(&peer);
                    }
                }
                Input::Audit(record) => round.audit.push(record),
                Input::Write(request) => self.write_as(*request, round),
                Input::Recheck { generation } => self.recheck(generation, round),
                Input::Probe => {
                    self.flush(round);
                    self.probe();
                }
                Input::Stop => stop = true,
            }
        }
        stop
    }

    /// Commits a round and sends what it answers.
    fn finish(&mut self, round: &mut Round) {
        self.flush(round);
        self.documents_in_memory
            .store(self.hub.loaded(), Ordering::Relaxed);
    }

    /// Fails one frame that the hub could not handle: keeps what earlier
    /// inputs of the round did (committing them), drops this one's
    /// half-done work (the document is reloaded from the store when next
    /// needed), and tells the peer before closing it.
    fn fail_frame(
        &mut self,
        round: &mut Round,
        peer: &PeerId,
        doc: Option<DocumentId>,
        message: String,
        close: Close,
    ) {
        self.flush(round);
        if let Some(doc) = doc {
            self.hub.forget(&doc);
        }
        self.deliver(
            peer,
            Message::Error {
                sender_id: Some(self.hub.me().clone()),
                target_id: Some(peer.clone()),
                message,
            },
        );
        self.close(peer, close);
    }

    fn is_current(&self, peer: &PeerId, conn: ConnId) -> bool {
        self.links.get(peer).is_some_and(|(c, _)| *c == conn)
    }

    /// Commits the round's batch, then routes its frames and closes.
    fn flush(&mut self, round: &mut Round) {
        let Round {
            fx,
            senders,
            docs,
            audit,
            inputs,
        } = std::mem::take(round);
        let Effects {
            send,
            mut batch,
            close,
            events,
        } = fx;
        let mut audit = audit;
        audit.extend(self.audit_rows(&events));
        // Rows carried over from rounds that committed nothing.
        let mut carried = Vec::new();
        if self.fault.is_some() {
            // Sync states only spare round trips; audit rows can wait.
            batch.drop_sync_states();
            self.defer_audit(std::mem::take(&mut audit));
        } else {
            carried = std::mem::take(&mut self.deferred_audit);
            carried.extend(self.overflow_row());
        }
        if let Some(guard) = &self.guard {
            for record in carried.iter().chain(&audit) {
                guard.audit.append(&mut batch, record);
            }
            guard.policy.stage(&mut batch);
        }
        // Photo references commit with the summaries that list them.
        crate::blobs::stage_refs(&mut batch);
        // What the records API is told after the commit, taken from the
        // batch rather than read back from the store (the last one of a
        // document wins, as in the store).
        let committed: HashMap<DocumentId, TicketSummary> = if self.changes.is_some() {
            batch
                .summaries()
                .map(|s| (s.id.document_id(), s.clone()))
                .collect()
        } else {
            HashMap::new()
        };
        let committing = !batch.is_empty();
        let started = Instant::now();
        let written = if self.fault.is_some() && !committing {
            Ok(())
        } else {
            self.hub.repo().store().write(batch)
        };
        match &written {
            Ok(()) if committing => self.metrics.commit(started.elapsed(), inputs),
            Ok(()) => {}
            Err(_) => self.metrics.storage_error(StorageOp::Commit),
        }
        if let Some(guard) = &self.guard {
            guard.policy.settle(written.is_ok());
        }
        if let Err(e) = written {
            // The carried rows wait for the next commit; this round's own
            // rows describe what was not stored.
            self.defer_audit(carried);
            self.enter_fault(&e);
            // redb refuses even reads after a failed commit until reopened.
            if let Err(e) = self.hub.repo().store().recover() {
                warn!(error = %e, "could not reopen the store after the failed commit; reads fail until it can");
            }
            let mut affected = senders;
            let mut docs = docs;
            for (peer, message) in &send {
                affected.insert(peer.clone());
                docs.extend(document_of(message));
            }
            error!(
                error = %e,
                peers = affected.len(),
                documents = docs.len(),
                "commit failed: sending nothing from this round, dropping its documents from memory and closing its peers so they sync again"
            );
            for doc in &docs {
                self.hub.forget(doc);
            }
            for peer in &affected {
                self.close(
                    peer,
                    Close::new(
                        CloseKind::Internal,
                        "the relay could not store changes; reconnect and sync again",
                    ),
                );
            }
            return;
        }
        // Before anything acknowledges the round: a device that saw its
        // change stored then lists it, or subscribes, finds it.
        for event in &events {
            if let HubEvent::Changed { doc, .. } = event
                && let Some(summary) = committed.get(doc)
            {
                // A changed document with no summary in the batch is no
                // ticket (or none this relay can read): nothing to offer.
                self.offer(summary);
            }
        }
        let refused: HashSet<PeerId> = send
            .iter()
            .filter(|(_, m)| matches!(m, Message::Error { .. }))
            .map(|(p, _)| p.clone())
            .collect();
        self.count(&events, &refused, &close);
        for (peer, message) in send {
            self.deliver(&peer, message);
        }
        for (peer, reason) in close {
            let kind = if refused.contains(&peer) {
                CloseKind::Protocol
            } else {
                CloseKind::Normal
            };
            self.close(&peer, Close::new(kind, reason));
        }
        for event in events {
            match event {
                HubEvent::Changed { doc, by, changes } => {
                    debug!(%doc, %by, changes, "document changed")
                }
                HubEvent::Unavailable { doc, peer } => {
                    debug!(%doc, %peer, "peer has no copy of a document")
                }
                HubEvent::Refused { doc, by, reason } => {
                    warn!(%doc, peer = %by, reason = %clip(&reason), "refused changes")
                }
                HubEvent::Denied { doc, peer } => {
                    debug!(%doc, %peer, "denied a document the peer may not see")
                }
                // Only a device receives heads-batch replies.
                HubEvent::SameHeads { .. } => {}
            }
        }
    }

    /// Counts a committed round's events for `/metrics`: documents synced,
    /// refused changes, denied documents, and the other refusals (peers
    /// closed after an `error` frame for something else than changes).
    fn count(&self, events: &[HubEvent], refused: &HashSet<PeerId>, close: &[(PeerId, String)]) {
        let mut changes_refused = HashSet::new();
        let mut synced = 0;
        for event in events {
            match event {
                HubEvent::Changed { .. } => synced += 1,
                HubEvent::Refused { by, .. } => {
                    self.metrics.refused(Refused::Change);
                    changes_refused.insert(by);
                }
                HubEvent::Denied { .. } => self.metrics.denied(Denied::Document),
                HubEvent::Unavailable { .. } | HubEvent::SameHeads { .. } => {}
            }
        }
        self.metrics.synced(synced);
        for (peer, _) in close {
            if refused.contains(peer) && !changes_refused.contains(peer) {
                self.metrics.refused(Refused::Protocol);
            }
        }
    }

    /// Reads the committed summary of `doc`, if it is a ticket, and
    /// [`offer`](Self::offer)s it: for documents the records API changed
    /// (a round's sync changes offer the summaries of their own batch).
    fn publish(&self, doc: &DocumentId) {
        if self.changes.is_none() {
            return;
        }
        match self.hub.repo().store().summary(doc) {
            Ok(Some(summary)) => self.offer(&summary),
            Ok(None) => {}
            Err(e) => {
                warn!(%doc, error = %e, "could not read a changed ticket's summary for the records API; its lists show the older one until it changes again")
            }
        }
    }

    /// Puts a committed summary in the records API's summary index and
    /// offers it to the `/api/events` streams (a stream that lags is
    /// dropped by the broadcast, never waited for).
    fn offer(&self, summary: &TicketSummary) {
        let Some((changes, index)) = &self.changes else {
            return;
        };
        index.put(summary);
        if changes.has_subscribers() {
            changes.send(summary.clone());
        }
    }

    /// Queues a frame; kills a connection whose queue is full, in frames
    /// or in bytes (a frame larger than the byte bound still goes to an
    /// empty queue).
    fn deliver(&mut self, peer: &PeerId, message: Message) {
        let Some((_, link)) = self.links.get(peer) else {
            return;
        };
        let size = weight(&message);
        let queued = link.queued.load(Ordering::Acquire);
        if queued > 0 && queued.saturating_add(size) > self.outbound_bytes {
            let reason = format!(
                "not reading: {queued} bytes waiting to be sent, the relay's limit is {}",
                self.outbound_bytes
            );
            self.metrics.refused(Refused::NotReading);
            self.kill(peer, Close::new(CloseKind::Policy, reason));
            return;
        }
        match link.outbound.try_send(Outbound::Frame(message)) {
            Ok(()) => {
                link.queued.fetch_add(size, Ordering::AcqRel);
            }
            Err(TrySendError::Full(_)) => {
                let reason = format!(
                    "not reading: {} frames waiting to be sent",
                    self.outbound_queue
                );
                self.metrics.refused(Refused::NotReading);
                self.kill(peer, Close::new(CloseKind::Policy, reason));
            }
            Err(TrySendError::Closed(_)) => {
                self.unlink(peer);
            }
        }
    }

    /// Closes after the frames already queued (or at once if the queue is
    /// full: the client is not reading them anyway).
    fn close(&mut self, peer: &PeerId, close: Close) {
        let Some((_, link)) = self.unlink(peer) else {
            return;
        };
        if let Err(TrySendError::Full(Outbound::Close(close))) =
            link.outbound.try_send(Outbound::Close(close))
        {
            let _ = link.kill.send(close);
        }
    }

    /// Closes at once, dropping queued frames.
    fn kill(&mut self, peer: &PeerId, close: Close) {
        if let Some((_, link)) = self.unlink(peer) {
            let _ = link.kill.send(close);
        }
    }

    fn unlink(&mut self, peer: &PeerId) -> Option<(ConnId, Link)> {
        let link = self.links.remove(peer)?;
        if let Some(tally) = self.denials.remove(peer)
            && tally.counted > 0
        {
            let mut row = AuditRecord::new(AuditAction::Denied);
            row.user = tally.user;
            row.peer = Some(peer.to_string());
            row.count = Some(tally.counted);
            row.reason = Some(format!(
                "{} more documents the peer may not read on this connection (after the first {DENIALS_AUDITED}, written one by one)",
                tally.counted
            ));
            self.defer_audit([row]);
        }
        self.hub.disconnect(peer);
        if let Some(guard) = &self.guard {
            guard.policy.unbind(peer);
        }
        Some(link)
    }
}

/// Turns away a connection that never joined the hub: an `error` frame
/// with the reason, then the close.
fn refuse_link(me: &PeerId, peer: &PeerId, link: Link, close: Close) {
    warn!(%peer, reason = %close.reason, "refusing a join");
    let error = Message::Error {
        sender_id: Some(me.clone()),
        target_id: Some(peer.clone()),
        message: close.reason.clone(),
    };
    if link.outbound.try_send(Outbound::Frame(error)).is_err()
        || link
            .outbound
            .try_send(Outbound::Close(close.clone()))
            .is_err()
    {
        let _ = link.kill.send(close);
    }
}

/// The document a frame is about, if any.
/// The text a panic carried, for the log.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

fn document_of(message: &Message) -> Option<DocumentId> {
    match message {
        Message::Sync { document_id, .. }
        | Message::Request { document_id, .. }
        | Message::DocUnavailable { document_id, .. }
        | Message::Ephemeral { document_id, .. }
        | Message::RemoteHeadsChanged { document_id, .. } => Some(*document_id),
        Message::Join { .. }
        | Message::Peer { .. }
        | Message::Error { .. }
        | Message::Leave { .. }
        | Message::RemoteSubscriptionChange { .. }
        | Message::Extension { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    //! The hub thread's rounds, driven directly (no thread, no sockets)
    //! over a store whose commits can be made to fail.

    use automerge::ROOT;
    use automerge::sync::{State, SyncDoc};
    use automerge::transaction::Transactable;
    use client_core::store::{FaultyStore, MemoryStore};

    use client_core::protocol::PeerMetadata;

    use super::*;
    use crate::budget::Held;

    type Faulty = FaultyStore<MemoryStore>;

    fn faulty() -> Arc<Faulty> {
        Arc::new(FaultyStore::new(MemoryStore::new()))
    }

    fn relay_id() -> PeerId {
        PeerId::from("relay")
    }

    /// The connection side of a link: what the hub queued, and the kill.
    struct Socket {
        conn: ConnId,
        peer: PeerId,
        queue: mpsc::Receiver<Outbound>,
        killed: oneshot::Receiver<Close>,
    }

    impl Socket {
        fn connect(peer: &str, capacity: usize) -> (Self, Input) {
            let (outbound, queue) = mpsc::channel(capacity);
            let (kill, killed) = oneshot::channel();
            let socket = Socket {
                conn: ConnId::next(),
                peer: PeerId::from(peer),
                queue,
                killed,
            };
            let input = Input::Connect {
                conn: socket.conn,
                peer: socket.peer.clone(),
                metadata: PeerMetadata {
                    storage_id: Some(format!("{peer}-storage").into()),
                    is_ephemeral: Some(false),
                    ..PeerMetadata::default()
                },
                link: Link {
                    outbound,
                    kill,
                    queued: Arc::default(),
                },
                principal: None,
            };
            (socket, input)
        }

        fn frame(&self, message: Message) -> Input {
            Input::Frame {
                conn: self.conn,
                peer: self.peer.clone(),
                message,
                held: Held::default(),
            }
        }

        fn drain(&mut self) -> Vec<Outbound> {
            std::iter::from_fn(|| self.queue.try_recv().ok()).collect()
        }
    }

    /// A device: a client-side hub over its own store, with one document.
    struct Phone {
        hub: Hub<MemoryStore>,
        socket: Socket,
        doc: DocumentId,
    }

    impl Phone {
        fn new(name: &str, capacity: usize) -> (Self, Input) {
            let hub = Hub::new(MemoryStore::new(), PeerId::from(name), 10);
            let doc = DocumentId::random();
            hub.repo()
                .change(&doc, |tx| tx.put(ROOT, "title", name).map(|_| ()))
                .unwrap();
            let (socket, input) = Socket::connect(name, capacity);
            let mut phone = Phone { hub, socket, doc };
            phone.hub.connect(relay_id(), &PeerMetadata::default());
            (phone, input)
        }

        /// Frames the phone wants to send now: the start of a sync.
        fn start(&mut self) -> Vec<Input> {
            let mut fx = Effects::default();
            self.hub.want(&self.doc, &relay_id(), &mut fx).unwrap();
            self.outputs(fx)
        }

        /// Takes what the relay queued; returns the phone's answers and
        /// any close.
        fn answer(&mut self) -> (Vec<Input>, Option<Close>) {
            let mut fx = Effects::default();
            let mut closed = None;
            for item in self.socket.drain() {
                match item {
                    Outbound::Frame(m) => self.hub.receive(&relay_id(), m, &mut fx).unwrap(),
                    Outbound::Close(c) => closed = Some(c),
                }
            }
            (self.outputs(fx), closed)
        }

        fn outputs(&self, fx: Effects) -> Vec<Input> {
            self.hub.repo().store().write(fx.batch).unwrap();
            fx.send
                .into_iter()
                .map(|(_, m)| self.socket.frame(m))
                .collect()
        }
    }

    fn relay(store: Arc<Faulty>, outbound_queue: usize) -> Relay<Arc<Faulty>> {
        Relay::new(store, relay_id(), 100, outbound_queue)
    }

    fn request(from: &PeerId, doc: DocumentId) -> Message {
        let empty = automerge::Automerge::new();
        let data = empty
            .generate_sync_message(&mut State::new())
            .unwrap()
            .encode();
        Message::Request {
            sender_id: from.clone(),
            target_id: relay_id(),
            document_id: doc,
            data,
        }
    }

    #[test]
    fn frames_from_many_peers_share_one_commit_and_are_answered_after_it() {
        let store = faulty();
        let mut relay = relay(store.clone(), 64);
        let (mut a, join_a) = Phone::new("a", 64);
        let (mut b, join_b) = Phone::new("b", 64);
        relay.round([join_a, join_b]);
        let mut pending: Vec<Input> = a.start().into_iter().chain(b.start()).collect();
        let mut rounds = 0;
        while !pending.is_empty() {
            rounds += 1;
            assert!(rounds < 20, "sync did not settle");
            let before = store.commits();
            relay.round(pending.drain(..));
            let commits = store.commits() - before;
            assert!(commits <= 1, "one commit per round, got {commits}");
            for phone in [&mut a, &mut b] {
                let (answers, closed) = phone.answer();
                assert_eq!(closed, None);
                pending.extend(answers);
            }
        }
        // Both uploads landed in the same rounds: fewer commits than docs.
        assert_eq!(store.commits(), 1);
        let mut stored = store.documents().unwrap();
        stored.sort();
        let mut want = vec![a.doc, b.doc];
        want.sort();
        assert_eq!(stored, want);
        assert_eq!(a.hub.in_sync(&a.doc, &relay_id()), Some(true));
        assert_eq!(relay.documents_in_memory.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_failed_commit_sends_nothing_forgets_the_documents_and_closes_the_peer() {
        let store = faulty();
        store.fill_disk();
        let mut relay = relay(store.clone(), 64);
        let (mut a, join) = Phone::new("a", 64);
        relay.round([join]);
        let mut pending = a.start();
        let close = loop {
            assert!(!pending.is_empty(), "the relay never tried to commit");
            relay.round(pending.drain(..));
            let items = a.socket.drain();
            if let Some(Outbound::Close(close)) = items.last() {
                assert_eq!(items.len(), 1, "nothing else from that round: {items:?}");
                break close.clone();
            }
            for item in items {
                let Outbound::Frame(m) = item else {
                    unreachable!()
                };
                let mut fx = Effects::default();
                a.hub.receive(&relay_id(), m, &mut fx).unwrap();
                pending.extend(a.outputs(fx));
            }
        };
        assert_eq!(close.kind, CloseKind::Internal);
        assert_eq!(
            relay.hub.loaded(),
            0,
            "memory holds nothing the store lacks"
        );
        assert!(store.documents().unwrap().is_empty());
        // Frames still in flight from that connection are ignored.
        assert!(!relay.round([a.socket.frame(request(&a.socket.peer, a.doc))]));
        assert!(a.socket.drain().is_empty());

        // The store recovers; the peer reconnects and its document lands.
        store.free_disk();
        relay.round([Input::Probe]);
        a.hub.disconnect(&relay_id());
        a.hub.connect(relay_id(), &PeerMetadata::default());
        let (socket, join) = Socket::connect("a", 64);
        a.socket = socket;
        relay.round([join]);
        let mut pending = a.start();
        while !pending.is_empty() {
            relay.round(pending.drain(..));
            let (answers, closed) = a.answer();
            assert_eq!(closed, None);
            pending = answers;
        }
        assert_eq!(store.documents().unwrap(), vec![a.doc]);
        assert_eq!(a.hub.in_sync(&a.doc, &relay_id()), Some(true));
    }

    /// Syncs `phone` with the relay until neither has anything to say or
    /// the relay closes it; returns the `error` frame and close, if any.
    fn settle(
        relay: &mut Relay<Arc<Faulty>>,
        phone: &mut Phone,
    ) -> (Option<String>, Option<Close>) {
        let mut pending = phone.start();
        let mut error = None;
        while !pending.is_empty() {
            relay.round(pending.drain(..));
            let mut fx = Effects::default();
            for item in phone.socket.drain() {
                match item {
                    Outbound::Frame(Message::Error { message, .. }) => error = Some(message),
                    Outbound::Frame(m) => phone.hub.receive(&relay_id(), m, &mut fx).unwrap(),
                    Outbound::Close(close) => return (error, Some(close)),
                }
            }
            pending = phone.outputs(fx);
        }
        (error, None)
    }

    /// `phone` connects again, as a device does after a close.
    fn rejoin(relay: &mut Relay<Arc<Faulty>>, phone: &mut Phone) {
        phone.hub.disconnect(&relay_id());
        phone.hub.connect(relay_id(), &PeerMetadata::default());
        let (socket, join) = Socket::connect(phone.socket.peer.as_str(), 64);
        phone.socket = socket;
        relay.round([join]);
    }

    /// Regression: a full disk used to cost every connection that touched
    /// the relay while it lasted, silently. Each commit failed, closed its
    /// peers without a word, and they reconnected into the next failure;
    /// readers went down with writers. Now the first failed commit marks
    /// the store faulty: a write is refused with an `error` frame that says
    /// the disk is full, reads are served without trying to commit, and
    /// the first probe that commits lets writes in again.
    #[test]
    fn while_the_disk_is_full_writes_are_refused_with_an_error_and_reads_are_served() {
        let store = faulty();
        let mut relay = relay(store.clone(), 64);
        let (mut a, join) = Phone::new("a", 64);
        relay.round([join]);
        assert_eq!(settle(&mut relay, &mut a), (None, None));

        store.fill_disk();
        let (mut b, join) = Phone::new("b", 64);
        relay.round([join]);
        let (_, close) = settle(&mut relay, &mut b);
        assert_eq!(
            close.expect("the failed round closes b").kind,
            CloseKind::Internal
        );
        let fault = relay.storage.fault().expect("the store is marked faulty");
        assert!(fault.contains("disk is full"), "{fault}");
        // redb needs reopening before it even reads again: at once.
        assert_eq!(store.recoveries(), 1);

        // b retries while the disk is still full: told why, then closed.
        rejoin(&mut relay, &mut b);
        let refused = store.refused_writes();
        let (error, close) = settle(&mut relay, &mut b);
        let error = error.expect("an error frame");
        assert!(
            error.contains("disk is full") && error.contains("kept on your device"),
            "{error}"
        );
        assert_eq!(close.expect("then a close").kind, CloseKind::Internal);
        assert_eq!(
            store.refused_writes(),
            refused,
            "a refused write does not reach the store"
        );
        assert_eq!(
            relay.hub.loaded(),
            1,
            "b's refused document is not kept in memory"
        );

        // A reader (with a storage id, so it has a sync state to save)
        // still gets a's document, and nothing is committed for it.
        let (mut reader, join) = Socket::connect("reader", 64);
        relay.round([join]);
        relay.round([reader.frame(request(&reader.peer, a.doc))]);
        assert!(
            matches!(
                reader.drain().as_slice(),
                [Outbound::Frame(Message::Sync { .. })]
            ),
            "reads are served"
        );
        assert_eq!(
            store.refused_writes(),
            refused,
            "no commit tried for a read"
        );

        // A probe while the disk is full changes nothing; one after it is
        // freed lets b's document in.
        relay.round([Input::Probe]);
        assert!(relay.storage.fault().is_some());
        store.free_disk();
        relay.round([Input::Probe]);
        assert_eq!(relay.storage.fault(), None);
        assert_eq!(
            store.recoveries(),
            3,
            "each probe lets the store recover first"
        );
        rejoin(&mut relay, &mut b);
        assert_eq!(settle(&mut relay, &mut b), (None, None));
        let mut stored = store.documents().unwrap();
        stored.sort();
        let mut want = vec![a.doc, b.doc];
        want.sort();
        assert_eq!(stored, want);
    }

    #[test]
    fn a_full_queue_kills_only_that_connection() {
        let store = faulty();
        let mut relay = relay(store, 64);
        let (mut fast, join_fast) = Phone::new("fast", 64);
        let (mut slow, join_slow) = Socket::connect("slow", 2);
        relay.round([join_fast, join_slow]);
        // Both follow a stored document.
        let mut pending = fast.start();
        while !pending.is_empty() {
            relay.round(pending.drain(..));
            let (answers, closed) = fast.answer();
            assert_eq!(closed, None);
            pending = answers;
        }
        let doc = fast.doc;
        relay.round([slow.frame(request(&slow.peer, doc))]);
        assert!(matches!(
            slow.drain().as_slice(),
            [Outbound::Frame(Message::Sync { .. })]
        ));
        let talker = fast.socket.peer.clone();
        let ephemeral = |count| Message::Ephemeral {
            sender_id: talker.clone(),
            target_id: relay_id(),
            count,
            session_id: "s".into(),
            document_id: doc,
            data: vec![1, 2, 3],
        };
        relay.round((1..=3).map(|n| fast.socket.frame(ephemeral(n))));
        let close = slow.killed.try_recv().expect("killed");
        assert_eq!(close.kind, CloseKind::Policy);
        assert!(close.reason.contains("not reading"), "{}", close.reason);
        // The fast peer is still served.
        relay.round([fast.socket.frame(request(&talker, DocumentId::random()))]);
        assert!(matches!(
            fast.socket.drain().as_slice(),
            [Outbound::Frame(Message::DocUnavailable { .. })]
        ));
    }

    #[test]
    fn a_newer_connection_of_a_peer_replaces_the_older() {
        let store = faulty();
        let mut relay = relay(store, 64);
        let (mut old, join_old) = Socket::connect("a", 64);
        relay.round([join_old]);
        let (mut new, join_new) = Socket::connect("a", 64);
        relay.round([join_new]);
        let close = old.killed.try_recv().expect("the older one is closed");
        assert_eq!(close.kind, CloseKind::Normal);
        relay.round([old.frame(request(&old.peer, DocumentId::random()))]);
        assert!(old.drain().is_empty(), "the old connection is ignored");
        relay.round([new.frame(request(&new.peer, DocumentId::random()))]);
        assert_eq!(new.drain().len(), 1);
    }

    #[test]
    fn a_hub_refusal_is_an_error_frame_then_a_protocol_close() {
        let store = faulty();
        let mut relay = relay(store.clone(), 64);
        let (mut a, join) = Socket::connect("a", 64);
        relay.round([join]);
        relay.round([a.frame(Message::Sync {
            sender_id: a.peer.clone(),
            target_id: relay_id(),
            document_id: DocumentId::random(),
            data: vec![0x42, 0xff, 0x00],
        })]);
        let items = a.drain();
        assert!(
            matches!(
                items.as_slice(),
                [Outbound::Frame(Message::Error { .. }), Outbound::Close(c)] if c.kind == CloseKind::Protocol
            ),
            "{items:?}"
        );
        assert!(store.documents().unwrap().is_empty());

        let (mut b, join) = Socket::connect("b", 64);
        relay.round([join]);
        relay.round([b.frame(Message::Leave {
            sender_id: b.peer.clone(),
        })]);
        assert!(matches!(
            b.drain().as_slice(),
            [Outbound::Close(c)] if c.kind == CloseKind::Normal
        ));
    }

    /// A policy with a bug that one peer's frames reach: it panics.
    struct PanicsFor(&'static str);

    impl client_core::sync::Access for PanicsFor {
        fn may_read(&self, peer: &PeerId, _: &DocumentId, _: &automerge::Automerge) -> bool {
            assert_ne!(peer.as_str(), self.0, "injected panic");
            true
        }

        fn check_write(
            &self,
            peer: &PeerId,
            _: &DocumentId,
            _: Option<&automerge::Automerge>,
            _: &automerge::Automerge,
            _: &[automerge::Change],
        ) -> Result<(), client_core::sync::Refusal> {
            assert_ne!(peer.as_str(), self.0, "injected panic");
            Ok(())
        }
    }

    /// A bug that one frame reaches (here: a policy that panics) once
    /// unwound out of the hub thread and stopped the whole relay. Now it
    /// fails that frame: the sender gets an error and a close, and every
    /// other connection is served as before.
    #[test]
    fn a_panic_on_one_frame_fails_that_frame_and_the_hub_goes_on() {
        let store = faulty();
        let mut relay = relay(store.clone(), 64);
        relay.hub.set_access(Box::new(PanicsFor("a")));
        let (mut a, join_a) = Phone::new("a", 64);
        let (mut b, join_b) = Phone::new("b", 64);
        relay.round([join_a, join_b]);
        relay.round(a.start());
        let items = a.socket.drain();
        assert!(
            matches!(
                items.as_slice(),
                [Outbound::Frame(Message::Error { message, .. }), Outbound::Close(c)]
                    if c.kind == CloseKind::Internal && message.contains("refused")
            ),
            "{items:?}"
        );
        let mut pending = b.start();
        while !pending.is_empty() {
            relay.round(pending.drain(..));
            let (answers, closed) = b.answer();
            assert_eq!(closed, None);
            pending = answers;
        }
        assert_eq!(store.documents().unwrap(), vec![b.doc]);
    }

    #[test]
    fn stop_ends_the_round_after_committing_it() {
        let store = faulty();
        let mut relay = relay(store, 64);
        let (_a, join) = Socket::connect("a", 64);
        assert!(!relay.round([join]));
        assert!(relay.round([Input::Stop]));
    }
}
