//! Nothing lost: the real `txtraderd` journals its books and the simulated exchange keeps its
//! own; a restart (clean or `kill -9`) recovers every order and execution with the same ids,
//! and reconciliation reports what the broker did that the gateway's books do not show.

use serde_json::{json, Map, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use txtrader_tests::{txtraderd, Daemon, Http, StreamRecorder};

const ACCT: &str = "REALTICKDEMO.REALTICK.DEMO32.TRADING";

fn start(name: &str, data: &Path) -> (Daemon, Http) {
    start_with(name, data, &[])
}

fn start_with(name: &str, data: &Path, extra: &[(&str, &str)]) -> (Daemon, Http) {
    txtrader_tests::start_on(name, data, extra)
}

fn stop(mut d: Daemon, http: &Http) {
    http.ok("shutdown", &json!({"message": "journal test"}));
    assert!(d.wait_exit(Duration::from_secs(30)).is_some(), "txtraderd did not stop");
}

/// The books as clients see them, without what legitimately differs across a restart (the
/// instrument facts in `raw`, which come back once the symbol is looked up again).
fn books(http: &Http) -> Value {
    let orders: Map<String, Value> = http
        .ok("query_orders", &json!({}))
        .as_object()
        .expect("orders")
        .iter()
        .map(|(id, o)| {
            let updates: Vec<Value> = o["updates"].as_array().expect("updates").iter().map(|u| u["type"].clone()).collect();
            let keep = json!({
                "permid": o["permid"], "status": o["status"], "quantity": o["quantity"], "filled": o["filled"],
                "symbol": o["symbol"], "account": o["account"], "origin": o["origin"], "updates": updates,
            });
            (id.clone(), keep)
        })
        .collect();
    let executions: Map<String, Value> = http
        .ok("query_executions", &json!({}))
        .as_object()
        .expect("executions")
        .iter()
        .map(|(id, x)| (id.clone(), json!({"order": x["ORIGINAL_ORDER_ID"], "qty": x["VOLUME"], "price": x["PRICE"], "side": x["BUYORSELL"]})))
        .collect();
    json!({"orders": orders, "executions": executions, "positions": http.ok("query_positions", &json!({}))})
}

fn permid(v: &Value) -> String {
    v["permid"].as_str().expect("permid").to_owned()
}

/// Positions must equal the sum of the executions, per account and symbol.
fn assert_positions_are_executions(b: &Value) {
    let mut sums: std::collections::BTreeMap<(String, String), i64> = Default::default();
    let orders = b["orders"].as_object().expect("orders");
    for x in b["executions"].as_object().expect("executions").values() {
        let o = &orders[x["order"].as_str().expect("order id")];
        let q = x["qty"].as_i64().expect("qty");
        let signed = if x["side"] == "Sell" { -q } else { q };
        *sums.entry((o["account"].as_str().expect("a").to_owned(), o["symbol"].as_str().expect("s").to_owned())).or_default() += signed;
    }
    for ((account, symbol), q) in sums {
        assert_eq!(b["positions"][&account][&symbol].as_i64().unwrap_or(0), q, "{account} {symbol}: {b:#}");
    }
}

#[test]
fn books_survive_a_clean_restart_and_a_kill_9_with_the_same_ids() {
    let data = tempfile::tempdir().expect("data");
    let (d, http) = start("journal-restart-a", data.path());
    let filled = http.ok("market_order", &json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 100}));
    let resting = http.ok("limit_order", &json!({"account": ACCT, "route": "DEMO", "symbol": "MSFT", "quantity": 10, "limit_price": 1.05}));
    let cancelled = http.ok("limit_order", &json!({"account": ACCT, "route": "DEMO", "symbol": "AAPL", "quantity": -20, "limit_price": 9999}));
    http.wait_order(&permid(&filled), &["Filled"]);
    http.wait_order(&permid(&resting), &["Pending"]);
    http.wait_order(&permid(&cancelled), &["Pending"]);
    http.ok("cancel_order", &json!({"id": permid(&cancelled)}));
    http.wait_order(&permid(&cancelled), &["Cancelled"]);
    http.ok("set_primary_exchange", &json!({"symbol": "IBM", "exchange": "NYSE"}));
    let before = books(&http);
    assert_eq!(before["orders"].as_object().map(Map::len), Some(3));
    assert_positions_are_executions(&before);
    stop(d, &http);

    // A clean restart: the same books, and the exchange still holds the resting order.
    let (mut d, http) = start("journal-restart-b", data.path());
    let after = books(&http);
    assert_eq!(after, before, "books after a clean restart");
    let exchanges = http.ok("set_primary_exchange", &json!({"symbol": "MSFT", "exchange": "NASDAQ"}));
    assert_eq!(exchanges["IBM"], "NYSE", "the primary exchange set before the restart: {exchanges}");
    assert!(d.log_text().contains("journal: books recovered"), "recovery is logged");
    // The resting order is still live at the exchange: it can be cancelled.
    http.ok("cancel_order", &json!({"id": permid(&resting)}));
    http.wait_order(&permid(&resting), &["Cancelled"]);
    let more = http.ok("market_order", &json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": -40}));
    http.wait_order(&permid(&more), &["Filled"]);
    let before = books(&http);
    assert_positions_are_executions(&before);
    d.kill9();

    // A crash: what any client saw acknowledged is back, exactly once.
    let (d, http) = start("journal-restart-c", data.path());
    let after = books(&http);
    assert_eq!(after, before, "books after kill -9");
    assert_eq!(after["positions"][ACCT]["IBM"], 60);
    // and the gateway keeps trading
    let next = http.ok("market_order", &json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 1}));
    http.wait_order(&permid(&next), &["Filled"]);
    let j = http.ok("query_journal", &json!({}));
    assert!(j["records"].as_u64() > Some(10) && j["bytes"].as_u64() > Some(0), "{j}");
    stop(d, &http);
}

