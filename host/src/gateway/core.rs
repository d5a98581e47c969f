//! The gateway core: the one task that owns the trading state and the adapter link.
//!
//! It serialises everything: client commands, adapter events and a one-second timer are handled
//! one at a time in [`Core::run`], so no state is ever shared or locked. Requests to the adapter
//! that expect an answer are remembered with a deadline; the timer expires them (the caller gets
//! a timeout, stream clients an error). The lifecycle follows the original: `Startup` → `Pending`
//! (adapter created, connecting) → `Initializing` (connected, loading the broker's snapshot) →
//! `Up`, with `Disconnected` whenever the broker link drops.

use super::bus::{Bus, GatewayEvent};
use super::market::{Market, Removed, Subscriber, SymbolView};
use super::oms::{Oms, Outcome, Refusal};
use super::{
    CancelOutcome, Command, ExecFilter, ExecutionView, GatewayError, GatewaySettings, NewOrder, OrderView,
    Positions, SubmitError,
};
use crate::adapters::AdapterLink;
use crate::shutdown::{ExitReason, Shutdown};
use chrono::{Local, Timelike};
use indexmap::IndexMap;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};
use txtrader_plugin_api::model::{
    AccountId, AccountSummary, Bar, BarInterval, ClientOrderId, ConnectionStatus, InvalidTransition, LinkState,
    OrderRequest, OrderStatus, OrderTrigger, Route, Symbol, UnixNanos,
};
use txtrader_plugin_api::wire::{
    AdapterEvent, AdapterRequest, AlertLevel, HostHello, MarketSnapshot, ReplyBody, RequestBody, RequestId,
    WireError, PROTOCOL_VERSION,
};

type Reply<T> = oneshot::Sender<T>;
type SymbolReply = Reply<Result<Option<SymbolView>, GatewayError>>;

/// A request to the adapter waiting for its answer.
struct Pending {
    deadline: Instant,
    label: &'static str,
    kind: PendingKind,
}

enum PendingKind {
    Hello,
    Snapshot,
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
}

/// A client waiting for the broker's first answer about its new order.
struct OrderWaiter {
    deadline: Instant,
    reply: Reply<Result<OrderView, SubmitError>>,
}

pub(super) struct Core {
    settings: GatewaySettings,
    status_tx: watch::Sender<ConnectionStatus>,
    clock_tx: watch::Sender<Option<UnixNanos>>,
    shutdown: Shutdown,
    adapter: Box<dyn AdapterLink>,
    oms: Oms,
    market: Market,
    bus: Bus,
    next_request: u64,
    pending: HashMap<RequestId, Pending>,
    subscribing: HashMap<Symbol, Subscribing>,
    lookups: HashSet<Symbol>,
    order_waiters: HashMap<ClientOrderId, OrderWaiter>,
    hello_done: bool,
    link_up: bool,
    accounts: Vec<AccountId>,
    balances: HashMap<AccountId, AccountSummary>,
    current_account: Option<AccountId>,
    route: Route,
    exchanges: IndexMap<Symbol, String>,
    disconnected_since: Option<Instant>,
    reset_armed: bool,
    last_minute: Option<u64>,
    last_snapshot_request: Option<Instant>,
    snapshot_retry: bool,
}

impl Core {
    pub(super) fn new(
        settings: GatewaySettings,
        adapter: Box<dyn AdapterLink>,
        status_tx: watch::Sender<ConnectionStatus>,
        clock_tx: watch::Sender<Option<UnixNanos>>,
        shutdown: Shutdown,
    ) -> Self {
        let route = settings.route.clone();
        let keep_bars = settings.flags.symbol_barchart;
        Self {
            settings,
            status_tx,
            clock_tx,
            shutdown,
            adapter,
            oms: Oms::new(),
            market: Market::new(keep_bars),
            bus: Bus::new(),
            next_request: 0,
            pending: HashMap::new(),
            subscribing: HashMap::new(),
            lookups: HashSet::new(),
            order_waiters: HashMap::new(),
            hello_done: false,
            link_up: false,
            accounts: Vec::new(),
            balances: HashMap::new(),
            current_account: None,
            route,
            exchanges: IndexMap::new(),
            disconnected_since: None,
            reset_armed: false,
            last_minute: None,
            last_snapshot_request: None,
            snapshot_retry: false,
        }
    }

