//! `symship hermes inject` (issue 16, spec `kinds-and-explain.md` §1.4) with the real binary on the
//! real Metro 0.87.1 build in `fixtures/hermes`, beside posthog-cli 0.19.0 run on the same input:
//! the bundle it writes is posthog-cli's byte for byte; React Native's build (hermesc and
//! `compose-source-maps.js`, `scripts/install-tools hermes`) then composes the map, and `hermes
//! clone` + `hermes upload` of the result are accepted and finished by the test server. Also the
//! argv Expo's EAS step passes, run by both tools.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use symship_test_support::*;
use symship_testserver::TestServer;
use symship_upload::container::{self, Payload};

/// posthog-cli 0.19.0's chunk id for `fixtures/hermes/plain/index.android.bundle` (UUIDv5 of its
/// bytes; `fixtures/hermes/posthog-cli-0.19.0/inject`).
const PLAIN_CHUNK_ID: &str = "b096017c-83db-5f65-a307-2c2c4281afc7";
const BUNDLE: &str = "index.android.bundle";
const PACKAGER: &str = "index.android.bundle.packager.map";

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// posthog-cli 0.19.0 with the environment of [`symship_for`], in `cwd`.
fn posthog_cli_for(server: &TestServer, cwd: &Path) -> Command {
    on_program(&symship_for(server, cwd), posthog_cli())
}

/// React Native's Android release build after Metro, as `BundleHermesCTask` runs it: hermesc on the
/// bundle in `dir`, then `compose-source-maps.js` of the packager and compiler maps into
/// `dir/maps/index.android.bundle.map` (where the Gradle build writes the composed map).
fn compose(dir: &Path) -> PathBuf {
    let tools = hermes_tools();
    let out = Command::new(&tools.hermesc)
        .current_dir(dir)
        .args(["-w", "-emit-binary", "-max-diagnostic-width=80", "-out"])
        .args([&format!("{BUNDLE}.hbc"), BUNDLE, "-O", "-output-source-map"])
        .output()
        .unwrap();
    assert!(out.status.success(), "hermesc: {}", stderr(&out));
    std::fs::create_dir_all(dir.join("maps")).unwrap();
    let composed = dir.join("maps").join(format!("{BUNDLE}.map"));
    let out = node()
        .current_dir(dir)
        .arg(&tools.compose)
        .args([PACKAGER, &format!("{BUNDLE}.hbc.map"), "-o"])
        .arg(&composed)
        .output()
        .unwrap();
    assert!(out.status.success(), "compose-source-maps.js: {}", stderr(&out));
    composed
}

/// The one finished set with this ref, a HermesMap container whose SHA-512 is its content hash; its
/// payload as JSON.
fn stored_hermes(server: &TestServer, reference: &str) -> Value {
    let sets = server.symbol_sets();
    let set = sets
        .iter()
        .find(|s| s.ref_ == reference)
        .unwrap_or_else(|| panic!("no set {reference}: {sets:?}"));
    assert!(set.failure_reason.is_none(), "{set:?}");
    let hash = set.content_hash.as_deref().expect("finished");
    let object = server.object_bytes(set.storage_ptr.as_deref().unwrap()).unwrap();
    assert_eq!(hash, container::content_hash(&object));
    let Payload::HermesMap(text) = container::read_any(&object).unwrap() else {
        panic!("not a HermesMap container")
    };
    assert!(server.violations().is_empty(), "{:?}", server.violations());
    serde_json::from_str(&text).unwrap()
}

