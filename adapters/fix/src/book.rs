//! The orders this session has placed, as the adapter knows them: each order's ClOrdID chain
//! (a cancel's or replace's ClOrdID names the same order), the acceptor's OrderID, its status
//! and fills. What the counterparty reports becomes the gateway's order events here, each
//! ExecID applied once however often it is resent.
//!
//! The book is rebuilt at start-up by replaying the store: the adapter's `Placed` records, the
//! order messages it sent and the application messages it received, in their order. The same
//! code runs live and in replay; replay discards the events.

use crate::mapping::{self, Dialect, ExecKind, OrderTerms, Report};
use crate::proto::tags::{self, msg};
use crate::proto::Message;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use txtrader_plugin_api::model::{
    AccountId, BrokerOrderId, Execution, OrderType, ExecutionId, OrderRequest, OrderStatus, OrderTrigger, Position, Price, Quantity,
    SignedQuantity, Symbol, UnixNanos,
};
use txtrader_plugin_api::wire::{Fill, OrderEvent, OrderEventKind, OrderSnapshot};

/// The adapter's own store record: an order about to be sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Placed {
    /// The gateway's request.
    pub request: OrderRequest,
    /// Its first ClOrdID, which names it for good.
    pub root: String,
    /// When.
    pub at: UnixNanos,
}

/// A cancel or replace in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pending {
    cl_ord_id: String,
    msg_type: String,
    /// A replace's new terms.
    terms: Option<(Quantity, OrderType)>,
}

/// One order.
#[derive(Clone, Debug)]
pub struct Order {
    /// What the gateway asked for.
    pub request: OrderRequest,
    /// Its id towards the gateway.
    pub broker_id: BrokerOrderId,
    /// Its first ClOrdID.
    pub root: String,
    /// The ClOrdID it is known by now.
    pub current: String,
    /// The acceptor's OrderID (37).
    pub order_id: Option<String>,
    /// Its status as the reports tell it.
    pub status: OrderStatus,
    /// Filled so far.
    pub filled: Quantity,
    notional: Decimal,
    /// Why it was rejected or cancelled.
    pub reason: Option<String>,
    /// Last change.
    pub ts: UnixNanos,
    pending: Option<Pending>,
    seen: HashSet<String>,
    executions: Vec<Execution>,
}

impl Order {
    /// The fields every order message repeats.
    pub fn terms(&self) -> OrderTerms<'_> {
        OrderTerms {
            account: Some(self.request.account.as_str()),
            symbol: self.request.symbol.as_str(),
            side: self.request.side,
            quantity: self.request.quantity,
            order_type: self.request.order_type,
            time_in_force: self.request.time_in_force,
        }
    }

    /// Still working (or not answered yet).
    pub fn is_open(&self) -> bool {
        !self.status.is_terminal()
    }

    fn avg_price(&self) -> Option<Price> {
        let filled = self.filled.as_decimal();
        (!filled.is_zero()).then(|| Price::new((self.notional / filled).round_dp(8).normalize()))
    }
}

/// What receiving a message did: events for the gateway and things to log.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Order events, in order.
    pub events: Vec<OrderEvent>,
    /// Warnings.
    pub warnings: Vec<String>,
}

/// Every order of the session.
#[derive(Debug)]
pub struct Book {
    instance: String,
    tag: String,
    dialect: Dialect,
    next_id: u64,
    orders: HashMap<String, Order>,
    by_cl_ord_id: HashMap<String, String>,
    by_seq: HashMap<u64, (String, String)>,
}

impl Book {
    /// An empty book; `created` (the store's start, Unix milliseconds) makes its ClOrdIDs unique
    /// to the store.
    pub fn new(instance: &str, created: i64, dialect: Dialect) -> Self {
        Self {
            instance: instance.to_owned(),
            tag: base36(u64::try_from(created).unwrap_or_default()),
            dialect,
            next_id: 1,
            orders: HashMap::new(),
            by_cl_ord_id: HashMap::new(),
            by_seq: HashMap::new(),
        }
    }

    /// A fresh ClOrdID.
    pub fn next_cl_ord_id(&mut self) -> String {
        let id = format!("{}-{}", self.tag, self.next_id);
        self.next_id += 1;
        id
    }

