//! Strategy benchmark: the cost of an event dispatched into a wasm strategy against the same
//! strategy compiled natively, and the memory an idle instance takes.
//!
//! `cargo bench -p txtrader-host --bench strategies [-- EVENTS INSTANCES TICKS]`
//!
//! Builds the example strategies of `plugins/` for `wasm32-wasip2` (release, into
//! `target/wasm`), then, in one process:
//! - **on-bar, ma-cross**: EVENTS (default 20 000) one-minute bars into the `ma-cross` component
//!   through the live host code (epoch deadline armed, bar converted to the WIT record, the
//!   guest parsing decimals, keeping its averages, reading its open orders and position through
//!   host calls), against a native Rust port of the same logic fed the domain `Bar` (the
//!   baseline). Three rounds, median reported.
//! - **no-op callback**: `on-timer` into `market-maker` (which ignores timers): the pure
//!   dispatch overhead, against a native call through a trait object.
//! - **idle instances**: INSTANCES (default 200) instances of `market-maker`, started and
//!   subscribed, each with its own store; resident memory growth per instance and how many fit
//!   in 1 GiB.
//! - **tick to order**: the whole daemon (`txtrader_host::start`, sim quoting IBM every 10 ms).
//!   The `tick-order` fixture, deployed through the live runner, places a market order on every
//!   quote, its quantity naming the quote. An observer on the gateway bus stamps each quote when
//!   it sees it and each order when its broker acknowledgement reaches the bus; the difference is
//!   the tick-to-order latency (bus → forwarder → strategy thread → wasm → outbox → executor →
//!   risk checks → sim → ack). The baseline is the same logic as a native task on the bus
//!   calling `Gateway::submit`, observed the same way. TICKS (default 600) quotes per run, three
//!   rounds alternating, median of each percentile.

use rust_decimal::Decimal;
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use txtrader_host::strategies::engine::{Engine, Metering};
use txtrader_host::strategies::host::{Clock, Ctx, Ids, Stats};
use txtrader_host::strategies::instance::Instance;
use txtrader_host::strategies::Manifest;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

#[path = "support/mod.rs"]
mod support;

use support::{median, pct};
use txtrader_host::gateway::bus::{Delivery, GatewayEvent};
use txtrader_host::gateway::market::Subscriber;
use txtrader_host::gateway::NewOrder;
use txtrader_plugin_api::model::{
    AccountId, Bar, BarInterval, ConnectionStatus, OrderOrigin, OrderType, Price, Quantity, Side, Symbol, TimeInForce,
    UnixNanos,
};

const ACCT: &str = "REALTICKDEMO.REALTICK.DEMO31.TRADING";

fn components() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = root.join("target/wasm");
    let status = std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(root.join("plugins"))
        .args(["build", "--locked", "--quiet", "--release", "--target", "wasm32-wasip2", "--target-dir"])
        .arg(&target)
        .status()
        .expect("run cargo");
    assert!(status.success(), "building the strategies failed");
    target.join("wasm32-wasip2/release")
}

fn manifest(name: &str, component: PathBuf, config: serde_json::Value) -> Manifest {
    Manifest::from_json(
        serde_json::json!({
            "name": name, "component": component.display().to_string(), "config": config,
            "limits": {"memory_mb": 16, "callback_ms": 1000, "orders_per_second": 1000,
                       "max_order_quantity": "1000", "max_order_notional": "10000000",
                       "accounts": [ACCT], "symbols": ["*"]}
        }),
        std::path::Path::new("/"),
    )
    .expect("manifest")
}

fn instance(engine: &Engine, m: &Manifest) -> Instance {
    let bytes = std::fs::read(&m.component).expect("component");
    let compiled = engine.compile(&bytes).expect("compile");
    let ctx = Ctx::new(&m.name, Arc::new(m.limits.clone()), Arc::new(Stats::default()), Clock::Fixed(1), Ids::Sequence(0), None);
    let mut inst = Instance::new(engine, &compiled, ctx).expect("instantiate");
    inst.on_start(&m.config).expect("no fault").expect("started");
    drain(&mut inst);
    inst
}

