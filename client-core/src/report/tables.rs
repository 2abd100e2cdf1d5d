//! The tables of a report as data: their columns (with Chinese and English
//! headers and a stable machine key), language-neutral cells, and the rows
//! built from a ticket, a visit, a group's figures or the metadata. The
//! format writers only decide how a cell is spelt.

use std::borrow::Cow;

use chrono::{DateTime, FixedOffset, SecondsFormat};

use super::Lang;
use super::calendar::DAY_MS;
use super::figures::{Summary, TicketFacts};
use super::scope::Place;
use crate::model::lifecycle::CloseReason;
use crate::model::summary::RowRecord;
use crate::model::ticket::{Resident, Urgency};
use crate::model::visit::Visit;

/// One table of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// Figures per grid (按网格汇总).
    ByGrid,
    /// Figures per community (按社区汇总).
    ByCommunity,
    /// Figures per street (按街道汇总).
    ByStreet,
    /// Figures per handling unit (按处置单位汇总): the tickets a unit holds
    /// now, and its urgings and extensions.
    ByUnit,
    /// One row per ticket (工单明细).
    Tickets,
    /// One row per visit record (走访明细).
    Visits,
}

impl Table {
    pub const ALL: [Table; 6] = [
        Table::ByGrid,
        Table::ByCommunity,
        Table::ByStreet,
        Table::ByUnit,
        Table::Tickets,
        Table::Visits,
    ];

    /// The stable name used for files and JSON members.
    pub fn key(&self) -> &'static str {
        match self {
            Table::ByGrid => "summary_by_grid",
            Table::ByCommunity => "summary_by_community",
            Table::ByStreet => "summary_by_street",
            Table::ByUnit => "summary_by_unit",
            Table::Tickets => "tickets",
            Table::Visits => "visits",
        }
    }

    /// The sheet name in an XLSX workbook.
    pub fn title(&self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Table::ByGrid, Lang::Zh) => "按网格汇总",
            (Table::ByCommunity, Lang::Zh) => "按社区汇总",
            (Table::ByStreet, Lang::Zh) => "按街道汇总",
            (Table::ByUnit, Lang::Zh) => "按处置单位汇总",
            (Table::Tickets, Lang::Zh) => "工单明细",
            (Table::Visits, Lang::Zh) => "走访明细",
            (Table::ByGrid, Lang::En) => "By grid",
            (Table::ByCommunity, Lang::En) => "By community",
            (Table::ByStreet, Lang::En) => "By street",
            (Table::ByUnit, Lang::En) => "By unit",
            (Table::Tickets, Lang::En) => "Tickets",
            (Table::Visits, Lang::En) => "Visits",
        }
    }
}

/// A column: stable key (JSON, GeoJSON) and headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Column {
    pub key: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
}

impl Column {
    pub fn header(&self, lang: Lang) -> &'static str {
        match lang {
            Lang::Zh => self.zh,
            Lang::En => self.en,
        }
    }
}

const fn col(key: &'static str, zh: &'static str, en: &'static str) -> Column {
    Column { key, zh, en }
}

/// A value before it is spelt for a format.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell<'a> {
    Text(Cow<'a, str>),
    Int(i64),
    /// A latitude or longitude, degrees.
    Coord(f64),
    Hours(f64),
    /// A fraction, shown as a percentage to people.
    Rate(f64),
    /// An instant, ms since the epoch.
    Time(i64),
    Bool(bool),
    /// An enumeration: machine code and Chinese label.
    Label {
        code: &'static str,
        zh: &'static str,
    },
    Empty,
}

impl<'a> Cell<'a> {
    fn text(s: &'a str) -> Self {
        Cell::Text(Cow::Borrowed(s))
    }

    fn opt_text(s: Option<&'a str>) -> Self {
        s.map_or(Cell::Empty, Cell::text)
    }

    fn opt_time(t: Option<i64>) -> Self {
        t.map_or(Cell::Empty, Cell::Time)
    }

    fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> Self) -> Self {
        v.map_or(Cell::Empty, f)
    }

    /// The cell as people read it in CSV (and XLSX text cells).
    pub fn spell(&self, lang: Lang, offset: FixedOffset) -> Cow<'_, str> {
        match self {
            Cell::Text(s) => Cow::Borrowed(s.as_ref()),
            Cell::Int(i) => Cow::Owned(i.to_string()),
            Cell::Coord(c) => Cow::Owned(c.to_string()),
            Cell::Hours(h) => Cow::Owned(format!("{h:.2}")),
            Cell::Rate(r) => Cow::Owned(format!("{:.2}%", r * 100.0)),
            Cell::Time(t) => Cow::Owned(iso8601(*t, offset)),
            Cell::Bool(b) => Cow::Borrowed(match (lang, b) {
                (Lang::Zh, true) => "是",
                (Lang::Zh, false) => "否",
                (Lang::En, true) => "yes",
                (Lang::En, false) => "no",
            }),
            Cell::Label { code, zh } => Cow::Borrowed(match lang {
                Lang::Zh => zh,
                Lang::En => code,
            }),
            Cell::Empty => Cow::Borrowed(""),
        }
    }

    /// The cell as a JSON value: codes for enumerations, ISO 8601 text for
    /// instants, fractions for rates.
    pub fn json(&self, offset: FixedOffset) -> serde_json::Value {
        use serde_json::Value;
        let num = |f: f64| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number);
        match self {
            Cell::Text(s) => Value::String(s.to_string()),
            Cell::Int(i) => Value::from(*i),
            Cell::Coord(c) => num(*c),
            Cell::Hours(h) => num((h * 100.0).round() / 100.0),
            Cell::Rate(r) => num((r * 10_000.0).round() / 10_000.0),
            Cell::Time(t) => Value::String(iso8601(*t, offset)),
            Cell::Bool(b) => Value::Bool(*b),
            Cell::Label { code, .. } => Value::String((*code).to_owned()),
            Cell::Empty => Value::Null,
        }
    }
}

/// ISO 8601 with the given offset, to the second: `2025-01-26T09:00:00+08:00`.
pub(crate) fn iso8601(ms: i64, offset: FixedOffset) -> String {
    match DateTime::from_timestamp_millis(ms) {
        Some(t) => t
            .with_timezone(&offset)
            .to_rfc3339_opts(SecondsFormat::Secs, false),
        None => ms.to_string(),
    }
}

/// Excel's serial date-time of an instant, in local time at `offset`.
pub(crate) fn excel_serial(ms: i64, offset: FixedOffset) -> f64 {
    let local = ms + i64::from(offset.local_minus_utc()) * 1000;
    // 25569 is 1970-01-01 in Excel's 1900 date system.
    local as f64 / DAY_MS as f64 + 25_569.0
}

/// The place columns that lead each summary table.
fn place_columns(table: Table) -> &'static [Column] {
    const DISTRICT: Column = col("district", "区", "District");
    const STREET: Column = col("street", "街道", "Street");
    const COMMUNITY: Column = col("community", "社区", "Community");
    const GRID: Column = col("grid", "网格编码", "Grid code");
    const GRID_NAME: Column = col("grid_name", "网格名称", "Grid name");
    match table {
        Table::ByGrid => &[DISTRICT, STREET, COMMUNITY, GRID, GRID_NAME],
        Table::ByCommunity => &[DISTRICT, STREET, COMMUNITY],
        _ => &[DISTRICT, STREET],
    }
}

const FIGURE_COLUMNS: &[Column] = &[
    col("reported", "上报数", "Reported"),
    col("accepted", "立案数", "Accepted"),
    col("due", "应结案数", "Due to close"),
    col("suspended", "挂账数", "Suspended"),
    col("closed", "结案数", "Closed"),
    col("closed_on_time", "按期结案数", "Closed on time"),
    col("overdue_open", "超期未结数", "Overdue, still open"),
    col("on_time_rate", "按期结案率", "On-time closure rate"),
    col("closure_rate", "结案率", "Closure rate"),
    col("returned", "退单次数", "Returned"),
    col("handled", "处置次数", "Handled"),
    col("reworked", "返工次数", "Reworked"),
    col("rework_rate", "返工率", "Rework rate"),
    col("handling_count", "处置工时样本数", "Handling times counted"),
    col(
        "mean_handling_hours",
        "平均处置工时",
        "Mean handling (working h)",
    ),
    col(
        "median_handling_hours",
        "处置工时中位数",
        "Median handling (working h)",
    ),
    col("rated", "回访数", "Callbacks"),
    col("satisfied", "满意", "Satisfied"),
    col("basically_satisfied", "基本满意", "Basically satisfied"),
    col("dissatisfied", "不满意", "Dissatisfied"),
    col("satisfaction_rate", "满意率", "Satisfaction rate"),
    col("visits", "走访次数", "Visits"),
    col("households_visited", "走访户数", "Households visited"),
    col("extensions_approved", "延期批准次数", "Extensions approved"),
    col("urged", "督办次数", "Urged"),
];