    /// The broker order id an order of this root has.
    pub fn broker_id(&self, root: &str) -> Result<BrokerOrderId, String> {
        BrokerOrderId::new(format!("{}:{root}", self.instance)).map_err(|e| e.to_string())
    }

    /// An order about to be sent.
    pub fn placed(&mut self, p: Placed) -> Result<(), String> {
        let broker_id = self.broker_id(&p.root)?;
        self.note_id(&p.root);
        self.by_cl_ord_id.insert(p.root.clone(), p.root.clone());
        let order = Order {
            request: p.request,
            broker_id,
            current: p.root.clone(),
            root: p.root.clone(),
            order_id: None,
            status: OrderStatus::Initialized,
            filled: Quantity::ZERO,
            notional: Decimal::ZERO,
            reason: None,
            ts: p.at,
            pending: None,
            seen: HashSet::new(),
            executions: Vec::new(),
        };
        self.orders.insert(p.root, order);
        Ok(())
    }

    /// The order of a root ClOrdID.
    pub fn order(&self, root: &str) -> Option<&Order> {
        self.orders.get(root)
    }

    /// The order a gateway id names.
    pub fn by_broker_id(&self, id: &BrokerOrderId) -> Option<&Order> {
        let root = id.as_str().strip_prefix(&self.instance)?.strip_prefix(':')?;
        self.order(root)
    }

    /// Every order still open.
    pub fn open_orders(&self) -> impl Iterator<Item = &Order> {
        self.orders.values().filter(|o| o.is_open())
    }

    /// Whether a cancel or replace of the order is in flight.
    pub fn pending(&self, root: &str) -> bool {
        self.orders.get(root).is_some_and(|o| o.pending.is_some())
    }

    /// An order message of ours went out as number `seq`.
    pub fn sent(&mut self, seq: u64, m: &Message) {
        let t = m.msg_type().to_owned();
        let Some(id) = m.text(tags::CL_ORD_ID).map(str::to_owned) else { return };
        self.note_id(&id);
        let root = match t.as_str() {
            msg::NEW_ORDER_SINGLE => Some(id.clone()),
            _ => m.text(tags::ORIG_CL_ORD_ID).or(Some(id.as_str())).and_then(|orig| self.by_cl_ord_id.get(orig)).cloned(),
        };
        let Some(root) = root else { return };
        self.by_seq.insert(seq, (root.clone(), t.clone()));
        self.by_cl_ord_id.insert(id.clone(), root.clone());
        let (trigger, terms) = match t.as_str() {
            msg::ORDER_CANCEL_REQUEST => (OrderTrigger::RequestCancel, None),
            msg::ORDER_CANCEL_REPLACE_REQUEST => (OrderTrigger::RequestReplace, mapping::order_qty_of(m).zip(mapping::order_type_of(m))),
            _ => return,
        };
        if let Some(o) = self.orders.get_mut(&root) {
            o.pending = Some(Pending { cl_ord_id: id, msg_type: t, terms });
            if let Ok(next) = o.status.transition(trigger) {
                o.status = next;
            }
        }
    }

    /// An application message (or session Reject) received as number `seq`.
    pub fn received(&mut self, seq: u64, m: &Message) -> Outcome {
        let mut out = Outcome::default();
        match m.msg_type() {
            msg::EXECUTION_REPORT => match mapping::execution_report(m, self.dialect) {
                Ok(r) => self.report(&r, &mut out),
                Err(e) => out.warnings.push(format!("{e}: {m}")),
            },
            msg::ORDER_CANCEL_REJECT => self.cancel_reject(seq, m, &mut out),
            msg::BUSINESS_MESSAGE_REJECT | msg::REJECT => self.message_reject(seq, m, &mut out),
            other => out.warnings.push(format!("MsgType {other} is not handled: {m}")),
        }
        out
    }

    fn root_of(&self, r: &Report) -> Option<String> {
        let by = |id: &Option<String>| id.as_ref().and_then(|i| self.by_cl_ord_id.get(i)).cloned();
        by(&r.cl_ord_id).or_else(|| by(&r.orig_cl_ord_id)).or_else(|| {
            let oid = r.order_id.as_ref()?;
            self.orders.values().find(|o| o.order_id.as_ref() == Some(oid)).map(|o| o.root.clone())
        })
    }

