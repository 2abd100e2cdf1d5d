//! `gridsync ticket new`: reports a ticket (上报).

use client_core::device::CategoryCheck;
use client_core::model::lifecycle::Status;
use serde_json::json;

use crate::args::TicketNewArgs;
use crate::data_dir::DataDir;
use crate::error::CliError;
use crate::output::Output;
use crate::photos::PhotoStore;
use crate::refusal;
use crate::ticket_draft::TicketDraft;
use crate::time;

pub fn run(args: &TicketNewArgs, dir: &DataDir, out: &mut Output) -> Result<(), CliError> {
    let device = dir.open_device()?;
    let mut ticket = TicketDraft::from_args(args)
        .into_new_ticket()
        .map_err(CliError::Usage)?;
    if !ticket.category.is_empty() {
        match device.check_category(&ticket.category)? {
            CategoryCheck::Known(c) => {
                if args.kind.is_none() {
                    ticket.kind = c.kind;
                }
            }
            CategoryCheck::Unknown { version, nearest } => {
                let near: Vec<String> = nearest
                    .iter()
                    .map(|c| format!("{} {}", c.code, c.name_zh))
                    .collect();
                return Err(CliError::Refused(format!(
                    "category `{}` is not in the catalog (version {version}); nearest: {}. \
                     `gridsync category list` shows every code",
                    ticket.category,
                    if near.is_empty() {
                        "none".to_owned()
                    } else {
                        near.join(", ")
                    }
                )));
            }
            CategoryCheck::NoCatalog => {
                tracing::warn!(category = %ticket.category, "no catalog on this device; category not checked");
                eprintln!(
                    "warning: this device has no category catalog yet, so `{}` was not checked; \
                     run `gridsync sync` to receive it",
                    ticket.category
                );
            }
        }
    }
    // Photos are read first (a file that cannot be read stops the report
    // before anything is written) and stored only once the device agrees to
    // the report (a refused one leaves no photo behind), but before the
    // ticket names them (every photo a ticket names is on disk).
    let taken = args
        .photo
        .iter()
        .map(|f| PhotoStore::read(f))
        .collect::<Result<Vec<_>, _>>()?;
    let now = time::now_ms();
    let refused = |e| refusal::explain(e, None::<Status>, device.identity().role);
    device.may_report(&ticket, now).map_err(refused)?;
    let store = PhotoStore::new(dir);
    let mut hashes: Vec<String> = Vec::new();
    for photo in taken {
        let hash = store.keep(photo)?;
        if !hashes.contains(&hash) {
            hashes.push(hash);
        }
    }
    let id = device.report(&ticket, now).map_err(refused)?;
    for hash in &hashes {
        device.add_photo(id, hash, "before", now)?;
    }
    tracing::info!(%id, grid = %ticket.grid, photos = hashes.len(), "reported");
    if out.is_json() {
        out.json(&json!({ "id": id, "photos": hashes }))
    } else {
        out.line(id)
    }
}
