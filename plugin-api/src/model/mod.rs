//! The broker-neutral domain model.
//!
//! Every type here is what the gateway means by a symbol, a price, an order or a fill, whatever
//! the broker behind it calls them. Broker vocabularies (RealTick field names, IB tick types,
//! FIX tags) never appear here: adapters translate into these types, and the host's `compat`
//! layer renders them into the legacy txTrader shapes.
//!
//! Invariants are enforced at construction: a [`Quantity`] is never negative, a [`Symbol`] is
//! upper-case and well-formed, identifiers are non-empty. Serde deserialization goes through
//! the same checks.

mod account;
mod connection;
mod ids;
mod market;
mod money;
mod order;
mod status;
mod time;

pub use account::{AccountSummary, Position};
pub use connection::{ConnectionStatus, LinkState};
pub use ids::{AccountId, BrokerOrderId, ClientOrderId, ExecutionId, IdError, Symbol};
pub use market::{Bar, BarInterval, Instrument, Quote, SessionHours, SessionStats, Trade};
pub use money::{Money, MoneyError, Price, Quantity, SignedQuantity};
pub use order::{
    Commission,
    Execution, OrderClass, OrderOrigin, OrderRequest, OrderType, Route, Side, TimeInForce,
};
pub use status::{CancelResume, InvalidTransition, OrderStatus, OrderTrigger};
pub use time::UnixNanos;
