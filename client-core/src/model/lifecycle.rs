//! The ticket lifecycle: the table of `docs/domain.md` as data, and the
//! fold of a ticket's `events` list over it.
//!
//! Status is never stored. It is recomputed on every read by [`fold`], which
//! walks the events in list order (Automerge orders a merged list the same
//! way on every replica, so every replica folds to the same state). An event
//! applies only if it was made from the state the fold is in (`from` matches)
//! and its role may make it; anything else is kept and reported as a
//! [`Conflict`], never dropped, and reading never fails.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::text_enum;
use crate::ids::EventId;

/// Who holds a device or token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 网格员: reports, visits, verifies.
    Worker,
    /// 社区/街道 dispatcher: accepts, dispatches, closes.
    Supervisor,
    /// Handling unit (物业, a department): acknowledges, handles.
    Unit,
    /// District reviewer: reads and exports, writes nothing.
    Reviewer,
    /// Creates users and grids; not a lifecycle actor.
    Admin,
}

/// A ticket's folded status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Reported,
    Accepted,
    Invalid,
    Dispatched,
    Acknowledged,
    Returned,
    InProgress,
    Handled,
    Verified,
    Closed,
    Suspended,
}

/// What a lifecycle event does: the `to` field of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Reported,
    Accepted,
    Invalid,
    Dispatched,
    Acknowledged,
    Returned,
    InProgress,
    Handled,
    Verified,
    Rework,
    Closed,
    Reopened,
    Suspended,
    Resumed,
    Rated,
    /// 延期申请: the unit asks for more time (reason, proposed deadline).
    ExtensionRequested,
    /// The supervisor grants the pending request: its deadline counts.
    ExtensionApproved,
    /// The supervisor refuses the pending request.
    ExtensionRefused,
    /// 督办: the supervisor urges the unit; the status stays.
    Urged,
}

/// Resident satisfaction from the callback (回访).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rating {
    /// 满意
    Satisfied,
    /// 基本满意
    Basic,
    /// 不满意
    Dissatisfied,
}

/// Why a ticket was closed outside the normal verified → closed path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "of")]
pub enum CloseReason {
    /// The normal close after verification.
    Resolved,
    /// A duplicate of another ticket (its id).
    Duplicate(String),
    Cancelled,
}

text_enum!(Role {
    Worker => "worker",
    Supervisor => "supervisor",
    Unit => "unit",
    Reviewer => "reviewer",
    Admin => "admin",
});

text_enum!(Status {
    Reported => "reported",
    Accepted => "accepted",
    Invalid => "invalid",
    Dispatched => "dispatched",
    Acknowledged => "acknowledged",
    Returned => "returned",
    InProgress => "in_progress",
    Handled => "handled",
    Verified => "verified",
    Closed => "closed",
    Suspended => "suspended",
});

text_enum!(Action {
    Reported => "reported",
    Accepted => "accepted",
    Invalid => "invalid",
    Dispatched => "dispatched",
    Acknowledged => "acknowledged",
    Returned => "returned",
    InProgress => "in_progress",
    Handled => "handled",
    Verified => "verified",
    Rework => "rework",
    Closed => "closed",
    Reopened => "reopened",
    Suspended => "suspended",
    Resumed => "resumed",
    Rated => "rated",
    ExtensionRequested => "extension_requested",
    ExtensionApproved => "extension_approved",
    ExtensionRefused => "extension_refused",
    Urged => "urged",
});

text_enum!(Rating {
    Satisfied => "satisfied",
    Basic => "basic",
    Dissatisfied => "dissatisfied",
});

impl Status {
    /// Open states are every state a ticket can still be worked in.
    pub fn is_open(&self) -> bool {
        !matches!(self, Status::Closed | Status::Invalid)
    }

    /// The Chinese label used in human output and exports.
    pub fn label_zh(&self) -> &'static str {
        match self {
            Status::Reported => "已上报",
            Status::Accepted => "已立案",
            Status::Invalid => "已注销",
            Status::Dispatched => "已派遣",
            Status::Acknowledged => "已签收",
            Status::Returned => "已退单",
            Status::InProgress => "处置中",
            Status::Handled => "已处置",
            Status::Verified => "已核查",
            Status::Closed => "已结案",
            Status::Suspended => "已挂账",
        }
    }
}

impl Rating {
    pub fn label_zh(&self) -> &'static str {
        match self {
            Rating::Satisfied => "满意",
            Rating::Basic => "基本满意",
            Rating::Dissatisfied => "不满意",
        }
    }
}

