//! One strategy instance: its wasmtime `Store` (holding the host side, [`Ctx`]) and the calls
//! into its exports, each with a fresh budget (an epoch deadline live, fuel in replay); a trap
//! of any kind becomes a [`Fault`], classified so operators read what happened.

use super::bindings::{self, exports::txtrader::strategy::handler::Guest};
use super::convert;
use super::engine::{Compiled, Engine, Metering};
use super::host::Ctx;
use super::view::{OwnFill, OwnOrder};
use std::sync::atomic::Ordering;
use std::time::Instant;
use txtrader_plugin_api::model::{Bar, Quote, Trade};
use wasmtime::{Store, Trap};

/// Why an instance stopped running.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    /// A callback ran past its CPU deadline.
    #[error("callback ran past its {0} ms deadline")]
    Deadline(u64),
    /// A callback used up its fuel (replay).
    #[error("callback used up its fuel budget of {0} instructions")]
    Fuel(u64),
    /// The guest tried to grow its memory past the limit.
    #[error("memory limit of {0} MiB exceeded")]
    Memory(u64),
    /// The guest's stack overflowed.
    #[error("stack overflow")]
    StackOverflow,
    /// The guest panicked.
    #[error("panicked: {0}")]
    Panic(String),
    /// Any other trap.
    #[error("trapped: {0}")]
    Trap(String),
    /// The component could not be instantiated.
    #[error("cannot instantiate: {0}")]
    Instantiate(String),
}

impl Fault {
    /// A short machine-readable kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Deadline(_) => "deadline",
            Self::Fuel(_) => "fuel",
            Self::Memory(_) => "memory",
            Self::StackOverflow => "stack_overflow",
            Self::Panic(_) => "panic",
            Self::Trap(_) => "trap",
            Self::Instantiate(_) => "instantiate",
        }
    }
}


/// A running instance: its store and its exports.
pub struct Instance {
    store: Store<Ctx>,
    strategy: bindings::Strategy,
    metering: Metering,
    callback_ms: u64,
    fuel: u64,
    ticks: u64,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance").field("name", &self.store.data().name()).finish_non_exhaustive()
    }
}

impl Instance {
    /// Instantiates a compiled component with this context.
    ///
    /// # Errors
    /// [`Fault::Instantiate`] (or the fault its start-up code hit).
    pub fn new(engine: &Engine, compiled: &Compiled, ctx: Ctx) -> Result<Self, Fault> {
        let callback_ms = u64::try_from(ctx.limits.callback.as_millis()).unwrap_or(u64::MAX);
        let fuel = ctx.limits.fuel_per_callback;
        let ticks = match engine.metering() {
            Metering::Epoch { tick } => callback_ms.div_ceil(u64::try_from(tick.as_millis()).unwrap_or(1).max(1)) + 1,
            Metering::Fuel => 0,
        };
        let mut store = Store::new(engine.wasmtime(), ctx);
        store.limiter(Ctx::limiter);
        match engine.metering() {
            Metering::Epoch { .. } => {
                store.epoch_deadline_trap();
                store.set_epoch_deadline(ticks);
            }
            Metering::Fuel => {
                let _ = store.set_fuel(fuel);
            }
        }
        let strategy = bindings::Strategy::instantiate(&mut store, &compiled.component, engine.linker()).map_err(|e| {
            match classify(&e, store.data(), callback_ms, fuel) {
                Fault::Trap(m) => Fault::Instantiate(m),
                f => f,
            }
        })?;
        Ok(Self { store, strategy, metering: engine.metering(), callback_ms, fuel, ticks })
    }

    /// The store's context.
    pub fn ctx(&mut self) -> &mut Ctx {
        self.store.data_mut()
    }

