//! The simulated exchange adapter: txtrader's built-in default broker.
//!
//! A deterministic synthetic market (seeded random walks per symbol, synthetic history for any
//! past date) with a real matching engine, demo accounts whose cash and positions move with
//! fills, and a feed clock. It implements the plugin-api [`Adapter`] trait and talks to the host
//! only through wire messages, exactly like a broker adapter loaded from a dynamic library.
//!
//! # Layout
//! - [`config`]: `TXTRADER_SIM_*` settings, validated at once.
//! - `rng`, `instrument`, `history`: deterministic synthetic listings and bars.
//! - `market`: the live market of one symbol.
//! - [`engine`]: the exchange (accounts, order book, matching); pure, time passed in.
//! - [`store`]: its books on disk (SQLite rows), committed once per batch of requests.
//! - this module: the adapter, which runs the engine on its own thread.

pub mod config;
pub mod engine;
mod history;
mod instrument;
mod market;
mod rng;
pub mod store;

use config::SimConfig;
use engine::Exchange;
use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use store::Store;
use txtrader_plugin_api::adapter::{Adapter, AdapterConfig, AdapterError, Host, LogLevel};
use txtrader_plugin_api::model::{BrokerOrderId, Execution, ExecutionId, LinkState, UnixNanos};
use txtrader_plugin_api::wire::{AdapterEvent, AdapterRequest, BrokerSnapshot, OrderSnapshot, ReplyBody, RequestBody};

enum Msg {
    Request(Box<AdapterRequest>),
    Stop,
}

/// The adapter version: the crate version, or the `TXTRADER_ADAPTER_BUILD_VERSION` the build
/// was stamped with (how an operator tells two builds apart, e.g. `0.1.0+fix-rounding`).
pub const VERSION: &str = txtrader_plugin_api::adapter_version!();

/// The simulated exchange as an adapter.
#[derive(Debug)]
pub struct SimAdapter {
    tx: Option<mpsc::Sender<Msg>>,
    thread: Option<JoinHandle<()>>,
}

impl Adapter for SimAdapter {
    const NAME: &'static str = engine::NAME;
    const VERSION: &'static str = VERSION;

    fn create(config: AdapterConfig, host: Host) -> Result<Self, AdapterError> {
        let sim = SimConfig::from_settings(&config.settings, &config.timezone).map_err(AdapterError::Config)?;
        let keeping = match config.data_dir.as_ref().filter(|_| sim.durable) {
            Some(d) => Keeping::Disk(PathBuf::from(d).join(store::FILE_NAME)),
            None => Keeping::Memory,
        };
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(format!("{}-exchange", config.instance))
            .spawn(move || run(sim, keeping, rx, host))
            .map_err(|e| AdapterError::Failed(format!("cannot start the exchange thread: {e}")))?;
        Ok(Self { tx: Some(tx), thread: Some(thread) })
    }

    fn handle(&mut self, request: AdapterRequest) -> Result<(), AdapterError> {
        let tx = self.tx.as_ref().ok_or(AdapterError::Closed)?;
        tx.send(Msg::Request(Box::new(request))).map_err(|_| AdapterError::Closed)
    }