#[test]
fn the_stream_resumes_across_a_restart() {
    let data = tempfile::tempdir().expect("data");
    let (d, http) = start("journal-resume-a", data.path());
    let s = StreamRecorder::connect(d.tcp_port, r#"{"order-notification":1,"execution-notification":1,"sequence":1}"#);
    let o = http.ok("market_order", &json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 10}));
    http.wait_order(&permid(&o), &["Filled"]);
    let first = s.wait_for(Duration::from_secs(10), |l| l.starts_with('@') && l.contains(".order."));
    let seq: u64 = first[1..].split(' ').next().and_then(|n| n.parse().ok()).expect("sequence number");
    s.wait_for(Duration::from_secs(10), |l| l.contains(".execution."));
    let seen: Vec<String> = s.lines().into_iter().filter(|l| l.starts_with('@')).collect();
    drop(s);
    stop(d, &http);

    let (d, http) = start("journal-resume-b", data.path());
    let mut s = StreamRecorder::connect(d.tcp_port, r#"{"order-notification":1,"execution-notification":1,"sequence":1}"#);
    s.send(&format!("resume {}", seq - 1));
    s.wait_for(Duration::from_secs(10), |l| l.starts_with(".resumed:"));
    let replayed: Vec<String> = s.lines().into_iter().filter(|l| l.starts_with('@')).collect();
    // every order and execution push the first session saw is replayed, with its number
    for line in seen.iter().filter(|l| l.contains(".order.") || l.contains(".execution.")) {
        assert!(replayed.contains(line), "{line} replayed after the restart; got {replayed:#?}");
    }
    // and numbering continues above them
    let o = http.ok("market_order", &json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 1}));
    http.wait_order(&permid(&o), &["Filled"]);
    let live = s.wait_for(Duration::from_secs(10), |l| l.starts_with('@') && l.contains(&permid(&o)));
    let live_seq: u64 = live[1..].split(' ').next().and_then(|n| n.parse().ok()).expect("seq");
    assert!(live_seq > seq, "{live_seq} after {seq}");
    stop(d, &http);
}

