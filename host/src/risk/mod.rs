//! Pre-trade risk: the one check every new order passes in the gateway core, whatever asked for
//! it (HTTP, JSON-RPC, stream commands, strategies), before it is journaled as accepted and
//! before the broker hears of it; cancels never pass through it.
//!
//! The engine holds what the check needs besides the books: the limits in force
//! ([`limits`]), the trading state of the gateway and of each account ([`state`]), and each
//! account's rate bucket and recent orders ([`throttle`]). The check itself ([`check`]) changes
//! nothing; an accepted order is recorded with [`RiskEngine::admit`]. The core owns the engine,
//! as it owns the books: the exposure an order is checked against is the books' own index
//! ([`crate::gateway::exposure`]), so the check costs the same whatever the day's volume. The
//! limits file is watched ([`watch`]) and a valid new version replaces the limits live.

pub mod check;
pub mod limits;
pub mod pnl;
pub mod state;
pub mod throttle;
pub mod watch;

use check::{Candidate, Counters, Denial, Exposure, Pass};
use limits::Limits;
use state::{StateEvent, TradingState};
use std::collections::HashMap;
use std::time::Instant;
use throttle::{Bucket, Recent};
use txtrader_plugin_api::model::{AccountId, Price};

/// What a trading state applies to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The whole gateway.
    Gateway,
    /// One account.
    Account(AccountId),
}

/// What setting a trading state did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StateChange {
    /// The gateway or the account.
    pub scope: Scope,
    /// Its state before.
    pub previous: TradingState,
    /// Its state now.
    pub state: TradingState,
    /// Why.
    pub reason: String,
    /// Cancels sent for its working orders (the kill switch), counting each order an adapter
    /// cancels with one global cancel.
    pub cancels_sent: usize,
}

/// The limits in force, the states, and each account's usage against them (`query_risk`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct RiskReport {
    /// The limits file (`None`: the built-in limits only).
    pub limits_file: Option<String>,
    /// The file's sections as read.
    pub limits: limits::LimitsFile,
    /// What applies where the file is silent.
    pub builtin: limits::Rules,
    /// The gateway's state.
    pub gateway: TradingState,
    /// Per account.
    pub accounts: indexmap::IndexMap<String, AccountUsage>,
    /// Orders refused since the start.
    pub denials: u64,
}

/// One account's state and usage.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AccountUsage {
    /// Its own state.
    pub state: TradingState,
    /// The state its orders meet (the stricter of the gateway's and its own).
    pub effective: TradingState,
    /// Open orders.
    pub open_orders: usize,
    /// Open notional (market orders at their reference price).
    pub open_notional: rust_decimal::Decimal,
    /// Net position per symbol.
    pub positions: indexmap::IndexMap<String, rust_decimal::Decimal>,
    /// Open buy and sell quantity per symbol.
    pub working: indexmap::IndexMap<String, check::SymbolWorking>,
    /// Orders accepted and refused since the start.
    pub accepted: u64,
    /// Orders refused since the start.
    pub denied: u64,
    /// Orders it may send right now under its rate limit (`None`: no rate limit).
    pub rate_available: Option<u32>,
    /// Realised P&L of the trading day (average cost, commissions not counted).
    pub realised_today: rust_decimal::Decimal,
    /// The daily loss limit that moves it to REDUCING.
    pub max_daily_loss: Option<rust_decimal::Decimal>,
}

/// One account's counters.
#[derive(Debug, Default)]
struct AccountRisk {
    state: TradingState,
    bucket: Option<Bucket>,
    recent: Recent,
    accepted: u64,
    denied: u64,
}

/// The risk engine.
#[derive(Debug, Default)]
pub struct RiskEngine {
    limits: Limits,
    gateway: TradingState,
    accounts: HashMap<AccountId, AccountRisk>,
    denied: u64,
    pnl: pnl::Pnl,
}

