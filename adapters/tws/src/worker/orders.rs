//! Orders through TWS: placing and cancelling, following each order's states (orderStatus,
//! openOrder, through [`crate::mapping::ib_state`]) and fills (execDetails, deduplicated;
//! execution corrections raised, not booked twice), for orders placed here and for orders
//! placed elsewhere that a snapshot reported.

use super::Worker;
use crate::mapping::{self, IbState};
use crate::proto::decode::{ExecDetails, OpenOrder, OrderStatus as IbStatus};
use txtrader_plugin_api::adapter::LogLevel;
use txtrader_plugin_api::model::{BrokerOrderId, ClientOrderId, OrderRequest, OrderType, Price, Quantity, UnixNanos};
use txtrader_plugin_api::wire::{AdapterEvent, AlertLevel, Fill, OrderEvent, OrderEventKind};

/// An order this adapter placed (or learned of through its client id).
#[derive(Debug)]
pub(super) struct Tracked {
    pub(super) client: ClientOrderId,
    /// What the gateway asked for (orders placed here; the order's size for its executions).
    pub(super) request: Option<OrderRequest>,
    pub(super) broker: Option<BrokerOrderId>,
    pub(super) accepted: bool,
    pub(super) done: bool,
    pub(super) last_error: Option<String>,
    /// A change sent and not yet confirmed: the new quantity and pricing.
    pub(super) modifying: Option<(Quantity, OrderType)>,
}

/// Which tracked order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Key {
    /// Ours, by order id.
    Ours(i64),
    /// Placed elsewhere, by permanent id.
    Foreign(i64),
}

impl Worker {
    pub(super) fn submit(&mut self, o: OrderRequest) {
        let Some(order_id) = self.live.as_mut().and_then(|l| {
            let id = l.next_order_id?;
            l.next_order_id = Some(id + 1);
            Some(id)
        }) else {
            return;
        };
        let Some(e) = self.encoder() else { return };
        let frame = e.place_order(&mapping::order(&self.settings, order_id, &o));
        self.orders.insert(
            order_id,
            Tracked { client: o.client_order_id.clone(), request: Some(o), broker: None, accepted: false, done: false, last_error: None, modifying: None },
        );
        self.send(frame);
    }

    pub(super) fn cancel(&mut self, broker: &BrokerOrderId, client: Option<ClientOrderId>) {
        let order_id = broker.as_str().parse::<i64>().ok().and_then(|perm| self.by_perm.get(&perm).copied());
        match order_id {
            Some(order_id) => {
                if let Some(e) = self.encoder() {
                    self.send(e.cancel_order(order_id));
                }
            }
            None => self.cancel_refused(broker.clone(), client, "the order was not placed by this API client (cancel it in TWS, or with global_cancel)"),
        }
    }

    /// A change of quantity or prices: placeOrder again with the order's id, as IB modifies
    /// orders. TWS answers with the order's new terms (openOrder), or an error.
    pub(super) fn modify(&mut self, broker: &BrokerOrderId, client: Option<ClientOrderId>, quantity: Quantity, order_type: OrderType) {
        let order_id = broker.as_str().parse::<i64>().ok().and_then(|perm| self.by_perm.get(&perm).copied());
        let changed = order_id.and_then(|id| {
            let t = self.orders.get_mut(&id)?;
            let mut request = t.request.clone()?;
            request.quantity = quantity;
            request.order_type = order_type;
            t.modifying = Some((quantity, order_type));
            Some((id, request))
        });
        match changed {
            Some((order_id, request)) => {
                if let Some(e) = self.encoder() {
                    self.send(e.place_order(&mapping::order(&self.settings, order_id, &request)));
                }
            }
            None => self.modify_refused(broker.clone(), client, "the order was not placed by this API client (modify it in TWS)"),
        }
    }

