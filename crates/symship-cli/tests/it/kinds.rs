//! Hermes and ProGuard/R8 (issue 16), with the real `symship` binary against the test server, on
//! the real fixtures (`fixtures/hermes`, `fixtures/proguard`): the argv PostHog's Gradle tasks pass
//! to posthog-cli runs unchanged; each set is stored, finished, of its kind's container type, its
//! payload equal to what posthog-cli 0.19.0 sent (the recorded references), and `symbol-sets
//! download` gives it back byte for byte; a failed finish of one set exits 1 naming it, and a
//! re-run sends only it.

use std::path::{Path, PathBuf};

use serde_json::Value;
use symship_test_support::*;
use symship_testserver::{Config, FaultKind, FaultRule, TestServer};
use symship_upload::container::{self, Payload};

fn fixtures() -> PathBuf {
    repo_root().join("fixtures")
}

/// The one stored set with this ref: finished, no failure, its container of `kind`; its payload.
fn stored(server: &TestServer, reference: &str, kind: symship_upload::Kind) -> Payload {
    let set = server
        .symbol_sets()
        .into_iter()
        .find(|s| s.ref_ == reference)
        .unwrap_or_else(|| panic!("no set {reference}: {:?}", server.symbol_sets()));
    assert!(set.failure_reason.is_none(), "{set:?}");
    let hash = set
        .content_hash
        .as_deref()
        .unwrap_or_else(|| panic!("not finished: {set:?}"));
    let object = server.object_bytes(set.storage_ptr.as_deref().unwrap()).unwrap();
    assert_eq!(
        hash,
        container::content_hash(&object),
        "content_hash is the SHA-512 of the object"
    );
    let payload = container::read_any(&object).unwrap();
    assert_eq!(payload.kind(), kind);
    assert!(server.violations().is_empty(), "{:?}", server.violations());
    payload
}

fn text(p: &Payload) -> &str {
    match p {
        Payload::HermesMap(t) | Payload::ProguardMapping(t) => t,
        other => panic!("{other:?}"),
    }
}

/// `hermes clone -m PACKAGER -c COMPOSED` in `cwd` (event mode: the chunk id copied), exit 0.
fn hermes_clone(server: &TestServer, cwd: &Path, packager: &Path, composed: &Path) {
    ok(
        symship_for(server, cwd)
            .args(["hermes", "clone", "-m"])
            .arg(packager)
            .arg("-c")
            .arg(composed),
        0,
    );
}

/// `symbol-sets download --ref` writes `name` in a fresh directory; its bytes.
fn downloaded(server: &TestServer, cwd: &Path, reference: &str, name: &str) -> String {
    let out = cwd.join("download");
    ok(
        symship_for(server, cwd)
            .args(["symbol-sets", "download", "--ref", reference, "-o"])
            .arg(&out),
        0,
    );
    std::fs::read_to_string(out.join(name)).unwrap()
}

#[test]
fn hermes_gradle_argv_clone_and_upload_equal_posthog_cli() {
    for (mode, golden_dir) in [("event", "gradle-event"), ("symbol-set", "gradle-symbol-set")] {
        let server = server();
        let (tmp, packager, composed) = android_build();
        let composed_dir = composed.parent().unwrap().to_path_buf();
        // posthog-react-native 4.78.0's posthog.gradle: absolute paths, release flags, and
        // --release-mode only in event mode (symbol-set mode comes from the environment).
        let mut clone: Vec<String> = vec![
            "hermes".into(),
            "clone".into(),
            "--minified-map-path".into(),
            packager.display().to_string(),
            "--composed-map-path".into(),
            composed.display().to_string(),
        ];
        let mut upload: Vec<String> = vec![
            "hermes".into(),
            "upload".into(),
            "--directory".into(),
            composed_dir.display().to_string(),
        ];
        for a in [&mut clone, &mut upload] {
            a.extend(RELEASE.iter().map(|s| s.to_string()));
            if mode == "event" {
                a.extend(["--release-mode".into(), "event".into()]);
            }
        }
        let cwd = tmp.path().join("android");
        for argv in [&clone, &upload] {
            ok(
                symship_for(&server, &cwd)
                    .env("POSTHOG_RELEASE_MODE", mode)
                    .args(argv),
                0,
            );
        }
        let payload = stored(&server, HERMES_CHUNK_ID, symship_upload::Kind::HermesMap);
        let set = server.symbol_sets().pop().unwrap();
        let release = server.releases();
        assert_eq!(
            release.len(),
            1,
            "the release is created in both modes, as posthog-cli does"
        );
        let golden = std::fs::read_to_string(fixtures().join(format!(
            "hermes/posthog-cli-0.19.0/{golden_dir}/payloads/{HERMES_CHUNK_ID}.json"
        )))
        .unwrap();
        let golden = match mode {
            "event" => {
                assert_eq!(set.release_id, None, "event mode sends no release");
                golden
            }
            _ => {
                let id = set.release_id.expect("symbol-set mode binds the release");
                assert_eq!(id, release[0].id);
                golden.replace("<release-1>", &id.to_string())
            }
        };
        assert_eq!(text(&payload), golden, "{mode}: the payload is posthog-cli's");
        assert_eq!(
            downloaded(
                &server,
                tmp.path(),
                HERMES_CHUNK_ID,
                &format!("{HERMES_CHUNK_ID}.hbc.map")
            ),
            golden
        );
    }
}

