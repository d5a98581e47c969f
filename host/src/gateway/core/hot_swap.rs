//! Hot swap: how a slot gets a new generation while it keeps serving.
//!
//! A slot gets a new generation when a new build of its library lands in the adapter folder
//! (the watcher reports it, the library is loaded and validated off the core task), when an
//! operator reloads it, or when it faulted. The new generation is created and greeted while the
//! old one serves; for adapters announcing `state-handover` the old one then exports its state
//! and the new one imports it, with requests held meanwhile (others reconcile from their
//! broker). When both also announce `state-precopy`, the old one first copies its state while
//! it keeps serving and the new one imports the copy; the export with requests held then
//! carries only what changed since, so the hold does not grow with the open orders. Routing
//! switches and the held requests go to the new generation. A generation that started afresh
//! then reports its snapshot (which reconciles the books); one that took the state over does
//! not (its snapshot would be the whole day's orders, with requests queued behind it). The old
//! one drains — answers what was sent to it, up to [`DRAIN`] — and is shut down; its library stays mapped. Anything failing before the
//! switch aborts the swap and leaves the old generation serving.
//!
//! A faulted slot (its adapter panicked, failed to queue a request, or reported `Failed`) is
//! restarted with backoff (1 s, 2 s, 4 s … 60 s): the new generation starts fresh and
//! reconciles from its broker. An unloaded slot stays stopped until reloaded.

use super::slots::{AdapterReply, Generation, SlotState, Swap, SwapReason, backoff};
use super::pending::PendingKind;
use super::Core;
use crate::adapters::loader::{LoadError, LoadedLibrary};
use crate::adapters::AdapterSource;
use crate::gateway::{AdapterView, Command, GatewayError, LifecycleError, RejectedLibrary};
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use txtrader_plugin_api::model::UnixNanos;
use txtrader_plugin_api::wire::{AdapterRequest, RequestBody, RequestId};

/// How long a new generation that reconciles from its broker may take to connect to it before
/// the swap is abandoned (the old generation serves meanwhile, and after).
pub(super) const LINK_WAIT: Duration = Duration::from_secs(60);

/// How long a replaced generation may take to answer what was sent to it.
const DRAIN: Duration = Duration::from_secs(10);

impl Core {
    /// `reload_adapter`: a new generation from the instance's library file (read again: it may
    /// hold a new build) or its built-in code.
    pub(super) fn reload_adapter(&mut self, name: &str, reply: AdapterReply) {
        let Some(slot) = self.slot_named(name) else {
            self.answer(reply, Err(LifecycleError::NotFound(name.to_owned())));
            return;
        };
        match self.slots[slot].spec.source.path.clone() {
            Some(path) => self.load_library_async(path, Some(reply)),
            None => {
                let source = self.slots[slot].spec.source.clone();
                self.begin_swap(slot, source, SwapReason::Reload, Some(reply));
            }
        }
    }

    /// `unload_adapter`: the instance stops until reloaded.
    pub(super) fn unload_adapter(&mut self, name: &str, reply: AdapterReply) {
        let answer = match self.slot_named(name) {
            None => Err(LifecycleError::NotFound(name.to_owned())),
            Some(slot) if self.slots[slot].state == SlotState::Stopped => Err(LifecycleError::NotRunning(name.to_owned())),
            Some(slot) => Ok(self.unload(slot)),
        };
        self.answer(reply, answer);
    }

    /// Every second: retires drained generations, abandons a swap whose new generation never
    /// connected to its broker, and restarts a faulted slot whose backoff is over; a slot still
    /// starting asks for its snapshot again.
    pub(super) fn tend_slot(&mut self, slot: usize, now: Instant) {
        if self.slots[slot].swap.as_ref().is_some_and(|w| w.awaiting_link && now.duration_since(w.started) > LINK_WAIT) {
            self.abort_swap(slot, format!("the new generation did not connect to its broker within {} s", LINK_WAIT.as_secs()));
        }
        if !self.slots[slot].draining.is_empty() {
            self.check_draining(slot);
        }
        let s = &self.slots[slot];
        if s.state == SlotState::Faulted && s.swap.is_none() && s.restart_at.is_some_and(|t| t <= now) {
            let name = s.spec.name.clone();
            let source = s.spec.source.clone();
            self.slots[slot].restart_attempts += 1;
            self.slots[slot].restart_at = None;
            tracing::info!(adapter = %name, attempt = self.slots[slot].restart_attempts, "restarting faulted adapter");
            self.begin_swap(slot, source, SwapReason::Restart, None);
        }
        // A snapshot that failed is asked for again.
        if self.slots[slot].state == SlotState::Starting {
            self.maybe_snapshot(slot);
        }
    }

