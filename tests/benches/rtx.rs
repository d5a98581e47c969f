//! RealTick benchmark: txtraderd through its `rtx` adapter against the same through its
//! simulator, and against the original txTrader 1.14.29 on the same fake RTGW.
//!
//! `cargo bench -p txtrader-tests --bench rtx [-- ORDERS SECONDS]`
//!
//! Three servers, each measured the same way, one after another in one run:
//! - **txtraderd sim**: the release `txtraderd` in its default configuration (journal on, the
//!   simulator's books durable, INFO logging) — the baseline;
//! - **txtraderd rtx**: the same binary with `TXTRADER_MODE=rtx`, the RealTick adapter built as a
//!   release library in its adapter folder, on a fresh `fake_rtgw.py`;
//! - **txTrader 1.14.29**: the original (its `twistd` from a venv made with the spec's recipe,
//!   `target/reference-venv`), on another fresh `fake_rtgw.py` with the same settings.
//!
//! For each: ORDERS (default 300) market orders of 100 IBM, buying and selling in turn, one
//! after another over one HTTP connection (round trip: the `market_order` call until its
//! answer), while 16 stream sessions with `order-notification` listen (fan-out: from the call
//! until the last of the 16 has the order's first `rtx.order.<permid>` push); then 8 HTTP
//! connections for SECONDS (default 3) each of `status`, `query_positions` and `market_order`
//! (requests answered per second). The fakes act on an order at once (`FAKE_RTGW_POKE_DELAY`,
//! from `BENCH_POKE_DELAY`, default 0; the fake's own default is 0.05 s, which then dominates
//! every round trip) and fill it 50 ms later (`FAKE_RTGW_FILL_DELAY=0.05`); the round trip
//! does not wait for the fill.
//!
//! Every figure is printed with its ratio to txtraderd sim, and the rtx figures also against
//! the original's.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use txtrader_tests::{workspace, Daemon, FakeRtgw, Http};

const ACCOUNT: &str = "REALTICKDEMO.REALTICK.DEMO32.TRADING";
const LISTENERS: usize = 16;
const CALLERS: usize = 8;

/// What one server measured.
#[derive(Debug, Default)]
struct Figures {
    round_trip: Vec<Duration>,
    fan_out: Vec<Duration>,
    status: f64,
    positions: f64,
    orders: f64,
}

/// A server under test: its HTTP client and stream port (and whatever keeps it running).
struct Server {
    http: Http,
    tcp_port: u16,
    _keep: Box<dyn std::any::Any>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let orders: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(300);
    let seconds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let window = Duration::from_secs(seconds);

    let bin = build_txtraderd();
    let adapters = rtx_adapter_folder();
    let venv = reference_venv();
    let poke_delay = std::env::var("BENCH_POKE_DELAY").unwrap_or_else(|_| "0".into());
    let fake_env = [("FAKE_RTGW_POKE_DELAY", poke_delay.as_str())];
    println!(
        "rtx bench: {orders} orders one after another with {LISTENERS} stream listeners, then {CALLERS} connections for {seconds} s per request kind; the fake's poke delay {poke_delay} s"
    );

    let mut results: Vec<(&str, Figures)> = Vec::new();
    {
        let d = Daemon::start_binary(&bin, "bench-sim", &[]);
        let server = Server { http: Http::new(d.http_port), tcp_port: d.tcp_port, _keep: Box::new(d) };
        server.http.wait_status("Up");
        results.push(("txtraderd sim", measure(&server, orders, window)));
    }
    {
        let fake = FakeRtgw::start(&fake_env);
        let port = fake.port.to_string();
        let env = [
            ("TXTRADER_ADAPTER_DIR", adapters.to_str().expect("utf-8 path")),
            ("TXTRADER_MODE", "rtx"),
            ("TXTRADER_API_PORT", port.as_str()),
        ];
        let d = Daemon::start_binary(&bin, "bench-rtx", &env);
        let server = Server { http: Http::new(d.http_port), tcp_port: d.tcp_port, _keep: Box::new((d, fake)) };
        server.http.wait_status("Up");
        results.push(("txtraderd rtx", measure(&server, orders, window)));
    }
    {
        let fake = FakeRtgw::start(&fake_env);
        let reference = Reference::start(&venv, fake.port);
        let server = Server { http: Http::new(reference.http_port), tcp_port: reference.tcp_port, _keep: Box::new((reference, fake)) };
        server.http.wait_status("Up");
        results.push(("txTrader 1.14.29", measure(&server, orders, window)));
    }
    report(&results);
}

