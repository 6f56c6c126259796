//! React Native's Metro bundles (`hermes inject`, spec `kinds-and-explain.md` §1.4): which files
//! the walk takes, how they pair with Metro's packager map, and the injection on the real Metro
//! 0.87.1 build in `fixtures/hermes/` against what posthog-cli 0.19.0 wrote on it
//! (`fixtures/hermes/posthog-cli-0.19.0/inject/`).

use std::fs;
use std::path::{Path, PathBuf};

use sourcemap::{DecodedMap, SourceMap};
use symship_scan::{
    inject, pair_all, select_matching, InjectOptions, MapLocation, Matcher, Outcome, PairResult, ReleaseMode,
    Selection, SkipReason,
};

fn hermes_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/hermes")
        .join(name)
}

/// A copy of `fixtures/hermes/<name>/` in a fresh temporary directory.
fn copy_of(name: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for e in fs::read_dir(hermes_fixture(name)).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), d.path().join(e.file_name())).unwrap();
    }
    d
}

fn selection(root: &Path) -> Selection {
    Selection {
        roots: vec![root.to_path_buf()],
        ..Default::default()
    }
}

fn found(sel: &Selection, matcher: Matcher, root: &Path) -> Vec<String> {
    let (found, skipped) = select_matching(sel, matcher).unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    let root = root.canonicalize().unwrap();
    let mut v: Vec<String> = found
        .iter()
        .map(|c| c.path.strip_prefix(&root).unwrap().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn the_metro_matcher_takes_bundle_and_jsbundle_files_only() {
    let d = crate::tree_of(&[
        "android/index.android.bundle",
        "android/index.android.bundle.map",
        "android/index.android.bundle.hbc",
        "ios/main.jsbundle",
        "ios/main.jsbundle.map",
        "web/app.js",
        "web/app.mjs",
        "notes.bundle.txt",
    ]);
    let sel = selection(d.path());
    assert_eq!(
        found(&sel, Matcher::MetroBundle, d.path()),
        ["android/index.android.bundle", "ios/main.jsbundle"]
    );
    assert_eq!(
        found(&sel, Matcher::JavaScript, d.path()),
        ["web/app.js", "web/app.mjs"]
    );
    // A bundle named on its own (`-d FILE`) is taken by the Metro matcher only.
    let one = selection(&d.path().join("ios/main.jsbundle"));
    assert_eq!(found(&one, Matcher::MetroBundle, d.path()), ["ios/main.jsbundle"]);
    assert!(found(&one, Matcher::JavaScript, d.path()).is_empty());
}

fn pairs_of(dir: &Path) -> (Vec<symship_scan::Pair>, Vec<symship_scan::Skipped>) {
    let (cands, skipped) = select_matching(&selection(dir), Matcher::MetroBundle).unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    pair_all(cands, None, symship_scan::read_source)
}

#[test]
fn a_metro_bundle_pairs_with_the_packager_map_its_comment_names_else_bundle_dot_map() {
    let d = copy_of("plain");
    let (pairs, skipped) = pairs_of(d.path());
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(pairs.len(), 1);
    let want = d
        .path()
        .join("index.android.bundle.packager.map")
        .canonicalize()
        .unwrap();
    assert_eq!(pairs[0].map, MapLocation::File(want));

    // iOS: no sourceMappingURL comment, the map next to the bundle as `<bundle>.map`.
    let ios = tempfile::tempdir().unwrap();
    let bundle = fs::read_to_string(d.path().join("index.android.bundle")).unwrap();
    let cut = bundle.rfind("//# sourceMappingURL=").unwrap();
    fs::write(ios.path().join("main.jsbundle"), &bundle[..cut]).unwrap();
    fs::copy(
        d.path().join("index.android.bundle.packager.map"),
        ios.path().join("main.jsbundle.map"),
    )
    .unwrap();
    let (pairs, skipped) = pairs_of(ios.path());
    assert!(skipped.is_empty(), "{skipped:?}");
    let want = ios.path().join("main.jsbundle.map").canonicalize().unwrap();
    assert_eq!(pairs[0].map, MapLocation::File(want));
}

#[test]
fn a_bundle_hermesc_already_compiled_is_skipped_as_not_utf8_naming_hermes_bytecode() {
    // What a Gradle build leaves: hermesc's bytecode moved over the bundle, the map beside it.
    let d = copy_of("plain");
    fs::rename(
        d.path().join("index.android.bundle.hbc"),
        d.path().join("index.android.bundle"),
    )
    .unwrap();
    let (pairs, skipped) = pairs_of(d.path());
    assert!(pairs.is_empty(), "{pairs:?}");
    assert_eq!(skipped.len(), 1);
    // code not_utf8, and the words say it is bytecode and when inject runs (a fresh user's
    // finding 9, session 9: it said "JavaScript chunks must be UTF-8")
    assert!(
        matches!(skipped[0].reason, SkipReason::HermesBytecode),
        "{skipped:?}"
    );
    assert_eq!(skipped[0].reason.code().as_str(), "not_utf8");
    let words = skipped[0].reason.to_string();
    assert!(
        words.contains("Hermes bytecode") && words.contains("before hermesc"),
        "{words}"
    );
}

fn run(dir: &Path, opts: &InjectOptions) -> Vec<PairResult> {
    let (pairs, skipped) = pairs_of(dir);
    assert!(skipped.is_empty(), "{skipped:?}");
    inject(&pairs, opts, &())
}

/// A map as the `sourcemap` crate reads it, index maps flattened (as cymbal's cache writer does).
fn flat(path: &Path) -> SourceMap {
    match sourcemap::decode_slice(&fs::read(path).unwrap()).unwrap() {
        DecodedMap::Regular(sm) => sm,
        DecodedMap::Index(smi) => smi.flatten().unwrap(),
        DecodedMap::Hermes(smh) => (*smh).clone(),
    }
}

type Original = Option<(Option<String>, u32, u32, Option<String>)>;

fn original(sm: &SourceMap, line: u32, col: u32) -> Original {
    let t = sm.lookup_token(line, col)?;
    Some((
        t.get_source().map(str::to_owned),
        t.get_src_line(),
        t.get_src_col(),
        t.get_name().map(str::to_owned),
    ))
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

/// posthog-cli 0.19.0's chunk id for `fixtures/hermes/plain/index.android.bundle` (UUIDv5 of its bytes).
const PLAIN_CHUNK_ID: &str = "b096017c-83db-5f65-a307-2c2c4281afc7";

#[test]
fn event_mode_injects_the_bundle_as_posthog_cli_does_and_keeps_metros_index_map() {
    let d = copy_of("plain");
    let before = flat(&d.path().join("index.android.bundle.packager.map"));
    let results = run(d.path(), &InjectOptions::default());
    assert_eq!(
        results[0].result.as_ref().unwrap(),
        &Outcome::Injected {
            chunk_id: PLAIN_CHUNK_ID.into()
        }
    );
    // The bundle: byte for byte what posthog-cli 0.19.0 wrote (snippet first, comment last).
    let recorded = hermes_fixture("posthog-cli-0.19.0/inject/after");
    assert_eq!(
        fs::read(d.path().join("index.android.bundle")).unwrap(),
        fs::read(recorded.join("index.android.bundle")).unwrap()
    );
    // The map keeps Metro's sections and function maps (posthog-cli flattens it and drops them)
    // and gains the chunk id.
    let map_path = d.path().join("index.android.bundle.packager.map");
    let map = json(&map_path);
    assert_eq!(map["chunk_id"], PLAIN_CHUNK_ID);
    let sections = map["sections"].as_array().unwrap();
    assert_eq!(sections.len(), 6);
    assert!(sections
        .iter()
        .skip(1)
        .all(|s| s["map"]["x_facebook_sources"].is_array()));
    assert!(json(&recorded.join("index.android.bundle.packager.map"))
        .get("sections")
        .is_none());

    // Every position maps where it mapped before injection (line 1 moved right by the snippet),
    // and where posthog-cli's flattened map maps it.
    let after = flat(&map_path);
    let theirs = flat(&recorded.join("index.android.bundle.packager.map"));
    let bundle = fs::read_to_string(d.path().join("index.android.bundle")).unwrap();
    let snippet_len = bundle.find("var __BUNDLE_START_TIME__").unwrap() as u32;
    assert!(snippet_len > 0);
    let mut checked = 0;
    for t in before.tokens() {
        let (line, col) = t.get_dst();
        let moved = if line == 0 { col + snippet_len } else { col };
        let want = original(&before, line, col);
        assert_eq!(original(&after, line, moved), want, "token at {line}:{col}");
        assert_eq!(
            original(&theirs, line, moved),
            want,
            "posthog-cli's map at {line}:{col}"
        );
        checked += 1;
    }
    assert!(checked > 100, "{checked} tokens");

    // A second run finds everything right and writes nothing.
    let bytes = fs::read(&map_path).unwrap();
    let again = run(d.path(), &InjectOptions::default());
    assert_eq!(
        again[0].result.as_ref().unwrap(),
        &Outcome::Unchanged {
            chunk_id: PLAIN_CHUNK_ID.into()
        }
    );
    assert_eq!(fs::read(&map_path).unwrap(), bytes);
}

#[test]
fn a_bundle_posthog_react_natives_serializer_stamped_is_left_alone() {
    // posthog-react-native's Metro serializer wrote `//# chunkId=` into the bundle and `chunkId`
    // into the packager map: the chunk id is kept and nothing is written.
    let d = copy_of("posthog");
    let bundle = fs::read(d.path().join("index.android.bundle")).unwrap();
    let map = fs::read(d.path().join("index.android.bundle.packager.map")).unwrap();
    let results = run(d.path(), &InjectOptions::default());
    assert_eq!(
        results[0].result.as_ref().unwrap(),
        &Outcome::Unchanged {
            chunk_id: "9d56951e-981d-4597-990e-2402c3b1d1a8".into()
        }
    );
    assert_eq!(fs::read(d.path().join("index.android.bundle")).unwrap(), bundle);
    assert_eq!(
        fs::read(d.path().join("index.android.bundle.packager.map")).unwrap(),
        map
    );
}

#[test]
fn symbol_set_mode_stamps_the_release_into_the_packager_map_only() {
    let d = copy_of("plain");
    let release = "0190d2c4-1b2a-7cc3-9a4e-5f6a7b8c9d0e";
    let opts = InjectOptions {
        mode: ReleaseMode::SymbolSet,
        release_id: Some(release.into()),
        ..Default::default()
    };
    let results = run(d.path(), &opts);
    let Ok(Outcome::Injected { chunk_id }) = &results[0].result else {
        panic!("{:?}", results[0].result)
    };
    assert_eq!(uuid::Uuid::parse_str(chunk_id).unwrap().get_version_num(), 7);
    let map = json(&d.path().join("index.android.bundle.packager.map"));
    assert_eq!(map["release_id"], release);
    assert_eq!(map["chunk_id"], chunk_id.as_str());
    assert!(map["sections"].is_array());
    let bundle = fs::read_to_string(d.path().join("index.android.bundle")).unwrap();
    assert!(
        bundle.ends_with(&format!("\n//# chunkId={chunk_id}")),
        "{}",
        &bundle[bundle.len() - 120..]
    );
    assert!(
        !bundle.contains(release),
        "the release is in the map, not the bundle"
    );
}
