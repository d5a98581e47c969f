//! Domain views rendered into the original txTrader JSON shapes.
//!
//! This is where RealTick's vocabulary lives: `raw` order fields (`BUYORSELL`, `CURRENT_STATUS`,
//! `ORIGINAL_ORDER_ID`, ...), the 23-key execution dict, the `LIVEQUOTE` record of a symbol, the
//! `DEPOSIT` record of an account. They are synthesized from the broker-neutral domain, so every
//! adapter presents them the same way. Prices leave the domain here, as JSON floats rounded where
//! the original rounded; quantities become integers.

use super::routes::route_json;
use super::CompatConfig;
use crate::gateway::market::SymbolView;
use crate::gateway::oms::{Order, OrderUpdate, UpdateKind};
use crate::gateway::{ExecutionView, OrderView, Positions};
use chrono::TimeZone;
use chrono_tz::Tz;
use indexmap::IndexMap;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use txtrader_plugin_api::realtick::{price_type, submit_type};
use txtrader_plugin_api::model::{
    AccountSummary, Bar, Instrument, OrderClass, OrderOrigin, OrderStatus, Price, UnixNanos,
};

// ----- scalars

/// A price as a JSON float.
pub fn price(p: Price) -> Value {
    float(p.as_decimal())
}

/// A price rounded to cents, as a JSON float (symbol exports).
pub fn price2(p: Option<Price>) -> Value {
    float(p.map_or(Decimal::ZERO, |p| p.round_dp(2).as_decimal()))
}

/// A decimal as a JSON float (`0.0`, never `0`).
pub fn float(d: Decimal) -> Value {
    Value::from(d.to_f64().unwrap_or(0.0))
}

/// A quantity: an integer when whole, else a float.
pub fn qty(d: Decimal) -> Value {
    if d.fract().is_zero() {
        d.to_i64().map_or_else(|| float(d), Value::from)
    } else {
        float(d)
    }
}

/// `BANK.BRANCH.CUSTOMER.DEPOSIT` split into its four parts; an account of another shape keeps
/// its whole name in the first.
pub fn split_account(account: &str) -> [String; 4] {
    let parts: Vec<&str> = account.splitn(4, '.').collect();
    match parts.as_slice() {
        [a, b, c, d] => [(*a).into(), (*b).into(), (*c).into(), (*d).into()],
        _ => [account.into(), String::new(), String::new(), String::new()],
    }
}

