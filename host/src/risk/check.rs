//! The pre-trade check itself: one order against the limits resolved for its account and
//! symbol, the account's exposure, the reference price and the account's counters. It changes
//! nothing (the same state and order always give the same answer); the engine records what an
//! accepted order uses ([`super::RiskEngine::admit`]).
//!
//! Rules in the order they are tried: the trading state; size, value and price collar (always,
//! whatever the order does to the position); duplicate window and order rate; then, unless the
//! order only reduces a position, the exposure limits (position, open orders, open notional).

use super::limits::Rules;
use super::state::TradingState;
use super::throttle::{Bucket, Recent};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use txtrader_plugin_api::model::{AccountId, OrderType, Price, Quantity, Side, Symbol};

/// The rule that refused an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The gateway or the account is HALTED.
    Halted,
    /// The gateway or the account is REDUCING and the order does not reduce a position.
    Reducing,
    /// Quantity above `max_order_quantity`.
    MaxOrderQuantity,
    /// Quantity × price above `max_order_notional`.
    MaxOrderNotional,
    /// A limit or stop price outside the collar around the reference price (`price_collar_percent`
    /// or `price_collar_ticks`).
    PriceCollar,
    /// No reference price to check the collar or notional against.
    NoReferencePrice,
    /// The same order again within `duplicate_window_ms`.
    #[serde(rename = "duplicate_window_ms")]
    Duplicate,
    /// More than `max_orders_per_second`.
    #[serde(rename = "max_orders_per_second")]
    OrderRate,
    /// The position would exceed `max_position`.
    MaxPosition,
    /// More than `max_open_orders` would be open.
    MaxOpenOrders,
    /// The open notional would exceed `max_open_notional`.
    MaxOpenNotional,
}

impl Rule {
    /// The rule's name, as in the limits file where it has a key.
    pub fn name(self) -> &'static str {
        match self {
            Self::Halted => "halted",
            Self::Reducing => "reducing",
            Self::MaxOrderQuantity => "max_order_quantity",
            Self::MaxOrderNotional => "max_order_notional",
            Self::PriceCollar => "price_collar",
            Self::NoReferencePrice => "no_reference_price",
            Self::Duplicate => "duplicate_window_ms",
            Self::OrderRate => "max_orders_per_second",
            Self::MaxPosition => "max_position",
            Self::MaxOpenOrders => "max_open_orders",
            Self::MaxOpenNotional => "max_open_notional",
        }
    }
}

/// An order refused before the broker heard of it: the rule, its limit and the order's value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("refused by risk rule {}: {value} against the limit {limit} (account {account}, {symbol})", rule.name())]
pub struct Denial {
    /// The rule.
    pub rule: Rule,
    /// The limit, as text (`HALTED` for a state).
    pub limit: String,
    /// What the order would have made of it, as text.
    pub value: String,
    /// The account.
    pub account: AccountId,
    /// The symbol.
    pub symbol: Symbol,
}

/// What one account has open in one symbol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SymbolWorking {
    /// Open quantity of its buy orders.
    pub buy: Decimal,
    /// Open quantity of its sell orders.
    pub sell: Decimal,
    /// Open quantity of its orders without a price (market orders), both sides.
    pub unpriced: Decimal,
}

impl SymbolWorking {
    /// The open quantity on one side.
    pub fn side(&self, side: Side) -> Decimal {
        match side {
            Side::Buy => self.buy,
            Side::Sell => self.sell,
        }
    }
}

/// The order being checked.
#[derive(Clone, Debug)]
pub struct Candidate<'a> {
    /// Its account.
    pub account: &'a AccountId,
    /// Its symbol.
    pub symbol: &'a Symbol,
    /// Buy or sell.
    pub side: Side,
    /// Its quantity.
    pub quantity: Quantity,
    /// Its pricing.
    pub order_type: &'a OrderType,
    /// The client marked it as intended even if it repeats a recent order.
    pub intended_duplicate: bool,
}

