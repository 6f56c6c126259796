//! symship-release's integration tests: ONE test binary (as cargo's tests/testsuite), each
//! module below a former test file. The environment is a `MapEnv`, never the process's.
//!
//! Run one module with `cargo test -p symship-release --test it <module>::`. A new test file goes
//! into the list below as a module.
#![allow(
    clippy::disallowed_methods,
    reason = "tests build and damage fixtures in temporary directories directly"
)]

// Git metadata read from real repositories made with the `git` binary.
mod local_git;

// Release resolution against symship-testserver.
mod resolve;