fn drain(inst: &mut Instance) {
    let ctx = inst.ctx();
    ctx.outbox.clear();
    ctx.refusals.clear();
    ctx.timers.clear();
    let _ = ctx.drain_logs();
}

fn bars(n: usize) -> Vec<Bar> {
    let ibm = Symbol::new("IBM").expect("symbol");
    (0..n)
        .map(|i| {
            // a deterministic zig-zag, so the averages cross now and then
            let c = 10_000 + i64::try_from((i * 37) % 200).unwrap_or(0) - 100;
            Bar {
                symbol: ibm.clone(),
                interval: BarInterval::Minutes(1),
                start: UnixNanos(1_700_000_000_000_000_000 + i as u64 * 60_000_000_000),
                open: Price::from_cents(c),
                high: Price::from_cents(c + 5),
                low: Price::from_cents(c - 5),
                close: Price::from_cents(c + 1),
                volume: Quantity::from_u64(1000),
            }
        })
        .collect()
}

/// The ma-cross logic, compiled natively: the baseline.
struct NativeMaCross {
    closes: VecDeque<Decimal>,
    fast: usize,
    slow: usize,
    target: Decimal,
    positions: BTreeMap<(String, String), Decimal>,
    orders: Vec<(Decimal, Decimal)>,
}

impl NativeMaCross {
    fn on_bar(&mut self, bar: &Bar) {
        self.closes.push_back(bar.close.as_decimal());
        while self.closes.len() > self.slow {
            self.closes.pop_front();
        }
        if self.closes.len() < self.slow {
            return;
        }
        let avg = |n: usize| self.closes.iter().rev().take(n).copied().sum::<Decimal>() / Decimal::from(n);
        let target = if avg(self.fast) > avg(self.slow) { Decimal::ONE_HUNDRED } else { -Decimal::ONE_HUNDRED };
        let held = self.positions.get(&(ACCT.to_owned(), bar.symbol.as_str().to_owned())).copied().unwrap_or_default();
        if target != self.target || held != target {
            self.target = target;
            self.orders.push((target - held, bar.close.as_decimal()));
            self.positions.insert((ACCT.to_owned(), bar.symbol.as_str().to_owned()), target);
        }
    }
}

trait Handler {
    fn on_timer(&mut self, id: u64) -> u64;
}

struct Noop;

impl Handler for Noop {
    fn on_timer(&mut self, id: u64) -> u64 {
        std::hint::black_box(id)
    }
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0) * 4096
}

/// The quantity that names a quote (as the `tick-order` fixture computes it).
fn quantity_for(ts: UnixNanos) -> u64 {
    1 + (ts.0 / 1_000_000) % 400
}

/// The native baseline: a bus subscriber that, on every IBM quote, places the fixture's order.
fn native_tick_order(gw: txtrader_host::gateway::Gateway) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let (mut bus, _) = gw.subscribe(1 << 16).await.expect("subscribe");
        let ibm = Symbol::new("IBM").expect("symbol");
        gw.add_symbol(ibm.clone(), Some(Subscriber::Session(u64::MAX))).await.expect("gateway").expect("symbol");
        while let Some(d) = bus.recv().await {
            let Delivery::Item(e) = d else { continue };
            let GatewayEvent::Quote(q) = &e.event else { continue };
            let Some(bid) = q.bid.filter(|_| q.symbol == ibm) else { continue };
            let order = NewOrder {
                account: AccountId::new(ACCT).expect("account"),
                symbol: ibm.clone(),
                side: Side::Buy,
                quantity: Quantity::from_u64(quantity_for(q.ts_event)),
                order_type: OrderType::Limit { limit_price: Price::new(bid.as_decimal() / Decimal::TWO).round_dp(2) },
                time_in_force: TimeInForce::Ioc,
                route: None,
                sets_default_route: false,
                staged_tag: None,
                origin: OrderOrigin::Client,
                user: None,
                client_order_id: None,
                intended_duplicate: false,
            };
            let gw = gw.clone();
            tokio::spawn(async move { gw.submit(order).await.expect("acknowledged") });
        }
    })
}

