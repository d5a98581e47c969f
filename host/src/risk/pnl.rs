//! Realised profit and loss of the trading day, per account, for the daily loss limit: each
//! fill is booked against the account's position in its symbol at average cost; what a fill
//! closes realises (price − average cost) × quantity, long or short. A new trading day (the
//! fill's date in the API time zone) starts the realised amount from zero; positions and their
//! costs carry over. Commissions are not counted.
//!
//! Positions the tracker did not see opened (held before the gateway's books began) have no
//! known cost: a fill against one opens a position at its price instead, so only round trips
//! the books hold are realised.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::HashMap;
use txtrader_plugin_api::model::{AccountId, Side, Symbol};

#[derive(Clone, Copy, Debug, Default)]
struct Holding {
    /// Signed quantity.
    qty: Decimal,
    /// Average cost of `qty`.
    cost: Decimal,
}

/// The tracker.
#[derive(Clone, Debug, Default)]
pub struct Pnl {
    holdings: HashMap<(AccountId, Symbol), Holding>,
    realised: HashMap<AccountId, Decimal>,
    day: Option<NaiveDate>,
}

impl Pnl {
    /// Books one fill on `day`; answers the account's realised P&L of the day after it.
    pub fn fill(&mut self, account: &AccountId, symbol: &Symbol, side: Side, qty: Decimal, price: Decimal, day: NaiveDate) -> Decimal {
        if self.day.is_some_and(|d| d < day) {
            self.realised.clear();
        }
        if self.day.is_none_or(|d| d < day) {
            self.day = Some(day);
        }
        let signed = match side {
            Side::Buy => qty,
            Side::Sell => -qty,
        };
        let h = self.holdings.entry((account.clone(), symbol.clone())).or_default();
        let mut realised = Decimal::ZERO;
        if h.qty.is_zero() || h.qty.is_sign_positive() == signed.is_sign_positive() {
            // opening or adding: a new average cost
            let total = h.qty.abs().saturating_add(qty);
            let value = h.cost.checked_mul(h.qty.abs()).and_then(|v| v.checked_add(price.checked_mul(qty)?));
            h.cost = value.and_then(|v| v.checked_div(total)).unwrap_or(price);
            h.qty = h.qty.saturating_add(signed);
        } else {
            let closing = qty.min(h.qty.abs());
            let per_unit = if h.qty.is_sign_positive() { price.saturating_sub(h.cost) } else { h.cost.saturating_sub(price) };
            realised = per_unit.checked_mul(closing).unwrap_or(Decimal::ZERO);
            h.qty = h.qty.saturating_add(signed);
            if !h.qty.is_zero() && h.qty.is_sign_positive() == signed.is_sign_positive() {
                // crossed zero: what is left opens at this price
                h.cost = price;
            }
            if h.qty.is_zero() {
                h.cost = Decimal::ZERO;
            }
        }
        let day_total = self.realised.entry(account.clone()).or_default();
        *day_total = day_total.saturating_add(realised);
        *day_total
    }

    /// An account's realised P&L of the current day.
    pub fn realised(&self, account: &AccountId) -> Decimal {
        self.realised.get(account).copied().unwrap_or(Decimal::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn closing_realises_against_the_average_cost_long_and_short() {
        let (a, s) = (AccountId::new("A").expect("a"), Symbol::new("IBM").expect("s"));
        let d1 = NaiveDate::from_ymd_opt(2026, 12, 3).expect("date");
        let mut p = Pnl::default();
        p.fill(&a, &s, Side::Buy, dec!(100), dec!(10), d1);
        p.fill(&a, &s, Side::Buy, dec!(100), dec!(12), d1);
        assert_eq!(p.fill(&a, &s, Side::Sell, dec!(50), dec!(10), d1), dec!(-50), "average cost 11");
        assert_eq!(p.fill(&a, &s, Side::Sell, dec!(200), dec!(13), d1), dec!(250), "-50 + 150 × 2; 50 short opened at 13");
        assert_eq!(p.fill(&a, &s, Side::Buy, dec!(50), dec!(14), d1), dec!(200), "the short loses 1 a share");
        let d2 = d1.succ_opt().expect("next day");
        assert_eq!(p.fill(&a, &s, Side::Buy, dec!(10), dec!(14), d2), dec!(0), "a new day starts from zero");
        assert_eq!(p.fill(&a, &s, Side::Sell, dec!(10), dec!(4), d2), dec!(-100));
        assert_eq!(p.realised(&a), dec!(-100));
    }
}
