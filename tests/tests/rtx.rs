//! txtraderd in `rtx` mode: the RealTick adapter built as a dynamic library, dropped into the
//! adapter folder, trading through `fake_rtgw.py` (the fake RTGW gateway the original txTrader
//! runs against) on loopback, started under `timeout`.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use txtrader_tests::{adapter_folder, wait_until, Daemon, FakeRtgw, Http};

const ACCOUNT: &str = "REALTICKDEMO.REALTICK.DEMO32.TRADING";

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn adapter_dir(name: &str) -> PathBuf {
    adapter_folder("txtrader-adapter-rtx", name)
}

fn start(name: &str, fake: &FakeRtgw) -> (Daemon, Http) {
    start_with(name, fake, &adapter_dir(name), &[])
}

/// txtraderd in rtx mode on `fake`, its adapter from `dir`, with `extra` settings; once `Up`.
fn start_with(name: &str, fake: &FakeRtgw, dir: &Path, extra: &[(&str, &str)]) -> (Daemon, Http) {
    let port = fake.port.to_string();
    let mut env = vec![
        ("TXTRADER_ADAPTER_DIR", path(dir)),
        ("TXTRADER_MODE", "rtx"),
        ("TXTRADER_API_PORT", port.as_str()),
        ("TXTRADER_ENABLE_AUTO_RESET", "0"),
        ("TXTRADER_RTX_RECONNECT_MAX_SECONDS", "2"),
    ];
    env.extend_from_slice(extra);
    let d = Daemon::start(name, &env);
    let http = Http::new(d.http_port);
    http.wait_status("Up");
    (d, http)
}

fn permid(v: &Value) -> String {
    v["permid"].as_str().unwrap_or_else(|| panic!("no permid in {v}")).to_owned()
}

