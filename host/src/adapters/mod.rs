//! Adapter instances as the gateway sees them: something that accepts encoded requests and
//! reports events on a channel.
//!
//! The gateway core owns one [`AdapterLink`] per adapter instance and talks to it only in
//! plugin-api wire messages. Built-in adapters are linked in ([`embedded`]) but still cross the
//! byte boundary, so they behave exactly as a dynamically loaded adapter will.

pub mod embedded;

use tokio::sync::mpsc;
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
    /// Stops the adapter and waits for its threads.
    fn shutdown(&mut self);
}

/// Events from an adapter, tagged with nothing: one channel per adapter instance.
pub type EventSender = mpsc::UnboundedSender<AdapterEvent>;

/// Creates a built-in adapter by kind.
///
/// # Errors
/// [`AdapterError::Config`] for an unknown kind or invalid settings.
pub fn start_builtin(kind: &str, config: &AdapterConfig, events: EventSender) -> Result<Box<dyn AdapterLink>, AdapterError> {
    match kind {
        "sim" => Ok(Box::new(embedded::Embedded::<txtrader_adapter_sim::SimAdapter>::create(config, events)?)),
        other => Err(AdapterError::Config(vec![format!("unknown adapter {other:?}")])),
    }
}
