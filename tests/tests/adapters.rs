//! Adapters as dynamic libraries, end to end: the real `txtraderd` started with only an adapter
//! folder, real `.so` builds of the simulator (stamped with different versions) dropped into
//! it while clients trade, libraries that must be refused, and a deliberately panicking
//! adapter next to the simulator.

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use txtrader_tests::{build_adapter, temp_folder, Daemon, Http, StreamRecorder};

const ACCT: &str = "REALTICKDEMO.REALTICK.DEMO32.TRADING";
const PAPER: &str = "PAPER.MINIMAL.DEMO.1";
const SIM_LIB: &str = "libtxtrader_adapter_sim.so";
const SWAP_WAIT: Duration = Duration::from_secs(60);

/// Four builds of the simulator, versions `0.1.0+swap.1` to `0.1.0+swap.4`.
fn sim_builds() -> &'static [PathBuf] {
    static BUILDS: OnceLock<Vec<PathBuf>> = OnceLock::new();
    BUILDS.get_or_init(|| (1..=4).map(|i| build_adapter("txtrader-adapter-sim", Some(&version(i)))).collect())
}

fn version(i: usize) -> String {
    format!("0.1.0+swap.{i}")
}

/// Deploys a library the way a deploy script should: written beside, renamed into place.
fn drop_in(src: &Path, dir: &Path, name: &str) {
    let part = dir.join(format!(".{name}.part"));
    std::fs::copy(src, &part).expect("copy");
    std::fs::rename(&part, dir.join(name)).expect("rename");
}

#[derive(Debug, Clone)]
struct Placed {
    permid: String,
    /// Signed quantity of a market order; `None` for a limit order that was cancelled.
    market: Option<i64>,
}

/// Places and cancels orders in a loop until told to stop; every order the gateway
/// acknowledged is recorded.
fn trade_in_a_loop(http: Http, stop: Arc<AtomicBool>, worker: usize) -> Vec<Placed> {
    let mut placed = Vec::new();
    let mut i = worker;
    while !stop.load(Ordering::Relaxed) {
        let qty: i64 = if i.is_multiple_of(2) { 10 } else { -10 };
        let o = http.ok("market_order", &json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": qty}));
        assert_ne!(o["status"], "Error", "market order refused: {o}");
        placed.push(Placed { permid: o["permid"].as_str().expect("permid").to_owned(), market: Some(qty) });
        let l = http.ok("limit_order", &json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 5, "limit_price": 1.05}));
        assert_ne!(l["status"], "Error", "limit order refused: {l}");
        let permid = l["permid"].as_str().expect("permid").to_owned();
        let c = http.ok("cancel_order", &json!({"id": permid}));
        assert_eq!(c, json!({"msg": "OnOtherAck", "status": "1"}), "cancel of {permid}");
        placed.push(Placed { permid, market: None });
        i += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    placed
}

fn final_status(status: &Value) -> bool {
    ["Filled", "Cancelled", "Error"].iter().any(|s| status == *s)
}