/// One lifecycle event as stored in a ticket's `events` list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    /// The state the author saw when making the event (`None` for creation).
    pub from: Option<Status>,
    pub to: Action,
    /// The user who made it.
    pub actor: String,
    pub role: Role,
    /// Device time, milliseconds since the Unix epoch.
    pub at_device: i64,
    /// Free text; the reason for `invalid`, `returned`, `rework`, `closed`.
    pub note: Option<String>,
    /// `dispatched`: the handling unit.
    pub unit: Option<String>,
    /// `dispatched`: the deadline, ms since the epoch.
    pub due_at: Option<i64>,
    /// `closed`: why.
    pub close_reason: Option<CloseReason>,
    /// `rated`: the resident's answer.
    pub rating: Option<Rating>,
    /// `extension_approved` / `extension_refused`: the id of the
    /// `extension_requested` event decided, so two decisions of one
    /// request (or a decision of a request already replaced) conflict.
    pub request: Option<EventId>,
    /// `dispatched`: the catalog version whose time limit set `due_at`
    /// (`None`: an explicit deadline or the urgency default).
    pub catalog_version: Option<u64>,
    /// `dispatched`: the time limit that set `due_at`, as text (`4h`
    /// working hours, `3d` working days).
    pub time_limit: Option<String>,
}

impl Event {
    /// A new event with only the mandatory fields set.
    pub fn new(
        from: Option<Status>,
        to: Action,
        actor: impl Into<String>,
        role: Role,
        at_device: i64,
    ) -> Self {
        Self {
            id: EventId::random(),
            from,
            to,
            actor: actor.into(),
            role,
            at_device,
            note: None,
            unit: None,
            due_at: None,
            close_reason: None,
            rating: None,
            request: None,
            catalog_version: None,
            time_limit: None,
        }
    }
}

/// One row of the lifecycle table: which action, from which states, by whom.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub action: Action,
    /// States the action may start from; `None` in the slice means "new".
    pub from: &'static [Option<Status>],
    pub roles: &'static [Role],
}

const OPEN_STATES: &[Option<Status>] = &[
    Some(Status::Reported),
    Some(Status::Accepted),
    Some(Status::Dispatched),
    Some(Status::Acknowledged),
    Some(Status::Returned),
    Some(Status::InProgress),
    Some(Status::Handled),
    Some(Status::Verified),
    Some(Status::Suspended),
];

const OPEN_NOT_SUSPENDED: &[Option<Status>] = &[
    Some(Status::Reported),
    Some(Status::Accepted),
    Some(Status::Dispatched),
    Some(Status::Acknowledged),
    Some(Status::Returned),
    Some(Status::InProgress),
    Some(Status::Handled),
    Some(Status::Verified),
];

/// The lifecycle table of `docs/domain.md`. Supervisors may also report
/// (12345 transfers and tasks assigned from above are entered by
/// dispatchers).
pub const RULES: &[Rule] = &[
    Rule {
        action: Action::Reported,
        from: &[None],
        roles: &[Role::Worker, Role::Supervisor],
    },
    Rule {
        action: Action::Accepted,
        from: &[Some(Status::Reported)],
        roles: &[Role::Supervisor],
    },
    Rule {
        action: Action::Invalid,
        from: &[Some(Status::Reported)],
        roles: &[Role::Supervisor],
    },
    Rule {
        action: Action::Dispatched,
        from: &[Some(Status::Accepted), Some(Status::Returned)],
        roles: &[Role::Supervisor],
    },
    Rule {
        action: Action::Acknowledged,
        from: &[Some(Status::Dispatched)],
        roles: &[Role::Unit],
    },
    Rule {
        action: Action::Returned,
        from: &[Some(Status::Dispatched), Some(Status::Acknowledged)],
        roles: &[Role::Unit],
    },
    Rule {
        action: Action::InProgress,
        from: &[Some(Status::Acknowledged)],
        roles: &[Role::Unit],
    },
    Rule {
        action: Action::Handled,
        from: &[Some(Status::InProgress)],
        roles: &[Role::Unit, Role::Worker],
    },
    Rule {
        action: Action::Verified,
        from: &[Some(Status::Handled)],
        roles: &[Role::Worker, Role::Supervisor],
    },
    Rule {
        action: Action::Rework,
        from: &[Some(Status::Handled)],
        roles: &[Role::Worker, Role::Supervisor],
    },
    Rule {
        action: Action::Closed,
        from: OPEN_STATES,
        roles: &[Role::Supervisor],
    },
    Rule {
        action: Action::Reopened,
        from: &[Some(Status::Closed)],
        roles: &[Role::Supervisor],
    },
    Rule {
        action: Action::Suspended,
        from: OPEN_NOT_SUSPENDED,
        roles: &[Role::Supervisor],
    },
    Rule {
        action: Action::Resumed,
        from: &[Some(Status::Suspended)],
        roles: &[Role::Supervisor],
    },
    Rule {
        action: Action::Rated,
        from: &[Some(Status::Closed)],
        roles: &[Role::Supervisor],
    },
    Rule {
        action: Action::ExtensionRequested,
        from: EXTENDABLE,
        roles: &[Role::Unit],
    },
    Rule {
        action: Action::ExtensionApproved,
        from: EXTENDABLE,
        roles: &[Role::Supervisor],
    },
    Rule {
        action: Action::ExtensionRefused,
        from: EXTENDABLE,
        roles: &[Role::Supervisor],
    },
    Rule {
        action: Action::Urged,
        from: OPEN_STATES,
        roles: &[Role::Supervisor],
    },
];

