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
//! Orders are pokes; RealTick answers with ORDERS rows on the advise, read by
//! [`crate::mapping::order_row`]. An order is known by its permid from its first row, which
//! carries the gateway's `CLIENT_ORDER_ID`; a row seen before is not reported again.
//!
//! Market data: a subscription reads the symbol's whole LIVEQUOTE record (no record, or one
//! with `SYMBOL_ERROR`, is an invalid symbol), answers it, and advises the live fields; each
//! update is merged into the record kept for the symbol and reported as a quote, a trade and
//! day statistics as it touches them. Advises are made again after a reconnection.
//!
//! Bars come from `INTRADAY` / `DAILY` requests (one row of parallel lists), account data from
//! `DEPOSIT` (no row: an account RealTick does not know).

use crate::connection::{self, Connection, Wire};
use crate::mapping;
use crate::proto::command::{strat_dict, Selector, Term};
use crate::proto::line::{Incoming, Row};
use crate::proto::row;
use crate::session::cxn::{Cxn, Event, Outcome, Verb};
use crate::settings::Settings;
use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};
use txtrader_plugin_api::adapter::{Host, LogLevel};
use txtrader_plugin_api::model::{AccountId, BarInterval, BrokerOrderId, ClientOrderId, LinkState, OrderRequest, OrderType, Symbol, TimeInForce, UnixNanos};
use txtrader_plugin_api::wire::{
    AdapterEvent, AdapterHello, AdapterRequest, AlertLevel, BrokerSnapshot, ErrorCode, MarketSnapshot, OrderEvent, OrderEventKind, OrderSnapshot, ReplyBody,
    RequestBody, RequestId, PROTOCOL_VERSION,
};

/// Rows one request may answer at most.
const MAX_ROWS: usize = 1_000_000;

/// What reaches the worker.
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

/// A snapshot being gathered.
#[derive(Debug, Default)]
struct Gathering {
    orders: Option<Vec<Row>>,
    positions: Option<Vec<Row>>,
}

/// What the worker knows of an order.
#[derive(Debug, Default)]
struct Known {
    client: Option<ClientOrderId>,
    staged: bool,
    seen: HashSet<String>,
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
    gathering: HashMap<RequestId, Gathering>,
    orders: HashMap<BrokerOrderId, Known>,
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
                _ => now + Duration::from_millis(250),
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
        let wait = Duration::from_secs(1u64 << self.attempts.min(6)).min(self.settings.reconnect_max);
        // jitter: up to a quarter of the wait, so that gateways restarted together spread out
        let jitter = Duration::from_millis(u64::from(UnixNanos::now().0.to_le_bytes()[1]) * wait.as_millis().min(1000) as u64 / 1024);
        self.attempts = self.attempts.saturating_add(1);
        self.reconnect_at = Some(Instant::now() + wait + jitter);
        self.host.log(LogLevel::Warn, &format!("{reason}; reconnecting in {:?}", wait + jitter));
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

    /// A symbol's LIVEQUOTE: the whole record (`live` false), or the fields the live advise
    /// streams.
    fn quote_selector(&self, symbol: &Symbol, live: bool) -> Selector {
        let filter = vec![Term::Text("DISP_NAME", symbol.to_string())];
        if live { Selector::fields("LIVEQUOTE", mapping::live_fields(self.settings.quote_fields), filter) } else { Selector::all("LIVEQUOTE", filter) }
    }

