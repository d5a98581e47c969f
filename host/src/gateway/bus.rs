//! The event bus: every outward event, numbered, fanned out to subscribers.
//!
//! Each event gets the next gateway-wide sequence number. [`FanOut`] delivers to subscribers,
//! each with a bounded queue; a subscriber that falls behind never blocks the gateway or its
//! neighbours: what it misses is counted, and as soon as its queue has room it first receives a
//! [`Delivery::Gap`] saying exactly which sequence numbers it lost. Nothing is dropped silently.
//! The stream hub reuses [`FanOut`] for its rendered pushes.

use super::{ExecutionView, OrderView};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use txtrader_plugin_api::model::{AccountId, Bar, ConnectionStatus, Quote, SessionStats, Trade, UnixNanos};

/// Something the gateway tells its clients.
#[derive(Clone, Debug)]
pub enum GatewayEvent {
    /// The gateway status changed.
    Status(ConnectionStatus),
    /// An error or alert, with where it came from.
    Error {
        /// The component that reports it.
        source: String,
        /// What happened.
        message: String,
    },
    /// The feed clock entered a new minute.
    Time(UnixNanos),
    /// The account list was (re)loaded.
    Accounts(Vec<AccountId>),
    /// The current account was set.
    CurrentAccount(AccountId),
    /// An order changed.
    Order(Arc<OrderView>),
    /// An execution was booked.
    Execution(Arc<ExecutionView>),
    /// A quote changed.
    Quote(Quote),
    /// A trade printed, with the day's statistics after it.
    Trade {
        /// The trade.
        trade: Trade,
        /// Day statistics.
        stats: Option<SessionStats>,
    },
    /// A live bar completed.
    Bar(Bar),
    /// Something happened to a strategy (deployed, started, stopped, faulted, refused an
    /// action...).
    Strategy {
        /// Strategy name.
        name: String,
        /// What happened.
        event: &'static str,
        /// Details.
        detail: serde_json::Value,
    },
    /// The pre-trade check refused an order (`denied`), or a trading state was set (`state`).
    Risk {
        /// What happened.
        event: &'static str,
        /// Details: the rule, limit, value, account and symbol; or the scope and the state.
        detail: serde_json::Value,
    },
    /// Something happened to an adapter instance (loaded, swapped, faulted, ...).
    Adapter {
        /// Instance name (or the file name of a refused library).
        name: String,
        /// What happened.
        event: &'static str,
        /// Details.
        detail: serde_json::Value,
    },
}

/// Drops the oldest items of a buffer of numbered events beyond `keep`, remembering the number
/// of the last one dropped: the newest events kept for `resume`, and how far back they reach.
pub fn trim_oldest<T>(buf: &mut std::collections::VecDeque<T>, keep: usize, seq: impl Fn(&T) -> u64, evicted_through: &mut u64) {
    while buf.len() > keep {
        if let Some(old) = buf.pop_front() {
            *evicted_through = seq(&old);
        }
    }
}

/// An event with its sequence number.
#[derive(Clone, Debug)]
pub struct Sequenced {
    /// Gateway-wide, strictly increasing.
    pub seq: u64,
    /// The event.
    pub event: GatewayEvent,
}

/// What a subscriber receives.
#[derive(Clone, Debug)]
pub enum Delivery<T> {
    /// The next item.
    Item(T),
    /// Items this subscriber lost because its queue was full.
    Gap {
        /// First lost sequence number.
        first: u64,
        /// Last lost sequence number.
        last: u64,
        /// How many were lost.
        missed: u64,
    },
}

/// Events a subscriber lost and has not been told about: (first, last, count).
type Missed = Arc<Mutex<Option<(u64, u64, u64)>>>;

fn lock(m: &Missed) -> std::sync::MutexGuard<'_, Option<(u64, u64, u64)>> {
    // Held only for a try_send or a take, never across an await; poisoning cannot leave the
    // record inconsistent, so recover it.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A subscription: the receiving end of one subscriber's queue.
