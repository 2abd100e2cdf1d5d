//! Value parsers for flags: a bad value is a usage error (exit 2) with a
//! message that shows a valid example.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};

use crate::labels::Named;

/// Accepts the codes of a [`Named`] set; `--help` lists each with its
/// Chinese label.
pub fn named<T: Named>() -> impl TypedValueParser<Value = T> {
    named_except::<T>(&[])
}

/// Like [`named`], leaving out some values.
pub fn named_except<T: Named>(except: &'static [T]) -> impl TypedValueParser<Value = T> {
    let values = T::VALUES
        .iter()
        .filter(|v| !except.contains(v))
        .map(|v| PossibleValue::new(v.code()).help(v.label_zh()));
    PossibleValuesParser::new(values).try_map(|s| s.parse::<T>())
}

/// A WGS84 latitude in degrees.
pub fn latitude(s: &str) -> Result<f64, String> {
    degrees(s, 90.0, "latitude")
}

/// A WGS84 longitude in degrees.
pub fn longitude(s: &str) -> Result<f64, String> {
    degrees(s, 180.0, "longitude")
}

fn degrees(s: &str, limit: f64, what: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v.abs() <= limit => Ok(v),
        _ => Err(format!(
            "`{s}` is not a {what}: give decimal degrees between -{limit} and {limit} \
             (WGS84), for example 31.2304"
        )),
    }
}

/// A GPS accuracy radius in metres.
pub fn metres(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "`{s}` is not a distance: give metres, for example 8.5"
        )),
    }
}

/// Text that must not be blank (user names, titles).
pub fn non_blank(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        Err("must not be empty".to_owned())
    } else {
        Ok(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_are_range_checked() {
        assert_eq!(latitude("31.2304").unwrap(), 31.2304);
        assert!(latitude("91").is_err());
        assert!(longitude("NaN").is_err());
        assert!(longitude("-180").is_ok());
        assert!(metres("-1").is_err());
        assert!(non_blank("  ").is_err());
    }
}
