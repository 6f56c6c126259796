//! Helpers of the `manage_*` tests: a test server, `symship` pointed at it, uploading builds
//! with `sourcemap process`, and JSON snapshots with volatile values replaced.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use symship_testserver::{Config, TestServer};

pub fn start() -> TestServer {
    start_with(Config::default())
}

pub fn start_with(cfg: Config) -> TestServer {
    match TestServer::start(cfg) {
        Ok(s) => s,
        Err(e) => panic!("symship-testserver did not start ({e}); run scripts/install-tools s3s-fs"),
    }
}

/// `symship` with nothing from the developer's environment, run in `cwd`, stdin closed.
pub fn bare(cwd: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_symship"));
    for (k, _) in std::env::vars() {
        let proxy = k.to_ascii_lowercase().ends_with("_proxy");
        if k.starts_with("POSTHOG_")
            || k.starts_with("GITHUB_")
            || k.starts_with("VERCEL")
            || ["CI", "GITLAB_CI", "CIRCLECI", "RUST_LOG", "SSL_CERT_FILE"].contains(&k.as_str())
            || proxy
        {
            c.env_remove(k);
        }
    }
    c.env("POSTHOG_HOME", "/nonexistent-symship-test-home")
        .current_dir(cwd)
        .stdin(Stdio::null());
    c
}

/// `symship` with the server's host, project and full-scope key.
pub fn symship(server: &TestServer, cwd: &Path) -> Command {
    let mut c = bare(cwd);
    c.env("POSTHOG_CLI_HOST", server.base_url())
        .env("POSTHOG_CLI_PROJECT_ID", server.project_id().to_string())
        .env("POSTHOG_CLI_API_KEY", server.api_key());
    c
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

pub fn run(cmd: &mut Command) -> Run {
    let out: Output = cmd.output().expect("run symship");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs with the given arguments and asserts the exit code.
pub fn ok(cmd: &mut Command, expect: i32) -> Run {
    let r = run(cmd);
    assert_eq!(
        r.code, expect,
        "exit code of {cmd:?}\nstdout:\n{}\nstderr:\n{}",
        r.stdout, r.stderr
    );
    r
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
}

/// Writes `n` tiny distinct JS chunks with external maps; `tag` makes their content (and so
/// their chunk ids) differ between builds.
pub fn generate(dir: &Path, n: usize, tag: &str) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        let js = format!("function {tag}{i}(a){{return a*{i}}}\n//# sourceMappingURL=c{i}.js.map\n");
        let map = serde_json::json!({
            "version": 3,
            "file": format!("c{i}.js"),
            "sources": [format!("src/{tag}{i}.ts")],
            "sourcesContent": [format!("export function {tag}{i}(a: number) {{ return a * {i}; }}\n")],
            "names": [],
            "mappings": "AAAA",
        });
        std::fs::write(dir.join(format!("c{i}.js")), js).unwrap();
        std::fs::write(
            dir.join(format!("c{i}.js.map")),
            serde_json::to_vec(&map).unwrap(),
        )
        .unwrap();
    }
}

/// `symship sourcemap process -d dir` (plus `extra` flags) against the server, which must
/// succeed; returns the summary.
pub fn process(server: &TestServer, cwd: &Path, dir: &Path, extra: &[&str]) -> Value {
    let r = ok(
        symship(server, cwd)
            .args(["sourcemap", "process", "-d"])
            .arg(dir)
            .args(extra)
            .args(["--output", "json"]),
        0,
    );
    r.json()
}

/// The chunk ids written into the build's JavaScript files (`//# chunkId=`), with their file.
pub fn chunk_ids(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    fn walk(d: &Path, out: &mut Vec<(String, PathBuf)>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "js") {
                let text = std::fs::read_to_string(&p).unwrap();
                if let Some(line) = text.lines().find(|l| l.starts_with("//# chunkId=")) {
                    out.push((line["//# chunkId=".len()..].trim().to_owned(), p.clone()));
                }
            }
        }
    }
    walk(dir, &mut out);
    out.sort();
    out
}

/// Replaces what changes between runs: `id` values, times, `cutoff`, and the given literal
/// strings (hosts, temporary directories) by placeholders.
pub fn normalize(v: &Value, literals: &[(&str, &str)]) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let nv = match (k.as_str(), v) {
                        ("id", Value::String(_)) => Value::String("<id>".into()),
                        ("created_at" | "last_used" | "cutoff", Value::String(_)) => {
                            Value::String("<time>".into())
                        }
                        _ => normalize(v, literals),
                    };
                    (k.clone(), nv)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|x| normalize(x, literals)).collect()),
        Value::String(s) => {
            let mut s = s.clone();
            for (from, to) in literals {
                s = s.replace(from, to);
            }
            Value::String(s)
        }
        other => other.clone(),
    }
}

/// Compares `actual` (already normalized) with `tests/snapshots/manage/<name>.json`. With
/// `SYMSHIP_UPDATE_SNAPSHOTS=1` the file is (re)written instead.
#[allow(clippy::disallowed_methods)] // test harness settings from the environment
pub fn assert_snapshot(name: &str, actual: &Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots/manage")
        .join(format!("{name}.json"));
    let text = format!("{}\n", serde_json::to_string_pretty(actual).unwrap());
    if std::env::var_os("SYMSHIP_UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "snapshot {} is missing ({e}); run the test with SYMSHIP_UPDATE_SNAPSHOTS=1 and review the file",
            path.display()
        )
    });
    assert!(
        expected == text,
        "snapshot {} differs.\n--- expected\n{expected}\n--- actual\n{text}",
        path.display()
    );
}