#[test]
fn new_builds_swap_in_while_clients_trade_and_nothing_is_lost() {
    let builds = sim_builds();
    let dir = temp_folder("swap");
    drop_in(&builds[0], &dir, SIM_LIB);
    let daemon = Daemon::start(
        "swap",
        &[
            ("TXTRADER_ADAPTER_DIR", dir.to_str().expect("utf-8 path")),
            ("TXTRADER_ENABLE_AUTO_RESET", "0"),
            ("TXTRADER_ENABLE_TICKER", "1"),
            ("TXTRADER_SIM_TICK_MS", "250"),
            ("TXTRADER_SIM_PARTIAL_FILL_PARTS", "10"),
        ],
    );
    let http = Http::new(daemon.http_port);
    http.wait_status("Up");
    let a = http.adapter("sim");
    assert_eq!((a["version"].as_str(), a["generation"].as_u64(), a["state"].as_str()), (Some(version(1).as_str()), Some(1), Some("ready")));
    assert_eq!(a["source"], dir.join(SIM_LIB).display().to_string());

    let stream = StreamRecorder::connect(
        daemon.tcp_port,
        r#"{"order-notification":1,"execution-notification":1,"adapter-notification":1,"quotes":1}"#,
    );
    assert!(http.ok("add_symbol", &json!({"symbol": "IBM"})).is_object());
    // an order resting through every swap, and a large one filling in parts across the first
    let resting = http.ok("limit_order", &json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 10, "limit_price": 1.05}));
    let resting = resting["permid"].as_str().expect("permid").to_owned();
    http.wait_order(&resting, &["Pending"]);
    let big = http.ok("market_order", &json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 2000}));
    let big = big["permid"].as_str().expect("permid").to_owned();

    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..2)
        .map(|w| {
            let (http, stop) = (http.clone(), stop.clone());
            std::thread::spawn(move || trade_in_a_loop(http, stop, w))
        })
        .collect();
    for (i, build) in builds.iter().enumerate().skip(1) {
        std::thread::sleep(Duration::from_millis(300));
        let quotes_before = stream.lines().iter().filter(|l| l.starts_with("rtx.quote.IBM")).count();
        let started = Instant::now();
        match i {
            // three ways builds land: renamed into place, copied over in place, a new file name
            1 => drop_in(build, &dir, SIM_LIB),
            2 => {
                std::fs::copy(build, dir.join(SIM_LIB)).expect("copy in place");
            }
            _ => drop_in(build, &dir, "sim-next.so"),
        }
        let a = http.wait_adapter("sim", SWAP_WAIT, |a| a["version"] == version(i + 1).as_str());
        assert_eq!((a["generation"].as_u64(), a["state"].as_str()), (Some(i as u64 + 1), Some("ready")), "{a}");
        assert_eq!(a["retired_generations"], i);
        println!("swap {i}: new generation serving {:?} after the file landed", started.elapsed());
        // the market-data subscription carried over: quotes keep coming
        stream.wait_for(Duration::from_secs(20), |_| {
            stream.lines().iter().filter(|l| l.starts_with("rtx.quote.IBM")).count() > quotes_before
        });
    }
    stop.store(true, Ordering::Relaxed);
    let placed: Vec<Placed> = workers.into_iter().flat_map(|w| w.join().expect("worker")).collect();
    assert!(placed.len() >= 20, "the clients traded through the swaps ({} orders)", placed.len());

    // resting orders fill or cancel in the newest generation
    assert_eq!(http.ok("cancel_order", &json!({"id": resting})), json!({"msg": "OnOtherAck", "status": "1"}));
    http.wait_order(&resting, &["Cancelled"]);
    http.wait_order(&big, &["Filled"]);

    // the books: every acknowledged order once, each in its expected final state
    let deadline = Instant::now() + Duration::from_secs(30);
    let orders = loop {
        let orders = http.ok("query_orders", &json!({}));
        if orders.as_object().expect("dict").values().all(|o| final_status(&o["status"])) {
            break orders;
        }
        assert!(Instant::now() < deadline, "orders never settled");
        std::thread::sleep(Duration::from_millis(100));
    };
    let orders = orders.as_object().expect("dict");
    let mut expected: BTreeSet<&str> = placed.iter().map(|p| p.permid.as_str()).collect();
    expected.extend([resting.as_str(), big.as_str()]);
    let got: BTreeSet<&str> = orders.keys().map(String::as_str).collect();
    assert_eq!(got, expected, "no order lost, none invented");
    for p in &placed {
        let want = if p.market.is_some() { "Filled" } else { "Cancelled" };
        assert_eq!(orders[&p.permid]["status"], want, "{}", orders[&p.permid]);
    }

    // executions: each fill once; every order filled exactly its quantity
    let execs = http.ok("query_executions", &json!({}));
    let execs = execs.as_object().expect("dict");
    let mut filled: HashMap<&str, (i64, usize)> = HashMap::new();
    for x in execs.values() {
        let e = filled.entry(x["ORIGINAL_ORDER_ID"].as_str().expect("order id")).or_default();
        e.0 += x["VOLUME"].as_i64().expect("volume");
        e.1 += 1;
    }
    for p in &placed {
        assert_eq!(filled.get(p.permid.as_str()).map(|f| f.0), p.market.map(i64::abs), "fills of {}", p.permid);
    }
    assert_eq!(filled.get(big.as_str()), Some(&(2000, 10)), "the large order filled in its 10 parts, across the swap");
    assert!(!filled.contains_key(resting.as_str()));
    // positions moved with exactly those fills, through three hand-overs
    let net: i64 = placed.iter().filter_map(|p| p.market).sum::<i64>() + 2000;
    assert_eq!(http.ok("query_positions", &json!({}))[ACCT]["IBM"], net);

    // the stream: three swaps seen, no gap, every execution once, every order's last state
    let deadline = Instant::now() + Duration::from_secs(20);
    while stream.lines().iter().filter(|l| l.starts_with("rtx.execution.")).count() < execs.len() {
        assert!(Instant::now() < deadline, "the stream is missing executions");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let lines = stream.lines();
    let swaps: Vec<&String> = lines.iter().filter(|l| l.starts_with("rtx.adapter.sim swapped ")).collect();
    assert_eq!(swaps.len(), 3, "{swaps:?}");
    for (i, s) in swaps.iter().enumerate() {
        let detail: Value = serde_json::from_str(&s["rtx.adapter.sim swapped ".len()..]).expect("json");
        assert_eq!(detail["generation"], i + 2);
        assert_eq!(detail["state_handed_over"], true);
        // requests are held from the export on, a part of the whole swap
        let held_us = detail["requests_held_us"].as_u64().expect("requests_held_us");
        let whole_ms = detail["swap_ms"].as_u64().expect("swap_ms");
        assert_eq!(detail["requests_held_ms"].as_u64(), Some(held_us / 1000), "{detail}");
        assert!(held_us > 0 && held_us / 1000 <= whole_ms, "{detail}");
        println!("swap {}: requests held {} µs of a {whole_ms} ms swap", i + 1, held_us);
    }
    assert!(!lines.iter().any(|l| l.contains("gap")), "no gap notice");
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for l in lines.iter().filter_map(|l| l.strip_prefix("rtx.execution.")) {
        *seen.entry(l.split(' ').next().unwrap_or_default()).or_default() += 1;
    }
    assert!(seen.values().all(|n| *n == 1), "an execution pushed twice");
    assert_eq!(seen.keys().copied().collect::<BTreeSet<_>>(), execs.keys().map(String::as_str).collect(), "every execution pushed");
    let mut last: HashMap<&str, &str> = HashMap::new();
    for l in lines.iter().filter_map(|l| l.strip_prefix("rtx.order.")) {
        let words: Vec<&str> = l.split(' ').collect();
        last.insert(words[0], words[words.len() - 1]);
    }
    for (permid, o) in orders {
        assert_eq!(Some(&o["status"].as_str().unwrap_or_default()), last.get(permid.as_str()), "last push of {permid}");
    }
    let log = daemon.log_text();
    assert_eq!(log.matches("old generation stopped; its library stays mapped").count(), 3);
}

