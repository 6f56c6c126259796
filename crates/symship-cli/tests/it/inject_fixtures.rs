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
        // (esbuild-node-hashbang: posthog-cli's snippet above the hashbang is moved, see
        // a_snippet_posthog_cli_put_above_a_hashbang_is_moved_below_it)
        if name != "esbuild-inline" && name != "esbuild-node-hashbang" {
            let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(summary["injected"], 0, "{name}: {summary}");
            assert!(
                snapshot(g.path()) == before,
                "{name}: posthog-cli's output was changed"
            );
        }
    }
}

/// posthog-cli 0.19.0 puts its snippet above the `#!` line of `esbuild-node-hashbang` (its golden
/// output), so node refuses the file. Injecting that output again moves the hashbang back to line
/// 1: the chunk is then byte for byte what symship writes for the bundler's file (posthog-cli's
/// snippet after the hashbang), with the same chunk id, its map has the same tokens as symship's
/// (shifted on line 2, not line 1) and the same members, node runs it, the run says what it
/// did, a second run changes nothing, and a new release keeps the hashbang first. The stored
/// symbol set is the repaired chunk with that map.
#[test]
fn a_snippet_posthog_cli_put_above_a_hashbang_is_moved_below_it() {
    let fixture = repo_root().join("fixtures/esbuild-node-hashbang");
    let ours = injected_copy(&fixture.join("dist"));
    let server = server();
    let g = tempfile::tempdir().unwrap();
    copy_dir(&fixture.join("expected-posthog-cli"), g.path());
    let (js, map) = (g.path().join("cli.js"), g.path().join("cli.js.map"));
    let broken = fs::read_to_string(&js).unwrap();
    assert!(!broken.starts_with("#!") && broken.contains("}();#!/usr/bin/env node\n"));
    let (code, summary, err) = run_json(
        symship_for(&server, g.path())
            .env_remove("POSTHOG_CLI_API_KEY")
            .args(["sourcemap", "inject", "-d"])
            .arg(g.path()),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        (summary["injected"].as_u64(), summary["updated"].as_u64()),
        (Some(0), Some(1)),
        "{summary}"
    );
    assert!(err.contains("cli.js: moved its #! line back to line 1"), "{err}");
    assert!(
        err.contains("chunk id 4370d571-f98a-5902-bea3-42e1c966a695 kept"),
        "{err}"
    );
    let fixed = fs::read(&js).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&fixed),
        fs::read_to_string(ours.path().join("cli.js")).unwrap(),
        "the chunk symship writes for the bundler's file"
    );
    assert!(fixed.starts_with(b"#!/usr/bin/env node\n!function(){try{"));
    let (our_map, fixed_map) = (
        fs::read(ours.path().join("cli.js.map")).unwrap(),
        fs::read(&map).unwrap(),
    );
    assert_eq!(
        tokens(&fixed_map),
        tokens(&our_map),
        "the map's tokens line up with the moved snippet"
    );
    let json = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).unwrap();
    assert_eq!(
        json(&fixed_map),
        json(&our_map),
        "the same members (posthog-cli's order kept)"
    );
    assert_eq!(
        json(&fixed_map)["chunk_id"],
        "4370d571-f98a-5902-bea3-42e1c966a695"
    );
    let run = node().arg(&js).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "symship-fixture-cli ok: count=5 sum=14 max=5\n"
    );

    // a second run leaves it; a release re-stamps it with the hashbang first
    let (code, summary, err) = run_json(
        symship_for(&server, g.path())
            .env_remove("POSTHOG_CLI_API_KEY")
            .args(["sourcemap", "inject", "-d"])
            .arg(g.path()),
    );
    assert_eq!((code, summary["unchanged"].as_u64()), (0, Some(1)), "{err}");
    assert!(!err.contains("moved its #! line"), "{err}");
    assert_eq!(fs::read(&js).unwrap(), fixed);
    let (code, summary, err) = run_json(
        symship_for(&server, g.path())
            .args([
                "sourcemap",
                "process",
                "--release-name",
                "cli",
                "--release-version",
                "2",
                "-d",
            ])
            .arg(g.path()),
    );
    assert_eq!((code, summary["uploaded"].as_u64()), (0, Some(1)), "{err}");
    let released = fs::read_to_string(&js).unwrap();
    assert!(
        released.starts_with("#!/usr/bin/env node\n!function(){try{"),
        "{released}"
    );
    assert!(released.contains("_posthogReleaseId"));
    let sets = server.symbol_sets();
    assert_eq!(sets.len(), 1, "{sets:?}");
    assert_eq!(sets[0].ref_, "4370d571-f98a-5902-bea3-42e1c966a695");
    let object = server
        .object_bytes(sets[0].storage_ptr.as_deref().unwrap())
        .unwrap();
    let (src, stored_map) = symship_upload::container::read(&object).unwrap();
    assert_eq!(src, released);
    assert_eq!(stored_map.as_bytes(), fs::read(&map).unwrap());
    assert!(node().arg(&js).output().unwrap().status.success());
}

/// The same with a map that maps the hashbang line too and a directive after it, through real
/// posthog-cli 0.19.0: it shifts line 1 (the hashbang's) for its snippet; symship, moving the
/// snippet after `'use strict';` on line 2 (where it stamps the file fresh), shifts line 1 back
/// and line 2 from the snippet on, so every token is where a fresh stamp puts it.
#[test]
fn a_moved_hashbang_shifts_the_map_back_on_its_line() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    let chunk = "#!/usr/bin/env node\n'use strict';f(1);g();\n//# sourceMappingURL=app.js.map\n";
    let map = r#"{"version":3,"sources":["app.ts"],"names":[],"mappings":"AAAA;AACA,cACA,KACA"}"#;
    let (fresh, theirs) = (tmp.path().join("fresh"), tmp.path().join("theirs"));
    for d in [&fresh, &theirs] {
        fs::create_dir_all(d).unwrap();
        fs::write(d.join("app.js"), chunk).unwrap();
        fs::write(d.join("app.js.map"), map).unwrap();
    }
    inject(&fresh);
    let out = on_program(&symship_for(&server, tmp.path()), posthog_cli())
        .args(["sourcemap", "inject", "--directory"])
        .arg(&theirs)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let broken = fs::read_to_string(theirs.join("app.js")).unwrap();
    assert!(
        broken.starts_with("!function(){try{") && broken.contains("}();#!/usr/bin/env node\n"),
        "{broken}"
    );
    let their_tokens = tokens(&fs::read(theirs.join("app.js.map")).unwrap());
    let snippet_len = broken.find("#!").unwrap() as u32;
    assert_eq!(
        their_tokens[0].1, snippet_len,
        "posthog-cli shifted the hashbang's line"
    );
    let out = inject(&theirs);
    assert!(
        stderr(&out).contains("moved its #! line back to line 1"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        fs::read_to_string(theirs.join("app.js")).unwrap(),
        fs::read_to_string(fresh.join("app.js")).unwrap()
    );
    let (ours, moved) = (
        tokens(&fs::read(fresh.join("app.js.map")).unwrap()),
        tokens(&fs::read(theirs.join("app.js.map")).unwrap()),
    );
    assert_eq!(moved, ours);
    let at = |l: u32| moved.iter().filter(|t| t.0 == l).map(|t| t.1).collect::<Vec<_>>();
    let n = snippet_len;
    assert_eq!(at(0), vec![0], "the hashbang's token back at its column");
    assert_eq!(
        at(1),
        vec![0, 14 + n, 19 + n],
        "line 2 shifted from the end of the directive on"
    );
}
