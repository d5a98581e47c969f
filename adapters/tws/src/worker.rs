//! The adapter's thread: owns the connection to TWS and everything the adapter knows, takes
//! the host's requests and TWS's messages from one channel, and answers through the host.
//!
//! Connection life: connect and greet, `startApi`, and report `Connected` once both the next
//! valid order id and the managed accounts arrived. Any disconnect (TWS closing, IB Gateway's
//! daily restart, a protocol error) reports `Disconnected`, fails what was waiting, and
//! reconnects after 1, 2, 4 … s (capped, with jitter); then market data is subscribed again
//! and the host asks for a snapshot, which reconciles orders, executions and positions.
//!
//! Order ids: the next valid id from TWS, counted up locally; a new connection's id is always
//! taken. An order's broker id is TWS's permanent id (`permId`), known from its first
//! openOrder or orderStatus. Fills come from execDetails, deduplicated by execution id.

use crate::connection::{self, Connection, Wire};
use crate::mapping;
use crate::pacer::{HistoryPacer, Pacer};
use crate::proto::decode::{ContractDetails, ExecDetails, Incoming, OpenOrder, OrderStatus as IbStatus};
use crate::proto::encode::{Contract, Encoder, ExecutionFilter, HistoricalRequest};
use crate::settings::Settings;
use indexmap::IndexMap;
use rust_decimal::Decimal;
use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};
use txtrader_plugin_api::adapter::{Host, LogLevel};
use txtrader_plugin_api::model::{
    AccountId, AccountSummary, BarInterval, BrokerOrderId, ClientOrderId, Instrument, LinkState, Money, OrderRequest, Position,
    Price, Quantity, Quote, SessionStats, SignedQuantity, Symbol, Trade, UnixNanos,
};
use txtrader_plugin_api::wire::{
    AdapterEvent, AdapterHello, AdapterRequest, AlertLevel, BrokerSnapshot, ErrorCode, Fill, MarketSnapshot, OrderEvent,
    OrderEventKind, OrderSnapshot, ReplyBody, RequestBody, RequestId, FEATURE_GLOBAL_CANCEL, PROTOCOL_VERSION,
};

/// What reaches the worker.
// Nearly every message is a wire message: boxing those to shrink the rare others would
// allocate for each of them.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Msg {
    /// A request from the host.
    Request(Box<AdapterRequest>),
    /// Something from a connection's reader.
    Wire(Wire),
    /// Stop.
    Stop,
}

impl From<Wire> for Msg {
    fn from(w: Wire) -> Self {
        Self::Wire(w)
    }
}

/// A request waiting for TWS.
#[derive(Debug)]
enum Waiting {
    /// Subscribe: contract details first, then market data.
    Subscribe { request: RequestId, symbol: Symbol, details: Option<Box<ContractDetails>> },
    /// Instrument lookup.
    Instrument { request: RequestId, symbol: Symbol, details: Option<Box<ContractDetails>> },
    /// Historical bars.
    Bars { request: RequestId, symbol: Symbol, interval: BarInterval, start: UnixNanos, end: UnixNanos },
    /// Account summary.
    Account { request: RequestId, account: AccountId, values: HashMap<String, (String, String)> },
}

impl Waiting {
    fn request(&self) -> RequestId {
        match self {
            Self::Subscribe { request, .. } | Self::Instrument { request, .. } | Self::Bars { request, .. } | Self::Account { request, .. } => {
                *request
            }
        }
    }
}

/// A market data subscription.
#[derive(Debug)]
struct Sub {
    contract: Contract,
    req_id: Option<i64>,
    bid: Option<Decimal>,
    ask: Option<Decimal>,
    bid_size: Decimal,
    ask_size: Decimal,
    stats: SessionStats,
    /// The real-time bars request, and the minute being built from its 5-second bars.
    bars_req: Option<i64>,
    minute: Option<Minute>,
}

/// A one-minute bar being built from 5-second bars.
#[derive(Debug, Clone, Copy)]
struct Minute {
    start: i64,
    open: Decimal,
    high: Decimal,
    low: Decimal,
    close: Decimal,
    volume: Decimal,
}

/// An order this adapter placed (or learned of through its client id).
#[derive(Debug)]
struct Tracked {
    client: ClientOrderId,
    /// What the gateway asked for (orders placed here; the order's size for its executions).
    request: Option<OrderRequest>,
    broker: Option<BrokerOrderId>,
    accepted: bool,
    done: bool,
    last_error: Option<String>,
}

/// Which tracked order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    /// Ours, by order id.
    Ours(i64),
    /// Placed elsewhere, by permanent id.
    Foreign(i64),
}

/// A snapshot being gathered.
#[derive(Debug, Default)]
struct Gathering {
    requests: Vec<RequestId>,
    exec_req: i64,
    open_done: bool,
    exec_done: bool,
    positions_done: bool,
    open: IndexMap<i64, OpenOrder>,
    statuses: HashMap<i64, IbStatus>,
    executions: Vec<ExecDetails>,
    commissions: HashMap<String, txtrader_plugin_api::model::Commission>,
    positions: Vec<Position>,
}

/// The live session with TWS.
#[derive(Debug)]
struct Live {
    conn: Connection,
    next_order_id: Option<i64>,
    accounts: Option<Vec<AccountId>>,
    ready: bool,
}

/// The worker's state.
pub struct Worker {
    settings: Settings,
    timezone: chrono_tz::Tz,
    host: Host,
    to_self: Sender<Msg>,
    live: Option<Live>,
    connections: u64,
    attempts: u32,
    reconnect_at: Option<Instant>,
    pacer: Pacer,
    next_req: i64,
    waiting: HashMap<i64, (Waiting, Instant)>,
    subs: HashMap<Symbol, Sub>,
    by_md_req: HashMap<i64, Symbol>,
    by_bars_req: HashMap<i64, Symbol>,
    orders: HashMap<i64, Tracked>,
    by_perm: HashMap<i64, i64>,
    /// Orders placed elsewhere (TWS, other clients) that a snapshot reported, by permanent id.
    foreign: HashMap<i64, Tracked>,
    execs: HashSet<String>,
    /// The first execution id booked under each correction prefix (see
    /// [`mapping::exec_prefix`]).
    exec_prefixes: HashMap<String, String>,
    gathering: Option<Gathering>,
    clock_offset: i64,
    last_clock: Instant,
    greeted: bool,
    history: HistoryPacer,
    /// Historical requests waiting for IB's historical-data limits.
    history_queue: Vec<(Instant, String, HistoricalRequest)>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("connected", &self.live.is_some()).finish_non_exhaustive()
    }
}

