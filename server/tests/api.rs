//! The records API against the real relay (`server::run` on loopback over
//! a real redb file), in the City: who sees which tickets, what one ticket
//! shows, filters and paging, and the OpenAPI document against the router.

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;

use client_core::device::EventInput;
use client_core::ids::TicketId;
use client_core::model::lifecycle::Action;
use serde_json::Value;
use support::PATIENCE;
use support::city::{City, USERS, config, ticket_in};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// One HTTP/1.1 request on its own connection: (status, JSON body or
/// `Value::Null` when the body is empty or not JSON).
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    timeout(PATIENCE, tcp.read_to_end(&mut response))
        .await
        .expect("an HTTP answer in time")
        .unwrap();
    let response = String::from_utf8(response).expect("UTF-8");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

impl City {
    async fn api(
        &self,
        user: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        http(
            self.server.addr,
            method,
            path,
            Some(&self.tokens[user]),
            body,
        )
        .await
    }

    async fn get_json(&self, user: &str, path: &str) -> (u16, Value) {
        self.api(user, "GET", path, None).await
    }

    /// The ids a user's list answers (all pages of `query`).
    async fn listed(&self, user: &str, query: &str) -> Vec<String> {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/tickets?{query}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let (status, page) = self.get_json(user, &path).await;
            assert_eq!(status, 200, "{user} {path}: {page}");
            for item in page["items"].as_array().unwrap() {
                ids.push(item["id"].as_str().unwrap().to_owned());
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return ids,
            }
        }
    }
}

fn set(ids: &[TicketId]) -> BTreeSet<String> {
    ids.iter().map(ToString::to_string).collect()
}

fn actions(detail: &Value) -> Vec<String> {
    detail["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap().to_owned())
        .collect()
}

/// The fixture's tickets each user may read, as sync decides: t1 (G-01,
/// dispatched to wuye), t2 (G-02), t3 (G-03, another street).
fn visible(city: &City) -> Vec<(&'static str, Vec<TicketId>)> {
    let (t1, t2, t3) = (city.t1, city.t2, city.t3);
    vec![
        ("wang", vec![t1]),
        ("liu", vec![t1]),
        ("li", vec![t2]),
        ("sun", vec![t3]),
        ("chen", vec![t1]),
        ("zhou", vec![t1, t2]),
        ("wuye", vec![t1]),
        ("shuiwu", vec![]),
        ("zhao", vec![t1, t2, t3]),
        ("root", vec![t1, t2, t3]),
    ]
}

/// Each role sees exactly what sync would let it see: a worker its grid,
/// a supervisor its community or street, a unit the tickets dispatched to
/// it, a reviewer its district, an admin everything; a ticket outside the
/// scope is 404, exactly like a missing one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_and_tickets_are_scoped_like_sync() {
    let city = City::start(config()).await;
    let (t1, t2, t3) = (city.t1, city.t2, city.t3);
    let expect = visible(&city);
    assert_eq!(expect.len(), USERS.len());
    for (user, visible) in &expect {
        let listed: BTreeSet<String> = city.listed(user, "").await.into_iter().collect();
        assert_eq!(listed, set(visible), "{user}'s list");
        for t in [t1, t2, t3] {
            let (status, body) = city.get_json(user, &format!("/api/tickets/{t}")).await;
            let want = if visible.contains(&t) { 200 } else { 404 };
            assert_eq!(status, want, "{user} GET {t}: {body}");
            if want == 404 {
                assert_eq!(body["reason"], "not_found");
            }
            // What sync says agrees.
            assert_eq!(
                city.reads(user, t.document_id()).await,
                visible.contains(&t),
                "{user} syncing {t}"
            );
        }
    }
    let (status, body) = city
        .get_json("wang", &format!("/api/tickets/{}", TicketId::random()))
        .await;
    assert_eq!((status, body["reason"].as_str()), (404, Some("not_found")));
    let (status, body) = http(city.server.addr, "GET", "/api/tickets", None, None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["reason"], "unauthorized");
    let (status, body) = city.get_json("wang", "/api/tickets?grid=G-02").await;
    assert_eq!(status, 403, "a grid outside the scope: {body}");
}

/// One ticket whole: the fold's status, every event with actor and role,
/// and the actions this caller may take next from the lifecycle table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_ticket_shows_its_events_and_the_callers_next_actions() {
    let city = City::start(config()).await;
    let (status, d) = city
        .get_json("wuye", &format!("/api/tickets/{}", city.t1))
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["ticket"]["status"], "dispatched");
    assert_eq!(d["summary"]["status"], "dispatched");
    assert_eq!(d["ticket"]["unit"], "wuye");
    assert_eq!(d["ticket"]["created_by"], "wang");
    let events: Vec<(String, String, String, bool)> = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
                e["role"].as_str().unwrap().to_owned(),
                e["applied"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("reported".into(), "wang".into(), "worker".into(), true),
            ("accepted".into(), "zhou".into(), "supervisor".into(), true),
            (
                "dispatched".into(),
                "zhou".into(),
                "supervisor".into(),
                true
            ),
        ]
    );
    // The fixture's deadline, 1,000,000 ms after the epoch, at +08:00.
    assert_eq!(d["events"][2]["due_at"], "1970-01-01T08:16:40+08:00");
    assert_eq!(d["summary"]["overdue"], true);
    assert!(d["conflicts"].as_array().unwrap().is_empty());

    // The unit acknowledges or returns (a return needs a note).
    assert_eq!(actions(&d), ["acknowledged", "returned"]);
    assert_eq!(d["actions"][1]["needs"], serde_json::json!(["note"]));
    // A supervisor in scope closes or suspends a dispatched ticket, and
    // urges it, since it is overdue.
    for supervisor in ["zhou", "chen"] {
        let (_, d) = city
            .get_json(supervisor, &format!("/api/tickets/{}", city.t1))
            .await;
        assert_eq!(
            actions(&d),
            ["closed", "suspended", "urged"],
            "{supervisor}"
        );
    }
    // The worker, the reviewer and the admin have nothing to do here.
    for user in ["wang", "zhao", "root"] {
        let (_, d) = city
            .get_json(user, &format!("/api/tickets/{}", city.t1))
            .await;
        assert!(actions(&d).is_empty(), "{user}: {d}");
    }
    // Residents' details are not the reviewer's.
    let (_, d) = city
        .get_json("zhao", &format!("/api/tickets/{}", city.t1))
        .await;
    assert!(d["ticket"].get("resident").is_none(), "{d}");
    // A reported ticket: the supervisor accepts, or declares it invalid
    // with a note; it has no deadline, so it is not offered for urging,
    // and an urging is refused.
    let (_, d) = city
        .get_json("zhou", &format!("/api/tickets/{}", city.t2))
        .await;
    assert_eq!(
        actions(&d),
        ["accepted", "invalid", "closed", "suspended"],
        "{d}"
    );
    assert_eq!(d["actions"][1]["needs"], serde_json::json!(["note"]));
    let urge = serde_json::json!({ "action": "urged", "note": "请尽快" });
    let (status, body) = city
        .api(
            "zhou",
            "POST",
            &format!("/api/tickets/{}/actions", city.t2),
            Some(&urge),
        )
        .await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (409, Some("not_nearly_due")),
        "{body}"
    );
    assert!(
        body["error"].as_str().unwrap().contains("no deadline yet"),
        "{body}"
    );
}