impl Candidate<'_> {
    /// What makes it the same order for the duplicate window.
    pub fn key(&self) -> String {
        let price = |p: Option<Price>| p.map_or_else(|| "-".to_owned(), |p| p.to_string());
        format!("{} {:?} {} {} {}", self.symbol, self.side, self.quantity, price(self.order_type.limit_price()), price(self.order_type.stop_price()))
    }
}

/// The account's exposure as the books hold it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Exposure {
    /// Net position in the order's symbol.
    pub position: Decimal,
    /// Open orders in the order's symbol.
    pub working: SymbolWorking,
    /// Open orders of the account.
    pub open_orders: usize,
    /// Σ open quantity × price of the account's open orders (market orders at their symbol's
    /// reference price, or not counted when there is none).
    pub open_notional: Decimal,
}

/// What an accepted order uses of the account's counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pass {
    /// The rate limit it counts against.
    pub rate: Option<u32>,
    /// Its duplicate-window key and the window.
    pub duplicate: Option<(String, Duration)>,
    /// It only reduces a position.
    pub reducing: bool,
}

/// The account's counters.
#[derive(Clone, Copy, Debug)]
pub struct Counters<'a> {
    /// Its token bucket, once it has ordered under a rate limit.
    pub bucket: Option<&'a Bucket>,
    /// Its recent orders.
    pub recent: Option<&'a Recent>,
}

/// True when the order only reduces the position: it is on the other side of it, and with the
/// working orders on its side all filled the position would not cross zero.
pub fn reduces(position: Decimal, side: Side, quantity: Quantity, working: &SymbolWorking) -> bool {
    let on_side = working.side(side).saturating_add(quantity.as_decimal());
    match side {
        Side::Sell => position > Decimal::ZERO && on_side <= position,
        Side::Buy => position < Decimal::ZERO && on_side <= -position,
    }
}

/// Checks one order.
///
/// # Errors
/// The first rule it breaks.
pub fn check(rules: &Rules, state: TradingState, c: &Candidate<'_>, x: &Exposure, reference: Option<Price>, counters: Counters<'_>, now: Instant) -> Result<Pass, Denial> {
    let deny = |rule: Rule, limit: String, value: String| Denial { rule, limit, value, account: c.account.clone(), symbol: c.symbol.clone() };
    let qty = c.quantity.as_decimal();
    let reducing = reduces(x.position, c.side, c.quantity, &x.working);
    match state {
        TradingState::Active => {}
        TradingState::Reducing if reducing => {}
        TradingState::Reducing => {
            return Err(deny(Rule::Reducing, "orders that reduce a position".into(), format!("{:?} {} with position {}", c.side, c.quantity, x.position.normalize())));
        }
        TradingState::Halted => return Err(deny(Rule::Halted, "no new orders".into(), "HALTED".into())),
    }
    if let Some(max) = rules.max_order_quantity.filter(|max| qty > *max) {
        return Err(deny(Rule::MaxOrderQuantity, max.normalize().to_string(), c.quantity.to_string()));
    }
    let price = c.order_type.limit_price().or_else(|| c.order_type.stop_price()).or(reference);
    let notional = price.map(|p| p.as_decimal().abs().checked_mul(qty));
    if let Some(max) = rules.max_order_notional {
        match notional {
            Some(Some(n)) if n > max => return Err(deny(Rule::MaxOrderNotional, max.normalize().to_string(), n.normalize().to_string())),
            Some(None) => return Err(deny(Rule::MaxOrderNotional, max.normalize().to_string(), "beyond any number".into())),
            None if !rules.allow_without_reference => {
                let (rule, limit, value) = no_reference();
                return Err(deny(rule, limit, value));
            }
            Some(Some(_)) | None => {}
        }
    }
    for p in [c.order_type.limit_price(), c.order_type.stop_price()].into_iter().flatten() {
        collar(rules, p, reference).map_err(|(rule, limit, value)| deny(rule, limit, value))?;
    }
    let duplicate = rules.duplicate_window_ms.map(|ms| (c.key(), Duration::from_millis(ms)));
    if let Some((key, window)) = duplicate.as_ref().filter(|_| !c.intended_duplicate) {
        if let Some(ago) = counters.recent.and_then(|r| r.seen_within(key, *window, now)) {
            return Err(deny(Rule::Duplicate, format!("{} ms", window.as_millis()), format!("the same order {} ms ago", ago.as_millis())));
        }
    }
    if let Some(rate) = rules.max_orders_per_second {
        if counters.bucket.map_or(f64::from(rate), |b| b.available(rate, now)) < 1.0 {
            return Err(deny(Rule::OrderRate, format!("{rate} per second"), "one more".into()));
        }
    }
    if !reducing {
        exposure(rules, c, x, notional.flatten()).map_err(|(rule, limit, value)| deny(rule, limit, value))?;
    }
    Ok(Pass { rate: rules.max_orders_per_second, duplicate, reducing })
}

