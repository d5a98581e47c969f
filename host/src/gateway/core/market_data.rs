//! Market data in the core: symbol subscriptions (one broker subscription per symbol, however
//! many clients ask), their first answer (with today's bars loaded first when
//! `TXTRADER_ENABLE_SYMBOL_BARCHART` is on), historical bars, instrument lookups, and the
//! quotes, trades, statistics, bars and clock the market slot streams. Only the current
//! generation of the first slot feeds clients (see [`Core::market_slot`]).

use super::pending::PendingKind;
use super::{Core, Reply};
use crate::gateway::bus::GatewayEvent;
use crate::gateway::market::{Removed, Subscriber, SymbolView};
use crate::gateway::GatewayError;
use crate::gateway::entry::Entry;
use indexmap::IndexMap;
use std::time::Instant;
use txtrader_plugin_api::model::{Bar, BarInterval, Quote, SessionStats, Symbol, Trade, UnixNanos};
use txtrader_plugin_api::wire::{MarketSnapshot, RequestBody};

/// Who waits for a symbol's first answer.
pub(super) type SymbolReply = Reply<Result<Option<SymbolView>, GatewayError>>;

/// An active symbol without its first prices yet: `add_symbol` answers once it has a quote and
/// a last trade, or with what it has at `until` (the original waits for the broker's initial
/// quote; a broker that sends its values one by one, TWS, would otherwise answer `last 0`).
pub(super) struct AwaitingPrices {
    pub(super) replies: Vec<SymbolReply>,
    pub(super) until: Instant,
}

/// A symbol being subscribed: who waits, and the snapshot once it came.
pub(super) struct Subscribing {
    /// When the first caller asked (the first answer is due `TXTRADER_TIMEOUT_ADDSYMBOL` later).
    pub(super) since: Instant,
    pub(super) waiters: Vec<(Option<Subscriber>, SymbolReply)>,
    pub(super) snapshot: Option<MarketSnapshot>,
    /// Live bars that completed while today's bars were loading.
    pub(super) live_bars: Vec<Bar>,
}

impl Core {
    pub(super) fn add_symbol(&mut self, symbol: Symbol, subscriber: Option<Subscriber>, reply: SymbolReply) {
        if self.market.is_active(&symbol) {
            self.market.subscribe(&symbol, subscriber);
            match self.awaiting_prices.get_mut(&symbol) {
                Some(waiting) => waiting.replies.push(reply),
                None => self.answer(reply, Ok(self.market.view(&symbol))),
            }
            return;
        }
        if let Some(s) = self.subscribing.get_mut(&symbol) {
            s.waiters.push((subscriber, reply));
            return;
        }
        let timeout = self.settings.timeouts.add_symbol;
        self.subscribing.insert(symbol.clone(), Subscribing { since: Instant::now(), waiters: vec![(subscriber, reply)], snapshot: None, live_bars: Vec::new() });
        let slot = self.market_slot();
        let _ = self.send_to(slot, RequestBody::Subscribe { symbol: symbol.clone(), exchange: self.exchanges.get(&symbol).cloned() }, Some(("subscribe", timeout, PendingKind::Subscribe { symbol })));
    }

    /// Drops a subscriber from a symbol; the broker subscription goes with the last one.
    pub(super) fn remove_symbol(&mut self, symbol: Symbol, subscriber: Subscriber, reply: Reply<bool>) {
        let removed = self.market.unsubscribe(&symbol, subscriber);
        if removed == Removed::Unsubscribed {
            self.answer_prices(&symbol, true);
            self.unsubscribe(symbol);
        }
        self.answer(reply, removed != Removed::NotActive);
    }

    /// Drops a stream session's subscriptions.
    pub(super) fn remove_subscriber(&mut self, subscriber: Subscriber) {
        for symbol in self.market.unsubscribe_everywhere(subscriber) {
            self.unsubscribe(symbol);
        }
    }

    pub(super) fn unsubscribe(&mut self, symbol: Symbol) {
        let timeout = self.settings.timeouts.default;
        let slot = self.market_slot();
        let _ = self.send_to(slot, RequestBody::Unsubscribe { symbol: symbol.clone() }, Some(("unsubscribe", timeout, PendingKind::Unsubscribe { symbol })));
    }

