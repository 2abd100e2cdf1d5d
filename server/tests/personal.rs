//! Residents' personal data, over real sockets: who receives a resident's
//! name and phone through sync.
//!
//! The bug that opened this file: a ticket document held `resident_name`
//! and `resident_phone`, so every reader of the ticket, handling units and
//! district reviewers included, received residents' names and phones
//! through sync (in the ticket's history, for good), while the export
//! withheld them unless an admin asked. Now the contact lives in the
//! ticket's private document, which the relay gives only to the grid's
//! supervisors, the reporter and admins, and the relay refuses any change
//! that writes a contact into a ticket.

mod support;

use std::sync::Arc;

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ROOT, ReadDoc};
use client_core::device::EventInput;
use client_core::ids::{DocumentId, TicketId};
use client_core::model::lifecycle::{Action, Role};
use client_core::model::schema::{self, DocType};
use client_core::model::ticket::{self, NewTicket, Resident};
use client_core::model::ticket_private;
use client_core::protocol::Message;
use client_core::repo::Repo;
use client_core::store::{MemoryStore, Store};
use server::audit::{AuditAction, AuditFilter};
use support::city::{City, code, config, identity, ticket_in};
use support::{SyncClient, TestServer};

const NAME: &str = "张阿姨";
const PHONE: &str = "13912345678";

fn with_contact(grid: &str, title: &str) -> NewTicket {
    NewTicket {
        resident: Some(Resident {
            name: Some(NAME.into()),
            phone: Some(PHONE.into()),
        }),
        ..ticket_in(grid, title)
    }
}

/// Every document in `store` whose history (any change, any value, not
/// only the current state) holds the resident's name or phone.
fn documents_with_contact(store: &Arc<MemoryStore>) -> Vec<DocumentId> {
    let repo = Repo::new(store.clone(), automerge::ActorId::random());
    let mut found = Vec::new();
    for id in store.documents().unwrap() {
        let doc = repo.load(&id).unwrap().unwrap();
        if holds_contact(&doc) {
            found.push(id);
        }
    }
    found
}

fn holds_contact(doc: &Automerge) -> bool {
    let bytes = doc.save_nocompress();
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    if contains(NAME) || contains(PHONE) {
        return true;
    }
    doc.get_changes(&[]).iter().any(|change| {
        change.decode().operations.iter().any(|op| {
            matches!(&op.key, automerge::legacy::Key::Map(k)
                if ticket_private::CONTACT_KEYS.contains(&k.as_str()))
        })
    })
}

/// Whether a frame from the relay carries the resident's name or phone (in
/// any change or document chunk of a sync message).
fn frame_holds_contact(frame: &Message) -> bool {
    let (Message::Sync { data, .. } | Message::Request { data, .. }) = frame else {
        return false;
    };
    let msg = automerge::sync::Message::decode(data).expect("the relay sends valid sync data");
    msg.changes.iter().any(|chunk| {
        if let Ok(change) = automerge::Change::from_bytes(chunk.to_vec()) {
            let mut doc = Automerge::new();
            // A lone change with missing dependencies is not applied:
            // look at its operations directly.
            let ops = change.decode().operations;
            let _ = doc.apply_changes([change]);
            ops.iter().any(|op| {
                matches!(&op.key, automerge::legacy::Key::Map(k)
                    if ticket_private::CONTACT_KEYS.contains(&k.as_str()))
                    || matches!(&op.action, automerge::legacy::OpType::Put(
                        automerge::ScalarValue::Str(v)) if v.contains(NAME) || v.contains(PHONE))
            }) || holds_contact(&doc)
        } else {
            Automerge::load(chunk).is_ok_and(|doc| holds_contact(&doc))
        }
    })
}

/// [`SyncClient::sync_all`], checking every frame the relay sends.
async fn sync_all_checking_frames(c: &mut SyncClient, who: &str) {
    let step = c.session.local_edits().unwrap();
    c.apply(step).await;
    loop {
        let progress = c.session.progress();
        if progress.done == progress.total {
            return;
        }
        let frame = c.recv().await;
        assert!(
            !frame_holds_contact(&frame),
            "{who} was sent the contact: {frame:?}"
        );
        let step = c.session.handle(vec![frame]).unwrap();
        c.apply(step).await;
    }
}

