//! Configuration from `TXTRADER_*` environment variables.
//!
//! Every variable of the original txTrader is accepted under its plain name with the same
//! meaning, plus a few of txtrader's own; each has a default that works on a fresh machine. An
//! empty value counts as unset. All problems are reported together, and every value is logged at
//! start-up with secrets masked. Adapter settings are the `TXTRADER_<ADAPTER>_*` variables
//! (e.g. `TXTRADER_SIM_CASH`), handed to that adapter, which validates them itself.

use chrono::NaiveTime;
use chrono_tz::Tz;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

/// Where a value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The environment.
    Env,
    /// The built-in default.
    Default,
}

/// One line of the start-up report.
#[derive(Clone, Debug)]
pub struct ConfigLine {
    /// The variable, without the `TXTRADER_` prefix.
    pub key: String,
    /// The value as shown (secrets masked).
    pub shown: String,
    /// Where it came from.
    pub source: Source,
}

/// When the journal is compacted (see `journal`): closed orders older than `archive_after`
/// leave the books and the journal starts a new file from a checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompactionSettings {
    /// Closed orders that last changed longer ago than this are archived
    /// (`TXTRADER_JOURNAL_ARCHIVE_AFTER`, seconds, default one day).
    pub archive_after: Duration,
    /// Compact this often (`TXTRADER_JOURNAL_COMPACT_EVERY`, seconds, default 3600; 0: never).
    pub every: Option<Duration>,
    /// Compact once the journal file holds this many records
    /// (`TXTRADER_JOURNAL_COMPACT_RECORDS`, default 1 000 000; 0: never).
    pub records: Option<u64>,
}

/// Feature flags, as reported by `version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flags {
    /// Bid/ask in symbol exports, quote and trade pushes.
    pub ticker: bool,
    /// High/low in symbol exports.
    pub high_low: bool,
    /// `query_bars` allowed.
    pub barchart: bool,
    /// Live one-minute bars kept per symbol.
    pub symbol_barchart: bool,
    /// The feed clock advances every second.
    pub seconds_tick: bool,
    /// `ACCOUNT` instead of `BANK`/`BRANCH`/`CUSTOMER`/`DEPOSIT` in executions.
    pub execution_account_format: bool,
    /// Any handler error forces a shutdown.
    pub exception_halt: bool,
}

/// Deadlines for answers from the broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Anything not listed below.
    pub default: Duration,
    /// Account lists and account data.
    pub account: Duration,
    /// The initial quote of a new symbol.
    pub add_symbol: Duration,
    /// Historical bars.
    pub barchart: Duration,
    /// Order acknowledgement, cancel, global cancel.
    pub order: Duration,
    /// Order, execution and ticket queries, instrument lookups.
    pub order_status: Duration,
    /// Positions.
    pub position: Duration,
    /// The feed clock.
    pub timer: Duration,
}

/// Logging switches of the original, mapped onto `tracing`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSettings {
    /// `TXTRADER_LOG_LEVEL`: DEBUG/INFO/WARN/ERROR (or a full `tracing` filter).
    pub level: String,
    /// Log every adapter message.
    pub api_messages: bool,
    /// Log adapter messages in full detail.
    pub debug_api_messages: bool,
    /// Log connection events.
    pub cxn_events: bool,
    /// Log messages to stream clients.
    pub client_messages: bool,
    /// Log each HTTP request.
    pub http_requests: bool,
    /// Log each HTTP response.
    pub http_responses: bool,
    /// Truncate logged responses to this many characters.
    pub response_truncate: usize,
    /// Log order updates.
    pub order_updates: bool,
    /// Log duplicate order updates too.
    pub order_update_dups: bool,
    /// Log executions.
    pub execution_updates: bool,
    /// Log callback metrics every minute.
    pub callback_metrics: bool,
    /// Log lines that may wait for the log writer before new ones are dropped
    /// (`TXTRADER_LOG_BUFFER_LINES`, txtrader's own).
    pub buffer_lines: usize,
}

/// Stream (netstring TCP) limits and policies; txtrader's own settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamConfig {
    /// Largest inbound netstring frame (`TXTRADER_STREAM_MAX_FRAME`).
    pub max_frame: usize,
    /// Pushes queued per session before it misses some (`TXTRADER_STREAM_QUEUE`).
    pub queue: usize,
    /// Order/ticket/execution pushes kept for `resume` (`TXTRADER_STREAM_REPLAY`).
    pub replay: usize,
    /// Disconnect sessions that fall behind instead of sending a gap notice
    /// (`TXTRADER_STREAM_SLOW_CLIENT=disconnect`).
    pub disconnect_slow: bool,
    /// A write blocked this long ends the session (`TXTRADER_STREAM_WRITE_TIMEOUT`, seconds).
    pub write_timeout: Duration,
    /// Most concurrent sessions (`TXTRADER_STREAM_MAX_SESSIONS`).
    pub max_sessions: usize,
    /// A connection that has not authenticated this long after connecting is closed
    /// (`TXTRADER_STREAM_AUTH_TIMEOUT`, seconds).
    pub auth_timeout: Duration,
    /// Most connections waiting to authenticate at once, apart from the sessions
    /// (`TXTRADER_STREAM_MAX_UNAUTHENTICATED`).
    pub max_unauthenticated: usize,
}

