//! Risk tests: each rule on its own, and properties of the check against the real books under
//! random sequences of orders, fills and cancels.

use super::check::{check, reduces, Candidate, Counters, Exposure, Rule, SymbolWorking};
use super::limits::{Limits, Rules};
use super::state::{StateEvent, TradingState};
use super::{RiskEngine, Scope};
use crate::gateway::entry::Entry;
use crate::gateway::exposure::{self, Exposure as Index};
use crate::gateway::oms::Oms;
use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::time::{Duration, Instant};
use txtrader_plugin_api::model::{
    AccountId, BrokerOrderId, ClientOrderId, ExecutionId, OrderOrigin, OrderRequest, OrderType, Price, Quantity, Side, Symbol, TimeInForce, UnixNanos,
};
use txtrader_plugin_api::wire::{Fill, OrderEvent, OrderEventKind};

fn acct() -> AccountId {
    AccountId::new("A.1").expect("account")
}

fn ibm() -> Symbol {
    Symbol::new("IBM").expect("symbol")
}

fn none() -> Rules {
    Rules { max_order_quantity: None, max_order_notional: None, ..Rules::builtin() }
}

fn no_counters() -> Counters<'static> {
    Counters { bucket: None, recent: None }
}

fn try_order(rules: &Rules, state: TradingState, side: Side, qty: u64, order_type: &OrderType, x: &Exposure, reference: Option<Price>) -> Result<(), Rule> {
    let (a, s) = (acct(), ibm());
    let c = Candidate { account: &a, symbol: &s, side, quantity: Quantity::from_u64(qty), order_type, intended_duplicate: false };
    check(rules, state, &c, x, reference, no_counters(), Instant::now()).map(|_| ()).map_err(|d| d.rule)
}

fn limit(cents: i64) -> OrderType {
    OrderType::Limit { limit_price: Price::from_cents(cents) }
}

#[test]
fn size_value_and_collar_refuse_with_their_rule() {
    let flat = Exposure::default();
    let rules = Rules { max_order_quantity: Some(dec!(1000)), max_order_notional: Some(dec!(50000)), price_collar_percent: Some(dec!(5)), ..none() };
    let r = Some(Price::from_cents(10000));
    assert_eq!(try_order(&rules, TradingState::Active, Side::Buy, 1001, &OrderType::Market, &flat, r), Err(Rule::MaxOrderQuantity));
    assert_eq!(try_order(&rules, TradingState::Active, Side::Buy, 600, &OrderType::Market, &flat, r), Err(Rule::MaxOrderNotional), "600 × 100 > 50 000");
    assert_eq!(try_order(&rules, TradingState::Active, Side::Buy, 100, &limit(10600), &flat, r), Err(Rule::PriceCollar), "6 % away");
    assert_eq!(try_order(&rules, TradingState::Active, Side::Buy, 100, &limit(10500), &flat, r), Ok(()), "5 % is inside");
    let ticks = Rules { price_collar_ticks: Some(10), ..none() };
    assert_eq!(try_order(&ticks, TradingState::Active, Side::Sell, 1, &limit(10011), &flat, r), Err(Rule::PriceCollar));
    assert_eq!(try_order(&ticks, TradingState::Active, Side::Sell, 1, &limit(10010), &flat, r), Ok(()));
    assert_eq!(try_order(&rules, TradingState::Active, Side::Buy, 1, &limit(100), &flat, None), Err(Rule::NoReferencePrice), "refused by default");
    assert_eq!(try_order(&rules, TradingState::Active, Side::Buy, 1, &OrderType::Market, &flat, None), Err(Rule::NoReferencePrice));
    let lenient = Rules { allow_without_reference: true, ..rules.clone() };
    assert_eq!(try_order(&lenient, TradingState::Active, Side::Buy, 1, &limit(100), &flat, None), Ok(()), "allowed without a reference");
    assert_eq!(try_order(&Rules::builtin(), TradingState::Active, Side::Buy, 1, &OrderType::Market, &flat, None), Ok(()), "no value limit built in: nothing needs a reference");
    let huge = Rules { max_order_notional: Some(dec!(1)), ..none() };
    let absurd = OrderType::Limit { limit_price: Price::new(Decimal::MAX) };
    assert_eq!(try_order(&huge, TradingState::Active, Side::Buy, 1_000_000, &absurd, &flat, None), Err(Rule::MaxOrderNotional), "beyond any number, no panic");
}

