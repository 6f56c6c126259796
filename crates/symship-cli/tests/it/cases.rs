//! The real inputs of `fixtures/cases/` (issue 13), each run through the real `symship` binary
//! and, where it uploads, `symship-testserver` over s3s-fs, asserting the expected behaviour of
//! `fixtures/cases/CASES.md`. Plus the unreachable object storage situation, built here.
//!
//! `SYMSHIP_CASES_BIN` runs them against another build of symship (how they were seen to fail
//! on the code before the fix).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use symship_scan::ReleaseMode;
use symship_test_support::*;
use symship_testserver::{Config, FaultKind, FaultRule, Mode, TestServer};

use crate::support::*;

/// A fresh copy of a case folder, in a temp dir outside any git repository.
fn case(name: &str) -> (tempfile::TempDir, PathBuf) {
    fixture_copy(&format!("cases/{name}"))
}

/// `symship` against `server`, or the build named by `SYMSHIP_CASES_BIN`.
#[allow(clippy::disallowed_methods)] // test harness settings from the environment
pub(crate) fn symship(server: &TestServer, cwd: &Path) -> Command {
    let c = symship_for(server, cwd);
    match std::env::var_os("SYMSHIP_CASES_BIN") {
        Some(bin) => on_program(&c, bin),
        None => c,
    }
}

