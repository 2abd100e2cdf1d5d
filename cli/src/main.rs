//! `gridsync`: the command-line client for grid workers (网格员),
//! supervisors, handling units and reviewers.
//!
//! Everything works offline against one local redb database,
//! `<DIR>/gridsync.redb`, where `DIR` is `--data`, else `$GRIDSYNC_DATA`,
//! else `$HOME/.gridsync`. A command parses its flags ([`args`]), opens the
//! device ([`data_dir`]), makes one call into `client_core::device::Device`
//! with the wall-clock time read here at the edge ([`time`]), and prints a
//! table or, with `--json`, the client-core value as JSON ([`output`]).
//!
//! Exit codes ([`error::CliError::exit_code`]):
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done |
//! | 1 | refused: forbidden transition or role, grid not yours, unknown or ambiguous id, not set up yet, bad import, calendar or grids file, export destination not writable |
//! | 2 | usage: unknown flag, bad value, flag that does not apply (clap) |
//! | 3 | storage: the local database is damaged, in use by another gridsync, or unwritable |
//! | 4 | sync: the relay is unreachable or refused us, or some local changes are not acknowledged yet |
//! | 101 | a bug in gridsync (reported as `error: gridsync hit a bug ...`, no backtrace) |
//!
//! Every error prints one `error: <what happened; what to do next>` line on
//! stderr. Logs go to stderr, filtered by `RUST_LOG` (default `warn`).

mod args;
mod commands;
mod data_dir;
mod error;
mod labels;
mod output;
mod panic_guard;
mod photos;
mod refusal;
mod ticket_draft;
mod time;
mod uuid_prefix;
mod values;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::args::Cli;
use crate::data_dir::DataDir;
use crate::error::CliError;
use crate::output::Output;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let mut out = Output::stdout(cli.json);
    let result = DataDir::resolve(cli.data.as_deref())
        .and_then(|dir| panic_guard::run(&dir.database(), || commands::run(&cli, &dir, &mut out)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`gridsync ticket list | head`) is the reader's choice.
        Err(CliError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            tracing::debug!(error = ?e, "command failed");
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
