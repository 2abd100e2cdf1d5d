//! The sync state machine driven over a deterministic in-memory network:
//! no sockets, no sleeps. A relay hub and several devices exchange frames
//! until nothing is left to send. A device is either a bare hub (driven by
//! the test) or the real client session, as `gridsync sync` runs it.

use std::collections::VecDeque;
use std::sync::Arc;

use client_core::client::session::{Handshake, Session, Step};
use client_core::device::{Device, EventInput, Identity};
use client_core::ids::{DocumentId, GridCode, TicketId};
use client_core::model::lifecycle::{Action, Role, Status};
use client_core::model::ticket::{Kind, NewTicket, Source, Urgency};
use client_core::protocol::heads_batch::{self, HeadsBatch};
use client_core::protocol::{Message, PeerId, PeerMetadata, StorageId};
use client_core::store::{Listing, MemoryStore, Store};
use client_core::sync::{self, Effects, Hub, HubEvent};

struct Node {
    id: PeerId,
    hub: Hub<Arc<MemoryStore>>,
    device: Option<Device<Arc<MemoryStore>>>,
}

/// A device running the real client session.
struct SessionNode {
    store: Arc<MemoryStore>,
    device: Device<Arc<MemoryStore>>,
    /// The open session, while connected.
    session: Option<Session<Arc<MemoryStore>>>,
    /// Its peer id in the open session.
    id: Option<PeerId>,
}

struct Net {
    relay: Node,
    devices: Vec<Node>,
    sessions: Vec<SessionNode>,
    /// Every frame delivered: (from, to, type).
    log: Vec<(PeerId, PeerId, String)>,
    /// Frames in flight: (from, to, message).
    wire: VecDeque<(PeerId, PeerId, Message)>,
    closed: Vec<(PeerId, String)>,
    events: Vec<HubEvent>,
}

fn meta(storage: &str) -> PeerMetadata {
    PeerMetadata {
        storage_id: Some(StorageId::from(storage)),
        is_ephemeral: Some(false),
        ..PeerMetadata::default()
    }
}

impl Net {
    fn new(relay_capacity: usize) -> Self {
        let relay = Node {
            id: PeerId::from("relay"),
            hub: Hub::new(
                Arc::new(MemoryStore::new()),
                PeerId::from("relay"),
                relay_capacity,
            ),
            device: None,
        };
        Self {
            relay,
            devices: Vec::new(),
            sessions: Vec::new(),
            log: Vec::new(),
            wire: VecDeque::new(),
            closed: Vec::new(),
            events: Vec::new(),
        }
    }

    fn add_device(&mut self, user: &str, role: Role) -> usize {
        let store = Arc::new(MemoryStore::new());
        let grid = GridCode::new("G-01").unwrap();
        let device = Device::init(store.clone(), Identity::new(user, role, vec![grid])).unwrap();
        let id = PeerId::from(user);
        let hub = Hub::new(store, id.clone(), 1000);
        self.devices.push(Node {
            id,
            hub,
            device: Some(device),
        });
        self.devices.len() - 1
    }

    fn add_session_device(&mut self, user: &str, role: Role) -> usize {
        let store = Arc::new(MemoryStore::new());
        let grid = GridCode::new("G-01").unwrap();
        let device = Device::init(store.clone(), Identity::new(user, role, vec![grid])).unwrap();
        self.sessions.push(SessionNode {
            store,
            device,
            session: None,
            id: None,
        });
        self.sessions.len() - 1
    }

    /// Opens session `i`: its `join` reaches the relay hub, the relay's
    /// `peer` (offering the heads-batch extension or not) opens the
    /// session, which discovers what to sync.
    fn connect_session(&mut self, i: usize, relay_offers_heads_batch: bool) {
        let handshake = Handshake::open(self.sessions[i].store.clone(), Vec::new())
            .unwrap()
            // The in-memory relay holds no catalog; the counts here are of records.
            .without_catalog();
        let Message::Join {
            sender_id,
            peer_metadata,
            ..
        } = handshake.join()
        else {
            unreachable!("join makes a join")
        };
        self.relay.hub.connect(sender_id.clone(), &peer_metadata);
        let relay_meta = if relay_offers_heads_batch {
            sync::with_extensions(meta("relay-storage"))
        } else {
            meta("relay-storage")
        };
        let peer = Message::Peer {
            sender_id: self.relay.id.clone(),
            target_id: sender_id.clone(),
            selected_protocol_version: "1".into(),
            peer_metadata: relay_meta,
        };
        let mut session = handshake.accept(peer).unwrap();
        let step = session.discover().unwrap();
        self.sessions[i].session = Some(session);
        self.sessions[i].id = Some(sender_id.clone());
        self.send_step(&sender_id, step);
    }

