//! `symship release create|list|get|delete` against symship-testserver.

use symship_test_support::*;

use crate::support::*;

#[test]
fn create_list_get_delete() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap(); // outside git: no git metadata
    let cwd = tmp.path();

    // create: made once, then found.
    let r = ok(
        symship_for(&server, cwd).args([
            "release",
            "create",
            "--name",
            "shop",
            "--version",
            "1.4.0",
            "--build",
            "77",
            "--output",
            "json",
        ]),
        0,
    );
    // said once (a fresh tester: the line was logged twice)
    assert_eq!(
        r.stderr.matches("created release 1.4.0+77 of shop").count(),
        1,
        "{}",
        r.stderr
    );
    let created = r.json();
    assert_eq!(created["created"], true);
    assert_eq!(created["version"], "1.4.0+77");
    assert_eq!(created["project"], "shop");
    assert_eq!(created["hash_id"], symship_release::hash_id("shop", "1.4.0+77"));
    assert_eq!(created["metadata"], serde_json::Value::Null);
    assert_json_snapshot("release_create", &normalize_ids(&created, &[]));
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(server.releases().len(), 1);
    assert_eq!(server.releases()[0].id.to_string(), id);

    let again = ok(
        symship_for(&server, cwd).args([
            "release",
            "create",
            "--name",
            "shop",
            "--version",
            "1.4.0",
            "--build",
            "77",
            "--output",
            "json",
        ]),
        0,
    )
    .json();
    assert_eq!(again["created"], false);
    assert_eq!(again["id"], id.as_str());
    assert_eq!(server.releases().len(), 1);
    // Text output is just the id (for `ID=$(symship release create ...)`).
    let r = ok(
        symship_for(&server, cwd).args(["release", "create", "--name", "shop", "--version", "2.0.0"]),
        0,
    );
    let id2 = r.stdout.trim().to_owned();
    assert_eq!(id2.len(), 36, "{}", r.stdout);
    assert_ne!(id2, id);
    // --dry-run sends nothing.
    let before = server.requests().len();
    let r = ok(
        symship_for(&server, cwd).args([
            "release",
            "create",
            "--name",
            "shop",
            "--version",
            "3",
            "--dry-run",
        ]),
        0,
    );
    assert!(r.stdout.contains("hash_id: "), "{}", r.stdout);
    assert_eq!(server.requests().len(), before);
    // Missing flags: clap usage error.
    ok(
        symship_for(&server, cwd).args(["release", "create", "--name", "shop"]),
        2,
    );

    // list: both, across pages if needed, in JSON and text.
    let v = ok(
        symship_for(&server, cwd).args(["release", "list", "--output", "json"]),
        0,
    )
    .json();
    assert_eq!(v["count"], 2);
    let mut versions: Vec<&str> = v["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_str().unwrap())
        .collect();
    versions.sort();
    assert_eq!(versions, ["1.4.0+77", "2.0.0"]);
    let r = ok(symship_for(&server, cwd).args(["release", "list"]), 0);
    assert!(r.stdout.lines().next().unwrap().starts_with("ID"));
    assert!(r.stdout.contains(&id) && r.stdout.contains(&id2) && r.stdout.contains("1.4.0+77"));
    assert!(r.stdout.trim_end().ends_with("2 releases"));

    // get by id and by NAME@VERSION agree.
    let by_id = ok(
        symship_for(&server, cwd).args(["release", "get", &id, "--output", "json"]),
        0,
    )
    .json();
    let by_name = ok(
        symship_for(&server, cwd).args(["release", "get", "shop@1.4.0+77", "--output", "json"]),
        0,
    )
    .json();
    assert_eq!(by_id, by_name);
    assert_eq!(by_id["id"], id.as_str());
    assert_json_snapshot("release_get", &normalize_ids(&by_id, &[]));
    let r = ok(
        symship_for(&server, cwd).args(["release", "get", "shop@2.0.0"]),
        0,
    );
    assert!(
        r.stdout.contains(&id2) && r.stdout.contains("shop@2.0.0"),
        "{}",
        r.stdout
    );
    // Unknown: 1. Malformed: 2, nothing sent.
    let r = ok(symship_for(&server, cwd).args(["release", "get", "shop@9"]), 1);
    assert!(r.stderr.contains("no release 9 of shop"), "{}", r.stderr);
    ok(
        symship_for(&server, cwd).args(["release", "get", "0192f3a1-8c4e-7d2b-9f60-1a2b3c4d5e6f"]),
        1,
    );
    let before = server.requests().len();
    ok(symship_for(&server, cwd).args(["release", "get", "shop"]), 2);
    ok(
        symship_for(&server, cwd).args(["release", "delete", &id, "shop"]),
        2,
    );
    assert_eq!(server.requests().len(), before);
    assert_eq!(server.releases().len(), 2);

    // delete by NAME@VERSION and by id; an unknown one fails the run but not the others.
    let r = ok(
        symship_for(&server, cwd).args(["release", "delete", "shop@2.0.0", "shop@404", "--output", "json"]),
        1,
    );
    let v = r.json();
    assert_eq!(v["failed"], 1);
    assert_eq!(v["deleted"][0]["id"], id2.as_str());
    assert_eq!(server.releases().len(), 1);
    let r = ok(symship_for(&server, cwd).args(["release", "delete", &id]), 0);
    assert_eq!(r.stdout.trim(), id);
    assert!(server.releases().is_empty());
    assert_eq!(
        ok(
            symship_for(&server, cwd).args(["release", "list", "--output", "json"]),
            0
        )
        .json()["count"],
        0
    );
}

#[test]
fn create_stores_git_metadata_in_a_repository() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(repo)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("run git (it must be installed)");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["remote", "add", "origin", "https://github.com/acme/shop.git"]);
    git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "x",
    ]);
    let v = ok(
        symship_for(&server, repo).args([
            "release",
            "create",
            "--name",
            "shop",
            "--version",
            "1",
            "--output",
            "json",
        ]),
        0,
    )
    .json();
    let stored = &server.releases()[0];
    assert_eq!(stored.id.to_string(), v["id"].as_str().unwrap());
    let meta = stored.metadata.as_ref().expect("git metadata stored");
    assert_eq!(meta["git"]["branch"], "main");
    assert_eq!(meta["git"]["repo_name"], "shop");
    assert_eq!(meta["git"]["remote_url"], "https://github.com/acme/shop.git");
    assert_eq!(meta["git"]["commit_id"].as_str().unwrap().len(), 40);
    // Name and version come from the flags, not git.
    assert_eq!(stored.project, "shop");
    assert_eq!(stored.version, "1");
}
