//! Every stream command end to end on the real `txtraderd` and the simulated exchange, as a
//! monitor-style client sends them: symbols (`add`, `query`, `querydata`, `symbols`, `del`),
//! bars (`getbars`), each order kind (`marketorder`, `limitorder`, `stoporder`,
//! `stoplimitorder`, `stagemarketorder`), `cancel`, `globalcancel`, and the books (`orders`,
//! `tickets`, `executions`, `positions`, `accounts`, `setaccount`), with a wrong argument count
//! answered `.error` and the session going on.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use txtrader_tests::{start_on, wait_until, Http, StreamRecorder};

const ACCT: &str = "REALTICKDEMO.REALTICK.DEMO32.TRADING";

/// Sends a command and waits for the first message after it that starts with `prefix`;
/// answers the JSON after the prefix (or the whole line when it is not JSON).
fn ask(s: &mut StreamRecorder, command: &str, prefix: &str) -> Value {
    let seen = s.lines().len();
    s.send(command);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(line) = s.lines().into_iter().skip(seen).find(|l| l.starts_with(prefix)) {
            let rest = line.strip_prefix(prefix).unwrap_or_default().trim();
            return serde_json::from_str(rest).unwrap_or_else(|_| Value::from(line.clone()));
        }
        assert!(Instant::now() < deadline, "no {prefix:?} after {command:?}; got:\n{}", s.lines()[seen..].join("\n"));
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn permid(order: &Value) -> String {
    order["permid"].as_str().unwrap_or_else(|| panic!("no permid in {order}")).to_owned()
}

#[test]
fn every_stream_command_answers_as_the_original() {
    let data = tempfile::tempdir().expect("data");
    let (d, http): (_, Http) = start_on("stream-commands", data.path(), &[]);
    let mut s = StreamRecorder::connect(d.tcp_port, r#"{"order-notification": 1}"#);

    // symbols
    let added = ask(&mut s, "add IBM", "rtx.symbol: ");
    assert_eq!(added["symbol"], "IBM", "{added}");
    assert_eq!(ask(&mut s, "query IBM", "rtx.symbol: ")["symbol"], "IBM");
    let raw = ask(&mut s, "querydata IBM", "rtx.symbol-data: ");
    assert!(raw.as_object().is_some_and(|m| !m.is_empty()), "the raw fields: {raw}");
    let symbols = ask(&mut s, "symbols", "rtx.symbols: ");
    assert!(symbols.get("IBM").is_some() || symbols.as_array().is_some_and(|a| a.iter().any(|x| x == "IBM")), "{symbols}");
    let unknown = ask(&mut s, "query NOTADDED", ".error: ");
    assert!(unknown.as_str().is_some_and(|e| e.contains("KeyError('NOTADDED')")), "{unknown}");

    // bars: the upstream suites' request
    let bars = ask(&mut s, "getbars IBM 1 2017-08-29 09:30:00 2017-08-29 09:40:00", "rtx.barchart: ");
    let bars = bars.as_array().unwrap_or_else(|| panic!("bars: {bars}"));
    assert!(!bars.is_empty(), "bars for the upstream request");
    assert_eq!(bars[0].as_array().map(Vec::len), Some(7), "[date, time, open, high, low, close, volume]: {:?}", bars[0]);
    assert_eq!(bars[0][0], "2017-08-29");

    // orders of each kind
    let market = ask(&mut s, &format!("marketorder {ACCT} DEMO IBM 10"), "rtx.order: ");
    http.wait_order(&permid(&market), &["Filled"]);
    let limit = ask(&mut s, &format!("limitorder {ACCT} DEMO IBM 1.00 10"), "rtx.order: ");
    let stop = ask(&mut s, &format!("stoporder {ACCT} DEMO IBM 9999.00 10"), "rtx.order: ");
    let stop_limit = ask(&mut s, &format!("stoplimitorder {ACCT} DEMO IBM 9999.00 10000.00 10"), "rtx.order: ");
    for o in [&limit, &stop, &stop_limit] {
        http.wait_order(&permid(o), &["Pending"]);
    }
    assert_eq!(http.ok("query_order", &json!({"id": permid(&stop)}))["raw"]["PRICE_TYPE"], "Stop");
    assert_eq!(http.ok("query_order", &json!({"id": permid(&stop_limit)}))["raw"]["PRICE_TYPE"], "StopLimit");
    let staged = ask(&mut s, &format!("stagemarketorder tag-1 {ACCT} DEMO IBM 5"), "rtx.");
    assert!(staged.to_string().contains("tag-1") || staged.get("permid").is_some(), "{staged}");
    let tickets = ask(&mut s, "tickets", "rtx.tickets: ");
    assert!(tickets.as_object().is_some_and(|t| !t.is_empty()), "the staged ticket: {tickets}");

    // change one: a new quantity and limit; `-` keeps the stop price of the stop-limit
    let changed = ask(&mut s, &format!("modify {} 20 1.01", permid(&limit)), "rtx.modify_order: ");
    assert_eq!(changed["status"], "1", "{changed}");
    wait_until("the change", Duration::from_secs(10), || http.ok("query_order", &json!({"id": permid(&limit)}))["quantity"] == 20);
    let changed = ask(&mut s, &format!("modify {} - 10001.00 -", permid(&stop_limit)), "rtx.modify_order: ");
    assert_eq!(changed["status"], "1", "{changed}");
    let wrong = ask(&mut s, &format!("modify {}", permid(&limit)), ".error: ");
    assert!(wrong.as_str().is_some_and(|e| e.contains("expected 2 to 4 arguments")), "{wrong}");

    // cancel one, then globalcancel the rest
    let cancelled = ask(&mut s, &format!("cancel {}", permid(&limit)), "rtx.cancel_order: ");
    assert_eq!(cancelled["status"], "1", "{cancelled}");
    http.wait_order(&permid(&limit), &["Cancelled"]);
    let global = ask(&mut s, "globalcancel", ".global order cancel requested");
    assert_eq!(global, ".global order cancel requested");
    for o in [&stop, &stop_limit] {
        http.wait_order(&permid(o), &["Cancelled"]);
    }

    // the books
    let orders = ask(&mut s, "orders", "rtx.orders: ");
    assert!(orders.get(permid(&market)).is_some(), "{orders}");
    let executions = ask(&mut s, "executions", "rtx.executions: ");
    assert!(executions.as_object().is_some_and(|e| !e.is_empty()), "{executions}");
    let positions = ask(&mut s, "positions", "rtx.positions: ");
    assert!(positions[ACCT]["IBM"].as_i64().is_some_and(|q| q >= 10), "{positions}");
    let accounts = ask(&mut s, "accounts", "rtx.accounts: ");
    assert!(accounts.as_array().is_some_and(|a| a.iter().any(|x| x == ACCT)), "{accounts}");
    assert_eq!(ask(&mut s, &format!("setaccount {ACCT}"), "rtx.set_account: "), true);

    // wrong argument counts are answered, and the session goes on
    let wrong = ask(&mut s, "limitorder IBM", ".error: ");
    assert!(wrong.as_str().is_some_and(|e| e.contains("expected 5 arguments (ACCOUNT ROUTE SYMBOL PRICE QUANTITY), got 1")), "{wrong}");
    assert_eq!(ask(&mut s, "del IBM", "rtx.symbol: "), true, "the subscription is dropped");
    assert_eq!(ask(&mut s, "status", ".status: "), ".status: Up");
}
