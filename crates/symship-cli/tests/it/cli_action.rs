//! The GitHub Action (action.yml + scripts/action-run.sh): hostile input values reach symship as
//! literal arguments (a fake `symship` on PATH records its argv), nothing is executed, the API
//! key travels in the environment only; the real binary runs through the same script; and
//! action.yml never interpolates an input into a `run:` script.

use std::path::{Path, PathBuf};
use std::process::Command;

use symship_test_support::*;

/// A fake `symship` that writes its argv (NUL-separated) and its API key env to files.
fn fake_symship(dir: &Path) -> PathBuf {
    let bin = dir.join("fakebin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = bin.join("symship");
    std::fs::write(
        &path,
        "#!/usr/bin/env bash\nprintf '%s\\0' \"$@\" > \"$FAKE_ARGV\"\nprintf '%s' \"${POSTHOG_CLI_API_KEY-}|${POSTHOG_CLI_PROJECT_ID-}\" > \"$FAKE_ENV\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[allow(clippy::disallowed_methods)] // test harness settings from the environment
fn action_run(tmp: &Path, inputs: &[(&str, &str)]) -> (Command, PathBuf, PathBuf) {
    let bin = fake_symship(tmp);
    let home = tmp.join("home");
    let work = tmp.join("work");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(home.join("sentinel"), "still here").unwrap();
    let argv = tmp.join("argv");
    let env = tmp.join("env");
    let mut cmd = Command::new("bash");
    cmd.arg(repo_root().join("scripts/action-run.sh"));
    scrub(&mut cmd);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    cmd.env("PATH", path)
        .env("HOME", &home)
        .env("FAKE_ARGV", &argv)
        .env("FAKE_ENV", &env)
        .current_dir(&work);
    for (k, v) in inputs {
        cmd.env(format!("SYMSHIP_INPUT_{k}"), v);
    }
    (cmd, argv, env)
}

fn read_argv(p: &Path) -> Vec<String> {
    let raw = std::fs::read(p).unwrap_or_else(|e| panic!("the fake symship did not run ({e})"));
    raw.split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8(s.to_vec()).unwrap())
        .collect()
}

/// Every file below `dir` (to show no canary was created anywhere).
fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn hostile_inputs_arrive_as_literal_arguments() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = [
        (
            "DIRECTORY",
            "dist\n\"; rm -rf ~ #\n$(touch canary-dollar)\n`touch canary-backtick`\n--help\n'; touch canary-quote; '",
        ),
        ("INCLUDE", "**/*.js\n$(id)"),
        ("EXCLUDE", "*.map; touch canary-semicolon\n${HOME}"),
        ("RELEASE_NAME", "\"; rm -rf ~ #"),
        ("RELEASE_VERSION", "$(id)`id`"),
        ("BUILD", "line1\nline2 $(touch canary-build)"),
        ("HOST", "https://eu.posthog.com/$(touch canary-host)"),
        ("API_KEY", "phx_$(touch canary-key)`id`"),
        ("PROJECT_ID", " 12345 "),
        ("CONCURRENCY", "4"),
        ("BATCH_SIZE", "25"),
        ("DELETE_AFTER", "true"),
        ("DRY_RUN", "false"),
    ];
    let (mut cmd, argv, env) = action_run(tmp.path(), &inputs);
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        read_argv(&argv),
        [
            "--host=https://eu.posthog.com/$(touch canary-host)",
            "sourcemap",
            "process",
            "--directory=dist",
            "--directory=\"; rm -rf ~ #",
            "--directory=$(touch canary-dollar)",
            "--directory=`touch canary-backtick`",
            "--directory=--help",
            "--directory='; touch canary-quote; '",
            "--include=**/*.js",
            "--include=$(id)",
            "--exclude=*.map; touch canary-semicolon",
            "--exclude=${HOME}",
            "--release-name=\"; rm -rf ~ #",
            "--release-version=$(id)`id`",
            "--build=line1\nline2 $(touch canary-build)",
            "--concurrency=4",
            "--batch-size=25",
            "--delete-after",
        ]
    );
    // the key and project id are in the environment, literally, and not in argv
    assert_eq!(
        std::fs::read_to_string(&env).unwrap(),
        "phx_$(touch canary-key)`id`|12345"
    );
    // nothing was executed and nothing was deleted
    let files = all_files(tmp.path());
    assert!(
        !files
            .iter()
            .any(|f| f.file_name().unwrap().to_string_lossy().starts_with("canary")),
        "{files:?}"
    );
    assert!(tmp.path().join("home/sentinel").exists());
    // the key is masked in the log (a literal key, too) and appears nowhere else
    assert_eq!(
        stdout.trim(),
        "::add-mask::phx_$(touch canary-key)`id`",
        "only the mask command is printed"
    );
}

