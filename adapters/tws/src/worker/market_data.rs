//! Market data, bars and account values from TWS: contract lookups, quote and trade ticks,
//! live one-minute bars built from 5-second real-time bars, historical bars under IB's
//! historical-data pacing, and account summaries.

use super::Worker;
use crate::mapping;
use crate::proto::decode::ContractDetails;
use crate::proto::encode::{Contract, HistoricalRequest};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::time::Instant;
use txtrader_plugin_api::adapter::LogLevel;
use txtrader_plugin_api::model::{
    AccountId, AccountSummary, BarInterval, Instrument, Money, Price, Quantity, Quote, SessionStats, Symbol, Trade, UnixNanos,
};
use txtrader_plugin_api::wire::{AdapterEvent, ErrorCode, MarketSnapshot, ReplyBody, RequestId};

/// A request waiting for TWS.
#[derive(Debug)]
pub(super) enum Waiting {
    /// Subscribe: contract details first, then market data.
    Subscribe { request: RequestId, symbol: Symbol, details: Option<Box<ContractDetails>> },
    /// Instrument lookup.
    Instrument { request: RequestId, symbol: Symbol, details: Option<Box<ContractDetails>> },
    /// Historical bars.
    Bars { request: RequestId, symbol: Symbol, interval: BarInterval, start: UnixNanos, end: UnixNanos },
    /// Account summary.
    Account { request: RequestId, account: AccountId, values: HashMap<String, (String, String)> },
}

impl Waiting {
    pub(super) fn request(&self) -> RequestId {
        match self {
            Self::Subscribe { request, .. } | Self::Instrument { request, .. } | Self::Bars { request, .. } | Self::Account { request, .. } => {
                *request
            }
        }
    }
}

/// A market data subscription.
#[derive(Debug)]
pub(super) struct Sub {
    pub(super) contract: Contract,
    pub(super) req_id: Option<i64>,
    pub(super) bid: Option<Decimal>,
    pub(super) ask: Option<Decimal>,
    pub(super) bid_size: Decimal,
    pub(super) ask_size: Decimal,
    pub(super) stats: SessionStats,
    /// The real-time bars request, and the minute being built from its 5-second bars.
    pub(super) bars_req: Option<i64>,
    pub(super) minute: Option<Minute>,
}

/// A one-minute bar being built from 5-second bars.
#[derive(Debug, Clone, Copy)]
pub(super) struct Minute {
    pub(super) start: i64,
    pub(super) open: Decimal,
    pub(super) high: Decimal,
    pub(super) low: Decimal,
    pub(super) close: Decimal,
    pub(super) volume: Decimal,
}

impl Worker {
    /// Stops a symbol's market data and live bars.
    pub(super) fn unsubscribe(&mut self, id: RequestId, symbol: &Symbol) {
        if let Some(sub) = self.subs.remove(symbol) {
            if let (Some(req), Some(e)) = (sub.req_id, self.encoder()) {
                self.by_md_req.remove(&req);
                self.send(e.cancel_mkt_data(req));
            }
            if let (Some(req), Some(e)) = (sub.bars_req, self.encoder()) {
                self.by_bars_req.remove(&req);
                self.send(e.cancel_real_time_bars(req));
            }
        }
        self.host.reply(id, ReplyBody::Done);
    }

    /// Asks for an account's summary; answered at its end message.
    pub(super) fn account(&mut self, id: RequestId, account: AccountId) {
        let req = self.req_id();
        let Some(e) = self.encoder() else { return };
        let frame = e.req_account_summary(
            req,
            "All",
            "NetLiquidation,TotalCashValue,ExcessLiquidity,AvailableFunds,GrossPositionValue,BuyingPower",
        );
        self.waiting.insert(req, (Waiting::Account { request: id, account, values: HashMap::new() }, Instant::now()));
        self.send(frame);
    }

