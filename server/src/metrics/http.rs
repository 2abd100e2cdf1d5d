//! `GET /metrics`: the relay's metrics for Prometheus, to admins only.
//!
//! Two checks, in this order, both logged when they refuse:
//!
//! 1. **Where from** ([`MetricsFrom`], `serve --metrics-from ADDR` or
//!    `--metrics-from-anywhere`): by default only a loopback peer, and
//!    only one that did not come through a proxy (a request carrying
//!    `Forwarded` or `X-Forwarded-For` was relayed for someone else, and a
//!    proxy on the same machine makes everyone look local). Refused: 403
//!    `forbidden_address`, before the credential is looked at, so a
//!    stranger cannot even spend the token rate limit here.
//! 2. **Who**: a bearer token (`Authorization: Bearer`, as Prometheus's
//!    `authorization` setting sends it; no `?token=`, which would land in
//!    access logs, and no console cookie) of a user with the admin role,
//!    through the same check every route uses (`auth::authenticate_bearer`:
//!    failures rate limited and audited). None or a bad one: 401; another
//!    role: 403 `forbidden_role`. An open relay (no users) has no admin
//!    and so serves no metrics: add one first.
//!
//! Answers are `text/plain; version=0.0.4` and never cached.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use client_core::model::lifecycle::Role;
use tracing::warn;

use super::{Denied, Gauges};
use crate::auth::{self, Denial};
use crate::config::MetricsFrom;
use crate::connection::Shared;

/// Whether a request from `peer` (the TCP peer), `proxied` or not, may
/// read the metrics.
pub(crate) fn allowed(from: &MetricsFrom, peer: IpAddr, proxied: bool) -> bool {
    match from {
        MetricsFrom::Anywhere => true,
        MetricsFrom::Loopback => !proxied && canonical(peer).is_loopback(),
        MetricsFrom::Addresses(list) => {
            !proxied && list.iter().any(|a| canonical(*a) == canonical(peer))
        }
    }
}

/// An IPv4 peer of a dual-stack socket arrives as `::ffff:a.b.c.d`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether a proxy relayed the request for another client.
fn proxied(headers: &HeaderMap) -> bool {
    headers.contains_key(header::FORWARDED) || headers.contains_key("x-forwarded-for")
}

pub(crate) async fn serve(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    match answer(&shared, addr, &headers) {
        Ok(page) => {
            let mut response = page.into_response();
            let h = response.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
                ),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(denial) => denial.into_response(),
    }
}

fn answer(shared: &Shared, addr: SocketAddr, headers: &HeaderMap) -> Result<String, Denial> {
    let from = &shared.config.metrics_from;
    let proxied = proxied(headers);
    if !allowed(from, addr.ip(), proxied) {
        warn!(%addr, proxied, allowed = %from, "/metrics: refused (HTTP 403), not from an allowed address");
        shared.metrics.denied(Denied::Metrics);
        let how = if proxied {
            "it came through a proxy (Forwarded or X-Forwarded-For); scrape the relay directly, or \
             start it with --metrics-from-anywhere"
        } else {
            "scrape from an allowed address, or start the relay with --metrics-from ADDR (repeat \
             for more) or --metrics-from-anywhere"
        };
        return Err(Denial::new(
            StatusCode::FORBIDDEN,
            "forbidden_address",
            format!("the relay's metrics are served to {from} only, and {how}"),
        ));
    }
    let p = auth::authenticate_bearer(shared, headers, addr, "/metrics")?;
    if p.role != Role::Admin {
        warn!(%addr, user = %p.user, role = %p.role, "/metrics: refused (HTTP 403), not an admin");
        shared.metrics.denied(Denied::Metrics);
        return Err(Denial::new(
            StatusCode::FORBIDDEN,
            "forbidden_role",
            format!(
                "the relay's metrics are for admins; `{}` is a {}. Give the scraper an admin's \
                 token (`gridsync-server token issue --user ADMIN`)",
                p.user, p.role
            ),
        ));
    }
    let hub = &shared.hub;
    Ok(shared.metrics.encode(Gauges {
        connections: *shared.connections.borrow(),
        hub_queue_inputs: hub.max_capacity() - hub.capacity(),
        hub_queue_bytes: shared.budget.queued(),
        documents_in_memory: shared
            .documents_in_memory
            .load(std::sync::atomic::Ordering::Relaxed),
        storage_read_only: shared.storage.fault().is_some(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_are_checked_as_configured() {
        let loopback = MetricsFrom::Loopback;
        assert!(allowed(&loopback, ip("127.0.0.1"), false));
        assert!(allowed(&loopback, ip("127.0.0.9"), false));
        assert!(allowed(&loopback, ip("::1"), false));
        assert!(allowed(&loopback, ip("::ffff:127.0.0.1"), false));
        assert!(!allowed(&loopback, ip("10.1.2.3"), false));
        assert!(!allowed(&loopback, ip("127.0.0.1"), true), "proxied");

        let list = MetricsFrom::Addresses(vec![ip("10.1.2.3")]);
        assert!(allowed(&list, ip("10.1.2.3"), false));
        assert!(allowed(&list, ip("::ffff:10.1.2.3"), false));
        assert!(
            !allowed(&list, ip("127.0.0.1"), false),
            "the list replaces loopback"
        );
        assert!(!allowed(&list, ip("10.1.2.3"), true));

        assert!(allowed(&MetricsFrom::Anywhere, ip("203.0.113.7"), true));
    }
}
