//! Hostile clients against the relay's limits, over real sockets: every
//! per-connection map a client can grow is bounded, ephemeral messages and
//! heads batches respect read access, a client that stops reading is cut
//! off by bytes as well as frames, one user holds a bounded number of
//! connections, the HTTP side writes nothing and holds no descriptor for
//! an unauthenticated or half-sent request, and text a client controls is
//! cut before it reaches an error frame or an audit row.
//!
//! Each test opens with the hole it closes. Refusals are checked by what
//! arrives first: a refused frame is followed by a probe (a `request` for
//! an unknown document) whose answer would come first if the relay had
//! let the frame through.

mod support;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use automerge::sync::{State, SyncDoc};
use client_core::device::Identity;
use client_core::ids::{DocumentId, GridCode, TicketId};
use client_core::model::lifecycle::{Action, Event, Role};
use client_core::model::ticket;
use client_core::protocol::{self, Message, PeerId, PeerMetadata, StorageId};
use client_core::store::{RedbStore, Store};
use client_core::sync;
use server::Config;
use server::audit::{AuditAction, AuditFilter};
use server::registry::{GridRecord, Registry, token_hash};
use support::{
    Client, Fixture, LOCALHOST, PATIENCE, SyncClient, TestServer, get_from, upgrade_status,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message as WsMessage;

fn code(c: &str) -> GridCode {
    GridCode::new(c).unwrap()
}

fn empty_sync_message() -> Vec<u8> {
    automerge::Automerge::new()
        .generate_sync_message(&mut State::new())
        .unwrap()
        .encode()
}

fn request(from: &PeerId, doc: DocumentId) -> Message {
    Message::Request {
        sender_id: from.clone(),
        target_id: PeerId::from("relay"),
        document_id: doc,
        data: empty_sync_message(),
    }
}

fn ephemeral(from: &PeerId, doc: DocumentId, session: &str, count: u64) -> Message {
    Message::Ephemeral {
        sender_id: from.clone(),
        target_id: PeerId::from("relay"),
        count,
        session_id: session.into(),
        document_id: doc,
        data: vec![1, 2, 3],
    }
}

/// The next message, extension messages included.
async fn recv_any(client: &mut Client) -> Message {
    match client.next().await {
        Some(WsMessage::Binary(bytes)) => {
            protocol::decode_with_extensions(&bytes, sync::EXTENSION_MESSAGES).expect("a message")
        }
        other => panic!("expected a binary frame, got {other:?}"),
    }
}

/// Sends a probe and asserts that the first thing back is an `error`
/// containing `text` (the refused frame was answered before the probe).
async fn assert_refused_before_probe(client: &mut Client, text: &str) {
    let me = client.me.clone();
    client.send(&request(&me, DocumentId::random())).await;
    loop {
        match recv_any(client).await {
            // Answers to the frames before.
            Message::Sync { .. } => continue,
            Message::Error { message, .. } => {
                assert!(message.contains(text), "{message:?} lacks {text:?}");
                return;
            }
            other => panic!("expected an error about {text:?}, got {other:?}"),
        }
    }
}

/// Users: (name, role, scope).
const USERS: &[(&str, Role, &str)] = &[
    ("wang", Role::Worker, "grids:G-01"),
    ("liu", Role::Worker, "grids:G-01"),
    ("li", Role::Worker, "grids:G-02"),
    ("zhao", Role::Reviewer, "district:西湖区"),
];

/// A relay with a registry (two grids, the users above) and one ticket of
/// wang's in G-01.
struct City {
    server: TestServer,
    tokens: BTreeMap<&'static str, String>,
    ticket: TicketId,
    _dir: tempfile::TempDir,
}

impl City {
    async fn start(config: Config) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.redb");
        let tokens = registry(&path);
        let server = TestServer::start(&path, config).await;
        let mut city = City {
            server,
            tokens,
            ticket: TicketId::random(),
            _dir: dir,
        };
        let mut wang = city.join("wang").await;
        let mut new = support::new_ticket("路灯不亮");
        new.grid = code("G-01");
        city.ticket = wang.device.report(&new, 1).unwrap();
        wang.try_push(&city.ticket.document_id()).await.unwrap();
        city
    }

    async fn join(&self, user: &str) -> SyncClient {
        let role = USERS.iter().find(|(n, _, _)| *n == user).unwrap().1;
        let identity = Identity::new(user, role, vec![code("G-01"), code("G-02")]);
        SyncClient::join_as(&self.server, identity, Some(&self.tokens[user])).await
    }

    /// A frame-level client of `user` that has joined (offering the
    /// heads-batch extension if `extended`).
    async fn raw(&self, user: &str, extended: bool) -> Client {
        let mut client =
            Client::connect_as(&self.server, user, Some(&self.tokens[user]), LOCALHOST)
                .await
                .unwrap();
        let mut meta = PeerMetadata {
            storage_id: Some(StorageId::from(format!("{user}-storage"))),
            is_ephemeral: Some(false),
            ..PeerMetadata::default()
        };
        if extended {
            meta = sync::with_extensions(meta);
        }
        client
            .send(&Message::Join {
                sender_id: client.me.clone(),
                supported_protocol_versions: vec!["1".into()],
                peer_metadata: meta,
            })
            .await;
        assert!(matches!(client.recv().await, Message::Peer { .. }));
        client
    }

    fn audit(&self, filter: &AuditFilter) -> Vec<server::audit::AuditRecord> {
        server::audit::query(&self.server.database().database(), filter).unwrap()
    }
}

