//! The netstring TCP stream of the original txTrader: live pushes and commands for
//! `txtrader-monitor` and every other client.
//!
//! # Layout
//! - [`codec`]: netstring framing with a length limit checked before allocation.
//! - [`hub`]: renders gateway events once and fans them out; keeps the replay buffer.
//! - [`session`]: one connection's protocol.
//! - this module: settings and the listener.

pub mod codec;
pub mod hub;
pub mod session;

use crate::config::Config;
use crate::per_address::{AddressSlot, PerAddress};
use crate::tls::Tls;
use session::SessionEnv;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// What to do with a session that falls behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlowClient {
    /// Tell it exactly what it missed and go on.
    Gap,
    /// Disconnect it.
    Disconnect,
}

/// Stream settings.
#[derive(Clone, Debug)]
pub struct StreamSettings {
    /// Largest inbound frame.
    pub max_frame: usize,
    /// Pushes queued per session before it misses some (sessions may ask for fewer with the
    /// `queue` option).
    pub queue: usize,
    /// Order, ticket and execution pushes kept for `resume`.
    pub replay: usize,
    /// Policy for sessions that fall behind.
    pub slow_client: SlowClient,
    /// A write blocked this long ends the session.
    pub write_timeout: Duration,
    /// Most concurrent authenticated sessions.
    pub max_sessions: usize,
    /// A connection not authenticated this long after connecting is closed.
    pub auth_timeout: Duration,
    /// Most connections waiting to authenticate at once (counted apart from the sessions, so
    /// idle or garbage connections never take an authenticated client's place).
    pub max_unauthenticated: usize,
    /// Log connects and disconnects at INFO.
    pub log_connections: bool,
    /// Log every message in and out.
    pub log_client_messages: bool,
}

impl StreamSettings {
    /// From the configuration.
    pub fn from_config(c: &Config) -> Self {
        Self {
            max_frame: c.stream.max_frame,
            queue: c.stream.queue,
            replay: c.stream.replay,
            slow_client: if c.stream.disconnect_slow { SlowClient::Disconnect } else { SlowClient::Gap },
            write_timeout: c.stream.write_timeout,
            max_sessions: c.stream.max_sessions,
            auth_timeout: c.stream.auth_timeout,
            max_unauthenticated: c.stream.max_unauthenticated,
            log_connections: c.log.cxn_events,
            log_client_messages: c.log.client_messages,
        }
    }
}

/// The places the stream listeners share (the plain and the TLS listener count together): the
/// two pools of [`Admission`], and the connections each address has waiting to authenticate.
#[derive(Clone, Debug)]
pub struct Gate {
    admission: Arc<Admission>,
    per_address: Arc<PerAddress>,
    next_id: Arc<AtomicU64>,
}

impl Gate {
    /// At most `max_per_address` connections from one address waiting to authenticate.
    pub fn new(max_per_address: usize) -> Self {
        Self { admission: Arc::new(Admission::default()), per_address: PerAddress::new(max_per_address), next_id: Arc::new(AtomicU64::new(0)) }
    }
}

/// Accepts connections (over TLS when `tls` is given) until the shutdown triggers.
pub async fn serve(listener: TcpListener, env: SessionEnv, gate: Gate, tls: Option<Tls>) {
    let shutdown = env.ctx.shutdown.clone();
    let stop = shutdown.wait();
    tokio::pin!(stop);
    let Gate { admission, per_address, next_id } = gate;
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of descriptors and the like: wait a little, keep serving.
                tracing::warn!(cause = %e, "stream accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let id = next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let Some(slot) = per_address.take(peer.ip()) else {
            tracing::warn!(%peer, max = per_address.max(), "stream connection refused: too many connections from this address waiting to authenticate");
            drop(stream);
            continue;
        };
        let Some(ticket) = Ticket::waiting(&admission, env.settings.max_unauthenticated, slot) else {
            tracing::warn!(%peer, max = env.settings.max_unauthenticated, "stream connection refused: too many connections waiting to authenticate");
            if tls.is_none() {
                tokio::spawn(refuse(stream, ".error: too many connections"));
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (env, tls) = (env.clone(), tls.clone());
        tokio::spawn(async move {
            match tls {
                None => session::run(Box::new(stream), peer, id, env, ticket, None).await,
                // the handshake counts against the time allowed to authenticate
                Some(tls) => match tls.accept(stream, env.settings.auth_timeout).await {
                    Ok((stream, cn)) => session::run(Box::new(stream), peer, id, env, ticket, cn).await,
                    Err(e) => tracing::warn!(%peer, cause = %e, "stream TLS handshake failed"),
                },
            }
        });
    }
}

async fn refuse(stream: tokio::net::TcpStream, why: &'static str) {
    use futures_util::SinkExt;
    let mut w = tokio_util::codec::FramedWrite::new(stream, codec::NetstringCodec::new(usize::MAX));
    let _ = tokio::time::timeout(Duration::from_secs(2), w.send(why)).await;
}

/// How many connections wait to authenticate and how many sessions are authenticated: two
/// pools, so a flood of connections that never authenticate fills only the first.
#[derive(Debug, Default)]
pub struct Admission {
    waiting: AtomicUsize,
    sessions: AtomicUsize,
}

/// One connection's place in [`Admission`], given back when it closes; while it waits to
/// authenticate, also its place among its address's.
#[derive(Debug)]
pub struct Ticket {
    admission: Arc<Admission>,
    authenticated: bool,
    slot: Option<AddressSlot>,
}

/// Takes one from `count` unless it is at `max`.
fn take(count: &AtomicUsize, max: usize) -> bool {
    count.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1)).is_ok()
}

impl Ticket {
    /// A place among the connections waiting to authenticate, unless `max` already wait.
    pub fn waiting(admission: &Arc<Admission>, max: usize, slot: AddressSlot) -> Option<Self> {
        take(&admission.waiting, max).then(|| Self { admission: admission.clone(), authenticated: false, slot: Some(slot) })
    }

    /// Moves to the authenticated sessions, unless `max` sessions are open; true when it is
    /// (or already was) one of them.
    pub fn authenticate(&mut self, max: usize) -> bool {
        if self.authenticated {
            return true;
        }
        if !take(&self.admission.sessions, max) {
            return false;
        }
        self.admission.waiting.fetch_sub(1, Ordering::AcqRel);
        self.authenticated = true;
        self.slot = None;
        true
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let pool = if self.authenticated { &self.admission.sessions } else { &self.admission.waiting };
        pool.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The `.connected` greeting.
pub fn greeting() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "localhost".into());
    let date = env!("TXTRADER_BUILD_DATE").split(' ').next().unwrap_or_default();
    format!(".connected: RTX Gateway {} {date} {} on {host}", env!("CARGO_PKG_VERSION"), crate::compat::LABEL)
}
