//! Journal benchmark: what durability costs the order path, and how long recovery takes.
//!
//! `cargo bench -p txtrader-host --bench journal [-- ORDERS RECOVER]`
//!
//! Runs the whole daemon in-process (`txtrader_host::start`, the built-in sim, fill delay 0,
//! its own book in memory: `TXTRADER_SIM_DURABLE=0`) with the journal off (the baseline) and on (SQLite, group commit, in a temporary folder on
//! the same disk as the build), three rounds alternating. Each run places ORDERS (default 2000)
//! market orders one after another (latency: `Gateway::submit` until the broker's first answer
//! reaches the caller: with the journal on, the order is on disk before it goes to the broker,
//! and the acknowledgement before it reaches the caller), then 16 concurrent callers order for
//! 2 s (throughput: group commit gathers their records).
//!
//! Recovery: RECOVER (default 100 000) market orders are placed and filled with the journal on,
//! the daemon stops, and the journal is read back (`gateway::recovery::recover`, the start-up
//! path: every record checked and booked) three times; the median is reported.
//!
//! ORDERS 0 skips the first part. With `TXTRADER_BENCH_JOURNAL` naming a folder, the recovery
//! runs keep their journal there: placed once, then only read back (for profiling recovery).
//!
//! Compaction: the daemon is started on that journal and compacted twice, first keeping every
//! order (age limit one day: the checkpoint holds all the books), then archiving every closed
//! one (age limit 0). Each time: how long `compact_journal` took (journal commits wait for the
//! rotation meanwhile), the new journal file's size, and the recovery time from it.

use std::path::Path;
use std::time::{Duration, Instant};
use txtrader_host::config::Config;
use txtrader_host::journal::JournalSettings;
use txtrader_plugin_api::model::ConnectionStatus;

#[path = "support/mod.rs"]
mod support;

use support::{flood, median};

fn config(data: Option<&Path>) -> Config {
    config_with(data, &[])
}

fn config_with(data: Option<&Path>, extra: &[(&str, &str)]) -> Config {
    // the broker's own persistence is not the gateway's cost: the sim keeps its book in
    // memory in both runs
    let dir = data.map(|d| d.display().to_string());
    let mut env = vec![("TXTRADER_SIM_DURABLE", "0")];
    match &dir {
        Some(d) => env.push(("TXTRADER_DATA_DIR", d.as_str())),
        None => env.push(("TXTRADER_JOURNAL", "0")),
    }
    env.extend_from_slice(extra);
    support::config(&env)
}

