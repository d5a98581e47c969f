//! The FIX adapter's session layer, driven message by message against QuickFIX's own session
//! layer (Debian's C++ `executor`, FIX 4.2 and 4.4) on loopback: the session cases of
//! `../shared/spec/fix.md`, section 6. The test plays the worker: it carries the session's
//! actions to a socket, and can hold back heartbeats or rewind the store's numbers to bring
//! about what a real link does on a bad day.

use chrono::Utc;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};
use txtrader_adapter_fix::proto::frame::FrameReader;
use txtrader_adapter_fix::proto::Message;
use txtrader_adapter_fix::session::store::Store;
use txtrader_adapter_fix::session::{Action, Phase, ResetPolicy, Session, SessionConfig};
use txtrader_tests::{FixPeer, FixPeerKind};

/// One connection to the peer: the write half, and the frames the reader thread cut.
struct Link {
    stream: TcpStream,
    frames: Receiver<Option<Vec<u8>>>,
}

impl Link {
    fn open(peer: &FixPeer) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", peer.port)).expect("connect");
        let mut read = stream.try_clone().expect("clone");
        let (tx, frames) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = FrameReader::new();
            let mut buf = [0u8; 8192];
            loop {
                while let Ok(Some(f)) = reader.next_frame() {
                    if tx.send(Some(f)).is_err() {
                        return;
                    }
                }
                match read.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = tx.send(None);
                        return;
                    }
                    Ok(n) => reader.extend(&buf[..n]),
                }
            }
        });
        Self { stream, frames }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // the reader holds a clone: shut the socket down, or the acceptor never sees it close
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// What happened while driving.
#[derive(Default, Debug)]
struct Seen {
    received: Vec<Message>,
    actions: Vec<Action>,
    closed: bool,
}

impl Seen {
    fn got(&self, msg_type: &str) -> Vec<&Message> {
        self.received.iter().filter(|m| m.msg_type() == msg_type).collect()
    }
    fn ended(&self) -> Option<&Action> {
        self.actions.iter().find(|a| matches!(a, Action::Disconnect(_) | Action::Halt(_)))
    }
}

/// Runs the session on `link` until `done` holds, it asks to disconnect, the link closes, or
/// `time` is up, sending what it says; `ticks` off leaves its clock stopped, so it sends no
/// heartbeats of its own.
fn drive(s: &mut Session, link: &mut Link, first: Vec<Action>, time: Duration, ticks: bool, done: impl Fn(&Seen, &Session) -> bool) -> Seen {
    let mut seen = Seen::default();
    let mut pending = first;
    let until = Instant::now() + time;
    loop {
        for a in std::mem::take(&mut pending) {
            if let Action::Send(bytes) = &a {
                link.stream.write_all(bytes).expect("write");
            }
            seen.actions.push(a);
        }
        if seen.ended().is_some() || seen.closed || Instant::now() >= until || done(&seen, s) {
            return seen;
        }
        match link.frames.recv_timeout(Duration::from_millis(50)) {
            Ok(Some(bytes)) => {
                let m = Message::parse(&bytes).expect("QuickFIX's messages parse");
                seen.received.push(m.clone());
                pending.extend(s.received(m, &bytes, Instant::now(), Utc::now()));
            }
            Ok(None) => {
                seen.closed = true;
                s.closed();
            }
            Err(_) => {}
        }
        if ticks {
            pending.extend(s.tick(Instant::now(), Utc::now()));
        }
    }
}

fn config(begin: &str, heartbeat: u64, reset: ResetPolicy) -> SessionConfig {
    SessionConfig {
        begin_string: begin.into(),
        sender: "GATEWAY".into(),
        target: "EXECUTOR".into(),
        heartbeat: Duration::from_secs(heartbeat),
        reset,
        logon_timeout: Duration::from_secs(10),
    }
}

fn session(dir: &std::path::Path, begin: &str, heartbeat: u64, reset: ResetPolicy) -> Session {
    let (store, _) = Store::open(dir, false, Utc::now().timestamp_millis()).expect("store");
    Session::new(config(begin, heartbeat, reset), store)
}

/// Connects and logs on; returns the link and what the logon brought.
fn log_on(s: &mut Session, peer: &FixPeer) -> (Link, Seen) {
    let mut link = Link::open(peer);
    let first = s.connected(Instant::now(), Utc::now());
    let seen = drive(s, &mut link, first, Duration::from_secs(10), true, |_, s| s.caught_up());
    (link, seen)
}

