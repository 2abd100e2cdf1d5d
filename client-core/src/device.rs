//! One device: its identity and the operations a person performs on it.
//!
//! Everything here works offline. Each operation is one storage batch, so a
//! ticket and the grid-index entry that makes it discoverable are written
//! together, and the call returns only once the batch is committed.

use std::collections::BTreeSet;

use automerge::ActorId;
use serde::{Deserialize, Serialize};

use crate::ids::{DocumentId, EventId, GridCode, TicketId, VisitId};
use crate::model::catalog::{self, Catalog, Category, TimeLimit};
use crate::model::grid_index;
use crate::model::lifecycle::{
    self, Action, CloseReason, ConflictReason, Event, Rating, Role, Status,
};
use crate::model::limits::{LimitError, Limits};
use crate::model::summary::TicketSummary;
use crate::model::ticket::{self, Comment, NewTicket, Photo, Ticket, Urgency};
use crate::model::ticket_private;
use crate::model::visit::{self, Visit, VisitLogKey};
use crate::repo::{Repo, RepoError};
use crate::store::{Batch, Listing, Store, meta};

/// Who this device acts as. Stored in the local database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Login name; recorded as the actor of events.
    pub user: String,
    pub role: Role,
    pub grids: Vec<GridCode>,
    /// Hex Automerge actor id of this device.
    pub actor: String,
}

impl Identity {
    pub fn new(user: impl Into<String>, role: Role, grids: Vec<GridCode>) -> Self {
        Self {
            user: user.into(),
            role,
            grids,
            actor: ActorId::random().to_hex_string(),
        }
    }

    /// The device's Automerge actor. An `actor` that is not hex is an
    /// error, never replaced: a stand-in actor would sign this device's
    /// changes as someone the relay does not know.
    pub fn actor_id(&self) -> Result<ActorId, IdentityError> {
        ActorId::try_from(self.actor.as_str()).map_err(|cause| IdentityError::Actor {
            actor: self.actor.clone(),
            cause,
        })
    }
}

/// Why an [`Identity`] cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("it is not an identity record: {0}")]
    Json(serde_json::Error),
    /// `cause` only repeats `actor`, so the message leaves it out.
    #[error("its actor `{actor}` is not a hex Automerge actor id")]
    Actor {
        actor: String,
        cause: automerge::error::InvalidActorId,
    },
}

/// Why a device operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error(
        "this data directory has no identity yet; run `gridsync init --user NAME --role ROLE --grid CODE` first"
    )]
    NotInitialized,
    #[error("this data directory is already set up for `{user}`; use another --data directory")]
    AlreadyInitialized { user: String },
    #[error(
        "no ticket {0} on this device; check the id with `gridsync ticket list`, or sync first"
    )]
    UnknownTicket(TicketId),
    #[error("grid {grid} is not one of yours ({mine}); ask an admin to add it")]
    ForbiddenGrid { grid: GridCode, mine: String },
    #[error("role `{0}` cannot do that: reviewers read and export, and write nothing")]
    ReadOnly(Role),
    #[error("cannot `{action}` ticket {ticket}: {reason}")]
    Transition {
        ticket: TicketId,
        action: Action,
        reason: ConflictReason,
    },
    /// `handled` on a ticket whose category (in the device's catalog)
    /// requires after-photos (处置后照片) and that lists none: a check of
    /// the device, like the dispatch deadline, never part of the fold.
    #[error(
        "cannot `handled` ticket {ticket} (after_photos_required): category {category} ({name}) \
         needs a photo after the work (处置后照片) and the ticket has none; attach one with \
         `gridsync ticket photo add {ticket} FILE --phase after`, then mark it handled again"
    )]
    AfterPhotosRequired {
        ticket: TicketId,
        category: String,
        name: String,
    },
    /// `urged` on a ticket that is neither overdue nor nearly due (the
    /// last quarter of the working time from its latest dispatch to its
    /// deadline, [`urgeable_from`]); `from` is `None` for a ticket without
    /// a deadline. A check of the acting device, like the after-photos:
    /// the fold reads no clock.
    #[error(
        "cannot `urged` ticket {ticket} (not_nearly_due): urging (督办) is for an overdue or \
         nearly due ticket; {}",
        urge_window_text(*due_at, *from)
    )]
    NotNearlyDue {
        ticket: TicketId,
        due_at: Option<i64>,
        from: Option<i64>,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("the stored identity is unreadable ({0}); the database may be damaged")]
    BadIdentity(IdentityError),
    /// An identity given to [`Device::init`] or [`Device::set_identity`].
    #[error("this identity cannot be stored ({0}); make it with `Identity::new`")]
    InvalidIdentity(IdentityError),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// The reason code of [`DeviceError::AfterPhotosRequired`], named like the
