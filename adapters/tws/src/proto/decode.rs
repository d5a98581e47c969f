//! Responses: one frame's fields decoded into a typed [`Incoming`], for server versions
//! 176–178, as IB's official decoder lays them out.
//!
//! Bytes from the socket are untrusted. Every field is checked; a missing or malformed field is
//! a [`DecodeError`] naming the message, the field and what was wrong, and the message is
//! skipped (the connection stays up). Extra trailing fields are accepted (a newer server may
//! append some). An unknown message id is [`Incoming::Unknown`], skipped by the caller. No
//! input makes the decoder panic (`tests` fuzz it with random and truncated frames).

// Input from outside the process: nothing here may panic on it (tests may).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::arithmetic_side_effects, clippy::unwrap_used, clippy::expect_used))]

use super::text;
pub use super::{Contract, Order};
use rust_decimal::Decimal;

/// Why a message could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("message {msg_id}: field {field} ({name}): {problem}")]
pub struct DecodeError {
    /// The message id (as received).
    pub msg_id: String,
    /// The field's index (0 is the message id).
    pub field: usize,
    /// The field's name.
    pub name: &'static str,
    /// What was wrong.
    pub problem: String,
}

/// openOrder: the order, who placed it, and its state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenOrder {
    /// The order (its id is the client-side one, 0 for orders entered in TWS).
    pub order: Order,
    /// The API client that placed it (0: TWS or the master client).
    pub client_id: i64,
    /// TWS's account-wide id.
    pub perm_id: i64,
    /// Order state (same strings as orderStatus).
    pub status: String,
}

/// orderStatus.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderStatus {
    /// Order id.
    pub order_id: i64,
    /// `PendingSubmit`, `PreSubmitted`, `Submitted`, `Cancelled`, `Filled`, `Inactive`…
    pub status: String,
    /// Filled so far.
    pub filled: Decimal,
    /// Still open.
    pub remaining: Decimal,
    /// Average fill price.
    pub avg_fill_price: Option<Decimal>,
    /// Account-wide id.
    pub perm_id: i64,
    /// Last fill price.
    pub last_fill_price: Option<Decimal>,
    /// The client that placed it.
    pub client_id: i64,
    /// Why held, if held.
    pub why_held: String,
}

/// execDetails.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecDetails {
    /// The reqExecutions id, -1 when unsolicited.
    pub req_id: i64,
    /// The order's client-side id.
    pub order_id: i64,
    /// The contract.
    pub contract: Contract,
    /// Execution id (corrections reuse the prefix with a higher suffix).
    pub exec_id: String,
    /// Execution time as sent.
    pub time: String,
    /// Account.
    pub account: String,
    /// Venue.
    pub exchange: String,
    /// `BOT` / `SLD`.
    pub side: String,
    /// Shares in this execution.
    pub shares: Decimal,
    /// Price.
    pub price: Decimal,
    /// The order's account-wide id.
    pub perm_id: i64,
    /// The client that placed the order.
    pub client_id: i64,
    /// Cumulative quantity.
    pub cum_qty: Decimal,
    /// Average price.
    pub avg_price: Decimal,
    /// The order reference.
    pub order_ref: String,
}

/// One bar of historicalData.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistoricalBar {
    /// `YYYYMMDD`, `YYYYMMDD  HH:MM:SS[ TZ]` or epoch seconds, as requested.
    pub date: String,
    /// Open.
    pub open: Decimal,
    /// High.
    pub high: Decimal,
    /// Low.
    pub low: Decimal,
    /// Close.
    pub close: Decimal,
    /// Volume (unset: none reported).
    pub volume: Option<Decimal>,
}

/// contractData: what the gateway uses of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContractDetails {
    /// Request id.
    pub req_id: i64,
    /// The contract.
    pub contract: Contract,
    /// Minimum tick.
    pub min_tick: Option<Decimal>,
    /// Long name.
    pub long_name: String,
    /// Primary exchange.
    pub primary_exchange: String,
    /// Time zone of the trading hours.
    pub time_zone_id: String,
    /// Liquid (regular) hours.
    pub liquid_hours: String,
}

