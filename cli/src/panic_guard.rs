//! Turns a panic into an `error:` line and an exit code.
//!
//! redb checks its file header but trusts its pages: a database whose
//! body was damaged (a bad sector, a truncated copy) makes redb 4 hit
//! `unreachable!()` while walking a B-tree instead of returning
//! `StorageError::Corrupted`. Such a panic, raised inside redb's code, is
//! reported as a damaged database (exit 3); any other panic is a bug in
//! gridsync and is reported as such (exit 101), never as a backtrace.

use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::Mutex;

use client_core::store::StoreError;

use crate::error::CliError;

/// What the panic hook saw: the message and the source file it came from.
static LAST_PANIC: Mutex<Option<(String, String)>> = Mutex::new(None);

/// Runs `f`; a panic becomes a [`CliError`]. `database` names the file in
/// the message when the panic came from the storage engine.
pub fn run<T>(database: &Path, f: impl FnOnce() -> Result<T, CliError>) -> Result<T, CliError> {
    panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_owned());
        let file = info.location().map_or_else(String::new, |l| l.to_string());
        tracing::debug!(%message, at = %file, "panicked");
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some((message, file));
        }
    }));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    let _ = panic::take_hook();
    match result {
        Ok(r) => r,
        Err(_) => {
            let (message, file) = LAST_PANIC
                .lock()
                .ok()
                .and_then(|mut l| l.take())
                .unwrap_or_else(|| ("panic".to_owned(), String::new()));
            Err(classify(database, &message, &file))
        }
    }
}

fn classify(database: &Path, message: &str, file: &str) -> CliError {
    let engine_file = file
        .find("/redb-")
        .or_else(|| file.find("\\redb-"))
        .map(|i| &file[i + 1..]);
    if let Some(at) = engine_file {
        CliError::from(StoreError::Corrupted {
            path: database.display().to_string(),
            detail: format!("the storage engine failed: {message} at {at}"),
        })
    } else {
        CliError::Internal(format!(
            "gridsync hit a bug ({message} at {file}); nothing more was written. \
             Please report it with the output of the same command run with RUST_LOG=debug"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{EXIT_INTERNAL, EXIT_STORAGE};

    #[test]
    fn panics_become_errors_by_origin() {
        let db = Path::new("/d/gridsync.redb");
        let storage = classify(
            db,
            "internal error",
            "/r/redb-4.6.0/src/tree_store/btree.rs:1:1",
        );
        assert_eq!(storage.exit_code(), EXIT_STORAGE);
        assert!(storage.to_string().contains("damaged"), "{storage}");
        assert!(
            storage.to_string().contains("at redb-4.6.0/src/tree_store"),
            "{storage}"
        );
        let bug = classify(db, "boom", "cli/src/output.rs:1:1");
        assert_eq!(bug.exit_code(), EXIT_INTERNAL);
        assert!(bug.to_string().contains("boom"), "{bug}");
    }
}
