//! The adapter's settings: `TXTRADER_<INSTANCE>_<KEY>`, falling back to the gateway's
//! `TXTRADER_API_HOST` / `TXTRADER_API_PORT` for the address, as the original's settings name
//! RTGW. Every setting is checked at once; unknown keys are refused, so a typo is reported
//! instead of ignored.

use std::time::Duration;
use txtrader_plugin_api::adapter::{AdapterConfig, QuoteFields};
use txtrader_plugin_api::settings::SettingsReader;

/// RTGW's port when nothing names one (the original's default `TXTRADER_API_PORT`).
pub const DEFAULT_PORT: u16 = 51070;

/// How to reach RTGW.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// RTGW host (`HOST`, else `TXTRADER_API_HOST`, else 127.0.0.1).
    pub host: String,
    /// Port (`PORT`, else `TXTRADER_API_PORT`, else 51070).
    pub port: u16,
    /// Longest wait between reconnection attempts (`RECONNECT_MAX_SECONDS`, default 30).
    pub reconnect_max: Duration,
    /// How long a command may go unanswered (`REQUEST_TIMEOUT_SECONDS`, default 20).
    pub request_timeout: Duration,
    /// The optional quote fields the live advises ask for (the gateway's ticker and high/low
    /// flags).
    pub quote_fields: QuoteFields,
}

/// Why the settings are refused (every problem at once).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct SettingsError(pub Vec<String>);

const KEYS: [&str; 4] = ["host", "port", "reconnect_max_seconds", "request_timeout_seconds"];

impl Settings {
    /// Reads and checks the settings.
    ///
    /// # Errors
    /// [`SettingsError`] listing every unknown key and bad value.
    pub fn from_config(config: &AdapterConfig) -> Result<Self, SettingsError> {
        let mut r = SettingsReader::new(config, &KEYS);
        let port = r.port(DEFAULT_PORT);
        let reconnect_max = r.int("reconnect_max_seconds", 30, 1, 3600);
        let request_timeout = r.int("request_timeout_seconds", 20, 1, 3600);
        let host = r.host();
        r.finish().map_err(SettingsError)?;
        let secs = |n: i64| Duration::from_secs(u64::try_from(n).unwrap_or(1));
        Ok(Self { host, port, reconnect_max: secs(reconnect_max), request_timeout: secs(request_timeout), quote_fields: config.quote_fields })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use txtrader_plugin_api::adapter::ApiEndpoint;

    fn config(settings: &[(&str, &str)], api: ApiEndpoint) -> AdapterConfig {
        AdapterConfig {
            instance: "rtx".into(),
            settings: settings.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            timezone: "America/New_York".into(),
            data_dir: None,
            api,
            quote_fields: Default::default(),
        }
    }

    #[test]
    fn the_gateway_address_applies_unless_the_instance_names_its_own() {
        let api = ApiEndpoint { host: "10.0.0.5".into(), port: Some(51071), ..ApiEndpoint::default() };
        let s = Settings::from_config(&config(&[], api.clone())).expect("settings");
        assert_eq!((s.host.as_str(), s.port), ("10.0.0.5", 51071));
        let s = Settings::from_config(&config(&[("host", "127.0.0.1"), ("port", "6000")], api)).expect("settings");
        assert_eq!((s.host.as_str(), s.port), ("127.0.0.1", 6000));
        let s = Settings::from_config(&config(&[], ApiEndpoint::default())).expect("settings");
        assert_eq!((s.host.as_str(), s.port), ("127.0.0.1", DEFAULT_PORT));
    }

    #[test]
    fn typos_and_bad_values_are_all_reported() {
        let e = Settings::from_config(&config(&[("prot", "1"), ("port", "0"), ("request_timeout_seconds", "x")], ApiEndpoint::default())).expect_err("refused");
        assert_eq!(e.0.len(), 3, "{e}");
        assert!(e.to_string().contains("TXTRADER_RTX_PROT: unknown setting"), "{e}");
    }
}