#[test]
fn exposure_limits_count_working_orders_and_spare_reducing_ones() {
    let rules = Rules { max_position: Some(dec!(100)), max_open_orders: Some(2), max_open_notional: Some(dec!(10000)), ..none() };
    let r = Some(Price::from_cents(5000));
    let long = Exposure { position: dec!(80), ..Exposure::default() };
    assert_eq!(try_order(&rules, TradingState::Active, Side::Buy, 21, &OrderType::Market, &long, r), Err(Rule::MaxPosition));
    assert_eq!(try_order(&rules, TradingState::Active, Side::Buy, 20, &OrderType::Market, &long, r), Ok(()));
    let working = Exposure { position: dec!(80), working: SymbolWorking { buy: dec!(10), ..SymbolWorking::default() }, ..Exposure::default() };
    assert_eq!(try_order(&rules, TradingState::Active, Side::Buy, 11, &OrderType::Market, &working, r), Err(Rule::MaxPosition), "the working buy counts");
    let full = Exposure { position: dec!(80), open_orders: 2, open_notional: dec!(9990), ..Exposure::default() };
    assert_eq!(try_order(&rules, TradingState::Active, Side::Buy, 1, &OrderType::Market, &full, r), Err(Rule::MaxOpenOrders));
    assert_eq!(try_order(&rules, TradingState::Active, Side::Sell, 80, &OrderType::Market, &full, r), Ok(()), "reducing passes the exposure limits");
    assert_eq!(try_order(&rules, TradingState::Active, Side::Sell, 81, &OrderType::Market, &full, r), Err(Rule::MaxOpenOrders), "crossing zero is not reducing");
    let notional = Exposure { open_notional: dec!(9990), ..Exposure::default() };
    assert_eq!(try_order(&rules, TradingState::Active, Side::Buy, 1, &OrderType::Market, &notional, r), Err(Rule::MaxOpenNotional));
    let size = Rules { max_order_quantity: Some(dec!(10)), ..rules };
    assert_eq!(try_order(&size, TradingState::Active, Side::Sell, 80, &OrderType::Market, &full, r), Err(Rule::MaxOrderQuantity), "reducing never passes the size limit");
}

#[test]
fn states_refuse_what_they_do_not_allow() {
    let long = Exposure { position: dec!(50), ..Exposure::default() };
    assert_eq!(try_order(&none(), TradingState::Halted, Side::Sell, 10, &OrderType::Market, &long, None), Err(Rule::Halted));
    assert_eq!(try_order(&none(), TradingState::Reducing, Side::Buy, 10, &OrderType::Market, &long, None), Err(Rule::Reducing));
    assert_eq!(try_order(&none(), TradingState::Reducing, Side::Sell, 50, &OrderType::Market, &long, None), Ok(()));
    assert_eq!(try_order(&none(), TradingState::Reducing, Side::Sell, 51, &OrderType::Market, &long, None), Err(Rule::Reducing));
    let mut engine = RiskEngine::new(Limits::builtin());
    engine.apply(&Scope::Account(acct()), StateEvent::LossLimit);
    assert_eq!(engine.effective(&acct()), TradingState::Reducing);
    engine.apply(&Scope::Gateway, StateEvent::Operator(TradingState::Halted));
    assert_eq!(engine.effective(&acct()), TradingState::Halted, "the stricter of the two");
    engine.apply(&Scope::Gateway, StateEvent::Operator(TradingState::Active));
    assert_eq!(engine.effective(&acct()), TradingState::Reducing, "re-arming the gateway leaves the account's own state");
}

#[test]
fn rate_and_duplicates_count_accepted_orders_only() {
    let text = "[default]\nmax_orders_per_second = 2\nduplicate_window_ms = 500\n";
    let mut engine = RiskEngine::new(Limits::parse(text, "t.toml").expect("limits"));
    let (a, s) = (acct(), ibm());
    let t0 = Instant::now();
    let order = |qty: u64, intended: bool| Candidate { account: &a, symbol: &s, side: Side::Buy, quantity: Quantity::from_u64(qty), order_type: &OrderType::Market, intended_duplicate: intended };
    let flat = Exposure::default();
    let pass = engine.check(&order(1, false), &flat, None, t0).expect("first");
    engine.admit(&a, pass, t0);
    assert_eq!(engine.check(&order(1, false), &flat, None, t0).map_err(|d| d.rule), Err(Rule::Duplicate));
    let pass = engine.check(&order(1, true), &flat, None, t0).expect("intended");
    engine.admit(&a, pass, t0);
    assert_eq!(engine.check(&order(2, false), &flat, None, t0).map_err(|d| d.rule), Err(Rule::OrderRate), "two a second");
    assert_eq!(engine.rate_available(&a, Some(2), t0), Some(0));
    assert_eq!(engine.rate_available(&a, Some(2), t0 + Duration::from_millis(600)), Some(1), "whole tokens only");
    assert_eq!(engine.rate_available(&a, None, t0), None);
    let later = t0 + Duration::from_millis(600);
    assert!(engine.check(&order(1, false), &flat, None, later).is_ok(), "the window and a token have passed");
}