///
/// A gap is reported in its place in the sequence: either the publisher queues it when the
/// queue has room again, or, if nothing more is published, the subscriber picks it up as soon
/// as it has received everything queued before it.
#[derive(Debug)]
pub struct Subscription<T> {
    /// The subscriber's id.
    pub id: u64,
    rx: mpsc::Receiver<Delivery<T>>,
    missed: Missed,
}

impl<T> Subscription<T> {
    fn pending_gap(&self) -> Option<Delivery<T>> {
        lock(&self.missed).take().map(|(first, last, missed)| Delivery::Gap { first, last, missed })
    }

    /// The next delivery; `None` once the publisher is gone.
    pub async fn recv(&mut self) -> Option<Delivery<T>> {
        match self.try_recv() {
            Some(d) => Some(d),
            None => self.rx.recv().await,
        }
    }

    /// The next delivery if one is ready.
    pub fn try_recv(&mut self) -> Option<Delivery<T>> {
        match self.rx.try_recv() {
            Ok(d) => Some(d),
            Err(_) => self.pending_gap(),
        }
    }
}

#[derive(Debug)]
struct Subscriber<T> {
    tx: mpsc::Sender<Delivery<T>>,
    missed: Missed,
}

/// Bounded, never-blocking fan-out with exact gap accounting.
#[derive(Debug)]
pub struct FanOut<T> {
    next_id: u64,
    subscribers: Vec<Subscriber<T>>,
}

impl<T> Default for FanOut<T> {
    fn default() -> Self {
        Self { next_id: 0, subscribers: Vec::new() }
    }
}

impl<T: Clone> FanOut<T> {
    /// Adds a subscriber with a queue of `capacity` deliveries.
    pub fn subscribe(&mut self, capacity: usize) -> Subscription<T> {
        let (tx, rx) = mpsc::channel(capacity.max(2));
        self.next_id += 1;
        let missed = Missed::default();
        self.subscribers.push(Subscriber { tx, missed: missed.clone() });
        Subscription { id: self.next_id, rx, missed }
    }