/// `YYYY-MM-DD HH:MM:SS` in the API time zone (`TXTRADER_API_TIMEZONE`), whatever the
/// machine's zone.
pub fn api_time(t: UnixNanos, tz: Tz) -> String {
    t.to_datetime().with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `HH:MM:SS` in the API time zone.
fn api_time_of_day(t: UnixNanos, tz: Tz) -> String {
    t.to_datetime().with_timezone(&tz).format("%H:%M:%S").to_string()
}

/// The feed-time fields of a broker row: `TIME_STAMP` (18 digits), `TIME_ZONE`,
/// `MARKET_TRD_DATE`, `TRD_TIME`.
fn feed_time_fields(t: UnixNanos, tz: Tz) -> [(&'static str, Value); 4] {
    let at = t.to_datetime().with_timezone(&tz);
    [
        ("TIME_STAMP", Value::from(at.format("%Y%m%d%H%M%S%f").to_string()[..18].to_owned())),
        ("TIME_ZONE", Value::from(tz.name())),
        ("MARKET_TRD_DATE", Value::from(at.format("%Y-%m-%d").to_string())),
        ("TRD_TIME", Value::from(at.format("%H:%M:%S").to_string())),
    ]
}

fn feed_tz(instrument: Option<&Instrument>, fallback: Tz) -> Tz {
    instrument.and_then(|i| i.session.timezone.parse().ok()).unwrap_or(fallback)
}

// ----- bars

/// Bars as `[date, time, open, high, low, close, volume]`, in the API time zone.
pub fn bars(bars: &[Bar], tz: Tz) -> Value {
    Value::Array(
        bars.iter()
            .map(|b| {
                let t = b.start.to_datetime().with_timezone(&tz);
                json!([
                    t.format("%Y-%m-%d").to_string(),
                    t.format("%H:%M:%S").to_string(),
                    price2(Some(b.open)),
                    price2(Some(b.high)),
                    price2(Some(b.low)),
                    price2(Some(b.close)),
                    qty(b.volume.as_decimal().trunc())
                ])
            })
            .collect(),
    )
}

// ----- symbols

/// The symbol export: `symbol`, `last`, `tradetime`, `size`, `volume`, `open`, `close`, `vwap`,
/// `fullname`, `cusip`, then `high`/`low`, `bid`/`bidsize`/`ask`/`asksize` and `bars` as the
/// flags say.
pub fn symbol_export(v: &SymbolView, cfg: &CompatConfig) -> Value {
    let stats = v.stats.as_ref();
    let mut m = Map::new();
    m.insert("symbol".into(), Value::from(v.instrument.symbol.as_str()));
    m.insert("last".into(), price2(v.last_trade.as_ref().map(|t| t.price)));
    m.insert(
        "tradetime".into(),
        Value::from(v.last_trade.as_ref().map_or_else(|| "00:00:00".to_owned(), |t| api_time_of_day(t.ts_event, cfg.feed_timezone))),
    );
    m.insert("size".into(), qty(v.last_trade.as_ref().map_or(Decimal::ZERO, |t| t.size.as_decimal().trunc())));
    m.insert("volume".into(), qty(stats.map_or(Decimal::ZERO, |s| s.volume.as_decimal().trunc())));
    m.insert("open".into(), price2(stats.and_then(|s| s.open)));
    m.insert("close".into(), price2(stats.and_then(|s| s.prev_close)));
    m.insert("vwap".into(), price2(stats.and_then(|s| s.vwap)));
    m.insert("fullname".into(), Value::from(v.instrument.name.as_str()));
    m.insert("cusip".into(), Value::from(v.instrument.cusip.clone().unwrap_or_default()));
    if cfg.flags.high_low {
        m.insert("high".into(), price2(stats.and_then(|s| s.high)));
        m.insert("low".into(), price2(stats.and_then(|s| s.low)));
    }
    if cfg.flags.ticker {
        let q = v.quote.as_ref();
        m.insert("bid".into(), price2(q.and_then(|q| q.bid)));
        m.insert("bidsize".into(), qty(q.map_or(Decimal::ZERO, |q| q.bid_size.as_decimal().trunc())));
        m.insert("ask".into(), price2(q.and_then(|q| q.ask)));
        m.insert("asksize".into(), qty(q.map_or(Decimal::ZERO, |q| q.ask_size.as_decimal().trunc())));
    }
    if cfg.flags.symbol_barchart {
        m.insert("bars".into(), bars(&v.bars, cfg.feed_timezone));
    }
    Value::Object(m)
}

/// The symbol's `LIVEQUOTE` record, with RealTick field names. Times are exchange-local.
pub fn symbol_raw(v: &SymbolView, cfg: &CompatConfig) -> Value {
    let i = &v.instrument;
    let tz = feed_tz(Some(i), cfg.feed_timezone);
    let stats = v.stats.as_ref();
    let mut m = Map::new();
    m.insert("DISP_NAME".into(), Value::from(i.symbol.as_str()));
    m.insert("COMPANY_NAME".into(), Value::from(i.name.as_str()));
    m.insert("CUSIP".into(), Value::from(i.cusip.clone().unwrap_or_default()));
    if let Some(t) = &v.last_trade {
        let at = t.ts_event.to_datetime().with_timezone(&tz);
        m.insert("TRDPRC_1".into(), price(t.price));
        m.insert("TRDTIM_1".into(), Value::from(at.format("%H:%M:%S").to_string()));
        m.insert("TRD_DATE".into(), Value::from(at.format("%Y-%m-%d").to_string()));
        m.insert("TRDVOL_1".into(), qty(t.size.as_decimal()));
    } else {
        for k in ["TRDPRC_1", "TRDTIM_1", "TRD_DATE", "TRDVOL_1"] {
            m.insert(k.into(), Value::from(""));
        }
    }
    let opt = |p: Option<Price>| p.map_or(Value::from(""), price);
    m.insert("ACVOL_1".into(), qty(stats.map_or(Decimal::ZERO, |s| s.volume.as_decimal())));
    m.insert("OPEN_PRC".into(), opt(stats.and_then(|s| s.open)));
    m.insert("HST_CLOSE".into(), opt(stats.and_then(|s| s.prev_close)));
    m.insert("VWAP".into(), opt(stats.and_then(|s| s.vwap)));
    m.insert("HIGH_1".into(), opt(stats.and_then(|s| s.high)));
    m.insert("LOW_1".into(), opt(stats.and_then(|s| s.low)));
    let q = v.quote.as_ref();
    m.insert("BID".into(), opt(q.and_then(|q| q.bid)));
    m.insert("BIDSIZE".into(), qty(q.map_or(Decimal::ZERO, |q| q.bid_size.as_decimal())));
    m.insert("ASK".into(), opt(q.and_then(|q| q.ask)));
    m.insert("ASKSIZE".into(), qty(q.map_or(Decimal::ZERO, |q| q.ask_size.as_decimal())));
    m.insert("STARTTIME".into(), Value::from(i.session.start.format("%H:%M:%S").to_string()));
    m.insert("STOPTIME".into(), Value::from(i.session.stop.format("%H:%M:%S").to_string()));
    m.insert("EXCHANGE".into(), Value::from(i.exchange.clone().unwrap_or_default()));
    m.insert("CURRENCY".into(), Value::from(i.currency.as_str()));
    m.insert("TIME_ZONE".into(), Value::from(i.session.timezone.as_str()));
    Value::Object(m)
}

// ----- accounts and positions

/// The account's `DEPOSIT` record, optionally restricted to `fields`; `null` when a requested
/// field does not exist. `_cash` is added whenever `EXCESS_EQ` is returned.
pub fn account(s: &AccountSummary, fields: Option<&[String]>) -> Value {
    let [bank, branch, customer, deposit] = split_account(s.account.as_str());
    let mut all = Map::new();
    all.insert("BANK".into(), Value::from(bank));
    all.insert("BRANCH".into(), Value::from(branch));
    all.insert("CUSTOMER".into(), Value::from(customer));
    all.insert("DEPOSIT".into(), Value::from(deposit));
    all.insert("CURRENCY".into(), Value::from(s.currency.as_str()));
    all.insert("CASH_BALANCE".into(), float(s.cash.as_decimal()));
    all.insert("EXCESS_EQ".into(), float(s.excess_equity.as_decimal()));
    all.insert("NOTIONAL_AMOUNT".into(), float(s.gross_position_value.as_decimal()));
    all.insert("TOTAL_EQ".into(), float(s.equity.as_decimal()));
    all.insert("BUYING_POWER".into(), float(s.buying_power.as_decimal()));
    let mut out = match fields {
        None => all,
        Some(fields) => {
            let mut m = Map::new();
            for f in fields {
                match all.get(f) {
                    Some(v) => {
                        m.insert(f.clone(), v.clone());
                    }
                    None => return Value::Null,
                }
            }
            m
        }
    };
    if out.contains_key("EXCESS_EQ") {
        out.insert("_cash".into(), float(s.excess_equity.as_decimal().round_dp(2)));
    }
    Value::Object(out)
}

/// `{account: {symbol: quantity}}`, every account present.
pub fn positions(p: &Positions) -> Value {
    Value::Object(
        p.iter()
            .map(|(acct, syms)| {
                let inner: Map<String, Value> =
                    syms.iter().map(|(s, q)| (s.to_string(), qty(q.as_decimal().trunc()))).collect();
                (acct.to_string(), Value::Object(inner))
            })
            .collect(),
    )
}

// ----- orders

/// The txTrader status of an order.
pub fn order_status(status: OrderStatus, class: OrderClass) -> &'static str {
    match status {
        OrderStatus::Initialized => "Initialized",
        OrderStatus::Submitted | OrderStatus::Held => "Submitted",
        OrderStatus::Working | OrderStatus::PartiallyFilled => "Pending",
        OrderStatus::PendingCancel { resume } | OrderStatus::PendingReplace { resume } => order_status(resume.into(), class),
        OrderStatus::Filled => "Filled",
        // A cancelled staged ticket settles in Error: clients poll tickets until Error.
        OrderStatus::Cancelled if class == OrderClass::Ticket => "Error",
        OrderStatus::Cancelled | OrderStatus::Expired => "Cancelled",
        OrderStatus::Rejected => "Error",
    }
}

fn current_status(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Initialized | OrderStatus::Submitted | OrderStatus::Held => "PENDING",
        OrderStatus::Working | OrderStatus::PartiallyFilled => "LIVE",
        OrderStatus::PendingCancel { resume } | OrderStatus::PendingReplace { resume } => current_status(resume.into()),
        OrderStatus::Filled => "COMPLETED",
        OrderStatus::Cancelled | OrderStatus::Expired => "CANCELLED",
        OrderStatus::Rejected => "DELETED",
    }
}

