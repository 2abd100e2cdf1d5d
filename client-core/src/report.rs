//! District-review reports and exports.
//!
//! A district reviewer reads, per grid, community and street and for a
//! period, how many tickets were reported, accepted, due, closed and closed
//! on time, the on-time closure rate (按期结案率), handling times in working
//! hours, satisfaction, visits and household coverage; and one row per
//! ticket and per visit. This module computes those tables and writes them
//! as XLSX, CSV (one table, or all of them in a zip), GeoJSON or JSON.
//!
//! # Model
//!
//! An [`Exporter`] is a writer rows are pushed into, one ticket or visit at
//! a time, in any order:
//!
//! 1. each record is placed in the district through the [`GridDirectory`]
//!    (grid → community → street → district; unknown parts read 未知) and
//!    dropped if the [`Filter`] excludes it;
//! 2. a ticket's contribution to the figures is worked out on its own
//!    ([`figures::TicketFacts`]) from the [`FigureRecord`] its summary
//!    keeps, counting working time on the report's [`Calendar`]; records
//!    that count in no figure of the period get no row. A caller that wants
//!    only the figures pushes summaries instead
//!    ([`Exporter::push_summary`]): no document, no row, the same figures;
//! 3. the contribution is added to its grid's [`figures::Accumulator`], a
//!    handful of counters plus handling times kept per distinct minute (for
//!    an exact median); communities, streets and the total are rolled up
//!    from the grids when the export finishes;
//! 4. the record's row is written at once by the format's streaming writer:
//!    XLSX rows through rust_xlsxwriter's constant-memory worksheets, CSV and
//!    JSON rows to temporary files, GeoJSON features straight to the sink.
//!
//! [`Exporter::finish`] then writes the summaries and the metadata (which
//! calendar, period, offset, filter and figure definitions were used) and
//! assembles the output. Memory therefore grows with the number of grids,
//! not with the number of tickets; the figure definitions are in
//! [`figures`].
//!
//! ```
//! use client_core::report::{Exporter, Format, Period, ReportOptions, Table};
//!
//! let period = Period::new(1_735_660_800_000, 1_738_339_200_000).unwrap(); // January 2025, +08:00
//! let mut out = Vec::new();
//! let exporter = Exporter::new(Format::Csv(Table::ByStreet), ReportOptions::new(period), &mut out).unwrap();
//! // exporter.push_ticket(&ticket)?; exporter.push_visit(&visit)?; ...
//! let stats = exporter.finish().unwrap();
//! assert_eq!(stats.tickets_exported, 0);
//! assert!(out.starts_with(b"\xEF\xBB\xBF"));
//! ```

pub mod calendar;
mod csv;
pub mod figures;
mod geojson;
pub mod input;
mod json;
pub mod output;
mod scope;
mod tables;
mod xlsx;

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{FixedOffset, NaiveDate};
use serde::Serialize;

pub use calendar::{Calendar, CalendarError, china_offset};
pub use figures::Summary;
pub use scope::{Filter, GridDirectory, GridInfo};
pub use tables::Table;

use crate::ids::GridCode;
use crate::model::summary::{FigureRecord, RowRecord, TicketSummary};
use crate::model::ticket::Ticket;
use crate::model::visit::Visit;
use figures::{Accumulator, Basis, Households, TicketFacts};
use scope::Place;
use tables::{Cell, Column, DEFINITIONS, MetaRow, Personal};

/// The language of headers, sheet names and labels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Lang {
    /// Chinese (the default).
    #[default]
    Zh,
    /// English.
    En,
}

impl Lang {
    /// How a missing grid, community, street or district reads.
    pub fn unknown(&self) -> &'static str {
        match self {
            Lang::Zh => "未知",
            Lang::En => "unknown",
        }
    }

    fn total(&self) -> &'static str {
        match self {
            Lang::Zh => "合计",
            Lang::En => "Total",
        }
    }
}