    fn disconnect_session(&mut self, i: usize) {
        let Some(id) = self.sessions[i].id.take() else {
            return;
        };
        self.sessions[i].session = None;
        self.relay.hub.disconnect(&id);
        self.wire.retain(|(f, t, _)| *f != id && *t != id);
    }

    fn session(&mut self, i: usize) -> &mut Session<Arc<MemoryStore>> {
        self.sessions[i].session.as_mut().expect("connected")
    }

    /// Puts a session step's frames on the wire (its batch is committed).
    fn send_step(&mut self, from: &PeerId, step: Step) {
        for msg in step.send {
            self.wire
                .push_back((from.clone(), self.relay.id.clone(), msg));
        }
        self.closed
            .extend(step.close.map(|reason| (from.clone(), reason)));
    }

    fn connect(&mut self, i: usize) {
        let d = &mut self.devices[i];
        d.hub.connect(self.relay.id.clone(), &meta("relay-storage"));
        self.relay
            .hub
            .connect(d.id.clone(), &meta(&format!("{}-storage", d.id)));
    }

    fn disconnect(&mut self, i: usize) {
        let d = &mut self.devices[i];
        d.hub.disconnect(&self.relay.id);
        self.relay.hub.disconnect(&d.id);
        let id = d.id.clone();
        self.wire.retain(|(f, t, _)| *f != id && *t != id);
    }

    /// The device asks the relay for every document it knows of.
    fn sync_device(&mut self, i: usize) {
        let docs = self.devices[i]
            .device
            .as_ref()
            .unwrap()
            .known_documents()
            .unwrap();
        let relay = self.relay.id.clone();
        let mut fx = Effects::default();
        for doc in docs {
            self.devices[i].hub.want(&doc, &relay, &mut fx).unwrap();
        }
        let from = self.devices[i].id.clone();
        self.apply(&from, fx);
    }

    fn node(&mut self, id: &PeerId) -> &mut Node {
        if *id == self.relay.id {
            return &mut self.relay;
        }
        self.devices.iter_mut().find(|d| d.id == *id).unwrap()
    }

    fn apply(&mut self, from: &PeerId, fx: Effects) {
        self.node(from).hub.repo().store().write(fx.batch).unwrap();
        for (to, msg) in fx.send {
            self.wire.push_back((from.clone(), to, msg));
        }
        self.closed.extend(fx.close);
        self.events.extend(fx.events);
    }

    /// Delivers the frame at the head of the wire; false if there is none.
    fn deliver_next(&mut self) -> bool {
        let Some((from, to, msg)) = self.wire.pop_front() else {
            return false;
        };
        self.log
            .push((from.clone(), to.clone(), msg.type_name().to_owned()));
        if let Some(i) = self
            .sessions
            .iter()
            .position(|s| s.id.as_ref() == Some(&to))
        {
            let step = self.session(i).handle(vec![msg]).unwrap();
            self.send_step(&to, step);
            return true;
        }
        let mut fx = Effects::default();
        self.node(&to).hub.receive(&from, msg, &mut fx).unwrap();
        self.apply(&to, fx);
        true
    }

    /// Delivers frames until none are left; then connected devices look
    /// for new grid-index entries and ask for what they list, until that
    /// sends nothing either.
    fn run_until_quiescent(&mut self) {
        let mut steps = 0;
        loop {
            while self.deliver_next() {
                steps += 1;
                assert!(steps < 100_000, "sync did not quiesce");
            }
            let relay = self.relay.id.clone();
            for i in 0..self.devices.len() {
                if self.devices[i].hub.is_connected(&relay) {
                    self.sync_device(i);
                }
            }
            if self.wire.is_empty() {
                return;
            }
        }
    }
}

