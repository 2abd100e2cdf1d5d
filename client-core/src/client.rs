//! The device's sync client: the tokio shell around the [`Hub`].
//!
//! [`sync_until_quiescent`] connects to a relay, performs the automerge-repo
//! handshake, syncs every document the device knows of (its grids' indexes,
//! what they list, and its outbox of unacknowledged local edits), follows
//! new grid-index entries, and returns once every document is acknowledged
//! (the relay's heads equal ours) or the relay has gone quiet. [`watch`]
//! keeps doing that, reconnecting with exponential backoff and jitter, and
//! picks up edits other processes commit to the same database.
//!
//! Frames are read as they come and handed to the hub in groups on a
//! blocking thread (storage is synchronous), so one storage transaction
//! commits a whole group before any reply that acknowledges it is sent.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::device::{Device, DeviceError};
use crate::ids::DocumentId;
use crate::model::grid_index;
use crate::protocol::{self, Message, PeerId, PeerMetadata, StorageId};
use crate::repo::RepoError;
use crate::store::{Batch, Store, StoreError, meta};
use crate::sync::{self, Effects, Hub, HubEvent, SyncError};

/// Where and how to sync.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `ws://host:port/` of the relay.
    pub url: String,
    /// Bearer token sent at the WebSocket upgrade.
    pub token: Option<String>,
    /// Give up on a round when nothing arrives for this long.
    pub idle_timeout: Duration,
    pub connect_timeout: Duration,
    /// Largest frame accepted from the relay.
    pub max_frame_bytes: usize,
    /// Documents to sync besides those the device's grids list (for
    /// example a document another automerge-repo client shared by URL).
    pub extra_documents: Vec<DocumentId>,
}

impl ClientConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            token: None,
            idle_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(10),
            max_frame_bytes: 64 << 20,
            extra_documents: Vec::new(),
        }
    }
}

/// What the client reports while it works.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientEvent {
    Connected {
        relay: String,
    },
    /// `done` of `total` documents acknowledged.
    Progress {
        done: usize,
        total: usize,
    },
    /// The relay sent changes to a document.
    RemoteChange {
        doc: DocumentId,
    },
    Disconnected {
        reason: String,
    },
    Retrying {
        after: Duration,
        attempt: u32,
    },
}

/// The outcome of a sync round.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Documents synced in this round.
    pub documents: usize,
    /// Documents whose heads the relay confirmed.
    pub acknowledged: usize,
    /// Documents with local edits the relay has not acknowledged.
    pub pending: Vec<DocumentId>,
    /// Documents that received changes from the relay.
    pub received: usize,
    pub frames_in: u64,
    pub frames_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Why a sync round failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "could not reach the relay at {url}: {source}; check the address and your signal, then retry"
    )]
    Connect {
        url: String,
        source: Box<tungstenite::Error>,
    },
    #[error("the relay at {url} refused the connection: HTTP {status}{hint}")]
    Refused {
        url: String,
        status: u16,
        hint: &'static str,
    },
    #[error("timed out connecting to {0}; check the address and your signal, then retry")]
    ConnectTimeout(String),
    #[error("the relay broke the protocol: {0}")]
    Protocol(String),
    #[error("the connection to the relay was lost: {0}")]
    Lost(String),
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error(transparent)]
    Sync(#[from] SyncError),
}