/// Filters, text search, sorting and cursor paging over the summary
/// index, and a conflict made by two offline supervisors, explained.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_sort_and_pages() {
    let city = City::start(config()).await;
    // Ten more tickets in G-01, reported at known times (2025-01-0N, +08:00).
    let mut wang = city.join("wang", &["G-01"]).await;
    let day = |n: i64| 1_735_660_800_000 + n * 86_400_000; // 2025-01-01T00:00+08:00
    let mut made = Vec::new();
    for n in 1..=10 {
        let mut t = ticket_in("G-01", &format!("井盖 {n}"));
        if n % 2 == 0 {
            t.title = format!("路灯 {n}");
            t.category = "0105".into();
        }
        let id = wang.device.report(&t, day(n) + 3_600_000).unwrap();
        wang.try_push(&id.document_id()).await.unwrap();
        made.push(id);
    }
    wang.try_push(&support::city::code("G-01").index_document_id())
        .await
        .unwrap();

    // Paging through chen's list, 3 at a time, newest change first, gives
    // every ticket once.
    let paged = city.listed("chen", "limit=3").await;
    let mut want: Vec<String> = made.iter().rev().map(ToString::to_string).collect();
    want.push(city.t1.to_string()); // changed at t=3 ms
    assert_eq!(paged, want);
    let (_, first) = city.get_json("chen", "/api/tickets?limit=3").await;
    assert_eq!(first["items"].as_array().unwrap().len(), 3);
    assert!(first["next_cursor"].is_string());
    let (status, body) = city
        .get_json("chen", "/api/tickets?cursor=garbage&limit=3")
        .await;
    assert_eq!(status, 400, "{body}");

    // Sorted by report, oldest last; by deadline, the one with a deadline
    // first.
    let by_report = city.listed("chen", "sort=reported").await;
    assert_eq!(by_report, want);
    let by_due = city.listed("chen", "sort=due&limit=4").await;
    assert_eq!(by_due[0], city.t1.to_string());
    assert_eq!(by_due.len(), 11);

    // Status, text, category, period, overdue.
    let reported = city.listed("chen", "status=reported").await;
    assert_eq!(reported.len(), 10);
    let both = city.listed("chen", "status=reported,dispatched").await;
    assert_eq!(both.len(), 11);
    let repeated = city
        .listed("chen", "status=reported&status=dispatched")
        .await;
    assert_eq!(repeated.len(), 11);
    let lights = city.listed("chen", "q=%E8%B7%AF%E7%81%AF").await; // 路灯
    assert_eq!(
        lights.len(),
        5 + 1,
        "five lamps and the fixture's G-01 路灯"
    );
    assert_eq!(city.listed("chen", "q=0105").await.len(), 5);
    let id = made[3].to_string();
    assert_eq!(city.listed("chen", &format!("q={}", &id[..10])).await, [id]);
    let jan_3_to_5 = city.listed("chen", "from=2025-01-03&to=2025-01-05").await;
    let want: BTreeSet<String> = made[1..4].iter().map(ToString::to_string).collect();
    assert_eq!(jan_3_to_5.into_iter().collect::<BTreeSet<_>>(), want);
    assert_eq!(
        city.listed("chen", "overdue=true").await,
        [city.t1.to_string()]
    );
    assert_eq!(
        city.listed("chen", "unit=wuye").await,
        [city.t1.to_string()]
    );
    assert_eq!(
        city.listed("zhou", "community=%E5%92%8C%E5%B9%B3%E7%A4%BE%E5%8C%BA")
            .await, // 和平社区
        [city.t2.to_string()]
    );
    assert_eq!(
        city.listed("zhou", "street=%E5%8F%A4%E8%8D%A1%E8%A1%97%E9%81%93")
            .await
            .len(),
        0
    ); // 古荡街道
    let (status, body) = city.get_json("chen", "/api/tickets?status=done").await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (400, Some("bad_request"))
    );

    // Two supervisors accept the same ticket offline: one applies, the
    // other is a conflict, listed and explained.
    let contested = made[0];
    let mut chen = city.join("chen", &["G-01"]).await;
    let mut zhou = city.join("zhou", &["G-01", "G-02"]).await;
    assert!(chen.fetch(&contested.document_id()).await);
    assert!(zhou.fetch(&contested.document_id()).await);
    chen.device
        .act(contested, Action::Accepted, EventInput::default(), day(20))
        .unwrap();
    zhou.device
        .act(
            contested,
            Action::Accepted,
            EventInput::default(),
            day(20) + 1,
        )
        .unwrap();
    chen.try_push(&contested.document_id()).await.unwrap();
    zhou.try_push(&contested.document_id()).await.unwrap();
    assert_eq!(
        city.listed("chen", "conflict=true").await,
        [contested.to_string()]
    );
    let (_, d) = city
        .get_json("chen", &format!("/api/tickets/{contested}"))
        .await;
    assert_eq!(d["ticket"]["status"], "accepted");
    let conflicts = d["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{d}");
    assert_eq!(conflicts[0]["action"], "accepted");
    assert_eq!(conflicts[0]["role"], "supervisor");
    assert_eq!(conflicts[0]["detail"]["kind"], "concurrent");
    assert!(
        conflicts[0]["reason"]
            .as_str()
            .unwrap()
            .contains("concurrent change"),
        "{d}"
    );
    let applied: Vec<bool> = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["applied"].as_bool().unwrap())
        .collect();
    assert_eq!(applied.iter().filter(|a| !**a).count(), 1);

    // The queues count the same tickets.
    let (status, q) = city.get_json("chen", "/api/queues").await;
    assert_eq!(status, 200, "{q}");
    assert_eq!(q["to_accept"], 9);
    assert_eq!(q["to_dispatch"], 1);
    assert_eq!(q["overdue"], 1);
    assert_eq!(q["conflicts"], 1);
    let (_, q) = city.get_json("zhou", "/api/queues").await;
    assert_eq!(q["to_accept"], 10, "G-02's ticket too: {q}");
    let (_, q) = city.get_json("shuiwu", "/api/queues").await;
    assert_eq!(q["overdue"], 0, "not the unit's ticket: {q}");
}

/// 即将超期 is a filter of the relay's, not the console's: the console
/// once listed open tickets by deadline, 200 of them, and dropped the
/// overdue ones itself, so with 200 overdue tickets (they sort first) the
/// queue showed nothing while its card counted N. `due_soon=true` lists
/// exactly what `/api/queues` counts as due soon, page by page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_soon_lists_what_its_queue_counts() {
    let city = City::start(config()).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let hour = 3_600_000;
    // A 12345 transfer zhou records, accepts and dispatches due at `due`.
    let mut zhou = city.join("zhou", &["G-01", "G-02"]).await;
    let dispatched = |title: String, due: i64| {
        let mut t = ticket_in("G-01", &title);
        t.source = client_core::model::ticket::Source::Hotline;
        let id = zhou.device.report(&t, now - 48 * hour).unwrap();
        zhou.device
            .act(id, Action::Accepted, EventInput::default(), now - 47 * hour)
            .unwrap();
        let dispatch = EventInput {
            unit: Some("wuye".into()),
            due_at: Some(due),
            ..EventInput::default()
        };
        zhou.device
            .act(id, Action::Dispatched, dispatch, now - 46 * hour)
            .unwrap();
        id
    };
    let overdue: Vec<TicketId> = (1..=6)
        .map(|n| dispatched(format!("超期 {n}"), now - n * hour))
        .collect();
    // Due in 5, 3 and 1 hours: soonest first.
    let soon: Vec<TicketId> = [5, 3, 1]
        .into_iter()
        .map(|n| dispatched(format!("即将 {n}"), now + n * hour))
        .collect();
    let later = dispatched("下周".into(), now + 7 * 24 * hour);
    let mut all = overdue.clone();
    all.extend(&soon);
    all.push(later);
    for id in &all {
        zhou.try_push(&id.document_id()).await.unwrap();
    }
    zhou.try_push(&support::city::code("G-01").index_document_id())
        .await
        .unwrap();

    let listed = city.listed("chen", "due_soon=true&sort=due&limit=2").await;
    let want: Vec<String> = soon.iter().rev().map(ToString::to_string).collect();
    assert_eq!(
        listed, want,
        "the three due soon, soonest first, over two pages"
    );
    let (_, q) = city.get_json("chen", "/api/queues").await;
    assert_eq!(q["due_soon"], 3, "{q}");
    assert_eq!(q["overdue"], 7, "six and the fixture's t1: {q}");
    assert_eq!(city.listed("chen", "overdue=true").await.len(), 7);
    // What the console did: the first page of open tickets by deadline
    // holds no ticket due soon at all.
    let (_, page) = city
        .get_json("chen", "/api/tickets?status=dispatched&sort=due&limit=7")
        .await;
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["overdue"] == true)
    );
    // Both filters at once: nothing is overdue and due soon.
    assert!(
        city.listed("chen", "due_soon=true&overdue=true")
            .await
            .is_empty()
    );
    // A unit sees only its own, the same way.
    assert_eq!(city.listed("wuye", "due_soon=true").await.len(), 3);
    assert!(city.listed("shuiwu", "due_soon=true").await.is_empty());
    let (status, body) = city.get_json("chen", "/api/tickets?due_soon=maybe").await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (400, Some("bad_request"))
    );
}

/// Every operation the OpenAPI document describes is served by the
/// router (not a 404 or 405 of an unknown route), a method it does not
/// describe on a described path is not (405), and every route is
/// described: `server::API_ROUTES` is what the router builds every `/api`
/// route from. The login, logout, me, tokens and export routes were once
/// added beside it, so neither described nor compared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_matches_the_routes() {
    let city = City::start(config()).await;
    let (status, doc) = http(city.server.addr, "GET", "/api/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let mut described = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            described.insert((method.clone(), path.clone()));
            let concrete = path.replace("{id}", &city.t1.to_string());
            if concrete == "/api/events" {
                let stream = Events::open(city.server.addr, &city.tokens["root"]).await;
                assert_eq!(stream.status, 200);
                continue;
            }
            let (status, body) = city
                .api(
                    "root",
                    &method.to_uppercase(),
                    &concrete,
                    Some(&serde_json::json!({})),
                )
                .await;
            assert_ne!(status, 405, "{method} {path} is not routed");
            assert!(
                status != 404 || body.get("reason").is_some(),
                "{method} {path} is not routed: {status} {body}"
            );
        }
    }
    let routed: BTreeSet<(String, String)> = server::API_ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(described, routed);
    for (method, path) in [
        ("post", "/api/login"),
        ("post", "/api/logout"),
        ("get", "/api/me"),
        ("post", "/api/tokens"),
        ("get", "/api/export"),
    ] {
        assert!(
            described.contains(&(method.to_owned(), path.to_owned())),
            "{method} {path} is not described"
        );
    }
    // No method the document leaves out is served on its paths (HEAD
    // comes with GET).
    let paths: BTreeSet<&String> = described.iter().map(|(_, p)| p).collect();
    for path in paths {
        let concrete = path
            .replace("{id}", &city.t1.to_string())
            .replace("{hash}", &"0".repeat(64));
        for method in ["get", "post", "put", "patch", "delete", "options", "head"] {
            let has = |m: &str| described.contains(&(m.to_owned(), path.clone()));
            if has(method) || (method == "head" && has("get")) || concrete == "/api/events" {
                continue;
            }
            let (status, body) = city
                .api("root", &method.to_uppercase(), &concrete, None)
                .await;
            assert_eq!(
                status, 405,
                "{method} {path} is served but not described: {body}"
            );
        }
    }
    // A path the router does not serve is a bare 404.
    let (status, body) = city.get_json("root", "/api/nothing-here").await;
    assert_eq!((status, body), (404, Value::Null));
}

