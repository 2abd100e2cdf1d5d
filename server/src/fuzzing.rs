//! What the fuzz targets in `fuzz/` (and the replay of their findings in
//! `server/tests/fuzz_replay.rs`) need of the relay, and nothing more: the
//! hub over memory with the relay's access policy in force, rounds
//! committed as the hub thread commits them. Not a stable API.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use client_core::ids::GridCode;
use client_core::model::lifecycle::Role;
use client_core::protocol::{Message, PeerId, PeerMetadata};
use client_core::store::{MemoryStore, Store};
use client_core::sync::{Effects, Hub, SyncError};

use crate::access::Policy;
use crate::auth::Principal;
use crate::registry::Scope;

/// The peers an [`Ingest`] knows, by user: a worker of `G-01`, a street
/// supervisor of `G-01` and `G-02`, a unit of both, and an admin.
pub const PEERS: [&str; 4] = ["wang", "zhou", "wuye", "root"];

/// A relay's hub and policy over a memory store, on a relay that requires
/// tokens, with every peer of [`PEERS`] joined.
#[derive(Debug)]
pub struct Ingest {
    hub: Hub<MemoryStore>,
    policy: Policy,
}

impl Default for Ingest {
    fn default() -> Self {
        Self::new()
    }
}

impl Ingest {
    pub fn new() -> Self {
        // No actor registered yet: an empty database in memory.
        let db = redb::Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .expect("an in-memory database opens");
        let policy =
            Policy::load(&db, Arc::new(AtomicBool::new(false))).expect("an empty database reads");
        let mut hub = Hub::new(MemoryStore::new(), PeerId::from("relay"), 64);
        hub.set_access(Box::new(policy.clone()));
        let mut ingest = Self { hub, policy };
        for user in PEERS {
            ingest.join(user);
        }
        ingest
    }

    /// (Re)joins `user`'s peer, as a new connection does.
    pub fn join(&mut self, user: &str) {
        let peer = PeerId::from(user);
        self.hub.disconnect(&peer);
        let meta = PeerMetadata {
            storage_id: Some(format!("{user}-storage").into()),
            is_ephemeral: Some(false),
            ..PeerMetadata::default()
        };
        self.hub.connect(peer.clone(), &meta);
        self.policy.bind(peer, Arc::new(principal(user)));
    }

    pub fn hub(&self) -> &Hub<MemoryStore> {
        &self.hub
    }

    /// One frame from `peer`, handled as the hub thread handles it: the
    /// hub's effects, then the commit of their batch with the actor
    /// registrations. Peers the hub closed are joined again. A storage
    /// error drops the document from memory, as the relay does.
    pub fn receive(&mut self, peer: &PeerId, message: Message) -> Result<Effects, SyncError> {
        let doc = match &message {
            Message::Sync { document_id, .. } | Message::Request { document_id, .. } => {
                Some(*document_id)
            }
            _ => None,
        };
        let mut fx = Effects::default();
        if let Err(e) = self.hub.receive(peer, message, &mut fx) {
            if let Some(doc) = doc {
                self.hub.forget(&doc);
            }
            return Err(e);
        }
        let mut batch = fx.batch.clone();
        self.policy.stage(&mut batch);
        let written = self.hub.repo().store().write(batch);
        self.policy.settle(written.is_ok());
        let closed: BTreeSet<String> = fx.close.iter().map(|(p, _)| p.to_string()).collect();
        for user in closed {
            self.join(&user);
        }
        Ok(fx)
    }
}

fn principal(user: &str) -> Principal {
    let g = |c: &str| GridCode::new(c).expect("a valid grid code");
    let (role, scope, grids) = match user {
        "wang" => (Role::Worker, Scope::Grids(vec![g("G-01")]), vec![g("G-01")]),
        "zhou" => (
            Role::Supervisor,
            Scope::Street("文三街道".into()),
            vec![g("G-01"), g("G-02")],
        ),
        "wuye" => (
            Role::Unit,
            Scope::Street("文三街道".into()),
            vec![g("G-01"), g("G-02")],
        ),
        _ => (Role::Admin, Scope::All, Vec::new()),
    };
    Principal {
        user: user.to_owned(),
        role,
        scope,
        grids: grids.into_iter().collect(),
        token_id: format!("{user}-token"),
        credential: crate::auth::Credential::Token {
            hash: format!("{user}-token-hash"),
        },
        generation: 0,
    }
}

