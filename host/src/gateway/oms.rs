//! The order management system's books: orders (and staged tickets), their update history,
//! executions, and positions.
//!
//! The OMS is plain data owned by the gateway core task; nothing else mutates it. Every broker
//! event is checked before it changes anything: a duplicate (same event id, or a fill already
//! booked) is recognised and ignored; an event for an unknown order, a fill larger than what is
//! open, or a transition the status machine refuses is reported as a [`Refusal`] and leaves the
//! books untouched. So positions always equal the sum of the booked executions, and an order is
//! never both filled and cancelled.

use indexmap::IndexMap;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap, HashSet};
use super::entry::Entry;
use super::exposure::{AccountWorking, Exposure, Working};
use txtrader_plugin_api::model::{
    AccountId, BrokerOrderId, ClientOrderId, Execution, ExecutionId, InvalidTransition, OrderClass,
    OrderOrigin, OrderRequest, OrderStatus, OrderTrigger, OrderType, Price, Quantity, SignedQuantity, Symbol,
    UnixNanos,
};
use txtrader_plugin_api::wire::{BrokerSnapshot, OrderEvent, OrderEventKind};

/// What one update of an order was.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateKind {
    /// The broker acknowledged the order.
    Acknowledged,
    /// The broker holds it as a staged ticket.
    Staged,
    /// Working at the venue.
    Accepted,
    /// Its stop was triggered.
    Triggered,
    /// A fill.
    Filled {
        /// Execution id.
        exec_id: ExecutionId,
        /// Filled quantity.
        quantity: Quantity,
        /// Fill price.
        price: Price,
    },
    /// The gateway sent a cancel.
    CancelRequested,
    /// The broker refused the cancel.
    CancelRejected {
        /// Why.
        reason: String,
    },
    /// Cancelled.
    Cancelled {
        /// Why, if the broker said.
        reason: Option<String>,
    },
    /// Rejected.
    Rejected {
        /// Why.
        reason: String,
    },
    /// Expired.
    Expired,
    /// The gateway sent a change of quantity or prices.
    ModifyRequested {
        /// The total quantity asked for.
        quantity: Quantity,
        /// The pricing asked for.
        order_type: OrderType,
    },
    /// The broker confirmed a change: the order works on these terms now.
    Modified {
        /// The total quantity.
        quantity: Quantity,
        /// The pricing.
        order_type: OrderType,
    },
    /// The broker refused a change; the order goes on as it was.
    ModifyRejected {
        /// Why.
        reason: String,
    },
    /// The broker's snapshot restated the order (after a reconnect).
    Restated,
}

/// One entry of an order's history, with the order's state right after it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrderUpdate {
    /// The broker's event id, or a local id for gateway-side updates.
    pub id: String,
    /// What happened.
    pub kind: UpdateKind,
    /// Status after the update.
    pub status: OrderStatus,
    /// Filled after the update.
    pub filled: Quantity,
    /// Open quantity after the update.
    pub leaves: Quantity,
    /// Average fill price after the update.
    pub avg_price: Option<Price>,
    /// When it happened.
    pub ts: UnixNanos,
    /// The broker's own record of it (a RealTick ORDERS row), when the adapter passed it on:
    /// clients see it as it came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<serde_json::Map<String, serde_json::Value>>,
}

/// An order as the gateway knows it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Order {
    /// What was asked.
    pub request: OrderRequest,
    /// The broker's id, once known.
    pub broker_order_id: Option<BrokerOrderId>,
    /// Current status.
    pub status: OrderStatus,
    /// Filled so far.
    pub filled: Quantity,
    /// Σ price·quantity of the fills.
    pub fill_value: Decimal,
    /// Reject or cancel reason.
    pub reason: Option<String>,
    /// When the gateway created (or first saw) it.
    pub created: UnixNanos,
    /// Last change.
    pub updated: UnixNanos,
    /// Every update after creation, oldest first.
    pub history: Vec<OrderUpdate>,
}