fn origin(o: &OrderOrigin) -> String {
    match o {
        OrderOrigin::Client => "client".into(),
        OrderOrigin::Broker => "realtick".into(),
        OrderOrigin::Strategy { name } => format!("strategy:{name}"),
    }
}

/// Strategy parameter dicts travel as `key␟value␁` concatenations.
/// The fields the gateway submitted, as the original built them (`(init)` update).
fn submitted_fields(o: &Order) -> IndexMap<String, Value> {
    use txtrader_plugin_api::realtick::{self, FieldValue};
    let r = &o.request;
    let [bank, branch, customer, deposit] = split_account(r.account.as_str());
    let signed = match r.side {
        txtrader_plugin_api::model::Side::Buy => r.quantity.as_decimal(),
        txtrader_plugin_api::model::Side::Sell => -r.quantity.as_decimal(),
    };
    let mut f = IndexMap::new();
    for (key, value) in realtick::order_fields(r, [&bank, &branch, &customer, &deposit]) {
        let value = match value {
            FieldValue::Text(t) => Value::from(t.into_owned()),
            FieldValue::Int(i) => Value::from(i),
            FieldValue::Price(p) => price(p),
            FieldValue::Quantity(q) => qty(q),
            FieldValue::Param(v) => v.clone(),
        };
        let after_side = key == "BUYORSELL";
        f.insert(key.into_owned(), value);
        if after_side {
            // the original's own key, signed, right after the side
            f.insert("quantity".into(), qty(signed));
        }
    }
    f.insert("status".into(), Value::from("Initialized"));
    f.insert("origin".into(), Value::from(origin(&r.origin)));
    if let Some(user) = &r.user {
        f.insert("user".into(), Value::from(user.as_str()));
    }
    f
}

