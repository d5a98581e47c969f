//! Timestamps: nanoseconds since the Unix epoch, UTC.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An instant as nanoseconds since 1970-01-01T00:00:00Z.
///
/// Every event carries one (`ts_event`: when it happened at the source). Conversions to local
/// or exchange time zones happen at the edges (compat rendering, session rules), never here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixNanos(pub u64);

impl UnixNanos {
    /// The current wall-clock time.
    pub fn now() -> Self {
        Self::from(Utc::now())
    }

    /// Whole seconds since the epoch.
    pub fn as_secs(self) -> u64 {
        self.0 / 1_000_000_000
    }

    /// Seconds since the epoch as a float, for wire formats that want one (never for money).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// This instant as a chrono UTC date-time.
    pub fn to_datetime(self) -> DateTime<Utc> {
        let secs = (self.0 / 1_000_000_000) as i64;
        let nanos = (self.0 % 1_000_000_000) as u32;
        Utc.timestamp_opt(secs, nanos).single().unwrap_or_default()
    }

    /// Adds a number of nanoseconds, saturating.
    pub fn plus_nanos(self, nanos: u64) -> Self {
        Self(self.0.saturating_add(nanos))
    }
}

impl<Tz: TimeZone> From<DateTime<Tz>> for UnixNanos {
    fn from(value: DateTime<Tz>) -> Self {
        let utc = value.with_timezone(&Utc);
        let nanos = utc.timestamp_nanos_opt().unwrap_or(0).max(0);
        Self(nanos as u64)
    }
}

impl fmt::Display for UnixNanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_datetime().format("%Y-%m-%dT%H:%M:%S%.9fZ"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_chrono() {
        let t = UnixNanos(1_700_000_000_123_456_789);
        assert_eq!(UnixNanos::from(t.to_datetime()), t);
        assert_eq!(t.as_secs(), 1_700_000_000);
    }
}
