//! RealTick's vocabulary to the gateway's domain, in one place: accounts
//! (`BANK.BRANCH.CUSTOMER.DEPOSIT`), positions (`LONGPOS`/`SHORTPOS`), the feed's naive times,
//! ORDERS rows to order events (as the compatibility specification's section 4 reads them), an
//! order's request from its own row, and executions from fill rows.
//!
//! ORDERS rows, by `TYPE` and `CURRENT_STATUS` (a row names its order by `ORIGINAL_ORDER_ID`,
//! the permid; a fill row's own `ORDER_ID` is `permid-N`):
//!
//! | TYPE | CURRENT_STATUS | event |
//! |---|---|---|
//! | `UserSubmitOrder` | `PENDING` | acknowledged (the first row carries `CLIENT_ORDER_ID`) |
//! | `UserSubmitStagedOrder` | `PENDING` | staged |
//! | any but a fill | `LIVE` | accepted |
//! | `ExchangeTradeOrder` | `COMPLETED` | a fill: `VOLUME` at `PRICE`, execution id `ORDER_ID` |
//! | `UserSubmitOrder`, `UserSubmitStatus`, `ExchangeReportStatus` | `COMPLETED` | none (a filled order's closing row; the fills tell) |
//! | `UserSubmitCancel` | `COMPLETED` | cancelled |
//! | `UserSubmitCancel` | `DELETED` | cancel refused (`REASON`, e.g. `Order not live`) |
//! | `ClerkReject` | `COMPLETED` | a staged ticket cancelled (`REASON`, `User cancel`); otherwise rejected |
//! | `ExchangeKillOrder` | any | expired |
//! | `ExchangeAcceptOrder` | `COMPLETED` | accepted |
//! | any | `DELETED` | rejected (`REASON`) |
//! | any | `CANCELLED` | cancelled |
//!
//! Anything else is [`RowError`]: logged and alerted by the worker, never guessed.

use txtrader_plugin_api::adapter::QuoteFields;
use crate::proto::line::Row;
use crate::proto::row::{self, FieldError};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use txtrader_plugin_api::model::{
    AccountId, AccountSummary, Bar, BarInterval, BrokerOrderId, ClientOrderId, Execution, ExecutionId, Instrument, Money, OrderOrigin, OrderRequest, OrderType, Position, Price, Quantity, Quote,
    Route, SessionHours, SessionStats, Side, SignedQuantity, Symbol, TimeInForce, Trade, UnixNanos,
};
use txtrader_plugin_api::wire::{Fill, OrderEventKind};

/// A row that does not map.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// A field is missing.
    #[error("{table} row without {field}")]
    Missing {
        /// The table.
        table: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A field's value is wrong.
    #[error("{table} row: {source}")]
    Field {
        /// The table.
        table: &'static str,
        /// What is wrong.
        source: FieldError,
    },
    /// An identifier the gateway refuses.
    #[error("{table} row: {field} {value:?}: {why}")]
    Id {
        /// The table.
        table: &'static str,
        /// The field.
        field: &'static str,
        /// Its value.
        value: String,
        /// Why.
        why: String,
    },
    /// A TYPE and CURRENT_STATUS the specification does not list.
    #[error("ORDERS row {order_id}: unknown TYPE {ty:?} with CURRENT_STATUS {status:?}")]
    Unknown {
        /// The row's ORDER_ID.
        order_id: String,
        /// Its TYPE.
        ty: String,
        /// Its CURRENT_STATUS.
        status: String,
    },
}

fn need(table: &'static str, r: &Row, field: &'static str) -> Result<String, RowError> {
    row::text(r, field).ok_or(RowError::Missing { table, field })
}

fn decimal(table: &'static str, r: &Row, field: &'static str) -> Result<Option<rust_decimal::Decimal>, RowError> {
    row::decimal(r, field).map_err(|source| RowError::Field { table, source })
}

fn id<T>(table: &'static str, field: &'static str, value: String, make: impl FnOnce(String) -> Result<T, String>) -> Result<T, RowError> {
    make(value.clone()).map_err(|why| RowError::Id { table, field, value, why })
}

/// The account a row names (`BANK.BRANCH.CUSTOMER.DEPOSIT`).
///
/// # Errors
/// A part missing, or not an account id.
pub fn account(table: &'static str, r: &Row) -> Result<AccountId, RowError> {
    let parts = [need(table, r, "BANK")?, need(table, r, "BRANCH")?, need(table, r, "CUSTOMER")?, need(table, r, "DEPOSIT")?];
    id(table, "BANK.BRANCH.CUSTOMER.DEPOSIT", parts.join("."), |v| AccountId::new(v).map_err(|e| e.to_string()))
}

/// An account's four parts, as RTGW's WHERE clauses and pokes name them; `None` when the id
/// does not have four.
pub fn account_parts(account: &AccountId) -> Option<[&str; 4]> {
    let mut it = account.as_str().splitn(4, '.');
    let parts = [it.next()?, it.next()?, it.next()?, it.next()?];
    parts.iter().all(|p| !p.is_empty()).then_some(parts)
}

