//! Orders in the core: new orders (written ahead: the broker hears of an order only once the
//! journal has it), cancels and global cancels, the broker's order events (booked through the
//! OMS, published, and answering the caller who waits for an order's first broker event),
//! commissions, the order and execution queries, accounts and the default route.

use super::pending::PendingKind;
use super::slots::SlotState;
use super::{Core, Reply};
use crate::gateway::bus::GatewayEvent;
use crate::gateway::oms::{Booked, Outcome, Refusal};
use crate::gateway::change::Change;
use crate::gateway::{CancelOutcome, ExecFilter, ModifyOutcome, ExecutionView, GatewayError, NewOrder, OrderView, Positions, SubmitError};
use crate::gateway::entry::Entry;
use indexmap::IndexMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use txtrader_plugin_api::model::{
    AccountId, AccountSummary, ClientOrderId, Commission, Execution, ConnectionStatus, ExecutionId, InvalidTransition, OrderClass, OrderRequest,
    OrderStatus, OrderTrigger, Quantity, Route, UnixNanos,
};
use txtrader_plugin_api::wire::{AdapterRequest, OrderEvent, RequestBody, RequestId, FEATURE_GLOBAL_CANCEL, FEATURE_MODIFY};

/// Cancels booked by [`Core::cancel_working`], to send once the journal has them.
pub(super) struct Cancels {
    prepared: Vec<(usize, RequestBody)>,
    whole: Vec<usize>,
}

impl Cancels {
    /// Sends them; answers how many orders a cancel went out for (an order of an adapter
    /// cancelling everything at once counts as sent).
    pub(super) fn send(self, c: &mut Core) -> usize {
        let Self { prepared, whole } = self;
        let sent = prepared
            .into_iter()
            .filter(|(slot, body)| whole.contains(slot) || c.send_cancel(*slot, body.clone()) == CancelOutcome::Sent)
            .count();
        for slot in whole {
            if let Err(e) = c.send_to(slot, RequestBody::GlobalCancel, None) {
                tracing::warn!(adapter = %c.slots[slot].spec.name, "global cancel not sent: {e}");
            }
        }
        sent
    }
}

/// A client waiting for the broker's first answer about its new order.
pub(super) struct OrderWaiter {
    pub(super) deadline: Instant,
    pub(super) reply: Reply<Result<OrderView, SubmitError>>,
}

impl Core {
    pub(super) fn order_view(&self, id: &ClientOrderId) -> Option<OrderView> {
        let order = self.oms.get(id)?;
        Some(OrderView { instrument: self.market.instrument(&order.request.symbol).cloned(), order: order.clone() })
    }

    pub(super) fn execution_view(&self, execution: &Execution) -> ExecutionView {
        ExecutionView::from_books(&self.oms, execution, self.market.instrument(&execution.symbol).cloned())
    }

    pub(super) fn publish_order(&mut self, id: &ClientOrderId) {
        if let Some(view) = self.order_view(id) {
            self.publish(GatewayEvent::Order(Arc::new(view)));
        }
    }

    pub(super) fn positions(&self) -> Positions {
        let mut out: Positions = self.accounts.iter().map(|a| (a.clone(), IndexMap::new())).collect();
        for ((account, symbol), qty) in self.oms.positions() {
            out.entry(account.clone()).or_default().insert(symbol.clone(), *qty);
        }
        out
    }

