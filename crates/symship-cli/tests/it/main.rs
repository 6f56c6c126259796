//! symship-cli's integration tests: ONE test binary (as cargo's tests/testsuite and ripgrep's
//! tests/tests.rs), so the ~25 files link once instead of once each. Each module runs the real
//! `symship` binary (`symship_test_support::symship`, one environment scrub), mostly against
//! `symship-testserver` over s3s-fs on loopback, and asserts what the server received and stored.
//!
//! Tests run as threads of this one process: a test must not change the process's environment,
//! working directory, limits or signal handling (give them to the child command instead).
//! Run one module with `cargo test -p symship-cli --test it <module>::`.
//!
//! A new test file goes into the list below as a module.
#![allow(
    clippy::disallowed_methods,
    reason = "tests build and damage fixtures in temporary directories directly"
)]

// Shared helpers that need symship's own crates or this crate's snapshots.
mod support;

// Real inputs of fixtures/cases/ (issue 13).
mod cases;
// A fresh tester's pairing and --delete-after findings on issue 13 (kinds 1, 3, 4), built in place.
mod cases_pairs;

// The command line: exit codes, --help snapshots, output (bars, summaries, GitHub Actions).
mod cli_exit_codes;
mod cli_help;
mod cli_output;

// The GitHub Action (action.yml, scripts/action-run.sh, scripts/action-install.sh).
mod cli_action;
mod cli_action_install;

// `sourcemap inject`: fixtures, releases, kills and bad input.
mod inject_fixtures;
mod inject_release;
mod inject_robustness;

// `sourcemap explain` and `resolve` on real $exception events from @posthog/core (issue 19).
mod explain;

// Hostile input (deep maps, huge lines, odd names) against the test server.
mod hostile_input;

// Hermes (React Native) and ProGuard/R8 (Android): posthog-cli's argv, payloads, faults.
mod kinds;
// Native debug files (dSYM, Mach-O, ELF): refs, payloads against posthog-cli's, reasons, faults.
mod native_upload;

// hermes inject on the real Metro build beside posthog-cli, then React Native's compose, clone and
// upload; Expo's EAS argv.
mod hermes_inject;

// Management commands: doctor, release, symbol-sets list/get/download/delete/prune.
mod manage_doctor;
mod manage_prune;
mod manage_release;
mod manage_symbol_sets;

// Packaging: the npm launcher, PostHog's Rollup plugin with cliBinaryPath.
mod npm_launcher;
mod plugins_rollup;

// `symbol-sets extract`: every container kind, offline.
mod symbol_sets_extract;

// Release resolution, and agreement with posthog-cli 0.19.0.
mod release_posthog_cli;
mod release_resolve;

// The token is never printed, at any log level.
mod token_never_printed;

// `sourcemap process|upload`: the transfer limit, fixtures, conflicts, faults, the hash cache,
// scale.
mod upload_ahead;
mod upload_concurrency;
mod upload_conflicts;
mod upload_faults;
mod upload_fixtures;
mod upload_memo;
mod upload_pacing;
mod upload_scale;

// Writing into a user's build safely: kills at every write step, concurrent runs, the lock.
mod write_safety;
