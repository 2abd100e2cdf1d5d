//! `gridsync whoami`: who this device acts as.

use std::path::Path;

use client_core::device::Identity;
use serde::Serialize;

use crate::data_dir::DataDir;
use crate::error::CliError;
use crate::labels::Named;
use crate::output::{self, Output};

/// The identity and where it is stored. The identity holds no secrets
/// (tokens, when there are any, are never part of this).
#[derive(Debug, Serialize)]
struct WhoAmI<'a> {
    #[serde(flatten)]
    identity: &'a Identity,
    data_dir: &'a Path,
    database: &'a Path,
}

pub fn run(dir: &DataDir, out: &mut Output) -> Result<(), CliError> {
    let device = dir.open_device()?;
    print(device.identity(), dir, out)
}

/// Prints an identity (also used by `init`).
pub(super) fn print(identity: &Identity, dir: &DataDir, out: &mut Output) -> Result<(), CliError> {
    let database = dir.database();
    if out.is_json() {
        return out.json(&WhoAmI {
            identity,
            data_dir: dir.dir(),
            database: &database,
        });
    }
    let grids: Vec<&str> = identity.grids.iter().map(|g| g.as_str()).collect();
    let mut t = output::fields();
    t.add_row(["用户 user", identity.user.as_str()]);
    t.add_row(["角色 role", &identity.role.both()]);
    t.add_row(["网格 grids", &grids.join(", ")]);
    t.add_row(["设备 device actor", identity.actor.as_str()]);
    t.add_row(["数据 database", &database.display().to_string()]);
    out.table(&t)
}