/// One adapter instance of `TXTRADER_MODE`: `name` or `name=kind`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModeEntry {
    /// Instance name; its settings are `TXTRADER_<NAME>_*`.
    pub name: String,
    /// Adapter kind: a built-in adapter or a library's adapter name.
    pub kind: String,
}

/// Prefixes of the gateway's own variables, which an adapter instance name must not shadow.
const RESERVED_NAMES: &[&str] = &[
    "allow", "api", "adapter", "bind", "daemon", "debug", "enable", "gateway", "get", "host", "http", "local", "log", "max", "mode", "stream",
    "tcp", "time", "timeout", "tls", "users",
];

/// The default of `TXTRADER_PASSWORD`, refused on any address but loopback.
pub const DEFAULT_PASSWORD: &str = "change_this_password";

/// Who may connect and how (see `access` and `tls`).
#[derive(Clone, Debug)]
pub struct AccessConfig {
    /// The users file (`TXTRADER_USERS_FILE`); `None`: only the legacy pair.
    pub users_file: Option<std::path::PathBuf>,
    /// Whether the legacy `TXTRADER_USERNAME`/`PASSWORD` pair signs in: always without a users
    /// file; with one, only when `TXTRADER_PASSWORD` is set.
    pub legacy: bool,
    /// Most connections from one address (`TXTRADER_MAX_CONNECTIONS_PER_ADDRESS`): all HTTP
    /// connections, and stream connections still waiting to authenticate.
    pub max_per_address: usize,
    /// Plain listeners on a non-loopback address are allowed (`TXTRADER_ALLOW_PLAIN_NETWORK`).
    pub allow_plain_network: bool,
    /// The TLS listeners, when `TXTRADER_TLS_CERT_FILE` is set.
    pub tls: Option<TlsConfig>,
}

/// The TLS listeners.
#[derive(Clone, Debug)]
pub struct TlsConfig {
    /// Certificate, key and client CA files.
    pub files: crate::tls::TlsFiles,
    /// Their address (`TXTRADER_TLS_BIND_ADDRESS`, default `TXTRADER_BIND_ADDRESS`).
    pub bind_address: IpAddr,
    /// HTTPS port (`TXTRADER_TLS_HTTP_PORT`, default 50081; 0 picks a free one).
    pub http_port: u16,
    /// TLS stream port (`TXTRADER_TLS_TCP_PORT`, default 50091; 0 picks a free one).
    pub tcp_port: u16,
}