fn ticket(title: &str) -> NewTicket {
    NewTicket {
        id: TicketId::random(),
        grid: GridCode::new("G-01").unwrap(),
        source: Source::Patrol,
        kind: Kind::Component,
        category: "0101".into(),
        urgency: Urgency::Normal,
        title: title.into(),
        description: String::new(),
        location: None,
        resident: None,
    }
}

fn listed(node: &Node) -> Vec<TicketId> {
    let mut ids: Vec<_> = node
        .device
        .as_ref()
        .unwrap()
        .tickets(None, Listing::All)
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    ids.sort();
    ids
}

#[test]
fn offline_tickets_from_two_workers_reach_a_fresh_supervisor() {
    let mut net = Net::new(1000);
    let a = net.add_device("wang", Role::Worker);
    let b = net.add_device("liu", Role::Worker);
    let s = net.add_device("chen", Role::Supervisor);
    let t1 = net.devices[a]
        .device
        .as_ref()
        .unwrap()
        .report(&ticket("路灯不亮"), 1)
        .unwrap();
    let t2 = net.devices[b]
        .device
        .as_ref()
        .unwrap()
        .report(&ticket("井盖缺失"), 2)
        .unwrap();
    for i in [a, b, s] {
        net.connect(i);
        net.sync_device(i);
        net.run_until_quiescent();
    }
    // The first workers learn of each other's tickets on their next sync.
    for i in [a, b] {
        net.sync_device(i);
        net.run_until_quiescent();
    }
    let mut want = vec![t1, t2];
    want.sort();
    for i in [a, b, s] {
        assert_eq!(listed(&net.devices[i]), want, "device {i}");
    }
    assert!(net.closed.is_empty(), "{:?}", net.closed);
}

#[test]
fn a_change_is_forwarded_to_other_connected_peers() {
    let mut net = Net::new(1000);
    let a = net.add_device("wang", Role::Worker);
    let s = net.add_device("chen", Role::Supervisor);
    let t = net.devices[a]
        .device
        .as_ref()
        .unwrap()
        .report(&ticket("下水道堵塞"), 1)
        .unwrap();
    net.connect(a);
    net.connect(s);
    net.sync_device(a);
    net.run_until_quiescent();
    net.sync_device(s);
    net.run_until_quiescent();
    // The supervisor accepts while both are connected: the worker gets it
    // without asking again.
    net.devices[s]
        .device
        .as_ref()
        .unwrap()
        .act(t, Action::Accepted, EventInput::default(), 5)
        .unwrap();
    let mut fx = Effects::default();
    let relay = net.relay.id.clone();
    net.devices[s]
        .hub
        .local_change(&t.document_id(), &mut fx)
        .unwrap();
    let sid = net.devices[s].id.clone();
    net.apply(&sid, fx);
    net.run_until_quiescent();
    let worker = net.devices[a].device.as_ref().unwrap();
    assert_eq!(worker.ticket(t).unwrap().status(), Status::Accepted);
    assert_eq!(
        net.devices[a].hub.in_sync(&t.document_id(), &relay),
        Some(true)
    );
}

#[test]
fn a_requester_gets_a_document_when_it_arrives_later() {
    let mut net = Net::new(1000);
    let a = net.add_device("wang", Role::Worker);
    let s = net.add_device("chen", Role::Supervisor);
    net.connect(s);
    // The supervisor asks for the grid index before anyone created it.
    net.sync_device(s);
    net.run_until_quiescent();
    let index = GridCode::new("G-01").unwrap().index_document_id();
    assert!(
        net.events
            .iter()
            .any(|e| matches!(e, HubEvent::Unavailable { doc, .. } if *doc == index))
    );
    let t = net.devices[a]
        .device
        .as_ref()
        .unwrap()
        .report(&ticket("占道经营"), 1)
        .unwrap();
    net.connect(a);
    net.sync_device(a);
    net.run_until_quiescent();
    assert_eq!(
        listed(&net.devices[s]),
        vec![t],
        "the waiting supervisor received it"
    );
}

