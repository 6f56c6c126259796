//! Every exit code of the README's table, from the real binary against the test server:
//! 0 success, 1 some chunks failed (partial failures injected by the server), 2 usage or
//! configuration error, 3 nothing found (and `--allow-empty`), and `--no-fail`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use symship_test_support::*;
use symship_testserver::{Config, FaultKind, FaultRule, TestServer};

use crate::support::*;

fn code_of(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().expect("run symship");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A build of `n` small chunks in `tmp/build`.
fn build(tmp: &Path, n: usize, tag: &str) -> std::path::PathBuf {
    let dir = tmp.join("build");
    generate(&dir, n, 1, tag);
    dir
}

fn process(server: &TestServer, tmp: &Path, dir: &Path, extra: &[&str]) -> (i32, Value, String) {
    run_json(
        symship_for(server, tmp)
            .args(["sourcemap", "process", "--batch-size", "2", "--concurrency", "1"])
            .args(extra)
            .arg("-d")
            .arg(dir),
    )
}

fn failed_ids(summary: &Value) -> Vec<String> {
    summary["failed"]
        .as_array()
        .expect("failed list")
        .iter()
        .map(|f| f["chunk_id"].as_str().expect("chunk id of a failure").to_owned())
        .collect()
}

#[test]
fn exit_0_when_every_chunk_lands() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = build(tmp.path(), 6, "ok");
    let (code, summary, stderr) = process(&server, tmp.path(), &dir, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(summary["uploaded"], 6);
    assert_eq!(failed_ids(&summary).len(), 0);
}

/// `bulk_finish_upload` refuses one batch (a permanent 400, not retried): the two chunks of that
/// batch did not land, the other four did. Exit 1, and the failures name file, chunk id and code.
#[test]
fn exit_1_when_finish_fails_for_one_batch() {
    let server = start(Config {
        faults: vec![FaultRule::new("bulk_finish_upload", FaultKind::Status { status: 400 }).first_n(1)],
        ..Default::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    let dir = build(tmp.path(), 6, "fin");
    let (code, summary, stderr) = process(&server, tmp.path(), &dir, &[]);
    assert_eq!(code, 1, "{stderr}\n{summary:#}");
    assert_eq!(summary["exit_code"], 1);
    let failed = summary["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 2, "one batch of two failed: {summary:#}");
    assert_eq!(summary["uploaded"], 4, "{summary:#}");
    for f in failed {
        let file = f["file"].as_str().unwrap();
        assert!(file.ends_with(".js") && Path::new(file).exists(), "{f}");
        assert!(!f["code"].as_str().unwrap().is_empty(), "{f}");
        assert!(!f["error"].as_str().unwrap().is_empty(), "{f}");
    }
    // the server agrees: exactly the four reported uploaded are finished
    let finished = assert_server_holds_exactly(&server, &chunks(&summary), symship_scan::ReleaseMode::Event);
    assert_eq!(finished.len(), 4);
    for id in failed_ids(&summary) {
        assert!(
            !finished.contains(&id),
            "{id} reported failed but finished on the server"
        );
    }
    // and the log names the failed files on stderr
    for f in failed {
        assert!(stderr.contains(f["file"].as_str().unwrap()), "{stderr}");
    }
}

/// Object storage refuses one transfer for good (a 400 is not retried): exactly that chunk
/// fails, the rest land, exit 1.
#[test]
fn exit_1_when_one_transfer_is_refused() {
    let server = start(Config {
        faults: vec![FaultRule::new("s3_put", FaultKind::Status { status: 400 }).first_n(1)],
        ..Default::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    let dir = build(tmp.path(), 5, "put");
    let (code, summary, stderr) = process(&server, tmp.path(), &dir, &[]);
    assert_eq!(code, 1, "{stderr}\n{summary:#}");
    assert_eq!(failed_ids(&summary).len(), 1, "{summary:#}");
    assert_eq!(summary["uploaded"], 4, "{summary:#}");
    let finished = assert_server_holds_exactly(&server, &chunks(&summary), symship_scan::ReleaseMode::Event);
    assert_eq!(finished.len(), 4);
}

/// Object storage throttles with 429 and a Retry-After, more times in a row than a transfer has
/// attempts: each answer is waited out without using an attempt (as an API call's 429 is), and
/// the chunk lands (it failed after its 4 attempts).
#[test]
fn a_storage_429_with_retry_after_is_waited_out_not_counted_as_an_attempt() {
    let server = start(Config {
        faults: vec![FaultRule::new("s3_put", FaultKind::TooManyRequests { retry_after: 1 }).first_n(5)],
        ..Default::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    let dir = build(tmp.path(), 1, "slow");
    let (code, summary, stderr) = process(&server, tmp.path(), &dir, &[]);
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    assert_eq!(summary["uploaded"], 1, "{summary:#}");
    let puts = server
        .requests()
        .iter()
        .filter(|r| r.server.starts_with("s3") && r.method == "PUT")
        .count();
    assert_eq!(puts, 6, "five throttled, one sent");
    assert_server_holds_exactly(&server, &chunks(&summary), symship_scan::ReleaseMode::Event);
}

/// An injected chunk copied and edited, with its own map: two chunks register one chunk id and
/// their code differs. posthog-cli sends one of them (exit 0); so does symship, but it says so,
/// naming both, instead of a quiet `duplicate` (a fresh tester's finding).
#[test]
fn two_different_chunks_with_one_chunk_id_are_named_loudly() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = build(tmp.path(), 1, "same");
    let (code, _, stderr) = process(&server, tmp.path(), &dir, &[]);
    assert_eq!(code, 0, "{stderr}");
    let chunk = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "js"))
        .unwrap();
    let text = std::fs::read_to_string(&chunk).unwrap();
    let name = chunk.file_name().unwrap().to_str().unwrap().to_owned();
    let edited = text
        .replacen("\n", "\nconsole.log('edited');\n", 1)
        .replace(&format!("{name}.map"), "copy.js.map");
    assert_ne!(edited, text);
    std::fs::write(dir.join("copy.js"), edited).unwrap();
    std::fs::copy(dir.join(format!("{name}.map")), dir.join("copy.js.map")).unwrap();
    let (code, summary, stderr) = process(&server, tmp.path(), &dir, &[]);
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    assert_eq!(summary["skipped_duplicate"], 1, "{summary:#}");
    let warnings = summary["warnings"].to_string();
    assert!(
        warnings.contains("their code differs") && warnings.contains("copy.js"),
        "{warnings}"
    );
}

/// A re-run of an unchanged build is all `bulk_check_upload` calls (1,100 chunks: at least two,
/// since a check asks at most 1,000): they are sent several at once, not each after the last
/// one's answer. Counted by the server (requests in flight at once), with every check held 1 s so
/// they would be seen. How the chunks split between checks depends on how fast they arrive (a
/// check takes those already waiting), so only the bounds are asserted.
#[test]
fn a_re_run_sends_its_checks_several_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("server-data");
    let dir = build(tmp.path(), 1100, "rr");
    {
        let server = start(Config {
            data_dir: Some(data.clone()),
            ..Default::default()
        });
        let (code, _, stderr) = run_json(
            symship_for(&server, tmp.path())
                .args(["sourcemap", "process", "-d"])
                .arg(&dir),
        );
        assert_eq!(code, 0, "{stderr}");
    }
    let server = start(Config {
        data_dir: Some(data),
        faults: vec![FaultRule::new(
            "bulk_check_upload",
            FaultKind::Latency { ms: 1000 },
        )],
        ..Default::default()
    });
    let (code, summary, stderr) = run_json(
        symship_for(&server, tmp.path())
            .args(["sourcemap", "process", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["skipped_already_present"], 1100, "{summary:#}");
    let requests = server.requests();
    let checks = requests.iter().filter(|r| r.route == "bulk_check_upload").count();
    assert!((2..=22).contains(&checks), "{checks} checks");
    assert!(
        requests
            .iter()
            .all(|r| r.route == "bulk_check_upload" || r.method == "GET"),
        "a re-run only checks: {:?}",
        requests.iter().map(|r| &r.route).collect::<Vec<_>>()
    );
    assert!(server.load().api_max_in_flight >= 2, "{:?}", server.load());
}

/// `--no-fail` turns the same partial failure into exit 0, loudly: a warning that names the
/// exit code it replaced; the JSON summary still says 1 and lists the failure.
#[test]
fn no_fail_exits_0_but_says_so() {
    let server = start(Config {
        faults: vec![FaultRule::new("bulk_finish_upload", FaultKind::Status { status: 400 }).first_n(1)],
        ..Default::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    let dir = build(tmp.path(), 4, "nf");
    let (code, summary, stderr) = process(&server, tmp.path(), &dir, &["--no-fail"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["exit_code"], 1, "the summary keeps the real outcome");
    assert_eq!(failed_ids(&summary).len(), 2);
    assert!(
        stderr.contains("--no-fail") && stderr.contains("would be 1"),
        "a loud warning: {stderr}"
    );
    // and in the JSON summary's warnings, where CI reads them (a fresh tester: only on stderr)
    let warnings = summary["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("--no-fail: exiting 0")
                && w.as_str().unwrap().contains("would be 1")),
        "{warnings:?}"
    );
    assert!(
        !stderr.contains("::warning"),
        "no annotation outside GitHub Actions"
    );
    // in GitHub Actions, also an annotation on the run page
    let server = start(Config {
        faults: vec![FaultRule::new("bulk_finish_upload", FaultKind::Status { status: 400 }).first_n(1)],
        ..Default::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    let dir = build(tmp.path(), 4, "nf");
    let out = symship_for(&server, tmp.path())
        .env("GITHUB_ACTIONS", "true")
        .args(["--no-fail", "sourcemap", "process", "--batch-size", "2", "-d"])
        .arg(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stderr.contains("::warning title=symship --no-fail::the run did not succeed (exit code would be 1)"),
        "{stderr}"
    );
    // without --no-fail the same faults exit 1 (the flag is what made the difference)
    let server = start(Config {
        faults: vec![FaultRule::new("bulk_finish_upload", FaultKind::Status { status: 400 }).first_n(1)],
        ..Default::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    let dir = build(tmp.path(), 4, "nf");
    let (code, _, _) = process(&server, tmp.path(), &dir, &[]);
    assert_eq!(code, 1);
}

#[test]
fn exit_1_when_nothing_lands() {
    let server = start(Config {
        faults: vec![FaultRule::new(
            "bulk_finish_upload",
            FaultKind::Status { status: 400 },
        )],
        ..Default::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    let dir = build(tmp.path(), 3, "all");
    let (code, summary, stderr) = process(&server, tmp.path(), &dir, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(summary["uploaded"], 0);
    assert_eq!(failed_ids(&summary).len(), 3);
}

#[test]
fn exit_3_when_nothing_is_found_by_any_command_and_0_with_allow_empty() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(empty.join("sub")).unwrap();
    std::fs::write(empty.join("readme.txt"), "no javascript here").unwrap();
    for cmd in ["inject", "upload", "process"] {
        let (code, stderr) = code_of(
            symship_for(&server, tmp.path())
                .args(["sourcemap", cmd, "-d"])
                .arg(&empty),
        );
        assert_eq!(code, 3, "{cmd}: {stderr}");
        assert!(
            stderr.contains("--allow-empty"),
            "{cmd} says how to accept it: {stderr}"
        );
        let (code, stderr) = code_of(
            symship_for(&server, tmp.path())
                .args(["sourcemap", cmd, "--allow-empty", "-d"])
                .arg(&empty),
        );
        assert_eq!(code, 0, "{cmd} --allow-empty: {stderr}");
    }
    // --no-fail also accepts it, with a warning
    let (code, stderr) = code_of(
        symship_for(&server, tmp.path())
            .args(["--no-fail", "sourcemap", "process", "-d"])
            .arg(&empty),
    );
    assert_eq!(code, 0);
    assert!(stderr.contains("would be 3"), "{stderr}");
    assert!(
        server.requests().is_empty(),
        "nothing found, nothing asked: {:?}",
        server.requests()
    );
}

#[test]
fn exit_2_on_usage_and_configuration_errors() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = build(tmp.path(), 2, "use");
    let missing = tmp.path().join("does-not-exist");
    let bare = || symship_in(tmp.path());
    let cases: Vec<(&str, Command)> = vec![
        ("unknown flag", {
            let mut c = symship_for(&server, tmp.path());
            c.args(["sourcemap", "upload", "--no-such-flag"]);
            c
        }),
        ("unknown command", {
            let mut c = symship_for(&server, tmp.path());
            c.args(["sourcemap", "shipit"]);
            c
        }),
        ("no directory", {
            let mut c = symship_for(&server, tmp.path());
            c.args(["sourcemap", "process"]);
            c
        }),
        ("missing directory", {
            let mut c = symship_for(&server, tmp.path());
            c.args(["sourcemap", "process", "-d"]).arg(&missing);
            c
        }),
        ("batch size 0", {
            let mut c = symship_for(&server, tmp.path());
            c.args(["sourcemap", "upload", "--batch-size", "0", "-d"])
                .arg(&dir);
            c
        }),
        ("concurrency 0", {
            let mut c = symship_for(&server, tmp.path());
            c.args(["sourcemap", "upload", "--concurrency", "0", "-d"])
                .arg(&dir);
            c
        }),
        ("bad --output", {
            let mut c = symship_for(&server, tmp.path());
            c.args(["--output", "xml", "sourcemap", "inject", "-d"]).arg(&dir);
            c
        }),
        ("no credentials for upload", {
            let mut c = bare();
            c.args(["sourcemap", "upload", "-d"]).arg(&dir);
            c
        }),
        ("no credentials for process", {
            let mut c = bare();
            c.args(["sourcemap", "process", "-d"]).arg(&dir);
            c
        }),
        ("malformed host", {
            let mut c = symship_for(&server, tmp.path());
            c.args(["--host", "not a url", "sourcemap", "upload", "-d"])
                .arg(&dir);
            c
        }),
    ];
    for (what, mut cmd) in cases {
        let (code, stderr) = code_of(&mut cmd);
        assert_eq!(code, 2, "{what}: {stderr}");
        assert!(!stderr.trim().is_empty(), "{what}: says why");
    }
    assert!(
        server.requests().is_empty(),
        "a usage error never reaches the server: {:?}",
        server.requests()
    );
}

/// `--strict` turns skipped files into exit 1 (inject and process).
#[test]
fn strict_makes_skipped_files_exit_1() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = build(tmp.path(), 2, "st");
    std::fs::write(
        dir.join("nomap.js"),
        "console.log(1)\n//# sourceMappingURL=missing.js.map\n",
    )
    .unwrap();
    let (code, stderr) = code_of(
        symship_for(&server, tmp.path())
            .args(["sourcemap", "inject", "--strict", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 1, "{stderr}");
    let (code, stderr) = code_of(
        symship_for(&server, tmp.path())
            .args(["sourcemap", "inject", "-d"])
            .arg(&dir),
    );
    assert_eq!(
        code, 0,
        "without --strict a skipped file is reported, not failed: {stderr}"
    );
    assert!(stderr.contains("nomap.js"), "{stderr}");
}

/// PostHog's bundler plugins spawn the CLI with `RUST_LOG=posthog_cli=<logLevel>`; an error that
/// ends the run is printed whatever that filter says (it used to go only through the log).
#[test]
fn the_error_that_ends_a_run_is_printed_under_any_rust_log() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = build(tmp.path(), 2, "log");
    for rust_log in ["posthog_cli=info", "off", "posthog_cli=error"] {
        // A wrong key: the server answers 401 "Invalid personal API key.".
        let (code, stderr) =
            code_of(refused_key_process(&server, tmp.path(), &dir).env("RUST_LOG", rust_log));
        assert_ne!(code, 0, "RUST_LOG={rust_log}: {stderr}");
        assert!(
            stderr.contains("error: ") && stderr.contains("Invalid personal API key."),
            "RUST_LOG={rust_log}: the server's reason is printed: {stderr}"
        );
        // No credentials at all: a configuration error, exit 2, still explained.
        let (code, stderr) = code_of(
            symship_for(&server, tmp.path())
                .env("RUST_LOG", rust_log)
                .env_remove("POSTHOG_CLI_API_KEY")
                .args(["sourcemap", "upload", "-d"])
                .arg(&dir),
        );
        assert_eq!(code, 2, "RUST_LOG={rust_log}: {stderr}");
        assert!(
            stderr.contains("error: ") && stderr.contains("POSTHOG_CLI_API_KEY"),
            "RUST_LOG={rust_log}: {stderr}"
        );
    }
    // `posthog_cli=debug` sets symship's own level: the debug lines appear.
    let (_, stderr) = code_of(
        symship_for(&server, tmp.path())
            .env("RUST_LOG", "posthog_cli=debug")
            .args(["sourcemap", "inject", "-d"])
            .arg(&dir),
    );
    assert!(
        stderr.contains("DEBUG"),
        "posthog_cli=debug shows symship's debug lines: {stderr}"
    );
}

/// Under the name `posthog-cli` (a link, as npm's `.bin` holds it) the binary answers `--version`
/// with a posthog-cli version first (posthog-react-native's scripts parse the first N.N.N), and a
/// run that finds nothing exits as posthog-cli 0.19.0 does: upload with a warning and 0, inject
/// and process with 1. Under its own name the exit code stays 3. Failures keep their exit codes and reasons under both.
#[cfg(unix)]
#[test]
fn the_posthog_cli_personality() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_symship"), bin.join("posthog-cli")).unwrap();
    // The same scrubbed environment and credentials as `symship_for`, under the other name.
    let as_posthog_cli = || on_program(&symship_for(&server, tmp.path()), bin.join("posthog-cli"));
    let out = as_posthog_cli().arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(version.starts_with("posthog-cli 0.19.0 (symship "), "{version}");
    let out = symship_for(&server, tmp.path())
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("symship {}", env!("CARGO_PKG_VERSION"))
    );

    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("nomap.js"), "console.log(1)\n").unwrap();
    for cmd in ["process", "upload", "inject"] {
        let (code, stderr) = code_of(
            as_posthog_cli()
                .env("RUST_LOG", "posthog_cli=info")
                .args(["sourcemap", cmd, "--directory"])
                .arg(&empty),
        );
        // As posthog-cli 0.19.0: upload warns and exits 0, inject and process exit 1
        // ("no source files found"); release_posthog_cli.rs compares with the real one.
        if cmd == "upload" {
            assert_eq!(code, 0, "posthog-cli sourcemap {cmd} on nothing: {stderr}");
            assert!(stderr.contains("nothing found to process"), "{cmd}: {stderr}");
        } else {
            assert_eq!(code, 1, "posthog-cli sourcemap {cmd} on nothing: {stderr}");
            assert!(stderr.contains("error: no source files found"), "{cmd}: {stderr}");
        }
        let (code, _) = code_of(
            symship_for(&server, tmp.path())
                .args(["sourcemap", cmd, "--directory"])
                .arg(&empty),
        );
        assert_eq!(code, 3, "symship sourcemap {cmd} on nothing");
    }

    // A wrong key under the personality: the server's reason is printed, the exit is not 0.
    let dir = build(tmp.path(), 1, "pers");
    let (code, stderr) = code_of(
        as_posthog_cli()
            .env("RUST_LOG", "posthog_cli=info")
            .env("POSTHOG_CLI_API_KEY", "phx_wrong")
            .args(["sourcemap", "process", "--directory"])
            .arg(&dir),
    );
    assert_ne!(code, 0, "{stderr}");
    assert!(stderr.contains("Invalid personal API key."), "{stderr}");
    // An unreachable host: named in the error.
    let (code, stderr) = code_of(
        as_posthog_cli()
            .env("RUST_LOG", "posthog_cli=info")
            .env("POSTHOG_CLI_HOST", "http://127.0.0.1:9")
            .args(["sourcemap", "process", "--directory"])
            .arg(&dir),
    );
    assert_ne!(code, 0, "{stderr}");
    assert!(
        stderr.contains("error: ") && stderr.contains("127.0.0.1:9"),
        "{stderr}"
    );
}

/// The verdict of a run that did not succeed is printed on stderr with `-q` and with
/// `--output json` too (the README: "The error that ends a run is always printed"); `--no-fail`
/// says why it exits 0 even with `-q`.
#[test]
fn the_verdict_is_printed_with_quiet_and_json_output() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    for flags in [&["-q"][..], &["--output", "json"][..]] {
        let (code, stderr) = code_of(
            symship_for(&server, tmp.path())
                .args(flags)
                .args(["sourcemap", "inject", "-d"])
                .arg(&empty),
        );
        assert_eq!(code, 3, "{flags:?}: {stderr}");
        assert!(
            stderr.contains("error: nothing found to process"),
            "{flags:?}: {stderr}"
        );
    }
    let (code, stderr) = code_of(
        symship_for(&server, tmp.path())
            .args(["-q", "--no-fail", "sourcemap", "inject", "-d"])
            .arg(&empty),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("--no-fail: exiting 0 although the run did not succeed (exit code would be 3)"),
        "{stderr}"
    );
}

/// A key the server refuses (401) is said once on stderr: not once in a log line and again in the
/// summary (upload), nor twice in one error line (the release error names its cause, which was
/// printed again as the cause).
#[test]
fn a_refused_key_is_printed_once() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = build(tmp.path(), 1, "once");
    for extra in [&[][..], &["--release-name", "app", "--release-version", "1"][..]] {
        for cmd in ["process", "upload"] {
            let (code, stderr) = code_of(
                symship_for(&server, tmp.path())
                    .env("POSTHOG_CLI_API_KEY", "phx_not_the_right_key")
                    .args(["sourcemap", cmd])
                    .args(extra)
                    .arg("-d")
                    .arg(&dir),
            );
            assert_eq!(code, 1, "{cmd} {extra:?}: {stderr}");
            assert_eq!(
                stderr.matches("Invalid personal API key.").count(),
                1,
                "{cmd} {extra:?}: the server's reason is printed once:\n{stderr}"
            );
        }
    }
}

/// A key the server refuses on a build that takes several checks (800 chunks: at most checks of
/// 50, 100, 200, 400 and 50): the first 401 stops the run. No later API call is sent (at most the
/// checks already in flight, up to 8, were sent before the first answer), the server's text is printed once
/// with the README's hint rather than once per chunk, every chunk is listed as not uploaded with
/// `authentication_failed`, and the exit code is 1 (chunks did not land), as posthog-cli 0.19.0's
/// (which retries each start three times first), under either name.
#[cfg(unix)]
#[test]
fn a_refused_key_stops_the_run_and_is_said_once() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = build(tmp.path(), 800, "refused");
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_symship"), bin.join("posthog-cli")).unwrap();
    let as_symship = || symship_for(&server, tmp.path());
    let as_posthog_cli = || on_program(&symship_for(&server, tmp.path()), bin.join("posthog-cli"));
    for (name, mut cmd) in [("symship", as_symship()), ("posthog-cli", as_posthog_cli())] {
        server.reset();
        let (code, summary, stderr) = run_json(
            cmd.env("POSTHOG_CLI_API_KEY", "phx_not_the_right_key")
                .args(["sourcemap", "process", "-d"])
                .arg(&dir),
        );
        assert_eq!(code, 1, "{name}: {stderr}");
        assert_eq!(
            stderr.matches("Invalid personal API key.").count(),
            1,
            "{name}: the server's reason is printed once:\n{stderr}"
        );
        assert!(
            stderr.contains(
                "check the personal API key (phx_...) and that --host is the instance it belongs to (EU: https://eu.posthog.com)"
            ),
            "{name}: the README's hint for a refused key: {stderr}"
        );
        let reqs = server.requests();
        let refused = reqs.iter().filter(|r| r.status == 401).count();
        assert!(
            (1..=8).contains(&refused) && refused == reqs.len(),
            "{name}: only the checks in flight at the first 401 were sent: {:?}",
            route_counts(&reqs)
        );
        assert_eq!(
            summary["requests"]["bulk_check_upload"], refused,
            "{name}: {summary}"
        );
        let failed = summary["failed"].as_array().unwrap();
        assert_eq!(failed.len(), 800, "{name}");
        assert!(
            failed.iter().all(|f| f["code"] == "authentication_failed"
                && !f["error"].as_str().unwrap().contains("Invalid personal API key.")),
            "{name}: {:?}",
            failed[0]
        );
        let errors = summary["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{name}: {summary}");
        assert!(
            errors[0]
                .as_str()
                .unwrap()
                .contains("HTTP 401 (authentication_failed): Invalid personal API key."),
            "{name}: {errors:?}"
        );
        assert!(server.symbol_sets().is_empty());
    }
}

/// A key refused after the checks passed (a 401 on every `bulk_start_upload`, as when the key is
/// revoked during the run): the first refused start ends the API calls. With one chunk per
/// batch and one transfer at a time, 3 batches are in flight at most, so at most 3 starts are
/// sent for the 8 chunks (each start was sent before: 8).
#[test]
fn a_key_refused_at_start_sends_no_more_starts() {
    let server = start(Config {
        faults: vec![FaultRule::new(
            "bulk_start_upload",
            FaultKind::Status { status: 401 },
        )],
        ..Config::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    let dir = build(tmp.path(), 8, "revoked");
    let (code, summary, stderr) = run_json(
        symship_for(&server, tmp.path())
            .args([
                "sourcemap",
                "process",
                "--batch-size",
                "1",
                "--concurrency",
                "1",
                "-d",
            ])
            .arg(&dir),
    );
    assert_eq!(code, 1, "{stderr}");
    let starts = count_route(&server, "bulk_start_upload");
    assert!((1..=3).contains(&starts), "{starts} starts: {stderr}");
    assert_eq!(count_route(&server, "bulk_finish_upload"), 0);
    assert_eq!(summary["requests"]["bulk_start_upload"], starts, "{summary}");
    assert_eq!(summary["failed"].as_array().unwrap().len(), 8, "{summary}");
    assert_eq!(stderr.matches("HTTP 401").count(), 1, "said once: {stderr}");
    assert!(
        stderr.contains("error: the server refused the API key (POST "),
        "{stderr}"
    );
}

/// `sourcemap process` that resolves a release and uploads reads its configuration once, builds
/// one API client and runs on one runtime (it used to resolve the configuration three times and
/// build two clients and two runtimes); `-v` says how many of each the run made.
#[test]
fn process_resolves_its_settings_once() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = build(tmp.path(), 2, "settings");
    let (code, stderr) = code_of(
        symship_for(&server, tmp.path())
            .args([
                "-v",
                "sourcemap",
                "process",
                "--release-name",
                "app",
                "--release-version",
                "1",
            ])
            .arg("-d")
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("resolved the configuration 1 time(s), built 1 API client(s), started 1 runtime(s)"),
        "{stderr}"
    );
    assert_eq!(server.symbol_sets().len(), 2, "both chunks landed");
}

/// With `--output json`, a run that stops before its summary (the release cannot be resolved: the
/// server refuses the key) still prints one JSON document on stdout with its exit code and why,
/// so a CI step that keeps the document does not keep an empty file.
#[test]
fn a_run_stopped_before_its_summary_still_prints_its_json_document() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = build(tmp.path(), 1, "stopped");
    let out = refused_key_process(&server, tmp.path(), &dir)
        .args(["--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is one JSON document ({e}): {:?}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(doc["exit_code"], 1, "{doc}");
    assert_eq!(doc["schema_version"], 1, "{doc}");
    let verdict = doc["verdict"].as_str().unwrap_or_default();
    assert!(verdict.contains("Invalid personal API key."), "{doc}");
    assert_eq!(doc["errors"][0].as_str(), Some(verdict), "{doc}");
}

/// `sourcemap process` of `dir` with a release, under a key the server refuses (401 "Invalid
/// personal API key."): the run stops while resolving the release.
fn refused_key_process(server: &TestServer, home: &Path, dir: &Path) -> Command {
    let mut cmd = symship_for(server, home);
    cmd.env("POSTHOG_CLI_API_KEY", "phx_not_the_right_key")
        .args([
            "sourcemap",
            "process",
            "--release-name",
            "app",
            "--release-version",
            "1",
        ])
        .arg("-d")
        .arg(dir);
    cmd
}
