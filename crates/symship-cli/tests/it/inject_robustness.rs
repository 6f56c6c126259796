//! Inject under a kill, and on bad input.

use std::fs;
use std::path::Path;
use std::time::Duration;

use symship_test_support::*;

/// A generated build: `n` chunks, each with a map carrying some `sourcesContent` weight.
fn generate(dir: &Path, n: usize) {
    let content = "x".repeat(60_000);
    for i in 0..n {
        let js = format!(
            "var a{i}=function(){{return {i}}};console.log(a{i}());\n//# sourceMappingURL=c{i}.js.map\n"
        );
        let map = format!(
            r#"{{"version":3,"file":"c{i}.js","sources":["src/c{i}.ts"],"sourcesContent":["{content}"],"names":["a{i}"],"mappings":"AAAA,IAAIA,EAAE;AACN"}}"#
        );
        fs::write(dir.join(format!("c{i}.js")), js).unwrap();
        fs::write(dir.join(format!("c{i}.js.map")), map).unwrap();
    }
}

fn inject_cmd(dir: &Path) -> std::process::Command {
    let mut c = symship();
    c.args(["-q", "sourcemap", "inject", "--directory"]).arg(dir);
    c
}

#[test]
fn a_killed_run_leaves_every_file_old_or_new_and_a_rerun_finishes() {
    let n = 400;
    let original = tempfile::tempdir().unwrap();
    generate(original.path(), n);
    // The expected result: event mode is deterministic.
    let expected = tempfile::tempdir().unwrap();
    copy_dir(original.path(), expected.path());
    assert!(output(&mut inject_cmd(expected.path())).status.success());

    let mut interrupted = 0;
    for delay_ms in [5u64, 20, 60, 120] {
        let work = tempfile::tempdir().unwrap();
        copy_dir(original.path(), work.path());
        let mut child = inject_cmd(work.path()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL: no cleanup code runs
        let status = child.wait().unwrap();
        let mut new = 0;
        for rel in files(original.path()) {
            let got = fs::read(work.path().join(&rel)).unwrap();
            let old = fs::read(original.path().join(&rel)).unwrap();
            let want = fs::read(expected.path().join(&rel)).unwrap();
            assert!(
                got == old || got == want,
                "{} is neither old nor new after a kill at {delay_ms} ms",
                rel.display()
            );
            new += usize::from(got == want && got != old);
        }
        // No half-written file under a target name; temporary files are not JavaScript.
        for rel in files(work.path()) {
            let name = rel.to_string_lossy();
            assert!(
                name.ends_with(".js") || name.ends_with(".map") || name.ends_with(".tmp"),
                "{name}"
            );
        }
        if !status.success() && new < 2 * n {
            interrupted += 1;
        }
        // A re-run completes the job, and lands exactly on the uninterrupted result.
        assert!(output(&mut inject_cmd(work.path())).status.success());
        for rel in files(original.path()) {
            assert!(
                fs::read(work.path().join(&rel)).unwrap() == fs::read(expected.path().join(&rel)).unwrap(),
                "{} differs after the re-run (kill at {delay_ms} ms)",
                rel.display()
            );
        }
    }
    assert!(
        interrupted >= 1,
        "no run was actually interrupted; the corpus is too small to test a kill"
    );
}

#[test]
fn bad_input_is_reported_by_name_and_the_rest_goes_on() {
    let root = tempfile::tempdir().unwrap();
    let dist = root.path().join("dist");
    fs::create_dir(&dist).unwrap();
    // A good pair.
    fs::write(
        dist.join("good.js"),
        "console.log(1);\n//# sourceMappingURL=good.js.map\n",
    )
    .unwrap();
    fs::write(
        dist.join("good.js.map"),
        r#"{"version":3,"sources":["a.ts"],"names":[],"mappings":"AAAA"}"#,
    )
    .unwrap();
    // Malformed map JSON.
    fs::write(
        dist.join("broken.js"),
        "console.log(2);\n//# sourceMappingURL=broken.js.map\n",
    )
    .unwrap();
    fs::write(dist.join("broken.js.map"), r#"{"version":3,"mappings":"AAAA""#).unwrap();
    // A map reference that escapes the scanned directory.
    fs::write(
        root.path().join("outside.js.map"),
        r#"{"version":3,"sources":["o.ts"],"names":[],"mappings":"AAAA"}"#,
    )
    .unwrap();
    fs::write(
        dist.join("escape.js"),
        "console.log(3);\n//# sourceMappingURL=../outside.js.map\n",
    )
    .unwrap();
    // A loop of file links.
    std::os::unix::fs::symlink("loop2.js", dist.join("loop.js")).unwrap();
    std::os::unix::fs::symlink("loop.js", dist.join("loop2.js")).unwrap();
    // A file that is not UTF-8.
    fs::write(
        dist.join("latin1.js"),
        b"var s='\xe9';\n//# sourceMappingURL=latin1.js.map\n",
    )
    .unwrap();
    fs::write(
        dist.join("latin1.js.map"),
        r#"{"version":3,"sources":["l.ts"],"names":[],"mappings":"AAAA"}"#,
    )
    .unwrap();
    // A 200 MB map.
    let big = format!(
        r#"{{"version":3,"sources":["big.ts"],"sourcesContent":["{}"],"names":[],"mappings":"AAAA"}}"#,
        "y".repeat(200 * 1024 * 1024)
    );
    fs::write(
        dist.join("big.js"),
        "console.log(4);\n//# sourceMappingURL=big.js.map\n",
    )
    .unwrap();
    fs::write(dist.join("big.js.map"), big).unwrap();

    let out = output(
        symship()
            .args(["--output", "json", "sourcemap", "inject", "-d"])
            .arg(&dist),
    );
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "skips are not failures unless --strict: {err}"
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let skipped = summary["skipped"].as_array().unwrap();
    let reason_for = |file: &str| -> (String, String) {
        let s = skipped
            .iter()
            .find(|s| s["file"].as_str().unwrap().ends_with(file))
            .unwrap_or_else(|| panic!("{file} not reported as skipped: {summary}"));
        (
            s["code"].as_str().unwrap().to_string(),
            s["reason"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(reason_for("broken.js").0, "bad_map");
    assert!(
        reason_for("broken.js").1.contains("broken.js.map"),
        "{:?}",
        reason_for("broken.js")
    );
    assert_eq!(reason_for("escape.js").0, "map_outside_root");
    assert!(reason_for("escape.js").1.contains("outside.js.map"));
    assert_eq!(reason_for("latin1.js").0, "not_utf8");
    assert_eq!(reason_for("loop.js").0, "symlink_loop");
    // Each skip is also said on stderr, naming the file.
    for name in ["broken.js", "escape.js", "latin1.js", "loop.js"] {
        assert!(err.contains(name), "stderr does not name {name}: {err}");
    }
    // The good pair and the big one were injected; the broken ones are untouched.
    assert_eq!(summary["injected"], 2, "{summary}");
    assert!(fs::read_to_string(dist.join("good.js"))
        .unwrap()
        .contains("//# chunkId="));
    assert!(fs::read_to_string(dist.join("big.js"))
        .unwrap()
        .contains("//# chunkId="));
    assert!(
        err.contains("big.js.map") && err.contains("100 MiB"),
        "the big map gets a warning: {err}"
    );
    assert_eq!(
        fs::read_to_string(dist.join("broken.js")).unwrap(),
        "console.log(2);\n//# sourceMappingURL=broken.js.map\n"
    );
    assert!(!fs::read_to_string(dist.join("escape.js"))
        .unwrap()
        .contains("chunkId"));

    // With --strict the same run fails.
    fs::write(
        dist.join("broken2.js"),
        "console.log(5);\n//# sourceMappingURL=broken.js.map\n",
    )
    .unwrap();
    let out = output(
        symship()
            .args(["sourcemap", "inject", "--strict", "-d"])
            .arg(&dist),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

/// A directory link back to a directory above it (`sub/up -> ..`) is no file the scan would take,
/// and what it leads to is scanned already: it is no skipped file, whatever `--include` says
/// (a fresh tester: `--include a.js --strict` exited 1 for it, and `--include '**/*.txt'` said
/// "1 file(s) were found, and every one was skipped"). `-v` says the link was not followed.
#[cfg(unix)]
#[test]
fn a_directory_link_to_a_directory_above_is_no_skipped_file() {
    let tmp = tempfile::tempdir().unwrap();
    let e2 = tmp.path().join("e2");
    fs::create_dir_all(e2.join("sub")).unwrap();
    fs::write(
        e2.join("a.js"),
        "console.log(1);\n//# sourceMappingURL=a.js.map\n",
    )
    .unwrap();
    fs::write(
        e2.join("a.js.map"),
        r#"{"version":3,"sources":["a.ts"],"names":[],"mappings":"AAAA"}"#,
    )
    .unwrap();
    std::os::unix::fs::symlink("..", e2.join("sub/up")).unwrap();
    let inject = |extra: &[&str]| {
        let mut c = symship_in(tmp.path());
        c.args(["sourcemap", "inject", "-d", "e2"]).args(extra);
        run(&mut c)
    };
    let r = inject(&["--include", "a.js", "--strict", "-v"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("skipped       0"), "{}", r.stderr);
    assert!(
        r.stderr.contains("not following e2/sub/up") && !r.stderr.contains("symlink_loop"),
        "-v names the link it did not follow, as no skip: {}",
        r.stderr
    );
    let r = inject(&["--include", "**/*.txt"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("nothing found to process") && !r.stderr.contains("sub/up"),
        "nothing was found, not every found file skipped: {}",
        r.stderr
    );
    let (code, summary, err) =
        run_json(symship_in(tmp.path()).args(["sourcemap", "inject", "-d", "e2", "--strict"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(summary["skipped"], serde_json::json!([]), "{summary}");
}

/// Links named on their own. On `--stdin`, a link that leads to no file is reported only under a
/// name the scan takes, as a file is taken only under one: `notes.txt -> gone.txt` and `img.png ->
/// gone.png` are passed over as a real `real.txt` is (a fresh tester: they were `broken_link`, and
/// `--strict` exited 1), `x.js -> gone.js` is still `broken_link`. Given to `--file` or `-d`, such a
/// link stops the run (exit 2) with what it is and the flag used (it was "--directory d/x.js does not
/// exist; run the build first" for `--file`, and for a loop of links).
#[cfg(unix)]
#[test]
fn links_named_on_their_own_say_what_they_are() {
    use std::io::Write as _;
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("d");
    fs::create_dir(&d).unwrap();
    fs::write(d.join("a.js"), "console.log(1);\n//# sourceMappingURL=a.js.map\n").unwrap();
    fs::write(
        d.join("a.js.map"),
        r#"{"version":3,"sources":["a.ts"],"names":[],"mappings":"AAAA"}"#,
    )
    .unwrap();
    fs::write(d.join("real.txt"), "notes").unwrap();
    symlink("gone.txt", d.join("notes.txt")).unwrap();
    symlink("gone.png", d.join("img.png")).unwrap();
    symlink("gone.js", d.join("x.js")).unwrap();
    symlink("y.js", d.join("loop.js")).unwrap();
    symlink("loop.js", d.join("y.js")).unwrap();
    // a chain of 41 links to a.js: one more than the system follows
    for i in 0..41 {
        let next = if i == 40 {
            "a.js".to_string()
        } else {
            format!("c{}.js", i + 1)
        };
        symlink(next, d.join(format!("c{i}.js"))).unwrap();
    }
    let on_stdin = |paths: &str| {
        let mut c = symship_in(tmp.path());
        c.args(["--output", "json", "sourcemap", "inject", "--stdin", "--strict"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        child.stdin.take().unwrap().write_all(paths.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), summary, stderr(&out))
    };
    let (code, summary, err) = on_stdin("d/notes.txt\nd/img.png\nd/real.txt\nd/a.js\n");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(summary["skipped"], serde_json::json!([]), "{summary}");
    let (code, summary, err) = on_stdin("d/x.js\nd/a.js\n");
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(summary["skipped"][0]["code"], "broken_link", "{summary}");

    for (flag, path, says) in [
        (
            "--file",
            "d/x.js",
            "is a symbolic link to gone.js, which does not exist",
        ),
        (
            "-d",
            "d/x.js",
            "is a symbolic link to gone.js, which does not exist",
        ),
        ("--file", "d/loop.js", "is part of a loop of symbolic links"),
        ("--directory", "d/loop.js", "is part of a loop of symbolic links"),
        (
            "--file",
            "d/c0.js",
            "starts a chain of more than 40 symbolic links",
        ),
        ("--file", "d/missing.js", "does not exist"),
    ] {
        let r = run(symship_in(tmp.path()).args(["sourcemap", "inject", flag, path]));
        assert_eq!(r.code, 2, "{flag} {path}: {}", r.stderr);
        assert!(
            r.stderr.contains(&format!("error: -d/--file {path} {says}")),
            "{flag} {path}: {}",
            r.stderr
        );
        if path != "d/missing.js" {
            assert!(
                !r.stderr.contains("run the build first"),
                "{flag} {path}: {}",
                r.stderr
            );
        }
    }
}

#[test]
fn nothing_found_exits_3_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("no-map.js"), "x();").unwrap();
    let out = output(symship().args(["sourcemap", "inject", "-d"]).arg(dir.path()));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no-map.js"),
        "the file without a map is named: {}",
        stderr(&out)
    );
    let out = output(
        symship()
            .args(["sourcemap", "inject", "--allow-empty", "-d"])
            .arg(dir.path()),
    );
    assert_eq!(out.status.code(), Some(0));
    let out = output(
        symship()
            .args(["sourcemap", "inject", "-d"])
            .arg(dir.path().join("missing")),
    );
    assert_eq!(out.status.code(), Some(2), "a missing directory is a usage error");
    let out = output(symship().args(["sourcemap", "inject"]));
    assert_eq!(out.status.code(), Some(2));
}