/// States in which a unit works a ticket and may ask for more time; a
/// pending request lapses when the ticket leaves them.
const EXTENDABLE: &[Option<Status>] = &[Some(Status::Acknowledged), Some(Status::InProgress)];

impl Action {
    /// Whether the action leaves the status as it is (extensions and
    /// urging). Such an event is checked against the state it finds, not
    /// the state its author saw: a unit's concurrent `in_progress` does not
    /// make a supervisor's urging a conflict. Decisions of one extension
    /// request conflict through [`Event::request`] instead.
    pub fn keeps_status(&self) -> bool {
        matches!(
            self,
            Action::ExtensionRequested
                | Action::ExtensionApproved
                | Action::ExtensionRefused
                | Action::Urged
        )
    }
}

/// The rule for an action.
pub fn rule(action: Action) -> &'static Rule {
    RULES
        .iter()
        .find(|r| r.action == action)
        .expect("every action has exactly one rule")
}

/// The actions a role may take on a ticket in `status` (what `todo` shows).
pub fn actions_for(status: Option<Status>, role: Role) -> Vec<Action> {
    RULES
        .iter()
        .filter(|r| r.from.contains(&status) && r.roles.contains(&role))
        .map(|r| r.action)
        .collect()
}

/// Why an event was not applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ConflictReason {
    /// The event was made from a state the ticket was no longer in: someone
    /// else changed the ticket concurrently.
    Concurrent {
        expected: Option<Status>,
        actual: Option<Status>,
    },
    /// The action is not allowed from the ticket's current state at all.
    WrongState { actual: Option<Status> },
    /// The event's role may not take this action.
    ForbiddenRole { role: Role },
    /// Verification by the same person who handled the ticket.
    HandlerVerifies { actor: String },
    /// A required field is missing (reason, unit, rating, ...).
    MissingField { field: &'static str },
    /// The stored event could not be read (unknown action, bad type).
    Unreadable { detail: String },
    /// An extension request while another is still pending.
    ExtensionPending { request: EventId },
    /// A decision of an extension request that is not pending (already
    /// decided, perhaps concurrently, or never made).
    NoPendingExtension { request: Option<EventId> },
}

impl fmt::Display for ConflictReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |s: &Option<Status>| s.map_or("new".to_owned(), |s| s.to_string());
        match self {
            ConflictReason::Concurrent { expected, actual } => write!(
                f,
                "made from `{}` but the ticket was already `{}` (concurrent change)",
                show(expected),
                show(actual)
            ),
            ConflictReason::WrongState { actual } => {
                write!(f, "not allowed while the ticket is `{}`", show(actual))
            }
            ConflictReason::ForbiddenRole { role } => write!(f, "role `{role}` may not do this"),
            ConflictReason::HandlerVerifies { actor } => {
                write!(f, "`{actor}` handled the ticket and may not also verify it")
            }
            ConflictReason::MissingField { field } => write!(f, "missing `{field}`"),
            ConflictReason::Unreadable { detail } => write!(f, "unreadable event: {detail}"),
            ConflictReason::ExtensionPending { request } => write!(
                f,
                "extension request {request} is still pending; wait for the supervisor's decision"
            ),
            ConflictReason::NoPendingExtension { request: Some(r) } => write!(
                f,
                "extension request {r} is not pending (already decided, or replaced)"
            ),
            ConflictReason::NoPendingExtension { request: None } => {
                write!(f, "no extension request is pending")
            }
        }
    }
}