#[test]
fn hermes_upload_refuses_the_packager_map_and_names_it() {
    let server = server();
    let (tmp, packager, composed) = android_build();
    hermes_clone(&server, tmp.path(), &packager, &composed);
    // the packager map (chunkId, no x_hermes_function_offsets) beside the composed map
    std::fs::copy(
        &packager,
        composed.with_file_name("index.android.bundle.packager.map"),
    )
    .unwrap();
    let (code, summary, stderr) = run_json(
        symship_for(&server, tmp.path())
            .args(["hermes", "upload", "-d"])
            .arg(composed.parent().unwrap()),
    );
    assert_eq!(code, 1, "{stderr}");
    let failed = summary["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{summary}");
    assert_eq!(failed[0]["code"], "not_hermes_map");
    assert!(
        failed[0]["file"].as_str().unwrap().ends_with("packager.map"),
        "{summary}"
    );
    assert!(failed[0]["error"]
        .as_str()
        .unwrap()
        .contains("x_hermes_function_offsets"));
    // a re-run fails the same way: the verdict does not advise one (a fresh user's finding 8)
    let verdict = summary["verdict"].as_str().unwrap();
    assert!(!verdict.contains("re-run the same command"), "{verdict}");
    assert!(verdict.contains("fails the same way"), "{verdict}");
    assert!(verdict.contains("not_hermes_map"), "{verdict}");
}

#[test]
fn hermes_clone_of_a_packager_map_without_a_chunk_id_creates_no_release() {
    // Metro without posthog-react-native's serializer writes no chunk id: the composed map can
    // never be uploaded, so symbol-set mode's release is not created for it (it was, then
    // stamped into both maps), and the packager map is left as it is.
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    let plain = fixtures().join("hermes/plain");
    let (packager, composed) = (tmp.path().join("packager.map"), tmp.path().join("composed.map"));
    std::fs::copy(plain.join("index.android.bundle.packager.map"), &packager).unwrap();
    std::fs::copy(plain.join("index.android.bundle.map"), &composed).unwrap();
    let before = std::fs::read(&packager).unwrap();
    let r = run(symship_for(&server, tmp.path())
        .args(["hermes", "clone", "--release-mode", "symbol-set", "-m"])
        .arg(&packager)
        .arg("-c")
        .arg(&composed)
        .args(RELEASE));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("has no chunk id"), "{}", r.stderr);
    assert!(r.stderr.contains("the release was not created"), "{}", r.stderr);
    assert!(server.releases().is_empty(), "{:?}", server.releases());
    assert!(server.requests().is_empty(), "{:?}", server.requests());
    assert_eq!(
        std::fs::read(&packager).unwrap(),
        before,
        "the packager map is left as it was"
    );
    let composed: Value = serde_json::from_slice(&std::fs::read(&composed).unwrap()).unwrap();
    assert!(
        composed.get("release_id").is_none_or(Value::is_null),
        "{composed}"
    );
}

/// No map with a chunk id: nothing to process, exit 3 under symship's name (the README's table;
/// a fresh tester's D10: it was posthog-cli's 1), and exit 1 under the name posthog-cli, as
/// posthog-cli 0.19.0. Nothing is sent under either.
#[test]
fn hermes_upload_without_any_chunk_id_finds_nothing_to_process() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixtures().join("hermes/plain/index.android.bundle.map"),
        tmp.path().join("index.android.bundle.map"),
    )
    .unwrap();
    let r = run(symship_for(&server, tmp.path()).args(["hermes", "upload", "--directory", "."]));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("No hermes sourcemaps with a chunk id found"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("(exit code 3)"), "{}", r.stderr);
    let (code, summary, stderr) =
        run_json(symship_for(&server, tmp.path()).args(["hermes", "upload", "--directory", "."]));
    assert_eq!(code, 3, "{stderr}");
    assert_eq!(summary["exit_code"], 3, "{summary}");
    let r = run(on_program(
        &symship_for(&server, tmp.path()),
        symship_as_posthog_cli(tmp.path()),
    )
    .args(["hermes", "upload", "--directory", "."]));
    assert_eq!(r.code, 1, "as posthog-cli 0.19.0: {}", r.stderr);
    assert!(
        r.stderr.contains("No hermes sourcemaps with a chunk id found"),
        "{}",
        r.stderr
    );
    assert!(server.symbol_sets().is_empty());
    assert!(
        server.requests().iter().all(|q| !q.route.starts_with("bulk_")),
        "nothing sent"
    );
    // half a release is a usage error (2) before anything is looked at, also here (a fresh
    // tester: 3, nothing found)
    let r = run(symship_for(&server, tmp.path()).args([
        "hermes",
        "upload",
        "--directory",
        ".",
        "--release-name",
        "app",
    ]));
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn hermes_upload_creates_the_release_only_once_a_map_can_take_it() {
    // The Gradle step's `hermes upload` with its release flags on a directory where no map can be
    // sent: the composed map before `hermes clone` (no chunk id), or Metro's packager map alone (a
    // chunk id, no x_hermes_function_offsets). symship created the release first, then failed
    // (exit 1) with nothing sent; now it creates none. With the cloned composed map it does.
    let server = server();
    let (tmp, packager, composed) = android_build();
    let only = |name: &str, from: &Path| {
        let d = tmp.path().join(name);
        std::fs::create_dir(&d).unwrap();
        std::fs::copy(from, d.join("index.android.bundle.map")).unwrap();
        d
    };
    let uncloned = only("uncloned", &composed);
    let packager_only = only("packager-only", &packager);
    // no map with a chunk id: nothing to process (3); Metro's packager map: a map that fails (1)
    for (dir, expected) in [(&uncloned, 3), (&packager_only, 1)] {
        let (code, summary, stderr) = run_json(
            symship_for(&server, tmp.path())
                .args(["hermes", "upload", "--directory"])
                .arg(dir)
                .args(RELEASE),
        );
        assert_eq!(code, expected, "{}: {stderr}\n{summary}", dir.display());
        assert!(
            server.releases().is_empty(),
            "{}: no release created: {:?}",
            dir.display(),
            server.releases()
        );
    }
    assert!(server.symbol_sets().is_empty());
    assert!(
        server.requests().iter().all(|r| r.method == "GET"),
        "{:?}",
        server.requests()
    );
    hermes_clone(&server, tmp.path(), &packager, &composed);
    ok(
        symship_for(&server, tmp.path())
            .args(["hermes", "upload", "--directory"])
            .arg(composed.parent().unwrap())
            .args(RELEASE),
        0,
    );
    assert_eq!(server.releases().len(), 1, "{:?}", server.releases());
    stored(&server, HERMES_CHUNK_ID, symship_upload::Kind::HermesMap);
}

