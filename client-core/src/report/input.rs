//! What a person types to ask for a report: dates, UTC offsets and the
//! period they make. Shared by `gridsync export`, `gridsync-server export`
//! and `GET /api/export`, so all three read the same words the same way.

use chrono::{Datelike, FixedOffset, NaiveDate, TimeZone};

use super::Period;

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
