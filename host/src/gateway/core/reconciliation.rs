//! Reconciliation: a broker's snapshot (its accounts, positions, orders and today's executions)
//! merged into the books when a generation starts or reconnects, and on demand when the broker
//! reports an order the books do not know. The broker is the truth for what happened there;
//! what the snapshot changes is planned by the OMS, journaled as one entry, logged as
//! `reconciliation: …` and published. Orders placed before a restart that the broker never
//! acknowledged are looked for in [`IN_DOUBT_CHECKS`] snapshots, then rejected.

use super::slots::SlotState;
use super::pending::PendingKind;
use super::Core;
use crate::gateway::bus::GatewayEvent;
use crate::gateway::oms::Booked;
use crate::gateway::entry::Entry;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use txtrader_plugin_api::model::{ClientOrderId, OrderStatus, Quantity, UnixNanos};
use txtrader_plugin_api::wire::{AdapterRequest, BrokerSnapshot, RequestBody, RequestId};

/// Reconciling snapshots that may miss an order placed before a restart before it is rejected
/// as never received.
const IN_DOUBT_CHECKS: u32 = 3;

impl Core {
    pub(super) fn request_snapshot(&mut self, slot: usize, reconcile: bool) {
        let Some(generation) = self.slots[slot].current.as_ref().map(|g| g.number) else { return };
        self.last_snapshot_request.insert(slot, Instant::now());
        if let Some(g) = self.slots[slot].current.as_mut() {
            g.snapshot_requested = true;
        }
        let timeout = self.settings.timeouts.order_status;
        let _ = self.send_to(slot, RequestBody::Snapshot, Some(("snapshot", timeout, PendingKind::Snapshot { slot, generation, reconcile })));
    }

    pub(super) fn load_snapshot(&mut self, slot: usize, snapshot: BrokerSnapshot, reconcile: bool) {
        let now = UnixNanos::now();
        let name = self.slots[slot].spec.name.clone();
        let plan = self.oms.plan_snapshot(&snapshot, reconcile);
        // What the books said of the orders the snapshot changes, for the log.
        let before: HashMap<ClientOrderId, (OrderStatus, Quantity)> = if reconcile {
            let restated = plan.changes.orders.iter().filter_map(|s| self.oms.find(s.broker_order_id.as_str()).or_else(|| self.oms.get(&s.request.client_order_id)));
            let gone = plan.gone.iter().filter_map(|c| self.oms.get(c));
            restated.chain(gone).map(|o| (o.request.client_order_id.clone(), (o.status, o.filled))).collect()
        } else {
            HashMap::new()
        };
        let reason = "unknown to the broker at reconciliation (it acknowledged the order once)".to_owned();
        let cancel_again = plan.cancel_again;
        let entry = Entry::Snapshot { changes: plan.changes, gone: plan.gone, reason, at: now };
        let Booked::Snapshot(out) = self.record(entry) else { return };
        for id in out.new_orders.iter().chain(&out.restated).chain(&out.gone) {
            if let Some(symbol) = self.oms.get(id).map(|o| o.request.symbol.clone()) {
                self.lookup_instrument(&symbol);
            }
            if let Some(o) = self.oms.get(id) {
                // Every correction in the log, with what the books said before.
                match before.get(id) {
                    Some((status, filled)) if reconcile => tracing::warn!(
                        adapter = %name, order = %o.key(), "reconciliation: order was {status} with {filled} filled; the broker says {} with {} filled", o.status, o.filled
                    ),
                    None if reconcile => tracing::warn!(adapter = %name, order = %o.key(), "reconciliation: order first seen at the broker, {}", o.status),
                    _ => {}
                }
            }
            self.publish_order(id);
        }
        for exec_id in &out.new_executions {
            if let Some(exec) = self.oms.execution(exec_id.as_str()).cloned() {
                if reconcile {
                    tracing::warn!(adapter = %name, exec = %exec.exec_id, order = %exec.broker_order_id, "reconciliation: execution first seen at the broker, {} {} {} @ {}", exec.side, exec.quantity, exec.symbol, exec.price);
                }
                let view = self.execution_view(&exec);
                self.publish(GatewayEvent::Execution(Arc::new(view)));
            }
        }
        // A cancel that was in flight when the gateway stopped may never have reached the
        // broker: ask again (a second cancel of a cancelled order is refused harmlessly).
        for id in &cancel_again {
            let Some(o) = self.oms.get(id) else { continue };
            let Some(broker) = o.broker_order_id.clone() else { continue };
            tracing::warn!(adapter = %name, order = %broker, "reconciliation: cancel still pending at the broker; sending it again");
            let body = RequestBody::CancelOrder { client_order_id: Some(id.clone()), broker_order_id: broker };
            self.after_journal(move |c| {
                if let Err(e) = c.send_to(slot, body.clone(), None) {
                    c.fail_order_request(&AdapterRequest { id: RequestId(0), body }, &e);
                }
            });
        }
        let mut doubts_resolved = 0;
        if reconcile && !self.in_doubt.is_empty() {
            doubts_resolved = self.check_in_doubt(&snapshot, &name);
        }
        if reconcile {
            let corrections = out.gone.len() + out.restated.len() + out.new_orders.len() + out.new_executions.len() + doubts_resolved;
            if corrections > 0 {
                self.alert(
                    &name,
                    format!(
                        "reconciliation: {} orders restated, {} first seen, {} unknown to the broker and cancelled, {} executions first seen, {} cancels sent again, {} unacknowledged orders rejected",
                        out.restated.len(),
                        out.new_orders.len(),
                        out.gone.len(),
                        out.new_executions.len(),
                        cancel_again.len(),
                        doubts_resolved
                    ),
                );
            }
        }
        tracing::info!(adapter = %name, accounts = snapshot.accounts.len(), orders = snapshot.orders.len(), executions = snapshot.executions.len(), "broker snapshot loaded");
        let mut accounts = snapshot.accounts;
        accounts.sort();
        accounts.dedup();
        self.slots[slot].accounts = accounts;
        self.rebuild_accounts();
        if self.slots[slot].state == SlotState::Starting {
            self.slots[slot].state = SlotState::Ready;
            if slot == self.market_slot() {
                self.resubscribe();
            }
        }
        self.recompute_status();
    }

