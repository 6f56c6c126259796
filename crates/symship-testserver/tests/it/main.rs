//! symship-testserver's integration tests: ONE test binary (as cargo's tests/testsuite), each
//! module below a former test file. They start the server in this process (symship-test-support)
//! or run its binary, and speak to it over loopback as posthog-cli and symship do.
//!
//! Tests run as threads of this one process: a test must not change the process's environment,
//! working directory, limits or signal handling (give them to the child command instead).
//! Run one module with `cargo test -p symship-testserver --test it <module>::`.
//!
//! A new test file goes into the list below as a module.
#![allow(
    clippy::disallowed_methods,
    reason = "tests build and damage fixtures in temporary directories directly"
)]

// HTTP helpers speaking to the server (an API client, containers, S3 uploads).
mod common;

// The upload flow end to end over s3s-fs, and what s3s-fs refuses.
mod flow;
mod s3;

// §3 rules and §2.8 error codes; fault injection; the throttle and in-flight counters.
mod faults;
mod load;
mod rules;

// §2.9 legacy and §2.10 management endpoints, §4 releases.
mod management;

// Events: the capture paths and encodings posthog-js and @posthog/core use, the events API.
mod events;

// The binary: dotenv lines, --data-dir, clean exit on signals.
mod binary;

// Conformance with posthog-cli 0.19.0: JS sourcemaps, Hermes and ProGuard.
mod posthog_cli;
mod posthog_cli_kinds;
