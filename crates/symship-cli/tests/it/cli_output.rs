//! What symship shows: progress bars only under a terminal (run under a pseudo-terminal with
//! util-linux `script`), plain lines otherwise or with SYMSHIP_NO_PROGRESS=1, the text and JSON
//! summaries (snapshots), and the GitHub Actions annotations, job summary and step outputs.

use std::path::Path;
use std::process::Output;

use symship_test_support::*;

use crate::support::*;
use symship_testserver::{Config, FaultKind, FaultRule, TestServer};

/// Runs `symship ARGS` under a pseudo-terminal; returns the terminal's transcript.
fn under_pty(server: &TestServer, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let script = require_tool("script");
    let line = std::iter::once(env!("CARGO_BIN_EXE_symship"))
        .chain(args.iter().copied())
        .map(sh_quote)
        .collect::<Vec<_>>()
        .join(" ");
    // The environment of `symship_for`, on `script`, which runs the binary.
    let mut cmd = on_program(&symship_for(server, cwd), script);
    cmd.env("TERM", "xterm-256color").env("COLUMNS", "120");
    for (k, v) in env {
        cmd.env(k, v);
    }
    // -q quiet, -f flush, -e child's exit code, -c command; the typescript goes nowhere
    let out = cmd
        .args(["-qfec", &line, "/dev/null"])
        .output()
        .expect("run script");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn has_bar(s: &str) -> bool {
    s.contains("] ") && s.contains("[=") && s.contains("\x1b[")
}

#[test]
fn bars_appear_under_a_terminal() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("build");
    generate(&dir, 40, 2, "pty");
    let (code, t) = under_pty(
        &server,
        tmp.path(),
        &[
            "sourcemap",
            "process",
            "--concurrency",
            "2",
            "-d",
            dir.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{t}");
    assert!(has_bar(&t), "a drawn bar (cursor control and [=...]):\n{t:?}");
    for phase in ["scan", "inject", "upload"] {
        assert!(t.contains(phase), "{phase} shown: {t:?}");
    }
    assert!(t.contains("40/40 chunks") || t.contains("40 chunks"), "{t:?}");
    // the bars finish with what was done, then the summary follows
    assert!(t.contains("uploaded      40"), "{t:?}");
    assert!(
        !t.contains("INFO upload:"),
        "no plain progress lines with bars: {t:?}"
    );
}

#[test]
fn no_bars_without_a_terminal_only_plain_lines() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("build");
    generate(&dir, 40, 2, "pipe");
    let out: Output = symship_for(&server, tmp.path())
        .args(["sourcemap", "process", "--concurrency", "2", "-d"])
        .arg(&dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        !err.contains('\r') && !err.contains("\x1b["),
        "no cursor control or colour: {err:?}"
    );
    assert!(!err.contains("[="), "no bar: {err}");
    // one line per phase when it ends (and at most one every 5 s while it runs)
    for phase in ["scan: 40 pairs found", "inject: 40 pairs in", "upload: 40 chunks"] {
        assert_eq!(err.matches(phase).count(), 1, "{phase}: {err}");
    }
    assert!(err.contains("uploaded      40"), "{err}");
    assert!(out.stdout.is_empty(), "text mode writes nothing on stdout");
}

#[test]
fn symship_no_progress_turns_bars_off_on_a_terminal_and_quiet_shows_nothing() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("build");
    generate(&dir, 10, 1, "np");
    let (code, t) = under_pty(
        &server,
        tmp.path(),
        &["sourcemap", "inject", "-d", dir.to_str().unwrap()],
        &[("SYMSHIP_NO_PROGRESS", "1")],
    );
    assert_eq!(code, 0, "{t}");
    assert!(!has_bar(&t), "{t:?}");
    assert!(t.contains("inject: 10 pairs in"), "plain lines instead: {t:?}");
    // -q: no progress, no summary when all is well
    let (code, t) = under_pty(
        &server,
        tmp.path(),
        &["-q", "sourcemap", "inject", "-d", dir.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 0);
    assert_eq!(t.trim(), "", "-q prints nothing on success: {t:?}");
}

/// A fixed scenario for the summary snapshots: a build of three chunks and a file without a
/// map; the server already holds the first two chunks (an earlier run) and refuses to finish
/// the third (`bulk_finish_upload` answers 400), so every count is deterministic.
fn scenario(tmp: &Path) -> (TestServer, std::path::PathBuf) {
    let server = start(Config::default());
    let dir = tmp.join("build");
    generate(&dir, 3, 1, "snap");
    let held = tmp.join("held");
    std::fs::create_dir_all(&held).unwrap();
    for f in ["c2.js", "c2.js.map"] {
        std::fs::rename(dir.join(f), held.join(f)).unwrap();
    }
    let (code, summary, stderr) = run_json(
        symship_for(&server, tmp)
            .args(["sourcemap", "process", "-d"])
            .arg(&dir),
    );
    assert_eq!(
        (code, &summary["uploaded"]),
        (0, &serde_json::json!(2)),
        "{stderr}"
    );
    for f in ["c2.js", "c2.js.map"] {
        std::fs::rename(held.join(f), dir.join(f)).unwrap();
    }
    std::fs::write(dir.join("nomap.js"), "console.log('no map')\n").unwrap();
    server.set_faults(vec![FaultRule::new(
        "bulk_finish_upload",
        FaultKind::Status { status: 400 },
    )]);
    (server, dir)
}

#[test]
fn text_summary_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, dir) = scenario(tmp.path());
    let out = symship_for(&server, tmp.path())
        .args(["sourcemap", "process", "--concurrency", "1", "-d"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    // the summary is the block after the last progress line
    let start = err.find("\nsymship sourcemap process").expect("summary block");
    assert_snapshot(
        "summary_process.txt",
        &normalize_text(&err[start + 1..], tmp.path()),
    );

    // inject alone, on the same (now injected) build: everything already injected
    let out = symship_for(&server, tmp.path())
        .args(["sourcemap", "inject", "-d"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    let start = err.find("\nsymship sourcemap inject").expect("summary block");
    assert_snapshot(
        "summary_inject.txt",
        &normalize_text(&err[start + 1..], tmp.path()),
    );
}

#[test]
fn json_summary_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, dir) = scenario(tmp.path());
    let (code, summary, stderr) = run_json(
        symship_for(&server, tmp.path())
            .args(["sourcemap", "process", "--concurrency", "1", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 1, "{stderr}");
    // the schema: these keys, in this order
    let keys: Vec<&str> = summary.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "schema_version",
            "command",
            "dry_run",
            "release_id",
            "pairs_found",
            "injected",
            "updated",
            "unchanged",
            "skipped",
            "chunks",
            "exit_code",
            "wall_ms",
            "uploaded",
            "skipped_already_present",
            "skipped_kept_different",
            "skipped_too_large",
            "skipped_duplicate",
            "would_upload",
            "hashes_from_cache",
            "failed",
            "bytes",
            "requests",
            "timings_ms",
            "upload_wall_ms",
            "concurrency",
            "stripped",
            "deleted",
            "warnings",
            "errors",
            "verdict"
        ]
    );
    for phase in ["scan", "inject", "upload"] {
        assert!(summary["wall_ms"][phase].is_u64(), "wall_ms.{phase}: {summary:#}");
    }
    let text = serde_json::to_string_pretty(&normalize_json(&summary, tmp.path())).unwrap() + "\n";
    assert_snapshot("summary_process.json", &text);
}

#[test]
fn github_actions_annotations_job_summary_and_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, dir) = scenario(tmp.path());
    // a file name GitHub's property escaping must handle
    std::fs::write(dir.join("odd,name:1%.js"), "x()\n").unwrap();
    let step_summary = tmp.path().join("step_summary.md");
    let outputs = tmp.path().join("github_output");
    std::fs::write(&step_summary, "earlier step\n").unwrap();
    let out = symship_for(&server, tmp.path())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &step_summary)
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_WORKSPACE", tmp.path())
        .args(["sourcemap", "process", "--concurrency", "1", "-d"])
        .arg(&dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let annotations: Vec<&str> = err.lines().filter(|l| l.starts_with("::")).collect();
    let errors: Vec<&&str> = annotations.iter().filter(|l| l.starts_with("::error ")).collect();
    assert_eq!(errors.len(), 1, "one ::error per failed chunk: {annotations:#?}");
    for e in &errors {
        assert!(
            e.starts_with("::error file=build/c2.js,title=symship%3A not uploaded (finish_failed)::"),
            "names the file relative to the workspace: {e}"
        );
    }
    assert!(
        annotations.contains(
            &"::warning file=build/nomap.js,title=symship%3A skipped (no_map)::build/nomap.js was skipped: \
              no sourcemap found (no sourceMappingURL comment and no <file>.map next to it)"
        ),
        "{annotations:#?}"
    );
    assert!(
        annotations
            .iter()
            .any(|a| a.starts_with("::warning file=build/odd%2Cname%3A1%25.js,title=")),
        "property escaping of , : %: {annotations:#?}"
    );

    let md = std::fs::read_to_string(&step_summary).unwrap();
    assert!(md.starts_with("earlier step\n"), "appended, not replaced");
    assert!(md.contains("### symship sourcemap process"), "{md}");
    assert!(
        md.contains("| uploaded | 0 |") && md.contains("| failed | 1 |"),
        "{md}"
    );
    assert!(md.contains("| skipped: no_map | 2 |"), "{md}");
    assert!(md.contains("| skipped: already_present | 2 |"), "{md}");
    assert!(md.contains("#### Not uploaded"), "{md}");
    assert!(
        md.contains("odd,name:1%.js"),
        "file names as text in the table: {md}"
    );
    assert_snapshot(
        "github_step_summary.md",
        &normalize_text(md.strip_prefix("earlier step\n").unwrap(), tmp.path()),
    );

    let o = std::fs::read_to_string(&outputs).unwrap();
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(
        &lines[..5],
        [
            "release-id=",
            "uploaded=0",
            "skipped=4",
            "failed=1",
            "exit-code=1"
        ],
        "{o}"
    );
    let json: serde_json::Value =
        serde_json::from_str(lines[5].strip_prefix("summary-json=").expect("summary-json")).unwrap();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["failed"].as_array().unwrap().len(), 1);
    assert_eq!(lines.len(), 6, "every output is one line: {o}");
}