impl From<StoreError> for ClientError {
    fn from(e: StoreError) -> Self {
        ClientError::Sync(SyncError::Repo(RepoError::Store(e)))
    }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// This device's storage id, made on first use.
pub fn storage_id(store: &impl Store) -> Result<StorageId, StoreError> {
    if let Some(bytes) = store.meta(meta::STORAGE_ID)? {
        return Ok(StorageId::new(String::from_utf8_lossy(&bytes).into_owned()));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let mut batch = Batch::new();
    batch.put_meta(meta::STORAGE_ID, id.clone().into_bytes());
    store.write(batch)?;
    Ok(StorageId::new(id))
}

/// The delay before reconnect attempt `attempt` (0-based): exponential from
/// 0.5 s to 60 s, with "full jitter" drawn from `unit` in [0, 1).
pub fn backoff(attempt: u32, unit: f64) -> Duration {
    let cap = 60_000f64;
    let base = (500f64 * 2f64.powi(attempt.min(16) as i32)).min(cap);
    Duration::from_millis((base / 2.0 + base / 2.0 * unit) as u64)
}

async fn connect(cfg: &ClientConfig) -> Result<Socket, ClientError> {
    let mut request = cfg
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| ClientError::Connect {
            url: cfg.url.clone(),
            source: Box::new(e),
        })?;
    if let Some(token) = &cfg.token {
        let value = format!("Bearer {token}").parse().map_err(|_| {
            ClientError::Protocol("the token contains characters a header cannot carry".into())
        })?;
        request.headers_mut().insert("authorization", value);
    }
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(cfg.max_frame_bytes))
        .max_frame_size(Some(cfg.max_frame_bytes));
    let connecting = tokio_tungstenite::connect_async_with_config(request, Some(ws_config), true);
    match tokio::time::timeout(cfg.connect_timeout, connecting).await {
        Err(_) => Err(ClientError::ConnectTimeout(cfg.url.clone())),
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(tungstenite::Error::Http(resp))) => {
            let status = resp.status().as_u16();
            let hint = match status {
                401 => ": the token is missing, unknown or revoked; run `gridsync login` again",
                403 => ": this account may not sync here",
                503 => ": the relay is full; it will be retried",
                _ => "",
            };
            Err(ClientError::Refused {
                url: cfg.url.clone(),
                status,
                hint,
            })
        }
        Ok(Err(e)) => Err(ClientError::Connect {
            url: cfg.url.clone(),
            source: Box::new(e),
        }),
    }
}

/// Sends `join` and waits for `peer`; returns the relay's id and metadata.
async fn handshake(
    socket: &mut Socket,
    me: &PeerId,
    storage: &StorageId,
    timeout: Duration,
) -> Result<(PeerId, PeerMetadata), ClientError> {
    let join = Message::Join {
        sender_id: me.clone(),
        supported_protocol_versions: vec![protocol::PROTOCOL_VERSION.to_owned()],
        peer_metadata: sync::with_extensions(PeerMetadata {
            storage_id: Some(storage.clone()),
            is_ephemeral: Some(false),
            ..Default::default()
        }),
    };
    socket
        .send(WsMessage::Binary(protocol::encode(&join).into()))
        .await
        .map_err(|e| ClientError::Lost(e.to_string()))?;
    loop {
        let frame = tokio::time::timeout(timeout, socket.next())
            .await
            .map_err(|_| ClientError::Protocol("no answer to `join`".into()))?;
        match frame {
            None => return Err(ClientError::Lost("closed during the handshake".into())),
            Some(Err(e)) => return Err(ClientError::Lost(e.to_string())),
            Some(Ok(WsMessage::Binary(bytes))) => match protocol::decode(&bytes) {
                Ok(Message::Peer {
                    sender_id,
                    peer_metadata,
                    ..
                }) => return Ok((sender_id, peer_metadata)),
                Ok(Message::Error { message, .. }) => return Err(ClientError::Protocol(message)),
                Ok(other) => {
                    return Err(ClientError::Protocol(format!(
                        "expected `peer`, got `{}`",
                        other.type_name()
                    )));
                }
                Err(e) => return Err(ClientError::Protocol(e.to_string())),
            },
            Some(Ok(WsMessage::Close(frame))) => {
                let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                return Err(ClientError::Lost(format!(
                    "closed during the handshake: {reason}"
                )));
            }
            Some(Ok(_)) => {}
        }
    }
}

