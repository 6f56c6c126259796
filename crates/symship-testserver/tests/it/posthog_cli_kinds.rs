//! Conformance with the reference client for the non-JS kinds: posthog-cli 0.19.0's `hermes clone` +
//! `hermes upload` and `proguard upload`, with the argv PostHog's build tooling passes, on the real
//! fixtures (`fixtures/hermes`, `fixtures/proguard`) against the test server. Every upload must be
//! accepted, finished, stored as the container type of its kind, and its payload must equal the
//! golden one recorded by the fixtures' `record-reference.sh`.

use std::path::{Path, PathBuf};

use crate::common::*;
use posthog_symbol_data::{read_symbol_data, HermesMap, ProguardMapping};
use symship_test_support::{
    fixture_dir, repo_root, COMPOSED, COMPOSED_DIR, HERMES_CHUNK_ID, PACKAGER, PROGUARD_MAP_ID, R8_MAP_ID,
    RELEASE,
};
use symship_testserver::{Config, TestServer};

fn fixtures() -> PathBuf {
    repo_root().join("fixtures")
}

/// Runs posthog-cli in `cwd` with the server's credentials and `POSTHOG_RELEASE_MODE=mode`, as the
/// Gradle tasks set it; returns its exit status and combined output.
fn run(server: &TestServer, cwd: &Path, mode: &str, args: &[&str]) -> (i32, String) {
    let out = posthog_cli_for(server, cwd)
        .args(args)
        .env("POSTHOG_RELEASE_MODE", mode)
        .env("NO_COLOR", "1")
        .output()
        .expect("run posthog-cli");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn ok(server: &TestServer, cwd: &Path, mode: &str, args: &[&str]) -> String {
    let (code, text) = run(server, cwd, mode, args);
    assert_eq!(code, 0, "posthog-cli {args:?} failed:\n{text}");
    text
}

/// The one stored set: finished, its ref `reference`, bound to the release iff `bound`; returns
/// the stored object's bytes.
fn stored_one(server: &TestServer, reference: &str, bound: bool) -> Vec<u8> {
    let sets = server.symbol_sets();
    assert_eq!(sets.len(), 1, "{sets:?}");
    let s = &sets[0];
    assert_eq!(s.ref_, reference);
    assert!(s.failure_reason.is_none(), "{s:?}");
    assert!(
        s.content_hash.as_deref().is_some_and(|h| h.len() == 128),
        "not finished: {s:?}"
    );
    assert_eq!(s.release_id.is_some(), bound, "{s:?}");
    let ptr = s.storage_ptr.as_deref().expect("storage_ptr");
    let bytes = server
        .object_bytes(ptr)
        .unwrap_or_else(|| panic!("object {ptr} not stored"));
    use sha2::Digest as _;
    assert_eq!(
        s.content_hash.as_deref(),
        Some(hex::encode(sha2::Sha512::digest(&bytes)).as_str()),
        "content_hash is the SHA-512 of the stored container"
    );
    // every request succeeded, but the release lookup that precedes creating the release
    assert!(
        server
            .requests()
            .iter()
            .all(|r| (r.status > 0 && r.status < 300) || (r.route == "releases_hash" && r.status == 404)),
        "{:?}",
        server.requests()
    );
    // The server validates HermesMap and ProguardMapping containers as cymbal reads them.
    let v = server.violations();
    assert!(v.is_empty(), "violations: {v:?}");
    bytes
}

/// posthog-react-native 4.78.0's posthog.gradle: `hermes clone` then `hermes upload`, from the
/// app's android/ directory, with the release flags and, in event mode, `--release-mode event`.
fn hermes_gradle(mode: &str) -> (TestServer, tempfile::TempDir) {
    let server = start(Config::default());
    let dir = fixture_dir(&[
        ("hermes/posthog/index.android.bundle.packager.map", PACKAGER),
        ("hermes/posthog/index.android.bundle.map", COMPOSED),
    ]);
    let abs = |p: &str| dir.path().join(p).to_string_lossy().into_owned();
    let android = dir.path().join("android");
    let flag: &[&str] = if mode == "event" {
        &["--release-mode", "event"]
    } else {
        &[]
    };
    let (packager, composed, composed_dir) = (abs(PACKAGER), abs(COMPOSED), abs(COMPOSED_DIR));
    let mut clone = vec![
        "hermes",
        "clone",
        "--minified-map-path",
        &packager,
        "--composed-map-path",
        &composed,
    ];
    clone.extend(RELEASE);
    clone.extend(flag);
    ok(&server, &android, mode, &clone);
    let mut upload = vec!["hermes", "upload", "--directory", &composed_dir];
    upload.extend(RELEASE);
    upload.extend(flag);
    ok(&server, &android, mode, &upload);
    (server, dir)
}

#[test]
fn hermes_gradle_event_mode_is_stored_as_a_hermes_map() {
    let (server, dir) = hermes_gradle("event");
    let bytes = stored_one(&server, HERMES_CHUNK_ID, false);
    let map: HermesMap = read_symbol_data(&bytes).expect("a HermesMap container");
    let golden = std::fs::read_to_string(fixtures().join(format!(
        "hermes/posthog-cli-0.19.0/gradle-event/payloads/{HERMES_CHUNK_ID}.json"
    )))
    .unwrap();
    assert_eq!(map.sourcemap, golden, "payload differs from the recorded one");
    // the payload is the composed map as `hermes clone` left it
    assert_eq!(
        map.sourcemap,
        std::fs::read_to_string(dir.path().join(COMPOSED)).unwrap()
    );
    let v: serde_json::Value = serde_json::from_str(&map.sourcemap).unwrap();
    assert_eq!(v["chunk_id"], HERMES_CHUNK_ID);
    assert!(v.get("x_hermes_function_offsets").is_some());
    assert!(v.get("release_id").is_none());
    // event mode forces, and creates the release without binding the set to it
    assert_eq!(server.releases().len(), 1);
    let start = server
        .requests()
        .into_iter()
        .find(|r| r.route == "bulk_start_upload")
        .expect("bulk_start_upload");
    assert_eq!(start.body.as_ref().unwrap()["force"], true);
}

#[test]
fn hermes_gradle_symbol_set_mode_binds_the_release() {
    let (server, dir) = hermes_gradle("symbol-set");
    let bytes = stored_one(&server, HERMES_CHUNK_ID, true);
    let map: HermesMap = read_symbol_data(&bytes).expect("a HermesMap container");
    let rel = server.releases();
    assert_eq!(rel.len(), 1);
    assert_eq!(
        (rel[0].project.as_str(), rel[0].version.as_str()),
        ("com.symship.fixture", "1.0.0+1")
    );
    // equal to the golden payload once the release id (random per server) is put back
    let golden = std::fs::read_to_string(fixtures().join(format!(
        "hermes/posthog-cli-0.19.0/gradle-symbol-set/payloads/{HERMES_CHUNK_ID}.json"
    )))
    .unwrap()
    .replace("<release-1>", &rel[0].id.to_string());
    assert_eq!(map.sourcemap, golden, "payload differs from the recorded one");
    assert_eq!(
        map.sourcemap,
        std::fs::read_to_string(dir.path().join(COMPOSED)).unwrap()
    );
}

#[test]
fn hermes_upload_refuses_a_packager_map_beside_the_composed_map() {
    let server = start(Config::default());
    let dir = fixture_dir(&[
        (
            "hermes/posthog/index.android.bundle.packager.map",
            "out/index.android.bundle.packager.map",
        ),
        (
            "hermes/posthog/index.android.bundle.map",
            "out/index.android.bundle.map",
        ),
    ]);
    ok(
        &server,
        dir.path(),
        "event",
        &[
            "hermes",
            "clone",
            "--minified-map-path",
            "out/index.android.bundle.packager.map",
            "--composed-map-path",
            "out/index.android.bundle.map",
        ],
    );
    let (code, text) = run(
        &server,
        dir.path(),
        "event",
        &["hermes", "upload", "--directory", "out"],
    );
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("Map is not a hermes sourcemap - missing key x_hermes_function_offsets"),
        "{text}"
    );
    assert!(server.symbol_sets().is_empty());
}

