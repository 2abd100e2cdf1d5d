//! `gridsync login`: provisions this device from the relay.
//!
//! With `--user NAME`, the person logs in with their password (asked on
//! the terminal without echo, or one line from stdin with
//! `--password-stdin`): `POST /api/login` opens a console session, `POST
//! /api/tokens` issues this device its own token under that session
//! (labelled `--device`, by default `gridsync on HOSTNAME`), and `POST
//! /api/logout` ends the session again; the password and the session are
//! never stored. With `--token`, the token an admin issued is used as it is.
//!
//! Then it asks the relay's `GET /api/me` who the token belongs to (user, role,
//! grids), stores that identity, the relay's address and the token in the
//! device's database, and initialises the data directory if it is new.
//! Logging in again as the same user refreshes role and grids and keeps the
//! device's Automerge actor id (the relay registered it to this user);
//! logging in as someone else is refused: the records here were made as
//! the first user. The token is never printed (`whoami` says `stored`).
//!
//! The requests are HTTP/1.1 (ureq, blocking) to the relay's own address:
//! the relay speaks `ws://` (TLS, when used, is terminated in front of it),
//! so `ws://HOST:PORT/` becomes `http://HOST:PORT/api/me`.

use std::io::IsTerminal as _;
use std::time::Duration;

use client_core::device::Identity;
use client_core::ids::GridCode;
use client_core::model::lifecycle::Role;
use client_core::store::{Batch, meta};
use serde::Deserialize;
use serde_json::json;
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

/// The session cookie `POST /api/login` sets.
const SESSION_COOKIE: &str = "gridsync_session";

pub fn run(args: &LoginArgs, dir: &DataDir, out: &mut Output) -> Result<(), CliError> {
    // clap counts GRIDSYNC_TOKEN as a given --token, so the conflict is
    // checked here: only a --token on the command line clashes with --user.
    let from_env = std::env::var("GRIDSYNC_TOKEN").ok();
    if args.user.is_some() && args.token.is_some() && args.token != from_env {
        return Err(CliError::Usage(
            "give --user (to log in with a password) or --token, not both".into(),
        ));
    }
    let token = match &args.user {
        Some(user) => {
            let user = user.trim();
            if user.is_empty() {
                return Err(CliError::Usage("--user is empty".into()));
            }
            refuse_another_user(dir, user)?;
            let password = read_password(user, &args.server, args.password_stdin)?;
            let label = args.device.clone().unwrap_or_else(default_label);
            token_by_password(&args.server, user, &password, &label)?
        }
        None => {
            let token = args.token.as_deref().unwrap_or_default().trim();
            if token.is_empty() {
                return Err(CliError::Usage("--token is empty".into()));
            }
            token.to_owned()
        }
    };
    let token = token.as_str();
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

/// Refuses before anything is asked or issued when this data directory
/// belongs to someone other than `user`.
fn refuse_another_user(dir: &DataDir, user: &str) -> Result<(), CliError> {
    if !dir.database().is_file() {
        return Ok(());
    }
    let current = dir.open_device()?.identity().user.clone();
    if current == user {
        return Ok(());
    }
    Err(CliError::Refused(format!(
        "this data directory belongs to `{current}`; to log in as `{user}`, use a fresh --data \
         directory (records made here stay `{current}`'s)"
    )))
}

/// The password: one line from stdin, or asked on the terminal without echo.
fn read_password(user: &str, server: &str, from_stdin: bool) -> Result<String, CliError> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| CliError::Usage(format!("could not read the password from stdin: {e}")))?;
        let password = line.strip_suffix('\n').unwrap_or(&line);
        password.strip_suffix('\r').unwrap_or(password).to_owned()
    } else {
        if !std::io::stdin().is_terminal() {
            return Err(CliError::Usage(
                "there is no terminal to ask for the password on; pipe it in with --password-stdin"
                    .into(),
            ));
        }
        rpassword::prompt_password(format!("Password of `{user}` at {server}: ")).map_err(|e| {
            CliError::Usage(format!(
                "could not read the password from the terminal: {e}"
            ))
        })?
    };
    if password.is_empty() {
        return Err(CliError::Usage("the password is empty".into()));
    }
    Ok(password)
}

/// `gridsync on HOSTNAME`, or `gridsync` when the host has no name.
fn default_label() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty());
    match host {
        Some(host) => format!("gridsync on {host}"),
        None => "gridsync".into(),
    }
}

/// A request's answer: status, the session cookie it set, and the body.
struct Answer {
    status: u16,
    cookie: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    /// The `error` sentence of a JSON error answer, else the body as text.
    fn error(&self) -> String {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&self.body).trim().to_owned())
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        // Statuses are answers here, not failures; the relay is reached
        // directly, as `sync` reaches it.
        .http_status_as_error(false)
        .proxy(None)
        .max_redirects(0)
        .build()
        .into()
}

