//! The adapter's thread: owns the connection to RTGW and everything the adapter knows, takes
//! the host's requests and RTGW's lines from one channel, and answers through the host.
//!
//! Start-up, as the original does it: after RTGW's `system startup` line, the accounts are
//! requested and the two ORDERS advises opened (every row; fill rows); the link is reported
//! `Connected` once the accounts are in and both advises are in force. The feed clock (`$TIME`)
//! is polled every second. Any disconnect reports `Disconnected`, fails what was waiting, and
//! reconnects after 1, 2, 4 … s (capped, with jitter); the host then asks for a snapshot, which
//! reconciles orders, executions and positions. RTGW ending the session's own connections
//! (`OnTerminate` on an ORDERS advise) or answering them what it must not (an unknown ack) fails
//! the link: the gateway marks the adapter faulted and restarts it.
//!
//! The rest is one concern per file: `orders.rs` (pokes and the ORDERS rows they bring),
//! `market.rs` (quotes, bars, account data) and `snapshot.rs` (reconciliation after a
//! (re)connection).

mod market;
mod orders;
mod snapshot;

use crate::connection::{self, Connection, Wire};
use crate::mapping;
use crate::proto::command::{Selector, Term};
use crate::proto::line::{Incoming, Row};
use crate::proto::row;
use crate::session::cxn::{Cxn, Event, Outcome, Verb};
use crate::settings::Settings;
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};
use txtrader_plugin_api::adapter::{Host, LogLevel};
use txtrader_plugin_api::model::{AccountId, BarInterval, BrokerOrderId, ClientOrderId, LinkState, Symbol, UnixNanos};
use txtrader_plugin_api::wire::{
    AdapterEvent, AdapterHello, AdapterRequest, AlertLevel, ErrorCode, OrderEventKind, ReplyBody,
    RequestBody, RequestId, PROTOCOL_VERSION,
};

/// Rows one request may answer at most.
const MAX_ROWS: usize = 1_000_000;

/// What reaches the worker: the host's requests, RTGW's lines, the order to stop.
pub type Msg = txtrader_plugin_api::worker_thread::WorkerMsg<Wire>;

/// What a logical connection is for.
#[derive(Debug, Clone, PartialEq)]
enum Purpose {
    Accounts,
    OrderRows,
    FillRows,
    Clock,
    SnapshotOrders(RequestId),
    SnapshotPositions(RequestId),
    Submit(ClientOrderId),
    Cancel(BrokerOrderId, Option<ClientOrderId>),
    Subscribe(RequestId, Symbol),
    Instrument(RequestId, Symbol),
    Live(Symbol),
    Bars(RequestId, Symbol, BarInterval, UnixNanos, UnixNanos),
    Account(RequestId, AccountId),
}

/// The advises among the purposes: what their updates are for.
enum Advise {
    OrderRows,
    FillRows,
    Live(Symbol),
}

impl Purpose {
    /// The advise this connection made, if it made one.
    fn advise(&self) -> Option<Advise> {
        match self {
            Self::OrderRows => Some(Advise::OrderRows),
            Self::FillRows => Some(Advise::FillRows),
            Self::Live(symbol) => Some(Advise::Live(symbol.clone())),
            Self::Accounts
            | Self::Clock
            | Self::SnapshotOrders(_)
            | Self::SnapshotPositions(_)
            | Self::Submit(_)
            | Self::Cancel(..)
            | Self::Subscribe(..)
            | Self::Instrument(..)
            | Self::Bars(..)
            | Self::Account(..) => None,
        }
    }
}