/// The broker rows one update stands for: `(ORDER_ID, fields)`.
fn update_rows(o: &Order, u: &OrderUpdate, permid: &str, tz: Tz, cusip: &str) -> Vec<(String, IndexMap<String, Value>)> {
    if let Some(raw) = &u.raw {
        // the broker's own row (RealTick through the rtx adapter), exactly as it came
        let id = raw.get("ORDER_ID").and_then(Value::as_str).map_or_else(|| u.id.clone(), str::to_owned);
        return vec![(id, raw.iter().map(|(k, v)| (k.clone(), v.clone())).collect())];
    }
    let class = o.class();
    let base = |order_id: &str, ty: &str, status: &str, volume: Decimal| {
        let mut f = IndexMap::new();
        f.insert("ORDER_ID".to_owned(), Value::from(order_id));
        f.insert("ORIGINAL_ORDER_ID".to_owned(), Value::from(permid));
        f.insert("TYPE".to_owned(), Value::from(ty));
        f.insert("CURRENT_STATUS".to_owned(), Value::from(status));
        f.insert("ORIGINAL_VOLUME".to_owned(), qty(o.request.quantity.as_decimal()));
        f.insert("VOLUME".to_owned(), qty(volume));
        f.insert("VOLUME_TRADED".to_owned(), qty(u.filled.as_decimal()));
        f.insert("ORDER_RESIDUAL".to_owned(), qty(u.leaves.as_decimal()));
        f.insert("AVG_PRICE".to_owned(), u.avg_price.map_or(Value::from(0), price));
        f.extend(feed_time_fields(u.ts, tz).map(|(k, v)| (k.to_owned(), v)));
        if !cusip.is_empty() {
            f.insert("CUSIP".to_owned(), Value::from(cusip));
        }
        f
    };
    let total = o.request.quantity.as_decimal();
    let status = current_status(u.status);
    let with_reason = |mut f: IndexMap<String, Value>, reason: Option<&str>| {
        if let Some(r) = reason {
            f.insert("REASON".into(), Value::from(r));
        }
        f
    };
    let row = match &u.kind {
        UpdateKind::Acknowledged | UpdateKind::Staged => {
            let mut f = base(permid, submit_type(class), "PENDING", total);
            f.insert("CLIENT_ORDER_ID".into(), Value::from(o.request.client_order_id.as_str()));
            f
        }
        UpdateKind::Accepted => base(permid, "UserSubmitOrder", "LIVE", total),
        UpdateKind::Triggered => base(permid, "ExchangeReportStatus", status, total),
        UpdateKind::Filled { exec_id, quantity, price: px } => {
            let mut fill = base(exec_id.as_str(), "ExchangeTradeOrder", "COMPLETED", quantity.as_decimal());
            fill.insert("PRICE".into(), price(*px));
            let mut rows = vec![(exec_id.to_string(), fill)];
            if u.status == OrderStatus::Filled {
                // RealTick closes a filled order with a completed order row.
                rows.push((permid.to_owned(), base(permid, "UserSubmitOrder", "COMPLETED", total)));
            }
            return rows;
        }
        UpdateKind::CancelRequested => base(permid, "UserSubmitCancel", status, total),
        UpdateKind::CancelRejected { reason } => with_reason(base(permid, "UserSubmitCancel", status, total), Some(reason)),
        UpdateKind::Cancelled { reason } if class == OrderClass::Ticket => {
            with_reason(base(permid, "ClerkReject", "COMPLETED", total), Some(reason.as_deref().unwrap_or("User cancel")))
        }
        UpdateKind::Cancelled { reason } => with_reason(base(permid, "UserSubmitCancel", "COMPLETED", total), reason.as_deref()),
        UpdateKind::Rejected { reason } => with_reason(base(permid, submit_type(class), "DELETED", total), Some(reason)),
        UpdateKind::Expired => with_reason(base(permid, "ExchangeKillOrder", "CANCELLED", total), Some("Expired")),
        UpdateKind::ModifyRequested { .. } | UpdateKind::Modified { .. } => base(permid, "UserSubmitChange", status, total),
        UpdateKind::ModifyRejected { reason } => with_reason(base(permid, "UserSubmitChange", status, total), Some(reason)),
        UpdateKind::Restated => with_reason(base(permid, "UserSubmitStatus", status, total), o.reason.as_deref()),
    };
    vec![(u.id.clone(), row)]
}

