//! The RealTick adapter through its `Adapter` interface against the fake RTGW: the session
//! start-up, snapshots, orders and cancels, and what it answers when RTGW is not there.

mod support;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use txtrader_adapter_rtx::Rtx;
use txtrader_plugin_api::adapter::{Adapter, AdapterConfig, ApiEndpoint, EventSink, Host, LogLevel};
use txtrader_plugin_api::model::{AccountId, BarInterval, ClientOrderId, LinkState, OrderOrigin, OrderRequest, OrderStatus, OrderType, Price, Quantity, Side, Symbol, TimeInForce};
use txtrader_plugin_api::wire::{
    decode_event, AdapterEvent, AdapterRequest, BrokerSnapshot, HostHello, OrderEvent, OrderEventKind, ReplyBody, RequestBody, RequestId, PROTOCOL_VERSION,
};

const ACCT: &str = "REALTICKDEMO.REALTICK.DEMO32.TRADING";

struct Sink(Mutex<mpsc::Sender<AdapterEvent>>);

impl EventSink for Sink {
    fn emit(&self, event: &[u8]) {
        if let Ok(e) = decode_event(event) {
            let _ = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).send(e);
        }
    }
    fn log(&self, _: LogLevel, _: &str) {}
}

struct Client {
    adapter: Rtx,
    events: mpsc::Receiver<AdapterEvent>,
    next: u64,
}

impl Client {
    fn start(port: u16) -> Self {
        let config = AdapterConfig {
            instance: "rtx".into(),
            timezone: "Asia/Tokyo".into(),
            api: ApiEndpoint { host: "127.0.0.1".into(), port: Some(port), ..ApiEndpoint::default() },
            ..AdapterConfig::default()
        };
        let (tx, events) = mpsc::channel();
        let adapter = Rtx::create(config, Host::new(Arc::new(Sink(Mutex::new(tx))))).expect("creates");
        let mut c = Self { adapter, events, next: 0 };
        let hello = HostHello { protocol_version: PROTOCOL_VERSION, host_version: "test".into(), features: vec![] };
        assert!(matches!(c.ask(RequestBody::Hello(hello)), ReplyBody::Hello(h) if h.name == "rtx"));
        c
    }

    fn send(&mut self, body: RequestBody) -> RequestId {
        self.next += 1;
        let id = RequestId(self.next);
        self.adapter.handle(AdapterRequest { id, body }).expect("queued");
        id
    }

    fn until<T>(&mut self, what: &str, mut f: impl FnMut(&AdapterEvent) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let e = self.events.recv_timeout(deadline.saturating_duration_since(Instant::now())).unwrap_or_else(|_| panic!("no {what} in time"));
            if let Some(t) = f(&e) {
                return t;
            }
        }
    }

    fn ask(&mut self, body: RequestBody) -> ReplyBody {
        let id = self.send(body);
        self.until("answer", |e| match e {
            AdapterEvent::Reply { request_id, body } if *request_id == id => Some(body.clone()),
            AdapterEvent::Failed { request_id, error } if *request_id == id => panic!("refused: {error:?}"),
            _ => None,
        })
    }

    fn connected(&mut self) {
        self.until("Connected", |e| matches!(e, AdapterEvent::Link(LinkState::Connected)).then_some(()));
    }

    fn snapshot(&mut self) -> BrokerSnapshot {
        match self.ask(RequestBody::Snapshot) {
            ReplyBody::Snapshot(s) => s,
            other => panic!("{other:?}"),
        }
    }

    fn order(&mut self, n: u32, symbol: &str, side: Side, qty: i64, order_type: OrderType) -> ClientOrderId {
        let client_order_id = ClientOrderId::new(format!("c-{n}")).expect("id");
        self.send(RequestBody::SubmitOrder(OrderRequest {
            client_order_id: client_order_id.clone(),
            account: AccountId::new(ACCT).expect("acct"),
            symbol: Symbol::new(symbol).expect("sym"),
            side,
            quantity: Quantity::new(qty.into()).expect("qty"),
            order_type,
            time_in_force: TimeInForce::Day,
            route: None,
            exchange: None,
            staged_tag: None,
            origin: OrderOrigin::Client,
            user: None,
        }));
        client_order_id
    }

    /// The order events of one order until `last` says it is done.
    fn events_of(&mut self, client: &ClientOrderId, last: impl Fn(&OrderEventKind) -> bool) -> Vec<OrderEvent> {
        let mut got = Vec::new();
        self.until("order events", |e| match e {
            AdapterEvent::Order(o) if o.client_order_id.as_ref() == Some(client) => {
                got.push(o.clone());
                last(&o.kind).then_some(())
            }
            _ => None,
        });
        got
    }
}

