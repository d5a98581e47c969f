//! Instruments and market data: what a symbol is, and what the market says about it.

use super::{Price, Quantity, Symbol, UnixNanos};
use chrono::NaiveTime;
use serde::{Deserialize, Serialize};

/// The regular trading session of an instrument, in the exchange's time zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionHours {
    /// Session open, exchange-local.
    pub start: NaiveTime,
    /// Session close, exchange-local.
    pub stop: NaiveTime,
    /// IANA time zone of the exchange, e.g. `America/New_York`.
    pub timezone: String,
}

/// Static facts about a tradable symbol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instrument {
    /// The symbol.
    pub symbol: Symbol,
    /// Issuer or product name.
    pub name: String,
    /// CUSIP or a CUSIP-like security identifier, when the broker has one.
    #[serde(default)]
    pub cusip: Option<String>,
    /// Primary listing exchange, when known.
    #[serde(default)]
    pub exchange: Option<String>,
    /// Trading currency (ISO 4217).
    pub currency: String,
    /// Regular session hours.
    pub session: SessionHours,
}

/// The best bid and offer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    /// The symbol.
    pub symbol: Symbol,
    /// Best bid, if any.
    pub bid: Option<Price>,
    /// Size at the best bid.
    pub bid_size: Quantity,
    /// Best offer, if any.
    pub ask: Option<Price>,
    /// Size at the best offer.
    pub ask_size: Quantity,
    /// When the quote was taken at the source.
    pub ts_event: UnixNanos,
}

/// One trade printed on the tape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    /// The symbol.
    pub symbol: Symbol,
    /// Trade price.
    pub price: Price,
    /// Trade size.
    pub size: Quantity,
    /// When it traded.
    pub ts_event: UnixNanos,
}

/// Running statistics of the current trading day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStats {
    /// The symbol.
    pub symbol: Symbol,
    /// First trade of the day.
    pub open: Option<Price>,
    /// Highest trade of the day.
    pub high: Option<Price>,
    /// Lowest trade of the day.
    pub low: Option<Price>,
    /// Previous session's closing price.
    pub prev_close: Option<Price>,
    /// Volume-weighted average price of the day.
    pub vwap: Option<Price>,
    /// Accumulated day volume.
    pub volume: Quantity,
    /// As of when.
    pub ts_event: UnixNanos,
}

/// The width of a bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "unit", content = "n", rename_all = "snake_case")]
pub enum BarInterval {
    /// Intraday bars of N minutes (N ≥ 1).
    Minutes(u32),
    /// One bar per trading day.
    Day,
    /// One bar per week.
    Week,
    /// One bar per calendar month.
    Month,
}

/// An OHLCV bar.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bar {
    /// The symbol.
    pub symbol: Symbol,
    /// Bar width.
    pub interval: BarInterval,
    /// Start of the bar. Daily and longer bars start at the session open of their first day.
    pub start: UnixNanos,
    /// Open.
    pub open: Price,
    /// High.
    pub high: Price,
    /// Low.
    pub low: Price,
    /// Close.
    pub close: Price,
    /// Volume traded in the bar.
    pub volume: Quantity,
}
