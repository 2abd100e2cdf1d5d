//! The README's flow with the real binaries: an admin sets up grids, users
//! and tokens with `gridsync-server`; each device logs in with
//! `gridsync login`, syncs with the stored token, and sees exactly what its
//! role allows; the token never shows in `whoami`. People with a password
//! log in with `gridsync login --user`, and the relay issues their device
//! its own token.

use std::path::Path;

use serde_json::Value;
use tests::city::{admin, admin_with_input};
use tests::{Cli, Relay};

fn issue(data: &Path, user: &str) -> String {
    let out = admin(data, &["token", "issue", "--user", user, "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    v["token"].as_str().unwrap().to_owned()
}

fn titles(cli: &Cli) -> Vec<String> {
    let list = cli.json(&["ticket", "list", "--all"]);
    let mut t: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_owned())
        .collect();
    t.sort();
    t
}

#[test]
fn devices_log_in_and_see_exactly_their_scope() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    // The first start creates the database; it serves openly (no users).
    Relay::start(&data).kill();
    for (code, community) in [("GL-01", "幸福社区"), ("GL-02", "和平社区")] {
        admin(
            &data,
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
    admin(
        &data,
        &[
            "user",
            "add",
            "--name",
            "wang",
            "--role",
            "worker",
            "--scope",
            "grids:GL-01",
        ],
    );
    admin(
        &data,
        &[
            "user",
            "add",
            "--name",
            "li",
            "--role",
            "worker",
            "--scope",
            "grids:GL-02",
        ],
    );
    admin(
        &data,
        &[
            "user",
            "add",
            "--name",
            "chen",
            "--role",
            "supervisor",
            "--scope",
            "street:文三街道",
        ],
    );
    let (wang_token, li_token, chen_token) = (
        issue(&data, "wang"),
        issue(&data, "li"),
        issue(&data, "chen"),
    );
    let relay = Relay::start(&data);
    let url = relay.url();

    let wang = Cli::new(&tmp.path().join("wang"));
    let shown = wang.ok(&["login", "--server", &url, "--token", &wang_token]);
    assert!(
        !shown.contains(&wang_token),
        "login printed the token:\n{shown}"
    );
    assert!(shown.contains("stored"), "{shown}");
    let who = wang.ok(&["whoami"]);
    assert!(
        !who.contains(&wang_token),
        "whoami printed the token:\n{who}"
    );
    let who = wang.json(&["whoami"]);
    assert_eq!(who["user"], "wang");
    assert_eq!(who["role"], "worker");
    assert_eq!(who["grids"], serde_json::json!(["GL-01"]));
    assert_eq!(who["token"], "stored");
    let actor = who["actor"].clone();

    wang.ok(&["ticket", "new", "--grid", "GL-01", "--title", "路灯不亮"]);
    wang.json(&["sync"]); // the stored relay and token
    // Logging in again keeps the device's actor id.
    wang.ok(&["login", "--server", &url, "--token", &wang_token]);
    assert_eq!(wang.json(&["whoami"])["actor"], actor);
    // Another user's token is refused on this device.
    let other = wang.run(&["login", "--server", &url, "--token", &li_token]);
    assert_eq!(other.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&other.stderr).contains("fresh --data"));

    let li = Cli::new(&tmp.path().join("li"));
    li.ok(&["login", "--server", &url, "--token", &li_token]);
    li.ok(&["ticket", "new", "--grid", "GL-02", "--title", "占道经营"]);
    li.json(&["sync"]);

    let chen = Cli::new(&tmp.path().join("chen"));
    chen.ok(&["login", "--server", &url, "--token", &chen_token]);
    assert_eq!(
        chen.json(&["whoami"])["grids"],
        serde_json::json!(["GL-01", "GL-02"])
    );
    chen.json(&["sync"]);
    assert_eq!(titles(&chen), ["占道经营", "路灯不亮"]);
    wang.json(&["sync"]);
    assert_eq!(titles(&wang), ["路灯不亮"], "the worker sees only its grid");

    // A device without a token is turned away.
    let anon = Cli::new(&tmp.path().join("anon"));
    anon.ok(&["init", "--user", "x", "--role", "worker", "--grid", "GL-01"]);
    let refused = anon.run(&["sync", "--server", &url]);
    assert_eq!(refused.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("401"));
    let bad = Cli::new(&tmp.path().join("bad"));
    let out = bad.run(&["login", "--server", &url, "--token", "gs_wrong"]);
    assert_eq!(out.status.code(), Some(4));

    // The audit trail names who changed what.
    let rows: Value =
        serde_json::from_str(&admin(&data, &["audit", "--user", "wang", "--json"])).unwrap();
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .any(|r| r["action"] == "change" && r["grid"] == "GL-01"),
        "{rows}"
    );
    let failures: Value = serde_json::from_str(&admin(
        &data,
        &["audit", "--json", "--since", "2000-01-01T00:00:00Z"],
    ))
    .unwrap();
    assert!(
        failures
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["action"] == "auth_failed"),
        "{failures}"
    );
    drop(relay);
}

