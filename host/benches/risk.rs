//! Pre-trade risk benchmark: what the check costs each order.
//!
//! `cargo bench -p txtrader-host --bench risk [-- ITERATIONS]`
//!
//! 1. The check alone (`exposure::of` + `RiskEngine::check` + `admit`, as the core runs it), in
//!    ns per order, over ITERATIONS (default 200 000) orders cycling through 50 symbols and
//!    three accounts, with the books holding 0, 5 000 and 50 000 resting orders: the limits of
//!    `examples/risk-limits.toml` (every rule set) against the built-in limits (size and value
//!    only). Baseline in the same process: building the order's candidate and reading its
//!    position, without checking.
//! 2. The market order round trip (`Gateway::submit` until the broker's acknowledgement, one
//!    caller, 3 000 orders, and 16 callers for 2 s) on the whole daemon in-process (journal off,
//!    sim in memory, fill delay 0), with the built-in limits and with the example file's limits
//!    (its rate and duplicate limits lifted: the bench sends the same orders hundreds of times a
//!    second), three rounds alternating. In both parts the example's open-order limits are
//!    raised and orders without a reference price allowed (see [`realistic`]): every rule is
//!    still evaluated, none refuses. The check cannot be turned off; the built-in limits are
//!    its cheapest form.

use rust_decimal::Decimal;
use std::hint::black_box;
use std::time::{Duration, Instant};
use txtrader_host::gateway::entry::Entry;
use txtrader_host::gateway::exposure;
use txtrader_host::gateway::oms::Oms;
use txtrader_host::risk::check::Candidate;
use txtrader_host::risk::limits::Limits;
use txtrader_host::risk::RiskEngine;
use txtrader_plugin_api::model::{AccountId, BrokerOrderId, ClientOrderId, OrderOrigin, OrderRequest, OrderType, Price, Quantity, Side, Symbol, TimeInForce, UnixNanos};
use txtrader_plugin_api::wire::{OrderEvent, OrderEventKind};

#[path = "support/mod.rs"]
mod support;

use support::median;

const EXAMPLE: &str = include_str!("../../examples/risk-limits.toml");
const ACCOUNTS: [&str; 3] = ["REALTICKDEMO.REALTICK.DEMO32.TRADING", "ACCT.B", "ACCT.C"];

fn symbols() -> Vec<Symbol> {
    (0..50).map(|i| Symbol::new(format!("S{i:02}")).expect("symbol")).collect()
}

/// Books with `n` resting limit orders spread over the accounts and symbols.
fn books(n: usize, symbols: &[Symbol]) -> Oms {
    let mut oms = Oms::new();
    for i in 0..n {
        let id = ClientOrderId::new(format!("r{i}")).expect("id");
        let request = OrderRequest {
            client_order_id: id.clone(),
            account: AccountId::new(ACCOUNTS[i % 3]).expect("account"),
            symbol: symbols[i % symbols.len()].clone(),
            side: if i % 2 == 0 { Side::Buy } else { Side::Sell },
            quantity: Quantity::from_u64(1),
            order_type: OrderType::Limit { limit_price: Price::from_cents(5_000 + (i % 100) as i64) },
            time_in_force: TimeInForce::Day,
            route: None,
            exchange: None,
            staged_tag: None,
            origin: OrderOrigin::Client,
            user: None,
        };
        oms.book(&Entry::Submitted { request, at: UnixNanos(i as u64) });
        let event = OrderEvent {
            event_id: format!("a{i}"),
            broker_order_id: BrokerOrderId::new(format!("b{i}")).expect("id"),
            client_order_id: Some(id),
            ts_event: UnixNanos(i as u64),
            kind: OrderEventKind::Accepted,
            raw: None,
        };
        oms.book(&Entry::OrderEvent(event));
    }
    oms
}

/// The example file with its open-order limits raised for books of 50 000 resting orders, and
/// orders without a reference price allowed (the round trip's symbols are not subscribed):
/// every rule is still evaluated for every order.
fn realistic(example: &str) -> String {
    let out = example
        .replace("max_open_orders = 200", "max_open_orders = 1000000")
        .replace("max_open_orders = 50", "max_open_orders = 1000000")
        .replace("max_open_notional = 2000000", "max_open_notional = 1000000000000")
        .replace("allow_without_reference = false", "allow_without_reference = true");
    assert_ne!(out, example, "the example file still has the limits this bench raises");
    out
}

