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
//! - this module: the adapter, which runs the engine on its own thread.

pub mod config;
pub mod engine;
mod history;
mod instrument;
mod market;
mod rng;

use config::SimConfig;
use engine::Exchange;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;
use txtrader_plugin_api::adapter::{Adapter, AdapterConfig, AdapterError, Host, LogLevel};
use txtrader_plugin_api::model::{LinkState, UnixNanos};
use txtrader_plugin_api::wire::{AdapterEvent, AdapterRequest, RequestBody};

enum Msg {
    Request(Box<AdapterRequest>),
    Stop,
}

/// The adapter version: the crate version, or the `TXTRADER_ADAPTER_BUILD_VERSION` the build
/// was stamped with (how an operator tells two builds apart, e.g. `0.1.0+fix-rounding`).
pub const VERSION: &str = match option_env!("TXTRADER_ADAPTER_BUILD_VERSION") {
    Some(v) => v,
    None => env!("CARGO_PKG_VERSION"),
};

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
        let store = config.data_dir.as_ref().filter(|_| sim.durable).map(|d| StateFile(PathBuf::from(d).join(STATE_FILE)));
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(format!("{}-exchange", config.instance))
            .spawn(move || run(sim, store, rx, host))
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

/// The exchange's own file inside the instance's data folder.
pub const STATE_FILE: &str = "exchange.json";

/// Where the exchange keeps its books, so a restarted gateway finds the broker as it left it
/// (and reconciles against it, as against a real broker).
#[derive(Debug)]
struct StateFile(PathBuf);

impl StateFile {
    /// The saved state, if any.
    fn load(&self) -> Result<Option<String>, String> {
        match std::fs::read_to_string(&self.0) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot read {}: {e}", self.0.display())),
        }
    }

    /// Replaces the file atomically and durably: a temporary file, fsynced, renamed over it,
    /// and the folder fsynced.
    fn save(&self, text: &str) -> std::io::Result<()> {
        let dir = self.0.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        // Each writer its own temporary file: during a hot swap two generations (two copies of
        // this library, each with its own statics) share the folder; their `StateFile`s differ.
        let tmp = self.0.with_extension(format!("json.{}-{:x}.tmp", std::process::id(), std::ptr::from_ref(self) as usize));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.0)?;
        std::fs::File::open(dir)?.sync_all()
    }
}

fn run(config: SimConfig, store: Option<StateFile>, rx: mpsc::Receiver<Msg>, host: Host) {
    let result = catch_unwind(AssertUnwindSafe(|| event_loop(config, store.as_ref(), &rx, &host)));
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

fn event_loop(config: SimConfig, store: Option<&StateFile>, rx: &mpsc::Receiver<Msg>, host: &Host) {
    let tick = config.tick;
    let mut exchange = Exchange::new(config, UnixNanos::now());
    // A book restored from disk stays still (no ticks, no matching) until the host's first
    // request beyond the greeting: a generation started for a hot swap is about to get the
    // running one's book handed over and must not trade on its stale copy meanwhile.
    let mut dormant = false;
    if let Some(store) = store {
        let restored = store.load().and_then(|text| text.map(|t| exchange.restore(&t)).transpose());
        match restored {
            Ok(Some(())) => {
                dormant = true;
                host.log(LogLevel::Info, &format!("exchange state restored from {}: {} orders", store.0.display(), exchange.order_count()));
            }
            Ok(None) => {}
            Err(e) => {
                // A broker that lost its books must not open as if it had none.
                let reason = format!("the exchange's state file is unusable ({e}); move {} aside to start with empty books", store.0.display());
                host.log(LogLevel::Error, &reason);
                host.emit(&AdapterEvent::Link(LinkState::Failed { reason }));
                return;
            }
        }
    }
    host.log(LogLevel::Info, "simulated exchange open");
    // Like a real broker: what changed the books is on disk before anyone hears of it.
    let emit = |exchange: &mut Exchange, events: Vec<AdapterEvent>| {
        let books_changed = exchange.take_dirty();
        if let Some(store) = store.filter(|_| books_changed && !exchange.is_frozen()) {
            if let Err(e) = store.save(&exchange.state_text()) {
                let reason = format!("cannot save the exchange state to {}: {e}", store.0.display());
                host.log(LogLevel::Error, &reason);
                host.emit(&AdapterEvent::Link(LinkState::Failed { reason }));
                return false;
            }
        }
        events.iter().for_each(|e| host.emit(e));
        true
    };
    let mut next_tick = next_boundary(UnixNanos::now(), tick);
    loop {
        let now = UnixNanos::now();
        let deadline = exchange.next_activation().map_or(next_tick, |a| a.min(next_tick));
        let wait = if dormant { Duration::from_secs(3600) } else { Duration::from_nanos(deadline.0.saturating_sub(now.0)) };
        let events = match rx.recv_timeout(wait) {
            Ok(Msg::Request(request)) => {
                dormant &= matches!(request.body, RequestBody::Hello(_));
                exchange.handle(*request, UnixNanos::now())
            }
            Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => Vec::new(),
        };
        let now = UnixNanos::now();
        let mut events = events;
        if !dormant {
            events.extend(exchange.run_due(now));
            if now >= next_tick {
                events.extend(exchange.tick(now));
                next_tick = next_boundary(now, tick);
            }
        }
        if !emit(&mut exchange, events) {
            return;
        }
    }
    host.log(LogLevel::Info, "simulated exchange closed");
}
