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
//! | every role | the category catalog | never (the relay writes it) |
//!
//! A ticket's **private document** (`ticket_private`, the resident's
//! contact) is read only by admins, supervisors whose scope covers its
//! grid, and the reporter it names (`created_by`); units, reviewers and
//! other workers never receive it. The same three write it, and only its
//! contact fields (put again, never deleted); a new one names the ticket's
//! reporter as the relay knows it, or its sender for a ticket the relay
//! does not hold yet. No new change may write a resident's contact into a
//! ticket (not even on an open relay, which checks nothing else but retired
//! history), and only the relay writes a grid index's `rewritten:` entries.
//!
//! A document without a `grid` (for example one a JS client made) is
//! admins' only. A document a peer may not see is answered
//! `doc-unavailable`, exactly as if it did not exist.
//!
//! Every write, whatever the role, is also checked for what it claims:
//! - no document moves to another grid, a grid index or visit log sits at
//!   the id derived from its grid (and worker and date), a private
//!   document at the id derived from its ticket, and nothing else sits at
//!   a name-derived (UUIDv5) id, so nobody can squat another grid's index,
//!   another worker's visit log or another ticket's private document;
//! - the **category catalog** ([`Catalog::document_id`]) is the relay's
//!   own: every role reads it, no client changes it (an admin included:
//!   `gridsync-server category import` is the way), and no client stores
//!   a `catalog` document anywhere else;
//! - **history**: events, comments and visits are append-only and
//!   immutable, and a ticket keeps its `created_by` ([`append_only`]
//!   compares the document before and after every write); a typed
//!   document keeps its `doc_type` and schema major (a change that makes a
//!   ticket untyped, another type or a newer schema would otherwise be
//!   placed as untyped and skip the history checks), and a ticket or visit
//!   log the relay could read stays readable;
//! - a **blank** document (no operations at all) is stored and read only
//!   by roles that create documents, with at most 16 empty changes; a
//!   document without a GridSync type holds at most 10,000 operations
//!   unless an admin writes it;
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
use client_core::model::catalog::Catalog;
use client_core::model::lifecycle::{Event, Role};
use client_core::model::schema::{self, DocType};
use client_core::model::summary::TicketSummary;
use client_core::model::{grid_index, ticket, ticket_private, visit};
use client_core::protocol::PeerId;
use client_core::store::StoreError;
use client_core::sync::{Access, Refusal};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::auth::Principal;

