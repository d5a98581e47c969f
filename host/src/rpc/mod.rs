//! The HTTP API: the txTrader leaf routes and JSON-RPC 2.0, behind authentication.
//!
//! Every request passes [`RequireAuth`] first (unknown paths included), then reaches its
//! route: `POST /rpc` (JSON-RPC) or a leaf route named after a command. Both translate onto the
//! same command table (`compat::commands`), which checks the command's class against the
//! caller's roles, and answer a failure as [`errors::classify`] says.
//!
//! # Layout
//! - [`app`]: what every handler shares.
//! - [`http`]: one leaf route per command (GET or POST).
//! - [`jsonrpc`]: JSON-RPC 2.0 on `/rpc`.
//! - [`body`]: request bodies up to the limit.
//! - [`errors`]: a command's failure as an HTTP status and a JSON-RPC code, in one table.
//! - [`response`]: the success body and the one error shape.
//! - [`health`]: `/healthz` and `/readyz`, the only paths answered without credentials.

pub mod app;
pub mod body;
pub mod errors;
pub mod health;
pub mod http;
pub mod jsonrpc;
pub mod listener;
pub mod response;

pub use app::App;

use crate::access::credentials::Presented;
use crate::access::Access;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use axum::routing::{any, get};
use axum::Router;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::net::TcpListener;

/// The router: `/rpc` (and anything below it) is JSON-RPC; every other path is a leaf route,
/// dispatched on its first segment. Authentication wraps both; the health probes are outside
/// it.
pub fn router(app: App) -> Router {
    let probes = Router::new().route("/healthz", get(health::live)).route("/readyz", get(health::ready));
    Router::new()
        .route("/rpc", any(jsonrpc::rpc_call))
        .route("/rpc/{*rest}", any(jsonrpc::rpc_call))
        .fallback(http::leaf)
        .layer(RequireAuth::layer(app.access.clone()))
        .merge(probes)
        .with_state(app)
}

/// The middleware that admits a request before any route sees it, whatever its path: it finds
/// who is asking (a verified client certificate that names a user, else the `Authorization`
/// header's Basic or Bearer credentials), refuses a stranger with `401 {"status":"Unauthorized"}`
/// and a user over its rate with `429`, both logged with the peer, and hands the principal on to
/// the handlers as a request extension.
#[derive(Clone, Debug)]
pub struct RequireAuth<S> {
    inner: S,
    access: Access,
}

impl RequireAuth<()> {
    /// The layer that wraps a service in the check.
    pub fn layer(access: Access) -> AuthLayer {
        AuthLayer(access)
    }
}

/// Wraps services in [`RequireAuth`].
#[derive(Clone, Debug)]
pub struct AuthLayer(Access);

impl<S> tower::Layer<S> for AuthLayer {
    type Service = RequireAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireAuth { inner, access: self.0.clone() }
    }
}

/// The subject CN of a connection's verified client certificate (set by the TLS listener).
#[derive(Clone, Debug)]
pub struct ClientCertificate(pub Option<String>);

impl<S> tower::Service<Request> for RequireAuth<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        // the ready service goes with this request; its clone waits for the next
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let access = self.access.clone();
        Box::pin(async move {
            let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.to_string()).unwrap_or_default();
            let by_certificate = request
                .extensions()
                .get::<ClientCertificate>()
                .and_then(|c| c.0.as_deref())
                .and_then(|cn| access.authenticator.certificate(cn));
            let principal = match by_certificate {
                Some(p) => Some(p),
                None => {
                    let presented = Presented::from_headers(request.headers());
                    access.authenticator.presented(presented).await
                }
            };
            let Some(principal) = principal else {
                tracing::warn!(%peer, path = %request.uri().path(), "request refused: bad or missing credentials");
                return Ok(response::unauthorized());
            };
            if let Err(limited) = access.limiter.take(&principal) {
                tracing::warn!(%peer, user = %principal.name, path = %request.uri().path(), "request refused: {limited}");
                let rpc = request.uri().path() == "/rpc" || request.uri().path().starts_with("/rpc/");
                return Ok(response::too_many(&limited, rpc));
            }
            request.extensions_mut().insert(principal);
            inner.call(request).await
        })
    }
}

/// Serves until the shutdown triggers; in-flight requests complete.
///
/// # Errors
/// An I/O error of the listener.
pub async fn serve(listener: TcpListener, app: App, gate: listener::Gate, tls: Option<crate::tls::Tls>) -> std::io::Result<()> {
    let shutdown = app.shutdown.clone();
    listener::serve(listener, router(app), gate, tls, async move {
        shutdown.wait().await;
    })
    .await
}
