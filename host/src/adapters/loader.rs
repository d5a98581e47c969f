//! Finding adapter descriptors: built in, or in dynamic libraries.
//!
//! A library file is first copied to a unique path (the dynamic loader caches libraries by
//! path, so a new build at the same path would otherwise never be seen), then opened with
//! `libloading`, its entry symbol called, and the descriptor it returns validated: every problem
//! is reported at once. Libraries are never unloaded: thread-local destructors make `dlclose`
//! unsound, so every opened library stays mapped for the life of the process (a rejected one
//! too, since its initializers already ran). One of the two modules of the host where `unsafe`
//! code is allowed.
#![allow(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use txtrader_plugin_api::abi::{BuildId, Descriptor, EntryFn, Str, ABI_VERSION, ENTRY_SYMBOL};

/// The adapters linked into txtraderd.
pub fn builtin(kind: &str) -> Option<&'static Descriptor> {
    match kind {
        // SAFETY: the entry function of a linked crate returns a pointer to its static
        // descriptor, valid for the whole program.
        "sim" => Some(unsafe { &*txtrader_adapter_sim::txtrader_adapter_v1() }),
        _ => None,
    }
}

/// The facts of a descriptor, copied out as Rust strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterIdentity {
    /// ABI version.
    pub abi_version: u32,
    /// Adapter name (kind).
    pub name: String,
    /// Adapter version.
    pub version: String,
    /// plugin-api version it was built against.
    pub plugin_api: String,
    /// Compiler.
    pub rustc: String,
    /// Target triple.
    pub target: String,
    /// Cargo profile.
    pub profile: String,
}

impl AdapterIdentity {
    /// Reads a descriptor's strings; an unreadable one is reported in place.
    pub fn of(d: &Descriptor) -> Self {
        let s = |x: Str, what: &str| {
            // SAFETY: descriptor strings point into the library's static data, which stays
            // mapped forever (libraries are never unloaded).
            unsafe { x.to_str() }.map_or_else(|| format!("<{what}: not UTF-8>"), str::to_owned)
        };
        Self {
            abi_version: d.abi_version,
            name: s(d.name, "name"),
            version: s(d.version, "version"),
            plugin_api: s(d.build.plugin_api, "plugin-api version"),
            rustc: s(d.build.rustc, "rustc"),
            target: s(d.build.target, "target"),
            profile: s(d.build.profile, "profile"),
        }
    }

    /// The host's own build, for comparison.
    pub fn host() -> Self {
        let s = |x: Str| {
            // SAFETY: static strings of this binary.
            unsafe { x.to_str() }.unwrap_or_default().to_owned()
        };
        let b = BuildId::CURRENT;
        Self {
            abi_version: ABI_VERSION,
            name: String::new(),
            version: String::new(),
            plugin_api: s(b.plugin_api),
            rustc: s(b.rustc),
            target: s(b.target),
            profile: s(b.profile),
        }
    }

    /// The build id as one line: `plugin-api 0.1.0; rustc 1.95.0 (…); x86_64-…; debug`.
    pub fn build_id(&self) -> String {
        format!("plugin-api {}; {}; {}; {}", self.plugin_api, self.rustc, self.target, self.profile)
    }
}

/// What validation found: problems refuse the library, notes are only logged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validation {
    /// Reasons to refuse it.
    pub errors: Vec<String>,
    /// Differences that do not matter across the C ABI (compiler, profile).
    pub notes: Vec<String>,
}

fn major_minor(v: &str) -> Option<(u64, u64)> {
    let mut it = v.split('.').map(|p| p.split(|c: char| !c.is_ascii_digit()).next().and_then(|d| d.parse().ok()));
    Some((it.next()??, it.next()??))
}

/// Checks a library's identity against the host's, reporting every problem.
pub fn validate(lib: &AdapterIdentity, host: &AdapterIdentity) -> Validation {
    let mut v = Validation::default();
    if lib.abi_version != host.abi_version {
        v.errors.push(format!("ABI version {} (this txtraderd speaks {})", lib.abi_version, host.abi_version));
    }
    if lib.name.is_empty() || !lib.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_') {
        v.errors.push(format!("adapter name {:?} is not lower-case letters, digits, '-' and '_'", lib.name));
    }
    if lib.version.is_empty() || lib.version.starts_with('<') {
        v.errors.push(format!("adapter version {:?} is unusable", lib.version));
    }
    match (major_minor(&lib.plugin_api), major_minor(&host.plugin_api)) {
        (Some(a), Some(b)) if a == b => {}
        _ => v.errors.push(format!(
            "built against plugin-api {} (this txtraderd uses {}; major and minor must match)",
            lib.plugin_api, host.plugin_api
        )),
    }
    if lib.target != host.target {
        v.errors.push(format!("built for target {} (this txtraderd runs on {})", lib.target, host.target));
    }
    if lib.rustc != host.rustc {
        v.notes.push(format!("built with {} (txtraderd: {})", lib.rustc, host.rustc));
    }
    if lib.profile != host.profile {
        v.notes.push(format!("built in the {} profile (txtraderd: {})", lib.profile, host.profile));
    }
    v
}

