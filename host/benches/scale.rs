//! Scale bench: the default configuration over a day's volume, as users run it.
//!
//! `cargo bench -p txtrader-host --bench scale [-- ORDERS CONNECTIONS WINDOW]`
//!
//! Starts the real `txtraderd` binary (built by cargo for this bench) in its **default
//! configuration** — journal on, the simulator's book durable, default logging (INFO, every
//! request and response and order update logged, to a log file as a supervisor would capture
//! it) — with its data folder under `target/`. CONNECTIONS (default 16) keep-alive HTTP/1.1
//! clients place ORDERS (default 100 000) market orders for 100 IBM, buying and selling in
//! turn, as fast as the gateway answers. For each WINDOW (default 10 000) orders completed it
//! prints orders/s, p50 and p99 latency, the daemon's resident memory and the data folder's
//! size. Before and after the run, one connection places 2 000 orders one after another
//! (single-connection latency). The baseline, in the same run: the same daemon with the journal
//! and the simulator's durability off (`TXTRADER_JOURNAL=0`, `TXTRADER_SIM_DURABLE=0`); and, for
//! what logging costs, the default configuration without its per-request and per-order lines.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

#[path = "support/mod.rs"]
mod support;

use support::pct;

const AUTH: &str = "Basic dHh0cmFkZXJfdXNlcjpjaGFuZ2VfdGhpc19wYXNzd29yZA=="; // txtrader_user:change_this_password

/// A txtraderd child process.
struct Daemon {
    child: Child,
    addr: SocketAddr,
    data: PathBuf,
}

