//! `gridsync-server migrate personal-data`, also run once when the relay
//! starts: takes residents' contacts out of ticket documents written
//! before private documents existed.
//!
//! Such a ticket held `resident_name` and `resident_phone` itself, so its
//! history holds them for good and every reader received them. Deleting
//! the keys would not help (the history keeps them), so the migration
//! rewrites the document: for each ticket whose history holds a contact
//! key, in one storage batch,
//!
//! - the contact goes to the ticket's private document (created by the
//!   relay, or completed if one exists);
//! - the ticket document is replaced by a fresh one at the same id: one
//!   change by the migration's own actor holding the current state minus
//!   the contact (every event, comment and photo entry kept as data, ids,
//!   actors and roles included), its persisted sync states dropped;
//! - the relay records the new history's root change in its `rewritten`
//!   table, which [`crate::access`] uses to refuse any change from the
//!   retired history (a change with no dependencies other than that root:
//!   every retired change descends from an old root, so none can be
//!   applied without one);
//! - the grid index gains `rewritten:<ticket>` (that root) and
//!   `private:<ticket>`: a device that finds its copy lacks the root
//!   downloads the ticket afresh and re-applies its own unsynced entries
//!   (`client::session`).
//!
//! Ticket by ticket, so an interrupted run resumes where it stopped (a
//! rewritten ticket has no contact in its history). It reads and writes
//! the store directly: it runs before the hub thread starts, or, as a
//! command, only while no relay serves the directory.

use std::collections::HashMap;

use automerge::transaction::Transactable;
use automerge::{
    ActorId, Automerge, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, ValueRef,
};
use client_core::ids::{DocumentId, TicketId};
use client_core::model::limits::Limits;
use client_core::model::schema::{self, DocType};
use client_core::model::{grid_index, ticket, ticket_private};
use client_core::repo::{Repo, RepoError};
use client_core::store::{Batch, Store, StoreError, meta};
use serde::Serialize;

use crate::access::ACTORS_TABLE;

/// The table of rewritten documents: document id → the root change of its
/// new history (32 bytes).
pub const REWRITTEN_TABLE: &str = "rewritten";

/// Who the migration's changes are registered to in the actors table, so
/// no user can claim its actor.
pub const MIGRATION_ACTOR_OWNER: &str = "(gridsync-relay migration)";

/// What a migration did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Migrated {
    /// Ticket documents looked at.
    pub tickets: u64,
    /// Tickets whose history held a contact: rewritten without it.
    pub rewritten: Vec<TicketId>,
    /// Of those, the ones whose contact went to a private document (the
    /// others had deleted theirs).
    pub contacts_moved: u64,
}

/// Why the migration stopped. Tickets rewritten before it stopped stay
/// rewritten; running it again goes on from there.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(
        "could not read or write the relay database: {0}; free space or fix the disk, then run `gridsync-server migrate personal-data` again"
    )]
    Store(#[from] StoreError),
    #[error("ticket {ticket} could not be rewritten: {cause}")]
    Document { ticket: TicketId, cause: RepoError },
}

/// Runs [`personal_data`] unless a previous run finished (the store's
/// `personal_data_migrated` meta key); then sets the key.
pub fn personal_data_once<S: Store>(store: &S) -> Result<Option<Migrated>, MigrateError> {
    if store.meta(meta::PERSONAL_DATA_MIGRATED)?.is_some() {
        return Ok(None);
    }
    let migrated = personal_data(store)?;
    mark_migrated(store)?;
    Ok(Some(migrated))
}

/// Records that [`personal_data`] ran to the end.
pub fn mark_migrated<S: Store>(store: &S) -> Result<(), MigrateError> {
    let mut batch = Batch::new();
    batch.put_meta(meta::PERSONAL_DATA_MIGRATED, b"1".to_vec());
    store.write(batch)?;
    Ok(())
}

