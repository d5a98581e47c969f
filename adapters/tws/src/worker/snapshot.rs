//! Snapshots for reconciliation: every client's open orders (orders placed elsewhere show up
//! too), today's executions and the positions, gathered from TWS and answered to the host as one
//! `BrokerSnapshot`.

use super::orders::{Key, Tracked};
use super::Worker;
use crate::mapping;
use crate::proto::decode::{ExecDetails, OpenOrder, OrderStatus as IbStatus};
use crate::proto::encode::ExecutionFilter;
use indexmap::IndexMap;
use rust_decimal::Decimal;
use std::collections::HashMap;
use txtrader_plugin_api::model::{Position, Price, Quantity, UnixNanos};
use txtrader_plugin_api::wire::{BrokerSnapshot, OrderSnapshot, ReplyBody, RequestId};

/// A snapshot being gathered.
#[derive(Debug, Default)]
pub(super) struct Gathering {
    pub(super) requests: Vec<RequestId>,
    pub(super) exec_req: i64,
    pub(super) open_done: bool,
    pub(super) exec_done: bool,
    pub(super) positions_done: bool,
    pub(super) open: IndexMap<i64, OpenOrder>,
    pub(super) statuses: HashMap<i64, IbStatus>,
    pub(super) executions: Vec<ExecDetails>,
    pub(super) commissions: HashMap<String, txtrader_plugin_api::model::Commission>,
    pub(super) positions: Vec<Position>,
}

impl Worker {
    pub(super) fn snapshot(&mut self, id: RequestId) {
        if let Some(g) = self.gathering.as_mut() {
            g.requests.push(id);
            return;
        }
        let exec_req = self.req_id();
        let Some(enc) = self.encoder() else { return };
        self.gathering = Some(Gathering { requests: vec![id], exec_req, ..Gathering::default() });
        // every client's open orders (orders placed elsewhere show up too), today's
        // executions, positions
        self.send(enc.req_all_open_orders());
        self.send(enc.req_executions(exec_req, &ExecutionFilter::default()));
        self.send(enc.req_positions());
    }

    pub(super) fn maybe_snapshot_done(&mut self) {
        if !self.gathering.as_ref().is_some_and(|g| g.open_done && g.exec_done && g.positions_done) {
            return;
        }
        let Some(g) = self.gathering.take() else { return };
        let accounts = self.live.as_ref().and_then(|l| l.accounts.clone()).unwrap_or_default();
        let mut snapshot = BrokerSnapshot { accounts, balances: Vec::new(), positions: g.positions, orders: Vec::new(), executions: Vec::new() };
        let mut filled_by_perm: HashMap<i64, Decimal> = HashMap::new();
        for x in &g.executions {
            *filled_by_perm.entry(x.perm_id).or_default() += x.shares;
        }
        for (perm, o) in &g.open {
            let status = g.statuses.get(perm);
            let ours = matches!(self.key_of(o.client_id, o.order.order_id, *perm), Some(Key::Ours(_)));
            let (Some(request), Some(broker)) = (mapping::request_of(&self.settings, o, ours), mapping::broker_id(*perm)) else { continue };
            if !ours {
                // placed elsewhere: its later updates are reported too
                self.foreign.entry(*perm).or_insert_with(|| Tracked {
                    client: request.client_order_id.clone(),
                    request: None,
                    broker: Some(broker.clone()),
                    accepted: true,
                    done: false,
                    last_error: None,
                    modifying: None,
                });
            }
            let filled = status.map_or_else(|| filled_by_perm.get(perm).copied().unwrap_or_default(), |s| s.filled);
            let ib_status = status.map_or(o.status.as_str(), |s| s.status.as_str());
            snapshot.orders.push(OrderSnapshot {
                request,
                broker_order_id: broker,
                status: mapping::status(ib_status, filled),
                filled_quantity: Quantity::new(filled).unwrap_or(Quantity::ZERO),
                avg_price: status.and_then(|s| s.avg_fill_price).filter(|p| *p > Decimal::ZERO).map(Price::new),
                reason: None,
                ts_event: UnixNanos::now(),
            });
        }
        let mut first_revision: HashMap<String, String> = HashMap::new();
        for x in &g.executions {
            // a correction of an execution reported before (or earlier in this list) is left out
            let prefix = mapping::exec_prefix(&x.exec_id);
            match self.exec_prefixes.get(prefix).or_else(|| first_revision.get(prefix)) {
                Some(first) if *first != x.exec_id => continue,
                Some(_) => {}
                None => {
                    first_revision.insert(prefix.to_owned(), x.exec_id.clone());
                }
            }
            let tracked = self.by_perm.get(&x.perm_id).and_then(|id| self.orders.get(id));
            let client = tracked.map(|t| t.client.clone());
            let total = tracked.and_then(|t| t.request.as_ref()).map(|r| r.quantity.as_decimal());
            if let Some(e) = mapping::execution(&self.settings, x, client, total, g.commissions.get(&x.exec_id).cloned()) {
                self.execs.insert(x.exec_id.clone());
                snapshot.executions.push(e);
            }
        }
        for r in g.requests {
            self.host.reply(r, ReplyBody::Snapshot(snapshot.clone()));
        }
    }
}
