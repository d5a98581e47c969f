//! The decoder against what a TWS sends, and against what it must survive.
//!
//! `tests/data/fake_tws_s2c_{176,178}.jsonl` are the server-to-client frames of
//! `../shared/peers/fake_tws.py` while IB's official client (`ibapi-stable` 10.50.2) went
//! through connect, quotes, a fill, a resting order, cancels, positions, account data,
//! executions, bars and contract details (`fake_tws.py --check --against`; the official decoder
//! accepted every one of them). Every frame must decode, to the values the fake sent.
//! Then random and truncated frames: the decoder answers an error or a message, never panics.

use proptest::prelude::*;
use rust_decimal_macros::dec;
use txtrader_adapter_tws::proto::decode::{decode, Incoming};
use txtrader_adapter_tws::proto::decode_payload;
use txtrader_adapter_tws::proto::frame::{FrameBuilder, FrameReader};

fn frames(version: u32) -> Vec<Vec<String>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/fake_tws_s2c_{version}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().map(|l| serde_json::from_str(l).expect("json")).collect()
}

fn check(version: u32) {
    let mut seen = Vec::new();
    for f in frames(version) {
        // the first frame is the handshake answer (no message id)
        if f.len() == 2 && f[1].contains(' ') {
            continue;
        }
        let fields: Vec<&str> = f.iter().map(String::as_str).collect();
        let m = decode(version, &fields).unwrap_or_else(|e| panic!("{e}: {f:?}"));
        assert!(!matches!(m, Incoming::Unknown { .. }), "{f:?}");
        seen.push(m);
    }
    let any = |p: &dyn Fn(&Incoming) -> bool| seen.iter().any(p);
    assert!(any(&|m| matches!(m, Incoming::NextValidId { order_id: 1 })));
    assert!(any(&|m| matches!(m, Incoming::ManagedAccounts { accounts } if accounts == &["DU1234567"])));
    assert!(any(&|m| matches!(m, Incoming::TickPrice { tick_type: 1, price: Some(p), size: Some(s), .. } if *p == dec!(189.25) && *s == dec!(300))));
    assert!(any(&|m| matches!(m, Incoming::Error { code: 2104, req_id: -1, .. })));
    assert!(any(&|m| matches!(m, Incoming::OpenOrder(o) if o.status == "Submitted" && o.order.contract.symbol == "AAPL" && o.perm_id > 0)));
    assert!(any(&|m| matches!(m, Incoming::OrderStatus(s) if s.status == "Filled" && s.remaining.is_zero())));
    assert!(any(&|m| matches!(m, Incoming::ExecDetails(x) if x.req_id == -1 && x.price == dec!(189.3) && x.shares == dec!(10) && x.side == "BOT" && !x.exec_id.is_empty())));
    assert!(any(&|m| matches!(m, Incoming::Commission { commission: Some(c), realized_pnl: None, .. } if *c == dec!(1))));
    assert!(any(&|m| matches!(m, Incoming::Position { position, .. } if *position == dec!(100) || *position > dec!(0))));
    assert!(any(&|m| matches!(m, Incoming::HistoricalData { bars, .. } if bars.len() == 2 && bars[0].close == dec!(185.64))));
    assert!(any(&|m| matches!(m, Incoming::ContractData(d) if d.contract.con_id == 265_598 && d.long_name == "APPLE INC")));
    assert!(any(&|m| matches!(m, Incoming::AccountSummary { tag, .. } if tag == "NetLiquidation")));
}

#[test]
fn every_frame_of_a_tws_session_decodes_at_176() {
    check(176);
}

#[test]
fn every_frame_of_a_tws_session_decodes_at_178() {
    check(178);
}

#[test]
fn a_short_message_is_an_error_naming_the_field() {
    let e = decode(178, &["3", "12", "Filled"]).expect_err("too short");
    assert_eq!((e.msg_id.as_str(), e.field, e.name), ("3", 3, "filled"));
    let e = decode(178, &["11", "-1", "5", "x"]).expect_err("bad conId");
    assert!(e.to_string().contains("conId") && e.to_string().contains("not an integer"), "{e}");
    // a count larger than the message is refused before anything is allocated for it
    let e = decode(178, &["17", "1", "a", "b", "99999999999"]).expect_err("bars");
    assert!(e.to_string().contains("does not fit"), "{e}");
    assert!(matches!(decode(178, &["999", "1"]), Ok(Incoming::Unknown { msg_id: 999 })));
    assert!(decode_payload(178, b"4\x002\x00-1").is_err(), "unterminated");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut r = FrameReader::new();
        r.extend(&bytes);
        while let Ok(Some(p)) = r.next_frame() {
            let _ = decode_payload(178, p);
        }
        let _ = decode_payload(176, &bytes);
    }

    #[test]
    fn every_real_frame_cut_or_damaged_never_panics(pick in 0usize..1000, cut in 0usize..2000, flip in any::<(usize, u8)>()) {
        let all = frames(178);
        let f = &all[pick % all.len()];
        let mut b = FrameBuilder::new(f[0].parse().unwrap_or(0));
        for x in &f[1..] {
            b.text(x);
        }
        let frame = b.finish();
        let payload = &frame[4..];
        let cut = cut % (payload.len() + 1);
        let _ = decode_payload(178, &payload[..cut]);
        let mut damaged = payload.to_vec();
        if !damaged.is_empty() {
            let at = flip.0 % damaged.len();
            damaged[at] = flip.1;
        }
        let _ = decode_payload(178, &damaged);
        // fields dropped from the end: an error, never a panic
        let fields: Vec<&str> = f.iter().map(String::as_str).collect();
        let _ = decode(178, &fields[..cut % (fields.len() + 1)]);
    }
}