    /// Orders placed before a restart that the broker had not acknowledged: found in its
    /// snapshot, they were matched by their gateway id already; missing from
    /// [`IN_DOUBT_CHECKS`] reconciling snapshots of the broker that trades their account, they
    /// never reached it and are rejected. Answers how many were rejected.
    pub(super) fn check_in_doubt(&mut self, snapshot: &BrokerSnapshot, name: &str) -> usize {
        let ids: Vec<ClientOrderId> = self.in_doubt.keys().cloned().collect();
        let mut rejected = 0;
        for id in ids {
            let Some(o) = self.oms.get(&id) else {
                self.in_doubt.remove(&id);
                continue;
            };
            if o.broker_order_id.is_some() || !o.status.is_open() {
                self.in_doubt.remove(&id);
                continue;
            }
            if !snapshot.accounts.contains(&o.request.account) {
                continue;
            }
            let checks = self.in_doubt.entry(id.clone()).or_insert(0);
            *checks += 1;
            if *checks >= IN_DOUBT_CHECKS {
                self.in_doubt.remove(&id);
                let reason = format!("not acknowledged before the gateway restarted and unknown to the broker after {IN_DOUBT_CHECKS} checks");
                tracing::warn!(adapter = %name, order = %id, "reconciliation: {reason}; rejected");
                self.record(Entry::OrderNotSent { order: id.clone(), reason, at: UnixNanos::now() });
                self.publish_order(&id);
                rejected += 1;
            }
        }
        rejected
    }

    /// Orders in doubt since a restart: the slot trading their account is asked again every
    /// 2 s until each is found or rejected.
    pub(super) fn recheck_in_doubt(&mut self, slot: usize) {
        let owns_doubt = self.in_doubt.keys().any(|c| self.oms.get(c).is_some_and(|o| self.account_slot.get(&o.request.account) == Some(&slot)));
        let asked_lately = self.last_snapshot_request.get(&slot).is_some_and(|t| t.elapsed() < Duration::from_secs(2));
        if owns_doubt && self.slots[slot].state == SlotState::Ready && !asked_lately {
            self.request_snapshot(slot, true);
        }
    }
}