/// A decoded message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// tickPrice (for bid/ask/last also carrying their size).
    TickPrice { req_id: i64, tick_type: i64, price: Option<Decimal>, size: Option<Decimal>, attrs: i64 },
    /// tickSize.
    TickSize { req_id: i64, tick_type: i64, size: Option<Decimal> },
    /// tickString.
    TickString { req_id: i64, tick_type: i64, value: String },
    /// tickGeneric.
    TickGeneric { req_id: i64, tick_type: i64, value: Option<Decimal> },
    /// marketDataType.
    MarketDataType { req_id: i64, kind: i64 },
    /// tickSnapshotEnd.
    TickSnapshotEnd { req_id: i64 },
    /// orderStatus.
    OrderStatus(OrderStatus),
    /// openOrder.
    OpenOrder(Box<OpenOrder>),
    /// openOrderEnd.
    OpenOrderEnd,
    /// execDetails.
    ExecDetails(Box<ExecDetails>),
    /// execDetailsEnd.
    ExecDetailsEnd { req_id: i64 },
    /// commissionReport.
    Commission { exec_id: String, commission: Option<Decimal>, currency: String, realized_pnl: Option<Decimal> },
    /// position.
    Position { account: String, contract: Contract, position: Decimal, avg_cost: Option<Decimal> },
    /// positionEnd.
    PositionEnd,
    /// accountSummary.
    AccountSummary { req_id: i64, account: String, tag: String, value: String, currency: String },
    /// accountSummaryEnd.
    AccountSummaryEnd { req_id: i64 },
    /// updateAccountValue.
    AccountValue { key: String, value: String, currency: String, account: String },
    /// updatePortfolio (position part).
    Portfolio { contract: Contract, position: Decimal, account: String },
    /// updateAccountTime.
    AccountTime { time: String },
    /// accountDownloadEnd.
    AccountDownloadEnd { account: String },
    /// historicalData.
    HistoricalData { req_id: i64, bars: Vec<HistoricalBar> },
    /// realtimeBar: one 5-second bar.
    RealTimeBar { req_id: i64, time: i64, open: Decimal, high: Decimal, low: Decimal, close: Decimal, volume: Option<Decimal> },
    /// historicalDataEnd (server version 196 and later; listed for completeness).
    HistoricalDataEnd { req_id: i64 },
    /// contractData.
    ContractData(Box<ContractDetails>),
    /// contractDataEnd.
    ContractDataEnd { req_id: i64 },
    /// currentTime (epoch seconds).
    CurrentTime { epoch: i64 },
    /// nextValidId.
    NextValidId { order_id: i64 },
    /// managedAccounts.
    ManagedAccounts { accounts: Vec<String> },
    /// error: errors, warnings and notices alike (see the classification in the adapter).
    Error { req_id: i64, code: i64, message: String, advanced: String },
    /// completedOrdersEnd.
    CompletedOrdersEnd,
    /// A message this decoder does not need (completedOrder, orderBound, …): skipped.
    Unknown { msg_id: i64 },
}

