//! Concurrent lifecycle changes on two devices: one marks a ticket handled
//! while a supervisor closes it as a duplicate. After merging, every
//! replica folds the same status and reports the losing event as a
//! conflict; neither event is dropped.

use automerge::Automerge;
use client_core::device::{Device, EventInput, Identity};
use client_core::ids::{GridCode, TicketId};
use client_core::model::lifecycle::{Action, ConflictReason, Role, Status};
use client_core::model::ticket::{Kind, NewTicket, Source, Urgency};
use client_core::store::{MemoryStore, Store};

fn device(user: &str, role: Role) -> Device<MemoryStore> {
    let grid = GridCode::new("G-01").unwrap();
    Device::init(MemoryStore::new(), Identity::new(user, role, vec![grid])).unwrap()
}

fn merge_into(to: &Device<MemoryStore>, from: &Device<MemoryStore>) {
    for doc_id in from.repo().store().documents().unwrap() {
        let mut theirs = from.repo().load(&doc_id).unwrap().unwrap();
        to.repo()
            .apply(&doc_id, |ours: &mut Automerge| {
                ours.merge(&mut theirs).map(|_| ())
            })
            .unwrap();
    }
}

#[test]
fn handled_and_closed_as_duplicate_concurrently() {
    let sup = device("li-supervisor", Role::Supervisor);
    let unit = device("wuye", Role::Unit);
    let ticket = NewTicket {
        id: TicketId::random(),
        grid: GridCode::new("G-01").unwrap(),
        source: Source::Resident,
        kind: Kind::Event,
        category: "0203".into(),
        urgency: Urgency::Normal,
        title: "下水道堵塞".into(),
        description: String::new(),
        location: None,
        resident: None,
    };
    let id = sup.report(&ticket, 1).unwrap();
    sup.act(id, Action::Accepted, EventInput::default(), 2)
        .unwrap();
    let dispatch = EventInput {
        unit: Some("wuye".into()),
        ..EventInput::default()
    };
    sup.act(id, Action::Dispatched, dispatch, 3).unwrap();
    merge_into(&unit, &sup);
    unit.act(id, Action::Acknowledged, EventInput::default(), 4)
        .unwrap();
    unit.act(id, Action::InProgress, EventInput::default(), 5)
        .unwrap();
    merge_into(&sup, &unit);

    // Offline on both sides: the unit handles it, the supervisor closes it
    // as a duplicate of another ticket.
    unit.act(id, Action::Handled, EventInput::default(), 6)
        .unwrap();
    let other = TicketId::random();
    let dup = EventInput {
        duplicate_of: Some(other),
        ..EventInput::default()
    };
    sup.act(id, Action::Closed, dup, 7).unwrap();

    merge_into(&sup, &unit);
    merge_into(&unit, &sup);
    let a = sup.ticket(id).unwrap();
    let b = unit.ticket(id).unwrap();
    assert_eq!(a.state, b.state, "both replicas fold the same state");
    assert_eq!(a.events.len(), 7, "no event is dropped");
    assert!(matches!(a.status(), Status::Handled | Status::Closed));
    assert_eq!(a.state.conflicts.len(), 1);
    let conflict = &a.state.conflicts[0];
    assert!(matches!(
        conflict.reason,
        ConflictReason::Concurrent {
            expected: Some(Status::InProgress),
            ..
        }
    ));
    let losing = if a.status() == Status::Handled {
        Action::Closed
    } else {
        Action::Handled
    };
    assert_eq!(conflict.action, Some(losing));

    // The summary index reports the conflict to the supervisor's to-do list.
    let summary = sup
        .repo()
        .store()
        .summary(&id.document_id())
        .unwrap()
        .unwrap();
    assert_eq!(summary.conflicts, 1);
    let todo = sup.todo(8).unwrap();
    assert!(
        todo.iter()
            .any(|t| t.ticket.id == id && t.why == "conflict")
    );
}