// ----- properties against the books

/// One step of a random day.
#[derive(Clone, Debug)]
enum Step {
    /// A new order: side, quantity, limit price in cents (`None`: market).
    New(Side, u64, Option<i64>),
    /// The n-th open order fills this share (1 to 4 quarters) of what is left.
    Fill(usize, u8),
    /// The n-th open order is cancelled.
    Cancel(usize),
    /// Compaction archives the closed orders.
    Archive,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (prop_oneof![Just(Side::Buy), Just(Side::Sell)], 1u64..400, prop::option::of(9000i64..11000)).prop_map(|(s, q, p)| Step::New(s, q, p)),
        3 => (0usize..64, 1u8..=4).prop_map(|(n, q)| Step::Fill(n, q)),
        1 => (0usize..64).prop_map(Step::Cancel),
        1 => Just(Step::Archive),
    ]
}

struct Day {
    oms: Oms,
    engine: RiskEngine,
    next: u64,
    /// Orders accepted as reducing (spared the exposure limits).
    reducing: Vec<ClientOrderId>,
}

const REFERENCE: i64 = 10_000;

impl Day {
    fn new(limits: &str) -> Self {
        Self { oms: Oms::new(), engine: RiskEngine::new(Limits::parse(limits, "p.toml").expect("limits")), next: 0, reducing: Vec::new() }
    }

    fn exposure(&self) -> Exposure {
        exposure::of(&self.oms, &acct(), &ibm(), |_| Some(Price::from_cents(REFERENCE)))
    }

    fn event(&mut self, id: &ClientOrderId, kind: OrderEventKind) {
        self.next += 1;
        let event = OrderEvent {
            event_id: format!("e{}", self.next),
            broker_order_id: BrokerOrderId::new(format!("b-{id}")).expect("broker id"),
            client_order_id: Some(id.clone()),
            ts_event: UnixNanos(self.next),
            kind,
            raw: None,
        };
        self.oms.book(&Entry::OrderEvent(event));
    }

    fn open(&self, n: usize) -> Option<ClientOrderId> {
        let open = self.oms.open_orders();
        (!open.is_empty()).then(|| open[n % open.len()].clone())
    }

    fn run(&mut self, step: &Step, now: Instant) -> Option<(Result<(), Rule>, bool)> {
        match *step {
            Step::New(side, qty, cents) => {
                let order_type = cents.map_or(OrderType::Market, limit);
                let (a, s) = (acct(), ibm());
                let c = Candidate { account: &a, symbol: &s, side, quantity: Quantity::from_u64(qty), order_type: &order_type, intended_duplicate: false };
                let x = self.exposure();
                let reference = Some(Price::from_cents(REFERENCE));
                let first = self.engine.check(&c, &x, reference, now);
                assert_eq!(first, self.engine.check(&c, &x, reference, now), "the same state and order give the same answer");
                let was_reducing = reduces(x.position, side, c.quantity, &x.working);
                let answer = match first {
                    Err(d) => Err(d.rule),
                    Ok(pass) => {
                        self.next += 1;
                        let id = ClientOrderId::new(format!("o{}", self.next)).expect("id");
                        if pass.reducing {
                            self.reducing.push(id.clone());
                        }
                        self.engine.admit(&a, pass, now);
                        let request = OrderRequest {
                            client_order_id: id.clone(),
                            account: a.clone(),
                            symbol: s.clone(),
                            side,
                            quantity: c.quantity,
                            order_type,
                            time_in_force: TimeInForce::Day,
                            route: None,
                            exchange: None,
                            staged_tag: None,
                            origin: OrderOrigin::Client,
                            user: None,
                        };
                        self.oms.book(&Entry::Submitted { request, at: UnixNanos(self.next) });
                        self.event(&id, OrderEventKind::Accepted);
                        Ok(())
                    }
                };
                Some((answer, was_reducing))
            }
            Step::Fill(n, quarters) => {
                let id = self.open(n)?;
                let order = self.oms.get(&id)?;
                let leaves = order.leaves().as_decimal();
                let qty = (leaves * Decimal::from(quarters) / Decimal::from(4)).ceil();
                let qty = Quantity::new(qty.min(leaves)).ok().filter(|q| !q.is_zero())?;
                let exec = ExecutionId::new(format!("x{}", self.next + 1)).expect("exec id");
                self.event(&id, OrderEventKind::Filled(Fill { exec_id: exec, quantity: qty, price: Price::from_cents(REFERENCE), venue_fill_id: None }));
                None
            }
            Step::Cancel(n) => {
                let id = self.open(n)?;
                self.event(&id, OrderEventKind::Cancelled { reason: None });
                None
            }
            Step::Archive => {
                self.next += 1;
                self.oms.book(&Entry::Archive { before: UnixNanos(self.next), at: UnixNanos(self.next) });
                None
            }
        }
    }

