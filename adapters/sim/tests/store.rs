//! The simulator's own books on disk, through the adapter as the host drives it: what it
//! reported survives a restart and a hand-over, a snapshot reports the day's closed orders and
//! executions from the store, the books of earlier versions are migrated, and the file grows by
//! the rows an order touches, whatever the day's volume.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use txtrader_adapter_sim::SimAdapter;
use txtrader_plugin_api::adapter::{Adapter, AdapterConfig, EventSink, Host, LogLevel};
use txtrader_plugin_api::model::{
    AccountId, BrokerOrderId, ClientOrderId, OrderOrigin, OrderRequest, OrderStatus, OrderType, Price, Quantity, Side, Symbol,
    TimeInForce,
};
use txtrader_plugin_api::wire::{
    decode_event, AdapterEvent, AdapterRequest, BrokerSnapshot, HostHello, OrderEventKind, ReplyBody, RequestBody, RequestId,
    PROTOCOL_VERSION,
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

/// One adapter instance with the events it emitted.
struct Sim {
    adapter: SimAdapter,
    events: mpsc::Receiver<AdapterEvent>,
    next: u64,
}

impl Sim {
    fn start(dir: &Path) -> Self {
        let settings = BTreeMap::from([("fill_delay_ms".to_owned(), "0".to_owned()), ("tick_ms".to_owned(), "20".to_owned())]);
        let config = AdapterConfig {
            instance: "sim".into(),
            settings,
            timezone: "America/New_York".into(),
            data_dir: Some(dir.display().to_string()),
            ..AdapterConfig::default()
        };
        let (tx, events) = mpsc::channel();
        let adapter = SimAdapter::create(config, Host::new(Arc::new(Sink(Mutex::new(tx))))).expect("creates");
        let mut sim = Self { adapter, events, next: 0 };
        let hello = HostHello { protocol_version: PROTOCOL_VERSION, host_version: "test".into(), features: vec![] };
        sim.ask(RequestBody::Hello(hello));
        sim
    }

    fn send(&mut self, body: RequestBody) -> RequestId {
        self.next += 1;
        let id = RequestId(self.next);
        self.adapter.handle(AdapterRequest { id, body }).expect("queued");
        id
    }

    /// Sends a request and waits for its reply.
    fn ask(&mut self, body: RequestBody) -> ReplyBody {
        let id = self.send(body);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.events.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("an answer in time") {
                AdapterEvent::Reply { request_id, body } if request_id == id => return body,
                AdapterEvent::Failed { request_id, error } if request_id == id => panic!("refused: {error:?}"),
                _ => {}
            }
        }
    }

    fn snapshot(&mut self) -> BrokerSnapshot {
        match self.ask(RequestBody::Snapshot) {
            ReplyBody::Snapshot(s) => s,
            other => panic!("expected a snapshot, got {other:?}"),
        }
    }

    /// Places an order and waits for its first event: its broker id.
    fn order(&mut self, n: u64, side: Side, order_type: OrderType) -> BrokerOrderId {
        let request = OrderRequest {
            client_order_id: ClientOrderId::new(format!("c-{n}")).expect("id"),
            account: AccountId::new(ACCT).expect("acct"),
            symbol: Symbol::new("IBM").expect("sym"),
            side,
            quantity: Quantity::from_u64(10),
            order_type,
            time_in_force: TimeInForce::Gtc,
            route: None,
            exchange: None,
            staged_tag: None,
            origin: OrderOrigin::Client,
            user: None,
        };
        let client = request.client_order_id.clone();
        self.send(RequestBody::SubmitOrder(request));
        self.until(|e| match e {
            AdapterEvent::Order(o) if o.client_order_id.as_ref() == Some(&client) => Some(o.broker_order_id.clone()),
            _ => None,
        })
    }

    /// Waits for an event `f` picks.
    fn until<T>(&mut self, mut f: impl FnMut(&AdapterEvent) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let e = self.events.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("the event in time");
            if let Some(t) = f(&e) {
                return t;
            }
        }
    }

    /// Waits until an order is filled.
    fn filled(&mut self, broker: &BrokerOrderId) {
        self.until(|e| match e {
            AdapterEvent::Order(o) if &o.broker_order_id == broker && matches!(o.kind, OrderEventKind::Filled(_)) => Some(()),
            _ => None,
        });
    }

    fn stop(mut self) {
        self.adapter.shutdown();
    }
}

fn far_limit() -> OrderType {
    OrderType::Limit { limit_price: Price::from_cents(1) }
}

fn status_of(s: &BrokerSnapshot, broker: &BrokerOrderId) -> Option<OrderStatus> {
    s.orders.iter().find(|o| &o.broker_order_id == broker).map(|o| o.status)
}

