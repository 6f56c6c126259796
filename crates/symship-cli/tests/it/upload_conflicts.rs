//! Conflicts and `--delete-after`: changed content under a known chunk id fails exactly that
//! chunk with what to do (`--force` / `--skip-on-conflict`); `--delete-after` strips and deletes
//! only what the server verifiably holds; `release_id_mismatch` is retried without the release
//! unless `--skip-release-on-fail=false`.

use std::path::{Path, PathBuf};

use symship_scan::ReleaseMode;
use symship_test_support::*;
use symship_testserver::{Config, FaultKind, FaultRule, TestServer};

use crate::support::*;

fn webpack(tmp: &Path, server: &TestServer) -> PathBuf {
    let dir = tmp.join("webpack");
    copy_dir(&repo_root().join("fixtures/webpack/dist"), &dir);
    let out = symship_for(server, tmp)
        .args(["sourcemap", "inject", "--release-mode", "symbol-set", "-d"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    dir
}

fn upload(server: &TestServer, cwd: &Path, dir: &Path, extra: &[&str]) -> (i32, serde_json::Value, String) {
    run_json(
        symship_for(server, cwd)
            .args(["sourcemap", "upload", "--release-mode", "symbol-set"])
            .args(extra)
            .arg("-d")
            .arg(dir),
    )
}

fn has_reference(p: &Path) -> bool {
    std::fs::read_to_string(p).unwrap().contains("sourceMappingURL=")
}

#[test]
fn changed_content_fails_exactly_that_chunk_and_delete_after_keeps_it() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = webpack(tmp.path(), &server);
    let (code, first, stderr) = upload(&server, tmp.path(), &dir, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(first["uploaded"], 5);

    // change one chunk's content; its chunk id stays
    let changed = dir.join("chart.23cf0de2.chunk.js");
    let text = std::fs::read_to_string(&changed).unwrap();
    std::fs::write(
        &changed,
        text.replacen("//# sourceMappingURL=", "/*rebuilt*/\n//# sourceMappingURL=", 1),
    )
    .unwrap();
    let changed_map = dir.join("chart.23cf0de2.chunk.js.map");

    let (code, summary, stderr) = upload(&server, tmp.path(), &dir, &["--delete-after"]);
    assert_eq!(code, 1, "{stderr}");
    let failed = summary["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0]["file"], changed.display().to_string());
    assert_eq!(failed[0]["code"], "content_hash_mismatch");
    let why = failed[0]["error"].as_str().unwrap();
    assert!(
        why.contains("--force") && why.contains("--skip-on-conflict"),
        "{why}"
    );
    assert_eq!(summary["skipped_already_present"], 4);
    // --delete-after: the 4 verified chunks lose their reference and their maps; the failed one keeps both
    for (file, map, _, outcome) in chunks(&summary) {
        let (file, map) = (PathBuf::from(file), PathBuf::from(map));
        if file == changed {
            assert_eq!(outcome, "content_hash_mismatch");
            assert!(has_reference(&file), "failed chunk keeps its sourceMappingURL");
            assert!(map.exists(), "failed chunk keeps its map");
        } else {
            assert_eq!(outcome, "already_present");
            assert!(
                !has_reference(&file),
                "{} still references its map",
                file.display()
            );
            assert!(!map.exists(), "{} not deleted", map.display());
            assert!(
                std::fs::read_to_string(&file).unwrap().contains("//# chunkId="),
                "only the reference line goes"
            );
        }
    }
    assert_eq!(summary["deleted"].as_array().unwrap().len(), 4);
    assert!(changed_map.exists());

    // --skip-on-conflict keeps the server's content and succeeds
    // (with --delete-after its map stays: the server does not hold this content)
    let (code, summary, stderr) = upload(
        &server,
        tmp.path(),
        &dir,
        &["--skip-on-conflict", "--delete-after"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["uploaded"], 0);
    assert_eq!(summary["skipped_already_present"], 0, "{summary}");
    assert_eq!(summary["skipped_kept_different"], 1, "{summary}");
    assert!(changed_map.exists() && has_reference(&changed));

    // --force replaces it; now --delete-after removes the last map too
    let (code, summary, stderr) = upload(&server, tmp.path(), &dir, &["--force", "--delete-after"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["uploaded"], 1);
    assert!(!changed_map.exists());
    assert!(!has_reference(&changed));
    let set = server
        .symbol_sets()
        .into_iter()
        .find(|s| {
            s.content_hash.is_some()
                && chunks(&summary)
                    .iter()
                    .any(|c| c.2 == s.ref_ && c.0 == changed.display().to_string())
        })
        .expect("the forced set is finished");
    let object = server.object_bytes(set.storage_ptr.as_deref().unwrap()).unwrap();
    let (src, _) = symship_upload::container::read(&object).unwrap();
    assert!(src.contains("/*rebuilt*/"), "the server holds the new content");
    let violations = server.violations();
    assert!(violations.is_empty(), "{violations:?}");
}

#[test]
fn event_mode_delete_after_cleans_js_and_css_maps_when_all_landed() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vite");
    copy_dir(&repo_root().join("fixtures/vite-react/dist"), &dir);
    std::fs::write(
        dir.join("assets/site.css"),
        "a{color:red}\n/*# sourceMappingURL=site.css.map */\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("assets/site.css.map"),
        r#"{"version":3,"sources":["a.css"],"mappings":"AAAA"}"#,
    )
    .unwrap();
    let (code, summary, stderr) = run_json(
        symship_for(&server, tmp.path())
            .args([
                "sourcemap",
                "process",
                "--delete-after",
                "--skip-on-conflict",
                "-d",
            ])
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("--skip-on-conflict is ignored"),
        "event mode warns: {stderr}"
    );
    let all = chunks(&summary);
    assert!(!all.is_empty());
    assert_server_holds_exactly_after_strip(&server, &all);
    for (file, map, _, _) in &all {
        assert!(!has_reference(Path::new(file)));
        assert!(!Path::new(map).exists());
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("assets/site.css")).unwrap(),
        "a{color:red}\n"
    );
    assert!(!dir.join("assets/site.css.map").exists());
    // event mode always forces
    assert!(requests(&server, "bulk_start_upload")
        .iter()
        .all(|r| r.body.as_ref().unwrap()["force"] == true));
}

/// After --delete-after the files changed, so compare the stored objects' maps only by chunk id.
fn assert_server_holds_exactly_after_strip(server: &TestServer, all: &[(String, String, String, String)]) {
    let violations = server.violations();
    assert!(violations.is_empty(), "{violations:?}");
    for (_, _, id, _) in all {
        let set = server
            .symbol_sets()
            .into_iter()
            .find(|s| &s.ref_ == id)
            .unwrap_or_else(|| panic!("{id} not on the server"));
        assert!(set.content_hash.is_some());
        let (src, map) = symship_upload::container::read(
            &server.object_bytes(set.storage_ptr.as_deref().unwrap()).unwrap(),
        )
        .unwrap();
        assert!(
            src.contains("sourceMappingURL="),
            "the uploaded source is as it was before stripping"
        );
        let map: serde_json::Value = serde_json::from_str(&map).unwrap();
        assert_eq!(map["chunk_id"], id.as_str());
    }
}

fn create_release(server: &TestServer, version: &str) -> String {
    let env = symship_api::MapEnv::new()
        .with("POSTHOG_CLI_API_KEY", &server.api_key())
        .with("POSTHOG_CLI_PROJECT_ID", &server.project_id().to_string())
        .with("POSTHOG_CLI_HOST", &server.base_url())
        .with("POSTHOG_HOME", "/nonexistent");
    let config = symship_api::Config::resolve(&Default::default(), &env).unwrap();
    let client = symship_api::Client::new(&config).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let release = rt
        .block_on(client.create_release(&symship_api::CreateRelease {
            metadata: None,
            hash_id: Some(format!("h{}", version.replace('.', "_"))),
            version: version.into(),
            project: "app".into(),
        }))
        .unwrap();
    release.id.to_string()
}

fn set_release(dir: &Path, release: &str) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|e| e.to_str()) == Some("map") {
            let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            v["release_id"] = serde_json::Value::String(release.into());
            std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
        }
    }
}