#[test]
fn hermes_inject_writes_posthog_clis_bundle_and_the_composed_build_clones_and_uploads() {
    let server = server();
    let (_theirs_tmp, theirs) = fixture_copy("hermes/plain");
    let (_ours_tmp, ours) = fixture_copy("hermes/plain");
    // What a build script runs: release flags too, which event mode does not inject for Hermes.
    let argv = [
        "hermes",
        "inject",
        "--directory",
        ".",
        "--release-name",
        "com.symship.fixture",
        "--release-version",
        "1.0.0",
    ];
    ok(posthog_cli_for(&server, &theirs).args(argv), 0);
    ok(symship_for(&server, &ours).args(argv), 0);
    // Event mode for a Hermes build: no release is resolved, nothing is asked of the server.
    assert!(server.requests().is_empty(), "{:?}", server.requests());

    let bundle = std::fs::read(ours.join(BUNDLE)).unwrap();
    assert_eq!(
        bundle,
        std::fs::read(theirs.join(BUNDLE)).unwrap(),
        "the bundle is posthog-cli's byte for byte"
    );
    let text = String::from_utf8(bundle).unwrap();
    assert!(text.ends_with(&format!("\n//# chunkId={PLAIN_CHUNK_ID}")));
    assert!(
        !text.contains("_posthogReleaseId"),
        "no release in a Hermes bundle"
    );
    let (our_map, their_map) = (json(&ours.join(PACKAGER)), json(&theirs.join(PACKAGER)));
    assert_eq!(our_map["chunk_id"], PLAIN_CHUNK_ID);
    assert_eq!(their_map["chunk_id"], PLAIN_CHUNK_ID);
    // posthog-cli flattens Metro's index map and drops its function maps; symship keeps them.
    assert!(their_map.get("sections").is_none());
    assert!(our_map["sections"].as_array().is_some_and(|s| s.len() == 6));

    // A second run changes nothing.
    let before: Vec<_> = [BUNDLE, PACKAGER]
        .iter()
        .map(|f| std::fs::read(ours.join(f)).unwrap())
        .collect();
    ok(symship_for(&server, &ours).args(argv), 0);
    for (f, b) in [BUNDLE, PACKAGER].iter().zip(before) {
        assert_eq!(std::fs::read(ours.join(f)).unwrap(), b, "{f} rewritten");
    }

    // React Native composes the map; the chunk id is cloned into it and uploaded.
    let composed = compose(&ours);
    ok(
        symship_for(&server, &ours)
            .args(["hermes", "clone", "-m", PACKAGER, "-c"])
            .arg(&composed),
        0,
    );
    ok(
        symship_for(&server, &ours).args(["hermes", "upload", "--directory", "maps"]),
        0,
    );
    let payload = stored_hermes(&server, PLAIN_CHUNK_ID);
    assert_eq!(payload["chunk_id"], PLAIN_CHUNK_ID);
    assert!(payload.get("release_id").is_none(), "event mode sends no release");
    assert!(payload["x_hermes_function_offsets"].is_object());
    // Metro's function maps survive into the composed map (posthog-cli's `cli-flow` reference,
    // from its flattened packager map, has none).
    let named = |p: &Value| {
        p["x_facebook_sources"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| !s.is_null())
            .count()
    };
    // They are the function maps of the build without injection (fixtures/hermes/plain's composed map).
    let plain = json(&repo_root().join("fixtures/hermes/plain/index.android.bundle.map"));
    assert_eq!(named(&plain), 5);
    assert_eq!(payload["x_facebook_sources"], plain["x_facebook_sources"]);
    let reference = json(&repo_root().join(format!(
        "fixtures/hermes/posthog-cli-0.19.0/cli-flow/payloads/{PLAIN_CHUNK_ID}.json"
    )));
    assert_eq!(named(&reference), 0);
}

#[test]
fn hermes_inject_in_symbol_set_mode_stamps_the_created_release_into_the_packager_map() {
    let server = server();
    let (_tmp, dir) = fixture_copy("hermes/plain");
    ok(
        symship_for(&server, &dir).args([
            "hermes",
            "inject",
            "-d",
            ".",
            "--release-mode",
            "symbol-set",
            "--release-name",
            "com.symship.fixture",
            "--release-version",
            "1.0.0",
        ]),
        0,
    );
    let releases = server.releases();
    assert_eq!(releases.len(), 1, "the release is created, as posthog-cli does");
    let map = json(&dir.join(PACKAGER));
    assert_eq!(map["release_id"], releases[0].id.to_string());
    let chunk_id = map["chunk_id"].as_str().unwrap();
    assert_eq!(
        symship_upload::Uuid::parse_str(chunk_id)
            .unwrap()
            .get_version_num(),
        7
    );
    let text = std::fs::read_to_string(dir.join(BUNDLE)).unwrap();
    assert!(text.ends_with(&format!("\n//# chunkId={chunk_id}")));
    assert!(
        !text.contains(&releases[0].id.to_string()),
        "the release is in the map only"
    );
}

