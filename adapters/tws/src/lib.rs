//! Interactive Brokers adapter: speaks the TWS socket API to TWS or IB Gateway.
//!
//! [`proto`] is the wire protocol (framing, encoding, decoding), checked byte for byte against
//! IB's official client and fuzzed with random and truncated frames.

pub mod proto;
