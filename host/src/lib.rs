//! txtraderd: a trading API gateway.
//!
//! A trader's program talks to txtraderd in one normalized world of symbols, quotes, bars,
//! orders, executions, positions and accounts; txtraderd talks to brokers through adapters. It
//! serves the original txTrader HTTP API (and JSON-RPC 2.0) so existing clients keep working.
//!
//! # Layout
//! - [`config`]: `TXTRADER_*` environment configuration.
//! - [`gateway`]: the core task (OMS, market data, accounts) and its handle.
//! - [`adapters`]: adapter instances behind the wire-message boundary.
//! - [`compat`]: txTrader argument conventions, commands and JSON shapes.
//! - [`rpc`]: the HTTP listener (leaf routes and JSON-RPC).
//! - [`stream`]: the netstring TCP stream (pushes and commands).
//! - [`shutdown`]: coordinated shutdown.

pub mod adapters;
pub mod compat;
pub mod config;
pub mod gateway;
pub mod rpc;
pub mod shutdown;
pub mod stream;

use compat::routes::parse_route;
use config::Config;
use gateway::GatewaySettings;
use shutdown::{ExitReason, Shutdown};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use txtrader_plugin_api::adapter::AdapterConfig;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The initial route is unusable.
    #[error("TXTRADER_API_ROUTE: {0}")]
    Route(String),
    /// The adapter refused to start.
    #[error("adapter {name}: {source}")]
    Adapter {
        /// Which adapter.
        name: String,
        /// Why.
        source: txtrader_plugin_api::adapter::AdapterError,
    },
    /// The gateway stopped while starting.
    #[error("the gateway stopped while starting")]
    Stopped,
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A started gateway: its handle, where it listens, and how to stop it.
#[derive(Debug)]
pub struct Running {
    /// The gateway handle.
    pub gateway: gateway::Gateway,
    /// The HTTP address actually bound.
    pub http_addr: SocketAddr,
    /// The stream address actually bound.
    pub tcp_addr: SocketAddr,
    /// The shutdown trigger.
    pub shutdown: Shutdown,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    core: tokio::task::JoinHandle<()>,
}

/// Starts the gateway: adapter, core and HTTP listener.
///
/// # Errors
/// [`StartError`] when the route, the adapter or the listener cannot be set up.
pub async fn start(config: &Config) -> Result<Running, StartError> {
    let shutdown = Shutdown::new();
    let route = parse_route(&serde_json::Value::from(config.api_route.as_str())).map_err(StartError::Route)?;
    let settings = GatewaySettings::from_config(config, route);
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let adapter_config = AdapterConfig {
        instance: settings.adapter.clone(),
        settings: settings.adapter_settings.clone(),
        timezone: config.api_timezone.name().to_owned(),
    };
    let link = adapters::start_builtin(&settings.adapter, &adapter_config, events_tx)
        .map_err(|source| StartError::Adapter { name: settings.adapter.clone(), source })?;
    tracing::info!(adapter = %settings.adapter, "adapter created");
    let (gateway, core) = gateway::spawn(settings, link, events_rx, shutdown.clone());

    let addr = SocketAddr::new(config.bind_address, config.http_port);
    let listener = TcpListener::bind(addr).await.map_err(|source| StartError::Bind { addr, source })?;
    let http_addr = listener.local_addr().map_err(|source| StartError::Bind { addr, source })?;
    let tcp = SocketAddr::new(config.bind_address, config.tcp_port);
    let tcp_listener = TcpListener::bind(tcp).await.map_err(|source| StartError::Bind { addr: tcp, source })?;
    let tcp_addr = tcp_listener.local_addr().map_err(|source| StartError::Bind { addr: tcp, source })?;
    let compat = compat::CompatConfig::from_config(config);
    let auth = Arc::new(rpc::auth::Credentials::new(&config.username, &config.password));
    let app = rpc::App {
        gateway: gateway.clone(),
        compat: Arc::new(compat.clone()),
        shutdown: shutdown.clone(),
        started: chrono::Local::now(),
        auth: auth.clone(),
        max_body: config.http_max_body,
        log: Arc::new(config.log.clone()),
    };
    let stream_settings = stream::StreamSettings::from_config(config);
    let hub = stream::hub::start(gateway.clone(), compat, stream_settings.replay, stream_settings.log_client_messages)
        .await
        .ok_or(StartError::Stopped)?;
    let env = stream::session::SessionEnv {
        ctx: app.base_ctx(),
        hub,
        auth,
        settings: Arc::new(stream_settings),
        greeting: stream::greeting().into(),
    };
    tokio::spawn(stream::serve(tcp_listener, env));
    let server = tokio::spawn(rpc::serve(listener, app));
    tracing::info!(%http_addr, %tcp_addr, "HTTP API and stream listening");
    Ok(Running { gateway, http_addr, tcp_addr, shutdown, server, core })
}

impl Running {
    /// Waits for the shutdown, then for the listener and the core (adapter included) to stop.
    pub async fn wait(self) -> ExitReason {
        let reason = self.shutdown.wait().await;
        tracing::info!(?reason, "shutting down");
        match tokio::time::timeout(Duration::from_secs(10), self.server).await {
            Ok(Ok(Err(e))) => tracing::error!(cause = %e, "HTTP listener failed"),
            Err(_) => tracing::warn!("HTTP listener did not stop within 10 s"),
            _ => {}
        }
        if tokio::time::timeout(Duration::from_secs(10), self.core).await.is_err() {
            tracing::warn!("gateway core did not stop within 10 s");
        }
        reason
    }
}
