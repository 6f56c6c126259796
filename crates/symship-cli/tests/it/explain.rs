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

/// The fixture's throw site as node prints it (`m`, minified `summarize`), which resolves to
/// `../source/src/summarize.js` line 3 once the app is processed.
const THROW_SITE: (u32, u32) = (2, 360);

/// A processed copy of the app and its chunk id.
fn processed_app(server: &TestServer) -> (tempfile::TempDir, String) {
    let dir = app();
    symship_ok(server, dir.path(), &["sourcemap", "process", "-d", "."]);
    let chunk = chunk_id_of(dir.path());
    (dir, chunk)
}

/// The fixture's throw site as a raw node frame with the app's chunk id.
fn throw_frame(chunk: &str) -> Value {
    serde_json::json!({"platform": "node:javascript", "filename": "/app/cli.js", "function": "m",
        "in_app": true, "lineno": THROW_SITE.0, "colno": THROW_SITE.1, "chunk_id": chunk})
}

fn write_event(dir: &Path, name: &str, event: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, event.to_string()).unwrap();
    path.to_str().unwrap().to_owned()
}

fn codes(frames: &[Value]) -> Vec<&str> {
    frames.iter().map(|f| f["code"].as_str().unwrap()).collect()
}

/// Every code explain printed is in the registry, and so in the README's table of codes.
fn assert_registered(frames: &[Value]) {
    for f in frames {
        let code = f["code"].as_str().unwrap();
        assert!(
            symship_core::code::Code::from_code_str(code).is_some(),
            "{code} is not in the registry (README.md#codes)"
        );
    }
}

