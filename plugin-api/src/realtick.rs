//! RealTick's order vocabulary (the compatibility spec, section 1.5): the fields a new order
//! carries, in the order the original txTrader builds them. One list, read two ways: the
//! RealTick adapter pokes them to RTGW as text, and the gateway shows them, as JSON, as an
//! order's first (`(init)`) update, whatever the back-end.

use crate::model::{OrderClass, OrderRequest, OrderType, Price, TimeInForce};
use rust_decimal::Decimal;
use serde_json::Value;
use std::borrow::Cow;

/// One field's value, typed so that each reader renders it its own way.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue<'a> {
    /// Text.
    Text(Cow<'a, str>),
    /// A whole number (`STYP`).
    Int(i64),
    /// A price (`PRICE`, `STOP_PRICE`).
    Price(Price),
    /// A quantity (`VOLUME`).
    Quantity(Decimal),
    /// A route parameter as the client gave it (a JSON value other than a dict of a
    /// `STRAT_*` key, which becomes [`FieldValue::Text`] in RealTick's dict encoding).
    Param(&'a Value),
}

/// A new order's fields, in the original's order: the account's four parts, `BUYORSELL`,
/// `GOOD_UNTIL`, `EXIT_VEHICLE` and the route's parameters, `DISP_NAME`, `STYP`, `EXCHANGE`,
/// `PRICE_TYPE`, `PRICE` / `STOP_PRICE` when the type has them, `VOLUME_TYPE`, `VOLUME`,
/// `ORDER_TAG` for a staged ticket, `CLIENT_ORDER_ID`, `TYPE`. `account` is the account split
/// into `BANK`, `BRANCH`, `CUSTOMER` and `DEPOSIT` (the caller decides what to do with an
/// account of another shape).
pub fn order_fields<'a>(r: &'a OrderRequest, account: [&'a str; 4]) -> Vec<(Cow<'a, str>, FieldValue<'a>)> {
    let text = |s: &'a str| FieldValue::Text(Cow::Borrowed(s));
    let [bank, branch, customer, deposit] = account;
    let mut f: Vec<(Cow<'a, str>, FieldValue<'a>)> = vec![
        ("BANK".into(), text(bank)),
        ("BRANCH".into(), text(branch)),
        ("CUSTOMER".into(), text(customer)),
        ("DEPOSIT".into(), text(deposit)),
        ("BUYORSELL".into(), FieldValue::Text(r.side.to_string().into())),
        ("GOOD_UNTIL".into(), text(good_until(r.time_in_force))),
        ("EXIT_VEHICLE".into(), text(r.route.as_ref().map_or("NONE", |x| x.name.as_str()))),
    ];
    if let Some(params) = r.route.as_ref().and_then(|x| x.params.as_ref()) {
        for (k, v) in params {
            f.push((Cow::Borrowed(k.as_str()), route_param(k, v)));
        }
    }
    f.push(("DISP_NAME".into(), text(r.symbol.as_str())));
    f.push(("STYP".into(), FieldValue::Int(1)));
    f.push(("EXCHANGE".into(), r.exchange.as_deref().map_or_else(|| text("NYS"), text)));
    f.push(("PRICE_TYPE".into(), text(price_type(&r.order_type))));
    if let Some(p) = r.order_type.limit_price() {
        f.push(("PRICE".into(), FieldValue::Price(p)));
    }
    if let Some(p) = r.order_type.stop_price() {
        f.push(("STOP_PRICE".into(), FieldValue::Price(p)));
    }
    f.push(("VOLUME_TYPE".into(), text("AsEntered")));
    f.push(("VOLUME".into(), FieldValue::Quantity(r.quantity.as_decimal())));
    if let Some(tag) = &r.staged_tag {
        f.push(("ORDER_TAG".into(), text(tag.as_str())));
    }
    f.push(("CLIENT_ORDER_ID".into(), text(r.client_order_id.as_str())));
    f.push(("TYPE".into(), text(submit_type(r.class()))));
    f
}

/// `TYPE` of a new order: `UserSubmitOrder`, or `UserSubmitStagedOrder` for a ticket.
pub fn submit_type(class: OrderClass) -> &'static str {
    match class {
        OrderClass::Order => "UserSubmitOrder",
        OrderClass::Ticket => "UserSubmitStagedOrder",
    }
}

/// `PRICE_TYPE` of an order type.
pub fn price_type(t: &OrderType) -> &'static str {
    match t {
        OrderType::Market => "Market",
        OrderType::Limit { .. } => "AsEntered",
        OrderType::Stop { .. } => "Stop",
        OrderType::StopLimit { .. } => "StopLimit",
    }
}

