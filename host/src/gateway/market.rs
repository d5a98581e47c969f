//! Market data as the gateway keeps it: the active symbols (in the order they were added), who
//! subscribed to each, their latest quote, trade, day statistics and live bars, and the facts of
//! every instrument seen so far.
//!
//! Plain data owned by the gateway core; requests to the adapter are the core's business. The
//! core is the only writer. The symbols' data also lives in a published copy, [`MarketReader`],
//! which request handlers read without a round trip to the core: each symbol's view is an `Arc`
//! the core changes copy-on-write, so a reader holds the lock only to clone a pointer.

use indexmap::IndexMap;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use txtrader_plugin_api::model::{Bar, Instrument, Price, Quote, SessionStats, Symbol, Trade};
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

type Views = IndexMap<Symbol, Arc<SymbolView>>;

/// The published views of the active symbols, in the order they were added. Cheap to clone;
/// reading never waits for the core's queue.
#[derive(Clone, Debug, Default)]
pub struct MarketReader {
    views: Arc<RwLock<Views>>,
}

impl MarketReader {
    fn read(&self) -> RwLockReadGuard<'_, Views> {
        // A panic while the core held the lock left plain data; the views are still whole.
        self.views.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Views> {
        self.views.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The view of an active symbol, as of the core's latest event.
    pub fn view(&self, symbol: &Symbol) -> Option<Arc<SymbolView>> {
        self.read().get(symbol).cloned()
    }

    /// Every active symbol's view, in the order they were added.
    pub fn views(&self) -> Vec<Arc<SymbolView>> {
        self.read().values().cloned().collect()
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
    /// Who holds each active symbol; its data is in `published`.
    subscribers: HashMap<Symbol, HashSet<Subscriber>>,
    published: MarketReader,
    instruments: HashMap<Symbol, Instrument>,
    keep_bars: bool,
}

impl Market {
    /// Empty; `keep_bars` keeps live one-minute bars per symbol.
    pub fn new(keep_bars: bool) -> Self {
        Self { subscribers: HashMap::new(), published: MarketReader::default(), instruments: HashMap::new(), keep_bars }
    }

    /// A reader of the published views.
    pub fn reader(&self) -> MarketReader {
        self.published.clone()
    }

    /// Whether the symbol is active.
    pub fn is_active(&self, symbol: &Symbol) -> bool {
        self.subscribers.contains_key(symbol)
    }

    /// Whether an active symbol has both a quote and a last trade (its first full answer).
    pub fn priced(&self, symbol: &Symbol) -> bool {
        self.published.view(symbol).is_some_and(|a| a.quote.is_some() && a.last_trade.is_some())
    }

    /// The view of an active symbol.
    pub fn view(&self, symbol: &Symbol) -> Option<SymbolView> {
        self.published.view(symbol).map(|v| SymbolView::clone(&v))
    }

    /// Every active symbol's view, in the order they were added.
    pub fn views(&self) -> Vec<SymbolView> {
        self.published.views().iter().map(|v| SymbolView::clone(v)).collect()
    }

    /// The active symbols, in the order they were added.
    pub fn symbols(&self) -> Vec<Symbol> {
        self.published.read().keys().cloned().collect()
    }

    /// Facts about any symbol seen so far (an active one included: activating remembers it).
    pub fn instrument(&self, symbol: &Symbol) -> Option<&Instrument> {
        self.instruments.get(symbol)
    }

    /// Remembers an instrument.
    pub fn remember(&mut self, instrument: Instrument) {
        self.instruments.insert(instrument.symbol.clone(), instrument);
    }

    /// Makes a symbol active from the adapter's snapshot (again, after a resubscription: its
    /// subscribers stay).
    pub fn activate(&mut self, snapshot: MarketSnapshot, mut bars: Vec<Bar>) -> SymbolView {
        let symbol = snapshot.instrument.symbol.clone();
        self.remember(snapshot.instrument.clone());
        if self.keep_bars {
            bars.sort_by_key(|b| b.start);
            bars.dedup_by(|later, earlier| {
                // the same minute twice: the later one wins
                let same = later.start == earlier.start;
                if same {
                    std::mem::swap(later, earlier);
                }
                same
            });
        } else {
            bars.clear();
        }
        let view = SymbolView { instrument: snapshot.instrument, quote: snapshot.quote, last_trade: snapshot.last_trade, stats: snapshot.stats, bars };
        self.subscribers.entry(symbol.clone()).or_default();
        self.published.write().insert(symbol, Arc::new(view.clone()));
        view
    }

    /// Adds a subscriber (or none, for an anonymous subscription) to an active symbol.
    pub fn subscribe(&mut self, symbol: &Symbol, subscriber: Option<Subscriber>) {
        if let (Some(a), Some(s)) = (self.subscribers.get_mut(symbol), subscriber) {
            a.insert(s);
        }
    }

    /// Removes a subscriber; the symbol stops being active when nobody is left.
    pub fn unsubscribe(&mut self, symbol: &Symbol, subscriber: Subscriber) -> Removed {
        let Some(a) = self.subscribers.get_mut(symbol) else { return Removed::NotActive };
        a.remove(&subscriber);
        if a.is_empty() {
            self.subscribers.remove(symbol);
            self.published.write().shift_remove(symbol);
            Removed::Unsubscribed
        } else {
            Removed::Kept
        }
    }

    /// Removes a subscriber from every symbol; returns the symbols nobody holds any more.
    pub fn unsubscribe_everywhere(&mut self, subscriber: Subscriber) -> Vec<Symbol> {
        let held: Vec<Symbol> = self.symbols().into_iter().filter(|s| self.subscribers.get(s).is_some_and(|a| a.contains(&subscriber))).collect();
        held.into_iter().filter(|s| self.unsubscribe(s, subscriber) == Removed::Unsubscribed).collect()
    }

    /// Changes an active symbol's published view; false when it is not active.
    fn update(&mut self, symbol: &Symbol, f: impl FnOnce(&mut SymbolView)) -> bool {
        let mut views = self.published.write();
        // Copy-on-write: a reader still holding the old view keeps it whole.
        views.get_mut(symbol).map(|v| f(Arc::make_mut(v))).is_some()
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
        let a = self.published.view(symbol)?;
        let mid = || {
            let q = a.quote.as_ref()?;
            let (bid, ask) = (q.bid?.as_decimal(), q.ask?.as_decimal());
            (bid.is_sign_positive() && ask >= bid).then(|| Price::new(bid + (ask - bid) / rust_decimal::Decimal::TWO))
        };
        a.last_trade.as_ref().map(|t| t.price).filter(|p| p.is_positive()).or_else(mid)
    }

    /// The day statistics of an active symbol.
    pub fn stats(&self, symbol: &Symbol) -> Option<SessionStats> {
        self.published.view(symbol).and_then(|a| a.stats.clone())
    }

    /// Applies a completed live bar (replacing one of the same minute); false when the symbol
    /// is not active.
    pub fn on_bar(&mut self, bar: &Bar) -> bool {
        let keep = self.keep_bars;
        self.update(&bar.symbol, |a| {
            if keep {
                match a.bars.binary_search_by_key(&bar.start, |b| b.start) {
                    Ok(i) => a.bars[i] = bar.clone(),
                    Err(i) => a.bars.insert(i, bar.clone()),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveTime;
    use txtrader_plugin_api::model::{BarInterval, Quantity, SessionHours, UnixNanos};

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

    #[test]
    fn readers_see_each_change_and_keep_the_view_they_hold() {
        let mut m = Market::new(true);
        let ibm = Symbol::new("IBM").expect("s");
        let reader = m.reader();
        assert!(reader.view(&ibm).is_none());
        m.activate(snapshot("IBM"), vec![]);
        let before = reader.view(&ibm).expect("active");
        let px = |v: i64| Some(Price::new(rust_decimal::Decimal::new(v, 2)));
        let quote = Quote { symbol: ibm.clone(), bid: px(10_000), bid_size: Quantity::new(rust_decimal::Decimal::ONE).expect("qty"), ask: px(10_010), ask_size: Quantity::new(rust_decimal::Decimal::ONE).expect("qty"), ts_event: UnixNanos(1) };
        assert!(m.on_quote(&quote));
        assert_eq!(reader.view(&ibm).expect("active").quote.as_ref(), Some(&quote), "the reader sees the core's latest event");
        assert!(before.quote.is_none(), "a view already held is not changed under its reader");
        assert_eq!(m.reference_price(&ibm), px(10_005));
        // a bar of the same minute replaces the earlier one; bars stay in time order
        let bar = |start: u64, close: i64| Bar { symbol: ibm.clone(), interval: BarInterval::Minutes(1), start: UnixNanos(start), open: Price::new(rust_decimal::Decimal::ONE), high: Price::new(rust_decimal::Decimal::ONE), low: Price::new(rust_decimal::Decimal::ONE), close: Price::new(rust_decimal::Decimal::new(close, 0)), volume: Quantity::new(rust_decimal::Decimal::ONE).expect("qty") };
        for b in [bar(120, 1), bar(60, 2), bar(120, 3)] {
            assert!(m.on_bar(&b));
        }
        let closes: Vec<(u64, String)> = reader.view(&ibm).expect("active").bars.iter().map(|b| (b.start.0, b.close.to_string())).collect();
        assert_eq!(closes, [(60, "2".to_owned()), (120, "3".to_owned())]);
        m.subscribe(&ibm, None);
        assert_eq!(m.unsubscribe(&ibm, Subscriber::Http), Removed::Unsubscribed);
        assert!(reader.view(&ibm).is_none() && reader.views().is_empty(), "an inactive symbol leaves the published views");
    }
}
