//! `symship sourcemap inject` on the committed real-bundler fixtures.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use symship_scan::{chunk, pair, snippet};
use symship_test_support::*;

type Token = (u32, u32, Option<String>, u32, u32, Option<String>);

fn tokens(map_bytes: &[u8]) -> Vec<Token> {
    let decoded = sourcemap::decode_slice(map_bytes).expect("a sourcemap the sourcemap crate reads");
    let sm = match decoded {
        sourcemap::DecodedMap::Regular(sm) => sm,
        sourcemap::DecodedMap::Index(ix) => ix.flatten().unwrap(),
        sourcemap::DecodedMap::Hermes(_) => panic!("no hermes maps in these fixtures"),
    };
    sm.tokens()
        .map(|t| {
            (
                t.get_dst_line(),
                t.get_dst_col(),
                t.get_source().map(str::to_string),
                t.get_src_line(),
                t.get_src_col(),
                t.get_name().map(str::to_string),
            )
        })
        .collect()
}

/// The map of a JS file in `dir` (a file next to it, or inline).
fn map_of(js_path: &Path) -> Option<Vec<u8>> {
    let text = fs::read_to_string(js_path).ok()?;
    if let Some((v, _)) = pair::sourcemap_reference(&text) {
        if pair::is_data_url(v) {
            return pair::decode_data_url(v).ok();
        }
        let p = js_path.parent().unwrap().join(v);
        if p.is_file() {
            return fs::read(p).ok();
        }
    }
    let mut next_to = js_path.as_os_str().to_owned();
    next_to.push(".map");
    fs::read(PathBuf::from(next_to)).ok()
}

fn inject(dir: &Path) -> std::process::Output {
    let out = output(
        symship()
            .args(["sourcemap", "inject", "--directory"])
            .arg(dir)
            .current_dir(dir),
    );
    assert!(out.status.success(), "inject failed: {}", stderr(&out));
    out
}

fn injected_copy(dist: &Path) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(dist, tmp.path());
    inject(tmp.path());
    tmp
}

#[test]
fn every_mapping_still_points_at_the_same_original() {
    for (name, dist) in fixtures() {
        let tmp = injected_copy(&dist);
        let mut checked = 0;
        for rel in files(&dist).into_iter().filter(|p| is_js(p)) {
            let original =
                map_of(&dist.join(&rel)).unwrap_or_else(|| panic!("{name}/{}: no map", rel.display()));
            let new_js = fs::read_to_string(tmp.path().join(&rel)).unwrap();
            let new_map = map_of(&tmp.path().join(&rel)).unwrap();
            let found =
                snippet::find(&new_js).unwrap_or_else(|| panic!("{name}/{}: not injected", rel.display()));
            let (line, col) = chunk::position_of(&new_js, found.span.start);
            let shift = found.span.len() as u32;
            let expected: Vec<Token> = tokens(&original)
                .into_iter()
                .map(|mut t| {
                    if t.0 as usize == line && t.1 as usize >= col {
                        t.1 += shift;
                    }
                    t
                })
                .collect();
            let actual = tokens(&new_map);
            assert_eq!(
                actual.len(),
                expected.len(),
                "{name}/{}: token count",
                rel.display()
            );
            assert!(
                actual == expected,
                "{name}/{}: every token shifted by exactly the snippet",
                rel.display()
            );
            let map: serde_json::Value = serde_json::from_slice(&new_map).unwrap();
            assert_eq!(
                map["chunk_id"].as_str(),
                Some(found.chunk_id.as_str()),
                "{name}/{}",
                rel.display()
            );
            checked += expected.len();
        }
        assert!(checked > 0, "{name}: checked no token");
    }
}

/// Where symship deliberately differs from posthog-cli 0.19.0: a hashbang must stay on line 1 and a
/// "use strict" directive must stay the first statement; posthog-cli prepends the snippet to both.
fn keeps_a_prologue(original: &str) -> bool {
    original.starts_with("#!")
        || original.starts_with("\"use strict\";")
        || original.starts_with("'use strict';")
}