/// What to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One workbook: metadata, four summary sheets, tickets, visits.
    Xlsx,
    /// A zip of one CSV per table plus `metadata.csv`.
    CsvZip,
    /// One table as CSV.
    Csv(Table),
    /// Tickets with a location as an RFC 7946 FeatureCollection.
    GeoJson,
    /// Every table and the metadata in one JSON object.
    Json,
}

impl Format {
    /// The usual file extension.
    pub fn extension(&self) -> &'static str {
        match self {
            Format::Xlsx => "xlsx",
            Format::CsvZip => "zip",
            Format::Csv(_) => "csv",
            Format::GeoJson => "geojson",
            Format::Json => "json",
        }
    }
}

/// A report period `[from, to)`, ms since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    pub from: i64,
    pub to: i64,
}

impl Period {
    pub fn new(from: i64, to: i64) -> Result<Period, ReportError> {
        if to <= from {
            return Err(ReportError::EmptyPeriod { from, to });
        }
        Ok(Period { from, to })
    }

    /// Whole local days `first..=last` at `offset` (midnight to midnight).
    pub fn days(
        first: NaiveDate,
        last: NaiveDate,
        offset: FixedOffset,
    ) -> Result<Period, ReportError> {
        let midnight = |d: NaiveDate| {
            d.and_hms_opt(0, 0, 0)
                .and_then(|t| t.and_local_timezone(offset).single())
                .map(|t| t.timestamp_millis())
        };
        let end = last.succ_opt().and_then(midnight);
        match (midnight(first), end) {
            (Some(from), Some(to)) => Period::new(from, to),
            _ => Err(ReportError::EmptyPeriod { from: 0, to: 0 }),
        }
    }

    pub fn contains(&self, ms: i64) -> bool {
        self.from <= ms && ms < self.to
    }
}

/// How to compute and write a report.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub period: Period,
    /// The instant the report describes, for a period that is not over yet
    /// (pass the current time). Defaults to, and is capped at, `period.to`.
    pub as_of: Option<i64>,
    pub filter: Filter,
    pub grids: GridDirectory,
    pub calendar: Calendar,
    /// Local dates and written times use this offset (default +08:00).
    pub offset: FixedOffset,
    pub lang: Lang,
    /// Add residents' personal data: ticket resident name and phone, ticket
    /// description and visit notes (free text that often names residents).
    /// Off by default.
    pub include_personal: bool,
    /// Where temporary files go (default: the system's temporary directory).
    pub temp_dir: Option<PathBuf>,
    /// The base of a photo's link: the link is this followed by the
    /// photo's hex SHA-256 (the relay's `http://HOST:PORT/api/blobs/`).
    /// Without it a link is `sha256:<hash>`.
    pub photo_url: Option<String>,
}

impl ReportOptions {
    /// Defaults: the mainland China calendar, +08:00, Chinese, no filter,
    /// no grid names, no personal data.
    pub fn new(period: Period) -> Self {
        Self {
            period,
            as_of: None,
            filter: Filter::default(),
            grids: GridDirectory::default(),
            calendar: Calendar::china_default(),
            offset: china_offset(),
            lang: Lang::Zh,
            include_personal: false,
            photo_url: None,
            temp_dir: None,
        }
    }

    fn as_of(&self) -> i64 {
        self.as_of.map_or(self.period.to, |a| a.min(self.period.to))
    }
}

/// Why an export failed.
///
/// Each message names its cause, so no field is also the error's
/// `source()`: a chain printer (anyhow's `{:#}`) shows every cause once.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(
        "the report period is empty or reversed (from {from} to {to} ms): give a start before the end"
    )]
    EmptyPeriod { from: i64, to: i64 },
    #[error(
        "could not write the export: {0}; check the destination and the temporary directory are writable and have space"
    )]
    Io(std::io::Error),
    #[error(
        "could not build the XLSX workbook: {0}; check the temporary directory is writable, or export CSV instead"
    )]
    Xlsx(rust_xlsxwriter::XlsxError),
    #[error("could not build the zip archive: {0}; check the destination is writable")]
    Zip(zip::result::ZipError),
    #[error("could not write CSV: {0}; check the destination is writable")]
    Csv(::csv::Error),
    #[error("could not write JSON: {0}; check the destination is writable")]
    Json(serde_json::Error),
    #[error(
        "the `{sheet}` sheet is full: an XLSX sheet holds at most 1,048,575 rows; export a shorter \
         period, filter to a street or grid, or export CSV"
    )]
    SheetFull { sheet: &'static str },
}

