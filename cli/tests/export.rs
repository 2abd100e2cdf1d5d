//! `gridsync export`: the district-review report of a device's own grids,
//! read back from every format.

mod support;

use std::collections::BTreeSet;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use calamine::{Data, Reader, Xlsx};
use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use serde_json::Value;
use support::{Gs, REFUSED, Run, USAGE};

const A: &str = "GL-01";
const B: &str = "GL-02";
/// ASCII and Chinese commas, a quote and a line break.
const TITLE: &str = "路灯不亮，影响夜间出行, 居民称\"很危险\"\n请尽快处理";
const DESCRIPTION: &str = "3号楼东侧，共3盏\n晚上七点后全黑";
const NOTES: &str = "独居老人，身体尚好,\n需定期回访";
const PHONE: &str = "13800138000";
const LAT: f64 = 31.2304;
const LON: f64 = 121.4737;
const BOM: &[u8] = b"\xEF\xBB\xBF";

fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap()
}

fn today() -> NaiveDate {
    Utc::now().with_timezone(&china()).date_naive()
}

/// A worker's device with two grids, a ticket in each (the one in A with
/// a location and text that needs quoting) and a visit in each.
struct Field {
    gs: Gs,
    located: String,
    unlocated: String,
    /// `--from yesterday --to tomorrow` (+08:00): everything recorded now.
    period: Vec<String>,
}

impl Field {
    fn new() -> Self {
        let gs = Gs::init("王芳", "worker", &[A, B]);
        let located = gs.report(
            A,
            TITLE,
            &[
                "--description",
                DESCRIPTION,
                "--lat",
                &LAT.to_string(),
                "--lon",
                &LON.to_string(),
                "--address",
                "幸福路88弄, 3号楼",
                "--category",
                "3301020000000001",
                "--resident-name",
                "张阿姨",
                "--resident-phone",
                PHONE,
            ],
        );
        let unlocated = gs.report(B, "井盖缺失", &[]);
        let started = (Utc::now() - Duration::hours(1))
            .with_timezone(&china())
            .to_rfc3339();
        for (grid, household) in [(A, "3-2-501"), (B, "1-1-101")] {
            gs.ok(&[
                "visit",
                "add",
                "--grid",
                grid,
                "--type",
                "vulnerable",
                "--household",
                household,
                "--outcome",
                "met",
                "--notes",
                NOTES,
                "--started",
                &started,
            ]);
        }
        let day = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
        let period = vec![
            "--from".to_owned(),
            day(today().pred_opt().unwrap()),
            "--to".to_owned(),
            day(today().succ_opt().unwrap()),
        ];
        Self {
            gs,
            located,
            unlocated,
            period,
        }
    }

    /// A path for an export, next to the data directory.
    fn out(&self, name: &str) -> PathBuf {
        self.gs.data().parent().unwrap().join(name)
    }

    /// `export` with the period and `args`.
    fn export(&self, args: &[&str]) -> Run {
        let mut all = vec!["export"];
        all.extend(self.period.iter().map(String::as_str));
        all.extend_from_slice(args);
        self.gs.run(&all)
    }

    fn export_ok(&self, args: &[&str]) -> Run {
        let r = self.export(args);
        assert_eq!(r.code, Some(0), "{args:?}: {r:#?}");
        r
    }
}

/// The file names in a directory.
fn files_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

fn column(header: &[Data], name: &str) -> usize {
    header
        .iter()
        .position(|h| *h == Data::String(name.into()))
        .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
}

