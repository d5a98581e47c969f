//! OMS tests: the checks on broker events, and properties under random event streams.

use super::*;
use proptest::prelude::*;
use txtrader_plugin_api::model::{CancelResume, OrderType, Side, TimeInForce};
use txtrader_plugin_api::wire::{Fill, OrderSnapshot};

/// A market order request to buy `qty` IBM (shared with the recovery tests).
pub(crate) fn request(id: &str, qty: u64) -> OrderRequest {
    OrderRequest {
        client_order_id: ClientOrderId::new(id).expect("id"),
        account: AccountId::new("A.B.C.D").expect("acct"),
        symbol: Symbol::new("IBM").expect("sym"),
        side: Side::Buy,
        quantity: Quantity::from_u64(qty),
        order_type: OrderType::Market,
        time_in_force: TimeInForce::Day,
        route: None,
        exchange: None,
        staged_tag: None,
        origin: OrderOrigin::Client,
        user: None,
    }
}

fn ev(event_id: &str, broker: &str, client: Option<&str>, kind: OrderEventKind) -> OrderEvent {
    OrderEvent {
        event_id: event_id.into(),
        broker_order_id: BrokerOrderId::new(broker).expect("id"),
        client_order_id: client.map(|c| ClientOrderId::new(c).expect("id")),
        ts_event: UnixNanos(1),
        kind,
        raw: None,
    }
}

fn fill(exec: &str, qty: u64, cents: i64) -> OrderEventKind {
    OrderEventKind::Filled(Fill {
        exec_id: ExecutionId::new(exec).expect("id"),
        quantity: Quantity::from_u64(qty),
        price: Price::from_cents(cents),
        venue_fill_id: None,
    })
}

fn position(oms: &Oms) -> Decimal {
    oms.positions().values().map(|q| q.as_decimal()).sum()
}

#[test]
fn order_lifecycle_books_executions_and_positions() {
    let mut oms = Oms::new();
    oms.submit(request("c1", 100), UnixNanos(0)).expect("new");
    let first = oms.apply(&ev("p-1", "p", Some("c1"), OrderEventKind::Acknowledged));
    assert!(matches!(first, Outcome::Applied { first_broker_event: true, .. }));
    assert_eq!(oms.find("p").expect("by broker id").status, OrderStatus::Submitted);
    oms.apply(&ev("p-2", "p", None, OrderEventKind::Accepted));
    let part = oms.apply(&ev("p-3", "p", None, fill("p-3", 40, 1000)));
    let Outcome::Applied { execution: Some(x), first_broker_event: false, .. } = part else { panic!("{part:?}") };
    assert_eq!((x.cum_quantity, x.leaves_quantity), (Quantity::from_u64(40), Quantity::from_u64(60)));
    assert_eq!(oms.find("p").expect("o").status, OrderStatus::PartiallyFilled);
    oms.apply(&ev("p-4", "p", None, fill("p-4", 60, 1010)));
    let o = oms.find("c1").expect("by client id");
    assert_eq!(o.status, OrderStatus::Filled);
    assert_eq!(o.avg_price(), Some(Price::new(Decimal::new(1006, 2))));
    assert_eq!(o.history.len(), 4);
    assert_eq!(position(&oms), Decimal::from(100));
    assert_eq!(oms.executions().count(), 2);
    // a commission report is booked with its execution
    let commission = txtrader_plugin_api::model::Commission { amount: txtrader_plugin_api::model::Money::new(Decimal::new(125, 2)), currency: "USD".into() };
    let booked = oms.book(&Entry::Commission { exec_id: ExecutionId::new("p-4").expect("id"), commission: commission.clone() });
    assert_eq!(booked, Booked::Commission(true));
    assert_eq!(oms.execution("p-4").and_then(|x| x.commission.clone()), Some(commission.clone()));
    assert_eq!(oms.book(&Entry::Commission { exec_id: ExecutionId::new("nope").expect("id"), commission }), Booked::Commission(false));
}

