//! Scenario and property tests of the exchange engine, driven tick by tick with synthetic time.

use super::*;
use chrono::TimeZone;
use proptest::prelude::*;
use std::collections::BTreeMap as Map;
use txtrader_plugin_api::model::{BarInterval, ClientOrderId, OrderOrigin};

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000 * MS;

/// 2024-03-06 10:00:00 New York (a Wednesday, inside the session).
fn t0() -> UnixNanos {
    UnixNanos::from(chrono_tz::America::New_York.with_ymd_and_hms(2024, 3, 6, 10, 0, 0).single().expect("t"))
}

fn exchange() -> Exchange {
    Exchange::new(SimConfig::defaults("America/New_York"), t0())
}

fn strict_exchange(at: UnixNanos) -> Exchange {
    let mut s = std::collections::BTreeMap::new();
    s.insert("trade_outside_session".to_owned(), "0".to_owned());
    Exchange::new(SimConfig::from_settings(&s, "America/New_York").expect("config"), at)
}

fn acct(n: u8) -> AccountId {
    AccountId::new(format!("REALTICKDEMO.REALTICK.DEMO3{n}.TRADING")).expect("acct")
}

fn sym(s: &str) -> Symbol {
    Symbol::new(s).expect("sym")
}

struct Driver {
    ex: Exchange,
    now: UnixNanos,
    next_id: u64,
    events: Vec<AdapterEvent>,
}

impl Driver {
    fn new(ex: Exchange, now: UnixNanos) -> Self {
        Self { ex, now, next_id: 0, events: Vec::new() }
    }

    fn request(&mut self, body: RequestBody) -> Vec<AdapterEvent> {
        self.next_id += 1;
        let out = self.ex.handle(AdapterRequest { id: RequestId(self.next_id), body }, self.now);
        self.events.extend(out.clone());
        out
    }

    fn order(&mut self, account: AccountId, symbol: &str, side: Side, qty: u64, ty: OrderType, tif: TimeInForce) -> ClientOrderId {
        self.next_id += 1;
        let coid = ClientOrderId::new(format!("c{}", self.next_id)).expect("id");
        self.request(RequestBody::SubmitOrder(OrderRequest {
            client_order_id: coid.clone(),
            account,
            symbol: sym(symbol),
            side,
            quantity: Quantity::from_u64(qty),
            order_type: ty,
            time_in_force: tif,
            route: None,
            exchange: None,
            staged_tag: None,
            origin: OrderOrigin::Client,
            user: None,
        }));
        coid
    }

    fn market(&mut self, side: Side, qty: u64) -> ClientOrderId {
        self.order(acct(2), "IBM", side, qty, OrderType::Market, TimeInForce::Day)
    }

    /// Advances time by `nanos`, running activations and (on whole seconds) ticks.
    fn advance(&mut self, nanos: u64) {
        let end = self.now.plus_nanos(nanos);
        while self.now < end {
            let next_tick = UnixNanos((self.now.0 / SEC + 1) * SEC);
            let next = self.ex.next_activation().map_or(next_tick, |a| a.min(next_tick)).min(end);
            self.now = next.max(self.now.plus_nanos(1));
            let due = self.ex.run_due(self.now);
            self.events.extend(due);
            if self.now.0.is_multiple_of(SEC) {
                let t = self.ex.tick(self.now);
                self.events.extend(t);
            }
        }
    }

    fn order_events(&self, coid: &ClientOrderId) -> Vec<OrderEventKind> {
        self.events
            .iter()
            .filter_map(|e| match e {
                AdapterEvent::Order(o) if o.client_order_id.as_ref() == Some(coid) => Some(o.kind.clone()),
                _ => None,
            })
            .collect()
    }

    fn broker_id(&self, coid: &ClientOrderId) -> BrokerOrderId {
        self.events
            .iter()
            .find_map(|e| match e {
                AdapterEvent::Order(o) if o.client_order_id.as_ref() == Some(coid) => Some(o.broker_order_id.clone()),
                _ => None,
            })
            .expect("order has events")
    }

    fn fills(&self, coid: &ClientOrderId) -> Vec<Fill> {
        self.order_events(coid)
            .into_iter()
            .filter_map(|k| match k {
                OrderEventKind::Filled(f) => Some(f),
                _ => None,
            })
            .collect()
    }

    fn snapshot(&mut self) -> BrokerSnapshot {
        let out = self.request(RequestBody::Snapshot);
        match out.into_iter().next() {
            Some(AdapterEvent::Reply { body: ReplyBody::Snapshot(s), .. }) => s,
            other => panic!("expected a snapshot, got {other:?}"),
        }
    }