    pub(super) fn submit(&mut self, new: NewOrder, reply: Reply<Result<OrderView, SubmitError>>) {
        if self.status() != ConnectionStatus::Up {
            self.answer(reply, Err(SubmitError::Gateway(GatewayError::NotInitialized)));
            return;
        }
        if let (true, Some(route)) = (new.sets_default_route, new.route.as_ref()) {
            if *route != self.route {
                self.record(Entry::Route(route.clone()));
                self.route = route.clone();
            }
        }
        let Some(&slot) = self.account_slot.get(&new.account) else {
            self.answer(reply, Err(SubmitError::UnknownAccount(new.account)));
            return;
        };
        for (name, price) in [("limit price", new.order_type.limit_price()), ("stop price", new.order_type.stop_price())] {
            if let Some(p) = price.filter(|p| !p.is_positive()) {
                self.answer(reply, Err(SubmitError::Invalid(format!("{name} must be positive, got {p}"))));
                return;
            }
        }
        let chosen = new.client_order_id.clone().map(Ok);
        let Ok(client_order_id) = chosen.unwrap_or_else(|| ClientOrderId::new(new_client_order_id())) else {
            self.answer(reply, Err(SubmitError::Invalid("cannot create an order id".into())));
            return;
        };
        let request = OrderRequest {
            client_order_id: client_order_id.clone(),
            account: new.account,
            exchange: self.exchanges.get(&new.symbol).cloned(),
            symbol: new.symbol,
            side: new.side,
            quantity: new.quantity,
            order_type: new.order_type,
            time_in_force: new.time_in_force,
            route: Some(new.route.unwrap_or_else(|| self.route.clone())),
            staged_tag: new.staged_tag,
            origin: new.origin,
            user: new.user,
        };
        if self.oms.get(&client_order_id).is_some() {
            self.answer(reply, Err(SubmitError::Invalid("duplicate order id".into())));
            return;
        }
        if let Err(denial) = self.pre_trade(&request, new.intended_duplicate) {
            self.answer(reply, Err(SubmitError::Denied(denial)));
            return;
        }
        self.record(Entry::Submitted { request: request.clone(), at: UnixNanos::now() });
        self.lookup_instrument(&request.symbol);
        let deadline = Instant::now() + self.settings.timeouts.order;
        self.order_waiters.insert(client_order_id.clone(), OrderWaiter { deadline, reply });
        // Written ahead: the broker hears of the order only once the journal has it.
        self.after_journal(move |c| {
            if let Err(e) = c.send_to(slot, RequestBody::SubmitOrder(request.clone()), None) {
                c.fail_order_request(&AdapterRequest { id: RequestId(0), body: RequestBody::SubmitOrder(request) }, &e);
            }
        });
    }

    /// Books a cancel request and prepares the request to the broker, or answers why not.
    pub(super) fn cancel(&mut self, id: &str) -> Result<(usize, RequestBody), CancelOutcome> {
        let Some(order) = self.oms.find(id) else { return Err(CancelOutcome::NotFound) };
        let client = order.request.client_order_id.clone();
        let status = order.status;
        let account = order.request.account.clone();
        let Some(broker) = order.broker_order_id.clone() else { return Err(CancelOutcome::NotAcknowledged) };
        match status {
            OrderStatus::Cancelled => return Err(CancelOutcome::AlreadyCancelled),
            s if s.is_terminal() => return Err(CancelOutcome::NotLive(s)),
            _ => {}
        }
        let Some(&slot) = self.account_slot.get(&account) else {
            return Err(CancelOutcome::Failed(format!("no adapter trades account {account}")));
        };
        if let Booked::CancelRequested(Err(e)) = self.record(Entry::CancelRequested { order: client.clone(), at: UnixNanos::now() }) {
            return Err(CancelOutcome::NotLive(e.from));
        }
        self.publish_order(&client);
        Ok((slot, RequestBody::CancelOrder { client_order_id: Some(client), broker_order_id: broker }))
    }

    /// Sends a prepared cancel (once the journal has the request).
    pub(super) fn send_cancel(&mut self, slot: usize, body: RequestBody) -> CancelOutcome {
        match self.send_to(slot, body.clone(), None) {
            Ok(()) => CancelOutcome::Sent,
            Err(e) => {
                self.fail_order_request(&AdapterRequest { id: RequestId(0), body }, &e);
                CancelOutcome::Failed(e)
            }
        }
    }

