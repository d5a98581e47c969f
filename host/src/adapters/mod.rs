//! Adapter instances as the gateway sees them: where their code comes from, and the link to a
//! running instance.
//!
//! Every adapter, built in or loaded from a library, runs behind the same C ABI ([`ffi`]): the
//! built-in simulator is linked in but still reached through its exported descriptor, so the
//! default configuration exercises the dynamic-library boundary every time it runs. [`loader`]
//! opens and validates libraries; [`watch`] reports new builds dropped into the adapter folder.
//!
//! This module does not decide what runs: the gateway core owns the instances. **Hot swap** —
//! a new generation created beside the running one, the state handed over, routing switched,
//! the old one drained — lives in `gateway/core/hot_swap.rs`; sending to an instance and its
//! broker link in `gateway/core/slots.rs`.

pub mod ffi;
pub mod loader;
pub mod watch;

use loader::{AdapterIdentity, LoadedLibrary};
use std::path::PathBuf;
use std::sync::Arc;
use txtrader_plugin_api::abi::Descriptor;
use txtrader_plugin_api::adapter::{Adapter, AdapterConfig, AdapterError, Host};
use txtrader_plugin_api::wire::{AdapterEvent, AdapterRequest};

/// A running adapter instance.
pub trait AdapterLink: Send {
    /// The instance name.
    fn name(&self) -> &str;
    /// Hands one request to the adapter. Returns as soon as the adapter has queued it.
    ///
    /// # Errors
    /// The adapter's refusal (closed, undecodable, panicked).
    fn send(&mut self, request: &AdapterRequest) -> Result<(), AdapterError>;
    /// True once the adapter panicked: it must be restarted.
    fn faulted(&self) -> bool {
        false
    }
    /// Stops the adapter and waits for its threads.
    fn shutdown(&mut self);
}

/// Where an instance's events go. Called from the adapter's threads; must not block.
pub type EventSink = Arc<dyn Fn(AdapterEvent) + Send + Sync>;

type Factory = Arc<dyn Fn(&AdapterConfig, EventSink) -> Result<Box<dyn AdapterLink>, AdapterError> + Send + Sync>;

/// Where an adapter's code comes from: what it is, and how to create an instance of it.
#[derive(Clone)]
pub struct AdapterSource {
    /// Name, version and build id.
    pub identity: AdapterIdentity,
    /// The library file, for adapters loaded from one.
    pub path: Option<PathBuf>,
    /// The library file's SHA-256, for adapters loaded from one.
    pub sha256: Option<String>,
    make: Factory,
}

impl std::fmt::Debug for AdapterSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdapterSource").field("identity", &self.identity).field("path", &self.path).finish_non_exhaustive()
    }
}

impl AdapterSource {
    /// A source reached through a C ABI descriptor.
    pub fn from_descriptor(descriptor: &'static Descriptor, path: Option<PathBuf>) -> Self {
        Self {
            identity: AdapterIdentity::of(descriptor),
            path,
            sha256: None,
            make: Arc::new(move |config, sink| Ok(Box::new(ffi::FfiAdapter::create(descriptor, config, sink)?))),
        }
    }

    /// A built-in adapter by kind.
    pub fn builtin(kind: &str) -> Option<Self> {
        loader::builtin(kind).map(|d| Self::from_descriptor(d, None))
    }

    /// A loaded library.
    pub fn library(lib: &LoadedLibrary) -> Self {
        Self { sha256: Some(lib.sha256.clone()), ..Self::from_descriptor(lib.descriptor, Some(lib.path.clone())) }
    }

    /// An adapter linked into this binary and called directly, without the C ABI (requests are
    /// not serialized; events still are, as the `Host` API emits bytes). For tests and as the
    /// baseline the C ABI is measured against; txtraderd itself runs every adapter through the
    /// ABI.
    pub fn linked<A: Adapter>() -> Self {
        let identity = AdapterIdentity { name: A::NAME.into(), version: A::VERSION.into(), ..AdapterIdentity::host() };
        Self::factory(identity, |config, sink| {
            let host = Host::new(Arc::new(Bridge { name: config.instance.clone(), sink }));
            Ok(Box::new(Linked { name: config.instance.clone(), adapter: A::create(config.clone(), host)? }))
        })
    }

