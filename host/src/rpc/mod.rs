//! The HTTP listener: the txTrader leaf routes and JSON-RPC 2.0, behind Basic authentication.
//!
//! Every request passes [`RequireAuth`] first (unknown paths included), then reaches its
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
pub mod listener;
pub mod response;

pub use app::App;

use crate::auth::Credentials;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use futures_util::future::Either;
use std::convert::Infallible;
use std::future::Ready;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::net::TcpListener;

/// The router: `/rpc` (and anything below it) is JSON-RPC; every other path is a leaf route,
/// dispatched on its first segment. Authentication wraps both.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/rpc", any(jsonrpc::rpc_call))
        .route("/rpc/{*rest}", any(jsonrpc::rpc_call))
        .fallback(http::leaf)
        .layer(RequireAuth::layer(app.auth.clone()))
        .with_state(app)
}

/// The middleware that refuses a request without the configured Basic credentials, whatever
/// its path, before any route sees it (`401 {"status":"Unauthorized"}`, logged with the peer).
/// A plain service over the router: no boxed future, no extractor.
#[derive(Clone, Debug)]
pub struct RequireAuth<S> {
    inner: S,
    credentials: Arc<Credentials>,
}

impl RequireAuth<()> {
    /// The layer that wraps a service in the check.
    pub fn layer(credentials: Arc<Credentials>) -> AuthLayer {
        AuthLayer(credentials)
    }
}

/// Wraps services in [`RequireAuth`].
#[derive(Clone, Debug)]
pub struct AuthLayer(Arc<Credentials>);

impl<S> tower::Layer<S> for AuthLayer {
    type Service = RequireAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireAuth { inner, credentials: self.0.clone() }
    }
}

impl<S> tower::Service<Request> for RequireAuth<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if self.credentials.check(request.headers()) {
            return Either::Right(self.inner.call(request));
        }
        let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.to_string()).unwrap_or_default();
        tracing::warn!(%peer, path = %request.uri().path(), "request refused: bad or missing credentials");
        Either::Left(std::future::ready(Ok(response::unauthorized())))
    }
}

/// Serves until the shutdown triggers; in-flight requests complete.
///
/// # Errors
/// An I/O error of the listener.
pub async fn serve(listener: TcpListener, app: App, limits: listener::Limits) -> std::io::Result<()> {
    let shutdown = app.shutdown.clone();
    listener::serve(listener, router(app), limits, async move {
        shutdown.wait().await;
    })
    .await
}
