//! Strategy manifests: what a strategy is (name, component, config) and what it may do (its
//! limits), read from a TOML or JSON file (or a JSON object sent with `deploy_strategy`).
//!
//! Every limit is data from the manifest; none is built into the host. Unknown keys are
//! refused (a typo must not silently lift a limit), and every problem is reported at once.
//! Money limits are exact: write them as strings (`"25000.50"`) or integers; a binary float is
//! refused.

// Input from outside the process: nothing here may panic on it (tests may).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::arithmetic_side_effects, clippy::unwrap_used, clippy::expect_used))]

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;
use txtrader_plugin_api::model::{AccountId, Money, Quantity, Symbol};

/// Why a manifest is unusable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {}", origin, errors.join("; "))]
pub struct ManifestError {
    /// The file (or `deploy_strategy`).
    pub origin: String,
    /// Every problem found.
    pub errors: Vec<String>,
}

/// Which symbols a strategy may trade and subscribe to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum SymbolSet {
    /// Any symbol (`["*"]`).
    Any(AnySymbol),
    /// These symbols.
    Only(Vec<Symbol>),
}

/// The `"*"` of [`SymbolSet::Any`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum AnySymbol {
    /// Any symbol.
    #[serde(rename = "*")]
    Star,
}

impl SymbolSet {
    /// Whether `symbol` is allowed.
    pub fn allows(&self, symbol: &Symbol) -> bool {
        match self {
            Self::Any(_) => true,
            Self::Only(list) => list.contains(symbol),
        }
    }
}

/// What a strategy may do. Every field comes from the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Linear memory of the instance, in bytes.
    pub memory_bytes: u64,
    /// Wall-clock budget of one callback (enforced by epoch interruption).
    #[serde(serialize_with = "millis", rename = "callback_ms")]
    pub callback: Duration,
    /// Sustained order rate.
    pub orders_per_second: u32,
    /// Orders allowed at once before the rate applies (token bucket size).
    pub order_burst: u32,
    /// Largest quantity of one order.
    pub max_order_quantity: Quantity,
    /// Largest notional (price × quantity) of one order.
    pub max_order_notional: Money,
    /// Accounts it may trade and see.
    pub accounts: Vec<AccountId>,
    /// Symbols it may subscribe to and trade.
    pub symbols: SymbolSet,
    /// Instruction budget of one callback in deterministic replay (fuel).
    pub fuel_per_callback: u64,
    /// Whether its open orders are cancelled when it faults.
    pub cancel_orders_on_fault: bool,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A validated manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Manifest {
    /// Unique name; orders carry it as their origin (`strategy:<name>`).
    pub name: String,
    /// The component file.
    pub component: PathBuf,
    /// The strategy's own settings, as JSON text for `on-start`.
    pub config: String,
    /// What it may do.
    pub limits: Limits,
    /// The manifest file, when it came from one.
    pub file: Option<PathBuf>,
}

/// A decimal as written in a manifest.
#[derive(Deserialize)]
#[serde(untagged)]
enum Num {
    Int(i64),
    Text(String),
    Float(f64),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: Option<String>,
    component: Option<String>,
    #[serde(default)]
    config: Option<serde_json::Value>,
    limits: Option<RawLimits>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    memory_mb: Option<u64>,
    callback_ms: Option<u64>,
    orders_per_second: Option<u32>,
    order_burst: Option<u32>,
    max_order_quantity: Option<Num>,
    max_order_notional: Option<Num>,
    accounts: Option<Vec<String>>,
    symbols: Option<Vec<String>>,
    fuel_per_callback: Option<u64>,
    cancel_orders_on_fault: Option<bool>,
}

/// Largest memory a manifest may grant.
const MAX_MEMORY_MB: u64 = 4096;
/// Longest callback budget a manifest may grant.
const MAX_CALLBACK_MS: u64 = 60_000;

impl Manifest {
    /// Reads a manifest file (`.toml` or `.json`); a relative component path is relative to the
    /// manifest's folder.
    ///
    /// # Errors
    /// Every problem with the file.
    pub fn from_file(path: &Path) -> Result<Self, ManifestError> {
        let origin = path.display().to_string();
        let fail = |e: String| ManifestError { origin: origin.clone(), errors: vec![e] };
        let toml = match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => true,
            Some("json") => false,
            _ => return Err(fail("a manifest is a .toml or .json file".into())),
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut m = Self::from_text(&text, toml, base, &origin)?;
        m.file = Some(path.to_path_buf());
        Ok(m)
    }