/// A POSITION row: net `LONGPOS - SHORTPOS` (the day's `LONGPOS0`/`SHORTPOS0` are the start of
/// day's, already in those).
///
/// # Errors
/// A missing account or symbol, or a quantity that is not a number.
pub fn position(r: &Row) -> Result<Position, RowError> {
    const T: &str = "POSITION";
    let account = account(T, r)?;
    let symbol = id(T, "DISP_NAME", need(T, r, "DISP_NAME")?, |v| Symbol::new(v).map_err(|e| e.to_string()))?;
    let long = decimal(T, r, "LONGPOS")?.unwrap_or_default();
    let short = decimal(T, r, "SHORTPOS")?.unwrap_or_default();
    Ok(Position { account, symbol, quantity: SignedQuantity::new(long - short), avg_price: None })
}

/// A feed time: the naive date (`YYYY-MM-DD` or `YYYY/MM/DD`) and time (`HH:MM:SS`) in the
/// feed's time zone; `None` when either does not read (a placeholder such as `Error 17`).
pub fn feed_time(date: &str, time: &str, tz: chrono_tz::Tz) -> Option<UnixNanos> {
    let d = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").or_else(|_| NaiveDate::parse_from_str(date.trim(), "%Y/%m/%d")).ok()?;
    let t = NaiveTime::parse_from_str(time.trim(), "%H:%M:%S").ok()?;
    // a time the clocks skip (spring forward) does not exist; one they repeat is the first
    tz.from_local_datetime(&NaiveDateTime::new(d, t)).earliest().map(UnixNanos::from)
}

/// What one ORDERS row says happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRow {
    /// The order's permid (`ORIGINAL_ORDER_ID`, else the row's own `ORDER_ID`).
    pub permid: BrokerOrderId,
    /// The row's own `ORDER_ID`.
    pub row_id: String,
    /// The gateway's id, on the order's first row.
    pub client_order_id: Option<ClientOrderId>,
    /// What happened; `None` for a row that changes nothing the gateway keeps.
    pub kind: Option<OrderEventKind>,
    /// Identifies the row's content: the same row sent twice has the same one.
    pub event_id: String,
}

/// Reads one ORDERS row; `staged` says whether the order is a staged ticket (its first row's
/// TYPE was `UserSubmitStagedOrder`), which decides what a `ClerkReject` means.
///
/// # Errors
/// A missing id or status, a fill without a quantity or price, or a TYPE and status the
/// specification does not list.
pub fn order_row(r: &Row, staged: bool) -> Result<OrderRow, RowError> {
    const T: &str = "ORDERS";
    let row_id = need(T, r, "ORDER_ID")?;
    let permid = row::text(r, "ORIGINAL_ORDER_ID").unwrap_or_else(|| row_id.clone());
    let permid = id(T, "ORIGINAL_ORDER_ID", permid, |v| BrokerOrderId::new(v).map_err(|e| e.to_string()))?;
    let client_order_id = match row::text(r, "CLIENT_ORDER_ID") {
        Some(c) => Some(id(T, "CLIENT_ORDER_ID", c, |v| ClientOrderId::new(v).map_err(|e| e.to_string()))?),
        None => None,
    };
    let ty = row::text(r, "TYPE").unwrap_or_default();
    let status = need(T, r, "CURRENT_STATUS")?;
    let reason = row::text(r, "REASON").filter(|s| !s.is_empty());
    let kind = match (ty.as_str(), status.as_str()) {
        ("ExchangeKillOrder", _) => Some(OrderEventKind::Expired),
        ("UserSubmitCancel", "DELETED") => Some(OrderEventKind::CancelRejected { reason: reason.unwrap_or_else(|| "cancel refused".into()) }),
        (_, "DELETED") => Some(OrderEventKind::Rejected { reason: reason.unwrap_or_else(|| "DELETED".into()) }),
        (_, "CANCELLED") | ("UserSubmitCancel", "COMPLETED") => Some(OrderEventKind::Cancelled { reason }),
        ("ClerkReject", "COMPLETED") if staged => Some(OrderEventKind::Cancelled { reason: Some(reason.unwrap_or_else(|| "User cancel".into())) }),
        ("ClerkReject", "COMPLETED") => Some(OrderEventKind::Rejected { reason: reason.unwrap_or_else(|| "ClerkReject".into()) }),
        ("ExchangeTradeOrder", "COMPLETED") => {
            let quantity = decimal(T, r, "VOLUME")?.ok_or(RowError::Missing { table: T, field: "VOLUME" })?;
            let price = decimal(T, r, "PRICE")?.ok_or(RowError::Missing { table: T, field: "PRICE" })?;
            let quantity = Quantity::new(quantity).map_err(|e| RowError::Id { table: T, field: "VOLUME", value: quantity.to_string(), why: e.to_string() })?;
            let exec_id = id(T, "ORDER_ID", row_id.clone(), |v| ExecutionId::new(v).map_err(|e| e.to_string()))?;
            Some(OrderEventKind::Filled(Fill { exec_id, quantity, price: Price::new(price), venue_fill_id: row::text(r, "FILL_ID") }))
        }
        ("UserSubmitStagedOrder", "PENDING") => Some(OrderEventKind::Staged),
        (_, "PENDING") => Some(OrderEventKind::Acknowledged),
        (_, "LIVE") | ("ExchangeAcceptOrder", "COMPLETED") => Some(OrderEventKind::Accepted),
        ("UserSubmitOrder" | "UserSubmitStagedOrder" | "UserSubmitStatus" | "ExchangeReportStatus", "COMPLETED") => None,
        _ => return Err(RowError::Unknown { order_id: row_id, ty, status }),
    };
    let traded = row::text(r, "VOLUME_TRADED").unwrap_or_default();
    let event_id = format!("{row_id}:{ty}:{status}:{traded}");
    Ok(OrderRow { permid, row_id, client_order_id, kind, event_id })
}