impl Order {
    /// Order or staged ticket.
    pub fn class(&self) -> OrderClass {
        self.request.class()
    }

    /// Quantity still open.
    pub fn leaves(&self) -> Quantity {
        if self.status.is_terminal() {
            return Quantity::ZERO;
        }
        self.request.quantity.checked_sub(self.filled).unwrap_or(Quantity::ZERO)
    }

    /// Average fill price, once something filled.
    pub fn avg_price(&self) -> Option<Price> {
        (!self.filled.is_zero()).then(|| Price::new(self.fill_value / self.filled.as_decimal()).round_dp(6))
    }

    /// The id clients use: the broker's permanent id, or the gateway's id until the broker
    /// answered.
    pub fn key(&self) -> &str {
        match &self.broker_order_id {
            Some(b) => b.as_str(),
            None => self.request.client_order_id.as_str(),
        }
    }

    fn record(&mut self, id: String, kind: UpdateKind, ts: UnixNanos) {
        self.record_raw(id, kind, ts, None);
    }

    fn record_raw(&mut self, id: String, kind: UpdateKind, ts: UnixNanos, raw: Option<serde_json::Map<String, serde_json::Value>>) {
        self.updated = ts;
        let (filled, leaves, avg_price) = (self.filled, self.leaves(), self.avg_price());
        self.history.push(OrderUpdate { id, kind, status: self.status, filled, leaves, avg_price, ts, raw });
    }
}

/// Why a broker event was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No order has this broker id, and the event names no order of ours.
    #[error("event for unknown order {0}")]
    UnknownOrder(BrokerOrderId),
    /// The status machine refuses the event.
    #[error("order {order}: {source}")]
    Invalid {
        /// The order.
        order: String,
        /// The refused transition.
        source: InvalidTransition,
    },
    /// A change that would leave less than what already filled.
    #[error("order {order}: a change to {quantity} is below the {filled} already filled")]
    ModifiedBelowFilled {
        /// The order.
        order: String,
        /// The new quantity.
        quantity: Quantity,
        /// Filled so far.
        filled: Quantity,
    },
    /// A fill larger than the open quantity.
    #[error("order {order}: fill of {fill} exceeds the open quantity {open}")]
    Overfill {
        /// The order.
        order: String,
        /// The fill.
        fill: Quantity,
        /// What was open.
        open: Quantity,
    },
    /// The event's gateway id belongs to an order with another broker id.
    #[error("order {client}: broker id {got} contradicts the known {known}")]
    BrokerIdMismatch {
        /// The gateway id.
        client: ClientOrderId,
        /// The broker id already known.
        known: BrokerOrderId,
        /// The broker id in the event.
        got: BrokerOrderId,
    },
    /// An event kind this gateway does not know.
    #[error("unknown event kind for order {0}")]
    UnknownKind(BrokerOrderId),
    /// The broker gave a new order the id of another order (e.g. a restarted adapter that
    /// numbers orders from 1 again).
    #[error("broker id {broker} of order {owner} reused for order {client}")]
    BrokerIdReused {
        /// The broker id.
        broker: BrokerOrderId,
        /// The order that has it.
        owner: ClientOrderId,
        /// The order the event is about.
        client: ClientOrderId,
    },
}

/// What applying a broker event did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The order changed.
    Applied {
        /// The order.
        order: ClientOrderId,
        /// This was the first broker event of the order.
        first_broker_event: bool,
        /// The execution booked, for a fill.
        execution: Option<Box<Execution>>,
    },
    /// Seen before; ignored.
    Duplicate,
    /// Not applied.
    Refused(Refusal),
}

/// What booking one journal entry did.
#[derive(Debug, Clone, PartialEq)]
pub enum Booked {
    /// A new order: `false` when its gateway id was already taken (nothing changed).
    Submitted(bool),
    /// A broker event.
    Event(Outcome),
    /// A cancel request.
    CancelRequested(Result<(), InvalidTransition>),
    /// A change request.
    ModifyRequested(Result<(), InvalidTransition>),
    /// An order or cancel that never reached the broker was resolved.
    Resolved,
    /// A snapshot merged.
    Snapshot(SnapshotOutcome),
    /// Closed orders left the books (see [`Entry::Archive`]).
    Archived(Vec<ClientOrderId>),
    /// The books were replaced by a checkpoint's image.
    Restored,
    /// A commission was booked with its execution (false: the execution is not in the books).
    Commission(bool),
    /// Not about the books.
    NotOms,
}

