//! A device that already holds a document breaking the document limits
//! (stored before the relay refused such documents) keeps working.
//!
//! Before, reading a ticket hydrated the whole document recursively: a
//! ticket holding a chain of 50,000 nested maps overflowed the stack of
//! `ticket list`, `ticket show` and `export` alike.

mod support;

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT};
use client_core::ids::TicketId;
use client_core::repo::Repo;
use client_core::store::RedbStore;
use support::Gs;

#[test]
fn a_stored_ticket_nesting_fifty_thousand_maps_lists_shows_with_a_warning_and_exports() {
    let gs = Gs::init("王芳", "worker", &["GL-01"]);
    let id = gs.report("GL-01", "路灯不亮", &[]);
    {
        let repo = Repo::new(
            RedbStore::open(gs.database()).unwrap(),
            automerge::ActorId::random(),
        );
        let ticket: TicketId = id.parse().unwrap();
        repo.change(&ticket.document_id(), |tx| {
            let mut obj = ROOT;
            for _ in 0..50_000 {
                obj = tx.put_object(&obj, "x", ObjType::Map)?;
            }
            Ok(())
        })
        .unwrap();
    }
    assert!(gs.ok(&["ticket", "list"]).contains("路灯不亮"));
    let shown = gs.run(&["ticket", "show", &id]);
    shown.stderr_has("breaks GridSync's document limits");
    assert!(shown.stdout.contains("路灯不亮"), "{}", shown.stdout);
    let exported = gs.ok(&["export", "--format", "json", "--out", "-"]);
    assert!(exported.contains("路灯不亮"));
}
