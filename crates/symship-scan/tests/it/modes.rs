//! Shared maps, symbol-set mode and stripped comments, through the library.

use std::fs;
use std::path::Path;

use symship_scan::{inject, InjectOptions, Outcome, PairResult, ReleaseMode};

fn run(dir: &Path, opts: &InjectOptions) -> Vec<PairResult> {
    inject(&crate::pairs_in(dir), opts, &())
}

fn map(dir: &Path, name: &str) -> serde_json::Value {
    serde_json::from_slice(&fs::read(dir.join(name)).unwrap()).unwrap()
}

/// Copies of one chunk sharing one map (different files sharing one are paired by
/// `shared_map`: only the one the map describes): in symbol-set mode each copy takes its own
/// chunk id, and the map is shifted once.
#[test]
fn copies_sharing_one_map_are_all_injected_and_the_map_shifted_once() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a", "b"] {
        fs::write(
            dir.path().join(format!("{name}.js")),
            "f();\n//# sourceMappingURL=shared.map\n",
        )
        .unwrap();
    }
    fs::write(
        dir.path().join("shared.map"),
        r#"{"version":3,"sources":["s.ts"],"names":[],"mappings":"AAAA"}"#,
    )
    .unwrap();
    let opts = InjectOptions {
        mode: ReleaseMode::SymbolSet,
        ..Default::default()
    };
    let r = run(dir.path(), &opts);
    assert_eq!(r.len(), 2);
    assert!(
        r.iter().all(|r| matches!(r.result, Ok(Outcome::Injected { .. }))),
        "{r:?}"
    );
    let ids: Vec<String> = r
        .iter()
        .map(|r| r.result.as_ref().unwrap().chunk_id().to_string())
        .collect();
    assert_ne!(ids[0], ids[1]);
    let m = map(dir.path(), "shared.map");
    assert_eq!(m["mappings"], "qTAAA", "shifted once, by one snippet");
    assert!(ids.contains(&m["chunk_id"].as_str().unwrap().to_string()));
    // Each chunk's upload payload names its own chunk.
    for r in &r {
        let p = symship_scan::hash::payload(&r.pair, ReleaseMode::SymbolSet, None).unwrap();
        let pm: serde_json::Value = serde_json::from_slice(&p.map).unwrap();
        assert_eq!(pm["chunk_id"].as_str(), Some(p.chunk_id.as_str()));
    }
    // Idempotent.
    let again = run(dir.path(), &opts);
    assert!(again
        .iter()
        .all(|r| matches!(r.result, Ok(Outcome::Unchanged { .. }))));
    assert_eq!(map(dir.path(), "shared.map")["mappings"], "qTAAA");
}

#[test]
fn symbol_set_mode_stamps_the_release_into_the_map_and_renews_ids_when_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    fresh(dir.path());
    let opts = |rel: &str| InjectOptions {
        mode: ReleaseMode::SymbolSet,
        release_id: Some(rel.to_string()),
        ..Default::default()
    };
    let r1 = run(dir.path(), &opts("0190aaaa-0000-7000-8000-000000000001"));
    let id1 = r1[0].result.as_ref().unwrap().chunk_id().to_string();
    assert_eq!(uuid::Uuid::parse_str(&id1).unwrap().get_version_num(), 7);
    let m = map(dir.path(), "app.js.map");
    assert_eq!(m["release_id"], "0190aaaa-0000-7000-8000-000000000001");
    assert_eq!(m["chunk_id"].as_str(), Some(id1.as_str()));
    assert_eq!(m["mappings"], "qTAAA");
    let js = fs::read_to_string(dir.path().join("app.js")).unwrap();
    assert!(
        !js.contains("_posthogReleaseId"),
        "symbol-set mode injects the chunk-only snippet"
    );

    // Same release: nothing changes.
    let r2 = run(dir.path(), &opts("0190aaaa-0000-7000-8000-000000000001"));
    assert_eq!(
        r2[0].result.as_ref().unwrap(),
        &Outcome::Unchanged {
            chunk_id: id1.clone()
        }
    );
    assert_eq!(fs::read_to_string(dir.path().join("app.js")).unwrap(), js);

    // Another release: a new UUIDv7, the old snippet and comment replaced, the map still shifted once.
    let r3 = run(dir.path(), &opts("0190aaaa-0000-7000-8000-000000000002"));
    let id3 = r3[0].result.as_ref().unwrap().chunk_id().to_string();
    assert_ne!(id3, id1);
    let js3 = fs::read_to_string(dir.path().join("app.js")).unwrap();
    assert!(!js3.contains(&id1));
    assert_eq!(js3.matches("//# chunkId=").count(), 1);
    let m = map(dir.path(), "app.js.map");
    assert_eq!(
        (m["release_id"].as_str(), m["chunk_id"].as_str()),
        (Some("0190aaaa-0000-7000-8000-000000000002"), Some(id3.as_str()))
    );
    assert_eq!(m["mappings"], "qTAAA");
}

