//! The wasmtime side of strategies: the one [`Engine`] (configuration, epoch ticker, linker)
//! and its cache of compiled components, keyed by the SHA-256 of the component's bytes.
//!
//! Two metering modes exist, each with its own engine because compiled code differs: live
//! strategies are interrupted by epoch deadlines (a ticker thread advances the epoch), replay
//! counts fuel so that the same input always runs the same way. The linker grants WASI only
//! as far as a Rust `wasm32-wasip2` guest needs to run: no files, no sockets, no environment,
//! no arguments; stderr is captured for panic messages (see [`super::host`]).

use super::bindings;
use super::host::Ctx;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker};

/// How runaway guests are stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metering {
    /// Wall-clock deadlines: the epoch advances every `tick`.
    Epoch {
        /// Epoch period.
        tick: Duration,
    },
    /// Instruction budgets (fuel): deterministic.
    Fuel,
}

/// Why a component cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The engine could not be configured.
    #[error("wasm engine: {0}")]
    Setup(String),
    /// The bytes are not a valid component (or not for this world).
    #[error("not a usable strategy component: {0}")]
    Compile(String),
}

/// A compiled component and its content hash.
#[derive(Clone)]
pub struct Compiled {
    /// The component.
    pub component: Component,
    /// SHA-256 of its bytes, hex.
    pub hash: String,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled").field("hash", &self.hash).finish_non_exhaustive()
    }
}

/// Stops the epoch ticker when the engine goes.
struct Ticker(Arc<AtomicBool>);

impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The engine shared by every strategy of one metering mode.
pub struct Engine {
    engine: wasmtime::Engine,
    linker: Linker<Ctx>,
    cache: Mutex<HashMap<String, Component>>,
    metering: Metering,
    _ticker: Option<Ticker>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("metering", &self.metering).finish_non_exhaustive()
    }
}

/// Stack a guest may use before it traps with a stack overflow.
const MAX_WASM_STACK: usize = 1 << 20;

impl Engine {
    /// Creates the engine (and, for epoch metering, its ticker thread).
    ///
    /// # Errors
    /// When wasmtime refuses the configuration.
    pub fn new(metering: Metering) -> Result<Arc<Self>, EngineError> {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true).max_wasm_stack(MAX_WASM_STACK);
        match metering {
            Metering::Epoch { .. } => config.epoch_interruption(true),
            Metering::Fuel => config.consume_fuel(true),
        };
        let engine = wasmtime::Engine::new(&config).map_err(|e| EngineError::Setup(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| EngineError::Setup(format!("{e:#}")))?;
        bindings::Strategy::add_to_linker::<_, HasSelf<_>>(&mut linker, |c| c).map_err(|e| EngineError::Setup(format!("{e:#}")))?;
        let ticker = match metering {
            Metering::Epoch { tick } => {
                let stop = Arc::new(AtomicBool::new(false));
                let (e, s) = (engine.clone(), stop.clone());
                std::thread::Builder::new()
                    .name("wasm-epoch".into())
                    .spawn(move || {
                        while !s.load(Ordering::Relaxed) {
                            std::thread::sleep(tick);
                            e.increment_epoch();
                        }
                    })
                    .map_err(|e| EngineError::Setup(format!("epoch thread: {e}")))?;
                Some(Ticker(stop))
            }
            Metering::Fuel => None,
        };
        Ok(Arc::new(Self { engine, linker, cache: Mutex::new(HashMap::new()), metering, _ticker: ticker }))
    }

    /// The metering mode.
    pub fn metering(&self) -> Metering {
        self.metering
    }

    /// The wasmtime engine.
    pub(crate) fn wasmtime(&self) -> &wasmtime::Engine {
        &self.engine
    }

    /// The linker with WASI (no capabilities) and the strategy host functions.
    pub(crate) fn linker(&self) -> &Linker<Ctx> {
        &self.linker
    }

    /// Compiles a component, or returns the cached compilation of the same bytes. Compiling
    /// is CPU-heavy: call it off the async runtime.
    ///
    /// # Errors
    /// When the bytes are not a valid component or do not fit the strategy world.
    pub fn compile(&self, bytes: &[u8]) -> Result<Compiled, EngineError> {
        let hash = hex(&Sha256::digest(bytes));
        if let Some(c) = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&hash) {
            return Ok(Compiled { component: c.clone(), hash });
        }
        let component = Component::new(&self.engine, bytes).map_err(|e| EngineError::Compile(format!("{e:#}")))?;
        // Checked now, not at the first start: a component built for another world is refused
        // at deploy time with the missing import or export named.
        self.linker.instantiate_pre(&component).map_err(|e| EngineError::Compile(format!("{e:#}")))?;
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(hash.clone(), component.clone());
        Ok(Compiled { component, hash })
    }

    /// How many distinct components are cached.
    pub fn cached(&self) -> usize {
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }
}

/// Lower-case hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
