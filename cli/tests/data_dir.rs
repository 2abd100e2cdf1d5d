//! Where the database lives: `--data`, else `$GRIDSYNC_DATA`, else
//! `$HOME/.gridsync`.

mod support;

use std::process::Command;

use support::BIN;

fn gridsync(home: &std::path::Path) -> Command {
    let mut c = Command::new(BIN);
    c.env("HOME", home)
        .env_remove("GRIDSYNC_DATA")
        .env_remove("RUST_LOG");
    c
}

fn user_of(out: std::process::Output) -> String {
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    v["user"].as_str().expect("user").to_owned()
}

#[test]
fn the_data_directory_is_chosen_by_flag_then_env_then_home() {
    let home = tempfile::tempdir().expect("home");
    let init = |c: &mut Command, user: &str| {
        let out = c
            .args([
                "--json", "init", "--user", user, "--role", "worker", "--grid", "GL-01",
            ])
            .output()
            .expect("run");
        assert_eq!(user_of(out), user);
    };
    init(&mut gridsync(home.path()), "家目录");
    assert!(home.path().join(".gridsync/gridsync.redb").is_file());

    let env_dir = home.path().join("from-env");
    init(
        gridsync(home.path()).env("GRIDSYNC_DATA", &env_dir),
        "环境变量",
    );
    assert!(env_dir.join("gridsync.redb").is_file());

    let flag_dir = home.path().join("from-flag");
    let mut c = gridsync(home.path());
    c.env("GRIDSYNC_DATA", &env_dir)
        .arg("--data")
        .arg(&flag_dir);
    init(&mut c, "参数");

    let whoami = |c: &mut Command| user_of(c.args(["--json", "whoami"]).output().expect("run"));
    assert_eq!(whoami(&mut gridsync(home.path())), "家目录");
    assert_eq!(
        whoami(gridsync(home.path()).env("GRIDSYNC_DATA", &env_dir)),
        "环境变量"
    );
    assert_eq!(
        whoami(
            gridsync(home.path())
                .env("GRIDSYNC_DATA", &env_dir)
                .arg("--data")
                .arg(&flag_dir)
        ),
        "参数"
    );
}
