//! `GET /metrics`: what a real relay counts while devices sync, refuse and
//! export, read as Prometheus text, and who may read it (an admin's bearer
//! token, from loopback unless the relay is configured otherwise).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use support::TestServer;
use support::city::{City, code, config, ticket_in};
use support::http::{Answer, Request};

/// One page, checked line by line against the Prometheus text format
/// (0.0.4): `# HELP name text`, `# TYPE name kind` before a family's
/// samples, and samples `name{label="value",...} number` whose name is a
/// declared family (a histogram's with `_bucket`, `_sum` or `_count`).
/// Each histogram's buckets must be cumulative and end at `+Inf` with its
/// `_count`. Samples are keyed as written, `name{labels}`.
fn parse(page: &str) -> BTreeMap<String, f64> {
    fn is_name(s: &str) -> bool {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }
    let mut kinds: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = BTreeMap::new();
    assert!(page.ends_with('\n'), "the page ends with a line break");
    for line in page.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP has a name and a text");
            assert!(is_name(name) && !help.is_empty(), "{line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE has a name and a kind");
            assert!(is_name(name), "{line}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(
                kinds.insert(name.to_owned(), kind.to_owned()).is_none(),
                "one TYPE per family: {line}"
            );
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray line `{line}`"
        );
        let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("`{value}` is not a number: {line}"));
        let name = match series.split_once('{') {
            Some((name, labels)) => {
                let labels = labels.strip_suffix('}').expect("labels end with }");
                for pair in labels.split(',') {
                    let (key, quoted) = pair.split_once('=').expect("label=value");
                    assert!(is_name(key), "{line}");
                    assert!(
                        quoted.len() >= 2 && quoted.starts_with('"') && quoted.ends_with('"'),
                        "a quoted label value: {line}"
                    );
                }
                name
            }
            None => series,
        };
        assert!(is_name(name), "{line}");
        let family = kinds.contains_key(name).then_some(name).or_else(|| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .filter_map(|s| name.strip_suffix(s))
                .find(|f| kinds.get(*f).is_some_and(|k| k == "histogram"))
        });
        assert!(family.is_some(), "a sample of no declared family: {line}");
        assert!(
            samples.insert(series.to_owned(), value).is_none(),
            "a repeated series: {line}"
        );
    }
    for (name, _) in kinds.iter().filter(|(_, k)| *k == "histogram") {
        let buckets: Vec<(f64, f64)> = samples
            .iter()
            .filter_map(|(series, value)| {
                let le = series
                    .strip_prefix(&format!("{name}_bucket{{le=\""))?
                    .strip_suffix("\"}")?;
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap()
                };
                Some((le, *value))
            })
            .collect();
        let mut sorted = buckets.clone();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(
            sorted.windows(2).all(|w| w[0].1 <= w[1].1),
            "{name}: cumulative"
        );
        assert_eq!(sorted.last().map(|b| b.0), Some(f64::INFINITY), "{name}");
        assert_eq!(
            sorted.last().map(|b| b.1),
            samples.get(&format!("{name}_count")).copied(),
            "{name}: +Inf is the count"
        );
    }
    samples
}

async fn scrape(server: &TestServer, token: &str) -> BTreeMap<String, f64> {
    let answer = Request::get("/metrics")
        .bearer(token)
        .send(server.addr)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    parse(&answer.body)
}

fn get(page: &BTreeMap<String, f64>, series: &str) -> f64 {
    *page
        .get(series)
        .unwrap_or_else(|| panic!("{series} is not on the page: {page:#?}"))
}