/// Why the policy refused a peer's changes. The message is what the peer
/// is told in the `error` frame and what the audit row records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteRefusal {
    #[error("this connection is not logged in")]
    NotLoggedIn,
    #[error("reviewers read and export; they change nothing")]
    Reviewer,
    #[error("a document without a `grid` can only be written by an admin")]
    NoGrid,
    #[error("a document cannot move from grid {from} to grid {to}")]
    MovesGrid { from: GridCode, to: GridCode },
    #[error("{id} is not grid {grid}'s index (that is {expected})")]
    NotTheGridIndex {
        id: DocumentId,
        grid: GridCode,
        expected: DocumentId,
    },
    #[error("{id} is not the visit log of {worker} on {date} in grid {grid}")]
    NotTheVisitLog {
        id: DocumentId,
        worker: String,
        date: String,
        grid: GridCode,
    },
    #[error("a visit log of `{worker}` cannot be started by `{user}`")]
    AnothersVisitLog { worker: String, user: String },
    #[error(
        "{id} is an id derived for a grid index or a visit log; a {found} cannot be stored there"
    )]
    SquattedId { id: DocumentId, found: &'static str },
    #[error(
        "{id} is the category catalog, which only the relay writes; an admin changes it with \
         `gridsync-server category import`"
    )]
    CatalogIsTheRelays { id: DocumentId },
    #[error(
        "a catalog document lives only at {expected}, written by the relay; {id} cannot hold one"
    )]
    CatalogElsewhere {
        id: DocumentId,
        expected: DocumentId,
    },
    #[error(
        "a document without a GridSync type may hold at most {max} operations (this one has {ops})"
    )]
    UntypedTooLarge { ops: u64, max: u64 },
    #[error("an empty document may hold at most {max} empty changes (this one has {changes})")]
    BlankTooLarge { changes: u64, max: u64 },
    #[error("handling units do not create documents; they work on the tickets dispatched to them")]
    UnitCreates,
    #[error("{id} is not a ticket dispatched to `{user}`; units change only those")]
    NotDispatchedToUnit { id: DocumentId, user: String },
    #[error("grid {grid} is outside the scope of `{user}` ({scope})")]
    OutOfScope {
        grid: GridCode,
        user: String,
        scope: String,
    },
    #[error(
        "forged actor: change {change} was made by device {actor} of another user; \
         a device sends only its own user's changes"
    )]
    ForgedActor { change: String, actor: String },
    #[error("the ticket claims to be created by `{claimed}` but `{user}` sent it")]
    ForgedCreator { claimed: String, user: String },
    #[error(
        "lifecycle event `{action}` names `{actor}` ({role}) but `{user}` ({user_role}) sent it; \
         the relay refuses events made in someone else's name"
    )]
    ForgedEvent {
        action: String,
        actor: String,
        role: Role,
        user: String,
        user_role: Role,
    },
    #[error("a {what} names `{named}` as its {field} but `{user}` sent it")]
    ForgedEntry {
        what: &'static str,
        field: &'static str,
        named: String,
        user: String,
    },
    #[error(
        "{what} {id} was {how}; recorded history is evidence and never changes — \
         add a new {what} instead"
    )]
    HistoryRewritten {
        what: &'static str,
        id: String,
        how: &'static str,
    },
    /// `to` says what the change makes of it (client text, clipped).
    #[error(
        "{id} is a {from}; this change makes it {to}, whose history the relay cannot check: \
         a document keeps its `doc_type` and its schema major (upgrade the relay before \
         writing a newer schema)"
    )]
    Retyped {
        id: DocumentId,
        from: &'static str,
        to: String,
    },
    #[error(
        "this change leaves the {what} unreadable to the relay ({why}), so its history cannot \
         be checked; a {what} the relay could read must stay readable"
    )]
    LeftUnreadable { what: &'static str, why: String },
    #[error("the ticket's `created_by` cannot be rewritten (from `{from}` to `{to}`)")]
    CreatorRewritten { from: String, to: String },
    #[error("{id} is not the private document of ticket {ticket} (that is {expected})")]
    NotThePrivateDocument {
        id: DocumentId,
        ticket: String,
        expected: DocumentId,
    },
    /// `private` is where the contact belongs (kept out of the message,
    /// which must fit an `error` frame whole).
    #[error(
        "a ticket cannot hold a resident's contact (`{key}`): it belongs in the ticket's \
         private document, which only the grid's supervisors, the reporter and admins read; \
         update gridsync"
    )]
    ContactInTicket {
        key: &'static str,
        private: DocumentId,
    },
    #[error(
        "only the reporter (`{reporter}`), the grid's supervisors and admins write the private \
         document of ticket {ticket}; `{user}` is neither"
    )]
    PrivateNotYours {
        ticket: String,
        reporter: String,
        user: String,
    },
    #[error(
        "a ticket's private document holds only the resident's contact, which may be put again \
         but not deleted; `{key}` cannot be {how}"
    )]
    PrivateContent { key: String, how: &'static str },
    #[error(
        "the private document of ticket {ticket} must name its reporter `{reporter}` in grid \
         {grid}, not `{claimed}`"
    )]
    PrivateMisplaced {
        ticket: TicketId,
        reporter: String,
        grid: String,
        claimed: String,
    },
    #[error("`{key}` entries of a grid index are written by the relay only")]
    RelayOnlyKey { key: String },
    #[error(
        "the relay could not read ticket {ticket} to check this change against it; try again \
         later"
    )]
    StoreUnreadable { ticket: TicketId },
    /// `change` is the first retired change found (for the log; the
    /// message must fit an `error` frame whole).
    #[error(
        "this copy holds the retired history of a document the relay rewrote to take \
         residents' personal data out: drop it and download the document again"
    )]
    RetiredHistory { id: DocumentId, change: String },
}

/// Name of the table of registered actor ids (actor bytes → user name).
pub const ACTORS_TABLE: &str = "actors";
const ACTORS: TableDefinition<&[u8], &[u8]> = TableDefinition::new(ACTORS_TABLE);
const REWRITTEN: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new(crate::migrate::REWRITTEN_TABLE);

/// The policy's state, shared by the hub (through [`Access`]) and the
/// relay's round loop (which binds peers and commits actor ids). Both run
/// on the hub thread; the mutex is never contended.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    inner: Arc<Mutex<State>>,
    /// True while the relay serves openly (shared with the HTTP gate).
    open: Arc<AtomicBool>,
    /// Stored ticket summaries, for a new private document's reporter.
    summaries: Option<Summaries>,
}

/// Reads a stored ticket's summary (the relay's store).
type SummaryFn = dyn Fn(&DocumentId) -> Result<Option<TicketSummary>, StoreError> + Send + Sync;

#[derive(Clone)]
struct Summaries(Arc<SummaryFn>);

impl std::fmt::Debug for Summaries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Summaries")
    }
}

#[derive(Debug, Default)]
struct State {
    /// The authenticated user behind each joined peer.
    peers: HashMap<PeerId, Arc<Principal>>,
    /// Actor ids committed to the store, and their users.
    actors: HashMap<ActorId, String>,
    /// Documents the relay rewrote (`migrate personal-data`), with the
    /// root change of their new history.
    rewritten: HashMap<DocumentId, automerge::ChangeHash>,
    /// Actor ids first seen this round: committed with the round's batch,
    /// forgotten if that commit fails.
    pending: HashMap<ActorId, String>,
    /// The grid of each document checked this round, for the audit (a
    /// refused new document is gone from memory by then).
    grids: HashMap<DocumentId, GridCode>,
    /// Reporter and grid of each ticket accepted this round and not yet
    /// committed (its private document may arrive in the same round).
    tickets: HashMap<TicketId, (String, Option<GridCode>)>,
}

/// What the policy needs to know of a document.
#[derive(Debug, PartialEq)]
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