#[test]
fn eviction_does_not_lose_or_stall_anything() {
    let mut net = Net::new(2);
    let a = net.add_device("wang", Role::Worker);
    let s = net.add_device("chen", Role::Supervisor);
    let mut ids: Vec<TicketId> = (0..30)
        .map(|i| {
            net.devices[a]
                .device
                .as_ref()
                .unwrap()
                .report(&ticket(&format!("问题 {i}")), i)
                .unwrap()
        })
        .collect();
    ids.sort();
    for i in [a, s] {
        net.connect(i);
        net.sync_device(i);
        net.run_until_quiescent();
    }
    assert!(net.relay.hub.loaded() <= 3, "idle documents are evicted");
    assert_eq!(listed(&net.devices[s]), ids);
    assert_eq!(net.relay.hub.repo().store().documents().unwrap().len(), 31);
}

#[test]
fn undecodable_sync_data_closes_only_that_peer() {
    let mut net = Net::new(1000);
    let a = net.add_device("wang", Role::Worker);
    net.connect(a);
    let mut fx = Effects::default();
    let from = net.devices[a].id.clone();
    let msg = Message::Sync {
        sender_id: from.clone(),
        target_id: PeerId::from("relay"),
        document_id: DocumentId::random(),
        data: vec![0x42, 0xff, 0x00],
    };
    net.relay.hub.receive(&from, msg, &mut fx).unwrap();
    assert!(matches!(fx.send[0].1, Message::Error { .. }));
    assert_eq!(fx.close.len(), 1);
    assert!(
        net.relay.hub.repo().store().documents().unwrap().is_empty(),
        "nothing stored"
    );
}

#[test]
fn a_reconnecting_device_resumes_from_persisted_sync_state() {
    let mut net = Net::new(1000);
    let a = net.add_device("wang", Role::Worker);
    for i in 0..5 {
        net.devices[a]
            .device
            .as_ref()
            .unwrap()
            .report(&ticket(&format!("问题 {i}")), i)
            .unwrap();
    }
    net.connect(a);
    net.sync_device(a);
    net.run_until_quiescent();
    net.disconnect(a);
    net.connect(a);
    net.sync_device(a);
    let frames = net.wire.len();
    net.run_until_quiescent();
    // With shared heads persisted on both sides, an unchanged document
    // costs one message each way, carrying no changes.
    assert_eq!(frames, 6, "one sync per known document");
    let changed = net
        .events
        .iter()
        .filter(|e| matches!(e, HubEvent::Changed { .. }))
        .count();
    assert_eq!(
        changed, 6,
        "only the first sync changed anything on the relay"
    );
}

/// A policy for the tests: `liu` may read nothing, `zhao` may write nothing.
struct Policy;

impl client_core::sync::Access for Policy {
    fn may_read(&self, peer: &PeerId, _: &DocumentId, _: &automerge::Automerge) -> bool {
        peer.as_str() != "liu"
    }

    fn check_write(
        &self,
        peer: &PeerId,
        _: &DocumentId,
        _: Option<&automerge::Automerge>,
        _: &automerge::Automerge,
        changes: &[automerge::Change],
    ) -> Result<(), client_core::sync::Refusal> {
        assert!(!changes.is_empty(), "only called with changes to check");
        if peer.as_str() == "zhao" {
            Err(client_core::sync::Refusal::new(std::io::Error::other(
                "reviewers write nothing",
            )))
        } else {
            Ok(())
        }
    }
}

#[test]
fn a_denied_document_looks_unavailable_and_refused_changes_are_not_stored() {
    let mut net = Net::new(1000);
    net.relay.hub.set_access(Box::new(Policy));
    let a = net.add_device("wang", Role::Worker);
    let b = net.add_device("liu", Role::Worker);
    let z = net.add_device("zhao", Role::Supervisor);
    net.devices[a]
        .device
        .as_ref()
        .unwrap()
        .report(&ticket("路灯不亮"), 1)
        .unwrap();
    net.connect(a);
    net.sync_device(a);
    net.run_until_quiescent();
    let stored = net.relay.hub.repo().store().documents().unwrap();
    assert_eq!(stored.len(), 2);

    net.connect(b);
    net.sync_device(b);
    net.run_until_quiescent();
    assert!(listed(&net.devices[b]).is_empty(), "liu sees nothing");
    assert!(
        net.events
            .iter()
            .any(|e| matches!(e, HubEvent::Denied { peer, .. } if peer.as_str() == "liu"))
    );
    assert!(
        net.events
            .iter()
            .any(|e| matches!(e, HubEvent::Unavailable { peer, .. } if peer.as_str() == "relay")),
        "the relay answered doc-unavailable"
    );

    let before: Vec<_> = stored
        .iter()
        .map(|d| net.relay.hub.repo().store().load(d).unwrap())
        .collect();
    net.devices[z]
        .device
        .as_ref()
        .unwrap()
        .report(&ticket("伪造"), 2)
        .unwrap();
    net.connect(z);
    net.sync_device(z);
    net.run_until_quiescent();
    assert!(
        net.events
            .iter()
            .any(|e| matches!(e, HubEvent::Refused { by, .. } if by.as_str() == "zhao"))
    );
    assert!(
        net.closed
            .iter()
            .any(|(p, why)| p.as_str() == "zhao" && why.contains("reviewers write nothing"))
    );
    let after: Vec<_> = stored
        .iter()
        .map(|d| net.relay.hub.repo().store().load(d).unwrap())
        .collect();
    assert_eq!(before, after, "nothing already stored changed");
    assert_eq!(
        net.relay.hub.repo().store().documents().unwrap().len(),
        2,
        "the refused ticket is not stored"
    );
}

