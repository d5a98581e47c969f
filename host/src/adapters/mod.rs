//! Adapter instances as the gateway sees them: something that accepts encoded requests and
//! reports events.
//!
//! Every adapter, built in or loaded from a library, runs behind the same C ABI ([`ffi`]):
//! the built-in simulator is linked in but still reached through its exported descriptor, so
//! the default configuration exercises the dynamic-library boundary every time it runs.
//! [`loader`] finds descriptors and validates them.

pub mod ffi;
pub mod loader;

use std::sync::Arc;
use txtrader_plugin_api::adapter::{AdapterConfig, AdapterError};
use txtrader_plugin_api::wire::{AdapterEvent, AdapterRequest};

/// A running adapter instance.
pub trait AdapterLink: Send {
    /// The instance name.
    fn name(&self) -> &str;
    /// Hands one request to the adapter. Returns as soon as the adapter has queued it.
    ///
    /// # Errors
    /// The adapter's refusal (closed, undecodable, panicked).
    fn send(&mut self, request: &AdapterRequest) -> Result<(), AdapterError>;
    /// True once the adapter panicked: it must be restarted.
    fn faulted(&self) -> bool {
        false
    }
    /// Stops the adapter and waits for its threads.
    fn shutdown(&mut self);
}

/// Where an instance's events go. Called from the adapter's threads; must not block.
pub type EventSink = Arc<dyn Fn(AdapterEvent) + Send + Sync>;

/// Events from one adapter instance, in order.
pub type EventSender = tokio::sync::mpsc::UnboundedSender<AdapterEvent>;

/// Creates a built-in adapter by kind.
///
/// # Errors
/// [`AdapterError::Config`] for an unknown kind or invalid settings.
pub fn start_builtin(kind: &str, config: &AdapterConfig, events: EventSender) -> Result<Box<dyn AdapterLink>, AdapterError> {
    let descriptor = loader::builtin(kind).ok_or_else(|| AdapterError::Config(vec![format!("unknown adapter {kind:?}")]))?;
    let sink: EventSink = Arc::new(move |e| {
        let _ = events.send(e);
    });
    Ok(Box::new(ffi::FfiAdapter::create(descriptor, config, sink)?))
}