/// The broker `TYPE` of the order's latest row (what the original's order pushes show), without
/// rendering the whole order.
pub fn order_last_type(view: &OrderView, cfg: &CompatConfig) -> String {
    let o = &view.order;
    let tz = feed_tz(view.instrument.as_ref(), cfg.feed_timezone);
    o.history
        .last()
        .and_then(|u| update_rows(o, u, o.key(), tz, "").pop())
        .and_then(|(_, row)| row.get("TYPE").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| submit_type(o.class()).to_owned())
}

/// The order dict: `raw` (every broker field, latest value winning), then `type`, `quantity`,
/// `status`, `origin`, `permid`, `symbol`, `cusip`, `account`, `class`, `updates`, `text` and,
/// once fill data applies, `filled`, `remaining`, `avgfillprice`.
pub fn order(view: &OrderView, cfg: &CompatConfig) -> Value {
    let o = &view.order;
    let permid = o.key().to_owned();
    let tz = feed_tz(view.instrument.as_ref(), cfg.feed_timezone);
    let cusip = view.instrument.as_ref().and_then(|i| i.cusip.clone()).unwrap_or_default();
    let init = submitted_fields(o);
    let mut raw: IndexMap<String, Value> =
        init.iter().filter(|(k, _)| !k.chars().any(|c| c.is_ascii_lowercase())).map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut updates = vec![json!({
        "id": "(init)",
        "type": submit_type(o.class()),
        "fields": Value::Object(init.into_iter().collect()),
        "time": o.created.as_secs_f64(),
    })];
    for u in &o.history {
        for (id, row) in update_rows(o, u, &permid, tz, &cusip) {
            let ty = row.get("TYPE").cloned().unwrap_or(Value::Null);
            let changed: Map<String, Value> =
                row.into_iter().filter(|(k, v)| raw.get(k) != Some(v)).collect();
            for (k, v) in &changed {
                raw.insert(k.clone(), v.clone());
            }
            updates.push(json!({"id": id, "type": ty, "fields": Value::Object(changed), "time": u.ts.as_secs_f64()}));
        }
    }
    if !cusip.is_empty() {
        raw.insert("CUSIP".into(), Value::from(cusip.clone()));
    }
    let status = order_status(o.status, o.class());
    let quantity = raw.get("VOLUME").cloned().unwrap_or_else(|| qty(o.request.quantity.as_decimal()));
    let class = match o.class() {
        OrderClass::Order => "order",
        OrderClass::Ticket => "ticket",
    };
    let text = format!(
        "{} {} {} ({})",
        o.request.side,
        quantity.as_i64().unwrap_or_else(|| o.request.quantity.trunc_i64()),
        o.request.symbol,
        status
    );
    let mut m = Map::new();
    m.insert("raw".into(), Value::Object(raw.into_iter().collect()));
    m.insert("type".into(), Value::from(submit_type(o.class())));
    m.insert("quantity".into(), quantity);
    m.insert("status".into(), Value::from(status));
    m.insert("origin".into(), Value::from(origin(&o.request.origin)));
    if let Some(user) = &o.request.user {
        m.insert("user".into(), Value::from(user.as_str()));
    }
    m.insert("permid".into(), Value::from(permid));
    m.insert("symbol".into(), Value::from(o.request.symbol.as_str()));
    m.insert("cusip".into(), Value::from(cusip));
    m.insert("account".into(), Value::from(o.request.account.as_str()));
    m.insert("class".into(), Value::from(class));
    m.insert("updates".into(), Value::Array(updates));
    m.insert("text".into(), Value::from(text));
    let has_fill_data = !o.filled.is_zero()
        || !matches!(o.status, OrderStatus::Initialized | OrderStatus::Submitted | OrderStatus::Held | OrderStatus::Rejected);
    if has_fill_data {
        m.insert("filled".into(), qty(o.filled.as_decimal()));
        m.insert("remaining".into(), qty(o.leaves().as_decimal()));
        m.insert("avgfillprice".into(), o.avg_price().map_or(Value::from(0.0), price));
    }
    Value::Object(m)
}

