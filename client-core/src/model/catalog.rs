//! The category catalog: every 小类 a ticket may be filed under, with its
//! kind, its time limit (处置时限), its filing and closing conditions
//! (立案条件, 结案条件) and whether after-photos are required.
//!
//! The catalog travels as one Automerge document (`doc_type` `catalog`)
//! at a name-derived id ([`Catalog::document_id`]), so every device
//! addresses it offline. Only the relay writes it, from its registry
//! (`gridsync-server category import`); the relay refuses every client
//! change to it, and every role may read it.
//!
//! Layout: the header, `version` (an integer the relay raises on every
//! import), and `categories`, a map from code to a map of scalars
//! (`name_zh`, `name_en`, `kind`, `time_limit`, `urgent_time_limit`,
//! `filing`, `closing`, `after_photos_required`). A time limit is text:
//! `4h` (working hours) or `3d` (working days).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc, ScalarValue, Value};
use serde::{Deserialize, Serialize};

use super::schema::{self, DocType, Node, SchemaError, Tree};
use super::ticket::{Kind, Urgency};
use crate::ids::DocumentId;

/// A handling time limit, counted on the working calendar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum TimeLimit {
    /// Working hours (`4h`): exposed rubbish, a missing manhole cover.
    WorkingHours(u32),
    /// Working days (`3d`): the deadline is the end of the last working
    /// day, counted from the working day after dispatch (the day of
    /// dispatch does not count, as in 民法典 §201).
    WorkingDays(u32),
}

/// Why a time limit's text is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a time limit: write working hours as `4h` or working days as `3d` (1 to 9999)"
)]
pub struct BadTimeLimit(pub String);

impl fmt::Display for TimeLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeLimit::WorkingHours(h) => write!(f, "{h}h"),
            TimeLimit::WorkingDays(d) => write!(f, "{d}d"),
        }
    }
}

impl FromStr for TimeLimit {
    type Err = BadTimeLimit;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let bad = || BadTimeLimit(s.to_owned());
        let (number, unit) = t.split_at(t.len().saturating_sub(1));
        let n: u32 = number.trim().parse().map_err(|_| bad())?;
        if !(1..=9999).contains(&n) {
            return Err(bad());
        }
        match unit {
            "h" | "H" => Ok(TimeLimit::WorkingHours(n)),
            "d" | "D" => Ok(TimeLimit::WorkingDays(n)),
            _ => Err(bad()),
        }
    }
}

impl From<TimeLimit> for String {
    fn from(t: TimeLimit) -> Self {
        t.to_string()
    }
}

impl TryFrom<String> for TimeLimit {
    type Error = BadTimeLimit;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl TimeLimit {
    /// In Chinese, for tables: `4 工作小时`, `3 个工作日`.
    pub fn label_zh(&self) -> String {
        match self {
            TimeLimit::WorkingHours(h) => format!("{h} 工作小时"),
            TimeLimit::WorkingDays(d) => format!("{d} 个工作日"),
        }
    }
}

/// One 小类 of the catalog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    /// 大类 (two digits) + 小类 (two digits), for example `0101`.
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub kind: Kind,
    /// 处置时限; `None`: the urgency default applies.
    pub time_limit: Option<TimeLimit>,
    /// The limit for a ticket marked urgent, when it differs.
    pub urgent_time_limit: Option<TimeLimit>,
    /// 立案条件
    pub filing: String,
    /// 结案条件
    pub closing: String,
    /// Whether `handled` needs after-photos (处置后照片).
    pub after_photos_required: bool,
}

impl Category {
    /// The limit for a ticket of `urgency`, if the category has one.
    pub fn limit_for(&self, urgency: Urgency) -> Option<TimeLimit> {
        match urgency {
            Urgency::Urgent => self.urgent_time_limit.or(self.time_limit),
            Urgency::Normal => self.time_limit,
        }
    }
}