/// The books as one serializable value: what a journal checkpoint keeps of them.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BooksImage {
    /// Every order, oldest first.
    pub orders: Vec<Order>,
    /// Broker id to gateway id.
    pub by_broker: Vec<(BrokerOrderId, ClientOrderId)>,
    /// Every execution, oldest first.
    pub executions: Vec<Execution>,
    /// Net positions.
    pub positions: Vec<(AccountId, Symbol, SignedQuantity)>,
    /// Broker event ids seen, per broker order.
    pub seen_events: Vec<(BrokerOrderId, String)>,
    /// Local update ids handed out.
    pub local_updates: u64,
    /// Closed orders that last changed before this left the books.
    pub horizon: UnixNanos,
}

/// The books.
#[derive(Debug, Default)]
pub struct Oms {
    orders: IndexMap<ClientOrderId, Order>,
    by_broker: HashMap<BrokerOrderId, ClientOrderId>,
    executions: IndexMap<ExecutionId, Execution>,
    positions: BTreeMap<(AccountId, Symbol), SignedQuantity>,
    /// Event ids seen, per broker order (event ids need only be unique per order, so two
    /// adapters may use the same ones).
    seen_events: HashSet<(BrokerOrderId, String)>,
    local_updates: u64,
    /// Closed orders that last changed before this were archived: a broker reporting such an
    /// order (or its executions) is reporting what the books let go, not something new.
    horizon: UnixNanos,
    /// What each account has working (kept by [`Oms::book`]).
    exposure: Exposure,
}

impl Oms {
    /// Empty books.
    pub fn new() -> Self {
        Self::default()
    }

    /// Books one journal entry: the only way the gateway changes the books, live and when
    /// replaying the journal, so both end in the same state.
    pub fn book(&mut self, entry: &Entry) -> Booked {
        let touched = match entry {
            Entry::Submitted { request, .. } => Some(request.client_order_id.clone()),
            Entry::OrderEvent(e) => self.by_broker.get(&e.broker_order_id).cloned().or_else(|| e.client_order_id.clone()),
            Entry::CancelRequested { order, .. }
            | Entry::CancelNotSent { order, .. }
            | Entry::OrderNotSent { order, .. }
            | Entry::ModifyRequested { order, .. }
            | Entry::ModifyNotSent { order, .. } => Some(order.clone()),
            _ => None,
        };
        let before = touched.as_ref().and_then(|id| self.orders.get(id)).and_then(Working::of);
        let booked = self.book_entry(entry);
        match (entry, touched) {
            (_, Some(id)) => {
                let after = self.orders.get(&id).and_then(Working::of);
                self.exposure.replace(before.as_ref(), after.as_ref());
            }
            // a checkpoint's books rebuild it in `from_image`; an archive removes closed orders
            // only, which have no part in it
            (Entry::Snapshot { .. }, None) => self.exposure = Exposure::rebuild(self.orders.values()),
            (_, None) => {}
        }
        booked
    }

    /// What an account has working.
    pub fn working(&self, account: &AccountId) -> Option<&AccountWorking> {
        self.exposure.account(account)
    }

