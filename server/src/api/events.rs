//! `GET /api/events`: a server-sent-events stream of the tickets in the
//! caller's scope that change, from any device's sync or an API write.
//!
//! After every commit the hub thread sends the summaries of the tickets
//! that round changed into one broadcast ([`Changes`]): one summary read
//! per changed ticket, and none while nobody listens. Each stream keeps
//! what its caller may read (`access::may_read_summary`, the hub's own
//! read decision) and writes it as `event: ticket` with the summary as
//! `data`; a comment line every `Config::events_keep_alive` (15 s) keeps
//! proxies from closing it, and on that tick the credential is checked
//! again. The hub never waits for a stream: one that falls more than
//! [`CAPACITY`] summaries behind is dropped (the console reconnects and
//! reloads its list). A stream ends when the relay shuts down, when its
//! token is revoked, or when its console session ends (logout, expiry, a
//! new password), within one keep-alive tick.

use std::sync::Arc;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use client_core::model::summary::TicketSummary;
use futures_util::stream::{self, Stream};
use tokio::sync::{broadcast, watch};
use tracing::{debug, info};

use super::Request;
use super::tickets::SummaryJson;
use crate::access;
use crate::auth::Principal;
use crate::connection::Shared;
use crate::registry::Registry;

/// Summaries a stream may fall behind by before it is dropped.
pub(crate) const CAPACITY: usize = 4096;

/// The broadcast of changed ticket summaries, fed by the hub thread.
#[derive(Debug, Clone)]
pub(crate) struct Changes(broadcast::Sender<Arc<TicketSummary>>);

impl Changes {
    pub(crate) fn new() -> Self {
        Self(broadcast::channel(CAPACITY).0)
    }

    /// Whether any stream listens (the hub reads no summary otherwise).
    pub(crate) fn has_subscribers(&self) -> bool {
        self.0.receiver_count() > 0
    }

