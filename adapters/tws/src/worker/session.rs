//! The session with TWS: connecting (greeting, `startApi`), readiness once the next order id
//! and the accounts arrived, the paced writer, and reconnection with capped backoff and jitter
//! after any disconnect.

use super::Worker;
use crate::connection::{self, Connection};
use crate::pacer::Pacer;
use std::time::{Duration, Instant};
use txtrader_plugin_api::adapter::LogLevel;
use txtrader_plugin_api::model::{AccountId, LinkState, Symbol};
use txtrader_plugin_api::wire::{AdapterEvent, ErrorCode};
use crate::proto::encode::Encoder;

/// The live session with TWS.
#[derive(Debug)]
pub(super) struct Live {
    pub(super) conn: Connection,
    pub(super) next_order_id: Option<i64>,
    pub(super) accounts: Option<Vec<AccountId>>,
    pub(super) ready: bool,
}

impl Worker {
    pub(super) fn connect(&mut self) {
        self.connections += 1;
        self.emit(AdapterEvent::Link(LinkState::Connecting));
        let (host, port) = (self.settings.host.clone(), self.settings.port);
        match connection::open(&host, port, self.connections, self.to_self.clone()) {
            Ok(conn) => {
                self.host.log(
                    LogLevel::Info,
                    &format!("connected to TWS at {host}:{port}, server version {} ({}); starting the API as client {}", conn.server_version, conn.connection_time, self.settings.client_id),
                );
                self.pacer = Pacer::new(self.settings.pace, Instant::now());
                let start = conn.encoder().start_api(self.settings.client_id);
                self.live = Some(Live { conn, next_order_id: None, accounts: None, ready: false });
                self.send(start);
                self.reconnect_at = None;
            }
            Err(reason) => self.schedule_reconnect(&reason),
        }
    }

    pub(super) fn schedule_reconnect(&mut self, reason: &str) {
        self.attempts = self.attempts.saturating_add(1);
        let base = Duration::from_secs(1u64 << self.attempts.saturating_sub(1).min(10)).min(self.settings.reconnect_max);
        // ±25% jitter, so several gateways do not reconnect in step after a TWS restart
        let nanos = u64::from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos()));
        let jitter = 0.75 + (nanos % 1000) as f64 / 2000.0;
        let wait = base.mul_f64(jitter);
        self.reconnect_at = Some(Instant::now() + wait);
        self.host.log(LogLevel::Warn, &format!("TWS not reachable ({reason}); trying again in {:.1} s", wait.as_secs_f64()));
        self.emit(AdapterEvent::Link(LinkState::Disconnected { reason: reason.to_owned() }));
    }

    pub(super) fn disconnected(&mut self, reason: String) {
        if let Some(live) = self.live.take() {
            let _ = live.conn.stream.shutdown(std::net::Shutdown::Both);
        }
        self.pacer.clear();
        for (_, (w, _)) in self.waiting.drain() {
            self.host.fail(w.request(), ErrorCode::NotConnected, format!("the connection to TWS was lost: {reason}"));
        }
        if let Some(g) = self.gathering.take() {
            for r in g.requests {
                self.host.fail(r, ErrorCode::NotConnected, format!("the connection to TWS was lost: {reason}"));
            }
        }
        for s in self.subs.values_mut() {
            s.req_id = None;
            s.bars_req = None;
            s.minute = None;
        }
        self.by_md_req.clear();
        self.by_bars_req.clear();
        self.attempts = 0;
        self.schedule_reconnect(&reason);
    }

    /// Both the next order id and the accounts arrived: the session is ready.
    pub(super) fn maybe_ready(&mut self) {
        let Some(live) = self.live.as_mut() else { return };
        if live.ready || live.next_order_id.is_none() || live.accounts.is_none() {
            return;
        }
        live.ready = true;
        self.attempts = 0;
        let enc = live.conn.encoder();
        self.send(enc.req_current_time());
        self.send(enc.req_market_data_type(self.settings.market_data_type));
        // market data the host subscribed to before: again, on the new connection
        let symbols: Vec<Symbol> = self.subs.keys().cloned().collect();
        for symbol in symbols {
            self.start_market_data(&symbol);
        }
        self.host.log(LogLevel::Info, "TWS session ready");
        self.emit(AdapterEvent::Link(LinkState::Connected));
    }

    /// The encoder of the live connection, if there is one.
    pub(super) fn encoder(&self) -> Option<Encoder> {
        self.live.as_ref().map(|l| l.conn.encoder())
    }

    pub(super) fn ready(&self) -> bool {
        self.live.as_ref().is_some_and(|l| l.ready)
    }

    pub(super) fn send(&mut self, frame: Vec<u8>) {
        self.pacer.push(frame);
        self.flush(Instant::now());
    }

    pub(super) fn flush(&mut self, now: Instant) {
        if self.live.is_none() {
            return;
        }
        let due = self.pacer.due(now);
        let mut failed = None;
        if let Some(live) = self.live.as_mut() {
            for frame in due {
                if let Err(e) = live.conn.write(&frame) {
                    failed = Some(format!("writing to TWS: {e}"));
                    break;
                }
            }
        }
        if let Some(reason) = failed {
            self.disconnected(reason);
        }
    }
}
