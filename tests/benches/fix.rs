//! FIX benchmark: txtraderd routing orders through its FIX adapter to real QuickFIX acceptors,
//! against the same binary trading on its simulator, and the FIX codec alone.
//!
//! `cargo bench -p txtrader-tests --bench fix [-- ORDERS SECONDS]`
//!
//! Three servers, measured the same way one after another in one run, each in the default
//! configuration (journal on, the simulator's book durable, the FIX store synced before each
//! order goes out, INFO logging):
//! - **sim**: `TXTRADER_MODE=sim`, the baseline;
//! - **fix → fix_exchange.py**: `TXTRADER_MODE=sim,fix`, the FIX adapter built as a release
//!   library, logged on (FIX 4.4) to `fix_exchange.py` (QuickFIX's Python binding), which
//!   answers a limit order with New and then Fill;
//! - **fix → C++ executor**: the same against Debian's prebuilt QuickFIX `executor`, which
//!   answers with the Fill alone.
//!
//! For each: ORDERS (default 300) marketable limit orders of 100 IBM, one after another over
//! one HTTP connection. The round trip is the `limit_order` call until its answer, which the
//! gateway gives at the broker's first word: NewOrderSingle out, ExecutionReport in, the order
//! event booked and journaled. Then 8 connections place orders for SECONDS (default 3): orders
//! per second. Every figure is printed with its ratio to sim.
//!
//! Before them, the codec: encoding a NewOrderSingle and framing, parsing and decoding an
//! ExecutionReport, per message.

use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use txtrader_adapter_fix::mapping::{self, Dialect, OrderTerms};
use txtrader_adapter_fix::proto::encode::{encode, Header};
use txtrader_adapter_fix::proto::frame::FrameReader;
use txtrader_adapter_fix::proto::Message;
use txtrader_plugin_api::model::{OrderType, Price, Quantity, Side, TimeInForce};
use txtrader_tests::{workspace, Daemon, FixPeer, FixPeerKind, Http};

const SIM_ACCOUNT: &str = "REALTICKDEMO.REALTICK.DEMO32.TRADING";
const FIX_ACCOUNT: &str = "FIX.BENCH.1";
const CALLERS: usize = 8;

/// What one server measured.
#[derive(Debug, Default)]
struct Figures {
    round_trip: Vec<Duration>,
    orders: f64,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let orders: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(300);
    let seconds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let window = Duration::from_secs(seconds);

    codec();

