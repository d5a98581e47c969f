//! Replays every saved fuzz input of the host's parsers on the stable toolchain: each crash the
//! fuzzers found (`tests/fuzz/regressions/<target>/`) and the seeds they start from
//! (`tests/fuzz/seeds/<target>/`), through the same checks the fuzz targets run
//! (`tests/fuzz/src/checks.rs`). A panic fails the test. See FUZZING.md.

#[path = "../../tests/fuzz/src/checks.rs"]
mod checks;

use std::path::Path;

#[test]
fn every_saved_fuzz_input_replays_without_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fuzz");
    let mut replayed = 0;
    for (target, check) in checks::TARGETS {
        for kind in ["regressions", "seeds"] {
            let Ok(entries) = std::fs::read_dir(root.join(kind).join(target)) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
                    continue;
                }
                let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                check(&data);
                replayed += 1;
            }
        }
    }
    assert!(replayed >= checks::TARGETS.len(), "every target has saved inputs (found {replayed})");
}