#[test]
fn a_forgotten_document_is_reloaded_from_the_store() {
    let mut net = Net::new(1000);
    let a = net.add_device("wang", Role::Worker);
    let t = net.devices[a]
        .device
        .as_ref()
        .unwrap()
        .report(&ticket("垃圾堆放"), 1)
        .unwrap();
    net.connect(a);
    net.sync_device(a);
    net.run_until_quiescent();
    let loaded = net.relay.hub.loaded();
    net.relay.hub.forget(&t.document_id());
    assert_eq!(net.relay.hub.loaded(), loaded - 1);
    // A peer that arrives later still gets it: from the store.
    let s = net.add_device("chen", Role::Supervisor);
    net.connect(s);
    net.sync_device(s);
    net.run_until_quiescent();
    assert_eq!(listed(&net.devices[s]), vec![t]);
    assert!(net.closed.is_empty(), "{:?}", net.closed);
}

fn session_listed(node: &SessionNode) -> Vec<TicketId> {
    let mut ids: Vec<_> = node
        .device
        .tickets(None, Listing::All)
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    ids.sort();
    ids
}

/// The real client session, as `gridsync sync` drives it, over the
/// in-memory network: upload, download, an edit announced while connected,
/// and a reconnect, with and without the heads-batch extension.
#[test]
fn the_client_session_syncs_through_the_in_memory_network() {
    for heads_batch in [false, true] {
        let mut net = Net::new(1000);
        let w = net.add_session_device("wang", Role::Worker);
        let s = net.add_session_device("chen", Role::Supervisor);
        let mut ids: Vec<TicketId> = (0..5)
            .map(|i| {
                net.sessions[w]
                    .device
                    .report(&ticket(&format!("问题 {i}")), i)
                    .unwrap()
            })
            .collect();
        ids.sort();

        // The worker uploads its offline tickets and its grid index.
        net.connect_session(w, heads_batch);
        net.run_until_quiescent();
        let report = net.session(w).report().unwrap();
        assert_eq!((report.documents, report.acknowledged), (6, 6));
        assert!(report.pending.is_empty(), "every edit acknowledged");
        assert!(net.sessions[w].store.outbox().unwrap().is_empty());
        assert_eq!(net.relay.hub.repo().store().documents().unwrap().len(), 6);

        // A fresh supervisor downloads everything the index lists.
        net.connect_session(s, heads_batch);
        net.run_until_quiescent();
        assert_eq!(session_listed(&net.sessions[s]), ids);
        let progress = net.session(s).progress();
        assert_eq!((progress.done, progress.total), (6, 6));

        // The supervisor accepts a ticket while connected; the worker is
        // offline and gets it when it reconnects.
        net.disconnect_session(w);
        net.sessions[s]
            .device
            .act(ids[0], Action::Accepted, EventInput::default(), 9)
            .unwrap();
        let step = net.session(s).local_edits().unwrap();
        let sid = net.sessions[s].id.clone().unwrap();
        net.send_step(&sid, step);
        net.run_until_quiescent();
        assert!(net.session(s).report().unwrap().pending.is_empty());

        net.log.clear();
        net.connect_session(w, heads_batch);
        net.run_until_quiescent();
        let worker = &net.sessions[w].device;
        assert_eq!(worker.ticket(ids[0]).unwrap().status(), Status::Accepted);
        let progress = net.session(w).progress();
        assert_eq!((progress.done, progress.total), (6, 6));
        let batches = net
            .log
            .iter()
            .filter(|(_, _, kind)| kind == heads_batch::HEADS_MESSAGE)
            .count();
        let syncs = net.log.iter().filter(|(_, _, kind)| kind == "sync").count();
        if heads_batch {
            // One batch for the six unedited documents; only the changed
            // ticket goes through the sync protocol.
            assert_eq!(batches, 1, "{:?}", net.log);
            assert!(syncs <= 4, "{syncs} sync frames: {:?}", net.log);
        } else {
            assert!(
                net.log
                    .iter()
                    .all(|(_, _, kind)| !kind.starts_with("gridsync")),
                "no extension frame without the extension: {:?}",
                net.log
            );
            assert!(syncs >= 12, "one exchange per document: {:?}", net.log);
        }
        assert!(net.closed.is_empty(), "{:?}", net.closed);
    }
}