impl Daemon {
    fn start(name: &str, extra: &[(&str, &str)]) -> Self {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("scale-bench").join(name);
        let _ = std::fs::remove_dir_all(&root);
        let (data, adapters) = (root.join("data"), root.join("adapters"));
        std::fs::create_dir_all(&adapters).expect("bench folder");
        let log = std::fs::File::create(root.join("txtraderd.log")).expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_txtraderd"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TXTRADER_HTTP_PORT", "0")
            .env("TXTRADER_TCP_PORT", "0")
            .env("TXTRADER_DATA_DIR", &data)
            .env("TXTRADER_ADAPTER_DIR", &adapters)
            .env("TXTRADER_ENABLE_AUTO_RESET", "0");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(log).spawn().expect("txtraderd starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(a) = line.strip_prefix("txtraderd: http listening on ") {
                    let _ = tx.send(a.parse::<SocketAddr>().expect("address"));
                }
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(60)).expect("txtraderd printed its address");
        Self { child, addr, data }
    }

    /// Resident memory, MiB.
    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let kib: f64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0.0);
        kib / 1024.0
    }

    /// CPU time the daemon has used (user and system, all threads), seconds.
    fn cpu_secs(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // fields after the command name (which may hold spaces): utime and stime are 14 and 15
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<f64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
        let ticks = f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0);
        ticks / 100.0 // USER_HZ
    }

    /// The data folder's size, MiB.
    fn data_mib(&self) -> f64 {
        fn size(p: &Path) -> u64 {
            std::fs::read_dir(p)
                .map(|d| {
                    d.filter_map(Result::ok)
                        .map(|e| match e.metadata() {
                            Ok(m) if m.is_dir() => size(&e.path()),
                            Ok(m) => m.len(),
                            Err(_) => 0,
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        size(&self.data) as f64 / (1024.0 * 1024.0)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn connect(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(conn);
    send
}

async fn call(send: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>, path: &str, body: String) -> (hyper::StatusCode, Bytes) {
    let req = Request::builder()
        .method("POST")
        .uri(path)
        .header("host", "bench")
        .header("authorization", AUTH)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("request");
    send.ready().await.expect("connection ready");
    let resp = send.send_request(req).await.expect("response");
    let status = resp.status();
    (status, resp.into_body().collect().await.expect("body").to_bytes())
}

fn order(i: usize) -> String {
    let qty = if i.is_multiple_of(2) { 100 } else { -100 };
    format!(r#"{{"account":"REALTICKDEMO.REALTICK.DEMO32.TRADING","route":"DEMO","symbol":"IBM","quantity":{qty}}}"#)
}

async fn wait_up(addr: SocketAddr) {
    let mut send = connect(addr).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = call(&mut send, "/status", "{}".into()).await;
        if status.is_success() && body.as_ref() == b"\"Up\"" {
            return;
        }
        assert!(Instant::now() < deadline, "txtraderd not Up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Orders one after another on one connection: (p50, p99).
async fn single(addr: SocketAddr, orders: usize) -> (Duration, Duration) {
    let mut send = connect(addr).await;
    let mut lat = Vec::with_capacity(orders);
    for i in 0..orders {
        let t0 = Instant::now();
        let (status, _) = call(&mut send, "/market_order", order(i)).await;
        assert!(status.is_success(), "market_order answered {status}");
        lat.push(t0.elapsed());
    }
    lat.sort();
    (pct(&lat, 0.50), pct(&lat, 0.99))
}

/// One window of completed orders.
struct Window {
    rate: f64,
    p50: Duration,
    p99: Duration,
    rss: f64,
    data: f64,
    /// The daemon's CPU time per order, microseconds.
    cpu_us: f64,
}

/// ORDERS orders over CONNECTIONS connections; one row per WINDOW completed orders, and the
/// whole run's rate.
async fn run(d: &Daemon, orders: usize, conns: usize, window: usize) -> (Vec<Window>, f64) {
    let next = Arc::new(AtomicUsize::new(0));
    // (completion instant, latency) of every order, in completion order
    let done: Arc<Mutex<Vec<(Instant, Duration)>>> = Arc::new(Mutex::new(Vec::with_capacity(orders)));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let started = Instant::now();
    let tasks: Vec<_> = (0..conns)
        .map(|_| {
            let (next, done, tx, addr) = (next.clone(), done.clone(), tx.clone(), d.addr);
            tokio::spawn(async move {
                let mut send = connect(addr).await;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= orders {
                        break;
                    }
                    let t0 = Instant::now();
                    let (status, _) = call(&mut send, "/market_order", order(i)).await;
                    assert!(status.is_success(), "market_order answered {status}");
                    let n = {
                        let mut d = done.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        d.push((Instant::now(), t0.elapsed()));
                        d.len()
                    };
                    if n.is_multiple_of(window) {
                        let _ = tx.send(n);
                    }
                }
            })
        })
        .collect();
    drop(tx);
    // memory and disk sampled as each window completes
    let mut samples = Vec::new();
    let mut cpu = d.cpu_secs();
    while let Some(n) = rx.recv().await {
        let now = d.cpu_secs();
        samples.push((n, d.rss_mib(), d.data_mib(), now - cpu));
        cpu = now;
    }
    for t in tasks {
        t.await.expect("client");
    }
    let total = started.elapsed();
    let done = done.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut windows = Vec::new();
    let mut from = started;
    for (n, rss, data, cpu) in samples {
        let slice = &done[n - window..n];
        let end = slice.last().map_or(from, |x| x.0);
        let mut lat: Vec<Duration> = slice.iter().map(|x| x.1).collect();
        lat.sort();
        let rate = window as f64 / end.duration_since(from).as_secs_f64();
        windows.push(Window { rate, p50: pct(&lat, 0.5), p99: pct(&lat, 0.99), rss, data, cpu_us: cpu * 1e6 / window as f64 });
        from = end;
    }
    (windows, orders as f64 / total.as_secs_f64())
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

async fn scenario(folder: &str, name: &str, extra: &[(&str, &str)], orders: usize, conns: usize, window: usize) -> (f64, Vec<Window>) {
    let d = Daemon::start(folder, extra);
    wait_up(d.addr).await;
    single(d.addr, 200).await; // warm-up
    let (s50, s99) = single(d.addr, 2000).await;
    let (windows, rate) = run(&d, orders, conns, window).await;
    let (e50, e99) = single(d.addr, 2000).await;
    println!("\n{name}: {orders} orders, {conns} connections: {rate:.0} orders/s over the run");
    println!("single connection, 2000 orders: p50 {} ms, p99 {} ms before; p50 {} ms, p99 {} ms after", ms(s50), ms(s99), ms(e50), ms(e99));
    println!("| orders | orders/s | p50 ms | p99 ms | p99 vs first | daemon CPU µs/order | resident MiB | data MiB |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    let first = windows.first().map_or(Duration::ZERO, |w| w.p99);
    for (i, w) in windows.iter().enumerate() {
        println!(
            "| {}–{} | {:.0} | {} | {} | {:.2}x | {:.0} | {:.0} | {:.1} |",
            i * window,
            (i + 1) * window,
            w.rate,
            ms(w.p50),
            ms(w.p99),
            w.p99.as_secs_f64() / first.as_secs_f64(),
            w.cpu_us,
            w.rss,
            w.data
        );
    }
    (rate, windows)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let orders: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let conns: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(16);
    let window: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        println!("scale: txtraderd on loopback, {} cores", std::thread::available_parallelism().map_or(1, |n| n.get()));
        let (default_rate, _) = scenario("default", "default configuration (journal on, durable simulator, default logging)", &[], orders, conns, window).await;
        let (base_rate, _) = scenario(
            "baseline",
            "baseline (TXTRADER_JOURNAL=0, TXTRADER_SIM_DURABLE=0, default logging)",
            &[("TXTRADER_JOURNAL", "0"), ("TXTRADER_SIM_DURABLE", "0")],
            orders,
            conns,
            window,
        )
        .await;
        let (quiet_rate, _) = scenario(
            "quiet",
            "default but request, response, order and fill lines off (TXTRADER_LOG_HTTP_REQUESTS=0, _HTTP_RESPONSES=0, _ORDER_UPDATES=0, _EXECUTION_UPDATES=0)",
            &[
                ("TXTRADER_LOG_HTTP_REQUESTS", "0"),
                ("TXTRADER_LOG_HTTP_RESPONSES", "0"),
                ("TXTRADER_LOG_ORDER_UPDATES", "0"),
                ("TXTRADER_LOG_EXECUTION_UPDATES", "0"),
            ],
            orders,
            conns,
            window,
        )
        .await;
        println!("\ndefault vs baseline, orders/s over the run: {:.2}x", default_rate / base_rate);
        println!("default vs the same without per-request and per-order log lines: {:.2}x", default_rate / quiet_rate);
    });
}
