//! The limits in force: the TOML limits file (`TXTRADER_RISK_FILE`) read and checked, layered
//! over the built-in defaults, and resolved for one account and symbol.
//!
//! A file has up to four kinds of section, the most specific winning for each limit:
//! `[accounts."ACCOUNT".symbols.SYMBOL]`, then `[accounts."ACCOUNT"]`, then `[symbols.SYMBOL]`,
//! then `[default]`, then the built-in defaults ([`Rules::builtin`]). Account-wide limits (open
//! orders, open notional, order rate, daily loss) cannot be set in a symbol section. A limit
//! set to `0` is not "nothing allowed" but "no limit" only where the key says so
//! (`price_collar_percent`, `price_collar_ticks`, `duplicate_window_ms`); everywhere else the
//! value is the limit.

// Input from outside the process: nothing here may panic on it (tests may).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::arithmetic_side_effects, clippy::unwrap_used, clippy::expect_used))]

use indexmap::IndexMap;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::path::Path;
use txtrader_plugin_api::model::{AccountId, Symbol};

/// The largest limits file read (1 MiB: thousands of accounts and symbols).
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Why a limits file is refused.
#[derive(Debug, thiserror::Error)]
pub enum LimitsError {
    /// The file cannot be read.
    #[error("risk limits file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is larger than any limits file needs to be.
    #[error("risk limits file {path}: {size} bytes, over the {max} a limits file may have")]
    TooLarge {
        /// The file.
        path: String,
        /// Its size.
        size: u64,
        /// The most allowed ([`MAX_FILE_BYTES`]).
        max: u64,
    },
    /// The file is not valid TOML or has an unknown key or a value of the wrong type.
    #[error("risk limits file {path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's message, with the line and column.
        message: String,
    },
    /// A value is out of range.
    #[error("risk limits file {path}: [{section}] {key} = {value}: {why}")]
    Value {
        /// The file.
        path: String,
        /// The section.
        section: String,
        /// The key.
        key: &'static str,
        /// The value.
        value: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// One section of the file: any of the limits. Account-wide ones (open orders, open notional,
/// order rate, daily loss) are refused in symbol sections, and only account sections hold
/// their own `symbols`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    /// Largest quantity of one order.
    pub max_order_quantity: Option<Decimal>,
    /// Largest quantity × price of one order (market orders: at the reference price).
    pub max_order_notional: Option<Decimal>,
    /// A limit or stop price further than this many percent from the reference price is
    /// refused (0: no collar).
    pub price_collar_percent: Option<Decimal>,
    /// A limit or stop price further than this many ticks from the reference price is refused
    /// (0: no collar).
    pub price_collar_ticks: Option<u32>,
    /// The tick for `price_collar_ticks`.
    pub tick_size: Option<Decimal>,
    /// Orders whose collar or value needs a reference price (a limit or stop price to collar; a
    /// market order's value) pass when there is none (no trade and no two-sided quote yet);
    /// by default they are refused.
    pub allow_without_reference: Option<bool>,
    /// Largest net position, long or short, once the order and the account's working orders on
    /// the same side would fill.
    pub max_position: Option<Decimal>,
    /// The same account, symbol, side, quantity and price within this many milliseconds is
    /// refused unless the client marks it intended (0: off).
    pub duplicate_window_ms: Option<u64>,
    /// Most orders open at once (account-wide).
    pub max_open_orders: Option<u32>,
    /// Largest Σ open quantity × price of the open orders, market orders at the reference price
    /// (account-wide).
    pub max_open_notional: Option<Decimal>,
    /// New orders per second, a token bucket holding one second's worth (account-wide).
    pub max_orders_per_second: Option<u32>,
    /// A realised loss of the trading day at or beyond this moves the account to REDUCING
    /// (account-wide).
    pub max_daily_loss: Option<Decimal>,
    /// Per symbol (in account sections only).
    pub symbols: Option<IndexMap<String, Section>>,
}

