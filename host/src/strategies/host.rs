//! The host side of the strategy world: the store data of one instance ([`Ctx`]) and the host
//! functions a guest imports, each under the manifest's limits.
//!
//! Host functions never block and never reach the gateway directly: they read the instance's
//! [`View`] (kept current by whoever drives the instance: the live runner or the replay) or
//! check an action against the limits and queue it in [`Ctx::outbox`]. A refused action is the
//! `err` of the call, counted, and queued in [`Ctx::refusals`] for the log and the stream.
//! WIT values are read and built through `convert` only.
//!
//! The context grants no WASI capability: no files, sockets, environment or arguments; guest
//! stderr is kept as a tail (where a panic message lands). Memory is capped by a limiter whose
//! refusal traps the guest.

use super::bindings::txtrader::strategy::{host, types as wit};
use super::convert;
use super::manifest::Limits;
use super::view::{LogLevel, OwnOrder, View};
use crate::gateway::{Gateway, NewOrder};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use txtrader_plugin_api::model::{AccountId, BarInterval, ClientOrderId, Money, Side, Symbol, UnixNanos};
use wasmtime::component::ResourceTable;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Counters of one strategy, shared with `query_strategies`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Events delivered (callbacks run).
    pub events: AtomicU64,
    /// Orders accepted from it.
    pub orders: AtomicU64,
    /// Actions refused.
    pub rejects: AtomicU64,
    /// Time spent inside its callbacks, in nanoseconds.
    pub cpu_nanos: AtomicU64,
    /// Linear memory, in bytes.
    pub memory: AtomicU64,
    /// Market data events skipped because it was behind.
    pub dropped: AtomicU64,
    /// The latest refusal.
    pub last_reject: Mutex<Option<String>>,
}

/// Something an instance asked for, to be carried out by its driver.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Start market data.
    Subscribe(Symbol),
    /// Stop market data.
    Unsubscribe(Symbol),
    /// Historical bars, answered through `on-bars` with `id`.
    Bars {
        /// Request id.
        id: u64,
        /// Symbol.
        symbol: Symbol,
        /// Width.
        interval: BarInterval,
        /// First bar start.
        start: UnixNanos,
        /// Last bar start.
        end: UnixNanos,
    },
    /// Place an order under this id.
    Submit(Box<NewOrder>),
    /// Cancel one of its orders.
    Cancel(String),
    /// Change one of its orders.
    Modify(String, crate::gateway::change::Change),
}

/// A timer change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerOp {
    /// Fire `on-timer(id)` after this many milliseconds.
    Set(u64, u64),
    /// Forget a timer.
    Cancel(u64),
}

/// Where `now` comes from.
#[derive(Clone, Debug)]
pub enum Clock {
    /// The gateway's feed clock (the wall clock until the feed ticks).
    Gateway(Gateway),
    /// A clock the driver sets (replay).
    Fixed(u64),
}

/// How order ids are made.
#[derive(Clone, Debug)]
pub enum Ids {
    /// Random UUIDs (live).
    Random,
    /// `<name>-1`, `<name>-2`, ... (replay: deterministic).
    Sequence(u64),
}


/// Caps how much of a guest's log reaches ours.
const MAX_LOG_LINE: usize = 4096;
const MAX_LOG_LINES_PER_CALL: usize = 100;

/// The store data of one instance: WASI (without capabilities), limits, view and queues.
pub struct Ctx {
    name: String,
    wasi: WasiCtx,
    table: ResourceTable,
    memory: MemoryLimiter,
    stderr: TailPipe,
    /// The limits.
    pub limits: Arc<Limits>,
    /// Counters.
    pub stats: Arc<Stats>,
    /// What it sees.
    pub view: View,
    /// Where `now` comes from.
    pub clock: Clock,
    ids: Ids,
    bucket: TokenBucket,
    started: Instant,
    next_request: u64,
    /// Actions to carry out, in order.
    pub outbox: Vec<Action>,
    /// Timer changes, in order.
    pub timers: Vec<TimerOp>,
    /// Refusals since the last drain.
    pub refusals: Vec<String>,
    /// Log lines since the last drain.
    pub logs: Vec<(LogLevel, String)>,
    logs_dropped: u64,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Ctx {
    /// A context without WASI capabilities.
    pub fn new(name: &str, limits: Arc<Limits>, stats: Arc<Stats>, clock: Clock, ids: Ids, seed: Option<u64>) -> Self {
        let stderr = TailPipe::default();
        let mut b = wasmtime_wasi::WasiCtxBuilder::new();
        // No preopened folders, no environment, no arguments, no network: the builder grants
        // none of them unless asked. Sockets are refused outright.
        b.stderr(stderr.clone()).allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
        if let Some(seed) = seed {
            // Replay: every source of variation is fixed.
            let bytes: Vec<u8> = seed.to_le_bytes().iter().cycle().take(4096).copied().collect();
            b.secure_random(wasmtime_wasi::Deterministic::new(bytes.clone()))
                .insecure_random(wasmtime_wasi::Deterministic::new(bytes))
                .insecure_random_seed(u128::from(seed));
            let fixed = FixedClock(match &clock {
                Clock::Fixed(t) => *t,
                Clock::Gateway(_) => 0,
            });
            b.wall_clock(fixed.clone()).monotonic_clock(fixed);
        }
        let bucket = TokenBucket::new(limits.orders_per_second, limits.order_burst);
        Self {
            name: name.to_owned(),
            wasi: b.build(),
            table: ResourceTable::new(),
            memory: MemoryLimiter { max: usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX), total: 0, hit: false, stats: stats.clone() },
            stderr,
            limits,
            stats,
            view: View::default(),
            clock,
            ids,
            bucket,
            started: Instant::now(),
            next_request: 0,
            outbox: Vec::new(),
            timers: Vec::new(),
            refusals: Vec::new(),
            logs: Vec::new(),
            logs_dropped: 0,
        }
    }

