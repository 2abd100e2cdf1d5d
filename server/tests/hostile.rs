//! Hostile documents, over real sockets: what a client writes can neither
//! crash the relay nor rewrite what was recorded.
//!
//! The bug that opened this file: one `sync` message of about 200 KB, for
//! a new document claiming to be a ticket and holding a chain of 100,000
//! nested maps, aborted the whole relay (`thread 'gridsync-hub' has
//! overflowed its stack`): the access check and the ticket summary read the
//! document with Automerge's recursive `hydrate`. It did so on an open
//! relay from anyone, and on a relay with users from any worker in its own
//! grid.

mod support;

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc};
use client_core::device::EventInput;
use client_core::ids::{DocumentId, TicketId};
use client_core::model::lifecycle::{Action, Role, Status};
use client_core::model::schema::{self, DocType};
use client_core::store::Store;
use server::Config;
use server::audit::{AuditAction, AuditFilter};
use support::city::{City, code, config};
use support::{Fixture, SyncClient};

/// Writes, as `user`'s device, a ticket of grid G-01 whose root also holds
/// `levels` nested maps.
fn deep_ticket(client: &SyncClient, user: &str, levels: usize) -> DocumentId {
    let doc = TicketId::random().document_id();
    client
        .device
        .repo()
        .change(&doc, |tx| {
            schema::write_header(tx, DocType::Ticket)?;
            tx.put(ROOT, "grid", "G-01")?;
            tx.put(ROOT, "created_by", user)?;
            tx.put(ROOT, "title", "路灯不亮")?;
            let mut obj = ROOT;
            for _ in 0..levels {
                obj = tx.put_object(&obj, "x", ObjType::Map)?;
            }
            Ok(())
        })
        .unwrap();
    doc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_relay_refuses_a_ticket_nesting_a_hundred_thousand_maps_and_keeps_serving() {
    let fixture = Fixture::start(Config::default()).await;
    let mut mallory = SyncClient::join(&fixture.server, "mallory", Role::Worker).await;
    let doc = deep_ticket(&mallory, "mallory", 100_000);
    let why = mallory.try_push(&doc).await.unwrap_err();
    assert!(
        why.contains(&format!("refused changes to {doc}")) && why.contains("at most 100000"),
        "{why}"
    );
    assert!(
        fixture.server.database().load(&doc).unwrap().is_none(),
        "nothing of the refused document is stored"
    );
    fixture.assert_still_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_cannot_crash_the_relay_with_a_deep_ticket_in_its_own_grid() {
    let city = City::start(config()).await;
    let mut wang = city.join("wang", &["G-01"]).await;
    // Under the limit on operations per change: the depth is what counts.
    let doc = deep_ticket(&wang, "wang", 50_000);
    let why = wang.try_push(&doc).await.unwrap_err();
    assert!(why.contains("nests objects deeper than 16 levels"), "{why}");
    assert!(city.server.database().load(&doc).unwrap().is_none());
    let refused = city.audit(&AuditFilter {
        user: Some("wang".into()),
        doc: Some(doc.to_string()),
        ..AuditFilter::default()
    });
    assert!(
        refused.iter().any(|r| r.action == AuditAction::Refused
            && r.reason.as_deref().is_some_and(|r| r.contains("deeper"))),
        "{refused:?}"
    );
    // Meanwhile a well-behaved device keeps syncing.
    assert!(city.reads("chen", city.t1.document_id()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_as_deep_as_the_limit_allows_is_stored() {
    let city = City::start(config()).await;
    let mut wang = city.join("wang", &["G-01"]).await;
    let doc = deep_ticket(&wang, "wang", 16);
    wang.try_push(&doc).await.unwrap();
    assert!(city.server.database().load(&doc).unwrap().is_some());
}

// History is evidence: events and comments are append-only and immutable
// across the whole history. Before, only new entries were checked (their
// actor had to be the sender), so a later change could edit, delete or
// duplicate an old one: a unit could rewrite who handled a ticket, or a
// worker who reported it.

/// Edits, as `client`'s device, field `key` of the `index`-th map in the
/// ticket's list `list`.
fn edit_entry(client: &SyncClient, t: TicketId, list: &str, index: usize, key: &str, value: &str) {
    client
        .device
        .repo()
        .change(&t.document_id(), |tx| {
            let (_, entries) = tx.get(ROOT, list)?.expect("the list");
            let (_, entry) = tx.get(&entries, index)?.expect("the entry");
            tx.put(&entry, key, value)
        })
        .unwrap();
}

/// The ticket `t1`, dispatched to `wuye`, moved on by `wuye` to handled
/// (events: reported, accepted, dispatched, acknowledged, in_progress,
/// handled).
async fn handled_by_wuye(city: &City) -> SyncClient {
    let mut wuye = city.join("wuye", &["G-01"]).await;
    assert!(wuye.fetch(&city.t1.document_id()).await);
    for action in [Action::Acknowledged, Action::InProgress, Action::Handled] {
        wuye.device
            .act(city.t1, action, EventInput::default(), 10)
            .unwrap();
    }
    wuye.try_push(&city.t1.document_id()).await.unwrap();
    wuye
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewriting_an_old_events_actor_or_role_is_refused() {
    let city = City::start(config()).await;
    let mut wuye = handled_by_wuye(&city).await;
    // The unit claims someone else handled it, so that it could verify.
    edit_entry(&wuye, city.t1, "events", 5, "actor", "liu");
    let why = wuye.try_push(&city.t1.document_id()).await.unwrap_err();
    assert!(why.contains("was edited"), "{why}");
    assert!(why.contains("recorded history is evidence"), "{why}");

    let mut wuye = city.join("wuye", &["G-01"]).await;
    assert!(wuye.fetch(&city.t1.document_id()).await);
    edit_entry(&wuye, city.t1, "events", 2, "role", "worker");
    let why = wuye.try_push(&city.t1.document_id()).await.unwrap_err();
    assert!(why.contains("was edited"), "{why}");

    // The relay still holds the ticket as it was recorded.
    let mut chen = city.join("chen", &["G-01"]).await;
    assert!(chen.fetch(&city.t1.document_id()).await);
    let t1 = chen.device.ticket(city.t1).unwrap();
    assert_eq!(t1.state.handled_by.as_deref(), Some("wuye"));
    assert_eq!(t1.status(), Status::Handled);
}

// A change that also breaks the ticket's type used to skip every check
// above: the relay placed the result by its `doc_type` and schema, found
// no GridSync type, and stored it as an untyped document, so the unit's
// rewrite of who handled the ticket went through (and every device then
// read the ticket as "upgrade gridsync").

/// `wuye` rewrites the actor of `t1`'s handled event and, in the same
/// change, does `retype`; the relay refuses it (naming `expected`), audits
/// it and keeps the ticket as recorded.
async fn rewrite_with_retype(
    retype: impl FnOnce(
        &mut automerge::transaction::Transaction<'_>,
    ) -> Result<(), automerge::AutomergeError>,
    expected: &str,
) {
    let city = City::start(config()).await;
    let mut wuye = handled_by_wuye(&city).await;
    let doc = city.t1.document_id();
    wuye.device
        .repo()
        .change(&doc, |tx| {
            let (_, events) = tx.get(ROOT, "events")?.expect("the list");
            let (_, handled) = tx.get(&events, 5)?.expect("the handled event");
            tx.put(&handled, "actor", "liu")?;
            retype(tx)
        })
        .unwrap();
    let why = wuye.try_push(&doc).await.unwrap_err();
    assert!(why.contains("is a ticket; this change makes it"), "{why}");
    assert!(why.contains(expected), "{why}");
    let refused = city.audit(&AuditFilter {
        user: Some("wuye".into()),
        doc: Some(doc.to_string()),
        ..AuditFilter::default()
    });
    assert!(
        refused.iter().any(|r| r.action == AuditAction::Refused
            && r.reason.as_deref().is_some_and(|r| r.contains(expected))),
        "{refused:?}"
    );

    // The relay still holds the ticket as recorded, and others keep syncing.
    let mut chen = city.join("chen", &["G-01"]).await;
    assert!(chen.fetch(&doc).await);
    let t1 = chen.device.ticket(city.t1).unwrap();
    assert_eq!(t1.events[5].as_ref().unwrap().actor, "wuye");
    assert_eq!(t1.status(), Status::Handled);
    chen.device.comment(city.t1, "已核实", 30).unwrap();
    chen.try_push(&doc).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_rewrite_that_bumps_the_schema_major_is_refused() {
    rewrite_with_retype(
        |tx| tx.put(ROOT, schema::SCHEMA, "2.0"),
        "of schema `2.0`, a major the relay does not read",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_rewrite_that_deletes_the_doc_type_is_refused() {
    rewrite_with_retype(
        |tx| tx.delete(ROOT, schema::DOC_TYPE),
        "a document without a `doc_type`",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_rewrite_that_changes_the_doc_type_is_refused() {
    rewrite_with_retype(
        |tx| tx.put(ROOT, schema::DOC_TYPE, "visit_log"),
        "a `visit_log`",
    )
    .await;
    rewrite_with_retype(
        |tx| tx.put(ROOT, schema::DOC_TYPE, "incident"),
        "of unknown type `incident`",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_or_duplicating_an_event_and_rewriting_the_reporter_are_refused() {
    let city = City::start(config()).await;
    let mut wang = city.join("wang", &["G-01"]).await;
    assert!(wang.fetch(&city.t1.document_id()).await);
    wang.device
        .repo()
        .change(&city.t1.document_id(), |tx| {
            let (_, events) = tx.get(ROOT, "events")?.unwrap();
            tx.delete(&events, 1)
        })
        .unwrap();
    let why = wang.try_push(&city.t1.document_id()).await.unwrap_err();
    assert!(why.contains("was deleted"), "{why}");

    // A copy of the accepted event under its own id.
    let mut wang = city.join("wang", &["G-01"]).await;
    assert!(wang.fetch(&city.t1.document_id()).await);
    let accepted = wang.device.ticket(city.t1).unwrap().events[1]
        .clone()
        .unwrap();
    wang.device
        .repo()
        .change(&city.t1.document_id(), |tx| {
            let events = schema::root_list(tx, "events")?;
            let copy = schema::push_map(tx, &events)?;
            tx.put(&copy, "id", accepted.id.to_string())?;
            tx.put(&copy, "to", "accepted")?;
            tx.put(&copy, "from", "reported")?;
            tx.put(&copy, "actor", "wang")?;
            tx.put(&copy, "role", "worker")?;
            tx.put(&copy, "at_device", 5)?;
            Ok(())
        })
        .unwrap();
    let why = wang.try_push(&city.t1.document_id()).await.unwrap_err();
    assert!(why.contains("recorded twice under one id"), "{why}");

    let mut wang = city.join("wang", &["G-01"]).await;
    assert!(wang.fetch(&city.t1.document_id()).await);
    wang.device
        .repo()
        .change(&city.t1.document_id(), |tx| {
            tx.put(ROOT, "created_by", "liu")
        })
        .unwrap();
    let why = wang.try_push(&city.t1.document_id()).await.unwrap_err();
    assert!(why.contains("`created_by` cannot be rewritten"), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_or_deleting_a_comment_is_refused_and_new_ones_still_land() {
    let city = City::start(config()).await;
    let mut chen = city.join("chen", &["G-01"]).await;
    assert!(chen.fetch(&city.t1.document_id()).await);
    chen.device.comment(city.t1, "请尽快处理", 20).unwrap();
    chen.try_push(&city.t1.document_id()).await.unwrap();
    edit_entry(&chen, city.t1, "comments", 0, "text", "已处理，无需跟进");
    let why = chen.try_push(&city.t1.document_id()).await.unwrap_err();
    assert!(
        why.contains("comment") && why.contains("was edited"),
        "{why}"
    );

    let mut chen = city.join("chen", &["G-01"]).await;
    assert!(chen.fetch(&city.t1.document_id()).await);
    chen.device
        .repo()
        .change(&city.t1.document_id(), |tx| tx.delete(ROOT, "comments"))
        .unwrap();
    let why = chen.try_push(&city.t1.document_id()).await.unwrap_err();
    assert!(why.contains("was deleted"), "{why}");

    let mut chen = city.join("chen", &["G-01"]).await;
    assert!(chen.fetch(&city.t1.document_id()).await);
    chen.device.comment(city.t1, "第二条", 21).unwrap();
    chen.try_push(&city.t1.document_id()).await.unwrap();
}

// Ids cannot be squatted. Before, a worker could store a ticket of its own
// grid at the id derived for another grid's index, and that grid's index
// could then never be written: every device of that grid failed to sync.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_cannot_occupy_another_grids_index_id() {
    let city = City::start(config()).await;
    let mut wang = city.join("wang", &["G-01"]).await;
    // G-04 has no index yet: the id is free to squat.
    let squat = code("G-04").index_document_id();
    wang.device
        .repo()
        .change(&squat, |tx| {
            schema::write_header(tx, DocType::Ticket)?;
            tx.put(ROOT, "grid", "G-01")?;
            tx.put(ROOT, "created_by", "wang")?;
            tx.put(ROOT, "title", "占位")
        })
        .unwrap();
    let why = wang.try_push(&squat).await.unwrap_err();
    assert!(
        why.contains("derived for a grid index or a visit log"),
        "{why}"
    );
    assert!(city.server.database().load(&squat).unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blank_documents_are_stored_only_for_creators_and_read_only_by_them() {
    let city = City::start(config()).await;
    let blank = |client: &SyncClient, commits: usize| {
        let doc = DocumentId::random();
        client
            .device
            .repo()
            .apply(&doc, |d| {
                for _ in 0..commits {
                    d.empty_commit(automerge::transaction::CommitOptions::default());
                }
                Ok::<_, automerge::AutomergeError>(())
            })
            .unwrap();
        doc
    };
    for (user, why) in [("zhao", "reviewers read"), ("wuye", "units do not create")] {
        let mut c = city.join(user, &["G-01"]).await;
        let doc = blank(&c, 1);
        let refused = c.try_push(&doc).await.unwrap_err();
        assert!(refused.contains(why), "{user}: {refused}");
        assert!(city.server.database().load(&doc).unwrap().is_none());
    }
    let mut wang = city.join("wang", &["G-01"]).await;
    let doc = blank(&wang, 1);
    wang.try_push(&doc).await.unwrap();
    assert!(city.reads("liu", doc).await, "another worker may read it");
    assert!(!city.reads("wuye", doc).await, "a unit may not");
    assert!(!city.reads("zhao", doc).await, "a reviewer may not");

    let mut wang = city.join("wang", &["G-01"]).await;
    let doc = blank(&wang, 17);
    let refused = wang.try_push(&doc).await.unwrap_err();
    assert!(refused.contains("at most 16 empty changes"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_a_recorded_visit_is_refused() {
    use client_core::ids::VisitId;
    use client_core::model::visit::{Outcome, Visit, VisitLogKey, VisitType};
    let city = City::start(config()).await;
    let mut wang = city.join("wang", &["G-01"]).await;
    let visit = Visit {
        id: VisitId::random(),
        visit_type: VisitType::Household,
        grid: code("G-01"),
        household: Some("3-2-501".into()),
        worker: "wang".into(),
        started_at: 1_000,
        ended_at: None,
        lat: None,
        lon: None,
        outcome: Outcome::Met,
        notes: "独居老人，身体尚可".into(),
        tickets: Vec::new(),
        amends: None,
    };
    wang.device.add_visit(&visit, "2026-11-20").unwrap();
    let log = VisitLogKey {
        grid: code("G-01"),
        worker: "wang".into(),
        date: "2026-11-20".into(),
    }
    .document_id();
    wang.try_push(&log).await.unwrap();
    wang.device
        .repo()
        .change(&log, |tx| {
            let (_, entry) = tx.get(ROOT, format!("visit:{}", visit.id))?.unwrap();
            tx.put(&entry, "outcome", "not_home")
        })
        .unwrap();
    let why = wang.try_push(&log).await.unwrap_err();
    assert!(
        why.contains(&format!("visit {} was edited", visit.id)),
        "{why}"
    );
}