/// Reads fields in order, naming each for errors.
struct Cursor<'a> {
    fields: &'a [&'a str],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn err(&self, field: usize, name: &'static str, problem: impl Into<String>) -> DecodeError {
        DecodeError { msg_id: self.fields.first().map_or_else(String::new, |f| (*f).to_owned()), field, name, problem: problem.into() }
    }

    fn next(&mut self, name: &'static str) -> Result<&'a str, DecodeError> {
        let f = self.fields.get(self.at).copied().ok_or_else(|| self.err(self.at, name, "missing (message too short)"))?;
        self.at = self.at.saturating_add(1);
        Ok(f)
    }

    fn text(&mut self, name: &'static str) -> Result<String, DecodeError> {
        self.next(name).map(str::to_owned)
    }

    fn skip(&mut self, n: usize, name: &'static str) -> Result<(), DecodeError> {
        for _ in 0..n {
            self.next(name)?;
        }
        Ok(())
    }

    fn opt_int(&mut self, name: &'static str) -> Result<Option<i64>, DecodeError> {
        let at = self.at;
        let f = self.next(name)?;
        text::integer(f).map_err(|_| self.err(at, name, format!("not an integer: {f:?}")))
    }

    /// An integer; unset reads as 0 (as the official decoder reads an empty int).
    fn int(&mut self, name: &'static str) -> Result<i64, DecodeError> {
        self.opt_int(name).map(Option::unwrap_or_default)
    }

    fn opt_dec(&mut self, name: &'static str) -> Result<Option<Decimal>, DecodeError> {
        let at = self.at;
        let f = self.next(name)?;
        text::decimal(f).map_err(|_| self.err(at, name, format!("not a number: {f:?}")))
    }

    /// A number; unset reads as 0.
    fn dec(&mut self, name: &'static str) -> Result<Decimal, DecodeError> {
        self.opt_dec(name).map(Option::unwrap_or_default)
    }

    /// A number that must be there.
    fn required_dec(&mut self, name: &'static str) -> Result<Decimal, DecodeError> {
        let at = self.at;
        self.opt_dec(name)?.ok_or_else(|| self.err(at, name, "unset"))
    }

    fn flag(&mut self, name: &'static str) -> Result<bool, DecodeError> {
        Ok(self.int(name)? != 0)
    }

    /// A count of repeated groups, bounded by what the message can still hold.
    fn count(&mut self, name: &'static str, group: usize) -> Result<usize, DecodeError> {
        let at = self.at;
        let n = self.int(name)?;
        let left = self.fields.len().saturating_sub(self.at);
        usize::try_from(n)
            .ok()
            .filter(|n| n.saturating_mul(group.max(1)) <= left)
            .ok_or_else(|| self.err(at, name, format!("count {n} does not fit the {left} fields left")))
    }

    /// conId, symbol, secType, lastTradeDate, strike, right, multiplier, exchange, currency,
    /// localSymbol, tradingClass: the contract of openOrder, execDetails and position.
    fn contract_without_primary(&mut self) -> Result<Contract, DecodeError> {
        let con_id = self.int("conId")?;
        let symbol = self.text("symbol")?;
        let sec_type = self.text("secType")?;
        self.skip(4, "lastTradeDate/strike/right/multiplier")?;
        let exchange = self.text("exchange")?;
        let currency = self.text("currency")?;
        let local_symbol = self.text("localSymbol")?;
        self.skip(1, "tradingClass")?;
        Ok(Contract { con_id, symbol, sec_type, exchange, currency, local_symbol, primary_exchange: String::new() })
    }
}