    /// `cancel_order`: booked, then sent once the journal has the request.
    pub(super) fn cancel_order(&mut self, id: &str, reply: Reply<CancelOutcome>) {
        match self.cancel(id) {
            Ok((slot, body)) => self.after_journal(move |c| {
                let outcome = c.send_cancel(slot, body);
                let _ = reply.send(outcome);
            }),
            Err(outcome) => self.answer(reply, outcome),
        }
    }

    /// Books a change request and prepares the request to the broker, or answers why not.
    pub(super) fn modify(&mut self, id: &str, change: &Change) -> Result<(usize, RequestBody), ModifyOutcome> {
        let Some(order) = self.oms.find(id) else { return Err(ModifyOutcome::NotFound) };
        let client = order.request.client_order_id.clone();
        match order.status {
            s if s.is_terminal() => return Err(ModifyOutcome::NotLive(s)),
            s @ (OrderStatus::PendingCancel { .. } | OrderStatus::PendingReplace { .. }) => return Err(ModifyOutcome::Busy(s)),
            OrderStatus::Initialized => return Err(ModifyOutcome::NotAcknowledged),
            OrderStatus::Held => return Err(ModifyOutcome::Invalid("a staged ticket cannot be changed: release or cancel it".into())),
            OrderStatus::Submitted | OrderStatus::Working | OrderStatus::PartiallyFilled | OrderStatus::Filled | OrderStatus::Cancelled | OrderStatus::Rejected | OrderStatus::Expired => {}
        }
        let Some(broker) = order.broker_order_id.clone() else { return Err(ModifyOutcome::NotAcknowledged) };
        let Some(&slot) = self.account_slot.get(&order.request.account) else {
            return Err(ModifyOutcome::Failed(format!("no adapter trades account {}", order.request.account)));
        };
        let modifies = self.slots[slot].current.as_ref().is_some_and(|g| g.features.iter().any(|f| f == FEATURE_MODIFY));
        if !modifies {
            return Err(ModifyOutcome::Unsupported(self.slots[slot].spec.name.clone()));
        }
        let (quantity, order_type) = change.apply(order.request.quantity, order.request.order_type, order.filled).map_err(ModifyOutcome::Invalid)?;
        let mut changed = order.request.clone();
        changed.quantity = quantity;
        changed.order_type = order_type;
        let leaves = quantity.checked_sub(order.filled).unwrap_or(Quantity::ZERO);
        self.pre_trade_change(&client, &changed, leaves).map_err(ModifyOutcome::Denied)?;
        if let Booked::ModifyRequested(Err(e)) = self.record(Entry::ModifyRequested { order: client.clone(), quantity, order_type, at: UnixNanos::now() }) {
            return Err(ModifyOutcome::Busy(e.from));
        }
        self.publish_order(&client);
        Ok((slot, RequestBody::ModifyOrder { client_order_id: Some(client), broker_order_id: broker, quantity, order_type }))
    }

    /// `modify_order`: booked, then sent once the journal has the request.
    pub(super) fn modify_order(&mut self, id: &str, change: &Change, reply: Reply<ModifyOutcome>) {
        match self.modify(id, change) {
            Ok((slot, body)) => self.after_journal(move |c| {
                let outcome = match c.send_to(slot, body.clone(), None) {
                    Ok(()) => ModifyOutcome::Sent,
                    Err(e) => {
                        c.fail_order_request(&AdapterRequest { id: RequestId(0), body }, &e);
                        ModifyOutcome::Failed(e)
                    }
                };
                let _ = reply.send(outcome);
            }),
            Err(outcome) => self.answer(reply, outcome),
        }
    }

    /// `global_cancel`: every open order the broker acknowledged; answers how many cancels
    /// were sent.
    pub(super) fn global_cancel(&mut self, reply: Reply<usize>) {
        let cancels = self.cancel_working(None);
        self.after_journal(move |c| {
            let sent = cancels.send(c);
            tracing::info!(sent, "global cancel");
            let _ = reply.send(sent);
        });
    }

