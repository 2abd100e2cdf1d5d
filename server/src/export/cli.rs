//! `gridsync-server export`: the district-review report from the relay's
//! database, run on the relay machine by an administrator (it works while
//! the relay runs: the database is shared between processes).
//!
//! Mirrors the device's `gridsync export` (flags, defaults, the progress
//! bar, the temporary-file-then-rename writing), except that grids are
//! placed by the relay's registry rather than a grids file, and every grid
//! on the relay may be exported.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use client_core::ids::GridCode;
use client_core::report::{ExportStats, Format, ReportError, ReportOptions};
use client_core::store::RedbStore;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use client_core::report::output::{OutputError, WriteSend, write_atomically};

use super::{ExportError, Hooks, Selection, Written};
use crate::registry::{Registry, Scope};

/// `gridsync-server export` flags.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Data directory of the relay
    #[arg(long, default_value = "./gridsync-data", env = "GRIDSYNC_DATA")]
    pub data: PathBuf,
    /// What to write
    #[arg(long, value_enum)]
    pub format: FormatArg,
    /// Where to write it; - for stdout (json, geojson, and csv with --table only)
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// csv: write only this table, as a plain .csv [default: every table in a zip]
    #[arg(long, value_enum)]
    pub table: Option<TableArg>,
    /// First day of the period, YYYY-MM-DD [default: the 1st of the current month, or of --to's month]
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = super::parse_day)]
    pub from: Option<chrono::NaiveDate>,
    /// Last day of the period, inclusive, YYYY-MM-DD [default: the last day of the current month, or today with --from]
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = super::parse_day)]
    pub to: Option<chrono::NaiveDate>,
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
    /// Language of headers, sheet names and labels
    #[arg(long, value_enum, default_value = "zh")]
    pub lang: LangArg,
    /// Working-time calendar (TOML, format in client-core/calendars/cn-2025.toml);
    /// repeat to combine one file per year [default: mainland China 2025 and 2026, built in]
    #[arg(long = "calendar", value_name = "FILE.toml")]
    pub calendars: Vec<PathBuf>,
    /// UTC offset of local dates and written times
    #[arg(long, value_name = "+HH:MM", default_value = "+08:00", allow_hyphen_values = true, value_parser = super::parse_offset)]
    pub offset: chrono::FixedOffset,
    /// Add residents' names and phones, ticket descriptions and visit notes
    #[arg(long)]
    pub include_personal: bool,
    /// Print where the export went and its counts as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// One workbook: 说明 (metadata), three summary sheets, tickets, visits
    Xlsx,
    /// UTF-8 CSV with BOM: a zip of every table, or one table with --table
    Csv,
    /// RFC 7946 FeatureCollection of the tickets, [lon, lat] in WGS84
    Geojson,
    /// One object: metadata and every table, stable English keys
    Json,
}

/// One table of the report, for `--format csv --table`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableArg {
    /// 按网格汇总: figures per grid
    ByGrid,
    /// 按社区汇总: figures per community
    ByCommunity,
    /// 按街道汇总: figures per street
    ByStreet,
    /// 工单明细: one row per ticket
    Tickets,
    /// 走访明细: one row per visit
    Visits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LangArg {
    /// 中文
    Zh,
    /// English
    En,
}

fn non_blank(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        Err("give a name, not a blank".to_owned())
    } else {
        Ok(t.to_owned())
    }
}

/// Why the command failed, and its exit code.
enum Failure {
    /// Exit 2: a bad combination of flags.
    Usage(String),
    /// Exit 1.
    Failed(String),
}

impl From<OutputError> for Failure {
    fn from(e: OutputError) -> Self {
        match e {
            OutputError::NoFileName(_) => Failure::Usage(e.to_string()),
            OutputError::Io { .. } => Failure::Failed(e.to_string()),
        }
    }
}

