//! The `symship-testserver` binary: the dotenv lines first on stdout, state and objects that
//! survive a restart with `--data-dir`, a clean exit on SIGTERM/SIGINT that stops s3s-fs, and
//! a clear error when s3s-fs is missing.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::common::*;
use serde_json::{json, Value};

struct Running {
    child: Child,
    env: Vec<(String, String)>,
}

impl Running {
    fn get(&self, k: &str) -> &str {
        &self
            .env
            .iter()
            .find(|(n, _)| n == k)
            .unwrap_or_else(|| panic!("no {k}"))
            .1
    }

    fn signal(mut self, sig: &str) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args([sig, &pid]).status().unwrap().success());
        self.child.wait().unwrap()
    }
}

fn spawn(args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_symship-testserver"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut env = Vec::new();
    for expected in [
        "POSTHOG_CLI_HOST",
        "POSTHOG_CLI_PROJECT_ID",
        "POSTHOG_CLI_API_KEY",
    ] {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let (k, v) = line
            .trim_end()
            .split_once('=')
            .unwrap_or_else(|| panic!("not KEY=VALUE: {line:?}"));
        assert_eq!(k, expected, "line order");
        env.push((k.to_owned(), v.to_owned()));
    }
    Running { child, env }
}

fn info(host: &str) -> Value {
    client()
        .get(format!("{host}/_admin/info"))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

fn alive(pid: u64) -> bool {
    // a zombie would still have /proc/PID; the server reaps its child
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

#[test]
fn prints_dotenv_lines_persists_across_restart_and_stops_cleanly() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let first = spawn(&["--port", "0", "--data-dir", dir]);
    let host = first.get("POSTHOG_CLI_HOST").to_owned();
    assert!(host.starts_with("http://127.0.0.1:"), "{host}");
    assert_eq!(first.get("POSTHOG_CLI_PROJECT_ID"), "1");
    let key = first.get("POSTHOG_CLI_API_KEY").to_owned();
    assert!(key.starts_with("phx_"));
    let s3fs_pid = info(&host)["s3fs_pid"].as_u64().unwrap();
    assert!(alive(s3fs_pid));

    // upload one set and create a release through the API
    let c = client();
    let api_url = |p: &str| format!("{host}/api/projects/1/error_tracking/{p}");
    let body = container("persist", "x");
    let r: Value = c
        .post(api_url("symbol_sets/bulk_start_upload"))
        .bearer_auth(&key)
        .json(&json!({"symbol_sets":[{"chunk_id":"persist","content_hash":"h","content_length":body.len()}]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let e = &r["id_map"]["persist"];
    assert_eq!(
        put(&c, e["presigned_put_url"].as_str().unwrap(), body.clone()).0,
        200
    );
    let id = e["symbol_set_id"].as_str().unwrap().to_owned();
    let r = c
        .post(api_url("symbol_sets/bulk_finish_upload"))
        .bearer_auth(&key)
        .json(&json!({"content_hashes":{&id:"h"}}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let r = c
        .post(api_url("releases"))
        .bearer_auth(&key)
        .json(&json!({"project":"p","version":"1","hash_id":"hp"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);

    let status = first.signal("-TERM");
    assert!(status.success(), "{status:?}");
    assert!(!alive(s3fs_pid), "s3s-fs child stopped");

    // restart on the same data dir: same key, same state, the object still downloadable
    let second = spawn(&["--data-dir", dir]);
    assert_eq!(second.get("POSTHOG_CLI_API_KEY"), key);
    let host2 = second.get("POSTHOG_CLI_HOST").to_owned();
    let api_url = |p: &str| format!("{host2}/api/projects/1/error_tracking/{p}");
    let r: Value = c
        .get(api_url(&format!("symbol_sets/{id}/download/")))
        .bearer_auth(&key)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let got = c.get(r["url"].as_str().unwrap()).send().unwrap();
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(got.bytes().unwrap().to_vec(), body);
    let r: Value = c
        .get(api_url("releases/hash/hp"))
        .bearer_auth(&key)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(r["version"], "1");
    // an identical re-upload is skipped: the hash survived
    let r: Value = c
        .post(api_url("symbol_sets/bulk_check_upload"))
        .bearer_auth(&key)
        .json(&json!({"symbol_sets":[{"chunk_id":"persist","content_hash":"h"}]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(r, json!({"chunk_ids_to_upload":[]}));
    let pid2 = info(&host2)["s3fs_pid"].as_u64().unwrap();
    assert!(second.signal("-INT").success());
    assert!(!alive(pid2));
}

#[test]
fn flags_for_modes_and_faults() {
    let run = spawn(&["--old-server", "--fault", "releases_list:status=503:first_n=1"]);
    let host = run.get("POSTHOG_CLI_HOST").to_owned();
    let key = run.get("POSTHOG_CLI_API_KEY").to_owned();
    let c = client();
    let url = format!("{host}/api/projects/1/error_tracking/releases");
    assert_eq!(
        c.get(&url).bearer_auth(&key).send().unwrap().status().as_u16(),
        503
    );
    assert_eq!(
        c.get(&url).bearer_auth(&key).send().unwrap().status().as_u16(),
        200
    );
    let check = format!("{host}/api/projects/1/error_tracking/symbol_sets/bulk_check_upload");
    assert_eq!(
        c.post(check)
            .bearer_auth(&key)
            .json(&json!({}))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    assert!(run.signal("-TERM").success());
}

#[test]
fn missing_s3fs_names_the_install_script() {
    let out = Command::new(env!("CARGO_BIN_EXE_symship-testserver"))
        .args(["--s3fs", "/nonexistent/s3s-fs"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "nothing on stdout when it cannot serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("scripts/install-tools") && err.contains("/nonexistent/s3s-fs"),
        "{err}"
    );
}

#[test]
fn an_unknown_fault_route_is_refused_with_the_known_routes() {
    // a typo in the route matched no request, so a test meant to see the fault passed without it
    let mut child = Command::new(env!("CARGO_BIN_EXE_symship-testserver"))
        .args(["--fault", "bulk_finish:status=503"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // a server that accepted the rule serves until stopped: stop it rather than hang the test
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(60) {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still serving with the rule after 60 s: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing on stdout when it cannot serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"unknown fault route "bulk_finish"; known routes: *, list,"#),
        "{err}"
    );
    for known in [
        "bulk_finish_upload",
        "releases_hash",
        "events_list",
        "s3_*",
        "s3_put",
        "s3_accel_post",
    ] {
        assert!(err.contains(known), "{known} in {err}");
    }
}