/// A worker syncs two new tickets and tries one outside his scope, a
/// worker asks for a ticket of another grid, a request comes without a
/// token, and a reviewer exports: every one of these moves its counter,
/// and the page stays valid Prometheus text throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_a_refusal_and_an_export_move_the_counters() {
    let city = City::start(config()).await;
    let root = &city.tokens["root"];
    let before = scrape(&city.server, root).await;
    for name in [
        "gridsync_connections",
        "gridsync_hub_queue_inputs",
        "gridsync_hub_queue_bytes",
        "gridsync_documents_in_memory",
        "gridsync_storage_read_only",
        "gridsync_storage_errors_total{op=\"commit\"}",
        "gridsync_storage_errors_total{op=\"read\"}",
    ] {
        get(&before, name);
    }
    assert!(
        get(&before, "gridsync_documents_synced_total") >= 5.0,
        "the city's set-up synced tickets and indexes: {before:#?}"
    );

    // Two tickets and their grid's index, synced.
    let mut wang = city.join("wang", &["G-01", "G-02"]).await;
    for title in ["东门路灯", "西门井盖"] {
        let id = wang.device.report(&ticket_in("G-01", title), 5).unwrap();
        wang.try_push(&id.document_id()).await.unwrap();
    }
    wang.try_push(&code("G-01").index_document_id())
        .await
        .unwrap();
    // Held open while the page is read.
    let sun = city.join("sun", &["G-03"]).await;
    // A ticket in a grid outside wang's scope: refused, nothing stored.
    let outside = wang.device.report(&ticket_in("G-02", "越权"), 6).unwrap();
    assert!(wang.try_push(&outside.document_id()).await.is_err());
    // A ticket of G-01 asked for by G-02's worker: denied.
    assert!(!city.reads("li", city.t1.document_id()).await);
    // No token.
    let anonymous = Request::get("/api/me").send(city.server.addr).await;
    assert_eq!(anonymous.status, 401);
    // A reviewer's workbook.
    let export = Request::get("/api/export?format=xlsx&from=2025-01-01&to=2025-01-31")
        .bearer(&city.tokens["zhao"])
        .send(city.server.addr)
        .await;
    assert_eq!(export.status, 200, "{}", export.body);

    let after = scrape(&city.server, root).await;
    let moved = |series: &str| get(&after, series) - get(&before, series);
    assert!(
        moved("gridsync_documents_synced_total") >= 3.0,
        "two tickets and an index: {after:#?}"
    );
    assert!(moved("gridsync_commit_seconds_count") >= 3.0, "{after:#?}");
    assert!(moved("gridsync_commit_inputs_count") >= 3.0, "{after:#?}");
    assert!(moved("gridsync_commit_inputs_sum") >= moved("gridsync_commit_inputs_count"));
    assert_eq!(moved("gridsync_refusals_total{reason=\"change\"}"), 1.0);
    assert_eq!(moved("gridsync_refusals_total{reason=\"protocol\"}"), 0.0);
    assert!(moved("gridsync_denials_total{reason=\"document\"}") >= 1.0);
    assert_eq!(
        moved("gridsync_refusals_total{reason=\"unauthenticated\"}"),
        1.0
    );
    assert_eq!(moved("gridsync_exports_total{format=\"xlsx\"}"), 1.0);
    assert_eq!(moved("gridsync_exports_total{format=\"json\"}"), 0.0);
    assert_eq!(moved("gridsync_storage_errors_total{op=\"commit\"}"), 0.0);
    assert!(
        get(&after, "gridsync_connections") >= 1.0,
        "sun is connected"
    );
    assert_eq!(get(&after, "gridsync_storage_read_only"), 0.0);
    drop(sun);
}

async fn metrics_as(server: &TestServer, token: Option<&str>, from: IpAddr) -> Answer {
    let mut request = Request::get("/metrics").from(from);
    if let Some(token) = token {
        request = request.bearer(token);
    }
    request.send(server.addr).await
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A relay with the city's registry and no documents.
async fn relay(
    config: server::Config,
) -> (
    TestServer,
    BTreeMap<&'static str, String>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.redb");
    let tokens = support::city::registry(&path);
    (TestServer::start(&path, config).await, tokens, dir)
}

/// Without a token the page is 401; a worker's, a supervisor's or a
/// reviewer's token is 403; a token in the query is not taken; a request
/// relayed by a proxy is 403 even from loopback and with an admin's
/// token. Each refusal says what to do, and the 403s are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_admin_token_from_loopback_reads_the_metrics() {
    let (server, tokens, _dir) = relay(config()).await;
    let local = ip("127.0.0.1");

    let none = metrics_as(&server, None, local).await;
    assert_eq!(none.status, 401, "{}", none.body);
    assert!(
        none.json()["error"]
            .as_str()
            .unwrap()
            .contains("bearer token")
    );
    assert!(none.header("www-authenticate").is_some());

    for user in ["wang", "zhou", "zhao"] {
        let answer = metrics_as(&server, Some(&tokens[user]), local).await;
        assert_eq!(answer.status, 403, "{user}: {}", answer.body);
        assert_eq!(answer.reason(), "forbidden_role");
        let error = answer.json()["error"].as_str().unwrap().to_owned();
        assert!(error.contains("admins") && error.contains(user), "{error}");
    }

    let in_query = Request::get(&format!("/metrics?token={}", tokens["root"]))
        .send(server.addr)
        .await;
    assert_eq!(in_query.status, 401, "{}", in_query.body);

    let proxied = Request::get("/metrics")
        .bearer(&tokens["root"])
        .header("X-Forwarded-For", "203.0.113.7")
        .send(server.addr)
        .await;
    assert_eq!(proxied.status, 403, "{}", proxied.body);
    assert_eq!(proxied.reason(), "forbidden_address");
    assert!(proxied.json()["error"].as_str().unwrap().contains("proxy"));

    let page = scrape(&server, &tokens["root"]).await;
    assert_eq!(
        get(&page, "gridsync_denials_total{reason=\"metrics\"}"),
        4.0
    );
    assert_eq!(
        get(&page, "gridsync_refusals_total{reason=\"unauthenticated\"}"),
        2.0,
        "no token, and a token only in the query"
    );
}