/// The execution dict: exactly 23 keys in the original's order.
pub fn execution(view: &ExecutionView, cfg: &CompatConfig) -> Value {
    let x = &view.execution;
    let tz = feed_tz(view.instrument.as_ref(), cfg.feed_timezone);
    let req = view.order.as_ref();
    let mut m = Map::new();
    m.insert("ORDER_ID".into(), Value::from(x.exec_id.as_str()));
    m.insert("ORIGINAL_ORDER_ID".into(), Value::from(x.broker_order_id.as_str()));
    let parts = split_account(x.account.as_str());
    if !cfg.flags.execution_account_format {
        for (k, v) in ["BANK", "BRANCH", "CUSTOMER", "DEPOSIT"].iter().zip(parts.iter()) {
            m.insert((*k).into(), Value::from(v.as_str()));
        }
    }
    m.insert("AVG_PRICE".into(), price(x.avg_price));
    m.insert("BUYORSELL".into(), Value::from(x.side.to_string()));
    m.insert("CURRENCY".into(), Value::from(view.instrument.as_ref().map_or("USD", |i| i.currency.as_str())));
    m.insert("CURRENT_STATUS".into(), Value::from("COMPLETED"));
    m.insert("DISP_NAME".into(), Value::from(x.symbol.as_str()));
    m.insert(
        "EXCHANGE".into(),
        req.and_then(|r| r.exchange.clone()).map_or(Value::from("NYS"), Value::from),
    );
    m.insert(
        "EXIT_VEHICLE".into(),
        req.and_then(|r| r.route.as_ref()).map_or(Value::Null, |r| Value::from(r.name.as_str())),
    );
    m.insert("FILL_ID".into(), x.venue_fill_id.clone().map_or(Value::Null, Value::from));
    m.insert("ORDER_RESIDUAL".into(), qty(x.leaves_quantity.as_decimal()));
    m.insert(
        "ORIGINAL_PRICE".into(),
        req.and_then(|r| r.order_type.limit_price()).map_or(Value::from(0), price),
    );
    m.insert(
        "ORIGINAL_VOLUME".into(),
        req.map_or(Value::Null, |r| qty(r.quantity.as_decimal())),
    );
    m.insert("PRICE".into(), price(x.price));
    m.insert("PRICE_TYPE".into(), req.map_or(Value::Null, |r| Value::from(price_type(&r.order_type))));
    m.extend(feed_time_fields(x.ts_event, tz).map(|(k, v)| (k.to_owned(), v)));
    m.insert("VOLUME".into(), qty(x.quantity.as_decimal()));
    m.insert("VOLUME_TRADED".into(), qty(x.cum_quantity.as_decimal()));
    if let Some(c) = &x.commission {
        // brokers that report it (IB); not a field of the original's RealTick rows
        m.insert("COMMISSION".into(), c.amount.as_decimal().to_f64().map_or(Value::Null, Value::from));
        m.insert("COMMISSION_CURRENCY".into(), Value::from(c.currency.as_str()));
    }
    m.insert(
        "CUSIP".into(),
        view.instrument.as_ref().and_then(|i| i.cusip.clone()).map_or(Value::Null, Value::from),
    );
    if cfg.flags.execution_account_format {
        m.insert("ACCOUNT".into(), Value::from(x.account.as_str()));
    }
    Value::Object(m)
}