    /// Delivers `item` (numbered `seq`) to every subscriber. Never waits.
    pub fn send(&mut self, seq: u64, item: &T) {
        self.subscribers.retain_mut(|s| {
            let mut missed = lock(&s.missed);
            if let Some((first, last, count)) = *missed {
                match s.tx.try_send(Delivery::Gap { first, last, missed: count }) {
                    Ok(()) => *missed = None,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        *missed = Some((first, seq.max(last), count + 1));
                        return true;
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return false,
                }
            }
            match s.tx.try_send(Delivery::Item(item.clone())) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    *missed = Some((seq, seq, 1));
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
    }

    /// How many subscribers are attached.
    pub fn len(&self) -> usize {
        self.subscribers.len()
    }

    /// True without subscribers.
    pub fn is_empty(&self) -> bool {
        self.subscribers.is_empty()
    }
}

/// The gateway's bus: numbers events and fans them out. Owned by the gateway core.
///
/// Numbering and publishing are two steps, so the core can number an event when it happens
/// (and journal the number) and publish it once the journal has it; it publishes in number
/// order.
#[derive(Debug)]
pub struct Bus {
    numbered: u64,
    last: u64,
    out: FanOut<Arc<Sequenced>>,
    published: tokio::sync::watch::Sender<u64>,
}

impl Default for Bus {
    fn default() -> Self {
        Self::starting_after(0)
    }
}

impl Bus {
    /// An empty bus; the first event gets sequence number 1.
    pub fn new() -> Self {
        Self::default()
    }

    /// A bus whose first event gets `seq + 1` (after a restart).
    pub fn starting_after(seq: u64) -> Self {
        Self { numbered: seq, last: seq, out: FanOut::default(), published: tokio::sync::watch::Sender::new(seq) }
    }

    /// Watches the sequence number of the last published event.
    pub fn watch_published(&self) -> tokio::sync::watch::Receiver<u64> {
        self.published.subscribe()
    }

    /// Adds a subscriber with a queue of `capacity` deliveries.
    pub fn subscribe(&mut self, capacity: usize) -> Subscription<Arc<Sequenced>> {
        self.out.subscribe(capacity)
    }

    /// The sequence number of the last event published.
    pub fn last_seq(&self) -> u64 {
        self.last
    }

    /// Gives the next event its sequence number.
    pub fn number(&mut self) -> u64 {
        self.numbered += 1;
        self.numbered
    }

    /// Delivers an event numbered with [`Bus::number`]; events must come in number order.
    pub fn publish_numbered(&mut self, seq: u64, event: GatewayEvent) {
        debug_assert!(seq > self.last, "bus event {seq} after {}", self.last);
        self.last = seq;
        if !self.out.is_empty() {
            self.out.send(seq, &Arc::new(Sequenced { seq, event }));
        }
        self.published.send_replace(seq);
    }

    /// Numbers and delivers an event. Never waits.
    pub fn publish(&mut self, event: GatewayEvent) -> u64 {
        let seq = self.number();
        self.publish_numbered(seq, event);
        seq
    }

    /// How many subscribers are attached.
    pub fn subscribers(&self) -> usize {
        self.out.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(n: u64) -> GatewayEvent {
        GatewayEvent::Error { source: "test".into(), message: n.to_string() }
    }

    fn seqs(sub: &mut Subscription<Arc<Sequenced>>) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(d) = sub.try_recv() {
            out.push(match d {
                Delivery::Item(e) => e.seq.to_string(),
                Delivery::Gap { first, last, missed } => format!("gap {first}-{last} ({missed})"),
            });
        }
        out
    }

    #[test]
    fn everyone_gets_every_event_in_order() {
        let mut bus = Bus::new();
        let mut a = bus.subscribe(16);
        let mut b = bus.subscribe(16);
        for n in 0..5 {
            bus.publish(err(n));
        }
        assert_eq!(seqs(&mut a), ["1", "2", "3", "4", "5"]);
        assert_eq!(seqs(&mut b), ["1", "2", "3", "4", "5"]);
    }

    #[test]
    fn a_slow_subscriber_gets_an_exact_gap_notice_and_blocks_no_one() {
        let mut bus = Bus::new();
        let mut slow = bus.subscribe(2);
        let mut fast = bus.subscribe(64);
        for n in 0..6 {
            bus.publish(err(n));
            seqs(&mut fast);
        }
        // slow kept 1 and 2, lost 3..6, and learns so as soon as it has read 1 and 2, even though
        // nothing more was published
        assert_eq!(seqs(&mut slow), ["1", "2", "gap 3-6 (4)"]);
        bus.publish(err(7));
        assert_eq!(seqs(&mut slow), ["7"]);
        // nobody reads: the gap grows with every event that does not fit
        for n in 8..=12 {
            bus.publish(err(n));
        }
        assert_eq!(seqs(&mut slow), ["8", "9", "gap 10-12 (3)"]);
        // the publisher queues the notice in its place as soon as there is room
        for n in 13..=16 {
            bus.publish(err(n));
        }
        let first = slow.try_recv().map(|d| matches!(d, Delivery::Item(e) if e.seq == 13));
        assert_eq!(first, Some(true));
        bus.publish(err(17)); // room for the notice of 15-16, not for 17
        assert_eq!(seqs(&mut slow), ["14", "gap 15-16 (2)", "gap 17-17 (1)"]);
    }

    #[test]
    fn closed_subscribers_are_dropped() {
        let mut bus = Bus::new();
        let a = bus.subscribe(4);
        let _b = bus.subscribe(4);
        drop(a);
        bus.publish(err(1));
        assert_eq!(bus.subscribers(), 1);
        assert_eq!(bus.last_seq(), 1);
    }
}