    /// A change that does not reach TWS, or that TWS refused: the order goes on as it was.
    pub(super) fn modify_refused(&self, broker_order_id: BrokerOrderId, client_order_id: Option<ClientOrderId>, reason: &str) {
        let event = OrderEvent {
            event_id: format!("modify-refused-{}", UnixNanos::now().0),
            broker_order_id,
            client_order_id,
            ts_event: UnixNanos::now(),
            kind: OrderEventKind::ModifyRejected { reason: reason.to_owned() },
            raw: None,
        };
        self.emit(AdapterEvent::Order(event));
    }

    /// An openOrder showing the terms a pending change asked for confirms it.
    fn confirm_modify(&mut self, key: Key, order: &crate::proto::Order) {
        let Some(t) = self.tracked(key) else { return };
        let Some((quantity, order_type)) = t.modifying else { return };
        let shows = order.total_quantity == quantity.as_decimal()
            && order.lmt_price == order_type.limit_price().map(Price::as_decimal)
            && order.aux_price == order_type.stop_price().map(Price::as_decimal);
        if !shows {
            return;
        }
        t.modifying = None;
        if let Some(r) = t.request.as_mut() {
            r.quantity = quantity;
            r.order_type = order_type;
        }
        let (Some(broker), client) = (t.broker.clone(), t.client.clone()) else { return };
        let event_id = format!("modified-{}-{}", quantity, UnixNanos::now().0);
        self.order_event(Some(&broker), &client, &event_id, OrderEventKind::Modified { quantity, order_type });
    }

    /// A cancel that does not reach TWS, answered as the broker would: the order resumes.
    pub(super) fn cancel_refused(&self, broker_order_id: BrokerOrderId, client_order_id: Option<ClientOrderId>, reason: &str) {
        let event = OrderEvent {
            event_id: format!("cancel-refused-{}", UnixNanos::now().0),
            broker_order_id,
            client_order_id,
            ts_event: UnixNanos::now(),
            kind: OrderEventKind::CancelRejected { reason: reason.to_owned() },
            raw: None,
        };
        self.emit(AdapterEvent::Order(event));
    }

    pub(super) fn order_event(&self, broker: Option<&BrokerOrderId>, client: &ClientOrderId, event_id: &str, kind: OrderEventKind) {
        // before TWS gave the order a permanent id (refused at once): the gateway's id stands in
        let broker = broker.cloned().or_else(|| BrokerOrderId::new(format!("ib-{client}")).ok());
        let Some(broker_order_id) = broker else { return };
        let event = OrderEvent {
            event_id: event_id.to_owned(),
            broker_order_id,
            client_order_id: Some(client.clone()),
            ts_event: UnixNanos::now(),
            kind,
            raw: None,
        };
        self.emit(AdapterEvent::Order(event));
    }

    /// Which tracked order a message is about: one of ours (by order id, or by permanent id
    /// once known), or one placed elsewhere that a snapshot reported (by permanent id).
    pub(super) fn key_of(&self, client_id: i64, order_id: i64, perm_id: i64) -> Option<Key> {
        if client_id == self.settings.client_id && self.orders.contains_key(&order_id) {
            return Some(Key::Ours(order_id));
        }
        if let Some(id) = self.by_perm.get(&perm_id) {
            return Some(Key::Ours(*id));
        }
        self.foreign.contains_key(&perm_id).then_some(Key::Foreign(perm_id))
    }

    pub(super) fn tracked(&mut self, key: Key) -> Option<&mut Tracked> {
        match key {
            Key::Ours(id) => self.orders.get_mut(&id),
            Key::Foreign(perm) => self.foreign.get_mut(&perm),
        }
    }

    /// The first message naming one of our orders' permanent id acknowledges it.
    pub(super) fn learn_perm(&mut self, key: Key, perm_id: i64) {
        let Key::Ours(order_id) = key else { return };
        let Some(t) = self.orders.get_mut(&order_id) else { return };
        if t.broker.is_some() || perm_id <= 0 {
            return;
        }
        let Some(broker) = mapping::broker_id(perm_id) else { return };
        t.broker = Some(broker.clone());
        self.by_perm.insert(perm_id, order_id);
        let client = t.client.clone();
        self.order_event(Some(&broker), &client, "ack", OrderEventKind::Acknowledged);
    }