impl From<std::io::Error> for ReportError {
    fn from(e: std::io::Error) -> Self {
        ReportError::Io(e)
    }
}

impl From<rust_xlsxwriter::XlsxError> for ReportError {
    fn from(e: rust_xlsxwriter::XlsxError) -> Self {
        ReportError::Xlsx(e)
    }
}

impl From<zip::result::ZipError> for ReportError {
    fn from(e: zip::result::ZipError) -> Self {
        ReportError::Zip(e)
    }
}

impl From<::csv::Error> for ReportError {
    fn from(e: ::csv::Error) -> Self {
        ReportError::Csv(e)
    }
}

impl From<serde_json::Error> for ReportError {
    fn from(e: serde_json::Error) -> Self {
        ReportError::Json(e)
    }
}

/// What an export did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExportStats {
    /// The calendar the working time was counted on, as the metadata says.
    pub calendar: String,
    pub tickets_seen: u64,
    /// Tickets with a row (and counted in the figures).
    pub tickets_exported: u64,
    /// Tickets the filter excluded.
    pub tickets_filtered_out: u64,
    /// Tickets that count in no figure of the period.
    pub tickets_outside_period: u64,
    /// Exported tickets with no usable location (GeoJSON skips them).
    pub tickets_without_location: u64,
    /// Exported tickets whose working time crossed a year the calendar
    /// lists no holidays for (only weekends were taken off).
    pub tickets_outside_calendar: u64,
    pub visits_seen: u64,
    pub visits_exported: u64,
    pub visits_filtered_out: u64,
    pub visits_outside_period: u64,
    /// XLSX text cells cut to Excel's 32,767-character limit.
    pub cells_truncated: u64,
    /// The figures of everything exported.
    pub total: Summary,
    /// The figures of each handling unit (the by-unit table without its
    /// total row), keyed as that table's unit column reads: the unit's user
    /// name, or 未派遣 / `not dispatched` for tickets held by no unit.
    pub by_unit: BTreeMap<String, UnitSummary>,
}

/// One handling unit's figures: the tickets it holds now (a ticket counts
/// for the unit it is dispatched to at the end of the report, its urgings
/// and extensions too) and their [`Summary`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UnitSummary {
    pub tickets: u64,
    #[serde(flatten)]
    pub figures: Summary,
}

impl ExportStats {
    /// What a person should know about a finished export, one line each:
    /// years without a holiday calendar, tickets GeoJSON left out, cut cells.
    pub fn warnings(&self, format: Format) -> Vec<String> {
        let mut out = Vec::new();
        if self.tickets_outside_calendar > 0 {
            out.push(format!(
                "warning: {} ticket(s) were timed across years the calendar lists no holidays for; \
                 only weekends were taken off there. Pass --calendar with a file for those years",
                self.tickets_outside_calendar
            ));
        }
        if format == Format::GeoJson && self.tickets_without_location > 0 {
            out.push(format!(
                "note: {} ticket(s) without a usable location are left out of the GeoJSON",
                self.tickets_without_location
            ));
        }
        if self.cells_truncated > 0 {
            out.push(format!(
                "warning: {} text cell(s) were cut to Excel's 32,767-character limit; export CSV \
                 or JSON for the full text",
                self.cells_truncated
            ));
        }
        out
    }
}

/// Columns and settings the format writers need up front.
pub(crate) struct Header<'a> {
    lang: Lang,
    offset: FixedOffset,
    ticket_columns: &'a [Column],
    visit_columns: &'a [Column],
    temp_dir: Option<&'a Path>,
    calendar: &'a str,
}