#[test]
fn duplicates_are_ignored() {
    let mut oms = Oms::new();
    oms.submit(request("c1", 100), UnixNanos(0)).expect("new");
    oms.apply(&ev("p-1", "p", Some("c1"), OrderEventKind::Accepted));
    let f = ev("p-2", "p", None, fill("x-1", 10, 100));
    assert!(matches!(oms.apply(&f), Outcome::Applied { .. }));
    assert_eq!(oms.apply(&f), Outcome::Duplicate, "same event id");
    // the same execution under another event id is still the same fill
    assert_eq!(oms.apply(&ev("p-2b", "p", None, fill("x-1", 10, 100))), Outcome::Duplicate);
    assert_eq!(position(&oms), Decimal::from(10));
    assert_eq!(oms.find("p").expect("o").history.len(), 2);
}

#[test]
fn impossible_events_are_refused_without_side_effects() {
    let mut oms = Oms::new();
    oms.submit(request("c1", 100), UnixNanos(0)).expect("new");
    oms.apply(&ev("p-1", "p", Some("c1"), OrderEventKind::Accepted));
    let over = oms.apply(&ev("p-2", "p", None, fill("x-1", 101, 100)));
    assert!(matches!(over, Outcome::Refused(Refusal::Overfill { .. })), "{over:?}");
    oms.apply(&ev("p-3", "p", None, fill("x-2", 100, 100)));
    let before = oms.find("p").expect("o").clone();
    // stale: working again after the fill; a cancel after the fill
    assert!(matches!(oms.apply(&ev("p-4", "p", None, OrderEventKind::Accepted)), Outcome::Refused(Refusal::Invalid { .. })));
    assert!(matches!(
        oms.apply(&ev("p-5", "p", None, OrderEventKind::Cancelled { reason: None })),
        Outcome::Refused(Refusal::Invalid { .. })
    ));
    assert_eq!(oms.find("p").expect("o"), &before);
    assert!(matches!(
        oms.apply(&ev("q-1", "q", None, OrderEventKind::Accepted)),
        Outcome::Refused(Refusal::UnknownOrder(_))
    ));
    assert!(matches!(
        oms.apply(&ev("z-1", "z", Some("c1"), OrderEventKind::Accepted)),
        Outcome::Refused(Refusal::BrokerIdMismatch { .. })
    ));
    assert!(matches!(oms.apply(&ev("p-6", "p", None, OrderEventKind::Unknown)), Outcome::Refused(Refusal::UnknownKind(_))));
    // a (restarted) broker that gives a new order an old order's id: never merged
    oms.submit(request("c2", 5), UnixNanos(0)).expect("new");
    let reused = oms.apply(&ev("p-7", "p", Some("c2"), OrderEventKind::Acknowledged));
    assert!(matches!(&reused, Outcome::Refused(Refusal::BrokerIdReused { owner, .. }) if owner.as_str() == "c1"), "{reused:?}");
    assert_eq!(oms.find("p").expect("o"), &before);
    assert_eq!(position(&oms), Decimal::from(100));
}