/// A validated adapter library.
#[derive(Clone, Debug)]
pub struct LoadedLibrary {
    /// The file that was dropped into the adapter folder.
    pub path: PathBuf,
    /// Its descriptor (the library stays mapped forever).
    pub descriptor: &'static Descriptor,
    /// Who and what it is.
    pub identity: AdapterIdentity,
    /// Differences worth a log line.
    pub notes: Vec<String>,
    /// SHA-256 of the file's content, hex: the same build landing twice is recognised.
    pub sha256: String,
}

/// Why a library file was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {}", errors.join("; "))]
pub struct LoadError {
    /// The file.
    pub path: PathBuf,
    /// Every problem found.
    pub errors: Vec<String>,
}

static COPIES: AtomicU64 = AtomicU64::new(0);

/// Checks a file is a complete shared library for this machine before the dynamic loader maps
/// it: the loader maps segments without checking them against the file size, so a truncated
/// copy would fault (SIGBUS) at the first touch of a missing page instead of failing cleanly.
///
/// # Errors
/// Every problem found.
pub fn check_image(path: &Path) -> Result<(), Vec<String>> {
    use object::{Architecture, Object, ObjectKind, ObjectSection, ObjectSegment};
    let data = std::fs::read(path).map_err(|e| vec![format!("cannot read the file: {e}")])?;
    let len = data.len() as u64;
    let file = object::File::parse(&*data).map_err(|e| {
        if data.starts_with(b"\x7fELF") {
            vec![format!("truncated or damaged: {len} bytes, {e} (an unfinished copy?)")]
        } else {
            vec![format!("not a loadable library: {e}")]
        }
    })?;
    let mut errors = Vec::new();
    if file.kind() != ObjectKind::Dynamic {
        errors.push(format!("not a loadable library: a {:?} object, not a shared library", file.kind()));
    }
    let host = if cfg!(target_arch = "x86_64") {
        Some(Architecture::X86_64)
    } else if cfg!(target_arch = "aarch64") {
        Some(Architecture::Aarch64)
    } else {
        None
    };
    if let Some(arch) = host.filter(|a| *a != file.architecture()) {
        errors.push(format!("built for {:?} (this machine is {arch:?})", file.architecture()));
    }
    let short = file.segments().map(|s| s.file_range()).chain(file.sections().filter_map(|s| s.file_range())).any(|(offset, size)| offset.saturating_add(size) > len);
    if short {
        errors.push(format!("truncated or damaged: {len} bytes, shorter than the library's own layout says (an unfinished copy?)"));
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// Copies, opens and validates an adapter library.
///
/// # Errors
/// [`LoadError`] listing every problem: the file cannot be copied or opened as a library, the
/// entry symbol is missing, or the descriptor does not match this txtraderd.
pub fn load(path: &Path, copy_dir: &Path) -> Result<LoadedLibrary, LoadError> {
    let fail = |errors: Vec<String>| LoadError { path: path.to_path_buf(), errors };
    std::fs::create_dir_all(copy_dir).map_err(|e| fail(vec![format!("cannot create {}: {e}", copy_dir.display())]))?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("adapter");
    let n = COPIES.fetch_add(1, Ordering::Relaxed);
    let copy = copy_dir.join(format!("{stem}-{}-{n}.so", std::process::id()));
    std::fs::copy(path, &copy).map_err(|e| fail(vec![format!("cannot copy the file: {e}")]))?;
    if let Err(errors) = check_image(&copy) {
        let _ = std::fs::remove_file(&copy);
        return Err(fail(errors));
    }
    let sha256 = match std::fs::read(&copy) {
        Ok(bytes) => {
            use sha2::Digest as _;
            sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect::<String>()
        }
        Err(e) => {
            let _ = std::fs::remove_file(&copy);
            return Err(fail(vec![format!("cannot read the copy: {e}")]));
        }
    };
    // SAFETY: opening a library runs its initializers; adapter libraries are trusted code the
    // operator installed. The copy has a unique path, so this is a fresh load.
    let opened = unsafe { libloading::Library::new(&copy) };
    // The mapping outlives the file; remove the copy whatever happens.
    let _ = std::fs::remove_file(&copy);
    let library = opened.map_err(|e| fail(vec![format!("not a loadable library: {e}")]))?;
    // Never unloaded (see the module docs).
    let library: &'static libloading::Library = Box::leak(Box::new(library));
    // SAFETY: the symbol, if present, has the ABI's entry signature (that is what the name
    // promises; the descriptor's ABI version is checked before anything else is used).
    let entry = unsafe { library.get::<EntryFn>(ENTRY_SYMBOL.as_bytes()) }
        .map_err(|e| fail(vec![format!("missing entry symbol {ENTRY_SYMBOL}: {e}")]))?;
    // SAFETY: the entry function takes no arguments and returns a pointer to a static
    // descriptor inside the (forever mapped) library.
    let descriptor = unsafe { entry() };
    if descriptor.is_null() {
        return Err(fail(vec![format!("{ENTRY_SYMBOL} returned no descriptor")]));
    }
    // SAFETY: non-null, static in the mapped library. Only abi_version is read before the
    // version check; the layout of v1 descriptors is fixed.
    let descriptor: &'static Descriptor = unsafe { &*descriptor };
    if descriptor.abi_version != ABI_VERSION {
        return Err(fail(vec![format!("ABI version {} (this txtraderd speaks {ABI_VERSION})", descriptor.abi_version)]));
    }
    let identity = AdapterIdentity::of(descriptor);
    let v = validate(&identity, &AdapterIdentity::host());
    if !v.errors.is_empty() {
        return Err(fail(v.errors));
    }
    Ok(LoadedLibrary { path: path.to_path_buf(), descriptor, identity, notes: v.notes, sha256 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lib() -> AdapterIdentity {
        AdapterIdentity { name: "sim".into(), version: "0.1.0".into(), ..AdapterIdentity::host() }
    }

    #[test]
    fn the_builtin_sim_is_a_valid_library() {
        let d = builtin("sim").expect("sim is built in");
        let id = AdapterIdentity::of(d);
        assert_eq!(id.name, "sim");
        assert_eq!(validate(&id, &AdapterIdentity::host()), Validation::default());
        assert!(builtin("rtx").is_none());
    }

    #[test]
    fn every_mismatch_is_reported_at_once() {
        let host = AdapterIdentity::host();
        let bad = AdapterIdentity {
            abi_version: 2,
            name: "Bad Name".into(),
            version: String::new(),
            plugin_api: "9.9.9".into(),
            target: "wasm32-unknown-unknown".into(),
            rustc: "rustc 0.0.1".into(),
            profile: "other".into(),
        };
        let v = validate(&bad, &host);
        assert_eq!(v.errors.len(), 5, "{v:?}");
        assert_eq!(v.notes.len(), 2, "compiler and profile differences are only notes: {v:?}");
        let patch = AdapterIdentity { plugin_api: format!("{}-patched", host.plugin_api), ..lib() };
        assert!(validate(&patch, &host).errors.is_empty(), "a patch release is compatible");
    }

    #[test]
    fn files_that_are_not_adapters_are_refused_with_a_reason() {
        let dir = std::env::temp_dir().join(format!("txtrader-loader-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let text = dir.join("notes.so");
        std::fs::write(&text, b"this is not a library").expect("write");
        let e = load(&text, &dir.join("copies")).expect_err("refused");
        assert!(e.errors[0].starts_with("not a loadable library"), "{e}");
        let missing = load(&dir.join("absent.so"), &dir.join("copies")).expect_err("refused");
        assert!(missing.errors[0].starts_with("cannot copy the file"), "{missing}");
        // a real shared library without the entry symbol
        if let Some(libc) = ["/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6"].iter().map(Path::new).find(|p| p.exists()) {
            let e = load(libc, &dir.join("copies")).expect_err("refused");
            assert!(e.errors[0].starts_with("missing entry symbol txtrader_adapter_v1"), "{e}");
            // cut short: refused before the dynamic loader could map missing pages
            let bytes = std::fs::read(libc).expect("read");
            let cut = dir.join("cut.so");
            std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
            let e = load(&cut, &dir.join("copies")).expect_err("refused");
            assert_eq!(e.errors.len(), 1, "{e}");
            assert!(e.errors[0].starts_with("truncated or damaged: "), "{e}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