/// Wang reports a ticket with a resident's contact in G-01 and uploads
/// it; zhou accepts it and dispatches it to the unit `wuye`.
async fn reported_and_dispatched(city: &City) -> TicketId {
    let mut wang = city.join("wang", &["G-01"]).await;
    let id = wang
        .device
        .report(&with_contact("G-01", "楼道漏水"), 10)
        .unwrap();
    assert!(
        wang.device
            .repo()
            .ticket(id)
            .unwrap()
            .unwrap()
            .resident
            .name
            == Some(NAME.into()),
        "the reporter reads its own contact"
    );
    for doc in [
        id.document_id(),
        id.private_document_id(),
        code("G-01").index_document_id(),
    ] {
        wang.try_push(&doc).await.unwrap();
    }
    let ticket_doc = city
        .server
        .database()
        .load(&id.document_id())
        .unwrap()
        .unwrap();
    let ticket_doc = Automerge::load(&ticket_doc.concat()).unwrap();
    assert!(
        !holds_contact(&ticket_doc),
        "the ticket document holds no contact"
    );
    let mut zhou = city.join("zhou", &["G-01"]).await;
    assert!(zhou.fetch(&id.document_id()).await);
    zhou.device
        .act(id, Action::Accepted, EventInput::default(), 11)
        .unwrap();
    let dispatch = EventInput {
        unit: Some("wuye".into()),
        due_at: Some(2_000_000),
        ..EventInput::default()
    };
    zhou.device
        .act(id, Action::Dispatched, dispatch, 12)
        .unwrap();
    zhou.try_push(&id.document_id()).await.unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn units_and_reviewers_never_receive_a_residents_contact() {
    let city = City::start(config()).await;
    let id = reported_and_dispatched(&city).await;
    let private = id.private_document_id();

    // A unit the ticket is dispatched to, a reviewer of the district and
    // another worker of the grid sync everything they may read.
    for (user, what) in [
        ("wuye", "the unit the ticket is dispatched to"),
        ("zhao", "the district's reviewer"),
        ("liu", "another worker of the grid"),
    ] {
        let mut c = city.join(user, &["G-01"]).await;
        sync_all_checking_frames(&mut c, what).await;
        let ticket = c.device.ticket(id).unwrap();
        assert_eq!(ticket.title, "楼道漏水", "{what} holds the ticket");
        assert_eq!(ticket.resident, Resident::default(), "{what}");
        let leaked = documents_with_contact(c.device.repo().store());
        assert!(
            leaked.is_empty(),
            "{what} received the contact in {leaked:?}"
        );
        // Asking for the private document outright: as if it did not exist.
        assert!(!c.fetch(&private).await, "{what} may not read it");
        assert!(documents_with_contact(c.device.repo().store()).is_empty());
    }
    let denied = city.audit(&AuditFilter {
        user: Some("wuye".into()),
        doc: Some(private.to_string()),
        ..AuditFilter::default()
    });
    assert!(
        denied.iter().any(|r| r.action == AuditAction::Denied),
        "{denied:?}"
    );

    // The grid's supervisor and the reporter's other device do receive it.
    for (user, what) in [
        ("chen", "the community's supervisor"),
        ("wang", "the reporter, on a fresh device"),
    ] {
        let mut c = city.join(user, &["G-01"]).await;
        c.sync_all().await;
        assert!(
            c.session.in_sync(&private),
            "{what} synced the private document"
        );
        let ticket = c.device.ticket(id).unwrap();
        assert_eq!(ticket.resident.name.as_deref(), Some(NAME), "{what}");
        assert_eq!(ticket.resident.phone.as_deref(), Some(PHONE), "{what}");
    }
    // A worker of another grid does not.
    assert!(!city.reads("li", private).await, "a worker of another grid");

    // A device that asks for a private document it may not read (one that
    // believes its user a supervisor) is told it is unavailable, and its
    // sync completes all the same.
    let believer = client_core::device::Identity::new("liu", Role::Supervisor, vec![code("G-01")]);
    let mut liu = SyncClient::join_as(&city.server, believer, Some(&city.tokens["liu"])).await;
    liu.sync_all().await;
    assert!(liu.session.unavailable(&private));
    let report = liu.session.report().unwrap();
    assert_eq!(report.acknowledged, report.documents, "{report:?}");
    assert!(report.pending.is_empty(), "{report:?}");
    assert!(documents_with_contact(liu.device.repo().store()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_records_api_shows_a_contact_only_to_those_who_may_read_it() {
    let city = City::start(config()).await;
    let id = reported_and_dispatched(&city).await;
    let path = format!("/api/tickets/{id}");
    let resident = |user: &'static str| {
        let (city, path) = (&city, &path);
        async move {
            let token = &city.tokens[user];
            let (status, body) =
                support::get_from(city.server.addr, path, Some(token), support::LOCALHOST).await;
            assert_eq!(status, 200, "{user}: {body}");
            let detail: serde_json::Value = serde_json::from_str(&body).unwrap();
            detail["ticket"].get("resident").cloned()
        }
    };
    for user in ["wuye", "zhao", "liu"] {
        assert_eq!(resident(user).await, None, "{user} may not see the contact");
    }
    for user in ["chen", "wang", "root"] {
        let r = resident(user)
            .await
            .unwrap_or_else(|| panic!("{user} sees it"));
        assert_eq!(r["name"], NAME, "{user}");
        assert_eq!(r["phone"], PHONE, "{user}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_writing_a_residents_contact_into_a_ticket_is_refused() {
    let city = City::start(config()).await;
    // Into a stored ticket.
    let mut wang = city.join("wang", &["G-01"]).await;
    let id = wang
        .device
        .report(&ticket_in("G-01", "路面塌陷"), 5)
        .unwrap();
    wang.try_push(&id.document_id()).await.unwrap();
    wang.device
        .repo()
        .change(&id.document_id(), |tx| {
            tx.put(ROOT, "resident_phone", PHONE)
        })
        .unwrap();
    let why = wang.try_push(&id.document_id()).await.unwrap_err();
    assert!(
        why.contains("cannot hold a resident's contact (`resident_phone`)"),
        "{why}"
    );
    let stored = city
        .server
        .database()
        .load(&id.document_id())
        .unwrap()
        .unwrap();
    let stored = Automerge::load(&stored.concat()).unwrap();
    assert!(!holds_contact(&stored), "the change is not stored");
    let refused = city.audit(&AuditFilter {
        user: Some("wang".into()),
        doc: Some(id.document_id().to_string()),
        ..AuditFilter::default()
    });
    assert!(
        refused.iter().any(|r| r.action == AuditAction::Refused
            && r.reason.as_deref().is_some_and(|r| r.contains("resident"))),
        "{refused:?}"
    );

    // In a new ticket's first change, as a scalar or as a JS text.
    for as_text in [false, true] {
        let mut wang = city.join("wang", &["G-01"]).await;
        let t = ticket_in("G-01", "旧版本上报");
        wang.device
            .repo()
            .change(&t.id.document_id(), |tx| {
                ticket::create(tx, &t, "wang", Role::Worker, 6)?;
                if as_text {
                    let text = tx.put_object(ROOT, "resident_name", ObjType::Text)?;
                    tx.splice_text(&text, 0, 0, NAME)
                } else {
                    tx.put(ROOT, "resident_name", NAME)
                }
            })
            .unwrap();
        let why = wang.try_push(&t.id.document_id()).await.unwrap_err();
        assert!(why.contains("`resident_name`"), "{why}");
        assert!(
            city.server
                .database()
                .load(&t.id.document_id())
                .unwrap()
                .is_none(),
            "nothing of the new ticket is stored"
        );
    }
}

// An open relay (no users yet) used to check no write at all, so an old
// gridsync, a plain JS client or a hand-made document could store a ticket
// with the contact in its history; the one-time migration had already run
// at the first start, so once the relay had users, units and reviewers
// received it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_written_into_a_ticket_on_an_open_relay_never_reaches_units_or_reviewers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.redb");
    let open = TestServer::start(&path, config()).await;
    // An up-to-date device reports with a contact: it goes to the private
    // document, and both sync.
    let mut wang = SyncClient::join(&open, "wang", Role::Worker).await;
    let id = wang
        .device
        .report(&with_contact("G-01", "楼道漏水"), 10)
        .unwrap();
    wang.sync_all().await;
    assert!(
        open.database()
            .load(&id.private_document_id())
            .unwrap()
            .is_some()
    );

    // An old client writes the contact into a new ticket, and into the
    // stored one: both refused, nothing of them stored.
    let old = ticket_in("G-01", "旧版本上报");
    let mut mallory = SyncClient::join(&open, "mallory", Role::Worker).await;
    mallory
        .device
        .repo()
        .change(&old.id.document_id(), |tx| {
            ticket::create(tx, &old, "mallory", Role::Worker, 11)?;
            tx.put(ROOT, "resident_name", NAME)
        })
        .unwrap();
    let why = mallory.try_push(&old.id.document_id()).await.unwrap_err();
    assert!(
        why.contains("cannot hold a resident's contact (`resident_name`)"),
        "{why}"
    );
    assert!(
        open.database()
            .load(&old.id.document_id())
            .unwrap()
            .is_none()
    );
    let mut mallory = SyncClient::join(&open, "mallory", Role::Worker).await;
    assert!(mallory.fetch(&id.document_id()).await);
    mallory
        .device
        .repo()
        .change(&id.document_id(), |tx| {
            tx.put(ROOT, "resident_phone", PHONE)
        })
        .unwrap();
    let why = mallory.try_push(&id.document_id()).await.unwrap_err();
    assert!(why.contains("(`resident_phone`)"), "{why}");
    let refused = server::audit::query(
        &open.database().database(),
        &AuditFilter {
            doc: Some(id.document_id().to_string()),
            ..AuditFilter::default()
        },
    )
    .unwrap();
    assert!(
        refused.iter().any(|r| r.action == AuditAction::Refused
            && r.reason.as_deref().is_some_and(|r| r.contains("resident"))),
        "{refused:?}"
    );
    // Meanwhile the reporter's device keeps syncing.
    wang.device.comment(id, "已联系住户", 12).unwrap();
    wang.sync_all().await;
    open.stop().await.unwrap();

    // The relay gets its users; the ticket is dispatched to `wuye`.
    let tokens = support::city::registry(&path);
    let server = TestServer::start(&path, config()).await;
    let join = |user: &'static str| {
        SyncClient::join_as(&server, identity(user, &["G-01"]), Some(&tokens[user]))
    };
    let mut zhou = join("zhou").await;
    assert!(zhou.fetch(&id.document_id()).await);
    zhou.device
        .act(id, Action::Accepted, EventInput::default(), 13)
        .unwrap();
    let dispatch = EventInput {
        unit: Some("wuye".into()),
        due_at: Some(2_000_000),
        ..EventInput::default()
    };
    zhou.device
        .act(id, Action::Dispatched, dispatch, 14)
        .unwrap();
    zhou.try_push(&id.document_id()).await.unwrap();
    for (user, what) in [("wuye", "the unit"), ("zhao", "the district's reviewer")] {
        let mut c = join(user).await;
        sync_all_checking_frames(&mut c, what).await;
        let ticket = c.device.ticket(id).unwrap();
        assert_eq!(ticket.comments.len(), 1, "{what} holds the ticket");
        let leaked = documents_with_contact(c.device.repo().store());
        assert!(
            leaked.is_empty(),
            "{what} received the contact in {leaked:?}"
        );
    }
    // The reporter still reads it.
    let mut wang = join("wang").await;
    wang.sync_all().await;
    assert_eq!(
        wang.device.ticket(id).unwrap().resident.phone.as_deref(),
        Some(PHONE)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_document_is_written_only_by_its_reporter_supervisors_and_admins() {
    let city = City::start(config()).await;
    let id = reported_and_dispatched(&city).await;
    let private = id.private_document_id();
    let grid = code("G-01");

    // The grid's supervisor corrects the phone number.
    let mut chen = city.join("chen", &["G-01"]).await;
    assert!(chen.fetch(&private).await);
    chen.device
        .repo()
        .change(&private, |tx| {
            ticket_private::set_contact(
                tx,
                &Resident {
                    name: None,
                    phone: Some("13900000001".into()),
                },
            )
        })
        .unwrap();
    chen.try_push(&private).await.unwrap();
    // …but may not delete it, or add anything else.
    chen.device
        .repo()
        .change(&private, |tx| tx.delete(ROOT, "resident_name"))
        .unwrap();
    let why = chen.try_push(&private).await.unwrap_err();
    assert!(why.contains("`resident_name` cannot be deleted"), "{why}");
    let mut chen = city.join("chen", &["G-01"]).await;
    assert!(chen.fetch(&private).await);
    chen.device
        .repo()
        .change(&private, |tx| tx.put(ROOT, "note", "x"))
        .unwrap();
    let why = chen.try_push(&private).await.unwrap_err();
    assert!(why.contains("`note` cannot be added"), "{why}");

    // Another worker, a unit and a reviewer write their own copy at its id:
    // the relay answers as if it did not exist, and takes nothing.
    let theirs = Resident {
        name: Some("冒充".into()),
        phone: None,
    };
    for user in ["liu", "wuye", "zhao"] {
        let mut c = city.join(user, &["G-01"]).await;
        c.device
            .repo()
            .change(&private, |tx| {
                ticket_private::create(tx, id, &grid, user, &theirs)
            })
            .unwrap();
        assert!(!c.fetch(&private).await, "{user}");
    }
    // Nor may they start one for a ticket the relay does not hold.
    let unknown = TicketId::random();
    for (user, reporter, expected) in [
        ("liu", "wang", "only the reporter (`wang`)"),
        ("wuye", "wuye", "units do not create"),
        ("zhao", "zhao", "reviewers read and export"),
    ] {
        let mut c = city.join(user, &["G-01"]).await;
        c.device
            .repo()
            .change(&unknown.private_document_id(), |tx| {
                ticket_private::create(tx, unknown, &grid, reporter, &theirs)
            })
            .unwrap();
        let why = c
            .try_push(&unknown.private_document_id())
            .await
            .unwrap_err();
        assert!(why.contains(expected), "{user}: {why}");
    }

    // A new private document must name the ticket's reporter.
    let other = city.t1; // reported by wang, with no contact
    let mut liu = city.join("liu", &["G-01"]).await;
    liu.device
        .repo()
        .change(&other.private_document_id(), |tx| {
            ticket_private::create(tx, other, &grid, "liu", &theirs)
        })
        .unwrap();
    let why = liu
        .try_push(&other.private_document_id())
        .await
        .unwrap_err();
    assert!(why.contains("must name its reporter `wang`"), "{why}");
    // It sits at its own ticket's id, and nothing else sits there.
    let mut wang = city.join("wang", &["G-01"]).await;
    let elsewhere = TicketId::random();
    wang.device
        .repo()
        .change(&elsewhere.private_document_id(), |tx| {
            ticket_private::create(tx, other, &grid, "wang", &theirs)
        })
        .unwrap();
    let why = wang
        .try_push(&elsewhere.private_document_id())
        .await
        .unwrap_err();
    assert!(
        why.contains("is not the private document of ticket"),
        "{why}"
    );
    let mut wang = city.join("wang", &["G-01"]).await;
    let squat = TicketId::random().private_document_id();
    wang.device
        .repo()
        .change(&squat, |tx| {
            schema::write_header(tx, DocType::Ticket)?;
            tx.put(ROOT, "grid", "G-01")
        })
        .unwrap();
    let why = wang.try_push(&squat).await.unwrap_err();
    assert!(why.contains("a ticket cannot be stored there"), "{why}");

    // What the relay holds is the reporter's contact, as chen corrected it.
    let mut root = city.join("root", &[]).await;
    assert!(root.fetch(&private).await);
    let doc = root.device.repo().load(&private).unwrap().unwrap();
    let stored = ticket_private::read(&doc).unwrap();
    assert_eq!(stored.created_by, "wang");
    assert_eq!(stored.resident.name.as_deref(), Some(NAME));
    assert_eq!(stored.resident.phone.as_deref(), Some("13900000001"));
    assert_eq!(doc.keys(ROOT).count(), ticket_private::KEYS.len());
}

/// A ticket as written before private documents: the contact on the
/// ticket itself, so every reader received it in the history.
fn legacy_ticket(t: &NewTicket, reporter: &str) -> Automerge {
    let mut doc = Automerge::new();
    doc.transact(|tx| {
        ticket::create(tx, t, reporter, Role::Worker, 20)?;
        tx.put(ROOT, "resident_name", NAME)?;
        tx.put(ROOT, "resident_phone", PHONE)
    })
    .unwrap();
    doc
}

/// Merges `doc` into what `store` holds at `id` (summary and heads too).
fn store_merge(store: &impl Store, id: DocumentId, doc: &Automerge) {
    let repo = Repo::new(store, automerge::ActorId::random());
    repo.apply(&id, |held| held.merge(&mut doc.clone()))
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_with_contacts_in_their_history_are_rewritten_and_devices_follow() {
    // A relay that stored two tickets the old way (G-01 and G-02), listed
    // in their grid indexes.
    let legacy = ticket_in("G-01", "老旧小区漏水");
    let other = ticket_in("G-02", "楼道堆物");
    let legacy_doc = legacy_ticket(&legacy, "wang");
    let other_doc = legacy_ticket(&other, "li");
    let index_of = |t: &NewTicket| {
        let mut index = Automerge::new();
        index
            .transact(|tx| {
                client_core::model::grid_index::init(tx, &t.grid)?;
                client_core::model::grid_index::add_ticket(tx, t.id)
            })
            .unwrap();
        index
    };
    let (index1, index2) = (index_of(&legacy), index_of(&other));
    let city = City::start_with(config(), |path| {
        let store = client_core::store::RedbStore::open(path).unwrap();
        store_merge(&store, legacy.id.document_id(), &legacy_doc);
        store_merge(&store, other.id.document_id(), &other_doc);
        store_merge(&store, legacy.grid.index_document_id(), &index1);
        store_merge(&store, other.grid.index_document_id(), &index2);
    })
    .await;
    let stored = |t: TicketId| {
        let d = city
            .server
            .database()
            .load(&t.document_id())
            .unwrap()
            .unwrap();
        Automerge::load(&d.concat()).unwrap()
    };
    // The relay migrated them at start: no contact anywhere in the history,
    // every entry kept, the contact in the private document.
    for t in [legacy.id, other.id] {
        let doc = stored(t);
        assert!(!holds_contact(&doc), "{t} still holds a contact");
        let read = ticket::read(&doc, t).unwrap();
        assert_eq!(read.events.len(), 1);
        assert_eq!(read.created_by, if t == legacy.id { "wang" } else { "li" });
        let private = city
            .server
            .database()
            .load(&t.private_document_id())
            .unwrap()
            .expect("a private document");
        let private = ticket_private::read(&Automerge::load(&private.concat()).unwrap()).unwrap();
        assert_eq!(private.resident.phone.as_deref(), Some(PHONE));
        assert_eq!(private.created_by, read.created_by);
    }

    // zhou's device held the old history and accepted the ticket offline.
    let mut zhou = city.join("zhou", &["G-01"]).await;
    store_merge(
        zhou.device.repo().store(),
        legacy.id.document_id(),
        &legacy_doc,
    );
    store_merge(
        zhou.device.repo().store(),
        legacy.grid.index_document_id(),
        &index1,
    );
    zhou.device
        .act(legacy.id, Action::Accepted, EventInput::default(), 30)
        .unwrap();
    let accepted = zhou.device.ticket(legacy.id).unwrap().events[1]
        .as_ref()
        .unwrap()
        .id;
    zhou.sync_all().await;
    let held = zhou
        .device
        .repo()
        .load(&legacy.id.document_id())
        .unwrap()
        .unwrap();
    assert!(!holds_contact(&held), "zhou's copy is the new history");
    let t = zhou.device.ticket(legacy.id).unwrap();
    assert_eq!(t.status(), client_core::model::lifecycle::Status::Accepted);
    assert!(t.state.conflicts.is_empty(), "{:?}", t.state.conflicts);
    assert_eq!(
        t.resident.phone.as_deref(),
        Some(PHONE),
        "from the private document"
    );
    assert!(zhou.session.in_sync(&legacy.id.document_id()));
    let relay_copy = ticket::read(&stored(legacy.id), legacy.id).unwrap();
    assert_eq!(
        relay_copy.events[1].as_ref().unwrap().id,
        accepted,
        "the offline event reached the relay, once"
    );
    assert_eq!(relay_copy.events.len(), 2);
    // zhou dispatches it to the unit.
    let dispatch = EventInput {
        unit: Some("wuye".into()),
        due_at: Some(2_000_000),
        ..EventInput::default()
    };
    zhou.device
        .act(legacy.id, Action::Dispatched, dispatch, 31)
        .unwrap();
    zhou.try_push(&legacy.id.document_id()).await.unwrap();

    // A unit and a reviewer that sync now receive no contact anywhere.
    for user in ["wuye", "zhao"] {
        let mut c = city.join(user, &["G-01"]).await;
        sync_all_checking_frames(&mut c, user).await;
        assert_eq!(c.device.ticket(legacy.id).unwrap().title, "老旧小区漏水");
        let leaked = documents_with_contact(c.device.repo().store());
        assert!(
            leaked.is_empty(),
            "{user} received the contact in {leaked:?}"
        );
    }
    // The supervisor still sees it.
    let mut chen = city.join("chen", &["G-01"]).await;
    chen.sync_all().await;
    assert_eq!(
        chen.device
            .ticket(legacy.id)
            .unwrap()
            .resident
            .name
            .as_deref(),
        Some(NAME)
    );

    // A client that pushes the retired history (as a JS client holding
    // its old copy would) is refused with the reason.
    let mut old = city.join("wang", &["G-01"]).await;
    store_merge(
        old.device.repo().store(),
        legacy.id.document_id(),
        &legacy_doc,
    );
    let why = old.try_push(&legacy.id.document_id()).await.unwrap_err();
    assert!(
        why.contains("retired history of a document the relay rewrote"),
        "{why}"
    );
    assert!(
        !holds_contact(&stored(legacy.id)),
        "nothing of it is stored"
    );
    // Starting again migrates nothing more.
    for mut c in [zhou, chen, old] {
        c.close().await;
    }
    let city = city.restart(|_| {}).await;
    assert!(!holds_contact(&stored_at(&city, legacy.id)));
}

fn stored_at(city: &City, t: TicketId) -> Automerge {
    let d = city
        .server
        .database()
        .load(&t.document_id())
        .unwrap()
        .unwrap();
    Automerge::load(&d.concat()).unwrap()
}

/// The frame check above sees a contact when one is sent (so its silence
/// in the tests above means something).
#[test]
fn the_frame_check_sees_a_contact_in_a_sync_message() {
    use automerge::sync::{State, SyncDoc};
    let relay_doc = legacy_ticket(&ticket_in("G-01", "x"), "wang");
    let (mut relay_state, mut device_state) = (State::new(), State::new());
    let device_doc = Automerge::new();
    let ask = device_doc.generate_sync_message(&mut device_state).unwrap();
    let mut relay_doc = relay_doc;
    relay_doc
        .receive_sync_message(&mut relay_state, ask)
        .unwrap();
    let answer = relay_doc.generate_sync_message(&mut relay_state).unwrap();
    let frame = Message::Sync {
        sender_id: "relay".into(),
        target_id: "device".into(),
        document_id: DocumentId::random(),
        data: answer.encode(),
    };
    assert!(frame_holds_contact(&frame));
}