    let bin = build_txtraderd();
    let adapters = fix_adapter_folder();
    println!("\nfix bench: {orders} limit orders one after another, then {CALLERS} connections for {seconds} s");
    let mut results: Vec<(&str, Figures)> = Vec::new();
    {
        let d = Daemon::start_binary(&bin, "bench-fix-sim", &[]);
        let http = Http::new(d.http_port);
        http.wait_status("Up");
        results.push(("sim", measure(&http, SIM_ACCOUNT, orders, window)));
    }
    for (label, kind) in [("fix → fix_exchange.py", FixPeerKind::Exchange), ("fix → C++ executor", FixPeerKind::Executor)] {
        // TCP_NODELAY on the acceptor too (QuickFIX SocketNodelay), as on the adapter
        let peer = FixPeer::start_with(kind, "SocketNodelay=Y");
        let fix = peer.instance_env("fix", "FIX.4.4", FIX_ACCOUNT);
        let mut env: Vec<(&str, &str)> = vec![("TXTRADER_ADAPTER_DIR", adapters.to_str().expect("utf-8")), ("TXTRADER_MODE", "sim,fix")];
        env.extend(fix.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let d = Daemon::start_binary(&bin, "bench-fix", &env);
        let http = Http::new(d.http_port);
        http.wait_status("Up");
        results.push((label, measure(&http, FIX_ACCOUNT, orders, window)));
    }
    report(&results);
}

/// Encoding a NewOrderSingle, and framing, parsing and decoding an ExecutionReport, per message.
fn codec() {
    const N: u32 = 200_000;
    let header = Header { begin_string: "FIX.4.4", sender: "GATEWAY", target: "EXCHANGE" };
    let terms = OrderTerms {
        account: Some(FIX_ACCOUNT),
        symbol: "IBM",
        side: Side::Buy,
        quantity: Quantity::from_u64(100),
        order_type: OrderType::Limit { limit_price: Price::from_cents(18930) },
        time_in_force: TimeInForce::Day,
    };
    let t = Instant::now();
    let mut bytes = 0;
    for i in 0..N {
        let body = mapping::new_order_single("MIQ3XW9K-12", &terms, "20261204-15:00:00.000");
        bytes += encode(&header, "D", u64::from(i), "20261204-15:00:00.000", &[], &body).len();
    }
    let encode_ns = t.elapsed().as_nanos() / u128::from(N);
    let er = encode(
        &Header { begin_string: "FIX.4.4", sender: "EXCHANGE", target: "GATEWAY" },
        "8",
        7,
        "20261204-15:00:00.000",
        &[],
        &[(6, "189.3"), (11, "MIQ3XW9K-12"), (14, "100"), (17, "45"), (31, "189.3"), (32, "100"), (37, "X43"), (38, "100"), (39, "2"), (40, "2"), (54, "1"), (55, "IBM"), (60, "20261204-15:00:00"), (150, "F"), (151, "0")]
            .map(|(t, v)| (t, v.to_owned())),
    );
    let stream: Vec<u8> = er.repeat(1000);
    let t = Instant::now();
    let mut decoded = 0;
    for _ in 0..N / 1000 {
        let mut reader = FrameReader::new();
        reader.extend(&stream);
        while let Ok(Some(frame)) = reader.next_frame() {
            let m = Message::parse(&frame).expect("parses");
            if mapping::execution_report(&m, Dialect::Fix44).is_ok() {
                decoded += 1;
            }
        }
    }
    let decode_ns = t.elapsed().as_nanos() / u128::from(N);
    assert_eq!(decoded, N, "every report decoded");
    println!("fix codec: encode NewOrderSingle {encode_ns} ns/message ({} bytes); frame + parse + decode ExecutionReport {decode_ns} ns/message ({} bytes)", bytes / N as usize, er.len());
}

fn measure(http: &Http, account: &str, orders: usize, window: Duration) -> Figures {
    let _ = http.call("add_symbol", &json!({"symbol": "IBM"}));
    for i in 0..20 {
        place(http, account, i);
    }
    let mut figures = Figures::default();
    for i in 0..orders {
        let t0 = Instant::now();
        place(http, account, i);
        figures.round_trip.push(t0.elapsed());
    }
    figures.orders = rate(http, window, |h, i| h.call("limit_order", &order_args(account, i)).1["permid"].is_string());
    figures
}

/// A marketable limit of 100 IBM, buying and selling in turn (the acceptors fill limits at
/// their price, the simulator at the touch).
fn order_args(account: &str, i: usize) -> Value {
    let (quantity, price) = if i.is_multiple_of(2) { (100, 100_000.0) } else { (-100, 1.01) };
    json!({"account": account, "route": "DEMO", "symbol": "IBM", "quantity": quantity, "limit_price": price})
}

fn place(http: &Http, account: &str, i: usize) {
    let (status, order) = http.call("limit_order", &order_args(account, i));
    assert!(status == 200 && order["permid"].is_string(), "{order}");
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

/// A folder with the FIX adapter built as a release library.
fn fix_adapter_folder() -> PathBuf {
    let target = workspace().join("target/adapter-builds");
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(workspace())
        .args(["build", "--release", "--locked", "--quiet", "--lib", "-p", "txtrader-adapter-fix", "--target-dir"])
        .arg(&target)
        .env_remove("TXTRADER_ADAPTER_BUILD_VERSION")
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the FIX adapter failed");
    let dir = std::env::temp_dir().join(format!("txtrader-bench-fix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("adapter folder");
    std::fs::copy(target.join("release/libtxtrader_adapter_fix.so"), dir.join("libtxtrader_adapter_fix.so")).expect("copy the adapter");
    dir
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
    let rows: [Row; 4] = [
        ("round trip p50 ms", &|f| ms(pct(&f.round_trip, 0.5))),
        ("round trip p99 ms", &|f| ms(pct(&f.round_trip, 0.99))),
        ("round trip max ms", &|f| ms(pct(&f.round_trip, 1.0))),
        ("limit_order orders/s, 8 connections", &|f| f.orders),
    ];
    println!();
    print!("| measure |");
    for (name, _) in results {
        print!(" {name} |");
    }
    for (name, _) in &results[1..] {
        print!(" {name} / sim |");
    }
    println!();
    println!("|---|{}", "---:|".repeat(2 * results.len() - 1));
    for (label, get) in rows {
        print!("| {label} |");
        for (_, f) in results {
            print!(" {:.2} |", get(f));
        }
        for (_, f) in &results[1..] {
            let b = get(base);
            print!(" {} |", if b > 0.0 { format!("{:.2}x", get(f) / b) } else { "-".into() });
        }
        println!();
    }
}
