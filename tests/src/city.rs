//! A small city set up with the real `gridsync-server` administration
//! commands: grids GL-01 and GL-02 in 文三街道, the workers `wang` (GL-01)
//! and `li` (GL-02), and the street supervisor `chen`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::{Relay, bin};

/// `gridsync-server ARGS --data DATA`, expected to succeed; its stdout.
pub fn admin(data: &Path, args: &[&str]) -> String {
    let out = Command::new(bin("gridsync-server"))
        .args(args)
        .arg("--data")
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run gridsync-server");
    assert!(
        out.status.success(),
        "gridsync-server {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `gridsync-server ARGS --data DATA` with `input` on stdin (a password
/// for `--password-stdin`), expected to succeed; its stdout.
pub fn admin_with_input(data: &Path, args: &[&str], input: &str) -> String {
    use std::io::Write as _;
    let mut child = Command::new(bin("gridsync-server"))
        .args(args)
        .arg("--data")
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run gridsync-server");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(input.as_bytes()).expect("write stdin");
    drop(stdin);
    let out = child.wait_with_output().expect("run gridsync-server");
    assert!(
        out.status.success(),
        "gridsync-server {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Creates the relay database in `data` with the city's grids and users;
/// returns each user's token.
pub fn set_up(data: &Path) -> BTreeMap<&'static str, String> {
    // The first start creates the database.
    Relay::start(data).kill();
    for (code, community) in [("GL-01", "幸福社区"), ("GL-02", "和平社区")] {
        admin(
            data,
            &[
                "grid",
                "add",
                "--code",
                code,
                "--name",
                code,
                "--community",
                community,
                "--street",
                "文三街道",
                "--district",
                "西湖区",
            ],
        );
    }
    let users = [
        ("wang", "worker", "grids:GL-01"),
        ("li", "worker", "grids:GL-02"),
        ("chen", "supervisor", "street:文三街道"),
    ];
    let mut tokens = BTreeMap::new();
    for (name, role, scope) in users {
        admin(
            data,
            &[
                "user", "add", "--name", name, "--role", role, "--scope", scope,
            ],
        );
        let out = admin(data, &["token", "issue", "--user", name, "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        tokens.insert(name, v["token"].as_str().unwrap().to_owned());
    }
    tokens
}

/// `GET path` of the relay at `addr` with `token`: status and body.
pub fn http_get(addr: &str, path: &str, token: &str) -> (u16, Vec<u8>) {
    use std::io::{Read as _, Write as _};
    let mut tcp = std::net::TcpStream::connect(addr).expect("connect to the relay");
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP head");
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (status, raw[split + 4..].to_vec())
}