/// The heads-batch extension on its own: a reconnecting device sends the
/// heads of its documents in one message; the relay confirms the unchanged
/// ones without loading them and leaves out the one that changed.
#[test]
fn a_heads_batch_confirms_unchanged_documents_and_leaves_out_changed_ones() {
    let mut net = Net::new(1000);
    let a = net.add_device("wang", Role::Worker);
    let s = net.add_device("chen", Role::Supervisor);
    let ids: Vec<TicketId> = (0..3)
        .map(|i| {
            net.devices[a]
                .device
                .as_ref()
                .unwrap()
                .report(&ticket(&format!("问题 {i}")), i)
                .unwrap()
        })
        .collect();
    for i in [a, s] {
        net.connect(i);
        net.sync_device(i);
        net.run_until_quiescent();
    }
    net.disconnect(a);
    // The supervisor changes one ticket while the worker is away.
    net.devices[s]
        .device
        .as_ref()
        .unwrap()
        .act(ids[0], Action::Accepted, EventInput::default(), 5)
        .unwrap();
    let mut fx = Effects::default();
    net.devices[s]
        .hub
        .local_change(&ids[0].document_id(), &mut fx)
        .unwrap();
    let sid = net.devices[s].id.clone();
    net.apply(&sid, fx);
    net.run_until_quiescent();
    net.relay.hub.forget(&ids[1].document_id());
    let loaded = net.relay.hub.loaded();

    // The worker comes back offering the extension, as does the relay.
    let (relay, me) = (net.relay.id.clone(), net.devices[a].id.clone());
    net.devices[a]
        .hub
        .connect(relay.clone(), &sync::with_extensions(meta("relay-storage")));
    net.relay
        .hub
        .connect(me.clone(), &sync::with_extensions(meta("wang-storage")));
    let docs: Vec<DocumentId> = ids.iter().map(TicketId::document_id).collect();
    let mut fx = Effects::default();
    let left = net.devices[a]
        .hub
        .send_heads_batch(&docs, &relay, &mut fx)
        .unwrap();
    assert!(left.is_empty(), "every ticket has stored heads");
    assert_eq!(fx.send.len(), 1, "one message for all three");
    let (_, batch) = fx.send.pop().unwrap();
    let Ok(HeadsBatch::Batch { entries, .. }) = heads_batch::decode(&batch) else {
        panic!("a heads batch: {batch:?}")
    };
    assert_eq!(entries.len(), 3);

    let mut fx = Effects::default();
    net.relay.hub.receive(&me, batch, &mut fx).unwrap();
    assert_eq!(net.relay.hub.loaded(), loaded, "no document loaded");
    assert!(fx.close.is_empty(), "{:?}", fx.close);
    let (_, reply) = fx.send.pop().unwrap();
    let mut fx = Effects::default();
    net.devices[a].hub.receive(&relay, reply, &mut fx).unwrap();
    let mut unchanged = docs[1..].to_vec();
    unchanged.sort();
    match &fx.events[..] {
        [HubEvent::SameHeads { docs: same, of }] => {
            let mut same = same.clone();
            same.sort();
            assert_eq!(same, unchanged);
            assert_eq!(of, &docs);
        }
        other => panic!("expected one SameHeads event, got {other:?}"),
    }
}