#[test]
fn what_the_exchange_reported_survives_a_restart_and_a_hand_over() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut a = Sim::start(dir.path());
    a.snapshot();
    let filled = a.order(1, Side::Buy, OrderType::Market);
    a.filled(&filled);
    let resting = a.order(2, Side::Buy, far_limit());
    let before = a.snapshot();
    assert_eq!(status_of(&before, &filled), Some(OrderStatus::Filled));
    assert_eq!(status_of(&before, &resting), Some(OrderStatus::Working));
    assert_eq!(before.executions.len(), 1);
    a.stop();
    assert!(dir.path().join("exchange.sqlite").exists());

    // a restart: the open order from the store's open rows, the filled one and its execution
    // from the day's history
    let mut b = Sim::start(dir.path());
    let after = b.snapshot();
    assert_eq!(status_of(&after, &filled), Some(OrderStatus::Filled));
    assert_eq!(status_of(&after, &resting), Some(OrderStatus::Working));
    assert_eq!(after.executions, before.executions);
    assert_eq!(after.positions, before.positions, "cash and positions kept");

    // a hand-over: the running generation closes its store, the new one opens it
    let mut c = Sim::start(dir.path());
    let state = match b.ask(RequestBody::ExportState) {
        ReplyBody::State { state } => state,
        other => panic!("expected the state, got {other:?}"),
    };
    let text = state_json(&state);
    assert!(text.contains(resting.as_str()) && !text.contains(filled.as_str()), "only the open books are handed over");
    assert!(matches!(c.ask(RequestBody::ImportState { state }), ReplyBody::Done));
    let swapped = c.snapshot();
    assert_eq!(status_of(&swapped, &filled), Some(OrderStatus::Filled), "history read from the store");
    assert_eq!(status_of(&swapped, &resting), Some(OrderStatus::Working));
    assert_eq!(swapped.executions, before.executions);
    // it trades on: the resting order cancels, a new one fills
    c.send(RequestBody::CancelOrder { client_order_id: None, broker_order_id: resting.clone() });
    c.until(|e| match e {
        AdapterEvent::Order(o) if o.broker_order_id == resting && matches!(o.kind, OrderEventKind::Cancelled { .. }) => Some(()),
        _ => None,
    });
    let next = c.order(3, Side::Sell, OrderType::Market);
    c.filled(&next);
    b.stop();
    c.stop();
    let mut d = Sim::start(dir.path());
    let last = d.snapshot();
    assert_eq!(status_of(&last, &resting), Some(OrderStatus::Cancelled));
    assert_eq!(status_of(&last, &next), Some(OrderStatus::Filled));
    assert_eq!(last.executions.len(), 2);
    d.stop();
}

/// The JSON inside a handed-over state (`b64:` + base64 of JSON).
fn state_json(state: &str) -> String {
    use base64::Engine as _;
    let b64 = state.strip_prefix("b64:").expect("a base64 state");
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).expect("base64")).expect("utf-8")
}

#[test]
fn a_copy_ahead_leaves_the_store_to_the_running_generation_until_the_rest_comes() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut a = Sim::start(dir.path());
    a.snapshot();
    let resting = a.order(1, Side::Buy, far_limit());
    let copy = match a.ask(RequestBody::CopyState) {
        ReplyBody::State { state } => state,
        other => panic!("expected a copy, got {other:?}"),
    };
    // the new generation holds the copy without opening the store the running one holds
    let mut b = Sim::start(dir.path());
    assert!(matches!(b.ask(RequestBody::ImportState { state: copy }), ReplyBody::Done));
    // the running one trades on and stores what it does
    let filled = a.order(2, Side::Sell, OrderType::Market);
    a.filled(&filled);
    a.send(RequestBody::CancelOrder { client_order_id: None, broker_order_id: resting.clone() });
    a.until(|e| match e {
        AdapterEvent::Order(o) if o.broker_order_id == resting && matches!(o.kind, OrderEventKind::Cancelled { .. }) => Some(()),
        _ => None,
    });
    let later = a.order(3, Side::Buy, far_limit());
    let before = a.snapshot();
    let rest = match a.ask(RequestBody::ExportState) {
        ReplyBody::State { state } => state,
        other => panic!("expected the rest, got {other:?}"),
    };
    let text = state_json(&rest);
    assert!(text.contains(later.as_str()) && !text.contains(filled.as_str()), "the rest: the open orders changed since the copy");
    assert!(matches!(b.ask(RequestBody::ImportState { state: rest }), ReplyBody::Done));
    let after = b.snapshot();
    assert_eq!(status_of(&after, &resting), Some(OrderStatus::Cancelled));
    assert_eq!(status_of(&after, &filled), Some(OrderStatus::Filled), "history read from the store it opened");
    assert_eq!(status_of(&after, &later), Some(OrderStatus::Working));
    assert_eq!(after.executions, before.executions);
    assert_eq!(after.positions, before.positions);
    // it trades on, and a restart finds what it did
    let next = b.order(4, Side::Sell, OrderType::Market);
    b.filled(&next);
    a.stop();
    b.stop();
    let mut c = Sim::start(dir.path());
    let last = c.snapshot();
    assert_eq!(status_of(&last, &later), Some(OrderStatus::Working));
    assert_eq!(status_of(&last, &next), Some(OrderStatus::Filled));
    assert_eq!(last.executions.len(), 2);
    c.stop();
}

