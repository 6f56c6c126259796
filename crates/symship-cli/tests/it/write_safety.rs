//! Writing into a user's build safely (the reliability issue): two runs on one directory, a run
//! killed at every write step, symbolic links out of the scanned directory, and writes that fail.
//! Each test runs the real binary (against the test server where releases or uploads are needed)
//! and compares every byte left in the build with what one clean run leaves.

use std::collections::BTreeMap;
use std::path::Path;

use symship_test_support::*;
use symship_testserver::{Config, TestServer};

/// Every file below `dir` (hidden ones too), by relative path, as text (they are JS and JSON).
fn files(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir).into_iter().map(Result::unwrap) {
        if e.file_type().is_file() {
            let rel = e.path().strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            out.insert(
                rel,
                String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()).into_owned(),
            );
        }
    }
    out
}

/// UUIDs (random in symbol-set mode) replaced by their position of first appearance, so two runs
/// compare equal when they made the same edits with different random ids.
fn without_random_ids(files: BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut seen: Vec<String> = Vec::new();
    let is_uuid = |s: &[u8]| {
        s.len() == 36
            && s.iter().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => *b == b'-',
                _ => b.is_ascii_hexdigit(),
            })
    };
    files
        .into_iter()
        .map(|(name, text)| {
            let b = text.as_bytes();
            let mut out = String::new();
            let mut i = 0;
            while i < b.len() {
                if i + 36 <= b.len() && is_uuid(&b[i..i + 36]) {
                    let id = text[i..i + 36].to_string();
                    let n = seen.iter().position(|s| *s == id).unwrap_or_else(|| {
                        seen.push(id);
                        seen.len() - 1
                    });
                    out.push_str(&format!("<id{n:02}>{}", "-".repeat(31)));
                    i += 36;
                } else {
                    let c = text[i..].chars().next().unwrap();
                    out.push(c);
                    i += c.len_utf8();
                }
            }
            (name, out)
        })
        .collect()
}

fn leftovers(dir: &Path) -> Vec<String> {
    files(dir)
        .into_keys()
        .filter(|n| {
            Path::new(n)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".symship-")
        })
        .collect()
}

struct Mode {
    name: &'static str,
    /// Run once on the fresh build before the step under test (a release stamped earlier).
    before: &'static [&'static str],
    step: &'static [&'static str],
    random_ids: bool,
    /// The step removes what a re-run would find (`--delete-after`): a re-run after a kill at
    /// the very end finds nothing and exits 3, as it does after a clean run.
    rerun_may_find_nothing: bool,
}

const INJECT_V1: &[&str] = &[
    "sourcemap",
    "inject",
    "-d",
    "build",
    "--release-name",
    "app",
    "--release-version",
    "1",
];
const INJECT_V2: &[&str] = &[
    "sourcemap",
    "inject",
    "-d",
    "build",
    "--release-name",
    "app",
    "--release-version",
    "2",
];
const SYMBOL_SET_V1: &[&str] = &[
    "sourcemap",
    "inject",
    "-d",
    "build",
    "--release-mode",
    "symbol-set",
    "--release-name",
    "app",
    "--release-version",
    "1",
];
const SYMBOL_SET_V2: &[&str] = &[
    "sourcemap",
    "inject",
    "-d",
    "build",
    "--release-mode",
    "symbol-set",
    "--release-name",
    "app",
    "--release-version",
    "2",
];

#[rustfmt::skip]
const MODES: &[Mode] = &[
    Mode { name: "first stamp, event mode", before: &[], step: &["sourcemap", "inject", "-d", "build"],
           random_ids: false, rerun_may_find_nothing: false },
    Mode { name: "release restamp, event mode", before: INJECT_V1, step: INJECT_V2,
           random_ids: false, rerun_may_find_nothing: false },
    // The snippet grows by the release (309 -> 393 bytes): the map is written twice, marked
    // between the two writes.
    Mode { name: "release stamped on a chunk first stamped without one, event mode",
           before: &["sourcemap", "inject", "-d", "build"], step: INJECT_V1,
           random_ids: false, rerun_may_find_nothing: false },
    Mode { name: "first stamp, symbol-set mode", before: &[], step: SYMBOL_SET_V1,
           random_ids: true, rerun_may_find_nothing: false },
    Mode { name: "release restamp, symbol-set mode", before: SYMBOL_SET_V1, step: SYMBOL_SET_V2,
           random_ids: true, rerun_may_find_nothing: false },
    Mode {
        name: "process --delete-after",
        before: &[],
        step: &["sourcemap", "process", "-d", "build", "--delete-after", "--release-name", "app", "--release-version", "1"],
        random_ids: false,
        rerun_may_find_nothing: true,
    },
];

