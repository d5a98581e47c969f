//! What the journal records: one [`Entry`] per change to the gateway's books, and one per
//! order or execution event published to clients (for the stream's `resume` across restarts).
//!
//! Entries are the *inputs* of the books, not their results: replaying them in order through
//! [`crate::gateway::oms::Oms::book`] rebuilds exactly the books the gateway had, because the
//! live core changes its books through that same function. The published views are kept as
//! they were sent, so a resumed client gets the bytes it would have got.
//!
//! Bodies are JSON (readable with the `sqlite3` shell; new fields get `#[serde(default)]`).

use crate::gateway::{ExecutionView, OrderView};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use txtrader_plugin_api::model::{AccountId, ClientOrderId, OrderRequest, Route, Symbol, UnixNanos};
use txtrader_plugin_api::wire::{BrokerSnapshot, OrderEvent};

/// One journal record's content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entry {
    /// The gateway accepted a new order and is about to send it.
    Submitted {
        /// The order, with its gateway id and origin.
        request: OrderRequest,
        /// When.
        at: UnixNanos,
    },
    /// A broker event about one order.
    OrderEvent(OrderEvent),
    /// A cancel was asked for.
    CancelRequested {
        /// The order.
        order: ClientOrderId,
        /// When.
        at: UnixNanos,
    },
    /// The adapter refused to take a cancel: the order resumes.
    CancelNotSent {
        /// The order.
        order: ClientOrderId,
        /// Why.
        reason: String,
        /// When.
        at: UnixNanos,
    },
    /// The order never reached the broker (refused by the adapter, or unknown to the broker
    /// after a restart): it is rejected.
    OrderNotSent {
        /// The order.
        order: ClientOrderId,
        /// Why.
        reason: String,
        /// When.
        at: UnixNanos,
    },
    /// A broker snapshot merged into the books: only what differed from them (new or changed
    /// orders, new executions; accounts and positions whole), and the open orders the broker
    /// acknowledged once but no longer knows, cancelled with `reason`.
    Snapshot {
        /// What the broker's state changes.
        changes: BrokerSnapshot,
        /// Orders cancelled as unknown to the broker.
        gone: Vec<ClientOrderId>,
        /// The reason given to them.
        reason: String,
        /// When.
        at: UnixNanos,
    },
    /// An order or execution event as published on the bus.
    Published {
        /// Its bus sequence number.
        seq: u64,
        /// The event.
        event: Published,
    },
    /// Bus sequence numbers up to `through` may be in use: after a restart the bus continues
    /// above it, so no number is ever given to two events.
    SeqReserved {
        /// The highest number reserved.
        through: u64,
    },
    /// The default route changed.
    Route(Route),
    /// The current account changed.
    CurrentAccount(AccountId),
    /// A symbol's primary exchange was set (or cleared).
    PrimaryExchange {
        /// The symbol.
        symbol: Symbol,
        /// The exchange, `None` to clear.
        exchange: Option<String>,
    },
}

/// A published event kept for `resume`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Published {
    /// An order changed.
    Order(Arc<OrderView>),
    /// An execution was booked.
    Execution(Arc<ExecutionView>),
}

impl Entry {
    /// The short name stored beside the body (for operators: `SELECT kind, count(*) …`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Submitted { .. } => "submitted",
            Self::OrderEvent(_) => "order_event",
            Self::CancelRequested { .. } => "cancel_requested",
            Self::CancelNotSent { .. } => "cancel_not_sent",
            Self::OrderNotSent { .. } => "order_not_sent",
            Self::Snapshot { .. } => "snapshot",
            Self::Published { .. } => "published",
            Self::SeqReserved { .. } => "seq_reserved",
            Self::Route(_) => "route",
            Self::CurrentAccount(_) => "current_account",
            Self::PrimaryExchange { .. } => "primary_exchange",
        }
    }
}
