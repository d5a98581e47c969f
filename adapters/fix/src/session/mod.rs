//! The FIX session layer (FIX 4.2 and 4.4): logon, heartbeats and test requests, sequence
//! numbers kept in the durable [`store`], resend requests answered with resends and gap
//! fills, gaps in what arrives requested, a counterparty's "too low" detected and halted on
//! instead of reconnected into again, and the logout handshake.
//!
//! [`Session`] is a state machine without sockets or threads: the worker feeds it what the
//! connection read, the ticks of its clock and the application messages to send, and carries
//! out the [`Action`]s it returns. That keeps every rule here testable on its own; the real
//! checks are the QuickFIX acceptors of the integration tests.

pub mod store;

use crate::proto::encode::{body_of, encode, utc_timestamp, Header};
use crate::proto::tags::{self, msg};
use crate::proto::Message;
use chrono::{DateTime, Utc};
use std::time::{Duration, Instant};
use store::{Store, StoreError};

/// When the session resets both sequence numbers to 1 (Logon with ResetSeqNumFlag 141=Y).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetPolicy {
    /// Never on its own: the numbers continue across reconnects and restarts.
    Never,
    /// At every logon.
    Always,
    /// At the first logon of each UTC day.
    Daily,
}

/// The session's identity and timing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// `FIX.4.4` or `FIX.4.2`.
    pub begin_string: String,
    /// Our CompID (49 on what we send).
    pub sender: String,
    /// The counterparty's CompID.
    pub target: String,
    /// HeartBtInt (108).
    pub heartbeat: Duration,
    /// When to reset the numbers.
    pub reset: ResetPolicy,
    /// How long a Logon may go unanswered.
    pub logon_timeout: Duration,
}

/// Where the session is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No connection.
    Disconnected,
    /// Logon sent on a new connection, not answered yet.
    LogonSent {
        /// When.
        at: Instant,
        /// With ResetSeqNumFlag.
        reset: bool,
    },
    /// Logged on: application messages flow.
    Active,
    /// Logout sent; waiting for the counterparty's.
    LogoutSent(Instant),
    /// Stopped for a reason a reconnect cannot fix (sequence numbers too low on one side):
    /// it waits for an operator to reset the numbers.
    Halted(String),
}

/// What the worker must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write these bytes to the connection.
    Send(Vec<u8>),
    /// An application message (or a session Reject) for the order layer, in sequence.
    Deliver(Message),
    /// The counterparty answered the Logon: the session is up (it may still be catching up on
    /// a resend: see [`Session::caught_up`]).
    Established,
    /// Close the connection; reconnect after a pause.
    Disconnect(String),
    /// Close the connection and do not reconnect.
    Halt(String),
    /// Something worth a warning in the log.
    Warn(String),
}

/// Why an application message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The session is not logged on.
    #[error("the FIX session is not logged on")]
    NotLoggedOn,
    /// The store could not record it (so it was not sent).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One FIX session.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    store: Store,
    phase: Phase,
    last_sent: Instant,
    last_received: Instant,
    test_request: Option<(String, Instant)>,
    test_requests: u64,
    /// A ResendRequest of ours is being answered, up to (not including) this number.
    resending_until: Option<u64>,
}

impl Session {
    /// A session over `store`, not connected.
    pub fn new(config: SessionConfig, store: Store) -> Self {
        let now = Instant::now();
        Self { config, store, phase: Phase::Disconnected, last_sent: now, last_received: now, test_request: None, test_requests: 0, resending_until: None }
    }

    /// Where the session is.
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// Whether application messages can be sent.
    pub fn is_active(&self) -> bool {
        self.phase == Phase::Active
    }

    /// Logged on, and not waiting for the counterparty to resend what this side missed: what
    /// the book says is as current as the counterparty's own account of it.
    pub fn caught_up(&self) -> bool {
        self.phase == Phase::Active && self.resending_until.is_none()
    }

