//! Watches a folder and reports the files that appear, change or go: the adapter folder
//! (library files) and the strategy folder (manifests and components).
//!
//! Events are debounced (a file being copied in fires many). For adapters only `.so` files that
//! exist after the quiet period are reported; removals are ignored (unloading is an explicit
//! command). Strategies also hear of removals (a removed manifest stops its strategy).

use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A running watcher; dropping it stops watching.
pub struct Watcher {
    _debouncer: notify_debouncer_full::Debouncer<notify::RecommendedWatcher, notify_debouncer_full::RecommendedCache>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Watcher")
    }
}

/// True for the files the gateway loads.
pub fn is_library(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "so") && path.file_name().is_some_and(|n| !n.to_string_lossy().starts_with('.'))
}

/// The library files in a folder, sorted.
pub fn scan(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file() && is_library(p)).collect())
        .unwrap_or_default();
    found.sort();
    found
}

/// Starts watching `dir`; `changed` receives each library file that settled after a change.
///
/// # Errors
/// The watcher's error (e.g. the folder does not exist).
pub fn start(dir: &Path, quiet: Duration, changed: impl Fn(PathBuf) + Send + 'static) -> notify::Result<Watcher> {
    start_filtered(dir, quiet, is_library, move |p, exists| {
        if exists {
            changed(p);
        }
    })
}

/// Watches one file (through its folder, since editors replace a file by renaming another over
/// it); `changed` is called each time it settles after a change and still exists.
///
/// # Errors
/// The watcher's error (e.g. the folder does not exist).
pub fn watch_file(file: &Path, changed: impl Fn() + Send + 'static) -> notify::Result<Watcher> {
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let name = file.file_name().map(ToOwned::to_owned);
    start_filtered(&dir, Duration::from_millis(200), |_| true, move |p, exists| {
        if exists && p.file_name().map(ToOwned::to_owned) == name {
            changed();
        }
    })
}

/// Starts watching `dir` for the files `wanted` selects; `changed` receives each one that
/// settled after a change, with whether it still exists (false: removed or renamed away).
///
/// # Errors
/// The watcher's error (e.g. the folder does not exist).
pub fn start_filtered(
    dir: &Path,
    quiet: Duration,
    wanted: fn(&Path) -> bool,
    changed: impl Fn(PathBuf, bool) + Send + 'static,
) -> notify::Result<Watcher> {
    let mut debouncer = new_debouncer(quiet, None, move |result: DebounceEventResult| match result {
        Ok(events) => {
            let paths: BTreeSet<PathBuf> = events
                .iter()
                .filter(|e| matches!(e.kind, EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)))
                .flat_map(|e| e.paths.iter().cloned())
                .filter(|p| wanted(p))
                .collect();
            for p in paths {
                let exists = p.is_file();
                changed(p, exists);
            }
        }
        Err(errors) => {
            for e in errors {
                tracing::warn!(cause = %e, "folder watch error");
            }
        }
    })?;
    debouncer.watch(dir, RecursiveMode::NonRecursive)?;
    Ok(Watcher { _debouncer: debouncer })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_visible_so_files_are_libraries() {
        assert!(is_library(Path::new("/a/libtxtrader_adapter_sim.so")));
        assert!(!is_library(Path::new("/a/.hidden.so")));
        assert!(!is_library(Path::new("/a/readme.txt")));
    }

    #[test]
    fn a_settled_new_file_is_reported_once() {
        let dir = std::env::temp_dir().join(format!("txtrader-watch-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let (tx, rx) = std::sync::mpsc::channel();
        let _w = start(&dir, Duration::from_millis(200), move |p| {
            let _ = tx.send(p);
        })
        .expect("watch");
        let file = dir.join("libnew.so");
        std::fs::write(&file, b"part one").expect("write");
        std::fs::write(dir.join("ignored.txt"), b"x").expect("write");
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().append(true).open(&file).expect("open");
            f.write_all(b" and part two").expect("append");
        }
        let got = rx.recv_timeout(Duration::from_secs(10)).expect("reported");
        assert_eq!(got, file);
        assert!(rx.recv_timeout(Duration::from_millis(600)).is_err(), "reported once after settling");
        assert_eq!(scan(&dir), vec![file]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
