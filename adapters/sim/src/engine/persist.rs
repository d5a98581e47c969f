//! What the exchange's store keeps of it: its changes as rows (orders, accounts, executions,
//! markets, counters), its books loaded back from such rows, and the closed orders and past
//! executions it lets go of once they are stored.
//!
//! The engine stays pure: it only tracks what changed and turns it into rows; the adapter's
//! thread writes them (one transaction, one fsync, for everything a batch of requests changed)
//! and reads them back. Open orders, accounts and markets are all the exchange holds in memory
//! once its changes are stored, so its memory, a hand-over and a restart do not grow with the
//! day's orders; the day's closed orders and executions are read from the store when a
//! snapshot reports them.

use super::{Account, Exchange, SimOrder};
use crate::market::LiveMarket;
use std::collections::BTreeSet;
use txtrader_plugin_api::model::{AccountId, Execution, Symbol, UnixNanos};
use txtrader_plugin_api::wire::OrderSnapshot;

/// What changed since the last [`Exchange::take_changes`].
#[derive(Debug, Default)]
pub(super) struct Changed {
    pub(super) orders: BTreeSet<u64>,
    pub(super) accounts: BTreeSet<AccountId>,
    pub(super) executions: Vec<Execution>,
    /// The counters changed on their own (a refused cancel of an unknown order).
    pub(super) meta: bool,
    /// Everything held changed (an import): every order, account and market.
    pub(super) everything: bool,
    /// Closed orders taken as changes, to let go of once they are stored.
    pub(super) stored_closed: Vec<u64>,
}

/// One order as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRow {
    /// The exchange's order number (time priority).
    pub key: u64,
    /// Still open at the exchange.
    pub open: bool,
    /// Its last change.
    pub ts: UnixNanos,
    /// The order (JSON).
    pub body: String,
}

/// One execution as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRow {
    /// The venue's fill number (in order of the fills).
    pub fill: u64,
    /// When.
    pub ts: UnixNanos,
    /// The execution (JSON).
    pub body: String,
}

/// Rows to store in one transaction.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// The counters and the id prefix (JSON).
    pub meta: String,
    /// Orders new or changed.
    pub orders: Vec<OrderRow>,
    /// Accounts changed: (account, JSON).
    pub accounts: Vec<(String, String)>,
    /// New executions.
    pub executions: Vec<ExecRow>,
    /// Markets: (symbol, JSON), when asked for (they change every tick).
    pub markets: Vec<(String, String)>,
}

/// The counters a restarted exchange continues from.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Meta {
    permid_prefix: String,
    seq: u64,
    cancel_rejects: u64,
    fills: u64,
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

impl Exchange {
    /// What changed since the last call, as rows (with every market when `markets` is set);
    /// `None` when nothing did.
    pub fn take_changes(&mut self, markets: bool) -> Option<Changes> {
        let mut changed = std::mem::take(&mut self.changed);
        // closed orders taken before, not yet let go of, stay listed
        self.changed.stored_closed = std::mem::take(&mut changed.stored_closed);
        let everything = changed.everything;
        let nothing = changed.orders.is_empty() && changed.accounts.is_empty() && changed.executions.is_empty() && !changed.meta;
        if nothing && !everything && !markets {
            return None;
        }
        let meta = json(&Meta { permid_prefix: self.permid_prefix.clone(), seq: self.seq, cancel_rejects: self.cancel_rejects, fills: self.fills });
        let row = |key: u64, o: &SimOrder| OrderRow { key, open: o.status.is_open(), ts: o.ts, body: json(o) };
        let orders: Vec<OrderRow> = if everything {
            self.orders.iter().map(|(k, o)| row(*k, o)).collect()
        } else {
            changed.orders.iter().filter_map(|k| Some(row(*k, self.orders.get(k)?))).collect()
        };
        self.changed.stored_closed.extend(orders.iter().filter(|o| !o.open).map(|o| o.key));
        let account = |(a, acct): (&AccountId, &Account)| (a.as_str().to_owned(), json(acct));
        let accounts = if everything {
            self.accounts.iter().map(account).collect()
        } else {
            changed.accounts.iter().filter_map(|a| Some(account((a, self.accounts.get(a)?)))).collect()
        };
        let executions = if everything { self.executions.clone() } else { changed.executions };
        let first_fill = self.fills + 1 - executions.len() as u64;
        let executions = executions
            .iter()
            .zip(first_fill..)
            .map(|(x, fill)| ExecRow { fill, ts: x.ts_event, body: json(x) })
            .collect();
        let markets = if markets || everything { self.markets.iter().map(|(s, m)| (s.as_str().to_owned(), json(m))).collect() } else { Vec::new() };
        Some(Changes { meta, orders, accounts, executions, markets })
    }