#[test]
fn two_hermes_maps_with_one_chunk_id_and_different_content_fail_naming_both() {
    // Two builds' composed maps that carry one chunk id: PostHog holds one set per chunk id, so
    // sending one of them would quietly lose the other (symship marked the second a duplicate and
    // exited 0; posthog-cli 0.19.0 sends both and exits 1 on the server's invalid_chunk_ids).
    // Copies with the same content stay duplicates of one set.
    let server = server();
    let (tmp, packager, composed) = android_build();
    hermes_clone(&server, tmp.path(), &packager, &composed);
    let cloned = std::fs::read_to_string(&composed).unwrap();
    let mut other: Value = serde_json::from_str(&cloned).unwrap();
    other["names"].as_array_mut().unwrap().push("anotherBuild".into());
    let maps = tmp.path().join("maps");
    for (dir, text) in [
        ("a", cloned.clone()),
        ("b", cloned.clone()),
        ("c", other.to_string()),
    ] {
        std::fs::create_dir_all(maps.join(dir)).unwrap();
        std::fs::write(maps.join(dir).join("index.android.bundle.map"), text).unwrap();
    }
    let (code, summary, stderr) = run_json(
        symship_for(&server, tmp.path())
            .args(["hermes", "upload", "--directory"])
            .arg(&maps),
    );
    assert_eq!(code, 1, "{stderr}\n{summary}");
    let chunks = summary["chunks"].as_array().unwrap();
    let status = |dir: &str| {
        chunks
            .iter()
            .find(|c| {
                c["file"]
                    .as_str()
                    .is_some_and(|s| s.contains(&format!("/{dir}/")))
            })
            .unwrap_or_else(|| panic!("{dir}: {summary}"))["outcome"]
            .clone()
    };
    assert_eq!(status("a"), "uploaded", "{summary}");
    assert_eq!(status("b"), "duplicate", "{summary}");
    assert_eq!(status("c"), "conflicting_ref", "{summary}");
    assert!(stderr.contains("whose content differs"), "{stderr}");
    // a re-run cannot fix it, and the verdict says so (a fresh tester's finding)
    let verdict = summary["verdict"].as_str().unwrap();
    assert!(
        verdict.contains("fails the same way") && verdict.contains("conflicting_ref"),
        "{verdict}"
    );
    assert!(stderr.contains("/c/index.android.bundle.map"), "{stderr}");
    let sets = server.symbol_sets();
    assert_eq!(sets.len(), 1, "{sets:?}");
    assert_eq!(
        text(&stored(&server, HERMES_CHUNK_ID, symship_upload::Kind::HermesMap)),
        cloned
    );
}

#[test]
fn proguard_gradle_argv_uploads_proguard_and_r8_mappings() {
    for (file, map_id, golden_dir) in [
        ("proguard-6.2.2/mapping.txt", PROGUARD_MAP_ID, "gradle-event"),
        ("r8-derived/mapping.txt", R8_MAP_ID, "r8-gradle-event"),
    ] {
        let server = server();
        let tmp = tempfile::tempdir().unwrap();
        let mapping = tmp.path().join("app/build/outputs/mapping/release/mapping.txt");
        std::fs::create_dir_all(mapping.parent().unwrap()).unwrap();
        std::fs::copy(fixtures().join("proguard").join(file), &mapping).unwrap();
        // posthog-android's PostHogUploadProguardMappingsTask argv
        let mut argv: Vec<String> = vec![
            "exp".into(),
            "proguard".into(),
            "upload".into(),
            "--path".into(),
            mapping.display().to_string(),
            "--map-id".into(),
            map_id.into(),
        ];
        argv.extend(RELEASE.iter().map(|s| s.to_string()));
        argv.extend(["--release-mode".into(), "event".into()]);
        let r = ok(
            symship_for(&server, tmp.path())
                .env("POSTHOG_RELEASE_MODE", "event")
                .args(&argv),
            0,
        );
        assert!(r.stderr.contains("--release-mode is deprecated"), "{}", r.stderr);
        let payload = stored(&server, map_id, symship_upload::Kind::ProguardMapping);
        let golden = std::fs::read_to_string(fixtures().join(format!(
            "proguard/posthog-cli-0.19.0/{golden_dir}/payloads/{map_id}.txt"
        )))
        .unwrap();
        assert_eq!(text(&payload), golden, "{file}: the payload is posthog-cli's");
        let set = server.symbol_sets().pop().unwrap();
        assert_eq!(
            set.release_id,
            Some(server.releases()[0].id),
            "bound to the build's release"
        );
        assert_eq!(
            downloaded(&server, tmp.path(), map_id, &format!("{map_id}.txt")),
            golden
        );
    }
}