/// In both release modes (a fresh tester: symbol-set mode counted such a chunk "already
/// injected" and left the comment out, though the README says it is restored).
#[test]
fn a_stripped_chunk_id_comment_is_recognised_by_the_snippet_and_restored() {
    for mode in [ReleaseMode::Event, ReleaseMode::SymbolSet] {
        let dir = tempfile::tempdir().unwrap();
        fresh(dir.path());
        let opts = InjectOptions {
            mode,
            ..Default::default()
        };
        let r = run(dir.path(), &opts);
        let id = r[0].result.as_ref().unwrap().chunk_id().to_string();
        let injected = fs::read_to_string(dir.path().join("app.js")).unwrap();
        let mapped = fs::read(dir.path().join("app.js.map")).unwrap();
        // A minifier (Vite 8 / Oxc) drops the comment but keeps the snippet.
        let stripped = injected.replace(&format!("\n//# chunkId={id}"), "");
        assert_ne!(stripped, injected);
        fs::write(dir.path().join("app.js"), &stripped).unwrap();
        let r = run(dir.path(), &opts);
        assert_eq!(
            r[0].result.as_ref().unwrap(),
            &Outcome::Updated { chunk_id: id.clone() },
            "{mode:?}"
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("app.js")).unwrap(),
            injected,
            "{mode:?}: only the comment came back"
        );
        assert_eq!(
            map(dir.path(), "app.js.map")["mappings"],
            "qTAAA",
            "{mode:?}: the map was not shifted again"
        );
        assert_eq!(
            fs::read(dir.path().join("app.js.map")).unwrap(),
            mapped,
            "{mode:?}"
        );
        // and a run over what it left changes nothing
        let r = run(dir.path(), &opts);
        assert_eq!(
            r[0].result.as_ref().unwrap(),
            &Outcome::Unchanged { chunk_id: id },
            "{mode:?}"
        );
    }
}

/// Counts the room inject asks for.
#[derive(Debug, Default)]
struct Counted(std::sync::Mutex<Vec<usize>>);

impl symship_scan::Handover for Counted {
    fn reserve(&self, n: usize) {
        self.0.lock().unwrap().push(n);
    }
}

/// `inject_each` (what `process` hands to its upload) gives each pair's result once, with the
/// pair's index, after asking for room for each group: two chunks sharing a map as one group of
/// two, a chunk with its own map and one with an inline map as groups of one.
#[test]
fn inject_each_hands_over_every_pair_once_after_room_for_its_group() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a", "b"] {
        fs::write(
            dir.path().join(format!("{name}.js")),
            "f();\n//# sourceMappingURL=shared.map\n",
        )
        .unwrap();
    }
    let map = r#"{"version":3,"sources":["s.ts"],"names":[],"mappings":"AAAA"}"#;
    fs::write(dir.path().join("shared.map"), map).unwrap();
    fs::write(dir.path().join("c.js"), "g();\n//# sourceMappingURL=c.js.map\n").unwrap();
    fs::write(dir.path().join("c.js.map"), map).unwrap();
    use base64::Engine as _;
    let inline = base64::engine::general_purpose::STANDARD.encode(map);
    fs::write(
        dir.path().join("d.js"),
        format!("h();\n//# sourceMappingURL=data:application/json;base64,{inline}\n"),
    )
    .unwrap();
    let pairs = crate::pairs_in(dir.path());
    assert_eq!(pairs.len(), 4);
    let room = std::sync::Arc::new(Counted::default());
    let opts = InjectOptions {
        handover: Some(room.clone()),
        ..Default::default()
    };
    let seen = std::sync::Mutex::new(Vec::new());
    symship_scan::inject_each(&pairs, &opts, &|i, r| {
        assert_eq!(r.pair.source, pairs[i].source, "the index names the pair");
        assert!(matches!(r.result, Ok(Outcome::Injected { .. })), "{r:?}");
        seen.lock().unwrap().push(i);
    });
    let mut seen = seen.into_inner().unwrap();
    seen.sort();
    assert_eq!(seen, vec![0, 1, 2, 3], "each pair once");
    let mut asked = room.0.lock().unwrap().clone();
    asked.sort();
    assert_eq!(asked, vec![1, 1, 2], "one reservation per group, of its size");
}

