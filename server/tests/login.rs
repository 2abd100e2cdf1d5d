//! People log in with a name and a password, over real sockets: the
//! session cookie's attributes, `/api/me` by cookie, logout and expiry,
//! CSRF and origin checks, the brute-force limit and its audit rows, a
//! password change ending sessions, device tokens still working on every
//! route, and a token from `/api/tokens` that syncs.
//!
//! The city they run in is `support::city`; `chen` (community supervisor),
//! `zhou` (street supervisor) and `wang` (worker) get passwords here.

mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde_json::json;
use server::Config;
use server::audit::{AuditAction, AuditFilter};
use server::registry::Registry;
use support::city::{City, config, identity, ticket_in};
use support::http::{Answer, Request};
use support::{SyncClient, upgrade_status};

const PASSWORD: &str = "马到成功 correct horse";
const COOKIE: &str = "gridsync_session";

async fn city(config: Config) -> City {
    let city = City::start(config).await;
    let db = city.server.database().database();
    let registry = Registry::new(&db).unwrap();
    for user in ["chen", "zhou", "wang"] {
        registry.set_password(user, PASSWORD).unwrap();
    }
    city
}

/// A logged-in browser: its cookie and CSRF token.
struct Session {
    id: String,
    csrf: String,
}

async fn login_from(city: &City, user: &str, password: &str, from: IpAddr) -> Answer {
    Request::post("/api/login")
        .json(&json!({ "user": user, "password": password }))
        .from(from)
        .send(city.server.addr)
        .await
}

async fn log_in(city: &City, user: &str) -> Session {
    let answer = login_from(city, user, PASSWORD, support::LOCALHOST).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    Session {
        id: answer.cookie(COOKIE).expect("a session cookie"),
        csrf: answer.json()["csrf"].as_str().unwrap().to_owned(),
    }
}