fn kinds(events: &[OrderEvent]) -> Vec<&'static str> {
    events
        .iter()
        .map(|e| match e.kind {
            OrderEventKind::Acknowledged => "acknowledged",
            OrderEventKind::Staged => "staged",
            OrderEventKind::Accepted => "accepted",
            OrderEventKind::Triggered => "triggered",
            OrderEventKind::Filled(_) => "filled",
            OrderEventKind::CancelRejected { .. } => "cancel-rejected",
            OrderEventKind::Cancelled { .. } => "cancelled",
            OrderEventKind::Rejected { .. } => "rejected",
            OrderEventKind::Expired => "expired",
            OrderEventKind::Modified { .. } => "modified",
            OrderEventKind::ModifyRejected { .. } => "modify-rejected",
            OrderEventKind::Unknown => "unknown",
        })
        .collect()
}

#[test]
fn the_session_starts_as_the_original_s_and_orders_go_through() {
    let fake = support::Fake::start(&[]);
    let mut c = Client::start(fake.port);
    c.connected();
    // the feed clock ticks
    c.until("a clock tick", |e| matches!(e, AdapterEvent::Clock { .. }).then_some(()));
    let s = c.snapshot();
    let accounts: Vec<&str> = s.accounts.iter().map(AccountId::as_str).collect();
    assert_eq!(accounts, ["REALTICKDEMO.REALTICK.DEMO31.TRADING", ACCT]);

    // a market order: acknowledged with the gateway's id, working, filled once
    let buy = c.order(1, "IBM", Side::Buy, 100, OrderType::Market);
    let events = c.events_of(&buy, |k| matches!(k, OrderEventKind::Filled(_)));
    assert_eq!(kinds(&events), ["acknowledged", "accepted", "filled"]);
    let permid = events[0].broker_order_id.clone();
    assert!(events.iter().all(|e| e.broker_order_id == permid), "one permid for all of them");
    let OrderEventKind::Filled(fill) = &events[2].kind else { panic!("a fill") };
    assert_eq!(fill.quantity.as_decimal(), 100.into());
    assert!(fill.exec_id.as_str().starts_with(permid.as_str()), "the fill row's own id: permid-N");

    // a resting limit order, cancelled
    let rest = c.order(2, "IBM", Side::Buy, 10, OrderType::Limit { limit_price: Price::from_cents(100) });
    let events = c.events_of(&rest, |k| matches!(k, OrderEventKind::Accepted));
    let permid2 = events[0].broker_order_id.clone();
    c.send(RequestBody::CancelOrder { client_order_id: Some(rest.clone()), broker_order_id: permid2.clone() });
    let events = c.events_of(&rest, |k| matches!(k, OrderEventKind::Cancelled { .. }));
    assert_eq!(kinds(&events), ["cancelled"]);

    // a bad symbol: rejected with RealTick's reason
    let bad = c.order(3, "BADSYMBOL", Side::Buy, 10, OrderType::Market);
    let events = c.events_of(&bad, |k| matches!(k, OrderEventKind::Rejected { .. }));
    assert!(matches!(&events[0].kind, OrderEventKind::Rejected { reason } if reason == "Invalid symbol"), "{events:?}");

    // the snapshot tells the same: statuses, fills, positions
    let s = c.snapshot();
    let status = |p: &txtrader_plugin_api::model::BrokerOrderId| s.orders.iter().find(|o| &o.broker_order_id == p).map(|o| (o.status, o.request.client_order_id.clone()));
    assert_eq!(status(&permid).map(|s| s.0), Some(OrderStatus::Filled));
    assert_eq!(status(&permid2).map(|s| s.0), Some(OrderStatus::Cancelled));
    assert_eq!(s.executions.len(), 1);
    assert_eq!(s.executions[0].broker_order_id, permid);
    assert!(s.positions.iter().any(|p| p.account.as_str() == ACCT && p.symbol.as_str() == "IBM" && p.quantity.as_decimal() == 100.into()), "{:?}", s.positions);
    c.adapter.shutdown();
}

