//! Requests to adapters that expect an answer: each is remembered with its deadline and what
//! waits on it ([`PendingKind`]), matched with the adapter's reply or failure, and expired by
//! the one-second timer (the caller gets a timeout, stream clients an error). A request sent
//! to a generation that is later retired fails with the reason (see [`super::hot_swap`]).

use super::Core;
use super::Reply;
use crate::gateway::GatewayError;
use std::time::Instant;
use txtrader_plugin_api::model::{AccountSummary, Bar, Symbol};
use txtrader_plugin_api::wire::{AdapterRequest, ReplyBody, RequestBody, RequestId, WireError};

/// A request to an adapter waiting for its answer.
pub(super) struct Pending {
    pub(super) deadline: Instant,
    pub(super) label: &'static str,
    pub(super) kind: PendingKind,
    /// The (slot, generation) it went to; a retired generation drains until none is left.
    pub(super) target: Option<(usize, u64)>,
}

/// What waits on a pending request.
pub(super) enum PendingKind {
    Hello { slot: usize, generation: u64 },
    Snapshot { slot: usize, generation: u64, reconcile: bool },
    SwapHello { slot: usize },
    SwapCopy { slot: usize },
    SwapImportCopy { slot: usize },
    SwapExport { slot: usize },
    SwapImport { slot: usize },
    Subscribe { symbol: Symbol },
    SymbolBars { symbol: Symbol },
    Unsubscribe { symbol: Symbol },
    Lookup { symbol: Symbol },
    Bars { reply: Reply<Result<Vec<Bar>, GatewayError>> },
    Account { reply: Reply<Result<Option<AccountSummary>, GatewayError>> },
}

impl Core {
    pub(super) fn next_id(&mut self) -> RequestId {
        self.next_request += 1;
        RequestId(self.next_request)
    }

    pub(super) fn on_reply(&mut self, slot: usize, generation: u64, id: RequestId, body: ReplyBody) {
        self.on_reply_inner(slot, generation, id, body);
        // It may have been the last thing a draining generation owed.
        if !self.slots[slot].draining.is_empty() {
            self.check_draining(slot);
        }
    }

    pub(super) fn on_reply_inner(&mut self, slot: usize, generation: u64, id: RequestId, body: ReplyBody) {
        let Some(pending) = self.pending.remove(&id) else {
            tracing::warn!(%id, "reply to no pending request (expired?)");
            if let ReplyBody::State { state } = body {
                // An export that came too late froze a generation that still serves: thaw it.
                let serving = self.slots[slot].current.as_ref().is_some_and(|g| g.number == generation);
                if serving && self.slots[slot].swap.is_none() {
                    let id = self.next_id();
                    if let Some(g) = self.slots[slot].current.as_mut() {
                        let _ = g.link.send(&AdapterRequest { id, body: RequestBody::ImportState { state } });
                    }
                }
            }
            return;
        };
        match (pending.kind, body) {
            (PendingKind::Hello { slot, generation }, ReplyBody::Hello(hello)) => self.greeted(slot, generation, hello),
            (PendingKind::Snapshot { slot, generation, reconcile }, ReplyBody::Snapshot(snapshot)) => {
                if self.slots[slot].current.as_ref().is_some_and(|g| g.number == generation) {
                    self.load_snapshot(slot, snapshot, reconcile);
                }
            }
            (PendingKind::SwapHello { slot }, ReplyBody::Hello(hello)) => self.swap_greeted(slot, hello.features),
            (PendingKind::SwapCopy { slot }, ReplyBody::State { state }) => self.state_copied(slot, state),
            (PendingKind::SwapImportCopy { slot }, ReplyBody::Done) => self.hand_over(slot),
            (PendingKind::SwapExport { slot }, ReplyBody::State { state }) => self.state_exported(slot, state),
            (PendingKind::SwapImport { slot }, ReplyBody::Done) => self.switch(slot, true),
            (PendingKind::Subscribe { symbol }, ReplyBody::Market(snapshot)) => self.subscribed(symbol, snapshot),
            (PendingKind::Subscribe { symbol }, ReplyBody::SymbolInvalid { reason }) => self.symbol_invalid(&symbol, &reason),
            (PendingKind::SymbolBars { symbol }, ReplyBody::Bars { bars }) => self.activate(&symbol, bars),
            (PendingKind::Unsubscribe { symbol }, _) => tracing::debug!(%symbol, "unsubscribed"),
            (PendingKind::Lookup { symbol }, ReplyBody::Instrument(instrument)) => {
                self.lookups.remove(&symbol);
                self.market.remember(instrument);
            }
            (PendingKind::Lookup { symbol }, _) => {
                self.lookups.remove(&symbol);
            }
            (PendingKind::Bars { reply }, ReplyBody::Bars { bars }) => {
                self.answer(reply, Ok(bars));
            }
            (PendingKind::Account { reply }, ReplyBody::Account { summary }) => {
                self.answer(reply, Ok(summary));
            }
            (kind, body) => {
                let msg = format!("unexpected reply to {} request: {body:?}", pending.label);
                self.alert("RTX", msg.clone());
                self.fail_pending(kind, GatewayError::Adapter(msg));
            }
        }
    }

