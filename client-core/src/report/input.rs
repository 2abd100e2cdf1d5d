//! What a person types to ask for a report: the format and table, the
//! language, dates, UTC offsets and the period they make, and calendar
//! files. Shared by `gridsync export`, `gridsync-server export` and
//! `GET /api/export`, so all three read the same words the same way.
//!
//! The value enums ([`FormatArg`], [`TableArg`], [`LangArg`]) parse from
//! their names with `FromStr` (query parameters) and, with the `cli`
//! feature, are `clap::ValueEnum`s for the two command lines; their doc
//! comments are the `--help` text.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{Datelike, FixedOffset, NaiveDate, TimeZone};

use super::{Calendar, CalendarError, Format, Lang, Period, Table};

/// `--format` / `format=`: what to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
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

/// `--table` / `table=`: one table of the report, for csv.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum TableArg {
    /// 按网格汇总: figures per grid
    ByGrid,
    /// 按社区汇总: figures per community
    ByCommunity,
    /// 按街道汇总: figures per street
    ByStreet,
    /// 按处置单位汇总: figures per handling unit (urgings, extensions)
    ByUnit,
    /// 工单明细: one row per ticket
    Tickets,
    /// 走访明细: one row per visit
    Visits,
}

/// `--lang` / `lang=`: the language of headers, sheet names and labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum LangArg {
    /// 中文
    Zh,
    /// English
    En,
}

/// The flags `gridsync export` and `gridsync-server export` share: what to
/// write, where, for which period, in which language and on which calendar.
#[cfg(feature = "cli")]
#[derive(Debug, clap::Args)]
pub struct ExportFlags {
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
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
    pub from: Option<NaiveDate>,
    /// Last day of the period, inclusive, YYYY-MM-DD [default: the last day of the current month, or today with --from]
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
    pub to: Option<NaiveDate>,
    /// Language of headers, sheet names and labels
    #[arg(long, value_enum, default_value = "zh")]
    pub lang: LangArg,
    /// Working-time calendar (TOML, format in client-core/calendars/cn-2025.toml);
    /// repeat to combine one file per year [default: mainland China 2025 and 2026, built in]
    #[arg(long = "calendar", value_name = "FILE.toml")]
    pub calendars: Vec<PathBuf>,
    /// UTC offset of local dates and written times
    #[arg(long, value_name = "+HH:MM", default_value = "+08:00", allow_hyphen_values = true, value_parser = parse_offset)]
    pub offset: FixedOffset,
}

/// A name that is not one of a value enum's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` is not {what}; use {expected}")]
pub struct UnknownValue {
    pub name: String,
    pub what: &'static str,
    pub expected: &'static str,
}

/// `table` given with a format other than csv.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "table applies to format csv only: xlsx and json hold every table, and geojson holds the \
     tickets"
)]
pub struct TableNeedsCsv;

macro_rules! named_values {
    ($ty:ident, $what:literal, $expected:literal, { $($name:literal => $variant:ident),* $(,)? }) => {
        impl $ty {
            /// The name it is written as.
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)*
                }
            }
        }

        impl FromStr for $ty {
            type Err = UnknownValue;

            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                match s {
                    $($name => Ok($ty::$variant),)*
                    other => Err(UnknownValue {
                        name: other.to_owned(),
                        what: $what,
                        expected: $expected,
                    }),
                }
            }
        }
    };
}

named_values!(FormatArg, "an export format", "xlsx, csv, geojson or json", {
    "xlsx" => Xlsx, "csv" => Csv, "geojson" => Geojson, "json" => Json,
});
named_values!(TableArg, "a table", "by-grid, by-community, by-street, by-unit, tickets or visits", {
    "by-grid" => ByGrid, "by-community" => ByCommunity, "by-street" => ByStreet,
    "by-unit" => ByUnit, "tickets" => Tickets, "visits" => Visits,
});
named_values!(LangArg, "a language", "zh (中文) or en", { "zh" => Zh, "en" => En });

