//! The working-time calendar through its public API: a district's own
//! TOML file, and the messages a malformed one produces.

#![cfg(feature = "export")]

use chrono::{FixedOffset, NaiveDate, TimeZone};
use client_core::report::{Calendar, CalendarError};

const DISTRICT_2025: &str = r#"
name = "某区 2025（夏令时作息）"
source = "区政府办公室通知"
years = [2025]
weekend = ["sat", "sun"]
working_hours = ["08:30-12:00", "14:00-18:00"]

[[holiday]]
name = "劳动节"
from = 2025-05-01
to = 2025-05-05

[[workday]]
name = "劳动节调休上班"
date = 2025-04-27
"#;

fn at(m: u32, d: u32, h: u32, min: u32) -> i64 {
    FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .with_ymd_and_hms(2025, m, d, h, min, 0)
        .unwrap()
        .timestamp_millis()
}

#[test]
fn report_calendar_from_a_district_file() {
    let cal = Calendar::from_toml(DISTRICT_2025).unwrap();
    let off = FixedOffset::east_opt(8 * 3600).unwrap();
    assert_eq!(cal.daily_working_ms(), 7 * 3_600_000 + 30 * 60_000);
    assert_eq!(cal.working_hours_text(), "08:30-12:00, 14:00-18:00");
    assert!(cal.describe().contains("某区 2025"));
    assert!(cal.is_working_day(NaiveDate::from_ymd_opt(2025, 4, 27).unwrap()));
    assert!(!cal.is_working_day(NaiveDate::from_ymd_opt(2025, 5, 5).unwrap()));
    // Wed 04-30 17:00 + 3 working hours: 1 h on the 30th, the holiday to
    // Mon 05-05, then 2 h from Tue 05-06 08:30, with the lunch break after
    // 12:00 not reached: 10:30.
    let due = cal.add_working_hours(at(4, 30, 17, 0), 3, off);
    assert_eq!(due, at(5, 6, 10, 30));
    assert_eq!(
        cal.working_ms_between(at(4, 30, 17, 0), due, off),
        3 * 3_600_000
    );
}

#[test]
fn report_calendar_errors_say_where_and_what() {
    let broken = DISTRICT_2025.replace("to = 2025-05-05", "to = 2025-04-05");
    let err = Calendar::from_toml(&broken).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, CalendarError::Field { line: 11, .. }),
        "{message}"
    );
    assert!(
        message.contains("line 11") && message.contains("holiday[0].to"),
        "{message}"
    );

    let broken = DISTRICT_2025.replace("\"14:00-18:00\"", "\"14:00-11:00\"");
    let message = Calendar::from_toml(&broken).unwrap_err().to_string();
    assert!(
        message.contains("line 6") && message.contains("HH:MM-HH:MM"),
        "{message}"
    );

    let broken = DISTRICT_2025.replace("years = [2025]", "years = 2025");
    let message = Calendar::from_toml(&broken).unwrap_err().to_string();
    assert!(message.contains("line 4"), "{message}");
    assert!(message.contains("fix the file"), "{message}");
}
