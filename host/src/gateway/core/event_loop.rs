//! The core's loop and its output gate.
//!
//! [`Core::run`] takes one thing at a time: a command, an adapter event, the journal reporting
//! records durable, or the one-second timer; each is dispatched to the concern that owns it.
//! Every change to the books is [`Core::record`]ed (booked and journaled) and everything it
//! causes — a reply, a bus event, a request to a broker — waits in the output gate
//! ([`Core::after_journal`]) until the journal has the change on disk.

use super::{Core, Tagged};
use crate::gateway::bus::GatewayEvent;
use crate::gateway::oms::Booked;
use crate::gateway::Command;
use crate::gateway::entry::{Entry, Published};
use crate::journal::Journal;
use crate::shutdown::ExitReason;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use txtrader_plugin_api::model::ConnectionStatus;
use txtrader_plugin_api::wire::{AdapterEvent, AlertLevel};

/// Sequence numbers reserved in the journal at a time.
const SEQ_BLOCK: u64 = 100_000;

impl Core {
    pub(in crate::gateway) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        tracing::info!("connection-status: {}", self.status());
        let Some(mut events) = self.events_rx.take() else { return };
        for slot in 0..self.slots.len() {
            if let Err(e) = self.start_slot(slot) {
                let name = self.slots[slot].spec.name.clone();
                self.shutdown.trigger(ExitReason::Fatal(format!("adapter {name}: {e}")));
            }
        }
        self.recompute_status();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let shutdown = self.shutdown.clone();
        let stopping = shutdown.wait();
        tokio::pin!(stopping);
        let mut durable = self.journal.as_ref().map(Journal::watch);
        let journaled = durable.is_some();
        loop {
            tokio::select! {
                biased;
                reason = &mut stopping => {
                    tracing::info!(?reason, "gateway core stopping");
                    break;
                }
                changed = async { durable.as_mut()?.changed().await.ok() }, if journaled => {
                    if changed.is_none() {
                        self.shutdown.trigger(ExitReason::Fatal("the journal writer stopped".into()));
                        break;
                    }
                    let failed = durable.as_ref().and_then(|d| d.borrow().failed.clone());
                    if let Some(why) = failed {
                        // Nothing may be acknowledged that is not on disk: stop.
                        self.shutdown.trigger(ExitReason::Fatal(format!("journal: {why}")));
                        break;
                    }
                    self.release();
                }
                Some(event) = events.recv() => self.on_adapter_event(event),
                command = commands.recv() => match command {
                    Some(c) => self.on_command(c),
                    None => break,
                },
                _ = tick.tick() => self.on_second(),
            }
            if let Some(j) = self.journal.as_mut() {
                j.flush();
            }
        }
        self.set_status(ConnectionStatus::Shutdown);
        if let Some(j) = self.journal.as_mut() {
            j.close();
        }
        self.release();
        for slot in &mut self.slots {
            if let Some(mut swap) = slot.swap.take() {
                swap.new.link.shutdown();
            }
            for (mut old, _) in std::mem::take(&mut slot.draining) {
                old.link.shutdown();
            }
            if let Some(mut g) = slot.current.take() {
                g.link.shutdown();
                tracing::info!(adapter = %slot.spec.name, generation = g.number, "adapter stopped");
            }
        }
    }

    pub(super) fn on_command(&mut self, command: Command) {
        match command {
            // market data
            Command::AddSymbol { symbol, subscriber, reply } => self.add_symbol(symbol, subscriber, reply),
            Command::RemoveSymbol { symbol, subscriber, reply } => self.remove_symbol(symbol, subscriber, reply),
            Command::RemoveSubscriber { subscriber } => self.remove_subscriber(subscriber),
            Command::Bars { symbol, interval, start, end, reply } => self.bars(symbol, interval, start, end, reply),
            Command::SetPrimaryExchange { symbol, exchange, reply } => self.set_primary_exchange(symbol, exchange, reply),
            // accounts, orders, executions, routes
            Command::Accounts { reply } => {
                self.answer(reply, self.accounts.clone());
            }
            Command::SetAccount { account, reply } => self.set_account(account, reply),
            Command::AccountSummary { account, reply } => self.account_summary(account, reply),
            Command::Positions { reply } => {
                self.answer(reply, self.positions());
            }
            Command::Submit { order, reply } => self.submit(*order, reply),
            Command::Cancel { id, reply } => self.cancel_order(&id, reply),
            Command::Modify { id, change, reply } => self.modify_order(&id, &change, reply),
            Command::GlobalCancel { reply } => self.global_cancel(reply),
            Command::SetTradingState { scope, state, reason, reply } => self.set_trading_state(scope, state, reason, reply),
            Command::SetLimits { limits } => self.set_limits(*limits),
            Command::QueryRisk { reply } => {
                let report = self.risk_report();
                self.answer(reply, report);
            }
            Command::Order { id, reply } => self.query_order(&id, reply),
            Command::Orders { class, reply } => self.query_orders(class, reply),
            Command::Executions { filter, reply } => self.query_executions(&filter, reply),
            Command::GetRoute { reply } => {
                self.answer(reply, self.route.clone());
            }
            Command::SetRoute { route, reply } => self.set_route(route, reply),
            // adapters
            Command::Adapters { reply } => {
                let views = (0..self.slots.len()).map(|i| self.view(i)).collect();
                self.answer(reply, (views, self.rejected.clone()));
            }
            Command::ReloadAdapter { name, reply } => self.reload_adapter(&name, reply),
            Command::UnloadAdapter { name, reply } => self.unload_adapter(&name, reply),
            Command::LibraryChanged { path } => {
                tracing::info!(path = %path.display(), "adapter library changed");
                self.load_library_async(path, None);
            }
            Command::LibraryLoaded { path, result, reply } => self.on_library_loaded(path, *result, reply),
            // the bus, the journal, the process
            Command::Alert { source, message } => self.alert(&source, message),
            Command::StrategyEvent { name, event, detail } => {
                self.publish(GatewayEvent::Strategy { name, event, detail });
            }
            Command::ForceShutdown { reason } => self.force_shutdown(reason),
            Command::Subscribe { capacity, reply } => {
                let _ = reply.send((self.bus.subscribe(capacity), self.bus.last_seq()));
            }
            Command::TakeRecovered { reply } => {
                let _ = reply.send(self.recovered_pushes.take().unwrap_or_default());
            }
            Command::Journal { reply } => self.journal_status(reply),
            Command::CompactJournal { reply } => match self.compact("command") {
                Ok(done) => self.answer(reply, Ok(done)),
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
        }
    }

    pub(super) fn on_adapter_event(&mut self, tagged: Tagged) {
        let Tagged { slot, generation, event } = tagged;
        if self.settings.log.debug_api_messages {
            tracing::debug!(adapter = %self.slots[slot].spec.name, generation, ?event, "<-- adapter");
        }
        let current = self.slots[slot].current.as_ref().is_some_and(|g| g.number == generation);
        let market_data = matches!(
            event,
            AdapterEvent::Quote(_) | AdapterEvent::Trade(_) | AdapterEvent::Stats(_) | AdapterEvent::Bar(_) | AdapterEvent::Clock { .. }
        );
        if market_data && !current {
            // A generation being replaced (or not yet switched to) does not feed clients; order
            // events of every generation count (the OMS drops duplicates).
            return;
        }
        match event {
            AdapterEvent::Link(state) => self.on_link(slot, generation, state),
            AdapterEvent::Reply { request_id, body } => self.on_reply(slot, generation, request_id, body),
            AdapterEvent::Failed { request_id, error } => {
                self.on_failed(request_id, error);
                if !self.slots[slot].draining.is_empty() {
                    self.check_draining(slot);
                }
            }
            AdapterEvent::Order(ev) => self.on_order_event(slot, ev),
            AdapterEvent::Quote(q) => self.on_quote(q),
            AdapterEvent::Trade(t) => self.on_trade(t),
            AdapterEvent::Stats(s) => self.on_stats(s),
            AdapterEvent::Bar(b) => self.on_bar(b),
            AdapterEvent::Clock { time } => {
                if slot == self.market_slot() {
                    self.on_clock(time);
                }
            }
            AdapterEvent::Account(_) => {}
            AdapterEvent::Commission { exec_id, commission } => self.on_commission(exec_id, commission),
            AdapterEvent::Alert { level, code, message } => {
                let text = code.map_or_else(|| message.clone(), |c| format!("{c} {message}"));
                let source = self.slots[slot].spec.name.clone();
                match level {
                    AlertLevel::Info => tracing::info!(adapter = %source, "{text}"),
                    AlertLevel::Warning | AlertLevel::Error => self.alert(&source, text),
                }
            }
            AdapterEvent::Unknown => {
                tracing::warn!(adapter = %self.slots[slot].spec.name, "unknown event from adapter ignored");
            }
        }
    }

    /// Books one change: applied to the OMS and appended to the journal.
    pub(super) fn record(&mut self, entry: Entry) -> Booked {
        let booked = self.oms.book(&entry);
        if let Some(j) = self.journal.as_mut() {
            j.append(entry);
        }
        booked
    }

    /// Runs `f` once everything journaled so far is on disk, after every output held before
    /// it: the output gate. Replies, bus events and requests to brokers all pass here, so no
    /// one hears of a change the journal could still lose. Without pending records (and
    /// without a journal) `f` runs at once.
    pub(super) fn after_journal(&mut self, f: impl FnOnce(&mut Self) + Send + 'static) {
        let Some(j) = self.journal.as_ref() else { return f(self) };
        let (appended, durable) = (j.appended(), j.durable());
        if self.held.is_empty() && appended <= durable {
            f(self);
        } else {
            self.held.push_back((appended, Box::new(f)));
        }
    }

    /// Runs the held outputs whose records are now on disk.
    pub(super) fn release(&mut self) {
        loop {
            let durable = self.journal.as_ref().map_or(u64::MAX, Journal::durable);
            match self.held.front() {
                Some((pos, _)) if *pos <= durable => {
                    if let Some((_, f)) = self.held.pop_front() {
                        f(self);
                    }
                }
                _ => break,
            }
        }
    }

    /// Answers a caller through the output gate.
    pub(super) fn answer<T: Send + 'static>(&mut self, reply: oneshot::Sender<T>, value: T) {
        self.after_journal(move |_| {
            let _ = reply.send(value);
        });
    }

    /// Numbers an event now, journals order and execution events (for `resume`), and
    /// publishes it through the output gate.
    pub(super) fn publish(&mut self, event: GatewayEvent) {
        let seq = self.bus.number();
        if let Some(j) = self.journal.as_mut() {
            if seq > self.seq_reserved {
                self.seq_reserved = seq + SEQ_BLOCK;
                j.append(Entry::SeqReserved { through: self.seq_reserved });
            }
            if let Some(published) = Published::of(&event) {
                // Journaled by reference: replay rebuilds the books to this point, where they
                // hold exactly what the view shows.
                debug_assert_eq!(
                    published.by_reference().resolve(&self.oms).as_ref().and_then(Published::of).as_ref(),
                    Some(&published),
                    "a published view must be the books' state when it is published"
                );
                j.append(Entry::Published { seq, event: published.by_reference() });
                self.recent.push_back((seq, published));
                crate::gateway::bus::trim_oldest(&mut self.recent, self.settings.keep_pushes, |(s, _)| *s, &mut self.recent_evicted);
            }
        }
        self.after_journal(move |c| c.bus.publish_numbered(seq, event));
    }

    pub(super) fn alert(&mut self, source: &str, message: String) {
        tracing::warn!(source, "ALERT: {message}");
        self.publish(GatewayEvent::Error { source: source.to_owned(), message });
    }

    pub(super) fn adapter_event(&mut self, name: &str, event: &'static str, detail: serde_json::Value) {
        tracing::info!(adapter = name, event, %detail, "adapter lifecycle");
        self.publish(GatewayEvent::Adapter { name: name.to_owned(), event, detail });
    }
}
