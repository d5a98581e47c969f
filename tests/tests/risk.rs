//! Pre-trade risk on the real `txtraderd` and the simulated exchange: the kill switch cancels
//! what rests at the exchange, refuses new orders with its reason and comes back after
//! `kill -9`; REDUCING lets only position-reducing orders through; limits from the limits file
//! refuse with their rule, and a changed file takes effect without a restart while a broken
//! one leaves the limits in force. Every refusal and state change is pushed to stream clients
//! that asked for `risk-notification`.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use txtrader_tests::{start_on as start, Http, StreamRecorder};

const ACCT: &str = "REALTICKDEMO.REALTICK.DEMO32.TRADING";

fn permid(order: &Value) -> String {
    order["permid"].as_str().unwrap_or_else(|| panic!("no permid in {order}")).to_owned()
}

fn order(http: &Http, symbol: &str, quantity: i64, limit: Option<f64>) -> Value {
    match limit {
        Some(p) => http.ok("limit_order", &json!({"account": ACCT, "route": "DEMO", "symbol": symbol, "quantity": quantity, "limit_price": p})),
        None => http.ok("market_order", &json!({"account": ACCT, "route": "DEMO", "symbol": symbol, "quantity": quantity})),
    }
}

fn refused(answer: &Value, rule: &str) {
    assert_eq!(answer["status"], "Error", "refused: {answer}");
    assert_eq!(answer["risk"]["rule"], rule, "{answer}");
    assert!(answer["errorMsg"].as_str().is_some_and(|m| m.contains(rule)), "{answer}");
}

fn position(http: &Http, symbol: &str) -> i64 {
    http.ok("query_positions", &json!({}))[ACCT][symbol].as_i64().unwrap_or(0)
}

