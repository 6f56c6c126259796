//! `symship doctor` on a good configuration and on broken ones, against symship-testserver.

use std::path::Path;

use symship_test_support::*;

use crate::support::*;
use serde_json::Value;
use symship_testserver::TestServer;

/// `(check, status)` of every finding.
fn statuses(v: &Value) -> Vec<(String, String)> {
    string_pairs(&v["findings"], "check", "status")
}

fn finding<'a>(v: &'a Value, check: &str) -> &'a Value {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == check)
        .unwrap_or_else(|| panic!("no {check} finding in {v:#}"))
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// Runs `doctor --output json`, checks the exit code, that every problem has a hint, that
/// `healthy` matches, and that no key is printed.
fn doctor(cmd: &mut std::process::Command, expect: i32, secrets: &[&str]) -> Value {
    let r = ok(cmd.args(["doctor", "--output", "json"]), expect);
    for s in secrets {
        assert!(
            !r.stdout.contains(s) && !r.stderr.contains(s),
            "a key was printed:\n{}\n{}",
            r.stdout,
            r.stderr
        );
    }
    let v = r.json();
    assert_eq!(v["healthy"], expect == 0);
    for f in v["findings"].as_array().unwrap() {
        if f["status"] == "problem" {
            assert!(
                f["hint"].as_str().is_some_and(|h| !h.is_empty()),
                "problem without a hint: {f}"
            );
        }
    }
    v
}

fn host_literals(server: &TestServer) -> Vec<(String, &'static str)> {
    vec![(server.base_url(), "<host>")]
}

fn norm(v: &Value, lits: &[(String, &'static str)]) -> Value {
    let l: Vec<(&str, &str)> = lits.iter().map(|(a, b)| (a.as_str(), *b)).collect();
    normalize_ids(v, &l)
}

#[test]
fn healthy_configuration() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    let key = server.api_key();
    let v = doctor(&mut symship_for(&server, tmp.path()), 0, &[&key]);
    assert_eq!(
        statuses(&v),
        pairs(&[
            ("api key", "ok"),
            ("project id", "ok"),
            ("host", "ok"),
            ("connection", "ok"),
            ("read access", "ok"),
            ("write access", "ok"),
        ])
    );
    assert!(finding(&v, "api key")["message"]
        .as_str()
        .unwrap()
        .ends_with("from environment variable POSTHOG_CLI_API_KEY"));
    assert_json_snapshot("doctor_healthy", &norm(&v, &host_literals(&server)));
    // The probes created nothing.
    assert!(server.symbol_sets().is_empty() && server.releases().is_empty());
    let probes: Vec<String> = server.requests().iter().map(|r| r.route.clone()).collect();
    assert_eq!(probes, ["list", "bulk_check_upload"]);

    // The text form: one line per finding, a verdict.
    let r = ok(symship_for(&server, tmp.path()).arg("doctor"), 0);
    assert!(r.stdout.contains("[ok]      read access: "), "{}", r.stdout);
    assert!(r.stdout.trim_end().ends_with("no problems found"));

    // Sources: the same settings from a dotenv file are reported as such.
    let env = tmp.path().join("ph.env");
    std::fs::write(
        &env,
        format!(
            "POSTHOG_CLI_API_KEY={key}\nPOSTHOG_CLI_PROJECT_ID={}\nPOSTHOG_CLI_HOST={}\n",
            server.project_id(),
            server.base_url()
        ),
    )
    .unwrap();
    let v = doctor(symship_in(tmp.path()).arg("--dotenv-file").arg(&env), 0, &[&key]);
    let msg = finding(&v, "project id")["message"].as_str().unwrap().to_owned();
    assert!(
        msg.contains("POSTHOG_CLI_PROJECT_ID in dotenv file") && msg.contains("ph.env"),
        "{msg}"
    );
}

#[test]
fn no_credentials() {
    let tmp = tempfile::tempdir().unwrap();
    let v = doctor(&mut symship_in(tmp.path()), 1, &[]);
    assert_eq!(
        statuses(&v),
        pairs(&[
            ("credentials", "problem"),
            ("connection", "skipped"),
            ("read access", "skipped"),
            ("write access", "skipped"),
        ])
    );
    assert!(finding(&v, "credentials")["hint"]
        .as_str()
        .unwrap()
        .contains("POSTHOG_CLI_API_KEY"));
    assert_json_snapshot("doctor_no_credentials", &v);
    let r = ok(symship_in(tmp.path()).arg("doctor"), 1);
    assert!(r.stdout.contains("[problem] credentials: "), "{}", r.stdout);
    assert!(r.stdout.trim_end().ends_with("1 problem found"), "{}", r.stdout);
}

#[test]
fn project_token_instead_of_personal_key() {
    let tmp = tempfile::tempdir().unwrap();
    let phc = "phc_ProjectTokenThatCanOnlySendEvents";
    let v = doctor(
        symship_in(tmp.path())
            .env("POSTHOG_CLI_API_KEY", phc)
            .env("POSTHOG_CLI_PROJECT_ID", "1")
            .env("POSTHOG_CLI_HOST", "http://127.0.0.1:9"),
        1,
        &[phc, "ProjectTokenThat"],
    );
    assert_eq!(
        statuses(&v),
        pairs(&[
            ("api key", "problem"),
            ("connection", "skipped"),
            ("read access", "skipped"),
            ("write access", "skipped"),
        ])
    );
    assert!(finding(&v, "api key")["hint"]
        .as_str()
        .unwrap()
        .contains("personal API key"));
    assert_json_snapshot("doctor_project_token", &v);
}

#[test]
fn unreachable_host() {
    let tmp = tempfile::tempdir().unwrap();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = format!("http://127.0.0.1:{port}");
    let started = std::time::Instant::now();
    let v = doctor(
        symship_in(tmp.path())
            .env("POSTHOG_CLI_API_KEY", "phx_SecretSecretSecret")
            .env("POSTHOG_CLI_PROJECT_ID", "1")
            .env("POSTHOG_CLI_HOST", &host),
        1,
        &["SecretSecret"],
    );
    assert!(started.elapsed().as_secs() < 10, "no retries on the diagnosis");
    assert_eq!(
        statuses(&v),
        pairs(&[
            ("api key", "ok"),
            ("project id", "ok"),
            ("host", "ok"),
            ("connection", "problem"),
            ("read access", "skipped"),
            ("write access", "skipped"),
        ])
    );
    let problem = &v["findings"][3];
    assert!(
        problem["message"].as_str().unwrap().contains("could not reach"),
        "{problem}"
    );
    // The connect error's wording is the OS's; keep the snapshot to the shape.
    let mut shaped = norm(&v, &[(host.clone(), "<host>")]);
    shaped["findings"][3]["message"] = Value::String("could not reach <host>/: <error>".into());
    assert_json_snapshot("doctor_unreachable", &shaped);
}

#[test]
fn wrong_key_and_missing_scope() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    // A well-formed key the server does not know: 401.
    let wrong = "phx_NotAKeyThisServerKnows";
    let v = doctor(
        symship_for(&server, tmp.path()).env("POSTHOG_CLI_API_KEY", wrong),
        1,
        &["NotAKeyThis"],
    );
    assert_eq!(
        statuses(&v),
        pairs(&[
            ("api key", "ok"),
            ("project id", "ok"),
            ("host", "ok"),
            ("connection", "ok"),
            ("read access", "problem"),
            ("write access", "skipped"),
        ])
    );
    assert!(finding(&v, "read access")["message"]
        .as_str()
        .unwrap()
        .contains("HTTP 401"));
    assert_json_snapshot("doctor_wrong_key", &norm(&v, &host_literals(&server)));

    // A read-only key: reads, may not upload (403).
    let ro = server.read_only_key();
    let v = doctor(
        symship_for(&server, tmp.path()).env("POSTHOG_CLI_API_KEY", &ro),
        1,
        &[&ro],
    );
    assert_eq!(finding(&v, "read access")["status"], "ok");
    let w = finding(&v, "write access");
    assert_eq!(w["status"], "problem");
    assert!(w["message"].as_str().unwrap().contains("HTTP 403"), "{w}");
    assert!(w["hint"].as_str().unwrap().contains("error_tracking:write"));

    // Another project id: the server refuses the key for it.
    let v = doctor(
        symship_for(&server, tmp.path()).env("POSTHOG_CLI_PROJECT_ID", "999"),
        1,
        &[&server.api_key()],
    );
    assert_eq!(finding(&v, "read access")["status"], "problem");
}