/// What the `decode` fuzz target does with each input: any bytes decode
/// to a message or an error, never a panic, and whatever decodes
/// re-encodes to bytes that decode to the same message. (Compared as
/// bytes: an extension's fields may hold a NaN, which equals nothing.)
pub fn decode(data: &[u8]) {
    use client_core::protocol;
    use client_core::sync::{HEADS_MESSAGE, HEADS_REPLY};
    const EXTENSIONS: &[&str] = &[HEADS_MESSAGE, HEADS_REPLY];
    let _ = protocol::decode(data);
    if let Ok(message) = protocol::decode_with_extensions(data, EXTENSIONS) {
        let bytes = protocol::encode(&message);
        let again = protocol::decode_with_extensions(&bytes, EXTENSIONS)
            .expect("an encoded message decodes");
        assert_eq!(protocol::encode(&again), bytes, "encode/decode round trip");
    }
}

/// Keys GridSync documents use, for the program's `put`s.
const KEYS: &[&str] = &[
    "doc_type",
    "schema",
    "grid",
    "id",
    "title",
    "events",
    "comments",
    "state",
    "unit",
    "created_by",
    "actor",
    "role",
    "action",
    "at",
    "author",
    "text",
    "worker",
    "kind",
    "resident",
    "visit:1",
    "entry:1",
    "m",
    "status",
    "description",
];

/// Values GridSync documents hold, for the program's string `put`s.
const VALUES: &[&str] = &[
    "ticket",
    "grid_index",
    "visit_log",
    "G-01",
    "G-02",
    "G-03",
    "wang",
    "zhou",
    "wuye",
    "root",
    "worker",
    "supervisor",
    "unit",
    "admin",
    "reported",
    "accepted",
    "dispatched",
    "1.0",
    "99.0",
    "",
    "路灯",
];

/// Largest chain of nested maps one program step builds (its deepest map
/// becomes an object later steps can build on, so deeper chains take
/// several steps); keeps each run fast enough to fuzz.
const MAX_NEST: usize = 1024;

/// What an ingest program did, for tests that replay one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Frames the hub received.
    pub frames: usize,
    /// Frames it refused (an `error` frame and a close).
    pub refused: usize,
    /// Documents in the store at the end.
    pub stored: usize,
}

