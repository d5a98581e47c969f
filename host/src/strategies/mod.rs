//! Sandboxed WebAssembly strategies: trading logic compiled to components of the WIT world
//! `txtrader:strategy@0.1.0` (`plugin-api/wit/strategy.wit`), run inside txtraderd with the
//! same normalized order and market-data API as every client.
//!
//! A strategy cannot harm the gateway, other strategies, or accounts it was not granted: it
//! gets no WASI capabilities (no files, sockets, environment), its memory and the CPU time of
//! each callback are capped, and every action it takes is checked against its manifest
//! (accounts, symbols, order rate, size and notional). A trap of any kind stops it alone.
//!
//! # Layout
//! - [`manifest`]: what a strategy is and may do.
//! - [`engine`]: the wasmtime engine, the linker, the component cache.
//! - [`instance`]: one instance: its store, the host functions, the limits, faults.
//! - `convert`: WIT types ↔ the domain model, in one place.
//! - [`runner`]: live strategies (the manager task, worker threads, bus forwarding).
//! - [`replay`]: deterministic offline runs over historical bars.

mod convert;
pub mod engine;
pub mod instance;
pub mod manifest;
pub mod replay;
pub mod runner;

pub use engine::EngineError;
pub use manifest::{Manifest, ManifestError};
pub use runner::{Strategies, StrategyView};