#[test]
fn a_change_is_booked_pending_then_on_the_new_terms_and_the_exposure_follows() {
    let mut oms = Oms::new();
    let c1 = ClientOrderId::new("c1").expect("id");
    let mut r = request("c1", 100);
    r.order_type = OrderType::Limit { limit_price: Price::from_cents(1000) };
    oms.book(&Entry::Submitted { request: r, at: UnixNanos(0) });
    oms.book(&Entry::OrderEvent(ev("p-1", "p", Some("c1"), OrderEventKind::Accepted)));
    oms.book(&Entry::OrderEvent(ev("p-2", "p", None, fill("x-1", 30, 1000))));
    let account = AccountId::new("A.B.C.D").expect("acct");
    assert_eq!(oms.working(&account).map(|w| w.priced_notional), Some(Decimal::from(700)));
    let new_type = OrderType::Limit { limit_price: Price::from_cents(900) };
    let booked = oms.book(&Entry::ModifyRequested { order: c1.clone(), quantity: Quantity::from_u64(50), order_type: new_type, at: UnixNanos(2) });
    assert_eq!(booked, Booked::ModifyRequested(Ok(())));
    assert_eq!(oms.get(&c1).expect("o").status, OrderStatus::PendingReplace { resume: CancelResume::PartiallyFilled });
    let again = oms.book(&Entry::ModifyRequested { order: c1.clone(), quantity: Quantity::from_u64(40), order_type: new_type, at: UnixNanos(3) });
    assert!(matches!(again, Booked::ModifyRequested(Err(_))), "one change at a time");
    // the broker confirms: the order works on 50 at 9.00, 20 of them open
    oms.book(&Entry::OrderEvent(ev("p-3", "p", None, OrderEventKind::Modified { quantity: Quantity::from_u64(50), order_type: new_type })));
    let o = oms.get(&c1).expect("o");
    assert_eq!((o.status, o.request.quantity, o.request.order_type, o.leaves()), (OrderStatus::PartiallyFilled, Quantity::from_u64(50), new_type, Quantity::from_u64(20)));
    assert_eq!(oms.working(&account).map(|w| w.priced_notional), Some(Decimal::from(180)));
    // a refused change leaves the terms; a change below what filled is refused as an event
    oms.book(&Entry::ModifyRequested { order: c1.clone(), quantity: Quantity::from_u64(45), order_type: new_type, at: UnixNanos(4) });
    oms.book(&Entry::OrderEvent(ev("p-4", "p", None, OrderEventKind::ModifyRejected { reason: "too late".into() })));
    let o = oms.get(&c1).expect("o");
    assert_eq!((o.status, o.request.quantity), (OrderStatus::PartiallyFilled, Quantity::from_u64(50)));
    let below = oms.apply(&ev("p-5", "p", None, OrderEventKind::Modified { quantity: Quantity::from_u64(10), order_type: new_type }));
    assert!(matches!(below, Outcome::Refused(Refusal::ModifiedBelowFilled { .. })), "{below:?}");
    let history = &oms.get(&c1).expect("o").history;
    let last: Vec<&UpdateKind> = history.iter().rev().take(4).rev().map(|u| &u.kind).collect();
    assert!(
        matches!(last[..], [UpdateKind::ModifyRequested { .. }, UpdateKind::Modified { .. }, UpdateKind::ModifyRequested { .. }, UpdateKind::ModifyRejected { .. }]),
        "{last:?}"
    );
}

#[test]
fn a_pending_cancel_may_still_fill() {
    let mut oms = Oms::new();
    let c1 = ClientOrderId::new("c1").expect("id");
    oms.submit(request("c1", 100), UnixNanos(0)).expect("new");
    oms.apply(&ev("p-1", "p", Some("c1"), OrderEventKind::Accepted));
    oms.request_cancel(&c1, UnixNanos(2)).expect("cancellable");
    assert_eq!(oms.get(&c1).expect("o").status, OrderStatus::PendingCancel { resume: CancelResume::Working });
    oms.apply(&ev("p-2", "p", None, fill("x-1", 30, 100)));
    assert_eq!(oms.get(&c1).expect("o").status, OrderStatus::PendingCancel { resume: CancelResume::PartiallyFilled });
    oms.apply(&ev("p-3", "p", None, OrderEventKind::Cancelled { reason: None }));
    let o = oms.get(&c1).expect("o");
    assert_eq!(o.status, OrderStatus::Cancelled);
    assert_eq!(o.filled, Quantity::from_u64(30));
    assert_eq!(o.leaves(), Quantity::ZERO);
    assert!(oms.request_cancel(&c1, UnixNanos(3)).is_err(), "a cancelled order cannot be cancelled");
}

#[test]
fn a_refused_cancel_resumes() {
    let mut oms = Oms::new();
    let c1 = ClientOrderId::new("c1").expect("id");
    oms.submit(request("c1", 100), UnixNanos(0)).expect("new");
    oms.apply(&ev("p-1", "p", Some("c1"), OrderEventKind::Accepted));
    oms.apply(&ev("p-2", "p", None, fill("x-1", 30, 100)));
    oms.request_cancel(&c1, UnixNanos(2)).expect("cancellable");
    oms.apply(&ev("p-3", "p", None, OrderEventKind::CancelRejected { reason: "too late".into() }));
    assert_eq!(oms.get(&c1).expect("o").status, OrderStatus::PartiallyFilled);
    oms.request_cancel(&c1, UnixNanos(4)).expect("cancellable");
    oms.cancel_not_sent(&c1, "adapter closed".into(), UnixNanos(5));
    assert_eq!(oms.get(&c1).expect("o").status, OrderStatus::PartiallyFilled);
}

