//! Shared by the relay's socket tests: a relay on `127.0.0.1:0` over a
//! temporary redb file, a frame-level client, a syncing device, and a raw
//! WebSocket that never answers pings.
//!
//! Every wait is on an actual message; timeouts are only safety nets.

#![allow(dead_code)] // each test file uses part of this

pub mod city;
pub mod http;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use client_core::client::session::{Handshake, Session, Step};
use client_core::client::transport::Transport;
use client_core::client::{ClientConfig, ClientError, Lost};
use client_core::device::{Device, Identity};
use client_core::ids::{DocumentId, GridCode, TicketId};
use client_core::model::lifecycle::Role;
use client_core::model::ticket::{Kind, NewTicket, Source, Urgency};
use client_core::protocol::{self, Message, PeerId, PeerMetadata, StorageId};
use client_core::store::{MemoryStore, RedbStore};
use futures_util::{SinkExt, StreamExt};
use server::{Config, ServerError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Safety net for any single wait.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_test_writer()
        .try_init();
}

/// A relay running `server::run` in this test's runtime.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The store `run` was given; dead once `run` has let go of it.
    pub store: std::sync::Weak<RedbStore>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServerError>>>,
}

impl TestServer {
    /// Serves the redb file at `path` (created if absent).
    pub async fn start(path: &Path, config: Config) -> Self {
        init_tracing();
        let store = Arc::new(RedbStore::open(path).expect("open the relay database"));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let weak = Arc::downgrade(&store);
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let task = tokio::spawn(server::run(listener, store, config, shutdown));
        Self {
            addr,
            store: weak,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Serves `store`, with the hub's documents in `documents` (a wrapper
    /// of `store`, such as a `FaultyStore`): `server::run_over`.
    pub async fn start_over<S: client_core::store::Store + 'static>(
        store: Arc<RedbStore>,
        documents: S,
        config: Config,
    ) -> Self {
        init_tracing();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let weak = Arc::downgrade(&store);
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let task = tokio::spawn(server::run_over(
            listener, store, documents, config, shutdown,
        ));
        Self {
            addr,
            store: weak,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// The store `run` serves (while it runs).
    pub fn database(&self) -> Arc<RedbStore> {
        self.store.upgrade().expect("the relay is running")
    }

    /// Triggers the graceful shutdown and waits for `run` to return.
    pub async fn stop(mut self) -> Result<(), ServerError> {
        let _ = self.stop.take().unwrap().send(());
        let task = self.task.take().unwrap();
        timeout(PATIENCE, task)
            .await
            .expect("run returns after shutdown")
            .expect("run did not panic")
    }

    /// `GET path` over plain HTTP/1.1: (status, body).
    pub async fn get(&self, path: &str) -> (u16, String) {
        get_from(self.addr, path, None, LOCALHOST).await
    }
}

/// `GET path` with an optional bearer token from the local address `from`:
/// (status, body).
pub async fn get_from(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    from: IpAddr,
) -> (u16, String) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    let mut tcp = socket.connect(addr).await.unwrap();
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    timeout(PATIENCE, tcp.read_to_string(&mut response))
        .await
        .expect("an HTTP answer in time")
        .unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A client that speaks frames; it checks nothing by itself.
pub struct Client {
    pub ws: Ws,
    pub me: PeerId,
}

pub fn join_message(me: &PeerId) -> Message {
    Message::Join {
        sender_id: me.clone(),
        supported_protocol_versions: vec!["1".into()],
        peer_metadata: PeerMetadata {
            storage_id: Some(StorageId::from(format!("{me}-storage"))),
            is_ephemeral: Some(false),
            ..PeerMetadata::default()
        },
    }
}

/// How a refused connection ended, as the client saw it.
#[derive(Debug)]
pub struct Refusal {
    /// The `error` message's text, if one arrived.
    pub error: Option<String>,
    /// The close frame, if one arrived.
    pub close: Option<CloseFrame>,
}

impl Refusal {
    /// Asserts an `error` message containing `text` and a close frame with
    /// `code`.
    pub fn assert(&self, text: &str, code: u16) {
        let error = self
            .error
            .as_deref()
            .unwrap_or_else(|| panic!("expected an error message about {text:?}, got {self:?}"));
        assert!(error.contains(text), "error {error:?} lacks {text:?}");
        let close = self.close.as_ref().expect("a close frame");
        assert_eq!(u16::from(close.code), code, "{close:?}");
    }
}

/// The HTTP status of a WebSocket upgrade to `addr` with `token` (if any)
/// as a bearer header, from the local address `from`.
pub async fn upgrade_status(addr: SocketAddr, token: Option<&str>, from: IpAddr) -> u16 {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    let mut tcp = timeout(PATIENCE, socket.connect(addr))
        .await
        .expect("connect in time")
        .unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{auth}\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n") {
        let n = timeout(PATIENCE, tcp.read(&mut byte))
            .await
            .expect("a status line in time")
            .unwrap();
        assert_eq!(n, 1, "the relay closed before answering");
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line")
}

impl Client {
    /// Connects with a bearer token from the local address `from`;
    /// `Err(status)` if the upgrade is refused.
    pub async fn connect_as(
        server: &TestServer,
        name: &str,
        token: Option<&str>,
        from: IpAddr,
    ) -> Result<Self, u16> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = server.url().into_client_request().unwrap();
        if let Some(token) = token {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(from, 0)).unwrap();
        let tcp = timeout(PATIENCE, socket.connect(server.addr))
            .await
            .expect("connect in time")
            .unwrap();
        tcp.set_nodelay(true).unwrap();
        let upgraded = timeout(
            PATIENCE,
            tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(tcp)),
        )
        .await
        .expect("upgrade in time");
        match upgraded {
            Ok((ws, _)) => Ok(Self {
                ws,
                me: PeerId::from(name),
            }),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
            Err(e) => panic!("the upgrade failed: {e}"),
        }
    }

    pub async fn connect(server: &TestServer, name: &str) -> Self {
        let (ws, _) = timeout(PATIENCE, tokio_tungstenite::connect_async(server.url()))
            .await
            .expect("connect in time")
            .expect("the WebSocket upgrade succeeds");
        Self {
            ws,
            me: PeerId::from(name),
        }
    }

    /// Connects, joins, and returns the relay's `peer` answer.
    pub async fn join(server: &TestServer, name: &str) -> (Self, Message) {
        let mut client = Self::connect(server, name).await;
        client.send(&join_message(&client.me)).await;
        let peer = client.recv().await;
        assert!(matches!(peer, Message::Peer { .. }), "{peer:?}");
        (client, peer)
    }

    pub async fn send(&mut self, message: &Message) {
        self.send_raw(WsMessage::binary(protocol::encode(message)))
            .await;
    }

    pub async fn send_raw(&mut self, frame: WsMessage) {
        timeout(PATIENCE, self.ws.send(frame))
            .await
            .expect("send in time")
            .expect("send");
    }

    /// The next frame other than ping/pong; `None` once the connection
    /// has ended (cleanly or not).
    pub async fn next(&mut self) -> Option<WsMessage> {
        loop {
            let item = timeout(PATIENCE, self.ws.next())
                .await
                .expect("the relay answers in time");
            match item {
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                Some(Ok(frame)) => return Some(frame),
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// The next frame, pings included; `None` once the connection ended.
    pub async fn next_any(&mut self) -> Option<WsMessage> {
        timeout(PATIENCE, self.ws.next())
            .await
            .expect("a frame in time")
            .and_then(Result::ok)
    }

    /// Waits until the relay has dropped the socket (TCP end of stream),
    /// past the WebSocket close handshake.
    pub async fn wait_dropped(mut self) {
        let MaybeTlsStream::Plain(tcp) = self.ws.get_mut() else {
            unreachable!("tests use plain TCP")
        };
        let mut chunk = [0u8; 1024];
        loop {
            match timeout(PATIENCE, tcp.read(&mut chunk))
                .await
                .expect("the relay drops the socket in time")
            {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }

    /// The next message; panics on anything else.
    pub async fn recv(&mut self) -> Message {
        match self.next().await {
            Some(WsMessage::Binary(bytes)) => protocol::decode(&bytes).expect("a v1 message"),
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }

    /// Reads until the connection ends, keeping the `error` message and
    /// the close frame, and answering the close frame.
    pub async fn refusal(&mut self) -> Refusal {
        let mut refusal = Refusal {
            error: None,
            close: None,
        };
        while let Some(frame) = self.next().await {
            match frame {
                WsMessage::Binary(bytes) => {
                    if let Ok(Message::Error { message, .. }) = protocol::decode(&bytes) {
                        refusal.error = Some(message);
                    }
                }
                // Reading on past it sends the answer to the close frame.
                WsMessage::Close(frame) => refusal.close = frame,
                _ => {}
            }
        }
        refusal
    }
}

pub fn grid() -> GridCode {
    GridCode::new("G-01").unwrap()
}

pub fn new_ticket(title: &str) -> NewTicket {
    NewTicket {
        id: TicketId::random(),
        grid: grid(),
        source: Source::Patrol,
        kind: Kind::Component,
        category: "0101".into(),
        urgency: Urgency::Normal,
        title: title.into(),
        description: String::new(),
        location: None,
        resident: None,
    }
}

/// A device syncing with the relay over a real socket: the device's own
/// `client_core::client::session::Session` over its memory store, driven
/// through `client_core::client::transport::Transport`.
pub struct SyncClient {
    pub transport: Transport,
    pub session: Session<Arc<MemoryStore>>,
    pub device: Device<Arc<MemoryStore>>,
    pub relay: PeerId,
    pub relay_storage: Option<StorageId>,
    /// Whether the session syncs the category catalog (it does unless the
    /// client joined with [`SyncClient::join_without_catalog`]).
    pub catalog: bool,
}

pub const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

impl SyncClient {
    pub async fn join(server: &TestServer, user: &str, role: Role) -> Self {
        Self::join_as(server, Identity::new(user, role, vec![grid()]), None).await
    }

    /// [`SyncClient::join`], syncing its records only (not the category
    /// catalog the relay also serves), for tests that count documents.
    pub async fn join_without_catalog(server: &TestServer, user: &str, role: Role) -> Self {
        let store = Arc::new(MemoryStore::new());
        let device = Device::init(store, Identity::new(user, role, vec![grid()])).unwrap();
        let (transport, session) = Self::connect(server, &device, None, LOCALHOST, false).await;
        Self {
            transport,
            relay: session.relay().clone(),
            relay_storage: session.relay_metadata().storage_id.clone(),
            session,
            device,
            catalog: false,
        }
    }

    /// Joins as the device `identity` with `token`; the peer id is the
    /// user name.
    pub async fn join_as(server: &TestServer, identity: Identity, token: Option<&str>) -> Self {
        Self::join_from(server, identity, token, LOCALHOST).await
    }

    pub async fn join_from(
        server: &TestServer,
        identity: Identity,
        token: Option<&str>,
        from: IpAddr,
    ) -> Self {
        let store = Arc::new(MemoryStore::new());
        let device = Device::init(store, identity).unwrap();
        let (transport, session) = Self::connect(server, &device, token, from, true).await;
        Self {
            transport,
            relay: session.relay().clone(),
            relay_storage: session.relay_metadata().storage_id.clone(),
            session,
            device,
            catalog: true,
        }
    }

    /// Connects `device` (its store as it is) and performs the handshake.
    async fn connect(
        server: &TestServer,
        device: &Device<Arc<MemoryStore>>,
        token: Option<&str>,
        from: IpAddr,
        catalog: bool,
    ) -> (Transport, Session<Arc<MemoryStore>>) {
        let user = device.identity().user.clone();
        let mut handshake = Handshake::open(device.repo().store().clone(), Vec::new())
            .unwrap()
            .as_peer(PeerId::from(user.as_str()));
        if !catalog {
            handshake = handshake.without_catalog();
        }
        let mut cfg = ClientConfig::new(server.url());
        cfg.token = token.map(str::to_owned);
        cfg.connect_timeout = PATIENCE;
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(from, 0)).unwrap();
        let tcp = timeout(PATIENCE, socket.connect(server.addr))
            .await
            .expect("connect in time")
            .unwrap();
        tcp.set_nodelay(true).unwrap();
        let mut transport = match Transport::upgrade(tcp, &cfg).await {
            Ok(transport) => transport,
            Err(ClientError::Refused { status, .. }) => {
                panic!("the upgrade of `{user}` got HTTP {status}")
            }
            Err(e) => panic!("the upgrade of `{user}` failed: {e}"),
        };
        let answer = transport
            .handshake(&handshake.join(), PATIENCE)
            .await
            .expect("the relay answers `join`");
        assert!(matches!(answer, Message::Peer { .. }), "{answer:?}");
        (transport, handshake.accept(answer).unwrap())
    }

    /// Connects again with the same device (same store), as after a close,
    /// on an open relay.
    pub async fn reconnect(&mut self, server: &TestServer) {
        let (transport, session) =
            Self::connect(server, &self.device, None, LOCALHOST, self.catalog).await;
        self.transport = transport;
        self.relay = session.relay().clone();
        self.relay_storage = session.relay_metadata().storage_id.clone();
        self.session = session;
    }

    /// Offers `doc` to the relay and answers it until the connection
    /// ends; returns the `error` message and the close reason it gave.
    pub async fn push_until_closed(&mut self, doc: &DocumentId) -> (Option<String>, String) {
        let step = self.session.want(*doc).unwrap();
        self.apply(step).await;
        let step = self.session.local_change(*doc).unwrap();
        self.apply(step).await;
        let mut error = None;
        loop {
            let received = timeout(PATIENCE, self.transport.receive(1))
                .await
                .expect("the relay answers in time");
            match received {
                Ok(frames) => {
                    for frame in frames {
                        if let Message::Error { message, .. } = frame {
                            error = Some(message);
                        } else {
                            let step = self.session.handle(vec![frame]).unwrap();
                            if step.close.is_some() {
                                continue;
                            }
                            let _ = self.transport.send(step.send).await;
                        }
                    }
                }
                Err(ClientError::Lost(Lost::Closed { reason, .. })) => return (error, reason),
                Err(_) => return (error, String::new()),
            }
        }
    }

    /// Sends what a session step produced (its batch is committed).
    pub async fn apply(&mut self, step: Step) {
        assert!(step.close.is_none(), "the device closed: {:?}", step.close);
        timeout(PATIENCE, self.transport.send(step.send))
            .await
            .expect("send in time")
            .expect("send");
    }

    /// The next frame from the relay.
    pub async fn recv(&mut self) -> Message {
        let mut frames = timeout(PATIENCE, self.transport.receive(1))
            .await
            .expect("the relay answers in time")
            .expect("a frame from the relay");
        frames.pop().expect("receive returns a frame")
    }

    /// Takes one frame from the relay.
    pub async fn receive_one(&mut self) {
        let message = self.recv().await;
        let step = self.session.handle(vec![message]).unwrap();
        self.apply(step).await;
    }

    /// Syncs every document this device knows of (its grid's index and
    /// what the index lists, learning more as the index arrives, and its
    /// edits since the last sync) until the relay holds all of them and
    /// this device holds all the relay has, or the relay said it has none.
    pub async fn sync_all(&mut self) {
        let step = self.session.local_edits().unwrap();
        self.apply(step).await;
        loop {
            let progress = self.session.progress();
            if progress.done == progress.total {
                return;
            }
            self.receive_one().await;
        }
    }

    /// Announces a local edit of `doc` and waits until the relay has it.
    pub async fn push(&mut self, doc: &DocumentId) {
        let step = self.session.local_change(*doc).unwrap();
        self.apply(step).await;
        while !self.session.in_sync(doc) {
            self.receive_one().await;
        }
    }

    /// Asks the relay for `doc`: true once this device holds what the
    /// relay holds, false if the relay answered `doc-unavailable`.
    pub async fn fetch(&mut self, doc: &DocumentId) -> bool {
        let step = self.session.want(*doc).unwrap();
        self.apply(step).await;
        loop {
            if self.session.unavailable(doc) {
                return false;
            }
            if self.session.in_sync(doc) {
                return true;
            }
            self.receive_one().await;
        }
    }

    /// Sends a local edit of `doc`: `Ok` once the relay holds it, `Err`
    /// with the relay's `error` message if it refuses it (the relay then
    /// closes the connection).
    pub async fn try_push(&mut self, doc: &DocumentId) -> Result<(), String> {
        let step = self.session.want(*doc).unwrap();
        self.apply(step).await;
        let step = self.session.local_change(*doc).unwrap();
        self.apply(step).await;
        loop {
            if self.session.in_sync(doc) {
                return Ok(());
            }
            let message = self.recv().await;
            if let Message::Error { message, .. } = message {
                return Err(message);
            }
            let step = self.session.handle(vec![message]).unwrap();
            self.apply(step).await;
        }
    }

    /// Reads until the connection ends, keeping the `error` message and
    /// the close frame, and answering the close frame.
    pub async fn refusal(&mut self) -> Refusal {
        let mut refusal = Refusal {
            error: None,
            close: None,
        };
        loop {
            let received = timeout(PATIENCE, self.transport.receive(1))
                .await
                .expect("the relay answers in time");
            match received {
                Ok(frames) => {
                    for frame in frames {
                        if let Message::Error { message, .. } = frame {
                            refusal.error = Some(message);
                        }
                    }
                }
                // Reading on past it sends the answer to the close frame.
                Err(ClientError::Lost(Lost::Closed { code, reason, .. })) => {
                    refusal.close = Some(CloseFrame {
                        code: code.into(),
                        reason: reason.into(),
                    });
                }
                Err(_) => return refusal,
            }
        }
    }

    /// Closes the connection.
    pub async fn close(&mut self) {
        self.transport.close().await;
    }

    pub fn titles(&self) -> Vec<String> {
        let mut titles: Vec<String> = self
            .device
            .tickets(None, client_core::store::Listing::All)
            .unwrap()
            .into_iter()
            .map(|s| s.title)
            .collect();
        titles.sort();
        titles
    }
}

/// A relay with one ticket already uploaded (and the uploader gone).
pub struct Fixture {
    pub server: TestServer,
    pub title: String,
    _dir: tempfile::TempDir,
}

impl Fixture {
    pub async fn start(config: Config) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = TestServer::start(&dir.path().join("relay.redb"), config).await;
        let mut worker = SyncClient::join(&server, "wang", Role::Worker).await;
        let title = "路灯不亮".to_owned();
        worker.device.report(&new_ticket(&title), 1).unwrap();
        worker.sync_all().await;
        worker.close().await;
        Self {
            server,
            title,
            _dir: dir,
        }
    }

    /// A fresh device still downloads the stored ticket.
    pub async fn assert_still_serving(&self) {
        let mut reader = SyncClient::join(&self.server, "chen", Role::Supervisor).await;
        reader.sync_all().await;
        assert_eq!(reader.titles(), vec![self.title.clone()]);
    }
}

/// A WebSocket written by hand so that it never answers pings (every
/// library client does, whenever it reads).
pub struct RawWs {
    tcp: TcpStream,
    buf: Vec<u8>,
}

/// One frame as read off the wire.
#[derive(Debug)]
pub struct RawFrame {
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl RawWs {
    pub async fn connect(addr: SocketAddr) -> Self {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Self {
            tcp,
            buf: Vec::new(),
        };
        let head = loop {
            if let Some(end) = raw.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw.buf[..end]).into_owned();
                raw.buf.drain(..end + 4);
                break head;
            }
            assert!(raw.fill().await, "the relay closed during the upgrade");
        };
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        raw
    }

    /// Sends a masked binary frame, as a client must.
    pub async fn send_binary(&mut self, payload: &[u8]) {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut frame = vec![0x82];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= usize::from(u16::MAX) => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.tcp.write_all(&frame).await.unwrap();
    }

    /// The next frame; `None` at end of stream.
    pub async fn read_frame(&mut self) -> Option<RawFrame> {
        loop {
            if let Some((frame, used)) = parse_frame(&self.buf) {
                self.buf.drain(..used);
                return Some(frame);
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        match timeout(PATIENCE, self.tcp.read(&mut chunk))
            .await
            .expect("the relay sends something in time")
        {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }
}

/// An unmasked server frame at the start of `buf`, and its length.
fn parse_frame(buf: &[u8]) -> Option<(RawFrame, usize)> {
    let (&b0, &b1) = (buf.first()?, buf.get(1)?);
    let (len, mut at) = match b1 & 0x7f {
        126 => (
            usize::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?])),
            4,
        ),
        127 => {
            let bytes: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            (usize::try_from(u64::from_be_bytes(bytes)).ok()?, 10)
        }
        n => (usize::from(n), 2),
    };
    assert_eq!(b1 & 0x80, 0, "server frames are not masked");
    let payload = buf.get(at..at + len)?.to_vec();
    at += len;
    Some((
        RawFrame {
            opcode: b0 & 0x0f,
            payload,
        },
        at,
    ))
}

/// An HTTP answer with its headers, for the tests of served files.
pub struct Answer {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// `GET path` with no credential: status, headers and body (as text).
pub async fn get_answer(server: &TestServer, path: &str) -> Answer {
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.addr
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    timeout(PATIENCE, tcp.read_to_end(&mut raw))
        .await
        .expect("an answer in time")
        .unwrap();
    // Binary bodies (wasm, images) are read lossily: tests look at headers.
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").expect("a header block");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}
