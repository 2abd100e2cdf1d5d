//! HTTP and WebSocket: with `auth.rs` (tokens, sessions, `/api/me`,
//! `/api/tokens`), `session.rs` (`/api/login`, `/api/logout`),
//! `export/http.rs` and `metrics/http.rs` (`/metrics`), the only modules
//! outside the records API that see axum or tungstenite types.
//!
//! `/` upgrades to a WebSocket speaking automerge-repo v1 (as the JS sync
//! server does) and `/healthz` reports liveness. When the relay requires
//! tokens, the upgrade is refused with 401 (or 429) before anything else
//! unless it carries a valid one; the connection then carries its user to
//! the hub with its `join`. Each WebSocket runs as one
//! task: the handshake (`join` → `peer`), then a reader and a writer raced
//! against each other, against the hub's kill signal and against shutdown.
//! Frames become [`Message`]s here and nowhere else.
//!
//! The reader awaits room in the hub's input queue before reading the next
//! frame, so a busy hub slows clients through TCP. The writer drains the
//! connection's outbound queue and sends keepalive pings. Whoever ends the
//! connection says why as an `End`, which decides the `error` frame, the
//! close frame and the log line.

use std::collections::HashMap;
use std::error::Error as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{
    CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade, close_code,
};
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use client_core::protocol::{self, Message, PeerId, PeerMetadata, negotiate};
use client_core::sync;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior, timeout};
use tokio_tungstenite::tungstenite;
use tracing::{debug, info, warn};

use crate::Config;
use crate::auth::{self, Gate, Principal};
use crate::budget::{Budget, Share};
use crate::identity::RelayIdentity;
use crate::metrics::Refused;
use crate::relay::{Close, CloseKind, ConnId, Input, Link, Outbound, weight};

/// What every request handler and connection task shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: Config,
    pub identity: RelayIdentity,
    pub hub: mpsc::Sender<Input>,
    /// Open WebSocket connections; a watch so shutdown can wait for zero.
    pub connections: watch::Sender<usize>,
    /// Written by the hub thread after every round.
    pub documents_in_memory: Arc<AtomicUsize>,
    /// Becomes true when the relay starts shutting down.
    pub stopping: watch::Receiver<bool>,
    /// The relay's database, for the HTTP API (read on blocking threads).
    pub store: Arc<client_core::store::RedbStore>,
    /// Checks tokens, sessions and passwords.
    pub gate: Gate,
    /// Whether the store takes writes (set by the hub thread).
    pub storage: Arc<crate::storage::StorageHealth>,
    /// Open WebSocket connections per user (for `max_connections_per_user`).
    pub users: std::sync::Mutex<HashMap<String, usize>>,
    /// Bytes of frames waiting for the hub thread.
    pub budget: Budget,
    /// Photos (`/api/blobs`).
    pub blobs: Arc<crate::blobs::Blobs>,
    /// Changed ticket summaries from the hub thread, for `/api/events`.
    pub changes: crate::api::Changes,
    /// The summary index in memory, for lists and queue counts.
    pub summaries: Arc<crate::api::SummaryIndex>,
    /// What `GET /metrics` shows; recorded into from every thread.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// Serves HTTP on `listener` until `signal` completes and every plain HTTP
