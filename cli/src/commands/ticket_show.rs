//! `gridsync ticket show`: one ticket with its folded status, event
//! history, comments and conflicts.

use client_core::model::lifecycle::{CloseReason, Event, Role};
use client_core::model::ticket::{Resident, Ticket};

use super::resolve_ticket;
use crate::args::TicketShowArgs;
use crate::data_dir::DataDir;
use crate::error::CliError;
use crate::labels::Named;
use crate::output::{self, Output};
use crate::photos::PhotoStore;
use crate::refusal;
use crate::time;

pub fn run(args: &TicketShowArgs, dir: &DataDir, out: &mut Output) -> Result<(), CliError> {
    let device = dir.open_device()?;
    let id = resolve_ticket(&device, &args.id)?;
    let mut ticket = device.ticket(id)?;
    let role = device.identity().role;
    // Reviewers read and export; resident contact details are not theirs.
    if role == Role::Reviewer {
        ticket.resident = Resident::default();
    }
    print(&ticket, role, &PhotoStore::new(dir), out)?;
    if let Some(broken) = device.broken_limit(id)? {
        // On stderr, so `--json` output stays one document.
        eprintln!(
            "warning: this ticket's document breaks GridSync's document limits ({broken}); \
             only what fits a ticket's layout was read, and the relay will refuse the rest"
        );
    }
    Ok(())
}

/// Prints a ticket (also used by `ticket event`).
pub(super) fn print(
    ticket: &Ticket,
    role: Role,
    photos: &PhotoStore,
    out: &mut Output,
) -> Result<(), CliError> {
    if out.is_json() {
        let mut value = serde_json::to_value(ticket)
            .map_err(|e| CliError::Internal(format!("cannot show the ticket as JSON: {e}")))?;
        value["photos_not_uploaded"] = ticket
            .photos
            .iter()
            .filter(|p| photos.is_pending(&p.hash))
            .map(|p| serde_json::Value::from(p.hash.clone()))
            .collect();
        return out.json(&value);
    }
    out.table(&fields(ticket, photos))?;
    out.line("事件 events")?;
    out.table(&events(ticket))?;
    if !ticket.comments.is_empty() {
        out.line("评论 comments")?;
        let mut t = output::table(["时间 at", "作者 author", "内容 text"]);
        for c in &ticket.comments {
            t.add_row([time::show(Some(c.at)), c.author.clone(), c.text.clone()]);
        }
        out.table(&t)?;
    }
    if !ticket.state.conflicts.is_empty() {
        out.line("冲突 conflicts (kept, not applied; a supervisor resolves them)")?;
        let mut t = output::table(["事件 event #", "动作 action", "操作人 actor", "原因 reason"]);
        for c in &ticket.state.conflicts {
            t.add_row([
                (c.index + 1).to_string(),
                c.action.map_or_else(|| "?".to_owned(), |a| a.both()),
                output::or_dash(c.actor.as_deref()),
                c.reason.to_string(),
            ]);
        }
        out.table(&t)?;
    }
    out.line(format!(
        "next: {}",
        refusal::you_can(ticket.state.status, role)
    ))
}

