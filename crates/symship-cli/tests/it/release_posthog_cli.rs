//! symship and posthog-cli 0.19.0 name the same release for the same repository: each finds the
//! release the other created, and both send the same create body.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use symship_test_support::{posthog_cli, scrub};
use symship_testserver::TestServer;

fn run(bin: &Path, server: &TestServer, home: &Path, cwd: &Path, args: &[&str]) -> Output {
    run_env(bin, server, home, cwd, args, &[])
}

fn run_env(
    bin: &Path,
    server: &TestServer,
    home: &Path,
    cwd: &Path,
    args: &[&str],
    extra: &[(&str, &str)],
) -> Output {
    let mut cmd = Command::new(bin);
    scrub(&mut cmd);
    cmd.envs(extra.iter().copied());
    let o = cmd
        .env("HOME", home)
        .env("DO_NOT_TRACK", "1")
        .env("POSTHOG_CLI_HOST", server.base_url())
        .env("POSTHOG_CLI_PROJECT_ID", server.project_id().to_string())
        .env("POSTHOG_CLI_API_KEY", server.api_key())
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
    assert!(
        o.status.success(),
        "{} {args:?}: {}",
        bin.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn git(dir: &Path, home: &Path, args: &[&str]) {
    let o = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", home)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@e")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@e")
        .output()
        .expect("the git binary is needed (scripts/install-tools)");
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn create_body(server: &TestServer) -> String {
    let r = server
        .requests()
        .into_iter()
        .find(|r| r.route == "releases_create")
        .expect("a create request");
    serde_json::to_string(&r.body.expect("json body")).unwrap()
}

fn uuid_line(o: &Output) -> String {
    let s = String::from_utf8(o.stdout.clone()).unwrap();
    let last = s.lines().last().unwrap_or_default().trim().to_owned();
    assert_eq!(last.len(), 36, "{s:?}");
    last
}

#[test]
fn same_release_as_posthog_cli_from_git_and_from_flags() {
    let pcli = posthog_cli();
    let symship = PathBuf::from(env!("CARGO_BIN_EXE_symship"));
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let repo = tmp.path().join("checkout");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(repo.join("sub")).unwrap();
    git(&repo, &home, &["init", "-q", "-b", "main"]);
    git(&repo, &home, &["commit", "-q", "--allow-empty", "-m", "x"]);
    git(
        &repo,
        &home,
        &[
            "remote",
            "add",
            "origin",
            "https://tok:SECRET@github.com/octo/web-app.git",
        ],
    );
    let cwd = repo.join("sub");

    for args in [
        vec!["release", "resolve"],
        vec![
            "release",
            "resolve",
            "--release-name",
            "my-app",
            "--release-version",
            "1.0.0",
            "--build",
            "7",
        ],
    ] {
        // posthog-cli creates, symship finds the same release.
        let server = TestServer::start(Default::default()).unwrap();
        let theirs = uuid_line(&run(&pcli, &server, &home, &cwd, &args));
        let their_body = create_body(&server);
        let ours = uuid_line(&run(&symship, &server, &home, &cwd, &args));
        assert_eq!(ours, theirs, "{args:?}");
        assert_eq!(server.releases().len(), 1);

        // symship creates on a fresh server: byte-identical create body; posthog-cli finds it.
        let server = TestServer::start(Default::default()).unwrap();
        let ours = uuid_line(&run(&symship, &server, &home, &cwd, &args));
        assert_eq!(create_body(&server), their_body, "{args:?}");
        let theirs = uuid_line(&run(&pcli, &server, &home, &cwd, &args));
        assert_eq!(ours, theirs);
        assert_eq!(server.releases().len(), 1);
        assert!(!their_body.contains("SECRET"));
    }
}

/// Repository shapes where reading `.git` by hand can go wrong: an scp-style remote, a URL
/// refused for an '@' in its path, a detached HEAD, packed refs, a linked worktree.
#[test]
fn same_create_body_as_posthog_cli_for_repository_shapes() {
    let pcli = posthog_cli();
    let symship = PathBuf::from(env!("CARGO_BIN_EXE_symship"));
    type Setup = fn(&Path, &Path) -> PathBuf;
    let shapes: Vec<(&str, Setup)> = vec![
        ("scp remote", |repo, home| {
            git(
                repo,
                home,
                &["remote", "add", "origin", "git@github.com:octo/scp-app.git"],
            );
            repo.to_owned()
        }),
        ("'@' in the URL path, no origin", |repo, home| {
            git(
                repo,
                home,
                &["remote", "add", "upstream", "https://github.com/octo/we@b.git"],
            );
            repo.to_owned()
        }),
        ("detached HEAD", |repo, home| {
            git(
                repo,
                home,
                &["remote", "add", "origin", "https://github.com/octo/det"],
            );
            git(repo, home, &["checkout", "-q", "--detach", "HEAD"]);
            repo.to_owned()
        }),
        ("packed refs", |repo, home| {
            git(repo, home, &["checkout", "-q", "-b", "feature/packed"]);
            git(repo, home, &["pack-refs", "--all"]);
            repo.to_owned()
        }),
        ("linked worktree", |repo, home| {
            git(
                repo,
                home,
                &["remote", "add", "origin", "https://github.com/octo/wt-app.git"],
            );
            let wt = repo.parent().unwrap().join("wt");
            git(
                repo,
                home,
                &["worktree", "add", "-q", "-b", "wt-branch", wt.to_str().unwrap()],
            );
            wt
        }),
    ];
    for (what, setup) in shapes {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let repo = tmp.path().join("repo-dir");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &home, &["init", "-q", "-b", "main"]);
        git(&repo, &home, &["commit", "-q", "--allow-empty", "-m", "x"]);
        let cwd = setup(&repo, &home);
        let args = ["release", "resolve"];
        let server = TestServer::start(Default::default()).unwrap();
        let theirs = uuid_line(&run(&pcli, &server, &home, &cwd, &args));
        let their_body = create_body(&server);
        let server = TestServer::start(Default::default()).unwrap();
        let ours = uuid_line(&run(&symship, &server, &home, &cwd, &args));
        assert_eq!(create_body(&server), their_body, "{what}");
        let again = uuid_line(&run(&pcli, &server, &home, &cwd, &args));
        assert_eq!(again, ours, "{what}: posthog-cli finds symship's release");
        let _ = theirs;
    }
}

/// CI variables posthog-cli reads (GitHub Actions, Vercel) give the same release and body.
#[test]
fn same_create_body_as_posthog_cli_from_ci_variables() {
    let pcli = posthog_cli();
    let symship = PathBuf::from(env!("CARGO_BIN_EXE_symship"));
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "github actions",
            vec![
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_REF_NAME", "release/2.0"),
                ("GITHUB_SHA", sha),
                ("GITHUB_REPOSITORY", "octo/gha-app"),
                ("GITHUB_SERVER_URL", "https://github.com"),
            ],
        ),
        (
            "vercel",
            vec![
                ("VERCEL", "1"),
                ("VERCEL_GIT_COMMIT_REF", "preview"),
                ("VERCEL_GIT_COMMIT_SHA", sha),
                ("VERCEL_GIT_REPO_SLUG", "site"),
                ("VERCEL_GIT_PROVIDER", "github"),
                ("VERCEL_GIT_REPO_OWNER", "octo"),
            ],
        ),
    ];
    for (what, env) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let args = ["release", "resolve", "--build", "3"];
        let server = TestServer::start(Default::default()).unwrap();
        run_env(&pcli, &server, tmp.path(), tmp.path(), &args, &env);
        let their_body = create_body(&server);
        let server = TestServer::start(Default::default()).unwrap();
        let ours = uuid_line(&run_env(&symship, &server, tmp.path(), tmp.path(), &args, &env));
        assert_eq!(create_body(&server), their_body, "{what}");
        let theirs = uuid_line(&run_env(&pcli, &server, tmp.path(), tmp.path(), &args, &env));
        assert_eq!(theirs, ours, "{what}");
    }
}

