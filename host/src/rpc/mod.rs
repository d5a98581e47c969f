//! The HTTP listener: the txTrader leaf routes and JSON-RPC 2.0, behind Basic authentication.
//!
//! # Layout
//! - [`http`]: one leaf route per command (GET or POST).
//! - [`jsonrpc`]: `POST /rpc`.
//! - [`auth`]: constant-time credential checks.
//! - [`response`]: the success body and the one error shape.

pub mod auth;
pub mod http;
pub mod jsonrpc;
pub mod response;

use crate::compat::commands::Ctx;
use crate::compat::CompatConfig;
use crate::config::LogSettings;
use crate::gateway::Gateway;
use crate::shutdown::Shutdown;
use auth::Credentials;
use axum::Router;
use chrono::{DateTime, Local};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

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
    /// Expected credentials.
    pub auth: Arc<Credentials>,
    /// Largest request body.
    pub max_body: usize,
    /// Logging switches.
    pub log: Arc<LogSettings>,
}

impl App {
    /// A command context for HTTP callers (other surfaces adjust client and subscriber).
    pub fn base_ctx(&self) -> Ctx {
        Ctx {
            gateway: self.gateway.clone(),
            strategies: self.strategies.clone(),
            compat: self.compat.clone(),
            shutdown: self.shutdown.clone(),
            started: self.started,
            client: String::new(),
            subscriber: crate::gateway::market::Subscriber::Http,
        }
    }

    fn ctx(&self, peer: SocketAddr) -> Ctx {
        Ctx { client: peer.to_string(), ..self.base_ctx() }
    }
}

/// The router: every path goes to the leaf handler, which dispatches on the first segment.
pub fn router(app: App) -> Router {
    Router::new().fallback(http::leaf).with_state(app)
}

/// Serves until the shutdown triggers; in-flight requests complete.
///
/// # Errors
/// An I/O error of the listener.
pub async fn serve(listener: TcpListener, app: App) -> std::io::Result<()> {
    let shutdown = app.shutdown.clone();
    axum::serve(listener, router(app).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown.wait().await;
        })
        .await
}