/// An event the fold kept but did not apply, for a supervisor to resolve.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Conflict {
    /// Position in the `events` list.
    pub index: usize,
    pub event_id: Option<EventId>,
    pub action: Option<Action>,
    pub actor: Option<String>,
    pub reason: ConflictReason,
}

/// The state of a ticket after folding its events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Folded {
    /// `None` only for a ticket whose creation event is missing or invalid.
    pub status: Option<Status>,
    pub rework_count: u32,
    pub returned_count: u32,
    /// The unit the ticket is dispatched to (latest dispatch).
    pub unit: Option<String>,
    pub due_at: Option<i64>,
    pub reported_at: Option<i64>,
    pub accepted_at: Option<i64>,
    /// First dispatch.
    pub dispatched_at: Option<i64>,
    /// Latest `handled`.
    pub handled_at: Option<i64>,
    pub handled_by: Option<String>,
    /// Latest close.
    pub closed_at: Option<i64>,
    pub close_reason: Option<CloseReason>,
    pub rating: Option<Rating>,
    /// Closed intervals spent suspended, (from, to) in ms; an open
    /// suspension has `to == None`.
    pub suspensions: Vec<(i64, Option<i64>)>,
    /// The extension request waiting for a supervisor's decision.
    pub extension: Option<PendingExtension>,
    pub extensions_requested: u32,
    pub extensions_approved: u32,
    pub extensions_refused: u32,
    /// Times a supervisor urged (督办) the ticket, and the latest.
    pub urge_count: u32,
    pub urged_at: Option<i64>,
    /// The latest urging's note.
    pub urge_note: Option<String>,
    /// The catalog version whose time limit set the latest dispatch's
    /// deadline (`None`: explicit, or the urgency default).
    pub catalog_version: Option<u64>,
    /// Indexes of the events that applied, in order.
    pub applied: Vec<usize>,
    pub conflicts: Vec<Conflict>,
}

/// An extension request (延期申请) waiting for a decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PendingExtension {
    /// The `extension_requested` event.
    pub request: EventId,
    pub by: String,
    pub at: i64,
    pub reason: Option<String>,
    /// The deadline the unit proposes, ms since the epoch.
    pub proposed_due_at: Option<i64>,
}

/// One entry of the `events` list as read from a document: either an event
/// or the reason it could not be read.
pub type EventEntry = Result<Event, String>;

/// Folds events over the lifecycle table. Never fails: whatever cannot apply
/// becomes a [`Conflict`].
pub fn fold<'a>(events: impl IntoIterator<Item = &'a EventEntry>) -> Folded {
    let mut st = Folded::default();
    let mut before_suspension: Option<Status> = None;
    // An event id names one event: a second entry under it (a copy, or a
    // forgery reusing the id) is ignored, so replaying an event never
    // moves a ticket twice.
    let mut seen = std::collections::HashSet::new();
    for (index, entry) in events.into_iter().enumerate() {
        let ev = match entry {
            Ok(ev) if !seen.insert(ev.id) => continue,
            Ok(ev) => ev,
            Err(detail) => {
                st.conflicts.push(Conflict {
                    index,
                    event_id: None,
                    action: None,
                    actor: None,
                    reason: ConflictReason::Unreadable {
                        detail: detail.clone(),
                    },
                });
                continue;
            }
        };
        match check(&st, ev) {
            Err(reason) => st.conflicts.push(Conflict {
                index,
                event_id: Some(ev.id),
                action: Some(ev.to),
                actor: Some(ev.actor.clone()),
                reason,
            }),
            Ok(()) => {
                apply(&mut st, &mut before_suspension, ev);
                st.applied.push(index);
            }
        }
    }
    st
}

