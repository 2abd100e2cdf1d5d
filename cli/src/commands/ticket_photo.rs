//! `gridsync ticket photo add` and `ticket photo get`.

use std::path::PathBuf;

use client_core::store::{Store, meta};
use serde_json::json;

use super::resolve_ticket;
use crate::args::{PhotoAddArgs, PhotoGetArgs};
use crate::data_dir::DataDir;
use crate::error::CliError;
use crate::output::Output;
use crate::photos::{self, PhotoStore, Relay};
use crate::time;

/// Copies the photo into this device's store (durably), then records its
/// hash and phase in the ticket.
pub fn add(args: &PhotoAddArgs, dir: &DataDir, out: &mut Output) -> Result<(), CliError> {
    let device = dir.open_device()?;
    let id = resolve_ticket(&device, &args.id)?;
    // Read, then asked, then stored: a file that cannot be read records
    // nothing, and a refusal (a reviewer, an unknown ticket) leaves no file
    // behind.
    let photo = PhotoStore::read(&args.file)?;
    device.may_add_photo(id, &args.phase)?;
    let hash = PhotoStore::new(dir).keep(photo)?;
    device.add_photo(id, &hash, &args.phase, time::now_ms())?;
    if out.is_json() {
        out.json(&json!({ "ticket": id, "photo": hash, "phase": args.phase, "uploaded": false }))
    } else {
        out.line(format!(
            "{hash} ({}) stored on this device; `gridsync sync` uploads it",
            args.phase
        ))
    }
}

/// Writes each photo of the ticket into `--out` as `<phase>-<hash>.<ext>`,
/// from this device's store, else from the relay (checked against its hash
/// and kept on the device).
pub fn get(args: &PhotoGetArgs, dir: &DataDir, out: &mut Output) -> Result<(), CliError> {
    let device = dir.open_device()?;
    let id = resolve_ticket(&device, &args.id)?;
    let ticket = device.ticket(id)?;
    let store = PhotoStore::new(dir);
    std::fs::create_dir_all(&args.out).map_err(|cause| CliError::Storage {
        context: format!("cannot create {}", args.out.display()),
        cause,
    })?;
    let db = device.repo().store();
    let relay = match db.meta(meta::SERVER_URL)? {
        Some(url) => Some(Relay::new(
            &String::from_utf8_lossy(&url),
            db.meta(meta::TOKEN)?
                .map(|t| String::from_utf8_lossy(&t).into_owned()),
        )?),
        None => None,
    };
    let mut written: Vec<PathBuf> = Vec::new();
    let mut missing = Vec::new();
    for p in &ticket.photos {
        let hash = p.hash.to_ascii_lowercase();
        if !photos::is_hash(&hash) {
            continue;
        }
        let bytes = if store.has(&hash) {
            std::fs::read(store.path(&hash)).map_err(|cause| CliError::Storage {
                context: format!("cannot read the stored photo {hash}"),
                cause,
            })?
        } else {
            match relay.as_ref().map(|r| r.download(&hash)).transpose()? {
                Some(Some(bytes)) => {
                    photos::keep_downloaded(&store, &hash, &bytes)?;
                    bytes
                }
                _ => {
                    missing.push(hash);
                    continue;
                }
            }
        };
        let ext = if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
            "jpg"
        } else if bytes.starts_with(b"\x89PNG") {
            "png"
        } else {
            "bin"
        };
        let path = args.out.join(format!("{}-{hash}.{ext}", p.phase));
        std::fs::write(&path, &bytes).map_err(|cause| CliError::Storage {
            context: format!("cannot write {}", path.display()),
            cause,
        })?;
        written.push(path);
    }
    if out.is_json() {
        out.json(&json!({ "ticket": id, "written": written, "missing": missing }))?;
    } else {
        for path in &written {
            out.line(path.display())?;
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(CliError::Photo(format!(
            "{} of the ticket's photos are neither on this device nor on the relay for you \
             (not uploaded yet by whoever took them, or not yours to see); run `gridsync sync` \
             and retry later",
            missing.len()
        )))
    }
}
