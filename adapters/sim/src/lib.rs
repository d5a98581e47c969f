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
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;
use txtrader_plugin_api::adapter::{Adapter, AdapterConfig, AdapterError, Host, LogLevel};
use txtrader_plugin_api::model::{LinkState, UnixNanos};
use txtrader_plugin_api::wire::{AdapterEvent, AdapterRequest};

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
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(format!("{}-exchange", config.instance))
            .spawn(move || run(sim, rx, host))
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

fn run(config: SimConfig, rx: mpsc::Receiver<Msg>, host: Host) {
    let result = catch_unwind(AssertUnwindSafe(|| event_loop(config, &rx, &host)));
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

fn event_loop(config: SimConfig, rx: &mpsc::Receiver<Msg>, host: &Host) {
    let tick = config.tick;
    let mut exchange = Exchange::new(config, UnixNanos::now());
    host.log(LogLevel::Info, "simulated exchange open");
    let emit = |events: Vec<AdapterEvent>| events.iter().for_each(|e| host.emit(e));
    let mut next_tick = next_boundary(UnixNanos::now(), tick);
    loop {
        let now = UnixNanos::now();
        let deadline = exchange.next_activation().map_or(next_tick, |a| a.min(next_tick));
        let wait = Duration::from_nanos(deadline.0.saturating_sub(now.0));
        match rx.recv_timeout(wait) {
            Ok(Msg::Request(request)) => emit(exchange.handle(*request, UnixNanos::now())),
            Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        let now = UnixNanos::now();
        emit(exchange.run_due(now));
        if now >= next_tick {
            emit(exchange.tick(now));
            next_tick = next_boundary(now, tick);
        }
    }
    host.log(LogLevel::Info, "simulated exchange closed");
}