/// Rewrites every ticket whose history holds a resident's contact (see the
/// module docs).
pub fn personal_data<S: Store>(store: &S) -> Result<Migrated, MigrateError> {
    let actor = ActorId::random();
    let repo = Repo::new(store, actor.clone());
    let mut out = Migrated::default();
    let mut actor_registered = false;
    for id in store.documents()? {
        if store.summary(&id)?.is_none() {
            continue; // not a ticket (every stored ticket has a summary)
        }
        let ticket = TicketId::from_document_id(&id);
        let fail = |cause: RepoError| MigrateError::Document { ticket, cause };
        let Some(doc) = repo.load(&id).map_err(fail)? else {
            continue;
        };
        if !matches!(schema::doc_type(&doc), Ok(Some(DocType::Ticket))) {
            continue;
        }
        out.tickets += 1;
        if !history_holds_contact(&doc) {
            continue;
        }
        let mut batch = Batch::new();
        if !actor_registered {
            batch.put_record(
                ACTORS_TABLE,
                actor.to_bytes().to_vec(),
                MIGRATION_ACTOR_OWNER.as_bytes().to_vec(),
            );
            actor_registered = true;
        }
        let moved = rewrite(&repo, ticket, &doc, &mut batch).map_err(fail)?;
        store.write(batch)?;
        tracing::info!(%ticket, contact_moved = moved, "rewrote a ticket without its resident's contact");
        out.contacts_moved += u64::from(moved);
        out.rewritten.push(ticket);
    }
    Ok(out)
}

/// Adds to `batch` everything that rewrites `ticket` (see the module
/// docs); returns whether a contact went to the private document.
fn rewrite<S: Store>(
    repo: &Repo<S>,
    ticket: TicketId,
    doc: &Automerge,
    batch: &mut Batch,
) -> Result<bool, RepoError> {
    let id = ticket.document_id();
    let current = ticket::read(doc, ticket)?;
    let grid = current.grid.clone();

    // The contact, to the private document.
    let private_id = ticket.private_document_id();
    let mut private = repo.load_or_new(&private_id)?;
    let had_private = !private.get_heads().is_empty();
    let before = private.get_heads();
    let contact = current.resident.clone();
    let mut moved = false;
    if let Some(grid) = &grid
        && (!contact.is_empty() || had_private)
    {
        let kept = if had_private {
            ticket_private::read(&private)?.resident
        } else {
            Default::default()
        };
        // What the private document lacks; what it has wins.
        let missing = ticket::Resident {
            name: kept.name.is_none().then(|| contact.name.clone()).flatten(),
            phone: kept
                .phone
                .is_none()
                .then(|| contact.phone.clone())
                .flatten(),
        };
        private
            .transact(|tx| {
                if had_private {
                    ticket_private::set_contact(tx, &missing)
                } else {
                    ticket_private::create(tx, ticket, grid, &current.created_by, &missing)
                }
            })
            .map_err(|f| RepoError::from(f.error))?;
        moved = !missing.is_empty();
        batch.extend(repo.changes_since(&private_id, &private, &before)?);
    }

    // The ticket, rebuilt from its current state without the contact.
    let mut fresh = Automerge::new().with_actor(repo.actor().clone());
    fresh
        .transact(|tx| copy_map(doc, &ROOT, tx, &ROOT, 1, true))
        .map_err(|f| RepoError::from(f.error))?;
    let root = *fresh
        .get_heads()
        .first()
        .expect("a rebuilt ticket has one change");
    batch.extend(repo.replacement(&id, &fresh));
    batch.drop_doc_sync_states(id);
    batch.put_record(REWRITTEN_TABLE, id.as_bytes().to_vec(), root.0.to_vec());

    // The grid index tells devices.
    if let Some(grid) = &grid {
        let index_id = grid.index_document_id();
        let mut index = repo.load_or_new(&index_id)?;
        let before = index.get_heads();
        let listed = moved || had_private;
        index
            .transact(|tx| {
                grid_index::init(tx, grid)?;
                grid_index::add_ticket(tx, ticket)?;
                grid_index::add_rewritten(tx, ticket, root)?;
                if listed {
                    grid_index::add_private(tx, ticket)?;
                }
                Ok::<_, automerge::AutomergeError>(())
            })
            .map_err(|f| RepoError::from(f.error))?;
        batch.extend(repo.changes_since(&index_id, &index, &before)?);
    }
    Ok(moved)
}

