//! The relay's tunables.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::ServerError;

/// How the relay serves connections. `Config::default()` suits a city
/// relay; tests shrink the limits to reach them quickly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Open WebSocket connections beyond which an upgrade gets HTTP 503,
    /// so a reconnect storm degrades into retries instead of exhausting
    /// file descriptors and memory.
    pub max_connections: usize,
    /// Largest WebSocket frame (and message) accepted from a client. A
    /// bigger one is refused with close code 1009 before it is buffered.
    pub max_frame_bytes: usize,
    /// How long a new connection may take to send its `join`.
    pub handshake_timeout: Duration,
    /// How often the relay pings each connection. A connection that sends
    /// nothing (no pong, no frame) for two intervals is closed, so dead
    /// phones do not hold slots.
    pub keepalive_interval: Duration,
    /// Frames queued for one connection before the relay gives up on it. A
    /// client that stops reading fills its queue and is closed; the hub
    /// thread never waits for a slow socket.
    pub outbound_queue: usize,
    /// Documents the hub keeps in memory; idle ones beyond this are evicted
    /// and reloaded from the store when next used. A loaded ticket with its
    /// sync states is about 25 KB, so 2,000 held a 1,860-ticket upload
    /// storm at 61 MB; at 400 it peaks near 30 MB for a few per cent more
    /// CPU (a device keeps at most 256 documents in flight).
    pub doc_capacity: usize,
    /// Inputs (joins, frames, disconnects) waiting for the hub thread.
    /// When full, connection tasks stop reading their sockets, so a busy
    /// hub slows clients down through TCP instead of growing memory.
    pub hub_queue: usize,
    /// Most inputs folded into one storage transaction (group commit).
    pub max_commit_inputs: usize,
    /// How long a round that has changes to store waits for more inputs
    /// before it commits, when fewer than `max_commit_inputs` are queued.
    /// During a sync storm the inputs trickle in from the connection
    /// tasks; waiting a little folds several trickles into one commit (one
    /// fsync) instead of committing each. Rounds that only read never wait.
    /// Zero commits at once.
    pub commit_delay: Duration,
    /// How long a closing connection may take to flush its last frames and
    /// answer the close frame before the socket is dropped.
    pub close_timeout: Duration,
    /// How long shutdown waits for connections to close before stopping
    /// the hub anyway.
    pub drain_timeout: Duration,
    /// Whether devices must present a bearer token.
    pub auth: AuthMode,
    /// Failed token attempts one client IP may make in a burst before it
    /// gets HTTP 429 (without its token even being looked at).
    pub auth_failure_burst: u32,
    /// How long one failed attempt takes to be forgiven (the bucket refills
    /// one attempt per this).
    pub auth_failure_refill: Duration,
    /// How long a console session lasts from its login (absolute, not
    /// renewed by use); the cookie's Max-Age. A supervisor's working day.
    pub session_lifetime: Duration,
    /// How often an `/api/events` stream sends a keep-alive comment (so
    /// proxies keep it open) and checks its credential again: a stream
    /// outlives a logout, an expired session or a revoked token by at most
    /// this.
    pub events_keep_alive: Duration,
    /// Failed passwords for one user name from one address before a login
    /// for that name from there gets HTTP 429 (even with the right
    /// password: the limit may not be an oracle).
    pub login_failure_burst: u32,
    /// Failed passwords from one address, whatever the names, before any
    /// login from there gets HTTP 429 (several people behind one office
    /// address mistype; one guesser trying many names does not get 10 each).
    pub login_failure_burst_per_address: u32,
    /// How long one failed password takes to be forgiven (both buckets).
    /// Much slower than for tokens: a password can be guessed.
    pub login_failure_refill: Duration,
    /// Password checks (Argon2id: 19 MiB and tens of milliseconds of a
    /// core each) running at once; more logins wait their turn.
    pub password_checks: usize,
    /// How often the relay polls the registry's generation counter, to
    /// close connections whose token was revoked by `gridsync-server token
    /// revoke` (another process) and pick up new grids and users.
    pub registry_poll: Duration,
    /// After a failed commit (a full disk), how long the relay waits before
    /// it first tries the store again; each failed try doubles the wait,
    /// up to 32 times this. Writes are refused meanwhile, reads served.
    pub storage_retry: Duration,
    /// Open WebSocket connections one user may hold; one more gets HTTP
    /// 429. A user has a few devices, and a reconnecting one briefly holds
    /// two; one leaked token cannot take every slot.
    pub max_connections_per_user: usize,
    /// Bytes of frames waiting for the hub thread, all connections
    /// together. When reached, connections stop reading their sockets
    /// until the hub catches up (the count of inputs, `hub_queue`, alone
    /// would let 4,096 frames of 16 MiB queue up).
    pub hub_queue_bytes: usize,
    /// The share of `hub_queue_bytes` one connection may hold, so one
    /// flooding client cannot take the whole queue; at least
    /// `max_frame_bytes`, so any accepted frame fits.
    pub hub_queue_bytes_per_connection: usize,
    /// Bytes queued for one connection before it is closed as not reading
    /// (besides `outbound_queue` frames). A single larger frame is still
    /// queued when nothing else is waiting.
    pub outbound_queue_bytes: usize,
    /// HTTP connections accepted but not yet upgraded to a WebSocket (or
    /// still serving a plain request). One more is answered 503 and closed
    /// at once, so clients that send half a request and wait cannot use up
    /// the relay's file descriptors.
    pub max_pending_http: usize,
    /// How long a client may take to send a request's headers before its
    /// connection is closed (slow-loris defence).
    pub header_read_timeout: Duration,
    /// Entries in one heads-batch message; a device splits its batches at
    /// 10,000 documents.
    pub max_heads_batch_entries: usize,
    /// Documents one connection may be subscribed to (a street
    /// supervisor's device holds a few thousand).
    pub max_subscriptions: usize,
    /// Documents the relay does not hold that one connection may ask for
    /// and be told about when they arrive.
    pub max_unknown_requests: usize,
    /// Ephemeral sessions remembered per connection (a JS client uses one
    /// per tab).
    pub max_ephemeral_sessions: usize,
    /// Longest peer id (and storage id) a `join` may carry; they are kept,
    /// logged and audited for the whole connection.
    pub max_peer_id_bytes: usize,
    /// Largest photo (blob) one upload may declare (`Upload-Length`); a
    /// larger one gets HTTP 413 before a byte is stored. Phones send JPEGs
    /// of a few MB.
    pub max_photo_bytes: u64,
    /// Bytes one user may declare in new uploads per UTC day; past it, HTTP
    /// 429 until the next day. Bounds the disk a leaked token can fill.
    pub max_upload_bytes_per_user_per_day: u64,
    /// How long a blob no ticket references, or a partial upload nobody
    /// continues, is kept before the sweep removes it (a device may sync
    /// the ticket that references a photo after starting its upload).
    pub blob_grace: Duration,
    /// How often the blob sweep runs.
    pub blob_sweep_interval: Duration,
    /// How long a photo upload's body may send nothing before the relay
    /// stops reading it, keeps what arrived and lets the photo's upload
    /// lock go. A link that goes silent without closing (a phone out of
    /// reach) would otherwise hold the lock until the socket dies, and the
    /// device's resume would get `409 upload_busy` meanwhile.
    pub upload_idle_timeout: Duration,
    /// The base map the console draws tickets on (`/console/config.json`);
    /// `None`, the default, draws the points on a plain background, as a
    /// relay with no internet must.
    pub map_tiles: Option<MapTiles>,
    /// Where `GET /metrics` may be read from (always with an admin's
    /// token): loopback by default, since the page tells a stranger how
    /// busy the relay is and how often it refuses whom.
    pub metrics_from: MetricsFrom,
}

