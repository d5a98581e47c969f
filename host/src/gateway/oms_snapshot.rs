//! Broker snapshots merged into the books: what a snapshot would change ([`Oms::plan_snapshot`],
//! changing nothing, so the journal keeps only the difference), merging it, and cancelling the
//! open orders the broker no longer knows. A part of the books ([`super::Oms`]), in a file of
//! its own: reconciliation's rules live here.

use super::*;

/// What loading a broker snapshot changed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SnapshotOutcome {
    /// Orders first seen in the snapshot (origin: broker).
    pub new_orders: Vec<ClientOrderId>,
    /// Known orders the snapshot corrected.
    pub restated: Vec<ClientOrderId>,
    /// Executions first seen in the snapshot.
    pub new_executions: Vec<ExecutionId>,
    /// Open orders the broker acknowledged once but no longer knows, now cancelled.
    pub gone: Vec<ClientOrderId>,
}

/// What merging a broker snapshot would change (see [`Oms::plan_snapshot`]).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SnapshotPlan {
    /// The snapshot cut down to what differs from the books.
    pub changes: BrokerSnapshot,
    /// Open orders the broker acknowledged once but no longer knows.
    pub gone: Vec<ClientOrderId>,
    /// Orders with a cancel in flight that the broker still reports open: they stay pending
    /// cancel, and the cancel should be sent again (it may never have reached the broker).
    pub cancel_again: Vec<ClientOrderId>,
}

impl Oms {
    pub(super) fn known_order(&self, snap: &txtrader_plugin_api::wire::OrderSnapshot) -> Option<&ClientOrderId> {
        self.by_broker.get(&snap.broker_order_id).or_else(|| self.orders.get_key_value(&snap.request.client_order_id).map(|(k, _)| k))
    }

    /// What merging a broker snapshot would change, changing nothing: the snapshot cut down to
    /// what differs from the books (orders new or different, executions new; accounts and
    /// positions whole), so the journal keeps only that; with `reconcile`, the open orders of
    /// its accounts the broker acknowledged once but no longer lists: restated as filled (or
    /// ended, partly filled) when the snapshot has executions for them, as brokers that list
    /// open orders only report them; else gone (unknown to the broker). And the orders with a
    /// cancel in flight that the broker still reports open (the cancel is sent again).
    pub fn plan_snapshot(&self, snapshot: &BrokerSnapshot, reconcile: bool) -> SnapshotPlan {
        let mut plan = SnapshotPlan {
            changes: BrokerSnapshot {
                accounts: snapshot.accounts.clone(),
                balances: Vec::new(),
                positions: snapshot.positions.clone(),
                orders: Vec::new(),
                executions: snapshot
                    .executions
                    .iter()
                    .filter(|x| !self.executions.contains_key(&x.exec_id) && x.ts_event >= self.horizon)
                    .cloned()
                    .collect(),
            },
            gone: Vec::new(),
            cancel_again: Vec::new(),
        };
        for snap in &snapshot.orders {
            let differs = match self.known_order(snap).and_then(|id| self.orders.get(id)) {
                // closed before the archive horizon: archived, not new
                None => !(snap.status.is_terminal() && snap.ts_event < self.horizon),
                Some(o) => {
                    let status = o.status.restate(snap.status);
                    if matches!((o.status, status), (OrderStatus::PendingCancel { .. }, OrderStatus::PendingCancel { .. })) {
                        plan.cancel_again.push(o.request.client_order_id.clone());
                    }
                    o.broker_order_id.as_ref() != Some(&snap.broker_order_id) || o.status != status || o.filled != snap.filled_quantity
                }
            };
            if differs {
                plan.changes.orders.push(snap.clone());
            }
        }
        if reconcile {
            let known: HashSet<&BrokerOrderId> = snapshot.orders.iter().map(|o| &o.broker_order_id).collect();
            let unlisted = self
                .orders
                .values()
                .filter(|o| o.status.is_open() && snapshot.accounts.contains(&o.request.account))
                .filter_map(|o| Some((o, o.broker_order_id.as_ref().filter(|b| !known.contains(b))?)));
            for (o, broker) in unlisted {
                // A broker that lists open orders only (IB) no longer lists one that ended; its
                // executions tell whether it filled.
                let fills: Vec<&Execution> = snapshot.executions.iter().filter(|x| &x.broker_order_id == broker).collect();
                if fills.is_empty() {
                    plan.gone.push(o.request.client_order_id.clone());
                    continue;
                }
                let reported: Decimal = fills.iter().map(|x| x.quantity.as_decimal()).sum();
                let value: Decimal = fills.iter().map(|x| x.quantity.as_decimal() * x.price.as_decimal()).sum();
                let filled = reported.max(o.filled.as_decimal());
                let complete = filled >= o.request.quantity.as_decimal();
                plan.changes.orders.push(txtrader_plugin_api::wire::OrderSnapshot {
                    request: o.request.clone(),
                    broker_order_id: broker.clone(),
                    status: if complete { OrderStatus::Filled } else { OrderStatus::Cancelled },
                    filled_quantity: Quantity::new(filled).unwrap_or(o.filled),
                    avg_price: (!reported.is_zero()).then(|| Price::new(value / reported).round_dp(6)),
                    reason: (!complete).then(|| format!("no longer open at the broker, {filled} of {} filled", o.request.quantity)),
                    ts_event: fills.iter().map(|x| x.ts_event).max().unwrap_or(o.updated),
                });
            }
        }
        plan
    }

