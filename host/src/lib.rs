//! txtraderd: a trading API gateway.
//!
//! A trader's program talks to txtraderd in one normalized world of symbols, quotes, bars,
//! orders, executions, positions and accounts; txtraderd talks to brokers through adapters. It
//! serves the original txTrader HTTP API (and JSON-RPC 2.0) so existing clients keep working.
//!
//! # Layout
//! - [`config`]: `TXTRADER_*` environment configuration.
//! - [`gateway`]: the core task that owns the trading state (OMS, market data, accounts, the
//!   adapter instances and their hot swaps, reconciliation) and its handle; what it journals.
//! - [`journal`]: the durable journal's storage engine (records, group commit, rotation).
//! - [`risk`]: the pre-trade check, limits and trading states (the kill switch).
//! - [`adapters`]: adapter code behind the C ABI: the built-in simulator, library loading and
//!   validation, the adapter folder watcher.
//! - [`strategies`]: sandboxed WebAssembly strategies (wasmtime): live and replayed.
//! - [`compat`]: txTrader argument conventions, commands and JSON shapes.
//! - [`access`]: who a caller is (legacy pair, users file, tokens, certificates) and what its
//!   roles allow; per-user request rates.
//! - [`rpc`]: the HTTP listener (leaf routes and JSON-RPC).
//! - [`stream`]: the netstring TCP stream (pushes and commands).
//! - [`tls`]: TLS for both listeners (certificates reloaded when they change; mTLS).
//! - [`per_address`]: connections counted per remote address.
//! - [`files`]: the operator's files, read with a size limit.
//! - [`shutdown`]: coordinated shutdown.
//!
//! Dependencies point one way: the listeners (`rpc`, `stream`) and `strategies` reach the
//! gateway through its handle; the gateway uses `adapters`, `journal` and `risk`, which know
//! nothing of it.

pub mod access;
pub mod adapters;
pub mod files;
pub mod per_address;
pub mod tls;
pub mod compat;
pub mod config;
pub mod gateway;
pub mod journal;
pub mod risk;
pub mod rpc;
pub mod shutdown;
pub mod strategies;
pub mod stream;