    pub(super) fn on_failed(&mut self, id: RequestId, error: WireError) {
        let Some(pending) = self.pending.remove(&id) else {
            tracing::warn!(%id, %error, "failure of no pending request");
            return;
        };
        self.alert("RTX", format!("{} request failed: {error}", pending.label));
        self.fail_pending(pending.kind, GatewayError::Adapter(error.to_string()));
    }

    /// Answers whoever waits on a request that failed or expired.
    pub(super) fn fail_pending(&mut self, kind: PendingKind, error: GatewayError) {
        match kind {
            PendingKind::Hello { slot, .. } => self.mark_faulted(slot, format!("adapter handshake failed: {error}")),
            PendingKind::Snapshot { slot, .. } => {
                // Try again at the next second; the slot stays Starting meanwhile.
                if let Some(g) = self.slots[slot].current.as_mut() {
                    g.snapshot_requested = false;
                }
            }
            PendingKind::SwapHello { slot } => self.abort_swap(slot, format!("the new generation did not answer hello: {error}")),
            PendingKind::SwapCopy { slot } => self.copy_failed(slot, &error),
            PendingKind::SwapImportCopy { slot } => self.abort_swap(slot, format!("the new generation did not import the copy of the state: {error}")),
            PendingKind::SwapExport { slot } => {
                self.abort_swap(slot, format!("the running generation did not export its state: {error}"));
            }
            PendingKind::SwapImport { slot } => self.abort_swap(slot, format!("the new generation did not import the state: {error}")),
            PendingKind::Subscribe { symbol } => {
                if let Some(s) = self.subscribing.remove(&symbol) {
                    for (_, reply) in s.waiters {
                        self.answer(reply, Err(error.clone()));
                    }
                }
            }
            PendingKind::SymbolBars { symbol } => self.activate(&symbol, Vec::new()),
            PendingKind::Unsubscribe { .. } => {}
            PendingKind::Lookup { symbol } => {
                self.lookups.remove(&symbol);
            }
            PendingKind::Bars { reply } => {
                self.answer(reply, Err(error));
            }
            PendingKind::Account { reply } => {
                self.answer(reply, Err(error));
            }
        }
    }

    /// Expires the requests whose deadline passed.
    pub(super) fn expire_pending(&mut self, now: Instant) {
        let expired: Vec<RequestId> = self.pending.iter().filter(|(_, p)| p.deadline <= now).map(|(id, _)| *id).collect();
        for id in expired {
            if let Some(p) = self.pending.remove(&id) {
                self.alert("RTX", format!("API_Callback<{id} {}> callback expired", p.label));
                self.fail_pending(p.kind, GatewayError::Timeout(p.label));
            }
        }
    }
}
