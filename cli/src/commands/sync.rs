//! `gridsync sync`: sync this device with the relay.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use client_core::client::{self, ClientConfig, ClientEvent};
use client_core::store::{Batch, RedbStore, Store, meta};
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::SyncArgs;
use crate::data_dir::DataDir;
use crate::error::CliError;
use crate::output::Output;
use crate::photos::{PhotoStore, Relay, Sent};

pub fn run(args: &SyncArgs, dir: &DataDir, out: &mut Output) -> Result<(), CliError> {
    let store = dir.open_shared()?;
    let url = match &args.server {
        // The address given is the one the next `sync` uses, whether or not
        // the relay answers now: a worker names the link while out of reach
        // and syncs plainly once the signal returns (README, "A photo from
        // the field to the console"). `--watch` has always done the same.
        Some(url) => {
            crate::commands::api_url(url, "/")?;
            remember_server(&store, url)?;
            url.clone()
        }
        None => match store.meta(meta::SERVER_URL)? {
            Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            None => {
                return Err(CliError::Usage(
                    "no relay known yet: pass --server ws://HOST:3030/ (it is remembered)".into(),
                ));
            }
        },
    };
    let mut cfg = ClientConfig::new(url.clone());
    cfg.idle_timeout = Duration::from_secs(args.timeout.max(1));
    cfg.token = store
        .meta(meta::TOKEN)?
        .map(|t| String::from_utf8_lossy(&t).into_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Internal(format!("cannot start the sync runtime: {e}")))?;
    if args.watch {
        return watch(&runtime, store, &cfg);
    }
    let bar = progress_bar();
    let report =
        runtime.block_on(client::sync_until_quiescent(
            store.clone(),
            &cfg,
            |event| match event {
                ClientEvent::Connected { relay } => {
                    bar.set_message(format!("connected to {relay}"))
                }
                ClientEvent::Progress { done, total } => {
                    bar.set_length(total as u64);
                    bar.set_position(done as u64);
                }
                _ => {}
            },
        ));
    bar.finish_and_clear();
    let report = report?;
    // Photos after the documents: the relay takes a photo only for a ticket
    // it holds that lists it.
    let photos = upload_photos(dir, &url, cfg.token.clone(), &listed_photos(&store)?)?;
    if out.is_json() {
        out.json(&serde_json::json!({
            "relay": url,
            "documents": report.documents,
            "acknowledged": report.acknowledged,
            "received": report.received,
            "pending": report.pending.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
            "bytes_in": report.bytes_in,
            "bytes_out": report.bytes_out,
            "photos_uploaded": photos.uploaded,
            "photos_not_uploaded": photos.left.iter().map(|(h, _)| h).collect::<Vec<_>>(),
        }))?;
    } else {
        out.line(format!(
            "synced {} documents with {url}: {} acknowledged, {} received changes",
            report.documents, report.acknowledged, report.received
        ))?;
        if photos.uploaded > 0 || !photos.left.is_empty() {
            out.line(format!(
                "photos: {} uploaded, {} not yet uploaded",
                photos.uploaded,
                photos.left.len()
            ))?;
            for (hash, why) in &photos.left {
                out.line(format!("  not uploaded {hash}: {why}"))?;
            }
        }
    }
    if !report.pending.is_empty() {
        return Err(CliError::Unacknowledged(format!(
            "{} documents have local changes the relay has not acknowledged yet; run `gridsync sync` again",
            report.pending.len()
        )));
    }
    if !photos.left.is_empty() {
        return Err(CliError::Unacknowledged(format!(
            "{} photos are not uploaded yet; run `gridsync sync` again (uploads resume where they stopped)",
            photos.left.len()
        )));
    }
    Ok(())
}

/// What the photo uploads of one sync did.
struct PhotoUploads {
    uploaded: usize,
    /// Photos still only on this device, with the reason.
    left: Vec<(String, String)>,
}

/// Every photo a ticket on this device lists: the ones the relay takes.
fn listed_photos(store: &RedbStore) -> Result<BTreeSet<String>, CliError> {
    let mut listed = BTreeSet::new();
    for doc in store.documents()? {
        if let Some(summary) = store.summary(&doc)? {
            listed.extend(summary.photos);
        }
    }
    Ok(listed)
}

fn upload_photos(
    dir: &DataDir,
    url: &str,
    token: Option<String>,
    listed: &BTreeSet<String>,
) -> Result<PhotoUploads, CliError> {
    let store = PhotoStore::new(dir);
    let pending = store.pending(listed)?;
    let mut done = PhotoUploads {
        uploaded: 0,
        left: Vec::new(),
    };
    if pending.is_empty() {
        return Ok(done);
    }
    let relay = Relay::new(url, token)?;
    let bar = photo_bar();
    for (i, hash) in pending.iter().enumerate() {
        bar.set_message(format!("photo {}/{} {}", i + 1, pending.len(), &hash[..12]));
        let sent = relay.upload(&store, hash, |at, total| {
            bar.set_length(total);
            bar.set_position(at);
        })?;
        match sent {
            Sent::Done => done.uploaded += 1,
            Sent::Later(why) => done.left.push((hash.clone(), why)),
        }
    }
    bar.finish_and_clear();
    Ok(done)
}

fn photo_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

fn remember_server(store: &Arc<RedbStore>, url: &str) -> Result<(), CliError> {
    let mut batch = Batch::new();
    batch.put_meta(meta::SERVER_URL, url.as_bytes().to_vec());
    store.write(batch)?;
    Ok(())
}

fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} documents")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

fn watch(
    runtime: &tokio::runtime::Runtime,
    store: Arc<RedbStore>,
    cfg: &ClientConfig,
) -> Result<(), CliError> {
    let url = cfg.url.clone();
    eprintln!("watching: syncing with {url} until Ctrl-C");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    runtime.block_on(client::watch(
        store,
        cfg,
        Duration::from_secs(2),
        |event| match event {
            ClientEvent::Connected { relay } => eprintln!("connected to {relay}"),
            ClientEvent::Progress { done, total } if done == total => {
                eprintln!("in sync: {total} documents acknowledged");
            }
            ClientEvent::RemoteChange { doc } => eprintln!("received changes to {doc}"),
            ClientEvent::Disconnected { reason } => eprintln!("disconnected: {reason}"),
            ClientEvent::Retrying { after, .. } => {
                eprintln!("retrying in {:.1} s", after.as_secs_f64())
            }
            ClientEvent::Progress { .. } => {}
        },
        shutdown,
    ))?;
    Ok(())
}