impl From<TableArg> for Table {
    fn from(t: TableArg) -> Table {
        match t {
            TableArg::ByGrid => Table::ByGrid,
            TableArg::ByCommunity => Table::ByCommunity,
            TableArg::ByStreet => Table::ByStreet,
            TableArg::ByUnit => Table::ByUnit,
            TableArg::Tickets => Table::Tickets,
            TableArg::Visits => Table::Visits,
        }
    }
}

impl From<LangArg> for Lang {
    fn from(l: LangArg) -> Lang {
        match l {
            LangArg::Zh => Lang::Zh,
            LangArg::En => Lang::En,
        }
    }
}

/// The exporter's format from `format` and `table`: csv is every table in
/// a zip, or the one `table`; the other formats take no table.
pub fn format(format: FormatArg, table: Option<TableArg>) -> Result<Format, TableNeedsCsv> {
    Ok(match (format, table) {
        (FormatArg::Csv, Some(t)) => Format::Csv(t.into()),
        (FormatArg::Csv, None) => Format::CsvZip,
        (FormatArg::Xlsx, None) => Format::Xlsx,
        (FormatArg::Geojson, None) => Format::GeoJson,
        (FormatArg::Json, None) => Format::Json,
        (_, Some(_)) => return Err(TableNeedsCsv),
    })
}

/// Why the `--calendar` files cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CalendarFileError {
    #[error("cannot read the calendar {}: {cause}; give a UTF-8 TOML file", path.display())]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("cannot use the calendar {}: {cause}", path.display())]
    Invalid { path: PathBuf, cause: CalendarError },
}

/// The given calendar files combined (one per year, say), or the shipped
/// mainland China calendar when there are none.
pub fn load_calendar(files: &[PathBuf]) -> Result<Calendar, CalendarFileError> {
    let mut combined: Option<Calendar> = None;
    for path in files {
        let invalid = |cause| CalendarFileError::Invalid {
            path: path.clone(),
            cause,
        };
        let calendar = Calendar::from_toml(&read_text(path)?).map_err(invalid)?;
        combined = Some(match combined {
            None => calendar,
            Some(c) => c.merge(calendar).map_err(invalid)?,
        });
    }
    Ok(combined.unwrap_or_else(Calendar::china_default))
}

fn read_text(path: &Path) -> Result<String, CalendarFileError> {
    std::fs::read_to_string(path).map_err(|cause| CalendarFileError::Read {
        path: path.to_path_buf(),
        cause,
    })
}

/// Parses a `YYYY-MM-DD` date.
pub fn parse_day(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("`{s}` is not a date; write YYYY-MM-DD, for example 2025-03-01"))
}

/// Parses a UTC offset, `+08:00` (also `+0800`, `+08`, `-05:30`).
pub fn parse_offset(s: &str) -> Result<FixedOffset, String> {
    let bad = || {
        format!("`{s}` is not a UTC offset; write +HH:MM, for example +08:00 (China Standard Time)")
    };
    let t = s.trim();
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return Err(bad()),
    };
    if !rest.is_ascii() {
        return Err(bad());
    }
    let (h, m) = match rest.len() {
        2 => (rest, "00"),
        4 => rest.split_at(2),
        5 if rest.as_bytes()[2] == b':' => (&rest[..2], &rest[3..]),
        _ => return Err(bad()),
    };
    if !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let (h, m): (i32, i32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 14 || m > 59 {
        return Err(bad());
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60)).ok_or_else(bad)
}