    /// Any factory (tests and in-process adapters).
    pub fn factory(
        identity: AdapterIdentity,
        make: impl Fn(&AdapterConfig, EventSink) -> Result<Box<dyn AdapterLink>, AdapterError> + Send + Sync + 'static,
    ) -> Self {
        Self { identity, path: None, sha256: None, make: Arc::new(make) }
    }

    /// Where it comes from, for operators: the library path or `built in`.
    pub fn origin(&self) -> String {
        self.path.as_ref().map_or_else(|| "built in".to_owned(), |p| p.display().to_string())
    }

    /// Creates an instance.
    ///
    /// # Errors
    /// The adapter's refusal.
    pub fn create(&self, config: &AdapterConfig, sink: EventSink) -> Result<Box<dyn AdapterLink>, AdapterError> {
        (self.make)(config, sink)
    }
}

/// One adapter instance the gateway runs: its name, kind, configuration and source.
#[derive(Clone, Debug)]
pub struct AdapterSpec {
    /// Instance name (unique), e.g. `sim` or `paper`.
    pub name: String,
    /// Adapter kind, e.g. `sim`: a library with that descriptor name replaces the source.
    pub kind: String,
    /// Its configuration.
    pub config: AdapterConfig,
    /// Its code.
    pub source: AdapterSource,
}

/// A directly linked adapter (see [`AdapterSource::linked`]).
struct Linked<A> {
    name: String,
    adapter: A,
}

impl<A: Adapter> AdapterLink for Linked<A> {
    fn name(&self) -> &str {
        &self.name
    }

    fn send(&mut self, request: &AdapterRequest) -> Result<(), AdapterError> {
        self.adapter.handle(request.clone())
    }

    fn shutdown(&mut self) {
        self.adapter.shutdown();
    }
}

/// Decodes a linked adapter's events for the gateway.
struct Bridge {
    name: String,
    sink: EventSink,
}

impl txtrader_plugin_api::adapter::EventSink for Bridge {
    fn emit(&self, event: &[u8]) {
        match txtrader_plugin_api::wire::decode_event(event) {
            Ok(e) => (self.sink)(e),
            Err(e) => tracing::error!(adapter = %self.name, cause = %e, "undecodable event from adapter"),
        }
    }

    fn log(&self, level: txtrader_plugin_api::adapter::LogLevel, message: &str) {
        use txtrader_plugin_api::adapter::LogLevel as L;
        let adapter = self.name.as_str();
        match level {
            L::Error => tracing::error!(adapter, "{message}"),
            L::Warn => tracing::warn!(adapter, "{message}"),
            L::Info => tracing::info!(adapter, "{message}"),
            L::Debug => tracing::debug!(adapter, "{message}"),
            L::Trace => tracing::trace!(adapter, "{message}"),
        }
    }
}

/// The adapter folder when `TXTRADER_ADAPTER_DIR` is not set: `adapters/` beside the binary.
pub fn default_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("adapters")))
        .unwrap_or_else(|| PathBuf::from("adapters"))
}

/// Why the adapter folder must not be used: it is writable by users other than its owner
/// (group or others), so anyone of them could put code into the gateway. `None` when it is safe
/// or does not exist (it is then created, private to this user).
pub fn unsafe_folder(dir: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir).ok()?.permissions().mode();
    (mode & 0o022 != 0).then(|| format!("the adapter folder {} is writable by other users (mode {:o}); anyone of them could load code into the gateway (chmod go-w)", dir.display(), mode & 0o777))
}

/// What the adapter folder held at start: the libraries that loaded, newest build of each
/// adapter name first, and the files that were refused.
#[derive(Debug, Default)]
pub struct FolderScan {
    /// Loaded libraries by adapter name.
    pub libraries: Vec<LoadedLibrary>,
    /// Refused files.
    pub refused: Vec<loader::LoadError>,
}

