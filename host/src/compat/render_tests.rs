//! Rendering tests: the exact txTrader shapes, field types and key orders.

use super::*;
use crate::config::Config;
use crate::gateway::oms::{Booked, Oms};
use crate::gateway::entry::Entry;
use chrono::NaiveTime;
use std::collections::BTreeMap;
use txtrader_plugin_api::model::{
    AccountId, BrokerOrderId, ClientOrderId, ExecutionId, Money, OrderRequest, Quantity, Quote, SessionHours,
    OrderType, SessionStats, Side, Symbol, TimeInForce, Trade,
};
use txtrader_plugin_api::wire::{Fill, OrderEvent, OrderEventKind};

fn cfg(extra: &[(&str, &str)]) -> CompatConfig {
    let mut env: BTreeMap<String, String> = extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    env.insert("TXTRADER_JOURNAL".into(), "0".into());
    CompatConfig::from_config(&Config::from_map(&env, "box").expect("config"))
}

fn instrument() -> Instrument {
    Instrument {
        symbol: Symbol::new("IBM").expect("s"),
        name: "IBM SIMULATED CORP".into(),
        cusip: Some("459200101".into()),
        exchange: Some("SIM".into()),
        currency: "USD".into(),
        session: SessionHours {
            start: NaiveTime::from_hms_opt(9, 30, 0).expect("t"),
            stop: NaiveTime::from_hms_opt(16, 0, 0).expect("t"),
            timezone: "America/New_York".into(),
        },
    }
}

fn request(staged: bool, qty: u64) -> OrderRequest {
    OrderRequest {
        client_order_id: ClientOrderId::new("c1").expect("id"),
        account: AccountId::new("REALTICKDEMO.REALTICK.DEMO32.TRADING").expect("a"),
        symbol: Symbol::new("IBM").expect("s"),
        side: Side::Buy,
        quantity: Quantity::from_u64(qty),
        order_type: OrderType::Market,
        time_in_force: TimeInForce::Day,
        route: Some(txtrader_plugin_api::model::Route {
            name: "ALGO".into(),
            params: serde_json::from_value(json!({"STRAT_ID": "BEST", "STRAT_PARAMETERS": {"99970": "2", "99971": "x"}})).ok(),
        }),
        exchange: None,
        staged_tag: staged.then(|| "TAG".to_owned()),
        origin: OrderOrigin::Client,
        user: None,
    }
}

fn event(n: u32, kind: OrderEventKind) -> OrderEvent {
    OrderEvent {
        event_id: format!("p-{n}"),
        broker_order_id: BrokerOrderId::new("p").expect("b"),
        client_order_id: Some(ClientOrderId::new("c1").expect("id")),
        ts_event: UnixNanos(1_700_000_000_000_000_000 + u64::from(n)),
        kind,
        raw: None,
    }
}

fn fill(n: u32, qty: u64, cents: i64) -> OrderEvent {
    event(
        n,
        OrderEventKind::Filled(Fill {
            exec_id: ExecutionId::new(format!("p-{n}")).expect("x"),
            quantity: Quantity::from_u64(qty),
            price: Price::from_cents(cents),
            venue_fill_id: Some(format!("F{n}")),
        }),
    )
}

fn view(oms: &Oms) -> OrderView {
    OrderView { order: oms.find("p").or_else(|| oms.find("c1")).expect("order").clone(), instrument: Some(instrument()) }
}

#[test]
fn an_order_through_its_life() {
    let c = cfg(&[]);
    let mut oms = Oms::new();
    assert_eq!(oms.book(&Entry::Submitted { request: request(false, 1000), at: UnixNanos(1_700_000_000_000_000_000) }), Booked::Submitted(true));
    oms.book(&Entry::OrderEvent(event(1, OrderEventKind::Acknowledged)));
    let o = order(&view(&oms), &c);
    let keys: Vec<&String> = o.as_object().expect("dict").keys().collect();
    assert_eq!(
        keys,
        ["raw", "type", "quantity", "status", "origin", "permid", "symbol", "cusip", "account", "class", "updates", "text"]
    );
    assert_eq!(o["status"], "Submitted");
    assert_eq!(o["permid"], "p");
    assert_eq!(o["raw"]["STRAT_PARAMETERS"], "99970\u{1f}2\u{1}99971\u{1f}x\u{1}");
    assert_eq!(o["raw"]["EXIT_VEHICLE"], "ALGO");
    assert_eq!(o["updates"][0]["id"], "(init)");
    assert_eq!(o["updates"][0]["fields"]["status"], "Initialized");
    assert_eq!(o["updates"][0]["fields"]["quantity"], 1000);
    assert!(o["updates"][0]["time"].is_f64());

    oms.book(&Entry::OrderEvent(event(2, OrderEventKind::Accepted)));
    oms.book(&Entry::OrderEvent(fill(3, 250, 10_001)));
    let o = order(&view(&oms), &c);
    assert_eq!(o["status"], "Pending");
    assert_eq!((o["filled"].clone(), o["remaining"].clone()), (json!(250), json!(750)));
    assert_eq!(o["avgfillprice"], json!(100.01));
    assert_eq!(o["raw"]["TYPE"], "ExchangeTradeOrder");
    assert_eq!(o["quantity"], 250, "as in the original, quantity follows the last row's VOLUME");

    oms.book(&Entry::OrderEvent(fill(4, 750, 10_005)));
    let o = order(&view(&oms), &c);
    assert_eq!(o["status"], "Filled");
    assert_eq!(o["raw"]["TYPE"], "UserSubmitOrder", "a completed order row closes the fills");
    assert_eq!(o["quantity"], 1000);
    assert_eq!(o["text"], "Buy 1000 IBM (Filled)");
    assert_eq!(o["avgfillprice"], json!(100.04));
    let ids: Vec<&str> = o["updates"].as_array().expect("list").iter().filter_map(|u| u["id"].as_str()).collect();
    assert_eq!(ids, ["(init)", "p-1", "p-2", "p-3", "p-4", "p"]);
    // each update lists only what changed
    assert!(o["updates"][2]["fields"].get("BANK").is_none());
    assert_eq!(o["updates"][2]["fields"]["CURRENT_STATUS"], "LIVE");
}

