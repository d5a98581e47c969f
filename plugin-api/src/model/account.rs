//! Accounts and positions.

use super::{AccountId, Money, Price, SignedQuantity, Symbol, UnixNanos};
use serde::{Deserialize, Serialize};

/// A net position of one account in one symbol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The account.
    pub account: AccountId,
    /// The symbol.
    pub symbol: Symbol,
    /// Net quantity: long > 0, short < 0.
    pub quantity: SignedQuantity,
    /// Average cost of the open quantity, when known.
    #[serde(default)]
    pub avg_price: Option<Price>,
}

/// The balances of one account, as the broker reports them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSummary {
    /// The account.
    pub account: AccountId,
    /// Account currency (ISO 4217).
    pub currency: String,
    /// Settled cash balance.
    pub cash: Money,
    /// Net liquidation value: cash plus the market value of positions.
    pub equity: Money,
    /// Equity in excess of the maintenance requirement.
    pub excess_equity: Money,
    /// Gross market value of all positions (longs plus the absolute value of shorts).
    pub gross_position_value: Money,
    /// What the account may still buy.
    pub buying_power: Money,
    /// As of when.
    pub ts_event: UnixNanos,
}