/// What the format writers write at the end.
pub(crate) struct Finished {
    meta: Vec<MetaRow>,
    summaries: Vec<(Table, Vec<Column>, Vec<Vec<Cell<'static>>>)>,
}

enum Backend<W: Write + Send> {
    Xlsx(Box<xlsx::XlsxOut<W>>),
    CsvZip(Box<self::csv::CsvZipOut<W>>),
    Csv(Box<self::csv::CsvOut<W>>),
    GeoJson(geojson::GeoJsonOut<W>),
    Json(json::JsonOut<W>),
}

impl<W: Write + Send> Backend<W> {
    fn wants(&self, table: Table) -> bool {
        match self {
            Backend::Csv(c) => c.wants(table),
            Backend::GeoJson(_) => table == Table::Tickets,
            _ => true,
        }
    }
}

/// One grid's running figures.
struct GridGroup {
    place: Place,
    acc: Accumulator,
    households: Households,
}

type Progress = Box<dyn FnMut(u64) + Send>;

/// The streaming report writer: push tickets and visits, then
/// [`finish`](Exporter::finish). See the module documentation.
pub struct Exporter<W: Write + Send> {
    options: ReportOptions,
    as_of: i64,
    backend: Backend<W>,
    grids: BTreeMap<String, GridGroup>,
    /// Per handling unit (`None`: not dispatched): tickets and figures.
    units: BTreeMap<Option<String>, (u64, Accumulator)>,
    stats: ExportStats,
    progress: Option<(u64, Progress)>,
    pushed: u64,
}

impl<W: Write + Send> fmt::Debug for Exporter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exporter")
            .field("period", &self.options.period)
            .field("pushed", &self.pushed)
            .field("grids", &self.grids.len())
            .finish_non_exhaustive()
    }
}

impl<W: Write + Send> Exporter<W> {
    /// Starts an export of `format` into `sink`. Nothing is complete until
    /// [`finish`](Exporter::finish) returns.
    pub fn new(format: Format, options: ReportOptions, sink: W) -> Result<Self, ReportError> {
        let ticket_columns = tables::ticket_columns(options.include_personal);
        let visit_columns = tables::visit_columns(options.include_personal);
        let calendar = options.calendar.describe();
        let header = Header {
            lang: options.lang,
            offset: options.offset,
            ticket_columns: &ticket_columns,
            visit_columns: &visit_columns,
            temp_dir: options.temp_dir.as_deref(),
            calendar: &calendar,
        };
        let backend = match format {
            Format::Xlsx => Backend::Xlsx(Box::new(xlsx::XlsxOut::new(sink, &header)?)),
            Format::CsvZip => Backend::CsvZip(Box::new(self::csv::CsvZipOut::new(sink, &header)?)),
            Format::Csv(table) => {
                Backend::Csv(Box::new(self::csv::CsvOut::new(sink, table, &header)?))
            }
            Format::GeoJson => Backend::GeoJson(geojson::GeoJsonOut::new(sink, &header)?),
            Format::Json => Backend::Json(json::JsonOut::new(sink, &header)?),
        };
        Ok(Self {
            as_of: options.as_of(),
            stats: ExportStats {
                calendar,
                ..ExportStats::default()
            },
            options,
            backend,
            grids: BTreeMap::new(),
            units: BTreeMap::new(),
            progress: None,
            pushed: 0,
        })
    }

    /// Calls `f` with the number of records pushed so far every `every`
    /// records (at least 1), and once more from `finish`.
    pub fn with_progress(mut self, every: u64, f: impl FnMut(u64) + Send + 'static) -> Self {
        self.progress = Some((every.max(1), Box::new(f)));
        self
    }

    fn tick(&mut self) {
        self.pushed += 1;
        if let Some((every, f)) = &mut self.progress
            && self.pushed.is_multiple_of(*every)
        {
            f(self.pushed);
        }
    }

    fn group(&mut self, place: Place) -> &mut GridGroup {
        self.grids
            .entry(place.grid.clone())
            .or_insert_with(|| GridGroup {
                place,
                acc: Accumulator::default(),
                households: Households::default(),
            })
    }

