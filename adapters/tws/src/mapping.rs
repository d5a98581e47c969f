//! IB's vocabulary ↔ the gateway's domain, in one place: contracts for symbols, orders, order
//! states, error codes, executions, positions, instruments, bars and account values.

use crate::proto::decode::{ContractDetails, ExecDetails, HistoricalBar, OpenOrder};
use crate::proto::encode::{Contract, Order};
use crate::settings::{ContractOverride, Settings};
use chrono::{NaiveDate, NaiveTime, TimeZone};
use rust_decimal::Decimal;
use txtrader_plugin_api::model::{
    AccountId, Bar, BarInterval, BrokerOrderId, CancelResume, ClientOrderId, Commission, Execution, ExecutionId, Instrument, Money,
    OrderOrigin,
    OrderRequest, OrderStatus, OrderType, Price, Quantity, SessionHours, Side, Symbol, TimeInForce, UnixNanos,
};

/// The contract a gateway symbol trades as.
pub fn contract(settings: &Settings, symbol: &Symbol, primary_exchange: Option<&str>) -> Contract {
    let mut c = Contract {
        symbol: symbol.as_str().to_owned(),
        sec_type: settings.sec_type.clone(),
        exchange: settings.exchange.clone(),
        primary_exchange: primary_exchange.unwrap_or_default().to_owned(),
        currency: settings.currency.clone(),
        ..Contract::default()
    };
    match settings.contracts.get(symbol.as_str()) {
        Some(ContractOverride::Symbol(s)) => c.symbol.clone_from(s),
        Some(ContractOverride::ConId(id)) => {
            c = Contract { con_id: *id, exchange: settings.exchange.clone(), ..Contract::default() };
        }
        None => {}
    }
    c
}

/// The gateway symbol of an IB contract.
pub fn symbol_of(settings: &Settings, c: &Contract) -> Option<Symbol> {
    let mapped = settings.contracts.iter().find_map(|(ours, theirs)| match theirs {
        ContractOverride::Symbol(s) if *s == c.symbol => Some(ours.clone()),
        ContractOverride::ConId(id) if *id == c.con_id && c.con_id != 0 => Some(ours.clone()),
        _ => None,
    });
    Symbol::new(mapped.unwrap_or_else(|| c.symbol.replace(' ', "."))).ok()
}

/// The placeOrder for a gateway order.
pub fn order(settings: &Settings, order_id: i64, r: &OrderRequest) -> Order {
    let (order_type, lmt, aux) = match &r.order_type {
        OrderType::Market => ("MKT", None, None),
        OrderType::Limit { limit_price } => ("LMT", Some(limit_price.as_decimal()), None),
        OrderType::Stop { stop_price } => ("STP", None, Some(stop_price.as_decimal())),
        OrderType::StopLimit { stop_price, limit_price } => ("STP LMT", Some(limit_price.as_decimal()), Some(stop_price.as_decimal())),
    };
    Order {
        order_id,
        contract: contract(settings, &r.symbol, r.exchange.as_deref()),
        action: match r.side {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
        .into(),
        total_quantity: r.quantity.as_decimal(),
        order_type: order_type.into(),
        lmt_price: lmt,
        aux_price: aux,
        tif: match r.time_in_force {
            TimeInForce::Day => "DAY",
            TimeInForce::Gtc => "GTC",
            TimeInForce::Ioc => "IOC",
        }
        .into(),
        account: r.account.as_str().to_owned(),
        order_ref: r.client_order_id.as_str().to_owned(),
        outside_rth: false,
    }
}

/// Where IB says an order stands: its order-status strings (orderStatus, openOrder), read in
/// this one place for live updates and snapshots alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IbState {
    /// `PendingSubmit`, `ApiPending`: sent, not yet at the venue.
    Pending,
    /// `PreSubmitted`, `Submitted`: working (a stop not yet triggered is PreSubmitted).
    Working,
    /// `PendingCancel`: a cancel was asked for.
    PendingCancel,
    /// `Cancelled`, `ApiCancelled`.
    Cancelled,
    /// `Filled`.
    Filled,
    /// `Inactive`: refused or not working (the reason comes as an error before it).
    Inactive,
    /// A string this adapter does not know: treated as working in snapshots, ignored live.
    Other,
}