    /// Books a cancel for every open order the broker acknowledged (of one account, or all),
    /// to be sent once the journal has them. For all accounts, adapters that cancel everything
    /// in one request (orders placed outside the gateway included) get that request instead of
    /// one cancel per order.
    pub(super) fn cancel_working(&mut self, account: Option<&AccountId>) -> Cancels {
        let open: Vec<String> = self
            .oms
            .open_orders()
            .iter()
            .filter_map(|c| self.oms.get(c))
            .filter(|o| o.broker_order_id.is_some() && account.is_none_or(|a| &o.request.account == a))
            .map(|o| o.key().to_owned())
            .collect();
        let prepared: Vec<(usize, RequestBody)> = open.iter().filter_map(|id| self.cancel(id).ok()).collect();
        let whole: Vec<usize> = (0..self.slots.len())
            .filter(|_| account.is_none())
            .filter(|&i| self.slots[i].state == SlotState::Ready)
            .filter(|&i| self.slots[i].current.as_ref().is_some_and(|g| g.features.iter().any(|f| f == FEATURE_GLOBAL_CANCEL)))
            .collect();
        Cancels { prepared, whole }
    }

    /// One order by broker or gateway id.
    pub(super) fn query_order(&mut self, id: &str, reply: Reply<Option<OrderView>>) {
        let view = self.oms.find(id).map(|o| o.request.client_order_id.clone()).and_then(|c| self.order_view(&c));
        self.answer(reply, view);
    }

    /// Orders (or tickets), oldest first.
    pub(super) fn query_orders(&mut self, class: OrderClass, reply: Reply<Vec<OrderView>>) {
        let ids: Vec<ClientOrderId> = self.oms.orders().filter(|o| o.class() == class).map(|o| o.request.client_order_id.clone()).collect();
        self.answer(reply, ids.iter().filter_map(|c| self.order_view(c)).collect());
    }

    /// Executions: all, one, or an order's.
    pub(super) fn query_executions(&mut self, filter: &ExecFilter, reply: Reply<Vec<ExecutionView>>) {
        let views = match filter {
            ExecFilter::All => self.oms.executions().map(|e| self.execution_view(e)).collect(),
            ExecFilter::Id(id) => self.oms.execution(id).map(|e| self.execution_view(e)).into_iter().collect(),
            ExecFilter::Order(id) => match self.oms.find(id) {
                Some(o) => {
                    let (c, b) = (o.request.client_order_id.clone(), o.broker_order_id.clone());
                    self.oms
                        .executions()
                        .filter(|e| e.client_order_id.as_ref() == Some(&c) || Some(&e.broker_order_id) == b.as_ref())
                        .map(|e| self.execution_view(e))
                        .collect()
                }
                None => Vec::new(),
            },
        };
        self.answer(reply, views);
    }

    /// Selects the current account (answers whether it is known).
    pub(super) fn set_account(&mut self, account: AccountId, reply: Reply<bool>) {
        let known = self.accounts.contains(&account);
        if known {
            self.current_account = Some(account.clone());
            self.record(Entry::CurrentAccount(account.clone()));
            self.publish(GatewayEvent::CurrentAccount(account));
        } else {
            self.alert("RTX", format!("set_account(): account {account} not found"));
        }
        self.answer(reply, known);
    }

    /// An account's balances, from the slot that trades it.
    pub(super) fn account_summary(&mut self, account: AccountId, reply: Reply<Result<Option<AccountSummary>, GatewayError>>) {
        if self.status() != ConnectionStatus::Up {
            self.answer(reply, Err(GatewayError::NotInitialized));
            return;
        }
        let Some(&slot) = self.account_slot.get(&account) else {
            self.answer(reply, Ok(None));
            return;
        };
        let timeout = self.settings.timeouts.account;
        let _ = self.send_to(slot, RequestBody::Account { account }, Some(("account", timeout, PendingKind::Account { reply })));
    }

