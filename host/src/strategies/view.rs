//! What a strategy instance sees without asking the gateway, in domain types: its
//! subscriptions and their latest quotes, its own orders, the positions and balances of its
//! accounts. The driver (the live runner, or the replay) keeps it current; the host functions
//! read it; `convert` turns it into WIT records at the boundary.

use crate::gateway::oms::{Order, UpdateKind};
use crate::gateway::{NewOrder, Positions};
use std::collections::{BTreeMap, HashMap, HashSet};
use txtrader_plugin_api::model::{
    AccountId, AccountSummary, BrokerOrderId, ClientOrderId, ExecutionId, OrderRequest, OrderStatus, Price, Quantity, Quote,
    Side, SignedQuantity, Symbol, UnixNanos,
};

/// One of the strategy's orders, as it last saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct OwnOrder {
    /// What was asked, with the order's gateway id.
    pub request: OrderRequest,
    /// The broker's id, once known.
    pub broker_id: Option<BrokerOrderId>,
    /// Its status.
    pub status: OrderStatus,
    /// Filled so far.
    pub filled: Quantity,
    /// Average fill price, once something filled.
    pub avg_price: Option<Price>,
    /// Reject or cancel reason.
    pub reason: Option<String>,
}

impl OwnOrder {
    /// An order the strategy just placed: nobody answered yet.
    pub fn pending(id: ClientOrderId, new: &NewOrder) -> Self {
        let request = OrderRequest {
            client_order_id: id,
            account: new.account.clone(),
            exchange: None,
            symbol: new.symbol.clone(),
            side: new.side,
            quantity: new.quantity,
            order_type: new.order_type,
            time_in_force: new.time_in_force,
            route: new.route.clone(),
            staged_tag: new.staged_tag.clone(),
            origin: new.origin.clone(),
            user: new.user.clone(),
        };
        Self { request, broker_id: None, status: OrderStatus::Initialized, filled: Quantity::ZERO, avg_price: None, reason: None }
    }

    /// The order as the gateway's books hold it.
    pub fn of(order: &Order) -> Self {
        Self {
            request: order.request.clone(),
            broker_id: order.broker_order_id.clone(),
            status: order.status,
            filled: order.filled,
            avg_price: order.avg_price(),
            reason: order.reason.clone(),
        }
    }

    /// Its id as the strategy knows it.
    pub fn id(&self) -> &str {
        self.request.client_order_id.as_str()
    }

    /// Final: no further change.
    pub fn done(&self) -> bool {
        self.status.is_terminal()
    }
}

/// A fill of one of the strategy's orders.
#[derive(Clone, Debug, PartialEq)]
pub struct OwnFill {
    /// The execution.
    pub exec_id: ExecutionId,
    /// Filled quantity.
    pub quantity: Quantity,
    /// Fill price.
    pub price: Price,
    /// When.
    pub time: UnixNanos,
}

impl OwnFill {
    /// The fill an order's latest update reports, if that update is one.
    pub fn latest(order: &Order) -> Option<Self> {
        let u = order.history.last()?;
        match &u.kind {
            UpdateKind::Filled { exec_id, quantity, price } => Some(Self { exec_id: exec_id.clone(), quantity: *quantity, price: *price, time: u.ts }),
            _ => None,
        }
    }
}

/// How loud a guest's log line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    /// Trace.
    Trace,
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warn.
    Warn,
    /// Error.
    Error,
}

impl LogLevel {
    /// Its name, lower case.
    pub fn name(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// What the instance can see without asking the gateway.
#[derive(Debug, Default)]
pub struct View {
    /// Symbols it subscribed to.
    pub subscribed: HashSet<Symbol>,
    /// Latest quote of each.
    pub quotes: HashMap<Symbol, Quote>,
    /// Its orders by id.
    pub orders: BTreeMap<String, OwnOrder>,
    /// Net positions of its accounts.
    pub positions: BTreeMap<(AccountId, Symbol), SignedQuantity>,
    /// Executions already counted in `positions`.
    pub applied: HashSet<String>,
    /// Balances of its accounts.
    pub accounts: HashMap<AccountId, AccountSummary>,
}

impl View {
    /// Takes the positions of `accounts` afresh from the gateway's.
    pub fn set_positions(&mut self, positions: &Positions, accounts: &[AccountId]) {
        self.positions.clear();
        for (account, symbols) in positions.iter().filter(|(a, _)| accounts.contains(a)) {
            for (symbol, q) in symbols {
                self.positions.insert((account.clone(), symbol.clone()), *q);
            }
        }
    }

    /// Books an execution into the positions once.
    pub fn apply_fill(&mut self, exec_id: &str, account: &AccountId, symbol: &Symbol, side: Side, qty: Quantity) {
        if self.applied.insert(exec_id.to_owned()) {
            let p = self.positions.entry((account.clone(), symbol.clone())).or_default();
            *p = p.apply(side, qty);
        }
    }
}
