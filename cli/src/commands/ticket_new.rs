//! `gridsync ticket new`: reports a ticket (上报).

use client_core::model::lifecycle::Status;
use serde_json::json;

use crate::args::TicketNewArgs;
use crate::data_dir::DataDir;
use crate::error::CliError;
use crate::output::Output;
use crate::refusal;
use crate::ticket_draft::TicketDraft;
use crate::time;

pub fn run(args: &TicketNewArgs, dir: &DataDir, out: &mut Output) -> Result<(), CliError> {
    let device = dir.open_device()?;
    let ticket = TicketDraft::from_args(args)
        .into_new_ticket()
        .map_err(CliError::Usage)?;
    let id = device
        .report(&ticket, time::now_ms())
        .map_err(|e| refusal::explain(e, None::<Status>, device.identity().role))?;
    tracing::info!(%id, grid = %ticket.grid, "reported");
    if out.is_json() {
        out.json(&json!({ "id": id }))
    } else {
        out.line(id)
    }
}
