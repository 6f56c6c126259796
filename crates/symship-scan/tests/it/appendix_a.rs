//! The golden vectors of spec Appendix A, observed from posthog-cli 0.19.0.

use std::fs;
use std::path::Path;

use symship_scan::hash::payload;
use symship_scan::{inject, pair_all, select, InjectOptions, Outcome, ReleaseMode, Selection};

const APP_JS: &str = "console.log(1);\n//# sourceMappingURL=app.js.map\n";
const APP_MAP: &str = r#"{"version":3,"file":"app.js","sources":["app.ts"],"sourcesContent":["console.log(1)\n"],"names":[],"mappings":"AAAA"}"#;
const CHUNK_ID: &str = "13d676af-fe05-561a-83ab-25e6849639ca";
const RELEASE: &str = "0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee";

fn build(dir: &Path) {
    fs::write(dir.join("app.js"), APP_JS).unwrap();
    fs::write(dir.join("app.js.map"), APP_MAP).unwrap();
}

fn run(dir: &Path, release: Option<&str>) -> Vec<symship_scan::PairResult> {
    let sel = Selection {
        roots: vec![dir.to_path_buf()],
        ..Default::default()
    };
    let (cands, skipped) = select(&sel).unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    let (pairs, skipped) = pair_all(cands, None, symship_scan::read_source);
    assert!(skipped.is_empty(), "{skipped:?}");
    let opts = InjectOptions {
        release_id: release.map(str::to_string),
        ..Default::default()
    };
    inject(&pairs, &opts, &())
}

fn snippet(release: Option<&str>) -> String {
    symship_scan::snippet::render(CHUNK_ID, release)
}

#[test]
fn event_mode_inject_matches_posthog_cli() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let results = run(dir.path(), None);
    assert_eq!(results.len(), 1);
    assert_eq!(
        results[0].result.as_ref().unwrap(),
        &Outcome::Injected {
            chunk_id: CHUNK_ID.into()
        }
    );
    let js = fs::read_to_string(dir.path().join("app.js")).unwrap();
    assert_eq!(js, format!("{}{APP_JS}\n//# chunkId={CHUNK_ID}", snippet(None)));
    assert_eq!(snippet(None).len(), 309);
    let map: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("app.js.map")).unwrap()).unwrap();
    assert_eq!(map["chunk_id"], CHUNK_ID);
    assert_eq!(map["mappings"], "qTAAA");
    assert_eq!(map["sourcesContent"][0], "console.log(1)\n");

    // A second run writes nothing.
    let before = fs::metadata(dir.path().join("app.js"))
        .unwrap()
        .modified()
        .unwrap();
    let map_before = fs::metadata(dir.path().join("app.js.map"))
        .unwrap()
        .modified()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let results = run(dir.path(), None);
    assert_eq!(
        results[0].result.as_ref().unwrap(),
        &Outcome::Unchanged {
            chunk_id: CHUNK_ID.into()
        }
    );
    assert_eq!(fs::read_to_string(dir.path().join("app.js")).unwrap(), js);
    assert_eq!(
        fs::metadata(dir.path().join("app.js"))
            .unwrap()
            .modified()
            .unwrap(),
        before
    );
    assert_eq!(
        fs::metadata(dir.path().join("app.js.map"))
            .unwrap()
            .modified()
            .unwrap(),
        map_before
    );
}

#[test]
fn release_snippet_then_release_swap_keeps_the_chunk_id() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    run(dir.path(), Some(RELEASE));
    let js = fs::read_to_string(dir.path().join("app.js")).unwrap();
    assert_eq!(
        js,
        format!("{}{APP_JS}\n//# chunkId={CHUNK_ID}", snippet(Some(RELEASE)))
    );
    assert_eq!(snippet(Some(RELEASE)).len(), 393);
    let map: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("app.js.map")).unwrap()).unwrap();
    assert_eq!(map["mappings"], "yYAAA");

    // Without a release: untouched.
    run(dir.path(), None);
    assert_eq!(fs::read_to_string(dir.path().join("app.js")).unwrap(), js);

    // Another release: only the release literal changes.
    let other = "0190ffff-bbbb-7ccc-8ddd-eeeeeeeeeeee";
    let r = run(dir.path(), Some(other));
    assert_eq!(
        r[0].result.as_ref().unwrap(),
        &Outcome::Updated {
            chunk_id: CHUNK_ID.into()
        }
    );
    let js2 = fs::read_to_string(dir.path().join("app.js")).unwrap();
    assert_eq!(js2, js.replace(RELEASE, other));
    let map: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("app.js.map")).unwrap()).unwrap();
    assert_eq!(map["mappings"], "yYAAA");
}

#[test]
fn content_hash_matches_posthog_cli() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let results = run(dir.path(), Some(RELEASE));
    let p = payload(&results[0].pair, ReleaseMode::Event, None).unwrap();
    assert_eq!(p.chunk_id, CHUNK_ID);
    // Observed from posthog-cli 0.19.0 (Appendix A.3, the with-release variant).
    assert_eq!(
        p.content_hash.as_deref(),
        Some("864680af6593d21e38a498b821feb19c11a8f72af3c56f8005c6ee048bcba341bb932e48a75e397f7071e9a83b49cba727f1ffa6a264d67fd3b8d05350247161")
    );
    // The uploaded source is the injected file; the map names the chunk.
    assert_eq!(p.source, fs::read_to_string(dir.path().join("app.js")).unwrap());
    let map: serde_json::Value = serde_json::from_slice(&p.map).unwrap();
    assert_eq!(map["chunk_id"], CHUNK_ID);

    // Another release id, and a renamed content-hashed file: the same hash.
    let dir2 = tempfile::tempdir().unwrap();
    fs::write(
        dir2.path().join("app-Xy12.js"),
        APP_JS.replace("app.js.map", "app-Xy12.js.map"),
    )
    .unwrap();
    fs::write(
        dir2.path().join("app-Xy12.js.map"),
        APP_MAP.replace("\"app.js\"", "\"app-Xy12.js\""),
    )
    .unwrap();
    let r2 = run(dir2.path(), Some("0190ffff-bbbb-7ccc-8ddd-eeeeeeeeeeee"));
    let p2 = payload(&r2[0].pair, ReleaseMode::Event, None).unwrap();
    assert_eq!(p2.content_hash, p.content_hash);
    assert_ne!(
        p2.chunk_id, p.chunk_id,
        "the chunk id covers the bytes, names included"
    );

    // The chunk-only variant hashes differently (its map positions differ).
    let dir3 = tempfile::tempdir().unwrap();
    build(dir3.path());
    let r3 = run(dir3.path(), None);
    let p3 = payload(&r3[0].pair, ReleaseMode::Event, None).unwrap();
    assert_ne!(p3.content_hash, p.content_hash);
}
