//! The gateway core: the one task that owns the trading state and the adapter instances.
//!
//! It serialises everything: client commands, adapter events and a one-second timer are handled
//! one at a time in [`Core::run`], so no state is ever shared or locked. Requests to an adapter
//! that expect an answer are remembered with a deadline; the timer expires them (the caller gets
//! a timeout, stream clients an error).
//!
//! Each `TXTRADER_MODE` entry is a **slot**: an adapter instance name with its current
//! **generation** (one running instance). Orders route to the slot that owns their account;
//! market data comes from the first slot. A slot gets a new generation when a new build of its
//! library lands, when an operator reloads it, or when it faulted: the new generation is
//! created and greeted, the old one exports its state and the new one imports it (for adapters
//! announcing `state-handover`; others reconcile from their broker), requests are held
//! meanwhile, then routing switches, the new generation reports its snapshot (which reconciles
//! the books) and the old one drains (answers what was sent to it, up to 10 s) and is shut
//! down — its library stays mapped. Anything failing before
//! the switch aborts the swap and leaves the old generation serving.
//!
//! A faulted slot (its adapter panicked, failed to queue a request, or reported `Failed`) refuses
//! requests with the reason and is restarted with backoff (1 s, 2 s, 4 s … 60 s): the new
//! generation starts fresh and reconciles from its broker. Every generation's order events
//! count; market data only from the current one.
//!
//! The gateway status follows the original: `Startup` → `Pending` (adapters created) →
//! `Initializing` (connected, loading snapshots) → `Up` once every instance serves; after that it
//! follows the first instance, `Disconnected` while it is faulted or has lost its broker.

use super::bus::{Bus, GatewayEvent, Sequenced};
use super::market::{Market, Removed, Subscriber, SymbolView};
use super::oms::{Booked, Oms, Outcome, Refusal};
use super::recovery::Recovered;
use crate::journal::{Entry, Journal, Published};
use super::{
    AdapterView, CancelOutcome, Command, ExecFilter, ExecutionView, GatewayError, GatewaySettings, NewOrder,
    OrderView, Positions, RejectedLibrary, SubmitError,
};
use crate::adapters::loader::AdapterIdentity;
use crate::adapters::{AdapterLink, AdapterSource, AdapterSpec, EventSink};
use crate::shutdown::{ExitReason, Shutdown};
use chrono::{Local, Timelike};
use indexmap::IndexMap;
use serde_json::json;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};
use txtrader_plugin_api::model::{
    AccountId, AccountSummary, Bar, BarInterval, ClientOrderId, ConnectionStatus, InvalidTransition, LinkState,
    OrderRequest, OrderStatus, OrderTrigger, Route, Symbol, UnixNanos,
};
use txtrader_plugin_api::wire::{
    AdapterEvent, AdapterRequest, AlertLevel, BrokerSnapshot, HostHello, MarketSnapshot, ReplyBody, RequestBody,
    RequestId, WireError, FEATURE_GLOBAL_CANCEL, FEATURE_STATE_HANDOVER, PROTOCOL_VERSION,
};

type Reply<T> = oneshot::Sender<T>;
type SymbolReply = Reply<Result<Option<SymbolView>, GatewayError>>;
type AdapterReply = Reply<Result<AdapterView, String>>;

/// An adapter event with the slot and generation that emitted it.
struct Tagged {
    slot: usize,
    generation: u64,
    event: AdapterEvent,
}

/// A request to an adapter waiting for its answer.
struct Pending {
    deadline: Instant,
    label: &'static str,
    kind: PendingKind,
    /// The (slot, generation) it went to; a retired generation drains until none is left.
    target: Option<(usize, u64)>,
}

enum PendingKind {
    Hello { slot: usize, generation: u64 },
    Snapshot { slot: usize, generation: u64, reconcile: bool },
    SwapHello { slot: usize },
    SwapExport { slot: usize },
    SwapImport { slot: usize },
    Subscribe { symbol: Symbol },
    SymbolBars { symbol: Symbol },
    Unsubscribe { symbol: Symbol },
    Lookup { symbol: Symbol },
    Bars { reply: Reply<Result<Vec<Bar>, GatewayError>> },
    Account { reply: Reply<Result<Option<AccountSummary>, GatewayError>> },
}

/// A symbol being subscribed: who waits, and the snapshot once it came.
struct Subscribing {
    waiters: Vec<(Option<Subscriber>, SymbolReply)>,
    snapshot: Option<MarketSnapshot>,
    /// Live bars that completed while today's bars were loading.
    live_bars: Vec<Bar>,
}

/// A client waiting for the broker's first answer about its new order.
struct OrderWaiter {
    deadline: Instant,
    reply: Reply<Result<OrderView, SubmitError>>,
}

/// One running adapter instance.
struct Generation {
    number: u64,
    link: Box<dyn AdapterLink>,
    source: AdapterSource,
    features: Vec<String>,
    hello_done: bool,
    link_up: bool,
    snapshot_requested: bool,
    loaded_at: UnixNanos,
}

