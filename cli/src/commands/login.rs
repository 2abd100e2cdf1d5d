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
//! The request is one HTTP/1.1 GET (ureq, blocking) to the relay's own
//! address: the relay speaks `ws://` (TLS, when used, is terminated in
//! front of it), so `ws://HOST:PORT/` becomes `http://HOST:PORT/api/me`.

use std::time::Duration;

use client_core::device::Identity;
use client_core::ids::GridCode;
use client_core::model::lifecycle::Role;
use client_core::store::{Batch, meta};
use serde::Deserialize;
use ureq::http::Uri;

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
    let me = fetch_me(&args.server, token)?;

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

/// `http://HOST:PORT/api/me` of a `ws://` or `http://` relay address.
fn me_url(url: &str) -> Result<Uri, CliError> {
    let unreachable = || {
        CliError::Usage(format!(
            "`{url}` is not a relay address this build can reach: use ws://HOST:PORT/"
        ))
    };
    let uri: Uri = url.parse().map_err(|_| unreachable())?;
    if !matches!(uri.scheme_str(), Some("ws" | "http")) {
        return Err(unreachable());
    }
    let authority = uri
        .authority()
        .filter(|a| !a.host().is_empty())
        .ok_or_else(|| CliError::Usage(format!("`{url}` names no host")))?;
    Uri::builder()
        .scheme("http")
        .authority(authority.clone())
        .path_and_query("/api/me")
        .build()
        .map_err(|_| unreachable())
}

fn fetch_me(url: &str, token: &str) -> Result<Me, CliError> {
    let me = me_url(url)?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        // Statuses are answers here, not failures; the relay is reached
        // directly, as `sync` reaches it.
        .http_status_as_error(false)
        .proxy(None)
        .max_redirects(0)
        .build()
        .into();
    let failed = |e: ureq::Error| match e {
        ureq::Error::Timeout(_) => {
            CliError::Login(format!("the relay at {url} did not answer in time; retry"))
        }
        ureq::Error::Protocol(_) | ureq::Error::BodyExceedsLimit(_) => CliError::Login(format!(
            "the relay at {url} sent an answer that is not HTTP"
        )),
        e => CliError::Login(format!(
            "could not reach the relay at {url}: {e}; check the address and your signal, then retry"
        )),
    };
    let mut answer = agent
        .get(me)
        .header("Authorization", format!("Bearer {token}"))
        .header("Accept", "application/json")
        .call()
        .map_err(failed)?;
    let status = answer.status().as_u16();
    let body = answer
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER)
        .read_to_vec()
        .map_err(failed)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_addresses_become_their_api_me_url() {
        assert_eq!(
            me_url("ws://127.0.0.1:3030/").unwrap().to_string(),
            "http://127.0.0.1:3030/api/me"
        );
        assert_eq!(
            me_url("http://relay.example").unwrap().to_string(),
            "http://relay.example/api/me"
        );
        assert_eq!(
            me_url("ws://[::1]:3030/sync?x=1").unwrap().to_string(),
            "http://[::1]:3030/api/me"
        );
        assert!(me_url("wss://relay.example/").is_err());
        assert!(me_url("ws:///").is_err());
        assert!(me_url("relay.example:3030").is_err());
    }
}
