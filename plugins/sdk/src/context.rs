//! [`Context`]: typed access to what the host grants a strategy.

use crate::bindings::txtrader::strategy::host;
use crate::bindings::txtrader::strategy::types::LogLevel;
use crate::types::{AccountSummary, Interval, Order, OrderRequest, OrderType, Position, Quote, Side, TimeInForce};
use rust_decimal::Decimal;
use std::time::Duration;

/// The strategy's window on the gateway, passed to every handler. Nothing here blocks; calls
/// that act return at once and their outcomes arrive as events.
#[derive(Debug)]
pub struct Context {
    _private: (),
}

impl Context {
    pub(crate) fn new() -> Self {
        Self { _private: () }
    }

    /// Starts quotes, trades and live bars for a symbol.
    ///
    /// # Errors
    /// The symbol is not allowed by the manifest.
    pub fn subscribe(&mut self, symbol: &str) -> Result<(), String> {
        host::subscribe(symbol)
    }

    /// Stops them.
    pub fn unsubscribe(&mut self, symbol: &str) {
        host::unsubscribe(symbol);
    }

    /// The latest quote of a subscribed symbol.
    pub fn quote(&self, symbol: &str) -> Option<Quote> {
        host::latest_quote(symbol).map(Quote::from)
    }

    /// Asks for historical bars starting in `[start, end]` (ns since the epoch); they arrive
    /// through `on_bars` with the returned id.
    ///
    /// # Errors
    /// The symbol is not allowed.
    pub fn request_bars(&mut self, symbol: &str, interval: Interval, start: u64, end: u64) -> Result<u64, String> {
        host::request_bars(symbol, interval.into(), start, end)
    }

    /// Places an order; returns its id.
    ///
    /// # Errors
    /// The manifest's limits refuse it (account, symbol, rate, size, notional), with the reason.
    pub fn submit(&mut self, order: OrderRequest) -> Result<String, String> {
        host::submit_order(&order.into())
    }

    /// A day market order.
    ///
    /// # Errors
    /// As [`Context::submit`].
    pub fn market(&mut self, account: &str, symbol: &str, side: Side, quantity: Decimal) -> Result<String, String> {
        self.submit(OrderRequest {
            account: account.into(),
            symbol: symbol.into(),
            side,
            quantity,
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Day,
        })
    }

    /// A day limit order.
    ///
    /// # Errors
    /// As [`Context::submit`].
    pub fn limit(&mut self, account: &str, symbol: &str, side: Side, quantity: Decimal, price: Decimal) -> Result<String, String> {
        self.submit(OrderRequest {
            account: account.into(),
            symbol: symbol.into(),
            side,
            quantity,
            order_type: OrderType::Limit(price),
            time_in_force: TimeInForce::Day,
        })
    }

    /// A day stop order.
    ///
    /// # Errors
    /// As [`Context::submit`].
    pub fn stop(&mut self, account: &str, symbol: &str, side: Side, quantity: Decimal, stop: Decimal) -> Result<String, String> {
        self.submit(OrderRequest {
            account: account.into(),
            symbol: symbol.into(),
            side,
            quantity,
            order_type: OrderType::Stop(stop),
            time_in_force: TimeInForce::Day,
        })
    }

    /// Asks to cancel one of this strategy's orders.
    ///
    /// # Errors
    /// Not one of its open orders.
    pub fn cancel(&mut self, id: &str) -> Result<(), String> {
        host::cancel_order(id)
    }

    /// Asks to change one of this strategy's working orders: a new total quantity and/or new
    /// limit or stop price (`None` keeps it). The broker's answer arrives through `on_order`.
    ///
    /// # Errors
    /// Not one of its working orders, a change that does not fit the order (a stop price for a
    /// limit order, a quantity below what filled), or the manifest's limits.
    pub fn modify(&mut self, id: &str, quantity: Option<Decimal>, limit_price: Option<Decimal>, stop_price: Option<Decimal>) -> Result<(), String> {
        let text = |d: Option<Decimal>| d.map(|d| d.normalize().to_string());
        let change = crate::bindings::txtrader::strategy::types::OrderChange { quantity: text(quantity), limit_price: text(limit_price), stop_price: text(stop_price) };
        host::modify_order(id, &change)
    }

    /// This strategy's orders that are not final.
    pub fn open_orders(&self) -> Vec<Order> {
        host::open_orders().into_iter().map(Order::from).collect()
    }

    /// Net positions of the strategy's accounts.
    pub fn positions(&self) -> Vec<Position> {
        host::positions().into_iter().map(Position::from).collect()
    }

    /// The net position in one symbol of one account (zero when flat).
    pub fn position(&self, account: &str, symbol: &str) -> Decimal {
        self.positions().into_iter().find(|p| p.account == account && p.symbol == symbol).map_or(Decimal::ZERO, |p| p.quantity)
    }

    /// The latest known balances of an account.
    pub fn account(&self, account: &str) -> Option<AccountSummary> {
        host::account(account).map(AccountSummary::from)
    }

    /// Calls `on_timer(id)` after `after` (replacing a pending timer with the same id).
    pub fn set_timer(&mut self, id: u64, after: Duration) {
        host::set_timer(id, u64::try_from(after.as_millis()).unwrap_or(u64::MAX));
    }

    /// Cancels a timer.
    pub fn cancel_timer(&mut self, id: u64) {
        host::cancel_timer(id);
    }

    /// The gateway clock, ns since the epoch.
    pub fn now(&self) -> u64 {
        host::now()
    }

    /// Logs at debug level.
    pub fn debug(&self, message: &str) {
        host::log(LogLevel::Debug, message);
    }

    /// Logs at info level.
    pub fn info(&self, message: &str) {
        host::log(LogLevel::Info, message);
    }

    /// Logs a warning.
    pub fn warn(&self, message: &str) {
        host::log(LogLevel::Warn, message);
    }

    /// Logs an error.
    pub fn error(&self, message: &str) {
        host::log(LogLevel::Error, message);
    }
}
