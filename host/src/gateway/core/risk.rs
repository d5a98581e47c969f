//! The pre-trade check in the core: every new order, whatever asked for it, is checked here
//! against the limits, the trading states and the books' exposure index, after it is validated
//! and before it is journaled or sent. The engine ([`crate::risk`]) decides; this file gathers
//! what it needs from the books and the market, and records what it decided.

use super::Core;
use crate::gateway::exposure;
use crate::risk::check::{Candidate, Denial};
use std::time::Instant;
use txtrader_plugin_api::model::OrderRequest;

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
                Err(denial)
            }
        }
    }
}
