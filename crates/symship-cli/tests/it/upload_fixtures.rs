//! `symship sourcemap process|upload` of every committed fixture against symship-testserver over
//! real S3 (s3s-fs): what lands is exactly what symship built, a re-run sends nothing, an old
//! server works, rerouting to the fallback URL latches, and the exit codes.

use symship_scan::ReleaseMode;
use symship_test_support::*;
use symship_testserver::{Config, FaultKind, FaultRule, Mode};

use crate::support::*;

#[test]
fn every_fixture_lands_byte_equal_and_a_rerun_sends_nothing() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let mut all_chunks = Vec::new();
    for (name, dist) in fixtures() {
        let dir = tmp.path().join(&name);
        copy_dir(&dist, &dir);
        let (code, summary, stderr) = run_json(
            symship_for(&server, tmp.path())
                .args(["sourcemap", "process", "-d"])
                .arg(&dir),
        );
        assert_eq!(code, 0, "{name}: {stderr}\n{summary:#}");
        let chunks = chunks(&summary);
        assert!(!chunks.is_empty(), "{name}: nothing uploaded");
        for (file, _, id, outcome) in &chunks {
            assert!(
                outcome == "uploaded" || outcome == "duplicate",
                "{name}: {file} ({id}) is {outcome}"
            );
        }
        assert_eq!(
            summary["uploaded"].as_u64().unwrap() as usize,
            chunks.iter().filter(|c| c.3 == "uploaded").count()
        );
        assert!(summary["failed"].as_array().unwrap().is_empty());
        all_chunks.extend(chunks);
    }
    let uploaded: std::collections::BTreeSet<String> = all_chunks
        .iter()
        .filter(|c| c.3 == "uploaded")
        .map(|c| c.2.clone())
        .collect();
    let finished = assert_server_holds_exactly(&server, &all_chunks, ReleaseMode::Event);
    assert_eq!(
        finished, uploaded,
        "the server finished exactly the chunks reported uploaded"
    );
    let transfers_before = server.requests().iter().filter(|r| is_transfer(r)).count();
    assert_eq!(
        transfers_before,
        uploaded.len(),
        "one transfer per chunk, no retries needed"
    );
    // every transfer was a presigned PUT (content_length was declared)
    assert!(server
        .requests()
        .iter()
        .filter(|r| is_transfer(r))
        .all(|r| r.method == "PUT"));

    // A re-run of everything: no transfer, no start, every chunk already present.
    let before = server.requests().len();
    for (name, _) in fixtures() {
        let dir = tmp.path().join(&name);
        let (code, summary, stderr) = run_json(
            symship_for(&server, tmp.path())
                .args(["sourcemap", "process", "-d"])
                .arg(&dir),
        );
        assert_eq!(code, 0, "{name}: {stderr}");
        assert_eq!(summary["uploaded"], 0, "{name}");
        assert!(
            summary["skipped_already_present"].as_u64().unwrap() >= 1,
            "{name}"
        );
    }
    let rerun = &server.requests()[before..];
    let counts = route_counts(rerun);
    assert_eq!(
        rerun.iter().filter(|r| is_transfer(r)).count(),
        0,
        "re-run sent bytes: {counts:?}"
    );
    assert_eq!(counts.get("bulk_start_upload"), None, "{counts:?}");
    assert_eq!(counts.get("bulk_finish_upload"), None, "{counts:?}");
    assert_eq!(
        counts.get("bulk_check_upload"),
        Some(&fixtures().len()),
        "one check per run: {counts:?}"
    );
}

