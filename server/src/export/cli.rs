//! `gridsync-server export`: the district-review report from the relay's
//! database, run on the relay machine by an administrator (it works while
//! the relay runs: the database is shared between processes).
//!
//! Shares with the device's `gridsync export` what client-core's
//! `report::input` and `report::output` hold (the [`ExportFlags`], the
//! destination checks, the progress bar, the temporary-file-then-rename
//! writing); it differs in that grids are placed by the relay's registry
//! rather than a grids file, and every grid on the relay may be exported.

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use client_core::ids::GridCode;
use client_core::report::input::{self, ExportFlags};
use client_core::report::output::{
    Destination, DestinationError, ExportFailed, OutputError, WriteSend, progress_bar,
};
use client_core::report::{ExportStats, Format, Lang, ReportError, ReportOptions};
use serde::Serialize;

use super::{ExportError, Hooks, Selection, Written};
use crate::registry::{Registry, Scope};

/// `gridsync-server export` flags.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Data directory of the relay
    #[arg(long, default_value = "./gridsync-data", env = "GRIDSYNC_DATA")]
    pub data: PathBuf,
    #[command(flatten)]
    pub report: ExportFlags,
    /// Only this grid; repeat for more [default: every grid on the relay]
    #[arg(long = "grid", value_name = "CODE")]
    pub grids: Vec<GridCode>,
    /// Only grids in this community (社区), as registered
    #[arg(long, value_name = "NAME", value_parser = non_blank)]
    pub community: Option<String>,
    /// Only grids in this street (街道), as registered
    #[arg(long, value_name = "NAME", value_parser = non_blank)]
    pub street: Option<String>,
    /// Only grids in this district (区), as registered
    #[arg(long, value_name = "NAME", value_parser = non_blank)]
    pub district: Option<String>,
    /// Add residents' names and phones, ticket descriptions and visit notes
    #[arg(long)]
    pub include_personal: bool,
    /// Print where the export went and its counts as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

fn non_blank(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        Err("give a name, not a blank".to_owned())
    } else {
        Ok(t.to_owned())
    }
}

type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why the command failed, and its exit code.
enum Failure {
    /// Exit 2: a bad combination of flags.
    Usage(Cause),
    /// Exit 1.
    Failed(Cause),
}

impl From<OutputError> for Failure {
    fn from(e: OutputError) -> Self {
        match e {
            OutputError::NoFileName(_) => Failure::Usage(e.into()),
            OutputError::Io { .. } | OutputError::Stdout(_) => Failure::Failed(e.into()),
        }
    }
}

impl From<DestinationError> for Failure {
    fn from(e: DestinationError) -> Self {
        Failure::Usage(e.into())
    }
}

impl From<ExportError> for Failure {
    fn from(e: ExportError) -> Self {
        match e {
            ExportError::Usage(_) | ExportError::Calendar(_) => Failure::Usage(e.into()),
            other => Failure::Failed(other.into()),
        }
    }
}

/// What `--json` prints.
#[derive(Debug, Serialize)]
struct Done<'a> {
    out: String,
    grids: usize,
    documents_skipped: u64,
    #[serde(flatten)]
    stats: &'a ExportStats,
}

/// Runs the command; errors go to stderr. Exit codes: 0 done, 1 failed
/// (nothing written to `--out`), 2 bad flags.
pub fn run(args: &ExportArgs) -> ExitCode {
    match export(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(m)) => {
            eprintln!("gridsync-server export: error: {m}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(m)) => {
            eprintln!("gridsync-server export: error: {m}");
            ExitCode::FAILURE
        }
    }
}