#[test]
fn snapshots_add_broker_orders_and_set_positions() {
    use txtrader_plugin_api::model::Position;
    use txtrader_plugin_api::wire::OrderSnapshot;
    let mut oms = Oms::new();
    oms.submit(request("mine", 10), UnixNanos(0)).expect("new");
    oms.apply(&ev("m-1", "m", Some("mine"), OrderEventKind::Accepted));
    let snap = BrokerSnapshot {
        accounts: vec![AccountId::new("A.B.C.D").expect("a")],
        balances: vec![],
        positions: vec![Position {
            account: AccountId::new("A.B.C.D").expect("a"),
            symbol: Symbol::new("IBM").expect("s"),
            quantity: SignedQuantity::new(Decimal::from(-5)),
            avg_price: None,
        }],
        orders: vec![
            OrderSnapshot {
                request: request("elsewhere", 7),
                broker_order_id: BrokerOrderId::new("e").expect("b"),
                status: OrderStatus::Working,
                filled_quantity: Quantity::ZERO,
                avg_price: None,
                reason: None,
                ts_event: UnixNanos(3),
            },
            OrderSnapshot {
                request: request("mine", 10),
                broker_order_id: BrokerOrderId::new("m").expect("b"),
                status: OrderStatus::Cancelled,
                filled_quantity: Quantity::ZERO,
                avg_price: None,
                reason: None,
                ts_event: UnixNanos(4),
            },
        ],
        executions: vec![],
    };
    let out = oms.load_snapshot(&snap, UnixNanos(5));
    assert_eq!(out.new_orders.len(), 1);
    assert_eq!(out.restated.len(), 1);
    assert_eq!(oms.find("e").expect("new").request.origin, OrderOrigin::Broker);
    assert_eq!(oms.find("m").expect("mine").status, OrderStatus::Cancelled);
    assert_eq!(position(&oms), Decimal::from(-5));
    // another broker's snapshot leaves these accounts' positions alone
    let elsewhere = BrokerSnapshot { accounts: vec![AccountId::new("X.Y.Z.W").expect("a")], ..BrokerSnapshot::default() };
    oms.load_snapshot(&elsewhere, UnixNanos(6));
    assert_eq!(position(&oms), Decimal::from(-5));
}

fn at(mut e: OrderEvent, ts: u64) -> OrderEvent {
    e.ts_event = UnixNanos(ts);
    e
}