    fn book_entry(&mut self, entry: &Entry) -> Booked {
        match entry {
            Entry::Submitted { request, at } => Booked::Submitted(self.submit(request.clone(), *at).is_ok()),
            Entry::OrderEvent(event) => Booked::Event(self.apply(event)),
            Entry::CancelRequested { order, at } => Booked::CancelRequested(self.request_cancel(order, *at)),
            Entry::CancelNotSent { order, reason, at } => {
                self.cancel_not_sent(order, reason.clone(), *at);
                Booked::Resolved
            }
            Entry::ModifyRequested { order, quantity, order_type, at } => Booked::ModifyRequested(self.request_modify(order, *quantity, *order_type, *at)),
            Entry::ModifyNotSent { order, reason, at } => {
                self.modify_not_sent(order, reason.clone(), *at);
                Booked::Resolved
            }
            Entry::OrderNotSent { order, reason, at } => {
                self.order_not_sent(order, reason.clone(), *at);
                Booked::Resolved
            }
            Entry::Snapshot { changes, gone, reason, at } => {
                let mut out = self.load_snapshot(changes, *at);
                self.cancel_gone(gone, reason, *at);
                out.gone.clone_from(gone);
                Booked::Snapshot(out)
            }
            Entry::Archive { before, .. } => Booked::Archived(self.archive(*before)),
            Entry::Commission { exec_id, commission } => match self.executions.get_mut(exec_id) {
                Some(x) => {
                    x.commission = Some(commission.clone());
                    Booked::Commission(true)
                }
                None => Booked::Commission(false),
            },
            Entry::Checkpoint(cp) => {
                *self = Self::from_image(cp.books.clone());
                Booked::Restored
            }
            Entry::Published { .. }
            | Entry::SeqReserved { .. }
            | Entry::Route(_)
            | Entry::CurrentAccount(_)
            | Entry::PrimaryExchange { .. }
            | Entry::RiskState { .. }
            | Entry::RiskDenied { .. } => Booked::NotOms,
        }
    }

    /// The books as one value (for a journal checkpoint).
    pub fn image(&self) -> BooksImage {
        let mut seen_events: Vec<_> = self.seen_events.iter().cloned().collect();
        seen_events.sort_unstable();
        let mut by_broker: Vec<_> = self.by_broker.iter().map(|(b, c)| (b.clone(), c.clone())).collect();
        by_broker.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        BooksImage {
            orders: self.orders.values().cloned().collect(),
            by_broker,
            executions: self.executions.values().cloned().collect(),
            positions: self.positions.iter().map(|((a, s), q)| (a.clone(), s.clone(), *q)).collect(),
            seen_events,
            local_updates: self.local_updates,
            horizon: self.horizon,
        }
    }

    /// The books an image was taken of.
    pub fn from_image(image: BooksImage) -> Self {
        Self {
            orders: image.orders.into_iter().map(|o| (o.request.client_order_id.clone(), o)).collect(),
            by_broker: image.by_broker.into_iter().collect(),
            executions: image.executions.into_iter().map(|x| (x.exec_id.clone(), x)).collect(),
            positions: image.positions.into_iter().map(|(a, s, q)| ((a, s), q)).collect(),
            seen_events: image.seen_events.into_iter().collect(),
            local_updates: image.local_updates,
            horizon: image.horizon,
            exposure: Exposure::default(),
        }
        .with_exposure()
    }

    fn with_exposure(mut self) -> Self {
        self.exposure = Exposure::rebuild(self.orders.values());
        self
    }

    /// Closed orders that last changed before `before` leave the books, with their executions,
    /// id mappings and event ids; positions stay as they are. Answers the orders removed.
    fn archive(&mut self, before: UnixNanos) -> Vec<ClientOrderId> {
        let gone: Vec<ClientOrderId> = self
            .orders
            .values()
            .filter(|o| o.status.is_terminal() && o.updated < before)
            .map(|o| o.request.client_order_id.clone())
            .collect();
        if !gone.is_empty() {
            let set: HashSet<&ClientOrderId> = gone.iter().collect();
            let brokers: HashSet<BrokerOrderId> =
                self.orders.values().filter(|o| set.contains(&o.request.client_order_id)).filter_map(|o| o.broker_order_id.clone()).collect();
            self.orders.retain(|id, _| !set.contains(id));
            self.by_broker.retain(|b, c| !set.contains(c) && !brokers.contains(b));
            self.executions.retain(|_, x| !brokers.contains(&x.broker_order_id) && !x.client_order_id.as_ref().is_some_and(|c| set.contains(c)));
            self.seen_events.retain(|(b, _)| !brokers.contains(b));
        }
        self.horizon = self.horizon.max(before);
        gone
    }

