//! The category catalog on the relay: the CSV format admins import, the
//! default catalog shipped with the relay (`server/catalog/default.csv`),
//! and publishing it as the catalog document devices sync.
//!
//! The registry holds the catalog ([`crate::registry::Registry::catalog`]);
//! the hub thread writes the catalog document from it at start and
//! whenever the registry generation changes. No client can write that
//! document ([`crate::access`]).

use std::collections::BTreeMap;
use std::fmt;

use client_core::model::catalog::{self, Catalog, Category, TimeLimit};
use client_core::model::ticket::Kind;

/// The default catalog's CSV, embedded in the relay.
pub const DEFAULT_CSV: &str = include_str!("../catalog/default.csv");

/// The version of the default catalog; the first import makes it 2.
pub const DEFAULT_VERSION: u64 = 1;

/// The columns of a catalog CSV file, in order.
pub const COLUMNS: [&str; 9] = [
    "code",
    "name_zh",
    "name_en",
    "kind",
    "time_limit",
    "urgent_time_limit",
    "filing",
    "closing",
    "after_photos_required",
];

/// The catalog shipped with the relay.
pub fn default_catalog() -> Catalog {
    let categories = parse_csv(DEFAULT_CSV).expect("the shipped default catalog is valid");
    Catalog {
        version: DEFAULT_VERSION,
        categories: categories
            .into_iter()
            .map(|c| (c.code.clone(), c))
            .collect(),
    }
}

/// One bad row of a catalog file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line in the file.
    pub line: u64,
    pub problem: String,
}

/// Why a catalog file cannot be imported: every bad row, by line (at most
/// [`MAX_REPORTED`]), or a file that is not CSV at all.
#[derive(Debug, thiserror::Error)]
pub enum CatalogFileError {
    #[error("{}", rows_text(.0))]
    Rows(Vec<RowError>),
    #[error("the catalog file is not readable CSV (line {line}): {cause}; save it as UTF-8 CSV")]
    Csv { line: u64, cause: csv::Error },
    #[error(
        "the catalog file has no categories; give a header line ({}) and one row per category",
        COLUMNS.join(",")
    )]
    Empty,
}

/// Bad rows named in one error; the rest are counted.
pub const MAX_REPORTED: usize = 20;

fn rows_text(rows: &[RowError]) -> String {
    let mut out = format!(
        "{} bad row{} in the catalog file; nothing was imported. Fix {} and import again:",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" },
        if rows.len() == 1 { "it" } else { "them" }
    );
    for r in rows.iter().take(MAX_REPORTED) {
        out.push_str(&format!("\n  line {}: {}", r.line, r.problem));
    }
    if rows.len() > MAX_REPORTED {
        out.push_str(&format!("\n  ... and {} more", rows.len() - MAX_REPORTED));
    }
    out
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.problem)
    }
}

fn parse_kind(text: &str) -> Option<Kind> {
    match text.trim() {
        "部件" => Some(Kind::Component),
        "事件" => Some(Kind::Event),
        "民生诉求" => Some(Kind::Livelihood),
        "矛盾纠纷" => Some(Kind::Dispute),
        other => other.parse().ok(),
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "" | "no" | "false" | "0" | "否" => Some(false),
        "yes" | "true" | "1" | "是" => Some(true),
        _ => None,
    }
}

fn parse_limit(field: &str, text: &str) -> Result<Option<TimeLimit>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|e: catalog::BadTimeLimit| format!("{field}: {e}"))
}

