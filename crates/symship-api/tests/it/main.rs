//! symship-api's integration tests: ONE test binary (as cargo's tests/testsuite), each module
//! below a former test file. They drive the typed client against symship-testserver and helper
//! servers on loopback (an HTTP proxy, a reverse proxy under a path prefix, a TLS front with a
//! generated CA), with the environment given as a `MapEnv`, never the process's.
//!
//! Tests run as threads of this one process: a test must not change the process's environment,
//! working directory or limits. Run one module with `cargo test -p symship-api --test it <module>::`.
//!
//! A new test file goes into the list below as a module.
#![allow(
    clippy::disallowed_methods,
    reason = "tests build and damage fixtures in temporary directories directly"
)]

// Loopback helpers: the test server, proxies, a TLS front.
mod common;

// The client against the test server: config, credentials, URLs, errors, retries, proxies, TLS.
mod server;

// PostHog's per-key throttle: 429s waited out on every upload endpoint.
mod throttle;

// Connect, idle and total deadlines against stalling listeners.
mod timeouts;