    /// Starts handing a slot over to a new generation built from `source`.
    pub(super) fn begin_swap(&mut self, slot: usize, source: AdapterSource, reason: SwapReason, waiter: Option<AdapterReply>) {
        let name = self.slots[slot].spec.name.clone();
        if self.slots[slot].swap.is_some() {
            if let Some(w) = waiter {
                let _ = w.send(Err(LifecycleError::SwapInProgress(name)));
            }
            return;
        }
        if self.slots[slot].current.is_none() || self.slots[slot].state == SlotState::Stopped {
            // Nothing to hand over from: this is a (re)start.
            self.slots[slot].spec.source = source;
            self.slots[slot].last_error = None;
            let result = self.start_slot(slot);
            if let Some(w) = waiter {
                let _ = w.send(result.map(|()| self.view(slot)));
            }
            self.recompute_status();
            return;
        }
        let new = match self.create_generation(slot, source.clone()) {
            Ok(g) => g,
            Err(e) => {
                let message = format!("new generation from {} refused to start: {e}", source.origin());
                self.slots[slot].last_error = Some(message.clone());
                self.alert(&name, message.clone());
                self.adapter_event(&name, "swap-failed", json!({"reason": message, "source": source.origin()}));
                if let Some(w) = waiter {
                    let _ = w.send(Err(LifecycleError::SwapFailed(message)));
                }
                return;
            }
        };
        let number = new.number;
        self.slots[slot].swap = Some(Swap { new, reason, exported: None, waiters: waiter.into_iter().collect(), started: Instant::now(), holding_since: None, awaiting_link: false });
        tracing::info!(adapter = %name, generation = number, ?reason, source = %source.origin(), "new generation starting");
        if let Err(e) = self.send_to_generation(slot, true, Self::hello(), "hello (new generation)", PendingKind::SwapHello { slot }) {
            self.abort_swap(slot, format!("the new generation refused hello: {e}"));
        }
    }

    /// The new generation answered hello: hand the state over (copying it ahead when both
    /// generations can), or switch at once.
    pub(super) fn swap_greeted(&mut self, slot: usize, features: Vec<String>) {
        let Some(swap) = self.slots[slot].swap.as_mut() else { return };
        swap.new.hello_done = true;
        swap.new.features = features;
        let (new_hands_over, new_copies, new_link_up) = (swap.new.hands_over(), swap.new.copies_ahead(), swap.new.link_up);
        // A faulted generation's state cannot be trusted: the new one reconciles instead.
        let restart = swap.reason == SwapReason::Restart;
        let old = self.slots[slot].current.as_ref();
        let (old_hands_over, old_copies) = (old.is_some_and(Generation::hands_over), old.is_some_and(Generation::copies_ahead));
        let reconciles = !(new_hands_over && old_hands_over);
        if restart || (reconciles && new_link_up) {
            self.switch(slot, false);
        } else if reconciles {
            // It reconciles from its broker: it takes the orders once it is connected to it.
            tracing::info!(adapter = %self.slots[slot].spec.name, "new generation greeted; switching once it is connected to its broker");
            if let Some(swap) = self.slots[slot].swap.as_mut() {
                swap.awaiting_link = true;
            }
        } else if new_copies && old_copies {
            // The bulk moves while the old generation serves; only what changed meanwhile
            // moves with requests held.
            if let Err(e) = self.send_to_generation(slot, false, RequestBody::CopyState, "copy state", PendingKind::SwapCopy { slot }) {
                tracing::warn!(adapter = %self.slots[slot].spec.name, cause = %e, "the running generation refused to copy its state: handing it over whole");
                self.hand_over(slot);
            }
        } else {
            self.hand_over(slot);
        }
    }

