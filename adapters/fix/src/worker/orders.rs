//! The worker's order side: placing, cancelling and replacing orders over the session (each
//! refused at once, as a broker would, when it cannot go out), the status requests after a
//! logon, and the replay of the store into the book at start-up.

use super::Worker;
use crate::book::{Book, Placed};
use crate::mapping;
use crate::proto::encode::utc_timestamp;
use crate::proto::tags::{self, msg};
use crate::proto::Message;
use crate::session::store::Record;
use chrono::Utc;
use std::time::Instant;
use txtrader_plugin_api::adapter::LogLevel;
use txtrader_plugin_api::model::{BrokerOrderId, ClientOrderId, OrderRequest, OrderType, Quantity, UnixNanos};
use txtrader_plugin_api::wire::{AdapterEvent, OrderEvent, OrderEventKind};

impl Worker {
    /// OrderStatusRequest for every order still open (after a logon: what happened while the
    /// session was down comes from the resends; this also catches what they cannot say).
    pub(super) fn ask_status(&mut self) {
        let requests: Vec<(String, Vec<(u32, String)>)> =
            self.book.open_orders().map(|o| (o.root.clone(), mapping::status_request(&o.current, o.order_id.as_deref(), &o.terms()))).collect();
        for (root, body) in requests {
            if let Err(e) = self.send_order_message(msg::ORDER_STATUS_REQUEST, &body) {
                self.host.log(LogLevel::Warn, &format!("FIX: no status request for order {root}: {e}"));
                break;
            }
        }
    }

    /// Sends an order message; an error when the session could not (then nothing went out).
    pub(super) fn send_order_message(&mut self, msg_type: &str, body: &[(u32, String)]) -> Result<(), String> {
        let (seq, bytes) = self.session.send_app(msg_type, body, Instant::now(), Utc::now()).map_err(|e| e.to_string())?;
        // the book reads the message's type and order fields: no need to parse what was encoded
        let sent = std::iter::once((tags::MSG_TYPE, msg_type.to_owned())).chain(body.iter().cloned()).collect();
        self.book.sent(seq, &Message::from_fields(sent));
        self.write(&bytes);
        Ok(())
    }

    pub(super) fn submit(&mut self, request: OrderRequest) {
        let root = self.book.next_cl_ord_id();
        let client_order_id = request.client_order_id.clone();
        let reject = |w: &Self, reason: String| {
            let broker_order_id = w.book.broker_id(&root).ok();
            if let Some(broker_order_id) = broker_order_id {
                w.emit(AdapterEvent::Order(OrderEvent {
                    event_id: format!("{root}:refused"),
                    broker_order_id,
                    client_order_id: Some(client_order_id.clone()),
                    ts_event: UnixNanos::now(),
                    kind: OrderEventKind::Rejected { reason },
                    raw: None,
                }));
            }
        };
        if request.staged_tag.is_some() {
            return reject(self, "staged tickets are not supported by FIX sessions".into());
        }
        if !self.settings.accounts.contains(&request.account) {
            return reject(self, format!("account {} is not routed by this FIX session", request.account));
        }
        if !self.session.is_active() {
            return reject(self, format!("not connected: the FIX session {} is not logged on", self.describe()));
        }
        let placed = Placed { request, root: root.clone(), at: UnixNanos::now() };
        let record = serde_json::to_vec(&placed).unwrap_or_default();
        if let Err(e) = self.session.store_mut().own(&record) {
            return reject(self, format!("the FIX store refused the order: {e}"));
        }
        if let Err(e) = self.book.placed(placed) {
            return reject(self, e);
        }
        let Some(order) = self.book.order(&root) else { return };
        let body = mapping::new_order_single(&root, &order.terms(), &utc_timestamp(Utc::now()));
        if let Err(e) = self.send_order_message(msg::NEW_ORDER_SINGLE, &body) {
            // recorded as placed but never sent: the book must say so too
            let outcome = self.book.refused(&root, format!("not sent: {e}"));
            self.publish(outcome);
        }
    }

