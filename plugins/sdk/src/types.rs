//! The strategy's typed view of the WIT records: exact [`Decimal`]s instead of decimal text,
//! and conversions both ways (the only place the SDK touches the generated types).

use crate::bindings::txtrader::strategy::types as wit;
use rust_decimal::Decimal;
use std::str::FromStr;

/// Decimal text from the host is always well formed; a malformed one reads as zero.
fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_default()
}

fn opt(s: Option<String>) -> Option<Decimal> {
    s.as_deref().map(dec)
}

/// Best bid and offer.
#[derive(Clone, Debug, PartialEq)]
pub struct Quote {
    /// Symbol.
    pub symbol: String,
    /// Best bid.
    pub bid: Option<Decimal>,
    /// Size at the bid.
    pub bid_size: Decimal,
    /// Best offer.
    pub ask: Option<Decimal>,
    /// Size at the offer.
    pub ask_size: Decimal,
    /// Gateway clock, ns since the epoch.
    pub time: u64,
}

impl Quote {
    /// The midpoint, when both sides are there.
    pub fn mid(&self) -> Option<Decimal> {
        Some((self.bid? + self.ask?) / Decimal::TWO)
    }
}

impl From<wit::Quote> for Quote {
    fn from(q: wit::Quote) -> Self {
        Self { bid: opt(q.bid), bid_size: dec(&q.bid_size), ask: opt(q.ask), ask_size: dec(&q.ask_size), time: q.time, symbol: q.symbol }
    }
}

/// A trade on the tape.
#[derive(Clone, Debug, PartialEq)]
pub struct Trade {
    /// Symbol.
    pub symbol: String,
    /// Price.
    pub price: Decimal,
    /// Size.
    pub size: Decimal,
    /// Gateway clock, ns since the epoch.
    pub time: u64,
}

impl From<wit::Trade> for Trade {
    fn from(t: wit::Trade) -> Self {
        Self { price: dec(&t.price), size: dec(&t.size), time: t.time, symbol: t.symbol }
    }
}

/// Bar width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interval {
    /// N minutes.
    Minutes(u32),
    /// A trading day.
    Day,
    /// A week.
    Week,
    /// A month.
    Month,
}

impl From<wit::Interval> for Interval {
    fn from(i: wit::Interval) -> Self {
        match i {
            wit::Interval::Minutes(n) => Self::Minutes(n),
            wit::Interval::Day => Self::Day,
            wit::Interval::Week => Self::Week,
            wit::Interval::Month => Self::Month,
        }
    }
}

impl From<Interval> for wit::Interval {
    fn from(i: Interval) -> Self {
        match i {
            Interval::Minutes(n) => Self::Minutes(n),
            Interval::Day => Self::Day,
            Interval::Week => Self::Week,
            Interval::Month => Self::Month,
        }
    }
}

/// An OHLCV bar.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    /// Symbol.
    pub symbol: String,
    /// Width.
    pub interval: Interval,
    /// Start, ns since the epoch.
    pub start: u64,
    /// Open.
    pub open: Decimal,
    /// High.
    pub high: Decimal,
    /// Low.
    pub low: Decimal,
    /// Close.
    pub close: Decimal,
    /// Volume.
    pub volume: Decimal,
}

impl From<wit::Bar> for Bar {
    fn from(b: wit::Bar) -> Self {
        Self {
            interval: b.interval.into(),
            start: b.start,
            open: dec(&b.open),
            high: dec(&b.high),
            low: dec(&b.low),
            close: dec(&b.close),
            volume: dec(&b.volume),
            symbol: b.symbol,
        }
    }
}

/// Buy or sell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Buy.
    Buy,
    /// Sell.
    Sell,
}

/// How long an order lives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeInForce {
    /// Until the end of the day.
    #[default]
    Day,
    /// Until cancelled.
    Gtc,
    /// Immediate or cancel.
    Ioc,
}

/// How an order is priced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderType {
    /// At the market.
    Market,
    /// At this price or better.
    Limit(Decimal),
    /// A market order once the price reaches the stop.
    Stop(Decimal),
    /// A limit order once the price reaches the stop.
    StopLimit {
        /// Trigger.
        stop: Decimal,
        /// Limit.
        limit: Decimal,
    },
}

/// A new order.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderRequest {
    /// Account (the manifest must allow it).
    pub account: String,
    /// Symbol (the manifest must allow it).
    pub symbol: String,
    /// Side.
    pub side: Side,
    /// Positive quantity.
    pub quantity: Decimal,
    /// Pricing.
    pub order_type: OrderType,
    /// Lifetime.
    pub time_in_force: TimeInForce,
}

impl From<OrderRequest> for wit::OrderRequest {
    fn from(r: OrderRequest) -> Self {
        Self {
            account: r.account,
            symbol: r.symbol,
            side: match r.side {
                Side::Buy => wit::Side::Buy,
                Side::Sell => wit::Side::Sell,
            },
            quantity: r.quantity.to_string(),
            order_type: match r.order_type {
                OrderType::Market => wit::OrderType::Market,
                OrderType::Limit(p) => wit::OrderType::Limit(p.to_string()),
                OrderType::Stop(p) => wit::OrderType::Stop(p.to_string()),
                OrderType::StopLimit { stop, limit } => {
                    wit::OrderType::StopLimit(wit::StopLimitPrices { stop: stop.to_string(), limit: limit.to_string() })
                }
            },
            time_in_force: match r.time_in_force {
                TimeInForce::Day => wit::TimeInForce::Day,
                TimeInForce::Gtc => wit::TimeInForce::Gtc,
                TimeInForce::Ioc => wit::TimeInForce::Ioc,
            },
        }
    }
}