/// Runs `bin` with the test server's credentials and returns its output, whatever the exit.
fn run_any(bin: &Path, server: &TestServer, home: &Path, cwd: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(bin);
    scrub(&mut cmd);
    cmd.env("HOME", home)
        .env("DO_NOT_TRACK", "1")
        .env("POSTHOG_CLI_HOST", server.base_url())
        .env("POSTHOG_CLI_PROJECT_ID", server.project_id().to_string())
        .env("POSTHOG_CLI_API_KEY", server.api_key())
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()))
}

/// posthog-cli 0.19.0 on a directory with no source file (empty, or holding only a JS file
/// without a map), for each argv form: `sourcemap inject` and `process` print "Oops! no source
/// files found" on stderr and exit 1; `sourcemap upload` warns and exits 0. symship run under the
/// name `posthog-cli` exits the same way, with its message on stderr and nothing on stdout;
/// under its own name it keeps its documented exit 3.
#[cfg(unix)]
#[test]
fn an_empty_run_exits_as_posthog_cli_does() {
    let theirs = posthog_cli();
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_symship"), bin.join("posthog-cli")).unwrap();
    let ours = bin.join("posthog-cli");
    let symship = PathBuf::from(env!("CARGO_BIN_EXE_symship"));
    std::fs::create_dir_all(tmp.path().join("empty")).unwrap();
    std::fs::create_dir_all(tmp.path().join("nomap")).unwrap();
    std::fs::write(tmp.path().join("nomap/a.js"), "console.log(1)\n").unwrap();
    let server = TestServer::start(Default::default()).unwrap();
    for dir in ["empty", "nomap"] {
        for flag in ["-d", "--directory"] {
            for cmd in ["inject", "process", "upload"] {
                let args = ["sourcemap", cmd, flag, dir];
                let expected = run_any(&theirs, &server, &home, tmp.path(), &args);
                let got = run_any(&ours, &server, &home, tmp.path(), &args);
                let (their_err, our_err) = (
                    String::from_utf8_lossy(&expected.stderr),
                    String::from_utf8_lossy(&got.stderr),
                );
                assert_eq!(
                    got.status.code(),
                    expected.status.code(),
                    "{args:?}: posthog-cli:\n{their_err}\nsymship as posthog-cli:\n{our_err}"
                );
                assert!(expected.stdout.is_empty() && got.stdout.is_empty(), "{args:?}");
                if cmd == "upload" {
                    assert_eq!(got.status.code(), Some(0), "{args:?}");
                    assert!(
                        our_err.contains("nothing found to process"),
                        "{args:?}: {our_err}"
                    );
                } else {
                    assert_eq!(got.status.code(), Some(1), "{args:?}");
                    assert!(
                        their_err.contains("no source files found"),
                        "{args:?}: {their_err}"
                    );
                    assert!(our_err.contains("no source files found"), "{args:?}: {our_err}");
                }
                let own = run_any(&symship, &server, &home, tmp.path(), &args);
                assert_eq!(own.status.code(), Some(3), "symship {args:?}");
            }
        }
    }
    assert!(server.symbol_sets().is_empty(), "nothing was uploaded");
}