/// `gridsync login --user NAME --password-stdin` against the real relay:
/// the admin sets passwords with `user add --password-stdin` and `user
/// passwd`; the device logs in, gets a token of its own under its label,
/// never prints it, and syncs with it; a wrong password is refused, and
/// without a terminal the password must come through --password-stdin.
#[test]
fn a_person_logs_in_with_a_password_and_the_device_syncs() {
    const WANG: &str = "王伟的密码 2026";
    const CHEN: &str = "陈主任的密码 2026";
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    Relay::start(&data).kill();
    admin(
        &data,
        &[
            "grid",
            "add",
            "--code",
            "GL-01",
            "--name",
            "GL-01",
            "--community",
            "幸福社区",
            "--street",
            "文三街道",
            "--district",
            "西湖区",
        ],
    );
    let added = admin_with_input(
        &data,
        &[
            "user",
            "add",
            "--name",
            "wang",
            "--role",
            "worker",
            "--scope",
            "grids:GL-01",
            "--password-stdin",
        ],
        &format!("{WANG}\n"),
    );
    assert!(added.contains("with a console password"), "{added}");
    admin(
        &data,
        &[
            "user",
            "add",
            "--name",
            "chen",
            "--role",
            "supervisor",
            "--scope",
            "community:幸福社区",
        ],
    );
    let set = admin_with_input(
        &data,
        &["user", "passwd", "chen", "--password-stdin"],
        &format!("{CHEN}\n"),
    );
    assert!(set.contains("Argon2id"), "{set}");
    let relay = Relay::start(&data);
    let url = relay.url();

    let wang = Cli::new(&tmp.path().join("wang"));
    let login = [
        "login",
        "--server",
        &url,
        "--user",
        "wang",
        "--password-stdin",
        "--device",
        "王伟的手机",
    ];
    let out = wang.run_with_input(&login, &format!("{WANG}\n"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(!shown.contains("gs_"), "login printed a token:\n{shown}");
    let who = wang.json(&["whoami"]);
    assert_eq!(who["user"], "wang");
    assert_eq!(who["role"], "worker");
    assert_eq!(who["grids"], serde_json::json!(["GL-01"]));
    assert_eq!(who["token"], "stored");
    let tokens: Value = serde_json::from_str(&admin(&data, &["token", "list", "--json"])).unwrap();
    assert!(
        tokens
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["user"] == "wang" && t["label"] == "王伟的手机"),
        "{tokens}"
    );

    wang.ok(&["ticket", "new", "--grid", "GL-01", "--title", "井盖松动"]);
    wang.json(&["sync"]);
    let chen = Cli::new(&tmp.path().join("chen"));
    let out = chen.run_with_input(
        &[
            "login",
            "--server",
            &url,
            "--user",
            "chen",
            "--password-stdin",
        ],
        CHEN,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    chen.json(&["sync"]);
    assert_eq!(
        titles(&chen),
        ["井盖松动"],
        "the supervisor gets the worker's ticket"
    );

    // A wrong password is refused, and nothing is set up.
    let bad = Cli::new(&tmp.path().join("bad"));
    let out = bad.run_with_input(
        &[
            "login",
            "--server",
            &url,
            "--user",
            "chen",
            "--password-stdin",
        ],
        "not the password\n",
    );
    assert_eq!(out.status.code(), Some(4));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("user name and password"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !bad.data.join("gridsync.redb").exists(),
        "a refused login sets up no device"
    );
    // Without a terminal the password must come through --password-stdin.
    let out = bad.run_with_input(&["login", "--server", &url, "--user", "chen"], CHEN);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--password-stdin"));
    // Logging in as someone else on wang's device is refused before asking.
    let out = wang.run_with_input(
        &[
            "login",
            "--server",
            &url,
            "--user",
            "chen",
            "--password-stdin",
        ],
        CHEN,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("fresh --data"));

    let rows: Value = serde_json::from_str(&admin(
        &data,
        &["audit", "--json", "--since", "2000-01-01T00:00:00Z"],
    ))
    .unwrap();
    let rows = rows.as_array().unwrap();
    for (action, user) in [
        ("login", "wang"),
        ("token_issued", "wang"),
        ("auth_failed", "chen"),
    ] {
        assert!(
            rows.iter()
                .any(|r| r["action"] == action && r["user"] == user),
            "no {action} row of {user}: {rows:?}"
        );
    }
    drop(relay);
}