impl Generation {
    fn hands_over(&self) -> bool {
        self.features.iter().any(|f| f == FEATURE_STATE_HANDOVER)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotState {
    /// Created or reconnecting: not yet reconciled with its broker.
    Starting,
    /// Serving.
    Ready,
    /// A new generation is taking over; requests are held.
    Swapping,
    /// It panicked or failed; a restart is scheduled.
    Faulted,
    /// Unloaded by an operator.
    Stopped,
}

impl SlotState {
    fn name(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Ready => "ready",
            Self::Swapping => "swapping",
            Self::Faulted => "faulted",
            Self::Stopped => "unloaded",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SwapReason {
    NewBuild,
    Reload,
    Restart,
}

/// A new generation taking over a slot.
struct Swap {
    new: Generation,
    reason: SwapReason,
    exported: Option<String>,
    waiters: Vec<AdapterReply>,
    started: Instant,
}

/// An adapter instance name's place in the gateway.
struct Slot {
    spec: AdapterSpec,
    current: Option<Generation>,
    state: SlotState,
    generations: u64,
    accounts: Vec<AccountId>,
    last_error: Option<String>,
    retired: u64,
    held: VecDeque<AdapterRequest>,
    swap: Option<Swap>,
    /// Replaced generations still answering requests sent to them, with a deadline.
    draining: Vec<(Generation, Instant)>,
    restart_attempts: u32,
    restart_at: Option<Instant>,
}

pub(super) struct Core {
    settings: GatewaySettings,
    status_tx: watch::Sender<ConnectionStatus>,
    clock_tx: watch::Sender<Option<UnixNanos>>,
    shutdown: Shutdown,
    commands_tx: mpsc::Sender<Command>,
    events_tx: mpsc::UnboundedSender<Tagged>,
    events_rx: Option<mpsc::UnboundedReceiver<Tagged>>,
    slots: Vec<Slot>,
    account_slot: HashMap<AccountId, usize>,
    oms: Oms,
    market: Market,
    bus: Bus,
    next_request: u64,
    pending: HashMap<RequestId, Pending>,
    subscribing: HashMap<Symbol, Subscribing>,
    lookups: HashSet<Symbol>,
    order_waiters: HashMap<ClientOrderId, OrderWaiter>,
    accounts: Vec<AccountId>,
    current_account: Option<AccountId>,
    route: Route,
    exchanges: IndexMap<Symbol, String>,
    rejected: Vec<RejectedLibrary>,
    ever_up: bool,
    disconnected_since: Option<Instant>,
    reset_armed: bool,
    last_minute: Option<u64>,
    last_snapshot_request: HashMap<usize, Instant>,
    /// The durable journal (none: `TXTRADER_JOURNAL=0`).
    journal: Option<Journal>,
    /// Outputs waiting for the journal: each runs once the records appended before it are on
    /// disk, in order. See [`Core::after_journal`].
    held: VecDeque<(u64, Deferred)>,
    /// Bus sequence numbers up to this are reserved in the journal.
    seq_reserved: u64,
    /// Published events read back from the journal, for the stream hub's `resume`.
    recovered_pushes: Option<(Vec<Arc<Sequenced>>, u64)>,
    /// Orders placed before a restart that the broker had not acknowledged: how many
    /// reconciling snapshots did not know them yet.
    in_doubt: HashMap<ClientOrderId, u32>,
    /// The newest published order and execution events (what a checkpoint keeps for
    /// `resume`), and the sequence number through which older ones are dropped.
    recent: VecDeque<(u64, Published)>,
    recent_evicted: u64,
    /// When the journal was last compacted (or the core started), and the record number its
    /// current file begins with.
    compacted: (Instant, u64),
}

/// Work that waits for the journal.
type Deferred = Box<dyn FnOnce(&mut Core) + Send>;

/// Sequence numbers reserved in the journal at a time.
const SEQ_BLOCK: u64 = 100_000;

/// Reconciling snapshots that may miss an order placed before a restart before it is rejected
/// as never received.
const IN_DOUBT_CHECKS: u32 = 3;

impl Core {
    pub(super) fn new(
        settings: GatewaySettings,
        status_tx: watch::Sender<ConnectionStatus>,
        clock_tx: watch::Sender<Option<UnixNanos>>,
        shutdown: Shutdown,
        commands_tx: mpsc::Sender<Command>,
        recovered: Option<Recovered>,
    ) -> Self {
        let mut route = settings.route.clone();
        let keep_bars = settings.flags.symbol_barchart;
        let rejected = settings.rejected.clone();
        let slots = settings
            .adapters
            .iter()
            .map(|spec| Slot {
                spec: spec.clone(),
                current: None,
                state: SlotState::Starting,
                generations: 0,
                accounts: Vec::new(),
                last_error: None,
                retired: 0,
                held: VecDeque::new(),
                swap: None,
                draining: Vec::new(),
                restart_attempts: 0,
                restart_at: None,
            })
            .collect();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (mut oms, mut current_account, mut exchanges, mut bus) = (Oms::new(), None, IndexMap::new(), Bus::new());
        let (mut journal, mut seq_reserved, mut recovered_pushes, mut in_doubt) = (None, 0, None, HashMap::new());
        let (mut recent, mut recent_evicted, mut file_first) = (VecDeque::new(), 0, 1);
        if let Some(r) = recovered {
            recent = r.pushes.iter().filter_map(|p| Some((p.seq, Published::of(&p.event)?))).collect();
            recent_evicted = r.pushes_evicted_through;
            file_first = r.scan.compaction.as_ref().map_or(1, |c| c.checkpoint);
            oms = r.oms;
            route = r.route.unwrap_or(route);
            current_account = r.current_account;
            exchanges = r.exchanges;
            bus = Bus::starting_after(r.seq_reserved);
            seq_reserved = r.seq_reserved;
            recovered_pushes = Some((r.pushes.into_iter().collect(), r.pushes_evicted_through));
            in_doubt = r.in_doubt.into_iter().map(|c| (c, 0)).collect();
            journal = Some(r.journal);
        }
        Self {
            settings,
            status_tx,
            clock_tx,
            shutdown,
            commands_tx,
            events_tx,
            events_rx: Some(events_rx),
            slots,
            account_slot: HashMap::new(),
            oms,
            market: Market::new(keep_bars),
            bus,
            next_request: 0,
            pending: HashMap::new(),
            subscribing: HashMap::new(),
            lookups: HashSet::new(),
            order_waiters: HashMap::new(),
            accounts: Vec::new(),
            current_account,
            route,
            exchanges,
            rejected,
            ever_up: false,
            disconnected_since: None,
            reset_armed: false,
            last_minute: None,
            last_snapshot_request: HashMap::new(),
            journal,
            held: VecDeque::new(),
            seq_reserved,
            recovered_pushes,
            in_doubt,
            recent,
            recent_evicted,
            compacted: (Instant::now(), file_first),
        }
    }

    pub(super) fn watch_published(&self) -> watch::Receiver<u64> {
        self.bus.watch_published()
    }

    pub(super) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
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

    // ----- helpers

    fn set_status(&mut self, status: ConnectionStatus) {
        let changed = self.status_tx.send_if_modified(|s| {
            let changed = *s != status;
            *s = status;
            changed
        });
        if changed {
            tracing::info!("connection-status-changed: {status}");
            self.publish(GatewayEvent::Status(status));
        }
    }

    fn status(&self) -> ConnectionStatus {
        *self.status_tx.borrow()
    }

    /// Derives the gateway status from the slots. It first becomes `Up` when every adapter
    /// instance serves; after that it follows the first one (which also serves market data):
    /// another instance's fault is that instance's (its orders are refused with the reason, it
    /// restarts), not the whole gateway's.
    fn recompute_status(&mut self) {
        if self.status() == ConnectionStatus::Shutdown {
            return;
        }
        let serving = |s: &Slot| matches!(s.state, SlotState::Ready | SlotState::Swapping);
        let connected = |s: &Slot| s.current.as_ref().is_some_and(|g| g.hello_done && g.link_up);
        let active: Vec<&Slot> = self.slots.iter().filter(|s| s.state != SlotState::Stopped).collect();
        let status = if active.is_empty() {
            ConnectionStatus::Disconnected
        } else if self.ever_up {
            if serving(&self.slots[self.market_slot()]) { ConnectionStatus::Up } else { ConnectionStatus::Disconnected }
        } else if active.iter().all(|s| serving(s)) {
            ConnectionStatus::Up
        } else if active.iter().any(|s| connected(s)) {
            ConnectionStatus::Initializing
        } else {
            ConnectionStatus::Pending
        };
        if status == ConnectionStatus::Up {
            self.ever_up = true;
            self.disconnected_since = None;
        } else if status == ConnectionStatus::Disconnected {
            self.disconnected_since.get_or_insert_with(Instant::now);
        }
        self.set_status(status);
    }

    /// Books one change: applied to the OMS and appended to the journal.
    fn record(&mut self, entry: Entry) -> Booked {
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
    fn after_journal(&mut self, f: impl FnOnce(&mut Self) + Send + 'static) {
        let Some(j) = self.journal.as_ref() else { return f(self) };
        let (appended, durable) = (j.appended(), j.durable());
        if self.held.is_empty() && appended <= durable {
            f(self);
        } else {
            self.held.push_back((appended, Box::new(f)));
        }
    }

    /// Runs the held outputs whose records are now on disk.
    fn release(&mut self) {
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
    fn answer<T: Send + 'static>(&mut self, reply: oneshot::Sender<T>, value: T) {
        self.after_journal(move |_| {
            let _ = reply.send(value);
        });
    }

    /// Numbers an event now, journals order and execution events (for `resume`), and
    /// publishes it through the output gate.
    fn publish(&mut self, event: GatewayEvent) {
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
                super::bus::trim_oldest(&mut self.recent, self.settings.keep_pushes, |(s, _)| *s, &mut self.recent_evicted);
            }
        }
        self.after_journal(move |c| c.bus.publish_numbered(seq, event));
    }

    fn alert(&mut self, source: &str, message: String) {
        tracing::warn!(source, "ALERT: {message}");
        self.publish(GatewayEvent::Error { source: source.to_owned(), message });
    }

    fn adapter_event(&mut self, name: &str, event: &'static str, detail: serde_json::Value) {
        tracing::info!(adapter = name, event, %detail, "adapter lifecycle");
        self.publish(GatewayEvent::Adapter { name: name.to_owned(), event, detail });
    }

    fn next_id(&mut self) -> RequestId {
        self.next_request += 1;
        RequestId(self.next_request)
    }

    fn sink(&self, slot: usize, generation: u64) -> EventSink {
        let tx = self.events_tx.clone();
        Arc::new(move |event| {
            // A closed channel means the gateway is stopping; nothing waits for the event.
            let _ = tx.send(Tagged { slot, generation, event });
        })
    }

    /// Creates a new generation of a slot from a source (not yet greeted).
    fn create_generation(&mut self, slot: usize, source: AdapterSource) -> Result<Generation, String> {
        let number = self.slots[slot].generations + 1;
        let sink = self.sink(slot, number);
        let link = source.create(&self.slots[slot].spec.config, sink).map_err(|e| e.to_string())?;
        self.slots[slot].generations = number;
        Ok(Generation {
            number,
            link,
            source,
            features: Vec::new(),
            hello_done: false,
            link_up: false,
            snapshot_requested: false,
            loaded_at: UnixNanos::now(),
        })
    }

    fn hello() -> RequestBody {
        RequestBody::Hello(HostHello {
            protocol_version: PROTOCOL_VERSION,
            host_version: env!("CARGO_PKG_VERSION").into(),
            features: vec![FEATURE_STATE_HANDOVER.to_owned()],
        })
    }

    /// Starts a slot's first generation (or its next one after an unload).
    fn start_slot(&mut self, slot: usize) -> Result<(), String> {
        let source = self.slots[slot].spec.source.clone();
        let mut g = self.create_generation(slot, source)?;
        let id = self.next_id();
        let label = "hello";
        g.link.send(&AdapterRequest { id, body: Self::hello() }).map_err(|e| format!("hello refused: {e}"))?;
        let timeout = self.settings.timeouts.default;
        let (kind, target) = (PendingKind::Hello { slot, generation: g.number }, Some((slot, g.number)));
        self.pending.insert(id, Pending { deadline: Instant::now() + timeout, label, kind, target });
        let (name, number) = (self.slots[slot].spec.name.clone(), g.number);
        let detail = json!({"generation": number, "version": g.source.identity.version, "source": g.source.origin()});
        self.slots[slot].current = Some(g);
        self.slots[slot].state = SlotState::Starting;
        self.adapter_event(&name, "loaded", detail);
        Ok(())
    }

    /// Sends a request to a slot's running generation: held during a swap, refused when the
    /// slot is faulted or unloaded. Whoever waits is answered at once on refusal, which is also
    /// returned (and alerted).
    fn send_to(&mut self, slot: usize, body: RequestBody, pending: Option<(&'static str, Duration, PendingKind)>) -> Result<(), String> {
        let id = self.next_id();
        let request = AdapterRequest { id, body };
        if self.settings.log.api_messages {
            tracing::info!(adapter = %self.slots[slot].spec.name, ?request, "--> adapter");
        }
        let s = &mut self.slots[slot];
        // (message, whether the adapter itself failed)
        let outcome: Result<Option<(usize, u64)>, (String, bool)> = match (s.state, s.current.as_mut()) {
            (SlotState::Swapping, _) => {
                s.held.push_back(request);
                Ok(None)
            }
            (SlotState::Faulted | SlotState::Stopped, _) | (_, None) => {
                Err((format!("adapter {} is {}", s.spec.name, s.state.name()), false))
            }
            // `handle` only queues: an adapter that cannot even do that is broken.
            (_, Some(g)) => g
                .link
                .send(&request)
                .map(|()| Some((slot, g.number)))
                .map_err(|e| (format!("adapter {} failed: {e}", s.spec.name), true)),
        };
        match outcome {
            Ok(target) => {
                if let Some((label, timeout, kind)) = pending {
                    self.pending.insert(id, Pending { deadline: Instant::now() + timeout, label, kind, target });
                }
                Ok(())
            }
            Err((message, adapter_failed)) => {
                if adapter_failed {
                    self.mark_faulted(slot, message.clone());
                } else {
                    tracing::warn!(adapter = %self.slots[slot].spec.name, "request not sent: {message}");
                }
                if let Some((_, _, kind)) = pending {
                    self.fail_pending(kind, GatewayError::Adapter(message.clone()));
                }
                Err(message)
            }
        }
    }

    /// Sends straight to one generation (hand-over steps), bypassing held requests.
    fn send_to_generation(&mut self, slot: usize, new: bool, body: RequestBody, label: &'static str, kind: PendingKind) -> Result<(), String> {
        let id = self.next_id();
        let timeout = self.settings.timeouts.default;
        let s = &mut self.slots[slot];
        let g = if new { s.swap.as_mut().map(|w| &mut w.new) } else { s.current.as_mut() };
        let Some(g) = g else { return Err("no such generation".into()) };
        g.link.send(&AdapterRequest { id, body }).map_err(|e| e.to_string())?;
        let target = Some((slot, g.number));
        self.pending.insert(id, Pending { deadline: Instant::now() + timeout, label, kind, target });
        Ok(())
    }

    fn market_slot(&self) -> usize {
        self.slots.iter().position(|s| s.state != SlotState::Stopped).unwrap_or(0)
    }

    fn order_view(&self, id: &ClientOrderId) -> Option<OrderView> {
        let order = self.oms.get(id)?;
        Some(OrderView { instrument: self.market.instrument(&order.request.symbol).cloned(), order: order.clone() })
    }

    fn execution_view(&self, execution: &txtrader_plugin_api::model::Execution) -> ExecutionView {
        ExecutionView::from_books(&self.oms, execution, self.market.instrument(&execution.symbol).cloned())
    }

    fn publish_order(&mut self, id: &ClientOrderId) {
        if let Some(view) = self.order_view(id) {
            self.publish(GatewayEvent::Order(Arc::new(view)));
        }
    }

    fn lookup_instrument(&mut self, symbol: &Symbol) {
        if self.market.instrument(symbol).is_some() || self.lookups.contains(symbol) {
            return;
        }
        self.lookups.insert(symbol.clone());
        let timeout = self.settings.timeouts.order_status;
        let slot = self.market_slot();
        let _ = self.send_to(slot, RequestBody::Instrument { symbol: symbol.clone(), exchange: self.exchanges.get(symbol).cloned() }, Some(("instrument", timeout, PendingKind::Lookup { symbol: symbol.clone() })));
    }

    fn request_snapshot(&mut self, slot: usize, reconcile: bool) {
        let Some(generation) = self.slots[slot].current.as_ref().map(|g| g.number) else { return };
        self.last_snapshot_request.insert(slot, Instant::now());
        if let Some(g) = self.slots[slot].current.as_mut() {
            g.snapshot_requested = true;
        }
        let timeout = self.settings.timeouts.order_status;
        let _ = self.send_to(slot, RequestBody::Snapshot, Some(("snapshot", timeout, PendingKind::Snapshot { slot, generation, reconcile })));
    }

    fn rebuild_accounts(&mut self) {
        let mut map: HashMap<AccountId, usize> = HashMap::new();
        let mut conflicts = Vec::new();
        for (i, s) in self.slots.iter().enumerate() {
            for a in &s.accounts {
                // The first instance in TXTRADER_MODE order keeps an account both report.
                if let Some(&owner) = map.get(a) {
                    if owner != i {
                        conflicts.push(format!("account {a} is reported by {} and {}; orders go to {}", self.slots[owner].spec.name, s.spec.name, self.slots[owner].spec.name));
                    }
                } else {
                    map.insert(a.clone(), i);
                }
            }
        }
        for c in conflicts {
            self.alert("ADAPTERS", c);
        }
        let mut all: Vec<AccountId> = map.keys().cloned().collect();
        all.sort();
        self.account_slot = map;
        if all != self.accounts {
            self.accounts = all.clone();
            self.publish(GatewayEvent::Accounts(all));
        }
    }

    fn view(&self, slot: usize) -> AdapterView {
        let s = &self.slots[slot];
        let g = s.current.as_ref();
        let identity: &AdapterIdentity = g.map_or(&s.spec.source.identity, |g| &g.source.identity);
        AdapterView {
            name: s.spec.name.clone(),
            kind: s.spec.kind.clone(),
            version: identity.version.clone(),
            build_id: identity.build_id(),
            source: g.map_or_else(|| s.spec.source.origin(), |g| g.source.origin()),
            generation: g.map_or(0, |g| g.number),
            state: s.state.name(),
            accounts: s.accounts.clone(),
            loaded_at: g.map(|g| g.loaded_at),
            last_error: s.last_error.clone(),
            retired_generations: s.retired,
            features: g.map(|g| g.features.clone()).unwrap_or_default(),
        }
    }

    fn slot_named(&self, name: &str) -> Option<usize> {
        self.slots.iter().position(|s| s.spec.name == name)
    }

    // ----- adapter events

    fn on_adapter_event(&mut self, tagged: Tagged) {
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
            // Market data for a symbol whose subscription is answered but not yet active (its
            // bars are loading) updates the answer it will be activated with: a broker that
            // sends each value once (TWS) loses nothing.
            AdapterEvent::Quote(q) => {
                if self.market.on_quote(&q) {
                    self.publish(GatewayEvent::Quote(q));
                } else if let Some(snap) = self.pending_market(&q.symbol) {
                    snap.quote = Some(q);
                }
            }
            AdapterEvent::Trade(t) => {
                if self.market.on_trade(&t) {
                    let stats = self.market.stats(&t.symbol).cloned();
                    self.publish(GatewayEvent::Trade { trade: t, stats });
                } else if let Some(snap) = self.pending_market(&t.symbol) {
                    snap.last_trade = Some(t);
                }
            }
            AdapterEvent::Stats(s) => {
                if !self.market.on_stats(&s) {
                    if let Some(snap) = self.pending_market(&s.symbol) {
                        snap.stats = Some(s);
                    }
                }
            }
            AdapterEvent::Bar(b) => {
                if self.market.on_bar(&b) {
                    self.publish(GatewayEvent::Bar(b));
                } else if let Some(s) = self.subscribing.get_mut(&b.symbol).filter(|s| s.snapshot.is_some()) {
                    s.live_bars.push(b);
                }
            }
            AdapterEvent::Clock { time } => {
                if slot == self.market_slot() {
                    self.on_clock(time);
                }
            }
            AdapterEvent::Account(_) => {}
            AdapterEvent::Commission { exec_id, commission } => {
                // booked with an execution the books have; a report for one they do not (yet)
                // have is dropped: a snapshot carries it with the execution
                if self.oms.execution(exec_id.as_str()).is_some() {
                    self.record(Entry::Commission { exec_id, commission });
                } else {
                    tracing::debug!(%exec_id, "commission for an execution not in the books");
                }
            }
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

    fn on_link(&mut self, slot: usize, generation: u64, state: LinkState) {
        let name = self.slots[slot].spec.name.clone();
        tracing::info!(adapter = %name, generation, ?state, "broker link");
        let is_new = self.slots[slot].swap.as_ref().is_some_and(|w| w.new.number == generation);
        let is_current = self.slots[slot].current.as_ref().is_some_and(|g| g.number == generation);
        if is_new {
            let Some(swap) = self.slots[slot].swap.as_mut() else { return };
            match state {
                LinkState::Connected => swap.new.link_up = true,
                LinkState::Failed { reason } => self.abort_swap(slot, format!("new generation failed: {reason}")),
                _ => swap.new.link_up = false,
            }
            return;
        }
        if !is_current {
            return; // a retired generation
        }
        match state {
            LinkState::Connecting => {
                if let Some(g) = self.slots[slot].current.as_mut() {
                    g.link_up = false;
                }
            }
            LinkState::Connected => {
                if let Some(g) = self.slots[slot].current.as_mut() {
                    g.link_up = true;
                    g.snapshot_requested = false;
                }
                self.maybe_snapshot(slot);
            }
            LinkState::Disconnected { reason } => {
                if let Some(g) = self.slots[slot].current.as_mut() {
                    g.link_up = false;
                }
                if self.slots[slot].state == SlotState::Ready {
                    self.slots[slot].state = SlotState::Starting;
                }
                self.alert(&name, format!("API Disconnected: {reason}"));
            }
            LinkState::Failed { reason } => self.mark_faulted(slot, reason),
            LinkState::Unknown => {}
        }
        self.recompute_status();
    }

    /// Once greeted and connected, a generation reports its state; the slot is up after that.
    fn maybe_snapshot(&mut self, slot: usize) {
        let ready = self.slots[slot].current.as_ref().is_some_and(|g| g.hello_done && g.link_up && !g.snapshot_requested);
        if ready && matches!(self.slots[slot].state, SlotState::Starting) {
            // The broker's day is the truth: orders it never heard of are closed on the books.
            self.request_snapshot(slot, true);
        }
        self.recompute_status();
    }

    fn on_reply(&mut self, slot: usize, generation: u64, id: RequestId, body: ReplyBody) {
        self.on_reply_inner(slot, generation, id, body);
        // It may have been the last thing a draining generation owed.
        if !self.slots[slot].draining.is_empty() {
            self.check_draining(slot);
        }
    }

    fn on_reply_inner(&mut self, slot: usize, generation: u64, id: RequestId, body: ReplyBody) {
        let Some(pending) = self.pending.remove(&id) else {
            tracing::warn!(%id, "reply to no pending request (expired?)");
            if let ReplyBody::State { state } = body {
                // An export that came too late froze a generation that still serves: thaw it.
                let serving = self.slots[slot].current.as_ref().is_some_and(|g| g.number == generation);
                if serving && self.slots[slot].swap.is_none() {
                    let id = self.next_id();
                    if let Some(g) = self.slots[slot].current.as_mut() {
                        let _ = g.link.send(&AdapterRequest { id, body: RequestBody::ImportState { state } });
                    }
                }
            }
            return;
        };
        match (pending.kind, body) {
            (PendingKind::Hello { slot, generation }, ReplyBody::Hello(hello)) => {
                if hello.protocol_version != PROTOCOL_VERSION {
                    let msg = format!("adapter {} speaks protocol {}, the gateway {PROTOCOL_VERSION}", hello.name, hello.protocol_version);
                    self.mark_faulted(slot, msg);
                    return;
                }
                tracing::info!(name = %hello.name, version = %hello.version, features = ?hello.features, "adapter ready");
                if let Some(g) = self.slots[slot].current.as_mut().filter(|g| g.number == generation) {
                    g.hello_done = true;
                    g.features = hello.features;
                }
                self.maybe_snapshot(slot);
            }
            (PendingKind::Snapshot { slot, generation, reconcile }, ReplyBody::Snapshot(snapshot)) => {
                if self.slots[slot].current.as_ref().is_some_and(|g| g.number == generation) {
                    self.load_snapshot(slot, snapshot, reconcile);
                }
            }
            (PendingKind::SwapHello { slot }, ReplyBody::Hello(hello)) => self.swap_greeted(slot, hello.features),
            (PendingKind::SwapExport { slot }, ReplyBody::State { state }) => {
                if let Some(w) = self.slots[slot].swap.as_mut() {
                    w.exported = Some(state.clone());
                }
                if let Err(e) = self.send_to_generation(slot, true, RequestBody::ImportState { state }, "import state", PendingKind::SwapImport { slot }) {
                    self.abort_swap(slot, format!("the new generation refused the state: {e}"));
                }
            }
            (PendingKind::SwapImport { slot }, ReplyBody::Done) => self.switch(slot, true),
            (PendingKind::Subscribe { symbol }, ReplyBody::Market(snapshot)) => {
                if let Some(s) = self.subscribing.get_mut(&symbol) {
                    s.snapshot = Some(snapshot.clone());
                }
                if self.settings.flags.symbol_barchart {
                    // Load today's bars first, so the first answer already carries them.
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
            (PendingKind::Subscribe { symbol }, ReplyBody::SymbolInvalid { reason }) => {
                tracing::info!(%symbol, reason, "symbol invalid");
                if let Some(s) = self.subscribing.remove(&symbol) {
                    for (_, reply) in s.waiters {
                        self.answer(reply, Ok(None));
                    }
                }
            }
            (PendingKind::SymbolBars { symbol }, ReplyBody::Bars { bars }) => self.activate(&symbol, bars),
            (PendingKind::Unsubscribe { symbol }, _) => tracing::debug!(%symbol, "unsubscribed"),
            (PendingKind::Lookup { symbol }, ReplyBody::Instrument(instrument)) => {
                self.lookups.remove(&symbol);
                self.market.remember(instrument);
            }
            (PendingKind::Lookup { symbol }, _) => {
                self.lookups.remove(&symbol);
            }
            (PendingKind::Bars { reply }, ReplyBody::Bars { bars }) => {
                self.answer(reply, Ok(bars));
            }
            (PendingKind::Account { reply }, ReplyBody::Account { summary }) => {
                self.answer(reply, Ok(summary));
            }
            (kind, body) => {
                let msg = format!("unexpected reply to {} request: {body:?}", pending.label);
                self.alert("RTX", msg.clone());
                self.fail_pending(kind, GatewayError::Adapter(msg));
            }
        }
    }

    fn load_snapshot(&mut self, slot: usize, snapshot: BrokerSnapshot, reconcile: bool) {
        let now = UnixNanos::now();
        let name = self.slots[slot].spec.name.clone();
        let plan = self.oms.plan_snapshot(&snapshot, reconcile);
        // What the books said of the orders the snapshot changes, for the log.
        let before: HashMap<ClientOrderId, (OrderStatus, txtrader_plugin_api::model::Quantity)> = if reconcile {
            let restated = plan.changes.orders.iter().filter_map(|s| self.oms.find(s.broker_order_id.as_str()).or_else(|| self.oms.get(&s.request.client_order_id)));
            let gone = plan.gone.iter().filter_map(|c| self.oms.get(c));
            restated.chain(gone).map(|o| (o.request.client_order_id.clone(), (o.status, o.filled))).collect()
        } else {
            HashMap::new()
        };
        let reason = "unknown to the broker at reconciliation (it acknowledged the order once)".to_owned();
        let cancel_again = plan.cancel_again;
        let entry = Entry::Snapshot { changes: plan.changes, gone: plan.gone, reason, at: now };
        let Booked::Snapshot(out) = self.record(entry) else { return };
        for id in out.new_orders.iter().chain(&out.restated).chain(&out.gone) {
            if let Some(symbol) = self.oms.get(id).map(|o| o.request.symbol.clone()) {
                self.lookup_instrument(&symbol);
            }
            if let Some(o) = self.oms.get(id) {
                // Every correction in the log, with what the books said before.
                match before.get(id) {
                    Some((status, filled)) if reconcile => tracing::warn!(
                        adapter = %name, order = %o.key(), "reconciliation: order was {status} with {filled} filled; the broker says {} with {} filled", o.status, o.filled
                    ),
                    None if reconcile => tracing::warn!(adapter = %name, order = %o.key(), "reconciliation: order first seen at the broker, {}", o.status),
                    _ => {}
                }
            }
            self.publish_order(id);
        }
        for exec_id in &out.new_executions {
            if let Some(exec) = self.oms.execution(exec_id.as_str()).cloned() {
                if reconcile {
                    tracing::warn!(adapter = %name, exec = %exec.exec_id, order = %exec.broker_order_id, "reconciliation: execution first seen at the broker, {} {} {} @ {}", exec.side, exec.quantity, exec.symbol, exec.price);
                }
                let view = self.execution_view(&exec);
                self.publish(GatewayEvent::Execution(Arc::new(view)));
            }
        }
        // A cancel that was in flight when the gateway stopped may never have reached the
        // broker: ask again (a second cancel of a cancelled order is refused harmlessly).
        for id in &cancel_again {
            let Some(o) = self.oms.get(id) else { continue };
            let Some(broker) = o.broker_order_id.clone() else { continue };
            tracing::warn!(adapter = %name, order = %broker, "reconciliation: cancel still pending at the broker; sending it again");
            let body = RequestBody::CancelOrder { client_order_id: Some(id.clone()), broker_order_id: broker };
            self.after_journal(move |c| {
                if let Err(e) = c.send_to(slot, body.clone(), None) {
                    c.fail_order_request(&AdapterRequest { id: RequestId(0), body }, &e);
                }
            });
        }
        let mut doubts_resolved = 0;
        if reconcile && !self.in_doubt.is_empty() {
            doubts_resolved = self.check_in_doubt(&snapshot, &name);
        }
        if reconcile {
            let corrections = out.gone.len() + out.restated.len() + out.new_orders.len() + out.new_executions.len() + doubts_resolved;
            if corrections > 0 {
                self.alert(
                    &name,
                    format!(
                        "reconciliation: {} orders restated, {} first seen, {} unknown to the broker and cancelled, {} executions first seen, {} cancels sent again, {} unacknowledged orders rejected",
                        out.restated.len(),
                        out.new_orders.len(),
                        out.gone.len(),
                        out.new_executions.len(),
                        cancel_again.len(),
                        doubts_resolved
                    ),
                );
            }
        }
        tracing::info!(adapter = %name, accounts = snapshot.accounts.len(), orders = snapshot.orders.len(), executions = snapshot.executions.len(), "broker snapshot loaded");
        let mut accounts = snapshot.accounts;
        accounts.sort();
        accounts.dedup();
        self.slots[slot].accounts = accounts;
        self.rebuild_accounts();
        if self.slots[slot].state == SlotState::Starting {
            self.slots[slot].state = SlotState::Ready;
            if slot == self.market_slot() {
                self.resubscribe();
            }
        }
        self.recompute_status();
    }

    /// Orders placed before a restart that the broker had not acknowledged: found in its
    /// snapshot, they were matched by their gateway id already; missing from
    /// [`IN_DOUBT_CHECKS`] reconciling snapshots of the broker that trades their account, they
    /// never reached it and are rejected. Answers how many were rejected.
    fn check_in_doubt(&mut self, snapshot: &txtrader_plugin_api::wire::BrokerSnapshot, name: &str) -> usize {
        let ids: Vec<ClientOrderId> = self.in_doubt.keys().cloned().collect();
        let mut rejected = 0;
        for id in ids {
            let Some(o) = self.oms.get(&id) else {
                self.in_doubt.remove(&id);
                continue;
            };
            if o.broker_order_id.is_some() || !o.status.is_open() {
                self.in_doubt.remove(&id);
                continue;
            }
            if !snapshot.accounts.contains(&o.request.account) {
                continue;
            }
            let checks = self.in_doubt.entry(id.clone()).or_insert(0);
            *checks += 1;
            if *checks >= IN_DOUBT_CHECKS {
                self.in_doubt.remove(&id);
                let reason = format!("not acknowledged before the gateway restarted and unknown to the broker after {IN_DOUBT_CHECKS} checks");
                tracing::warn!(adapter = %name, order = %id, "reconciliation: {reason}; rejected");
                self.record(Entry::OrderNotSent { order: id.clone(), reason, at: UnixNanos::now() });
                self.publish_order(&id);
                rejected += 1;
            }
        }
        rejected
    }

    fn on_failed(&mut self, id: RequestId, error: WireError) {
        let Some(pending) = self.pending.remove(&id) else {
            tracing::warn!(%id, %error, "failure of no pending request");
            return;
        };
        self.alert("RTX", format!("{} request failed: {error}", pending.label));
        self.fail_pending(pending.kind, GatewayError::Adapter(error.to_string()));
    }

    /// Answers whoever waits on a request that failed or expired.
    fn fail_pending(&mut self, kind: PendingKind, error: GatewayError) {
        match kind {
            PendingKind::Hello { slot, .. } => self.mark_faulted(slot, format!("adapter handshake failed: {error}")),
            PendingKind::Snapshot { slot, .. } => {
                // Try again at the next second; the slot stays Starting meanwhile.
                if let Some(g) = self.slots[slot].current.as_mut() {
                    g.snapshot_requested = false;
                }
            }
            PendingKind::SwapHello { slot } => self.abort_swap(slot, format!("the new generation did not answer hello: {error}")),
            PendingKind::SwapExport { slot } => {
                self.abort_swap(slot, format!("the running generation did not export its state: {error}"));
            }
            PendingKind::SwapImport { slot } => self.abort_swap(slot, format!("the new generation did not import the state: {error}")),
            PendingKind::Subscribe { symbol } => {
                if let Some(s) = self.subscribing.remove(&symbol) {
                    for (_, reply) in s.waiters {
                        self.answer(reply, Err(error.clone()));
                    }
                }
            }
            PendingKind::SymbolBars { symbol } => self.activate(&symbol, Vec::new()),
            PendingKind::Unsubscribe { .. } => {}
            PendingKind::Lookup { symbol } => {
                self.lookups.remove(&symbol);
            }
            PendingKind::Bars { reply } => {
                self.answer(reply, Err(error));
            }
            PendingKind::Account { reply } => {
                self.answer(reply, Err(error));
            }
        }
    }

    /// The market answer of a subscription still loading its bars.
    fn pending_market(&mut self, symbol: &Symbol) -> Option<&mut MarketSnapshot> {
        self.subscribing.get_mut(symbol).and_then(|s| s.snapshot.as_mut())
    }

    fn activate(&mut self, symbol: &Symbol, mut bars: Vec<Bar>) {
        let Some(sub) = self.subscribing.remove(symbol) else { return };
        let Some(snapshot) = sub.snapshot else { return };
        // live bars that completed meanwhile: newer than what was loaded, or the same minute
        bars.extend(sub.live_bars);
        self.market.activate(snapshot, bars);
        for (subscriber, _) in &sub.waiters {
            self.market.subscribe(symbol, *subscriber);
        }
        let view = self.market.view(symbol);
        for (_, reply) in sub.waiters {
            self.answer(reply, Ok(view.clone()));
        }
    }

    /// Subscribes again to the active symbols (after a reconnection or a new generation).
    fn resubscribe(&mut self) {
        let slot = self.market_slot();
        for symbol in self.market.symbols() {
            if !self.subscribing.contains_key(&symbol) {
                self.subscribing.insert(symbol.clone(), Subscribing { waiters: Vec::new(), snapshot: None, live_bars: Vec::new() });
                let timeout = self.settings.timeouts.add_symbol;
                let _ = self.send_to(slot, RequestBody::Subscribe { symbol: symbol.clone(), exchange: self.exchanges.get(&symbol).cloned() }, Some(("subscribe", timeout, PendingKind::Subscribe { symbol })));
            }
        }
    }

    fn on_order_event(&mut self, slot: usize, event: txtrader_plugin_api::wire::OrderEvent) {
        if self.settings.log.api_messages {
            tracing::info!(?event, "order event");
        }
        let event_id = event.event_id.clone();
        let Booked::Event(outcome) = self.record(Entry::OrderEvent(event)) else { return };
        match outcome {
            Outcome::Applied { order, first_broker_event, execution } => {
                let Some(view) = self.order_view(&order) else { return };
                if self.settings.log.order_updates {
                    tracing::info!(
                        "ORDER: {} {} OID={} ORDER_ID={}",
                        view.order.history.last().map_or("?", |u| kind_name(&u.kind)),
                        view.order.status,
                        view.order.key(),
                        event_id
                    );
                }
                // Published before the caller is answered: a stream command's reply must follow
                // the pushes it caused, and the session reads the published sequence number as
                // soon as the answer arrives.
                let view = Arc::new(view);
                self.publish(GatewayEvent::Order(view.clone()));
                if first_broker_event {
                    if let Some(w) = self.order_waiters.remove(&order) {
                        self.answer(w.reply, Ok(OrderView::clone(&view)));
                    }
                }
                if let Some(exec) = execution {
                    if self.settings.log.execution_updates {
                        tracing::info!(
                            "FILL: {} {} {} {} {} {} {}",
                            exec.exec_id,
                            exec.symbol,
                            exec.side,
                            exec.quantity,
                            exec.price,
                            exec.leaves_quantity,
                            exec.account
                        );
                    }
                    let view = self.execution_view(&exec);
                    self.publish(GatewayEvent::Execution(Arc::new(view)));
                }
            }
            Outcome::Duplicate => {
                if self.settings.log.order_update_dups {
                    tracing::info!(event_id = %event_id, "duplicate order event ignored");
                } else {
                    tracing::debug!(event_id = %event_id, "duplicate order event ignored");
                }
            }
            Outcome::Refused(Refusal::Invalid { order, source: InvalidTransition { from, trigger: OrderTrigger::RejectCancel } })
                if from.is_terminal() =>
            {
                // A cancel that lost the race against a fill or another cancel: expected.
                tracing::info!(%order, status = %from, "cancel refused by the broker: order already final");
            }
            Outcome::Refused(Refusal::BrokerIdReused { broker, owner, client }) => {
                // Never merge two orders: the new one fails with the reason, the old one stays.
                let reason = format!("the broker gave this order the id {broker}, which order {owner} already has");
                self.alert("OMS", format!("order {client}: {reason}"));
                self.record(Entry::OrderNotSent { order: client.clone(), reason, at: UnixNanos::now() });
                self.publish_order(&client);
                if let (Some(w), Some(view)) = (self.order_waiters.remove(&client), self.order_view(&client)) {
                    self.answer(w.reply, Ok(view));
                }
            }
            Outcome::Refused(refusal) => {
                tracing::warn!(event_id = %event_id, %refusal, "order event refused");
                self.alert("OMS", format!("order event {} refused: {refusal}", event_id));
                let recent = self.last_snapshot_request.get(&slot).is_some_and(|t| t.elapsed() < Duration::from_secs(5));
                if matches!(refusal, Refusal::UnknownOrder(_)) && !recent {
                    // An order placed elsewhere: learn it from the broker.
                    self.request_snapshot(slot, false);
                }
            }
        }
    }

    fn on_clock(&mut self, time: UnixNanos) {
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

    // ----- generations: swaps, restarts, faults

    /// Starts handing a slot over to a new generation built from `source`.
    fn begin_swap(&mut self, slot: usize, source: AdapterSource, reason: SwapReason, waiter: Option<AdapterReply>) {
        let name = self.slots[slot].spec.name.clone();
        if self.slots[slot].swap.is_some() {
            if let Some(w) = waiter {
                let _ = w.send(Err(format!("adapter {name}: a new generation is already taking over")));
            }
            return;
        }
        if self.slots[slot].current.is_none() || self.slots[slot].state == SlotState::Stopped {
            // Nothing to hand over from: this is a (re)start.
            self.slots[slot].spec.source = source;
            self.slots[slot].last_error = None;
            let result = self.start_slot(slot);
            if let Some(w) = waiter {
                let _ = w.send(result.map(|()| self.view(slot)));
            }
            self.recompute_status();
            return;
        }
        let new = match self.create_generation(slot, source.clone()) {
            Ok(g) => g,
            Err(e) => {
                let message = format!("new generation from {} refused to start: {e}", source.origin());
                self.slots[slot].last_error = Some(message.clone());
                self.alert(&name, message.clone());
                self.adapter_event(&name, "swap-failed", json!({"reason": message, "source": source.origin()}));
                if let Some(w) = waiter {
                    let _ = w.send(Err(message));
                }
                return;
            }
        };
        let number = new.number;
        self.slots[slot].swap = Some(Swap { new, reason, exported: None, waiters: waiter.into_iter().collect(), started: Instant::now() });
        tracing::info!(adapter = %name, generation = number, ?reason, source = %source.origin(), "new generation starting");
        if let Err(e) = self.send_to_generation(slot, true, Self::hello(), "hello (new generation)", PendingKind::SwapHello { slot }) {
            self.abort_swap(slot, format!("the new generation refused hello: {e}"));
        }
    }

    /// The new generation answered hello: hand the state over, or switch at once.
    fn swap_greeted(&mut self, slot: usize, features: Vec<String>) {
        let Some(swap) = self.slots[slot].swap.as_mut() else { return };
        swap.new.hello_done = true;
        swap.new.features = features;
        let new_hands_over = swap.new.hands_over();
        // A faulted generation's state cannot be trusted: the new one reconciles instead.
        let restart = swap.reason == SwapReason::Restart;
        let old_hands_over = self.slots[slot].current.as_ref().is_some_and(Generation::hands_over);
        if new_hands_over && old_hands_over && !restart {
            // Hold requests while the state moves.
            self.slots[slot].state = SlotState::Swapping;
            if let Err(e) = self.send_to_generation(slot, false, RequestBody::ExportState, "export state", PendingKind::SwapExport { slot }) {
                self.abort_swap(slot, format!("the running generation refused to export its state: {e}"));
            }
        } else {
            self.switch(slot, false);
        }
    }

    /// Routing moves to the new generation; the old one drains and is shut down (its library
    /// stays mapped).
    fn switch(&mut self, slot: usize, handed_over: bool) {
        let Some(swap) = self.slots[slot].swap.take() else { return };
        let name = self.slots[slot].spec.name.clone();
        let gap = swap.started.elapsed();
        let mut new = swap.new;
        // The hand-over replaced the new generation's (empty) state; it reports afresh.
        new.snapshot_requested = false;
        new.link_up = new.link_up || handed_over;
        let source = new.source.clone();
        let number = new.number;
        let version = source.identity.version.clone();
        if let Some(old) = self.slots[slot].current.replace(new) {
            self.slots[slot].retired += 1;
            let waiting = self.pending.values().filter(|p| p.target == Some((slot, old.number))).count();
            if waiting == 0 || swap.reason == SwapReason::Restart {
                self.retire(slot, old, "replaced");
            } else {
                // It drains: what was sent to it is still answered (its order events count too).
                tracing::info!(adapter = %name, generation = old.number, waiting, "old generation draining");
                self.slots[slot].draining.push((old, Instant::now() + DRAIN));
            }
        }
        let s = &mut self.slots[slot];
        s.spec.source = source;
        s.state = SlotState::Ready;
        s.restart_attempts = 0;
        s.restart_at = None;
        // Held requests first: they waited long enough. The snapshot that follows reflects them,
        // and their events reach the books before it (one ordered event channel).
        let held: Vec<AdapterRequest> = self.slots[slot].held.drain(..).collect();
        for request in held {
            let failed = self.slots[slot].current.as_mut().map(|g| g.link.send(&request));
            if let Some(Err(e)) = failed {
                let message = format!("held request {} refused by the new generation: {e}", request.id);
                self.alert(&name, message.clone());
                if let Some(p) = self.pending.remove(&request.id) {
                    self.fail_pending(p.kind, GatewayError::Adapter(message.clone()));
                }
                self.fail_order_request(&request, &message);
            }
        }
        self.request_snapshot(slot, true);
        if slot == self.market_slot() {
            // The new generation does not know what the old one streamed.
            self.resubscribe();
        }
        let event = if swap.reason == SwapReason::Restart { "restarted" } else { "swapped" };
        self.adapter_event(
            &name,
            event,
            json!({
                "generation": number,
                "version": version,
                "state_handed_over": handed_over,
                "requests_held_ms": u64::try_from(gap.as_millis()).unwrap_or(u64::MAX),
                "retired_generations": self.slots[slot].retired,
            }),
        );
        let view = self.view(slot);
        for w in swap.waiters {
            let _ = w.send(Ok(view.clone()));
        }
        self.recompute_status();
    }

    /// Shuts a replaced generation down; requests it never answered fail with the reason.
    fn retire(&mut self, slot: usize, mut old: Generation, why: &str) {
        old.link.shutdown();
        let name = self.slots[slot].spec.name.clone();
        tracing::info!(adapter = %name, generation = old.number, why, "old generation stopped; its library stays mapped");
        let orphans: Vec<RequestId> =
            self.pending.iter().filter(|(_, p)| p.target == Some((slot, old.number))).map(|(id, _)| *id).collect();
        for id in orphans {
            if let Some(p) = self.pending.remove(&id) {
                let message = format!("adapter {name} generation {} was {why} before answering", old.number);
                self.fail_pending(p.kind, GatewayError::Adapter(message));
            }
        }
    }

    /// Retires draining generations that have answered everything, or whose time is up.
    fn check_draining(&mut self, slot: usize) {
        let now = Instant::now();
        let mut i = 0;
        while i < self.slots[slot].draining.len() {
            let (number, deadline) = (self.slots[slot].draining[i].0.number, self.slots[slot].draining[i].1);
            let waiting = self.pending.values().any(|p| p.target == Some((slot, number)));
            if !waiting || deadline <= now {
                let (old, _) = self.slots[slot].draining.remove(i);
                self.retire(slot, old, if waiting { "out of time draining" } else { "drained" });
            } else {
                i += 1;
            }
        }
    }

    /// The swap failed before the switch: the old generation keeps serving.
    fn abort_swap(&mut self, slot: usize, reason: String) {
        let Some(mut swap) = self.slots[slot].swap.take() else { return };
        let name = self.slots[slot].spec.name.clone();
        swap.new.link.shutdown();
        self.slots[slot].retired += 1;
        if let Some(state) = swap.exported.take() {
            // The old generation froze when it exported: give it its state back.
            let id = self.next_id();
            if let Some(g) = self.slots[slot].current.as_mut() {
                if let Err(e) = g.link.send(&AdapterRequest { id, body: RequestBody::ImportState { state } }) {
                    tracing::error!(adapter = %name, cause = %e, "could not thaw the running generation");
                }
            }
        }
        let message = format!("new generation abandoned: {reason}");
        let s = &mut self.slots[slot];
        s.last_error = Some(message.clone());
        if s.state == SlotState::Swapping {
            s.state = SlotState::Ready;
        }
        if swap.reason == SwapReason::Restart {
            s.state = SlotState::Faulted;
            s.restart_at = Some(Instant::now() + backoff(s.restart_attempts));
        }
        let held: Vec<AdapterRequest> = s.held.drain(..).collect();
        for request in held {
            let failed = self.slots[slot].current.as_mut().filter(|_| swap.reason != SwapReason::Restart).map(|g| g.link.send(&request));
            if !matches!(failed, Some(Ok(()))) {
                if let Some(p) = self.pending.remove(&request.id) {
                    self.fail_pending(p.kind, GatewayError::Adapter(message.clone()));
                }
                self.fail_order_request(&request, &message);
            }
        }
        self.alert(&name, message.clone());
        self.adapter_event(&name, "swap-failed", json!({"reason": reason}));
        for w in swap.waiters {
            let _ = w.send(Err(message.clone()));
        }
        self.recompute_status();
    }

    /// An order or cancel that never reached a broker: the books say so.
    fn fail_order_request(&mut self, request: &AdapterRequest, why: &str) {
        let now = UnixNanos::now();
        match &request.body {
            RequestBody::SubmitOrder(o) => {
                let id = o.client_order_id.clone();
                self.record(Entry::OrderNotSent { order: id.clone(), reason: format!("adapter refused the order: {why}"), at: now });
                self.publish_order(&id);
                if let (Some(w), Some(view)) = (self.order_waiters.remove(&id), self.order_view(&id)) {
                    self.answer(w.reply, Ok(view));
                }
            }
            RequestBody::CancelOrder { client_order_id: Some(id), .. } => {
                self.record(Entry::CancelNotSent { order: id.clone(), reason: format!("adapter refused the cancel: {why}"), at: now });
                self.publish_order(id);
            }
            _ => {}
        }
    }

    fn mark_faulted(&mut self, slot: usize, reason: String) {
        let s = &mut self.slots[slot];
        if matches!(s.state, SlotState::Faulted | SlotState::Stopped) {
            return;
        }
        s.state = SlotState::Faulted;
        s.last_error = Some(reason.clone());
        let wait = backoff(s.restart_attempts);
        s.restart_at = Some(Instant::now() + wait);
        let name = s.spec.name.clone();
        tracing::error!(adapter = %name, %reason, "adapter faulted; restarting in {wait:?}");
        self.alert(&name, format!("adapter faulted: {reason}"));
        self.adapter_event(&name, "faulted", json!({"reason": reason, "restart_in_ms": u64::try_from(wait.as_millis()).unwrap_or(0)}));
        self.recompute_status();
    }

    fn unload(&mut self, slot: usize) -> AdapterView {
        let name = self.slots[slot].spec.name.clone();
        if let Some(mut swap) = self.slots[slot].swap.take() {
            swap.new.link.shutdown();
        }
        if let Some(mut g) = self.slots[slot].current.take() {
            g.link.shutdown();
            self.slots[slot].retired += 1;
        }
        for (old, _) in std::mem::take(&mut self.slots[slot].draining) {
            self.retire(slot, old, "unloaded");
        }
        self.slots[slot].state = SlotState::Stopped;
        self.slots[slot].restart_at = None;
        let held: Vec<AdapterRequest> = self.slots[slot].held.drain(..).collect();
        for request in held {
            self.fail_order_request(&request, &format!("adapter {name} was unloaded"));
        }
        self.adapter_event(&name, "unloaded", json!({}));
        self.recompute_status();
        self.view(slot)
    }

    fn on_library_loaded(&mut self, path: std::path::PathBuf, result: Result<crate::adapters::loader::LoadedLibrary, crate::adapters::loader::LoadError>, waiter: Option<AdapterReply>) {
        let file = path.file_name().map_or_else(|| path.display().to_string(), |f| f.to_string_lossy().into_owned());
        match result {
            Err(e) => {
                tracing::error!(%e, "adapter library refused");
                self.rejected.push(RejectedLibrary { path: path.clone(), errors: e.errors.clone(), at: UnixNanos::now() });
                if self.rejected.len() > 50 {
                    self.rejected.remove(0);
                }
                self.alert("ADAPTERS", format!("library {} refused: {}", path.display(), e.errors.join("; ")));
                self.adapter_event(&file, "rejected", json!({"file": path.display().to_string(), "errors": e.errors}));
                if let Some(w) = waiter {
                    let _ = w.send(Err(e.to_string()));
                }
            }
            Ok(lib) => {
                for note in &lib.notes {
                    tracing::info!(library = %path.display(), "{note}");
                }
                let source = AdapterSource::library(&lib);
                let kind = lib.identity.name.clone();
                let users: Vec<usize> = (0..self.slots.len()).filter(|i| self.slots[*i].spec.kind == kind).collect();
                if users.is_empty() {
                    tracing::info!(library = %path.display(), adapter = %kind, "adapter library loaded; no TXTRADER_MODE instance uses it");
                    if let Some(w) = waiter {
                        let _ = w.send(Err(format!("no adapter instance of kind {kind}")));
                    }
                    return;
                }
                let reason = if waiter.is_some() { SwapReason::Reload } else { SwapReason::NewBuild };
                let mut waiter = waiter;
                for slot in users {
                    // The same build seen twice (one file landing can raise several change
                    // events): what runs, or is being swapped in, is already this file.
                    let s = &self.slots[slot];
                    let newest = s.swap.as_ref().map(|w| &w.new.source).or(s.current.as_ref().map(|g| &g.source));
                    if reason == SwapReason::NewBuild && newest.is_some_and(|src| src.sha256 == source.sha256 && src.path == source.path) {
                        tracing::info!(adapter = %s.spec.name, library = %path.display(), "adapter library unchanged (same content as the running build); not swapped");
                        continue;
                    }
                    self.begin_swap(slot, source.clone(), reason, waiter.take());
                }
            }
        }
    }

    fn load_library_async(&self, path: std::path::PathBuf, reply: Option<AdapterReply>) {
        let (tx, dir) = (self.commands_tx.clone(), self.settings.library_copy_dir.clone());
        tokio::spawn(async move {
            let p = path.clone();
            let result = tokio::task::spawn_blocking(move || crate::adapters::loader::load(&p, &dir))
                .await
                .unwrap_or_else(|e| Err(crate::adapters::loader::LoadError { path: path.clone(), errors: vec![format!("loader crashed: {e}")] }));
            let _ = tx.send(Command::LibraryLoaded { path, result: Box::new(result), reply }).await;
        });
    }

    // ----- commands

    fn on_command(&mut self, command: Command) {
        match command {
            Command::AddSymbol { symbol, subscriber, reply } => self.add_symbol(symbol, subscriber, reply),
            Command::RemoveSymbol { symbol, subscriber, reply } => {
                let removed = self.market.unsubscribe(&symbol, subscriber);
                if removed == Removed::Unsubscribed {
                    self.unsubscribe(symbol);
                }
                self.answer(reply, removed != Removed::NotActive);
            }
            Command::RemoveSubscriber { subscriber } => {
                for symbol in self.market.unsubscribe_everywhere(subscriber) {
                    self.unsubscribe(symbol);
                }
            }
            Command::Symbols { reply } => {
                self.answer(reply, self.market.views());
            }
            Command::Symbol { symbol, reply } => {
                self.answer(reply, self.market.view(&symbol));
            }
            Command::Bars { symbol, interval, start, end, reply } => {
                if !self.market.is_active(&symbol) {
                    self.answer(reply, Err(GatewayError::NotActive(symbol)));
                    return;
                }
                let timeout = self.settings.timeouts.barchart;
                let slot = self.market_slot();
                let _ = self.send_to(slot, RequestBody::Bars { exchange: self.exchanges.get(&symbol).cloned(), symbol, interval, start, end }, Some(("bars", timeout, PendingKind::Bars { reply })));
            }
            Command::Accounts { reply } => {
                self.answer(reply, self.accounts.clone());
            }
            Command::SetAccount { account, reply } => {
                let known = self.accounts.contains(&account);
                if known {
                    self.current_account = Some(account.clone());
                    self.record(Entry::CurrentAccount(account.clone()));
                    self.publish(GatewayEvent::CurrentAccount(account));
                } else {
                    self.alert("RTX", format!("set_account(): account {account} not found"));
                }
                self.answer(reply, known);
            }
            Command::AccountSummary { account, reply } => {
                if self.status() != ConnectionStatus::Up {
                    self.answer(reply, Err(GatewayError::NotInitialized));
                    return;
                }
                let Some(&slot) = self.account_slot.get(&account) else {
                    self.answer(reply, Ok(None));
                    return;
                };
                let timeout = self.settings.timeouts.account;
                let _ = self.send_to(slot, RequestBody::Account { account }, Some(("account", timeout, PendingKind::Account { reply })));
            }
            Command::Positions { reply } => {
                self.answer(reply, self.positions());
            }
            Command::Submit { order, reply } => self.submit(*order, reply),
            Command::Cancel { id, reply } => match self.cancel(&id) {
                Ok((slot, body)) => self.after_journal(move |c| {
                    let outcome = c.send_cancel(slot, body);
                    let _ = reply.send(outcome);
                }),
                Err(outcome) => self.answer(reply, outcome),
            },
            Command::GlobalCancel { reply } => {
                let open: Vec<String> = self
                    .oms
                    .open_orders()
                    .iter()
                    .filter_map(|c| self.oms.get(c))
                    .filter(|o| o.broker_order_id.is_some())
                    .map(|o| o.key().to_owned())
                    .collect();
                let prepared: Vec<(usize, RequestBody)> = open.iter().filter_map(|id| self.cancel(id).ok()).collect();
                // Adapters that cancel everything in one request (orders placed outside the
                // gateway included) get that request instead of one cancel per order.
                let whole: Vec<usize> = (0..self.slots.len())
                    .filter(|&i| self.slots[i].state == SlotState::Ready)
                    .filter(|&i| self.slots[i].current.as_ref().is_some_and(|g| g.features.iter().any(|f| f == FEATURE_GLOBAL_CANCEL)))
                    .collect();
                self.after_journal(move |c| {
                    // an order of an adapter cancelling everything at once counts as sent
                    let sent = prepared
                        .into_iter()
                        .filter(|(slot, body)| whole.contains(slot) || c.send_cancel(*slot, body.clone()) == CancelOutcome::Sent)
                        .count();
                    for slot in whole {
                        if let Err(e) = c.send_to(slot, RequestBody::GlobalCancel, None) {
                            tracing::warn!(adapter = %c.slots[slot].spec.name, "global cancel not sent: {e}");
                        }
                    }
                    tracing::info!(sent, "global cancel");
                    let _ = reply.send(sent);
                });
            }
            Command::Order { id, reply } => {
                let view = self.oms.find(&id).map(|o| o.request.client_order_id.clone()).and_then(|c| self.order_view(&c));
                self.answer(reply, view);
            }
            Command::Orders { class, reply } => {
                let ids: Vec<ClientOrderId> =
                    self.oms.orders().filter(|o| o.class() == class).map(|o| o.request.client_order_id.clone()).collect();
                self.answer(reply, ids.iter().filter_map(|c| self.order_view(c)).collect());
            }
            Command::Executions { filter, reply } => {
                let views = match &filter {
                    ExecFilter::All => self.oms.executions().map(|e| self.execution_view(e)).collect(),
                    ExecFilter::Id(id) => self.oms.execution(id).map(|e| self.execution_view(e)).into_iter().collect(),
                    ExecFilter::Order(id) => match self.oms.find(id) {
                        Some(o) => {
                            let (c, b) = (o.request.client_order_id.clone(), o.broker_order_id.clone());
                            self.oms
                                .executions()
                                .filter(|e| e.client_order_id.as_ref() == Some(&c) || Some(&e.broker_order_id) == b.as_ref())
                                .map(|e| self.execution_view(e))
                                .collect()
                        }
                        None => Vec::new(),
                    },
                };
                self.answer(reply, views);
            }
            Command::GetRoute { reply } => {
                self.answer(reply, self.route.clone());
            }
            Command::SetRoute { route, reply } => {
                self.record(Entry::Route(route.clone()));
                self.route = route;
                self.answer(reply, self.route.clone());
            }
            Command::SetPrimaryExchange { symbol, exchange, reply } => {
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
            Command::Alert { source, message } => self.alert(&source, message),
            Command::StrategyEvent { name, event, detail } => {
                self.publish(GatewayEvent::Strategy { name, event, detail });
            }
            Command::ForceShutdown { reason } => self.force_shutdown(reason),
            Command::Adapters { reply } => {
                let views = (0..self.slots.len()).map(|i| self.view(i)).collect();
                self.answer(reply, (views, self.rejected.clone()));
            }
            Command::ReloadAdapter { name, reply } => {
                let Some(slot) = self.slot_named(&name) else {
                    self.answer(reply, Err(format!("no adapter instance named {name:?}")));
                    return;
                };
                match self.slots[slot].spec.source.path.clone() {
                    // Read the file again: it may hold a new build.
                    Some(path) => self.load_library_async(path, Some(reply)),
                    None => {
                        let source = self.slots[slot].spec.source.clone();
                        self.begin_swap(slot, source, SwapReason::Reload, Some(reply));
                    }
                }
            }
            Command::UnloadAdapter { name, reply } => {
                let answer = match self.slot_named(&name) {
                    None => Err(format!("no adapter instance named {name:?}")),
                    Some(slot) if self.slots[slot].state == SlotState::Stopped => Err(format!("adapter {name} is not running")),
                    Some(slot) => Ok(self.unload(slot)),
                };
                self.answer(reply, answer);
            }
            Command::LibraryChanged { path } => {
                tracing::info!(path = %path.display(), "adapter library changed");
                self.load_library_async(path, None);
            }
            Command::LibraryLoaded { path, result, reply } => self.on_library_loaded(path, *result, reply),
            Command::TakeRecovered { reply } => {
                let _ = reply.send(self.recovered_pushes.take().unwrap_or_default());
            }
            Command::Journal { reply } => {
                let Some(j) = self.journal.as_ref() else {
                    let _ = reply.send(None);
                    return;
                };
                let (appended, durable, held) = (j.appended(), j.durable(), self.held.len());
                let info = j.info();
                tokio::task::spawn_blocking(move || {
                    let info = info.recv().ok().and_then(Result::ok).unwrap_or_default();
                    let _ = reply.send(Some(super::JournalStatus { info, appended, durable, held }));
                });
            }
            Command::CompactJournal { reply } => {
                let result = self.compact("command");
                match result {
                    Ok(done) => self.answer(reply, Ok(done)),
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Command::Subscribe { capacity, reply } => {
                let _ = reply.send((self.bus.subscribe(capacity), self.bus.last_seq()));
            }
        }
    }

    fn add_symbol(&mut self, symbol: Symbol, subscriber: Option<Subscriber>, reply: SymbolReply) {
        if self.market.is_active(&symbol) {
            self.market.subscribe(&symbol, subscriber);
            self.answer(reply, Ok(self.market.view(&symbol)));
            return;
        }
        if let Some(s) = self.subscribing.get_mut(&symbol) {
            s.waiters.push((subscriber, reply));
            return;
        }
        let timeout = self.settings.timeouts.add_symbol;
        self.subscribing.insert(symbol.clone(), Subscribing { waiters: vec![(subscriber, reply)], snapshot: None, live_bars: Vec::new() });
        let slot = self.market_slot();
        let _ = self.send_to(slot, RequestBody::Subscribe { symbol: symbol.clone(), exchange: self.exchanges.get(&symbol).cloned() }, Some(("subscribe", timeout, PendingKind::Subscribe { symbol })));
    }

    fn unsubscribe(&mut self, symbol: Symbol) {
        let timeout = self.settings.timeouts.default;
        let slot = self.market_slot();
        let _ = self.send_to(slot, RequestBody::Unsubscribe { symbol: symbol.clone() }, Some(("unsubscribe", timeout, PendingKind::Unsubscribe { symbol })));
    }

    fn positions(&self) -> Positions {
        let mut out: Positions = self.accounts.iter().map(|a| (a.clone(), IndexMap::new())).collect();
        for ((account, symbol), qty) in self.oms.positions() {
            out.entry(account.clone()).or_default().insert(symbol.clone(), *qty);
        }
        out
    }

    fn submit(&mut self, new: NewOrder, reply: Reply<Result<OrderView, SubmitError>>) {
        if self.status() != ConnectionStatus::Up {
            self.answer(reply, Err(SubmitError::Gateway(GatewayError::NotInitialized)));
            return;
        }
        let Some(&slot) = self.account_slot.get(&new.account) else {
            self.answer(reply, Err(SubmitError::UnknownAccount(new.account)));
            return;
        };
        for (name, price) in [("limit price", new.order_type.limit_price()), ("stop price", new.order_type.stop_price())] {
            if let Some(p) = price.filter(|p| !p.is_positive()) {
                self.answer(reply, Err(SubmitError::Invalid(format!("{name} must be positive, got {p}"))));
                return;
            }
        }
        let chosen = new.client_order_id.clone().map(Ok);
        let Ok(client_order_id) = chosen.unwrap_or_else(|| ClientOrderId::new(new_client_order_id())) else {
            self.answer(reply, Err(SubmitError::Invalid("cannot create an order id".into())));
            return;
        };
        let request = OrderRequest {
            client_order_id: client_order_id.clone(),
            account: new.account,
            exchange: self.exchanges.get(&new.symbol).cloned(),
            symbol: new.symbol,
            side: new.side,
            quantity: new.quantity,
            order_type: new.order_type,
            time_in_force: new.time_in_force,
            route: Some(new.route.unwrap_or_else(|| self.route.clone())),
            staged_tag: new.staged_tag,
            origin: new.origin,
        };
        if self.oms.get(&client_order_id).is_some() {
            self.answer(reply, Err(SubmitError::Invalid("duplicate order id".into())));
            return;
        }
        self.record(Entry::Submitted { request: request.clone(), at: UnixNanos::now() });
        self.lookup_instrument(&request.symbol);
        let deadline = Instant::now() + self.settings.timeouts.order;
        self.order_waiters.insert(client_order_id.clone(), OrderWaiter { deadline, reply });
        // Written ahead: the broker hears of the order only once the journal has it.
        self.after_journal(move |c| {
            if let Err(e) = c.send_to(slot, RequestBody::SubmitOrder(request.clone()), None) {
                c.fail_order_request(&AdapterRequest { id: RequestId(0), body: RequestBody::SubmitOrder(request) }, &e);
            }
        });
    }

    /// Books a cancel request and prepares the request to the broker, or answers why not.
    fn cancel(&mut self, id: &str) -> Result<(usize, RequestBody), CancelOutcome> {
        let Some(order) = self.oms.find(id) else { return Err(CancelOutcome::NotFound) };
        let client = order.request.client_order_id.clone();
        let status = order.status;
        let account = order.request.account.clone();
        let Some(broker) = order.broker_order_id.clone() else { return Err(CancelOutcome::NotAcknowledged) };
        match status {
            OrderStatus::Cancelled => return Err(CancelOutcome::AlreadyCancelled),
            s if s.is_terminal() => return Err(CancelOutcome::NotLive(s)),
            _ => {}
        }
        let Some(&slot) = self.account_slot.get(&account) else {
            return Err(CancelOutcome::Failed(format!("no adapter trades account {account}")));
        };
        if let Booked::CancelRequested(Err(e)) = self.record(Entry::CancelRequested { order: client.clone(), at: UnixNanos::now() }) {
            return Err(CancelOutcome::NotLive(e.from));
        }
        self.publish_order(&client);
        Ok((slot, RequestBody::CancelOrder { client_order_id: Some(client), broker_order_id: broker }))
    }

    /// Sends a prepared cancel (once the journal has the request).
    fn send_cancel(&mut self, slot: usize, body: RequestBody) -> CancelOutcome {
        match self.send_to(slot, body.clone(), None) {
            Ok(()) => CancelOutcome::Sent,
            Err(e) => {
                self.fail_order_request(&AdapterRequest { id: RequestId(0), body }, &e);
                CancelOutcome::Failed(e)
            }
        }
    }

    // ----- the one-second timer

    fn on_second(&mut self) {
        let now = Instant::now();
        let expired: Vec<RequestId> = self.pending.iter().filter(|(_, p)| p.deadline <= now).map(|(id, _)| *id).collect();
        for id in expired {
            if let Some(p) = self.pending.remove(&id) {
                self.alert("RTX", format!("API_Callback<{id} {}> callback expired", p.label));
                self.fail_pending(p.kind, GatewayError::Timeout(p.label));
            }
        }
        let late: Vec<ClientOrderId> =
            self.order_waiters.iter().filter(|(_, w)| w.deadline <= now || w.reply.is_closed()).map(|(c, _)| c.clone()).collect();
        for id in late {
            if let Some(w) = self.order_waiters.remove(&id) {
                if !w.reply.is_closed() {
                    self.alert("RTX", format!("API_Callback<{id} order> callback expired"));
                    self.answer(w.reply, Err(SubmitError::Gateway(GatewayError::Timeout("order acknowledgement"))));
                }
            }
        }
        for slot in 0..self.slots.len() {
            if !self.slots[slot].draining.is_empty() {
                self.check_draining(slot);
            }
            let s = &self.slots[slot];
            if s.state == SlotState::Faulted && s.swap.is_none() && s.restart_at.is_some_and(|t| t <= now) {
                let name = s.spec.name.clone();
                let source = s.spec.source.clone();
                self.slots[slot].restart_attempts += 1;
                self.slots[slot].restart_at = None;
                tracing::info!(adapter = %name, attempt = self.slots[slot].restart_attempts, "restarting faulted adapter");
                self.begin_swap(slot, source, SwapReason::Restart, None);
            }
            // A snapshot that failed is asked for again.
            if self.slots[slot].state == SlotState::Starting {
                self.maybe_snapshot(slot);
            }
            // Orders in doubt since a restart: ask the broker again every 2 s until each is
            // found or rejected.
            let owns_doubt = self.in_doubt.keys().any(|c| self.oms.get(c).is_some_and(|o| self.account_slot.get(&o.request.account) == Some(&slot)));
            let asked_lately = self.last_snapshot_request.get(&slot).is_some_and(|t| t.elapsed() < Duration::from_secs(2));
            if owns_doubt && self.slots[slot].state == SlotState::Ready && !asked_lately {
                self.request_snapshot(slot, true);
            }
        }
        self.maybe_compact();
        if let (Some(since), Some(limit)) = (self.disconnected_since, self.settings.disconnect_shutdown) {
            if since.elapsed() > limit {
                self.force_shutdown(format!("Gateway connection timed out after {} seconds", since.elapsed().as_secs()));
            }
        }
        if let Some(reset) = self.settings.auto_reset {
            let local = Local::now();
            let at_reset = local.hour() == reset.hour() && local.minute() == reset.minute();
            if at_reset && !self.reset_armed {
                self.reset_armed = true;
                tracing::warn!("auto reset in 1 minute: TXTRADER_LOCAL_RESET_TIME={}", reset.format("%H:%M"));
            } else if !at_reset && self.reset_armed {
                self.reset_armed = false;
                self.force_shutdown("auto reset".into());
            }
        }
    }

    /// Compacts the journal: closed orders that last changed longer ago than the age limit
    /// leave the books (an [`Entry::Archive`]), then a checkpoint of everything journaled so far
    /// is appended, on which the journal writer starts a new file and archives the old one.
    /// Answers what it did (durable once the checkpoint is).
    fn compact(&mut self, reason: &str) -> Result<crate::journal::Compaction, GatewayError> {
        if self.journal.is_none() {
            return Err(GatewayError::NoJournal);
        }
        let started = Instant::now();
        let now = UnixNanos::now();
        let age = u64::try_from(self.settings.compaction.archive_after.as_nanos()).unwrap_or(u64::MAX);
        let before = UnixNanos(now.0.saturating_sub(age));
        let archived = match self.record(Entry::Archive { before, at: now }) {
            Booked::Archived(gone) => gone,
            _ => Vec::new(),
        };
        let Some(j) = self.journal.as_mut() else { return Err(GatewayError::NoJournal) };
        let checkpoint = j.appended() + 1;
        let compaction = crate::journal::Compaction {
            at: now,
            reason: reason.to_owned(),
            archived_before: before,
            archived_orders: archived.len(),
            checkpoint,
        };
        let entry = Entry::Checkpoint(Box::new(crate::journal::Checkpoint {
            books: self.oms.image(),
            route: (self.route != self.settings.route).then(|| self.route.clone()),
            current_account: self.current_account.clone(),
            exchanges: self.exchanges.clone(),
            seq_reserved: self.seq_reserved,
            pushes: self.recent.iter().cloned().collect(),
            pushes_evicted_through: self.recent_evicted,
            compaction: compaction.clone(),
        }));
        // The books already are the checkpoint's image: appended, not booked again.
        j.append(entry);
        self.compacted = (Instant::now(), checkpoint);
        let took = started.elapsed();
        let done = compaction.clone();
        self.after_journal(move |_| {
            tracing::info!(
                reason = %done.reason,
                archived_orders = done.archived_orders,
                checkpoint = done.checkpoint,
                core_ms = took.as_millis(),
                "journal compacted: closed orders older than {} archived, a new journal file begins with the checkpoint",
                done.archived_before.to_datetime().format("%Y-%m-%d %H:%M:%S UTC"),
            );
        });
        Ok(compaction)
    }

    /// Compacts when it is time (`TXTRADER_JOURNAL_COMPACT_EVERY`) or the journal file holds
    /// enough records (`TXTRADER_JOURNAL_COMPACT_RECORDS`).
    fn maybe_compact(&mut self) {
        let Some(j) = self.journal.as_ref() else { return };
        let c = self.settings.compaction;
        let reason = if c.records.is_some_and(|n| j.appended().saturating_sub(self.compacted.1) + 1 >= n) {
            "records"
        } else if c.every.is_some_and(|every| self.compacted.0.elapsed() >= every) {
            "interval"
        } else {
            return;
        };
        if let Err(e) = self.compact(reason) {
            tracing::warn!("journal compaction failed: {e}");
        }
    }

    fn force_shutdown(&mut self, reason: String) {
        self.set_status(ConnectionStatus::Shutdown);
        self.alert("RTX", format!("Forcing shutdown: {reason}"));
        self.shutdown.trigger(ExitReason::Forced(reason));
    }
}

/// How long a replaced generation may take to answer what was sent to it.
const DRAIN: Duration = Duration::from_secs(10);

/// Restart delays: 1 s, 2 s, 4 s … up to 60 s.
fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.min(6)).min(Duration::from_secs(60))
}

fn kind_name(kind: &super::oms::UpdateKind) -> &'static str {
    use super::oms::UpdateKind as K;
    match kind {
        K::Acknowledged => "Acknowledged",
        K::Staged => "Staged",
        K::Accepted => "Accepted",
        K::Triggered => "Triggered",
        K::Filled { .. } => "Filled",
        K::CancelRequested => "CancelRequested",
        K::CancelRejected { .. } => "CancelRejected",
        K::Cancelled { .. } => "Cancelled",
        K::Rejected { .. } => "Rejected",
        K::Expired => "Expired",
        K::Restated => "Restated",
    }
}

/// A new gateway order id: a time-based UUID, as the original's `uuid1()`. The shared v1
/// context adds a counter, so ids stay unique within one clock tick.
fn new_client_order_id() -> String {
    static NODE: std::sync::OnceLock<[u8; 6]> = std::sync::OnceLock::new();
    let node = NODE.get_or_init(|| {
        let r = *uuid::Uuid::new_v4().as_bytes();
        // multicast bit set: a random node id, not a MAC address (RFC 9562, 6.10)
        [r[0] | 0x01, r[1], r[2], r[3], r[4], r[5]]
    });
    uuid::Uuid::now_v1(node).to_string()
}