    /// Records a new order the gateway is about to send.
    ///
    /// # Errors
    /// The order is returned back when its gateway id is already taken.
    fn submit(&mut self, request: OrderRequest, now: UnixNanos) -> Result<&Order, Box<OrderRequest>> {
        if self.orders.contains_key(&request.client_order_id) {
            return Err(Box::new(request));
        }
        let id = request.client_order_id.clone();
        let order = Order {
            request,
            broker_order_id: None,
            status: OrderStatus::Initialized,
            filled: Quantity::ZERO,
            fill_value: Decimal::ZERO,
            reason: None,
            created: now,
            updated: now,
            history: Vec::new(),
        };
        Ok(self.orders.entry(id).or_insert(order))
    }

    /// Applies one broker event.
    fn apply(&mut self, event: &OrderEvent) -> Outcome {
        let client_id = match self.resolve(event) {
            Ok(id) => id,
            Err(r) => return Outcome::Refused(r),
        };
        let seen = (event.broker_order_id.clone(), event.event_id.clone());
        if self.seen_events.contains(&seen) {
            return Outcome::Duplicate;
        }
        let Some(order) = self.orders.get(&client_id) else {
            return Outcome::Refused(Refusal::UnknownOrder(event.broker_order_id.clone()));
        };
        let key = event.broker_order_id.to_string();
        let (trigger, kind) = match &event.kind {
            OrderEventKind::Acknowledged => (OrderTrigger::Acknowledge, UpdateKind::Acknowledged),
            OrderEventKind::Staged => (OrderTrigger::Stage, UpdateKind::Staged),
            OrderEventKind::Accepted => (OrderTrigger::Accept, UpdateKind::Accepted),
            OrderEventKind::Triggered => (OrderTrigger::Trigger, UpdateKind::Triggered),
            OrderEventKind::Filled(fill) => {
                if self.executions.contains_key(&fill.exec_id) {
                    self.seen_events.insert(seen.clone());
                    return Outcome::Duplicate;
                }
                let open = order.request.quantity.checked_sub(order.filled).unwrap_or(Quantity::ZERO);
                if fill.quantity > open || fill.quantity.is_zero() {
                    return Outcome::Refused(Refusal::Overfill { order: key, fill: fill.quantity, open });
                }
                let trigger = if fill.quantity == open { OrderTrigger::Fill } else { OrderTrigger::PartialFill };
                let kind = UpdateKind::Filled { exec_id: fill.exec_id.clone(), quantity: fill.quantity, price: fill.price };
                (trigger, kind)
            }
            OrderEventKind::CancelRejected { reason } => {
                (OrderTrigger::RejectCancel, UpdateKind::CancelRejected { reason: reason.clone() })
            }
            OrderEventKind::Cancelled { reason } => (OrderTrigger::Cancel, UpdateKind::Cancelled { reason: reason.clone() }),
            OrderEventKind::Rejected { reason } => (OrderTrigger::Reject, UpdateKind::Rejected { reason: reason.clone() }),
            OrderEventKind::Expired => (OrderTrigger::Expire, UpdateKind::Expired),
            OrderEventKind::Modified { quantity, order_type } => {
                if *quantity < order.filled || quantity.is_zero() {
                    return Outcome::Refused(Refusal::ModifiedBelowFilled { order: key, quantity: *quantity, filled: order.filled });
                }
                (OrderTrigger::Replace, UpdateKind::Modified { quantity: *quantity, order_type: *order_type })
            }
            OrderEventKind::ModifyRejected { reason } => (OrderTrigger::RejectReplace, UpdateKind::ModifyRejected { reason: reason.clone() }),
            OrderEventKind::Unknown => {
                return Outcome::Refused(Refusal::UnknownKind(event.broker_order_id.clone()));
            }
        };
        let next = match order.status.transition(trigger) {
            Ok(next) => next,
            Err(source) => {
                self.seen_events.insert(seen.clone());
                return Outcome::Refused(Refusal::Invalid { order: key, source });
            }
        };

        // Checked: now change the books.
        self.seen_events.insert(seen.clone());
        let first_broker_event = order.broker_order_id.is_none();
        if first_broker_event {
            self.by_broker.insert(event.broker_order_id.clone(), client_id.clone());
        }
        let Some(order) = self.orders.get_mut(&client_id) else {
            return Outcome::Refused(Refusal::UnknownOrder(event.broker_order_id.clone()));
        };
        order.broker_order_id.get_or_insert_with(|| event.broker_order_id.clone());
        order.status = next;
        let mut execution = None;
        match &kind {
            UpdateKind::Filled { exec_id, quantity, price } => {
                order.filled = order.filled.checked_add(*quantity).unwrap_or(order.filled);
                order.fill_value += price.as_decimal() * quantity.as_decimal();
                let venue_fill_id = match &event.kind {
                    OrderEventKind::Filled(f) => f.venue_fill_id.clone(),
                    _ => None,
                };
                let exec = Execution {
                    exec_id: exec_id.clone(),
                    client_order_id: Some(client_id.clone()),
                    broker_order_id: event.broker_order_id.clone(),
                    account: order.request.account.clone(),
                    symbol: order.request.symbol.clone(),
                    side: order.request.side,
                    quantity: *quantity,
                    price: *price,
                    cum_quantity: order.filled,
                    leaves_quantity: order.request.quantity.checked_sub(order.filled).unwrap_or(Quantity::ZERO),
                    avg_price: order.avg_price().unwrap_or(*price),
                    venue_fill_id,
                    ts_event: event.ts_event,
                    commission: None,
                };
                execution = Some(exec);
            }
            UpdateKind::Cancelled { reason } => order.reason.clone_from(reason),
            UpdateKind::Rejected { reason } => order.reason = Some(reason.clone()),
            UpdateKind::Modified { quantity, order_type } => {
                order.request.quantity = *quantity;
                order.request.order_type = *order_type;
            }
            _ => {}
        }
        order.record_raw(event.event_id.clone(), kind, event.ts_event, event.raw.clone());
        if let Some(exec) = &execution {
            let pos = self.positions.entry((exec.account.clone(), exec.symbol.clone())).or_default();
            *pos = pos.apply(exec.side, exec.quantity);
            self.executions.insert(exec.exec_id.clone(), exec.clone());
        }
        Outcome::Applied { order: client_id, first_broker_event, execution: execution.map(Box::new) }
    }