/// An IB order-status string.
pub fn ib_state(ib: &str) -> IbState {
    match ib {
        "PendingSubmit" | "ApiPending" => IbState::Pending,
        "PreSubmitted" | "Submitted" => IbState::Working,
        "PendingCancel" => IbState::PendingCancel,
        "Cancelled" | "ApiCancelled" => IbState::Cancelled,
        "Filled" => IbState::Filled,
        "Inactive" => IbState::Inactive,
        _ => IbState::Other,
    }
}

/// An IB order status as the gateway's, given what has filled.
pub fn status(ib: &str, filled: Decimal) -> OrderStatus {
    let working = if filled > Decimal::ZERO { OrderStatus::PartiallyFilled } else { OrderStatus::Working };
    match ib_state(ib) {
        IbState::Pending => OrderStatus::Submitted,
        IbState::PendingCancel => OrderStatus::PendingCancel { resume: CancelResume::of(working).unwrap_or(CancelResume::Working) },
        IbState::Cancelled => OrderStatus::Cancelled,
        IbState::Filled => OrderStatus::Filled,
        IbState::Inactive => OrderStatus::Rejected,
        IbState::Working | IbState::Other => working,
    }
}

/// What an IB error code means to the adapter (codes from IB's message-codes list, as TWS
/// reports them in `error` messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IbError {
    /// 2100–2199, 10167: connection-wide notices (data farm status, delayed data): logged only.
    Notice,
    /// 200: no security definition for the contract.
    NoSecurity,
    /// 202: an order was cancelled (the message may carry the reason).
    OrderCancelled,
    /// 10147, 10148: a cancel was refused (order not found, or not cancellable in its state).
    CancelRefused,
    /// 399: a warning about an order, which goes on.
    OrderWarning,
    /// 103, 104, 105, 110, 201: the order is rejected, even after TWS acknowledged it.
    OrderRejected,
    /// 1100: TWS lost its connection to IB (orders wait).
    ConnectivityLost,
    /// 1101: connectivity restored, market data lost: subscribe again.
    ConnectivityRestoredDataLost,
    /// 1102: connectivity restored, data kept.
    ConnectivityRestored,
    /// 1300 (socket port reset), 326 (client id in use): this session is over.
    SessionEnded,
    /// Anything else: about the request or order it names, else an alert.
    Other,
}

/// Classifies an IB error code.
pub fn ib_error(code: i64) -> IbError {
    match code {
        2100..=2199 | 10167 => IbError::Notice,
        200 => IbError::NoSecurity,
        202 => IbError::OrderCancelled,
        10147 | 10148 => IbError::CancelRefused,
        399 => IbError::OrderWarning,
        103 | 104 | 105 | 110 | 201 => IbError::OrderRejected,
        1100 => IbError::ConnectivityLost,
        1101 => IbError::ConnectivityRestoredDataLost,
        1102 => IbError::ConnectivityRestored,
        1300 | 326 => IbError::SessionEnded,
        _ => IbError::Other,
    }
}

/// The broker id of an order: IB's permanent id, account-wide and stable across sessions.
pub fn broker_id(perm_id: i64) -> Option<BrokerOrderId> {
    (perm_id > 0).then(|| BrokerOrderId::new(perm_id.to_string()).ok()).flatten()
}