/// The catalog: categories by code, and the version that names this set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    /// Raised by the relay on every import; dispatch events record it.
    pub version: u64,
    pub categories: BTreeMap<String, Category>,
}

/// Why a category code is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a category code: use 4 to 8 digits (大类 + 小类, for example `0101`)")]
pub struct BadCode(pub String);

/// Checks a category code: 4 to 8 ASCII digits.
pub fn check_code(code: &str) -> Result<(), BadCode> {
    let ok = (4..=8).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(BadCode(code.to_owned()))
    }
}

impl Catalog {
    /// The catalog document's id, the same on every device.
    pub fn document_id() -> DocumentId {
        DocumentId::derived("gridsync:catalog")
    }

    pub fn get(&self, code: &str) -> Option<&Category> {
        self.categories.get(code)
    }

    /// Up to `n` categories whose code or name is nearest to `query`: same
    /// 大类 first, then by edit distance of the code, then of the name.
    pub fn nearest(&self, query: &str, n: usize) -> Vec<&Category> {
        let q = query.trim();
        let mut ranked: Vec<(usize, usize, &Category)> = self
            .categories
            .values()
            .map(|c| {
                let by_name = if c.name_zh.contains(q) || (!q.is_empty() && q.contains(&c.name_zh))
                {
                    0
                } else {
                    edit_distance(q, &c.name_zh)
                };
                let by_code =
                    edit_distance(q, &c.code) * 2 + usize::from(c.code.get(..2) != q.get(..2));
                (by_code.min(by_name * 2), by_code, c)
            })
            .collect();
        ranked.sort_by(|a, b| (a.0, a.1, &a.2.code).cmp(&(b.0, b.1, &b.2.code)));
        ranked.into_iter().take(n).map(|(_, _, c)| c).collect()
    }
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

mod key {
    pub const VERSION: &str = "version";
    pub const CATEGORIES: &str = "categories";
}

/// Makes the document `doc` say `catalog`, changing only what differs
/// (nothing at all when it already does): the relay calls it at start and
/// on every registry change.
pub fn write(
    tx: &mut impl Transactable,
    catalog: &Catalog,
) -> Result<(), automerge::AutomergeError> {
    let current = read(&*tx).ok().flatten();
    if current.as_ref() == Some(catalog) {
        return Ok(());
    }
    if schema::read_str(&*tx, &ROOT, schema::DOC_TYPE).as_deref() != Some("catalog") {
        schema::write_header(tx, DocType::Catalog)?;
    }
    let version = i64::try_from(catalog.version).unwrap_or(i64::MAX);
    if schema::read_i64(&*tx, &ROOT, key::VERSION) != Some(version) {
        tx.put(ROOT, key::VERSION, ScalarValue::Int(version))?;
    }
    let categories = match tx.get(ROOT, key::CATEGORIES)? {
        Some((Value::Object(ObjType::Map), id)) => id,
        _ => tx.put_object(ROOT, key::CATEGORIES, ObjType::Map)?,
    };
    let old = current.map(|c| c.categories).unwrap_or_default();
    for code in old.keys().filter(|c| !catalog.categories.contains_key(*c)) {
        tx.delete(&categories, code.as_str())?;
    }
    for (code, c) in &catalog.categories {
        if old.get(code) == Some(c) {
            continue;
        }
        let m = tx.put_object(&categories, code.as_str(), ObjType::Map)?;
        tx.put(&m, "name_zh", c.name_zh.as_str())?;
        tx.put(&m, "name_en", c.name_en.as_str())?;
        tx.put(&m, "kind", c.kind.as_str())?;
        schema::put_opt(tx, &m, "time_limit", c.time_limit.map(|t| t.to_string()))?;
        schema::put_opt(
            tx,
            &m,
            "urgent_time_limit",
            c.urgent_time_limit.map(|t| t.to_string()),
        )?;
        tx.put(&m, "filing", c.filing.as_str())?;
        tx.put(&m, "closing", c.closing.as_str())?;
        tx.put(&m, "after_photos_required", c.after_photos_required)?;
    }
    Ok(())
}

/// Reads the catalog; `None` while the document is empty (the device has
/// not received it yet). An entry that cannot be read is left out.
pub fn read(doc: &impl ReadDoc) -> Result<Option<Catalog>, SchemaError> {
    schema::expect_type(doc, DocType::Catalog)?;
    if schema::doc_type(doc)?.is_none() {
        return Ok(None);
    }
    let root = schema::read_tree(doc, &ROOT, 3);
    let version = match root.get(key::VERSION) {
        Some(Node::Scalar(ScalarValue::Int(v))) => u64::try_from(*v).unwrap_or(0),
        Some(Node::Scalar(ScalarValue::Uint(v))) => *v,
        Some(Node::Scalar(ScalarValue::F64(v))) if *v >= 0.0 => *v as u64,
        _ => 0,
    };
    let mut categories = BTreeMap::new();
    if let Some(Node::Map(all)) = root.get(key::CATEGORIES) {
        for (code, node) in all {
            if let Node::Map(m) = node
                && let Some(c) = read_category(code, m)
            {
                categories.insert(code.clone(), c);
            }
        }
    }
    Ok(Some(Catalog {
        version,
        categories,
    }))
}

fn read_category(code: &str, m: &Tree) -> Option<Category> {
    let s = |k: &str| match m.get(k) {
        Some(Node::Scalar(ScalarValue::Str(s))) => Some(s.to_string()),
        Some(Node::Text(t)) => Some(t.clone()),
        _ => None,
    };
    check_code(code).ok()?;
    Some(Category {
        code: code.to_owned(),
        name_zh: s("name_zh").unwrap_or_default(),
        name_en: s("name_en").unwrap_or_default(),
        kind: s("kind")?.parse().ok()?,
        time_limit: s("time_limit").and_then(|t| t.parse().ok()),
        urgent_time_limit: s("urgent_time_limit").and_then(|t| t.parse().ok()),
        filing: s("filing").unwrap_or_default(),
        closing: s("closing").unwrap_or_default(),
        after_photos_required: matches!(
            m.get("after_photos_required"),
            Some(Node::Scalar(ScalarValue::Boolean(true)))
        ),
    })
}

/// Where a dispatch deadline's time limit came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitRule {
    pub limit: TimeLimit,
    /// The catalog version that gave it; `None`: the urgency default
    /// (the category has no limit, is unknown, or there is no catalog).
    pub catalog_version: Option<u64>,
}

