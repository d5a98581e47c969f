//! Order routes in the txTrader forms: a name, a JSON-encoded name, a one-key dict
//! `{name: params|null}`, or such a dict JSON-encoded in a string.

// Input from outside the process: nothing here may panic on it (tests may).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::arithmetic_side_effects, clippy::unwrap_used, clippy::expect_used))]

use serde_json::{Map, Value};
use txtrader_plugin_api::model::Route;

/// Parses a route argument.
///
/// # Errors
/// A message naming the unusable value (a list, a dict with several keys, ...).
pub fn parse_route(value: &Value) -> Result<Route, String> {
    match value {
        Value::String(s) if s.starts_with('{') => {
            let parsed: Value = serde_json::from_str(s).map_err(|e| format!("invalid route JSON {s:?}: {e}"))?;
            parse_route(&parsed)
        }
        Value::String(s) if s.starts_with('"') => match serde_json::from_str::<Value>(s) {
            Ok(Value::String(name)) => named(name),
            _ => Err(format!("invalid route {s:?}")),
        },
        Value::String(s) => named(s.clone()),
        Value::Object(map) if map.len() == 1 => {
            let Some((name, params)) = map.iter().next() else { return Err("empty route".into()) };
            let params = match params {
                Value::Null => None,
                Value::Object(p) => Some(p.clone()),
                other => return Err(format!("route parameters must be a dict or null, got {other}")),
            };
            if name.is_empty() {
                return Err("route name must not be empty".into());
            }
            Ok(Route { name: name.clone(), params })
        }
        other => Err(format!("cannot set order route {other}")),
    }
}

fn named(name: String) -> Result<Route, String> {
    if name.is_empty() {
        return Err("route name must not be empty".into());
    }
    Ok(Route { name, params: None })
}

/// A route as `{name: params|null}`.
pub fn route_json(route: &Route) -> Value {
    let mut m = Map::new();
    m.insert(route.name.clone(), route.params.clone().map_or(Value::Null, Value::Object));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_accepted_form_round_trips() {
        let cases = [
            (json!("DEMO"), json!({"DEMO": null})),
            (json!("\"DEMO\""), json!({"DEMO": null})),
            (json!({"DEMO": null}), json!({"DEMO": null})),
            (json!({"DEMO": {"key1": "value1", "key2": "value2"}}), json!({"DEMO": {"key1": "value1", "key2": "value2"}})),
            (json!("{\"DEMO\": null}"), json!({"DEMO": null})),
            (
                json!("{\"TEST-ATM-ALGO\":{\"STRAT_ID\":\"BEST\",\"STRAT_PARAMETERS\":{\"99970\":\"2\"}}}"),
                json!({"TEST-ATM-ALGO": {"STRAT_ID": "BEST", "STRAT_PARAMETERS": {"99970": "2"}}}),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(route_json(&parse_route(&input).expect("valid")), expected, "{input}");
        }
    }

    #[test]
    fn unusable_forms_are_refused() {
        for bad in [json!([1, 2]), json!({"A": null, "B": null}), json!(7), json!(""), json!("{nope"), json!({"A": 3})] {
            assert!(parse_route(&bad).is_err(), "{bad}");
        }
    }
}