impl From<wit::OrderRequest> for OrderRequest {
    fn from(r: wit::OrderRequest) -> Self {
        Self {
            side: match r.side {
                wit::Side::Buy => Side::Buy,
                wit::Side::Sell => Side::Sell,
            },
            quantity: dec(&r.quantity),
            order_type: match r.order_type {
                wit::OrderType::Market => OrderType::Market,
                wit::OrderType::Limit(p) => OrderType::Limit(dec(&p)),
                wit::OrderType::Stop(p) => OrderType::Stop(dec(&p)),
                wit::OrderType::StopLimit(p) => OrderType::StopLimit { stop: dec(&p.stop), limit: dec(&p.limit) },
            },
            time_in_force: match r.time_in_force {
                wit::TimeInForce::Day => TimeInForce::Day,
                wit::TimeInForce::Gtc => TimeInForce::Gtc,
                wit::TimeInForce::Ioc => TimeInForce::Ioc,
            },
            account: r.account,
            symbol: r.symbol,
        }
    }
}

/// Where an order stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderStatus {
    /// Placed, not acknowledged yet.
    Pending,
    /// Acknowledged.
    Submitted,
    /// Working at the venue.
    Working,
    /// Partly filled, still working.
    PartiallyFilled,
    /// A cancel is in flight; it may still fill.
    PendingCancel,
    /// Completely filled.
    Filled,
    /// Cancelled.
    Cancelled,
    /// Rejected.
    Rejected,
    /// Expired.
    Expired,
}

impl OrderStatus {
    /// Filled, cancelled, rejected or expired: nothing more will happen to it.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Filled | Self::Cancelled | Self::Rejected | Self::Expired)
    }
}

/// One execution.
#[derive(Clone, Debug, PartialEq)]
pub struct Fill {
    /// Execution id.
    pub exec_id: String,
    /// Quantity of this fill.
    pub quantity: Decimal,
    /// Price of this fill.
    pub price: Decimal,
    /// When.
    pub time: u64,
}

/// One of this strategy's orders, as of its latest change.
#[derive(Clone, Debug, PartialEq)]
pub struct Order {
    /// The id [`crate::Context::submit`] returned.
    pub id: String,
    /// The broker's id, once acknowledged.
    pub broker_id: Option<String>,
    /// What was asked.
    pub request: OrderRequest,
    /// Where it stands.
    pub status: OrderStatus,
    /// Filled so far.
    pub filled: Decimal,
    /// Average fill price.
    pub avg_price: Option<Decimal>,
    /// Why it was rejected or cancelled.
    pub reason: Option<String>,
    /// The fill this change reports.
    pub fill: Option<Fill>,
}

impl From<wit::Order> for Order {
    fn from(o: wit::Order) -> Self {
        Self {
            id: o.id,
            broker_id: o.broker_id,
            request: o.request.into(),
            status: match o.status {
                wit::OrderStatus::Pending => OrderStatus::Pending,
                wit::OrderStatus::Submitted => OrderStatus::Submitted,
                wit::OrderStatus::Working => OrderStatus::Working,
                wit::OrderStatus::PartiallyFilled => OrderStatus::PartiallyFilled,
                wit::OrderStatus::PendingCancel => OrderStatus::PendingCancel,
                wit::OrderStatus::Filled => OrderStatus::Filled,
                wit::OrderStatus::Cancelled => OrderStatus::Cancelled,
                wit::OrderStatus::Rejected => OrderStatus::Rejected,
                wit::OrderStatus::Expired => OrderStatus::Expired,
            },
            filled: dec(&o.filled),
            avg_price: opt(o.avg_price),
            reason: o.reason,
            fill: o.fill.map(|f| Fill { exec_id: f.exec_id, quantity: dec(&f.quantity), price: dec(&f.price), time: f.time }),
        }
    }
}

/// A net position (negative: short).
#[derive(Clone, Debug, PartialEq)]
pub struct Position {
    /// Account.
    pub account: String,
    /// Symbol.
    pub symbol: String,
    /// Quantity.
    pub quantity: Decimal,
}

/// An account's balances.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountSummary {
    /// Account.
    pub account: String,
    /// Currency.
    pub currency: String,
    /// Cash.
    pub cash: Decimal,
    /// Equity.
    pub equity: Decimal,
    /// Buying power.
    pub buying_power: Decimal,
    /// As of.
    pub time: u64,
}

impl From<wit::AccountSummary> for AccountSummary {
    fn from(a: wit::AccountSummary) -> Self {
        Self {
            cash: dec(&a.cash),
            equity: dec(&a.equity),
            buying_power: dec(&a.buying_power),
            time: a.time,
            account: a.account,
            currency: a.currency,
        }
    }
}

impl From<wit::Position> for Position {
    fn from(p: wit::Position) -> Self {
        Self { quantity: dec(&p.quantity), account: p.account, symbol: p.symbol }
    }
}