/// The default handling time limit when the catalog gives none: one
/// working day (7 h) for urgent tickets, three (21 h) otherwise.
pub fn urgency_default(urgency: Urgency) -> TimeLimit {
    match urgency {
        Urgency::Urgent => TimeLimit::WorkingHours(7),
        Urgency::Normal => TimeLimit::WorkingHours(21),
    }
}

/// The time limit for a ticket of `category` and `urgency`: the category's
/// (its urgent limit for an urgent ticket, when it has one), else the
/// urgency default.
pub fn limit_for(catalog: Option<&Catalog>, category: &str, urgency: Urgency) -> LimitRule {
    catalog
        .and_then(|c| {
            let limit = c.get(category)?.limit_for(urgency)?;
            Some(LimitRule {
                limit,
                catalog_version: Some(c.version),
            })
        })
        .unwrap_or(LimitRule {
            limit: urgency_default(urgency),
            catalog_version: None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::Automerge;

    fn cat(code: &str, name: &str, limit: Option<&str>) -> Category {
        Category {
            code: code.into(),
            name_zh: name.into(),
            name_en: String::new(),
            kind: Kind::Event,
            time_limit: limit.map(|l| l.parse().unwrap()),
            urgent_time_limit: None,
            filing: "发现即立案".into(),
            closing: "清理完毕".into(),
            after_photos_required: true,
        }
    }

    fn catalog(version: u64, cats: &[Category]) -> Catalog {
        Catalog {
            version,
            categories: cats.iter().map(|c| (c.code.clone(), c.clone())).collect(),
        }
    }

    #[test]
    fn time_limits_read_and_print() {
        assert_eq!("4h".parse(), Ok(TimeLimit::WorkingHours(4)));
        assert_eq!(" 3d ".parse(), Ok(TimeLimit::WorkingDays(3)));
        assert_eq!(TimeLimit::WorkingDays(3).to_string(), "3d");
        for bad in ["", "h", "0h", "4x", "-1d", "4.5h", "10000h"] {
            assert!(bad.parse::<TimeLimit>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_document_round_trips_and_a_rewrite_changes_only_what_differs() {
        let a = catalog(
            1,
            &[
                cat("0101", "暴露垃圾", Some("4h")),
                cat("0102", "积存垃圾渣土", Some("1d")),
            ],
        );
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        write(&mut tx, &a).unwrap();
        tx.commit();
        assert_eq!(read(&doc).unwrap(), Some(a.clone()));

        let heads = doc.get_heads();
        let mut tx = doc.transaction();
        write(&mut tx, &a).unwrap();
        assert_eq!(tx.pending_ops(), 0, "an equal catalog writes nothing");
        tx.commit();
        assert_eq!(doc.get_heads(), heads);

        let b = catalog(2, &[cat("0101", "暴露垃圾", Some("2h"))]);
        let mut tx = doc.transaction();
        write(&mut tx, &b).unwrap();
        tx.commit();
        assert_eq!(read(&doc).unwrap(), Some(b));
        assert_eq!(read(&Automerge::new()).unwrap(), None);
    }

    #[test]
    fn limits_come_from_the_category_then_the_urgency() {
        let mut urgent = cat("0301", "井盖缺失", Some("1d"));
        urgent.urgent_time_limit = Some(TimeLimit::WorkingHours(2));
        let c = catalog(
            5,
            &[
                urgent,
                cat("0101", "暴露垃圾", Some("4h")),
                cat("0901", "其他", None),
            ],
        );
        let rule = |code, u| limit_for(Some(&c), code, u);
        assert_eq!(
            rule("0101", Urgency::Normal),
            LimitRule {
                limit: TimeLimit::WorkingHours(4),
                catalog_version: Some(5)
            }
        );
        assert_eq!(
            rule("0101", Urgency::Urgent).limit,
            TimeLimit::WorkingHours(4)
        );
        assert_eq!(
            rule("0301", Urgency::Urgent).limit,
            TimeLimit::WorkingHours(2)
        );
        assert_eq!(
            rule("0301", Urgency::Normal).limit,
            TimeLimit::WorkingDays(1)
        );
        for code in ["0901", "7777"] {
            assert_eq!(rule(code, Urgency::Normal).catalog_version, None);
            assert_eq!(
                rule(code, Urgency::Urgent).limit,
                TimeLimit::WorkingHours(7)
            );
        }
        assert_eq!(
            limit_for(None, "0101", Urgency::Normal).limit,
            TimeLimit::WorkingHours(21)
        );
    }

    #[test]
    fn nearest_matches_share_the_major_class_or_the_name() {
        let c = catalog(
            1,
            &[
                cat("0101", "暴露垃圾", Some("4h")),
                cat("0102", "积存垃圾渣土", Some("1d")),
                cat("0301", "井盖缺失", Some("1d")),
                cat("0501", "路灯损坏", Some("3d")),
            ],
        );
        let codes = |q: &str| -> Vec<String> {
            c.nearest(q, 2)
                .into_iter()
                .map(|c| c.code.clone())
                .collect()
        };
        assert_eq!(codes("0103"), ["0101", "0102"]);
        assert_eq!(codes("0302")[0], "0301");
        assert_eq!(codes("井盖")[0], "0301");
    }
}