#[test]
fn output_equals_posthog_cli_golden_output() {
    let mut identical = 0;
    let mut by_design = 0;
    for (name, dist) in fixtures() {
        let golden = dist.parent().unwrap().join("expected-posthog-cli");
        assert!(golden.is_dir(), "{name}: no golden output");
        let tmp = injected_copy(&dist);
        for rel in files(&dist).into_iter().filter(|p| is_js(p)) {
            let ours = fs::read_to_string(tmp.path().join(&rel)).unwrap();
            let theirs = fs::read_to_string(golden.join(&rel)).unwrap();
            let original = fs::read_to_string(dist.join(&rel)).unwrap();
            if name == "esbuild-inline" {
                // posthog-cli cannot read inline maps and left the file alone.
                assert_eq!(theirs, original);
                assert!(snippet::find(&ours).is_some());
                by_design += 1;
                continue;
            }
            let our_snip = snippet::find(&ours).unwrap();
            let their_snip = snippet::find(&theirs).unwrap();
            assert_eq!(
                our_snip.chunk_id,
                their_snip.chunk_id,
                "{name}/{}: chunk id",
                rel.display()
            );
            if keeps_a_prologue(&original) {
                // Same snippet, same comment, only the place differs.
                assert_eq!(&ours[our_snip.span.clone()], &theirs[their_snip.span.clone()]);
                let strip = |s: &str, span: std::ops::Range<usize>| {
                    let mut s = s.to_string();
                    s.replace_range(span, "");
                    s
                };
                assert_eq!(
                    strip(&ours, our_snip.span.clone()),
                    strip(&theirs, their_snip.span.clone())
                );
                assert_eq!(their_snip.span.start, 0, "posthog-cli prepends");
                assert!(our_snip.span.start > 0);
                by_design += 1;
            } else {
                assert!(
                    ours == theirs,
                    "{name}/{}: injected JS differs from posthog-cli's",
                    rel.display()
                );
                identical += 1;
            }
            // The maps are equivalent: same chunk id, same decoded mappings (key order aside).
            let our_map = map_of(&tmp.path().join(&rel)).unwrap();
            let their_map = map_of(&golden.join(&rel)).unwrap();
            let (a, b): (serde_json::Value, serde_json::Value) = (
                serde_json::from_slice(&our_map).unwrap(),
                serde_json::from_slice(&their_map).unwrap(),
            );
            assert_eq!(a["chunk_id"], b["chunk_id"], "{name}/{}", rel.display());
            if !keeps_a_prologue(&original) {
                assert!(
                    tokens(&our_map) == tokens(&their_map),
                    "{name}/{}: decoded mappings differ",
                    rel.display()
                );
            }
        }
    }
    assert!(identical >= 15, "only {identical} files compared byte for byte");
    assert!(by_design >= 5, "{by_design}");
}