/// The columns of a summary table.
pub(crate) fn summary_columns(table: Table) -> Vec<Column> {
    let mut cols = place_columns(table).to_vec();
    cols.extend_from_slice(FIGURE_COLUMNS);
    cols
}

/// The figures of the by-unit table (of [`FIGURE_COLUMNS`]): what a unit's
/// work shows; reports, acceptance, callbacks and visits are not its doing.
const UNIT_FIGURES: &[&str] = &[
    "due",
    "closed",
    "closed_on_time",
    "overdue_open",
    "on_time_rate",
    "returned",
    "handled",
    "reworked",
    "rework_rate",
    "handling_count",
    "mean_handling_hours",
    "median_handling_hours",
    "extensions_approved",
    "urged",
];

/// The columns of the by-unit table: the unit, its tickets, then
/// [`UNIT_FIGURES`].
pub(crate) fn unit_columns() -> Vec<Column> {
    let mut cols = vec![
        col("unit", "处置单位", "Handling unit"),
        col("tickets", "工单数", "Tickets"),
    ];
    cols.extend(
        FIGURE_COLUMNS
            .iter()
            .filter(|c| UNIT_FIGURES.contains(&c.key)),
    );
    cols
}

/// A by-unit row: the unit, how many tickets it holds in the report, and
/// the [`UNIT_FIGURES`] of `s`.
pub(crate) fn unit_row(unit: String, tickets: u64, s: &Summary) -> Vec<Cell<'static>> {
    let mut row = vec![
        Cell::Text(unit.into()),
        Cell::Int(i64::try_from(tickets).unwrap_or(i64::MAX)),
    ];
    row.extend(
        summary_row(Vec::new(), s)
            .into_iter()
            .zip(FIGURE_COLUMNS)
            .filter(|(_, c)| UNIT_FIGURES.contains(&c.key))
            .map(|(cell, _)| cell),
    );
    row
}

/// A summary row: the place values (as many as the table has place
/// columns) and the figures.
pub(crate) fn summary_row(place: Vec<String>, s: &Summary) -> Vec<Cell<'static>> {
    let int = |v: u64| Cell::Int(i64::try_from(v).unwrap_or(i64::MAX));
    let mut row: Vec<Cell<'static>> = place.into_iter().map(|p| Cell::Text(p.into())).collect();
    row.extend([
        int(s.reported),
        int(s.accepted),
        int(s.due),
        int(s.suspended),
        int(s.closed),
        int(s.closed_on_time),
        int(s.overdue_open),
        Cell::opt(s.on_time_rate, Cell::Rate),
        Cell::opt(s.closure_rate, Cell::Rate),
        int(s.returned),
        int(s.handled),
        int(s.reworked),
        Cell::opt(s.rework_rate, Cell::Rate),
        int(s.handling_count),
        Cell::opt(s.mean_handling_hours, Cell::Hours),
        Cell::opt(s.median_handling_hours, Cell::Hours),
        int(s.rated),
        int(s.satisfied),
        int(s.basically_satisfied),
        int(s.dissatisfied),
        Cell::opt(s.satisfaction_rate, Cell::Rate),
        int(s.visits),
        int(s.households_visited),
        int(s.extensions_approved),
        int(s.urged),
    ]);
    row
}