    fn report(&mut self, r: &Report, out: &mut Outcome) {
        let Some(root) = self.root_of(r) else {
            out.warnings.push(format!("an ExecutionReport for an order this session did not place: ClOrdID {:?}, OrderID {:?}", r.cl_ord_id, r.order_id));
            return;
        };
        let instance = self.instance.clone();
        let Some(o) = self.orders.get_mut(&root) else { return };
        if let Some(oid) = &r.order_id {
            o.order_id.get_or_insert_with(|| oid.clone());
        }
        let event_id = format!("{root}:{}", r.exec_id);
        let now = UnixNanos::now();
        let kind = match &r.kind {
            ExecKind::PendingNew => Some(OrderEventKind::Acknowledged),
            ExecKind::New => Some(OrderEventKind::Accepted),
            ExecKind::Trade => fill(o, r, &instance, out),
            ExecKind::Canceled => {
                o.pending = None;
                Some(OrderEventKind::Cancelled { reason: r.text.clone() })
            }
            ExecKind::Replaced => {
                // the order is known by the replace's ClOrdID from now on, on its new terms:
                // those it asked for, with what the report says over them
                if let Some(id) = &r.cl_ord_id {
                    o.current.clone_from(id);
                }
                let asked = o.pending.take().filter(|p| p.msg_type == msg::ORDER_CANCEL_REPLACE_REQUEST).and_then(|p| p.terms);
                let (quantity, order_type) = asked.unwrap_or((o.request.quantity, o.request.order_type));
                let quantity = r.order_qty.unwrap_or(quantity);
                let order_type = match (order_type, r.price) {
                    (OrderType::Limit { .. }, Some(limit_price)) => OrderType::Limit { limit_price },
                    (OrderType::StopLimit { stop_price, .. }, Some(limit_price)) => OrderType::StopLimit { stop_price, limit_price },
                    (other, _) => other,
                };
                o.request.quantity = quantity;
                o.request.order_type = order_type;
                Some(OrderEventKind::Modified { quantity, order_type })
            }
            ExecKind::Rejected => Some(OrderEventKind::Rejected { reason: r.text.clone().unwrap_or_else(|| "rejected".into()) }),
            ExecKind::Expired => Some(OrderEventKind::Expired),
            ExecKind::Status => status_reply(o, r, &instance, out),
            ExecKind::PendingCancel | ExecKind::PendingReplace => None,
            ExecKind::Other(t) => {
                out.warnings.push(format!("ExecutionReport with ExecType {t} for order {root}: not applied"));
                None
            }
        };
        if let Some(kind) = kind {
            push(o, event_id, kind, now, out);
        }
    }

    fn cancel_reject(&mut self, seq: u64, m: &Message, out: &mut Outcome) {
        let by = |tag| m.text(tag).and_then(|i| self.by_cl_ord_id.get(i)).cloned();
        let Some(root) = by(tags::ORIG_CL_ORD_ID).or_else(|| by(tags::CL_ORD_ID)) else {
            out.warnings.push(format!("an OrderCancelReject for an order this session did not place: {m}"));
            return;
        };
        let Some(o) = self.orders.get_mut(&root) else { return };
        o.pending = None;
        let reason = m.text(tags::TEXT).map(str::to_owned).unwrap_or_else(|| mapping::cxl_rej_reason(m.get(tags::CXL_REJ_REASON).unwrap_or("")).to_owned());
        let kind = match m.get(tags::CXL_REJ_RESPONSE_TO) {
            Some("2") => OrderEventKind::ModifyRejected { reason },
            _ => OrderEventKind::CancelRejected { reason },
        };
        push(o, format!("{root}:cxlrej:{seq}"), kind, UnixNanos::now(), out);
    }