/// Quote seen on the bus → the order it caused acknowledged on the bus, for `ticks` orders whose
/// origin `ours` accepts (after 50 unmeasured).
async fn observe(bus: &mut txtrader_host::gateway::bus::Subscription<Arc<txtrader_host::gateway::bus::Sequenced>>, ticks: usize, ours: impl Fn(&OrderOrigin) -> bool) -> Vec<Duration> {
    let mut quotes: HashMap<u64, Instant> = HashMap::new();
    let mut acked = HashSet::new();
    let mut lat = Vec::with_capacity(ticks);
    let (mut seen, mut unpaired) = (0, 0);
    while lat.len() < ticks {
        let d = tokio::time::timeout(Duration::from_secs(10), bus.recv()).await.expect("events keep coming").expect("bus");
        let Delivery::Item(e) = d else { panic!("the observer fell behind") };
        match &e.event {
            GatewayEvent::Quote(q) if q.symbol.as_str() == "IBM" => {
                quotes.insert(quantity_for(q.ts_event), Instant::now());
            }
            GatewayEvent::Order(v)
                if v.order.broker_order_id.is_some()
                    && ours(&v.order.request.origin)
                    && acked.insert(v.order.request.client_order_id.clone()) =>
            {
                let key = v.order.request.quantity.as_decimal().try_into().unwrap_or(0u64);
                let Some(at) = quotes.get(&key) else {
                    // a quote the subscriber got as a snapshot when it subscribed, not on the bus
                    unpaired += 1;
                    assert!(unpaired <= 3, "{unpaired} orders name no quote seen on the bus");
                    continue;
                };
                seen += 1;
                if seen > 50 {
                    lat.push(at.elapsed());
                }
            }
            _ => {}
        }
    }
    lat.sort();
    lat
}