/// What a change makes of a document that was a `kind`, if it is not
/// still a `kind` of a schema major the relay reads: another type, no
/// type, or a newer major. Checked before anything else, since every later
/// check (history above all) places the document by its type.
fn retyped(kind: DocType, after: &Automerge) -> Option<String> {
    use client_core::clip::clip;
    match schema::doc_type(after) {
        Ok(Some(k)) if k == kind => None,
        Ok(Some(k)) => Some(format!("a `{}`", k.as_str())),
        Ok(None) => Some(match schema::read_str(after, &ROOT, schema::DOC_TYPE) {
            Some(t) => format!("a document of unknown type `{}`", clip(&t)),
            None => "a document without a `doc_type`".into(),
        }),
        Err(schema::SchemaError::NewerMajor { found }) => Some(format!(
            "a document of schema `{}`, a major the relay does not read",
            clip(&found)
        )),
        Err(e) => Some(clip(&e.to_string()).into_owned()),
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

/// A document with no operations at all holds nothing to protect: one held
/// in memory while a new document's first sync message is answered, or one
/// a client created with an empty change and fills in with its next one
/// (the JS automerge-repo client does so). Whoever may create documents
/// may create and read it; its first content is checked like a new
/// document's. A document whose content was deleted is not blank: its
/// history still holds the content, so it stays placed where it was.
fn is_blank(doc: &Automerge) -> bool {
    use automerge::ReadDoc as _;
    doc.stats().num_ops == 0
}

/// Empty changes a blank document may gather before it has content.
const BLANK_MAX_CHANGES: u64 = 16;
/// Operations a document without a GridSync `doc_type` may hold (a JS
/// client's scratch document), unless an admin writes it.
const UNTYPED_MAX_OPS: u64 = 10_000;

/// Whether `p`'s role creates documents (and so may hold blank ones).
fn creates_documents(p: &Principal) -> Result<(), WriteRefusal> {
    match p.role {
        Role::Reviewer => Err(WriteRefusal::Reviewer),
        Role::Unit => Err(WriteRefusal::UnitCreates),
        Role::Worker | Role::Supervisor | Role::Admin => Ok(()),
    }
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
        let mut rewritten = Vec::new();
        match tx.open_table(REWRITTEN) {
            Ok(t) => {
                for entry in t.iter()? {
                    let (k, v) = entry?;
                    rewritten.push((k.value().to_vec(), v.value().to_vec()));
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(Self {
            inner: Arc::new(Mutex::new(State {
                actors,
                rewritten: crate::migrate::decode_rewritten(rewritten),
                ..State::default()
            })),
            open,
            summaries: None,
        })
    }

    /// Reads stored tickets' summaries with `summary` (the relay's store),
    /// to check a new private document against its ticket's reporter.
    pub(crate) fn with_summaries(
        mut self,
        summary: impl Fn(&DocumentId) -> Result<Option<TicketSummary>, StoreError>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.summaries = Some(Summaries(Arc::new(summary)));
        self
    }

    /// The reporter and grid of a ticket, as accepted this round or stored;
    /// `None` if the relay does not hold it.
    fn reporter(
        &self,
        ticket: TicketId,
    ) -> Result<Option<(String, Option<GridCode>)>, WriteRefusal> {
        if let Some(known) = self.state().tickets.get(&ticket) {
            return Ok(Some(known.clone()));
        }
        let Some(summaries) = &self.summaries else {
            return Ok(None);
        };
        match (summaries.0)(&ticket.document_id()) {
            Ok(summary) => Ok(summary.map(|s| (s.created_by, Some(s.grid)))),
            Err(e) => {
                tracing::warn!(%ticket, error = %e, "could not read a ticket's summary for a private document");
                Err(WriteRefusal::StoreUnreadable { ticket })
            }
        }
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

    /// The user an Automerge actor id is registered to, if any (committed
    /// or pending this round).
    pub(crate) fn owner_of(&self, actor: &ActorId) -> Option<String> {
        let state = self.state();
        state
            .actors
            .get(actor)
            .or(state.pending.get(actor))
            .cloned()
    }

    /// `actor` was committed to the store as `user`'s (by a write of the
    /// records API, which registers its actor in its own commit).
    pub(crate) fn registered(&self, actor: ActorId, user: String) {
        self.state().actors.insert(actor, user);
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
        state.tickets.clear();
    }

    fn note_grid(&self, doc: &DocumentId, grid: Option<&GridCode>) {
        if let Some(grid) = grid {
            self.state().grids.insert(*doc, grid.clone());
        }
    }
}

/// Whether `p` may read the stored document `doc` at `id`: the answer
/// the sync gives, asked by the blob routes of each ticket referencing a
/// photo.
pub(crate) fn may_read_stored(p: &Principal, id: &DocumentId, doc: &Automerge) -> bool {
    may_read(p, id, doc, &Placed::of(doc))
}

/// Whether `p` may add to the ticket `doc` at `id` (attach a photo): a
/// ticket it may read, and may write as the sync judges a change to it.
pub(crate) fn may_attach(p: &Principal, id: &DocumentId, doc: &Automerge) -> bool {
    let placed = Placed::of(doc);
    placed.kind == Some(DocType::Ticket)
        && may_read(p, id, doc, &placed)
        && may_write(p, id, Some((doc, &placed)), doc, &placed).is_ok()
}

/// Whether `p` may see a document placed at `placed`.
fn may_read(p: &Principal, id: &DocumentId, doc: &Automerge, placed: &Placed) -> bool {
    if p.role == Role::Admin || *id == Catalog::document_id() {
        // Only the relay writes the catalog; every role reads it.
        return true;
    }
    if is_blank(doc) {
        return creates_documents(p).is_ok();
    }
    let Some(grid) = &placed.grid else {
        return false;
    };
    if placed.kind == Some(DocType::TicketPrivate) {
        let reporter = schema::read_str(doc, &ROOT, "created_by");
        return may_read_contact(p, grid, reporter.as_deref());
    }
    match placed.kind {
        Some(DocType::Ticket) => may_read_ticket(p, grid, || dispatched_to(id, doc)),
        // A grid index lists ids only: units read their scope's, to find
        // their tickets.
        Some(DocType::GridIndex) => p.grids.contains(grid),
        _ if p.role == Role::Unit => false,
        _ => p.grids.contains(grid),
    }
}

/// Whether `p` may see the resident's contact of a ticket of `grid`
/// reported by `reporter`: admins, the grid's supervisors and the reporter;
/// never units, reviewers or other workers. The one decision for a private
/// document (sync) and for the contact shown by the records API.
pub(crate) fn may_read_contact(p: &Principal, grid: &GridCode, reporter: Option<&str>) -> bool {
    match p.role {
        Role::Admin => true,
        Role::Unit | Role::Reviewer => false,
        Role::Supervisor if p.grids.contains(grid) => true,
        Role::Worker | Role::Supervisor => reporter == Some(p.user.as_str()),
    }
}

/// Whether `p` may see the stored document `doc`: the hub's read
/// decision, for the records API (which has a principal, not a peer).
pub(crate) fn may_read_document(p: &Principal, id: &DocumentId, doc: &Automerge) -> bool {
    may_read(p, id, doc, &Placed::of(doc))
}

/// Whether the stored `doc` is a ticket `p` reported: the one document a
/// new-ticket request may name by its id again (a retry of `p`'s report,
/// answered with the ticket as it stands).
pub(crate) fn reported_by(p: &Principal, doc: &Automerge) -> bool {
    Placed::of(doc).kind == Some(DocType::Ticket)
        && schema::read_str(doc, &ROOT, "created_by").as_deref() == Some(p.user.as_str())
}

/// Whether `p` may see a ticket of `grid` that is now dispatched to
/// `unit()` (asked only of units): the one read decision for tickets,
/// made from a document by the hub ([`Access::may_read`]) and from a
/// [`TicketSummary`] by the records API ([`may_read_summary`]).
fn may_read_ticket(p: &Principal, grid: &GridCode, unit: impl FnOnce() -> Option<String>) -> bool {
    match p.role {
        Role::Admin => true,
        Role::Unit => unit().as_deref() == Some(p.user.as_str()),
        _ => p.grids.contains(grid),
    }
}

/// Whether `p` may see the ticket `s` summarises: the same decision the
/// hub makes from the document, made from the summary index alone.
pub(crate) fn may_read_summary(p: &Principal, s: &TicketSummary) -> bool {
    may_read_ticket(p, &s.grid, || s.unit.clone())
}

/// Whether `p` may change the stored ticket `doc` (it stays where it is):
/// the policy's write decision, asked by the records API before it acts
/// as `p`. Reviewers change nothing; units only tickets dispatched to them.
pub(crate) fn may_change_ticket(
    p: &Principal,
    id: &DocumentId,
    doc: &Automerge,
) -> Result<(), WriteRefusal> {
    let placed = Placed::of(doc);
    may_write(p, id, Some((doc, &placed)), doc, &placed)
}

/// Whether `p` may change a document from `before` (`None`: new) to
/// `after`, judged by where the document sits.
fn may_write(
    p: &Principal,
    id: &DocumentId,
    before: Option<(&Automerge, &Placed)>,
    after: &Automerge,
    placed: &Placed,
) -> Result<(), WriteRefusal> {
    if p.role == Role::Reviewer {
        return Err(WriteRefusal::Reviewer);
    }
    if id.is_name_derived()
        && !matches!(
            placed.kind,
            Some(DocType::GridIndex | DocType::VisitLog | DocType::TicketPrivate)
        )
    {
        return Err(WriteRefusal::SquattedId {
            id: *id,
            found: placed
                .kind
                .map_or("document without a GridSync type", |k| k.as_str()),
        });
    }
    if placed.kind.is_none() && p.role != Role::Admin {
        use automerge::ReadDoc as _;
        let ops = after.stats().num_ops;
        if ops > UNTYPED_MAX_OPS {
            return Err(WriteRefusal::UntypedTooLarge {
                ops,
                max: UNTYPED_MAX_OPS,
            });
        }
    }
    let grid = match (&placed.grid, p.role) {
        (Some(g), _) => g,
        (None, Role::Admin) => return Ok(()),
        (None, _) => return Err(WriteRefusal::NoGrid),
    };
    if let Some((_, b)) = before
        && let Some(old) = &b.grid
        && old != grid
    {
        return Err(WriteRefusal::MovesGrid {
            from: old.clone(),
            to: grid.clone(),
        });
    }
    match placed.kind {
        Some(DocType::GridIndex) if grid.index_document_id() != *id => {
            return Err(WriteRefusal::NotTheGridIndex {
                id: *id,
                grid: grid.clone(),
                expected: grid.index_document_id(),
            });
        }
        Some(DocType::VisitLog) => {
            let key = visit::VisitLogKey {
                grid: grid.clone(),
                worker: schema::read_str(after, &ROOT, "worker").unwrap_or_default(),
                date: schema::read_str(after, &ROOT, "date").unwrap_or_default(),
            };
            if key.document_id() != *id {
                return Err(WriteRefusal::NotTheVisitLog {
                    id: *id,
                    worker: key.worker,
                    date: key.date,
                    grid: grid.clone(),
                });
            }
            if before.is_none() && p.role != Role::Admin && key.worker != p.user {
                return Err(WriteRefusal::AnothersVisitLog {
                    worker: key.worker,
                    user: p.user.clone(),
                });
            }
        }
        Some(DocType::TicketPrivate) => {
            let ticket = schema::read_str(after, &ROOT, "ticket").unwrap_or_default();
            let expected = ticket
                .parse::<TicketId>()
                .ok()
                .map(|t| t.private_document_id());
            if expected != Some(*id) {
                return Err(WriteRefusal::NotThePrivateDocument {
                    id: *id,
                    expected: expected.unwrap_or(*id),
                    ticket,
                });
            }
            let reporter = before
                .and_then(|(b, _)| schema::read_str(b, &ROOT, "created_by"))
                .or_else(|| schema::read_str(after, &ROOT, "created_by"))
                .unwrap_or_default();
            if p.role == Role::Worker && reporter != p.user {
                return Err(WriteRefusal::PrivateNotYours {
                    ticket,
                    reporter,
                    user: p.user.clone(),
                });
            }
        }
        _ => {}
    }
    match p.role {
        Role::Admin => Ok(()),
        Role::Unit => {
            let Some((doc, b)) = before else {
                return Err(WriteRefusal::UnitCreates);
            };
            let mine = b.kind == Some(DocType::Ticket)
                && dispatched_to(id, doc).as_deref() == Some(p.user.as_str());
            if mine {
                Ok(())
            } else {
                Err(WriteRefusal::NotDispatchedToUnit {
                    id: *id,
                    user: p.user.clone(),
                })
            }
        }
        _ if p.grids.contains(grid) => Ok(()),
        _ => Err(WriteRefusal::OutOfScope {
            grid: grid.clone(),
            user: p.user.clone(),
            scope: p.scope.to_string(),
        }),
    }
}

/// The first root key `changes` put (or make an object at, or edit an
/// object under) that `reserved` picks, if any. Deleting such a key is not
/// writing it. One pass over the new changes' operations.
fn writes_root_key(
    after: &Automerge,
    changes: &[Change],
    reserved: impl Fn(&str) -> bool,
    objects_of: &[&str],
) -> Option<String> {
    use automerge::ReadDoc as _;
    use automerge::legacy::{Key, ObjectId, OpType};
    // Objects (a JS text) held at the picked keys: editing them writes the key.
    let held: HashSet<String> = objects_of
        .iter()
        .flat_map(|key| after.get_all(ROOT, *key).unwrap_or_default())
        .filter(|(value, _)| value.is_object())
        .map(|(_, obj)| obj.to_string())
        .collect();
    for change in changes {
        for op in change.decode().operations {
            match (&op.obj, &op.key) {
                (ObjectId::Root, Key::Map(key))
                    if !matches!(op.action, OpType::Delete) && reserved(key) =>
                {
                    return Some(key.to_string());
                }
                (ObjectId::Id(obj), _) if !held.is_empty() => {
                    let obj = format!("{}@{}", obj.0, obj.1);
                    if held.contains(&obj) {
                        let key = objects_of
                            .iter()
                            .find(|k| {
                                after
                                    .get_all(ROOT, **k)
                                    .unwrap_or_default()
                                    .iter()
                                    .any(|(_, id)| id.to_string() == obj)
                            })
                            .copied()
                            .unwrap_or_default();
                        return Some(key.to_owned());
                    }
                }
                _ => {}
            }
        }
    }
    None
}

/// Refuses changes that write a resident's contact into a ticket (one
/// that is or was a ticket); returns whether it was one. Checked on an
/// open relay too: a contact stored while nobody logs in would reach units
/// and reviewers once users exist.
fn no_contact_in_ticket(
    id: &DocumentId,
    before: Option<&Automerge>,
    after: &Automerge,
    changes: &[Change],
    placed: &Placed,
) -> Result<bool, WriteRefusal> {
    let was_ticket =
        before.is_some_and(|b| matches!(schema::doc_type(b), Ok(Some(DocType::Ticket))));
    if placed.kind == Some(DocType::Ticket) || was_ticket {
        let contact = ticket_private::CONTACT_KEYS;
        if let Some(key) = writes_root_key(after, changes, |k| contact.contains(&k), &contact) {
            let key = contact
                .into_iter()
                .find(|c| *c == key)
                .unwrap_or(contact[0]);
            return Err(WriteRefusal::ContactInTicket {
                key,
                private: TicketId::from_document_id(id).private_document_id(),
            });
        }
    }
    Ok(was_ticket)
}

impl Policy {
    /// Checks that the new changes only add to what was recorded (events,
    /// comments and visits are append-only and immutable, and a ticket
    /// keeps its creator), that what they add was recorded by `p`, and
    /// that personal data stays in private documents.
    fn check_records(
        &self,
        p: &Principal,
        id: &DocumentId,
        before: Option<&Automerge>,
        after: &Automerge,
        changes: &[Change],
        placed: &Placed,
    ) -> Result<(), WriteRefusal> {
        let was_ticket = no_contact_in_ticket(id, before, after, changes, placed)?;
        if was_ticket {
            // Whatever the change makes of it (the type check refuses a
            // retyped document before this; this is the second guard).
            return self.check_ticket(p, id, before, after);
        }
        match placed.kind {
            Some(DocType::Ticket) => self.check_ticket(p, id, before, after),
            Some(DocType::TicketPrivate) => self.check_private(p, before, after),
            Some(DocType::GridIndex) => {
                let prefix = grid_index::REWRITTEN_PREFIX;
                match writes_root_key(after, changes, |k| k.starts_with(prefix), &[]) {
                    Some(key) => Err(WriteRefusal::RelayOnlyKey { key }),
                    None => Ok(()),
                }
            }
            Some(DocType::VisitLog) => check_visits(p, before, after),
            // Refused before this check: no client writes a catalog.
            Some(DocType::Catalog) | None => Ok(()),
        }
    }

    /// A private document keeps its ticket, grid and reporter, holds only
    /// the contact fields, and never loses one; a new one names the
    /// ticket's reporter (or its sender, for a ticket the relay lacks).
    fn check_private(
        &self,
        p: &Principal,
        before: Option<&Automerge>,
        after: &Automerge,
    ) -> Result<(), WriteRefusal> {
        use automerge::ReadDoc as _;
        if let Some(key) = after
            .keys(ROOT)
            .find(|k| !ticket_private::KEYS.contains(&k.as_str()))
        {
            return Err(WriteRefusal::PrivateContent { key, how: "added" });
        }
        let Ok(now) = ticket_private::read(after) else {
            return Ok(());
        };
        if let Some(before) = before {
            let Ok(old) = ticket_private::read(before) else {
                return Ok(());
            };
            let fixed = [
                ("ticket", old.ticket != now.ticket),
                ("grid", old.grid != now.grid),
                ("created_by", old.created_by != now.created_by),
            ];
            if let Some((key, _)) = fixed.into_iter().find(|(_, changed)| *changed) {
                return Err(WriteRefusal::PrivateContent {
                    key: key.into(),
                    how: "changed",
                });
            }
            let lost = [
                (
                    "resident_name",
                    old.resident.name.is_some() && now.resident.name.is_none(),
                ),
                (
                    "resident_phone",
                    old.resident.phone.is_some() && now.resident.phone.is_none(),
                ),
            ];
            if let Some((key, _)) = lost.into_iter().find(|(_, lost)| *lost) {
                return Err(WriteRefusal::PrivateContent {
                    key: key.into(),
                    how: "deleted",
                });
            }
            return Ok(());
        }
        let Some(ticket) = now.ticket else {
            return Ok(()); // `may_write` refused it already
        };
        let misplaced = |reporter: String, grid: String| WriteRefusal::PrivateMisplaced {
            ticket,
            reporter,
            grid,
            claimed: now.created_by.clone(),
        };
        let (reporter, grid) = match self.reporter(ticket)? {
            Some((reporter, grid)) => (reporter, grid.or_else(|| now.grid.clone())),
            None => (p.user.clone(), now.grid.clone()),
        };
        if now.created_by != reporter || grid != now.grid {
            let grid = grid.map(|g| g.to_string()).unwrap_or_default();
            return Err(misplaced(reporter, grid));
        }
        Ok(())
    }

    fn check_ticket(
        &self,
        p: &Principal,
        id: &DocumentId,
        before: Option<&Automerge>,
        after: &Automerge,
    ) -> Result<(), WriteRefusal> {
        {
            let tid = TicketId::from_document_id(id);
            let old = before.and_then(|b| ticket::read(b, tid).ok());
            let now = match ticket::read(after, tid) {
                Ok(now) => now,
                // A copy the relay could read must stay readable (the type
                // check refuses the ways known to break it).
                Err(e) if old.is_some() => {
                    return Err(WriteRefusal::LeftUnreadable {
                        what: "ticket",
                        why: client_core::clip::clip(&e.to_string()).into_owned(),
                    });
                }
                // Never readable (a newer schema): the fold will not read it either.
                Err(_) => return Ok(()),
            };
            match &old {
                None if !now.created_by.is_empty() && now.created_by != p.user => {
                    return Err(WriteRefusal::ForgedCreator {
                        claimed: now.created_by,
                        user: p.user.clone(),
                    });
                }
                Some(old) if !old.created_by.is_empty() && old.created_by != now.created_by => {
                    return Err(WriteRefusal::CreatorRewritten {
                        from: old.created_by.clone(),
                        to: now.created_by,
                    });
                }
                _ => {}
            }
            let readable = |t: &ticket::Ticket| -> Vec<Event> {
                t.events
                    .iter()
                    .filter_map(|e| e.as_ref().ok())
                    .cloned()
                    .collect()
            };
            let old_events = old.as_ref().map(readable).unwrap_or_default();
            let known = append_only("lifecycle event", &old_events, &readable(&now), |e| e.id)?;
            for ev in now.events.iter().filter_map(|e| e.as_ref().ok()) {
                if known.contains(&ev.id) {
                    continue;
                }
                if ev.actor != p.user || ev.role != p.role {
                    return Err(WriteRefusal::ForgedEvent {
                        action: ev.to.to_string(),
                        actor: ev.actor.clone(),
                        role: ev.role,
                        user: p.user.clone(),
                        user_role: p.role,
                    });
                }
            }
            let old_comments = old
                .as_ref()
                .map(|t| t.comments.as_slice())
                .unwrap_or_default();
            let known = append_only("comment", old_comments, &now.comments, |c| c.id)?;
            for c in now.comments.iter().filter(|c| !known.contains(&c.id)) {
                if c.author != p.user {
                    return Err(WriteRefusal::ForgedEntry {
                        what: "comment",
                        field: "author",
                        named: c.author.clone(),
                        user: p.user.clone(),
                    });
                }
            }
            self.state()
                .tickets
                .insert(tid, (now.created_by.clone(), now.grid.clone()));
            Ok(())
        }
    }
}

/// Visits are append-only, and a new one names its sender.
fn check_visits(
    p: &Principal,
    before: Option<&Automerge>,
    after: &Automerge,
) -> Result<(), WriteRefusal> {
    {
        let old = before.and_then(|b| visit::read(b).ok()).map(|(v, _)| v);
        let now = match visit::read(after) {
            Ok((now, _)) => now,
            Err(e) if old.is_some() => {
                return Err(WriteRefusal::LeftUnreadable {
                    what: "visit log",
                    why: client_core::clip::clip(&e.to_string()).into_owned(),
                });
            }
            Err(_) => return Ok(()),
        };
        let old = old.unwrap_or_default();
        let known = append_only("visit", &old, &now, |v| v.id)?;
        for v in now.iter().filter(|v| !known.contains(&v.id)) {
            if v.worker != p.user {
                return Err(WriteRefusal::ForgedEntry {
                    what: "visit",
                    field: "worker",
                    named: v.worker.clone(),
                    user: p.user.clone(),
                });
            }
        }
        Ok(())
    }
}

/// Checks that `now` keeps every entry of `old` unchanged and uses each
/// id once; returns the ids of `old` (the entries not new in `now`).
fn append_only<T: PartialEq, K: std::hash::Hash + Eq + std::fmt::Display + Copy>(
    what: &'static str,
    old: &[T],
    now: &[T],
    id: impl Fn(&T) -> K,
) -> Result<HashSet<K>, WriteRefusal> {
    let rewritten = |k: K, how| WriteRefusal::HistoryRewritten {
        what,
        id: k.to_string(),
        how,
    };
    let mut current: HashMap<K, &T> = HashMap::with_capacity(now.len());
    for entry in now {
        if current.insert(id(entry), entry).is_some() {
            return Err(rewritten(id(entry), "recorded twice under one id"));
        }
    }
    let mut known = HashSet::with_capacity(old.len());
    for entry in old {
        let k = id(entry);
        match current.get(&k) {
            None => return Err(rewritten(k, "deleted")),
            Some(e) if *e != entry => return Err(rewritten(k, "edited")),
            Some(_) => {}
        }
        known.insert(k);
    }
    Ok(known)
}

impl Access for Policy {
    fn may_read(&self, peer: &PeerId, id: &DocumentId, doc: &Automerge) -> bool {
        if self.is_open() {
            return true;
        }
        let Some(p) = self.principal(peer) else {
            return false;
        };
        let placed = Placed::of(doc);
        self.note_grid(id, placed.grid.as_ref());
        may_read(&p, id, doc, &placed)
    }

    fn checks_reads(&self) -> bool {
        !self.is_open()
    }

    fn checks_writes(&self) -> bool {
        // Even an open relay keeps retired history out of rewritten
        // documents and residents' contacts out of tickets.
        true
    }

    fn check_write(
        &self,
        peer: &PeerId,
        id: &DocumentId,
        before: Option<&Automerge>,
        after: &Automerge,
        changes: &[Change],
    ) -> Result<(), Refusal> {
        self.check_changes(peer, id, before, after, changes)
            .map_err(Refusal::new)
    }
}

impl Policy {
    fn check_changes(
        &self,
        peer: &PeerId,
        id: &DocumentId,
        before: Option<&Automerge>,
        after: &Automerge,
        changes: &[Change],
    ) -> Result<(), WriteRefusal> {
        let root = self.state().rewritten.get(id).copied();
        if let Some(root) = root {
            // Every retired change descends from an old root (no deps).
            if let Some(retired) = changes
                .iter()
                .find(|c| c.deps().is_empty() && c.hash() != root)
            {
                return Err(WriteRefusal::RetiredHistory {
                    id: *id,
                    change: retired.hash().to_string(),
                });
            }
        }
        if self.is_open() {
            let placed = Placed::of(after);
            no_contact_in_ticket(id, before.filter(|b| !is_blank(b)), after, changes, &placed)?;
            return Ok(());
        }
        let Some(p) = self.principal(peer) else {
            return Err(WriteRefusal::NotLoggedIn);
        };
        let placed = Placed::of(after);
        let catalog = Catalog::document_id();
        if *id == catalog {
            return Err(WriteRefusal::CatalogIsTheRelays { id: *id });
        }
        if placed.kind == Some(DocType::Catalog) {
            return Err(WriteRefusal::CatalogElsewhere {
                id: *id,
                expected: catalog,
            });
        }
        let before = before.filter(|b| !is_blank(b));
        let placed_before = before.map(Placed::of);
        if let Some(from) = placed_before.as_ref().and_then(|b| b.kind)
            && let Some(to) = retyped(from, after)
        {
            return Err(WriteRefusal::Retyped {
                id: *id,
                from: from.as_str(),
                to,
            });
        }
        self.note_grid(
            id,
            placed
                .grid
                .as_ref()
                .or(placed_before.as_ref().and_then(|b| b.grid.as_ref())),
        );
        if before.is_none() && is_blank(after) {
            creates_documents(&p)?;
            use automerge::ReadDoc as _;
            let changes = after.stats().num_changes;
            if changes > BLANK_MAX_CHANGES {
                return Err(WriteRefusal::BlankTooLarge {
                    changes,
                    max: BLANK_MAX_CHANGES,
                });
            }
        } else {
            may_write(&p, id, before.zip(placed_before.as_ref()), after, &placed)?;
        }
        let mut fresh = Vec::new();
        {
            let state = self.state();
            for change in changes {
                let actor = change.actor_id();
                match state.actors.get(actor).or(state.pending.get(actor)) {
                    Some(owner) if *owner != p.user => {
                        return Err(WriteRefusal::ForgedActor {
                            change: change.hash().to_string(),
                            actor: actor.to_string(),
                        });
                    }
                    Some(_) => {}
                    None => fresh.push(actor.clone()),
                }
            }
        }
        self.check_records(&p, id, before, after, changes, &placed)?;
        let mut state = self.state();
        for actor in fresh {
            state.pending.insert(actor, p.user.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable as _;
    use client_core::model::lifecycle::Action;

    fn worker() -> Principal {
        Principal {
            user: "wang".into(),
            role: Role::Worker,
            scope: "grids:G-01".parse().unwrap(),
            grids: [GridCode::new("G-01").unwrap()].into(),
            token_id: String::new(),
            credential: crate::auth::Credential::Token {
                hash: String::new(),
            },
            generation: 0,
        }
    }

    fn policy() -> Policy {
        Policy {
            inner: Arc::default(),
            open: Arc::default(),
            summaries: None,
        }
    }

    /// A ticket `wang` reported, and a change to it that rewrites the
    /// reported event's actor and does `also`.
    fn rewritten(
        also: impl FnOnce(&mut automerge::transaction::Transaction<'_>),
    ) -> (DocumentId, Automerge, Automerge, Vec<Change>) {
        let id = TicketId::random();
        let mut before = Automerge::new();
        before
            .transact::<_, _, automerge::AutomergeError>(|tx| {
                schema::write_header(tx, DocType::Ticket)?;
                tx.put(ROOT, "grid", "G-01")?;
                tx.put(ROOT, "created_by", "wang")?;
                let ev = Event::new(None, Action::Reported, "wang", Role::Worker, 1);
                ticket::append_event(tx, &ev)
            })
            .unwrap();
        let mut after = before.fork();
        let heads = before.get_heads();
        after
            .transact::<_, _, automerge::AutomergeError>(|tx| {
                use automerge::ReadDoc as _;
                let (_, events) = tx.get(ROOT, "events")?.unwrap();
                let (_, first) = tx.get(&events, 0)?.unwrap();
                tx.put(&first, "actor", "liu")?;
                also(tx);
                Ok(())
            })
            .unwrap();
        let changes = after.get_changes(&heads);
        (id.document_id(), before, after, changes)
    }

    #[test]
    fn the_ticket_check_refuses_a_ticket_it_could_read_before_but_not_after() {
        let (id, before, after, changes) = rewritten(|tx| {
            tx.put(ROOT, schema::SCHEMA, "2.0").unwrap();
        });
        let placed = Placed::of(&after);
        assert_eq!(
            placed.kind, None,
            "placed as untyped, as the type check sees it"
        );
        let why = policy()
            .check_records(&worker(), &id, Some(&before), &after, &changes, &placed)
            .unwrap_err();
        assert!(
            matches!(why, WriteRefusal::LeftUnreadable { what: "ticket", .. }),
            "{why}"
        );
    }

    #[test]
    fn the_history_check_still_runs_on_a_ticket_whose_doc_type_was_deleted() {
        let (id, before, after, changes) = rewritten(|tx| {
            tx.delete(ROOT, schema::DOC_TYPE).unwrap();
        });
        let why = policy()
            .check_records(
                &worker(),
                &id,
                Some(&before),
                &after,
                &changes,
                &Placed::of(&after),
            )
            .unwrap_err();
        assert!(
            matches!(why, WriteRefusal::HistoryRewritten { how: "edited", .. }),
            "{why}"
        );
    }
}
