//! RealTick adapter: speaks RTGW, the gateway the original txTrader's RealTick back-end
//! (`TXTRADER_MODE=rtx`) talks to.
//!
//! - [`proto`]: the wire protocol (command lines out, JSON lines in), with no I/O; decoding is
//!   fuzzed with random and cut lines.
//! - [`connection`]: one TCP connection and its reader thread (bounded lines).
//! - [`mapping`]: RealTick's rows (accounts, positions, feed times, ORDERS rows) to the
//!   gateway's domain, in one place.
//! - [`session`]: the logical connections every command travels on, as state machines.
//! - [`settings`]: `TXTRADER_<INSTANCE>_*`, with the gateway's `TXTRADER_API_HOST` / `_PORT`.
//!
//! Work in progress (issue 16): the connection, the session (start-up, advises, reconnection),
//! and the mapping of RealTick's tables to the gateway's domain come next; until then the crate
//! is not an adapter the gateway can load.

pub mod connection;
pub mod mapping;
pub mod proto;
pub mod session;
pub mod settings;
