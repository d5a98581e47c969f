//! The writer's pacer: never more than N frames (default 45; IB allows 50 for all requests
//! together) in any one-second window, counted over the frames actually sent. Frames beyond
//! the rate queue, in order, and go out as the window moves on — a burst from a strategy
//! waits, it never reaches the socket faster than TWS allows. (A token bucket would let twice
//! the rate through in the second after an idle spell.)

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The window the rate is counted over.
const WINDOW: Duration = Duration::from_secs(1);

/// A sliding-window rate limit with a queue of frames waiting for it.
#[derive(Debug)]
pub struct Pacer {
    rate: usize,
    sent: VecDeque<Instant>,
    queue: VecDeque<Vec<u8>>,
}

impl Pacer {
    /// At most `per_second` frames in any second.
    pub fn new(per_second: u32, _now: Instant) -> Self {
        Self { rate: usize::try_from(per_second.max(1)).unwrap_or(45), sent: VecDeque::new(), queue: VecDeque::new() }
    }

    fn forget(&mut self, now: Instant) {
        while self.sent.front().is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW) {
            self.sent.pop_front();
        }
    }

    /// Queues a frame.
    pub fn push(&mut self, frame: Vec<u8>) {
        self.queue.push_back(frame);
    }

    /// The frames that may go out now, in order (counted as sent).
    pub fn due(&mut self, now: Instant) -> Vec<Vec<u8>> {
        self.forget(now);
        let mut out = Vec::new();
        while self.sent.len() < self.rate {
            let Some(f) = self.queue.pop_front() else { break };
            self.sent.push_back(now);
            out.push(f);
        }
        out
    }

    /// When the next queued frame may go, if any waits.
    pub fn next_release(&self, now: Instant) -> Option<Instant> {
        if self.queue.is_empty() {
            return None;
        }
        if self.sent.len() < self.rate {
            return Some(now);
        }
        let oldest = self.sent[self.sent.len() - self.rate];
        Some(oldest + WINDOW)
    }

    /// Frames waiting.
    pub fn waiting(&self) -> usize {
        self.queue.len()
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
    fn never_more_than_the_rate_in_any_second() {
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
        }
        assert!(sent[199].0 >= Duration::from_secs(3), "200 frames take over 3 s at 45/s: {:?}", sent[199].0);
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
