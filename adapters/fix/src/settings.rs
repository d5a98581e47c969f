//! The adapter's settings, `TXTRADER_<INSTANCE>_<KEY>`: where the acceptor is, the session's
//! identity (CompIDs, BeginString), its heartbeat and reset policy, and the accounts it routes
//! orders for. Every setting is checked at once; unknown keys are refused.

use crate::session::{ResetPolicy, SessionConfig};
use std::time::Duration;
use txtrader_plugin_api::adapter::AdapterConfig;
use txtrader_plugin_api::model::AccountId;
use txtrader_plugin_api::settings::SettingsReader;

/// How to reach the acceptor and which session to hold with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Acceptor host (`HOST`, else `TXTRADER_API_HOST`, else 127.0.0.1).
    pub host: String,
    /// Acceptor port (`PORT`, required unless `TXTRADER_API_PORT` is set).
    pub port: u16,
    /// The session: `SENDER_COMP_ID`, `TARGET_COMP_ID` (required), `BEGIN_STRING` (`FIX.4.4`
    /// or `FIX.4.2`, default 4.4), `HEARTBEAT_SECONDS` (default 30), `RESET` (`never`,
    /// `always`, `daily`; default never), `LOGON_TIMEOUT_SECONDS` (default 10).
    pub session: SessionConfig,
    /// The accounts orders are routed for (`ACCOUNTS`, comma-separated; default the gateway's
    /// `TXTRADER_API_ACCOUNT`). Each order's account is sent as Account (1).
    pub accounts: Vec<AccountId>,
    /// Longest wait between reconnection attempts (`RECONNECT_MAX_SECONDS`, default 30).
    pub reconnect_max: Duration,
    /// Whether order messages are synced to disk before they go out (`SYNC`, 1 or 0; default
    /// 1).
    pub sync: bool,
    /// TLS to the acceptor (`TLS=1`), when on.
    pub tls: Option<TlsSettings>,
}

/// How the TLS connection is made and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM file of the certificate authorities to trust (`TLS_CA_FILE`; default the system's
    /// bundle, `/etc/ssl/certs/ca-certificates.crt`).
    pub ca_file: String,
    /// The name the acceptor's certificate must carry (`TLS_SERVER_NAME`; default `HOST`).
    pub server_name: String,
    /// A client certificate and its key, PEM (`TLS_CERT_FILE`, `TLS_KEY_FILE`), for acceptors
    /// that authenticate initiators by certificate.
    pub client: Option<(String, String)>,
}

/// Why the settings are refused (every problem at once).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct SettingsError(pub Vec<String>);

const KEYS: [&str; 16] = [
    "tls",
    "tls_ca_file",
    "tls_server_name",
    "tls_cert_file",
    "tls_key_file",
    "host",
    "port",
    "sender_comp_id",
    "target_comp_id",
    "begin_string",
    "heartbeat_seconds",
    "reset",
    "accounts",
    "reconnect_max_seconds",
    "logon_timeout_seconds",
    "sync",
];

