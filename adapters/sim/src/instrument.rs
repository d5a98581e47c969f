//! What the simulated exchange lists: which symbols exist, and their synthetic facts (name,
//! CUSIP-like id with a valid check digit, price level, typical volume).

use crate::config::SimConfig;
use crate::rng::stable_hash;
use txtrader_plugin_api::model::{Instrument, SessionHours, Symbol};

/// A symbol that is never listed, whatever the configuration says.
pub const ALWAYS_INVALID: &str = "BADSYMBOL";

/// Synthetic facts about one listed symbol.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Listing {
    /// The symbol.
    pub symbol: Symbol,
    /// Company name.
    pub name: String,
    /// CUSIP-like id (8 characters and a CUSIP check digit).
    pub cusip: String,
    /// Long-run price level, in cents.
    pub base_cents: i64,
    /// Typical day volume, in shares.
    pub base_volume: u64,
}

/// Why a symbol is not listed, or `None` when it is.
pub fn unlisted_reason(symbol: &Symbol, config: &SimConfig) -> Option<&'static str> {
    let s = symbol.as_str();
    let well_formed = s.len() <= 8
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars().all(|c| c.is_ascii_uppercase() || c == '.');
    if !well_formed {
        Some("not a symbol this exchange lists")
    } else if s == ALWAYS_INVALID || config.invalid_symbols.iter().any(|x| x == symbol) {
        Some("unknown symbol")
    } else {
        None
    }
}

/// The synthetic facts of a symbol.
pub fn listing(seed: u64, symbol: &Symbol) -> Listing {
    let h = stable_hash(seed, &[b"listing", symbol.as_str().as_bytes()]);
    // Price level between $20 and $400, spread logarithmically-ish by squaring a uniform.
    let u = (h % 10_000) as i64; // 0..9999
    let base_cents = 2_000 + 38_000 * u * u / (9_999 * 9_999);
    let base_volume = 200_000 + (h >> 20) % 8_000_000;
    Listing {
        symbol: symbol.clone(),
        name: format!("{} SIMULATED CORP", symbol.as_str()),
        cusip: cusip(seed, symbol),
        base_cents,
        base_volume,
    }
}

impl Listing {
    /// The instrument as the domain model describes it.
    pub fn instrument(&self, config: &SimConfig) -> Instrument {
        Instrument {
            symbol: self.symbol.clone(),
            name: self.name.clone(),
            cusip: Some(self.cusip.clone()),
            exchange: Some("SIM".into()),
            currency: "USD".into(),
            session: SessionHours {
                start: config.session_start,
                stop: config.session_stop,
                timezone: config.timezone.name().to_owned(),
            },
        }
    }
}

fn cusip(seed: u64, symbol: &Symbol) -> String {
    const ALNUM: &[u8] = b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let mut h = stable_hash(seed, &[b"cusip", symbol.as_str().as_bytes()]);
    let mut body = String::with_capacity(9);
    for i in 0..8 {
        // issuer: 6 alphanumerics; issue: 2 digits
        let set: &[u8] = if i < 6 { ALNUM } else { &ALNUM[..10] };
        body.push(set[(h % set.len() as u64) as usize] as char);
        h /= set.len() as u64;
        if h == 0 {
            h = stable_hash(seed, &[b"cusip-more", symbol.as_str().as_bytes()]);
        }
    }
    let check = cusip_check_digit(&body);
    body.push(char::from(b'0' + check));
    body
}

/// The CUSIP check digit of an 8-character body (the modulus-10 "double-add-double" rule).
pub fn cusip_check_digit(body: &str) -> u8 {
    let mut sum = 0u32;
    for (i, c) in body.chars().take(8).enumerate() {
        let mut v = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            '*' => 36,
            '@' => 37,
            '#' => 38,
            _ => 0,
        };
        if i % 2 == 1 {
            v *= 2;
        }
        sum += v / 10 + v % 10;
    }
    ((10 - sum % 10) % 10) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_cusip_check_digits() {
        // Apple 037833100, Cisco 17275R102, IBM 459200101
        assert_eq!(cusip_check_digit("03783310"), 0);
        assert_eq!(cusip_check_digit("17275R10"), 2);
        assert_eq!(cusip_check_digit("45920010"), 1);
    }

    #[test]
    fn listings_are_deterministic_and_valid() {
        let ibm = Symbol::new("IBM").expect("sym");
        let a = listing(1, &ibm);
        assert_eq!(a, listing(1, &ibm));
        assert_ne!(a.cusip, listing(2, &ibm).cusip);
        assert_eq!(a.cusip.len(), 9);
        let body = &a.cusip[..8];
        assert_eq!(a.cusip.as_bytes()[8] - b'0', cusip_check_digit(body));
        assert!((2_000..=40_000).contains(&a.base_cents));
    }

    #[test]
    fn badsymbol_is_never_listed() {
        let c = SimConfig::defaults("US/Eastern");
        assert!(unlisted_reason(&Symbol::new("BADSYMBOL").expect("s"), &c).is_some());
        assert!(unlisted_reason(&Symbol::new("AAPL").expect("s"), &c).is_none());
        assert!(unlisted_reason(&Symbol::new("TOOLONGSYM").expect("s"), &c).is_some());
        assert!(unlisted_reason(&Symbol::new("A1").expect("s"), &c).is_some());
    }
}