    /// Reads a manifest's text, TOML or JSON; a relative component path is relative to `base`,
    /// and `origin` names it in errors.
    ///
    /// # Errors
    /// Every problem with it.
    pub fn from_text(text: &str, toml: bool, base: &Path, origin: &str) -> Result<Self, ManifestError> {
        let fail = |e: String| ManifestError { origin: origin.to_owned(), errors: vec![e] };
        let raw: RawManifest = if toml {
            toml::from_str(text).map_err(|e| fail(e.message().to_owned()))?
        } else {
            serde_json::from_str(text).map_err(|e| fail(e.to_string()))?
        };
        Self::validate(raw, base, origin)
    }

    /// Reads a manifest sent as JSON (`deploy_strategy`); a relative component path is relative
    /// to `base`.
    ///
    /// # Errors
    /// Every problem with it.
    pub fn from_json(value: serde_json::Value, base: &Path) -> Result<Self, ManifestError> {
        let origin = "manifest".to_owned();
        let raw: RawManifest =
            serde_json::from_value(value).map_err(|e| ManifestError { origin: origin.clone(), errors: vec![e.to_string()] })?;
        Self::validate(raw, base, &origin)
    }

    fn validate(raw: RawManifest, base: &Path, origin: &str) -> Result<Self, ManifestError> {
        let mut errors = Vec::new();
        let name = match raw.name {
            Some(n) if valid_name(&n) => n,
            Some(n) => {
                errors.push(format!("name {n:?}: 1 to 64 letters, digits, '-', '_' or '.'"));
                String::new()
            }
            None => {
                errors.push("name is required".into());
                String::new()
            }
        };
        let component = match raw.component {
            Some(c) if !c.is_empty() => base.join(c),
            _ => {
                errors.push("component (the .wasm file) is required".into());
                PathBuf::new()
            }
        };
        let config = raw.config.unwrap_or(serde_json::Value::Object(serde_json::Map::new())).to_string();
        let limits = match raw.limits {
            Some(l) => Some(l),
            None => {
                errors.push("limits are required".into());
                None
            }
        }
        .map(|l| limits(l, &mut errors));
        match limits {
            Some(limits) if errors.is_empty() => Ok(Self { name, component, config, limits, file: None }),
            _ => Err(ManifestError { origin: origin.to_owned(), errors }),
        }
    }
}

