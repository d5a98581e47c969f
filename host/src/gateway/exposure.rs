//! What each account has working, kept up to date as the books change: per account and symbol
//! the open quantity of its buy and sell orders, and per account how many orders are open and
//! the notional of the priced ones. The pre-trade risk check reads it, so checking an order
//! costs the same with five or five thousand orders resting.
//!
//! The books ([`super::oms::Oms`]) own it: every change to an order passes through their
//! booking function, which hands this index the order as it was and as it is
//! ([`Exposure::replace`]); whole-book changes (a broker snapshot, a checkpoint) rebuild it
//! ([`Exposure::rebuild`]). An archive removes only closed orders, which have no part in it.

use super::oms::Order;
use crate::risk::check::{self, SymbolWorking};
use rust_decimal::Decimal;
use std::collections::HashMap;
use txtrader_plugin_api::model::{AccountId, Side, Symbol};

/// One open order's part in its account's exposure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Working {
    account: AccountId,
    symbol: Symbol,
    side: Side,
    leaves: Decimal,
    /// Open quantity × limit (else stop) price; zero for market orders.
    priced_notional: Decimal,
    /// False for market orders (their notional depends on the market when asked).
    priced: bool,
}

impl Working {
    /// An order's part: `None` once it is closed or nothing of it is open.
    pub fn of(order: &Order) -> Option<Self> {
        let leaves = order.leaves();
        if !order.status.is_open() || leaves.is_zero() {
            return None;
        }
        let price = order.request.order_type.limit_price().or_else(|| order.request.order_type.stop_price());
        let priced_notional = price.map_or(Decimal::ZERO, |p| p.as_decimal().abs().checked_mul(leaves.as_decimal()).unwrap_or(Decimal::MAX));
        Some(Self {
            account: order.request.account.clone(),
            symbol: order.request.symbol.clone(),
            side: order.request.side,
            leaves: leaves.as_decimal(),
            priced_notional,
            priced: price.is_some(),
        })
    }
}

/// What one account has open.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountWorking {
    /// Open orders (and staged tickets).
    pub orders: usize,
    /// Σ open quantity × price of the priced ones.
    pub priced_notional: Decimal,
    /// Per symbol.
    pub symbols: HashMap<Symbol, SymbolWorking>,
}

/// The index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exposure {
    accounts: HashMap<AccountId, AccountWorking>,
}

impl Exposure {
    /// Built from every order.
    pub fn rebuild<'a>(orders: impl IntoIterator<Item = &'a Order>) -> Self {
        let mut out = Self::default();
        for w in orders.into_iter().filter_map(Working::of) {
            out.add(&w, Decimal::ONE);
        }
        out
    }

    /// One order changed from `before` to `after`.
    pub fn replace(&mut self, before: Option<&Working>, after: Option<&Working>) {
        if before == after {
            return;
        }
        if let Some(b) = before {
            self.add(b, Decimal::NEGATIVE_ONE);
        }
        if let Some(a) = after {
            self.add(a, Decimal::ONE);
        }
    }

    /// What an account has open (empty when nothing).
    pub fn account(&self, account: &AccountId) -> Option<&AccountWorking> {
        self.accounts.get(account)
    }

    fn add(&mut self, w: &Working, sign: Decimal) {
        let a = self.accounts.entry(w.account.clone()).or_default();
        let counted = if sign.is_sign_negative() { a.orders.saturating_sub(1) } else { a.orders.saturating_add(1) };
        a.orders = counted;
        a.priced_notional = a.priced_notional.saturating_add(sign * w.priced_notional);
        let s = a.symbols.entry(w.symbol.clone()).or_default();
        match w.side {
            Side::Buy => s.buy = s.buy.saturating_add(sign * w.leaves),
            Side::Sell => s.sell = s.sell.saturating_add(sign * w.leaves),
        }
        if !w.priced {
            s.unpriced = s.unpriced.saturating_add(sign * w.leaves);
        }
        if *s == SymbolWorking::default() {
            a.symbols.remove(&w.symbol);
        }
        if a.orders == 0 && a.symbols.is_empty() {
            self.accounts.remove(&w.account);
        }
    }
}

/// What the risk check needs of the books for an order of `account` in `symbol`: the position,
/// the working orders in the symbol, and the account's open orders and open notional (market
/// orders valued at `reference` of their symbol; not counted where it has none).
pub fn of(oms: &super::oms::Oms, account: &AccountId, symbol: &Symbol, reference: impl Fn(&Symbol) -> Option<txtrader_plugin_api::model::Price>) -> check::Exposure {
    let position = oms.positions().get(&(account.clone(), symbol.clone())).map_or(Decimal::ZERO, |q| q.as_decimal());
    let (open_orders, open_notional) = open(oms, account, reference);
    let working = oms.working(account).and_then(|a| a.symbols.get(symbol).copied()).unwrap_or_default();
    check::Exposure { position, working, open_orders, open_notional }
}

/// Like [`of`], for a change of `order`: what its account has working besides the order
/// itself, which the changed order replaces.
pub fn of_change(oms: &super::oms::Oms, order: &Order, reference: impl Fn(&Symbol) -> Option<txtrader_plugin_api::model::Price> + Copy) -> check::Exposure {
    let mut x = of(oms, &order.request.account, &order.request.symbol, reference);
    if let Some(w) = Working::of(order) {
        x.open_orders = x.open_orders.saturating_sub(1);
        let notional = if w.priced { w.priced_notional } else { reference(&w.symbol).and_then(|p| p.as_decimal().abs().checked_mul(w.leaves)).unwrap_or(Decimal::ZERO) };
        x.open_notional = (x.open_notional - notional).max(Decimal::ZERO);
        match w.side {
            Side::Buy => x.working.buy = (x.working.buy - w.leaves).max(Decimal::ZERO),
            Side::Sell => x.working.sell = (x.working.sell - w.leaves).max(Decimal::ZERO),
        }
        if !w.priced {
            x.working.unpriced = (x.working.unpriced - w.leaves).max(Decimal::ZERO);
        }
    }
    x
}

/// An account's open orders and their notional (market orders at `reference` of their symbol;
/// not counted where it has none).
pub fn open(oms: &super::oms::Oms, account: &AccountId, reference: impl Fn(&Symbol) -> Option<txtrader_plugin_api::model::Price>) -> (usize, Decimal) {
    let Some(a) = oms.working(account) else { return (0, Decimal::ZERO) };
    let unpriced = a.symbols.iter().filter(|(_, w)| !w.unpriced.is_zero()).filter_map(|(s, w)| reference(s).and_then(|p| p.as_decimal().abs().checked_mul(w.unpriced)));
    (a.orders, unpriced.fold(a.priced_notional, Decimal::saturating_add))
}
