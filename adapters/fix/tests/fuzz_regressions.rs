//! Replays every saved fuzz input of FIX messages on the stable toolchain: the crashes the
//! fuzzer found (`tests/fuzz/regressions/fix_messages/`) and its seeds, through the fuzz target's
//! own check (`tests/fuzz/src/fix.rs`). A panic fails the test. See FUZZING.md.

#[path = "../../../tests/fuzz/src/fix.rs"]
mod fix;

use std::path::Path;

#[test]
fn every_saved_fuzz_input_replays_without_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fuzz");
    let mut replayed = 0;
    for kind in ["regressions", "seeds"] {
        let Ok(entries) = std::fs::read_dir(root.join(kind).join("fix_messages")) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
                continue;
            }
            fix::fix_messages(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
            replayed += 1;
        }
    }
    assert!(replayed >= 20, "the seeds are there");
}