fn export(args: &ExportArgs) -> Result<(), Failure> {
    let format = input::format(args.report.format, args.report.table)
        .map_err(|e| Failure::Usage(format!("--{e}").into()))?;
    let to = Destination::check(&args.report.out, format, args.json)?;
    let now = chrono::Utc::now().timestamp_millis();
    let period = super::period(args.report.from, args.report.to, args.report.offset, now)?;
    let calendar = input::load_calendar(&args.report.calendars).map_err(ExportError::from)?;

    let store = crate::admin::open_store(&args.data).map_err(|e| Failure::Failed(e.into()))?;
    let db = store.database();
    let registry = Registry::new(&db).map_err(ExportError::from)?;
    let want = Selection {
        grids: args.grids.clone(),
        community: args.community.clone(),
        street: args.street.clone(),
        district: args.district.clone(),
    };
    let selected = super::select(&registry, &store, &want, &Scope::All)?;
    let mut options = ReportOptions::new(period);
    options.as_of = Some(now);
    options.lang = Lang::from(args.report.lang);
    for g in &selected.unregistered {
        eprintln!(
            "warning: grid {g} is not in the registry; its community, street and district read \
             as {} (`gridsync-server grid add --code {g} ...` registers it)",
            options.lang.unknown()
        );
    }
    options.filter = selected.filter;
    options.grids = selected.directory;
    options.calendar = calendar;
    options.offset = args.report.offset;
    options.include_personal = args.include_personal;

    let progress = progress_bar();
    let shown = to.shown();
    let grids = selected.grids;
    let export = |sink: &mut dyn WriteSend| {
        let phase = |what: String| {
            if let Some(bar) = &progress {
                bar.set_message(what);
            }
        };
        let hooks = Hooks {
            progress: progress
                .clone()
                .map(|bar| Box::new(move |n| bar.set_position(n)) as Box<dyn FnMut(u64) + Send>),
            phase: &phase,
            cancelled: &|| false,
        };
        super::write(&store, &grids, format, options, sink, hooks).map_err(|e| explain(e, &to))
    };
    let result = to.write(args.include_personal, export);
    if let Some(p) = &progress {
        p.finish_and_clear();
    }
    let written = result?;
    report(&written, grids.len(), format, &shown);
    tracing::info!(
        grids = grids.len(),
        tickets = written.stats.tickets_exported,
        visits = written.stats.visits_exported,
        include_personal = args.include_personal,
        out = %shown,
        "exported"
    );
    if args.json {
        let done = Done {
            out: to.arg(),
            grids: grids.len(),
            documents_skipped: written.documents_skipped,
            stats: &written.stats,
        };
        let text = serde_json::to_string_pretty(&done)
            .map_err(|e| Failure::Failed(format!("cannot print JSON: {e}").into()))?;
        println!("{text}");
    }
    Ok(())
}

fn explain(e: ExportError, to: &Destination) -> Failure {
    match e {
        ExportError::Report(ReportError::Io(e))
            if to.is_stdout() && e.kind() == io::ErrorKind::BrokenPipe =>
        {
            Failure::Failed("stdout was closed before the export was complete".into())
        }
        cause => Failure::Failed(
            ExportFailed {
                to: to.clone(),
                cause,
            }
            .into(),
        ),
    }
}

/// The one-line summary and any warnings, on stderr.
fn report(written: &Written, grids: usize, format: Format, shown: &str) {
    let stats = &written.stats;
    eprintln!(
        "exported {} tickets, {} visits of {grids} grid(s) to {shown} (calendar: {})",
        stats.tickets_exported, stats.visits_exported, stats.calendar
    );
    if written.documents_skipped > 0 {
        eprintln!(
            "warning: {} document(s) listed in the grid indexes could not be read and are left \
             out (the log names them); a newer client may have written them",
            written.documents_skipped
        );
    }
    for line in stats.warnings(format) {
        eprintln!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use client_core::report::output::write_atomically;

    #[test]
    fn a_failed_export_leaves_no_file_behind() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("report.json");
        std::fs::write(&target, "old").unwrap();
        let failed: Result<(), Failure> = write_atomically(&target, false, |w| {
            w.write_all(b"{\"half\":").unwrap();
            Err(Failure::Failed("disk full".into()))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["report.json"]);
        write_atomically(&target, true, |w| {
            w.write_all(b"{}").map_err(|e| Failure::Failed(e.into()))
        })
        .ok()
        .unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "{}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&target).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