/// The gateway's view of an order TWS reports (placed by anyone): the request it amounts to.
pub fn request_of(settings: &Settings, open: &OpenOrder, ours: bool) -> Option<OrderRequest> {
    let o = &open.order;
    let symbol = symbol_of(settings, &o.contract)?;
    let quantity = Quantity::new(o.total_quantity).ok()?;
    let order_type = match (o.order_type.as_str(), o.lmt_price, o.aux_price) {
        ("MKT", _, _) => OrderType::Market,
        ("LMT", Some(l), _) => OrderType::Limit { limit_price: Price::new(l) },
        ("STP", _, Some(s)) => OrderType::Stop { stop_price: Price::new(s) },
        ("STP LMT", Some(l), Some(s)) => OrderType::StopLimit { stop_price: Price::new(s), limit_price: Price::new(l) },
        _ => OrderType::Market,
    };
    let client_order_id = if ours && !o.order_ref.is_empty() {
        ClientOrderId::new(o.order_ref.clone()).ok()?
    } else {
        ClientOrderId::new(format!("ib-{}", open.perm_id)).ok()?
    };
    Some(OrderRequest {
        client_order_id,
        account: AccountId::new(o.account.clone()).ok()?,
        symbol,
        side: if o.action == "SELL" || o.action == "SSHORT" { Side::Sell } else { Side::Buy },
        quantity,
        order_type,
        time_in_force: match o.tif.as_str() {
            "GTC" => TimeInForce::Gtc,
            "IOC" => TimeInForce::Ioc,
            _ => TimeInForce::Day,
        },
        route: None,
        exchange: None,
        staged_tag: None,
        origin: if ours { OrderOrigin::Client } else { OrderOrigin::Broker },
        user: None,
    })
}

/// An execution as the gateway books it.
pub fn execution(
    settings: &Settings,
    x: &ExecDetails,
    client: Option<ClientOrderId>,
    total: Option<Decimal>,
    commission: Option<Commission>,
) -> Option<Execution> {
    let quantity = Quantity::new(x.shares).ok()?;
    let cum = Quantity::new(x.cum_qty.max(x.shares)).ok()?;
    Some(Execution {
        exec_id: ExecutionId::new(x.exec_id.clone()).ok()?,
        client_order_id: client,
        broker_order_id: broker_id(x.perm_id)?,
        account: AccountId::new(x.account.clone()).ok()?,
        symbol: symbol_of(settings, &x.contract)?,
        side: if x.side == "SLD" { Side::Sell } else { Side::Buy },
        quantity,
        price: Price::new(x.price),
        cum_quantity: cum,
        leaves_quantity: total.and_then(|t| Quantity::new((t - cum.as_decimal()).max(Decimal::ZERO)).ok()).unwrap_or(Quantity::ZERO),
        avg_price: Price::new(if x.avg_price.is_zero() { x.price } else { x.avg_price }),
        venue_fill_id: (!x.exchange.is_empty()).then(|| x.exchange.clone()),
        ts_event: UnixNanos::now(),
        commission,
    })
}

/// The part of an IB execution id that a correction keeps: `0000e0d5.6576a1b1.01.01` is
/// corrected by `0000e0d5.6576a1b1.01.02` (same prefix, the revision after the last dot).
pub fn exec_prefix(exec_id: &str) -> &str {
    match exec_id.rsplit_once('.') {
        Some((prefix, revision)) if exec_id.matches('.').count() >= 3 && revision.bytes().all(|b| b.is_ascii_digit()) => prefix,
        _ => exec_id,
    }
}

/// A commission report's charge, when it carries one.
pub fn commission(amount: Option<Decimal>, currency: &str) -> Option<Commission> {
    Some(Commission { amount: Money::new(amount?), currency: currency.to_owned() })
}

