//! `gridsync whoami`: who this device acts as.

use std::path::Path;

use client_core::device::Identity;
use client_core::store::{RedbStore, Store, meta};
use serde::Serialize;

use crate::data_dir::DataDir;
use crate::error::CliError;
use crate::labels::Named;
use crate::output::{self, Output};

/// The identity and where it is stored. The identity holds no secrets;
/// the token `login` stored is shown only as `stored`, never itself.
#[derive(Debug, Serialize)]
struct WhoAmI<'a> {
    #[serde(flatten)]
    identity: &'a Identity,
    data_dir: &'a Path,
    database: &'a Path,
    server: Option<String>,
    /// `stored` or `none`.
    token: &'static str,
}

pub fn run(dir: &DataDir, out: &mut Output) -> Result<(), CliError> {
    let device = dir.open_device()?;
    let identity = device.identity().clone();
    print(&identity, device.repo().store(), dir, out)
}

/// Prints an identity (also used by `init` and `login`).
pub(super) fn print(
    identity: &Identity,
    store: &RedbStore,
    dir: &DataDir,
    out: &mut Output,
) -> Result<(), CliError> {
    let database = dir.database();
    let server = store
        .meta(meta::SERVER_URL)?
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let token = match store.meta(meta::TOKEN)? {
        Some(_) => "stored",
        None => "none",
    };
    if out.is_json() {
        return out.json(&WhoAmI {
            identity,
            data_dir: dir.dir(),
            database: &database,
            server,
            token,
        });
    }
    let grids: Vec<&str> = identity.grids.iter().map(|g| g.as_str()).collect();
    let mut t = output::fields();
    t.add_row(["用户 user", identity.user.as_str()]);
    t.add_row(["角色 role", &identity.role.both()]);
    t.add_row(["网格 grids", &grids.join(", ")]);
    t.add_row(["设备 device actor", identity.actor.as_str()]);
    t.add_row(["数据 database", &database.display().to_string()]);
    t.add_row(["中继 relay", server.as_deref().unwrap_or("-")]);
    t.add_row(["令牌 token", token]);
    out.table(&t)
}
