//! The gateway: one core task that owns every piece of long-lived trading state (orders,
//! executions, positions, accounts, market data, routes), and [`Gateway`], the cheap cloneable
//! handle through which HTTP, JSON-RPC, the stream and strategies reach it.
//!
//! [`Command`] is the only way in; the [`bus`] of sequence-numbered events is the only way out.
//! Commands carry domain values and answer with domain views; the txTrader shapes are the
//! `compat` layer's business.
//!
//! # Layout
//! - this module: commands, the handle, views, errors, settings.
//! - `core`: the task that owns the state and talks to the adapters, one file per concern:
//!   its loop and output gate, adapter slots, **hot swap** (new builds, reloads, restarts),
//!   pending requests, market data, orders, reconciliation, timers and compaction.
//! - [`oms`]: orders, executions, positions.
//! - [`entry`]: what the gateway journals, and how an entry replays into the books.
//! - [`recovery`]: the books read back from the journal at start.
//! - [`market`]: active symbols and their data.
//! - [`bus`]: the sequenced event fan-out.

pub mod bus;
pub mod change;
mod core;
pub mod entry;
pub mod exposure;
pub mod market;
pub mod oms;
pub mod recovery;

use crate::adapters::{AdapterSpec, loader::LoadedLibrary, loader::LoadError};
use crate::config::{Config, Flags, LogSettings, Timeouts};
use crate::shutdown::Shutdown;
use bus::{Sequenced, Subscription};
use std::sync::Arc;
use chrono::NaiveTime;
use indexmap::IndexMap;
use market::{MarketReader, Subscriber, SymbolView};
use oms::Order;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use txtrader_plugin_api::model::{
    AccountId, AccountSummary, Bar, BarInterval, ConnectionStatus, Execution, Instrument, OrderClass,
    OrderOrigin, OrderRequest, OrderStatus, OrderType, Quantity, Route, Side, SignedQuantity, Symbol,
    TimeInForce, UnixNanos,
};

/// An order as clients see it: the OMS record plus the instrument facts.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OrderView {
    /// The order.
    pub order: Order,
    /// The instrument, when known.
    pub instrument: Option<Instrument>,
}

/// An execution as clients see it, with the order it belongs to.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExecutionView {
    /// The execution.
    pub execution: Execution,
    /// The order's request, when the order is known.
    pub order: Option<OrderRequest>,
    /// The instrument, when known.
    pub instrument: Option<Instrument>,
}

impl ExecutionView {
    /// The view of a booked execution: with its order's request, found by the gateway's id or
    /// else the broker's.
    pub fn from_books(books: &oms::Oms, execution: &Execution, instrument: Option<Instrument>) -> Self {
        let order = execution
            .client_order_id
            .as_ref()
            .and_then(|c| books.get(c))
            .or_else(|| books.find(execution.broker_order_id.as_str()))
            .map(|o| o.request.clone());
        Self { execution: execution.clone(), order, instrument }
    }
}

/// Net positions of every account, including accounts that hold nothing.
pub type Positions = IndexMap<AccountId, IndexMap<Symbol, SignedQuantity>>;

/// A new order as a client asks for it; the gateway assigns the id and fills in defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct NewOrder {
    /// Trading account.
    pub account: AccountId,
    /// Symbol.
    pub symbol: Symbol,
    /// Buy or sell.
    pub side: Side,
    /// Quantity (zero is passed on for the broker to reject).
    pub quantity: Quantity,
    /// Pricing.
    pub order_type: OrderType,
    /// Lifetime.
    pub time_in_force: TimeInForce,
    /// Route; `None` uses the gateway's current default route.
    pub route: Option<Route>,
    /// The order's route first becomes the gateway's default route (the original's order
    /// commands set the current route), in the same step as the order.
    pub sets_default_route: bool,
    /// Staged ticket tag.
    pub staged_tag: Option<String>,
    /// Who asks.
    pub origin: OrderOrigin,
    /// The gateway user who asks (recorded on the order and in the journal).
    pub user: Option<String>,
    /// The order's id, when the caller chose it (a strategy returns it before the gateway
    /// answers); `None` lets the gateway assign one. A duplicate is refused.
    pub client_order_id: Option<txtrader_plugin_api::model::ClientOrderId>,
    /// The client means it even if it repeats an order within the duplicate window
    /// (`duplicate_window_ms` of the risk limits).
    pub intended_duplicate: bool,
}