/// Decodes one message's fields (the message id first) at `server_version`.
///
/// # Errors
/// A [`DecodeError`] naming the field that is missing or malformed.
pub fn decode(server_version: u32, fields: &[&str]) -> Result<Incoming, DecodeError> {
    let mut c = Cursor { fields, at: 0 };
    let id_text = c.next("msgId")?;
    let msg_id: i64 = id_text.parse().map_err(|_| c.err(0, "msgId", format!("not a message id: {id_text:?}")))?;
    let sv = server_version;
    Ok(match msg_id {
        1 => {
            c.skip(1, "version")?;
            let req_id = c.int("reqId")?;
            let tick_type = c.int("tickType")?;
            let price = c.opt_dec("price")?;
            let size = c.opt_dec("size")?;
            let attrs = c.int("attrMask")?;
            Incoming::TickPrice { req_id, tick_type, price, size, attrs }
        }
        2 => {
            c.skip(1, "version")?;
            Incoming::TickSize { req_id: c.int("reqId")?, tick_type: c.int("tickType")?, size: c.opt_dec("size")? }
        }
        46 => {
            c.skip(1, "version")?;
            Incoming::TickString { req_id: c.int("reqId")?, tick_type: c.int("tickType")?, value: c.text("value")? }
        }
        45 => {
            c.skip(1, "version")?;
            Incoming::TickGeneric { req_id: c.int("reqId")?, tick_type: c.int("tickType")?, value: c.opt_dec("value")? }
        }
        58 => {
            c.skip(1, "version")?;
            Incoming::MarketDataType { req_id: c.int("reqId")?, kind: c.int("marketDataType")? }
        }
        57 => {
            c.skip(1, "version")?;
            Incoming::TickSnapshotEnd { req_id: c.int("reqId")? }
        }
        3 => Incoming::OrderStatus(OrderStatus {
            order_id: c.int("orderId")?,
            status: c.text("status")?,
            filled: c.dec("filled")?,
            remaining: c.dec("remaining")?,
            avg_fill_price: c.opt_dec("avgFillPrice")?,
            perm_id: c.int("permId")?,
            last_fill_price: {
                c.skip(1, "parentId")?;
                c.opt_dec("lastFillPrice")?
            },
            client_id: c.int("clientId")?,
            why_held: c.text("whyHeld")?,
        }),
        5 => Incoming::OpenOrder(Box::new(open_order(&mut c, sv)?)),
        53 => Incoming::OpenOrderEnd,
        11 => Incoming::ExecDetails(Box::new(exec_details(&mut c)?)),
        55 => {
            c.skip(1, "version")?;
            Incoming::ExecDetailsEnd { req_id: c.int("reqId")? }
        }
        59 => {
            c.skip(1, "version")?;
            let exec_id = c.text("execId")?;
            let commission = c.opt_dec("commission")?;
            let currency = c.text("currency")?;
            let realized_pnl = c.opt_dec("realizedPNL")?;
            Incoming::Commission { exec_id, commission, currency, realized_pnl }
        }
        61 => {
            c.skip(1, "version")?;
            let account = c.text("account")?;
            let contract = c.contract_without_primary()?;
            let position = c.required_dec("position")?;
            let avg_cost = c.opt_dec("avgCost")?;
            Incoming::Position { account, contract, position, avg_cost }
        }
        62 => Incoming::PositionEnd,
        63 => {
            c.skip(1, "version")?;
            Incoming::AccountSummary {
                req_id: c.int("reqId")?,
                account: c.text("account")?,
                tag: c.text("tag")?,
                value: c.text("value")?,
                currency: c.text("currency")?,
            }
        }
        64 => {
            c.skip(1, "version")?;
            Incoming::AccountSummaryEnd { req_id: c.int("reqId")? }
        }
        6 => {
            c.skip(1, "version")?;
            Incoming::AccountValue { key: c.text("key")?, value: c.text("value")?, currency: c.text("currency")?, account: c.text("accountName")? }
        }
        7 => {
            c.skip(1, "version")?;
            let con_id = c.int("conId")?;
            let symbol = c.text("symbol")?;
            let sec_type = c.text("secType")?;
            c.skip(4, "lastTradeDate/strike/right/multiplier")?;
            let primary_exchange = c.text("primaryExchange")?;
            let currency = c.text("currency")?;
            let local_symbol = c.text("localSymbol")?;
            c.skip(1, "tradingClass")?;
            let position = c.required_dec("position")?;
            c.skip(5, "marketPrice/marketValue/averageCost/unrealizedPNL/realizedPNL")?;
            let account = c.text("accountName")?;
            let contract = Contract { con_id, symbol, sec_type, exchange: String::new(), primary_exchange, currency, local_symbol };
            Incoming::Portfolio { contract, position, account }
        }
        8 => {
            c.skip(1, "version")?;
            Incoming::AccountTime { time: c.text("time")? }
        }
        54 => {
            c.skip(1, "version")?;
            Incoming::AccountDownloadEnd { account: c.text("account")? }
        }
        17 => {
            let req_id = c.int("reqId")?;
            if sv < 196 {
                c.skip(2, "startDate/endDate")?;
            }
            let n = c.count("barCount", 8)?;
            let mut bars = Vec::with_capacity(n);
            for _ in 0..n {
                let date = c.text("date")?;
                let open = c.required_dec("open")?;
                let high = c.required_dec("high")?;
                let low = c.required_dec("low")?;
                let close = c.required_dec("close")?;
                let volume = c.opt_dec("volume")?;
                c.skip(2, "wap/count")?;
                bars.push(HistoricalBar { date, open, high, low, close, volume });
            }
            Incoming::HistoricalData { req_id, bars }
        }
        108 => Incoming::HistoricalDataEnd { req_id: c.int("reqId")? },
        50 => {
            c.skip(1, "version")?;
            Incoming::RealTimeBar {
                req_id: c.int("reqId")?,
                time: c.int("time")?,
                open: c.required_dec("open")?,
                high: c.required_dec("high")?,
                low: c.required_dec("low")?,
                close: c.required_dec("close")?,
                volume: c.opt_dec("volume")?,
            }
        }
        10 => Incoming::ContractData(Box::new(contract_data(&mut c)?)),
        52 => {
            c.skip(1, "version")?;
            Incoming::ContractDataEnd { req_id: c.int("reqId")? }
        }
        49 => {
            c.skip(1, "version")?;
            Incoming::CurrentTime { epoch: c.int("time")? }
        }
        9 => {
            c.skip(1, "version")?;
            Incoming::NextValidId { order_id: c.int("orderId")? }
        }
        15 => {
            c.skip(1, "version")?;
            let csv = c.next("accounts")?;
            Incoming::ManagedAccounts { accounts: csv.split(',').map(str::trim).filter(|a| !a.is_empty()).map(str::to_owned).collect() }
        }
        4 => {
            c.skip(1, "version")?;
            let req_id = c.int("reqId")?;
            let code = c.int("errorCode")?;
            let message = c.text("errorString")?;
            let advanced = if c.at < fields.len() { c.text("advancedOrderRejectJson")? } else { String::new() };
            Incoming::Error { req_id, code, message, advanced }
        }
        102 => Incoming::CompletedOrdersEnd,
        other => Incoming::Unknown { msg_id: other },
    })
}

