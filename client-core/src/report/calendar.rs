//! The working-time calendar: weekends, public holidays, make-up working
//! days (调休上班) and the working periods of a working day, read from TOML.
//!
//! Time limits and on-time figures count working time only. A working day is
//! a day that is not a weekend day and not a holiday, or a make-up working
//! day; a working day is worked during its working periods, set by the
//! file's `working_hours` (09:00–12:00 and 13:30–17:30 local time, 7 hours,
//! when the file leaves them out). Instants are
//! milliseconds since the Unix epoch; local dates and times are taken at a
//! fixed UTC offset (+08:00 in mainland China).
//!
//! A calendar lists holidays for the `years` it covers. Dates outside those
//! years count weekends only ([`Calendar::covers`] tells which dates are
//! covered), so a report over an uncovered year is still computed but says
//! it was.
//!
//! The file format is documented in `client-core/calendars/cn-2025.toml`:
//!
//! ```
//! use client_core::report::calendar::Calendar;
//!
//! let cal = Calendar::from_toml(r#"
//!     name = "示例"
//!     years = [2025]
//!     working_hours = ["08:30-17:30"]
//!     [[holiday]]
//!     name = "元旦"
//!     from = 2025-01-01
//! "#).unwrap();
//! let new_year = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
//! assert!(!cal.is_working_day(new_year));
//! assert_eq!(cal.daily_working_ms(), 9 * 3_600_000);
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{Datelike, FixedOffset, NaiveDate, NaiveTime};

use crate::model::catalog::TimeLimit;

mod file;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;
/// Milliseconds in an hour.
pub const HOUR_MS: i64 = 3_600_000;
const MINUTE_MS: i64 = 60_000;
/// Working periods when a calendar file names none: 09:00–12:00 and
/// 13:30–17:30, the office day of street and community offices (7 hours).
pub const DEFAULT_WORKING_HOURS: [(i64, i64); 2] = [
    (9 * HOUR_MS, 12 * HOUR_MS),
    (13 * HOUR_MS + 30 * MINUTE_MS, 17 * HOUR_MS + 30 * MINUTE_MS),
];
/// `NaiveDate::num_days_from_ce` of 1970-01-01.
const UNIX_EPOCH_CE_DAY: i64 = 719_163;

const CN_2025: &str = include_str!("../../calendars/cn-2025.toml");
const CN_2026: &str = include_str!("../../calendars/cn-2026.toml");

/// Mainland China's UTC offset, +08:00, the default for every export.
pub fn china_offset() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// Why a calendar file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// The file is not valid TOML, or a field has the wrong type, is
    /// missing or unknown.
    #[error(
        "calendar file{}: {}; fix the file (its format is described in \
         client-core/calendars/cn-2025.toml)",
        line_text(*.line),
        .cause.message().trim()
    )]
    Syntax {
        line: Option<usize>,
        /// Boxed: a toml error is large, and this error is returned often.
        cause: Box<toml::de::Error>,
    },
    /// A field parses but its value cannot be right.
    #[error("calendar file, line {line}, field `{field}`: {problem}")]
    Field {
        line: usize,
        field: String,
        problem: String,
    },
    /// Two calendars cannot be combined into one.
    #[error("cannot combine calendars `{first}` and `{second}`: {problem}")]
    Merge {
        first: String,
        second: String,
        problem: String,
    },
}

fn line_text(line: Option<usize>) -> String {
    line.map_or_else(String::new, |l| format!(", line {l}"))
}

/// A working-time calendar. Build one with [`Calendar::from_toml`] or take
/// the shipped mainland China calendar with [`Calendar::china_default`].
#[derive(Clone, PartialEq, Eq)]
pub struct Calendar {
    name: String,
    source: Option<String>,
    years: BTreeSet<i32>,
    /// Indexed by `Weekday::num_days_from_monday`.
    weekend: [bool; 7],
    holidays: BTreeMap<NaiveDate, String>,
    workdays: BTreeMap<NaiveDate, String>,
    /// Working periods of a working day, ms after local midnight, sorted and
    /// disjoint.
    periods: Vec<(i64, i64)>,
    dense: Dense,
}

