//! The systemd unit (`examples/txtraderd.service`): `systemd-analyze verify` accepts it, and
//! txtraderd run with exactly the environment the unit gives it (its `Environment=` lines, `%S`
//! standing for a state directory made as `StateDirectory=` would make it) starts, journals an
//! order in the state directory, and finds it again after a restart, as `Restart=always` does
//! after a `shutdown`.

use serde_json::json;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::process::Command;
use std::time::Duration;
use txtrader_tests::{txtraderd, workspace, Daemon, Http};

const ACCT: &str = "REALTICKDEMO.REALTICK.DEMO32.TRADING";

fn unit() -> String {
    std::fs::read_to_string(workspace().join("examples/txtraderd.service")).expect("the unit")
}

#[test]
fn systemd_analyze_verifies_the_unit() {
    let dir = tempfile::tempdir().expect("dir");
    // the unit names the installed binary; verify checks that it exists and is executable
    let text = unit().replace("/usr/local/bin/txtraderd", txtraderd().to_str().expect("utf-8"));
    let path = dir.path().join("txtraderd.service");
    std::fs::write(&path, text).expect("write");
    let out = Command::new("timeout").args(["60", "systemd-analyze", "verify"]).arg(&path).output().expect("systemd-analyze (Debian: systemd)");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "systemd-analyze verify refused the unit:\n{said}");
    assert!(!said.contains("txtraderd.service:"), "no warning about the unit itself:\n{said}");
}

#[test]
fn the_units_environment_keeps_the_journal_in_the_state_directory() {
    let state = tempfile::tempdir().expect("state");
    let text = unit();
    // StateDirectory= makes these, owned by the service's user, mode StateDirectoryMode=0700
    let dirs: Vec<&str> = text.lines().find_map(|l| l.strip_prefix("StateDirectory=")).expect("StateDirectory=").split_whitespace().collect();
    for d in &dirs {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(state.path().join(d)).expect("state dir");
    }
    let s = state.path().to_str().expect("utf-8");
    let env: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("Environment="))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace("%S", s)))
        .collect();
    assert!(env.iter().any(|(k, _)| k == "TXTRADER_DATA_DIR"), "the unit passes the state directory: {env:?}");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    let d = Daemon::start("systemd-a", &env);
    let http = Http::new(d.http_port);
    http.wait_status("Up");
    let o = http.ok("market_order", &json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 10}));
    let permid = o["permid"].as_str().expect("permid").to_owned();
    http.wait_order(&permid, &["Filled"]);
    let journal = state.path().join("txtrader/journal.sqlite");
    assert!(journal.exists(), "the journal is in the state directory");
    let adapters = state.path().join("txtrader/adapters");
    assert_eq!(std::fs::metadata(&adapters).expect("adapter folder").permissions().mode() & 0o077, 0, "the adapter folder is private");
    http.ok("shutdown", &json!({"message": "restart as systemd would"}));
    let mut d = d;
    assert!(d.wait_exit(Duration::from_secs(30)).is_some_and(|s| s.success()), "a requested shutdown exits 0, which Restart=always restarts");

    let d = Daemon::start("systemd-b", &env);
    let http = Http::new(d.http_port);
    http.wait_status("Up");
    assert_eq!(http.ok("query_order", &json!({"id": permid}))["status"], "Filled", "the order came back from the journal");
}
