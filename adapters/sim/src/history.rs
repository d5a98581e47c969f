//! Synthetic price history: deterministic daily and one-minute bars for any past date.
//!
//! Everything is integer cents, so a request always gives the same bars on every machine. The
//! model: a mean-reverting daily random walk of closes since 1990 (weekdays only); each day's
//! intraday path is a random walk with four sub-steps per minute, bridged from the day's open
//! (previous close plus a small gap) to its close. Minute bars take the open, high, low and close
//! of their sub-steps; volume follows a U-shaped intraday profile. Daily, weekly and monthly
//! bars aggregate the minute bars, so every width agrees with every other.

use crate::instrument::Listing;
use crate::rng::{normal_milli, stream};
use chrono::{Datelike, Duration as ChronoDuration, NaiveDate, NaiveTime, TimeZone};
use chrono_tz::Tz;
use rand::Rng;
use std::collections::HashMap;
use txtrader_plugin_api::model::{Bar, BarInterval, Price, Quantity, Symbol, UnixNanos};

/// Sub-steps per minute of the intraday path.
const SUBSTEPS: usize = 4;
/// The most bars one request may return.
pub const MAX_BARS: usize = 50_000;
/// Prices never fall below one dollar.
const FLOOR_CENTS: i64 = 100;

/// The first day of synthetic history (a Monday).
fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1990, 1, 1).unwrap_or_default()
}

/// Weekdays since the epoch are trading days.
pub fn is_trading_day(date: NaiveDate) -> bool {
    date >= epoch() && date.weekday().number_from_monday() <= 5
}

/// The index of a trading day: 0 for the epoch, counting weekdays only.
fn trading_day_index(date: NaiveDate) -> Option<usize> {
    if !is_trading_day(date) {
        return None;
    }
    let days = (date - epoch()).num_days();
    let (weeks, rem) = (days / 7, days % 7);
    usize::try_from(weeks * 5 + rem.min(5)).ok()
}

/// The latest trading day strictly before `date`.
pub fn previous_trading_day(date: NaiveDate) -> NaiveDate {
    let mut d = date - ChronoDuration::days(1);
    while !is_trading_day(d) && d > epoch() {
        d -= ChronoDuration::days(1);
    }
    d
}

/// One synthetic minute bar, in cents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MinuteBar {
    /// Minutes since the session open.
    pub index: u32,
    /// Open.
    pub open: i64,
    /// High.
    pub high: i64,
    /// Low.
    pub low: i64,
    /// Close.
    pub close: i64,
    /// Volume in shares.
    pub volume: u64,
}

/// One synthetic trading day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayPath {
    /// The date, exchange time.
    pub date: NaiveDate,
    /// Previous day's close, in cents.
    pub prev_close: i64,
    /// Minute bars of the session.
    pub minutes: Vec<MinuteBar>,
}

/// The generator. Caches the daily closes per symbol.
#[derive(Debug)]
pub struct History {
    seed: u64,
    tz: Tz,
    session_start: NaiveTime,
    session_minutes: u32,
    closes: HashMap<Symbol, Vec<i64>>,
}

impl History {
    /// A generator for the given session.
    pub fn new(seed: u64, tz: Tz, session_start: NaiveTime, session_stop: NaiveTime) -> Self {
        let session_minutes = u32::try_from((session_stop - session_start).num_minutes().max(1)).unwrap_or(1);
        Self { seed, tz, session_start, session_minutes, closes: HashMap::new() }
    }

    /// Length of the session in minutes.
    pub fn session_minutes(&self) -> u32 {
        self.session_minutes
    }

    /// The start of minute `index` of the session on `date`.
    pub fn minute_start(&self, date: NaiveDate, index: u32) -> UnixNanos {
        let t = date.and_time(self.session_start) + ChronoDuration::minutes(i64::from(index));
        match self.tz.from_local_datetime(&t).earliest() {
            Some(dt) => UnixNanos::from(dt),
            None => UnixNanos::from(self.tz.from_utc_datetime(&t)),
        }
    }

    /// The exchange-local date of an instant.
    pub fn local_date(&self, t: UnixNanos) -> NaiveDate {
        t.to_datetime().with_timezone(&self.tz).date_naive()
    }

    /// The session minute an instant falls in (can be negative or past the close).
    pub fn session_minute(&self, t: UnixNanos) -> i64 {
        let local = t.to_datetime().with_timezone(&self.tz).naive_local();
        (local - local.date().and_time(self.session_start)).num_minutes()
    }

