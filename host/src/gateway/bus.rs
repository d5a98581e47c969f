//! The event bus: every outward event, numbered, fanned out to subscribers.
//!
//! Each event gets the next gateway-wide sequence number. Each subscriber has a bounded queue;
//! a subscriber that falls behind never blocks the gateway or its neighbours: what it misses is
//! counted, and as soon as its queue has room it first receives a [`Delivery::Gap`] saying
//! exactly which sequence numbers it lost. Nothing is dropped silently.

use super::{ExecutionView, OrderView};
use std::sync::Arc;
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
pub enum Delivery {
    /// The next event.
    Event(Arc<Sequenced>),
    /// Events this subscriber lost because its queue was full.
    Gap {
        /// First lost sequence number.
        first: u64,
        /// Last lost sequence number.
        last: u64,
        /// How many were lost.
        missed: u64,
    },
}

/// A subscription: the receiving end of one subscriber's queue.
#[derive(Debug)]
pub struct Subscription {
    /// The subscriber's id.
    pub id: u64,
    /// Deliveries, in sequence order.
    pub rx: mpsc::Receiver<Delivery>,
}

#[derive(Debug)]
struct Subscriber {
    tx: mpsc::Sender<Delivery>,
    /// Lost so far and not yet reported: (first, last, count).
    missed: Option<(u64, u64, u64)>,
}

/// The fan-out. Owned by the gateway core.
#[derive(Debug, Default)]
pub struct Bus {
    next_seq: u64,
    next_id: u64,
    subscribers: Vec<Subscriber>,
}

impl Bus {
    /// An empty bus; the first event gets sequence number 1.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a subscriber with a queue of `capacity` deliveries.
    pub fn subscribe(&mut self, capacity: usize) -> Subscription {
        let (tx, rx) = mpsc::channel(capacity.max(2));
        self.next_id += 1;
        self.subscribers.push(Subscriber { tx, missed: None });
        Subscription { id: self.next_id, rx }
    }

    /// The sequence number of the last event published.
    pub fn last_seq(&self) -> u64 {
        self.next_seq
    }

    /// Numbers and delivers an event. Never waits.
    pub fn publish(&mut self, event: GatewayEvent) -> u64 {
        self.next_seq += 1;
        let seq = self.next_seq;
        if self.subscribers.is_empty() {
            return seq;
        }
        let item = Arc::new(Sequenced { seq, event });
        self.subscribers.retain_mut(|s| {
            if let Some((first, last, missed)) = s.missed {
                match s.tx.try_send(Delivery::Gap { first, last, missed }) {
                    Ok(()) => s.missed = None,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        s.missed = Some((first, seq, missed + 1));
                        return true;
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return false,
                }
            }
            match s.tx.try_send(Delivery::Event(item.clone())) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    s.missed = Some((seq, seq, 1));
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        seq
    }

    /// How many subscribers are attached.
    pub fn subscribers(&self) -> usize {
        self.subscribers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(n: u64) -> GatewayEvent {
        GatewayEvent::Error { source: "test".into(), message: n.to_string() }
    }

    fn seqs(rx: &mut mpsc::Receiver<Delivery>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(d) = rx.try_recv() {
            out.push(match d {
                Delivery::Event(e) => e.seq.to_string(),
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
        assert_eq!(seqs(&mut a.rx), ["1", "2", "3", "4", "5"]);
        assert_eq!(seqs(&mut b.rx), ["1", "2", "3", "4", "5"]);
    }

    #[test]
    fn a_slow_subscriber_gets_an_exact_gap_notice_and_blocks_no_one() {
        let mut bus = Bus::new();
        let mut slow = bus.subscribe(2);
        let mut fast = bus.subscribe(64);
        for n in 0..6 {
            bus.publish(err(n));
            seqs(&mut fast.rx);
        }
        // slow kept 1 and 2, lost 3..6
        assert_eq!(seqs(&mut slow.rx), ["1", "2"]);
        bus.publish(err(7));
        assert_eq!(seqs(&mut slow.rx), ["gap 3-6 (4)", "7"]);
        bus.publish(err(8));
        assert_eq!(seqs(&mut slow.rx), ["8"]);
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