async fn me(city: &City, session: &Session) -> Answer {
    Request::get("/api/me")
        .session(&session.id)
        .send(city.server.addr)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_sets_a_strict_http_only_cookie_that_me_accepts() {
    let city = city(config()).await;
    let answer = login_from(&city, "chen", PASSWORD, support::LOCALHOST).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let who = answer.json();
    assert_eq!(who["user"], "chen");
    assert_eq!(who["role"], "supervisor");
    assert_eq!(who["grids"], json!(["G-01"]));
    assert_eq!(
        who["scope"],
        json!({"kind": "community", "value": "幸福社区"})
    );
    let csrf = who["csrf"].as_str().unwrap().to_owned();
    assert!(csrf.len() >= 32, "{csrf}");
    let cookie = answer.header("set-cookie").unwrap().to_owned();
    let id = answer.cookie(COOKIE).unwrap();
    assert!(id.starts_with("gss_"), "{cookie}");
    let attributes: Vec<&str> = cookie.split(';').skip(1).map(str::trim).collect();
    for wanted in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"] {
        assert!(attributes.contains(&wanted), "{wanted} missing: {cookie}");
    }
    assert!(
        !attributes.contains(&"Secure"),
        "plain HTTP gets no Secure: {cookie}"
    );
    assert!(!cookie.contains(&csrf), "the CSRF token is not the cookie");

    // Behind a TLS proxy the cookie is Secure.
    let tls = Request::post("/api/login")
        .json(&json!({ "user": "chen", "password": PASSWORD }))
        .header("X-Forwarded-Proto", "https")
        .send(city.server.addr)
        .await;
    assert_eq!(tls.status, 200);
    let secure = tls.header("set-cookie").unwrap();
    assert!(secure.split(';').any(|a| a.trim() == "Secure"), "{secure}");

    // `/api/me` by the cookie answers the same, with the same CSRF token.
    let session = Session { id, csrf };
    let answer = me(&city, &session).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let by_cookie = answer.json();
    assert_eq!(by_cookie["user"], "chen");
    assert_eq!(by_cookie["grids"], json!(["G-01"]));
    assert_eq!(by_cookie["csrf"], session.csrf.as_str());
    // By a bearer token: no CSRF token (none is needed).
    let by_token = Request::get("/api/me")
        .bearer(&city.tokens["chen"])
        .send(city.server.addr)
        .await
        .json();
    assert_eq!(by_token["user"], "chen");
    assert!(by_token.get("csrf").is_none(), "{by_token}");
    // A made-up cookie is refused.
    let forged = me(
        &city,
        &Session {
            id: "gss_forged".into(),
            csrf: String::new(),
        },
    )
    .await;
    assert_eq!(forged.status, 401);
    assert_eq!(forged.reason(), "unauthenticated");

    // The relay's file holds no password, session id or CSRF token.
    let City {
        server, path, _dir, ..
    } = city;
    server.stop().await.unwrap();
    let raw = std::fs::read(&path).unwrap();
    for secret in [PASSWORD, &session.id, &session.csrf] {
        assert!(
            !raw.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} is in the relay's file"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_session_on_the_relay() {
    let city = city(config()).await;
    let session = log_in(&city, "chen").await;
    let other = log_in(&city, "chen").await;
    let out = Request::post("/api/logout")
        .session(&session.id)
        .csrf(&session.csrf)
        .send(city.server.addr)
        .await;
    assert_eq!(out.status, 204, "{}", out.body);
    let cleared = out.header("set-cookie").unwrap();
    assert!(cleared.starts_with(&format!("{COOKIE}=;")), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // The old cookie is worthless now, even if a browser kept it.
    assert_eq!(me(&city, &session).await.status, 401);
    assert_eq!(
        me(&city, &other).await.status,
        200,
        "another session of the same person goes on"
    );
    // A device token is not a session: logout does not end it.
    let by_token = Request::post("/api/logout")
        .bearer(&city.tokens["chen"])
        .send(city.server.addr)
        .await;
    assert_eq!(by_token.status, 400);
    assert_eq!(by_token.reason(), "not_a_session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_is_refused() {
    let city = city(Config {
        session_lifetime: Duration::from_millis(300),
        ..config()
    })
    .await;
    let answer = login_from(&city, "zhou", PASSWORD, support::LOCALHOST).await;
    let cookie = answer.header("set-cookie").unwrap();
    assert!(cookie.contains("Max-Age=1"), "rounded up: {cookie}");
    let session = Session {
        id: answer.cookie(COOKIE).unwrap(),
        csrf: answer.json()["csrf"].as_str().unwrap().to_owned(),
    };
    // Past the session's lifetime (the wait is the premise, not a
    // measurement: nothing is asserted about how long anything takes).
    tokio::time::sleep(Duration::from_millis(400)).await;
    let late = me(&city, &session).await;
    assert_eq!(late.status, 401, "{}", late.body);
    assert!(late.body.contains("expired"), "{}", late.body);
    // A new login works.
    let again = log_in(&city, "zhou").await;
    assert_ne!(again.id, session.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_requests_that_change_things_need_the_csrf_token_and_our_origin() {
    let city = city(config()).await;
    let session = log_in(&city, "wang").await;
    let addr = city.server.addr;
    let issue = || {
        Request::post("/api/tokens")
            .session(&session.id)
            .json(&json!({ "device": "王伟的手机" }))
    };

    let none = issue().send(addr).await;
    assert_eq!(
        (none.status, none.reason().as_str()),
        (403, "csrf"),
        "{}",
        none.body
    );
    let wrong = issue().csrf("0123456789abcdef").send(addr).await;
    assert_eq!((wrong.status, wrong.reason().as_str()), (403, "csrf"));
    let foreign = issue()
        .csrf(&session.csrf)
        .header("Origin", "http://evil.example")
        .send(addr)
        .await;
    assert_eq!((foreign.status, foreign.reason().as_str()), (403, "csrf"));
    let null = issue()
        .csrf(&session.csrf)
        .header("Origin", "null")
        .send(addr)
        .await;
    assert_eq!(null.status, 403);
    // Another session's token is no good either.
    let other = log_in(&city, "wang").await;
    let crossed = issue().csrf(&other.csrf).send(addr).await;
    assert_eq!(crossed.status, 403);

    let right = issue().csrf(&session.csrf).send(addr).await;
    assert_eq!(right.status, 201, "{}", right.body);
    let ours = issue()
        .csrf(&session.csrf)
        .header("Origin", &format!("http://{addr}"))
        .send(addr)
        .await;
    assert_eq!(ours.status, 201, "{}", ours.body);
    // GET needs none.
    assert_eq!(me(&city, &session).await.status, 200);
    // Nor does a bearer-authenticated POST (no page can send a token).
    let bearer = Request::post("/api/logout")
        .bearer(&city.tokens["wang"])
        .header("Origin", "http://evil.example")
        .send(addr)
        .await;
    assert_ne!(bearer.status, 403, "{}", bearer.body);
    // Only this relay's pages may log a browser in (login CSRF).
    let planted = Request::post("/api/login")
        .json(&json!({ "user": "wang", "password": PASSWORD }))
        .header("Origin", "http://evil.example")
        .send(addr)
        .await;
    assert_eq!((planted.status, planted.reason().as_str()), (403, "csrf"));
    assert!(planted.cookie(COOKIE).is_none());
}

/// Ten wrong passwords for one name from one address use up its attempts:
/// the eleventh is 429 before the password is looked at, even when it is
/// the right one (else the limit would tell a guesser when they hit).
/// Another address logs in as usual, and every failure is audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eleventh_bad_password_from_one_address_is_refused_while_another_logs_in() {
    let city = city(Config {
        login_failure_refill: Duration::from_secs(600),
        ..config()
    })
    .await;
    let guesser = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 6));
    let mut statuses = Vec::new();
    for i in 0..10 {
        let answer = login_from(&city, "chen", &format!("guess {i:02}"), guesser).await;
        assert_eq!(answer.reason(), "bad_credentials", "{}", answer.body);
        assert!(answer.cookie(COOKIE).is_none());
        statuses.push(answer.status);
    }
    assert_eq!(statuses, [401; 10]);
    let limited = login_from(&city, "chen", PASSWORD, guesser).await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert_eq!(limited.reason(), "rate_limited");
    assert!(limited.header("retry-after").is_some());
    assert!(limited.cookie(COOKIE).is_none());
    // Another address logs in.
    let elsewhere = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 7));
    let fine = login_from(&city, "chen", PASSWORD, elsewhere).await;
    assert_eq!(fine.status, 200, "{}", fine.body);
    // An unknown name and a user without a password answer exactly like
    // a wrong password.
    let unknown = login_from(&city, "nobody", PASSWORD, elsewhere).await;
    let no_password = login_from(&city, "li", PASSWORD, elsewhere).await;
    let wrong = login_from(&city, "zhou", "not the password", elsewhere).await;
    for answer in [&unknown, &no_password, &wrong] {
        assert_eq!(answer.status, 401);
        assert_eq!(answer.body, wrong.body);
    }

    // The hub takes inputs in order: once a later sync is answered, the
    // failures' audit rows (queued before) are committed.
    let mut wang = city.join("wang", &["G-01"]).await;
    assert!(wang.fetch(&city.t1.document_id()).await);
    let failed: Vec<_> = city
        .audit(&AuditFilter::default())
        .into_iter()
        .filter(|r| r.action == AuditAction::AuthFailed)
        .collect();
    let against_chen = failed
        .iter()
        .filter(|r| r.user.as_deref() == Some("chen"))
        .count();
    assert_eq!(against_chen, 10, "{failed:?}");
    assert!(
        failed
            .iter()
            .all(|r| r.addr.as_deref().is_some_and(|a| a.starts_with("127.0.0."))),
        "{failed:?}"
    );
    assert!(
        failed.iter().all(|r| r.user.as_deref() != Some("nobody")),
        "an unknown name is not kept (it may be a password typed in the wrong box)"
    );
    let logins = city.audit(&AuditFilter {
        user: Some("chen".into()),
        ..AuditFilter::default()
    });
    assert!(logins.iter().any(|r| r.action == AuditAction::Login));
}

