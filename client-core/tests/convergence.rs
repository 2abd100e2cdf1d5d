//! Convergence as a property, through the real sync path: several devices
//! make random offline edits (new tickets, lifecycle events, comments,
//! visits) and sync them through a relay `Hub` with the real client
//! session, connecting and disconnecting in a random order while frames
//! are delivered in a random interleaving (in order on each connection;
//! a disconnect loses what was in flight). The relay offers the heads-batch
//! extension in some cases and not in others. Once everyone is connected
//! and quiet, every replica must hold identical documents and identical
//! folded state, nothing any device recorded may be lost, and no edit may
//! be left unacknowledged.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use client_core::client::session::{Handshake, Session, Step};
use client_core::device::{Device, DeviceError, EventInput, Identity};
use client_core::ids::{DocumentId, EventId, GridCode, TicketId, VisitId};
use client_core::model::lifecycle::{self, Action, Rating, Role};
use client_core::model::ticket::{Kind, NewTicket, Source, Urgency};
use client_core::model::visit::{Outcome, Visit, VisitType};
use client_core::protocol::{Message, PeerId, PeerMetadata, StorageId};
use client_core::store::{Listing, MemoryStore, Store};
use client_core::sync::{self, Effects, Hub};
use proptest::prelude::*;

const ROLES: [Role; 5] = [
    Role::Worker,
    Role::Supervisor,
    Role::Unit,
    Role::Worker,
    Role::Supervisor,
];
const UNIT: &str = "unit-2";

fn grids() -> Vec<GridCode> {
    vec![
        GridCode::new("G-01").unwrap(),
        GridCode::new("G-02").unwrap(),
    ]
}

type Shared = Arc<MemoryStore>;

struct Replica {
    device: Device<Shared>,
    store: Shared,
    /// The open session and its peer id, while connected.
    session: Option<(PeerId, Session<Shared>)>,
}

fn replica(i: usize) -> Replica {
    let user = if ROLES[i] == Role::Unit {
        UNIT.to_owned()
    } else {
        format!("user-{i}")
    };
    let store = Arc::new(MemoryStore::new());
    let device = Device::init(store.clone(), Identity::new(user, ROLES[i], grids())).unwrap();
    Replica {
        device,
        store,
        session: None,
    }
}

/// A relay hub and its devices, joined by an in-memory wire.
struct World {
    relay: Hub<Shared>,
    relay_id: PeerId,
    replicas: Vec<Replica>,
    /// Frames in flight: (from, to, message), in order per connection.
    wire: VecDeque<(PeerId, PeerId, Message)>,
    /// The relay offers the heads-batch extension.
    heads_batch: bool,
}

impl World {
    fn new(n: usize, heads_batch: bool) -> Self {
        let relay_id = PeerId::from("relay");
        Self {
            relay: Hub::new(Arc::new(MemoryStore::new()), relay_id.clone(), 64),
            relay_id,
            replicas: (0..n).map(replica).collect(),
            wire: VecDeque::new(),
            heads_batch,
        }
    }

    fn connect(&mut self, i: usize) {
        if self.replicas[i].session.is_some() {
            return;
        }
        let handshake = Handshake::open(self.replicas[i].store.clone(), Vec::new())
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
        self.relay.connect(sender_id.clone(), &peer_metadata);
        let mut meta = PeerMetadata {
            storage_id: Some(StorageId::from("relay-storage")),
            is_ephemeral: Some(false),
            ..PeerMetadata::default()
        };
        if self.heads_batch {
            meta = sync::with_extensions(meta);
        }
        let peer = Message::Peer {
            sender_id: self.relay_id.clone(),
            target_id: sender_id.clone(),
            selected_protocol_version: "1".into(),
            peer_metadata: meta,
        };
        let mut session = handshake.accept(peer).unwrap();
        let step = session.discover().unwrap();
        self.replicas[i].session = Some((sender_id.clone(), session));
        self.send(&sender_id, step);
    }

    /// The connection drops: frames in flight either way are lost.
    fn disconnect(&mut self, i: usize) {
        if let Some((id, _)) = self.replicas[i].session.take() {
            self.relay.disconnect(&id);
            self.wire.retain(|(f, t, _)| *f != id && *t != id);
        }
    }