/// Runs `data` as an ingest program against a fresh [`Ingest`]: what the
/// `ingest` fuzz target does with each input. Panics only where the relay
/// would (or where it stored a change its policy refused).
///
/// The program is a byte string of steps, each an op byte (taken modulo
/// 13) and its operands (a missing operand reads as 0). There are four
/// document slots (a ticket id, the `G-01` and `G-02` index ids, another
/// id), each a document on the device side with the objects built in it.
///
/// | op | operands | step |
/// |---|---|---|
/// | 0 | user | act as `PEERS[user % 4]` |
/// | 1 | slot | work on slot `slot % 4` |
/// | 2 | obj, key, value | put `VALUES[value]` at `KEYS[key]` (or insert it in a list) |
/// | 3 | obj, key, hi, lo | put the integer `hi << 8 \| lo` |
/// | 4, 5 | obj, key | put a new map, a new list (in a list: insert a map) |
/// | 6 | obj, key | delete the key (in a list: the last element) |
/// | 7 | obj, key, value | put a text object holding `VALUES[value]` |
/// | 8 | obj, key, hi, lo | a chain of `2 × (hi << 8 \| lo)` (at most 1024) nested maps under `m`; the deepest becomes an object |
/// | 9, 10 | | sync the slot as the user (`sync`, `request`) until quiet |
/// | 11, 12 | len, bytes… | send `len` raw bytes as a sync message |
///
/// `obj` picks among the slot's objects built so far (the root first);
/// each edit is one change by the user's own actor id.
pub fn ingest(data: &[u8]) -> Outcome {
    use automerge::sync::SyncDoc as _;
    use automerge::transaction::Transactable as _;
    use automerge::{ActorId, AutoCommit, ObjId, ObjType, ROOT, ReadDoc as _, ScalarValue};

    struct Slot {
        id: client_core::ids::DocumentId,
        doc: AutoCommit,
        objs: Vec<(ObjId, ObjType)>,
        states: [automerge::sync::State; PEERS.len()],
    }

    let mut ingest = Ingest::new();
    let g = |c: &str| GridCode::new(c).expect("a valid grid code");
    // Random-form (UUIDv4) ids for the ticket and the other document, as
    // devices and automerge-repo make them: derived (v5) ids hold only
    // grid indexes and visit logs.
    let random_form = |fill: u8| {
        let mut bytes = [fill; 16];
        bytes[6] = 0x40 | (fill & 0x0f);
        bytes[8] = 0x80 | (fill & 0x3f);
        client_core::ids::DocumentId::from_bytes(bytes)
    };
    let ids = [
        random_form(0x11),
        g("G-01").index_document_id(),
        g("G-02").index_document_id(),
        random_form(0x22),
    ];
    let mut slots: Vec<Slot> = ids
        .into_iter()
        .map(|id| Slot {
            id,
            doc: AutoCommit::new(),
            objs: vec![(ROOT, ObjType::Map)],
            states: Default::default(),
        })
        .collect();
    let mut bytes = data.iter().copied();
    let mut next = move || bytes.next();
    let mut user = 0usize;
    let mut slot = 0usize;
    let relay = ingest.hub().me().clone();
    let mut outcome = Outcome::default();
    while let Some(op) = next() {
        let s = &mut slots[slot];
        let pick = |b: Option<u8>, n: usize| usize::from(b.unwrap_or(0)) % n;
        match op % 13 {
            0 => user = pick(next(), PEERS.len()),
            1 => slot = pick(next(), ids.len()),
            // Edits: on an object chosen among those built, by `user`'s actor.
            2..=8 => {
                s.doc.set_actor(ActorId::from([user as u8 + 1; 16]));
                let (obj, kind) = s.objs[pick(next(), s.objs.len())].clone();
                let key = KEYS[pick(next(), KEYS.len())];
                let index = s.doc.length(&obj);
                let made = match (op % 13, kind) {
                    (2, ObjType::Map) => s
                        .doc
                        .put(&obj, key, VALUES[pick(next(), VALUES.len())])
                        .map(|()| None),
                    (3, ObjType::Map) => {
                        let n =
                            i64::from(next().unwrap_or(0)) << 8 | i64::from(next().unwrap_or(0));
                        s.doc.put(&obj, key, ScalarValue::Int(n)).map(|()| None)
                    }
                    (4, ObjType::Map) => s
                        .doc
                        .put_object(&obj, key, ObjType::Map)
                        .map(|o| Some((o, ObjType::Map))),
                    (5, ObjType::Map) => s
                        .doc
                        .put_object(&obj, key, ObjType::List)
                        .map(|o| Some((o, ObjType::List))),
                    (6, ObjType::Map) => s.doc.delete(&obj, key).map(|()| None),
                    (7, ObjType::Map) => s.doc.put_object(&obj, key, ObjType::Text).and_then(|t| {
                        s.doc
                            .splice_text(&t, 0, 0, VALUES[pick(next(), VALUES.len())])
                            .map(|_| None)
                    }),
                    (2 | 3, ObjType::List) => s
                        .doc
                        .insert(&obj, index, VALUES[pick(next(), VALUES.len())])
                        .map(|()| None),
                    (4 | 5 | 7, ObjType::List) => s
                        .doc
                        .insert_object(&obj, index, ObjType::Map)
                        .map(|o| Some((o, ObjType::Map))),
                    (6, ObjType::List) if index > 0 => s.doc.delete(&obj, index - 1).map(|()| None),
                    (8, ObjType::Map | ObjType::List) => {
                        // A chain of nested maps, `n` deep.
                        let n = (usize::from(next().unwrap_or(0)) << 8
                            | usize::from(next().unwrap_or(0)))
                            * 2;
                        let mut at = obj.clone();
                        let mut result = Ok(None);
                        let n = n.min(MAX_NEST);
                        for i in 0..n {
                            let made = if i == 0 && kind == ObjType::List {
                                s.doc.insert_object(&at, index, ObjType::Map)
                            } else {
                                s.doc.put_object(&at, "m", ObjType::Map)
                            };
                            match made {
                                Ok(o) => at = o,
                                Err(e) => {
                                    result = Err(e);
                                    break;
                                }
                            }
                        }
                        if n > 0 && result.is_ok() {
                            result = Ok(Some((at, ObjType::Map)));
                        }
                        result
                    }
                    _ => Ok(None),
                };
                if let Ok(Some(obj)) = made
                    && s.objs.len() < 256
                {
                    s.objs.push(obj);
                }
                s.doc.commit();
            }
            // Sync the slot as `user` until the hub has nothing more to say.
            9 | 10 => {
                let peer = PeerId::from(PEERS[user]);
                for _ in 0..8 {
                    let Some(message) = s.doc.sync().generate_sync_message(&mut s.states[user])
                    else {
                        break;
                    };
                    let frame = if op % 13 == 9 {
                        Message::Sync {
                            sender_id: peer.clone(),
                            target_id: relay.clone(),
                            document_id: s.id,
                            data: message.encode(),
                        }
                    } else {
                        Message::Request {
                            sender_id: peer.clone(),
                            target_id: relay.clone(),
                            document_id: s.id,
                            data: message.encode(),
                        }
                    };
                    let Some(answers) = deliver(&mut ingest, &peer, s.id, frame, &mut outcome)
                    else {
                        s.states[user] = automerge::sync::State::new();
                        break;
                    };
                    let mut answered = false;
                    for (to, m) in answers {
                        if to != peer {
                            continue;
                        }
                        if let Message::Sync { data, .. } = m
                            && let Ok(reply) = automerge::sync::Message::decode(&data)
                        {
                            answered = true;
                            let _ = s
                                .doc
                                .sync()
                                .receive_sync_message(&mut s.states[user], reply);
                        }
                    }
                    if !answered {
                        break;
                    }
                }
            }
            // Raw bytes as a sync message.
            11 | 12 => {
                let len = pick(next(), 256);
                let raw: Vec<u8> = (0..len).map_while(|_| next()).collect();
                let peer = PeerId::from(PEERS[user]);
                let frame = Message::Sync {
                    sender_id: peer.clone(),
                    target_id: relay.clone(),
                    document_id: s.id,
                    data: raw,
                };
                if deliver(&mut ingest, &peer, s.id, frame, &mut outcome).is_none() {
                    s.states[user] = automerge::sync::State::new();
                }
            }
            _ => unreachable!("op % 13"),
        }
    }
    outcome.stored = ingest
        .hub()
        .repo()
        .store()
        .documents()
        .map_or(0, |d| d.len());
    outcome
}

/// Sends `frame` and checks the relay's promise: a refused change leaves
/// the stored heads as they were. `None` if the hub refused the frame or
/// closed the peer (it has joined again, with fresh sync states).
fn deliver(
    ingest: &mut Ingest,
    peer: &PeerId,
    doc: client_core::ids::DocumentId,
    frame: Message,
    outcome: &mut Outcome,
) -> Option<Vec<(PeerId, Message)>> {
    outcome.frames += 1;
    let before = ingest.hub().repo().store().heads(&doc).ok()?;
    let fx = ingest.receive(peer, frame).ok()?;
    if fx
        .send
        .iter()
        .any(|(p, m)| p == peer && matches!(m, Message::Error { .. }))
    {
        outcome.refused += 1;
    }
    let refused = fx
        .events
        .iter()
        .any(|e| matches!(e, client_core::sync::HubEvent::Refused { doc: d, .. } if *d == doc));
    if refused {
        let after = ingest.hub().repo().store().heads(&doc).ok()?;
        assert_eq!(before, after, "a refused change was stored");
    }
    if fx.close.iter().any(|(p, _)| p == peer) {
        return None;
    }
    Some(fx.send)
}