fn valid_name(n: &str) -> bool {
    (1..=64).contains(&n.len()) && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn required<T>(v: Option<T>, key: &str, errors: &mut Vec<String>) -> Option<T> {
    if v.is_none() {
        errors.push(format!("limits.{key} is required"));
    }
    v
}

fn decimal(v: Option<Num>, key: &str, errors: &mut Vec<String>) -> Option<Decimal> {
    let d = match required(v, key, errors)? {
        Num::Int(i) => Decimal::from(i),
        Num::Text(s) => match Decimal::from_str(s.trim()) {
            Ok(d) => d,
            Err(_) => {
                errors.push(format!("limits.{key}: {s:?} is not a decimal number"));
                return None;
            }
        },
        Num::Float(f) => {
            errors.push(format!("limits.{key}: write {f} as a string (\"{f}\"): money is exact, never a binary float"));
            return None;
        }
    };
    if d <= Decimal::ZERO {
        errors.push(format!("limits.{key} must be positive, got {d}"));
        return None;
    }
    Some(d)
}

fn limits(raw: RawLimits, errors: &mut Vec<String>) -> Limits {
    let memory_mb = required(raw.memory_mb, "memory_mb", errors).unwrap_or(0);
    if raw.memory_mb.is_some() && !(1..=MAX_MEMORY_MB).contains(&memory_mb) {
        errors.push(format!("limits.memory_mb must be 1 to {MAX_MEMORY_MB}, got {memory_mb}"));
    }
    let callback_ms = required(raw.callback_ms, "callback_ms", errors).unwrap_or(0);
    if raw.callback_ms.is_some() && !(1..=MAX_CALLBACK_MS).contains(&callback_ms) {
        errors.push(format!("limits.callback_ms must be 1 to {MAX_CALLBACK_MS}, got {callback_ms}"));
    }
    let orders_per_second = required(raw.orders_per_second, "orders_per_second", errors).unwrap_or(0);
    let order_burst = raw.order_burst.unwrap_or(orders_per_second);
    if order_burst == 0 && orders_per_second > 0 {
        errors.push("limits.order_burst must be at least 1".into());
    }
    let max_order_quantity = decimal(raw.max_order_quantity, "max_order_quantity", errors)
        .and_then(|d| Quantity::new(d).ok())
        .unwrap_or(Quantity::ZERO);
    let max_order_notional = Money::new(decimal(raw.max_order_notional, "max_order_notional", errors).unwrap_or(Decimal::ZERO));
    let accounts = required(raw.accounts, "accounts", errors)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|a| AccountId::new(a.clone()).map_err(|e| errors.push(format!("limits.accounts: {a:?}: {e}"))).ok())
        .collect::<Vec<_>>();
    if raw.symbols.is_some() && raw.symbols.as_ref().is_some_and(Vec::is_empty) {
        errors.push("limits.symbols: list at least one symbol, or \"*\"".into());
    }
    let symbols = match required(raw.symbols, "symbols", errors) {
        Some(list) if list.iter().any(|s| s == "*") => SymbolSet::Any(AnySymbol::Star),
        Some(list) => SymbolSet::Only(
            list.into_iter()
                .filter_map(|s| Symbol::new(s.to_uppercase()).map_err(|e| errors.push(format!("limits.symbols: {s:?}: {e}"))).ok())
                .collect(),
        ),
        None => SymbolSet::Only(Vec::new()),
    };
    Limits {
        memory_bytes: memory_mb.saturating_mul(1024 * 1024),
        callback: Duration::from_millis(callback_ms),
        orders_per_second,
        order_burst,
        max_order_quantity,
        max_order_notional,
        accounts,
        symbols,
        // About a million instructions per millisecond of budget.
        fuel_per_callback: raw.fuel_per_callback.unwrap_or(callback_ms.saturating_mul(1_000_000)),
        cancel_orders_on_fault: raw.cancel_orders_on_fault.unwrap_or(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> serde_json::Value {
        json!({
            "name": "mm-1",
            "component": "mm.wasm",
            "config": {"symbol": "IBM"},
            "limits": {
                "memory_mb": 16, "callback_ms": 50, "orders_per_second": 5,
                "max_order_quantity": 100, "max_order_notional": "25000.50",
                "accounts": ["A.1"], "symbols": ["ibm"]
            }
        })
    }

    #[test]
    fn reads_a_manifest() {
        let m = Manifest::from_json(good(), Path::new("/strategies")).expect("valid");
        assert_eq!(m.name, "mm-1");
        assert_eq!(m.component, PathBuf::from("/strategies/mm.wasm"));
        assert_eq!(m.config, r#"{"symbol":"IBM"}"#);
        assert_eq!(m.limits.memory_bytes, 16 << 20);
        assert_eq!(m.limits.order_burst, 5);
        assert_eq!(m.limits.max_order_notional.to_string(), "25000.5");
        assert!(m.limits.symbols.allows(&Symbol::new("IBM").expect("sym")));
        assert!(!m.limits.symbols.allows(&Symbol::new("AAPL").expect("sym")));
        assert_eq!(m.limits.fuel_per_callback, 50_000_000);
    }

    #[test]
    fn reports_every_problem_at_once() {
        let mut v = good();
        v["name"] = json!("bad name!");
        v["limits"]["max_order_notional"] = json!(1.5);
        v["limits"]["memory_mb"] = json!(0);
        v["limits"].as_object_mut().expect("obj").remove("accounts");
        let e = Manifest::from_json(v, Path::new("/")).expect_err("invalid");
        assert_eq!(e.errors.len(), 4, "{e}");
        assert!(e.to_string().contains("never a binary float"), "{e}");
        assert!(e.to_string().contains("limits.accounts is required"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let mut v = good();
        v["limits"]["max_orders"] = json!(1);
        let e = Manifest::from_json(v, Path::new("/")).expect_err("typo");
        assert!(e.to_string().contains("max_orders"), "{e}");
    }

    #[test]
    fn star_allows_any_symbol() {
        let mut v = good();
        v["limits"]["symbols"] = json!(["*"]);
        let m = Manifest::from_json(v, Path::new("/")).expect("valid");
        assert!(m.limits.symbols.allows(&Symbol::new("XYZ").expect("sym")));
    }
}
