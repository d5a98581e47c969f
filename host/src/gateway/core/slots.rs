//! Adapter instances as the core sees them: each `TXTRADER_MODE` entry is a **slot**, an
//! instance name with its current **generation** (one running adapter instance).
//!
//! Orders route to the slot that owns their account; market data comes from the first slot.
//! Requests reach a slot's running generation through [`Core::send_to`]: held while a new
//! generation takes over, refused (with the reason) while the slot is faulted or unloaded. A
//! slot is `Ready` once its generation is greeted, connected to its broker and reconciled; the
//! gateway status is derived from the slots here. How a slot gets a new generation is
//! [`super::hot_swap`]'s business.

use super::Core;
use crate::adapters::loader::AdapterIdentity;
use crate::adapters::{AdapterLink, AdapterSource, AdapterSpec, EventSink};
use crate::gateway::bus::GatewayEvent;
use crate::gateway::{AdapterView, GatewayError, LifecycleError};
use super::pending::{Pending, PendingKind};
use super::{Reply, Tagged};
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use txtrader_plugin_api::model::{AccountId, ConnectionStatus, LinkState, UnixNanos};
use txtrader_plugin_api::wire::{
    AdapterHello, AdapterRequest, HostHello, RequestBody, FEATURE_STATE_HANDOVER, FEATURE_STATE_PRECOPY, PROTOCOL_VERSION,
};

/// Who waits for an adapter lifecycle operation.
pub(super) type AdapterReply = Reply<Result<AdapterView, LifecycleError>>;

/// One running adapter instance.
pub(super) struct Generation {
    pub(super) number: u64,
    pub(super) link: Box<dyn AdapterLink>,
    pub(super) source: AdapterSource,
    pub(super) features: Vec<String>,
    pub(super) hello_done: bool,
    pub(super) link_up: bool,
    pub(super) snapshot_requested: bool,
    pub(super) loaded_at: UnixNanos,
}

impl Generation {
    /// True when it announced `state-handover` (its state moves to the next generation).
    pub(super) fn hands_over(&self) -> bool {
        self.features.iter().any(|f| f == FEATURE_STATE_HANDOVER)
    }

    /// True when it also announced `state-precopy` (its state can be copied ahead of the
    /// hand-over, while it serves).
    pub(super) fn copies_ahead(&self) -> bool {
        self.hands_over() && self.features.iter().any(|f| f == FEATURE_STATE_PRECOPY)
    }
}

/// Where a slot stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SlotState {
    /// Created or reconnecting: not yet reconciled with its broker.
    Starting,
    /// Serving.
    Ready,
    /// A new generation is taking over; requests are held.
    Swapping,
    /// It panicked or failed; a restart is scheduled.
    Faulted,
    /// Unloaded by an operator.
    Stopped,
}

impl SlotState {
    /// As `query_adapters` shows it.
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Ready => "ready",
            Self::Swapping => "swapping",
            Self::Faulted => "faulted",
            Self::Stopped => "unloaded",
        }
    }
}

/// Why a new generation starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SwapReason {
    /// A new build landed in the adapter folder.
    NewBuild,
    /// An operator asked (`reload_adapter`).
    Reload,
    /// The running generation faulted: the new one starts fresh and reconciles.
    Restart,
}

/// A new generation taking over a slot.
pub(super) struct Swap {
    pub(super) new: Generation,
    pub(super) reason: SwapReason,
    pub(super) exported: Option<String>,
    pub(super) waiters: Vec<AdapterReply>,
    /// When the new generation was created.
    pub(super) started: Instant,
    /// When requests began to be held (the state hand-over), if they were.
    pub(super) holding_since: Option<Instant>,
    /// Greeted, it takes no state over, and its link to the broker is not up yet: routing
    /// switches to it when it is (the old generation serves meanwhile), or the swap is
    /// abandoned after [`super::hot_swap::LINK_WAIT`].
    pub(super) awaiting_link: bool,
}

/// An adapter instance name's place in the gateway.
pub(super) struct Slot {
    pub(super) spec: AdapterSpec,
    pub(super) current: Option<Generation>,
    pub(super) state: SlotState,
    pub(super) generations: u64,
    pub(super) accounts: Vec<AccountId>,
    pub(super) last_error: Option<String>,
    pub(super) retired: u64,
    pub(super) held: VecDeque<AdapterRequest>,
    pub(super) swap: Option<Swap>,
    /// Replaced generations still answering requests sent to them, with a deadline.
    pub(super) draining: Vec<(Generation, Instant)>,
    pub(super) restart_attempts: u32,
    pub(super) restart_at: Option<Instant>,
}