    pub(super) fn watch_published(&self) -> watch::Receiver<u64> {
        self.bus.watch_published()
    }

    pub(super) async fn run(mut self, mut commands: mpsc::Receiver<Command>, mut events: mpsc::UnboundedReceiver<AdapterEvent>) {
        tracing::info!("connection-status: {}", self.status());
        self.set_status(ConnectionStatus::Pending);
        let hello = HostHello {
            protocol_version: PROTOCOL_VERSION,
            host_version: env!("CARGO_PKG_VERSION").into(),
            features: Vec::new(),
        };
        // A refused handshake is fatal (see fail_pending).
        self.request(RequestBody::Hello(hello), "hello", self.settings.timeouts.default, PendingKind::Hello);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let shutdown = self.shutdown.clone();
        let stopping = shutdown.wait();
        tokio::pin!(stopping);
        loop {
            tokio::select! {
                biased;
                reason = &mut stopping => {
                    tracing::info!(?reason, "gateway core stopping");
                    break;
                }
                Some(event) = events.recv() => self.on_adapter_event(event),
                command = commands.recv() => match command {
                    Some(c) => self.on_command(c),
                    None => break,
                },
                _ = tick.tick() => self.on_second(),
            }
        }
        self.set_status(ConnectionStatus::Shutdown);
        self.adapter.shutdown();
        tracing::info!(adapter = self.adapter.name(), "adapter stopped");
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
            self.bus.publish(GatewayEvent::Status(status));
        }
    }

    fn status(&self) -> ConnectionStatus {
        *self.status_tx.borrow()
    }

    fn alert(&mut self, source: &str, message: String) {
        tracing::warn!(source, "ALERT: {message}");
        self.bus.publish(GatewayEvent::Error { source: source.to_owned(), message });
    }

    /// Sends a request and remembers who waits for its answer. When the adapter refuses it,
    /// the waiters are answered with the error at once (and false is returned).
    fn request(&mut self, body: RequestBody, label: &'static str, timeout: Duration, kind: PendingKind) -> bool {
        self.next_request += 1;
        let id = RequestId(self.next_request);
        let request = AdapterRequest { id, body };
        if self.settings.log.api_messages {
            tracing::info!(adapter = self.adapter.name(), ?request, "--> adapter");
        }
        match self.adapter.send(&request) {
            Ok(()) => {
                self.pending.insert(id, Pending { deadline: Instant::now() + timeout, label, kind });
                true
            }
            Err(e) => {
                let message = format!("{label} request refused by adapter: {e}");
                let source = self.adapter.name().to_owned();
                self.alert(&source, message.clone());
                self.fail_pending(kind, GatewayError::Adapter(message));
                false
            }
        }
    }

    fn order_view(&self, id: &ClientOrderId) -> Option<OrderView> {
        let order = self.oms.get(id)?;
        Some(OrderView { instrument: self.market.instrument(&order.request.symbol).cloned(), order: order.clone() })
    }

    fn execution_view(&self, execution: &txtrader_plugin_api::model::Execution) -> ExecutionView {
        let order = execution
            .client_order_id
            .as_ref()
            .and_then(|c| self.oms.get(c))
            .or_else(|| self.oms.find(execution.broker_order_id.as_str()))
            .map(|o| o.request.clone());
        ExecutionView {
            execution: execution.clone(),
            order,
            instrument: self.market.instrument(&execution.symbol).cloned(),
        }
    }

    fn publish_order(&mut self, id: &ClientOrderId) {
        if let Some(view) = self.order_view(id) {
            self.bus.publish(GatewayEvent::Order(Arc::new(view)));
        }
    }

    fn lookup_instrument(&mut self, symbol: &Symbol) {
        if self.market.instrument(symbol).is_some() || self.lookups.contains(symbol) {
            return;
        }
        let body = RequestBody::Instrument { symbol: symbol.clone() };
        let timeout = self.settings.timeouts.order_status;
        self.lookups.insert(symbol.clone());
        self.request(body, "instrument", timeout, PendingKind::Lookup { symbol: symbol.clone() });
    }

    fn request_snapshot(&mut self) {
        let timeout = self.settings.timeouts.order_status;
        self.last_snapshot_request = Some(Instant::now());
        self.request(RequestBody::Snapshot, "snapshot", timeout, PendingKind::Snapshot);
    }

    // ----- adapter events

    fn on_adapter_event(&mut self, event: AdapterEvent) {
        if self.settings.log.debug_api_messages {
            tracing::debug!(adapter = self.adapter.name(), ?event, "<-- adapter");
        }
        match event {
            AdapterEvent::Link(state) => self.on_link(state),
            AdapterEvent::Reply { request_id, body } => self.on_reply(request_id, body),
            AdapterEvent::Failed { request_id, error } => self.on_failed(request_id, error),
            AdapterEvent::Order(ev) => self.on_order_event(ev),
            AdapterEvent::Quote(q) => {
                if self.market.on_quote(&q) {
                    self.bus.publish(GatewayEvent::Quote(q));
                }
            }
            AdapterEvent::Trade(t) => {
                if self.market.on_trade(&t) {
                    let stats = self.market.stats(&t.symbol).cloned();
                    self.bus.publish(GatewayEvent::Trade { trade: t, stats });
                }
            }
            AdapterEvent::Stats(s) => {
                self.market.on_stats(&s);
            }
            AdapterEvent::Bar(b) => {
                if self.market.on_bar(&b) {
                    self.bus.publish(GatewayEvent::Bar(b));
                }
            }
            AdapterEvent::Clock { time } => self.on_clock(time),
            AdapterEvent::Account(summary) => {
                self.balances.insert(summary.account.clone(), summary);
            }
            AdapterEvent::Alert { level, code, message } => {
                let text = match code {
                    Some(c) => format!("{c} {message}"),
                    None => message,
                };
                match level {
                    AlertLevel::Info => tracing::info!(adapter = self.adapter.name(), "{text}"),
                    AlertLevel::Warning | AlertLevel::Error => {
                        let source = self.adapter.name().to_owned();
                        self.alert(&source, text);
                    }
                }
            }
            AdapterEvent::Unknown => {
                tracing::warn!(adapter = self.adapter.name(), "unknown event from adapter ignored");
            }
        }
    }

    fn on_link(&mut self, state: LinkState) {
        tracing::info!(adapter = self.adapter.name(), ?state, "broker link");
        match state {
            LinkState::Connecting => self.set_status(ConnectionStatus::Pending),
            LinkState::Connected => {
                self.link_up = true;
                self.disconnected_since = None;
                self.maybe_initialize();
            }
            LinkState::Disconnected { reason } => {
                self.link_up = false;
                self.disconnected_since.get_or_insert_with(Instant::now);
                self.set_status(ConnectionStatus::Disconnected);
                let source = self.adapter.name().to_owned();
                self.alert(&source, format!("API Disconnected: {reason}"));
            }
        }
    }

    fn maybe_initialize(&mut self) {
        if self.hello_done && self.link_up && self.status() != ConnectionStatus::Initializing {
            self.set_status(ConnectionStatus::Initializing);
            self.request_snapshot();
        }
    }

    fn on_reply(&mut self, id: RequestId, body: ReplyBody) {
        let Some(pending) = self.pending.remove(&id) else {
            tracing::warn!(adapter = self.adapter.name(), %id, "reply to no pending request (expired?)");
            return;
        };
        match (pending.kind, body) {
            (PendingKind::Hello, ReplyBody::Hello(hello)) => {
                if hello.protocol_version != PROTOCOL_VERSION {
                    let msg = format!(
                        "adapter {} speaks protocol {}, the gateway {PROTOCOL_VERSION}",
                        hello.name, hello.protocol_version
                    );
                    tracing::error!("{msg}");
                    self.shutdown.trigger(ExitReason::Fatal(msg));
                    return;
                }
                tracing::info!(name = %hello.name, version = %hello.version, features = ?hello.features, "adapter ready");
                self.hello_done = true;
                self.maybe_initialize();
            }
            (PendingKind::Snapshot, ReplyBody::Snapshot(snapshot)) => {
                let out = self.oms.load_snapshot(&snapshot, UnixNanos::now());
                let mut accounts = snapshot.accounts.clone();
                accounts.sort();
                accounts.dedup();
                for b in snapshot.balances {
                    self.balances.insert(b.account.clone(), b);
                }
                for id in out.new_orders.iter().chain(&out.restated) {
                    if let Some(o) = self.oms.get(id) {
                        let symbol = o.request.symbol.clone();
                        self.lookup_instrument(&symbol);
                    }
                    self.publish_order(id);
                }
                if self.status() == ConnectionStatus::Initializing {
                    tracing::info!(
                        accounts = accounts.len(),
                        orders = out.new_orders.len(),
                        executions = out.new_executions.len(),
                        "initial broker snapshot loaded"
                    );
                    self.accounts = accounts.clone();
                    self.bus.publish(GatewayEvent::Accounts(accounts));
                    self.resubscribe();
                    self.set_status(ConnectionStatus::Up);
                } else {
                    self.accounts = accounts;
                }
            }
            (PendingKind::Subscribe { symbol }, ReplyBody::Market(snapshot)) => {
                if self.settings.flags.symbol_barchart {
                    // Load today's bars first, so the first answer already carries them.
                    let session = &snapshot.instrument.session;
                    let tz: chrono_tz::Tz = session.timezone.parse().unwrap_or(self.settings.timezone);
                    let now = UnixNanos::now();
                    let today = now.to_datetime().with_timezone(&tz).date_naive();
                    let start = today
                        .and_time(session.start)
                        .and_local_timezone(tz)
                        .earliest()
                        .map_or(now, UnixNanos::from);
                    let body = RequestBody::Bars { symbol: symbol.clone(), interval: BarInterval::Minutes(1), start, end: now };
                    if let Some(s) = self.subscribing.get_mut(&symbol) {
                        s.snapshot = Some(snapshot);
                    }
                    let timeout = self.settings.timeouts.barchart;
                    // On refusal, fail_pending activates the symbol without bars.
                    self.request(body, "symbol bars", timeout, PendingKind::SymbolBars { symbol: symbol.clone() });
                } else {
                    if let Some(s) = self.subscribing.get_mut(&symbol) {
                        s.snapshot = Some(snapshot);
                    }
                    self.activate(&symbol, Vec::new());
                }
            }
            (PendingKind::Subscribe { symbol }, ReplyBody::SymbolInvalid { reason }) => {
                tracing::info!(%symbol, reason, "symbol invalid");
                if let Some(s) = self.subscribing.remove(&symbol) {
                    for (_, reply) in s.waiters {
                        let _ = reply.send(Ok(None));
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
                let _ = reply.send(Ok(bars));
            }
            (PendingKind::Account { reply }, ReplyBody::Account { summary }) => {
                if let Some(s) = &summary {
                    self.balances.insert(s.account.clone(), s.clone());
                }
                let _ = reply.send(Ok(summary));
            }
            (kind, body) => {
                let msg = format!("unexpected reply to {} request: {body:?}", pending.label);
                self.fail_pending(kind, GatewayError::Adapter(msg.clone()));
                let source = self.adapter.name().to_owned();
                self.alert(&source, msg);
            }
        }
    }

    fn on_failed(&mut self, id: RequestId, error: WireError) {
        let Some(pending) = self.pending.remove(&id) else {
            tracing::warn!(%id, %error, "failure of no pending request");
            return;
        };
        let source = self.adapter.name().to_owned();
        self.alert(&source, format!("{} request failed: {error}", pending.label));
        self.fail_pending(pending.kind, GatewayError::Adapter(error.to_string()));
    }

    /// Answers whoever waits on a request that failed or expired.
    fn fail_pending(&mut self, kind: PendingKind, error: GatewayError) {
        match kind {
            PendingKind::Hello => {
                self.shutdown.trigger(ExitReason::Fatal(format!("adapter handshake failed: {error}")));
            }
            PendingKind::Snapshot => {
                if self.status() == ConnectionStatus::Initializing {
                    // Try again at the next second (never here: a refusing adapter would loop).
                    self.set_status(ConnectionStatus::Pending);
                    self.snapshot_retry = true;
                }
            }
            PendingKind::Subscribe { symbol } => {
                if let Some(s) = self.subscribing.remove(&symbol) {
                    for (_, reply) in s.waiters {
                        let _ = reply.send(Err(error.clone()));
                    }
                }
            }
            PendingKind::SymbolBars { symbol } => self.activate(&symbol, Vec::new()),
            PendingKind::Unsubscribe { .. } => {}
            PendingKind::Lookup { symbol } => {
                self.lookups.remove(&symbol);
            }
            PendingKind::Bars { reply } => {
                let _ = reply.send(Err(error));
            }
            PendingKind::Account { reply } => {
                let _ = reply.send(Err(error));
            }
        }
    }

    fn activate(&mut self, symbol: &Symbol, bars: Vec<Bar>) {
        let Some(sub) = self.subscribing.remove(symbol) else { return };
        let Some(snapshot) = sub.snapshot else { return };
        self.market.activate(snapshot, bars);
        for (subscriber, _) in &sub.waiters {
            self.market.subscribe(symbol, *subscriber);
        }
        let view = self.market.view(symbol);
        for (_, reply) in sub.waiters {
            let _ = reply.send(Ok(view.clone()));
        }
    }

    /// After a reconnection, subscribes again to the symbols that were active.
    fn resubscribe(&mut self) {
        for symbol in self.market.symbols() {
            let timeout = self.settings.timeouts.add_symbol;
            if !self.subscribing.contains_key(&symbol) {
                self.subscribing.insert(symbol.clone(), Subscribing { waiters: Vec::new(), snapshot: None });
                let body = RequestBody::Subscribe { symbol: symbol.clone() };
                self.request(body, "subscribe", timeout, PendingKind::Subscribe { symbol });
            }
        }
    }

    fn on_order_event(&mut self, event: txtrader_plugin_api::wire::OrderEvent) {
        if self.settings.log.api_messages {
            tracing::info!(?event, "order event");
        }
        match self.oms.apply(&event) {
            Outcome::Applied { order, first_broker_event, execution } => {
                let Some(view) = self.order_view(&order) else { return };
                if self.settings.log.order_updates {
                    tracing::info!(
                        "ORDER: {} {} OID={} ORDER_ID={}",
                        view.order.history.last().map_or("?", |u| kind_name(&u.kind)),
                        view.order.status,
                        view.order.key(),
                        event.event_id
                    );
                }
                if first_broker_event {
                    if let Some(w) = self.order_waiters.remove(&order) {
                        let _ = w.reply.send(Ok(view.clone()));
                    }
                }
                self.bus.publish(GatewayEvent::Order(Arc::new(view)));
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
                    self.bus.publish(GatewayEvent::Execution(Arc::new(view)));
                }
            }
            Outcome::Duplicate => {
                if self.settings.log.order_update_dups {
                    tracing::info!(event_id = %event.event_id, "duplicate order event ignored");
                } else {
                    tracing::debug!(event_id = %event.event_id, "duplicate order event ignored");
                }
            }
            Outcome::Refused(Refusal::Invalid { order, source: InvalidTransition { from, trigger: OrderTrigger::RejectCancel } })
                if from.is_terminal() =>
            {
                // A cancel that lost the race against a fill or another cancel: expected.
                tracing::info!(%order, status = %from, "cancel refused by the broker: order already final");
            }
            Outcome::Refused(refusal) => {
                tracing::warn!(event_id = %event.event_id, %refusal, "order event refused");
                self.alert("OMS", format!("order event {} refused: {refusal}", event.event_id));
                if matches!(refusal, Refusal::UnknownOrder(_))
                    && self.last_snapshot_request.is_none_or(|t| t.elapsed() > Duration::from_secs(5))
                {
                    // An order placed elsewhere: learn it from the broker.
                    self.request_snapshot();
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
            self.bus.publish(GatewayEvent::Time(time));
        }
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
                let _ = reply.send(removed != Removed::NotActive);
            }
            Command::RemoveSubscriber { subscriber } => {
                for symbol in self.market.unsubscribe_everywhere(subscriber) {
                    self.unsubscribe(symbol);
                }
            }
            Command::Symbols { reply } => {
                let _ = reply.send(self.market.views());
            }
            Command::Symbol { symbol, reply } => {
                let _ = reply.send(self.market.view(&symbol));
            }
            Command::Bars { symbol, interval, start, end, reply } => {
                if !self.market.is_active(&symbol) {
                    let _ = reply.send(Err(GatewayError::NotActive(symbol)));
                    return;
                }
                let body = RequestBody::Bars { symbol, interval, start, end };
                let timeout = self.settings.timeouts.barchart;
                self.request(body, "bars", timeout, PendingKind::Bars { reply });
            }
            Command::Accounts { reply } => {
                let _ = reply.send(self.accounts.clone());
            }
            Command::SetAccount { account, reply } => {
                let known = self.accounts.contains(&account);
                if known {
                    self.current_account = Some(account.clone());
                    self.bus.publish(GatewayEvent::CurrentAccount(account));
                } else {
                    self.alert("RTX", format!("set_account(): account {account} not found"));
                }
                let _ = reply.send(known);
            }
            Command::AccountSummary { account, reply } => {
                if self.status() != ConnectionStatus::Up {
                    let _ = reply.send(Err(GatewayError::NotInitialized));
                    return;
                }
                let timeout = self.settings.timeouts.account;
                self.request(RequestBody::Account { account }, "account", timeout, PendingKind::Account { reply });
            }
            Command::Positions { reply } => {
                let _ = reply.send(self.positions());
            }
            Command::Submit { order, reply } => self.submit(*order, reply),
            Command::Cancel { id, reply } => {
                let outcome = self.cancel(&id);
                let _ = reply.send(outcome);
            }
            Command::GlobalCancel { reply } => {
                let open: Vec<String> = self
                    .oms
                    .open_orders()
                    .iter()
                    .filter_map(|c| self.oms.get(c))
                    .filter(|o| o.broker_order_id.is_some())
                    .map(|o| o.key().to_owned())
                    .collect();
                let sent = open.iter().filter(|id| self.cancel(id) == CancelOutcome::Sent).count();
                tracing::info!(sent, "global cancel");
                let _ = reply.send(sent);
            }
            Command::Order { id, reply } => {
                let view = self.oms.find(&id).map(|o| o.request.client_order_id.clone()).and_then(|c| self.order_view(&c));
                let _ = reply.send(view);
            }
            Command::Orders { class, reply } => {
                let ids: Vec<ClientOrderId> =
                    self.oms.orders().filter(|o| o.class() == class).map(|o| o.request.client_order_id.clone()).collect();
                let _ = reply.send(ids.iter().filter_map(|c| self.order_view(c)).collect());
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
                let _ = reply.send(views);
            }
            Command::GetRoute { reply } => {
                let _ = reply.send(self.route.clone());
            }
            Command::SetRoute { route, reply } => {
                self.route = route;
                let _ = reply.send(self.route.clone());
            }
            Command::SetPrimaryExchange { symbol, exchange, reply } => {
                match exchange {
                    Some(e) => {
                        self.exchanges.insert(symbol, e);
                    }
                    None => {
                        self.exchanges.shift_remove(&symbol);
                    }
                }
                let _ = reply.send(self.exchanges.clone());
            }
            Command::Alert { source, message } => self.alert(&source, message),
            Command::ForceShutdown { reason } => self.force_shutdown(reason),
            Command::Subscribe { capacity, reply } => {
                let _ = reply.send((self.bus.subscribe(capacity), self.bus.last_seq()));
            }
        }
    }

    fn add_symbol(&mut self, symbol: Symbol, subscriber: Option<Subscriber>, reply: SymbolReply) {
        if self.market.is_active(&symbol) {
            self.market.subscribe(&symbol, subscriber);
            let _ = reply.send(Ok(self.market.view(&symbol)));
            return;
        }
        if let Some(s) = self.subscribing.get_mut(&symbol) {
            s.waiters.push((subscriber, reply));
            return;
        }
        let timeout = self.settings.timeouts.add_symbol;
        self.subscribing.insert(symbol.clone(), Subscribing { waiters: vec![(subscriber, reply)], snapshot: None });
        let body = RequestBody::Subscribe { symbol: symbol.clone() };
        self.request(body, "subscribe", timeout, PendingKind::Subscribe { symbol });
    }

    fn unsubscribe(&mut self, symbol: Symbol) {
        let timeout = self.settings.timeouts.default;
        let body = RequestBody::Unsubscribe { symbol: symbol.clone() };
        self.request(body, "unsubscribe", timeout, PendingKind::Unsubscribe { symbol });
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
            let _ = reply.send(Err(SubmitError::Gateway(GatewayError::NotInitialized)));
            return;
        }
        if !self.accounts.contains(&new.account) {
            let _ = reply.send(Err(SubmitError::UnknownAccount(new.account)));
            return;
        }
        for (name, price) in [("limit price", new.order_type.limit_price()), ("stop price", new.order_type.stop_price())] {
            if let Some(p) = price.filter(|p| !p.is_positive()) {
                let _ = reply.send(Err(SubmitError::Invalid(format!("{name} must be positive, got {p}"))));
                return;
            }
        }
        let Ok(client_order_id) = ClientOrderId::new(new_client_order_id()) else {
            let _ = reply.send(Err(SubmitError::Invalid("cannot create an order id".into())));
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
        let now = UnixNanos::now();
        if self.oms.submit(request.clone(), now).is_err() {
            let _ = reply.send(Err(SubmitError::Invalid("duplicate order id".into())));
            return;
        }
        self.lookup_instrument(&request.symbol);
        self.next_request += 1;
        let wire = AdapterRequest { id: RequestId(self.next_request), body: RequestBody::SubmitOrder(request) };
        match self.adapter.send(&wire) {
            Ok(()) => {
                let deadline = Instant::now() + self.settings.timeouts.order;
                self.order_waiters.insert(client_order_id, OrderWaiter { deadline, reply });
            }
            Err(e) => {
                self.oms.order_not_sent(&client_order_id, format!("adapter refused the order: {e}"), now);
                self.publish_order(&client_order_id);
                match self.order_view(&client_order_id) {
                    Some(v) => {
                        let _ = reply.send(Ok(v));
                    }
                    None => {
                        let _ = reply.send(Err(SubmitError::Gateway(GatewayError::Adapter(e.to_string()))));
                    }
                }
            }
        }
    }

    fn cancel(&mut self, id: &str) -> CancelOutcome {
        let Some(order) = self.oms.find(id) else { return CancelOutcome::NotFound };
        let client = order.request.client_order_id.clone();
        let status = order.status;
        let Some(broker) = order.broker_order_id.clone() else { return CancelOutcome::NotAcknowledged };
        match status {
            OrderStatus::Cancelled => return CancelOutcome::AlreadyCancelled,
            s if s.is_terminal() => return CancelOutcome::NotLive(s),
            _ => {}
        }
        let now = UnixNanos::now();
        if let Err(e) = self.oms.request_cancel(&client, now) {
            return CancelOutcome::NotLive(e.from);
        }
        self.next_request += 1;
        let wire = AdapterRequest {
            id: RequestId(self.next_request),
            body: RequestBody::CancelOrder { client_order_id: Some(client.clone()), broker_order_id: broker },
        };
        let outcome = match self.adapter.send(&wire) {
            Ok(()) => CancelOutcome::Sent,
            Err(e) => {
                self.oms.cancel_not_sent(&client, format!("adapter refused the cancel: {e}"), now);
                CancelOutcome::Failed(e.to_string())
            }
        };
        self.publish_order(&client);
        outcome
    }

    // ----- the one-second timer

    fn on_second(&mut self) {
        if std::mem::take(&mut self.snapshot_retry) {
            self.maybe_initialize();
        }
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
                    let _ = w.reply.send(Err(SubmitError::Gateway(GatewayError::Timeout("order acknowledgement"))));
                }
            }
        }
        if let (Some(since), Some(limit)) = (self.disconnected_since, self.settings.disconnect_shutdown) {
            if since.elapsed() > limit {
                self.force_shutdown(format!(
                    "Gateway connection timed out after {} seconds",
                    since.elapsed().as_secs()
                ));
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

    fn force_shutdown(&mut self, reason: String) {
        self.set_status(ConnectionStatus::Shutdown);
        self.alert("RTX", format!("Forcing shutdown: {reason}"));
        self.shutdown.trigger(ExitReason::Forced(reason));
    }
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
