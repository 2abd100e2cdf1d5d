//! The relay's district-review export: `GET /api/export` and
//! `gridsync-server export`, over documents a device really synced.
//!
//! A worker's device records tickets and a visit in three grids (two
//! registered in different communities of one street, one unregistered)
//! and syncs them to a relay; then grids, users and tokens are registered
//! and exports are asked for as different users.

mod support;

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use calamine::{Data, Reader, Xlsx};
use chrono::{FixedOffset, TimeZone};
use client_core::client::{ClientConfig, sync_until_quiescent};
use client_core::device::{Device, Identity};
use client_core::ids::{GridCode, TicketId, VisitId};
use client_core::model::lifecycle::Role;
use client_core::model::ticket::{Kind, Location, NewTicket, Resident, Source, Urgency};
use client_core::model::visit::{Outcome, Visit, VisitType};
use client_core::store::MemoryStore;
use serde_json::Value;
use server::Config;
use server::registry::{GridRecord, Registry, Scope};
use support::{PATIENCE, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const G1: &str = "XF-01"; // 幸福社区
const G2: &str = "HP-01"; // 和平社区
const G3: &str = "ZZ-99"; // not registered
const STREET: &str = "文三街道";
/// Chinese text with a comma, quotes and a line break: CSV must quote it.
const TITLE_1: &str = "路灯不亮，东门, 居民称\"很危险\"\n请尽快处理";
const TITLE_2: &str = "和平路井盖缺失";
const TITLE_3: &str = "未登记网格的工单";
const PHONE: &str = "13800138000";
const LON: f64 = 120.1234;
const LAT: f64 = 30.2567;
const PERIOD: &str = "from=2025-01-01&to=2025-01-31";

fn cn() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap()
}

/// 2025-01-`d` `h`:00 at +08:00.
fn jan(d: u32, h: u32) -> i64 {
    cn().with_ymd_and_hms(2025, 1, d, h, 0, 0)
        .unwrap()
        .timestamp_millis()
}

fn code(s: &str) -> GridCode {
    GridCode::new(s).unwrap()
}

fn ticket(grid: &str, title: &str) -> NewTicket {
    NewTicket {
        id: TicketId::random(),
        grid: code(grid),
        source: Source::Patrol,
        kind: Kind::Component,
        category: "0102".into(),
        urgency: Urgency::Normal,
        title: title.into(),
        description: "居民反映".into(),
        location: Some(Location {
            lat: LAT,
            lon: LON,
            accuracy_m: Some(5.0),
            address: Some("文三路 1 号, 东门".into()),
        }),
        resident: Some(Resident {
            name: Some("张三".into()),
            phone: Some(PHONE.into()),
        }),
    }
}

/// Tokens of the registered users.
struct Tokens {
    reviewer: String,
    supervisor: String,
    admin: String,
    worker: String,
}

/// A relay holding a worker's synced tickets and visit, with its registry.
struct Seeded {
    server: TestServer,
    tokens: Tokens,
    ticket_1: TicketId,
    dir: tempfile::TempDir,
}

impl Seeded {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = TestServer::start(&dir.path().join("relay.redb"), Config::default()).await;

        // The worker's device records, then syncs (the relay has no users
        // yet, so it is open).
        let store = Arc::new(MemoryStore::new());
        let device = Device::init(
            store.clone(),
            Identity::new("wang", Role::Worker, vec![code(G1), code(G2), code(G3)]),
        )
        .unwrap();
        let t1 = ticket(G1, TITLE_1);
        let ticket_1 = t1.id;
        device.report(&t1, jan(6, 10)).unwrap();
        device.report(&ticket(G2, TITLE_2), jan(7, 9)).unwrap();
        device.report(&ticket(G3, TITLE_3), jan(8, 9)).unwrap();
        let visit = Visit {
            id: VisitId::random(),
            visit_type: VisitType::Household,
            grid: code(G1),
            household: Some("3-2-501".into()),
            worker: "wang".into(),
            started_at: jan(6, 14),
            ended_at: Some(jan(6, 15)),
            lat: Some(LAT),
            lon: Some(LON),
            outcome: Outcome::Met,
            notes: "独居老人，身体尚可".into(),
            tickets: vec![ticket_1],
            amends: None,
        };
        device.add_visit(&visit, "2025-01-06").unwrap();
        let report = timeout(
            PATIENCE,
            sync_until_quiescent(store, &ClientConfig::new(server.url()), |_| {}),
        )
        .await
        .expect("the sync finishes in time")
        .expect("the sync succeeds");
        assert!(report.pending.is_empty(), "{report:?}");

