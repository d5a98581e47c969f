//! Adapter boundary benchmark: the order round trip through a dynamic library against the same
//! simulator linked in, and the gap a hot swap leaves in the order flow.
//!
//! `cargo bench -p txtrader-host --bench adapters [-- ORDERS SWAPS DAY]`
//!
//! Builds the simulator as a release `.so` (in `target/adapter-builds`), then runs the gateway
//! core in-process three times, each with one simulator instance reached a different way:
//! - **linked**: the simulator crate called directly through its `Adapter` trait (the baseline);
//! - **built-in C ABI**: the same linked code through its exported C descriptor (requests and
//!   events serialized, function pointers, panics caught), as txtraderd runs its built-in sim;
//! - **dylib**: the `.so` opened with libloading, as an adapter dropped into the folder.
//!
//! `--day-only` runs only the swap gap's last row; DAY 0 leaves that row out. `BENCH_LOG=1`
//! (with `RUST_LOG`) prints the gateway's log.
//!
//! Each places ORDERS (default 2000; 0 skips this part) market orders one after another (latency: submit until the
//! broker's first answer reaches the caller), then 16 concurrent callers order for 2 s
//! (throughput). Three rounds, the variants in a different order each round; ratios are against
//! the linked run of the same round.
//!
//! Swap gap: on the dylib, its books durable as by default (`exchange.sqlite` in a folder under
//! `target/`), with 0, 1000 and 5000 orders resting on the exchange (the open books it hands
//! over grow with them), and with 5000 resting after DAY (default 100 000) orders of the day,
//! SWAPS reloads each (`reload_adapter`: the library read again, a new generation greeted, the
//! state exported, imported, routing switched) while a caller keeps placing orders; reported:
//! how long requests were held (from the gateway's `swapped` event) and the slowest order round
//! trip during the swaps against the median outside them.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use txtrader_host::adapters::{loader, AdapterSource, AdapterSpec};
use txtrader_host::gateway::bus::{Delivery, GatewayEvent};
use txtrader_host::gateway::{self, Gateway, GatewaySettings};
use txtrader_host::shutdown::Shutdown;
use txtrader_plugin_api::adapter::AdapterConfig;
use txtrader_plugin_api::model::{ConnectionStatus, OrderType, Price, Route};

#[path = "support/mod.rs"]
mod support;

use support::{median, order, pct, round_trip};

const ROUNDS: usize = 3;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().map(PathBuf::from).unwrap_or_default()
}

/// Builds the simulator as a release dynamic library and answers its path.
fn build_sim_library() -> PathBuf {
    let target = workspace().join("target/adapter-builds");
    let status = std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(workspace())
        .args(["build", "--release", "--locked", "--quiet", "--lib", "-p", "txtrader-adapter-sim", "--target-dir"])
        .arg(&target)
        .env_remove("TXTRADER_ADAPTER_BUILD_VERSION")
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the simulator library failed");
    target.join("release/libtxtrader_adapter_sim.so")
}

async fn start(source: AdapterSource) -> (Gateway, Shutdown, tokio::task::JoinHandle<()>) {
    start_in(source, None).await
}

/// The gateway with one simulator instance, its books in `data` (durable) or in memory.
async fn start_in(source: AdapterSource, data: Option<&std::path::Path>) -> (Gateway, Shutdown, tokio::task::JoinHandle<()>) {
    // the bench drives the core directly: no journal (its default folder needs HOME)
    let config = support::config(&[("TXTRADER_JOURNAL", "0")]);
    let adapter = AdapterConfig {
        instance: "sim".into(),
        settings: config.adapter_settings.get("sim").cloned().unwrap_or_default(),
        timezone: config.api_timezone.name().into(),
        data_dir: data.map(|d| d.display().to_string()),
        api: Default::default(),
        quote_fields: Default::default(),
    };
    let spec = AdapterSpec { name: "sim".into(), kind: "sim".into(), config: adapter, source };
    let mut settings = GatewaySettings::from_config(&config, Route { name: "DEMO".into(), params: None }, vec![spec]);
    settings.library_copy_dir = std::env::temp_dir().join(format!("txtrader-bench-{}", std::process::id()));
    let shutdown = Shutdown::new();
    let (gw, core) = gateway::spawn(settings, shutdown.clone());
    tokio::time::timeout(Duration::from_secs(10), gw.wait_status(|s| s == ConnectionStatus::Up)).await.expect("up");
    (gw, shutdown, core)
}