    /// The strategy's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn now(&self) -> u64 {
        match &self.clock {
            Clock::Gateway(g) => g.feed_time().unwrap_or_else(UnixNanos::now).0,
            Clock::Fixed(t) => *t,
        }
    }

    /// Monotonic nanoseconds for the order rate.
    fn mono(&self) -> u64 {
        match &self.clock {
            Clock::Gateway(_) => u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX),
            Clock::Fixed(t) => *t,
        }
    }

    fn refuse<T>(&mut self, reason: String) -> Result<T, String> {
        self.stats.rejects.fetch_add(1, Ordering::Relaxed);
        *self.stats.last_reject.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(reason.clone());
        self.refusals.push(reason.clone());
        Err(reason)
    }

    fn allowed_symbol(&self, symbol: &str) -> Result<Symbol, String> {
        let s = convert::symbol(symbol)?;
        if !self.limits.symbols.allows(&s) {
            return Err(format!("symbol {s} is not allowed by the manifest"));
        }
        Ok(s)
    }

    fn check_order(&mut self, order: &NewOrder) -> Result<(), String> {
        let l = &self.limits;
        if !l.accounts.contains(&order.account) {
            return Err(format!("account {} is not allowed by the manifest", order.account));
        }
        if !l.symbols.allows(&order.symbol) {
            return Err(format!("symbol {} is not allowed by the manifest", order.symbol));
        }
        if order.quantity > l.max_order_quantity {
            return Err(format!("quantity {} is above the maximum of {}", order.quantity, l.max_order_quantity));
        }
        let price = order.order_type.limit_price().or(order.order_type.stop_price()).or_else(|| {
            let q = self.view.quotes.get(&order.symbol)?;
            match order.side {
                Side::Buy => q.ask.or(q.bid),
                Side::Sell => q.bid.or(q.ask),
            }
        });
        let Some(price) = price else {
            return Err(format!("no quote for {}: subscribe first, a market order's notional cannot be checked without one", order.symbol));
        };
        let notional = Money::notional(price, order.quantity);
        if notional > l.max_order_notional {
            return Err(format!("notional {notional} is above the maximum of {}", l.max_order_notional));
        }
        if l.orders_per_second == 0 {
            return Err("the manifest allows no orders (orders_per_second = 0)".into());
        }
        let now = self.mono();
        if !self.bucket.take(now) {
            return Err(format!(
                "order rate limit: {} per second (burst {}) exceeded",
                self.limits.orders_per_second, self.limits.order_burst
            ));
        }
        Ok(())
    }

    fn next_order_id(&mut self) -> Option<ClientOrderId> {
        let text = match &mut self.ids {
            Ids::Random => uuid::Uuid::new_v4().to_string(),
            Ids::Sequence(n) => {
                *n += 1;
                format!("{}-{n}", self.name)
            }
        };
        ClientOrderId::new(text).ok()
    }

    /// The memory limiter the store consults before the guest's memory grows.
    pub fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.memory
    }

    /// True once the guest was refused memory past its limit (what made it trap).
    pub fn memory_limit_hit(&self) -> bool {
        self.memory.hit
    }

    /// Guest stderr written since the instance started (its tail).
    pub fn stderr_tail(&self) -> String {
        self.stderr.text()
    }

    /// Takes the log lines and how many were dropped since the last drain.
    pub fn drain_logs(&mut self) -> (Vec<(LogLevel, String)>, u64) {
        (std::mem::take(&mut self.logs), std::mem::take(&mut self.logs_dropped))
    }
}

