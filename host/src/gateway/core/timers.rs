//! The core's one-second timer — request and order deadlines, adapter restarts and draining,
//! orders in doubt, the disconnect timeout, the daily reset — and journal compaction, which it
//! starts when it is time.

use super::{Core, Reply};
use crate::gateway::{GatewayError, JournalStatus};
use crate::gateway::entry::{Checkpoint, Compaction, Entry};
use crate::gateway::oms::Booked;
use crate::shutdown::ExitReason;
use chrono::{Local, Timelike};
use std::time::Instant;
use txtrader_plugin_api::model::{ConnectionStatus, UnixNanos};

impl Core {
    pub(super) fn on_second(&mut self) {
        let now = Instant::now();
        self.expire_pending(now);
        self.expire_order_waiters(now);
        self.expire_awaiting_prices(now);
        for slot in 0..self.slots.len() {
            self.tend_slot(slot, now);
            self.recheck_in_doubt(slot);
        }
        self.maybe_compact();
        if let (Some(since), Some(limit)) = (self.disconnected_since, self.settings.disconnect_shutdown) {
            if since.elapsed() > limit {
                self.force_shutdown(format!("Gateway connection timed out after {} seconds", since.elapsed().as_secs()));
            }
        }
        if let Some(reset) = self.settings.auto_reset {
            let local = Local::now();
            let at_reset = local.hour() == reset.hour() && local.minute() == reset.minute();
            if at_reset && !self.reset_armed {
                self.reset_armed = true;
                tracing::warn!("auto reset in 1 minute: TXTRADER_LOCAL_RESET_TIME={}", reset.format("%H:%M"));
            } else if !at_reset && self.reset_armed {
                self.reset_armed = false;
                self.force_shutdown("auto reset".into());
            }
        }
    }

    /// Compacts the journal: closed orders that last changed longer ago than the age limit
    /// leave the books (an [`Entry::Archive`]), then a checkpoint of everything journaled so far
    /// is appended, on which the journal writer starts a new file and archives the old one.
    /// Answers what it did (durable once the checkpoint is).
    pub(super) fn compact(&mut self, reason: &str) -> Result<Compaction, GatewayError> {
        if self.journal.is_none() {
            return Err(GatewayError::NoJournal);
        }
        let started = Instant::now();
        let now = UnixNanos::now();
        let age = u64::try_from(self.settings.compaction.archive_after.as_nanos()).unwrap_or(u64::MAX);
        let before = UnixNanos(now.0.saturating_sub(age));
        let archived = match self.record(Entry::Archive { before, at: now }) {
            Booked::Archived(gone) => gone,
            _ => Vec::new(),
        };
        let Some(j) = self.journal.as_mut() else { return Err(GatewayError::NoJournal) };
        let checkpoint = j.appended() + 1;
        let compaction = Compaction {
            at: now,
            reason: reason.to_owned(),
            archived_before: before,
            archived_orders: archived.len(),
            checkpoint,
        };
        let entry = Entry::Checkpoint(Box::new(Checkpoint {
            books: self.oms.image(),
            route: (self.route != self.settings.route).then(|| self.route.clone()),
            current_account: self.current_account.clone(),
            exchanges: self.exchanges.clone(),
            seq_reserved: self.seq_reserved,
            pushes: self.recent.iter().cloned().collect(),
            pushes_evicted_through: self.recent_evicted,
            compaction: compaction.clone(),
            risk_states: self.risk.states(),
        }));
        // The books already are the checkpoint's image: appended, not booked again.
        j.append(entry);
        self.compacted = (Instant::now(), checkpoint);
        self.last_compaction = Some(compaction.clone());
        let took = started.elapsed();
        let done = compaction.clone();
        self.after_journal(move |_| {
            tracing::info!(
                reason = %done.reason,
                archived_orders = done.archived_orders,
                checkpoint = done.checkpoint,
                core_ms = took.as_millis(),
                "journal compacted: closed orders older than {} archived, a new journal file begins with the checkpoint",
                done.archived_before.to_datetime().format("%Y-%m-%d %H:%M:%S UTC"),
            );
        });
        Ok(compaction)
    }

    /// Compacts when it is time (`TXTRADER_JOURNAL_COMPACT_EVERY`) or the journal file holds
    /// enough records (`TXTRADER_JOURNAL_COMPACT_RECORDS`).
    pub(super) fn maybe_compact(&mut self) {
        let Some(j) = self.journal.as_ref() else { return };
        let c = self.settings.compaction;
        let reason = if c.records.is_some_and(|n| j.appended().saturating_sub(self.compacted.1) + 1 >= n) {
            "records"
        } else if c.every.is_some_and(|every| self.compacted.0.elapsed() >= every) {
            "interval"
        } else {
            return;
        };
        if let Err(e) = self.compact(reason) {
            tracing::warn!("journal compaction failed: {e}");
        }
    }

    /// The journal's size and position, asked of its writer off the core task.
    pub(super) fn journal_status(&mut self, reply: Reply<Option<JournalStatus>>) {
        let Some(j) = self.journal.as_ref() else {
            let _ = reply.send(None);
            return;
        };
        let (appended, durable, held, last_compaction) = (j.appended(), j.durable(), self.held.len(), self.last_compaction.clone());
        let info = j.info();
        tokio::task::spawn_blocking(move || {
            let info = info.recv().ok().and_then(Result::ok).unwrap_or_default();
            let _ = reply.send(Some(JournalStatus { info, last_compaction, appended, durable, held }));
        });
    }

    pub(super) fn force_shutdown(&mut self, reason: String) {
        self.set_status(ConnectionStatus::Shutdown);
        self.alert("RTX", format!("Forcing shutdown: {reason}"));
        self.shutdown.trigger(ExitReason::Forced(reason));
    }
}
