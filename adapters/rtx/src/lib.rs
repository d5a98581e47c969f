//! RealTick adapter: speaks RTGW, the gateway the original txTrader's RealTick back-end
//! (`TXTRADER_MODE=rtx`) talks to.
//!
//! - [`proto`]: the wire protocol (command lines out, JSON lines in), with no I/O; decoding is
//!   fuzzed with random and cut lines.
//! - [`connection`]: one TCP connection and its reader thread (bounded lines).
//! - [`mapping`]: RealTick's rows (accounts, positions, feed times, ORDERS rows) to the
//!   gateway's domain, in one place.
//! - [`session`]: the logical connections every command travels on, as state machines.
//! - [`settings`]: `TXTRADER_<INSTANCE>_*`, with the gateway's `TXTRADER_API_HOST` / `_PORT`.
//!
//! - [`worker`]: the adapter's thread: the session (start-up, the ORDERS advises, the feed
//!   clock, reconnection), orders and snapshots.
//!
//! Built as a dynamic library (`libtxtrader_adapter_rtx.so`), it is loaded from the adapter
//! folder as `TXTRADER_MODE=rtx`. Settings are `TXTRADER_<INSTANCE>_*` (see [`settings`]); the
//! address defaults to the gateway's `TXTRADER_API_HOST` / `TXTRADER_API_PORT`, as the
//! original's RTGW settings.

pub mod connection;
pub mod mapping;
pub mod proto;
pub mod session;
pub mod settings;
pub mod worker;

use std::str::FromStr;
use std::sync::mpsc;
use txtrader_plugin_api::adapter::{Adapter, AdapterConfig, AdapterError, Host};
use txtrader_plugin_api::wire::AdapterRequest;
use txtrader_plugin_api::worker_thread::WorkerThread;

/// The adapter kind (`TXTRADER_MODE=rtx`).
pub const NAME: &str = "rtx";

/// The adapter version: the crate version, or the `TXTRADER_ADAPTER_BUILD_VERSION` the build
/// was stamped with.
pub const VERSION: &str = txtrader_plugin_api::adapter_version!();

/// The RealTick adapter: a handle on its worker thread.
#[derive(Debug)]
pub struct Rtx {
    thread: WorkerThread<worker::Msg>,
}

impl Adapter for Rtx {
    const NAME: &'static str = NAME;
    const VERSION: &'static str = VERSION;

    fn create(config: AdapterConfig, host: Host) -> Result<Self, AdapterError> {
        let settings = settings::Settings::from_config(&config).map_err(|e| AdapterError::Config(e.0))?;
        let timezone = chrono_tz::Tz::from_str(&config.timezone).map_err(|e| AdapterError::Config(vec![format!("time zone {}: {e}", config.timezone)]))?;
        let (tx, rx) = mpsc::channel();
        let w = worker::Worker::new(settings, timezone, host.clone(), tx.clone());
        let thread = WorkerThread::spawn("rtx-worker", host, tx, move || w.run(&rx))?;
        Ok(Self { thread })
    }

    fn handle(&mut self, request: AdapterRequest) -> Result<(), AdapterError> {
        self.thread.send(worker::Msg::Request(Box::new(request)))
    }

    fn shutdown(&mut self) {
        self.thread.stop(worker::Msg::Stop);
    }
}

#[cfg(feature = "export")]
txtrader_plugin_api::export_adapter!(Rtx);