/// Per-day working flags over the covered years, with prefix sums, so the
/// working time between two instants costs O(1) whatever their distance.
#[derive(Clone, PartialEq, Eq, Default)]
struct Dense {
    /// Epoch day of the first day in `working`.
    first: i64,
    working: Vec<bool>,
    /// `cum[i]` = working days among `working[..i]`.
    cum: Vec<u32>,
}

impl fmt::Debug for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Calendar")
            .field("name", &self.name)
            .field("years", &self.years)
            .field("holidays", &self.holidays.len())
            .field("workdays", &self.workdays.len())
            .field("working_hours", &self.working_hours_text())
            .finish()
    }
}

impl Calendar {
    /// Reads a calendar from TOML text (the format of
    /// `client-core/calendars/cn-2025.toml`). Errors name the line and the
    /// field.
    pub fn from_toml(text: &str) -> Result<Calendar, CalendarError> {
        file::read(text)
    }

    /// The official mainland China calendars for 2025 and 2026 shipped in
    /// `client-core/calendars/`, combined.
    pub fn china_default() -> Calendar {
        let a = Calendar::from_toml(CN_2025).expect("the shipped 2025 calendar is valid");
        let b = Calendar::from_toml(CN_2026).expect("the shipped 2026 calendar is valid");
        a.merge(b).expect("the shipped calendars combine")
    }