    /// The store (sequence numbers, own records).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store, to write the adapter's own records.
    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// A new connection is open: logs on.
    pub fn connected(&mut self, now: Instant, wall: DateTime<Utc>) -> Vec<Action> {
        if let Phase::Halted(reason) = &self.phase {
            return vec![Action::Halt(reason.clone())];
        }
        let reset = match self.config.reset {
            ResetPolicy::Always => true,
            ResetPolicy::Daily => day(self.store.last_reset()) < day(wall.timestamp()),
            ResetPolicy::Never => !self.store.durable(),
        };
        if reset {
            if let Err(e) = self.store.reset_to(1, 1, wall.timestamp()) {
                return vec![Action::Disconnect(e.to_string())];
            }
        }
        self.test_request = None;
        self.resending_until = None;
        self.last_received = now;
        let heartbeat = self.config.heartbeat.as_secs().to_string();
        let mut body = vec![(tags::ENCRYPT_METHOD, "0".to_owned()), (tags::HEART_BT_INT, heartbeat)];
        if reset {
            body.push((tags::RESET_SEQ_NUM_FLAG, "Y".to_owned()));
        }
        self.phase = Phase::LogonSent { at: now, reset };
        match self.send(msg::LOGON, &body, now, wall, false) {
            Ok(bytes) => vec![Action::Send(bytes)],
            Err(e) => vec![Action::Disconnect(e.to_string())],
        }
    }

    /// The connection closed.
    pub fn closed(&mut self) {
        if !matches!(self.phase, Phase::Halted(_)) {
            self.phase = Phase::Disconnected;
        }
        self.test_request = None;
        self.resending_until = None;
    }

    /// Sends an application message.
    ///
    /// # Errors
    /// [`SendError`]: not logged on, or the store refused it (then nothing was sent).
    pub fn send_app(&mut self, msg_type: &str, body: &[(u32, String)], now: Instant, wall: DateTime<Utc>) -> Result<(u64, Vec<u8>), SendError> {
        if self.phase != Phase::Active {
            return Err(SendError::NotLoggedOn);
        }
        let seq = self.store.next_out();
        let bytes = self.send(msg_type, body, now, wall, true)?;
        Ok((seq, bytes))
    }

    /// Starts the logout handshake (the worker then waits for the answer, or [`Self::tick`]
    /// gives up after a few seconds).
    pub fn logout(&mut self, text: &str, now: Instant, wall: DateTime<Utc>) -> Vec<Action> {
        match self.phase {
            Phase::Active | Phase::LogonSent { .. } => {
                self.phase = Phase::LogoutSent(now);
                match self.send(msg::LOGOUT, &[(tags::TEXT, text.to_owned())], now, wall, false) {
                    Ok(bytes) => vec![Action::Send(bytes)],
                    Err(e) => vec![Action::Disconnect(e.to_string())],
                }
            }
            Phase::Disconnected | Phase::LogoutSent(_) | Phase::Halted(_) => Vec::new(),
        }
    }

    /// The clock: heartbeats, test requests, and the deadlines of logon, logout and a dead link.
    pub fn tick(&mut self, now: Instant, wall: DateTime<Utc>) -> Vec<Action> {
        let h = self.config.heartbeat;
        match self.phase.clone() {
            Phase::Disconnected | Phase::Halted(_) => Vec::new(),
            Phase::LogonSent { at, .. } if now.duration_since(at) >= self.config.logon_timeout => vec![Action::Disconnect(format!(
                "no Logon answer within {:?} (a QuickFIX acceptor closes silently on unknown CompIDs or BeginString: check {}->{} {})",
                self.config.logon_timeout, self.config.sender, self.config.target, self.config.begin_string
            ))],
            Phase::LogonSent { .. } => Vec::new(),
            Phase::LogoutSent(at) if now.duration_since(at) >= Duration::from_secs(2) => vec![Action::Disconnect("the Logout was not answered within 2 s".into())],
            Phase::LogoutSent(_) => Vec::new(),
            Phase::Active => {
                let mut out = Vec::new();
                match &self.test_request {
                    Some((id, at)) if now.duration_since(*at) >= h * 2 => {
                        return vec![Action::Disconnect(format!("no answer to TestRequest {id} within {:?}: the link is dead", h * 2))];
                    }
                    Some(_) => {}
                    None if now.duration_since(self.last_received) >= h + h / 5 + Duration::from_millis(500) => {
                        self.test_requests += 1;
                        let id = format!("TEST{}", self.test_requests);
                        match self.send(msg::TEST_REQUEST, &[(tags::TEST_REQ_ID, id.clone())], now, wall, false) {
                            Ok(bytes) => out.push(Action::Send(bytes)),
                            Err(e) => return vec![Action::Disconnect(e.to_string())],
                        }
                        self.test_request = Some((id, now));
                    }
                    None => {}
                }
                if now.duration_since(self.last_sent) >= h {
                    match self.send(msg::HEARTBEAT, &[], now, wall, false) {
                        Ok(bytes) => out.push(Action::Send(bytes)),
                        Err(e) => return vec![Action::Disconnect(e.to_string())],
                    }
                }
                out
            }
        }
    }