    pub(super) fn lookup(&mut self, w: Waiting, primary_exchange: Option<&str>) {
        let symbol = match &w {
            Waiting::Subscribe { symbol, .. } | Waiting::Instrument { symbol, .. } => symbol.clone(),
            _ => return,
        };
        let req = self.req_id();
        let contract = mapping::contract(&self.settings, &symbol, primary_exchange);
        let Some(e) = self.encoder() else { return };
        let frame = e.req_contract_details(req, &contract);
        self.waiting.insert(req, (w, Instant::now()));
        self.send(frame);
    }

    pub(super) fn start_market_data(&mut self, symbol: &Symbol) {
        let (req, bars_req) = (self.req_id(), self.req_id());
        let live_bars = self.settings.live_bars;
        let Some(sub) = self.subs.get_mut(symbol) else { return };
        sub.req_id = Some(req);
        sub.bars_req = live_bars.then_some(bars_req);
        sub.minute = None;
        let contract = sub.contract.clone();
        self.by_md_req.insert(req, symbol.clone());
        let Some(enc) = self.encoder() else { return };
        self.send(enc.req_mkt_data(req, &contract, "", false));
        if live_bars {
            self.by_bars_req.insert(bars_req, symbol.clone());
            self.send(enc.req_real_time_bars(bars_req, &contract, "TRADES", false));
        }
    }

    /// A 5-second bar: added to its minute, which is reported once complete (its last
    /// 5-second bar, or the first of the next minute, arrived).
    pub(super) fn real_time_bar(&mut self, req_id: i64, time: i64, ohlc: [Decimal; 4], volume: Decimal) {
        let Some(symbol) = self.by_bars_req.get(&req_id).cloned() else { return };
        let Some(sub) = self.subs.get_mut(&symbol) else { return };
        let start = time - time.rem_euclid(60);
        let mut done = Vec::new();
        if let Some(m) = sub.minute.filter(|m| m.start != start) {
            done.push(m);
            sub.minute = None;
        }
        let [open, high, low, close] = ohlc;
        let m = sub.minute.get_or_insert(Minute { start, open, high, low, close, volume: Decimal::ZERO });
        m.high = m.high.max(high);
        m.low = m.low.min(low);
        m.close = close;
        m.volume += volume.max(Decimal::ZERO);
        if time.rem_euclid(60) >= 55 {
            done.extend(sub.minute.take());
        }
        for m in done {
            let Ok(start) = u64::try_from(m.start) else { continue };
            let bar = txtrader_plugin_api::model::Bar {
                symbol: symbol.clone(),
                interval: BarInterval::Minutes(1),
                start: UnixNanos(start.saturating_mul(1_000_000_000)),
                open: Price::new(m.open),
                high: Price::new(m.high),
                low: Price::new(m.low),
                close: Price::new(m.close),
                volume: Quantity::new(m.volume).unwrap_or(Quantity::ZERO),
            };
            self.emit(AdapterEvent::Bar(bar));
        }
    }

    pub(super) fn bars(&mut self, id: RequestId, symbol: Symbol, interval: BarInterval, (start, end): (UnixNanos, UnixNanos), primary_exchange: Option<&str>) {
        let Some(bar_size) = mapping::bar_size(interval) else {
            self.host.fail(id, ErrorCode::Unsupported, format!("IB has no {interval:?} bars"));
            return;
        };
        let req = self.req_id();
        let r = HistoricalRequest {
            req_id: req,
            contract: mapping::contract(&self.settings, &symbol, primary_exchange),
            end: mapping::end_time(end),
            bar_size: bar_size.into(),
            duration: mapping::duration(start, end, interval),
            use_rth: true,
            what_to_show: "TRADES".into(),
            format_date: 2,
            keep_up_to_date: false,
        };
        let key = format!("{:?}|{}|{}|{}|{}", r.contract, r.end, r.bar_size, r.duration, r.what_to_show);
        let now = Instant::now();
        let at = self.history.allowed_at(&key, now);
        if at.saturating_duration_since(now) >= self.settings.request_timeout {
            let wait = at.saturating_duration_since(now).as_secs();
            self.host.fail(id, ErrorCode::InvalidRequest, format!("IB's historical-data pacing (60 requests in 10 minutes, the same one not within 15 s) allows this request in {wait} s"));
            return;
        }
        self.waiting.insert(req, (Waiting::Bars { request: id, symbol, interval, start, end }, now));
        if at > now {
            self.host.log(LogLevel::Info, &format!("historical request waits {:.1} s for IB's historical-data pacing", (at - now).as_secs_f64()));
        }
        self.history_queue.push((at, key, r));
        self.release_history(now);
    }