#[test]
fn a_damaged_journal_stops_the_start_and_the_operator_truncates_it() {
    let data = tempfile::tempdir().expect("data");
    let (d, http) = start("journal-damaged-a", data.path());
    let o = http.ok("market_order", &json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 10}));
    http.wait_order(&permid(&o), &["Filled"]);
    stop(d, &http);
    let db = data.path().join("journal.sqlite");
    let conn = rusqlite::Connection::open(&db).expect("open");
    assert_eq!(conn.execute("UPDATE records SET crc = crc + 1 WHERE seq = 3", []).expect("damage"), 1);
    drop(conn);
    let mut d = Daemon::start_expecting_exit("journal-damaged-b", &[("TXTRADER_DATA_DIR", data.path().to_str().expect("utf-8"))]);
    let status = d.wait_exit(Duration::from_secs(30)).expect("it stops by itself");
    assert!(!status.success());
    let log = d.log_text();
    assert!(log.contains("record 3 is damaged (checksum mismatch)") && log.contains("txtraderd journal truncate 3"), "{log}");

    let out = std::process::Command::new(txtraderd())
        .args(["journal", "truncate", "3"])
        .env("TXTRADER_DATA_DIR", data.path())
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("dropped"), "{}", String::from_utf8_lossy(&out.stdout));
    let (d, http) = start("journal-damaged-c", data.path());
    assert!(d.log_text().contains("books recovered") || d.log_text().contains("starting fresh"));
    stop(d, &http);
}

#[test]
fn reconciliation_reports_what_the_broker_did_that_the_books_do_not_show() {
    let data = tempfile::tempdir().expect("data");
    let (d, http) = start("journal-recon-a", data.path());
    let l1 = permid(&http.ok("limit_order", &json!({"account": ACCT, "route": "DEMO", "symbol": "MSFT", "quantity": 10, "limit_price": 1.05})));
    let l2 = permid(&http.ok("limit_order", &json!({"account": ACCT, "route": "DEMO", "symbol": "AAPL", "quantity": 5, "limit_price": 1.05})));
    http.wait_order(&l1, &["Pending"]);
    http.wait_order(&l2, &["Pending"]);
    stop(d, &http);

    // While our gateway is down, the broker moves on: another gateway with its own journal
    // trades the same exchange (its sim instance keeps its book in our adapter folder), cancels
    // one of our orders and fills a new one of its own.
    let other = tempfile::tempdir().expect("other gateway's data");
    std::os::unix::fs::symlink(data.path().join("adapters"), other.path().join("adapters")).expect("same exchange");
    let (d, http) = start("journal-recon-b", other.path());
    http.wait_order(&l1, &["Pending"]);
    http.ok("cancel_order", &json!({"id": l1}));
    http.wait_order(&l1, &["Cancelled"]);
    let m = permid(&http.ok("market_order", &json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 100})));
    http.wait_order(&m, &["Filled"]);
    stop(d, &http);

    let (d, http) = start("journal-recon-c", data.path());
    let b = books(&http);
    assert_eq!(b["orders"][&l1]["status"], "Cancelled", "{b:#}");
    assert_eq!(b["orders"][&l2]["status"], "Pending", "untouched: {b:#}");
    assert_eq!(b["orders"][&m]["status"], "Filled", "{b:#}");
    assert_eq!(b["orders"][&m]["origin"], "realtick", "first seen at the broker (the original's name for it): {b:#}");
    assert_eq!(b["positions"][ACCT]["IBM"], 100);
    assert_eq!(b["executions"].as_object().map(Map::len), Some(1), "{b:#}");
    assert_positions_are_executions(&b);
    // Every correction is in the log and on the stream (reachable with resume).
    let log = d.log_text();
    assert!(log.contains("reconciliation: order was Working with 0 filled; the broker says Cancelled"), "{log}");
    assert!(log.contains("reconciliation: order first seen at the broker, Filled"), "{log}");
    assert!(log.contains("reconciliation: execution first seen at the broker"), "{log}");
    // The books answer as soon as the core booked the corrections; their events are published
    // (and so resumable) once the journal has them on disk: ask again until then.
    let deadline = Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let mut s = StreamRecorder::connect(d.tcp_port, r#"{"order-notification":1,"execution-notification":1,"sequence":1}"#);
        s.send("resume 0");
        s.wait_for(Duration::from_secs(10), |l| l.starts_with(".resumed:"));
        // what the resume replayed: the lines up to its summary, not live ones after it
        let mut lines = s.lines();
        lines.truncate(lines.iter().position(|l| l.starts_with(".resumed:")).map_or(lines.len(), |i| i + 1));
        let replayed = lines.iter().any(|l| l.contains(&l1) && l.contains("Cancelled")) && lines.iter().any(|l| l.contains(".execution."));
        if replayed || Instant::now() >= deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(lines.iter().any(|l| l.contains(&l1) && l.contains("Cancelled")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains(".execution.")), "{lines:#?}");
    stop(d, &http);
}