    /// Combines two calendars covering different years with the same weekend
    /// and working hours (for example one file per year).
    pub fn merge(self, other: Calendar) -> Result<Calendar, CalendarError> {
        let fail = |problem: String| CalendarError::Merge {
            first: self.name.clone(),
            second: other.name.clone(),
            problem,
        };
        if let Some(y) = self.years.intersection(&other.years).next() {
            return Err(fail(format!("both cover {y}: keep one file per year")));
        }
        if self.weekend != other.weekend {
            return Err(fail("their weekend days differ".into()));
        }
        if self.periods != other.periods {
            return Err(fail(format!(
                "their working hours differ ({} and {})",
                self.working_hours_text(),
                other.working_hours_text()
            )));
        }
        let name = format!("{} + {}", self.name, other.name);
        let source = match (&self.source, &other.source) {
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        let mut years = self.years;
        years.extend(other.years);
        let mut holidays = self.holidays;
        holidays.extend(other.holidays);
        let mut workdays = self.workdays;
        workdays.extend(other.workdays);
        Ok(Calendar::build(
            name,
            source,
            years,
            self.weekend,
            holidays,
            workdays,
            self.periods,
        ))
    }

    fn build(
        name: String,
        source: Option<String>,
        years: BTreeSet<i32>,
        weekend: [bool; 7],
        holidays: BTreeMap<NaiveDate, String>,
        workdays: BTreeMap<NaiveDate, String>,
        periods: Vec<(i64, i64)>,
    ) -> Calendar {
        let mut cal = Calendar {
            name,
            source,
            years,
            weekend,
            holidays,
            workdays,
            periods,
            dense: Dense::default(),
        };
        let first_year = *cal.years.first().expect("years is never empty");
        let last_year = *cal.years.last().expect("years is never empty");
        let first = NaiveDate::from_ymd_opt(first_year, 1, 1).expect("valid year");
        let end = NaiveDate::from_ymd_opt(last_year + 1, 1, 1).expect("valid year");
        let first_day = epoch_day(first);
        let working: Vec<bool> = first
            .iter_days()
            .take_while(|d| *d < end)
            .map(|d| cal.rule_is_working(d))
            .collect();
        let mut cum = Vec::with_capacity(working.len() + 1);
        let mut n = 0u32;
        cum.push(0);
        for w in &working {
            n += u32::from(*w);
            cum.push(n);
        }
        cal.dense = Dense {
            first: first_day,
            working,
            cum,
        };
        cal
    }

    fn rule_is_working(&self, date: NaiveDate) -> bool {
        if self.workdays.contains_key(&date) {
            return true;
        }
        if self.holidays.contains_key(&date) {
            return false;
        }
        !self.weekend[date.weekday().num_days_from_monday() as usize]
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The years whose holidays the calendar lists.
    pub fn years(&self) -> &BTreeSet<i32> {
        &self.years
    }

    /// Whether `date`'s year is one the calendar lists holidays for.
    pub fn covers(&self, date: NaiveDate) -> bool {
        self.years.contains(&date.year())
    }

    /// The holiday `date` falls on, by name.
    pub fn holiday(&self, date: NaiveDate) -> Option<&str> {
        self.holidays.get(&date).map(String::as_str)
    }

    /// The make-up working day `date` is, by name.
    pub fn makeup_workday(&self, date: NaiveDate) -> Option<&str> {
        self.workdays.get(&date).map(String::as_str)
    }

    /// The working periods of a working day, local time.
    pub fn working_periods(&self) -> Vec<(NaiveTime, NaiveTime)> {
        let t = |ms: i64| {
            let secs = u32::try_from(ms / 1000).expect("within a day");
            NaiveTime::from_num_seconds_from_midnight_opt(secs, 0).unwrap_or(NaiveTime::MIN)
        };
        self.periods.iter().map(|&(s, e)| (t(s), t(e))).collect()
    }

    /// The working periods as text, e.g. `09:00-12:00, 13:30-17:30`.
    pub fn working_hours_text(&self) -> String {
        let hm = |ms: i64| format!("{:02}:{:02}", ms / HOUR_MS, ms % HOUR_MS / MINUTE_MS);
        self.periods
            .iter()
            .map(|&(s, e)| format!("{}-{}", hm(s), hm(e)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Working time in one working day, ms.
    pub fn daily_working_ms(&self) -> i64 {
        self.periods.iter().map(|(s, e)| e - s).sum()
    }

    /// One line naming the calendar, its years and working hours, for the
    /// metadata of every export.
    pub fn describe(&self) -> String {
        let years: Vec<String> = self.years.iter().map(i32::to_string).collect();
        format!(
            "{} (years {}; working hours {})",
            self.name,
            years.join(", "),
            self.working_hours_text()
        )
    }

    /// Whether `date` is a working day: a make-up working day, or a day that
    /// is neither a weekend day nor a holiday.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        self.is_working_epoch_day(epoch_day(date))
    }

    fn is_working_epoch_day(&self, day: i64) -> bool {
        match self.dense_index(day) {
            Some(i) => self.dense.working[i],
            None => !self.weekend[weekday_index(day)],
        }
    }

    fn dense_index(&self, day: i64) -> Option<usize> {
        let i = usize::try_from(day - self.dense.first).ok()?;
        (i < self.dense.working.len()).then_some(i)
    }

    /// Working days among the epoch days `[d0, d1)`.
    fn working_days(&self, d0: i64, d1: i64) -> i64 {
        if d1 <= d0 {
            return 0;
        }
        let lo = self.dense.first;
        let hi = lo + self.dense.working.len() as i64;
        let mut n = 0;
        // Before the covered range, inside it, after it.
        n += self.weekday_rule_days(d0, d1.min(lo));
        let (a, b) = (d0.max(lo), d1.min(hi));
        if a < b {
            let (a, b) = ((a - lo) as usize, (b - lo) as usize);
            n += i64::from(self.dense.cum[b] - self.dense.cum[a]);
        }
        n += self.weekday_rule_days(d0.max(hi), d1);
        n
    }

    /// Working days among `[d0, d1)` counting weekends only.
    fn weekday_rule_days(&self, d0: i64, d1: i64) -> i64 {
        if d1 <= d0 {
            return 0;
        }
        let per_week = self.weekend.iter().filter(|w| !**w).count() as i64;
        let span = d1 - d0;
        let mut n = span / 7 * per_week;
        for day in d0 + span / 7 * 7..d1 {
            n += i64::from(!self.weekend[weekday_index(day)]);
        }
        n
    }

    /// Working time within local day `day` between `a` and `b` ms after its
    /// local midnight.
    fn working_within_day(&self, day: i64, a: i64, b: i64) -> i64 {
        if b <= a || !self.is_working_epoch_day(day) {
            return 0;
        }
        self.periods
            .iter()
            .map(|&(s, e)| (b.min(e) - a.max(s)).max(0))
            .sum()
    }

    /// Working time, ms, in the interval `[start_ms, end_ms)`; zero when the
    /// interval is empty or reversed. Local days are taken at `offset`.
    pub fn working_ms_between(&self, start_ms: i64, end_ms: i64, offset: FixedOffset) -> i64 {
        if end_ms <= start_ms {
            return 0;
        }
        let off = i64::from(offset.local_minus_utc()) * 1000;
        let (ls, le) = (start_ms.saturating_add(off), end_ms.saturating_add(off));
        let (d0, d1) = (ls.div_euclid(DAY_MS), le.div_euclid(DAY_MS));
        let (a, b) = (ls.rem_euclid(DAY_MS), le.rem_euclid(DAY_MS));
        if d0 == d1 {
            return self.working_within_day(d0, a, b);
        }
        self.working_within_day(d0, a, DAY_MS)
            + self.working_days(d0 + 1, d1) * self.daily_working_ms()
            + self.working_within_day(d1, 0, b)
    }

    /// The instant at which `duration_ms` of working time has elapsed since
    /// `start_ms`: the earliest `t >= start_ms` with
    /// `working_ms_between(start_ms, t) == duration_ms`. A deadline that is
    /// used up exactly at the end of a working period is that end (12:00,
    /// not 13:30). Zero or negative durations return `start_ms`.
    pub fn add_working_ms(&self, start_ms: i64, duration_ms: i64, offset: FixedOffset) -> i64 {
        if duration_ms <= 0 {
            return start_ms;
        }
        let off = i64::from(offset.local_minus_utc()) * 1000;
        let local = start_ms.saturating_add(off);
        let mut day = local.div_euclid(DAY_MS);
        let mut from = local.rem_euclid(DAY_MS);
        let mut remaining = duration_ms;
        let daily = self.daily_working_ms();
        loop {
            if self.is_working_epoch_day(day) {
                if from == 0 && remaining > daily {
                    // A whole working day: skip it without walking periods.
                    remaining -= daily;
                } else {
                    for &(s, e) in &self.periods {
                        if e <= from {
                            continue;
                        }
                        let begin = from.max(s);
                        let available = e - begin;
                        if remaining <= available {
                            return day * DAY_MS + begin + remaining - off;
                        }
                        remaining -= available;
                    }
                }
            }
            day += 1;
            from = 0;
        }
    }

    /// [`Calendar::add_working_ms`] for whole hours: the deadline of a time
    /// limit of `hours` working hours starting at `start_ms`.
    pub fn add_working_hours(&self, start_ms: i64, hours: u32, offset: FixedOffset) -> i64 {
        self.add_working_ms(start_ms, i64::from(hours) * HOUR_MS, offset)
    }

    /// The deadline of a limit of `days` working days starting at
    /// `start_ms`: the end of the last working period of the `days`-th
    /// working day after the local day of `start_ms` (the day of dispatch
    /// does not count, as 民法典 §201 counts periods in days). A make-up
    /// working day (调休) counts; a holiday does not. Zero days return
    /// `start_ms`.
    pub fn add_working_days(&self, start_ms: i64, days: u32, offset: FixedOffset) -> i64 {
        let Some(&(_, end)) = self.periods.last() else {
            return start_ms;
        };
        if days == 0 {
            return start_ms;
        }
        let off = i64::from(offset.local_minus_utc()) * 1000;
        let mut day = start_ms.saturating_add(off).div_euclid(DAY_MS);
        let mut left = days;
        while left > 0 {
            day += 1;
            if self.is_working_epoch_day(day) {
                left -= 1;
            }
        }
        day * DAY_MS + end - off
    }

    /// The deadline of `limit` counted from `start_ms`.
    pub fn add_limit(&self, start_ms: i64, limit: TimeLimit, offset: FixedOffset) -> i64 {
        match limit {
            TimeLimit::WorkingHours(h) => self.add_working_hours(start_ms, h, offset),
            TimeLimit::WorkingDays(d) => self.add_working_days(start_ms, d, offset),
        }
    }
}

/// Days since 1970-01-01.
pub(crate) fn epoch_day(date: NaiveDate) -> i64 {
    i64::from(date.num_days_from_ce()) - UNIX_EPOCH_CE_DAY
}

/// Monday = 0 for an epoch day (1970-01-01 was a Thursday).
fn weekday_index(day: i64) -> usize {
    (day + 3).rem_euclid(7) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Weekday;

    fn ms(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, min, 0)
            .unwrap()
            .and_local_timezone(china_offset())
            .unwrap()
            .timestamp_millis()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn shipped_calendars_match_the_notices() {
        let cal = Calendar::china_default();
        assert_eq!(
            cal.years().iter().copied().collect::<Vec<_>>(),
            vec![2025, 2026]
        );
        // Holiday days per year: 28 in 2025, 33 in 2026.
        let count = |y: i32| cal.holidays.keys().filter(|d| d.year() == y).count();
        assert_eq!(count(2025), 1 + 8 + 3 + 5 + 3 + 8);
        assert_eq!(count(2026), 3 + 9 + 3 + 5 + 3 + 3 + 7);
        // Every make-up working day falls on a weekend, as the notices say.
        for d in cal.workdays.keys() {
            assert!(
                matches!(d.weekday(), Weekday::Sat | Weekday::Sun),
                "{d} is a {}",
                d.weekday()
            );
        }
        let makeups: Vec<String> = cal.workdays.keys().map(|d| d.to_string()).collect();
        assert_eq!(
            makeups,
            [
                "2025-01-26",
                "2025-02-08",
                "2025-04-27",
                "2025-09-28",
                "2025-10-11",
                "2026-01-04",
                "2026-02-14",
                "2026-02-28",
                "2026-05-09",
                "2026-09-20",
                "2026-10-10",
            ]
        );
        // Weekdays the notices state for the first day of a few holidays.
        assert_eq!(date(2025, 1, 28).weekday(), Weekday::Tue);
        assert_eq!(date(2026, 2, 15).weekday(), Weekday::Sun);
        assert_eq!(date(2026, 10, 1).weekday(), Weekday::Thu);
        assert!(!cal.is_working_day(date(2025, 10, 8)));
        assert!(cal.is_working_day(date(2025, 10, 9)));
        assert!(cal.is_working_day(date(2026, 2, 28)));
        assert!(!cal.is_working_day(date(2026, 2, 23)));
        assert_eq!(cal.daily_working_ms(), 7 * HOUR_MS);
    }

    #[test]
    fn working_time_skips_holidays_and_counts_makeup_days() {
        let cal = Calendar::china_default();
        let off = china_offset();
        // Fri 2025-01-24 16:00 + 9 working hours: Fri 16:00-17:30 (1.5 h),
        // Sat off, Sun 26th is a make-up working day (7 h), leaving 0.5 h
        // on Mon 27th: 09:30.
        let due = cal.add_working_hours(ms(2025, 1, 24, 16, 0), 9, off);
        assert_eq!(due, ms(2025, 1, 27, 9, 30));
        // 8 hours end on the make-up Sunday itself: 6.5 h into it, 17:00.
        let due = cal.add_working_hours(ms(2025, 1, 24, 16, 0), 8, off);
        assert_eq!(due, ms(2025, 1, 26, 17, 0));
        // Mon 27th 17:00 + 2 h: 0.5 h on the 27th, then the Spring Festival
        // (28th to 4th) and Wed 5th 09:00 + 1.5 h = 10:30.
        let due = cal.add_working_hours(ms(2025, 1, 27, 17, 0), 2, off);
        assert_eq!(due, ms(2025, 2, 5, 10, 30));
        assert_eq!(
            cal.working_ms_between(ms(2025, 1, 27, 17, 0), ms(2025, 2, 5, 10, 30), off),
            2 * HOUR_MS
        );
        // Ending exactly at noon stays at noon.
        assert_eq!(
            cal.add_working_hours(ms(2025, 3, 3, 9, 0), 3, off),
            ms(2025, 3, 3, 12, 0)
        );
        // Starting in the lunch break.
        assert_eq!(
            cal.add_working_hours(ms(2025, 3, 3, 12, 30), 1, off),
            ms(2025, 3, 3, 14, 30)
        );
        // Many days: 70 hours from Mon 2025-03-03 09:00 = ten working days,
        // ending at the close of Fri 14th.
        assert_eq!(
            cal.add_working_hours(ms(2025, 3, 3, 9, 0), 70, off),
            ms(2025, 3, 14, 17, 30)
        );
        assert_eq!(
            cal.working_ms_between(ms(2025, 3, 14, 17, 30), ms(2025, 3, 17, 9, 0), off),
            0
        );
    }

    #[test]
    fn working_time_round_trips_across_and_outside_coverage() {
        let cal = Calendar::china_default();
        let off = china_offset();
        let starts = [
            ms(2024, 12, 30, 10, 0),
            ms(2025, 9, 26, 15, 0),
            ms(2026, 12, 31, 11, 0),
            ms(2027, 3, 1, 8, 0),
        ];
        for start in starts {
            for hours in [0, 1, 7, 13, 50, 400] {
                let end = cal.add_working_hours(start, hours, off);
                assert_eq!(
                    cal.working_ms_between(start, end, off),
                    i64::from(hours) * HOUR_MS,
                    "start {start} + {hours} h"
                );
            }
        }
        assert!(!cal.covers(date(2027, 3, 1)));
        // Outside coverage only weekends are off: 2027-03-01 is a Monday.
        assert!(cal.is_working_day(date(2027, 3, 1)));
        assert!(!cal.is_working_day(date(2027, 3, 6)));
    }

    #[test]
    fn malformed_files_name_the_line_and_field() {
        let bad_date = "name = \"x\"\nyears = [2025]\nworking_hours = [\"09:00-17:00\"]\n\n[[holiday]]\nname = \"a\"\nfrom = 2026-01-01\n";
        match Calendar::from_toml(bad_date).unwrap_err() {
            CalendarError::Field { line, field, .. } => {
                assert_eq!((line, field.as_str()), (7, "holiday[0].from"));
            }
            other => panic!("{other}"),
        }
        let bad_hours =
            "name = \"x\"\nyears = [2025]\nworking_hours = [\"09:00-17:00\", \"9-12\"]\n";
        let err = Calendar::from_toml(bad_hours).unwrap_err();
        assert!(matches!(err, CalendarError::Field { line: 3, .. }), "{err}");
        assert!(err.to_string().contains("working_hours"), "{err}");
        let weekday_makeup = "name = \"x\"\nyears = [2025]\nworking_hours = [\"09:00-17:00\"]\n[[workday]]\nname = \"m\"\ndate = 2025-01-27\n";
        let err = Calendar::from_toml(weekday_makeup).unwrap_err();
        assert!(matches!(err, CalendarError::Field { line: 6, .. }), "{err}");
        let syntax = "name = \"x\"\nyears = [2025\nworking_hours = []\n";
        let err = Calendar::from_toml(syntax).unwrap_err();
        assert!(
            matches!(err, CalendarError::Syntax { line: Some(_), .. }),
            "{err}"
        );
        let unknown =
            "name = \"x\"\nyears = [2025]\nworking_hours = [\"09:00-17:00\"]\nholidays = []\n";
        let err = Calendar::from_toml(unknown).unwrap_err();
        assert!(
            matches!(err, CalendarError::Syntax { line: Some(4), .. }),
            "{err}"
        );
        let quoted = "name = \"x\"\nyears = [2025]\nworking_hours = [\"09:00-17:00\"]\n[[holiday]]\nname = \"a\"\nfrom = \"2025-01-01\"\n";
        let err = Calendar::from_toml(quoted).unwrap_err();
        assert!(
            matches!(err, CalendarError::Syntax { line: Some(6), .. }),
            "{err}"
        );
    }

    #[test]
    fn working_hours_and_weekend_have_defaults() {
        let cal = Calendar::from_toml("name = \"x\"\nyears = [2025]\n").unwrap();
        assert_eq!(cal.working_hours_text(), "09:00-12:00, 13:30-17:30");
        assert!(!cal.is_working_day(date(2025, 3, 1)), "a Saturday");
        assert!(cal.is_working_day(date(2025, 3, 3)), "a Monday");
    }

    #[test]
    fn merging_refuses_overlapping_years() {
        let a = Calendar::from_toml(CN_2025).unwrap();
        let b = Calendar::from_toml(CN_2025).unwrap();
        assert!(matches!(a.merge(b), Err(CalendarError::Merge { .. })));
    }
}