#[test]
fn the_push_type_is_the_rendered_raw_type_at_every_step() {
    let c = cfg(&[]);
    let mut oms = Oms::new();
    assert_eq!(oms.book(&Entry::Submitted { request: request(false, 1000), at: UnixNanos(1) }), Booked::Submitted(true));
    let steps = [
        event(1, OrderEventKind::Acknowledged),
        event(2, OrderEventKind::Accepted),
        event(3, OrderEventKind::Triggered),
        fill(4, 400, 100),
        fill(5, 600, 101),
    ];
    for e in steps {
        oms.book(&Entry::OrderEvent(e.clone()));
        let v = view(&oms);
        assert_eq!(Value::from(order_last_type(&v, &c)), order(&v, &c)["raw"]["TYPE"], "after {e:?}");
    }
}

#[test]
fn tickets_and_rejections() {
    let c = cfg(&[]);
    let mut oms = Oms::new();
    assert_eq!(oms.book(&Entry::Submitted { request: request(true, 10), at: UnixNanos(1) }), Booked::Submitted(true));
    oms.book(&Entry::OrderEvent(event(1, OrderEventKind::Staged)));
    let o = order(&view(&oms), &c);
    assert_eq!((o["class"].clone(), o["type"].clone(), o["status"].clone()), (json!("ticket"), json!("UserSubmitStagedOrder"), json!("Submitted")));
    assert_eq!(o["raw"]["ORDER_TAG"], "TAG");
    oms.book(&Entry::OrderEvent(event(2, OrderEventKind::Cancelled { reason: Some("User cancel".into()) })));
    let o = order(&view(&oms), &c);
    assert_eq!(o["status"], "Error");
    assert_eq!(o["raw"]["REASON"], "User cancel");
    assert_eq!(o["raw"]["TYPE"], "ClerkReject");

    let mut oms = Oms::new();
    assert_eq!(oms.book(&Entry::Submitted { request: request(false, 10), at: UnixNanos(1) }), Booked::Submitted(true));
    oms.book(&Entry::OrderEvent(event(1, OrderEventKind::Rejected { reason: "Invalid symbol".into() })));
    let o = order(&view(&oms), &c);
    assert_eq!(o["status"], "Error");
    assert_eq!(o["raw"]["CURRENT_STATUS"], "DELETED");
    assert!(o.get("filled").is_none());
}

