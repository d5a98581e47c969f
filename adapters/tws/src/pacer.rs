//! The writer's pacer: never more than N frames (default 45; IB allows 50 for all requests
//! together) in any one-second window, and evenly spread: a token bucket holding at most
//! [`BURST`] tokens, refilled at N − BURST a second. Up to five requests go out at once (an
//! order and its cancel do not wait on each other); a longer burst from a strategy waits, in
//! order, and leaves at an even pace. Evenly spread frames keep the rate as TWS measures it
//! even when their arrival is delayed unevenly; a one-second window filled at once does not
//! (a late first batch and a punctual second one land within the same second).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Frames that may leave at once.
pub const BURST: u32 = 5;

/// A token bucket with a queue of frames waiting for tokens.
#[derive(Debug)]
pub struct Pacer {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
    queue: VecDeque<Vec<u8>>,
}

impl Pacer {
    /// At most `per_second` frames in any second.
    pub fn new(per_second: u32, now: Instant) -> Self {
        // a one-frame-a-second pacer has no room for a burst
        let burst = f64::from(BURST.min(per_second.saturating_sub(1)).max(1));
        Self { rate: (f64::from(per_second) - burst).max(1.0), burst, tokens: burst, at: now, queue: VecDeque::new() }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.at = now;
    }

    /// Queues a frame.
    pub fn push(&mut self, frame: Vec<u8>) {
        self.queue.push_back(frame);
    }

    /// The frames that may go out now, in order.
    pub fn due(&mut self, now: Instant) -> Vec<Vec<u8>> {
        self.refill(now);
        let mut out = Vec::new();
        while self.tokens >= 1.0 {
            let Some(f) = self.queue.pop_front() else { break };
            self.tokens -= 1.0;
            out.push(f);
        }
        out
    }

    /// When the next queued frame may go, if any waits.
    pub fn next_release(&self, now: Instant) -> Option<Instant> {
        if self.queue.is_empty() {
            return None;
        }
        let missing = (1.0 - self.tokens).max(0.0);
        Some(now + Duration::from_secs_f64(missing / self.rate))
    }

    /// Drops what waits (the connection is gone).
    pub fn clear(&mut self) {
        self.queue.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_more_than_the_rate_in_any_second_and_evenly_spread() {
        let t0 = Instant::now();
        let mut p = Pacer::new(45, t0);
        for i in 0..200u32 {
            p.push(i.to_be_bytes().to_vec());
        }
        let mut sent: Vec<(Duration, u32)> = Vec::new();
        let mut now = t0;
        while sent.len() < 200 {
            for f in p.due(now) {
                sent.push((now - t0, u32::from_be_bytes([f[0], f[1], f[2], f[3]])));
            }
            now = p.next_release(now).unwrap_or(now).max(now + Duration::from_millis(1));
        }
        assert!(sent.windows(2).all(|w| w[0].1 < w[1].1), "in order");
        for (i, (at, _)) in sent.iter().enumerate() {
            let window = sent[i..].iter().take_while(|(t, _)| *t < *at + Duration::from_secs(1)).count();
            assert!(window <= 45, "{window} frames within a second from {at:?}");
            let tenth = sent[i..].iter().take_while(|(t, _)| *t < *at + Duration::from_millis(100)).count();
            assert!(tenth <= BURST as usize + 4, "{tenth} frames within 100 ms from {at:?}: not spread");
        }
        assert!(sent[199].0 >= Duration::from_secs(4), "200 frames take over 4 s at 45/s: {:?}", sent[199].0);
        // an idle pacer lets a small burst go at once
        let mut p = Pacer::new(45, t0);
        for i in 0..3u8 {
            p.push(vec![i]);
        }
        assert_eq!(p.due(t0 + Duration::from_secs(5)).len(), 3);
    }
}

/// IB's historical-data limits: at most 60 requests in any 10 minutes, and the same request
/// not again within 15 s (beyond them TWS answers error 162). Requests that would break a limit
/// wait until they would not.
#[derive(Debug, Default)]
pub struct HistoryPacer {
    sent: VecDeque<(Instant, String)>,
}

/// Requests allowed per window.
const HISTORY_PER_WINDOW: usize = 60;
/// The window.
const HISTORY_WINDOW: Duration = Duration::from_secs(600);
/// The same request again no sooner than this.
const HISTORY_SAME: Duration = Duration::from_secs(15);

impl HistoryPacer {
    /// When a request with this key (contract, end, bar size, duration, what) may go.
    pub fn allowed_at(&mut self, key: &str, now: Instant) -> Instant {
        while self.sent.front().is_some_and(|(t, _)| now.saturating_duration_since(*t) >= HISTORY_WINDOW) {
            self.sent.pop_front();
        }
        let mut at = now;
        if self.sent.len() >= HISTORY_PER_WINDOW {
            let oldest = self.sent[self.sent.len() - HISTORY_PER_WINDOW].0;
            at = at.max(oldest + HISTORY_WINDOW);
        }
        if let Some((t, _)) = self.sent.iter().rev().find(|(_, k)| k == key) {
            at = at.max(*t + HISTORY_SAME);
        }
        at
    }

    /// Records a request sent at `at`.
    pub fn sent(&mut self, key: String, at: Instant) {
        self.sent.push_back((at, key));
    }
}

#[cfg(test)]
mod history_tests {
    use super::*;

    #[test]
    fn identical_requests_wait_15_s_and_the_61st_waits_for_the_window() {
        let t0 = Instant::now();
        let mut h = HistoryPacer::default();
        assert_eq!(h.allowed_at("a", t0), t0);
        h.sent("a".into(), t0);
        assert_eq!(h.allowed_at("a", t0 + Duration::from_secs(1)), t0 + Duration::from_secs(15));
        assert_eq!(h.allowed_at("b", t0 + Duration::from_secs(1)), t0 + Duration::from_secs(1));
        for i in 1..60 {
            h.sent(format!("k{i}"), t0 + Duration::from_secs(i));
        }
        let now = t0 + Duration::from_secs(100);
        assert_eq!(h.allowed_at("new", now), t0 + HISTORY_WINDOW, "the 61st within 10 minutes waits");
    }
}
