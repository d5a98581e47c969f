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
    trade_on_the_exchange(&peer, "FIX.4.4");
}

#[test]
fn orders_through_the_exchange_in_fix42_come_out_the_same() {
    let peer = FixPeer::start(FixPeerKind::Exchange);
    trade_on_the_exchange(&peer, "FIX.4.2");
}

/// The exchange's whole repertoire through the gateway, in one dialect.
fn trade_on_the_exchange(peer: &FixPeer, begin: &str) {
    let (_d, http) = start(&format!("fix-exchange-{}", &begin[4..].replace('.', "")), peer, begin, &[]);
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

    // a limit buy below 1.00 rests; changed (OrderCancelReplaceRequest), still resting; cancelled
    let rest = http.ok("limit_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "IBM", "quantity": 10, "limit_price": 0.5}));
    http.wait_order(&permid(&rest), &["Pending"]);
    assert_eq!(http.ok("modify_order", &json!({"id": permid(&rest), "quantity": 20, "limit_price": 0.6})), json!({"msg": "OnOtherAck", "status": "1"}));
    wait_until("the replace", Duration::from_secs(10), || status(&http, &permid(&rest))["quantity"] == 20);
    assert_eq!(status(&http, &permid(&rest))["status"], "Pending");
    http.ok("cancel_order", &json!({"id": permid(&rest)}));
    http.wait_order(&permid(&rest), &["Cancelled"]);

    // a stop order rests at the exchange until cancelled; a stop-limit (OrdType 4 with Price
    // and StopPx, which the exchange's data dictionary checks) trades at its 100.00
    let stop = http.ok("stop_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "IBM", "quantity": 10, "stop_price": 250.0}));
    http.wait_order(&permid(&stop), &["Pending"]);
    http.ok("cancel_order", &json!({"id": permid(&stop)}));
    http.wait_order(&permid(&stop), &["Cancelled"]);
    let stop_limit = http.ok("stoplimit_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "IBM", "quantity": -10, "stop_price": 150.0, "limit_price": 149.5}));
    http.wait_order(&permid(&stop_limit), &["Filled"]);

    // changed to a price that no longer rests, an order fills on its new terms
    let moved = http.ok("limit_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "IBM", "quantity": 10, "limit_price": 0.5}));
    http.wait_order(&permid(&moved), &["Pending"]);
    http.ok("modify_order", &json!({"id": permid(&moved), "quantity": 30, "limit_price": 189.5}));
    let done = http.wait_order(&permid(&moved), &["Filled"]);
    assert_eq!(done["filled"], 30, "{done}");
    let e = executions(&http, &permid(&moved));
    assert_eq!((e.len(), e[0]["PRICE"].as_f64()), (1, Some(189.5)), "{e:?}");

    // a cancel of a filled order is answered by the gateway itself; nothing goes to the
    // exchange (its OrderCancelReject for a cancel that races a fill: fix_session.rs)
    let late = http.ok("cancel_order", &json!({"id": permid(&l)}));
    assert_eq!(late["errorMsg"], "Order not live (Filled).", "{late}");

    // the exchange's business reject of symbol REJECT arrives as the order's error with its text
    let r = http.ok("market_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "REJECT", "quantity": 10}));
    let rejected = http.wait_order(&permid(&r), &["Error"]);
    assert!(rejected.to_string().to_lowercase().contains("reject"), "{rejected}");
}

/// Which statuses an order has reached, as the gateway shows it.
fn status(http: &Http, id: &str) -> Value {
    http.ok("query_order", &json!({"id": id}))
}

#[test]
fn the_cpp_executor_fills_limits_and_its_rejects_reach_the_order_with_their_text_in_42_and_44() {
    let peer = FixPeer::start(FixPeerKind::Executor);
    for begin in ["FIX.4.2", "FIX.4.4"] {
        let name = format!("fix-executor-{}", &begin[4..].replace('.', ""));
        let (_d, http) = start(&name, &peer, begin, &[("TXTRADER_FIX_RESET", "always")]);
        let l = http.ok("limit_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "IBM", "quantity": 38, "limit_price": 44.25}));
        let filled = http.wait_order(&permid(&l), &["Filled"]);
        assert_eq!(filled["filled"], 38, "{begin}: {filled}");
        let e = executions(&http, &permid(&l));
        assert_eq!((e.len(), e[0]["PRICE"].as_f64()), (1, Some(44.25)), "{begin}: {e:?}");
        // the executor refuses market orders at session level (Reject 373=5 on tag 40)
        let m = http.ok("market_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "IBM", "quantity": 10}));
        let rejected = http.wait_order(&permid(&m), &["Error"]);
        assert!(rejected.to_string().contains("Value is incorrect (out of range) for this tag (tag 40)"), "{begin}: {rejected}");
        // (its BusinessMessageReject of cancels, for a cancel that races a fill: fix_session.rs)
        assert_eq!(status(&http, &permid(&l))["status"], "Filled", "{begin}");
    }
    let out = peer.output();
    assert!(!out.contains("MsgSeqNum too low"), "{out}");
}

#[test]
fn ordermatch_books_a_resting_order_partially_fills_it_and_cancels_the_rest() {
    let peer = FixPeer::start(FixPeerKind::Ordermatch);
    let (_d, http) = start("fix-ordermatch", &peer, "FIX.4.2", &[("TXTRADER_FIX_RESET", "always")]);
    let buy = http.ok("limit_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "IBM", "quantity": 100, "limit_price": 189.30}));
    http.wait_order(&permid(&buy), &["Pending"]);
    // a sell of 40 at 189.00 crosses: both trade at the incoming order's price
    let sell = http.ok("limit_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "IBM", "quantity": -40, "limit_price": 189.00}));
    http.wait_order(&permid(&sell), &["Filled"]);
    wait_until("the partial fill of the buy", Duration::from_secs(10), || status(&http, &permid(&buy))["filled"] == 40);
    let e = executions(&http, &permid(&buy));
    assert_eq!((e.len(), e[0]["PRICE"].as_f64(), e[0]["VOLUME"].as_i64()), (1, Some(189.0), Some(40)), "{e:?}");
    // ordermatch has no cancel/replace: the change is refused with its BusinessMessageReject
    http.ok("modify_order", &json!({"id": permid(&buy), "limit_price": 189.10}));
    wait_until("the refused change", Duration::from_secs(10), || status(&http, &permid(&buy)).to_string().contains("Unsupported Message Type"));
    assert_eq!(status(&http, &permid(&buy))["status"], "Pending");
    http.ok("cancel_order", &json!({"id": permid(&buy)}));
    let cancelled = http.wait_order(&permid(&buy), &["Cancelled"]);
    assert_eq!(cancelled["filled"], 40, "{cancelled}");
    // ordermatch takes only limit orders: a market order comes back rejected with its text
    let m = http.ok("market_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "IBM", "quantity": 10}));
    let rejected = http.wait_order(&permid(&m), &["Error"]);
    assert!(rejected.to_string().contains("Incorrect data format for value"), "{rejected}");
}

#[test]
fn after_kill_9_the_session_resumes_with_its_numbers_and_every_fill_is_booked_once() {
    let peer = FixPeer::start(FixPeerKind::Exchange);
    let data = txtrader_tests::temp_folder("fix-kill9-data");
    let data_env = [("TXTRADER_DATA_DIR", path(&data))];
    let (mut d, http) = start("fix-kill9-a", &peer, "FIX.4.4", &data_env);
    let rest = http.ok("limit_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "IBM", "quantity": 10, "limit_price": 0.5}));
    http.wait_order(&permid(&rest), &["Pending"]);
    // orders in flight when the gateway dies: 1,000 shares fill in two executions each
    let mut placed = Vec::new();
    for _ in 0..12 {
        if let Some((200, v)) = http.try_call("market_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "IBM", "quantity": 1000})) {
            placed.push(permid(&v));
        }
    }
    d.kill9();
    // The process may die between reading a message and recording it: then the store ends
    // before the last reports, and the session must get them again. Cut the store where the
    // reports of the last order begin (after the last message sent: those it cannot lose, they
    // are recorded before they go out).
    let store = data.join("adapters/fix/FIX.4.4-GATEWAY-EXCHANGE/session.store");
    let bytes = std::fs::read(&store).expect("the FIX store");
    let starts = |kind: &[u8]| -> Vec<usize> { bytes.windows(kind.len() + 1).enumerate().filter(|(_, w)| w[0] == b'\n' && &w[1..] == kind).map(|(i, _)| i + 1).collect() };
    let last_sent = *starts(b"O ").last().expect("messages sent");
    let cut = starts(b"I ").into_iter().find(|i| *i > last_sent).expect("reports after the last order");
    std::fs::write(&store, &bytes[..cut]).expect("cut the store");
    let (_d, http) = start("fix-kill9-b", &peer, "FIX.4.4", &data_env);
    for id in &placed {
        let o = http.wait_order(id, &["Filled"]);
        assert_eq!(o["filled"], 1000, "{o}");
        assert_eq!(executions(&http, id).len(), 2, "order {id}: each fill booked once");
    }
    wait_until("the position", Duration::from_secs(10), || http.ok("query_positions", &json!({}))[ACCOUNT]["IBM"] == 1000 * placed.len());
    // the resting order is still known, by the same session, and can be cancelled
    http.ok("cancel_order", &json!({"id": permid(&rest)}));
    http.wait_order(&permid(&rest), &["Cancelled"]);
    let out = peer.output();
    assert_eq!(out.matches("35=A|49=GATEWAY").count(), 2, "two logons, no reset loop: {out}");
    assert!(!out.contains("MsgSeqNum too low"), "the numbers continued: {out}");
    assert!(!out.contains("141=Y"), "no reset: the session went on with its numbers: {out}");
    assert!(out.contains("35=2|49=GATEWAY"), "the lost reports were asked for again: {out}");
    assert!(out.contains("43=Y"), "and resent: {out}");
}

/// The real `txtrader-client` (PyPI) placing orders over FIX: `tests/compat/fix_client_probe.py`.
#[test]
fn the_python_client_trades_over_fix_as_with_any_back_end() {
    let peer = FixPeer::start(FixPeerKind::Exchange);
    let (d, _http) = start("fix-client", &peer, "FIX.4.4", &[]);
    let venv = txtrader_tests::venv();
    let out = std::process::Command::new("timeout")
        .arg("120")
        .arg(venv.join("bin/python"))
        .arg(txtrader_tests::workspace().join("tests/compat/fix_client_probe.py"))
        .env("TXTRADER_HOST", "127.0.0.1")
        .env("TXTRADER_HTTP_PORT", d.http_port.to_string())
        .env("TXTRADER_USERNAME", "txtrader_user")
        .env("TXTRADER_PASSWORD", "change_this_password")
        .env("FIX_ACCOUNT", ACCOUNT)
        .output()
        .expect("the probe runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for step in ["market order filled", "limit order filled at its price", "1,000 shares filled in two executions", "resting order changed, then cancelled", "reject:"] {
        assert!(stdout.contains(step), "{step}: {stdout}");
    }
}

/// A CA the tests trust nowhere else (EC, made now): for the untrusted case.
fn other_ca(dir: &Path) -> PathBuf {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let key = KeyPair::generate().expect("key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "somebody else's CA");
    let p = dir.join("other-ca.pem");
    std::fs::write(&p, ca.self_signed(&key).expect("CA").pem()).expect("write");
    p
}

/// TLS to the acceptor (QuickFIX's SSL acceptor): orders flow over it; a certificate from an
/// authority the settings do not trust keeps the session down with the reason.
#[test]
fn orders_over_tls_and_an_untrusted_acceptor_refused() {
    // QuickFIX's SSL acceptor takes RSA keys only: a test CA and certificate made once
    // (tests/peers/fix/tls/README.md)
    let tls = txtrader_tests::workspace().join("tests/peers/fix/tls");
    let (ca, cert, key) = (tls.join("ca.pem"), tls.join("acceptor.pem"), tls.join("acceptor.key"));
    let ssl = format!("SocketUseSSL=Y\nServerCertificateFile={}\nServerCertificateKeyFile={}\nCertificateVerifyLevel=0", cert.display(), key.display());
    let peer = FixPeer::start_with(FixPeerKind::Exchange, &ssl);
    let (_d, http) = start("fix-tls", &peer, "FIX.4.4", &[("TXTRADER_FIX_TLS", "1"), ("TXTRADER_FIX_TLS_CA_FILE", path(&ca))]);
    let l = http.ok("limit_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "IBM", "quantity": 100, "limit_price": 189.30}));
    let filled = http.wait_order(&permid(&l), &["Filled"]);
    assert_eq!(filled["filled"], 100, "{filled}");

    // trusting another authority: the handshake fails, the link stays down, the log says why
    let other_ca = other_ca(&txtrader_tests::temp_folder("fix-tls-other"));
    let dir = adapter_dir("fix-tls-untrusted");
    let fix = peer.instance_env("fix", "FIX.4.4", ACCOUNT);
    let mut env: Vec<(&str, &str)> = vec![("TXTRADER_ADAPTER_DIR", path(&dir)), ("TXTRADER_MODE", "sim,fix"), ("TXTRADER_FIX_TLS", "1"), ("TXTRADER_FIX_TLS_CA_FILE", path(&other_ca))];
    env.extend(fix.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let d = Daemon::start("fix-tls-untrusted", &env);
    wait_until("the refused handshake in the log", Duration::from_secs(30), || d.log_text().contains("TLS handshake with"));
    let log = d.log_text();
    assert!(log.contains("UnknownIssuer") || log.contains("certificate"), "{log}");
    let http = Http::new(d.http_port);
    assert_eq!(http.adapter("fix")["state"], "starting", "the instance never got its link");
}

/// A new build of the adapter dropped into the folder while orders flow takes the session
/// over: the running generation logs out and lets go of the store, the new one logs on with the
/// numbers continuing (no reset), the gateway holding requests meanwhile. Every order placed
/// around the swap fills once, and a resting order placed before it is cancelled after it.
#[test]
fn a_new_build_takes_the_session_over_with_its_numbers_while_orders_flow() {
    let peer = FixPeer::start(FixPeerKind::Exchange);
    let (d, http) = start("fix-swap", &peer, "FIX.4.4", &[]);
    let dir = PathBuf::from(d.log_text().lines().find_map(|l| l.split("watching the adapter folder dir=").nth(1)).expect("the adapter folder").trim());
    let rest = http.ok("limit_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "IBM", "quantity": 10, "limit_price": 0.5}));
    http.wait_order(&permid(&rest), &["Pending"]);
    let build = txtrader_tests::build_adapter("txtrader-adapter-fix", Some("0.1.0+fix.2"));
    let placed = std::thread::scope(|s| {
        let flow = s.spawn(|| {
            let mut placed = Vec::new();
            let until = std::time::Instant::now() + Duration::from_secs(8);
            while std::time::Instant::now() < until {
                if let Some((200, v)) = http.try_call("market_order", &json!({"account": ACCOUNT, "route": "DEMO", "symbol": "IBM", "quantity": 100})) {
                    if let Some(id) = v["permid"].as_str() {
                        placed.push(id.to_owned());
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            placed
        });
        std::thread::sleep(Duration::from_secs(2));
        std::fs::copy(&build, dir.join("libtxtrader_adapter_fix.so.part")).expect("copy");
        std::fs::rename(dir.join("libtxtrader_adapter_fix.so.part"), dir.join("libtxtrader_adapter_fix.so")).expect("rename");
        http.wait_adapter("fix", Duration::from_secs(60), |a| a["version"] == "0.1.0+fix.2" && a["state"] == "ready");
        flow.join().expect("the order flow")
    });
    assert!(placed.len() > 20, "orders flowed around the swap: {}", placed.len());
    for id in &placed {
        let o = http.wait_order(id, &["Filled"]);
        assert_eq!(executions(&http, id).len(), 1, "order {id} filled once: {o}");
    }
    http.ok("cancel_order", &json!({"id": permid(&rest)}));
    http.wait_order(&permid(&rest), &["Cancelled"]);
    let out = peer.output();
    assert_eq!(out.matches("35=A|49=GATEWAY").count(), 2, "one logon per generation: {out}");
    assert!(!out.contains("141=Y") && !out.contains("MsgSeqNum too low"), "the numbers continued: {out}");
    let log = d.log_text();
    assert!(log.contains("FIX session handed over") && log.contains("FIX session taken over"), "{log}");
}