impl Settings {
    /// Reads and checks the settings.
    ///
    /// # Errors
    /// [`SettingsError`] listing every unknown key and bad or missing value.
    pub fn from_config(config: &AdapterConfig) -> Result<Self, SettingsError> {
        let mut r = SettingsReader::new(config, &KEYS);
        let prefix = r.prefix().to_owned();
        if !config.settings.contains_key("port") && config.api.port.is_none() {
            r.problem(format!("{prefix}PORT: required (the FIX acceptor's port)"));
        }
        let port = r.port(0);
        let host = r.host();
        let mut comp_id = |key: &str| {
            let v = r.text(key, "");
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_graphic()) {
                r.problem(format!("{prefix}{}={v:?}: required, printable ASCII without spaces", key.to_uppercase()));
            }
            v
        };
        let sender = comp_id("sender_comp_id");
        let target = comp_id("target_comp_id");
        let begin_string = r.text("begin_string", "FIX.4.4");
        if crate::mapping::Dialect::of(&begin_string).is_none() {
            r.problem(format!("{prefix}BEGIN_STRING={begin_string:?}: expected FIX.4.4 or FIX.4.2"));
        }
        let heartbeat = r.int("heartbeat_seconds", 30, 1, 300);
        let logon_timeout = r.int("logon_timeout_seconds", 10, 1, 300);
        let reconnect_max = r.int("reconnect_max_seconds", 30, 1, 3600);
        let reset = match r.text("reset", "never").to_ascii_lowercase().as_str() {
            "never" => ResetPolicy::Never,
            "always" => ResetPolicy::Always,
            "daily" => ResetPolicy::Daily,
            other => {
                r.problem(format!("{prefix}RESET={other:?}: expected never, always or daily"));
                ResetPolicy::Never
            }
        };
        let sync = match r.text("sync", "1").as_str() {
            "1" | "true" | "yes" => true,
            "0" | "false" | "no" => false,
            other => {
                r.problem(format!("{prefix}SYNC={other:?}: expected 1 or 0"));
                true
            }
        };
        let tls = match r.text("tls", "0").as_str() {
            "1" | "true" | "yes" => {
                let client = match (r.text("tls_cert_file", ""), r.text("tls_key_file", "")) {
                    (c, k) if c.is_empty() && k.is_empty() => None,
                    (c, k) if !c.is_empty() && !k.is_empty() => Some((c, k)),
                    _ => {
                        r.problem(format!("{prefix}TLS_CERT_FILE and {prefix}TLS_KEY_FILE: give both or neither"));
                        None
                    }
                };
                Some(TlsSettings { ca_file: r.text("tls_ca_file", "/etc/ssl/certs/ca-certificates.crt"), server_name: r.text("tls_server_name", &host), client })
            }
            "0" | "false" | "no" => {
                for key in ["tls_ca_file", "tls_server_name", "tls_cert_file", "tls_key_file"] {
                    if config.settings.contains_key(key) {
                        r.problem(format!("{prefix}{}: set without {prefix}TLS=1", key.to_uppercase()));
                    }
                }
                None
            }
            other => {
                r.problem(format!("{prefix}TLS={other:?}: expected 1 or 0"));
                None
            }
        };
        let listed = r.text("accounts", &config.api.account);
        let mut accounts = Vec::new();
        for a in listed.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            match AccountId::new(a) {
                Ok(id) => accounts.push(id),
                Err(e) => r.problem(format!("{prefix}ACCOUNTS: {a:?}: {e}")),
            }
        }
        if accounts.is_empty() {
            r.problem(format!("{prefix}ACCOUNTS: required (the accounts this session routes orders for, comma-separated)"));
        }
        r.finish().map_err(SettingsError)?;
        let secs = |n: i64| Duration::from_secs(u64::try_from(n).unwrap_or(1));
        Ok(Self {
            host,
            port,
            session: SessionConfig { begin_string, sender, target, heartbeat: secs(heartbeat), reset, logon_timeout: secs(logon_timeout) },
            accounts,
            reconnect_max: secs(reconnect_max),
            sync,
            tls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use txtrader_plugin_api::adapter::ApiEndpoint;

    fn config(settings: &[(&str, &str)]) -> AdapterConfig {
        AdapterConfig {
            instance: "fix".into(),
            settings: settings.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            timezone: "UTC".into(),
            data_dir: None,
            api: ApiEndpoint::default(),
            quote_fields: Default::default(),
        }
    }

    #[test]
    fn a_complete_session_reads_with_its_defaults() {
        let s = Settings::from_config(&config(&[("port", "9880"), ("sender_comp_id", "GATEWAY"), ("target_comp_id", "EXCHANGE"), ("accounts", "A1, A2")])).expect("settings");
        assert_eq!((s.host.as_str(), s.port, s.session.begin_string.as_str()), ("127.0.0.1", 9880, "FIX.4.4"));
        assert_eq!((s.session.heartbeat, s.session.reset, s.sync), (Duration::from_secs(30), ResetPolicy::Never, true));
        assert_eq!(s.accounts.iter().map(AccountId::as_str).collect::<Vec<_>>(), vec!["A1", "A2"]);
        assert_eq!(s.tls, None);
        let s = Settings::from_config(&config(&[("port", "9880"), ("sender_comp_id", "G"), ("target_comp_id", "E"), ("accounts", "A1"), ("tls", "1"), ("tls_ca_file", "/ca.pem")])).expect("settings");
        assert_eq!(s.tls, Some(TlsSettings { ca_file: "/ca.pem".into(), server_name: "127.0.0.1".into(), client: None }));
        let e = Settings::from_config(&config(&[("port", "9880"), ("sender_comp_id", "G"), ("target_comp_id", "E"), ("accounts", "A1"), ("tls_ca_file", "/ca.pem")])).expect_err("refused");
        assert!(e.to_string().contains("TLS_CA_FILE: set without TXTRADER_FIX_TLS=1"), "{e}");
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let e = Settings::from_config(&config(&[("begin_string", "FIX.5.0"), ("reset", "sometimes"), ("sender_comp_id", "GATE WAY"), ("colour", "red")])).expect_err("refused");
        let text = e.to_string();
        for needle in ["TXTRADER_FIX_COLOUR", "TXTRADER_FIX_PORT", "TXTRADER_FIX_SENDER_COMP_ID", "TXTRADER_FIX_TARGET_COMP_ID", "BEGIN_STRING", "RESET", "ACCOUNTS"] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
    }
}