    fn status(&mut self, coid: &ClientOrderId) -> OrderStatus {
        let snap = self.snapshot();
        snap.orders.iter().find(|o| &o.request.client_order_id == coid).expect("known").status
    }
}

fn kinds(events: &[OrderEventKind]) -> Vec<&'static str> {
    events
        .iter()
        .map(|k| match k {
            OrderEventKind::Acknowledged => "ack",
            OrderEventKind::Staged => "staged",
            OrderEventKind::Accepted => "accepted",
            OrderEventKind::Triggered => "triggered",
            OrderEventKind::Filled(_) => "fill",
            OrderEventKind::CancelRejected { .. } => "cancel-rejected",
            OrderEventKind::Cancelled { .. } => "cancelled",
            OrderEventKind::Rejected { .. } => "rejected",
            OrderEventKind::Expired => "expired",
            OrderEventKind::Modified { .. } => "modified",
            OrderEventKind::ModifyRejected { .. } => "modify-rejected",
            OrderEventKind::Unknown => "unknown",
        })
        .collect()
}

#[test]
fn hello_then_connected() {
    let mut d = Driver::new(exchange(), t0());
    let out = d.request(RequestBody::Hello(txtrader_plugin_api::wire::HostHello {
        protocol_version: PROTOCOL_VERSION,
        host_version: "test".into(),
        features: vec![],
    }));
    assert!(matches!(&out[0], AdapterEvent::Reply { body: ReplyBody::Hello(h), .. } if h.name == "sim"));
    assert_eq!(out[1], AdapterEvent::Link(LinkState::Connected));
    let bad = d.request(RequestBody::Hello(txtrader_plugin_api::wire::HostHello {
        protocol_version: 99,
        host_version: "test".into(),
        features: vec![],
    }));
    assert!(matches!(&bad[0], AdapterEvent::Failed { error, .. } if error.code == ErrorCode::InvalidRequest));
}

#[test]
fn market_order_fills_against_the_touch() {
    let mut d = Driver::new(exchange(), t0());
    let ask = d.ex.market(&sym("IBM"), t0()).ask_cents();
    let c = d.market(Side::Buy, 100);
    assert_eq!(kinds(&d.order_events(&c)), ["ack"]);
    d.advance(250 * MS);
    assert_eq!(kinds(&d.order_events(&c)), ["ack", "accepted", "fill"]);
    let fill = &d.fills(&c)[0];
    assert_eq!(fill.price, Price::from_cents(ask));
    assert_eq!(fill.quantity, Quantity::from_u64(100));
    assert!(fill.exec_id.as_str().starts_with(d.broker_id(&c).as_str()));
    let snap = d.snapshot();
    let pos = snap.positions.iter().find(|p| p.account == acct(2)).expect("position");
    assert_eq!(pos.quantity, SignedQuantity::new(Decimal::from(100)));
    let bal = snap.balances.iter().find(|b| b.account == acct(2)).expect("balance");
    assert_eq!(bal.cash.as_decimal(), Decimal::from(100_000) - Price::from_cents(ask).as_decimal() * Decimal::from(100));
    assert_eq!(snap.executions.len(), 1);
    // a fill prints on the tape
    assert_eq!(d.ex.markets[&sym("IBM")].last_cents(), Some(ask));
}

#[test]
fn large_orders_fill_in_parts_over_time() {
    let mut d = Driver::new(exchange(), t0());
    let c = d.market(Side::Buy, 1000);
    d.advance(250 * MS);
    assert_eq!(d.fills(&c).len(), 1);
    assert_eq!(d.status(&c), OrderStatus::PartiallyFilled);
    d.advance(SEC);
    assert_eq!(d.fills(&c).len(), 2);
    d.advance(5 * SEC);
    let fills = d.fills(&c);
    assert_eq!(fills.len(), 4);
    assert!(fills.iter().all(|f| f.quantity == Quantity::from_u64(250)));
    assert_eq!(d.status(&c), OrderStatus::Filled);
    assert_eq!(kinds(&d.order_events(&c)).last(), Some(&"fill"));
}