/// Instrument facts from contract details.
pub fn instrument(symbol: &Symbol, d: &ContractDetails) -> Instrument {
    // liquidHours: "20250102:0930-20250102:1600;20250103:0930-…" (or "CLOSED" days)
    let hours = d.liquid_hours.split(';').find_map(|day| {
        let (from, to) = day.split_once('-')?;
        let t = |s: &str| NaiveTime::parse_from_str(s.split(':').nth(1)?, "%H%M").ok();
        Some((t(from)?, t(to)?))
    });
    let (start, stop) = hours.unwrap_or((NaiveTime::from_hms_opt(9, 30, 0).unwrap_or_default(), NaiveTime::from_hms_opt(16, 0, 0).unwrap_or_default()));
    Instrument {
        symbol: symbol.clone(),
        name: if d.long_name.is_empty() { symbol.as_str().to_owned() } else { d.long_name.clone() },
        cusip: None,
        exchange: (!d.primary_exchange.is_empty()).then(|| d.primary_exchange.clone()),
        currency: d.contract.currency.clone(),
        session: SessionHours {
            start,
            stop,
            timezone: if d.time_zone_id.is_empty() { "America/New_York".into() } else { d.time_zone_id.clone() },
        },
    }
}

/// reqHistoricalData's bar size for a gateway interval.
pub fn bar_size(interval: BarInterval) -> Option<&'static str> {
    Some(match interval {
        BarInterval::Minutes(1) => "1 min",
        BarInterval::Minutes(2) => "2 mins",
        BarInterval::Minutes(3) => "3 mins",
        BarInterval::Minutes(5) => "5 mins",
        BarInterval::Minutes(10) => "10 mins",
        BarInterval::Minutes(15) => "15 mins",
        BarInterval::Minutes(20) => "20 mins",
        BarInterval::Minutes(30) => "30 mins",
        BarInterval::Minutes(60) => "1 hour",
        BarInterval::Day => "1 day",
        BarInterval::Week => "1 week",
        BarInterval::Month => "1 month",
        BarInterval::Minutes(_) => return None,
    })
}

/// reqHistoricalData's duration covering `[start, end]`.
pub fn duration(start: UnixNanos, end: UnixNanos, interval: BarInterval) -> String {
    let width = match interval {
        BarInterval::Minutes(n) => u64::from(n) * 60,
        BarInterval::Day => 86_400,
        BarInterval::Week => 7 * 86_400,
        BarInterval::Month => 31 * 86_400,
    };
    let secs = end.as_secs().saturating_sub(start.as_secs()) + width;
    if secs <= 86_400 {
        format!("{} S", secs.max(60))
    } else if secs <= 365 * 86_400 {
        format!("{} D", secs.div_ceil(86_400))
    } else {
        format!("{} Y", secs.div_ceil(365 * 86_400))
    }
}

/// reqHistoricalData's end time (UTC form).
pub fn end_time(end: UnixNanos) -> String {
    end.to_datetime().format("%Y%m%d-%H:%M:%S").to_string()
}

