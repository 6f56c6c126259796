//! The content-hash cache (`SYMSHIP_CACHE_DIR`): a re-run serves hashes from it and sends
//! exactly what a run without it sends; a changed file is hashed again whatever its size and
//! mtime; a broken cache file is ignored; `SYMSHIP_NO_CACHE=1` writes none.

use std::collections::BTreeMap;
use std::path::Path;

use symship_scan::ReleaseMode;
use symship_test_support::*;
use symship_testserver::{Config, TestServer};

use crate::support::*;

/// chunk id -> content hash, as sent in the server's `bulk_check_upload` requests since `from`.
fn checked_hashes(server: &TestServer, from: usize) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for r in &server.requests()[from..] {
        if r.route != "bulk_check_upload" {
            continue;
        }
        out.extend(string_pairs::<Vec<_>>(
            &r.body.as_ref().unwrap()["symbol_sets"],
            "chunk_id",
            "content_hash",
        ));
    }
    out
}

fn cache_entries(dir: &Path) -> usize {
    let text = std::fs::read_to_string(dir.join("content-hashes.json")).expect("the cache was written");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["entries"].as_object().unwrap().len()
}

/// The Vite fixture build, copied to `tmp/<name>`.
fn vite_copy(tmp: &Path, name: &str) -> std::path::PathBuf {
    let (_, dist) = fixtures()
        .into_iter()
        .find(|(n, _)| n.contains("vite"))
        .expect("vite fixture");
    let dir = tmp.join(name);
    copy_dir(&dist, &dir);
    dir
}

