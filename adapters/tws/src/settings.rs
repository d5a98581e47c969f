//! The adapter's settings: `TXTRADER_<INSTANCE>_<KEY>`, falling back to the gateway's
//! `TXTRADER_API_*` settings for the address and client id. Every setting is checked at once;
//! unknown keys are refused, so a typo is reported instead of ignored.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;
use txtrader_plugin_api::adapter::AdapterConfig;
use txtrader_plugin_api::settings::SettingsReader;

/// How to reach TWS and what to ask of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// TWS / IB Gateway host (`HOST`, else `TXTRADER_API_HOST`, else 127.0.0.1).
    pub host: String,
    /// Port (`PORT`, else `TXTRADER_API_PORT` when set, else 7497: TWS paper trading).
    pub port: u16,
    /// API client id (`CLIENT_ID`, else `TXTRADER_API_CLIENT_ID`).
    pub client_id: i64,
    /// Routing exchange for contracts (`EXCHANGE`, default `SMART`).
    pub exchange: String,
    /// Currency (`CURRENCY`, default `USD`).
    pub currency: String,
    /// Security type (`SEC_TYPE`, default `STK`).
    pub sec_type: String,
    /// Symbols that differ at IB (`CONTRACTS`: `BRK.B=BRK B,…`), or are given by contract id
    /// (`SPY=#756733`).
    pub contracts: BTreeMap<String, ContractOverride>,
    /// Market data type (`MARKET_DATA_TYPE`: 1 real-time, 3 delayed…; default 1).
    pub market_data_type: i64,
    /// One-minute live bars from IB's 5-second real-time bars (`LIVE_BARS`, default 1).
    pub live_bars: bool,
    /// Requests per second at most (`PACE`, default 45; IB allows 50).
    pub pace: u32,
    /// Longest wait between reconnection attempts (`RECONNECT_MAX_SECONDS`, default 30).
    pub reconnect_max: Duration,
    /// How long a request may go unanswered (`REQUEST_TIMEOUT_SECONDS`, default 20).
    pub request_timeout: Duration,
}

/// How one symbol is named at IB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContractOverride {
    /// Another symbol.
    Symbol(String),
    /// A contract id.
    ConId(i64),
}

/// Why the settings are refused (every problem at once).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct SettingsError(pub Vec<String>);

const KEYS: [&str; 12] = [
    "live_bars",
    "host",
    "port",
    "client_id",
    "exchange",
    "currency",
    "sec_type",
    "contracts",
    "market_data_type",
    "pace",
    "reconnect_max_seconds",
    "request_timeout_seconds",
];

impl Settings {
    /// Reads and checks the settings.
    ///
    /// # Errors
    /// [`SettingsError`] listing every unknown key and bad value.
    pub fn from_config(config: &AdapterConfig) -> Result<Self, SettingsError> {
        let mut r = SettingsReader::new(config, &KEYS);
        let prefix = r.prefix().to_owned();
        let port = r.port(7497);
        let client_id = r.int("client_id", config.api.client_id, 0, i64::from(i32::MAX));
        let market_data_type = r.int("market_data_type", 1, 1, 4);
        let pace = r.int("pace", 45, 1, 50);
        let live_bars = r.int("live_bars", 1, 0, 1) == 1;
        let reconnect_max = r.int("reconnect_max_seconds", 30, 1, 3600);
        let request_timeout = r.int("request_timeout_seconds", 20, 1, 3600);
        let text = |key: &str, default: &str| r.text(key, default);
        let (exchange, currency, sec_type, contract_list) = (text("exchange", "SMART"), text("currency", "USD"), text("sec_type", "STK"), text("contracts", ""));
        let mut errors = Vec::new();
        let mut contracts = BTreeMap::new();
        for item in contract_list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            match item.split_once('=') {
                Some((sym, target)) if !sym.trim().is_empty() && !target.trim().is_empty() => {
                    let target = target.trim();
                    let value = match target.strip_prefix('#') {
                        Some(id) => match i64::from_str(id) {
                            Ok(id) if id > 0 => ContractOverride::ConId(id),
                            _ => {
                                errors.push(format!("{prefix}CONTRACTS: {item:?}: a contract id is a positive integer"));
                                continue;
                            }
                        },
                        None => ContractOverride::Symbol(target.to_owned()),
                    };
                    contracts.insert(sym.trim().to_uppercase(), value);
                }
                _ => errors.push(format!("{prefix}CONTRACTS: {item:?}: expected SYMBOL=IBSYMBOL or SYMBOL=#CONID")),
            }
        }
        let host = r.host();
        for e in errors {
            r.problem(e);
        }
        r.finish().map_err(SettingsError)?;
        Ok(Self {
            host,
            port,
            client_id,
            exchange,
            currency,
            sec_type,
            contracts,
            market_data_type,
            live_bars,
            pace: u32::try_from(pace).unwrap_or(45),
            reconnect_max: Duration::from_secs(u64::try_from(reconnect_max).unwrap_or(30)),
            request_timeout: Duration::from_secs(u64::try_from(request_timeout).unwrap_or(20)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use txtrader_plugin_api::adapter::ApiEndpoint;

    fn config(settings: &[(&str, &str)], api: ApiEndpoint) -> AdapterConfig {
        AdapterConfig {
            instance: "ib".into(),
            settings: settings.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            timezone: "America/New_York".into(),
            data_dir: None,
            api,
            quote_fields: Default::default(),
        }
    }

    #[test]
    fn defaults_follow_the_gateway_api_settings_and_own_settings_win() {
        let s = Settings::from_config(&config(&[], ApiEndpoint::default())).expect("defaults");
        assert_eq!((s.host.as_str(), s.port, s.client_id, s.pace), ("127.0.0.1", 7497, 0, 45));
        let api = ApiEndpoint { host: "tws.local".into(), port: Some(4002), client_id: 7, account: String::new() };
        let s = Settings::from_config(&config(&[], api.clone())).expect("api");
        assert_eq!((s.host.as_str(), s.port, s.client_id), ("tws.local", 4002, 7));
        let s = Settings::from_config(&config(&[("port", "7496"), ("client_id", "9"), ("contracts", "BRK.B=BRK B, SPY=#756733")], api)).expect("own");
        assert_eq!((s.port, s.client_id), (7496, 9));
        assert_eq!(s.contracts["BRK.B"], ContractOverride::Symbol("BRK B".into()));
        assert_eq!(s.contracts["SPY"], ContractOverride::ConId(756_733));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let e = Settings::from_config(&config(&[("prot", "1"), ("pace", "500"), ("contracts", "X")], ApiEndpoint::default())).expect_err("bad");
        let text = e.to_string();
        assert!(text.contains("TXTRADER_IB_PROT: unknown setting"), "{text}");
        assert!(text.contains("TXTRADER_IB_PACE=\"500\""), "{text}");
        assert!(text.contains("CONTRACTS"), "{text}");
    }
}
