//! What an operator sees of a running relay: counters, gauges and
//! histograms in a [`prometheus_client`] registry, served as
//! `GET /metrics` in the Prometheus text format (version 0.0.4) by
//! `metrics/http.rs`, which also decides who may read them.
//!
//! The hub thread, the connection tasks, the authentication path and the
//! export route record into one shared [`Metrics`]: each recording is an
//! atomic add (a histogram takes a short lock), never a wait on I/O, so
//! the hub thread pays nothing it would notice. Gauges that mirror state
//! kept elsewhere (open connections, the hub's queue, documents in memory,
//! the storage fault) are read when the page is asked for, not kept up to
//! date as they move.
//!
//! Every label value is one of a fixed set named here ([`Refused`],
//! [`Denied`], [`StorageOp`], the export formats), never client text, so
//! the series are bounded; each is written at zero from the start, so a
//! rate over a counter that has not moved yet reads 0, not absent.

pub(crate) mod http;

use std::time::Duration;

use client_core::report::Format;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// Why the relay turned a client, or one of its messages, away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// A peer's changes broke the access policy or the document limits;
    /// nothing of them was stored (`HubEvent::Refused`).
    Change,
    /// The hub refused a message for breaking the protocol or a per-peer
    /// bound (an `error` frame and a close), besides refused changes.
    Protocol,
    /// A message that made the hub panic: that frame fails, nothing else.
    Panic,
    /// A write while the store refuses commits (read-only state).
    ReadOnly,
    /// A `join` the hub turned away (revoked token, peer id bound to
    /// another user, ...).
    Join,
    /// A connection closed for not reading what the relay sends it.
    NotReading,
    /// A WebSocket upgrade past `max_connections` (HTTP 503).
    ConnectionLimit,
    /// A WebSocket upgrade past `max_connections_per_user` (HTTP 429).
    UserConnectionLimit,
    /// A connection past `max_pending_http`, turned away unread (HTTP 503).
    PendingHttp,
    /// A request or upgrade without a valid token or session, or a login
    /// with a wrong name or password (HTTP 401).
    Unauthenticated,
    /// A request from an address or with a credential that failed too
    /// often (HTTP 429).
    RateLimited,
}

impl Refused {
    const ALL: [Refused; 11] = [
        Refused::Change,
        Refused::Protocol,
        Refused::Panic,
        Refused::ReadOnly,
        Refused::Join,
        Refused::NotReading,
        Refused::ConnectionLimit,
        Refused::UserConnectionLimit,
        Refused::PendingHttp,
        Refused::Unauthenticated,
        Refused::RateLimited,
    ];

    fn label(self) -> &'static str {
        match self {
            Refused::Change => "change",
            Refused::Protocol => "protocol",
            Refused::Panic => "panic",
            Refused::ReadOnly => "read_only",
            Refused::Join => "join",
            Refused::NotReading => "not_reading",
            Refused::ConnectionLimit => "connection_limit",
            Refused::UserConnectionLimit => "user_connection_limit",
            Refused::PendingHttp => "pending_http",
            Refused::Unauthenticated => "unauthenticated",
            Refused::RateLimited => "rate_limited",
        }
    }
}

/// Why an authenticated client was not given what it asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Denied {
    /// A document the peer may not read, answered as unavailable (sync,
    /// ephemeral messages).
    Document,
    /// `GET /api/export` outside the caller's role or scope (HTTP 403).
    Export,
    /// `GET /metrics` from an address not allowed, or without an admin's
    /// token (HTTP 403).
    Metrics,
}

impl Denied {
    const ALL: [Denied; 3] = [Denied::Document, Denied::Export, Denied::Metrics];

    fn label(self) -> &'static str {
        match self {
            Denied::Document => "document",
            Denied::Export => "export",
            Denied::Metrics => "metrics",
        }
    }
}

/// What the store failed at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StorageOp {
    /// A round's commit (the relay turns read-only until a probe commits).
    Commit,
    /// A read the hub needed to handle a frame.
    Read,
}

impl StorageOp {
    const ALL: [StorageOp; 2] = [StorageOp::Commit, StorageOp::Read];

    fn label(self) -> &'static str {
        match self {
            StorageOp::Commit => "commit",
            StorageOp::Read => "read",
        }
    }
}

/// The export formats as `GET /api/export` names them.
const FORMATS: [&str; 5] = ["xlsx", "csv_zip", "csv", "geojson", "json"];

