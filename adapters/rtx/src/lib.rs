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
use std::thread::JoinHandle;
use txtrader_plugin_api::adapter::{Adapter, AdapterConfig, AdapterError, Host};
use txtrader_plugin_api::model::LinkState;
use txtrader_plugin_api::wire::{AdapterEvent, AdapterRequest};

/// The adapter kind (`TXTRADER_MODE=rtx`).
pub const NAME: &str = "rtx";

/// The RealTick adapter: a handle on its worker thread.
#[derive(Debug)]
pub struct Rtx {
    tx: mpsc::Sender<worker::Msg>,
    thread: Option<JoinHandle<()>>,
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>().map(|s| (*s).to_owned()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_else(|| "a panic".into())
}

impl Adapter for Rtx {
    const NAME: &'static str = NAME;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn create(config: AdapterConfig, host: Host) -> Result<Self, AdapterError> {
        let settings = settings::Settings::from_config(&config).map_err(|e| AdapterError::Config(e.0))?;
        let timezone = chrono_tz::Tz::from_str(&config.timezone).map_err(|e| AdapterError::Config(vec![format!("time zone {}: {e}", config.timezone)]))?;
        let (tx, rx) = mpsc::channel();
        let reporter = host.clone();
        let w = worker::Worker::new(settings, timezone, host, tx.clone());
        let thread = std::thread::Builder::new()
            .name("rtx-worker".into())
            .spawn(move || {
                // A panic in the worker is reported as a failed link, so the gateway restarts the
                // adapter, instead of a thread that silently stopped answering.
                if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.run(&rx))) {
                    let reason = format!("the adapter's worker thread panicked: {}", panic_text(&*p));
                    reporter.emit(&AdapterEvent::Link(LinkState::Failed { reason }));
                }
            })
            .map_err(|e| AdapterError::Failed(format!("cannot start the adapter's thread: {e}")))?;
        Ok(Self { tx, thread: Some(thread) })
    }

    fn handle(&mut self, request: AdapterRequest) -> Result<(), AdapterError> {
        self.tx.send(worker::Msg::Request(Box::new(request))).map_err(|_| AdapterError::Closed)
    }

    fn shutdown(&mut self) {
        let _ = self.tx.send(worker::Msg::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(feature = "export")]
txtrader_plugin_api::export_adapter!(Rtx);
