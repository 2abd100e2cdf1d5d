//! The GridSync relay: automerge-repo's network protocol v1 over WebSocket,
//! persisted to redb.
//!
//! Devices connect to `/` (as to the JS sync server), send `join`, get
//! `peer`, and then sync documents; the relay keeps every document it is
//! sent and hands it to every device that may see it. `/healthz` reports
//! liveness (503 while the storage refuses writes); `/api/me` tells a token's or a
//! session's owner who they are (for `gridsync login` and the console).
//! `POST /api/login` checks a name and password and sets a session cookie,
//! `POST /api/logout` ends it, and `POST /api/tokens` issues a logged-in
//! person a device token. `GET /api/export` serves the district-review export
//! (XLSX, CSV, GeoJSON, JSON) to reviewer, supervisor and admin bearer
//! tokens, scoped by the [`registry`]; see [`export`], which also backs the
//! `gridsync-server export` command. The records API (tickets, actions,
//! figures, visits, a server-sent-events stream; `api.rs`) is served under
//! `/api` and described at `/api/openapi.json`. `GET /metrics` is the
//! relay's metrics in the Prometheus text format, for an admin's token
//! from loopback unless configured otherwise (`metrics.rs`,
//! [`MetricsFrom`]). [`run`] serves a bound listener until
//! its `shutdown` future completes; the `gridsync-server` binary wraps it.
//!
//! # Identity and access
//!
//! - **Who**: the [`registry`] (grids, users with a role and a scope,
//!   SHA-256 hashes of tokens) lives in the relay's redb file. While it has
//!   no user the relay is open and logs a warning ([`AuthMode`]); from the
//!   first user on, an upgrade needs `Authorization: Bearer` or `?token=`,
//!   else HTTP 401 (429 once an address has failed too often). The peer id
//!   a connection joins with is bound to its user for the connection's life.
//!   People may also have a password ([`password`]: Argon2id hashes only);
//!   a login opens a session (SHA-256 of its id stored, with an expiry),
//!   and every `/api` route takes the session cookie or a bearer token
//!   through one function, `auth::authenticate` (CSRF token and origin
//!   checked for cookie requests that change anything). The WebSocket
//!   takes bearer tokens only.
//! - **What**: the hub asks the access policy (`access.rs`) before it sends
//!   anything about a document and before it stores changes; a document a
//!   peer may not see is `doc-unavailable`; a refused change is an `error`
//!   frame and a close, and nothing of it is stored. Actor ids are
//!   registered to their users; changes or lifecycle events made in another
//!   user's name are refused.
//! - **Revocation**: `token revoke` (another process) bumps the registry's
//!   generation counter; a task polls it every `Config::registry_poll` and
//!   the hub thread then re-checks its connections' tokens and closes the
//!   revoked ones.
//! - **Audit**: the hub thread writes who changed which document, every
//!   refusal, denial, failed login and revocation to the [`audit`] table in
//!   the same transaction as the round it belongs to.
//!
//! # Threading model
//!
//! ```text
//!  tokio tasks (one per WebSocket)          one OS thread ("gridsync-hub")
//!  ┌──────────────────────────┐  Input    ┌──────────────────────────────┐
//!  │ reader: frame → Message ─┼──────────▶│ block for one input, drain   │
//!  │                          │ (bounded) │ up to 256 more, Hub::receive │
//!  │ writer: Message → frame ◀┼───────────┤ each, ONE store.write, then  │
//!  └──────────────────────────┘ Outbound  │ try_send frames to queues    │
//!                               (bounded, └──────────────────────────────┘
//!                                per connection)
//! ```
//!
//! - **Connection tasks** (tokio) own the sockets. Each decodes frames into
//!   [`client_core::protocol::Message`] and awaits room in the hub's input
//!   queue (counted in inputs, and in bytes with a share per connection:
//!   `budget.rs`) before reading the next one, so a busy hub slows clients
//!   down through TCP instead of buffering without bound. Its writer drains the
//!   connection's own outbound queue and sends keepalive pings. Only
//!   `connection.rs`, `auth.rs`, `session.rs` and `export/http.rs` see axum or
//!   tungstenite types. The credential check (`auth::authenticate`: the
//!   token or session and its user, the registry generation, and the grids of the user's
//!   scope, a scan of the grid table for a community or street scope;
//!   nothing is cached) and the registry poll (one key read) are the only
//!   storage reads on tokio workers. Password checks (Argon2id), sessions
//!   opened and ended, and device tokens issued run on tokio's blocking
//!   pool.
//! - **Exports** read the store on tokio's blocking pool (at most two at
//!   once), never on the async workers or the hub thread; redb's
//!   multi-version reads do not block the hub's commits.
//! - **The hub thread** owns the sans-IO [`client_core::sync::Hub`] over
//!   the [`RedbStore`]; document storage is synchronous and never runs on
//!   a tokio worker. It blocks for one input, folds every input already
//!   queued (up to `Config::max_commit_inputs`) into one `Effects` (**group
//!   commit**), commits the batch (with the round's audit rows and newly
//!   registered actor ids) in one transaction, and only then routes the
//!   frames: nothing is acknowledged before it is durable. (A round is
//!   split in two only where a peer's newer connection replaces its older
//!   one, where a registry re-check closes connections, or where reading
//!   the store fails.) If the commit fails,
//!   nothing from that round is sent, its documents are dropped from memory
//!   and its peers are closed so they retry. The hub thread is also the
//!   only writer of the category catalog document: it writes it from the
//!   registry ([`catalog`]) before the relay listens and again on every
//!   registry change, outside a round's batch, and sends it on to the
//!   devices subscribed.
//! - **Storage faults**: a failed commit (a full disk) also puts the relay
//!   in a read-only state, logged once: frames that would store anything
//!   get an `error` frame saying why and a close (devices keep their
//!   changes and retry), reads are served, `/healthz` answers 503 with the
//!   reason. A probe on a backoff (`Config::storage_retry`) lets the store
//!   recover and commits a small row; the first that succeeds ends it,
//!   without a restart.
//! - **Backpressure**: the hub never waits for a socket. Frames go to a
//!   connection with `try_send`; a connection whose queue is full, in
//!   frames or in bytes (a client that stopped reading), is closed, and
//!   everyone else keeps being served.
//! - **Limits**: every map the hub keeps per connection and keys by client
//!   input is bounded (`Config::max_subscriptions` and its neighbours), a
//!   user holds at most `Config::max_connections_per_user` WebSockets, and
//!   the accept loop bounds connections that have not finished a request
//!   (`Config::max_pending_http`, each with `Config::header_read_timeout`
//!   to send its headers), so a slow-loris client cannot use up file
//!   descriptors. Text a client controls is cut
//!   ([`client_core::clip::clip`]) before it reaches a log line, an audit
//!   row or an `error` frame.
//! - **Shutdown**: stop accepting, close every WebSocket with a normal
//!   close frame (after the frames already queued for it), let the hub
//!   commit what it has, join its thread, return.
//!
//! ```no_run
//! use std::sync::Arc;
//! use client_core::store::RedbStore;
//!
//! # async fn example() -> anyhow::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3030").await?;
//! let store = Arc::new(RedbStore::open("relay.redb")?);
//! let stop = async { tokio::signal::ctrl_c().await.ok(); };
//! server::run(listener, store, server::Config::default(), stop).await?;
//! # Ok(())
//! # }
//! ```

