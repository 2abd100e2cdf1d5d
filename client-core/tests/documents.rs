//! Documents read back what was written, refuse newer schemas, and a
//! damaged stored document is an error rather than a panic or "missing".

use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT};
use client_core::device::{Device, DeviceError, Identity};
use client_core::ids::{GridCode, TicketId};
use client_core::model::lifecycle::{Role, Status};
use client_core::model::schema::SchemaError;
use client_core::model::ticket::{self, Kind, Location, NewTicket, Resident, Source, Urgency};
use client_core::model::ticket_private;
use client_core::repo::RepoError;
use client_core::store::{Batch, MemoryStore, Store};

fn new_ticket(grid: &str) -> NewTicket {
    NewTicket {
        id: TicketId::random(),
        grid: GridCode::new(grid).unwrap(),
        source: Source::Hotline,
        kind: Kind::Livelihood,
        category: "0502".into(),
        urgency: Urgency::Urgent,
        title: "楼道堆物，堵塞消防通道".into(),
        description: "5号楼2单元，\n纸箱、旧家具".into(),
        location: Some(Location {
            lat: 30.2741,
            lon: 120.1551,
            accuracy_m: Some(8.0),
            address: Some("西湖区文三路".into()),
        }),
        resident: Some(Resident {
            name: Some("张阿姨".into()),
            phone: Some("13800000000".into()),
        }),
    }
}

#[test]
fn a_ticket_reads_back_what_was_written() {
    let t = new_ticket("G-01");
    let mut doc = Automerge::new();
    doc.transact(|tx| ticket::create(tx, &t, "wang", Role::Worker, 42))
        .unwrap();
    // The contact goes to the ticket's private document.
    let mut private = Automerge::new();
    let resident = t.resident.clone().unwrap();
    private
        .transact(|tx| ticket_private::create(tx, t.id, &t.grid, "wang", &resident))
        .unwrap();
    let mut read = ticket::read(&doc, t.id).unwrap();
    assert_eq!(
        read.resident,
        Resident::default(),
        "no contact in the ticket"
    );
    read.fill_contact(&ticket_private::read(&private).unwrap());
    assert_eq!(read.title, t.title);
    assert_eq!(read.description, t.description);
    assert_eq!(read.location, t.location);
    assert_eq!(read.resident, t.resident.unwrap());
    assert_eq!(read.grid, Some(t.grid));
    assert_eq!(read.status(), Status::Reported);
    assert_eq!(read.created_at, Some(42));
    assert_eq!(read.events.len(), 1);
}

#[test]
fn a_newer_schema_major_is_refused_with_a_clear_error() {
    let t = new_ticket("G-01");
    let mut doc = Automerge::new();
    doc.transact(|tx| {
        ticket::create(tx, &t, "wang", Role::Worker, 1)?;
        tx.put(ROOT, "schema", "2.0")
    })
    .unwrap();
    let err = ticket::read(&doc, t.id).unwrap_err();
    assert!(matches!(err, SchemaError::NewerMajor { .. }));
    assert!(err.to_string().contains("upgrade gridsync"));

    // A newer minor version of the same major still reads.
    doc.transact(|tx| tx.put(ROOT, "schema", "1.7")).unwrap();
    assert!(ticket::read(&doc, t.id).is_ok());
}

#[test]
fn a_damaged_document_is_an_error_not_missing() {
    let device = Device::init(
        MemoryStore::new(),
        Identity::new("wang", Role::Worker, vec![GridCode::new("G-01").unwrap()]),
    )
    .unwrap();
    let t = new_ticket("G-01");
    let id = device.report(&t, 1).unwrap();
    let mut b = Batch::new();
    b.append_chunk(id.document_id(), b"not an automerge chunk".to_vec());
    device.repo().store().write(b).unwrap();
    let err = device.ticket(id).unwrap_err();
    assert!(
        matches!(err, DeviceError::Repo(RepoError::Load { .. })),
        "{err:?}"
    );
}

#[test]
fn reporting_the_same_ticket_twice_does_not_duplicate_it() {
    let device = Device::init(
        MemoryStore::new(),
        Identity::new("wang", Role::Worker, vec![GridCode::new("G-01").unwrap()]),
    )
    .unwrap();
    let t = new_ticket("G-01");
    device.report(&t, 1).unwrap();
    let before = device.repo().store().load(&t.id.document_id()).unwrap();
    device.report(&t, 2).unwrap();
    assert_eq!(
        device.repo().store().load(&t.id.document_id()).unwrap(),
        before
    );
    assert_eq!(device.ticket(t.id).unwrap().events.len(), 1);
}

#[test]
fn a_worker_cannot_report_in_another_grid_and_a_reviewer_writes_nothing() {
    let worker = Device::init(
        MemoryStore::new(),
        Identity::new("wang", Role::Worker, vec![GridCode::new("G-01").unwrap()]),
    )
    .unwrap();
    let err = worker.report(&new_ticket("G-99"), 1).unwrap_err();
    assert!(matches!(err, DeviceError::ForbiddenGrid { .. }), "{err:?}");
    let reviewer = Device::init(
        MemoryStore::new(),
        Identity::new("zhao", Role::Reviewer, vec![GridCode::new("G-01").unwrap()]),
    )
    .unwrap();
    let err = reviewer.report(&new_ticket("G-01"), 1).unwrap_err();
    assert!(
        matches!(err, DeviceError::ReadOnly(Role::Reviewer)),
        "{err:?}"
    );
}

#[test]
fn a_dispatch_deadline_counts_working_hours_across_national_day() {
    use client_core::device::{EventInput, default_due_at};
    use client_core::model::lifecycle::Action;
    // Wednesday 2026-09-30 10:00 +08:00: 6 working hours that day, then the
    // National Day holiday (Oct 1-7), Thu 8 and Fri 9 (7 h each), and the
    // make-up working Saturday Oct 10 supplies the last hour.
    let dispatched = chrono::DateTime::parse_from_rfc3339("2026-09-30T10:00:00+08:00")
        .unwrap()
        .timestamp_millis();
    let due = chrono::DateTime::parse_from_rfc3339("2026-10-10T10:00:00+08:00")
        .unwrap()
        .timestamp_millis();
    assert_eq!(default_due_at(dispatched, Urgency::Normal), due);

    let sup = Device::init(
        MemoryStore::new(),
        Identity::new("li", Role::Supervisor, vec![GridCode::new("G-01").unwrap()]),
    )
    .unwrap();
    let t = new_ticket("G-01");
    sup.report(&t, dispatched - 1000).unwrap();
    sup.act(
        t.id,
        Action::Accepted,
        EventInput::default(),
        dispatched - 500,
    )
    .unwrap();
    let unit = EventInput {
        unit: Some("幸福物业".into()),
        ..EventInput::default()
    };
    let after = sup.act(t.id, Action::Dispatched, unit, dispatched).unwrap();
    // `new_ticket` is urgent: one working day, 6 h on Sep 30 + 1 h on Oct 8.
    let urgent_due = chrono::DateTime::parse_from_rfc3339("2026-10-08T10:00:00+08:00")
        .unwrap()
        .timestamp_millis();
    assert_eq!(after.state.due_at, Some(urgent_due));
}