/// The journal with everything after the first `submitted` record of `order` dropped, as if
/// the gateway crashed right after writing it.
fn cut_after_submit(data: &Path) {
    let conn = rusqlite::Connection::open(data.join("journal.sqlite")).expect("open");
    let seq: i64 = conn
        .query_row("SELECT seq FROM records WHERE kind = 'submitted' ORDER BY seq DESC LIMIT 1", [], |r| r.get(0))
        .expect("a submitted record");
    drop(conn);
    let out = std::process::Command::new(txtraderd())
        .args(["journal", "truncate", &(seq + 1).to_string()])
        .env("TXTRADER_DATA_DIR", data)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn an_order_in_doubt_after_a_crash_is_found_at_the_broker_or_rejected_after_retries() {
    for broker_has_it in [true, false] {
        let data = tempfile::tempdir().expect("data");
        let (d, http) = start("journal-doubt-a", data.path());
        let o = http.ok("limit_order", &json!({"account": ACCT, "route": "DEMO", "symbol": "MSFT", "quantity": 10, "limit_price": 1.05}));
        let broker_id = permid(&o);
        http.wait_order(&broker_id, &["Pending"]);
        stop(d, &http);
        cut_after_submit(data.path());
        if !broker_has_it {
            std::fs::remove_file(data.path().join("adapters/sim/exchange.sqlite")).expect("the exchange's own file");
            for aside in ["exchange.sqlite-wal", "exchange.sqlite-shm"] {
                let _ = std::fs::remove_file(data.path().join("adapters/sim").join(aside));
            }
        }
        let (d, http) = start("journal-doubt-b", data.path());
        let orders = http.ok("query_orders", &json!({}));
        if broker_has_it {
            // matched by the gateway's id: acknowledged, with the broker's id, still working
            assert_eq!(orders[&broker_id]["status"], "Pending", "{orders:#}");
        } else {
            let (id, order) = orders.as_object().and_then(|m| m.iter().next()).expect("the order in doubt");
            assert_ne!(id, &broker_id);
            assert_eq!(order["status"], "Initialized", "in doubt until the broker is asked again: {order}");
            let id = id.clone();
            let rejected = http.wait_order(&id, &["Error"]);
            assert!(rejected["raw"]["REASON"].as_str().unwrap_or("").contains("unknown to the broker after 3 checks"), "{rejected}");
        }
        stop(d, &http);
    }
}

/// What the clients saw acknowledged: orders by id with the last status an answer showed,
/// and executions by id with their order.
#[derive(Default)]
struct Seen {
    orders: std::collections::BTreeMap<String, String>,
    executions: std::collections::BTreeMap<String, String>,
}

/// One client: places market and limit orders and cancels its resting ones, recording every
/// answer, until the gateway stops answering.
fn trade(port: u16, client: u64, seed: u64, seen: &std::sync::Mutex<Seen>) {
    let http = Http::new(port);
    let mut rng = seed ^ (client << 32) | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut resting: Vec<String> = Vec::new();
    loop {
        let pick = next() % 10;
        let (command, args) = match pick {
            0..=4 => {
                let symbol = ["IBM", "MSFT"][usize::from(pick % 2 == 0)];
                let quantity = if next() % 2 == 0 { 10 } else { -10 };
                ("market_order", json!({"account": ACCT, "route": "DEMO", "symbol": symbol, "quantity": quantity}))
            }
            5..=7 => ("limit_order", json!({"account": ACCT, "route": "DEMO", "symbol": "AAPL", "quantity": 5, "limit_price": 1.05})),
            _ => match resting.pop() {
                Some(id) => ("cancel_order", json!({"id": id})),
                None => ("query_executions", json!({})),
            },
        };
        let Some((status, body)) = http.try_call(command, &args) else { return };
        if status != 200 {
            continue;
        }
        let mut seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match command {
            "market_order" | "limit_order" => {
                let (Some(id), Some(st)) = (body["permid"].as_str(), body["status"].as_str()) else { continue };
                seen.orders.insert(id.to_owned(), st.to_owned());
                if command == "limit_order" {
                    resting.push(id.to_owned());
                }
            }
            "query_executions" => {
                for (id, x) in body.as_object().into_iter().flatten() {
                    seen.executions.insert(id.clone(), x["ORIGINAL_ORDER_ID"].as_str().unwrap_or("").to_owned());
                }
            }
            _ => {}
        }
    }
}

/// Every order and execution a client saw acknowledged is on the books exactly once, in a
/// state at least as far along as the client saw; positions are the sum of the executions.
fn check(http: &Http, seen: &Seen, round: usize) {
    let all = http.ok("query_orders", &json!({}));
    let orders = all.as_object().expect("orders");
    let mut by_client_id: std::collections::BTreeMap<&str, usize> = Default::default();
    for o in orders.values() {
        *by_client_id.entry(o["raw"]["CLIENT_ORDER_ID"].as_str().unwrap_or("")).or_default() += 1;
    }
    assert!(by_client_id.values().all(|n| *n == 1), "round {round}: an order booked twice: {by_client_id:?}");
    for (id, status) in &seen.orders {
        let o = orders.get(id).unwrap_or_else(|| panic!("round {round}: acknowledged order {id} lost"));
        let now = o["status"].as_str().unwrap_or("");
        let terminal = ["Filled", "Cancelled", "Error"];
        assert!(!terminal.contains(&status.as_str()) || now == status, "round {round}: {id} was {status}, now {now}");
        assert_ne!(now, "Initialized", "round {round}: acknowledged order {id} not acknowledged any more");
    }
    let executions = http.ok("query_executions", &json!({}));
    for (id, order) in &seen.executions {
        let x = executions.get(id).unwrap_or_else(|| panic!("round {round}: execution {id} lost"));
        assert_eq!(x["ORIGINAL_ORDER_ID"].as_str(), Some(order.as_str()), "round {round}: execution {id} moved");
    }
    assert_positions_are_executions(&books(http));
}

#[test]
fn kill_9_at_random_moments_loses_no_acknowledged_order_or_execution() {
    let rounds: usize = std::env::var("TXTRADER_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(12);
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1;
    println!("crash loop: {rounds} rounds, seed {seed}");
    let data = tempfile::tempdir().expect("data");
    let seen = std::sync::Mutex::new(Seen::default());
    let mut rng = seed;
    for round in 0..rounds {
        // compacting every few hundred records, so some kills land in a rotation
        let (mut d, http) = start_with("journal-crash", data.path(), &[("TXTRADER_JOURNAL_COMPACT_RECORDS", "300")]);
        check(&http, &seen.lock().expect("seen"), round);
        let port = d.http_port;
        std::thread::scope(|s| {
            for client in 0..3 {
                let seen = &seen;
                s.spawn(move || trade(port, client, seed.wrapping_add(round as u64), seen));
            }
            rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            std::thread::sleep(Duration::from_millis(150 + (rng >> 33) % 1200));
            d.kill9();
        });
    }
    let (d, http) = start("journal-crash-final", data.path());
    let seen = seen.into_inner().expect("seen");
    check(&http, &seen, rounds);
    assert!(seen.orders.len() > rounds * 3, "the clients traded: {} orders acknowledged", seen.orders.len());
    let j = http.ok("query_journal", &json!({}));
    assert!(j["archive_files"].as_u64() > Some(0), "the journal was compacted meanwhile: {j}");
    println!("crash loop: {} orders and {} executions acknowledged, all recovered", seen.orders.len(), seen.executions.len());
    stop(d, &http);
}

fn execution_count(http: &Http) -> usize {
    http.ok("query_executions", &json!({})).as_object().map_or(0, Map::len)
}

#[test]
fn compaction_archives_old_closed_orders_and_the_compacted_books_survive_a_crash() {
    let data = tempfile::tempdir().expect("data");
    let env = [("TXTRADER_JOURNAL_ARCHIVE_AFTER", "10"), ("TXTRADER_JOURNAL_COMPACT_EVERY", "0")];
    let (d, http) = start_with("journal-compact-a", data.path(), &env);
    let old_fill = permid(&http.ok("market_order", &json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 100})));
    let old_cancel = permid(&http.ok("limit_order", &json!({"account": ACCT, "route": "DEMO", "symbol": "AAPL", "quantity": 5, "limit_price": 1.05})));
    let resting = permid(&http.ok("limit_order", &json!({"account": ACCT, "route": "DEMO", "symbol": "MSFT", "quantity": 10, "limit_price": 1.05})));
    http.wait_order(&old_fill, &["Filled"]);
    http.wait_order(&old_cancel, &["Pending"]);
    http.wait_order(&resting, &["Pending"]);
    http.ok("cancel_order", &json!({"id": old_cancel}));
    http.wait_order(&old_cancel, &["Cancelled"]);

    // Too young to archive (10 s, room for a loaded machine): the books stay whole, but the
    // journal starts a new file.
    let records_before = http.ok("query_journal", &json!({}))["records"].as_u64().expect("records");
    let first = http.ok("compact_journal", &json!({}));
    assert_eq!((first["archived_orders"].as_u64(), first["reason"].as_str()), (Some(0), Some("command")), "{first}");
    assert_eq!(http.ok("query_orders", &json!({})).as_object().map(Map::len), Some(3));
    let j = http.ok("query_journal", &json!({}));
    assert_eq!(j["last_compaction"]["checkpoint"], first["checkpoint"], "{j}");
    assert_eq!((j["first"].clone(), j["archive_files"].as_u64()), (first["checkpoint"].clone(), Some(1)), "{j}");
    assert!(j["records"].as_u64() < Some(records_before), "{j} after {records_before} records");

    // Past the age limit: the closed orders leave the books; the open one and a fresh fill stay.
    std::thread::sleep(Duration::from_millis(10_500));
    let fresh = permid(&http.ok("market_order", &json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": -30})));
    http.wait_order(&fresh, &["Filled"]);
    let positions = http.ok("query_positions", &json!({}));
    assert_eq!(positions[ACCT]["IBM"], 70);
    let second = http.ok("compact_journal", &json!({}));
    assert_eq!(second["archived_orders"].as_u64(), Some(2), "{second}");
    let b = books(&http);
    let ids: Vec<&String> = b["orders"].as_object().expect("orders").keys().collect();
    assert_eq!(ids.len(), 2, "{b:#}");
    assert!(ids.contains(&&resting) && ids.contains(&&fresh), "{b:#}");
    assert_eq!(execution_count(&http), 1, "only the fresh order's execution stays: {b:#}");
    assert_eq!(b["positions"], positions, "positions do not move when orders are archived");
    let (status, answer) = http.try_call("query_order", &json!({"id": old_fill})).expect("answers");
    assert!(status != 200 || answer.get("status").is_none_or(|s| s == "Error"), "{answer}");
    assert_eq!(http.ok("query_journal", &json!({}))["archive_files"], 2);
    // the archived records are in the archive, readable
    let archived: usize = std::fs::read_dir(data.path().join("archive"))
        .expect("archive folder")
        .filter_map(Result::ok)
        .map(|f| {
            let conn = rusqlite::Connection::open(f.path()).expect("archive file opens");
            conn.query_row("SELECT count(*) FROM records WHERE kind = 'submitted'", [], |r| r.get::<_, i64>(0)).expect("count") as usize
        })
        .sum();
    assert_eq!(archived, 4, "every order's submission is in the archive");

    // A crash, and the exchange still reports the archived orders: nothing comes back.
    let mut d = d;
    d.kill9();
    let (d, http) = start_with("journal-compact-b", data.path(), &env);
    let after = books(&http);
    assert_eq!(after, b, "the compacted books after kill -9");
    let log = d.log_text();
    assert!(!log.contains("first seen at the broker"), "archived orders are not news to reconciliation: {log}");
    assert_eq!(http.ok("query_journal", &json!({}))["last_compaction"]["archived_orders"], 2);
    // the stream still resumes across it: the fresh order's pushes come back
    let mut s = StreamRecorder::connect(d.tcp_port, r#"{"order-notification":1,"execution-notification":1,"sequence":1}"#);
    s.send("resume 0");
    s.wait_for(Duration::from_secs(10), |l| l.starts_with(".resumed:"));
    assert!(s.lines().iter().any(|l| l.contains(&fresh) && l.contains(".execution.")), "{:#?}", s.lines());
    // and the resting order still trades
    http.ok("cancel_order", &json!({"id": resting}));
    http.wait_order(&resting, &["Cancelled"]);
    stop(d, &http);
}
