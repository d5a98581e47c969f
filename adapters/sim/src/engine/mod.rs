//! The simulated exchange: accounts, the order book, matching, and the answers to every
//! adapter request.
//!
//! The engine is pure: time is an argument and its output is a list of wire events, so tests
//! drive it tick by tick with no threads or clocks. Orders follow the plugin-api status machine
//! here too (the exchange's own books can never hold an impossible state), and every event
//! carries an id `<permid>-<n>` that is unique per order, so the host can recognise duplicates.
//!
//! Matching rules:
//! - market orders fill against the touch (buy at the offer, sell at the bid);
//! - limit orders fill at the touch once it is at or better than the limit, else rest;
//! - stop and stop-limit orders trigger once the touch or the last trade reaches the stop, then
//!   behave as market or limit orders;
//! - orders above `partial_fill_threshold` fill in `partial_fill_parts` slices, one per tick;
//! - IOC orders fill what they can at once and cancel the rest; DAY orders expire with the day.

mod handover;
mod persist;

pub use persist::{Changes, ExecRow, OrderRow};

use crate::config::SimConfig;
use crate::history::{History, MinuteBar};
use crate::instrument::{listing, unlisted_reason};
use crate::market::LiveMarket;
use crate::rng::stable_hash;
use chrono::NaiveDate;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use txtrader_plugin_api::model::{
    AccountId, AccountSummary, BrokerOrderId, Execution, ExecutionId, LinkState, Money, OrderRequest,
    OrderStatus, OrderTrigger, OrderType, Position, Price, Quantity, Side, SignedQuantity, Symbol,
    TimeInForce, UnixNanos,
};
use txtrader_plugin_api::wire::{
    AdapterEvent, AdapterHello, AdapterRequest, BrokerSnapshot, ErrorCode, Fill, MarketSnapshot,
    OrderEvent, OrderEventKind, OrderSnapshot, ReplyBody, RequestBody, RequestId, WireError,
    FEATURE_MODIFY, FEATURE_STATE_HANDOVER, PROTOCOL_VERSION,
};

