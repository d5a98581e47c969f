//! A hot swap's hand-over when the books are on disk.
//!
//! The host moves an exchange from one generation to the next with `ExportState` and
//! `ImportState`, holding orders meanwhile. With the books in memory, the state itself travels
//! (the engine's JSON, format 1). With the books on disk they are already in the store, so the
//! running generation stores what changed since its last commit, closes the store and answers
//! only where the books are (format 2); the new generation opens the store and continues from it
//! exactly as after a restart. The hold then costs one commit and reading the open books, not
//! serializing them, passing them through the host twice and parsing them back.
//!
//! If the hand-over is abandoned, the host imports the answer back into the running generation:
//! it reopens the store, its books in memory unchanged.

use super::{open_store, store_changes, Keeping};
use crate::engine::Exchange;
use crate::store::Store;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use txtrader_plugin_api::adapter::Host;
use txtrader_plugin_api::wire::{AdapterEvent, AdapterRequest, ErrorCode, ReplyBody, RequestBody, WireError};

/// The format of a state handed over through the store.
const FORMAT: u32 = 2;

/// What the running generation answers `ExportState` with when its books are on disk.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    format: u32,
    /// The store holding the books.
    stored: PathBuf,
}

/// What [`through_store`] did with a request.
pub(crate) enum Handled {
    /// Answered.
    Yes(Box<AdapterEvent>),
    /// The exchange cannot go on.
    Failed(String),
    /// Not a hand-over through the store: the engine answers it.
    No,
}

/// Handles `ExportState` and `ImportState` through the store at `path`.
pub(crate) fn through_store(request: &AdapterRequest, path: &Path, exchange: &mut Exchange, store: &mut Option<Store>, host: &Host) -> Handled {
    let id = request.id;
    let refuse = |message: String| Handled::Yes(Box::new(AdapterEvent::Failed { request_id: id, error: WireError { code: ErrorCode::InvalidRequest, message } }));
    match &request.body {
        RequestBody::ExportState => {
            // A generation that never opened its store (it was never started) exports its
            // (empty) state itself.
            let Some(mut open) = store.take() else { return Handled::No };
            if let Err(e) = store_changes(exchange, &mut open, true) {
                return Handled::Failed(format!("cannot store the exchange's books in {} to hand them over: {e}", path.display()));
            }
            exchange.freeze();
            open.close_for_handover();
            let answer = Stored { format: FORMAT, stored: path.to_owned() };
            match serde_json::to_string(&answer) {
                Ok(state) => Handled::Yes(Box::new(AdapterEvent::Reply { request_id: id, body: ReplyBody::State { state } })),
                Err(e) => Handled::Failed(format!("cannot describe the handed-over books: {e}")),
            }
        }
        RequestBody::ImportState { state } => {
            // The engine's own state (format 1, books in memory) is not this.
            let Ok(stored) = serde_json::from_str::<Stored>(state) else { return Handled::No };
            if stored.format != FORMAT {
                return refuse(format!("exchange state format {} is not supported (expected 1 or {FORMAT})", stored.format));
            }
            if stored.stored != path {
                return refuse(format!(
                    "the books were handed over in {}, but this instance keeps its books in {}",
                    stored.stored.display(),
                    path.display()
                ));
            }
            if store.is_some() {
                return refuse("this exchange is running on its own books; it cannot take over another's".into());
            }
            // The generation that exported them takes them back (an abandoned hand-over): what
            // it holds is what it stored. A new generation reads them as after a restart.
            let thaw = exchange.is_frozen();
            match open_store(&Keeping::Disk(path.to_owned()), exchange, !thaw, host) {
                Ok(s) => *store = Some(s),
                Err(e) => return refuse(format!("cannot open the handed-over books: {e}")),
            }
            if thaw {
                exchange.thaw();
            }
            Handled::Yes(Box::new(AdapterEvent::Reply { request_id: id, body: ReplyBody::Done }))
        }
        _ => Handled::No,
    }
}
