//! The contract every part of txtrader builds against: the broker-neutral domain model, the
//! serialized messages that cross the adapter boundary, and the safe `Adapter` trait that a
//! broker adapter implements.
//!
//! This crate does no I/O and knows nothing of tokio, HTTP or any broker's vocabulary. Values in
//! the domain are exact: prices, quantities and cash are decimals, never binary floats.
//!
//! # Layout
//! - [`model`]: identifiers, money, instruments and market data, orders and their status
//!   machine, executions, positions, accounts, connection status.
//! - [`wire`]: [`wire::AdapterRequest`] / [`wire::AdapterEvent`] and the `Hello` handshake, the
//!   only things that cross the adapter boundary (as JSON bytes).
//! - [`adapter`]: the [`adapter::Adapter`] trait, the host's event sink, and the bytes-level
//!   dispatch the C ABI uses.
//! - [`settings`]: reading an adapter's own `TXTRADER_<INSTANCE>_*` settings, the same way in
//!   every adapter.
//! - [`worker_thread`]: the thread an adapter works on, panics reported as a failed link.
//! - `abi` (feature `abi`): the C ABI of adapter dynamic libraries and `export_adapter!`.
#![warn(missing_docs)]

#[cfg(feature = "abi")]
pub mod abi;
pub mod adapter;
pub mod model;
pub mod realtick;
pub mod settings;
pub mod wire;
pub mod worker_thread;

pub use rust_decimal::Decimal;