const TICKET_COLUMNS: &[Column] = &[
    col("id", "工单编号", "Ticket id"),
    col("grid", "网格编码", "Grid code"),
    col("grid_name", "网格名称", "Grid name"),
    col("community", "社区", "Community"),
    col("street", "街道", "Street"),
    col("district", "区", "District"),
    col("category", "类别编码", "Category"),
    col("kind", "类型", "Kind"),
    col("source", "来源", "Source"),
    col("urgency", "紧急程度", "Urgency"),
    col("title", "标题", "Title"),
    col("status", "状态", "Status"),
    col("unit", "处置单位", "Handling unit"),
    col("reported_at", "上报时间", "Reported at"),
    col("dispatched_at", "派遣时间", "Dispatched at"),
    col("due_at", "处置期限", "Due at"),
    col("handled_at", "处置完成时间", "Handled at"),
    col("closed_at", "结案时间", "Closed at"),
    col("close_reason", "结案方式", "Close reason"),
    col("suspended", "曾挂账", "Suspended"),
    col("overdue", "是否超期", "Overdue"),
    col("overdue_hours", "超期工时", "Overdue (working h)"),
    col("rework_count", "返工次数", "Rework count"),
    col("returned_count", "退单次数", "Returned count"),
    col("rating", "满意度", "Rating"),
    col("lat", "纬度", "Latitude"),
    col("lon", "经度", "Longitude"),
    col("address", "地址", "Address"),
    col("open_conflicts", "未解决冲突数", "Open conflicts"),
    col(
        "extensions_requested",
        "延期申请次数",
        "Extensions requested",
    ),
    col("extensions_approved", "延期批准次数", "Extensions approved"),
    col("urge_count", "督办次数", "Times urged"),
    col("photos", "照片数", "Photos"),
    col("photo_links", "照片链接", "Photo links"),
];

const TICKET_PERSONAL_COLUMNS: &[Column] = &[
    col("description", "描述", "Description"),
    col("resident_name", "居民姓名", "Resident name"),
    col("resident_phone", "居民电话", "Resident phone"),
];

pub(crate) fn ticket_columns(include_personal: bool) -> Vec<Column> {
    let mut cols = TICKET_COLUMNS.to_vec();
    if include_personal {
        cols.extend_from_slice(TICKET_PERSONAL_COLUMNS);
    }
    cols
}

/// A ticket's photo links, one per line, in the ticket's order (`before`
/// and `after` named).
fn photo_links(photos: &[(String, String)], base: Option<&str>) -> String {
    photos
        .iter()
        .map(|(phase, hash)| {
            let link = match base {
                Some(base) => format!("{base}{hash}"),
                None => format!("sha256:{hash}"),
            };
            format!("{phase} {link}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn close_reason_label(r: &CloseReason) -> Cell<'static> {
    let (code, zh) = match r {
        CloseReason::Resolved => ("resolved", "办结"),
        CloseReason::Duplicate(_) => ("duplicate", "重复件"),
        CloseReason::Cancelled => ("cancelled", "撤销"),
    };
    Cell::Label { code, zh }
}

/// The personal data of a ticket's row, for an export that includes it.
pub(crate) struct Personal<'a> {
    pub description: &'a str,
    pub resident: &'a Resident,
}

/// A ticket's row, aligned with [`ticket_columns`] (with the personal
/// columns when `personal` is given).
pub(crate) fn ticket_row<'a>(
    t: &'a RowRecord,
    place: &'a Place,
    facts: &TicketFacts,
    personal: Option<Personal<'a>>,
    photo_url: Option<&str>,
) -> Vec<Cell<'a>> {
    let status = t.status;
    let mut row = vec![
        Cell::Text(Cow::Owned(t.id.to_string())),
        Cell::text(&place.grid),
        Cell::text(&place.grid_name),
        Cell::text(&place.community),
        Cell::text(&place.street),
        Cell::text(&place.district),
        Cell::text(&t.category),
        Cell::opt(t.kind, |k| Cell::Label {
            code: k.as_str(),
            zh: k.label_zh(),
        }),
        Cell::opt(t.source, |s| Cell::Label {
            code: s.as_str(),
            zh: s.label_zh(),
        }),
        Cell::opt(t.urgency, |u| Cell::Label {
            code: u.as_str(),
            zh: match u {
                Urgency::Normal => "一般",
                Urgency::Urgent => "紧急",
            },
        }),
        Cell::text(&t.title),
        Cell::Label {
            code: status.as_str(),
            zh: status.label_zh(),
        },
        Cell::opt_text(t.unit.as_deref()),
        Cell::opt_time(t.reported_at),
        Cell::opt_time(t.dispatched_at),
        Cell::opt_time(t.due_at),
        Cell::opt_time(t.handled_at),
        Cell::opt_time(t.closed_at),
        Cell::opt(t.close_reason.as_ref(), close_reason_label),
        Cell::Bool(facts.ever_suspended),
        Cell::Bool(facts.overdue),
        if facts.overdue {
            Cell::Hours(facts.overdue_ms as f64 / 3_600_000.0)
        } else {
            Cell::Empty
        },
        Cell::Int(i64::from(t.rework_count)),
        Cell::Int(i64::from(t.returned_count)),
        Cell::opt(t.rating, |r| Cell::Label {
            code: r.as_str(),
            zh: r.label_zh(),
        }),
        Cell::opt(t.location.as_ref(), |l| Cell::Coord(l.lat)),
        Cell::opt(t.location.as_ref(), |l| Cell::Coord(l.lon)),
        Cell::opt_text(t.location.as_ref().and_then(|l| l.address.as_deref())),
        Cell::Int(i64::from(t.conflicts)),
        Cell::Int(i64::from(t.extensions_requested)),
        Cell::Int(i64::from(t.extensions_approved)),
        Cell::Int(i64::from(t.urge_count)),
        Cell::Int(t.photos.len() as i64),
        if t.photos.is_empty() {
            Cell::Empty
        } else {
            Cell::Text(Cow::Owned(photo_links(&t.photos, photo_url)))
        },
    ];
    if let Some(p) = personal {
        row.extend([
            Cell::text(p.description),
            Cell::opt_text(p.resident.name.as_deref()),
            Cell::opt_text(p.resident.phone.as_deref()),
        ]);
    }
    row
}