    /// A message read from the connection.
    pub fn received(&mut self, m: Message, raw: &[u8], now: Instant, wall: DateTime<Utc>) -> Vec<Action> {
        self.last_received = now;
        self.test_request = None;
        let mut out = Vec::new();
        if let Err(why) = self.addressed_to_us(&m) {
            out.extend(self.logout(&why, now, wall));
            out.push(Action::Disconnect(why));
            return out;
        }
        let Some(seq) = m.seq() else {
            out.extend(self.logout("MsgSeqNum missing", now, wall));
            out.push(Action::Disconnect(format!("a message without MsgSeqNum: {m}")));
            return out;
        };
        let t = m.msg_type().to_owned();
        let expected = self.store.next_in();
        match (self.phase.clone(), t.as_str()) {
            (Phase::Disconnected | Phase::Halted(_), _) => {}
            (Phase::LogonSent { reset, .. }, msg::LOGON) => {
                if m.flag(tags::RESET_SEQ_NUM_FLAG) && !reset {
                    // the acceptor resets on every logon: its numbers start again at 1
                    out.push(Action::Warn("the counterparty reset its sequence numbers at logon (ResetSeqNumFlag)".into()));
                    if let Err(e) = self.store.expect(1) {
                        return vec![Action::Disconnect(e.to_string())];
                    }
                }
                self.phase = Phase::Active;
                out.extend(self.sequenced(&m, raw, seq, now, wall));
                out.push(Action::Established);
            }
            (Phase::LogonSent { .. }, msg::LOGOUT) => out.extend(self.logged_out(&m, now, wall, false)),
            (Phase::LogonSent { .. }, other) => {
                out.push(Action::Disconnect(format!("the counterparty answered the Logon with MsgType {other}: {m}")));
            }
            (Phase::Active | Phase::LogoutSent(_), msg::SEQUENCE_RESET) if !m.flag(tags::GAP_FILL_FLAG) => {
                // SequenceReset-Reset: sets the number whatever this message's own
                match m.number(tags::NEW_SEQ_NO) {
                    Some(n) if n >= expected => {
                        if let Err(e) = self.store.expect(n) {
                            return vec![Action::Disconnect(e.to_string())];
                        }
                    }
                    n => out.push(Action::Warn(format!("SequenceReset to {n:?} below the expected {expected}: ignored"))),
                }
            }
            (Phase::Active | Phase::LogoutSent(_), _) => out.extend(self.sequenced(&m, raw, seq, now, wall)),
        }
        out
    }