    /// Offers a changed ticket's summary to every stream; never blocks.
    pub(crate) fn send(&self, summary: TicketSummary) {
        let _ = self.0.send(Arc::new(summary));
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<TicketSummary>> {
        self.0.subscribe()
    }
}

/// One stream's state.
struct Listener {
    changes: broadcast::Receiver<Arc<TicketSummary>>,
    principal: Principal,
    store: Arc<client_core::store::RedbStore>,
    stopping: watch::Receiver<bool>,
    recheck: tokio::time::Interval,
    /// The first item (a comment saying the stream is live) is sent.
    greeted: bool,
}

/// `GET /api/events`.
pub(crate) async fn stream(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let p = match req.caller(&shared, "/api/events") {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    match req.pairs() {
        Ok(pairs) if pairs.is_empty() => {}
        Ok(_) => {
            return super::ApiError::bad_request("/api/events takes no parameters").into_response();
        }
        Err(e) => return e.into_response(),
    }
    debug!(user = %p.user, "/api/events: subscribed");
    let keep_alive = shared.config.events_keep_alive;
    let mut recheck = tokio::time::interval(keep_alive);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let listener = Listener {
        changes: shared.changes.subscribe(),
        principal: p,
        store: shared.store.clone(),
        stopping: shared.stopping.clone(),
        recheck,
        greeted: false,
    };
    Sse::new(events(listener))
        .keep_alive(KeepAlive::new().interval(keep_alive).text("keep-alive"))
        .into_response()
}

fn events(listener: Listener) -> impl Stream<Item = Result<Event, std::convert::Infallible>> {
    stream::unfold(listener, |mut l| async move {
        if !l.greeted {
            l.greeted = true;
            return Some((Ok(Event::default().comment("subscribed")), l));
        }
        loop {
            let woke = tokio::select! {
                received = l.changes.recv() => Woke::Change(received),
                _ = l.stopping.wait_for(|s| *s) => Woke::Stop,
                _ = l.recheck.tick() => Woke::Recheck,
            };
            match woke {
                Woke::Change(Ok(summary)) => {
                    if !access::may_read_summary(&l.principal, &summary) {
                        continue;
                    }
                    let json = SummaryJson::of(&summary, super::now());
                    let event = Event::default()
                        .event("ticket")
                        .id(summary.id.to_string())
                        .json_data(json)
                        .unwrap_or_else(|_| Event::default().comment("unencodable"));
                    return Some((Ok(event), l));
                }
                Woke::Change(Err(broadcast::error::RecvError::Lagged(missed))) => {
                    info!(user = %l.principal.user, missed, "/api/events: dropping a subscriber that fell behind");
                    return None;
                }
                Woke::Change(Err(broadcast::error::RecvError::Closed)) | Woke::Stop => return None,
                Woke::Recheck => {
                    if !still_valid(&mut l) {
                        info!(user = %l.principal.user, "/api/events: the token or session no longer holds; ending the stream");
                        return None;
                    }
                }
            }
        }
    })
}

/// What a stream woke up for.
enum Woke {
    Change(Result<Arc<TicketSummary>, broadcast::error::RecvError>),
    Stop,
    Recheck,
}

/// Whether the stream's credentials still hold. A console session ends
/// without the registry's generation moving (a logout, its expiry, a new
/// password), so a session is looked up again on every tick; a token only
/// when the generation moved (a revocation or a scope change bumps it).
fn still_valid(l: &mut Listener) -> bool {
    let db = l.store.database();
    let registry = Registry::reader(&db);
    if !l.principal.by_session() {
        match registry.generation() {
            Ok(g) if g == l.principal.generation => return true,
            Ok(_) => {}
            Err(e) => {
                debug!(error = %e, "/api/events: could not read the registry generation");
                return true;
            }
        }
    }
    match l.principal.refresh(&registry) {
        Ok(Some(p)) => {
            l.principal = p;
            true
        }
        Ok(None) => false,
        Err(e) => {
            debug!(error = %e, "/api/events: could not re-check a credential; keeping the stream");
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use client_core::ids::{GridCode, TicketId};
    use client_core::model::lifecycle::{Role, Status};
    use std::time::Duration;

    use futures_util::StreamExt as _;

    use super::*;
    use crate::registry::Scope;

    fn summary(grid: &GridCode) -> TicketSummary {
        TicketSummary {
            id: TicketId::random(),
            grid: grid.clone(),
            status: Status::Reported,
            category: "0101".into(),
            title: "路灯".into(),
            urgency: None,
            unit: None,
            due_at: None,
            reported_at: Some(1),
            updated_at: Some(1),
            rework_count: 0,
            conflicts: 0,
            handled_by: None,
            created_by: "wang".into(),
            urged_at: None,
            extension_pending: false,
            figures: None,
            row: None,
            photos: Vec::new(),
        }
    }

    /// A stream's state, and the relay's shutdown switch it watches.
    fn listener(
        changes: &Changes,
        grid: &GridCode,
        dir: &std::path::Path,
    ) -> (Listener, watch::Sender<bool>) {
        let store = Arc::new(
            client_core::store::RedbStore::open(dir.join(format!("{}.redb", TicketId::random())))
                .unwrap(),
        );
        let mut recheck = tokio::time::interval(Duration::from_secs(3600));
        recheck.reset();
        let (stop, stopping) = watch::channel(false);
        let listener = Listener {
            changes: changes.subscribe(),
            principal: Principal {
                user: "wang".into(),
                role: Role::Worker,
                scope: Scope::Grids(vec![grid.clone()]),
                grids: BTreeSet::from([grid.clone()]),
                token_id: "t".into(),
                credential: crate::auth::Credential::Token { hash: "h".into() },
                generation: 0,
            },
            store,
            stopping,
            recheck,
            greeted: false,
        };
        (listener, stop)
    }

    /// A stream's reader that stops reading must cost the hub nothing:
    /// the hub's sends never wait, and once the reader is more than
    /// `CAPACITY` summaries behind, its stream ends instead of catching up.
    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_dropped_and_the_sender_never_waits() {
        let dir = tempfile::tempdir().unwrap();
        let g1 = GridCode::new("G-01").unwrap();
        let changes = Changes::new();
        let (slow, _stop_slow) = listener(&changes, &g1, dir.path());
        let (keeping_up, stop) = listener(&changes, &g1, dir.path());
        let mut slow = Box::pin(events(slow));
        let mut keeping_up = Box::pin(events(keeping_up));
        assert!(slow.next().await.is_some(), "the greeting");
        assert!(keeping_up.next().await.is_some(), "the greeting");
        let first = summary(&g1);
        changes.send(first.clone());
        assert!(keeping_up.next().await.is_some(), "one it reads at once");
        for _ in 0..CAPACITY {
            changes.send(summary(&g1));
        }
        assert!(slow.next().await.is_none(), "dropped, not caught up");
        // One that is not behind goes on, until the relay stops.
        for _ in 0..CAPACITY {
            assert!(keeping_up.next().await.is_some());
        }
        stop.send_replace(true);
        assert!(keeping_up.next().await.is_none(), "ends at shutdown");
    }
}