/// One connection's sync state: the hub, what we want, what is done.
struct Session<S> {
    hub: Hub<Arc<S>>,
    device: Device<Arc<S>>,
    relay: PeerId,
    wanted: BTreeSet<DocumentId>,
    unavailable: HashSet<DocumentId>,
    outbox: Vec<(DocumentId, u64)>,
    received: BTreeSet<DocumentId>,
    extra: Vec<DocumentId>,
    /// Documents the relay confirmed hold our exact heads (heads batch).
    confirmed: HashSet<DocumentId>,
    /// Documents waiting to be asked for, and those asked for and not yet
    /// settled: at most [`IN_FLIGHT`] at once, so the relay's replies never
    /// pile up beyond what this client reads.
    queue: std::collections::VecDeque<DocumentId>,
    in_flight: HashSet<DocumentId>,
}

/// Documents a client syncs at once.
const IN_FLIGHT: usize = 256;

impl<S: Store + 'static> Session<S> {
    /// Wants every document the device should hold and is not yet syncing.
    fn discover(&mut self, fx: &mut Effects) -> Result<(), ClientError> {
        let mut docs = self.device.known_documents()?;
        self.outbox = self.hub.repo().store().outbox()?;
        let edited: HashSet<DocumentId> = self.outbox.iter().map(|(d, _)| *d).collect();
        docs.extend(edited.iter().copied());
        docs.extend(self.extra.iter().copied());
        let new: Vec<DocumentId> = docs
            .into_iter()
            .filter(|d| self.wanted.insert(*d))
            .collect();
        if self.hub.speaks_heads_batch(&self.relay) {
            // Unedited documents we hold: one message asks which changed.
            let (edited_or_extra, unedited): (Vec<_>, Vec<_>) = new
                .into_iter()
                .partition(|d| edited.contains(d) || self.extra.contains(d));
            let unknown = self.hub.send_heads_batch(&unedited, &self.relay, fx)?;
            tracing::debug!(
                edited = edited_or_extra.len(),
                batched = unedited.len() - unknown.len(),
                unknown = unknown.len(),
                "discovered documents"
            );
            self.queue
                .extend(edited_or_extra.into_iter().chain(unknown));
        } else {
            self.queue.extend(new);
        }
        self.pump(fx)
    }

    fn settled(&self, doc: &DocumentId) -> bool {
        self.confirmed.contains(doc)
            || self.hub.in_sync(doc, &self.relay) == Some(true)
            || self.unavailable.contains(doc)
    }

    /// Asks for queued documents while fewer than [`IN_FLIGHT`] are unsettled.
    fn pump(&mut self, fx: &mut Effects) -> Result<(), ClientError> {
        let settled: Vec<DocumentId> = self
            .in_flight
            .iter()
            .filter(|d| self.settled(d))
            .copied()
            .collect();
        for doc in settled {
            self.in_flight.remove(&doc);
        }
        while self.in_flight.len() < IN_FLIGHT {
            let Some(doc) = self.queue.pop_front() else {
                break;
            };
            self.hub.want(&doc, &self.relay, fx)?;
            self.in_flight.insert(doc);
        }
        Ok(())
    }

    fn handle(&mut self, frames: Vec<Message>, fx: &mut Effects) -> Result<(), ClientError> {
        for msg in frames {
            tracing::trace!(kind = msg.type_name(), "frame from the relay");
            self.hub.receive(&self.relay, msg, fx)?;
        }
        let mut changed_indexes = Vec::new();
        let mut stale = Vec::new();
        for ev in &fx.events {
            match ev {
                HubEvent::Changed { doc, .. } => {
                    self.received.insert(*doc);
                    if self.is_index(doc) {
                        changed_indexes.push(*doc);
                    }
                }
                HubEvent::Unavailable { doc, .. } => {
                    self.unavailable.insert(*doc);
                }
                HubEvent::SameHeads { docs, of } => {
                    tracing::debug!(same = docs.len(), of = of.len(), "heads batch answered");
                    self.confirmed.extend(docs.iter().copied());
                    let same: HashSet<&DocumentId> = docs.iter().collect();
                    stale.extend(of.iter().filter(|d| !same.contains(d)).copied());
                }
                HubEvent::Refused { .. } | HubEvent::Denied { .. } => {}
            }
        }
        // Documents whose heads differ go through the sync protocol.
        self.queue.extend(stale);
        // A grid index that gained entries lists documents to ask for.
        for index in changed_indexes {
            let listed: Vec<DocumentId> = match self.hub.document(&index) {
                Some(doc) => grid_index::read(doc)
                    .map(|i| i.documents().collect())
                    .unwrap_or_default(),
                None => Vec::new(),
            };
            for doc in listed {
                if self.wanted.insert(doc) {
                    self.queue.push_back(doc);
                }
            }
        }
        self.pump(fx)?;
        // Durable before anything that acknowledges it is sent.
        self.hub
            .repo()
            .store()
            .write(std::mem::take(&mut fx.batch))?;
        Ok(())
    }

    fn is_index(&self, doc: &DocumentId) -> bool {
        self.device
            .identity()
            .grids
            .iter()
            .any(|g| g.index_document_id() == *doc)
    }

    /// (acknowledged, total): a document counts once the relay's heads
    /// equal ours, or once the relay said it has none and neither do we.
    fn progress(&self) -> (usize, usize) {
        let done = self.wanted.iter().filter(|d| self.settled(d)).count();
        (done, self.wanted.len())
    }

    /// Clears acknowledged documents from the outbox; returns what is left.
    fn settle_outbox(&mut self) -> Result<Vec<DocumentId>, ClientError> {
        let mut batch = Batch::new();
        let mut pending = Vec::new();
        for (doc, token) in &self.outbox {
            if self.hub.in_sync(doc, &self.relay) == Some(true) {
                batch.clear_local(*doc, *token);
            } else {
                pending.push(*doc);
            }
        }
        self.hub.repo().store().write(batch)?;
        Ok(pending)
    }
}

