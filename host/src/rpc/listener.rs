//! The HTTP listeners (plain and TLS): accept connections up to a cap in all and a cap per
//! remote address, serve each with hyper under a deadline for every request's headers (and for
//! the TLS handshake), and close them gracefully at shutdown.
//!
//! Written out rather than `axum::serve` because that gives no header deadline (a client
//! trickling a header byte at a time would hold a connection for ever) and no connection cap.
//! Body deadlines are the handlers' (see [`super::body`]); the peer's address reaches them as
//! axum's `ConnectInfo`, a TLS client certificate's subject as [`super::ClientCertificate`].

use super::ClientCertificate;
use crate::per_address::PerAddress;
use crate::tls::Tls;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

/// What the listeners allow.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// A request's headers must arrive within this (the first request's and each next one's on
    /// a kept-alive connection); so must a TLS handshake.
    pub header_timeout: Duration,
    /// Most open connections; past it a new connection is closed at once.
    pub max_connections: usize,
    /// Most open connections from one address.
    pub max_per_address: usize,
}

/// The places the HTTP listeners share: the plain and the TLS listener count together.
#[derive(Clone, Debug)]
pub struct Gate {
    limits: Limits,
    permits: Arc<Semaphore>,
    per_address: Arc<PerAddress>,
}

impl Gate {
    /// Places for `limits`.
    pub fn new(limits: Limits) -> Self {
        Self { limits, permits: Arc::new(Semaphore::new(limits.max_connections)), per_address: PerAddress::new(limits.max_per_address) }
    }
}

/// Serves `router` on `listener` (over TLS when `tls` is given) until `stop` resolves, then lets
/// open connections finish their request in progress.
///
/// # Errors
/// Never in practice: accept errors (out of descriptors) are logged and retried.
pub async fn serve(listener: TcpListener, router: Router, gate: Gate, tls: Option<Tls>, stop: impl Future<Output = ()>) -> std::io::Result<()> {
    let limits = gate.limits;
    // closing: told to every connection at shutdown; open: dropped by each when it is done
    let (closing_tx, closing_rx) = watch::channel(false);
    let (open_tx, open_rx) = watch::channel(());
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(cause = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = gate.per_address.take(peer.ip()) else {
            tracing::warn!(%peer, max = limits.max_per_address, "HTTP connection refused: too many connections from this address");
            drop(stream);
            continue;
        };
        let Ok(permit) = gate.permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, max = limits.max_connections, "HTTP connection refused: too many connections");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (router, tls, closing, open) = (router.clone(), tls.clone(), closing_rx.clone(), open_rx.clone());
        tokio::spawn(async move {
            let _held = (permit, slot, open);
            match tls {
                None => connection(TokioIo::new(stream), router, peer, None, limits, closing).await,
                Some(tls) => match tls.accept(stream, limits.header_timeout).await {
                    Ok((stream, cn)) => connection(TokioIo::new(stream), router, peer, Some(cn), limits, closing).await,
                    Err(e) => tracing::warn!(%peer, cause = %e, "TLS handshake failed"),
                },
            }
        });
    }
    drop(listener);
    let _ = closing_tx.send(true);
    drop(open_rx);
    open_tx.closed().await;
    Ok(())
}

/// One connection, until it or the listener closes.
async fn connection<I>(io: TokioIo<I>, router: Router, peer: SocketAddr, certificate: Option<Option<String>>, limits: Limits, mut closing: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = router.map_request(move |mut req: axum::http::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        if let Some(cn) = &certificate {
            req.extensions_mut().insert(ClientCertificate(cn.clone()));
        }
        req.map(axum::body::Body::new)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    let conn = builder.serve_connection(io, TowerToHyperService::new(service)).with_upgrades();
    tokio::pin!(conn);
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, cause = %e, "HTTP connection ended");
                }
                break;
            }
            _ = closing.changed() => conn.as_mut().graceful_shutdown(),
        }
    }
}
