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

/// Each role sees exactly what sync would let it see: a worker its grid,
/// a supervisor its community or street, a unit the tickets dispatched to
/// it, a reviewer its district, an admin everything; a ticket outside the
/// scope is 404, exactly like a missing one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_and_tickets_are_scoped_like_sync() {
    let city = City::start(config()).await;
    let (t1, t2, t3) = (city.t1, city.t2, city.t3);
    let expect: &[(&str, &[TicketId])] = &[
        ("wang", &[t1]),
        ("liu", &[t1]),
        ("li", &[t2]),
        ("sun", &[t3]),
        ("chen", &[t1]),
        ("zhou", &[t1, t2]),
        ("wuye", &[t1]),
        ("shuiwu", &[]),
        ("zhao", &[t1, t2, t3]),
        ("root", &[t1, t2, t3]),
    ];
    assert_eq!(expect.len(), USERS.len());
    for (user, visible) in expect {
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
    // A supervisor in scope closes or suspends a dispatched ticket.
    for supervisor in ["zhou", "chen"] {
        let (_, d) = city
            .get_json(supervisor, &format!("/api/tickets/{}", city.t1))
            .await;
        assert_eq!(actions(&d), ["closed", "suspended"], "{supervisor}");
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
    // with a note.
    let (_, d) = city
        .get_json("zhou", &format!("/api/tickets/{}", city.t2))
        .await;
    assert_eq!(
        actions(&d),
        ["accepted", "invalid", "closed", "suspended"],
        "{d}"
    );
    assert_eq!(d["actions"][1]["needs"], serde_json::json!(["note"]));
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

/// Every operation the OpenAPI document describes is served by the
/// router (not a 404 or 405 of an unknown route), and every route is
/// described (`server::API_ROUTES` is what the router is built from).
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
    // A path the router does not serve is a bare 404.
    let (status, body) = city.get_json("root", "/api/nothing-here").await;
    assert_eq!((status, body), (404, Value::Null));
}