fn registry(path: &Path) -> BTreeMap<&'static str, String> {
    let store = RedbStore::open(path).unwrap();
    let db = store.database();
    let r = Registry::new(&db).unwrap();
    for (grid, community) in [("G-01", "幸福社区"), ("G-02", "和平社区")] {
        r.add_grid(&GridRecord {
            code: code(grid),
            name: format!("{grid} 网格"),
            community: community.into(),
            street: "文三街道".into(),
            district: "西湖区".into(),
        })
        .unwrap();
    }
    let mut tokens = BTreeMap::new();
    for (name, role, scope) in USERS {
        r.add_user(name, *role, scope.parse().unwrap()).unwrap();
        tokens.insert(*name, r.issue_token(name, None).unwrap().0);
    }
    tokens
}

fn config() -> Config {
    Config {
        registry_poll: Duration::from_millis(20),
        ..Config::default()
    }
}

/// A heads-batch message listing `entries` (document, heads).
fn heads_batch(from: &PeerId, entries: &[(DocumentId, Vec<automerge::ChangeHash>)]) -> Message {
    let mut bytes = Vec::new();
    for (doc, heads) in entries {
        bytes.extend_from_slice(doc.as_bytes());
        bytes.push(heads.len() as u8);
        for h in heads {
            bytes.extend_from_slice(&h.0);
        }
    }
    let fields = [
        (
            "senderId".to_owned(),
            ciborium::Value::Text(from.to_string()),
        ),
        ("targetId".to_owned(), ciborium::Value::Text("relay".into())),
        ("heads".to_owned(), ciborium::Value::Bytes(bytes)),
    ];
    Message::Extension {
        type_name: sync::HEADS_MESSAGE.into(),
        fields: fields.into_iter().collect(),
    }
}

/// The ids a heads-batch reply says are unchanged.
fn same_of(reply: Message) -> Vec<DocumentId> {
    let Message::Extension { type_name, fields } = reply else {
        panic!("expected a heads-batch reply, got {reply:?}")
    };
    assert_eq!(type_name, sync::HEADS_REPLY);
    let Some(ciborium::Value::Bytes(same)) = fields.get("same") else {
        panic!("no `same` in {fields:?}")
    };
    same.chunks_exact(16)
        .map(|c| DocumentId::from_bytes(c.try_into().unwrap()))
        .collect()
}