/// `--metrics-from ADDR` replaces loopback by the addresses listed;
/// `--metrics-from-anywhere` takes any peer, proxied or not. The token is
/// still needed everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allowed_addresses_are_configured() {
    let listed = server::Config {
        metrics_from: server::MetricsFrom::Addresses(vec![ip("127.0.0.2")]),
        ..config()
    };
    let (server, tokens, _dir) = relay(listed).await;
    let root = Some(tokens["root"].as_str());
    let from_elsewhere = metrics_as(&server, root, ip("127.0.0.1")).await;
    assert_eq!(from_elsewhere.status, 403, "{}", from_elsewhere.body);
    assert_eq!(from_elsewhere.reason(), "forbidden_address");
    assert!(
        from_elsewhere.json()["error"]
            .as_str()
            .unwrap()
            .contains("127.0.0.2"),
        "{}",
        from_elsewhere.body
    );
    assert_eq!(metrics_as(&server, root, ip("127.0.0.2")).await.status, 200);
    let no_token = metrics_as(&server, None, ip("127.0.0.2")).await;
    assert_eq!(no_token.status, 401);
    server.stop().await.unwrap();

    let anywhere = server::Config {
        metrics_from: server::MetricsFrom::Anywhere,
        ..config()
    };
    let (server, tokens, _dir) = relay(anywhere).await;
    let proxied = Request::get("/metrics")
        .bearer(&tokens["root"])
        .header("X-Forwarded-For", "203.0.113.7")
        .send(server.addr)
        .await;
    assert_eq!(proxied.status, 200, "{}", proxied.body);
    let families: BTreeSet<&str> = proxied
        .body
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    for family in [
        "gridsync_connections",
        "gridsync_documents_synced_total",
        "gridsync_commit_seconds",
        "gridsync_commit_inputs",
        "gridsync_hub_queue_inputs",
        "gridsync_refusals_total",
        "gridsync_denials_total",
        "gridsync_storage_errors_total",
        "gridsync_exports_total",
    ] {
        assert!(families.contains(family), "{family}: {families:?}");
    }
    let worker = Request::get("/metrics")
        .bearer(&tokens["wang"])
        .send(server.addr)
        .await;
    assert_eq!(worker.status, 403);
}

/// A wrong password is an unauthenticated request like a bad token, and a
/// login past the brute-force limit is a rate-limited one: an operator
/// watching the refusals sees a password guesser.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_and_rate_limited_logins_are_counted() {
    let (server, tokens, _dir) = relay(server::Config {
        login_failure_refill: std::time::Duration::from_secs(600),
        ..config()
    })
    .await;
    server::registry::Registry::new(&server.database().database())
        .unwrap()
        .set_password("chen", "the right one")
        .unwrap();
    let before = scrape(&server, &tokens["root"]).await;
    let guesser = ip("127.0.0.6");
    let mut statuses = Vec::new();
    for i in 0..11 {
        let answer = Request::post("/api/login")
            .json(&serde_json::json!({ "user": "chen", "password": format!("guess {i}") }))
            .from(guesser)
            .send(server.addr)
            .await;
        statuses.push(answer.status);
    }
    assert_eq!(statuses[..10], [401; 10]);
    assert_eq!(statuses[10], 429);
    let after = scrape(&server, &tokens["root"]).await;
    let moved = |series: &str| get(&after, series) - get(&before, series);
    assert_eq!(
        moved("gridsync_refusals_total{reason=\"unauthenticated\"}"),
        10.0
    );
    assert_eq!(
        moved("gridsync_refusals_total{reason=\"rate_limited\"}"),
        1.0
    );
}
