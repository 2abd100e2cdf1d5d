//! `gridsync export`: the district-review report of this device's grids,
//! from the local store, offline.
//!
//! The command only gathers and checks its inputs and feeds the client-core
//! [`Exporter`]: ticket summaries come from the grid's listing index and
//! each ticket is loaded, pushed and dropped in turn; visits are read one
//! grid at a time. The exporter spools rows to temporary files, so memory
//! stays flat however many tickets there are.
//!
//! A file export is written under a temporary name in the destination's
//! directory, synced, and renamed over `--out` only once complete: `--out`
//! is either the whole export or untouched.

use std::io;
use std::path::Path;

use chrono::NaiveDate;
use client_core::device::Device;
use client_core::ids::GridCode;
use client_core::model::lifecycle::Role;
use client_core::report::input::{self, load_calendar};
use client_core::report::output::{Destination, ExportFailed, WriteSend, progress_bar};
use client_core::report::{
    ExportStats, Exporter, Filter, Format, GridDirectory, GridInfo, Lang, Period, ReportError,
    ReportOptions,
};
use client_core::store::{Listing, Store};
use indicatif::ProgressBar;
use serde::Serialize;

use crate::args::ExportArgs;
use crate::data_dir::DataDir;
use crate::error::CliError;
use crate::labels::Named;
use crate::output::Output;
use crate::time;

/// The progress callback runs every this many records.
const PROGRESS_EVERY: u64 = 16;

/// What `--json` prints: where the export went and the exporter's stats.
#[derive(Debug, Serialize)]
struct Done<'a> {
    out: String,
    #[serde(flatten)]
    stats: &'a ExportStats,
}

pub fn run(args: &ExportArgs, dir: &DataDir, out: &mut Output) -> Result<(), CliError> {
    let format = input::format(args.report.format, args.report.table)
        .map_err(|e| CliError::Usage(format!("--{e}")))?;
    let to = Destination::check(&args.report.out, format, out.is_json())?;
    let now = time::now_ms();
    let period = period(args.report.from, args.report.to, args.report.offset, now)?;
    let calendar = load_calendar(&args.report.calendars)?;
    let lang = Lang::from(args.report.lang);
    let directory = match &args.grids_file {
        Some(path) => read_grids_file(path)?,
        None => GridDirectory::new(),
    };

    let device = dir.open_device()?;
    let me = device.identity();
    if args.include_personal && me.role != Role::Admin {
        return Err(CliError::Refused(format!(
            "--include-personal adds residents' names, phone numbers and notes, and only an \
             admin (管理员 admin) may export them; {} is {}. Export without \
             --include-personal, or ask an admin",
            me.user,
            me.role.both()
        )));
    }
    let grids = select_grids(&device, &args.grids)?;
    if let Some(file) = &args.grids_file {
        for g in grids.iter().filter(|g| directory.get(g).is_none()) {
            eprintln!(
                "warning: grid {g} is not in {}; its community, street and district read as {}",
                file.display(),
                lang.unknown()
            );
        }
    }

    let mut options = ReportOptions::new(period);
    options.as_of = Some(now);
    options.photo_url = device
        .repo()
        .store()
        .meta(client_core::store::meta::SERVER_URL)?
        .and_then(|url| {
            crate::commands::api_url(&String::from_utf8_lossy(&url), "/api/blobs/").ok()
        })
        .map(|uri| uri.to_string());
    options.filter = Filter {
        district: args.district.clone(),
        street: args.street.clone(),
        community: args.community.clone(),
        // The filter names one grid; several --grid are applied by reading only those.
        grid: match grids.as_slice() {
            [one] if !args.grids.is_empty() => Some(one.clone()),
            _ => None,
        },
    };
    options.grids = directory;
    options.calendar = calendar;
    options.offset = args.report.offset;
    options.lang = lang;
    options.include_personal = args.include_personal;

    let progress = progress_bar();
    let shown = to.shown();
    let result = to.write(args.include_personal, |sink: &mut dyn WriteSend| {
        stream(&device, &grids, format, options, sink, progress.as_ref())
            .map_err(|e| e.into_cli(&to))
    });
    if let Some(p) = &progress {
        p.finish_and_clear();
    }
    let stats = result?;

    report(&stats, format, &shown);
    tracing::info!(
        tickets = stats.tickets_exported,
        visits = stats.visits_exported,
        out = %shown,
        "exported"
    );
    if out.is_json() {
        return out.json(&Done {
            out: to.arg(),
            stats: &stats,
        });
    }
    Ok(())
}

/// The one-line summary and any warnings, on stderr.
fn report(stats: &ExportStats, format: Format, shown: &str) {
    eprintln!(
        "exported {} tickets, {} visits to {shown} (calendar: {})",
        stats.tickets_exported, stats.visits_exported, stats.calendar
    );
    for line in stats.warnings(format) {
        eprintln!("{line}");
    }
}

