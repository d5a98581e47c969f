//! The gateway core: the one task that owns the trading state and the adapter instances.
//!
//! It serialises everything: client commands, adapter events and a one-second timer are handled
//! one at a time in [`Core::run`], so no state is ever shared or locked. Each concern is another
//! `impl Core` block in a file of its own name; all of them work on the one [`Core`] value the
//! task owns:
//!
//! - [`event_loop`]: the loop, the dispatch of commands and adapter events, and the **output
//!   gate** (nothing a change caused leaves the core before the journal has the change).
//! - [`slots`]: the adapter instances (`TXTRADER_MODE` entries) and their running generation:
//!   sending requests, the broker link, accounts per instance, the gateway status.
//! - [`hot_swap`]: new generations: a new build landing in the adapter folder, an operator's
//!   reload or unload, restarts after a fault, the state hand-over, draining and retiring.
//! - [`pending`]: requests to adapters waiting for their answer, matched and expired.
//! - [`market_data`]: symbol subscriptions, their first answer, and market data events.
//! - [`orders`]: orders, cancels, executions, accounts and routes as commands and broker events.
//! - [`reconciliation`]: broker snapshots merged into the books, orders in doubt after a restart.
//! - [`risk`]: the pre-trade check every new order passes before it is journaled or sent.
//! - [`timers`]: the one-second timer (deadlines, restarts, daily reset) and journal compaction.
//!
//! The gateway status follows the original: `Startup` → `Pending` (adapters created) →
//! `Initializing` (connected, loading snapshots) → `Up` once every instance serves; after that it
//! follows the first instance, `Disconnected` while it is faulted or has lost its broker.

mod event_loop;
mod hot_swap;
mod market_data;
mod orders;
mod pending;
mod reconciliation;
mod risk;
mod slots;
mod timers;

use super::bus::Bus;
use super::market::Market;
use super::oms::Oms;
use super::recovery::Recovered;
use super::{Command, GatewaySettings, RejectedLibrary};
use super::entry::{Compaction, Entry, Published};
use crate::journal::Journal;
use crate::risk::RiskEngine;
use crate::shutdown::Shutdown;
use indexmap::IndexMap;
use market_data::Subscribing;
use orders::OrderWaiter;
use pending::Pending;
use slots::Slot;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot, watch};
use txtrader_plugin_api::model::{AccountId, ClientOrderId, ConnectionStatus, Route, Symbol, UnixNanos};
use txtrader_plugin_api::wire::{AdapterEvent, RequestId};

type Reply<T> = oneshot::Sender<T>;

/// An adapter event with the slot and generation that emitted it.
struct Tagged {
    slot: usize,
    generation: u64,
    event: AdapterEvent,
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
    /// Active symbols whose `add_symbol` callers wait for the first prices.
    awaiting_prices: HashMap<Symbol, market_data::AwaitingPrices>,
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
    journal: Option<Journal<Entry>>,
    /// Outputs waiting for the journal: each runs once the records appended before it are on
    /// disk, in order. See [`Core::after_journal`].
    held: VecDeque<(u64, Deferred)>,
    /// Bus sequence numbers up to this are reserved in the journal.
    seq_reserved: u64,
    /// Published events read back from the journal, for the stream hub's `resume`.
    recovered_pushes: Option<(Vec<Arc<super::bus::Sequenced>>, u64)>,
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
    /// The last compaction (the one the journal file begins with, after a restart).
    last_compaction: Option<Compaction>,
    /// The pre-trade check.
    risk: RiskEngine,
}

/// Work that waits for the journal.
type Deferred = Box<dyn FnOnce(&mut Core) + Send>;

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
        let slots = settings.adapters.iter().cloned().map(Slot::new).collect();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (mut oms, mut current_account, mut exchanges, mut bus) = (Oms::new(), None, IndexMap::new(), Bus::new());
        let (mut journal, mut seq_reserved, mut recovered_pushes, mut in_doubt) = (None, 0, None, HashMap::new());
        let (mut recent, mut recent_evicted, mut file_first, mut last_compaction) = (VecDeque::new(), 0, 1, None);
        let mut risk = RiskEngine::new(settings.limits.clone());
        if let Some(r) = recovered {
            recent = r.pushes.iter().filter_map(|p| Some((p.seq, Published::of(&p.event)?))).collect();
            recent_evicted = r.pushes_evicted_through;
            file_first = r.scan.checkpoint.unwrap_or(1);
            last_compaction = r.last_compaction;
            oms = r.oms;
            route = r.route.unwrap_or(route);
            current_account = r.current_account;
            exchanges = r.exchanges;
            bus = Bus::starting_after(r.seq_reserved);
            seq_reserved = r.seq_reserved;
            recovered_pushes = Some((r.pushes.into_iter().collect(), r.pushes_evicted_through));
            in_doubt = r.in_doubt.into_iter().map(|c| (c, 0)).collect();
            journal = Some(r.journal);
            for (scope, state) in r.risk_states {
                risk.apply(&scope, crate::risk::state::StateEvent::Operator(state));
            }
        }
        let mut core = Self {
            risk,
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
            awaiting_prices: HashMap::new(),
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
            last_compaction,
        };
        core.replay_fills();
        core
    }

    pub(super) fn watch_published(&self) -> watch::Receiver<u64> {
        self.bus.watch_published()
    }

    pub(super) fn market_reader(&self) -> super::market::MarketReader {
        self.market.reader()
    }
}
