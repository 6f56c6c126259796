//! Every byte symship prints at the most verbose level, across inject, upload, retries, failures and
//! releases, holds no part of the API key.

use std::process::Command;

use symship_test_support::*;
use symship_testserver::{Config, FaultKind, FaultRule, TestServer};

fn verbose(cmd: &mut Command, server: &TestServer, key: &str) -> String {
    cmd.env("POSTHOG_CLI_HOST", server.base_url())
        .env("POSTHOG_CLI_PROJECT_ID", server.project_id().to_string())
        .env("POSTHOG_CLI_API_KEY", key)
        .env("RUST_LOG", "trace");
    let out = output(cmd);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_no_key(output: &str, key: &str, what: &str) {
    let secret = key.strip_prefix("phx_").unwrap_or(key);
    assert!(secret.len() >= 8, "the key is long enough to find: {key}");
    assert!(!output.contains(secret), "{what}: the key appears in the output");
    // Nor any 8-byte piece of it.
    for i in 0..=secret.len() - 8 {
        assert!(
            !output.contains(&secret[i..i + 8]),
            "{what}: part of the key appears in the output"
        );
    }
}

#[test]
fn no_token_in_any_output_at_trace_level() {
    let server = TestServer::start(Config::default()).expect("test server (run scripts/install-tools)");
    let key = server.api_key();
    let build = tempfile::tempdir().unwrap();
    copy_dir(&repo_root().join("fixtures/webpack/dist"), build.path());
    let mut seen = 0;

    // Retries on the API and on storage, then success.
    server.set_faults(vec![
        FaultRule::new("bulk_start_upload", FaultKind::Status { status: 503 }).first_n(1),
        FaultRule::new("s3_put", FaultKind::Status { status: 500 }).first_n(1),
    ]);
    let mut cmd = symship();
    cmd.args([
        "-vv",
        "sourcemap",
        "process",
        "-d",
        ".",
        "--release-name",
        "web",
        "--release-version",
        "1",
    ])
    .current_dir(build.path());
    let out = verbose(&mut cmd, &server, &key);
    assert!(
        out.contains("TRACE") || out.contains("DEBUG"),
        "trace output was produced: {out}"
    );
    assert_no_key(&out, &key, "process with retries");
    seen += out.len();

    // A failing run: finish keeps failing.
    server.set_faults(vec![FaultRule::new(
        "bulk_finish_upload",
        FaultKind::Status { status: 503 },
    )]);
    let other = tempfile::tempdir().unwrap();
    copy_dir(&repo_root().join("fixtures/esbuild-esm/dist"), other.path());
    let mut cmd = symship();
    cmd.args(["-vv", "sourcemap", "process", "-d", "."])
        .current_dir(other.path());
    let out = verbose(&mut cmd, &server, &key);
    assert_no_key(&out, &key, "failing process");
    seen += out.len();
    server.set_faults(vec![]);

    // A rejected key.
    let wrong = "phx_wrongwrongwrongwrongwrong1234";
    let mut cmd = symship();
    cmd.args([
        "-vv",
        "release",
        "resolve",
        "--release-name",
        "web",
        "--release-version",
        "2",
    ])
    .current_dir(other.path());
    let out = verbose(&mut cmd, &server, wrong);
    assert_no_key(&out, wrong, "401");
    seen += out.len();

    // --output json documents.
    let mut cmd = symship();
    cmd.args(["-vv", "--output", "json", "sourcemap", "upload", "-d", "."])
        .current_dir(build.path());
    let out = verbose(&mut cmd, &server, &key);
    assert_no_key(&out, &key, "json upload");
    seen += out.len();
    assert!(
        seen > 10_000,
        "the runs printed enough to make the check meaningful ({seen} bytes)"
    );
}

#[test]
fn a_password_or_token_in_the_host_is_never_printed() {
    let build = tempfile::tempdir().unwrap();
    copy_dir(&repo_root().join("fixtures/webpack/dist"), build.path());
    for host in [
        "https://deploy:hunter2secret@eu.posthog.com",
        "https://eu.posthog.com/?token=phx_tokeninquery1234",
        "http://127.0.0.1:9/#phx_tokeninfragment12",
        "deploy:hunter2secret@eu.posthog.com?token=phx_tokeninquery1234",
    ] {
        for (flag, env) in [(true, false), (false, true)] {
            let mut cmd = symship();
            cmd.args(["-vv", "sourcemap", "upload", "-d", "."])
                .current_dir(build.path())
                .env("POSTHOG_CLI_PROJECT_ID", "1")
                .env("POSTHOG_CLI_API_KEY", "phx_keykeykeykeykey")
                .env("RUST_LOG", "trace");
            if flag {
                cmd.arg("--host").arg(host);
            }
            if env {
                cmd.env("POSTHOG_CLI_HOST", host);
            }
            let out = output(&mut cmd);
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.status.code(), Some(2), "refused as a usage error: {text}");
            assert!(text.contains("is not usable"), "the refusal is explained: {text}");
            for secret in ["hunter2secret", "tokeninquery", "tokeninfragment", "deploy:"] {
                assert!(!text.contains(secret), "{host}: {secret} printed: {text}");
            }
        }
    }
}
