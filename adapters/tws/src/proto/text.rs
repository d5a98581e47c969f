//! Field text: how the TWS protocol spells numbers, and how "not set" is spelled.
//!
//! Requests are spelled exactly as IB's official client spells them (so the encoder can be
//! checked byte for byte against it): doubles as Python's float `repr` (`189.3`, `180.0`),
//! decimals as plain decimal text (`10`, `0.5`), unset doubles as `1.7976931348623157e+308`,
//! unset integers as `2147483647`. Responses may use any of the spellings clients and servers
//! are known to use for "unset" (`""`, `2147483647`, `9223372036854775807`,
//! `-9223372036854775808`, `1.7976931348623157E308` / `e+308`, `2^127 − 1`); every number is
//! parsed from its text straight into a decimal, never through a binary float.

// Input from outside the process: nothing here may panic on it (tests may).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::arithmetic_side_effects, clippy::unwrap_used, clippy::expect_used))]

use rust_decimal::Decimal;
use std::str::FromStr;

/// How the official client spells an unset double.
pub const UNSET_DOUBLE: &str = "1.7976931348623157e+308";
/// How the official client spells an unset integer.
pub const UNSET_INTEGER: &str = "2147483647";

/// The spellings of "not set" a number field may carry.
const UNSET: [&str; 7] = [
    "",
    "2147483647",
    "9223372036854775807",
    "-9223372036854775808",
    "1.7976931348623157E308",
    "1.7976931348623157e+308",
    "170141183460469231731687303715884105727",
];

/// True when `text` is one of the spellings of "not set".
pub fn is_unset(text: &str) -> bool {
    UNSET.contains(&text)
}

/// A field that should hold a number and does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a number")]
pub struct NotANumber;

/// A decimal number, `None` when unset.
///
/// # Errors
/// [`NotANumber`] when the text is neither a number nor a spelling of "unset".
pub fn decimal(text: &str) -> Result<Option<Decimal>, NotANumber> {
    if is_unset(text) {
        return Ok(None);
    }
    if text.eq_ignore_ascii_case("infinity") || text.eq_ignore_ascii_case("infinite") || text.len() > 64 {
        return Err(NotANumber);
    }
    Decimal::from_str(text).or_else(|_| Decimal::from_scientific(text)).map(Some).map_err(|_| NotANumber)
}

/// An integer, `None` when unset.
///
/// # Errors
/// [`NotANumber`] when the text is not an integer.
pub fn integer(text: &str) -> Result<Option<i64>, NotANumber> {
    if is_unset(text) {
        return Ok(None);
    }
    text.parse::<i64>().map(Some).map_err(|_| NotANumber)
}

/// A price as the official client writes a Python float: shortest digits, always with a
/// decimal point (`189.30` → `189.3`, `180` → `180.0`).
pub fn float_repr(value: Decimal) -> String {
    let text = value.normalize().to_string();
    if text.contains('.') { text } else { format!("{text}.0") }
}

/// A quantity as the official client writes a `Decimal`: plain decimal text (`10`, `0.5`).
pub fn decimal_repr(value: Decimal) -> String {
    value.normalize().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn prices_are_spelled_like_python_floats_and_quantities_like_decimals() {
        assert_eq!(float_repr(dec!(189.30)), "189.3");
        assert_eq!(float_repr(dec!(180)), "180.0");
        assert_eq!(float_repr(dec!(0.0001)), "0.0001");
        assert_eq!(decimal_repr(dec!(10.00)), "10");
        assert_eq!(decimal_repr(dec!(0.5)), "0.5");
    }

    #[test]
    fn every_spelling_of_unset_reads_as_unset_and_numbers_stay_exact() {
        for u in UNSET {
            assert_eq!(decimal(u), Ok(None), "{u}");
        }
        assert_eq!(integer("2147483647"), Ok(None));
        assert_eq!(decimal("189.26"), Ok(Some(dec!(189.26))));
        assert_eq!(decimal("1e-2"), Ok(Some(dec!(0.01))));
        assert_eq!(decimal("0.1"), Ok(Some(dec!(0.1))), "no binary float on the way");
        assert!(decimal("abc").is_err() && decimal("Infinity").is_err() && integer("1.5").is_err());
    }
}