/// A session that logged on once (with a reset), dropped its connection, and was opened again
/// from its store with the numbers continuing.
fn reopened_after_one_logon(dir: &std::path::Path, begin: &str, peer: &FixPeer) -> Session {
    let mut s = session(dir, begin, 30, ResetPolicy::Always);
    let (link, _) = log_on(&mut s, peer);
    drop(link);
    s.closed();
    drop(s);
    session(dir, begin, 30, ResetPolicy::Never)
}

const DIALECTS: [&str; 2] = ["FIX.4.2", "FIX.4.4"];

#[test]
fn logon_with_reset_heartbeats_test_request_and_logout() {
    let peer = FixPeer::start(FixPeerKind::Executor);
    for begin in DIALECTS {
        let dir = tempfile::tempdir().expect("dir");
        let mut s = session(dir.path(), begin, 1, ResetPolicy::Always);
        let (mut link, seen) = log_on(&mut s, &peer);
        let logon = seen.got("A");
        assert_eq!(logon.len(), 1, "{begin}: {seen:?}");
        assert_eq!((logon[0].seq(), logon[0].get(141)), (Some(1), Some("Y")), "{begin}: the acceptor reset too");
        assert!(seen.actions.contains(&Action::Established) && s.caught_up(), "{begin}: {seen:?}");

        // both sides send heartbeats every second
        let seen = drive(&mut s, &mut link, Vec::new(), Duration::from_secs(10), true, |seen, _| seen.got("0").len() >= 2);
        assert!(seen.got("0").len() >= 2 && seen.ended().is_none(), "{begin}: {seen:?}");

        // a silent initiator gets a TestRequest; answering it keeps the session
        let mut seen = drive(&mut s, &mut link, Vec::new(), Duration::from_secs(10), false, |seen, _| !seen.got("1").is_empty());
        let after = drive(&mut s, &mut link, Vec::new(), Duration::from_millis(1500), false, |_, _| false);
        seen.closed |= after.closed;
        let asked = seen.got("1");
        assert!(!asked.is_empty(), "{begin}: QuickFIX asks a silent side: {seen:?}");
        assert!(!seen.closed && s.is_active(), "{begin}: the answer kept the link");

        // logout handshake: the acceptor answers, then closes
        let bye = s.logout("done", Instant::now(), Utc::now());
        let seen = drive(&mut s, &mut link, bye, Duration::from_secs(10), true, |_, _| false);
        assert_eq!(seen.got("5").len(), 1, "{begin}: {seen:?}");
        assert_eq!(seen.ended(), Some(&Action::Disconnect("logged out".into())), "{begin}");
    }
    let out = peer.output();
    assert!(out.contains("112=TEST"), "the acceptor's TestRequest: {out}");
}

#[test]
fn numbers_continue_across_a_dropped_connection_and_a_restart_without_reset() {
    let peer = FixPeer::start(FixPeerKind::Executor);
    for begin in DIALECTS {
        let dir = tempfile::tempdir().expect("dir");
        // the same session again, from its store, without ResetSeqNumFlag
        let mut s = reopened_after_one_logon(dir.path(), begin, &peer);
        std::thread::sleep(Duration::from_millis(300));
        let (_link, seen) = log_on(&mut s, &peer);
        let logon = seen.got("A");
        assert_eq!((logon.len(), logon[0].get(141), logon[0].seq()), (1, None, Some(2)), "{begin}: {seen:?}");
        assert!(s.caught_up(), "{begin}: no gap either way: {seen:?}");
        assert!(seen.got("2").is_empty(), "{begin}: no resend asked for: {seen:?}");
    }
}