impl WasiView for Ctx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl wit::Host for Ctx {}

impl host::Host for Ctx {
    fn subscribe(&mut self, symbol: String) -> Result<(), String> {
        let s = match self.allowed_symbol(&symbol) {
            Ok(s) => s,
            Err(e) => return self.refuse(e),
        };
        if self.view.subscribed.insert(s.clone()) {
            self.outbox.push(Action::Subscribe(s));
        }
        Ok(())
    }

    fn unsubscribe(&mut self, symbol: String) {
        if let Ok(s) = convert::symbol(&symbol) {
            if self.view.subscribed.remove(&s) {
                self.view.quotes.remove(&s);
                self.outbox.push(Action::Unsubscribe(s));
            }
        }
    }

    fn latest_quote(&mut self, symbol: String) -> Option<wit::Quote> {
        let s = convert::symbol(&symbol).ok()?;
        self.view.quotes.get(&s).map(convert::quote)
    }

    fn request_bars(&mut self, symbol: String, interval: wit::Interval, start: u64, end: u64) -> Result<u64, String> {
        let checked = self.allowed_symbol(&symbol).and_then(|s| {
            let i = convert::bar_interval(interval)?;
            if start > end {
                return Err(format!("start {start} is after end {end}"));
            }
            Ok((s, i))
        });
        let (symbol, interval) = match checked {
            Ok(v) => v,
            Err(e) => return self.refuse(e),
        };
        self.next_request += 1;
        let id = self.next_request;
        self.outbox.push(Action::Bars { id, symbol, interval, start: UnixNanos(start), end: UnixNanos(end) });
        Ok(id)
    }

    fn submit_order(&mut self, order: wit::OrderRequest) -> Result<String, String> {
        let checked = convert::new_order(&order, &self.name).and_then(|o| self.check_order(&o).map(|()| o));
        let mut new = match checked {
            Ok(o) => o,
            Err(e) => return self.refuse(e),
        };
        let Some(id) = self.next_order_id() else { return self.refuse("cannot create an order id".into()) };
        new.client_order_id = Some(id.clone());
        let text = id.as_str().to_owned();
        self.view.orders.insert(text.clone(), OwnOrder::pending(id, &new));
        self.outbox.push(Action::Submit(Box::new(new)));
        self.stats.orders.fetch_add(1, Ordering::Relaxed);
        Ok(text)
    }

    fn cancel_order(&mut self, id: String) -> Result<(), String> {
        match self.view.orders.get(&id) {
            Some(o) if !o.done() => {
                self.outbox.push(Action::Cancel(id));
                Ok(())
            }
            Some(o) => self.refuse(format!("order {id} is already {:?}", convert::status(o.status))),
            None => self.refuse(format!("no order {id} of this strategy")),
        }
    }

    fn modify_order(&mut self, id: String, change: wit::OrderChange) -> Result<(), String> {
        let change = match convert::order_change(&change) {
            Ok(c) => c,
            Err(e) => return self.refuse(e),
        };
        let Some(o) = self.view.orders.get(&id) else { return self.refuse(format!("no order {id} of this strategy")) };
        if o.done() {
            return self.refuse(format!("order {id} is already {:?}", convert::status(o.status)));
        }
        let terms = change.apply(o.request.quantity, o.request.order_type, o.filled);
        let (quantity, order_type) = match terms {
            Ok(t) => t,
            Err(e) => return self.refuse(format!("order {id}: {e}")),
        };
        // the order on its new terms is held to the manifest's limits like a new one
        let r = &o.request;
        let changed = NewOrder {
            account: r.account.clone(),
            symbol: r.symbol.clone(),
            side: r.side,
            quantity,
            order_type,
            time_in_force: r.time_in_force,
            route: None,
            sets_default_route: false,
            staged_tag: None,
            origin: r.origin.clone(),
            user: None,
            client_order_id: None,
            intended_duplicate: true,
        };
        if let Err(e) = self.check_order(&changed) {
            return self.refuse(e);
        }
        self.outbox.push(Action::Modify(id, change));
        Ok(())
    }

    fn open_orders(&mut self) -> Vec<wit::Order> {
        self.view.orders.values().filter(|o| !o.done()).map(|o| convert::order(o, None)).collect()
    }

    fn positions(&mut self) -> Vec<wit::Position> {
        let allowed = &self.limits.accounts;
        self.view
            .positions
            .iter()
            .filter(|((a, _), _)| allowed.contains(a))
            .map(|((a, s), q)| convert::position(a, s, *q))
            .collect()
    }

    fn account(&mut self, account: String) -> Option<wit::AccountSummary> {
        let a = AccountId::new(account).ok()?;
        if !self.limits.accounts.contains(&a) {
            return None;
        }
        self.view.accounts.get(&a).map(convert::account)
    }