#[test]
fn hermes_inject_in_symbol_set_mode_creates_no_release_no_bundle_can_take() {
    // `sourcemap inject` creates the release only once a chunk can take it (e93a0d0); `hermes
    // inject --release-mode symbol-set` created it before scanning. Here the Metro bundle's maps
    // are missing (React Native's iOS script deletes the packager map; the bundle is skipped
    // no_map) and, in a second directory, there is no Metro bundle at all: neither run may leave a
    // release on the server.
    let server = server();
    let (_tmp, dir) = fixture_copy("hermes/plain");
    std::fs::remove_file(dir.join(PACKAGER)).unwrap();
    std::fs::remove_file(dir.join(format!("{BUNDLE}.map"))).unwrap();
    let web_only = tempfile::tempdir().unwrap();
    std::fs::write(
        web_only.path().join("web.js"),
        "console.log(1);\n//# sourceMappingURL=web.js.map\n",
    )
    .unwrap();
    std::fs::write(
        web_only.path().join("web.js.map"),
        r#"{"version":3,"sources":["a.js"],"names":[],"mappings":"AAAA"}"#,
    )
    .unwrap();
    let bundle = std::fs::read(dir.join(BUNDLE)).unwrap();
    for cwd in [dir.as_path(), web_only.path()] {
        let (code, summary, stderr) = run_json(symship_for(&server, cwd).args([
            "hermes",
            "inject",
            "-d",
            ".",
            "--release-mode",
            "symbol-set",
            "--release-name",
            "com.symship.fixture",
            "--release-version",
            "1.0.0",
        ]));
        assert_eq!(code, 3, "{}: {stderr}\n{summary:#}", cwd.display());
        assert_eq!(summary["command"], "hermes inject");
        assert!(summary["release_id"].is_null(), "{summary:#}");
    }
    assert!(
        server.releases().is_empty(),
        "no release was created: {:?}",
        server.releases()
    );
    assert!(
        server.requests().iter().all(|r| r.method == "GET"),
        "only looked up: {:?}",
        server.requests()
    );
    assert_eq!(
        std::fs::read(dir.join(BUNDLE)).unwrap(),
        bundle,
        "the bundle unchanged"
    );
}