    /// Replaces the default route (journaled only when it changes: every order a client places
    /// names its route, almost always the same one).
    pub(super) fn set_route(&mut self, route: Route, reply: Reply<Route>) {
        if route != self.route {
            self.record(Entry::Route(route.clone()));
            self.route = route;
        }
        self.answer(reply, self.route.clone());
    }

    pub(super) fn on_order_event(&mut self, slot: usize, event: OrderEvent) {
        if self.settings.log.api_messages {
            tracing::info!(?event, "order event");
        }
        let event_id = event.event_id.clone();
        let Booked::Event(outcome) = self.record(Entry::OrderEvent(event)) else { return };
        match outcome {
            Outcome::Applied { order, first_broker_event, execution } => {
                let Some(view) = self.order_view(&order) else { return };
                if self.settings.log.order_updates {
                    tracing::info!(
                        "ORDER: {} {} OID={} ORDER_ID={}",
                        view.order.history.last().map_or("?", |u| kind_name(&u.kind)),
                        view.order.status,
                        view.order.key(),
                        event_id
                    );
                }
                // Published before the caller is answered: a stream command's reply must follow
                // the pushes it caused, and the session reads the published sequence number as
                // soon as the answer arrives.
                let view = Arc::new(view);
                self.publish(GatewayEvent::Order(view.clone()));
                if first_broker_event {
                    if let Some(w) = self.order_waiters.remove(&order) {
                        self.answer(w.reply, Ok(OrderView::clone(&view)));
                    }
                    self.cancel_if_halted(&view.order);
                }
                if let Some(exec) = execution {
                    if self.settings.log.execution_updates {
                        tracing::info!(
                            "FILL: {} {} {} {} {} {} {}",
                            exec.exec_id,
                            exec.symbol,
                            exec.side,
                            exec.quantity,
                            exec.price,
                            exec.leaves_quantity,
                            exec.account
                        );
                    }
                    let view = self.execution_view(&exec);
                    self.publish(GatewayEvent::Execution(Arc::new(view)));
                    self.after_fill(&exec);
                }
            }
            Outcome::Duplicate => {
                if self.settings.log.order_update_dups {
                    tracing::info!(event_id = %event_id, "duplicate order event ignored");
                } else {
                    tracing::debug!(event_id = %event_id, "duplicate order event ignored");
                }
            }
            Outcome::Refused(Refusal::Invalid { order, source: InvalidTransition { from, trigger: OrderTrigger::RejectCancel } })
                if from.is_terminal() =>
            {
                // A cancel that lost the race against a fill or another cancel: expected.
                tracing::info!(%order, status = %from, "cancel refused by the broker: order already final");
            }
            Outcome::Refused(Refusal::BrokerIdReused { broker, owner, client }) => {
                // Never merge two orders: the new one fails with the reason, the old one stays.
                let reason = format!("the broker gave this order the id {broker}, which order {owner} already has");
                self.alert("OMS", format!("order {client}: {reason}"));
                self.record(Entry::OrderNotSent { order: client.clone(), reason, at: UnixNanos::now() });
                self.publish_order(&client);
                if let (Some(w), Some(view)) = (self.order_waiters.remove(&client), self.order_view(&client)) {
                    self.answer(w.reply, Ok(view));
                }
            }
            Outcome::Refused(refusal) => {
                tracing::warn!(event_id = %event_id, %refusal, "order event refused");
                self.alert("OMS", format!("order event {} refused: {refusal}", event_id));
                let recent = self.last_snapshot_request.get(&slot).is_some_and(|t| t.elapsed() < Duration::from_secs(5));
                if matches!(refusal, Refusal::UnknownOrder(_)) && !recent {
                    // An order placed elsewhere: learn it from the broker.
                    self.request_snapshot(slot, false);
                }
            }
        }
    }