    /// The running generation copied its state: the new one imports the copy (nothing held).
    pub(super) fn state_copied(&mut self, slot: usize, state: String) {
        if self.slots[slot].swap.is_none() {
            return;
        }
        if let Err(e) = self.send_to_generation(slot, true, RequestBody::ImportState { state }, "import copy", PendingKind::SwapImportCopy { slot }) {
            self.abort_swap(slot, format!("the new generation refused the copy of the state: {e}"));
        }
    }

    /// The copy could not be made: the state is handed over whole.
    pub(super) fn copy_failed(&mut self, slot: usize, error: &GatewayError) {
        if self.slots[slot].swap.is_some() {
            tracing::warn!(adapter = %self.slots[slot].spec.name, cause = %error, "no copy of the state ahead of the hand-over: handing it over whole");
            self.hand_over(slot);
        }
    }

    /// Holds requests and asks the running generation for its state (after a copy: what changed
    /// since).
    pub(super) fn hand_over(&mut self, slot: usize) {
        let Some(swap) = self.slots[slot].swap.as_mut() else { return };
        swap.holding_since = Some(Instant::now());
        self.slots[slot].state = SlotState::Swapping;
        if let Err(e) = self.send_to_generation(slot, false, RequestBody::ExportState, "export state", PendingKind::SwapExport { slot }) {
            self.abort_swap(slot, format!("the running generation refused to export its state: {e}"));
        }
    }

    /// The running generation exported its state: the new one imports it.
    pub(super) fn state_exported(&mut self, slot: usize, state: String) {
        if let Some(w) = self.slots[slot].swap.as_mut() {
            w.exported = Some(state.clone());
        }
        if let Err(e) = self.send_to_generation(slot, true, RequestBody::ImportState { state }, "import state", PendingKind::SwapImport { slot }) {
            self.abort_swap(slot, format!("the new generation refused the state: {e}"));
        }
    }

    /// Routing moves to the new generation; the old one drains and is shut down (its library
    /// stays mapped).
    pub(super) fn switch(&mut self, slot: usize, handed_over: bool) {
        let Some(swap) = self.slots[slot].swap.take() else { return };
        let name = self.slots[slot].spec.name.clone();
        let now = Instant::now();
        let took = now - swap.started;
        let held_for = swap.holding_since.map_or(Duration::ZERO, |t| now - t);
        let mut new = swap.new;
        // The hand-over replaced the new generation's (empty) state; it reports afresh.
        new.snapshot_requested = false;
        new.link_up = new.link_up || handed_over;
        let source = new.source.clone();
        let number = new.number;
        let version = source.identity.version.clone();
        if let Some(old) = self.slots[slot].current.replace(new) {
            self.slots[slot].retired += 1;
            let waiting = self.pending.values().filter(|p| p.target == Some((slot, old.number))).count();
            if waiting == 0 || swap.reason == SwapReason::Restart {
                self.retire(slot, old, "replaced");
            } else {
                // It drains: what was sent to it is still answered (its order events count too).
                tracing::info!(adapter = %name, generation = old.number, waiting, "old generation draining");
                self.slots[slot].draining.push((old, Instant::now() + DRAIN));
            }
        }
        let link_up = self.slots[slot].current.as_ref().is_some_and(|g| g.link_up);
        let s = &mut self.slots[slot];
        s.spec.source = source;
        // Not connected yet (a restart): the slot is up, and subscribes again, once it has
        // reported its snapshot (slots::maybe_snapshot).
        s.state = if link_up { SlotState::Ready } else { SlotState::Starting };
        s.restart_attempts = 0;
        s.restart_at = None;
        // Held requests first: they waited long enough. The snapshot that follows reflects them,
        // and their events reach the books before it (one ordered event channel).
        let held: Vec<AdapterRequest> = self.slots[slot].held.drain(..).collect();
        for request in held {
            let failed = self.slots[slot].current.as_mut().map(|g| g.link.send(&request));
            if let Some(Err(e)) = failed {
                let message = format!("held request {} refused by the new generation: {e}", request.id);
                self.alert(&name, message.clone());
                if let Some(p) = self.pending.remove(&request.id) {
                    self.fail_pending(p.kind, GatewayError::Adapter(message.clone()));
                }
                self.fail_order_request(&request, &message);
            }
        }
        if !handed_over && link_up {
            // A generation that starts afresh reports its broker's day, which reconciles the
            // books. One that took the state over holds what its predecessor reported: asking
            // it for the day (all of it, closed orders included) would cost time in proportion
            // to the day's orders while requests wait behind it.
            self.request_snapshot(slot, true);
        }
        if slot == self.market_slot() && link_up {
            // The new generation does not know what the old one streamed.
            self.resubscribe();
        }
        let event = if swap.reason == SwapReason::Restart { "restarted" } else { "swapped" };
        self.adapter_event(
            &name,
            event,
            json!({
                "generation": number,
                "version": version,
                "state_handed_over": handed_over,
                "requests_held_ms": u64::try_from(held_for.as_millis()).unwrap_or(u64::MAX),
                "requests_held_us": u64::try_from(held_for.as_micros()).unwrap_or(u64::MAX),
                "swap_ms": u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
                "retired_generations": self.slots[slot].retired,
            }),
        );
        let view = self.view(slot);
        for w in swap.waiters {
            let _ = w.send(Ok(view.clone()));
        }
        self.recompute_status();
    }

