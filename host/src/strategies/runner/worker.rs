//! The worker thread of a running strategy: it owns the instance's `Store` and runs every
//! callback in order — market data, its orders' changes, answers to its requests, timers —
//! then hands what the guest queued to the executor. Only this thread touches the guest.

use super::channels::{Input, Job};
use crate::gateway::OrderView;
use crate::strategies::convert;
use crate::strategies::engine::{Compiled, Engine};
use crate::strategies::host::{Ctx, TimerOp};
use crate::strategies::instance::{Fault, Instance};
use crate::strategies::view::{LogLevel, OwnFill, OwnOrder};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use txtrader_plugin_api::model::OrderStatus;

/// Timers one strategy may have set at once.
const MAX_TIMERS: usize = 1000;

/// Runs the instance until it is stopped or faults; answers `started` after `on-start`.
#[allow(clippy::too_many_arguments)]
pub(super) fn work(
    engine: &Engine,
    compiled: &Compiled,
    ctx: Ctx,
    config: &str,
    rx: &std::sync::mpsc::Receiver<Input>,
    jobs: &mpsc::UnboundedSender<Job>,
    backlog: &AtomicUsize,
    started: oneshot::Sender<Result<(), String>>,
) -> Option<Fault> {
    let mut inst = match Instance::new(engine, compiled, ctx) {
        Ok(i) => i,
        Err(f) => {
            let _ = started.send(Err(f.to_string()));
            return None;
        }
    };
    let mut timers: HashMap<u64, Instant> = HashMap::new();
    let r = inst.on_start(config);
    flush(&mut inst, jobs, &mut timers);
    match r {
        Ok(Ok(())) => {
            let _ = started.send(Ok(()));
        }
        Ok(Err(reason)) => {
            let _ = started.send(Err(format!("on-start refused: {reason}")));
            return None;
        }
        Err(f) => {
            let _ = started.send(Err(format!("on-start {f}")));
            return None;
        }
    }
    loop {
        let next = timers.values().min().copied();
        let input = match next {
            Some(due) => rx.recv_timeout(due.saturating_duration_since(Instant::now())),
            None => rx.recv().map_err(|_| std::sync::mpsc::RecvTimeoutError::Disconnected),
        };
        let outcome = match input {
            Ok(Input::Stop(done)) => {
                let r = inst.on_stop();
                flush(&mut inst, jobs, &mut timers);
                let _ = done.send(());
                return r.err();
            }
            Ok(input) => deliver(&mut inst, input, backlog),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let now = Instant::now();
                let mut due: Vec<u64> = timers.iter().filter(|(_, t)| **t <= now).map(|(id, _)| *id).collect();
                due.sort_unstable();
                let mut r = Ok(());
                for id in due {
                    timers.remove(&id);
                    r = inst.on_timer(id);
                    if r.is_err() {
                        break;
                    }
                }
                r
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return None,
        };
        flush(&mut inst, jobs, &mut timers);
        if let Err(f) = outcome {
            return Some(f);
        }
    }
}

/// Runs the callback an input calls for (or only updates the view).
fn deliver(inst: &mut Instance, input: Input, backlog: &AtomicUsize) -> Result<(), Fault> {
    match input {
        Input::Quote(q) => {
            taken(backlog);
            inst.on_quote(&q)
        }
        Input::Trade(t) => {
            taken(backlog);
            inst.on_trade(&t)
        }
        Input::Bar(b) => {
            taken(backlog);
            inst.on_bar(&b)
        }
        Input::Bars { id, result } => inst.on_bars(id, result.as_deref().map_err(Clone::clone)),
        Input::Order(view) => match order_change(inst.ctx(), &view) {
            Some((order, fill)) => inst.on_order(&order, fill.as_ref()),
            None => Ok(()),
        },
        Input::Execution(e) => {
            let x = &e.execution;
            inst.ctx().view.apply_fill(x.exec_id.as_str(), &x.account, &x.symbol, x.side, x.quantity);
            Ok(())
        }
        Input::Account(s) => {
            inst.ctx().view.accounts.insert(s.account.clone(), s);
            Ok(())
        }
        Input::Rejected { id, reason } => {
            let ctx = inst.ctx();
            let Some(own) = ctx.view.orders.get_mut(&id) else { return Ok(()) };
            if own.done() {
                return Ok(());
            }
            own.status = OrderStatus::Rejected;
            own.reason = Some(reason);
            let order = own.clone();
            inst.on_order(&order, None)
        }
        Input::Resync { orders, positions } => {
            let limits = inst.ctx().limits.clone();
            inst.ctx().view.set_positions(&positions, &limits.accounts);
            for o in orders {
                if let Some((order, fill)) = order_change(inst.ctx(), &o) {
                    inst.on_order(&order, fill.as_ref())?;
                }
            }
            Ok(())
        }
        Input::Stop(_) => Ok(()),
    }
}