const MAPPING: &str = "app/build/outputs/mapping/release/mapping.txt";

/// posthog-android-gradle-plugin's PostHogUploadProguardMappingsTask (release mode event, the
/// default): `exp proguard upload --path ABS --map-id ID <release> --release-mode event`.
fn proguard_gradle(fixture: &str, map_id: &str) {
    let server = start(Config::default());
    let dir = fixture_dir(&[(fixture, MAPPING)]);
    let path = dir.path().join(MAPPING).to_string_lossy().into_owned();
    let mut args = vec!["exp", "proguard", "upload", "--path", &path, "--map-id", map_id];
    args.extend(RELEASE);
    args.extend(["--release-mode", "event"]);
    let log = ok(&server, dir.path(), "event", &args);
    assert!(
        log.contains("--release-mode is deprecated and does nothing"),
        "{log}"
    );
    let bytes = stored_one(&server, map_id, true);
    let m: ProguardMapping = read_symbol_data(&bytes).expect("a ProguardMapping container");
    assert_eq!(
        m.content,
        std::fs::read_to_string(fixtures().join(fixture)).unwrap()
    );
    let start = server
        .requests()
        .into_iter()
        .find(|r| r.route == "bulk_start_upload")
        .expect("bulk_start_upload");
    assert_eq!(start.body.as_ref().unwrap()["force"], false);
}

#[test]
fn proguard_mapping_from_the_gradle_plugin_is_stored() {
    proguard_gradle("proguard/proguard-6.2.2/mapping.txt", PROGUARD_MAP_ID);
}

#[test]
fn r8_style_mapping_from_the_gradle_plugin_is_stored() {
    proguard_gradle("proguard/r8-derived/mapping.txt", R8_MAP_ID);
}

#[test]
fn proguard_upload_minimal() {
    let server = start(Config::default());
    let dir = fixture_dir(&[("proguard/proguard-6.2.2/mapping.txt", "mapping.txt")]);
    ok(
        &server,
        dir.path(),
        "event",
        &[
            "proguard",
            "upload",
            "--path",
            "mapping.txt",
            "--map-id",
            PROGUARD_MAP_ID,
        ],
    );
    let bytes = stored_one(&server, PROGUARD_MAP_ID, false);
    let m: ProguardMapping = read_symbol_data(&bytes).expect("a ProguardMapping container");
    let golden = std::fs::read_to_string(fixtures().join(format!(
        "proguard/posthog-cli-0.19.0/minimal/payloads/{PROGUARD_MAP_ID}.txt"
    )))
    .unwrap();
    assert_eq!(m.content, golden);
}