/// request has finished; WebSocket connections live on in their own tasks
/// (watch `shared.connections` for them).
///
/// The accept loop is ours rather than `axum::serve`'s, for two bounds a
/// slow-loris client would otherwise exhaust file descriptors through:
/// each connection must send its request headers within
/// `Config::header_read_timeout` (hyper closes it otherwise), and at most
/// `Config::max_pending_http` connections may be accepted and not yet
/// upgraded; one more is answered 503 and closed at once. A connection's
/// place is given back when it closes or becomes a WebSocket (which then
/// counts against `max_connections`).
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt as _;

    let app = Router::new()
        .route("/", get(upgrade))
        .route("/healthz", get(healthz))
        .route("/metrics", get(crate::metrics::http::serve))
        // Every `/api` route, from `api::ROUTES` (which the OpenAPI
        // document is checked against): add none here.
        .merge(crate::api::router())
        .merge(crate::console::routes())
        .merge(crate::field_app::routes())
        .with_state(shared.clone());
    let pending = Arc::new(tokio::sync::Semaphore::new(shared.config.max_pending_http));
    let header_timeout = shared.config.header_read_timeout;
    // Set to tell the connections to finish; closed once all have.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut refusals = Refusals::default();
    tokio::pin!(signal);
    loop {
        let (tcp, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let Ok(place) = pending.clone().try_acquire_owned() else {
            refusals.note(addr, shared.config.max_pending_http);
            shared.metrics.refused(Refused::PendingHttp);
            turn_away(&tcp);
            continue;
        };
        // Sync frames are small and latency-bound; and a close frame must
        // leave before the socket is dropped, not wait behind Nagle.
        if let Err(e) = tcp.set_nodelay(true) {
            debug!(error = %e, "could not set TCP_NODELAY");
        }
        let app = app.clone();
        let service = hyper::service::service_fn(
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(addr));
                app.clone().oneshot(request)
            },
        );
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let conn = http
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades();
            tokio::pin!(conn);
            let mut stopping = false;
            loop {
                tokio::select! {
                    served = conn.as_mut() => {
                        if let Err(e) = served {
                            debug!(%addr, error = %e, "HTTP connection ended with an error");
                        }
                        break;
                    }
                    _ = stop.wait_for(|s| *s), if !stopping => {
                        stopping = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(place);
            drop(stop);
        });
    }
    drop(listener);
    drop(stop_rx);
    stop_tx.send_replace(true);
    stop_tx.closed().await;
    Ok(())
}

/// Waits a little after a failed `accept` (out of file descriptors, say)
/// instead of spinning; a connection reset before it was accepted is not
/// worth a pause.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    warn!(error = %e, "could not accept a connection; pausing accepts for a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Answers 503 to a connection over `max_pending_http` without reading it
/// (one non-blocking write, then the socket is dropped).
fn turn_away(tcp: &tokio::net::TcpStream) {
    const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n\
        Content-Type: text/plain; charset=utf-8\r\nContent-Length: 59\r\nConnection: close\r\n\r\n\
        too many connections waiting to send a request; retry later";
    let _ = tcp.try_write(BUSY);
}

/// Logs turned-away connections at most once a second, with a count.
#[derive(Default)]
struct Refusals {
    since_logged: u64,
    logged: Option<std::time::Instant>,
}

impl Refusals {
    fn note(&mut self, addr: SocketAddr, limit: usize) {
        self.since_logged += 1;
        if self
            .logged
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(1))
        {
            warn!(
                %addr,
                limit,
                refused = self.since_logged,
                "refusing connections (HTTP 503): too many accepted connections have not finished a request"
            );
            self.logged = Some(std::time::Instant::now());
            self.since_logged = 0;
        }
    }
}

#[derive(Serialize)]
struct Health {
    /// `ok`, or `degraded` while the store refuses writes.
    status: &'static str,
    connections: usize,
    documents_in_memory: usize,
    /// Why writes are refused (reads are still served).
    #[serde(skip_serializing_if = "Option::is_none")]
    storage: Option<String>,
}

/// 200 while the relay serves reads and writes; 503 while its storage
/// refuses writes, with the reason.
async fn healthz(State(shared): State<Arc<Shared>>) -> (StatusCode, axum::Json<Health>) {
    let fault = shared.storage.fault();
    let status = if fault.is_some() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let health = Health {
        status: if fault.is_some() { "degraded" } else { "ok" },
        connections: *shared.connections.borrow(),
        documents_in_memory: shared.documents_in_memory.load(Ordering::Relaxed),
        storage: fault,
    };
    (status, axum::Json(health))
}

