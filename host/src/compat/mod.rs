//! The original txTrader's shapes and conventions, on top of the broker-neutral gateway.
//!
//! Everything a txTrader client sees is produced here: the loosely typed arguments it sends are
//! parsed ([`args`], [`routes`], [`bars`]), the 35 commands and txtraderd's adapter operator
//! commands run ([`commands`]), and domain views are rendered into the exact JSON the original
//! returned ([`render`]). The domain never sees these shapes, and the RealTick vocabulary lives
//! nowhere else.

pub mod args;
pub mod bars;
pub mod commands;
pub mod render;
pub mod routes;
pub mod stream;

use crate::config::{Config, Flags};
use chrono_tz::Tz;

/// How the gateway names itself in `version`.
pub const LABEL: &str = "txtrader Securities Trading API Gateway";

/// Settings that shape compat output.
#[derive(Clone, Debug)]
pub struct CompatConfig {
    /// Feature flags.
    pub flags: Flags,
    /// Seconds added to the feed clock.
    pub time_offset: i64,
    /// Time zone of feed times when an instrument does not say.
    pub feed_timezone: Tz,
}

impl CompatConfig {
    /// From the configuration.
    pub fn from_config(c: &Config) -> Self {
        Self { flags: c.flags, time_offset: c.time_offset, feed_timezone: c.api_timezone }
    }
}
