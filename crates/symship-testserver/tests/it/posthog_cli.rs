//! Conformance with the reference client: posthog-cli 0.19.0 (`sourcemap process`, `release
//! resolve`) against the test server; every chunk stored, finished and its container valid.

use std::path::Path;
use std::process::Output;

use crate::common::*;
use symship_test_support::fixture_dir;
use symship_testserver::{Config, Mode, TestServer};

/// Appendix A's input pair, plus a second pair in a subdirectory, in a temp dir outside any git
/// repository.
fn fixture() -> tempfile::TempDir {
    let dir = fixture_dir(&[]);
    let a = dir.path().join("dist");
    std::fs::create_dir_all(a.join("sub")).unwrap();
    std::fs::write(
        a.join("app.js"),
        "console.log(1);\n//# sourceMappingURL=app.js.map\n",
    )
    .unwrap();
    std::fs::write(
        a.join("app.js.map"),
        r#"{"version":3,"file":"app.js","sources":["app.ts"],"sourcesContent":["console.log(1)\n"],"names":[],"mappings":"AAAA"}"#,
    )
    .unwrap();
    std::fs::write(
        a.join("sub/b.js"),
        "function b(){return 2}b();\n//# sourceMappingURL=b.js.map\n",
    )
    .unwrap();
    std::fs::write(
        a.join("sub/b.js.map"),
        r#"{"version":3,"file":"b.js","sources":["b.ts"],"names":["b"],"mappings":"AAAA,SAASA"}"#,
    )
    .unwrap();
    dir
}

fn run(server: &TestServer, cwd: &Path, args: &[&str]) -> Output {
    let out = posthog_cli_for(server, cwd)
        .args(args)
        .output()
        .expect("run posthog-cli");
    assert!(
        out.status.success(),
        "posthog-cli {args:?} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn assert_all_stored(server: &TestServer, expected: usize) {
    let sets = server.symbol_sets();
    assert_eq!(sets.len(), expected, "{sets:?}");
    for s in &sets {
        assert!(
            s.content_hash.as_deref().is_some_and(|h| h.len() == 128),
            "not finished: {s:?}"
        );
        let ptr = s.storage_ptr.as_deref().expect("storage_ptr");
        let bytes = server
            .object_bytes(ptr)
            .unwrap_or_else(|| panic!("object {ptr} not stored"));
        assert!(bytes.starts_with(b"posthog_error_tracking"), "{ptr}");
    }
    assert!(
        server.violations().is_empty(),
        "violations: {:?}",
        server.violations()
    );
}

#[test]
fn sourcemap_process_and_release_resolve() {
    let server = start(Config::default());
    let dir = fixture();
    let out = run(
        &server,
        dir.path(),
        &["sourcemap", "process", "--directory", "dist"],
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert_all_stored(&server, 2);
    let routes: Vec<String> = server
        .requests()
        .iter()
        .map(|r| format!("{}:{}", r.server, r.route))
        .collect();
    assert_eq!(
        routes.iter().filter(|r| *r == "api:bulk_check_upload").count(),
        1,
        "{routes:?}"
    );
    assert_eq!(
        routes.iter().filter(|r| *r == "api:bulk_start_upload").count(),
        1,
        "{routes:?}"
    );
    assert_eq!(
        routes.iter().filter(|r| *r == "s3:s3_put").count(),
        2,
        "{routes:?}"
    );
    assert_eq!(
        routes.iter().filter(|r| *r == "api:bulk_finish_upload").count(),
        1,
        "{routes:?}"
    );
    assert!(
        server.requests().iter().all(|r| r.status > 0 && r.status < 300),
        "{:?}",
        server.requests()
    );
    // the chunk id of Appendix A
    assert!(
        server
            .symbol_sets()
            .iter()
            .any(|s| s.ref_ == "13d676af-fe05-561a-83ab-25e6849639ca"),
        "{log}"
    );

    // a second run: everything already present, nothing uploaded
    let before = server.requests().len();
    run(
        &server,
        dir.path(),
        &["sourcemap", "process", "--directory", "dist"],
    );
    let again: Vec<_> = server.requests()[before..]
        .iter()
        .map(|r| r.route.clone())
        .collect();
    assert!(
        !again.iter().any(|r| r == "s3_put" || r == "bulk_start_upload"),
        "{again:?}"
    );
    assert_all_stored(&server, 2);

    let out = run(
        &server,
        dir.path(),
        &[
            "release",
            "resolve",
            "--release-name",
            "x",
            "--release-version",
            "1",
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("resolve --json prints JSON");
    let rels = server.releases();
    assert_eq!(rels.len(), 1);
    assert_eq!(v["id"], rels[0].id.to_string());
    assert_eq!((rels[0].project.as_str(), rels[0].version.as_str()), ("x", "1"));
    use sha2::Digest as _;
    assert_eq!(rels[0].hash_id, hex::encode(sha2::Sha512::digest(b"x1")));
    // resolving again reuses it
    run(
        &server,
        dir.path(),
        &[
            "release",
            "resolve",
            "--release-name",
            "x",
            "--release-version",
            "1",
            "--json",
        ],
    );
    assert_eq!(server.releases().len(), 1);
}

#[test]
fn sourcemap_process_against_an_old_server_uses_presigned_post() {
    let server = start(Config {
        mode: Mode {
            old_server: true,
            ..Mode::default()
        },
        ..Config::default()
    });
    let dir = fixture();
    run(
        &server,
        dir.path(),
        &["sourcemap", "process", "--directory", "dist"],
    );
    assert_all_stored(&server, 2);
    let reqs = server.requests();
    assert!(
        reqs.iter()
            .any(|r| r.path.ends_with("/symbol_sets/bulk_check_upload") && r.status == 404),
        "{reqs:?}"
    );
    assert_eq!(
        reqs.iter()
            .filter(|r| r.route == "s3_post" && r.status == 204)
            .count(),
        2,
        "{reqs:?}"
    );
    assert!(!reqs.iter().any(|r| r.route == "s3_put"));
}

#[test]
fn sourcemap_process_with_transfer_acceleration_falls_back_after_resets() {
    let server = start(Config {
        mode: Mode {
            transfer_acceleration: true,
            ..Mode::default()
        },
        faults: vec!["s3_accel_put:reset".parse().unwrap()],
        ..Config::default()
    });
    let dir = fixture();
    run(
        &server,
        dir.path(),
        &["sourcemap", "process", "--directory", "dist"],
    );
    assert_all_stored(&server, 2);
    let reqs = server.requests();
    assert!(
        reqs.iter()
            .any(|r| r.server == "s3_accel" && r.fault.as_deref() == Some("reset")),
        "{reqs:?}"
    );
    assert_eq!(
        reqs.iter()
            .filter(|r| r.server == "s3" && r.route == "s3_put" && r.status == 200)
            .count(),
        2
    );
}
