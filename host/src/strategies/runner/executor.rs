//! The executor task of a running strategy: it carries out what the guest queued —
//! subscriptions, bar requests, orders, cancels — through the same gateway commands every
//! client uses, in order, and feeds the outcomes back to the worker as inputs.

use super::channels::{lock, Input, Job};
use crate::gateway::market::Subscriber;
use crate::gateway::{Gateway, SubmitError};
use crate::strategies::host::Action;
use serde_json::json;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use txtrader_plugin_api::model::Symbol;

/// What the executor works with.
pub(super) struct Exec {
    pub(super) name: String,
    pub(super) gateway: Gateway,
    pub(super) input: std::sync::mpsc::Sender<Input>,
    pub(super) subscribed: Arc<Mutex<HashSet<Symbol>>>,
    pub(super) subscriber: Subscriber,
    pub(super) backlog: Arc<AtomicUsize>,
}

pub(super) async fn execute(x: Exec, mut jobs: mpsc::UnboundedReceiver<Job>) {
    while let Some(job) = jobs.recv().await {
        match job {
            Job::Publish(event, detail) => x.gateway.strategy_event(&x.name, event, detail).await,
            Job::Act(Action::Subscribe(symbol)) => {
                lock(&x.subscribed).insert(symbol.clone());
                match x.gateway.add_symbol(symbol.clone(), Some(x.subscriber)).await {
                    Ok(Some(view)) => {
                        if let Some(q) = view.quote {
                            // counted like every market data event (the worker counts it down)
                            x.backlog.fetch_add(1, Ordering::Relaxed);
                            let _ = x.input.send(Input::Quote(q));
                        }
                    }
                    Ok(None) => {
                        tracing::warn!(strategy = %x.name, %symbol, "subscription refused: the broker does not know the symbol");
                        x.gateway.strategy_event(&x.name, "refused", json!({"reason": format!("unknown symbol {symbol}")})).await;
                    }
                    Err(e) => tracing::warn!(strategy = %x.name, %symbol, cause = %e, "subscription failed"),
                }
            }
            Job::Act(Action::Unsubscribe(symbol)) => {
                lock(&x.subscribed).remove(&symbol);
                let _ = x.gateway.remove_symbol(symbol, x.subscriber).await;
            }
            Job::Act(Action::Bars { id, symbol, interval, start, end }) => {
                let (g, input) = (x.gateway.clone(), x.input.clone());
                tokio::spawn(async move {
                    let result = g.bars(symbol, interval, start, end).await.map_err(|e| e.to_string());
                    let _ = input.send(Input::Bars { id, result });
                });
            }
            Job::Act(Action::Submit(order)) => {
                let id = order.client_order_id.as_ref().map(|c| c.as_str().to_owned()).unwrap_or_default();
                match x.gateway.submit(*order).await {
                    Ok(_) | Err(SubmitError::Gateway(crate::gateway::GatewayError::Timeout(_))) => {}
                    Err(e) => {
                        // Booked orders report their own fate on the bus; one the gateway
                        // refused before booking it is rejected here.
                        if matches!(x.gateway.order(id.clone()).await, Ok(None)) {
                            let _ = x.input.send(Input::Rejected { id, reason: e.to_string() });
                        }
                    }
                }
            }
            Job::Act(Action::Cancel(id)) => match x.gateway.cancel(id.clone()).await {
                Ok(crate::gateway::CancelOutcome::Sent) | Err(_) => {}
                Ok(other @ (crate::gateway::CancelOutcome::NotLive(_) | crate::gateway::CancelOutcome::AlreadyCancelled)) => {
                    // a cancel that crossed the order's fill or cancel: the order says so itself
                    tracing::info!(strategy = %x.name, order = %id, ?other, "cancel not sent: the order is already final");
                }
                Ok(other) => {
                    tracing::warn!(strategy = %x.name, order = %id, ?other, "cancel not sent");
                    x.gateway.strategy_event(&x.name, "refused", json!({"reason": format!("cancel {id}: {other:?}")})).await;
                }
            },
            Job::Act(Action::Modify(id, change)) => match x.gateway.modify(id.clone(), change).await {
                Ok(crate::gateway::ModifyOutcome::Sent) | Err(_) => {}
                Ok(other @ crate::gateway::ModifyOutcome::NotLive(_)) => {
                    // a change that crossed the order's fill or cancel: the order says so itself
                    tracing::info!(strategy = %x.name, order = %id, ?other, "change not sent: the order is already final");
                }
                Ok(other) => {
                    tracing::warn!(strategy = %x.name, order = %id, ?other, "change not sent");
                    x.gateway.strategy_event(&x.name, "refused", json!({"reason": format!("modify {id}: {other:?}")})).await;
                }
            },
        }
    }
}
