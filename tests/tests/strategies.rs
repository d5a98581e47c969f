//! WebAssembly strategies, end to end: the real `txtraderd` on the simulated exchange running
//! the example strategies of `plugins/` (built for `wasm32-wasip2`), pathological components
//! next to a well-behaved one, hot reload from the strategy folder, and deterministic replay.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use txtrader_tests::{strategy_components, temp_folder, txtraderd, Daemon, Http, StreamRecorder};

const ACCT: &str = "REALTICKDEMO.REALTICK.DEMO31.TRADING";
const ACCT2: &str = "REALTICKDEMO.REALTICK.DEMO32.TRADING";

fn component(name: &str) -> PathBuf {
    strategy_components().join(format!("{name}.wasm"))
}

/// Limits for a well-behaved strategy. The callback budget is generous: the tests run a debug
/// build of the host on a small machine, and ma-cross takes a week of history in one call.
fn limits(account: &str, symbols: &[&str]) -> Value {
    json!({
        "memory_mb": 16, "callback_ms": 1000, "orders_per_second": 5,
        "max_order_quantity": "1000", "max_order_notional": "500000",
        "accounts": [account], "symbols": symbols,
    })
}

fn manifest(name: &str, component: &Path, config: Value, limits: Value) -> Value {
    json!({"name": name, "component": component.display().to_string(), "config": config, "limits": limits})
}

fn write_manifest(dir: &Path, m: &Value) -> PathBuf {
    let path = dir.join(format!("{}.json", m["name"].as_str().expect("name")));
    let part = dir.join(format!(".{}.part", m["name"].as_str().expect("name")));
    std::fs::write(&part, serde_json::to_vec_pretty(m).expect("json")).expect("write manifest");
    std::fs::rename(&part, &path).expect("rename manifest");
    path
}

fn strategy(http: &Http, name: &str) -> Value {
    http.ok("query_strategies", &json!({}))[name].clone()
}