// ---- Item 4: amplification and memory -------------------------------

/// A heads batch was answered whatever its length (one store lookup per
/// entry, all on the hub thread, from one frame of up to 16 MiB: about
/// 340,000 entries). Beyond `max_heads_batch_entries` it is now refused
/// before any lookup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heads_batch_beyond_the_entry_limit_is_refused() {
    let city = City::start(Config {
        max_heads_batch_entries: 3,
        ..config()
    })
    .await;
    let doc = city.ticket.document_id();
    let heads = city.server.database().heads(&doc).unwrap().unwrap();
    let mut liu = city.raw("liu", true).await;
    let me = liu.me.clone();
    let three: Vec<_> = (0..3).map(|_| (doc, heads.clone())).collect();
    liu.send(&heads_batch(&me, &three)).await;
    assert_eq!(same_of(recv_any(&mut liu).await), vec![doc; 3]);
    let four: Vec<_> = (0..4).map(|_| (doc, heads.clone())).collect();
    liu.send(&heads_batch(&me, &four)).await;
    assert_refused_before_probe(&mut liu, "a heads batch of more than 3 entries").await;
}

/// A heads batch confirmed (and subscribed the sender to) any stored
/// document whose heads it named, read access or not: a peer of another
/// grid learnt a ticket was unchanged and was then sent ephemeral data
/// about it. Now such a document is left out of the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heads_batch_confirms_only_documents_the_peer_may_read() {
    let city = City::start(config()).await;
    let doc = city.ticket.document_id();
    let heads = city.server.database().heads(&doc).unwrap().unwrap();
    let mut li = city.raw("li", true).await;
    let me = li.me.clone();
    li.send(&heads_batch(&me, &[(doc, heads.clone())])).await;
    assert_eq!(same_of(recv_any(&mut li).await), Vec::<DocumentId>::new());
    // A reader of the grid is told it is unchanged.
    let mut liu = city.raw("liu", true).await;
    let me = liu.me.clone();
    liu.send(&heads_batch(&me, &[(doc, heads)])).await;
    assert_eq!(same_of(recv_any(&mut liu).await), vec![doc]);
}

/// Ephemeral messages were relayed to every subscriber of the named
/// document whoever sent them: a worker of G-02 could push presence data
/// to everyone following a G-01 ticket. Now the sender needs read access
/// (else it gets an `error` and nothing is relayed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_messages_need_read_access_to_their_document() {
    let city = City::start(config()).await;
    let doc = city.ticket.document_id();
    let mut wang = city.join("wang").await;
    assert!(wang.fetch(&doc).await);

    let mut li = city.raw("li", false).await;
    let me = li.me.clone();
    li.send(&ephemeral(&me, doc, "li-tab", 1)).await;
    assert_refused_before_probe(&mut li, "not relayed").await;
    // li stays connected: the probe's own answer follows.
    assert!(matches!(li.recv().await, Message::DocUnavailable { .. }));
    // A reader's ephemeral message is what wang gets next, not li's.
    let mut liu = city.raw("liu", false).await;
    let me = liu.me.clone();
    liu.send(&ephemeral(&me, doc, "liu-tab", 1)).await;
    let next = loop {
        match wang.recv().await {
            // The tail of wang's own sync, if any.
            Message::Sync { .. } => continue,
            other => break other,
        }
    };
    match next {
        Message::Ephemeral { sender_id, .. } => assert_eq!(sender_id, me),
        other => panic!("expected liu's ephemeral message, got {other:?}"),
    }
    // A document nobody holds gets the same answer as one li may not read.
    li.send(&ephemeral(
        &li.me.clone(),
        DocumentId::random(),
        "li-tab",
        2,
    ))
    .await;
    assert_refused_before_probe(&mut li, "not relayed").await;
}

