//! The safe adapter interface: what a broker adapter implements and what it may call.
//!
//! An adapter is created with its configuration and a [`Host`] handle, receives
//! [`AdapterRequest`]s through [`Adapter::handle`], and reports everything (replies included)
//! through [`Host::emit`]. `handle` must return quickly: it enqueues work for the adapter's own
//! thread(s) and acknowledges; outcomes arrive later as events. An adapter never uses the host's
//! async runtime; it runs its own threads and stops and joins them in [`Adapter::shutdown`].
//!
//! Between the host and an adapter only bytes travel: [`create_from_bytes`] and
//! [`handle_bytes`] are the entry points the host calls (directly for built-in adapters, through
//! the C ABI for dynamic libraries), and [`EventSink::emit`] receives encoded events.

use crate::wire::{self, AdapterEvent, AdapterRequest, ErrorCode, ReplyBody, RequestId, WireError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// How an adapter is configured.
///
/// Fields are only ever added, each with `#[serde(default)]`; unknown fields are ignored, so an
/// adapter built against an older plugin-api reads a newer host's configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdapterConfig {
    /// The instance name (the adapter kind unless several instances run).
    pub instance: String,
    /// Adapter-specific settings: the `TXTRADER_<INSTANCE>_<KEY>` environment variables, keyed by
    /// lower-case `<key>`. The adapter validates them and refuses unknown keys.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// The feed time zone (`TXTRADER_API_TIMEZONE`), an IANA name.
    pub timezone: String,
    /// A folder this instance may keep durable state of its own in
    /// (`<TXTRADER_DATA_DIR>/adapters/<instance>`; the adapter creates it when it needs it).
    /// `None` when the gateway runs without a journal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<String>,
    /// The broker back-end's address from the gateway's own settings, for adapters that
    /// connect to one (an adapter's own settings override it).
    #[serde(default)]
    pub api: ApiEndpoint,
    /// Which optional quote fields the gateway shows its clients (`TXTRADER_ENABLE_TICKER`,
    /// `TXTRADER_ENABLE_HIGH_LOW`), for back-ends whose subscriptions name their fields.
    #[serde(default)]
    pub quote_fields: QuoteFields,
}

/// The optional quote fields the gateway's clients see. A back-end that subscribes by field
/// asks only for these; one that streams whole records ignores it. When the gateway does not
/// say (an older host), everything is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuoteFields {
    /// Bid and ask with their sizes (`TXTRADER_ENABLE_TICKER`).
    #[serde(default = "yes")]
    pub bid_ask: bool,
    /// The day's high and low (`TXTRADER_ENABLE_HIGH_LOW`).
    #[serde(default = "yes")]
    pub high_low: bool,
}

impl Default for QuoteFields {
    fn default() -> Self {
        Self { bid_ask: true, high_low: true }
    }
}

fn yes() -> bool {
    true
}

/// The back-end address and identity txtrader's original settings name: `TXTRADER_API_HOST`,
/// `TXTRADER_API_PORT`, `TXTRADER_API_CLIENT_ID`, `TXTRADER_API_ACCOUNT`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiEndpoint {
    /// Host name or address.
    #[serde(default)]
    pub host: String,
    /// Port, when `TXTRADER_API_PORT` was set (its default belongs to the original's RealTick
    /// back-end, so an adapter uses its own default otherwise).
    #[serde(default)]
    pub port: Option<u16>,
    /// Client id, for back-ends that tell API clients apart by one.
    #[serde(default)]
    pub client_id: i64,
    /// The default account.
    #[serde(default)]
    pub account: String,
}

/// Log severity for [`EventSink::log`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogLevel {
    /// Failures.
    Error,
    /// Suspicious conditions.
    Warn,
    /// Lifecycle.
    Info,
    /// Details.
    Debug,
    /// Everything.
    Trace,
}

/// The host side of the boundary: where an adapter's events and logs go.
///
/// Implementations must be thread-safe and non-blocking, and must never call back into the
/// adapter.
pub trait EventSink: Send + Sync + 'static {
    /// Receives one encoded [`AdapterEvent`].
    fn emit(&self, event: &[u8]);
    /// Receives one log line.
    fn log(&self, level: LogLevel, message: &str);
}