#[test]
fn limit_orders_rest_until_crossed_and_cancel() {
    let mut d = Driver::new(exchange(), t0());
    let ask = Price::from_cents(d.ex.market(&sym("IBM"), t0()).ask_cents());
    // marketable: fills at the touch, not worse than the limit
    let limit = Price::new(ask.as_decimal() + Decimal::ONE);
    let m = d.order(acct(2), "IBM", Side::Buy, 100, OrderType::Limit { limit_price: limit }, TimeInForce::Day);
    d.advance(250 * MS);
    assert_eq!(d.fills(&m)[0].price, ask);
    // far away: rests through many ticks, then cancels
    let far = Price::new(ask.as_decimal() / Decimal::TWO);
    let r = d.order(acct(2), "IBM", Side::Buy, 100, OrderType::Limit { limit_price: far }, TimeInForce::Day);
    d.advance(30 * SEC);
    assert!(d.fills(&r).is_empty());
    assert_eq!(d.status(&r), OrderStatus::Working);
    let b = d.broker_id(&r);
    d.request(RequestBody::CancelOrder { client_order_id: None, broker_order_id: b.clone() });
    assert_eq!(kinds(&d.order_events(&r)), ["ack", "accepted", "cancelled"]);
    // cancelling again is refused: the order is no longer live
    d.request(RequestBody::CancelOrder { client_order_id: None, broker_order_id: b });
    assert_eq!(kinds(&d.order_events(&r)).last(), Some(&"cancel-rejected"));
}

#[test]
fn a_resting_order_changes_quantity_and_price_and_trades_on_its_new_terms() {
    let mut d = Driver::new(exchange(), t0());
    let ask = Price::from_cents(d.ex.market(&sym("IBM"), t0()).ask_cents());
    let far = Price::new(ask.as_decimal() / Decimal::TWO);
    let r = d.order(acct(2), "IBM", Side::Buy, 100, OrderType::Limit { limit_price: far }, TimeInForce::Day);
    d.advance(SEC);
    let b = d.broker_id(&r);
    let modify = |quantity: u64, limit_price: Price| RequestBody::ModifyOrder {
        client_order_id: None,
        broker_order_id: b.clone(),
        quantity: Quantity::from_u64(quantity),
        order_type: OrderType::Limit { limit_price },
    };
    // still far: it rests on its new size
    d.request(modify(60, Price::new(far.as_decimal() - Decimal::ONE)));
    d.advance(5 * SEC);
    assert_eq!(kinds(&d.order_events(&r)), ["ack", "accepted", "modified"]);
    assert!(d.fills(&r).is_empty());
    // a type change is refused; the order goes on
    d.request(RequestBody::ModifyOrder { client_order_id: None, broker_order_id: b.clone(), quantity: Quantity::from_u64(60), order_type: OrderType::Market });
    assert_eq!(kinds(&d.order_events(&r)).last(), Some(&"modify-rejected"));
    // through the market: it fills its 60 at once
    d.request(modify(60, Price::new(ask.as_decimal() + Decimal::ONE)));
    d.advance(SEC);
    let filled: Decimal = d.fills(&r).iter().map(|f| f.quantity.as_decimal()).sum();
    assert_eq!(filled, Decimal::from(60));
    assert_eq!(d.status(&r), OrderStatus::Filled);
    // a filled order cannot change
    d.request(modify(80, ask));
    assert_eq!(kinds(&d.order_events(&r)).last(), Some(&"modify-rejected"));
}

#[test]
fn resting_limit_fills_when_the_market_comes_to_it() {
    let mut d = Driver::new(exchange(), t0());
    let bid = d.ex.market(&sym("IBM"), t0()).bid_cents();
    let limit = Price::from_cents(bid - 3);
    let c = d.order(acct(2), "IBM", Side::Buy, 100, OrderType::Limit { limit_price: limit }, TimeInForce::Gtc);
    for _ in 0..3600 {
        d.advance(SEC);
        if !d.fills(&c).is_empty() {
            break;
        }
    }
    let fills = d.fills(&c);
    assert_eq!(fills.len(), 1, "the random walk reaches 3 cents lower within an hour");
    assert!(fills[0].price <= limit);
}

