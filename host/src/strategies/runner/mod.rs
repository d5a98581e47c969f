//! Live strategies: the manager task behind the [`Strategies`] handle, and for each running
//! strategy the three parts that serve it, each in the file of the thread or task it runs on.
//!
//! - The manager owns every strategy's record (manifest, version, state, counters) and is the
//!   only one to deploy, replace, stop or start them; commands and the folder watcher reach it
//!   through the handle. It runs on the async runtime (this file).
//! - A **worker** thread ([`worker`]) owns the instance's `Store` and runs every callback in order: market
//!   data, its orders' changes, answers to its requests, timers. Only it touches the guest.
//! - A **forwarder** task ([`forwarder`]) reads the gateway's event bus and passes on what concerns the
//!   strategy: market data of its symbols (skipped, and counted, while it is more than
//!   [`MAX_BACKLOG`] events behind: a slow strategy never slows the gateway), every change of
//!   its own orders and every execution of its accounts (never skipped).
//! - An **executor** task ([`executor`]) carries out what the guest queued (subscriptions, bar requests,
//!   orders, cancels) through the same gateway commands every client uses, in order, and feeds
//!   the outcomes back as events.
//!
//! A fault (deadline, memory, trap, panic) ends the worker; the manager records why, publishes
//! it, and (unless the manifest says otherwise) cancels the strategy's open orders.

mod channels;
mod executor;
mod forwarder;
mod worker;

pub use forwarder::MAX_BACKLOG;

use super::engine::{Compiled, Engine};
use super::host::{Clock, Ctx, Ids, Stats};
use super::instance::Fault;
use super::manifest::{Limits, Manifest};
use super::view::{OwnOrder, View};
use crate::gateway::market::Subscriber;
use crate::gateway::Gateway;
use crate::shutdown::Shutdown;
use channels::{Input, Job};
use executor::Exec;
use forwarder::Forward;
use indexmap::IndexMap;
use serde::Serialize;
use serde_json::json;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use txtrader_plugin_api::model::{OrderClass, OrderOrigin, Symbol, UnixNanos};

/// How long a stopping strategy's `on-stop` may take beyond its callback limit.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Where a strategy stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Running.
    Running,
    /// Stopped by an operator (or its manifest was removed).
    Stopped,
    /// Stopped by a fault.
    Faulted,
    /// Could not start (component refused, `on-start` refused or faulted).
    Failed,
}

/// A strategy's counters.
#[derive(Clone, Debug, Serialize)]
pub struct Counters {
    /// Callbacks run.
    pub events: u64,
    /// Orders accepted from it.
    pub orders: u64,
    /// Actions refused.
    pub rejects: u64,
    /// Time spent in its callbacks, in microseconds.
    pub cpu_time_us: u64,
    /// Linear memory, in bytes.
    pub memory_bytes: u64,
    /// Market data events skipped while it was behind.
    pub dropped: u64,
}

/// A strategy as operators see it (`query_strategies`).
#[derive(Clone, Debug, Serialize)]
pub struct StrategyView {
    /// Name.
    pub name: String,
    /// State.
    pub state: State,
    /// SHA-256 of the running (or last) component.
    pub version: String,
    /// The component file.
    pub component: PathBuf,
    /// The manifest file, if it came from one.
    pub manifest: Option<PathBuf>,
    /// Instances started so far (each reload or start adds one).
    pub generation: u64,
    /// When the current instance started (Unix seconds).
    pub started_at: Option<u64>,
    /// Its limits.
    pub limits: Limits,
    /// Its counters (of the current instance).
    pub counters: Counters,
    /// Why it last failed or faulted.
    pub last_error: Option<String>,
    /// Its latest refused action.
    pub last_reject: Option<String>,
}

type Reply<T> = oneshot::Sender<T>;