/// The peers `GET /metrics` answers (besides needing an admin's token).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum MetricsFrom {
    /// Loopback peers that did not come through a proxy (no `Forwarded` or
    /// `X-Forwarded-For` header): a scraper on the relay's machine.
    #[default]
    Loopback,
    /// Exactly these peer addresses (loopback only if listed), not
    /// through a proxy: a scraper elsewhere with a fixed address.
    Addresses(Vec<IpAddr>),
    /// Any peer, proxied or not (the token alone guards the page).
    Anywhere,
}

impl fmt::Display for MetricsFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricsFrom::Loopback => f.write_str("loopback peers not behind a proxy"),
            MetricsFrom::Addresses(list) => {
                let list: Vec<String> = list.iter().map(IpAddr::to_string).collect();
                write!(f, "{} (not behind a proxy)", list.join(", "))
            }
            MetricsFrom::Anywhere => f.write_str("any address"),
        }
    }
}

/// A slippy-map tile layer for the console's maps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapTiles {
    /// A Leaflet URL template, e.g. `https://tiles.example/{z}/{x}/{y}.png`.
    pub url: String,
    /// The datum the tiles are drawn in: Chinese providers draw in GCJ-02
    /// while devices record WGS-84, so the console converts points for them.
    pub crs: TileCrs,
    /// Shown in the map's corner, as the provider's terms ask.
    pub attribution: String,
    pub max_zoom: u8,
}