/// The hub enforces the negotiation itself: it sends no extension frame to
/// a peer that did not offer the extension (the documents come back for
/// the caller to sync one by one), and it refuses one from such a peer.
#[test]
fn no_heads_batch_goes_to_or_is_taken_from_a_peer_that_did_not_offer_it() {
    let mut net = Net::new(1000);
    let a = net.add_device("wang", Role::Worker);
    let t = net.devices[a]
        .device
        .as_ref()
        .unwrap()
        .report(&ticket("路灯不亮"), 1)
        .unwrap();
    let docs = vec![t.document_id()];
    let hub = &mut net.devices[a].hub;
    hub.connect(PeerId::from("plain"), &meta("plain-storage"));
    let mut fx = Effects::default();
    let left = hub
        .send_heads_batch(&docs, &PeerId::from("plain"), &mut fx)
        .unwrap();
    assert!(fx.send.is_empty(), "nothing sent: {:?}", fx.send);
    assert_eq!(left, docs, "every document left to sync one by one");

    hub.connect(
        PeerId::from("extended"),
        &sync::with_extensions(meta("extended-storage")),
    );
    let left = hub
        .send_heads_batch(&docs, &PeerId::from("extended"), &mut fx)
        .unwrap();
    assert!(left.is_empty());
    let (to, batch) = fx
        .send
        .pop()
        .expect("a heads batch for a peer that offered it");
    assert_eq!(to, PeerId::from("extended"));

    // The relay refuses the same frame from a peer that did not offer it.
    net.connect(a);
    let mut fx = Effects::default();
    let me = net.devices[a].id.clone();
    net.relay.hub.receive(&me, batch, &mut fx).unwrap();
    assert_eq!(fx.close.len(), 1, "{:?}", fx.close);
    assert!(fx.close[0].1.contains("unsupported message type"));
}

/// The one head of a document as `node` stores it.
fn stored_head(node: &Node, doc: &DocumentId) -> automerge::ChangeHash {
    let heads = node.hub.repo().store().heads(doc).unwrap().unwrap();
    assert_eq!(heads.len(), 1, "{heads:?}");
    heads[0]
}

/// A sync frame from `from` to `to` about `doc`, as `from` would send it
/// with the heads it stores if its bloom filter of what it holds happened
/// to claim `claimed` too (a false positive, about one hash in a hundred):
/// the peer leaves `claimed` out of its answer, and what depends on it
/// arrives without it.
fn false_positive(
    from: &Node,
    to: &PeerId,
    doc: &DocumentId,
    claimed: automerge::ChangeHash,
) -> Message {
    use automerge::sync::{BloomFilter, Have, State, SyncDoc};
    let held = from.hub.repo().load(doc).unwrap().unwrap();
    let mut msg = held
        .generate_sync_message(&mut State::new())
        .expect("a first message");
    msg.have = vec![Have {
        last_sync: held.get_heads(),
        bloom: BloomFilter::from_hashes([claimed].iter()),
    }];
    Message::Sync {
        sender_id: from.id.clone(),
        target_id: to.clone(),
        document_id: *doc,
        data: msg.encode(),
    }
}

/// How many changes the last frame on the wire carries.
fn changes_in_last_frame(net: &Net) -> usize {
    let (_, _, Message::Sync { data, .. }) = net.wire.back().expect("a frame") else {
        panic!("a sync frame: {:?}", net.wire.back());
    };
    automerge::sync::Message::decode(data)
        .unwrap()
        .changes
        .len()
}