    /// Forgets what changed: the store already holds it (books handed over within the same
    /// file, which the previous holder committed before it handed them over).
    pub fn mark_stored(&mut self) {
        let closed = self.orders.iter().filter(|(_, o)| !o.status.is_open()).map(|(k, _)| *k).collect();
        self.changed = Changed { stored_closed: closed, ..Changed::default() };
    }

    /// Lets go of what the store now keeps and the exchange no longer needs at hand: the closed
    /// orders taken as changes, and past executions. Call once their rows are stored.
    pub fn forget_closed(&mut self) {
        for key in std::mem::take(&mut self.changed.stored_closed) {
            if let Some(o) = self.orders.remove(&key) {
                self.by_broker_id.remove(&o.broker_id);
            }
        }
        self.executions.clear();
    }

    /// Continues from the rows a store kept: counters, open orders (with their numbers),
    /// accounts and markets.
    ///
    /// # Errors
    /// A row this build cannot read.
    pub fn load<'a>(
        &mut self,
        meta: &str,
        orders: impl IntoIterator<Item = (u64, &'a str)>,
        accounts: impl IntoIterator<Item = (&'a str, &'a str)>,
        markets: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), String> {
        let meta: Meta = serde_json::from_str(meta).map_err(|e| format!("counters: {e}"))?;
        let mut loaded = std::collections::BTreeMap::new();
        for (key, body) in orders {
            loaded.insert(key, serde_json::from_str::<SimOrder>(body).map_err(|e| format!("order {key}: {e}"))?);
        }
        let mut books = std::collections::BTreeMap::new();
        for (id, body) in accounts {
            let a = AccountId::new(id).map_err(|e| format!("account {id}: {e}"))?;
            books.insert(a, serde_json::from_str::<Account>(body).map_err(|e| format!("account {id}: {e}"))?);
        }
        for (symbol, body) in markets {
            let s = Symbol::new(symbol).map_err(|e| format!("market {symbol}: {e}"))?;
            self.markets.insert(s, serde_json::from_str::<LiveMarket>(body).map_err(|e| format!("market {symbol}: {e}"))?);
        }
        self.permid_prefix = meta.permid_prefix;
        self.seq = meta.seq;
        self.cancel_rejects = meta.cancel_rejects;
        self.fills = meta.fills;
        // accounts the configuration added since keep their opening cash
        self.accounts.extend(books);
        self.orders = loaded;
        self.executions.clear();
        self.reindex();
        Ok(())
    }

    /// A stored order as a snapshot reports it.
    pub fn order_snapshot(body: &str) -> Option<OrderSnapshot> {
        serde_json::from_str::<SimOrder>(body).ok().map(SimOrder::into_snapshot)
    }

    /// When the exchange's trading day of `now` began (midnight in its time zone): a snapshot
    /// reports the day's closed orders and executions.
    pub fn day_start(&self, now: UnixNanos) -> UnixNanos {
        let date = self.history.local_date(now);
        date.and_hms_opt(0, 0, 0)
            .and_then(|m| m.and_local_timezone(self.config.timezone).earliest())
            .map_or(UnixNanos(0), UnixNanos::from)
    }
}
