//! `sourcemap explain` and `sourcemap resolve` on real `$exception` events (issue 19).
//!
//! The app is `fixtures/esbuild-node-hashbang` (a real esbuild bundle; `node cli.js x` throws a
//! TypeError in `summarize`, original `source/src/summarize.js` line 3). Each case prepares a copy
//! as a user would (injected and uploaded by symship, or not), runs it in node with the harness
//! `tests/js/capture-uncaught.cjs`, so the real @posthog/core 1.67.3 builds the event from the real
//! error and sends it to the test server's capture path, then runs `symship sourcemap explain` on
//! the stored event and asserts the verdict and the hint of every in-app frame.

use std::path::{Path, PathBuf};

use serde_json::Value;
use symship_test_support::{copy_dir, node, repo_root, start, symship_for};
use symship_testserver::{Config, FaultKind, FaultRule, TestServer};

const APP: &str = "fixtures/esbuild-node-hashbang/dist";

/// The app's in-app frames, outermost first: its top-level code, then `summarize` (minified `m`).
const ORIGINALS: [(&str, u32, &str); 2] = [
    ("../source/src/cli.js", 4, "summarize(numbers)"),
    ("../source/src/summarize.js", 2, "throw new TypeError"),
];

fn harness() -> PathBuf {
    let js = repo_root().join("tests/js");
    assert!(
        js.join("node_modules/@posthog/core/package.json").is_file(),
        "tests/js/node_modules is missing: run scripts/install-tools npm"
    );
    js.join("capture-uncaught.cjs")
}

/// A copy of the app in a fresh directory.
fn app() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&repo_root().join(APP), tmp.path());
    tmp
}

