//! Strategy benchmark: the cost of an event dispatched into a wasm strategy against the same
//! strategy compiled natively, and the memory an idle instance takes.
//!
//! `cargo bench -p txtrader-host --bench strategies [-- EVENTS INSTANCES]`
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

use rust_decimal::Decimal;
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use txtrader_host::strategies::engine::{Engine, Metering};
use txtrader_host::strategies::instance::{Clock, Ctx, Ids, Instance, Stats};
use txtrader_host::strategies::Manifest;
use txtrader_plugin_api::model::{Bar, BarInterval, Price, Quantity, Symbol, UnixNanos};

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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0) * 4096
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let events = args.first().copied().unwrap_or(20_000);
    let instances = args.get(1).copied().unwrap_or(200);
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
}