#[test]
fn outside_github_actions_nothing_is_written_for_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, dir) = scenario(tmp.path());
    let step_summary = tmp.path().join("step_summary.md");
    let out = symship_for(&server, tmp.path())
        .env("GITHUB_STEP_SUMMARY", &step_summary)
        .args(["sourcemap", "process", "-d"])
        .arg(&dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.lines().any(|l| l.starts_with("::")), "{err}");
    assert!(!step_summary.exists());
}

/// A fresh tester's finding (s12 #6): a Next.js build has runtime files and manifests without a
/// sourcemap (`webpack-*.js`, `_buildManifest.js`, `_ssgManifest.js`, ...), and symship printed a
/// warning for each (22 on a small app), while posthog-cli 0.19.0 passes them over without a word.
/// Now one line says how many and names the first three; `-v` names each, and the JSON summary
/// still lists every one (`skipped`, `no_map`). The chunks with maps are uploaded as before.
#[test]
fn javascript_files_without_a_sourcemap_are_said_in_one_line() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(".next/static");
    copy_dir(&repo_root().join("fixtures/vite-react/dist"), &dir.join("chunks"));
    let runtime = [
        "chunks/webpack-59c5c889f52620d6.js",
        "chunks/polyfills-42372ed130431b0a.js",
        "development/_buildManifest.js",
        "development/_ssgManifest.js",
        "chunks/react-loadable-manifest.js",
    ];
    for f in runtime {
        let p = dir.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "self.__BUILD_MANIFEST={};\n").unwrap();
    }
    let (code, summary, stderr) = run_json(
        symship_for(&server, tmp.path())
            .args(["sourcemap", "process", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["uploaded"], 4, "{summary}");
    assert_eq!(server.symbol_sets().len(), 4);
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("sourcemap")).collect();
    assert_eq!(lines.len(), 1, "one line for the five: {stderr}");
    assert!(
        lines[0].starts_with(" WARN 5 JavaScript files have no sourcemap (no_map: "),
        "{stderr}"
    );
    assert_eq!(
        lines[0].matches(".js").count(),
        3,
        "the first three named: {}",
        lines[0]
    );
    assert!(lines[0].contains(" and 2 more (-v names each"), "{}", lines[0]);
    let skipped = summary["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 5, "{summary}");
    for f in runtime {
        let file = dir.join(f).display().to_string();
        assert!(
            skipped
                .iter()
                .any(|s| s["file"] == file.as_str() && s["code"] == "no_map"),
            "{file} in {summary}"
        );
    }
    // -v names each, as before
    let out = symship_for(&server, tmp.path())
        .args(["-v", "sourcemap", "inject", "-d"])
        .arg(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for f in runtime {
        let line = format!("skipped {}: no sourcemap found", dir.join(f).display());
        assert_eq!(stderr.matches(&line).count(), 1, "{line} in {stderr}");
    }
}