fn good_until(t: TimeInForce) -> &'static str {
    match t {
        TimeInForce::Day => "DAY",
        TimeInForce::Gtc => "GTC",
        TimeInForce::Ioc => "IOC",
    }
}

/// A route parameter: the dicts of `STRAT_PARAMETERS` and `STRAT_REDUNDANT_DATA` as RealTick
/// takes them (`key␟value␁` for each pair, 0x1F between key and value, 0x01 after each, the
/// value as Python's `str()` writes it); anything else as given.
fn route_param<'a>(key: &str, value: &'a Value) -> FieldValue<'a> {
    match value {
        Value::Object(m) if key == "STRAT_PARAMETERS" || key == "STRAT_REDUNDANT_DATA" => {
            FieldValue::Text(m.iter().map(|(k, v)| format!("{k}\u{1f}{}\u{1}", py_str(v))).collect::<String>().into())
        }
        other => FieldValue::Param(other),
    }
}

/// A JSON value as Python's `str()` writes the value it decodes to, as the original puts
/// values into text: strings bare, `None`, `True`, `False`, numbers as JSON writes them.
pub fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AccountId, ClientOrderId, OrderOrigin, Quantity, Route, Side, Symbol};
    use serde_json::json;

    fn request(order_type: OrderType, route: Option<Route>, staged_tag: Option<String>) -> OrderRequest {
        OrderRequest {
            client_order_id: ClientOrderId::new("c-1").expect("id"),
            account: AccountId::new("B.R.C.D").expect("account"),
            symbol: Symbol::new("IBM").expect("symbol"),
            side: Side::Sell,
            quantity: Quantity::from_u64(100),
            order_type,
            time_in_force: TimeInForce::Day,
            route,
            exchange: None,
            staged_tag,
            origin: OrderOrigin::Client,
            user: None,
        }
    }

    fn keys(f: &[(Cow<'_, str>, FieldValue<'_>)]) -> Vec<String> {
        f.iter().map(|(k, _)| k.to_string()).collect()
    }

    #[test]
    fn a_stop_limit_order_carries_both_prices_in_the_original_order() {
        let (stop, limit) = (Price::new(Decimal::new(9950, 2)), Price::new(Decimal::new(9900, 2)));
        let r = request(OrderType::StopLimit { stop_price: stop, limit_price: limit }, None, None);
        let f = order_fields(&r, ["B", "R", "C", "D"]);
        assert_eq!(
            keys(&f),
            [
                "BANK", "BRANCH", "CUSTOMER", "DEPOSIT", "BUYORSELL", "GOOD_UNTIL", "EXIT_VEHICLE", "DISP_NAME", "STYP", "EXCHANGE", "PRICE_TYPE", "PRICE", "STOP_PRICE",
                "VOLUME_TYPE", "VOLUME", "CLIENT_ORDER_ID", "TYPE"
            ]
        );
        let get = |k: &str| f.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        assert_eq!(get("PRICE"), Some(FieldValue::Price(limit)));
        assert_eq!(get("STOP_PRICE"), Some(FieldValue::Price(stop)));
        assert_eq!(get("PRICE_TYPE"), Some(FieldValue::Text("StopLimit".into())));
        assert_eq!(get("BUYORSELL"), Some(FieldValue::Text("Sell".into())));
        assert_eq!(get("EXIT_VEHICLE"), Some(FieldValue::Text("NONE".into())));
    }

    #[test]
    fn a_ticket_with_a_route_dict_encodes_the_strat_dicts_as_realtick_takes_them() {
        let params = json!({"STRAT_ID": "VWAP", "STRAT_PARAMETERS": {"99970": "2", "99971": true}, "STRAT_TIME_TAGS": 5});
        let route = Route { name: "ALGO".into(), params: params.as_object().cloned() };
        let r = request(OrderType::Market, Some(route), Some("tag-1".into()));
        let f = order_fields(&r, ["B", "R", "C", "D"]);
        let get = |k: &str| f.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        assert_eq!(get("STRAT_PARAMETERS"), Some(FieldValue::Text("99970\u{1f}2\u{1}99971\u{1f}True\u{1}".into())));
        assert_eq!(get("STRAT_TIME_TAGS"), Some(FieldValue::Param(&json!(5))));
        assert_eq!(get("ORDER_TAG"), Some(FieldValue::Text("tag-1".into())));
        assert_eq!(get("TYPE"), Some(FieldValue::Text("UserSubmitStagedOrder".into())));
        assert_eq!(keys(&f)[6..10], ["EXIT_VEHICLE", "STRAT_ID", "STRAT_PARAMETERS", "STRAT_TIME_TAGS"]);
    }
}
