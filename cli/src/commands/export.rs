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

use std::io::{self, BufWriter, IsTerminal};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveDate;
use client_core::device::Device;
use client_core::ids::GridCode;
use client_core::model::lifecycle::Role;
use client_core::report::{
    Calendar, ExportStats, Exporter, Filter, Format, GridDirectory, GridInfo, Lang, Period,
    ReportError, ReportOptions, Table,
};
use client_core::store::{Listing, Store};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::args::{ExportArgs, ExportFormat, ExportLang, ExportTable};
use crate::data_dir::DataDir;
use crate::error::CliError;
use crate::labels::Named;
use crate::output::Output;
use crate::time;
use client_core::report::output::{WriteSend, write_atomically};

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
    let format = format(args)?;
    let to_stdout = args.out.as_os_str() == "-";
    check_destination(args, format, to_stdout, out.is_json())?;
    let now = time::now_ms();
    let period = period(args.from, args.to, args.offset, now)?;
    let calendar = load_calendar(&args.calendars)?;
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
                lang(args.lang).unknown()
            );
        }
    }

    let mut options = ReportOptions::new(period);
    options.as_of = Some(now);
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
    options.offset = args.offset;
    options.lang = lang(args.lang);
    options.include_personal = args.include_personal;

    let progress = progress_bar();
    let shown = if to_stdout {
        "stdout".to_owned()
    } else {
        args.out.display().to_string()
    };
    let export = |sink: &mut dyn WriteSend| {
        stream(&device, &grids, format, options, sink, progress.as_ref())
            .map_err(|e| e.into_cli(&shown, to_stdout))
    };
    let result = if to_stdout {
        let mut sink = BufWriter::new(io::stdout());
        export(&mut sink)
    } else {
        write_atomically(&args.out, args.include_personal, export)
    };
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
        let out_name = if to_stdout {
            "-".to_owned()
        } else {
            args.out.display().to_string()
        };
        return out.json(&Done {
            out: out_name,
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
    fn into_cli(self, shown: &str, to_stdout: bool) -> CliError {
        match self {
            StreamError::Device(e) => e,
            // A closed pipe (`gridsync export --out - | head`) is the reader's choice.
            StreamError::Report(ReportError::Io(e))
                if to_stdout && e.kind() == io::ErrorKind::BrokenPipe =>
            {
                CliError::Output(e)
            }
            StreamError::Report(e) if to_stdout => {
                CliError::Refused(format!("the export to stdout failed partway: {e}"))
            }
            StreamError::Report(e) => CliError::Refused(format!(
                "the export to {shown} failed and {shown} was left as it was: {e}"
            )),
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
        // Summaries are small index records; tickets are loaded one at a time.
        let mut summaries = device
            .tickets(Some(grid), Listing::All)
            .map_err(from_device)?;
        summaries.sort_by_key(|s| (s.reported_at, s.id));
        for s in summaries {
            let ticket = device.ticket(s.id).map_err(from_device)?;
            exporter.push_ticket(&ticket)?;
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

/// The exporter's format from `--format` and `--table`.
fn format(args: &ExportArgs) -> Result<Format, CliError> {
    Ok(match (args.format, args.table) {
        (ExportFormat::Csv, Some(t)) => Format::Csv(table(t)),
        (ExportFormat::Csv, None) => Format::CsvZip,
        (ExportFormat::Xlsx, None) => Format::Xlsx,
        (ExportFormat::Geojson, None) => Format::GeoJson,
        (ExportFormat::Json, None) => Format::Json,
        (_, Some(_)) => {
            return Err(CliError::Usage(
                "--table applies to --format csv only: xlsx and json hold every table, and \
                 geojson holds the tickets"
                    .to_owned(),
            ));
        }
    })
}

fn check_destination(
    args: &ExportArgs,
    format: Format,
    to_stdout: bool,
    json: bool,
) -> Result<(), CliError> {
    if to_stdout {
        if matches!(format, Format::Xlsx | Format::CsvZip) {
            return Err(CliError::Usage(format!(
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
        if json {
            return Err(CliError::Usage(
                "--json prints the export's counts on stdout, where --out - writes the export: \
                 give --out a file name, or leave out --json"
                    .to_owned(),
            ));
        }
    } else if args.out.is_dir() {
        return Err(CliError::Refused(format!(
            "--out {} is a directory; give a file name, for example {}",
            args.out.display(),
            args.out
                .join(format!("report.{}", format.extension()))
                .display()
        )));
    }
    Ok(())
}

fn table(t: ExportTable) -> Table {
    match t {
        ExportTable::ByGrid => Table::ByGrid,
        ExportTable::ByCommunity => Table::ByCommunity,
        ExportTable::ByStreet => Table::ByStreet,
        ExportTable::Tickets => Table::Tickets,
        ExportTable::Visits => Table::Visits,
    }
}

fn lang(l: ExportLang) -> Lang {
    match l {
        ExportLang::Zh => Lang::Zh,
        ExportLang::En => Lang::En,
    }
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

/// The shipped calendar, or the `--calendar` files combined.
fn load_calendar(files: &[PathBuf]) -> Result<Calendar, CliError> {
    let mut combined: Option<Calendar> = None;
    for path in files {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::Refused(format!(
                "cannot read the calendar {}: {e}; give a UTF-8 TOML file",
                path.display()
            ))
        })?;
        let calendar = Calendar::from_toml(&text).map_err(|e| {
            CliError::Refused(format!("cannot use the calendar {}: {e}", path.display()))
        })?;
        combined = Some(match combined {
            None => calendar,
            Some(c) => c.merge(calendar).map_err(|e| {
                CliError::Refused(format!("cannot use the calendar {}: {e}", path.display()))
            })?,
        });
    }
    Ok(combined.unwrap_or_else(Calendar::china_default))
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
