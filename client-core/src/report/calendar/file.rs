//! The calendar file: TOML read into its raw shape, then checked one
//! section at a time (`name`, `years`, `weekend`, `working_hours`,
//! `[[holiday]]`, `[[workday]]`), each by its own parser. Every error names
//! the line and the field; the format is documented in
//! `client-core/calendars/cn-2025.toml`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate, Weekday};
use serde::Deserialize;
use toml::Spanned;
use toml::value::Datetime;

use super::{Calendar, CalendarError, DEFAULT_WORKING_HOURS, HOUR_MS, MINUTE_MS};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    name: String,
    #[serde(default)]
    source: Option<String>,
    years: Spanned<Vec<i32>>,
    #[serde(default)]
    weekend: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    working_hours: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    holiday: Vec<RawHoliday>,
    #[serde(default)]
    workday: Vec<RawWorkday>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHoliday {
    name: String,
    from: Spanned<Datetime>,
    #[serde(default)]
    to: Option<Spanned<Datetime>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkday {
    name: String,
    date: Spanned<Datetime>,
}

/// Turns byte offsets into 1-based line numbers.
struct Lines<'a>(&'a str);

impl Lines<'_> {
    fn at(&self, offset: usize) -> usize {
        let end = offset.min(self.0.len());
        self.0.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn field(
        &self,
        offset: usize,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> CalendarError {
        CalendarError::Field {
            line: self.at(offset),
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// Reads and checks a calendar file.
pub(super) fn read(text: &str) -> Result<Calendar, CalendarError> {
    let lines = Lines(text);
    let raw: RawCalendar = toml::from_str(text).map_err(|cause| CalendarError::Syntax {
        line: cause.span().map(|s| lines.at(s.start)),
        cause: Box::new(cause),
    })?;
    if raw.name.trim().is_empty() {
        return Err(lines.field(0, "name", "is empty: give the calendar a name"));
    }
    let years = years(&raw.years, &lines)?;
    let weekend = weekend(raw.weekend.as_ref(), &lines)?;
    let periods = working_hours(raw.working_hours.as_ref(), &lines)?;
    let dates = Dates {
        years: &years,
        lines: &lines,
    };
    let holidays = holidays(&raw.holiday, &dates)?;
    let workdays = workdays(&raw.workday, &holidays, &weekend, &dates)?;
    Ok(Calendar::build(
        raw.name, raw.source, years, weekend, holidays, workdays, periods,
    ))
}

/// `years`: at least one, each plausible.
fn years(raw: &Spanned<Vec<i32>>, lines: &Lines<'_>) -> Result<BTreeSet<i32>, CalendarError> {
    let years: BTreeSet<i32> = raw.get_ref().iter().copied().collect();
    if years.is_empty() {
        return Err(lines.field(
            raw.span().start,
            "years",
            "is empty: list the years whose holidays this file gives, e.g. years = [2025]",
        ));
    }
    if let Some(bad) = years.iter().find(|y| !(1900..=9999).contains(*y)) {
        return Err(lines.field(
            raw.span().start,
            "years",
            format!("{bad} is not a plausible year"),
        ));
    }
    Ok(years)
}

/// `weekend`: weekday names, Saturday and Sunday when left out; never
/// every day.
fn weekend(
    raw: Option<&Spanned<Vec<Spanned<String>>>>,
    lines: &Lines<'_>,
) -> Result<[bool; 7], CalendarError> {
    let mut weekend = [false; 7];
    let Some(days) = raw else {
        weekend[Weekday::Sat.num_days_from_monday() as usize] = true;
        weekend[Weekday::Sun.num_days_from_monday() as usize] = true;
        return Ok(weekend);
    };
    for day in days.get_ref() {
        let wd = parse_weekday(day.get_ref()).ok_or_else(|| {
            lines.field(
                day.span().start,
                "weekend",
                format!(
                    "`{}` is not a weekday: use mon, tue, wed, thu, fri, sat or sun",
                    day.get_ref()
                ),
            )
        })?;
        weekend[wd.num_days_from_monday() as usize] = true;
    }
    if weekend.iter().all(|w| *w) {
        return Err(lines.field(
            days.span().start,
            "weekend",
            "lists every day of the week: no day would be worked",
        ));
    }
    Ok(weekend)
}

/// `working_hours`: disjoint `"HH:MM-HH:MM"` periods, sorted;
/// [`DEFAULT_WORKING_HOURS`] when left out.
fn working_hours(
    raw: Option<&Spanned<Vec<Spanned<String>>>>,
    lines: &Lines<'_>,
) -> Result<Vec<(i64, i64)>, CalendarError> {
    // Each period with where it was written, for the overlap error.
    let mut periods = Vec::new();
    match raw {
        None => periods.extend(DEFAULT_WORKING_HOURS.iter().map(|p| (*p, 0))),
        Some(hours) => {
            for p in hours.get_ref() {
                let period = parse_period(p.get_ref()).ok_or_else(|| {
                    lines.field(
                        p.span().start,
                        "working_hours",
                        format!(
                            "`{}` is not a working period: write \"HH:MM-HH:MM\" with the \
                             start before the end, e.g. \"09:00-12:00\"",
                            p.get_ref()
                        ),
                    )
                })?;
                periods.push((period, p.span().start));
            }
            if periods.is_empty() {
                return Err(lines.field(
                    hours.span().start,
                    "working_hours",
                    "is empty: give at least one period, e.g. [\"09:00-12:00\", \"13:30-17:30\"], \
                     or leave the field out for that default",
                ));
            }
        }
    }
    periods.sort();
    for pair in periods.windows(2) {
        if pair[1].0.0 < pair[0].0.1 {
            return Err(lines.field(
                pair[1].1,
                "working_hours",
                "working periods overlap: list disjoint periods",
            ));
        }
    }
    Ok(periods.into_iter().map(|(p, _)| p).collect())
}

/// Reads the dates of `[[holiday]]` and `[[workday]]`: bare TOML dates in
/// the file's `years`.
struct Dates<'a> {
    years: &'a BTreeSet<i32>,
    lines: &'a Lines<'a>,
}

impl Dates<'_> {
    fn read(&self, d: &Spanned<Datetime>, field: &str) -> Result<NaiveDate, CalendarError> {
        let date = toml_date(d.get_ref()).ok_or_else(|| {
            self.lines.field(
                d.span().start,
                field,
                format!(
                    "`{}` is not a date: write a bare TOML date such as 2025-10-01",
                    d.get_ref()
                ),
            )
        })?;
        if !self.years.contains(&date.year()) {
            return Err(self.lines.field(
                d.span().start,
                field,
                format!(
                    "{date} is outside this file's years {:?}: fix the date or add its year to `years`",
                    self.years
                ),
            ));
        }
        Ok(date)
    }
}

/// `[[holiday]]`: every day from `from` to `to` (inclusive) is off.
fn holidays(
    raw: &[RawHoliday],
    dates: &Dates<'_>,
) -> Result<BTreeMap<NaiveDate, String>, CalendarError> {
    let mut holidays = BTreeMap::new();
    for (i, h) in raw.iter().enumerate() {
        let from = dates.read(&h.from, &format!("holiday[{i}].from"))?;
        let to = match &h.to {
            Some(to) => dates.read(to, &format!("holiday[{i}].to"))?,
            None => from,
        };
        if to < from {
            let span =
                h.to.as_ref()
                    .map_or(h.from.span().start, |t| t.span().start);
            return Err(dates.lines.field(
                span,
                format!("holiday[{i}].to"),
                format!("{to} is before `from` {from}: give the last day off, on or after `from`"),
            ));
        }
        for day in from.iter_days().take_while(|d| *d <= to) {
            holidays.insert(day, h.name.clone());
        }
    }
    Ok(holidays)
}

/// `[[workday]]`: make-up working days (调休上班), each on a weekend day
/// that is not also a holiday.
fn workdays(
    raw: &[RawWorkday],
    holidays: &BTreeMap<NaiveDate, String>,
    weekend: &[bool; 7],
    dates: &Dates<'_>,
) -> Result<BTreeMap<NaiveDate, String>, CalendarError> {
    let mut workdays = BTreeMap::new();
    for (i, w) in raw.iter().enumerate() {
        let field = format!("workday[{i}].date");
        let date = dates.read(&w.date, &field)?;
        if holidays.contains_key(&date) {
            return Err(dates.lines.field(
                w.date.span().start,
                field,
                format!("{date} is also listed as a holiday: a day is either off or worked"),
            ));
        }
        if !weekend[date.weekday().num_days_from_monday() as usize] {
            return Err(dates.lines.field(
                w.date.span().start,
                field,
                format!(
                    "{date} is a {}, already a working day: a make-up working day (调休上班) \
                     falls on a weekend day; check the date",
                    date.weekday()
                ),
            ));
        }
        workdays.insert(date, w.name.clone());
    }
    Ok(workdays)
}

fn parse_weekday(s: &str) -> Option<Weekday> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "mon" | "monday" => Weekday::Mon,
        "tue" | "tuesday" => Weekday::Tue,
        "wed" | "wednesday" => Weekday::Wed,
        "thu" | "thursday" => Weekday::Thu,
        "fri" | "friday" => Weekday::Fri,
        "sat" | "saturday" => Weekday::Sat,
        "sun" | "sunday" => Weekday::Sun,
        _ => return None,
    })
}

/// `"HH:MM-HH:MM"` as ms after midnight; `24:00` may end a period.
fn parse_period(s: &str) -> Option<(i64, i64)> {
    let (a, b) = s.split_once('-')?;
    let hm = |t: &str| -> Option<i64> {
        let (h, m) = t.trim().split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
        let ok = (0..60).contains(&m) && ((0..24).contains(&h) || (h == 24 && m == 0));
        ok.then_some(h * HOUR_MS + m * MINUTE_MS)
    };
    let (s, e) = (hm(a)?, hm(b)?);
    (s < e).then_some((s, e))
}

fn toml_date(d: &Datetime) -> Option<NaiveDate> {
    if d.time.is_some() || d.offset.is_some() {
        return None;
    }
    let date = d.date?;
    NaiveDate::from_ymd_opt(
        i32::from(date.year),
        u32::from(date.month),
        u32::from(date.day),
    )
}
