//! Hostile input, with the real binary against the test server: maps nested absurdly deep, a
//! server that answers 2 GB, one that drips a byte at a time forever or never answers, and one
//! whose error text carries terminal escape sequences and GitHub workflow commands. The run
//! ends, with bounded memory, naming the endpoint and the deadline; what it prints is
//! neutralised; what the server holds is exactly what the summary says.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use symship_scan::ReleaseMode;
use symship_test_support::*;
use symship_testserver::{Config, FaultKind, FaultRule};

use crate::support::*;

/// Runs `cmd`, killing it (and failing the test) if it has not ended after `limit`: a hang is a
/// failure, not a stuck test run.
fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn symship");
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut so, &mut b).unwrap();
        b
    });
    let t_err = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut se, &mut b).unwrap();
        b
    });
    let started = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "symship still ran after {limit:?} (hung); stderr so far:\n{}",
                String::from_utf8_lossy(&t_err.join().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

fn json_of(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON summary ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A valid sourcemap whose `x_deep` member nests `depth` arrays.
fn deep_map(file: &str, depth: usize) -> String {
    format!(
        r#"{{"version":3,"file":"{file}","sources":["src/x.ts"],"names":[],"mappings":"AAAA","x_deep":{}0{}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

fn failed_errors(summary: &serde_json::Value) -> Vec<(String, String)> {
    string_pairs(&summary["failed"], "code", "error")
}

#[test]
fn maps_nested_100000_deep_are_skipped_by_name_and_the_rest_uploads() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("build");
    generate(&dir, 6, 1, "deep");
    std::fs::write(dir.join("c1.js.map"), deep_map("c1.js", 100_000)).unwrap();
    std::fs::write(dir.join("c2.js.map"), deep_map("c2.js", 10_000)).unwrap();
    let out = run_bounded(
        symship_for(&server, tmp.path())
            .args(["--output", "json", "sourcemap", "process", "-d"])
            .arg(&dir),
        Duration::from_secs(120),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "no crash, no failure (skips are not failures without --strict): {stderr}"
    );
    let summary = json_of(&out);
    for bad in ["c1.js", "c2.js"] {
        let skipped: Vec<&serde_json::Value> = summary["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| {
                s["file"].as_str().unwrap().ends_with(bad)
                    || s["reason"].as_str().unwrap().contains(&format!("{bad}.map"))
            })
            .collect();
        assert_eq!(skipped.len(), 1, "{bad} is skipped once, by name: {summary:#}");
        let reason = skipped[0]["reason"].as_str().unwrap();
        assert!(
            reason.contains(&format!("{bad}.map")) && reason.contains("128 levels"),
            "the reason names the map and why: {reason}"
        );
    }
    let all = chunks(&summary);
    let uploaded: BTreeSet<String> = all
        .iter()
        .filter(|c| c.3 == "uploaded")
        .map(|c| c.2.clone())
        .collect();
    let uploaded_files: BTreeSet<String> = all
        .iter()
        .filter(|c| c.3 == "uploaded")
        .map(|c| {
            Path::new(&c.0)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        uploaded_files,
        ["c0.js", "c3.js", "c4.js", "c5.js"]
            .into_iter()
            .map(String::from)
            .collect(),
        "{summary:#}"
    );
    let finished = assert_server_holds_exactly(&server, &all, ReleaseMode::Event);
    assert_eq!(finished, uploaded, "the server holds exactly the other four");
}

#[test]
fn answers_of_2_gb_are_cut_off_with_bounded_memory() {
    // A 2 GiB success answer to start, and a 2 GiB error answer to finish (error bodies are read
    // for their code: only their start is).
    for (rule, endpoint) in [
        (
            FaultRule::new(
                "bulk_start_upload",
                FaultKind::HugeBody {
                    mib: 2048,
                    status: 201,
                },
            ),
            "bulk_start_upload",
        ),
        (
            FaultRule::new(
                "bulk_finish_upload",
                FaultKind::HugeBody {
                    mib: 2048,
                    status: 502,
                },
            ),
            "bulk_finish_upload",
        ),
    ] {
        let server = start(Config {
            faults: vec![rule],
            ..Default::default()
        });
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("build");
        generate(&dir, 5, 1, "huge");
        let mut cmd = symship_for(&server, tmp.path());
        cmd.args(["--output", "json", "sourcemap", "process", "-d"])
            .arg(&dir);
        let (code, peak_kib, out) = run_peak_kib(&mut cmd);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(code, 1, "{endpoint}: the chunks did not land: {stderr}");
        let summary = json_of(&out);
        let failed = failed_errors(&summary);
        assert_eq!(failed.len(), 5, "{summary:#}");
        for (_, error) in &failed {
            assert!(error.contains(endpoint), "the error names {endpoint}: {error}");
        }
        if endpoint == "bulk_start_upload" {
            assert!(
                failed[0].1.contains("larger than 16777216 bytes"),
                "{}",
                failed[0].1
            );
        }
        let sent = server.fault_bytes_sent();
        assert!(
            sent < 256 * 1024 * 1024,
            "{endpoint}: the client stopped reading ({sent} bytes of 2 GiB were handed to the socket)"
        );
        assert!(
            peak_kib < 200 * 1024,
            "{endpoint}: peak RSS {peak_kib} KiB stays far below the answer's 2 GiB"
        );
        // nothing is finished on the server, as the summary says
        let finished = assert_server_holds_exactly(&server, &chunks(&summary), ReleaseMode::Event);
        assert!(finished.is_empty(), "{finished:?}");
    }
}

#[test]
fn a_server_that_drips_or_stalls_ends_in_a_deadline_naming_the_endpoint() {
    // Drip: a byte every 100 ms (idle never fires), total 1.5 s. Stall: no answer for 30 s,
    // idle 0.5 s.
    // A stalled object store: the transfer's idle deadline, naming the PUT.
    for (rule, deadline, endpoint) in [
        (
            FaultRule::new("bulk_start_upload", FaultKind::Drip { ms: 100 }),
            "total deadline",
            "bulk_start_upload",
        ),
        (
            FaultRule::new("bulk_start_upload", FaultKind::Latency { ms: 30_000 }),
            "idle deadline",
            "bulk_start_upload",
        ),
        (
            FaultRule::new("s3_put", FaultKind::Latency { ms: 30_000 }),
            "idle deadline",
            "PUT http://",
        ),
    ] {
        let server = start(Config {
            faults: vec![rule],
            ..Default::default()
        });
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("build");
        generate(&dir, 3, 1, "drip");
        let out = run_bounded(
            symship_for(&server, tmp.path())
                .env("SYMSHIP_TOTAL_TIMEOUT", "1.5")
                .env("SYMSHIP_IDLE_TIMEOUT", "0.5")
                .args(["--output", "json", "sourcemap", "process", "-d"])
                .arg(&dir),
            Duration::from_secs(90),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        let summary = json_of(&out);
        let failed = failed_errors(&summary);
        assert_eq!(failed.len(), 3, "{summary:#}");
        for (_, error) in &failed {
            assert!(
                error.contains(endpoint) && error.contains(deadline),
                "the error names the endpoint and the {deadline}: {error}"
            );
        }
        if deadline == "total deadline" {
            // (a stalled request is only recorded when its 30 s are up)
            let starts = requests(&server, "bulk_start_upload").len();
            assert!(
                (2..=4).contains(&starts),
                "retried within the policy, then given up: {starts}"
            );
        }
    }
}

fn assert_no_raw_control(what: &str, text: &str) {
    for bad in ['\u{1b}', '\u{7}', '\r', '\u{9b}', '\u{202e}', '\u{0}'] {
        assert!(!text.contains(bad), "{what} holds a raw {:?}:\n{text}", bad);
    }
}

/// Lines the Actions runner would take as workflow commands (it trims leading white space).
fn command_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| {
            let t = l.trim_start();
            t.starts_with("::") || t.starts_with("##[")
        })
        .collect()
}

#[test]
fn hostile_error_text_is_neutralised_in_logs_summary_and_annotations() {
    for route in ["bulk_start_upload", "s3_put"] {
        let server = start(Config {
            faults: vec![FaultRule::new(route, FaultKind::Hostile { status: 400 })],
            ..Default::default()
        });
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("build");
        generate(&dir, 3, 1, "hostile");
        let step_summary = tmp.path().join("step-summary.md");
        let outputs = tmp.path().join("outputs.txt");
        let out = run_bounded(
            symship_for(&server, tmp.path())
                .env("GITHUB_ACTIONS", "true")
                .env("GITHUB_STEP_SUMMARY", &step_summary)
                .env("GITHUB_OUTPUT", &outputs)
                .env("GITHUB_WORKSPACE", tmp.path())
                .args(["-v", "sourcemap", "process", "-d"])
                .arg(&dir),
            Duration::from_secs(90),
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{route}: {stderr}");
        assert_no_raw_control("stderr", &stderr);
        assert_no_raw_control("stdout", &stdout);
        // The server's words are shown, escaped, with its would-be commands defused.
        assert!(stderr.contains("\\u001b[2J"), "{route}: {stderr}");
        assert!(stderr.contains("> ::add-mask::phx_forged"), "{route}: {stderr}");
        // The only workflow commands are symship's own annotations for the three chunks.
        let cmds = command_lines(&stderr);
        assert_eq!(cmds.len(), 3, "{route}: {cmds:#?}");
        for c in &cmds {
            assert!(
                c.starts_with("::error file=build/c") && c.contains(".js,title=symship%3A not uploaded"),
                "{route}: only symship's annotations: {c}"
            );
        }
        let md = std::fs::read_to_string(&step_summary).unwrap();
        assert_no_raw_control("job summary", &md);
        assert!(command_lines(&md).is_empty(), "{md}");
        let outs = std::fs::read_to_string(&outputs).unwrap();
        let keys: Vec<&str> = outs.lines().map(|l| l.split('=').next().unwrap()).collect();
        assert_eq!(
            keys,
            [
                "release-id",
                "uploaded",
                "skipped",
                "failed",
                "exit-code",
                "summary-json"
            ],
            "no injected step output: {outs}"
        );
    }
}

#[test]
fn a_download_of_2_gb_is_refused_as_it_arrives() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("build");
    generate(&dir, 1, 1, "dl");
    let out = run_bounded(
        symship_for(&server, tmp.path())
            .args(["--output", "json", "sourcemap", "process", "-d"])
            .arg(&dir),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(0));
    let chunk_id = chunks(&json_of(&out))[0].2.clone();
    server.set_faults(vec![FaultRule::new(
        "s3_get",
        FaultKind::HugeBody {
            mib: 2048,
            status: 200,
        },
    )]);
    let out_dir = tmp.path().join("dl");
    let mut cmd = symship_for(&server, tmp.path());
    cmd.args(["symbol-sets", "download", "--ref", &chunk_id, "-o"])
        .arg(&out_dir);
    let (code, peak_kib, out) = run_peak_kib(&mut cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("GET http://") && stderr.contains("larger than"),
        "names the download and the cap: {stderr}"
    );
    let sent = server.fault_bytes_sent();
    assert!(
        sent < 512 * 1024 * 1024,
        "the client stopped reading ({sent} bytes handed out)"
    );
    assert!(
        peak_kib < 512 * 1024,
        "peak RSS {peak_kib} KiB, not the 2 GiB answer"
    );
    assert!(!out_dir.join(format!("{chunk_id}.js")).exists());
}

/// Writes a map of about `mib` MiB whose `sourcesContent` is pseudo-random printable text that
/// zstd cannot shrink much (about 6.5 bits of 8 per byte), for a container over 100 MiB.
fn write_incompressible_map(path: &Path, file: &str, mib: usize) {
    use std::io::Write as _;
    let alphabet: Vec<u8> = (b' '..=b'~').filter(|c| *c != b'"' && *c != b'\\').collect();
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    write!(
        f,
        r#"{{"version":3,"file":"{file}","sources":["src/big.ts"],"names":[],"mappings":"AAAA","sourcesContent":[""#
    )
    .unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for b in buf.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = alphabet[(x % alphabet.len() as u64) as usize];
        }
        f.write_all(&buf).unwrap();
    }
    f.write_all(br#""]}"#).unwrap();
}

#[test]
fn a_chunk_too_large_for_posthog_is_found_out_before_the_start() {
    let server = start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("build");
    generate(&dir, 2, 1, "big");
    write_incompressible_map(&dir.join("c1.js.map"), "c1.js", 128);
    let out = run_bounded(
        symship_for(&server, tmp.path())
            .args(["--output", "json", "sourcemap", "process", "-d"])
            .arg(&dir),
        Duration::from_secs(300),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let summary = json_of(&out);
    let all = chunks(&summary);
    let big = all.iter().find(|c| c.0.ends_with("c1.js")).unwrap();
    assert_eq!(big.3, "too_large", "{summary:#}");
    let started: Vec<String> = requests(&server, "bulk_start_upload")
        .iter()
        .flat_map(|r| {
            r.body.as_ref().unwrap()["symbol_sets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["chunk_id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        !started.contains(&big.2),
        "the too-large chunk was never started: {started:?}"
    );
    assert!(
        server.symbol_sets().iter().all(|s| s.ref_ != big.2),
        "no unfinished symbol set is left on the server"
    );
    let finished = assert_server_holds_exactly(&server, &all, ReleaseMode::Event);
    assert_eq!(finished.len(), 1, "the other chunk landed");
}
