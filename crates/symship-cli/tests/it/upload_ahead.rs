//! Checks sent ahead (`symship_upload::ahead`): a `process` re-run asks about the symbol sets the
//! last run in the same directories saw on the server while it scans, takes the server's answer
//! for every chunk whose entry is exactly one it asked, and checks the rest itself; a failed check
//! ahead leaves the run to check as before; a dry run asks nothing and records nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use symship_test_support::*;
use symship_testserver::{Config, FaultKind, FaultRule, TestServer};

/// chunk id -> content hash of each `bulk_check_upload` request since `from`, in order.
fn checks(server: &TestServer, from: usize) -> Vec<BTreeMap<String, String>> {
    server.requests()[from..]
        .iter()
        .filter(|r| r.route == "bulk_check_upload")
        .map(|r| {
            string_pairs(
                &r.body.as_ref().unwrap()["symbol_sets"],
                "chunk_id",
                "content_hash",
            )
        })
        .collect()
}

/// chunk id -> content hash of the finished symbol sets the server holds.
fn finished(server: &TestServer) -> BTreeMap<String, String> {
    server
        .symbol_sets()
        .into_iter()
        .filter_map(|s| Some((s.ref_, s.content_hash?)))
        .collect()
}

/// The Vite fixture build copied to `tmp/build`, and a `process` command on it with its own cache.
fn setup(tmp: &Path) -> (PathBuf, impl Fn(&TestServer, &[&str]) -> std::process::Command) {
    let (_, dist) = fixtures()
        .into_iter()
        .find(|(n, _)| n.contains("vite"))
        .expect("vite fixture");
    let dir = tmp.join("build");
    copy_dir(&dist, &dir);
    let (cwd, cache, d) = (tmp.to_owned(), tmp.join("cache"), dir.clone());
    let cmd = move |server: &TestServer, extra: &[&str]| {
        let mut c = symship_for(server, &cwd);
        c.env("SYMSHIP_CACHE_DIR", &cache)
            .args(["sourcemap", "process"])
            .args(extra)
            .arg("-d")
            .arg(&d);
        c
    };
    (dir, cmd)
}

/// The status each chunk of a JSON summary ended in, by chunk id.
fn statuses(summary: &serde_json::Value) -> BTreeMap<String, String> {
    string_pairs(&summary["chunks"], "chunk_id", "outcome")
}

