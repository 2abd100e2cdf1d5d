//! Time at the edge: the wall clock is read here and nowhere else, and
//! times are shown in the grids' local time, China Standard Time (+08:00).

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};

/// +08:00, the offset every grid uses (no daylight saving).
pub fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn local(ms: i64) -> Option<DateTime<FixedOffset>> {
    china().timestamp_millis_opt(ms).single()
}

/// `2025-03-01 09:30` in +08:00; `-` for none or out of range.
pub fn show(ms: Option<i64>) -> String {
    ms.and_then(local).map_or_else(
        || "-".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M").to_string(),
    )
}

/// The `YYYY-MM-DD` date of an instant in +08:00 (a visit log's date).
pub fn local_date(ms: i64) -> String {
    local(ms).map_or_else(
        || "1970-01-01".to_owned(),
        |t| t.date_naive().format("%Y-%m-%d").to_string(),
    )
}

/// Parses an RFC 3339 time (`2025-03-01T09:30:00+08:00`) into ms.
pub fn parse_rfc3339(s: &str) -> Result<i64, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            format!(
                "`{s}` is not an RFC 3339 time ({e}); write for example 2025-03-01T09:30:00+08:00"
            )
        })
}

/// Parses a `YYYY-MM-DD` date (kept as text: visit logs are keyed by it).
pub fn parse_date(s: &str) -> Result<String, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map(|d| d.format("%Y-%m-%d").to_string())
        .map_err(|_| format!("`{s}` is not a date; write YYYY-MM-DD, for example 2025-03-01"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use client_core::report::input::{parse_day, parse_offset};

    #[test]
    fn dates_follow_china_time() {
        // 2025-03-01T17:00:00Z is already 2 March in China.
        let ms = parse_rfc3339("2025-03-01T17:00:00Z").unwrap();
        assert_eq!(local_date(ms), "2025-03-02");
        assert_eq!(show(Some(ms)), "2025-03-02 01:00");
        assert_eq!(show(None), "-");
        assert!(parse_rfc3339("yesterday").is_err());
        assert_eq!(parse_date("2025-3-1").unwrap(), "2025-03-01");
        assert!(parse_date("2025-02-30").is_err());
        assert_eq!(
            parse_day("2025-3-1").unwrap(),
            NaiveDate::from_ymd_opt(2025, 3, 1).unwrap()
        );
        assert!(parse_day("2025-13-01").is_err());
    }

    #[test]
    fn offsets_parse_in_the_usual_spellings() {
        assert_eq!(parse_offset("+08:00").unwrap(), china());
        assert_eq!(parse_offset("+0800").unwrap(), china());
        assert_eq!(parse_offset("+08").unwrap(), china());
        assert_eq!(
            parse_offset("-05:30").unwrap().local_minus_utc(),
            -(5 * 3600 + 30 * 60)
        );
        for bad in [
            "08:00",
            "+8",
            "+08:0",
            "+15:00",
            "+08:60",
            "+ab:cd",
            "",
            "+08:00:00",
            "+a中",
        ] {
            assert!(parse_offset(bad).is_err(), "{bad}");
        }
    }
}