/// ns per order: the check as the core runs it (`check` false: only the candidate and the
/// position, the baseline).
fn per_order(oms: &Oms, limits: &Limits, symbols: &[Symbol], iterations: usize, check: bool) -> f64 {
    let mut engine = RiskEngine::new(limits.clone());
    let accounts: Vec<AccountId> = ACCOUNTS.iter().map(|a| AccountId::new(*a).expect("account")).collect();
    let reference = Some(Price::from_cents(5_050));
    let (market, limit) = (OrderType::Market, OrderType::Limit { limit_price: Price::from_cents(5_060) });
    let start = Instant::now();
    let mut now = start;
    let mut denied = 0usize;
    for i in 0..iterations {
        // 60 ms apart: the example's 20 a second never runs dry, and the duplicate window
        // (500 ms) sees the same order again only every 100 orders, past it
        now += Duration::from_millis(60);
        let c = Candidate {
            account: &accounts[i % 3],
            symbol: &symbols[i % symbols.len()],
            side: if i % 2 == 0 { Side::Buy } else { Side::Sell },
            quantity: Quantity::from_u64(1 + (i % 100) as u64),
            order_type: if i % 4 == 0 { &market } else { &limit },
            intended_duplicate: false,
        };
        if check {
            let x = exposure::of(oms, c.account, c.symbol, |_| reference);
            match engine.check(&c, &x, reference, now) {
                Ok(pass) => engine.admit(c.account, pass, now),
                Err(d) => {
                    denied += 1;
                    black_box(d);
                }
            }
        } else {
            let position = oms.positions().get(&(c.account.clone(), c.symbol.clone())).map_or(Decimal::ZERO, |q| q.as_decimal());
            black_box((position, c.key()));
        }
    }
    assert_eq!(denied, 0, "the bench's orders are all within the limits");
    start.elapsed().as_nanos() as f64 / iterations as f64
}

/// (p50, p99, orders/s) of the round trip with these limits.
async fn with_limits(limits: Option<&std::path::Path>) -> (Duration, Duration, f64) {
    let file = limits.map(|p| p.display().to_string());
    let mut env = vec![("TXTRADER_JOURNAL", "0"), ("TXTRADER_SIM_DURABLE", "0")];
    if let Some(f) = &file {
        env.push(("TXTRADER_RISK_FILE", f.as_str()));
    }
    support::round_trips(&support::config(&env), 300, 3000).await
}

fn main() {
    let iterations = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(200_000usize);
    let symbols = symbols();
    let example = Limits::parse(&realistic(EXAMPLE), "examples/risk-limits.toml").expect("the example parses");
    let builtin = Limits::builtin();
    println!("check per order (ns), {iterations} orders, medians of 3:");
    println!("{:>8} | {:>10} | {:>14} | {:>14} | {:>12} | {:>12}", "resting", "baseline", "built-in", "example file", "built-in/base", "example/base");
    for n in [0, 5_000, 50_000] {
        let oms = books(n, &symbols);
        let run = |limits: &Limits, check: bool| median((0..3).map(|_| per_order(&oms, limits, &symbols, iterations, check)).collect());
        let (base, b, e) = (run(&builtin, false), run(&builtin, true), run(&example, true));
        println!("{n:>8} | {base:>10.0} | {b:>14.0} | {e:>14.0} | {:>11.2}x | {:>11.2}x", b / base, e / base);
    }

    let dir = tempfile::tempdir().expect("temp");
    let lifted = realistic(EXAMPLE).replace("max_orders_per_second = 20", "max_orders_per_second = 1000000").replace("duplicate_window_ms = 500", "duplicate_window_ms = 0");
    let file = dir.path().join("limits.toml");
    std::fs::write(&file, lifted).expect("limits file");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let (mut builtin_runs, mut example_runs) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        builtin_runs.push(rt.block_on(with_limits(None)));
        example_runs.push(rt.block_on(with_limits(Some(&file))));
    }
    let med = |runs: &[(Duration, Duration, f64)]| {
        (
            median(runs.iter().map(|r| r.0.as_secs_f64() * 1e6).collect()),
            median(runs.iter().map(|r| r.1.as_secs_f64() * 1e6).collect()),
            median(runs.iter().map(|r| r.2).collect()),
        )
    };
    let (b, e) = (med(&builtin_runs), med(&example_runs));
    println!("\nmarket order round trip (journal off, sim in memory), medians of 3 rounds:");
    println!("{:<14} | {:>7} | {:>7} | {:>10} | {:>9}", "limits", "p50 µs", "p99 µs", "orders/s", "vs built-in");
    println!("{:<14} | {:>7.0} | {:>7.0} | {:>10.0} | {:>9}", "built-in", b.0, b.1, b.2, "1.00x");
    println!("{:<14} | {:>7.0} | {:>7.0} | {:>10.0} | {:>8.2}x", "example file", e.0, e.1, e.2, e.2 / b.2);
}