    /// A commission report, booked with an execution the books have; a report for one they do
    /// not (yet) have is dropped: a snapshot carries it with the execution.
    pub(super) fn on_commission(&mut self, exec_id: ExecutionId, commission: Commission) {
        if self.oms.execution(exec_id.as_str()).is_some() {
            self.record(Entry::Commission { exec_id, commission });
        } else {
            tracing::debug!(%exec_id, "commission for an execution not in the books");
        }
    }

    /// An order or cancel that never reached a broker: the books say so.
    pub(super) fn fail_order_request(&mut self, request: &AdapterRequest, why: &str) {
        let now = UnixNanos::now();
        match &request.body {
            RequestBody::SubmitOrder(o) => {
                let id = o.client_order_id.clone();
                self.record(Entry::OrderNotSent { order: id.clone(), reason: format!("adapter refused the order: {why}"), at: now });
                self.publish_order(&id);
                if let (Some(w), Some(view)) = (self.order_waiters.remove(&id), self.order_view(&id)) {
                    self.answer(w.reply, Ok(view));
                }
            }
            RequestBody::CancelOrder { client_order_id: Some(id), .. } => {
                self.record(Entry::CancelNotSent { order: id.clone(), reason: format!("adapter refused the cancel: {why}"), at: now });
                self.publish_order(id);
            }
            RequestBody::ModifyOrder { client_order_id: Some(id), .. } => {
                self.record(Entry::ModifyNotSent { order: id.clone(), reason: format!("adapter refused the change: {why}"), at: now });
                self.publish_order(id);
            }
            _ => {}
        }
    }

    /// Answers the callers whose order the broker did not acknowledge in time.
    pub(super) fn expire_order_waiters(&mut self, now: Instant) {
        let late: Vec<ClientOrderId> =
            self.order_waiters.iter().filter(|(_, w)| w.deadline <= now || w.reply.is_closed()).map(|(c, _)| c.clone()).collect();
        for id in late {
            if let Some(w) = self.order_waiters.remove(&id) {
                if !w.reply.is_closed() {
                    self.alert("RTX", format!("API_Callback<{id} order> callback expired"));
                    self.answer(w.reply, Err(SubmitError::Gateway(GatewayError::Timeout("order acknowledgement"))));
                }
            }
        }
    }
}

pub(super) fn kind_name(kind: &crate::gateway::oms::UpdateKind) -> &'static str {
    use crate::gateway::oms::UpdateKind as K;
    match kind {
        K::Acknowledged => "Acknowledged",
        K::Staged => "Staged",
        K::Accepted => "Accepted",
        K::Triggered => "Triggered",
        K::Filled { .. } => "Filled",
        K::CancelRequested => "CancelRequested",
        K::CancelRejected { .. } => "CancelRejected",
        K::Cancelled { .. } => "Cancelled",
        K::Rejected { .. } => "Rejected",
        K::Expired => "Expired",
        K::ModifyRequested { .. } => "ModifyRequested",
        K::Modified { .. } => "Modified",
        K::ModifyRejected { .. } => "ModifyRejected",
        K::Restated => "Restated",
    }
}

/// A new gateway order id: a time-based UUID, as the original's `uuid1()`. The shared v1
/// context adds a counter, so ids stay unique within one clock tick.
pub(super) fn new_client_order_id() -> String {
    static NODE: std::sync::OnceLock<[u8; 6]> = std::sync::OnceLock::new();
    let node = NODE.get_or_init(|| {
        let r = *uuid::Uuid::new_v4().as_bytes();
        // multicast bit set: a random node id, not a MAC address (RFC 9562, 6.10)
        [r[0] | 0x01, r[1], r[2], r[3], r[4], r[5]]
    });
    uuid::Uuid::now_v1(node).to_string()
}