fn run(server: &TestServer, cwd: &Path, args: &[&str], abort_after: Option<u64>) -> std::process::Output {
    let mut c = symship_for(server, cwd);
    c.args(args);
    if let Some(n) = abort_after {
        c.env("SYMSHIP_TEST_ABORT_AFTER_WRITE_STEPS", n.to_string());
    }
    c.output().expect("run symship")
}

fn fresh_build(server: &TestServer, root: &Path, mode: &Mode) -> std::path::PathBuf {
    let cwd = tempfile::Builder::new().tempdir_in(root).unwrap().keep();
    generate(&cwd.join("build"), 2, 1, "crash");
    if !mode.before.is_empty() {
        let out = run(server, &cwd, mode.before, None);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    cwd
}

/// A kill after every write step of each inject mode (temporary file written; renamed or
/// exchanged into place; old content removed; a map deleted), then a re-run: the build ends with
/// the bytes of one clean run (random ids aside), and no temporary file is left.
#[test]
fn a_run_killed_at_any_write_step_then_run_again_gives_the_clean_runs_files() {
    let server = start(Config::default());
    let root = tempfile::tempdir().unwrap();
    for mode in MODES {
        let clean_dir = fresh_build(&server, root.path(), mode);
        let out = run(&server, &clean_dir, mode.step, None);
        assert!(
            out.status.success(),
            "{}: {}",
            mode.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let normalise = |f| if mode.random_ids { without_random_ids(f) } else { f };
        let clean = normalise(files(&clean_dir.join("build")));
        let mut killed = 0;
        for n in 1..200 {
            let dir = fresh_build(&server, root.path(), mode);
            let out = run(&server, &dir, mode.step, Some(n));
            if out.status.success() {
                break; // fewer than n write steps: every step has been tried
            }
            assert_eq!(
                out.status.code(),
                None,
                "{}: step {n} ends by the abort (a signal), not an exit code: {}",
                mode.name,
                String::from_utf8_lossy(&out.stderr)
            );
            killed += 1;
            let again = run(&server, &dir, mode.step, None);
            let found_nothing = again.status.code() == Some(3) && mode.rerun_may_find_nothing;
            assert!(
                again.status.success() || found_nothing,
                "{}: the re-run after a kill at step {n} succeeds: {}",
                mode.name,
                String::from_utf8_lossy(&again.stderr)
            );
            let after = normalise(files(&dir.join("build")));
            assert_eq!(
                after, clean,
                "{}: killed at write step {n}, then run again",
                mode.name
            );
            assert!(
                leftovers(&dir.join("build")).is_empty(),
                "{}: step {n}",
                mode.name
            );
            // The server's side: every symbol set it holds is finished (the uploads of the
            // delete-after mode land whatever the kill interrupted), and nothing broke its rules.
            let sets = server.symbol_sets();
            assert!(
                sets.iter()
                    .all(|s| s.content_hash.is_some() && s.storage_ptr.is_some()),
                "{}: step {n}: an unfinished symbol set on the server: {sets:?}",
                mode.name
            );
            assert!(
                server.violations().is_empty(),
                "{}: {:?}",
                mode.name,
                server.violations()
            );
        }
        assert!(killed >= 6, "{}: only {killed} write steps", mode.name);
        if mode.rerun_may_find_nothing {
            // Both chunks of the build, uploaded once each (the same content every round).
            assert_eq!(server.symbol_sets().len(), 2, "{}", mode.name);
        }
    }
}

/// Two runs at once on one directory (a build script and a watcher): the second waits for the
/// first, and the files end as one clean run leaves them. Before the lock, 6 of 6 such inject
/// runs corrupted the build.
#[test]
fn two_concurrent_runs_on_one_directory_leave_the_clean_runs_files() {
    let server = start(Config::default());
    let root = tempfile::tempdir().unwrap();
    let base = root.path().join("base");
    generate(&base.join("build"), 40, 2, "conc");
    let clean_dir = root.path().join("clean");
    copy_dir(&base, &clean_dir);
    let inject = INJECT_V1;
    assert!(run(&server, &clean_dir, inject, None).status.success());
    let clean = files(&clean_dir.join("build"));
    let process: &[&str] = &[
        "sourcemap",
        "process",
        "-d",
        "build",
        "--release-name",
        "app",
        "--release-version",
        "1",
    ];
    for (round, args) in [inject, inject, inject, process, process].into_iter().enumerate() {
        let dir = root.path().join(format!("round{round}"));
        copy_dir(&base, &dir);
        let children: Vec<_> = (0..2)
            .map(|_| {
                let mut c = symship_for(&server, &dir);
                c.args(args)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                c.spawn().unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert_eq!(files(&dir.join("build")), clean, "round {round} ({})", args[1]);
    }
}

/// `--no-wait` fails at once (exit 1) while another run holds the directory.
#[test]
fn no_wait_fails_while_another_run_holds_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    generate(&tmp.path().join("build"), 1, 1, "nowait");
    let held = std::fs::File::open(tmp.path().join("build")).unwrap();
    held.lock().unwrap();
    let out = symship_in(tmp.path())
        .args(["sourcemap", "inject", "--no-wait", "-d", "build"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("another symship run is writing to"), "{stderr}");
    assert!(
        files(&tmp.path().join("build"))["c0.js"].ends_with("c0.js.map\n"),
        "nothing written"
    );
}

/// Temporary files that a killed run left (possibly whole maps with sourcesContent) are removed
/// by the next run, so they are never deployed.
#[test]
fn leftovers_of_a_killed_run_are_removed_by_the_next_run() {
    let tmp = tempfile::tempdir().unwrap();
    let build = tmp.path().join("build");
    generate(&build, 2, 1, "left");
    std::fs::create_dir_all(build.join("assets")).unwrap();
    std::fs::write(
        build.join(".symship-AbC123.tmp"),
        r#"{"sourcesContent":["secret"]}"#,
    )
    .unwrap();
    std::fs::write(build.join("assets/.symship-zz99yy.tmp"), "old chunk").unwrap();
    let out = symship_in(tmp.path())
        .args(["sourcemap", "inject", "-d", "build"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(leftovers(&build).is_empty(), "{:?}", leftovers(&build));
}

/// A chunk that is a symbolic link to a file outside `-d` is not written through (it is skipped
/// with a reason); the file outside keeps its bytes.
#[cfg(unix)]
#[test]
fn a_symlinked_chunk_outside_the_directory_is_not_written() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("vendor");
    let build = tmp.path().join("build");
    generate(&outside, 1, 1, "outside");
    generate(&build, 1, 1, "inside");
    // An inline map, so that the chunk alone would be rewritten.
    let map = std::fs::read(outside.join("c0.js.map")).unwrap();
    let code = std::fs::read_to_string(outside.join("c0.js")).unwrap();
    let inline = code.replace(
        "//# sourceMappingURL=c0.js.map",
        &format!(
            "//# sourceMappingURL=data:application/json;base64,{}",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &map)
        ),
    );
    std::fs::write(outside.join("lib.js"), &inline).unwrap();
    std::os::unix::fs::symlink(outside.join("lib.js"), build.join("lib.js")).unwrap();
    std::os::unix::fs::symlink(&outside, build.join("vendor")).unwrap();
    let before = files(&outside);
    let out = symship_in(tmp.path())
        .args(["sourcemap", "inject", "-d", "build", "--output", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(files(&outside), before, "nothing outside -d was written");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let skipped: Vec<(&str, &str)> = summary["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["file"].as_str().unwrap(), s["code"].as_str().unwrap()))
        .collect();
    assert!(
        skipped
            .iter()
            .any(|(f, c)| f.ends_with("build/lib.js") && *c == "link_outside_root"),
        "{skipped:?}"
    );
    assert!(
        skipped
            .iter()
            .any(|(f, c)| f.ends_with("build/vendor/c0.js") && *c == "link_outside_root"),
        "{skipped:?}"
    );
    assert_eq!(summary["injected"], 1, "the chunk inside was injected");
}

/// A write that fails (here: the file size limit, which binds root too) is a failure: exit 1,
/// the file named, in the JSON summary's `not_written`; nothing half-written is left.
#[cfg(unix)]
#[test]
fn a_failed_write_exits_1_and_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let build = tmp.path().join("build");
    generate(&build, 1, 8, "full");
    let before = files(&build);
    // SIGXFSZ ignored before exec stays ignored, so the write gets EFBIG instead of a kill.
    let out = file_size_limited(
        symship_in(tmp.path()).args(["sourcemap", "inject", "-d", "build", "--output", "json"]),
        4,
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let failed = summary["not_written"].as_array().expect("not_written");
    assert_eq!(failed.len(), 1, "{summary:#}");
    assert!(
        failed[0]["file"].as_str().unwrap().ends_with("c0.js"),
        "{summary:#}"
    );
    assert_eq!(failed[0]["code"], "write_failed");
    assert!(
        failed[0]["error"].as_str().unwrap().contains("c0.js"),
        "{summary:#}"
    );
    assert_eq!(summary["exit_code"], 1);
    assert_eq!(files(&build), before, "the build is as it was");
}

/// `--delete-after` that cannot rewrite a chunk (here: the file size limit) leaves the reference
/// and the map: a failure named in `not_written` and in the verdict, not a "--strict" skip.
#[cfg(unix)]
#[test]
fn a_failed_delete_after_rewrite_is_named_and_exits_1() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let build = tmp.path().join("build");
    generate(&build, 1, 8, "strip");
    let inject = run(&server, tmp.path(), INJECT_V1, None);
    assert!(
        inject.status.success(),
        "{}",
        String::from_utf8_lossy(&inject.stderr)
    );
    let mut c = symship_for(&server, tmp.path());
    c.args([
        "sourcemap",
        "process",
        "-d",
        "build",
        "--delete-after",
        "--output",
        "json",
    ])
    .args(&INJECT_V1[4..])
    .env("SYMSHIP_NO_CACHE", "1");
    let out = file_size_limited(&c, 4).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let failed = summary["not_written"].as_array().expect("not_written");
    assert_eq!(failed.len(), 1, "{summary:#}");
    assert!(
        failed[0]["file"].as_str().unwrap().ends_with("c0.js"),
        "{summary:#}"
    );
    assert_eq!(failed[0]["code"], "rewrite_failed", "{summary:#}");
    assert!(
        stderr.contains("error: 1 file(s) could not be written"),
        "{stderr}"
    );
    assert!(!stderr.contains("--strict"), "{stderr}");
    // Nothing half done: the chunk keeps its reference and the map is still there.
    assert!(std::fs::read_to_string(build.join("c0.js"))
        .unwrap()
        .contains("sourceMappingURL=c0.js.map"));
    assert!(build.join("c0.js.map").exists());
}

/// An inject killed between the map's write and the chunk's, while the chunk's snippet grows by
/// a release, leaves the map marked (`x_symship_pending_snippet`): `upload` does not send that
/// map (its positions do not fit the chunk), it names the chunk and says to inject again; after
/// inject runs again the mark is gone and the upload sends the set.
#[test]
fn a_map_marked_by_an_interrupted_inject_is_never_uploaded() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let build = tmp.path().join("build");
    generate(&build, 1, 1, "mark");
    let first = run(&server, tmp.path(), &["sourcemap", "inject", "-d", "build"], None);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    // Write steps of the map: temporary file written (1), exchanged into place (2).
    let killed = run(&server, tmp.path(), INJECT_V1, Some(2));
    assert_eq!(killed.status.code(), None, "killed by the abort");
    let map = std::fs::read_to_string(build.join("c0.js.map")).unwrap();
    assert!(map.contains("\"x_symship_pending_snippet\":393"), "{map}");

    let upload: &[&str] = &["sourcemap", "upload", "-d", "build", "--output", "json"];
    let out = run(&server, tmp.path(), upload, None);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let skipped = summary["skipped"].as_array().expect("skipped");
    assert_eq!(skipped.len(), 1, "{summary:#}");
    assert!(
        skipped[0]["file"].as_str().unwrap().ends_with("c0.js"),
        "{summary:#}"
    );
    assert_eq!(skipped[0]["code"], "bad_map", "{summary:#}");
    assert!(
        summary
            .to_string()
            .contains("run `symship sourcemap inject` again"),
        "{summary:#}"
    );
    assert!(server.symbol_sets().is_empty(), "{:?}", server.symbol_sets());

    let again = run(&server, tmp.path(), INJECT_V1, None);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(!std::fs::read_to_string(build.join("c0.js.map"))
        .unwrap()
        .contains("x_symship"));
    let out = run(&server, tmp.path(), upload, None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(server.symbol_sets().len(), 1);
}

fn symship_with_stdin(cwd: &Path, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = symship_in(cwd)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn skipped_codes(summary: &serde_json::Value) -> Vec<(String, String)> {
    string_pairs(&summary["skipped"], "file", "code")
}

/// Paths named on `--stdin` (as `find build -name '*.js'` or a plugin lists them) are not written
/// through a symbolic link that leads out of the current directory's tree: neither a chunk under
/// a linked directory nor a map its reference reaches through a link. They are skipped with
/// `link_outside_root`; the chunk inside is injected (exit 0, as for other skips).
#[cfg(unix)]
#[test]
fn paths_named_on_stdin_are_not_written_through_a_link_out_of_the_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    let outside = tmp.path().join("vendor");
    let build = project.join("build");
    generate(&outside, 1, 1, "outside");
    generate(&build, 1, 1, "inside");
    std::os::unix::fs::symlink(&outside, build.join("vendor")).unwrap();
    // A chunk inside whose map reference goes through the link.
    std::fs::copy(outside.join("c0.js.map"), outside.join("lib.js.map")).unwrap();
    std::fs::write(
        build.join("lib.js"),
        "function lib(){}\n//# sourceMappingURL=vendor/lib.js.map\n",
    )
    .unwrap();
    let before = files(&outside);
    let out = symship_with_stdin(
        &project,
        &["sourcemap", "inject", "--stdin", "--output", "json"],
        "build/c0.js\nbuild/vendor/c0.js\nbuild/lib.js\n",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(files(&outside), before, "nothing outside the tree was written");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let skipped = skipped_codes(&summary);
    for name in ["build/vendor/c0.js", "build/lib.js"] {
        assert!(
            skipped
                .iter()
                .any(|(f, c)| f.ends_with(name) && c == "link_outside_root"),
            "{name}: {skipped:?}"
        );
    }
    assert_eq!(summary["injected"], 1, "{summary:#}");
    // The same named with an absolute path through a link to the current directory.
    let alias = tmp.path().join("alias");
    std::os::unix::fs::symlink(&project, &alias).unwrap();
    let out = symship_with_stdin(
        &project,
        &["sourcemap", "inject", "--stdin", "--output", "json"],
        &format!("{}\n", alias.join("build/vendor/c0.js").display()),
    );
    assert_eq!(files(&outside), before, "nothing outside the tree was written");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(
        skipped_codes(&summary).first().map(|(_, c)| c.as_str()),
        Some("link_outside_root"),
        "{summary:#}"
    );
}

/// A file named on `--stdin` whose map sits in another folder (`dist/a.js` with
/// `../maps/a.js.map`): the run locks that folder too, so it waits for (or, with `--no-wait`,
/// refuses) a run that holds it, and writes nothing meanwhile.
#[test]
fn the_lock_covers_a_named_files_map_in_another_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    let maps = tmp.path().join("maps");
    generate(&dist, 1, 1, "apart");
    std::fs::create_dir_all(&maps).unwrap();
    std::fs::rename(dist.join("c0.js.map"), maps.join("c0.js.map")).unwrap();
    let js = std::fs::read_to_string(dist.join("c0.js"))
        .unwrap()
        .replace("sourceMappingURL=c0.js.map", "sourceMappingURL=../maps/c0.js.map");
    std::fs::write(dist.join("c0.js"), &js).unwrap();
    let before = files(tmp.path());

    let held = std::fs::File::open(&maps).unwrap();
    held.lock().unwrap();
    let args = ["sourcemap", "inject", "--stdin", "--no-wait"];
    let out = symship_with_stdin(tmp.path(), &args, "dist/c0.js\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("another symship run is writing to"), "{stderr}");
    assert!(stderr.contains("maps"), "{stderr}");
    assert_eq!(files(tmp.path()), before, "nothing written");

    // Without --no-wait the run waits for the holder, then injects both files.
    let (tx, rx) = std::sync::mpsc::channel();
    let dir = tmp.path().to_path_buf();
    let waiter = std::thread::spawn(move || {
        let mut child = symship_in(&dir)
            .args(["sourcemap", "inject", "--stdin"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"dist/c0.js\n").unwrap();
        }
        let mut stderr = child.stderr.take().unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 256];
        while !String::from_utf8_lossy(&seen).contains("Blocking") {
            let n = std::io::Read::read(&mut stderr, &mut buf).unwrap();
            assert!(n > 0, "ended without waiting: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
        tx.send(String::from_utf8_lossy(&seen).into_owned()).unwrap();
        std::io::Read::read_to_end(&mut stderr, &mut seen).unwrap();
        (child.wait().unwrap(), String::from_utf8_lossy(&seen).into_owned())
    });
    let blocking = rx.recv_timeout(std::time::Duration::from_secs(60)).unwrap();
    assert!(blocking.contains("maps"), "{blocking}");
    assert_eq!(files(tmp.path()), before, "nothing written while it waits");
    drop(held);
    let (status, stderr) = waiter.join().unwrap();
    assert!(status.success(), "{stderr}");
    assert!(std::fs::read_to_string(dist.join("c0.js"))
        .unwrap()
        .contains("_posthogChunkIds"));
    assert!(std::fs::read_to_string(maps.join("c0.js.map"))
        .unwrap()
        .contains("\"chunk_id\""));
}

/// A client that cannot be built (here: `SSL_CERT_FILE` names no file) stops `process` before
/// anything is written or sent, though the client is built while the scan runs: exit 2, the
/// file named, the build byte for byte as it was, no request at the server.
#[test]
fn process_stops_before_writing_when_the_client_cannot_be_built() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let build = tmp.path().join("build");
    generate(&build, 3, 1, "ca");
    let before = files(&build);
    let missing = tmp.path().join("no-such-ca.pem");
    let out = symship_for(&server, tmp.path())
        .env("SSL_CERT_FILE", &missing)
        .args(["sourcemap", "process", "-d", "build"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no-such-ca.pem"), "{stderr}");
    assert_eq!(files(&build), before, "nothing written");
    assert!(
        server.requests().is_empty(),
        "nothing sent: {:?}",
        server.requests().len()
    );
    assert!(leftovers(&build).is_empty());
}

/// An `--exclude` (or `--ignore`) that names a file's real path excludes it however a symbolic
/// link inside the directory reaches it (fresh tester: `dist/app.js -> real/main.js` with
/// `--exclude '**/real/**'` injected and uploaded the excluded file through the link; posthog-cli
/// 0.19.0, which does not follow links, finds nothing there). inject, process and upload choose
/// their files in one place.
#[cfg(unix)]
#[test]
fn an_exclude_names_a_file_however_a_link_inside_the_directory_reaches_it() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    generate(&dist.join("real"), 1, 1, "real");
    generate(&dist.join("keep"), 1, 1, "keep");
    std::os::unix::fs::symlink("real/c0.js", dist.join("app.js")).unwrap();
    std::os::unix::fs::symlink("real", dist.join("alias")).unwrap();
    let real = files(&dist.join("real"));
    let injected = |summary: &serde_json::Value| -> Vec<String> {
        summary["chunks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["file"].as_str().unwrap().to_owned())
            .collect()
    };
    let keep = dist.join("keep/c0.js").canonicalize().unwrap();
    // inject: relative to the root, and as the walk names the real file (`-d dist`)
    for exclude in ["**/real/**", "dist/real/*.js"] {
        let out = symship_in(tmp.path())
            .args([
                "sourcemap",
                "inject",
                "-d",
                "dist",
                "--output",
                "json",
                "--exclude",
                exclude,
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(summary["pairs_found"], 1, "--exclude {exclude}: {summary:#}");
        assert_eq!(injected(&summary), [keep.display().to_string()], "{summary:#}");
        assert_eq!(
            files(&dist.join("real")),
            real,
            "--exclude {exclude}: the excluded file is untouched"
        );
    }
    // process, with the alias --ignore: nothing of the real file is sent
    let summary = crate::support::process(
        &server,
        tmp.path(),
        Path::new("dist"),
        &["--ignore", "**/real/**"],
    );
    assert_eq!(summary["pairs_found"], 1, "{summary:#}");
    assert_eq!(
        files(&dist.join("real")),
        real,
        "process left the excluded file untouched"
    );
    let sets = server.symbol_sets();
    assert_eq!(sets.len(), 1, "{sets:?}");
    let keep_id = chunk_ids(&dist.join("keep"))[0].0.clone();
    assert_eq!(sets[0].ref_, keep_id);
    // upload: the real file injected by a run without the exclude is not uploaded with it
    let out = symship_in(tmp.path())
        .args(["sourcemap", "inject", "-d", "dist"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let real_id = chunk_ids(&dist.join("real"))[0].0.clone();
    let (code, summary, stderr) = run_json(symship_for(&server, tmp.path()).args([
        "sourcemap",
        "upload",
        "-d",
        "dist",
        "--exclude",
        "**/real/**",
    ]));
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    assert_eq!(summary["pairs_found"], 1, "{summary:#}");
    let refs: Vec<String> = server.symbol_sets().into_iter().map(|s| s.ref_).collect();
    assert_eq!(refs, [keep_id], "{real_id} (the excluded file) was not uploaded");
}
