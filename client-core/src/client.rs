//! The device's sync client: a sans-IO session around the [`Hub`], a
//! WebSocket transport, and a thin tokio loop joining them.
//!
//! - [`session`]: what to sync and when, as a synchronous state machine
//!   ([`session::Handshake`], then [`session::Session`]); every call returns
//!   a [`session::Step`] whose storage batch is already committed. Builds
//!   without tokio.
//! - `transport` (feature `runtime`): tokio-tungstenite only: connect,
//!   handshake, send, receive.
//! - [`sync_until_quiescent`] (feature `runtime`) connects, performs the
//!   automerge-repo handshake, syncs every document the device knows of
//!   (its grids' indexes, what they list, and its outbox of unacknowledged
//!   local edits), and returns once every document is acknowledged (the
//!   relay's heads equal ours) or the relay has gone quiet. [`watch`] keeps
//!   doing that, reconnecting with exponential backoff and jitter, and picks
//!   up edits other processes commit to the same database.
//!
//! The loop reads frames as they come and hands them to the session in
//! groups on a blocking thread (storage is synchronous), so one storage
//! transaction commits a whole group before any reply that acknowledges it
//! is sent.
//!
//! [`Hub`]: crate::sync::Hub

mod error;
pub mod session;
#[cfg(feature = "runtime")]
pub mod transport;

use std::time::Duration;

#[cfg(feature = "runtime")]
use std::sync::{Arc, Mutex};

use crate::ids::DocumentId;
#[cfg(feature = "runtime")]
use crate::store::Store;

pub use self::error::{ClientError, Lost, ProtocolError};
pub use self::session::storage_id;
#[cfg(feature = "runtime")]
use self::session::{Handshake, Session, Step};
#[cfg(feature = "runtime")]
use self::transport::Transport;

/// Where and how to sync.
#[cfg(feature = "runtime")]
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

#[cfg(feature = "runtime")]
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

/// Acknowledged and total documents of a session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
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

/// The delay before reconnect attempt `attempt` (0-based): exponential from
/// 0.5 s to 60 s, with "full jitter" drawn from `unit` in [0, 1).
pub fn backoff(attempt: u32, unit: f64) -> Duration {
    let cap = 60_000f64;
    let base = (500f64 * 2f64.powi(attempt.min(16) as i32)).min(cap);
    Duration::from_millis((base / 2.0 + base / 2.0 * unit) as u64)
}

/// Frames handed to the session in one step at most.
#[cfg(feature = "runtime")]
const MAX_FRAMES_PER_STEP: usize = 512;

#[cfg(feature = "runtime")]
type Shared<S> = Arc<Mutex<Session<Arc<S>>>>;

/// Connects, syncs every known document until the relay has acknowledged
/// them all (or gone quiet for `idle_timeout`), and disconnects.
#[cfg(feature = "runtime")]
pub async fn sync_until_quiescent<S: Store + 'static>(
    store: Arc<S>,
    cfg: &ClientConfig,
    mut on_event: impl FnMut(ClientEvent) + Send,
) -> Result<SyncReport, ClientError> {
    round(store, cfg, &mut on_event, None).await
}