/// Runs blocking hub work off the async threads.
async fn blocking<S, T>(
    session: &Arc<Mutex<Session<S>>>,
    f: impl FnOnce(&mut Session<S>) -> Result<T, ClientError> + Send + 'static,
) -> Result<T, ClientError>
where
    S: Store + 'static,
    T: Send + 'static,
{
    let session = Arc::clone(session);
    tokio::task::spawn_blocking(move || {
        let mut guard = session.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    })
    .await
    .map_err(|e| ClientError::Lost(format!("sync worker failed: {e}")))?
}

async fn send_all(
    socket: &mut Socket,
    fx: Effects,
    report: &mut SyncReport,
) -> Result<(), ClientError> {
    for (_, msg) in fx.send {
        tracing::trace!(kind = msg.type_name(), "frame to the relay");
        let bytes = protocol::encode(&msg);
        report.frames_out += 1;
        report.bytes_out += bytes.len() as u64;
        socket
            .feed(WsMessage::Binary(bytes.into()))
            .await
            .map_err(|e| ClientError::Lost(e.to_string()))?;
    }
    socket
        .flush()
        .await
        .map_err(|e| ClientError::Lost(e.to_string()))?;
    if let Some((_, reason)) = fx.close.into_iter().next() {
        return Err(ClientError::Protocol(reason));
    }
    Ok(())
}

/// Connects, syncs every known document until the relay has acknowledged
/// them all (or gone quiet for `idle_timeout`), and disconnects.
pub async fn sync_until_quiescent<S: Store + 'static>(
    store: Arc<S>,
    cfg: &ClientConfig,
    mut on_event: impl FnMut(ClientEvent) + Send,
) -> Result<SyncReport, ClientError> {
    let (mut socket, session) = open_session(store, cfg).await?;
    on_event(ClientEvent::Connected {
        relay: cfg.url.clone(),
    });
    let mut report = SyncReport::default();
    let result = run_session(&mut socket, &session, cfg, &mut report, &mut on_event, None).await;
    let _ = socket.close(None).await;
    result?;
    finish_report(&session, report).await
}

