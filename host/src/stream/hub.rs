//! The stream hub: one task between the gateway's event bus and the stream sessions.
//!
//! It subscribes once to the gateway bus, renders each event into its push lines once (not once
//! per session), keeps the last order, ticket and execution pushes for `resume`, and fans every
//! push out to the sessions through bounded queues with exact gap notices. Sessions subscribe
//! and ask for replays through a cloneable [`Hub`] handle; both are answered inside the hub's
//! loop, so a session's replay and its live stream meet exactly at one sequence number.

use crate::compat::stream::{PushLine, PushRenderer, CHANNEL};
use crate::compat::CompatConfig;
use crate::gateway::bus::{Delivery, FanOut, Subscription};
use crate::gateway::Gateway;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// One gateway event as pushed to sessions.
#[derive(Debug)]
pub struct Push {
    /// The gateway's sequence number of the event.
    pub seq: u64,
    /// Its lines.
    pub lines: Vec<PushLine>,
}

/// The requested replay range is no longer kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayGone {
    /// Events up to this sequence number were dropped from the buffer.
    pub evicted_through: u64,
}

/// What a session gets when it subscribes.
#[derive(Debug)]
pub struct Joined {
    /// Its live pushes: everything after `live_after`.
    pub subscription: Subscription<Arc<Push>>,
    /// The last sequence number before the live stream.
    pub live_after: u64,
    /// The current `CH.time` line, if the feed clock ticked.
    pub time_line: Option<String>,
}

enum HubCommand {
    Join { capacity: usize, reply: oneshot::Sender<Joined> },
    Barrier { seq: u64, reply: oneshot::Sender<()> },
    Replay { after: u64, through: u64, reply: oneshot::Sender<Result<Vec<Arc<Push>>, ReplayGone>> },
}

/// The handle sessions use.
#[derive(Clone, Debug)]
pub struct Hub {
    tx: mpsc::Sender<HubCommand>,
}

impl Hub {
    /// Subscribes a session.
    pub async fn join(&self, capacity: usize) -> Option<Joined> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(HubCommand::Join { capacity, reply }).await.ok()?;
        rx.await.ok()
    }

    /// Waits until the hub has fanned out every event through `seq`, so the pushes it caused sit
    /// in the sessions' queues.
    pub async fn barrier(&self, seq: u64) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(HubCommand::Barrier { seq, reply }).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// The replayable pushes with sequence numbers in `(after, through]`.
    pub async fn replay(&self, after: u64, through: u64) -> Option<Result<Vec<Arc<Push>>, ReplayGone>> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(HubCommand::Replay { after, through, reply }).await.ok()?;
        rx.await.ok()
    }
}

struct State {
    renderer: PushRenderer,
    out: FanOut<Arc<Push>>,
    replay: VecDeque<Arc<Push>>,
    replay_capacity: usize,
    evicted_through: u64,
    last_seq: u64,
    barriers: Vec<(u64, oneshot::Sender<()>)>,
    gateway: Gateway,
    log_client_messages: bool,
}

/// Starts the hub. It stops when the gateway core ends and its bus closes, after fanning out
/// the last events (so a shutdown's final status and reason still reach the sessions).
///
/// # Errors
/// `None` when the gateway is already shutting down.
pub async fn start(gateway: Gateway, compat: CompatConfig, replay_capacity: usize, log_client_messages: bool) -> Option<Hub> {
    let (mut bus, last_seq) = gateway.subscribe(1 << 16).await.ok()?;
    // What was published before a restart, read back from the journal: `resume` reaches it.
    let (recovered, recovered_evicted) = gateway.take_recovered().await.ok()?;
    let (tx, mut rx) = mpsc::channel(1024);
    let mut state = State {
        renderer: PushRenderer::new(compat),
        out: FanOut::default(),
        replay: VecDeque::new(),
        replay_capacity,
        evicted_through: if recovered.is_empty() { last_seq } else { recovered_evicted },
        last_seq,
        barriers: Vec::new(),
        gateway,
        log_client_messages,
    };
    for e in recovered {
        state.keep_for_replay(&e);
    }
    tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                command = rx.recv() => match command {
                    Some(c) => state.command(c),
                    None => break,
                },
                delivery = bus.recv() => match delivery {
                    Some(d) => state.deliver(d),
                    None => break,
                },
            }
        }
        tracing::debug!("stream hub stopped");
    });
    Some(Hub { tx })
}

impl State {
    fn command(&mut self, c: HubCommand) {
        match c {
            HubCommand::Join { capacity, reply } => {
                let time_line = self.gateway.feed_time().map(|t| self.renderer.time_line(t));
                let joined = Joined { subscription: self.out.subscribe(capacity), live_after: self.last_seq, time_line };
                let _ = reply.send(joined);
            }
            HubCommand::Barrier { seq, reply } => {
                if seq <= self.last_seq {
                    let _ = reply.send(());
                } else {
                    self.barriers.push((seq, reply));
                }
            }
            HubCommand::Replay { after, through, reply } => {
                let answer = if after < self.evicted_through {
                    Err(ReplayGone { evicted_through: self.evicted_through })
                } else {
                    Ok(self.replay.iter().filter(|p| p.seq > after && p.seq <= through).cloned().collect())
                };
                let _ = reply.send(answer);
            }
        }
    }

    fn deliver(&mut self, d: Delivery<Arc<crate::gateway::bus::Sequenced>>) {
        self.fan_out(d);
        if !self.barriers.is_empty() {
            let last = self.last_seq;
            for (_, reply) in self.barriers.extract_if(.., |(seq, _)| *seq <= last) {
                let _ = reply.send(());
            }
        }
    }

    /// Keeps a push for `resume`, dropping the oldest beyond the capacity.
    fn keep(&mut self, push: Arc<Push>) {
        self.replay.push_back(push);
        crate::gateway::bus::trim_oldest(&mut self.replay, self.replay_capacity, |p| p.seq, &mut self.evicted_through);
    }

    /// Renders an event published before a restart into the replay buffer (not to sessions).
    fn keep_for_replay(&mut self, e: &crate::gateway::bus::Sequenced) {
        let rendered = self.renderer.render(&e.event);
        if rendered.replayable && !rendered.lines.is_empty() {
            self.keep(Arc::new(Push { seq: e.seq, lines: rendered.lines }));
        }
    }

    fn fan_out(&mut self, d: Delivery<Arc<crate::gateway::bus::Sequenced>>) {
        match d {
            Delivery::Item(e) => {
                self.last_seq = e.seq;
                let rendered = self.renderer.render(&e.event);
                if rendered.lines.is_empty() {
                    return;
                }
                if self.log_client_messages {
                    for l in &rendered.lines {
                        tracing::info!(seq = e.seq, option = l.option, "WriteAllClients: {}", l.text());
                    }
                }
                let push = Arc::new(Push { seq: e.seq, lines: rendered.lines });
                if rendered.replayable {
                    self.keep(push.clone());
                }
                self.out.send(e.seq, &push);
            }
            Delivery::Gap { first, last, missed } => {
                // The hub itself fell behind the gateway: every session and the replay buffer
                // have a hole. Say so to everyone.
                tracing::error!(first, last, missed, "stream hub lost gateway events");
                self.last_seq = last;
                self.evicted_through = self.evicted_through.max(last);
                let text = format!("{CHANNEL}.error: STREAM gap: {missed} events missed (seq {first}-{last})");
                self.out.send(last, &Arc::new(Push { seq: last, lines: vec![PushLine::new(None, text)] }));
            }
        }
    }
}