#[test]
fn export_xlsx_has_a_sheet_per_table_text_ids_and_date_cells() {
    let f = Field::new();
    let path = f.out("区级审阅.xlsx");
    let r = f.export_ok(&["--format", "xlsx", "--out", path.to_str().unwrap()]);
    let summary = format!("exported 2 tickets, 2 visits to {}", path.display());
    assert!(r.stderr.contains(&summary), "{r:#?}");
    assert!(r.stderr.contains("(calendar: 中国大陆 2025"), "{r:#?}");
    assert!(r.stdout.is_empty(), "{r:#?}");

    let mut book: Xlsx<_> = calamine::open_workbook(&path).unwrap();
    assert_eq!(
        book.sheet_names(),
        [
            "说明",
            "按网格汇总",
            "按社区汇总",
            "按街道汇总",
            "按处置单位汇总",
            "工单明细",
            "走访明细"
        ]
    );
    let meta = book.worksheet_range("说明").unwrap();
    let calendar = meta
        .rows()
        .find(|r| r[0] == Data::String("工作日历".into()))
        .expect("the metadata names the calendar");
    assert!(
        matches!(&calendar[1], Data::String(c) if c.starts_with("中国大陆 2025 + 中国大陆 2026")),
        "{calendar:?}"
    );

    let tickets = book.worksheet_range("工单明细").unwrap();
    let rows: Vec<&[Data]> = tickets.rows().collect();
    assert_eq!(rows.len(), 1 + 2);
    let header = rows[0];
    let row = rows
        .iter()
        .find(|r| r[column(header, "工单编号")] == Data::String(f.located.clone()))
        .expect("the ticket id is a text cell");
    assert_eq!(row[column(header, "标题")], Data::String(TITLE.into()));
    assert_eq!(
        row[column(header, "类别编码")],
        Data::String("3301020000000001".into()),
        "a 16-digit code keeps every digit"
    );
    assert_eq!(row[column(header, "经度")], Data::Float(LON));
    assert_eq!(row[column(header, "网格名称")], Data::String("未知".into()));
    let reported_ms = f.gs.json(&["ticket", "show", &f.located])["created_at"]
        .as_i64()
        .unwrap();
    let reported = DateTime::from_timestamp_millis(reported_ms)
        .unwrap()
        .with_timezone(&china())
        .naive_local();
    match &row[column(header, "上报时间")] {
        Data::DateTime(dt) => {
            let cell = dt.as_datetime().expect("a date-time");
            assert!(
                (cell - reported).num_seconds().abs() <= 1,
                "{cell} is the report time {reported} at +08:00"
            );
        }
        other => panic!("the report time is not a date cell: {other:?}"),
    }
    for personal in ["描述", "居民姓名", "居民电话"] {
        assert!(
            !header.contains(&Data::String(personal.into())),
            "{personal} is left out"
        );
    }
    let cells: Vec<String> = tickets.cells().map(|(_, _, c)| c.to_string()).collect();
    assert!(!cells.iter().any(|c| c.contains(PHONE)), "{cells:?}");

    let visits = book.worksheet_range("走访明细").unwrap();
    let rows: Vec<&[Data]> = visits.rows().collect();
    assert_eq!(rows.len(), 1 + 2);
    assert!(!rows[0].contains(&Data::String("备注".into())));
    assert!(matches!(
        rows[1][column(rows[0], "开始时间")],
        Data::DateTime(_)
    ));
    let by_grid = book.worksheet_range("按网格汇总").unwrap();
    let rows: Vec<&[Data]> = by_grid.rows().collect();
    let total = rows.last().unwrap();
    assert_eq!(total[0], Data::String("合计".into()));
    assert_eq!(total[column(rows[0], "上报数")], Data::Float(2.0));
    assert_eq!(total[column(rows[0], "走访次数")], Data::Float(2.0));
    assert_eq!(
        files_in(path.parent().unwrap()),
        set(&["data", "区级审阅.xlsx"])
    );
}