/// Which executions to list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecFilter {
    /// All of them.
    All,
    /// Those of one order (by broker or gateway id).
    Order(String),
    /// One execution.
    Id(String),
}

/// An adapter instance as operators see it (`query_adapters`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterView {
    /// Instance name.
    pub name: String,
    /// Adapter kind.
    pub kind: String,
    /// Version of the running generation.
    pub version: String,
    /// Build id: plugin-api version, compiler, target, profile.
    pub build_id: String,
    /// Where its code comes from: `built in` or the library file.
    pub source: String,
    /// Generation number (1 for the first instance; each swap or restart adds one).
    pub generation: u64,
    /// `starting`, `ready`, `swapping`, `faulted` or `unloaded`.
    pub state: &'static str,
    /// Accounts it trades.
    pub accounts: Vec<AccountId>,
    /// When the running generation was created.
    pub loaded_at: Option<UnixNanos>,
    /// The last problem.
    pub last_error: Option<String>,
    /// Retired generations (their libraries stay mapped).
    pub retired_generations: u64,
    /// Features announced in its `Hello`.
    pub features: Vec<String>,
}

/// A library file that was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectedLibrary {
    /// The file.
    pub path: std::path::PathBuf,
    /// Every reason.
    pub errors: Vec<String>,
    /// When.
    pub at: UnixNanos,
}

/// Why a gateway call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The gateway is not `Up`.
    #[error("gateway not initialized")]
    NotInitialized,
    /// The broker did not answer in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// The adapter failed the request.
    #[error("adapter error: {0}")]
    Adapter(String),
    /// The symbol must be added first.
    #[error("symbol {0} not active")]
    NotActive(Symbol),
    /// The gateway is shutting down.
    #[error("gateway is shutting down")]
    Closed,
    /// The gateway runs without a journal (`TXTRADER_JOURNAL=0`).
    #[error("running without a journal (TXTRADER_JOURNAL=0)")]
    NoJournal,
}

/// Why an adapter lifecycle operation (reload, unload, a new build) did not happen.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// No `TXTRADER_MODE` instance has this name.
    #[error("no adapter instance named {0:?}")]
    NotFound(String),
    /// The instance is unloaded.
    #[error("adapter {0} is not running")]
    NotRunning(String),
    /// A new generation of the instance is already taking over.
    #[error("adapter {0}: a new generation is already taking over")]
    SwapInProgress(String),
    /// The library is of a kind no instance runs.
    #[error("no adapter instance of kind {0}")]
    NoInstanceOfKind(String),
    /// The library file was refused (every reason).
    #[error(transparent)]
    LibraryRefused(LoadError),
    /// The instance could not be created or greeted.
    #[error("{0}")]
    StartFailed(String),
    /// The new generation was abandoned before routing switched; the old one serves.
    #[error("{0}")]
    SwapFailed(String),
    /// The gateway could not be asked.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
}

/// Why an order was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The account is not one of the broker's.
    #[error("account unknown")]
    UnknownAccount(AccountId),
    /// The order is malformed (e.g. a non-positive limit price).
    #[error("{0}")]
    Invalid(String),
    /// The pre-trade risk check refused it.
    #[error(transparent)]
    Denied(crate::risk::check::Denial),
    /// A gateway failure.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
}

/// What a cancel request did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// No such order.
    NotFound,
    /// Already cancelled.
    AlreadyCancelled,
    /// In a final status; nothing to cancel.
    NotLive(OrderStatus),
    /// The broker has not acknowledged the order yet.
    NotAcknowledged,
    /// Sent to the broker; the outcome arrives as order updates.
    Sent,
    /// The adapter refused the cancel.
    Failed(String),
}