fn open_order(c: &mut Cursor<'_>, sv: u32) -> Result<OpenOrder, DecodeError> {
    let order_id = c.int("orderId")?;
    let contract = c.contract_without_primary()?;
    let action = c.text("action")?;
    let total_quantity = c.dec("totalQuantity")?;
    let order_type = c.text("orderType")?;
    let lmt_price = c.opt_dec("lmtPrice")?;
    let aux_price = c.opt_dec("auxPrice")?;
    let tif = c.text("tif")?;
    c.skip(1, "ocaGroup")?;
    let account = c.text("account")?;
    c.skip(2, "openClose/origin")?;
    let order_ref = c.text("orderRef")?;
    let client_id = c.int("clientId")?;
    let perm_id = c.int("permId")?;
    let outside_rth = c.flag("outsideRth")?;
    // hidden, discretionaryAmt, goodAfterTime, sharesAllocation, faGroup, faMethod, faPercentage
    c.skip(7, "hidden..faPercentage")?;
    if sv < 177 {
        c.skip(1, "faProfile")?;
    }
    // modelCode .. volatilityType (#35–#61)
    c.skip(27, "modelCode..volatilityType")?;
    let delta_neutral_type = c.next("deltaNeutralOrderType")?;
    c.skip(1, "deltaNeutralAuxPrice")?;
    if !delta_neutral_type.is_empty() {
        c.skip(8, "deltaNeutral extras")?;
    }
    // continuousUpdate, referencePriceType, trailStopPrice, trailingPercent, basisPoints,
    // basisPointsType, comboLegsDescrip
    c.skip(7, "continuousUpdate..comboLegsDescrip")?;
    let legs = c.count("comboLegsCount", 8)?;
    c.skip(legs.saturating_mul(8), "comboLegs")?;
    let order_legs = c.count("orderComboLegsCount", 1)?;
    c.skip(order_legs, "orderComboLegs")?;
    let params = c.count("smartComboRoutingParamsCount", 2)?;
    c.skip(params.saturating_mul(2), "smartComboRoutingParams")?;
    c.skip(2, "scaleInitLevelSize/scaleSubsLevelSize")?;
    if c.opt_dec("scalePriceIncrement")?.is_some_and(|p| p > Decimal::ZERO) {
        c.skip(7, "scale extras")?;
    }
    if !c.next("hedgeType")?.is_empty() {
        c.skip(1, "hedgeParam")?;
    }
    c.skip(4, "optOutSmartRouting..notHeld")?;
    if c.flag("deltaNeutralContractPresent")? {
        c.skip(3, "deltaNeutralContract")?;
    }
    if !c.next("algoStrategy")?.is_empty() {
        let n = c.count("algoParamsCount", 2)?;
        c.skip(n.saturating_mul(2), "algoParams")?;
    }
    c.skip(2, "solicited/whatIf")?;
    let status = c.text("status")?;
    Ok(OpenOrder {
        order: Order { order_id, contract, action, total_quantity, order_type, lmt_price, aux_price, tif, account, order_ref, outside_rth },
        client_id,
        perm_id,
        status,
    })
}