/// The request an order amounts to, from its own row (the one whose `ORDER_ID` is its permid):
/// what RealTick echoes of the poke (account, `DISP_NAME`, `BUYORSELL`, `ORIGINAL_VOLUME`,
/// `PRICE_TYPE` with `PRICE` / `STOP_PRICE`, `GOOD_UNTIL`, `EXIT_VEHICLE`, `EXCHANGE`,
/// `ORDER_TAG`). `client` is the gateway's id when the order is the gateway's (its first row
/// carried it); otherwise the order was placed elsewhere and is named `rt-<permid>`.
///
/// # Errors
/// A field the request needs is missing or wrong.
pub fn request_of(r: &Row, permid: &BrokerOrderId, client: Option<ClientOrderId>) -> Result<OrderRequest, RowError> {
    const T: &str = "ORDERS";
    let account = account(T, r)?;
    let symbol = id(T, "DISP_NAME", need(T, r, "DISP_NAME")?, |v| Symbol::new(v).map_err(|e| e.to_string()))?;
    let volume = decimal(T, r, "ORIGINAL_VOLUME")?.or(decimal(T, r, "VOLUME")?).ok_or(RowError::Missing { table: T, field: "ORIGINAL_VOLUME" })?;
    let quantity = Quantity::new(volume.abs()).map_err(|e| RowError::Id { table: T, field: "ORIGINAL_VOLUME", value: volume.to_string(), why: e.to_string() })?;
    let price = |field: &'static str| -> Result<Price, RowError> { decimal(T, r, field)?.map(Price::new).ok_or(RowError::Missing { table: T, field }) };
    let order_type = match row::text(r, "PRICE_TYPE").as_deref().unwrap_or("Market") {
        "Market" => OrderType::Market,
        "AsEntered" | "Limit" => OrderType::Limit { limit_price: price("PRICE")? },
        "Stop" => OrderType::Stop { stop_price: price("STOP_PRICE")? },
        "StopLimit" => OrderType::StopLimit { stop_price: price("STOP_PRICE")?, limit_price: price("PRICE")? },
        other => return Err(RowError::Id { table: T, field: "PRICE_TYPE", value: other.to_owned(), why: "not Market, AsEntered, Stop or StopLimit".into() }),
    };
    let ours = client.is_some();
    let client_order_id = match client {
        Some(c) => c,
        None => id(T, "ORIGINAL_ORDER_ID", format!("rt-{permid}"), |v| ClientOrderId::new(v).map_err(|e| e.to_string()))?,
    };
    let staged = row::text(r, "TYPE").is_some_and(|t| t.starts_with("UserSubmitStaged"));
    Ok(OrderRequest {
        client_order_id,
        account,
        symbol,
        side: if row::text(r, "BUYORSELL").as_deref() == Some("Buy") { Side::Buy } else { Side::Sell },
        quantity,
        order_type,
        time_in_force: match row::text(r, "GOOD_UNTIL").as_deref() {
            Some("GTC") => TimeInForce::Gtc,
            Some("IOC") => TimeInForce::Ioc,
            _ => TimeInForce::Day,
        },
        route: row::text(r, "EXIT_VEHICLE").filter(|v| !v.is_empty() && v != "NONE").map(|name| Route { name, params: None }),
        exchange: row::text(r, "EXCHANGE").filter(|e| !e.is_empty()),
        staged_tag: row::text(r, "ORDER_TAG").filter(|_| staged),
        origin: if ours { OrderOrigin::Client } else { OrderOrigin::Broker },
        user: None,
    })
}

/// An execution from a fill row (`TYPE=ExchangeTradeOrder`): this fill's `VOLUME` at `PRICE`,
/// the order's `VOLUME_TRADED`, `ORDER_RESIDUAL` and `AVG_PRICE` after it, its time from
/// `MARKET_TRD_DATE` and `TRD_TIME` in the feed's zone (else `now`).
///
/// # Errors
/// A field an execution needs is missing or wrong.
pub fn execution(r: &Row, client: Option<ClientOrderId>, tz: chrono_tz::Tz, now: UnixNanos) -> Result<Execution, RowError> {
    const T: &str = "ORDERS";
    let o = order_row(r, false)?;
    let Some(OrderEventKind::Filled(fill)) = o.kind else {
        return Err(RowError::Missing { table: T, field: "a fill (TYPE=ExchangeTradeOrder, CURRENT_STATUS=COMPLETED)" });
    };
    let qty = |field: &'static str, v: Option<rust_decimal::Decimal>| -> Result<Quantity, RowError> {
        let v = v.unwrap_or_default().max(rust_decimal::Decimal::ZERO);
        Quantity::new(v).map_err(|e| RowError::Id { table: T, field, value: v.to_string(), why: e.to_string() })
    };
    let cum = qty("VOLUME_TRADED", decimal(T, r, "VOLUME_TRADED")?.or(Some(fill.quantity.as_decimal())))?;
    let leaves = qty("ORDER_RESIDUAL", decimal(T, r, "ORDER_RESIDUAL")?)?;
    let when = match (row::text(r, "MARKET_TRD_DATE"), row::text(r, "TRD_TIME")) {
        (Some(d), Some(t)) => feed_time(&d, &t, tz).unwrap_or(now),
        _ => now,
    };
    Ok(Execution {
        exec_id: fill.exec_id,
        client_order_id: client,
        broker_order_id: o.permid,
        account: account(T, r)?,
        symbol: id(T, "DISP_NAME", need(T, r, "DISP_NAME")?, |v| Symbol::new(v).map_err(|e| e.to_string()))?,
        side: if row::text(r, "BUYORSELL").as_deref() == Some("Buy") { Side::Buy } else { Side::Sell },
        quantity: fill.quantity,
        price: fill.price,
        cum_quantity: cum,
        leaves_quantity: leaves,
        avg_price: decimal(T, r, "AVG_PRICE")?.filter(|p| !p.is_zero()).map_or(fill.price, Price::new),
        venue_fill_id: fill.venue_fill_id,
        ts_event: when,
        commission: None,
    })
}