const VISIT_COLUMNS: &[Column] = &[
    col("id", "走访编号", "Visit id"),
    col("visit_type", "走访类型", "Type"),
    col("grid", "网格编码", "Grid code"),
    col("grid_name", "网格名称", "Grid name"),
    col("community", "社区", "Community"),
    col("street", "街道", "Street"),
    col("district", "区", "District"),
    col("household", "户号", "Household"),
    col("worker", "网格员", "Worker"),
    col("started_at", "开始时间", "Started at"),
    col("ended_at", "结束时间", "Ended at"),
    col("outcome", "结果", "Outcome"),
    col("lat", "纬度", "Latitude"),
    col("lon", "经度", "Longitude"),
    col("tickets", "关联工单", "Tickets"),
    col("amends", "更正的走访", "Amends"),
];

const VISIT_PERSONAL_COLUMNS: &[Column] = &[col("notes", "备注", "Notes")];

pub(crate) fn visit_columns(include_personal: bool) -> Vec<Column> {
    let mut cols = VISIT_COLUMNS.to_vec();
    if include_personal {
        cols.extend_from_slice(VISIT_PERSONAL_COLUMNS);
    }
    cols
}

/// A visit's row, aligned with [`visit_columns`].
pub(crate) fn visit_row<'a>(
    v: &'a Visit,
    place: &'a Place,
    include_personal: bool,
) -> Vec<Cell<'a>> {
    let tickets: Vec<String> = v.tickets.iter().map(ToString::to_string).collect();
    let mut row = vec![
        Cell::Text(Cow::Owned(v.id.to_string())),
        Cell::Label {
            code: v.visit_type.as_str(),
            zh: v.visit_type.label_zh(),
        },
        Cell::text(&place.grid),
        Cell::text(&place.grid_name),
        Cell::text(&place.community),
        Cell::text(&place.street),
        Cell::text(&place.district),
        Cell::opt_text(v.household.as_deref()),
        Cell::text(&v.worker),
        Cell::Time(v.started_at),
        Cell::opt_time(v.ended_at),
        Cell::Label {
            code: v.outcome.as_str(),
            zh: v.outcome.label_zh(),
        },
        Cell::opt(v.lat, Cell::Coord),
        Cell::opt(v.lon, Cell::Coord),
        if tickets.is_empty() {
            Cell::Empty
        } else {
            Cell::Text(Cow::Owned(tickets.join(";")))
        },
        Cell::opt(v.amends, |a| Cell::Text(Cow::Owned(a.to_string()))),
    ];
    if include_personal {
        row.push(Cell::text(&v.notes));
    }
    row
}

