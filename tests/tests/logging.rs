//! The log never holds a request up: txtraderd writes its log from a thread of its own, and
//! when whoever reads it stops (a stuck pipe, a full terminal), lines are dropped and counted
//! rather than requests waiting for room.

use serde_json::json;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use txtrader_tests::{txtraderd, Http};

const ACCT: &str = "REALTICKDEMO.REALTICK.DEMO32.TRADING";

#[test]
fn a_log_reader_that_stops_reading_does_not_stop_the_gateway() {
    let data = tempfile::tempdir().expect("data");
    let mut child = Command::new(txtraderd())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TXTRADER_HTTP_PORT", "0")
        .env("TXTRADER_TCP_PORT", "0")
        .env("TXTRADER_DATA_DIR", data.path())
        .env("TXTRADER_SIM_FILL_DELAY_MS", "0")
        // room for a few hundred lines: the orders below overflow it
        .env("TXTRADER_LOG_BUFFER_LINES", "500")
        .stdout(Stdio::piped())
        // a pipe nobody reads until the end: it holds 64 KiB, the orders below log far more
        .stderr(Stdio::piped())
        .spawn()
        .expect("txtraderd starts");
    let stdout = child.stdout.take().expect("stdout");
    let (ports, port_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // stdout stays read: txtraderd prints where it listens there
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(port) = line.strip_prefix("txtraderd: http listening on ").and_then(|a| a.rsplit(':').next()?.parse::<u16>().ok()) {
                let _ = ports.send(port);
            }
        }
    });
    let port = port_rx.recv_timeout(Duration::from_secs(60)).expect("the http address");
    let http = Http::new(port);
    http.wait_status("Up");
    let started = Instant::now();
    for i in 0..600 {
        let qty = if i % 2 == 0 { 10 } else { -10 };
        let o = http.ok("market_order", &json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": qty}));
        assert!(o["permid"].is_string(), "{o}");
    }
    assert!(started.elapsed() < Duration::from_secs(120), "orders answered while nobody read the log");
    // reading again: the writer catches up and says how much it dropped
    let mut stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        let mut text = String::new();
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
            if let Some(at) = text.find("log lines dropped") {
                let _ = tx.send(text[at.saturating_sub(200)..].to_owned());
                return;
            }
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(30)).expect("the dropped lines are reported");
    assert!(line.contains("dropped="), "{line}");
    let _ = child.kill();
    let _ = child.wait();
}

/// A port free on 127.0.0.1 a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

#[test]
fn nobody_reading_stdout_does_not_stop_the_gateway() {
    // Started with its stdout already closed (a supervisor that does not read it): the
    // listening addresses it prints go nowhere, and it serves.
    let data = tempfile::tempdir().expect("data");
    let (http_port, tcp_port) = (free_port(), free_port());
    let mut child = Command::new(txtraderd())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TXTRADER_HTTP_PORT", http_port.to_string())
        .env("TXTRADER_TCP_PORT", tcp_port.to_string())
        .env("TXTRADER_DATA_DIR", data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("txtraderd starts");
    drop(child.stdout.take());
    let http = Http::new(http_port);
    let deadline = Instant::now() + Duration::from_secs(60);
    while http.try_call("status", &json!({})).is_none() {
        assert!(child.try_wait().expect("status").is_none(), "txtraderd stopped");
        assert!(Instant::now() < deadline, "txtraderd never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
    http.wait_status("Up");
    assert_eq!(http.ok("query_accounts", &json!({})).as_array().map(Vec::len), Some(2));
    assert!(child.try_wait().expect("status").is_none(), "still running");
    let _ = child.kill();
    let _ = child.wait();
}