/// (p50, p99, orders/s) of one run.
async fn measure(data: Option<&Path>, orders: usize) -> (Duration, Duration, f64) {
    support::round_trips(&config(data), 200, orders).await
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let orders = args.first().copied().unwrap_or(2000);
    let recover_orders = args.get(1).copied().unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let base = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"), Into::into);
    std::fs::create_dir_all(&base).expect("target dir");
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for round in 0..if orders == 0 { 0 } else { 3 } {
        for journal in if round % 2 == 0 { [false, true] } else { [true, false] } {
            let dir = tempfile::Builder::new().prefix("bench-journal-").tempdir_in(&base).expect("tmp");
            let r = rt.block_on(measure(journal.then_some(dir.path()), orders));
            if journal { &mut on } else { &mut off }.push(r);
        }
    }
    let summary = |v: &Vec<(Duration, Duration, f64)>| {
        (
            median(v.iter().map(|r| r.0.as_secs_f64() * 1e6).collect()),
            median(v.iter().map(|r| r.1.as_secs_f64() * 1e6).collect()),
            median(v.iter().map(|r| r.2).collect()),
        )
    };
    if orders > 0 {
    let (off50, off99, off_rate) = summary(&off);
    let (on50, on99, on_rate) = summary(&on);
    println!("{orders} sequential market orders per run, then 16 callers for 2 s; 3 runs alternating, medians; {} cores", std::thread::available_parallelism().map_or(1, |n| n.get()));
    println!("| journal | ack p50 µs | ack p99 µs | orders/s (16 callers) | p99 vs off | orders/s vs off |");
    println!("|---|---:|---:|---:|---:|---:|");
    println!("| off (baseline) | {off50:.0} | {off99:.0} | {off_rate:.0} | 1.00x | 1.00x |");
    println!("| on (SQLite, group commit) | {on50:.0} | {on99:.0} | {on_rate:.0} | {:.2}x | {:.2}x |", on99 / off99.max(0.001), on_rate / off_rate.max(0.001));
    }

    // Recovery of RECOVER journaled orders.
    let dir = tempfile::Builder::new().prefix("bench-recovery-").tempdir_in(&base).expect("tmp");
    let kept = std::env::var_os("TXTRADER_BENCH_JOURNAL").map(std::path::PathBuf::from);
    let (dir, reuse) = match &kept {
        Some(k) => (k.as_path(), k.join(txtrader_host::journal::FILE_NAME).exists()),
        None => (dir.path(), false),
    };
    let mut placed = if reuse { 0 } else { rt.block_on(async {
        let running = txtrader_host::start(&config(Some(dir))).await.expect("starts");
        running.gateway.wait_status(|s| s == ConnectionStatus::Up).await;
        let t = Instant::now();
        let n = flood(&running.gateway, 32, Instant::now() + Duration::from_secs(3600), recover_orders).await;
        println!();
        println!("placed {n} orders for the recovery run in {:.1} s", t.elapsed().as_secs_f64());
        running.shutdown.trigger(txtrader_host::shutdown::ExitReason::Requested("bench".into()));
        running.wait().await;
        n
    }) };
    let settings = JournalSettings { dir: dir.to_owned(), max_batch: 10_000 };
    let mut took = Vec::new();
    let (mut records, mut bytes) = (0, 0);
    for _ in 0..3 {
        let r = txtrader_host::gateway::recovery::recover(&settings, 20_000).expect("recovers");
        assert!(r.oms.orders().count() >= placed, "every order recovered");
        placed = placed.max(r.oms.orders().count());
        records = r.scan.records;
        took.push(r.took.as_secs_f64());
        drop(r);
        bytes = std::fs::metadata(settings.path()).map_or(0, |m| m.len());
    }
    let t = median(took);
    println!("| orders | journal records | journal size | recovery (median of 3) | orders/s recovered |");
    println!("|---:|---:|---:|---:|---:|");
    println!("| {placed} | {records} | {:.0} MiB | {t:.2} s | {:.0} |", bytes as f64 / f64::from(1 << 20), placed as f64 / t);
    if kept.is_some() {
        return;
    }

    // Compaction of those books, then recovery from the compacted journal.
    println!();
    println!("| compaction of {placed} filled orders | orders archived | compact_journal took | journal file after | recovery after | orders recovered |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (label, age) in [("keep all (age limit 1 day)", "86400"), ("archive closed (age limit 0)", "0")] {
        let extra = [("TXTRADER_JOURNAL_ARCHIVE_AFTER", age), ("TXTRADER_JOURNAL_COMPACT_EVERY", "0"), ("TXTRADER_JOURNAL_COMPACT_RECORDS", "0")];
        let (archived, took) = rt.block_on(async {
            let running = txtrader_host::start(&config_with(Some(dir), &extra)).await.expect("starts");
            running.gateway.wait_status(|s| s == ConnectionStatus::Up).await;
            let t = Instant::now();
            let c = running.gateway.compact_journal().await.expect("compacts");
            let took = t.elapsed();
            running.shutdown.trigger(txtrader_host::shutdown::ExitReason::Requested("bench".into()));
            running.wait().await;
            (c.archived_orders, took)
        });
        let bytes = std::fs::metadata(settings.path()).map_or(0, |m| m.len());
        let r = txtrader_host::gateway::recovery::recover(&settings, 20_000).expect("recovers");
        println!(
            "| {label} | {archived} | {:.2} s | {:.1} MiB | {:.3} s | {} |",
            took.as_secs_f64(),
            bytes as f64 / f64::from(1 << 20),
            r.took.as_secs_f64(),
            r.oms.orders().count()
        );
    }
}