/// The worker's state.
pub struct Worker {
    settings: Settings,
    timezone: chrono_tz::Tz,
    host: Host,
    to_self: Sender<Msg>,
    live: Option<Connection>,
    started: bool,
    connections: u64,
    attempts: u32,
    reconnect_at: Option<Instant>,
    greeted: bool,
    /// RTGW answered the session something it must not: the link is reported failed, so the
    /// gateway restarts the adapter; this worker connects no more.
    halted: bool,
    next_cxn: u64,
    cxns: HashMap<String, (Cxn, Purpose, Instant)>,
    accounts: Option<Vec<AccountId>>,
    advised: (bool, bool),
    connected: bool,
    last_clock: Instant,
    clock_pending: bool,
    gathering: HashMap<RequestId, snapshot::Gathering>,
    orders: HashMap<BrokerOrderId, orders::Known>,
    /// Orders poked and not yet answered by a row: their staged flag.
    submitted: HashMap<ClientOrderId, bool>,
    /// Subscribed symbols: their advise's connection (when in force) and their record.
    subs: HashMap<Symbol, (Option<String>, Row)>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("connected", &self.connected).finish_non_exhaustive()
    }
}

impl Worker {
    /// A worker that has not connected yet.
    pub fn new(settings: Settings, timezone: chrono_tz::Tz, host: Host, to_self: Sender<Msg>) -> Self {
        Self {
            settings,
            timezone,
            host,
            to_self,
            live: None,
            started: false,
            connections: 0,
            attempts: 0,
            reconnect_at: None,
            greeted: false,
            halted: false,
            next_cxn: 0,
            cxns: HashMap::new(),
            accounts: None,
            advised: (false, false),
            connected: false,
            last_clock: Instant::now(),
            clock_pending: false,
            gathering: HashMap::new(),
            orders: HashMap::new(),
            submitted: HashMap::new(),
            subs: HashMap::new(),
        }
    }

    /// Runs until told to stop.
    pub fn run(mut self, rx: &Receiver<Msg>) {
        loop {
            let now = Instant::now();
            if self.greeted && !self.halted && self.live.is_none() && self.reconnect_at.is_none_or(|t| t <= now) {
                self.connect();
            }
            let wake = match (&self.live, self.reconnect_at) {
                (None, Some(t)) => t.min(now + Duration::from_millis(500)),
                (Some(_), _) | (None, None) => now + Duration::from_millis(250),
            };
            match rx.recv_timeout(wake.saturating_duration_since(Instant::now())) {
                Ok(Msg::Request(r)) => self.request(*r),
                Ok(Msg::Wire(Wire::Message(n, m))) if self.is_current(n) => self.incoming(m),
                Ok(Msg::Wire(Wire::Malformed(n, e))) if self.is_current(n) => {
                    self.host.log(LogLevel::Warn, &e.to_string());
                }
                Ok(Msg::Wire(Wire::Closed(n, reason))) if self.is_current(n) => self.disconnected(reason),
                Ok(Msg::Wire(_)) | Err(RecvTimeoutError::Timeout) => {}
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            }
            self.timers();
        }
        if let Some(c) = self.live.take() {
            let _ = c.stream.shutdown(std::net::Shutdown::Both);
        }
    }

    fn is_current(&self, n: u64) -> bool {
        self.live.as_ref().is_some_and(|c| c.number == n)
    }

    fn emit(&self, event: AdapterEvent) {
        self.host.emit(&event);
    }

    // ----- the session

    fn connect(&mut self) {
        self.connections += 1;
        self.emit(AdapterEvent::Link(LinkState::Connecting));
        match connection::open(&self.settings.host, self.settings.port, self.connections, self.to_self.clone()) {
            Ok(c) => {
                self.host.log(LogLevel::Info, &format!("connected to RTGW at {}:{}; waiting for its startup message", self.settings.host, self.settings.port));
                self.live = Some(c);
                self.started = false;
                self.reconnect_at = None;
            }
            Err(e) => self.retry_later(e),
        }
    }

    fn retry_later(&mut self, reason: String) {
        let wait = txtrader_plugin_api::worker_thread::reconnect_wait(self.attempts, self.settings.reconnect_max);
        self.attempts = self.attempts.saturating_add(1);
        self.reconnect_at = Some(Instant::now() + wait);
        self.host.log(LogLevel::Warn, &format!("{reason}; reconnecting in {wait:?}"));
        self.emit(AdapterEvent::Link(LinkState::Disconnected { reason }));
    }

