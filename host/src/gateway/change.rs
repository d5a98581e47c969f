//! A change of a working order's terms (`modify_order`): what a client may ask (a new total
//! quantity, a new limit or stop price, any of them) and the order's terms after it, checked
//! against the order as it stands. The order's side, symbol, account and type never change.

use txtrader_plugin_api::model::{OrderType, Price, Quantity};

/// What a change asks for; what it leaves out stays as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Change {
    /// The new total quantity (the filled part included).
    pub quantity: Option<Quantity>,
    /// The new limit price (limit and stop-limit orders).
    pub limit_price: Option<Price>,
    /// The new stop price (stop and stop-limit orders).
    pub stop_price: Option<Price>,
}

impl Change {
    /// The terms after the change of an order of `quantity` and `order_type` with `filled`
    /// done.
    ///
    /// # Errors
    /// Why the change cannot apply, in words for the client.
    pub fn apply(&self, quantity: Quantity, order_type: OrderType, filled: Quantity) -> Result<(Quantity, OrderType), String> {
        if *self == Self::default() {
            return Err("nothing to change: give quantity, limit_price or stop_price".into());
        }
        let new_quantity = self.quantity.unwrap_or(quantity);
        if new_quantity <= filled {
            return Err(format!("quantity {new_quantity} leaves nothing open: {filled} already filled (cancel the order instead)"));
        }
        for (name, p) in [("limit_price", self.limit_price), ("stop_price", self.stop_price)] {
            if p.is_some_and(|p| !p.is_positive()) {
                return Err(format!("{name} must be positive"));
            }
        }
        let kind = match order_type {
            OrderType::Market => "a market order",
            OrderType::Limit { .. } => "a limit order",
            OrderType::Stop { .. } => "a stop order",
            OrderType::StopLimit { .. } => "a stop-limit order",
        };
        let new_type = match (order_type, self.limit_price, self.stop_price) {
            (t, None, None) => t,
            (OrderType::Limit { .. }, Some(limit_price), None) => OrderType::Limit { limit_price },
            (OrderType::Stop { .. }, None, Some(stop_price)) => OrderType::Stop { stop_price },
            (OrderType::StopLimit { stop_price, limit_price }, l, s) => OrderType::StopLimit { stop_price: s.unwrap_or(stop_price), limit_price: l.unwrap_or(limit_price) },
            (OrderType::Market | OrderType::Stop { .. }, Some(_), _) => return Err(format!("{kind} has no limit price")),
            (OrderType::Market | OrderType::Limit { .. }, _, Some(_)) => return Err(format!("{kind} has no stop price")),
        };
        if new_quantity == quantity && new_type == order_type {
            return Err("nothing to change: the order already has these terms".into());
        }
        Ok((new_quantity, new_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn px(cents: i64) -> Price {
        Price::from_cents(cents)
    }

    #[test]
    fn a_change_keeps_what_it_does_not_name() {
        let limit = OrderType::Limit { limit_price: px(10_000) };
        let c = Change { quantity: Some(Quantity::from_u64(50)), ..Change::default() };
        assert_eq!(c.apply(Quantity::from_u64(100), limit, Quantity::ZERO), Ok((Quantity::from_u64(50), limit)));
        let c = Change { limit_price: Some(px(9_950)), ..Change::default() };
        assert_eq!(c.apply(Quantity::from_u64(100), limit, Quantity::ZERO), Ok((Quantity::from_u64(100), OrderType::Limit { limit_price: px(9_950) })));
        let stop_limit = OrderType::StopLimit { stop_price: px(100), limit_price: px(99) };
        let c = Change { stop_price: Some(px(101)), ..Change::default() };
        assert_eq!(c.apply(Quantity::from_u64(1), stop_limit, Quantity::ZERO), Ok((Quantity::from_u64(1), OrderType::StopLimit { stop_price: px(101), limit_price: px(99) })));
    }

    #[test]
    fn impossible_changes_are_refused_with_their_reason() {
        let limit = OrderType::Limit { limit_price: px(10_000) };
        let hundred = Quantity::from_u64(100);
        let refused = |c: Change, t: OrderType, filled: u64| c.apply(hundred, t, Quantity::from_u64(filled)).expect_err("refused");
        assert!(refused(Change::default(), limit, 0).contains("nothing to change"));
        assert!(refused(Change { quantity: Some(Quantity::from_u64(40)), ..Change::default() }, limit, 40).contains("40 already filled"));
        assert!(refused(Change { stop_price: Some(px(1)), ..Change::default() }, limit, 0).contains("a limit order has no stop price"));
        assert!(refused(Change { limit_price: Some(px(1)), ..Change::default() }, OrderType::Market, 0).contains("a market order has no limit price"));
        assert!(refused(Change { limit_price: Some(px(0)), ..Change::default() }, limit, 0).contains("positive"));
        assert!(refused(Change { limit_price: Some(px(10_000)), ..Change::default() }, limit, 0).contains("already has these terms"));
    }
}
