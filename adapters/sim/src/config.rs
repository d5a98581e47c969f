//! The simulator's settings: parsed from the adapter configuration, validated all at once.
//!
//! Every setting comes from `TXTRADER_SIM_<KEY>` (the host passes them as lower-case keys) and
//! has a default that works on a fresh machine. Unknown keys are refused, so a typo is reported
//! instead of silently ignored.

use chrono::NaiveTime;
use chrono_tz::Tz;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;
use txtrader_plugin_api::model::{AccountId, Money, Quantity, Symbol};

/// The default demo accounts: the RealTick demo accounts existing txTrader clients expect.
pub const DEFAULT_ACCOUNTS: &str =
    "REALTICKDEMO.REALTICK.DEMO31.TRADING,REALTICKDEMO.REALTICK.DEMO32.TRADING";

/// The simulator's validated settings.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Accounts the demo login can trade.
    pub accounts: Vec<AccountId>,
    /// Starting cash of every account.
    pub cash: Money,
    /// Seed of the synthetic market; the same seed gives the same history.
    pub seed: u64,
    /// Symbols the exchange does not list (besides `BADSYMBOL`, which is never listed).
    pub invalid_symbols: Vec<Symbol>,
    /// Regular session open, exchange time.
    pub session_start: NaiveTime,
    /// Regular session close, exchange time.
    pub session_stop: NaiveTime,
    /// Exchange time zone.
    pub timezone: Tz,
    /// Whether the market also trades outside the regular session (a demo that works at any
    /// hour). When false, quotes freeze and orders wait for the open.
    pub trade_outside_session: bool,
    /// Orders larger than this fill in several parts over time.
    pub partial_fill_threshold: Quantity,
    /// Into how many parts a large order fills, one per market tick.
    pub partial_fill_parts: u32,
    /// Delay between acknowledging an order and working it.
    pub fill_delay: Duration,
    /// Market tick: how often quotes move, trades print and the feed clock advances.
    pub tick: Duration,
    /// Maintenance margin rate, for excess equity and buying power.
    pub maintenance_margin: Decimal,
    /// Keep the books in the instance's data folder (`exchange.sqlite`), each batch of changes
    /// committed before it is reported (`TXTRADER_SIM_DURABLE`, default on; off: in memory).
    pub durable: bool,
}

impl SimConfig {
    /// Parses the settings.
    ///
    /// # Errors
    /// Every invalid or unknown setting, each as one message.
    pub fn from_settings(settings: &BTreeMap<String, String>, timezone: &str) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let known = [
            "accounts",
            "cash",
            "seed",
            "invalid_symbols",
            "session",
            "trade_outside_session",
            "partial_fill_threshold",
            "partial_fill_parts",
            "fill_delay_ms",
            "tick_ms",
            "maintenance_margin",
            "durable",
        ];
        for key in settings.keys() {
            if !known.contains(&key.as_str()) {
                errors.push(format!("unknown setting TXTRADER_SIM_{}", key.to_uppercase()));
            }
        }
        let get = |k: &str, default: &str| -> String {
            settings.get(k).cloned().unwrap_or_else(|| default.to_owned())
        };

        let accounts: Vec<AccountId> = get("accounts", DEFAULT_ACCOUNTS)
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .filter_map(|s| match AccountId::new(s) {
                Ok(a) => Some(a),
                Err(e) => {
                    errors.push(format!("TXTRADER_SIM_ACCOUNTS: {s:?}: {e}"));
                    None
                }
            })
            .collect();
        if accounts.is_empty() {
            errors.push("TXTRADER_SIM_ACCOUNTS: at least one account is required".into());
        }
        let mut p = Parser { errors };
        let cash = p.parse("CASH", &get("cash", "100000"), Money::ZERO, |s| {
            Decimal::from_str(s).map(Money::new).map_err(|e| e.to_string())
        });
        let seed = p.parse("SEED", &get("seed", "1"), 0, |s| s.parse::<u64>().map_err(|e| e.to_string()));
        let invalid_symbols = get("invalid_symbols", "")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .filter_map(|s| match Symbol::new(s.to_uppercase()) {
                Ok(sym) => Some(sym),
                Err(e) => {
                    p.errors.push(format!("TXTRADER_SIM_INVALID_SYMBOLS: {s:?}: {e}"));
                    None
                }
            })
            .collect();
        let (session_start, session_stop) =
            p.parse("SESSION", &get("session", "09:30-16:00"), (NaiveTime::MIN, NaiveTime::MIN), parse_session);
        let timezone = p.parse_named("TXTRADER_API_TIMEZONE", timezone, Tz::UTC, |s| {
            Tz::from_str(s).map_err(|e| e.to_string())
        });
        let trade_outside_session =
            p.parse("TRADE_OUTSIDE_SESSION", &get("trade_outside_session", "1"), true, parse_flag);
        let partial_fill_threshold =
            p.parse("PARTIAL_FILL_THRESHOLD", &get("partial_fill_threshold", "500"), Quantity::ZERO, |s| {
                s.parse::<u64>().map(Quantity::from_u64).map_err(|e| e.to_string())
            });
        let partial_fill_parts = p.parse("PARTIAL_FILL_PARTS", &get("partial_fill_parts", "4"), 2, |s| {
            match s.parse::<u32>() {
                Ok(n) if (2..=100).contains(&n) => Ok(n),
                Ok(_) => Err("must be between 2 and 100".into()),
                Err(e) => Err(e.to_string()),
            }
        });
        let fill_delay = p.parse("FILL_DELAY_MS", &get("fill_delay_ms", "250"), Duration::ZERO, |s| {
            s.parse::<u64>().map(Duration::from_millis).map_err(|e| e.to_string())
        });
        let tick = p.parse("TICK_MS", &get("tick_ms", "1000"), Duration::ZERO, |s| match s.parse::<u64>() {
            Ok(n) if (10..=60_000).contains(&n) => Ok(Duration::from_millis(n)),
            Ok(_) => Err("must be between 10 and 60000".into()),
            Err(e) => Err(e.to_string()),
        });
        let maintenance_margin =
            p.parse("MAINTENANCE_MARGIN", &get("maintenance_margin", "0.25"), Decimal::ONE, |s| {
                match Decimal::from_str(s) {
                    Ok(d) if d > Decimal::ZERO && d <= Decimal::ONE => Ok(d),
                    Ok(_) => Err("must be in (0, 1]".into()),
                    Err(e) => Err(e.to_string()),
                }
            });
        let durable = p.parse("DURABLE", &get("durable", "1"), true, parse_flag);

