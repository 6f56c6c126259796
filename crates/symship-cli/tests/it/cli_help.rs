//! `--help` of every command is snapshotted (tests/snapshots/cli/help/), so a flag change shows
//! up in review; the command list is discovered from the help itself, so a new command without
//! a snapshot fails too. `SYMSHIP_UPDATE_SNAPSHOTS=1` rewrites them (and removes stale ones).
//! Also: `symship completions <shell>`.

use std::collections::BTreeSet;
use std::process::Command;

use symship_test_support::*;

use crate::support::*;

fn symship(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_symship"))
        .env_clear()
        .env("COLUMNS", "100")
        .env("POSTHOG_HOME", "/nonexistent-symship-test-home")
        .args(args)
        .output()
        .expect("run symship")
}

/// The subcommands listed under "Commands:" of a help text (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("    "))
        .filter_map(|l| l.split_whitespace().next())
        .map(|s| s.trim_end_matches(',').to_string())
        .filter(|s| s != "help")
        .collect()
}

#[test]
fn help_of_every_command_is_snapshotted() {
    let mut queue: Vec<Vec<String>> = vec![vec![]];
    let mut seen = BTreeSet::new();
    let mut failures = Vec::new();
    while let Some(path) = queue.pop() {
        let mut args: Vec<&str> = path.iter().map(|s| s.as_str()).collect();
        args.push("--help");
        let out = symship(&args);
        assert!(out.status.success(), "symship {args:?}");
        let help = String::from_utf8(out.stdout).unwrap();
        let name = if path.is_empty() {
            "help/symship.txt".to_string()
        } else {
            format!("help/symship-{}.txt", path.join("-"))
        };
        if let Err(e) = check_snapshot(&name, &help) {
            failures.push(e);
        }
        seen.insert(name);
        for sub in subcommands(&help) {
            let mut p = path.clone();
            p.push(sub);
            queue.push(p);
        }
    }
    for must in [
        "help/symship.txt",
        "help/symship-sourcemap-inject.txt",
        "help/symship-sourcemap-upload.txt",
        "help/symship-sourcemap-process.txt",
        "help/symship-release-resolve.txt",
        "help/symship-completions.txt",
    ] {
        assert!(seen.contains(must), "{must} discovered: {seen:?}");
    }
    // snapshots of commands that no longer exist
    let dir = snapshots().path("cli").join("help");
    for e in std::fs::read_dir(&dir).into_iter().flatten() {
        let name = format!("help/{}", e.unwrap().file_name().to_string_lossy());
        if !seen.contains(&name) {
            if updating() {
                std::fs::remove_file(snapshots().path("cli").join(&name)).unwrap();
            } else {
                failures.push(format!(
                    "{name}: no such command any more; SYMSHIP_UPDATE_SNAPSHOTS=1 removes it"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn posthog_cli_names_and_aliases_are_in_the_help() {
    let help = String::from_utf8(symship(&["sourcemap", "upload", "--help"]).stdout).unwrap();
    for flag in [
        "--directory",
        "[alias: --file]",
        "--exclude",
        "[alias: --ignore]",
        "--include",
        "--release-name",
        "[alias: --project]",
        "--release-version",
        "[alias: --version]",
        "--batch-size",
        "--delete-after",
        "--host",
        "--no-fail",
        "--skip-ssl-verification",
        "--dotenv-file",
        "--dry-run",
    ] {
        assert!(help.contains(flag), "{flag} in:\n{help}");
    }
}

#[test]
fn completions_for_every_shell() {
    for (shell, marker) in [
        ("bash", "_symship()"),
        ("zsh", "#compdef symship"),
        ("fish", "complete -c symship"),
        ("elvish", "edit:completion:arg-completer[symship]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = symship(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains(marker), "{shell}: {marker}");
        for word in ["sourcemap", "process", "release-name", "completions"] {
            assert!(script.contains(word), "{shell} completes {word}");
        }
    }
    // the bash script parses
    let out = symship(&["completions", "bash"]);
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("symship.bash");
    std::fs::write(&f, &out.stdout).unwrap();
    let check = Command::new("bash").arg("-n").arg(&f).output().unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // an unknown shell is a usage error
    assert_eq!(symship(&["completions", "tcsh"]).status.code(), Some(2));
}