/// A connection's outbound queue was bounded in frames only: 1,024 frames
/// of up to 16 MiB each could wait for a client that stopped reading. Now
/// `outbound_queue_bytes` bounds it too.
#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off_by_the_bytes_waiting_for_it() {
    const FRAMES: u64 = 200;
    const FRAME_BYTES: usize = 256 * 1024;
    let fixture = Fixture::start(Config {
        outbound_queue: 100_000,
        outbound_queue_bytes: 1024 * 1024,
        ..Config::default()
    })
    .await;
    let (mut talker, _) = Client::join(&fixture.server, "talker").await;
    let (mut sleeper, _) = Client::join(&fixture.server, "sleeper").await;
    let doc = support::grid().index_document_id();
    for client in [&mut talker, &mut sleeper] {
        let me = client.me.clone();
        client.send(&request(&me, doc)).await;
        assert!(matches!(client.recv().await, Message::Sync { .. }));
    }
    let me = talker.me.clone();
    for count in 1..=FRAMES {
        let mut m = ephemeral(&me, doc, "presence", count);
        if let Message::Ephemeral { data, .. } = &mut m {
            *data = vec![count as u8; FRAME_BYTES];
        }
        talker.send(&m).await;
    }
    talker.send(&request(&me, DocumentId::random())).await;
    assert!(matches!(
        talker.recv().await,
        Message::DocUnavailable { .. }
    ));

    let mut relayed = 0;
    let mut reason = None;
    while relayed < FRAMES
        && let Some(frame) = sleeper.next().await
    {
        match frame {
            WsMessage::Binary(_) => relayed += 1,
            WsMessage::Close(close) => reason = close.map(|c| c.reason.as_str().to_owned()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        relayed < FRAMES,
        "got all {relayed} frames: nothing was bounded"
    );
    let reason = reason.expect("a close frame with a reason");
    assert!(reason.contains("bytes waiting"), "{reason}");
    fixture.assert_still_serving().await;
}

/// Requests for documents the relay does not hold were remembered without
/// bound (a client could send millions of random ids), and stayed in the
/// hub after the client left. Now `max_unknown_requests` bounds them per
/// connection (the hub's own tests check they are freed on disconnect).
#[tokio::test]
async fn requests_for_unknown_documents_are_bounded_per_connection() {
    let fixture = Fixture::start(Config {
        max_unknown_requests: 3,
        ..Config::default()
    })
    .await;
    let (mut client, _) = Client::join(&fixture.server, "asker").await;
    let me = client.me.clone();
    for _ in 0..3 {
        client.send(&request(&me, DocumentId::random())).await;
        assert!(matches!(
            client.recv().await,
            Message::DocUnavailable { .. }
        ));
    }
    client.send(&request(&me, DocumentId::random())).await;
    assert_refused_before_probe(&mut client, "asked for more than 3 documents").await;
    fixture.assert_still_serving().await;
}

/// One connection could subscribe to any number of documents (each a sync
/// state and a subscriber entry in the hub). Now `max_subscriptions`
/// bounds them.
#[tokio::test]
async fn subscriptions_are_bounded_per_connection() {
    let fixture = Fixture::start(Config {
        max_subscriptions: 3,
        ..Config::default()
    })
    .await;
    let (mut client, _) = Client::join(&fixture.server, "follower").await;
    let me = client.me.clone();
    for _ in 0..3 {
        client
            .send(&Message::Sync {
                sender_id: me.clone(),
                target_id: PeerId::from("relay"),
                document_id: DocumentId::random(),
                data: empty_sync_message(),
            })
            .await;
    }
    client
        .send(&Message::Sync {
            sender_id: me.clone(),
            target_id: PeerId::from("relay"),
            document_id: DocumentId::random(),
            data: empty_sync_message(),
        })
        .await;
    assert_refused_before_probe(&mut client, "more than 3 documents on one connection").await;
    fixture.assert_still_serving().await;
}

/// Every new ephemeral session id a client sent was remembered for the
/// connection's life. Now `max_ephemeral_sessions` bounds them.
#[tokio::test]
async fn ephemeral_sessions_are_bounded_per_connection() {
    let fixture = Fixture::start(Config {
        max_ephemeral_sessions: 2,
        ..Config::default()
    })
    .await;
    let (mut client, _) = Client::join(&fixture.server, "chatty").await;
    let me = client.me.clone();
    let doc = support::grid().index_document_id();
    for session in ["a", "b"] {
        client.send(&ephemeral(&me, doc, session, 1)).await;
    }
    client.send(&request(&me, DocumentId::random())).await;
    assert!(matches!(
        client.recv().await,
        Message::DocUnavailable { .. }
    ));
    client.send(&ephemeral(&me, doc, "c", 1)).await;
    assert_refused_before_probe(&mut client, "more than 2 ephemeral sessions").await;
}

/// One user (one leaked token) could open every one of the relay's
/// `max_connections`. Now `max_connections_per_user` bounds each user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_holds_a_bounded_number_of_connections() {
    let city = City::start(Config {
        max_connections_per_user: 2,
        ..config()
    })
    .await;
    let server = &city.server;
    let liu = Some(city.tokens["liu"].as_str());
    let mut first = Client::connect_as(server, "liu-1", liu, LOCALHOST)
        .await
        .unwrap();
    let _second = Client::connect_as(server, "liu-2", liu, LOCALHOST)
        .await
        .unwrap();
    assert_eq!(
        Client::connect_as(server, "liu-3", liu, LOCALHOST)
            .await
            .err(),
        Some(429)
    );
    // Others are served.
    let _li = Client::connect_as(server, "li", Some(&city.tokens["li"]), LOCALHOST)
        .await
        .unwrap();
    // A closed connection frees its place.
    first.send(&support::join_message(&first.me)).await;
    let _peer = first.recv().await;
    first
        .send(&Message::Leave {
            sender_id: first.me.clone(),
        })
        .await;
    let _ = first.refusal().await;
    first.wait_dropped().await;
    Client::connect_as(server, "liu-3", liu, LOCALHOST)
        .await
        .unwrap();
}