#[test]
fn lost_messages_are_resent_or_gap_filled_both_ways() {
    let peer = FixPeer::start(FixPeerKind::Executor);
    for begin in DIALECTS {
        let dir = tempfile::tempdir().expect("dir");
        let mut s = session(dir.path(), begin, 30, ResetPolicy::Always);
        let (mut link, _) = log_on(&mut s, &peer);
        // an order the acceptor fills, and four messages "lost" on the way: recorded, never sent
        let order = [(11, "LOST-1"), (21, "1"), (55, "IBM"), (54, "1"), (60, "20261204-15:00:00.000"), (38, "38"), (40, "2"), (44, "44.25"), (59, "0")];
        let body: Vec<(u32, String)> = order.iter().map(|(t, v)| (*t, (*v).to_owned())).collect();
        s.send_app("D", &body, Instant::now(), Utc::now()).expect("recorded");
        for _ in 0..3 {
            s.store_mut().sent(b"8=FIX.4.4\x0135=0\x01", false).expect("recorded");
        }
        // the next message shows the gap: the acceptor asks, the session resends the order
        // (PossDupFlag) and gap-fills the rest; the acceptor then fills the order
        let (_, heartbeat) = s.send_app("H", &[(11, "LOST-1".into()), (55, "IBM".into()), (54, "1".into())], Instant::now(), Utc::now()).expect("sent");
        let filled = |seen: &Seen, _: &Session| seen.got("8").iter().any(|m| m.get(11) == Some("LOST-1") && m.get(39) == Some("2"));
        let seen = drive(&mut s, &mut link, vec![Action::Send(heartbeat)], Duration::from_secs(10), true, filled);
        let fills: Vec<&Message> = seen.got("8").into_iter().filter(|m| m.get(11) == Some("LOST-1") && m.get(39) == Some("2")).collect();
        assert_eq!(fills.len(), 1, "{begin}: the resent order filled: {seen:?}");
        assert!(seen.ended().is_none(), "{begin}: {seen:?}");

        // the other way: the session forgets what it received; the acceptor's next message
        // is too high, the session asks, the acceptor resends its report
        let behind = s.store().next_in() - 2;
        s.store_mut().expect(behind).expect("rewound");
        let (_, test) = s.send_app("1", &[(112, "AFTER-REWIND".into())], Instant::now(), Utc::now()).expect("sent");
        let resent = |seen: &Seen, s: &Session| s.caught_up() && seen.received.iter().any(|m| m.flag(43));
        let seen = drive(&mut s, &mut link, vec![Action::Send(test)], Duration::from_secs(10), true, resent);
        let asked: Vec<&Action> = seen.actions.iter().filter(|a| matches!(a, Action::Send(b) if Message::parse(b).is_ok_and(|m| m.msg_type() == "2"))).collect();
        assert_eq!(asked.len(), 1, "{begin}: one ResendRequest: {seen:?}");
        assert!(seen.received.iter().any(|m| m.flag(43)), "{begin}: the acceptor resent with PossDupFlag: {seen:?}");
        assert!(s.caught_up() && seen.ended().is_none(), "{begin}: caught up: {seen:?}");
    }
}

#[test]
fn numbers_too_low_on_either_side_halt_the_session_instead_of_looping() {
    let peer = FixPeer::start(FixPeerKind::Executor);
    for begin in DIALECTS {
        // ours too low: the acceptor logs out with its reason; the session halts
        let dir = tempfile::tempdir().expect("dir");
        let mut s = reopened_after_one_logon(dir.path(), begin, &peer);
        let next_in = s.store().next_in();
        s.store_mut().reset_to(next_in, 1, Utc::now().timestamp()).expect("rewound");
        std::thread::sleep(Duration::from_millis(300));
        let mut link = Link::open(&peer);
        let first = s.connected(Instant::now(), Utc::now());
        let seen = drive(&mut s, &mut link, first, Duration::from_secs(10), true, |_, _| false);
        match seen.ended() {
            Some(Action::Halt(why)) => assert!(why.contains("MsgSeqNum too low"), "{begin}: {why}"),
            other => panic!("{begin}: expected a halt, got {other:?}: {seen:?}"),
        }
        assert!(matches!(s.phase(), Phase::Halted(_)));
        assert!(matches!(s.connected(Instant::now(), Utc::now())[..], [Action::Halt(_)]), "{begin}: it does not log on again");

        // theirs too low: the session expects more than the acceptor sends, and halts with a
        // Logout saying so
        let dir = tempfile::tempdir().expect("dir");
        let mut s = reopened_after_one_logon(dir.path(), begin, &peer);
        let ahead = s.store().next_in() + 5;
        s.store_mut().expect(ahead).expect("moved on");
        std::thread::sleep(Duration::from_millis(300));
        let (_link, seen) = log_on(&mut s, &peer);
        match seen.ended() {
            Some(Action::Halt(why)) => assert!(why.contains(&format!("MsgSeqNum too low, expecting {ahead}")), "{begin}: {why}"),
            other => panic!("{begin}: expected a halt, got {other:?}: {seen:?}"),
        }
    }
}

