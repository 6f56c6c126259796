//! symship-scan's integration tests: ONE test binary (as cargo's tests/testsuite), each module
//! below a former test file. They call the library only (no process, no network).
//!
//! Run one module with `cargo test -p symship-scan --test it <module>::`. A new test file goes
//! into the list below as a module.
#![allow(
    clippy::disallowed_methods,
    reason = "tests build and damage fixtures in temporary directories directly"
)]

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
