//! Support for GridSync's end-to-end tests: the real `gridsync-server` and
//! `gridsync` binaries run as child processes on loopback, each with its
//! own data directory.
//!
//! The binaries are the workspace's own build outputs (`target/<profile>/`);
//! `cargo test --workspace` builds them because the `server` and `cli`
//! packages have integration tests of their own.

pub mod city;
pub mod proxy;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `len` bytes that start like a JPEG and do not compress (a JPEG's
/// entropy-coded data does not): xorshift64* from `seed`, so each seed
/// gives other bytes and every run the same ones.
pub fn photo_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len + 8);
    bytes.extend_from_slice(&[0xff, 0xd8, 0xff, 0xe0]);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d);
    while bytes.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        bytes.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// Path of a workspace binary next to the running test executable, or in
/// `GRIDSYNC_BIN_DIR` when set (a long benchmark run from copies, so a
/// rebuild meanwhile does not change what it runs).
pub fn bin(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("GRIDSYNC_BIN_DIR") {
        let path = PathBuf::from(dir).join(name);
        assert!(path.exists(), "{} is missing", path.display());
        return path;
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --workspace --bins` first (the README's test command does)",
        path.display()
    );
    path
}

/// A relay server process.
#[derive(Debug)]
pub struct Relay {
    child: Child,
    pub addr: String,
    pub data: PathBuf,
}

impl Relay {
    /// Starts `gridsync-server serve` on a free loopback port over `data`.
    pub fn start(data: &Path) -> Relay {
        Self::start_on(data, "127.0.0.1:0")
    }

    pub fn start_on(data: &Path, listen: &str) -> Relay {
        Self::start_binary(&bin("gridsync-server"), data, listen)
    }

    /// [`Self::start_on`] with another build of `gridsync-server` (a
    /// benchmark comparing two).
    pub fn start_binary(binary: &Path, data: &Path, listen: &str) -> Relay {
        Self::start_with(binary, data, listen, &[])
    }

    /// [`Self::start_binary`] with more `serve` flags (`--max-photo-size`).
    pub fn start_with(binary: &Path, data: &Path, listen: &str, flags: &[&str]) -> Relay {
        let mut child = Command::new(binary)
            .args(["serve", "--listen", listen, "--data"])
            .arg(data)
            .args(flags)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start gridsync-server");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("gridsync-server exited before it listened")
                .expect("read gridsync-server output");
            if let Some(rest) = line.split("ws://").nth(1) {
                break rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .trim_end_matches('/')
                    .to_owned();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Relay {
            child,
            addr,
            data: data.to_path_buf(),
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no drain, no flush.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a graceful exit; returns whether it exited 0.
    pub fn terminate(mut self) -> bool {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One device's `gridsync` command line.
#[derive(Debug, Clone)]
pub struct Cli {
    pub data: PathBuf,
}

impl Cli {
    pub fn new(data: &Path) -> Cli {
        Cli {
            data: data.to_path_buf(),
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(bin("gridsync"))
            .arg("--data")
            .arg(&self.data)
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run gridsync")
    }

    /// Runs with `input` on stdin (a password for `--password-stdin`).
    pub fn run_with_input(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write as _;
        let mut child = Command::new(bin("gridsync"))
            .arg("--data")
            .arg(&self.data)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run gridsync");
        let mut stdin = child.stdin.take().expect("piped stdin");
        // A command that refuses before reading (a bad flag, the wrong
        // device) exits with its input unread: a closed pipe is its answer,
        // which the caller checks, not a failure of the harness.
        match stdin.write_all(input.as_bytes()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.expect("write stdin"),
        }
        drop(stdin);
        child.wait_with_output().expect("run gridsync")
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "gridsync {args:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Runs with `--json` and parses stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("gridsync {args:?} printed no JSON ({e}): {out}"))
    }
}