fn action(name: &str) -> Value {
    serde_json::json!({ "action": name })
}

/// Who may act on which ticket: a role the lifecycle does not let take an
/// action is 403, a ticket outside the scope is 404 (as for reading), a
/// reviewer or an admin changes nothing, and an action the lifecycle
/// forbids now is 409 with the lifecycle's reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_are_scoped_and_checked_against_the_lifecycle() {
    let city = City::start(config()).await;
    let t1 = format!("/api/tickets/{}/actions", city.t1); // G-01, dispatched to wuye
    let t2 = format!("/api/tickets/{}/actions", city.t2); // G-02, reported
    let t3 = format!("/api/tickets/{}/actions", city.t3); // G-03, reported
    let cases: &[(&str, &str, &str, u16, &str)] = &[
        ("li", &t2, "accepted", 403, "forbidden_role"), // a worker does not accept
        ("zhao", &t2, "accepted", 403, "forbidden"),    // a reviewer changes nothing
        ("root", &t2, "accepted", 403, "forbidden_role"), // not a lifecycle actor
        ("chen", &t2, "accepted", 404, "not_found"),    // another community
        ("zhou", &t3, "accepted", 404, "not_found"),    // another street
        ("wuye", &t2, "acknowledged", 404, "not_found"), // not dispatched to it
        ("shuiwu", &t1, "acknowledged", 404, "not_found"), // another unit's
        ("wuye", &t1, "accepted", 403, "forbidden_role"),
        ("zhou", &t1, "accepted", 409, "wrong_state"), // already dispatched
        ("zhou", &t2, "invalid", 409, "missing_field"), // needs a reason
        ("zhou", &t2, "dispatched", 409, "wrong_state"), // not accepted yet
        ("zhou", &t2, "flown", 400, "bad_request"),
    ];
    for (user, path, name, status, reason) in cases {
        let (got, body) = city.api(user, "POST", path, Some(&action(name))).await;
        assert_eq!(
            (got, body["reason"].as_str()),
            (*status, Some(*reason)),
            "{user} {name} on {path}: {body}"
        );
    }
    let (_, refused) = city
        .api("zhou", "POST", &t1, Some(&action("accepted")))
        .await;
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("not allowed while the ticket is `dispatched`"),
        "{refused}"
    );
    // Nothing above changed anything.
    let (_, d) = city
        .get_json("zhou", &format!("/api/tickets/{}", city.t2))
        .await;
    assert_eq!(d["events"].as_array().unwrap().len(), 1, "{d}");

    // What is allowed goes through, as the caller.
    let (status, d) = city
        .api("wuye", "POST", &t1, Some(&action("acknowledged")))
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["ticket"]["status"], "acknowledged");
    let last = d["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["actor"].as_str(), last["role"].as_str()),
        (Some("wuye"), Some("unit"))
    );
    assert_eq!(
        actions(&d),
        ["returned", "in_progress", "extension_requested"]
    );
    let body = serde_json::json!({ "action": "invalid", "note": "重复上报" });
    let (status, d) = city.api("zhou", "POST", &t2, Some(&body)).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["ticket"]["status"], "invalid");
    assert_eq!(d["events"][1]["note"], "重复上报");

    // Comments: by anyone who works the ticket, not by a reviewer.
    let c1 = format!("/api/tickets/{}/comments", city.t1);
    let text = serde_json::json!({ "text": "已到现场" });
    let (status, d) = city.api("wang", "POST", &c1, Some(&text)).await;
    assert_eq!(status, 201, "{d}");
    assert_eq!(d["comments"][0]["author"], "wang");
    assert_eq!(d["comments"][0]["text"], "已到现场");
    assert_eq!(city.api("zhao", "POST", &c1, Some(&text)).await.0, 403);
    assert_eq!(city.api("shuiwu", "POST", &c1, Some(&text)).await.0, 404);
    let blank = serde_json::json!({ "text": " " });
    assert_eq!(city.api("wang", "POST", &c1, Some(&blank)).await.0, 400);
}

/// The lifecycle's ends through the API, each step's answer holding the
/// fold and every event: verified → closed (resolved) → rated → reopened;
/// suspended → resumed (back where it was); and closed as a duplicate of
/// another ticket. Until this test only the steps up to verified had been
/// taken through the API; the rest were only offered as `actions`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_close_rate_reopen_suspend_resume_and_close_as_duplicates() {
    let city = City::start(config()).await;
    let step = |user: &'static str, id: String, body: Value| {
        let city = &city;
        async move {
            let path = format!("/api/tickets/{id}/actions");
            let (status, d) = city.api(user, "POST", &path, Some(&body)).await;
            assert_eq!(status, 200, "{user} {body}: {d}");
            // The answer is what a read shows.
            let (_, read) = city.get_json(user, &format!("/api/tickets/{id}")).await;
            assert_eq!(read["ticket"], d["ticket"]);
            assert_eq!(read["summary"]["status"], d["ticket"]["status"]);
            d
        }
    };
    // Every event's action, all applied.
    let events = |d: &Value| -> Vec<String> {
        d["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                assert_eq!(e["applied"], true, "{e}");
                e["action"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    let new = |grid: &str, title: &str| {
        serde_json::json!({
            "grid": grid, "kind": "event", "source": "hotline", "category": "1301",
            "urgency": "normal", "title": title,
        })
    };

    // A 12345 transfer (施工扰民: no photo after the work needed) through
    // to its end and back.
    let (status, d) = city
        .api(
            "zhou",
            "POST",
            "/api/tickets",
            Some(&new("G-01", "夜间施工噪音")),
        )
        .await;
    assert_eq!(status, 201, "{d}");
    let a = d["ticket"]["id"].as_str().unwrap().to_owned();
    step("zhou", a.clone(), action("accepted")).await;
    let dispatch = serde_json::json!({ "action": "dispatched", "unit": "wuye" });
    step("zhou", a.clone(), dispatch).await;
    for next in ["acknowledged", "in_progress", "handled"] {
        step("wuye", a.clone(), action(next)).await;
    }
    let d = step("zhou", a.clone(), action("verified")).await;
    assert_eq!(d["ticket"]["status"], "verified");
    assert!(actions(&d).contains(&"closed".to_owned()), "{d}");

    let d = step("zhou", a.clone(), action("closed")).await;
    assert_eq!(d["ticket"]["status"], "closed");
    assert_eq!(
        d["ticket"]["close_reason"],
        serde_json::json!({ "kind": "resolved" })
    );
    assert!(d["ticket"]["closed_at"].is_string(), "{d}");
    assert_eq!(d["summary"]["overdue"], false);
    assert_eq!(actions(&d), ["reopened", "rated"]);
    let last = d["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        last["close_reason"],
        serde_json::json!({ "kind": "resolved" })
    );

    // A rating needs its value, and one that is not a rating is bad input.
    let path = format!("/api/tickets/{a}/actions");
    let (status, body) = city
        .api("zhou", "POST", &path, Some(&action("rated")))
        .await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (409, Some("missing_field")),
        "{body}"
    );
    let rated = serde_json::json!({ "action": "rated", "rating": "delighted" });
    assert_eq!(city.api("zhou", "POST", &path, Some(&rated)).await.0, 400);
    let rated = serde_json::json!({ "action": "rated", "rating": "basic" });
    let d = step("zhou", a.clone(), rated).await;
    assert_eq!(
        (
            d["ticket"]["status"].as_str(),
            d["ticket"]["rating"].as_str()
        ),
        (Some("closed"), Some("basic"))
    );
    assert_eq!(
        d["events"].as_array().unwrap().last().unwrap()["rating"],
        "basic"
    );

    let d = step("zhou", a.clone(), action("reopened")).await;
    assert_eq!(
        d["ticket"]["status"], "accepted",
        "reopened is accepted again"
    );
    assert_eq!(d["ticket"]["rating"], Value::Null);
    assert_eq!(d["ticket"]["close_reason"], Value::Null);
    assert_eq!(d["ticket"]["closed_at"], Value::Null);
    assert_eq!(d["ticket"]["unit"], "wuye", "the unit it had");
    assert_eq!(
        events(&d),
        [
            "reported",
            "accepted",
            "dispatched",
            "acknowledged",
            "in_progress",
            "handled",
            "verified",
            "closed",
            "rated",
            "reopened",
        ]
    );
    assert_eq!(actions(&d)[0], "dispatched");

    // The fixture's G-02 ticket: accepted, dispatched, suspended (挂账) and
    // resumed where it was.
    let b = city.t2.to_string();
    step("zhou", b.clone(), action("accepted")).await;
    let dispatch = serde_json::json!({ "action": "dispatched", "unit": "shuiwu" });
    step("zhou", b.clone(), dispatch).await;
    let d = step("zhou", b.clone(), action("suspended")).await;
    assert_eq!(d["ticket"]["status"], "suspended");
    assert_eq!(d["summary"]["status"], "suspended");
    assert!(actions(&d).contains(&"resumed".to_owned()), "{d}");
    assert!(
        !actions(&d).contains(&"suspended".to_owned()),
        "not twice: {d}"
    );
    // The unit cannot work a suspended ticket.
    let path = format!("/api/tickets/{b}/actions");
    let (status, body) = city
        .api("shuiwu", "POST", &path, Some(&action("acknowledged")))
        .await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (409, Some("wrong_state")),
        "{body}"
    );
    let d = step("zhou", b.clone(), action("resumed")).await;
    assert_eq!(d["ticket"]["status"], "dispatched", "back where it was");
    assert_eq!(d["ticket"]["unit"], "shuiwu");
    assert_eq!(
        events(&d),
        ["reported", "accepted", "dispatched", "suspended", "resumed"]
    );
    step("shuiwu", b.clone(), action("acknowledged")).await;

    // The same complaint again: closed as a duplicate of the first.
    let (status, d) = city
        .api(
            "zhou",
            "POST",
            "/api/tickets",
            Some(&new("G-02", "再次反映同一问题")),
        )
        .await;
    assert_eq!(status, 201, "{d}");
    let c = d["ticket"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/tickets/{c}/actions");
    let bad = serde_json::json!({ "action": "closed", "duplicate_of": "not-an-id" });
    let (status, body) = city.api("zhou", "POST", &path, Some(&bad)).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (400, Some("bad_request")),
        "{body}"
    );
    let duplicate = serde_json::json!({ "action": "closed", "duplicate_of": b });
    let d = step("zhou", c.clone(), duplicate).await;
    let reason = serde_json::json!({ "kind": "duplicate", "of": b });
    assert_eq!(d["ticket"]["status"], "closed");
    assert_eq!(d["ticket"]["close_reason"], reason);
    assert_eq!(d["events"][1]["close_reason"], reason);
    assert_eq!(events(&d), ["reported", "closed"]);
    // A close from an open state other than verified, without an
    // original, is a cancellation.
    let (status, d) = city
        .api("zhou", "POST", "/api/tickets", Some(&new("G-02", "误报")))
        .await;
    assert_eq!(status, 201, "{d}");
    let e = d["ticket"]["id"].as_str().unwrap().to_owned();
    let d = step("zhou", e, action("closed")).await;
    assert_eq!(
        d["ticket"]["close_reason"],
        serde_json::json!({ "kind": "cancelled" })
    );

    // The queues and lists count them by their fold.
    let closed = city.listed("zhou", "status=closed").await;
    assert_eq!(
        closed.len(),
        2,
        "the duplicate and the cancelled: {closed:?}"
    );
    assert!(closed.contains(&c));
    let (_, q) = city.get_json("zhou", "/api/queues").await;
    assert_eq!(q["to_dispatch"], 1, "the reopened one: {q}");
}