    /// Adds a ticket. Returns whether it got a row (it passed the filter and
    /// counts in some figure of the period).
    pub fn push_ticket(&mut self, t: &Ticket) -> Result<bool, ReportError> {
        let personal = self.options.include_personal.then_some(Personal {
            description: &t.description,
            resident: &t.resident,
        });
        self.push_row(
            t.grid.as_ref(),
            &FigureRecord::of(t),
            &RowRecord::of(t),
            personal,
        )
    }

    /// Adds a ticket from its summary alone, with the same row and figures
    /// [`push_ticket`](Exporter::push_ticket) gives it, so no document is
    /// read. `None` (nothing done) for an export with personal data, which
    /// lives in the documents only, or for a summary stored without its
    /// records: push the ticket instead.
    pub fn push_summary_row(&mut self, s: &TicketSummary) -> Result<Option<bool>, ReportError> {
        if self.options.include_personal {
            return Ok(None);
        }
        let (Some(record), Some(row)) = (&s.figures, &s.row) else {
            return Ok(None);
        };
        self.push_row(Some(&s.grid), record, row, None).map(Some)
    }

    fn push_row(
        &mut self,
        grid: Option<&GridCode>,
        record: &FigureRecord,
        row: &RowRecord,
        personal: Option<Personal<'_>>,
    ) -> Result<bool, ReportError> {
        let Some((place, facts)) = self.count(grid, row.unit.as_deref(), record) else {
            return Ok(false);
        };
        if self.backend.wants(Table::Tickets) {
            let lon_lat = row.usable_location();
            let cells = tables::ticket_row(
                row,
                &place,
                &facts,
                personal,
                self.options.photo_url.as_deref(),
            );
            match &mut self.backend {
                Backend::Xlsx(x) => x.ticket(&cells)?,
                Backend::CsvZip(c) => c.ticket(&cells)?,
                Backend::Csv(c) => c.row(&cells)?,
                Backend::Json(j) => j.ticket(&cells)?,
                Backend::GeoJson(g) => {
                    if let Some(lon_lat) = lon_lat {
                        g.ticket(&cells, row.id.to_string(), lon_lat)?;
                    }
                }
            }
        }
        self.group(place).acc.add_ticket(&facts);
        Ok(true)
    }

    /// Counts a ticket in the figures, from its summary, without a row:
    /// for a caller that wants only the figures and the metadata (the
    /// rows' tables stay empty). The figures are those
    /// [`push_ticket`](Exporter::push_ticket) counts for the same ticket.
    /// Returns whether it counts; `None` for a summary stored without its
    /// [`FigureRecord`] (push the ticket instead).
    pub fn push_summary(&mut self, s: &TicketSummary) -> Option<bool> {
        let record = s.figures.as_ref()?;
        let counted = self.count(Some(&s.grid), s.unit.as_deref(), record);
        Some(counted.is_some_and(|(place, facts)| {
            self.group(place).acc.add_ticket(&facts);
            true
        }))
    }

    /// Places a ticket and works out its facts, counting it in the
    /// statistics; `None` if the filter or the period leaves it out.
    fn count(
        &mut self,
        grid: Option<&GridCode>,
        unit: Option<&str>,
        record: &FigureRecord,
    ) -> Option<(Place, TicketFacts)> {
        self.tick();
        self.stats.tickets_seen += 1;
        let o = &self.options;
        let Some(place) = Place::resolve(grid, &o.grids, &o.filter, o.lang) else {
            self.stats.tickets_filtered_out += 1;
            return None;
        };
        let basis = Basis {
            period: o.period,
            as_of: self.as_of,
            calendar: &o.calendar,
            offset: o.offset,
        };
        let facts = TicketFacts::of(record, &basis);
        if !facts.in_report() {
            self.stats.tickets_outside_period += 1;
            return None;
        }
        self.stats.tickets_exported += 1;
        self.stats.tickets_outside_calendar += u64::from(facts.outside_calendar);
        self.stats.tickets_without_location += u64::from(!record.located);
        let (tickets, acc) = self.units.entry(unit.map(str::to_owned)).or_default();
        *tickets += 1;
        acc.add_ticket(&facts);
        Some((place, facts))
    }