    fn set_timer(&mut self, id: u64, after_ms: u64) {
        self.timers.push(TimerOp::Set(id, after_ms));
    }

    fn cancel_timer(&mut self, id: u64) {
        self.timers.push(TimerOp::Cancel(id));
    }

    fn log(&mut self, level: wit::LogLevel, message: String) {
        let level = convert::log_level(level);
        if self.logs.len() >= MAX_LOG_LINES_PER_CALL {
            self.logs_dropped += 1;
            return;
        }
        let mut m = message;
        if m.len() > MAX_LOG_LINE {
            let mut cut = MAX_LOG_LINE;
            while !m.is_char_boundary(cut) {
                cut -= 1;
            }
            m.truncate(cut);
            m.push('…');
        }
        self.logs.push((level, m));
    }

    fn now(&mut self) -> u64 {
        Ctx::now(self)
    }
}

/// Refuses memory growth past the manifest's limit, with an error that traps the guest.
struct MemoryLimiter {
    max: usize,
    total: usize,
    hit: bool,
    stats: Arc<Stats>,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let total = self.total.saturating_sub(current).saturating_add(desired);
        if total > self.max {
            self.hit = true;
            return Err(wasmtime::Error::msg(format!("memory limit of {} MiB exceeded", self.max >> 20)));
        }
        self.total = total;
        self.stats.memory.store(u64::try_from(total).unwrap_or(u64::MAX), Ordering::Relaxed);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// A token bucket in millionths of an order.
#[derive(Debug)]
struct TokenBucket {
    per_second: u64,
    capacity: u64,
    tokens: u64,
    last: Option<u64>,
}

const UNIT: u64 = 1_000_000;

impl TokenBucket {
    fn new(per_second: u32, burst: u32) -> Self {
        let capacity = u64::from(burst) * UNIT;
        Self { per_second: u64::from(per_second), capacity, tokens: capacity, last: None }
    }

    fn take(&mut self, now: u64) -> bool {
        if let Some(last) = self.last {
            let elapsed = now.saturating_sub(last);
            // elapsed ns × per_second orders/s × UNIT / 1e9 = elapsed × per_second / 1000
            let refill = u64::try_from(u128::from(elapsed) * u128::from(self.per_second) / 1000).unwrap_or(u64::MAX);
            self.tokens = self.tokens.saturating_add(refill).min(self.capacity);
        }
        self.last = Some(now);
        if self.tokens >= UNIT {
            self.tokens -= UNIT;
            true
        } else {
            false
        }
    }
}

/// A fixed clock for replay's WASI clocks.
#[derive(Clone, Debug)]
struct FixedClock(u64);

impl wasmtime_wasi::HostWallClock for FixedClock {
    fn resolution(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(1)
    }
    fn now(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.0)
    }
}

impl wasmtime_wasi::HostMonotonicClock for FixedClock {
    fn resolution(&self) -> u64 {
        1
    }
    fn now(&self) -> u64 {
        self.0
    }
}

/// Guest stderr: keeps the last few KiB (where a panic message lands), never fills up.
#[derive(Clone, Debug, Default)]
struct TailPipe(Arc<Mutex<Vec<u8>>>);

const STDERR_TAIL: usize = 8192;

impl TailPipe {
    fn push(&self, bytes: &[u8]) {
        let mut b = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        b.extend_from_slice(bytes);
        if b.len() > STDERR_TAIL {
            let cut = b.len() - STDERR_TAIL;
            b.drain(..cut);
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).into_owned()
    }
}

impl wasmtime_wasi::cli::IsTerminal for TailPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for TailPipe {
    fn p2_stream(&self) -> Box<dyn wasmtime_wasi::p2::OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl wasmtime_wasi::p2::OutputStream for TailPipe {
    fn write(&mut self, bytes: bytes::Bytes) -> wasmtime_wasi::p2::StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> wasmtime_wasi::p2::StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> wasmtime_wasi::p2::StreamResult<usize> {
        Ok(STDERR_TAIL)
    }
}

#[wasmtime_wasi::async_trait]
impl wasmtime_wasi::p2::Pollable for TailPipe {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for TailPipe {
    fn poll_write(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>, buf: &[u8]) -> std::task::Poll<std::io::Result<usize>> {
        self.push(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_allows_a_burst_then_the_rate() {
        let mut b = TokenBucket::new(2, 3);
        assert!(b.take(0) && b.take(0) && b.take(0));
        assert!(!b.take(0));
        assert!(!b.take(400_000_000), "0.8 of an order after 400 ms");
        assert!(b.take(500_000_000), "one order per 500 ms");
        assert!(!b.take(500_000_000));
    }
}