/// lifecycle's refusals (`wrong_state`, `missing_field`): the records API
/// answers it with 409, and the field app refuses with the same name.
pub const AFTER_PHOTOS_REQUIRED: &str = "after_photos_required";

/// The reason code of [`DeviceError::NotNearlyDue`] (409 from the records
/// API).
pub const NOT_NEARLY_DUE: &str = "not_nearly_due";

fn urge_window_text(due_at: Option<i64>, from: Option<i64>) -> String {
    let local = |ms: i64| {
        let offset = chrono::FixedOffset::east_opt(8 * 3600).expect("+08:00");
        chrono::DateTime::from_timestamp_millis(ms).map_or(ms.to_string(), |t| {
            t.with_timezone(&offset)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
    };
    match (due_at, from) {
        (Some(due), Some(from)) => format!(
            "it is due {} and may be urged from {} (the last quarter of its time limit)",
            local(due),
            local(from)
        ),
        _ => "it has no deadline yet: dispatch it first".to_owned(),
    }
}

impl DeviceError {
    /// The machine code of a refusal a person can act on, for the ones
    /// that are not lifecycle conflicts: [`AFTER_PHOTOS_REQUIRED`].
    pub fn reason_code(&self) -> Option<&'static str> {
        match self {
            DeviceError::AfterPhotosRequired { .. } => Some(AFTER_PHOTOS_REQUIRED),
            DeviceError::NotNearlyDue { .. } => Some(NOT_NEARLY_DUE),
            _ => None,
        }
    }
}

impl From<crate::store::StoreError> for DeviceError {
    fn from(e: crate::store::StoreError) -> Self {
        DeviceError::Repo(RepoError::Store(e))
    }
}

/// What a person adds to a lifecycle action.
#[derive(Clone, Debug, Default)]
pub struct EventInput {
    pub note: Option<String>,
    pub unit: Option<String>,
    pub due_at: Option<i64>,
    pub duplicate_of: Option<TicketId>,
    pub rating: Option<Rating>,
}

/// A ticket that needs this person's action.
#[derive(Clone, Debug, Serialize)]
pub struct TodoItem {
    pub ticket: TicketSummary,
    /// What this person can do next.
    pub actions: Vec<Action>,
    /// Why it is listed: `action`, `conflict`, `overdue`.
    pub why: &'static str,
}

/// A device: an identity over a repo.
#[derive(Debug)]
pub struct Device<S> {
    repo: Repo<S>,
    identity: Identity,
}

impl<S: Store> Device<S> {
    /// Sets up a new device in an empty store.
    pub fn init(store: S, identity: Identity) -> Result<Self, DeviceError> {
        if let Some(existing) = read_identity(&store)? {
            return Err(DeviceError::AlreadyInitialized {
                user: existing.user,
            });
        }
        let actor = identity.actor_id().map_err(DeviceError::InvalidIdentity)?;
        let mut batch = Batch::new();
        batch.put_meta(
            meta::IDENTITY,
            serde_json::to_vec(&identity).expect("identity serializes"),
        );
        store.write(batch)?;
        Ok(Self {
            repo: Repo::new(store, actor),
            identity,
        })
    }

    /// Opens a device set up earlier with [`Device::init`].
    pub fn open(store: S) -> Result<Self, DeviceError> {
        let identity = read_identity(&store)?.ok_or(DeviceError::NotInitialized)?;
        let actor = identity.actor_id().map_err(DeviceError::BadIdentity)?;
        Ok(Self {
            repo: Repo::new(store, actor),
            identity,
        })
    }

    /// A device acting as `identity` over `store` without storing the
    /// identity there: the relay acts for a logged-in person this way (its
    /// store holds everyone's documents, and no identity of its own).
    pub fn acting_as(store: S, identity: Identity) -> Result<Self, DeviceError> {
        let actor = identity.actor_id().map_err(DeviceError::InvalidIdentity)?;
        Ok(Self {
            repo: Repo::new(store, actor),
            identity,
        })
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    pub fn repo(&self) -> &Repo<S> {
        &self.repo
    }

    pub fn into_repo(self) -> Repo<S> {
        self.repo
    }

    /// Replaces the stored identity (after a login refreshed role or grids).
    pub fn set_identity(&mut self, identity: Identity) -> Result<(), DeviceError> {
        let actor = identity.actor_id().map_err(DeviceError::InvalidIdentity)?;
        let mut batch = Batch::new();
        batch.put_meta(
            meta::IDENTITY,
            serde_json::to_vec(&identity).expect("identity serializes"),
        );
        self.repo.commit(batch)?;
        self.repo.set_actor(actor);
        self.identity = identity;
        Ok(())
    }

    fn ensure_writer(&self) -> Result<(), DeviceError> {
        match self.identity.role {
            Role::Reviewer => Err(DeviceError::ReadOnly(Role::Reviewer)),
            _ => Ok(()),
        }
    }

    fn ensure_grid(&self, grid: &GridCode) -> Result<(), DeviceError> {
        if self.identity.grids.contains(grid) {
            Ok(())
        } else {
            Err(DeviceError::ForbiddenGrid {
                grid: grid.clone(),
                mine: self
                    .identity
                    .grids
                    .iter()
                    .map(GridCode::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        }
    }

    /// Whether [`Self::report`] would refuse `t` for who this device is or
    /// for what it holds, without writing anything: a caller that stores
    /// files the ticket will name (its photos) asks first, so a refused
    /// report leaves nothing behind.
    pub fn may_report(&self, t: &NewTicket, now: i64) -> Result<(), DeviceError> {
        self.ensure_writer()?;
        self.ensure_grid(&t.grid)?;
        if t.title.trim().is_empty() {
            return Err(DeviceError::Invalid(
                "a ticket needs a title (--title)".into(),
            ));
        }
        let event = Event::new(
            None,
            Action::Reported,
            &self.identity.user,
            self.identity.role,
            now,
        );
        lifecycle::check(&lifecycle::Folded::default(), &event).map_err(|reason| {
            DeviceError::Transition {
                ticket: t.id,
                action: Action::Reported,
                reason,
            }
        })
    }

    /// Records a new ticket and lists it in its grid's index. Re-sending the
    /// same ticket id writes nothing.
    pub fn report(&self, t: &NewTicket, now: i64) -> Result<TicketId, DeviceError> {
        self.may_report(t, now)?;
        let doc_id = t.id.document_id();
        if self.repo.store().load(&doc_id)?.is_some() {
            return Ok(t.id);
        }
        let (_, mut batch) = self.repo.edit(&doc_id, |tx| {
            ticket::create(tx, t, &self.identity.user, self.identity.role, now)
        })?;
        // The contact goes to the private document, in the same commit.
        let resident = t.resident.as_ref().filter(|r| !r.is_empty());
        if let Some(resident) = resident {
            let (_, private) = self.repo.edit(&t.id.private_document_id(), |tx| {
                ticket_private::create(tx, t.id, &t.grid, &self.identity.user, resident)
            })?;
            batch.extend(private);
        }
        let index_id = t.grid.index_document_id();
        let (_, index_batch) = self.repo.edit(&index_id, |tx| {
            grid_index::init(tx, &t.grid)?;
            grid_index::add_ticket(tx, t.id)?;
            if resident.is_some() {
                grid_index::add_private(tx, t.id)?;
            }
            Ok(())
        })?;
        batch.extend(index_batch);
        self.repo.commit(batch)?;
        Ok(t.id)
    }

    /// Reads a ticket this device holds.
    pub fn ticket(&self, id: TicketId) -> Result<Ticket, DeviceError> {
        self.repo.ticket(id)?.ok_or(DeviceError::UnknownTicket(id))
    }

    /// The category catalog as this device last received it from the
    /// relay; `None` before the first sync brought it.
    pub fn catalog(&self) -> Result<Option<Catalog>, DeviceError> {
        match self.repo.load(&Catalog::document_id())? {
            None => Ok(None),
            Some(doc) => Ok(catalog::read(&doc).map_err(RepoError::from)?),
        }
    }

    /// What the catalog on this device says about a category code.
    pub fn check_category(&self, code: &str) -> Result<CategoryCheck, DeviceError> {
        let Some(catalog) = self.catalog()? else {
            return Ok(CategoryCheck::NoCatalog);
        };
        Ok(match catalog.get(code) {
            Some(c) => CategoryCheck::Known(c.clone()),
            None => CategoryCheck::Unknown {
                version: catalog.version,
                nearest: catalog.nearest(code, 3).into_iter().cloned().collect(),
            },
        })
    }

    /// Which document limit the ticket's stored document breaks, if any: a
    /// document stored before the limits existed still reads (readers
    /// never descend past a ticket's layout), and this says what the relay
    /// would refuse in it.
    pub fn broken_limit(&self, id: TicketId) -> Result<Option<LimitError>, DeviceError> {
        let Some((doc, bytes)) = self.repo.load_sized(&id.document_id())? else {
            return Err(DeviceError::UnknownTicket(id));
        };
        Ok(Limits::DEFAULT
            .check_document(&doc, &doc.get_changes(&[]), bytes)
            .err())
    }

    /// Appends a lifecycle event after checking it against the lifecycle
    /// table, so a forbidden transition is refused here rather than stored
    /// as a conflict.
    pub fn act(
        &self,
        id: TicketId,
        action: Action,
        input: EventInput,
        now: i64,
    ) -> Result<Ticket, DeviceError> {
        self.ensure_writer()?;
        let doc_id = id.document_id();
        let mut doc = self
            .repo
            .load(&doc_id)?
            .ok_or(DeviceError::UnknownTicket(id))?;
        let current = ticket::read(&doc, id).map_err(RepoError::from)?;
        let mut ev = Event::new(
            current.state.status,
            action,
            &self.identity.user,
            self.identity.role,
            now,
        );
        ev.note = input.note.filter(|n| !n.trim().is_empty());
        ev.unit = input.unit;
        ev.rating = input.rating;
        match action {
            Action::Dispatched => {
                let catalog = self.catalog()?;
                let urgency = current.urgency.unwrap_or(Urgency::Normal);
                let deadline = dispatch_deadline(
                    catalog.as_ref(),
                    &current.category,
                    urgency,
                    input.due_at,
                    now,
                );
                ev.due_at = Some(deadline.due_at);
                ev.catalog_version = deadline.catalog_version;
                ev.time_limit = deadline.time_limit.map(|t| t.to_string());
            }
            Action::ExtensionRequested => ev.due_at = input.due_at,
            Action::ExtensionApproved | Action::ExtensionRefused => {
                let pending = current.state.extension.as_ref();
                ev.request = pending.map(|p| p.request);
                if action == Action::ExtensionApproved {
                    ev.due_at = input.due_at.or(pending.and_then(|p| p.proposed_due_at));
                }
            }
            _ => {}
        }
        if action == Action::Closed {
            ev.close_reason = Some(match (input.duplicate_of, current.state.status) {
                (Some(of), _) => CloseReason::Duplicate(of.to_string()),
                (None, Some(Status::Verified)) => CloseReason::Resolved,
                (None, _) => CloseReason::Cancelled,
            });
        }
        current
            .check(&ev)
            .map_err(|reason| DeviceError::Transition {
                ticket: id,
                action,
                reason,
            })?;
        if action == Action::Handled {
            self.check_after_photos(&current)?;
        }
        if action == Action::Urged {
            let from = urgeable_from(&current);
            if from.is_none_or(|from| now < from) {
                return Err(DeviceError::NotNearlyDue {
                    ticket: id,
                    due_at: current.state.due_at,
                    from,
                });
            }
        }
        let ((), batch) = self
            .repo
            .edit_loaded(&doc_id, &mut doc, |tx| ticket::append_event(tx, &ev))?;
        self.repo.commit(batch)?;
        Ok(ticket::read(&doc, id).map_err(RepoError::from)?)
    }

    /// Refuses `handled` on `t` when its category, in the catalog this
    /// device holds, requires after-photos and `t` lists no `after` photo.
    /// Without a catalog, or for a code it does not know, nothing is
    /// required (as for deadlines: the device decides from what it holds).
    fn check_after_photos(&self, t: &Ticket) -> Result<(), DeviceError> {
        if t.photos.iter().any(|p| p.phase == "after") {
            return Ok(());
        }
        let Some(catalog) = self.catalog()? else {
            return Ok(());
        };
        match catalog.get(&t.category) {
            Some(c) if c.after_photos_required => Err(DeviceError::AfterPhotosRequired {
                ticket: t.id,
                category: c.code.clone(),
                name: c.name_zh.clone(),
            }),
            _ => Ok(()),
        }
    }

    pub fn comment(&self, id: TicketId, text: &str, now: i64) -> Result<EventId, DeviceError> {
        self.ensure_writer()?;
        if text.trim().is_empty() {
            return Err(DeviceError::Invalid("a comment needs text".into()));
        }
        if self.repo.store().load(&id.document_id())?.is_none() {
            return Err(DeviceError::UnknownTicket(id));
        }
        let c = Comment {
            id: EventId::random(),
            author: self.identity.user.clone(),
            at: now,
            text: text.to_owned(),
        };
        self.repo
            .change(&id.document_id(), |tx| ticket::add_comment(tx, &c))?;
        Ok(c.id)
    }

    /// Whether [`Self::add_photo`] would refuse a photo for ticket `id` in
    /// `phase`, without writing anything; returns the ticket. Asked before
    /// the photo's bytes are stored, so a refusal leaves no file behind.
    pub fn may_add_photo(&self, id: TicketId, phase: &str) -> Result<Ticket, DeviceError> {
        self.ensure_writer()?;
        if !matches!(phase, "before" | "after") {
            return Err(DeviceError::Invalid(
                "a photo's phase is `before` or `after`".into(),
            ));
        }
        self.ticket(id)
    }

    /// Records a photo on a ticket by its content hash (hex SHA-256) and
    /// `phase` (`before` or `after` the work); the bytes travel separately
    /// (the caller keeps them until the relay has them). A hash the ticket
    /// already holds in that phase is not added again.
    pub fn add_photo(
        &self,
        id: TicketId,
        hash: &str,
        phase: &str,
        now: i64,
    ) -> Result<(), DeviceError> {
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DeviceError::Invalid(
                "a photo is named by the 64 hex digits of its SHA-256".into(),
            ));
        }
        let ticket = self.may_add_photo(id, phase)?;
        let hash = hash.to_ascii_lowercase();
        if ticket
            .photos
            .iter()
            .any(|p| p.hash == hash && p.phase == phase)
        {
            return Ok(());
        }
        let p = Photo {
            hash,
            phase: phase.to_owned(),
            added_by: self.identity.user.clone(),
            at: now,
        };
        self.repo
            .change(&id.document_id(), |tx| ticket::add_photo(tx, &p))?;
        Ok(())
    }

    /// Adds a visit to its (grid, worker, day) log and lists the log in the
    /// grid index.
    pub fn add_visit(&self, v: &Visit, date: &str) -> Result<VisitId, DeviceError> {
        self.ensure_writer()?;
        self.ensure_grid(&v.grid)?;
        let key = VisitLogKey {
            grid: v.grid.clone(),
            worker: v.worker.clone(),
            date: date.to_owned(),
        };
        let (_, mut batch) = self.repo.edit(&key.document_id(), |tx| {
            visit::init(tx, &key)?;
            visit::add(tx, v)
        })?;
        let index_id = v.grid.index_document_id();
        let index = self.repo.load(&index_id)?;
        if index
            .as_ref()
            .is_none_or(|d| !grid_index::has_visit_log(d, &key))
        {
            let (_, index_batch) = self.repo.edit(&index_id, |tx| {
                grid_index::init(tx, &v.grid)?;
                grid_index::add_visit_log(tx, &key)
            })?;
            batch.extend(index_batch);
        }
        self.repo.commit(batch)?;
        Ok(v.id)
    }

    /// Every visit recorded in a grid, in time order.
    pub fn visits(&self, grid: &GridCode) -> Result<Vec<Visit>, DeviceError> {
        let Some(index) = self.repo.load(&grid.index_document_id())? else {
            return Ok(Vec::new());
        };
        let index = grid_index::read(&index).map_err(RepoError::from)?;
        let mut out = Vec::new();
        for (_, doc_id) in &index.visit_logs {
            if let Some(doc) = self.repo.load(doc_id)? {
                out.extend(visit::read(&doc).map_err(RepoError::from)?.0);
            }
        }
        out.sort_by_key(|v| (v.started_at, v.id));
        Ok(out)
    }

    /// The grids this device lists: its own, or `only` if given (and its).
    pub fn grids(&self, only: Option<&GridCode>) -> Result<Vec<GridCode>, DeviceError> {
        match only {
            Some(g) => {
                self.ensure_grid(g)?;
                Ok(vec![g.clone()])
            }
            None => Ok(self.identity.grids.clone()),
        }
    }

    /// Ticket summaries from the local index, newest first.
    pub fn tickets(
        &self,
        only: Option<&GridCode>,
        which: Listing,
    ) -> Result<Vec<TicketSummary>, DeviceError> {
        let mut out = Vec::new();
        for grid in self.grids(only)? {
            out.extend(self.repo.store().grid_summaries(&grid, which)?);
        }
        out.sort_by(|a, b| b.reported_at.cmp(&a.reported_at).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// What needs this person's action, most urgent first.
    pub fn todo(&self, now: i64) -> Result<Vec<TodoItem>, DeviceError> {
        let mut tickets = self.tickets(None, Listing::Open)?;
        if self.identity.role == Role::Supervisor {
            let open: BTreeSet<TicketId> = tickets.iter().map(|t| t.id).collect();
            let conflicted = self.tickets(None, Listing::Conflicted)?;
            tickets.extend(conflicted.into_iter().filter(|t| !open.contains(&t.id)));
        }
        let mut items: Vec<TodoItem> = tickets
            .into_iter()
            .filter_map(|t| todo_item(&self.identity, t, now))
            .collect();
        // Urged first (the latest urging first), then conflicts, pending
        // extensions, overdue work, and the rest by deadline.
        let rank = |i: &TodoItem| match i.why {
            "urged" => 0,
            "conflict" => 1,
            "extension" => 2,
            "overdue" => 3,
            _ => 4,
        };
        items.sort_by(|a, b| {
            (
                rank(a),
                std::cmp::Reverse(a.ticket.urged_at),
                a.ticket.due_at.unwrap_or(i64::MAX),
            )
                .cmp(&(
                    rank(b),
                    std::cmp::Reverse(b.ticket.urged_at),
                    b.ticket.due_at.unwrap_or(i64::MAX),
                ))
        });
        Ok(items)
    }

    /// Every document this device should hold: its grids' indexes, the
    /// documents they list, and the private documents it may read
    /// ([`Device::wants_private`]); the catalog is the sync session's to add.
    pub fn known_documents(&self) -> Result<BTreeSet<DocumentId>, DeviceError> {
        let mut out = BTreeSet::new();
        for grid in &self.identity.grids {
            let index_id = grid.index_document_id();
            out.insert(index_id);
            if let Some(doc) = self.repo.load(&index_id)? {
                let index = grid_index::read(&doc).map_err(RepoError::from)?;
                out.extend(index.documents());
                for (ticket, private) in &index.private {
                    let reporter = self.repo.store().summary(&ticket.document_id())?;
                    if self.wants_private(reporter.as_ref().map(|s| s.created_by.as_str())) {
                        out.insert(*private);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Whether this device asks for the private document of a ticket of its
    /// grids reported by `reporter` (`None`: not known yet): supervisors
    /// and admins for every ticket, workers for those they reported, units
    /// and reviewers never (the relay would not give it to them).
    pub fn wants_private(&self, reporter: Option<&str>) -> bool {
        match self.identity.role {
            Role::Supervisor | Role::Admin => true,
            Role::Worker => reporter == Some(self.identity.user.as_str()),
            Role::Unit | Role::Reviewer => false,
        }
    }
}

/// The actions that count as "this is waiting for you", by role. Always
/// available actions (close as cancelled, suspend) do not make a ticket
/// a to-do.
fn todo_item(me: &Identity, t: TicketSummary, now: i64) -> Option<TodoItem> {
    let actions: Vec<Action> = lifecycle::actions_for(Some(t.status), me.role)
        .into_iter()
        .filter(|a| match a {
            Action::Suspended | Action::Reopened | Action::Rated => false,
            // Always possible; never by themselves a reason to act.
            Action::ExtensionRequested | Action::Urged => false,
            Action::ExtensionApproved | Action::ExtensionRefused => t.extension_pending,
            Action::Closed => t.status == Status::Verified,
            Action::Resumed => false,
            Action::Verified | Action::Rework => t.handled_by.as_deref() != Some(&me.user),
            // A worker handles only tickets they report themselves.
            Action::Handled if me.role == Role::Worker => false,
            _ => true,
        })
        .collect();
    let mine = match me.role {
        Role::Unit => t.unit.as_deref() == Some(&me.user),
        Role::Worker | Role::Supervisor => true,
        Role::Reviewer | Role::Admin => false,
    };
    if !mine {
        return None;
    }
    if me.role == Role::Supervisor && t.conflicts > 0 {
        return Some(TodoItem {
            actions,
            ticket: t,
            why: "conflict",
        });
    }
    if actions.is_empty() {
        return None;
    }
    let why = if me.role == Role::Unit && t.urged_at.is_some() {
        "urged"
    } else if me.role == Role::Supervisor && t.extension_pending {
        "extension"
    } else if t.is_overdue(now) {
        "overdue"
    } else {
        "action"
    };
    Some(TodoItem {
        actions,
        ticket: t,
        why,
    })
}

/// The default handling time limit, in working hours, when a dispatcher
/// gives no deadline and the catalog none: one working day (7 h) for
/// urgent tickets, three otherwise ([`catalog::urgency_default`]).
pub fn default_time_limit_hours(urgency: Urgency) -> u32 {
    match catalog::urgency_default(urgency) {
        TimeLimit::WorkingHours(h) => h,
        TimeLimit::WorkingDays(d) => d * 7,
    }
}

/// The deadline for a ticket dispatched at `now` with no catalog limit:
/// its urgency default counted on the working calendar
/// ([`due_after`]).
pub fn default_due_at(now: i64, urgency: Urgency) -> i64 {
    due_after(now, catalog::urgency_default(urgency))
}

/// What set a dispatch deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    pub due_at: i64,
    /// The limit counted (`None`: the dispatcher gave the deadline).
    pub time_limit: Option<TimeLimit>,
    /// The catalog version that gave the limit (`None`: explicit, or the
    /// urgency default).
    pub catalog_version: Option<u64>,
}

/// The deadline of a ticket of `category` and `urgency` dispatched at
/// `now`: an explicit deadline wins; otherwise the category's time limit
/// from `catalog` (the urgency default when the category has none or
/// there is no catalog), counted on the mainland China working calendar
/// ([`due_after`]). Pure: the relay's records API calls it with its own
/// catalog, devices with the one they hold.
pub fn dispatch_deadline(
    catalog: Option<&Catalog>,
    category: &str,
    urgency: Urgency,
    explicit: Option<i64>,
    now: i64,
) -> Deadline {
    if let Some(due_at) = explicit {
        return Deadline {
            due_at,
            time_limit: None,
            catalog_version: None,
        };
    }
    let rule = catalog::limit_for(catalog, category, urgency);
    Deadline {
        due_at: due_after(now, rule.limit),
        time_limit: Some(rule.limit),
        catalog_version: rule.catalog_version,
    }
}

/// The first instant `t` may be urged (督办): when the working time left
/// to its deadline is at most a quarter of the working time from its
/// latest dispatch to that deadline (for a 4-working-hour category, its
/// last working hour; for the 21-working-hour default, the last 5¼), and
/// so also once it is overdue. `None` for a ticket without a deadline
/// (never dispatched): there is nothing to urge it towards. Counted on the
/// working calendar of [`due_after`]; pure, so the records API asks it
/// too before it offers the action.
pub fn urgeable_from(t: &Ticket) -> Option<i64> {
    let due_at = t.state.due_at?;
    let dispatched = t
        .state
        .applied
        .iter()
        .filter_map(|&i| t.events.get(i)?.as_ref().ok())
        .filter(|e| e.to == Action::Dispatched)
        .map(|e| e.at_device)
        .max()
        .or(t.state.dispatched_at)
        .unwrap_or(due_at)
        .min(due_at);
    #[cfg(feature = "export")]
    {
        let calendar = china_calendar();
        let offset = crate::report::calendar::china_offset();
        let limit = calendar.working_ms_between(dispatched, due_at, offset);
        Some(calendar.add_working_ms(dispatched, limit - limit / 4, offset))
    }
    #[cfg(not(feature = "export"))]
    {
        Some(due_at - (due_at - dispatched) / 4)
    }
}

#[cfg(feature = "export")]
fn china_calendar() -> &'static crate::report::Calendar {
    static CALENDAR: std::sync::OnceLock<crate::report::Calendar> = std::sync::OnceLock::new();
    CALENDAR.get_or_init(crate::report::Calendar::china_default)
}

/// `limit` counted from `now` on the mainland China calendar (weekends,
/// public holidays and make-up working days, +08:00;
/// [`crate::report::Calendar::add_limit`]). Without the `export` feature
/// (which carries the calendar) it counts 7 working hours or one working
/// day as a calendar day.
pub fn due_after(now: i64, limit: TimeLimit) -> i64 {
    #[cfg(feature = "export")]
    {
        china_calendar().add_limit(now, limit, crate::report::calendar::china_offset())
    }
    #[cfg(not(feature = "export"))]
    {
        let days = match limit {
            TimeLimit::WorkingHours(h) => (i64::from(h) + 6) / 7,
            TimeLimit::WorkingDays(d) => i64::from(d),
        };
        now + days * 24 * 3_600_000
    }
}

/// What the device's catalog says of a category code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CategoryCheck {
    Known(Category),
    /// Not in the catalog (of `version`); the nearest codes.
    Unknown {
        version: u64,
        nearest: Vec<Category>,
    },
    /// The device has no catalog yet (it has not synced since the relay
    /// shipped one): the code cannot be checked.
    NoCatalog,
}

fn read_identity(store: &impl Store) -> Result<Option<Identity>, DeviceError> {
    match store.meta(meta::IDENTITY)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| DeviceError::BadIdentity(IdentityError::Json(e))),
    }
}