        if !p.errors.is_empty() {
            return Err(p.errors);
        }
        Ok(Self {
            accounts,
            cash,
            seed,
            invalid_symbols,
            session_start,
            session_stop,
            timezone,
            trade_outside_session,
            partial_fill_threshold,
            partial_fill_parts,
            fill_delay,
            tick,
            maintenance_margin,
            durable,
        })
    }

    /// The defaults, in the given feed time zone.
    ///
    /// # Panics
    /// Never for a valid IANA zone name; the defaults are valid by construction.
    pub fn defaults(timezone: &str) -> Self {
        match Self::from_settings(&BTreeMap::new(), timezone) {
            Ok(c) => c,
            Err(e) => panic!("default sim configuration is invalid: {e:?}"),
        }
    }
}

/// Collects every parse error; a failed parse yields a fallback so parsing can go on.
struct Parser {
    errors: Vec<String>,
}

impl Parser {
    fn parse<T>(&mut self, key: &str, value: &str, fallback: T, f: impl Fn(&str) -> Result<T, String>) -> T {
        self.parse_named(&format!("TXTRADER_SIM_{key}"), value, fallback, f)
    }

    fn parse_named<T>(&mut self, name: &str, value: &str, fallback: T, f: impl Fn(&str) -> Result<T, String>) -> T {
        f(value.trim()).unwrap_or_else(|e| {
            self.errors.push(format!("{name}={value:?}: {e}"));
            fallback
        })
    }
}

fn parse_flag(s: &str) -> Result<bool, String> {
    match s.parse::<i64>() {
        Ok(n) => Ok(n != 0),
        Err(_) => Err("expected 0 or 1".into()),
    }
}

/// `HH:MM-HH:MM` (or with seconds).
fn parse_session(s: &str) -> Result<(NaiveTime, NaiveTime), String> {
    let (a, b) = s.split_once('-').ok_or("expected HH:MM-HH:MM")?;
    let t = |x: &str| {
        NaiveTime::parse_from_str(x.trim(), "%H:%M:%S")
            .or_else(|_| NaiveTime::parse_from_str(x.trim(), "%H:%M"))
            .map_err(|e| format!("{x:?}: {e}"))
    };
    let (start, stop) = (t(a)?, t(b)?);
    if start >= stop {
        return Err("the session must open before it closes".into());
    }
    Ok((start, stop))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_contain_demo_accounts() {
        let c = SimConfig::defaults("US/Eastern");
        assert!(c.accounts.iter().any(|a| a.as_str().contains("DEMO.")));
        assert_eq!(c.session_start, NaiveTime::from_hms_opt(9, 30, 0).expect("time"));
        assert!(c.trade_outside_session);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut s = BTreeMap::new();
        s.insert("cash".to_owned(), "lots".to_owned());
        s.insert("session".to_owned(), "16:00-09:30".to_owned());
        s.insert("colour".to_owned(), "blue".to_owned());
        let errors = SimConfig::from_settings(&s, "Mars/Olympus").expect_err("invalid");
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors.iter().any(|e| e.contains("TXTRADER_SIM_COLOUR")));
        assert!(errors.iter().any(|e| e.contains("CASH")));
        assert!(errors.iter().any(|e| e.contains("SESSION")));
        assert!(errors.iter().any(|e| e.contains("Mars/Olympus")));
    }
}