    fn halt(&mut self, reason: String) {
        self.host.log(LogLevel::Error, &format!("RTGW session failed: {reason}"));
        self.disconnected(reason.clone());
        self.halted = true;
        self.reconnect_at = None;
        self.emit(AdapterEvent::Link(LinkState::Failed { reason }));
    }

    fn disconnected(&mut self, reason: String) {
        if let Some(c) = self.live.take() {
            let _ = c.stream.shutdown(std::net::Shutdown::Both);
        }
        self.connected = false;
        self.started = false;
        self.accounts = None;
        self.advised = (false, false);
        self.clock_pending = false;
        // what waited on the lost connection fails
        for (_, (_, purpose, _)) in std::mem::take(&mut self.cxns) {
            self.give_up(purpose, &reason);
        }
        self.retry_later(reason);
    }

    /// Opens a logical connection carrying one command.
    fn open(&mut self, service: &'static str, topic: &'static str, selector: Selector, verb: Verb, purpose: Purpose) -> Option<String> {
        self.next_cxn += 1;
        let id = format!("txtrader-{:x}-{}", self.connections, self.next_cxn);
        let opened = Cxn::open(id.clone(), service, topic, selector, verb, MAX_ROWS);
        match opened {
            Ok((cxn, connect)) => {
                if self.write(connect.as_bytes()) {
                    self.cxns.insert(id.clone(), (cxn, purpose, Instant::now()));
                    return Some(id);
                }
                self.give_up(purpose, "not connected to RTGW");
            }
            Err(e) => self.give_up(purpose, &e.to_string()),
        }
        None
    }

    fn write(&mut self, bytes: &[u8]) -> bool {
        let Some(c) = self.live.as_mut() else { return false };
        match c.write(bytes) {
            Ok(()) => true,
            Err(e) => {
                self.disconnected(format!("writing to RTGW: {e}"));
                false
            }
        }
    }

    fn start_up(&mut self) {
        self.started = true;
        self.open("ACCOUNT_GATEWAY", "ORDER", Selector::all("ACCOUNT", vec![]), Verb::Request, Purpose::Accounts);
        self.open("ACCOUNT_GATEWAY", "ORDER", Selector::all("ORDERS", vec![]), Verb::Advise, Purpose::OrderRows);
        let fills = Selector::all("ORDERS", vec![Term::Text("TYPE", "ExchangeTradeOrder".into())]);
        self.open("ACCOUNT_GATEWAY", "ORDER", fills, Verb::Advise, Purpose::FillRows);
        // the symbols subscribed before a reconnection stream again
        let symbols: Vec<Symbol> = self.subs.keys().cloned().collect();
        for symbol in symbols {
            self.advise_live(&symbol);
        }
    }

    fn maybe_connected(&mut self) {
        if !self.connected && self.accounts.is_some() && self.advised == (true, true) {
            self.connected = true;
            self.attempts = 0;
            self.host.log(LogLevel::Info, "RTGW session ready: accounts in, ORDERS advised");
            self.emit(AdapterEvent::Link(LinkState::Connected));
        }
    }

    fn timers(&mut self) {
        let now = Instant::now();
        let timeout = self.settings.request_timeout;
        let expired: Vec<String> = self.cxns.iter().filter(|(_, (c, _, at))| c.state != crate::session::cxn::State::Streaming && now.duration_since(*at) > timeout).map(|(id, _)| id.clone()).collect();
        for id in expired {
            if let Some((_, purpose, _)) = self.cxns.remove(&id) {
                self.give_up(purpose, &format!("RTGW did not answer in {} s", timeout.as_secs()));
            }
        }
        if self.connected && !self.clock_pending && now.duration_since(self.last_clock) >= Duration::from_secs(1) {
            self.last_clock = now;
            self.clock_pending = true;
            let sel = Selector::fields("LIVEQUOTE", vec!["DISP_NAME", "TRDTIM_1", "TRD_DATE"], vec![Term::Text("DISP_NAME", "$TIME".into())]);
            self.open("TA_SRV", "LIVEQUOTE", sel, Verb::Request, Purpose::Clock);
        }
    }