fn exec_details(c: &mut Cursor<'_>) -> Result<ExecDetails, DecodeError> {
    let req_id = c.int("reqId")?;
    let order_id = c.int("orderId")?;
    let contract = c.contract_without_primary()?;
    let exec_id = c.text("execId")?;
    if exec_id.is_empty() {
        return Err(c.err(c.at.saturating_sub(1), "execId", "empty"));
    }
    Ok(ExecDetails {
        req_id,
        order_id,
        contract,
        exec_id,
        time: c.text("time")?,
        account: c.text("acctNumber")?,
        exchange: c.text("exchange")?,
        side: c.text("side")?,
        shares: c.required_dec("shares")?,
        price: c.required_dec("price")?,
        perm_id: c.int("permId")?,
        client_id: c.int("clientId")?,
        cum_qty: {
            c.skip(1, "liquidation")?;
            c.dec("cumQty")?
        },
        avg_price: c.dec("avgPrice")?,
        order_ref: c.text("orderRef")?,
    })
}

fn contract_data(c: &mut Cursor<'_>) -> Result<ContractDetails, DecodeError> {
    let req_id = c.int("reqId")?;
    let symbol = c.text("symbol")?;
    let sec_type = c.text("secType")?;
    c.skip(3, "lastTradeDate/strike/right")?;
    let exchange = c.text("exchange")?;
    let currency = c.text("currency")?;
    let local_symbol = c.text("localSymbol")?;
    c.skip(2, "marketName/tradingClass")?;
    let con_id = c.int("conId")?;
    let min_tick = c.opt_dec("minTick")?;
    c.skip(5, "multiplier..underConId")?;
    let long_name = c.text("longName")?;
    let primary_exchange = c.text("primaryExchange")?;
    c.skip(4, "contractMonth..subcategory")?;
    let time_zone_id = c.text("timeZoneId")?;
    c.skip(1, "tradingHours")?;
    let liquid_hours = c.text("liquidHours")?;
    Ok(ContractDetails {
        req_id,
        contract: Contract { con_id, symbol, sec_type, exchange, primary_exchange: primary_exchange.clone(), currency, local_symbol },
        min_tick,
        long_name,
        primary_exchange,
        time_zone_id,
        liquid_hours,
    })
}