async fn upgrade(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let principal = match auth::admit(&shared, addr, &headers, query.as_deref()) {
        Ok(principal) => principal.map(Arc::new),
        Err(refused) => return *refused,
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    if *shared.stopping.borrow() {
        return unavailable("the relay is shutting down; retry later");
    }
    let Some(slot) = Slot::take(&shared) else {
        shared.metrics.refused(Refused::ConnectionLimit);
        warn!(%addr, limit = shared.config.max_connections, "refusing a WebSocket: connection limit reached");
        return unavailable("too many connections; retry later");
    };
    let user_slot = match &principal {
        Some(p) => match UserSlot::take(&shared, &p.user) {
            Some(taken) => Some(taken),
            None => {
                let limit = shared.config.max_connections_per_user;
                shared.metrics.refused(Refused::UserConnectionLimit);
                warn!(%addr, user = %p.user, limit, "refusing a WebSocket: the user's connection limit is reached");
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, "5")],
                    format!(
                        "`{}` already has {limit} connections open, the most one user may; \
                         close one (a dead one closes by itself after two keepalive intervals)",
                        p.user
                    ),
                )
                    .into_response();
            }
        },
        None => None,
    };
    let max = shared.config.max_frame_bytes;
    ws.max_frame_size(max)
        .max_message_size(max)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .on_failed_upgrade(move |e| debug!(%addr, error = %e, "WebSocket upgrade failed"))
        .on_upgrade(move |socket| async move {
            let conn = Connection {
                id: ConnId::next(),
                addr,
                shared: slot.shared.clone(),
                principal,
            };
            let (mut sink, mut stream) = socket.split();
            conn.run(&mut sink, &mut stream).await;
            // Free the slot before the socket closes: a client that sees
            // the end of this connection may connect again at once.
            drop(user_slot);
            drop(slot);
            drop((sink, stream));
        })
}

/// Each WebSocket's read buffer, allocated and zeroed up front and kept
/// for the connection's life. Tungstenite's default (128 KiB) made an idle
/// connection cost about 137 KB; automerge-repo frames are a few hundred
/// bytes to a few KiB, and a larger frame grows the buffer to its size
/// (reads then take up to this much per call).
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// How much the writer gathers before a write to the socket, when it sends
/// a burst of queued frames at once (the buffer grows to this plus one
/// frame, and stays; tungstenite's default is 128 KiB).
const WRITE_BUFFER_BYTES: usize = 16 * 1024;

fn unavailable(why: &'static str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "5")],
        why,
    )
        .into_response()
}

/// One counted connection; dropping it frees the slot.
struct Slot {
    shared: Arc<Shared>,
}

impl Slot {
    fn take(shared: &Arc<Shared>) -> Option<Self> {
        let max = shared.config.max_connections;
        let taken = shared.connections.send_if_modified(|n| {
            if *n < max {
                *n += 1;
                true
            } else {
                false
            }
        });
        taken.then(|| Self {
            shared: shared.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.shared.connections.send_modify(|n| *n -= 1);
    }
}

/// One of a user's counted connections; dropping it frees the place.
struct UserSlot {
    shared: Arc<Shared>,
    user: String,
}

impl UserSlot {
    fn take(shared: &Arc<Shared>, user: &str) -> Option<Self> {
        let mut users = shared.users.lock().unwrap_or_else(|p| p.into_inner());
        let open = users.entry(user.to_owned()).or_insert(0);
        if *open >= shared.config.max_connections_per_user {
            return None;
        }
        *open += 1;
        Some(Self {
            shared: shared.clone(),
            user: user.to_owned(),
        })
    }
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let mut users = self.shared.users.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(open) = users.get_mut(&self.user) {
            *open -= 1;
            if *open == 0 {
                users.remove(&self.user);
            }
        }
    }
}

/// How a connection ends.
#[derive(Debug)]
enum End {
    /// The client closed or the transport failed: nothing more to send.
    Gone(String),
    /// The relay closes it.
    Close {
        close: Close,
        /// Send an `error` message with the reason first.
        error: bool,
        /// Send the frames already queued first (shutdown: they are
        /// committed acknowledgements worth delivering).
        flush: bool,
        /// Wait for the client's close frame (not for a dead or desynced
        /// socket).
        wait: bool,
    },
    /// The hub dropped the connection's queue; the reason, if any, is in
    /// the kill signal.
    Dropped,
}

impl End {
    /// A protocol violation: `error` frame, then close.
    fn refuse(kind: CloseKind, reason: impl Into<String>) -> Self {
        End::Close {
            close: Close::new(kind, reason),
            error: true,
            flush: false,
            wait: true,
        }
    }

    fn close(kind: CloseKind, reason: impl Into<String>) -> Self {
        End::Close {
            close: Close::new(kind, reason),
            error: false,
            flush: false,
            wait: true,
        }
    }