/// Loads every library in the adapter folder. When two files carry the same adapter name, the
/// most recently modified one wins (the other is reported as refused).
pub fn scan_folder(dir: &std::path::Path, copy_dir: &std::path::Path) -> FolderScan {
    let mut out = FolderScan::default();
    let mut found: Vec<(std::time::SystemTime, LoadedLibrary)> = Vec::new();
    for path in watch::scan(dir) {
        match loader::load(&path, copy_dir) {
            Ok(lib) => {
                let modified = std::fs::metadata(&path).and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
                found.push((modified, lib));
            }
            Err(e) => out.refused.push(e),
        }
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    for (_, lib) in found {
        if let Some(newer) = out.libraries.iter().find(|l| l.identity.name == lib.identity.name) {
            let reason = format!("adapter {} is also in {}, which is newer", lib.identity.name, newer.path.display());
            out.refused.push(loader::LoadError { path: lib.path.clone(), errors: vec![reason] });
        } else {
            out.libraries.push(lib);
        }
    }
    out
}

/// Why an adapter instance cannot be set up.
#[derive(Debug, thiserror::Error)]
#[error("TXTRADER_MODE: instance {name}: no adapter of kind {kind:?} (built in: sim; in the adapter folder: {})", if available.is_empty() { "none".to_owned() } else { available.join(", ") })]
pub struct UnknownKind {
    /// Instance name.
    pub name: String,
    /// The kind asked for.
    pub kind: String,
    /// Kinds found in the adapter folder.
    pub available: Vec<String>,
}

/// The adapter instances of `TXTRADER_MODE`: a library from the folder when one carries the
/// kind's name, else the built-in adapter of that kind. Each is configured as `common`, with
/// its own name and settings.
///
/// # Errors
/// [`UnknownKind`] for a kind neither built in nor in the folder.
pub fn plan(
    mode: &[crate::config::ModeEntry],
    libraries: &[LoadedLibrary],
    settings: &std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
    common: &AdapterConfig,
) -> Result<Vec<AdapterSpec>, UnknownKind> {
    mode.iter()
        .map(|m| {
            let source = libraries
                .iter()
                .find(|l| l.identity.name == m.kind)
                .map(AdapterSource::library)
                .or_else(|| AdapterSource::builtin(&m.kind))
                .ok_or_else(|| UnknownKind {
                    name: m.name.clone(),
                    kind: m.kind.clone(),
                    available: libraries.iter().map(|l| l.identity.name.clone()).collect(),
                })?;
            let config = AdapterConfig { instance: m.name.clone(), settings: settings.get(&m.name).cloned().unwrap_or_default(), ..common.clone() };
            Ok(AdapterSpec { name: m.name.clone(), kind: m.kind.clone(), config, source })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModeEntry;
    use std::collections::BTreeMap;

    fn mode(items: &[(&str, &str)]) -> Vec<ModeEntry> {
        items.iter().map(|(n, k)| ModeEntry { name: (*n).into(), kind: (*k).into() }).collect()
    }

    #[test]
    fn instances_get_their_code_and_their_own_settings() {
        let mut settings = BTreeMap::new();
        settings.insert("paper".to_owned(), BTreeMap::from([("accounts".to_owned(), "P.A.B.C".to_owned())]));
        let specs = plan(&mode(&[("sim", "sim"), ("paper", "sim")]), &[], &settings, &AdapterConfig { timezone: "America/New_York".into(), ..Default::default() }).expect("planned");
        assert_eq!(specs.len(), 2);
        assert_eq!((specs[1].name.as_str(), specs[1].kind.as_str()), ("paper", "sim"));
        assert_eq!(specs[1].config.instance, "paper");
        assert_eq!(specs[1].config.settings["accounts"], "P.A.B.C");
        assert!(specs[0].config.settings.is_empty());
        assert_eq!(specs[0].source.origin(), "built in");
    }

    #[test]
    fn an_unknown_kind_is_refused_with_what_there_is() {
        let e = plan(&mode(&[("ib", "tws")]), &[], &BTreeMap::new(), &AdapterConfig { timezone: "UTC".into(), ..Default::default() }).expect_err("no such adapter");
        assert_eq!(e.to_string(), "TXTRADER_MODE: instance ib: no adapter of kind \"tws\" (built in: sim; in the adapter folder: none)");
    }
}