    // ----- RTGW's lines

    fn incoming(&mut self, m: Incoming) {
        let (id, event) = match m {
            Incoming::System { msg, item } => {
                if msg == "startup" && !self.started {
                    self.host.log(LogLevel::Info, &format!("RTGW startup: {item}"));
                    self.start_up();
                } else {
                    self.host.log(LogLevel::Info, &format!("RTGW system message {msg}: {item}"));
                }
                return;
            }
            Incoming::Ack { cxn, ack } => (cxn, Event::Ack(ack)),
            Incoming::Status { cxn, status } => (cxn, Event::Status(status)),
            Incoming::Response { cxn, row, complete } => (cxn, Event::Response(row, complete)),
            Incoming::Update { cxn, row } => (cxn, Event::Update(row)),
        };
        let Some((cxn, _, _)) = self.cxns.get_mut(&id) else {
            self.host.log(LogLevel::Debug, &format!("RTGW line for connection {id}, which is not (or no longer) open"));
            return;
        };
        let outcome = cxn.on(event);
        let done = cxn.state == crate::session::cxn::State::Done;
        let purpose = self.cxns.get(&id).map(|(_, p, _)| p.clone());
        if done {
            self.cxns.remove(&id);
        }
        let Some(purpose) = purpose else { return };
        match outcome {
            Outcome::Pending => {}
            Outcome::Send(cmd) => match cmd.encode() {
                Ok(line) => {
                    self.write(line.as_bytes());
                }
                Err(e) => {
                    self.cxns.remove(&id);
                    self.give_up(purpose, &e.to_string());
                }
            },
            Outcome::Rows(rows) => self.rows(purpose, rows),
            Outcome::Advised => {
                match purpose.advise() {
                    Some(Advise::OrderRows) => self.advised.0 = true,
                    Some(Advise::FillRows) => self.advised.1 = true,
                    // a live quote advise in force: nothing waits on it
                    Some(Advise::Live(_)) => {}
                    None => self.host.log(LogLevel::Warn, &format!("RTGW confirmed an advise for {purpose:?}, which made none")),
                }
                self.maybe_connected();
            }
            Outcome::Update(row) => match purpose.advise() {
                Some(Advise::OrderRows) => self.order_update(&row),
                Some(Advise::Live(symbol)) => self.live_update(&symbol, row),
                // the advise on every ORDERS row carries the fills too; this one is kept in
                // force because the original keeps it (RTGW may treat the two differently)
                Some(Advise::FillRows) => {}
                None => self.host.log(LogLevel::Debug, &format!("RTGW update for {purpose:?}, which advised nothing")),
            },
            Outcome::Poked => {}
            Outcome::Failed(why) => {
                let fatal = matches!(purpose, Purpose::OrderRows | Purpose::FillRows | Purpose::Accounts);
                self.give_up(purpose, &why);
                if fatal {
                    // The original halts on an ended ORDERS advise. The adapter reports its link
                    // failed: the gateway marks it faulted and restarts it (with backoff), and the
                    // new one reconciles from RTGW.
                    self.emit(AdapterEvent::Alert { level: AlertLevel::Error, code: None, message: why.clone() });
                    self.halt(why);
                }
            }
        }
    }

