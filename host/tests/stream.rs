//! The netstring stream on a real socket: many sessions, slow sessions, bad input, resume.

use futures_util::{SinkExt, StreamExt};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;
use tokio_util::codec::{FramedRead, FramedWrite};
use txtrader_host::config::Config;
use txtrader_host::gateway::{Gateway, NewOrder};
use txtrader_host::stream::codec::NetstringCodec;
use txtrader_host::Running;
use txtrader_plugin_api::model::{
    AccountId, ConnectionStatus, OrderClass, OrderOrigin, OrderStatus, OrderType, Quantity, Side, Symbol, TimeInForce,
};

const AUTH: &str = "auth txtrader_user change_this_password";
const ACCT: &str = "REALTICKDEMO.REALTICK.DEMO32.TRADING";

async fn gateway(extra: &[(&str, &str)]) -> Running {
    let mut env: BTreeMap<String, String> = [
        ("TXTRADER_HTTP_PORT", "0"),
        ("TXTRADER_TCP_PORT", "0"),
        ("TXTRADER_LOG_HTTP_REQUESTS", "0"),
        ("TXTRADER_LOG_HTTP_RESPONSES", "0"),
        ("TXTRADER_LOG_ORDER_UPDATES", "0"),
        ("TXTRADER_LOG_EXECUTION_UPDATES", "0"),
        ("TXTRADER_ENABLE_AUTO_RESET", "0"),
        // the journal is the daemon tests' business (tests/tests/journal.rs)
        ("TXTRADER_JOURNAL", "0"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let config = Config::from_map(&env, "box").expect("config");
    let running = txtrader_host::start(&config).await.expect("start");
    timeout(Duration::from_secs(10), running.gateway.wait_status(|s| s == ConnectionStatus::Up)).await.expect("up");
    running
}

struct Client {
    r: FramedRead<OwnedReadHalf, NetstringCodec>,
    w: FramedWrite<OwnedWriteHalf, NetstringCodec>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Self {
        Self::from_stream(TcpStream::connect(addr).await.expect("connect")).await
    }

    async fn from_stream(s: TcpStream) -> Self {
        let (r, w) = s.into_split();
        let mut c = Self { r: FramedRead::new(r, NetstringCodec::new(1 << 24)), w: FramedWrite::new(w, NetstringCodec::new(1 << 24)) };
        let greeting = c.recv().await.expect("greeting");
        assert!(greeting.starts_with(".connected: RTX Gateway "), "{greeting}");
        c
    }

    async fn send(&mut self, line: &str) {
        self.w.send(line).await.expect("send");
    }

    /// The next message, or `None` when the server closed the connection.
    async fn recv(&mut self) -> Option<String> {
        match timeout(Duration::from_secs(20), self.r.next()).await.expect("a message within 20 s") {
            Some(Ok(s)) => Some(s),
            Some(Err(e)) => panic!("bad frame from server: {e}"),
            None => None,
        }
    }

    async fn expect(&mut self, pred: impl Fn(&str) -> bool) -> String {
        loop {
            let m = self.recv().await.expect("connection open");
            if pred(&m) {
                return m;
            }
        }
    }

    async fn auth(&mut self, options: &str) {
        self.send(&format!("{AUTH} {options}")).await;
        assert_eq!(self.recv().await.as_deref(), Some(".Authorized rtx"));
    }
}

fn order(symbol: &str, qty: i64) -> NewOrder {
    NewOrder {
        account: AccountId::new(ACCT).expect("acct"),
        symbol: Symbol::new(symbol).expect("sym"),
        side: Side::from_signed(qty),
        quantity: Quantity::from_u64(qty.unsigned_abs()),
        order_type: OrderType::Market,
        time_in_force: TimeInForce::Day,
        route: None,
        sets_default_route: false,
        staged_tag: None,
        origin: OrderOrigin::Client,
        user: None,
        client_order_id: None,
        intended_duplicate: false,
    }
}

/// Places orders and waits until all are final.
async fn burst(g: &Gateway, orders: Vec<NewOrder>) {
    let mut tasks = Vec::new();
    for o in orders {
        let g = g.clone();
        tasks.push(tokio::spawn(async move { g.submit(o).await.expect("accepted") }));
    }
    for t in tasks {
        t.await.expect("submitted");
    }
    for _ in 0..200 {
        let open = g.orders(OrderClass::Order).await.expect("orders").iter().filter(|v| v.order.status.is_open()).count();
        if open == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("orders never completed");
}

/// Order and execution pushes the gateway published: one per order update, one per execution.
async fn published(g: &Gateway) -> usize {
    let orders = g.orders(OrderClass::Order).await.expect("orders");
    let execs = g.executions(txtrader_host::gateway::ExecFilter::All).await.expect("execs");
    orders.iter().map(|v| v.order.history.len()).sum::<usize>() + execs.len()
}

/// `@seq line` → (seq, line).
fn split_seq(m: &str) -> Option<(u64, String)> {
    let rest = m.strip_prefix('@')?;
    let (seq, line) = rest.split_once(' ')?;
    Some((seq.parse().ok()?, line.to_owned()))
}

fn is_order_push(line: &str) -> bool {
    line.starts_with("rtx.order.") || line.starts_with("rtx.execution.")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_sessions_see_every_order_event_once_and_in_order() {
    let gw = gateway(&[("TXTRADER_SIM_TICK_MS", "200")]).await;
    let mut clients = Vec::new();
    for _ in 0..100 {
        let mut c = Client::connect(gw.tcp_addr).await;
        c.auth(r#"{"order-notification": 1, "execution-notification": 1, "sequence": true}"#).await;
        clients.push(c);
    }
    let mut orders: Vec<NewOrder> = (0..25).map(|i| order(["IBM", "MSFT", "AAPL"][i % 3], if i % 2 == 0 { 100 } else { -100 })).collect();
    orders.extend((0..5).map(|_| order("TSLA", 1000)));
    burst(&gw.gateway, orders).await;
    let total = published(&gw.gateway).await;
    assert!(total > 120, "{total}");

    let mut reference: Option<Vec<(u64, String)>> = None;
    for c in &mut clients {
        let mut got = Vec::new();
        while got.len() < total {
            let m = c.recv().await.expect("open");
            if let Some((seq, line)) = split_seq(&m).filter(|(_, l)| is_order_push(l)) {
                got.push((seq, line));
            }
        }
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "strictly increasing sequence numbers: each event once, in order");
        // per order, pushes follow its transitions
        let mut per_order: HashMap<String, Vec<String>> = HashMap::new();
        for (_, l) in got.iter().filter(|(_, l)| l.starts_with("rtx.order.")) {
            let mut w = l.split(' ');
            let id = w.next().unwrap_or_default().to_owned();
            per_order.entry(id).or_default().push(w.next_back().unwrap_or_default().to_owned());
        }
        for statuses in per_order.values() {
            assert_eq!(statuses.first().map(String::as_str), Some("Submitted"), "{statuses:?}");
            assert_eq!(statuses.last().map(String::as_str), Some("Filled"), "{statuses:?}");
        }
        match &reference {
            None => reference = Some(got),
            Some(r) => assert_eq!(r, &got, "every client sees the same events in the same order"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_stops_reading_gets_an_exact_gap_notice() {
    let gw = gateway(&[("TXTRADER_SIM_TICK_MS", "200")]).await;
    // The slow client asks for order-data: ~10 MB over the burst, more than twice what its queue
    // and the kernel's socket buffers (4 MiB send buffer here) can hold. The reading client asks
    // only for notifications, so it keeps up even in a debug build.
    let opts = r#"{"order-notification":1,"order-data":1,"execution-notification":1,"execution-data":1,"sequence":1,"queue":16}"#;
    let light = r#"{"order-notification":1,"execution-notification":1,"sequence":1}"#;
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let mut slow = Client::from_stream(socket.connect(gw.tcp_addr).await.expect("connect")).await;
    slow.auth(opts).await;
    let mut fast = Client::connect(gw.tcp_addr).await;
    fast.auth(light).await;

    // The fast client reads in its own task; the slow one reads nothing while hundreds of orders
    // (megabytes of order-data) happen.
    let reader = tokio::spawn(async move {
        let mut seqs = BTreeSet::new();
        let mut gaps = 0;
        while let Some(m) = fast.recv().await {
            gaps += usize::from(m.contains("STREAM gap"));
            if let Some((seq, _)) = split_seq(&m).filter(|(_, l)| is_order_push(l)) {
                seqs.insert(seq);
            }
            if seqs.len() >= 4800 {
                break;
            }
        }
        (seqs, gaps)
    });
    burst(&gw.gateway, (0..1200).map(|i| order(["IBM", "MSFT"][i % 2], if i % 2 == 0 { 10 } else { -10 })).collect()).await;
    // The gateway was never held up: every order completed while the slow client slept.
    let filled = gw.gateway.orders(OrderClass::Order).await.expect("orders").iter().filter(|v| v.order.status == OrderStatus::Filled).count();
    assert_eq!(filled, 1200);
    let total = published(&gw.gateway).await;
    assert_eq!(total, 4800, "1200 orders x (3 updates: acknowledged, accepted, filled + 1 execution)");
    let (fast_seqs, fast_gaps) = timeout(Duration::from_secs(30), reader).await.expect("fast client keeps up").expect("reader");
    assert_eq!(fast_seqs.len(), total, "the reading client received every order event");
    assert_eq!(fast_gaps, 0);

    // Now the slow client reads: what it received plus what its gap notices name is everything.
    let last = *fast_seqs.iter().next_back().expect("some");
    let (mut delivered, mut missing) = (BTreeSet::new(), BTreeSet::new());
    let mut gaps = 0;
    while !delivered.contains(&last) && !missing.contains(&last) {
        let m = slow.recv().await.expect("open");
        // gap notices are not gateway events: they carry no sequence number of their own
        if let Some(rest) = m.strip_prefix("rtx.error: STREAM gap: ") {
            // "N events missed (seq A-B)"
            let range = rest.split("(seq ").nth(1).and_then(|r| r.strip_suffix(')')).expect("range");
            let (a, b) = range.split_once('-').expect("a-b");
            let (a, b): (u64, u64) = (a.parse().expect("a"), b.parse().expect("b"));
            assert!(delivered.range(a..=b).next().is_none(), "a gap never covers what was delivered");
            missing.extend(a..=b);
            gaps += 1;
            continue;
        }
        let Some((seq, line)) = split_seq(&m) else { continue };
        if is_order_push(&line) {
            assert!(!missing.contains(&seq), "seq {seq} reported missing, then delivered");
            assert!(delivered.insert(seq), "seq {seq} delivered twice");
        }
    }
    assert!(gaps >= 1, "the slow client was told it missed events");
    assert!(!delivered.is_empty(), "it got what fitted in its queue");
    for s in &fast_seqs {
        assert!(delivered.contains(s) || missing.contains(s), "seq {s} neither delivered nor reported missing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_in_one_session_harms_no_one() {
    let gw = gateway(&[("TXTRADER_STREAM_MAX_FRAME", "1024")]).await;
    let mut good = Client::connect(gw.tcp_addr).await;
    good.auth(r#"{"order-notification":1}"#).await;

    let ns = |s: &str| format!("{}:{s},", s.len()).into_bytes();
    let raw = |bytes: Vec<u8>| {
        let addr = gw.tcp_addr;
        async move {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            tokio::io::AsyncWriteExt::write_all(&mut s, &bytes).await.expect("write");
            let mut c = Client::from_stream(s).await;
            let mut msgs = Vec::new();
            while let Some(m) = c.recv().await {
                msgs.push(m);
            }
            msgs
        }
    };
    assert_eq!(raw(b"hello world".to_vec()).await, [".error: invalid netstring length prefix"]);
    assert_eq!(raw(b"999999:".to_vec()).await, [".error: netstring of 999999 bytes exceeds the limit of 1024 bytes"]);
    assert_eq!(raw(b"2:\xff\xfe,".to_vec()).await, [".error: netstring payload is not UTF-8 text"]);
    assert_eq!(raw(ns("quit")).await, Vec::<String>::new());
    // unauthorized and wrongly authorized sessions are closed
    assert_eq!(raw(ns("orders")).await, [".Authorization required!"]);
    assert_eq!(raw(ns("auth txtrader_user nope {}")).await, [".Authorization required!"]);
    let mut bad_json = ns("auth x y {");
    bad_json.extend(ns("quit"));
    assert_eq!(raw(bad_json).await, [".error: ValueError('Expected object or value')"], "an error, then the session goes on");
    // abrupt disconnects mid-frame
    for _ in 0..5 {
        let mut s = TcpStream::connect(gw.tcp_addr).await.expect("connect");
        tokio::io::AsyncWriteExt::write_all(&mut s, b"50:auth txtr").await.expect("write");
        drop(s);
    }
    // the good session is unaffected: commands work and pushes arrive
    good.send("status").await;
    assert_eq!(good.expect(|m| m.starts_with(".status")).await, ".status: Up");
    good.send("help").await;
    assert!(good.expect(|m| m.starts_with(".commands:")).await.contains("'resume'"));
    good.send("AUTH x").await;
    assert_eq!(good.expect(|m| m.starts_with('.')).await, ".what?");
    good.send("marketorder only two").await;
    assert!(good.expect(|m| m.starts_with(".error:")).await.contains("expected 4 arguments"));
    gw.gateway.submit(order("IBM", 10)).await.expect("order");
    assert!(good.expect(|m| m.starts_with("rtx.order.")).await.ends_with("Submitted"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_reconnect_recovers_every_missed_event() {
    let gw = gateway(&[]).await;
    let opts = r#"{"order-notification":1,"execution-notification":1,"sequence":true}"#;
    let mut witness = Client::connect(gw.tcp_addr).await;
    witness.auth(opts).await;
    let mut client = Client::connect(gw.tcp_addr).await;
    client.auth(opts).await;
    burst(&gw.gateway, vec![order("IBM", 10)]).await;
    // read the first order's pushes through its fill and execution
    let (mut last, mut filled, mut executed) = (0, false, false);
    while !(filled && executed) {
        let m = client.recv().await.expect("open");
        if let Some((seq, line)) = split_seq(&m).filter(|(_, l)| is_order_push(l)) {
            last = seq;
            filled |= line.starts_with("rtx.order.") && line.ends_with(" Filled");
            executed |= line.starts_with("rtx.execution.");
        }
    }
    drop(client);
    // while it is away
    burst(&gw.gateway, (0..4).map(|i| order("MSFT", if i % 2 == 0 { 5 } else { -5 })).collect()).await;
    let total = published(&gw.gateway).await;
    let mut seen = Vec::new();
    while seen.len() < total {
        let m = witness.recv().await.expect("open");
        if let Some(x) = split_seq(&m).filter(|(_, l)| is_order_push(l)) {
            seen.push(x);
        }
    }
    let missed: Vec<(u64, String)> = seen.iter().filter(|(s, _)| *s > last).cloned().collect();
    assert!(missed.len() >= 16, "{}", missed.len());

    // back: auth and resume in one write, so the replay comes before anything live
    let mut back = Client::connect(gw.tcp_addr).await;
    back.w.feed(format!("{AUTH} {opts}").as_str()).await.expect("feed");
    back.w.feed(format!("resume {last}").as_str()).await.expect("feed");
    back.w.flush().await.expect("flush");
    let mut replayed = Vec::new();
    loop {
        let m = back.recv().await.expect("open");
        if m.starts_with(".resumed:") {
            break;
        }
        if let Some(x) = split_seq(&m).filter(|(_, l)| is_order_push(l)) {
            replayed.push(x);
        }
    }
    assert_eq!(replayed, missed, "every missed order and execution event, once, in order");
    // and live events continue after the replay
    burst(&gw.gateway, vec![order("IBM", -10)]).await;
    let (seq, line) = loop {
        let m = back.recv().await.expect("open");
        if let Some(x) = split_seq(&m).filter(|(_, l)| is_order_push(l)) {
            break x;
        }
    };
    assert!(seq > missed.last().expect("some").0 && line.starts_with("rtx.order."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_of_a_range_no_longer_kept_says_so() {
    let gw = gateway(&[("TXTRADER_STREAM_REPLAY", "3")]).await;
    let mut c = Client::connect(gw.tcp_addr).await;
    c.auth(r#"{"sequence":1}"#).await;
    burst(&gw.gateway, vec![order("IBM", 10), order("IBM", -10)]).await;
    let mut late = Client::connect(gw.tcp_addr).await;
    late.auth(r#"{"sequence":1}"#).await;
    late.send("resume 1").await;
    let m = late.expect(|m| m.starts_with(".error:")).await;
    assert!(m.contains("are no longer kept"), "{m}");
    late.send("resume x").await;
    assert!(late.expect(|m| m.starts_with(".error:")).await.contains("sequence number"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotes_trades_and_symbol_commands() {
    let gw = gateway(&[("TXTRADER_ENABLE_TICKER", "1"), ("TXTRADER_SIM_TICK_MS", "50")]).await;
    let mut c = Client::connect(gw.tcp_addr).await;
    c.auth("quotes trades").await;
    c.send("add ibm").await;
    let added = c.expect(|m| m.starts_with("rtx.symbol: ")).await;
    assert!(added.contains("\"bidsize\":"), "{added}");
    let quote = c.expect(|m| m.starts_with("rtx.quote.IBM:")).await;
    let parts: Vec<&str> = quote.trim_start_matches("rtx.quote.IBM:").split(' ').collect();
    assert_eq!(parts.len(), 4);
    assert!(parts[0].contains('.') && parts[1].parse::<u64>().expect("size") > 0, "{quote}");
    let trade = c.expect(|m| m.starts_with("rtx.trade.IBM:")).await;
    assert_eq!(trade.split(' ').count(), 3, "{trade}");
    // SYMBOL_FIELDS selects raw fields; an unknown one is a KeyError
    c.send(r#"auth txtrader_user change_this_password {"SYMBOL_FIELDS":["CUSIP","STARTTIME"]}"#).await;
    c.expect(|m| m == ".Authorized rtx").await;
    c.send("query IBM").await;
    let q = c.expect(|m| m.starts_with("rtx.symbol: ")).await;
    let v: serde_json::Value = serde_json::from_str(q.trim_start_matches("rtx.symbol: ")).expect("json");
    assert_eq!(v.as_object().map(|o| o.len()), Some(2));
    c.send("query NOPE").await;
    assert_eq!(c.expect(|m| m.starts_with(".error")).await, ".error: KeyError('NOPE')");
    // a session's subscriptions end with it
    assert!(gw.gateway.symbols().iter().any(|v| v.instrument.symbol.as_str() == "IBM"));
    c.send("quit").await;
    // pushes already on their way may still arrive; then the server closes
    let mut after_quit = 0;
    while c.recv().await.is_some() {
        after_quit += 1;
        assert!(after_quit < 100, "the session was not closed after quit");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(gw.gateway.symbols().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_over_the_stream_needs_auth_and_stops_the_gateway() {
    let gw = gateway(&[]).await;
    let mut watcher = Client::connect(gw.tcp_addr).await;
    watcher.auth("{}").await;
    let mut c = Client::connect(gw.tcp_addr).await;
    c.send("shutdown now").await;
    assert_eq!(c.recv().await.as_deref(), Some(".Authorization required!"));
    let mut c = Client::connect(gw.tcp_addr).await;
    c.auth("{}").await;
    c.send("shutdown now").await;
    while c.recv().await.is_some() {}
    // other sessions hear the gateway go down before their socket closes
    let mut last = Vec::new();
    while let Some(m) = watcher.recv().await {
        last.push(m);
    }
    assert_eq!(last.last().map(String::as_str), Some("rtx.connection-status-changed: Shutdown"), "{last:?}");
    let reason = timeout(Duration::from_secs(10), gw.wait()).await.expect("stops");
    assert!(matches!(reason, txtrader_host::shutdown::ExitReason::Requested(ref m) if m.contains("[now]")), "{reason:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_disconnect_policy_drops_a_session_that_falls_behind() {
    let gw = gateway(&[("TXTRADER_STREAM_SLOW_CLIENT", "disconnect")]).await;
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let mut slow = Client::from_stream(socket.connect(gw.tcp_addr).await.expect("connect")).await;
    slow.auth(r#"{"order-notification":1,"order-data":1,"execution-data":1,"queue":16}"#).await;
    let mut other = Client::connect(gw.tcp_addr).await;
    other.auth(r#"{"execution-notification":1}"#).await;
    burst(&gw.gateway, (0..1200).map(|i| order("IBM", if i % 2 == 0 { 10 } else { -10 })).collect()).await;
    // the slow session ends with the reason, after whatever it had received
    let mut last = String::new();
    while let Some(m) = slow.recv().await {
        last = m;
    }
    assert!(last.starts_with(".error: disconnected: fell behind by "), "{last}");
    // the other session is still there
    other.send("status").await;
    assert_eq!(other.expect(|m| m.starts_with(".status")).await, ".status: Up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_and_broadcasts_reach_the_right_sessions() {
    let gw = gateway(&[]).await;
    let mut tickets = Client::connect(gw.tcp_addr).await;
    tickets.auth(r#"{"ticket-notification":1,"ticket-data":1}"#).await;
    let mut plain = Client::connect(gw.tcp_addr).await;
    plain.auth("{}").await;
    let mut staged = order("GOOG", 10);
    staged.staged_tag = Some("T1".into());
    let t = gw.gateway.submit(staged).await.expect("ticket");
    let note = tickets.expect(|m| m.starts_with("rtx.ticket.")).await;
    assert_eq!(note, format!("rtx.ticket.{} {ACCT} UserSubmitStagedOrder Submitted", t.order.key()));
    let data = tickets.expect(|m| m.starts_with("rtx.ticket-data ")).await;
    let v: serde_json::Value = serde_json::from_str(&data["rtx.ticket-data ".len()..]).expect("json");
    assert_eq!(v["class"], "ticket");
    // set_account and errors go to every authorized session, whatever its options
    plain.send(&format!("setaccount {ACCT}")).await;
    assert_eq!(plain.expect(|m| m.starts_with("rtx.current-account")).await, format!("rtx.current-account: {ACCT}"));
    assert_eq!(plain.expect(|m| m.starts_with("rtx.set_account")).await, "rtx.set_account: true");
    assert_eq!(tickets.expect(|m| m.starts_with("rtx.current-account")).await, format!("rtx.current-account: {ACCT}"));
    plain.send("setaccount NOT.AN.ACCOUNT.X").await;
    assert!(tickets.expect(|m| m.starts_with("rtx.error: ")).await.contains("account NOT.AN.ACCOUNT.X not found"));
    assert_eq!(plain.expect(|m| m.starts_with("rtx.set_account")).await, "rtx.set_account: false");
    // a command's answer comes after the pushes it caused
    let mut trader = Client::connect(gw.tcp_addr).await;
    trader.auth(r#"{"order-notification":1}"#).await;
    trader.send(&format!("marketorder {ACCT} DEMO IBM 5")).await;
    let first = trader.expect(|m| m.starts_with("rtx.order")).await;
    assert!(first.starts_with("rtx.order.") && first.ends_with(" Submitted"), "{first}");
    let reply = trader.expect(|m| m.starts_with("rtx.order")).await;
    assert!(reply.starts_with("rtx.order: {"), "{reply}");
    // without options, no order pushes at all: the original formats, nothing more
    gw.gateway.submit(order("IBM", 1)).await.expect("order");
    plain.send("status").await;
    let m = plain.expect(|m| m.starts_with(".status") || m.starts_with("rtx.order")).await;
    assert_eq!(m, ".status: Up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_shutdown_tells_every_client_why_before_closing() {
    let gw = gateway(&[("TXTRADER_ENABLE_EXCEPTION_HALT", "1")]).await;
    let mut watcher = Client::connect(gw.tcp_addr).await;
    watcher.auth("{}").await;
    let mut culprit = Client::connect(gw.tcp_addr).await;
    culprit.auth("{}").await;
    culprit.send("marketorder missing arguments").await;
    let mut seen = Vec::new();
    while let Some(m) = watcher.recv().await {
        seen.push(m);
    }
    let tail: Vec<&str> = seen.iter().rev().take(2).rev().map(String::as_str).collect();
    assert_eq!(tail[0], "rtx.connection-status-changed: Shutdown", "{seen:?}");
    assert!(tail[1].starts_with("rtx.error: RTX Forcing shutdown: TypeError('marketorder: expected 4 arguments"), "{seen:?}");
    let reason = timeout(Duration::from_secs(10), gw.wait()).await.expect("stops");
    assert!(matches!(reason, txtrader_host::shutdown::ExitReason::Forced(_)), "{reason:?}");
    assert_eq!(reason.exit_code(), 0, "a supervisor restarts it");
}

/// Everything a raw connection receives until the server closes it (at most 10 s).
async fn until_closed(mut s: TcpStream) -> String {
    let mut out = Vec::new();
    let _ = timeout(Duration::from_secs(10), tokio::io::AsyncReadExt::read_to_end(&mut s, &mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_garbage_connections_never_lock_out_an_authenticated_client() {
    let gw = gateway(&[("TXTRADER_STREAM_AUTH_TIMEOUT", "2"), ("TXTRADER_STREAM_MAX_UNAUTHENTICATED", "50"), ("TXTRADER_STREAM_MAX_SESSIONS", "3")]).await;
    let addr = gw.tcp_addr;
    let mut trader = Client::connect(addr).await;
    trader.auth(r#"{"order-notification":1}"#).await;
    // 150 connections that never authenticate: idle, a bare length prefix, garbage
    let mut flood = Vec::new();
    for i in 0..150 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let junk: &[u8] = match i % 3 {
            0 => b"",
            1 => b"900000:",
            _ => b"GET / HTTP/1.1\r\n",
        };
        tokio::io::AsyncWriteExt::write_all(&mut s, junk).await.expect("write");
        flood.push(s);
    }
    // the authenticated session trades on, untouched
    burst(&gw.gateway, vec![order("IBM", 10)]).await;
    trader.expect(|m| m.starts_with("rtx.order.")).await;
    let answers = futures_util::future::join_all(flood.into_iter().map(until_closed)).await;
    let refused = answers.iter().filter(|a| a.contains(".error: too many connections")).count();
    let timed_out = answers.iter().filter(|a| a.contains(".error: authentication timeout")).count();
    let bad = answers.iter().filter(|a| a.contains(".error: ") && !a.contains("too many") && !a.contains("timeout")).count();
    assert_eq!(refused + timed_out + bad, 150, "every flooding connection was answered and closed: {answers:?}");
    assert!(refused > 0, "with 50 waiting, the next are refused at once");
    assert!(timed_out > 0, "the idle ones closed at the deadline");
    // once they are gone (at most the deadline), a new client authenticates
    let mut second = Client::connect(addr).await;
    second.auth("{}").await;
    // sessions have their own limit (3): the trader, the second client, one more
    let mut third = Client::connect(addr).await;
    third.auth("{}").await;
    let mut fourth = Client::connect(addr).await;
    fourth.send(AUTH).await;
    assert_eq!(fourth.recv().await.as_deref(), Some(".error: too many connections"));
    drop(third);
    trader.send("status").await;
    trader.expect(|m| m.starts_with(".status: ")).await;
}
