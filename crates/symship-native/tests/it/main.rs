//! symship-native's integration tests, on the real files of `fixtures/native` (see its README).
//!
//! - `fixtures`: every debug id equals what `readelf -n` / `llvm-dwarfdump --uuid` print
//!   (`fixtures/native/refs.txt`), every skip reason comes from a real file, the zip's `dwarf` is
//!   the slice `llvm-lipo -thin` writes.
//! - `damaged`: truncated or corrupt objects and dSYMs are reported `unparseable`, never uploaded;
//!   symbolic-link loops are `symlink_loop`.
//! - `sources`: the `__source/` bundle of `--include-source` on a gcc build made in the test.
#![allow(
    clippy::disallowed_methods,
    reason = "tests build and damage fixtures in temporary directories directly"
)]

mod damaged;
mod fixtures;
mod sources;
