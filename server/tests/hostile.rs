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
use automerge::{ObjType, ROOT};
use client_core::ids::{DocumentId, TicketId};
use client_core::model::lifecycle::Role;
use client_core::model::schema::{self, DocType};
use client_core::store::Store;
use server::Config;
use server::audit::{AuditAction, AuditFilter};
use support::city::{City, config};
use support::{Fixture, SyncClient};

/// Writes, as `user`'s device, a ticket of grid G-01 whose root also holds
/// `levels` nested maps.
fn deep_ticket(client: &SyncClient, user: &str, levels: usize) -> DocumentId {
    let doc = TicketId::random().document_id();
    client
        .hub
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
