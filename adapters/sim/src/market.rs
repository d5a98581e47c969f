//! The live market of one symbol: quotes that move every tick, trades on the tape, the day's
//! statistics and live one-minute bars.
//!
//! A market starts where the synthetic history says the price is at that moment (so a symbol
//! added at 2 pm has the day's open, range and volume so far), then random-walks in integer
//! cents. Fills of the exchange's own orders print on the tape like any other trade.

use crate::history::{is_trading_day, previous_trading_day, History, MinuteBar};
use crate::instrument::Listing;
use crate::rng::{normal_milli, stream};
use chrono::NaiveDate;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use txtrader_plugin_api::model::{
    Bar, BarInterval, Price, Quantity, Quote, SessionStats, Trade, UnixNanos,
};

/// What one tick of the market produced.
#[derive(Debug, Default)]
pub struct TickOutcome {
    /// The quote moved.
    pub quote_changed: bool,
    /// A trade printed.
    pub trade: Option<Trade>,
    /// Minute bars completed by this tick.
    pub bars: Vec<Bar>,
}

/// The live state of one symbol (serializable whole, random stream included, so a market
/// handed to a new adapter generation continues exactly where it stopped).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct LiveMarket {
    listing: Listing,
    rng: ChaCha8Rng,
    bid: i64,
    ask: i64,
    bid_size: u64,
    ask_size: u64,
    last: Option<(i64, u64, UnixNanos)>,
    quote_ts: UnixNanos,
    day: NaiveDate,
    open: Option<i64>,
    high: Option<i64>,
    low: Option<i64>,
    prev_close: i64,
    volume: u64,
    /// Σ price·size over the day, in cent-shares, for the VWAP.
    value: i128,
    /// Synthetic minute bars of today before the live market started.
    prefix: Vec<MinuteBar>,
    /// Live minute bars, keyed by session minute (negative before the open).
    bars: BTreeMap<i64, MinuteBar>,
    /// Bars up to (excluding) this session minute were reported complete.
    reported_until: i64,
    /// Whether clients subscribed to this symbol's data.
    pub subscribed: bool,
}

impl LiveMarket {
    /// Opens the market of `listing` at `now`, continuing the synthetic history.
    pub fn new(listing: Listing, history: &mut History, seed: u64, now: UnixNanos) -> Self {
        let day = history.local_date(now);
        let minute = history.session_minute(now);
        let session = i64::from(history.session_minutes());
        let rng = stream(seed, &[b"live", listing.symbol.as_str().as_bytes()]);
        let mut m = Self {
            rng,
            bid: listing.base_cents,
            ask: listing.base_cents + 1,
            bid_size: 100,
            ask_size: 100,
            last: None,
            quote_ts: now,
            day,
            open: None,
            high: None,
            low: None,
            prev_close: listing.base_cents,
            volume: 0,
            value: 0,
            prefix: Vec::new(),
            bars: BTreeMap::new(),
            reported_until: minute,
            subscribed: false,
            listing,
        };
        let price = if is_trading_day(day) {
            match history.day(&m.listing, day) {
                Some(path) => {
                    m.prev_close = path.prev_close;
                    let done = minute.clamp(0, session) as usize;
                    m.prefix = path.minutes[..done.min(path.minutes.len())].to_vec();
                    for b in &m.prefix {
                        m.open.get_or_insert(b.open);
                        m.high = Some(m.high.map_or(b.high, |h| h.max(b.high)));
                        m.low = Some(m.low.map_or(b.low, |l| l.min(b.low)));
                        m.volume += b.volume;
                        m.value += i128::from(b.close) * i128::from(b.volume);
                    }
                    match m.prefix.last() {
                        Some(b) => {
                            m.last = Some((b.close, 100, now));
                            b.close
                        }
                        None => path.minutes.first().map_or(path.prev_close, |b| b.open),
                    }
                }
                None => m.listing.base_cents,
            }
        } else {
            let prev = previous_trading_day(day);
            let close = history.day(&m.listing, prev).and_then(|p| p.minutes.last().map(|b| b.close));
            m.prev_close = close.unwrap_or(m.listing.base_cents);
            m.prev_close
        };
        m.bid = price;
        m.ask = price + 1;
        m.draw_sizes();
        m
    }

    /// Best bid in cents.
    pub fn bid_cents(&self) -> i64 {
        self.bid
    }

    /// Best offer in cents.
    pub fn ask_cents(&self) -> i64 {
        self.ask
    }

    /// Last trade price in cents, if any printed.
    pub fn last_cents(&self) -> Option<i64> {
        self.last.map(|(p, _, _)| p)
    }