fn fields(t: &Ticket, store: &PhotoStore) -> comfy_table::Table {
    let st = &t.state;
    let mut rows: Vec<(&str, String)> = vec![
        ("编号 id", t.id.to_string()),
        ("标题 title", t.title.clone()),
        ("状态 status", status_text(t)),
        ("网格 grid", output::or_dash(t.grid.as_ref())),
        (
            "类型 kind",
            t.kind.map_or_else(|| "-".to_owned(), |k| k.both()),
        ),
        (
            "来源 source",
            t.source.map_or_else(|| "-".to_owned(), |s| s.both()),
        ),
        ("类别 category", or_dash_str(&t.category)),
        (
            "紧急 urgency",
            t.urgency.map_or_else(|| "-".to_owned(), |u| u.both()),
        ),
        ("描述 description", or_dash_str(&t.description)),
    ];
    if let Some(loc) = &t.location {
        let mut text = format!("{}, {}", loc.lat, loc.lon);
        if let Some(acc) = loc.accuracy_m {
            text.push_str(&format!(" (accuracy {acc} m)"));
        }
        if let Some(addr) = &loc.address {
            text.push_str(&format!("\n{addr}"));
        }
        rows.push(("位置 location", text));
    }
    if t.resident.name.is_some() || t.resident.phone.is_some() {
        let parts: Vec<&str> = [t.resident.name.as_deref(), t.resident.phone.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        rows.push(("居民 resident", parts.join(" ")));
    }
    rows.push((
        "上报 reported",
        format!(
            "{} {}",
            t.created_by,
            time::show(st.reported_at.or(t.created_at))
        ),
    ));
    if let Some(unit) = &st.unit {
        rows.push(("处置单位 unit", unit.clone()));
    }
    if st.due_at.is_some() {
        rows.push(("期限 due", time::show(st.due_at)));
    }
    if let Some(by) = &st.handled_by {
        rows.push((
            "处置 handled",
            format!("{by} {}", time::show(st.handled_at)),
        ));
    }
    if let Some(reason) = &st.close_reason {
        let why = match reason {
            CloseReason::Resolved => "办结 resolved".to_owned(),
            CloseReason::Cancelled => "撤销 cancelled".to_owned(),
            CloseReason::Duplicate(of) => format!("重复 duplicate of {of}"),
        };
        rows.push(("结案 closed", format!("{} {why}", time::show(st.closed_at))));
    }
    if let Some(r) = st.rating {
        rows.push(("评价 rating", r.both()));
    }
    if st.rework_count > 0 || st.returned_count > 0 {
        rows.push((
            "返工/退单 rework/returned",
            format!("{} / {}", st.rework_count, st.returned_count),
        ));
    }
    if let Some(p) = &st.extension {
        rows.push((
            "延期申请 extension pending",
            format!(
                "{} {}: to {} ({})",
                p.by,
                time::show(Some(p.at)),
                time::show(p.proposed_due_at),
                p.reason.as_deref().unwrap_or("-")
            ),
        ));
    }
    if st.extensions_requested > 0 {
        rows.push((
            "延期 extensions",
            format!(
                "requested {}, approved {}, refused {}",
                st.extensions_requested, st.extensions_approved, st.extensions_refused
            ),
        ));
    }
    if st.urge_count > 0 {
        rows.push((
            "督办 urged",
            format!(
                "{} time(s), latest {} {}",
                st.urge_count,
                time::show(st.urged_at),
                st.urge_note.as_deref().unwrap_or("")
            ),
        ));
    }
    if !st.suspensions.is_empty() {
        let spans: Vec<String> = st
            .suspensions
            .iter()
            .map(|(from, to)| format!("{} -> {}", time::show(Some(*from)), time::show(*to)))
            .collect();
        rows.push(("挂账 suspended", spans.join("\n")));
    }
    if !t.photos.is_empty() {
        let photos: Vec<String> = t
            .photos
            .iter()
            .map(|p| {
                format!(
                    "{} {}{}",
                    p.phase,
                    p.hash.chars().take(12).collect::<String>(),
                    if store.is_pending(&p.hash) {
                        "  (not uploaded yet)"
                    } else {
                        ""
                    }
                )
            })
            .collect();
        rows.push(("照片 photos", photos.join("\n")));
    }
    let mut table = output::fields();
    for (name, value) in rows {
        table.add_row([name.to_owned(), value]);
    }
    table
}

fn status_text(t: &Ticket) -> String {
    let mut s = t.status().both();
    if !t.state.conflicts.is_empty() {
        s.push_str(&format!(", 冲突 {} conflicts", t.state.conflicts.len()));
    }
    s
}

fn or_dash_str(s: &str) -> String {
    if s.is_empty() {
        "-".to_owned()
    } else {
        s.to_owned()
    }
}

fn events(t: &Ticket) -> comfy_table::Table {
    let mut table = output::table([
        "#",
        "时间 at",
        "动作 action",
        "操作人 actor",
        "详情 details",
        "结果 result",
    ]);
    for (i, entry) in t.events.iter().enumerate() {
        let result = match t.state.conflicts.iter().find(|c| c.index == i) {
            Some(c) => format!("冲突 conflict: {}", c.reason),
            None => "ok".to_owned(),
        };
        let row = match entry {
            Ok(ev) => [
                (i + 1).to_string(),
                time::show(Some(ev.at_device)),
                ev.to.both(),
                format!("{} ({})", ev.actor, ev.role.both()),
                details(ev),
                result,
            ],
            Err(why) => [
                (i + 1).to_string(),
                "-".to_owned(),
                "?".to_owned(),
                "-".to_owned(),
                format!("unreadable: {why}"),
                result,
            ],
        };
        table.add_row(row);
    }
    table
}

fn details(ev: &Event) -> String {
    let mut parts = Vec::new();
    if let Some(unit) = &ev.unit {
        parts.push(format!("单位 unit: {unit}"));
    }
    if ev.due_at.is_some() {
        parts.push(format!("期限 due: {}", time::show(ev.due_at)));
    }
    if let Some(limit) = &ev.time_limit {
        let from = ev
            .catalog_version
            .map_or_else(|| "urgency default".to_owned(), |v| format!("catalog v{v}"));
        parts.push(format!("时限 limit: {limit} ({from})"));
    }
    if let Some(CloseReason::Duplicate(of)) = &ev.close_reason {
        parts.push(format!("重复 duplicate of {of}"));
    }
    if let Some(r) = ev.rating {
        parts.push(r.both());
    }
    if let Some(note) = &ev.note {
        parts.push(note.clone());
    }
    parts.join("\n")
}