/// The answer to a change of a working order.
#[derive(Clone, Debug, PartialEq)]
pub enum ModifyOutcome {
    /// No such order.
    NotFound,
    /// In a final status; nothing to change.
    NotLive(OrderStatus),
    /// A cancel or another change of the order is pending.
    Busy(OrderStatus),
    /// The broker has not acknowledged the order yet.
    NotAcknowledged,
    /// The order's adapter cannot change orders (it does not announce the feature).
    Unsupported(String),
    /// The change does not apply to this order.
    Invalid(String),
    /// The changed order breaks a risk limit.
    Denied(crate::risk::check::Denial),
    /// Sent to the broker; the outcome arrives as order updates.
    Sent,
    /// The adapter refused the change.
    Failed(String),
}

type Reply<T> = oneshot::Sender<T>;

/// Everything that can be asked of the gateway.
#[derive(Debug)]
pub enum Command {
    /// Subscribe to a symbol (answer: its view, or `None` if the broker does not know it).
    AddSymbol { symbol: Symbol, subscriber: Option<Subscriber>, reply: Reply<Result<Option<SymbolView>, GatewayError>> },
    /// Drop a subscriber from a symbol (answer: whether it was active).
    RemoveSymbol { symbol: Symbol, subscriber: Subscriber, reply: Reply<bool> },
    /// Drop a stream session's subscriptions.
    RemoveSubscriber { subscriber: Subscriber },
    /// Historical bars of an active symbol.
    Bars { symbol: Symbol, interval: BarInterval, start: UnixNanos, end: UnixNanos, reply: Reply<Result<Vec<Bar>, GatewayError>> },
    /// The broker's accounts, sorted.
    Accounts { reply: Reply<Vec<AccountId>> },
    /// Select the current account (answer: whether it is known).
    SetAccount { account: AccountId, reply: Reply<bool> },
    /// Balances of one account (`None`: unknown account).
    AccountSummary { account: AccountId, reply: Reply<Result<Option<AccountSummary>, GatewayError>> },
    /// Net positions.
    Positions { reply: Reply<Positions> },
    /// Place an order (answer: the order once the broker first answers).
    Submit { order: Box<NewOrder>, reply: Reply<Result<OrderView, SubmitError>> },
    /// Cancel an order by broker or gateway id.
    Cancel { id: String, reply: Reply<CancelOutcome> },
    /// Change a working order's quantity or prices.
    Modify { id: String, change: change::Change, reply: Reply<ModifyOutcome> },
    /// Cancel every open order (answer: how many cancels were sent).
    GlobalCancel { reply: Reply<usize> },
    /// One order by broker or gateway id.
    Order { id: String, reply: Reply<Option<OrderView>> },
    /// Orders of a class, oldest first.
    Orders { class: OrderClass, reply: Reply<Vec<OrderView>> },
    /// Executions.
    Executions { filter: ExecFilter, reply: Reply<Vec<ExecutionView>> },
    /// The default order route.
    GetRoute { reply: Reply<Route> },
    /// Replace the default order route.
    SetRoute { route: Route, reply: Reply<Route> },
    /// Set (or, with `None`, remove) a symbol's primary exchange.
    SetPrimaryExchange { symbol: Symbol, exchange: Option<String>, reply: Reply<IndexMap<Symbol, String>> },
    /// Broadcast an error to stream clients and the log.
    Alert { source: String, message: String },
    /// Stop the gateway, telling every client why (status `Shutdown`, then the reason).
    ForceShutdown { reason: String },
    /// Every adapter instance, and the library files refused so far.
    Adapters { reply: Reply<(Vec<AdapterView>, Vec<RejectedLibrary>)> },
    /// Start a new generation of an adapter instance (from its library file, re-read, or its
    /// built-in code), handing its state over; answers once it runs.
    ReloadAdapter { name: String, reply: Reply<Result<AdapterView, LifecycleError>> },
    /// Stop an adapter instance (until reloaded).
    UnloadAdapter { name: String, reply: Reply<Result<AdapterView, LifecycleError>> },
    /// A library file appeared or changed in the adapter folder.
    LibraryChanged { path: std::path::PathBuf },
    /// A library file was loaded (or refused) off the core task.
    LibraryLoaded {
        path: std::path::PathBuf,
        result: Box<Result<LoadedLibrary, LoadError>>,
        reply: Option<Reply<Result<AdapterView, LifecycleError>>>,
    },
    /// Publish a strategy's lifecycle event.
    StrategyEvent { name: String, event: &'static str, detail: serde_json::Value },
    /// Attach to the event bus.
    Subscribe { capacity: usize, reply: Reply<(Subscription<Arc<Sequenced>>, u64)> },
    /// The order and execution events published before the last restart, read back from the
    /// journal (oldest first), and the sequence number through which older ones are not kept.
    /// Answered once: the stream hub takes them for `resume`.
    TakeRecovered { reply: Reply<(Vec<Arc<Sequenced>>, u64)> },
    /// The journal's size and position (`None`: running without a journal).
    Journal { reply: Reply<Option<JournalStatus>> },
    /// Compact the journal now; answered once the new file is in place.
    CompactJournal { reply: Reply<Result<entry::Compaction, GatewayError>> },
    /// Set a trading state (HALTED is the kill switch: working orders are cancelled).
    SetTradingState { scope: crate::risk::Scope, state: crate::risk::state::TradingState, reason: String, reply: Reply<crate::risk::StateChange> },
    /// The limits, states and usage.
    QueryRisk { reply: Reply<crate::risk::RiskReport> },
    /// New limits (the limits file changed); states and counters stay.
    SetLimits { limits: Box<crate::risk::limits::Limits> },
}

/// The journal as the `journal` command reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct JournalStatus {
    /// File, size and records kept.
    #[serde(flatten)]
    pub info: crate::journal::JournalInfo,
    /// The last compaction (none: the journal was never compacted).
    pub last_compaction: Option<entry::Compaction>,
    /// The last record appended.
    pub appended: u64,
    /// The last record on disk.
    pub durable: u64,
    /// Outputs (replies, events, broker requests) waiting for the journal.
    pub held: usize,
}

