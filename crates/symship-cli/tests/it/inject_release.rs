//! `sourcemap inject` with releases, against the real local test server.

use std::fs;
use std::path::Path;
use std::process::Command;

use symship_test_support::*;
use symship_testserver::{Config, TestServer};

const APP_JS: &str = "console.log(1);\n//# sourceMappingURL=app.js.map\n";
const APP_MAP: &str = r#"{"version":3,"file":"app.js","sources":["app.ts"],"sourcesContent":["console.log(1)\n"],"names":[],"mappings":"AAAA"}"#;
const CHUNK_ID: &str = "13d676af-fe05-561a-83ab-25e6849639ca";

fn build(dir: &Path) {
    fs::write(dir.join("app.js"), APP_JS).unwrap();
    fs::write(dir.join("app.js.map"), APP_MAP).unwrap();
}

fn with_server(cmd: &mut Command, s: &TestServer) {
    cmd.env("POSTHOG_CLI_HOST", s.base_url())
        .env("POSTHOG_CLI_PROJECT_ID", s.project_id().to_string())
        .env("POSTHOG_CLI_API_KEY", s.api_key());
}

fn map_json(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(dir.join("app.js.map")).unwrap()).unwrap()
}

#[test]
fn inject_resolves_the_release_and_swaps_only_its_literal() {
    let server = TestServer::start(Config::default()).expect("test server (run scripts/install-tools)");
    let cwd = tempfile::tempdir().unwrap();
    build(cwd.path());

    let mut cmd = symship();
    cmd.args([
        "sourcemap",
        "inject",
        "-d",
        ".",
        "--release-name",
        "my-app",
        "--release-version",
        "1.0.0",
    ])
    .current_dir(cwd.path());
    with_server(&mut cmd, &server);
    let out = output(&mut cmd);
    assert!(out.status.success(), "{}", stderr(&out));

    // Appendix A.2: the release is looked up by hash_id = SHA-512("my-app" "1.0.0"), then created.
    let releases = server.releases();
    assert_eq!(releases.len(), 1);
    let release = &releases[0];
    assert!(
        release.hash_id.starts_with("5fddd88a65199cea"),
        "{}",
        release.hash_id
    );
    assert_eq!(
        (release.project.as_str(), release.version.as_str()),
        ("my-app", "1.0.0")
    );
    let release_id = release.id.to_string();
    let js = fs::read_to_string(cwd.path().join("app.js")).unwrap();
    assert_eq!(
        js,
        format!(
            "{}{APP_JS}\n//# chunkId={CHUNK_ID}",
            symship_scan::snippet::render(CHUNK_ID, Some(&release_id))
        )
    );
    assert_eq!(map_json(cwd.path())["mappings"], "yYAAA");

    // Another version: a second release, only the literal in the snippet changes.
    let mut cmd = symship();
    cmd.args([
        "sourcemap",
        "inject",
        "-d",
        ".",
        "--project",
        "my-app",
        "--version",
        "2.0.0",
    ])
    .current_dir(cwd.path());
    with_server(&mut cmd, &server);
    assert!(output(&mut cmd).status.success());
    let second = server
        .releases()
        .into_iter()
        .find(|r| r.version == "2.0.0")
        .expect("second release");
    let js2 = fs::read_to_string(cwd.path().join("app.js")).unwrap();
    assert_eq!(js2, js.replace(&release_id, &second.id.to_string()));
    assert_eq!(map_json(cwd.path())["mappings"], "yYAAA");
    assert_eq!(map_json(cwd.path())["chunk_id"], CHUNK_ID);
}

#[test]
fn release_from_git_when_credentials_are_configured() {
    let server = TestServer::start(Config::default()).expect("test server");
    let repo = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(repo.path())
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    git(&["init", "-q", "-b", "main"]);
    git(&[
        "remote",
        "add",
        "origin",
        "https://user:secret@github.com/acme/shop.git",
    ]);
    fs::create_dir(repo.path().join("dist")).unwrap();
    build(&repo.path().join("dist"));
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "build"]);
    let sha = git(&["rev-parse", "HEAD"]);

    let mut cmd = symship();
    cmd.args(["sourcemap", "inject", "-d", "dist"])
        .current_dir(repo.path());
    with_server(&mut cmd, &server);
    let out = output(&mut cmd);
    assert!(out.status.success(), "{}", stderr(&out));
    let releases = server.releases();
    assert_eq!(releases.len(), 1, "{releases:?}");
    assert_eq!(
        (releases[0].project.as_str(), releases[0].version.as_str()),
        ("shop", sha.as_str())
    );
    let metadata = serde_json::to_string(&releases[0].metadata).unwrap();
    assert!(
        metadata.contains("https://github.com/acme/shop.git") && !metadata.contains("secret"),
        "{metadata}"
    );
    let js = fs::read_to_string(repo.path().join("dist/app.js")).unwrap();
    assert!(
        js.contains(&releases[0].id.to_string()),
        "the release id is embedded"
    );
}

#[test]
fn release_flags_without_credentials_are_a_configuration_error() {
    let cwd = tempfile::tempdir().unwrap();
    build(cwd.path());
    let out = output(
        symship()
            .args([
                "sourcemap",
                "inject",
                "-d",
                ".",
                "--release-name",
                "a",
                "--release-version",
                "1",
            ])
            .current_dir(cwd.path()),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("POSTHOG_CLI_API_KEY"), "{}", stderr(&out));
    assert_eq!(
        fs::read_to_string(cwd.path().join("app.js")).unwrap(),
        APP_JS,
        "nothing was written"
    );

    // --dry-run may come before the subcommand, needs no credentials, and writes nothing.
    let out = output(
        symship()
            .args([
                "--dry-run",
                "sourcemap",
                "inject",
                "-d",
                ".",
                "--release-name",
                "a",
                "--release-version",
                "1",
            ])
            .current_dir(cwd.path()),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fs::read_to_string(cwd.path().join("app.js")).unwrap(), APP_JS);
    assert!(stderr(&out).contains("would"), "{}", stderr(&out));
}