#[test]
fn proguard_refuses_what_is_not_a_mapping() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("mapping.txt"), "not a mapping\n").unwrap();
    let r = run(symship_for(&server, tmp.path()).args([
        "proguard",
        "upload",
        "--path",
        "mapping.txt",
        "--map-id",
        "x",
    ]));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("is not a valid ProGuard mapping file"),
        "{}",
        r.stderr
    );
    assert!(
        server.requests().iter().all(|q| !q.route.starts_with("bulk_")),
        "nothing sent"
    );
}

/// A fresh user's finding 1 (session 9): `hermes upload` with no map to send said "files were
/// skipped and --strict is set" (not given) before its own error; a blank map id advised
/// --allow-empty, which `proguard upload` does not accept.
#[test]
fn hermes_and_proguard_verdicts_name_the_problem_once() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let r = run(symship_for(&server, tmp.path())
        .args(["hermes", "upload", "-d"])
        .arg(&empty));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("No hermes sourcemaps with a chunk id found under"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("--strict"), "{}", r.stderr);
    assert_eq!(r.stderr.matches("error:").count(), 1, "{}", r.stderr);
    std::fs::copy(
        fixtures().join("proguard/proguard-6.2.2/mapping.txt"),
        tmp.path().join("mapping.txt"),
    )
    .unwrap();
    let r = run(symship_for(&server, tmp.path()).args([
        "proguard",
        "upload",
        "--path",
        "mapping.txt",
        "--map-id",
        "",
    ]));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(!r.stderr.contains("--allow-empty"), "{}", r.stderr);
    assert!(
        server.requests().iter().all(|q| !q.route.starts_with("bulk_")),
        "nothing sent"
    );
    // A file that is no mapping (here: empty) is said to be so, and the JSON document of the
    // run that stopped names its code (a fresh tester's D13: no code anywhere).
    std::fs::write(tmp.path().join("empty.txt"), "").unwrap();
    let r = run(symship_for(&server, tmp.path()).args([
        "--output",
        "json",
        "proguard",
        "upload",
        "--path",
        "empty.txt",
        "--map-id",
        "6322fcf1-2071-3e2c-be64-68917a9cfecf",
    ]));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("empty.txt is empty"), "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["code"], "invalid_mapping", "{doc:#}");
    assert_eq!(doc["exit_code"], 1, "{doc:#}");
    assert!(
        server.requests().iter().all(|q| !q.route.starts_with("bulk_")),
        "nothing sent"
    );
}

/// Finding 8: a key that may not upload fails every set the same way on a re-run; the verdict
/// says so instead of advising one.
#[test]
fn a_read_only_key_is_not_told_to_rerun() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixtures().join("proguard/proguard-6.2.2/mapping.txt"),
        tmp.path().join("mapping.txt"),
    )
    .unwrap();
    let ro = server.read_only_key();
    let (code, summary, stderr) = run_json(
        symship_for(&server, tmp.path())
            .env("POSTHOG_CLI_API_KEY", &ro)
            .args(["proguard", "upload", "--path", "mapping.txt", "--map-id", "x"]),
    );
    assert_eq!(code, 1, "{stderr}\n{summary:#}");
    assert_eq!(summary["failed"][0]["code"], "permission_denied", "{summary:#}");
    let verdict = summary["verdict"].as_str().unwrap();
    assert!(!verdict.contains("re-run the same command"), "{verdict}");
    assert!(
        verdict.contains("fails the same way (permission_denied)"),
        "{verdict}"
    );
    assert!(!stderr.contains(&ro));
    assert!(server.symbol_sets().is_empty());
}

