//! The pre-trade check in the core: every new order, whatever asked for it, is checked here
//! against the limits, the trading states and the books' exposure index, after it is validated
//! and before it is journaled or sent. The engine ([`crate::risk`]) decides; this file gathers
//! what it needs from the books and the market, and records what it decided.

use super::{Core, Reply};
use crate::gateway::bus::GatewayEvent;
use crate::gateway::entry::Entry;
use crate::gateway::exposure;
use crate::gateway::oms::Order;
use crate::risk::check::{Candidate, Denial};
use crate::risk::limits::{Limits, Rules};
use crate::risk::state::{StateEvent, TradingState};
use crate::risk::{AccountUsage, RiskReport, Scope, StateChange};
use indexmap::IndexMap;
use serde_json::json;
use std::time::Instant;
use txtrader_plugin_api::model::{AccountId, Execution, OrderRequest, UnixNanos};

impl Core {
    /// Checks a new order; an accepted one counts against its account's rate and duplicate
    /// window. A refusal is counted and logged once, here.
    pub(super) fn pre_trade(&mut self, request: &OrderRequest, intended_duplicate: bool) -> Result<(), Denial> {
        let candidate = Candidate {
            account: &request.account,
            symbol: &request.symbol,
            side: request.side,
            quantity: request.quantity,
            order_type: &request.order_type,
            intended_duplicate,
        };
        let market = &self.market;
        let exposure = exposure::of(&self.oms, &request.account, &request.symbol, |s| market.reference_price(s));
        let now = Instant::now();
        match self.risk.check(&candidate, &exposure, market.reference_price(&request.symbol), now) {
            Ok(pass) => {
                self.risk.admit(&request.account, pass, now);
                Ok(())
            }
            Err(denial) => {
                self.risk.denied(&request.account);
                tracing::warn!(order = %request.client_order_id, rule = denial.rule.name(), limit = %denial.limit, value = %denial.value, account = %request.account, symbol = %request.symbol, "order refused by risk limit");
                self.record(Entry::RiskDenied { order: request.client_order_id.clone(), denial: denial.clone(), at: UnixNanos::now() });
                let mut detail = serde_json::to_value(&denial).unwrap_or_default();
                detail["order"] = json!(request.client_order_id);
                detail["message"] = json!(denial.to_string());
                self.publish(GatewayEvent::Risk { event: "denied", detail });
                Err(denial)
            }
        }
    }
}

impl Core {
    /// Checks a change of a working order: the order on its new terms, its `leaves` the
    /// quantity that can still trade, against what its account has working besides it. It
    /// counts against the account's rate like an order; the duplicate window does not apply.
    pub(super) fn pre_trade_change(&mut self, order: &txtrader_plugin_api::model::ClientOrderId, changed: &OrderRequest, leaves: txtrader_plugin_api::model::Quantity) -> Result<(), Denial> {
        let candidate = Candidate {
            account: &changed.account,
            symbol: &changed.symbol,
            side: changed.side,
            quantity: leaves,
            order_type: &changed.order_type,
            intended_duplicate: true,
        };
        let market = &self.market;
        let reference = |s: &txtrader_plugin_api::model::Symbol| market.reference_price(s);
        let exposure = match self.oms.get(order) {
            Some(o) => exposure::of_change(&self.oms, o, reference),
            None => exposure::of(&self.oms, &changed.account, &changed.symbol, reference),
        };
        let now = Instant::now();
        match self.risk.check(&candidate, &exposure, market.reference_price(&changed.symbol), now) {
            Ok(pass) => {
                self.risk.admit(&changed.account, pass, now);
                Ok(())
            }
            Err(denial) => {
                self.risk.denied(&changed.account);
                tracing::warn!(order = %order, rule = denial.rule.name(), limit = %denial.limit, value = %denial.value, account = %changed.account, symbol = %changed.symbol, "order change refused by risk limit");
                self.record(Entry::RiskDenied { order: order.clone(), denial: denial.clone(), at: UnixNanos::now() });
                let mut detail = serde_json::to_value(&denial).unwrap_or_default();
                detail["order"] = json!(order);
                detail["change"] = json!(true);
                detail["message"] = json!(denial.to_string());
                self.publish(GatewayEvent::Risk { event: "denied", detail });
                Err(denial)
            }
        }
    }
}

impl Core {
    /// Sets a trading state: journaled (a restart comes back in it), published, logged. HALTED
    /// is the kill switch: every working order in its scope is cancelled; orders the broker
    /// has not acknowledged yet are cancelled as soon as it does ([`Core::cancel_if_halted`]).
    pub(super) fn set_trading_state(&mut self, scope: Scope, state: TradingState, reason: String, reply: Reply<StateChange>) {
        let (previous, state) = self.change_state(&scope, StateEvent::Operator(state), &reason);
        let cancels = match (&scope, state) {
            (Scope::Gateway, TradingState::Halted) => Some(self.cancel_working(None)),
            (Scope::Account(a), TradingState::Halted) => Some(self.cancel_working(Some(a))),
            (_, TradingState::Active | TradingState::Reducing) => None,
        };
        self.after_journal(move |c| {
            let cancels_sent = cancels.map_or(0, |x| x.send(c));
            if state == TradingState::Halted {
                tracing::warn!(?scope, cancels_sent, "kill switch: working orders cancelled");
            }
            let _ = reply.send(StateChange { scope, previous, state, reason, cancels_sent });
        });
    }