const FRESH_JS: &str = "console.log(1);\n//# sourceMappingURL=app.js.map\n";
const FRESH_MAP: &str = r#"{"version":3,"sources":["a.ts"],"names":[],"mappings":"AAAA"}"#;

fn fresh(dir: &Path) {
    fs::write(dir.join("app.js"), FRESH_JS).unwrap();
    fs::write(dir.join("app.js.map"), FRESH_MAP).unwrap();
}

/// The chunk id the chunk on disk registers.
fn registered(dir: &Path) -> String {
    let js = fs::read_to_string(dir.join("app.js")).unwrap();
    symship_scan::chunk::existing(&js).unwrap().chunk_id
}

/// The bundler writes the map again (not the chunk): the map beside an injected chunk names no
/// chunk id and its positions are for the code without the snippet. Inject shifts it as a first
/// stamp does (it was given the chunk id and sent unshifted: every column on the snippet's line
/// off by its length), in both modes.
#[test]
fn a_fresh_map_beside_an_injected_chunk_is_shifted() {
    let sym = |rel: &str| InjectOptions {
        mode: ReleaseMode::SymbolSet,
        release_id: Some(rel.to_string()),
        ..Default::default()
    };
    for opts in [
        InjectOptions::default(),
        sym("0190aaaa-0000-7000-8000-000000000001"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        fresh(dir.path());
        run(dir.path(), &opts);
        let stamped = map(dir.path(), "app.js.map");
        assert_eq!(stamped["mappings"], "qTAAA", "{:?}", opts.mode);
        fs::write(dir.path().join("app.js.map"), FRESH_MAP).unwrap();
        let r = run(dir.path(), &opts);
        assert!(matches!(r[0].result, Ok(Outcome::Updated { .. })), "{r:?}");
        let again = map(dir.path(), "app.js.map");
        assert_eq!(
            again["mappings"], "qTAAA",
            "{:?}: shifted once, by the snippet",
            opts.mode
        );
        assert_eq!(again["chunk_id"].as_str(), Some(registered(dir.path()).as_str()));
        // and the next run has nothing to do
        let r = run(dir.path(), &opts);
        assert!(matches!(r[0].result, Ok(Outcome::Unchanged { .. })), "{r:?}");
    }
}

/// The opposite case: this chunk's shifted map written again by a tool that drops the members it
/// does not know (a fresh tester: `source-map`'s `SourceMapGenerator.fromSourceMap`), so it names
/// no chunk id though its positions are for the chunk with its snippet. It is not shifted a second
/// time (it was: every position on the snippet's line off by the snippet's length, and the broken
/// map uploaded over the good one), in both modes, whether the next run is `inject` or `process`.
#[test]
fn a_shifted_map_written_again_without_its_chunk_id_is_not_shifted_twice() {
    let sym = |rel: &str| InjectOptions {
        mode: ReleaseMode::SymbolSet,
        release_id: Some(rel.to_string()),
        ..Default::default()
    };
    for opts in [
        InjectOptions::default(),
        sym("0190aaaa-0000-7000-8000-000000000001"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        fresh(dir.path());
        run(dir.path(), &opts);
        let stamped = map(dir.path(), "app.js.map");
        assert_eq!(stamped["mappings"], "qTAAA", "{:?}", opts.mode);
        let rewritten = format!(
            r#"{{"version":3,"sources":["a.ts"],"names":[],"mappings":{}}}"#,
            stamped["mappings"]
        );
        fs::write(dir.path().join("app.js.map"), rewritten).unwrap();
        let r = run(dir.path(), &opts);
        assert!(r[0].result.is_ok(), "{r:?}");
        let again = map(dir.path(), "app.js.map");
        assert_eq!(
            again["mappings"], "qTAAA",
            "{:?}: still shifted once, by the snippet",
            opts.mode
        );
        assert_eq!(again["chunk_id"].as_str(), Some(registered(dir.path()).as_str()));
        let r = run(dir.path(), &opts);
        assert!(matches!(r[0].result, Ok(Outcome::Unchanged { .. })), "{r:?}");
    }
}

/// The same for an index map (`sections`): after inject its section starts after the snippet;
/// with `chunk_id` dropped by another tool, a re-run leaves the offset where it is (it was moved
/// by the snippet's length again, and every token on the line resolved to nothing; fresh tester).
#[test]
fn an_index_map_written_again_without_its_chunk_id_is_not_shifted_twice() {
    let offset = |m: &serde_json::Value| m["sections"][0]["offset"]["column"].as_u64().unwrap();
    for opts in [
        InjectOptions::default(),
        InjectOptions {
            mode: ReleaseMode::SymbolSet,
            release_id: Some("0190aaaa-0000-7000-8000-000000000001".into()),
            ..Default::default()
        },
    ] {
        let dir = tempfile::tempdir().unwrap();
        fresh(dir.path());
        let index =
            format!(r#"{{"version":3,"sections":[{{"offset":{{"line":0,"column":0}},"map":{FRESH_MAP}}}]}}"#);
        fs::write(dir.path().join("app.js.map"), index).unwrap();
        run(dir.path(), &opts);
        let mut stamped = map(dir.path(), "app.js.map");
        let shifted = offset(&stamped);
        assert!(shifted > 0, "{:?}: the section moved past the snippet", opts.mode);
        stamped.as_object_mut().unwrap().remove("chunk_id");
        fs::write(dir.path().join("app.js.map"), stamped.to_string()).unwrap();
        let r = run(dir.path(), &opts);
        assert!(r[0].result.is_ok(), "{r:?}");
        let again = map(dir.path(), "app.js.map");
        assert_eq!(
            offset(&again),
            shifted,
            "{:?}: moved once, by the snippet",
            opts.mode
        );
        if opts.mode == ReleaseMode::Event {
            assert_eq!(again["chunk_id"].as_str(), Some(registered(dir.path()).as_str()));
        }
    }
}

/// A map stamped by an earlier run whose chunk was not (a run killed between its map and its
/// chunk, then run again with another release or mode): the chunk takes a new id, and the map
/// on disk names that id too, not the old one (the server got the new one, the disk the old).
#[test]
fn a_stamped_map_beside_a_fresh_chunk_takes_the_chunk_s_new_id() {
    let sym = |rel: &str| InjectOptions {
        mode: ReleaseMode::SymbolSet,
        release_id: Some(rel.to_string()),
        ..Default::default()
    };
    for second in [
        InjectOptions::default(),
        sym("0190aaaa-0000-7000-8000-000000000002"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        fresh(dir.path());
        run(dir.path(), &sym("0190aaaa-0000-7000-8000-000000000001"));
        let old = map(dir.path(), "app.js.map")["chunk_id"]
            .as_str()
            .unwrap()
            .to_string();
        fs::write(dir.path().join("app.js"), FRESH_JS).unwrap();
        run(dir.path(), &second);
        let id = registered(dir.path());
        let m = map(dir.path(), "app.js.map");
        assert_ne!(id, old, "{:?}", second.mode);
        assert_eq!(m["chunk_id"].as_str(), Some(id.as_str()), "{:?}", second.mode);
        assert_eq!(m["mappings"], "qTAAA", "{:?}: still shifted once", second.mode);
        let r = run(dir.path(), &second);
        assert_eq!(
            r[0].result.as_ref().unwrap(),
            &Outcome::Unchanged { chunk_id: id },
            "{:?}",
            second.mode
        );
    }
}