impl Worker {
    /// A worker that has not connected yet.
    pub fn new(settings: Settings, timezone: chrono_tz::Tz, host: Host, to_self: Sender<Msg>) -> Self {
        let pace = settings.pace;
        Self {
            settings,
            timezone,
            host,
            to_self,
            live: None,
            connections: 0,
            attempts: 0,
            reconnect_at: None,
            pacer: Pacer::new(pace, Instant::now()),
            next_req: 10_000,
            waiting: HashMap::new(),
            subs: HashMap::new(),
            by_md_req: HashMap::new(),
            by_bars_req: HashMap::new(),
            orders: HashMap::new(),
            by_perm: HashMap::new(),
            foreign: HashMap::new(),
            execs: HashSet::new(),
            exec_prefixes: HashMap::new(),
            gathering: None,
            clock_offset: 0,
            last_clock: Instant::now(),
            greeted: false,
            history: HistoryPacer::default(),
            history_queue: Vec::new(),
        }
    }

    /// Runs until told to stop.
    pub fn run(mut self, rx: &Receiver<Msg>) {
        loop {
            let now = Instant::now();
            if self.greeted && self.live.is_none() && self.reconnect_at.is_none_or(|t| t <= now) {
                self.connect();
            }
            self.flush(Instant::now());
            let now = Instant::now();
            let mut wake = now + Duration::from_millis(500);
            if let Some(t) = self.pacer.next_release(now) {
                wake = wake.min(t);
            }
            if let (None, Some(t)) = (&self.live, self.reconnect_at) {
                wake = wake.min(t);
            }
            match rx.recv_timeout(wake.saturating_duration_since(now)) {
                Ok(Msg::Request(r)) => self.request(*r),
                Ok(Msg::Wire(Wire::Message(n, m))) if self.is_current(n) => self.incoming(m),
                Ok(Msg::Wire(Wire::Malformed(n, e))) if self.is_current(n) => {
                    self.host.log(LogLevel::Warn, &format!("TWS sent a message that does not decode, skipped: {e}"));
                }
                Ok(Msg::Wire(Wire::Closed(n, reason))) if self.is_current(n) => self.disconnected(reason),
                Ok(Msg::Wire(_)) | Err(RecvTimeoutError::Timeout) => {}
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            }
            self.timers();
        }
        if let Some(live) = self.live.take() {
            let _ = live.conn.stream.shutdown(std::net::Shutdown::Both);
        }
    }

    fn is_current(&self, n: u64) -> bool {
        self.live.as_ref().is_some_and(|l| l.conn.number == n)
    }

    // ----- connection

    fn connect(&mut self) {
        self.connections += 1;
        self.emit(AdapterEvent::Link(LinkState::Connecting));
        let (host, port) = (self.settings.host.clone(), self.settings.port);
        match connection::open(&host, port, self.connections, self.to_self.clone()) {
            Ok(conn) => {
                self.host.log(
                    LogLevel::Info,
                    &format!("connected to TWS at {host}:{port}, server version {} ({}); starting the API as client {}", conn.server_version, conn.connection_time, self.settings.client_id),
                );
                self.pacer = Pacer::new(self.settings.pace, Instant::now());
                let start = conn.encoder().start_api(self.settings.client_id);
                self.live = Some(Live { conn, next_order_id: None, accounts: None, ready: false });
                self.send(start);
                self.reconnect_at = None;
            }
            Err(reason) => self.schedule_reconnect(&reason),
        }
    }

