//! A real Rollup build with PostHog's real `@posthog/rollup-plugin` (pinned in
//! `tests/plugins/package-lock.json`, installed by `scripts/install-tools npm`), where the CLI it
//! spawns is symship installed the way a user installs it: the `symship` npm package and this
//! platform's binary package, packed by `scripts/npm-pack` from the binary this test run built and
//! installed with `npm install` from those tarballs next to the plugin (whose own dependency
//! `@posthog/cli` also claims `node_modules/.bin/posthog-cli`). Against the test server:
//! - without `cliBinaryPath` (symship added to a project that has the plugin: the plugin finds
//!   symship's `node_modules/.bin/posthog-cli`) and with it (the launcher's path), the
//!   build succeeds, every chunk the build wrote is finished on the server under the chunk id the
//!   plugin stamped, the release is the one the plugin resolved, and no map is left;
//! - with a wrong key the build fails and its output carries the server's reason.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use symship_test_support::*;
use symship_testserver::{Config, TestServer};

/// The plugin project's installed `node_modules` (a link into the tools cache).
fn plugin_modules() -> PathBuf {
    let dir = repo_root().join("tests/plugins/node_modules");
    assert!(
        dir.join("@posthog/rollup-plugin/package.json").is_file()
            && dir.join("rollup/package.json").is_file(),
        "{} is not installed: run scripts/install-tools npm",
        dir.display()
    );
    dir
}

fn platform() -> &'static str {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => "linux-x64",
        ("linux", "aarch64") => "linux-arm64",
        ("macos", "x86_64") => "darwin-x64",
        ("macos", "aarch64") => "darwin-arm64",
        ("windows", "x86_64") => "win32-x64",
        other => panic!("no npm platform package for {other:?}"),
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The two tarballs (`symship`, `@symship/<platform>`), packed once per test process from the
/// binary cargo built for this run (a stripped copy when `strip` is there: 15 MB instead of 170).
fn tarballs() -> &'static [PathBuf] {
    static T: OnceLock<Vec<PathBuf>> = OnceLock::new();
    T.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("npm-pack-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let bin = dir.join("symship-bin");
        let stripped = Command::new("strip")
            .arg("-o")
            .arg(&bin)
            .arg(env!("CARGO_BIN_EXE_symship"))
            .status()
            .is_ok_and(|s| s.success());
        if !stripped {
            std::fs::copy(env!("CARGO_BIN_EXE_symship"), &bin).unwrap();
        }
        let out = run(Command::new(repo_root().join("scripts/npm-pack"))
            .arg(dir.join("tgz"))
            .arg(format!("{}={}", platform(), bin.display())));
        assert!(out.status.success(), "npm-pack: {}", text(&out));
        let paths: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(PathBuf::from)
            .collect();
        assert_eq!(paths.len(), 2, "{paths:?}");
        assert!(paths.iter().all(|p| p.is_file()));
        paths
    })
}

const MAIN: &str = r#"import { greet } from './greet.js';
export async function start(name) {
  const { heavy } = await import('./heavy.js');
  return greet(name) + heavy(3);
}
"#;
const GREET: &str =
    "export function greet(name) {\n  if (!name) throw new Error('no name');\n  return `hello ${name}`;\n}\n";
const HEAVY: &str =
    "export function heavy(n) {\n  let s = 0;\n  for (let i = 0; i < n; i++) s += i * i;\n  return s;\n}\n";

/// The plugin's options come from the environment the test gives the build (`cliBinaryPath`
/// only when `TEST_CLI_PATH` is set).
const CONFIG: &str = r#"import posthog from '@posthog/rollup-plugin';
export default {
  input: 'src/main.js',
  output: { dir: 'dist', format: 'es', sourcemap: true },
  plugins: [
    posthog({
      personalApiKey: process.env.TEST_API_KEY,
      projectId: process.env.TEST_PROJECT_ID,
      host: process.env.TEST_HOST,
      ...(process.env.TEST_CLI_PATH ? { cliBinaryPath: process.env.TEST_CLI_PATH } : {}),
      sourcemaps: { releaseName: 'web', releaseVersion: '1.0.0' },
    }),
  ],
};
"#;

/// A project with Rollup, the plugin (copied from the tools cache) and symship installed from the
/// tarballs, offline.
fn project(tmp: &Path) -> PathBuf {
    let proj = tmp.join("app");
    std::fs::create_dir_all(proj.join("src")).unwrap();
    let plugins = repo_root().join("tests/plugins");
    for f in ["package.json", "package-lock.json"] {
        std::fs::copy(plugins.join(f), proj.join(f)).unwrap();
    }
    let out = run(Command::new("cp")
        .arg("-a")
        .arg(plugin_modules().canonicalize().unwrap())
        .arg(proj.join("node_modules")));
    assert!(out.status.success(), "{}", text(&out));
    let out = run(Command::new("npm")
        .args([
            "install",
            "--offline",
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            "--loglevel=error",
        ])
        .args(tarballs())
        .current_dir(&proj));
    assert!(
        out.status.success(),
        "npm install of the tarballs: {}",
        text(&out)
    );
    std::fs::write(proj.join("src/main.js"), MAIN).unwrap();
    std::fs::write(proj.join("src/greet.js"), GREET).unwrap();
    std::fs::write(proj.join("src/heavy.js"), HEAVY).unwrap();
    std::fs::write(proj.join("rollup.config.mjs"), CONFIG).unwrap();
    proj
}