    /// The closing price of trading day `idx`, in cents.
    fn close_at(&mut self, listing: &Listing, idx: usize) -> i64 {
        let seed = self.seed;
        let series = self.closes.entry(listing.symbol.clone()).or_insert_with(|| vec![listing.base_cents]);
        if series.len() <= idx {
            let mut rng = stream(seed, &[b"daily", listing.symbol.as_str().as_bytes()]);
            // Replay the stream up to what is cached, so extending gives the same numbers.
            for _ in 1..series.len() {
                normal_milli(&mut rng);
            }
            while series.len() <= idx {
                let prev = series.last().copied().unwrap_or(listing.base_cents);
                // 1.5 % daily volatility, a pull back towards the base of 1/250 per day.
                let step = i128::from(prev) * 15 * i128::from(normal_milli(&mut rng)) / 1_000_000;
                let pull = (listing.base_cents - prev) / 250;
                let next = (prev + i64::try_from(step).unwrap_or(0) + pull).max(FLOOR_CENTS);
                series.push(next);
            }
        }
        series[idx]
    }

    /// The synthetic session of `date`, or `None` on a non-trading day.
    pub fn day(&mut self, listing: &Listing, date: NaiveDate) -> Option<DayPath> {
        let idx = trading_day_index(date)?;
        let prev_close = if idx == 0 { listing.base_cents } else { self.close_at(listing, idx - 1) };
        let close = self.close_at(listing, idx);
        let day_key = date.format("%Y%m%d").to_string();
        let mut rng = stream(self.seed, &[b"intraday", listing.symbol.as_str().as_bytes(), day_key.as_bytes()]);
        let gap = i128::from(prev_close) * 3 * i128::from(normal_milli(&mut rng)) / 1_000_000;
        let open = (prev_close + i64::try_from(gap).unwrap_or(0)).max(FLOOR_CENTS);

        let n = self.session_minutes as usize * SUBSTEPS;
        let sigma = (i128::from(close) * 15 / (1000 * i128::from((n as u64).isqrt().max(1)))).max(1);
        let mut path = Vec::with_capacity(n + 1);
        let mut walk = 0i64;
        path.push(0i64);
        for _ in 0..n {
            walk += i64::try_from(sigma * i128::from(normal_milli(&mut rng)) / 1000).unwrap_or(0);
            path.push(walk);
        }
        // Bridge: bend the walk so that it ends exactly at the close.
        let drift = (close - open) - walk;
        let price = |k: usize| -> i64 {
            let bend = i64::try_from(i128::from(drift) * k as i128 / n as i128).unwrap_or(0);
            (open + path[k] + bend).max(FLOOR_CENTS)
        };

        let minutes = self.session_minutes as usize;
        let day_volume = listing.base_volume * rng.random_range(500u64..=1500) / 1000;
        let mid = minutes as i64 / 2;
        let weight = |m: i64| -> u64 {
            let d = m - mid;
            (1000 + 2000 * d * d / (mid * mid).max(1)) as u64
        };
        let total_weight: u64 = (0..minutes as i64).map(weight).sum();
        let mut bars = Vec::with_capacity(minutes);
        for m in 0..minutes {
            let ks = m * SUBSTEPS..=(m + 1) * SUBSTEPS;
            let (mut high, mut low) = (i64::MIN, i64::MAX);
            for k in ks {
                let p = price(k);
                high = high.max(p);
                low = low.min(p);
            }
            let noise = rng.random_range(800u64..=1200);
            let raw = day_volume * weight(m as i64) / total_weight.max(1) * noise / 1000;
            let volume = (raw / 100).max(1) * 100;
            bars.push(MinuteBar {
                index: m as u32,
                open: price(m * SUBSTEPS),
                high,
                low,
                close: price((m + 1) * SUBSTEPS),
                volume,
            });
        }
        Some(DayPath { date, prev_close, minutes: bars })
    }