/// An adapter's handle on its host. Cheap to clone; usable from any thread.
#[derive(Clone)]
pub struct Host {
    sink: Arc<dyn EventSink>,
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host").finish_non_exhaustive()
    }
}

impl Host {
    /// Wraps a sink.
    pub fn new(sink: Arc<dyn EventSink>) -> Self {
        Self { sink }
    }

    /// Reports an event.
    pub fn emit(&self, event: &AdapterEvent) {
        self.sink.emit(&wire::encode_event(event));
    }

    /// Answers a request.
    pub fn reply(&self, request_id: RequestId, body: ReplyBody) {
        self.emit(&AdapterEvent::Reply { request_id, body });
    }

    /// Reports that a request failed.
    pub fn fail(&self, request_id: RequestId, code: ErrorCode, message: impl Into<String>) {
        self.emit(&AdapterEvent::Failed {
            request_id,
            error: WireError { code, message: message.into() },
        });
    }

    /// Logs through the host's logger.
    pub fn log(&self, level: LogLevel, message: &str) {
        self.sink.log(level, message);
    }
}

/// Why an adapter call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdapterError {
    /// The configuration is invalid; every problem is listed.
    #[error("invalid configuration: {}", .0.join("; "))]
    Config(Vec<String>),
    /// The request bytes could not be decoded.
    #[error("cannot decode: {0}")]
    Decode(String),
    /// The adapter was shut down.
    #[error("adapter is shut down")]
    Closed,
    /// Anything else.
    #[error("{0}")]
    Failed(String),
}

/// An adapter crate's version, for [`Adapter::VERSION`]: the crate's own, or the
/// `TXTRADER_ADAPTER_BUILD_VERSION` the build was stamped with (how an operator tells two builds
/// apart, e.g. `0.1.0+fix-rounding`). Expands in the adapter's crate, at its build.
#[macro_export]
macro_rules! adapter_version {
    () => {
        match option_env!("TXTRADER_ADAPTER_BUILD_VERSION") {
            Some(v) => v,
            None => env!("CARGO_PKG_VERSION"),
        }
    };
}

/// A broker adapter, in safe Rust.
pub trait Adapter: Send + 'static {
    /// The adapter kind, e.g. `sim`.
    const NAME: &'static str;
    /// The adapter's version.
    const VERSION: &'static str;

    /// Creates the adapter and starts its threads.
    ///
    /// # Errors
    /// [`AdapterError::Config`] listing every invalid setting.
    fn create(config: AdapterConfig, host: Host) -> Result<Self, AdapterError>
    where
        Self: Sized;

    /// Accepts one request. Returns at once; the outcome is reported through the host.
    ///
    /// # Errors
    /// [`AdapterError::Closed`] after shutdown, or another error when the request cannot even be
    /// queued.
    fn handle(&mut self, request: AdapterRequest) -> Result<(), AdapterError>;

    /// Stops the adapter and joins every thread it started. Idempotent.
    fn shutdown(&mut self);
}

/// Creates an adapter from encoded configuration (the boundary entry point).
///
/// # Errors
/// [`AdapterError::Decode`] for bad bytes, or whatever [`Adapter::create`] returns.
pub fn create_from_bytes<A: Adapter>(config: &[u8], host: Host) -> Result<A, AdapterError> {
    let config: AdapterConfig =
        serde_json::from_slice(config).map_err(|e| AdapterError::Decode(e.to_string()))?;
    A::create(config, host)
}

/// Hands encoded request bytes to an adapter (the boundary entry point).
///
/// # Errors
/// [`AdapterError::Decode`] for bad bytes, or whatever [`Adapter::handle`] returns.
pub fn handle_bytes<A: Adapter>(adapter: &mut A, request: &[u8]) -> Result<(), AdapterError> {
    let request = wire::decode_request(request).map_err(|e| AdapterError::Decode(e.to_string()))?;
    adapter.handle(request)
}

/// Encodes an adapter configuration for the boundary.
pub fn encode_config(config: &AdapterConfig) -> Vec<u8> {
    serde_json::to_vec(config).unwrap_or_default()
}