/// The fields of a live LIVEQUOTE advise, as the original asks for them: the trade fields, then
/// bid and ask when the gateway shows them (its ticker flag), then the day's high and low (its
/// high/low flag).
pub fn live_fields(optional: QuoteFields) -> Vec<&'static str> {
    let mut fields = vec!["TRD_DATE", "TRDTIM_1", "TRDPRC_1", "TRDVOL_1", "ACVOL_1", "OPEN_PRC", "HST_CLOSE", "VWAP"];
    if optional.bid_ask {
        fields.extend(["BID", "BIDSIZE", "ASK", "ASKSIZE"]);
    }
    if optional.high_low {
        fields.extend(["HIGH_1", "LOW_1"]);
    }
    fields
}

/// Why a symbol's LIVEQUOTE record says it is not a symbol: no row at all, or a row with
/// `SYMBOL_ERROR` (RealTick's `Error 17`).
pub fn symbol_error(rows: &[Row]) -> Option<String> {
    match rows.first() {
        None => Some("no LIVEQUOTE record".into()),
        Some(r) if r.contains_key("SYMBOL_ERROR") => Some(format!("SYMBOL_ERROR {}", r.get("SYMBOL_ERROR").map(ToString::to_string).unwrap_or_default())),
        Some(_) => None,
    }
}

/// An instrument from its LIVEQUOTE record; the session in the feed's zone (`tz`), 09:30 to
/// 16:00 when the record has no `STARTTIME` / `STOPTIME`.
///
/// # Errors
/// The symbol is missing or not a symbol.
pub fn instrument(r: &Row, tz: chrono_tz::Tz) -> Result<Instrument, RowError> {
    const T: &str = "LIVEQUOTE";
    let symbol = id(T, "DISP_NAME", need(T, r, "DISP_NAME")?, |v| Symbol::new(v).map_err(|e| e.to_string()))?;
    let time = |field: &str, default: (u32, u32)| {
        row::text(r, field)
            .and_then(|t| NaiveTime::parse_from_str(t.trim(), "%H:%M:%S").ok())
            .or_else(|| NaiveTime::from_hms_opt(default.0, default.1, 0))
            .unwrap_or_default()
    };
    Ok(Instrument {
        symbol,
        name: row::text(r, "COMPANY_NAME").unwrap_or_default(),
        cusip: row::text(r, "CUSIP").filter(|c| !c.is_empty()),
        exchange: row::text(r, "PRIMARY_EXCHANGE").or_else(|| row::text(r, "EXCHANGE")).filter(|e| !e.is_empty()),
        currency: row::text(r, "CURRENCY").filter(|c| c.len() == 3).unwrap_or_else(|| "USD".into()),
        session: SessionHours { start: time("STARTTIME", (9, 30)), stop: time("STOPTIME", (16, 0)), timezone: tz.name().to_owned() },
    })
}

fn price_of(r: &Row, field: &'static str) -> Result<Option<Price>, RowError> {
    Ok(decimal("LIVEQUOTE", r, field)?.map(Price::new))
}

fn size_of(r: &Row, field: &'static str) -> Result<Quantity, RowError> {
    let v = decimal("LIVEQUOTE", r, field)?.unwrap_or_default().max(rust_decimal::Decimal::ZERO);
    Quantity::new(v).map_err(|e| RowError::Id { table: "LIVEQUOTE", field, value: v.to_string(), why: e.to_string() })
}

/// What a LIVEQUOTE record shows: the quote, the last trade, the day's statistics.
pub type Market = (Option<Quote>, Option<Trade>, Option<SessionStats>);

/// The market a LIVEQUOTE record (whole, or merged from updates) shows: the quote, the last
/// trade and the day's statistics, each when the record has it; times from `TRD_DATE` and
/// `TRDTIM_1` in the feed's zone, else `now`.
///
/// # Errors
/// A price or size that is not a number.
pub fn market(symbol: &Symbol, r: &Row, tz: chrono_tz::Tz, now: UnixNanos) -> Result<Market, RowError> {
    let ts_event = match (row::text(r, "TRD_DATE"), row::text(r, "TRDTIM_1")) {
        (Some(d), Some(t)) => feed_time(&d, &t, tz).unwrap_or(now),
        _ => now,
    };
    let quote = if ["BID", "ASK", "BIDSIZE", "ASKSIZE"].iter().any(|f| r.contains_key(*f)) {
        Some(Quote { symbol: symbol.clone(), bid: price_of(r, "BID")?, bid_size: size_of(r, "BIDSIZE")?, ask: price_of(r, "ASK")?, ask_size: size_of(r, "ASKSIZE")?, ts_event: now })
    } else {
        None
    };
    let trade = match price_of(r, "TRDPRC_1")? {
        Some(price) => Some(Trade { symbol: symbol.clone(), price, size: size_of(r, "TRDVOL_1")?, ts_event }),
        None => None,
    };
    let stats = if ["ACVOL_1", "OPEN_PRC", "HIGH_1", "LOW_1", "HST_CLOSE", "VWAP"].iter().any(|f| r.contains_key(*f)) {
        Some(SessionStats {
            symbol: symbol.clone(),
            open: price_of(r, "OPEN_PRC")?,
            high: price_of(r, "HIGH_1")?,
            low: price_of(r, "LOW_1")?,
            prev_close: price_of(r, "HST_CLOSE")?,
            vwap: price_of(r, "VWAP")?,
            volume: size_of(r, "ACVOL_1")?,
            ts_event,
        })
    } else {
        None
    };
    Ok((quote, trade, stats))
}