    /// Adds a visit record. Returns whether it got a row (it passed the
    /// filter and started in the period).
    pub fn push_visit(&mut self, v: &Visit) -> Result<bool, ReportError> {
        self.tick();
        self.stats.visits_seen += 1;
        let o = &self.options;
        let Some(place) = Place::resolve(Some(&v.grid), &o.grids, &o.filter, o.lang) else {
            self.stats.visits_filtered_out += 1;
            return Ok(false);
        };
        if !o.period.contains(v.started_at) {
            self.stats.visits_outside_period += 1;
            return Ok(false);
        }
        self.stats.visits_exported += 1;
        if self.backend.wants(Table::Visits) {
            let row = tables::visit_row(v, &place, self.options.include_personal);
            match &mut self.backend {
                Backend::Xlsx(x) => x.visit(&row)?,
                Backend::CsvZip(c) => c.visit(&row)?,
                Backend::Csv(c) => c.row(&row)?,
                Backend::Json(j) => j.visit(&row)?,
                Backend::GeoJson(_) => {}
            }
        }
        let group = self.group(place);
        group.acc.add_visit(v);
        group.households.add_visit(v);
        Ok(true)
    }

    /// Writes the summaries and metadata and completes the output.
    pub fn finish(mut self) -> Result<ExportStats, ReportError> {
        let lang = self.options.lang;
        let mut by_grid = Vec::new();
        let mut communities: BTreeMap<(String, String, String), Accumulator> = BTreeMap::new();
        let mut streets: BTreeMap<(String, String), Accumulator> = BTreeMap::new();
        let mut total = Accumulator::default();
        let mut grids: Vec<GridGroup> = std::mem::take(&mut self.grids).into_values().collect();
        grids.sort_by(|a, b| a.place.cmp(&b.place));
        for mut g in grids {
            g.acc.add_households(g.households.len());
            let p = g.place;
            communities
                .entry((p.district.clone(), p.street.clone(), p.community.clone()))
                .or_default()
                .merge(&g.acc);
            streets
                .entry((p.district.clone(), p.street.clone()))
                .or_default()
                .merge(&g.acc);
            total.merge(&g.acc);
            let grid = if p.grid.is_empty() {
                lang.unknown().to_owned()
            } else {
                p.grid
            };
            by_grid.push(tables::summary_row(
                vec![p.district, p.street, p.community, grid, p.grid_name],
                &g.acc.summary(),
            ));
        }
        let total_row = |width: usize| {
            let mut place = vec![lang.total().to_owned()];
            place.resize(width, String::new());
            tables::summary_row(place, &total.summary())
        };
        by_grid.push(total_row(5));
        let mut by_community: Vec<_> = communities
            .into_iter()
            .map(|((d, s, c), acc)| tables::summary_row(vec![d, s, c], &acc.summary()))
            .collect();
        by_community.push(total_row(3));
        let mut by_street: Vec<_> = streets
            .into_iter()
            .map(|((d, s), acc)| tables::summary_row(vec![d, s], &acc.summary()))
            .collect();
        by_street.push(total_row(2));
        let not_dispatched = match lang {
            Lang::Zh => "未派遣",
            Lang::En => "not dispatched",
        };
        let mut by_unit = Vec::new();
        let (mut unit_tickets, mut unit_total) = (0, Accumulator::default());
        let mut units = std::mem::take(&mut self.units);
        // Units by name, then the tickets no unit holds.
        let undispatched = units.remove(&None);
        let units = units
            .into_iter()
            .filter_map(|(unit, figures)| Some((unit?, figures)))
            .chain(undispatched.map(|f| (not_dispatched.to_owned(), f)));
        for (unit, (tickets, acc)) in units {
            let figures = acc.summary();
            by_unit.push(tables::unit_row(unit.clone(), tickets, &figures));
            self.stats
                .by_unit
                .insert(unit, UnitSummary { tickets, figures });
            unit_tickets += tickets;
            unit_total.merge(&acc);
        }
        by_unit.push(tables::unit_row(
            lang.total().to_owned(),
            unit_tickets,
            &unit_total.summary(),
        ));

        self.stats.total = total.summary();
        if let Backend::Xlsx(x) = &self.backend {
            self.stats.cells_truncated = x.truncated;
        }
        let finished = Finished {
            meta: self.metadata(),
            summaries: vec![
                (
                    Table::ByGrid,
                    tables::summary_columns(Table::ByGrid),
                    by_grid,
                ),
                (
                    Table::ByCommunity,
                    tables::summary_columns(Table::ByCommunity),
                    by_community,
                ),
                (
                    Table::ByStreet,
                    tables::summary_columns(Table::ByStreet),
                    by_street,
                ),
                (Table::ByUnit, tables::unit_columns(), by_unit),
            ],
        };
        match self.backend {
            Backend::Xlsx(x) => x.finish(&finished)?,
            Backend::CsvZip(c) => c.finish(&finished)?,
            Backend::Csv(c) => c.finish(&finished)?,
            Backend::GeoJson(g) => g.finish(&finished)?,
            Backend::Json(j) => j.finish(&finished)?,
        }
        if let Some((_, f)) = &mut self.progress {
            f(self.pushed);
        }
        Ok(self.stats)
    }

