//! One module per command; this one routes to them.

mod category_list;
mod export;
mod init;
mod login;
mod sync;
mod ticket_comment;
mod ticket_event;
mod ticket_import;
mod ticket_list;
mod ticket_new;
mod ticket_photo;
mod ticket_show;
mod todo;
mod visit_add;
mod visit_list;
mod whoami;

use client_core::device::Device;
use client_core::ids::TicketId;
use client_core::store::{Listing, Store};

use crate::args::{CategoryCommand, Cli, Command, PhotoCommand, TicketCommand, VisitCommand};
use crate::data_dir::DataDir;
use crate::error::CliError;
use crate::output::{self, Output};
use crate::uuid_prefix::UuidPrefix;
pub(crate) use login::api_url;

pub fn run(cli: &Cli, dir: &DataDir, out: &mut Output) -> Result<(), CliError> {
    match &cli.command {
        Command::Init(a) => init::run(a, dir, out),
        Command::Whoami => whoami::run(dir, out),
        Command::Login(a) => login::run(a, dir, out),
        Command::Todo => todo::run(dir, out),
        Command::Sync(a) => sync::run(a, dir, out),
        Command::Export(a) => export::run(a, dir, out),
        Command::Category(CategoryCommand::List) => category_list::run(dir, out),
        Command::Ticket(t) => match t {
            TicketCommand::New(a) => ticket_new::run(a, dir, out),
            TicketCommand::List(a) => ticket_list::run(a, dir, out),
            TicketCommand::Show(a) => ticket_show::run(a, dir, out),
            TicketCommand::Event(a) => ticket_event::run(a, dir, out),
            TicketCommand::Comment(a) => ticket_comment::run(a, dir, out),
            TicketCommand::Import(a) => ticket_import::run(a, dir, out),
            TicketCommand::Photo(PhotoCommand::Add(a)) => ticket_photo::add(a, dir, out),
            TicketCommand::Photo(PhotoCommand::Get(a)) => ticket_photo::get(a, dir, out),
        },
        Command::Visit(v) => match v {
            VisitCommand::Add(a) => visit_add::run(a, dir, out),
            VisitCommand::List(a) => visit_list::run(a, dir, out),
        },
    }
}

/// Resolves a ticket id or prefix against the local summary index of this
/// device's grids. A whole UUID is taken as given.
pub fn resolve_ticket<S: Store>(device: &Device<S>, id: &UuidPrefix) -> Result<TicketId, CliError> {
    if let Some(whole) = id.whole() {
        return Ok(TicketId::from_uuid(whole));
    }
    let candidates = device.tickets(None, Listing::All)?.into_iter().map(|t| {
        (
            t.id.uuid(),
            format!("{}  {}", t.grid, output::first_line(&t.title)),
        )
    });
    id.resolve(candidates, "ticket", "gridsync ticket list --all")
        .map(TicketId::from_uuid)
}
