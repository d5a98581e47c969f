//! What the parts of a running strategy hand each other: the worker thread's inputs (from the
//! forwarder and the executor) and the executor's jobs (from the worker).

use crate::gateway::{ExecutionView, OrderView, Positions};
use crate::strategies::host::Action;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;
use txtrader_plugin_api::model::{AccountSummary, Bar, Quote, Trade};

/// What the worker thread reacts to.
pub(super) enum Input {
    /// Market data of a subscribed symbol (counted in the backlog).
    Quote(Quote),
    /// A trade of a subscribed symbol (counted in the backlog).
    Trade(Trade),
    /// A completed bar of a subscribed symbol (counted in the backlog).
    Bar(Bar),
    /// The answer to a `request-bars`.
    Bars { id: u64, result: Result<Vec<Bar>, String> },
    /// One of its orders changed.
    Order(Arc<OrderView>),
    /// An execution in one of its accounts.
    Execution(Arc<ExecutionView>),
    /// Fresh balances of one of its accounts.
    Account(AccountSummary),
    /// An order the gateway never booked.
    Rejected { id: String, reason: String },
    /// After a gap on the bus: the strategy's orders and the positions, afresh.
    Resync { orders: Vec<OrderView>, positions: Positions },
    /// Run `on-stop` and end.
    Stop(oneshot::Sender<()>),
}

/// What the executor carries out.
pub(super) enum Job {
    /// Carry out what the guest asked for.
    Act(Action),
    /// Publish a strategy event on the bus.
    Publish(&'static str, serde_json::Value),
}

/// Locks a mutex shared by the executor and the forwarder (short sections, no `.await`
/// inside); a poisoned lock is still used: the data is a set of symbols.
pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
