//! The Interactive Brokers adapter end to end: the real `txtraderd` loads the TWS adapter as a
//! dynamic library and trades through `fake_tws.py` (a fake TWS on loopback whose bytes IB's
//! official decoder accepts; `tests/peers/`): connect, quotes, a market order filled with its
//! execution and position, a resting limit order cancelled, global cancel, historical bars,
//! and a dropped connection followed by reconnection, resubscription and reconciliation.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use txtrader_tests::{adapter_folder, temp_folder, wait_until, workspace, Daemon, Http};

const ACCOUNT: &str = "DU1234567";

/// `fake_tws.py` on an ephemeral loopback port; killed when dropped (and it ends by itself).
struct FakeTws {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl FakeTws {
    fn start(name: &str, extra: &[&str]) -> Self {
        let log = temp_folder(&format!("tws-{name}")).join("fake_tws.jsonl");
        let script = workspace().join("tests/peers/fake_tws.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .args(["--port", "0", "--sv", "178", "--duration", "180", "--log"])
            .arg(&log)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs fake_tws.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("the fake says where it listens");
        let port = line.split("127.0.0.1:").nth(1).and_then(|r| r.split_whitespace().next()).and_then(|p| p.parse().ok());
        let port = port.unwrap_or_else(|| panic!("no port in {line:?}"));
        Self { child, port, log }
    }

    /// The client→server frames the fake received with this message id.
    fn frames(&self, msg_id: &str) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["dir"] == "c2s" && v["fields"][0] == msg_id)
            .map(|v| v["fields"].clone())
            .collect()
    }

    /// How many of them.
    fn received(&self, msg_id: &str) -> usize {
        self.frames(msg_id).len()
    }
}