fn format_label(format: Format) -> &'static str {
    match format {
        Format::Xlsx => "xlsx",
        Format::CsvZip => "csv_zip",
        Format::Csv(_) => "csv",
        Format::GeoJson => "geojson",
        Format::Json => "json",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabel {
    op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FormatLabel {
    format: &'static str,
}

/// The relay's metrics; one per relay, shared by every thread.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    connections: Gauge,
    hub_queue_inputs: Gauge,
    hub_queue_bytes: Gauge,
    documents_in_memory: Gauge,
    storage_read_only: Gauge,
    documents_synced: Counter,
    commit_seconds: Histogram,
    commit_inputs: Histogram,
    refusals: Family<ReasonLabel, Counter>,
    denials: Family<ReasonLabel, Counter>,
    storage_errors: Family<OpLabel, Counter>,
    exports: Family<FormatLabel, Counter>,
}

/// State kept elsewhere that the gauges show, read when the page is asked for.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Gauges {
    pub connections: usize,
    pub hub_queue_inputs: usize,
    pub hub_queue_bytes: usize,
    pub documents_in_memory: usize,
    pub storage_read_only: bool,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("gridsync");
        let connections = Gauge::default();
        registry.register(
            "connections",
            "Open WebSocket connections (devices and apps syncing)",
            connections.clone(),
        );
        let hub_queue_inputs = Gauge::default();
        registry.register(
            "hub_queue_inputs",
            "Inputs (joins, frames, API writes) waiting for the hub thread; \
             readers stop reading their sockets when it is full (hub_queue)",
            hub_queue_inputs.clone(),
        );
        let hub_queue_bytes = Gauge::default();
        registry.register_with_unit(
            "hub_queue",
            "Bytes of frames waiting for the hub thread (hub_queue_bytes bounds it)",
            Unit::Bytes,
            hub_queue_bytes.clone(),
        );
        let documents_in_memory = Gauge::default();
        registry.register(
            "documents_in_memory",
            "Documents the hub holds loaded (doc_capacity bounds the idle ones)",
            documents_in_memory.clone(),
        );
        let storage_read_only = Gauge::default();
        registry.register(
            "storage_read_only",
            "1 while the store refuses commits and the relay serves reads only (see /healthz)",
            storage_read_only.clone(),
        );
        let documents_synced = Counter::default();
        registry.register(
            "documents_synced",
            "Documents a peer's changes were committed to, one per document and commit",
            documents_synced.clone(),
        );
        // 0.5 ms to about 8 s: an fsync on a quiet disk to a stalled one.
        let commit_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 15));
        registry.register_with_unit(
            "commit",
            "Time of one group commit of the hub thread (one storage transaction and its fsync)",
            Unit::Seconds,
            commit_seconds.clone(),
        );
        // 1 to 256 (max_commit_inputs' default).
        let commit_inputs = Histogram::new(exponential_buckets(1.0, 2.0, 9));
        registry.register(
            "commit_inputs",
            "Inputs (frames, API writes, joins) folded into one group commit",
            commit_inputs.clone(),
        );
        let refusals = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "refusals",
            "Clients or their messages the relay turned away, by reason",
            refusals.clone(),
        );
        let denials = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "denials",
            "Requests of authenticated clients for what they may not have, by reason",
            denials.clone(),
        );
        let storage_errors = Family::<OpLabel, Counter>::default();
        registry.register(
            "storage_errors",
            "Failed storage operations of the hub thread, by operation",
            storage_errors.clone(),
        );
        let exports = Family::<FormatLabel, Counter>::default();
        registry.register(
            "exports",
            "District-review exports served by GET /api/export, by format",
            exports.clone(),
        );
        // Every series exists from the start (the guards are dropped at once).
        for r in Refused::ALL {
            drop(refusals.get_or_create(&ReasonLabel { reason: r.label() }));
        }
        for d in Denied::ALL {
            drop(denials.get_or_create(&ReasonLabel { reason: d.label() }));
        }
        for op in StorageOp::ALL {
            drop(storage_errors.get_or_create(&OpLabel { op: op.label() }));
        }
        for format in FORMATS {
            drop(exports.get_or_create(&FormatLabel { format }));
        }
        Self {
            registry,
            connections,
            hub_queue_inputs,
            hub_queue_bytes,
            documents_in_memory,
            storage_read_only,
            documents_synced,
            commit_seconds,
            commit_inputs,
            refusals,
            denials,
            storage_errors,
            exports,
        }
    }
}