fn node(file: &Path) -> String {
    let out = Command::new("node").arg(file).output().expect("node runs");
    assert!(
        out.status.success(),
        "node {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub(crate) fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The one finished symbol set on the server: (ref, stored source, stored map).
fn only_set(server: &TestServer) -> (String, String, Value) {
    let sets: Vec<_> = server
        .symbol_sets()
        .into_iter()
        .filter(|s| s.content_hash.is_some())
        .collect();
    assert_eq!(sets.len(), 1, "one finished set: {sets:?}");
    let object = server
        .object_bytes(sets[0].storage_ptr.as_deref().unwrap())
        .unwrap();
    let (src, map) = symship_upload::container::read(&object).unwrap();
    assert!(server.violations().is_empty(), "{:?}", server.violations());
    (sets[0].ref_.clone(), src, serde_json::from_str(&map).unwrap())
}

/// `symship sourcemap inject -d <dir>`, run to its end.
fn inject(server: &TestServer, cwd: &Path, dir: &Path) -> Output {
    symship(server, cwd)
        .args(["sourcemap", "inject", "-d"])
        .arg(dir)
        .output()
        .unwrap()
}

fn registrations(js: &str) -> usize {
    js.matches("_posthogChunkIds[").count()
}

#[test]
fn string_literal_delete_after() {
    let server = start(Config::default());
    let (tmp, dir) = case("string-literal-delete-after");
    let js = dir.join("codegen.js");
    let before = node(&js);
    let (code, summary, stderr) = run_json(
        symship(&server, tmp.path())
            .args(["sourcemap", "process", "--delete-after", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    assert_eq!(summary["uploaded"], 1, "{summary:#}");
    assert!(!dir.join("codegen.js.map").exists(), "the map goes");
    let after = std::fs::read_to_string(&js).unwrap();
    assert!(
        after.contains("\n//# sourceMappingURL=${name}.map\n`"),
        "the line inside the template literal stays:\n{after}"
    );
    assert_eq!(node(&js), before, "the program prints the same as before");
}

#[test]
fn string_literal_inline_map() {
    let server = start(Config::default());
    let (tmp, dir) = case("string-literal-inline-map");
    let before = node(&dir.join("codegen.js"));
    let (code, summary, stderr) = run_json(
        symship(&server, tmp.path())
            .args(["sourcemap", "process", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    let c = chunks(&summary);
    assert_eq!(c.len(), 1, "{summary:#}");
    assert!(
        c[0].1.ends_with("codegen.js.map"),
        "paired with the map beside it: {c:?}"
    );
    assert_eq!(c[0].3, "uploaded");
    assert_server_holds_exactly(&server, &c, ReleaseMode::Event);
    assert_eq!(node(&dir.join("codegen.js")), before);
}

#[test]
fn minifier_rewritten_snippet() {
    const ID: &str = "7d1e0b7a-3c2f-4b8e-9a55-2f1c8e4d6b10";
    let server = start(Config::default());
    let (tmp, dir) = case("minifier-rewritten-snippet");
    let js = dir.join("lazy-Dx1q.js");
    let (code, summary, stderr) = run_json(
        symship(&server, tmp.path())
            .args(["sourcemap", "process", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    let c = chunks(&summary);
    assert_eq!(
        (c[0].2.as_str(), c[0].3.as_str()),
        (ID, "uploaded"),
        "{summary:#}"
    );
    let text = std::fs::read_to_string(&js).unwrap();
    assert_eq!(registrations(&text), 1, "never a second snippet:\n{text}");
    let (set, src, map) = only_set(&server);
    assert_eq!(set, ID, "the id posthog-js reads is the one uploaded");
    assert_eq!(src, text);
    assert_eq!(map["chunk_id"], ID);
    // `upload` afterwards: the same id, nothing new.
    let (code, summary, stderr) = run_json(
        symship(&server, tmp.path())
            .args(["sourcemap", "upload", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    assert_eq!(chunks(&summary)[0].2, ID);
    assert_eq!(only_set(&server).0, ID);
    assert_eq!(registrations(&std::fs::read_to_string(&js).unwrap()), 1);
}

#[test]
fn late_minify_composed_map() {
    const ID: &str = "8b6ab95e-1c53-4cbd-bfb6-0cfc88062e86";
    let server = start(Config::default());
    let (tmp, dir) = case("late-minify-composed-map");
    let (code, summary, stderr) = run_json(
        symship(&server, tmp.path())
            .args(["sourcemap", "process", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    let c = chunks(&summary);
    assert_eq!(
        (c[0].2.as_str(), c[0].3.as_str()),
        (ID, "uploaded"),
        "{summary:#}"
    );
    assert_eq!(only_set(&server).0, ID, "uploaded under the snippet's id");
    assert_eq!(
        registrations(&std::fs::read_to_string(dir.join("main.js")).unwrap()),
        1
    );
}

#[test]
fn full_url_public_path() {
    let server = start(Config::default());
    let (tmp, dir) = case("full-url-public-path");
    let (code, summary, stderr) = run_json(
        symship(&server, tmp.path())
            .args([
                "sourcemap",
                "process",
                "-p",
                "https://cdn.example.com/static/js/",
                "-d",
            ])
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    assert_eq!(summary["pairs_found"], 1, "{summary:#}");
    let c = chunks(&summary);
    assert!(c[0].1.ends_with("static/js/maps/480.710a7446.js.map"), "{c:?}");
    assert_eq!(c[0].3, "uploaded");
    assert_server_holds_exactly(&server, &c, ReleaseMode::Event);
}

#[test]
fn stdin_map_in_sibling_dir() {
    let server = start(Config::default());
    let (tmp, dir) = case("stdin-map-in-sibling-dir");
    let js = dir.join("dist/assets/index.js");
    // As PostHog's webpack and rollup plugins call the CLI: the paths on stdin.
    let mut cmd = symship(&server, tmp.path());
    cmd.args(["sourcemap", "process", "--stdin", "--output", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{}", js.display()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let summary: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    assert_eq!(out.status.code(), Some(0), "{}\n{summary:#}", text(&out));
    let c = chunks(&summary);
    assert_eq!(c.len(), 1, "{summary:#}");
    assert!(c[0].1.ends_with("dist/maps/assets/index.js.map"), "{c:?}");
    assert_eq!(c[0].3, "uploaded");
    assert_server_holds_exactly(&server, &c, ReleaseMode::Event);

    // `-d FILE` names the file too: its own root. (Already uploaded: present.)
    let (code, summary, stderr) = run_json(
        symship(&server, tmp.path())
            .args(["sourcemap", "process", "-d"])
            .arg(&js),
    );
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    assert_eq!(summary["pairs_found"], 1, "{summary:#}");
    // A walked directory that does not hold the map still refuses it.
    let (code, summary, _) = run_json(
        symship(&server, tmp.path())
            .args(["sourcemap", "process", "-d"])
            .arg(dir.join("dist/assets")),
    );
    assert_eq!(code, 3, "{summary:#}");
    assert_eq!(summary["skipped"][0]["code"], "map_outside_root", "{summary:#}");
}

#[test]
fn duplicate_copy_delete_after() {
    let server = start(Config::default());
    let (tmp, dir) = case("duplicate-copy-delete-after");
    let (code, summary, stderr) = run_json(
        symship(&server, tmp.path())
            .args(["sourcemap", "process", "--delete-after", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    assert!(
        !dir.join("toolbar-3f9a1c.js.map").exists(),
        "the map is deleted: {summary:#}"
    );
    for name in ["toolbar.js", "toolbar-3f9a1c.js"] {
        let t = std::fs::read_to_string(dir.join(name)).unwrap();
        assert!(!t.contains("sourceMappingURL"), "{name} keeps a reference:\n{t}");
    }
    assert_eq!(summary["deleted"].as_array().unwrap().len(), 1, "{summary:#}");
    assert_eq!(summary["stripped"].as_array().unwrap().len(), 2, "{summary:#}");
    assert!(summary["warnings"].as_array().unwrap().is_empty(), "{summary:#}");
}

/// When --delete-after keeps a map (here: storage refused the upload), it says which file still
/// references it and why, in the log and in the JSON warnings.
#[test]
fn duplicate_copy_delete_after_names_what_it_keeps() {
    let server = start(Config {
        faults: vec!["s3_put:status=400".parse().unwrap()],
        ..Config::default()
    });
    let (tmp, dir) = case("duplicate-copy-delete-after");
    let (code, summary, stderr) = run_json(
        symship(&server, tmp.path())
            .args(["sourcemap", "process", "--delete-after", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 1, "{stderr}\n{summary:#}");
    assert!(dir.join("toolbar-3f9a1c.js.map").exists());
    let warnings: Vec<&str> = summary["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    for name in ["toolbar.js", "toolbar-3f9a1c.js", "toolbar-3f9a1c.js.map"] {
        assert!(
            warnings
                .iter()
                .any(|w| w.contains(&format!("/{name}:")) && w.contains("kept")),
            "{name} is named in a warning: {warnings:#?}"
        );
        if !name.ends_with(".map") {
            let t = std::fs::read_to_string(dir.join(name)).unwrap();
            assert!(
                t.contains("sourceMappingURL"),
                "{name} keeps its reference while its map stays"
            );
        }
    }
    assert!(
        stderr.contains("--delete-after kept"),
        "and in the log:\n{stderr}"
    );
}

#[test]
fn all_skipped_message() {
    let server = start(Config::default());
    let (tmp, dir) = case("all-skipped-message");
    let out = symship(&server, tmp.path())
        .args(["sourcemap", "process", "-d"])
        .arg(&dir)
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "{t}");
    assert!(t.contains("1 file(s) were found"), "says files were found:\n{t}");
    assert!(t.contains("app.js"), "names the file:\n{t}");
    assert!(t.contains("mappings"), "says why it was skipped:\n{t}");
    assert!(
        !t.contains("check --directory"),
        "not the 'nothing found' hint:\n{t}"
    );
    // and in the JSON report, for CI (a fresh tester found only `"errors": []` there)
    let (code, summary, _) = run_json(
        symship(&server, tmp.path())
            .args(["sourcemap", "process", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 3);
    let verdict = summary["verdict"].as_str().unwrap_or_default();
    assert!(
        verdict.contains("1 file(s) were found") && verdict.contains("app.js"),
        "{summary:#}"
    );
}

#[test]
fn directive_after_banner() {
    let server = start(Config::default());
    let (tmp, dir) = case("directive-after-banner");
    let js = dir.join("helper.cjs.js");
    assert_eq!(node(&js), "strict=true\n");
    // the snippet goes after the whole directive prologue
    inject_keeps_strict(
        &server,
        tmp.path(),
        &dir,
        &js,
        "/*! helper v1.0.0 | MIT */\n'use strict';",
    );
}

/// Injects `dir` and checks its banner chunk `js`: `before` then the snippet at its top, one
/// registration, still strict when node runs it, and a re-run changes nothing.
fn inject_keeps_strict(server: &TestServer, cwd: &Path, dir: &Path, js: &Path, before: &str) {
    let out = inject(server, cwd, dir);
    assert!(out.status.success(), "{}", text(&out));
    let t = std::fs::read_to_string(js).unwrap();
    assert!(t.starts_with(&format!("{before}!function(){{")), "{t}");
    assert_eq!(node(js), "strict=true\n", "runs, and still strict");
    assert_eq!(registrations(&t), 1);
    let again = inject(server, cwd, dir);
    assert!(again.status.success());
    assert_eq!(
        std::fs::read_to_string(js).unwrap(),
        t,
        "a re-run changes nothing"
    );
}

/// The banner case with its directive ended by a line break instead of `;` (issue 13's tester:
/// the snippet went right after the string, `'use strict'!function…`, a syntax error, exit 0).
/// It goes after the line break, before the first statement; the file still runs, still strict.
#[test]
fn directive_ended_by_a_line_break() {
    let server = start(Config::default());
    for eol in ["\n", "\r\n"] {
        let (tmp, dir) = case("directive-after-banner");
        let js = dir.join("helper.cjs.js");
        let original = std::fs::read_to_string(&js).unwrap();
        let no_semicolon = original.replacen("'use strict';\n", &format!("'use strict'{eol}"), 1);
        assert_ne!(no_semicolon, original);
        std::fs::write(&js, &no_semicolon).unwrap();
        assert_eq!(node(&js), "strict=true\n");
        let before = format!("/*! helper v1.0.0 | MIT */\n'use strict'{eol}\n");
        inject_keeps_strict(&server, tmp.path(), &dir, &js, &before);
    }
}

/// Two chunks whose first statement holds a bundled library's snippet (inside a function that
/// is never called): neither registers that id at runtime, so neither takes it; each gets its
/// own snippet and both land (issue 13's tester: both took the library's id, one was dropped
/// as a duplicate, exit 0).
#[test]
fn a_bundled_librarys_registration_is_not_the_chunks_id() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dist");
    let lib = r#"function lib(){!function(){try{var e="undefined"!=typeof window?window:"undefined"!=typeof global?global:"undefined"!=typeof globalThis?globalThis:"undefined"!=typeof self?self:{},n=(new e.Error).stack;n&&(e._posthogChunkIds=e._posthogChunkIds||{},e._posthogChunkIds[n]="11111111-2222-5333-8444-555555555555")}catch(e){}}();}"#;
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["a", "b"] {
        let js = format!("{lib}console.log(\"{name}\");\n//# sourceMappingURL={name}.js.map\n");
        std::fs::write(dir.join(format!("{name}.js")), js).unwrap();
        let map = format!(r#"{{"version":3,"sources":["{name}.ts"],"names":[],"mappings":"AAAA"}}"#);
        std::fs::write(dir.join(format!("{name}.js.map")), map).unwrap();
    }
    let (code, s, stderr) = run_json(
        symship(&server, tmp.path())
            .args(["sourcemap", "process", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(s["uploaded"], 2, "{s:#}");
    let ids: Vec<String> = ["a", "b"]
        .iter()
        .map(|n| {
            let t = std::fs::read_to_string(dir.join(format!("{n}.js"))).unwrap();
            assert_eq!(registrations(&t), 2, "its own snippet and the library's: {t}");
            t.rsplit("//# chunkId=").next().unwrap().trim().to_owned()
        })
        .collect();
    assert_ne!(ids[0], ids[1]);
    assert!(
        ids.iter().all(|id| id != "11111111-2222-5333-8444-555555555555"),
        "{ids:?}"
    );
}

/// The banner case with a given rewrite of its chunk, as a fresh copy: (tmp, dir, chunk path).
fn banner_case_with(rewrite: impl Fn(&str) -> String) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let (tmp, dir) = case("directive-after-banner");
    let js = dir.join("helper.cjs.js");
    let original = std::fs::read_to_string(&js).unwrap();
    let changed = rewrite(&original);
    assert_ne!(changed, original, "the rewrite applies");
    std::fs::write(&js, changed).unwrap();
    (tmp, dir, js)
}

/// The banner case with `from` replaced by `to`, through `process --delete-after` against a fresh
/// server, which must exit 0: (server, tmp, dir, chunk path, JSON summary).
fn banner_delete_after(from: &str, to: &str) -> (TestServer, tempfile::TempDir, PathBuf, PathBuf, Value) {
    let server = start(Config::default());
    let (tmp, dir, js) = banner_case_with(|t| t.replace(from, to));
    let (code, summary, stderr) = run_json(
        symship(&server, tmp.path())
            .args(["sourcemap", "process", "--delete-after", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    (server, tmp, dir, js, summary)
}

/// `--delete-after` warnings: the JSON `warnings` naming `path` with "kept".
pub(crate) fn kept_warnings<'v>(summary: &'v Value, path: &Path) -> Vec<&'v str> {
    let name = format!("{}:", path.display());
    summary["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|w| w.contains("kept") && w.contains(&name))
        .collect()
}

/// A reference in a one-line block comment, `/*# sourceMappingURL=… */` (ECMA-426 reads those;
/// issue 13's tester: the chunk was skipped as having no map, and `--delete-after` would have
/// left the comment while deleting its map). It is paired, uploaded, and removed with its map.
#[test]
fn block_comment_reference() {
    let (server, _tmp, dir, js, summary) = banner_delete_after(
        "//# sourceMappingURL=helper.cjs.js.map",
        "/*# sourceMappingURL=helper.cjs.js.map */",
    );
    assert_eq!(summary["uploaded"], 1, "{summary:#}");
    let (id, _, map) = only_set(&server);
    assert_eq!(map["chunk_id"], id.as_str());
    assert!(!dir.join("helper.cjs.js.map").exists(), "the map goes");
    let after = std::fs::read_to_string(&js).unwrap();
    assert!(!after.contains("sourceMappingURL"), "and its reference:\n{after}");
    assert_eq!(node(&js), "strict=true\n");
}

/// HTML-like comments (`<!--`, `-->`: comments in a script, ECMA-262 Annex B) before the
/// directive prologue (issue 13's tester: the snippet went before them, so `'use strict'` was no
/// longer the first statement and the chunk lost strict mode). The snippet goes after the
/// prologue; the file stays strict.
#[test]
fn html_like_comments_before_the_prologue() {
    let server = start(Config::default());
    let (tmp, dir, js) = banner_case_with(|t| {
        t.replace(
            "/*! helper v1.0.0 | MIT */\n",
            "<!-- helper v1.0.0 | MIT\n--> (for pages without script support)\n",
        )
    });
    assert_eq!(node(&js), "strict=true\n");
    let before = "<!-- helper v1.0.0 | MIT\n--> (for pages without script support)\n'use strict';";
    inject_keeps_strict(&server, tmp.path(), &dir, &js, before);
}

/// Two references in the trailing comments (a tool appended its own after an earlier one):
/// `--delete-after` removes both (with only the last gone, the earlier one becomes the one a
/// browser reads: issue 13's tester found it left live, and its map deployed, without a word).
/// The earlier map was not uploaded, so it stays, named in a warning.
#[test]
fn earlier_trailing_reference_with_delete_after() {
    let server = start(Config::default());
    let (tmp, dir, js) = banner_case_with(|t| {
        t.replace(
            "//# sourceMappingURL=helper.cjs.js.map",
            "//# sourceMappingURL=helper.babel.js.map\n//# sourceMappingURL=helper.cjs.js.map",
        )
    });
    std::fs::copy(dir.join("helper.cjs.js.map"), dir.join("helper.babel.js.map")).unwrap();
    let (code, summary, stderr) = run_json(
        symship(&server, tmp.path())
            .args(["sourcemap", "process", "--delete-after", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    assert_eq!(summary["uploaded"], 1, "{summary:#}");
    only_set(&server);
    assert!(!dir.join("helper.cjs.js.map").exists(), "the paired map goes");
    let after = std::fs::read_to_string(&js).unwrap();
    assert!(
        !after.contains("sourceMappingURL"),
        "no reference left live:\n{after}"
    );
    assert_eq!(node(&js), "strict=true\n");
    let earlier = dir.join("helper.babel.js.map");
    assert!(earlier.exists(), "the earlier map was not uploaded: it stays");
    assert_eq!(
        kept_warnings(&summary, &earlier).len(),
        1,
        "and is named: {:#}",
        summary["warnings"]
    );
}

/// A reference that code follows (a bundled library's) is not removed (that could move lines of
/// code), but once the chunk's own reference is gone it is the one browsers read: named.
#[test]
fn a_reference_inside_the_code_is_named_when_left() {
    let (_server, _tmp, dir, js, summary) = banner_delete_after(
        "exports.helper = helper;",
        "//# sourceMappingURL=vendor.js.map\nexports.helper = helper;",
    );
    assert!(!dir.join("helper.cjs.js.map").exists());
    let after = std::fs::read_to_string(&js).unwrap();
    assert!(after.contains("//# sourceMappingURL=vendor.js.map\nexports.helper = helper;"));
    assert!(!after.contains("helper.cjs.js.map"), "{after}");
    let kept = kept_warnings(&summary, &js);
    assert!(
        kept.len() == 1 && kept[0].contains("vendor.js.map"),
        "{:#}",
        summary["warnings"]
    );
}

/// Real terser output (fixtures/terser-hoisted-snippet): function declarations above the
/// snippet a plugin put first. The file registers the snippet's id at load, so that is the id
/// uploaded, and no second snippet is added (issue 13's tester: a new snippet went on top and
/// the file was uploaded under an id posthog-js never reports, exit 0).
#[test]
fn terser_hoisted_function_declarations_above_the_snippet() {
    let server = start(Config::default());
    let (tmp, dir) = fixture_copy("terser-hoisted-snippet");
    let (code, summary, stderr) = run_json(
        symship(&server, tmp.path())
            .args(["sourcemap", "process", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    assert_eq!(summary["uploaded"], 2, "{summary:#}");
    let mut refs: Vec<String> = server
        .symbol_sets()
        .into_iter()
        .filter(|s| s.content_hash.is_some())
        .map(|s| s.ref_)
        .collect();
    refs.sort();
    assert_eq!(
        refs,
        [
            "55555555-0000-4000-8000-000000000001",
            "66666666-0000-4000-8000-000000000013"
        ],
        "the ids the files register"
    );
    for (file, id) in [
        ("plain.js", "55555555-0000-4000-8000-000000000001"),
        ("cjs-prologue.js", "66666666-0000-4000-8000-000000000013"),
    ] {
        let t = std::fs::read_to_string(dir.join(file)).unwrap();
        assert_eq!(registrations(&t), 1, "{file}: no second snippet\n{t}");
        let map: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{file}.map"))).unwrap()).unwrap();
        assert_eq!(map["chunk_id"], id, "{file}");
    }
    assert_eq!(node(&dir.join("plain.js")), "42\n");
    assert!(server.violations().is_empty(), "{:?}", server.violations());
}

#[test]
fn map_with_bom() {
    let server = start(Config::default());
    let (tmp, dir) = case("map-with-bom");
    let (code, summary, stderr) = run_json(
        symship(&server, tmp.path())
            .args(["sourcemap", "process", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    assert_eq!(summary["uploaded"], 1, "{summary:#}");
    let (id, _, map) = only_set(&server);
    assert_eq!(map["chunk_id"], id.as_str());
    assert_eq!(
        map["sources"][0], "src/win.ts",
        "the stored map is the JSON after the mark"
    );
}

/// A self-hosted server whose upload URLs name internal object storage this machine cannot
/// resolve: a few attempts, one error naming the host and the fix, every chunk not uploaded.
#[test]
fn unreachable_object_storage() {
    let server = start(Config {
        mode: Mode {
            public_storage_host: Some("objectstorage.invalid:19000".into()),
            ..Mode::default()
        },
        ..Config::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dist");
    generate(&dir, 100, 1, "unreachable");
    let started = std::time::Instant::now();
    let out = symship(&server, tmp.path())
        .args(["sourcemap", "process", "-d"])
        .arg(&dir)
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    let host_errors: Vec<&str> = t
        .lines()
        .filter(|l| l.contains("objectstorage.invalid:19000") && l.contains("must be reachable"))
        .collect();
    assert_eq!(
        host_errors.len(),
        1,
        "one error naming the host and the fix:\n{t}"
    );
    assert!(host_errors[0].contains("object storage settings"), "{t}");
    assert!(
        !t.contains("re-run the same command"),
        "no advice to re-run:\n{t}"
    );

    // The same again as JSON: every chunk listed, and the attempts on that host counted.
    let (code, summary, stderr) = run_json(
        symship(&server, tmp.path())
            .args(["sourcemap", "upload", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 1, "{stderr}");
    let failed = summary["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 100, "{summary:#}");
    assert!(
        failed.iter().all(|f| f["code"] == "storage_unreachable"),
        "{summary:#}"
    );
    let transfers = summary["requests"]["transfer"].as_u64().unwrap_or(0);
    assert!(
        (1..=3).contains(&transfers),
        "a handful of attempts on the unreachable host, not one per chunk: {transfers}"
    );
    assert_eq!(summary["errors"].as_array().unwrap().len(), 1, "{summary:#}");
    assert!(
        server.requests().iter().all(|r| !r.server.starts_with("s3")),
        "nothing reached storage"
    );
    assert!(
        t.lines().count() < 150,
        "one line per chunk in the summary, not a log of retries:\n{t}"
    );
    // seconds, not minutes (0.1.0: 19 s for 100 chunks); the bound that matters is the requests
    assert!(elapsed < std::time::Duration::from_secs(60), "{elapsed:?}");
}

/// The snippet posthog-cli writes, registering `id_literal` (a JavaScript literal, quotes
/// included), as a hand edit or another tool could leave it.
fn snippet_registering(id_literal: &str) -> String {
    format!(
        r#"!function(){{try{{var e="undefined"!=typeof window?window:"undefined"!=typeof global?global:"undefined"!=typeof globalThis?globalThis:"undefined"!=typeof self?self:{{}},n=(new e.Error).stack;n&&(e._posthogChunkIds=e._posthogChunkIds||{{}},e._posthogChunkIds[n]={id_literal})}}catch(e){{}}}}();"#
    )
}

/// The chunk ids in the `symbol_sets` (or legacy `chunk_ids`) of every check and start call.
fn ids_sent(server: &TestServer) -> Vec<(String, Vec<String>)> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.route == "bulk_check_upload" || r.route == "bulk_start_upload")
        .map(|r| {
            let body = r.body.unwrap_or_default();
            let ids = body["symbol_sets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| s["chunk_id"].as_str().unwrap_or("<not a string>").to_owned())
                .collect();
            (r.route, ids)
        })
        .collect()
}

/// Issue 13, D7: a snippet-shaped registration whose id is not a chunk id (`""`, `not-a-uuid`,
/// an escaped quote) was adopted as the chunk id; with the blank one, `bulk_check_upload`
/// answered 400 and every chunk of the run failed (exit 1). Now each such file is skipped
/// (`bad_chunk_id`, left byte for byte as it was: no second registration), named in the JSON
/// and text summaries, and the good chunk beside them lands; the server is never sent one.
#[test]
fn a_registration_whose_id_is_not_a_chunk_id_is_skipped() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dist");
    std::fs::create_dir_all(&dir).unwrap();
    let bad = [
        ("blank", r#""""#),
        ("word", r#""not-a-uuid""#),
        ("quote", r#""a\"b""#),
    ];
    let mut before = Vec::new();
    for (i, (name, literal)) in bad.iter().enumerate() {
        let js = format!(
            "{}console.log({i});\n//# sourceMappingURL={name}.js.map\n",
            snippet_registering(literal)
        );
        std::fs::write(dir.join(format!("{name}.js")), &js).unwrap();
        let map = format!(r#"{{"version":3,"sources":["{name}.ts"],"names":[],"mappings":"AAAA"}}"#);
        std::fs::write(dir.join(format!("{name}.js.map")), &map).unwrap();
        before.push((name.to_string(), js, map));
    }
    std::fs::write(
        dir.join("good.js"),
        "console.log(9);\n//# sourceMappingURL=good.js.map\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("good.js.map"),
        r#"{"version":3,"sources":["good.ts"],"names":[],"mappings":"AAAA"}"#,
    )
    .unwrap();
    let (code, s, stderr) = run_json(
        symship(&server, tmp.path())
            .args(["sourcemap", "process", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 0, "skips, not failures: {stderr}\n{s:#}");
    assert_eq!(s["uploaded"], 1, "the good chunk lands: {s:#}");
    let skipped: Vec<(String, String)> = s["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let file = k["file"].as_str().unwrap();
            (
                Path::new(file)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                k["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut expected: Vec<(String, String)> = bad
        .iter()
        .map(|(n, _)| (format!("{n}.js"), "bad_chunk_id".to_owned()))
        .collect();
    let mut got = skipped.clone();
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "{s:#}");
    for (name, js, map) in &before {
        assert_eq!(
            &std::fs::read_to_string(dir.join(format!("{name}.js"))).unwrap(),
            js
        );
        assert_eq!(
            &std::fs::read_to_string(dir.join(format!("{name}.js.map"))).unwrap(),
            map
        );
    }
    let good = std::fs::read_to_string(dir.join("good.js")).unwrap();
    let good_id = good.rsplit("//# chunkId=").next().unwrap().trim().to_owned();
    let sent = ids_sent(&server);
    assert!(!sent.is_empty());
    for (route, ids) in &sent {
        assert_eq!(
            ids,
            &vec![good_id.clone()],
            "{route} sent only the good chunk: {sent:?}"
        );
    }
    let (set, _, _) = only_set(&server);
    assert_eq!(set, good_id);

    // `sourcemap upload` of the same files (the good one now injected) skips them too, and the
    // text summary names the code.
    let out = symship(&server, tmp.path())
        .args(["sourcemap", "upload", "-d"])
        .arg(&dir)
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("bad_chunk_id 3"), "{t}");
    for (name, _) in bad {
        assert!(t.contains(&format!("{name}.js registers the chunk id")), "{t}");
    }
    for (route, ids) in ids_sent(&server) {
        assert!(ids.iter().all(|id| *id == good_id), "{route}: {ids:?}");
    }
}

/// One chunk the server refuses never fails its batch (issue 13, D7): a map that carries a
/// release id the project does not know (a build injected for another project) makes
/// `bulk_check_upload` answer 400 `invalid_release_id` for the whole request, which failed every
/// chunk of the batch. The batch is now asked again in halves until the chunk is alone: it
/// fails, named, and the others land. On a server without `bulk_check_upload` the start call
/// refuses it, and is halved the same way.
#[test]
fn one_chunk_the_server_refuses_does_not_fail_its_batch() {
    for old_server in [false, true] {
        let server = start(Config {
            mode: Mode {
                old_server,
                ..Mode::default()
            },
            ..Config::default()
        });
        one_chunk_refused(
            &server,
            if old_server {
                "bulk_start_upload"
            } else {
                "bulk_check_upload"
            },
        );
    }
}

/// A fault every chunk shares (each map names a release the project does not know) is not asked
/// again chunk by chunk: halving stops at the run's budget of calls, and every chunk fails with
/// the server's reason. Without the budget, the halves would cost two calls per chunk.
#[test]
fn a_fault_every_chunk_shares_is_not_halved_chunk_by_chunk() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dist");
    generate(&dir, 300, 1, "shared_fault_");
    inject_with_release(&server, tmp.path(), &dir);
    let mut maps = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "map") {
            give_unknown_release(&p);
            maps += 1;
        }
    }
    assert_eq!(maps, 300);
    let (code, s, stderr) = upload_symbol_set_mode(&server, tmp.path(), &dir);
    assert_eq!(code, 1, "{stderr}\n{s:#}");
    let failed = s["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 300, "{s:#}");
    assert!(failed.iter().all(|f| f["code"] == "invalid_release_id"), "{s:#}");
    let checks = server
        .requests()
        .iter()
        .filter(|r| r.route == "bulk_check_upload")
        .count();
    assert!(
        checks <= 80,
        "a bounded number of calls, not two per chunk: {checks}"
    );
}

/// `sourcemap inject` of `dir` in symbol-set mode with the release app@1, which must succeed.
fn inject_with_release(server: &TestServer, cwd: &Path, dir: &Path) {
    let (code, _, stderr) = run_json(
        symship(server, cwd)
            .args([
                "sourcemap",
                "inject",
                "--release-mode",
                "symbol-set",
                "--release-name",
                "app",
                "--release-version",
                "1",
                "-d",
            ])
            .arg(dir),
    );
    assert_eq!(code, 0, "{stderr}");
}

/// Rewrites an injected map's `release_id` to a release the project does not know; returns the
/// map as it was.
fn give_unknown_release(map: &Path) -> Value {
    let text = std::fs::read_to_string(map).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let known = v["release_id"].as_str().unwrap().to_owned();
    std::fs::write(map, text.replace(&known, "0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee")).unwrap();
    v
}

/// `sourcemap upload --release-mode symbol-set` of `dir`: (exit code, JSON summary, stderr).
fn upload_symbol_set_mode(server: &TestServer, cwd: &Path, dir: &Path) -> (i32, Value, String) {
    run_json(
        symship(server, cwd)
            .args(["sourcemap", "upload", "--release-mode", "symbol-set", "-d"])
            .arg(dir),
    )
}

fn one_chunk_refused(server: &TestServer, route: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dist");
    small_pairs(&dir, 0, 5);
    inject_with_release(server, tmp.path(), &dir);
    let v = give_unknown_release(&dir.join("c3.js.map"));
    let (code, s, stderr) = upload_symbol_set_mode(server, tmp.path(), &dir);
    assert_eq!(code, 1, "{stderr}\n{s:#}");
    assert_eq!(s["uploaded"], 4, "{s:#}");
    let failed = s["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{s:#}");
    assert!(failed[0]["file"].as_str().unwrap().ends_with("c3.js"), "{s:#}");
    assert_eq!(failed[0]["code"], "invalid_release_id", "{s:#}");
    let finished: Vec<_> = server
        .symbol_sets()
        .into_iter()
        .filter(|s| s.content_hash.is_some())
        .collect();
    assert_eq!(finished.len(), 4, "{finished:?}");
    // The calls that named the refused chunk: the batch of 5, then halves down to it alone
    // (5 -> 3 -> 2 -> 1 here), never more than a handful.
    let c3 = v["chunk_id"].as_str().unwrap().to_owned();
    let sent = ids_sent(server);
    let with_c3: Vec<usize> = sent
        .iter()
        .filter(|(r, ids)| r == route && ids.contains(&c3))
        .map(|(_, ids)| ids.len())
        .collect();
    assert!(with_c3.len() <= 5 && with_c3.last() == Some(&1), "{sent:?}");
    assert!(server.violations().is_empty(), "{:?}", server.violations());
}

/// Issue 13, D6: when a chunk's registered id and its map's `chunk_id` differ (a map from
/// another build or tool beside an injected chunk), inject left the stale id in the map on disk;
/// only the upload sent the right one. Now inject writes the registered id into the map (and
/// nothing else: no shift), as a fresh stamp would, and the server holds the same.
#[test]
fn a_stale_chunk_id_in_the_map_is_corrected_on_disk() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dist");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("app.js"),
        "console.log(1);\n//# sourceMappingURL=app.js.map\n",
    )
    .unwrap();
    let map_path = dir.join("app.js.map");
    std::fs::write(
        &map_path,
        r#"{"version":3,"sources":["app.ts"],"names":[],"mappings":"AAAA"}"#,
    )
    .unwrap();
    let out = inject(&server, tmp.path(), &dir);
    assert!(out.status.success(), "{}", text(&out));
    let js = std::fs::read_to_string(dir.join("app.js")).unwrap();
    let id = js.rsplit("//# chunkId=").next().unwrap().trim().to_owned();
    let injected = std::fs::read_to_string(&map_path).unwrap();
    let stale = "0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee";
    std::fs::write(&map_path, injected.replace(&id, stale)).unwrap();

    let (code, s, stderr) = run_json(
        symship(&server, tmp.path())
            .args(["sourcemap", "inject", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}\n{s:#}");
    assert_eq!(
        std::fs::read_to_string(&map_path).unwrap(),
        injected,
        "the map names the registered id again, and is otherwise as inject wrote it"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("app.js")).unwrap(),
        js,
        "the chunk is unchanged"
    );
    assert_eq!(chunks(&s)[0].2, id, "{s:#}");
    let out = symship(&server, tmp.path())
        .args(["sourcemap", "upload", "-d"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let (set, _, map) = only_set(&server);
    assert_eq!(
        (set.as_str(), map["chunk_id"].as_str()),
        (id.as_str(), Some(id.as_str()))
    );
}

/// Two different files that reference one map (issue 13, kind 2's tester): each got its own
/// chunk id, and the map's `chunk_id` matched only one of them on disk, while the same map was
/// uploaded under both ids. posthog-cli 0.19.0 does the same (both injected, the map names the
/// last one, the map uploaded under each id). A map describes one generated file: it is paired
/// with the chunk its `file` field names; the other is skipped (`map_of_another_file`, left as
/// it was) so no chunk id is uploaded with another file's map.
#[test]
fn two_different_files_sharing_one_map() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dist");
    std::fs::create_dir_all(&dir).unwrap();
    let a = "console.log(\"a\");\n//# sourceMappingURL=shared.js.map\n";
    std::fs::write(dir.join("a.js"), a).unwrap();
    std::fs::write(
        dir.join("b.js"),
        "console.log(\"bb\");\n//# sourceMappingURL=shared.js.map\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("shared.js.map"),
        r#"{"version":3,"file":"b.js","sources":["b.ts"],"names":[],"mappings":"AAAA"}"#,
    )
    .unwrap();
    let (code, s, stderr) = run_json(
        symship(&server, tmp.path())
            .args(["sourcemap", "process", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}\n{s:#}");
    assert_eq!(s["uploaded"], 1, "{s:#}");
    let skipped = s["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{s:#}");
    assert!(skipped[0]["file"].as_str().unwrap().ends_with("a.js"), "{s:#}");
    assert_eq!(skipped[0]["code"], "map_of_another_file", "{s:#}");
    assert_eq!(
        std::fs::read_to_string(dir.join("a.js")).unwrap(),
        a,
        "a.js is left alone"
    );
    let b = std::fs::read_to_string(dir.join("b.js")).unwrap();
    let b_id = b.rsplit("//# chunkId=").next().unwrap().trim().to_owned();
    let on_disk: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("shared.js.map")).unwrap()).unwrap();
    assert_eq!(on_disk["chunk_id"], b_id.as_str());
    let (set, src, map) = only_set(&server);
    assert_eq!(
        (set.as_str(), src.as_str(), map["chunk_id"].as_str()),
        (b_id.as_str(), b.as_str(), Some(b_id.as_str()))
    );
}

/// `inject --release-name/--release-version` on a chunk whose snippet a minifier rewrote
/// (issue 13 kind 2): it cannot stamp the release into that snippet, so it skipped the chunk
/// (`snippet_rewritten`) and exited 3, but had already created the release on the server. Now
/// the release is created only once a chunk can take it: here none can, so the server holds no
/// release and the summary reports none. With a fresh chunk beside it, the release is created
/// and stamped into that chunk, and it is the one the summary reports.
#[test]
fn a_release_no_chunk_can_take_is_not_created() {
    let server = start(Config::default());
    let (tmp, dir) = case("minifier-rewritten-snippet");
    let js = dir.join("lazy-Dx1q.js");
    // With credentials but nothing naming a release, the chunk is adopted (exit 0; its
    // stripped comment restored).
    let out = inject(&server, tmp.path(), &dir);
    assert!(out.status.success(), "{}", text(&out));
    let before = std::fs::read_to_string(&js).unwrap();
    assert!(
        before.ends_with("//# chunkId=7d1e0b7a-3c2f-4b8e-9a55-2f1c8e4d6b10"),
        "{before}"
    );
    let release = ["--release-name", "app", "--release-version", "1.2.3"];
    let (code, s, stderr) = run_json(
        symship(&server, tmp.path())
            .args(["sourcemap", "inject"])
            .args(release)
            .arg("-d")
            .arg(&dir),
    );
    assert_eq!(code, 3, "{stderr}\n{s:#}");
    assert_eq!(s["skipped"][0]["code"], "snippet_rewritten", "{s:#}");
    assert_eq!(s["release_id"], Value::Null, "{s:#}");
    assert!(
        server.releases().is_empty(),
        "no release created: {:?}",
        server.releases()
    );
    assert!(
        server.requests().iter().all(|r| r.method == "GET"),
        "{:?}",
        server.requests()
    );
    assert_eq!(std::fs::read_to_string(&js).unwrap(), before);

    std::fs::write(
        dir.join("fresh.js"),
        "console.log(1);\n//# sourceMappingURL=fresh.js.map\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("fresh.js.map"),
        r#"{"version":3,"sources":["fresh.ts"],"names":[],"mappings":"AAAA"}"#,
    )
    .unwrap();
    let (code, s, stderr) = run_json(
        symship(&server, tmp.path())
            .args(["sourcemap", "inject"])
            .args(release)
            .arg("-d")
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}\n{s:#}");
    let releases = server.releases();
    assert_eq!(releases.len(), 1, "{releases:?}");
    let id = releases[0].id.to_string();
    assert_eq!(s["release_id"], id.as_str(), "{s:#}");
    let fresh = std::fs::read_to_string(dir.join("fresh.js")).unwrap();
    assert!(fresh.contains(&format!("_posthogReleaseId||\"{id}\"")), "{fresh}");
    assert_eq!(s["skipped"][0]["code"], "snippet_rewritten", "{s:#}");
}

/// `sourcemap upload --release-mode symbol-set --release-*` of a build that was never injected
/// (esbuild's output as it came out: every chunk skipped `no_chunk_id`) created the release before
/// scanning, then had nothing to upload (exit 3). Now the release is created only once a chunk
/// found can be uploaded with it: nothing is created and only GETs are sent. After inject, the
/// same upload creates it and every set carries it.
#[test]
fn upload_creates_no_release_no_chunk_can_take() {
    let server = start(Config::default());
    let (tmp, dir) = fixture_copy("esbuild-esm/dist");
    let upload = |dir: &Path| {
        run_json(
            symship(&server, tmp.path())
                .args([
                    "sourcemap",
                    "upload",
                    "--release-mode",
                    "symbol-set",
                    "--release-name",
                    "app",
                    "--release-version",
                    "1.2.3",
                    "-d",
                ])
                .arg(dir),
        )
    };
    let (code, s, stderr) = upload(&dir);
    assert_eq!(code, 3, "{stderr}\n{s:#}");
    assert!(s["pairs_found"].as_u64().unwrap() >= 2, "{s:#}");
    for skipped in s["skipped"].as_array().unwrap() {
        assert_eq!(skipped["code"], "no_chunk_id", "{s:#}");
    }
    assert_eq!(s["release_id"], Value::Null, "{s:#}");
    assert!(
        server.releases().is_empty(),
        "no release created: {:?}",
        server.releases()
    );
    assert!(
        server.requests().iter().all(|r| r.method == "GET"),
        "{:?}",
        server.requests()
    );
    // an empty directory: nothing found, nothing created either
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (code, s, stderr) = upload(&empty);
    assert_eq!(code, 3, "{stderr}\n{s:#}");
    assert!(server.releases().is_empty(), "{:?}", server.releases());

    let out = inject(&server, tmp.path(), &dir);
    assert!(out.status.success(), "{}", text(&out));
    let (code, s, stderr) = upload(&dir);
    assert_eq!(code, 0, "{stderr}\n{s:#}");
    let releases = server.releases();
    assert_eq!(releases.len(), 1, "{releases:?}");
    let id = releases[0].id;
    assert_eq!(s["release_id"], id.to_string().as_str(), "{s:#}");
    let sets = server.symbol_sets();
    assert_eq!(sets.len() as u64, s["pairs_found"].as_u64().unwrap(), "{s:#}");
    assert!(sets.iter().all(|set| set.release_id == Some(id)), "{sets:?}");
}

/// `sourcemap process --release-*` on the same chunk: it created the release, then had nothing
/// to upload (exit 3). Now nothing is created and nothing is sent but GETs.
#[test]
fn process_creates_no_release_no_chunk_can_take() {
    let server = start(Config::default());
    let (tmp, dir) = case("minifier-rewritten-snippet");
    let (code, s, stderr) = run_json(
        symship(&server, tmp.path())
            .args([
                "sourcemap",
                "process",
                "--release-name",
                "app",
                "--release-version",
                "1.2.3",
                "-d",
            ])
            .arg(&dir),
    );
    assert_eq!(code, 3, "{stderr}\n{s:#}");
    assert_eq!(s["skipped"][0]["code"], "snippet_rewritten", "{s:#}");
    assert_eq!(s["release_id"], Value::Null, "{s:#}");
    assert_eq!(s["uploaded"], 0, "{s:#}");
    assert!(
        server.releases().is_empty(),
        "no release created: {:?}",
        server.releases()
    );
    assert!(server.symbol_sets().is_empty());
    assert!(
        server.requests().iter().all(|r| r.method == "GET"),
        "{:?}",
        server.requests()
    );
}

/// `sourcemap process --release-mode symbol-set` on a chunk whose snippet a minifier rewrote and
/// whose map it wrote again without `chunk_id` or `release_id` (terser re-minifying an injected
/// chunk): in this mode the release lives in the map alone, so the chunk keeps the id it
/// registers, its map names that id and the release, and the set is uploaded bound to it, as
/// `sourcemap upload` sends it (a fresh tester: process skipped it as snippet_rewritten and
/// exited 3 while upload sent it). A re-run changes nothing.
#[test]
fn symbol_set_mode_adopts_a_rewritten_snippet_whose_map_carries_no_release() {
    let server = start(Config::default());
    let (tmp, dir) = case("minifier-rewritten-snippet");
    let id = "7d1e0b7a-3c2f-4b8e-9a55-2f1c8e4d6b10";
    let process = || {
        run_json(
            symship(&server, tmp.path())
                .args(["sourcemap", "process", "--release-mode", "symbol-set"])
                .args(["--release-name", "app", "--release-version", "1.2.3", "-d"])
                .arg(&dir),
        )
    };
    let (code, s, stderr) = process();
    assert_eq!(code, 0, "{stderr}\n{s:#}");
    assert_eq!(s["uploaded"], 1, "{s:#}");
    let release = server.releases()[0].id;
    assert_eq!(s["release_id"], release.to_string().as_str(), "{s:#}");
    let sets = server.symbol_sets();
    assert_eq!(sets.len(), 1, "{sets:?}");
    assert_eq!(sets[0].ref_, id);
    assert_eq!(sets[0].release_id, Some(release));
    let map: Value = serde_json::from_slice(&std::fs::read(dir.join("lazy-Dx1q.js.map")).unwrap()).unwrap();
    assert_eq!(map["chunk_id"], id);
    assert_eq!(map["release_id"], release.to_string().as_str());
    assert_eq!(map["mappings"], "+QAAOA,iDAAqD", "positions untouched");
    let js = std::fs::read_to_string(dir.join("lazy-Dx1q.js")).unwrap();
    assert!(js.contains(&format!("e._posthogChunkIds[t]=`{id}`")), "{js}");
    let (code, s, stderr) = process();
    assert_eq!(code, 0, "{stderr}\n{s:#}");
    assert_eq!(s["skipped_already_present"], 1, "{s:#}");
    assert_eq!(std::fs::read_to_string(dir.join("lazy-Dx1q.js")).unwrap(), js);
}

/// The chunk and map a finished symbol set holds, as stored: (stored source, stored map text).
fn stored_set(server: &TestServer, reference: &str) -> (String, String) {
    let set = server
        .symbol_sets()
        .into_iter()
        .find(|s| s.ref_ == reference && s.content_hash.is_some())
        .unwrap_or_else(|| panic!("no finished set {reference}: {:?}", server.symbol_sets()));
    let object = server.object_bytes(set.storage_ptr.as_deref().unwrap()).unwrap();
    symship_upload::container::read(&object).unwrap()
}

/// `sourcemap upload --release-mode symbol-set` of a chunk that `inject` stamped and a minifier
/// then rewrote (the snippet reformatted, the `//# chunkId=` comment dropped, the map written
/// again without `chunk_id` and `release_id`): the set is sent exactly as `inject` (and so
/// `process`) with the same flags leaves the files, under the id the rewritten snippet registers:
/// the comment restored in the chunk, the map stamped with the chunk id and the run's release. A
/// fresh tester: upload sent the files as they were (no comment, no release in the map), so a
/// later `process` of the same build sent other content under that chunk id and failed with
/// `content_hash_mismatch`. With its map in its own file and inline. Then the same files to
/// another server with another release: the hash remembered for the first release is not reused
/// (its container names the first release; the transfer failed as "changed").
#[test]
fn symbol_set_upload_of_a_rewritten_snippet_sends_what_inject_leaves() {
    const ID: &str = "7d1e0b7a-3c2f-4b8e-9a55-2f1c8e4d6b10";
    let cache = tempfile::tempdir().unwrap();
    let run = |server: &TestServer, cwd: &Path, command: &str, version: &str, dir: &Path| {
        run_json(
            symship(server, cwd)
                .env("SYMSHIP_CACHE_DIR", cache.path())
                .args(["sourcemap", command, "--release-mode", "symbol-set"])
                .args(["--release-name", "app", "--release-version", version, "-d"])
                .arg(dir),
        )
    };
    for inline in [false, true] {
        let server = start(Config::default());
        let (tmp, dir) = case("minifier-rewritten-snippet");
        let js = dir.join("lazy-Dx1q.js");
        if inline {
            use base64::Engine as _;
            let map = std::fs::read(dir.join("lazy-Dx1q.js.map")).unwrap();
            std::fs::remove_file(dir.join("lazy-Dx1q.js.map")).unwrap();
            let url = format!(
                "data:application/json;charset=utf-8;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(map)
            );
            let text = std::fs::read_to_string(&js).unwrap();
            std::fs::write(&js, text.replace("lazy-Dx1q.js.map", &url)).unwrap();
        }
        let as_built = std::fs::read_to_string(&js).unwrap();
        let (code, s, stderr) = run(&server, tmp.path(), "upload", "1.2.3", &dir);
        assert_eq!(code, 0, "inline {inline}: {stderr}\n{s:#}");
        assert_eq!(s["uploaded"], 1, "inline {inline}: {s:#}");
        let release = server.releases()[0].id.to_string();
        assert_eq!(s["release_id"], release.as_str(), "{s:#}");
        let sets = server.symbol_sets();
        assert_eq!(sets.len(), 1, "{sets:?}");
        assert_eq!(sets[0].ref_, ID);
        assert_eq!(sets[0].release_id.map(|r| r.to_string()), Some(release.clone()));
        assert_eq!(
            std::fs::read_to_string(&js).unwrap(),
            as_built,
            "upload writes nothing"
        );
        let (src, map) = stored_set(&server, ID);

        // what inject leaves with the same flags, on a copy of the same build
        let (tmp2, copy) = case("minifier-rewritten-snippet");
        if inline {
            std::fs::remove_file(copy.join("lazy-Dx1q.js.map")).unwrap();
            std::fs::write(copy.join("lazy-Dx1q.js"), &as_built).unwrap();
        }
        let out = symship(&server, tmp2.path())
            .env("SYMSHIP_CACHE_DIR", cache.path())
            .args(["sourcemap", "inject", "--release-mode", "symbol-set"])
            .args(["--release-name", "app", "--release-version", "1.2.3", "-d"])
            .arg(&copy)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let injected = std::fs::read_to_string(copy.join("lazy-Dx1q.js")).unwrap();
        assert_eq!(src, injected, "inline {inline}: the chunk as inject leaves it");
        assert!(src.ends_with(&format!("\n//# chunkId={ID}")), "{src}");
        let injected_map = if inline {
            let (url, _) = symship_scan::pair::sourcemap_reference(&injected).unwrap();
            String::from_utf8(symship_scan::pair::decode_data_url(url).unwrap()).unwrap()
        } else {
            std::fs::read_to_string(copy.join("lazy-Dx1q.js.map")).unwrap()
        };
        assert_eq!(map, injected_map, "inline {inline}: the map as inject leaves it");
        let map: Value = serde_json::from_str(&map).unwrap();
        assert_eq!(map["chunk_id"], ID);
        assert_eq!(map["release_id"], release.as_str());

        // `process` with the same flags then finds the server holds what it sends
        let (code, s, stderr) = run(&server, tmp.path(), "process", "1.2.3", &dir);
        assert_eq!(code, 0, "inline {inline}: {stderr}\n{s:#}");
        assert_eq!(s["skipped_already_present"], 1, "inline {inline}: {s:#}");
        assert!(server.violations().is_empty(), "{:?}", server.violations());

        // the built files, to another server with another release, with the same cache
        let other = start(Config::default());
        let (tmp3, again) = case("minifier-rewritten-snippet");
        if inline {
            std::fs::remove_file(again.join("lazy-Dx1q.js.map")).unwrap();
            std::fs::write(again.join("lazy-Dx1q.js"), &as_built).unwrap();
        }
        let (code, s, stderr) = run(&other, tmp3.path(), "upload", "2.0.0", &again);
        assert_eq!(code, 0, "inline {inline}: {stderr}\n{s:#}");
        assert_eq!(s["uploaded"], 1, "inline {inline}: {s:#}");
        let second = other.releases()[0].id.to_string();
        let (_, map) = stored_set(&other, ID);
        let map: Value = serde_json::from_str(&map).unwrap();
        assert_eq!(map["release_id"], second.as_str(), "inline {inline}");
    }
}

/// `fixtures/terser-hoisted-snippet` with each chunk's map moved into the chunk as a data URL.
fn terser_hoisted(inline: bool) -> (tempfile::TempDir, PathBuf) {
    let (tmp, dir) = fixture_copy("terser-hoisted-snippet");
    std::fs::remove_file(dir.join("README.md")).unwrap();
    if inline {
        use base64::Engine as _;
        for js in ["plain.js", "cjs-prologue.js"] {
            let map_name = format!("{js}.map");
            let map = std::fs::read(dir.join(&map_name)).unwrap();
            std::fs::remove_file(dir.join(&map_name)).unwrap();
            let url = format!(
                "data:application/json;charset=utf-8;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(map)
            );
            let text = std::fs::read_to_string(dir.join(js)).unwrap();
            std::fs::write(dir.join(js), text.replace(&map_name, &url)).unwrap();
        }
    }
    (tmp, dir)
}

/// `sourcemap upload --release-mode symbol-set` of real terser output whose snippets terser
/// rewrote (fixtures/terser-hoisted-snippet), then of the same build under another release: each
/// chunk is sent as inject leaves it, its map stamped with the release, and the second release's
/// stamp made other content than the server holds bound to the first. The server holds each set
/// bound to the first release, which it keeps, so the set is sent without the second one and in
/// the form stamped with the first: the server finds it `already_present` (exit 0), as a chunk no
/// minifier rewrote (a fresh tester: exit 1, `content_hash_mismatch` for both chunks, and with
/// `--force` the stored map named the second release in a set bound to the first). With the
/// maps in their own files and inline; with a fresh hash cache and with the first run's (whose
/// hashes were computed under the first release). The same build to another server, where no set
/// is bound yet, is stamped with the flags' release.
#[test]
fn symbol_set_upload_of_a_rewritten_snippet_bound_to_an_earlier_release_is_already_present() {
    const IDS: [&str; 2] = [
        "55555555-0000-4000-8000-000000000001",
        "66666666-0000-4000-8000-000000000013",
    ];
    for inline in [false, true] {
        let server = start(Config::default());
        let cache = tempfile::tempdir().unwrap();
        let upload = |server: &TestServer, cache: &Path, version: &str, extra: &[&str]| {
            let (tmp, dir) = terser_hoisted(inline);
            let r = run_json(
                symship(server, tmp.path())
                    .env("SYMSHIP_CACHE_DIR", cache)
                    .args(["sourcemap", "upload", "--release-mode", "symbol-set"])
                    .args(["--release-name", "web", "--release-version", version])
                    .args(extra)
                    .arg("-d")
                    .arg(&dir),
            );
            drop(tmp);
            r
        };
        let (code, s, stderr) = upload(&server, cache.path(), "1", &[]);
        assert_eq!(code, 0, "inline {inline}: {stderr}\n{s:#}");
        assert_eq!(s["uploaded"], 2, "inline {inline}: {s:#}");
        let first = server.releases()[0].id;
        let stored = |server: &TestServer| -> Vec<(Option<symship_upload::Uuid>, String, String, String)> {
            IDS.iter()
                .map(|id| {
                    let set = server
                        .symbol_sets()
                        .into_iter()
                        .find(|s| s.ref_ == *id && s.content_hash.is_some())
                        .unwrap_or_else(|| panic!("no finished set {id}"));
                    let (src, map) = stored_set(server, id);
                    (set.release_id, set.content_hash.unwrap(), src, map)
                })
                .collect()
        };
        let held = stored(&server);
        for (id, (release, _, _, map)) in IDS.iter().zip(&held) {
            assert_eq!(*release, Some(first), "inline {inline}: {id}");
            let map: Value = serde_json::from_str(map).unwrap();
            assert_eq!(map["chunk_id"], *id, "inline {inline}");
            assert_eq!(map["release_id"], first.to_string().as_str(), "inline {inline}");
        }

        // another release, a fresh hash cache, then the first run's cache with --force
        let fresh = tempfile::tempdir().unwrap();
        for (version, cache, extra) in [
            ("2", fresh.path(), &[][..]),
            ("3", cache.path(), &["--force"][..]),
        ] {
            let (code, s, stderr) = upload(&server, cache, version, extra);
            assert_eq!(code, 0, "inline {inline}, release {version}: {stderr}\n{s:#}");
            assert_eq!(
                s["skipped_already_present"], 2,
                "inline {inline}, release {version}: {s:#}"
            );
            assert_eq!(s["failed"], Value::Array(vec![]), "inline {inline}: {s:#}");
            assert_eq!(s["already_bound"].as_array().map(Vec::len), Some(2), "{s:#}");
            assert_eq!(
                stored(&server),
                held,
                "inline {inline}, release {version}: the stored sets are untouched"
            );
        }
        assert!(server.violations().is_empty(), "{:?}", server.violations());

        // where no set is bound yet, the flags' release is stamped (the first run's cache)
        let other = start(Config::default());
        let (code, s, stderr) = upload(&other, cache.path(), "2", &[]);
        assert_eq!(code, 0, "inline {inline}: {stderr}\n{s:#}");
        assert_eq!(s["uploaded"], 2, "inline {inline}: {s:#}");
        let second = other.releases()[0].id;
        for (id, (release, _, _, map)) in IDS.iter().zip(stored(&other)) {
            assert_eq!(release, Some(second), "inline {inline}: {id}");
            let map: Value = serde_json::from_str(&map).unwrap();
            assert_eq!(
                map["release_id"],
                second.to_string().as_str(),
                "inline {inline}: {id}"
            );
        }
    }
}

/// The same rewritten-snippet build bound to a first release, uploaded with a second by a key
/// that cannot read symbol sets (403 on `GET symbol_sets/`): symship cannot learn the release
/// the server binds each set to, so it cannot make the content stored under it. Each chunk
/// fails, saying why, and nothing is replaced, with or without `--force` (before: the lookup
/// failure was dropped; the chunk failed with a bare `content_hash_mismatch` whose reason said to
/// pass `--force`, and `--force` then stored maps naming the second release in sets bound to the
/// first).
#[test]
fn a_rewritten_snippet_bound_elsewhere_is_not_replaced_when_its_release_cannot_be_looked_up() {
    const IDS: [&str; 2] = [
        "55555555-0000-4000-8000-000000000001",
        "66666666-0000-4000-8000-000000000013",
    ];
    let server = start(Config::default());
    let upload = |version: &str, extra: &[&str]| {
        let (tmp, dir) = terser_hoisted(false);
        let cache = tempfile::tempdir().unwrap();
        run_json(
            symship(&server, tmp.path())
                .env("SYMSHIP_CACHE_DIR", cache.path())
                .args(["sourcemap", "upload", "--release-mode", "symbol-set"])
                .args(["--release-name", "web", "--release-version", version])
                .args(extra)
                .arg("-d")
                .arg(&dir),
        )
    };
    let (code, s, stderr) = upload("1", &[]);
    assert_eq!(code, 0, "{stderr}\n{s:#}");
    let held: Vec<_> = IDS.iter().map(|id| stored_set(&server, id)).collect();
    server.set_faults(vec![FaultRule::new("list", FaultKind::Status { status: 403 })]);
    for extra in [&[][..], &["--force"][..]] {
        let (code, s, stderr) = upload("2", extra);
        assert_eq!(code, 1, "{extra:?}: {stderr}\n{s:#}");
        let failed = s["failed"].as_array().unwrap();
        assert_eq!(failed.len(), 2, "{extra:?}: {s:#}");
        for f in failed {
            let reason = f["error"].as_str().unwrap_or_else(|| panic!("{f:#}"));
            assert_eq!(f["code"], "release_lookup_failed", "{extra:?}: {f:#}");
            assert!(reason.contains("bound to another release"), "{reason}");
            assert!(reason.contains("403"), "the lookup's error: {reason}");
            assert!(!reason.contains("--force"), "{reason}");
        }
        let now: Vec<_> = IDS.iter().map(|id| stored_set(&server, id)).collect();
        assert_eq!(now, held, "{extra:?}: the stored sets are untouched");
    }
    assert!(server.violations().is_empty(), "{:?}", server.violations());
}