#[test]
fn archiving_lets_old_closed_orders_go_and_a_broker_reporting_them_adds_nothing() {
    let mut oms = Oms::new();
    // old: filled at 10; recent: filled at 100; open: working since 5
    oms.book(&Entry::Submitted { request: request("old", 10), at: UnixNanos(0) });
    oms.book(&Entry::OrderEvent(at(ev("o-1", "o", Some("old"), fill("x-old", 10, 500)), 10)));
    oms.book(&Entry::Submitted { request: request("recent", 5), at: UnixNanos(0) });
    oms.book(&Entry::OrderEvent(at(ev("r-1", "r", Some("recent"), fill("x-recent", 5, 500)), 100)));
    oms.book(&Entry::Submitted { request: request("open", 7), at: UnixNanos(0) });
    oms.book(&Entry::OrderEvent(at(ev("w-1", "w", Some("open"), OrderEventKind::Accepted), 5)));
    let old_exec = oms.execution("x-old").cloned().expect("booked");
    let old_order = oms.find("o").cloned().expect("booked");
    let before = oms.positions().clone();

    let archived = oms.book(&Entry::Archive { before: UnixNanos(50), at: UnixNanos(200) });
    assert_eq!(archived, Booked::Archived(vec![ClientOrderId::new("old").expect("id")]));
    assert!(oms.find("o").is_none() && oms.find("old").is_none());
    assert!(oms.execution("x-old").is_none());
    assert!(oms.find("recent").is_some() && oms.find("w").is_some(), "recent and open orders stay");
    assert_eq!(oms.positions(), &before, "positions stay as they were");

    // The broker still reports the archived order and its execution: nothing to merge.
    let snap = |orders: Vec<OrderSnapshot>, executions| BrokerSnapshot {
        accounts: vec![AccountId::new("A.B.C.D").expect("a")],
        orders,
        executions,
        ..BrokerSnapshot::default()
    };
    let reported = OrderSnapshot {
        request: old_order.request.clone(),
        broker_order_id: BrokerOrderId::new("o").expect("b"),
        status: OrderStatus::Filled,
        filled_quantity: Quantity::from_u64(10),
        avg_price: Some(Price::from_cents(500)),
        reason: None,
        ts_event: UnixNanos(10),
    };
    let plan = oms.plan_snapshot(&snap(vec![reported.clone()], vec![old_exec.clone()]), true);
    assert!(plan.changes.orders.is_empty() && plan.changes.executions.is_empty(), "{plan:?}");
    // ...while an order the books never had, closed after the horizon, is still news.
    let mut late = reported;
    late.broker_order_id = BrokerOrderId::new("n").expect("b");
    late.request.client_order_id = ClientOrderId::new("never-seen").expect("id");
    late.ts_event = UnixNanos(60);
    assert_eq!(oms.plan_snapshot(&snap(vec![late], vec![]), true).changes.orders.len(), 1);

    // The books' image restores the same books, and a checkpoint books exactly that.
    let image = oms.image();
    assert_eq!(Oms::from_image(image.clone()).image(), image);
    let mut other = Oms::new();
    let cp = crate::gateway::entry::Checkpoint {
        books: image.clone(),
        route: None,
        current_account: None,
        exchanges: indexmap::IndexMap::new(),
        seq_reserved: 0,
        pushes: Vec::new(),
        pushes_evicted_through: 0,
        compaction: crate::gateway::entry::Compaction {
            at: UnixNanos(200),
            reason: "test".into(),
            archived_before: UnixNanos(50),
            archived_orders: 1,
            checkpoint: 1,
        },
        risk_states: Vec::new(),
    };
    assert_eq!(other.book(&Entry::Checkpoint(Box::new(cp))), Booked::Restored);
    assert_eq!(other.image(), image);
    assert!(other.plan_snapshot(&snap(vec![], vec![old_exec]), true).changes.executions.is_empty(), "the horizon came along");
}

#[test]
fn an_order_a_broker_no_longer_lists_as_open_is_filled_or_ended_by_its_executions() {
    // Brokers that list open orders only (IB): an order that ended while the gateway was away
    // is missing from the list; today's executions say how it ended.
    let mut oms = Oms::new();
    for (id, broker) in [("whole", "w"), ("part", "p"), ("none", "n")] {
        oms.book(&Entry::Submitted { request: request(id, 10), at: UnixNanos(0) });
        oms.book(&Entry::OrderEvent(ev(&format!("{broker}-1"), broker, Some(id), OrderEventKind::Accepted)));
    }
    let exec = |id: &str, broker: &str, qty: u64, cents: i64| Execution {
        exec_id: ExecutionId::new(id).expect("id"),
        client_order_id: None,
        broker_order_id: BrokerOrderId::new(broker).expect("b"),
        account: AccountId::new("A.B.C.D").expect("a"),
        symbol: Symbol::new("IBM").expect("s"),
        side: txtrader_plugin_api::model::Side::Buy,
        quantity: Quantity::from_u64(qty),
        price: Price::from_cents(cents),
        cum_quantity: Quantity::from_u64(qty),
        leaves_quantity: Quantity::ZERO,
        avg_price: Price::from_cents(cents),
        venue_fill_id: None,
        ts_event: UnixNanos(9),
        commission: None,
    };
    let snap = BrokerSnapshot {
        accounts: vec![AccountId::new("A.B.C.D").expect("a")],
        executions: vec![exec("x1", "w", 4, 1000), exec("x2", "w", 6, 1010), exec("x3", "p", 3, 1000)],
        ..BrokerSnapshot::default()
    };
    let plan = oms.plan_snapshot(&snap, true);
    assert_eq!(plan.gone, [ClientOrderId::new("none").expect("id")], "no executions: gone, as before");
    let by = |b: &str| plan.changes.orders.iter().find(|o| o.broker_order_id.as_str() == b).expect("restated");
    assert_eq!((by("w").status, by("w").filled_quantity), (OrderStatus::Filled, Quantity::from_u64(10)));
    assert_eq!(by("w").avg_price, Some(Price::new(Decimal::new(1006, 2))));
    assert_eq!((by("p").status, by("p").filled_quantity), (OrderStatus::Cancelled, Quantity::from_u64(3)));
    assert!(by("p").reason.as_deref().is_some_and(|r| r.contains("3 of 10 filled")), "{:?}", by("p").reason);
    // booked: the books follow
    oms.book(&Entry::Snapshot { changes: plan.changes, gone: plan.gone, reason: "unknown".into(), at: UnixNanos(10) });
    assert_eq!(oms.find("w").expect("o").status, OrderStatus::Filled);
    assert_eq!(oms.find("p").expect("o").status, OrderStatus::Cancelled);
    assert_eq!(oms.find("n").expect("o").status, OrderStatus::Cancelled);
}