#[test]
fn export_csv_without_table_is_a_zip_with_a_bom_per_file_and_quoted_text() {
    let f = Field::new();
    let path = f.out("report.zip");
    f.export_ok(&["--format", "csv", "--out", path.to_str().unwrap()]);
    let mut zip = zip::ZipArchive::new(Cursor::new(std::fs::read(&path).unwrap())).unwrap();
    let mut files = std::collections::BTreeMap::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).unwrap();
        let name = entry.name().unwrap().to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        files.insert(name, bytes);
    }
    assert_eq!(
        files.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "metadata.csv",
            "summary_by_community.csv",
            "summary_by_grid.csv",
            "summary_by_street.csv",
            "summary_by_unit.csv",
            "tickets.csv",
            "visits.csv"
        ]
    );
    for (name, bytes) in &files {
        assert!(bytes.starts_with(BOM), "{name} starts with a UTF-8 BOM");
        assert!(std::str::from_utf8(&bytes[3..]).is_ok(), "{name} is UTF-8");
    }

    let tickets = std::str::from_utf8(&files["tickets.csv"][3..]).unwrap();
    let quoted = format!("\"{}\"", TITLE.replace('"', "\"\""));
    assert!(tickets.contains(&quoted), "{tickets}");
    assert!(tickets.contains("\"幸福路88弄, 3号楼\""), "{tickets}");
    let mut reader = csv::Reader::from_reader(tickets.as_bytes());
    let header = reader.headers().unwrap().clone();
    assert_eq!(&header[0], "工单编号");
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    let row = rows.iter().find(|r| r[0] == f.located).unwrap();
    assert_eq!(&row[at("标题")], TITLE);
    assert!(row[at("上报时间")].ends_with("+08:00"), "{row:?}");
    assert!(!tickets.contains(PHONE) && !tickets.contains(DESCRIPTION));

    let visits = std::str::from_utf8(&files["visits.csv"][3..]).unwrap();
    assert!(!visits.contains("独居老人"), "notes are personal: {visits}");
    let metadata = std::str::from_utf8(&files["metadata.csv"][3..]).unwrap();
    assert!(metadata.contains("工作日历,\"中国大陆 2025"), "{metadata}");
}

#[test]
fn export_lang_en_gives_english_headers_and_one_table_goes_to_stdout() {
    let f = Field::new();
    let r = f.export_ok(&[
        "--format", "csv", "--table", "tickets", "--lang", "en", "--out", "-",
    ]);
    assert!(r.stdout.as_bytes().starts_with(BOM), "{r:#?}");
    let first_line = r.stdout[3..].lines().next().unwrap();
    assert!(
        first_line.starts_with("Ticket id,Grid code,Grid name,Community,Street,District"),
        "{first_line}"
    );
    assert!(first_line.ends_with(",Calendar"), "{first_line}");
    assert!(r.stdout.contains(",unknown,"), "{r:#?}");
    assert!(r.stderr.contains("to stdout (calendar: "), "{r:#?}");

    let by_street = f.export_ok(&[
        "--format",
        "csv",
        "--table",
        "by-street",
        "--lang",
        "en",
        "--out",
        "-",
    ]);
    assert!(
        by_street.stdout[3..].starts_with("District,Street,Reported,Accepted"),
        "{by_street:#?}"
    );
    assert!(by_street.stdout.contains("\r\nTotal,"), "{by_street:#?}");
}

#[test]
fn export_geojson_is_a_feature_collection_in_lon_lat_order() {
    let f = Field::new();
    let r = f.export_ok(&["--format", "geojson", "--out", "-"]);
    let g: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(g["type"], "FeatureCollection");
    let features = g["features"].as_array().unwrap();
    assert_eq!(
        features.len(),
        1,
        "the ticket without a location is left out"
    );
    let feature = &features[0];
    assert_eq!(feature["type"], "Feature");
    assert_eq!(feature["id"], f.located.as_str());
    assert_eq!(feature["geometry"]["type"], "Point");
    assert_eq!(
        feature["geometry"]["coordinates"],
        serde_json::json!([LON, LAT])
    );
    assert_eq!(feature["properties"]["title"], TITLE);
    assert!(feature["properties"].get("resident_phone").is_none());
    assert_eq!(g["metadata"]["tickets_without_location"], 1);
    assert!(
        r.stderr
            .contains("1 ticket(s) without a usable location are left out"),
        "{r:#?}"
    );
}

