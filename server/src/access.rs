//! The relay's access policy: who may see and change which document, and
//! whose changes a connection may carry.
//!
//! The hub ([`client_core::sync::Hub`]) asks [`Policy`] before it sends
//! anything about a document and before it stores changes. A document is
//! placed by the `grid` on its root (tickets, visit logs and grid indexes
//! all carry one); the grids a user's scope covers are resolved from the
//! registry when the token is checked, and again whenever the registry
//! changes, so no message costs a registry read.
//!
//! | role | reads | writes |
//! |---|---|---|
//! | worker | documents of its grids | documents of its grids |
//! | supervisor | documents of the grids of its community / street / district | the same |
//! | unit | tickets whose folded `state.unit` is its user name; grid indexes of its scope (they list ids only, so it can discover its tickets) | tickets dispatched to it (as they were before the change), never a new document |
//! | reviewer | documents of its scope | nothing |
//! | admin | everything | everything |
//!
//! A document without a `grid` (for example one a JS client made) is
//! admins' only. A document a peer may not see is answered
//! `doc-unavailable`, exactly as if it did not exist.
//!
//! Every write, whatever the role, is also checked for what it claims:
//! - no document moves to another grid, and a grid index or visit log sits
//!   at the id derived from its grid (and worker and date), so nobody can
//!   squat another grid's index id;
//! - **authorship**: every new change's Automerge actor id is registered to
//!   the first user who sends it (kept in the `actors` table, committed in
//!   the same transaction as the change); a change whose actor belongs to
//!   another user is refused as forged;
//! - **records**: a new lifecycle event must name the sending user as
//!   `actor` and its role as `role`; a new ticket's `created_by`, a new
//!   comment's `author` and a new visit's `worker` must be the sending user.
//!   The relay *refuses* such changes rather than storing them, so devices
//!   never see them; should one slip through (written before the relay
//!   checked), the lifecycle fold still reports it as a conflict.
//!
//! A refused write is answered with an `error` frame naming the reason and
//! the connection is closed; nothing of it is stored.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use automerge::{ActorId, Automerge, Change, ROOT};
use client_core::ids::{DocumentId, GridCode, TicketId};
use client_core::model::lifecycle::Role;
use client_core::model::schema::{self, DocType};
use client_core::model::{ticket, visit};
use client_core::protocol::PeerId;
use client_core::sync::Access;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::auth::Principal;

/// Name of the table of registered actor ids (actor bytes → user name).
pub const ACTORS_TABLE: &str = "actors";
const ACTORS: TableDefinition<&[u8], &[u8]> = TableDefinition::new(ACTORS_TABLE);

/// The policy's state, shared by the hub (through [`Access`]) and the
/// relay's round loop (which binds peers and commits actor ids). Both run
/// on the hub thread; the mutex is never contended.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    inner: Arc<Mutex<State>>,
    /// True while the relay serves openly (shared with the HTTP gate).
    open: Arc<AtomicBool>,
}

#[derive(Debug, Default)]
struct State {
    /// The authenticated user behind each joined peer.
    peers: HashMap<PeerId, Arc<Principal>>,
    /// Actor ids committed to the store, and their users.
    actors: HashMap<ActorId, String>,
    /// Actor ids first seen this round: committed with the round's batch,
    /// forgotten if that commit fails.
    pending: HashMap<ActorId, String>,
    /// The grid of each document checked this round, for the audit (a
    /// refused new document is gone from memory by then).
    grids: HashMap<DocumentId, GridCode>,
}

/// What the policy needs to know of a document.
#[derive(Debug)]
struct Placed {
    grid: Option<GridCode>,
    kind: Option<DocType>,
}

impl Placed {
    fn of(doc: &Automerge) -> Self {
        Self {
            grid: grid_of(doc).and_then(|g| GridCode::new(g).ok()),
            kind: schema::doc_type(doc).ok().flatten(),
        }
    }
}

/// The `grid` on the root: a string (as GridSync writes it) or a text
/// object (as the JS client writes every string).
pub(crate) fn grid_of(doc: &Automerge) -> Option<String> {
    use automerge::{ObjType, ReadDoc as _, Value};
    match doc.get(ROOT, "grid").ok().flatten()? {
        (Value::Object(ObjType::Text), text) => doc.text(&text).ok(),
        _ => schema::read_str(doc, &ROOT, "grid"),
    }
}

/// A document whose root map is empty holds nothing to protect: one held in
/// memory while a new document's first sync message is answered, or one a
/// client created empty and fills in with its next change (the JS
/// automerge-repo client does so). Anyone may read it and create it blank;
/// its first content is checked like a new document's, and only an admin
/// may blank a document that had content.
fn is_blank(doc: &Automerge) -> bool {
    use automerge::ReadDoc as _;
    doc.keys(ROOT).next().is_none()
}

/// The handling unit a ticket is dispatched to now.
fn dispatched_to(id: &DocumentId, doc: &Automerge) -> Option<String> {
    ticket::read(doc, TicketId::from_document_id(id))
        .ok()
        .and_then(|t| t.state.unit)
}