/// One address trying many names is limited as a whole
/// (`login_failure_burst_per_address`), not ten guesses per name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_many_names_from_one_address_is_limited_too() {
    let city = city(Config {
        login_failure_burst_per_address: 3,
        login_failure_refill: Duration::from_secs(600),
        ..config()
    })
    .await;
    let sprayer = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 8));
    let mut statuses = Vec::new();
    for user in ["chen", "zhou", "wang", "li", "chen"] {
        statuses.push(login_from(&city, user, "123456789", sprayer).await.status);
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429]);
    assert_eq!(
        login_from(&city, "wang", PASSWORD, sprayer).await.status,
        429
    );
    let elsewhere = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9));
    assert_eq!(
        login_from(&city, "wang", PASSWORD, elsewhere).await.status,
        200
    );
}

/// A wrong password writes nothing: it is answered while the test holds
/// the database's only write transaction (a login that stored anything
/// before checking would wait for it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_login_writes_nothing() {
    let city = city(config()).await;
    let db = city.server.database();
    let writer = db.database().begin_write().unwrap();
    let wrong = login_from(&city, "chen", "not the password", support::LOCALHOST).await;
    assert_eq!(wrong.status, 401);
    let unknown = login_from(&city, "nobody", "whatever it is", support::LOCALHOST).await;
    assert_eq!(unknown.status, 401);
    drop(writer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_password_ends_the_users_sessions() {
    let city = city(config()).await;
    let (a, b) = (log_in(&city, "chen").await, log_in(&city, "chen").await);
    let zhou = log_in(&city, "zhou").await;
    let db = city.server.database();
    let ended = Registry::new(&db.database())
        .unwrap()
        .set_password("chen", "一个新的密码 new one")
        .unwrap();
    assert_eq!(ended, 2);
    assert_eq!(me(&city, &a).await.status, 401);
    assert_eq!(me(&city, &b).await.status, 401);
    assert_eq!(me(&city, &zhou).await.status, 200, "others' sessions stay");
    let old = login_from(&city, "chen", PASSWORD, support::LOCALHOST).await;
    assert_eq!(old.status, 401);
    let new = login_from(&city, "chen", "一个新的密码 new one", support::LOCALHOST).await;
    assert_eq!(new.status, 200);
    // The device token is untouched.
    let by_token = Request::get("/api/me")
        .bearer(&city.tokens["chen"])
        .send(city.server.addr)
        .await;
    assert_eq!(by_token.status, 200);
}

/// An `/api/events` stream opened with a session cookie, read off a raw
/// socket once it says it is subscribed.
struct Stream(tokio::net::TcpStream);

impl Stream {
    async fn open(city: &City, session: &Session) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = city.server.addr;
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET /api/events HTTP/1.1\r\nHost: {addr}\r\nCookie: {COOKIE}={}\r\n\r\n",
            session.id
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut seen = Vec::new();
        while !String::from_utf8_lossy(&seen).contains(": subscribed") {
            let mut buf = [0u8; 1024];
            let n = tokio::time::timeout(support::PATIENCE, tcp.read(&mut buf))
                .await
                .expect("the stream's first comment in time")
                .unwrap();
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
        assert!(
            seen.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&seen)
        );
        Self(tcp)
    }

    /// Whether the relay ends the stream within `within` (keep-alives
    /// meanwhile are read and dropped).
    async fn ends_within(&mut self, within: Duration) -> bool {
        use tokio::io::AsyncReadExt;
        let mut rest = Vec::new();
        tokio::time::timeout(within, self.0.read_to_end(&mut rest))
            .await
            .is_ok()
    }
}