    /// Σ open quantity × price of the open orders not accepted as reducing.
    fn open_notional_of_non_reducing(&self) -> Decimal {
        self.oms
            .orders()
            .filter(|o| o.status.is_open() && !self.reducing.contains(&o.request.client_order_id))
            .map(|o| o.leaves().as_decimal() * o.request.order_type.limit_price().map_or(Decimal::from(REFERENCE) / Decimal::ONE_HUNDRED, |p| p.as_decimal()))
            .sum()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// No position beyond its limit, no open notional beyond its limit through orders accepted
    /// as exposure-increasing, reducing orders never refused by an exposure limit, and the
    /// books' incremental exposure index equal to one rebuilt from the orders.
    #[test]
    fn accepted_orders_never_take_an_account_past_its_exposure_limits(steps in prop::collection::vec(step(), 1..120)) {
        let mut day = Day::new("[default]\nmax_position = 1000\nmax_open_notional = 150000\nmax_open_orders = 12\n");
        let now = Instant::now();
        for s in &steps {
            if let Some((answer, was_reducing)) = day.run(s, now) {
                if was_reducing {
                    prop_assert!(!matches!(answer, Err(Rule::MaxPosition | Rule::MaxOpenOrders | Rule::MaxOpenNotional)), "a reducing order refused: {answer:?}");
                }
            }
            let x = day.exposure();
            prop_assert!(x.position.abs() <= dec!(1000), "position {}", x.position);
            prop_assert!(x.position + x.working.buy <= dec!(1000) && x.position - x.working.sell >= dec!(-1000), "{x:?}");
            prop_assert!(day.open_notional_of_non_reducing() <= dec!(150000), "open notional {}", day.open_notional_of_non_reducing());
            prop_assert_eq!(day.oms.working(&acct()).cloned(), Index::rebuild(day.oms.orders()).account(&acct()).cloned());
        }
    }
}

#[test]
fn a_rule_is_named_alike_in_the_text_and_the_fields() {
    for rule in [Rule::Halted, Rule::Reducing, Rule::MaxOrderQuantity, Rule::MaxOrderNotional, Rule::PriceCollar, Rule::NoReferencePrice, Rule::Duplicate, Rule::OrderRate, Rule::MaxPosition, Rule::MaxOpenOrders, Rule::MaxOpenNotional] {
        assert_eq!(serde_json::to_value(rule).expect("json"), serde_json::json!(rule.name()));
    }
}

#[test]
fn a_daily_loss_at_its_limit_moves_the_account_to_reducing_once() {
    let mut engine = RiskEngine::new(Limits::parse("[default]\nmax_daily_loss = 500\n", "t.toml").expect("limits"));
    let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 4).expect("date");
    let fill = |side: Side, qty: u64, cents: i64| txtrader_plugin_api::model::Execution {
        exec_id: ExecutionId::new(format!("x{qty}{cents}")).expect("id"),
        client_order_id: None,
        broker_order_id: BrokerOrderId::new("b").expect("id"),
        account: acct(),
        symbol: ibm(),
        side,
        quantity: Quantity::from_u64(qty),
        price: Price::from_cents(cents),
        cum_quantity: Quantity::from_u64(qty),
        leaves_quantity: Quantity::ZERO,
        avg_price: Price::from_cents(cents),
        venue_fill_id: None,
        ts_event: UnixNanos(0),
        commission: None,
    };
    assert_eq!(engine.fill(&fill(Side::Buy, 100, 10_000), day), None);
    assert_eq!(engine.fill(&fill(Side::Sell, 50, 9_500), day), None, "a loss of 250");
    assert_eq!(engine.fill(&fill(Side::Sell, 50, 9_500), day), Some((dec!(-500), dec!(500))), "500 reached");
    engine.apply(&Scope::Account(acct()), StateEvent::LossLimit);
    assert_eq!(engine.effective(&acct()), TradingState::Reducing);
    assert_eq!(engine.fill(&fill(Side::Buy, 10, 10_000), day), None, "already REDUCING: not again");
    assert_eq!(engine.realised(&acct()), dec!(-500));
}
