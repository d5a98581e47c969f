use super::*;
use chrono::TimeZone;

fn wall() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 15, 0, 0).single().expect("time")
}

fn config(reset: ResetPolicy) -> SessionConfig {
    SessionConfig {
        begin_string: "FIX.4.4".into(),
        sender: "GATEWAY".into(),
        target: "EXCHANGE".into(),
        heartbeat: Duration::from_secs(30),
        reset,
        logon_timeout: Duration::from_secs(10),
    }
}

/// What the counterparty sends: its header, our CompIDs swapped.
fn theirs(msg_type: &str, seq: u64, extra: &[(u32, &str)], body: &[(u32, &str)]) -> (Message, Vec<u8>) {
    let h = Header { begin_string: "FIX.4.4", sender: "EXCHANGE", target: "GATEWAY" };
    let body: Vec<(u32, String)> = body.iter().map(|(t, v)| (*t, (*v).to_owned())).collect();
    let raw = encode(&h, msg_type, seq, "20261204-15:00:00.000", extra, &body);
    (Message::parse(&raw).expect("parses"), raw)
}

fn sent(actions: &[Action]) -> Vec<Message> {
    actions.iter().filter_map(|a| if let Action::Send(b) = a { Some(Message::parse(b).expect("ours parse")) } else { None }).collect()
}

fn logged_on(dir: &std::path::Path, reset: ResetPolicy) -> (Session, Instant) {
    let (store, _) = Store::open(dir, false, wall().timestamp_millis()).expect("store");
    let mut s = Session::new(config(reset), store);
    let now = Instant::now();
    let out = s.connected(now, wall());
    let logon = &sent(&out)[0];
    assert_eq!(logon.msg_type(), "A");
    let seq = s.store().next_in();
    let (m, raw) = theirs("A", seq, &[], &[(98, "0"), (108, "30")]);
    let out = s.received(m, &raw, now, wall());
    assert_eq!(out, vec![Action::Established]);
    (s, now)
}

#[test]
fn a_logon_with_reset_starts_both_sides_at_one() {
    let dir = tempfile::tempdir().expect("dir");
    let (store, _) = Store::open(dir.path(), false, wall().timestamp_millis()).expect("store");
    let mut s = Session::new(config(ResetPolicy::Always), store);
    let out = s.connected(Instant::now(), wall());
    let logon = &sent(&out)[0];
    assert_eq!((logon.seq(), logon.get(141), logon.get(108), logon.get(98)), (Some(1), Some("Y"), Some("30"), Some("0")));
    let (m, raw) = theirs("A", 1, &[], &[(98, "0"), (108, "30"), (141, "Y")]);
    assert_eq!(s.received(m, &raw, Instant::now(), wall()), vec![Action::Established]);
    assert!(s.is_active());
    assert_eq!((s.store().next_in(), s.store().next_out()), (2, 2));
}

#[test]
fn numbers_continue_across_a_reconnect_without_reset() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut s, now) = logged_on(dir.path(), ResetPolicy::Never);
    s.closed();
    let out = s.connected(now, wall());
    let logon = &sent(&out)[0];
    assert_eq!((logon.seq(), logon.get(141)), (Some(2), None));
    drop(s);
    // and across a restart
    let (store, _) = Store::open(dir.path(), false, 0).expect("store");
    assert_eq!((store.next_in(), store.next_out()), (2, 3));
}

#[test]
fn a_test_request_is_answered_with_its_id() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut s, now) = logged_on(dir.path(), ResetPolicy::Always);
    let (m, raw) = theirs("1", 2, &[], &[(112, "T1")]);
    let out = sent(&s.received(m, &raw, now, wall()));
    assert_eq!((out[0].msg_type(), out[0].get(112)), ("0", Some("T1")));
}

#[test]
fn silence_brings_a_heartbeat_then_a_test_request_then_a_disconnect() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut s, now) = logged_on(dir.path(), ResetPolicy::Always);
    assert!(s.tick(now + Duration::from_secs(5), wall()).is_empty());
    let out = sent(&s.tick(now + Duration::from_secs(30), wall()));
    assert_eq!(out.iter().map(Message::msg_type).collect::<Vec<_>>(), vec!["0"]);
    let out = sent(&s.tick(now + Duration::from_secs(37), wall()));
    assert_eq!(out[0].msg_type(), "1");
    let out = s.tick(now + Duration::from_secs(97), wall());
    assert!(matches!(&out[..], [Action::Disconnect(why)] if why.contains("TestRequest")), "{out:?}");
}

#[test]
fn a_gap_is_asked_for_once_and_filled() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut s, now) = logged_on(dir.path(), ResetPolicy::Always);
    let (m, raw) = theirs("8", 5, &[], &[(17, "E5")]);
    let out = s.received(m, &raw, now, wall());
    let asked = sent(&out);
    assert_eq!((asked[0].msg_type(), asked[0].get(7), asked[0].get(16)), ("2", Some("2"), Some("0")));
    assert!(!out.iter().any(|a| matches!(a, Action::Deliver(_))), "nothing out of order is delivered");
    let (m, raw) = theirs("8", 6, &[], &[(17, "E6")]);
    assert!(sent(&s.received(m, &raw, now, wall())).is_empty(), "the same gap is asked for once");
    // the resend: a gap fill over 2..4, then 4, 5, 6 again
    let (m, raw) = theirs("4", 2, &[(43, "Y"), (122, "20261204-14:59:00.000")], &[(123, "Y"), (36, "4")]);
    assert!(s.received(m, &raw, now, wall()).is_empty());
    let mut delivered = Vec::new();
    for seq in 4..=6 {
        let (m, raw) = theirs("8", seq, &[(43, "Y"), (122, "20261204-14:59:00.000")], &[(17, "E")]);
        delivered.extend(s.received(m, &raw, now, wall()));
    }
    assert_eq!(delivered.iter().filter(|a| matches!(a, Action::Deliver(_))).count(), 3);
    assert_eq!(s.store().next_in(), 7);
    let (m, raw) = theirs("0", 7, &[], &[]);
    assert!(s.received(m, &raw, now, wall()).is_empty());
}

