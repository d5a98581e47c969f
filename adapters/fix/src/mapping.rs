//! FIX's vocabulary and the gateway's domain, converted in one place: orders into
//! NewOrderSingle / OrderCancelRequest / OrderStatusRequest fields, and ExecutionReports of
//! both dialects (4.2's ExecType 1/2 and ExecTransType, 4.4's ExecType F and I) into one
//! [`Report`]. Prices and quantities are parsed from their decimal text; nothing goes through
//! a float.

use crate::proto::tags;
use crate::proto::Message;
use std::str::FromStr;
use txtrader_plugin_api::model::{OrderType, Price, Quantity, Side, TimeInForce};

/// The dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// FIX 4.2.
    Fix42,
    /// FIX 4.4.
    Fix44,
}

impl Dialect {
    /// The dialect of a BeginString, if supported.
    pub fn of(begin_string: &str) -> Option<Self> {
        match begin_string {
            "FIX.4.2" => Some(Self::Fix42),
            "FIX.4.4" => Some(Self::Fix44),
            _ => None,
        }
    }
}

/// What an ExecutionReport says happened, in both dialects' terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecKind {
    /// 150=A.
    PendingNew,
    /// 150=0.
    New,
    /// A fill: 4.2's 150=1/2, 4.4's 150=F.
    Trade,
    /// 150=4.
    Canceled,
    /// 150=5.
    Replaced,
    /// 150=6.
    PendingCancel,
    /// 150=E.
    PendingReplace,
    /// 150=8.
    Rejected,
    /// 150=C.
    Expired,
    /// An answer to OrderStatusRequest: 4.2's 20=3, 4.4's 150=I.
    Status,
    /// Anything else (done for day, restated, trade corrections…): its ExecType.
    Other(String),
}

/// An ExecutionReport, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// What happened.
    pub kind: ExecKind,
    /// ClOrdID (11).
    pub cl_ord_id: Option<String>,
    /// OrigClOrdID (41).
    pub orig_cl_ord_id: Option<String>,
    /// OrderID (37).
    pub order_id: Option<String>,
    /// ExecID (17).
    pub exec_id: String,
    /// OrdStatus (39).
    pub ord_status: String,
    /// This fill: LastQty / LastShares (32).
    pub last_qty: Option<Quantity>,
    /// This fill's price (31).
    pub last_px: Option<Price>,
    /// CumQty (14).
    pub cum_qty: Option<Quantity>,
    /// AvgPx (6).
    pub avg_px: Option<Price>,
    /// OrderQty (38).
    pub order_qty: Option<Quantity>,
    /// Price (44).
    pub price: Option<Price>,
    /// Text (58), or the OrdRejReason's meaning.
    pub text: Option<String>,
}

/// Why a report cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("ExecutionReport: {0}")]
pub struct ReportError(pub String);

fn quantity(m: &Message, tag: u32) -> Result<Option<Quantity>, ReportError> {
    m.text(tag).map(|v| rust_decimal::Decimal::from_str(v.trim()).ok().and_then(|d| Quantity::new(d).ok()).ok_or_else(|| ReportError(format!("tag {tag}={v:?} is not a quantity")))).transpose()
}

fn price(m: &Message, tag: u32) -> Result<Option<Price>, ReportError> {
    m.text(tag).map(|v| Price::from_str(v).map_err(|_| ReportError(format!("tag {tag}={v:?} is not a price")))).transpose()
}