#[test]
fn bad_inputs_fail_with_exit_2_without_echoing_them() {
    for (input, value, says) in [
        (
            "DELETE_AFTER",
            "yes please\n::set-output name=x::y",
            "delete-after must be true or false",
        ),
        ("DRY_RUN", "maybe", "dry-run must be true or false"),
        ("CONCURRENCY", "4; id", "concurrency must be a whole number"),
        ("BATCH_SIZE", "$(id)", "batch-size must be a whole number"),
        ("PROJECT_ID", "12\n::error::forged", "project-id must be a number"),
        (
            "API_KEY",
            "phx_a\n::error::forged",
            "api-key must be a single line",
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let (mut cmd, argv, _) = action_run(tmp.path(), &[("DIRECTORY", "dist"), (input, value)]);
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{input}: {stderr}");
        assert!(stderr.contains(says), "{input}: {stderr}");
        assert!(
            !stderr.contains("forged") && !stderr.contains("set-output"),
            "{stderr}"
        );
        assert!(!argv.exists(), "{input}: symship was not run");
    }
    // no directory at all
    let tmp = tempfile::tempdir().unwrap();
    let (mut cmd, argv, _) = action_run(tmp.path(), &[("DIRECTORY", " \n ")]);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("input directory is required"));
    assert!(!argv.exists());
}

/// The same script drives the real binary: a dry run over a committed build, with the outputs
/// written for the composite action.
#[test]
fn the_real_binary_runs_through_the_action_script() {
    let tmp = tempfile::tempdir().unwrap();
    let build = tmp.path().join("work/dist");
    copy_dir(&repo_root().join("fixtures/vite-react/dist"), &build);
    let outputs = tmp.path().join("github_output");
    let summary = tmp.path().join("step_summary.md");
    let (mut cmd, _, _) = action_run(
        tmp.path(),
        &[
            ("DIRECTORY", "dist"),
            ("DRY_RUN", "true"),
            ("API_KEY", "phx_dry_run"),
            ("PROJECT_ID", "1"),
        ],
    );
    let out = cmd
        .env("SYMSHIP_BIN", env!("CARGO_BIN_EXE_symship"))
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let o = std::fs::read_to_string(&outputs).unwrap();
    assert!(o.contains("\nfailed=0\n") && o.contains("\nexit-code=0\n"), "{o}");
    let json_line = o.lines().find_map(|l| l.strip_prefix("summary-json=")).unwrap();
    let json: serde_json::Value = serde_json::from_str(json_line).unwrap();
    assert_eq!(json["dry_run"], true);
    assert_eq!(json["would_upload"], 4, "{json:#}");
    assert!(std::fs::read_to_string(&summary).unwrap().contains("(dry run)"));
}

/// action.yml: inputs reach shell only through `env:` (no `${{` inside any `run:`), every input
/// is handed to the run step, every output comes from it.
#[test]
fn action_yml_never_interpolates_inputs_into_shell() {
    let text = std::fs::read_to_string(repo_root().join("action.yml")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut runs = 0;
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("run:") {
            runs += 1;
            assert!(!rest.contains("${{"), "action.yml:{}: {line}", i + 1);
            // a block scalar: every more-indented line after it
            let indent = line.len() - trimmed.len();
            for (j, l) in lines.iter().enumerate().skip(i + 1) {
                let t = l.trim_start();
                if !t.is_empty() && l.len() - t.len() <= indent {
                    break;
                }
                assert!(!l.contains("${{"), "action.yml:{}: {l}", j + 1);
            }
        }
    }
    assert!(runs >= 3, "the run steps were found");
    // inputs: section -> each one reaches the run step's env
    let inputs: Vec<&str> = lines
        .iter()
        .skip_while(|l| **l != "inputs:")
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with(' '))
        .filter(|l| l.starts_with("  ") && !l.starts_with("   ") && l.ends_with(':'))
        .map(|l| l.trim().trim_end_matches(':'))
        .collect();
    assert_eq!(
        inputs,
        [
            "directory",
            "api-key",
            "project-id",
            "host",
            "release-name",
            "release-version",
            "build",
            "include",
            "exclude",
            "delete-after",
            "concurrency",
            "batch-size",
            "dry-run",
            "version"
        ]
    );
    for input in inputs {
        let var = if input == "version" {
            "SYMSHIP_WANT_VERSION".to_string()
        } else {
            format!("SYMSHIP_INPUT_{}", input.to_uppercase().replace('-', "_"))
        };
        assert!(
            text.contains(&format!("{var}: ${{{{ inputs.{input} }}}}")),
            "input {input} is passed as {var} in env:"
        );
    }
    for output in ["release-id", "uploaded", "skipped", "failed", "summary-json"] {
        assert!(
            text.contains(&format!("value: ${{{{ steps.run.outputs.{output} }}}}")),
            "output {output}"
        );
    }
}
