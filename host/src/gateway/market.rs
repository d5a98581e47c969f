//! Market data as the gateway keeps it: the active symbols (in the order they were added), who
//! subscribed to each, their latest quote, trade, day statistics and live bars, and the facts of
//! every instrument seen so far.
//!
//! Plain data owned by the gateway core; requests to the adapter are the core's business.

use indexmap::IndexMap;
use std::collections::{BTreeMap, HashMap, HashSet};
use txtrader_plugin_api::model::{Bar, Instrument, Price, Quote, SessionStats, Symbol, Trade, UnixNanos};
use txtrader_plugin_api::wire::MarketSnapshot;

/// Who holds a subscription. HTTP clients share one identity, as in the original.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subscriber {
    /// Every HTTP caller.
    Http,
    /// One stream session.
    Session(u64),
    /// One strategy instance.
    Strategy(u64),
}

/// Everything known about an active symbol.
#[derive(Clone, Debug, PartialEq)]
pub struct SymbolView {
    /// Instrument facts.
    pub instrument: Instrument,
    /// Latest quote.
    pub quote: Option<Quote>,
    /// Latest trade.
    pub last_trade: Option<Trade>,
    /// Day statistics.
    pub stats: Option<SessionStats>,
    /// Today's live one-minute bars, oldest first (kept only with `ENABLE_SYMBOL_BARCHART`).
    pub bars: Vec<Bar>,
}

#[derive(Debug)]
struct Active {
    instrument: Instrument,
    quote: Option<Quote>,
    last_trade: Option<Trade>,
    stats: Option<SessionStats>,
    bars: BTreeMap<UnixNanos, Bar>,
    subscribers: HashSet<Subscriber>,
}

impl Active {
    fn view(&self) -> SymbolView {
        SymbolView {
            instrument: self.instrument.clone(),
            quote: self.quote.clone(),
            last_trade: self.last_trade.clone(),
            stats: self.stats.clone(),
            bars: self.bars.values().cloned().collect(),
        }
    }
}

/// What removing a subscriber did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removed {
    /// The symbol was not active.
    NotActive,
    /// Others still subscribe; it stays active.
    Kept,
    /// Nobody is left: the symbol is no longer active and should be unsubscribed.
    Unsubscribed,
}

/// The market-data state.
#[derive(Debug)]
pub struct Market {
    active: IndexMap<Symbol, Active>,
    instruments: HashMap<Symbol, Instrument>,
    keep_bars: bool,
}

impl Market {
    /// Empty; `keep_bars` keeps live one-minute bars per symbol.
    pub fn new(keep_bars: bool) -> Self {
        Self { active: IndexMap::new(), instruments: HashMap::new(), keep_bars }
    }

    /// Whether the symbol is active.
    pub fn is_active(&self, symbol: &Symbol) -> bool {
        self.active.contains_key(symbol)
    }

    /// Whether an active symbol has both a quote and a last trade (its first full answer).
    pub fn priced(&self, symbol: &Symbol) -> bool {
        self.active.get(symbol).is_some_and(|a| a.quote.is_some() && a.last_trade.is_some())
    }

    /// The view of an active symbol.
    pub fn view(&self, symbol: &Symbol) -> Option<SymbolView> {
        self.active.get(symbol).map(Active::view)
    }

    /// Every active symbol's view, in the order they were added.
    pub fn views(&self) -> Vec<SymbolView> {
        self.active.values().map(Active::view).collect()
    }

    /// The active symbols, in the order they were added.
    pub fn symbols(&self) -> Vec<Symbol> {
        self.active.keys().cloned().collect()
    }

    /// Facts about any symbol seen so far.
    pub fn instrument(&self, symbol: &Symbol) -> Option<&Instrument> {
        self.instruments.get(symbol).or_else(|| self.active.get(symbol).map(|a| &a.instrument))
    }

    /// Remembers an instrument.
    pub fn remember(&mut self, instrument: Instrument) {
        self.instruments.insert(instrument.symbol.clone(), instrument);
    }

    /// Makes a symbol active from the adapter's snapshot.
    pub fn activate(&mut self, snapshot: MarketSnapshot, bars: Vec<Bar>) -> SymbolView {
        let symbol = snapshot.instrument.symbol.clone();
        self.remember(snapshot.instrument.clone());
        let bars = if self.keep_bars { bars.into_iter().map(|b| (b.start, b)).collect() } else { BTreeMap::new() };
        let active = Active {
            instrument: snapshot.instrument,
            quote: snapshot.quote,
            last_trade: snapshot.last_trade,
            stats: snapshot.stats,
            bars,
            subscribers: self.active.get(&symbol).map(|a| a.subscribers.clone()).unwrap_or_default(),
        };
        let view = active.view();
        self.active.insert(symbol, active);
        view
    }

    /// Adds a subscriber (or none, for an anonymous subscription) to an active symbol.
    pub fn subscribe(&mut self, symbol: &Symbol, subscriber: Option<Subscriber>) {
        if let (Some(a), Some(s)) = (self.active.get_mut(symbol), subscriber) {
            a.subscribers.insert(s);
        }
    }