#[test]
fn executions_have_exactly_23_keys_in_order() {
    let mut oms = Oms::new();
    assert_eq!(oms.book(&Entry::Submitted { request: request(false, 100), at: UnixNanos(1) }), Booked::Submitted(true));
    oms.book(&Entry::OrderEvent(event(1, OrderEventKind::Accepted)));
    let Booked::Event(crate::gateway::oms::Outcome::Applied { execution: Some(x), .. }) = oms.book(&Entry::OrderEvent(fill(2, 75, 12_508))) else {
        panic!("fill applied")
    };
    let v = ExecutionView { execution: *x, order: Some(request(false, 100)), instrument: Some(instrument()) };
    let e = execution(&v, &cfg(&[]));
    let keys: Vec<&String> = e.as_object().expect("dict").keys().collect();
    assert_eq!(
        keys,
        [
            "ORDER_ID", "ORIGINAL_ORDER_ID", "AVG_PRICE", "BUYORSELL", "CURRENCY", "CURRENT_STATUS", "DISP_NAME",
            "EXCHANGE", "EXIT_VEHICLE", "FILL_ID", "ORDER_RESIDUAL", "ORIGINAL_PRICE", "ORIGINAL_VOLUME", "PRICE",
            "PRICE_TYPE", "TIME_STAMP", "TIME_ZONE", "MARKET_TRD_DATE", "TRD_TIME", "VOLUME", "VOLUME_TRADED", "CUSIP",
            "ACCOUNT"
        ]
    );
    assert_eq!((e["VOLUME"].clone(), e["VOLUME_TRADED"].clone(), e["ORDER_RESIDUAL"].clone()), (json!(75), json!(75), json!(25)));
    assert_eq!(e["PRICE"], json!(125.08));
    assert_eq!(e["TIME_STAMP"].as_str().map(str::len), Some(18));
    let e = execution(&v, &cfg(&[("TXTRADER_ENABLE_EXECUTION_ACCOUNT_FORMAT", "0")]));
    let obj = e.as_object().expect("dict");
    assert_eq!(obj.len(), 26);
    assert!(obj.get("ACCOUNT").is_none());
    let keys: Vec<&String> = obj.keys().take(6).collect();
    assert_eq!(keys, ["ORDER_ID", "ORIGINAL_ORDER_ID", "BANK", "BRANCH", "CUSTOMER", "DEPOSIT"]);
}

#[test]
fn symbol_exports_write_floats_as_floats() {
    let sym = Symbol::new("IBM").expect("s");
    let v = SymbolView {
        instrument: instrument(),
        quote: Some(Quote {
            symbol: sym.clone(),
            bid: Some(Price::from_cents(26150)),
            bid_size: Quantity::from_u64(300),
            ask: Some(Price::from_cents(26152)),
            ask_size: Quantity::from_u64(500),
            ts_event: UnixNanos(1),
        }),
        last_trade: Some(Trade { symbol: sym.clone(), price: Price::from_cents(26100), size: Quantity::from_u64(100), ts_event: UnixNanos(1) }),
        stats: Some(SessionStats {
            symbol: sym,
            open: None,
            high: Some(Price::new(rust_decimal::Decimal::new(264_135, 3))),
            low: None,
            prev_close: None,
            vwap: None,
            volume: Quantity::from_u64(7_064_815),
            ts_event: UnixNanos(1),
        }),
        bars: vec![],
    };
    let e = symbol_export(&v, &cfg(&[]));
    let text = e.to_string();
    assert!(text.contains("\"last\":261.0,"), "{text}");
    assert!(text.contains("\"open\":0.0,"), "{text}");
    assert!(text.contains("\"high\":264.14,"), "rounded half away from zero: {text}");
    assert_eq!(e["volume"], 7_064_815);
    assert!(e.get("bid").is_none(), "ticker fields only with ENABLE_TICKER");
    let e = symbol_export(&v, &cfg(&[("TXTRADER_ENABLE_TICKER", "1"), ("TXTRADER_ENABLE_HIGH_LOW", "0")]));
    assert!(e.get("high").is_none());
    assert_eq!((e["bidsize"].clone(), e["asksize"].clone()), (json!(300), json!(500)), "real sizes, not the original's 0");
    let raw = symbol_raw(&v, &cfg(&[]));
    assert_eq!((raw["STARTTIME"].clone(), raw["STOPTIME"].clone()), (json!("09:30:00"), json!("16:00:00")));
}

#[test]
fn account_fields_and_cash() {
    let s = AccountSummary {
        account: AccountId::new("A.B.C.D").expect("a"),
        currency: "USD".into(),
        cash: Money::new(rust_decimal::Decimal::new(100_000, 0)),
        equity: Money::new(rust_decimal::Decimal::new(22_345_678, 2)),
        excess_equity: Money::new(rust_decimal::Decimal::new(123_456_789, 3)),
        gross_position_value: Money::ZERO,
        buying_power: Money::ZERO,
        ts_event: UnixNanos(0),
    };
    let all = account(&s, None);
    assert_eq!(all["_cash"], json!(123456.79));
    assert_eq!(all["BANK"], "A");
    let one = account(&s, Some(&["CASH_BALANCE".into()]));
    assert_eq!(one, json!({"CASH_BALANCE": 100000.0}));
    let two = account(&s, Some(&["EXCESS_EQ".into(), "NOTIONAL_AMOUNT".into()]));
    assert_eq!(two.as_object().map(|m| m.len()), Some(3));
    assert_eq!(account(&s, Some(&["INVALID_FIELD".into()])), Value::Null);
}

#[test]
fn python_timedelta_text() {
    assert_eq!(elapsed(chrono::TimeDelta::microseconds(3_723_000_005)), "1:02:03.000005");
    assert_eq!(elapsed(chrono::TimeDelta::seconds(86_400 + 7)), "1 day, 0:00:07.000000");
    assert_eq!(elapsed(chrono::TimeDelta::seconds(2 * 86_400)), "2 days, 0:00:00.000000");
}