#[test]
fn symbol_set_mode_hashes_the_container_and_upload_after_inject_works() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("webpack");
    copy_dir(&repo_root().join("fixtures/webpack/dist"), &dir);
    let inject = symship_for(&server, tmp.path())
        .args(["sourcemap", "inject", "--release-mode", "symbol-set", "-d"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        inject.status.success(),
        "{}",
        String::from_utf8_lossy(&inject.stderr)
    );
    let (code, summary, stderr) = run_json(
        symship_for(&server, tmp.path())
            .args([
                "sourcemap",
                "upload",
                "--release-mode",
                "symbol-set",
                "--batch-size",
                "2",
                "-d",
            ])
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}");
    let chunks = chunks(&summary);
    assert_eq!(chunks.len(), 5);
    let finished = assert_server_holds_exactly(&server, &chunks, ReleaseMode::SymbolSet);
    assert_eq!(finished.len(), 5);
    let counts = route_counts(&server.requests());
    assert_eq!(
        counts.get("bulk_start_upload"),
        Some(&3),
        "batches of 2: {counts:?}"
    );
    assert_eq!(counts.get("bulk_finish_upload"), Some(&3), "{counts:?}");
    // symbol-set mode sends the user's conflict flags, not force
    let start = &requests(&server, "bulk_start_upload")[0];
    let body = start.body.as_ref().unwrap();
    assert_eq!(body["force"], false);
    assert!(body["symbol_sets"][0]["content_length"].as_u64().is_some());
    assert!(body["upload_attempt_id"].as_str().unwrap() != body["upload_run_id"].as_str().unwrap());
    let run_ids: std::collections::BTreeSet<String> = requests(&server, "bulk_start_upload")
        .iter()
        .chain(requests(&server, "bulk_finish_upload").iter())
        .map(|r| {
            r.body.as_ref().unwrap()["upload_run_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(run_ids.len(), 1, "one upload_run_id per run");
    let attempt_ids: std::collections::BTreeSet<String> = requests(&server, "bulk_start_upload")
        .iter()
        .map(|r| {
            r.body.as_ref().unwrap()["upload_attempt_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(attempt_ids.len(), 3, "one upload_attempt_id per batch");
}

#[test]
fn old_server_without_check_and_put_works() {
    let server = start(Config {
        mode: Mode {
            old_server: true,
            ..Default::default()
        },
        ..Default::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vite");
    copy_dir(&repo_root().join("fixtures/vite-react/dist"), &dir);
    let (code, summary, stderr) = run_json(
        symship_for(&server, tmp.path())
            .args(["sourcemap", "process", "--batch-size", "2", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("no bulk_check_upload"), "{stderr}");
    let chunks = chunks(&summary);
    assert_eq!(summary["uploaded"].as_u64().unwrap() as usize, chunks.len());
    assert_server_holds_exactly(&server, &chunks, ReleaseMode::Event);
    let reqs = server.requests();
    let counts = route_counts(&reqs);
    let checks = reqs
        .iter()
        .filter(|r| r.path.contains("bulk_check_upload"))
        .count();
    assert_eq!(
        (checks, counts.get("bulk_start_upload")),
        (1, Some(&2)),
        "check asked once (404), then never again: {counts:?}"
    );
    let transfers: Vec<_> = reqs.iter().filter(|r| is_transfer(r)).collect();
    assert_eq!(transfers.len(), chunks.len());
    assert!(
        transfers.iter().all(|r| r.method == "POST" && r.status == 204),
        "{transfers:?}"
    );

    // a re-run: start says everything is there, nothing is sent
    let before = server.requests().len();
    let (code, summary, _) = run_json(
        symship_for(&server, tmp.path())
            .args(["sourcemap", "upload", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 0);
    assert_eq!(
        summary["skipped_already_present"].as_u64().unwrap() as usize,
        chunks.len()
    );
    assert_eq!(
        server.requests()[before..]
            .iter()
            .filter(|r| is_transfer(r))
            .count(),
        0
    );
}

#[test]
fn transport_failures_reroute_to_the_fallback_and_latch() {
    let server = start(Config {
        mode: Mode {
            transfer_acceleration: true,
            ..Default::default()
        },
        // the accelerated endpoint drops the first two transfers mid-body
        faults: vec![FaultRule::new("s3_accel_put", FaultKind::Reset).first_n(2)],
        ..Default::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("webpack");
    copy_dir(&repo_root().join("fixtures/webpack/dist"), &dir);
    let (code, summary, stderr) = run_json(
        symship_for(&server, tmp.path())
            .args(["sourcemap", "process", "--concurrency", "1", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}");
    let chunks = chunks(&summary);
    assert_server_holds_exactly(&server, &chunks, ReleaseMode::Event);
    let reqs = server.requests();
    let accel: Vec<_> = reqs.iter().filter(|r| r.server == "s3_accel").collect();
    let standard: Vec<_> = reqs
        .iter()
        .filter(|r| r.server == "s3" && is_transfer(r))
        .collect();
    assert_eq!(
        accel.len(),
        2,
        "two transport failures on the primary, then never again: {accel:?}"
    );
    assert_eq!(
        standard.len(),
        chunks.len(),
        "every chunk went to the fallback once the latch was set"
    );
}

#[test]
fn dry_run_needs_no_credentials_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("webpack");
    copy_dir(&repo_root().join("fixtures/webpack/dist"), &dir);
    let before: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    let mut cmd = symship_in(tmp.path());
    let (code, summary, stderr) = run_json(
        cmd.args(["sourcemap", "process", "--delete-after", "--dry-run", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["would_upload"], 5);
    assert_eq!(summary["dry_run"], true);
    let after: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert!(before == after, "dry run changed files");

    // upload --dry-run on injected files reports sizes, still without credentials or network
    let server = start(Config::default());
    let inject = symship_for(&server, tmp.path())
        .args(["sourcemap", "inject", "-d"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(inject.status.success());
    let mut cmd = symship_in(tmp.path());
    let (code, summary, stderr) = run_json(cmd.args(["sourcemap", "upload", "--dry-run", "-d"]).arg(&dir));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["would_upload"], 5);
    assert!(server.requests().is_empty(), "dry run talked to the server");
}

#[test]
fn exit_codes_empty_and_config() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("a.txt"), "x").unwrap();
    let (code, _, _) = run_json(
        symship_for(&server, tmp.path())
            .args(["sourcemap", "upload", "-d"])
            .arg(&empty),
    );
    assert_eq!(code, 3, "nothing found");
    let (code, _, _) = run_json(
        symship_for(&server, tmp.path())
            .args(["sourcemap", "upload", "--allow-empty", "-d"])
            .arg(&empty),
    );
    assert_eq!(code, 0, "--allow-empty");
    // a not-injected build: upload finds nothing it can send
    let dir = tmp.path().join("webpack");
    copy_dir(&repo_root().join("fixtures/webpack/dist"), &dir);
    let (code, summary, _) = run_json(
        symship_for(&server, tmp.path())
            .args(["sourcemap", "upload", "-d"])
            .arg(&dir),
    );
    assert_eq!(code, 3, "{summary:#}");
    assert!(summary["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["reason"].as_str().unwrap().contains("inject")));
    // no credentials: a configuration error, before any file is touched
    let out = symship_in(tmp.path())
        .args(["sourcemap", "process", "-d"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = symship_for(&server, tmp.path())
        .args(["sourcemap", "upload", "--batch-size", "0", "-d"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(server.requests().is_empty());
}

#[test]
fn containers_dropped_for_memory_are_built_again_at_transfer_time() {
    // SYMSHIP_UPLOAD_MEMORY_MIB=0: no container waits for its transfer, each is built again
    // when its turn comes (and checked against what was hashed)
    for (mode, release_mode) in [
        ("event", ReleaseMode::Event),
        ("symbol-set", ReleaseMode::SymbolSet),
    ] {
        let server = start(Config::default());
        let tmp = tempfile::tempdir().unwrap();
        let mut all = Vec::new();
        for (name, dist) in fixtures() {
            let dir = tmp.path().join(&name);
            copy_dir(&dist, &dir);
            let (code, summary, stderr) = run_json(
                symship_for(&server, tmp.path())
                    .env("SYMSHIP_UPLOAD_MEMORY_MIB", "0")
                    .args(["sourcemap", "process", "--release-mode", mode, "-d"])
                    .arg(&dir),
            );
            assert_eq!(code, 0, "{name} {mode}: {stderr}");
            all.extend(chunks(&summary));
        }
        let uploaded: std::collections::BTreeSet<String> = all
            .iter()
            .filter(|c| c.3 == "uploaded")
            .map(|c| c.2.clone())
            .collect();
        assert!(uploaded.len() >= 20, "{mode}: {}", uploaded.len());
        let finished = assert_server_holds_exactly(&server, &all, release_mode);
        assert_eq!(finished, uploaded, "{mode}");
        if release_mode == ReleaseMode::Event {
            // large pairs (here: over 64 KiB) are started without a length and sent by POST
            let reqs = server.requests();
            let posts = reqs
                .iter()
                .filter(|r| is_transfer(r) && r.method == "POST")
                .count();
            let puts = reqs
                .iter()
                .filter(|r| is_transfer(r) && r.method == "PUT")
                .count();
            assert!(posts > 0 && puts > 0, "{posts} POST, {puts} PUT");
        }
    }
}
