//! Exact money types: prices, quantities and cash amounts as decimals.
//!
//! None of these ever holds or travels as a binary float. They serialize as decimal strings
//! (`"261.51"`), and conversion from a float only happens at the edges, where a client sends
//! one (see the host's `compat` layer).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Why a value is not a valid money amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// A quantity below zero.
    #[error("quantity must not be negative, got {0}")]
    NegativeQuantity(Decimal),
    /// The text is not a decimal number.
    #[error("not a decimal number: {0:?}")]
    Parse(String),
    /// An operation overflowed or would make a quantity negative.
    #[error("arithmetic out of range")]
    OutOfRange,
}

/// A price per unit of an instrument, in the instrument's currency.
///
/// Any sign is representable (some instruments trade at negative prices); order validation
/// decides what is acceptable for an order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Price(Decimal);

impl Price {
    /// Zero.
    pub const ZERO: Price = Price(Decimal::ZERO);

    /// Wraps a decimal.
    pub const fn new(value: Decimal) -> Self {
        Self(value)
    }

    /// A price from an integer number of cents (or other hundredths).
    pub fn from_cents(cents: i64) -> Self {
        Self(Decimal::new(cents, 2))
    }

    /// The underlying decimal.
    pub const fn as_decimal(self) -> Decimal {
        self.0
    }

    /// True when strictly greater than zero.
    pub fn is_positive(self) -> bool {
        self.0 > Decimal::ZERO
    }

    /// Rounded to `dp` decimal places (banker's rounding is *not* used: half away from zero).
    pub fn round_dp(self, dp: u32) -> Self {
        Self(self.0.round_dp_with_strategy(dp, rust_decimal::RoundingStrategy::MidpointAwayFromZero))
    }
}

impl FromStr for Price {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Decimal::from_str(s.trim()).map(Self).map_err(|_| MoneyError::Parse(s.to_owned()))
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.normalize(), f)
    }
}

/// An unsigned amount of an instrument (shares, contracts, units). Never negative.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct Quantity(Decimal);

impl Quantity {
    /// Zero.
    pub const ZERO: Quantity = Quantity(Decimal::ZERO);

    /// Validates and wraps a decimal.
    ///
    /// # Errors
    /// [`MoneyError::NegativeQuantity`] for a value below zero.
    pub fn new(value: Decimal) -> Result<Self, MoneyError> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(MoneyError::NegativeQuantity(value));
        }
        Ok(Self(value.abs()))
    }

    /// A whole number of units.
    pub fn from_u64(units: u64) -> Self {
        Self(Decimal::from(units))
    }

    /// The underlying decimal.
    pub const fn as_decimal(self) -> Decimal {
        self.0
    }

    /// True when zero.
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// `self + other`.
    ///
    /// # Errors
    /// [`MoneyError::OutOfRange`] on overflow.
    pub fn checked_add(self, other: Quantity) -> Result<Self, MoneyError> {
        self.0.checked_add(other.0).map(Self).ok_or(MoneyError::OutOfRange)
    }

    /// `self - other`.
    ///
    /// # Errors
    /// [`MoneyError::OutOfRange`] when `other > self`.
    pub fn checked_sub(self, other: Quantity) -> Result<Self, MoneyError> {
        if other.0 > self.0 {
            return Err(MoneyError::OutOfRange);
        }
        Ok(Self(self.0 - other.0))
    }

    /// The integral part, for wire formats that only know whole units.
    pub fn trunc_i64(self) -> i64 {
        use rust_decimal::prelude::ToPrimitive;
        self.0.trunc().to_i64().unwrap_or(i64::MAX)
    }
}

impl TryFrom<Decimal> for Quantity {
    type Error = MoneyError;
    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Quantity> for Decimal {
    fn from(value: Quantity) -> Decimal {
        value.0
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.normalize(), f)
    }
}

/// A signed amount of an instrument: a net position (long > 0, short < 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SignedQuantity(Decimal);

impl SignedQuantity {
    /// Zero (flat).
    pub const ZERO: SignedQuantity = SignedQuantity(Decimal::ZERO);

    /// Wraps a decimal.
    pub const fn new(value: Decimal) -> Self {
        Self(value)
    }

    /// The underlying decimal.
    pub const fn as_decimal(self) -> Decimal {
        self.0
    }

    /// Adds `qty` when buying, subtracts it when selling.
    pub fn apply(self, side: super::Side, qty: Quantity) -> Self {
        match side {
            super::Side::Buy => Self(self.0 + qty.as_decimal()),
            super::Side::Sell => Self(self.0 - qty.as_decimal()),
        }
    }

    /// The integral part, for wire formats that only know whole units.
    pub fn trunc_i64(self) -> i64 {
        use rust_decimal::prelude::ToPrimitive;
        self.0.trunc().to_i64().unwrap_or(0)
    }
}

impl fmt::Display for SignedQuantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.normalize(), f)
    }
}

/// An amount of cash in an account's currency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Money(Decimal);

impl Money {
    /// Zero.
    pub const ZERO: Money = Money(Decimal::ZERO);

    /// Wraps a decimal.
    pub const fn new(value: Decimal) -> Self {
        Self(value)
    }

    /// The underlying decimal.
    pub const fn as_decimal(self) -> Decimal {
        self.0
    }

    /// `price * quantity`, the notional value of a trade.
    pub fn notional(price: Price, qty: Quantity) -> Self {
        Self(price.as_decimal() * qty.as_decimal())
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.normalize(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn quantity_rejects_negative() {
        assert_eq!(Quantity::new(dec!(-1)), Err(MoneyError::NegativeQuantity(dec!(-1))));
        assert!(Quantity::new(dec!(0)).is_ok());
        let q: Result<Quantity, _> = serde_json::from_str("\"-5\"");
        assert!(q.is_err());
    }

    #[test]
    fn prices_are_exact_and_serialize_as_strings() {
        let p: Price = "261.51".parse().expect("valid");
        assert_eq!(serde_json::to_string(&p).expect("json"), "\"261.51\"");
        assert_eq!(Price::from_cents(26151), p);
        assert_eq!(Price::new(dec!(0.125)).round_dp(2), Price::new(dec!(0.13)));
    }

    #[test]
    fn quantity_arithmetic_is_checked() {
        let a = Quantity::from_u64(10);
        let b = Quantity::from_u64(4);
        assert_eq!(a.checked_sub(b), Ok(Quantity::from_u64(6)));
        assert_eq!(b.checked_sub(a), Err(MoneyError::OutOfRange));
    }
}