    /// A BusinessMessageReject or session Reject of one of our messages: the message never
    /// reached the book.
    fn message_reject(&mut self, seq: u64, m: &Message, out: &mut Outcome) {
        let business = m.msg_type() == msg::BUSINESS_MESSAGE_REJECT;
        let reason = match (business, m.text(tags::TEXT)) {
            (_, Some(text)) => text.to_owned(),
            (true, None) => mapping::business_reject_reason(m.get(tags::BUSINESS_REJECT_REASON).unwrap_or("")).to_owned(),
            (false, None) => format!("session reject (reason {})", m.get(tags::SESSION_REJECT_REASON).unwrap_or("?")),
        };
        let reason = if business { reason } else { format!("{reason} (tag {})", m.get(tags::REF_TAG_ID).unwrap_or("?")) };
        let target = m
            .number(tags::REF_SEQ_NUM)
            .and_then(|s| self.by_seq.get(&s).cloned())
            .or_else(|| m.text(tags::BUSINESS_REJECT_REF_ID).and_then(|id| self.by_cl_ord_id.get(id)).map(|root| (root.clone(), m.get(tags::REF_MSG_TYPE).unwrap_or("").to_owned())));
        let Some((root, msg_type)) = target else {
            out.warnings.push(format!("the counterparty rejected a message that is not an order's: {m}"));
            return;
        };
        let Some(o) = self.orders.get_mut(&root) else { return };
        let kind = match msg_type.as_str() {
            msg::NEW_ORDER_SINGLE => OrderEventKind::Rejected { reason },
            msg::ORDER_CANCEL_REQUEST => {
                o.pending = None;
                OrderEventKind::CancelRejected { reason }
            }
            msg::ORDER_CANCEL_REPLACE_REQUEST => {
                o.pending = None;
                OrderEventKind::ModifyRejected { reason }
            }
            _ => {
                out.warnings.push(format!("the counterparty refused MsgType {msg_type} for order {root}: {reason}"));
                return;
            }
        };
        push(o, format!("{root}:rej:{seq}"), kind, UnixNanos::now(), out);
    }

    /// An order recorded as placed that could not be sent: rejected.
    pub fn refused(&mut self, root: &str, reason: String) -> Outcome {
        let mut out = Outcome::default();
        if let Some(o) = self.orders.get_mut(root) {
            push(o, format!("{root}:refused"), OrderEventKind::Rejected { reason }, UnixNanos::now(), &mut out);
        }
        out
    }

    /// Today's orders, as the gateway's snapshot wants them.
    pub fn snapshot_orders(&self) -> Vec<OrderSnapshot> {
        self.orders
            .values()
            .map(|o| OrderSnapshot {
                request: o.request.clone(),
                broker_order_id: o.broker_id.clone(),
                status: o.status,
                filled_quantity: o.filled,
                avg_price: o.avg_price(),
                reason: o.reason.clone(),
                ts_event: o.ts,
            })
            .collect()
    }

    /// Today's executions.
    pub fn executions(&self) -> Vec<Execution> {
        self.orders.values().flat_map(|o| o.executions.iter().cloned()).collect()
    }

    /// The positions today's executions make, from flat.
    pub fn positions(&self) -> Vec<Position> {
        let mut net: HashMap<(AccountId, Symbol), SignedQuantity> = HashMap::new();
        for e in self.orders.values().flat_map(|o| &o.executions) {
            let q = net.entry((e.account.clone(), e.symbol.clone())).or_default();
            *q = q.apply(e.side, e.quantity);
        }
        net.into_iter().map(|((account, symbol), quantity)| Position { account, symbol, quantity, avg_price: None }).collect()
    }

    fn note_id(&mut self, id: &str) {
        if let Some(n) = id.strip_prefix(&self.tag).and_then(|r| r.strip_prefix('-')).and_then(|n| n.parse::<u64>().ok()) {
            self.next_id = self.next_id.max(n + 1);
        }
    }
}