/// Finding 2: a missing `-d` of `hermes upload` or `--path` of `proguard upload` exited 1; the
/// README's exit codes (and the other commands) make it a usage error, 2.
#[test]
fn hermes_and_proguard_missing_inputs_are_usage_errors() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    let r = run(symship_for(&server, tmp.path()).args(["hermes", "upload", "-d", "/nonexistent-dir"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("/nonexistent-dir"), "{}", r.stderr);
    let r = run(symship_for(&server, tmp.path()).args([
        "proguard",
        "upload",
        "--path",
        "/nonexistent-mapping.txt",
        "--map-id",
        "x",
    ]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("/nonexistent-mapping.txt"), "{}", r.stderr);
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}

/// Finding 4: a mapping saved as Latin-1 was refused with a sentence that stopped ("... a ProGuard
/// or R8 mapping (mapping.txt) is"); it now says what to pass. s11 tester D20: a gzip file or an
/// ELF was told it might be "a copy an editor re-encoded": each is named for what it is (the
/// compressed one with how to decompress it), and a mapping is said to be plain UTF-8 text.
#[test]
fn a_mapping_that_is_not_utf8_is_refused_saying_what_it_is_and_what_to_pass() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    let mapping = fixtures().join("proguard/proguard-6.2.2/mapping.txt");
    let mut latin1 = std::fs::read(&mapping).unwrap();
    let at = latin1.len() + "com.example.Caf".len();
    latin1.extend(b"com.example.Caf\xe9 -> com.example.b:\n    int x -> a\n");
    std::fs::write(tmp.path().join("latin1.txt"), latin1).unwrap();
    // gzip's own output
    let gz = std::process::Command::new("gzip")
        .arg("-c")
        .arg(&mapping)
        .output()
        .expect("gzip runs");
    assert!(gz.status.success());
    std::fs::write(tmp.path().join("mapping.txt.gz"), gz.stdout).unwrap();
    let cases = [
        (
            "latin1.txt".to_string(),
            format!("is text with a byte that is not UTF-8 at byte {at} (saved in another encoding"),
        ),
        (
            "mapping.txt.gz".into(),
            "is a gzip-compressed file, but a ProGuard or R8 mapping".into(),
        ),
        (
            native_fixture("elf/hello").display().to_string(),
            "is an ELF file (an executable, library or debug file), but a ProGuard".into(),
        ),
        (
            native_fixture("macho/thin-arm64").display().to_string(),
            "is a Mach-O file".into(),
        ),
    ];
    for (path, what) in cases {
        let r =
            run(symship_for(&server, tmp.path())
                .args(["proguard", "upload", "--path", &path, "--map-id", "x"]));
        assert_eq!(r.code, 1, "{path}: {}", r.stderr);
        assert!(r.stderr.contains(&what), "{path}: {}", r.stderr);
        assert!(
            r.stderr
                .contains("mapping is plain UTF-8 text: pass the mapping.txt"),
            "{path}: {}",
            r.stderr
        );
        assert!(
            !r.stderr.contains("editor") || path == "latin1.txt",
            "{path}: {}",
            r.stderr
        );
        assert_eq!(
            r.stderr.contains("iconv"),
            path == "latin1.txt",
            "{path}: {}",
            r.stderr
        );
        assert_eq!(
            r.stderr.contains("decompress it"),
            path.ends_with(".gz"),
            "{path}: {}",
            r.stderr
        );
    }
    assert!(
        server.requests().iter().all(|q| !q.route.starts_with("bulk_")),
        "nothing sent"
    );
}

/// `bulk_finish_upload` refused once (400: not retried): that set fails, exit 1, named; the
/// re-run sends it and only it.
fn finish_fails_once() -> Config {
    Config {
        faults: vec![FaultRule::new("bulk_finish_upload", FaultKind::Status { status: 400 }).first_n(1)],
        ..Default::default()
    }
}

fn transfers(server: &TestServer) -> usize {
    server.requests().iter().filter(|r| is_transfer(r)).count()
}

#[test]
fn a_failed_finish_of_one_hermes_set_exits_1_and_the_rerun_sends_only_it() {
    let server = start(finish_fails_once());
    let (tmp, packager, composed) = android_build();
    hermes_clone(&server, tmp.path(), &packager, &composed);
    // a second composed map under another chunk id
    let mut other: Value = serde_json::from_slice(&std::fs::read(&composed).unwrap()).unwrap();
    other["chunk_id"] = Value::String("0192d8a0-0000-7000-8000-00000000abcd".into());
    std::fs::write(
        composed.with_file_name("other.map"),
        serde_json::to_vec(&other).unwrap(),
    )
    .unwrap();
    let dir = composed.parent().unwrap().to_path_buf();
    let upload = |server: &TestServer| {
        run_json(
            symship_for(server, tmp.path())
                .args(["hermes", "upload", "--batch-size", "1", "-d"])
                .arg(&dir),
        )
    };
    let (code, summary, stderr) = upload(&server);
    assert_eq!(code, 1, "{stderr}");
    let failed = summary["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{summary}");
    let failed_id = failed[0]["chunk_id"].as_str().unwrap().to_owned();
    assert!(
        failed[0]["code"].as_str().unwrap().starts_with("finish_failed"),
        "{summary}"
    );
    assert_eq!(summary["uploaded"], 1);
    let before = transfers(&server);
    let (code, summary, stderr) = upload(&server);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(transfers(&server) - before, 1, "the re-run sends one set");
    let outcomes: Vec<(String, String)> = string_pairs(&summary["chunks"], "ref", "outcome");
    assert!(
        outcomes.contains(&(failed_id.clone(), "uploaded".into())),
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|(_, o)| o == "uploaded").count(),
        1,
        "{outcomes:?}"
    );
    for c in summary["chunks"].as_array().unwrap() {
        assert_eq!(c["kind"], "hermes_map");
    }
    stored(&server, &failed_id, symship_upload::Kind::HermesMap);
}

#[test]
fn a_failed_finish_of_a_proguard_set_exits_1_and_the_rerun_sends_it() {
    // refused twice: the JSON run and the text run fail, the third run lands it
    let server = start(Config {
        faults: vec![FaultRule::new("bulk_finish_upload", FaultKind::Status { status: 400 }).first_n(2)],
        ..Default::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixtures().join("proguard/proguard-6.2.2/mapping.txt"),
        tmp.path().join("mapping.txt"),
    )
    .unwrap();
    let argv = ["proguard", "upload", "-p", "mapping.txt", "-m", PROGUARD_MAP_ID];
    let upload = || run_json(symship_for(&server, tmp.path()).args(argv));
    let (code, summary, stderr) = upload();
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(summary["failed"][0]["chunk_id"], PROGUARD_MAP_ID, "{summary}");
    assert_eq!(summary["chunks"][0]["kind"], "proguard_mapping");
    // the text report names the set by its map id, and speaks of symbol sets, not chunks
    let r = run(symship_for(&server, tmp.path()).args(argv));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("mapping.txt (map id {PROGUARD_MAP_ID}): ")),
        "{}",
        r.stderr
    );
    let report = &r.stderr[r.stderr.find("symship proguard upload").unwrap()..];
    assert!(!report.contains("chunk"), "{report}");
    let before = transfers(&server);
    let (code, summary, stderr) = upload();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["uploaded"], 1, "{summary}");
    assert_eq!(transfers(&server) - before, 1);
    stored(&server, PROGUARD_MAP_ID, symship_upload::Kind::ProguardMapping);
}