type Broken = (Rule, String, String);

/// A collar or a market order's value needs a reference price and there is none.
fn no_reference() -> Broken {
    (Rule::NoReferencePrice, "a last trade or a two-sided quote".into(), "none".into())
}

fn collar(rules: &Rules, price: Price, reference: Option<Price>) -> Result<(), Broken> {
    if rules.price_collar_percent.is_none() && rules.price_collar_ticks.is_none() {
        return Ok(());
    }
    let Some(reference) = reference else {
        return if rules.allow_without_reference { Ok(()) } else { Err(no_reference()) };
    };
    let Some(distance) = price.as_decimal().checked_sub(reference.as_decimal()).map(|d| d.abs()) else {
        return Err((Rule::PriceCollar, format!("a collar around {reference}"), format!("{price}")));
    };
    if let Some(pct) = rules.price_collar_percent {
        let allowed = reference.as_decimal().abs().checked_mul(pct).map(|v| v / Decimal::ONE_HUNDRED);
        if allowed.is_some_and(|a| distance > a) {
            return Err((Rule::PriceCollar, format!("{}% of {reference}", pct.normalize()), format!("{price}")));
        }
    }
    if let Some(ticks) = rules.price_collar_ticks {
        let allowed = rules.tick_size.checked_mul(Decimal::from(ticks));
        if allowed.is_some_and(|a| distance > a) {
            return Err((Rule::PriceCollar, format!("{ticks} ticks of {} from {reference}", rules.tick_size.normalize()), format!("{price}")));
        }
    }
    Ok(())
}

fn exposure(rules: &Rules, c: &Candidate<'_>, x: &Exposure, notional: Option<Decimal>) -> Result<(), Broken> {
    let qty = c.quantity.as_decimal();
    if let Some(max) = rules.max_position {
        let on_side = x.working.side(c.side).saturating_add(qty);
        let after = match c.side {
            Side::Buy => x.position.saturating_add(on_side),
            Side::Sell => x.position.saturating_sub(on_side),
        };
        if after.abs() > max {
            return Err((Rule::MaxPosition, max.normalize().to_string(), format!("{} once this and the working {:?} orders fill", after.normalize(), c.side)));
        }
    }
    if let Some(max) = rules.max_open_orders {
        let open = x.open_orders.saturating_add(1);
        if open > max as usize {
            return Err((Rule::MaxOpenOrders, max.to_string(), open.to_string()));
        }
    }
    if let Some(max) = rules.max_open_notional {
        let open = x.open_notional.saturating_add(notional.unwrap_or(Decimal::ZERO));
        if open > max {
            return Err((Rule::MaxOpenNotional, max.normalize().to_string(), open.normalize().to_string()));
        }
    }
    Ok(())
}