#[test]
fn a_rerun_asks_ahead_takes_the_answers_and_checks_only_what_changed() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let (dir, process) = setup(tmp.path());

    let (code, summary, stderr) = run_json(&mut process(&server, &[]));
    assert_eq!(code, 0, "{stderr}");
    let first = finished(&server);
    assert!(first.len() >= 3, "{summary:#}");
    assert_eq!(summary["uploaded"].as_u64(), Some(first.len() as u64));

    // Between the runs: one map is rebuilt (its chunk keeps its chunk id, its content hash
    // changes), and one symbol set is deleted on the server.
    let map = dir.join("assets/About-Bn4C57QA.js.map");
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&map).unwrap()).unwrap();
    let changed = doc["chunk_id"]
        .as_str()
        .expect("the map carries its chunk id")
        .to_owned();
    doc["names"].as_array_mut().unwrap().push("rebuilt".into());
    std::fs::write(&map, serde_json::to_vec(&doc).unwrap()).unwrap();
    let deleted = server
        .symbol_sets()
        .into_iter()
        .find(|s| s.ref_ != changed)
        .unwrap();
    let out =
        output(symship_for(&server, tmp.path()).args(["symbol-sets", "delete", &deleted.id.to_string()]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let before = server.requests().len();
    let (code, summary, stderr) = run_json(&mut process(&server, &[]));
    assert_eq!(code, 0, "{stderr}");
    let asked = checks(&server, before);
    // One check is the one sent ahead: the last run's sets, as they were (it goes out before
    // the scan, so it is the first to arrive; the test does not rely on that).
    assert_eq!(
        asked.len(),
        2,
        "one check ahead, one for the rebuilt map: {asked:#?}"
    );
    let ahead = asked
        .iter()
        .position(|c| *c == first)
        .expect("a check asks exactly what the first run left");
    // The run asked the server itself only about the entry that changed.
    let own = &asked[1 - ahead];
    assert_eq!(own.keys().collect::<Vec<_>>(), [&changed]);
    assert_ne!(own[&changed], first[&changed]);
    assert_eq!(summary["requests"]["bulk_check_upload"], 2, "{summary:#}");

    // The deleted set (the answer ahead said "send it") and the rebuilt one are sent; the rest
    // are present; the server holds every one finished, the rebuilt one with its new content.
    let status = statuses(&summary);
    assert_eq!(status[&deleted.ref_], "uploaded", "{summary:#}");
    assert_eq!(status[&changed], "uploaded", "{summary:#}");
    let present = status.values().filter(|s| *s == "already_present").count();
    assert_eq!(present, first.len() - 2, "{summary:#}");
    let now = finished(&server);
    assert_eq!(now.len(), first.len());
    assert_eq!(now[&changed], own[&changed]);

    // A third run asks ahead what the second left and needs no check of its own.
    let before = server.requests().len();
    let (code, summary, stderr) = run_json(&mut process(&server, &[]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(checks(&server, before), [now]);
    assert!(
        statuses(&summary).values().all(|s| s == "already_present"),
        "{summary:#}"
    );
    assert!(!server.requests()[before..].iter().any(is_transfer));
}

/// A first `process` of the Vite build, then a re-run whose check ahead (the next check the
/// server gets) is answered `status`: the server, the re-run's summary, the index of its first
/// request, and the sets the first run left.
fn rerun_with_the_check_ahead_answered(
    status: u16,
) -> (TestServer, serde_json::Value, usize, BTreeMap<String, String>) {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let (_dir, process) = setup(tmp.path());
    let (code, _, stderr) = run_json(&mut process(&server, &[]));
    assert_eq!(code, 0, "{stderr}");
    let first = finished(&server);
    server.set_faults(vec![FaultRule::new(
        "bulk_check_upload",
        FaultKind::Status { status },
    )
    .first_n(1)]);
    let before = server.requests().len();
    let (code, summary, stderr) = run_json(&mut process(&server, &[]));
    assert_eq!(code, 0, "{stderr}");
    (server, summary, before, first)
}

#[test]
fn a_failed_check_ahead_leaves_the_run_to_check_for_itself() {
    let (server, summary, before, first) = rerun_with_the_check_ahead_answered(400);
    let asked = checks(&server, before);
    assert_eq!(
        asked,
        [first.clone(), first.clone()],
        "asked ahead (refused), then in the run"
    );
    assert_eq!(server.requests()[before].status, 400);
    assert!(
        statuses(&summary).values().all(|s| s == "already_present"),
        "{summary:#}"
    );
    assert_eq!(summary["failed"].as_array().map(Vec::len), Some(0), "{summary:#}");
    assert!(!server.requests()[before..].iter().any(is_transfer));
}

#[test]
fn a_dry_run_asks_nothing_ahead_and_another_directory_has_its_own_record() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let (dir, process) = setup(tmp.path());
    let (code, _, stderr) = run_json(&mut process(&server, &[]));
    assert_eq!(code, 0, "{stderr}");
    let records = || {
        std::fs::read_dir(tmp.path().join("cache/checks-ahead"))
            .unwrap()
            .count()
    };
    assert_eq!(records(), 1);

    let before = server.requests().len();
    let (code, _, stderr) = run_json(&mut process(&server, &["--dry-run"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        server.requests().len(),
        before,
        "a dry run sends nothing, ahead or not"
    );

    // The same build in another directory: its first run asks nothing ahead (one check, from
    // the run), and leaves a record of its own.
    let other = tmp.path().join("other");
    copy_dir(&dir, &other);
    let before = server.requests().len();
    let mut c = symship_for(&server, tmp.path());
    c.env("SYMSHIP_CACHE_DIR", tmp.path().join("cache"))
        .args(["sourcemap", "process", "-d"])
        .arg(&other);
    let (code, summary, stderr) = run_json(&mut c);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["requests"]["bulk_check_upload"], 1, "{summary:#}");
    assert_eq!(checks(&server, before).len(), 1);
    assert_eq!(records(), 2);
}

#[test]
fn sourcemap_upload_asks_ahead_what_the_last_process_left() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let (dir, process) = setup(tmp.path());
    let (code, _, stderr) = run_json(&mut process(&server, &[]));
    assert_eq!(code, 0, "{stderr}");
    let first = finished(&server);

    // one map rebuilt: its new entry is the only one the upload asks about itself
    let map = dir.join("assets/Report-BI3IobBN.js.map");
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&map).unwrap()).unwrap();
    let changed = doc["chunk_id"].as_str().unwrap().to_owned();
    doc["names"].as_array_mut().unwrap().push("rebuilt".into());
    std::fs::write(&map, serde_json::to_vec(&doc).unwrap()).unwrap();

    let before = server.requests().len();
    let mut upload = symship_for(&server, tmp.path());
    upload
        .env("SYMSHIP_CACHE_DIR", tmp.path().join("cache"))
        .args(["sourcemap", "upload", "-d"])
        .arg(&dir);
    let (code, summary, stderr) = run_json(&mut upload);
    assert_eq!(code, 0, "{stderr}");
    let asked = checks(&server, before);
    assert_eq!(asked.len(), 2, "{asked:#?}");
    assert!(
        asked.contains(&first),
        "the check ahead asks what process left: {asked:#?}"
    );
    let own = asked.iter().find(|c| **c != first).unwrap();
    assert_eq!(own.keys().collect::<Vec<_>>(), [&changed]);
    let status = statuses(&summary);
    assert_eq!(status[&changed], "uploaded", "{summary:#}");
    assert_eq!(
        status.values().filter(|s| *s == "already_present").count(),
        first.len() - 1
    );
    assert_eq!(finished(&server)[&changed], own[&changed]);
}