/// Whether an address reaches only this machine (an unspecified address, 0.0.0.0 or ::, reaches
/// every interface).
pub fn is_loopback(a: IpAddr) -> bool {
    a.is_loopback()
}

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// HTTP Basic / stream `auth` user.
    pub username: String,
    /// HTTP Basic / stream `auth` password. Never logged.
    pub password: String,
    /// HTTP port (0 picks a free one).
    pub http_port: u16,
    /// Netstring stream port.
    pub tcp_port: u16,
    /// Address the listeners bind to.
    pub bind_address: IpAddr,
    /// `TXTRADER_HOST`: the host name clients use; informational.
    pub host: String,
    /// Back-end address, for adapters that connect to one.
    pub api_host: String,
    /// Back-end port.
    pub api_port: u16,
    /// Whether `TXTRADER_API_PORT` was set (adapters other than the original's RealTick
    /// back-end use their own default port otherwise).
    pub api_port_set: bool,
    /// The initial default order route.
    pub api_route: String,
    /// Time zone of the feed's naive times.
    pub api_timezone: Tz,
    /// The account clients default to; informational.
    pub api_account: String,
    /// Client id for back-ends that use one.
    pub api_client_id: i64,
    /// The adapter instances to run (`TXTRADER_MODE`, comma-separated `name` or `name=kind`).
    pub mode: Vec<ModeEntry>,
    /// The folder of adapter libraries (`TXTRADER_ADAPTER_DIR`); `None`: beside the binary.
    pub adapter_dir: Option<std::path::PathBuf>,
    /// The risk limits file (`TXTRADER_RISK_FILE`); `None`: the built-in limits.
    pub risk_file: Option<std::path::PathBuf>,
    /// The folder of strategy manifests and components (`TXTRADER_STRATEGY_DIR`), scanned at
    /// start and watched; `None`: strategies are deployed by command only.
    pub strategy_dir: Option<std::path::PathBuf>,
    /// The data folder holding the journal (`TXTRADER_DATA_DIR`, default
    /// `$XDG_DATA_HOME/txtrader` or `~/.local/share/txtrader`); `None` with `TXTRADER_JOURNAL=0`,
    /// which runs without a journal: nothing survives a restart.
    pub data_dir: Option<std::path::PathBuf>,
    /// At most this many journal records per commit (`TXTRADER_JOURNAL_BATCH`).
    pub journal_batch: usize,
    /// Journal compaction.
    pub compaction: CompactionSettings,
    /// Feature flags.
    pub flags: Flags,
    /// Restart daily at `local_reset_time`.
    pub auto_reset: bool,
    /// Local wall-clock time of the daily restart.
    pub local_reset_time: NaiveTime,
    /// Exit when the broker has been unreachable this long, if `gateway_disconnect_shutdown`.
    pub gateway_disconnect_timeout: Duration,
    /// See `gateway_disconnect_timeout`.
    pub gateway_disconnect_shutdown: bool,
    /// Seconds added to the feed clock (test mode only).
    pub time_offset: i64,
    /// Test mode.
    pub testing: bool,
    /// Broker deadlines.
    pub timeouts: Timeouts,
    /// Logging.
    pub log: LogSettings,
    /// Largest accepted HTTP request body.
    pub http_max_body: usize,
    /// Seconds a client may take to send a request's headers (`TXTRADER_HTTP_HEADER_TIMEOUT`).
    pub http_header_timeout: Duration,
    /// Seconds a client may take to send a request's body (`TXTRADER_HTTP_BODY_TIMEOUT`).
    pub http_body_timeout: Duration,
    /// Most open HTTP connections (`TXTRADER_HTTP_MAX_CONNECTIONS`).
    pub http_max_connections: usize,
    /// Stream limits.
    pub stream: StreamConfig,
    /// Users, TLS and connection caps.
    pub access: AccessConfig,
    /// Settings per adapter instance: `TXTRADER_<NAME>_<KEY>` → `{name: {key: value}}`.
    pub adapter_settings: BTreeMap<String, BTreeMap<String, String>>,
    /// The start-up report.
    pub report: Vec<ConfigLine>,
    /// Values that were valid but overridden (e.g. `TIME_OFFSET` outside test mode).
    pub warnings: Vec<String>,
}

/// Why the configuration is unusable: every problem found.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigError(pub Vec<String>);

struct Reader<'a> {
    env: &'a BTreeMap<String, String>,
    errors: Vec<String>,
    report: Vec<ConfigLine>,
}

impl Reader<'_> {
    fn raw(&mut self, key: &str, default: &str, secret: bool) -> String {
        let (value, source) = match self.env.get(&format!("TXTRADER_{key}")).filter(|v| !v.is_empty()) {
            Some(v) => (v.clone(), Source::Env),
            None => (default.to_owned(), Source::Default),
        };
        let shown = if secret { "********".to_owned() } else { value.clone() };
        self.report.push(ConfigLine { key: key.to_owned(), shown, source });
        value
    }

    fn string(&mut self, key: &str, default: &str) -> String {
        self.raw(key, default, false)
    }

    fn parse<T>(&mut self, key: &str, default: &str, fallback: T, f: impl Fn(&str) -> Result<T, String>) -> T {
        let v = self.raw(key, default, false);
        f(v.trim()).unwrap_or_else(|e| {
            self.errors.push(format!("TXTRADER_{key}={v:?}: {e}"));
            fallback
        })
    }

    fn int<T: FromStr>(&mut self, key: &str, default: &str, fallback: T) -> T
    where
        T::Err: std::fmt::Display,
    {
        self.parse(key, default, fallback, |s| s.parse::<T>().map_err(|e| e.to_string()))
    }

    /// Booleans are integers, as in the original (`int(value)`): 0 is off, anything else on.
    fn flag(&mut self, key: &str, default: &str) -> bool {
        self.parse(key, default, false, |s| {
            s.parse::<i64>().map(|n| n != 0).map_err(|_| "expected an integer (0 or 1)".to_owned())
        })
    }

    fn seconds(&mut self, key: &str, default: &str) -> Duration {
        self.parse(key, default, Duration::ZERO, |s| match s.parse::<u64>() {
            Ok(n) if n > 0 => Ok(Duration::from_secs(n)),
            Ok(_) => Err("must be at least 1 second".into()),
            Err(e) => Err(e.to_string()),
        })
    }
}