/// Whether any change of `doc` writes a contact key on the root (a put,
/// or an object made there): the history holds personal data even if the
/// current state no longer shows it.
pub fn history_holds_contact(doc: &Automerge) -> bool {
    use automerge::legacy::{Key, ObjectId, OpType};
    doc.get_changes(&[]).iter().any(|change| {
        change.decode().operations.iter().any(|op| {
            matches!((&op.obj, &op.key), (ObjectId::Root, Key::Map(k))
                if ticket_private::CONTACT_KEYS.contains(&k.as_str()))
                && !matches!(op.action, OpType::Delete)
        })
    })
}

/// Copies the map `from` of `src` into the map `to` of `tx`, `depth`
/// levels below the root (never deeper than the document limits allow);
/// on the root, the contact keys stay behind. Strings stay strings and
/// texts stay texts, so every reader sees the same values.
fn copy_map(
    src: &Automerge,
    from: &ObjId,
    tx: &mut impl Transactable,
    to: &ObjId,
    depth: usize,
    root: bool,
) -> Result<(), automerge::AutomergeError> {
    let entries: Vec<(String, Item, ObjId)> = src
        .map_range(from, ..)
        .map(|item| {
            let id = item.id();
            (item.key.into_owned(), Item::of(item.value), id)
        })
        .collect();
    for (key, value, id) in entries {
        if root && ticket_private::CONTACT_KEYS.contains(&key.as_str()) {
            continue;
        }
        match value {
            Item::Scalar(s) => tx.put(to, key.as_str(), s)?,
            Item::Object(ty) => {
                if depth >= Limits::DEFAULT.max_depth {
                    continue;
                }
                let made = tx.put_object(to, key.as_str(), ty)?;
                copy_object(src, &id, ty, tx, &made, depth + 1)?;
            }
        }
    }
    Ok(())
}

fn copy_object(
    src: &Automerge,
    from: &ObjId,
    ty: ObjType,
    tx: &mut impl Transactable,
    to: &ObjId,
    depth: usize,
) -> Result<(), automerge::AutomergeError> {
    match ty {
        ObjType::Map | ObjType::Table => copy_map(src, from, tx, to, depth, false),
        ObjType::Text => {
            let text = src.text(from)?;
            tx.splice_text(to, 0, 0, &text)
        }
        ObjType::List => {
            let items: Vec<(Item, ObjId)> = src
                .list_range(from, ..)
                .map(|item| {
                    let id = item.id();
                    (Item::of(item.value), id)
                })
                .collect();
            let mut at = 0;
            for (value, id) in items {
                match value {
                    Item::Scalar(s) => tx.insert(to, at, s)?,
                    Item::Object(ty) => {
                        if depth >= Limits::DEFAULT.max_depth {
                            continue;
                        }
                        let made = tx.insert_object(to, at, ty)?;
                        copy_object(src, &id, ty, tx, &made, depth + 1)?;
                    }
                }
                at += 1;
            }
            Ok(())
        }
    }
}

/// A value as [`copy_map`] copies it.
enum Item {
    Scalar(ScalarValue),
    Object(ObjType),
}

impl Item {
    fn of(value: ValueRef<'_>) -> Self {
        match value {
            ValueRef::Scalar(s) => Item::Scalar(ScalarValue::from(s)),
            ValueRef::Object(ty) => Item::Object(ty),
        }
    }
}

/// The rewritten documents in `table` rows (document id → root change).
pub(crate) fn decode_rewritten(
    rows: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
) -> HashMap<DocumentId, ChangeHash> {
    rows.into_iter()
        .filter_map(|(k, v)| {
            let id: [u8; 16] = k.try_into().ok()?;
            let root: [u8; 32] = v.try_into().ok()?;
            Some((DocumentId::from_bytes(id), ChangeHash(root)))
        })
        .collect()
}