impl Section {
    /// The account-wide keys this section sets.
    fn account_wide(&self) -> Option<&'static str> {
        [
            ("max_open_orders", self.max_open_orders.is_some()),
            ("max_open_notional", self.max_open_notional.is_some()),
            ("max_orders_per_second", self.max_orders_per_second.is_some()),
            ("max_daily_loss", self.max_daily_loss.is_some()),
        ]
        .into_iter()
        .find_map(|(k, set)| set.then_some(k))
    }
}

/// A limits file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    /// Every account.
    #[serde(default)]
    pub default: Section,
    /// Per symbol, every account.
    #[serde(default)]
    pub symbols: IndexMap<String, Section>,
    /// Per account.
    #[serde(default)]
    pub accounts: IndexMap<String, Section>,
}

/// The limits resolved for one account and symbol; `None`: no limit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Rules {
    /// See [`Section::max_order_quantity`].
    pub max_order_quantity: Option<Decimal>,
    /// See [`Section::max_order_notional`].
    pub max_order_notional: Option<Decimal>,
    /// See [`Section::price_collar_percent`].
    pub price_collar_percent: Option<Decimal>,
    /// See [`Section::price_collar_ticks`].
    pub price_collar_ticks: Option<u32>,
    /// See [`Section::tick_size`].
    pub tick_size: Decimal,
    /// See [`Section::allow_without_reference`].
    pub allow_without_reference: bool,
    /// See [`Section::max_position`].
    pub max_position: Option<Decimal>,
    /// See [`Section::duplicate_window_ms`].
    pub duplicate_window_ms: Option<u64>,
    /// See [`Section::max_open_orders`].
    pub max_open_orders: Option<u32>,
    /// See [`Section::max_open_notional`].
    pub max_open_notional: Option<Decimal>,
    /// See [`Section::max_orders_per_second`].
    pub max_orders_per_second: Option<u32>,
    /// See [`Section::max_daily_loss`].
    pub max_daily_loss: Option<Decimal>,
}

impl Rules {
    /// What applies with no limits file: a fat-finger guard on size that the demo and the
    /// example strategies never reach; value, exposure, collar and rate limits are the
    /// operator's to set (a value limit or a collar needs a reference price, which a symbol
    /// nobody subscribed to does not have).
    pub fn builtin() -> Self {
        Self {
            max_order_quantity: Some(Decimal::from(1_000_000)),
            max_order_notional: None,
            price_collar_percent: None,
            price_collar_ticks: None,
            tick_size: Decimal::new(1, 2),
            allow_without_reference: false,
            max_position: None,
            duplicate_window_ms: None,
            max_open_orders: None,
            max_open_notional: None,
            max_orders_per_second: None,
            max_daily_loss: None,
        }
    }

    fn apply(&mut self, r: &Section) {
        let nonzero = |d: Decimal| (!d.is_zero()).then_some(d);
        if let Some(v) = r.max_order_quantity {
            self.max_order_quantity = Some(v);
        }
        if let Some(v) = r.max_order_notional {
            self.max_order_notional = Some(v);
        }
        if let Some(v) = r.price_collar_percent {
            self.price_collar_percent = nonzero(v);
        }
        if let Some(v) = r.price_collar_ticks {
            self.price_collar_ticks = (v > 0).then_some(v);
        }
        if let Some(v) = r.tick_size {
            self.tick_size = v;
        }
        if let Some(v) = r.allow_without_reference {
            self.allow_without_reference = v;
        }
        if let Some(v) = r.max_position {
            self.max_position = Some(v);
        }
        if let Some(v) = r.duplicate_window_ms {
            self.duplicate_window_ms = (v > 0).then_some(v);
        }
        if let Some(v) = r.max_open_orders {
            self.max_open_orders = Some(v);
        }
        if let Some(v) = r.max_open_notional {
            self.max_open_notional = Some(v);
        }
        if let Some(v) = r.max_orders_per_second {
            self.max_orders_per_second = Some(v);
        }
        if let Some(v) = r.max_daily_loss {
            self.max_daily_loss = Some(v);
        }
    }
}

/// The limits in force.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// The file they came from (`None`: the built-in defaults).
    pub source: Option<String>,
    file: LimitsFile,
}

impl Limits {
    /// The built-in defaults.
    pub fn builtin() -> Self {
        Self::default()
    }

