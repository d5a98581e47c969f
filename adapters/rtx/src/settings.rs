//! The adapter's settings: `TXTRADER_<INSTANCE>_<KEY>`, falling back to the gateway's
//! `TXTRADER_API_HOST` / `TXTRADER_API_PORT` for the address, as the original's settings name
//! RTGW. Every setting is checked at once; unknown keys are refused, so a typo is reported
//! instead of ignored.

use std::time::Duration;
use txtrader_plugin_api::adapter::AdapterConfig;

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
        let s = &config.settings;
        let prefix = format!("TXTRADER_{}_", config.instance.to_uppercase());
        let mut errors: Vec<String> =
            s.keys().filter(|k| !KEYS.contains(&k.as_str())).map(|k| format!("{prefix}{}: unknown setting", k.to_uppercase())).collect();
        let mut num = |key: &str, default: u64, min: u64, max: u64| -> u64 {
            match s.get(key) {
                None => default,
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if (min..=max).contains(&n) => n,
                    _ => {
                        errors.push(format!("{prefix}{}={v:?}: expected an integer from {min} to {max}", key.to_uppercase()));
                        default
                    }
                },
            }
        };
        let api = &config.api;
        let port = num("port", u64::from(api.port.unwrap_or(DEFAULT_PORT)), 1, 65535);
        let reconnect_max = num("reconnect_max_seconds", 30, 1, 3600);
        let request_timeout = num("request_timeout_seconds", 20, 1, 3600);
        let host = s.get("host").map(|h| h.trim().to_owned()).filter(|h| !h.is_empty()).unwrap_or_else(|| {
            if api.host.is_empty() { "127.0.0.1".to_owned() } else { api.host.clone() }
        });
        if !errors.is_empty() {
            return Err(SettingsError(errors));
        }
        Ok(Self {
            host,
            port: u16::try_from(port).unwrap_or(DEFAULT_PORT),
            reconnect_max: Duration::from_secs(reconnect_max),
            request_timeout: Duration::from_secs(request_timeout),
        })
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