    /// Removes a subscriber; the symbol stops being active when nobody is left.
    pub fn unsubscribe(&mut self, symbol: &Symbol, subscriber: Subscriber) -> Removed {
        let Some(a) = self.active.get_mut(symbol) else { return Removed::NotActive };
        a.subscribers.remove(&subscriber);
        if a.subscribers.is_empty() {
            self.active.shift_remove(symbol);
            Removed::Unsubscribed
        } else {
            Removed::Kept
        }
    }

    /// Removes a subscriber from every symbol; returns the symbols nobody holds any more.
    pub fn unsubscribe_everywhere(&mut self, subscriber: Subscriber) -> Vec<Symbol> {
        let held: Vec<Symbol> = self
            .active
            .iter()
            .filter(|(_, a)| a.subscribers.contains(&subscriber))
            .map(|(s, _)| s.clone())
            .collect();
        held.into_iter().filter(|s| self.unsubscribe(s, subscriber) == Removed::Unsubscribed).collect()
    }

    /// Changes an active symbol; false when it is not active.
    fn update(&mut self, symbol: &Symbol, f: impl FnOnce(&mut Active)) -> bool {
        self.active.get_mut(symbol).map(f).is_some()
    }

    /// Applies a quote; false when the symbol is not active.
    pub fn on_quote(&mut self, quote: &Quote) -> bool {
        self.update(&quote.symbol, |a| a.quote = Some(quote.clone()))
    }

    /// Applies a trade; false when the symbol is not active.
    pub fn on_trade(&mut self, trade: &Trade) -> bool {
        self.update(&trade.symbol, |a| a.last_trade = Some(trade.clone()))
    }

    /// Applies day statistics; false when the symbol is not active.
    pub fn on_stats(&mut self, stats: &SessionStats) -> bool {
        self.update(&stats.symbol, |a| a.stats = Some(stats.clone()))
    }

    /// The price an order's collar and value are checked against: the last trade, else the
    /// middle of a two-sided quote; `None` for a symbol not active or not traded or quoted yet.
    pub fn reference_price(&self, symbol: &Symbol) -> Option<Price> {
        let a = self.active.get(symbol)?;
        let mid = || {
            let q = a.quote.as_ref()?;
            let (bid, ask) = (q.bid?.as_decimal(), q.ask?.as_decimal());
            (bid.is_sign_positive() && ask >= bid).then(|| Price::new(bid + (ask - bid) / rust_decimal::Decimal::TWO))
        };
        a.last_trade.as_ref().map(|t| t.price).filter(|p| p.is_positive()).or_else(mid)
    }

    /// The day statistics of an active symbol.
    pub fn stats(&self, symbol: &Symbol) -> Option<&SessionStats> {
        self.active.get(symbol).and_then(|a| a.stats.as_ref())
    }

    /// Applies a completed live bar; false when the symbol is not active.
    pub fn on_bar(&mut self, bar: &Bar) -> bool {
        let keep = self.keep_bars;
        self.update(&bar.symbol, |a| {
            if keep {
                a.bars.insert(bar.start, bar.clone());
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveTime;
    use txtrader_plugin_api::model::SessionHours;

    fn snapshot(s: &str) -> MarketSnapshot {
        MarketSnapshot {
            instrument: Instrument {
                symbol: Symbol::new(s).expect("sym"),
                name: format!("{s} CORP"),
                cusip: Some("123456789".into()),
                exchange: None,
                currency: "USD".into(),
                session: SessionHours {
                    start: NaiveTime::from_hms_opt(9, 30, 0).expect("t"),
                    stop: NaiveTime::from_hms_opt(16, 0, 0).expect("t"),
                    timezone: "America/New_York".into(),
                },
            },
            quote: None,
            last_trade: None,
            stats: None,
        }
    }

    #[test]
    fn subscribers_share_a_symbol_until_the_last_leaves() {
        let mut m = Market::new(false);
        let ibm = Symbol::new("IBM").expect("s");
        m.activate(snapshot("IBM"), vec![]);
        m.subscribe(&ibm, Some(Subscriber::Http));
        m.subscribe(&ibm, Some(Subscriber::Session(1)));
        assert_eq!(m.unsubscribe(&ibm, Subscriber::Http), Removed::Kept);
        assert!(m.is_active(&ibm));
        assert_eq!(m.unsubscribe_everywhere(Subscriber::Session(1)), vec![ibm.clone()]);
        assert!(!m.is_active(&ibm));
        assert_eq!(m.unsubscribe(&ibm, Subscriber::Http), Removed::NotActive);
        assert!(m.instrument(&ibm).is_some(), "instrument facts are remembered");
    }

    #[test]
    fn anonymous_subscriptions_end_at_the_first_removal() {
        let mut m = Market::new(false);
        let ibm = Symbol::new("IBM").expect("s");
        m.activate(snapshot("IBM"), vec![]);
        m.subscribe(&ibm, None);
        assert_eq!(m.unsubscribe(&ibm, Subscriber::Http), Removed::Unsubscribed);
    }

    #[test]
    fn symbols_keep_insertion_order() {
        let mut m = Market::new(false);
        for s in ["MSFT", "AAPL", "IBM"] {
            m.activate(snapshot(s), vec![]);
        }
        let order: Vec<String> = m.symbols().iter().map(ToString::to_string).collect();
        assert_eq!(order, ["MSFT", "AAPL", "IBM"]);
    }
}