async fn finish_report<S: Store + 'static>(
    session: &Arc<Mutex<Session<S>>>,
    mut report: SyncReport,
) -> Result<SyncReport, ClientError> {
    let (done, total, pending, received) = blocking(session, |s| {
        let pending = s.settle_outbox()?;
        let (done, total) = s.progress();
        Ok((done, total, pending, s.received.len()))
    })
    .await?;
    report.documents = total;
    report.acknowledged = done;
    report.pending = pending;
    report.received = received;
    Ok(report)
}

async fn open_session<S: Store + 'static>(
    store: Arc<S>,
    cfg: &ClientConfig,
) -> Result<(Socket, Arc<Mutex<Session<S>>>), ClientError> {
    let (device, storage) = {
        let store = Arc::clone(&store);
        tokio::task::spawn_blocking(move || -> Result<_, ClientError> {
            let storage = storage_id(&*store)?;
            Ok((Device::open(store)?, storage))
        })
        .await
        .map_err(|e| ClientError::Lost(e.to_string()))??
    };
    let me = PeerId::new(format!(
        "gridsync-{}-{}",
        device.identity().user,
        &storage.as_str()[..8]
    ));
    let mut socket = connect(cfg).await?;
    let (relay, relay_meta) = handshake(&mut socket, &me, &storage, cfg.connect_timeout).await?;
    let mut hub = Hub::with_actor(store, me, 100_000, device.repo().actor().clone());
    hub.connect(relay.clone(), &relay_meta);
    let session = Session {
        hub,
        device,
        relay,
        wanted: BTreeSet::new(),
        unavailable: HashSet::new(),
        outbox: Vec::new(),
        received: BTreeSet::new(),
        extra: cfg.extra_documents.clone(),
        confirmed: HashSet::new(),
        queue: std::collections::VecDeque::new(),
        in_flight: HashSet::new(),
    };
    Ok((socket, Arc::new(Mutex::new(session))))
}