/// Syncs continuously: connects, syncs, stays connected picking up local
/// edits every `poll` and remote changes as they come, and reconnects with
/// backoff when the connection drops, until `shutdown` resolves.
#[cfg(feature = "runtime")]
pub async fn watch<S: Store + 'static>(
    store: Arc<S>,
    cfg: &ClientConfig,
    poll: Duration,
    mut on_event: impl FnMut(ClientEvent) + Send,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ClientError> {
    tokio::pin!(shutdown);
    let mut attempt = 0u32;
    loop {
        let result = tokio::select! {
            r = round(Arc::clone(&store), cfg, &mut on_event, Some(poll)) => r,
            () = &mut shutdown => return Ok(()),
        };
        match result {
            Err(e) if e.is_local() => return Err(e),
            Err(e) => on_event(ClientEvent::Disconnected {
                reason: e.to_string(),
            }),
            Ok(_) => attempt = 0,
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

/// One connection: open, drive, close, report.
#[cfg(feature = "runtime")]
async fn round<S: Store + 'static>(
    store: Arc<S>,
    cfg: &ClientConfig,
    on_event: &mut (impl FnMut(ClientEvent) + Send),
    watch_poll: Option<Duration>,
) -> Result<SyncReport, ClientError> {
    let extra = cfg.extra_documents.clone();
    let handshake = tokio::task::spawn_blocking(move || Handshake::open(store, extra))
        .await
        .map_err(Lost::Worker)??;
    let mut transport = Transport::connect(cfg).await?;
    let answer = transport
        .handshake(&handshake.join(), cfg.connect_timeout)
        .await?;
    let session = Arc::new(Mutex::new(handshake.accept(answer)?));
    on_event(ClientEvent::Connected {
        relay: cfg.url.clone(),
    });
    let result = drive(&mut transport, &session, cfg, on_event, watch_poll).await;
    transport.close().await;
    result?;
    let mut report = blocking(&session, Session::report).await?;
    let traffic = transport.traffic();
    report.frames_in = traffic.frames_in;
    report.frames_out = traffic.frames_out;
    report.bytes_in = traffic.bytes_in;
    report.bytes_out = traffic.bytes_out;
    Ok(report)
}

/// Drives one connection. Without `watch_poll` it returns once everything
/// is acknowledged or the relay is idle for `idle_timeout`; with it, it
/// keeps going, picking up local edits at that interval, until the
/// connection ends.
#[cfg(feature = "runtime")]
async fn drive<S: Store + 'static>(
    transport: &mut Transport,
    session: &Shared<S>,
    cfg: &ClientConfig,
    on_event: &mut (impl FnMut(ClientEvent) + Send),
    watch_poll: Option<Duration>,
) -> Result<(), ClientError> {
    let mut step = blocking(session, Session::discover).await?;
    let mut last_progress = None;
    let mut last_data = tokio::time::Instant::now();
    let mut poll = watch_poll.map(tokio::time::interval);
    loop {
        let progress = step.progress;
        deliver(transport, step, on_event).await?;
        tracing::debug!(
            done = progress.done,
            total = progress.total,
            "sync progress"
        );
        if last_progress != Some(progress) {
            on_event(ClientEvent::Progress {
                done: progress.done,
                total: progress.total,
            });
            last_progress = Some(progress);
        }
        if watch_poll.is_none() && progress.done == progress.total {
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
        step = tokio::select! {
            frames = transport.receive(MAX_FRAMES_PER_STEP) => {
                let frames = frames?;
                last_data = tokio::time::Instant::now();
                blocking(session, move |s| s.handle(frames)).await?
            }
            () = tick => blocking(session, Session::local_edits).await?,
            () = idle, if watch_poll.is_none() => return Ok(()),
        };
    }
}

/// Reports a step's remote changes and sends its frames; a step that
/// closes the connection ends the round after its frames are sent.
#[cfg(feature = "runtime")]
async fn deliver(
    transport: &mut Transport,
    step: Step,
    on_event: &mut (impl FnMut(ClientEvent) + Send),
) -> Result<(), ClientError> {
    for doc in step.changed {
        on_event(ClientEvent::RemoteChange { doc });
    }
    transport.send(step.send).await?;
    match step.close {
        Some(reason) => Err(ProtocolError::Closed(reason).into()),
        None => Ok(()),
    }
}

/// Runs blocking session work off the async threads.
#[cfg(feature = "runtime")]
async fn blocking<S, T>(
    session: &Shared<S>,
    f: impl FnOnce(&mut Session<Arc<S>>) -> Result<T, ClientError> + Send + 'static,
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
    .map_err(Lost::Worker)?
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
}