    /// Sends the historical requests whose time came.
    pub(super) fn release_history(&mut self, now: Instant) {
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.history_queue).into_iter().partition(|(at, _, _)| *at <= now);
        self.history_queue = later;
        for (_, key, r) in due {
            // the waiting time does not count against the request's deadline
            if let Some((_, since)) = self.waiting.get_mut(&r.req_id) {
                *since = now;
            } else {
                continue; // failed meanwhile (disconnected)
            }
            let at = self.history.allowed_at(&key, now);
            if at > now {
                self.history_queue.push((at, key, r));
                continue;
            }
            self.history.sent(key, now);
            let Some(e) = self.encoder() else { return };
            self.send(e.req_historical_data(&r));
        }
    }

    pub(super) fn contract_end(&mut self, req_id: i64) {
        let Some((w, _)) = self.waiting.remove(&req_id) else { return };
        match w {
            Waiting::Subscribe { request, symbol, details: Some(d) } => {
                let instrument = mapping::instrument(&symbol, &d);
                let mut contract = mapping::contract(&self.settings, &symbol, Some(&d.primary_exchange));
                contract.con_id = d.contract.con_id;
                let stats = SessionStats {
                    symbol: symbol.clone(),
                    open: None,
                    high: None,
                    low: None,
                    prev_close: None,
                    vwap: None,
                    volume: Quantity::ZERO,
                    ts_event: UnixNanos::now(),
                };
                self.subs.insert(
                    symbol.clone(),
                    Sub {
                        contract,
                        req_id: None,
                        bid: None,
                        ask: None,
                        bid_size: Decimal::ZERO,
                        ask_size: Decimal::ZERO,
                        stats,
                        bars_req: None,
                        minute: None,
                    },
                );
                self.start_market_data(&symbol);
                let snap = self.market_snapshot(&symbol, Some(instrument));
                self.host.reply(request, ReplyBody::Market(snap));
            }
            Waiting::Instrument { request, symbol, details: Some(d) } => {
                self.host.reply(request, ReplyBody::Instrument(mapping::instrument(&symbol, &d)));
            }
            Waiting::Subscribe { request, .. } | Waiting::Instrument { request, .. } => {
                self.host.reply(request, ReplyBody::SymbolInvalid { reason: "no contract found at IB".into() });
            }
            other => {
                self.waiting.insert(req_id, (other, Instant::now()));
            }
        }
    }

    pub(super) fn market_snapshot(&self, symbol: &Symbol, instrument: Option<Instrument>) -> MarketSnapshot {
        let sub = self.subs.get(symbol);
        let instrument = instrument.unwrap_or_else(|| Instrument {
            symbol: symbol.clone(),
            name: symbol.as_str().to_owned(),
            cusip: None,
            exchange: None,
            currency: self.settings.currency.clone(),
            session: txtrader_plugin_api::model::SessionHours {
                start: chrono::NaiveTime::from_hms_opt(9, 30, 0).unwrap_or_default(),
                stop: chrono::NaiveTime::from_hms_opt(16, 0, 0).unwrap_or_default(),
                timezone: "America/New_York".into(),
            },
        });
        MarketSnapshot {
            instrument,
            quote: sub.filter(|s| s.bid.is_some() || s.ask.is_some()).map(|s| quote(symbol, s)),
            last_trade: None,
            stats: sub.map(|s| s.stats.clone()),
        }
    }

    pub(super) fn tick_price(&mut self, req_id: i64, tick_type: i64, price: Option<Decimal>, size: Option<Decimal>) {
        let Some(symbol) = self.by_md_req.get(&req_id).cloned() else { return };
        let Some(sub) = self.subs.get_mut(&symbol) else { return };
        let now = UnixNanos::now();
        // delayed ticks (66–76) are the real-time ones shifted by 65 (bid/ask/last) or 66
        let t = match tick_type {
            66..=68 => tick_type - 65,
            72 | 73 => tick_type - 66,
            75 | 76 => tick_type - 66,
            other => other,
        };
        let positive = price.filter(|p| *p > Decimal::ZERO);
        match t {
            1 | 2 => {
                if t == 1 {
                    sub.bid = positive;
                    sub.bid_size = size.unwrap_or(sub.bid_size);
                } else {
                    sub.ask = positive;
                    sub.ask_size = size.unwrap_or(sub.ask_size);
                }
                let q = quote(&symbol, sub);
                self.emit(AdapterEvent::Quote(q));
            }
            4 => {
                let (Some(p), Ok(size)) = (positive, Quantity::new(size.unwrap_or_default().max(Decimal::ZERO))) else { return };
                self.emit(AdapterEvent::Trade(Trade { symbol, price: Price::new(p), size, ts_event: now }));
            }
            6 | 7 | 9 | 14 => {
                let p = positive.map(Price::new);
                match t {
                    6 => sub.stats.high = p,
                    7 => sub.stats.low = p,
                    9 => sub.stats.prev_close = p,
                    _ => sub.stats.open = p,
                }
                sub.stats.ts_event = now;
                let stats = sub.stats.clone();
                self.emit(AdapterEvent::Stats(stats));
            }
            _ => {}
        }
    }

    pub(super) fn tick_size(&mut self, req_id: i64, tick_type: i64, size: Option<Decimal>) {
        let Some(symbol) = self.by_md_req.get(&req_id).cloned() else { return };
        let Some(sub) = self.subs.get_mut(&symbol) else { return };
        let size = size.unwrap_or_default().max(Decimal::ZERO);
        match tick_type {
            0 | 69 => sub.bid_size = size,
            3 | 70 => sub.ask_size = size,
            8 | 74 => {
                sub.stats.volume = Quantity::new(size).unwrap_or(Quantity::ZERO);
                sub.stats.ts_event = UnixNanos::now();
                let stats = sub.stats.clone();
                self.emit(AdapterEvent::Stats(stats));
                return;
            }
            _ => return,
        }
        let q = quote(&symbol, sub);
        self.emit(AdapterEvent::Quote(q));
    }

    pub(super) fn account_end(&mut self, req_id: i64) {
        let Some((Waiting::Account { request, account, values }, _)) = self.waiting.remove(&req_id) else { return };
        if let Some(e) = self.encoder() {
            self.send(e.cancel_account_summary(req_id));
        }
        if values.is_empty() {
            self.host.reply(request, ReplyBody::Account { summary: None });
            return;
        }
        let money = |tag: &str| {
            values.get(tag).and_then(|(v, _)| crate::proto::text::decimal(v).ok().flatten()).map_or(Money::new(Decimal::ZERO), Money::new)
        };
        let currency = values.get("NetLiquidation").map_or_else(|| self.settings.currency.clone(), |(_, c)| c.clone());
        let excess = if values.contains_key("ExcessLiquidity") { money("ExcessLiquidity") } else { money("AvailableFunds") };
        let summary = AccountSummary {
            account,
            currency,
            cash: money("TotalCashValue"),
            equity: money("NetLiquidation"),
            excess_equity: excess,
            gross_position_value: money("GrossPositionValue"),
            buying_power: money("BuyingPower"),
            ts_event: UnixNanos::now(),
        };
        self.host.reply(request, ReplyBody::Account { summary: Some(summary) });
    }
}

pub(super) fn quote(symbol: &Symbol, s: &Sub) -> Quote {
    Quote {
        symbol: symbol.clone(),
        bid: s.bid.map(Price::new),
        bid_size: Quantity::new(s.bid_size).unwrap_or(Quantity::ZERO),
        ask: s.ask.map(Price::new),
        ask_size: Quantity::new(s.ask_size).unwrap_or(Quantity::ZERO),
        ts_event: UnixNanos::now(),
    }
}