impl From<ExportError> for Failure {
    fn from(e: ExportError) -> Self {
        match e {
            ExportError::Usage(m) => Failure::Usage(m),
            other => Failure::Failed(other.to_string()),
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
    let format = super::format(format_name(args.format), args.table.map(table_name))
        .map_err(|e| Failure::Usage(format!("--{e}")))?;
    let to_stdout = args.out.as_os_str() == "-";
    check_destination(args, format, to_stdout)?;
    let now = chrono::Utc::now().timestamp_millis();
    let period = super::period(args.from, args.to, args.offset, now)?;
    let calendar = super::load_calendar(&args.calendars)?;

    let path = args.data.join("relay.redb");
    if !path.is_file() {
        return Err(Failure::Failed(format!(
            "no relay database at {}; pass the relay's --data (or set GRIDSYNC_DATA)",
            path.display()
        )));
    }
    let store = RedbStore::open(&path).map_err(|e| {
        Failure::Failed(format!(
            "could not open the relay database {}: {e}",
            path.display()
        ))
    })?;
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
    options.lang = match args.lang {
        LangArg::Zh => client_core::report::Lang::Zh,
        LangArg::En => client_core::report::Lang::En,
    };
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
    options.offset = args.offset;
    options.include_personal = args.include_personal;

    let progress = progress_bar();
    let shown = if to_stdout {
        "stdout".to_owned()
    } else {
        args.out.display().to_string()
    };
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
        super::write(&store, &grids, format, options, sink, hooks)
            .map_err(|e| explain(e, &shown, to_stdout))
    };
    let result = if to_stdout {
        let mut sink = BufWriter::new(io::stdout());
        export(&mut sink).and_then(|w| {
            sink.flush()
                .map_err(|e| Failure::Failed(format!("writing to stdout failed: {e}")))?;
            Ok(w)
        })
    } else {
        write_atomically(&args.out, args.include_personal, export)
    };
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
            out: if to_stdout {
                "-".to_owned()
            } else {
                args.out.display().to_string()
            },
            grids: grids.len(),
            documents_skipped: written.documents_skipped,
            stats: &written.stats,
        };
        let text = serde_json::to_string_pretty(&done)
            .map_err(|e| Failure::Failed(format!("cannot print JSON: {e}")))?;
        println!("{text}");
    }
    Ok(())
}

fn explain(e: ExportError, shown: &str, to_stdout: bool) -> Failure {
    match e {
        ExportError::Report(ReportError::Io(e))
            if to_stdout && e.kind() == io::ErrorKind::BrokenPipe =>
        {
            Failure::Failed("stdout was closed before the export was complete".to_owned())
        }
        e if to_stdout => Failure::Failed(format!("the export to stdout failed partway: {e}")),
        e => Failure::Failed(format!(
            "the export to {shown} failed and {shown} was left as it was: {e}"
        )),
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

fn format_name(f: FormatArg) -> &'static str {
    match f {
        FormatArg::Xlsx => "xlsx",
        FormatArg::Csv => "csv",
        FormatArg::Geojson => "geojson",
        FormatArg::Json => "json",
    }
}

fn table_name(t: TableArg) -> &'static str {
    match t {
        TableArg::ByGrid => "by-grid",
        TableArg::ByCommunity => "by-community",
        TableArg::ByStreet => "by-street",
        TableArg::Tickets => "tickets",
        TableArg::Visits => "visits",
    }
}

fn check_destination(args: &ExportArgs, format: Format, to_stdout: bool) -> Result<(), Failure> {
    if to_stdout {
        if matches!(format, Format::Xlsx | Format::CsvZip) {
            return Err(Failure::Usage(format!(
                "--out - writes to stdout only for json, geojson and csv with --table; {} is a \
                 binary file: give --out a file name, for example report.{}",
                if format == Format::Xlsx {
                    "an XLSX workbook"
                } else {
                    "the zip of CSV tables"
                },
                format.extension()
            )));
        }
        if args.json {
            return Err(Failure::Usage(
                "--json prints the export's counts on stdout, where --out - writes the export: \
                 give --out a file name, or leave out --json"
                    .to_owned(),
            ));
        }
    } else if args.out.is_dir() {
        return Err(Failure::Usage(format!(
            "--out {} is a directory; give a file name, for example {}",
            args.out.display(),
            args.out
                .join(format!("report.{}", format.extension()))
                .display()
        )));
    }
    Ok(())
}

/// A spinner with a count on stderr when a person is watching.
fn progress_bar() -> Option<ProgressBar> {
    if !io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} exporting {msg}: {human_pos} records  {elapsed}")
    {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(bar)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            w.write_all(b"{}")
                .map_err(|e| Failure::Failed(e.to_string()))
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