    fn metadata(&self) -> Vec<MetaRow> {
        let o = &self.options;
        let s = &self.stats;
        let text = |s: String| Cell::Text(s.into());
        let int = |n: u64| Cell::Int(i64::try_from(n).unwrap_or(i64::MAX));
        let years: Vec<String> = o.calendar.years().iter().map(i32::to_string).collect();
        let mut rows = vec![
            meta("calendar", "工作日历", "Calendar", text(s.calendar.clone())),
            meta(
                "calendar_source",
                "日历依据",
                "Calendar source",
                o.calendar
                    .source()
                    .map_or(Cell::Empty, |x| text(x.to_owned())),
            ),
            meta(
                "calendar_years",
                "日历覆盖年份",
                "Calendar years",
                text(years.join(", ")),
            ),
            meta(
                "working_hours",
                "工作时段",
                "Working hours",
                text(o.calendar.working_hours_text()),
            ),
            meta(
                "utc_offset",
                "时区（UTC 偏移）",
                "UTC offset",
                text(o.offset.to_string()),
            ),
            meta(
                "period_from",
                "统计期间起",
                "Period from",
                Cell::Time(o.period.from),
            ),
            meta(
                "period_to",
                "统计期间止（不含）",
                "Period to (exclusive)",
                Cell::Time(o.period.to),
            ),
            meta("as_of", "统计截至", "As of", Cell::Time(self.as_of)),
            meta(
                "filter",
                "筛选条件",
                "Filter",
                text(o.filter.describe(o.lang)),
            ),
            meta(
                "include_personal",
                "含居民个人信息",
                "Includes personal data",
                Cell::Bool(o.include_personal),
            ),
            meta(
                "tickets",
                "工单行数",
                "Ticket rows",
                int(s.tickets_exported),
            ),
            meta("visits", "走访行数", "Visit rows", int(s.visits_exported)),
            meta(
                "tickets_without_location",
                "无有效位置的工单数（GeoJSON 中略去）",
                "Tickets without a usable location (left out of GeoJSON)",
                int(s.tickets_without_location),
            ),
            meta(
                "tickets_outside_calendar",
                "工时跨越日历未覆盖年份的工单数（仅扣除周末）",
                "Tickets timed across years the calendar does not cover (weekends only)",
                int(s.tickets_outside_calendar),
            ),
        ];
        for (key, zh, en, def) in DEFINITIONS {
            rows.push(meta(key, zh, en, Cell::Text((*def).into())));
        }
        rows
    }
}

fn meta(key: &'static str, zh: &'static str, en: &'static str, value: Cell<'static>) -> MetaRow {
    MetaRow { key, zh, en, value }
}
