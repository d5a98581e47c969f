//! Handing the session from one generation of the adapter to the next (a new build dropped
//! into the adapter folder), through the gateway's state hand-over: the running generation
//! logs out, closes the store and answers `ExportState` with the store's folder; the new one,
//! waiting because the store was held, opens it on `ImportState`, logs on with the numbers
//! continuing, and answers once the session has caught up. The gateway holds requests
//! meanwhile. If the new one cannot log on in time it lets the store go and fails the import;
//! the gateway then gives the old generation its state back (`ImportState` again), and it
//! logs on again.

use super::{orders, Worker};
use crate::book::Book;
use crate::mapping::Dialect;
use crate::session::store::{Store, StoreError};
use crate::session::Session;
use chrono::Utc;
use std::time::{Duration, Instant};
use txtrader_plugin_api::adapter::LogLevel;
use txtrader_plugin_api::wire::{ErrorCode, ReplyBody, RequestId};

/// How long a new generation may take to log on and catch up before it gives the session back.
const IMPORT_WAIT: Duration = Duration::from_secs(15);

impl Worker {
    /// Opens the store (or a store in memory), replays it into a new book and starts a session
    /// over it.
    pub(super) fn take_store(&mut self) -> Result<(), StoreError> {
        let now = Utc::now().timestamp_millis();
        let (store, records) = match &self.store_dir {
            Some(dir) => Store::open(dir, self.settings.sync, now)?,
            None => (Store::in_memory(now), Vec::new()),
        };
        let dialect = Dialect::of(&self.settings.session.begin_string).unwrap_or(Dialect::Fix44);
        let mut book = Book::new(&self.instance, store.created(), dialect);
        let replayed = records.len();
        for record in records {
            if let Err(e) = orders::replay(&mut book, record) {
                self.host.log(LogLevel::Warn, &format!("FIX store: {e}"));
            }
        }
        if replayed > 0 {
            self.host.log(
                LogLevel::Info,
                &format!("FIX store replayed: {replayed} records, next numbers in {} out {}, {} orders open", store.next_in(), store.next_out(), book.open_orders().count()),
            );
        }
        self.book = book;
        self.session = Session::new(self.settings.session.clone(), store);
        self.standby = false;
        Ok(())
    }

    /// Closes the store (the session over it stays what the store says) and waits.
    fn release_store(&mut self) {
        self.close();
        self.session = Session::new(self.settings.session.clone(), Store::in_memory(Utc::now().timestamp_millis()));
        self.standby = true;
    }

    /// `ExportState`: log out, then answer with the store's folder.
    pub(super) fn export(&mut self, id: RequestId) {
        if self.standby || self.store_dir.is_none() {
            self.host.fail(id, ErrorCode::InvalidRequest, "this generation holds no FIX session to hand over");
            return;
        }
        self.exporting = Some(id);
        if self.live.is_some() {
            let actions = self.session.logout("handing the session to a new build of the gateway's adapter", Instant::now(), Utc::now());
            self.act(actions);
            // the answer (or the logout's deadline) closes the connection: finish_export
        } else {
            self.finish_export();
        }
    }

    /// The session is logged out: the store goes, and its folder to the host.
    pub(super) fn finish_export(&mut self) {
        let Some(id) = self.exporting.take() else { return };
        self.release_store();
        let state = serde_json::json!({"store": self.store_dir.as_ref().map(|d| d.display().to_string())}).to_string();
        self.host.log(LogLevel::Info, "FIX session handed over: logged out, store closed");
        self.host.reply(id, ReplyBody::State { state });
    }

    /// `ImportState`: take the store (the old generation let it go) and log on; answered once
    /// caught up.
    pub(super) fn import(&mut self, id: RequestId, state: &str) {
        let named = serde_json::from_str::<serde_json::Value>(state).ok().and_then(|v| v["store"].as_str().map(std::path::PathBuf::from));
        if named.is_some() && named != self.store_dir {
            self.host.fail(id, ErrorCode::InvalidRequest, format!("the state names another FIX store: {named:?}"));
            return;
        }
        match self.take_store() {
            Ok(()) => {
                self.importing = Some((id, Instant::now()));
                self.attempts = 0;
                self.reconnect_at = None;
                self.halted = false;
            }
            Err(e) => self.host.fail(id, ErrorCode::Internal, e.to_string()),
        }
    }

    /// The session is up and caught up: the import is done.
    pub(super) fn finish_import(&mut self) {
        if let Some((id, _)) = self.importing.take() {
            self.host.log(LogLevel::Info, "FIX session taken over: logged on with the numbers continuing");
            self.host.reply(id, ReplyBody::Done);
        }
    }

    /// An import that could not log on in time gives the session back.
    pub(super) fn import_deadline(&mut self, now: Instant) {
        let late = self.importing.is_some_and(|(_, at)| now.duration_since(at) > IMPORT_WAIT) || (self.importing.is_some() && self.halted);
        if let (true, Some((id, _))) = (late, self.importing) {
            self.importing = None;
            self.release_store();
            self.host.fail(id, ErrorCode::NotConnected, format!("the FIX session did not log on within {IMPORT_WAIT:?}: handed back"));
        }
    }
}
