//! Handing the exchange over to a new generation of the adapter (a hot swap), and back on an
//! aborted one.
//!
//! The plain hand-over: the running exchange exports everything it holds in memory (open
//! orders, accounts, markets, counters) and freezes; the new one imports it. The host holds
//! requests meanwhile, so that hold grows with the resting orders (encoding and decoding each).
//!
//! With a copy first (`CopyState`, announced as [`FEATURE_STATE_PRECOPY`]) the hold does not
//! grow with them: the running exchange exports a copy and keeps trading, tracking the orders
//! that change from then on; the new generation imports the copy while nothing is held, and
//! stays staged (no store, no ticks, nothing served). The export that follows, with requests
//! held, carries only the orders changed since the copy (and those that left), with the small
//! rest (accounts, markets, counters). An exchange that made a copy and was never asked for the
//! rest forgets the copy once the orders changed since outgrow [`MAX_TRACKED`]; its next export
//! is then whole, which a staged generation also takes.
//!
//! States travel as `b64:` + base64 of JSON. They pass through the JSON of a reply and of a
//! request, twice each way across the C ABI: JSON inside a JSON string is escaped at every
//! quote, and that escaping cost more than the encoding itself; base64 has nothing to escape.
//! Plain JSON (what earlier builds exported) is still read.

use super::{Account, Exchange, SimOrder};
use crate::market::LiveMarket;
use base64::Engine as _;
use std::collections::{BTreeMap, BTreeSet};
use txtrader_plugin_api::model::{AccountId, Execution, Symbol, UnixNanos};

pub use txtrader_plugin_api::wire::FEATURE_STATE_PRECOPY;

/// How a state in base64 starts.
const BASE64: &str = "b64:";

/// Past this many orders changed since a copy, the copy is forgotten (its rest would be no
/// smaller than a whole export).
const MAX_TRACKED: usize = 1_000_000;

/// A state as written: [`ExchangeState`]'s fields, borrowed from the exchange.
#[derive(serde::Serialize)]
struct StateOut<'a> {
    format: u32,
    permid_prefix: &'a str,
    seq: u64,
    cancel_rejects: u64,
    accounts: &'a BTreeMap<AccountId, Account>,
    orders: Orders<'a>,
    executions: &'a [Execution],
    markets: &'a BTreeMap<Symbol, LiveMarket>,
    fills: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    copy: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    since_copy: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    removed: Vec<u64>,
}

/// Orders written as a map by number, without copying them.
struct Orders<'a>(Vec<(u64, &'a SimOrder)>);

impl serde::Serialize for Orders<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, o)| (k, o)))
    }
}

/// Everything a new generation needs to continue the exchange (format 1), or the part of it
/// that changed since a copy.
#[derive(serde::Deserialize)]
struct ExchangeState {
    format: u32,
    permid_prefix: String,
    seq: u64,
    cancel_rejects: u64,
    accounts: BTreeMap<AccountId, Account>,
    /// Every order held, or (with `since_copy`) those changed since the copy.
    orders: BTreeMap<u64, SimOrder>,
    executions: Vec<Execution>,
    markets: BTreeMap<Symbol, LiveMarket>,
    /// Fills so far (absent in states written before it was kept: the executions held).
    #[serde(default)]
    fills: Option<u64>,
    /// This state is a copy, taken while the exchange kept trading; its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    copy: Option<u64>,
    /// This state is the rest of a hand-over after the copy of this id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since_copy: Option<u64>,
    /// With `since_copy`: orders the copy held that the exchange no longer holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    removed: Vec<u64>,
}

fn encode(state: &StateOut<'_>) -> String {
    let json = serde_json::to_vec(state).unwrap_or_default();
    let mut text = String::with_capacity(BASE64.len() + json.len().div_ceil(3) * 4);
    text.push_str(BASE64);
    base64::engine::general_purpose::STANDARD.encode_string(&json, &mut text);
    text
}

fn decode(text: &str) -> Result<ExchangeState, String> {
    let bad = |e: &dyn std::fmt::Display| format!("cannot read the exchange state: {e}");
    let state: ExchangeState = match text.strip_prefix(BASE64) {
        Some(b64) => {
            let json = base64::engine::general_purpose::STANDARD.decode(b64).map_err(|e| bad(&e))?;
            serde_json::from_slice(&json).map_err(|e| bad(&e))?
        }
        None => serde_json::from_str(text).map_err(|e| bad(&e))?,
    };
    if state.format != 1 {
        return Err(format!("exchange state format {} is not supported (expected 1)", state.format));
    }
    Ok(state)
}

/// Where the exchange stands in a hand-over.
#[derive(Debug, Default)]
pub(super) enum Handover {
    /// Nothing under way.
    #[default]
    None,
    /// Running, a copy taken: the orders changed since.
    Copied { id: u64, changed: BTreeSet<u64> },
    /// A new generation holding a copy, waiting for the rest.
    Staged { id: u64 },
}

impl Exchange {
    /// Notes that an order changed (for the rest of a hand-over after a copy).
    pub(super) fn track_change(&mut self, key: u64) {
        if let Handover::Copied { changed, .. } = &mut self.handover {
            changed.insert(key);
            if changed.len() > MAX_TRACKED {
                self.handover = Handover::None;
            }
        }
    }