/// Tick-to-order through the whole daemon: the fixture in the live runner against the native
/// baseline, `rounds` alternating runs of `ticks` orders each; answers median (p50, p99) in µs
/// of each.
fn tick_to_order(component: PathBuf, ticks: usize, rounds: usize) -> ((f64, f64), (f64, f64)) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let config = support::config(&[
            ("TXTRADER_JOURNAL", "0"), // as before the journal; `--bench journal` measures it
            ("TXTRADER_SIM_TICK_MS", "10"),
        ]);
        let running = txtrader_host::start(&config).await.expect("gateway starts");
        running.gateway.wait_status(|s| s == ConnectionStatus::Up).await;
        let gw = running.gateway.clone();
        let (mut wasm, mut native) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            for strategy in if round % 2 == 0 { [true, false] } else { [false, true] } {
                let (mut bus, _) = gw.subscribe(1 << 16).await.expect("subscribe");
                let lat = if strategy {
                    let name = format!("tick-order-{round}");
                    let m = manifest(&name, component.clone(), serde_json::json!({"account": ACCT, "symbol": "IBM"}));
                    running.strategies.deploy(m).await.expect("manager").expect("deployed");
                    let lat = observe(&mut bus, ticks, |o| matches!(o, OrderOrigin::Strategy { name: n } if *n == name)).await;
                    running.strategies.stop(name).await.expect("manager").expect("stopped");
                    lat
                } else {
                    let task = native_tick_order(gw.clone());
                    let lat = observe(&mut bus, ticks, |o| *o == OrderOrigin::Client).await;
                    task.abort();
                    gw.remove_subscriber(Subscriber::Session(u64::MAX)).await;
                    lat
                };
                let us = |p: f64| pct(&lat, p).as_nanos() as f64 / 1000.0;
                if strategy { &mut wasm } else { &mut native }.push((us(0.5), us(0.99)));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        running.shutdown.trigger(txtrader_host::shutdown::ExitReason::Requested("bench done".into()));
        running.wait().await;
        let med = |v: &Vec<(f64, f64)>| (median(v.iter().map(|x| x.0).collect()), median(v.iter().map(|x| x.1).collect()));
        (med(&wasm), med(&native))
    })
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let events = args.first().copied().unwrap_or(20_000);
    let instances = args.get(1).copied().unwrap_or(200);
    let ticks = args.get(2).copied().unwrap_or(600);
    let dir = components();
    let engine = Engine::new(Metering::Epoch { tick: std::time::Duration::from_millis(2) }).expect("engine");
    let ma = manifest("ma-cross", dir.join("ma_cross.wasm"), serde_json::json!({"account": ACCT, "symbol": "IBM", "fast": 5, "slow": 20, "quantity": "100"}));
    let mm_config = serde_json::json!({"account": ACCT, "symbol": "IBM", "quantity": "100", "max_inventory": "300", "requote": "0.05"});
    let mm = manifest("market-maker", dir.join("market_maker.wasm"), mm_config);
    let series = bars(events);

    let (mut wasm_runs, mut native_runs, mut noop_wasm, mut noop_native) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        let mut inst = instance(&engine, &ma);
        let t = Instant::now();
        for b in &series {
            inst.on_bar(b).expect("no fault");
            drain(&mut inst);
        }
        wasm_runs.push(t.elapsed().as_nanos() as f64 / events as f64);

        let mut native = NativeMaCross { closes: VecDeque::new(), fast: 5, slow: 20, target: Decimal::ZERO, positions: BTreeMap::new(), orders: Vec::new() };
        let t = Instant::now();
        for b in &series {
            native.on_bar(std::hint::black_box(b));
        }
        std::hint::black_box(&native.orders);
        native_runs.push(t.elapsed().as_nanos() as f64 / events as f64);

        let mut idle = instance(&engine, &mm);
        let t = Instant::now();
        for i in 0..events as u64 {
            idle.on_timer(i).expect("no fault");
        }
        noop_wasm.push(t.elapsed().as_nanos() as f64 / events as f64);
        let mut h: Box<dyn Handler> = Box::new(Noop);
        let t = Instant::now();
        let mut acc = 0u64;
        for i in 0..events as u64 {
            acc = acc.wrapping_add(std::hint::black_box(&mut h).on_timer(i));
        }
        std::hint::black_box(acc);
        noop_native.push(t.elapsed().as_nanos() as f64 / events as f64);
    }
    let (w, n, nw, nn) = (median(wasm_runs), median(native_runs), median(noop_wasm), median(noop_native));
    println!("events per run: {events}, 3 runs, medians");
    println!("| callback | wasm ns/event | native ns/event | wasm / native |");
    println!("|---|---:|---:|---:|");
    println!("| on-bar, ma-cross (fast 5, slow 20) | {w:.0} | {n:.0} | {:.1}x |", w / n.max(0.001));
    println!("| no-op callback (on-timer) | {nw:.0} | {nn:.1} | {:.0}x |", nw / nn.max(0.001));

    // Idle instances: started, subscribed, waiting.
    let before = rss_bytes();
    let mut kept = Vec::with_capacity(instances);
    for _ in 0..instances {
        kept.push(instance(&engine, &mm));
    }
    let after = rss_bytes();
    let per = (after.saturating_sub(before)) / instances as u64;
    let linear: u64 = kept.iter_mut().map(|i| i.ctx().stats.memory.load(std::sync::atomic::Ordering::Relaxed)).sum::<u64>() / instances as u64;
    println!();
    println!("| idle instances | resident growth per instance | linear memory per instance | instances per GiB (resident) |");
    println!("|---:|---:|---:|---:|");
    println!("| {instances} | {} KiB | {} KiB | {} |", per / 1024, linear / 1024, (1u64 << 30) / per.max(1));

    let ((wp50, wp99), (np50, np99)) = tick_to_order(dir.join("tick_order.wasm"), ticks, 3);
    println!();
    println!("tick to order (sim quote on the bus → order acknowledged on the bus), {ticks} orders per run, 3 runs, medians");
    println!("| path | p50 µs | p99 µs | p50 vs native | p99 vs native |");
    println!("|---|---:|---:|---:|---:|");
    println!("| native task on the bus, `Gateway::submit` (baseline) | {np50:.0} | {np99:.0} | 1.00x | 1.00x |");
    println!("| wasm strategy in the live runner | {wp50:.0} | {wp99:.0} | {:.2}x | {:.2}x |", wp50 / np50.max(0.001), wp99 / np99.max(0.001));
}
