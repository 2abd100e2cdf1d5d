//! `gridsync ticket list`: tickets from the local summary index.

use client_core::model::summary::TicketSummary;
use client_core::store::{Listing, Store};

use crate::args::TicketListArgs;
use crate::data_dir::DataDir;
use crate::error::CliError;
use crate::labels::Named;
use crate::output::{self, Output};
use crate::time;
use crate::uuid_prefix::short;

pub fn run(args: &TicketListArgs, dir: &DataDir, out: &mut Output) -> Result<(), CliError> {
    let device = dir.open_device()?;
    let closed_status = args.status.is_some_and(|s| !s.is_open());
    let listing = if args.conflicts {
        Listing::Conflicted
    } else if args.all || closed_status {
        Listing::All
    } else {
        Listing::Open
    };
    let mut tickets = device.tickets(args.grid.as_ref(), listing)?;
    if let Some(s) = args.status {
        tickets.retain(|t| t.status == s);
    }
    if out.is_json() {
        return out.json(&tickets);
    }
    if tickets.is_empty() {
        let grids = device.grids(args.grid.as_ref())?;
        let grids: Vec<&str> = grids.iter().map(|g| g.as_str()).collect();
        let what = match (args.status, listing) {
            (Some(s), _) => format!("tickets with status {}", s.both()),
            (None, Listing::Open) => "open tickets".to_owned(),
            (None, Listing::All) => "tickets".to_owned(),
            (None, Listing::Conflicted) => "tickets with conflicts".to_owned(),
        };
        let hint = if listing == Listing::Open && args.status.is_none() {
            " (--all includes closed ones)"
        } else {
            ""
        };
        return out.line(format!("no {what} in {}{hint}", grids.join(", ")));
    }
    let unsent: std::collections::HashSet<_> = device
        .repo()
        .store()
        .outbox()?
        .into_iter()
        .map(|(doc, _)| doc)
        .collect();
    out.table(&table(&tickets, time::now_ms(), &unsent))
}

fn table(
    tickets: &[TicketSummary],
    now: i64,
    unsent: &std::collections::HashSet<client_core::ids::DocumentId>,
) -> comfy_table::Table {
    let mut t = output::table([
        "编号 id",
        "状态 status",
        "网格 grid",
        "标题 title",
        "紧急 urgency",
        "处置单位 unit",
        "期限 due",
        "上报 reported",
        "提示 flags",
    ]);
    for s in tickets {
        t.add_row([
            short(&s.id.uuid()),
            s.status.both(),
            s.grid.to_string(),
            output::first_line(&s.title),
            s.urgency
                .map_or_else(|| "-".to_owned(), |u| u.label_zh().to_owned()),
            output::or_dash(s.unit.as_deref()),
            time::show(s.due_at),
            time::show(s.reported_at),
            flags(s, now, unsent.contains(&s.id.document_id())),
        ]);
    }
    t
}

/// 未同步 / 冲突 / 超期 / 返工 markers.
fn flags(s: &TicketSummary, now: i64, unsent: bool) -> String {
    let mut f = Vec::new();
    if unsent {
        // Local changes the relay has not acknowledged yet.
        f.push("未同步 not yet synced".to_owned());
    }
    if s.conflicts > 0 {
        f.push(format!("冲突 conflicts {}", s.conflicts));
    }
    if s.is_overdue(now) {
        f.push("超期 overdue".to_owned());
    }
    if s.rework_count > 0 {
        f.push(format!("返工 rework {}", s.rework_count));
    }
    f.join(", ")
}