/// What the core needs from the configuration.
#[derive(Clone, Debug)]
pub struct GatewaySettings {
    /// The adapter instances, in `TXTRADER_MODE` order; the first one also serves market data.
    pub adapters: Vec<AdapterSpec>,
    /// Where library files are copied before they are opened. [`crate::start`] replaces the
    /// default (a name for in-process harnesses that load no library files) with a private
    /// folder it creates.
    pub library_copy_dir: std::path::PathBuf,
    /// Library files refused before the core started.
    pub rejected: Vec<RejectedLibrary>,
    /// Feed time zone.
    pub timezone: chrono_tz::Tz,
    /// Initial default route.
    pub route: Route,
    /// Broker deadlines.
    pub timeouts: Timeouts,
    /// Feature flags.
    pub flags: Flags,
    /// Logging switches.
    pub log: LogSettings,
    /// Daily restart.
    pub auto_reset: Option<NaiveTime>,
    /// Exit after this long without the broker.
    pub disconnect_shutdown: Option<Duration>,
    /// Journal compaction.
    pub compaction: crate::config::CompactionSettings,
    /// Order and execution events kept for `resume` (a checkpoint keeps as many).
    pub keep_pushes: usize,
    /// The pre-trade risk limits.
    pub limits: crate::risk::limits::Limits,
}

impl GatewaySettings {
    /// Derives the settings from the configuration, with the adapter instances to run.
    pub fn from_config(config: &Config, route: Route, adapters: Vec<AdapterSpec>) -> Self {
        Self {
            adapters,
            library_copy_dir: std::env::temp_dir().join(format!("txtraderd-{}-adapters", std::process::id())),
            rejected: Vec::new(),
            timezone: config.api_timezone,
            route,
            timeouts: config.timeouts,
            flags: config.flags,
            log: config.log.clone(),
            auto_reset: config.auto_reset.then_some(config.local_reset_time),
            disconnect_shutdown: config.gateway_disconnect_shutdown.then_some(config.gateway_disconnect_timeout),
            compaction: config.compaction,
            keep_pushes: config.stream.replay,
            limits: crate::risk::limits::Limits::builtin(),
        }
    }
}