#[test]
fn hermes_inject_takes_metro_bundles_only() {
    let server = server();
    let (_tmp, dir) = fixture_copy("hermes/plain");
    // A web chunk beside the bundle is not touched.
    let web = "console.log(1);\n//# sourceMappingURL=web.js.map\n";
    std::fs::write(dir.join("web.js"), web).unwrap();
    std::fs::write(
        dir.join("web.js.map"),
        r#"{"version":3,"sources":["a.js"],"names":[],"mappings":"AAAA"}"#,
    )
    .unwrap();
    let (code, summary, _) = run_json(symship_for(&server, &dir).args(["hermes", "inject", "-d", "."]));
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["command"], "hermes inject");
    let chunks = summary["chunks"].as_array().unwrap();
    assert_eq!(chunks.len(), 1, "{summary}");
    assert!(chunks[0]["file"].as_str().unwrap().ends_with(BUNDLE));
    assert_eq!(chunks[0]["chunk_id"], PLAIN_CHUNK_ID);
    assert_eq!(std::fs::read_to_string(dir.join("web.js")).unwrap(), web);

    // A directory with no Metro bundle: nothing found, as posthog-cli ("no source files found").
    let empty = tempfile::tempdir().unwrap();
    std::fs::write(empty.path().join("web.js"), web).unwrap();
    let out = output(symship_for(&server, empty.path()).args(["hermes", "inject", "-d", "."]));
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn expo_eas_argv_clones_and_uploads_as_posthog_cli_does() {
    // The EAS build step (README "Expo / EAS"): clone and upload with the release flags and no
    // --release-mode, on the maps of a build whose packager map carries the chunk id Metro's
    // PostHog serializer put there (fixtures/hermes/posthog).
    const CHUNK_ID: &str = HERMES_CHUNK_ID;
    let release = RELEASE;
    let mut payloads = Vec::new();
    for tool in ["posthog-cli", "symship"] {
        let server = server();
        let (_tmp, dir) = fixture_copy("hermes/posthog");
        std::fs::create_dir_all(dir.join("composed")).unwrap();
        std::fs::rename(
            dir.join("index.android.bundle.map"),
            dir.join("composed/index.android.bundle.map"),
        )
        .unwrap();
        let clone: Vec<String> = ["hermes", "clone", "--minified-map-path"]
            .into_iter()
            .map(String::from)
            .chain([dir.join(PACKAGER).display().to_string()])
            .chain(["--composed-map-path".into()])
            .chain([dir
                .join("composed/index.android.bundle.map")
                .display()
                .to_string()])
            .chain(release.iter().map(|s| s.to_string()))
            .collect();
        let upload: Vec<String> = ["hermes", "upload", "--directory"]
            .into_iter()
            .map(String::from)
            .chain([dir.join("composed").display().to_string()])
            .chain(release.iter().map(|s| s.to_string()))
            .collect();
        for argv in [&clone, &upload] {
            let mut cmd = match tool {
                "symship" => symship_for(&server, &dir),
                _ => posthog_cli_for(&server, &dir),
            };
            ok(cmd.args(argv), 0);
        }
        payloads.push(stored_hermes(&server, CHUNK_ID));
        assert_eq!(server.releases().len(), 1, "{tool}");
    }
    assert_eq!(payloads[0], payloads[1], "symship sends posthog-cli's payload");
}

/// `hermes inject --release-mode symbol-set` with release flags, then `hermes clone
/// --release-mode symbol-set` without them (the Gradle step that only passes the mode), then
/// `hermes upload --release-mode symbol-set`: clone copies the packager map's release into the
/// composed map and leaves the packager map as inject wrote it; the set is bound to that release
/// (a fresh tester: clone removed the release from the packager map, wrote none into the composed
/// map, and the set was stored bound to no release).
#[test]
fn hermes_clone_without_release_flags_keeps_the_release_inject_stamped() {
    let server = server();
    let (_tmp, dir) = fixture_copy("hermes/plain");
    std::fs::create_dir(dir.join("maps")).unwrap();
    std::fs::rename(
        dir.join(format!("{BUNDLE}.map")),
        dir.join("maps").join(format!("{BUNDLE}.map")),
    )
    .unwrap();
    ok(
        symship_for(&server, &dir)
            .args(["hermes", "inject", "-d", ".", "--release-mode", "symbol-set"])
            .args(["--release-name", "app", "--release-version", "7"]),
        0,
    );
    let release = server.releases()[0].id.to_string();
    let injected = std::fs::read(dir.join(PACKAGER)).unwrap();
    ok(
        symship_for(&server, &dir)
            .args(["hermes", "clone", "--release-mode", "symbol-set", "-m", PACKAGER])
            .args(["-c", &format!("maps/{BUNDLE}.map")]),
        0,
    );
    assert!(
        std::fs::read(dir.join(PACKAGER)).unwrap() == injected,
        "the packager map is left as inject wrote it: {}",
        json(&dir.join(PACKAGER))["release_id"]
    );
    let composed = json(&dir.join("maps").join(format!("{BUNDLE}.map")));
    assert_eq!(composed["release_id"], release.as_str());
    ok(
        symship_for(&server, &dir).args(["hermes", "upload", "-d", "maps", "--release-mode", "symbol-set"]),
        0,
    );
    let chunk_id = json(&dir.join(PACKAGER))["chunk_id"].as_str().unwrap().to_owned();
    let stored = stored_hermes(&server, &chunk_id);
    assert_eq!(stored["release_id"], release.as_str());
    let set = server
        .symbol_sets()
        .into_iter()
        .find(|s| s.ref_ == chunk_id)
        .unwrap();
    assert_eq!(set.release_id.map(|r| r.to_string()), Some(release));
    assert_eq!(server.releases().len(), 1, "{:?}", server.releases());
}

