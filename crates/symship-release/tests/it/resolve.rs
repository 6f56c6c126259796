//! Release resolution against the real local test server.

use std::path::Path;
use std::process::Command;

use symship_api::env::{self, MapEnv};
use symship_api::{Client, Config, ConfigRequest};
use symship_release::{hash_id, resolve, Outcome, ReleaseInputs, Resolution};
use symship_test_support::server_async as server;
use symship_testserver::{FaultKind, FaultRule, TestServer};

fn client(server: &TestServer) -> Client {
    let env = MapEnv::new()
        .with(env::API_KEY, &server.api_key())
        .with(env::PROJECT_ID, &server.project_id().to_string())
        .with(env::HOST, &server.base_url());
    Client::new(&Config::resolve(&ConfigRequest::default(), &env).unwrap()).unwrap()
}

fn inputs(cwd: &Path, name: &str, version: &str) -> ReleaseInputs {
    ReleaseInputs {
        name: Some(name.into()),
        version: Some(version.into()),
        cwd: cwd.to_owned(),
        ..Default::default()
    }
}

#[tokio::test]
async fn creates_then_reuses_with_the_posthog_cli_body() {
    let server = server().await;
    let c = client(&server);
    let dir = tempfile::tempdir().unwrap();
    let first = resolve(&c, &inputs(dir.path(), "my-app", "1.0.0"), &MapEnv::new())
        .await
        .unwrap();
    let Resolution::Resolved { release, outcome, .. } = &first else {
        panic!("{first:?}")
    };
    assert_eq!(*outcome, Outcome::Created);
    assert_eq!(release.hash_id, hash_id("my-app", "1.0.0"));
    assert!(release.hash_id.starts_with("5fddd88a65199cea"));
    assert_eq!(
        (release.project.as_str(), release.version.as_str()),
        ("my-app", "1.0.0")
    );

    let second = resolve(&c, &inputs(dir.path(), "my-app", "1.0.0"), &MapEnv::new())
        .await
        .unwrap();
    let Resolution::Resolved {
        release: again,
        outcome,
        ..
    } = &second
    else {
        panic!()
    };
    assert_eq!(*outcome, Outcome::Found);
    assert_eq!(again.id, release.id);
    assert_eq!(server.releases().len(), 1);

    // Exactly posthog-cli's requests (Appendix A #2): GET hash (404), POST, then GET hash (200).
    let reqs = server.requests();
    let routes: Vec<_> = reqs.iter().map(|r| (r.route.as_str(), r.status)).collect();
    assert_eq!(
        routes,
        vec![
            ("releases_hash", 404),
            ("releases_create", 201),
            ("releases_hash", 200)
        ]
    );
    assert_eq!(
        reqs[0].path,
        format!("/api/projects/1/error_tracking/releases/hash/{}", release.hash_id)
    );
    assert_eq!(
        serde_json::to_string(reqs[1].body.as_ref().unwrap()).unwrap(),
        format!(
            r#"{{"hash_id":"{}","version":"1.0.0","project":"my-app"}}"#,
            release.hash_id
        )
    );
}

#[tokio::test]
async fn git_metadata_is_sent_from_a_real_repository() {
    let server = server().await;
    let c = client(&server);
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("checkout");
    std::fs::create_dir_all(&repo).unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(&repo)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", dir.path())
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@e")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@e")
            .output()
            .expect("the git binary is needed (scripts/install-tools)");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["commit", "-q", "--allow-empty", "-m", "x"]);
    git(&[
        "remote",
        "add",
        "origin",
        "https://tok:SECRET@github.com/octo/web-app",
    ]);
    let sha = git(&["rev-parse", "HEAD"]);
    let inputs = ReleaseInputs {
        cwd: repo.clone(),
        ..Default::default()
    };
    let r = resolve(&c, &inputs, &MapEnv::new())
        .await
        .unwrap()
        .into_release()
        .unwrap();
    assert_eq!(
        (r.project.as_str(), r.version.as_str()),
        ("web-app", sha.as_str())
    );
    let create = server
        .requests()
        .into_iter()
        .find(|r| r.route == "releases_create")
        .unwrap();
    let body = serde_json::to_string(&create.body.unwrap()).unwrap();
    assert_eq!(
        body,
        format!(
            r#"{{"metadata":{{"git":{{"branch":"main","commit_id":"{sha}","remote_url":"https://github.com/octo/web-app.git","repo_name":"web-app"}}}},"hash_id":"{}","version":"{sha}","project":"web-app"}}"#,
            hash_id("web-app", &sha)
        )
    );
    assert!(!body.contains("SECRET"));
}

#[tokio::test]
async fn two_clients_racing_end_with_one_release() {
    let server = server().await;
    // Hold both creates: the second lookup still sees 404 and both try to create.
    server.set_faults(vec![FaultRule::new(
        "releases_create",
        FaultKind::Latency { ms: 400 },
    )
    .first_n(2)]);
    let (a, b) = (client(&server), client(&server));
    let dir = tempfile::tempdir().unwrap();
    let (ia, ib) = (inputs(dir.path(), "race", "7"), inputs(dir.path(), "race", "7"));
    let env = MapEnv::new();
    let (ra, rb) = tokio::join!(resolve(&a, &ia, &env), resolve(&b, &ib, &env));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let (
        Resolution::Resolved {
            release: x,
            outcome: ox,
            ..
        },
        Resolution::Resolved {
            release: y,
            outcome: oy,
            ..
        },
    ) = (&ra, &rb)
    else {
        panic!("{ra:?} {rb:?}")
    };
    assert_eq!(x.id, y.id);
    assert_eq!(server.releases().len(), 1);
    let mut outcomes = vec![*ox, *oy];
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(outcomes, vec![Outcome::Created, Outcome::CreatedConcurrently]);
    let creates: Vec<u16> = server
        .requests()
        .iter()
        .filter(|r| r.route == "releases_create")
        .map(|r| r.status)
        .collect();
    let mut creates_sorted = creates.clone();
    creates_sorted.sort();
    assert_eq!(
        creates_sorted,
        vec![201, 400],
        "one create won, the other got release_hash_in_use"
    );
}

#[tokio::test]
async fn nothing_to_resolve_makes_no_request() {
    let server = server().await;
    let c = client(&server);
    let dir = tempfile::tempdir().unwrap();
    let r = resolve(
        &c,
        &ReleaseInputs {
            cwd: dir.path().to_owned(),
            ..Default::default()
        },
        &MapEnv::new(),
    )
    .await
    .unwrap();
    assert!(r.release().is_none());
    assert!(r.reason().unwrap().contains("no .git found"), "{:?}", r.reason());
    assert!(server.requests().is_empty());
}