    fn shutdown() -> Self {
        End::Close {
            close: Close::new(CloseKind::Normal, "the relay is shutting down"),
            error: false,
            flush: true,
            wait: true,
        }
    }
}

/// When the client was last heard from (any frame, pongs included),
/// shared by the reader and the writer of one connection.
struct Heard {
    start: Instant,
    /// Milliseconds after `start`.
    last: AtomicU64,
    /// The reader is waiting for room in the hub's queue, not reading:
    /// silence is then the relay's doing, not the client's.
    waiting: AtomicBool,
}

impl Heard {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last: AtomicU64::new(0),
            waiting: AtomicBool::new(false),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }

    /// How long the client has been silent; zero while the reader waits
    /// for the hub.
    fn silence(&self) -> Duration {
        if self.waiting.load(Ordering::Relaxed) {
            return Duration::ZERO;
        }
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }

    /// Runs `wait` with silence suspended.
    async fn excused<T>(&self, wait: impl Future<Output = T>) -> T {
        self.waiting.store(true, Ordering::Relaxed);
        let out = wait.await;
        self.touch();
        self.waiting.store(false, Ordering::Relaxed);
        out
    }
}

/// A completed handshake.
struct Joined {
    peer: PeerId,
    metadata: PeerMetadata,
    version: &'static str,
}

type Sink = SplitSink<WebSocket, WsMessage>;
type Stream = SplitStream<WebSocket>;

struct Connection {
    id: ConnId,
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// Who authenticated at the upgrade; `None` on an open relay.
    principal: Option<Arc<Principal>>,
}

impl Connection {
    async fn run(self, sink: &mut Sink, stream: &mut Stream) {
        let mut stopping = self.shared.stopping.clone();
        let limit = self.shared.config.handshake_timeout;
        let joined = tokio::select! {
            joined = timeout(limit, self.handshake(stream)) => match joined {
                Ok(joined) => joined,
                Err(_) => Err(End::close(
                    CloseKind::Policy,
                    format!("no `join` within {} ms", limit.as_millis()),
                )),
            },
            _ = stopping.wait_for(|s| *s) => Err(End::shutdown()),
        };
        let Joined {
            peer,
            metadata,
            version,
        } = match joined {
            Ok(joined) => joined,
            Err(end) => return self.finish(sink, stream, None, None, end).await,
        };

        // Extensions are offered back only to a peer that offered them.
        let extended = sync::offers(&metadata, sync::HEADS_BATCH);
        let (outbound, mut queue) = mpsc::channel(self.shared.config.outbound_queue);
        let (kill, mut killed) = oneshot::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let connect = Input::Connect {
            conn: self.id,
            peer: peer.clone(),
            metadata,
            link: Link {
                outbound,
                kill,
                queued: queued.clone(),
            },
            principal: self.principal.clone(),
        };
        if self.shared.hub.send(connect).await.is_err() {
            let end = End::close(CloseKind::Internal, "the relay is stopping");
            return self.finish(sink, stream, None, Some(&peer), end).await;
        }
        let answer = Message::Peer {
            sender_id: self.shared.identity.peer_id.clone(),
            target_id: peer.clone(),
            selected_protocol_version: version.to_owned(),
            peer_metadata: if extended {
                sync::with_extensions(self.shared.identity.metadata())
            } else {
                self.shared.identity.metadata()
            },
        };
        let end = match sink.send(binary(&answer)).await {
            Ok(()) => {
                info!(conn = %self.id, %peer, addr = %self.addr, "peer joined");
                let heard = Heard::new();
                let share = self.shared.budget.share();
                tokio::select! {
                    end = self.read_frames(stream, &peer, &heard, &share) => end,
                    end = self.write_frames(sink, &mut queue, &queued, &heard) => end,
                    Ok(close) = &mut killed => End::Close { close, error: false, flush: false, wait: false },
                    _ = stopping.wait_for(|s| *s) => End::shutdown(),
                }
            }
            Err(e) => End::Gone(format!("could not send `peer`: {e}")),
        };
        let end = match end {
            End::Dropped => match killed.try_recv() {
                Ok(close) => End::Close {
                    close,
                    error: false,
                    flush: false,
                    wait: false,
                },
                Err(_) => End::close(CloseKind::Internal, "the relay stopped serving this peer"),
            },
            end => end,
        };
        self.finish(sink, stream, Some(&mut queue), Some(&peer), end)
            .await;
        let gone = Input::Disconnect {
            conn: self.id,
            peer,
        };
        // Fails only when the hub thread is already gone.
        let _ = self.shared.hub.send(gone).await;
    }