#[test]
fn build_directory() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    copy_dir(&repo_root().join("fixtures/vite-react/dist"), &dist);
    let check = |dir: &Path, expect: i32| {
        let r = ok(
            symship_for(&server, tmp.path())
                .args(["doctor", "--output", "json", "-d"])
                .arg(dir),
            expect,
        );
        r.json()
    };
    let v = check(&dist, 0);
    let build = finding(&v, "build");
    assert_eq!(build["status"], "ok");
    let n = chunk_js_count(&dist);
    assert!(
        build["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{n} chunks paired with sourcemaps")),
        "{build}"
    );
    assert!(build["message"]
        .as_str()
        .unwrap()
        .ends_with("(0 already injected)"));

    // A chunk without a map is a problem, named, with a hint.
    std::fs::write(dist.join("assets/orphan.js"), "console.log(1)\n").unwrap();
    let v = check(&dist, 1);
    let problems: Vec<&Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "problem")
        .collect();
    assert_eq!(problems.len(), 1, "{v:#}");
    assert_eq!(problems[0]["check"], "build");
    assert!(problems[0]["message"].as_str().unwrap().contains("orphan.js"));
    assert!(problems[0]["hint"].as_str().unwrap().contains("--exclude"));
    // ... which --exclude clears.
    let r = ok(
        symship_for(&server, tmp.path())
            .args(["doctor", "-d"])
            .arg(&dist)
            .args(["--exclude", "**/orphan.js"]),
        0,
    );
    assert!(r.stdout.contains("[ok]      build: "), "{}", r.stdout);

    // No JavaScript at all.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let v = check(&empty, 1);
    assert!(finding(&v, "build")["message"]
        .as_str()
        .unwrap()
        .starts_with("no JavaScript chunks found"));
    // A directory that does not exist is a usage error.
    ok(
        symship_for(&server, tmp.path()).args(["doctor", "-d", "/nonexistent/dist"]),
        2,
    );
}

fn chunk_js_count(dir: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir.join("assets")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "js") && p.with_extension("js.map").exists() {
            n += 1;
        }
    }
    n
}

#[test]
fn old_server_without_bulk_check_is_a_warning() {
    let server = start(symship_testserver::Config {
        mode: symship_testserver::Mode {
            old_server: true,
            ..Default::default()
        },
        ..Default::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    let v = doctor(&mut symship_for(&server, tmp.path()), 0, &[&server.api_key()]);
    let w = finding(&v, "write access");
    assert_eq!(w["status"], "warning");
    assert!(
        w["message"]
            .as_str()
            .unwrap()
            .contains("predates bulk_check_upload"),
        "{w}"
    );
    assert_eq!(finding(&v, "read access")["status"], "ok");
}
