//! The adapter's thread: owns the connection, the session and the book; takes the host's
//! requests and the reader's messages from one channel and answers through the host.
//!
//! At start the store is replayed into the book. Once the host says hello the worker
//! connects and logs on; the link is `Connected` once the acceptor answered the Logon and
//! resent what the session missed, and OrderStatusRequests then ask about every order still
//! open. A dropped connection reconnects
//! after 1, 2, 4 … s (capped, with jitter); a session halted on sequence numbers (see
//! [`crate::session`]) stays down with an alert until its numbers are reset.
//!
//! `orders.rs` has the order side: placing, cancelling and replacing, the status requests,
//! and the replay of the store; `handover.rs` passes the session to a new build of the
//! adapter.

mod handover;
mod orders;

use crate::book::{Book, Outcome};
use crate::connection::{self, Connection, Wire};
use crate::mapping::Dialect;
use crate::proto::Message;
use crate::session::store::{Store, StoreError};
use crate::session::{Action, Session};
use crate::settings::Settings;
use chrono::Utc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};
use txtrader_plugin_api::adapter::{Host, LogLevel};
use txtrader_plugin_api::model::LinkState;
use txtrader_plugin_api::wire::{
    AdapterEvent, AdapterHello, AdapterRequest, AlertLevel, BrokerSnapshot, ErrorCode, ReplyBody, RequestBody,
    RequestId, FEATURE_MODIFY, FEATURE_STATE_HANDOVER, PROTOCOL_VERSION,
};

/// What reaches the worker.
pub type Msg = txtrader_plugin_api::worker_thread::WorkerMsg<Wire>;

/// The worker's state.
pub struct Worker {
    settings: Settings,
    host: Host,
    to_self: Sender<Msg>,
    session: Session,
    book: Book,
    live: Option<Connection>,
    connections: u64,
    attempts: u32,
    reconnect_at: Option<Instant>,
    greeted: bool,
    halted: bool,
    /// `Connected` was reported for the current logon.
    reported: bool,
    /// The instance name (names the book's ids).
    instance: String,
    /// The session's store folder (`None`: in memory).
    store_dir: Option<std::path::PathBuf>,
    /// Another generation holds the store: this one waits for it to hand the session over.
    standby: bool,
    /// A hand-over in progress: the host's request, answered once the session is logged out
    /// (export) or logged on and caught up (import, with when it started).
    exporting: Option<RequestId>,
    importing: Option<(RequestId, Instant)>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("phase", self.session.phase()).finish_non_exhaustive()
    }
}

impl Worker {
    /// Opens the session's store (in `data_dir`, or in memory) and replays it into the book.
    ///
    /// # Errors
    /// When the store cannot be opened or replayed.
    pub fn new(settings: Settings, instance: &str, data_dir: Option<&str>, host: Host, to_self: Sender<Msg>) -> Result<Self, String> {
        let c = &settings.session;
        Dialect::of(&c.begin_string).ok_or_else(|| format!("BeginString {}", c.begin_string))?;
        let store_dir = data_dir.map(|dir| std::path::Path::new(dir).join(format!("{}-{}-{}", c.begin_string, c.sender, c.target)));
        if store_dir.is_none() {
            host.log(LogLevel::Warn, "no data folder (the gateway runs without a journal): FIX sequence numbers are kept in memory and reset at every logon");
        }
        let placeholder = Session::new(settings.session.clone(), Store::in_memory(Utc::now().timestamp_millis()));
        let book = Book::new(instance, 0, Dialect::Fix44);
        let mut w = Self {
            settings,
            host,
            to_self,
            session: placeholder,
            book,
            live: None,
            connections: 0,
            attempts: 0,
            reconnect_at: None,
            greeted: false,
            halted: false,
            reported: false,
            instance: instance.to_owned(),
            store_dir,
            standby: false,
            exporting: None,
            importing: None,
        };
        match w.take_store() {
            Ok(()) => {}
            Err(StoreError::InUse(path)) => {
                // a running generation of this adapter holds the session: it hands it over
                w.host.log(LogLevel::Info, &format!("FIX store {path} is held by the running generation: waiting for it to hand the session over"));
                w.standby = true;
            }
            Err(e) => return Err(e.to_string()),
        }
        Ok(w)
    }