// ---- Item 5: the HTTP side --------------------------------------------

/// `/api/export` opened a write transaction (`Registry::new`) before it
/// looked at the token: every unauthenticated request cost a commit, and
/// while any writer held the database it hung. Now the token is checked
/// with a read, and a refused request writes nothing: it is answered
/// while the test holds the only write transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unauthenticated_export_is_refused_without_writing() {
    let city = City::start(config()).await;
    let db = city.server.database();
    let writer = db.database().begin_write().unwrap();
    let path = "/api/export?format=json";
    let (status, body) = get_from(city.server.addr, path, None, LOCALHOST).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = get_from(city.server.addr, path, Some("gs_wrong"), LOCALHOST).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("unknown or revoked"), "{body}");
    drop(writer);
}

/// Failed tokens on `/api/export` were checked outside the rate limit (any
/// number of guesses, each a write transaction). Now every route spends
/// the same buckets: three failures on the export lock the address out of
/// the upgrade too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_on_every_route_share_the_rate_limit() {
    let city = City::start(Config {
        auth_failure_burst: 3,
        auth_failure_refill: Duration::from_secs(600),
        ..config()
    })
    .await;
    let from = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 4));
    for i in 0..3 {
        let (status, _) = get_from(
            city.server.addr,
            "/api/export?format=json",
            Some(&format!("gs_guess{i}")),
            from,
        )
        .await;
        assert_eq!(status, 401);
    }
    assert_eq!(
        upgrade_status(city.server.addr, Some("gs_guess9"), from).await,
        429
    );
    let (status, _) = get_from(city.server.addr, "/api/me", Some("gs_guess10"), from).await;
    assert_eq!(status, 429);
}