/// An R8 mapping of at least `mib` MiB whose class and method names are xorshift letters (64 of
/// them: zstd keeps about two thirds of it), laid out as the R8 output the s9 tester uploaded.
fn write_incompressible_mapping(path: &Path, mib: usize) {
    use std::io::Write;
    const ALPHABET: &[u8; 64] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$";
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut name = |n: usize| -> String {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ALPHABET[(x & 63) as usize] as char
            })
            .collect()
    };
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    f.write_all(b"# compiler: R8\n").unwrap();
    let (mut written, mut i) = (0usize, 0usize);
    while written < mib << 20 {
        let entry = format!(
            "c{}.C{i} -> a{i}:\n    1:1:void m{}() -> a\n",
            name(120),
            name(120)
        );
        f.write_all(entry.as_bytes()).unwrap();
        written += entry.len();
        i += 1;
    }
    f.flush().unwrap();
}

#[test]
fn a_mapping_over_the_limit_is_named_by_its_map_id_and_exits_3() {
    // 170 MiB of mapping, about 113 MiB compressed: over PostHog's 100 MiB. Its map id was lost
    // ("huge.txt (chunk -)", JSON ref "") and the run exited 0 with nothing sent (s9 tester,
    // finding 5); posthog-cli 0.19.0 names the map id ("Skipping symbol set with id: ..., file
    // too large"). README: too_large is a skip, and a run where every set was skipped exits 3.
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    write_incompressible_mapping(&tmp.path().join("mapping.txt"), 170);
    let upload = || {
        let mut c = symship_for(&server, tmp.path());
        c.args(["proguard", "upload", "-p", "mapping.txt", "-m", PROGUARD_MAP_ID]);
        c
    };
    let (code, summary, stderr) = run_json(&mut upload());
    assert_eq!(code, 3, "{stderr}\n{summary:#}");
    assert_eq!(summary["skipped_too_large"], 1, "{summary:#}");
    assert_eq!(summary["uploaded"], 0, "{summary:#}");
    let c = &summary["chunks"][0];
    assert_eq!(c["outcome"], "too_large", "{summary:#}");
    assert_eq!(c["ref"], PROGUARD_MAP_ID, "{summary:#}");
    assert_eq!(c["chunk_id"], PROGUARD_MAP_ID, "{summary:#}");
    assert!(c["reason"].as_str().unwrap().contains("100 MiB"), "{summary:#}");
    let r = run(&mut upload());
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("mapping.txt (map id {PROGUARD_MAP_ID}): its symbol set")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("every one was skipped (exit code 3)"),
        "{}",
        r.stderr
    );
    assert!(server.symbol_sets().is_empty(), "nothing was started");
}

/// `--release-version V` of the fixtures' release flags.
fn release_flags(version: &str) -> [&str; 6] {
    let mut r = RELEASE;
    r[3] = version;
    r
}

/// The release of [`release_flags`]`(version)` (`--build 1`: version `<version>+1`).
fn release_named(server: &TestServer, version: &str) -> Option<symship_upload::Uuid> {
    server
        .releases()
        .into_iter()
        .find(|r| r.version == format!("{version}+1"))
        .map(|r| r.id)
}

/// A cloned composed Hermes map uploaded in symbol-set mode under release 1, then the same file
/// under release 2, then under 3 with `--force`: the stored set stays bound to 1 and its map keeps
/// naming 1; the later runs find it `already_present`, make no release 2 or 3, and say it is
/// bound to 1 (a fresh tester: the second run created release 2, stamped 2 into the map it sent,
/// and failed with `content_hash_mismatch`; with `--force` the stored map named 2 in a set bound
/// to 1). The same file to a server that holds nothing is stamped with the flags' release.
#[test]
fn a_hermes_map_stored_under_one_release_is_already_present_under_another() {
    let server = server();
    let (tmp, packager, composed) = android_build();
    hermes_clone(&server, tmp.path(), &packager, &composed);
    let on_disk = std::fs::read(&composed).unwrap();
    let upload = |server: &TestServer, version: &str, extra: &[&str]| {
        run_json(
            symship_for(server, tmp.path())
                .args(["hermes", "upload", "--release-mode", "symbol-set", "--directory"])
                .arg(composed.parent().unwrap())
                .args(release_flags(version))
                .args(extra),
        )
    };
    let (code, s, stderr) = upload(&server, "1", &[]);
    assert_eq!(code, 0, "{stderr}\n{s:#}");
    let first = release_named(&server, "1").expect("release 1");
    let map_release = |server: &TestServer| -> Value {
        let p = stored(server, HERMES_CHUNK_ID, symship_upload::Kind::HermesMap);
        serde_json::from_str::<Value>(text(&p)).unwrap()["release_id"].clone()
    };
    assert_eq!(map_release(&server), first.to_string().as_str());
    let held = server.symbol_sets();
    for (version, extra) in [("2", &[][..]), ("3", &["--force"][..])] {
        let (code, s, stderr) = upload(&server, version, extra);
        assert_eq!(code, 0, "release {version}: {stderr}\n{s:#}");
        assert_eq!(s["skipped_already_present"], 1, "release {version}: {s:#}");
        assert_eq!(
            s["already_bound"][0]["release_id"],
            first.to_string().as_str(),
            "{s:#}"
        );
        assert_eq!(
            release_named(&server, version),
            None,
            "release {version} is not made"
        );
        assert_eq!(
            map_release(&server),
            first.to_string().as_str(),
            "release {version}"
        );
        let now = server.symbol_sets();
        assert_eq!(now.len(), 1, "{now:?}");
        assert_eq!(
            (now[0].release_id, &now[0].content_hash),
            (held[0].release_id, &held[0].content_hash),
            "release {version}: the stored set is untouched"
        );
    }
    assert_eq!(
        std::fs::read(&composed).unwrap(),
        on_disk,
        "upload writes nothing"
    );

    let other = self::server();
    let (code, s, stderr) = upload(&other, "2", &[]);
    assert_eq!(code, 0, "{stderr}\n{s:#}");
    assert_eq!(s["uploaded"], 1, "{s:#}");
    let second = release_named(&other, "2").expect("release 2");
    assert_eq!(map_release(&other), second.to_string().as_str());
}

