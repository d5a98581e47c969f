//! Reading a row's fields.
//!
//! RTGW sends numbers as JSON numbers (`123.45`), sometimes as text (`"100"`), and a field it
//! cannot fill as a placeholder `"Error N"` (`"Error 17"` for an unknown symbol, `"Error 0"` for
//! an empty field). Prices and quantities are read as exact decimals from the number's text,
//! never through a binary float: `123.45` is 123.45.

use super::line::Row;
use rust_decimal::Decimal;
use serde_json::Value;
use std::str::FromStr;

/// A field whose value is not what it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field} = {value} is not {expected}")]
pub struct FieldError {
    /// The field.
    pub field: String,
    /// Its value, as JSON.
    pub value: String,
    /// What it should have been.
    pub expected: &'static str,
}

/// The `N` of a RealTick `Error N` placeholder.
pub fn placeholder(v: &Value) -> Option<i64> {
    v.as_str()?.strip_prefix("Error ")?.trim().parse().ok()
}

/// A field as text: text as it is, a number as JSON writes it; `None` when absent, null, or a
/// placeholder.
pub fn text(row: &Row, field: &str) -> Option<String> {
    match row.get(field)? {
        Value::String(s) if placeholder(&Value::String(s.clone())).is_none() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A field as an exact decimal; `Ok(None)` when absent, null, empty or a placeholder.
///
/// # Errors
/// A value that is not a number (or a number's text).
pub fn decimal(row: &Row, field: &str) -> Result<Option<Decimal>, FieldError> {
    let bad = |v: &Value| FieldError { field: field.to_owned(), value: v.to_string(), expected: "a number" };
    match row.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Number(n)) => number(&n.to_string()).map(Some).ok_or_else(|| bad(v)),
        Some(v @ Value::String(s)) => {
            if s.trim().is_empty() || placeholder(v).is_some() {
                Ok(None)
            } else {
                number(s.trim()).map(Some).ok_or_else(|| bad(v))
            }
        }
        Some(v) => Err(bad(v)),
    }
}

/// A number's text as a decimal: plain (`123.45`) or with an exponent (`1e-7`, `1.5E+3`).
fn number(s: &str) -> Option<Decimal> {
    Decimal::from_str(s).ok().or_else(|| Decimal::from_scientific(s).ok()).map(|d| d.normalize())
}

/// A list-valued field (the parallel lists of a bar chart row); `None` when it is not a list.
pub fn list<'a>(row: &'a Row, field: &str) -> Option<&'a [Value]> {
    row.get(field)?.as_array().map(Vec::as_slice)
}

/// One element of a list-valued field as an exact decimal.
pub fn decimal_of(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => number(&n.to_string()),
        Value::String(s) => number(s.trim()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(v: Value) -> Row {
        match v {
            Value::Object(m) => m,
            _ => Row::new(),
        }
    }

    #[test]
    fn numbers_are_exact_and_placeholders_are_absent() {
        let r = row(json!({"PRICE": 123.45, "VOLUME": "100", "TINY": 1e-7, "TRDPRC_1": "Error 17", "EMPTY": "", "NAME": "IBM", "BAD": "abc", "L": [1.5, "2"]}));
        assert_eq!(decimal(&r, "PRICE"), Ok(Some(Decimal::new(12345, 2))));
        assert_eq!(decimal(&r, "VOLUME"), Ok(Some(Decimal::from(100))));
        assert_eq!(decimal(&r, "TINY"), Ok(Some(Decimal::new(1, 7))));
        assert_eq!(decimal(&r, "TRDPRC_1"), Ok(None));
        assert_eq!(decimal(&r, "EMPTY"), Ok(None));
        assert_eq!(decimal(&r, "MISSING"), Ok(None));
        assert!(decimal(&r, "BAD").expect_err("text").to_string().contains("BAD"));
        assert_eq!(text(&r, "PRICE").as_deref(), Some("123.45"));
        assert_eq!(text(&r, "TRDPRC_1"), None);
        assert_eq!(placeholder(&json!("Error 17")), Some(17));
        assert_eq!(list(&r, "L").map(|l| l.iter().filter_map(decimal_of).collect::<Vec<_>>()), Some(vec![Decimal::new(15, 1), Decimal::from(2)]));
    }
}