/// An account's balances from its DEPOSIT record: `CASH_BALANCE`, `TOTAL_EQ`, `EXCESS_EQ`,
/// `NOTIONAL_AMOUNT` (the positions' value) and `BUYING_POWER` where RealTick has it (zero
/// otherwise), in `CURRENCY`.
///
/// # Errors
/// A balance that is not a number.
pub fn account_summary(account: AccountId, r: &Row, now: UnixNanos) -> Result<AccountSummary, RowError> {
    const T: &str = "DEPOSIT";
    let money = |field: &'static str| -> Result<Money, RowError> { Ok(Money::new(decimal(T, r, field)?.unwrap_or_default())) };
    Ok(AccountSummary {
        account,
        currency: row::text(r, "CURRENCY").filter(|c| c.len() == 3).unwrap_or_else(|| "USD".into()),
        cash: money("CASH_BALANCE")?,
        equity: money("TOTAL_EQ")?,
        excess_equity: money("EXCESS_EQ")?,
        gross_position_value: money("NOTIONAL_AMOUNT")?,
        buying_power: money("BUYING_POWER")?,
        ts_event: now,
    })
}

/// The bar-chart table and `BARINTERVAL` of an interval: `INTRADAY` with N minutes, `DAILY`
/// with 0 (days), 1 (weeks) or 2 (months).
pub fn chart(interval: BarInterval) -> (&'static str, i64) {
    match interval {
        BarInterval::Minutes(n) => ("INTRADAY", i64::from(n)),
        BarInterval::Day => ("DAILY", 0),
        BarInterval::Week => ("DAILY", 1),
        BarInterval::Month => ("DAILY", 2),
    }
}

/// The fields a bar-chart request asks for.
pub const CHART_FIELDS: [&str; 8] = ["DISP_NAME", "TRD_DATE", "TRDTIM_1", "OPEN_PRC", "HIGH_1", "LOW_1", "SETTLE", "ACVOL_1"];