        let relay_store = server.store.upgrade().expect("the relay is running");
        let db = relay_store.database();
        let registry = Registry::new(&db).unwrap();
        for (grid, community) in [(G1, "幸福社区"), (G2, "和平社区")] {
            registry
                .add_grid(&GridRecord {
                    code: code(grid),
                    name: format!("{community}第一网格"),
                    community: community.into(),
                    street: STREET.into(),
                    district: "西湖区".into(),
                })
                .unwrap();
        }
        let token = |name: &str, role: Role, scope: Scope| {
            registry.add_user(name, role, scope).unwrap();
            registry.issue_token(name, None).unwrap().0
        };
        let tokens = Tokens {
            reviewer: token("li", Role::Reviewer, Scope::Street(STREET.into())),
            supervisor: token(
                "zhao",
                Role::Supervisor,
                Scope::Community("幸福社区".into()),
            ),
            admin: token("admin", Role::Admin, Scope::All),
            worker: token("wang", Role::Worker, Scope::Grids(vec![code(G1)])),
        };
        Seeded {
            server,
            tokens,
            ticket_1,
            dir,
        }
    }

    async fn get(&self, query: &str, token: Option<&str>) -> Answer {
        http_get(&self.server, &format!("/api/export?{query}"), token).await
    }
}

/// An HTTP response.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("UTF-8")
    }

    /// The JSON error's message, after checking the status.
    fn refused(&self, status: u16) -> String {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.header("content-type"), Some("application/json"));
        self.json()["error"]
            .as_str()
            .expect("an error message")
            .to_owned()
    }
}

/// `GET path` over HTTP/1.1 with an optional bearer token.
async fn http_get(server: &TestServer, path: &str, token: Option<&str>) -> Answer {
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\n{auth}Connection: close\r\n\r\n",
        server.addr
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    timeout(PATIENCE, tcp.read_to_end(&mut raw))
        .await
        .expect("an HTTP answer in time")
        .unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let answer = Answer {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    };
    let length: usize = answer
        .header("content-length")
        .expect("a Content-Length")
        .parse()
        .unwrap();
    assert_eq!(answer.body.len(), length, "the whole body arrived");
    answer
}