#[test]
fn a_check_ahead_answered_404_means_an_older_server_and_start_decides() {
    // as a server without bulk_check_upload answers (spec §2.2): the run asks no more checks
    let (server, summary, before, first) = rerun_with_the_check_ahead_answered(404);
    assert_eq!(
        checks(&server, before),
        std::slice::from_ref(&first),
        "only the check ahead"
    );
    let started: usize = server.requests()[before..]
        .iter()
        .filter(|r| r.route == "bulk_start_upload")
        .map(|r| r.body.as_ref().unwrap()["symbol_sets"].as_array().unwrap().len())
        .sum();
    assert_eq!(started, first.len(), "start decides for every chunk");
    let warned = summary["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w.as_str().unwrap().contains("no bulk_check_upload"))
        .count();
    assert_eq!(warned, 1, "{summary:#}");
    assert!(
        statuses(&summary).values().all(|s| s == "already_present"),
        "{summary:#}"
    );
    assert!(!server.requests()[before..].iter().any(is_transfer));
}

/// A run that waits for another run on its directories asks again once it holds them: the
/// answers it got ahead may be out of date (a fresh tester: a set deleted during the wait was
/// reported already_present, exit 0, and --delete-after removed its map).
#[test]
fn a_run_that_waited_for_the_directory_does_not_trust_its_answers_ahead() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let (dir, process) = setup(tmp.path());
    let (code, _, stderr) = run_json(&mut process(&server, &[]));
    assert_eq!(code, 0, "{stderr}");
    let first = finished(&server);

    // another run holds the directory
    let held = std::fs::File::open(&dir).unwrap();
    held.lock().unwrap();
    let before = server.requests().len();
    let mut child = process(&server, &["--output", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("Blocking") {
        let n = std::io::Read::read(&mut stderr, &mut buf).unwrap();
        assert!(n > 0, "ended without waiting: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    // its check ahead was answered (the server got it) before the set goes
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while checks(&server, before).is_empty() {
        assert!(std::time::Instant::now() < deadline, "no check ahead");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(checks(&server, before), std::slice::from_ref(&first));
    let gone = server.symbol_sets().into_iter().next().unwrap();
    let out = output(symship_for(&server, tmp.path()).args(["symbol-sets", "delete", &gone.id.to_string()]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    drop(held);

    let rest = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut s).unwrap();
        s
    });
    let out = child.wait_with_output().unwrap();
    let err = rest.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{err}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // asked again in the run, and the deleted set sent again
    assert_eq!(checks(&server, before).len(), 2, "{summary:#}");
    let status = statuses(&summary);
    assert_eq!(status[&gone.ref_], "uploaded", "{summary:#}");
    assert_eq!(finished(&server), first, "the server holds every set again");
}

/// A key the API refuses (HTTP 401) to the check sent ahead: the run sends no further API call,
/// as after its own first 401 (a fresh tester: a second check went out with the same key).
#[test]
fn a_key_refused_to_the_check_ahead_sends_nothing_more() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let (dir, process) = setup(tmp.path());
    let (code, _, stderr) = run_json(&mut process(&server, &[]));
    assert_eq!(code, 0, "{stderr}");
    let upload = |key: &str| {
        let mut c = symship_for(&server, tmp.path());
        c.env("SYMSHIP_CACHE_DIR", tmp.path().join("cache"))
            .env("POSTHOG_CLI_API_KEY", key)
            .args(["sourcemap", "upload", "-d"])
            .arg(&dir);
        c
    };
    let before = server.requests().len();
    let (code, summary, stderr) = run_json(&mut upload("phx_not_a_key_the_server_knows"));
    assert_eq!(code, 1, "{stderr}");
    let sent: Vec<_> = server.requests()[before..]
        .iter()
        .map(|r| (r.route.clone(), r.status))
        .collect();
    assert_eq!(
        sent,
        [("bulk_check_upload".to_owned(), 401)],
        "one call, the check ahead"
    );
    assert_eq!(summary["requests"]["bulk_check_upload"], 1, "{summary:#}");
    assert!(
        summary["failed"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["code"] == "authentication_failed"),
        "{summary:#}"
    );
}

/// A FIFO in place of a cache file (the record of checks ahead, the hash memo, the inject
/// ledger) is no cache: the run goes on without it instead of waiting for a writer forever (a
/// fresh tester's run hung).
#[test]
fn a_fifo_in_place_of_a_cache_file_does_not_hang_the_run() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let (_dir, process) = setup(tmp.path());
    let (code, _, stderr) = run_json(&mut process(&server, &[]));
    assert_eq!(code, 0, "{stderr}");
    let cache = tmp.path().join("cache");
    let record = std::fs::read_dir(cache.join("checks-ahead"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "bin"))
        .expect("a record");
    for f in [
        record,
        cache.join("content-hashes.json"),
        cache.join("inject-ledger.bin"),
    ] {
        std::fs::remove_file(&f).unwrap();
        let made = std::process::Command::new("mkfifo").arg(&f).status().unwrap();
        assert!(made.success(), "mkfifo {}", f.display());
    }
    let mut child = process(&server, &["--output", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the run still waits after 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        statuses(&summary).values().all(|s| s == "already_present"),
        "{summary:#}"
    );
}