    fn resolve(&mut self, event: &OrderEvent) -> Result<ClientOrderId, Refusal> {
        if let Some(id) = self.by_broker.get(&event.broker_order_id) {
            return match &event.client_order_id {
                Some(client) if client != id => Err(Refusal::BrokerIdReused {
                    broker: event.broker_order_id.clone(),
                    owner: id.clone(),
                    client: client.clone(),
                }),
                _ => Ok(id.clone()),
            };
        }
        let Some(client) = &event.client_order_id else {
            return Err(Refusal::UnknownOrder(event.broker_order_id.clone()));
        };
        match self.orders.get(client) {
            None => Err(Refusal::UnknownOrder(event.broker_order_id.clone())),
            Some(o) => match &o.broker_order_id {
                Some(known) if known != &event.broker_order_id => Err(Refusal::BrokerIdMismatch {
                    client: client.clone(),
                    known: known.clone(),
                    got: event.broker_order_id.clone(),
                }),
                _ => Ok(client.clone()),
            },
        }
    }

    fn local_id(&mut self, order: &ClientOrderId) -> String {
        self.local_updates += 1;
        format!("{order}:local-{}", self.local_updates)
    }

    /// Marks an order as having a cancel in flight.
    ///
    /// # Errors
    /// The refused transition, when the order cannot be cancelled in its status.
    fn request_cancel(&mut self, id: &ClientOrderId, now: UnixNanos) -> Result<(), InvalidTransition> {
        let update_id = self.local_id(id);
        let Some(order) = self.orders.get_mut(id) else { return Ok(()) };
        order.status = order.status.transition(OrderTrigger::RequestCancel)?;
        order.record(update_id, UpdateKind::CancelRequested, now);
        Ok(())
    }

