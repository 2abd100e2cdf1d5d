//! Convergence as a property: several devices make random offline edits
//! (new tickets, lifecycle events, comments, visits), then merge with each
//! other in a random order with no network. Every replica must end with
//! identical documents and identical folded state, and nothing any device
//! recorded may be lost.

use std::collections::{BTreeMap, BTreeSet};

use automerge::Automerge;
use client_core::device::{Device, EventInput, Identity};
use client_core::ids::{DocumentId, EventId, GridCode, TicketId, VisitId};
use client_core::model::lifecycle::{self, Action, Rating, Role};
use client_core::model::ticket::{Kind, NewTicket, Source, Urgency};
use client_core::model::visit::{Outcome, Visit, VisitType};
use client_core::repo::RepoError;
use client_core::store::{Listing, MemoryStore, Store};
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

fn replica(i: usize) -> Device<MemoryStore> {
    let user = if ROLES[i] == Role::Unit {
        UNIT.to_owned()
    } else {
        format!("user-{i}")
    };
    Device::init(MemoryStore::new(), Identity::new(user, ROLES[i], grids())).unwrap()
}

/// Merges every document `from` holds into `to`.
fn merge_into(to: &Device<MemoryStore>, from: &Device<MemoryStore>) {
    for doc_id in from.repo().store().documents().unwrap() {
        let mut theirs = from.repo().load(&doc_id).unwrap().unwrap();
        to.repo()
            .apply(&doc_id, |ours: &mut Automerge| {
                ours.merge(&mut theirs).map(|_| ())
            })
            .map_err(|e: RepoError| e)
            .unwrap();
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
    Merge {
        to: usize,
        from: usize,
    },
}

fn op(n: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..n, 0..2usize).prop_map(|(replica, grid)| Op::NewTicket { replica, grid }),
        5 => (0..n, any::<usize>(), any::<usize>())
            .prop_map(|(replica, pick, choice)| Op::Event { replica, pick, choice }),
        2 => (0..n, any::<usize>()).prop_map(|(replica, pick)| Op::Comment { replica, pick }),
        1 => (0..n, 0..2usize).prop_map(|(replica, grid)| Op::Visit { replica, grid }),
        2 => (0..n, 0..n).prop_map(|(to, from)| Op::Merge { to, from }),
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

fn run(devices: &[Device<MemoryStore>], ops: &[Op], rec: &mut Recorded, clock: &mut i64) {
    for op in ops {
        *clock += 60_000;
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
                let actions: Vec<Action> =
                    lifecycle::actions_for(Some(s.status), d.identity().role)
                        .into_iter()
                        .filter(|a| {
                            !matches!(a, Action::Verified | Action::Rework)
                                || s.handled_by.as_deref() != Some(me)
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
                    ..EventInput::default()
                };
                let t = d.act(s.id, action, input, *clock).unwrap();
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
            Op::Merge { to, from } if to != from => merge_into(&devices[to], &devices[from]),
            Op::Merge { .. } => {}
        }
    }
}

/// Everything a replica shows, for comparison across replicas.
fn state(d: &Device<MemoryStore>) -> BTreeMap<DocumentId, String> {
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge_and_lose_nothing(
        n in 3..=5usize,
        ops in prop::collection::vec(op(5), 5..40),
        order in Just(()).prop_perturb(|_, mut rng| {
            let mut pairs: Vec<(usize, usize)> = (0..5).flat_map(|a| (0..5).map(move |b| (a, b))).collect();
            for i in (1..pairs.len()).rev() {
                pairs.swap(i, rng.random_range(0..=i));
            }
            pairs
        }),
    ) {
        let devices: Vec<_> = (0..n).map(replica).collect();
        let ops: Vec<Op> = ops
            .into_iter()
            .map(|o| match o {
                Op::NewTicket { replica, grid } => Op::NewTicket { replica: replica % n, grid },
                Op::Event { replica, pick, choice } => Op::Event { replica: replica % n, pick, choice },
                Op::Comment { replica, pick } => Op::Comment { replica: replica % n, pick },
                Op::Visit { replica, grid } => Op::Visit { replica: replica % n, grid },
                Op::Merge { to, from } => Op::Merge { to: to % n, from: from % n },
            })
            .collect();
        let mut rec = Recorded::default();
        let mut clock = 1_763_900_000_000;
        run(&devices, &ops, &mut rec, &mut clock);

        // Merge in a random order, then as many full rounds as it takes for
        // everything to reach everyone (n - 1 rounds of all pairs suffice).
        for &(to, from) in order.iter().filter(|(a, b)| *a < n && *b < n && a != b) {
            merge_into(&devices[to], &devices[from]);
        }
        for _ in 0..n {
            for to in 0..n {
                for from in 0..n {
                    if to != from {
                        merge_into(&devices[to], &devices[from]);
                    }
                }
            }
        }

        let first = state(&devices[0]);
        for d in &devices[1..] {
            prop_assert_eq!(&state(d), &first);
        }
        for d in &devices {
            let listed: BTreeSet<TicketId> = d.tickets(None, Listing::All).unwrap().iter().map(|s| s.id).collect();
            prop_assert_eq!(&listed, &rec.tickets, "the summary index lists every ticket");
            for (ticket, event) in &rec.events {
                let t = d.ticket(*ticket).unwrap();
                prop_assert!(t.events.iter().flatten().any(|e| e.id == *event), "event lost");
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
    }
}
