//! The forwarder task of a running strategy: it reads the gateway's event bus and passes on
//! what concerns the strategy — market data of its symbols (skipped, and counted, while it is
//! more than [`MAX_BACKLOG`] events behind: a slow strategy never slows the gateway), every
//! change of its own orders and every execution of its accounts (never skipped). After a gap
//! on the bus it resynchronizes the strategy's orders and positions.

use super::channels::{lock, Input};
use crate::gateway::bus::{Delivery, GatewayEvent as E, Sequenced, Subscription};
use crate::gateway::Gateway;
use crate::strategies::host::Stats;
use crate::strategies::manifest::Limits;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use txtrader_plugin_api::model::{OrderClass, OrderOrigin, Symbol};

/// Market data a strategy may have queued before more is skipped.
pub const MAX_BACKLOG: usize = 1000;

/// What the forwarder works with.
pub(super) struct Forward {
    pub(super) name: String,
    pub(super) gateway: Gateway,
    pub(super) input: std::sync::mpsc::Sender<Input>,
    pub(super) subscribed: Arc<Mutex<HashSet<Symbol>>>,
    pub(super) backlog: Arc<AtomicUsize>,
    pub(super) stats: Arc<Stats>,
    pub(super) limits: Arc<Limits>,
}

impl Forward {
    fn market(&self, symbol: &Symbol, input: impl FnOnce() -> Input) {
        if !lock(&self.subscribed).contains(symbol) {
            return;
        }
        if self.backlog.load(Ordering::Relaxed) >= MAX_BACKLOG {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.backlog.fetch_add(1, Ordering::Relaxed);
        let _ = self.input.send(input());
    }
}

pub(super) async fn forward(f: Forward, mut sub: Subscription<Arc<Sequenced>>) {
    let origin = OrderOrigin::Strategy { name: f.name.clone() };
    while let Some(d) = sub.recv().await {
        match d {
            Delivery::Item(s) => match &s.event {
                E::Quote(q) => f.market(&q.symbol, || Input::Quote(q.clone())),
                E::Trade { trade, .. } => f.market(&trade.symbol, || Input::Trade(trade.clone())),
                E::Bar(b) => f.market(&b.symbol, || Input::Bar(b.clone())),
                E::Order(o) if o.order.request.origin == origin => {
                    let _ = f.input.send(Input::Order(o.clone()));
                }
                E::Execution(e) if f.limits.accounts.contains(&e.execution.account) => {
                    let _ = f.input.send(Input::Execution(e.clone()));
                    let (g, input, account) = (f.gateway.clone(), f.input.clone(), e.execution.account.clone());
                    tokio::spawn(async move {
                        if let Ok(Some(s)) = g.account_summary(account).await {
                            let _ = input.send(Input::Account(s));
                        }
                    });
                }
                _ => {}
            },
            Delivery::Gap { missed, .. } => {
                tracing::warn!(strategy = %f.name, missed, "strategy fell behind the event bus: resynchronizing its orders and positions");
                let orders = f.gateway.orders(OrderClass::Order).await.unwrap_or_default();
                let orders = orders.into_iter().filter(|o| o.order.request.origin == origin).collect();
                let positions = f.gateway.positions().await.unwrap_or_default();
                let _ = f.input.send(Input::Resync { orders, positions });
            }
        }
    }
}