#[test]
fn orders_the_broker_forgot_are_resolved_explicitly() {
    let mut oms = Oms::new();
    for id in ["acked", "unacked"] {
        oms.submit(request(id, 10), UnixNanos(0)).expect("new");
    }
    oms.apply(&ev("a-1", "a", Some("acked"), OrderEventKind::Accepted));
    let snap = BrokerSnapshot { accounts: vec![AccountId::new("A.B.C.D").expect("a")], ..BrokerSnapshot::default() };
    let plan = oms.plan_snapshot(&snap, true);
    assert_eq!(plan.gone, vec![ClientOrderId::new("acked").expect("id")]);
    let entry = Entry::Snapshot { changes: plan.changes, gone: plan.gone, reason: "unknown to the restarted adapter".into(), at: UnixNanos(9) };
    let Booked::Snapshot(out) = oms.book(&entry) else { panic!("a snapshot") };
    assert_eq!(out.gone, vec![ClientOrderId::new("acked").expect("id")]);
    let o = oms.find("a").expect("order");
    assert_eq!(o.status, OrderStatus::Cancelled);
    assert_eq!(o.reason.as_deref(), Some("unknown to the restarted adapter"));
    assert_eq!(oms.find("unacked").expect("order").status, OrderStatus::Initialized, "not acknowledged: left alone");
    // without reconciliation nothing is resolved
    assert!(oms.plan_snapshot(&snap, false).gone.is_empty());
}

