//! `gridsync ticket event`: one lifecycle step on a ticket.

use client_core::device::EventInput;
use client_core::model::lifecycle::Action;

use super::{resolve_ticket, ticket_show};
use crate::args::TicketEventArgs;
use crate::data_dir::DataDir;
use crate::error::CliError;
use crate::labels::Named;
use crate::output::Output;
use crate::refusal;
use crate::time;
use crate::uuid_prefix::short;

pub fn run(args: &TicketEventArgs, dir: &DataDir, out: &mut Output) -> Result<(), CliError> {
    check_flags(args)?;
    let device = dir.open_device()?;
    let id = resolve_ticket(&device, &args.id)?;
    let duplicate_of = match &args.duplicate_of {
        Some(p) => {
            let of = resolve_ticket(&device, p)?;
            if of == id {
                return Err(CliError::Usage(
                    "a ticket cannot be a duplicate of itself; give the other ticket's id"
                        .to_owned(),
                ));
            }
            Some(of)
        }
        None => None,
    };
    let input = EventInput {
        note: args.note.clone(),
        unit: args.unit.clone(),
        due_at: args.due,
        duplicate_of,
        rating: args.rating,
    };
    let role = device.identity().role;
    let before = device.ticket(id)?.state.status;
    let ticket = device
        .act(id, args.action, input, time::now_ms())
        .map_err(|e| refusal::explain(e, before, role))?;
    tracing::info!(%id, action = %args.action, "event recorded");
    if out.is_json() {
        return ticket_show::print(&ticket, role, &crate::photos::PhotoStore::new(dir), out);
    }
    out.line(format!(
        "{}: {} -> {}",
        short(&id.uuid()),
        args.action.both(),
        ticket.status().both()
    ))?;
    out.line(format!(
        "next: {}",
        refusal::you_can(ticket.state.status, role)
    ))
}

/// Refuses flags that would be stored but mean nothing for this action.
fn check_flags(a: &TicketEventArgs) -> Result<(), CliError> {
    let only = |flag: &str, set: bool, action: Action| {
        if set && a.action != action {
            Err(CliError::Usage(format!(
                "{flag} applies only to `{}`, not to `{}`; leave it out",
                action.code(),
                a.action.code()
            )))
        } else {
            Ok(())
        }
    };
    only("--unit", a.unit.is_some(), Action::Dispatched)?;
    let takes_due = matches!(
        a.action,
        Action::Dispatched | Action::ExtensionRequested | Action::ExtensionApproved
    );
    if a.due.is_some() && !takes_due {
        return Err(CliError::Usage(format!(
            "--due applies only to `dispatched`, `extension_requested` and `extension_approved`, \
             not to `{}`; leave it out",
            a.action.code()
        )));
    }
    only("--duplicate-of", a.duplicate_of.is_some(), Action::Closed)?;
    only("--rating", a.rating.is_some(), Action::Rated)
}