    /// Shuts a replaced generation down; requests it never answered fail with the reason.
    pub(super) fn retire(&mut self, slot: usize, mut old: Generation, why: &str) {
        old.link.shutdown();
        let name = self.slots[slot].spec.name.clone();
        tracing::info!(adapter = %name, generation = old.number, why, "old generation stopped; its library stays mapped");
        let orphans: Vec<RequestId> =
            self.pending.iter().filter(|(_, p)| p.target == Some((slot, old.number))).map(|(id, _)| *id).collect();
        for id in orphans {
            if let Some(p) = self.pending.remove(&id) {
                let message = format!("adapter {name} generation {} was {why} before answering", old.number);
                self.fail_pending(p.kind, GatewayError::Adapter(message));
            }
        }
    }

    /// Retires draining generations that have answered everything, or whose time is up.
    pub(super) fn check_draining(&mut self, slot: usize) {
        let now = Instant::now();
        let mut i = 0;
        while i < self.slots[slot].draining.len() {
            let (number, deadline) = (self.slots[slot].draining[i].0.number, self.slots[slot].draining[i].1);
            let waiting = self.pending.values().any(|p| p.target == Some((slot, number)));
            if !waiting || deadline <= now {
                let (old, _) = self.slots[slot].draining.remove(i);
                self.retire(slot, old, if waiting { "out of time draining" } else { "drained" });
            } else {
                i += 1;
            }
        }
    }

    /// The swap failed before the switch: the old generation keeps serving.
    pub(super) fn abort_swap(&mut self, slot: usize, reason: String) {
        let Some(mut swap) = self.slots[slot].swap.take() else { return };
        let name = self.slots[slot].spec.name.clone();
        swap.new.link.shutdown();
        self.slots[slot].retired += 1;
        if let Some(state) = swap.exported.take() {
            // The old generation froze when it exported: give it its state back.
            let id = self.next_id();
            if let Some(g) = self.slots[slot].current.as_mut() {
                if let Err(e) = g.link.send(&AdapterRequest { id, body: RequestBody::ImportState { state } }) {
                    tracing::error!(adapter = %name, cause = %e, "could not thaw the running generation");
                }
            }
        }
        let message = format!("new generation abandoned: {reason}");
        let s = &mut self.slots[slot];
        s.last_error = Some(message.clone());
        if s.state == SlotState::Swapping {
            s.state = SlotState::Ready;
        }
        if swap.reason == SwapReason::Restart {
            s.state = SlotState::Faulted;
            s.restart_at = Some(Instant::now() + backoff(s.restart_attempts));
        }
        let held: Vec<AdapterRequest> = s.held.drain(..).collect();
        for request in held {
            let failed = self.slots[slot].current.as_mut().filter(|_| swap.reason != SwapReason::Restart).map(|g| g.link.send(&request));
            if !matches!(failed, Some(Ok(()))) {
                if let Some(p) = self.pending.remove(&request.id) {
                    self.fail_pending(p.kind, GatewayError::Adapter(message.clone()));
                }
                self.fail_order_request(&request, &message);
            }
        }
        self.alert(&name, message.clone());
        self.adapter_event(&name, "swap-failed", json!({"reason": reason}));
        for w in swap.waiters {
            let _ = w.send(Err(LifecycleError::SwapFailed(message.clone())));
        }
        self.recompute_status();
    }