/// Why streaming failed: reading the device, or writing the export.
enum StreamError {
    Device(CliError),
    Report(ReportError),
}

impl From<ReportError> for StreamError {
    fn from(e: ReportError) -> Self {
        StreamError::Report(e)
    }
}

fn from_device<E: Into<CliError>>(e: E) -> StreamError {
    StreamError::Device(e.into())
}

impl StreamError {
    fn into_cli(self, to: &Destination) -> CliError {
        match self {
            StreamError::Device(e) => e,
            // A closed pipe (`gridsync export --out - | head`) is the reader's choice.
            StreamError::Report(ReportError::Io(e))
                if to.is_stdout() && e.kind() == io::ErrorKind::BrokenPipe =>
            {
                CliError::Output(e)
            }
            StreamError::Report(cause) => CliError::Export(Box::new(ExportFailed {
                to: to.clone(),
                cause,
            })),
        }
    }
}

/// Pushes every ticket and visit of `grids` through an exporter into `sink`.
fn stream<S: Store>(
    device: &Device<S>,
    grids: &[GridCode],
    format: Format,
    options: ReportOptions,
    sink: &mut dyn WriteSend,
    progress: Option<&ProgressBar>,
) -> Result<ExportStats, StreamError> {
    let mut exporter = Exporter::new(format, options, sink)?;
    if let Some(bar) = progress {
        let bar = bar.clone();
        exporter = exporter.with_progress(PROGRESS_EVERY, move |n| bar.set_position(n));
    }
    let say = |what: String| {
        if let Some(bar) = progress {
            bar.set_message(what);
        }
    };
    for grid in grids {
        say(format!("tickets of {grid}"));
        // Summaries are small index records holding each ticket's row; a
        // ticket is loaded only for personal data or an older summary.
        let mut summaries = device
            .tickets(Some(grid), Listing::All)
            .map_err(from_device)?;
        summaries.sort_by_key(|s| (s.reported_at, s.id));
        for s in summaries {
            if exporter.push_summary_row(&s)?.is_none() {
                let ticket = device.ticket(s.id).map_err(from_device)?;
                exporter.push_ticket(&ticket)?;
            }
        }
    }
    for grid in grids {
        say(format!("visits of {grid}"));
        for visit in device.visits(grid).map_err(from_device)? {
            exporter.push_visit(&visit)?;
        }
    }
    say("writing the file".to_owned());
    Ok(exporter.finish()?)
}

/// The report period: whole local days at `offset`, `--to` inclusive.
fn period(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    offset: chrono::FixedOffset,
    now: i64,
) -> Result<Period, CliError> {
    client_core::report::input::period_of_days(from, to, offset, now).map_err(CliError::Usage)
}

/// The grids to export: the device's own, or the `--grid` ones if all are.
fn select_grids<S: Store>(
    device: &Device<S>,
    wanted: &[GridCode],
) -> Result<Vec<GridCode>, CliError> {
    let mut grids = Vec::new();
    let wanted = if wanted.is_empty() {
        device.identity().grids.as_slice()
    } else {
        wanted
    };
    for g in wanted {
        device.grids(Some(g)).map_err(|e| {
            CliError::from(e).retold(|m| {
                format!("cannot export grid {g}: a device exports only its own grids; {m}")
            })
        })?;
        if !grids.contains(g) {
            grids.push(g.clone());
        }
    }
    Ok(grids)
}

/// A column of the grids file.
#[derive(Clone, Copy)]
enum Field {
    Grid,
    Name,
    Community,
    Street,
    District,
}

impl Field {
    fn of_header(h: &str) -> Option<Field> {
        Some(match h.trim().to_lowercase().as_str() {
            "grid" | "网格编码" | "网格" => Field::Grid,
            "name" | "网格名称" => Field::Name,
            "community" | "社区" => Field::Community,
            "street" | "街道" | "镇" => Field::Street,
            "district" | "区" | "县" => Field::District,
            _ => return None,
        })
    }
}

/// Reads `--grids-file`: a UTF-8 CSV (a BOM is fine) with a header naming
/// its columns `grid,name,community,street,district` (any order; English or
/// Chinese names; only `grid` is required) and one line per grid.
fn read_grids_file(path: &Path) -> Result<GridDirectory, CliError> {
    let bad = |what: String| {
        CliError::Refused(format!(
            "grids file {}: {what}; give a UTF-8 CSV with the header \
             grid,name,community,street,district and one line per grid",
            path.display()
        ))
    };
    let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot read it ({e})")))?;
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    if std::str::from_utf8(text).is_err() {
        return Err(bad(
            "it is not UTF-8 text (saved as GBK?); in Excel save it as \"CSV UTF-8\"".to_owned(),
        ));
    }
    parse_grids(text).map_err(bad)
}

