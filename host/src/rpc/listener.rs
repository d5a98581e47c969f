//! The HTTP listener: accepts connections up to a cap, serves each with hyper under a deadline
//! for every request's headers, and closes them gracefully at shutdown.
//!
//! Written out rather than `axum::serve` because that gives no header deadline (a client
//! trickling a header byte at a time would hold a connection for ever) and no connection cap.
//! Body deadlines are the handlers' (see [`super::body`]); the peer's address reaches them as
//! axum's `ConnectInfo`.

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

/// What the listener allows.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// A request's headers must arrive within this (the first request's and each next one's on
    /// a kept-alive connection).
    pub header_timeout: Duration,
    /// Most open connections; past it a new connection is closed at once.
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `stop` resolves, then lets open connections finish
/// their request in progress.
///
/// # Errors
/// Never in practice: accept errors (out of descriptors) are logged and retried.
pub async fn serve(listener: TcpListener, router: Router, limits: Limits, stop: impl Future<Output = ()>) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
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
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, max = limits.max_connections, "HTTP connection refused: too many connections");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = router.clone().map_request(move |mut req: axum::http::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req.map(axum::body::Body::new)
        });
        let (mut closing, open) = (closing_rx.clone(), open_rx.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let _open = open;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
            let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)).with_upgrades();
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
        });
    }
    drop(listener);
    let _ = closing_tx.send(true);
    drop(open_rx);
    open_tx.closed().await;
    Ok(())
}