    /// Marks an order as having a change in flight.
    ///
    /// # Errors
    /// The refused transition, when the order cannot be changed in its status.
    fn request_modify(&mut self, id: &ClientOrderId, quantity: Quantity, order_type: OrderType, now: UnixNanos) -> Result<(), InvalidTransition> {
        let update_id = self.local_id(id);
        let Some(order) = self.orders.get_mut(id) else { return Ok(()) };
        order.status = order.status.transition(OrderTrigger::RequestReplace)?;
        order.record(update_id, UpdateKind::ModifyRequested { quantity, order_type }, now);
        Ok(())
    }

    /// The adapter refused to even take a change: the order goes on as it was.
    fn modify_not_sent(&mut self, id: &ClientOrderId, reason: String, now: UnixNanos) {
        let update_id = self.local_id(id);
        if let Some(order) = self.orders.get_mut(id) {
            if let Ok(next) = order.status.transition(OrderTrigger::RejectReplace) {
                order.status = next;
                order.record(update_id, UpdateKind::ModifyRejected { reason }, now);
            }
        }
    }

    /// The adapter refused to even take a cancel: the order resumes.
    fn cancel_not_sent(&mut self, id: &ClientOrderId, reason: String, now: UnixNanos) {
        let update_id = self.local_id(id);
        if let Some(order) = self.orders.get_mut(id) {
            if let Ok(next) = order.status.transition(OrderTrigger::RejectCancel) {
                order.status = next;
                order.record(update_id, UpdateKind::CancelRejected { reason }, now);
            }
        }
    }

    /// The adapter refused to even take a new order: it is rejected.
    fn order_not_sent(&mut self, id: &ClientOrderId, reason: String, now: UnixNanos) {
        let update_id = self.local_id(id);
        if let Some(order) = self.orders.get_mut(id) {
            if let Ok(next) = order.status.transition(OrderTrigger::Reject) {
                order.status = next;
                order.reason = Some(reason.clone());
                order.record(update_id, UpdateKind::Rejected { reason }, now);
            }
        }
    }

    /// An order by the id clients use (broker id) or by the gateway's id.
    pub fn find(&self, id: &str) -> Option<&Order> {
        if let Ok(b) = BrokerOrderId::new(id) {
            if let Some(c) = self.by_broker.get(&b) {
                return self.orders.get(c);
            }
        }
        ClientOrderId::new(id).ok().and_then(|c| self.orders.get(&c))
    }

    /// An order by the gateway's id.
    pub fn get(&self, id: &ClientOrderId) -> Option<&Order> {
        self.orders.get(id)
    }

    /// Every order, oldest first.
    pub fn orders(&self) -> impl Iterator<Item = &Order> {
        self.orders.values()
    }

    /// Every execution, oldest first.
    pub fn executions(&self) -> impl Iterator<Item = &Execution> {
        self.executions.values()
    }

    /// One execution.
    pub fn execution(&self, id: &str) -> Option<&Execution> {
        ExecutionId::new(id).ok().and_then(|e| self.executions.get(&e))
    }

    /// Net positions per account and symbol.
    pub fn positions(&self) -> &BTreeMap<(AccountId, Symbol), SignedQuantity> {
        &self.positions
    }

    /// Orders that can still change, oldest first.
    pub fn open_orders(&self) -> Vec<ClientOrderId> {
        self.orders.values().filter(|o| o.status.is_open()).map(|o| o.request.client_order_id.clone()).collect()
    }
}

#[path = "oms_snapshot.rs"]
mod snapshot;
pub use snapshot::{SnapshotOutcome, SnapshotPlan};

#[cfg(test)]
#[path = "oms_tests.rs"]
pub(crate) mod tests;
