//! Conformance with the real Python clients: builds and starts `txtraderd` on free loopback
//! ports and runs the pytest suite of `tests/compat` against it: `txtrader-client` 1.5.4
//! (library and CLI) over HTTP, `txtrader-monitor` 1.1.8 on the stream; then checks that the
//! `shutdown` command made the process exit with code 0. It runs twice on the simulator, with
//! the machine (daemon and clients) in UTC and in Asia/Tokyo: the API's naive times are in
//! `TXTRADER_API_TIMEZONE` (New York) either way; and once in `rtx` mode, the RealTick adapter
//! trading through the fake RTGW (`tests/peers/fake_rtgw.py`), with the same assertions except
//! where a behaviour is the back-end's (`TXTRADER_TEST_BACKEND`).

use std::process::Command;
use std::time::Duration;
use txtrader_tests::{venv, workspace, Daemon};

const ACCOUNT: &str = "REALTICKDEMO.REALTICK.DEMO32.TRADING";

/// The machine in UTC: naive API times are still New York's (`TXTRADER_API_TIMEZONE`).
#[test]
fn real_txtrader_client_conformance_with_the_machine_in_utc() {
    conformance("conformance-utc", "UTC");
}

/// The machine in a far zone: the same answers.
#[test]
fn real_txtrader_client_conformance_with_the_machine_in_tokyo() {
    conformance("conformance-tokyo", "Asia/Tokyo");
}

/// The RealTick adapter against the fake RTGW, the machine in Tokyo.
#[test]
fn real_txtrader_client_conformance_in_rtx_mode() {
    let fake = txtrader_tests::FakeRtgw::start(&[("FAKE_RTGW_FILL_DELAY", "0.3")]);
    let dir = txtrader_tests::temp_folder("conformance-rtx-adapters");
    std::fs::copy(txtrader_tests::build_adapter("txtrader-adapter-rtx", None), dir.join("libtxtrader_adapter_rtx.so")).expect("copy the adapter");
    let port = fake.port.to_string();
    let extra = [("TXTRADER_ADAPTER_DIR", dir.to_str().expect("utf-8")), ("TXTRADER_MODE", "rtx"), ("TXTRADER_API_PORT", port.as_str())];
    conformance_with("conformance-rtx", "Asia/Tokyo", &extra);
}

fn conformance(name: &str, machine_zone: &str) {
    conformance_with(name, machine_zone, &[]);
}

fn conformance_with(name: &str, machine_zone: &str, extra: &[(&str, &str)]) {
    let venv = venv();
    let limits = workspace().join("tests/fixtures/risk-conformance.toml");
    let mut env = vec![
            ("TZ", machine_zone),
            ("TXTRADER_API_ROUTE", "DEMOEUR"),
            // a run crossing 05:00 local time must not meet the daily auto-reset
            ("TXTRADER_ENABLE_AUTO_RESET", "0"),
            ("TXTRADER_USERNAME", "conformance_user"),
            ("TXTRADER_PASSWORD", "s3cret-pass:word"),
            // quicker partial fills, still observable between polls
            ("TXTRADER_SIM_TICK_MS", "500"),
            ("TXTRADER_RISK_FILE", limits.to_str().expect("utf-8")),
    ];
    env.extend_from_slice(extra);
    let mut daemon = Daemon::start(name, &env);
    let path = format!("{}:{}", venv.join("bin").display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new(venv.join("bin/python"))
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "compat"])
        .current_dir(workspace().join("tests"))
        .env("PATH", path)
        .env("TZ", machine_zone)
        .env("TXTRADER_HOST", "127.0.0.1")
        .env("TXTRADER_HTTP_PORT", daemon.http_port.to_string())
        .env("TXTRADER_TCP_PORT", daemon.tcp_port.to_string())
        .env("TXTRADER_USERNAME", "conformance_user")
        .env("TXTRADER_PASSWORD", "s3cret-pass:word")
        .env("TXTRADER_API_ACCOUNT", ACCOUNT)
        .env("TXTRADER_ROUTE", "DEMOEUR")
        .env("TXTRADER_MODE", "rtx")
        .env("TXTRADER_TEST_BACKEND", if extra.iter().any(|(k, v)| *k == "TXTRADER_MODE" && *v == "rtx") { "fake_rtgw" } else { "sim" })
        .output()
        .expect("pytest runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "pytest failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- txtraderd log (tail)\n{}",
        tail(&daemon.log_text(), 80)
    );
    println!("{stdout}");
    let status = daemon.wait_exit(Duration::from_secs(20)).expect("txtraderd exits after the shutdown command");
    assert_eq!(status.code(), Some(0), "shutdown exits cleanly so a supervisor restarts it");
    let log = daemon.log_text();
    assert!(log.contains("shutdown requested by 127.0.0.1:"), "the shutdown is logged");
    assert!(!log.contains("s3cret"), "the password never reaches the log");
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
