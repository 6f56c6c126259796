//! Issue 13's pairing and `--delete-after` findings from a fresh tester (kinds 1, 3 and 4), each
//! the tester's input rebuilt here (small hand-written chunks and maps, as the tester wrote
//! them), run through the real `symship` binary against `symship-testserver`, asserting what the
//! server stored. `SYMSHIP_CASES_BIN` runs them against another build (see `cases.rs`).

use std::process::{Output, Stdio};

use serde_json::Value;
use symship_scan::ReleaseMode;
use symship_test_support::*;
use symship_testserver::Config;

use crate::cases::{symship, text};
use crate::support::*;

/// A map of one line whose first segment maps to `source`.
fn map_of(source: &str) -> String {
    format!(r#"{{"version":3,"sources":["{source}"],"names":[],"mappings":"AAAA"}}"#)
}

/// Writes `files` (path relative to the new temp dir, content) into a fresh temp dir.
fn build(files: &[(&str, &str)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for (rel, content) in files {
        let p = tmp.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    tmp
}

/// Runs `cmd` with `stdin` on its standard input and `--output json`: (exit code, summary, all
/// output as text).
fn run_json_with_stdin(cmd: &mut std::process::Command, stdin: &str) -> (i32, Value, String) {
    use std::io::Write as _;
    cmd.args(["--output", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out: Output = child.wait_with_output().unwrap();
    let summary: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    (out.status.code().unwrap_or(-1), summary, text(&out))
}

/// The summary's chunk entry for the file whose path ends with `name`: (file, map, id, outcome).
fn chunk_named(summary: &Value, name: &str) -> (String, String, String, String) {
    chunks(summary)
        .into_iter()
        .find(|c| c.0.ends_with(name))
        .unwrap_or_else(|| panic!("no chunk {name}: {summary:#}"))
}

/// The tester's k3/o1: `dist/j.js` references `../maps/j.js.map`; `dist/k.js` has its map beside it.
fn named_file_layout() -> tempfile::TempDir {
    build(&[
        (
            "dist/j.js",
            "console.log(2);\n//# sourceMappingURL=../maps/j.js.map\n",
        ),
        ("maps/j.js.map", &map_of("j.ts")),
        ("dist/k.js", "console.log(3);\n//# sourceMappingURL=k.js.map\n"),
        ("dist/k.js.map", &map_of("k.ts")),
    ])
}

/// Issue 13 kind 3: a file named on its own (`-d FILE`, `--stdin`) is its own root for the map it
/// references, whatever else is scanned and in whatever order. A fresh tester found `-d dist -d
/// dist/j.js` and `--stdin -d dist` skipping `dist/j.js` as `map_outside_root` (the walk of `dist`
/// found it first, and the named path was dropped as a duplicate), while `-d dist/j.js -d dist`
/// paired it.
#[test]
fn a_named_file_is_its_own_root_whatever_the_order() {
    for order in ["walk first", "file first", "stdin"] {
        let server = start(Config::default());
        let tmp = named_file_layout();
        let mut cmd = symship(&server, tmp.path());
        cmd.args(["sourcemap", "process"]);
        let (code, summary, out) = match order {
            "walk first" => run_json(cmd.args(["-d", "dist", "-d", "dist/j.js"])),
            "file first" => run_json(cmd.args(["-d", "dist/j.js", "-d", "dist"])),
            _ => run_json_with_stdin(cmd.args(["--stdin", "-d", "dist"]), "dist/j.js\n"),
        };
        assert_eq!(code, 0, "{order}: {out}\n{summary:#}");
        assert_eq!(summary["skipped"], serde_json::json!([]), "{order}: {summary:#}");
        let j = chunk_named(&summary, "dist/j.js");
        assert!(j.1.ends_with("maps/j.js.map"), "{order}: {j:?}");
        assert_eq!(j.3, "uploaded", "{order}");
        let held = assert_server_holds_exactly(&server, &chunks(&summary), ReleaseMode::Event);
        assert_eq!(held.len(), 2, "{order}: both chunks' sets are on the server");
        assert!(held.contains(&j.2), "{order}");
    }
}

/// Issue 13 kind 3: with `-p <full URL>`, a chunk named on its own reaches a map in a sibling
/// folder of the URL (the tester's k3/u3, a CRA-like layout). The prefix names the chunk's folder,
/// so `https://cdn.example.com/static/maps/480.js.map` is `../maps/480.js.map` from the chunk, as
/// a browser resolves it; the named file's own-root rule then takes `build/static` as its root.
/// The tester found `-d build` pairing it (by the URL's trailing segments under the root) while
/// `--stdin` and `-d FILE` skipped it as `no_map`.
#[test]
fn a_named_file_reaches_a_sibling_folder_through_a_full_url_prefix() {
    let files = [
        (
            "build/static/js/480.js",
            "console.log(12);\n//# sourceMappingURL=https://cdn.example.com/static/maps/480.js.map\n",
        ),
        ("build/static/maps/480.js.map", &map_of("x.ts") as &str),
    ];
    let prefix = "https://cdn.example.com/static/js/";
    for how in ["stdin", "-d FILE", "-d DIR"] {
        let server = start(Config::default());
        let tmp = build(&files);
        let mut cmd = symship(&server, tmp.path());
        cmd.args(["sourcemap", "process", "-p", prefix]);
        let (code, summary, out) = match how {
            "stdin" => run_json_with_stdin(cmd.arg("--stdin"), "build/static/js/480.js\n"),
            "-d FILE" => run_json(cmd.args(["-d", "build/static/js/480.js"])),
            _ => run_json(cmd.args(["-d", "build"])),
        };
        assert_eq!(code, 0, "{how}: {out}\n{summary:#}");
        let c = chunk_named(&summary, "static/js/480.js");
        assert!(c.1.ends_with("build/static/maps/480.js.map"), "{how}: {c:?}");
        assert_eq!(c.3, "uploaded", "{how}");
        let held = assert_server_holds_exactly(&server, &chunks(&summary), ReleaseMode::Event);
        assert_eq!(held.into_iter().collect::<Vec<_>>(), [c.2], "{how}");
    }
}

/// Issue 13 kind 1: a candidate map that cannot be used as a sourcemap falls through to the next
/// candidate. The tester's inputs: an inline map that decodes to `{}` (no `mappings`), and a
/// referenced `app.map` that is JSON with `"mappings":"@@@"`, each with a valid `a.js.map` beside
/// the chunk; both were skipped `bad_map`, while posthog-cli 0.19.0 pairs them with `a.js.map`.
/// Each is paired with `a.js.map` and uploaded with it; the unusable map is left as it was.
#[test]
fn an_unusable_map_falls_through_to_the_next_candidate() {
    let unusable = [
        ("inline", "data:application/json;base64,e30="),
        ("bad mappings", "app.map"),
    ];
    for (what, reference) in unusable {
        let server = start(Config::default());
        let tmp = build(&[
            (
                "dist/a.js",
                &format!("console.log(3);\n//# sourceMappingURL={reference}\n"),
            ),
            ("dist/a.js.map", &map_of("a.ts")),
            (
                "dist/app.map",
                r#"{"version":3,"sources":["app.ts"],"names":[],"mappings":"@@@"}"#,
            ),
        ]);
        let (code, summary, out) =
            run_json(symship(&server, tmp.path()).args(["sourcemap", "process", "-d", "dist"]));
        assert_eq!(code, 0, "{what}: {out}\n{summary:#}");
        assert_eq!(summary["skipped"], serde_json::json!([]), "{what}: {summary:#}");
        let c = chunk_named(&summary, "dist/a.js");
        assert!(c.1.ends_with("dist/a.js.map"), "{what}: {c:?}");
        assert_eq!(c.3, "uploaded", "{what}");
        let held = assert_server_holds_exactly(&server, &chunks(&summary), ReleaseMode::Event);
        assert_eq!(held.into_iter().collect::<Vec<_>>(), [c.2], "{what}");
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("dist/app.map")).unwrap(),
            r#"{"version":3,"sources":["app.ts"],"names":[],"mappings":"@@@"}"#,
            "{what}: the unusable map is not written"
        );
    }
}

/// Issue 13 kind 4: `--delete-after` never keeps a map without saying so. The tester's k4/w2: one
/// chunk is not UTF-8 (`not_utf8`, its map beside it), one has a map whose mappings do not decode
/// (`bad_map`), one references a map outside the scanned folder (`map_outside_root`); the JSON
/// `warnings` were `[]` while all three maps stayed. Each is now named in a warning saying its
/// chunk was skipped, with the code, for `process` and `upload` alike; the good chunk's map goes.
#[test]
fn delete_after_names_the_maps_of_skipped_chunks() {
    let bad_vlq = r#"{"version":3,"sources":["e.ts"],"names":[],"mappings":"@@@"}"#;
    let layout = || {
        let tmp = build(&[
            ("dist/a.js", "console.log(1);\n//# sourceMappingURL=a.js.map\n"),
            ("dist/a.js.map", &map_of("a.ts")),
            ("dist/c.js.map", &map_of("c.ts")),
            (
                "dist/d.js",
                "console.log(4);\n//# sourceMappingURL=../maps/d.js.map\n",
            ),
            ("maps/d.js.map", &map_of("d.ts")),
            ("dist/e.js", "console.log(5);\n//# sourceMappingURL=e.js.map\n"),
            ("dist/e.js.map", bad_vlq),
        ]);
        // Latin-1, not UTF-8
        std::fs::write(
            tmp.path().join("dist/c.js"),
            b"console.log('\xe9');\n//# sourceMappingURL=c.js.map\n",
        )
        .unwrap();
        tmp
    };
    for command in ["process", "upload"] {
        let server = start(Config::default());
        let tmp = layout();
        if command == "upload" {
            // injected first, as a build step would
            let out = symship(&server, tmp.path())
                .args(["sourcemap", "inject", "-d", "dist"])
                .output()
                .unwrap();
            assert!(out.status.code().is_some(), "{}", text(&out));
        }
        let (code, summary, out) = run_json(symship(&server, tmp.path()).args([
            "sourcemap",
            command,
            "--delete-after",
            "-d",
            "dist",
        ]));
        assert_eq!(code, 0, "{command}: {out}\n{summary:#}");
        let a = chunk_named(&summary, "dist/a.js");
        assert_eq!(a.3, "uploaded", "{command}: {summary:#}");
        // (the files changed since: --delete-after stripped a.js and deleted its map)
        let held: Vec<String> = server
            .symbol_sets()
            .into_iter()
            .filter(|s| s.content_hash.is_some())
            .map(|s| s.ref_)
            .collect();
        assert_eq!(
            held,
            [a.2],
            "{command}: only the good chunk's set is on the server"
        );
        assert!(
            !tmp.path().join("dist/a.js.map").exists(),
            "{command}: the uploaded map goes"
        );
        let dir = tmp.path().canonicalize().unwrap();
        for (map, code) in [
            ("dist/c.js.map", "not_utf8"),
            ("dist/e.js.map", "bad_map"),
            ("maps/d.js.map", "map_outside_root"),
        ] {
            let path = dir.join(map);
            assert!(path.exists(), "{command}: {map} stays");
            let named = crate::cases::kept_warnings(&summary, &path);
            assert_eq!(
                named.len(),
                1,
                "{command}: {map} is named once: {:#}",
                summary["warnings"]
            );
            // process skips e.js at inject (bad_map); upload finds it not injected
            if command == "process" || code != "bad_map" {
                assert!(named[0].contains(code), "{command}: {map}: {}", named[0]);
            }
            assert!(
                out.contains(&format!("--delete-after kept {}", path.display())),
                "{command}: {out}"
            );
        }
    }
}

/// A chunk that was never injected, given to `sourcemap upload` (the tester's k5/plain): it was
/// skipped as `bad_map` with a garbled sentence ("has a sourcemap … that … has no chunk id").
/// It is skipped with the registry's `no_chunk_id` and one sentence saying to inject first; the
/// server is sent nothing for it.
#[test]
fn an_uninjected_chunk_is_skipped_as_having_no_chunk_id() {
    let server = start(Config::default());
    let tmp = build(&[
        ("plain/p.js", "console.log(7);\n//# sourceMappingURL=p.js.map\n"),
        ("plain/p.js.map", &map_of("p.ts")),
    ]);
    let (code, summary, out) =
        run_json(symship(&server, tmp.path()).args(["sourcemap", "upload", "-d", "plain"]));
    assert_eq!(
        code, 3,
        "nothing uploaded, every file skipped: {out}\n{summary:#}"
    );
    let skipped = summary["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{summary:#}");
    assert_eq!(skipped[0]["code"], "no_chunk_id", "{summary:#}");
    let reason = skipped[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("has no chunk id because it was not injected: run `symship sourcemap inject`"),
        "{reason}"
    );
    assert_eq!(
        reason.matches("p.js").count(),
        1,
        "the file is named once: {reason}"
    );
    assert!(
        !reason.contains("sourcemap /"),
        "no map sentence around it: {reason}"
    );
    assert!(
        server.symbol_sets().is_empty(),
        "nothing sent: {:?}",
        server.symbol_sets()
    );
}

/// `//# sourceMappingURL=file:///abs/path/a.js.map` naming an existing file was skipped `no_map`
/// (issue 13's tester). A file URL is read as its path, within the roots rule: inside the scanned
/// directory it pairs and uploads; outside it, it is refused as any reference leaving the root is.
#[test]
fn a_file_url_reference_is_read_as_its_path() {
    let server = start(Config::default());
    let tmp = build(&[
        ("dist/maps/a.js.map", &map_of("a.ts")),
        ("elsewhere/b.js.map", &map_of("b.ts")),
    ]);
    let root = tmp.path().canonicalize().unwrap();
    let url = |p: &str| format!("file://{}", root.join(p).display());
    std::fs::write(
        root.join("dist/a.js"),
        format!(
            "console.log(1);\n//# sourceMappingURL={}\n",
            url("dist/maps/a.js.map")
        ),
    )
    .unwrap();
    std::fs::write(
        root.join("dist/b.js"),
        format!(
            "console.log(2);\n//# sourceMappingURL={}\n",
            url("elsewhere/b.js.map")
        ),
    )
    .unwrap();
    let (code, summary, out) =
        run_json(symship(&server, tmp.path()).args(["sourcemap", "process", "-d", "dist"]));
    assert_eq!(code, 0, "{out}\n{summary:#}");
    let a = chunk_named(&summary, "dist/a.js");
    assert!(a.1.ends_with("dist/maps/a.js.map"), "{a:?}");
    assert_eq!(a.3, "uploaded");
    let held = assert_server_holds_exactly(&server, &chunks(&summary), ReleaseMode::Event);
    assert_eq!(held.into_iter().collect::<Vec<_>>(), [a.2]);
    let skipped = summary["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{summary:#}");
    assert!(skipped[0]["file"].as_str().unwrap().ends_with("dist/b.js"));
    assert_eq!(skipped[0]["code"], "map_outside_root", "{summary:#}");
}
