//! `symship release resolve` as a process, against the real local test server.

use std::process::{Command, Output, Stdio};

use symship_testserver::{FaultKind, FaultRule, TestServer};

struct Env<'a> {
    server: Option<&'a TestServer>,
    key: Option<String>,
    home: tempfile::TempDir,
    cwd: tempfile::TempDir,
}

impl<'a> Env<'a> {
    fn new(server: Option<&'a TestServer>) -> Env<'a> {
        Env {
            key: server.map(|s| s.api_key()),
            server,
            home: tempfile::tempdir().unwrap(),
            cwd: tempfile::tempdir().unwrap(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        // Credentials come from $HOME/.posthog here, so POSTHOG_HOME is not set.
        let mut cmd = symship_test_support::symship_in(self.cwd.path());
        cmd.env_remove("POSTHOG_HOME")
            .env("HOME", self.home.path())
            .args(args);
        if let Some(s) = self.server {
            cmd.env("POSTHOG_CLI_HOST", s.base_url())
                .env("POSTHOG_CLI_PROJECT_ID", s.project_id().to_string());
        }
        if let Some(k) = &self.key {
            cmd.env("POSTHOG_CLI_API_KEY", k);
        }
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run symship")
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn server() -> TestServer {
    TestServer::start(Default::default()).unwrap_or_else(|e| panic!("test server: {e}"))
}

/// `release resolve --release-name <name> --release-version <version>`
fn resolve<'a>(name: &'a str, version: &'a str) -> [&'a str; 6] {
    [
        "release",
        "resolve",
        "--release-name",
        name,
        "--release-version",
        version,
    ]
}

const HASH_PREFIX: &str = "5fddd88a65199cea";

#[test]
fn prints_the_uuid_creates_once_and_reuses() {
    let server = server();
    let env = Env::new(Some(&server));
    let args = resolve("my-app", "1.0.0");
    let first = env.run(&args);
    assert!(first.status.success(), "{}", stderr(&first));
    let id = stdout(&first);
    assert_eq!(id.trim().len(), 36, "{id:?}");
    assert!(id.ends_with('\n') && id.lines().count() == 1, "{id:?}");
    let releases = server.releases();
    assert_eq!(releases.len(), 1);
    assert_eq!(releases[0].id.to_string(), id.trim());
    assert!(releases[0].hash_id.starts_with(HASH_PREFIX));
    assert_eq!(releases[0].metadata, None, "no git here, so no metadata");

    let again = env.run(&args);
    assert_eq!(stdout(&again), id);
    assert_eq!(server.releases().len(), 1);

    // --json and --output json print the same pretty object, in posthog-cli's key order.
    let json = env.run(&[
        "release",
        "resolve",
        "--project",
        "my-app",
        "--version",
        "1.0.0",
        "--json",
    ]);
    assert!(json.status.success(), "{}", stderr(&json));
    let text = stdout(&json);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["id", "hash_id", "version", "project"]);
    assert_eq!(v["id"], id.trim());
    assert!(v["hash_id"].as_str().unwrap().starts_with(HASH_PREFIX));
    assert!(text.starts_with("{\n  \"id\": "), "{text}");
    let out = env.run(&[
        "--output",
        "json",
        "release",
        "resolve",
        "--release-name",
        "my-app",
        "--release-version",
        "1.0.0",
    ]);
    assert_eq!(stdout(&out), text);
    // --build packs into the version.
    let built = env.run(&[
        "release",
        "resolve",
        "--release-name",
        "my-app",
        "--release-version",
        "1.0.0",
        "--build",
        "42",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&built)).unwrap();
    assert_eq!(v["version"], "1.0.0+42");
    assert_eq!(server.releases().len(), 2);
}

#[test]
fn nothing_to_resolve_prints_nothing_or_null_and_exits_0() {
    let server = server();
    let env = Env::new(Some(&server));
    let o = env.run(&["release", "resolve"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    let o = env.run(&["release", "resolve", "--json"]);
    assert!(o.status.success());
    assert_eq!(stdout(&o), "null\n");
    assert!(server.requests().is_empty());
    // Even without any credentials.
    let bare = Env::new(None);
    let o = bare.run(&["release", "resolve"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
}

/// Half a release (a name without a version, or the reverse) outside git is refused, as
/// posthog-cli 0.19.0 refuses it ("Release fields are incomplete and git info is unavailable",
/// exit 1): printing nothing and exiting 0 made a bundler plugin build without the release the
/// user named (a fresh tester's D3). Exit 2 under symship's name (a configuration error), 1
/// under posthog-cli's; nothing is sent, and `process` stops before it writes anything.
#[test]
fn half_a_release_outside_git_is_refused_by_either_name() {
    let server = server();
    let env = Env::new(Some(&server));
    let posthog_cli = symship_test_support::symship_as_posthog_cli(env.home.path());
    for half in [["--release-name", "web"], ["--release-version", "1.2.3"]] {
        let mut args = vec!["release", "resolve"];
        args.extend(half);
        let o = env.run(&args);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert_eq!(stdout(&o), "");
        let err = stderr(&o);
        assert!(err.contains("release fields are incomplete"), "{err}");
        assert!(err.contains("--release-name and --release-version"), "{err}");
        let mut as_posthog_cli = Command::new(&posthog_cli);
        as_posthog_cli
            .current_dir(env.cwd.path())
            .env_remove("POSTHOG_HOME")
            .env("HOME", env.home.path())
            .env("POSTHOG_CLI_HOST", server.base_url())
            .env("POSTHOG_CLI_PROJECT_ID", server.project_id().to_string())
            .env("POSTHOG_CLI_API_KEY", env.key.as_ref().unwrap())
            .args(&args);
        let o = as_posthog_cli.output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert_eq!(stdout(&o), "");
    }
    // `process` with half a release refuses before it injects: the build is left as it was.
    let build = env.cwd.path().join("dist");
    std::fs::create_dir(&build).unwrap();
    let chunk = "console.log(1);\n//# sourceMappingURL=a.js.map\n";
    let map = r#"{"version":3,"sources":["a.ts"],"names":[],"mappings":"AAAA"}"#;
    std::fs::write(build.join("a.js"), chunk).unwrap();
    std::fs::write(build.join("a.js.map"), map).unwrap();
    let o = env.run(&["sourcemap", "process", "--release-name", "web", "-d", "dist"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("release fields are incomplete"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(build.join("a.js")).unwrap(), chunk);
    assert_eq!(std::fs::read_to_string(build.join("a.js.map")).unwrap(), map);
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}

#[test]
fn dry_run_needs_no_credentials_and_sends_nothing() {
    let bare = Env::new(None);
    let o = bare.run(&[
        "--dry-run=true",
        "release",
        "resolve",
        "--release-name",
        "my-app",
        "--release-version",
        "1.0.0",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.starts_with("name: my-app\nversion: 1.0.0\nhash_id: 5fddd88a65199cea"),
        "{text}"
    );
    let o = bare.run(&[
        "--dry-run=true",
        "release",
        "resolve",
        "--release-name",
        "my-app",
        "--release-version",
        "1.0.0",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["project"], "my-app");

    let server = server();
    let env = Env::new(Some(&server));
    let o = env
        .command(&resolve("a", "b"))
        .env("POSTHOG_CLI_DRY_RUN", "1")
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(stdout(&o).starts_with("name: a\n"));
    assert!(server.requests().is_empty());
}

#[test]
fn configuration_errors_exit_2_and_say_what_is_missing() {
    let bare = Env::new(None);
    let o = bare.run(&resolve("x", "1"));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("POSTHOG_CLI_API_KEY") && err.contains("credentials.json: not found"),
        "{err}"
    );
    assert_eq!(stdout(&o), "");

    let mut phc = Env::new(None);
    phc.key = Some("phc_projecttokenvalue".into());
    let o = phc
        .command(&resolve("x", "1"))
        .env("POSTHOG_CLI_PROJECT_ID", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("project token (phc_"), "{err}");
    assert!(!err.contains("projecttokenvalue"), "{err}");
}

#[test]
fn server_errors_exit_1_with_the_status_and_hint() {
    let server = server();
    let mut env = Env::new(Some(&server));
    env.key = Some(server.read_only_key());
    let o = env.run(&resolve("x", "1"));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("HTTP 403") && err.contains("error_tracking:write"),
        "{err}"
    );
    assert!(!err.contains(&server.read_only_key()));
    let o = env.run(&[
        "--no-fail",
        "release",
        "resolve",
        "--release-name",
        "x",
        "--release-version",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn two_processes_resolving_the_same_new_release_end_with_one() {
    let server = server();
    // Hold both creates: whichever process looks up second still sees 404 and creates too.
    server.set_faults(vec![FaultRule::new(
        "releases_create",
        FaultKind::Latency { ms: 1500 },
    )
    .first_n(2)]);
    let env = Env::new(Some(&server));
    let args = resolve("race", "9");
    let a = env
        .command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let b = env
        .command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(
        a.status.success() && b.status.success(),
        "{}\n{}",
        stderr(&a),
        stderr(&b)
    );
    assert_eq!(stdout(&a), stdout(&b));
    assert_eq!(server.releases().len(), 1);
    let mut creates: Vec<u16> = server
        .requests()
        .iter()
        .filter(|r| r.route == "releases_create")
        .map(|r| r.status)
        .collect();
    creates.sort();
    assert_eq!(
        creates,
        vec![201, 400],
        "both created; the loser got release_hash_in_use and looked it up"
    );
}

#[test]
fn the_token_never_appears_in_output_at_the_most_verbose_level() {
    let server = server();
    let key = server.api_key();
    let env = Env::new(Some(&server));
    let mut transcript = String::new();
    let mut check = |o: &Output, what: &str| {
        let all = format!("{}{}", stdout(o), stderr(o));
        assert!(!all.contains(&key), "{what}: the key leaked:\n{all}");
        // The secret part of the key must not appear even partially.
        assert!(!all.contains(&key[4..20]), "{what}: part of the key leaked");
        transcript.push_str(&all);
    };
    // Success with retries (503 twice), at -vv and RUST_LOG=trace.
    server.set_faults(vec![FaultRule::new(
        "releases_hash",
        FaultKind::Status { status: 503 },
    )
    .first_n(2)]);
    let args = [
        "-vv",
        "release",
        "resolve",
        "--release-name",
        "tok",
        "--release-version",
        "1",
    ];
    let o = env.command(&args).env("RUST_LOG", "trace").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    check(&o, "success with retries");
    // A rejected key.
    let mut bad = Env::new(Some(&server));
    bad.key = Some(format!("{key}x"));
    let o = bad.command(&args).env("RUST_LOG", "trace").output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(!all.contains(&key[4..20]), "rejected key leaked:\n{all}");
    // Through the dotenv file.
    let dotenv = env.home.path().join("ci.env");
    std::fs::write(
        &dotenv,
        format!(
            "POSTHOG_CLI_API_KEY={key}\nPOSTHOG_CLI_PROJECT_ID={}\nPOSTHOG_CLI_HOST={}\n",
            server.project_id(),
            server.base_url()
        ),
    )
    .unwrap();
    let mut via_file = Env::new(Some(&server));
    via_file.key = None;
    let o = via_file
        .command(&[
            "-vv",
            "--dotenv-file",
            dotenv.to_str().unwrap(),
            "release",
            "resolve",
            "--release-name",
            "tok",
            "--release-version",
            "2",
        ])
        .env("RUST_LOG", "trace")
        .env_remove("POSTHOG_CLI_PROJECT_ID")
        .env_remove("POSTHOG_CLI_HOST")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    check(&o, "dotenv");
    // The logs really were verbose: retries, request lines and the key's source are there.
    assert!(transcript.contains("retrying"), "{transcript}");
    assert!(
        transcript.contains("/error_tracking/releases/hash/"),
        "{transcript}"
    );
    assert!(transcript.contains("personal API key from"), "{transcript}");
}
