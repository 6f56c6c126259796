//! The npm package's JS launcher (npm/symship/lib/launch.js), run straight from the checkout with
//! `SYMSHIP_BINARY_PATH` pointing at the binary of this test run: the bin `posthog-cli` starts the
//! binary under that name (its personality: the version line, posthog-cli's exits when nothing is found), the bin
//! `symship` under its own (exit 3), exit codes come back unchanged, and without a platform package
//! the launcher says which package is missing and exits 2.

use std::path::Path;
use std::process::{Command, Output};

use symship_test_support::*;

fn launch(bin: &str, binary: Option<&str>, args: &[&str], cwd: &Path) -> Output {
    let mut cmd = Command::new("node");
    scrub(&mut cmd);
    cmd.arg(repo_root().join("npm/symship/bin").join(bin))
        .args(args)
        .current_dir(cwd)
        .env("POSTHOG_HOME", NO_HOME);
    if let Some(b) = binary {
        cmd.env("SYMSHIP_BINARY_PATH", b);
    }
    cmd.output().expect("node runs")
}

const BIN: &str = env!("CARGO_BIN_EXE_symship");

#[test]
fn the_posthog_cli_bin_runs_symship_under_that_name() {
    let tmp = tempfile::tempdir().unwrap();
    let out = launch("posthog-cli.js", Some(BIN), &["--version"], tmp.path());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("posthog-cli 0.19.0 (symship {})", env!("CARGO_PKG_VERSION"))
    );
    let out = launch("symship.js", Some(BIN), &["--version"], tmp.path());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("symship {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn exit_codes_come_back_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("empty")).unwrap();
    let inject = ["sourcemap", "inject", "--directory", "empty"];
    // (--dry-run: no credentials here, and upload asks for them before it scans)
    let upload = ["--dry-run", "sourcemap", "upload", "--directory", "empty"];
    // nothing found: as posthog-cli 0.19.0 under its name (inject 1, upload a warning and 0), 3
    // under symship
    for (args, code) in [(&inject[..], 1), (&upload[..], 0)] {
        let out = launch("posthog-cli.js", Some(BIN), args, tmp.path());
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = launch("symship.js", Some(BIN), &inject, tmp.path());
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // a usage error
    let out = launch(
        "posthog-cli.js",
        Some(BIN),
        &["sourcemap", "inject", "--no-such-flag"],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_missing_platform_package_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    // run from the checkout, where no @symship/<platform> package is installed
    let out = launch("posthog-cli.js", None, &["--version"], tmp.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("@symship/") && stderr.contains("is not installed"),
        "{stderr}"
    );
}