    /// Historical bars of an active symbol, from the market slot.
    pub(super) fn bars(&mut self, symbol: Symbol, interval: BarInterval, start: UnixNanos, end: UnixNanos, reply: Reply<Result<Vec<Bar>, GatewayError>>) {
        if !self.market.is_active(&symbol) {
            self.answer(reply, Err(GatewayError::NotActive(symbol)));
            return;
        }
        let timeout = self.settings.timeouts.barchart;
        let slot = self.market_slot();
        let _ = self.send_to(slot, RequestBody::Bars { exchange: self.exchanges.get(&symbol).cloned(), symbol, interval, start, end }, Some(("bars", timeout, PendingKind::Bars { reply })));
    }

    /// Sets (or removes) a symbol's primary exchange.
    pub(super) fn set_primary_exchange(&mut self, symbol: Symbol, exchange: Option<String>, reply: Reply<IndexMap<Symbol, String>>) {
        self.record(Entry::PrimaryExchange { symbol: symbol.clone(), exchange: exchange.clone() });
        match exchange {
            Some(e) => {
                self.exchanges.insert(symbol, e);
            }
            None => {
                self.exchanges.shift_remove(&symbol);
            }
        }
        self.answer(reply, self.exchanges.clone());
    }

    /// The broker answered a subscription: today's bars are loaded first (so the first answer
    /// already carries them), or the symbol is active at once.
    pub(super) fn subscribed(&mut self, symbol: Symbol, snapshot: MarketSnapshot) {
        if let Some(s) = self.subscribing.get_mut(&symbol) {
            s.snapshot = Some(snapshot.clone());
        }
        if self.settings.flags.symbol_barchart {
            let session = &snapshot.instrument.session;
            let tz: chrono_tz::Tz = session.timezone.parse().unwrap_or(self.settings.timezone);
            let now = UnixNanos::now();
            let today = now.to_datetime().with_timezone(&tz).date_naive();
            let start = today.and_time(session.start).and_local_timezone(tz).earliest().map_or(now, UnixNanos::from);
            let body = RequestBody::Bars { symbol: symbol.clone(), interval: BarInterval::Minutes(1), start, end: now, exchange: self.exchanges.get(&symbol).cloned() };
            let timeout = self.settings.timeouts.barchart;
            let slot = self.market_slot();
            // On refusal, fail_pending activates the symbol without bars.
            let _ = self.send_to(slot, body, Some(("symbol bars", timeout, PendingKind::SymbolBars { symbol })));
        } else {
            self.activate(&symbol, Vec::new());
        }
    }

    /// The broker does not know the symbol: its waiters get `None`.
    pub(super) fn symbol_invalid(&mut self, symbol: &Symbol, reason: &str) {
        tracing::info!(%symbol, reason, "symbol invalid");
        if let Some(s) = self.subscribing.remove(symbol) {
            for (_, reply) in s.waiters {
                self.answer(reply, Ok(None));
            }
        }
    }

    /// The market answer of a subscription still loading its bars.
    pub(super) fn pending_market(&mut self, symbol: &Symbol) -> Option<&mut MarketSnapshot> {
        self.subscribing.get_mut(symbol).and_then(|s| s.snapshot.as_mut())
    }

    pub(super) fn activate(&mut self, symbol: &Symbol, mut bars: Vec<Bar>) {
        let Some(sub) = self.subscribing.remove(symbol) else { return };
        let Some(snapshot) = sub.snapshot else { return };
        // live bars that completed meanwhile: newer than what was loaded, or the same minute
        bars.extend(sub.live_bars);
        self.market.activate(snapshot, bars);
        for (subscriber, _) in &sub.waiters {
            self.market.subscribe(symbol, *subscriber);
        }
        let replies: Vec<SymbolReply> = sub.waiters.into_iter().map(|(_, reply)| reply).collect();
        let until = sub.since + self.settings.timeouts.add_symbol;
        if self.market.priced(symbol) || replies.is_empty() || Instant::now() >= until {
            let view = self.market.view(symbol);
            for reply in replies {
                self.answer(reply, Ok(view.clone()));
            }
        } else {
            self.awaiting_prices.insert(symbol.clone(), AwaitingPrices { replies, until });
        }
    }