    fn schedule_reconnect(&mut self, reason: &str) {
        self.attempts = self.attempts.saturating_add(1);
        let base = Duration::from_secs(1u64 << self.attempts.saturating_sub(1).min(10)).min(self.settings.reconnect_max);
        // ±25% jitter, so several gateways do not reconnect in step after a TWS restart
        let nanos = u64::from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos()));
        let jitter = 0.75 + (nanos % 1000) as f64 / 2000.0;
        let wait = base.mul_f64(jitter);
        self.reconnect_at = Some(Instant::now() + wait);
        self.host.log(LogLevel::Warn, &format!("TWS not reachable ({reason}); trying again in {:.1} s", wait.as_secs_f64()));
        self.emit(AdapterEvent::Link(LinkState::Disconnected { reason: reason.to_owned() }));
    }

    fn disconnected(&mut self, reason: String) {
        if let Some(live) = self.live.take() {
            let _ = live.conn.stream.shutdown(std::net::Shutdown::Both);
        }
        self.pacer.clear();
        for (_, (w, _)) in self.waiting.drain() {
            self.host.fail(w.request(), ErrorCode::NotConnected, format!("the connection to TWS was lost: {reason}"));
        }
        if let Some(g) = self.gathering.take() {
            for r in g.requests {
                self.host.fail(r, ErrorCode::NotConnected, format!("the connection to TWS was lost: {reason}"));
            }
        }
        for s in self.subs.values_mut() {
            s.req_id = None;
            s.bars_req = None;
            s.minute = None;
        }
        self.by_md_req.clear();
        self.by_bars_req.clear();
        self.attempts = 0;
        self.schedule_reconnect(&reason);
    }

    /// Both the next order id and the accounts arrived: the session is ready.
    fn maybe_ready(&mut self) {
        let Some(live) = self.live.as_mut() else { return };
        if live.ready || live.next_order_id.is_none() || live.accounts.is_none() {
            return;
        }
        live.ready = true;
        self.attempts = 0;
        let enc = live.conn.encoder();
        self.send(enc.req_current_time());
        self.send(enc.req_market_data_type(self.settings.market_data_type));
        // market data the host subscribed to before: again, on the new connection
        let symbols: Vec<Symbol> = self.subs.keys().cloned().collect();
        for symbol in symbols {
            self.start_market_data(&symbol);
        }
        self.host.log(LogLevel::Info, "TWS session ready");
        self.emit(AdapterEvent::Link(LinkState::Connected));
    }

    /// The encoder of the live connection, if there is one.
    fn encoder(&self) -> Option<Encoder> {
        self.live.as_ref().map(|l| l.conn.encoder())
    }

    fn ready(&self) -> bool {
        self.live.as_ref().is_some_and(|l| l.ready)
    }

    fn send(&mut self, frame: Vec<u8>) {
        self.pacer.push(frame);
        self.flush(Instant::now());
    }

    fn flush(&mut self, now: Instant) {
        if self.live.is_none() {
            return;
        }
        let due = self.pacer.due(now);
        let mut failed = None;
        if let Some(live) = self.live.as_mut() {
            for frame in due {
                if let Err(e) = live.conn.write(&frame) {
                    failed = Some(format!("writing to TWS: {e}"));
                    break;
                }
            }
        }
        if let Some(reason) = failed {
            self.disconnected(reason);
        }
    }

    fn req_id(&mut self) -> i64 {
        self.next_req += 1;
        self.next_req
    }

    fn emit(&self, event: AdapterEvent) {
        self.host.emit(&event);
    }

    fn timers(&mut self) {
        let now = Instant::now();
        if !self.history_queue.is_empty() {
            self.release_history(now);
        }
        let timeout = self.settings.request_timeout;
        let expired: Vec<i64> = self.waiting.iter().filter(|(_, (_, at))| now.duration_since(*at) > timeout).map(|(id, _)| *id).collect();
        for id in expired {
            if let Some((w, _)) = self.waiting.remove(&id) {
                self.host.fail(w.request(), ErrorCode::Internal, format!("TWS did not answer in {} s", timeout.as_secs()));
            }
        }
        if self.ready() && self.last_clock.elapsed() >= Duration::from_secs(1) {
            self.last_clock = now;
            let t = UnixNanos::now();
            let time = UnixNanos(t.0.saturating_add_signed(self.clock_offset));
            self.emit(AdapterEvent::Clock { time });
        }
    }

    // ----- requests from the host

    fn request(&mut self, r: AdapterRequest) {
        let id = r.id;
        match r.body {
            RequestBody::Hello(_) => {
                let hello = AdapterHello {
                    protocol_version: PROTOCOL_VERSION,
                    name: crate::NAME.into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    features: vec![FEATURE_GLOBAL_CANCEL.to_owned()],
                };
                self.host.reply(id, ReplyBody::Hello(hello));
                self.greeted = true;
            }
            _ if !self.ready() => {
                let reason = "not connected to TWS".to_owned();
                // orders and cancels are answered with order events, like when connected
                match r.body {
                    RequestBody::SubmitOrder(o) => self.order_event(None, &o.client_order_id, "rejected", OrderEventKind::Rejected { reason }),
                    RequestBody::CancelOrder { broker_order_id, client_order_id } => self.cancel_refused(broker_order_id, client_order_id, &reason),
                    RequestBody::GlobalCancel => self.host.log(LogLevel::Warn, &format!("global cancel not sent: {reason}")),
                    _ => self.host.fail(id, ErrorCode::NotConnected, reason),
                }
            }
            RequestBody::Snapshot => self.snapshot(id),
            RequestBody::SubmitOrder(o) => self.submit(o),
            RequestBody::CancelOrder { broker_order_id, client_order_id } => self.cancel(&broker_order_id, client_order_id),
            RequestBody::GlobalCancel => {
                // every open order of the account, placed here or elsewhere; the outcomes come
                // as order status messages
                if let Some(e) = self.encoder() {
                    self.send(e.req_global_cancel());
                }
            }
            RequestBody::Subscribe { symbol, exchange } => {
                if self.subs.contains_key(&symbol) {
                    // already streaming: the current market
                    let snap = self.market_snapshot(&symbol, None);
                    self.host.reply(id, ReplyBody::Market(snap));
                } else {
                    self.lookup(Waiting::Subscribe { request: id, symbol, details: None }, exchange.as_deref());
                }
            }
            RequestBody::Instrument { symbol, exchange } => {
                self.lookup(Waiting::Instrument { request: id, symbol, details: None }, exchange.as_deref());
            }
            RequestBody::Unsubscribe { symbol } => {
                if let Some(sub) = self.subs.remove(&symbol) {
                    if let (Some(req), Some(e)) = (sub.req_id, self.encoder()) {
                        self.by_md_req.remove(&req);
                        self.send(e.cancel_mkt_data(req));
                    }
                    if let (Some(req), Some(e)) = (sub.bars_req, self.encoder()) {
                        self.by_bars_req.remove(&req);
                        self.send(e.cancel_real_time_bars(req));
                    }
                }
                self.host.reply(id, ReplyBody::Done);
            }
            RequestBody::Bars { symbol, interval, start, end, exchange } => self.bars(id, symbol, interval, (start, end), exchange.as_deref()),
            RequestBody::Account { account } => {
                let req = self.req_id();
                let Some(e) = self.encoder() else { return };
                let frame = e.req_account_summary(
                    req,
                    "All",
                    "NetLiquidation,TotalCashValue,ExcessLiquidity,AvailableFunds,GrossPositionValue,BuyingPower",
                );
                self.waiting.insert(req, (Waiting::Account { request: id, account, values: HashMap::new() }, Instant::now()));
                self.send(frame);
            }
            RequestBody::ExportState | RequestBody::ImportState { .. } | RequestBody::Unknown => {
                self.host.fail(id, ErrorCode::Unsupported, "not supported by the TWS adapter");
            }
        }
    }

    fn lookup(&mut self, w: Waiting, primary_exchange: Option<&str>) {
        let symbol = match &w {
            Waiting::Subscribe { symbol, .. } | Waiting::Instrument { symbol, .. } => symbol.clone(),
            _ => return,
        };
        let req = self.req_id();
        let contract = mapping::contract(&self.settings, &symbol, primary_exchange);
        let Some(e) = self.encoder() else { return };
        let frame = e.req_contract_details(req, &contract);
        self.waiting.insert(req, (w, Instant::now()));
        self.send(frame);
    }

    fn start_market_data(&mut self, symbol: &Symbol) {
        let (req, bars_req) = (self.req_id(), self.req_id());
        let live_bars = self.settings.live_bars;
        let Some(sub) = self.subs.get_mut(symbol) else { return };
        sub.req_id = Some(req);
        sub.bars_req = live_bars.then_some(bars_req);
        sub.minute = None;
        let contract = sub.contract.clone();
        self.by_md_req.insert(req, symbol.clone());
        let Some(enc) = self.encoder() else { return };
        self.send(enc.req_mkt_data(req, &contract, "", false));
        if live_bars {
            self.by_bars_req.insert(bars_req, symbol.clone());
            self.send(enc.req_real_time_bars(bars_req, &contract, "TRADES", false));
        }
    }

    /// A 5-second bar: added to its minute, which is reported once complete (its last
    /// 5-second bar, or the first of the next minute, arrived).
    fn real_time_bar(&mut self, req_id: i64, time: i64, ohlc: [Decimal; 4], volume: Decimal) {
        let Some(symbol) = self.by_bars_req.get(&req_id).cloned() else { return };
        let Some(sub) = self.subs.get_mut(&symbol) else { return };
        let start = time - time.rem_euclid(60);
        let mut done = Vec::new();
        if let Some(m) = sub.minute.filter(|m| m.start != start) {
            done.push(m);
            sub.minute = None;
        }
        let [open, high, low, close] = ohlc;
        let m = sub.minute.get_or_insert(Minute { start, open, high, low, close, volume: Decimal::ZERO });
        m.high = m.high.max(high);
        m.low = m.low.min(low);
        m.close = close;
        m.volume += volume.max(Decimal::ZERO);
        if time.rem_euclid(60) >= 55 {
            done.extend(sub.minute.take());
        }
        for m in done {
            let Ok(start) = u64::try_from(m.start) else { continue };
            let bar = txtrader_plugin_api::model::Bar {
                symbol: symbol.clone(),
                interval: BarInterval::Minutes(1),
                start: UnixNanos(start.saturating_mul(1_000_000_000)),
                open: Price::new(m.open),
                high: Price::new(m.high),
                low: Price::new(m.low),
                close: Price::new(m.close),
                volume: Quantity::new(m.volume).unwrap_or(Quantity::ZERO),
            };
            self.emit(AdapterEvent::Bar(bar));
        }
    }

    fn bars(&mut self, id: RequestId, symbol: Symbol, interval: BarInterval, (start, end): (UnixNanos, UnixNanos), primary_exchange: Option<&str>) {
        let Some(bar_size) = mapping::bar_size(interval) else {
            self.host.fail(id, ErrorCode::Unsupported, format!("IB has no {interval:?} bars"));
            return;
        };
        let req = self.req_id();
        let r = HistoricalRequest {
            req_id: req,
            contract: mapping::contract(&self.settings, &symbol, primary_exchange),
            end: mapping::end_time(end),
            bar_size: bar_size.into(),
            duration: mapping::duration(start, end, interval),
            use_rth: true,
            what_to_show: "TRADES".into(),
            format_date: 2,
            keep_up_to_date: false,
        };
        let key = format!("{:?}|{}|{}|{}|{}", r.contract, r.end, r.bar_size, r.duration, r.what_to_show);
        let now = Instant::now();
        let at = self.history.allowed_at(&key, now);
        if at.saturating_duration_since(now) >= self.settings.request_timeout {
            let wait = at.saturating_duration_since(now).as_secs();
            self.host.fail(id, ErrorCode::InvalidRequest, format!("IB's historical-data pacing (60 requests in 10 minutes, the same one not within 15 s) allows this request in {wait} s"));
            return;
        }
        self.waiting.insert(req, (Waiting::Bars { request: id, symbol, interval, start, end }, now));
        if at > now {
            self.host.log(LogLevel::Info, &format!("historical request waits {:.1} s for IB's historical-data pacing", (at - now).as_secs_f64()));
        }
        self.history_queue.push((at, key, r));
        self.release_history(now);
    }

    /// Sends the historical requests whose time came.
    fn release_history(&mut self, now: Instant) {
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.history_queue).into_iter().partition(|(at, _, _)| *at <= now);
        self.history_queue = later;
        for (_, key, r) in due {
            // the waiting time does not count against the request's deadline
            if let Some((_, since)) = self.waiting.get_mut(&r.req_id) {
                *since = now;
            } else {
                continue; // failed meanwhile (disconnected)
            }
            let at = self.history.allowed_at(&key, now);
            if at > now {
                self.history_queue.push((at, key, r));
                continue;
            }
            self.history.sent(key, now);
            let Some(e) = self.encoder() else { return };
            self.send(e.req_historical_data(&r));
        }
    }

    fn snapshot(&mut self, id: RequestId) {
        if let Some(g) = self.gathering.as_mut() {
            g.requests.push(id);
            return;
        }
        let exec_req = self.req_id();
        let Some(enc) = self.encoder() else { return };
        self.gathering = Some(Gathering { requests: vec![id], exec_req, ..Gathering::default() });
        // every client's open orders (orders placed elsewhere show up too), today's
        // executions, positions
        self.send(enc.req_all_open_orders());
        self.send(enc.req_executions(exec_req, &ExecutionFilter::default()));
        self.send(enc.req_positions());
    }

    fn submit(&mut self, o: OrderRequest) {
        let Some(order_id) = self.live.as_mut().and_then(|l| {
            let id = l.next_order_id?;
            l.next_order_id = Some(id + 1);
            Some(id)
        }) else {
            return;
        };
        let Some(e) = self.encoder() else { return };
        let frame = e.place_order(&mapping::order(&self.settings, order_id, &o));
        self.orders.insert(
            order_id,
            Tracked { client: o.client_order_id.clone(), request: Some(o), broker: None, accepted: false, done: false, last_error: None },
        );
        self.send(frame);
    }

    fn cancel(&mut self, broker: &BrokerOrderId, client: Option<ClientOrderId>) {
        let order_id = broker.as_str().parse::<i64>().ok().and_then(|perm| self.by_perm.get(&perm).copied());
        match order_id {
            Some(order_id) => {
                if let Some(e) = self.encoder() {
                    self.send(e.cancel_order(order_id));
                }
            }
            None => self.cancel_refused(broker.clone(), client, "the order was not placed by this API client (cancel it in TWS, or with global_cancel)"),
        }
    }

    /// A cancel that does not reach TWS, answered as the broker would: the order resumes.
    fn cancel_refused(&self, broker_order_id: BrokerOrderId, client_order_id: Option<ClientOrderId>, reason: &str) {
        let event = OrderEvent {
            event_id: format!("cancel-refused-{}", UnixNanos::now().0),
            broker_order_id,
            client_order_id,
            ts_event: UnixNanos::now(),
            kind: OrderEventKind::CancelRejected { reason: reason.to_owned() },
        };
        self.emit(AdapterEvent::Order(event));
    }

    // ----- messages from TWS

    fn incoming(&mut self, m: Incoming) {
        match m {
            Incoming::NextValidId { order_id } => {
                if let Some(live) = self.live.as_mut() {
                    let next = live.next_order_id.map_or(order_id, |n| n.max(order_id));
                    live.next_order_id = Some(next);
                }
                self.maybe_ready();
            }
            Incoming::ManagedAccounts { accounts } => {
                let accounts: Vec<AccountId> = accounts.into_iter().filter_map(|a| AccountId::new(a).ok()).collect();
                if let Some(live) = self.live.as_mut() {
                    live.accounts = Some(accounts);
                }
                self.maybe_ready();
            }
            Incoming::CurrentTime { epoch } => {
                let now = UnixNanos::now().0 as i128;
                let theirs = i128::from(epoch) * 1_000_000_000;
                self.clock_offset = i64::try_from(theirs - now).unwrap_or(0);
                if self.clock_offset.abs() < 1_000_000_000 {
                    self.clock_offset = 0; // within the second TWS reports in: our clock
                }
            }
            Incoming::Error { req_id, code, message, .. } => self.error(req_id, code, message),
            Incoming::ContractData(d) => {
                if let Some((Waiting::Subscribe { details, .. } | Waiting::Instrument { details, .. }, _)) = self.waiting.get_mut(&d.req_id) {
                    details.get_or_insert(d);
                }
            }
            Incoming::ContractDataEnd { req_id } => self.contract_end(req_id),
            Incoming::TickPrice { req_id, tick_type, price, size, .. } => self.tick_price(req_id, tick_type, price, size),
            Incoming::TickSize { req_id, tick_type, size } => self.tick_size(req_id, tick_type, size),
            Incoming::TickString { .. } | Incoming::TickGeneric { .. } | Incoming::MarketDataType { .. } | Incoming::TickSnapshotEnd { .. } => {}
            Incoming::HistoricalData { req_id, bars } => {
                if let Some((Waiting::Bars { request, symbol, interval, start, end }, _)) = self.waiting.remove(&req_id) {
                    let bars = bars
                        .iter()
                        .filter_map(|b| mapping::bar(&symbol, interval, b, self.timezone))
                        .filter(|b| b.start >= start && b.start <= end)
                        .collect();
                    self.host.reply(request, ReplyBody::Bars { bars });
                }
            }
            Incoming::HistoricalDataEnd { .. } => {}
            Incoming::RealTimeBar { req_id, time, open, high, low, close, volume } => {
                self.real_time_bar(req_id, time, [open, high, low, close], volume.unwrap_or_default());
            }
            Incoming::AccountSummary { req_id, account, tag, value, currency } => {
                if let Some((Waiting::Account { account: want, values, .. }, _)) = self.waiting.get_mut(&req_id) {
                    if want.as_str() == account {
                        values.insert(tag, (value, currency));
                    }
                }
            }
            Incoming::AccountSummaryEnd { req_id } => self.account_end(req_id),
            Incoming::OpenOrder(o) => self.open_order(*o),
            Incoming::OrderStatus(s) => self.order_status(s),
            Incoming::OpenOrderEnd => {
                if let Some(g) = self.gathering.as_mut() {
                    g.open_done = true;
                }
                self.maybe_snapshot_done();
            }
            Incoming::ExecDetails(x) => self.exec_details(*x),
            Incoming::ExecDetailsEnd { req_id } => {
                if let Some(g) = self.gathering.as_mut().filter(|g| g.exec_req == req_id) {
                    g.exec_done = true;
                }
                self.maybe_snapshot_done();
            }
            Incoming::Position { account, contract, position, avg_cost } => {
                let (Ok(account), Some(symbol)) = (AccountId::new(account), mapping::symbol_of(&self.settings, &contract)) else { return };
                if let Some(g) = self.gathering.as_mut() {
                    g.positions.push(Position { account, symbol, quantity: SignedQuantity::new(position), avg_price: avg_cost.map(Price::new) });
                }
            }
            Incoming::PositionEnd => {
                if let Some(g) = self.gathering.as_mut() {
                    g.positions_done = true;
                }
                if let Some(e) = self.encoder() {
                    self.send(e.cancel_positions());
                }
                self.maybe_snapshot_done();
            }
            Incoming::Commission { exec_id, commission, currency, .. } => {
                let (Some(c), Ok(id)) = (mapping::commission(commission, &currency), txtrader_plugin_api::model::ExecutionId::new(exec_id.clone()))
                else {
                    return;
                };
                if let Some(g) = self.gathering.as_mut() {
                    g.commissions.insert(exec_id, c.clone());
                }
                // the host books it with the execution, once it knows the execution
                self.emit(AdapterEvent::Commission { exec_id: id, commission: c });
            }
            Incoming::AccountValue { .. }
            | Incoming::Portfolio { .. }
            | Incoming::AccountTime { .. }
            | Incoming::AccountDownloadEnd { .. }
            | Incoming::CompletedOrdersEnd
            | Incoming::Unknown { .. } => {}
        }
    }

    fn contract_end(&mut self, req_id: i64) {
        let Some((w, _)) = self.waiting.remove(&req_id) else { return };
        match w {
            Waiting::Subscribe { request, symbol, details: Some(d) } => {
                let instrument = mapping::instrument(&symbol, &d);
                let mut contract = mapping::contract(&self.settings, &symbol, Some(&d.primary_exchange));
                contract.con_id = d.contract.con_id;
                let stats = SessionStats {
                    symbol: symbol.clone(),
                    open: None,
                    high: None,
                    low: None,
                    prev_close: None,
                    vwap: None,
                    volume: Quantity::ZERO,
                    ts_event: UnixNanos::now(),
                };
                self.subs.insert(
                    symbol.clone(),
                    Sub {
                        contract,
                        req_id: None,
                        bid: None,
                        ask: None,
                        bid_size: Decimal::ZERO,
                        ask_size: Decimal::ZERO,
                        stats,
                        bars_req: None,
                        minute: None,
                    },
                );
                self.start_market_data(&symbol);
                let snap = self.market_snapshot(&symbol, Some(instrument));
                self.host.reply(request, ReplyBody::Market(snap));
            }
            Waiting::Instrument { request, symbol, details: Some(d) } => {
                self.host.reply(request, ReplyBody::Instrument(mapping::instrument(&symbol, &d)));
            }
            Waiting::Subscribe { request, .. } | Waiting::Instrument { request, .. } => {
                self.host.reply(request, ReplyBody::SymbolInvalid { reason: "no contract found at IB".into() });
            }
            other => {
                self.waiting.insert(req_id, (other, Instant::now()));
            }
        }
    }

    fn market_snapshot(&self, symbol: &Symbol, instrument: Option<Instrument>) -> MarketSnapshot {
        let sub = self.subs.get(symbol);
        let instrument = instrument.unwrap_or_else(|| Instrument {
            symbol: symbol.clone(),
            name: symbol.as_str().to_owned(),
            cusip: None,
            exchange: None,
            currency: self.settings.currency.clone(),
            session: txtrader_plugin_api::model::SessionHours {
                start: chrono::NaiveTime::from_hms_opt(9, 30, 0).unwrap_or_default(),
                stop: chrono::NaiveTime::from_hms_opt(16, 0, 0).unwrap_or_default(),
                timezone: "America/New_York".into(),
            },
        });
        MarketSnapshot {
            instrument,
            quote: sub.filter(|s| s.bid.is_some() || s.ask.is_some()).map(|s| quote(symbol, s)),
            last_trade: None,
            stats: sub.map(|s| s.stats.clone()),
        }
    }

    fn tick_price(&mut self, req_id: i64, tick_type: i64, price: Option<Decimal>, size: Option<Decimal>) {
        let Some(symbol) = self.by_md_req.get(&req_id).cloned() else { return };
        let Some(sub) = self.subs.get_mut(&symbol) else { return };
        let now = UnixNanos::now();
        // delayed ticks (66–76) are the real-time ones shifted by 65 (bid/ask/last) or 66
        let t = match tick_type {
            66..=68 => tick_type - 65,
            72 | 73 => tick_type - 66,
            75 | 76 => tick_type - 66,
            other => other,
        };
        let positive = price.filter(|p| *p > Decimal::ZERO);
        match t {
            1 | 2 => {
                if t == 1 {
                    sub.bid = positive;
                    sub.bid_size = size.unwrap_or(sub.bid_size);
                } else {
                    sub.ask = positive;
                    sub.ask_size = size.unwrap_or(sub.ask_size);
                }
                let q = quote(&symbol, sub);
                self.emit(AdapterEvent::Quote(q));
            }
            4 => {
                let (Some(p), Ok(size)) = (positive, Quantity::new(size.unwrap_or_default().max(Decimal::ZERO))) else { return };
                self.emit(AdapterEvent::Trade(Trade { symbol, price: Price::new(p), size, ts_event: now }));
            }
            6 | 7 | 9 | 14 => {
                let p = positive.map(Price::new);
                match t {
                    6 => sub.stats.high = p,
                    7 => sub.stats.low = p,
                    9 => sub.stats.prev_close = p,
                    _ => sub.stats.open = p,
                }
                sub.stats.ts_event = now;
                let stats = sub.stats.clone();
                self.emit(AdapterEvent::Stats(stats));
            }
            _ => {}
        }
    }

    fn tick_size(&mut self, req_id: i64, tick_type: i64, size: Option<Decimal>) {
        let Some(symbol) = self.by_md_req.get(&req_id).cloned() else { return };
        let Some(sub) = self.subs.get_mut(&symbol) else { return };
        let size = size.unwrap_or_default().max(Decimal::ZERO);
        match tick_type {
            0 | 69 => sub.bid_size = size,
            3 | 70 => sub.ask_size = size,
            8 | 74 => {
                sub.stats.volume = Quantity::new(size).unwrap_or(Quantity::ZERO);
                sub.stats.ts_event = UnixNanos::now();
                let stats = sub.stats.clone();
                self.emit(AdapterEvent::Stats(stats));
                return;
            }
            _ => return,
        }
        let q = quote(&symbol, sub);
        self.emit(AdapterEvent::Quote(q));
    }

    fn account_end(&mut self, req_id: i64) {
        let Some((Waiting::Account { request, account, values }, _)) = self.waiting.remove(&req_id) else { return };
        if let Some(e) = self.encoder() {
            self.send(e.cancel_account_summary(req_id));
        }
        if values.is_empty() {
            self.host.reply(request, ReplyBody::Account { summary: None });
            return;
        }
        let money = |tag: &str| {
            values.get(tag).and_then(|(v, _)| crate::proto::text::decimal(v).ok().flatten()).map_or(Money::new(Decimal::ZERO), Money::new)
        };
        let currency = values.get("NetLiquidation").map_or_else(|| self.settings.currency.clone(), |(_, c)| c.clone());
        let excess = if values.contains_key("ExcessLiquidity") { money("ExcessLiquidity") } else { money("AvailableFunds") };
        let summary = AccountSummary {
            account,
            currency,
            cash: money("TotalCashValue"),
            equity: money("NetLiquidation"),
            excess_equity: excess,
            gross_position_value: money("GrossPositionValue"),
            buying_power: money("BuyingPower"),
            ts_event: UnixNanos::now(),
        };
        self.host.reply(request, ReplyBody::Account { summary: Some(summary) });
    }

    // ----- orders

    fn order_event(&self, broker: Option<&BrokerOrderId>, client: &ClientOrderId, event_id: &str, kind: OrderEventKind) {
        // before TWS gave the order a permanent id (refused at once): the gateway's id stands in
        let broker = broker.cloned().or_else(|| BrokerOrderId::new(format!("ib-{client}")).ok());
        let Some(broker_order_id) = broker else { return };
        let event = OrderEvent {
            event_id: event_id.to_owned(),
            broker_order_id,
            client_order_id: Some(client.clone()),
            ts_event: UnixNanos::now(),
            kind,
        };
        self.emit(AdapterEvent::Order(event));
    }

    /// Which tracked order a message is about: one of ours (by order id, or by permanent id
    /// once known), or one placed elsewhere that a snapshot reported (by permanent id).
    fn key_of(&self, client_id: i64, order_id: i64, perm_id: i64) -> Option<Key> {
        if client_id == self.settings.client_id && self.orders.contains_key(&order_id) {
            return Some(Key::Ours(order_id));
        }
        if let Some(id) = self.by_perm.get(&perm_id) {
            return Some(Key::Ours(*id));
        }
        self.foreign.contains_key(&perm_id).then_some(Key::Foreign(perm_id))
    }

    fn tracked(&mut self, key: Key) -> Option<&mut Tracked> {
        match key {
            Key::Ours(id) => self.orders.get_mut(&id),
            Key::Foreign(perm) => self.foreign.get_mut(&perm),
        }
    }

    /// The first message naming one of our orders' permanent id acknowledges it.
    fn learn_perm(&mut self, key: Key, perm_id: i64) {
        let Key::Ours(order_id) = key else { return };
        let Some(t) = self.orders.get_mut(&order_id) else { return };
        if t.broker.is_some() || perm_id <= 0 {
            return;
        }
        let Some(broker) = mapping::broker_id(perm_id) else { return };
        t.broker = Some(broker.clone());
        self.by_perm.insert(perm_id, order_id);
        let client = t.client.clone();
        self.order_event(Some(&broker), &client, "ack", OrderEventKind::Acknowledged);
    }

    fn working(&mut self, key: Key, ib_status: &str) {
        let Some(t) = self.tracked(key) else { return };
        let Some(broker) = t.broker.clone() else { return };
        let client = t.client.clone();
        let event = match ib_status {
            "PreSubmitted" | "Submitted" if !t.accepted => {
                t.accepted = true;
                ("accepted", OrderEventKind::Accepted)
            }
            "Cancelled" | "ApiCancelled" if !t.done => {
                t.done = true;
                ("cancelled", OrderEventKind::Cancelled { reason: t.last_error.clone() })
            }
            "Inactive" if !t.done => {
                t.done = true;
                ("rejected", OrderEventKind::Rejected { reason: t.last_error.clone().unwrap_or_else(|| "inactive at TWS".into()) })
            }
            _ => return,
        };
        self.order_event(Some(&broker), &client, event.0, event.1);
    }

    fn open_order(&mut self, o: OpenOrder) {
        if let Some(key) = self.key_of(o.client_id, o.order.order_id, o.perm_id) {
            self.learn_perm(key, o.perm_id);
            self.working(key, &o.status);
        }
        if let Some(g) = self.gathering.as_mut() {
            g.open.insert(o.perm_id, o);
        }
    }

    fn order_status(&mut self, s: IbStatus) {
        if let Some(key) = self.key_of(s.client_id, s.order_id, s.perm_id) {
            self.learn_perm(key, s.perm_id);
            self.working(key, &s.status);
        }
        if let Some(g) = self.gathering.as_mut() {
            g.statuses.insert(s.perm_id, s);
        }
    }

    fn exec_details(&mut self, x: ExecDetails) {
        if let Some(g) = self.gathering.as_mut().filter(|g| g.exec_req == x.req_id) {
            g.executions.push(x.clone());
        }
        let Some(key) = self.key_of(x.client_id, x.order_id, x.perm_id) else { return };
        if !self.execs.insert(x.exec_id.clone()) {
            return;
        }
        if self.is_correction(&x.exec_id) {
            return;
        }
        self.learn_perm(key, x.perm_id);
        let Some(t) = self.tracked(key) else { return };
        let (Some(broker), Ok(exec_id), Ok(quantity)) =
            (t.broker.clone(), txtrader_plugin_api::model::ExecutionId::new(x.exec_id.clone()), Quantity::new(x.shares))
        else {
            return;
        };
        let client = t.client.clone();
        let fill = Fill { exec_id, quantity, price: Price::new(x.price), venue_fill_id: (!x.exchange.is_empty()).then(|| x.exchange.clone()) };
        self.order_event(Some(&broker), &client, &x.exec_id, OrderEventKind::Filled(fill));
    }

    /// An execution correction (a new revision of an execution already booked) is not booked
    /// as another fill: that would count the shares twice. It is raised for the operator; the
    /// broker's positions, taken at each reconciliation, are right either way.
    fn is_correction(&mut self, exec_id: &str) -> bool {
        let prefix = mapping::exec_prefix(exec_id).to_owned();
        match self.exec_prefixes.get(&prefix) {
            Some(first) if first != exec_id => {
                let message = format!("IB corrected execution {first} with {exec_id}; the correction is not booked as a new fill, positions follow the broker at the next reconciliation");
                self.host.log(LogLevel::Warn, &message);
                self.emit(AdapterEvent::Alert { level: AlertLevel::Warning, code: None, message });
                true
            }
            Some(_) => false,
            None => {
                self.exec_prefixes.insert(prefix, exec_id.to_owned());
                false
            }
        }
    }

    fn error(&mut self, req_id: i64, code: i64, message: String) {
        let text = format!("IB {code}: {message}");
        // connection-wide notices
        if (2100..=2199).contains(&code) || code == 10167 {
            self.host.log(LogLevel::Info, &text);
            return;
        }
        if let Some((w, _)) = self.waiting.remove(&req_id) {
            match w {
                Waiting::Subscribe { request, .. } | Waiting::Instrument { request, .. } if code == 200 => {
                    self.host.reply(request, ReplyBody::SymbolInvalid { reason: message });
                }
                other => self.host.fail(other.request(), ErrorCode::InvalidRequest, text),
            }
            return;
        }
        if let Some(t) = self.orders.get_mut(&req_id) {
            let (client, broker) = (t.client.clone(), t.broker.clone());
            match code {
                202 => {
                    if !t.done {
                        t.done = true;
                        let reason = Some(message).filter(|m| !m.trim_end_matches(':').ends_with("reason") && !m.is_empty());
                        self.order_event(broker.as_ref(), &client, "cancelled", OrderEventKind::Cancelled { reason });
                    }
                }
                10147 | 10148 => {
                    self.order_event(broker.as_ref(), &client, &format!("cancel-rejected-{code}-{}", UnixNanos::now().0), OrderEventKind::CancelRejected { reason: text });
                }
                399 => self.host.log(LogLevel::Warn, &format!("order {client}: {text}")),
                _ if !t.done && (t.broker.is_none() || matches!(code, 201 | 103 | 104 | 105 | 110)) => {
                    t.done = true;
                    t.last_error = Some(text.clone());
                    self.order_event(broker.as_ref(), &client, "rejected", OrderEventKind::Rejected { reason: text });
                }
                _ => {
                    t.last_error = Some(text.clone());
                    self.host.log(LogLevel::Warn, &format!("order {client}: {text}"));
                }
            }
            return;
        }
        if let Some(symbol) = self.by_md_req.get(&req_id).or_else(|| self.by_bars_req.get(&req_id)) {
            let message = format!("market data for {symbol}: {text}");
            self.host.log(LogLevel::Warn, &message);
            self.emit(AdapterEvent::Alert { level: AlertLevel::Warning, code: Some(code), message });
            return;
        }
        match code {
            1100 => {
                self.host.log(LogLevel::Warn, &format!("{text} (TWS lost IB's servers; orders wait)"));
                self.emit(AdapterEvent::Alert { level: AlertLevel::Warning, code: Some(code), message: text });
            }
            1101 | 1102 => {
                self.host.log(LogLevel::Info, &text);
                if code == 1101 {
                    let symbols: Vec<Symbol> = self.subs.keys().cloned().collect();
                    for s in symbols {
                        self.start_market_data(&s);
                    }
                }
                self.emit(AdapterEvent::Alert { level: AlertLevel::Info, code: Some(code), message: text });
            }
            1300 | 326 => {
                self.host.log(LogLevel::Warn, &text);
                self.disconnected(text);
            }
            _ => {
                self.host.log(LogLevel::Warn, &text);
                self.emit(AdapterEvent::Alert { level: AlertLevel::Warning, code: Some(code), message: text });
            }
        }
    }

    fn maybe_snapshot_done(&mut self) {
        if !self.gathering.as_ref().is_some_and(|g| g.open_done && g.exec_done && g.positions_done) {
            return;
        }
        let Some(g) = self.gathering.take() else { return };
        let accounts = self.live.as_ref().and_then(|l| l.accounts.clone()).unwrap_or_default();
        let mut snapshot = BrokerSnapshot { accounts, balances: Vec::new(), positions: g.positions, orders: Vec::new(), executions: Vec::new() };
        let mut filled_by_perm: HashMap<i64, Decimal> = HashMap::new();
        for x in &g.executions {
            *filled_by_perm.entry(x.perm_id).or_default() += x.shares;
        }
        for (perm, o) in &g.open {
            let status = g.statuses.get(perm);
            let ours = matches!(self.key_of(o.client_id, o.order.order_id, *perm), Some(Key::Ours(_)));
            let (Some(request), Some(broker)) = (mapping::request_of(&self.settings, o, ours), mapping::broker_id(*perm)) else { continue };
            if !ours {
                // placed elsewhere: its later updates are reported too
                self.foreign.entry(*perm).or_insert_with(|| Tracked {
                    client: request.client_order_id.clone(),
                    request: None,
                    broker: Some(broker.clone()),
                    accepted: true,
                    done: false,
                    last_error: None,
                });
            }
            let filled = status.map_or_else(|| filled_by_perm.get(perm).copied().unwrap_or_default(), |s| s.filled);
            let ib_status = status.map_or(o.status.as_str(), |s| s.status.as_str());
            snapshot.orders.push(OrderSnapshot {
                request,
                broker_order_id: broker,
                status: mapping::status(ib_status, filled),
                filled_quantity: Quantity::new(filled).unwrap_or(Quantity::ZERO),
                avg_price: status.and_then(|s| s.avg_fill_price).filter(|p| *p > Decimal::ZERO).map(Price::new),
                reason: None,
                ts_event: UnixNanos::now(),
            });
        }
        let mut first_revision: HashMap<String, String> = HashMap::new();
        for x in &g.executions {
            // a correction of an execution reported before (or earlier in this list) is left out
            let prefix = mapping::exec_prefix(&x.exec_id);
            match self.exec_prefixes.get(prefix).or_else(|| first_revision.get(prefix)) {
                Some(first) if *first != x.exec_id => continue,
                Some(_) => {}
                None => {
                    first_revision.insert(prefix.to_owned(), x.exec_id.clone());
                }
            }
            let tracked = self.by_perm.get(&x.perm_id).and_then(|id| self.orders.get(id));
            let client = tracked.map(|t| t.client.clone());
            let total = tracked.and_then(|t| t.request.as_ref()).map(|r| r.quantity.as_decimal());
            if let Some(e) = mapping::execution(&self.settings, x, client, total, g.commissions.get(&x.exec_id).cloned()) {
                self.execs.insert(x.exec_id.clone());
                snapshot.executions.push(e);
            }
        }
        for r in g.requests {
            self.host.reply(r, ReplyBody::Snapshot(snapshot.clone()));
        }
    }
}

fn quote(symbol: &Symbol, s: &Sub) -> Quote {
    Quote {
        symbol: symbol.clone(),
        bid: s.bid.map(Price::new),
        bid_size: Quantity::new(s.bid_size).unwrap_or(Quantity::ZERO),
        ask: s.ask.map(Price::new),
        ask_size: Quantity::new(s.ask_size).unwrap_or(Quantity::ZERO),
        ts_event: UnixNanos::now(),
    }
}