    /// Applies an event to a scope's state, journals the state (a restart comes back in it),
    /// logs and publishes the change; answers the state before and after.
    fn change_state(&mut self, scope: &Scope, event: StateEvent, reason: &str) -> (TradingState, TradingState) {
        let previous = self.risk.state(scope);
        let state = self.risk.apply(scope, event);
        self.record(Entry::RiskState { scope: scope.clone(), state, reason: reason.to_owned(), at: UnixNanos::now() });
        tracing::warn!(?scope, previous = previous.name(), state = state.name(), reason, "trading state set");
        self.publish(GatewayEvent::Risk { event: "state", detail: json!({"scope": scope, "state": state, "previous": previous, "reason": reason}) });
        (previous, state)
    }

    /// An order the broker just acknowledged while its account is HALTED is cancelled at once:
    /// the kill switch cannot cancel what the broker has not acknowledged yet.
    pub(super) fn cancel_if_halted(&mut self, order: &Order) {
        if !order.status.is_open() || self.risk.effective(&order.request.account) != TradingState::Halted {
            return;
        }
        let key = order.key().to_owned();
        if let Ok((slot, body)) = self.cancel(&key) {
            tracing::warn!(order = %key, "kill switch: an order acknowledged while halted is cancelled");
            self.after_journal(move |c| {
                c.send_cancel(slot, body);
            });
        }
    }

    /// Books a fill for the daily loss limit; an account whose realised loss of the day reached
    /// its limit moves to REDUCING (journaled, published, logged like an operator's change).
    pub(super) fn after_fill(&mut self, x: &Execution) {
        let Some((realised, limit)) = self.risk.fill(x, trading_day(self.settings.timezone, x.ts_event)) else { return };
        let reason = format!("daily loss limit: realised {} against the limit {}", realised.normalize(), limit.normalize());
        self.change_state(&Scope::Account(x.account.clone()), StateEvent::LossLimit, &reason);
    }

    /// The daily loss tracker rebuilt from the executions in the books (at start).
    pub(super) fn replay_fills(&mut self) {
        let tz = self.settings.timezone;
        for x in self.oms.executions() {
            // states come back from the journal: only the tracker is rebuilt here
            let _ = self.risk.fill(x, trading_day(tz, x.ts_event));
        }
    }

    /// New limits from the limits file; states and counters stay.
    pub(super) fn set_limits(&mut self, limits: Limits) {
        let file = limits.source.clone();
        self.risk.set_limits(limits);
        tracing::info!(file = file.as_deref().unwrap_or("built-in"), "risk limits reloaded");
        self.publish(GatewayEvent::Risk { event: "limits", detail: json!({"file": file, "loaded": true}) });
    }

    /// The limits in force, the states and each account's usage.
    pub(super) fn risk_report(&self) -> RiskReport {
        let now = Instant::now();
        let limits = self.risk.limits();
        let market = &self.market;
        let mut accounts = IndexMap::new();
        let mut names: Vec<AccountId> = self.accounts.clone();
        names.extend(self.oms.positions().keys().map(|(a, _)| a.clone()).filter(|a| !self.accounts.contains(a)));
        names.dedup(); // the books' positions are sorted by account
        for account in names {
            let working = self.oms.working(&account);
            let (open_orders, open_notional) = exposure::open(&self.oms, &account, |s| market.reference_price(s));
            let account_rules = limits.resolve_account(&account);
            let (accepted, denied) = self.risk.counts(&account);
            let usage = AccountUsage {
                state: self.risk.state(&Scope::Account(account.clone())),
                effective: self.risk.effective(&account),
                open_orders,
                open_notional,
                positions: self.oms.positions().iter().filter(|((a, _), _)| a == &account).map(|((_, s), q)| (s.to_string(), q.as_decimal())).collect(),
                working: working.map(|w| {
                    let mut symbols: Vec<(String, _)> = w.symbols.iter().map(|(s, v)| (s.to_string(), *v)).collect();
                    symbols.sort_by(|a, b| a.0.cmp(&b.0));
                    symbols.into_iter().collect()
                }).unwrap_or_default(),
                accepted,
                denied,
                rate_available: self.risk.rate_available(&account, account_rules.max_orders_per_second, now),
                realised_today: self.risk.realised(&account),
                max_daily_loss: account_rules.max_daily_loss,
            };
            accounts.insert(account.to_string(), usage);
        }
        RiskReport {
            limits_file: limits.source.clone(),
            limits: limits.file().clone(),
            builtin: Rules::builtin(),
            gateway: self.risk.state(&Scope::Gateway),
            accounts,
            denials: self.risk.denials(),
        }
    }
}

/// The trading day of an instant: its date in the API time zone.
fn trading_day(tz: chrono_tz::Tz, t: UnixNanos) -> chrono::NaiveDate {
    t.to_datetime().with_timezone(&tz).date_naive()
}
