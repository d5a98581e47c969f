//! Orders on the worker: new orders and cancels as pokes, and the ORDERS rows RTGW answers
//! with, read by [`crate::mapping::order_row`]. An order is known by its permid from its first
//! row, which carries the gateway's `CLIENT_ORDER_ID`; a row seen before is not reported again.
//! Each event carries its row, which clients of the original read.

use super::{Purpose, Worker};
use crate::mapping;
use crate::proto::command::Selector;
use crate::proto::line::Row;
use crate::proto::row;
use crate::session::cxn::Verb;
use std::collections::HashSet;
use txtrader_plugin_api::adapter::LogLevel;
use txtrader_plugin_api::model::{BrokerOrderId, ClientOrderId, OrderRequest, UnixNanos};
use txtrader_plugin_api::wire::{AdapterEvent, AlertLevel, OrderEvent, OrderEventKind};

/// What the worker knows of an order.
#[derive(Debug, Default)]
pub(super) struct Known {
    pub(super) client: Option<ClientOrderId>,
    pub(super) staged: bool,
    pub(super) seen: HashSet<String>,
}

impl Worker {
    pub(super) fn order_event(&self, broker: Option<BrokerOrderId>, client: Option<ClientOrderId>, event_id: &str, kind: OrderEventKind) {
        let broker_order_id = match broker.or_else(|| client.as_ref().and_then(|c| BrokerOrderId::new(format!("unsent-{c}")).ok())) {
            Some(b) => b,
            None => return,
        };
        self.emit(AdapterEvent::Order(OrderEvent { event_id: event_id.to_owned(), broker_order_id, client_order_id: client, ts_event: UnixNanos::now(), kind, raw: None }));
    }

    pub(super) fn order_update(&mut self, r: &Row) {
        let staged_first = row::text(r, "TYPE").is_some_and(|t| t == "UserSubmitStagedOrder");
        let permid = match row::text(r, "ORIGINAL_ORDER_ID").or_else(|| row::text(r, "ORDER_ID")).map(BrokerOrderId::new) {
            Some(Ok(p)) => p,
            Some(Err(_)) | None => {
                self.host.log(LogLevel::Warn, &format!("ORDERS row without an order id: {}", serde_json::Value::Object(r.clone())));
                return;
            }
        };
        let staged = self.orders.get(&permid).map_or(staged_first, |k| k.staged);
        let o = match mapping::order_row(r, staged) {
            Ok(o) => o,
            Err(e) => {
                let message = e.to_string();
                self.host.log(LogLevel::Warn, &message);
                self.emit(AdapterEvent::Alert { level: AlertLevel::Warning, code: None, message });
                return;
            }
        };
        let known = self.orders.entry(o.permid.clone()).or_insert_with(|| Known { staged: staged_first, ..Known::default() });
        if let Some(c) = &o.client_order_id {
            known.client.get_or_insert_with(|| c.clone());
            self.submitted.remove(c);
        }
        if !known.seen.insert(o.event_id.clone()) {
            return; // the same row again
        }
        let client = known.client.clone();
        if let Some(kind) = o.kind {
            // the row itself travels with the event: clients of the original read its fields
            let raw = Some(r.clone());
            self.emit(AdapterEvent::Order(OrderEvent { event_id: o.event_id, broker_order_id: o.permid, client_order_id: client, ts_event: UnixNanos::now(), kind, raw }));
        }
    }

    pub(super) fn submit(&mut self, o: OrderRequest) {
        let client = o.client_order_id.clone();
        let fields = match order_fields(&o) {
            Ok(f) => f,
            Err(reason) => return self.order_event(None, Some(client), "rejected", OrderEventKind::Rejected { reason }),
        };
        self.submitted.insert(client.clone(), o.staged_tag.is_some());
        self.open("ACCOUNT_GATEWAY", "ORDER", Selector::all("ORDERS", vec![]), Verb::Poke(fields), Purpose::Submit(client));
    }

    pub(super) fn cancel(&mut self, broker: BrokerOrderId, client: Option<ClientOrderId>) {
        let fields = vec![("TYPE".to_owned(), "UserSubmitCancel".to_owned()), ("REFERS_TO_ID".to_owned(), broker.to_string())];
        self.open("ACCOUNT_GATEWAY", "ORDER", Selector::all("ORDERS", vec![]), Verb::Poke(fields), Purpose::Cancel(broker, client));
    }
}

/// A new order's poke fields: RealTick's order vocabulary
/// ([`txtrader_plugin_api::realtick::order_fields`]) as text, values as the original writes
/// them into a poke.
fn order_fields(o: &OrderRequest) -> Result<Vec<(String, String)>, String> {
    use txtrader_plugin_api::realtick::{self, py_str, FieldValue};
    let account = mapping::account_parts(&o.account).ok_or_else(|| format!("account {} is not BANK.BRANCH.CUSTOMER.DEPOSIT", o.account))?;
    Ok(realtick::order_fields(o, account)
        .into_iter()
        .map(|(key, value)| {
            let text = match value {
                FieldValue::Text(t) => t.into_owned(),
                FieldValue::Int(i) => i.to_string(),
                FieldValue::Price(p) => p.as_decimal().normalize().to_string(),
                FieldValue::Quantity(q) => q.normalize().to_string(),
                FieldValue::Param(v) => py_str(v),
            };
            (key.into_owned(), text)
        })
        .collect())
}