/// A ticket recorded through the API (a 12345 transfer entered by a
/// supervisor) is the caller's, in the caller's scope only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_are_created_as_the_caller_in_its_scope() {
    let city = City::start(config()).await;
    let body = |grid: &str| {
        serde_json::json!({
            "grid": grid, "kind": "livelihood", "source": "hotline", "category": "0301",
            "urgency": "urgent", "title": "12345 转办：噪音扰民", "description": "夜间施工",
            "location": { "lat": 30.27, "lon": 120.13, "address": "文三路 1 号" },
        })
    };
    let (status, d) = city
        .api("zhou", "POST", "/api/tickets", Some(&body("G-02")))
        .await;
    assert_eq!(status, 201, "{d}");
    assert_eq!(d["ticket"]["created_by"], "zhou");
    assert_eq!(d["ticket"]["source"], "hotline");
    assert_eq!(d["ticket"]["location"]["address"], "文三路 1 号");
    assert_eq!(d["events"][0]["role"], "supervisor");
    assert_eq!(actions(&d)[..2], ["accepted", "invalid"]);
    let id = d["ticket"]["id"].as_str().unwrap().to_owned();
    assert!(city.listed("li", "").await.contains(&id), "listed in G-02");
    // The grid's index lists it: a device of the grid finds it.
    let mut li = city.join("li", &["G-02"]).await;
    li.sync_all().await;
    assert!(li.titles().contains(&"12345 转办：噪音扰民".to_owned()));

    for (user, grid, status) in [
        ("li", "G-02", 201),
        ("wang", "G-02", 403), // not the worker's grid
        ("chen", "G-02", 403), // not the supervisor's community
        ("zhao", "G-01", 403), // reviewers write nothing
        ("wuye", "G-01", 403), // units do not report
        ("root", "G-01", 403), // not a lifecycle actor
    ] {
        let (got, d) = city
            .api(user, "POST", "/api/tickets", Some(&body(grid)))
            .await;
        assert_eq!(got, status, "{user} in {grid}: {d}");
    }
    let mut bad = body("G-02");
    bad["kind"] = "unknown".into();
    assert_eq!(
        city.api("zhou", "POST", "/api/tickets", Some(&bad)).await.0,
        400
    );
}

/// `POST /api/tickets` takes a client-chosen id so that a retry records
/// the ticket once. It once answered a request naming an *existing*
/// ticket's id with that ticket, title, description, events and all,
/// whoever asked: a worker had only to name one of its own grids in the
/// body to read any ticket in the city. Now an existing id the caller may
/// not read is 404, exactly like an unknown ticket; one it may read but did
/// not report is 409; its reporter's retry is answered with the ticket, as
/// before, and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_ticket_under_an_existing_id_shows_it_only_to_its_reporter() {
    let city = City::start(config()).await;
    let body = |id: TicketId, grid: &str| {
        serde_json::json!({
            "id": id.to_string(), "grid": grid, "kind": "event", "source": "patrol",
            "category": "0201", "urgency": "normal", "title": "探测",
        })
    };
    // What any request about a ticket that does not exist gets.
    let nowhere = TicketId::random();
    let (status, missing) = city
        .api(
            "wang",
            "POST",
            &format!("/api/tickets/{nowhere}/comments"),
            Some(&serde_json::json!({ "text": "?" })),
        )
        .await;
    assert_eq!(
        (status, missing["reason"].as_str()),
        (404, Some("not_found")),
        "{missing}"
    );
    for (user, id, grid) in [
        ("wang", city.t2, "G-01"),   // a worker of another grid (t2 is G-02's)
        ("li", city.t3, "G-02"),     // and of another street
        ("chen", city.t2, "G-01"),   // a supervisor of another community
        ("wuye", city.t2, "G-01"),   // a unit, t2 is not dispatched to it
        ("shuiwu", city.t1, "G-01"), // a unit, t1 is dispatched to wuye
    ] {
        let (status, d) = city
            .api(user, "POST", "/api/tickets", Some(&body(id, grid)))
            .await;
        let like_missing = missing
            .to_string()
            .replace(&nowhere.to_string(), &id.to_string());
        assert_eq!(
            (status, d.to_string()),
            (404, like_missing),
            "{user} naming {id}: answered like a missing ticket"
        );
    }
    // In scope but someone else's report: not a retry of the caller's.
    for (user, id) in [("liu", city.t1), ("wuye", city.t1), ("zhou", city.t2)] {
        let grid = if id == city.t1 { "G-01" } else { "G-02" };
        let (status, d) = city
            .api(user, "POST", "/api/tickets", Some(&body(id, grid)))
            .await;
        assert_eq!(
            (status, d["reason"].as_str()),
            (409, Some("id_taken")),
            "{user}: {d}"
        );
        assert!(
            d["error"].as_str().unwrap().contains("leave out `id`"),
            "{d}"
        );
    }
    // The reporter's retry is answered with its ticket, and writes nothing.
    let (status, d) = city
        .api("li", "POST", "/api/tickets", Some(&body(city.t2, "G-02")))
        .await;
    assert_eq!(status, 201, "{d}");
    assert_eq!(d["ticket"]["id"], city.t2.to_string());
    assert_eq!(
        d["ticket"]["title"], "G-02 路灯",
        "the stored ticket, not the body"
    );
    assert_eq!(d["events"].as_array().unwrap().len(), 1);
    // Nothing above was written.
    for t in [city.t1, city.t2, city.t3] {
        let (_, d) = city.get_json("root", &format!("/api/tickets/{t}")).await;
        assert_ne!(d["ticket"]["title"], "探测");
    }
    let api_rows = city
        .audit(&server::audit::AuditFilter::default())
        .into_iter()
        .filter(|r| r.peer.as_deref() == Some("records-api"))
        .count();
    assert_eq!(api_rows, 0);
}

