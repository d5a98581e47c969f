//! Connection status: the gateway's lifecycle as clients see it, and an adapter's link state.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The gateway's status, as reported by `status` and `connection-status-changed`.
///
/// The normal path is `Startup → Pending → Initializing → Up`; from any state the gateway can
/// drop to `Disconnected` (the broker link was lost, reconnection is automatic) or `Shutdown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConnectionStatus {
    /// The process is starting; no adapter yet.
    Startup,
    /// The adapter is created and connecting to its broker.
    Pending,
    /// Connected; loading accounts, orders and executions.
    Initializing,
    /// Ready: every command is served.
    Up,
    /// The broker link was lost.
    Disconnected,
    /// The gateway is stopping.
    Shutdown,
}

impl ConnectionStatus {
    /// The status as its wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Startup => "Startup",
            Self::Pending => "Pending",
            Self::Initializing => "Initializing",
            Self::Up => "Up",
            Self::Disconnected => "Disconnected",
            Self::Shutdown => "Shutdown",
        }
    }
}

impl fmt::Display for ConnectionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of an adapter's link to its broker, as the adapter reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LinkState {
    /// Trying to reach the broker.
    Connecting,
    /// Connected and logged in.
    Connected,
    /// Lost; the adapter retries by itself.
    Disconnected {
        /// Why, in the broker's words where possible.
        reason: String,
    },
    /// The adapter cannot go on (an internal thread died); the host should restart it.
    Failed {
        /// Why.
        reason: String,
    },
    /// A state from a newer adapter.
    #[serde(other)]
    Unknown,
}
