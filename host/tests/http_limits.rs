//! The HTTP listener on a real socket against clients that are slow or too many: headers and
//! bodies have deadlines, connections a cap, and a well-behaved client is served throughout.

use base64::Engine;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use txtrader_host::config::Config;
use txtrader_plugin_api::model::ConnectionStatus;

async fn gateway(extra: &[(&str, &str)]) -> txtrader_host::Running {
    let mut env: BTreeMap<String, String> = [("TXTRADER_HTTP_PORT", "0"), ("TXTRADER_TCP_PORT", "0"), ("TXTRADER_JOURNAL", "0"), ("TXTRADER_ENABLE_AUTO_RESET", "0")]
        .iter()
        .chain(extra)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    env.insert("TXTRADER_LOG_HTTP_REQUESTS".into(), "0".into());
    let running = txtrader_host::start(&Config::from_map(&env, "box").expect("config")).await.expect("start");
    timeout(Duration::from_secs(10), running.gateway.wait_status(|s| s == ConnectionStatus::Up)).await.expect("up");
    running
}

/// Sends `bytes` and answers everything received until the server closes (at most 10 s), and
/// how long that took.
async fn exchange(addr: SocketAddr, bytes: &[u8]) -> (String, Duration) {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(bytes).await.expect("write");
    let mut out = Vec::new();
    let _ = timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    (String::from_utf8_lossy(&out).into_owned(), started.elapsed())
}

fn status_request() -> Vec<u8> {
    let auth = base64::engine::general_purpose::STANDARD.encode("txtrader_user:change_this_password");
    format!("GET /status HTTP/1.1\r\nHost: t\r\nAuthorization: Basic {auth}\r\nConnection: close\r\n\r\n").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_slow_bodies_and_too_many_connections_are_cut_off() {
    let gw = gateway(&[("TXTRADER_HTTP_HEADER_TIMEOUT", "1"), ("TXTRADER_HTTP_BODY_TIMEOUT", "1"), ("TXTRADER_HTTP_MAX_CONNECTIONS", "8")]).await;
    let addr = gw.http_addr;
    let (ok, _) = exchange(addr, &status_request()).await;
    assert!(ok.starts_with("HTTP/1.1 200") && ok.ends_with("\"Up\""), "{ok}");

    // headers that never finish: closed at the deadline, not held
    let (_, took) = exchange(addr, b"GET /status HTTP/1.1\r\nHost: t\r\n").await;
    assert!(took < Duration::from_secs(8), "closed after the header deadline: {took:?}");

    // a body that never finishes: 408 with the reason
    let auth = base64::engine::general_purpose::STANDARD.encode("txtrader_user:change_this_password");
    let partial = format!("POST /query_order HTTP/1.1\r\nHost: t\r\nAuthorization: Basic {auth}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"id\":");
    let (answer, _) = exchange(addr, partial.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 408") && answer.contains("not received within 1 s"), "{answer}");

    // eight idle connections take every place: the ninth is closed at once; once the idle ones
    // reach the header deadline, requests are served again
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(TcpStream::connect(addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (refused, took) = exchange(addr, &status_request()).await;
    assert!(refused.is_empty() && took < Duration::from_secs(2), "refused at once: {refused:?} after {took:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (ok, _) = exchange(addr, &status_request()).await;
        if ok.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "served again after the idle connections' deadline");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(idle);
}