    /// Waits for the first data frame, which must be a `join` offering a
    /// protocol version this relay speaks.
    async fn handshake(&self, stream: &mut Stream) -> Result<Joined, End> {
        loop {
            match self.next_frame(stream).await? {
                WsMessage::Binary(bytes) => {
                    return match protocol::decode(&bytes) {
                        Ok(Message::Join {
                            sender_id,
                            supported_protocol_versions,
                            peer_metadata,
                        }) => {
                            if sender_id.as_str().is_empty() {
                                return Err(End::refuse(
                                    CloseKind::Protocol,
                                    "`join` with an empty senderId",
                                ));
                            }
                            let max = self.shared.config.max_peer_id_bytes;
                            let storage = peer_metadata
                                .storage_id
                                .as_ref()
                                .map_or(0, |s| s.as_str().len());
                            if sender_id.as_str().len() > max || storage > max {
                                return Err(End::refuse(
                                    CloseKind::Protocol,
                                    format!(
                                        "`join` with a senderId or storageId longer than {max} bytes; use a shorter id"
                                    ),
                                ));
                            }
                            let Some(version) = negotiate(&supported_protocol_versions) else {
                                return Err(End::refuse(
                                    CloseKind::Protocol,
                                    format!(
                                        "unsupported protocol version: offered {supported_protocol_versions:?}, this relay speaks \"{}\"",
                                        protocol::PROTOCOL_VERSION
                                    ),
                                ));
                            };
                            Ok(Joined {
                                peer: sender_id,
                                metadata: peer_metadata,
                                version,
                            })
                        }
                        Ok(other) => Err(End::refuse(
                            CloseKind::Protocol,
                            format!(
                                "expected `join` as the first message, got `{}`",
                                other.type_name()
                            ),
                        )),
                        Err(e) => Err(End::refuse(
                            CloseKind::Protocol,
                            format!("undecodable frame: {e}"),
                        )),
                    };
                }
                WsMessage::Text(_) => return Err(text_frame()),
                WsMessage::Ping(_) | WsMessage::Pong(_) => {}
                WsMessage::Close(frame) => return Err(End::Gone(closed_by_client(frame))),
            }
        }
    }

    /// Reads frames and hands them to the hub until something ends the
    /// connection.
    async fn read_frames(
        &self,
        stream: &mut Stream,
        peer: &PeerId,
        heard: &Heard,
        share: &Share,
    ) -> End {
        loop {
            let frame = match self.next_frame(stream).await {
                Ok(frame) => frame,
                Err(end) => return end,
            };
            heard.touch();
            match frame {
                WsMessage::Binary(bytes) => {
                    // Room in the hub queue's byte budget first: a client
                    // sending faster than the hub handles waits here.
                    let held = heard.excused(share.take(bytes.len())).await;
                    let message =
                        match protocol::decode_with_extensions(&bytes, sync::EXTENSION_MESSAGES) {
                            Ok(message) => message,
                            Err(e) => {
                                return End::refuse(
                                    CloseKind::Protocol,
                                    format!("undecodable frame: {e}"),
                                );
                            }
                        };
                    if let Message::Join { .. } = message {
                        return End::refuse(
                            CloseKind::Protocol,
                            "a second `join` on an open connection",
                        );
                    }
                    if let Some(sender) = sender_of(&message)
                        && sender != peer
                    {
                        return End::refuse(
                            CloseKind::Protocol,
                            format!(
                                "a `{}` from `{sender}` on a connection that joined as `{peer}`",
                                message.type_name()
                            ),
                        );
                    }
                    let input = Input::Frame {
                        conn: self.id,
                        peer: peer.clone(),
                        message,
                        held,
                    };
                    if heard.excused(self.shared.hub.send(input)).await.is_err() {
                        return End::close(CloseKind::Internal, "the relay is stopping");
                    }
                }
                WsMessage::Text(_) => return text_frame(),
                WsMessage::Ping(_) | WsMessage::Pong(_) => {}
                WsMessage::Close(frame) => return End::Gone(closed_by_client(frame)),
            }
        }
    }