mod access;
pub mod admin;
mod api;
pub mod audit;
mod auth;
mod blobs;
mod budget;
pub mod catalog;
mod config;
mod connection;
mod console;
mod error;
pub mod export;
mod field_app;
#[doc(hidden)]
pub mod fuzzing;
mod identity;
mod metrics;
pub mod migrate;
pub mod password;
pub mod registry;
mod relay;
mod session;
mod storage;
mod web;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize};

use client_core::store::{RedbStore, Store};
use tokio::sync::watch;
use tracing::{error, info, warn};

pub use crate::access::ACTORS_TABLE;
/// The records API's routes (method, path), as its router serves them.
pub use crate::api::ROUTES as API_ROUTES;
pub use crate::auth::Principal;
pub use crate::blobs::BlobError;
pub use crate::config::{AuthMode, Config, MapTiles, MetricsFrom, TileCrs};
pub use crate::error::ServerError;

use crate::access::Policy;
use crate::audit::AuditLog;
use crate::auth::Gate;
use crate::connection::Shared;
use crate::registry::Registry;
use crate::relay::{Guard, Input};

/// Serves the relay on `listener` over `store` until `shutdown` completes,
/// then drains: stops accepting, closes every connection with a normal
/// close frame, lets the hub thread commit what it has, and returns. The
/// store is released when this returns.
pub async fn run(
    listener: tokio::net::TcpListener,
    store: Arc<RedbStore>,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    run_over(listener, store.clone(), store, config, shutdown).await
}