/// Decodes an ExecutionReport of either dialect.
///
/// # Errors
/// [`ReportError`] when ExecType is missing or a number does not read.
pub fn execution_report(m: &Message, dialect: Dialect) -> Result<Report, ReportError> {
    let exec_type = m.text(tags::EXEC_TYPE).ok_or_else(|| ReportError("no ExecType (150)".into()))?;
    let status_reply = match dialect {
        Dialect::Fix42 => m.get(tags::EXEC_TRANS_TYPE) == Some("3"),
        Dialect::Fix44 => exec_type == "I",
    };
    let kind = if status_reply {
        ExecKind::Status
    } else {
        match (dialect, exec_type) {
            (_, "A") => ExecKind::PendingNew,
            (_, "0") => ExecKind::New,
            (Dialect::Fix42, "1" | "2") | (Dialect::Fix44, "F") => ExecKind::Trade,
            (_, "4") => ExecKind::Canceled,
            (_, "5") => ExecKind::Replaced,
            (_, "6") => ExecKind::PendingCancel,
            (_, "E") => ExecKind::PendingReplace,
            (_, "8") => ExecKind::Rejected,
            (_, "C") => ExecKind::Expired,
            (_, other) => ExecKind::Other(other.to_owned()),
        }
    };
    let text = m.text(tags::TEXT).map(str::to_owned).or_else(|| m.text(tags::ORD_REJ_REASON).map(|r| ord_rej_reason(r).to_owned()));
    Ok(Report {
        kind,
        cl_ord_id: m.text(tags::CL_ORD_ID).map(str::to_owned),
        orig_cl_ord_id: m.text(tags::ORIG_CL_ORD_ID).map(str::to_owned),
        order_id: m.text(tags::ORDER_ID).filter(|v| *v != "NONE").map(str::to_owned),
        exec_id: m.text(tags::EXEC_ID).unwrap_or_default().to_owned(),
        ord_status: m.get(tags::ORD_STATUS).unwrap_or_default().to_owned(),
        last_qty: quantity(m, tags::LAST_QTY)?,
        last_px: price(m, tags::LAST_PX)?,
        cum_qty: quantity(m, tags::CUM_QTY)?,
        avg_px: price(m, tags::AVG_PX)?,
        order_qty: quantity(m, tags::ORDER_QTY)?,
        price: price(m, tags::PRICE)?,
        text,
    })
}

/// OrdRejReason (103) in words.
pub fn ord_rej_reason(code: &str) -> &'static str {
    match code {
        "0" => "broker option",
        "1" => "unknown symbol",
        "2" => "exchange closed",
        "3" => "order exceeds limit",
        "4" => "too late to enter",
        "5" => "unknown order",
        "6" => "duplicate order",
        "13" => "incorrect quantity",
        _ => "rejected",
    }
}

/// CxlRejReason (102) in words.
pub fn cxl_rej_reason(code: &str) -> &'static str {
    match code {
        "0" => "too late to cancel",
        "1" => "unknown order",
        "2" => "broker option",
        "3" => "already pending cancel or replace",
        "6" => "duplicate ClOrdID",
        _ => "cancel rejected",
    }
}

/// BusinessRejectReason (380) in words.
pub fn business_reject_reason(code: &str) -> &'static str {
    match code {
        "0" => "other",
        "1" => "unknown id",
        "2" => "unknown security",
        "3" => "unsupported message type",
        "4" => "application not available",
        "5" => "conditionally required field missing",
        "6" => "not authorized",
        _ => "business reject",
    }
}

fn side(s: Side) -> &'static str {
    match s {
        Side::Buy => "1",
        Side::Sell => "2",
    }
}

fn tif(t: TimeInForce) -> &'static str {
    match t {
        TimeInForce::Day => "0",
        TimeInForce::Gtc => "1",
        TimeInForce::Ioc => "3",
    }
}

/// What an order message names: the instrument, side and quantity (every D, F, G and H
/// carries them), and the account when the route has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderTerms<'a> {
    /// Account (1), if sent.
    pub account: Option<&'a str>,
    /// Symbol (55).
    pub symbol: &'a str,
    /// Side (54).
    pub side: Side,
    /// OrderQty (38).
    pub quantity: Quantity,
    /// OrdType, Price and StopPx.
    pub order_type: OrderType,
    /// TimeInForce (59).
    pub time_in_force: TimeInForce,
}