/// Reads a catalog CSV file: a header naming [`COLUMNS`] (in any order;
/// `name_en`, `urgent_time_limit`, `filing`, `closing` and
/// `after_photos_required` may be left out), one category per row, `#`
/// lines as comments. Every row is checked; any bad one fails the whole
/// file, naming each bad line.
pub fn parse_csv(text: &str) -> Result<Vec<Category>, CatalogFileError> {
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let header_line = |r: &csv::Reader<&[u8]>| r.position().line();
    let headers = reader
        .headers()
        .map_err(|cause| CatalogFileError::Csv { line: 1, cause })?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let mut errors = Vec::new();
    let missing: Vec<&str> = ["code", "name_zh", "kind", "time_limit"]
        .into_iter()
        .filter(|c| column(c).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(CatalogFileError::Rows(vec![RowError {
            line: header_line(&reader),
            problem: format!(
                "the header lacks {}; it names the columns {}",
                missing.join(", "),
                COLUMNS.join(",")
            ),
        }]));
    }
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    let mut out = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(cause) => {
                let line = cause.position().map_or(0, |p| p.line());
                return Err(CatalogFileError::Csv { line, cause });
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let get = |name: &str| -> String {
            column(name)
                .and_then(|i| record.get(i))
                .unwrap_or("")
                .to_owned()
        };
        match parse_row(&get) {
            Err(problem) => errors.push(RowError { line, problem }),
            Ok(c) => match seen.get(&c.code) {
                Some(first) => errors.push(RowError {
                    line,
                    problem: format!("code {} is already on line {first}", c.code),
                }),
                None => {
                    seen.insert(c.code.clone(), line);
                    out.push(c);
                }
            },
        }
    }
    if !errors.is_empty() {
        return Err(CatalogFileError::Rows(errors));
    }
    if out.is_empty() {
        return Err(CatalogFileError::Empty);
    }
    Ok(out)
}

fn parse_row(get: &dyn Fn(&str) -> String) -> Result<Category, String> {
    let code = get("code");
    catalog::check_code(&code).map_err(|e| e.to_string())?;
    let name_zh = get("name_zh");
    if name_zh.is_empty() {
        return Err(format!("category {code} has no name_zh"));
    }
    let kind = parse_kind(&get("kind")).ok_or_else(|| {
        format!(
            "kind `{}` is not one of component, event, livelihood, dispute (部件, 事件, 民生诉求, 矛盾纠纷)",
            get("kind")
        )
    })?;
    let photos = get("after_photos_required");
    let after_photos_required = parse_bool(&photos)
        .ok_or_else(|| format!("after_photos_required `{photos}` is not yes or no"))?;
    Ok(Category {
        code,
        name_zh,
        name_en: get("name_en"),
        kind,
        time_limit: parse_limit("time_limit", &get("time_limit"))?,
        urgent_time_limit: parse_limit("urgent_time_limit", &get("urgent_time_limit"))?,
        filing: get("filing"),
        closing: get("closing"),
        after_photos_required,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_catalog_reads_and_keeps_the_codes_tests_use() {
        let c = default_catalog();
        assert!(c.categories.len() >= 40, "{}", c.categories.len());
        for code in ["0101", "0102", "0201", "0203", "0301", "0502"] {
            assert!(c.get(code).is_some(), "{code}");
        }
        let rubbish = c.get("1102").unwrap();
        assert_eq!(rubbish.name_zh, "暴露垃圾");
        assert_eq!(rubbish.time_limit, Some(TimeLimit::WorkingHours(4)));
        for kind in [
            Kind::Component,
            Kind::Event,
            Kind::Livelihood,
            Kind::Dispute,
        ] {
            assert!(c.categories.values().any(|c| c.kind == kind), "{kind:?}");
        }
    }

    #[test]
    fn every_bad_row_is_named_by_its_line() {
        let text = "# comment\n\
                    code,name_zh,kind,time_limit\n\
                    0101,井盖,component,1d\n\
                    01x1,坏代码,event,4h\n\
                    0102,,event,4h\n\
                    0103,时限,event,4 hours\n\
                    0101,重复,event,4h\n\
                    0104,类型,thing,4h\n";
        let Err(CatalogFileError::Rows(rows)) = parse_csv(text) else {
            panic!("bad rows must fail");
        };
        let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [4, 5, 6, 7, 8]);
        let text = CatalogFileError::Rows(rows).to_string();
        assert!(text.contains("line 6: time_limit: `4 hours`"), "{text}");
        assert!(text.contains("already on line 3"), "{text}");
        assert!(text.contains("nothing was imported"), "{text}");
    }
}