struct Run {
    p50: Duration,
    p99: Duration,
    rate: f64,
}

async fn measure(gw: &Gateway, orders: usize, secs: u64) -> Run {
    for i in 0..200 {
        round_trip(gw, i).await;
    }
    let mut lat = Vec::with_capacity(orders);
    for i in 0..orders {
        lat.push(round_trip(gw, i).await);
    }
    lat.sort();
    let start = Instant::now();
    let done = support::flood(gw, 16, start + Duration::from_secs(secs), usize::MAX).await;
    Run { p50: pct(&lat, 0.5), p99: pct(&lat, 0.99), rate: done as f64 / start.elapsed().as_secs_f64() }
}

async fn swap_gap(library: &loader::LoadedLibrary, resting: usize, day: usize, swaps: usize) {
    let data = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("adapters-bench-swap-{resting}-{day}"));
    let _ = std::fs::remove_dir_all(&data);
    let (gw, shutdown, core) = start_in(AdapterSource::library(library), Some(&data)).await;
    if day > 0 {
        // the day so far: market orders from 16 callers, filled at once
        let t = Instant::now();
        let n = support::flood(&gw, 16, Instant::now() + Duration::from_secs(3600), day).await;
        eprintln!("the day: {n} orders in {:.1} s", t.elapsed().as_secs_f64());
    }
    for i in 0..resting {
        let limit = OrderType::Limit { limit_price: Price::from_cents(105) };
        gw.submit(order(i, limit)).await.expect("resting");
    }
    // subscribed only now: the day's events would fill the queue, and a `swapped` event that
    // found it full would be lost in a gap
    let (mut events, _) = gw.subscribe(1 << 16).await.expect("subscribe");
    // a caller placing orders throughout
    let stop = Arc::new(AtomicBool::new(false));
    let probe = {
        let (gw, stop) = (gw.clone(), stop.clone());
        tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let took = round_trip(&gw, i).await;
                lat.push((started, took));
                i += 1;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            lat
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut held, mut whole) = (Vec::new(), Vec::new());
    let mut windows = Vec::new();
    for _ in 0..swaps {
        let t0 = Instant::now();
        let view = gw.reload_adapter("sim".into()).await.expect("swapped");
        windows.push((t0, Instant::now()));
        assert_eq!(view.state, "ready");
        loop {
            match events.recv().await.expect("bus") {
                Delivery::Item(e) => {
                    if let GatewayEvent::Adapter { event: "swapped", detail, .. } = &e.event {
                        held.push(detail["requests_held_us"].as_u64().unwrap_or(0) as f64 / 1e3);
                        whole.push(detail["swap_ms"].as_u64().unwrap_or(0));
                        break;
                    }
                }
                Delivery::Gap { .. } => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let lat = probe.await.expect("probe");
    let (mut during, mut outside): (Vec<Duration>, Vec<Duration>) = (Vec::new(), Vec::new());
    for (at, took) in lat {
        let end = at + took;
        if windows.iter().any(|(a, b)| end >= *a && at <= *b) { during.push(took) } else { outside.push(took) }
    }
    outside.sort();
    held.sort_by(f64::total_cmp);
    whole.sort_unstable();
    let worst = during.iter().max().copied().unwrap_or_default();
    println!(
        "| {resting} | {swaps} | {:.1} | {:.1} | {:.1} | {} | {} | {:.0} | {:.1} | {} |",
        held[held.len() / 2],
        held[(held.len() * 99 / 100).min(held.len() - 1)],
        held[held.len() - 1],
        whole[whole.len() / 2],
        during.len(),
        pct(&outside, 0.5).as_secs_f64() * 1e6,
        worst.as_secs_f64() * 1e3,
        gw.orders(txtrader_plugin_api::model::OrderClass::Order).await.expect("orders").len(),
    );
    shutdown.trigger(txtrader_host::shutdown::ExitReason::Requested("bench done".into()));
    let _ = core.await;
    let _ = std::fs::remove_dir_all(&data);
}

fn main() {
    if std::env::var_os("BENCH_LOG").is_some() {
        tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).with_writer(std::io::stderr).init();
    }
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    // 0 skips the round trips (the swap gap only)
    let orders = args.first().copied().unwrap_or(2000);
    let swaps = args.get(1).copied().unwrap_or(10).max(1);
    let day = args.get(2).copied().unwrap_or(100_000);
    let day_only = std::env::args().any(|a| a == "--day-only");
    let path = build_sim_library();
    let copies = std::env::temp_dir().join(format!("txtrader-bench-{}", std::process::id()));
    let library = loader::load(&path, &copies).expect("the simulator library loads");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        if orders == 0 {
            println!("(round trips skipped: ORDERS is 0)");
        }
        println!("order round trip: {orders} one after another (latency: submit -> first broker answer), then 16 callers for 2 s");
        println!("(throughput); {ROUNDS} rounds, variants in a different order each round; medians, ratio range in brackets\n");
        println!("| adapter | p50 µs | p99 µs | orders/s (16 callers) | vs linked |");
        println!("|---|---:|---:|---:|---:|");
        let names = ["linked (trait calls)", "built-in, through the C ABI", "dylib (.so via libloading)"];
        let source = |v: usize| match v {
            0 => AdapterSource::linked::<txtrader_adapter_sim::SimAdapter>(),
            1 => AdapterSource::builtin("sim").expect("built in"),
            _ => AdapterSource::library(&library),
        };
        let mut runs: Vec<Vec<Run>> = (0..3).map(|_| Vec::new()).collect();
        let mut ratios: Vec<Vec<f64>> = (0..3).map(|_| Vec::new()).collect();
        for round in 0..if orders == 0 { 0 } else { ROUNDS } {
            let mut rates = [0.0; 3];
            for k in 0..3 {
                let v = (k + round) % 3;
                let (gw, shutdown, core) = start(source(v)).await;
                let r = measure(&gw, orders, 2).await;
                rates[v] = r.rate;
                runs[v].push(r);
                shutdown.trigger(txtrader_host::shutdown::ExitReason::Requested("bench done".into()));
                let _ = core.await;
            }
            for v in 0..3 {
                ratios[v].push(rates[v] / rates[0]);
            }
        }
        for v in 0..if orders == 0 { 0 } else { 3 } {
            let us = |f: &dyn Fn(&Run) -> Duration| median(runs[v].iter().map(|r| f(r).as_secs_f64() * 1e6).collect());
            let rate = median(runs[v].iter().map(|r| r.rate).collect());
            let lo = ratios[v].iter().copied().fold(f64::MAX, f64::min);
            let hi = ratios[v].iter().copied().fold(f64::MIN, f64::max);
            println!(
                "| {} | {:.0} | {:.0} | {:.0} | {:.2}x ({lo:.2}–{hi:.2}) |",
                names[v],
                us(&|r| r.p50),
                us(&|r| r.p99),
                rate,
                median(ratios[v].clone())
            );
        }
        println!("\nswap gap: reload_adapter on the dylib (books durable) while a caller keeps ordering\n");
        println!("| resting orders | swaps | requests held p50 ms | held p99 ms | held max ms | whole swap p50 ms | orders during swaps | order p50 outside µs | slowest during ms | orders of the day |");
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        let rows: &[(usize, usize)] = match (day_only, day) {
            (true, _) => &[(5000, day)],
            (false, 0) => &[(0, 0), (1000, 0), (5000, 0)],
            (false, _) => &[(0, 0), (1000, 0), (5000, 0), (5000, day)],
        };
        for &(resting, day) in rows {
            swap_gap(&library, resting, day, swaps).await;
        }
    });
    let _ = std::fs::remove_dir_all(&copies);
}