fn build(server: &TestServer, proj: &Path, key: &str, cli_path: Option<&str>) -> Output {
    // The scrubbed environment of `symship`, on node, which runs Rollup, whose plugin runs symship.
    let mut cmd = on_program(&symship_in(proj), "node");
    cmd.arg("node_modules/rollup/dist/bin/rollup")
        .arg("-c")
        .env("TEST_API_KEY", key)
        .env("TEST_PROJECT_ID", server.project_id().to_string())
        .env("TEST_HOST", server.base_url());
    if let Some(p) = cli_path {
        cmd.env("TEST_CLI_PATH", p);
    }
    run(&mut cmd)
}

/// (file, chunk id) of every JS chunk in `dist`, from the `//# chunkId=` comment the plugin wrote.
fn built_chunks(dist: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dist).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".js") {
            let text = std::fs::read_to_string(&p).unwrap();
            let id = text
                .lines()
                .rev()
                .find_map(|l| l.trim().strip_prefix("//# chunkId="))
                .unwrap_or_else(|| panic!("{name} has no chunk id:\n{text}"))
                .to_owned();
            out.push((name, id));
        }
    }
    out.sort();
    out
}

fn assert_build_landed(server: &TestServer, proj: &Path, out: &Output) {
    let log = text(out);
    assert!(out.status.success(), "the build failed:\n{log}");
    let dist = proj.join("dist");
    let chunks = built_chunks(&dist);
    assert_eq!(
        chunks.len(),
        2,
        "main (with greet) and heavy's chunk: {chunks:?}\n{log}"
    );
    let left: Vec<_> = std::fs::read_dir(&dist)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".map"))
        .collect();
    assert!(left.is_empty(), "maps left in dist: {left:?}\n{log}");
    let release = server
        .releases()
        .into_iter()
        .find(|r| r.project == "web" && r.version == "1.0.0")
        .unwrap_or_else(|| panic!("the plugin's release resolve created no release:\n{log}"));
    let sets = server.symbol_sets();
    for (file, id) in &chunks {
        let set = sets
            .iter()
            .find(|s| &s.ref_ == id)
            .unwrap_or_else(|| panic!("{file} ({id}) is not on the server:\n{log}"));
        let ptr = set
            .storage_ptr
            .as_deref()
            .unwrap_or_else(|| panic!("{file} ({id}) is not finished:\n{log}"));
        let object = server.object_bytes(ptr).expect("object stored");
        let (src, _map) = symship_upload::container::read(&object).unwrap();
        let on_disk = std::fs::read_to_string(dist.join(file)).unwrap();
        assert_eq!(src, on_disk, "{file}: the server holds what the build wrote");
        assert!(
            on_disk.contains(&release.id.to_string()),
            "{file} carries the resolved release {}",
            release.id
        );
    }
    assert!(server.violations().is_empty(), "{:?}", server.violations());
}

#[test]
fn rollup_plugin_finds_symship_in_node_modules_bin_and_every_chunk_lands() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let proj = project(tmp.path());
    // the plugin looks up `posthog-cli` in node_modules/.bin; @posthog/cli (the plugin's own
    // dependency, its binary not downloaded here) claims that name too. Installing symship into a
    // project that has the plugin links symship's (a fresh install of both links @posthog/cli's:
    // hence the README's cliBinaryPath)
    let out = run(Command::new(proj.join("node_modules/.bin/posthog-cli"))
        .arg("--version")
        .current_dir(&proj));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("posthog-cli 0.19.0 (symship {})", env!("CARGO_PKG_VERSION")),
        "{}",
        text(&out)
    );
    let out = build(&server, &proj, &server.api_key(), None);
    assert_build_landed(&server, &proj, &out);
}

#[test]
fn rollup_plugin_with_cli_binary_path_lands_and_a_bad_key_fails_with_the_servers_reason() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let proj = project(tmp.path());
    // the value the README gives: the launcher itself, not node_modules/.bin/posthog-cli, which a
    // fresh `npm install` links to @posthog/cli's launcher instead
    let cli = "node_modules/symship/bin/posthog-cli.js";

    let out = build(&server, &proj, "phx_not_a_valid_key_0123456789", Some(cli));
    let log = text(&out);
    assert!(!out.status.success(), "a wrong key fails the build:\n{log}");
    assert!(
        log.contains("Invalid personal API key."),
        "the build's output carries the server's reason:\n{log}"
    );
    assert!(server.symbol_sets().is_empty());

    let _ = std::fs::remove_dir_all(proj.join("dist"));
    let out = build(&server, &proj, &server.api_key(), Some(cli));
    assert_build_landed(&server, &proj, &out);
}