    pub(super) fn cancel(&mut self, broker_order_id: BrokerOrderId, client_order_id: Option<ClientOrderId>) {
        self.amend(broker_order_id, client_order_id, Amend::Cancel);
    }

    pub(super) fn modify(&mut self, broker_order_id: BrokerOrderId, client_order_id: Option<ClientOrderId>, quantity: Quantity, order_type: OrderType) {
        self.amend(broker_order_id, client_order_id, Amend::Replace(quantity, order_type));
    }

    /// OrderCancelRequest, or OrderCancelReplaceRequest with the order's new terms, under a
    /// new ClOrdID naming the order by its latest one; refused as the broker would when the
    /// order is unknown, final, already being cancelled or replaced, or the session is down.
    fn amend(&mut self, broker_order_id: BrokerOrderId, client_order_id: Option<ClientOrderId>, what: Amend) {
        let refuse = |w: &Self, reason: String| {
            let (name, kind) = match what {
                Amend::Cancel => ("cancel", OrderEventKind::CancelRejected { reason }),
                Amend::Replace(..) => ("modify", OrderEventKind::ModifyRejected { reason }),
            };
            w.emit(AdapterEvent::Order(OrderEvent {
                event_id: format!("{name}-refused-{}", UnixNanos::now().0),
                broker_order_id: broker_order_id.clone(),
                client_order_id: client_order_id.clone(),
                ts_event: UnixNanos::now(),
                kind,
                raw: None,
            }));
        };
        let Some(order) = self.book.by_broker_id(&broker_order_id) else {
            return refuse(self, format!("order {broker_order_id} is unknown to this FIX session"));
        };
        if !order.is_open() {
            return refuse(self, format!("order {broker_order_id} is {}", order.status));
        }
        if self.book.pending(&order.root) {
            return refuse(self, format!("a cancel or replace of order {broker_order_id} is already pending"));
        }
        if !self.session.is_active() {
            return refuse(self, format!("not connected: the FIX session {} is not logged on", self.describe()));
        }
        let mut order = order.clone();
        let cl_ord_id = self.book.next_cl_ord_id();
        let now = utc_timestamp(Utc::now());
        let (msg_type, body) = match what {
            Amend::Cancel => (msg::ORDER_CANCEL_REQUEST, mapping::cancel_request(&cl_ord_id, &order.current, order.order_id.as_deref(), &order.terms(), &now)),
            Amend::Replace(quantity, order_type) => {
                order.request.quantity = quantity;
                order.request.order_type = order_type;
                (msg::ORDER_CANCEL_REPLACE_REQUEST, mapping::replace_request(&cl_ord_id, &order.current, order.order_id.as_deref(), &order.terms(), &now))
            }
        };
        if let Err(e) = self.send_order_message(msg_type, &body) {
            refuse(self, e);
        }
    }
}

/// What a request changes of a working order.
#[derive(Clone, Copy, Debug)]
enum Amend {
    Cancel,
    Replace(Quantity, OrderType),
}

/// One store record into the book.
pub(super) fn replay(book: &mut Book, record: Record) -> Result<(), String> {
    match record {
        Record::Own(json) => {
            let placed: Placed = serde_json::from_slice(&json).map_err(|e| format!("FIX store: an order record does not read: {e}"))?;
            book.placed(placed)
        }
        Record::Out(seq, bytes) => {
            if let Ok(m) = Message::parse(&bytes) {
                if !msg::is_admin(m.msg_type()) {
                    book.sent(seq, &m);
                }
            }
            Ok(())
        }
        Record::In(seq, Some(bytes)) => {
            if let Ok(m) = Message::parse(&bytes) {
                book.received(seq, &m);
            }
            Ok(())
        }
        Record::In(_, None) | Record::Reset(..) | Record::Expect(_) => Ok(()),
    }
}
