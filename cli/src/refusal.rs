//! Turns a refused lifecycle step into a message that says what to do
//! instead: who may take the action, from which states, and what this
//! person can do with the ticket now.

use client_core::device::DeviceError;
use client_core::model::lifecycle::{self, Action, ConflictReason, Role, Status};

use crate::error::CliError;
use crate::labels::{self, Named};

/// Explains a `DeviceError::Transition`; other errors pass through.
/// `status` is the ticket's current status, `role` this person's.
pub fn explain(err: DeviceError, status: Option<Status>, role: Role) -> CliError {
    let DeviceError::Transition {
        ticket,
        action,
        reason,
    } = &err
    else {
        return err.into();
    };
    let rule = lifecycle::rule(*action);
    let hint = match reason {
        ConflictReason::ForbiddenRole { .. } => {
            let who: Vec<String> = rule.roles.iter().map(Named::both).collect();
            format!(
                "Only {} may {}; {}.",
                who.join(" or "),
                action.both(),
                you_can(status, role)
            )
        }
        ConflictReason::WrongState { .. } | ConflictReason::Concurrent { .. } => {
            let from: Vec<String> = rule
                .from
                .iter()
                .map(|s| s.map_or_else(|| "new".to_owned(), |s| s.both()))
                .collect();
            format!(
                "{} applies only to tickets that are {}; {}.",
                action.both(),
                from.join(", "),
                you_can(status, role)
            )
        }
        ConflictReason::MissingField { field } => match *field {
            "note" => "Add --note TEXT with the reason.".to_owned(),
            "unit" => "Add --unit NAME naming the handling unit (处置单位).".to_owned(),
            "rating" => "Add --rating satisfied|basic|dissatisfied.".to_owned(),
            "due_at" => "Add --due RFC3339 with the deadline you propose.".to_owned(),
            other => format!("Add --{other}."),
        },
        ConflictReason::HandlerVerifies { .. } => {
            "The handler may not check their own work; ask another worker or a supervisor."
                .to_owned()
        }
        ConflictReason::Unreadable { .. } => String::new(),
        ConflictReason::ExtensionPending { .. } => {
            "Wait for a supervisor to approve or refuse it (`gridsync ticket show` shows it)."
                .to_owned()
        }
        ConflictReason::NoPendingExtension { .. } => {
            "Only a pending extension request can be decided; `gridsync ticket show` shows the ticket's events."
                .to_owned()
        }
    };
    let status_text = status.map_or_else(|| "new".to_owned(), |s| s.both());
    let message = format!(
        "cannot {} ticket {ticket} ({status_text}): {reason}.",
        action.both()
    );
    CliError::Refused(if hint.is_empty() {
        message
    } else {
        format!("{message} {hint}")
    })
}

/// `as 网格员 worker you can now: 核查通过 verified, 返工 rework`.
pub fn you_can(status: Option<Status>, role: Role) -> String {
    let mine: Vec<Action> = lifecycle::actions_for(status, role);
    if mine.is_empty() {
        format!("as {} you have nothing to do on it now", role.both())
    } else {
        format!("as {} you can now: {}", role.both(), labels::actions(&mine))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use client_core::ids::TicketId;

    #[test]
    fn a_worker_accepting_is_told_who_may() {
        let err = DeviceError::Transition {
            ticket: TicketId::random(),
            action: Action::Accepted,
            reason: ConflictReason::ForbiddenRole { role: Role::Worker },
        };
        let msg = explain(err, Some(Status::Reported), Role::Worker).to_string();
        assert!(
            msg.contains("Only 调度员 supervisor may 立案 accepted"),
            "{msg}"
        );
        assert!(msg.contains("nothing to do"), "{msg}");
    }
}