/// A change whose dependency has not arrived waits in the document's
/// queue, in memory only; the relay drops that queue when it evicts the
/// document. The device remembers having sent the change and never sent
/// it again when the relay asked for it: each side answered the other's
/// sync message with another one, for ever. Now a change the peer asks
/// for is sent again.
#[test]
fn a_change_the_relay_evicted_unapplied_is_sent_again_when_it_asks() {
    // The relay holds one document in memory.
    let mut net = Net::new(1);
    let a = net.add_device("wang", Role::Worker);
    net.devices[a].hub.share_store();
    let device = net.devices[a].device.as_ref().unwrap();
    let t = device.report(&ticket("路灯不亮"), 1).unwrap();
    let doc = t.document_id();
    net.connect(a);
    net.sync_device(a);
    net.run_until_quiescent();
    // Two comments offline, the second on top of the first.
    let device = net.devices[a].device.as_ref().unwrap();
    device.comment(t, "已到现场", 2).unwrap();
    let first = stored_head(&net.devices[a], &doc);
    device.comment(t, "正在处理", 3).unwrap();
    let second = stored_head(&net.devices[a], &doc);
    let other = device.report(&ticket("井盖缺失"), 4).unwrap();

    // The relay's bloom filter claims the first: the device sends the
    // second alone, then asks about another ticket.
    let to = net.devices[a].id.clone();
    let frame = false_positive(&net.relay, &to, &doc, first);
    net.wire
        .push_back((net.relay.id.clone(), to.clone(), frame));
    assert!(net.deliver_next());
    assert_eq!(changes_in_last_frame(&net), 1, "the second comment alone");
    let (relay, mut fx) = (net.relay.id.clone(), Effects::default());
    net.devices[a]
        .hub
        .want(&other.document_id(), &relay, &mut fx)
        .unwrap();
    net.apply(&to, fx);
    // The second waits for the first in the relay's memory; the other
    // ticket pushes it out.
    assert!(net.deliver_next());
    assert!(net.deliver_next());
    assert!(net.relay.hub.document(&doc).is_none(), "evicted");

    net.run_until_quiescent();
    assert_eq!(stored_head(&net.relay, &doc), second);
    assert!(net.closed.is_empty(), "{:?}", net.closed);
}

/// The same on a device: a local edit reloads the document in its hub
/// from the store, dropping what waited in its queue, and the relay had
/// sent it already.
#[test]
fn a_change_a_device_dropped_unapplied_is_sent_again_when_it_asks() {
    let mut net = Net::new(1000);
    let a = net.add_device("wang", Role::Worker);
    let s = net.add_device("chen", Role::Supervisor);
    for i in [a, s] {
        net.devices[i].hub.share_store();
    }
    let t = net.devices[a]
        .device
        .as_ref()
        .unwrap()
        .report(&ticket("路灯不亮"), 1)
        .unwrap();
    let doc = t.document_id();
    for i in [a, s] {
        net.connect(i);
        net.sync_device(i);
        net.run_until_quiescent();
    }
    // The worker comments twice while the supervisor is away.
    net.disconnect(s);
    let worker = net.devices[a].device.as_ref().unwrap();
    worker.comment(t, "已到现场", 2).unwrap();
    let first = stored_head(&net.devices[a], &doc);
    worker.comment(t, "正在处理", 3).unwrap();
    let (from, mut fx) = (net.devices[a].id.clone(), Effects::default());
    net.devices[a].hub.local_change(&doc, &mut fx).unwrap();
    net.apply(&from, fx);
    net.run_until_quiescent();
    let second = stored_head(&net.relay, &doc);

    // The supervisor's bloom filter claims the first: the relay sends
    // the second alone, which waits in the supervisor's queue.
    net.connect(s);
    let sid = net.devices[s].id.clone();
    let frame = false_positive(&net.devices[s], &net.relay.id, &doc, first);
    net.wire
        .push_back((sid.clone(), net.relay.id.clone(), frame));
    assert!(net.deliver_next());
    assert_eq!(changes_in_last_frame(&net), 1, "the second comment alone");
    assert!(net.deliver_next());
    // A comment of the supervisor's own reloads the document.
    net.devices[s]
        .device
        .as_ref()
        .unwrap()
        .comment(t, "请尽快处理", 4)
        .unwrap();
    let mut fx = Effects::default();
    net.devices[s].hub.local_change(&doc, &mut fx).unwrap();
    net.apply(&sid, fx);

    net.run_until_quiescent();
    let heads = net.relay.hub.repo().store().heads(&doc).unwrap().unwrap();
    assert_eq!(heads.len(), 2, "the supervisor's comment beside: {heads:?}");
    let held = net.devices[s].hub.repo().load(&doc).unwrap().unwrap();
    assert!(
        held.get_change_meta_by_hash(&second).is_some(),
        "the second arrived"
    );
    assert_eq!(held.get_heads(), heads);
    assert!(net.closed.is_empty(), "{:?}", net.closed);
}