    /// Sends what the hub queues, and keepalive pings; closes a connection
    /// that has been silent for two intervals.
    async fn write_frames(
        &self,
        sink: &mut Sink,
        queue: &mut mpsc::Receiver<Outbound>,
        queued: &AtomicUsize,
        heard: &Heard,
    ) -> End {
        let period = self.shared.config.keepalive_interval;
        let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                item = queue.recv() => match item {
                    Some(Outbound::Frame(message)) => {
                        // What is already queued goes out with it, flushed
                        // once: one write for a round's frames, not one each.
                        let mut next = Some(message);
                        let mut then = None;
                        let mut sent = Ok(());
                        while let Some(message) = next.take() {
                            sent = sink.feed(binary(&message)).await;
                            queued.fetch_sub(weight(&message), Ordering::AcqRel);
                            if sent.is_err() {
                                break;
                            }
                            match queue.try_recv() {
                                Ok(Outbound::Frame(m)) => next = Some(m),
                                Ok(close) => then = Some(close),
                                Err(_) => {}
                            }
                        }
                        if sent.is_ok() {
                            sent = sink.flush().await;
                        }
                        if let Err(e) = sent {
                            return End::Gone(format!("write failed: {e}"));
                        }
                        if let Some(Outbound::Close(close)) = then {
                            return End::Close { close, error: false, flush: false, wait: true };
                        }
                    }
                    Some(Outbound::Close(close)) => {
                        return End::Close { close, error: false, flush: false, wait: true };
                    }
                    None => return End::Dropped,
                },
                _ = ticks.tick() => {
                    let silent = heard.silence();
                    if silent >= period * 2 {
                        return End::Close {
                            close: Close::new(
                                CloseKind::Policy,
                                format!("no answer to keepalive pings for {} ms", silent.as_millis()),
                            ),
                            error: false,
                            flush: false,
                            wait: false,
                        };
                    }
                    if let Err(e) = sink.send(WsMessage::Ping(Bytes::new())).await {
                        return End::Gone(format!("write failed: {e}"));
                    }
                }
            }
        }
    }

    async fn next_frame(&self, stream: &mut Stream) -> Result<WsMessage, End> {
        match stream.next().await {
            Some(Ok(frame)) => Ok(frame),
            Some(Err(e)) if is_too_big(&e) => Err(End::Close {
                close: Close::new(
                    CloseKind::TooBig,
                    format!(
                        "frame larger than the relay's limit of {} bytes",
                        self.shared.config.max_frame_bytes
                    ),
                ),
                error: true,
                flush: false,
                // The rest of the frame is still on the wire: the stream
                // cannot be read any further.
                wait: false,
            }),
            Some(Err(e)) => Err(End::Gone(format!("read failed: {e}"))),
            None => Err(End::Gone("the connection dropped".into())),
        }
    }

    /// Logs the end, then sends what `end` asks for, bounded by
    /// `close_timeout`.
    async fn finish(
        &self,
        sink: &mut Sink,
        stream: &mut Stream,
        queue: Option<&mut mpsc::Receiver<Outbound>>,
        peer: Option<&PeerId>,
        end: End,
    ) {
        let who = peer.map_or("-", PeerId::as_str);
        let limit = self.shared.config.close_timeout;
        let (close, error, flush, wait) = match end {
            End::Gone(why) => {
                info!(conn = %self.id, peer = who, addr = %self.addr, "connection ended: {why}");
                // Flushes the answer to a client's close frame, if any.
                let _ = timeout(limit, sink.close()).await;
                return;
            }
            End::Dropped => (
                Close::new(CloseKind::Internal, "the relay stopped serving this peer"),
                false,
                false,
                false,
            ),
            End::Close {
                close,
                error,
                flush,
                wait,
            } => (close, error, flush, wait),
        };
        match close.kind {
            CloseKind::Normal => {
                info!(conn = %self.id, peer = who, addr = %self.addr, reason = %close.reason, "closing connection")
            }
            _ => {
                warn!(conn = %self.id, peer = who, addr = %self.addr, reason = %close.reason, "closing connection")
            }
        }
        let relay = self.shared.identity.peer_id.clone();
        let goodbye = async {
            if flush && let Some(queue) = queue {
                while let Ok(Outbound::Frame(message)) = queue.try_recv() {
                    sink.send(binary(&message)).await?;
                }
            }
            if error {
                let message = Message::Error {
                    sender_id: Some(relay),
                    target_id: peer.cloned(),
                    message: close.reason.clone(),
                };
                sink.send(binary(&message)).await?;
            }
            let frame = CloseFrame {
                code: close_code_of(close.kind),
                reason: truncate(&close.reason, MAX_CLOSE_REASON).into(),
            };
            sink.send(WsMessage::Close(Some(frame))).await?;
            if wait {
                while let Some(Ok(frame)) = stream.next().await {
                    if let WsMessage::Close(_) = frame {
                        break;
                    }
                }
            }
            Ok::<(), axum::Error>(())
        };
        match timeout(limit, goodbye).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                debug!(conn = %self.id, peer = who, error = %e, "could not send the close frame")
            }
            Err(_) => {
                debug!(conn = %self.id, peer = who, "the client did not take the close frame in time; dropping the socket")
            }
        }
    }
}

