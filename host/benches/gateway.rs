//! HTTP benchmark: requests/s and latency of txtraderd on loopback, against a baseline.
//!
//! `cargo bench -p txtrader-host --bench gateway [-- SECONDS CONNECTIONS] [--default-logging]`
//!
//! Starts the real gateway (simulated exchange, HTTP request logging off) and, in the same
//! process, a baseline axum router on the gateway's own HTTP listener whose one handler returns
//! `"Up"` with no authentication or gateway behind it. Each scenario runs CONNECTIONS keep-alive HTTP/1.1 clients for SECONDS and
//! reports requests/s, p50 and p99, and the ratio of its throughput to the baseline's.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use txtrader_host::config::Config;

const AUTH: &str = "Basic dHh0cmFkZXJfdXNlcjpjaGFuZ2VfdGhpc19wYXNzd29yZA=="; // txtrader_user:change_this_password

/// `bench-user:bench-password`, a user of the users file (an argon2 hash, remembered once verified).
const USER_AUTH: &str = "Basic YmVuY2gtdXNlcjpiZW5jaC1wYXNzd29yZA==";

#[derive(Clone)]
struct Scenario {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    body: Option<String>,
    auth: &'static str,
}

struct Result {
    requests: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
}

impl Result {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

async fn client(addr: SocketAddr, s: Scenario, until: Instant) -> Vec<Duration> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(conn);
    let mut lat = Vec::new();
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        let body = s.body.clone().map(|b| b.replace("{SIDE}", if n.is_multiple_of(2) { "1" } else { "-1" })).unwrap_or_default();
        let req = Request::builder()
            .method(s.method)
            .uri(s.path)
            .header("host", "bench")
            .header("authorization", s.auth)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        let t0 = Instant::now();
        let resp = send.send_request(req).await.expect("response");
        let status = resp.status();
        let _ = resp.into_body().collect().await.expect("body");
        assert!(status.is_success(), "{} answered {status}", s.name);
        lat.push(t0.elapsed());
    }
    lat
}

async fn run(addr: SocketAddr, s: &Scenario, secs: u64, conns: usize) -> Result {
    let start = Instant::now();
    let until = start + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..conns).map(|_| tokio::spawn(client(addr, s.clone(), until))).collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client"));
    }
    let elapsed = start.elapsed();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    Result { requests: all.len(), elapsed, p50: pct(0.50), p99: pct(0.99) }
}