    /// The device's sync loop notices edits committed since (its poll).
    fn poll(&mut self, i: usize) {
        if let Some((id, session)) = &mut self.replicas[i].session {
            let (id, step) = (id.clone(), session.local_edits().unwrap());
            self.send(&id, step);
        }
    }

    fn send(&mut self, from: &PeerId, step: Step) {
        assert!(step.close.is_none(), "{from} closed: {:?}", step.close);
        for msg in step.send {
            self.wire
                .push_back((from.clone(), self.relay_id.clone(), msg));
        }
    }

    /// Delivers the next frame of the connection of the frame at `pick`.
    fn deliver(&mut self, pick: usize) {
        if self.wire.is_empty() {
            return;
        }
        let (from, to) = {
            let (f, t, _) = &self.wire[pick % self.wire.len()];
            (f.clone(), t.clone())
        };
        let at = self
            .wire
            .iter()
            .position(|(f, t, _)| *f == from && *t == to)
            .expect("the picked frame is there");
        let (from, to, msg) = self.wire.remove(at).unwrap();
        if to == self.relay_id {
            let mut fx = Effects::default();
            self.relay.receive(&from, msg, &mut fx).unwrap();
            assert!(fx.close.is_empty(), "the relay closed: {:?}", fx.close);
            self.relay.repo().store().write(fx.batch).unwrap();
            for (peer, msg) in fx.send {
                self.wire.push_back((self.relay_id.clone(), peer, msg));
            }
        } else {
            let (id, session) = self
                .replicas
                .iter_mut()
                .filter_map(|r| r.session.as_mut())
                .find(|(id, _)| *id == to)
                .expect("frames to a closed connection are dropped");
            let (id, step) = (id.clone(), session.handle(vec![msg]).unwrap());
            self.send(&id, step);
        }
    }

    fn run_until_quiescent(&mut self) {
        let mut steps = 0;
        while !self.wire.is_empty() {
            steps += 1;
            if steps >= 199_970 {
                // What keeps the wire busy, for the failure's report.
                let (f, t, m) = &self.wire[0];
                eprintln!("livelock {f} -> {t}: {}", describe(m));
            }
            assert!(steps < 200_000, "sync did not quiesce");
            self.deliver(0);
        }
    }

    fn devices(&self) -> Vec<&Device<Shared>> {
        self.replicas.iter().map(|r| &r.device).collect()
    }
}

/// A frame in a line: its document and, for sync messages, what automerge's
/// message carries.
fn describe(m: &Message) -> String {
    match m {
        Message::Sync {
            document_id, data, ..
        }
        | Message::Request {
            document_id, data, ..
        } => match automerge::sync::Message::decode(data) {
            Ok(s) => format!(
                "{document_id} heads {:?} need {:?} have {} changes {}",
                s.heads,
                s.need,
                s.have.len(),
                s.changes.len()
            ),
            Err(e) => format!("{document_id} undecodable: {e}"),
        },
        other => format!("{other:?}"),
    }
}

#[derive(Clone, Debug)]
enum Op {
    NewTicket {
        replica: usize,
        grid: usize,
    },
    Event {
        replica: usize,
        pick: usize,
        choice: usize,
    },
    Comment {
        replica: usize,
        pick: usize,
    },
    Visit {
        replica: usize,
        grid: usize,
    },
    Connect {
        replica: usize,
    },
    Disconnect {
        replica: usize,
    },
    Poll {
        replica: usize,
    },
    /// Delivers up to `count` frames, each from a connection picked at random.
    Deliver {
        picks: Vec<usize>,
    },
}

fn op(n: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..n, 0..2usize).prop_map(|(replica, grid)| Op::NewTicket { replica, grid }),
        5 => (0..n, any::<usize>(), any::<usize>())
            .prop_map(|(replica, pick, choice)| Op::Event { replica, pick, choice }),
        2 => (0..n, any::<usize>()).prop_map(|(replica, pick)| Op::Comment { replica, pick }),
        1 => (0..n, 0..2usize).prop_map(|(replica, grid)| Op::Visit { replica, grid }),
        2 => (0..n).prop_map(|replica| Op::Connect { replica }),
        1 => (0..n).prop_map(|replica| Op::Disconnect { replica }),
        1 => (0..n).prop_map(|replica| Op::Poll { replica }),
        3 => prop::collection::vec(any::<usize>(), 1..30).prop_map(|picks| Op::Deliver { picks }),
    ]
}

