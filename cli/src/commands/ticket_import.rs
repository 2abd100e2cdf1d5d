//! `gridsync ticket import`: reports tickets from a JSON-lines file.
//!
//! The file is read and checked whole before anything is written, so a
//! typo on line 900 does not leave 899 tickets behind. Then each ticket is
//! reported in its own storage transaction and `saved <id>` is printed
//! (and flushed) only after that transaction committed: whatever happens to
//! the process afterwards, every printed id is on disk.

use std::io::{IsTerminal, Read};

use client_core::model::ticket::NewTicket;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::args::TicketImportArgs;
use crate::data_dir::DataDir;
use crate::error::CliError;
use crate::output::Output;
use crate::refusal;
use crate::ticket_draft::TicketDraft;
use crate::time;

/// How many bad lines one error message lists.
const SHOWN_ERRORS: usize = 10;

pub fn run(args: &TicketImportArgs, dir: &DataDir, out: &mut Output) -> Result<(), CliError> {
    let text = read_input(args)?;
    let device = dir.open_device()?;
    let me = device.identity().clone();
    let (tickets, errors) = parse(&text);
    let mut problems = errors;
    // Checked against the device's catalog when it has one (as `ticket
    // new` does); without one, codes are kept as given.
    let catalog = device.catalog()?;
    for (line, t) in &tickets {
        if let Some(c) = &catalog
            && !t.category.is_empty()
            && c.get(&t.category).is_none()
        {
            let near: Vec<String> = c
                .nearest(&t.category, 3)
                .into_iter()
                .map(|c| format!("{} {}", c.code, c.name_zh))
                .collect();
            problems.push(format!(
                "line {line}: category `{}` is not in the catalog (version {}); nearest: {}",
                t.category,
                c.version,
                near.join(", ")
            ));
        }
        if !me.grids.contains(&t.grid) {
            problems.push(format!(
                "line {line}: grid {} is not one of yours ({})",
                t.grid,
                me.grids
                    .iter()
                    .map(|g| g.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    if !problems.is_empty() {
        problems.sort_by_key(|p| line_of(p));
        let n = problems.len();
        let mut shown: Vec<String> = problems.into_iter().take(SHOWN_ERRORS).collect();
        if n > SHOWN_ERRORS {
            shown.push(format!("... and {} more", n - SHOWN_ERRORS));
        }
        return Err(CliError::Refused(format!(
            "{n} problem(s) in {}; nothing was imported. Fix them and run the import again:\n  {}",
            args.file.display(),
            shown.join("\n  ")
        )));
    }
    let progress = progress_bar(tickets.len() as u64);
    for (i, (line, ticket)) in tickets.iter().enumerate() {
        let id = device.report(ticket, time::now_ms()).map_err(|e| {
            refusal::explain(e, None, me.role).retold(|e| {
                format!(
                    "line {line} was not imported: {e}. The {i} ticket(s) before it are \
                         saved; re-running the same file does not duplicate tickets that have \
                         an id"
                )
            })
        })?;
        progress.suspend(|| {
            if out.is_json() {
                out.json_line(&json!({ "line": line, "saved": id }))
            } else {
                out.line(format!("saved {id}"))
            }
        })?;
        progress.inc(1);
    }
    progress.finish_and_clear();
    tracing::info!(count = tickets.len(), file = %args.file.display(), "imported");
    Ok(())
}

fn read_input(args: &TicketImportArgs) -> Result<String, CliError> {
    let mut text = String::new();
    let read = if args.file.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::File::open(&args.file).and_then(|mut f| f.read_to_string(&mut text).map(|_| ()))
    };
    read.map_err(|e| {
        CliError::Refused(format!(
            "cannot read {}: {e}; give a UTF-8 JSON-lines file, or - for stdin",
            args.file.display()
        ))
    })?;
    Ok(text)
}

/// The tickets of the non-blank lines (numbered from 1), and one message
/// per bad line.
fn parse(text: &str) -> (Vec<(usize, NewTicket)>, Vec<String>) {
    let mut tickets = Vec::new();
    let mut errors = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        if raw.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<TicketDraft>(raw)
            .map_err(|e| e.to_string())
            .and_then(TicketDraft::into_new_ticket)
        {
            Ok(t) => tickets.push((line, t)),
            Err(e) => errors.push(format!("line {line}: {e}")),
        }
    }
    (tickets, errors)
}

fn line_of(problem: &str) -> usize {
    problem
        .strip_prefix("line ")
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX)
}

/// A bar on stderr when a person is watching; hidden otherwise.
fn progress_bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} tickets  {per_sec}  eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_lines_are_numbered_and_blank_lines_skipped() {
        let text = "{\"grid\":\"GL-01\",\"title\":\"路灯\"}\n\n{\"grid\":\"GL-01\"}\nnot json\n";
        let (ok, bad) = parse(text);
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].0, 1);
        assert_eq!(bad.len(), 2);
        assert!(bad[0].starts_with("line 3:"), "{bad:?}");
        assert_eq!(line_of(&bad[1]), 4);
    }
}