/// Whether `ev` may apply to the folded state `st`.
pub fn check(st: &Folded, ev: &Event) -> Result<(), ConflictReason> {
    let rule = rule(ev.to);
    if !rule.roles.contains(&ev.role) {
        return Err(ConflictReason::ForbiddenRole { role: ev.role });
    }
    if ev.from != st.status && !ev.to.keeps_status() {
        return Err(ConflictReason::Concurrent {
            expected: ev.from,
            actual: st.status,
        });
    }
    if !rule.from.contains(&st.status) {
        return Err(ConflictReason::WrongState { actual: st.status });
    }
    let needs_note = matches!(
        ev.to,
        Action::Invalid
            | Action::Returned
            | Action::Rework
            | Action::ExtensionRequested
            | Action::Urged
    );
    if needs_note && ev.note.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return Err(ConflictReason::MissingField { field: "note" });
    }
    match ev.to {
        Action::Dispatched if ev.unit.as_deref().is_none_or(str::is_empty) => {
            Err(ConflictReason::MissingField { field: "unit" })
        }
        Action::Rated if ev.rating.is_none() => {
            Err(ConflictReason::MissingField { field: "rating" })
        }
        Action::ExtensionRequested => match &st.extension {
            Some(p) => Err(ConflictReason::ExtensionPending { request: p.request }),
            None if ev.due_at.is_none() => Err(ConflictReason::MissingField { field: "due_at" }),
            None => Ok(()),
        },
        Action::ExtensionApproved | Action::ExtensionRefused => match &st.extension {
            Some(p) if ev.request == Some(p.request) => Ok(()),
            _ => Err(ConflictReason::NoPendingExtension {
                request: ev.request,
            }),
        },
        Action::Verified | Action::Rework if st.handled_by.as_deref() == Some(&ev.actor) => {
            Err(ConflictReason::HandlerVerifies {
                actor: ev.actor.clone(),
            })
        }
        _ => Ok(()),
    }
}