    fn call<R>(&mut self, f: impl FnOnce(&Guest, &mut Store<Ctx>) -> wasmtime::Result<R>) -> Result<R, Fault> {
        match self.metering {
            Metering::Epoch { .. } => self.store.set_epoch_deadline(self.ticks),
            Metering::Fuel => {
                let _ = self.store.set_fuel(self.fuel);
            }
        }
        let t = Instant::now();
        let guest = self.strategy.txtrader_strategy_handler().clone();
        let out = f(&guest, &mut self.store);
        let stats = &self.store.data().stats;
        stats.cpu_nanos.fetch_add(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
        stats.events.fetch_add(1, Ordering::Relaxed);
        out.map_err(|e| classify(&e, self.store.data(), self.callback_ms, self.fuel))
    }

    /// `on-start(config)`: `Ok(Err)` when the strategy refuses to start.
    ///
    /// # Errors
    /// A fault.
    pub fn on_start(&mut self, config: &str) -> Result<Result<(), String>, Fault> {
        self.call(|g, s| g.call_on_start(s, config))
    }

    /// `on-quote`.
    ///
    /// # Errors
    /// A fault.
    pub fn on_quote(&mut self, q: &Quote) -> Result<(), Fault> {
        self.ctx().view.quotes.insert(q.symbol.clone(), q.clone());
        let w = convert::quote(q);
        self.call(|g, s| g.call_on_quote(s, &w))
    }

    /// `on-trade`.
    ///
    /// # Errors
    /// A fault.
    pub fn on_trade(&mut self, t: &Trade) -> Result<(), Fault> {
        let w = convert::trade(t);
        self.call(|g, s| g.call_on_trade(s, &w))
    }

    /// `on-bar`.
    ///
    /// # Errors
    /// A fault.
    pub fn on_bar(&mut self, b: &Bar) -> Result<(), Fault> {
        let w = convert::bar(b);
        self.call(|g, s| g.call_on_bar(s, &w))
    }

    /// `on-bars`.
    ///
    /// # Errors
    /// A fault.
    pub fn on_bars(&mut self, id: u64, bars: Result<&[Bar], String>) -> Result<(), Fault> {
        let w = bars.map(|b| b.iter().map(convert::bar).collect::<Vec<_>>());
        let arg = match &w {
            Ok(v) => Ok(v.as_slice()),
            Err(e) => Err(e.as_str()),
        };
        self.call(|g, s| g.call_on_bars(s, id, arg))
    }

    /// `on-order` with one of its orders, reporting `fill` as the change's fill.
    ///
    /// # Errors
    /// A fault.
    pub fn on_order(&mut self, order: &OwnOrder, fill: Option<&OwnFill>) -> Result<(), Fault> {
        let w = convert::order(order, fill);
        self.call(|g, s| g.call_on_order(s, &w))
    }

    /// `on-timer`.
    ///
    /// # Errors
    /// A fault.
    pub fn on_timer(&mut self, id: u64) -> Result<(), Fault> {
        self.call(|g, s| g.call_on_timer(s, id))
    }

    /// `on-stop`.
    ///
    /// # Errors
    /// A fault.
    pub fn on_stop(&mut self) -> Result<(), Fault> {
        self.call(|g, s| g.call_on_stop(s))
    }
}

fn classify(e: &wasmtime::Error, ctx: &Ctx, callback_ms: u64, fuel: u64) -> Fault {
    if ctx.memory_limit_hit() {
        return Fault::Memory(ctx.limits.memory_bytes >> 20);
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => Fault::Deadline(callback_ms),
        Some(Trap::OutOfFuel) => Fault::Fuel(fuel),
        Some(Trap::StackOverflow) => Fault::StackOverflow,
        Some(trap) => {
            let stderr = ctx.stderr_tail();
            match panic_message(&stderr) {
                Some(m) => Fault::Panic(m),
                None => Fault::Trap(trap.to_string()),
            }
        }
        None => Fault::Trap(format!("{:#}", e.root_cause())),
    }
}

/// The message of the last Rust panic in a guest's stderr.
fn panic_message(stderr: &str) -> Option<String> {
    let at = stderr.rfind("panicked at")?;
    let rest = &stderr[at..];
    let text: Vec<&str> = rest.lines().take_while(|l| !l.starts_with("note:")).map(str::trim).filter(|l| !l.is_empty()).collect();
    Some(text.join(" "))
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_found() {
        let s = "junk\nthread '<unnamed>' panicked at src/lib.rs:3:5:\nboom\nnote: run with `RUST_BACKTRACE=1`";
        assert_eq!(panic_message(s).as_deref(), Some("panicked at src/lib.rs:3:5: boom"));
        assert_eq!(panic_message("nothing"), None);
    }
}
