//! The per-account counters the limits need besides the books: a token bucket for the order
//! rate, and the recent orders for the duplicate window. Both are bounded: the bucket is two
//! numbers, and the window forgets what is older than its length.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// A token bucket holding one second's worth of orders.
#[derive(Clone, Debug)]
pub struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn full(rate: u32, now: Instant) -> Self {
        Self { tokens: f64::from(rate), at: now }
    }

    /// Tokens there would be at `now` (whole orders; never more than `rate`).
    pub fn available(&self, rate: u32, now: Instant) -> f64 {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * f64::from(rate);
        (self.tokens + refill).min(f64::from(rate))
    }

    /// Takes one token (the caller checked [`Bucket::available`]).
    pub fn take(&mut self, rate: u32, now: Instant) {
        self.tokens = (self.available(rate, now) - 1.0).max(0.0);
        self.at = now;
    }
}

/// What makes two orders the same for the duplicate window: symbol, side, quantity and price as
/// text (the account is the window's owner).
pub type OrderKey = String;

/// Recent orders of one account.
#[derive(Clone, Debug, Default)]
pub struct Recent {
    last: HashMap<OrderKey, Instant>,
    order: VecDeque<(Instant, OrderKey)>,
}

impl Recent {
    /// When the same order was last accepted within `window` of `now`.
    pub fn seen_within(&self, key: &str, window: Duration, now: Instant) -> Option<Duration> {
        let at = *self.last.get(key)?;
        let ago = now.saturating_duration_since(at);
        (ago < window).then_some(ago)
    }

    /// Remembers an accepted order, forgetting those older than `window`.
    pub fn remember(&mut self, key: OrderKey, window: Duration, now: Instant) {
        while let Some((at, _)) = self.order.front() {
            if now.saturating_duration_since(*at) < window {
                break;
            }
            if let Some((at, old)) = self.order.pop_front() {
                if self.last.get(&old) == Some(&at) {
                    self.last.remove(&old);
                }
            }
        }
        self.last.insert(key.clone(), now);
        self.order.push_back((now, key));
    }

    /// How many orders it remembers.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when it remembers none.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_refills_at_the_rate_and_holds_one_second() {
        let t0 = Instant::now();
        let mut b = Bucket::full(4, t0);
        for _ in 0..4 {
            assert!(b.available(4, t0) >= 1.0);
            b.take(4, t0);
        }
        assert!(b.available(4, t0) < 1.0, "empty");
        assert!(b.available(4, t0 + Duration::from_millis(250)) >= 1.0, "a quarter second gives one");
        assert!((b.available(4, t0 + Duration::from_secs(60)) - 4.0).abs() < 1e-9, "never more than a second's worth");
    }

    #[test]
    fn the_window_forgets_what_is_older_than_it() {
        let t0 = Instant::now();
        let w = Duration::from_millis(100);
        let mut r = Recent::default();
        r.remember("IBM B 100 10".into(), w, t0);
        assert!(r.seen_within("IBM B 100 10", w, t0 + Duration::from_millis(50)).is_some());
        assert!(r.seen_within("IBM B 100 10", w, t0 + Duration::from_millis(100)).is_none());
        for i in 0..1000u64 {
            r.remember(format!("k{i}"), w, t0 + Duration::from_millis(i));
        }
        assert!(r.len() <= 101, "bounded by the window: {}", r.len());
    }
}