/// Close reasons must fit a control frame: 125 bytes less the code.
const MAX_CLOSE_REASON: usize = 123;

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn close_code_of(kind: CloseKind) -> u16 {
    match kind {
        CloseKind::Normal => close_code::NORMAL,
        CloseKind::Protocol => close_code::PROTOCOL,
        CloseKind::Unsupported => close_code::UNSUPPORTED,
        CloseKind::Policy => close_code::POLICY,
        CloseKind::TooBig => close_code::SIZE,
        CloseKind::Internal => close_code::ERROR,
    }
}

fn binary(message: &Message) -> WsMessage {
    WsMessage::Binary(Bytes::from(protocol::encode(message)))
}

fn text_frame() -> End {
    End::refuse(
        CloseKind::Unsupported,
        "text frames are not part of the protocol: send one CBOR message per binary frame",
    )
}

fn closed_by_client(frame: Option<CloseFrame>) -> String {
    match frame {
        Some(f) if f.reason.as_str().is_empty() => format!("closed by the client ({})", f.code),
        Some(f) => format!("closed by the client ({}: {})", f.code, f.reason.as_str()),
        None => "closed by the client".into(),
    }
}

fn is_too_big(e: &axum::Error) -> bool {
    matches!(
        e.source()
            .and_then(|s| s.downcast_ref::<tungstenite::Error>()),
        Some(tungstenite::Error::Capacity(
            tungstenite::error::CapacityError::MessageTooLong { .. }
        ))
    )
}

/// The peer a frame claims to come from.
fn sender_of(message: &Message) -> Option<&PeerId> {
    match message {
        Message::Join { sender_id, .. }
        | Message::Peer { sender_id, .. }
        | Message::Leave { sender_id }
        | Message::Sync { sender_id, .. }
        | Message::Request { sender_id, .. }
        | Message::DocUnavailable { sender_id, .. }
        | Message::Ephemeral { sender_id, .. }
        | Message::RemoteSubscriptionChange { sender_id, .. }
        | Message::RemoteHeadsChanged { sender_id, .. } => Some(sender_id),
        Message::Error { sender_id, .. } => sender_id.as_ref(),
        Message::Extension { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn silence_is_excused_while_the_reader_waits_for_the_hub() {
        use futures_util::FutureExt as _;
        let heard = Heard::new();
        let (done, wait) = oneshot::channel::<()>();
        let excused = heard.excused(wait);
        tokio::pin!(excused);
        assert!((&mut excused).now_or_never().is_none(), "still waiting");
        assert_eq!(heard.silence(), Duration::ZERO);
        done.send(()).unwrap();
        excused.await.unwrap();
        assert!(!heard.waiting.load(Ordering::Relaxed));
    }

    #[test]
    fn close_reasons_are_cut_at_a_character_boundary() {
        let long = "关".repeat(60); // 180 bytes
        let cut = truncate(&long, MAX_CLOSE_REASON);
        assert!(cut.len() <= MAX_CLOSE_REASON);
        assert_eq!(cut.len(), 123);
        assert_eq!(truncate("short", MAX_CLOSE_REASON), "short");
    }
}