    /// The limits of a file's text.
    ///
    /// # Errors
    /// [`LimitsError::Syntax`] (with the line and column) or [`LimitsError::Value`].
    pub fn parse(text: &str, path: &str) -> Result<Self, LimitsError> {
        let file: LimitsFile = toml::from_str(text).map_err(|e| LimitsError::Syntax { path: path.to_owned(), message: e.to_string().trim_end().to_owned() })?;
        validate(&file, path)?;
        Ok(Self { source: Some(path.to_owned()), file })
    }

    /// The limits of a file.
    ///
    /// # Errors
    /// As [`Limits::parse`], or [`LimitsError::Read`].
    pub fn load(path: &Path) -> Result<Self, LimitsError> {
        let shown = path.display().to_string();
        let read = |source| LimitsError::Read { path: shown.clone(), source };
        let bytes = match crate::files::read_limited(path, MAX_FILE_BYTES) {
            Ok(b) => b,
            Err(crate::files::ReadError::Io(e)) => return Err(read(e)),
            Err(crate::files::ReadError::TooLarge { size, max }) => return Err(LimitsError::TooLarge { path: shown, size, max }),
        };
        let text = String::from_utf8(bytes).map_err(|e| read(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
        Self::parse(&text, &shown)
    }

    /// The limits for an account and symbol.
    pub fn resolve(&self, account: &AccountId, symbol: &Symbol) -> Rules {
        let mut r = Rules::builtin();
        r.apply(&self.file.default);
        if let Some(s) = self.file.symbols.get(symbol.as_str()) {
            r.apply(s);
        }
        if let Some(a) = self.file.accounts.get(account.as_str()) {
            r.apply(a);
            if let Some(s) = a.symbols.as_ref().and_then(|m| m.get(symbol.as_str())) {
                r.apply(s);
            }
        }
        r
    }

    /// The account-wide limits of an account (no symbol's sections applied).
    pub fn resolve_account(&self, account: &AccountId) -> Rules {
        let mut r = Rules::builtin();
        r.apply(&self.file.default);
        if let Some(a) = self.file.accounts.get(account.as_str()) {
            r.apply(a);
        }
        r
    }

    /// The file as parsed (for the operator's `query_risk`).
    pub fn file(&self) -> &LimitsFile {
        &self.file
    }
}

fn validate(file: &LimitsFile, path: &str) -> Result<(), LimitsError> {
    // (section name, section, whether account-wide keys belong there, whether `symbols` does)
    let mut sections: Vec<(String, &Section, bool, bool)> = vec![("default".into(), &file.default, true, false)];
    sections.extend(file.symbols.iter().map(|(s, r)| (format!("symbols.{s}"), r, false, false)));
    for (a, section) in &file.accounts {
        sections.push((format!("accounts.\"{a}\""), section, true, true));
        for (s, r) in section.symbols.iter().flatten() {
            sections.push((format!("accounts.\"{a}\".symbols.{s}"), r, false, false));
        }
    }
    for (name, s, account_level, holds_symbols) in sections {
        let bad = |key: &'static str, value: String, why: &'static str| LimitsError::Value { path: path.to_owned(), section: name.clone(), key, value, why };
        if let Some(key) = s.account_wide().filter(|_| !account_level) {
            return Err(bad(key, "…".into(), "is account-wide: set it in [default] or an account's section"));
        }
        if s.symbols.is_some() && !holds_symbols {
            return Err(bad("symbols", "…".into(), "only an account's section holds symbol sections ([symbols.X] for every account)"));
        }
        let decimals = [
            ("max_order_quantity", s.max_order_quantity),
            ("max_order_notional", s.max_order_notional),
            ("price_collar_percent", s.price_collar_percent),
            ("max_position", s.max_position),
            ("max_open_notional", s.max_open_notional),
            ("max_daily_loss", s.max_daily_loss),
        ];
        for (key, value) in decimals {
            if let Some(v) = value.filter(|v| v.is_sign_negative()) {
                return Err(bad(key, v.to_string(), "must not be negative"));
            }
        }
        if let Some(t) = s.tick_size.filter(|t| t <= &Decimal::ZERO) {
            return Err(bad("tick_size", t.to_string(), "must be positive"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn id(a: &str) -> AccountId {
        AccountId::new(a).expect("account")
    }

    fn sym(s: &str) -> Symbol {
        Symbol::new(s).expect("symbol")
    }

    #[test]
    fn the_most_specific_section_wins() {
        let l = Limits::parse(
            r#"
            [default]
            max_order_quantity = 1000
            max_open_orders = 10
            [symbols.IBM]
            max_order_quantity = 500
            max_position = 2000
            [accounts."A.1"]
            max_order_quantity = 700
            max_orders_per_second = 5
            [accounts."A.1".symbols.IBM]
            max_position = 300
            price_collar_percent = 0
            "#,
            "test.toml",
        )
        .expect("parses");
        let r = l.resolve(&id("A.1"), &sym("IBM"));
        assert_eq!(r.max_order_quantity, Some(dec!(700)), "the account's over the symbol's");
        assert_eq!(r.max_position, Some(dec!(300)), "the account's symbol section over everything");
        assert_eq!((r.max_open_orders, r.max_orders_per_second), (Some(10), Some(5)));
        assert_eq!(r.price_collar_percent, None, "0 is no collar");
        let other = l.resolve(&id("B.2"), &sym("IBM"));
        assert_eq!((other.max_order_quantity, other.max_position), (Some(dec!(500)), Some(dec!(2000))));
        let plain = l.resolve(&id("B.2"), &sym("MSFT"));
        assert_eq!(plain.max_order_notional, Rules::builtin().max_order_notional, "built-in where the file is silent");
    }

    #[test]
    fn an_oversized_or_unreadable_file_is_refused_unread() {
        let tmp = tempfile::tempdir().expect("tmp");
        let big = tmp.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; usize::try_from(MAX_FILE_BYTES).expect("fits") + 10]).expect("write");
        let e = Limits::load(&big).expect_err("too large");
        assert!(matches!(e, LimitsError::TooLarge { size, .. } if size == MAX_FILE_BYTES + 1), "{e}");
        let binary = tmp.path().join("binary.toml");
        std::fs::write(&binary, [0xff, 0xfe, 0x00]).expect("write");
        assert!(matches!(Limits::load(&binary), Err(LimitsError::Read { .. })));
        assert!(matches!(Limits::load(&tmp.path().join("absent.toml")), Err(LimitsError::Read { .. })));
        std::fs::write(&big, "[default]\nmax_order_quantity = 5\n").expect("write");
        assert!(Limits::load(&big).is_ok(), "a normal file loads");
    }

    #[test]
    fn the_documented_example_file_is_valid() {
        let text = include_str!("../../../examples/risk-limits.toml");
        let l = Limits::parse(text, "examples/risk-limits.toml").expect("the example parses");
        let r = l.resolve(&id("REALTICKDEMO.REALTICK.DEMO32.TRADING"), &sym("IBM"));
        assert_eq!((r.max_position, r.max_open_orders, r.max_order_quantity), (Some(dec!(5000)), Some(50), Some(dec!(5000))));
        assert_eq!(l.resolve(&id("X"), &sym("TSLA")).price_collar_percent, Some(dec!(2)));
        assert!(!r.allow_without_reference);
    }

    #[test]
    fn a_broken_file_is_refused_with_the_line_and_the_reason() {
        let e = Limits::parse("[default]\nmax_order_quantity = 10\nmax_open_orderz = 3\n", "f.toml").expect_err("unknown key");
        let text = e.to_string();
        assert!(text.contains("line 3") && text.contains("max_open_orderz"), "{text}");
        let e = Limits::parse("[symbols.IBM]\nmax_open_orders = 3\n", "f.toml").expect_err("account-wide in a symbol section");
        assert!(e.to_string().contains("max_open_orders"), "{e}");
        let e = Limits::parse("[accounts.\"A\"]\nmax_position = -5\n", "f.toml").expect_err("negative");
        assert!(e.to_string().contains("[accounts.\"A\"] max_position = -5: must not be negative"), "{e}");
        let e = Limits::parse("[default]\nmax_order_quantity = \n", "f.toml").expect_err("syntax");
        assert!(e.to_string().contains("line 2"), "{e}");
    }
}