/// Every other route checks the session on each request, but a live
/// stream was checked once: it re-read the credential only when the
/// registry's generation moved, which a logout, a session's expiry and a
/// new password (that ends the user's sessions) do not do. So a stream
/// opened in the console kept sending the caller's tickets after the
/// person logged out, or after an admin reset a compromised password. A
/// session stream now looks its session up on every keep-alive tick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_stream_ends_when_its_session_does() {
    let tick = Duration::from_millis(100);
    let city = city(Config {
        events_keep_alive: tick,
        ..config()
    })
    .await;
    let (chen, zhou, wang) = (
        log_in(&city, "chen").await,
        log_in(&city, "zhou").await,
        log_in(&city, "wang").await,
    );
    let (mut by_chen, mut by_zhou, mut by_wang) = (
        Stream::open(&city, &chen).await,
        Stream::open(&city, &zhou).await,
        Stream::open(&city, &wang).await,
    );
    // Ten ticks of nothing: a live session's stream stays open.
    assert!(
        !by_chen.ends_within(tick * 10).await,
        "a live session's stream ended"
    );

    let out = Request::post("/api/logout")
        .session(&chen.id)
        .csrf(&chen.csrf)
        .send(city.server.addr)
        .await;
    assert_eq!(out.status, 204, "{}", out.body);
    assert!(
        by_chen.ends_within(support::PATIENCE).await,
        "the stream outlived the logout"
    );

    // An admin sets a new password: the user's sessions end, and so do
    // their streams.
    let db = city.server.database();
    Registry::new(&db.database())
        .unwrap()
        .set_password("zhou", "一个新的密码 new one")
        .unwrap();
    assert!(
        by_zhou.ends_within(support::PATIENCE).await,
        "the stream outlived the new password"
    );
    // Others' streams go on.
    assert!(
        !by_wang.ends_within(tick * 5).await,
        "wang's stream ended with the others'"
    );
}

