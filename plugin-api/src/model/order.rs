//! Orders as the gateway understands them: what was asked for, and what was executed.

use super::{AccountId, BrokerOrderId, ClientOrderId, ExecutionId, Price, Quantity, Symbol, UnixNanos};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Buy or sell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Side {
    /// Buy (or cover a short).
    Buy,
    /// Sell (or sell short).
    Sell,
}

impl Side {
    /// `Buy` for a positive signed quantity, otherwise `Sell` (txTrader's rule: zero sells).
    pub fn from_signed(quantity: i64) -> Self {
        if quantity > 0 { Self::Buy } else { Self::Sell }
    }

    /// The other side.
    pub fn opposite(self) -> Self {
        match self {
            Self::Buy => Self::Sell,
            Self::Sell => Self::Buy,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Buy => "Buy",
            Self::Sell => "Sell",
        })
    }
}

/// How the order is priced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OrderType {
    /// At the best available price.
    Market,
    /// At `limit_price` or better.
    Limit {
        /// Worst acceptable price.
        limit_price: Price,
    },
    /// Becomes a market order once the market trades at or through `stop_price`.
    Stop {
        /// Trigger price.
        stop_price: Price,
    },
    /// Becomes a limit order at `limit_price` once the market trades at or through `stop_price`.
    StopLimit {
        /// Trigger price.
        stop_price: Price,
        /// Limit once triggered.
        limit_price: Price,
    },
}

impl OrderType {
    /// The limit price, for limit and stop-limit orders.
    pub fn limit_price(&self) -> Option<Price> {
        match self {
            Self::Limit { limit_price } | Self::StopLimit { limit_price, .. } => Some(*limit_price),
            Self::Market | Self::Stop { .. } => None,
        }
    }

    /// The stop (trigger) price, for stop and stop-limit orders.
    pub fn stop_price(&self) -> Option<Price> {
        match self {
            Self::Stop { stop_price } | Self::StopLimit { stop_price, .. } => Some(*stop_price),
            Self::Market | Self::Limit { .. } => None,
        }
    }
}

/// How long the order stays working.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TimeInForce {
    /// Until the end of the trading day.
    #[default]
    Day,
    /// Until cancelled.
    Gtc,
    /// Fill what is possible at once, cancel the rest.
    Ioc,
}

/// Where the broker should send the order: a destination name and its parameters.
///
/// The parameters are opaque to the gateway (algo ids, strategy parameters); adapters decide
/// what they mean.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Route {
    /// Destination name, e.g. `DEMOEUR`.
    pub name: String,
    /// Destination parameters, if any.
    #[serde(default)]
    pub params: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Who created an order.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OrderOrigin {
    /// An external client of the gateway (HTTP, JSON-RPC, stream).
    Client,
    /// A strategy running inside the gateway.
    Strategy {
        /// The strategy's name.
        name: String,
    },
    /// First seen at the broker: placed elsewhere, or before the gateway started.
    Broker,
}

/// Whether an order works at the market or waits as a staged ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderClass {
    /// A normal order.
    Order,
    /// A staged ticket, held at the broker until released by hand.
    Ticket,
}

/// A request to open an order, as the gateway sends it to an adapter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderRequest {
    /// The gateway's id for the order.
    pub client_order_id: ClientOrderId,
    /// The account that trades.
    pub account: AccountId,
    /// What is traded.
    pub symbol: Symbol,
    /// Buy or sell.
    pub side: Side,
    /// How much. Zero is representable so that the broker can reject it as it would.
    pub quantity: Quantity,
    /// Pricing.
    pub order_type: OrderType,
    /// Lifetime.
    #[serde(default)]
    pub time_in_force: TimeInForce,
    /// Destination, if not the broker's default.
    #[serde(default)]
    pub route: Option<Route>,
    /// Exchange to direct the order to, if not the broker's default.
    #[serde(default)]
    pub exchange: Option<String>,
    /// A staged ticket's tag: the order is held at the broker instead of working.
    #[serde(default)]
    pub staged_tag: Option<String>,
    /// Who created it.
    pub origin: OrderOrigin,
    /// The gateway user who placed it (a client's sign-in name), when a user did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl OrderRequest {
    /// `Ticket` for a staged order, otherwise `Order`.
    pub fn class(&self) -> OrderClass {
        if self.staged_tag.is_some() { OrderClass::Ticket } else { OrderClass::Order }
    }
}

/// One execution (fill) of an order, with the order's totals after it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    /// The execution's id.
    pub exec_id: ExecutionId,
    /// The order's gateway id, when the order came through the gateway.
    #[serde(default)]
    pub client_order_id: Option<ClientOrderId>,
    /// The order's broker id.
    pub broker_order_id: BrokerOrderId,
    /// The account.
    pub account: AccountId,
    /// The symbol.
    pub symbol: Symbol,
    /// Side of the order.
    pub side: Side,
    /// Quantity of this fill.
    pub quantity: Quantity,
    /// Price of this fill.
    pub price: Price,
    /// The order's cumulative filled quantity including this fill.
    pub cum_quantity: Quantity,
    /// What remains open after this fill.
    pub leaves_quantity: Quantity,
    /// The order's average fill price including this fill.
    pub avg_price: Price,
    /// The venue's own fill id, when it gives one.
    #[serde(default)]
    pub venue_fill_id: Option<String>,
    /// When it executed.
    pub ts_event: UnixNanos,
    /// What the broker charged for it, once reported (often after the fill itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission: Option<Commission>,
}

/// A broker's charge for one execution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commission {
    /// The amount.
    pub amount: super::Money,
    /// Its currency (ISO 4217).
    pub currency: String,
}
