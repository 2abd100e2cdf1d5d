//! `gridsync login`: provisions this device from the relay.
//!
//! Asks the relay's `GET /api/me` who the token belongs to (user, role,
//! grids), stores that identity, the relay's address and the token in the
//! device's database, and initialises the data directory if it is new.
//! Logging in again as the same user refreshes role and grids and keeps the
//! device's Automerge actor id (the relay registered it to this user);
//! logging in as someone else is refused: the records here were made as
//! the first user. The token is never printed (`whoami` says `stored`).
//!
//! The request is one HTTP/1.1 GET over a plain TCP stream: the relay
//! speaks `ws://` (TLS, when used, is terminated in front of it).

use std::time::Duration;

use client_core::device::Identity;
use client_core::ids::GridCode;
use client_core::model::lifecycle::Role;
use client_core::store::{Batch, meta};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::args::LoginArgs;
use crate::data_dir::DataDir;
use crate::error::CliError;
use crate::output::Output;

/// What the relay says about the token's user.
#[derive(Debug, Deserialize)]
struct Me {
    user: String,
    role: Role,
    grids: Vec<GridCode>,
}

/// Largest answer read from `/api/me`.
const MAX_ANSWER: u64 = 1 << 20;
const TIMEOUT: Duration = Duration::from_secs(20);

pub fn run(args: &LoginArgs, dir: &DataDir, out: &mut Output) -> Result<(), CliError> {
    let token = args.token.trim();
    if token.is_empty() {
        return Err(CliError::Usage("--token is empty".into()));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Internal(format!("cannot start the network runtime: {e}")))?;
    let me = runtime.block_on(fetch_me(&args.server, token))?;

    let device = if dir.database().is_file() {
        let mut device = dir.open_device()?;
        let current = device.identity().clone();
        if current.user != me.user {
            return Err(CliError::Refused(format!(
                "this data directory belongs to `{}`; to log in as `{}`, use a fresh --data \
                 directory (records made here stay `{}`'s)",
                current.user, me.user, current.user
            )));
        }
        device.set_identity(Identity {
            role: me.role,
            grids: me.grids,
            ..current
        })?;
        device
    } else {
        dir.init_device(Identity::new(me.user, me.role, me.grids))?
    };
    let mut batch = Batch::new();
    batch.put_meta(meta::SERVER_URL, args.server.as_bytes().to_vec());
    batch.put_meta(meta::TOKEN, token.as_bytes().to_vec());
    device
        .repo()
        .commit(batch)
        .map_err(client_core::device::DeviceError::from)?;
    tracing::info!(user = %device.identity().user, server = %args.server, "logged in");
    super::whoami::print(device.identity(), device.repo().store(), dir, out)
}

/// `host:port` of a `ws://` or `http://` relay address.
fn authority(url: &str) -> Result<String, CliError> {
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| {
            CliError::Usage(format!(
                "`{url}` is not a relay address this build can reach: use ws://HOST:PORT/"
            ))
        })?;
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    if host.is_empty() {
        return Err(CliError::Usage(format!("`{url}` names no host")));
    }
    Ok(if host.contains(':') && !host.ends_with(']') {
        host.to_owned()
    } else {
        format!("{host}:80")
    })
}

async fn fetch_me(url: &str, token: &str) -> Result<Me, CliError> {
    let host = authority(url)?;
    let unreachable = |e: std::io::Error| {
        CliError::Login(format!(
            "could not reach the relay at {url}: {e}; check the address and your signal, then retry"
        ))
    };
    let exchange = async {
        let mut tcp = tokio::net::TcpStream::connect(&host)
            .await
            .map_err(unreachable)?;
        let request = format!(
            "GET /api/me HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
             Accept: application/json\r\nConnection: close\r\n\r\n"
        );
        tcp.write_all(request.as_bytes())
            .await
            .map_err(unreachable)?;
        let mut answer = Vec::new();
        tcp.take(MAX_ANSWER)
            .read_to_end(&mut answer)
            .await
            .map_err(unreachable)?;
        Ok::<_, CliError>(answer)
    };
    let answer = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| {
            CliError::Login(format!("the relay at {url} did not answer in time; retry"))
        })??;
    let (status, body) = parse_response(&answer).ok_or_else(|| {
        CliError::Login(format!(
            "the relay at {url} sent an answer that is not HTTP"
        ))
    })?;
    match status {
        200 => serde_json::from_slice(&body).map_err(|e| {
            CliError::Login(format!(
                "the relay at {url} answered /api/me with something unexpected ({e}); is it a GridSync relay of this version?"
            ))
        }),
        401 => Err(CliError::Login(
            "the relay does not accept this token (unknown or revoked); ask an admin for a new one"
                .into(),
        )),
        429 => Err(CliError::Login(
            "too many failed logins from this address; wait a few minutes and retry".into(),
        )),
        404 => Err(CliError::Login(format!(
            "{url} has no /api/me: it is not a GridSync relay, or an older one without accounts"
        ))),
        other => Err(CliError::Login(format!(
            "the relay at {url} answered HTTP {other}: {}",
            String::from_utf8_lossy(&body).trim()
        ))),
    }
}

/// Status and body of an HTTP/1.1 response (plain or chunked).
fn parse_response(raw: &[u8]) -> Option<(u16, Vec<u8>)> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let body = &raw[end + 4..];
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    });
    if !chunked {
        return Some((status, body.to_vec()));
    }
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some((status, out));
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_addresses_become_host_and_port() {
        assert_eq!(authority("ws://127.0.0.1:3030/").unwrap(), "127.0.0.1:3030");
        assert_eq!(
            authority("http://relay.example").unwrap(),
            "relay.example:80"
        );
        assert!(authority("wss://relay.example/").is_err());
        assert!(authority("ws:///").is_err());
    }

    #[test]
    fn plain_and_chunked_bodies_are_read() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(parse_response(plain), Some((200, b"{}".to_vec())));
        let chunked =
            b"HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked), Some((401, b"abcde".to_vec())));
        assert_eq!(parse_response(b"garbage"), None);
    }
}