#[test]
fn symbols_stream_live_and_an_invalid_one_is_refused() {
    let fake = support::Fake::start(&[]);
    let mut c = Client::start(fake.port);
    c.connected();
    let ibm = Symbol::new("IBM").expect("sym");
    let ReplyBody::Market(m) = c.ask(RequestBody::Subscribe { symbol: ibm.clone(), exchange: None }) else { panic!("a market") };
    assert_eq!((m.instrument.name.as_str(), m.instrument.session.timezone.as_str()), ("IBM FAKE CORP", "Asia/Tokyo"));
    assert!(m.quote.is_some() && m.last_trade.is_some() && m.stats.is_some(), "{m:?}");
    // the advise streams quotes and trades (the fake updates every second)
    c.until("a live quote", |e| matches!(e, AdapterEvent::Quote(q) if q.symbol == ibm).then_some(()));
    c.until("a live trade", |e| matches!(e, AdapterEvent::Trade(t) if t.symbol == ibm).then_some(()));
    assert!(matches!(c.ask(RequestBody::Unsubscribe { symbol: ibm.clone() }), ReplyBody::Done));
    let bad = c.ask(RequestBody::Subscribe { symbol: Symbol::new("BADSYMBOL").expect("sym"), exchange: None });
    assert!(matches!(&bad, ReplyBody::SymbolInvalid { reason } if reason.contains("BADSYMBOL")), "{bad:?}");
    let ReplyBody::Instrument(i) = c.ask(RequestBody::Instrument { symbol: Symbol::new("MSFT").expect("sym"), exchange: None }) else { panic!("an instrument") };
    assert_eq!(i.cusip.map(|c| c.len()), Some(9));
    c.adapter.shutdown();
}

#[test]
fn bar_charts_and_account_data() {
    let fake = support::Fake::start(&[("FAKE_RTGW_TZ", "Asia/Tokyo")]);
    let mut c = Client::start(fake.port);
    c.connected();
    let tokyo = |h: u32, m: u32| {
        use chrono::TimeZone;
        txtrader_plugin_api::model::UnixNanos::from(chrono_tz::Asia::Tokyo.with_ymd_and_hms(2024, 3, 6, h, m, 0).single().expect("t"))
    };
    let ibm = Symbol::new("IBM").expect("sym");
    let bars = c.ask(RequestBody::Bars { symbol: ibm.clone(), interval: BarInterval::Minutes(5), start: tokyo(10, 0), end: tokyo(10, 30), exchange: None });
    let ReplyBody::Bars { bars } = bars else { panic!("bars") };
    assert_eq!(bars.len(), 7, "10:00 to 10:30 in fives");
    assert_eq!(bars[0].start, tokyo(10, 0));
    assert!(bars.iter().all(|b| b.low <= b.open && b.open <= b.high));
    let ReplyBody::Bars { bars: days } = c.ask(RequestBody::Bars { symbol: ibm, interval: BarInterval::Day, start: tokyo(0, 0), end: tokyo(23, 0), exchange: None }) else { panic!("bars") };
    assert_eq!(days.len(), 1);
    assert_eq!(days[0].start, tokyo(9, 30), "a daily bar starts at the session open");
    // an empty chart: no bars, and the original's error alongside
    let id = c.send(RequestBody::Bars { symbol: Symbol::new("IBM").expect("sym"), interval: BarInterval::Minutes(1), start: tokyo(11, 0), end: tokyo(10, 0), exchange: None });
    let alert = c.until("the alert", |e| match e {
        AdapterEvent::Alert { message, .. } => Some(message.clone()),
        _ => None,
    });
    assert_eq!(alert, "barchart data format failed: RTGW sent no bars for IBM");
    let empty = c.until("the answer", |e| match e {
        AdapterEvent::Reply { request_id, body: ReplyBody::Bars { bars } } if *request_id == id => Some(bars.len()),
        _ => None,
    });
    assert_eq!(empty, 0);

    let ReplyBody::Account { summary } = c.ask(RequestBody::Account { account: AccountId::new(ACCT).expect("a") }) else { panic!("account") };
    let summary = summary.expect("a known account");
    assert_eq!(summary.excess_equity.as_decimal(), rust_decimal::Decimal::new(123_456_789, 3), "exact, as RTGW sent it");
    assert_eq!(summary.cash.as_decimal(), 100_000.into());
    let ReplyBody::Account { summary } = c.ask(RequestBody::Account { account: AccountId::new("A.B.C.D").expect("a") }) else { panic!("account") };
    assert!(summary.is_none(), "an account RealTick does not know");
    c.adapter.shutdown();
}