    /// Checks a message's number, then handles it.
    fn sequenced(&mut self, m: &Message, raw: &[u8], seq: u64, now: Instant, wall: DateTime<Utc>) -> Vec<Action> {
        let expected = self.store.next_in();
        let t = m.msg_type();
        let mut out = Vec::new();
        if seq < expected {
            if m.flag(tags::POSS_DUP_FLAG) {
                return out; // a duplicate of what was processed
            }
            let why = format!("MsgSeqNum too low, expecting {expected} but received {seq}");
            out.extend(self.logout(&why, now, wall));
            self.phase = Phase::Halted(why.clone());
            out.push(Action::Halt(format!("{why}: the counterparty's numbers went back (a reset on its side); reset the session's numbers to go on")));
            return out;
        }
        if seq > expected {
            // messages were lost: ask for them (once per gap), but answer what cannot wait
            match t {
                msg::RESEND_REQUEST => out.extend(self.resend(m, now, wall)),
                msg::LOGOUT => return self.logged_out(m, now, wall, true),
                _ => {}
            }
            if self.resending_until.is_none() {
                out.push(Action::Warn(format!("MsgSeqNum gap: expected {expected}, received {seq}; asking for a resend")));
                self.resending_until = Some(seq + 1);
                let body = [(tags::BEGIN_SEQ_NO, expected.to_string()), (tags::END_SEQ_NO, "0".to_owned())];
                match self.send(msg::RESEND_REQUEST, &body, now, wall, false) {
                    Ok(bytes) => out.push(Action::Send(bytes)),
                    Err(e) => out.push(Action::Disconnect(e.to_string())),
                }
            }
            return out;
        }
        if self.resending_until.is_some_and(|u| seq + 1 >= u) {
            self.resending_until = None;
        }
        let application = !msg::is_admin(t) || t == msg::REJECT;
        if t == msg::SEQUENCE_RESET {
            // a gap fill in sequence: the next number is NewSeqNo
            match m.number(tags::NEW_SEQ_NO) {
                Some(n) if n > seq => {
                    if let Err(e) = self.store.expect(n) {
                        return vec![Action::Disconnect(e.to_string())];
                    }
                }
                n => {
                    out.push(Action::Warn(format!("GapFill to {n:?} at {seq}: ignored")));
                    if let Err(e) = self.store.received(seq, None) {
                        return vec![Action::Disconnect(e.to_string())];
                    }
                }
            }
            if self.resending_until.is_some_and(|u| self.store.next_in() >= u) {
                self.resending_until = None;
            }
            return out;
        }
        if let Err(e) = self.store.received(seq, application.then_some(raw)) {
            return vec![Action::Disconnect(e.to_string())];
        }
        match t {
            msg::HEARTBEAT | msg::LOGON | msg::SEQUENCE_RESET => {}
            msg::TEST_REQUEST => {
                let id = m.get(tags::TEST_REQ_ID).unwrap_or_default().to_owned();
                match self.send(msg::HEARTBEAT, &[(tags::TEST_REQ_ID, id)], now, wall, false) {
                    Ok(bytes) => out.push(Action::Send(bytes)),
                    Err(e) => out.push(Action::Disconnect(e.to_string())),
                }
            }
            msg::RESEND_REQUEST => out.extend(self.resend(m, now, wall)),
            msg::LOGOUT => out.extend(self.logged_out(m, now, wall, true)),
            _ => out.push(Action::Deliver(m.clone())),
        }
        out
    }

    /// The counterparty logged out: answer (unless we asked), and stop or halt.
    fn logged_out(&mut self, m: &Message, now: Instant, wall: DateTime<Utc>, answer: bool) -> Vec<Action> {
        let text = m.get(tags::TEXT).unwrap_or("").to_owned();
        let mut out = Vec::new();
        let ours = matches!(self.phase, Phase::LogoutSent(_));
        if answer && !ours {
            if let Ok(bytes) = self.send(msg::LOGOUT, &[], now, wall, false) {
                out.push(Action::Send(bytes));
            }
        }
        if text.contains("MsgSeqNum too low") {
            let why = format!("the counterparty logged out: {text}");
            self.phase = Phase::Halted(why.clone());
            out.push(Action::Halt(format!("{why} (our numbers are behind its; reset the session's numbers to go on)")));
        } else if ours {
            out.push(Action::Disconnect("logged out".into()));
        } else {
            out.push(Action::Disconnect(if text.is_empty() { "the counterparty logged out".into() } else { format!("the counterparty logged out: {text}") }));
        }
        out
    }

