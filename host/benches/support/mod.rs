//! What the host's benchmarks share: the daemon's configuration for measuring, a market order,
//! one order's round trip, a flood of concurrent callers, and percentiles.
//!
//! Included by each bench (`#[path = "support/mod.rs"] mod support;`); a bench uses what it
//! needs.
#![allow(dead_code)]

use std::time::{Duration, Instant};
use txtrader_host::config::Config;
use txtrader_host::gateway::{Gateway, NewOrder};
use txtrader_plugin_api::model::{AccountId, OrderOrigin, OrderType, Quantity, Side, Symbol, TimeInForce};

/// The sim's account the benchmarks trade.
pub const ACCT: &str = "REALTICKDEMO.REALTICK.DEMO32.TRADING";

/// The daemon configured for measuring: ephemeral ports, warnings only, no per-order log
/// lines, no daily restart, fills without delay; `extra` settings last (they win).
pub fn config(extra: &[(&str, &str)]) -> Config {
    let base = [
        ("TXTRADER_HTTP_PORT", "0"),
        ("TXTRADER_TCP_PORT", "0"),
        ("TXTRADER_LOG_LEVEL", "WARN"),
        ("TXTRADER_LOG_ORDER_UPDATES", "0"),
        ("TXTRADER_LOG_EXECUTION_UPDATES", "0"),
        ("TXTRADER_ENABLE_AUTO_RESET", "0"),
        ("TXTRADER_SIM_FILL_DELAY_MS", "0"),
    ];
    let env = base.iter().chain(extra).map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    Config::from_map(&env, "bench").expect("config")
}

/// Order `i`: 10 shares of IBM, MSFT or AAPL, buying and selling in turn.
pub fn order(i: usize, order_type: OrderType) -> NewOrder {
    NewOrder {
        account: AccountId::new(ACCT).expect("acct"),
        symbol: Symbol::new(["IBM", "MSFT", "AAPL"][i % 3]).expect("sym"),
        side: if i.is_multiple_of(2) { Side::Buy } else { Side::Sell },
        quantity: Quantity::from_u64(10),
        order_type,
        time_in_force: TimeInForce::Day,
        route: None,
        sets_default_route: false,
        staged_tag: None,
        origin: OrderOrigin::Client,
        user: None,
        client_order_id: None,
        intended_duplicate: false,
    }
}

/// A market order from `submit` until the broker's acknowledgement reaches the caller.
pub async fn round_trip(gw: &Gateway, i: usize) -> Duration {
    let t0 = Instant::now();
    let view = gw.submit(order(i, OrderType::Market)).await.expect("answered");
    assert!(view.order.broker_order_id.is_some(), "acknowledged");
    t0.elapsed()
}

/// Market orders from `callers` concurrent callers until `until` (or `limit` orders in all);
/// answers how many were placed.
pub async fn flood(gw: &Gateway, callers: usize, until: Instant, limit: usize) -> usize {
    let placed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tasks: Vec<_> = (0..callers)
        .map(|t| {
            let (gw, placed) = (gw.clone(), placed.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while Instant::now() < until && placed.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < limit {
                    round_trip(&gw, t * 1_000_000 + n).await;
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut done = 0;
    for t in tasks {
        done += t.await.expect("caller");
    }
    done
}

/// Starts the daemon with `config`, places `warm` orders to warm up, then `orders` one after
/// another (their round trips), then lets 16 callers order for 2 s, and stops it. Answers
/// (p50, p99, orders/s of the 16 callers).
pub async fn round_trips(config: &Config, warm: usize, orders: usize) -> (Duration, Duration, f64) {
    let running = txtrader_host::start(config).await.expect("starts");
    running.gateway.wait_status(|s| s == txtrader_plugin_api::model::ConnectionStatus::Up).await;
    let gw = running.gateway.clone();
    for i in 0..warm {
        round_trip(&gw, i).await;
    }
    let mut lat = Vec::with_capacity(orders);
    for i in 0..orders {
        lat.push(round_trip(&gw, i).await);
    }
    lat.sort();
    let start = Instant::now();
    let done = flood(&gw, 16, start + Duration::from_secs(2), usize::MAX).await;
    let rate = done as f64 / start.elapsed().as_secs_f64();
    running.shutdown.trigger(txtrader_host::shutdown::ExitReason::Requested("bench".into()));
    running.wait().await;
    (pct(&lat, 0.5), pct(&lat, 0.99), rate)
}

/// The `p` quantile of sorted durations.
pub fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// The median.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