#[test]
fn release_mismatch_is_retried_without_the_release_unless_told_not_to() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = webpack(tmp.path(), &server);
    let r1 = create_release(&server, "1.0.0");
    let r2 = create_release(&server, "2.0.0");
    set_release(&dir, &r1);
    let (code, summary, stderr) = upload(&server, tmp.path(), &dir, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["uploaded"], 5);
    assert!(server
        .symbol_sets()
        .iter()
        .all(|s| s.release_id.map(|r| r.to_string()) == Some(r1.clone())));

    set_release(&dir, &r2);
    let (code, summary, stderr) = upload(
        &server,
        tmp.path(),
        &dir,
        &["--force", "--skip-release-on-fail=false"],
    );
    assert_eq!(code, 1, "{stderr}");
    let failed = summary["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 5, "{failed:#?}");
    assert!(
        failed.iter().all(|f| f["code"] == "release_id_mismatch"),
        "{failed:#?}"
    );
    assert!(
        requests(&server, "s3_put").len() == 5,
        "nothing was sent for the mismatching run"
    );

    let (code, summary, stderr) = upload(&server, tmp.path(), &dir, &["--force"]);
    assert_eq!(code, 0, "{stderr}");
    // each set the server names is sent again without its release, and said so
    assert!(
        stderr.contains("5 symbol set(s) the server holds bound to another release"),
        "{stderr}"
    );
    assert_eq!(
        summary["already_bound"].as_array().map(Vec::len),
        Some(5),
        "{summary:#}"
    );
    assert_eq!(summary["uploaded"], 5);
    let starts = requests(&server, "bulk_start_upload");
    let last = starts.last().unwrap().body.as_ref().unwrap();
    assert!(last["symbol_sets"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["release_id"].is_null()));
    // the sets keep their first release; their content is the new one
    assert!(server
        .symbol_sets()
        .iter()
        .all(|s| s.release_id.map(|r| r.to_string()) == Some(r1.clone())));
    assert_server_holds_exactly(&server, &chunks(&summary), ReleaseMode::SymbolSet);
}

/// Maps that hold nothing (an index map with no sections, as Next.js 16 Turbopack writes for server
/// chunks; a map with empty mappings, as Nuxt writes) are not uploaded, and `--delete-after` deletes
/// them with their chunk's reference, as posthog-cli does: the run paired them, so none is left to be
/// deployed. A map whose chunk failed to land stays, and is named.
#[test]
fn delete_after_deletes_empty_maps_with_their_reference() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vite");
    copy_dir(&repo_root().join("fixtures/vite-react/dist"), &dir);
    let empties = [
        ("server-chunk.js", r#"{"version":3,"sections":[]}"#),
        (
            "nuxt-empty.js",
            r#"{"version":3,"file":"nuxt-empty.js","sources":[],"names":[],"mappings":""}"#,
        ),
    ];
    for (name, map) in empties {
        std::fs::write(
            dir.join("assets").join(name),
            format!("export const x=1;\n//# sourceMappingURL={name}.map\n"),
        )
        .unwrap();
        std::fs::write(dir.join("assets").join(format!("{name}.map")), map).unwrap();
    }
    let (code, summary, stderr) = run_json(
        symship_for(&server, tmp.path())
            .args(["sourcemap", "process", "--delete-after", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["uploaded"], 4, "{summary}");
    for (name, _) in empties {
        let file = dir.join("assets").join(name);
        assert!(
            !dir.join("assets").join(format!("{name}.map")).exists(),
            "the empty map of {name} is left: {summary}"
        );
        assert!(!has_reference(&file), "{name} still references its deleted map");
        assert!(std::fs::read_to_string(&file)
            .unwrap()
            .contains("export const x=1;"));
        let deleted = summary["deleted"].as_array().unwrap();
        assert!(
            deleted
                .iter()
                .any(|d| d.as_str().unwrap().ends_with(&format!("{name}.map"))),
            "{name}.map is reported deleted: {summary}"
        );
    }
    assert_eq!(summary["deleted"].as_array().unwrap().len(), 6, "{summary}");
    let left: Vec<_> = walk_maps(&dir);
    assert!(left.is_empty(), "maps left: {left:?}");
    let violations = server.violations();
    assert!(violations.is_empty(), "{violations:?}");
}

/// A map whose chunk failed to land is kept (and named) even when an empty map in the same run is
/// deleted.
#[test]
fn delete_after_keeps_the_map_of_a_failed_chunk_next_to_deleted_empty_ones() {
    let server = start(Config {
        faults: vec![FaultRule::new("bulk_finish_upload", FaultKind::Status { status: 400 }).first_n(1)],
        ..Config::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vite");
    copy_dir(&repo_root().join("fixtures/vite-react/dist"), &dir);
    std::fs::write(
        dir.join("assets/server-chunk.js"),
        "export const x=1;\n//# sourceMappingURL=server-chunk.js.map\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("assets/server-chunk.js.map"),
        r#"{"version":3,"sections":[]}"#,
    )
    .unwrap();
    let (code, summary, stderr) = run_json(
        symship_for(&server, tmp.path())
            .args([
                "sourcemap",
                "process",
                "--delete-after",
                "--batch-size",
                "2",
                "--concurrency",
                "1",
                "-d",
            ])
            .arg(&dir),
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(!dir.join("assets/server-chunk.js.map").exists(), "{summary}");
    let failed = summary["failed"].as_array().unwrap();
    assert!(!failed.is_empty(), "{summary}");
    for f in failed {
        let file = PathBuf::from(f["file"].as_str().unwrap());
        let map = PathBuf::from(format!("{}.map", file.display()));
        assert!(map.exists(), "the map of failed {} was deleted", file.display());
        assert!(has_reference(&file));
        assert!(stderr.contains(&file.file_name().unwrap().to_string_lossy().to_string()));
    }
}

fn walk_maps(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk_maps(&p));
        } else if p.extension().is_some_and(|x| x == "map") {
            out.push(p);
        }
    }
    out
}

/// A fresh tester's D11: a chunk whose map is a symbolic link. `--delete-after` deletes the link
/// (the file the chunk referenced, as posthog-cli 0.19.0 unlinks the path its reference names),
/// never the file it points to, and names the target it leaves. Before, the target was deleted
/// and a dangling link was left in the build.
#[test]
fn delete_after_deletes_a_linked_map_not_its_target() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("webpack");
    copy_dir(&repo_root().join("fixtures/webpack/dist"), &dir);
    // chart's map lives in maps/ and is reached through a link where the chunk references it
    std::fs::create_dir(dir.join("maps")).unwrap();
    let link = dir.join("chart.23cf0de2.chunk.js.map");
    let target = dir.join("maps/chart.map");
    std::fs::rename(&link, &target).unwrap();
    std::os::unix::fs::symlink("maps/chart.map", &link).unwrap();
    let (code, summary, stderr) = run_json(
        symship_for(&server, tmp.path())
            .args(["sourcemap", "process", "--delete-after", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["uploaded"], 5, "{summary}");
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "the link is deleted: {summary}"
    );
    assert!(target.is_file(), "the link's target is never deleted: {summary}");
    // what the server holds of chart is the map the link led to (inject wrote its chunk id there)
    let chart = chunks(&summary)
        .into_iter()
        .find(|c| c.0.ends_with("chart.23cf0de2.chunk.js"))
        .expect("chart uploaded");
    let set = server
        .symbol_sets()
        .into_iter()
        .find(|s| s.ref_ == chart.2)
        .expect("chart on the server");
    let (_, map) =
        symship_upload::container::read(&server.object_bytes(set.storage_ptr.as_deref().unwrap()).unwrap())
            .unwrap();
    let sent: serde_json::Value = serde_json::from_str(&map).unwrap();
    let kept: serde_json::Value = serde_json::from_slice(&std::fs::read(&target).unwrap()).unwrap();
    assert_eq!(sent, kept);
    let deleted: Vec<&str> = summary["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(deleted.len(), 5, "{deleted:?}");
    assert!(deleted.contains(&link.to_str().unwrap()), "{deleted:?}");
    assert!(!deleted.contains(&target.to_str().unwrap()), "{deleted:?}");
    // the target left in the build is named
    let warnings = summary["warnings"].to_string();
    assert!(
        warnings.contains(&format!("--delete-after kept {}", target.display())),
        "{warnings}"
    );
    assert!(!has_reference(&dir.join("chart.23cf0de2.chunk.js")));
    assert!(server.violations().is_empty(), "{:?}", server.violations());
}

/// A fresh tester's D7: with `--skip-on-conflict`, a chunk id under which the server holds
/// *different* content is `kept_different` (text and JSON), not `already_present`, and the summary
/// says the server kept different content; the identical ones stay `already_present`; the exit
/// code stays 0; `--delete-after` deletes no map whose content the server does not hold, and does
/// delete those of the identical ones (the check that told them apart proved them).
#[test]
fn skip_on_conflict_says_the_server_kept_different_content() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = webpack(tmp.path(), &server);
    let (code, first, stderr) = upload(&server, tmp.path(), &dir, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(first["uploaded"], 5);
    let changed = dir.join("chart.23cf0de2.chunk.js");
    let text = std::fs::read_to_string(&changed).unwrap();
    std::fs::write(
        &changed,
        text.replacen("//# sourceMappingURL=", "/*rebuilt*/\n//# sourceMappingURL=", 1),
    )
    .unwrap();
    let held = |server: &TestServer| -> Vec<_> {
        server
            .symbol_sets()
            .into_iter()
            .map(|s| (s.ref_, s.content_hash, s.storage_ptr))
            .collect()
    };
    let held_before = held(&server);

    let (code, summary, stderr) = upload(
        &server,
        tmp.path(),
        &dir,
        &["--skip-on-conflict", "--delete-after"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["uploaded"], 0, "{summary}");
    assert_eq!(summary["skipped_already_present"], 4, "{summary}");
    assert_eq!(summary["skipped_kept_different"], 1, "{summary}");
    for (file, map, _, outcome) in chunks(&summary) {
        let expected = if Path::new(&file) == changed {
            "kept_different"
        } else {
            "already_present"
        };
        assert_eq!(outcome, expected, "{file}");
        // the forced check proved the server holds these very contents: their maps go (a fresh
        // tester: every map stayed, so --skip-on-conflict --delete-after shipped sourcemaps);
        // the kept one's stays
        if outcome == "kept_different" {
            assert!(Path::new(&map).exists(), "{map} deleted");
            assert!(has_reference(Path::new(&file)), "{file} stripped");
        } else {
            assert!(!Path::new(&map).exists(), "{map} kept");
            assert!(!has_reference(Path::new(&file)), "{file} not stripped");
        }
    }
    assert_eq!(summary["deleted"].as_array().unwrap().len(), 4, "{summary}");
    let warnings = summary["warnings"].to_string();
    assert!(
        warnings.contains(&format!("--delete-after kept {}", changed.display()))
            && warnings.contains("holds different content"),
        "{warnings}"
    );
    // the server still holds the first build's content for that chunk id, and nothing changed
    assert_eq!(held(&server), held_before);
    assert!(requests(&server, "bulk_start_upload")
        .iter()
        .all(|r| r.body.as_ref().unwrap()["force"] == false));

    // the text summary says it plainly
    let out = symship_for(&server, tmp.path())
        .args([
            "sourcemap",
            "upload",
            "--release-mode",
            "symbol-set",
            "--skip-on-conflict",
            "-d",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        // the identical ones' maps went with the --delete-after run above
        stderr.contains("skipped       5 (kept_different 1, map_removed 4)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the server kept different content for 1 chunk id(s)")
            && stderr.contains(&changed.display().to_string()),
        "{stderr}"
    );
    assert!(server.violations().is_empty(), "{:?}", server.violations());
}

/// `--skip-on-conflict` where the start call, not the check, passes over a chunk: start gives no
/// URL for a chunk whose stored content is identical or kept. A build uploaded without a release,
/// one chunk rebuilt, then uploaded with release flags: the check lists every chunk (each set
/// still has a release to bind), start binds them and issues nothing. Then a server whose first
/// checks answer 404 (no `bulk_check_upload`: start decides alone). Each time the rebuilt chunk is
/// `kept_different` and the others `already_present` (a fresh tester: all five were
/// `already_present`, and the summary said nothing of the content the server kept), nothing is
/// sent, and the server still holds the first build's content.
#[test]
fn skip_on_conflict_tells_kept_content_apart_when_start_gives_no_url() {
    for no_check in [false, true] {
        let server = start(Config::default());
        let tmp = tempfile::tempdir().unwrap();
        let dir = webpack(tmp.path(), &server);
        let (code, first, stderr) = upload(&server, tmp.path(), &dir, &[]);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(first["uploaded"], 5);
        assert!(server.symbol_sets().iter().all(|s| s.release_id.is_none()));
        let changed = dir.join("chart.23cf0de2.chunk.js");
        let text = std::fs::read_to_string(&changed).unwrap();
        std::fs::write(
            &changed,
            text.replacen("//# sourceMappingURL=", "/*rebuilt*/\n//# sourceMappingURL=", 1),
        )
        .unwrap();
        let held_before: Vec<_> = server
            .symbol_sets()
            .into_iter()
            .map(|s| (s.ref_, s.content_hash, s.storage_ptr))
            .collect();
        let (args, want_release): (&[&str], bool) = if no_check {
            // the run's checks: the one sent ahead (the first run's sets) and its own (the
            // rebuilt chunk); the forced check that tells kept content apart comes after start
            server.set_faults(vec![FaultRule::new(
                "bulk_check_upload",
                FaultKind::Status { status: 404 },
            )
            .first_n(2)]);
            (&["--skip-on-conflict"], false)
        } else {
            (
                &[
                    "--skip-on-conflict",
                    "--release-name",
                    "app",
                    "--release-version",
                    "2.0.0",
                ],
                true,
            )
        };
        let starts_before = requests(&server, "bulk_start_upload").len();
        let (code, summary, stderr) = upload(&server, tmp.path(), &dir, args);
        assert_eq!(code, 0, "no_check {no_check}: {stderr}\n{summary:#}");
        assert_eq!(summary["uploaded"], 0, "{summary:#}");
        assert_eq!(
            summary["skipped_already_present"], 4,
            "no_check {no_check}: {summary:#}"
        );
        assert_eq!(
            summary["skipped_kept_different"], 1,
            "no_check {no_check}: {summary:#}"
        );
        for (file, _, _, outcome) in chunks(&summary) {
            let expected = if Path::new(&file) == changed {
                "kept_different"
            } else {
                "already_present"
            };
            assert_eq!(outcome, expected, "no_check {no_check}: {file}");
        }
        // its log line names the chunk and says what to do
        let kept = stderr
            .lines()
            .find(|l| l.contains(&format!("kept {} (", changed.display())))
            .unwrap_or_else(|| panic!("no_check {no_check}: {stderr}"));
        assert!(kept.contains("--force replaces it"), "{kept}");
        // start was asked for every chunk, with skip_on_conflict, and gave no URL
        let starts = requests(&server, "bulk_start_upload");
        let asked: usize = starts[starts_before..]
            .iter()
            .map(|r| {
                let body = r.body.as_ref().unwrap();
                assert_eq!(body["skip_on_conflict"], true, "{body}");
                body["symbol_sets"].as_array().unwrap().len()
            })
            .sum();
        assert_eq!(asked, 5, "no_check {no_check}");
        assert_eq!(
            requests(&server, "s3_put").len(),
            5,
            "only the first run's transfers"
        );
        let held_now: Vec<_> = server
            .symbol_sets()
            .into_iter()
            .map(|s| (s.ref_, s.content_hash, s.storage_ptr))
            .collect();
        assert_eq!(
            held_now, held_before,
            "the server keeps the first build's content"
        );
        if want_release {
            let release = server.releases()[0].id;
            assert!(server.symbol_sets().iter().all(|s| s.release_id == Some(release)));
        }
        assert!(server.violations().is_empty(), "{:?}", server.violations());
    }
}

/// `--skip-on-conflict` against a server without `bulk_check_upload` (every check answers 404):
/// start gives no URL for the five chunks, and the check that would tell kept content from
/// present content cannot be asked. They are counted `already_present`, `--delete-after` keeps
/// every map, and one warning says so, naming a chunk with its file and id, and what to do (run
/// without `--skip-on-conflict` to have each difference named).
#[test]
fn skip_on_conflict_without_a_check_says_which_chunks_it_could_not_tell_apart() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = webpack(tmp.path(), &server);
    let (code, first, stderr) = upload(&server, tmp.path(), &dir, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(first["uploaded"], 5);
    server.set_faults(vec![FaultRule::new(
        "bulk_check_upload",
        FaultKind::Status { status: 404 },
    )]);
    let (code, summary, stderr) = upload(
        &server,
        tmp.path(),
        &dir,
        &["--skip-on-conflict", "--delete-after"],
    );
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    assert_eq!(summary["skipped_already_present"], 5, "{summary:#}");
    assert!(summary["deleted"].as_array().unwrap().is_empty(), "{summary:#}");
    let warnings: Vec<&str> = summary["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w.as_str())
        .filter(|w| w.contains("could not ask the server which"))
        .collect();
    assert_eq!(warnings.len(), 1, "said once: {summary:#}");
    let named = chunks(&summary)
        .into_iter()
        .find(|(file, _, id, _)| warnings[0].contains(&format!("{file} (chunk {id})")));
    assert!(named.is_some(), "names a chunk and its file: {}", warnings[0]);
    assert!(
        warnings[0].contains("run again without --skip-on-conflict"),
        "{}",
        warnings[0]
    );
}

/// A fresh tester's D11, second part: a re-run over a build `--delete-after` finished warned "no
/// sourcemap found" for every chunk and exited 3. Chunks that carry a chunk id and have no
/// reference and no map are `map_removed`: one line says how many, they count as done (exit 0,
/// also with `--strict`), nothing is sent; a chunk never injected still gets its `no_map` warning.
#[test]
fn a_rerun_after_delete_after_is_quiet_about_finished_chunks() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("webpack");
    copy_dir(&repo_root().join("fixtures/webpack/dist"), &dir);
    let process = |extra: &[&str]| {
        let out = symship_for(&server, tmp.path())
            .args(["sourcemap", "process", "--delete-after"])
            .args(extra)
            .arg("-d")
            .arg(&dir)
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = process(&[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(walk_maps(&dir), Vec::<PathBuf>::new());
    let started = count_route(&server, "bulk_start_upload");

    for extra in [&[][..], &["--strict"][..]] {
        let (code, stderr) = process(extra);
        assert_eq!(code, 0, "re-run {extra:?}: {stderr}");
        assert!(!stderr.contains("no sourcemap found"), "{stderr}");
        assert_eq!(
            stderr.matches("5 chunk(s) carry a chunk id").count(),
            1,
            "{stderr}"
        );
        assert!(stderr.contains("skipped       5 (map_removed 5)"), "{stderr}");
    }
    let (code, summary, stderr) = run_json(
        symship_for(&server, tmp.path())
            .args(["sourcemap", "upload", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}");
    let skipped = summary["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 5, "{summary}");
    assert!(skipped.iter().all(|s| s["code"] == "map_removed"), "{summary}");
    assert_eq!(count_route(&server, "bulk_start_upload"), started, "nothing sent");

    // a chunk never injected, without a map: still warned about, and --strict still fails it
    std::fs::write(dir.join("plain.js"), "console.log(1);\n").unwrap();
    let (code, stderr) = process(&[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "skipped {}: no sourcemap found",
            dir.join("plain.js").display()
        )),
        "{stderr}"
    );
    assert_eq!(stderr.matches("no sourcemap found").count(), 1, "{stderr}");
    let (code, stderr) = process(&["--strict"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(count_route(&server, "bulk_start_upload"), started, "nothing sent");
}

/// A CSS map as a bundler writes it next to its stylesheet.
const CSS_MAP: &str = r#"{"version":3,"sources":["a.css"],"names":[],"mappings":"AAAA"}"#;

/// The vite build under `tmp/name`, with two stylesheets and their maps: `assets/site.css` and
/// `vendor/lib/v.css` (a folder a plugin ignores, as Nuxt's `--ignore "**/node_modules/**"`).
fn vite_with_css(tmp: &Path, name: &str) -> PathBuf {
    let dir = tmp.join(name);
    copy_dir(&repo_root().join("fixtures/vite-react/dist"), &dir);
    for css in ["assets/site.css", "vendor/lib/v.css"] {
        let path = dir.join(css);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let file = path.file_name().unwrap().to_str().unwrap();
        std::fs::write(
            &path,
            format!("a{{color:red}}\n/*# sourceMappingURL={file}.map */\n"),
        )
        .unwrap();
        std::fs::write(dir.join(format!("{css}.map")), CSS_MAP).unwrap();
    }
    dir
}

/// Whether the stylesheet `css` of `dir` and its map are as [`vite_with_css`] wrote them.
fn css_untouched(dir: &Path, css: &str) -> bool {
    let path = dir.join(css);
    let file = path.file_name().unwrap().to_str().unwrap().to_owned();
    std::fs::read_to_string(&path).unwrap() == format!("a{{color:red}}\n/*# sourceMappingURL={file}.map */\n")
        && std::fs::read_to_string(dir.join(format!("{css}.map"))).is_ok_and(|m| m == CSS_MAP)
}

/// The refs of the symbol sets the server finished, and the chunk ids the summary says were
/// uploaded: the same, `n` of them.
fn assert_server_finished(server: &TestServer, summary: &serde_json::Value, n: usize) {
    let finished: std::collections::BTreeSet<String> = server
        .symbol_sets()
        .into_iter()
        .filter(|s| s.content_hash.is_some())
        .map(|s| s.ref_)
        .collect();
    let uploaded: std::collections::BTreeSet<String> = chunks(summary)
        .into_iter()
        .filter(|c| c.3 == "uploaded")
        .map(|c| c.2)
        .collect();
    assert_eq!(finished, uploaded, "{summary}");
    assert_eq!(finished.len(), n, "{summary}");
    assert!(server.violations().is_empty(), "{:?}", server.violations());
}

/// A fresh tester's finding (s11, tester 12 #2): `--delete-after` stripped the comment of every CSS
/// file under the chunks' directories and deleted its map, whatever the selection: with `--file`,
/// `--stdin` and `--include` naming one chunk, in a folder `--ignore` excludes, and after a run that
/// uploaded nothing. Now, as posthog-cli 0.19.0 does, only the stylesheets the selection picks (the
/// same roots, named files, `--include` and `--exclude`) are cleaned, and only after a run that
/// uploaded its chunks; a map left for that reason is named.
#[test]
fn delete_after_cleans_only_the_css_the_selection_picks() {
    let tmp = tempfile::tempdir().unwrap();
    let chunk = "assets/index-wtnZXYvi.js";
    // (flags, stdin): one chunk named, CSS outside the selection
    let one_chunk: [(&str, Vec<String>, Option<String>); 3] = [
        ("file", vec!["--file".into(), format!("one-file/{chunk}")], None),
        (
            "stdin",
            vec!["--stdin".into()],
            Some(format!("one-stdin/{chunk}\n")),
        ),
        (
            "include",
            vec![
                "-d".into(),
                "one-include".into(),
                "--include".into(),
                "**/index-*.js".into(),
            ],
            None,
        ),
    ];
    for (case, flags, stdin) in one_chunk {
        let server = start(Config::default());
        let dir = vite_with_css(tmp.path(), &format!("one-{case}"));
        let mut cmd = symship_for(&server, tmp.path());
        cmd.args(["sourcemap", "process", "--delete-after", "--output", "json"])
            .args(&flags)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        {
            use std::io::Write as _;
            let mut input = child.stdin.take().unwrap();
            input.write_all(stdin.unwrap_or_default().as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{case}: {stderr}");
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_server_finished(&server, &summary, 1);
        // the chunk's own map goes; no stylesheet is touched
        assert!(!has_reference(&dir.join(chunk)), "{case}");
        assert!(!dir.join(format!("{chunk}.map")).exists(), "{case}");
        assert!(dir.join("assets/About-Bn4C57QA.js.map").exists(), "{case}");
        for css in ["assets/site.css", "vendor/lib/v.css"] {
            assert!(
                css_untouched(&dir, css),
                "{case}: {css} was cleaned up: {summary}"
            );
        }
        assert_eq!(
            summary["deleted"].as_array().unwrap().len(),
            1,
            "{case}: {summary}"
        );
    }

    // a folder the plugin ignores keeps its stylesheet; the selected one is cleaned up
    let server = start(Config::default());
    let dir = vite_with_css(tmp.path(), "ignore");
    let (code, summary, stderr) = run_json(
        symship_for(&server, tmp.path())
            .args([
                "sourcemap",
                "upload",
                "--delete-after",
                "--ignore",
                "**/vendor/**",
                "-d",
            ])
            .arg(&dir),
    );
    // (not injected: nothing to upload, nothing cleaned, the CSS maps named)
    assert_eq!(code, 3, "{stderr}");
    assert_server_finished(&server, &summary, 0);
    assert!(css_untouched(&dir, "assets/site.css") && css_untouched(&dir, "vendor/lib/v.css"));
    let warnings = summary["warnings"].as_array().unwrap();
    let site_map = dir.join("assets/site.css.map").canonicalize().unwrap();
    assert!(
        warnings.iter().any(|w| w.as_str().unwrap().starts_with(&format!(
            "--delete-after kept {}: the run uploaded nothing",
            site_map.display()
        ))),
        "{summary}"
    );
    let (code, summary, stderr) = run_json(
        symship_for(&server, tmp.path())
            .args([
                "sourcemap",
                "process",
                "--delete-after",
                "--ignore",
                "**/vendor/**",
                "-d",
            ])
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_server_finished(&server, &summary, 4);
    assert_eq!(walk_maps(&dir.join("assets")), Vec::<PathBuf>::new());
    assert_eq!(
        std::fs::read_to_string(dir.join("assets/site.css")).unwrap(),
        "a{color:red}\n"
    );
    assert!(css_untouched(&dir, "vendor/lib/v.css"), "{summary}");
}

/// A fresh tester's finding (s12 #3): `--delete-after` found a stylesheet's map only as
/// `<name>.css.map`, while posthog-cli 0.19.0 follows the stylesheet's own `/*# sourceMappingURL=…
/// */` first (plain/upload.rs, `get_sourcemap_path`); and a minified one-line stylesheet, whose
/// comment follows the code on its line, kept its comment while its map was deleted. Now the
/// comment's path is followed when it is relative and leads to a sourcemap inside the selected
/// directory (never a URL, a `data:` URI, an absolute path or `..` out of it; such a map stays and
/// is named), and the comment is taken out wherever it is on its line, no other byte changed.
#[test]
fn delete_after_follows_a_stylesheets_own_reference_and_strips_it_on_a_minified_line() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start(Config::default());
    let dir = tmp.path().join("site");
    copy_dir(&repo_root().join("fixtures/vite-react/dist"), &dir);
    let write = |rel: &str, text: &str| {
        let p = tmp.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    // (stylesheet, its text, what it is once cleaned)
    let sheets = [
        // a map in another folder, named by the comment (the only map it has)
        (
            "site/assets/a.css",
            "a{color:red}\n/*# sourceMappingURL=../maps/a.css.map */\n",
            "a{color:red}\n",
        ),
        // minified: code and comment on one line, no line break at the end
        (
            "site/assets/b.min.css",
            "b{color:red}/*# sourceMappingURL=b.min.css.map */",
            "b{color:red}",
        ),
        // minified, the comment between rules and a license after it on the line
        (
            "site/assets/c.css",
            ".c{}/*# sourceMappingURL=c.css.map */ /*! license */\n",
            ".c{} /*! license */\n",
        ),
    ];
    for (css, text, _) in &sheets {
        write(css, text);
    }
    write("site/maps/a.css.map", CSS_MAP);
    write("site/assets/b.min.css.map", CSS_MAP);
    write("site/assets/c.css.map", CSS_MAP);
    // left alone: a map outside the selected directory; an absolute path; a URL and a data: URI
    // (not followed, and no <name>.css.map beside them)
    let outside = "../../outside.css.map";
    write("outside.css.map", CSS_MAP);
    write(
        "site/assets/out.css",
        &format!("o{{}}\n/*# sourceMappingURL={outside} */\n"),
    );
    let abs = tmp.path().join("site/maps/abs.css.map");
    write("site/maps/abs.css.map", CSS_MAP);
    write(
        "site/assets/abs.css",
        &format!("x{{}}/*# sourceMappingURL={} */", abs.display()),
    );
    write(
        "site/assets/url.css",
        "u{}/*# sourceMappingURL=https://cdn.example/u.css.map */",
    );
    write(
        "site/assets/data.css",
        "d{}/*# sourceMappingURL=data:application/json;base64,e30= */",
    );
    let untouched: Vec<(PathBuf, Vec<u8>)> = [
        "site/assets/out.css",
        "site/assets/abs.css",
        "site/assets/url.css",
        "site/assets/data.css",
    ]
    .iter()
    .map(|rel| {
        let p = tmp.path().join(rel);
        let bytes = std::fs::read(&p).unwrap();
        (p, bytes)
    })
    .collect();
    let (code, summary, stderr) = run_json(
        symship_for(&server, tmp.path())
            .args(["sourcemap", "process", "--delete-after", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_server_finished(&server, &summary, 4);
    for (css, _, cleaned) in &sheets {
        assert_eq!(
            std::fs::read_to_string(tmp.path().join(css)).unwrap(),
            *cleaned,
            "{css}: {summary}"
        );
    }
    for map in [
        "site/maps/a.css.map",
        "site/assets/b.min.css.map",
        "site/assets/c.css.map",
    ] {
        assert!(!tmp.path().join(map).exists(), "{map}: {summary}");
    }
    for (p, bytes) in &untouched {
        assert_eq!(&std::fs::read(p).unwrap(), bytes, "{}", p.display());
    }
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("outside.css.map")).unwrap(),
        CSS_MAP
    );
    assert_eq!(std::fs::read_to_string(&abs).unwrap(), CSS_MAP);
    let out_css = dir.join("assets/out.css");
    let named = format!(
        "--delete-after kept {}: the sourcemap of {}, outside the selected directory",
        tmp.path().join("site/assets").join(outside).display(),
        out_css.display()
    );
    let warnings = summary["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| w.as_str().unwrap().starts_with(&named)),
        "{named} in {summary}"
    );
    // 4 chunks' maps and 3 stylesheets' maps
    assert_eq!(summary["deleted"].as_array().unwrap().len(), 7, "{summary}");
}

/// `sourcemap inject|process --release-mode symbol-set` with the release app `version` over `dir`.
fn stamp(server: &TestServer, cwd: &Path, command: &str, dir: &Path, version: &str) {
    let out = symship_for(server, cwd)
        .args(["sourcemap", command, "--release-mode", "symbol-set"])
        .args(["--release-name", "app", "--release-version", version, "-d"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The release `server` holds as app `version`.
fn release_of(server: &TestServer, version: &str) -> Option<String> {
    server
        .releases()
        .into_iter()
        .find(|r| r.project == "app" && r.version == version)
        .map(|r| r.id.to_string())
}

/// ref -> the release the server binds it to.
fn bound(server: &TestServer) -> std::collections::BTreeMap<String, Option<String>> {
    server
        .symbol_sets()
        .into_iter()
        .map(|s| (s.ref_, s.release_id.map(|r| r.to_string())))
        .collect()
}

fn upload_as(server: &TestServer, cwd: &Path, dir: &Path, version: &str) -> (i32, serde_json::Value, String) {
    upload(
        server,
        cwd,
        dir,
        &["--release-name", "app", "--release-version", version],
    )
}

#[test]
fn a_new_set_follows_the_release_flags_not_its_maps_release_and_a_warning_names_the_map() {
    // fresh tester: injected with RP2A, a first upload with --release-version RP2B bound the sets
    // to RP2A (the maps' release) while the summary reported RP2B
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("webpack");
    copy_dir(&repo_root().join("fixtures/webpack/dist"), &dir);
    stamp(&server, tmp.path(), "inject", &dir, "RP2A");
    let rp2a = release_of(&server, "RP2A").expect("inject made RP2A");
    assert!(server.symbol_sets().is_empty());
    let (code, summary, stderr) = upload_as(&server, tmp.path(), &dir, "RP2B");
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    let rp2b = release_of(&server, "RP2B").expect("the flags' release is made");
    assert_eq!(summary["release_id"], rp2b.as_str(), "{summary:#}");
    assert!(summary.get("already_bound").is_none(), "{summary:#}");
    let sets = bound(&server);
    assert_eq!(sets.len(), 5, "{sets:?}");
    assert!(
        sets.values().all(|r| r.as_deref() == Some(rp2b.as_str())),
        "every new set is bound to the flags' release {rp2b}, not the maps' {rp2a}: {sets:?}"
    );
    // the maps are uploaded as they are on disk, and named in one warning
    assert!(
        stderr.contains("5 chunks whose map carries another release than the flags' app@RP2B")
            && stderr.contains(&format!("release {rp2a}"))
            && stderr.contains(".js.map"),
        "{stderr}"
    );
    let warnings = summary["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("another release")),
        "{summary:#}"
    );
    assert_server_holds_exactly(&server, &chunks(&summary), ReleaseMode::SymbolSet);
}

#[test]
fn sets_already_bound_to_the_maps_release_keep_it_and_the_summary_says_so() {
    // fresh tester: processed with RP2A, then uploaded with --release-version RP2B: symship made
    // and reported RP2B while every set stayed bound to RP2A, without a word
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("webpack");
    copy_dir(&repo_root().join("fixtures/webpack/dist"), &dir);
    stamp(&server, tmp.path(), "process", &dir, "RP2A");
    let rp2a = release_of(&server, "RP2A").unwrap();
    let first = bound(&server);
    assert_eq!(first.len(), 5);
    let (code, summary, stderr) = upload_as(&server, tmp.path(), &dir, "RP2B");
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    // no set can be bound to RP2B: it is not made, nor reported
    assert_eq!(release_of(&server, "RP2B"), None, "{:?}", server.releases());
    assert_eq!(summary["release_id"], serde_json::Value::Null, "{summary:#}");
    assert_eq!(bound(&server), first, "the sets keep RP2A");
    let already = summary["already_bound"].as_array().expect("already_bound");
    assert_eq!(already.len(), 5, "{summary:#}");
    for b in already {
        assert!(first.contains_key(b["ref"].as_str().unwrap()), "{b}");
        assert_eq!(b["release_id"], rp2a.as_str());
        assert_eq!(b["release"], "app RP2A");
    }
    assert_eq!(summary["skipped_already_present"], 5, "{summary:#}");
    assert!(!stderr.contains("release_id_mismatch"), "{stderr}");
    // no set was sent with another release than its own
    for r in requests(&server, "bulk_check_upload")
        .iter()
        .chain(requests(&server, "bulk_start_upload").iter())
    {
        let body = r.body.as_ref().unwrap();
        for s in body["symbol_sets"].as_array().unwrap() {
            assert!(
                s["release_id"].is_null() || s["release_id"] == rp2a.as_str(),
                "{s}"
            );
        }
    }
    let text = combined(
        &symship_for(&server, tmp.path())
            .args(["sourcemap", "upload", "--release-mode", "symbol-set"])
            .args(["--release-name", "app", "--release-version", "RP2B", "-d"])
            .arg(&dir)
            .output()
            .unwrap(),
    );
    assert!(
        text.contains(&format!("5 symbol sets already bound to app RP2A ({rp2a})")),
        "{text}"
    );
    assert!(text.contains("none made for this run"), "{text}");
}

#[test]
fn new_sets_take_the_flags_release_beside_sets_bound_to_another() {
    // a build processed with RP2A, then a chunk injected with RP2A but never uploaded beside it:
    // an upload with RP2B binds the new chunk to RP2B and leaves the stored ones on RP2A
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("build");
    copy_dir(&repo_root().join("fixtures/webpack/dist"), &dir.join("web"));
    stamp(&server, tmp.path(), "process", &dir.join("web"), "RP2A");
    let rp2a = release_of(&server, "RP2A").unwrap();
    let stored = bound(&server);
    assert_eq!(stored.len(), 5);
    copy_dir(&repo_root().join("fixtures/esbuild-esm/dist"), &dir.join("esm"));
    stamp(&server, tmp.path(), "inject", &dir.join("esm"), "RP2A");
    let (code, summary, stderr) = upload_as(&server, tmp.path(), &dir, "RP2B");
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    let rp2b = release_of(&server, "RP2B").expect("made for the new sets");
    assert_eq!(summary["release_id"], rp2b.as_str(), "{summary:#}");
    let now = bound(&server);
    assert!(now.len() > stored.len(), "{now:?}");
    for (r, release) in &now {
        let want = if stored.contains_key(r) { &rp2a } else { &rp2b };
        assert_eq!(release.as_deref(), Some(want.as_str()), "{r}: {now:?}");
    }
    let already = summary["already_bound"].as_array().expect("already_bound");
    assert_eq!(already.len(), 5, "{summary:#}");
    assert!(stderr.contains("esm"), "the new chunk's map is named: {stderr}");
    assert!(!stderr.contains("release_id_mismatch"), "{stderr}");
    assert!(!stderr.contains("without a release"), "{stderr}");
}

#[test]
fn a_set_the_server_binds_elsewhere_goes_without_the_release_and_the_new_ones_keep_it() {
    // fresh tester: injected with V1, part of the build uploaded with V2 (bound to V2), then the
    // whole build uploaded with V1 (the release its maps carry, so nothing is looked up first):
    // the server's release_id_mismatch for a V2 set made the run send every set without a
    // release, so the new sets were stored with none while the summary named V1
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("build");
    copy_dir(&repo_root().join("fixtures/webpack/dist"), &dir.join("web"));
    copy_dir(&repo_root().join("fixtures/esbuild-esm/dist"), &dir.join("esm"));
    stamp(&server, tmp.path(), "inject", &dir, "V1");
    let (code, _, stderr) = upload_as(&server, tmp.path(), &dir.join("web"), "V2");
    assert_eq!(code, 0, "{stderr}");
    let v2 = release_of(&server, "V2").unwrap();
    let on_v2 = bound(&server);
    assert_eq!(on_v2.len(), 5, "{on_v2:?}");
    assert!(
        on_v2.values().all(|r| r.as_deref() == Some(v2.as_str())),
        "{on_v2:?}"
    );
    let (code, summary, stderr) = upload_as(&server, tmp.path(), &dir, "V1");
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    let v1 = release_of(&server, "V1").unwrap();
    assert_eq!(summary["release_id"], v1.as_str(), "{summary:#}");
    let now = bound(&server);
    assert!(now.len() > on_v2.len(), "{now:?}");
    for (r, release) in &now {
        let want = if on_v2.contains_key(r) { &v2 } else { &v1 };
        assert_eq!(release.as_deref(), Some(want.as_str()), "{r}: {now:?}");
    }
    let already = summary["already_bound"].as_array().expect("already_bound");
    let listed: std::collections::BTreeSet<&str> =
        already.iter().map(|b| b["ref"].as_str().unwrap()).collect();
    assert_eq!(listed, on_v2.keys().map(String::as_str).collect(), "{summary:#}");
    assert!(already.iter().all(|b| b["release"] == "app V2"), "{summary:#}");
    assert!(
        !stderr.contains("remaining symbol sets without a release"),
        "{stderr}"
    );
}

/// `--skip-release-on-fail=false`: a set the server holds bound to another release fails with
/// `release_id_mismatch`, as asked, and the summary says where it is bound and what helps. A
/// build injected with V1, part of it uploaded with V2, then the whole with V3: the V2 sets fail
/// and are listed in `already_bound` (JSON, and the text's release rows), the verdict says to
/// pass `--skip-release-on-fail` or inject a fresh build, and the warning about maps carrying
/// another release than the flags' counts only the new sets, which are bound to V3 (a fresh
/// tester: `already_bound` was empty, the verdict said a re-run would send them, and the warning
/// said all nine sets were bound to V3).
#[test]
fn without_skip_release_on_fail_sets_bound_elsewhere_are_listed_with_what_helps() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("build");
    copy_dir(&repo_root().join("fixtures/webpack/dist"), &dir.join("web"));
    copy_dir(&repo_root().join("fixtures/esbuild-esm/dist"), &dir.join("esm"));
    stamp(&server, tmp.path(), "inject", &dir, "V1");
    let (code, _, stderr) = upload_as(&server, tmp.path(), &dir.join("web"), "V2");
    assert_eq!(code, 0, "{stderr}");
    let v2 = release_of(&server, "V2").unwrap();
    let on_v2 = bound(&server);
    assert_eq!(on_v2.len(), 5, "{on_v2:?}");
    let args = [
        "--release-name",
        "app",
        "--release-version",
        "V3",
        "--skip-release-on-fail=false",
    ];
    let (code, summary, stderr) = upload(&server, tmp.path(), &dir, &args);
    assert_eq!(code, 1, "{stderr}\n{summary:#}");
    let v3 = release_of(&server, "V3").expect("made for the new sets");
    // the stored sets keep V2; the new ones are bound to V3
    let now = bound(&server);
    assert_eq!(now.len(), 9, "{now:?}");
    for (r, release) in &now {
        let want = if on_v2.contains_key(r) { &v2 } else { &v3 };
        assert_eq!(release.as_deref(), Some(want.as_str()), "{r}: {now:?}");
    }
    let failed = summary["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 5, "{summary:#}");
    for f in failed {
        assert_eq!(f["code"], "release_id_mismatch", "{f}");
        assert!(on_v2.contains_key(f["chunk_id"].as_str().unwrap()), "{f}");
        let error = f["error"].as_str().unwrap();
        assert!(
            error.contains("pass --skip-release-on-fail") && error.contains("inject a fresh build"),
            "{error}"
        );
    }
    let already = summary["already_bound"].as_array().expect("already_bound");
    let listed: std::collections::BTreeSet<&str> =
        already.iter().map(|b| b["ref"].as_str().unwrap()).collect();
    assert_eq!(listed, on_v2.keys().map(String::as_str).collect(), "{summary:#}");
    assert!(
        already
            .iter()
            .all(|b| b["release"] == "app V2" && b["release_id"] == v2.as_str()),
        "{summary:#}"
    );
    // the warning names the 4 new sets only, bound to V3; none of the failed ones
    let warning = summary["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w.as_str())
        .find(|w| w.contains("another release than the flags'"))
        .unwrap_or_else(|| panic!("{summary:#}"))
        .to_owned();
    assert!(warning.starts_with("4 chunks whose map carries"), "{warning}");
    assert!(
        warning.contains("/esm/") && !warning.contains("/web/"),
        "{warning}"
    );

    // the text summary: the release rows and the verdict
    let out = symship_for(&server, tmp.path())
        .args(["sourcemap", "upload", "--release-mode", "symbol-set"])
        .args(args)
        .arg("-d")
        .arg(&dir)
        .output()
        .unwrap();
    let text = combined(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("5 symbol sets already bound to app V2 ({v2})")),
        "{text}"
    );
    let verdict = text
        .lines()
        .find(|l| l.starts_with("error: 5 chunk(s) did not land"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        verdict.contains("another release")
            && verdict.contains("pass --skip-release-on-fail")
            && verdict.contains("inject a fresh build")
            && !verdict.contains("re-run the same command"),
        "{verdict}"
    );
    assert!(server.violations().is_empty(), "{:?}", server.violations());
}

/// The queries of the `GET symbol_sets/` calls the server got after its first `before` requests.
fn list_queries(server: &TestServer, before: usize) -> Vec<String> {
    server
        .requests()
        .into_iter()
        .skip(before)
        .filter(|r| r.route == "list")
        .map(|r| r.query.unwrap_or_default())
        .collect()
}

/// The lookups of which release holds the sets whose maps carry another release list that
/// release's sets (a page of 100 a call) instead of asking for each ref (one call each, paced by
/// the default `--rate-limit` of 480 a minute: 600 chunks took a minute on every upload). A build
/// processed with V1 (150 sets stored under V1) plus 10 chunks injected with V1 and never
/// uploaded, uploaded with V2: the stored sets keep V1 and are listed in `already_bound`, the 10
/// new ones go to V2, and only those 10, which the list does not show, are looked up by ref.
#[test]
fn sets_of_the_maps_release_are_found_by_listing_that_release_not_one_lookup_each() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("build");
    small_pairs(&dir.join("stored"), 0, 150);
    stamp(&server, tmp.path(), "process", &dir.join("stored"), "V1");
    small_pairs(&dir.join("new"), 150, 10);
    stamp(&server, tmp.path(), "inject", &dir.join("new"), "V1");
    let v1 = release_of(&server, "V1").unwrap();
    let stored = bound(&server);
    assert_eq!(stored.len(), 150);
    let before = server.requests().len();
    let (code, summary, stderr) = upload_as(&server, tmp.path(), &dir, "V2");
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    let v2 = release_of(&server, "V2").expect("made for the new sets");
    let now = bound(&server);
    assert_eq!(now.len(), 160, "{now:?}");
    for (r, release) in &now {
        let want = if stored.contains_key(r) { &v1 } else { &v2 };
        assert_eq!(release.as_deref(), Some(want.as_str()), "{r}");
    }
    let already = summary["already_bound"].as_array().expect("already_bound");
    assert_eq!(already.len(), 150, "{summary:#}");
    assert!(already.iter().all(|b| b["release"] == "app V1"), "{summary:#}");
    let lists = list_queries(&server, before);
    let by_ref = lists.iter().filter(|q| q.contains("ref=")).count();
    let listed = lists.iter().filter(|q| q.contains("search=V1")).count();
    assert_eq!(by_ref, 10, "only the never-uploaded chunks are looked up by ref");
    assert_eq!(listed, 2, "two pages of V1's 150 sets");
    assert!(!stderr.contains("release_id_mismatch"), "{stderr}");
}

/// A version that could be part of any chunk id (`1`: hexadecimal digits only) would list nearly
/// every set of the project (a fresh tester: 3,000 other sets, the list given up after 9 pages
/// and 600 lookups by ref, as slow as before): the release's sets are searched by its project
/// instead, and the sets of another project with the same version are not taken for them.
#[test]
fn a_release_whose_version_any_chunk_id_could_hold_is_searched_by_its_project() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("build");
    small_pairs(&dir.join("stored"), 0, 120);
    stamp(&server, tmp.path(), "process", &dir.join("stored"), "1");
    // another project's sets under the same version, stored after (listed first, newest first)
    let other = tmp.path().join("other");
    small_pairs(&other, 1000, 150);
    let out = symship_for(&server, tmp.path())
        .args(["sourcemap", "process", "--release-mode", "symbol-set"])
        .args(["--release-name", "zzz", "--release-version", "1", "-d"])
        .arg(&other)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v1 = release_of(&server, "1").unwrap();
    let before = server.requests().len();
    let (code, summary, stderr) = upload_as(&server, tmp.path(), &dir, "2");
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    let already = summary["already_bound"].as_array().expect("already_bound");
    assert_eq!(already.len(), 120, "{summary:#}");
    assert!(already
        .iter()
        .all(|b| b["release_id"] == v1.as_str() && b["release"] == "app 1"));
    let lists = list_queries(&server, before);
    assert!(lists.iter().all(|q| q.contains("search=app")), "{lists:?}");
    assert_eq!(lists.len(), 2, "two pages of app's 120 sets");
}

/// A key that cannot list symbol sets (403 on `GET symbol_sets/`): the run says the lookups
/// failed, and its warning about maps that carry another release does not count the sets the
/// upload found bound elsewhere as bound to the flags' release (a fresh tester: no word of the
/// failure, and "12 chunks ... their symbol sets are bound to the flags' release" while 9 kept A).
#[test]
fn when_the_lookups_fail_the_run_says_so_and_its_warnings_agree() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("build");
    small_pairs(&dir.join("stored"), 0, 9);
    stamp(&server, tmp.path(), "process", &dir.join("stored"), "A");
    small_pairs(&dir.join("new"), 9, 3);
    stamp(&server, tmp.path(), "inject", &dir.join("new"), "A");
    let a = release_of(&server, "A").unwrap();
    server.set_faults(vec![FaultRule::new("list", FaultKind::Status { status: 403 })]);
    let (code, summary, stderr) = upload_as(&server, tmp.path(), &dir, "B");
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    let b = release_of(&server, "B").expect("made for the new sets");
    let sets = bound(&server);
    assert_eq!(sets.len(), 12, "{sets:?}");
    let on = |r: &str| sets.values().filter(|s| s.as_deref() == Some(r)).count();
    assert_eq!(
        (on(&a), on(&b)),
        (9, 3),
        "the stored sets keep A, the new go to B: {sets:?}"
    );
    let warnings: Vec<&str> = summary["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("could not look up which release")),
        "{warnings:#?}"
    );
    assert!(stderr.contains("could not look up which release"), "{stderr}");
    let moved = warnings
        .iter()
        .find(|w| w.contains("whose map carries another release"))
        .expect("the new chunks' maps carry A");
    assert!(moved.starts_with("3 chunks"), "only the 3 new ones: {moved}");
}

/// A build injected under A, uploaded under B (its sets are B's, its maps still carry A), then
/// under C: A's list does not show the sets, and they are looked up by ref, so C is not made and
/// no set is sent with it (a fresh tester: taking the refs A's list did not show for new ones
/// made C, reported it as the run's release, and cost a 400 check per set).
#[test]
fn sets_the_maps_release_does_not_list_are_looked_up_before_a_release_is_made() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("build");
    small_pairs(&dir, 0, 10);
    stamp(&server, tmp.path(), "inject", &dir, "vA");
    let (code, _, stderr) = upload_as(&server, tmp.path(), &dir, "vB");
    assert_eq!(code, 0, "{stderr}");
    let b = release_of(&server, "vB").unwrap();
    let before = server.requests().len();
    let (code, summary, stderr) = upload_as(&server, tmp.path(), &dir, "vC");
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    assert_eq!(release_of(&server, "vC"), None, "{:?}", server.releases());
    assert_eq!(summary["release_id"], serde_json::Value::Null, "{summary:#}");
    let already = summary["already_bound"].as_array().expect("already_bound");
    assert_eq!(already.len(), 10, "{summary:#}");
    assert!(
        already.iter().all(|r| r["release_id"] == b.as_str()),
        "{summary:#}"
    );
    let refused = server
        .requests()
        .into_iter()
        .skip(before)
        .filter(|r| r.status == 400)
        .count();
    assert_eq!(refused, 0, "no call was refused");
}

/// The warning about maps that carry another release counts only chunks whose sets landed under
/// the flags' release: with every start refused, none did (a fresh tester: "5 chunks ... their
/// symbol sets are bound to the flags' release" with nothing stored).
#[test]
fn the_maps_warning_counts_no_chunk_that_did_not_land() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("build");
    small_pairs(&dir, 0, 5);
    stamp(&server, tmp.path(), "inject", &dir, "vA");
    server.set_faults(vec![FaultRule::new(
        "bulk_start_upload",
        FaultKind::Status { status: 500 },
    )]);
    let (code, summary, stderr) = upload_as(&server, tmp.path(), &dir, "vC");
    assert_eq!(code, 1, "{stderr}\n{summary:#}");
    assert!(server.symbol_sets().iter().all(|s| s.content_hash.is_none()));
    let warnings = summary["warnings"].as_array().unwrap();
    assert!(
        !warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("whose map carries another release")),
        "{summary:#}"
    );
}

/// Nor does it count the chunks whose ids the server holds with other content and kept
/// (`--skip-on-conflict`: `kept_different`, not bound to the flags' release): half a build sent
/// in event mode first, then the whole build with release flags.
#[test]
fn the_maps_warning_counts_no_chunk_the_server_kept_as_other_content() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("build");
    small_pairs(&dir.join("early"), 0, 5);
    small_pairs(&dir.join("late"), 5, 5);
    stamp(&server, tmp.path(), "inject", &dir, "vA");
    let out = symship_for(&server, tmp.path())
        .args(["sourcemap", "upload", "-d"])
        .arg(dir.join("early"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (code, summary, stderr) = upload(
        &server,
        tmp.path(),
        &dir,
        &[
            "--release-name",
            "app",
            "--release-version",
            "vC",
            "--skip-on-conflict",
        ],
    );
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    assert_eq!(summary["skipped_kept_different"], 5, "{summary:#}");
    let moved = summary["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w.as_str())
        .find(|w| w.contains("whose map carries another release"))
        .expect("the late chunks' maps carry vA")
        .to_owned();
    assert!(moved.starts_with("5 chunks"), "only the 5 late ones: {moved}");
}