/// A session expires by the clock alone; its stream ends with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_stream_ends_when_its_session_expires() {
    let city = city(Config {
        events_keep_alive: Duration::from_millis(100),
        session_lifetime: Duration::from_secs(3),
        ..config()
    })
    .await;
    let session = log_in(&city, "chen").await;
    let mut stream = Stream::open(&city, &session).await;
    assert!(
        stream.ends_within(support::PATIENCE).await,
        "the stream outlived its session"
    );
    assert_eq!(
        me(&city, &session).await.status,
        401,
        "expired, as the stream found"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_tokens_still_work_on_every_route() {
    let city = city(config()).await;
    let addr = city.server.addr;
    // Sync (the upgrade).
    let mut wang = city.join("wang", &["G-01"]).await;
    assert!(wang.fetch(&city.t1.document_id()).await);
    let id = wang
        .device
        .report(&ticket_in("G-01", "登录之后"), 10)
        .unwrap();
    wang.try_push(&id.document_id()).await.unwrap();
    // `/api/me`, by header and by query.
    let me = Request::get("/api/me")
        .bearer(&city.tokens["wang"])
        .send(addr)
        .await;
    assert_eq!((me.status, me.json()["user"].clone()), (200, json!("wang")));
    let query = Request::get(&format!("/api/me?token={}", city.tokens["wang"]))
        .send(addr)
        .await;
    assert_eq!(query.status, 200);
    // `/api/export`.
    let export = Request::get("/api/export?format=json")
        .bearer(&city.tokens["zhao"])
        .send(addr)
        .await;
    assert_eq!(export.status, 200, "{}", export.body);
    // ...and by a session too.
    let session = log_in(&city, "zhou").await;
    let by_cookie = Request::get("/api/export?format=json")
        .session(&session.id)
        .send(addr)
        .await;
    assert_eq!(by_cookie.status, 200, "{}", by_cookie.body);
    // `/api/tokens` issues only to a logged-in person: a device token
    // that could mint tokens would outlive its own revocation.
    let minted = Request::post("/api/tokens")
        .bearer(&city.tokens["wang"])
        .json(&json!({ "device": "另一台" }))
        .send(addr)
        .await;
    assert_eq!(minted.status, 403);
    assert_eq!(minted.reason(), "session_required");
    // A WebSocket takes bearer tokens only: a cookie is not looked at.
    assert_eq!(upgrade_status(addr, None, support::LOCALHOST).await, 401);
    let upgrade = Request::get("/")
        .session(&session.id)
        .header("Upgrade", "websocket")
        .header("Connection", "Upgrade")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("Sec-WebSocket-Version", "13")
        .send(addr)
        .await;
    assert_eq!(upgrade.status, 401, "{}", upgrade.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_from_api_tokens_syncs_as_its_user() {
    let city = city(config()).await;
    let session = log_in(&city, "wang").await;
    let answer = Request::post("/api/tokens")
        .session(&session.id)
        .csrf(&session.csrf)
        .json(&json!({ "device": "王伟的新手机" }))
        .send(city.server.addr)
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let issued = answer.json();
    let token = issued["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("gs_"));
    let db = city.server.database();
    let listed = Registry::new(&db.database()).unwrap().tokens().unwrap();
    let record = listed
        .iter()
        .find(|t| t.id == issued["id"].as_str().unwrap())
        .expect("the token is listed under its id");
    assert_eq!(record.user, "wang");
    assert_eq!(record.label.as_deref(), Some("王伟的新手机"));

    let mut phone =
        SyncClient::join_as(&city.server, identity("wang", &["G-01"]), Some(&token)).await;
    assert!(phone.fetch(&city.t1.document_id()).await, "reads its grid");
    let id = phone
        .device
        .report(&ticket_in("G-01", "新手机上报"), 20)
        .unwrap();
    phone.try_push(&id.document_id()).await.unwrap();
    let mut chen = city.join("chen", &["G-01"]).await;
    assert!(
        chen.fetch(&id.document_id()).await,
        "and its ticket arrived"
    );
    assert!(
        !phone.fetch(&city.t2.document_id()).await,
        "not another grid"
    );
    // Bad labels are refused.
    for device in ["", &"x".repeat(200)] {
        let bad = Request::post("/api/tokens")
            .session(&session.id)
            .csrf(&session.csrf)
            .json(&json!({ "device": device }))
            .send(city.server.addr)
            .await;
        assert_eq!((bad.status, bad.reason().as_str()), (400, "bad_request"));
    }
}