    /// The mark price for valuing positions: the last trade, else the mid.
    pub fn mark(&self) -> Price {
        match self.last {
            Some((p, _, _)) => Price::from_cents(p),
            None => Price::new((Price::from_cents(self.bid).as_decimal() + Price::from_cents(self.ask).as_decimal()) / rust_decimal::Decimal::TWO),
        }
    }

    fn draw_sizes(&mut self) {
        self.bid_size = 100 * self.rng.random_range(1u64..=20);
        self.ask_size = 100 * self.rng.random_range(1u64..=20);
    }

    /// Advances the market by one tick. When `trading` is false (outside the session in strict
    /// mode) the quote stays where it is and nothing prints.
    pub fn tick(&mut self, history: &History, now: UnixNanos, trading: bool) -> TickOutcome {
        let mut out = TickOutcome::default();
        let day = history.local_date(now);
        if day != self.day {
            self.roll_day(day, now, history);
        }
        let minute = history.session_minute(now);
        // Report every live bar of a minute that is over.
        let done: Vec<i64> = self.bars.range(self.reported_until..minute).map(|(k, _)| *k).collect();
        for k in done {
            if let Some(b) = self.bars.get(&k) {
                out.bars.push(self.bar(history, k, b));
            }
        }
        self.reported_until = self.reported_until.max(minute);
        if !trading {
            return out;
        }
        let sigma = (self.bid / 8000).max(1);
        let step = sigma * normal_milli(&mut self.rng) / 1000;
        self.bid = (self.bid + step).max(100);
        let spread = 1 + self.rng.random_range(0..(self.bid / 5000).max(1));
        self.ask = self.bid + spread;
        self.draw_sizes();
        self.quote_ts = now;
        out.quote_changed = true;
        if self.rng.random_range(0..10) < 6 {
            let price = if self.rng.random_bool(0.5) { self.bid } else { self.ask };
            let size = 100 * self.rng.random_range(1u64..=5);
            out.trade = Some(self.print(history, price, size, now));
        }
        out
    }

    fn roll_day(&mut self, day: NaiveDate, now: UnixNanos, history: &History) {
        self.prev_close = self.last_cents().unwrap_or(self.bid);
        self.day = day;
        self.open = None;
        self.high = None;
        self.low = None;
        self.volume = 0;
        self.value = 0;
        self.prefix.clear();
        self.bars.clear();
        self.reported_until = history.session_minute(now);
    }

    /// Prints a trade on the tape (a market trade or one of the exchange's own fills).
    pub fn print(&mut self, history: &History, price: i64, size: u64, now: UnixNanos) -> Trade {
        self.last = Some((price, size, now));
        self.open.get_or_insert(price);
        self.high = Some(self.high.map_or(price, |h| h.max(price)));
        self.low = Some(self.low.map_or(price, |l| l.min(price)));
        self.volume += size;
        self.value += i128::from(price) * i128::from(size);
        let minute = history.session_minute(now);
        self.bars
            .entry(minute)
            .and_modify(|b| {
                b.high = b.high.max(price);
                b.low = b.low.min(price);
                b.close = price;
                b.volume += size;
            })
            .or_insert(MinuteBar {
                index: u32::try_from(minute).unwrap_or(0),
                open: price,
                high: price,
                low: price,
                close: price,
                volume: size,
            });
        Trade {
            symbol: self.listing.symbol.clone(),
            price: Price::from_cents(price),
            size: Quantity::from_u64(size),
            ts_event: now,
        }
    }

    fn bar(&self, history: &History, minute: i64, b: &MinuteBar) -> Bar {
        let start = history.minute_start(self.day, 0).plus_nanos(0);
        let offset = minute * 60 * 1_000_000_000;
        let start = UnixNanos(u64::try_from(i128::from(start.0) + i128::from(offset)).unwrap_or(0));
        Bar {
            symbol: self.listing.symbol.clone(),
            interval: BarInterval::Minutes(1),
            start,
            open: Price::from_cents(b.open),
            high: Price::from_cents(b.high),
            low: Price::from_cents(b.low),
            close: Price::from_cents(b.close),
            volume: Quantity::from_u64(b.volume),
        }
    }

    /// Today's in-session minute bars up to now: the synthetic part before the market went live,
    /// then the live bars.
    pub fn today_minutes(&self, history: &History) -> (NaiveDate, Vec<MinuteBar>) {
        let session = i64::from(history.session_minutes());
        let mut out = self.prefix.clone();
        out.extend(self.bars.range(0..session).map(|(_, b)| *b));
        (self.day, out)
    }

