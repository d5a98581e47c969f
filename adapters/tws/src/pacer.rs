//! The writer's pacer: a token bucket that keeps the adapter under IB's message rate (50 per
//! second for all requests together; the default is 45). Frames beyond the rate queue, in
//! order, and go out as tokens come back — a burst from a strategy waits, it never reaches
//! the socket faster than TWS allows.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Token bucket with a queue of frames waiting for tokens.
#[derive(Debug)]
pub struct Pacer {
    rate: f64,
    tokens: f64,
    at: Instant,
    queue: VecDeque<Vec<u8>>,
}

impl Pacer {
    /// At most `per_second` frames a second, bursts up to that many.
    pub fn new(per_second: u32, now: Instant) -> Self {
        let rate = f64::from(per_second.max(1));
        Self { rate, tokens: rate, at: now, queue: VecDeque::new() }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
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
            assert!(window <= 46, "{window} frames within a second from {at:?}");
        }
        assert!(sent[199].0 >= Duration::from_secs(3), "200 frames take over 3 s at 45/s: {:?}", sent[199].0);
    }
}