impl Policy {
    /// Loads the registered actor ids from `db`.
    pub(crate) fn load(db: &Database, open: Arc<AtomicBool>) -> Result<Self, redb::Error> {
        let mut actors = HashMap::new();
        let tx = db.begin_read()?;
        match tx.open_table(ACTORS) {
            Ok(t) => {
                for entry in t.iter()? {
                    let (k, v) = entry?;
                    actors.insert(
                        ActorId::from(k.value()),
                        String::from_utf8_lossy(v.value()).into_owned(),
                    );
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(Self {
            inner: Arc::new(Mutex::new(State {
                actors,
                ..State::default()
            })),
            open,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::SeqCst)
    }

    /// From now on tokens are required (the first user appeared).
    pub(crate) fn require_tokens(&self) {
        self.open.store(false, Ordering::SeqCst);
    }

    /// Binds `peer` to `principal` for the life of its connection.
    pub(crate) fn bind(&self, peer: PeerId, principal: Arc<Principal>) {
        self.state().peers.insert(peer, principal);
    }

    pub(crate) fn unbind(&self, peer: &PeerId) {
        self.state().peers.remove(peer);
    }

    pub(crate) fn principal(&self, peer: &PeerId) -> Option<Arc<Principal>> {
        self.state().peers.get(peer).cloned()
    }

    /// The grid the policy saw `doc` in this round.
    pub(crate) fn grid_seen(&self, doc: &DocumentId) -> Option<GridCode> {
        self.state().grids.get(doc).cloned()
    }

    /// Adds this round's new actor registrations to `batch`.
    pub(crate) fn stage(&self, batch: &mut client_core::store::Batch) {
        for (actor, user) in &self.state().pending {
            batch.put_record(
                ACTORS_TABLE,
                actor.to_bytes().to_vec(),
                user.as_bytes().to_vec(),
            );
        }
    }

    /// The round's commit succeeded (`true`) or failed: keep or forget its
    /// actor registrations.
    pub(crate) fn settle(&self, committed: bool) {
        let mut state = self.state();
        let pending = std::mem::take(&mut state.pending);
        if committed {
            state.actors.extend(pending);
        }
        state.grids.clear();
    }

    fn note_grid(&self, doc: &DocumentId, grid: Option<&GridCode>) {
        if let Some(grid) = grid {
            self.state().grids.insert(*doc, grid.clone());
        }
    }
}

/// Whether `p` may see a document placed at `placed`.
fn may_read(p: &Principal, id: &DocumentId, doc: &Automerge, placed: &Placed) -> bool {
    if p.role == Role::Admin {
        return true;
    }
    let Some(grid) = &placed.grid else {
        return false;
    };
    match p.role {
        Role::Unit => match placed.kind {
            Some(DocType::GridIndex) => p.grids.contains(grid),
            Some(DocType::Ticket) => dispatched_to(id, doc).as_deref() == Some(p.user.as_str()),
            _ => false,
        },
        _ => p.grids.contains(grid),
    }
}

/// Whether `p` may change a document from `before` (`None`: new) to
/// `after`, judged by where the document sits.
fn may_write(
    p: &Principal,
    id: &DocumentId,
    before: Option<(&Automerge, &Placed)>,
    after: &Automerge,
    placed: &Placed,
) -> Result<(), String> {
    if p.role == Role::Reviewer {
        return Err("reviewers read and export; they change nothing".into());
    }
    let grid = match (&placed.grid, p.role) {
        (Some(g), _) => g,
        (None, Role::Admin) => return Ok(()),
        (None, _) => {
            return Err("a document without a `grid` can only be written by an admin".into());
        }
    };
    if let Some((_, b)) = before
        && let Some(old) = &b.grid
        && old != grid
    {
        return Err(format!(
            "a document cannot move from grid {old} to grid {grid}"
        ));
    }
    match placed.kind {
        Some(DocType::GridIndex) if grid.index_document_id() != *id => {
            return Err(format!(
                "{id} is not grid {grid}'s index (that is {})",
                grid.index_document_id()
            ));
        }
        Some(DocType::VisitLog) => {
            let key = visit::VisitLogKey {
                grid: grid.clone(),
                worker: schema::read_str(after, &ROOT, "worker").unwrap_or_default(),
                date: schema::read_str(after, &ROOT, "date").unwrap_or_default(),
            };
            if key.document_id() != *id {
                return Err(format!(
                    "{id} is not the visit log of {} on {} in grid {grid}",
                    key.worker, key.date
                ));
            }
            if before.is_none() && p.role != Role::Admin && key.worker != p.user {
                return Err(format!(
                    "a visit log of `{}` cannot be started by `{}`",
                    key.worker, p.user
                ));
            }
        }
        _ => {}
    }
    match p.role {
        Role::Admin => Ok(()),
        Role::Unit => {
            let Some((doc, b)) = before else {
                return Err(
                    "handling units do not create documents; they work on the tickets dispatched to them"
                        .into(),
                );
            };
            let mine = b.kind == Some(DocType::Ticket)
                && dispatched_to(id, doc).as_deref() == Some(p.user.as_str());
            if mine {
                Ok(())
            } else {
                Err(format!(
                    "{id} is not a ticket dispatched to `{}`; units change only those",
                    p.user
                ))
            }
        }
        _ if p.grids.contains(grid) => Ok(()),
        _ => Err(format!(
            "grid {grid} is outside the scope of `{}` ({})",
            p.user, p.scope
        )),
    }
}

/// Checks that what the new changes record was recorded by `p`.
fn check_records(
    p: &Principal,
    id: &DocumentId,
    before: Option<&Automerge>,
    after: &Automerge,
    placed: &Placed,
) -> Result<(), String> {
    match placed.kind {
        Some(DocType::Ticket) => {
            let tid = TicketId::from_document_id(id);
            let Ok(now) = ticket::read(after, tid) else {
                return Ok(()); // a newer schema: the fold will not read it either
            };
            let old = before.and_then(|b| ticket::read(b, tid).ok());
            if old.is_none() && !now.created_by.is_empty() && now.created_by != p.user {
                return Err(format!(
                    "the ticket claims to be created by `{}` but `{}` sent it",
                    now.created_by, p.user
                ));
            }
            let known: HashSet<_> = old
                .iter()
                .flat_map(|t| t.events.iter().filter_map(|e| e.as_ref().ok()))
                .map(|e| e.id)
                .collect();
            for ev in now.events.iter().filter_map(|e| e.as_ref().ok()) {
                if known.contains(&ev.id) {
                    continue;
                }
                if ev.actor != p.user || ev.role != p.role {
                    return Err(format!(
                        "lifecycle event `{}` names `{}` ({}) but `{}` ({}) sent it; \
                         the relay refuses events made in someone else's name",
                        ev.to, ev.actor, ev.role, p.user, p.role
                    ));
                }
            }
            let known: HashSet<_> = old
                .iter()
                .flat_map(|t| t.comments.iter())
                .map(|c| c.id)
                .collect();
            for c in now.comments.iter().filter(|c| !known.contains(&c.id)) {
                if c.author != p.user {
                    return Err(format!(
                        "a comment names `{}` as its author but `{}` sent it",
                        c.author, p.user
                    ));
                }
            }
            Ok(())
        }
        Some(DocType::VisitLog) => {
            let Ok((now, _)) = visit::read(after) else {
                return Ok(());
            };
            let known: HashSet<_> = before
                .and_then(|b| visit::read(b).ok())
                .into_iter()
                .flat_map(|(v, _)| v)
                .map(|v| v.id)
                .collect();
            for v in now.iter().filter(|v| !known.contains(&v.id)) {
                if v.worker != p.user {
                    return Err(format!(
                        "a visit names `{}` as its worker but `{}` sent it",
                        v.worker, p.user
                    ));
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

impl Access for Policy {
    fn may_read(&self, peer: &PeerId, id: &DocumentId, doc: &Automerge) -> bool {
        if self.is_open() {
            return true;
        }
        let Some(p) = self.principal(peer) else {
            return false;
        };
        if is_blank(doc) {
            return true;
        }
        let placed = Placed::of(doc);
        self.note_grid(id, placed.grid.as_ref());
        may_read(&p, id, doc, &placed)
    }

    fn checks_writes(&self) -> bool {
        !self.is_open()
    }

    fn check_write(
        &self,
        peer: &PeerId,
        id: &DocumentId,
        before: Option<&Automerge>,
        after: &Automerge,
        changes: &[Change],
    ) -> Result<(), String> {
        if self.is_open() {
            return Ok(());
        }
        let Some(p) = self.principal(peer) else {
            return Err("this connection is not logged in".into());
        };
        let placed = Placed::of(after);
        let before = before.filter(|b| !is_blank(b));
        let placed_before = before.map(Placed::of);
        self.note_grid(
            id,
            placed
                .grid
                .as_ref()
                .or(placed_before.as_ref().and_then(|b| b.grid.as_ref())),
        );
        // A document that never had content may be created blank; one that
        // had content is never blanked but by whoever may write it without
        // a grid (admins), since a blank document is readable by all.
        if before.is_some() || !is_blank(after) {
            may_write(&p, id, before.zip(placed_before.as_ref()), after, &placed)?;
        }
        let mut fresh = Vec::new();
        {
            let state = self.state();
            for change in changes {
                let actor = change.actor_id();
                match state.actors.get(actor).or(state.pending.get(actor)) {
                    Some(owner) if *owner != p.user => {
                        return Err(format!(
                            "forged actor: change {} was made by device {} of another user; \
                             a device sends only its own user's changes",
                            change.hash(),
                            actor
                        ));
                    }
                    Some(_) => {}
                    None => fresh.push(actor.clone()),
                }
            }
        }
        check_records(&p, id, before, after, &placed)?;
        let mut state = self.state();
        for actor in fresh {
            state.pending.insert(actor, p.user.clone());
        }
        Ok(())
    }
}
