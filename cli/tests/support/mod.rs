//! Drives the real `gridsync` binary in temporary data directories.

#![allow(dead_code)] // each test file uses a different part of this

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use client_core::repo::Repo;
use client_core::store::{RedbStore, Store};
use serde_json::Value;
use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_gridsync");

/// Exit codes, as documented in `gridsync --help`.
pub const REFUSED: i32 = 1;
pub const USAGE: i32 = 2;
pub const STORAGE: i32 = 3;

/// One person's data directory.
#[derive(Debug)]
pub struct Gs {
    dir: TempDir,
}

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Asserts the exit code and that the failure was reported as one
    /// `error:` line, not a panic.
    pub fn fails_with(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "{self:#?}");
        assert!(self.stderr.starts_with("error: "), "{self:#?}");
        assert!(!self.stderr.contains("panicked"), "{self:#?}");
        self
    }

    pub fn stderr_has(&self, text: &str) -> &Self {
        assert!(self.stderr.contains(text), "want {text:?} in {self:#?}");
        self
    }
}

impl Gs {
    /// A data directory set up by `gridsync init`.
    pub fn init(user: &str, role: &str, grids: &[&str]) -> Self {
        let gs = Self::empty();
        let mut args = vec!["init", "--user", user, "--role", role];
        for g in grids {
            args.extend(["--grid", g]);
        }
        gs.ok(&args);
        gs
    }

    /// A data directory nobody has set up (the path does not exist yet).
    pub fn empty() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn database(&self) -> PathBuf {
        self.data().join("gridsync.redb")
    }

    /// The binary with `--data` set and the environment cleared of settings.
    pub fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--data")
            .arg(self.data())
            .env_remove("GRIDSYNC_DATA")
            .env_remove("RUST_LOG")
            .env_remove("RUST_BACKTRACE");
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command().args(args).output().expect("run gridsync"))
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(r.code, Some(0), "gridsync {args:?}: {r:#?}");
        r.stdout
    }

    /// Runs with `--json` and parses stdout.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    /// `ticket new` with the given extra flags; returns the id.
    pub fn report(&self, grid: &str, title: &str, extra: &[&str]) -> String {
        let mut args = vec!["ticket", "new", "--grid", grid, "--title", title];
        args.extend_from_slice(extra);
        let id = self.ok(&args).trim().to_owned();
        assert_eq!(id.len(), 36, "a UUID: {id}");
        id
    }

    /// The folded status of a ticket, from `ticket show --json`.
    pub fn status(&self, id: &str) -> String {
        self.json(&["ticket", "show", id])["state"]["status"]
            .as_str()
            .expect("status")
            .to_owned()
    }

    /// `todo --json` as (ticket id, actions, why).
    pub fn todo(&self) -> Vec<(String, Vec<String>, String)> {
        let v = self.json(&["todo"]);
        v.as_array()
            .expect("array")
            .iter()
            .map(|item| {
                let actions = item["actions"]
                    .as_array()
                    .expect("actions")
                    .iter()
                    .map(|a| a.as_str().expect("action").to_owned())
                    .collect();
                (
                    item["ticket"]["id"].as_str().expect("id").to_owned(),
                    actions,
                    item["why"].as_str().expect("why").to_owned(),
                )
            })
            .collect()
    }
}

/// Stands in for sync until there is one: merges every document of
/// `from`'s database into `to`'s through the client-core repo, so `to`
/// gets the changes, the summary index and the grid index entries exactly
/// as a sync would write them. Neither binary may be running.
pub fn merge(from: &Gs, to: &Gs) {
    merge_files(&from.database(), &to.database());
}

fn merge_files(from: &Path, to: &Path) {
    let src = RedbStore::open(from).expect("open source");
    let dst = Repo::new(
        RedbStore::open(to).expect("open target"),
        automerge::ActorId::random(),
    );
    for doc in src.documents().expect("documents") {
        let stored = src.load(&doc).expect("load").expect("listed doc exists");
        let mut merged = dst.load_or_new(&doc).expect("target doc");
        let before = merged.get_heads();
        merged
            .load_incremental(&stored.concat())
            .expect("changes apply");
        let batch = dst.changes_since(&doc, &merged, &before).expect("batch");
        dst.commit(batch).expect("commit");
    }
}
