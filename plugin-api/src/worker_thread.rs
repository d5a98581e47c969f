//! The thread an adapter does its work on, as [`crate::adapter`] asks of adapters: `handle`
//! only queues a message for it, `shutdown` stops and joins it, and a panic on it is reported
//! as a failed link (so the gateway restarts the adapter) instead of a thread that silently
//! stopped answering.

use crate::adapter::{AdapterError, Host};
use crate::model::LinkState;
use crate::wire::{AdapterEvent, AdapterRequest};
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;

/// The text of a panic's payload.
pub fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>().map(|s| (*s).to_owned()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_else(|| "a panic without a message".into())
}

/// How long to wait before reconnection attempt number `attempts` (0 for the first): 1, 2, 4 …
/// s, capped at `max`, plus up to a quarter of the wait (at most a quarter second) of jitter, so
/// that gateways restarted together spread out.
pub fn reconnect_wait(attempts: u32, max: std::time::Duration) -> std::time::Duration {
    use std::time::Duration;
    let wait = Duration::from_secs(1u64 << attempts.min(6)).min(max);
    let noise = u64::from(crate::model::UnixNanos::now().0.to_le_bytes()[1]);
    let jitter = Duration::from_millis(noise * u64::try_from(wait.as_millis().min(1000)).unwrap_or(1000) / 1024);
    wait + jitter
}

/// What reaches an adapter's worker: the host's requests, what its connection's reader read
/// (`W`, the adapter's own), and the order to stop.
// Nearly every message is a wire message: boxing those to shrink the rare others would
// allocate for each of them.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum WorkerMsg<W> {
    /// A request from the host.
    Request(Box<AdapterRequest>),
    /// Something from a connection's reader.
    Wire(W),
    /// Stop.
    Stop,
}

impl<W> From<W> for WorkerMsg<W> {
    fn from(w: W) -> Self {
        Self::Wire(w)
    }
}

/// An adapter's worker thread and the channel to it.
#[derive(Debug)]
pub struct WorkerThread<M: Send + 'static> {
    tx: Sender<M>,
    thread: Option<JoinHandle<()>>,
}

impl<M: Send + 'static> WorkerThread<M> {
    /// Starts `run` on a thread named `name`; `tx` is the sending end of the channel `run`
    /// reads.
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn spawn(name: &str, host: Host, tx: Sender<M>, run: impl FnOnce() + Send + 'static) -> Result<Self, AdapterError> {
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
                    let reason = format!("the adapter's worker thread panicked: {}", panic_text(&*p));
                    host.emit(&AdapterEvent::Link(LinkState::Failed { reason }));
                }
            })
            .map_err(|e| AdapterError::Failed(format!("cannot start the adapter's thread: {e}")))?;
        Ok(Self { tx, thread: Some(thread) })
    }

    /// Queues a message for the thread.
    ///
    /// # Errors
    /// [`AdapterError::Closed`] once the thread is gone.
    pub fn send(&self, message: M) -> Result<(), AdapterError> {
        self.tx.send(message).map_err(|_| AdapterError::Closed)
    }

    /// Sends `stop` and waits for the thread to end.
    pub fn stop(&mut self, stop: M) {
        let _ = self.tx.send(stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