#[test]
fn the_kill_switch_cancels_resting_orders_refuses_new_ones_and_survives_kill_9() {
    let data = tempfile::tempdir().expect("data");
    let (mut d, http) = start("risk-kill-a", data.path(), &[]);
    let stream = StreamRecorder::connect(d.tcp_port, r#"{"risk-notification": 1}"#);
    let resting: Vec<String> = [("MSFT", 10, 1.05), ("AAPL", -20, 9999.0), ("IBM", 5, 1.10)]
        .iter()
        .map(|(s, q, p)| permid(&order(&http, s, *q, Some(*p))))
        .collect();
    for id in &resting {
        http.wait_order(id, &["Pending"]);
    }
    let before = http.ok("query_orders", &json!({})).as_object().map_or(0, serde_json::Map::len);

    let halted = http.ok("kill_switch", &json!({"reason": "test: fat finger upstream"}));
    assert_eq!((halted["state"].as_str(), halted["previous"].as_str(), halted["scope"].as_str()), (Some("HALTED"), Some("ACTIVE"), Some("gateway")), "{halted}");
    assert_eq!(halted["cancels_sent"], 3, "{halted}");
    for id in &resting {
        http.wait_order(id, &["Cancelled"]);
    }
    refused(&order(&http, "IBM", 100, None), "halted");
    assert_eq!(http.ok("query_orders", &json!({})).as_object().map_or(0, serde_json::Map::len), before, "the broker never heard of the refused order");
    stream.wait_for(Duration::from_secs(10), |m| m.starts_with("rtx.risk state ") && m.contains("\"HALTED\"") && m.contains("fat finger"));
    stream.wait_for(Duration::from_secs(10), |m| m.starts_with("rtx.risk denied ") && m.contains("\"halted\""));

    // a crash does not re-arm it
    d.kill9();
    let (d, http) = start("risk-kill-b", data.path(), &[]);
    assert_eq!(http.ok("query_risk", &json!({}))["gateway"], "HALTED");
    refused(&order(&http, "IBM", 100, None), "halted");
    // re-armed from the stream this time
    let mut stream = StreamRecorder::connect(d.tcp_port, "{}");
    stream.send("risk");
    stream.wait_for(Duration::from_secs(10), |m| m.starts_with("rtx.risk: ") && m.contains("\"gateway\":\"HALTED\""));
    stream.send("rearm");
    let answer = stream.wait_for(Duration::from_secs(10), |m| m.starts_with("rtx.trading-state: "));
    assert!(answer.contains("\"state\":\"ACTIVE\"") && answer.contains("\"previous\":\"HALTED\"") && answer.contains("stream command from"), "{answer}");
    let filled = order(&http, "IBM", 100, None);
    http.wait_order(&permid(&filled), &["Filled"]);

    // REDUCING: only what reduces the position
    let long = position(&http, "IBM");
    assert!(long >= 100, "position {long}");
    http.ok("set_trading_state", &json!({"state": "REDUCING", "account": ACCT}));
    let risk = http.ok("query_risk", &json!({}));
    assert_eq!((risk["gateway"].as_str(), risk["accounts"][ACCT]["effective"].as_str()), (Some("ACTIVE"), Some("REDUCING")), "{risk}");
    refused(&order(&http, "IBM", 10, None), "reducing");
    refused(&order(&http, "IBM", -(long + 1), None), "reducing");
    let reduce = order(&http, "IBM", -50, None);
    http.wait_order(&permid(&reduce), &["Filled"]);
    assert_eq!(position(&http, "IBM"), long - 50);
    let (status, body) = http.call("set_trading_state", &json!({"state": "PAUSED"}));
    assert_eq!(status, 400, "an unknown state is a bad argument: {body}");
    let (status, body) = http.call("kill_switch", &json!({"account": "NOT.AN.ACCOUNT"}));
    assert_eq!(status, 400, "an unknown account is a bad argument, not a halt of nothing: {body}");
}

#[test]
fn limits_from_the_file_refuse_and_a_changed_file_applies_without_a_restart() {
    let data = tempfile::tempdir().expect("data");
    let folder = tempfile::tempdir().expect("limits folder");
    let file = folder.path().join("limits.toml");
    std::fs::write(&file, "[default]\nmax_order_quantity = 500\nmax_open_orders = 2\n[symbols.IBM]\nmax_position = 300\n").expect("limits");
    let (d, http) = start("risk-file", data.path(), &[("TXTRADER_RISK_FILE", file.to_str().expect("utf-8"))]);
    let stream = StreamRecorder::connect(d.tcp_port, r#"{"risk-notification": 1}"#);
    refused(&order(&http, "MSFT", 501, None), "max_order_quantity");
    refused(&order(&http, "IBM", 301, None), "max_position");
    // two resting orders fill the account's open-order limit; reducing the position is spared
    for p in [1.05, 1.06] {
        http.wait_order(&permid(&order(&http, "MSFT", 10, Some(p))), &["Pending"]);
    }
    refused(&order(&http, "AAPL", 10, Some(1.0)), "max_open_orders");
    let risk = http.ok("query_risk", &json!({}));
    assert_eq!(risk["accounts"][ACCT]["open_orders"], 2, "{risk}");
    assert!(risk["limits_file"].as_str().is_some_and(|f| f.ends_with("limits.toml")), "{risk}");

    // a change applies at once
    std::fs::write(&file, "[default]\nmax_order_quantity = 20\n").expect("new limits");
    let deadline = Instant::now() + Duration::from_secs(20);
    while http.ok("query_risk", &json!({}))["limits"]["default"]["max_order_quantity"] != "20" {
        assert!(Instant::now() < deadline, "the changed file was not applied: {}", http.ok("query_risk", &json!({})));
        std::thread::sleep(Duration::from_millis(100));
    }
    stream.wait_for(Duration::from_secs(10), |m| m.starts_with("rtx.risk limits ") && m.contains("\"loaded\":true"));
    refused(&order(&http, "MSFT", 21, None), "max_order_quantity");
    let ok = order(&http, "AAPL", 10, Some(1.0));
    http.wait_order(&permid(&ok), &["Pending"]);
    // a change is checked as the order on its new terms
    refused(&http.ok("modify_order", &json!({"id": permid(&ok), "quantity": 21})), "max_order_quantity");
    assert_eq!(http.ok("modify_order", &json!({"id": permid(&ok), "quantity": 20})), json!({"msg": "OnOtherAck", "status": "1"}));

    // a broken file is refused with its line; the limits in force stay
    std::fs::write(&file, "[default]\nmax_order_quantity = 20\nmax_opn_orders = 1\n").expect("broken limits");
    stream.wait_for(Duration::from_secs(20), |m| m.starts_with("rtx.error") && m.contains("line 3") && m.contains("max_opn_orders"));
    assert_eq!(http.ok("query_risk", &json!({}))["limits"]["default"]["max_order_quantity"], "20");
    refused(&order(&http, "MSFT", 21, None), "max_order_quantity");
    assert!(d.log_text().contains("risk limits file refused"), "logged");
}

/// The last trade of an active symbol, once there is one.
fn last_trade(http: &Http, symbol: &str) -> f64 {
    http.ok("add_symbol", &json!({"symbol": symbol}));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let last = http.ok("query_symbol", &json!({"symbol": symbol}))["last"].as_f64().unwrap_or(0.0);
        if last > 0.0 {
            return last;
        }
        assert!(Instant::now() < deadline, "{symbol} never traded");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn value_collar_duplicates_and_open_notional_refuse_with_their_rule() {
    let data = tempfile::tempdir().expect("data");
    let folder = tempfile::tempdir().expect("limits folder");
    let file = folder.path().join("limits.toml");
    let text = "[default]\nmax_order_notional = 200000\nprice_collar_percent = 10\nduplicate_window_ms = 60000\nmax_open_notional = 3000\n[symbols.MSFT]\nallow_without_reference = true\n";
    std::fs::write(&file, text).expect("limits");
    let (_d, http) = start("risk-rules", data.path(), &[("TXTRADER_RISK_FILE", file.to_str().expect("utf-8"))]);
    let last = last_trade(&http, "IBM");
    let qty = (200_000.0 / last).ceil() as i64 + 10;
    refused(&order(&http, "IBM", qty, None), "max_order_notional");
    refused(&order(&http, "IBM", 1, Some((last * 1.5 * 100.0).round() / 100.0)), "price_collar");
    refused(&order(&http, "IBM", -1, Some((last * 0.5 * 100.0).round() / 100.0)), "price_collar");
    // neither AAPL nor MSFT is active: no reference price; AAPL is refused for it, MSFT's
    // section lets priced orders pass
    refused(&order(&http, "AAPL", 1, Some(1.05)), "no_reference_price");
    let first = order(&http, "MSFT", 1000, Some(1.05));
    http.wait_order(&permid(&first), &["Pending"]);
    refused(&order(&http, "MSFT", 1000, Some(1.05)), "duplicate_window_ms");
    let intended = http.ok("limit_order", &json!({"account": ACCT, "route": "DEMO", "symbol": "MSFT", "quantity": 1000, "limit_price": 1.05, "allow_duplicate": 1}));
    http.wait_order(&permid(&intended), &["Pending"]);
    refused(&order(&http, "MSFT", 1000, Some(1.06)), "max_open_notional");
    let risk = http.ok("query_risk", &json!({}));
    assert_eq!(risk["accounts"][ACCT]["open_notional"], "2100.00", "{risk}");
    assert_eq!(risk["denials"], 6, "{risk}");
}

#[test]
fn the_order_rate_is_limited_per_account() {
    let data = tempfile::tempdir().expect("data");
    let folder = tempfile::tempdir().expect("limits folder");
    let file = folder.path().join("limits.toml");
    std::fs::write(&file, "[default]\nmax_orders_per_second = 1\n").expect("limits");
    let (_d, http) = start("risk-rate", data.path(), &[("TXTRADER_RISK_FILE", file.to_str().expect("utf-8"))]);
    // five orders in one JSON-RPC batch: one token, refilled at one a second
    let batch: Vec<Value> = (0..5)
        .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "limit_order", "params": {"account": ACCT, "route": "DEMO", "symbol": "MSFT", "quantity": 1, "limit_price": 1.0 + f64::from(i) / 100.0}}))
        .collect();
    let answers = http.ok("rpc", &Value::Array(batch));
    let rules: Vec<String> = answers.as_array().expect("batch answer").iter().filter_map(|a| a["error"]["data"]["rule"].as_str().map(str::to_owned)).collect();
    assert!(rules.len() >= 3 && rules.iter().all(|r| r == "max_orders_per_second"), "{answers}");
    assert!(answers.as_array().expect("batch").iter().any(|a| a["result"]["permid"].is_string()), "the first one passes: {answers}");
}