fn unreachable(url: &str) -> impl Fn(ureq::Error) -> CliError + '_ {
    move |e| match e {
        ureq::Error::Timeout(_) => {
            CliError::Login(format!("the relay at {url} did not answer in time; retry"))
        }
        ureq::Error::Protocol(_) | ureq::Error::BodyExceedsLimit(_) => CliError::Login(format!(
            "the relay at {url} sent an answer that is not HTTP"
        )),
        e => CliError::Login(format!(
            "could not reach the relay at {url}: {e}; check the address and your signal, then retry"
        )),
    }
}

/// `POST path` of the relay at `url` with the JSON `body`, and with the
/// session `(cookie, csrf)` when given.
fn post(
    agent: &ureq::Agent,
    url: &str,
    path: &str,
    body: &serde_json::Value,
    session: Option<(&str, &str)>,
) -> Result<Answer, CliError> {
    let mut request = agent
        .post(api_url(url, path)?)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json");
    if let Some((cookie, csrf)) = session {
        request = request
            .header("Cookie", format!("{SESSION_COOKIE}={cookie}"))
            .header("X-CSRF-Token", csrf);
    }
    let mut answer = request
        .send(body.to_string().as_bytes())
        .map_err(unreachable(url))?;
    let cookie = answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (name, value) = v.split(';').next()?.trim().split_once('=')?;
            (name == SESSION_COOKIE && !value.is_empty()).then(|| value.to_owned())
        });
    let status = answer.status().as_u16();
    let body = answer
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER)
        .read_to_vec()
        .map_err(unreachable(url))?;
    Ok(Answer {
        status,
        cookie,
        body,
    })
}

/// Logs in as `user`, has the relay issue a token labelled `label` for
/// this device, and logs out again.
fn token_by_password(
    url: &str,
    user: &str,
    password: &str,
    label: &str,
) -> Result<String, CliError> {
    #[derive(Deserialize)]
    struct LoggedIn {
        csrf: String,
    }
    #[derive(Deserialize)]
    struct Issued {
        token: String,
        id: String,
    }
    let unexpected = |what: &str, e: &dyn std::fmt::Display| {
        CliError::Login(format!(
            "the relay at {url} answered {what} with something unexpected ({e}); is it a GridSync \
             relay of this version?"
        ))
    };
    let agent = agent();
    let login = post(
        &agent,
        url,
        "/api/login",
        &json!({ "user": user, "password": password }),
        None,
    )?;
    let (cookie, csrf) = match login.status {
        200 => {
            let LoggedIn { csrf } =
                serde_json::from_slice(&login.body).map_err(|e| unexpected("/api/login", &e))?;
            let cookie = login
                .cookie
                .ok_or_else(|| unexpected("/api/login", &"no session cookie"))?;
            (cookie, csrf)
        }
        401 => {
            return Err(CliError::Login(format!(
                "the relay does not accept this user name and password: {}",
                login.error()
            )));
        }
        429 => {
            return Err(CliError::Login(
                "too many failed logins from this address; wait a few minutes and retry".into(),
            ));
        }
        404 | 405 => {
            return Err(CliError::Login(format!(
                "{url} has no /api/login: it is not a GridSync relay, or an older one without \
                 passwords; log in with --token instead"
            )));
        }
        other => {
            return Err(CliError::Login(format!(
                "the relay at {url} refused the login (HTTP {other}): {}",
                login.error()
            )));
        }
    };
    let session = Some((cookie.as_str(), csrf.as_str()));
    let issued = post(
        &agent,
        url,
        "/api/tokens",
        &json!({ "device": label }),
        session,
    );
    // The session was only for issuing the token.
    match post(&agent, url, "/api/logout", &json!({}), session) {
        Ok(out) if out.status == 204 => {}
        Ok(out) => tracing::warn!(
            status = out.status,
            "the relay did not end the login session; it expires by itself"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "could not end the login session; it expires by itself")
        }
    }
    let issued = issued?;
    if issued.status != 201 {
        return Err(CliError::Login(format!(
            "the relay did not issue this device a token (HTTP {}): {}",
            issued.status,
            issued.error()
        )));
    }
    let Issued { token, id } =
        serde_json::from_slice(&issued.body).map_err(|e| unexpected("/api/tokens", &e))?;
    tracing::info!(user, token = %id, device = label, "the relay issued this device a token");
    Ok(token)
}

/// `http://HOST:PORT/api/me` of a `ws://` or `http://` relay address.
fn me_url(url: &str) -> Result<Uri, CliError> {
    api_url(url, "/api/me")
}

/// `http://HOST:PORT<path>` of a `ws://` or `http://` relay address.
pub(crate) fn api_url(url: &str, path: &str) -> Result<Uri, CliError> {
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
        .path_and_query(path)
        .build()
        .map_err(|_| unreachable())
}

fn fetch_me(url: &str, token: &str) -> Result<Me, CliError> {
    let me = me_url(url)?;
    let agent = agent();
    let failed = unreachable(url);
    let mut answer = agent
        .get(me)
        .header("Authorization", format!("Bearer {token}"))
        .header("Accept", "application/json")
        .call()
        .map_err(&failed)?;
    let status = answer.status().as_u16();
    let body = answer
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER)
        .read_to_vec()
        .map_err(&failed)?;
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