/// Reads the access settings and refuses what would expose the gateway: a plain listener on a
/// non-loopback address (unless allowed), and the default password on one in any case.
fn read_access(r: &mut Reader<'_>, bind_address: IpAddr, password_set: bool, password: &str) -> AccessConfig {
    let users_file = Some(r.string("USERS_FILE", "")).filter(|s| !s.is_empty()).map(std::path::PathBuf::from);
    let legacy = users_file.is_none() || password_set;
    let max_per_address = r.parse("MAX_CONNECTIONS_PER_ADDRESS", "64", 0, |s| match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        Ok(_) => Err("must be at least 1".into()),
        Err(e) => Err(e.to_string()),
    });
    let allow_plain_network = r.flag("ALLOW_PLAIN_NETWORK", "0");
    let cert = r.string("TLS_CERT_FILE", "");
    let key = r.string("TLS_KEY_FILE", "");
    let client_ca = r.string("TLS_CLIENT_CA_FILE", "");
    let require = r.parse("TLS_CLIENT_CERT", "required", true, |s| match s {
        "required" => Ok(true),
        "optional" => Ok(false),
        _ => Err("expected required or optional".into()),
    });
    let tls_bind = r.parse("TLS_BIND_ADDRESS", &bind_address.to_string(), bind_address, |s| s.parse::<IpAddr>().map_err(|e| e.to_string()));
    let tls_http_port = r.int("TLS_HTTP_PORT", "50081", 0u16);
    let tls_tcp_port = r.int("TLS_TCP_PORT", "50091", 0u16);
    let tls = match (cert.is_empty(), key.is_empty()) {
        (true, true) => {
            if !client_ca.is_empty() {
                r.errors.push("TXTRADER_TLS_CLIENT_CA_FILE: client certificates need TLS: set TXTRADER_TLS_CERT_FILE and TXTRADER_TLS_KEY_FILE".into());
            }
            None
        }
        (false, false) => Some(TlsConfig {
            files: crate::tls::TlsFiles {
                cert: cert.into(),
                key: key.into(),
                client_ca: Some(client_ca).filter(|c| !c.is_empty()).map(Into::into),
                require_client_cert: require,
            },
            bind_address: tls_bind,
            http_port: tls_http_port,
            tcp_port: tls_tcp_port,
        }),
        _ => {
            r.errors.push("TXTRADER_TLS_CERT_FILE and TXTRADER_TLS_KEY_FILE: give both or neither".into());
            None
        }
    };
    if !is_loopback(bind_address) && !allow_plain_network {
        r.errors.push(format!(
            "TXTRADER_BIND_ADDRESS: {bind_address} is not a loopback address, and the HTTP API and stream there are plain text (credentials in clear); serve other machines over TLS (TXTRADER_TLS_CERT_FILE, TXTRADER_TLS_KEY_FILE, TXTRADER_TLS_BIND_ADDRESS) or set TXTRADER_ALLOW_PLAIN_NETWORK=1"
        ));
    }
    let exposed = [Some(bind_address), tls.as_ref().map(|t| t.bind_address)].into_iter().flatten().find(|a| !is_loopback(*a));
    if let (Some(a), true, true) = (exposed, legacy, password == DEFAULT_PASSWORD) {
        r.errors.push(format!(
            "TXTRADER_PASSWORD: the default password is refused on a non-loopback address ({a}); set TXTRADER_PASSWORD, or sign users in with TXTRADER_USERS_FILE"
        ));
    }
    AccessConfig { users_file, legacy, max_per_address, allow_plain_network, tls }
}