#[test]
fn stops_trigger_then_fill_or_rest() {
    let mut d = Driver::new(exchange(), t0());
    let ask = Price::from_cents(d.ex.market(&sym("IBM"), t0()).ask_cents());
    let below = Price::new(ask.as_decimal() - Decimal::ONE);
    // a buy stop already through the market triggers at once and fills
    let s = d.order(acct(2), "IBM", Side::Buy, 100, OrderType::Stop { stop_price: below }, TimeInForce::Day);
    d.advance(250 * MS);
    assert_eq!(kinds(&d.order_events(&s)), ["ack", "accepted", "triggered", "fill"]);
    // a sell stop far below does not trigger
    let far = Price::new(ask.as_decimal() / Decimal::TWO);
    let s2 = d.order(acct(2), "IBM", Side::Sell, 100, OrderType::Stop { stop_price: far }, TimeInForce::Day);
    d.advance(10 * SEC);
    assert_eq!(kinds(&d.order_events(&s2)), ["ack", "accepted"]);
    // a stop-limit triggers, then rests at a limit far below the market
    let sl = d.order(
        acct(2),
        "IBM",
        Side::Buy,
        100,
        OrderType::StopLimit { stop_price: below, limit_price: far },
        TimeInForce::Day,
    );
    d.advance(10 * SEC);
    assert_eq!(kinds(&d.order_events(&sl)), ["ack", "accepted", "triggered"]);
    // and a stop-limit whose limit is marketable fills
    let above = Price::new(ask.as_decimal() + Decimal::TEN);
    let sl2 = d.order(
        acct(2),
        "IBM",
        Side::Buy,
        100,
        OrderType::StopLimit { stop_price: below, limit_price: above },
        TimeInForce::Day,
    );
    d.advance(300 * MS);
    assert_eq!(kinds(&d.order_events(&sl2)), ["ack", "accepted", "triggered", "fill"]);
}

#[test]
fn rejections_come_first_and_alone() {
    let mut d = Driver::new(exchange(), t0());
    let bad = d.order(acct(2), "BADSYMBOL", Side::Buy, 100, OrderType::Market, TimeInForce::Day);
    let zero = d.market(Side::Sell, 0);
    let unknown = AccountId::new("NO.SUCH.ACCOUNT.X").expect("acct");
    let acct_bad = d.order(unknown, "IBM", Side::Buy, 100, OrderType::Market, TimeInForce::Day);
    let px = d.order(acct(2), "IBM", Side::Buy, 1, OrderType::Limit { limit_price: Price::ZERO }, TimeInForce::Day);
    d.advance(2 * SEC);
    for (c, why) in [(bad, "Invalid symbol"), (zero, "Invalid quantity"), (acct_bad, "Invalid account"), (px, "Invalid price")] {
        let ev = d.order_events(&c);
        assert_eq!(kinds(&ev), ["rejected"]);
        assert!(matches!(&ev[0], OrderEventKind::Rejected { reason } if reason.starts_with(why)), "{ev:?}");
    }
}

#[test]
fn staged_tickets_wait_and_cancel_as_user_cancel() {
    let mut d = Driver::new(exchange(), t0());
    d.next_id += 1;
    let coid = ClientOrderId::new("ticket-1").expect("id");
    d.request(RequestBody::SubmitOrder(OrderRequest {
        client_order_id: coid.clone(),
        account: acct(2),
        symbol: sym("GOOG"),
        side: Side::Buy,
        quantity: Quantity::from_u64(10),
        order_type: OrderType::Market,
        time_in_force: TimeInForce::Day,
        route: None,
        exchange: None,
        staged_tag: Some("TAG".into()),
        origin: OrderOrigin::Client,
        user: None,
    }));
    d.advance(20 * SEC);
    assert_eq!(kinds(&d.order_events(&coid)), ["staged"]);
    assert_eq!(d.status(&coid), OrderStatus::Held);
    let b = d.broker_id(&coid);
    d.request(RequestBody::CancelOrder { client_order_id: None, broker_order_id: b });
    let ev = d.order_events(&coid);
    assert!(matches!(ev.last(), Some(OrderEventKind::Cancelled { reason: Some(r) }) if r == "User cancel"));
}

#[test]
fn unknown_order_cancel_is_refused() {
    let mut d = Driver::new(exchange(), t0());
    let out = d.request(RequestBody::CancelOrder {
        client_order_id: None,
        broker_order_id: BrokerOrderId::new("nope").expect("id"),
    });
    assert!(matches!(&out[0], AdapterEvent::Order(OrderEvent { kind: OrderEventKind::CancelRejected { .. }, .. })));
}

#[test]
fn ioc_cancels_the_rest_and_day_orders_expire() {
    let mut d = Driver::new(exchange(), t0());
    let bid = Price::from_cents(d.ex.market(&sym("IBM"), t0()).bid_cents());
    let far = Price::new(bid.as_decimal() / Decimal::TWO);
    let ioc = d.order(acct(2), "IBM", Side::Buy, 100, OrderType::Limit { limit_price: far }, TimeInForce::Ioc);
    let day = d.order(acct(2), "IBM", Side::Buy, 100, OrderType::Limit { limit_price: far }, TimeInForce::Day);
    let gtc = d.order(acct(2), "IBM", Side::Buy, 100, OrderType::Limit { limit_price: far }, TimeInForce::Gtc);
    d.advance(SEC);
    assert_eq!(kinds(&d.order_events(&ioc)), ["ack", "accepted", "cancelled"]);
    // next day (the demo trades around the clock: DAY orders expire at the date change)
    d.advance(15 * 3600 * SEC);
    assert_eq!(kinds(&d.order_events(&day)).last(), Some(&"expired"));
    assert_eq!(kinds(&d.order_events(&gtc)).last(), Some(&"accepted"));
}

