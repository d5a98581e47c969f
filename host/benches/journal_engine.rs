//! The journal's storage engine on its own: what its records cost beyond SQLite's.
//!
//! `cargo bench -p txtrader-host --bench journal_engine [-- RECORDS]`
//!
//! Records of 1 KiB of text (about an order event's size) with the engine's own settings (WAL,
//! `synchronous=FULL`) in a folder under `target/`. Baseline, in the same process: the same
//! rows inserted with plain `rusqlite` in one transaction per batch, no checksum, no writer
//! thread. Writes: RECORDS (default 20 000) records in batches of 1 (one commit, one fsync,
//! per record) and of 100 (group commit), throughput and per-commit latency (`flush` until the
//! writer reports the batch durable). Reads: the RECORDS records read back in order (the
//! engine checks each record's number and checksum and decodes it) against a plain `SELECT`.
//! Three rounds alternating; medians.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use txtrader_host::journal::{Journal, JournalSettings, Record};

#[path = "support/mod.rs"]
mod support;

use support::{median, pct};

/// A record as the gateway's entries look to the engine: a kind and a JSON body.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Blob {
    seq: u64,
    text: String,
}

impl Record for Blob {
    fn kind(&self) -> &'static str {
        "blob"
    }
    fn is_checkpoint(&self) -> bool {
        false
    }
    fn encode(&self) -> Result<String, String> {
        serde_json::to_string(self).map_err(|e| e.to_string())
    }
    fn decode(body: &str) -> Result<Self, String> {
        serde_json::from_str(body).map_err(|e| e.to_string())
    }
}

fn blob(seq: u64) -> Blob {
    Blob { seq, text: "x".repeat(1000) }
}

fn fresh(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench folder");
    dir
}

/// (records/s, commit p50, commit p99) through the engine.
fn engine_writes(dir: &Path, records: u64, batch: u64) -> (f64, Duration, Duration) {
    let settings = JournalSettings { dir: dir.to_owned(), max_batch: 10_000 };
    let (mut j, _) = Journal::<Blob>::open(&settings, |_, _| {}).expect("opens");
    let mut commits = Vec::new();
    let started = Instant::now();
    let mut seq = 0;
    while seq < records {
        let t = Instant::now();
        for _ in 0..batch.min(records - seq) {
            seq += 1;
            j.append(blob(seq));
        }
        j.flush();
        while j.durable() < seq {
            std::thread::yield_now();
        }
        commits.push(t.elapsed());
    }
    let rate = records as f64 / started.elapsed().as_secs_f64();
    j.close();
    commits.sort();
    (rate, pct(&commits, 0.50), pct(&commits, 0.99))
}

/// The same rows with plain rusqlite, one transaction per batch.
fn sqlite_writes(dir: &Path, records: u64, batch: u64) -> (f64, Duration, Duration) {
    let mut conn = rusqlite::Connection::open(dir.join("plain.sqlite")).expect("opens");
    conn.pragma_update(None, "journal_mode", "WAL").expect("wal");
    conn.pragma_update(None, "synchronous", "FULL").expect("full");
    conn.execute_batch("CREATE TABLE records (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL, crc INTEGER NOT NULL)")
        .expect("table");
    let mut commits = Vec::new();
    let started = Instant::now();
    let mut seq = 0u64;
    while seq < records {
        let t = Instant::now();
        let tx = conn.transaction().expect("tx");
        {
            let mut insert = tx.prepare_cached("INSERT INTO records (seq, kind, body, crc) VALUES (?1, ?2, ?3, 0)").expect("stmt");
            for _ in 0..batch.min(records - seq) {
                seq += 1;
                let body = serde_json::to_string(&blob(seq)).expect("json");
                insert.execute(rusqlite::params![seq as i64, "blob", body]).expect("insert");
            }
        }
        tx.commit().expect("commit");
        commits.push(t.elapsed());
    }
    let rate = records as f64 / started.elapsed().as_secs_f64();
    commits.sort();
    (rate, pct(&commits, 0.50), pct(&commits, 0.99))
}

/// Records/s read back through the engine (checked and decoded).
fn engine_reads(dir: &Path, records: u64) -> f64 {
    let settings = JournalSettings { dir: dir.to_owned(), max_batch: 10_000 };
    let started = Instant::now();
    let mut n = 0u64;
    let (j, scan) = Journal::<Blob>::open(&settings, |_, _| n += 1).expect("opens");
    let took = started.elapsed();
    assert_eq!((n, scan.records), (records, records));
    drop(j);
    records as f64 / took.as_secs_f64()
}

/// Records/s read back with a plain SELECT (bodies fetched, not decoded).
fn sqlite_reads(dir: &Path, records: u64) -> f64 {
    let started = Instant::now();
    let conn = rusqlite::Connection::open(dir.join("plain.sqlite")).expect("opens");
    let mut stmt = conn.prepare("SELECT seq, kind, body, crc FROM records ORDER BY seq").expect("stmt");
    let mut rows = stmt.query([]).expect("query");
    let mut n = 0u64;
    while let Some(row) = rows.next().expect("row") {
        let body: String = row.get(2).expect("body");
        n += u64::from(!body.is_empty());
    }
    assert_eq!(n, records);
    records as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let records: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("journal-engine-bench");
    println!("journal engine: {records} records of 1 KiB, batches of 1 and 100, 3 rounds alternating (medians)\n");
    println!("| writes | batch | records/s | commit p50 µs | commit p99 µs | records/s vs plain SQLite |");
    println!("|---|---:|---:|---:|---:|---:|");
    for batch in [1u64, 100] {
        // one record per commit is fsync-bound: fewer of them
        let n = if batch == 1 { records / 10 } else { records };
        let (mut plain, mut engine) = (Vec::new(), Vec::new());
        for round in 0..3 {
            let p = fresh(&root, &format!("plain-{batch}-{round}"));
            let e = fresh(&root, &format!("engine-{batch}-{round}"));
            if round % 2 == 0 {
                plain.push(sqlite_writes(&p, n, batch));
                engine.push(engine_writes(&e, n, batch));
            } else {
                engine.push(engine_writes(&e, n, batch));
                plain.push(sqlite_writes(&p, n, batch));
            }
        }
        let mid = |v: &mut Vec<(f64, Duration, Duration)>| {
            let rate = median(v.iter().map(|x| x.0).collect());
            v.sort_by_key(|x| x.1);
            (rate, v[1].1, v[1].2)
        };
        let (p, e) = (mid(&mut plain), mid(&mut engine));
        println!("| plain SQLite (baseline) | {batch} | {:.0} | {} | {} | 1.00x |", p.0, p.1.as_micros(), p.2.as_micros());
        println!("| journal engine | {batch} | {:.0} | {} | {} | {:.2}x |", e.0, e.1.as_micros(), e.2.as_micros(), e.0 / p.0);
    }
    let (mut plain, mut engine) = (Vec::new(), Vec::new());
    for round in 0..3 {
        let (p, e) = (root.join(format!("plain-100-{round}")), root.join(format!("engine-100-{round}")));
        plain.push(sqlite_reads(&p, records));
        engine.push(engine_reads(&e, records));
    }
    let (p, e) = (median(plain), median(engine));
    println!("\n| reads | records/s | vs plain SELECT |");
    println!("|---|---:|---:|");
    println!("| plain SELECT (baseline) | {p:.0} | 1.00x |");
    println!("| journal engine (checked, decoded) | {e:.0} | {:.2}x |", e / p);
    let _ = std::fs::remove_dir_all(&root);
}
