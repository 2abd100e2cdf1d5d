//! `gridsync visit list`: visits in my grids.

use client_core::model::visit::Visit;

use crate::args::VisitListArgs;
use crate::data_dir::DataDir;
use crate::error::CliError;
use crate::labels::Named;
use crate::output::{self, Output};
use crate::time;
use crate::uuid_prefix::short;

pub fn run(args: &VisitListArgs, dir: &DataDir, out: &mut Output) -> Result<(), CliError> {
    let device = dir.open_device()?;
    let grids = device.grids(args.grid.as_ref())?;
    let mut visits: Vec<Visit> = Vec::new();
    for grid in &grids {
        visits.extend(device.visits(grid)?);
    }
    if let Some(date) = &args.date {
        visits.retain(|v| time::local_date(v.started_at) == *date);
    }
    visits.sort_by_key(|v| (v.started_at, v.id));
    if out.is_json() {
        return out.json(&visits);
    }
    if visits.is_empty() {
        let grids: Vec<&str> = grids.iter().map(|g| g.as_str()).collect();
        let on = args
            .date
            .as_ref()
            .map_or_else(String::new, |d| format!(" on {d}"));
        return out.line(format!("no visits in {}{on}", grids.join(", ")));
    }
    let mut t = output::table([
        "编号 id",
        "时间 started",
        "类型 type",
        "网格 grid",
        "住户 household",
        "结果 outcome",
        "网格员 worker",
        "备注 notes",
        "工单 tickets",
        "更正 amends",
    ]);
    for v in &visits {
        let tickets: Vec<String> = v.tickets.iter().map(|t| short(&t.uuid())).collect();
        t.add_row([
            short(&v.id.uuid()),
            time::show(Some(v.started_at)),
            v.visit_type.both(),
            v.grid.to_string(),
            output::or_dash(v.household.as_deref()),
            v.outcome.both(),
            v.worker.clone(),
            v.notes.clone(),
            tickets.join(", "),
            v.amends
                .map_or_else(|| "-".to_owned(), |a| short(&a.uuid())),
        ]);
    }
    out.table(&t)
}
