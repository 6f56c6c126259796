//! API calls of a large build against PostHog's throttle, and `process` uploading while inject
//! is still writing: counted at the server, never timed.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use symship_test_support::{generate_tiny, run_json, server, symship_for};
use symship_testserver::{TestServer, Throttle};

/// Calls per route the server answered for the symbol-set API.
fn api_calls(server: &TestServer, route: &str) -> Vec<usize> {
    server
        .requests()
        .iter()
        .filter(|r| r.server == "api" && r.route == route)
        .map(|r| {
            let b = r.body.as_ref().expect("a JSON body");
            b.get("symbol_sets")
                .or_else(|| b.get("content_hashes"))
                .map_or(0, |v| {
                    v.as_array()
                        .map_or_else(|| v.as_object().map_or(0, |o| o.len()), |a| a.len())
                })
        })
        .collect()
}

/// A build of 3,000 chunks against PostHog's throttle scaled to it (3,000 / 50,000 of 1,200 per
/// minute and 12,000 per hour: 72/minute, 720/hour), as a 50,000-chunk build meets the real one.
/// Checks and starts grow 50, 100, 200, 400, 800, 1,000 (`symship_upload::batch`): at most 7 of
/// each and as many finishes, 21 calls, no 429. posthog-cli's batches of 50 make 3 + 60 + 60 = 123 calls,
/// past the minute's 72.
#[test]
fn a_large_build_stays_under_the_throttle_with_growing_batches() {
    let server = server();
    server.set_throttle(Some("72/minute,720/hour".parse::<Throttle>().unwrap()));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("build");
    generate_tiny(&dir, 3000, "pace");
    let mut cmd = symship_for(&server, tmp.path());
    cmd.args(["sourcemap", "process", "-d"]).arg(&dir);
    let (code, s, stderr) = run_json(&mut cmd);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(s["uploaded"], 3000, "{:#}", s["failed"]);
    let finished = server
        .symbol_sets()
        .iter()
        .filter(|s| s.content_hash.is_some())
        .count();
    assert_eq!(finished, 3000);
    let load = server.load();
    assert_eq!(load.throttled, 0, "429s ({} API calls)", load.api_requests);
    // at most the growing schedule's 7 batches of each (a check also takes the chunks already
    // waiting, up to 1,000, so a batch may be larger than its step and there may be fewer);
    // starts and finishes of successive batches may overlap, so they are compared sorted
    for route in ["bulk_check_upload", "bulk_start_upload"] {
        let got = api_calls(&server, route);
        assert!(
            got.len() <= 7
                && got.iter().sum::<usize>() == 3000
                && got.iter().all(|&n| (50..=1000).contains(&n)),
            "{route}: {got:?}"
        );
    }
    let sorted = |mut v: Vec<usize>| {
        v.sort_unstable();
        v
    };
    assert_eq!(
        sorted(api_calls(&server, "bulk_finish_upload")),
        sorted(api_calls(&server, "bulk_start_upload"))
    );
    assert!(load.api_requests <= 21, "{} API calls", load.api_requests);
}

/// `--batch-size N` pins every start at N (posthog-cli's flag), whatever the build's size.
#[test]
fn batch_size_flag_pins_the_start_batches() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("build");
    generate_tiny(&dir, 30, "pin");
    let mut cmd = symship_for(&server, tmp.path());
    cmd.args(["sourcemap", "process", "--batch-size", "7", "-d"])
        .arg(&dir);
    let (code, s, stderr) = run_json(&mut cmd);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(s["uploaded"], 30);
    // successive starts may overlap
    let mut starts = api_calls(&server, "bulk_start_upload");
    starts.sort_unstable();
    assert_eq!(starts, [2, 7, 7, 7, 7]);
}

fn injected(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension().is_some_and(|x| x == "js")).then_some(p)
        })
        .filter(|p| std::fs::read_to_string(p).unwrap().contains("//# chunkId="))
        .count()
}

/// `process` hands each chunk to the upload as soon as inject wrote it: with inject held at its
/// 800th write step (of 1,600 for 400 pairs: temporary file and exchange for the map and the
/// chunk), the server already has symbol sets started while files are left to inject. Then the
/// run completes as one that never paused: every chunk injected, uploaded and finished.
#[test]
fn process_uploads_while_inject_still_has_files_to_write() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("build");
    generate_tiny(&dir, 400, "overlap");
    let resume = tmp.path().join("resume");
    let mut child = symship_for(&server, tmp.path())
        .args(["sourcemap", "process", "--output", "json", "-d"])
        .arg(&dir)
        .env("SYMSHIP_TEST_PAUSE_AFTER_WRITE_STEP", "800")
        .env("SYMSHIP_TEST_RESUME_FILE", &resume)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn symship");
    // a hang guard, not a speed check: without the overlap no start ever comes while inject waits
    let t = Instant::now();
    while !server
        .requests()
        .iter()
        .any(|r| r.route == "bulk_start_upload" && r.status == 201)
    {
        if t.elapsed() > Duration::from_secs(120) || child.try_wait().unwrap().is_some() {
            std::fs::write(&resume, "").unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "no bulk_start_upload while inject was held at a write: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let done = injected(&dir);
    assert!(done < 400, "every chunk was already injected ({done})");
    std::fs::write(&resume, "").unwrap();
    let out = child.wait_with_output().expect("symship ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["injected"], 400);
    assert_eq!(s["uploaded"], 400, "{:#}", s["failed"]);
    assert_eq!(injected(&dir), 400);
    // the report lists the chunks in the order inject lists them (the order they were found),
    // not in the order their uploads ended
    let names = |s: &serde_json::Value| -> Vec<String> {
        s["chunks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                Path::new(c["file"].as_str().unwrap())
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    };
    let twin = tmp.path().join("twin");
    generate_tiny(&twin, 400, "overlap");
    let mut inject = symship_for(&server, tmp.path());
    inject.args(["sourcemap", "inject", "-d"]).arg(&twin);
    let (code, found, stderr) = run_json(&mut inject);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(names(&s), names(&found));
    let sets = server.symbol_sets();
    assert_eq!(sets.iter().filter(|s| s.content_hash.is_some()).count(), 400);
}
