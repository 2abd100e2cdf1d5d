//! `gridsync ticket comment`: adds a comment to a ticket.

use serde_json::json;

use super::resolve_ticket;
use crate::args::TicketCommentArgs;
use crate::data_dir::DataDir;
use crate::error::CliError;
use crate::output::Output;
use crate::time;

pub fn run(args: &TicketCommentArgs, dir: &DataDir, out: &mut Output) -> Result<(), CliError> {
    let device = dir.open_device()?;
    let id = resolve_ticket(&device, &args.id)?;
    let comment = device.comment(id, &args.text, time::now_ms())?;
    if out.is_json() {
        out.json(&json!({ "ticket": id, "comment": comment }))
    } else {
        out.line(comment)
    }
}