/// The path: a supervisor dispatches in the console, and the
/// worker's device gets the ticket dispatched, with the deadline the
/// working calendar gives, on its next sync; the change is the
/// supervisor's (its actor is registered to the supervisor) and audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_dispatch_reaches_a_device_on_its_next_sync() {
    let city = City::start(config()).await;
    let mut li = city.join("li", &["G-02"]).await;
    li.sync_all().await;
    let path = format!("/api/tickets/{}/actions", city.t2);
    let (status, d) = city
        .api("zhou", "POST", &path, Some(&action("accepted")))
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(
        d["actions"][0],
        serde_json::json!({ "action": "dispatched", "needs": ["unit"], "optional": ["note", "due_at"] })
    );
    let dispatch = serde_json::json!({ "action": "dispatched", "unit": "shuiwu" });
    let (status, d) = city.api("zhou", "POST", &path, Some(&dispatch)).await;
    assert_eq!(status, 200, "{d}");

    // The connected device is subscribed: the relay offers it at once.
    while li.device.ticket(city.t2).unwrap().state.unit.is_none() {
        li.receive_one().await;
    }
    li.close().await;
    // A device that syncs later gets it like any change.
    let mut li = city.join("li", &["G-02"]).await;
    li.sync_all().await;
    let t = li.device.ticket(city.t2).unwrap();
    assert_eq!(
        t.status(),
        client_core::model::lifecycle::Status::Dispatched
    );
    assert_eq!(t.state.unit.as_deref(), Some("shuiwu"));
    let ev = t.events.last().unwrap().as_ref().unwrap();
    assert_eq!(
        (ev.actor.as_str(), ev.role),
        ("zhou", client_core::model::lifecycle::Role::Supervisor)
    );
    // The fixture's category (0201, 停车场) has five working days in the
    // relay's default catalog.
    let due = client_core::device::dispatch_deadline(
        Some(&server::catalog::default_catalog()),
        &t.category,
        client_core::model::ticket::Urgency::Normal,
        None,
        ev.at_device,
    )
    .due_at;
    assert_eq!(
        t.state.due_at,
        Some(due),
        "the category's limit on the working calendar"
    );
    assert!(due > ev.at_device + 24 * 3_600_000);
    assert_eq!(d["ticket"]["due_at"].as_str(), support_iso(due).as_deref());

    // The change's actor is zhou's in the relay's actors table.
    let doc = li
        .device
        .repo()
        .load(&city.t2.document_id())
        .unwrap()
        .unwrap();
    let change = doc.get_changes(&[]).last().unwrap().clone();
    let actor = change.actor_id().to_bytes().to_vec();
    let db = city.server.database().database();
    let owner = {
        use redb::{ReadableDatabase, TableDefinition};
        let table: TableDefinition<&[u8], &[u8]> = TableDefinition::new(server::ACTORS_TABLE);
        let tx = db.begin_read().unwrap();
        let t = tx.open_table(table).unwrap();
        t.get(actor.as_slice())
            .unwrap()
            .map(|v| String::from_utf8(v.value().to_vec()).unwrap())
    };
    assert_eq!(owner.as_deref(), Some("zhou"));
    // A device of another user cannot send changes under it: the unit,
    // who may change the dispatched ticket, tries.
    let mut shuiwu = city.join("shuiwu", &["G-02"]).await;
    assert!(shuiwu.fetch(&city.t2.document_id()).await);
    let mut copy = shuiwu
        .device
        .repo()
        .load(&city.t2.document_id())
        .unwrap()
        .unwrap();
    copy.set_actor(change.actor_id().clone());
    {
        use automerge::transaction::Transactable;
        let mut tx = copy.transaction();
        tx.put(automerge::ROOT, "title", "forged").unwrap();
        tx.commit();
    }
    let forged = shuiwu
        .device
        .repo()
        .changes_since(
            &city.t2.document_id(),
            &copy,
            &shuiwu
                .device
                .repo()
                .load(&city.t2.document_id())
                .unwrap()
                .unwrap()
                .get_heads(),
        )
        .unwrap();
    shuiwu.device.repo().commit(forged).unwrap();
    let refused = shuiwu.try_push(&city.t2.document_id()).await.unwrap_err();
    assert!(refused.contains("forged actor"), "{refused}");

    let rows = city.audit(&server::audit::AuditFilter {
        user: Some("zhou".into()),
        doc: Some(city.t2.document_id().to_string()),
        ..Default::default()
    });
    let api_rows: Vec<_> = rows
        .iter()
        .filter(|r| r.peer.as_deref() == Some("records-api"))
        .collect();
    assert_eq!(api_rows.len(), 2, "{rows:?}");
    assert_eq!(api_rows[1].grid.as_deref(), Some("G-02"));
}

fn support_iso(ms: i64) -> Option<String> {
    use chrono::TimeZone;
    chrono::FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false))
}

/// While the relay's store refuses commits (a full disk), an API write is
/// 503 with the reason and changes nothing; reads are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_while_the_store_refuses_commits_is_503() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.redb");
    let tokens = support::city::registry(&path);
    let store = std::sync::Arc::new(client_core::store::RedbStore::open(&path).unwrap());
    let disk = std::sync::Arc::new(client_core::store::FaultyStore::new(store.clone()));
    let server = support::TestServer::start_over(store, disk.clone(), config()).await;
    let mut wang = support::SyncClient::join_as(
        &server,
        support::city::identity("wang", &["G-01"]),
        Some(&tokens["wang"]),
    )
    .await;
    let id = wang.device.report(&ticket_in("G-01", "路灯"), 1).unwrap();
    wang.try_push(&id.document_id()).await.unwrap();

    disk.fill_disk();
    let path = format!("/api/tickets/{id}/comments");
    let text = serde_json::json!({ "text": "已到现场" });
    for attempt in ["the failing commit", "while read-only"] {
        let (status, body) = http(
            server.addr,
            "POST",
            &path,
            Some(&tokens["wang"]),
            Some(&text),
        )
        .await;
        assert_eq!(status, 503, "{attempt}: {body}");
        assert_eq!(body["reason"], "read_only");
        assert!(
            body["error"].as_str().unwrap().contains("disk is full"),
            "{body}"
        );
    }
    let (status, d) = http(
        server.addr,
        "GET",
        &format!("/api/tickets/{id}"),
        Some(&tokens["wang"]),
        None,
    )
    .await;
    assert_eq!(status, 200, "reads are served: {d}");
    assert!(d["comments"].as_array().unwrap().is_empty());
    assert_eq!(server.get("/healthz").await.0, 503);
}

/// A `GET /api/events` stream read off a raw socket (HTTP/1.1 chunked).
struct Events {
    status: u16,
    tcp: TcpStream,
    /// Decoded body bytes not yet taken as events.
    text: String,
    /// Raw bytes not yet decoded.
    raw: Vec<u8>,
}