/// A ProGuard mapping stored under release 1, uploaded again under release 2: `already_present`,
/// bound to 1, and release 2 is not made (a fresh tester: it was made, and stayed empty), as
/// `dsym upload` and `symbol-sets upload` do.
#[test]
fn a_proguard_mapping_stored_under_one_release_makes_no_other_release() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    let mapping = tmp.path().join("mapping.txt");
    std::fs::copy(fixtures().join("proguard/proguard-6.2.2/mapping.txt"), &mapping).unwrap();
    let upload = |version: &str| {
        run_json(
            symship_for(&server, tmp.path())
                .args(["proguard", "upload", "--path"])
                .arg(&mapping)
                .args(["--map-id", PROGUARD_MAP_ID])
                .args(release_flags(version)),
        )
    };
    let (code, s, stderr) = upload("1");
    assert_eq!(code, 0, "{stderr}\n{s:#}");
    let first = release_named(&server, "1").expect("release 1");
    let (code, s, stderr) = upload("2");
    assert_eq!(code, 0, "{stderr}\n{s:#}");
    assert_eq!(s["skipped_already_present"], 1, "{s:#}");
    assert_eq!(
        s["already_bound"][0]["release_id"],
        first.to_string().as_str(),
        "{s:#}"
    );
    assert_eq!(release_named(&server, "2"), None, "{:?}", server.releases());
    let sets = server.symbol_sets();
    assert_eq!(sets.len(), 1, "{sets:?}");
    assert_eq!(sets[0].release_id, Some(first));
}

/// A composed map whose `release_id` the project does not know (stamped against another
/// server): `invalid_release_id`, and the verdict says a re-run alone fails the same way (a fresh
/// tester: it said to re-run the same command, which failed identically).
#[test]
fn an_unknown_release_in_a_hermes_map_is_not_called_fixed_by_a_rerun() {
    let server = server();
    let (tmp, packager, composed) = android_build();
    hermes_clone(&server, tmp.path(), &packager, &composed);
    let mut map: Value = serde_json::from_slice(&std::fs::read(&composed).unwrap()).unwrap();
    map["release_id"] = Value::from("0192d8a0-0000-7000-8000-0000000000ff");
    std::fs::write(&composed, serde_json::to_vec(&map).unwrap()).unwrap();
    let (code, s, stderr) = run_json(
        symship_for(&server, tmp.path())
            .args(["hermes", "upload", "--release-mode", "symbol-set", "--directory"])
            .arg(composed.parent().unwrap()),
    );
    assert_eq!(code, 1, "{stderr}\n{s:#}");
    assert_eq!(s["failed"][0]["code"], "invalid_release_id", "{s:#}");
    assert!(
        stderr.contains("a re-run alone fails the same way (invalid_release_id)"),
        "{stderr}"
    );
    assert!(!stderr.contains("re-run the same command"), "{stderr}");
}

/// `proguard upload --map-id ""` (or with spaces around it): nothing is sent, and the reason calls
/// it a map id and names the file once (a fresh tester: "<path>: <path>: its chunk id \"\" is
/// blank").
#[test]
fn a_blank_map_id_is_named_as_a_map_id() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    let mapping = tmp.path().join("mapping.txt");
    std::fs::copy(fixtures().join("proguard/proguard-6.2.2/mapping.txt"), &mapping).unwrap();
    for id in ["", " 6322fcf1-2071-3e2c-be64-68917a9cfecf"] {
        let (code, s, stderr) = run_json(
            symship_for(&server, tmp.path())
                .args(["proguard", "upload", "--path"])
                .arg(&mapping)
                .args(["--map-id", id])
                .args(RELEASE),
        );
        assert_eq!(code, 3, "{id:?}: {stderr}\n{s:#}");
        let reason = s["skipped"][0]["reason"]
            .as_str()
            .unwrap_or_else(|| panic!("{s:#}"));
        assert!(reason.contains("its map id"), "{reason}");
        let path = mapping.display().to_string();
        assert!(
            stderr.lines().all(|l| l.matches(path.as_str()).count() <= 1),
            "{id:?}: {stderr}"
        );
        assert!(
            stderr.contains(&format!("skipped {path}: its map id")),
            "{stderr}"
        );
        assert!(server.symbol_sets().is_empty());
    }
}