enum Request {
    Deploy { manifest: Box<Manifest>, reply: Option<Reply<Result<StrategyView, String>>> },
    Query { reply: Reply<Vec<StrategyView>> },
    Stop { name: String, reply: Reply<Result<StrategyView, String>> },
    Start { name: String, reply: Reply<Result<StrategyView, String>> },
    FileChanged { path: PathBuf, exists: bool },
    Ended { name: String, generation: u64, fault: Option<Fault> },
}

/// The handle on the strategy manager. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Strategies {
    tx: mpsc::Sender<Request>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Request")
    }
}

/// Why a strategy command could not be carried out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StrategyError {
    /// The manager has stopped.
    #[error("strategies are shutting down")]
    Closed,
}

impl Strategies {
    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Request) -> Result<T, StrategyError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).await.map_err(|_| StrategyError::Closed)?;
        rx.await.map_err(|_| StrategyError::Closed)
    }

    /// Deploys a strategy, replacing a running one of the same name; answers once `on-start`
    /// returned (or why it did not run).
    ///
    /// # Errors
    /// Only when the manager has stopped.
    pub async fn deploy(&self, manifest: Manifest) -> Result<Result<StrategyView, String>, StrategyError> {
        self.call(|reply| Request::Deploy { manifest: Box::new(manifest), reply: Some(reply) }).await
    }

    /// Every strategy.
    ///
    /// # Errors
    /// Only when the manager has stopped.
    pub async fn query(&self) -> Result<Vec<StrategyView>, StrategyError> {
        self.call(|reply| Request::Query { reply }).await
    }

    /// Stops a running strategy (`on-stop`, then its instance goes).
    ///
    /// # Errors
    /// Only when the manager has stopped.
    pub async fn stop(&self, name: String) -> Result<Result<StrategyView, String>, StrategyError> {
        self.call(|reply| Request::Stop { name, reply }).await
    }

    /// Starts a stopped, faulted or failed strategy again from its manifest (re-reading the
    /// component).
    ///
    /// # Errors
    /// Only when the manager has stopped.
    pub async fn start(&self, name: String) -> Result<Result<StrategyView, String>, StrategyError> {
        self.call(|reply| Request::Start { name, reply }).await
    }

    /// Reports a changed file in the strategy folder. Called from the watcher's thread.
    pub fn file_changed(&self, path: PathBuf, exists: bool) {
        if self.tx.blocking_send(Request::FileChanged { path, exists }).is_err() {
            tracing::debug!("strategy manager stopped: file change not reported");
        }
    }
}

/// True for the files of a strategy folder: manifests and components.
pub fn is_strategy_file(path: &Path) -> bool {
    let visible = path.file_name().is_some_and(|n| !n.to_string_lossy().starts_with('.'));
    visible && path.extension().is_some_and(|e| e == "toml" || e == "json" || e == "wasm")
}

fn is_manifest(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "toml" || e == "json")
}