#[test]
fn posthog_cli_breaks_strict_mode_and_symship_keeps_it() {
    // A webpack chunk starts with "use strict"; the directive only works as the first statement.
    let dist = repo_root().join("fixtures/webpack/dist");
    let golden = repo_root().join("fixtures/webpack/expected-posthog-cli");
    let tmp = injected_copy(&dist);
    let rel = "shared.86c25d26.js";
    let probe = |path: &Path| -> String {
        let script = format!(
            "globalThis.self=globalThis;const vm=require('vm');const src=require('fs').readFileSync({:?},'utf8');\
             console.log(vm.runInThisContext(src+'\\n;(function(){{return this===undefined}})()'))",
            path.to_str().unwrap()
        );
        let out = node().args(["-e", &script]).output().expect("node runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(probe(&dist.join(rel)), "true", "the original chunk is strict");
    assert_eq!(probe(&tmp.path().join(rel)), "true", "symship keeps it strict");
    assert_eq!(
        probe(&golden.join(rel)),
        "false",
        "posthog-cli's output is no longer strict"
    );
}

#[test]
fn node_targeted_fixtures_still_run() {
    for (fixture, file) in [("esbuild-node-hashbang", "cli.js"), ("esbuild-inline", "main.js")] {
        let dist = repo_root().join("fixtures").join(fixture).join("dist");
        let tmp = injected_copy(&dist);
        let before = node().arg(dist.join(file)).output().unwrap();
        let after = node().arg(tmp.path().join(file)).output().unwrap();
        assert!(before.status.success());
        assert!(
            after.status.success(),
            "{fixture}: {}",
            String::from_utf8_lossy(&after.stderr)
        );
        assert_eq!(after.stdout, before.stdout, "{fixture}");
        assert!(!after.stdout.is_empty());
        if fixture == "esbuild-node-hashbang" {
            // posthog-cli's output of the same file does not even parse.
            let golden = repo_root()
                .join("fixtures")
                .join(fixture)
                .join("expected-posthog-cli")
                .join(file);
            let theirs = node().arg(golden).output().unwrap();
            assert!(!theirs.status.success());
            assert!(String::from_utf8_lossy(&theirs.stderr).contains("SyntaxError"));
            // The executable bit survives the atomic rewrite.
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(tmp.path().join(file)).unwrap().permissions().mode();
            assert_eq!(
                mode & 0o111,
                fs::metadata(dist.join(file)).unwrap().permissions().mode() & 0o111
            );
        }
    }
}

#[test]
fn the_posthog_sdk_reads_every_chunk_id() {
    let harness = repo_root().join("tests/js");
    assert!(
        harness.join("node_modules/@posthog/core").exists(),
        "tests/js/node_modules is missing: run scripts/install-tools (it installs the pinned @posthog/core)"
    );
    for (name, dist) in fixtures() {
        let tmp = injected_copy(&dist);
        let js: Vec<PathBuf> = files(tmp.path())
            .into_iter()
            .filter(|p| is_js(p))
            .map(|p| tmp.path().join(p))
            .collect();
        let out = node()
            .arg(harness.join("chunk-ids.mjs"))
            .arg("--check")
            .args(&js)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let map: BTreeMap<String, String> = serde_json::from_slice(&out.stdout).unwrap();
        for f in &js {
            let text = fs::read_to_string(f).unwrap();
            let (id, _) = snippet::comment_chunk_id(&text).unwrap();
            let key = f.canonicalize().unwrap().to_string_lossy().into_owned();
            let got = map
                .get(&key)
                .or_else(|| map.get(&f.to_string_lossy().into_owned()));
            assert_eq!(got.map(String::as_str), Some(id), "{name}: {key} in {map:?}");
        }
    }
}

#[test]
fn second_run_and_posthog_cli_output_are_left_alone() {
    for (name, dist) in fixtures() {
        let tmp = injected_copy(&dist);
        let snapshot = |d: &Path| -> Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> {
            files(d)
                .into_iter()
                .map(|p| {
                    let full = d.join(&p);
                    (
                        p,
                        fs::read(&full).unwrap(),
                        fs::metadata(&full).unwrap().modified().unwrap(),
                    )
                })
                .collect()
        };
        let before = snapshot(tmp.path());
        std::thread::sleep(std::time::Duration::from_millis(10));
        inject(tmp.path());
        assert!(
            snapshot(tmp.path()) == before,
            "{name}: a second run changed files"
        );

        // Files posthog-cli injected are recognised, not injected twice.
        let golden = dist.parent().unwrap().join("expected-posthog-cli");
        let g = tempfile::tempdir().unwrap();
        copy_dir(&golden, g.path());
        let before = snapshot(g.path());
        let out = output(
            symship()
                .args(["--output", "json", "sourcemap", "inject", "-d"])
                .arg(g.path()),
        );
        assert!(
            out.status.success() || name == "esbuild-inline",
            "{name}: {}",
            stderr(&out)
        );
        if name != "esbuild-inline" {
            let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(summary["injected"], 0, "{name}: {summary}");
            assert!(
                snapshot(g.path()) == before,
                "{name}: posthog-cli's output was changed"
            );
        }
    }
}