/// Round trip and fan-out, then the three request rates.
fn measure(server: &Server, orders: usize, window: Duration) -> Figures {
    let http = &server.http;
    // the symbol first: a server may hold an order's pushes until it knows the symbol
    let _ = http.call("add_symbol", &json!({"symbol": "IBM"}));
    let listeners: Vec<Listener> = (0..LISTENERS).map(|_| Listener::connect(server.tcp_port)).collect();
    for i in 0..20 {
        place(http, i);
    }
    let mut figures = Figures::default();
    let mut placed = Vec::with_capacity(orders);
    for i in 0..orders {
        let t0 = Instant::now();
        let permid = place(http, i);
        figures.round_trip.push(t0.elapsed());
        placed.push((permid, t0));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for (permid, t0) in &placed {
        let last = listeners.iter().map(|l| l.first_push(permid, deadline)).max().flatten();
        match last {
            Some(at) => figures.fan_out.push(at.saturating_duration_since(*t0)),
            None => eprintln!("order {permid}: not every listener had its push within 30 s"),
        }
    }
    drop(listeners);
    figures.status = rate(http, window, |h, _| h.call("status", &json!({})).0 == 200);
    figures.positions = rate(http, window, |h, _| h.call("query_positions", &json!({})).0 == 200);
    figures.orders = rate(http, window, |h, i| h.call("market_order", &order_args(i)).1["permid"].is_string());
    figures
}

fn order_args(i: usize) -> Value {
    let quantity = if i.is_multiple_of(2) { 100 } else { -100 };
    json!({"account": ACCOUNT, "route": "DEMO", "symbol": "IBM", "quantity": quantity})
}

fn place(http: &Http, i: usize) -> String {
    let (status, order) = http.call("market_order", &order_args(i));
    assert_eq!(status, 200, "{order}");
    order["permid"].as_str().unwrap_or_else(|| panic!("no permid in {order}")).to_owned()
}

/// Requests answered per second by `CALLERS` connections calling `call` for `window`.
fn rate(http: &Http, window: Duration, call: impl Fn(&Http, usize) -> bool + Sync) -> f64 {
    let started = Instant::now();
    let end = started + window;
    let done: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..CALLERS)
            .map(|c| {
                let (http, call) = (http.clone(), &call);
                s.spawn(move || {
                    let mut n = 0;
                    while Instant::now() < end {
                        if call(&http, c * 1_000_000 + n) {
                            n += 1;
                        }
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    #[allow(clippy::cast_precision_loss)]
    let per_second = done as f64 / started.elapsed().as_secs_f64();
    per_second
}

/// A stream session with `order-notification`, noting when each order's first push came.
struct Listener {
    firsts: Arc<Mutex<HashMap<String, Instant>>>,
    stream: TcpStream,
}

impl Listener {
    fn connect(port: u16) -> Self {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the stream");
        let auth = r#"auth txtrader_user change_this_password {"order-notification": 1}"#;
        stream.write_all(format!("{}:{auth},", auth.len()).as_bytes()).expect("auth");
        let firsts = Arc::new(Mutex::new(HashMap::new()));
        let (sink, reader) = (firsts.clone(), stream.try_clone().expect("clone"));
        let (authorized_tx, authorized) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(reader);
            while let Some(message) = read_netstring(&mut reader) {
                let now = Instant::now();
                if message.starts_with(".Authorized") {
                    let _ = authorized_tx.send(());
                }
                if let Some(rest) = message.strip_prefix("rtx.order.") {
                    let permid = rest.split(' ').next().unwrap_or_default().to_owned();
                    sink.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(permid).or_insert(now);
                }
            }
        });
        authorized.recv_timeout(Duration::from_secs(10)).expect("the stream authorizes");
        Self { firsts, stream }
    }

    /// When the order's first push came, waiting for it until `deadline`.
    fn first_push(&self, permid: &str, deadline: Instant) -> Option<Instant> {
        loop {
            if let Some(at) = self.firsts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(permid) {
                return Some(*at);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

fn read_netstring(r: &mut impl BufRead) -> Option<String> {
    let mut len = Vec::new();
    r.read_until(b':', &mut len).ok()?;
    let n: usize = std::str::from_utf8(len.strip_suffix(b":")?).ok()?.trim().parse().ok()?;
    let mut body = vec![0; n + 1];
    r.read_exact(&mut body).ok()?;
    body.pop();
    String::from_utf8(body).ok()
}

/// The original txTrader's `twistd` on two free loopback ports, under `timeout`.
struct Reference {
    child: Child,
    http_port: u16,
    tcp_port: u16,
}

impl Reference {
    fn start(venv: &Path, rtgw_port: u16) -> Self {
        let (http_port, tcp_port) = (free_port(), free_port());
        let site = std::fs::read_dir(venv.join("lib"))
            .expect("the venv's lib")
            .flatten()
            .map(|e| e.path().join("site-packages/txtrader/txtrader.tac"))
            .find(|p| p.exists())
            .expect("txtrader.tac in the reference venv");
        let log = std::env::temp_dir().join(format!("txtrader-reference-{}.log", std::process::id()));
        let child = Command::new("timeout")
            .arg("900")
            .arg(venv.join("bin/twistd"))
            .args(["--nodaemon", "--reactor=poll", "--logfile=-", "--pidfile="])
            .arg(format!("--python={}", site.display()))
            .env("PATH", format!("{}:{}", venv.join("bin").display(), std::env::var("PATH").unwrap_or_default()))
            .env("TXTRADER_HTTP_PORT", http_port.to_string())
            .env("TXTRADER_TCP_PORT", tcp_port.to_string())
            .env("TXTRADER_API_PORT", rtgw_port.to_string())
            .env("TXTRADER_API_ROUTE", "DEMO")
            .env("TXTRADER_ENABLE_AUTO_RESET", "0")
            .stdout(Stdio::from(std::fs::File::create(&log).expect("log")))
            .stderr(Stdio::null())
            .spawn()
            .expect("twistd runs");
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", http_port)).is_err() {
            assert!(Instant::now() < deadline, "the original never listened; log: {}", log.display());
            std::thread::sleep(Duration::from_millis(100));
        }
        Self { child, http_port, tcp_port }
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        // SIGTERM to `timeout`, which passes it on to twistd
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// The release `txtraderd`.
fn build_txtraderd() -> PathBuf {
    let run = escargot::CargoBuild::new()
        .package("txtrader-host")
        .bin("txtraderd")
        .release()
        .manifest_path(workspace().join("Cargo.toml"))
        .run()
        .unwrap_or_else(|e| panic!("cannot build txtraderd: {e}"));
    run.path().to_path_buf()
}

/// A folder with the RealTick adapter built as a release library.
fn rtx_adapter_folder() -> PathBuf {
    let target = workspace().join("target/adapter-builds");
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(workspace())
        .args(["build", "--release", "--locked", "--quiet", "--lib", "-p", "txtrader-adapter-rtx", "--target-dir"])
        .arg(&target)
        .env_remove("TXTRADER_ADAPTER_BUILD_VERSION")
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the RealTick adapter failed");
    let dir = std::env::temp_dir().join(format!("txtrader-bench-rtx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("adapter folder");
    std::fs::copy(target.join("release/libtxtrader_adapter_rtx.so"), dir.join("libtxtrader_adapter_rtx.so")).expect("copy the adapter");
    dir
}

/// `target/reference-venv`: the original txTrader 1.14.29 with the clients, made with the
/// spec's recipe (`scripts/compat-venv.sh` with `TXTRADER_COMPAT_REFERENCE=1`).
fn reference_venv() -> PathBuf {
    let venv = workspace().join("target/reference-venv");
    let status = Command::new(workspace().join("scripts/compat-venv.sh"))
        .env("TXTRADER_COMPAT_VENV", &venv)
        .env("TXTRADER_COMPAT_REFERENCE", "1")
        .status()
        .expect("scripts/compat-venv.sh runs");
    assert!(status.success(), "making the reference venv failed");
    venv
}

fn pct(v: &[Duration], p: f64) -> Duration {
    let mut v = v.to_vec();
    v.sort_unstable();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let i = ((v.len().saturating_sub(1)) as f64 * p).round() as usize;
    v.get(i).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A table row: its label and how to read it off a server's figures.
type Row<'a> = (&'a str, &'a dyn Fn(&Figures) -> f64);

fn report(results: &[(&str, Figures)]) {
    let base = &results[0].1;
    let reference = results.iter().find(|(name, _)| name.starts_with("txTrader")).map(|(_, f)| f);
    let rows: [Row; 7] = [
        ("round trip p50 ms", &|f| ms(pct(&f.round_trip, 0.5))),
        ("round trip p99 ms", &|f| ms(pct(&f.round_trip, 0.99))),
        ("fan-out to 16 p50 ms", &|f| ms(pct(&f.fan_out, 0.5))),
        ("fan-out to 16 p99 ms", &|f| ms(pct(&f.fan_out, 0.99))),
        ("status req/s", &|f| f.status),
        ("query_positions req/s", &|f| f.positions),
        ("market_order orders/s", &|f| f.orders),
    ];
    println!();
    print!("| measure |");
    for (name, _) in results {
        print!(" {name} |");
    }
    println!(" rtx / sim | rtx / 1.14.29 |");
    println!("|---|{}---:|---:|", "---:|".repeat(results.len()));
    for (label, get) in rows {
        print!("| {label} |");
        for (_, f) in results {
            print!(" {:.2} |", get(f));
        }
        let rtx = results.iter().find(|(n, _)| *n == "txtraderd rtx").map(|(_, f)| get(f)).unwrap_or_default();
        let ratio = |b: f64| if b > 0.0 { format!("{:.2}x", rtx / b) } else { "-".into() };
        println!(" {} | {} |", ratio(get(base)), reference.map_or_else(|| "-".into(), |r| ratio(get(r))));
    }
}