    pub(super) fn unload(&mut self, slot: usize) -> AdapterView {
        let name = self.slots[slot].spec.name.clone();
        if let Some(mut swap) = self.slots[slot].swap.take() {
            swap.new.link.shutdown();
        }
        if let Some(mut g) = self.slots[slot].current.take() {
            g.link.shutdown();
            self.slots[slot].retired += 1;
        }
        for (old, _) in std::mem::take(&mut self.slots[slot].draining) {
            self.retire(slot, old, "unloaded");
        }
        self.slots[slot].state = SlotState::Stopped;
        self.slots[slot].restart_at = None;
        let held: Vec<AdapterRequest> = self.slots[slot].held.drain(..).collect();
        for request in held {
            self.fail_order_request(&request, &format!("adapter {name} was unloaded"));
        }
        self.adapter_event(&name, "unloaded", json!({}));
        self.recompute_status();
        self.view(slot)
    }

    pub(super) fn on_library_loaded(&mut self, path: PathBuf, result: Result<LoadedLibrary, LoadError>, waiter: Option<AdapterReply>) {
        let file = path.file_name().map_or_else(|| path.display().to_string(), |f| f.to_string_lossy().into_owned());
        match result {
            Err(e) => {
                tracing::error!(%e, "adapter library refused");
                self.rejected.push(RejectedLibrary { path: path.clone(), errors: e.errors.clone(), at: UnixNanos::now() });
                if self.rejected.len() > 50 {
                    self.rejected.remove(0);
                }
                self.alert("ADAPTERS", format!("library {} refused: {}", path.display(), e.errors.join("; ")));
                self.adapter_event(&file, "rejected", json!({"file": path.display().to_string(), "errors": e.errors}));
                if let Some(w) = waiter {
                    let _ = w.send(Err(LifecycleError::LibraryRefused(e)));
                }
            }
            Ok(lib) => {
                for note in &lib.notes {
                    tracing::info!(library = %path.display(), "{note}");
                }
                let source = AdapterSource::library(&lib);
                let kind = lib.identity.name.clone();
                let users: Vec<usize> = (0..self.slots.len()).filter(|i| self.slots[*i].spec.kind == kind).collect();
                if users.is_empty() {
                    tracing::info!(library = %path.display(), adapter = %kind, "adapter library loaded; no TXTRADER_MODE instance uses it");
                    if let Some(w) = waiter {
                        let _ = w.send(Err(LifecycleError::NoInstanceOfKind(kind)));
                    }
                    return;
                }
                let reason = if waiter.is_some() { SwapReason::Reload } else { SwapReason::NewBuild };
                let mut waiter = waiter;
                for slot in users {
                    // The same build seen twice (one file landing can raise several change
                    // events): what runs, or is being swapped in, is already this file.
                    let s = &self.slots[slot];
                    let newest = s.swap.as_ref().map(|w| &w.new.source).or(s.current.as_ref().map(|g| &g.source));
                    if reason == SwapReason::NewBuild && newest.is_some_and(|src| src.sha256 == source.sha256 && src.path == source.path) {
                        tracing::info!(adapter = %s.spec.name, library = %path.display(), "adapter library unchanged (same content as the running build); not swapped");
                        continue;
                    }
                    self.begin_swap(slot, source.clone(), reason, waiter.take());
                }
            }
        }
    }

    pub(super) fn load_library_async(&self, path: PathBuf, reply: Option<AdapterReply>) {
        let (tx, dir) = (self.commands_tx.clone(), self.settings.library_copy_dir.clone());
        tokio::spawn(async move {
            let p = path.clone();
            let result = tokio::task::spawn_blocking(move || crate::adapters::loader::load(&p, &dir))
                .await
                .unwrap_or_else(|e| Err(LoadError { path: path.clone(), errors: vec![format!("loader crashed: {e}")] }));
            let _ = tx.send(Command::LibraryLoaded { path, result: Box::new(result), reply }).await;
        });
    }
}