impl Events {
    async fn open(addr: SocketAddr, token: &str) -> Self {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET /api/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        let end = loop {
            if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let mut buf = [0u8; 4096];
            let n = timeout(PATIENCE, tcp.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "the stream closed before its headers");
            raw.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        assert!(
            status != 200 || head.to_lowercase().contains("text/event-stream"),
            "{head}"
        );
        let raw = raw[end + 4..].to_vec();
        Self {
            status,
            tcp,
            text: String::new(),
            raw,
        }
    }

    /// Decodes the complete chunks in `raw` into `text`.
    fn decode(&mut self) {
        loop {
            let Some(line_end) = self.raw.windows(2).position(|w| w == b"\r\n") else {
                return;
            };
            let size =
                usize::from_str_radix(String::from_utf8_lossy(&self.raw[..line_end]).trim(), 16)
                    .expect("a chunk size");
            let start = line_end + 2;
            if self.raw.len() < start + size + 2 {
                return;
            }
            self.text
                .push_str(&String::from_utf8_lossy(&self.raw[start..start + size]));
            self.raw.drain(..start + size + 2);
        }
    }

    /// The next event or comment block (lines up to a blank line).
    async fn next_block(&mut self) -> String {
        loop {
            self.decode();
            if let Some(i) = self.text.find("\n\n") {
                let block = self.text[..i].to_owned();
                self.text.drain(..i + 2);
                return block;
            }
            let mut buf = [0u8; 4096];
            let n = timeout(PATIENCE, self.tcp.read(&mut buf))
                .await
                .expect("an event in time")
                .unwrap();
            assert!(n > 0, "the stream ended");
            self.raw.extend_from_slice(&buf[..n]);
        }
    }

    /// Whether no `ticket` event arrives for `d` (keep-alive comments may).
    /// The wait can only miss a stray event, never invent one.
    async fn quiet_for(&mut self, d: std::time::Duration) -> bool {
        let until = tokio::time::Instant::now() + d;
        loop {
            self.decode();
            if self.text.contains("event: ticket") {
                return false;
            }
            let mut buf = [0u8; 4096];
            match tokio::time::timeout_at(until, self.tcp.read(&mut buf)).await {
                Err(_) => return true,
                Ok(read) => {
                    let n = read.unwrap();
                    assert!(n > 0, "the stream ended");
                    self.raw.extend_from_slice(&buf[..n]);
                }
            }
        }
    }

    /// The next `ticket` event's data (skipping comments).
    async fn next_ticket(&mut self) -> Value {
        loop {
            let block = self.next_block().await;
            if block.starts_with(':') {
                continue;
            }
            assert!(block.contains("event: ticket"), "{block}");
            let data = block
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .expect("a data line");
            return serde_json::from_str(data).unwrap();
        }
    }
}

/// The console updates live: when a device syncs a new ticket, every
/// stream whose caller may see it gets its summary, and no other; an API
/// write shows up the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synced_ticket_arrives_on_the_event_streams_in_scope() {
    let city = City::start(config()).await;
    let mut chen = Events::open(city.server.addr, &city.tokens["chen"]).await;
    let mut li = Events::open(city.server.addr, &city.tokens["li"]).await;
    assert_eq!((chen.status, li.status), (200, 200));
    // Subscribed once the stream's first comment arrives.
    assert_eq!(chen.next_block().await, ": subscribed");
    assert_eq!(li.next_block().await, ": subscribed");

    let mut wang = city.join("wang", &["G-01"]).await;
    let g1 = wang
        .device
        .report(&ticket_in("G-01", "井盖缺失"), 10)
        .unwrap();
    wang.sync_all().await;
    let event = chen.next_ticket().await;
    assert_eq!(event["id"], g1.to_string(), "t1 is {}: {event}", city.t1);
    assert_eq!(event["status"], "reported");
    assert_eq!(event["title"], "井盖缺失");

    let mut li_device = city.join("li", &["G-02"]).await;
    let g2 = li_device
        .device
        .report(&ticket_in("G-02", "路面破损"), 11)
        .unwrap();
    li_device.sync_all().await;
    // li's stream skipped the G-01 ticket: its first is its own grid's.
    assert_eq!(li.next_ticket().await["id"], g2.to_string());

    let accept = serde_json::json!({ "action": "accepted" });
    let (status, _) = city
        .api(
            "chen",
            "POST",
            &format!("/api/tickets/{g1}/actions"),
            Some(&accept),
        )
        .await;
    assert_eq!(status, 200);
    // chen's stream skipped the G-02 ticket: next is its own, accepted.
    let event = chen.next_ticket().await;
    assert_eq!(
        (event["id"].as_str(), event["status"].as_str()),
        (Some(g1.to_string().as_str()), Some("accepted"))
    );

    let unauthenticated = http(city.server.addr, "GET", "/api/events", None, None).await;
    assert_eq!(unauthenticated.0, 401);

    // Open streams end when the relay shuts down; they do not hold it up.
    drop((wang, li_device));
    city.server.stop().await.unwrap();
    let mut rest = Vec::new();
    let ended = timeout(PATIENCE, chen.tcp.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "the stream ended with the relay");
}