#[test]
fn export_json_parses_and_json_flag_prints_the_stats() {
    let f = Field::new();
    let path = f.out("report.json");
    let r = f.export_ok(&[
        "--json",
        "--format",
        "json",
        "--out",
        path.to_str().unwrap(),
    ]);
    let stats: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(stats["out"], path.to_str().unwrap());
    assert_eq!(stats["tickets_exported"], 2);
    assert_eq!(stats["visits_exported"], 2);
    assert_eq!(stats["total"]["reported"], 2);
    assert_eq!(stats["total"]["households_visited"], 2);
    assert!(
        stats["calendar"]
            .as_str()
            .unwrap()
            .starts_with("中国大陆 2025 + 中国大陆 2026")
    );

    let report: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(report["metadata"]["calendar"], stats["calendar"]);
    assert_eq!(report["metadata"]["include_personal"], false);
    assert_eq!(report["metadata"]["utc_offset"], "+08:00");
    let ids: BTreeSet<String> = report["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, set(&[&f.located, &f.unlocated]));
    assert_eq!(report["visits"].as_array().unwrap().len(), 2);
    assert!(report["visits"][0].get("notes").is_none());
    let grids: Vec<&str> = report["summary_by_grid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["grid"].as_str().unwrap())
        .collect();
    assert_eq!(grids, [A, B, ""], "one row per grid and the total");

    // Another offset moves the written times with it.
    let r = f.export_ok(&["--format", "json", "--offset", "+00:00", "--out", "-"]);
    let utc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(utc["metadata"]["utc_offset"], "+00:00");
    assert!(
        utc["tickets"][0]["reported_at"]
            .as_str()
            .unwrap()
            .ends_with("+00:00")
    );
}

#[test]
fn export_the_default_period_is_the_current_month_at_the_offset() {
    let f = Field::new();
    let first_of_month = || {
        let d = today();
        format!("{}T00:00:00+08:00", d.format("%Y-%m-01"))
    };
    let before = first_of_month();
    let r = f.gs.run(&["export", "--format", "json", "--out", "-"]);
    let after = first_of_month();
    assert_eq!(r.code, Some(0), "{r:#?}");
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    let from = report["metadata"]["period_from"].as_str().unwrap();
    assert!(from == before || from == after, "{from}");
    assert_eq!(report["tickets"].as_array().unwrap().len(), 2);
}

#[test]
fn export_personal_data_is_for_admins_only() {
    let worker = Field::new();
    let path = worker.out("personal.json");
    worker
        .export(&[
            "--format",
            "json",
            "--include-personal",
            "--out",
            path.to_str().unwrap(),
        ])
        .fails_with(REFUSED)
        .stderr_has("only an admin")
        .stderr_has("网格员 worker");
    assert!(!path.exists());

    let admin = Gs::init("管理员甲", "admin", &[A, B]);
    support::merge(&worker.gs, &admin);
    let admin = Field {
        gs: admin,
        located: worker.located.clone(),
        unlocated: worker.unlocated.clone(),
        period: worker.period.clone(),
    };
    let r = admin.export_ok(&["--format", "json", "--include-personal", "--out", "-"]);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["metadata"]["include_personal"], true);
    let ticket = report["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == worker.located.as_str())
        .unwrap();
    assert_eq!(ticket["resident_phone"], PHONE);
    assert_eq!(ticket["resident_name"], "张阿姨");
    assert_eq!(ticket["description"], DESCRIPTION);
    assert_eq!(report["visits"][0]["notes"], NOTES);
}

#[test]
fn export_a_bad_calendar_file_is_refused_with_its_line() {
    let f = Field::new();
    let out = f.out("report.json");
    let calendar = f.out("district.toml");
    std::fs::write(
        &calendar,
        "name = \"示例区 2026\"\nyears = [2026]\n\n[[holiday]]\nname = \"元旦\"\nfrom = 2026-13-01\n",
    )
    .unwrap();
    let args = [
        "--format",
        "json",
        "--calendar",
        calendar.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    f.export(&args)
        .fails_with(REFUSED)
        .stderr_has("district.toml")
        .stderr_has("line 6");

    std::fs::write(
        &calendar,
        "name = \"示例区 2026\"\nyears = [2026]\nweekend = [\"sat\", \"周日\"]\n",
    )
    .unwrap();
    f.export(&args)
        .fails_with(REFUSED)
        .stderr_has("line 3, field `weekend`")
        .stderr_has("`周日` is not a weekday");
    assert!(!out.exists());

    // A good file is used, and the export says so.
    std::fs::write(
        &calendar,
        "name = \"示例区 2026\"\nyears = [2026]\nworking_hours = [\"08:30-17:30\"]\n",
    )
    .unwrap();
    let r = f.export_ok(&args);
    assert!(
        r.stderr
            .contains("(calendar: 示例区 2026 (years 2026; working hours 08:30-17:30))"),
        "{r:#?}"
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(report["metadata"]["working_hours"], "08:30-17:30");
}

#[test]
fn export_a_grids_file_names_places_and_filters_by_street() {
    let f = Field::new();
    let grids = f.out("grids.csv");
    let mut text = BOM.to_vec();
    text.extend_from_slice(
        "网格编码,网格名称,社区,街道,区\n\
         GL-01,幸福里第一网格,幸福社区,东城街道,示例区\n\
         GL-02,和平第二网格,和平社区,西城街道,示例区\n\
         GL-77,别人的网格,其他社区,东城街道,示例区\n"
            .as_bytes(),
    );
    std::fs::write(&grids, text).unwrap();
    let grids = grids.to_str().unwrap();

    let r = f.export_ok(&[
        "--format",
        "json",
        "--grids-file",
        grids,
        "--street",
        "东城街道",
        "--out",
        "-",
    ]);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["metadata"]["filter"], "街道=东城街道");
    let tickets = report["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0]["id"], f.located.as_str());
    assert_eq!(tickets[0]["grid_name"], "幸福里第一网格");
    assert_eq!(tickets[0]["community"], "幸福社区");
    assert_eq!(report["summary_by_street"][0]["street"], "东城街道");
    assert_eq!(report["visits"].as_array().unwrap().len(), 1);

    let r = f.export_ok(&[
        "--format",
        "json",
        "--grids-file",
        grids,
        "--grid",
        B,
        "--out",
        "-",
    ]);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["metadata"]["filter"], "网格=GL-02");
    assert_eq!(report["tickets"][0]["id"], f.unlocated.as_str());
    assert_eq!(report["tickets"][0]["street"], "西城街道");

    std::fs::write(f.out("bad.csv"), "grid,name\nGL-01,a\nGL 02,b\n").unwrap();
    f.export(&[
        "--format",
        "json",
        "--grids-file",
        f.out("bad.csv").to_str().unwrap(),
        "--out",
        "-",
    ])
    .fails_with(REFUSED)
    .stderr_has("bad.csv: line 3: `GL 02` is not a grid code");
}

#[test]
fn export_other_grids_bad_flags_and_unwritable_destinations_are_refused() {
    let f = Field::new();
    let dir = f.gs.data().parent().unwrap().to_path_buf();
    let out = f.out("r.json");
    let out = out.to_str().unwrap();

    f.export(&["--format", "json", "--grid", "GL-99", "--out", out])
        .fails_with(REFUSED)
        .stderr_has("cannot export grid GL-99")
        .stderr_has("not one of yours");

    for args in [
        &["--format", "pdf", "--out", out][..],
        &["--format", "csv", "--table", "households", "--out", out],
        &["--format", "xlsx", "--table", "tickets", "--out", out],
        &["--format", "xlsx", "--out", "-"],
        &["--format", "csv", "--out", "-"],
        &["--json", "--format", "json", "--out", "-"],
        &["--format", "json", "--street", "东城街道", "--out", out],
        &["--format", "json", "--offset", "8", "--out", out],
        &["--format", "json", "--lang", "fr", "--out", out],
        &["--format", "json"],
    ] {
        f.export(args).fails_with(USAGE);
    }
    for dates in [
        &["--from", "2025-02-30"][..],
        &["--to", "tomorrow"],
        &["--from", "2025-03-10", "--to", "2025-03-01"],
    ] {
        let mut args = vec!["export", "--format", "json", "--out", out];
        args.extend_from_slice(dates);
        let r = f.gs.run(&args);
        r.fails_with(USAGE);
        assert!(
            r.stderr.contains("YYYY-MM-DD") || r.stderr.contains("is after the last day"),
            "{r:#?}"
        );
    }

    let missing = dir.join("no-such-dir").join("r.json");
    f.export(&["--format", "json", "--out", missing.to_str().unwrap()])
        .fails_with(REFUSED)
        .stderr_has("cannot write the export to")
        .stderr_has("no-such-dir");
    std::fs::create_dir(dir.join("reports")).unwrap();
    f.export(&[
        "--format",
        "xlsx",
        "--out",
        dir.join("reports").to_str().unwrap(),
    ])
    .fails_with(REFUSED)
    .stderr_has("is a directory");
    assert_eq!(
        files_in(&dir),
        set(&["data", "reports"]),
        "nothing half-written is left behind"
    );
    assert!(files_in(&dir.join("reports")).is_empty());
}
