//! The harness of symship's integration tests, shared by every crate's `tests/it/` binary (as
//! cargo's `cargo-test-support` is by its `tests/testsuite`).
//!
//! - [`symship`] / [`symship_for`]: the real binary with ONE environment scrub ([`scrub`]), so no
//!   test inherits a developer's or CI's PostHog settings, proxies, extra CAs, CI variables or
//!   log filters; [`on_program`] moves that environment onto another program (`sh`, `script`, a
//!   renamed copy of the binary), [`file_size_limited`] runs a command under `ulimit -f`.
//! - [`start`] / [`server`]: `symship-testserver` over s3s-fs, in this process.
//! - [`files`]: the repository's fixtures copied to temp dirs, generated builds, file listings.
//! - [`native`]: native debug files as a build beside a server ([`NativeBuild`]), symship as
//!   posthog-cli, LLVM's tools as Apple's; [`mobile`]: the Hermes and ProGuard fixtures and ids.
//! - [`run`]: running a command and reading its exit code, output and JSON summary.
//! - [`snapshot`]: snapshot files with a line diff, `SYMSHIP_UPDATE_SNAPSHOTS=1` to accept.
//! - [`normalize`]: what changes from run to run (temp dirs, ports, durations, ids, times).
//! - [`tools`]: the pinned external tools (`scripts/install-tools`) and system programs.
//!
//! Tests run as threads of one process per crate: nothing here changes the process's
//! environment, working directory or limits; everything goes to the child command.
#![allow(
    clippy::disallowed_methods,
    reason = "test infrastructure: fixtures copied into temporary directories"
)]

pub mod cmd;
pub mod files;
pub mod mobile;
pub mod native;
pub mod normalize;
pub mod run;
pub mod server;
pub mod snapshot;
pub mod tools;

pub use cmd::*;
pub use files::*;
pub use mobile::*;
pub use native::*;
pub use normalize::*;
pub use run::*;
pub use server::*;
pub use snapshot::*;
pub use tools::*;
