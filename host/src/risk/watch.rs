//! The limits file, watched: every time it settles after a change it is read again and handed
//! on, valid or not. A valid file replaces the limits in force; an invalid one is refused with
//! its line and reason and the limits in force stay (that decision is the caller's).

use super::limits::{Limits, LimitsError};
use crate::adapters::watch::{start_filtered, Watcher};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Watches `file` (its folder, since editors replace a file by renaming another over it);
/// `changed` receives each reading.
///
/// # Errors
/// The watcher's error (e.g. the folder does not exist).
pub fn watch(file: &Path, changed: impl Fn(Result<Limits, LimitsError>) + Send + 'static) -> notify::Result<Watcher> {
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let name = file.file_name().map(ToOwned::to_owned);
    let path = file.to_path_buf();
    start_filtered(&dir, Duration::from_millis(200), |_| true, move |p, exists| {
        if exists && p.file_name().map(ToOwned::to_owned) == name {
            changed(Limits::load(&path));
        }
    })
}