/// The handle on the gateway. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Gateway {
    tx: mpsc::Sender<Command>,
    status: watch::Receiver<ConnectionStatus>,
    clock: watch::Receiver<Option<UnixNanos>>,
    published: watch::Receiver<u64>,
    market: MarketReader,
}

/// Starts the gateway core; it creates the adapter instances. The core stops when `shutdown`
/// triggers.
pub fn spawn(settings: GatewaySettings, shutdown: Shutdown) -> (Gateway, tokio::task::JoinHandle<()>) {
    spawn_recovered(settings, shutdown, None)
}

/// Starts the gateway core on the books read back from the journal, journaling every change
/// from then on (none: no journal).
pub fn spawn_recovered(
    settings: GatewaySettings,
    shutdown: Shutdown,
    recovered: Option<recovery::Recovered>,
) -> (Gateway, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(4096);
    let (status_tx, status) = watch::channel(ConnectionStatus::Startup);
    let (clock_tx, clock) = watch::channel(None);
    let core = core::Core::new(settings, status_tx, clock_tx, shutdown, tx.clone(), recovered);
    let published = core.watch_published();
    let market = core.market_reader();
    let task = tokio::spawn(core.run(rx));
    (Gateway { tx, status, clock, published, market }, task)
}

impl Gateway {
    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, GatewayError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).await.map_err(|_| GatewayError::Closed)?;
        rx.await.map_err(|_| GatewayError::Closed)
    }

    /// The current status. Answered without a round trip to the core.
    pub fn status(&self) -> ConnectionStatus {
        *self.status.borrow()
    }

    /// Waits until the status satisfies `pred`.
    pub async fn wait_status(&self, pred: impl Fn(ConnectionStatus) -> bool) -> ConnectionStatus {
        let mut rx = self.status.clone();
        loop {
            let s = *rx.borrow_and_update();
            if pred(s) {
                return s;
            }
            if rx.changed().await.is_err() {
                return *rx.borrow();
            }
        }
    }

    /// The sequence number of the last event published on the bus. Read after a command's answer,
    /// it covers every event the command caused.
    pub fn published_seq(&self) -> u64 {
        *self.published.borrow()
    }

    /// The latest feed clock, if it ticked.
    pub fn feed_time(&self) -> Option<UnixNanos> {
        *self.clock.borrow()
    }

    /// Subscribes to a symbol.
    ///
    /// # Errors
    /// Timeout or adapter failure.
    pub async fn add_symbol(&self, symbol: Symbol, subscriber: Option<Subscriber>) -> Result<Option<SymbolView>, GatewayError> {
        self.call(|reply| Command::AddSymbol { symbol, subscriber, reply }).await?
    }

    /// Removes a subscriber from a symbol.
    ///
    /// # Errors
    /// Only when the gateway is shutting down.
    pub async fn remove_symbol(&self, symbol: Symbol, subscriber: Subscriber) -> Result<bool, GatewayError> {
        self.call(|reply| Command::RemoveSymbol { symbol, subscriber, reply }).await
    }

    /// Drops every subscription of a stream session.
    pub async fn remove_subscriber(&self, subscriber: Subscriber) {
        let _ = self.tx.send(Command::RemoveSubscriber { subscriber }).await;
    }

    /// The active symbols.
    ///
    /// # Errors
    /// Only when the gateway is shutting down.
    pub fn symbols(&self) -> Vec<Arc<SymbolView>> {
        self.market.views()
    }

    /// One active symbol.
    ///
    /// # Errors
    /// Only when the gateway is shutting down.
    pub fn symbol(&self, symbol: &Symbol) -> Option<Arc<SymbolView>> {
        self.market.view(symbol)
    }

    /// Historical bars.
    ///
    /// # Errors
    /// Not active, timeout, adapter failure.
    pub async fn bars(&self, symbol: Symbol, interval: BarInterval, start: UnixNanos, end: UnixNanos) -> Result<Vec<Bar>, GatewayError> {
        self.call(|reply| Command::Bars { symbol, interval, start, end, reply }).await?
    }

    /// The accounts.
    ///
    /// # Errors
    /// Only when the gateway is shutting down.
    pub async fn accounts(&self) -> Result<Vec<AccountId>, GatewayError> {
        self.call(|reply| Command::Accounts { reply }).await
    }

    /// Selects the current account.
    ///
    /// # Errors
    /// Only when the gateway is shutting down.
    pub async fn set_account(&self, account: AccountId) -> Result<bool, GatewayError> {
        self.call(|reply| Command::SetAccount { account, reply }).await
    }

    /// Balances of an account.
    ///
    /// # Errors
    /// Timeout, adapter failure, not initialized.
    pub async fn account_summary(&self, account: AccountId) -> Result<Option<AccountSummary>, GatewayError> {
        self.call(|reply| Command::AccountSummary { account, reply }).await?
    }

    /// Net positions.
    ///
    /// # Errors
    /// Only when the gateway is shutting down.
    pub async fn positions(&self) -> Result<Positions, GatewayError> {
        self.call(|reply| Command::Positions { reply }).await
    }

    /// Places an order; answers once the broker first reports on it.
    ///
    /// # Errors
    /// Unknown account, invalid order, timeout, not initialized.
    pub async fn submit(&self, order: NewOrder) -> Result<OrderView, SubmitError> {
        self.call(|reply| Command::Submit { order: Box::new(order), reply }).await?
    }

    /// Cancels an order.
    ///
    /// # Errors
    /// Only when the gateway is shutting down.
    pub async fn cancel(&self, id: String) -> Result<CancelOutcome, GatewayError> {
        self.call(|reply| Command::Cancel { id, reply }).await
    }

    /// Changes a working order's quantity and/or prices (by broker or gateway id); answers once
    /// the change is journaled and sent, the outcome arrives as order updates.
    ///
    /// # Errors
    /// Only when the gateway is shutting down.
    pub async fn modify(&self, id: String, change: change::Change) -> Result<ModifyOutcome, GatewayError> {
        self.call(|reply| Command::Modify { id, change, reply }).await
    }

    /// Cancels every open order.
    ///
    /// # Errors
    /// Only when the gateway is shutting down.
    pub async fn global_cancel(&self) -> Result<usize, GatewayError> {
        self.call(|reply| Command::GlobalCancel { reply }).await
    }

    /// Sets the trading state of the gateway or an account; HALTED (the kill switch) also
    /// cancels every working order in its scope. Answers once the change is journaled.
    pub async fn set_trading_state(&self, scope: crate::risk::Scope, state: crate::risk::state::TradingState, reason: String) -> Result<crate::risk::StateChange, GatewayError> {
        self.call(|reply| Command::SetTradingState { scope, state, reason, reply }).await
    }

    /// Replaces the risk limits (a limits file changed and is valid).
    pub async fn set_limits(&self, limits: crate::risk::limits::Limits) {
        let _ = self.tx.send(Command::SetLimits { limits: Box::new(limits) }).await;
    }

    /// The risk limits in force, the trading states and each account's usage.
    pub async fn query_risk(&self) -> Result<crate::risk::RiskReport, GatewayError> {
        self.call(|reply| Command::QueryRisk { reply }).await
    }

    /// One order.
    ///
    /// # Errors
    /// Only when the gateway is shutting down.
    pub async fn order(&self, id: String) -> Result<Option<OrderView>, GatewayError> {
        self.call(|reply| Command::Order { id, reply }).await
    }

    /// Orders (or tickets).
    ///
    /// # Errors
    /// Only when the gateway is shutting down.
    pub async fn orders(&self, class: OrderClass) -> Result<Vec<OrderView>, GatewayError> {
        self.call(|reply| Command::Orders { class, reply }).await
    }

    /// Executions.
    ///
    /// # Errors
    /// Only when the gateway is shutting down.
    pub async fn executions(&self, filter: ExecFilter) -> Result<Vec<ExecutionView>, GatewayError> {
        self.call(|reply| Command::Executions { filter, reply }).await
    }

    /// The default route.
    ///
    /// # Errors
    /// Only when the gateway is shutting down.
    pub async fn route(&self) -> Result<Route, GatewayError> {
        self.call(|reply| Command::GetRoute { reply }).await
    }

    /// Replaces the default route.
    ///
    /// # Errors
    /// Only when the gateway is shutting down.
    pub async fn set_route(&self, route: Route) -> Result<Route, GatewayError> {
        self.call(|reply| Command::SetRoute { route, reply }).await
    }

    /// Sets or removes a primary exchange.
    ///
    /// # Errors
    /// Only when the gateway is shutting down.
    pub async fn set_primary_exchange(&self, symbol: Symbol, exchange: Option<String>) -> Result<IndexMap<Symbol, String>, GatewayError> {
        self.call(|reply| Command::SetPrimaryExchange { symbol, exchange, reply }).await
    }

    /// Broadcasts an error.
    pub async fn alert(&self, source: impl Into<String>, message: impl Into<String>) {
        let _ = self.tx.send(Command::Alert { source: source.into(), message: message.into() }).await;
    }

    /// Every adapter instance, and the library files refused so far.
    ///
    /// # Errors
    /// Only when the gateway is shutting down.
    pub async fn adapters(&self) -> Result<(Vec<AdapterView>, Vec<RejectedLibrary>), GatewayError> {
        self.call(|reply| Command::Adapters { reply }).await
    }

    /// Starts a new generation of an adapter instance; answers once it runs.
    ///
    /// # Errors
    /// The reason it did not (unknown name, library refused, hand-over failed), or
    /// [`LifecycleError::Gateway`] when the gateway is shutting down.
    pub async fn reload_adapter(&self, name: String) -> Result<AdapterView, LifecycleError> {
        self.call(|reply| Command::ReloadAdapter { name, reply }).await?
    }

    /// Stops an adapter instance.
    ///
    /// # Errors
    /// The reason it did not, or [`LifecycleError::Gateway`] when the gateway is shutting down.
    pub async fn unload_adapter(&self, name: String) -> Result<AdapterView, LifecycleError> {
        self.call(|reply| Command::UnloadAdapter { name, reply }).await?
    }

    /// Reports a changed library file. Called from the folder watcher's thread (not from async
    /// code): it waits for room in the command queue rather than lose the change.
    pub fn library_changed(&self, path: std::path::PathBuf) {
        if self.tx.blocking_send(Command::LibraryChanged { path }).is_err() {
            tracing::debug!("gateway stopped: library change not reported");
        }
    }

    /// Publishes a strategy's lifecycle event on the bus.
    pub async fn strategy_event(&self, name: impl Into<String>, event: &'static str, detail: serde_json::Value) {
        let _ = self.tx.send(Command::StrategyEvent { name: name.into(), event, detail }).await;
    }

    /// Stops the gateway, telling every client why first.
    pub async fn force_shutdown(&self, reason: impl Into<String>) {
        let _ = self.tx.send(Command::ForceShutdown { reason: reason.into() }).await;
    }

    /// Attaches to the event bus; also answers the sequence number of the last event published
    /// before the subscription (the subscriber receives everything after it).
    ///
    /// # Errors
    /// Only when the gateway is shutting down.
    pub async fn subscribe(&self, capacity: usize) -> Result<(Subscription<Arc<Sequenced>>, u64), GatewayError> {
        self.call(|reply| Command::Subscribe { capacity, reply }).await
    }

    /// Takes the events published before the last restart (see [`Command::TakeRecovered`]).
    ///
    /// # Errors
    /// Only when the gateway is shutting down.
    pub async fn take_recovered(&self) -> Result<(Vec<Arc<Sequenced>>, u64), GatewayError> {
        self.call(|reply| Command::TakeRecovered { reply }).await
    }

    /// The journal's status.
    ///
    /// # Errors
    /// Only when the gateway is shutting down.
    pub async fn journal(&self) -> Result<Option<JournalStatus>, GatewayError> {
        self.call(|reply| Command::Journal { reply }).await
    }

    /// Compacts the journal now: closed orders past the age limit leave the books, and the
    /// journal starts a new file from a checkpoint. Answers once the new file is in place.
    ///
    /// # Errors
    /// [`GatewayError::NoJournal`] without a journal; when shutting down.
    pub async fn compact_journal(&self) -> Result<entry::Compaction, GatewayError> {
        self.call(|reply| Command::CompactJournal { reply }).await?
    }
}