/// A Hermes map stored under release 1 whose file names release 1 (as `hermes clone
/// --release-mode symbol-set` leaves it), uploaded with release 2 by a key that cannot read
/// symbol sets (403 on `GET symbol_sets/`): the release its own map names is the stored one, so
/// it is sent stamped with it and found `already_present` (a fresh tester: `release_lookup_failed`,
/// exit 1, while the run also said it was sent without this run's release). The same with a map
/// that names no release: it fails with `release_lookup_failed`, and nothing says it was sent.
#[test]
fn a_hermes_map_naming_its_stored_release_needs_no_lookup_to_be_found_present() {
    let server = server();
    let (tmp, packager, composed) = android_build();
    hermes_clone(&server, tmp.path(), &packager, &composed);
    let upload = |version: &str| {
        run_json(
            symship_for(&server, tmp.path())
                .args(["hermes", "upload", "--release-mode", "symbol-set", "--directory"])
                .arg(composed.parent().unwrap())
                .args(release_flags(version)),
        )
    };
    let (code, s, stderr) = upload("1");
    assert_eq!(code, 0, "{stderr}\n{s:#}");
    let first = release_named(&server, "1").expect("release 1");
    let held = server.symbol_sets();
    let cloned = std::fs::read(&composed).unwrap();
    let mut map: Value = serde_json::from_slice(&cloned).unwrap();
    map["release_id"] = Value::from(first.to_string());
    std::fs::write(&composed, serde_json::to_vec(&map).unwrap()).unwrap();
    server.set_faults(vec![FaultRule::new("list", FaultKind::Status { status: 403 })]);
    let (code, s, stderr) = upload("2");
    assert_eq!(code, 0, "{stderr}\n{s:#}");
    assert_eq!(s["skipped_already_present"], 1, "{s:#}");
    let now = server.symbol_sets();
    assert_eq!(
        (now.len(), now[0].release_id, &now[0].content_hash),
        (1, held[0].release_id, &held[0].content_hash),
        "the stored set is untouched"
    );

    // a map that names no release: its stored release cannot be known
    std::fs::write(&composed, &cloned).unwrap();
    let (code, s, stderr) = upload("3");
    assert_eq!(code, 1, "{stderr}\n{s:#}");
    assert_eq!(s["failed"][0]["code"], "release_lookup_failed", "{s:#}");
    assert!(
        !stderr.contains("were sent without this run's release"),
        "{stderr}"
    );
    let warnings = s["warnings"].as_array().unwrap();
    assert!(
        !warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("were sent without")),
        "{warnings:?}"
    );
    assert!(
        stderr.contains("error_tracking:read") && !stderr.contains("re-run the same command"),
        "the verdict says what to change: {stderr}"
    );
    // with --skip-on-conflict the server keeps what it holds whatever is sent: kept, exit 0
    let (code, s, stderr) = run_json(
        symship_for(&server, tmp.path())
            .args([
                "hermes",
                "upload",
                "--release-mode",
                "symbol-set",
                "--skip-on-conflict",
                "--directory",
            ])
            .arg(composed.parent().unwrap())
            .args(release_flags("3")),
    );
    assert_eq!(code, 0, "{stderr}\n{s:#}");
    assert_eq!(s["skipped_kept_different"], 1, "{s:#}");
    let now = server.symbol_sets();
    assert_eq!(
        (now.len(), now[0].release_id, &now[0].content_hash),
        (1, held[0].release_id, &held[0].content_hash),
        "the stored set is untouched"
    );
}

/// `hermes clone --release-mode symbol-set --dry-run` with release flags says the release the
/// flags name would be stamped (a fresh tester: it said "release none"), sends nothing and writes
/// nothing.
#[test]
fn a_dry_run_clone_names_the_flags_release() {
    let server = server();
    let (tmp, packager, composed) = android_build();
    let before = (
        std::fs::read(&packager).unwrap(),
        std::fs::read(&composed).unwrap(),
    );
    let r = ok(
        symship_for(&server, tmp.path())
            .args([
                "hermes",
                "clone",
                "--release-mode",
                "symbol-set",
                "--dry-run",
                "-m",
            ])
            .arg(&packager)
            .arg("-c")
            .arg(&composed)
            .args(RELEASE),
        0,
    );
    assert!(
        r.stderr.contains("found or created by a run without --dry-run")
            && !r.stderr.contains("(release none)"),
        "{}",
        r.stderr
    );
    assert!(server.requests().is_empty(), "{:?}", server.requests());
    assert!(
        (
            std::fs::read(&packager).unwrap(),
            std::fs::read(&composed).unwrap()
        ) == before
    );
}

/// `hermes clone --output json` says what it wrote (a fresh tester: nothing on stdout, where a
/// failed clone prints its JSON document).
#[test]
fn hermes_clone_says_what_it_wrote_in_json() {
    let server = server();
    let (tmp, packager, composed) = android_build();
    let (code, s, stderr) = run_json(
        symship_for(&server, tmp.path())
            .args(["hermes", "clone", "-m"])
            .arg(&packager)
            .arg("-c")
            .arg(&composed),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(s["command"], "hermes clone", "{s:#}");
    assert_eq!(s["chunk_id"], HERMES_CHUNK_ID, "{s:#}");
    assert_eq!(s["release_id"], Value::Null, "{s:#}");
    assert_eq!(s["packager_rewritten"], false, "{s:#}");
    assert_eq!(s["composed_map"], composed.display().to_string(), "{s:#}");
}

/// A ProGuard mapping stored under release 1, uploaded under release 2 with
/// `--skip-release-on-fail=false`: it fails `release_id_mismatch`, and the verdict does not tell
/// the user to inject a fresh build (a fresh tester: "inject a fresh build to give them new chunk
/// ids", which does not apply to a map id).
#[test]
fn a_proguard_mapping_bound_elsewhere_is_not_told_to_inject() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    let mapping = tmp.path().join("mapping.txt");
    std::fs::copy(fixtures().join("proguard/proguard-6.2.2/mapping.txt"), &mapping).unwrap();
    let upload = |version: &str, extra: &[&str]| {
        symship_for(&server, tmp.path())
            .args(["proguard", "upload", "--path"])
            .arg(&mapping)
            .args(["--map-id", PROGUARD_MAP_ID])
            .args(release_flags(version))
            .args(extra)
            .output()
            .unwrap()
    };
    assert!(upload("1", &[]).status.success());
    let out = upload("2", &["--skip-release-on-fail=false"]);
    let text = combined(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let verdict = text
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(verdict.contains("build again to give them new ids"), "{verdict}");
    assert!(!verdict.contains("inject"), "{verdict}");
}
