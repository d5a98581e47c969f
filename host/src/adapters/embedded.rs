//! Built-in adapters behind the byte boundary.
//!
//! Requests are encoded and handed to the adapter's bytes entry point; events come back encoded
//! through an [`EventSink`] and are decoded here. A panic inside the adapter is caught and
//! reported as an error, never unwound into the gateway.

use super::{AdapterLink, EventSender};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use txtrader_plugin_api::adapter::{self, Adapter, AdapterConfig, AdapterError, EventSink, Host, LogLevel};
use txtrader_plugin_api::wire::{self, AdapterRequest};

/// Delivers an adapter's encoded events to the gateway core.
struct ChannelSink {
    name: String,
    events: EventSender,
}

impl EventSink for ChannelSink {
    fn emit(&self, event: &[u8]) {
        match wire::decode_event(event) {
            // A closed channel means the gateway is shutting down; nothing is waiting.
            Ok(ev) => {
                let _ = self.events.send(ev);
            }
            Err(e) => tracing::error!(adapter = %self.name, cause = %e, "undecodable event from adapter"),
        }
    }

    fn log(&self, level: LogLevel, message: &str) {
        let adapter = self.name.as_str();
        match level {
            LogLevel::Error => tracing::error!(adapter, "{message}"),
            LogLevel::Warn => tracing::warn!(adapter, "{message}"),
            LogLevel::Info => tracing::info!(adapter, "{message}"),
            LogLevel::Debug => tracing::debug!(adapter, "{message}"),
            LogLevel::Trace => tracing::trace!(adapter, "{message}"),
        }
    }
}

/// A linked-in adapter driven through encoded messages.
pub struct Embedded<A: Adapter> {
    name: String,
    adapter: A,
}

impl<A: Adapter> std::fmt::Debug for Embedded<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedded").field("name", &self.name).finish_non_exhaustive()
    }
}

impl<A: Adapter> Embedded<A> {
    /// Creates the adapter from its encoded configuration.
    ///
    /// # Errors
    /// Whatever the adapter's `create` reports, or a caught panic.
    pub fn create(config: &AdapterConfig, events: EventSender) -> Result<Self, AdapterError> {
        let sink = Arc::new(ChannelSink { name: config.instance.clone(), events });
        let bytes = adapter::encode_config(config);
        let adapter = catch_unwind(AssertUnwindSafe(|| adapter::create_from_bytes::<A>(&bytes, Host::new(sink))))
            .map_err(|_| AdapterError::Failed("adapter panicked while starting".into()))??;
        Ok(Self { name: config.instance.clone(), adapter })
    }
}

impl<A: Adapter> AdapterLink for Embedded<A> {
    fn name(&self) -> &str {
        &self.name
    }

    fn send(&mut self, request: &AdapterRequest) -> Result<(), AdapterError> {
        let bytes = wire::encode_request(request);
        catch_unwind(AssertUnwindSafe(|| adapter::handle_bytes(&mut self.adapter, &bytes)))
            .map_err(|_| AdapterError::Failed("adapter panicked while handling a request".into()))?
    }

    fn shutdown(&mut self) {
        if catch_unwind(AssertUnwindSafe(|| self.adapter.shutdown())).is_err() {
            tracing::error!(adapter = %self.name, "adapter panicked while shutting down");
        }
    }
}