/// Counts one market data event out of the backlog.
fn taken(backlog: &AtomicUsize) {
    let _ = backlog.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some(n.saturating_sub(1)));
}

/// Records an order change in the view; the order as the guest gets it, with the fill the
/// change reports, or `None` when nothing it can see changed (the same state published twice,
/// or a change of quantity or price asked and not answered yet: the guest hears of it once the
/// order works on its new terms).
fn order_change(ctx: &mut Ctx, view: &OrderView) -> Option<(OwnOrder, Option<OwnFill>)> {
    let order = OwnOrder::of(&view.order);
    let mut fill = OwnFill::latest(&view.order);
    if let Some(p) = ctx.view.orders.get(order.id()) {
        let same = convert::status(p.status) == convert::status(order.status)
            && p.filled == order.filled
            && p.broker_id == order.broker_id
            && p.reason == order.reason
            && p.request == order.request;
        if same {
            return None;
        }
        if p.filled == order.filled {
            fill = None; // the fill was reported already
        }
    }
    if let Some(f) = &fill {
        let r = &order.request;
        ctx.view.apply_fill(f.exec_id.as_str(), &r.account, &r.symbol, r.side, f.quantity);
    }
    ctx.view.orders.insert(order.id().to_owned(), order.clone());
    Some((order, fill))
}

/// Hands what the guest queued to the executor and applies its timer changes; logs its log
/// lines and refusals.
fn flush(inst: &mut Instance, jobs: &mpsc::UnboundedSender<Job>, timers: &mut HashMap<u64, Instant>) {
    let ctx = inst.ctx();
    let name = ctx.name().to_owned();
    for a in ctx.outbox.drain(..) {
        let _ = jobs.send(Job::Act(a));
    }
    for op in ctx.timers.drain(..).collect::<Vec<_>>() {
        match op {
            TimerOp::Set(id, ms) => {
                if timers.len() >= MAX_TIMERS && !timers.contains_key(&id) {
                    tracing::warn!(strategy = %name, "timer {id} refused: {MAX_TIMERS} timers already set");
                    continue;
                }
                timers.insert(id, Instant::now() + Duration::from_millis(ms));
            }
            TimerOp::Cancel(id) => {
                timers.remove(&id);
            }
        }
    }
    let (logs, dropped) = ctx.drain_logs();
    for (level, m) in logs {
        match level {
            LogLevel::Trace => tracing::trace!(strategy = %name, "{m}"),
            LogLevel::Debug => tracing::debug!(strategy = %name, "{m}"),
            LogLevel::Info => tracing::info!(strategy = %name, "{m}"),
            LogLevel::Warn => tracing::warn!(strategy = %name, "{m}"),
            LogLevel::Error => tracing::error!(strategy = %name, "{m}"),
        }
    }
    if dropped > 0 {
        tracing::warn!(strategy = %name, "{dropped} log lines dropped (at most 100 per callback)");
    }
    for r in ctx.refusals.drain(..) {
        tracing::warn!(strategy = %name, "action refused: {r}");
        let _ = jobs.send(Job::Publish("refused", json!({"reason": r})));
    }
}