    /// The current quote.
    pub fn quote(&self) -> Quote {
        Quote {
            symbol: self.listing.symbol.clone(),
            bid: Some(Price::from_cents(self.bid)),
            bid_size: Quantity::from_u64(self.bid_size),
            ask: Some(Price::from_cents(self.ask)),
            ask_size: Quantity::from_u64(self.ask_size),
            ts_event: self.quote_ts,
        }
    }

    /// The last trade, if any.
    pub fn last_trade(&self) -> Option<Trade> {
        self.last.map(|(p, s, ts)| Trade {
            symbol: self.listing.symbol.clone(),
            price: Price::from_cents(p),
            size: Quantity::from_u64(s),
            ts_event: ts,
        })
    }

    /// The day's statistics.
    pub fn stats(&self, now: UnixNanos) -> SessionStats {
        let vwap = (self.volume > 0).then(|| {
            let cents = rust_decimal::Decimal::from_i128_with_scale(self.value, 2);
            Price::new(cents / rust_decimal::Decimal::from(self.volume)).round_dp(4)
        });
        SessionStats {
            symbol: self.listing.symbol.clone(),
            open: self.open.map(Price::from_cents),
            high: self.high.map(Price::from_cents),
            low: self.low.map(Price::from_cents),
            prev_close: Some(Price::from_cents(self.prev_close)),
            vwap,
            volume: Quantity::from_u64(self.volume),
            ts_event: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instrument::listing;
    use chrono::{NaiveTime, TimeZone};
    use txtrader_plugin_api::model::Symbol;

    /// 2024-03-06 (a Wednesday), New York time.
    fn at(h: u32, m: u32, s: u32) -> UnixNanos {
        UnixNanos::from(chrono_tz::America::New_York.with_ymd_and_hms(2024, 3, 6, h, m, s).single().expect("t"))
    }

    fn history() -> History {
        History::new(
            1,
            chrono_tz::America::New_York,
            NaiveTime::from_hms_opt(9, 30, 0).expect("t"),
            NaiveTime::from_hms_opt(16, 0, 0).expect("t"),
        )
    }

    #[test]
    fn starts_where_history_is() {
        let mut h = history();
        let l = listing(1, &Symbol::new("IBM").expect("s"));
        let m = LiveMarket::new(l.clone(), &mut h, 1, at(14, 0, 0));
        let day = h.day(&l, NaiveDate::from_ymd_opt(2024, 3, 6).expect("d")).expect("day");
        // 14:00 is minute 270: the prefix is minutes 0..270 and the price is minute 269's close
        assert_eq!(m.last_cents(), Some(day.minutes[269].close));
        let stats = m.stats(at(14, 0, 0));
        assert_eq!(stats.open, Some(Price::from_cents(day.minutes[0].open)));
        assert!(!stats.volume.is_zero());
        assert!(m.bid_cents() < m.ask_cents());
    }

    #[test]
    fn ticks_move_quotes_print_trades_and_complete_bars() {
        let mut h = history();
        let l = listing(1, &Symbol::new("IBM").expect("s"));
        let mut m = LiveMarket::new(l, &mut h, 1, at(10, 0, 0));
        let vol0 = m.stats(at(10, 0, 0)).volume;
        let mut trades = 0;
        let mut bars = Vec::new();
        for s in 1..=150u32 {
            let out = m.tick(&h, at(10, s / 60, s % 60), true);
            assert!(out.quote_changed);
            assert!(m.bid_cents() < m.ask_cents());
            trades += usize::from(out.trade.is_some());
            bars.extend(out.bars);
        }
        assert!(trades > 40, "{trades} trades in 150 ticks");
        assert!(m.stats(at(10, 2, 30)).volume > vol0);
        assert_eq!(bars.len(), 2, "minutes 10:00 and 10:01 completed");
        assert_eq!(bars[0].start, at(10, 0, 0));
        let (_, today) = m.today_minutes(&h);
        assert_eq!(today.len(), 30 + 3, "prefix to 10:00 plus three live minutes");
    }

    #[test]
    fn frozen_outside_the_session() {
        let mut h = history();
        let l = listing(1, &Symbol::new("IBM").expect("s"));
        let mut m = LiveMarket::new(l, &mut h, 1, at(20, 0, 0));
        let (b, a) = (m.bid_cents(), m.ask_cents());
        let out = m.tick(&h, at(20, 0, 1), false);
        assert!(!out.quote_changed && out.trade.is_none());
        assert_eq!((b, a), (m.bid_cents(), m.ask_cents()));
    }
}
