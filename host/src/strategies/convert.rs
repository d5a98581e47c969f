//! The one place where the strategy WIT types and the domain model meet: every WIT record the
//! host gives a guest is built here, every one it takes is read here. Decimals cross the
//! boundary as text and are parsed here; a malformed value becomes the refusal the guest sees.

use super::bindings::txtrader::strategy::types as wit;
use super::view::{LogLevel, OwnFill, OwnOrder};
use crate::gateway::NewOrder;
use rust_decimal::Decimal;
use std::str::FromStr;
use txtrader_plugin_api::model::{
    AccountId, AccountSummary, Bar, BarInterval, OrderOrigin, OrderRequest, OrderStatus, OrderType, Price, Quantity,
    Quote, Side, SignedQuantity, Symbol, TimeInForce, Trade,
};

/// A quote for the guest.
pub fn quote(q: &Quote) -> wit::Quote {
    wit::Quote {
        symbol: q.symbol.as_str().to_owned(),
        bid: q.bid.map(|p| p.to_string()),
        bid_size: q.bid_size.to_string(),
        ask: q.ask.map(|p| p.to_string()),
        ask_size: q.ask_size.to_string(),
        time: q.ts_event.0,
    }
}

/// A trade for the guest.
pub fn trade(t: &Trade) -> wit::Trade {
    wit::Trade { symbol: t.symbol.as_str().to_owned(), price: t.price.to_string(), size: t.size.to_string(), time: t.ts_event.0 }
}

/// A bar interval for the guest.
pub fn interval(i: BarInterval) -> wit::Interval {
    match i {
        BarInterval::Minutes(n) => wit::Interval::Minutes(n),
        BarInterval::Day => wit::Interval::Day,
        BarInterval::Week => wit::Interval::Week,
        BarInterval::Month => wit::Interval::Month,
    }
}

/// A bar interval from the guest.
///
/// # Errors
/// Zero-minute bars.
pub fn bar_interval(i: wit::Interval) -> Result<BarInterval, String> {
    Ok(match i {
        wit::Interval::Minutes(0) => return Err("bars of zero minutes".into()),
        wit::Interval::Minutes(n) => BarInterval::Minutes(n),
        wit::Interval::Day => BarInterval::Day,
        wit::Interval::Week => BarInterval::Week,
        wit::Interval::Month => BarInterval::Month,
    })
}

/// A bar for the guest.
pub fn bar(b: &Bar) -> wit::Bar {
    wit::Bar {
        symbol: b.symbol.as_str().to_owned(),
        interval: interval(b.interval),
        start: b.start.0,
        open: b.open.to_string(),
        high: b.high.to_string(),
        low: b.low.to_string(),
        close: b.close.to_string(),
        volume: b.volume.to_string(),
    }
}

/// An order status for the guest (a held ticket is `submitted`: strategies do not stage).
pub fn status(s: OrderStatus) -> wit::OrderStatus {
    match s {
        OrderStatus::Initialized => wit::OrderStatus::Pending,
        OrderStatus::Submitted | OrderStatus::Held => wit::OrderStatus::Submitted,
        OrderStatus::Working => wit::OrderStatus::Working,
        OrderStatus::PartiallyFilled => wit::OrderStatus::PartiallyFilled,
        OrderStatus::PendingCancel { .. } => wit::OrderStatus::PendingCancel,
        // the guest's statuses predate changes: a pending change shows where the order stands
        OrderStatus::PendingReplace { resume } => status(resume.into()),
        OrderStatus::Filled => wit::OrderStatus::Filled,
        OrderStatus::Cancelled => wit::OrderStatus::Cancelled,
        OrderStatus::Rejected => wit::OrderStatus::Rejected,
        OrderStatus::Expired => wit::OrderStatus::Expired,
    }
}

fn side(s: Side) -> wit::Side {
    match s {
        Side::Buy => wit::Side::Buy,
        Side::Sell => wit::Side::Sell,
    }
}

/// An order request for the guest.
pub fn request(r: &OrderRequest) -> wit::OrderRequest {
    wit::OrderRequest {
        account: r.account.as_str().to_owned(),
        symbol: r.symbol.as_str().to_owned(),
        side: side(r.side),
        quantity: r.quantity.to_string(),
        order_type: match r.order_type {
            OrderType::Market => wit::OrderType::Market,
            OrderType::Limit { limit_price } => wit::OrderType::Limit(limit_price.to_string()),
            OrderType::Stop { stop_price } => wit::OrderType::Stop(stop_price.to_string()),
            OrderType::StopLimit { stop_price, limit_price } => {
                wit::OrderType::StopLimit(wit::StopLimitPrices { stop: stop_price.to_string(), limit: limit_price.to_string() })
            }
        },
        time_in_force: match r.time_in_force {
            TimeInForce::Day => wit::TimeInForce::Day,
            TimeInForce::Gtc => wit::TimeInForce::Gtc,
            TimeInForce::Ioc => wit::TimeInForce::Ioc,
        },
    }
}