    /// Runs until told to stop.
    pub fn run(mut self, rx: &Receiver<Msg>) {
        loop {
            let now = Instant::now();
            if self.greeted && !self.halted && !self.standby && self.exporting.is_none() && self.live.is_none() && self.reconnect_at.is_none_or(|t| t <= now) {
                self.connect();
            }
            self.import_deadline(now);
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(Msg::Request(r)) => self.request(*r),
                Ok(Msg::Wire(Wire::Frame(n, bytes))) if self.is_current(n) => self.frame(&bytes),
                Ok(Msg::Wire(Wire::Garbled(n, e))) if self.is_current(n) => self.host.log(LogLevel::Warn, &format!("FIX: {e}")),
                Ok(Msg::Wire(Wire::Closed(n, reason))) if self.is_current(n) => self.disconnected(reason),
                Ok(Msg::Wire(_)) | Err(RecvTimeoutError::Timeout) => {}
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            }
            let actions = self.session.tick(Instant::now(), Utc::now());
            self.act(actions);
        }
        self.stop(rx);
    }

    /// Logs out (waiting up to 2 s for the answer) and closes.
    fn stop(&mut self, rx: &Receiver<Msg>) {
        if self.live.is_none() {
            return;
        }
        let actions = self.session.logout("txtrader stopping", Instant::now(), Utc::now());
        self.act(actions);
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.live.is_some() {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(Msg::Wire(Wire::Frame(n, bytes))) if self.is_current(n) => self.frame(&bytes),
                Ok(Msg::Wire(Wire::Closed(n, _))) if self.is_current(n) => break,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        if let Some(c) = self.live.take() {
            c.close();
        }
    }

    fn is_current(&self, n: u64) -> bool {
        self.live.as_ref().is_some_and(|c| c.number == n)
    }

    fn emit(&self, event: AdapterEvent) {
        self.host.emit(&event);
    }

    fn connect(&mut self) {
        self.connections += 1;
        self.emit(AdapterEvent::Link(LinkState::Connecting));
        match connection::open(&self.settings.host, self.settings.port, self.settings.tls.as_ref(), self.connections, self.to_self.clone()) {
            Ok(c) => {
                self.live = Some(c);
                self.reconnect_at = None;
                let actions = self.session.connected(Instant::now(), Utc::now());
                self.act(actions);
            }
            Err(e) => self.retry_later(e),
        }
    }

    fn retry_later(&mut self, reason: String) {
        let wait = txtrader_plugin_api::worker_thread::reconnect_wait(self.attempts, self.settings.reconnect_max);
        self.attempts = self.attempts.saturating_add(1);
        self.reconnect_at = Some(Instant::now() + wait);
        self.host.log(LogLevel::Warn, &format!("FIX session {}: {reason}; reconnecting in {wait:?}", self.describe()));
        self.emit(AdapterEvent::Link(LinkState::Disconnected { reason }));
    }

    fn describe(&self) -> String {
        let c = &self.settings.session;
        format!("{} {}->{} at {}:{}", c.begin_string, c.sender, c.target, self.settings.host, self.settings.port)
    }

    fn close(&mut self) {
        if let Some(c) = self.live.take() {
            c.close();
        }
        self.reported = false;
        self.session.closed();
    }

    fn disconnected(&mut self, reason: String) {
        self.close();
        if self.exporting.is_some() {
            self.finish_export();
        } else if !self.halted {
            self.retry_later(reason);
        }
    }

    fn frame(&mut self, bytes: &[u8]) {
        match Message::parse(bytes) {
            Ok(m) => {
                let actions = self.session.received(m, bytes, Instant::now(), Utc::now());
                self.act(actions);
            }
            Err(e) => self.host.log(LogLevel::Warn, &format!("FIX: an unreadable message skipped: {e}")),
        }
    }

    fn act(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Send(bytes) => self.write(&bytes),
                Action::Deliver(m) => {
                    let seq = m.seq().unwrap_or_default();
                    let outcome = self.book.received(seq, &m);
                    self.publish(outcome);
                }
                Action::Established => {
                    self.attempts = 0;
                    self.host.log(LogLevel::Info, &format!("FIX session {} logged on", self.describe()));
                }
                Action::Disconnect(reason) => {
                    if self.live.is_some() {
                        self.disconnected(reason);
                    }
                }
                Action::Halt(reason) => {
                    self.halted = true;
                    self.close();
                    let text = format!("FIX session {} halted: {reason}", self.describe());
                    self.host.log(LogLevel::Error, &text);
                    self.emit(AdapterEvent::Alert { level: AlertLevel::Error, code: None, message: text });
                    self.emit(AdapterEvent::Link(LinkState::Disconnected { reason }));
                }
                Action::Warn(text) => self.host.log(LogLevel::Warn, &format!("FIX: {text}")),
            }
        }
        // The link is up for the gateway once the session has caught up: its snapshot then
        // shows everything the counterparty reported, including what it had to resend.
        if !self.reported && self.session.caught_up() {
            self.reported = true;
            self.emit(AdapterEvent::Link(LinkState::Connected));
            // a hand-over's held requests wait on this answer; the status requests can follow
            self.finish_import();
            self.ask_status();
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        let Some(c) = self.live.as_mut() else { return };
        if let Err(e) = c.write(bytes) {
            self.disconnected(format!("writing to the acceptor: {e}"));
        }
    }

    fn publish(&self, outcome: Outcome) {
        for w in outcome.warnings {
            self.host.log(LogLevel::Warn, &format!("FIX: {w}"));
        }
        for e in outcome.events {
            self.emit(AdapterEvent::Order(e));
        }
    }

    fn request(&mut self, r: AdapterRequest) {
        let id = r.id;
        match r.body {
            RequestBody::Hello(_) => {
                let features = vec![FEATURE_MODIFY.to_owned(), FEATURE_STATE_HANDOVER.to_owned()];
                let hello = AdapterHello { protocol_version: PROTOCOL_VERSION, name: crate::NAME.into(), version: crate::VERSION.into(), features };
                self.host.reply(id, ReplyBody::Hello(hello));
                self.greeted = true;
            }
            RequestBody::Snapshot => {
                let snapshot = BrokerSnapshot {
                    accounts: self.settings.accounts.clone(),
                    balances: Vec::new(),
                    positions: self.book.positions(),
                    orders: self.book.snapshot_orders(),
                    executions: self.book.executions(),
                };
                self.host.reply(id, ReplyBody::Snapshot(snapshot));
            }
            RequestBody::SubmitOrder(o) => self.submit(o),
            RequestBody::CancelOrder { broker_order_id, client_order_id } => self.cancel(broker_order_id, client_order_id),
            RequestBody::ModifyOrder { broker_order_id, client_order_id, quantity, order_type } => self.modify(broker_order_id, client_order_id, quantity, order_type),
            RequestBody::Subscribe { .. } | RequestBody::Unsubscribe { .. } | RequestBody::Instrument { .. } | RequestBody::Bars { .. } | RequestBody::Account { .. } => {
                self.host.fail(id, ErrorCode::Unsupported, "the FIX adapter routes orders only: market data and account data come from another instance");
            }
            RequestBody::ExportState => self.export(id),
            RequestBody::ImportState { state } => self.import(id, &state),
            RequestBody::GlobalCancel | RequestBody::CopyState | RequestBody::Unknown => {
                self.host.fail(id, ErrorCode::Unsupported, "not supported by the FIX adapter");
            }
        }
    }
}
