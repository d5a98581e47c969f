//! The limits file, watched: every time it settles after a change it is read again and handed
//! on, valid or not. A valid file replaces the limits in force; an invalid one is refused with
//! its line and reason and the limits in force stay (that decision is the caller's).

use super::limits::{Limits, LimitsError};
use crate::adapters::watch::{watch_file, Watcher};
use std::path::Path;

/// Watches `file` (its folder, since editors replace a file by renaming another over it);
/// `changed` receives each reading.
///
/// # Errors
/// The watcher's error (e.g. the folder does not exist).
pub fn watch(file: &Path, changed: impl Fn(Result<Limits, LimitsError>) + Send + 'static) -> notify::Result<Watcher> {
    let path = file.to_path_buf();
    watch_file(file, move || changed(Limits::load(&path)))
}