/// What a book makes of the messages a real acceptor answers: a cancel and a replace of a
/// filled order (fix_exchange: OrderCancelReject "too late", CxlRejResponseTo 1 and 2) and a
/// cancel the executor does not support (BusinessMessageReject) become the order's refused
/// cancel and refused change, with the acceptor's text. The gateway never sends these for an
/// order it knows is filled; a cancel racing the fill does, which this plays out on purpose.
#[test]
fn an_acceptors_cancel_and_replace_rejects_reach_the_order_with_their_text() {
    use txtrader_adapter_fix::book::{Book, Placed};
    use txtrader_adapter_fix::mapping::Dialect;
    use txtrader_plugin_api::model::{AccountId, ClientOrderId, OrderOrigin, OrderRequest, OrderType, Price, Quantity, Side, Symbol, TimeInForce, UnixNanos};
    use txtrader_plugin_api::wire::OrderEventKind;
    for (kind, target) in [(FixPeerKind::Exchange, "EXCHANGE"), (FixPeerKind::Executor, "EXECUTOR")] {
        let peer = FixPeer::start(kind);
        let dir = tempfile::tempdir().expect("dir");
        let (store, _) = Store::open(dir.path(), false, Utc::now().timestamp_millis()).expect("store");
        let mut config = config("FIX.4.4", 30, ResetPolicy::Always);
        config.target = target.into();
        let mut s = Session::new(config, store);
        let (mut link, _) = log_on(&mut s, &peer);
        let mut book = Book::new("fix", s.store().created(), Dialect::Fix44);
        let root = book.next_cl_ord_id();
        let request = OrderRequest {
            client_order_id: ClientOrderId::new("c-1").expect("id"),
            account: AccountId::new("FIX.TEST.1").expect("account"),
            symbol: Symbol::new("IBM").expect("symbol"),
            side: Side::Buy,
            quantity: Quantity::from_u64(38),
            order_type: OrderType::Limit { limit_price: Price::from_cents(4425) },
            time_in_force: TimeInForce::Day,
            route: None,
            exchange: None,
            staged_tag: None,
            origin: OrderOrigin::Client,
            user: None,
        };
        book.placed(Placed { request, root: root.clone(), at: UnixNanos(1) }).expect("placed");
        let send = |s: &mut Session, book: &mut Book, link: &mut Link, msg_type: &str, body: Vec<(u32, String)>| {
            let (seq, bytes) = s.send_app(msg_type, &body, Instant::now(), Utc::now()).expect("sent");
            book.sent(seq, &Message::parse(&bytes).expect("ours"));
            // the last word on the request: the fill, or the refusal
            let answered = |seen: &Seen, _: &Session| {
                seen.actions.iter().any(|a| matches!(a, Action::Deliver(m) if matches!(m.msg_type(), "9" | "j" | "3") || m.get(39) == Some("2")))
            };
            let seen = drive(s, link, vec![Action::Send(bytes)], Duration::from_secs(10), true, answered);
            let mut events = Vec::new();
            for a in seen.actions {
                if let Action::Deliver(m) = a {
                    events.extend(book.received(m.seq().unwrap_or_default(), &m).events);
                }
            }
            events
        };
        let order = book.open_orders().next().expect("the order").clone();
        let terms = order.terms();
        let d = txtrader_adapter_fix::mapping::new_order_single(&root, &terms, "20261204-15:00:00.000");
        let filled = send(&mut s, &mut book, &mut link, "D", d);
        assert!(filled.iter().any(|e| matches!(e.kind, OrderEventKind::Filled(_))), "{target}: {filled:?}");
        // the cancel and the replace the race would send
        let (id, current) = (book.next_cl_ord_id(), root.clone());
        let f = txtrader_adapter_fix::mapping::cancel_request(&id, &current, None, &terms, "20261204-15:00:00.000");
        let answer = send(&mut s, &mut book, &mut link, "F", f);
        match (kind, &answer[..]) {
            (FixPeerKind::Exchange, [e]) => assert!(matches!(&e.kind, OrderEventKind::CancelRejected { reason } if reason.contains("Too late")), "{answer:?}"),
            (FixPeerKind::Executor, [e]) => assert!(matches!(&e.kind, OrderEventKind::CancelRejected { reason } if reason.contains("Unsupported Message Type")), "{answer:?}"),
            _ => panic!("{target}: one refused cancel, got {answer:?}"),
        }
        let id = book.next_cl_ord_id();
        let g = txtrader_adapter_fix::mapping::replace_request(&id, &current, None, &terms, "20261204-15:00:00.000");
        let answer = send(&mut s, &mut book, &mut link, "G", g);
        assert!(matches!(&answer[..], [e] if matches!(e.kind, OrderEventKind::ModifyRejected { .. })), "{target}: one refused change, got {answer:?}");
    }
}