/// [`run`], with the hub's documents in `documents`, a [`Store`] that
/// writes into `store` (a wrapper of it, such as
/// [`client_core::store::FaultyStore`] in tests of a failing disk). The
/// registry, the token checks and exports use `store` directly.
pub async fn run_over<S: Store + 'static>(
    listener: tokio::net::TcpListener,
    store: Arc<RedbStore>,
    documents: S,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    config.validate()?;
    let db = store.database();
    let registry = Registry::new(&db)?;
    let open = match config.auth {
        AuthMode::Open => true,
        AuthMode::Required => false,
        AuthMode::FromRegistry => !registry.has_users()?,
    };
    if open {
        warn!(
            "this relay is OPEN: anyone who can reach it reads and writes every grid. \
             Add a user (`gridsync-server user add`) and tokens are required from then on"
        );
    }
    let generation = registry.generation()?;
    // Before anything is served: no ticket may still hold a contact.
    if let Some(migrated) = migrate::personal_data_once(&documents)? {
        info!(
            tickets = migrated.tickets,
            rewritten = migrated.rewritten.len(),
            contacts_moved = migrated.contacts_moved,
            "took residents' contacts out of tickets (migrate personal-data)"
        );
    }
    let open = Arc::new(AtomicBool::new(open));
    let guard = Guard {
        policy: Policy::load(&db, open.clone())
            .map_err(ServerError::Actors)?
            .with_summaries({
                let store = store.clone();
                move |doc| store.summary(doc)
            }),
        audit: AuditLog::open(&db)?,
        store: store.clone(),
        mode: config.auth,
        generation,
    };
    let gate = Gate::new(store.clone(), open, &config);
    // Made now, so the first login for an unknown name takes no longer
    // than any other, but not waited for: an Argon2id hash takes up to a
    // second on a busy machine, and serving documents does not need it (a
    // login that comes first waits for the same hash). (It cannot fail; a
    // panic would recur, and be reported, at the first such login.)
    drop(tokio::task::spawn_blocking(|| {
        password::dummy();
    }));
    let documents_in_memory = Arc::new(AtomicUsize::new(0));
    let storage = Arc::new(storage::StorageHealth::default());
    let http_store = store.clone();
    let blobs = Arc::new(blobs::Blobs::open(store.clone())?);
    let metrics = Arc::new(metrics::Metrics::default());
    let relay = relay::start(
        documents,
        &config,
        documents_in_memory.clone(),
        storage.clone(),
        metrics.clone(),
        Some(guard),
    )
    .await?;
    info!(
        peer_id = %relay.identity.peer_id,
        storage_id = %relay.identity.storage_id,
        "relay ready"
    );
    let drain_timeout = config.drain_timeout;
    let shared_config_bytes = (
        config.hub_queue_bytes,
        config.hub_queue_bytes_per_connection,
    );
    let poll = config.registry_poll;
    let storage_retry = config.storage_retry;
    let stop = Arc::new(watch::Sender::new(false));
    let shared = Arc::new(Shared {
        config,
        identity: relay.identity.clone(),
        hub: relay.inputs.clone(),
        connections: watch::Sender::new(0),
        documents_in_memory,
        stopping: stop.subscribe(),
        store: http_store,
        gate,
        storage: storage.clone(),
        users: std::sync::Mutex::default(),
        budget: budget::Budget::new(shared_config_bytes.0, shared_config_bytes.1),
        blobs: blobs.clone(),
        changes: relay.changes.clone(),
        summaries: relay.summaries.clone(),
        metrics,
    });
    let sweeper = tokio::spawn(blobs::sweep_every(
        blobs,
        shared.config.blob_sweep_interval,
        shared.config.blob_grace,
        stop.subscribe(),
    ));
    let prober = tokio::spawn(storage::probe(
        storage,
        storage_retry,
        relay.inputs.clone(),
        stop.subscribe(),
    ));
    let poller = tokio::spawn(poll_registry(
        store,
        generation,
        poll,
        relay.inputs.clone(),
        stop.subscribe(),
    ));

    let signal = {
        let stop = stop.clone();
        let hub = relay.inputs.clone();
        async move {
            tokio::select! {
                () = shutdown => info!("shutting down: closing connections"),
                () = hub.closed() => error!("the hub thread stopped; shutting down"),
            }
            stop.send_replace(true);
        }
    };
    let served = connection::serve(listener, shared.clone(), signal).await;
    // Should `serve` ever fail, the connections still have to be closed.
    stop.send_replace(true);

    let mut open = shared.connections.subscribe();
    let drained = matches!(
        tokio::time::timeout(drain_timeout, open.wait_for(|n| *n == 0)).await,
        Ok(Ok(_))
    );
    if !drained {
        warn!(
            connections = *shared.connections.borrow(),
            "connections still open after the drain timeout; stopping the hub anyway"
        );
    }
    drop(shared);
    poller.abort();
    let _ = poller.await;
    sweeper.abort();
    let _ = sweeper.await;
    prober.abort();
    let _ = prober.await;
    relay.stop().await?;
    info!("relay stopped");
    served.map_err(ServerError::Serve)
}

/// Watches the registry's generation counter (one key read per `period`)
/// and tells the hub thread when it moves, so a token revoked by another
/// process closes its connections within about `period`.
async fn poll_registry(
    store: Arc<RedbStore>,
    mut seen: u64,
    period: std::time::Duration,
    hub: tokio::sync::mpsc::Sender<Input>,
    mut stopping: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
        match Registry::reader(&store.database()).generation() {
            Ok(generation) if generation != seen => {
                seen = generation;
                if hub.send(Input::Recheck { generation }).await.is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "could not poll the registry for revocations"),
        }
    }
}
