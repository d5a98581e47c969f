//! txtraderd with a FIX instance beside the simulator (`TXTRADER_MODE=sim,fix`): the FIX
//! adapter built as a dynamic library, logged on to real QuickFIX acceptors on loopback —
//! Debian's C++ `executor` and `ordermatch`, and `fix_exchange.py` on QuickFIX's Python
//! binding — each started under `timeout` with its store in a fresh folder
//! (`scripts/fix-peers.sh` sets them up). The simulator serves quotes; orders for the FIX
//! accounts go out over FIX.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use txtrader_tests::{adapter_folder, wait_until, Daemon, FixPeer, FixPeerKind, Http};

const ACCOUNT: &str = "FIX.TEST.1";

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn adapter_dir(name: &str) -> PathBuf {
    adapter_folder("txtrader-adapter-fix", name)
}

/// txtraderd with `sim,fix`, the FIX instance on `peer` in `begin_string`; once `Up`.
fn start(name: &str, peer: &FixPeer, begin_string: &str, extra: &[(&str, &str)]) -> (Daemon, Http) {
    let dir = adapter_dir(name);
    let fix = peer.instance_env("fix", begin_string, ACCOUNT);
    let mut env: Vec<(&str, &str)> = vec![("TXTRADER_ADAPTER_DIR", path(&dir)), ("TXTRADER_MODE", "sim,fix"), ("TXTRADER_FIX_RECONNECT_MAX_SECONDS", "2")];
    env.extend(fix.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    env.extend_from_slice(extra);
    let d = Daemon::start(name, &env);
    let http = Http::new(d.http_port);
    http.wait_status("Up");
    (d, http)
}

fn permid(v: &Value) -> String {
    v["permid"].as_str().unwrap_or_else(|| panic!("no permid in {v}")).to_owned()
}

fn executions(http: &Http, id: &str) -> Vec<Value> {
    http.ok("query_order_executions", &json!({"id": id})).as_object().map(|m| m.values().cloned().collect()).unwrap_or_default()
}

#[test]
fn orders_through_the_exchange_in_fix44_fill_rest_partially_fill_and_cancel() {
    let peer = FixPeer::start(FixPeerKind::Exchange);
    let (_d, http) = start("fix-exchange-44", &peer, "FIX.4.4", &[]);
    assert_eq!(http.ok("query_adapters", &json!({}))["adapters"]["fix"]["kind"], "fix");
    let accounts = http.ok("query_accounts", &json!({}));
    assert!(accounts.as_array().is_some_and(|a| a.iter().any(|x| x == ACCOUNT)), "{accounts}");

    // a limit order fills at its price
    let l = http.ok("limit_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "IBM", "quantity": 100, "limit_price": 189.30}));
    let filled = http.wait_order(&permid(&l), &["Filled"]);
    assert_eq!(filled["filled"], 100, "{filled}");
    let e = executions(&http, &permid(&l));
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!((e[0]["PRICE"].as_f64(), e[0]["VOLUME"].as_i64()), (Some(189.3), Some(100)), "{e:?}");

    // a market order fills at the exchange's 100.00; 1,000 shares fill in two executions
    let m = http.ok("market_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "IBM", "quantity": -5}));
    http.wait_order(&permid(&m), &["Filled"]);
    let big = http.ok("market_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "IBM", "quantity": 1000}));
    let done = http.wait_order(&permid(&big), &["Filled"]);
    assert_eq!(done["filled"], 1000, "{done}");
    assert_eq!(executions(&http, &permid(&big)).len(), 2, "a partial fill, then the rest");
    wait_until("the position", Duration::from_secs(10), || http.ok("query_positions", &json!({}))[ACCOUNT]["IBM"] == 1095);

    // a limit buy below 1.00 rests; cancelled
    let rest = http.ok("limit_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "IBM", "quantity": 10, "limit_price": 0.5}));
    http.wait_order(&permid(&rest), &["Pending"]);
    http.ok("cancel_order", &json!({"id": permid(&rest)}));
    http.wait_order(&permid(&rest), &["Cancelled"]);

    // a cancel of a filled order is refused by the exchange ("too late"); the order stays filled
    http.ok("cancel_order", &json!({"id": permid(&l)}));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(http.ok("query_order", &json!({"id": permid(&l)}))["status"], "Filled");

    // the exchange's business reject of symbol REJECT arrives as the order's error with its text
    let r = http.ok("market_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "REJECT", "quantity": 10}));
    let rejected = http.wait_order(&permid(&r), &["Error"]);
    assert!(rejected.to_string().to_lowercase().contains("reject"), "{rejected}");
}