#[test]
fn a_snapshot_is_journaled_as_what_it_changes_and_a_pending_cancel_stays_pending() {
    let mut oms = Oms::new();
    for id in ["same", "moved", "cancelling"] {
        oms.submit(request(id, 10), UnixNanos(0)).expect("new");
    }
    let broker = |c: &str| match c {
        "same" => "s",
        "moved" => "m",
        _ => "c",
    };
    for id in ["same", "moved", "cancelling"] {
        oms.apply(&ev(&format!("{id}-1"), broker(id), Some(id), OrderEventKind::Accepted));
    }
    oms.request_cancel(&ClientOrderId::new("cancelling").expect("id"), UnixNanos(1)).expect("cancel asked");
    let snap_of = |id: &str, status: OrderStatus, filled: u64| OrderSnapshot {
        request: request(id, 10),
        broker_order_id: BrokerOrderId::new(broker(id)).expect("b"),
        status,
        filled_quantity: Quantity::from_u64(filled),
        avg_price: (filled > 0).then(|| Price::from_cents(100)),
        reason: None,
        ts_event: UnixNanos(2),
    };
    let snap = BrokerSnapshot {
        accounts: vec![AccountId::new("A.B.C.D").expect("a")],
        orders: vec![
            snap_of("same", OrderStatus::Working, 0),
            snap_of("moved", OrderStatus::PartiallyFilled, 4),
            snap_of("cancelling", OrderStatus::Working, 0),
        ],
        ..BrokerSnapshot::default()
    };
    let plan = oms.plan_snapshot(&snap, true);
    let kept: Vec<&str> = plan.changes.orders.iter().map(|o| o.request.client_order_id.as_str()).collect();
    assert_eq!(kept, ["moved"], "only what differs is journaled");
    assert_eq!(plan.cancel_again, vec![ClientOrderId::new("cancelling").expect("id")]);
    assert!(plan.gone.is_empty());
    oms.book(&Entry::Snapshot { changes: plan.changes, gone: plan.gone, reason: String::new(), at: UnixNanos(3) });
    assert_eq!(oms.find("m").expect("moved").status, OrderStatus::PartiallyFilled);
    assert_eq!(oms.find("m").expect("moved").filled, Quantity::from_u64(4));
    assert_eq!(oms.find("c").expect("cancelling").status, OrderStatus::PendingCancel { resume: CancelResume::Working }, "stays pending cancel");
}

// ----- properties

#[derive(Clone, Debug)]
enum Step {
    Event { order: usize, id: u8, kind: u8, qty: u64 },
    Cancel(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0usize..3, 0u8..12, 0u8..9, 0u64..80).prop_map(|(order, id, kind, qty)| Step::Event { order, id, kind, qty }),
        1 => (0usize..3).prop_map(Step::Cancel),
    ]
}

proptest! {
    /// Whatever the broker sends (duplicates, reordering, over-fills, stale and impossible
    /// events), the books stay consistent.
    #[test]
    fn books_stay_consistent(steps in proptest::collection::vec(step(), 0..80)) {
        let mut oms = Oms::new();
        for i in 0..3 {
            oms.submit(request(&format!("c{i}"), 100), UnixNanos(0)).expect("new");
        }
        for s in steps {
            match s {
                Step::Event { order, id, kind, qty } => {
                    let broker = format!("b{order}");
                    let event_id = format!("{broker}-{id}");
                    let kind = match kind {
                        0 => OrderEventKind::Acknowledged,
                        1 => OrderEventKind::Accepted,
                        2..=4 => fill(&format!("{broker}-x{id}"), qty, 100 + i64::from(id)),
                        5 => OrderEventKind::Cancelled { reason: None },
                        6 => OrderEventKind::Rejected { reason: "no".into() },
                        7 => OrderEventKind::CancelRejected { reason: "no".into() },
                        _ => OrderEventKind::Expired,
                    };
                    oms.apply(&ev(&event_id, &broker, Some(&format!("c{order}")), kind));
                }
                Step::Cancel(order) => {
                    let _ = oms.request_cancel(&ClientOrderId::new(format!("c{order}")).expect("id"), UnixNanos(1));
                }
            }
        }
        let mut net = Decimal::ZERO;
        for o in oms.orders() {
            let execs: Vec<&Execution> = oms.executions().filter(|e| e.client_order_id.as_ref() == Some(&o.request.client_order_id)).collect();
            let sum: Decimal = execs.iter().map(|e| e.quantity.as_decimal()).sum();
            prop_assert_eq!(sum, o.filled.as_decimal());
            prop_assert!(o.filled <= o.request.quantity);
            if o.status == OrderStatus::Filled {
                prop_assert_eq!(o.filled, o.request.quantity);
            }
            let statuses: Vec<OrderStatus> = o.history.iter().map(|h| h.status).collect();
            prop_assert!(!(statuses.contains(&OrderStatus::Filled) && statuses.contains(&OrderStatus::Cancelled)));
            if let Some(i) = statuses.iter().position(|s| s.is_terminal()) {
                prop_assert!(statuses[i..].iter().all(|s| *s == statuses[i]), "changed after terminal: {:?}", statuses);
            }
            net += sum;
        }
        prop_assert_eq!(position(&oms), net, "positions equal the sum of fills");
    }
}