/// One line of an export's metadata: a stable key, a label and a value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MetaRow {
    pub key: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
    pub value: Cell<'static>,
}

impl MetaRow {
    pub fn label(&self, lang: Lang) -> &'static str {
        match lang {
            Lang::Zh => self.zh,
            Lang::En => self.en,
        }
    }
}

/// The columns of the metadata table (说明 sheet, `metadata.csv`).
pub(crate) const META_COLUMNS: &[Column] =
    &[col("item", "项目", "Item"), col("value", "内容", "Value")];

/// Each figure's definition, as written in the metadata of every export.
pub(crate) const DEFINITIONS: &[(&str, &str, &str, &str)] = &[
    (
        "def_due",
        "口径：应结案数",
        "Definition: due to close",
        "处置期限落在统计期内的工单；已注销、按重复件或撤销结案的除外 | tickets whose deadline falls in the period, except invalid ones and those closed as duplicate or cancelled",
    ),
    (
        "def_suspended",
        "口径：挂账数",
        "Definition: suspended",
        "应结案工单中在统计截至时刻前曾挂账的，不参与结案率和按期结案率 | tickets due to close that were suspended before the as-of instant; left out of the closure and on-time rates",
    ),
    (
        "def_closed",
        "口径：结案数",
        "Definition: closed",
        "应结案且未挂账、在统计截至时刻前已办结的工单 | tickets due to close, not suspended, closed by the as-of instant",
    ),
    (
        "def_on_time",
        "口径：按期结案数",
        "Definition: closed on time",
        "结案时超过处置期限的工作时间为零（期限前结案，或仅在非工作时间内超过） | closed with no working time elapsed past the deadline",
    ),
    (
        "def_overdue_open",
        "口径：超期未结数",
        "Definition: overdue, still open",
        "应结案且未挂账、统计截至时仍未结案且已超过期限（按工作时间计）的工单 | tickets due to close, not suspended, open at the as-of instant with working time past the deadline",
    ),
    (
        "def_rates",
        "口径：按期结案率、结案率",
        "Definition: on-time and closure rates",
        "按期结案数 ÷ (应结案数 − 挂账数)；结案数 ÷ (应结案数 − 挂账数) | closed on time ÷ (due − suspended); closed ÷ (due − suspended)",
    ),
    (
        "def_events",
        "口径：退单、处置、返工次数",
        "Definition: returned, handled, reworked",
        "统计期内发生的退单、处置完成、返工事件数；返工率 = 返工次数 ÷ 处置次数 | events in the period; rework rate = reworked ÷ handled",
    ),
    (
        "def_extensions_urged",
        "口径：延期批准、督办次数",
        "Definition: extensions approved, urged",
        "统计期内的延期批准、督办事件数；延期批准后以批准的期限为处置期限计算应结案、按期和超期 | events in the period; an approved extension's deadline is the one due, on-time and overdue figures use",
    ),
    (
        "def_handling",
        "口径：处置工时",
        "Definition: handling time",
        "最近一次处置完成在统计期内的工单，自首次派遣至处置完成的工作小时数，扣除其间挂账的工作时间；中位数精确到分钟 | working hours from first dispatch to the latest handling (in the period), less suspended working time; median to the minute",
    ),
    (
        "def_satisfaction",
        "口径：满意率",
        "Definition: satisfaction rate",
        "统计期内回访的工单中（满意 + 基本满意）÷ 回访数 | (satisfied + basically satisfied) ÷ callbacks recorded in the period",
    ),
    (
        "def_visits",
        "口径：走访次数、走访户数",
        "Definition: visits, households",
        "统计期内开始的走访记录（更正记录不重复计）；走访户数为各网格内结果为见面的不同户号数之和 | visit records started in the period, corrections not counted again; households = distinct household refs met, per grid, summed",
    ),
];