fn libm() -> PathBuf {
    ["/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6", "/lib/aarch64-linux-gnu/libm.so.6", "/usr/lib64/libm.so.6"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("a system libm (a real shared library without the adapter entry symbol)")
}

#[test]
fn refused_libraries_leave_the_running_generation_serving() {
    let builds = sim_builds();
    let wrong_abi = build_adapter("txtrader-fixture-wrong-abi", None);
    let dir = temp_folder("refused");
    drop_in(&builds[0], &dir, SIM_LIB);
    let daemon = Daemon::start(
        "refused",
        &[("TXTRADER_ADAPTER_DIR", dir.to_str().expect("utf-8 path")), ("TXTRADER_ENABLE_AUTO_RESET", "0")],
    );
    let http = Http::new(daemon.http_port);
    http.wait_status("Up");
    let stream = StreamRecorder::connect(daemon.tcp_port, r#"{"adapter-notification":1}"#);
    let v2 = std::fs::read(&builds[1]).expect("read");
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("notes.so", b"release notes, not a library".to_vec(), "not a loadable library"),
        ("libm-copy.so", std::fs::read(libm()).expect("read libm"), "missing entry symbol txtrader_adapter_v1"),
        ("future.so", std::fs::read(&wrong_abi).expect("read"), "ABI version 2 (this txtraderd speaks 1)"),
        // an interrupted copy over the running build's file
        (SIM_LIB, v2[..v2.len() / 2].to_vec(), "truncated or damaged"),
    ];
    for (n, (name, bytes, reason)) in cases.iter().enumerate() {
        std::fs::write(dir.join(name), bytes).expect("write");
        let file = dir.join(name).display().to_string();
        let deadline = Instant::now() + SWAP_WAIT;
        let refusal = loop {
            let rejected = http.ok("query_adapters", &json!({}))["rejected"].clone();
            if let Some(r) = rejected.as_array().expect("list").iter().find(|r| r["file"] == file.as_str()) {
                break r.clone();
            }
            assert!(Instant::now() < deadline, "{name} was never refused");
            std::thread::sleep(Duration::from_millis(50));
        };
        let errors = refusal["errors"].as_array().expect("errors");
        assert!(errors.iter().any(|e| e.as_str().unwrap_or_default().contains(reason)), "{name}: {refusal}");
        assert_eq!(http.ok("query_adapters", &json!({}))["rejected"].as_array().map(Vec::len), Some(n + 1));
        // the running generation is untouched and serving
        let a = http.adapter("sim");
        assert_eq!((a["generation"].as_u64(), a["version"].as_str(), a["state"].as_str()), (Some(1), Some(version(1).as_str()), Some("ready")));
        let o = http.ok("market_order", &json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 1}));
        http.wait_order(o["permid"].as_str().expect("permid"), &["Filled"]);
        stream.wait_for(Duration::from_secs(10), |l| l.starts_with(&format!("rtx.adapter.{name} rejected ")) && l.contains(reason));
    }
    // the complete file lands: now it swaps
    drop_in(&builds[1], &dir, SIM_LIB);
    let a = http.wait_adapter("sim", SWAP_WAIT, |a| a["version"] == version(2).as_str());
    assert_eq!(a["generation"], 2);
    assert_eq!(http.ok("status", &json!({})), "Up");
}

