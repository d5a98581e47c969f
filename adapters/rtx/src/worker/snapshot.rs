//! Snapshots on the worker: every ORDERS row and every POSITION row, requested together;
//! each order's rows (in RTGW's order) become its state and executions, and the answer goes
//! back once both are in. A snapshot reconciles the gateway after a (re)connection.

use super::{Purpose, Worker};
use crate::mapping;
use crate::proto::command::Selector;
use crate::proto::line::Row;
use crate::proto::row;
use crate::session::cxn::Verb;
use txtrader_plugin_api::adapter::LogLevel;
use txtrader_plugin_api::model::{BrokerOrderId, ClientOrderId, UnixNanos};
use txtrader_plugin_api::wire::{BrokerSnapshot, OrderEventKind, OrderSnapshot, ReplyBody, RequestId};

/// A snapshot being gathered.
#[derive(Debug, Default)]
pub(super) struct Gathering {
    pub(super) orders: Option<Vec<Row>>,
    pub(super) positions: Option<Vec<Row>>,
}

impl Worker {
    pub(super) fn snapshot(&mut self, id: RequestId) {
        self.gathering.insert(id, Gathering::default());
        self.open("ACCOUNT_GATEWAY", "ORDER", Selector::all("ORDERS", vec![]), Verb::Request, Purpose::SnapshotOrders(id));
        self.open("ACCOUNT_GATEWAY", "ORDER", Selector::all("POSITION", vec![]), Verb::Request, Purpose::SnapshotPositions(id));
    }

    pub(super) fn maybe_snapshot_done(&mut self, id: RequestId) {
        let ready = self.gathering.get(&id).is_some_and(|g| g.orders.is_some() && g.positions.is_some());
        if !ready {
            return;
        }
        let Some(g) = self.gathering.remove(&id) else { return };
        let mut snapshot = BrokerSnapshot { accounts: self.accounts.clone().unwrap_or_default(), ..BrokerSnapshot::default() };
        for r in g.positions.unwrap_or_default() {
            match mapping::position(&r) {
                Ok(p) => snapshot.positions.push(p),
                Err(e) => self.host.log(LogLevel::Warn, &e.to_string()),
            }
        }
        // each order's rows, in the order RTGW listed them
        let mut by_order: indexmap::IndexMap<BrokerOrderId, Vec<Row>> = indexmap::IndexMap::new();
        for r in g.orders.unwrap_or_default() {
            if let Some(Ok(p)) = row::text(&r, "ORIGINAL_ORDER_ID").or_else(|| row::text(&r, "ORDER_ID")).map(BrokerOrderId::new) {
                by_order.entry(p).or_default().push(r);
            }
        }
        for (permid, rows) in by_order {
            match self.order_snapshot(&permid, &rows) {
                Ok((order, executions)) => {
                    snapshot.orders.push(order);
                    snapshot.executions.extend(executions);
                }
                Err(e) => self.host.log(LogLevel::Warn, &format!("order {permid} left out of the snapshot: {e}")),
            }
        }
        self.host.reply(id, ReplyBody::Snapshot(snapshot));
    }

    pub(super) fn order_snapshot(&mut self, permid: &BrokerOrderId, rows: &[Row]) -> Result<(OrderSnapshot, Vec<txtrader_plugin_api::model::Execution>), mapping::RowError> {
        let own = rows.iter().find(|r| row::text(r, "ORDER_ID").as_deref() == Some(permid.as_str())).unwrap_or(&rows[0]);
        let known = self.orders.entry(permid.clone()).or_default();
        if let Some(c) = rows.iter().find_map(|r| row::text(r, "CLIENT_ORDER_ID")).and_then(|c| ClientOrderId::new(c).ok()) {
            known.client.get_or_insert(c);
        }
        known.staged = known.staged || row::text(own, "TYPE").is_some_and(|t| t.starts_with("UserSubmitStaged"));
        let (client, staged) = (known.client.clone(), known.staged);
        let request = mapping::request_of(own, permid, client.clone())?;
        let mut status = txtrader_plugin_api::model::OrderStatus::Submitted;
        let (mut filled, mut value, mut reason, mut executions) = (rust_decimal::Decimal::ZERO, rust_decimal::Decimal::ZERO, None, Vec::new());
        let now = UnixNanos::now();
        for r in rows {
            let o = mapping::order_row(r, staged)?;
            use txtrader_plugin_api::model::OrderTrigger as T;
            let trigger = match &o.kind {
                Some(OrderEventKind::Acknowledged) => Some(T::Acknowledge),
                Some(OrderEventKind::Staged) => Some(T::Stage),
                Some(OrderEventKind::Accepted) => Some(T::Accept),
                Some(OrderEventKind::Filled(f)) => {
                    filled += f.quantity.as_decimal();
                    value += f.quantity.as_decimal() * f.price.as_decimal();
                    executions.push(mapping::execution(r, client.clone(), self.timezone, now)?);
                    Some(if filled >= request.quantity.as_decimal() { T::Fill } else { T::PartialFill })
                }
                Some(OrderEventKind::Cancelled { reason: why }) => {
                    reason.clone_from(why);
                    Some(T::Cancel)
                }
                Some(OrderEventKind::Rejected { reason: why }) => {
                    reason = Some(why.clone());
                    Some(T::Reject)
                }
                Some(OrderEventKind::Expired) => Some(T::Expire),
                Some(OrderEventKind::Triggered) => Some(T::Trigger),
                Some(OrderEventKind::Modified { .. }) => Some(T::Replace),
                Some(OrderEventKind::CancelRejected { .. } | OrderEventKind::ModifyRejected { .. } | OrderEventKind::Unknown) | None => None,
            };
            if let Some(t) = trigger {
                status = status.transition(t).unwrap_or(status);
            }
        }
        let avg_price = (!filled.is_zero()).then(|| txtrader_plugin_api::model::Price::new((value / filled).round_dp(6)));
        let filled_quantity = txtrader_plugin_api::model::Quantity::new(filled).unwrap_or(txtrader_plugin_api::model::Quantity::ZERO);
        Ok((OrderSnapshot { request, broker_order_id: permid.clone(), status, filled_quantity, avg_price, reason, ts_event: now }, executions))
    }
}