    /// Merges one broker's view: the positions of its accounts are the broker's; orders and
    /// executions the gateway did not know are added (origin: broker); known orders whose state
    /// differs are restated. Other brokers' accounts are untouched.
    pub(super) fn load_snapshot(&mut self, snapshot: &BrokerSnapshot, now: UnixNanos) -> SnapshotOutcome {
        let mut out = SnapshotOutcome::default();
        self.positions.retain(|(account, _), _| !snapshot.accounts.contains(account));
        self.positions.extend(snapshot.positions.iter().map(|p| ((p.account.clone(), p.symbol.clone()), p.quantity)));
        for snap in &snapshot.orders {
            let known = self
                .by_broker
                .get(&snap.broker_order_id)
                .cloned()
                .or_else(|| self.orders.contains_key(&snap.request.client_order_id).then(|| snap.request.client_order_id.clone()));
            match known {
                Some(id) => {
                    let Some(order) = self.orders.get_mut(&id) else { continue };
                    self.by_broker.insert(snap.broker_order_id.clone(), id.clone());
                    order.broker_order_id.get_or_insert_with(|| snap.broker_order_id.clone());
                    let status = order.status.restate(snap.status);
                    if order.status != status || order.filled != snap.filled_quantity {
                        order.status = status;
                        order.filled = snap.filled_quantity;
                        order.fill_value = snap.avg_price.map_or(Decimal::ZERO, |p| p.as_decimal() * snap.filled_quantity.as_decimal());
                        order.reason.clone_from(&snap.reason);
                        let update_id = format!("{}:restated-{}", snap.broker_order_id, order.history.len());
                        order.record(update_id, UpdateKind::Restated, snap.ts_event);
                        out.restated.push(id);
                    }
                }
                None => {
                    let mut request = snap.request.clone();
                    request.origin = OrderOrigin::Broker;
                    let id = request.client_order_id.clone();
                    let mut order = Order {
                        request,
                        broker_order_id: Some(snap.broker_order_id.clone()),
                        status: snap.status,
                        filled: snap.filled_quantity,
                        fill_value: snap.avg_price.map_or(Decimal::ZERO, |p| p.as_decimal() * snap.filled_quantity.as_decimal()),
                        reason: snap.reason.clone(),
                        created: snap.ts_event.min(now),
                        updated: snap.ts_event,
                        history: Vec::new(),
                    };
                    order.record(format!("{}:restated-0", snap.broker_order_id), UpdateKind::Restated, snap.ts_event);
                    self.by_broker.insert(snap.broker_order_id.clone(), id.clone());
                    self.orders.insert(id.clone(), order);
                    out.new_orders.push(id);
                }
            }
        }
        for exec in &snapshot.executions {
            if !self.executions.contains_key(&exec.exec_id) {
                self.executions.insert(exec.exec_id.clone(), exec.clone());
                out.new_executions.push(exec.exec_id.clone());
            }
        }
        out
    }

    /// Cancels, with the reason, open orders the broker acknowledged once but no longer knows
    /// (as [`Oms::plan_snapshot`] found them).
    pub(super) fn cancel_gone(&mut self, gone: &[ClientOrderId], reason: &str, now: UnixNanos) {
        for id in gone {
            let update_id = self.local_id(id);
            if let Some(o) = self.orders.get_mut(id) {
                if let Ok(next) = o.status.transition(OrderTrigger::Cancel) {
                    o.status = next;
                    o.reason = Some(reason.to_owned());
                    o.record(update_id, UpdateKind::Cancelled { reason: Some(reason.to_owned()) }, now);
                }
            }
        }
    }
}
