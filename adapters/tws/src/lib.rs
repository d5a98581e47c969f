//! Interactive Brokers adapter: speaks the TWS socket API (text protocol, server versions
//! 176–178) to TWS or IB Gateway.
//!
//! - [`proto`]: the wire protocol (framing, encoding, decoding), checked byte for byte against
//!   IB's official client and fuzzed with random and truncated frames.
//! - [`connection`]: one TCP connection (greeting, version negotiation, reader thread).
//! - [`worker`]: the adapter's thread, a file per concern: the session and reconnection,
//!   market data, orders, snapshots for reconciliation; [`pacer`] keeps requests under IB's
//!   message rate.
//! - [`mapping`]: IB's vocabulary (order states, error codes, contracts…) to the gateway's
//!   domain, in one place.
//!
//! Settings are `TXTRADER_<INSTANCE>_*` (see [`settings`]); the address and client id default
//! to the gateway's `TXTRADER_API_HOST` / `TXTRADER_API_PORT` / `TXTRADER_API_CLIENT_ID`.

pub mod connection;
pub mod mapping;
pub mod pacer;
pub mod proto;
pub mod settings;
pub mod worker;

use std::str::FromStr;
use std::sync::mpsc;
use txtrader_plugin_api::adapter::{Adapter, AdapterConfig, AdapterError, Host};
use txtrader_plugin_api::wire::AdapterRequest;
use txtrader_plugin_api::worker_thread::WorkerThread;

/// The adapter kind (`TXTRADER_MODE=tws`).
pub const NAME: &str = "tws";

/// The adapter version: the crate version, or the `TXTRADER_ADAPTER_BUILD_VERSION` the build
/// was stamped with.
pub const VERSION: &str = txtrader_plugin_api::adapter_version!();

/// The TWS adapter: a handle on its worker thread.
#[derive(Debug)]
pub struct Tws {
    thread: WorkerThread<worker::Msg>,
}

impl Adapter for Tws {
    const NAME: &'static str = NAME;
    const VERSION: &'static str = VERSION;

    fn create(config: AdapterConfig, host: Host) -> Result<Self, AdapterError> {
        let settings = settings::Settings::from_config(&config).map_err(|e| AdapterError::Config(e.0))?;
        let timezone = chrono_tz::Tz::from_str(&config.timezone).map_err(|e| AdapterError::Config(vec![format!("time zone {}: {e}", config.timezone)]))?;
        let (tx, rx) = mpsc::channel();
        let w = worker::Worker::new(settings, timezone, host.clone(), tx.clone());
        let thread = WorkerThread::spawn("tws-worker", host, tx, move || w.run(&rx))?;
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
txtrader_plugin_api::export_adapter!(Tws);