/// Every file of `dir` with its bytes.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    symship_test_support::files(dir)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(dir.join(&p)).unwrap();
            (p, bytes)
        })
        .collect()
}

/// `sourcemap upload --delete-after` on a build that was never injected (a fresh tester, s12 #4):
/// posthog-cli 0.19.0 warns that no pair has an id, uploads nothing, deletes nothing and exits 0;
/// symship under the name `posthog-cli` does the same (exit 0, every file as it was); under its own
/// name it keeps the README's exit 3 ("nothing to process", `--allow-empty` accepts it).
#[cfg(unix)]
#[test]
fn upload_with_delete_after_of_a_build_never_injected_exits_as_posthog_cli_does() {
    let theirs = posthog_cli();
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_symship"), bin.join("posthog-cli")).unwrap();
    let symship = PathBuf::from(env!("CARGO_BIN_EXE_symship"));
    let server = TestServer::start(Default::default()).unwrap();
    for (who, program, code) in [
        ("posthog-cli 0.19.0", theirs, 0),
        ("symship as posthog-cli", bin.join("posthog-cli"), 0),
        ("symship", symship.clone(), 3),
    ] {
        let dir = tmp.path().join("dist");
        let _ = std::fs::remove_dir_all(&dir);
        symship_test_support::copy_dir(
            &symship_test_support::repo_root().join("fixtures/vite-react/dist"),
            &dir,
        );
        std::fs::write(
            dir.join("assets/site.css"),
            "a{}\n/*# sourceMappingURL=site.css.map */\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("assets/site.css.map"),
            r#"{"version":3,"sources":["a.css"],"names":[],"mappings":"AAAA"}"#,
        )
        .unwrap();
        let before = tree(&dir);
        let args = ["sourcemap", "upload", "--directory", "dist", "--delete-after"];
        let out = run_any(&program, &server, &home, tmp.path(), &args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{who}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(tree(&dir) == before, "{who}: a file changed");
    }
    let out = run_any(
        &symship,
        &server,
        &home,
        tmp.path(),
        &[
            "sourcemap",
            "upload",
            "--directory",
            "dist",
            "--delete-after",
            "--allow-empty",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(server.symbol_sets().is_empty(), "nothing was uploaded");
}