/// What some device recorded; all of it must be on every replica at the end.
#[derive(Default)]
struct Recorded {
    tickets: BTreeSet<TicketId>,
    events: BTreeSet<(TicketId, EventId)>,
    comments: BTreeSet<(TicketId, EventId)>,
    visits: BTreeSet<VisitId>,
}

fn run(world: &mut World, ops: &[Op], rec: &mut Recorded, clock: &mut i64) {
    for op in ops {
        *clock += 60_000;
        let devices = world.devices();
        match *op {
            Op::NewTicket { replica, grid } => {
                let d = &devices[replica];
                if !matches!(d.identity().role, Role::Worker | Role::Supervisor) {
                    continue;
                }
                let t = NewTicket {
                    id: TicketId::random(),
                    grid: grids()[grid].clone(),
                    source: Source::Patrol,
                    kind: Kind::Component,
                    category: "0101".into(),
                    urgency: Urgency::Normal,
                    title: "路灯不亮".into(),
                    description: "3号楼前，晚上全黑".into(),
                    location: None,
                    resident: None,
                };
                rec.tickets.insert(d.report(&t, *clock).unwrap());
            }
            Op::Event {
                replica,
                pick,
                choice,
            } => {
                let d = &devices[replica];
                let tickets = d.tickets(None, Listing::All).unwrap();
                if tickets.is_empty() {
                    continue;
                }
                let s = &tickets[pick % tickets.len()];
                let me = &d.identity().user;
                let pending = d.ticket(s.id).unwrap().state.extension.is_some();
                let actions: Vec<Action> =
                    lifecycle::actions_for(Some(s.status), d.identity().role)
                        .into_iter()
                        .filter(|a| match a {
                            Action::Verified | Action::Rework => {
                                s.handled_by.as_deref() != Some(me)
                            }
                            // One extension request at a time, each decided once.
                            Action::ExtensionRequested => !pending,
                            Action::ExtensionApproved | Action::ExtensionRefused => pending,
                            _ => true,
                        })
                        .collect();
                if actions.is_empty() {
                    continue;
                }
                let action = actions[choice % actions.len()];
                let input = EventInput {
                    note: Some("说明".into()),
                    unit: Some(UNIT.into()),
                    rating: Some(Rating::Basic),
                    // An extension is asked for with the date it proposes.
                    due_at: (action == Action::ExtensionRequested)
                        .then_some(*clock + 3 * 86_400_000),
                    ..EventInput::default()
                };
                let t = match d.act(s.id, action, input, *clock) {
                    // Urging waits until a ticket is nearly due.
                    Err(DeviceError::NotNearlyDue { .. }) => continue,
                    done => done.unwrap(),
                };
                let last = t.events.last().unwrap().as_ref().unwrap();
                rec.events.insert((s.id, last.id));
            }
            Op::Comment { replica, pick } => {
                let d = &devices[replica];
                let tickets = d.tickets(None, Listing::All).unwrap();
                if tickets.is_empty() {
                    continue;
                }
                let id = tickets[pick % tickets.len()].id;
                rec.comments
                    .insert((id, d.comment(id, "已到现场，正在处理", *clock).unwrap()));
            }
            Op::Visit { replica, grid } => {
                let d = &devices[replica];
                let v = Visit {
                    id: VisitId::random(),
                    visit_type: VisitType::Household,
                    grid: grids()[grid].clone(),
                    household: Some("3-2-501".into()),
                    worker: d.identity().user.clone(),
                    started_at: *clock,
                    ended_at: Some(*clock + 600_000),
                    lat: Some(30.27),
                    lon: Some(120.15),
                    outcome: Outcome::Met,
                    notes: "独居老人，身体尚可".into(),
                    tickets: Vec::new(),
                    amends: None,
                };
                rec.visits.insert(d.add_visit(&v, "2026-11-23").unwrap());
            }
            Op::Connect { replica } => world.connect(replica),
            Op::Disconnect { replica } => world.disconnect(replica),
            Op::Poll { replica } => world.poll(replica),
            Op::Deliver { ref picks } => {
                for &pick in picks {
                    world.deliver(pick);
                }
            }
        }
    }
}