    /// Bars in `[start, end]` of width `interval`.
    ///
    /// `overrides` replaces the minute bars of given dates (the live session of today, cut at
    /// now); dates after `last_date` have no bars yet.
    ///
    /// # Errors
    /// A message when the interval is invalid or the result would exceed [`MAX_BARS`].
    pub fn bars(
        &mut self,
        listing: &Listing,
        interval: BarInterval,
        start: UnixNanos,
        end: UnixNanos,
        last_date: NaiveDate,
        overrides: &HashMap<NaiveDate, Vec<MinuteBar>>,
    ) -> Result<Vec<Bar>, String> {
        if let BarInterval::Minutes(n) = interval {
            if n == 0 || n > 1440 {
                return Err(format!("bar interval of {n} minutes is out of range (1..=1440)"));
            }
        }
        if start > end {
            return Ok(Vec::new());
        }
        let first = self.local_date(start).max(epoch());
        let last = self.local_date(end).min(last_date);
        if (last - first).num_days() > 366 * 60 {
            return Err("date range too long (at most 60 years)".into());
        }
        let mut out: Vec<Bar> = Vec::new();
        // Aggregation key for daily-and-longer bars: (year, week/month).
        let mut group: Option<((i32, u32), Agg)> = None;
        let mut date = first;
        while date <= last {
            let minutes = match overrides.get(&date) {
                Some(live) => Some(live.clone()),
                None => self.day(listing, date).map(|d| d.minutes),
            };
            if let Some(minutes) = minutes.filter(|m| !m.is_empty()) {
                match interval {
                    BarInterval::Minutes(n) => {
                        let mut bucket: Option<(u32, Agg)> = None;
                        for m in &minutes {
                            let b = m.index / n * n;
                            match &mut bucket {
                                Some((idx, agg)) if *idx == b => agg.add(m),
                                _ => {
                                    if let Some((idx, agg)) = bucket.take() {
                                        self.push_intraday(&mut out, listing, interval, date, idx, agg, start, end);
                                    }
                                    bucket = Some((b, Agg::new(m)));
                                }
                            }
                        }
                        if let Some((idx, agg)) = bucket {
                            self.push_intraday(&mut out, listing, interval, date, idx, agg, start, end);
                        }
                    }
                    BarInterval::Day | BarInterval::Week | BarInterval::Month => {
                        let mut day = Agg::new(&minutes[0]);
                        for m in &minutes[1..] {
                            day.add(m);
                        }
                        day.start = self.minute_start(date, 0);
                        let key = match interval {
                            BarInterval::Day => (date.year(), date.ordinal()),
                            BarInterval::Week => (date.iso_week().year(), date.iso_week().week()),
                            _ => (date.year(), date.month()),
                        };
                        match &mut group {
                            Some((k, agg)) if *k == key => agg.merge(&day),
                            _ => {
                                if let Some((_, agg)) = group.take() {
                                    out.push(agg.bar(listing, interval));
                                }
                                group = Some((key, day));
                            }
                        }
                    }
                }
            }
            if out.len() > MAX_BARS {
                return Err(format!("more than {MAX_BARS} bars requested"));
            }
            date += ChronoDuration::days(1);
        }
        if let Some((_, agg)) = group {
            out.push(agg.bar(listing, interval));
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn push_intraday(
        &self,
        out: &mut Vec<Bar>,
        listing: &Listing,
        interval: BarInterval,
        date: NaiveDate,
        index: u32,
        mut agg: Agg,
        start: UnixNanos,
        end: UnixNanos,
    ) {
        agg.start = self.minute_start(date, index);
        if agg.start >= start && agg.start <= end {
            out.push(agg.bar(listing, interval));
        }
    }
}

/// An OHLCV accumulator in cents.
#[derive(Clone, Copy, Debug)]
struct Agg {
    start: UnixNanos,
    open: i64,
    high: i64,
    low: i64,
    close: i64,
    volume: u64,
}

impl Agg {
    fn new(m: &MinuteBar) -> Self {
        Self { start: UnixNanos(0), open: m.open, high: m.high, low: m.low, close: m.close, volume: m.volume }
    }

    fn add(&mut self, m: &MinuteBar) {
        self.high = self.high.max(m.high);
        self.low = self.low.min(m.low);
        self.close = m.close;
        self.volume += m.volume;
    }

    fn merge(&mut self, other: &Agg) {
        self.high = self.high.max(other.high);
        self.low = self.low.min(other.low);
        self.close = other.close;
        self.volume += other.volume;
    }

    fn bar(&self, listing: &Listing, interval: BarInterval) -> Bar {
        Bar {
            symbol: listing.symbol.clone(),
            interval,
            start: self.start,
            open: Price::from_cents(self.open),
            high: Price::from_cents(self.high),
            low: Price::from_cents(self.low),
            close: Price::from_cents(self.close),
            volume: Quantity::from_u64(self.volume),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instrument::listing;

    fn history() -> History {
        History::new(
            1,
            chrono_tz::America::New_York,
            NaiveTime::from_hms_opt(9, 30, 0).expect("t"),
            NaiveTime::from_hms_opt(16, 0, 0).expect("t"),
        )
    }

    fn spy() -> Listing {
        listing(1, &Symbol::new("SPY").expect("sym"))
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, mi: u32) -> UnixNanos {
        UnixNanos::from(chrono::Utc.with_ymd_and_hms(y, m, d, h, mi, 0).single().expect("date"))
    }

    #[test]
    fn same_request_same_bars() {
        let (mut h1, mut h2) = (history(), history());
        let far = NaiveDate::from_ymd_opt(2100, 1, 1).expect("d");
        let none = HashMap::new();
        // 2017-08-29 09:30-09:40 New York is 13:30-13:40 UTC (EDT)
        let a = h1.bars(&spy(), BarInterval::Minutes(1), utc(2017, 8, 29, 13, 30), utc(2017, 8, 29, 13, 40), far, &none);
        let b = h2.bars(&spy(), BarInterval::Minutes(1), utc(2017, 8, 29, 13, 30), utc(2017, 8, 29, 13, 40), far, &none);
        let a = a.expect("bars");
        assert_eq!(a.len(), 11, "inclusive range of 11 minutes");
        assert_eq!(a, b.expect("bars"));
        for bar in &a {
            assert!(bar.low <= bar.open && bar.open <= bar.high);
            assert!(bar.low <= bar.close && bar.close <= bar.high);
            assert!(!bar.volume.is_zero());
        }
        assert_eq!(a[0].start, utc(2017, 8, 29, 13, 30));
    }

    #[test]
    fn widths_agree_with_each_other() {
        let mut h = history();
        let far = NaiveDate::from_ymd_opt(2100, 1, 1).expect("d");
        let none = HashMap::new();
        let (s, e) = (utc(2017, 7, 6, 12, 0), utc(2017, 7, 6, 23, 59)); // 08:00-19:59 New York
        let minutes = h.bars(&spy(), BarInterval::Minutes(1), s, e, far, &none).expect("m");
        assert_eq!(minutes.len(), 390);
        let fives = h.bars(&spy(), BarInterval::Minutes(5), s, e, far, &none).expect("5m");
        assert_eq!(fives.len(), 78);
        let day = h.bars(&spy(), BarInterval::Day, s, e, far, &none).expect("d");
        assert_eq!(day.len(), 1);
        let d = &day[0];
        assert_eq!(d.open, minutes[0].open);
        assert_eq!(d.close, minutes[389].close);
        assert_eq!(d.high, minutes.iter().map(|b| b.high).max().expect("max"));
        let vol: rust_decimal::Decimal = minutes.iter().map(|b| b.volume.as_decimal()).sum();
        assert_eq!(d.volume.as_decimal(), vol);
        assert_eq!(fives[1].open, minutes[5].open);
    }

    #[test]
    fn weekends_have_no_bars_and_days_chain() {
        let mut h = history();
        let far = NaiveDate::from_ymd_opt(2100, 1, 1).expect("d");
        let none = HashMap::new();
        // Fri 2017-07-07 .. Mon 2017-07-10
        let days = h.bars(&spy(), BarInterval::Day, utc(2017, 7, 7, 12, 0), utc(2017, 7, 10, 23, 0), far, &none).expect("d");
        assert_eq!(days.len(), 2);
        let fri = h.day(&spy(), NaiveDate::from_ymd_opt(2017, 7, 7).expect("d")).expect("trading");
        let mon = h.day(&spy(), NaiveDate::from_ymd_opt(2017, 7, 10).expect("d")).expect("trading");
        assert_eq!(mon.prev_close, fri.minutes.last().expect("bars").close);
        assert!(h.day(&spy(), NaiveDate::from_ymd_opt(2017, 7, 8).expect("d")).is_none());
    }

    #[test]
    fn weekly_and_monthly_aggregate() {
        let mut h = history();
        let far = NaiveDate::from_ymd_opt(2100, 1, 1).expect("d");
        let none = HashMap::new();
        let (s, e) = (utc(2017, 1, 1, 12, 0), utc(2017, 12, 31, 23, 0));
        let weeks = h.bars(&spy(), BarInterval::Week, s, e, far, &none).expect("w");
        let months = h.bars(&spy(), BarInterval::Month, s, e, far, &none).expect("m");
        assert_eq!(months.len(), 12);
        assert!((52..=53).contains(&weeks.len()), "{}", weeks.len());
    }

    #[test]
    fn future_dates_and_bad_intervals() {
        let mut h = history();
        let none = HashMap::new();
        let last = NaiveDate::from_ymd_opt(2017, 7, 5).expect("d");
        let b = h.bars(&spy(), BarInterval::Minutes(1), utc(2017, 7, 6, 12, 0), utc(2017, 7, 6, 23, 0), last, &none);
        assert_eq!(b.expect("ok").len(), 0);
        assert!(h.bars(&spy(), BarInterval::Minutes(0), utc(2017, 7, 6, 0, 0), utc(2017, 7, 6, 1, 0), last, &none).is_err());
    }
}