    fn rows(&mut self, purpose: Purpose, rows: Vec<Row>) {
        match purpose {
            Purpose::Accounts => {
                let mut accounts = Vec::new();
                for r in &rows {
                    match mapping::account("ACCOUNT", r) {
                        Ok(a) => accounts.push(a),
                        Err(e) => self.host.log(LogLevel::Warn, &e.to_string()),
                    }
                }
                accounts.sort();
                accounts.dedup();
                self.accounts = Some(accounts);
                self.maybe_connected();
            }
            Purpose::Clock => {
                self.clock_pending = false;
                let t = rows.first().and_then(|r| mapping::feed_time(&row::text(r, "TRD_DATE")?, &row::text(r, "TRDTIM_1")?, self.timezone));
                if let Some(time) = t {
                    self.emit(AdapterEvent::Clock { time });
                }
            }
            Purpose::SnapshotOrders(id) => {
                self.gathering.entry(id).or_default().orders = Some(rows);
                self.maybe_snapshot_done(id);
            }
            Purpose::SnapshotPositions(id) => {
                self.gathering.entry(id).or_default().positions = Some(rows);
                self.maybe_snapshot_done(id);
            }
            Purpose::Subscribe(id, symbol) => self.subscribed(id, symbol, rows),
            Purpose::Instrument(id, symbol) => match mapping::symbol_error(&rows) {
                Some(reason) => self.host.reply(id, ReplyBody::SymbolInvalid { reason: format!("{symbol}: {reason}") }),
                None => match mapping::instrument(&rows[0], self.timezone) {
                    Ok(i) => self.host.reply(id, ReplyBody::Instrument(i)),
                    Err(e) => self.host.fail(id, ErrorCode::Internal, e.to_string()),
                },
            },
            Purpose::Bars(id, symbol, interval, start, end) => {
                let open = self.subs.get(&symbol).and_then(|(_, rec)| mapping::instrument(rec, self.timezone).ok()).map_or_else(
                    || chrono::NaiveTime::from_hms_opt(9, 30, 0).unwrap_or_default(),
                    |i| i.session.start,
                );
                match rows.first().map(|r| mapping::bars(&symbol, interval, r, self.timezone, open)).unwrap_or(Ok(Vec::new())) {
                    Ok(bars) => {
                        if bars.is_empty() {
                            // the original's answer to an empty chart: no bars, and this error
                            let message = format!("barchart data format failed: RTGW sent no bars for {symbol}");
                            self.emit(AdapterEvent::Alert { level: AlertLevel::Warning, code: None, message });
                        }
                        let bars = bars.into_iter().filter(|b| b.start >= start && b.start <= end).collect();
                        self.host.reply(id, ReplyBody::Bars { bars });
                    }
                    Err(e) => self.host.fail(id, ErrorCode::Internal, format!("bar chart of {symbol}: {e}")),
                }
            }
            Purpose::Account(id, account) => match rows.first() {
                None => self.host.reply(id, ReplyBody::Account { summary: None }),
                Some(r) => match mapping::account_summary(account, r, UnixNanos::now()) {
                    Ok(summary) => self.host.reply(id, ReplyBody::Account { summary: Some(summary) }),
                    Err(e) => self.host.fail(id, ErrorCode::Internal, e.to_string()),
                },
            },
            Purpose::OrderRows | Purpose::FillRows | Purpose::Submit(_) | Purpose::Cancel(..) | Purpose::Live(_) => {}
        }
    }