#[test]
fn trading_through_rtgw_quotes_orders_cancels_accounts() {
    let fake = FakeRtgw::start(&[]);
    let (_d, http) = start("rtx-trade", &fake);
    let accounts = http.ok("query_accounts", &json!({}));
    assert_eq!(accounts, json!(["REALTICKDEMO.REALTICK.DEMO31.TRADING", ACCOUNT]));
    assert_eq!(http.ok("query_adapters", &json!({}))["adapters"]["rtx"]["kind"], "rtx");

    // quotes: the symbol's record, then live updates
    let sym = http.ok("add_symbol", &json!({"symbol": "IBM"}));
    assert_eq!((sym["symbol"].as_str(), sym["fullname"].as_str()), (Some("IBM"), Some("IBM FAKE CORP")), "{sym}");
    assert!(sym["last"].as_f64().is_some_and(|p| p > 0.0), "{sym}");
    let bad = http.call("add_symbol", &json!({"symbol": "BADSYMBOL"}));
    assert!(bad.1.is_null() || bad.0 != 200, "an invalid symbol is refused: {bad:?}");

    // account data from DEPOSIT, exactly as RTGW sent it
    let acct = http.ok("query_account", &json!({"account": ACCOUNT}));
    assert_eq!((acct["EXCESS_EQ"].as_f64(), acct["CASH_BALANCE"].as_f64()), (Some(123_456.789), Some(100_000.0)), "{acct}");

    // a market order fills, with its execution and the position
    let m = http.ok("market_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "IBM", "quantity": 100}));
    let filled = http.wait_order(&permid(&m), &["Filled"]);
    assert_eq!(filled["filled"], 100, "{filled}");
    // RealTick's own fields pass through to `raw` and `updates` as RTGW sent them
    let raw = &filled["raw"];
    assert_eq!((raw["TYPE"].as_str(), raw["CURRENT_STATUS"].as_str()), (Some("ExchangeTradeOrder"), Some("COMPLETED")), "{raw}");
    assert!(raw["FILL_ID"].is_string() && raw["TIME_STAMP"].is_string() && raw["MARKET_TRD_DATE"].is_string(), "the fake's row fields: {raw}");
    assert_eq!(raw["ORIGINAL_ORDER_ID"], permid(&m).as_str());
    let updates: Vec<(String, String)> =
        filled["updates"].as_array().into_iter().flatten().map(|u| (u["id"].as_str().unwrap_or_default().to_owned(), u["type"].as_str().unwrap_or_default().to_owned())).collect();
    assert!(updates.iter().any(|(id, ty)| id == &format!("{}-2", permid(&m)) && ty == "ExchangeTradeOrder"), "{updates:?}");
    let execs = http.ok("query_order_executions", &json!({"id": permid(&m)}));
    assert_eq!(execs.as_object().map(serde_json::Map::len), Some(1), "{execs}");
    wait_until("the position", Duration::from_secs(10), || http.ok("query_positions", &json!({}))[ACCOUNT]["IBM"] == 100);

    // a resting limit order; RealTick's adapter cannot change orders (it does not announce the
    // feature), so a change is refused with that reason; cancelled
    let l = http.ok("limit_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "IBM", "quantity": 10, "limit_price": 1.0}));
    http.wait_order(&permid(&l), &["Pending"]);
    let refused = http.ok("modify_order", &json!({"id": permid(&l), "quantity": 20}));
    assert_eq!(refused["errorMsg"], "Adapter rtx cannot change orders; cancel and place a new one.", "{refused}");
    http.ok("cancel_order", &json!({"id": permid(&l)}));
    http.wait_order(&permid(&l), &["Cancelled"]);

    // an order for a bad symbol is rejected with RealTick's reason
    let b = http.call("market_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "BADSYMBOL", "quantity": 10}));
    if b.0 == 200 && b.1["permid"].is_string() {
        let rejected = http.wait_order(&permid(&b.1), &["Error"]);
        assert!(rejected.to_string().contains("Invalid symbol"), "{rejected}");
    }
}

#[test]
fn a_dropped_rtgw_is_reconnected_and_nothing_is_lost() {
    // the fake closes each client connection after 4 s; its books stay
    let fake = FakeRtgw::start(&[("FAKE_RTGW_DROP_AFTER", "4")]);
    let (d, http) = start("rtx-reconnect", &fake);
    let rest = http.ok("limit_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "IBM", "quantity": 10, "limit_price": 1.0}));
    http.wait_order(&permid(&rest), &["Pending"]);
    // a large order fills in four parts, 1.5 s apart: some of them while the link is down
    let big = http.ok("market_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "IBM", "quantity": 2000}));
    wait_until("the link dropped and came back", Duration::from_secs(30), || d.log_text().contains("RTGW session ready") && d.log_text().matches("RTGW session ready").count() >= 2);
    let filled = http.wait_order(&permid(&big), &["Filled"]);
    assert_eq!(filled["filled"], 2000, "{filled}");
    let execs = http.ok("query_order_executions", &json!({"id": permid(&big)}));
    assert_eq!(execs.as_object().map(serde_json::Map::len), Some(4), "each fill booked once: {execs}");
    // the resting order survived and can be cancelled
    http.wait_status("Up");
    http.ok("cancel_order", &json!({"id": permid(&rest)}));
    http.wait_order(&permid(&rest), &["Cancelled"]);
}

#[test]
fn a_new_build_of_the_adapter_swaps_in_and_takes_over_the_session() {
    let fake = FakeRtgw::start(&[]);
    let builds: Vec<PathBuf> = ["0.1.0+rtx.1", "0.1.0+rtx.2"].iter().map(|v| txtrader_tests::build_adapter("txtrader-adapter-rtx", Some(v))).collect();
    let dir = txtrader_tests::temp_folder("rtx-swap");
    let lib = "libtxtrader_adapter_rtx.so";
    std::fs::copy(&builds[0], dir.join(lib)).expect("copy");
    let (d, http) = start_with("rtx-swap", &fake, &dir, &[("TXTRADER_ENABLE_TICKER", "1")]);
    assert_eq!(http.adapter("rtx")["version"], "0.1.0+rtx.1");
    let stream = txtrader_tests::StreamRecorder::connect(d.tcp_port, r#"{"quotes":1}"#);
    http.ok("add_symbol", &json!({"symbol": "IBM"}));
    let rest = http.ok("limit_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "IBM", "quantity": 10, "limit_price": 1.0}));
    http.wait_order(&permid(&rest), &["Pending"]);
    // four fills 1.5 s apart: some before the swap, some after
    let big = http.ok("market_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "IBM", "quantity": 2000}));
    wait_until("the first fill", Duration::from_secs(20), || http.ok("query_order", &json!({"id": permid(&big)}))["filled"].as_i64().is_some_and(|f| f > 0));

    // the new build lands: written beside, renamed into place
    let part = dir.join(format!(".{lib}.part"));
    std::fs::copy(&builds[1], &part).expect("copy");
    std::fs::rename(&part, dir.join(lib)).expect("rename");
    let a = http.wait_adapter("rtx", Duration::from_secs(60), |a| a["version"] == "0.1.0+rtx.2" && a["state"] == "ready");
    assert_eq!(a["generation"], 2, "{a}");
    assert!(d.log_text().contains("switching once it is connected to its broker"), "the old generation served until the new one had its RTGW session");
    http.wait_status("Up");

    // the order filling across the swap: every fill booked once
    let filled = http.wait_order(&permid(&big), &["Filled"]);
    assert_eq!(filled["filled"], 2000, "{filled}");
    let execs = http.ok("query_order_executions", &json!({"id": permid(&big)}));
    assert_eq!(execs.as_object().map(serde_json::Map::len), Some(4), "each fill booked once: {execs}");
    // the resting order is the new generation's to cancel; quotes stream from its advise
    http.ok("cancel_order", &json!({"id": permid(&rest)}));
    http.wait_order(&permid(&rest), &["Cancelled"]);
    let quotes = stream.lines().iter().filter(|l| l.starts_with("rtx.quote.IBM")).count();
    stream.wait_for(Duration::from_secs(20), |_| stream.lines().iter().filter(|l| l.starts_with("rtx.quote.IBM")).count() > quotes);
    // and it trades
    let m = http.ok("market_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "IBM", "quantity": 100}));
    http.wait_order(&permid(&m), &["Filled"]);
}