fn wait_strategy(http: &Http, name: &str, within: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let s = strategy(http, name);
        if pred(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "strategy {name} never got there; last seen {s}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_until(within: Duration, what: &str, mut pred: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !pred() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Orders of a strategy, from `query_orders`.
fn orders_of(http: &Http, name: &str) -> Vec<Value> {
    let all = http.ok("query_orders", &json!({}));
    all.as_object().expect("orders").values().filter(|o| o["origin"] == format!("strategy:{name}")).cloned().collect()
}

fn position(http: &Http, account: &str, symbol: &str) -> i64 {
    http.ok("query_positions", &json!({}))[account][symbol].as_i64().unwrap_or(0)
}

#[test]
fn each_example_strategy_trades_end_to_end_on_the_sim() {
    let dir = temp_folder("strategies-examples");
    let union = limits(ACCT, &["IBM", "MSFT"]);
    write_manifest(
        &dir,
        &manifest("ma-cross", &component("ma_cross"), json!({"account": ACCT, "symbol": "IBM", "fast": 3, "slow": 8, "quantity": "100"}), union.clone()),
    );
    write_manifest(
        &dir,
        &manifest(
            "bracket",
            &component("bracket"),
            json!({"account": ACCT, "symbol": "MSFT", "quantity": "100", "stop_offset": "0.50", "target_offset": "0.50"}),
            union,
        ),
    );
    write_manifest(
        &dir,
        &manifest(
            "market-maker",
            &component("market_maker"),
            // joining the touch fills as the simulated market moves
            json!({"account": ACCT2, "symbol": "AAPL", "quantity": "100", "max_inventory": "200", "edge": "0", "requote": "0.05"}),
            limits(ACCT2, &["AAPL"]),
        ),
    );
    let daemon = Daemon::start("strategies-examples", &[("TXTRADER_STRATEGY_DIR", dir.to_str().expect("utf-8"))]);
    let http = Http::new(daemon.http_port);
    http.wait_status("Up");
    for name in ["ma-cross", "bracket", "market-maker"] {
        let s = wait_strategy(&http, name, Duration::from_secs(60), |s| s["state"] == "running");
        assert_eq!(s["version"].as_str().map(str::len), Some(64), "{s}");
        assert_eq!(s["limits"]["callback_ms"], 1000);
    }

    // ma-cross: history tells it the regime at once; its market order fills.
    wait_until(Duration::from_secs(60), "ma-cross to fill", || {
        orders_of(&http, "ma-cross").iter().any(|o| o["status"] == "Filled")
    });
    assert_ne!(position(&http, ACCT, "IBM"), 0, "ma-cross moved the IBM position");
    // bracket: the entry fills, the fill reaches it, it places the protective stop and target.
    wait_until(Duration::from_secs(60), "bracket to protect its entry", || {
        let o = orders_of(&http, "bracket");
        o.iter().any(|o| o["status"] == "Filled") && o.iter().any(|o| o["raw"]["PRICE_TYPE"] == "Stop")
    });
    // market-maker: it quotes both sides and trades as the market moves through its prices.
    wait_until(Duration::from_secs(90), "market-maker to be filled", || position(&http, ACCT2, "AAPL") != 0);
    let mm = orders_of(&http, "market-maker");
    assert!(mm.iter().all(|o| o["raw"]["PRICE_TYPE"] == "AsEntered"), "limit orders only: {mm:?}");
    assert!(position(&http, ACCT2, "AAPL").abs() <= 200, "inside its inventory band");

    // Fills reached the strategies: each says so in its own log line.
    let log = daemon.log_text();
    assert!(log.contains("filled 100 at") && log.contains("strategy=ma-cross"), "ma-cross heard its fill");
    assert!(log.contains("protected: stop"), "bracket heard its entry fill");
    assert!(log.contains("; inventory"), "market-maker heard its fill");
    for name in ["ma-cross", "bracket", "market-maker"] {
        let s = strategy(&http, name);
        assert!(s["counters"]["orders"].as_u64() >= Some(1), "{s}");
        assert!(s["counters"]["events"].as_u64() >= Some(2), "{s}");
        assert!(s["counters"]["memory_bytes"].as_u64() > Some(0), "{s}");
        assert_eq!(s["counters"]["rejects"], 0, "{s}");
    }
}

/// A misbehaving fixture: does `mode` 100 ms after it starts.
fn misbehave(name: &str, mode: &str, limits: Value) -> Value {
    manifest(name, &component("misbehave"), json!({"mode": mode, "account": ACCT, "symbol": "IBM"}), limits)
}

#[test]
fn pathological_strategies_are_stopped_or_refused_while_the_gateway_serves_everyone() {
    let dir = temp_folder("strategies-misbehave");
    write_manifest(
        &dir,
        &manifest(
            "neighbour",
            &component("market_maker"),
            json!({"account": ACCT2, "symbol": "AAPL", "quantity": "100", "max_inventory": "200", "edge": "0.02", "requote": "0.05"}),
            limits(ACCT2, &["AAPL"]),
        ),
    );
    let daemon = Daemon::start("strategies-misbehave", &[("TXTRADER_STRATEGY_DIR", dir.to_str().expect("utf-8"))]);
    let http = Http::new(daemon.http_port);
    http.wait_status("Up");
    let stream = StreamRecorder::connect(daemon.tcp_port, r#"{"strategy-notification":1}"#);
    wait_strategy(&http, "neighbour", Duration::from_secs(60), |s| s["state"] == "running");

    // Traps of every kind fault the strategy, and only it, within a bounded time.
    let mut tight = limits(ACCT, &["IBM"]);
    tight["callback_ms"] = json!(50);
    let faults = [("spin", "spin", "deadline"), ("bomb", "memory", "memory limit"), ("trap", "trap", "unreachable"), ("panic", "panic", "panicking on purpose"), ("recurse", "recurse", "stack overflow")];
    for (name, mode, _) in faults {
        let s = http.ok("deploy_strategy", &json!({"manifest": misbehave(name, mode, tight.clone())}));
        assert_eq!(s["state"], "running", "{s}");
    }
    for (name, _, reason) in faults {
        let t = Instant::now();
        let s = wait_strategy(&http, name, Duration::from_secs(20), |s| s["state"] == "faulted");
        assert!(s["last_error"].as_str().is_some_and(|e| e.contains(reason)), "{name}: {s}");
        assert!(t.elapsed() < Duration::from_secs(20));
        stream.wait_for(Duration::from_secs(10), |m| m.starts_with(&format!("rtx.strategy.{name} faulted ")));
    }
    let spin = strategy(&http, "spin");
    assert!(spin["counters"]["cpu_time_us"].as_u64() >= Some(50_000), "ran up to its 50 ms deadline: {spin}");

    // Actions outside the limits are refused with the reason; the strategy keeps running.
    let mut flood = limits(ACCT, &["IBM"]);
    flood["orders_per_second"] = json!(2);
    flood["order_burst"] = json!(3);
    http.ok("deploy_strategy", &json!({"manifest": misbehave("flood", "flood", flood)}));
    let s = wait_strategy(&http, "flood", Duration::from_secs(20), |s| s["counters"]["rejects"].as_u64() >= Some(47));
    assert_eq!(s["counters"]["orders"], 3, "the burst went through: {s}");
    assert!(s["last_reject"].as_str().is_some_and(|r| r.contains("order rate limit")), "{s}");
    assert_eq!(s["state"], "running");
    wait_until(Duration::from_secs(30), "the flood's burst to reach the book", || orders_of(&http, "flood").len() == 3);

    for (name, mode, reason) in [("symbol", "symbol", "symbol FORBIDDEN is not allowed"), ("account", "account", "account NOT.MY.ACCOUNT.1 is not allowed")] {
        http.ok("deploy_strategy", &json!({"manifest": misbehave(name, mode, limits(ACCT, &["IBM"]))}));
        let s = wait_strategy(&http, name, Duration::from_secs(20), |s| s["counters"]["rejects"] == 1);
        assert!(s["last_reject"].as_str().is_some_and(|r| r.contains(reason)), "{s}");
        assert_eq!(s["counters"]["orders"], 0);
    }
    let mut small = limits(ACCT, &["IBM"]);
    small["max_order_notional"] = json!("10000");
    http.ok("deploy_strategy", &json!({"manifest": misbehave("oversized", "oversized", small)}));
    let s = wait_strategy(&http, "oversized", Duration::from_secs(20), |s| s["counters"]["rejects"] == 2);
    assert!(s["last_reject"].as_str().is_some_and(|r| r.contains("notional") && r.contains("above the maximum of 10000")), "{s}");
    wait_until(Duration::from_secs(10), "refusals in the log", || {
        let log = daemon.log_text();
        log.contains("action refused: quantity 1000000 is above the maximum of 1000") && log.contains("action refused: notional")
    });
    stream.wait_for(Duration::from_secs(10), |m| m.starts_with("rtx.strategy.oversized refused ") && m.contains("quantity 1000000"));
    for name in ["flood", "symbol", "account", "oversized"] {
        assert!(orders_of(&http, name).len() <= 3);
    }
    assert!(orders_of(&http, "symbol").is_empty() && orders_of(&http, "account").is_empty() && orders_of(&http, "oversized").is_empty());

    // A bad manifest is answered precisely and changes nothing.
    let mut bad = misbehave("bad", "trap", limits(ACCT, &["IBM"]));
    bad["limits"]["max_order_notional"] = json!(1.5);
    let (status, body) = http.call("deploy_strategy", &json!({"manifest": bad}));
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("never a binary float"), "{body}");
    let mut missing = misbehave("missing", "trap", limits(ACCT, &["IBM"]));
    missing["component"] = json!("/nonexistent/strategy.wasm");
    let (status, body) = http.call("deploy_strategy", &json!({"manifest": missing}));
    assert_eq!(status, 409, "{body}");
    assert!(body.to_string().contains("cannot read"), "{body}");

    // Through all of it the gateway served HTTP and the neighbour kept trading.
    assert_eq!(http.ok("status", &json!({})), "Up");
    let before = strategy(&http, "neighbour")["counters"]["events"].as_u64().unwrap_or(0);
    wait_strategy(&http, "neighbour", Duration::from_secs(30), |s| s["counters"]["events"].as_u64() > Some(before) && s["state"] == "running");

    // A faulted strategy starts again on request (and faults again: same component).
    let s = http.ok("start_strategy", &json!({"name": "trap"}));
    assert_eq!(s["generation"], 2, "{s}");
    wait_strategy(&http, "trap", Duration::from_secs(20), |s| s["state"] == "faulted");
    // Stopping a stopped strategy is refused; stopping a running one works.
    let s = http.ok("stop_strategy", &json!({"name": "flood"}));
    assert_eq!(s["state"], "stopped");
    let (status, _) = http.call("stop_strategy", &json!({"name": "flood"}));
    assert_eq!(status, 409);
    let (status, _) = http.call("stop_strategy", &json!({"name": "nobody"}));
    assert_eq!(status, 409);
}

#[test]
fn a_changed_component_hot_reloads_and_a_removed_manifest_stops() {
    let dir = temp_folder("strategies-reload");
    let live = dir.join("live.wasm");
    let drop_in = |src: &Path| {
        let part = dir.join(".live.wasm.part");
        std::fs::copy(src, &part).expect("copy component");
        std::fs::rename(&part, &live).expect("rename component");
    };
    drop_in(&component("ma_cross"));
    // A config both versions understand.
    let config = json!({"account": ACCT, "symbol": "IBM", "quantity": "100", "fast": 3, "slow": 8, "max_inventory": "300", "requote": "0.05"});
    let file = write_manifest(&dir, &manifest("live", &live, config, limits(ACCT, &["IBM"])));
    let daemon = Daemon::start("strategies-reload", &[("TXTRADER_STRATEGY_DIR", dir.to_str().expect("utf-8"))]);
    let http = Http::new(daemon.http_port);
    http.wait_status("Up");
    let stream = StreamRecorder::connect(daemon.tcp_port, r#"{"strategy-notification":1}"#);
    let first = wait_strategy(&http, "live", Duration::from_secs(60), |s| s["state"] == "running");
    assert_eq!(first["generation"], 1);

    drop_in(&component("market_maker"));
    let second = wait_strategy(&http, "live", Duration::from_secs(30), |s| s["generation"] == 2 && s["state"] == "running");
    assert_ne!(first["version"], second["version"], "the new component runs");
    stream.wait_for(Duration::from_secs(10), |m| m.starts_with("rtx.strategy.live reloaded "));
    let log = daemon.log_text();
    assert!(log.contains("stopping: holding") && log.contains("strategy=live"), "the old instance got on-stop");
    // The new version quotes: limit orders with the same origin.
    wait_until(Duration::from_secs(30), "the new version to quote", || {
        orders_of(&http, "live").iter().any(|o| o["raw"]["PRICE_TYPE"] == "AsEntered")
    });
    assert_eq!(http.ok("status", &json!({})), "Up", "the gateway was not restarted");

    std::fs::remove_file(&file).expect("remove manifest");
    wait_until(Duration::from_secs(30), "the strategy to go", || strategy(&http, "live").is_null());
    stream.wait_for(Duration::from_secs(10), |m| m.starts_with("rtx.strategy.live stopped "));
    assert!(daemon.log_text().contains("stopping: pulled"), "the market maker pulled its quotes in on-stop");
}

fn replay(manifest: &Path, args: &[&str]) -> (String, String) {
    let out = std::process::Command::new(txtraderd())
        .arg("replay")
        .arg(manifest)
        .args(args)
        .output()
        .expect("run txtraderd replay");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(out.status.success(), "replay failed:\n{stdout}\n{stderr}");
    (stdout, stderr)
}

#[test]
fn replay_of_the_same_input_gives_the_same_decisions() {
    let dir = temp_folder("strategies-replay");
    let m = write_manifest(
        &dir,
        &manifest("ma-cross", &component("ma_cross"), json!({"account": ACCT, "symbol": "IBM", "fast": 5, "slow": 20, "quantity": "100"}), limits(ACCT, &["IBM"])),
    );
    // Historical bars from the simulator.
    let (a, _) = replay(&m, &["--symbol", "IBM", "--from", "2026-03-02", "--days", "3"]);
    let (b, _) = replay(&m, &["--symbol", "IBM", "--from", "2026-03-02", "--days", "3"]);
    assert_eq!(a, b, "same input, same decisions");
    assert!(a.lines().filter(|l| l.starts_with("order ")).count() >= 2, "it traded:\n{a}");
    assert!(a.lines().any(|l| l.starts_with("fill ")), "{a}");
    assert!(a.contains("decisions "), "{a}");

    // The same bars as CSV give the same decisions as the simulator's.
    let csv = dir.join("bars.csv");
    replay(&m, &["--symbol", "IBM", "--from", "2026-03-02", "--days", "3", "--write-csv", csv.to_str().expect("utf-8")]);
    let (c, _) = replay(&m, &["--csv", csv.to_str().expect("utf-8")]);
    assert_eq!(a, c, "CSV replay matches");

    // A runaway strategy is stopped by its fuel budget, deterministically.
    let spin = write_manifest(&dir, &misbehave("spin", "spin", limits(ACCT, &["IBM"])));
    let out = std::process::Command::new(txtraderd()).arg("replay").arg(&spin).args(["--csv", csv.to_str().expect("utf-8")]).output().expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success() && text.contains("fuel budget"), "{text}");
}

/// A strategy's orders pass its manifest's limits first, then the gateway's own pre-trade
/// check like every other order: the manifest allows 900 IBM, the limits file does not.
#[test]
fn a_strategys_orders_pass_its_own_limits_and_the_gateways() {
    let dir = temp_folder("strategies-risk");
    let file = dir.join("risk.toml");
    std::fs::write(&file, format!("[accounts.\"{ACCT}\"]\nmax_order_quantity = 500\n")).expect("limits");
    let daemon = Daemon::start("strategies-risk", &[("TXTRADER_RISK_FILE", file.to_str().expect("utf-8"))]);
    let http = Http::new(daemon.http_port);
    http.wait_status("Up");
    http.ok("deploy_strategy", &json!({"manifest": misbehave("oversized", "oversized", limits(ACCT, &["IBM"]))}));
    // 1 000 000: refused by the manifest (at most 1000), a reject of the strategy's own; 900:
    // allowed there and sent, refused by the gateway (the strategy sees its order rejected)
    let s = wait_strategy(&http, "oversized", Duration::from_secs(30), |s| s["counters"]["rejects"] == 1 && s["counters"]["orders"] == 1);
    assert_eq!(s["state"], "running", "{s}");
    wait_until(Duration::from_secs(10), "the gateway's refusal", || http.ok("query_risk", &json!({}))["accounts"][ACCT]["denied"] == 1);
    wait_until(Duration::from_secs(10), "the refusal in the log", || {
        let log = daemon.log_text();
        log.contains("action refused: quantity 1000000 is above the maximum of 1000") && log.contains("order refused by risk limit") && log.contains("value=900")
    });
    assert!(orders_of(&http, "oversized").is_empty(), "neither reached the broker");
}

/// `modify-order` (WIT 0.1.1): a strategy changes its resting order's quantity and price, hears
/// the order on its new terms through `on-order`, and cancels it.
#[test]
fn a_strategy_changes_its_working_order_and_hears_the_new_terms() {
    let daemon = Daemon::start("strategies-modify", &[]);
    let http = Http::new(daemon.http_port);
    http.wait_status("Up");
    let m = manifest("modifier", &component("modify_order"), json!({"account": ACCT, "symbol": "IBM", "quantity": "10"}), limits(ACCT, &["IBM"]));
    http.ok("deploy_strategy", &json!({"manifest": m}));
    wait_until(Duration::from_secs(60), "the strategy to hear its change and cancel", || {
        orders_of(&http, "modifier").first().is_some_and(|o| o["status"] == "Cancelled")
    });
    let o = orders_of(&http, "modifier").remove(0);
    assert_eq!(o["quantity"], 20, "{o}");
    let log = daemon.log_text();
    assert!(log.contains("changing ") && log.contains("changed ") && log.contains(" to 20 at "), "{log}");
    assert_eq!(strategy(&http, "modifier")["state"], "running");
}
