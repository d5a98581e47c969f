//! What every HTTP handler shares: the gateway and strategy handles, rendering settings,
//! access control, limits, logging switches.

use crate::access::{Access, Principal};
use crate::compat::commands::Ctx;
use crate::compat::CompatConfig;
use crate::config::LogSettings;
use crate::gateway::Gateway;
use crate::shutdown::Shutdown;
use chrono::{DateTime, Local};
use std::net::SocketAddr;
use std::sync::Arc;

/// What every request handler shares.
#[derive(Clone, Debug)]
pub struct App {
    /// The gateway.
    pub gateway: Gateway,
    /// The strategy manager.
    pub strategies: crate::strategies::Strategies,
    /// Compat rendering settings.
    pub compat: Arc<CompatConfig>,
    /// The shutdown trigger.
    pub shutdown: Shutdown,
    /// Process start.
    pub started: DateTime<Local>,
    /// Who may sign in, and their rates.
    pub access: Access,
    /// Largest request body.
    pub max_body: usize,
    /// How long a request body may take to arrive.
    pub body_timeout: std::time::Duration,
    /// Logging switches.
    pub log: Arc<LogSettings>,
}

impl App {
    /// A command context for HTTP callers (other surfaces adjust client, subscriber and
    /// principal); it runs as the gateway itself until a caller's principal replaces it.
    pub fn base_ctx(&self) -> Ctx {
        Ctx {
            gateway: self.gateway.clone(),
            strategies: self.strategies.clone(),
            compat: self.compat.clone(),
            shutdown: self.shutdown.clone(),
            started: self.started,
            client: String::new(),
            subscriber: crate::gateway::market::Subscriber::Http,
            principal: Arc::new(Principal::superuser("txtraderd")),
        }
    }

    /// The command context of one HTTP caller.
    pub fn ctx(&self, peer: SocketAddr, principal: Arc<Principal>) -> Ctx {
        Ctx { client: peer.to_string(), principal, ..self.base_ctx() }
    }
}
