//! `gridsync-server`: the relay's command line.

use std::fs::{File, TryLockError};
use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use client_core::store::RedbStore;
use server::Config;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(name = "gridsync-server", version, about = "The GridSync relay")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// One variant per subcommand; each parses its own flags.
#[derive(Debug, Subcommand)]
enum Command {
    /// Serve devices over WebSocket (automerge-repo protocol v1).
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:3030", env = "GRIDSYNC_LISTEN")]
    listen: String,
    /// Data directory; the database is `<data>/relay.redb`, created if absent.
    #[arg(long, default_value = "./gridsync-data", env = "GRIDSYNC_DATA")]
    data: PathBuf,
    /// Open WebSocket connections beyond which upgrades get HTTP 503.
    #[arg(long, default_value_t = Config::default().max_connections)]
    max_connections: usize,
    /// Documents kept in memory; idle ones beyond this are evicted.
    #[arg(long, default_value_t = Config::default().doc_capacity)]
    doc_capacity: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let outcome = match cli.command {
        Command::Serve(args) => serve(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gridsync-server: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config {
        max_connections: args.max_connections,
        doc_capacity: args.doc_capacity,
        ..Config::default()
    };
    config.validate()?;
    std::fs::create_dir_all(&args.data).with_context(|| {
        format!(
            "could not create the data directory {}",
            args.data.display()
        )
    })?;
    let _lock = lock_data_dir(&args.data)?;
    let path = args.data.join("relay.redb");
    let store = RedbStore::open(&path)
        .with_context(|| format!("could not open the relay database {}", path.display()))?;
    let runtime = tokio::runtime::Runtime::new().context("could not start the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("could not listen on {}", args.listen))?;
        let addr: SocketAddr = listener
            .local_addr()
            .context("could not read the bound address")?;
        println!(
            "gridsync-server listening on ws://{addr} (data: {})",
            args.data.display()
        );
        server::run(listener, Arc::new(store), config, shutdown_signal()).await?;
        Ok(())
    })
}

/// Holds `<data>/relay.lock` for the life of the process: the database
/// itself admits several processes (devices share theirs), but two relays
/// over one directory would answer for the same storage id.
fn lock_data_dir(data: &Path) -> anyhow::Result<File> {
    let path = data.join("relay.lock");
    let file = File::options()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("could not open the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => anyhow::bail!(
            "the data directory {} is in use by another gridsync-server; stop it or choose another --data",
            data.display()
        ),
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("could not lock {}", path.display()))
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}