impl Metrics {
    /// One group commit that wrote something: how long the transaction
    /// took and how many inputs it held.
    pub(crate) fn commit(&self, took: Duration, inputs: usize) {
        self.commit_seconds.observe(took.as_secs_f64());
        self.commit_inputs.observe(inputs as f64);
    }

    /// `n` documents whose peers' changes were just committed.
    pub(crate) fn synced(&self, n: usize) {
        self.documents_synced.inc_by(n as u64);
    }

    pub(crate) fn refused(&self, why: Refused) {
        self.refusals
            .get_or_create(&ReasonLabel {
                reason: why.label(),
            })
            .inc();
    }

    pub(crate) fn denied(&self, why: Denied) {
        self.denials
            .get_or_create(&ReasonLabel {
                reason: why.label(),
            })
            .inc();
    }

    pub(crate) fn storage_error(&self, op: StorageOp) {
        self.storage_errors
            .get_or_create(&OpLabel { op: op.label() })
            .inc();
    }

    /// An export of `format` that was written and is being sent.
    pub(crate) fn exported(&self, format: Format) {
        self.exports
            .get_or_create(&FormatLabel {
                format: format_label(format),
            })
            .inc();
    }

    /// The page: every metric in the Prometheus text format (0.0.4), the
    /// gauges set from `now` first.
    pub(crate) fn encode(&self, now: Gauges) -> String {
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.connections.set(gauge(now.connections));
        self.hub_queue_inputs.set(gauge(now.hub_queue_inputs));
        self.hub_queue_bytes.set(gauge(now.hub_queue_bytes));
        self.documents_in_memory.set(gauge(now.documents_in_memory));
        self.storage_read_only.set(i64::from(now.storage_read_only));
        let mut page = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut page, &self.registry)
            .expect("writing to a String does not fail");
        page
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample lines of `page` named `name` (with their labels).
    fn samples<'a>(page: &'a str, name: &str) -> Vec<&'a str> {
        page.lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| l.split(['{', ' ']).next() == Some(name))
            .collect()
    }

    #[test]
    fn every_series_is_written_from_zero_and_moves_when_recorded() {
        let m = Metrics::default();
        let page = m.encode(Gauges::default());
        for r in Refused::ALL {
            let line = format!("gridsync_refusals_total{{reason=\"{}\"}} 0", r.label());
            assert!(page.contains(&line), "{line} in\n{page}");
        }
        assert!(
            page.contains("# TYPE gridsync_commit_seconds histogram"),
            "{page}"
        );
        assert!(
            page.contains("gridsync_exports_total{format=\"csv_zip\"} 0"),
            "{page}"
        );

        m.refused(Refused::Change);
        m.refused(Refused::Change);
        m.denied(Denied::Metrics);
        m.storage_error(StorageOp::Commit);
        m.exported(Format::Xlsx);
        m.synced(3);
        m.commit(Duration::from_millis(3), 5);
        let page = m.encode(Gauges {
            connections: 7,
            storage_read_only: true,
            ..Gauges::default()
        });
        assert!(
            page.contains("gridsync_refusals_total{reason=\"change\"} 2"),
            "{page}"
        );
        assert!(
            page.contains("gridsync_denials_total{reason=\"metrics\"} 1"),
            "{page}"
        );
        assert!(
            page.contains("gridsync_storage_errors_total{op=\"commit\"} 1"),
            "{page}"
        );
        assert!(
            page.contains("gridsync_exports_total{format=\"xlsx\"} 1"),
            "{page}"
        );
        assert_eq!(
            samples(&page, "gridsync_documents_synced_total"),
            ["gridsync_documents_synced_total 3"]
        );
        assert_eq!(
            samples(&page, "gridsync_connections"),
            ["gridsync_connections 7"]
        );
        assert_eq!(
            samples(&page, "gridsync_storage_read_only"),
            ["gridsync_storage_read_only 1"]
        );
        assert_eq!(
            samples(&page, "gridsync_commit_seconds_count"),
            ["gridsync_commit_seconds_count 1"]
        );
        assert!(
            page.contains("gridsync_commit_inputs_bucket{le=\"8\"} 1"),
            "{page}"
        );
        assert!(
            page.contains("gridsync_commit_inputs_bucket{le=\"4\"} 0"),
            "{page}"
        );
    }
}