/// Everything a replica shows, for comparison across replicas.
fn state(d: &Device<Shared>) -> BTreeMap<DocumentId, String> {
    let mut out = BTreeMap::new();
    for doc_id in d.repo().store().documents().unwrap() {
        let doc = d.repo().load(&doc_id).unwrap().unwrap();
        let mut heads = doc.get_heads();
        heads.sort();
        let shown = match client_core::repo::summary_of(&doc_id, &doc) {
            Some(_) => {
                let t = d.ticket(TicketId::from_document_id(&doc_id)).unwrap();
                format!("{heads:?} {:?} {:?} {:?}", t.events, t.comments, t.state)
            }
            None => format!("{heads:?}"),
        };
        out.insert(doc_id, shown);
    }
    out
}

/// Everyone connects, announces what they edited and syncs until quiet.
fn settle(world: &mut World) {
    let n = world.replicas.len();
    for i in 0..n {
        world.connect(i);
    }
    for i in 0..n {
        world.poll(i);
    }
    world.run_until_quiescent();
}

fn check(world: &mut World, rec: &Recorded) -> Result<(), TestCaseError> {
    let devices = world.devices();
    let first = state(devices[0]);
    for d in &devices[1..] {
        prop_assert_eq!(&state(d), &first);
    }
    for d in &devices {
        let listed: BTreeSet<TicketId> = d
            .tickets(None, Listing::All)
            .unwrap()
            .iter()
            .map(|s| s.id)
            .collect();
        prop_assert_eq!(
            &listed,
            &rec.tickets,
            "the summary index lists every ticket"
        );
        for (ticket, event) in &rec.events {
            let t = d.ticket(*ticket).unwrap();
            prop_assert!(
                t.events.iter().flatten().any(|e| e.id == *event),
                "event lost"
            );
        }
        for (ticket, comment) in &rec.comments {
            let t = d.ticket(*ticket).unwrap();
            prop_assert!(t.comments.iter().any(|c| c.id == *comment), "comment lost");
        }
        let visits: BTreeSet<VisitId> = grids()
            .iter()
            .flat_map(|g| d.visits(g).unwrap())
            .map(|v| v.id)
            .collect();
        prop_assert_eq!(&visits, &rec.visits);
        // The summary index agrees with the folded documents.
        for s in d.tickets(None, Listing::All).unwrap() {
            let t = d.ticket(s.id).unwrap();
            prop_assert_eq!(s.status, t.status());
            prop_assert_eq!(s.conflicts as usize, t.state.conflicts.len());
        }
    }
    for r in &mut world.replicas {
        let (_, session) = r.session.as_mut().expect("connected");
        let report = session.report().unwrap();
        prop_assert!(
            report.pending.is_empty(),
            "unacknowledged: {:?}",
            report.pending
        );
        prop_assert_eq!(report.acknowledged, report.documents);
        prop_assert!(r.store.outbox().unwrap().is_empty());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge_through_the_relay_and_lose_nothing(
        n in 3..=5usize,
        heads_batch in any::<bool>(),
        ops in prop::collection::vec(op(5), 5..60),
    ) {
        let mut world = World::new(n, heads_batch);
        let ops: Vec<Op> = ops
            .into_iter()
            .map(|o| match o {
                Op::NewTicket { replica, grid } => Op::NewTicket { replica: replica % n, grid },
                Op::Event { replica, pick, choice } => Op::Event { replica: replica % n, pick, choice },
                Op::Comment { replica, pick } => Op::Comment { replica: replica % n, pick },
                Op::Visit { replica, grid } => Op::Visit { replica: replica % n, grid },
                Op::Connect { replica } => Op::Connect { replica: replica % n },
                Op::Disconnect { replica } => Op::Disconnect { replica: replica % n },
                Op::Poll { replica } => Op::Poll { replica: replica % n },
                deliver @ Op::Deliver { .. } => deliver,
            })
            .collect();
        let mut rec = Recorded::default();
        let mut clock = 1_763_900_000_000;
        run(&mut world, &ops, &mut rec, &mut clock);

        // Live: everyone connected, edits announced, until quiet.
        settle(&mut world);
        check(&mut world, &rec)?;

        // And again after everyone reconnects (the heads batch's path).
        for i in 0..n {
            world.disconnect(i);
        }
        settle(&mut world);
        check(&mut world, &rec)?;
        // The relay holds what every replica holds.
        let relay: BTreeSet<DocumentId> = world.relay.repo().store().documents().unwrap().into_iter().collect();
        let held: BTreeSet<DocumentId> = world.replicas[0].store.documents().unwrap().into_iter().collect();
        prop_assert_eq!(relay, held);
    }
}