/// The coordinate system map tiles are drawn in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TileCrs {
    /// WGS-84, as OpenStreetMap and most providers outside China draw.
    #[default]
    Wgs84,
    /// GCJ-02, as AutoNavi (高德), Tencent and most providers in China draw.
    Gcj02,
}

/// Whether the relay asks for bearer tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthMode {
    /// Open while the registry has no user at all (the zero-config
    /// `serve`), logging a warning at start; required from the moment the
    /// first user exists, at start or later (the relay notices within
    /// `registry_poll` and closes its anonymous connections). Never goes
    /// back to open while running.
    #[default]
    FromRegistry,
    /// Everyone reads and writes everything (tests of the bare protocol).
    Open,
    /// Tokens are required even before any user exists.
    Required,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_frame_bytes: 16 * 1024 * 1024,
            handshake_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(15),
            outbound_queue: 1024,
            doc_capacity: 400,
            hub_queue: 4096,
            max_commit_inputs: 256,
            commit_delay: Duration::from_millis(5),
            close_timeout: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(10),
            auth: AuthMode::FromRegistry,
            auth_failure_burst: 10,
            auth_failure_refill: Duration::from_secs(2),
            session_lifetime: Duration::from_secs(8 * 3600),
            events_keep_alive: Duration::from_secs(15),
            login_failure_burst: 10,
            login_failure_burst_per_address: 50,
            login_failure_refill: Duration::from_secs(60),
            password_checks: 2,
            registry_poll: Duration::from_secs(1),
            storage_retry: Duration::from_secs(1),
            max_connections_per_user: 8,
            hub_queue_bytes: 256 * 1024 * 1024,
            hub_queue_bytes_per_connection: 32 * 1024 * 1024,
            outbound_queue_bytes: 64 * 1024 * 1024,
            max_pending_http: 1024,
            header_read_timeout: Duration::from_secs(10),
            max_heads_batch_entries: client_core::sync::HEADS_BATCH_SPLIT,
            max_subscriptions: 100_000,
            max_unknown_requests: 10_000,
            max_ephemeral_sessions: 256,
            max_peer_id_bytes: 256,
            max_photo_bytes: 20 * 1024 * 1024,
            max_upload_bytes_per_user_per_day: 1024 * 1024 * 1024,
            blob_grace: Duration::from_secs(24 * 3600),
            blob_sweep_interval: Duration::from_secs(3600),
            upload_idle_timeout: Duration::from_secs(30),
            map_tiles: None,
            metrics_from: MetricsFrom::Loopback,
        }
    }
}