/// Drives one connection. Without `watch_poll` it returns once everything
/// is acknowledged; with it, it keeps going, polling the store for local
/// edits at that interval, until the connection ends.
async fn run_session<S: Store + 'static>(
    socket: &mut Socket,
    session: &Arc<Mutex<Session<S>>>,
    cfg: &ClientConfig,
    report: &mut SyncReport,
    on_event: &mut (impl FnMut(ClientEvent) + Send),
    watch_poll: Option<Duration>,
) -> Result<(), ClientError> {
    let fx = blocking(session, |s| {
        let mut fx = Effects::default();
        s.discover(&mut fx)?;
        Ok(fx)
    })
    .await?;
    send_all(socket, fx, report).await?;
    let mut last_progress = (usize::MAX, 0);
    let mut last_data = tokio::time::Instant::now();
    let mut poll = watch_poll.map(tokio::time::interval);
    loop {
        let (done, total) = blocking(session, |s| Ok(s.progress())).await?;
        tracing::debug!(done, total, "sync progress");
        if (done, total) != last_progress {
            // Acknowledged edits leave the outbox as soon as they are, so a
            // lost connection never forgets what the relay already holds.
            blocking(session, |s| s.settle_outbox().map(drop)).await?;
            on_event(ClientEvent::Progress { done, total });
            last_progress = (done, total);
        }
        if watch_poll.is_none() && done == total {
            return Ok(());
        }
        // Pings keep the socket alive but are not progress: only data
        // frames push the deadline back.
        let idle = tokio::time::sleep_until(last_data + cfg.idle_timeout);
        let tick = async {
            match poll.as_mut() {
                Some(p) => {
                    p.tick().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let first = tokio::select! {
            frame = socket.next() => frame,
            () = tick => {
                let fx = blocking(session, |s| {
                    let mut fx = Effects::default();
                    s.settle_outbox()?;
                    let known = s.wanted.clone();
                    s.discover(&mut fx)?;
                    for (doc, _) in s.outbox.clone() {
                        if known.contains(&doc) {
                            s.hub.local_change(&doc, &mut fx)?;
                        }
                    }
                    Ok(fx)
                })
                .await?;
                send_all(socket, fx, report).await?;
                continue;
            }
            () = idle, if watch_poll.is_none() => {
                return Ok(());
            }
        };
        // Take the frame that woke us and whatever else is already queued.
        let mut frames = Vec::new();
        let mut next = first;
        loop {
            match next {
                None => return Err(ClientError::Lost("the relay closed the connection".into())),
                Some(Err(e)) => return Err(ClientError::Lost(e.to_string())),
                Some(Ok(WsMessage::Binary(bytes))) => {
                    last_data = tokio::time::Instant::now();
                    report.frames_in += 1;
                    report.bytes_in += bytes.len() as u64;
                    match protocol::decode_with_extensions(&bytes, sync::EXTENSION_MESSAGES) {
                        Ok(m) => frames.push(m),
                        Err(e) => {
                            return Err(ClientError::Protocol(format!(
                                "undecodable frame from the relay: {e}"
                            )));
                        }
                    }
                }
                Some(Ok(WsMessage::Close(frame))) => {
                    let reason = frame
                        .map(|f| f.reason.to_string())
                        .unwrap_or_else(|| "no reason given".into());
                    return Err(ClientError::Lost(format!(
                        "the relay closed the connection: {reason}"
                    )));
                }
                Some(Ok(_)) => {}
            }
            if frames.len() >= 512 {
                break;
            }
            match futures_util::FutureExt::now_or_never(socket.next()) {
                Some(n) => next = n,
                None => break,
            }
        }
        let (fx, changed) = blocking(session, move |s| {
            let mut fx = Effects::default();
            let before = s.received.clone();
            s.handle(frames, &mut fx)?;
            let changed: Vec<DocumentId> = s.received.difference(&before).copied().collect();
            Ok((fx, changed))
        })
        .await?;
        for doc in changed {
            on_event(ClientEvent::RemoteChange { doc });
        }
        send_all(socket, fx, report).await?;
    }
}

/// Syncs continuously: connects, syncs, stays connected picking up local
/// edits every `poll` and remote changes as they come, and reconnects with
/// backoff when the connection drops, until `shutdown` resolves.
pub async fn watch<S: Store + 'static>(
    store: Arc<S>,
    cfg: &ClientConfig,
    poll: Duration,
    mut on_event: impl FnMut(ClientEvent) + Send,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ClientError> {
    tokio::pin!(shutdown);
    let mut attempt = 0u32;
    loop {
        let round = async {
            let (mut socket, session) = open_session(Arc::clone(&store), cfg).await?;
            on_event(ClientEvent::Connected {
                relay: cfg.url.clone(),
            });
            let mut report = SyncReport::default();
            let result = run_session(
                &mut socket,
                &session,
                cfg,
                &mut report,
                &mut on_event,
                Some(poll),
            )
            .await;
            let _ = socket.close(None).await;
            result
        };
        let result = tokio::select! {
            r = round => r,
            () = &mut shutdown => return Ok(()),
        };
        match result {
            Err(ClientError::Device(e)) => return Err(ClientError::Device(e)),
            Err(ClientError::Sync(e)) => return Err(ClientError::Sync(e)),
            Err(e) => on_event(ClientEvent::Disconnected {
                reason: e.to_string(),
            }),
            Ok(()) => attempt = 0,
        }
        let after = backoff(attempt, fastrand::f64());
        on_event(ClientEvent::Retrying { after, attempt });
        attempt = attempt.saturating_add(1);
        tokio::select! {
            () = tokio::time::sleep(after) => {}
            () = &mut shutdown => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped_with_jitter() {
        assert_eq!(backoff(0, 0.0), Duration::from_millis(250));
        assert_eq!(backoff(0, 0.999_999), Duration::from_millis(499));
        assert!(backoff(3, 0.0) > backoff(2, 0.999));
        assert_eq!(backoff(30, 1.0), Duration::from_secs(60));
        assert!(backoff(30, 0.0) >= Duration::from_secs(30));
    }

    #[test]
    fn storage_id_is_made_once() {
        let store = crate::store::MemoryStore::new();
        let a = storage_id(&store).unwrap();
        assert_eq!(storage_id(&store).unwrap(), a);
    }
}