fn parse_grids(text: &[u8]) -> Result<GridDirectory, String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text);
    let headers = reader
        .headers()
        .map_err(|e| format!("cannot read the header line ({e})"))?
        .clone();
    let mut fields = Vec::new();
    for h in &headers {
        fields.push(Field::of_header(h).ok_or_else(|| {
            format!(
                "line 1: unknown column `{h}` (columns: grid, name, community, street, district)"
            )
        })?);
    }
    if !fields.iter().any(|f| matches!(f, Field::Grid)) {
        return Err("line 1: no `grid` column (网格编码)".to_owned());
    }
    let mut directory = GridDirectory::new();
    let mut seen: Vec<(GridCode, u64)> = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| match e.position() {
            Some(p) => format!("line {}: {e}", p.line()),
            None => e.to_string(),
        })?;
        let line = record.position().map_or(0, csv::Position::line);
        let mut code = None;
        let mut info = GridInfo::default();
        for (field, value) in fields.iter().zip(record.iter()) {
            let value = value.to_owned();
            match field {
                Field::Grid => code = Some(value),
                Field::Name => info.name = value,
                Field::Community => info.community = value,
                Field::Street => info.street = value,
                Field::District => info.district = value,
            }
        }
        let code = code.unwrap_or_default();
        let grid = GridCode::new(code.clone()).map_err(|_| {
            format!(
                "line {line}: `{code}` is not a grid code (letters, digits, - and _, for example \
                 GL-03-07)"
            )
        })?;
        if let Some((_, first)) = seen.iter().find(|(g, _)| *g == grid) {
            return Err(format!(
                "line {line}: grid {grid} is listed twice (first on line {first})"
            ));
        }
        seen.push((grid.clone(), line));
        directory.insert(grid, info);
    }
    Ok(directory)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn at(y: i32, m: u32, d: u32, h: u32) -> i64 {
        time::china()
            .with_ymd_and_hms(y, m, d, h, 0, 0)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn the_period_defaults_to_the_current_month_in_the_offset() {
        let cn = time::china();
        // 2025-01-31T17:00Z is already 1 February in China.
        let now = at(2025, 2, 1, 1);
        let p = period(None, None, cn, now).unwrap();
        assert_eq!(
            p,
            Period::days(day(2025, 2, 1), day(2025, 2, 28), cn).unwrap()
        );
        let dec = period(None, None, cn, at(2024, 12, 15, 12)).unwrap();
        assert_eq!(dec.to, at(2025, 1, 1, 0));
        let since = period(Some(day(2025, 1, 20)), None, cn, now).unwrap();
        assert_eq!(
            (since.from, since.to),
            (at(2025, 1, 20, 0), at(2025, 2, 2, 0))
        );
        let upto = period(None, Some(day(2025, 3, 10)), cn, now).unwrap();
        assert_eq!(
            (upto.from, upto.to),
            (at(2025, 3, 1, 0), at(2025, 3, 11, 0))
        );
        let one_day = period(Some(day(2025, 3, 10)), Some(day(2025, 3, 10)), cn, now).unwrap();
        assert_eq!(one_day.to - one_day.from, 86_400_000);
        let reversed = period(Some(day(2025, 3, 10)), Some(day(2025, 3, 9)), cn, now);
        assert!(matches!(reversed, Err(CliError::Usage(m)) if m.contains("is after the last day")));
        let future = period(Some(day(2025, 3, 10)), None, cn, now);
        assert!(matches!(future, Err(CliError::Usage(m)) if m.contains("today")));
    }

    #[test]
    fn grids_files_name_their_bad_line() {
        let ok = parse_grids(
            "网格编码,网格名称,社区,街道,区\nGL-01,幸福里第一网格,幸福社区,东城街道,示例区\n\
             GL-02,\"和平, 第二网格\",和平社区,西城街道,示例区\n"
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        let g2 = ok.get(&GridCode::new("GL-02").unwrap()).unwrap();
        assert_eq!(g2.name, "和平, 第二网格");
        assert_eq!(g2.street, "西城街道");
        let partial = parse_grids(b"street,grid\nS,GL-01\n").unwrap();
        let g1 = partial.get(&GridCode::new("GL-01").unwrap()).unwrap();
        assert_eq!((g1.street.as_str(), g1.name.as_str()), ("S", ""));

        let err = |text: &str| parse_grids(text.as_bytes()).unwrap_err();
        assert!(err("grid,colour\nGL-01,red\n").contains("unknown column `colour`"));
        assert!(err("name\nx\n").contains("no `grid` column"));
        assert!(err("grid,name\nGL-01,a\nGL 02,b\n").starts_with("line 3:"));
        assert!(err("grid,name\nGL-01,a\n\nGL-01,b\n").contains("first on line 2"));
        assert!(err("grid,name\nGL-01,a,extra\n").starts_with("line 2:"));
    }
}