impl Config {
    /// Rejects settings the relay cannot work with.
    pub fn validate(&self) -> Result<(), ServerError> {
        let positive = [
            ("max_connections", self.max_connections),
            ("max_frame_bytes", self.max_frame_bytes),
            ("outbound_queue", self.outbound_queue),
            ("doc_capacity", self.doc_capacity),
            ("hub_queue", self.hub_queue),
            ("max_commit_inputs", self.max_commit_inputs),
            ("auth_failure_burst", self.auth_failure_burst as usize),
            ("login_failure_burst", self.login_failure_burst as usize),
            (
                "login_failure_burst_per_address",
                self.login_failure_burst_per_address as usize,
            ),
            ("password_checks", self.password_checks),
            ("max_connections_per_user", self.max_connections_per_user),
            ("hub_queue_bytes", self.hub_queue_bytes),
            ("outbound_queue_bytes", self.outbound_queue_bytes),
            ("max_pending_http", self.max_pending_http),
            ("max_heads_batch_entries", self.max_heads_batch_entries),
            ("max_subscriptions", self.max_subscriptions),
            ("max_unknown_requests", self.max_unknown_requests),
            ("max_ephemeral_sessions", self.max_ephemeral_sessions),
            ("max_peer_id_bytes", self.max_peer_id_bytes),
            (
                "max_photo_bytes",
                usize::try_from(self.max_photo_bytes).unwrap_or(usize::MAX),
            ),
            (
                "max_upload_bytes_per_user_per_day",
                usize::try_from(self.max_upload_bytes_per_user_per_day).unwrap_or(usize::MAX),
            ),
            (
                "blob_sweep_interval",
                usize::try_from(self.blob_sweep_interval.as_millis()).unwrap_or(usize::MAX),
            ),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(ServerError::InvalidConfig(format!(
                    "`{name}` must be at least 1"
                )));
            }
        }
        let durations = [
            ("handshake_timeout", self.handshake_timeout),
            ("keepalive_interval", self.keepalive_interval),
            ("close_timeout", self.close_timeout),
            ("auth_failure_refill", self.auth_failure_refill),
            ("session_lifetime", self.session_lifetime),
            ("events_keep_alive", self.events_keep_alive),
            ("login_failure_refill", self.login_failure_refill),
            ("registry_poll", self.registry_poll),
            ("storage_retry", self.storage_retry),
            ("header_read_timeout", self.header_read_timeout),
            ("upload_idle_timeout", self.upload_idle_timeout),
        ];
        for (name, value) in durations {
            if value.is_zero() {
                return Err(ServerError::InvalidConfig(format!(
                    "`{name}` must be longer than zero"
                )));
            }
        }
        if self.hub_queue_bytes_per_connection < self.max_frame_bytes
            || self.hub_queue_bytes < self.hub_queue_bytes_per_connection
        {
            return Err(ServerError::InvalidConfig(format!(
                "`hub_queue_bytes_per_connection` ({}) must be at least `max_frame_bytes` ({}) \
                 and at most `hub_queue_bytes` ({})",
                self.hub_queue_bytes_per_connection, self.max_frame_bytes, self.hub_queue_bytes
            )));
        }
        if let Some(tiles) = &self.map_tiles
            && !(tiles.url.contains("{z}")
                && tiles.url.contains("{x}")
                && tiles.url.contains("{y}"))
        {
            return Err(ServerError::InvalidConfig(format!(
                "the map tile URL `{}` must hold {{z}}, {{x}} and {{y}}, e.g. \
                 https://tiles.example/{{z}}/{{x}}/{{y}}.png",
                tiles.url
            )));
        }
        if matches!(&self.metrics_from, MetricsFrom::Addresses(list) if list.is_empty()) {
            return Err(ServerError::InvalidConfig(
                "`metrics_from` lists no address: name at least one, or use the default \
                 (loopback)"
                    .into(),
            ));
        }
        if u32::try_from(self.hub_queue_bytes).is_err() {
            return Err(ServerError::InvalidConfig(
                "`hub_queue_bytes` must be below 4 GiB".into(),
            ));
        }
        Ok(())
    }

    /// The hub's per-peer bounds.
    pub(crate) fn hub_limits(&self) -> client_core::sync::HubLimits {
        client_core::sync::HubLimits {
            heads_batch_entries: self.max_heads_batch_entries,
            subscriptions: self.max_subscriptions,
            unknown_requests: self.max_unknown_requests,
            ephemeral_sessions: self.max_ephemeral_sessions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn zero_limits_are_named() {
        let config = Config {
            outbound_queue: 0,
            ..Config::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("outbound_queue"), "{err}");
        let config = Config {
            keepalive_interval: Duration::ZERO,
            ..Config::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("keepalive_interval"), "{err}");
    }
}