fn symship_ok(server: &TestServer, dir: &Path, args: &[&str]) {
    let out = symship_for(server, dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "symship {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the app with a bad argument under the capture harness; returns the id of the event the
/// server stored.
fn crash(server: &TestServer, dir: &Path) -> String {
    let before = server.events().len();
    let out = node()
        .arg("--require")
        .arg(harness())
        .arg(dir.join("cli.js"))
        .arg("x")
        .env("SYMSHIP_CAPTURE_HOST", server.base_url())
        .env("SYMSHIP_CAPTURE_TOKEN", server.project_token())
        .output()
        .expect("node runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the harness reports and exits 1: {stderr}"
    );
    assert!(stderr.contains("reported TypeError"), "{stderr}");
    let events = server.events();
    assert_eq!(events.len(), before + 1, "one event captured");
    let e = events.last().unwrap();
    assert_eq!(e.event, "$exception");
    e.uuid.to_string()
}

/// `explain ARGS --output json`: exit code and the report.
fn explain(server: &TestServer, dir: &Path, args: &[&str]) -> (i32, Value) {
    let out = symship_for(server, dir)
        .args(["sourcemap", "explain"])
        .args(args)
        .args(["--output", "json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

fn frames(report: &Value) -> &Vec<Value> {
    report["frames"].as_array().unwrap()
}

/// Every in-app frame of the app has this verdict, and the hint says `hint`.
fn assert_verdict(report: &Value, code: &str, hint: &str) {
    let frames = frames(report);
    assert_eq!(frames.len(), 2, "two in-app frames: {report:#}");
    for f in frames {
        assert_eq!(f["code"], code, "{f:#}");
        assert!(
            f["hint"].as_str().unwrap_or_default().contains(hint),
            "hint of {code} should say {hint:?}: {f:#}"
        );
    }
}

fn chunk_id_of(dir: &Path) -> String {
    let src = std::fs::read_to_string(dir.join("cli.js")).unwrap();
    symship_scan::chunk::existing(&src).expect("injected").chunk_id
}

#[test]
fn every_frame_of_a_real_event_resolves_to_its_original_line() {
    let server = start(Config::default());
    let dir = app();
    symship_ok(&server, dir.path(), &["sourcemap", "process", "-d", "."]);
    let id = crash(&server, dir.path());
    // what the SDK sent: gzip to /batch/, frames tagged with the injected chunk id
    let capture: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.route == "capture")
        .collect();
    assert_eq!(capture.len(), 1);
    assert_eq!(capture[0].path, "/batch/");
    let event = server.events().pop().unwrap();
    let chunk = chunk_id_of(dir.path());
    let sent: Vec<&Value> = event.properties["$exception_list"][0]["stacktrace"]["frames"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["in_app"] == true)
        .collect();
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|f| f["chunk_id"] == chunk.as_str()), "{sent:?}");

    let (code, report) = explain(&server, dir.path(), &[&id]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["event"]["id"], id.as_str());
    for (f, (source, line, text)) in frames(&report).iter().zip(ORIGINALS) {
        assert_eq!(f["code"], "resolved", "{f:#}");
        let r = &f["resolved"];
        assert_eq!(r["source"], source, "{f:#}");
        assert_eq!(r["line"], line, "{f:#}");
        assert!(
            r["context"]["line"]["text"].as_str().unwrap().contains(text),
            "{f:#}"
        );
        let links: Vec<&str> = f["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["link"].as_str().unwrap())
            .collect();
        assert_eq!(
            links,
            [
                "position",
                "chunk id",
                "symbol set",
                "finished",
                "release",
                "download",
                "same bytes",
                "resolve"
            ]
        );
    }
    // the server was asked for the event, the set and its file
    let routes: Vec<String> = server.requests().into_iter().map(|r| r.route).collect();
    for r in ["events_retrieve", "list", "download"] {
        assert!(routes.iter().any(|x| x == r), "{r} in {routes:?}");
    }

    // the same from the exported event (the events API's answer saved to a file), and as text
    let export = dir.path().join("event.json");
    let body = serde_json::json!({"id": id, "event": "$exception", "properties": event.properties});
    std::fs::write(&export, body.to_string()).unwrap();
    let (code, from_file) = explain(&server, dir.path(), &["--event", export.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(from_file["frames"], report["frames"]);
    let out = symship_for(&server, dir.path())
        .args(["sourcemap", "explain", &id])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("original  ../source/src/summarize.js:3:"), "{text}");
    assert!(text.contains("2 of 2 in-app frames resolve\n"), "{text}");

    // resolve, offline, on the injected file at the throw frame's position gives the same
    let throw = &sent[1];
    let pos = format!("{}:{}", throw["lineno"], throw["colno"]);
    let out = symship_for(&server, dir.path())
        .args(["sourcemap", "resolve", "cli.js", &pos, "--output", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let local: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(local["resolved"], frames(&report)[1]["resolved"]);
    assert_eq!(local["chunk_id"], chunk.as_str());
}

#[test]
fn each_broken_link_has_its_verdict_and_hint() {
    let server = start(Config::default());

    // not injected: posthog-js finds no chunk id for the file
    let dir = app();
    let id = crash(&server, dir.path());
    let (code, r) = explain(&server, dir.path(), &[&id]);
    assert_eq!(code, 1);
    assert_verdict(&r, "no_chunk_id", "not injected");
    let no_chunk_event = server.events().pop().unwrap();

    // no chunk id sent (an SDK too old to tag frames): the injected app's event without them
    let dir = app();
    symship_ok(&server, dir.path(), &["sourcemap", "process", "-d", "."]);
    let id = crash(&server, dir.path());
    let mut props = server.events().pop().unwrap().properties;
    for f in props["$exception_list"][0]["stacktrace"]["frames"]
        .as_array_mut()
        .unwrap()
    {
        f.as_object_mut().unwrap().remove("chunk_id");
    }
    let file = dir.path().join("old-sdk.json");
    std::fs::write(
        &file,
        serde_json::json!({"id": id, "properties": props}).to_string(),
    )
    .unwrap();
    let (code, r) = explain(&server, dir.path(), &["--event", file.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_verdict(&r, "no_chunk_id", "SDK is too old");
    assert_ne!(no_chunk_event.uuid.to_string(), id);

    // position outside the map: line 1 is the hashbang, which the map does not cover
    let chunk = chunk_id_of(dir.path());
    let url = dir.path().join("cli.js").display().to_string();
    let (code, r) = explain(
        &server,
        dir.path(),
        &["--frame", &format!("{url}:1:5"), "--chunk-id", &chunk],
    );
    assert_eq!(code, 1);
    let f = &frames(&r)[0];
    assert_eq!(f["code"], "position_outside_map", "{f:#}");
    assert!(f["hint"].as_str().unwrap().contains("does not cover"));
    assert!(
        f["links"].as_array().unwrap().last().unwrap()["detail"]
            .as_str()
            .unwrap()
            .contains("before the first mapped token"),
        "{f:#}"
    );

    // failure reason: PostHog's symbolication service recorded one on the set
    let dir = app();
    symship_ok(&server, dir.path(), &["sourcemap", "process", "-d", "."]);
    assert!(server.set_failure_reason(
        &chunk_id_of(dir.path()),
        "Invalid sourcemap: missing field `mappings`"
    ));
    let id = crash(&server, dir.path());
    let (code, r) = explain(&server, dir.path(), &[&id]);
    assert_eq!(code, 1);
    assert_verdict(&r, "upload_failed", "--force");
    let detail = frames(&r)[0]["links"].as_array().unwrap().last().unwrap()["detail"].clone();
    assert_eq!(
        detail,
        "failure reason: Invalid sourcemap: missing field `mappings`"
    );
    server.reset();

    // wrong bytes: the deployed file was changed after upload (1,000 columns added before the code)
    let dir = app();
    symship_ok(&server, dir.path(), &["sourcemap", "process", "-d", "."]);
    let path = dir.path().join("cli.js");
    let src = std::fs::read_to_string(&path).unwrap();
    assert!(src.contains("function m("));
    std::fs::write(
        &path,
        src.replacen("function m(", &format!("{}function m(", " ".repeat(1000)), 1),
    )
    .unwrap();
    let id = crash(&server, dir.path());
    let (code, r) = explain(&server, dir.path(), &[&id]);
    assert_eq!(code, 1);
    assert_verdict(&r, "wrong_bytes", "deployed file differs");
    server.reset();

    // not uploaded: injected, never uploaded
    let dir = app();
    symship_ok(&server, dir.path(), &["sourcemap", "inject", "-d", "."]);
    let id = crash(&server, dir.path());
    let (code, r) = explain(&server, dir.path(), &[&id]);
    assert_eq!(code, 1);
    assert_verdict(&r, "not_uploaded", "symship sourcemap upload");

    // not finished: object storage refused the file, so the started set was never finished
    server.set_faults(vec![FaultRule {
        route: "s3_*".into(),
        kind: FaultKind::Status { status: 403 },
        rate: 1.0,
        first_n: None,
    }]);
    let out = symship_for(&server, dir.path())
        .args(["sourcemap", "upload", "-d", "."])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.set_faults(vec![]);
    // started: a storage_ptr, no content hash, and no object behind it
    let sets = server.symbol_sets();
    assert_eq!(sets.len(), 1);
    assert!(sets[0].content_hash.is_none(), "{sets:?}");
    assert_eq!(server.object_bytes(sets[0].storage_ptr.as_deref().unwrap()), None);
    let (code, r) = explain(&server, dir.path(), &[&id]);
    assert_eq!(code, 1);
    assert_verdict(&r, "not_finished", "never reached object storage");
}

/// A lookup the server refuses (here a 403 on every API route) is `lookup_failed` with the
/// host/key/network hint, never read as "not uploaded": the set may well be there.
#[test]
fn a_refused_lookup_is_lookup_failed_not_not_uploaded() {
    let server = start(Config::default());
    let dir = app();
    symship_ok(&server, dir.path(), &["sourcemap", "process", "-d", "."]);
    let chunk_id = chunk_id_of(dir.path());
    assert_eq!(server.symbol_sets().len(), 1, "the set is uploaded");
    server.set_faults(vec![FaultRule {
        route: "*".into(),
        kind: FaultKind::Status { status: 403 },
        rate: 1.0,
        first_n: None,
    }]);
    let (code, r) = explain(
        &server,
        dir.path(),
        &["--frame", "file:///app/cli.js:2:380", "--chunk-id", &chunk_id],
    );
    assert_eq!(code, 1, "{r:#}");
    let frames = frames(&r);
    assert_eq!(frames.len(), 1, "{r:#}");
    assert_eq!(frames[0]["code"], "lookup_failed", "{r:#}");
    assert!(
        frames[0]["hint"]
            .as_str()
            .unwrap_or_default()
            .contains("check the host"),
        "{r:#}"
    );
}