impl RiskEngine {
    /// An engine with these limits, everything ACTIVE.
    pub fn new(limits: Limits) -> Self {
        Self { limits, ..Self::default() }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Replaces the limits (a reloaded file); states and counters stay.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// The state set for a scope (an account's own, not counting the gateway's).
    pub fn state(&self, scope: &Scope) -> TradingState {
        match scope {
            Scope::Gateway => self.gateway,
            Scope::Account(a) => self.own_state(a),
        }
    }

    fn own_state(&self, account: &AccountId) -> TradingState {
        self.accounts.get(account).map_or(TradingState::Active, |r| r.state)
    }

    /// The state that applies to an account's orders: the stricter of the gateway's and its own.
    pub fn effective(&self, account: &AccountId) -> TradingState {
        self.gateway.stricter(self.own_state(account))
    }

    /// Applies an event to a scope's state; answers the new state.
    pub fn apply(&mut self, scope: &Scope, event: StateEvent) -> TradingState {
        match scope {
            Scope::Gateway => {
                self.gateway = state::next(self.gateway, event);
                self.gateway
            }
            Scope::Account(a) => {
                let r = self.accounts.entry(a.clone()).or_default();
                r.state = state::next(r.state, event);
                r.state
            }
        }
    }

    /// Every scope whose state is not ACTIVE.
    pub fn states(&self) -> Vec<(Scope, TradingState)> {
        let mut out = vec![(Scope::Gateway, self.gateway)];
        let mut accounts: Vec<_> = self.accounts.iter().filter(|(_, r)| r.state != TradingState::Active).map(|(a, r)| (Scope::Account(a.clone()), r.state)).collect();
        accounts.sort();
        out.extend(accounts);
        out
    }

    /// Checks an order; changes nothing.
    ///
    /// # Errors
    /// The rule it breaks.
    pub fn check(&self, c: &Candidate<'_>, x: &Exposure, reference: Option<Price>, now: Instant) -> Result<Pass, Denial> {
        let rules = self.limits.resolve(c.account, c.symbol);
        let account = self.accounts.get(c.account);
        let counters = Counters { bucket: account.and_then(|a| a.bucket.as_ref()), recent: account.map(|a| &a.recent) };
        check::check(&rules, self.effective(c.account), c, x, reference, counters, now)
    }

    /// Records what an accepted order uses: a token of its account's rate, its place in the
    /// duplicate window.
    pub fn admit(&mut self, account: &AccountId, pass: Pass, now: Instant) {
        let r = self.accounts.entry(account.clone()).or_default();
        r.accepted += 1;
        if let Some(rate) = pass.rate {
            r.bucket.get_or_insert_with(|| Bucket::full(rate, now)).take(rate, now);
        }
        if let Some((key, window)) = pass.duplicate {
            r.recent.remember(key, window, now);
        }
    }

    /// Books a fill for the daily loss limit. Answers the realised loss and the limit when this
    /// fill took the account to its limit and the account was ACTIVE (the caller then moves it
    /// to REDUCING with [`RiskEngine::apply`]).
    pub fn fill(&mut self, x: &txtrader_plugin_api::model::Execution, day: chrono::NaiveDate) -> Option<(rust_decimal::Decimal, rust_decimal::Decimal)> {
        let realised = self.pnl.fill(&x.account, &x.symbol, x.side, x.quantity.as_decimal(), x.price.as_decimal(), day);
        let limit = self.limits.resolve_account(&x.account).max_daily_loss?;
        let hit = realised.is_sign_negative() && -realised >= limit;
        (hit && self.own_state(&x.account) == TradingState::Active).then_some((realised, limit))
    }

    /// An account's realised P&L of the trading day.
    pub fn realised(&self, account: &AccountId) -> rust_decimal::Decimal {
        self.pnl.realised(account)
    }

    /// Counts a denial.
    pub fn denied(&mut self, account: &AccountId) {
        self.denied += 1;
        self.accounts.entry(account.clone()).or_default().denied += 1;
    }

    /// Orders an account may send now under its rate limit.
    pub fn rate_available(&self, account: &AccountId, rate: Option<u32>, now: Instant) -> Option<u32> {
        let rate = rate?;
        let tokens = self.accounts.get(account).and_then(|a| a.bucket.as_ref()).map_or(f64::from(rate), |b| b.available(rate, now));
        // whole tokens only: `available` answers a value between 0 and `rate`
        Some((tokens.floor() as u32).min(rate))
    }

    /// (accepted, denied) for an account.
    pub fn counts(&self, account: &AccountId) -> (u64, u64) {
        self.accounts.get(account).map_or((0, 0), |r| (r.accepted, r.denied))
    }

    /// Denials since the start.
    pub fn denials(&self) -> u64 {
        self.denied
    }
}

#[cfg(test)]
mod tests;