#[test]
fn the_books_of_earlier_versions_are_migrated_once() {
    let dir = tempfile::tempdir().expect("tmp");
    // an earlier version's book (its format is what a hand-over carries)
    let mut a = Sim::start(dir.path());
    a.snapshot();
    let filled = a.order(1, Side::Buy, OrderType::Market);
    a.filled(&filled);
    let resting = a.order(2, Side::Buy, far_limit());
    let state = match a.ask(RequestBody::ExportState) {
        ReplyBody::State { state } => state,
        other => panic!("{other:?}"),
    };
    a.stop();
    for f in ["exchange.sqlite", "exchange.sqlite-wal", "exchange.sqlite-shm"] {
        let _ = std::fs::remove_file(dir.path().join(f));
    }
    std::fs::write(dir.path().join("exchange.json"), state_json(&state)).expect("legacy file");
    let mut b = Sim::start(dir.path());
    let s = b.snapshot();
    assert_eq!(status_of(&s, &resting), Some(OrderStatus::Working));
    assert!(dir.path().join("exchange.json.migrated").exists() && !dir.path().join("exchange.json").exists());
    b.stop();
}

/// Bytes this process has written with write(2) and friends so far.
fn written() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    io.lines().find_map(|l| l.strip_prefix("wchar: ")).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

#[test]
fn the_store_grows_by_the_rows_an_order_touches() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut sim = Sim::start(dir.path());
    sim.snapshot();
    let mut n = 0;
    let mut phase = |sim: &mut Sim| {
        let w0 = written();
        for _ in 0..500 {
            n += 1;
            let side = if n % 2 == 0 { Side::Sell } else { Side::Buy };
            let b = sim.order(n, side, OrderType::Market);
            sim.filled(&b);
        }
        written() - w0
    };
    let first = phase(&mut sim);
    let second = phase(&mut sim);
    let third = phase(&mut sim);
    sim.stop();
    let size = std::fs::metadata(dir.path().join("exchange.sqlite")).expect("store").len();
    assert!(size / 1500 < 8192, "{size} bytes for 1500 orders");
    // written per order does not grow with the orders already in the books (rewriting the
    // whole book at every change, the third 500 cost five times the first)
    assert!(first > 0, "writes are counted");
    assert!(third < first * 2 && second < first * 2, "bytes written per 500 orders: {first}, {second}, {third}");
}

#[test]
fn a_snapshot_is_one_moment_of_the_books() {
    // Orders filling while a snapshot is answered (the same batch of requests): the snapshot
    // shows each order's fills with it, and positions that are the sum of its executions.
    let dir = tempfile::tempdir().expect("tmp");
    let mut sim = Sim::start(dir.path());
    sim.snapshot();
    for n in 1..=60 {
        let side = if n % 3 == 0 { Side::Sell } else { Side::Buy };
        let request = OrderRequest {
            client_order_id: ClientOrderId::new(format!("m-{n}")).expect("id"),
            account: AccountId::new(ACCT).expect("acct"),
            symbol: Symbol::new("IBM").expect("sym"),
            side,
            quantity: Quantity::from_u64(10),
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Day,
            route: None,
            exchange: None,
            staged_tag: None,
            origin: OrderOrigin::Client,
            user: None,
        };
        sim.send(RequestBody::SubmitOrder(request));
        let s = sim.snapshot();
        let mut by_order: BTreeMap<&str, Quantity> = BTreeMap::new();
        let mut position = rust_decimal::Decimal::ZERO;
        for x in &s.executions {
            let q = by_order.entry(x.broker_order_id.as_str()).or_insert(Quantity::ZERO);
            *q = q.checked_add(x.quantity).expect("sum");
            position += if x.side == Side::Buy { x.quantity.as_decimal() } else { -x.quantity.as_decimal() };
        }
        for o in &s.orders {
            let executed = by_order.get(o.broker_order_id.as_str()).copied().unwrap_or(Quantity::ZERO);
            assert_eq!(o.filled_quantity, executed, "order {} in snapshot {n}: {:?} with {executed} executed", o.broker_order_id, o.status);
        }
        let held = s.positions.iter().find(|p| p.symbol.as_str() == "IBM").map_or(rust_decimal::Decimal::ZERO, |p| p.quantity.as_decimal());
        assert_eq!(held, position, "snapshot {n}: positions are the sum of the executions");
    }
    sim.stop();
}
