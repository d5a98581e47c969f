//! Loosely typed command arguments, as txTrader clients send them.
//!
//! GET arguments are all strings (first value per key); POST arguments keep their JSON types,
//! and the CLI sends numbers as strings (`"10"`, `"99.0"`). Conversions follow Python's `str()`,
//! `int()`, `float()` and truthiness, which the original applied, except where that would lose
//! information silently: a fractional quantity or a non-finite price is refused, not truncated.

// Input from outside the process: nothing here may panic on it (tests may).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::arithmetic_side_effects, clippy::unwrap_used, clippy::expect_used))]

use rust_decimal::Decimal;
use serde_json::{Map, Value};
use std::str::FromStr;

/// A missing or unusable argument.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    /// A required argument is absent.
    #[error("missing argument '{0}'")]
    Missing(&'static str),
    /// The argument cannot be converted.
    #[error("invalid argument '{name}': {reason}")]
    Invalid {
        /// Which argument.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

/// The arguments of one command.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Args(Map<String, Value>);

impl Args {
    /// From a query string: the first value of each key, as strings.
    pub fn from_query(query: &str) -> Self {
        let mut map = Map::new();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            map.entry(k.into_owned()).or_insert_with(|| Value::String(v.into_owned()));
        }
        Self(map)
    }

    /// From a JSON object.
    pub fn from_map(map: Map<String, Value>) -> Self {
        Self(map)
    }

    /// Sets an argument.
    pub fn insert(&mut self, key: &str, value: Value) {
        self.0.insert(key.to_owned(), value);
    }

    /// The raw value.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// The arguments for logging, with anything that looks like a secret masked.
    pub fn redacted(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(k, v)| {
                    let secret = k.to_lowercase().contains("password");
                    (k.clone(), if secret { Value::String("********".into()) } else { v.clone() })
                })
                .collect(),
        )
    }

    /// A required argument.
    ///
    /// # Errors
    /// [`ArgError::Missing`].
    pub fn required(&self, name: &'static str) -> Result<&Value, ArgError> {
        self.0.get(name).ok_or(ArgError::Missing(name))
    }

    /// A required argument as Python's `str()` would render it.
    ///
    /// # Errors
    /// [`ArgError::Missing`].
    pub fn string(&self, name: &'static str) -> Result<String, ArgError> {
        Ok(py_str(self.required(name)?))
    }

    /// A required whole number (Python `int()`, but never truncating a fraction).
    ///
    /// # Errors
    /// Missing, or not a whole number.
    pub fn int(&self, name: &'static str) -> Result<i64, ArgError> {
        let invalid = |reason: String| ArgError::Invalid { name, reason };
        match self.required(name)? {
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    return Ok(i);
                }
                match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
                    _ => Err(invalid(format!("{n} is not a whole number"))),
                }
            }
            Value::String(s) => {
                s.trim().parse::<i64>().map_err(|_| invalid(format!("{s:?} is not a whole number")))
            }
            other => Err(invalid(format!("{other} is not a whole number"))),
        }
    }

    /// A required exact decimal (Python `float()`, converted without binary rounding).
    ///
    /// # Errors
    /// Missing, or not a finite number.
    pub fn decimal(&self, name: &'static str) -> Result<Decimal, ArgError> {
        let invalid = |reason: String| ArgError::Invalid { name, reason };
        match self.required(name)? {
            // A JSON number's shortest decimal text is exactly what the client wrote (or meant).
            Value::Number(n) => parse_decimal(&n.to_string()).ok_or_else(|| invalid(format!("{n} is out of range"))),
            Value::String(s) => parse_decimal(s.trim()).ok_or_else(|| invalid(format!("{s:?} is not a number"))),
            other => Err(invalid(format!("{other} is not a number"))),
        }
    }

    /// Python truthiness; absent is false.
    pub fn truthy(&self, name: &str) -> bool {
        py_truthy(self.0.get(name))
    }
}

/// Python truthiness of a JSON value; absent is false.
pub fn py_truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

fn parse_decimal(s: &str) -> Option<Decimal> {
    Decimal::from_str(s).ok().or_else(|| Decimal::from_scientific(s).ok())
}

pub use txtrader_plugin_api::realtick::py_str;

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use serde_json::json;

    fn args(v: Value) -> Args {
        match v {
            Value::Object(m) => Args::from_map(m),
            _ => panic!("object"),
        }
    }

    #[test]
    fn query_strings_keep_the_first_value_as_a_string() {
        let a = Args::from_query("symbol=ibm&symbol=msft&data=False&quantity=10");
        assert_eq!(a.string("symbol").expect("s"), "ibm");
        assert!(a.truthy("data"), "the non-empty string \"False\" is true");
        assert_eq!(a.int("quantity"), Ok(10));
    }

    #[test]
    fn numbers_arrive_as_numbers_or_strings() {
        let a = args(json!({"q1": 10, "q2": "-10", "q3": 10.0, "q4": 10.5, "q5": "ten", "q6": true,
                            "p1": 99.0, "p2": "99.0", "p3": 261.51, "p4": "1e2", "p5": "nan"}));
        assert_eq!(a.int("q1"), Ok(10));
        assert_eq!(a.int("q2"), Ok(-10));
        assert_eq!(a.int("q3"), Ok(10));
        assert!(matches!(a.int("q4"), Err(ArgError::Invalid { name: "q4", .. })), "no silent truncation");
        assert!(a.int("q5").is_err());
        assert!(a.int("q6").is_err());
        assert_eq!(a.decimal("p1"), Ok(dec!(99)));
        assert_eq!(a.decimal("p2"), Ok(dec!(99.0)));
        assert_eq!(a.decimal("p3"), Ok(dec!(261.51)), "exact, not 261.50999999999999");
        assert_eq!(a.decimal("p4"), Ok(dec!(100)));
        assert!(a.decimal("p5").is_err());
        assert_eq!(a.int("absent"), Err(ArgError::Missing("absent")));
    }

    #[test]
    fn python_str_and_truthiness() {
        let a = args(json!({"t": true, "n": null, "z": 0, "e": "", "o": {}}));
        assert_eq!(a.string("t").expect("s"), "True");
        assert_eq!(a.string("n").expect("s"), "None");
        assert!(!a.truthy("n") && !a.truthy("z") && !a.truthy("e") && !a.truthy("o") && !a.truthy("absent"));
        assert!(a.truthy("t"));
    }

    #[test]
    fn secrets_are_redacted() {
        let a = args(json!({"username": "u", "password": "p"}));
        assert_eq!(a.redacted(), json!({"username": "u", "password": "********"}));
    }
}
