//! Reading an adapter's own settings (`TXTRADER_<INSTANCE>_<KEY>`, in
//! [`AdapterConfig::settings`]) the same way in every adapter: unknown keys are refused, so a
//! typo is reported instead of ignored; numbers are checked against their range; every problem
//! is collected, so one start names all of them.

use crate::adapter::AdapterConfig;

/// Reads one adapter instance's settings, collecting every problem.
#[derive(Debug)]
pub struct SettingsReader<'a> {
    config: &'a AdapterConfig,
    prefix: String,
    errors: Vec<String>,
}

impl<'a> SettingsReader<'a> {
    /// Starts reading; any key not in `known` (lower case) is a problem.
    pub fn new(config: &'a AdapterConfig, known: &[&str]) -> Self {
        let prefix = format!("TXTRADER_{}_", config.instance.to_uppercase());
        let errors = config.settings.keys().filter(|k| !known.contains(&k.as_str())).map(|k| format!("{prefix}{}: unknown setting", k.to_uppercase())).collect();
        Self { config, prefix, errors }
    }

    /// The environment variables' prefix (`TXTRADER_<INSTANCE>_`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// An integer from `min` to `max`; `default` when unset (or, after noting the problem,
    /// when it does not read).
    pub fn int(&mut self, key: &str, default: i64, min: i64, max: i64) -> i64 {
        match self.config.settings.get(key) {
            None => default,
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => n,
                _ => {
                    self.errors.push(format!("{}{}={v:?}: expected an integer from {min} to {max}", self.prefix, key.to_uppercase()));
                    default
                }
            },
        }
    }

    /// A text setting, trimmed; `default` when unset.
    pub fn text(&self, key: &str, default: &str) -> String {
        self.config.settings.get(key).map_or_else(|| default.to_owned(), |v| v.trim().to_owned())
    }

    /// The back-end's host: `HOST`, else the gateway's `TXTRADER_API_HOST`, else 127.0.0.1.
    pub fn host(&self) -> String {
        self.config.settings.get("host").map(|h| h.trim().to_owned()).filter(|h| !h.is_empty()).unwrap_or_else(|| {
            if self.config.api.host.is_empty() { "127.0.0.1".to_owned() } else { self.config.api.host.clone() }
        })
    }

    /// The back-end's port: `PORT`, else the gateway's `TXTRADER_API_PORT`, else `default`.
    pub fn port(&mut self, default: u16) -> u16 {
        let fallback = self.config.api.port.unwrap_or(default);
        u16::try_from(self.int("port", i64::from(fallback), 1, 65535)).unwrap_or(fallback)
    }

    /// Notes a problem found by the adapter itself.
    pub fn problem(&mut self, message: String) {
        self.errors.push(message);
    }

    /// Every problem found, or none.
    ///
    /// # Errors
    /// The problems, each naming its variable.
    pub fn finish(self) -> Result<(), Vec<String>> {
        if self.errors.is_empty() { Ok(()) } else { Err(self.errors) }
    }
}