#[test]
fn strict_session_holds_orders_until_the_open() {
    // 08:00 New York, before the open
    let early = UnixNanos::from(chrono_tz::America::New_York.with_ymd_and_hms(2024, 3, 6, 8, 0, 0).single().expect("t"));
    let mut d = Driver::new(strict_exchange(early), early);
    let c = d.market(Side::Buy, 100);
    d.advance(60 * SEC);
    assert_eq!(kinds(&d.order_events(&c)), ["ack", "accepted"], "no fill before the open");
    d.advance(90 * 60 * SEC);
    assert_eq!(kinds(&d.order_events(&c)), ["ack", "accepted", "fill"], "filled after 09:30");
}

#[test]
fn only_subscribed_symbols_stream() {
    let mut d = Driver::new(exchange(), t0());
    let out = d.request(RequestBody::Subscribe { symbol: sym("IBM"), exchange: None });
    match &out[0] {
        AdapterEvent::Reply { body: ReplyBody::Market(m), .. } => {
            assert_eq!(m.instrument.symbol, sym("IBM"));
            assert!(m.instrument.cusip.as_ref().is_some_and(|c| c.len() == 9));
            assert!(m.quote.is_some());
        }
        other => panic!("{other:?}"),
    }
    d.market(Side::Buy, 1); // creates no subscription for MSFT below
    d.order(acct(2), "MSFT", Side::Buy, 1, OrderType::Market, TimeInForce::Day);
    d.advance(3 * SEC);
    let quoted: std::collections::BTreeSet<String> = d
        .events
        .iter()
        .filter_map(|e| match e {
            AdapterEvent::Quote(q) => Some(q.symbol.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(quoted.into_iter().collect::<Vec<_>>(), ["IBM"]);
    assert!(d.events.iter().any(|e| matches!(e, AdapterEvent::Clock { .. })));
    let invalid = d.request(RequestBody::Subscribe { symbol: sym("BADSYMBOL"), exchange: None });
    assert!(matches!(&invalid[0], AdapterEvent::Reply { body: ReplyBody::SymbolInvalid { .. }, .. }));
}

#[test]
fn bar_requests_are_deterministic() {
    let mut d = Driver::new(exchange(), t0());
    let s = UnixNanos::from(chrono_tz::America::New_York.with_ymd_and_hms(2017, 8, 29, 9, 30, 0).single().expect("t"));
    let e = UnixNanos::from(chrono_tz::America::New_York.with_ymd_and_hms(2017, 8, 29, 9, 40, 0).single().expect("t"));
    let body = RequestBody::Bars { symbol: sym("SPY"), interval: BarInterval::Minutes(1), start: s, end: e, exchange: None };
    let a = d.request(body.clone());
    let b = Driver::new(exchange(), t0()).request(body);
    let AdapterEvent::Reply { body: ReplyBody::Bars { bars }, .. } = &a[0] else { panic!("{a:?}") };
    assert_eq!(bars.len(), 11);
    let AdapterEvent::Reply { body: ReplyBody::Bars { bars: bars_b }, .. } = &b[0] else { panic!("{b:?}") };
    assert_eq!(bars, bars_b);
}

// ----- properties

#[derive(Clone, Debug)]
enum Op {
    Submit { account: u8, symbol: usize, buy: bool, qty: u64, kind: u8, offset_cents: i64, ioc: bool },
    Cancel(usize),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u8..=2, 0usize..3, any::<bool>(), 0u64..1500, 0u8..4, -50i64..50, any::<bool>())
            .prop_map(|(account, symbol, buy, qty, kind, offset_cents, ioc)| Op::Submit { account, symbol, buy, qty, kind, offset_cents, ioc }),
        2 => (0usize..40).prop_map(Op::Cancel),
        3 => (1u64..4000).prop_map(|ms| Op::Advance(ms * MS)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Whatever clients do, the exchange's books stay consistent with its own reports.
    #[test]
    fn books_match_the_reported_fills(ops in proptest::collection::vec(op(), 1..60)) {
        const SYMBOLS: [&str; 3] = ["IBM", "AAPL", "BADSYMBOL"];
        let mut d = Driver::new(exchange(), t0());
        let mut coids = Vec::new();
        for op in ops {
            match op {
                Op::Submit { account, symbol, buy, qty, kind, offset_cents, ioc } => {
                    let side = if buy { Side::Buy } else { Side::Sell };
                    let mid = if SYMBOLS[symbol] == "BADSYMBOL" { 1000 } else { d.ex.market(&sym(SYMBOLS[symbol]), d.now).bid_cents() };
                    let p = Price::from_cents((mid + offset_cents).max(1));
                    let ty = match kind {
                        0 => OrderType::Market,
                        1 => OrderType::Limit { limit_price: p },
                        2 => OrderType::Stop { stop_price: p },
                        _ => OrderType::StopLimit { stop_price: p, limit_price: p },
                    };
                    let tif = if ioc { TimeInForce::Ioc } else { TimeInForce::Day };
                    coids.push(d.order(acct(account), SYMBOLS[symbol], side, qty, ty, tif));
                }
                Op::Cancel(i) => {
                    if let Some(c) = coids.get(i % coids.len().max(1)).cloned() {
                        let b = d.broker_id(&c);
                        d.request(RequestBody::CancelOrder { client_order_id: Some(c), broker_order_id: b });
                    }
                }
                Op::Advance(n) => d.advance(n),
            }
        }
        d.advance(10 * SEC);

        // Per order: the events form a valid history, fills never exceed the quantity.
        let snap = d.snapshot();
        let mut expected_pos: Map<(AccountId, Symbol), Decimal> = Map::new();
        let mut expected_cash: Map<AccountId, Decimal> = Map::new();
        for o in &snap.orders {
            let c = &o.request.client_order_id;
            let events = d.order_events(c);
            let mut status = OrderStatus::Initialized;
            let mut filled = Decimal::ZERO;
            for ev in &events {
                prop_assert!(!status.is_terminal() || matches!(ev, OrderEventKind::CancelRejected { .. }),
                    "event {ev:?} after terminal {status:?}");
                if let OrderEventKind::Filled(f) = ev {
                    filled += f.quantity.as_decimal();
                    let signed = if o.request.side == Side::Buy { f.quantity.as_decimal() } else { -f.quantity.as_decimal() };
                    *expected_pos.entry((o.request.account.clone(), o.request.symbol.clone())).or_default() += signed;
                    *expected_cash.entry(o.request.account.clone()).or_default() -= signed * f.price.as_decimal();
                    let t = if filled == o.request.quantity.as_decimal() { OrderTrigger::Fill } else { OrderTrigger::PartialFill };
                    status = status.transition(t).map_err(|e| TestCaseError::fail(e.to_string()))?;
                } else {
                    let t = match ev {
                        OrderEventKind::Acknowledged => Some(OrderTrigger::Acknowledge),
                        OrderEventKind::Staged => Some(OrderTrigger::Stage),
                        OrderEventKind::Accepted => Some(OrderTrigger::Accept),
                        OrderEventKind::Triggered => Some(OrderTrigger::Trigger),
                        OrderEventKind::Cancelled { .. } => Some(OrderTrigger::Cancel),
                        OrderEventKind::Rejected { .. } => Some(OrderTrigger::Reject),
                        OrderEventKind::Expired => Some(OrderTrigger::Expire),
                        _ => None,
                    };
                    if let Some(t) = t {
                        status = status.transition(t).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    }
                }
            }
            prop_assert!(filled <= o.request.quantity.as_decimal());
            prop_assert_eq!(filled, o.filled_quantity.as_decimal());
            prop_assert_eq!(status, o.status);
            if o.status == OrderStatus::Filled {
                prop_assert_eq!(filled, o.request.quantity.as_decimal());
            }
        }
        for p in &snap.positions {
            let e = expected_pos.get(&(p.account.clone(), p.symbol.clone())).copied().unwrap_or_default();
            prop_assert_eq!(p.quantity.as_decimal(), e, "position {} {}", p.account, p.symbol);
        }
        for b in &snap.balances {
            let e = Decimal::from(100_000) + expected_cash.get(&b.account).copied().unwrap_or_default();
            prop_assert_eq!(b.cash.as_decimal(), e);
        }
        prop_assert_eq!(snap.executions.len(), d.events.iter().filter(|e| matches!(e, AdapterEvent::Order(OrderEvent { kind: OrderEventKind::Filled(_), .. }))).count());
    }
}

// ----- state hand-over

fn state_of(out: &[AdapterEvent]) -> String {
    match out.first() {
        Some(AdapterEvent::Reply { body: ReplyBody::State { state }, .. }) => state.clone(),
        other => panic!("expected a state, got {other:?}"),
    }
}

fn without_timestamps(mut s: BrokerSnapshot) -> BrokerSnapshot {
    for b in &mut s.balances {
        b.ts_event = UnixNanos(0);
    }
    s
}

#[test]
fn a_handed_over_exchange_continues_as_if_nothing_happened() {
    let mut a = Driver::new(exchange(), t0());
    a.request(RequestBody::Subscribe { symbol: sym("IBM"), exchange: None });
    let bid = a.ex.market(&sym("IBM"), t0()).bid_cents();
    let resting = a.order(acct(2), "IBM", Side::Buy, 100, OrderType::Limit { limit_price: Price::from_cents(bid / 2) }, TimeInForce::Gtc);
    let big = a.market(Side::Buy, 1000);
    let done = a.market(Side::Sell, 50);
    a.advance(250 * MS);
    assert_eq!(a.fills(&big).len(), 1, "the large order is mid-fill");
    let before = without_timestamps(a.snapshot());

    // export: the old generation answers its state and freezes
    let state = state_of(&a.request(RequestBody::ExportState));
    assert!(a.ex.tick(a.now.plus_nanos(SEC)).is_empty(), "a frozen exchange does not tick");
    let refused = a.request(RequestBody::Snapshot);
    assert!(matches!(&refused[0], AdapterEvent::Failed { error, .. } if error.message.contains("exported")));

    // import into a fresh generation
    let mut b = Driver::new(exchange(), a.now);
    b.next_id = 100;
    let out = b.request(RequestBody::ImportState { state: state.clone() });
    assert!(matches!(&out[0], AdapterEvent::Reply { body: ReplyBody::Done, .. }), "{out:?}");
    assert_eq!(without_timestamps(b.snapshot()), before, "orders, positions, cash and executions carried over");

    // it goes on: the large order completes, the resting one cancels, ids do not collide
    b.events = a.events.clone();
    b.advance(5 * SEC);
    assert_eq!(b.fills(&big).len(), 4);
    assert_eq!(b.status(&big), OrderStatus::Filled);
    assert_eq!(b.status(&done), OrderStatus::Filled);
    let rid = b.broker_id(&resting);
    b.request(RequestBody::CancelOrder { client_order_id: None, broker_order_id: rid });
    assert_eq!(kinds(&b.order_events(&resting)).last(), Some(&"cancelled"));
    let fresh = b.market(Side::Buy, 10);
    let fresh_id = b.broker_id(&fresh);
    assert!(![&resting, &big, &done].iter().any(|c| b.broker_id(c) == fresh_id));
    // subscriptions carried over: quotes keep streaming for IBM
    assert!(b.events.iter().rev().take(50).any(|e| matches!(e, AdapterEvent::Quote(q) if q.symbol.as_str() == "IBM")));
}

#[test]
fn imported_markets_continue_the_same_random_stream() {
    let mut a = Driver::new(exchange(), t0());
    a.request(RequestBody::Subscribe { symbol: sym("MSFT"), exchange: None });
    a.advance(3 * SEC);
    let state = state_of(&a.request(RequestBody::ExportState));
    let run = |state: String| {
        let mut x = Driver::new(exchange(), t0());
        x.request(RequestBody::ImportState { state });
        x.events.clear();
        x.now = UnixNanos(t0().0 + 3 * SEC);
        x.advance(10 * SEC);
        x.events
    };
    assert_eq!(run(state.clone()), run(state), "same state, same future");
}

#[test]
fn an_aborted_hand_over_imports_back_and_bad_states_are_refused() {
    let mut a = Driver::new(exchange(), t0());
    let c = a.market(Side::Buy, 10);
    let state = state_of(&a.request(RequestBody::ExportState));
    let out = a.request(RequestBody::ImportState { state });
    assert!(matches!(&out[0], AdapterEvent::Reply { body: ReplyBody::Done, .. }));
    a.advance(SEC);
    assert_eq!(a.status(&c), OrderStatus::Filled, "the original exchange runs again");
    let out = a.request(RequestBody::ImportState { state: r#"{"format": 2}"#.into() });
    assert!(matches!(&out[0], AdapterEvent::Failed { error, .. } if error.code == ErrorCode::InvalidRequest));
}


#[test]
fn a_copy_ahead_then_only_the_changes_hand_the_exchange_over() {
    let mut a = Driver::new(exchange(), t0());
    a.request(RequestBody::Subscribe { symbol: sym("IBM"), exchange: None });
    let bid = a.ex.market(&sym("IBM"), t0()).bid_cents();
    let limit = |cents| OrderType::Limit { limit_price: Price::from_cents(cents) };
    let resting: Vec<ClientOrderId> = (0..50).map(|_| a.order(acct(2), "IBM", Side::Buy, 100, limit(bid / 2), TimeInForce::Gtc)).collect();
    a.advance(SEC);

    // the copy: the exchange keeps trading
    let copy = state_of(&a.request(RequestBody::CopyState));
    assert!(!a.ex.is_frozen());
    let mut b = Driver::new(exchange(), a.now);
    b.next_id = 1000;
    let out = b.request(RequestBody::ImportState { state: copy.clone() });
    assert!(matches!(&out[0], AdapterEvent::Reply { body: ReplyBody::Done, .. }), "{out:?}");
    assert!(b.ex.is_staged());
    let refused = b.request(RequestBody::Snapshot);
    assert!(matches!(&refused[0], AdapterEvent::Failed { error, .. } if error.message.contains("awaiting the rest")), "a staged exchange serves nothing");

    // meanwhile: one resting order cancelled, a new one rests, a market order fills
    let gone = resting[0].clone();
    let rid = a.broker_id(&gone);
    a.request(RequestBody::CancelOrder { client_order_id: None, broker_order_id: rid });
    let late = a.order(acct(2), "IBM", Side::Buy, 7, limit(bid / 3), TimeInForce::Gtc);
    let filled = a.market(Side::Sell, 30);
    a.advance(5 * SEC);
    assert_eq!(a.status(&filled), OrderStatus::Filled);
    let before = without_timestamps(a.snapshot());

    // the rest carries only what changed since the copy
    let rest = state_of(&a.request(RequestBody::ExportState));
    assert!(a.ex.is_frozen());
    assert!(rest.len() * 5 < copy.len(), "the rest ({} bytes) is far smaller than the copy ({} bytes)", rest.len(), copy.len());
    let out = b.request(RequestBody::ImportState { state: rest.clone() });
    assert!(matches!(&out[0], AdapterEvent::Reply { body: ReplyBody::Done, .. }), "{out:?}");
    assert!(!b.ex.is_staged());
    assert_eq!(without_timestamps(b.snapshot()), before, "the copy and the changes make the whole books");
    b.events = a.events.clone();
    let rid = b.broker_id(&late);
    b.request(RequestBody::CancelOrder { client_order_id: None, broker_order_id: rid });
    assert_eq!(kinds(&b.order_events(&late)).last(), Some(&"cancelled"), "an order placed after the copy is known");

    // an aborted hand-over: the rest given back thaws the exchange that made it
    let out = a.request(RequestBody::ImportState { state: rest });
    assert!(matches!(&out[0], AdapterEvent::Reply { body: ReplyBody::Done, .. }), "{out:?}");
    assert!(!a.ex.is_frozen());
    assert_eq!(without_timestamps(a.snapshot()), before);

    // a copy is refused by an exchange that trades, and a rest without its copy everywhere
    let out = a.request(RequestBody::ImportState { state: copy });
    assert!(matches!(&out[0], AdapterEvent::Failed { error, .. } if error.message.contains("trading")), "{out:?}");
    let other = state_of(&a.request(RequestBody::CopyState));
    let rest = state_of(&a.request(RequestBody::ExportState));
    let mut c = Driver::new(exchange(), a.now);
    let out = c.request(RequestBody::ImportState { state: rest });
    assert!(matches!(&out[0], AdapterEvent::Failed { error, .. } if error.message.contains("does not hold")), "{out:?}");
    let out = c.request(RequestBody::ImportState { state: other });
    assert!(matches!(&out[0], AdapterEvent::Reply { body: ReplyBody::Done, .. }), "{out:?}");
}

#[test]
fn a_state_exported_by_an_earlier_build_as_plain_json_is_read() {
    let mut a = Driver::new(exchange(), t0());
    let c = a.market(Side::Buy, 10);
    let state = state_of(&a.request(RequestBody::ExportState));
    use base64::Engine as _;
    let json = base64::engine::general_purpose::STANDARD.decode(state.strip_prefix("b64:").expect("base64 state")).expect("base64");
    let mut b = Driver::new(exchange(), a.now);
    let out = b.request(RequestBody::ImportState { state: String::from_utf8(json).expect("utf-8") });
    assert!(matches!(&out[0], AdapterEvent::Reply { body: ReplyBody::Done, .. }), "{out:?}");
    b.events = a.events.clone();
    b.advance(SEC);
    assert_eq!(b.status(&c), OrderStatus::Filled);
}