#[test]
fn too_low_without_possdup_halts_and_a_duplicate_is_ignored() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut s, now) = logged_on(dir.path(), ResetPolicy::Always);
    let (m, raw) = theirs("0", 2, &[], &[]);
    s.received(m, &raw, now, wall());
    let (m, raw) = theirs("8", 1, &[(43, "Y"), (122, "20261204-14:59:00.000")], &[]);
    assert!(s.received(m, &raw, now, wall()).is_empty());
    let (m, raw) = theirs("8", 2, &[], &[]);
    let out = s.received(m, &raw, now, wall());
    assert_eq!(sent(&out)[0].get(58), Some("MsgSeqNum too low, expecting 3 but received 2"));
    assert!(out.iter().any(|a| matches!(a, Action::Halt(_))), "{out:?}");
    s.closed();
    assert!(matches!(s.connected(now, wall())[..], [Action::Halt(_)]), "a halted session does not log on again");
}

#[test]
fn a_counterparty_logout_for_too_low_halts() {
    let dir = tempfile::tempdir().expect("dir");
    let (store, _) = Store::open(dir.path(), false, wall().timestamp_millis()).expect("store");
    let mut s = Session::new(config(ResetPolicy::Never), store);
    s.connected(Instant::now(), wall());
    let (m, raw) = theirs("5", 14, &[], &[(58, "MsgSeqNum too low, expecting 14 but received 1")]);
    let out = s.received(m, &raw, Instant::now(), wall());
    assert!(out.iter().any(|a| matches!(a, Action::Halt(why) if why.contains("expecting 14"))), "{out:?}");
}

#[test]
fn a_resend_request_is_answered_with_resends_and_gap_fills() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut s, now) = logged_on(dir.path(), ResetPolicy::Always);
    // 1 was the logon; 2 a heartbeat; 3 an order; 4 a heartbeat
    s.tick(now + Duration::from_secs(30), wall());
    s.send_app("D", &[(11, "A1".into()), (55, "IBM".into())], now, wall()).expect("sent");
    s.tick(now + Duration::from_secs(60), wall());
    let (m, raw) = theirs("2", 2, &[], &[(7, "1"), (16, "0")]);
    let out = sent(&s.received(m, &raw, now, wall()));
    let shown: Vec<String> = out.iter().map(|m| format!("{} {:?} {:?} {:?}", m.msg_type(), m.seq(), m.get(36), m.get(43))).collect();
    assert_eq!(shown, vec![r#"4 Some(1) Some("3") Some("Y")"#, r#"D Some(3) None Some("Y")"#, r#"4 Some(4) Some("5") Some("Y")"#]);
    assert_eq!((out[1].get(11), out[1].get(122).is_some()), (Some("A1"), true));
    assert_eq!(s.store().next_out(), 5, "resends take no new numbers");
}

#[test]
fn a_message_for_another_session_ends_the_connection() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut s, now) = logged_on(dir.path(), ResetPolicy::Always);
    let h = Header { begin_string: "FIX.4.4", sender: "SOMEONE", target: "GATEWAY" };
    let raw = encode(&h, "0", 2, "20261204-15:00:00.000", &[], &[]);
    let out = s.received(Message::parse(&raw).expect("parses"), &raw, now, wall());
    assert!(out.iter().any(|a| matches!(a, Action::Disconnect(why) if why.contains("SOMEONE"))), "{out:?}");
}

#[test]
fn a_logon_answered_from_ahead_is_caught_up_only_after_the_resend() {
    let dir = tempfile::tempdir().expect("dir");
    let (store, _) = Store::open(dir.path(), false, wall().timestamp_millis()).expect("store");
    let mut s = Session::new(config(ResetPolicy::Never), store);
    let now = Instant::now();
    let asked = s.connected(now, wall());
    let (m, raw) = theirs("A", 4, &[], &[(98, "0"), (108, "30")]);
    let out = s.received(m, &raw, now, wall());
    // the resend request goes out before anything the worker sends once established
    let resend = sent(&out);
    assert_eq!((resend[0].msg_type(), resend[0].seq(), resend[0].get(7)), ("2", Some(2), Some("1")));
    assert_eq!(out.last(), Some(&Action::Established));
    assert!(s.is_active() && !s.caught_up());
    drop(asked);
    let (m, raw) = theirs("4", 1, &[(43, "Y"), (122, "20261204-14:59:00.000")], &[(123, "Y"), (36, "5")]);
    s.received(m, &raw, now, wall());
    assert!(s.caught_up(), "next expected {}", s.store().next_in());
}

#[test]
fn a_daily_reset_comes_with_the_first_logon_of_a_new_utc_day() {
    let dir = tempfile::tempdir().expect("dir");
    let yesterday = wall() - chrono::Duration::days(1);
    let (store, _) = Store::open(dir.path(), false, yesterday.timestamp_millis()).expect("store");
    let mut s = Session::new(config(ResetPolicy::Daily), store);
    let first = sent(&s.connected(Instant::now(), wall()));
    assert_eq!((first[0].get(141), first[0].seq()), (Some("Y"), Some(1)), "a new day resets");
    s.closed();
    let again = sent(&s.connected(Instant::now(), wall()));
    assert_eq!((again[0].get(141), again[0].seq()), (None, Some(2)), "the same day goes on");
}