/// The limit was keyed on the address alone: one device with a revoked
/// token behind a carrier-grade NAT (100.64.0.0/10, one address for many
/// subscribers) locked out every device behind it. Now a failing token is
/// limited by itself, and a valid token gets in from a locked-out address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_behind_a_shared_address_does_not_lock_out_the_others() {
    let city = City::start(Config {
        auth_failure_burst: 3,
        auth_failure_refill: Duration::from_secs(600),
        ..config()
    })
    .await;
    let nat = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 5));
    let addr = city.server.addr;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(upgrade_status(addr, Some("gs_revoked-phone"), nat).await);
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429]);
    // Another bad token from there is limited too (the address is spent).
    assert_eq!(upgrade_status(addr, Some("gs_other"), nat).await, 429);
    // A good one gets in, and syncs.
    let identity = Identity::new("liu", Role::Worker, vec![code("G-01")]);
    let mut liu =
        SyncClient::join_from(&city.server, identity, Some(&city.tokens["liu"]), nat).await;
    assert!(liu.fetch(&city.ticket.document_id()).await);
}

/// Opens a TCP connection and sends half a request (no blank line).
async fn half_request(addr: SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n").as_bytes())
        .await
        .unwrap();
    tcp
}

/// Connects and reads whatever the relay says without sending anything.
async fn greeting(addr: SocketAddr) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut answer = Vec::new();
    let _ = timeout(PATIENCE, tcp.read_to_end(&mut answer))
        .await
        .expect("the relay answers or closes in time");
    String::from_utf8_lossy(&answer).into_owned()
}

/// `axum::serve` accepted without bound: a client that sends half a
/// request and waits held a descriptor each, for ever, until the relay ran
/// out. Now at most `max_pending_http` connections wait for their headers
/// (one more is answered 503 at once), WebSockets do not count once
/// upgraded, and a place is free again when its connection ends.
#[tokio::test]
async fn half_sent_requests_count_against_a_limit_and_upgraded_sockets_do_not() {
    let fixture = Fixture::start(Config {
        max_pending_http: 3,
        ..Config::default()
    })
    .await;
    let addr = fixture.server.addr;
    let (mut joined, _) = Client::join(&fixture.server, "early").await;
    let mut loris = Vec::new();
    for _ in 0..3 {
        loris.push(half_request(addr).await);
    }
    // Wait until the relay has taken all three (the next is turned away).
    let mut answer = greeting(addr).await;
    while !answer.starts_with("HTTP/1.1 503") {
        assert!(answer.is_empty(), "{answer}");
        answer = greeting(addr).await;
    }
    assert!(answer.contains("too many connections waiting"), "{answer}");
    // The WebSocket upgraded before is served.
    let me = joined.me.clone();
    joined.send(&request(&me, DocumentId::random())).await;
    assert!(matches!(
        joined.recv().await,
        Message::DocUnavailable { .. }
    ));
    // One half-sent request goes away: its place is free again.
    drop(loris.pop());
    while healthz_status(addr).await != Some(200) {}
}