    /// Answers a ResendRequest: application messages resent as they were (PossDupFlag,
    /// OrigSendingTime), runs of session messages replaced by one gap fill.
    fn resend(&mut self, m: &Message, now: Instant, wall: DateTime<Utc>) -> Vec<Action> {
        let last = self.store.next_out().saturating_sub(1);
        let begin = m.number(tags::BEGIN_SEQ_NO).unwrap_or(1).max(1);
        let end = match m.number(tags::END_SEQ_NO) {
            Some(0) | None => last,
            Some(n) => n.min(last),
        };
        let mut out = vec![Action::Warn(format!("the counterparty asked for a resend of {begin}..{end}"))];
        let header = self.header_owned();
        let header = Header { begin_string: &header.0, sender: &header.1, target: &header.2 };
        let sending_time = utc_timestamp(wall);
        let mut gap_from: Option<u64> = None;
        let gap_fill = |from: u64, to: u64| {
            let extra = [(tags::POSS_DUP_FLAG, "Y"), (tags::ORIG_SENDING_TIME, sending_time.as_str())];
            encode(&header, msg::SEQUENCE_RESET, from, &sending_time, &extra, &[(tags::GAP_FILL_FLAG, "Y".into()), (tags::NEW_SEQ_NO, to.to_string())])
        };
        for seq in begin..=end {
            let stored = self.store.message(seq).and_then(|b| Message::parse(&b).ok());
            match stored.filter(|s| !msg::is_admin(s.msg_type())) {
                Some(original) => {
                    if let Some(from) = gap_from.take() {
                        out.push(Action::Send(gap_fill(from, seq)));
                    }
                    let orig_time = original.get(tags::SENDING_TIME).unwrap_or(&sending_time).to_owned();
                    let extra = [(tags::POSS_DUP_FLAG, "Y"), (tags::ORIG_SENDING_TIME, orig_time.as_str())];
                    out.push(Action::Send(encode(&header, original.msg_type(), seq, &sending_time, &extra, &body_of(&original))));
                }
                None => {
                    gap_from.get_or_insert(seq);
                }
            }
        }
        if let Some(from) = gap_from {
            out.push(Action::Send(gap_fill(from, end + 1)));
        }
        self.last_sent = now;
        out
    }

    fn header_owned(&self) -> (String, String, String) {
        (self.config.begin_string.clone(), self.config.sender.clone(), self.config.target.clone())
    }

    /// Encodes, stores and numbers a message of ours.
    fn send(&mut self, msg_type: &str, body: &[(u32, String)], now: Instant, wall: DateTime<Utc>, sync: bool) -> Result<Vec<u8>, StoreError> {
        let (b, s, t) = self.header_owned();
        let header = Header { begin_string: &b, sender: &s, target: &t };
        let bytes = encode(&header, msg_type, self.store.next_out(), &utc_timestamp(wall), &[], body);
        self.store.sent(&bytes, sync)?;
        self.last_sent = now;
        Ok(bytes)
    }

    fn addressed_to_us(&self, m: &Message) -> Result<(), String> {
        let c = &self.config;
        let (begin, sender, target) = (m.get(tags::BEGIN_STRING), m.get(tags::SENDER_COMP_ID), m.get(tags::TARGET_COMP_ID));
        if begin != Some(c.begin_string.as_str()) || sender != Some(c.target.as_str()) || target != Some(c.sender.as_str()) {
            return Err(format!(
                "a message for another session: {} {}->{} (this session is {} {}->{})",
                begin.unwrap_or("?"),
                sender.unwrap_or("?"),
                target.unwrap_or("?"),
                c.begin_string,
                c.target,
                c.sender
            ));
        }
        Ok(())
    }
}

/// The UTC day of a Unix time.
fn day(secs: i64) -> i64 {
    secs.div_euclid(86_400)
}

#[cfg(test)]
mod tests;