/// `hermes clone` in event mode (the default) after `hermes inject --release-mode symbol-set`:
/// the packager map keeps the release inject stamped (the composed map gets none: event mode
/// sends no release); and half a release (`--release-name` alone) is refused, exit 2, with
/// nothing written (a fresh tester: exit 0, and the release removed from the packager map, as
/// posthog-cli 0.19.0 does).
#[test]
fn hermes_clone_in_event_mode_leaves_the_packager_maps_release_and_refuses_half_a_release() {
    let server = server();
    let (_tmp, dir) = fixture_copy("hermes/plain");
    std::fs::create_dir(dir.join("maps")).unwrap();
    let composed_path = dir.join("maps").join(format!("{BUNDLE}.map"));
    std::fs::rename(dir.join(format!("{BUNDLE}.map")), &composed_path).unwrap();
    ok(
        symship_for(&server, &dir)
            .args(["hermes", "inject", "-d", ".", "--release-mode", "symbol-set"])
            .args(["--release-name", "app", "--release-version", "7"]),
        0,
    );
    let injected = std::fs::read(dir.join(PACKAGER)).unwrap();
    let composed_before = std::fs::read(&composed_path).unwrap();
    let clone = |extra: &[&str]| {
        symship_for(&server, &dir)
            .args([
                "hermes",
                "clone",
                "-m",
                PACKAGER,
                "-c",
                &format!("maps/{BUNDLE}.map"),
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let half = clone(&["--release-name", "app"]);
    assert_eq!(half.status.code(), Some(2), "{}", stderr(&half));
    assert!(
        std::fs::read(dir.join(PACKAGER)).unwrap() == injected,
        "nothing written"
    );
    assert!(
        std::fs::read(&composed_path).unwrap() == composed_before,
        "nothing written"
    );
    let out = clone(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        std::fs::read(dir.join(PACKAGER)).unwrap() == injected,
        "the packager map keeps its release: {}",
        json(&dir.join(PACKAGER))["release_id"]
    );
    let composed = json(&composed_path);
    assert_eq!(composed["chunk_id"], json(&dir.join(PACKAGER))["chunk_id"]);
    assert_eq!(composed.get("release_id"), None, "{}", composed["release_id"]);
}

/// `hermes inject --release-mode symbol-set` on a bundle posthog-react-native's Metro serializer
/// already stamped (`fixtures/hermes/posthog`): the serializer's snippet is replaced, and no
/// section of the packager's index map starts at a negative column (a fresh tester: the
/// `__chunkid__` section moved to column -309).
#[test]
fn hermes_inject_over_the_serializers_snippet_keeps_section_offsets_valid() {
    let server = server();
    let (_tmp, dir) = fixture_copy("hermes/posthog");
    ok(
        symship_for(&server, &dir)
            .args(["hermes", "inject", "-d", ".", "--release-mode", "symbol-set"])
            .args(["--release-name", "app", "--release-version", "1"]),
        0,
    );
    let map = json(&dir.join(PACKAGER));
    let sections = map["sections"].as_array().expect("an index map");
    let offsets: Vec<(i64, i64)> = sections
        .iter()
        .map(|s| {
            (
                s["offset"]["line"].as_i64().unwrap(),
                s["offset"]["column"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(offsets.iter().all(|&(l, c)| l >= 0 && c >= 0), "{offsets:?}");
    assert!(offsets.windows(2).all(|w| w[0] <= w[1]), "in order: {offsets:?}");
}
