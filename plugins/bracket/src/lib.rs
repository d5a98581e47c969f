//! A protective bracket manager: enters a position, then protects it with a stop-loss and a
//! profit target that cancel each other (one-cancels-the-other), and re-enters after the exit
//! when `repeat` is set.
//!
//! Entry: a market order for `quantity` on `side` at the first quote. When it fills, the exits
//! go in at the average fill price minus/plus `stop_offset` (stop) and plus/minus
//! `target_offset` (limit). When one exit fills, the other is cancelled.

use serde::Deserialize;
use txtrader_strategy_sdk::{export_strategy, Context, Decimal, Order, OrderStatus, Quote, Side, Strategy};

#[derive(Deserialize)]
struct Config {
    account: String,
    symbol: String,
    quantity: Decimal,
    #[serde(default = "buy")]
    side: String,
    stop_offset: Decimal,
    target_offset: Decimal,
    #[serde(default)]
    repeat: bool,
}

fn buy() -> String {
    "buy".into()
}

enum Stage {
    /// Waiting for a quote to enter.
    Flat,
    /// The entry order is working.
    Entering(String),
    /// Protected: the stop and the target are working.
    Protected { stop: String, target: String },
    /// One exit filled; the other is being cancelled.
    Exiting,
    /// Done (no repeat).
    Done,
}

struct Bracket {
    cfg: Config,
    side: Side,
    stage: Stage,
}

impl Bracket {
    fn exit_side(&self) -> Side {
        match self.side {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    fn protect(&mut self, ctx: &mut Context, entry: Decimal) {
        let (stop_px, target_px) = match self.side {
            Side::Buy => (entry - self.cfg.stop_offset, entry + self.cfg.target_offset),
            Side::Sell => (entry + self.cfg.stop_offset, entry - self.cfg.target_offset),
        };
        let (a, s, q, x) = (self.cfg.account.clone(), self.cfg.symbol.clone(), self.cfg.quantity, self.exit_side());
        match (ctx.stop(&a, &s, x, q, stop_px), ctx.limit(&a, &s, x, q, target_px)) {
            (Ok(stop), Ok(target)) => {
                ctx.info(&format!("protected: stop {stop_px}, target {target_px}"));
                self.stage = Stage::Protected { stop, target };
            }
            (stop, target) => {
                // never leave a position half protected: flatten
                for id in [stop.ok(), target.ok()].into_iter().flatten() {
                    let _ = ctx.cancel(&id);
                }
                ctx.error("could not place both exits; flattening");
                let _ = ctx.market(&a, &s, x, q);
                self.stage = Stage::Done;
            }
        }
    }
}

impl Strategy for Bracket {
    fn start(ctx: &mut Context, config: &str) -> Result<Self, String> {
        let cfg: Config = txtrader_strategy_sdk::parse_config(config)?;
        let side = match cfg.side.as_str() {
            "buy" => Side::Buy,
            "sell" => Side::Sell,
            other => return Err(format!("side must be buy or sell, got {other:?}")),
        };
        if cfg.stop_offset <= Decimal::ZERO || cfg.target_offset <= Decimal::ZERO {
            return Err("stop_offset and target_offset must be positive".into());
        }
        ctx.subscribe(&cfg.symbol)?;
        Ok(Self { cfg, side, stage: Stage::Flat })
    }

    fn on_quote(&mut self, ctx: &mut Context, quote: &Quote) {
        if quote.symbol == self.cfg.symbol && matches!(self.stage, Stage::Flat) {
            match ctx.market(&self.cfg.account, &self.cfg.symbol, self.side, self.cfg.quantity) {
                Ok(id) => self.stage = Stage::Entering(id),
                Err(e) => {
                    ctx.error(&format!("entry refused: {e}"));
                    self.stage = Stage::Done;
                }
            }
        }
    }

    fn on_order(&mut self, ctx: &mut Context, order: &Order) {
        match &self.stage {
            Stage::Entering(id) if *id == order.id => match order.status {
                OrderStatus::Filled => {
                    let entry = order.avg_price.unwrap_or_default();
                    self.protect(ctx, entry);
                }
                s if s.is_final() => {
                    ctx.warn(&format!("entry ended {s:?}: {}", order.reason.clone().unwrap_or_default()));
                    self.stage = if self.cfg.repeat { Stage::Flat } else { Stage::Done };
                }
                _ => {}
            },
            Stage::Protected { stop, target } if order.status == OrderStatus::Filled => {
                let other = if order.id == *stop {
                    Some(target.clone())
                } else if order.id == *target {
                    Some(stop.clone())
                } else {
                    None
                };
                if let Some(other) = other {
                    ctx.info(&format!("exit filled at {}; cancelling the other", order.avg_price.unwrap_or_default()));
                    let _ = ctx.cancel(&other);
                    self.stage = Stage::Exiting;
                }
            }
            Stage::Exiting if order.status.is_final() && ctx.open_orders().is_empty() => {
                self.stage = if self.cfg.repeat { Stage::Flat } else { Stage::Done };
            }
            _ => {}
        }
    }
}

export_strategy!(Bracket);