/// Who gets what from the routes a console lives on, user by user over the
/// whole city (the per-route tests pick a few users each):
///
/// - `GET /api/queues`: every role is answered, counting only its scope;
/// - `POST /api/tickets/{id}/comments` on each fixture ticket: 201 where
///   the user may change the ticket, 403 for the reviewer, who reads all
///   three, and 404 wherever the user may not read it, exactly as for a
///   missing ticket;
/// - `GET /api/events`: every role's stream carries each of those
///   comments' tickets that it may read, in order, and nothing else;
/// - `GET /api/visits`: each role gets the visits of the grids it may read
///   visit logs of (never units'), and 403 for a grid outside its scope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_role_route_matrix_of_queues_comments_events_and_visits() {
    use client_core::ids::VisitId;
    use client_core::model::visit::{Outcome, Visit, VisitType};
    let city = City::start(config()).await;
    let (t1, t2, t3) = (city.t1, city.t2, city.t3);
    let visible: std::collections::BTreeMap<&str, Vec<TicketId>> =
        visible(&city).into_iter().collect();

    // Queues on the fixture: t1 dispatched and past its deadline, t2 and
    // t3 reported. (to_accept, to_dispatch, overdue) per user.
    let queues: &[(&str, (u64, u64, u64))] = &[
        ("wang", (0, 0, 1)),
        ("liu", (0, 0, 1)),
        ("li", (1, 0, 0)),
        ("sun", (1, 0, 0)),
        ("chen", (0, 0, 1)),
        ("zhou", (1, 0, 1)),
        ("wuye", (0, 0, 1)),
        ("shuiwu", (0, 0, 0)),
        ("zhao", (2, 0, 1)),
        ("root", (2, 0, 1)),
    ];
    assert_eq!(queues.len(), USERS.len());
    for (user, (accept, dispatch, overdue)) in queues {
        let (status, q) = city.get_json(user, "/api/queues").await;
        assert_eq!(status, 200, "{user}: {q}");
        let got = (
            q["to_accept"].as_u64().unwrap(),
            q["to_dispatch"].as_u64().unwrap(),
            q["overdue"].as_u64().unwrap(),
        );
        assert_eq!(got, (*accept, *dispatch, *overdue), "{user}'s queues: {q}");
    }

    // Everyone's stream, open before anything changes.
    let mut streams = Vec::new();
    for (user, _, _) in USERS {
        let mut stream = Events::open(city.server.addr, &city.tokens[user]).await;
        assert_eq!(stream.status, 200, "{user}");
        assert_eq!(stream.next_block().await, ": subscribed");
        streams.push((*user, stream));
    }

    // Comments: each user on each ticket, in this order.
    let comments: &[(&str, [u16; 3])] = &[
        ("wang", [201, 404, 404]),
        ("liu", [201, 404, 404]),
        ("li", [404, 201, 404]),
        ("sun", [404, 404, 201]),
        ("chen", [201, 404, 404]),
        ("zhou", [201, 201, 404]),
        ("wuye", [201, 404, 404]), // t1 is dispatched to it
        ("shuiwu", [404, 404, 404]),
        ("zhao", [403, 403, 403]), // reviewers write nothing
        ("root", [201, 201, 201]), // a comment is not a lifecycle action
    ];
    assert_eq!(comments.len(), USERS.len());
    let mut changed = Vec::new();
    for (user, want) in comments {
        for (t, want) in [t1, t2, t3].into_iter().zip(want) {
            let path = format!("/api/tickets/{t}/comments");
            let text = serde_json::json!({ "text": format!("{user} 到此") });
            let (status, body) = city.api(user, "POST", &path, Some(&text)).await;
            assert_eq!(status, *want, "{user} commenting on {t}: {body}");
            // A ticket one may not see is not told from a missing one.
            assert_eq!(
                status == 404,
                !visible[user].contains(&t),
                "{user} on {t}: {body}"
            );
            if status == 201 {
                assert_eq!(
                    body["comments"].as_array().unwrap().last().unwrap()["author"],
                    *user
                );
                changed.push(t);
            }
        }
    }
    // Each stream: the changed tickets it may read, in order, then nothing.
    for (user, stream) in &mut streams {
        let want: Vec<String> = changed
            .iter()
            .filter(|t| visible[*user].contains(t))
            .map(ToString::to_string)
            .collect();
        let mut got = Vec::new();
        for _ in &want {
            got.push(
                stream.next_ticket().await["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        assert_eq!(got, want, "{user}'s stream");
        assert!(
            stream
                .quiet_for(std::time::Duration::from_millis(300))
                .await,
            "{user}'s stream carried a ticket it may not read"
        );
    }
    drop(streams);

    // Visits: one in G-01 by wang, one in G-03 by sun, on 2025-01-06.
    let at = 1_735_660_800_000 + 5 * 86_400_000 + 10 * 3_600_000;
    for (user, grid, household) in [("wang", "G-01", "3-2-501"), ("sun", "G-03", "7-1-202")] {
        let mut device = city.join(user, &[grid]).await;
        let v = Visit {
            id: VisitId::random(),
            visit_type: VisitType::Household,
            grid: support::city::code(grid),
            household: Some(household.into()),
            worker: user.into(),
            started_at: at,
            ended_at: Some(at + 3_600_000),
            lat: None,
            lon: None,
            outcome: Outcome::Met,
            notes: "独居老人".into(),
            tickets: vec![],
            amends: None,
        };
        device.device.add_visit(&v, "2025-01-06").unwrap();
        device.sync_all().await;
    }
    let period = "from=2025-01-01&to=2025-01-31";
    // (visits in the whole scope, status and visits for grid=G-01).
    let visits: &[(&str, usize, u16, usize)] = &[
        ("wang", 1, 200, 1),
        ("liu", 1, 200, 1),
        ("li", 0, 403, 0),
        ("sun", 1, 403, 0),
        ("chen", 1, 200, 1),
        ("zhou", 1, 200, 1),
        ("wuye", 0, 200, 0), // in its street, but units read no visit log
        ("shuiwu", 0, 200, 0),
        ("zhao", 2, 200, 1),
        ("root", 2, 200, 1),
    ];
    assert_eq!(visits.len(), USERS.len());
    for (user, all, status, in_g01) in visits {
        let (got, body) = city.get_json(user, &format!("/api/visits?{period}")).await;
        assert_eq!(got, 200, "{user}: {body}");
        assert_eq!(
            body["items"].as_array().unwrap().len(),
            *all,
            "{user}: {body}"
        );
        let (got, body) = city
            .get_json(user, &format!("/api/visits?{period}&grid=G-01"))
            .await;
        assert_eq!(got, *status, "{user} G-01: {body}");
        if got == 200 {
            assert_eq!(
                body["items"].as_array().unwrap().len(),
                *in_g01,
                "{user} G-01: {body}"
            );
        }
    }
}

/// `GET /api/export` as JSON: (status, body).
async fn export_json(city: &City, user: &str, query: &str) -> (u16, Value) {
    city.get_json(user, &format!("/api/export?format=json&{query}"))
        .await
}

/// A relay upgraded from one whose ticket summaries carry no figure
/// record gives the figures it gave before: each such ticket is read from
/// its document once, when its grid enters the records API's index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_of_an_upgraded_relay_read_old_summaries_from_their_documents() {
    let city = City::start(config()).await;
    for body in [
        serde_json::json!({ "action": "accepted" }),
        serde_json::json!({ "action": "dispatched", "unit": "shuiwu" }),
    ] {
        let path = format!("/api/tickets/{}/actions", city.t2);
        let (status, d) = city.api("zhou", "POST", &path, Some(&body)).await;
        assert_eq!(status, 200, "{d}");
    }
    let today = support_iso(chrono::Utc::now().timestamp_millis()).unwrap()[..10].to_owned();
    let query = format!("/api/figures?from=1970-01-01&to={today}");
    let (status, mut before) = city.get_json("zhao", &query).await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(
        before["summary_by_grid"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()["reported"],
        3
    );

    // What a relay before figure records stored: the same summaries without them.
    let city = city
        .restart(|path| {
            use client_core::store::{Batch, RedbStore, Store};
            let store = RedbStore::open(path).unwrap();
            let mut batch = Batch::new();
            for doc in store.documents().unwrap() {
                if let Some(mut s) = store.summary(&doc).unwrap() {
                    assert!(s.figures.take().is_some());
                    batch.put_summary(s);
                }
            }
            store.write(batch).unwrap();
        })
        .await;
    let stored = city.server.database();
    let stored = client_core::store::Store::summary(&*stored, &city.t2.document_id());
    assert_eq!(stored.unwrap().unwrap().figures, None);

    let (status, mut after) = city.get_json("zhao", &query).await;
    assert_eq!(status, 200, "{after}");
    before["metadata"]["as_of"] = Value::Null;
    after["metadata"]["as_of"] = Value::Null;
    assert_eq!(after, before);
}

/// The figures are the export's: the same definitions and numbers for
/// the same data and scope, without the rows; for reviewers, supervisors
/// and admins only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_equal_the_exports() {
    let city = City::start(config()).await;
    // Some history: t2 accepted, dispatched and handled by the unit; t3
    // declared invalid.
    let act = |t: TicketId, body: Value| {
        let city = &city;
        async move {
            let user = body["as"].as_str().unwrap().to_owned();
            let mut body = body;
            body.as_object_mut().unwrap().remove("as");
            let (status, d) = city
                .api(
                    &user,
                    "POST",
                    &format!("/api/tickets/{t}/actions"),
                    Some(&body),
                )
                .await;
            assert_eq!(status, 200, "{d}");
        }
    };
    act(
        city.t2,
        serde_json::json!({ "as": "zhou", "action": "accepted" }),
    )
    .await;
    act(
        city.t2,
        serde_json::json!({ "as": "zhou", "action": "dispatched", "unit": "shuiwu" }),
    )
    .await;
    act(
        city.t2,
        serde_json::json!({ "as": "shuiwu", "action": "acknowledged" }),
    )
    .await;
    act(
        city.t2,
        serde_json::json!({ "as": "shuiwu", "action": "in_progress" }),
    )
    .await;
    // The category (0201) needs a photo after the work before `handled`.
    let mut shuiwu = city.join("shuiwu", &["G-02"]).await;
    assert!(shuiwu.fetch(&city.t2.document_id()).await);
    shuiwu
        .device
        .add_photo(city.t2, &sha256_hex(b"after"), "after", 30)
        .unwrap();
    shuiwu.try_push(&city.t2.document_id()).await.unwrap();
    act(
        city.t2,
        serde_json::json!({ "as": "shuiwu", "action": "handled" }),
    )
    .await;

    // t1, dispatched to wuye and long overdue, is urged.
    act(
        city.t1,
        serde_json::json!({ "as": "zhou", "action": "urged", "note": "请今日处理" }),
    )
    .await;

    let today = support_iso(chrono::Utc::now().timestamp_millis()).unwrap()[..10].to_owned();
    for (user, query) in [
        ("zhao", format!("from=1970-01-01&to={today}")),
        ("zhou", format!("from=1970-01-01&to={today}")),
        (
            "zhao",
            format!("from=1970-01-01&to={today}&street=%E6%96%87%E4%B8%89%E8%A1%97%E9%81%93"),
        ), // 文三街道
        ("root", format!("from=1970-01-01&to={today}&grid=G-02")),
        ("zhao", "from=1970-01-01&to=1970-01-01".to_owned()),
    ] {
        let (status, figures) = city.get_json(user, &format!("/api/figures?{query}")).await;
        assert_eq!(status, 200, "{user} {query}: {figures}");
        let (status, mut export) = export_json(&city, user, &query).await;
        assert_eq!(status, 200, "{export}");
        let rows = export.as_object_mut().unwrap();
        assert!(rows.remove("tickets").is_some() && rows.remove("visits").is_some());
        // `as_of` is each request's own instant.
        let mut figures = figures;
        figures["metadata"]["as_of"] = Value::Null;
        export["metadata"]["as_of"] = Value::Null;
        assert_eq!(figures, export, "{user} {query}");
    }
    let (_, f) = city
        .get_json("zhao", &format!("/api/figures?from=1970-01-01&to={today}"))
        .await;
    let total = f["summary_by_grid"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(total["reported"], 3, "{f}");
    assert_eq!(total["handled"], 1, "{f}");
    // Per handling unit: wuye's urging, shuiwu's handling, and t3 held by
    // no unit; then the total.
    let units: Vec<(String, u64, u64, u64)> = f["summary_by_unit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let n = |k: &str| r[k].as_u64().unwrap_or_else(|| panic!("{k} in {r}"));
            let unit = r["unit"].as_str().unwrap().to_owned();
            (unit, n("tickets"), n("urged"), n("handled"))
        })
        .collect();
    assert_eq!(
        units,
        [
            ("shuiwu".to_owned(), 1, 0, 1),
            ("wuye".to_owned(), 1, 1, 0),
            ("未派遣".to_owned(), 1, 0, 0),
            ("合计".to_owned(), 3, 1, 1),
        ],
        "{f}"
    );

    for (user, status) in [("wang", 403), ("wuye", 403), ("chen", 200), ("root", 200)] {
        assert_eq!(
            city.get_json(user, "/api/figures").await.0,
            status,
            "{user}"
        );
    }
    let (status, body) = city
        .get_json(
            "chen",
            "/api/figures?street=%E5%8F%A4%E8%8D%A1%E8%A1%97%E9%81%93",
        ) // 古荡街道
        .await;
    assert_eq!(status, 403, "{body}");
    // A reviewer reads figures and changes nothing.
    let (status, body) = city
        .api(
            "zhao",
            "POST",
            &format!("/api/tickets/{}/actions", city.t2),
            Some(&action("verified")),
        )
        .await;
    assert_eq!(status, 403, "{body}");
}

/// Visits by grid and period, as the policy lets each role read visit
/// logs (units read none; reviewers get no notes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visits_by_grid_and_period() {
    use client_core::ids::VisitId;
    use client_core::model::visit::{Outcome, Visit, VisitType};
    let city = City::start(config()).await;
    let mut wang = city.join("wang", &["G-01"]).await;
    let jan = |d: i64, h: i64| 1_735_660_800_000 + (d - 1) * 86_400_000 + h * 3_600_000;
    for (day, household) in [(6, "3-2-501"), (20, "1-1-101")] {
        let v = Visit {
            id: VisitId::random(),
            visit_type: VisitType::Household,
            grid: support::city::code("G-01"),
            household: Some(household.into()),
            worker: "wang".into(),
            started_at: jan(day, 10),
            ended_at: Some(jan(day, 11)),
            lat: None,
            lon: None,
            outcome: Outcome::Met,
            notes: "独居老人".into(),
            tickets: vec![],
            amends: None,
        };
        wang.device
            .add_visit(&v, &format!("2025-01-{day:02}"))
            .unwrap();
    }
    wang.sync_all().await;
    let households = |body: &Value| -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["household"].as_str().unwrap().to_owned())
            .collect()
    };
    let q = "/api/visits?from=2025-01-01&to=2025-01-31";
    for (user, want) in [
        ("wang", vec!["3-2-501", "1-1-101"]),
        ("zhou", vec!["3-2-501", "1-1-101"]),
        ("li", vec![]),
        ("wuye", vec![]),
    ] {
        let (status, body) = city.get_json(user, q).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(households(&body), want, "{user}");
    }
    let (_, body) = city
        .get_json("zhou", "/api/visits?from=2025-01-01&to=2025-01-10")
        .await;
    assert_eq!(households(&body), ["3-2-501"]);
    assert_eq!(body["items"][0]["started_at"], "2025-01-06T10:00:00+08:00");
    assert_eq!(body["items"][0]["notes"], "独居老人");
    let (_, body) = city.get_json("zhao", q).await;
    assert_eq!(households(&body).len(), 2);
    assert!(body["items"][0].get("notes").is_none(), "{body}");
    assert_eq!(city.get_json("li", "/api/visits?grid=G-01").await.0, 403);
}