/// Ticket rows of a JSON export: (grid, title).
fn ticket_rows(export: &Value) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = export["tickets"]
        .as_array()
        .expect("a tickets array")
        .iter()
        .map(|t| {
            (
                t["grid"].as_str().unwrap().to_owned(),
                t["title"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn a_reviewer_exports_a_workbook_that_reads_back_with_typed_cells() {
    let s = Seeded::start().await;
    let a = s
        .get(&format!("format=xlsx&{PERIOD}"), Some(&s.tokens.reviewer))
        .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(
        a.header("content-type"),
        Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    );
    assert_eq!(
        a.header("content-disposition"),
        Some("attachment; filename=\"gridsync-report_2025-01-01_2025-01-31.xlsx\"")
    );
    assert_eq!(a.header("cache-control"), Some("no-store"));

    let mut book = Xlsx::new(Cursor::new(a.body.clone())).expect("an XLSX workbook");
    let names = book.sheet_names();
    for sheet in [
        "说明",
        "按网格汇总",
        "按社区汇总",
        "按街道汇总",
        "按处置单位汇总",
        "工单明细",
        "走访明细",
    ] {
        assert!(names.iter().any(|n| n == sheet), "{sheet} in {names:?}");
    }
    let tickets = book.worksheet_range("工单明细").unwrap();
    let mut rows = tickets.rows();
    let header: Vec<Data> = rows.next().unwrap().to_vec();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == Data::String(name.into()))
            .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
    };
    assert!(
        !header.contains(&Data::String("居民电话".into())),
        "no personal data for a reviewer"
    );
    let rows: Vec<Vec<Data>> = rows.map(<[Data]>::to_vec).collect();
    // The street holds G1 and G2; the unregistered grid is outside the scope.
    let mut grids: Vec<&Data> = rows.iter().map(|r| &r[col("网格编码")]).collect();
    grids.sort_by_key(|d| d.to_string());
    assert_eq!(grids, [&Data::String(G2.into()), &Data::String(G1.into())]);
    let t1 = rows
        .iter()
        .find(|r| r[col("工单编号")] == Data::String(s.ticket_1.to_string()))
        .expect("ticket 1's id as a text cell");
    assert_eq!(t1[col("标题")], Data::String(TITLE_1.into()));
    assert_eq!(t1[col("社区")], Data::String("幸福社区".into()));
    assert_eq!(t1[col("类别编码")], Data::String("0102".into()));
    match &t1[col("上报时间")] {
        Data::DateTime(dt) => {
            let naive = dt.as_datetime().expect("a date");
            assert_eq!(naive.to_string(), "2025-01-06 10:00:00");
        }
        other => panic!("上报时间 is not a date cell: {other:?}"),
    }
    assert_eq!(t1[col("经度")], Data::Float(LON));

    let visits = book.worksheet_range("走访明细").unwrap();
    assert_eq!(visits.rows().count(), 2, "a header and the one visit");
    let meta = book.worksheet_range("说明").unwrap();
    let calendar = meta
        .rows()
        .find(|r| r[0] == Data::String("工作日历".into()))
        .expect("the calendar is named");
    assert!(matches!(&calendar[1], Data::String(c) if !c.is_empty()));
    s.server.stop().await.unwrap();
}

#[tokio::test]
async fn csv_tickets_have_a_bom_and_quoted_chinese_text_and_geojson_is_rfc_7946() {
    let s = Seeded::start().await;
    let a = s
        .get(
            &format!("format=csv&table=tickets&{PERIOD}"),
            Some(&s.tokens.reviewer),
        )
        .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(
        a.header("content-disposition"),
        Some("attachment; filename=\"gridsync-tickets_2025-01-01_2025-01-31.csv\"")
    );
    assert!(a.body.starts_with(b"\xEF\xBB\xBF"), "a UTF-8 BOM");
    let text = &a.text()[3..];
    assert!(text.starts_with("工单编号,"), "Chinese headers: {text}");
    assert!(
        text.contains("\"路灯不亮，东门, 居民称\"\"很危险\"\"\n请尽快处理\""),
        "the title is quoted with its quotes doubled: {text}"
    );
    assert!(text.contains("\"文三路 1 号, 东门\""), "{text}");
    // Read back, the field is whole.
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let titles: Vec<String> = reader
        .records()
        .map(|r| r.unwrap().get(10).unwrap().to_owned())
        .collect();
    assert!(titles.contains(&TITLE_1.to_owned()), "{titles:?}");

    let english = s
        .get(
            &format!("format=csv&table=tickets&lang=en&{PERIOD}"),
            Some(&s.tokens.reviewer),
        )
        .await;
    assert!(english.text()[3..].starts_with("Ticket id,"));

    let g = s
        .get(
            &format!("format=geojson&{PERIOD}"),
            Some(&s.tokens.reviewer),
        )
        .await;
    assert_eq!(g.status, 200);
    assert_eq!(g.header("content-type"), Some("application/geo+json"));
    let fc = g.json();
    assert_eq!(fc["type"], "FeatureCollection");
    assert!(fc.get("crs").is_none(), "RFC 7946 has no crs member");
    let features = fc["features"].as_array().unwrap();
    assert_eq!(features.len(), 2);
    for f in features {
        assert_eq!(f["type"], "Feature");
        assert!(f["properties"].is_object());
        assert_eq!(f["geometry"]["type"], "Point");
        let c = f["geometry"]["coordinates"].as_array().unwrap();
        assert_eq!(c.len(), 2, "[lon, lat] without altitude");
        assert_eq!(
            (c[0].as_f64().unwrap(), c[1].as_f64().unwrap()),
            (LON, LAT),
            "longitude first"
        );
    }
    s.server.stop().await.unwrap();
}

#[tokio::test]
async fn tokens_roles_and_scopes_decide_what_is_exported() {
    let s = Seeded::start().await;
    let json = format!("format=json&{PERIOD}");

    let none = s.get(&json, None).await;
    assert!(none.refused(401).contains("token is required"));
    assert_eq!(
        none.header("www-authenticate"),
        Some("Bearer realm=\"gridsync\"")
    );
    assert!(
        s.get(&json, Some("gs_wrong"))
            .await
            .refused(401)
            .contains("unknown or revoked")
    );
    let by_query = s
        .get(&format!("{json}&token={}", s.tokens.reviewer), None)
        .await;
    assert_eq!(by_query.status, 200, "?token= works too");

    let worker = s.get(&json, Some(&s.tokens.worker)).await;
    assert!(
        worker
            .refused(403)
            .contains("reviewers, supervisors and admins")
    );

    // A supervisor of one community gets only its grid.
    let sup = s.get(&json, Some(&s.tokens.supervisor)).await;
    assert_eq!(sup.status, 200);
    let export = sup.json();
    assert_eq!(ticket_rows(&export), [(G1.to_owned(), TITLE_1.to_owned())]);
    assert_eq!(export["visits"].as_array().unwrap().len(), 1);
    assert!(
        export["metadata"]["filter"]
            .as_str()
            .unwrap()
            .contains("幸福社区"),
        "the metadata names the scope: {}",
        export["metadata"]
    );
    let outside = s
        .get(&format!("{json}&grid={G2}"), Some(&s.tokens.supervisor))
        .await;
    assert!(
        outside
            .refused(403)
            .contains(&format!("grid {G2} is outside your scope"))
    );
    let other_community = s
        .get(
            &format!("{json}&community=和平社区"),
            Some(&s.tokens.supervisor),
        )
        .await;
    assert!(other_community.refused(403).contains("outside your scope"));
    let nowhere = s
        .get(
            &format!("{json}&community=无此社区"),
            Some(&s.tokens.reviewer),
        )
        .await;
    assert!(nowhere.refused(404).contains("no registered grid"));

    // A reviewer of the street narrows to one grid of it.
    let one = s
        .get(&format!("{json}&grid={G2}"), Some(&s.tokens.reviewer))
        .await;
    assert_eq!(
        ticket_rows(&one.json()),
        [(G2.to_owned(), TITLE_2.to_owned())]
    );

    // Bad parameters.
    let bad = s.get("format=pdf", Some(&s.tokens.reviewer)).await;
    assert!(bad.refused(400).contains("not an export format"));
    let typo = s.get("format=json&grids=X", Some(&s.tokens.reviewer)).await;
    assert!(typo.refused(400).contains("unknown parameter `grids`"));

    // A revoked token is refused.
    let store = s.server.store.upgrade().unwrap();
    let db = store.database();
    let registry = Registry::new(&db).unwrap();
    let li = registry
        .tokens()
        .unwrap()
        .into_iter()
        .find(|t| t.user == "li")
        .unwrap();
    registry.revoke_token(&li.id).unwrap();
    drop(store);
    assert!(
        s.get(&json, Some(&s.tokens.reviewer))
            .await
            .refused(401)
            .contains("revoked")
    );
    s.server.stop().await.unwrap();
}

#[tokio::test]
async fn personal_data_is_for_admins_only() {
    let s = Seeded::start().await;
    let personal = format!("format=csv&table=tickets&include_personal=true&{PERIOD}");
    let reviewer = s.get(&personal, Some(&s.tokens.reviewer)).await;
    assert!(reviewer.refused(403).contains("only an admin"));

    let plain = s
        .get(
            &format!("format=csv&table=tickets&{PERIOD}"),
            Some(&s.tokens.admin),
        )
        .await;
    assert_eq!(plain.status, 200);
    assert!(!plain.text().contains(PHONE), "no phone unless asked");
    assert!(!plain.text().contains("居民电话"));

    let admin = s.get(&personal, Some(&s.tokens.admin)).await;
    assert_eq!(admin.status, 200, "{}", admin.text());
    assert!(admin.text().contains("居民电话"));
    assert!(admin.text().contains(PHONE));
    assert!(admin.text().contains("张三"));

    // An admin's scope is everything: the unregistered grid too, as unknown.
    let all = s
        .get(&format!("format=json&{PERIOD}"), Some(&s.tokens.admin))
        .await;
    let export = all.json();
    let rows = ticket_rows(&export);
    assert_eq!(rows.len(), 3, "{rows:?}");
    let unknown = export["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["grid"] == G3)
        .unwrap();
    assert_eq!(unknown["community"], "未知");
    s.server.stop().await.unwrap();
}

fn run_cli(data: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_gridsync-server"))
        .arg("export")
        .arg("--data")
        .arg(data)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run gridsync-server")
}

#[tokio::test]
async fn the_export_command_writes_the_file_while_the_relay_runs() {
    let s = Seeded::start().await;
    let data = s.dir.path();
    let out = data.join("tickets.csv");
    let out_s = out.to_str().unwrap();
    let run = run_cli(
        data,
        &[
            "--format",
            "csv",
            "--table",
            "tickets",
            "--from",
            "2025-01-01",
            "--to",
            "2025-01-31",
            "--out",
            out_s,
        ],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("exported 3 tickets"), "{stderr}");
    let bytes = std::fs::read(&out).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    for title in [TITLE_2, TITLE_3] {
        assert!(text.contains(title), "{title} in {text}");
    }
    assert!(
        text.contains("未知"),
        "the unregistered grid reads as unknown"
    );
    assert!(!text.contains(PHONE));

    // Scoped to a community, as JSON on stdout, with personal data.
    let run = run_cli(
        data,
        &[
            "--format",
            "json",
            "--community",
            "幸福社区",
            "--from",
            "2025-01-01",
            "--to",
            "2025-01-31",
            "--include-personal",
            "--out",
            "-",
        ],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let export: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(ticket_rows(&export), [(G1.to_owned(), TITLE_1.to_owned())]);
    assert_eq!(export["tickets"][0]["resident_phone"], PHONE);

    // A workbook, in English, read back.
    let xlsx = data.join("report.xlsx");
    let run = run_cli(
        data,
        &[
            "--format",
            "xlsx",
            "--lang",
            "en",
            "--grid",
            G2,
            "--from",
            "2025-01-01",
            "--to",
            "2025-01-31",
            "--out",
            xlsx.to_str().unwrap(),
        ],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let mut book: Xlsx<_> = calamine::open_workbook(&xlsx).unwrap();
    let tickets = book.worksheet_range("Tickets").unwrap();
    assert_eq!(tickets.rows().count(), 2, "a header and G2's ticket");

    // Bad flags exit 2, a filter matching nothing exits 1; --out is untouched.
    let run = run_cli(data, &["--format", "xlsx", "--out", "-"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("binary file"));
    let run = run_cli(
        data,
        &["--format", "json", "--street", "无此街道", "--out", out_s],
    );
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("no registered grid"));
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    let run = run_cli(
        data,
        &[
            "--format",
            "json",
            "--from",
            "2025-02-01",
            "--to",
            "2025-01-01",
            "--out",
            out_s,
        ],
    );
    assert_eq!(run.status.code(), Some(2));
    let run = run_cli(&data.join("missing"), &["--format", "json", "--out", out_s]);
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("no relay database"));
    s.server.stop().await.unwrap();
}