    /// Answers those waiting for a symbol's first prices, when it has them (or `force`).
    fn answer_prices(&mut self, symbol: &Symbol, force: bool) {
        if !force && !self.market.priced(symbol) {
            return;
        }
        if let Some(waiting) = self.awaiting_prices.remove(symbol) {
            let view = self.market.view(symbol);
            for reply in waiting.replies {
                self.answer(reply, Ok(view.clone()));
            }
        }
    }

    /// Answers, with what it has, every symbol whose first prices did not come in time.
    pub(super) fn expire_awaiting_prices(&mut self, now: Instant) {
        let due: Vec<Symbol> = self.awaiting_prices.iter().filter(|(_, w)| now >= w.until).map(|(s, _)| s.clone()).collect();
        for symbol in due {
            tracing::info!(%symbol, "no full quote within TXTRADER_TIMEOUT_ADDSYMBOL: add_symbol answers with what it has");
            self.answer_prices(&symbol, true);
        }
    }

    /// Subscribes again to the active symbols (after a reconnection or a new generation).
    pub(super) fn resubscribe(&mut self) {
        let slot = self.market_slot();
        for symbol in self.market.symbols() {
            if !self.subscribing.contains_key(&symbol) {
                self.subscribing.insert(symbol.clone(), Subscribing { since: Instant::now(), waiters: Vec::new(), snapshot: None, live_bars: Vec::new() });
                let timeout = self.settings.timeouts.add_symbol;
                let _ = self.send_to(slot, RequestBody::Subscribe { symbol: symbol.clone(), exchange: self.exchanges.get(&symbol).cloned() }, Some(("subscribe", timeout, PendingKind::Subscribe { symbol })));
            }
        }
    }

    pub(super) fn lookup_instrument(&mut self, symbol: &Symbol) {
        if self.market.instrument(symbol).is_some() || self.lookups.contains(symbol) {
            return;
        }
        self.lookups.insert(symbol.clone());
        let timeout = self.settings.timeouts.order_status;
        let slot = self.market_slot();
        let _ = self.send_to(slot, RequestBody::Instrument { symbol: symbol.clone(), exchange: self.exchanges.get(symbol).cloned() }, Some(("instrument", timeout, PendingKind::Lookup { symbol: symbol.clone() })));
    }

    // Market data for a symbol whose subscription is answered but not yet active (its bars are
    // loading) updates the answer it will be activated with: a broker that sends each value
    // once (TWS) loses nothing.

    pub(super) fn on_quote(&mut self, q: Quote) {
        if self.market.on_quote(&q) {
            if !self.awaiting_prices.is_empty() {
                self.answer_prices(&q.symbol, false);
            }
            self.publish(GatewayEvent::Quote(q));
        } else if let Some(snap) = self.pending_market(&q.symbol) {
            snap.quote = Some(q);
        }
    }

    pub(super) fn on_trade(&mut self, t: Trade) {
        if self.market.on_trade(&t) {
            if !self.awaiting_prices.is_empty() {
                self.answer_prices(&t.symbol, false);
            }
            let stats = self.market.stats(&t.symbol);
            self.publish(GatewayEvent::Trade { trade: t, stats });
        } else if let Some(snap) = self.pending_market(&t.symbol) {
            snap.last_trade = Some(t);
        }
    }

    pub(super) fn on_stats(&mut self, s: SessionStats) {
        if !self.market.on_stats(&s) {
            if let Some(snap) = self.pending_market(&s.symbol) {
                snap.stats = Some(s);
            }
        }
    }

    pub(super) fn on_bar(&mut self, b: Bar) {
        if self.market.on_bar(&b) {
            self.publish(GatewayEvent::Bar(b));
        } else if let Some(s) = self.subscribing.get_mut(&b.symbol).filter(|s| s.snapshot.is_some()) {
            s.live_bars.push(b);
        }
    }

    pub(super) fn on_clock(&mut self, time: UnixNanos) {
        if !self.settings.flags.seconds_tick {
            return;
        }
        self.clock_tx.send_replace(Some(time));
        let minute = time.as_secs() / 60;
        if self.last_minute != Some(minute) {
            self.last_minute = Some(minute);
            self.publish(GatewayEvent::Time(time));
        }
    }
}
