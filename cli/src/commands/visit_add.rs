//! `gridsync visit add`: logs a visit (走访) in my visit log for its day.

use client_core::ids::VisitId;
use client_core::model::visit::Visit;
use serde_json::json;

use super::resolve_ticket;
use crate::args::VisitAddArgs;
use crate::data_dir::DataDir;
use crate::error::CliError;
use crate::output::{self, Output};
use crate::time;

pub fn run(args: &VisitAddArgs, dir: &DataDir, out: &mut Output) -> Result<(), CliError> {
    let started_at = args.started.unwrap_or_else(time::now_ms);
    if let Some(ended) = args.ended
        && ended < started_at
    {
        return Err(CliError::Usage(
            "--ended is before --started; check both times (RFC 3339, for example \
             2025-03-01T09:30:00+08:00)"
                .to_owned(),
        ));
    }
    let device = dir.open_device()?;
    // Refuse a foreign grid before resolving ids in it.
    device.grids(Some(&args.grid))?;
    let mut tickets = Vec::with_capacity(args.tickets.len());
    for p in &args.tickets {
        let id = resolve_ticket(&device, p)?;
        device.ticket(id)?;
        if !tickets.contains(&id) {
            tickets.push(id);
        }
    }
    let amends = match &args.amends {
        None => None,
        Some(p) => {
            let earlier = device.visits(&args.grid)?;
            let candidates = earlier.iter().map(|v| {
                let about = format!(
                    "{} {} {}",
                    time::show(Some(v.started_at)),
                    v.worker,
                    output::or_dash(v.household.as_deref())
                );
                (v.id.uuid(), about)
            });
            let id = p.resolve(candidates, "visit", "gridsync visit list")?;
            if !earlier.iter().any(|v| v.id.uuid() == id) {
                return Err(CliError::Refused(format!(
                    "no visit {id} in grid {}; check the id with `gridsync visit list --grid {}`",
                    args.grid, args.grid
                )));
            }
            Some(VisitId::from_uuid(id))
        }
    };
    let me = device.identity();
    let visit = Visit {
        id: args.id.unwrap_or_else(VisitId::random),
        visit_type: args.visit_type,
        grid: args.grid.clone(),
        household: args.household.clone().filter(|h| !h.trim().is_empty()),
        worker: me.user.clone(),
        started_at,
        ended_at: args.ended,
        lat: args.lat,
        lon: args.lon,
        outcome: args.outcome,
        notes: args.notes.clone().unwrap_or_default(),
        tickets,
        amends,
    };
    let date = time::local_date(started_at);
    let id = device.add_visit(&visit, &date)?;
    tracing::info!(%id, %date, "visit logged");
    if out.is_json() {
        out.json(&json!({ "id": id, "date": date }))
    } else {
        out.line(id)
    }
}