/// A historical bar as the gateway's: dates of daily bars are midnight in the feed time zone,
/// intraday bars come as epoch seconds (formatDate 2).
pub fn bar(symbol: &Symbol, interval: BarInterval, b: &HistoricalBar, tz: chrono_tz::Tz) -> Option<Bar> {
    let start = if b.date.len() == 8 && b.date.bytes().all(|c| c.is_ascii_digit()) {
        let day = NaiveDate::parse_from_str(&b.date, "%Y%m%d").ok()?;
        let local = tz.from_local_datetime(&day.and_hms_opt(0, 0, 0)?).earliest()?;
        UnixNanos(u64::try_from(local.timestamp()).ok()?.checked_mul(1_000_000_000)?)
    } else {
        let secs: u64 = b.date.split_whitespace().next()?.parse().ok()?;
        UnixNanos(secs.checked_mul(1_000_000_000)?)
    };
    Some(Bar {
        symbol: symbol.clone(),
        interval,
        start,
        open: Price::new(b.open),
        high: Price::new(b.high),
        low: Price::new(b.low),
        close: Price::new(b.close),
        volume: Quantity::new(b.volume.unwrap_or_default().max(Decimal::ZERO)).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn durations_and_bar_sizes_are_what_ib_accepts() {
        let s = |secs: u64| UnixNanos(secs * 1_000_000_000);
        assert_eq!(duration(s(0), s(600), BarInterval::Minutes(1)), "660 S");
        assert_eq!(duration(s(0), s(3 * 86_400), BarInterval::Day), "4 D");
        assert_eq!(bar_size(BarInterval::Minutes(5)), Some("5 mins"));
        assert_eq!(bar_size(BarInterval::Minutes(7)), None);
        assert_eq!(end_time(s(1_735_830_000)), "20250102-15:00:00");
    }

    #[test]
    fn a_correction_shares_its_executions_prefix() {
        assert_eq!(exec_prefix("0000e0d5.6576a1b1.01.02"), "0000e0d5.6576a1b1.01");
        assert_eq!(exec_prefix("0000e0d5.6576a1b1.01.01"), exec_prefix("0000e0d5.6576a1b1.01.02"));
        assert_eq!(exec_prefix("SIM-12"), "SIM-12");
        assert_eq!(exec_prefix("a.b"), "a.b", "not IB's form: the whole id");
    }

    #[test]
    fn statuses_map_onto_the_gateway_state_machine() {
        assert_eq!(status("PreSubmitted", dec!(0)), OrderStatus::Working);
        assert_eq!(status("Submitted", dec!(5)), OrderStatus::PartiallyFilled);
        assert_eq!(status("Inactive", dec!(0)), OrderStatus::Rejected);
        assert_eq!(status("ApiCancelled", dec!(0)), OrderStatus::Cancelled);
        assert_eq!(status("PendingSubmit", dec!(0)), OrderStatus::Submitted);
        assert_eq!(status("PendingCancel", dec!(0)), OrderStatus::PendingCancel { resume: CancelResume::Working });
        assert_eq!(status("PendingCancel", dec!(3)), OrderStatus::PendingCancel { resume: CancelResume::PartiallyFilled });
        assert_eq!(status("SomethingNew", dec!(0)), OrderStatus::Working, "an unknown state reads as working");
        assert_eq!(ib_state("ApiPending"), IbState::Pending);
        assert_eq!(ib_state("Filled"), IbState::Filled);
        assert_eq!(ib_state("SomethingNew"), IbState::Other);
    }

    #[test]
    fn error_codes_are_classified() {
        for notice in [2104, 2106, 2158, 2100, 2199, 10167] {
            assert_eq!(ib_error(notice), IbError::Notice, "{notice}");
        }
        assert_eq!(ib_error(200), IbError::NoSecurity);
        assert_eq!(ib_error(202), IbError::OrderCancelled);
        assert_eq!((ib_error(10147), ib_error(10148)), (IbError::CancelRefused, IbError::CancelRefused));
        assert_eq!(ib_error(399), IbError::OrderWarning);
        for rejected in [103, 104, 105, 110, 201] {
            assert_eq!(ib_error(rejected), IbError::OrderRejected, "{rejected}");
        }
        assert_eq!(ib_error(1100), IbError::ConnectivityLost);
        assert_eq!(ib_error(1101), IbError::ConnectivityRestoredDataLost);
        assert_eq!(ib_error(1102), IbError::ConnectivityRestored);
        assert_eq!((ib_error(1300), ib_error(326)), (IbError::SessionEnded, IbError::SessionEnded));
        for other in [162, 354, 2200, 2099, 0, -1] {
            assert_eq!(ib_error(other), IbError::Other, "{other}");
        }
    }

    #[test]
    fn daily_bars_start_at_midnight_in_the_feed_time_zone() {
        let b = HistoricalBar { date: "20240102".into(), open: dec!(1), high: dec!(2), low: dec!(0.5), close: dec!(1.5), volume: Some(dec!(100)) };
        let sym = Symbol::new("AAPL").expect("sym");
        let bar = super::bar(&sym, BarInterval::Day, &b, chrono_tz::America::New_York).expect("bar");
        assert_eq!(bar.start.to_datetime().to_rfc3339(), "2024-01-02T05:00:00+00:00");
    }
}
