//! `gridsync init`: sets up a data directory for one person.

use client_core::device::Identity;
use client_core::ids::GridCode;

use crate::args::InitArgs;
use crate::data_dir::DataDir;
use crate::error::CliError;
use crate::output::Output;

pub fn run(args: &InitArgs, dir: &DataDir, out: &mut Output) -> Result<(), CliError> {
    let mut grids: Vec<GridCode> = Vec::with_capacity(args.grids.len());
    for g in &args.grids {
        if !grids.contains(g) {
            grids.push(g.clone());
        }
    }
    let identity = Identity::new(args.user.trim(), args.role, grids);
    let device = dir.init_device(identity)?;
    tracing::info!(dir = %dir.dir().display(), user = %device.identity().user, "initialised");
    super::whoami::print(device.identity(), device.repo().store(), dir, out)
}