/// Applies one event to the adapter's view of the order (as the gateway will) and queues it.
fn push(o: &mut Order, event_id: String, kind: OrderEventKind, now: UnixNanos, out: &mut Outcome) {
    let trigger = match &kind {
        OrderEventKind::Acknowledged => Some(OrderTrigger::Acknowledge),
        OrderEventKind::Accepted => Some(OrderTrigger::Accept),
        OrderEventKind::Filled(_) => Some(if o.filled >= o.request.quantity { OrderTrigger::Fill } else { OrderTrigger::PartialFill }),
        OrderEventKind::CancelRejected { .. } => Some(OrderTrigger::RejectCancel),
        OrderEventKind::Cancelled { reason } => {
            o.reason.clone_from(reason);
            Some(OrderTrigger::Cancel)
        }
        OrderEventKind::Rejected { reason } => {
            o.reason = Some(reason.clone());
            Some(OrderTrigger::Reject)
        }
        OrderEventKind::Expired => Some(OrderTrigger::Expire),
        OrderEventKind::Modified { .. } => Some(OrderTrigger::Replace),
        OrderEventKind::ModifyRejected { .. } => Some(OrderTrigger::RejectReplace),
        OrderEventKind::Staged | OrderEventKind::Triggered | OrderEventKind::Unknown => None,
    };
    if let Some(t) = trigger {
        match o.status.transition(t) {
            Ok(next) => o.status = next,
            Err(e) => out.warnings.push(format!("order {}: {e}", o.root)),
        }
    }
    o.ts = now;
    out.events.push(OrderEvent {
        event_id,
        broker_order_id: o.broker_id.clone(),
        client_order_id: Some(o.request.client_order_id.clone()),
        ts_event: now,
        kind,
        raw: None,
    });
}

/// A fill, once per ExecID.
fn fill(o: &mut Order, r: &Report, instance: &str, out: &mut Outcome) -> Option<OrderEventKind> {
    let (Some(qty), Some(px)) = (r.last_qty, r.last_px) else {
        out.warnings.push(format!("a fill of order {} without LastQty/LastPx (ExecID {})", o.root, r.exec_id));
        return None;
    };
    book_fill(o, &r.exec_id, qty, px, instance, out)
}

fn book_fill(o: &mut Order, exec_id: &str, qty: Quantity, px: Price, instance: &str, out: &mut Outcome) -> Option<OrderEventKind> {
    if qty.is_zero() || !o.seen.insert(exec_id.to_owned()) {
        return None;
    }
    let id = match ExecutionId::new(format!("{instance}:{}:{exec_id}", o.root)) {
        Ok(id) => id,
        Err(e) => {
            out.warnings.push(format!("fill of order {}: {e}", o.root));
            return None;
        }
    };
    o.filled = o.filled.checked_add(qty).unwrap_or(o.filled);
    o.notional += qty.as_decimal() * px.as_decimal();
    let now = UnixNanos::now();
    o.executions.push(Execution {
        exec_id: id.clone(),
        client_order_id: Some(o.request.client_order_id.clone()),
        broker_order_id: o.broker_id.clone(),
        account: o.request.account.clone(),
        symbol: o.request.symbol.clone(),
        side: o.request.side,
        quantity: qty,
        price: px,
        cum_quantity: o.filled,
        leaves_quantity: o.request.quantity.checked_sub(o.filled).unwrap_or(Quantity::ZERO),
        avg_price: o.avg_price().unwrap_or(px),
        venue_fill_id: Some(exec_id.to_owned()),
        ts_event: now,
        commission: None,
    });
    Some(OrderEventKind::Filled(Fill { exec_id: id, quantity: qty, price: px, venue_fill_id: Some(exec_id.to_owned()) }))
}

/// An answer to OrderStatusRequest: what it shows that the book does not know yet.
fn status_reply(o: &mut Order, r: &Report, instance: &str, out: &mut Outcome) -> Option<OrderEventKind> {
    // fills the session missed: one execution for the difference, at the price it implies
    if let (Some(cum), Some(avg)) = (r.cum_qty, r.avg_px) {
        if cum > o.filled {
            let missing = cum.checked_sub(o.filled).unwrap_or(Quantity::ZERO);
            let px = (cum.as_decimal() * avg.as_decimal() - o.notional) / missing.as_decimal();
            let kind = book_fill(o, &format!("status-{cum}"), missing, Price::new(px.round_dp(8).normalize()), instance, out);
            if kind.is_some() {
                out.warnings.push(format!("order {}: the status reply shows {missing} filled that no report gave", o.root));
            }
            return kind;
        }
    }
    match (r.ord_status.as_str(), o.status.is_terminal()) {
        ("4", false) => Some(OrderEventKind::Cancelled { reason: r.text.clone() }),
        ("8", false) => Some(OrderEventKind::Rejected { reason: r.text.clone().unwrap_or_else(|| "rejected".into()) }),
        ("C", false) => Some(OrderEventKind::Expired),
        ("0" | "1", false) if o.status == OrderStatus::Initialized => Some(OrderEventKind::Accepted),
        _ => None,
    }
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests;