impl Slot {
    /// A slot whose first generation is not started yet.
    pub(super) fn new(spec: AdapterSpec) -> Self {
        Self {
            spec,
            current: None,
            state: SlotState::Starting,
            generations: 0,
            accounts: Vec::new(),
            last_error: None,
            retired: 0,
            held: VecDeque::new(),
            swap: None,
            draining: Vec::new(),
            restart_attempts: 0,
            restart_at: None,
        }
    }
}

/// Restart delays: 1 s, 2 s, 4 s … up to 60 s.
pub(super) fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.min(6)).min(Duration::from_secs(60))
}

impl Core {
    pub(super) fn set_status(&mut self, status: ConnectionStatus) {
        let changed = self.status_tx.send_if_modified(|s| {
            let changed = *s != status;
            *s = status;
            changed
        });
        if changed {
            tracing::info!("connection-status-changed: {status}");
            self.publish(GatewayEvent::Status(status));
        }
    }

    pub(super) fn status(&self) -> ConnectionStatus {
        *self.status_tx.borrow()
    }

    /// Derives the gateway status from the slots. It first becomes `Up` when every adapter
    /// instance serves; after that it follows the first one (which also serves market data):
    /// another instance's fault is that instance's (its orders are refused with the reason, it
    /// restarts), not the whole gateway's.
    pub(super) fn recompute_status(&mut self) {
        if self.status() == ConnectionStatus::Shutdown {
            return;
        }
        let serving = |s: &Slot| matches!(s.state, SlotState::Ready | SlotState::Swapping);
        let connected = |s: &Slot| s.current.as_ref().is_some_and(|g| g.hello_done && g.link_up);
        let active: Vec<&Slot> = self.slots.iter().filter(|s| s.state != SlotState::Stopped).collect();
        let status = if active.is_empty() {
            ConnectionStatus::Disconnected
        } else if self.ever_up {
            if serving(&self.slots[self.market_slot()]) { ConnectionStatus::Up } else { ConnectionStatus::Disconnected }
        } else if active.iter().all(|s| serving(s)) {
            ConnectionStatus::Up
        } else if active.iter().any(|s| connected(s)) {
            ConnectionStatus::Initializing
        } else {
            ConnectionStatus::Pending
        };
        if status == ConnectionStatus::Up {
            self.ever_up = true;
            self.disconnected_since = None;
        } else if status == ConnectionStatus::Disconnected {
            self.disconnected_since.get_or_insert_with(Instant::now);
        }
        self.set_status(status);
    }

    pub(super) fn sink(&self, slot: usize, generation: u64) -> EventSink {
        let tx = self.events_tx.clone();
        Arc::new(move |event| {
            // A closed channel means the gateway is stopping; nothing waits for the event.
            let _ = tx.send(Tagged { slot, generation, event });
        })
    }

    /// Creates a new generation of a slot from a source (not yet greeted).
    pub(super) fn create_generation(&mut self, slot: usize, source: AdapterSource) -> Result<Generation, LifecycleError> {
        let number = self.slots[slot].generations + 1;
        let sink = self.sink(slot, number);
        let link = source.create(&self.slots[slot].spec.config, sink).map_err(|e| LifecycleError::StartFailed(e.to_string()))?;
        self.slots[slot].generations = number;
        Ok(Generation {
            number,
            link,
            source,
            features: Vec::new(),
            hello_done: false,
            link_up: false,
            snapshot_requested: false,
            loaded_at: UnixNanos::now(),
        })
    }

    pub(super) fn hello() -> RequestBody {
        RequestBody::Hello(HostHello {
            protocol_version: PROTOCOL_VERSION,
            host_version: env!("CARGO_PKG_VERSION").into(),
            features: vec![FEATURE_STATE_HANDOVER.to_owned(), FEATURE_STATE_PRECOPY.to_owned()],
        })
    }

    /// Starts a slot's first generation (or its next one after an unload).
    pub(super) fn start_slot(&mut self, slot: usize) -> Result<(), LifecycleError> {
        let source = self.slots[slot].spec.source.clone();
        let mut g = self.create_generation(slot, source)?;
        let id = self.next_id();
        let label = "hello";
        g.link.send(&AdapterRequest { id, body: Self::hello() }).map_err(|e| LifecycleError::StartFailed(format!("hello refused: {e}")))?;
        let timeout = self.settings.timeouts.default;
        let (kind, target) = (PendingKind::Hello { slot, generation: g.number }, Some((slot, g.number)));
        self.pending.insert(id, Pending { deadline: Instant::now() + timeout, label, kind, target });
        let (name, number) = (self.slots[slot].spec.name.clone(), g.number);
        let detail = json!({"generation": number, "version": g.source.identity.version, "source": g.source.origin()});
        self.slots[slot].current = Some(g);
        self.slots[slot].state = SlotState::Starting;
        self.adapter_event(&name, "loaded", detail);
        Ok(())
    }