/// Name and version reported in the handshake.
pub const NAME: &str = "sim";

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Holding {
    qty: Decimal,
    avg: Decimal,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Account {
    cash: Decimal,
    holdings: BTreeMap<Symbol, Holding>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct SimOrder {
    request: OrderRequest,
    broker_id: BrokerOrderId,
    status: OrderStatus,
    filled: Quantity,
    /// Σ price·quantity of the fills.
    value: Decimal,
    events: u32,
    /// When the order starts working (after the fill delay); `None` once working.
    active_at: Option<UnixNanos>,
    triggered: bool,
    reason: Option<String>,
    day: NaiveDate,
    ts: UnixNanos,
}

impl SimOrder {
    fn remaining(&self) -> Quantity {
        self.request.quantity.checked_sub(self.filled).unwrap_or(Quantity::ZERO)
    }

    fn avg_price(&self) -> Option<Price> {
        (!self.filled.is_zero()).then(|| Price::new(self.value / self.filled.as_decimal()).round_dp(6))
    }

    /// The order as a broker snapshot reports it (from memory or from a stored row).
    fn into_snapshot(self) -> OrderSnapshot {
        OrderSnapshot {
            avg_price: self.avg_price(),
            request: self.request,
            broker_order_id: self.broker_id,
            status: self.status,
            filled_quantity: self.filled,
            reason: self.reason,
            ts_event: self.ts,
        }
    }
}

/// The exchange.
#[derive(Debug)]
pub struct Exchange {
    config: SimConfig,
    history: History,
    markets: BTreeMap<Symbol, LiveMarket>,
    accounts: BTreeMap<AccountId, Account>,
    /// Orders by arrival sequence: iteration order is time priority.
    orders: BTreeMap<u64, SimOrder>,
    by_broker_id: HashMap<BrokerOrderId, u64>,
    /// Orders waiting out their fill delay, by activation time: the next one is the first.
    activations: BTreeSet<(UnixNanos, u64)>,
    /// Orders working at the exchange, in time priority. Only these are matched on a tick, so
    /// the cost of a tick does not grow with the day's finished orders.
    working: BTreeSet<u64>,
    executions: Vec<Execution>,
    seq: u64,
    cancel_rejects: u64,
    /// Fills so far (the venue's fill numbers).
    fills: u64,
    permid_prefix: String,
    /// After an export: no ticks, no fills, no requests until an import.
    frozen: bool,
    /// Where a hand-over stands.
    handover: handover::Handover,
    /// Whether it handled a request other than a greeting or a hand-over (a copy is only for a
    /// new generation).
    serving: bool,
    /// What changed since the last [`Exchange::take_changes`].
    changed: persist::Changed,
    out: Vec<AdapterEvent>,
}

impl Exchange {
    /// Opens the exchange at `now`.
    pub fn new(config: SimConfig, now: UnixNanos) -> Self {
        let history = History::new(config.seed, config.timezone, config.session_start, config.session_stop);
        let accounts = config
            .accounts
            .iter()
            .map(|a| (a.clone(), Account { cash: config.cash.as_decimal(), holdings: BTreeMap::new() }))
            .collect();
        // Ids stay unique across instances (each has its own accounts) and restarts (time).
        let mut parts: Vec<&[u8]> = vec![b"instance"];
        parts.extend(config.accounts.iter().map(|a| a.as_str().as_bytes()));
        let tag = stable_hash(config.seed, &parts) & 0xff;
        let permid_prefix = format!("{:x}-{:02x}", now.0 / 1_000_000, tag);
        Self {
            config,
            history,
            markets: BTreeMap::new(),
            accounts,
            orders: BTreeMap::new(),
            by_broker_id: HashMap::new(),
            activations: BTreeSet::new(),
            working: BTreeSet::new(),
            executions: Vec::new(),
            seq: 0,
            cancel_rejects: 0,
            fills: 0,
            permid_prefix,
            frozen: false,
            handover: handover::Handover::None,
            serving: false,
            changed: persist::Changed::default(),
            out: Vec::new(),
        }
    }

    /// Whether the exchange handed its state over (and stopped).
    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// How many orders the exchange knows.
    pub fn order_count(&self) -> usize {
        self.orders.len()
    }

    /// The configuration in force.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Answers one request.
    pub fn handle(&mut self, request: AdapterRequest, now: UnixNanos) -> Vec<AdapterEvent> {
        let id = request.id;
        if self.frozen && !matches!(request.body, RequestBody::ImportState { .. }) {
            self.fail(id, ErrorCode::Unsupported, "the exchange state was exported; awaiting import or shutdown");
            return std::mem::take(&mut self.out);
        }
        if self.is_staged() && !matches!(request.body, RequestBody::ImportState { .. }) {
            self.fail(id, ErrorCode::Unsupported, "the exchange holds a copy of another generation's state; awaiting the rest of the hand-over");
            return std::mem::take(&mut self.out);
        }
        if !matches!(request.body, RequestBody::Hello(_) | RequestBody::ImportState { .. }) {
            self.serving = true;
        }
        match request.body {
            RequestBody::CopyState => {
                let state = self.copy(now);
                self.reply(id, ReplyBody::State { state });
            }
            RequestBody::ExportState => {
                let state = self.export();
                self.reply(id, ReplyBody::State { state });
            }
            RequestBody::ImportState { state } => match self.import(&state) {
                Ok(()) => {
                    // the handed-over books are this exchange's now: saved before the answer
                    self.reply(id, ReplyBody::Done);
                }
                Err(e) => self.fail(id, ErrorCode::InvalidRequest, e),
            },
            RequestBody::Hello(hello) => {
                if hello.protocol_version != PROTOCOL_VERSION {
                    self.fail(
                        id,
                        ErrorCode::InvalidRequest,
                        format!("protocol {} not supported (speaks {PROTOCOL_VERSION})", hello.protocol_version),
                    );
                } else {
                    self.reply(
                        id,
                        ReplyBody::Hello(AdapterHello {
                            protocol_version: PROTOCOL_VERSION,
                            name: NAME.into(),
                            version: crate::VERSION.into(),
                            features: vec![FEATURE_STATE_HANDOVER.to_owned(), handover::FEATURE_STATE_PRECOPY.to_owned(), FEATURE_MODIFY.to_owned()],
                        }),
                    );
                    // The exchange is in-process: connected as soon as greeted.
                    self.out.push(AdapterEvent::Link(LinkState::Connected));
                }
            }
            RequestBody::Snapshot => {
                let snapshot = self.snapshot(now);
                self.reply(id, ReplyBody::Snapshot(snapshot));
            }
            RequestBody::SubmitOrder(order) => self.submit(order, now),
            RequestBody::CancelOrder { broker_order_id, .. } => self.cancel(&broker_order_id, now),
            RequestBody::ModifyOrder { broker_order_id, quantity, order_type, .. } => self.modify(&broker_order_id, quantity, order_type, now),
            RequestBody::Subscribe { symbol, .. } => match unlisted_reason(&symbol, &self.config) {
                Some(reason) => self.reply(id, ReplyBody::SymbolInvalid { reason: reason.into() }),
                None => {
                    let instrument = listing(self.config.seed, &symbol).instrument(&self.config);
                    let snap = {
                        let m = self.market(&symbol, now);
                        m.subscribed = true;
                        MarketSnapshot {
                            instrument,
                            quote: Some(m.quote()),
                            last_trade: m.last_trade(),
                            stats: Some(m.stats(now)),
                        }
                    };
                    self.reply(id, ReplyBody::Market(snap));
                }
            },
            RequestBody::Unsubscribe { symbol } => {
                if let Some(m) = self.markets.get_mut(&symbol) {
                    m.subscribed = false;
                }
                self.reply(id, ReplyBody::Done);
            }
            RequestBody::Instrument { symbol, .. } => match unlisted_reason(&symbol, &self.config) {
                Some(reason) => self.reply(id, ReplyBody::SymbolInvalid { reason: reason.into() }),
                None => {
                    let instrument = listing(self.config.seed, &symbol).instrument(&self.config);
                    self.reply(id, ReplyBody::Instrument(instrument));
                }
            },
            RequestBody::Bars { symbol, interval, start, end, .. } => {
                if let Some(reason) = unlisted_reason(&symbol, &self.config) {
                    self.fail(id, ErrorCode::InvalidRequest, format!("{symbol}: {reason}"));
                } else {
                    match self.bars(&symbol, interval, start, end, now) {
                        Ok(bars) => self.reply(id, ReplyBody::Bars { bars }),
                        Err(e) => self.fail(id, ErrorCode::InvalidRequest, e),
                    }
                }
            }
            RequestBody::Account { account } => {
                let summary = self.accounts.contains_key(&account).then(|| self.summary(&account, now));
                self.reply(id, ReplyBody::Account { summary });
            }
            RequestBody::GlobalCancel | RequestBody::Unknown => self.fail(id, ErrorCode::Unsupported, "request not supported by the simulator"),
        }
        std::mem::take(&mut self.out)
    }

    fn reply(&mut self, request_id: RequestId, body: ReplyBody) {
        self.out.push(AdapterEvent::Reply { request_id, body });
    }

    fn fail(&mut self, request_id: RequestId, code: ErrorCode, message: impl Into<String>) {
        self.out.push(AdapterEvent::Failed { request_id, error: WireError { code, message: message.into() } });
    }

    fn market(&mut self, symbol: &Symbol, now: UnixNanos) -> &mut LiveMarket {
        let (seed, history) = (self.config.seed, &mut self.history);
        self.markets
            .entry(symbol.clone())
            .or_insert_with(|| LiveMarket::new(listing(seed, symbol), history, seed, now))
    }

    /// Whether the market trades at `now`.
    pub fn is_trading(&self, now: UnixNanos) -> bool {
        if self.config.trade_outside_session {
            return true;
        }
        let date = self.history.local_date(now);
        let minute = self.history.session_minute(now);
        crate::history::is_trading_day(date) && (0..i64::from(self.history.session_minutes())).contains(&minute)
    }

    // ----- orders

    fn submit(&mut self, request: OrderRequest, now: UnixNanos) {
        self.seq += 1;
        let seq = self.seq;
        let broker_id = match BrokerOrderId::new(format!("{}-{:04x}", self.permid_prefix, seq)) {
            Ok(id) => id,
            Err(_) => return, // cannot happen: the prefix is hex digits and dashes
        };
        let reject = if !self.accounts.contains_key(&request.account) {
            Some("Invalid account".to_owned())
        } else if let Some(reason) = unlisted_reason(&request.symbol, &self.config) {
            Some(format!("Invalid symbol: {reason}"))
        } else if request.quantity.is_zero() {
            Some("Invalid quantity".to_owned())
        } else if request.order_type.limit_price().is_some_and(|p| !p.is_positive())
            || request.order_type.stop_price().is_some_and(|p| !p.is_positive())
        {
            Some("Invalid price".to_owned())
        } else {
            None
        };
        let staged = request.staged_tag.is_some();
        let order = SimOrder {
            day: self.history.local_date(now),
            request,
            broker_id: broker_id.clone(),
            status: OrderStatus::Initialized,
            filled: Quantity::ZERO,
            value: Decimal::ZERO,
            events: 0,
            active_at: None,
            triggered: false,
            reason: None,
            ts: now,
        };
        self.by_broker_id.insert(broker_id, seq);
        self.orders.insert(seq, order);
        if let Some(reason) = reject {
            self.order_event(seq, OrderEventKind::Rejected { reason }, now);
            return;
        }
        let symbol = self.orders[&seq].request.symbol.clone();
        self.market(&symbol, now);
        if staged {
            self.order_event(seq, OrderEventKind::Staged, now);
        } else {
            self.order_event(seq, OrderEventKind::Acknowledged, now);
            let delay = u64::try_from(self.config.fill_delay.as_nanos()).unwrap_or(u64::MAX);
            let at = now.plus_nanos(delay);
            if let Some(o) = self.orders.get_mut(&seq) {
                o.active_at = Some(at);
                self.activations.insert((at, seq));
            }
        }
    }

    fn cancel(&mut self, broker_id: &BrokerOrderId, now: UnixNanos) {
        let Some(&seq) = self.by_broker_id.get(broker_id) else {
            return self.unknown_order(broker_id, OrderEventKind::CancelRejected { reason: "Unknown order".into() }, now);
        };
        let status = self.orders[&seq].status;
        let kind = if status.is_terminal() {
            OrderEventKind::CancelRejected { reason: "Order not live".into() }
        } else if status == OrderStatus::Held {
            // A cancelled staged ticket is reported as the user cancelling it.
            OrderEventKind::Cancelled { reason: Some("User cancel".into()) }
        } else {
            OrderEventKind::Cancelled { reason: None }
        };
        self.order_event(seq, kind, now);
    }

    /// Refuses a request about an order the exchange does not know.
    fn unknown_order(&mut self, broker_id: &BrokerOrderId, kind: OrderEventKind, now: UnixNanos) {
        self.cancel_rejects += 1;
        self.changed.meta = true;
        self.out.push(AdapterEvent::Order(OrderEvent {
            event_id: format!("{broker_id}-x{}", self.cancel_rejects),
            broker_order_id: broker_id.clone(),
            client_order_id: None,
            ts_event: now,
            kind,
            raw: None,
        }));
    }

    /// Changes a working order's quantity and prices; it keeps working on the new terms (and
    /// trades at once if its new price crosses the market).
    fn modify(&mut self, broker_id: &BrokerOrderId, quantity: Quantity, order_type: OrderType, now: UnixNanos) {
        let Some(&seq) = self.by_broker_id.get(broker_id) else {
            return self.unknown_order(broker_id, OrderEventKind::ModifyRejected { reason: "Unknown order".into() }, now);
        };
        let o = &self.orders[&seq];
        let same_type = std::mem::discriminant(&o.request.order_type) == std::mem::discriminant(&order_type);
        let reject = if o.status.is_terminal() {
            Some("Order not live".to_owned())
        } else if o.status == OrderStatus::Held {
            Some("A staged ticket cannot be modified".to_owned())
        } else if quantity <= o.filled {
            Some(format!("Invalid quantity: {quantity} leaves nothing open ({} filled)", o.filled))
        } else if !same_type {
            Some("The order type cannot change".to_owned())
        } else if order_type.limit_price().is_some_and(|p| !p.is_positive()) || order_type.stop_price().is_some_and(|p| !p.is_positive()) {
            Some("Invalid price".to_owned())
        } else {
            None
        };
        if let Some(reason) = reject {
            self.order_event(seq, OrderEventKind::ModifyRejected { reason }, now);
            return;
        }
        if let Some(o) = self.orders.get_mut(&seq) {
            o.request.quantity = quantity;
            o.request.order_type = order_type;
        }
        self.order_event(seq, OrderEventKind::Modified { quantity, order_type }, now);
        self.try_match(seq, now);
    }

    /// Reports an order event and applies it to the exchange's own order.
    fn order_event(&mut self, seq: u64, kind: OrderEventKind, now: UnixNanos) {
        self.changed.orders.insert(seq);
        self.track_change(seq);
        let Some(o) = self.orders.get_mut(&seq) else { return };
        let trigger = match &kind {
            OrderEventKind::Acknowledged => Some(OrderTrigger::Acknowledge),
            OrderEventKind::Staged => Some(OrderTrigger::Stage),
            OrderEventKind::Accepted => Some(OrderTrigger::Accept),
            OrderEventKind::Triggered => Some(OrderTrigger::Trigger),
            OrderEventKind::Filled(_) if o.remaining().is_zero() => Some(OrderTrigger::Fill),
            OrderEventKind::Filled(_) => Some(OrderTrigger::PartialFill),
            OrderEventKind::Cancelled { .. } => Some(OrderTrigger::Cancel),
            OrderEventKind::Rejected { .. } => Some(OrderTrigger::Reject),
            OrderEventKind::Expired => Some(OrderTrigger::Expire),
            OrderEventKind::Modified { .. } => Some(OrderTrigger::Replace),
            // A refused cancel or change changes nothing at the exchange.
            OrderEventKind::CancelRejected { .. } | OrderEventKind::ModifyRejected { .. } | OrderEventKind::Unknown => None,
        };
        if let Some(t) = trigger {
            match o.status.transition(t) {
                Ok(next) => o.status = next,
                Err(e) => {
                    debug_assert!(false, "simulator produced {e}");
                    return;
                }
            }
        }
        if o.status.is_terminal() {
            self.working.remove(&seq);
            if let Some(at) = o.active_at.take() {
                self.activations.remove(&(at, seq));
            }
        }
        match &kind {
            OrderEventKind::Cancelled { reason } => o.reason.clone_from(reason),
            OrderEventKind::Rejected { reason } => o.reason = Some(reason.clone()),
            _ => {}
        }
        o.events += 1;
        o.ts = now;
        let event_id = format!("{}-{}", o.broker_id, o.events);
        self.out.push(AdapterEvent::Order(OrderEvent {
            event_id,
            broker_order_id: o.broker_id.clone(),
            client_order_id: Some(o.request.client_order_id.clone()),
            ts_event: now,
            kind,
            raw: None,
        }));
    }

    /// Starts working the orders whose fill delay is over.
    pub fn run_due(&mut self, now: UnixNanos) -> Vec<AdapterEvent> {
        if self.frozen {
            return Vec::new();
        }
        while let Some(&(at, seq)) = self.activations.first() {
            if at > now {
                break;
            }
            self.activations.pop_first();
            if let Some(o) = self.orders.get_mut(&seq) {
                o.active_at = None;
            }
            self.working.insert(seq);
            self.order_event(seq, OrderEventKind::Accepted, now);
            self.try_match(seq, now);
        }
        std::mem::take(&mut self.out)
    }

    /// When the next order starts working, if one is waiting.
    pub fn next_activation(&self) -> Option<UnixNanos> {
        if self.frozen {
            return None;
        }
        self.activations.first().map(|(at, _)| *at)
    }

    /// One market tick: quotes and trades move, working orders match, DAY orders expire, and
    /// the feed clock advances.
    pub fn tick(&mut self, now: UnixNanos) -> Vec<AdapterEvent> {
        if self.frozen {
            return Vec::new();
        }
        let trading = self.is_trading(now);
        for m in self.markets.values_mut() {
            let out = m.tick(&self.history, now, trading);
            if m.subscribed {
                if out.quote_changed {
                    self.out.push(AdapterEvent::Quote(m.quote()));
                }
                if let Some(t) = out.trade {
                    self.out.push(AdapterEvent::Trade(t));
                    self.out.push(AdapterEvent::Stats(m.stats(now)));
                }
                self.out.extend(out.bars.into_iter().map(AdapterEvent::Bar));
            }
        }
        let today = self.history.local_date(now);
        let past_close = !self.config.trade_outside_session
            && self.history.session_minute(now) >= i64::from(self.history.session_minutes());
        let working: Vec<u64> = self.working.iter().copied().collect();
        for seq in working {
            let o = &self.orders[&seq];
            let expired = o.request.time_in_force == TimeInForce::Day && (o.day < today || (past_close && o.day == today));
            if expired {
                self.order_event(seq, OrderEventKind::Expired, now);
            } else {
                self.try_match(seq, now);
            }
        }
        self.out.push(AdapterEvent::Clock { time: now });
        std::mem::take(&mut self.out)
    }

    fn try_match(&mut self, seq: u64, now: UnixNanos) {
        let trading = self.is_trading(now);
        let Some(o) = self.orders.get(&seq) else { return };
        if !o.status.is_open() || o.status == OrderStatus::Held || o.active_at.is_some() {
            return;
        }
        let (side, order_type, tif) = (o.request.side, o.request.order_type, o.request.time_in_force);
        let symbol = o.request.symbol.clone();
        let already_triggered = o.triggered;
        let (bid, ask, last) = {
            let m = self.market(&symbol, now);
            (Price::from_cents(m.bid_cents()), Price::from_cents(m.ask_cents()), m.last_cents().map(Price::from_cents))
        };
        if trading {
            if let Some(stop) = order_type.stop_price().filter(|_| !already_triggered) {
                let hit = match side {
                    Side::Buy => ask >= stop || last.is_some_and(|l| l >= stop),
                    Side::Sell => bid <= stop || last.is_some_and(|l| l <= stop),
                };
                if !hit {
                    return self.expire_ioc(seq, tif, now);
                }
                if let Some(o) = self.orders.get_mut(&seq) {
                    o.triggered = true;
                }
                self.order_event(seq, OrderEventKind::Triggered, now);
            }
            let touch = match side {
                Side::Buy => ask,
                Side::Sell => bid,
            };
            let marketable = match order_type {
                OrderType::Market | OrderType::Stop { .. } => true,
                OrderType::Limit { limit_price } | OrderType::StopLimit { limit_price, .. } => match side {
                    Side::Buy => touch <= limit_price,
                    Side::Sell => touch >= limit_price,
                },
            };
            if marketable {
                self.fill(seq, touch, now);
            }
        }
        self.expire_ioc(seq, tif, now);
    }

    fn expire_ioc(&mut self, seq: u64, tif: TimeInForce, now: UnixNanos) {
        if tif == TimeInForce::Ioc && self.orders.get(&seq).is_some_and(|o| o.status.is_open()) {
            self.order_event(seq, OrderEventKind::Cancelled { reason: Some("IOC remainder not filled".into()) }, now);
        }
    }

    fn fill(&mut self, seq: u64, price: Price, now: UnixNanos) {
        let Some(o) = self.orders.get_mut(&seq) else { return };
        let total = o.request.quantity;
        let slice = if total > self.config.partial_fill_threshold {
            let parts = Decimal::from(self.config.partial_fill_parts);
            Quantity::new((total.as_decimal() / parts).ceil()).unwrap_or(total)
        } else {
            total
        };
        let qty = slice.min(o.remaining());
        if qty.is_zero() {
            return;
        }
        o.filled = o.filled.checked_add(qty).unwrap_or(o.filled);
        o.value += price.as_decimal() * qty.as_decimal();
        let exec_id = format!("{}-{}", o.broker_id, o.events + 1);
        let (account, symbol, side) = (o.request.account.clone(), o.request.symbol.clone(), o.request.side);
        let Ok(exec_id) = ExecutionId::new(exec_id) else { return };
        let execution = Execution {
            exec_id: exec_id.clone(),
            client_order_id: Some(o.request.client_order_id.clone()),
            broker_order_id: o.broker_id.clone(),
            account: account.clone(),
            symbol: symbol.clone(),
            side,
            quantity: qty,
            price,
            cum_quantity: o.filled,
            leaves_quantity: o.remaining(),
            avg_price: o.avg_price().unwrap_or(price),
            venue_fill_id: Some(format!("SIM-{}", self.fills + 1)),
            ts_event: now,
            commission: None,
        };
        let venue_fill_id = execution.venue_fill_id.clone();
        self.fills += 1;
        self.changed.executions.push(execution.clone());
        self.executions.push(execution);
        self.order_event(
            seq,
            OrderEventKind::Filled(Fill { exec_id, quantity: qty, price, venue_fill_id }),
            now,
        );
        self.book(&account, &symbol, side, qty, price);
        let cents = (price.as_decimal() * Decimal::ONE_HUNDRED).round().to_i64().unwrap_or(0);
        let shares = u64::try_from(qty.trunc_i64()).unwrap_or(0);
        self.market(&symbol, now);
        let Some(market) = self.markets.get_mut(&symbol) else { return };
        let trade = market.print(&self.history, cents, shares, now);
        if market.subscribed {
            let stats = market.stats(now);
            self.out.push(AdapterEvent::Trade(trade));
            self.out.push(AdapterEvent::Stats(stats));
        }
        let summary = self.summary(&account, now);
        self.out.push(AdapterEvent::Account(summary));
    }

    /// Books a fill into the account: cash, position and average cost.
    fn book(&mut self, account: &AccountId, symbol: &Symbol, side: Side, qty: Quantity, price: Price) {
        let Some(acct) = self.accounts.get_mut(account) else { return };
        self.changed.accounts.insert(account.clone());
        let signed = match side {
            Side::Buy => qty.as_decimal(),
            Side::Sell => -qty.as_decimal(),
        };
        acct.cash -= signed * price.as_decimal();
        let h = acct.holdings.entry(symbol.clone()).or_default();
        let new_qty = h.qty + signed;
        if h.qty.is_zero() || (h.qty.is_sign_positive() == signed.is_sign_positive()) {
            // opening or adding: weighted average cost
            h.avg = (h.avg * h.qty.abs() + price.as_decimal() * signed.abs()) / new_qty.abs();
        } else if new_qty.is_zero() {
            h.avg = Decimal::ZERO;
        } else if new_qty.is_sign_positive() != h.qty.is_sign_positive() {
            // flipped through zero: the rest opened at this price
            h.avg = price.as_decimal();
        }
        h.qty = new_qty;
    }

    fn mark(&self, symbol: &Symbol) -> Price {
        match self.markets.get(symbol) {
            Some(m) => m.mark(),
            None => Price::from_cents(listing(self.config.seed, symbol).base_cents),
        }
    }

    fn summary(&self, account: &AccountId, now: UnixNanos) -> AccountSummary {
        let (cash, holdings) = match self.accounts.get(account) {
            Some(a) => (a.cash, Some(&a.holdings)),
            None => (Decimal::ZERO, None),
        };
        let (mut net, mut gross) = (Decimal::ZERO, Decimal::ZERO);
        for (sym, h) in holdings.into_iter().flatten() {
            let value = h.qty * self.mark(sym).as_decimal();
            net += value;
            gross += value.abs();
        }
        let equity = cash + net;
        let excess = equity - gross * self.config.maintenance_margin;
        AccountSummary {
            account: account.clone(),
            currency: "USD".into(),
            cash: Money::new(cash),
            equity: Money::new(equity),
            excess_equity: Money::new(excess),
            gross_position_value: Money::new(gross),
            buying_power: Money::new((excess / self.config.maintenance_margin).max(Decimal::ZERO).round_dp(2)),
            ts_event: now,
        }
    }

    fn snapshot(&self, now: UnixNanos) -> BrokerSnapshot {
        let positions = self
            .accounts
            .iter()
            .flat_map(|(acct, a)| {
                a.holdings.iter().map(|(sym, h)| Position {
                    account: acct.clone(),
                    symbol: sym.clone(),
                    quantity: SignedQuantity::new(h.qty),
                    avg_price: (!h.qty.is_zero()).then_some(Price::new(h.avg)),
                })
            })
            .collect();
        BrokerSnapshot {
            accounts: self.accounts.keys().cloned().collect(),
            balances: self.accounts.keys().map(|a| self.summary(a, now)).collect(),
            positions,
            orders: self
                .orders
                .values()
                .map(|o| o.clone().into_snapshot())
                .collect(),
            executions: self.executions.clone(),
        }
    }

    fn bars(
        &mut self,
        symbol: &Symbol,
        interval: txtrader_plugin_api::model::BarInterval,
        start: UnixNanos,
        end: UnixNanos,
        now: UnixNanos,
    ) -> Result<Vec<txtrader_plugin_api::model::Bar>, String> {
        let lst = listing(self.config.seed, symbol);
        let today = self.history.local_date(now);
        let mut overrides: HashMap<NaiveDate, Vec<MinuteBar>> = HashMap::new();
        match self.markets.get(symbol) {
            Some(m) => {
                let (day, minutes) = m.today_minutes(&self.history);
                overrides.insert(day, minutes);
            }
            None => {
                // No live market yet: today's synthetic bars up to now.
                let current = self.history.session_minute(now);
                let minutes = self
                    .history
                    .day(&lst, today)
                    .map(|d| d.minutes.into_iter().filter(|b| i64::from(b.index) < current).collect())
                    .unwrap_or_default();
                overrides.insert(today, minutes);
            }
        }
        self.history.bars(&lst, interval, start, end, today, &overrides)
    }
}

#[cfg(test)]
mod tests;