    /// A connection gave up: whoever waited on it hears why.
    fn give_up(&mut self, purpose: Purpose, why: &str) {
        match purpose {
            Purpose::Accounts | Purpose::OrderRows | Purpose::FillRows => self.host.log(LogLevel::Warn, why),
            Purpose::Subscribe(id, _) | Purpose::Instrument(id, _) | Purpose::Bars(id, ..) | Purpose::Account(id, _) => self.host.fail(id, ErrorCode::Internal, why.to_owned()),
            Purpose::Live(symbol) => {
                // made again at the next start-up (a reconnection), or by the next subscription
                if let Some(sub) = self.subs.get_mut(&symbol) {
                    sub.0 = None;
                }
                self.host.log(LogLevel::Warn, &format!("{symbol}: {why}"));
            }
            Purpose::Clock => self.clock_pending = false,
            Purpose::SnapshotOrders(id) | Purpose::SnapshotPositions(id) => {
                if self.gathering.remove(&id).is_some() {
                    self.host.fail(id, ErrorCode::Internal, format!("snapshot: {why}"));
                }
            }
            Purpose::Submit(client) => {
                if self.submitted.remove(&client).is_some() {
                    self.order_event(None, Some(client), "rejected", OrderEventKind::Rejected { reason: why.to_owned() });
                }
            }
            Purpose::Cancel(broker, client) => {
                self.order_event(Some(broker), client, &format!("cancel-refused-{}", UnixNanos::now().0), OrderEventKind::CancelRejected { reason: why.to_owned() });
            }
        }
    }

    // ----- the host's requests

    fn request(&mut self, r: AdapterRequest) {
        let id = r.id;
        let not_connected = || "not connected to RTGW".to_owned();
        match (r.body, self.connected) {
            (RequestBody::Hello(_), _) => {
                let hello = AdapterHello { protocol_version: PROTOCOL_VERSION, name: crate::NAME.into(), version: crate::VERSION.into(), features: Vec::new() };
                self.host.reply(id, ReplyBody::Hello(hello));
                self.greeted = true;
            }
            (RequestBody::SubmitOrder(o), false) => self.order_event(None, Some(o.client_order_id), "rejected", OrderEventKind::Rejected { reason: not_connected() }),
            (RequestBody::CancelOrder { broker_order_id, client_order_id }, false) => {
                self.order_event(Some(broker_order_id), client_order_id, &format!("cancel-refused-{}", UnixNanos::now().0), OrderEventKind::CancelRejected { reason: not_connected() });
            }
            (RequestBody::Snapshot | RequestBody::Subscribe { .. } | RequestBody::Instrument { .. } | RequestBody::Unsubscribe { .. } | RequestBody::Bars { .. } | RequestBody::Account { .. }, false) => {
                self.host.fail(id, ErrorCode::NotConnected, not_connected());
            }
            (RequestBody::Snapshot, true) => self.snapshot(id),
            (RequestBody::SubmitOrder(o), true) => self.submit(o),
            (RequestBody::CancelOrder { broker_order_id, client_order_id }, true) => self.cancel(broker_order_id, client_order_id),
            // RTGW's order changes are not part of the original's protocol: the adapter does not
            // announce the feature, and refuses a change that reaches it anyway
            (RequestBody::ModifyOrder { broker_order_id, client_order_id, .. }, _) => self.order_event(
                Some(broker_order_id),
                client_order_id,
                &format!("modify-refused-{}", UnixNanos::now().0),
                OrderEventKind::ModifyRejected { reason: "order changes are not supported by the RealTick adapter".into() },
            ),
            (RequestBody::Subscribe { symbol, .. }, true) => {
                self.open("TA_SRV", "LIVEQUOTE", self.quote_selector(&symbol, false), Verb::Request, Purpose::Subscribe(id, symbol));
            }
            (RequestBody::Instrument { symbol, .. }, true) => {
                self.open("TA_SRV", "LIVEQUOTE", self.quote_selector(&symbol, false), Verb::Request, Purpose::Instrument(id, symbol));
            }
            (RequestBody::Unsubscribe { symbol }, true) => self.unsubscribe(id, &symbol),
            (RequestBody::Bars { symbol, interval, start, end, .. }, true) => self.bars(id, symbol, interval, start, end),
            (RequestBody::Account { account }, true) => self.account(id, account),
            (RequestBody::GlobalCancel | RequestBody::ExportState | RequestBody::CopyState | RequestBody::ImportState { .. } | RequestBody::Unknown, _) => {
                self.host.fail(id, ErrorCode::Unsupported, "not supported by the RealTick adapter");
            }
        }
    }
}