/// The current route, `{name: params|null}`.
pub fn route(r: &txtrader_plugin_api::model::Route) -> Value {
    route_json(r)
}

/// Elapsed time as Python's `timedelta` text, always with the six-digit fraction.
pub fn elapsed(d: chrono::TimeDelta) -> String {
    let total = d.num_microseconds().unwrap_or(0).max(0);
    let (secs, micros) = (total / 1_000_000, total % 1_000_000);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let hms = format!("{}:{:02}:{:02}.{micros:06}", rem / 3600, rem % 3600 / 60, rem % 60);
    match days {
        0 => hms,
        1 => format!("1 day, {hms}"),
        n => format!("{n} days, {hms}"),
    }
}

/// A feed instant shifted by `offset` seconds, in the API time zone.
pub fn feed_clock(t: UnixNanos, offset: i64, tz: Tz) -> String {
    let secs = i64::try_from(t.as_secs()).unwrap_or(0).saturating_add(offset);
    tz.timestamp_opt(secs, 0).single().map_or_else(|| "None".into(), |d| d.format("%Y-%m-%d %H:%M:%S").to_string())
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;

/// An adapter instance for operators (`query_adapters`); times are `YYYY-MM-DD HH:MM:SS` in the
/// API time zone.
pub fn adapter(v: &crate::gateway::AdapterView, tz: Tz) -> Value {
    json!({
        "name": v.name,
        "kind": v.kind,
        "version": v.version,
        "build_id": v.build_id,
        "source": v.source,
        "generation": v.generation,
        "state": v.state,
        "accounts": v.accounts.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "loaded_at": v.loaded_at.map(|t| api_time(t, tz)),
        "last_error": v.last_error,
        "retired_generations": v.retired_generations,
        "features": v.features,
    })
}

/// A refused adapter library file.
pub fn rejected_library(r: &crate::gateway::RejectedLibrary, tz: Tz) -> Value {
    json!({"file": r.path.display().to_string(), "errors": r.errors, "at": api_time(r.at, tz)})
}

/// One journal compaction (`compact_journal`, and `query_journal`'s `last_compaction`).
pub fn compaction(c: &crate::gateway::entry::Compaction, tz: Tz) -> Value {
    json!({
        "at": api_time(c.at, tz),
        "reason": c.reason,
        "archived_orders": c.archived_orders,
        "archived_before": api_time(c.archived_before, tz),
        "checkpoint": c.checkpoint,
    })
}