/// The status of `GET /healthz`; `None` if the connection was reset (a
/// turned-away connection is closed without reading the request).
async fn healthz_status(addr: SocketAddr) -> Option<u16> {
    let mut tcp = TcpStream::connect(addr).await.ok()?;
    tcp.write_all(
        format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .ok()?;
    let mut response = String::new();
    timeout(PATIENCE, tcp.read_to_string(&mut response))
        .await
        .expect("an answer in time")
        .ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    assert!(status == 200 || status == 503, "{response}");
    Some(status)
}

/// Nothing closed a connection whose request headers never finished. Now
/// `header_read_timeout` does (ten seconds, on tokio's paused clock).
#[tokio::test]
async fn a_request_whose_headers_never_finish_is_closed() {
    let fixture = Fixture::start(Config {
        header_read_timeout: Duration::from_secs(10),
        ..Config::default()
    })
    .await;
    let mut tcp = half_request(fixture.server.addr).await;
    tokio::time::pause();
    let mut rest = Vec::new();
    let read = timeout(PATIENCE, tcp.read_to_end(&mut rest))
        .await
        .expect("the relay closes the connection in time");
    let answer = String::from_utf8_lossy(&rest);
    assert!(
        read.is_err() || rest.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{read:?} {answer}"
    );
    tokio::time::resume();
    fixture.assert_still_serving().await;
}

// ---- Item 8: smaller ----------------------------------------------------

/// Text a client controls went unbounded into error frames, close
/// reasons, log lines and audit rows: a 100 KB message type name came back
/// whole in the `error` frame, and a lifecycle event naming a 10 KB actor
/// was quoted whole in the refusal and its audit row. A peer id of any
/// length was kept and logged for the connection's life. Now peer ids are
/// bounded at the `join` and everything else is clipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_controlled_text_is_clipped_in_error_frames_and_audit_rows() {
    let city = City::start(config()).await;
    let server = &city.server;

    let long_id = "p".repeat(1000);
    let mut client = Client::connect_as(server, &long_id, Some(&city.tokens["liu"]), LOCALHOST)
        .await
        .unwrap();
    client.send(&support::join_message(&client.me)).await;
    match client.recv().await {
        Message::Error { message, .. } => assert!(message.contains("longer than 256 bytes")),
        other => panic!("expected the join to be refused, got {other:?}"),
    }

    let mut client = city.raw("liu", false).await;
    let frame = protocol::encode(&Message::Extension {
        type_name: "t".repeat(100_000),
        fields: BTreeMap::new(),
    });
    client.send_raw(WsMessage::binary(frame)).await;
    let refusal = client.refusal().await;
    let error = refusal.error.expect("an error frame");
    assert!(error.contains("unknown message type"), "{error}");
    assert!(error.len() < 400, "{} bytes", error.len());

    let mut wang = city.join("wang").await;
    let doc = city.ticket.document_id();
    assert!(wang.fetch(&doc).await);
    let state = wang.device.ticket(city.ticket).unwrap().status();
    let actor = "x".repeat(10_000);
    wang.device
        .repo()
        .change(&doc, |tx| {
            ticket::append_event(
                tx,
                &Event::new(Some(state), Action::Accepted, &actor, Role::Supervisor, 2),
            )
        })
        .unwrap();
    let why = wang.try_push(&doc).await.unwrap_err();
    assert!(why.contains("xxxx"), "{why}");
    assert!(why.len() < 400, "{} bytes", why.len());
    // The audit row (committed before the error was sent) is clipped too.
    let refused = city.audit(&AuditFilter {
        user: Some("wang".into()),
        ..AuditFilter::default()
    });
    let row = refused
        .iter()
        .find(|r| r.action == AuditAction::Refused)
        .expect("a refusal row");
    let reason = row.reason.as_deref().unwrap();
    assert!(reason.len() < 400, "{} bytes", reason.len());
}

/// When the registry could not be read while re-checking open connections
/// after a registry change, the connection was kept, with a token that
/// might have just been revoked. Now it is closed (1011, "reconnect"); a
/// reconnect is checked afresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_that_cannot_be_checked_closes_the_connection() {
    let city = City::start(config()).await;
    let mut wang = city.join("wang").await;
    assert!(wang.fetch(&city.ticket.document_id()).await);

    // wang's token record becomes unreadable; then the registry changes.
    let db = city.server.database();
    const TOKENS: redb::TableDefinition<&str, &[u8]> =
        redb::TableDefinition::new("registry_tokens");
    let tx = db.database().begin_write().unwrap();
    tx.open_table(TOKENS)
        .unwrap()
        .insert(
            token_hash(&city.tokens["wang"]).as_str(),
            b"not json".as_slice(),
        )
        .unwrap();
    tx.commit().unwrap();
    let liu = &token_hash(&city.tokens["liu"])[..12];
    Registry::new(&db.database())
        .unwrap()
        .revoke_token(liu)
        .unwrap();
    drop(db);

    timeout(PATIENCE, wang.refusal())
        .await
        .expect("the connection is closed in time")
        .assert("could not check this connection's token", 1011);
}