/// The report period: whole local days at `offset`, `to` included. With
/// neither day, the current month; with only `from`, up to today; with only
/// `to`, from the first day of `to`'s month.
pub fn period_of_days(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    offset: FixedOffset,
    now: i64,
) -> Result<Period, String> {
    let today = offset
        .timestamp_millis_opt(now)
        .single()
        .map(|t| t.date_naive())
        .ok_or_else(|| format!("the clock reads {now} ms, which is no date"))?;
    let first_of = |d: NaiveDate| d.with_day(1).unwrap_or(d);
    let last_of = |d: NaiveDate| {
        let next = if d.month() == 12 {
            NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)
        };
        next.and_then(|n| n.pred_opt()).unwrap_or(d)
    };
    let (first, last, to_note) = match (from, to) {
        (None, None) => (first_of(today), last_of(today), ""),
        (Some(f), None) => (f, today, " (today, the default)"),
        (None, Some(t)) => (first_of(t), t, ""),
        (Some(f), Some(t)) => (f, t, ""),
    };
    if first > last {
        return Err(format!(
            "the first day {first} (from) is after the last day {last} (to){to_note}: the \
             period runs from `from` to `to`, both days included"
        ));
    }
    Period::days(first, last, offset).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn formats_tables_and_languages_read_their_names() {
        assert_eq!(format(FormatArg::Csv, None), Ok(Format::CsvZip));
        assert_eq!(
            format(FormatArg::Csv, Some(TableArg::ByStreet)),
            Ok(Format::Csv(Table::ByStreet))
        );
        assert_eq!(format(FormatArg::Geojson, None), Ok(Format::GeoJson));
        assert_eq!(
            format(FormatArg::Xlsx, Some(TableArg::Tickets)),
            Err(TableNeedsCsv)
        );
        for f in [
            FormatArg::Xlsx,
            FormatArg::Csv,
            FormatArg::Geojson,
            FormatArg::Json,
        ] {
            assert_eq!(f.name().parse::<FormatArg>(), Ok(f));
        }
        assert_eq!("by-community".parse(), Ok(TableArg::ByCommunity));
        assert_eq!(Lang::from("en".parse::<LangArg>().unwrap()), Lang::En);
        let err = "pdf".parse::<FormatArg>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "`pdf` is not an export format; use xlsx, csv, geojson or json"
        );
    }

    #[test]
    fn calendar_files_combine_or_name_the_file_that_fails() {
        assert_eq!(load_calendar(&[]).unwrap(), Calendar::china_default());
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.toml");
        let err = load_calendar(std::slice::from_ref(&missing)).unwrap_err();
        assert!(matches!(&err, CalendarFileError::Read { path, .. } if *path == missing));
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "name = \"x\"\nyears = []\n").unwrap();
        let err = load_calendar(std::slice::from_ref(&bad)).unwrap_err();
        assert!(
            matches!(
                &err,
                CalendarFileError::Invalid {
                    cause: CalendarError::Field { .. },
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("bad.toml"), "{err}");
    }

    #[test]
    fn offsets_and_days_parse_or_say_how_to_write_them() {
        assert_eq!(parse_offset("+08:00").unwrap().local_minus_utc(), 8 * 3600);
        assert_eq!(parse_offset("-0530").unwrap().local_minus_utc(), -19_800);
        assert_eq!(parse_offset("+08").unwrap().local_minus_utc(), 8 * 3600);
        assert!(parse_offset("08:00").unwrap_err().contains("+HH:MM"));
        assert!(parse_offset("+15:00").is_err());
        assert_eq!(parse_day("2026-02-28").unwrap(), day(2026, 2, 28));
        assert!(parse_day("2026-02-30").unwrap_err().contains("YYYY-MM-DD"));
    }

    #[test]
    fn periods_default_to_the_month_and_refuse_reversed_days() {
        let cn = parse_offset("+08:00").unwrap();
        // 2026-11-23 12:00 +08:00
        let now = cn
            .with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
            .unwrap()
            .timestamp_millis();
        let month = period_of_days(None, None, cn, now).unwrap();
        assert_eq!(
            month,
            Period::days(day(2026, 11, 1), day(2026, 11, 30), cn).unwrap()
        );
        let december = period_of_days(None, Some(day(2026, 12, 10)), cn, now).unwrap();
        assert_eq!(
            december,
            Period::days(day(2026, 12, 1), day(2026, 12, 10), cn).unwrap()
        );
        let err = period_of_days(Some(day(2026, 12, 1)), None, cn, now).unwrap_err();
        assert!(err.contains("today, the default"), "{err}");
    }
}