    /// Whether this exchange holds a copy and waits for the rest of the hand-over.
    pub fn is_staged(&self) -> bool {
        matches!(self.handover, Handover::Staged { .. })
    }

    fn state(&self, orders: Vec<(u64, &SimOrder)>, copy: Option<u64>, since_copy: Option<u64>, removed: Vec<u64>) -> String {
        encode(&StateOut {
            format: 1,
            permid_prefix: &self.permid_prefix,
            seq: self.seq,
            cancel_rejects: self.cancel_rejects,
            accounts: &self.accounts,
            orders: Orders(orders),
            executions: &self.executions,
            markets: &self.markets,
            fills: Some(self.fills),
            copy,
            since_copy,
            removed,
        })
    }

    fn all_orders(&self) -> Vec<(u64, &SimOrder)> {
        self.orders.iter().map(|(k, o)| (*k, o)).collect()
    }

    /// A copy of everything held, for a new generation to import while this one keeps trading;
    /// from now on the orders that change are tracked.
    pub(super) fn copy(&mut self, now: UnixNanos) -> String {
        let id = now.0 ^ self.seq.rotate_left(32);
        let text = self.state(self.all_orders(), Some(id), None, Vec::new());
        self.handover = Handover::Copied { id, changed: BTreeSet::new() };
        text
    }

    /// Everything needed to continue elsewhere (what [`Exchange::restore`] reads), or after a
    /// copy only what changed since; the exchange freezes.
    pub(super) fn export(&mut self) -> String {
        let text = match &self.handover {
            Handover::Copied { id, changed } => {
                let orders = changed.iter().filter_map(|k| Some((*k, self.orders.get(k)?))).collect();
                let removed = changed.iter().filter(|k| !self.orders.contains_key(k)).copied().collect();
                self.state(orders, None, Some(*id), removed)
            }
            Handover::None | Handover::Staged { .. } => self.state(self.all_orders(), None, None, Vec::new()),
        };
        // The books stay: a frozen exchange can be imported back by the host on an aborted
        // hand-over, and must stay inspectable meanwhile.
        self.frozen = true;
        text
    }

    /// Continues from an exported state, replacing whatever this exchange held.
    ///
    /// # Errors
    /// The text is not an exchange state this build reads.
    pub fn restore(&mut self, text: &str) -> Result<(), String> {
        self.import(text)
    }

    /// Takes a state: a whole one (replacing whatever this exchange held), a copy (held,
    /// staged, until the rest comes), the rest after a copy, or this exchange's own rest given
    /// back on an aborted hand-over.
    pub(super) fn import(&mut self, text: &str) -> Result<(), String> {
        let state = decode(text)?;
        match (state.copy, state.since_copy) {
            (Some(_), Some(_)) => Err("an exchange state cannot be both a copy and the rest of one".into()),
            (Some(id), None) => {
                if self.serving && !self.is_staged() {
                    return Err("a copy is for a new generation, and this exchange is trading".into());
                }
                self.take(state);
                self.handover = Handover::Staged { id };
                Ok(())
            }
            (None, Some(base)) => match self.handover {
                Handover::Copied { id, .. } if self.frozen && id == base => {
                    // its own rest, given back: the books never left
                    self.handover = Handover::None;
                    self.frozen = false;
                    Ok(())
                }
                Handover::Staged { id } if id == base => {
                    for key in &state.removed {
                        self.orders.remove(key);
                    }
                    let mut changed = state.orders;
                    let mut rest = ExchangeState { orders: std::mem::take(&mut self.orders), ..state };
                    rest.orders.append(&mut changed);
                    self.take(rest);
                    Ok(())
                }
                _ => Err(format!("the rest of a hand-over after copy {base}, which this exchange does not hold")),
            },
            (None, None) => {
                self.take(state);
                Ok(())
            }
        }
    }

    /// Holds a whole state; it is this exchange's from now on.
    fn take(&mut self, state: ExchangeState) {
        self.permid_prefix = state.permid_prefix;
        self.seq = state.seq;
        self.cancel_rejects = state.cancel_rejects;
        self.fills = state.fills.unwrap_or(state.executions.len() as u64);
        self.accounts = state.accounts;
        self.executions = state.executions;
        self.markets = state.markets;
        self.orders = state.orders;
        self.reindex();
        self.frozen = false;
        self.handover = Handover::None;
        // everything handed over is this exchange's now: its store keeps all of it
        self.changed.everything = true;
    }

    /// Rebuilds the lookups from the orders.
    pub(super) fn reindex(&mut self) {
        self.by_broker_id = self.orders.iter().map(|(seq, o)| (o.broker_id.clone(), *seq)).collect();
        self.activations = self.orders.iter().filter_map(|(seq, o)| o.active_at.map(|t| (t, *seq))).collect();
        self.working = self
            .orders
            .iter()
            .filter(|(_, o)| o.status.is_open() && o.status != super::OrderStatus::Held && o.active_at.is_none())
            .map(|(seq, _)| *seq)
            .collect();
    }
}
