//! Moving-average crossover on one-minute bars: long while the fast average is above the slow
//! one, short (or flat, with `allow_short: false`) while it is below.
//!
//! At start it asks for the last week of one-minute bars (keeping the last `slow` closes), so it knows the current regime at once
//! and takes that position; then each live bar updates both averages and a cross reverses it.

use serde::Deserialize;
use std::collections::VecDeque;
use txtrader_strategy_sdk::{export_strategy, Bar, Context, Decimal, Interval, Order, Side, Strategy};

#[derive(Deserialize)]
struct Config {
    account: String,
    symbol: String,
    fast: usize,
    slow: usize,
    quantity: Decimal,
    #[serde(default = "yes")]
    allow_short: bool,
}

fn yes() -> bool {
    true
}

struct MaCross {
    cfg: Config,
    closes: VecDeque<Decimal>,
    /// The position the strategy wants: +quantity, -quantity or zero.
    target: Decimal,
}

fn average(v: impl Iterator<Item = Decimal>, n: usize) -> Decimal {
    v.sum::<Decimal>() / Decimal::from(n)
}

impl MaCross {
    fn signal(&self) -> Option<Decimal> {
        if self.closes.len() < self.cfg.slow {
            return None;
        }
        let fast = average(self.closes.iter().rev().take(self.cfg.fast).copied(), self.cfg.fast);
        let slow = average(self.closes.iter().rev().take(self.cfg.slow).copied(), self.cfg.slow);
        let short = if self.cfg.allow_short { -self.cfg.quantity } else { Decimal::ZERO };
        Some(if fast > slow { self.cfg.quantity } else { short })
    }

    fn push(&mut self, close: Decimal) {
        self.closes.push_back(close);
        while self.closes.len() > self.cfg.slow {
            self.closes.pop_front();
        }
    }

    /// Trades the difference between the wanted and the current position.
    fn rebalance(&mut self, ctx: &mut Context) {
        let Some(target) = self.signal() else { return };
        if target == self.target && ctx.open_orders().is_empty() {
            let held = ctx.position(&self.cfg.account, &self.cfg.symbol);
            if held == target {
                return;
            }
        }
        self.target = target;
        if !ctx.open_orders().is_empty() {
            return; // the order in flight is accounted for when it completes
        }
        let delta = target - ctx.position(&self.cfg.account, &self.cfg.symbol);
        if delta.is_zero() {
            return;
        }
        let side = if delta > Decimal::ZERO { Side::Buy } else { Side::Sell };
        match ctx.market(&self.cfg.account, &self.cfg.symbol, side, delta.abs()) {
            Ok(id) => ctx.info(&format!("{side:?} {} {} toward {target} ({id})", delta.abs(), self.cfg.symbol)),
            Err(e) => ctx.warn(&format!("order refused: {e}")),
        }
    }
}

impl Strategy for MaCross {
    fn start(ctx: &mut Context, config: &str) -> Result<Self, String> {
        let cfg: Config = txtrader_strategy_sdk::parse_config(config)?;
        if cfg.fast == 0 || cfg.fast >= cfg.slow {
            return Err(format!("need 0 < fast < slow, got fast {} slow {}", cfg.fast, cfg.slow));
        }
        ctx.subscribe(&cfg.symbol)?;
        // A week back covers weekends and nights; only the last `slow` closes are kept.
        let now = ctx.now();
        let week = 7 * 24 * 3_600_000_000_000u64;
        let from = now.saturating_sub(week);
        ctx.request_bars(&cfg.symbol, Interval::Minutes(1), from, now)?;
        Ok(Self { cfg, closes: VecDeque::new(), target: Decimal::ZERO })
    }

    fn on_bars(&mut self, ctx: &mut Context, _request: u64, bars: Result<Vec<Bar>, String>) {
        match bars {
            Ok(bars) => {
                for b in bars {
                    self.push(b.close);
                }
                self.rebalance(ctx);
            }
            Err(e) => ctx.warn(&format!("no history: {e}")),
        }
    }

    fn on_bar(&mut self, ctx: &mut Context, bar: &Bar) {
        if bar.symbol == self.cfg.symbol {
            self.push(bar.close);
            self.rebalance(ctx);
        }
    }

    fn on_stop(&mut self, ctx: &mut Context) {
        let held = ctx.position(&self.cfg.account, &self.cfg.symbol);
        ctx.info(&format!("stopping: holding {held} {}, position left as is", self.cfg.symbol));
    }

    fn on_order(&mut self, ctx: &mut Context, order: &Order) {
        if let Some(fill) = &order.fill {
            ctx.info(&format!("filled {} at {}", fill.quantity, fill.price));
        }
        if order.status.is_final() {
            self.rebalance(ctx);
        }
    }
}

export_strategy!(MaCross);