#[test]
fn a_panicking_adapter_is_contained_and_restarted_while_the_other_serves() {
    let minimal = build_adapter("txtrader-adapter-minimal", None);
    let dir = temp_folder("panic");
    drop_in(&minimal, &dir, "libtxtrader_adapter_minimal.so");
    let daemon = Daemon::start(
        "panic",
        &[
            ("TXTRADER_ADAPTER_DIR", dir.to_str().expect("utf-8 path")),
            ("TXTRADER_ENABLE_AUTO_RESET", "0"),
            ("TXTRADER_MODE", "sim,paper=minimal"),
            ("TXTRADER_PAPER_ACCOUNTS", PAPER),
            ("TXTRADER_PAPER_PANIC_ON_SYMBOL", "BOOM"),
        ],
    );
    let http = Http::new(daemon.http_port);
    http.wait_status("Up");
    // two instances, each with its accounts; orders route by account
    assert_eq!(
        http.ok("query_accounts", &json!({})),
        json!([PAPER, "REALTICKDEMO.REALTICK.DEMO31.TRADING", ACCT])
    );
    let adapters = http.ok("query_adapters", &json!({}))["adapters"].clone();
    assert_eq!((adapters["sim"]["source"].as_str(), adapters["sim"]["kind"].as_str()), (Some("built in"), Some("sim")));
    assert_eq!(adapters["paper"]["kind"], "minimal");
    assert_eq!(adapters["paper"]["accounts"], json!([PAPER]));
    assert_eq!(adapters["paper"]["features"], json!([]));
    let fill_of = |account: &str, qty: i64| {
        let o = http.ok("market_order", &json!({"account": account, "route": "DEMO", "symbol": "IBM", "quantity": qty}));
        let permid = o["permid"].as_str().expect("permid").to_owned();
        http.wait_order(&permid, &["Filled"]);
        let execs = http.ok("query_order_executions", &json!({"id": permid}));
        execs.as_object().expect("dict").values().next().expect("a fill").clone()
    };
    let paper_fill = fill_of(PAPER, 7);
    assert_eq!((paper_fill["PRICE"].as_f64(), paper_fill["ORDER_ID"].as_str().map(|s| s.starts_with("MIN"))), (Some(100.0), Some(true)));
    let sim_fill = fill_of(ACCT, 7);
    assert!(!sim_fill["ORDER_ID"].as_str().unwrap_or_default().starts_with("MIN"), "{sim_fill}");
    let resting = http.ok("limit_order", &json!({"account": PAPER, "route": "DEMO", "symbol": "IBM", "quantity": 1, "limit_price": 1}));
    let resting = resting["permid"].as_str().expect("permid").to_owned();
    http.wait_order(&resting, &["Pending"]);

    let mut stream = StreamRecorder::connect(daemon.tcp_port, r#"{"adapter-notification":1,"order-notification":1}"#);
    // the panic: answered precisely, contained to that instance
    let boom = http.ok("market_order", &json!({"account": PAPER, "route": "DEMO", "symbol": "BOOM", "quantity": 1}));
    assert_eq!(boom["status"], "Error");
    let reason = boom["raw"]["REASON"].as_str().unwrap_or_default();
    assert!(reason.contains("adapter panicked in handle: asked to trade BOOM"), "{reason}");
    let faulted = stream.wait_for(Duration::from_secs(10), |l| l.starts_with("rtx.adapter.paper faulted "));
    assert!(faulted.contains("panicked"), "{faulted}");
    // the other adapter, HTTP and the stream carry on meanwhile
    assert_eq!(http.ok("status", &json!({})), "Up");
    fill_of(ACCT, 3);
    stream.wait_for(Duration::from_secs(20), |l| l.starts_with("rtx.adapter.paper restarted "));
    let a = http.wait_adapter("paper", SWAP_WAIT, |a| a["state"] == "ready");
    assert_eq!((a["generation"].as_u64(), a["retired_generations"].as_u64()), (Some(2), Some(1)));
    assert!(a["last_error"].as_str().unwrap_or_default().contains("panicked"), "the operator sees what happened: {a}");
    // reconciled from the (restarted, empty) paper broker: what it no longer knows is closed
    let closed = http.wait_order(&resting, &["Cancelled"]);
    assert!(closed["raw"]["REASON"].as_str().unwrap_or_default().contains("unknown to the broker"), "{closed}");
    let positions = http.ok("query_positions", &json!({}));
    assert!(positions[PAPER].get("IBM").is_none_or(|q| q == 0), "{positions}");
    assert_eq!(positions[ACCT]["IBM"], 10);
    // and the restarted instance trades again
    assert_eq!(fill_of(PAPER, 2)["PRICE"].as_f64(), Some(100.0));
    stream.send("status");
    assert_eq!(stream.wait_for(Duration::from_secs(5), |l| l.starts_with(".status")), ".status: Up");
    assert!(daemon.log_text().contains("adapter faulted; restarting in"));
}