/// NewOrderSingle's body.
pub fn new_order_single(cl_ord_id: &str, terms: &OrderTerms<'_>, transact_time: &str) -> Vec<(u32, String)> {
    let mut body = vec![(tags::CL_ORD_ID, cl_ord_id.to_owned())];
    if let Some(account) = terms.account {
        body.push((tags::ACCOUNT, account.to_owned()));
    }
    body.extend([
        (tags::HANDL_INST, "1".to_owned()),
        (tags::SYMBOL, terms.symbol.to_owned()),
        (tags::SIDE, side(terms.side).to_owned()),
        (tags::TRANSACT_TIME, transact_time.to_owned()),
        (tags::ORDER_QTY, terms.quantity.to_string()),
    ]);
    let (ord_type, limit, stop) = match terms.order_type {
        OrderType::Market => ("1", None, None),
        OrderType::Limit { limit_price } => ("2", Some(limit_price), None),
        OrderType::Stop { stop_price } => ("3", None, Some(stop_price)),
        OrderType::StopLimit { stop_price, limit_price } => ("4", Some(limit_price), Some(stop_price)),
    };
    body.push((tags::ORD_TYPE, ord_type.to_owned()));
    if let Some(p) = limit {
        body.push((tags::PRICE, p.to_string()));
    }
    if let Some(p) = stop {
        body.push((tags::STOP_PX, p.to_string()));
    }
    body.push((tags::TIME_IN_FORCE, tif(terms.time_in_force).to_owned()));
    body
}

/// OrderCancelRequest's body: cancels the order known by `orig` (its latest ClOrdID).
pub fn cancel_request(cl_ord_id: &str, orig: &str, order_id: Option<&str>, terms: &OrderTerms<'_>, transact_time: &str) -> Vec<(u32, String)> {
    let mut body = vec![(tags::ORIG_CL_ORD_ID, orig.to_owned()), (tags::CL_ORD_ID, cl_ord_id.to_owned())];
    if let Some(id) = order_id {
        body.push((tags::ORDER_ID, id.to_owned()));
    }
    if let Some(account) = terms.account {
        body.push((tags::ACCOUNT, account.to_owned()));
    }
    body.extend([
        (tags::SYMBOL, terms.symbol.to_owned()),
        (tags::SIDE, side(terms.side).to_owned()),
        (tags::TRANSACT_TIME, transact_time.to_owned()),
        (tags::ORDER_QTY, terms.quantity.to_string()),
    ]);
    body
}

/// OrderCancelReplaceRequest's body: the order known by `orig` (its latest ClOrdID) on new
/// terms (quantity and prices in `terms`).
pub fn replace_request(cl_ord_id: &str, orig: &str, order_id: Option<&str>, terms: &OrderTerms<'_>, transact_time: &str) -> Vec<(u32, String)> {
    let mut body = vec![(tags::ORIG_CL_ORD_ID, orig.to_owned())];
    if let Some(id) = order_id {
        body.push((tags::ORDER_ID, id.to_owned()));
    }
    // the rest is a NewOrderSingle's body under the new ClOrdID
    body.extend(new_order_single(cl_ord_id, terms, transact_time));
    body
}

/// The pricing an order message (D or G) asks for.
pub fn order_type_of(m: &Message) -> Option<OrderType> {
    let px = |tag| m.text(tag).and_then(|v| Price::from_str(v).ok());
    match m.get(tags::ORD_TYPE)? {
        "1" => Some(OrderType::Market),
        "2" => Some(OrderType::Limit { limit_price: px(tags::PRICE)? }),
        "3" => Some(OrderType::Stop { stop_price: px(tags::STOP_PX)? }),
        "4" => Some(OrderType::StopLimit { stop_price: px(tags::STOP_PX)?, limit_price: px(tags::PRICE)? }),
        _ => None,
    }
}

/// The quantity an order message asks for.
pub fn order_qty_of(m: &Message) -> Option<Quantity> {
    m.text(tags::ORDER_QTY).and_then(|v| rust_decimal::Decimal::from_str(v.trim()).ok()).and_then(|d| Quantity::new(d).ok())
}

