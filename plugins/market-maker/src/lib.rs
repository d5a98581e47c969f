//! A quote-driven market maker: keeps one bid and one offer around the market and stays inside
//! an inventory band.
//!
//! On each quote it wants a buy at `bid - edge` and a sell at `ask + edge` (`edge` may be zero:
//! join the touch). An order whose price is more than `requote` away from where it should be is
//! cancelled and placed again once the cancel is done. No buy is placed while the position is
//! at `max_inventory` or above, no sell at `-max_inventory` or below.

use serde::Deserialize;
use txtrader_strategy_sdk::{export_strategy, Context, Decimal, Order, OrderStatus, Quote, Side, Strategy};

#[derive(Deserialize)]
struct Config {
    account: String,
    symbol: String,
    quantity: Decimal,
    max_inventory: Decimal,
    #[serde(default)]
    edge: Decimal,
    requote: Decimal,
}

/// One side of the book this strategy keeps.
#[derive(Default)]
struct Leg {
    /// The working order and its price.
    order: Option<(String, Decimal)>,
    /// A cancel is in flight.
    cancelling: bool,
}

struct MarketMaker {
    cfg: Config,
    bid: Leg,
    ask: Leg,
}

impl MarketMaker {
    fn leg(&mut self, side: Side) -> &mut Leg {
        match side {
            Side::Buy => &mut self.bid,
            Side::Sell => &mut self.ask,
        }
    }

    fn maintain(&mut self, ctx: &mut Context, side: Side, want: Option<Decimal>) {
        let (account, symbol, quantity, requote) = (self.cfg.account.clone(), self.cfg.symbol.clone(), self.cfg.quantity, self.cfg.requote);
        let leg = self.leg(side);
        if leg.cancelling {
            return;
        }
        match (&leg.order, want) {
            (Some((_, price)), Some(want)) if (*price - want).abs() <= requote => {}
            (Some((id, _)), _) => {
                let id = id.clone();
                if ctx.cancel(&id).is_ok() {
                    leg.cancelling = true;
                }
            }
            (None, Some(price)) => match ctx.limit(&account, &symbol, side, quantity, price) {
                Ok(id) => leg.order = Some((id, price)),
                Err(e) => ctx.warn(&format!("{side:?} at {price} refused: {e}")),
            },
            (None, None) => {}
        }
    }
}

impl Strategy for MarketMaker {
    fn start(ctx: &mut Context, config: &str) -> Result<Self, String> {
        let cfg: Config = txtrader_strategy_sdk::parse_config(config)?;
        if cfg.quantity <= Decimal::ZERO || cfg.max_inventory < cfg.quantity {
            return Err("need 0 < quantity <= max_inventory".into());
        }
        ctx.subscribe(&cfg.symbol)?;
        Ok(Self { cfg, bid: Leg::default(), ask: Leg::default() })
    }

    fn on_quote(&mut self, ctx: &mut Context, quote: &Quote) {
        if quote.symbol != self.cfg.symbol {
            return;
        }
        let held = ctx.position(&self.cfg.account, &self.cfg.symbol);
        let room_to_buy = held + self.cfg.quantity <= self.cfg.max_inventory;
        let room_to_sell = held - self.cfg.quantity >= -self.cfg.max_inventory;
        let bid = quote.bid.map(|b| b - self.cfg.edge).filter(|p| *p > Decimal::ZERO && room_to_buy);
        let ask = quote.ask.map(|a| a + self.cfg.edge).filter(|_| room_to_sell);
        self.maintain(ctx, Side::Buy, bid);
        self.maintain(ctx, Side::Sell, ask);
    }

    /// A market maker that stops must not leave quotes behind: both sides are cancelled.
    fn on_stop(&mut self, ctx: &mut Context) {
        let mut pulled = 0;
        for leg in [&self.bid, &self.ask] {
            if let Some((id, _)) = &leg.order {
                if ctx.cancel(id).is_ok() {
                    pulled += 1;
                }
            }
        }
        ctx.info(&format!("stopping: pulled {pulled} quotes"));
    }

    fn on_order(&mut self, ctx: &mut Context, order: &Order) {
        let side = order.request.side;
        let mine = self.leg(side).order.as_ref().is_some_and(|(id, _)| *id == order.id);
        if let Some(fill) = &order.fill {
            let held = ctx.position(&self.cfg.account, &self.cfg.symbol);
            ctx.info(&format!("{side:?} {} at {}; inventory {held}", fill.quantity, fill.price));
        }
        // a final order frees its side: the next quote places a new one
        if mine && order.status.is_final() {
            let leg = self.leg(side);
            leg.order = None;
            leg.cancelling = false;
            if let (OrderStatus::Rejected, Some(reason)) = (order.status, &order.reason) {
                ctx.warn(&format!("{side:?} rejected: {reason}"));
            }
        }
    }
}

export_strategy!(MarketMaker);