use compat::routes::parse_route;
use config::Config;
use gateway::GatewaySettings;
use shutdown::{ExitReason, Shutdown};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use std::path::{Path, PathBuf};

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The initial route is unusable.
    #[error("TXTRADER_API_ROUTE: {0}")]
    Route(String),
    /// An adapter instance has no code to run.
    #[error(transparent)]
    Adapter(#[from] adapters::UnknownKind),
    /// The gateway stopped while starting.
    #[error("the gateway stopped while starting")]
    Stopped,
    /// The wasm engine for strategies could not be set up.
    #[error(transparent)]
    Strategies(#[from] strategies::EngineError),
    /// The risk limits file is unreadable or invalid.
    #[error(transparent)]
    Risk(#[from] risk::limits::LimitsError),
    /// The users file is unreadable or invalid.
    #[error(transparent)]
    Users(#[from] access::users::UsersError),
    /// The TLS certificate, key or client CA cannot be used.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The adapter folder is writable by other users.
    #[error("{0}")]
    AdapterFolder(String),
    /// The private folder for adapter copies cannot be created.
    #[error("cannot create a private folder for adapter copies: {0}")]
    CopyDir(std::io::Error),
    /// The journal cannot be opened or read back.
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A started gateway: its handle, where it listens, and how to stop it.
#[derive(Debug)]
pub struct Running {
    /// The gateway handle.
    pub gateway: gateway::Gateway,
    /// The strategy manager.
    pub strategies: strategies::Strategies,
    /// The HTTP address actually bound.
    pub http_addr: SocketAddr,
    /// The stream address actually bound.
    pub tcp_addr: SocketAddr,
    /// The HTTPS address, with TLS configured.
    pub https_addr: Option<SocketAddr>,
    /// The TLS stream address, with TLS configured.
    pub tls_tcp_addr: Option<SocketAddr>,
    /// The adapter folder (watched when it exists).
    pub adapter_dir: PathBuf,
    /// The private folder the loaded copies of adapter libraries live in.
    pub copy_dir: PathBuf,
    /// The shutdown trigger.
    pub shutdown: Shutdown,
    servers: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
    core: tokio::task::JoinHandle<()>,
    /// The adapter folder's, the risk limits', the users file's and the TLS files' watchers.
    watchers: Vec<adapters::watch::Watcher>,
}

/// Starts the gateway: adapters, core, folder watcher, HTTP and stream listeners.
///
/// # Errors
/// [`StartError`] when the route, an adapter instance or a listener cannot be set up.
pub async fn start(config: &Config) -> Result<Running, StartError> {
    let shutdown = Shutdown::new();
    let route = parse_route(&serde_json::Value::from(config.api_route.as_str())).map_err(StartError::Route)?;
    let adapter_dir = config.adapter_dir.clone().unwrap_or_else(adapters::default_dir);
    if let Some(why) = adapters::unsafe_folder(&adapter_dir) {
        return Err(StartError::AdapterFolder(why));
    }
    // Loaded libraries are copies in a folder of our own: created exclusively, with a random
    // name, readable by this user only (never a predictable path in the shared temp folder).
    let private = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o700);
    let copy_dir = tempfile::Builder::new().prefix("txtraderd-adapters-").permissions(private).tempdir().map_err(StartError::CopyDir)?.keep();
    let (scan, adapter_dir) = {
        let (dir, copies) = (adapter_dir.clone(), copy_dir.clone());
        let scan = tokio::task::spawn_blocking(move || adapters::scan_folder(&dir, &copies)).await.unwrap_or_default();
        (scan, adapter_dir)
    };
    for lib in &scan.libraries {
        tracing::info!(library = %lib.path.display(), adapter = %lib.identity.name, version = %lib.identity.version, "adapter library found");
        for note in &lib.notes {
            tracing::info!(library = %lib.path.display(), "{note}");
        }
    }
    for e in &scan.refused {
        tracing::error!(%e, "adapter library refused");
    }
    // what every instance is told alike; plan adds its name and settings
    let common = txtrader_plugin_api::adapter::AdapterConfig {
        timezone: config.api_timezone.name().to_owned(),
        api: txtrader_plugin_api::adapter::ApiEndpoint {
            host: config.api_host.clone(),
            port: config.api_port_set.then_some(config.api_port),
            client_id: config.api_client_id,
            account: config.api_account.clone(),
        },
        quote_fields: txtrader_plugin_api::adapter::QuoteFields { bid_ask: config.flags.ticker, high_low: config.flags.high_low },
        ..Default::default()
    };
    let mut specs = adapters::plan(&config.mode, &scan.libraries, &config.adapter_settings, &common)?;
    for s in &mut specs {
        s.config.data_dir = config.data_dir.as_ref().map(|d| d.join("adapters").join(&s.name).display().to_string());
    }
    for s in &specs {
        tracing::info!(adapter = %s.name, kind = %s.kind, version = %s.source.identity.version, source = %s.source.origin(), "adapter instance");
    }
    let mut settings = GatewaySettings::from_config(config, route, specs);
    if let Some(path) = &config.risk_file {
        settings.limits = risk::limits::Limits::load(path)?;
        tracing::info!(file = %path.display(), "risk limits loaded");
    }
    settings.library_copy_dir = copy_dir.clone();
    settings.rejected = scan
        .refused
        .into_iter()
        .map(|e| gateway::RejectedLibrary { path: e.path, errors: e.errors, at: txtrader_plugin_api::model::UnixNanos::now() })
        .collect();
    let recovered = match &config.data_dir {
        Some(dir) => Some(recover(&journal::JournalSettings { dir: dir.clone(), max_batch: config.journal_batch }, config.stream.replay)?),
        None => {
            tracing::warn!("TXTRADER_JOURNAL=0: running without a journal; orders and executions do not survive a restart");
            None
        }
    };
    let (gateway, core) = gateway::spawn_recovered(settings, shutdown.clone(), recovered);
    let watcher = watch_folder(&adapter_dir, &gateway);
    let limits_watcher = config.risk_file.as_deref().and_then(|f| watch_limits(f, &gateway));
    let strategies = strategies::runner::spawn(gateway.clone(), shutdown.clone(), config.strategy_dir.clone())?;

    let users = match &config.access.users_file {
        Some(file) => {
            let users = access::users::Users::load(file)?;
            tracing::info!(file = %file.display(), users = users.users.len(), legacy = config.access.legacy, "users loaded");
            users
        }
        None => access::users::Users::default(),
    };
    let legacy = config.access.legacy.then_some((config.username.as_str(), config.password.as_str()));
    let access = access::Access { authenticator: access::Authenticator::new(legacy, users), limiter: access::RateLimiter::default() };
    let users_watcher = config.access.users_file.as_deref().and_then(|f| watch_users(f, &access));
    let tls = match &config.access.tls {
        Some(t) => Some((tls::Tls::load(t.files.clone())?, t)),
        None => None,
    };
    let tls_watchers = match &tls {
        Some((t, _)) => t.watch().unwrap_or_else(|e| {
            tracing::warn!(cause = %e, "cannot watch the TLS files: a renewed certificate needs a restart");
            Vec::new()
        }),
        None => Vec::new(),
    };

    let bind = |addr: SocketAddr| async move {
        let l = TcpListener::bind(addr).await.map_err(|source| StartError::Bind { addr, source })?;
        let at = l.local_addr().map_err(|source| StartError::Bind { addr, source })?;
        Ok::<_, StartError>((l, at))
    };
    let (listener, http_addr) = bind(SocketAddr::new(config.bind_address, config.http_port)).await?;
    let (tcp_listener, tcp_addr) = bind(SocketAddr::new(config.bind_address, config.tcp_port)).await?;
    let tls_listeners = match &tls {
        Some((t, c)) => Some((t.clone(), bind(SocketAddr::new(c.bind_address, c.http_port)).await?, bind(SocketAddr::new(c.bind_address, c.tcp_port)).await?)),
        None => None,
    };
    let compat = compat::CompatConfig::from_config(config);
    let app = rpc::App {
        gateway: gateway.clone(),
        strategies: strategies.clone(),
        compat: Arc::new(compat.clone()),
        shutdown: shutdown.clone(),
        started: chrono::Local::now(),
        access: access.clone(),
        max_body: config.http_max_body,
        body_timeout: config.http_body_timeout,
        log: Arc::new(config.log.clone()),
    };
    let stream_settings = stream::StreamSettings::from_config(config);
    let hub = stream::hub::start(gateway.clone(), compat, stream_settings.replay, stream_settings.log_client_messages)
        .await
        .ok_or(StartError::Stopped)?;
    let env = stream::session::SessionEnv {
        ctx: app.base_ctx(),
        hub,
        access,
        settings: Arc::new(stream_settings),
        greeting: stream::greeting().into(),
    };
    let stream_gate = stream::Gate::new(config.access.max_per_address);
    let limits = rpc::listener::Limits {
        header_timeout: config.http_header_timeout,
        max_connections: config.http_max_connections,
        max_per_address: config.access.max_per_address,
    };
    let http_gate = rpc::listener::Gate::new(limits);
    tokio::spawn(stream::serve(tcp_listener, env.clone(), stream_gate.clone(), None));
    let mut servers = vec![tokio::spawn(rpc::serve(listener, app.clone(), http_gate.clone(), None))];
    let (mut https_addr, mut tls_tcp_addr) = (None, None);
    if let Some((tls, (https, https_at), (tls_tcp, tls_tcp_at))) = tls_listeners {
        tokio::spawn(stream::serve(tls_tcp, env, stream_gate, Some(tls.clone())));
        servers.push(tokio::spawn(rpc::serve(https, app, http_gate, Some(tls))));
        (https_addr, tls_tcp_addr) = (Some(https_at), Some(tls_tcp_at));
        tracing::info!(%https_at, %tls_tcp_at, "HTTPS API and TLS stream listening");
    }
    tracing::info!(%http_addr, %tcp_addr, "HTTP API and stream listening");
    Ok(Running {
        gateway,
        strategies,
        http_addr,
        tcp_addr,
        https_addr,
        tls_tcp_addr,
        adapter_dir,
        shutdown,
        servers,
        core,
        watchers: [watcher, limits_watcher, users_watcher].into_iter().flatten().chain(tls_watchers).collect(),
        copy_dir,
    })
}

/// Watches the adapter folder (creating it when it can); new builds go to the gateway.
fn watch_folder(dir: &Path, gateway: &gateway::Gateway) -> Option<adapters::watch::Watcher> {
    let created = {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
    };
    if let Err(e) = created {
        tracing::warn!(dir = %dir.display(), cause = %e, "adapter folder unavailable: new builds will not be noticed");
        return None;
    }
    let g = gateway.clone();
    match adapters::watch::start(dir, Duration::from_millis(500), move |path| g.library_changed(path)) {
        Ok(w) => {
            tracing::info!(dir = %dir.display(), "watching the adapter folder");
            Some(w)
        }
        Err(e) => {
            tracing::warn!(dir = %dir.display(), cause = %e, "cannot watch the adapter folder: new builds will not be noticed");
            None
        }
    }
}

/// Watches the users file: a valid new version replaces the users (remembered passwords and
/// rate buckets are forgotten); an invalid one is refused with its reason and the users in force
/// stay.
fn watch_users(file: &Path, access: &access::Access) -> Option<adapters::watch::Watcher> {
    let (path, access) = (file.to_path_buf(), access.clone());
    let watched = adapters::watch::watch_file(file, move || {
        match access::users::Users::load(&path) {
            Ok(users) => {
                tracing::info!(file = %path.display(), users = users.users.len(), "users file reloaded");
                access.authenticator.replace_users(users);
                access.limiter.reset();
            }
            Err(e) => tracing::error!(error = %e, "users file refused; the users in force stay"),
        }
    });
    match watched {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(file = %file.display(), cause = %e, "cannot watch the users file: changes need a restart");
            None
        }
    }
}

/// Watches the risk limits file: a valid new version replaces the limits in force; an invalid
/// one is refused with its line and reason (logged, and an alert on the stream), and the limits
/// in force stay.
fn watch_limits(file: &Path, gateway: &gateway::Gateway) -> Option<adapters::watch::Watcher> {
    let (g, rt) = (gateway.clone(), tokio::runtime::Handle::current());
    let watched = risk::watch::watch(file, move |read| {
        let g = g.clone();
        rt.spawn(async move {
            match read {
                Ok(limits) => g.set_limits(limits).await,
                Err(e) => {
                    tracing::error!(error = %e, "risk limits file refused; the limits in force stay");
                    g.alert("RISK", format!("{e}; the limits in force stay")).await;
                }
            }
        });
    });
    match watched {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(file = %file.display(), cause = %e, "cannot watch the risk limits file: changes need a restart");
            None
        }
    }
}

impl Running {
    /// Waits for the shutdown, then for the listener and the core (adapter included) to stop.
    pub async fn wait(self) -> ExitReason {
        let reason = self.shutdown.wait().await;
        tracing::info!(?reason, "shutting down");
        for server in self.servers {
            match tokio::time::timeout(Duration::from_secs(10), server).await {
                Ok(Ok(Err(e))) => tracing::error!(cause = %e, "HTTP listener failed"),
                Err(_) => tracing::warn!("HTTP listener did not stop within 10 s"),
                _ => {}
            }
        }
        drop(self.watchers);
        if tokio::time::timeout(Duration::from_secs(10), self.core).await.is_err() {
            tracing::warn!("gateway core did not stop within 10 s");
        }
        // Loaded copies are already unlinked; the folder itself goes now.
        let _ = std::fs::remove_dir(&self.copy_dir);
        reason
    }
}

/// Reads the journal back, saying what it found.
fn recover(settings: &journal::JournalSettings, keep_pushes: usize) -> Result<gateway::recovery::Recovered, StartError> {
    let r = gateway::recovery::recover(settings, keep_pushes)?;
    if let Some(bytes) = r.scan.torn_wal_bytes {
        tracing::warn!(path = %settings.path().display(), bytes, "journal: the last write was torn (a crash or power loss mid-write); the incomplete commit is discarded");
    }
    if let Some(what) = &r.scan.rotation {
        tracing::warn!(path = %settings.path().display(), "journal: {what}");
    }
    if let Some((first, count, why)) = &r.scan.truncated {
        tracing::warn!(path = %settings.path().display(), first, count, "journal: {count} damaged record(s) at the end, from record {first} ({why}), truncated; recovering up to record {}", r.scan.last);
    }
    if r.is_fresh() {
        tracing::info!(path = %settings.path().display(), "journal: empty, starting fresh");
    } else {
        tracing::info!(
            path = %settings.path().display(),
            records = r.scan.records,
            orders = r.oms.orders().count(),
            executions = r.oms.executions().count(),
            in_doubt = r.in_doubt.len(),
            took_ms = r.took.as_millis(),
            from_checkpoint = r.scan.checkpoint,
            "journal: books recovered"
        );
    }
    Ok(r)
}
