//! FIX adapter: an initiator for FIX 4.4 and 4.2 order routing, with its own session layer.
//!
//! - [`proto`]: the tag=value wire format (framing, checksum, encoding), fuzzed.
//! - [`session`]: the session layer — logon, heartbeats, sequence numbers in a durable store,
//!   resends and gap fills — as a state machine without I/O.
//! - [`book`]: the orders the session placed, and what the counterparty's reports make of
//!   them; [`mapping`]: FIX's vocabulary to the gateway's domain, in one place.
//! - [`connection`] (plain TCP or [`tls`]) and [`worker`]: the socket, and the thread that owns
//!   everything.
//!
//! Orders only: a FIX instance runs beside one that serves market data
//! (`TXTRADER_MODE=sim,fix=fix`). Settings are `TXTRADER_<INSTANCE>_*` (see [`settings`]).

pub mod book;
pub mod connection;
pub mod mapping;
pub mod proto;
pub mod session;
pub mod settings;
pub mod tls;
pub mod worker;

use std::sync::mpsc;
use txtrader_plugin_api::adapter::{Adapter, AdapterConfig, AdapterError, Host};
use txtrader_plugin_api::wire::AdapterRequest;
use txtrader_plugin_api::worker_thread::WorkerThread;

/// The adapter kind (`TXTRADER_MODE=…,fix`).
pub const NAME: &str = "fix";

/// The adapter version: the crate version, or the `TXTRADER_ADAPTER_BUILD_VERSION` the build
/// was stamped with.
pub const VERSION: &str = txtrader_plugin_api::adapter_version!();

/// The FIX adapter: a handle on its worker thread.
#[derive(Debug)]
pub struct Fix {
    thread: WorkerThread<worker::Msg>,
}

impl Adapter for Fix {
    const NAME: &'static str = NAME;
    const VERSION: &'static str = VERSION;

    fn create(config: AdapterConfig, host: Host) -> Result<Self, AdapterError> {
        let settings = settings::Settings::from_config(&config).map_err(|e| AdapterError::Config(e.0))?;
        let (tx, rx) = mpsc::channel();
        let w = worker::Worker::new(settings, &config.instance, config.data_dir.as_deref(), host.clone(), tx.clone()).map_err(AdapterError::Failed)?;
        let thread = WorkerThread::spawn("fix-worker", host, tx, move || w.run(&rx))?;
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
txtrader_plugin_api::export_adapter!(Fix);