/// OrderStatusRequest's body.
pub fn status_request(cl_ord_id: &str, order_id: Option<&str>, terms: &OrderTerms<'_>) -> Vec<(u32, String)> {
    let mut body = vec![(tags::CL_ORD_ID, cl_ord_id.to_owned())];
    if let Some(id) = order_id {
        body.push((tags::ORDER_ID, id.to_owned()));
    }
    body.extend([(tags::SYMBOL, terms.symbol.to_owned()), (tags::SIDE, side(terms.side).to_owned())]);
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn message(text: &str) -> Message {
        let fields = text.split('|').filter(|f| !f.is_empty()).map(|f| {
            let (t, v) = f.split_once('=').expect("tag=value");
            (t.parse().expect("tag"), v.to_owned())
        });
        Message::from_fields(fields.collect())
    }

    #[test]
    fn a_fill_reads_the_same_in_both_dialects() {
        let fix42 = message("8=FIX.4.2|9=1|35=8|37=7|11=A-1|17=9|20=0|150=2|39=2|55=IBM|54=1|38=100|32=100|31=189.3|151=0|14=100|6=189.3|");
        let fix44 = message("8=FIX.4.4|9=1|35=8|37=7|11=A-1|17=9|150=F|39=2|55=IBM|54=1|38=100|32=100|31=189.3|151=0|14=100|6=189.3|");
        let a = execution_report(&fix42, Dialect::Fix42).expect("4.2");
        let b = execution_report(&fix44, Dialect::Fix44).expect("4.4");
        assert_eq!(a, b);
        assert_eq!(a.kind, ExecKind::Trade);
        assert_eq!((a.last_qty, a.last_px), (Some(Quantity::from_u64(100)), Some(Price::new(dec!(189.30)))));
    }

    #[test]
    fn status_replies_and_partial_fills_of_each_dialect() {
        let m = message("8=FIX.4.2|9=1|35=8|20=3|150=1|39=1|17=x|");
        assert_eq!(execution_report(&m, Dialect::Fix42).expect("4.2").kind, ExecKind::Status);
        let m = message("8=FIX.4.2|9=1|35=8|20=0|150=1|39=1|17=x|");
        assert_eq!(execution_report(&m, Dialect::Fix42).expect("4.2").kind, ExecKind::Trade);
        let m = message("8=FIX.4.4|9=1|35=8|150=I|39=0|17=x|");
        assert_eq!(execution_report(&m, Dialect::Fix44).expect("4.4").kind, ExecKind::Status);
        let m = message("8=FIX.4.4|9=1|35=8|150=1|39=1|17=x|");
        assert_eq!(execution_report(&m, Dialect::Fix44).expect("4.4").kind, ExecKind::Other("1".into()), "4.4 has no ExecType 1");
    }

    #[test]
    fn a_reject_carries_its_text_or_its_reason_and_bad_numbers_are_refused() {
        let m = message("8=FIX.4.4|9=1|35=8|150=8|39=8|17=x|103=6|37=NONE|");
        let r = execution_report(&m, Dialect::Fix44).expect("reads");
        assert_eq!((r.text.as_deref(), r.order_id), (Some("duplicate order"), None));
        let m = message("8=FIX.4.4|9=1|35=8|150=F|39=2|17=x|32=abc|");
        assert!(execution_report(&m, Dialect::Fix44).is_err());
    }

    #[test]
    fn order_bodies_carry_the_required_fields() {
        let terms = OrderTerms {
            account: Some("ACC1"),
            symbol: "IBM",
            side: Side::Sell,
            quantity: Quantity::from_u64(100),
            order_type: OrderType::StopLimit { stop_price: Price::new(dec!(99.5)), limit_price: Price::new(dec!(99.25)) },
            time_in_force: TimeInForce::Gtc,
        };
        let d = new_order_single("T-1", &terms, "20261204-15:00:00.000");
        let tags_of = |b: &[(u32, String)]| b.iter().map(|(t, _)| *t).collect::<Vec<_>>();
        assert_eq!(tags_of(&d), vec![11, 1, 21, 55, 54, 60, 38, 40, 44, 99, 59]);
        assert_eq!(d.iter().find(|(t, _)| *t == 44).map(|(_, v)| v.as_str()), Some("99.25"));
        let f = cancel_request("T-2", "T-1", Some("X9"), &terms, "20261204-15:00:00.000");
        assert_eq!(tags_of(&f), vec![41, 11, 37, 1, 55, 54, 60, 38]);
        let g = replace_request("T-3", "T-1", None, &terms, "20261204-15:00:00.000");
        assert_eq!(tags_of(&g), vec![41, 11, 1, 21, 55, 54, 60, 38, 40, 44, 99, 59]);
        let m = Message::from_fields(g);
        assert_eq!((order_type_of(&m), order_qty_of(&m)), (Some(terms.order_type), Some(terms.quantity)));
    }
}