    /// Sends a request to a slot's running generation: held during a swap, refused when the
    /// slot is faulted or unloaded. Whoever waits is answered at once on refusal, which is also
    /// returned (and alerted).
    pub(super) fn send_to(&mut self, slot: usize, body: RequestBody, pending: Option<(&'static str, Duration, PendingKind)>) -> Result<(), String> {
        let id = self.next_id();
        let request = AdapterRequest { id, body };
        if self.settings.log.api_messages {
            tracing::info!(adapter = %self.slots[slot].spec.name, ?request, "--> adapter");
        }
        let s = &mut self.slots[slot];
        // (message, whether the adapter itself failed)
        let outcome: Result<Option<(usize, u64)>, (String, bool)> = match (s.state, s.current.as_mut()) {
            (SlotState::Swapping, _) => {
                s.held.push_back(request);
                Ok(None)
            }
            (SlotState::Faulted | SlotState::Stopped, _) | (_, None) => {
                Err((format!("adapter {} is {}", s.spec.name, s.state.name()), false))
            }
            // `handle` only queues: an adapter that cannot even do that is broken.
            (_, Some(g)) => g
                .link
                .send(&request)
                .map(|()| Some((slot, g.number)))
                .map_err(|e| (format!("adapter {} failed: {e}", s.spec.name), true)),
        };
        match outcome {
            Ok(target) => {
                if let Some((label, timeout, kind)) = pending {
                    self.pending.insert(id, Pending { deadline: Instant::now() + timeout, label, kind, target });
                }
                Ok(())
            }
            Err((message, adapter_failed)) => {
                if adapter_failed {
                    self.mark_faulted(slot, message.clone());
                } else {
                    tracing::warn!(adapter = %self.slots[slot].spec.name, "request not sent: {message}");
                }
                if let Some((_, _, kind)) = pending {
                    self.fail_pending(kind, GatewayError::Adapter(message.clone()));
                }
                Err(message)
            }
        }
    }

    /// Sends straight to one generation (hand-over steps), bypassing held requests.
    pub(super) fn send_to_generation(&mut self, slot: usize, new: bool, body: RequestBody, label: &'static str, kind: PendingKind) -> Result<(), String> {
        let id = self.next_id();
        let timeout = self.settings.timeouts.default;
        let s = &mut self.slots[slot];
        let g = if new { s.swap.as_mut().map(|w| &mut w.new) } else { s.current.as_mut() };
        let Some(g) = g else { return Err("no such generation".into()) };
        g.link.send(&AdapterRequest { id, body }).map_err(|e| e.to_string())?;
        let target = Some((slot, g.number));
        self.pending.insert(id, Pending { deadline: Instant::now() + timeout, label, kind, target });
        Ok(())
    }

    pub(super) fn market_slot(&self) -> usize {
        self.slots.iter().position(|s| s.state != SlotState::Stopped).unwrap_or(0)
    }

    pub(super) fn rebuild_accounts(&mut self) {
        let mut map: HashMap<AccountId, usize> = HashMap::new();
        let mut conflicts = Vec::new();
        for (i, s) in self.slots.iter().enumerate() {
            for a in &s.accounts {
                // The first instance in TXTRADER_MODE order keeps an account both report.
                if let Some(&owner) = map.get(a) {
                    if owner != i {
                        conflicts.push(format!("account {a} is reported by {} and {}; orders go to {}", self.slots[owner].spec.name, s.spec.name, self.slots[owner].spec.name));
                    }
                } else {
                    map.insert(a.clone(), i);
                }
            }
        }
        for c in conflicts {
            self.alert("ADAPTERS", c);
        }
        let mut all: Vec<AccountId> = map.keys().cloned().collect();
        all.sort();
        self.account_slot = map;
        if all != self.accounts {
            self.accounts = all.clone();
            self.publish(GatewayEvent::Accounts(all));
        }
    }

    pub(super) fn view(&self, slot: usize) -> AdapterView {
        let s = &self.slots[slot];
        let g = s.current.as_ref();
        let identity: &AdapterIdentity = g.map_or(&s.spec.source.identity, |g| &g.source.identity);
        AdapterView {
            name: s.spec.name.clone(),
            kind: s.spec.kind.clone(),
            version: identity.version.clone(),
            build_id: identity.build_id(),
            source: g.map_or_else(|| s.spec.source.origin(), |g| g.source.origin()),
            generation: g.map_or(0, |g| g.number),
            state: s.state.name(),
            accounts: s.accounts.clone(),
            loaded_at: g.map(|g| g.loaded_at),
            last_error: s.last_error.clone(),
            retired_generations: s.retired,
            features: g.map(|g| g.features.clone()).unwrap_or_default(),
        }
    }

    pub(super) fn slot_named(&self, name: &str) -> Option<usize> {
        self.slots.iter().position(|s| s.spec.name == name)
    }

    pub(super) fn on_link(&mut self, slot: usize, generation: u64, state: LinkState) {
        let name = self.slots[slot].spec.name.clone();
        tracing::info!(adapter = %name, generation, ?state, "broker link");
        let is_new = self.slots[slot].swap.as_ref().is_some_and(|w| w.new.number == generation);
        let is_current = self.slots[slot].current.as_ref().is_some_and(|g| g.number == generation);
        if is_new {
            let Some(swap) = self.slots[slot].swap.as_mut() else { return };
            match state {
                LinkState::Connected => {
                    swap.new.link_up = true;
                    if swap.awaiting_link {
                        self.switch(slot, false);
                    }
                }
                LinkState::Failed { reason } => self.abort_swap(slot, format!("new generation failed: {reason}")),
                LinkState::Connecting | LinkState::Disconnected { .. } | LinkState::Unknown => swap.new.link_up = false,
            }
            return;
        }
        if !is_current {
            return; // a retired generation
        }
        match state {
            LinkState::Connecting => {
                if let Some(g) = self.slots[slot].current.as_mut() {
                    g.link_up = false;
                }
            }
            LinkState::Connected => {
                if let Some(g) = self.slots[slot].current.as_mut() {
                    g.link_up = true;
                    g.snapshot_requested = false;
                }
                self.maybe_snapshot(slot);
            }
            LinkState::Disconnected { reason } => {
                if let Some(g) = self.slots[slot].current.as_mut() {
                    g.link_up = false;
                }
                if self.slots[slot].state == SlotState::Ready {
                    self.slots[slot].state = SlotState::Starting;
                }
                self.alert(&name, format!("API Disconnected: {reason}"));
            }
            LinkState::Failed { reason } => self.mark_faulted(slot, reason),
            LinkState::Unknown => {}
        }
        self.recompute_status();
    }

    /// The first generation answered hello.
    pub(super) fn greeted(&mut self, slot: usize, generation: u64, hello: AdapterHello) {
        if hello.protocol_version != PROTOCOL_VERSION {
            let msg = format!("adapter {} speaks protocol {}, the gateway {PROTOCOL_VERSION}", hello.name, hello.protocol_version);
            self.mark_faulted(slot, msg);
            return;
        }
        tracing::info!(name = %hello.name, version = %hello.version, features = ?hello.features, "adapter ready");
        if let Some(g) = self.slots[slot].current.as_mut().filter(|g| g.number == generation) {
            g.hello_done = true;
            g.features = hello.features;
        }
        self.maybe_snapshot(slot);
    }

    /// Once greeted and connected, a generation reports its state; the slot is up after that.
    pub(super) fn maybe_snapshot(&mut self, slot: usize) {
        let ready = self.slots[slot].current.as_ref().is_some_and(|g| g.hello_done && g.link_up && !g.snapshot_requested);
        if ready && matches!(self.slots[slot].state, SlotState::Starting) {
            // The broker's day is the truth: orders it never heard of are closed on the books.
            self.request_snapshot(slot, true);
        }
        self.recompute_status();
    }

    pub(super) fn mark_faulted(&mut self, slot: usize, reason: String) {
        let s = &mut self.slots[slot];
        if matches!(s.state, SlotState::Faulted | SlotState::Stopped) {
            return;
        }
        s.state = SlotState::Faulted;
        s.last_error = Some(reason.clone());
        let wait = backoff(s.restart_attempts);
        s.restart_at = Some(Instant::now() + wait);
        let name = s.spec.name.clone();
        tracing::error!(adapter = %name, %reason, "adapter faulted; restarting in {wait:?}");
        self.alert(&name, format!("adapter faulted: {reason}"));
        self.adapter_event(&name, "faulted", json!({"reason": reason, "restart_in_ms": u64::try_from(wait.as_millis()).unwrap_or(0)}));
        self.recompute_status();
    }
}