/// A running instance's parts.
struct Worker {
    input: std::sync::mpsc::Sender<Input>,
    thread: Option<std::thread::JoinHandle<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Worker {
    /// Stops its tasks and waits for its thread (which ends once its input is closed or it was
    /// told to stop).
    async fn finish(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        drop(self.input);
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

struct Entry {
    manifest: Manifest,
    version: String,
    state: State,
    generation: u64,
    stats: Arc<Stats>,
    worker: Option<Worker>,
    started_at: Option<UnixNanos>,
    last_error: Option<String>,
    /// The market-data subscriber id of the current instance.
    subscriber: u64,
}

impl Entry {
    fn view(&self) -> StrategyView {
        let s = &self.stats;
        StrategyView {
            name: self.manifest.name.clone(),
            state: self.state,
            version: self.version.clone(),
            component: self.manifest.component.clone(),
            manifest: self.manifest.file.clone(),
            generation: self.generation,
            started_at: self.started_at.map(UnixNanos::as_secs),
            limits: self.manifest.limits.clone(),
            counters: Counters {
                events: s.events.load(Ordering::Relaxed),
                orders: s.orders.load(Ordering::Relaxed),
                rejects: s.rejects.load(Ordering::Relaxed),
                cpu_time_us: s.cpu_nanos.load(Ordering::Relaxed) / 1000,
                memory_bytes: s.memory.load(Ordering::Relaxed),
                dropped: s.dropped.load(Ordering::Relaxed),
            },
            last_error: self.last_error.clone(),
            last_reject: s.last_reject.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone(),
        }
    }
}

/// Starts the strategy manager; with a folder, deploys every manifest in it and watches it.
///
/// # Errors
/// When the wasm engine cannot be set up.
pub fn spawn(gateway: Gateway, shutdown: Shutdown, dir: Option<PathBuf>) -> Result<Strategies, super::EngineError> {
    let engine = Engine::new(super::engine::Metering::Epoch { tick: Duration::from_millis(2) })?;
    let (tx, rx) = mpsc::channel(256);
    let handle = Strategies { tx: tx.clone() };
    let manager = Manager { engine, gateway, tx, entries: IndexMap::new(), next_subscriber: 0 };
    let watch_handle = handle.clone();
    tokio::spawn(manager.run(rx, shutdown, dir, watch_handle));
    Ok(handle)
}

struct Manager {
    engine: Arc<Engine>,
    gateway: Gateway,
    tx: mpsc::Sender<Request>,
    entries: IndexMap<String, Entry>,
    next_subscriber: u64,
}

impl Manager {
    async fn run(mut self, mut rx: mpsc::Receiver<Request>, shutdown: Shutdown, dir: Option<PathBuf>, handle: Strategies) {
        let _watcher = match &dir {
            Some(d) => self.open_folder(d, handle).await,
            None => None,
        };
        loop {
            tokio::select! {
                r = rx.recv() => match r {
                    Some(r) => self.handle(r).await,
                    None => break,
                },
                _ = shutdown.wait() => break,
            }
        }
        let names: Vec<String> = self.entries.keys().cloned().collect();
        for name in names {
            self.halt(&name, State::Stopped).await;
        }
    }

    async fn open_folder(&mut self, dir: &Path, handle: Strategies) -> Option<crate::adapters::watch::Watcher> {
        if let Err(e) = std::fs::create_dir_all(dir) {
            tracing::warn!(dir = %dir.display(), cause = %e, "strategy folder unavailable");
            return None;
        }
        let mut manifests: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file() && is_manifest(p) && is_strategy_file(p)).collect())
            .unwrap_or_default();
        manifests.sort();
        for m in manifests {
            self.deploy_file(&m).await;
        }
        match crate::adapters::watch::start_filtered(dir, Duration::from_millis(300), is_strategy_file, move |p, exists| {
            handle.file_changed(p, exists);
        }) {
            Ok(w) => {
                tracing::info!(dir = %dir.display(), "watching the strategy folder");
                Some(w)
            }
            Err(e) => {
                tracing::warn!(dir = %dir.display(), cause = %e, "cannot watch the strategy folder: changes will not be noticed");
                None
            }
        }
    }

    async fn handle(&mut self, r: Request) {
        match r {
            Request::Deploy { manifest, reply } => {
                let out = self.deploy(*manifest).await;
                if let Some(reply) = reply {
                    let _ = reply.send(out);
                }
            }
            Request::Query { reply } => {
                let _ = reply.send(self.entries.values().map(Entry::view).collect());
            }
            Request::Stop { name, reply } => {
                let out = match self.entries.get(&name).map(|e| e.state) {
                    None => Err(format!("no strategy {name}")),
                    Some(State::Running) => {
                        self.halt(&name, State::Stopped).await;
                        Ok(self.entries[&name].view())
                    }
                    Some(s) => Err(format!("strategy {name} is not running ({s:?})")),
                };
                let _ = reply.send(out);
            }
            Request::Start { name, reply } => {
                let out = match self.entries.get(&name).map(|e| (e.state, e.manifest.clone())) {
                    None => Err(format!("no strategy {name}")),
                    Some((State::Running, _)) => Err(format!("strategy {name} is already running")),
                    Some((_, manifest)) => self.deploy(manifest).await,
                };
                let _ = reply.send(out);
            }
            Request::FileChanged { path, exists } => self.file_changed(&path, exists).await,
            Request::Ended { name, generation, fault } => self.ended(&name, generation, fault).await,
        }
    }

    async fn file_changed(&mut self, path: &Path, exists: bool) {
        if is_manifest(path) {
            if exists {
                self.deploy_file(path).await;
            } else if let Some(name) = self.entries.values().find(|e| e.manifest.file.as_deref() == Some(path)).map(|e| e.manifest.name.clone()) {
                tracing::info!(strategy = %name, manifest = %path.display(), "manifest removed: stopping the strategy");
                self.halt(&name, State::Stopped).await;
                self.entries.shift_remove(&name);
                self.gateway.strategy_event(&name, "removed", json!({"manifest": path.display().to_string()})).await;
            }
            return;
        }
        // A component: reload every strategy built from it that is meant to run.
        let using: Vec<Manifest> = self
            .entries
            .values()
            .filter(|e| e.manifest.component == path && matches!(e.state, State::Running | State::Faulted | State::Failed))
            .map(|e| e.manifest.clone())
            .collect();
        if !exists {
            return;
        }
        for m in using {
            tracing::info!(strategy = %m.name, component = %path.display(), "component changed: reloading");
            let _ = self.deploy(m).await;
        }
    }

    async fn deploy_file(&mut self, path: &Path) {
        let p = path.to_path_buf();
        let read = tokio::task::spawn_blocking(move || Manifest::from_file(&p)).await;
        match read {
            Ok(Ok(m)) => {
                if let Some(other) = self.entries.get(&m.name).and_then(|e| e.manifest.file.clone()).filter(|f| f != path) {
                    tracing::error!(manifest = %path.display(), other = %other.display(), "two manifests name strategy {}: ignored", m.name);
                    return;
                }
                let _ = self.deploy(m).await;
            }
            Ok(Err(e)) => {
                tracing::error!(%e, "strategy manifest refused");
                let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                self.gateway.strategy_event(file, "refused", json!({"errors": e.errors})).await;
            }
            Err(e) => tracing::error!(cause = %e, "reading a manifest failed"),
        }
    }

    /// Compiles, replaces and starts; keeps a running older version when the new one cannot
    /// even be compiled.
    async fn deploy(&mut self, manifest: Manifest) -> Result<StrategyView, String> {
        let name = manifest.name.clone();
        let (engine, path) = (self.engine.clone(), manifest.component.clone());
        let compiled = tokio::task::spawn_blocking(move || -> Result<Compiled, String> {
            let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            engine.compile(&bytes).map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(format!("compile task failed: {e}")));
        let compiled = match compiled {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(strategy = %name, cause = %e, "strategy component refused");
                self.gateway.strategy_event(&name, "refused", json!({"error": e})).await;
                if !self.entries.contains_key(&name) {
                    self.entries.insert(name.clone(), Entry {
                        manifest,
                        version: String::new(),
                        state: State::Failed,
                        generation: 0,
                        stats: Arc::default(),
                        worker: None,
                        started_at: None,
                        last_error: Some(e.clone()),
                        subscriber: 0,
                    });
                }
                return Err(e);
            }
        };
        let replacing = self.entries.get(&name).is_some_and(|e| e.state == State::Running);
        if replacing {
            self.halt(&name, State::Stopped).await;
        }
        let generation = self.entries.get(&name).map_or(0, |e| e.generation) + 1;
        let stats = Arc::new(Stats::default());
        self.next_subscriber += 1;
        let launched = launch(Launch {
            engine: self.engine.clone(),
            compiled: compiled.clone(),
            manifest: manifest.clone(),
            gateway: self.gateway.clone(),
            stats: stats.clone(),
            generation,
            subscriber: self.next_subscriber,
            manager: self.tx.clone(),
        })
        .await;
        let (state, worker, last_error) = match launched {
            Ok(w) => (State::Running, Some(w), None),
            Err(e) => (State::Failed, None, Some(e)),
        };
        let entry = Entry {
            manifest,
            version: compiled.hash.clone(),
            state,
            generation,
            stats,
            worker,
            started_at: Some(UnixNanos::now()),
            last_error: last_error.clone(),
            subscriber: self.next_subscriber,
        };
        let view = entry.view();
        self.entries.insert(name.clone(), entry);
        let detail = json!({"version": compiled.hash, "generation": generation});
        match last_error {
            None => {
                tracing::info!(strategy = %name, version = %compiled.hash, generation, "strategy {}", if replacing { "reloaded" } else { "started" });
                self.gateway.strategy_event(&name, if replacing { "reloaded" } else { "started" }, detail).await;
                Ok(view)
            }
            Some(e) => {
                tracing::error!(strategy = %name, cause = %e, "strategy did not start");
                self.gateway.strategy_event(&name, "failed", json!({"version": compiled.hash, "error": e})).await;
                Err(e)
            }
        }
    }

    /// Stops a running strategy: `on-stop`, then its instance and tasks go.
    async fn halt(&mut self, name: &str, state: State) {
        let Some(entry) = self.entries.get_mut(name) else { return };
        let Some(worker) = entry.worker.take() else { return };
        entry.state = state;
        let (done_tx, done_rx) = oneshot::channel();
        let grace = entry.manifest.limits.callback + STOP_GRACE;
        if worker.input.send(Input::Stop(done_tx)).is_ok() && tokio::time::timeout(grace, done_rx).await.is_err() {
            tracing::warn!(strategy = %name, "on-stop did not return in time");
        }
        worker.finish().await;
        self.gateway.remove_subscriber(Subscriber::Strategy(entry.subscriber)).await;
        tracing::info!(strategy = %name, "strategy stopped");
        self.gateway.strategy_event(name, "stopped", json!({"generation": entry.generation})).await;
    }

    async fn ended(&mut self, name: &str, generation: u64, fault: Option<Fault>) {
        let Some(entry) = self.entries.get_mut(name) else { return };
        if entry.generation != generation || entry.worker.is_none() {
            return; // an instance already replaced or stopped
        }
        let worker = entry.worker.take().expect("checked");
        worker.finish().await;
        let Some(fault) = fault else {
            entry.state = State::Stopped;
            return;
        };
        entry.state = State::Faulted;
        entry.last_error = Some(fault.to_string());
        let cancel = entry.manifest.limits.cancel_orders_on_fault;
        tracing::error!(strategy = %name, fault = %fault, "strategy faulted and was stopped");
        self.gateway.remove_subscriber(Subscriber::Strategy(entry.subscriber)).await;
        let mut cancelled = Vec::new();
        if cancel {
            cancelled = cancel_open_orders(&self.gateway, name).await;
        }
        self.gateway
            .strategy_event(name, "faulted", json!({"kind": fault.kind(), "reason": fault.to_string(), "cancelled": cancelled}))
            .await;
    }
}

async fn cancel_open_orders(gateway: &Gateway, name: &str) -> Vec<String> {
    let origin = OrderOrigin::Strategy { name: name.to_owned() };
    let orders = gateway.orders(OrderClass::Order).await.unwrap_or_default();
    let mut out = Vec::new();
    for o in orders.iter().filter(|o| o.order.request.origin == origin && !o.order.status.is_terminal()) {
        let id = o.order.request.client_order_id.as_str().to_owned();
        if let Ok(outcome) = gateway.cancel(id.clone()).await {
            tracing::info!(strategy = %name, order = %id, ?outcome, "cancelling the faulted strategy's order");
        }
        out.push(id);
    }
    out
}

struct Launch {
    engine: Arc<Engine>,
    compiled: Compiled,
    manifest: Manifest,
    gateway: Gateway,
    stats: Arc<Stats>,
    generation: u64,
    subscriber: u64,
    manager: mpsc::Sender<Request>,
}

/// Starts an instance: takes the strategy's current world from the gateway, attaches to the
/// bus, runs `on-start` on a new worker thread; answers once `on-start` returned.
async fn launch(l: Launch) -> Result<Worker, String> {
    let name = l.manifest.name.clone();
    let limits = Arc::new(l.manifest.limits.clone());
    // Attach first, then read: nothing that happens in between is missed (an order both in
    // the snapshot and on the bus is recognised as unchanged).
    let (sub, _) = l.gateway.subscribe(4096).await.map_err(|e| e.to_string())?;
    let mut view = View::default();
    let origin = OrderOrigin::Strategy { name: name.clone() };
    for o in l.gateway.orders(OrderClass::Order).await.map_err(|e| e.to_string())? {
        if o.order.request.origin == origin {
            let own = OwnOrder::of(&o.order);
            view.orders.insert(own.id().to_owned(), own);
        }
    }
    view.set_positions(&l.gateway.positions().await.map_err(|e| e.to_string())?, &limits.accounts);
    for a in &limits.accounts {
        if let Ok(Some(s)) = l.gateway.account_summary(a.clone()).await {
            view.accounts.insert(a.clone(), s);
        }
    }

    let (input_tx, input_rx) = std::sync::mpsc::channel::<Input>();
    let (job_tx, job_rx) = mpsc::unbounded_channel::<Job>();
    let backlog = Arc::new(AtomicUsize::new(0));
    let subscribed = Arc::new(Mutex::new(HashSet::<Symbol>::new()));
    let (started_tx, started_rx) = oneshot::channel();

    let ctx = Ctx::new(&name, limits.clone(), l.stats.clone(), Clock::Gateway(l.gateway.clone()), Ids::Random, None);
    let thread = {
        let (engine, compiled, config, manager, backlog) = (l.engine.clone(), l.compiled.clone(), l.manifest.config.clone(), l.manager.clone(), backlog.clone());
        let generation = l.generation;
        let job_tx = job_tx.clone();
        std::thread::Builder::new()
            .name(format!("strategy-{name}"))
            .spawn(move || {
                let mut ctx = ctx;
                ctx.view = view;
                let name = ctx.name().to_owned();
                let fault = worker::work(&engine, &compiled, ctx, &config, &input_rx, &job_tx, &backlog, started_tx);
                let _ = manager.blocking_send(Request::Ended { name, generation, fault });
            })
            .map_err(|e| format!("cannot start a thread: {e}"))?
    };
    let executor = tokio::spawn(executor::execute(Exec {
        name: name.clone(),
        gateway: l.gateway.clone(),
        input: input_tx.clone(),
        subscribed: subscribed.clone(),
        subscriber: Subscriber::Strategy(l.subscriber),
        backlog: backlog.clone(),
    }, job_rx));
    let forwarder = tokio::spawn(forwarder::forward(Forward {
        name: name.clone(),
        gateway: l.gateway.clone(),
        input: input_tx.clone(),
        subscribed,
        backlog,
        stats: l.stats.clone(),
        limits,
    }, sub));
    let worker = Worker { input: input_tx, thread: Some(thread), tasks: vec![executor, forwarder] };
    match started_rx.await {
        Ok(Ok(())) => Ok(worker),
        outcome => {
            worker.finish().await;
            l.gateway.remove_subscriber(Subscriber::Strategy(l.subscriber)).await;
            Err(match outcome {
                Ok(Err(e)) => e,
                _ => "the strategy thread ended during on-start".into(),
            })
        }
    }
}