/// A fill for the guest.
fn fill(f: &OwnFill) -> wit::Fill {
    wit::Fill { exec_id: f.exec_id.as_str().to_owned(), quantity: f.quantity.to_string(), price: f.price.to_string(), time: f.time.0 }
}

/// One of its orders for the guest, reporting `fill` as the change's fill.
pub fn order(o: &OwnOrder, change: Option<&OwnFill>) -> wit::Order {
    wit::Order {
        id: o.id().to_owned(),
        broker_id: o.broker_id.as_ref().map(|b| b.as_str().to_owned()),
        request: request(&o.request),
        status: status(o.status),
        filled: o.filled.to_string(),
        avg_price: o.avg_price.map(|p| p.to_string()),
        reason: o.reason.clone(),
        fill: change.map(fill),
    }
}

/// A guest's log level.
pub fn log_level(l: wit::LogLevel) -> LogLevel {
    match l {
        wit::LogLevel::Trace => LogLevel::Trace,
        wit::LogLevel::Debug => LogLevel::Debug,
        wit::LogLevel::Info => LogLevel::Info,
        wit::LogLevel::Warn => LogLevel::Warn,
        wit::LogLevel::Error => LogLevel::Error,
    }
}

/// A position for the guest.
pub fn position(account: &AccountId, symbol: &Symbol, quantity: SignedQuantity) -> wit::Position {
    wit::Position { account: account.as_str().to_owned(), symbol: symbol.as_str().to_owned(), quantity: quantity.to_string() }
}

/// Balances for the guest.
pub fn account(s: &AccountSummary) -> wit::AccountSummary {
    wit::AccountSummary {
        account: s.account.as_str().to_owned(),
        currency: s.currency.clone(),
        cash: s.cash.to_string(),
        equity: s.equity.to_string(),
        buying_power: s.buying_power.to_string(),
        time: s.ts_event.0,
    }
}

fn price(text: &str, what: &str) -> Result<Price, String> {
    let p = Price::from_str(text).map_err(|_| format!("{what} {text:?} is not a decimal number"))?;
    if !p.is_positive() {
        return Err(format!("{what} must be positive, got {p}"));
    }
    Ok(p)
}

/// A symbol from the guest (upper-cased, as every surface of the gateway does).
///
/// # Errors
/// An empty or malformed symbol.
pub fn symbol(text: &str) -> Result<Symbol, String> {
    Symbol::new(text.trim().to_uppercase()).map_err(|e| format!("symbol {text:?}: {e}"))
}

/// A change of an order from the guest.
///
/// # Errors
/// What is malformed, as the guest will read it.
pub fn order_change(c: &wit::OrderChange) -> Result<crate::gateway::change::Change, String> {
    let quantity = c
        .quantity
        .as_ref()
        .map(|q| Decimal::from_str(q.trim()).ok().and_then(|d| Quantity::new(d).ok()).filter(|q| !q.is_zero()).ok_or_else(|| format!("quantity must be a positive decimal, got {q:?}")))
        .transpose()?;
    let limit_price = c.limit_price.as_ref().map(|p| price(p, "limit price")).transpose()?;
    let stop_price = c.stop_price.as_ref().map(|p| price(p, "stop price")).transpose()?;
    Ok(crate::gateway::change::Change { quantity, limit_price, stop_price })
}

/// A new order from the guest, on behalf of strategy `name`.
///
/// # Errors
/// What is malformed, as the guest will read it.
pub fn new_order(r: &wit::OrderRequest, name: &str) -> Result<NewOrder, String> {
    let account = AccountId::new(r.account.clone()).map_err(|e| format!("account {:?}: {e}", r.account))?;
    let quantity = Decimal::from_str(r.quantity.trim())
        .ok()
        .and_then(|d| Quantity::new(d).ok())
        .filter(|q| !q.is_zero())
        .ok_or_else(|| format!("quantity must be a positive decimal, got {:?}", r.quantity))?;
    let order_type = match &r.order_type {
        wit::OrderType::Market => OrderType::Market,
        wit::OrderType::Limit(p) => OrderType::Limit { limit_price: price(p, "limit price")? },
        wit::OrderType::Stop(p) => OrderType::Stop { stop_price: price(p, "stop price")? },
        wit::OrderType::StopLimit(p) => {
            OrderType::StopLimit { stop_price: price(&p.stop, "stop price")?, limit_price: price(&p.limit, "limit price")? }
        }
    };
    Ok(NewOrder {
        account,
        symbol: symbol(&r.symbol)?,
        side: match r.side {
            wit::Side::Buy => Side::Buy,
            wit::Side::Sell => Side::Sell,
        },
        quantity,
        order_type,
        time_in_force: match r.time_in_force {
            wit::TimeInForce::Day => TimeInForce::Day,
            wit::TimeInForce::Gtc => TimeInForce::Gtc,
            wit::TimeInForce::Ioc => TimeInForce::Ioc,
        },
        route: None,
        sets_default_route: false,
        staged_tag: None,
        origin: OrderOrigin::Strategy { name: name.to_owned() },
        user: None,
        client_order_id: None,
        intended_duplicate: false,
    })
}
