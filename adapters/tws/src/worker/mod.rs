//! The adapter's thread: owns the connection to TWS and everything the adapter knows, takes
//! the host's requests and TWS's messages from one channel, and answers through the host.
//!
//! Connection life ([`session`]): connect and greet, `startApi`, and report `Connected` once both
//! the next valid order id and the managed accounts arrived. Any disconnect (TWS closing, IB
//! Gateway's daily restart, a protocol error) reports `Disconnected`, fails what was waiting,
//! and reconnects after 1, 2, 4 … s (capped, with jitter); then market data is subscribed again
//! and the host asks for a snapshot ([`snapshot`]), which reconciles orders, executions and
//! positions.
//!
//! Orders ([`orders`]): order ids are the next valid id from TWS, counted up locally; a new
//! connection's id is always taken. An order's broker id is TWS's permanent id (`permId`), known
//! from its first openOrder or orderStatus. Fills come from execDetails, deduplicated by
//! execution id. Market data, bars and account values are [`market_data`]'s.
//!
//! This file holds the worker's state, its loop, and the dispatch of requests, TWS messages and
//! TWS errors (classified in [`crate::mapping`]) to those concerns.

mod market_data;
mod orders;
mod session;
mod snapshot;

use crate::connection::Wire;
use crate::mapping::{self, IbError};
use crate::pacer::{HistoryPacer, Pacer};
use crate::proto::decode::Incoming;
use crate::proto::encode::HistoricalRequest;
use crate::settings::Settings;
use market_data::{Sub, Waiting};
use orders::Tracked;
use session::Live;
use snapshot::Gathering;
use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};
use txtrader_plugin_api::adapter::{Host, LogLevel};
use txtrader_plugin_api::model::{AccountId, Position, Price, SignedQuantity, Symbol, UnixNanos};
use txtrader_plugin_api::wire::{
    AdapterEvent, AdapterHello, AdapterRequest, AlertLevel, ErrorCode, OrderEventKind, ReplyBody, RequestBody, FEATURE_GLOBAL_CANCEL, FEATURE_MODIFY,
    PROTOCOL_VERSION,
};

/// What reaches the worker: the host's requests, TWS's messages, the order to stop.
pub type Msg = txtrader_plugin_api::worker_thread::WorkerMsg<Wire>;

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

    fn request(&mut self, r: AdapterRequest) {
        let id = r.id;
        match r.body {
            RequestBody::Hello(_) => {
                let hello = AdapterHello {
                    protocol_version: PROTOCOL_VERSION,
                    name: crate::NAME.into(),
                    version: crate::VERSION.into(),
                    features: vec![FEATURE_GLOBAL_CANCEL.to_owned(), FEATURE_MODIFY.to_owned()],
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
                    RequestBody::ModifyOrder { broker_order_id, client_order_id, .. } => self.modify_refused(broker_order_id, client_order_id, &reason),
                    RequestBody::GlobalCancel => self.host.log(LogLevel::Warn, &format!("global cancel not sent: {reason}")),
                    _ => self.host.fail(id, ErrorCode::NotConnected, reason),
                }
            }
            RequestBody::Snapshot => self.snapshot(id),
            RequestBody::SubmitOrder(o) => self.submit(o),
            RequestBody::CancelOrder { broker_order_id, client_order_id } => self.cancel(&broker_order_id, client_order_id),
            RequestBody::ModifyOrder { broker_order_id, client_order_id, quantity, order_type } => self.modify(&broker_order_id, client_order_id, quantity, order_type),
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
            RequestBody::Unsubscribe { symbol } => self.unsubscribe(id, &symbol),
            RequestBody::Bars { symbol, interval, start, end, exchange } => self.bars(id, symbol, interval, (start, end), exchange.as_deref()),
            RequestBody::Account { account } => self.account(id, account),
            RequestBody::ExportState | RequestBody::CopyState | RequestBody::ImportState { .. } | RequestBody::Unknown => {
                self.host.fail(id, ErrorCode::Unsupported, "not supported by the TWS adapter");
            }
        }
    }

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

    /// An error message from TWS, about a request, an order, market data, or the connection.
    fn error(&mut self, req_id: i64, code: i64, message: String) {
        let text = format!("IB {code}: {message}");
        let class = mapping::ib_error(code);
        if class == IbError::Notice {
            self.host.log(LogLevel::Info, &text);
            return;
        }
        if let Some((w, _)) = self.waiting.remove(&req_id) {
            match w {
                Waiting::Subscribe { request, .. } | Waiting::Instrument { request, .. } if class == IbError::NoSecurity => {
                    self.host.reply(request, ReplyBody::SymbolInvalid { reason: message });
                }
                other => self.host.fail(other.request(), ErrorCode::InvalidRequest, text),
            }
            return;
        }
        if let Some(t) = self.orders.get_mut(&req_id) {
            let (client, broker) = (t.client.clone(), t.broker.clone());
            match class {
                IbError::OrderCancelled => {
                    if !t.done {
                        t.done = true;
                        let reason = Some(message).filter(|m| !m.trim_end_matches(':').ends_with("reason") && !m.is_empty());
                        self.order_event(broker.as_ref(), &client, "cancelled", OrderEventKind::Cancelled { reason });
                    }
                }
                IbError::CancelRefused => {
                    self.order_event(broker.as_ref(), &client, &format!("cancel-rejected-{code}-{}", UnixNanos::now().0), OrderEventKind::CancelRejected { reason: text });
                }
                IbError::OrderWarning => self.host.log(LogLevel::Warn, &format!("order {client}: {text}")),
                // an error while a change is pending refuses the change; the order goes on
                _ if t.modifying.is_some() && t.broker.is_some() => {
                    t.modifying = None;
                    if let Some(broker) = broker {
                        self.modify_refused(broker, Some(client), &text);
                    }
                }
                // before TWS acknowledged it, any error rejects the order
                _ if !t.done && (t.broker.is_none() || class == IbError::OrderRejected) => {
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
        match class {
            IbError::ConnectivityLost => {
                self.host.log(LogLevel::Warn, &format!("{text} (TWS lost IB's servers; orders wait)"));
                self.emit(AdapterEvent::Alert { level: AlertLevel::Warning, code: Some(code), message: text });
            }
            IbError::ConnectivityRestored | IbError::ConnectivityRestoredDataLost => {
                self.host.log(LogLevel::Info, &text);
                if class == IbError::ConnectivityRestoredDataLost {
                    let symbols: Vec<Symbol> = self.subs.keys().cloned().collect();
                    for s in symbols {
                        self.start_market_data(&s);
                    }
                }
                self.emit(AdapterEvent::Alert { level: AlertLevel::Info, code: Some(code), message: text });
            }
            IbError::SessionEnded => {
                self.host.log(LogLevel::Warn, &text);
                self.disconnected(text);
            }
            IbError::Notice
            | IbError::NoSecurity
            | IbError::OrderCancelled
            | IbError::CancelRefused
            | IbError::OrderWarning
            | IbError::OrderRejected
            | IbError::Other => {
                self.host.log(LogLevel::Warn, &text);
                self.emit(AdapterEvent::Alert { level: AlertLevel::Warning, code: Some(code), message: text });
            }
        }
    }
}