/// `explain --event FILE` as text: exit code and stdout.
fn explain_text(server: &TestServer, dir: &Path, args: &[&str]) -> (i32, String) {
    let out = symship_for(server, dir)
        .args(["sourcemap", "explain"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Hermes and Java frames (which explain does not resolve) and a frame with no position are
/// "not checked": never counted as resolving, and the stack does not exit 0 (a fresh tester's D5).
#[test]
fn frames_explain_cannot_check_are_not_counted_as_resolving() {
    let server = start(Config::default());
    let (dir, chunk) = processed_app(&server);
    let event = serde_json::json!({"id": "01a22bfe-8c59-7516-b62b-e51228b64120", "event": "$exception",
    "properties": {"$exception_list": [{"type": "TypeError", "value": "boom", "stacktrace": {"type": "raw", "frames": [
        throw_frame(&chunk),
        {"platform": "hermes", "filename": "address at index.android.bundle", "function": "parse",
         "in_app": true, "lineno": 1, "colno": 2610, "chunkId": "9d56951e-981d-4597-990e-2402c3b1d1a8"},
        {"platform": "java", "module": "com.example.shop.c", "function": "<init>", "lineno": 11,
         "filename": "SourceFile", "in_app": true, "map_id": "6322fcf1-2071-3e2c-be64-68917a9cfecf"},
        {"platform": "web:javascript", "filename": "https://app.example/a.js", "function": "z",
         "in_app": true, "chunk_id": chunk},
    ]}}]}});
    let file = write_event(dir.path(), "mixed.json", &event);
    let (code, r) = explain(&server, dir.path(), &["--event", &file]);
    assert_eq!(code, 1, "frames not checked: not every frame resolves: {r:#}");
    let fs = frames(&r);
    assert_eq!(
        codes(fs),
        ["resolved", "other_platform", "other_platform", "no_location"]
    );
    assert_registered(fs);
    assert_eq!(fs[0]["resolved"]["source"], "../source/src/summarize.js");
    for f in &fs[1..] {
        assert_eq!(f["outcome"], "not_checked", "{f:#}");
    }
    assert!(fs[1]["links"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("hermes, chunk id 9d56951e-981d-4597-990e-2402c3b1d1a8"));
    let s = &r["summary"];
    assert_eq!(
        (
            &s["in_app_frames"],
            &s["resolving"],
            &s["broken"],
            &s["not_checked"]
        ),
        (&4.into(), &1.into(), &0.into(), &3.into()),
        "{s:#}"
    );
    let (code, text) = explain_text(&server, dir.path(), &["--event", &file]);
    assert_eq!(code, 1);
    assert!(
        text.contains("1 of 4 in-app frames resolves; 3 not checked (no_location 1, other_platform 2)\n"),
        "{text}"
    );
    assert!(text.contains("  skip platform    java"), "{text}");
    assert!(!text.contains("frame given on the command line"), "{text}");
    assert!(
        text.starts_with("event 01a22bfe-8c59-7516-b62b-e51228b64120 (from "),
        "{text}"
    );

    // only Hermes frames: nothing checked, nothing claimed
    let event = serde_json::json!({"properties": {"$exception_list": [{"type": "Error", "value": "x",
        "stacktrace": {"type": "raw", "frames": [event["properties"]["$exception_list"][0]["stacktrace"]["frames"][1]]}}]}});
    let file = write_event(dir.path(), "hermes.json", &event);
    let (code, text) = explain_text(&server, dir.path(), &["--event", &file]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("0 of 1 in-app frame resolve; 1 not checked (other_platform 1)"),
        "{text}"
    );
    assert!(text.starts_with("event (no id) (from "), "{text}");
}

/// An event whose frames are all `in_app: false`, or that has no frames, has nothing to check:
/// said plainly, exit 1 (it was "0 of 0 in-app frames resolve", exit 0; s11 tester).
#[test]
fn an_event_without_an_in_app_frame_has_nothing_to_check() {
    let server = start(Config::default());
    let dir = tempfile::tempdir().unwrap();
    let exception = |frames: Value| {
        serde_json::json!({"event": "$exception", "properties": {"$exception_list": [{"type": "Error",
            "value": "boom", "stacktrace": {"type": "raw", "frames": frames}}]}})
    };
    let outside = exception(serde_json::json!([
        {"platform": "web:javascript", "filename": "chrome-extension://abc/x.js", "function": "f",
         "in_app": false, "lineno": 1, "colno": 10},
        {"platform": "web:javascript", "filename": "<anonymous>", "function": "g",
         "in_app": false, "lineno": 2, "colno": 3},
    ]));
    let bare = exception(serde_json::json!([]));
    for (name, event, said) in [
        (
            "outside.json",
            &outside,
            "nothing to check: none of the event's 2 frames is in-app",
        ),
        (
            "bare.json",
            &bare,
            "nothing to check: the event's 1 exception carries no stack frame",
        ),
    ] {
        let file = write_event(dir.path(), name, event);
        let (code, r) = explain(&server, dir.path(), &["--event", &file]);
        assert_eq!(code, 1, "{name}: {r:#}");
        assert_eq!(r["summary"]["in_app_frames"], 0, "{r:#}");
        assert!(
            r["summary"]["nothing_to_check"]
                .as_str()
                .unwrap()
                .starts_with(said),
            "{name}: {r:#}"
        );
        let (code, text) = explain_text(&server, dir.path(), &["--event", &file]);
        assert_eq!(code, 1, "{name}: {text}");
        assert!(text.contains(said), "{name}: {text}");
        assert!(!text.contains("0 of 0"), "{name}: {text}");
    }
    // a list of both: each said, and counted in the last line
    let file = write_event(dir.path(), "both.json", &serde_json::json!([outside, bare]));
    let (code, text) = explain_text(&server, dir.path(), &["--event", &file]);
    assert_eq!(code, 1, "{text}");
    assert_eq!(text.matches("nothing to check: ").count(), 2, "{text}");
    assert!(
        text.contains("2 events without an in-app frame (nothing to check)"),
        "{text}"
    );
    let (code, r) = explain(&server, dir.path(), &["--event", &file]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["summary"]["events_without_in_app_frames"], 2, "{r:#}");
    assert!(
        server.requests().is_empty(),
        "nothing to look up: {:?}",
        server.requests()
    );
}

/// A processed event (stacktrace "resolved", cymbal's frames, kinds-and-explain.md §4.5):
/// PostHog's own verdict is reported and its resolve_failure quoted; a frame with its raw frame is
/// checked again now, one without is PostHog's verdict alone (a fresh tester's D4).
#[test]
fn a_processed_event_reports_posthogs_verdict_and_checks_the_raw_frame_again() {
    let server = start(Config::default());
    let (dir, chunk) = processed_app(&server);
    let late = format!("No sourcemap uploaded for chunk id: {chunk}");
    let gone = "No sourcemap uploaded for chunk id: 99999999-9999-4999-8999-999999999999";
    let frame = |extra: Value| {
        let mut f = serde_json::json!({"raw_id": "r", "mangled_name": "m", "in_app": true,
            "lang": "javascript", "synthetic": false, "suspicious": false});
        f.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        f
    };
    let frames_in = vec![
        // not resolved when it arrived (uploaded since); the raw frame is kept
        frame(
            serde_json::json!({"line": 2, "column": 360, "source": "/app/cli.js", "resolved": false,
            "resolve_failure": late, "junk_drawer": {"raw_frame": throw_frame(&chunk)}}),
        ),
        // not resolved, no raw frame: PostHog's verdict alone
        frame(
            serde_json::json!({"line": 1, "column": 100, "source": "https://app.example/x.js",
            "resolved": false, "resolve_failure": gone}),
        ),
        // resolved by PostHog (0-based original position), no raw frame
        frame(
            serde_json::json!({"line": 2, "column": 10, "source": "../source/src/summarize.js",
            "resolved": true, "resolved_name": "summarize"}),
        ),
    ];
    let event = serde_json::json!({"id": "01a22bfe-8c59-7516-b62b-e51228b64121", "event": "$exception",
        "properties": {"$exception_list": [{"type": "TypeError", "value": "boom",
            "stacktrace": {"type": "resolved", "frames": frames_in}}]}});
    let file = write_event(dir.path(), "processed.json", &event);
    let (code, r) = explain(&server, dir.path(), &["--event", &file]);
    assert_eq!(code, 1, "{r:#}");
    let fs = frames(&r);
    assert_eq!(
        codes(fs),
        ["resolved_after_event", "posthog_unresolved", "resolved"]
    );
    assert_registered(fs);
    // both verdicts for the first: PostHog's quoted, then the chain walked now
    let first = &fs[0];
    assert_eq!(first["posthog"]["resolve_failure"], late.as_str());
    assert_eq!(first["links"][0]["link"], "posthog");
    assert_eq!(first["links"][0]["ok"], false);
    assert!(first["links"][0]["detail"]
        .as_str()
        .unwrap()
        .contains(&format!("{late:?}")));
    assert_eq!(
        first["links"].as_array().unwrap().last().unwrap()["link"],
        "resolve"
    );
    assert_eq!(first["resolved"]["source"], "../source/src/summarize.js");
    // the second: no position read from cymbal's fields is "no location"; its reason is quoted
    let second = &fs[1];
    assert_eq!(
        (second["lineno"].as_u64(), second["colno"].as_u64()),
        (Some(1), Some(100))
    );
    assert_eq!(second["links"].as_array().unwrap().len(), 1, "{second:#}");
    assert!(second["links"][0]["detail"].as_str().unwrap().contains(gone));
    assert_eq!(
        second["notes"][0],
        "check it now: symship sourcemap explain --frame https://app.example/x.js:1:100 --chunk-id 99999999-9999-4999-8999-999999999999"
    );
    assert!(fs[2]["links"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("../source/src/summarize.js:3:11"));
    assert_eq!(r["summary"]["resolving"], 2);
    assert_eq!(r["summary"]["broken"], 1);
    let (_, text) = explain_text(&server, dir.path(), &["--event", &file]);
    assert!(
        text.contains("2 of 3 in-app frames resolve; 1 broken; PostHog could not resolve 1 of them when the event arrived\n"),
        "{text}"
    );

    // Hermes and Java frames PostHog processed: explain does not resolve them, PostHog's result stands
    let hermes_raw = serde_json::json!({"platform": "hermes", "filename": "address at index.android.bundle",
        "function": "parse", "in_app": true, "lineno": 1, "colno": 2610,
        "chunkId": "9d56951e-981d-4597-990e-2402c3b1d1a8"});
    let java_raw = serde_json::json!({"platform": "java", "module": "com.example.shop.c", "function": "<init>",
        "lineno": 11, "filename": "SourceFile", "in_app": true, "map_id": "6322fcf1-2071-3e2c-be64-68917a9cfecf"});
    let no_map = "No map ID sent with frame";
    let native = serde_json::json!({"properties": {"$exception_list": [{"type": "E", "value": "v",
    "stacktrace": {"type": "resolved", "frames": [
        frame(serde_json::json!({"line": 41, "column": 2, "source": "src/parse.ts", "resolved": true,
            "lang": "hermes-js", "junk_drawer": {"raw_frame": hermes_raw}})),
        frame(serde_json::json!({"line": 11, "source": "SourceFile", "resolved": false,
            "lang": "java", "resolve_failure": no_map, "junk_drawer": {"raw_frame": java_raw}})),
    ]}}]}});
    let file = write_event(dir.path(), "processed-native.json", &native);
    let (code, r) = explain(&server, dir.path(), &["--event", &file]);
    assert_eq!(code, 1, "{r:#}");
    let fs = frames(&r);
    assert_eq!(codes(fs), ["resolved", "posthog_unresolved"]);
    assert_eq!(fs[0]["links"][1]["link"], "platform");
    assert!(fs[1]["links"][0]["detail"].as_str().unwrap().contains(no_map));

    // what the upload since fixed alone: exit 0, and still said
    let mut one = event.clone();
    let fs_in = one["properties"]["$exception_list"][0]["stacktrace"]["frames"]
        .as_array_mut()
        .unwrap();
    fs_in.remove(1);
    let file = write_event(dir.path(), "processed-late.json", &one);
    let (code, r) = explain(&server, dir.path(), &["--event", &file]);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(codes(frames(&r)), ["resolved_after_event", "resolved"]);
}

/// An events API answer with several events explains each (a fresh tester's D6), and an event
/// whose `properties` is a JSON string, as some exports write it, is read (D14).
#[test]
fn every_event_of_a_list_is_explained_and_string_properties_are_read() {
    let server = start(Config::default());
    let (dir, chunk) = processed_app(&server);
    let ev = |id: &str, chunk: &str| {
        serde_json::json!({"id": id, "event": "$exception", "timestamp": "2026-12-01T03:00:00Z",
            "properties": {"$exception_list": [{"type": "TypeError", "value": "boom",
                "stacktrace": {"type": "raw", "frames": [throw_frame(chunk)]}}]}})
    };
    let a = "01a22bfe-8c59-7516-b62b-e51228b64102";
    let b = "01a22bfe-8c59-7516-b62b-e51228b64199";
    let other = "99999999-9999-4999-8999-999999999999";
    let list = serde_json::json!({"next": null, "results": [ev(a, &chunk), ev(b, other)]});
    let file = write_event(dir.path(), "two.json", &list);
    let (code, r) = explain(&server, dir.path(), &["--event", &file]);
    assert_eq!(code, 1, "{r:#}");
    let events = r["events"].as_array().expect("one report per event");
    assert_eq!(events.len(), 2, "{r:#}");
    assert_eq!(events[0]["event"]["id"], a);
    assert_eq!(codes(frames(&events[0])), ["resolved"]);
    assert_eq!(events[1]["event"]["id"], b);
    assert_eq!(codes(frames(&events[1])), ["not_uploaded"]);
    assert_eq!(r["summary"]["in_app_frames"], 2);
    assert_eq!(r["summary"]["broken"], 1);
    let (_, text) = explain_text(&server, dir.path(), &["--event", &file]);
    assert!(text.contains("two.json, event 2 of 2)"), "{text}");
    assert!(
        text.ends_with("2 events: 1 of 2 in-app frames resolves; 1 broken\n"),
        "{text}"
    );

    // properties as a JSON string
    let mut one = ev(a, &chunk);
    one["properties"] = Value::String(one["properties"].to_string());
    let file = write_event(dir.path(), "strprops.json", &one);
    let (code, r) = explain(&server, dir.path(), &["--event", &file]);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(codes(frames(&r)), ["resolved"]);
    // a string that is not JSON is refused, saying so
    one["properties"] = Value::String("{not json".into());
    let file = write_event(dir.path(), "badprops.json", &one);
    let out = symship_for(&server, dir.path())
        .args(["sourcemap", "explain", "--event", &file])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"properties\" is a string that is not JSON"),
        "{err}"
    );
}

/// The notes and messages a fresh tester found misleading (D15): a `$release_id` that is not the
/// set's release is noted; line 0 is not called a line of the chunk; a key that may not read
/// events is told about query:read first.
#[test]
fn release_mismatch_line_zero_and_the_events_scope_are_said_plainly() {
    let server = start(Config::default());
    let dir = app();
    symship_ok(
        &server,
        dir.path(),
        &[
            "sourcemap",
            "process",
            "-d",
            ".",
            "--release-name",
            "web",
            "--release-version",
            "1",
            "--release-mode",
            "symbol-set",
        ],
    );
    let chunk = chunk_id_of(dir.path());
    let release = server.symbol_sets()[0].release_id.expect("a release on the set");
    let other = "01a22fb3-0000-7000-8000-000000000009";
    let event = |release: &str| {
        serde_json::json!({"id": "01a22bfe-8c59-7516-b62b-e51228b64122", "properties": {"$release_id": release,
            "$exception_list": [{"type": "E", "value": "v", "stacktrace": {"type": "raw", "frames": [throw_frame(&chunk)]}}]}})
    };
    let file = write_event(dir.path(), "rel.json", &event(other));
    let (code, r) = explain(&server, dir.path(), &["--event", &file]);
    assert_eq!(code, 0, "the set is still found by chunk id: {r:#}");
    let note = frames(&r)[0]["notes"][0].as_str().unwrap_or_default();
    assert!(
        note.contains(&format!(
            "$release_id {other} is not the symbol set's release {release}"
        )),
        "{r:#}"
    );
    let file = write_event(dir.path(), "rel-same.json", &event(&release.to_string()));
    let (_, r) = explain(&server, dir.path(), &["--event", &file]);
    assert!(frames(&r)[0].get("notes").is_none(), "{r:#}");

    let (code, text) = explain_text(
        &server,
        dir.path(),
        &["--frame", "/app/cli.js:0:5", "--chunk-id", &chunk],
    );
    assert_eq!(code, 1);
    assert!(!text.contains("has line 0"), "{text}");
    assert!(text.contains("line 0 does not exist"), "{text}");

    let out = symship_for(&server, dir.path())
        .env("POSTHOG_CLI_API_KEY", server.read_only_key())
        .args(["sourcemap", "explain", "01a22bfe-8c59-7516-b62b-e51228b64122"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("query:read"), "{err}");
    assert!(!err.contains("error_tracking:write"), "{err}");
}