    fn shutdown(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Msg::Stop);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// The adapter library's entry point (and the descriptor the host uses for the built-in sim).
txtrader_plugin_api::export_adapter!(SimAdapter);

impl Drop for SimAdapter {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The next multiple of `tick` after `now`, so ticks land on wall-clock boundaries.
fn next_boundary(now: UnixNanos, tick: Duration) -> UnixNanos {
    let t = u64::try_from(tick.as_nanos()).unwrap_or(u64::MAX).max(1);
    UnixNanos((now.0 / t + 1) * t)
}

/// Where the exchange keeps its books.
#[derive(Debug, Clone)]
enum Keeping {
    /// `exchange.sqlite` in the instance's data folder.
    Disk(PathBuf),
    /// In memory: durability off, or no data folder.
    Memory,
}

impl Keeping {
    fn describe(&self) -> String {
        match self {
            Self::Disk(p) => p.display().to_string(),
            Self::Memory => "memory".into(),
        }
    }
}

/// Requests handled before their changes are stored together (one commit).
const MAX_BATCH: usize = 1000;
/// How often the markets (which move every tick) are stored with the books.
const MARKETS_EVERY: Duration = Duration::from_secs(10);

fn run(config: SimConfig, keeping: Keeping, rx: mpsc::Receiver<Msg>, host: Host) {
    let result = catch_unwind(AssertUnwindSafe(|| event_loop(config, &keeping, &rx, &host)));
    if let Err(panic) = result {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        host.log(LogLevel::Error, &format!("simulated exchange crashed: {what}"));
        // Failed, not Disconnected: this instance is gone; the host restarts the adapter.
        host.emit(&AdapterEvent::Link(LinkState::Failed { reason: format!("simulator crashed: {what}") }));
    }
}

/// Opens the store; with `load`, the exchange continues from what it kept (or from the file
/// of earlier versions, migrated once).
fn open_store(keeping: &Keeping, exchange: &mut Exchange, load: bool, host: &Host) -> Result<Store, String> {
    let mut store = match keeping {
        Keeping::Memory => Store::memory()?,
        Keeping::Disk(path) => {
            let legacy = path.with_file_name(store::LEGACY_FILE);
            let migrate = load && !path.exists() && legacy.exists();
            let mut store = Store::open(path)?;
            if migrate {
                let text = std::fs::read_to_string(&legacy).map_err(|e| format!("{}: {e}", legacy.display()))?;
                exchange.restore(&text).map_err(|e| format!("{}: {e}", legacy.display()))?;
                if let Some(changes) = exchange.take_changes(true) {
                    store.commit(&changes)?;
                }
                let done = legacy.with_extension("json.migrated");
                std::fs::rename(&legacy, &done).map_err(|e| format!("{}: {e}", legacy.display()))?;
                host.log(LogLevel::Info, &format!("exchange books migrated from {} into {} ({} kept as {})", legacy.display(), path.display(), legacy.display(), done.display()));
            }
            store
        }
    };
    if load {
        if let Some(kept) = store.kept()? {
            exchange.load(
                &kept.meta,
                kept.orders.iter().map(|(k, b)| (*k, b.as_str())),
                kept.accounts.iter().map(|(a, b)| (a.as_str(), b.as_str())),
                kept.markets.iter().map(|(m, b)| (m.as_str(), b.as_str())),
            )?;
            host.log(LogLevel::Info, &format!("exchange books restored from {}: {} open orders", keeping.describe(), exchange.order_count()));
        }
    } else {
        // handed over: the books are this generation's now. The previous generation stored
        // them in the same file before it handed them over; a store in memory is new.
        match keeping {
            Keeping::Disk(_) => exchange.mark_stored(),
            Keeping::Memory => {
                if let Some(changes) = exchange.take_changes(true) {
                    store.commit(&changes)?;
                }
            }
        }
    }
    exchange.forget_closed();
    Ok(store)
}

/// Stores what changed (with the markets when asked) and lets go of the closed orders.
fn store_changes(exchange: &mut Exchange, store: &mut Store, markets: bool) -> Result<(), String> {
    if let Some(changes) = exchange.take_changes(markets) {
        store.commit(&changes)?;
    }
    exchange.forget_closed();
    Ok(())
}

/// Completes a snapshot the exchange answered from its memory (open orders) with the day's
/// closed orders and executions from its store.
fn with_history(snapshot: &mut BrokerSnapshot, store: &Store, since: UnixNanos) -> Result<(), String> {
    let (orders, executions) = store.history(since.0)?;
    let held: HashSet<BrokerOrderId> = snapshot.orders.iter().map(|o| o.broker_order_id.clone()).collect();
    snapshot.orders.extend(orders.iter().filter_map(|b| Exchange::order_snapshot(b)).filter(|o| !held.contains(&o.broker_order_id)));
    // in time priority, as the exchange numbered them
    let number = |o: &OrderSnapshot| o.broker_order_id.as_str().rsplit_once('-').and_then(|(_, n)| u64::from_str_radix(n, 16).ok()).unwrap_or(0);
    snapshot.orders.sort_by_key(number);
    let seen: HashSet<ExecutionId> = snapshot.executions.iter().map(|x| x.exec_id.clone()).collect();
    let mut stored: Vec<Execution> = executions.iter().filter_map(|b| serde_json::from_str::<Execution>(b).ok()).filter(|x| !seen.contains(&x.exec_id)).collect();
    stored.append(&mut snapshot.executions);
    snapshot.executions = stored;
    Ok(())
}

fn event_loop(config: SimConfig, keeping: &Keeping, rx: &mpsc::Receiver<Msg>, host: &Host) {
    let tick = config.tick;
    let mut exchange = Exchange::new(config, UnixNanos::now());
    // The store opens at the host's first request past the greeting: until then the exchange
    // stays still (no ticks, no matching), because a generation started for a hot swap is about
    // to get the running one's books handed over, and the running one holds the store.
    let mut store: Option<Store> = None;
    let mut markets_saved = Instant::now();
    let fail = |reason: String| {
        host.log(LogLevel::Error, &reason);
        host.emit(&AdapterEvent::Link(LinkState::Failed { reason }));
    };
    host.log(LogLevel::Info, "simulated exchange open");
    let mut next_tick = next_boundary(UnixNanos::now(), tick);
    loop {
        let now = UnixNanos::now();
        let deadline = exchange.next_activation().map_or(next_tick, |a| a.min(next_tick));
        let wait = if store.is_none() { Duration::from_secs(3600) } else { Duration::from_nanos(deadline.0.saturating_sub(now.0)) };
        let mut batch = Vec::new();
        let mut stop = false;
        match rx.recv_timeout(wait) {
            Ok(Msg::Request(r)) => batch.push(r),
            Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => stop = true,
            Err(RecvTimeoutError::Timeout) => {}
        }
        // Group commit: what else is queued is handled now and stored with it.
        while !stop && !batch.is_empty() && batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Msg::Request(r)) => batch.push(r),
                Ok(Msg::Stop) | Err(mpsc::TryRecvError::Disconnected) => stop = true,
                Err(mpsc::TryRecvError::Empty) => break,
            }
        }
        let mut events = Vec::new();
        for request in batch {
            let greeting = matches!(request.body, RequestBody::Hello(_));
            let import = matches!(request.body, RequestBody::ImportState { .. });
            // (a generation holding a copy of the running one's books opens nothing either)
            if store.is_none() && !greeting && !import && !exchange.is_frozen() && !exchange.is_staged() {
                match open_store(keeping, &mut exchange, true, host) {
                    Ok(s) => store = Some(s),
                    Err(e) => {
                        // A broker that lost its books must not open as if it had none.
                        return fail(format!("the exchange's store is unusable ({e}); move {} aside to start with empty books", keeping.describe()));
                    }
                }
            }
            let snapshot = matches!(request.body, RequestBody::Snapshot);
            if let (true, Some(s)) = (snapshot, store.as_mut()) {
                // A snapshot is taken at a batch boundary: what the requests before it changed
                // is stored first, so the books in memory and the history in the store are the
                // same moment's (changes after it reach the host as events, after it).
                if let Err(e) = store_changes(&mut exchange, s, false) {
                    return fail(format!("cannot store the exchange's books in {}: {e}", keeping.describe()));
                }
            }
            let mut answered = exchange.handle(*request, UnixNanos::now());
            if let (true, Some(s)) = (snapshot, store.as_ref()) {
                let since = exchange.day_start(UnixNanos::now());
                for e in &mut answered {
                    if let AdapterEvent::Reply { body: ReplyBody::Snapshot(snapshot), .. } = e {
                        if let Err(e) = with_history(snapshot, s, since) {
                            return fail(format!("cannot read the exchange's books from {}: {e}", keeping.describe()));
                        }
                    }
                }
            }
            // an import refused leaves the store to whoever holds it
            let imported = import && answered.iter().any(|e| matches!(e, AdapterEvent::Reply { body: ReplyBody::Done, .. }));
            events.extend(answered);
            if store.is_none() && imported && !exchange.is_frozen() && !exchange.is_staged() {
                match open_store(keeping, &mut exchange, false, host) {
                    Ok(s) => store = Some(s),
                    Err(e) => return fail(format!("cannot store the handed-over books in {}: {e}", keeping.describe())),
                }
            }
            if exchange.is_frozen() {
                break; // handed over: what follows is refused by the next generation's turn
            }
        }
        let now = UnixNanos::now();
        if store.is_some() {
            events.extend(exchange.run_due(now));
            if now >= next_tick {
                events.extend(exchange.tick(now));
                next_tick = next_boundary(now, tick);
            }
        }
        // Like a real broker: what changed the books is on disk before anyone hears of it.
        if let Some(s) = store.as_mut() {
            let markets = stop || exchange.is_frozen() || markets_saved.elapsed() >= MARKETS_EVERY;
            if let Err(e) = store_changes(&mut exchange, s, markets) {
                return fail(format!("cannot store the exchange's books in {}: {e}", keeping.describe()));
            }
            if markets {
                markets_saved = Instant::now();
            }
        }
        if exchange.is_frozen() || stop {
            // the next generation opens the store once this one has closed it
            if let Some(s) = store.take() {
                s.close();
            }
        }
        events.iter().for_each(|e| host.emit(e));
        if stop {
            break;
        }
    }
    host.log(LogLevel::Info, "simulated exchange closed");
}
