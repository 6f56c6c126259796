//! symship-scan's integration tests: ONE test binary (as cargo's tests/testsuite), each module
//! below a former test file. They call the library only (no process, no network).
//!
//! Run one module with `cargo test -p symship-scan --test it <module>::`. A new test file goes
//! into the list below as a module.
#![allow(
    clippy::disallowed_methods,
    reason = "tests build and damage fixtures in temporary directories directly"
)]

use std::path::Path;

/// The pairs a scan of `dir` finds (every candidate must pair: a skip fails the test).
pub fn pairs_in(dir: &Path) -> Vec<symship_scan::Pair> {
    let (cands, _) = symship_scan::select(&symship_scan::Selection {
        roots: vec![dir.to_path_buf()],
        ..Default::default()
    })
    .unwrap();
    let (pairs, skipped) = symship_scan::pair_all(cands, None, symship_scan::read_source);
    assert!(skipped.is_empty(), "{skipped:?}");
    pairs
}

/// `paths` (relative, `/`-separated) created under a fresh temporary directory, each holding "x".
pub fn tree_of(paths: &[&str]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for f in paths {
        let p = d.path().join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "x").unwrap();
    }
    d
}

// The golden vectors of spec Appendix A, observed from posthog-cli 0.19.0.
mod appendix_a;

// Property tests of the JavaScript scan over generated chunks (failures persist next to the
// module, in lex_props.proptest-regressions).
mod lex_props;

// Shared maps, symbol-set mode and stripped comments.
mod modes;

// The digests inject hands to `process`'s upload are the files' (`PairResult::on_disk`).
mod on_disk;

// Which files a selection finds.
mod select;

// React Native's Metro bundles (`hermes inject`) on the real Metro build in fixtures/hermes.
mod metro;

// resolve against the sourcemap crate's own lookup under cymbal's conventions, on every fixture map.
mod resolve_fixtures;
