use super::*;
use crate::proto::encode::{encode, Header};
use txtrader_plugin_api::model::{ClientOrderId, OrderOrigin, OrderType, Side, TimeInForce};

fn request(qty: u64) -> OrderRequest {
    OrderRequest {
        client_order_id: ClientOrderId::new("c-1").expect("id"),
        account: AccountId::new("ACC1").expect("account"),
        symbol: Symbol::new("IBM").expect("symbol"),
        side: Side::Buy,
        quantity: Quantity::from_u64(qty),
        order_type: OrderType::Limit { limit_price: Price::from_cents(18930) },
        time_in_force: TimeInForce::Day,
        route: None,
        exchange: None,
        staged_tag: None,
        origin: OrderOrigin::Client,
        user: None,
    }
}

fn message(begin: &str, msg_type: &str, body: &[(u32, &str)]) -> Message {
    let h = Header { begin_string: begin, sender: "EXCHANGE", target: "GATEWAY" };
    let body: Vec<(u32, String)> = body.iter().map(|(t, v)| (*t, (*v).to_owned())).collect();
    Message::parse(&encode(&h, msg_type, 1, "20261204-15:00:00.000", &[], &body)).expect("parses")
}

fn placed(book: &mut Book, qty: u64) -> String {
    let root = book.next_cl_ord_id();
    book.placed(Placed { request: request(qty), root: root.clone(), at: UnixNanos(1) }).expect("placed");
    book.sent(2, &message("FIX.4.4", "D", &[(11, &root), (55, "IBM")]));
    root
}

fn kinds(o: &Outcome) -> Vec<&OrderEventKind> {
    o.events.iter().map(|e| &e.kind).collect()
}

#[test]
fn new_partial_and_full_fills_in_both_dialects_make_the_same_events() {
    for (begin, dialect, partial, full, extra) in [("FIX.4.4", Dialect::Fix44, "F", "F", None), ("FIX.4.2", Dialect::Fix42, "1", "2", Some((20, "0")))] {
        let mut book = Book::new("fix", 1_765_000_000, dialect);
        let root = placed(&mut book, 1000);
        let er = |exec: &str, et: &str, st: &str, last: &str| {
            let mut body = vec![(37, "X1"), (11, root.as_str()), (17, exec), (150, et), (39, st), (55, "IBM"), (54, "1"), (32, last), (31, "189.3"), (151, "0"), (14, "0"), (6, "0")];
            body.extend(extra);
            message(begin, "8", &body)
        };
        let new = book.received(3, &er("E1", "0", "0", "0"));
        assert_eq!(kinds(&new), vec![&OrderEventKind::Accepted]);
        let part = book.received(4, &er("E2", partial, "1", "400"));
        let done = book.received(5, &er("E3", full, "2", "600"));
        let again = book.received(6, &er("E3", full, "2", "600"));
        assert!(again.events.is_empty(), "a resent report is applied once");
        let fills: Vec<Quantity> = [part, done].iter().flat_map(|o| o.events.iter()).filter_map(|e| if let OrderEventKind::Filled(f) = &e.kind { Some(f.quantity) } else { None }).collect();
        assert_eq!(fills, vec![Quantity::from_u64(400), Quantity::from_u64(600)]);
        let snap = &book.snapshot_orders()[0];
        assert_eq!((snap.status, snap.filled_quantity, snap.avg_price), (OrderStatus::Filled, Quantity::from_u64(1000), Some(Price::new(Decimal::new(1893, 1)))));
        assert_eq!(book.positions()[0].quantity, SignedQuantity::new(Decimal::from(1000)));
    }
}

#[test]
fn a_cancel_names_the_order_by_its_latest_clordid_and_its_report_finds_it() {
    let mut book = Book::new("fix", 1_765_000_000, Dialect::Fix44);
    let root = placed(&mut book, 100);
    let cancel = book.next_cl_ord_id();
    book.sent(3, &message("FIX.4.4", "F", &[(41, &root), (11, &cancel)]));
    assert!(book.pending(&root));
    // ordermatch's quirk: the cancel report carries the original ClOrdID and no 41
    let out = book.received(4, &message("FIX.4.4", "8", &[(37, root.as_str()), (11, root.as_str()), (17, "E9"), (150, "4"), (39, "4")]));
    assert_eq!(kinds(&out), vec![&OrderEventKind::Cancelled { reason: None }]);
    assert!(!book.pending(&root));
    assert_eq!(out.events[0].broker_order_id.as_str(), format!("fix:{root}"));
}

#[test]
fn rejects_of_messages_find_their_order_by_refseqnum() {
    let mut book = Book::new("fix", 1_765_000_000, Dialect::Fix44);
    let root = placed(&mut book, 100);
    let out = book.received(7, &message("FIX.4.4", "3", &[(45, "2"), (371, "40"), (373, "5"), (58, "Value is incorrect (out of range) for this tag")]));
    assert_eq!(kinds(&out), vec![&OrderEventKind::Rejected { reason: "Value is incorrect (out of range) for this tag (tag 40)".into() }]);
    let root2 = book.next_cl_ord_id();
    assert_ne!(root, root2);
    let cancel = book.next_cl_ord_id();
    book.sent(8, &message("FIX.4.4", "F", &[(41, &root), (11, &cancel)]));
    let out = book.received(9, &message("FIX.4.4", "j", &[(45, "8"), (372, "F"), (380, "3"), (58, "Unsupported Message Type")]));
    assert_eq!(kinds(&out), vec![&OrderEventKind::CancelRejected { reason: "Unsupported Message Type".into() }]);
}

#[test]
fn clordids_continue_after_a_replay() {
    let mut book = Book::new("fix", 1_765_000_000, Dialect::Fix44);
    let a = placed(&mut book, 100);
    let mut again = Book::new("fix", 1_765_000_000, Dialect::Fix44);
    again.placed(Placed { request: request(100), root: a.clone(), at: UnixNanos(1) }).expect("placed");
    assert_ne!(again.next_cl_ord_id(), a);
}