    fn advise_live(&mut self, symbol: &Symbol) {
        let id = self.open("TA_SRV", "LIVEQUOTE", self.quote_selector(symbol, true), Verb::Advise, Purpose::Live(symbol.clone()));
        if let Some(sub) = self.subs.get_mut(symbol) {
            sub.0 = id;
        }
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
                match purpose {
                    Purpose::OrderRows => self.advised.0 = true,
                    Purpose::FillRows => self.advised.1 = true,
                    _ => {}
                }
                self.maybe_connected();
            }
            Outcome::Update(row) => match purpose {
                Purpose::OrderRows => self.order_update(&row),
                Purpose::Live(symbol) => self.live_update(&symbol, row),
                _ => {}
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

    fn bars(&mut self, id: RequestId, symbol: Symbol, interval: BarInterval, start: UnixNanos, end: UnixNanos) {
        let (table, n) = mapping::chart(interval);
        let local = |t: UnixNanos| t.to_datetime().with_timezone(&self.timezone);
        let (from, to) = (local(start), local(end));
        let filter = vec![
            Term::Text("DISP_NAME", symbol.to_string()),
            Term::Number("BARINTERVAL", n),
            Term::Text("STARTDATE", from.format("%Y/%m/%d").to_string()),
            Term::Text("CHART_STARTTIME", from.format("%H:%M").to_string()),
            Term::Text("STOPDATE", to.format("%Y/%m/%d").to_string()),
            Term::Text("CHART_STOPTIME", to.format("%H:%M").to_string()),
        ];
        self.open("TA_SRV", "LIVEQUOTE", Selector::fields(table, mapping::CHART_FIELDS.to_vec(), filter), Verb::Request, Purpose::Bars(id, symbol, interval, start, end));
    }

    fn account(&mut self, id: RequestId, account: AccountId) {
        let Some([bank, branch, customer, deposit]) = mapping::account_parts(&account) else {
            self.host.reply(id, ReplyBody::Account { summary: None });
            return;
        };
        let filter = vec![
            Term::Text("BANK", bank.to_owned()),
            Term::Text("BRANCH", branch.to_owned()),
            Term::Text("CUSTOMER", customer.to_owned()),
            Term::Text("DEPOSIT", deposit.to_owned()),
        ];
        self.open("ACCOUNT_GATEWAY", "ORDER", Selector::all("DEPOSIT", filter), Verb::Request, Purpose::Account(id, account));
    }

    // ----- market data

    fn subscribed(&mut self, id: RequestId, symbol: Symbol, rows: Vec<Row>) {
        if let Some(reason) = mapping::symbol_error(&rows) {
            self.host.reply(id, ReplyBody::SymbolInvalid { reason: format!("{symbol}: {reason}") });
            return;
        }
        let record = rows.into_iter().next().unwrap_or_default();
        let answer = mapping::instrument(&record, self.timezone).and_then(|instrument| {
            let (quote, last_trade, stats) = mapping::market(&symbol, &record, self.timezone, UnixNanos::now())?;
            Ok(MarketSnapshot { instrument, quote, last_trade, stats })
        });
        match answer {
            Ok(snapshot) => {
                self.host.reply(id, ReplyBody::Market(snapshot));
                let known = self.subs.contains_key(&symbol);
                self.subs.insert(symbol.clone(), (None, record));
                if !known {
                    self.advise_live(&symbol);
                }
            }
            Err(e) => self.host.fail(id, ErrorCode::Internal, e.to_string()),
        }
    }

    fn live_update(&mut self, symbol: &Symbol, update: Row) {
        let Some((_, record)) = self.subs.get_mut(symbol) else { return };
        let touched = |fields: &[&str]| fields.iter().any(|f| update.contains_key(*f));
        let (quote_moved, traded, stats_moved) = (touched(&["BID", "ASK", "BIDSIZE", "ASKSIZE"]), touched(&["TRDPRC_1"]), touched(&["ACVOL_1", "OPEN_PRC", "HIGH_1", "LOW_1", "HST_CLOSE", "VWAP"]));
        for (k, v) in &update {
            record.insert(k.clone(), v.clone());
        }
        match mapping::market(symbol, record, self.timezone, UnixNanos::now()) {
            Ok((quote, trade, stats)) => {
                if let (true, Some(q)) = (quote_moved, quote) {
                    self.emit(AdapterEvent::Quote(q));
                }
                if let (true, Some(s)) = (stats_moved, stats) {
                    self.emit(AdapterEvent::Stats(s));
                }
                if let (true, Some(t)) = (traded, trade) {
                    self.emit(AdapterEvent::Trade(t));
                }
            }
            Err(e) => self.host.log(LogLevel::Warn, &format!("{symbol}: {e}")),
        }
    }

    fn unsubscribe(&mut self, id: RequestId, symbol: &Symbol) {
        if let Some((Some(cxn), _)) = self.subs.remove(symbol) {
            // its answers (UNADVISE_OK, OnOtherAck) come on a connection no longer open: ignored
            self.cxns.remove(&cxn);
            let line = crate::proto::command::Command::Unadvise { cxn, selector: self.quote_selector(symbol, true) }.encode();
            if let Ok(line) = line {
                self.write(line.as_bytes());
            }
        }
        self.host.reply(id, ReplyBody::Done);
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

    // ----- orders

    fn order_event(&self, broker: Option<BrokerOrderId>, client: Option<ClientOrderId>, event_id: &str, kind: OrderEventKind) {
        let broker_order_id = match broker.or_else(|| client.as_ref().and_then(|c| BrokerOrderId::new(format!("unsent-{c}")).ok())) {
            Some(b) => b,
            None => return,
        };
        self.emit(AdapterEvent::Order(OrderEvent { event_id: event_id.to_owned(), broker_order_id, client_order_id: client, ts_event: UnixNanos::now(), kind, raw: None }));
    }

    fn order_update(&mut self, r: &Row) {
        let staged_first = row::text(r, "TYPE").is_some_and(|t| t == "UserSubmitStagedOrder");
        let permid = match row::text(r, "ORIGINAL_ORDER_ID").or_else(|| row::text(r, "ORDER_ID")).map(BrokerOrderId::new) {
            Some(Ok(p)) => p,
            _ => {
                self.host.log(LogLevel::Warn, &format!("ORDERS row without an order id: {}", serde_json::Value::Object(r.clone())));
                return;
            }
        };
        let staged = self.orders.get(&permid).map_or(staged_first, |k| k.staged);
        let o = match mapping::order_row(r, staged) {
            Ok(o) => o,
            Err(e) => {
                let message = e.to_string();
                self.host.log(LogLevel::Warn, &message);
                self.emit(AdapterEvent::Alert { level: AlertLevel::Warning, code: None, message });
                return;
            }
        };
        let known = self.orders.entry(o.permid.clone()).or_insert_with(|| Known { staged: staged_first, ..Known::default() });
        if let Some(c) = &o.client_order_id {
            known.client.get_or_insert_with(|| c.clone());
            self.submitted.remove(c);
        }
        if !known.seen.insert(o.event_id.clone()) {
            return; // the same row again
        }
        let client = known.client.clone();
        if let Some(kind) = o.kind {
            // the row itself travels with the event: clients of the original read its fields
            let raw = Some(r.clone());
            self.emit(AdapterEvent::Order(OrderEvent { event_id: o.event_id, broker_order_id: o.permid, client_order_id: client, ts_event: UnixNanos::now(), kind, raw }));
        }
    }

    fn submit(&mut self, o: OrderRequest) {
        let client = o.client_order_id.clone();
        let fields = match order_fields(&o) {
            Ok(f) => f,
            Err(reason) => return self.order_event(None, Some(client), "rejected", OrderEventKind::Rejected { reason }),
        };
        self.submitted.insert(client.clone(), o.staged_tag.is_some());
        self.open("ACCOUNT_GATEWAY", "ORDER", Selector::all("ORDERS", vec![]), Verb::Poke(fields), Purpose::Submit(client));
    }

    fn cancel(&mut self, broker: BrokerOrderId, client: Option<ClientOrderId>) {
        let fields = vec![("TYPE".to_owned(), "UserSubmitCancel".to_owned()), ("REFERS_TO_ID".to_owned(), broker.to_string())];
        self.open("ACCOUNT_GATEWAY", "ORDER", Selector::all("ORDERS", vec![]), Verb::Poke(fields), Purpose::Cancel(broker, client));
    }

    // ----- snapshots

    fn snapshot(&mut self, id: RequestId) {
        self.gathering.insert(id, Gathering::default());
        self.open("ACCOUNT_GATEWAY", "ORDER", Selector::all("ORDERS", vec![]), Verb::Request, Purpose::SnapshotOrders(id));
        self.open("ACCOUNT_GATEWAY", "ORDER", Selector::all("POSITION", vec![]), Verb::Request, Purpose::SnapshotPositions(id));
    }

    fn maybe_snapshot_done(&mut self, id: RequestId) {
        let ready = self.gathering.get(&id).is_some_and(|g| g.orders.is_some() && g.positions.is_some());
        if !ready {
            return;
        }
        let Some(g) = self.gathering.remove(&id) else { return };
        let mut snapshot = BrokerSnapshot { accounts: self.accounts.clone().unwrap_or_default(), ..BrokerSnapshot::default() };
        for r in g.positions.unwrap_or_default() {
            match mapping::position(&r) {
                Ok(p) => snapshot.positions.push(p),
                Err(e) => self.host.log(LogLevel::Warn, &e.to_string()),
            }
        }
        // each order's rows, in the order RTGW listed them
        let mut by_order: indexmap::IndexMap<BrokerOrderId, Vec<Row>> = indexmap::IndexMap::new();
        for r in g.orders.unwrap_or_default() {
            if let Some(Ok(p)) = row::text(&r, "ORIGINAL_ORDER_ID").or_else(|| row::text(&r, "ORDER_ID")).map(BrokerOrderId::new) {
                by_order.entry(p).or_default().push(r);
            }
        }
        for (permid, rows) in by_order {
            match self.order_snapshot(&permid, &rows) {
                Ok((order, executions)) => {
                    snapshot.orders.push(order);
                    snapshot.executions.extend(executions);
                }
                Err(e) => self.host.log(LogLevel::Warn, &format!("order {permid} left out of the snapshot: {e}")),
            }
        }
        self.host.reply(id, ReplyBody::Snapshot(snapshot));
    }

    fn order_snapshot(&mut self, permid: &BrokerOrderId, rows: &[Row]) -> Result<(OrderSnapshot, Vec<txtrader_plugin_api::model::Execution>), mapping::RowError> {
        let own = rows.iter().find(|r| row::text(r, "ORDER_ID").as_deref() == Some(permid.as_str())).unwrap_or(&rows[0]);
        let known = self.orders.entry(permid.clone()).or_default();
        if let Some(c) = rows.iter().find_map(|r| row::text(r, "CLIENT_ORDER_ID")).and_then(|c| ClientOrderId::new(c).ok()) {
            known.client.get_or_insert(c);
        }
        known.staged = known.staged || row::text(own, "TYPE").is_some_and(|t| t.starts_with("UserSubmitStaged"));
        let (client, staged) = (known.client.clone(), known.staged);
        let request = mapping::request_of(own, permid, client.clone())?;
        let mut status = txtrader_plugin_api::model::OrderStatus::Submitted;
        let (mut filled, mut value, mut reason, mut executions) = (rust_decimal::Decimal::ZERO, rust_decimal::Decimal::ZERO, None, Vec::new());
        let now = UnixNanos::now();
        for r in rows {
            let o = mapping::order_row(r, staged)?;
            use txtrader_plugin_api::model::OrderTrigger as T;
            let trigger = match &o.kind {
                Some(OrderEventKind::Acknowledged) => Some(T::Acknowledge),
                Some(OrderEventKind::Staged) => Some(T::Stage),
                Some(OrderEventKind::Accepted) => Some(T::Accept),
                Some(OrderEventKind::Filled(f)) => {
                    filled += f.quantity.as_decimal();
                    value += f.quantity.as_decimal() * f.price.as_decimal();
                    executions.push(mapping::execution(r, client.clone(), self.timezone, now)?);
                    Some(if filled >= request.quantity.as_decimal() { T::Fill } else { T::PartialFill })
                }
                Some(OrderEventKind::Cancelled { reason: why }) => {
                    reason.clone_from(why);
                    Some(T::Cancel)
                }
                Some(OrderEventKind::Rejected { reason: why }) => {
                    reason = Some(why.clone());
                    Some(T::Reject)
                }
                Some(OrderEventKind::Expired) => Some(T::Expire),
                Some(OrderEventKind::Triggered) => Some(T::Trigger),
                Some(OrderEventKind::CancelRejected { .. } | OrderEventKind::Unknown) | None => None,
            };
            if let Some(t) = trigger {
                status = status.transition(t).unwrap_or(status);
            }
        }
        let avg_price = (!filled.is_zero()).then(|| txtrader_plugin_api::model::Price::new((value / filled).round_dp(6)));
        let filled_quantity = txtrader_plugin_api::model::Quantity::new(filled).unwrap_or(txtrader_plugin_api::model::Quantity::ZERO);
        Ok((OrderSnapshot { request, broker_order_id: permid.clone(), status, filled_quantity, avg_price, reason, ts_event: now }, executions))
    }

    // ----- the host's requests

    fn request(&mut self, r: AdapterRequest) {
        let id = r.id;
        match r.body {
            RequestBody::Hello(_) => {
                let hello = AdapterHello { protocol_version: PROTOCOL_VERSION, name: crate::NAME.into(), version: env!("CARGO_PKG_VERSION").into(), features: Vec::new() };
                self.host.reply(id, ReplyBody::Hello(hello));
                self.greeted = true;
            }
            _ if !self.connected => {
                let reason = "not connected to RTGW".to_owned();
                match r.body {
                    RequestBody::SubmitOrder(o) => self.order_event(None, Some(o.client_order_id), "rejected", OrderEventKind::Rejected { reason }),
                    RequestBody::CancelOrder { broker_order_id, client_order_id } => {
                        self.order_event(Some(broker_order_id), client_order_id, &format!("cancel-refused-{}", UnixNanos::now().0), OrderEventKind::CancelRejected { reason });
                    }
                    _ => self.host.fail(id, ErrorCode::NotConnected, reason),
                }
            }
            RequestBody::Snapshot => self.snapshot(id),
            RequestBody::SubmitOrder(o) => self.submit(o),
            RequestBody::CancelOrder { broker_order_id, client_order_id } => self.cancel(broker_order_id, client_order_id),
            RequestBody::Subscribe { symbol, .. } => {
                self.open("TA_SRV", "LIVEQUOTE", self.quote_selector(&symbol, false), Verb::Request, Purpose::Subscribe(id, symbol));
            }
            RequestBody::Instrument { symbol, .. } => {
                self.open("TA_SRV", "LIVEQUOTE", self.quote_selector(&symbol, false), Verb::Request, Purpose::Instrument(id, symbol));
            }
            RequestBody::Unsubscribe { symbol } => self.unsubscribe(id, &symbol),
            RequestBody::Bars { symbol, interval, start, end, .. } => self.bars(id, symbol, interval, start, end),
            RequestBody::Account { account } => self.account(id, account),
            RequestBody::GlobalCancel | RequestBody::ExportState | RequestBody::CopyState | RequestBody::ImportState { .. } | RequestBody::Unknown => {
                self.host.fail(id, ErrorCode::Unsupported, "not supported by the RealTick adapter");
            }
        }
    }
}

/// A new order's poke fields, in the order of the specification's section 1.5.
fn order_fields(o: &OrderRequest) -> Result<Vec<(String, String)>, String> {
    let [bank, branch, customer, deposit] = mapping::account_parts(&o.account).ok_or_else(|| format!("account {} is not BANK.BRANCH.CUSTOMER.DEPOSIT", o.account))?;
    let mut f: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: String| f.push((k.to_owned(), v));
    put("BANK", bank.into());
    put("BRANCH", branch.into());
    put("CUSTOMER", customer.into());
    put("DEPOSIT", deposit.into());
    put("BUYORSELL", o.side.to_string());
    put(
        "GOOD_UNTIL",
        match o.time_in_force {
            TimeInForce::Day => "DAY",
            TimeInForce::Gtc => "GTC",
            TimeInForce::Ioc => "IOC",
        }
        .into(),
    );
    put("EXIT_VEHICLE", o.route.as_ref().map_or_else(|| "NONE".to_owned(), |r| r.name.clone()));
    if let Some(params) = o.route.as_ref().and_then(|r| r.params.as_ref()) {
        for (k, v) in params {
            let value = match v {
                serde_json::Value::Object(m) => strat_dict(m.iter().map(|(a, b)| (a.as_str(), b.as_str().unwrap_or_default()))),
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            put(k, value);
        }
    }
    put("DISP_NAME", o.symbol.to_string());
    put("STYP", "1".into());
    put("EXCHANGE", o.exchange.clone().unwrap_or_else(|| "NYS".into()));
    let (price_type, price, stop) = match o.order_type {
        OrderType::Market => ("Market", None, None),
        OrderType::Limit { limit_price } => ("AsEntered", Some(limit_price), None),
        OrderType::Stop { stop_price } => ("Stop", None, Some(stop_price)),
        OrderType::StopLimit { stop_price, limit_price } => ("StopLimit", Some(limit_price), Some(stop_price)),
    };
    put("PRICE_TYPE", price_type.into());
    if let Some(p) = price {
        put("PRICE", p.as_decimal().normalize().to_string());
    }
    if let Some(p) = stop {
        put("STOP_PRICE", p.as_decimal().normalize().to_string());
    }
    put("VOLUME_TYPE", "AsEntered".into());
    put("VOLUME", o.quantity.as_decimal().normalize().to_string());
    if let Some(tag) = &o.staged_tag {
        put("ORDER_TAG", tag.clone());
    }
    put("CLIENT_ORDER_ID", o.client_order_id.to_string());
    put("TYPE", if o.staged_tag.is_some() { "UserSubmitStagedOrder" } else { "UserSubmitOrder" }.into());
    Ok(f)
}
