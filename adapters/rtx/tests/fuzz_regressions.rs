//! Replays every saved fuzz input of RTGW's lines on the stable toolchain: the crashes the
//! fuzzer found (`tests/fuzz/regressions/rtx_lines/`) and its seeds, through the fuzz target's
//! own check (`tests/fuzz/src/rtx.rs`). A panic fails the test. See FUZZING.md.

#[path = "../../../tests/fuzz/src/rtx.rs"]
mod rtx;

use std::path::Path;

#[test]
fn every_saved_fuzz_input_replays_without_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fuzz");
    let mut replayed = 0;
    for kind in ["regressions", "seeds"] {
        let Ok(entries) = std::fs::read_dir(root.join(kind).join("rtx_lines")) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
                continue;
            }
            rtx::rtx_lines(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
            replayed += 1;
        }
    }
    assert!(replayed >= 4, "the seeds are there");
}