    pub(super) fn working(&mut self, key: Key, ib_status: &str) {
        let Some(t) = self.tracked(key) else { return };
        let Some(broker) = t.broker.clone() else { return };
        let client = t.client.clone();
        // fills come from execDetails; a pending state changes nothing yet
        let event = match mapping::ib_state(ib_status) {
            IbState::Working if !t.accepted => {
                t.accepted = true;
                ("accepted", OrderEventKind::Accepted)
            }
            IbState::Cancelled if !t.done => {
                t.done = true;
                ("cancelled", OrderEventKind::Cancelled { reason: t.last_error.clone() })
            }
            IbState::Inactive if !t.done => {
                t.done = true;
                ("rejected", OrderEventKind::Rejected { reason: t.last_error.clone().unwrap_or_else(|| "inactive at TWS".into()) })
            }
            IbState::Pending | IbState::Working | IbState::PendingCancel | IbState::Cancelled | IbState::Filled | IbState::Inactive | IbState::Other => {
                return;
            }
        };
        self.order_event(Some(&broker), &client, event.0, event.1);
    }

    pub(super) fn open_order(&mut self, o: OpenOrder) {
        if let Some(key) = self.key_of(o.client_id, o.order.order_id, o.perm_id) {
            self.learn_perm(key, o.perm_id);
            self.confirm_modify(key, &o.order);
            self.working(key, &o.status);
        }
        if let Some(g) = self.gathering.as_mut() {
            g.open.insert(o.perm_id, o);
        }
    }

    pub(super) fn order_status(&mut self, s: IbStatus) {
        if let Some(key) = self.key_of(s.client_id, s.order_id, s.perm_id) {
            self.learn_perm(key, s.perm_id);
            self.working(key, &s.status);
        }
        if let Some(g) = self.gathering.as_mut() {
            g.statuses.insert(s.perm_id, s);
        }
    }

    pub(super) fn exec_details(&mut self, x: ExecDetails) {
        if let Some(g) = self.gathering.as_mut().filter(|g| g.exec_req == x.req_id) {
            g.executions.push(x.clone());
        }
        let Some(key) = self.key_of(x.client_id, x.order_id, x.perm_id) else { return };
        if !self.execs.insert(x.exec_id.clone()) {
            return;
        }
        if self.is_correction(&x.exec_id) {
            return;
        }
        self.learn_perm(key, x.perm_id);
        let Some(t) = self.tracked(key) else { return };
        let (Some(broker), Ok(exec_id), Ok(quantity)) =
            (t.broker.clone(), txtrader_plugin_api::model::ExecutionId::new(x.exec_id.clone()), Quantity::new(x.shares))
        else {
            return;
        };
        let client = t.client.clone();
        let fill = Fill { exec_id, quantity, price: Price::new(x.price), venue_fill_id: (!x.exchange.is_empty()).then(|| x.exchange.clone()) };
        self.order_event(Some(&broker), &client, &x.exec_id, OrderEventKind::Filled(fill));
    }

    /// An execution correction (a new revision of an execution already booked) is not booked
    /// as another fill: that would count the shares twice. It is raised for the operator; the
    /// broker's positions, taken at each reconciliation, are right either way.
    pub(super) fn is_correction(&mut self, exec_id: &str) -> bool {
        let prefix = mapping::exec_prefix(exec_id).to_owned();
        match self.exec_prefixes.get(&prefix) {
            Some(first) if first != exec_id => {
                let message = format!("IB corrected execution {first} with {exec_id}; the correction is not booked as a new fill, positions follow the broker at the next reconciliation");
                self.host.log(LogLevel::Warn, &message);
                self.emit(AdapterEvent::Alert { level: AlertLevel::Warning, code: None, message });
                true
            }
            Some(_) => false,
            None => {
                self.exec_prefixes.insert(prefix, exec_id.to_owned());
                false
            }
        }
    }
}
