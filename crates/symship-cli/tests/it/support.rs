//! Helpers of symship-cli's tests that need the binary's own crates (the scanner, the upload
//! container) or this crate's snapshot directory; everything else is in `symship-test-support`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;
use symship_scan::{MapLocation, Pair, ReleaseMode};
use symship_test_support::Snapshots;
use symship_testserver::TestServer;

/// `tests/snapshots/` of this crate.
pub fn snapshots() -> Snapshots {
    Snapshots::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots"))
}

/// Compares `actual` with the text snapshot `tests/snapshots/cli/<name>`.
pub fn assert_snapshot(name: &str, actual: &str) {
    snapshots().assert_text(&format!("cli/{name}"), actual)
}

/// Like [`assert_snapshot`], returning the failure instead (to report several at once).
pub fn check_snapshot(name: &str, actual: &str) -> Result<(), String> {
    snapshots().check_text(&format!("cli/{name}"), actual)
}

/// Compares `actual` (already normalised) with `tests/snapshots/manage/<name>.json`.
pub fn assert_json_snapshot(name: &str, actual: &Value) {
    snapshots().assert_json(&format!("manage/{name}"), actual)
}

/// `(file, map, chunk_id, outcome)` of every chunk in a summary.
pub fn chunks(summary: &Value) -> Vec<(String, String, String, String)> {
    summary["chunks"]
        .as_array()
        .expect("chunks")
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
            (s("file"), s("map"), s("chunk_id"), s("outcome"))
        })
        .collect()
}

pub fn pair_of(file: &str, map: &str) -> Pair {
    let source = PathBuf::from(file);
    let root = source.parent().unwrap().to_owned();
    let map = if map == "inline" {
        MapLocation::Inline
    } else {
        MapLocation::File(PathBuf::from(map))
    };
    Pair::new(source, root, map)
}

/// Checks the server's state against the files: every finished symbol set (content hash set)
/// has a stored object that is exactly the container of the chunk as it is on disk (decoded
/// with the official reader: the source is the file's bytes, the map is the file's map with
/// `chunk_id` = the ref; re-encoded with the official writer: the same bytes), and the server
/// recorded no violation. Returns the refs of finished sets.
pub fn assert_server_holds_exactly(
    server: &TestServer,
    summary_chunks: &[(String, String, String, String)],
    mode: ReleaseMode,
) -> BTreeSet<String> {
    assert!(
        server.violations().is_empty(),
        "container violations: {:?}",
        server.violations()
    );
    let by_id: BTreeMap<&str, (&str, &str)> = summary_chunks
        .iter()
        .map(|(f, m, id, _)| (id.as_str(), (f.as_str(), m.as_str())))
        .collect();
    let mut finished = BTreeSet::new();
    for set in server.symbol_sets() {
        let Some(hash) = set.content_hash.as_deref() else {
            continue;
        };
        let ptr = set
            .storage_ptr
            .as_deref()
            .unwrap_or_else(|| panic!("finished set {} without storage_ptr", set.ref_));
        let object = server
            .object_bytes(ptr)
            .unwrap_or_else(|| panic!("finished set {} has no object at {ptr}", set.ref_));
        let (file, map) = by_id
            .get(set.ref_.as_str())
            .copied()
            .unwrap_or_else(|| panic!("server holds {} which no summary chunk names", set.ref_));
        let (src, map_json) = symship_upload::container::read(&object)
            .unwrap_or_else(|e| panic!("object of {} is not a SourceAndMap: {e}", set.ref_));
        assert_eq!(
            src.as_bytes(),
            std::fs::read(file).unwrap(),
            "uploaded source of {file} is the injected file"
        );
        let mut on_disk: Value = match map {
            "inline" => {
                let text = std::fs::read_to_string(file).unwrap();
                let (v, _) = symship_scan::pair::sourcemap_reference(&text).unwrap();
                serde_json::from_slice(&symship_scan::pair::decode_data_url(v).unwrap()).unwrap()
            }
            m => serde_json::from_slice(&std::fs::read(m).unwrap()).unwrap(),
        };
        on_disk["chunk_id"] = Value::String(set.ref_.clone());
        let sent: Value = serde_json::from_str(&map_json).unwrap();
        assert_eq!(sent, on_disk, "uploaded map of {file}");
        let release = set.release_id.map(|r| r.to_string());
        let payload = symship_scan::hash::payload(&pair_of(file, map), mode, release.as_deref()).unwrap();
        let expected =
            symship_upload::container::official(&payload.source, std::str::from_utf8(&payload.map).unwrap());
        assert!(
            object == expected,
            "object of {} is byte-equal to the official encoding of what symship built",
            set.ref_
        );
        match mode {
            ReleaseMode::Event => assert_eq!(Some(hash), payload.content_hash.as_deref()),
            ReleaseMode::SymbolSet => assert_eq!(hash, symship_scan::hash::sha512_hex(&[&object])),
        }
        finished.insert(set.ref_.clone());
    }
    finished
}

/// `symship sourcemap process -d dir` (plus `extra` flags) against the server, which must
/// succeed (exit 0); returns the summary.
pub fn process(server: &TestServer, cwd: &std::path::Path, dir: &std::path::Path, extra: &[&str]) -> Value {
    let r = symship_test_support::ok(
        symship_test_support::symship_for(server, cwd)
            .args(["sourcemap", "process", "-d"])
            .arg(dir)
            .args(extra)
            .args(["--output", "json"]),
        0,
    );
    r.json()
}

/// `n` small pairs `c<start>.js` .. in `dir`, each its own content (its own chunk id).
pub fn small_pairs(dir: &std::path::Path, start: usize, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for i in start..start + n {
        std::fs::write(
            dir.join(format!("c{i}.js")),
            format!("console.log({i});\n//# sourceMappingURL=c{i}.js.map\n"),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("c{i}.js.map")),
            format!(r#"{{"version":3,"sources":["c{i}.ts"],"names":[],"mappings":"AAAA"}}"#),
        )
        .unwrap();
    }
}