impl Config {
    /// Reads the configuration from the process environment.
    ///
    /// # Errors
    /// [`ConfigError`] listing every invalid variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        Self::from_map(&env, hostname.trim())
    }

    /// Reads the configuration from a map of variables.
    ///
    /// # Errors
    /// [`ConfigError`] listing every invalid variable.
    pub fn from_map(env: &BTreeMap<String, String>, hostname: &str) -> Result<Self, ConfigError> {
        let mut r = Reader { env, errors: Vec::new(), report: Vec::new() };
        let mut warnings = Vec::new();

        let username = r.string("USERNAME", "txtrader_user");
        let password = r.raw("PASSWORD", DEFAULT_PASSWORD, true);
        let password_set = env.get("TXTRADER_PASSWORD").is_some_and(|v| !v.is_empty());
        let http_port = r.int("HTTP_PORT", "50080", 0u16);
        let tcp_port = r.int("TCP_PORT", "50090", 0u16);
        let bind_address = r.parse("BIND_ADDRESS", "127.0.0.1", IpAddr::from([127, 0, 0, 1]), |s| {
            s.parse::<IpAddr>().map_err(|e| e.to_string())
        });
        let host = r.string("HOST", "127.0.0.1");
        let api_host = r.string("API_HOST", "127.0.0.1");
        let api_port = r.int("API_PORT", "51070", 0u16);
        let api_port_set = r.report.last().is_some_and(|l| l.source == Source::Env);
        let api_route = r.string("API_ROUTE", "DEMO");
        let api_timezone = r.parse("API_TIMEZONE", "US/Eastern", Tz::UTC, |s| Tz::from_str(s).map_err(|e| e.to_string()));
        let api_account = r.string("API_ACCOUNT", "API_ACCOUNT");
        let api_client_id = r.int("API_CLIENT_ID", "0", 0i64);
        let mut mode: Vec<ModeEntry> = Vec::new();
        for item in r.string("MODE", "sim").split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, kind) = item.split_once('=').map_or((item, item), |(n, k)| (n.trim(), k.trim()));
            let (name, kind) = (name.to_lowercase(), kind.to_lowercase());
            let valid = |x: &str| !x.is_empty() && x.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !valid(&name) || !valid(&kind) {
                r.errors.push(format!("TXTRADER_MODE: {item:?}: expected NAME or NAME=KIND of letters, digits and '_'"));
            } else if RESERVED_NAMES.contains(&name.as_str()) {
                r.errors.push(format!("TXTRADER_MODE: instance name {name:?} would shadow TXTRADER_{}_* settings", name.to_uppercase()));
            } else if mode.iter().any(|m| m.name == name) {
                r.errors.push(format!("TXTRADER_MODE: instance name {name:?} given twice"));
            } else {
                mode.push(ModeEntry { name, kind });
            }
        }
        if mode.is_empty() {
            r.errors.push("TXTRADER_MODE: at least one adapter is required".into());
        }
        let adapter_dir = Some(r.string("ADAPTER_DIR", "")).filter(|s| !s.is_empty()).map(std::path::PathBuf::from);
        let risk_file = Some(r.string("RISK_FILE", "")).filter(|s| !s.is_empty()).map(std::path::PathBuf::from);
        let strategy_dir = Some(r.string("STRATEGY_DIR", "")).filter(|s| !s.is_empty()).map(std::path::PathBuf::from);
        // The journal lives in a folder the user owns: XDG's data home, else ~/.local/share.
        let default_data = env
            .get("XDG_DATA_HOME")
            .filter(|v| !v.is_empty())
            .map(|d| std::path::PathBuf::from(d).join("txtrader"))
            .or_else(|| env.get("HOME").filter(|v| !v.is_empty()).map(|h| std::path::PathBuf::from(h).join(".local/share/txtrader")));
        let data_dir_text = r.string("DATA_DIR", &default_data.as_ref().map(|d| d.display().to_string()).unwrap_or_default());
        let journal = r.flag("JOURNAL", "1");
        let data_dir = match (journal, data_dir_text.is_empty()) {
            (false, _) => None,
            (true, false) => Some(std::path::PathBuf::from(data_dir_text)),
            (true, true) => {
                r.errors.push("TXTRADER_DATA_DIR: not set, and there is no HOME or XDG_DATA_HOME to put the default in".into());
                None
            }
        };
        let journal_batch = r.int("JOURNAL_BATCH", "10000", 10_000usize);
        let compaction = CompactionSettings {
            archive_after: Duration::from_secs(r.int("JOURNAL_ARCHIVE_AFTER", "86400", 86_400u64)),
            every: Some(Duration::from_secs(r.int("JOURNAL_COMPACT_EVERY", "3600", 3600u64))).filter(|d| !d.is_zero()),
            records: Some(r.int("JOURNAL_COMPACT_RECORDS", "1000000", 1_000_000u64)).filter(|n| *n > 0),
        };
        let _ = r.string("SUPPRESS_ERROR_CODES", "2100");
        let _ = r.string("GET_RETRIES", "8");
        let _ = r.string("GET_BACKOFF_FACTOR", "0.1");
        let mut flags = Flags {
            ticker: r.flag("ENABLE_TICKER", "0"),
            high_low: r.flag("ENABLE_HIGH_LOW", "1"),
            barchart: r.flag("ENABLE_BARCHART", "1"),
            symbol_barchart: r.flag("ENABLE_SYMBOL_BARCHART", "0"),
            seconds_tick: r.flag("ENABLE_SECONDS_TICK", "1"),
            execution_account_format: r.flag("ENABLE_EXECUTION_ACCOUNT_FORMAT", "1"),
            exception_halt: r.flag("ENABLE_EXCEPTION_HALT", "0"),
        };
        let auto_reset = r.flag("ENABLE_AUTO_RESET", "1");
        let local_reset_time = r.parse("LOCAL_RESET_TIME", "05:00", NaiveTime::MIN, |s| {
            NaiveTime::parse_from_str(s, "%H:%M").map_err(|e| format!("expected HH:MM: {e}"))
        });
        let gateway_disconnect_timeout = r.seconds("GATEWAY_DISCONNECT_TIMEOUT", "30");
        let gateway_disconnect_shutdown = r.flag("GATEWAY_DISCONNECT_SHUTDOWN", "1");
        let mut time_offset = r.int("TIME_OFFSET", "0", 0i64);
        let testing_var = r.parse("TESTING", "0", false, |s| {
            s.parse::<i64>().map(|n| n != 0).map_err(|_| "expected an integer (0 means off)".to_owned())
        });
        let testing_env = env.get("TESTING").and_then(|v| v.trim().parse::<i64>().ok()).is_some_and(|n| n != 0);
        let testing = testing_var || testing_env || hostname.contains("test");
        if !testing {
            if time_offset != 0 {
                warnings.push("TIME_OFFSET disallowed outside of test mode; resetting to 0".into());
                time_offset = 0;
            }
            if !flags.seconds_tick {
                warnings.push("SECONDS_TICK disable disallowed outside of test mode; resetting to enabled".into());
                flags.seconds_tick = true;
            }
        }
        let timeouts = Timeouts {
            default: r.seconds("TIMEOUT_DEFAULT", "30"),
            account: r.seconds("TIMEOUT_ACCOUNT", "15"),
            add_symbol: r.seconds("TIMEOUT_ADDSYMBOL", "15"),
            barchart: r.seconds("TIMEOUT_BARCHART", "10"),
            order: r.seconds("TIMEOUT_ORDER", "300"),
            order_status: r.seconds("TIMEOUT_ORDERSTATUS", "3600"),
            position: r.seconds("TIMEOUT_POSITION", "30"),
            timer: r.seconds("TIMEOUT_TIMER", "30"),
        };
        let log = LogSettings {
            level: r.string("LOG_LEVEL", "INFO"),
            api_messages: r.flag("LOG_API_MESSAGES", "0"),
            debug_api_messages: r.flag("DEBUG_API_MESSAGES", "0"),
            cxn_events: r.flag("LOG_CXN_EVENTS", "0"),
            client_messages: r.flag("LOG_CLIENT_MESSAGES", "0"),
            http_requests: r.flag("LOG_HTTP_REQUESTS", "1"),
            http_responses: r.flag("LOG_HTTP_RESPONSES", "1"),
            response_truncate: r.int("LOG_RESPONSE_TRUNCATE", "96", 96usize),
            order_updates: r.flag("LOG_ORDER_UPDATES", "1"),
            order_update_dups: r.flag("LOG_ORDER_UPDATE_DUPS", "0"),
            execution_updates: r.flag("LOG_EXECUTION_UPDATES", "1"),
            callback_metrics: r.flag("LOG_CALLBACK_METRICS", "0"),
            buffer_lines: r.parse("LOG_BUFFER_LINES", "131072", 131_072usize, |s| match s.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(n),
                Ok(_) => Err("must be at least 1".into()),
                Err(e) => Err(e.to_string()),
            }),
        };
        let _ = r.string("DAEMON_REACTOR", "poll");
        let _ = r.string("DAEMON_LOGFILE", "-");
        let _ = r.string("DAEMON_PIDFILE", "");
        let http_max_body = r.parse("HTTP_MAX_BODY", "1048576", 0usize, |s| match s.parse::<usize>() {
            Ok(n) if n >= 1024 => Ok(n),
            Ok(_) => Err("must be at least 1024 bytes".into()),
            Err(e) => Err(e.to_string()),
        });
        let http_header_timeout = r.seconds("HTTP_HEADER_TIMEOUT", "10");
        let http_body_timeout = r.seconds("HTTP_BODY_TIMEOUT", "30");
        let positive = |what: &'static str| {
            move |s: &str| match s.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(n),
                Ok(_) => Err(format!("{what} must be at least 1")),
                Err(e) => Err(e.to_string()),
            }
        };
        let http_max_connections = r.parse("HTTP_MAX_CONNECTIONS", "1024", 0, positive("the connection limit"));
        let stream = StreamConfig {
            max_frame: r.parse("STREAM_MAX_FRAME", "1048576", 0, positive("the frame limit")),
            queue: r.parse("STREAM_QUEUE", "4096", 0, positive("the queue")),
            replay: r.int("STREAM_REPLAY", "20000", 0usize),
            disconnect_slow: r.parse("STREAM_SLOW_CLIENT", "gap", false, |s| match s {
                "gap" => Ok(false),
                "disconnect" => Ok(true),
                _ => Err("expected gap or disconnect".into()),
            }),
            write_timeout: r.seconds("STREAM_WRITE_TIMEOUT", "30"),
            max_sessions: r.parse("STREAM_MAX_SESSIONS", "1024", 0, positive("the session limit")),
            auth_timeout: r.seconds("STREAM_AUTH_TIMEOUT", "10"),
            max_unauthenticated: r.parse("STREAM_MAX_UNAUTHENTICATED", "256", 0, positive("the limit of connections waiting to authenticate")),
        };
        let access = read_access(&mut r, bind_address, password_set, &password);

        let mut adapter_settings: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for m in mode.iter().map(|m| &m.name) {
            let prefix = format!("TXTRADER_{}_", m.to_uppercase());
            let settings = adapter_settings.entry(m.clone()).or_default();
            for (k, v) in env.range(prefix.clone()..) {
                let Some(key) = k.strip_prefix(&prefix) else { break };
                if v.is_empty() {
                    continue;
                }
                let secret = key.contains("PASSWORD") || key.contains("SECRET") || key.contains("TOKEN");
                r.report.push(ConfigLine {
                    key: format!("{}_{key}", m.to_uppercase()),
                    shown: if secret { "********".into() } else { v.clone() },
                    source: Source::Env,
                });
                settings.insert(key.to_lowercase(), v.clone());
            }
        }

        if !r.errors.is_empty() {
            return Err(ConfigError(r.errors));
        }
        Ok(Self {
            username,
            password,
            http_port,
            tcp_port,
            bind_address,
            host,
            api_host,
            api_port,
            api_port_set,
            api_route,
            api_timezone,
            api_account,
            api_client_id,
            mode,
            adapter_dir,
            risk_file,
            strategy_dir,
            data_dir,
            journal_batch,
            compaction,
            flags,
            auto_reset,
            local_reset_time,
            gateway_disconnect_timeout,
            gateway_disconnect_shutdown,
            time_offset,
            testing,
            timeouts,
            log,
            http_max_body,
            http_header_timeout,
            http_body_timeout,
            http_max_connections,
            stream,
            access,
            adapter_settings,
            report: r.report,
            warnings,
        })
    }

    /// Logs every value (secrets masked) and the overrides.
    pub fn log_report(&self) {
        for line in &self.report {
            let source = match line.source {
                Source::Env => "env",
                Source::Default => "internal (default)",
            };
            tracing::info!("config {}={} {}", line.key, line.shown, source);
        }
        for w in &self.warnings {
            tracing::error!("{w}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The variables given, on a machine with a home folder.
    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut env: BTreeMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        env.entry("HOME".into()).or_insert_with(|| "/home/box".into());
        env
    }

    fn errors(pairs: &[(&str, &str)]) -> String {
        Config::from_map(&env(pairs), "box").expect_err("refused").to_string()
    }

    #[test]
    fn exposing_the_gateway_needs_tls_or_consent_and_never_the_default_password() {
        let c = Config::from_map(&env(&[]), "box").expect("defaults");
        assert!(c.access.legacy && c.access.tls.is_none() && c.access.max_per_address == 64);
        let e = errors(&[("TXTRADER_BIND_ADDRESS", "0.0.0.0"), ("TXTRADER_PASSWORD", "long-and-random")]);
        assert!(e.contains("0.0.0.0 is not a loopback address") && e.contains("TXTRADER_ALLOW_PLAIN_NETWORK"), "{e}");
        let e = errors(&[("TXTRADER_BIND_ADDRESS", "0.0.0.0"), ("TXTRADER_ALLOW_PLAIN_NETWORK", "1")]);
        assert!(e.contains("the default password is refused on a non-loopback address (0.0.0.0)"), "{e}");
        let c = Config::from_map(&env(&[("TXTRADER_BIND_ADDRESS", "::"), ("TXTRADER_ALLOW_PLAIN_NETWORK", "1"), ("TXTRADER_PASSWORD", "x")]), "box");
        assert!(c.is_ok(), "both consents given");
        // TLS on the network, plain listeners on loopback: the default password is still refused
        let tls = [("TXTRADER_TLS_CERT_FILE", "/etc/c.pem"), ("TXTRADER_TLS_KEY_FILE", "/etc/k.pem"), ("TXTRADER_TLS_BIND_ADDRESS", "10.1.2.3")];
        assert!(errors(&tls).contains("default password"));
        let mut with_users = tls.to_vec();
        with_users.push(("TXTRADER_USERS_FILE", "/etc/txtrader/users.toml"));
        let c = Config::from_map(&env(&with_users), "box").expect("a users file without the legacy pair");
        assert!(!c.access.legacy, "with a users file, the legacy pair needs TXTRADER_PASSWORD");
        let t = c.access.tls.expect("tls");
        assert_eq!((t.bind_address.to_string().as_str(), t.http_port, t.tcp_port, t.files.require_client_cert), ("10.1.2.3", 50081, 50091, true));
        assert!(errors(&[("TXTRADER_TLS_CERT_FILE", "/c.pem")]).contains("give both or neither"));
        assert!(errors(&[("TXTRADER_TLS_CLIENT_CA_FILE", "/ca.pem")]).contains("client certificates need TLS"));
        assert!(errors(&[("TXTRADER_TLS_CLIENT_CERT", "maybe")]).contains("expected required or optional"));
        assert!(errors(&[("TXTRADER_MAX_CONNECTIONS_PER_ADDRESS", "0")]).contains("at least 1"));
    }

    #[test]
    fn defaults_work_on_a_fresh_machine() {
        let c = Config::from_map(&env(&[]), "box").expect("defaults");
        assert_eq!(c.data_dir, Some(std::path::PathBuf::from("/home/box/.local/share/txtrader")));
        assert_eq!(c.journal_batch, 10_000);
        assert_eq!(
            c.compaction,
            CompactionSettings {
                archive_after: Duration::from_secs(86_400),
                every: Some(Duration::from_secs(3600)),
                records: Some(1_000_000)
            }
        );
        assert_eq!(c.http_port, 50080);
        assert_eq!(c.tcp_port, 50090);
        assert_eq!(c.bind_address, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(c.mode, [ModeEntry { name: "sim".into(), kind: "sim".into() }]);
        assert!(c.flags.high_low && c.flags.barchart && !c.flags.ticker);
        assert_eq!(c.timeouts.order, Duration::from_secs(300));
        assert!(c.stream.max_frame < 512 * 1024 * 1024, "far below the original's 512 MiB");
        assert!(!c.stream.disconnect_slow);
        assert!(!c.testing);
    }

    #[test]
    fn the_data_folder_follows_xdg_and_can_be_named_or_turned_off() {
        let xdg = Config::from_map(&env(&[("XDG_DATA_HOME", "/data")]), "box").expect("config");
        assert_eq!(xdg.data_dir, Some(std::path::PathBuf::from("/data/txtrader")));
        let named = Config::from_map(&env(&[("TXTRADER_DATA_DIR", "/srv/tx")]), "box").expect("config");
        assert_eq!(named.data_dir, Some(std::path::PathBuf::from("/srv/tx")));
        let off = Config::from_map(&BTreeMap::from([("TXTRADER_JOURNAL".to_owned(), "0".to_owned())]), "box").expect("config");
        assert_eq!(off.data_dir, None);
        let e = Config::from_map(&BTreeMap::new(), "box").expect_err("no home, no folder");
        assert!(e.to_string().contains("TXTRADER_DATA_DIR"), "{e}");
    }

    #[test]
    fn secrets_are_masked_and_empty_means_unset() {
        let c = Config::from_map(
            &env(&[("TXTRADER_PASSWORD", "hunter2"), ("TXTRADER_HTTP_PORT", ""), ("TXTRADER_SIM_CASH", "5")]),
            "box",
        )
        .expect("config");
        assert_eq!(c.password, "hunter2");
        assert_eq!(c.http_port, 50080);
        let line = c.report.iter().find(|l| l.key == "PASSWORD").expect("reported");
        assert_eq!(line.shown, "********");
        assert!(!c.report.iter().any(|l| l.shown.contains("hunter2")));
        assert_eq!(c.adapter_settings["sim"]["cash"], "5");
    }

    #[test]
    fn all_errors_at_once() {
        let e = Config::from_map(
            &env(&[
                ("TXTRADER_HTTP_PORT", "http"),
                ("TXTRADER_ENABLE_TICKER", "yes"),
                ("TXTRADER_MODE", "sim,api"),
                ("TXTRADER_API_TIMEZONE", "Nowhere/Land"),
            ]),
            "box",
        )
        .expect_err("invalid");
        assert_eq!(e.0.len(), 4, "{e}");
        assert!(e.to_string().contains("would shadow TXTRADER_API_*"), "{e}");
        let e = Config::from_map(&env(&[("TXTRADER_MODE", "sim,sim")]), "box").expect_err("duplicate");
        assert!(e.to_string().contains("given twice"), "{e}");
    }

    #[test]
    fn several_adapter_instances_with_their_own_settings() {
        let c = Config::from_map(
            &env(&[("TXTRADER_MODE", "sim, paper=sim"), ("TXTRADER_PAPER_ACCOUNTS", "PAPER.A.B.C"), ("TXTRADER_SIM_CASH", "5")]),
            "box",
        )
        .expect("config");
        assert_eq!(c.mode[1], ModeEntry { name: "paper".into(), kind: "sim".into() });
        assert_eq!(c.adapter_settings["paper"]["accounts"], "PAPER.A.B.C");
        assert_eq!(c.adapter_settings["sim"]["cash"], "5");
        assert!(!c.adapter_settings["sim"].contains_key("accounts"));
    }

    #[test]
    fn time_offset_only_in_test_mode() {
        let c = Config::from_map(&env(&[("TXTRADER_TIME_OFFSET", "900")]), "box").expect("config");
        assert_eq!(c.time_offset, 0);
        assert_eq!(c.warnings.len(), 1);
        let c = Config::from_map(&env(&[("TXTRADER_TIME_OFFSET", "900"), ("TXTRADER_TESTING", "1")]), "box")
            .expect("config");
        assert_eq!(c.time_offset, 900);
        // "0" means off (the original turned test mode on for any non-empty value)
        let c = Config::from_map(&env(&[("TXTRADER_TIME_OFFSET", "900"), ("TXTRADER_TESTING", "0")]), "box")
            .expect("config");
        assert_eq!(c.time_offset, 0);
        let c = Config::from_map(&env(&[("TXTRADER_TIME_OFFSET", "900")]), "testbox").expect("config");
        assert!(c.testing);
    }
}
