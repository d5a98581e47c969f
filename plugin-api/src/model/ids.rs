//! Identifiers: strict string newtypes, validated once at construction (and on deserialize).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The string is empty.
    #[error("{kind} must not be empty")]
    Empty {
        /// Which identifier.
        kind: &'static str,
    },
    /// The string is longer than allowed.
    #[error("{kind} longer than {max} bytes")]
    TooLong {
        /// Which identifier.
        kind: &'static str,
        /// The limit.
        max: usize,
    },
    /// The string contains a character the identifier does not allow.
    #[error("{kind} contains invalid character {ch:?}")]
    InvalidChar {
        /// Which identifier.
        kind: &'static str,
        /// The offending character.
        ch: char,
    },
}

fn check(kind: &'static str, s: &str, max: usize, ok: impl Fn(char) -> bool) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if s.len() > max {
        return Err(IdError::TooLong { kind, max });
    }
    match s.chars().find(|c| !ok(*c)) {
        Some(ch) => Err(IdError::InvalidChar { kind, ch }),
        None => Ok(()),
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:expr, $ok:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps `value`.
            ///
            /// # Errors
            /// [`IdError`] when the value is empty, too long, or has a forbidden character.
            pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                check($kind, &value, $max, $ok)?;
                Ok(Self(value))
            }

            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

fn printable(c: char) -> bool {
    !c.is_control() && !c.is_whitespace()
}

string_id!(
    /// A ticker symbol: upper-case letters, digits and `. / - _ $`, at most 32 bytes.
    ///
    /// Brokers may accept a narrower set; they reject what they do not know.
    Symbol,
    "symbol",
    32,
    |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || ".-/_$".contains(c)
);

string_id!(
    /// A trading account as the broker names it, e.g. `REALTICKDEMO.REALTICK.DEMO32.TRADING`.
    AccountId,
    "account",
    64,
    printable
);

string_id!(
    /// The gateway's own id for an order, assigned at submission before the broker knows it.
    ClientOrderId,
    "client order id",
    128,
    printable
);

string_id!(
    /// The broker's permanent id for an order (RealTick `ORIGINAL_ORDER_ID`, IB `permId`).
    /// This is the id clients of the txTrader API use.
    BrokerOrderId,
    "broker order id",
    128,
    printable
);

string_id!(
    /// The id of one execution (fill) as the broker reports it.
    ExecutionId,
    "execution id",
    128,
    printable
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_are_strict() {
        assert!(Symbol::new("BRK.B").is_ok());
        assert!(Symbol::new("$TIME").is_ok());
        assert_eq!(Symbol::new(""), Err(IdError::Empty { kind: "symbol" }));
        assert!(matches!(Symbol::new("ibm"), Err(IdError::InvalidChar { ch: 'i', .. })));
        assert!(matches!(Symbol::new("A B"), Err(IdError::InvalidChar { ch: ' ', .. })));
        assert!(matches!(Symbol::new("A".repeat(33)), Err(IdError::TooLong { .. })));
    }

    #[test]
    fn deserialize_validates() {
        let ok: Result<AccountId, _> = serde_json::from_str("\"A.B.C.D\"");
        assert!(ok.is_ok());
        let bad: Result<AccountId, _> = serde_json::from_str("\"A B\"");
        assert!(bad.is_err());
    }
}