impl Drop for FakeTws {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Another API client of the same TWS (client id 9) places a resting limit order and leaves.
fn order_from_another_client(port: u16) {
    use std::io::{Read, Write};
    use txtrader_adapter_tws::proto::encode::{Contract, Encoder, Order};
    use txtrader_adapter_tws::proto::frame::greeting;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.write_all(&greeting(176, 178, "")).expect("greet");
    let mut buf = [0u8; 4096];
    let _ = s.read(&mut buf).expect("server version");
    let e = Encoder::new(178);
    s.write_all(&e.start_api(9)).expect("startApi");
    let order = Order {
        order_id: 1,
        contract: Contract::stock("AAPL", "", "USD"),
        action: "BUY".into(),
        total_quantity: rust_decimal::Decimal::from(3),
        order_type: "LMT".into(),
        lmt_price: Some(rust_decimal::Decimal::from(40)),
        tif: "DAY".into(),
        account: ACCOUNT.into(),
        order_ref: "entered-elsewhere".into(),
        ..Order::default()
    };
    s.write_all(&e.place_order(&order)).expect("placeOrder");
    // read what the fake answers (openOrder, orderStatus) until it has been quiet for a second
    s.set_read_timeout(Some(Duration::from_secs(1))).expect("timeout");
    while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
}

fn adapter_dir(name: &str) -> PathBuf {
    adapter_folder("txtrader-adapter-tws", name)
}

fn start(name: &str, fake: &FakeTws) -> (Daemon, Http) {
    start_with(name, fake, &[])
}

fn start_with(name: &str, fake: &FakeTws, extra: &[(&str, &str)]) -> (Daemon, Http) {
    let dir = adapter_dir(name);
    let port = fake.port.to_string();
    let mut env = vec![
        ("TXTRADER_ADAPTER_DIR", path(&dir)),
        ("TXTRADER_MODE", "tws"),
        ("TXTRADER_API_PORT", port.as_str()),
        ("TXTRADER_API_CLIENT_ID", "7"),
        ("TXTRADER_ENABLE_AUTO_RESET", "0"),
        ("TXTRADER_ENABLE_SYMBOL_BARCHART", "1"),
    ];
    env.extend_from_slice(extra);
    let d = Daemon::start(name, &env);
    let http = Http::new(d.http_port);
    http.wait_status("Up");
    (d, http)
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn permid(v: &Value) -> String {
    v["permid"].as_str().unwrap_or_else(|| panic!("no permid in {v}")).to_owned()
}

#[test]
fn trading_through_tws_quotes_orders_cancels_bars() {
    let fake = FakeTws::start("trade", &[]);
    // an order entered elsewhere before the gateway starts: its first snapshot has it
    order_from_another_client(fake.port);
    let (d, http) = start("tws-trade", &fake);
    let foreign = http.ok("query_orders", &json!({}));
    let (foreign_id, foreign_order) = foreign.as_object().and_then(|m| m.iter().next()).map(|(k, v)| (k.clone(), v.clone())).expect("the order placed elsewhere");
    assert_eq!((foreign_order["origin"].as_str(), foreign_order["status"].as_str()), (Some("realtick"), Some("Pending")), "{foreign_order}");
    assert_eq!(http.ok("query_accounts", &json!({})), json!([ACCOUNT]));
    let adapters = http.ok("query_adapters", &json!({}))["adapters"].clone();
    assert_eq!(adapters["tws"]["kind"], "tws", "{adapters}");

    // quotes, for the contract with the primary exchange set
    http.ok("set_primary_exchange", &json!({"symbol": "AAPL", "exchange": "NASDAQ"}));
    let sym = http.ok("add_symbol", &json!({"symbol": "AAPL"}));
    let lookups = fake.frames("9");
    let lookup = lookups.last().expect("the subscription looked the contract up");
    assert_eq!((lookup[4].as_str(), lookup[10].as_str(), lookup[11].as_str()), (Some("AAPL"), Some("SMART"), Some("NASDAQ")), "{lookups:?}");
    assert_eq!(sym["symbol"], "AAPL", "{sym}");
    // the first answer waits for TWS's first ticks (they come one by one after the contract)
    assert_eq!(sym["last"].as_f64(), Some(189.26), "{sym}");
    assert_ne!(sym["tradetime"], "00:00:00", "{sym}");
    // live one-minute bars, built from IB's 5-second real-time bars
    wait_until("a live bar", Duration::from_secs(10), || {
        http.ok("query_symbol_bars", &json!({"symbol": "AAPL"})).as_array().is_some_and(|b| !b.is_empty())
    });
    let live = http.ok("query_symbol_bars", &json!({"symbol": "AAPL"}));
    let bar = &live[0];
    assert_eq!(bar.as_array().map(Vec::len), Some(7), "{live}");
    assert_eq!((bar[2].as_f64(), bar[6].as_i64()), (Some(189.26), Some(1200)), "open of the minute, 12 × 100 volume: {live}");
    let bad = http.call("add_symbol", &json!({"symbol": "NOSUCH"}));
    assert!(bad.1.is_null() || bad.0 != 200, "an unknown symbol is refused: {bad:?}");

    // account data from IB's account summary
    let acct = http.ok("query_account", &json!({"account": ACCOUNT}));
    assert_eq!((acct["TOTAL_EQ"].as_f64(), acct["CASH_BALANCE"].as_f64(), acct["BUYING_POWER"].as_f64()), (Some(100_000.0), Some(81_000.0), Some(400_000.0)), "{acct}");
    assert_eq!(acct["CURRENCY"], "USD", "{acct}");

    // a market order fills, with its execution and the position
    let before = http.ok("query_positions", &json!({}))[ACCOUNT]["AAPL"].as_i64().unwrap_or(0);
    assert_eq!(before, 100, "the broker's position at start");
    let m = http.ok("market_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "AAPL", "quantity": 10}));
    let filled = http.wait_order(&permid(&m), &["Filled"]);
    assert_eq!(filled["filled"], 10, "{filled}");
    let execs = http.ok("query_order_executions", &json!({"id": permid(&m)}));
    assert_eq!(execs.as_object().map(serde_json::Map::len), Some(1), "{execs}");
    let x = execs.as_object().and_then(|m| m.values().next()).cloned().expect("one execution");
    assert_eq!((x["PRICE"].as_f64(), x["VOLUME"].as_i64()), (Some(189.26), Some(10)), "{x}");
    // the commission report follows the execution and is booked with it
    wait_until("the commission", Duration::from_secs(10), || {
        let execs = http.ok("query_order_executions", &json!({"id": permid(&m)}));
        execs.as_object().and_then(|m| m.values().next()).is_some_and(|x| x["COMMISSION"] == json!(1.0) && x["COMMISSION_CURRENCY"] == "USD")
    });
    assert_eq!(http.ok("query_positions", &json!({}))[ACCOUNT]["AAPL"], 110);

    // an execution corrected by IB (the fake corrects orders of 7 shares) is not a second fill
    let c = http.ok("market_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "AAPL", "quantity": 7}));
    http.wait_order(&permid(&c), &["Filled"]);
    wait_until("the correction noticed", Duration::from_secs(10), || d.log_text().contains("IB corrected execution"));
    let execs = http.ok("query_order_executions", &json!({"id": permid(&c)}));
    assert_eq!(execs.as_object().map(serde_json::Map::len), Some(1), "{execs}");
    assert_eq!(http.ok("query_positions", &json!({}))[ACCOUNT]["AAPL"], 117, "7 shares once");

    // a resting limit order, changed (placeOrder again under its id), cancelled
    let l = http.ok("limit_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "AAPL", "quantity": 5, "limit_price": 50.0}));
    http.wait_order(&permid(&l), &["Pending"]);
    assert_eq!(http.ok("modify_order", &json!({"id": permid(&l), "quantity": 8, "limit_price": 51.0})), json!({"msg": "OnOtherAck", "status": "1"}));
    wait_until("the change", Duration::from_secs(10), || http.ok("query_order", &json!({"id": permid(&l)}))["quantity"] == 8);
    let placed = fake.frames("3");
    let [first, again] = &placed[placed.len() - 2..] else { panic!("placeOrder twice: {placed:?}") };
    let (first, again) = (first.as_array().cloned().unwrap_or_default(), again.as_array().cloned().unwrap_or_default());
    assert_eq!(first.get(1), again.get(1), "the same order id");
    assert_eq!((again[17].as_str(), again[19].as_str()), (Some("8"), Some("51.0")), "on new terms: {again:?}");
    http.ok("cancel_order", &json!({"id": permid(&l)}));
    http.wait_order(&permid(&l), &["Cancelled"]);
    // changed to a price through the market, an order fills on its new terms
    let through = http.ok("limit_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "AAPL", "quantity": 5, "limit_price": 50.0}));
    http.wait_order(&permid(&through), &["Pending"]);
    http.ok("modify_order", &json!({"id": permid(&through), "limit_price": 190.5}));
    let done = http.wait_order(&permid(&through), &["Filled"]);
    assert_eq!(done["filled"], 5, "{done}");
    assert_eq!(http.ok("modify_order", &json!({"id": permid(&through), "quantity": 9}))["errorMsg"], "Order not live (Filled).");

    // global cancel: every resting order, the one placed elsewhere too
    let a = http.ok("limit_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "AAPL", "quantity": 1, "limit_price": 51.0}));
    let b = http.ok("limit_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "MSFT", "quantity": 2, "limit_price": 52.0}));
    http.wait_order(&permid(&a), &["Pending"]);
    http.wait_order(&permid(&b), &["Pending"]);
    http.ok("global_cancel", &json!({}));
    http.wait_order(&permid(&a), &["Cancelled"]);
    http.wait_order(&permid(&b), &["Cancelled"]);
    // one reqGlobalCancel, which also reaches the order placed elsewhere
    http.wait_order(&foreign_id, &["Cancelled"]);
    assert_eq!((fake.received("58"), fake.received("4")), (1, 1), "global cancel is one request; one cancelOrder before it");

    // historical bars
    let bars = http.ok("query_bars", &json!({"symbol": "AAPL", "period": "D", "start": "2024-01-01", "end": "2024-01-05"}));
    let bars = bars.as_array().cloned().unwrap_or_default();
    assert_eq!(bars.len(), 2, "{bars:?}");
    assert_eq!((bars[0][0].as_str(), bars[0][5].as_f64()), (Some("2024-01-02"), Some(185.64)), "{bars:?}");

    // the adapter paced itself and TWS's notices were information, not errors
    assert_eq!(fake.received("3"), 9, "six orders placed by the gateway, two changes (placed again), one by the other client");
    let log = d.log_text();
    assert!(log.contains("IB 2104: Market data farm connection is OK"), "{log}");
    http.ok("shutdown", &json!({"message": "tws test"}));
}

#[test]
fn a_dropped_connection_reconnects_resubscribes_and_reconciles() {
    let fake = FakeTws::start("drop", &["--drop-after", "15"]);
    let (d, http) = start("tws-drop", &fake);
    http.ok("add_symbol", &json!({"symbol": "AAPL"}));
    let l = http.ok("limit_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "AAPL", "quantity": 5, "limit_price": 50.0}));
    let resting = permid(&l);
    http.wait_order(&resting, &["Pending"]);
    let subscribed = fake.received("1");
    assert!(subscribed >= 1, "market data asked for");
    // the fake closes each connection 15 s after it opened; the adapter comes back
    wait_until("a reconnection", Duration::from_secs(30), || d.log_text().matches("TWS session ready").count() >= 2);
    http.wait_status("Up");
    wait_until("market data again", Duration::from_secs(10), || fake.received("1") > subscribed);
    // reconciled: the open orders were asked for again, the resting order is still live
    wait_until("open orders asked again", Duration::from_secs(10), || fake.received("16") >= 2);
    let o = http.call("query_order", &json!({"id": resting}));
    assert!(o.0 != 200 || o.1["status"] == "Pending", "{o:?}");
    // an order another API client placed meanwhile shows up at the next reconciliation, as a
    // broker-side order
    order_from_another_client(fake.port);
    wait_until("the other client's order", Duration::from_secs(30), || {
        // between a drop and the reconnection the gateway answers 503
        http.try_call("query_orders", &json!({})).is_some_and(|(status, orders)| {
            status == 200
                && orders.as_object().is_some_and(|m| {
                    m.values().any(|o| o["origin"] == "realtick" && o["quantity"] == 3 && o["status"] == "Pending")
                })
        })
    });
    // and it can be cancelled on the new connection (before the next drop)
    wait_until("a cancel that lands", Duration::from_secs(40), || {
        let _ = http.try_call("cancel_order", &json!({"id": resting}));
        std::thread::sleep(Duration::from_millis(500));
        http.try_call("query_order", &json!({"id": resting})).is_some_and(|(s, o)| s == 200 && o["status"] == "Cancelled")
    });
    let log = d.log_text();
    assert!(log.contains("TWS not reachable (TWS closed the connection)"), "{log}");
    http.ok("shutdown", &json!({"message": "tws test"}));
}

#[test]
fn a_burst_of_requests_is_paced_under_ibs_message_rate() {
    // The fake answers error 100 when more than 50 client messages arrive within a second (IB's
    // limit). The adapter is set to 30 a second here: the fake counts when it gets to a frame,
    // and a loaded test machine can hold a Python process up long enough to bunch a few
    // hundred milliseconds of frames together (the default of 45 has the pacer's unit test).
    let fake = FakeTws::start("pace", &["--pace-limit", "50"]);
    let (d, http) = start_with("tws-pace", &fake, &[("TXTRADER_TWS_PACE", "30")]);
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..8 {
            let http = http.clone();
            s.spawn(move || {
                for i in 0..15 {
                    // unknown symbols: one contract-details request each, answered with 200
                    let _ = http.try_call("add_symbol", &json!({"symbol": format!("NOPE{t}X{i}")}));
                }
            });
        }
    });
    assert!(fake.received("9") >= 120, "every lookup reached TWS: {}", fake.received("9"));
    assert!(started.elapsed() >= Duration::from_secs(3), "120 requests at 30/s take over 3 s: {:?}", started.elapsed());
    let log = d.log_text();
    assert!(!log.contains("IB 100"), "TWS saw more than its message rate: {log}");
    assert!(log.contains("No security definition"), "the unknown symbols were answered: {log}");
    http.ok("shutdown", &json!({"message": "tws test"}));
}