fn apply(st: &mut Folded, before_suspension: &mut Option<Status>, ev: &Event) {
    let at = ev.at_device;
    let next = match ev.to {
        Action::Reported => {
            st.reported_at = Some(at);
            Status::Reported
        }
        Action::Accepted => {
            st.accepted_at.get_or_insert(at);
            Status::Accepted
        }
        Action::Invalid => {
            st.closed_at = Some(at);
            Status::Invalid
        }
        Action::Dispatched => {
            st.dispatched_at.get_or_insert(at);
            st.unit = ev.unit.clone();
            if ev.due_at.is_some() {
                st.due_at = ev.due_at;
                st.catalog_version = ev.catalog_version;
            }
            Status::Dispatched
        }
        Action::Acknowledged => Status::Acknowledged,
        Action::Returned => {
            st.returned_count += 1;
            Status::Returned
        }
        Action::InProgress => Status::InProgress,
        Action::Handled => {
            st.handled_at = Some(at);
            st.handled_by = Some(ev.actor.clone());
            Status::Handled
        }
        Action::Verified => Status::Verified,
        Action::Rework => {
            st.rework_count += 1;
            st.handled_by = None;
            Status::Dispatched
        }
        Action::Closed => {
            st.closed_at = Some(at);
            st.close_reason = Some(ev.close_reason.clone().unwrap_or(CloseReason::Resolved));
            Status::Closed
        }
        Action::Reopened => {
            st.closed_at = None;
            st.close_reason = None;
            st.rating = None;
            Status::Accepted
        }
        Action::Suspended => {
            *before_suspension = st.status;
            st.suspensions.push((at, None));
            Status::Suspended
        }
        Action::Resumed => {
            if let Some(last) = st.suspensions.last_mut() {
                last.1 = Some(at);
            }
            before_suspension.take().unwrap_or(Status::Accepted)
        }
        Action::Rated => {
            st.rating = ev.rating;
            Status::Closed
        }
        Action::ExtensionRequested => {
            st.extensions_requested += 1;
            st.extension = Some(PendingExtension {
                request: ev.id,
                by: ev.actor.clone(),
                at,
                reason: ev.note.clone(),
                proposed_due_at: ev.due_at,
            });
            return;
        }
        Action::ExtensionApproved => {
            let pending = st.extension.take();
            st.extensions_approved += 1;
            if let Some(due) = ev.due_at.or(pending.and_then(|p| p.proposed_due_at)) {
                st.due_at = Some(due);
            }
            return;
        }
        Action::ExtensionRefused => {
            st.extension = None;
            st.extensions_refused += 1;
            return;
        }
        Action::Urged => {
            st.urge_count += 1;
            st.urged_at = Some(at);
            st.urge_note = ev.note.clone();
            return;
        }
    };
    if !EXTENDABLE.contains(&Some(next)) {
        // The unit no longer works the ticket: a pending request lapses.
        st.extension = None;
    }
    st.status = Some(next);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(from: Option<Status>, to: Action, actor: &str, role: Role) -> EventEntry {
        let mut e = Event::new(from, to, actor, role, 1_000);
        match to {
            Action::Invalid | Action::Returned | Action::Rework => e.note = Some("原因".into()),
            Action::Dispatched => e.unit = Some("物业公司".into()),
            Action::Rated => e.rating = Some(Rating::Satisfied),
            Action::ExtensionRequested => {
                e.note = Some("材料未到".into());
                e.due_at = Some(9_000);
            }
            Action::Urged => e.note = Some("请尽快处置".into()),
            _ => {}
        }
        Ok(e)
    }

    /// Appends `action` from `from`; a decision of an extension is preceded
    /// by the unit's request where one can be made, and names it.
    fn push_ev(events: &mut Vec<EventEntry>, from: Option<Status>, to: Action, role: Role) {
        let mut e = ev(from, to, "other", role).unwrap();
        if matches!(to, Action::ExtensionApproved | Action::ExtensionRefused)
            && EXTENDABLE.contains(&from)
        {
            let request = ev(from, Action::ExtensionRequested, "u1", Role::Unit).unwrap();
            e.request = Some(request.id);
            events.push(Ok(request));
        }
        events.push(Ok(e));
    }

    /// Drives a ticket to `status` along the happy path, returning its events.
    fn reach(status: Status) -> Vec<EventEntry> {
        use Action as A;
        use Role as R;
        use Status as S;
        let path: &[(Option<S>, A, &str, R)] = &[
            (None, A::Reported, "w1", R::Worker),
            (Some(S::Reported), A::Accepted, "s1", R::Supervisor),
            (Some(S::Accepted), A::Dispatched, "s1", R::Supervisor),
            (Some(S::Dispatched), A::Acknowledged, "u1", R::Unit),
            (Some(S::Acknowledged), A::InProgress, "u1", R::Unit),
            (Some(S::InProgress), A::Handled, "u1", R::Unit),
            (Some(S::Handled), A::Verified, "w1", R::Worker),
            (Some(S::Verified), A::Closed, "s1", R::Supervisor),
        ];
        let mut events = Vec::new();
        for (from, to, actor, role) in path {
            if fold(&events).status == Some(status) {
                return events;
            }
            events.push(ev(*from, *to, actor, *role));
        }
        let extra: &[(Option<S>, A, &str, R)] = match status {
            S::Closed => &[],
            S::Invalid => &[(Some(S::Reported), A::Invalid, "s1", R::Supervisor)],
            S::Returned => &[(Some(S::Dispatched), A::Returned, "u1", R::Unit)],
            S::Suspended => &[(Some(S::Reported), A::Suspended, "s1", R::Supervisor)],
            _ => unreachable!("{status:?} is on the happy path"),
        };
        if !extra.is_empty() {
            let stop = match status {
                S::Returned => S::Dispatched,
                _ => S::Reported,
            };
            let mut events = reach(stop);
            for (from, to, actor, role) in extra {
                events.push(ev(*from, *to, actor, *role));
            }
            return events;
        }
        events
    }

    /// A replayed event (the same id again, as a forger copying an old
    /// rework would write it) once moved the ticket a second time.
    #[test]
    fn a_repeated_event_id_is_ignored() {
        use Action as A;
        use Role as R;
        use Status as S;
        let mut events = reach(S::Handled);
        let rework = ev(Some(S::Handled), A::Rework, "w1", R::Worker);
        events.push(rework.clone());
        for (from, to) in [
            (S::Dispatched, A::Acknowledged),
            (S::Acknowledged, A::InProgress),
            (S::InProgress, A::Handled),
        ] {
            events.push(ev(Some(from), to, "u1", R::Unit));
        }
        events.push(rework);
        let folded = fold(&events);
        assert_eq!(folded.status, Some(S::Handled));
        assert_eq!(folded.rework_count, 1);
        assert!(folded.conflicts.is_empty(), "{:?}", folded.conflicts);
        assert_eq!(folded.applied.len(), events.len() - 1);
    }

    #[test]
    fn every_allowed_transition_applies() {
        let all_states: Vec<Option<Status>> = std::iter::once(None)
            .chain(Status::ALL.iter().copied().map(Some))
            .collect();
        let mut checked = 0;
        for rule in RULES {
            for from in rule.from {
                for role in rule.roles {
                    let mut events = match from {
                        None => Vec::new(),
                        Some(s) => reach(*s),
                    };
                    assert_eq!(fold(&events).status, *from, "setup for {rule:?}");
                    // A verifier must differ from the handler (u1).
                    push_ev(&mut events, *from, rule.action, *role);
                    let folded = fold(&events);
                    assert!(
                        folded.conflicts.is_empty(),
                        "{:?} from {from:?} by {role:?}: {:?}",
                        rule.action,
                        folded.conflicts
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 30 && all_states.len() == 12);
    }

    #[test]
    fn actions_from_wrong_state_or_role_are_conflicts() {
        for rule in RULES {
            for role in Role::ALL {
                for state in std::iter::once(None).chain(Status::ALL.iter().copied().map(Some)) {
                    let allowed = rule.from.contains(&state) && rule.roles.contains(role);
                    let mut events = match state {
                        None => Vec::new(),
                        Some(s) => reach(s),
                    };
                    push_ev(&mut events, state, rule.action, *role);
                    let folded = fold(&events);
                    assert_eq!(
                        folded.conflicts.is_empty(),
                        allowed,
                        "{:?} from {state:?} by {role:?}",
                        rule.action
                    );
                    if !allowed {
                        assert_eq!(folded.status, state, "a conflict never changes the status");
                        assert_eq!(folded.conflicts[0].index, events.len() - 1);
                    }
                }
            }
        }
    }

    #[test]
    fn rework_dispatches_again_and_counts() {
        let mut events = reach(Status::Handled);
        events.push(ev(
            Some(Status::Handled),
            Action::Rework,
            "s1",
            Role::Supervisor,
        ));
        let folded = fold(&events);
        assert_eq!(folded.status, Some(Status::Dispatched));
        assert_eq!(folded.rework_count, 1);
    }

    #[test]
    fn handler_may_not_verify_own_work() {
        let mut events = reach(Status::Acknowledged);
        events.push(ev(
            Some(Status::Acknowledged),
            Action::InProgress,
            "u1",
            Role::Unit,
        ));
        // The worker handles it themself, then tries to verify.
        events.push(ev(
            Some(Status::InProgress),
            Action::Handled,
            "w9",
            Role::Worker,
        ));
        events.push(ev(
            Some(Status::Handled),
            Action::Verified,
            "w9",
            Role::Worker,
        ));
        let folded = fold(&events);
        assert_eq!(folded.status, Some(Status::Handled));
        assert!(matches!(
            folded.conflicts[0].reason,
            ConflictReason::HandlerVerifies { .. }
        ));
    }

    #[test]
    fn suspend_and_resume_return_to_the_prior_state() {
        let mut events = reach(Status::Dispatched);
        events.push(ev(
            Some(Status::Dispatched),
            Action::Suspended,
            "s1",
            Role::Supervisor,
        ));
        events.push(ev(
            Some(Status::Suspended),
            Action::Resumed,
            "s1",
            Role::Supervisor,
        ));
        let folded = fold(&events);
        assert_eq!(folded.status, Some(Status::Dispatched));
        assert_eq!(folded.suspensions, vec![(1_000, Some(1_000))]);
    }

    #[test]
    fn reasons_are_required() {
        let mut events = reach(Status::Reported);
        let mut bad = Event::new(
            Some(Status::Reported),
            Action::Invalid,
            "s1",
            Role::Supervisor,
            5,
        );
        bad.note = Some("  ".into());
        events.push(Ok(bad));
        let folded = fold(&events);
        assert_eq!(
            folded.conflicts[0].reason,
            ConflictReason::MissingField { field: "note" }
        );
    }

    fn request(from: Status, due: i64) -> Event {
        let mut e = Event::new(Some(from), Action::ExtensionRequested, "u1", Role::Unit, 50);
        e.note = Some("需要更换整段管道".into());
        e.due_at = Some(due);
        e
    }

    fn decide(of: &Event, action: Action, actor: &str) -> Event {
        let mut e = Event::new(of.from, action, actor, Role::Supervisor, 60);
        e.request = Some(of.id);
        e
    }

    /// Two supervisors decide one unit's extension request offline, one
    /// approving and one refusing: whichever the merge puts second is a
    /// conflict, and the first decision stands.
    #[test]
    fn a_concurrent_approve_and_refuse_of_one_extension_is_a_conflict() {
        let mut events = reach(Status::InProgress);
        let asked = request(Status::InProgress, 77_000);
        events.push(Ok(asked.clone()));
        let approve = decide(&asked, Action::ExtensionApproved, "s1");
        let refuse = decide(&asked, Action::ExtensionRefused, "s2");
        for (first, second, due) in [(&approve, &refuse, Some(77_000)), (&refuse, &approve, None)] {
            let mut merged = events.clone();
            merged.push(Ok(first.clone()));
            merged.push(Ok(second.clone()));
            let folded = fold(&merged);
            assert_eq!(folded.status, Some(Status::InProgress));
            assert_eq!(folded.conflicts.len(), 1, "{:?}", folded.conflicts);
            assert_eq!(folded.conflicts[0].event_id, Some(second.id));
            assert_eq!(
                folded.conflicts[0].reason,
                ConflictReason::NoPendingExtension {
                    request: Some(asked.id)
                }
            );
            assert_eq!(folded.extension, None);
            assert_eq!(folded.due_at.filter(|d| *d == 77_000), due);
        }
    }

    #[test]
    fn an_approved_extension_moves_the_deadline_and_a_refused_one_does_not() {
        let mut events = reach(Status::Acknowledged);
        let due = fold(&events).due_at;
        let asked = request(Status::Acknowledged, 88_000);
        events.push(Ok(asked.clone()));
        // A second request while one is pending is a conflict.
        events.push(Ok(request(Status::Acknowledged, 99_000)));
        let folded = fold(&events);
        assert!(matches!(
            folded.conflicts[0].reason,
            ConflictReason::ExtensionPending { request } if request == asked.id
        ));
        assert_eq!(folded.extension.as_ref().map(|p| p.request), Some(asked.id));
        events.pop();

        let mut refused = events.clone();
        refused.push(Ok(decide(&asked, Action::ExtensionRefused, "s1")));
        let folded = fold(&refused);
        assert_eq!((folded.due_at, folded.extensions_refused), (due, 1));

        // The unit starts work before the supervisor approves: the
        // approval still applies to the request it names.
        events.push(ev(
            Some(Status::Acknowledged),
            Action::InProgress,
            "u1",
            Role::Unit,
        ));
        events.push(Ok(decide(&asked, Action::ExtensionApproved, "s1")));
        let folded = fold(&events);
        assert!(folded.conflicts.is_empty(), "{:?}", folded.conflicts);
        assert_eq!(folded.due_at, Some(88_000));
        assert_eq!(
            (folded.extensions_requested, folded.extensions_approved),
            (1, 1)
        );
        assert_eq!(folded.status, Some(Status::InProgress));
    }

    #[test]
    fn a_pending_extension_lapses_when_the_unit_returns_the_ticket() {
        let mut events = reach(Status::Acknowledged);
        let asked = request(Status::Acknowledged, 88_000);
        events.push(Ok(asked.clone()));
        let mut back = Event::new(
            Some(Status::Acknowledged),
            Action::Returned,
            "u1",
            Role::Unit,
            70,
        );
        back.note = Some("不属于本单位".into());
        events.push(Ok(back));
        let folded = fold(&events);
        assert_eq!(folded.extension, None);
        assert_eq!(folded.status, Some(Status::Returned));
    }

    /// Urging is a note to the unit, never a transition: from every open
    /// state the status stays, and a unit's concurrent change does not
    /// turn it into a conflict.
    #[test]
    fn urging_never_changes_status() {
        for state in Status::ALL.iter().copied().filter(Status::is_open) {
            let mut events = reach(state);
            let before = fold(&events);
            events.push(ev(Some(state), Action::Urged, "s1", Role::Supervisor));
            let folded = fold(&events);
            assert!(
                folded.conflicts.is_empty(),
                "{state:?}: {:?}",
                folded.conflicts
            );
            assert_eq!(folded.status, before.status, "urged from {state:?}");
            assert_eq!((folded.urge_count, folded.urged_at), (1, Some(1_000)));
        }
        let mut events = reach(Status::Dispatched);
        events.push(ev(
            Some(Status::Dispatched),
            Action::Acknowledged,
            "u1",
            Role::Unit,
        ));
        // Made while the supervisor still saw `dispatched`.
        events.push(ev(
            Some(Status::Dispatched),
            Action::Urged,
            "s1",
            Role::Supervisor,
        ));
        let folded = fold(&events);
        assert!(folded.conflicts.is_empty(), "{:?}", folded.conflicts);
        assert_eq!(folded.status, Some(Status::Acknowledged));
        // Not on a closed ticket.
        let mut events = reach(Status::Closed);
        events.push(ev(
            Some(Status::Closed),
            Action::Urged,
            "s1",
            Role::Supervisor,
        ));
        let folded = fold(&events);
        assert_eq!(folded.status, Some(Status::Closed));
        assert_eq!(folded.urge_count, 0);
        assert_eq!(folded.conflicts.len(), 1);
    }

    #[test]
    fn unreadable_events_are_kept_as_conflicts() {
        let events = vec![
            ev(None, Action::Reported, "w1", Role::Worker),
            Err("bad".into()),
        ];
        let folded = fold(&events);
        assert_eq!(folded.status, Some(Status::Reported));
        assert_eq!(folded.conflicts.len(), 1);
    }
}
