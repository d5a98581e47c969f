//! Per-user request rates: a token bucket for each user with a rate, holding one second's worth,
//! refilled continuously. A request over the rate is refused (`429` with `Retry-After` on HTTP,
//! JSON-RPC code -32008, `.error: rate limit` on the stream) and costs nothing else.

// Input from outside the process: nothing here may panic on it (tests may).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::arithmetic_side_effects, clippy::unwrap_used, clippy::expect_used))]

use super::roles::Principal;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of every user with a rate.
#[derive(Clone, Debug, Default)]
pub struct RateLimiter {
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
}

/// A request over its user's rate; try again after this long.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("rate limit of {rate} requests per second exceeded; retry in {} ms", retry_after.as_millis())]
pub struct Limited {
    /// The user's rate.
    pub rate: u32,
    /// When a request would pass again.
    pub retry_after: Duration,
}

impl RateLimiter {
    /// Takes one request from the principal's bucket.
    ///
    /// # Errors
    /// [`Limited`] when the bucket is empty.
    pub fn take(&self, who: &Principal) -> Result<(), Limited> {
        self.take_at(who, Instant::now())
    }

    fn take_at(&self, who: &Principal, now: Instant) -> Result<(), Limited> {
        let Some(rate) = who.rate else { return Ok(()) };
        let per_second = f64::from(rate);
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let b = buckets.entry(who.name.clone()).or_insert(Bucket { tokens: per_second, at: now });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * per_second).min(per_second);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - b.tokens) / per_second;
            Err(Limited { rate, retry_after: Duration::from_secs_f64(wait.clamp(0.0, 1.0)) })
        }
    }

    /// Forgets every bucket (the users file changed).
    pub fn reset(&self) {
        self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_worth_then_the_rate() {
        let limiter = RateLimiter::default();
        let mut who = Principal::superuser("u");
        let t0 = Instant::now();
        for _ in 0..1000 {
            assert!(limiter.take_at(&who, t0).is_ok(), "no rate: unlimited");
        }
        who.rate = Some(4);
        for _ in 0..4 {
            assert!(limiter.take_at(&who, t0).is_ok());
        }
        let e = limiter.take_at(&who, t0).expect_err("fifth in the same instant");
        assert_eq!(e.rate, 4);
        assert_eq!(e.retry_after, Duration::from_millis(250));
        assert!(limiter.take_at(&who, t0 + Duration::from_millis(250)).is_ok(), "a quarter second refills one");
        assert!(limiter.take_at(&who, t0 + Duration::from_millis(260)).is_err());
        // an idle spell refills one second's worth, never more
        let later = t0 + Duration::from_secs(60);
        for _ in 0..4 {
            assert!(limiter.take_at(&who, later).is_ok());
        }
        assert!(limiter.take_at(&who, later).is_err());
    }
}
