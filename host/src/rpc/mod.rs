//! The HTTP listener: the txTrader leaf routes and JSON-RPC 2.0, behind Basic authentication.
//!
//! Every request passes [`authenticate`] first (unknown paths included), then reaches its
//! route: `POST /rpc` (JSON-RPC) or a leaf route named after a command. Both translate onto the
//! same command table (`compat::commands`) and answer a failure as [`errors::classify`] says.
//!
//! # Layout
//! - [`app`]: what every handler shares.
//! - [`http`]: one leaf route per command (GET or POST).
//! - [`jsonrpc`]: JSON-RPC 2.0 on `/rpc`.
//! - [`body`]: request bodies up to the limit.
//! - [`errors`]: a command's failure as an HTTP status and a JSON-RPC code, in one table.
//! - [`response`]: the success body and the one error shape.

pub mod app;
pub mod body;
pub mod errors;
pub mod http;
pub mod jsonrpc;
pub mod response;

pub use app::App;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// The router: `/rpc` (and anything below it) is JSON-RPC; every other path is a leaf route,
/// dispatched on its first segment. Authentication wraps both.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/rpc", any(jsonrpc::rpc_call))
        .route("/rpc/{*rest}", any(jsonrpc::rpc_call))
        .fallback(http::leaf)
        .layer(axum::middleware::from_fn_with_state(app.clone(), authenticate))
        .with_state(app)
}

/// Refuses a request without the configured Basic credentials, whatever its path, before any
/// route sees it.
pub async fn authenticate(State(app): State<App>, ConnectInfo(peer): ConnectInfo<SocketAddr>, request: Request, next: Next) -> Response {
    if !app.auth.check(request.headers()) {
        tracing::warn!(%peer, path = %request.uri().path(), "request refused: bad or missing credentials");
        return response::unauthorized();
    }
    next.run(request).await
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