/// Bars from a bar-chart row, whose fields are parallel lists (one element per bar). Intraday
/// bars start at `TRD_DATE` + `TRDTIM_1` in the feed's zone; daily and longer ones (whose
/// `TRDTIM_1` is RealTick's `Error 17`) at `session_open` of their day.
///
/// # Errors
/// A list missing or of another length than the dates, or an element that does not read.
pub fn bars(symbol: &Symbol, interval: BarInterval, r: &Row, tz: chrono_tz::Tz, session_open: NaiveTime) -> Result<Vec<Bar>, RowError> {
    let table = chart(interval).0;
    let Some(dates) = row::list(r, "TRD_DATE") else {
        // no bars: RealTick sends the fields as placeholders
        return Ok(Vec::new());
    };
    let n = dates.len();
    let column = |field: &'static str| -> Result<&[serde_json::Value], RowError> {
        let l = row::list(r, field).ok_or(RowError::Missing { table, field })?;
        if l.len() == n { Ok(l) } else { Err(RowError::Id { table, field, value: format!("{} elements", l.len()), why: format!("{n} dates") }) }
    };
    let times = if matches!(interval, BarInterval::Minutes(_)) { Some(column("TRDTIM_1")?) } else { None };
    let (open, high, low, close, volume) = (column("OPEN_PRC")?, column("HIGH_1")?, column("LOW_1")?, column("SETTLE")?, column("ACVOL_1")?);
    let bad = |field: &'static str, i: usize, v: &serde_json::Value| RowError::Id { table, field, value: v.to_string(), why: format!("element {i} is not a number") };
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let date = dates[i].as_str().unwrap_or_default();
        let time = match times {
            Some(t) => t[i].as_str().unwrap_or_default().to_owned(),
            None => session_open.format("%H:%M:%S").to_string(),
        };
        let start = feed_time(date, &time, tz).ok_or_else(|| RowError::Id { table, field: "TRD_DATE", value: format!("{date} {time}"), why: "not a time of the feed".into() })?;
        let price = |field: &'static str, col: &[serde_json::Value]| row::decimal_of(&col[i]).map(Price::new).ok_or_else(|| bad(field, i, &col[i]));
        let volume = row::decimal_of(&volume[i]).and_then(|v| Quantity::new(v.max(rust_decimal::Decimal::ZERO)).ok()).ok_or_else(|| bad("ACVOL_1", i, &volume[i]))?;
        out.push(Bar { symbol: symbol.clone(), interval, start, open: price("OPEN_PRC", open)?, high: price("HIGH_1", high)?, low: price("LOW_1", low)?, close: price("SETTLE", close)?, volume });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(v: serde_json::Value) -> Row {
        v.as_object().cloned().unwrap_or_default()
    }

    fn acct() -> serde_json::Value {
        json!({"BANK": "REALTICKDEMO", "BRANCH": "REALTICK", "CUSTOMER": "DEMO32", "DEPOSIT": "TRADING"})
    }

    fn with(extra: serde_json::Value) -> Row {
        let mut m = r(acct());
        m.extend(r(extra));
        m
    }

    #[test]
    fn the_live_advise_asks_for_the_fields_the_flags_show() {
        const TRADE: [&str; 8] = ["TRD_DATE", "TRDTIM_1", "TRDPRC_1", "TRDVOL_1", "ACVOL_1", "OPEN_PRC", "HST_CLOSE", "VWAP"];
        // the original's defaults: ticker off, high/low on
        assert_eq!(live_fields(QuoteFields { bid_ask: false, high_low: true }), [&TRADE[..], &["HIGH_1", "LOW_1"]].concat());
        assert_eq!(live_fields(QuoteFields { bid_ask: false, high_low: false }), TRADE);
        // both on: bid/ask before high/low, as the original orders them
        assert_eq!(live_fields(QuoteFields::default()), [&TRADE[..], &["BID", "BIDSIZE", "ASK", "ASKSIZE", "HIGH_1", "LOW_1"]].concat());
    }

    #[test]
    fn accounts_and_positions() {
        let a = account("ACCOUNT", &r(acct())).expect("account");
        assert_eq!(a.as_str(), "REALTICKDEMO.REALTICK.DEMO32.TRADING");
        assert_eq!(account_parts(&a), Some(["REALTICKDEMO", "REALTICK", "DEMO32", "TRADING"]));
        assert!(matches!(account("ACCOUNT", &r(json!({"BANK": "X"}))), Err(RowError::Missing { field: "BRANCH", .. })));
        let p = position(&with(json!({"DISP_NAME": "IBM", "LONGPOS": 0, "SHORTPOS": 300, "LONGPOS0": 0, "SHORTPOS0": 0}))).expect("position");
        assert_eq!(p.quantity.as_decimal(), rust_decimal::Decimal::from(-300));
    }

    #[test]
    fn feed_times_are_in_the_feed_zone() {
        let tz = chrono_tz::Asia::Tokyo;
        let t = feed_time("2024-03-06", "10:00:00", tz).expect("time");
        assert_eq!(t.to_datetime().to_rfc3339(), "2024-03-06T01:00:00+00:00");
        assert_eq!(feed_time("2024/03/06", "10:00:00", tz), Some(t));
        assert_eq!(feed_time("Error 17", "10:00:00", tz), None);
        // 02:30 does not exist in New York on 2024-03-10
        assert_eq!(feed_time("2024-03-10", "02:30:00", chrono_tz::America::New_York), None);
    }

    #[test]
    fn a_market_order_s_rows() {
        let first = with(json!({"ORDER_ID": "9b94c305-b9-001a", "ORIGINAL_ORDER_ID": "9b94c305-b9-001a", "TYPE": "UserSubmitOrder", "CURRENT_STATUS": "PENDING", "CLIENT_ORDER_ID": "123e06b8-e77f-11f1-8cf0-02fc00000001", "VOLUME_TRADED": 0}));
        let o = order_row(&first, false).expect("row");
        assert_eq!(o.kind, Some(OrderEventKind::Acknowledged));
        assert_eq!(o.client_order_id.map(|c| c.to_string()).as_deref(), Some("123e06b8-e77f-11f1-8cf0-02fc00000001"));
        let live = with(json!({"ORDER_ID": "9b94c305-b9-001a", "ORIGINAL_ORDER_ID": "9b94c305-b9-001a", "TYPE": "UserSubmitOrder", "CURRENT_STATUS": "LIVE"}));
        assert_eq!(order_row(&live, false).expect("row").kind, Some(OrderEventKind::Accepted));
        let fill = with(json!({"ORDER_ID": "9b94c305-b9-001a-2", "ORIGINAL_ORDER_ID": "9b94c305-b9-001a", "TYPE": "ExchangeTradeOrder", "CURRENT_STATUS": "COMPLETED", "VOLUME": 75, "PRICE": 125.08, "FILL_ID": "1549-1323056", "VOLUME_TRADED": 75}));
        let f = order_row(&fill, false).expect("row");
        assert_eq!(f.permid.as_str(), "9b94c305-b9-001a");
        let Some(OrderEventKind::Filled(fill)) = f.kind else { panic!("a fill") };
        assert_eq!((fill.exec_id.as_str(), fill.quantity.as_decimal(), fill.price.as_decimal()), ("9b94c305-b9-001a-2", 75.into(), rust_decimal::Decimal::new(12508, 2)));
        let done = with(json!({"ORDER_ID": "9b94c305-b9-001a", "ORIGINAL_ORDER_ID": "9b94c305-b9-001a", "TYPE": "UserSubmitOrder", "CURRENT_STATUS": "COMPLETED", "VOLUME_TRADED": 100}));
        assert_eq!(order_row(&done, false).expect("row").kind, None, "the closing row: the fills tell");
        assert_ne!(order_row(&first, false).expect("row").event_id, order_row(&live, false).expect("row").event_id);
    }

    #[test]
    fn cancels_rejects_and_tickets() {
        let row = |ty: &str, status: &str, reason: Option<&str>| {
            let mut m = with(json!({"ORDER_ID": "p-2", "ORIGINAL_ORDER_ID": "p", "TYPE": ty, "CURRENT_STATUS": status}));
            if let Some(reason) = reason {
                m.insert("REASON".into(), json!(reason));
            }
            m
        };
        assert_eq!(order_row(&row("UserSubmitCancel", "COMPLETED", None), false).expect("r").kind, Some(OrderEventKind::Cancelled { reason: None }));
        assert_eq!(
            order_row(&row("UserSubmitCancel", "DELETED", Some("Order not live")), false).expect("r").kind,
            Some(OrderEventKind::CancelRejected { reason: "Order not live".into() })
        );
        assert_eq!(order_row(&row("UserSubmitOrder", "DELETED", Some("Invalid symbol")), false).expect("r").kind, Some(OrderEventKind::Rejected { reason: "Invalid symbol".into() }));
        assert_eq!(
            order_row(&row("ClerkReject", "COMPLETED", Some("User cancel")), true).expect("r").kind,
            Some(OrderEventKind::Cancelled { reason: Some("User cancel".into()) })
        );
        assert_eq!(order_row(&row("UserSubmitStagedOrder", "PENDING", None), true).expect("r").kind, Some(OrderEventKind::Staged));
        let e = order_row(&row("Telepathy", "COMPLETED", None), false).expect_err("unknown");
        assert!(e.to_string().contains("Telepathy"), "{e}");
        assert!(matches!(order_row(&r(json!({"TYPE": "UserSubmitOrder"})), false), Err(RowError::Missing { field: "ORDER_ID", .. })));
    }

    /// Rows as the fake RTGW (after RealTick's demo) writes them.
    fn order_fields(extra: serde_json::Value) -> Row {
        with(json!({
            "BUYORSELL": "Sell", "DISP_NAME": "IBM", "EXCHANGE": "NYS", "EXIT_VEHICLE": "DEMOEUR", "CURRENCY": "USD",
            "PRICE_TYPE": "AsEntered", "ORIGINAL_VOLUME": 100, "ORIGINAL_PRICE": 125.5, "PRICE": 125.5, "GOOD_UNTIL": "DAY", "STYP": 1,
            "TIME_ZONE": "America/New_York", "MARKET_TRD_DATE": "2024-03-06", "TRD_TIME": "10:00:01", "ORIGINAL_ORDER_ID": "9b94c305-b9-001a"
        }))
        .into_iter()
        .chain(r(extra))
        .collect()
    }

    #[test]
    fn a_symbol_s_record() {
        let rec = r(json!({
            "DISP_NAME": "IBM", "COMPANY_NAME": "IBM FAKE CORP", "CUSIP": "459200101", "TRDPRC_1": 125.5, "TRDTIM_1": "10:00:00",
            "TRD_DATE": "2024-03-06", "TRDVOL_1": 100, "ACVOL_1": 12345, "OPEN_PRC": 124.0, "HST_CLOSE": 123.0, "VWAP": 124.5,
            "HIGH_1": 126.0, "LOW_1": 122.0, "BID": 125.49, "BIDSIZE": 3, "ASK": 125.51, "ASKSIZE": 5, "STARTTIME": "09:30:00",
            "STOPTIME": "16:00:00", "EXCHANGE": "NYS", "PRIMARY_EXCHANGE": "NYS"
        }));
        assert_eq!(symbol_error(std::slice::from_ref(&rec)), None);
        let i = instrument(&rec, chrono_tz::America::New_York).expect("instrument");
        assert_eq!((i.name.as_str(), i.cusip.as_deref(), i.session.timezone.as_str()), ("IBM FAKE CORP", Some("459200101"), "America/New_York"));
        let (q, t, st) = market(&i.symbol, &rec, chrono_tz::America::New_York, UnixNanos(1)).expect("market");
        assert_eq!(q.map(|q| (q.bid, q.ask_size.as_decimal())), Some((Some(Price::new(rust_decimal::Decimal::new(12549, 2))), 5.into())));
        let t = t.expect("a trade");
        assert_eq!(t.ts_event.to_datetime().to_rfc3339(), "2024-03-06T15:00:00+00:00");
        assert_eq!(st.map(|s| s.volume.as_decimal()), Some(12345.into()));
        let bad = r(json!({"DISP_NAME": "BADSYMBOL", "TRDPRC_1": "Error 17", "SYMBOL_ERROR": "Error 17"}));
        assert!(symbol_error(&[bad]).is_some_and(|e| e.contains("SYMBOL_ERROR")));
        assert!(symbol_error(&[]).is_some());
        // an update with a price only is a trade, not a quote
        let (q, t, st) = market(&i.symbol, &r(json!({"TRDPRC_1": 125.6})), chrono_tz::America::New_York, UnixNanos(7)).expect("market");
        assert!(q.is_none() && st.is_none());
        assert_eq!(t.map(|t| t.ts_event), Some(UnixNanos(7)));
    }

    #[test]
    fn bar_charts_and_deposits() {
        let ibm = Symbol::new("IBM").expect("sym");
        let tz = chrono_tz::America::New_York;
        let open = NaiveTime::from_hms_opt(9, 30, 0).expect("t");
        let intraday = r(json!({"DISP_NAME": "IBM", "TRD_DATE": ["2024-03-06", "2024-03-06"], "TRDTIM_1": ["09:30:00", "09:35:00"], "OPEN_PRC": [1.5, 2], "HIGH_1": [2, 3], "LOW_1": [1, 1.5], "SETTLE": [1.75, 2.5], "ACVOL_1": [1000, 1001]}));
        let b = bars(&ibm, BarInterval::Minutes(5), &intraday, tz, open).expect("bars");
        assert_eq!(b.len(), 2);
        assert_eq!(b[1].start.to_datetime().to_rfc3339(), "2024-03-06T14:35:00+00:00");
        assert_eq!(b[0].close.as_decimal(), rust_decimal::Decimal::new(175, 2));
        let daily = r(json!({"DISP_NAME": "IBM", "TRD_DATE": ["2024-03-06"], "TRDTIM_1": "Error 17", "OPEN_PRC": [1], "HIGH_1": [2], "LOW_1": [1], "SETTLE": [2], "ACVOL_1": [5]}));
        let b = bars(&ibm, BarInterval::Day, &daily, tz, open).expect("bars");
        assert_eq!(b[0].start.to_datetime().to_rfc3339(), "2024-03-06T14:30:00+00:00", "a daily bar starts at the session open");
        let short = r(json!({"DISP_NAME": "IBM", "TRD_DATE": ["2024-03-06", "2024-03-07"], "TRDTIM_1": "Error 17", "OPEN_PRC": [1], "HIGH_1": [2, 2], "LOW_1": [1, 1], "SETTLE": [2, 2], "ACVOL_1": [5, 5]}));
        assert!(bars(&ibm, BarInterval::Day, &short, tz, open).expect_err("short").to_string().contains("OPEN_PRC"));
        assert_eq!(bars(&ibm, BarInterval::Day, &r(json!({"TRD_DATE": "Error 17"})), tz, open), Ok(vec![]));
        assert_eq!(chart(BarInterval::Week), ("DAILY", 1));
        let acct = AccountId::new("REALTICKDEMO.REALTICK.DEMO32.TRADING").expect("a");
        let d = account_summary(acct, &r(json!({"CASH_BALANCE": 100000.0, "EXCESS_EQ": 123456.789, "NOTIONAL_AMOUNT": 0.0, "CURRENCY": "USD", "TOTAL_EQ": 223456.78})), UnixNanos(1)).expect("summary");
        assert_eq!(d.excess_equity.as_decimal(), rust_decimal::Decimal::new(123_456_789, 3));
    }

    #[test]
    fn an_order_s_request_from_its_row() {
        let permid = BrokerOrderId::new("9b94c305-b9-001a").expect("id");
        let row = order_fields(json!({"ORDER_ID": "9b94c305-b9-001a", "TYPE": "UserSubmitOrder", "CURRENT_STATUS": "LIVE"}));
        let req = request_of(&row, &permid, None).expect("request");
        assert_eq!(req.client_order_id.as_str(), "rt-9b94c305-b9-001a", "placed elsewhere");
        assert_eq!(req.origin, OrderOrigin::Broker);
        assert_eq!((req.side, req.quantity.as_decimal(), req.order_type), (Side::Sell, 100.into(), OrderType::Limit { limit_price: Price::new(rust_decimal::Decimal::new(1255, 1)) }));
        assert_eq!(req.route.as_ref().map(|r| r.name.as_str()), Some("DEMOEUR"));
        let ours = ClientOrderId::new("123e06b8-e77f-11f1-8cf0-02fc00000001").expect("id");
        assert_eq!(request_of(&row, &permid, Some(ours.clone())).expect("request").origin, OrderOrigin::Client);
        let stop = order_fields(json!({"ORDER_ID": "9b94c305-b9-001a", "TYPE": "UserSubmitOrder", "CURRENT_STATUS": "LIVE", "PRICE_TYPE": "Stop"}));
        assert!(matches!(request_of(&stop, &permid, None), Err(RowError::Missing { field: "STOP_PRICE", .. })));
    }

    #[test]
    fn an_execution_from_a_fill_row() {
        let row = order_fields(json!({
            "ORDER_ID": "9b94c305-b9-001a-2", "TYPE": "ExchangeTradeOrder", "CURRENT_STATUS": "COMPLETED", "VOLUME": 25, "PRICE": 125.08,
            "VOLUME_TRADED": 75, "ORDER_RESIDUAL": 25, "AVG_PRICE": 125.0533, "FILL_ID": "1549-1323056"
        }));
        let x = execution(&row, None, chrono_tz::America::New_York, UnixNanos(1)).expect("execution");
        assert_eq!(x.exec_id.as_str(), "9b94c305-b9-001a-2");
        assert_eq!(x.broker_order_id.as_str(), "9b94c305-b9-001a");
        assert_eq!((x.quantity.as_decimal(), x.cum_quantity.as_decimal(), x.leaves_quantity.as_decimal()), (25.into(), 75.into(), 25.into()));
        assert_eq!(x.avg_price.as_decimal(), rust_decimal::Decimal::new(1_250_533, 4));
        assert_eq!(x.ts_event.to_datetime().to_rfc3339(), "2024-03-06T15:00:01+00:00", "10:00:01 in New York");
        let not_a_fill = order_fields(json!({"ORDER_ID": "9b94c305-b9-001a", "TYPE": "UserSubmitOrder", "CURRENT_STATUS": "LIVE"}));
        assert!(execution(&not_a_fill, None, chrono_tz::America::New_York, UnixNanos(1)).is_err());
    }
}