async fn baseline() -> SocketAddr {
    let app = axum::Router::new().fallback(|| async {
        ([(axum::http::header::CONTENT_TYPE, "application/json")], "\"Up\"")
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    // the gateway's own HTTP listener, so the ratio is the cost of what is behind it
    let limits = txtrader_host::rpc::listener::Limits { header_timeout: std::time::Duration::from_secs(10), max_connections: 1024, max_per_address: 64 };
    let gate = txtrader_host::rpc::listener::Gate::new(limits);
    tokio::spawn(txtrader_host::rpc::listener::serve(listener, app, gate, None, std::future::pending()));
    addr
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let secs: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(3);
    let conns: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(16);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    // `--default-logging`: request, response and order lines logged, as by default
    let default_logging = std::env::args().any(|a| a == "--default-logging");
    rt.block_on(async {
        let quiet = [
            ("TXTRADER_LOG_HTTP_REQUESTS", "0"),
            ("TXTRADER_LOG_HTTP_RESPONSES", "0"),
            ("TXTRADER_LOG_ORDER_UPDATES", "0"),
            ("TXTRADER_LOG_EXECUTION_UPDATES", "0"),
        ];
        // a users file with one user, beside the legacy pair (TXTRADER_PASSWORD set)
        let users_dir = tempfile::tempdir().expect("users dir");
        let users_file = users_dir.path().join("users.toml");
        let hash = txtrader_host::access::authenticator::hash_password("bench-password").expect("hash");
        std::fs::write(&users_file, format!("[users.bench-user]\npassword = \"{hash}\"\nroles = [\"read\", \"trade\"]\naccounts = [\"*\"]\n")).expect("users file");
        let users_path = users_file.to_str().expect("utf-8").to_owned();
        let env: BTreeMap<String, String> = [
            ("TXTRADER_USERS_FILE", users_path.as_str()),
            ("TXTRADER_PASSWORD", "change_this_password"),
            ("TXTRADER_HTTP_PORT", "0"),
            ("TXTRADER_ENABLE_AUTO_RESET", "0"),
            ("TXTRADER_JOURNAL", "0"), // as before the journal; `--bench journal` measures it
        ]
        .iter()
        .chain(if default_logging { &quiet[..0] } else { &quiet[..] })
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let config = Config::from_map(&env, "bench").expect("config");
        let running = txtrader_host::start(&config).await.expect("gateway starts");
        running.gateway.wait_status(|s| s == txtrader_plugin_api::model::ConnectionStatus::Up).await;
        let gw = running.http_addr;
        running.gateway.add_symbol(txtrader_plugin_api::model::Symbol::new("IBM").expect("symbol"), None).await.expect("IBM active");
        let base = baseline().await;
        let order = r#"{"account":"REALTICKDEMO.REALTICK.DEMO32.TRADING","route":"DEMO","symbol":"IBM","quantity":{SIDE}}"#;
        let scenarios = [
            (base, Scenario { name: "baseline: axum, constant \"Up\"", method: "GET", path: "/status", body: None, auth: AUTH }),
            (gw, Scenario { name: "GET /status", method: "GET", path: "/status", body: None, auth: AUTH }),
            (gw, Scenario { name: "GET /status (users-file user)", method: "GET", path: "/status", body: None, auth: USER_AUTH }),
            (gw, Scenario { name: "POST /status", method: "POST", path: "/status", body: Some("{}".into()), auth: AUTH }),
            (gw, Scenario { name: "POST /query_positions", method: "POST", path: "/query_positions", body: Some("{\"x\":1}".into()), auth: AUTH }),
            (gw, Scenario { name: "POST /query_symbol (IBM)", method: "POST", path: "/query_symbol", body: Some("{\"symbol\":\"IBM\"}".into()), auth: AUTH }),
            (gw, Scenario { name: "POST /market_order (round trip to ack)", method: "POST", path: "/market_order", body: Some(order.into()), auth: AUTH }),
            (gw, Scenario { name: "POST /market_order (users-file user)", method: "POST", path: "/market_order", body: Some(order.into()), auth: USER_AUTH }),
        ];
        println!(
            "{secs} s per scenario, {conns} keep-alive connections, loopback, {} cores, {}",
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            if default_logging { "default logging (to stderr)" } else { "request, response and order lines off" }
        );
        println!("{:<42} {:>10} {:>10} {:>10} {:>12}", "scenario", "req/s", "p50 µs", "p99 µs", "vs baseline");
        let mut base_rate = None;
        // `BENCH_ONLY=a|b`: the baseline and the scenarios whose name contains a or b (to
        // profile one, or to repeat a comparison)
        let only = std::env::var("BENCH_ONLY").ok();
        for (i, (addr, s)) in scenarios.iter().enumerate() {
            if only.as_ref().is_some_and(|o| i > 0 && !o.split('|').any(|w| s.name.contains(w))) {
                continue;
            }
            let r = run(*addr, s, secs, conns).await;
            let rate = r.rate();
            let ratio = base_rate.map_or("1.00x".to_owned(), |b: f64| format!("{:.2}x", rate / b));
            base_rate.get_or_insert(rate);
            println!(
                "{:<42} {:>10.0} {:>10} {:>10} {:>12}",
                s.name,
                rate,
                r.p50.as_micros(),
                r.p99.as_micros(),
                ratio
            );
        }
        running.shutdown.trigger(txtrader_host::shutdown::ExitReason::Requested("bench done".into()));
        running.wait().await;
    });
}