#[test]
fn a_rerun_hashes_from_the_cache_and_sends_what_an_uncached_run_sends() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let dir = vite_copy(tmp.path(), "vite");
    let with_cache = |args: &[&str]| {
        let mut c = symship_for(&server, tmp.path());
        c.env("SYMSHIP_CACHE_DIR", &cache).args(args).arg(&dir);
        c
    };

    let (code, summary, stderr) = run_json(&mut with_cache(&["sourcemap", "process", "-d"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["hashes_from_cache"], 0);
    let uploaded = summary["uploaded"].as_u64().unwrap() as usize;
    assert!(uploaded >= 2, "{summary:#}");
    assert_eq!(cache_entries(&cache), uploaded, "one entry per hashed pair");
    let cold = checked_hashes(&server, 0);
    assert_eq!(cold.len(), uploaded);

    // The re-run's hashes come from the cache, and are the same.
    let before = server.requests().len();
    let (code, summary, stderr) = run_json(&mut with_cache(&["sourcemap", "upload", "-d"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["uploaded"], 0);
    assert_eq!(
        summary["hashes_from_cache"].as_u64(),
        Some(uploaded as u64),
        "{summary:#}"
    );
    assert_eq!(checked_hashes(&server, before), cold);
    assert!(!server.requests()[before..].iter().any(is_transfer));

    // Change one map without changing its size, and give it back its mtime: the cache is keyed
    // by content, so the pair is hashed again and sent.
    let mut maps: Vec<_> = std::fs::read_dir(dir.join("assets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "map"))
        .collect();
    maps.sort();
    let map = maps[0].clone();
    let mtime = std::fs::metadata(&map).unwrap().modified().unwrap();
    let text = std::fs::read_to_string(&map).unwrap();
    // The first letter of the first name.
    let at = text.find("\"names\":[\"").expect("names") + 10;
    let c = text.as_bytes()[at];
    let swapped = if c == b'x' { "y" } else { "x" };
    let changed = format!("{}{}{}", &text[..at], swapped, &text[at + 1..]);
    assert_eq!(changed.len(), text.len());
    std::fs::write(&map, &changed).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&map)
        .unwrap()
        .set_modified(mtime)
        .unwrap();

    let before = server.requests().len();
    let (code, summary, stderr) = run_json(&mut with_cache(&["sourcemap", "upload", "-d"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        summary["uploaded"], 1,
        "exactly the changed pair is sent: {summary:#}"
    );
    assert_eq!(summary["hashes_from_cache"].as_u64(), Some(uploaded as u64 - 1));
    let cached_run = checked_hashes(&server, before);
    let differing: Vec<_> = cached_run
        .iter()
        .filter(|(id, h)| cold.get(*id) != Some(h))
        .collect();
    assert_eq!(differing.len(), 1, "{differing:?}");
    assert_server_holds_exactly(&server, &chunks(&summary), ReleaseMode::Event);

    // Without the cache, the same hashes (computed from scratch), and no cache file written.
    let bare_cache = tmp.path().join("unused-cache");
    let before = server.requests().len();
    let (code, _, stderr) = run_json(
        symship_for(&server, tmp.path())
            .env("SYMSHIP_CACHE_DIR", &bare_cache)
            .env("SYMSHIP_NO_CACHE", "1")
            .args(["sourcemap", "upload", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(checked_hashes(&server, before), cached_run);
    assert!(!bare_cache.exists(), "SYMSHIP_NO_CACHE=1 writes no cache");

    // A broken cache file is ignored (and replaced).
    std::fs::write(
        cache.join("content-hashes.json"),
        "{\"format\": 7, \"entries\": [",
    )
    .unwrap();
    let before = server.requests().len();
    let (code, _, stderr) = run_json(&mut with_cache(&["sourcemap", "upload", "-d"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(checked_hashes(&server, before), cached_run);
    assert_eq!(cache_entries(&cache), uploaded);
}

/// A first run that meets a byte-identical copy of a pair (same chunk, same map, in another
/// folder) hashes it once and reuses the hash, but serves nothing from the cache: the count is of
/// hashes an earlier run computed (a fresh tester's D9: it said 1 on a first run). The re-run
/// serves both from the cache.
#[test]
fn a_copy_met_on_a_first_run_is_no_hash_from_the_cache() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let dir = vite_copy(tmp.path(), "build");
    let mut maps: Vec<_> = std::fs::read_dir(dir.join("assets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "map"))
        .collect();
    maps.sort();
    let map = maps[0].clone();
    let chunk = map.with_extension("");
    assert!(chunk.is_file(), "{}", chunk.display());
    let copy = dir.join("copy");
    std::fs::create_dir(&copy).unwrap();
    std::fs::copy(&chunk, copy.join(chunk.file_name().unwrap())).unwrap();
    std::fs::copy(&map, copy.join(map.file_name().unwrap())).unwrap();
    let with_cache = |args: &[&str]| {
        let mut c = symship_for(&server, tmp.path());
        c.env("SYMSHIP_CACHE_DIR", &cache).args(args).arg(&dir);
        c
    };

    let (code, summary, stderr) = run_json(&mut with_cache(&["sourcemap", "process", "-d"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["hashes_from_cache"], 0, "{summary:#}");
    let chunks = summary["chunks"].as_array().unwrap();
    let copies: Vec<_> = chunks
        .iter()
        .filter(|c| {
            c["file"]
                .as_str()
                .unwrap()
                .ends_with(chunk.file_name().unwrap().to_str().unwrap())
        })
        .collect();
    assert_eq!(copies.len(), 2, "{summary:#}");
    assert_eq!(
        copies[0]["chunk_id"], copies[1]["chunk_id"],
        "copies share their chunk id"
    );
    let n = chunks.len() as u64;

    let (code, summary, stderr) = run_json(&mut with_cache(&["sourcemap", "process", "-d"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["hashes_from_cache"].as_u64(), Some(n), "{summary:#}");
}

/// `process` records the stamps of the pairs it leaves (the inject ledger, beside the memo):
/// a re-run of the unchanged build reads none of them and sends nothing, and a map changed in
/// place with its size and mtime kept is read again and exactly that pair is sent.
#[test]
fn process_reruns_skip_reading_pairs_left_as_recorded_and_read_a_changed_one() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let dir = vite_copy(tmp.path(), "vite");
    let process = || {
        let mut c = symship_for(&server, tmp.path());
        c.env("SYMSHIP_CACHE_DIR", &cache)
            .args(["-v", "sourcemap", "process", "-d"])
            .arg(&dir);
        c
    };
    let (code, summary, stderr) = run_json(&mut process());
    assert_eq!(code, 0, "{stderr}");
    let uploaded = summary["uploaded"].as_u64().unwrap();
    assert!(uploaded >= 2, "{summary:#}");
    let ledger = std::fs::read(cache.join("inject-ledger.bin")).unwrap();
    let header = ledger.iter().position(|&b| b == b'\n').unwrap() + 1;
    assert_eq!(
        ((ledger.len() - header) / symship_scan::ledger::RECORD) as u64,
        uploaded,
        "one entry per pair with a map of its own"
    );
    assert!(
        stderr.contains("0 pair(s) left as the last run recorded them"),
        "{stderr}"
    );
    let cold = checked_hashes(&server, 0);

    let before = server.requests().len();
    let (code, summary, stderr) = run_json(&mut process());
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["unchanged"].as_u64(), Some(uploaded), "{summary:#}");
    assert_eq!(summary["uploaded"], 0);
    assert!(
        stderr.contains(&format!("{uploaded} pair(s) left as the last run recorded them")),
        "{stderr}"
    );
    assert_eq!(
        checked_hashes(&server, before),
        cold,
        "the same hashes, from the ledger's digests"
    );
    assert!(!server.requests()[before..].iter().any(is_transfer));

    // One map changed in place, size and mtime kept.
    let mut maps: Vec<_> = std::fs::read_dir(dir.join("assets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "map"))
        .collect();
    maps.sort();
    let map = maps[0].clone();
    let mtime = std::fs::metadata(&map).unwrap().modified().unwrap();
    let text = std::fs::read_to_string(&map).unwrap();
    let at = text.find("\"names\":[\"").expect("names") + 10;
    let swapped = if text.as_bytes()[at] == b'x' { "y" } else { "x" };
    let changed = format!("{}{}{}", &text[..at], swapped, &text[at + 1..]);
    assert_eq!(changed.len(), text.len());
    std::fs::write(&map, &changed).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&map)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let before = server.requests().len();
    let (code, summary, stderr) = run_json(&mut process());
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        summary["uploaded"], 1,
        "exactly the changed pair is sent: {summary:#}"
    );
    assert!(
        stderr.contains(&format!(
            "{} pair(s) left as the last run recorded them",
            uploaded - 1
        )),
        "{stderr}"
    );
    let rerun = checked_hashes(&server, before);
    assert_eq!(rerun.iter().filter(|(id, h)| cold.get(*id) != Some(h)).count(), 1);
    assert_server_holds_exactly(&server, &chunks(&summary), ReleaseMode::Event);
}

/// The cache's place: `XDG_CACHE_HOME` only when absolute (the XDG spec: a relative value is
/// ignored; a tester's relative value put a cache under each working directory), else
/// `~/.cache/symship`.
#[test]
fn a_relative_xdg_cache_home_is_ignored() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let dir = vite_copy(tmp.path(), "vite");
    let run = |xdg: &std::ffi::OsStr| {
        let mut c = symship_for(&server, tmp.path());
        c.env_remove("SYMSHIP_CACHE_DIR")
            .env("HOME", &home)
            .env("XDG_CACHE_HOME", xdg)
            .args(["sourcemap", "process", "-d"])
            .arg(&dir);
        run_json(&mut c)
    };
    let (code, _, stderr) = run(std::ffi::OsStr::new("relcache"));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        !tmp.path().join("relcache").exists(),
        "no cache under the working directory"
    );
    assert!(home.join(".cache/symship/content-hashes.json").is_file());
    assert!(home.join(".cache/symship/inject-ledger.bin").is_file());
    let xdg = tmp.path().join("xdg");
    let (code, _, stderr) = run(xdg.as_os_str());
    assert_eq!(code, 0, "{stderr}");
    assert!(
        xdg.join("symship/content-hashes.json").is_file(),
        "an absolute one is used"
    );
}