/// A scripted RTGW that starts the session, then ends the ORDERS advise (`OnTerminate`).
fn terminating_gateway() -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else { return };
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let mut out = stream.try_clone().expect("clone");
        let say = |out: &mut std::net::TcpStream, t: &str, id: &str, data: &str| {
            let _ = writeln!(out, r#"{{"type":"{t}","id":"{id}","data":{data}}}"#);
        };
        say(&mut out, "system", "0", r#"{"msg":"startup","item":"scripted"}"#);
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            let parts: Vec<&str> = line.splitn(3, ' ').collect();
            let [cmd, id, args] = parts[..] else { continue };
            match cmd {
                "connect" => {
                    say(&mut out, "ack", id, r#""CONNECTION PENDING""#);
                    say(&mut out, "status", id, r#"{"msg":"OnInitAck","status":"1"}"#);
                }
                "request" => {
                    say(&mut out, "ack", id, r#""REQUEST_OK""#);
                    say(&mut out, "response", id, r#"{"row":{"BANK":"B","BRANCH":"R","CUSTOMER":"C","DEPOSIT":"D"},"complete":true}"#);
                }
                "advise" if args.starts_with("ORDERS;*;;") || args == "ORDERS;*;" => {
                    say(&mut out, "ack", id, r#""ADVISE_OK""#);
                    say(&mut out, "status", id, r#"{"msg":"OnTerminate","status":"1"}"#);
                }
                "advise" => {
                    say(&mut out, "ack", id, r#""ADVISE_OK""#);
                    say(&mut out, "status", id, r#"{"msg":"OnOtherAck","status":"1"}"#);
                }
                _ => {}
            }
        }
    });
    port
}

#[test]
fn an_ended_orders_advise_fails_the_link_for_a_restart() {
    let port = terminating_gateway();
    let mut c = Client::start(port);
    let reason = c.until("a failed link", |e| match e {
        AdapterEvent::Link(LinkState::Connected) => panic!("connected although RTGW ended the ORDERS advise"),
        AdapterEvent::Link(LinkState::Failed { reason }) => Some(reason.clone()),
        _ => None,
    });
    assert!(reason.contains("OnTerminate") && reason.contains("ORDERS"), "{reason}");
    c.adapter.shutdown();
}

#[test]
fn without_rtgw_orders_are_rejected_and_it_keeps_trying() {
    // a port nothing listens on
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let mut c = Client::start(port);
    c.until("a disconnected link", |e| matches!(e, AdapterEvent::Link(LinkState::Disconnected { .. })).then_some(()));
    let o = c.order(1, "IBM", Side::Buy, 1, OrderType::Market);
    let events = c.events_of(&o, |k| matches!(k, OrderEventKind::Rejected { .. }));
    assert!(matches!(&events[0].kind, OrderEventKind::Rejected { reason } if reason.contains("not connected")));
    c.adapter.shutdown();
}