/// The admin's lists; tokens by id, never a hash or a token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_lists_are_for_admins() {
    let city = City::start(config()).await;
    let (status, users) = city.get_json("root", "/api/admin/users").await;
    assert_eq!(status, 200, "{users}");
    assert_eq!(users["items"].as_array().unwrap().len(), USERS.len());
    let (_, grids) = city.get_json("root", "/api/admin/grids").await;
    assert_eq!(grids["items"][0]["community"], "幸福社区");
    let (_, tokens) = city.get_json("root", "/api/admin/tokens").await;
    let text = tokens.to_string();
    assert_eq!(tokens["items"].as_array().unwrap().len(), USERS.len());
    for token in city.tokens.values() {
        assert!(!text.contains(token.as_str()), "a token leaked");
        let hash = server::registry::token_hash(token);
        assert!(!text.contains(&hash), "a token hash leaked");
    }
    let (status, audit) = city.get_json("root", "/api/admin/audit?limit=2").await;
    assert_eq!(status, 200, "{audit}");
    let rows = audit["items"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    // Newest first: zhou's dispatch of t1 is the fixture's last change.
    assert_eq!(rows[0]["user"], "zhou", "{audit}");
    assert!(rows[0]["at"].as_str().unwrap().ends_with("+08:00"));
    assert_eq!(
        city.get_json("root", "/api/admin/audit?limit=0").await.0,
        400
    );
    for path in [
        "/api/admin/users",
        "/api/admin/grids",
        "/api/admin/tokens",
        "/api/admin/audit",
    ] {
        for user in ["zhou", "zhao", "wang", "wuye"] {
            assert_eq!(city.get_json(user, path).await.0, 403, "{user} {path}");
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `handled` on a ticket whose category requires a photo after the work
/// (the default catalog's 0201 停车场 does) and that lists no `after`
/// photo is 409 `after_photos_required`, saying how to attach one, and
/// changes nothing. The detail lists each photo with its phase, who added
/// it, whether the relay holds it yet and where it is served; the list's
/// summary carries the hashes (the OpenAPI `Summary.photos`). With an
/// after photo listed, `handled` goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handled_needs_an_after_photo_and_the_detail_lists_the_photos() {
    use base64::Engine as _;
    use support::http::Request;

    let city = City::start(config()).await;
    let t1 = format!("/api/tickets/{}/actions", city.t1); // dispatched to wuye
    let one = format!("/api/tickets/{}", city.t1);
    for name in ["acknowledged", "in_progress"] {
        let (status, d) = city.api("wuye", "POST", &t1, Some(&action(name))).await;
        assert_eq!(status, 200, "{d}");
    }
    let (status, refused) = city
        .api("wuye", "POST", &t1, Some(&action("handled")))
        .await;
    assert_eq!(
        (status, refused["reason"].as_str()),
        (409, Some("after_photos_required")),
        "{refused}"
    );
    let told = refused["error"].as_str().unwrap();
    assert!(
        told.contains(&format!(
            "gridsync ticket photo add {} FILE --phase after",
            city.t1
        )),
        "{told}"
    );
    let (_, d) = city.get_json("zhou", &one).await;
    assert_eq!(d["ticket"]["status"], "in_progress", "{d}");
    assert_eq!(d["ticket"]["photos"], serde_json::json!([]));

    // The unit's device lists a photo after the work; its bytes are not on
    // the relay yet.
    let photo = b"\xff\xd8\xff\xe0 the rubbish is gone".to_vec();
    let hash = sha256_hex(&photo);
    let mut wuye = city.join("wuye", &["G-01"]).await;
    assert!(wuye.fetch(&city.t1.document_id()).await);
    wuye.device.add_photo(city.t1, &hash, "after", 20).unwrap();
    wuye.try_push(&city.t1.document_id()).await.unwrap();

    let (_, d) = city.get_json("zhou", &one).await;
    let listed = &d["ticket"]["photos"][0];
    assert_eq!(listed["hash"], hash.as_str(), "{d}");
    assert_eq!(listed["phase"], "after");
    assert_eq!(listed["added_by"], "wuye");
    assert!(listed["at"].is_string(), "{listed}");
    assert_eq!(listed["uploaded"], false);
    assert_eq!(listed["url"], format!("/api/blobs/{hash}").as_str());
    assert_eq!(
        listed["thumb_url"],
        format!("/api/blobs/{hash}?size=thumb").as_str()
    );
    let (_, page) = city.get_json("zhou", "/api/tickets").await;
    let item = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == city.t1.to_string().as_str())
        .expect("t1 is listed");
    assert_eq!(item["photos"], serde_json::json!([hash]));
    let (_, page) = city.get_json("zhou", "/api/tickets?q=G-02").await;
    for item in page["items"].as_array().unwrap() {
        assert!(
            item["photos"].is_array(),
            "every summary has photos: {item}"
        );
    }

    // Uploaded (tus): the detail says so.
    let meta = base64::engine::general_purpose::STANDARD.encode(&hash);
    let created = Request::post("/api/blobs")
        .bearer(&city.tokens["wuye"])
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", &photo.len().to_string())
        .header("Upload-Metadata", &format!("sha256 {meta}"))
        .send(city.server.addr)
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let sent = Request::new("PATCH", &format!("/api/blobs/{hash}"))
        .bearer(&city.tokens["wuye"])
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/offset+octet-stream")
        .bytes(&photo)
        .send(city.server.addr)
        .await;
    assert_eq!(sent.status, 204, "{}", sent.body);
    let (_, d) = city.get_json("zhou", &one).await;
    assert_eq!(d["ticket"]["photos"][0]["uploaded"], true, "{d}");

    let (status, d) = city
        .api("wuye", "POST", &t1, Some(&action("handled")))
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["ticket"]["status"], "handled");
    assert_eq!(d["ticket"]["photos"][0]["uploaded"], true, "{d}");
}

/// The OpenAPI schemas of `Summary` and `Photo` name exactly the fields
/// the relay writes, both ways: nothing written is undescribed and nothing
/// described is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_and_photo_schemas_name_what_the_relay_writes() {
    let city = City::start(config()).await;
    let mut wang = city.join("wang", &["G-01"]).await;
    assert!(wang.fetch(&city.t1.document_id()).await);
    wang.device
        .add_photo(city.t1, &sha256_hex(b"before"), "before", 5)
        .unwrap();
    wang.try_push(&city.t1.document_id()).await.unwrap();

    let (_, doc) = http(city.server.addr, "GET", "/api/openapi.json", None, None).await;
    let keys = |v: &Value| -> BTreeSet<String> {
        v.as_object()
            .unwrap_or_else(|| panic!("an object: {v}"))
            .keys()
            .cloned()
            .collect()
    };
    let schemas = &doc["components"]["schemas"];
    let (_, page) = city.get_json("zhou", "/api/tickets").await;
    let item = &page["items"][0];
    assert_eq!(keys(&schemas["Summary"]["properties"]), keys(item));
    let (_, d) = city
        .get_json("zhou", &format!("/api/tickets/{}", city.t1))
        .await;
    assert_eq!(
        keys(&schemas["Photo"]["properties"]),
        keys(&d["ticket"]["photos"][0])
    );
    let required: BTreeSet<String> = schemas["Photo"]["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(required, keys(&d["ticket"]["photos"][0]));
}
