//! Helpers shared by the binary's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Removes what the developer's (or CI's) environment would leak into a child: PostHog settings,
/// CI variables, proxies, extra CAs, log filters.
pub fn scrub(c: &mut Command) {
    for (k, _) in std::env::vars() {
        let ci = [
            "VERCEL",
            "CI",
            "GITLAB_CI",
            "CIRCLECI",
            "RUST_LOG",
            "SSL_CERT_FILE",
        ]
        .contains(&k.as_str());
        let proxy = k.to_ascii_lowercase().ends_with("_proxy");
        if k.starts_with("POSTHOG_") || k.starts_with("GITHUB_") || k.starts_with("VERCEL_") || ci || proxy {
            c.env_remove(k);
        }
    }
}

/// A content-hash cache for this test process only (shared by its tests: entries are keyed by
/// content, so sharing is safe, and re-runs within a test exercise it), never the user's.
pub fn test_cache_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("symship-cache-{}", std::process::id()))
}

/// The binary under test, with a clean environment and no credentials file.
pub fn symship() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_symship"));
    scrub(&mut c);
    c.env("POSTHOG_HOME", "/nonexistent-symship-test-home");
    c.env("SYMSHIP_CACHE_DIR", test_cache_dir());
    c
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run symship")
}

pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        let ft = entry.file_type().unwrap();
        if ft.is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
}

/// Every file below `dir`, relative, sorted.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk(base, &e.path(), out);
            } else {
                out.push(e.path().strip_prefix(base).unwrap().to_path_buf());
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

pub fn is_js(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("js" | "mjs" | "cjs"))
}

/// The fixtures that hold bundler output: (name, dist dir).
pub fn fixtures() -> Vec<(String, PathBuf)> {
    let root = repo_root().join("fixtures");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&root).unwrap() {
        let e = e.unwrap();
        let dist = e.path().join("dist");
        if dist.is_dir() {
            out.push((e.file_name().to_string_lossy().into_owned(), dist));
        }
    }
    out.sort();
    assert!(out.len() >= 6, "expected the committed fixtures, found {out:?}");
    out
}

#[allow(clippy::disallowed_methods)] // test harness settings from the environment
pub fn tools_dir() -> PathBuf {
    std::env::var_os("SYMSHIP_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/symship/tools"))
}

/// node, which the machine has; the test fails loudly without it.
pub fn node() -> Command {
    Command::new("node")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
