//! Git metadata read from real repositories made with the `git` binary.

use std::path::Path;
use std::process::Command;

use symship_api::env::MapEnv;
use symship_release::git::{local_git_info, GitSource};
use symship_release::{plan, FieldSource, ReleaseInputs};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap_or_else(|e| panic!("the git binary is needed for these tests (scripts/install-tools): {e}"));
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A repository with one commit on `trunk`, remote `origin` with credentials in its URL.
fn repo(parent: &Path, name: &str) -> std::path::PathBuf {
    let dir = parent.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q", "-b", "trunk"]);
    std::fs::write(dir.join("a.txt"), "a").unwrap();
    git(&dir, &["add", "a.txt"]);
    git(&dir, &["commit", "-q", "-m", "one"]);
    dir
}

#[test]
fn branch_commit_and_credentials_stripped_from_origin() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = repo(tmp.path(), "checkout-dir");
    git(
        &dir,
        &["remote", "add", "upstream", "https://example.com/up/other.git"],
    );
    git(
        &dir,
        &[
            "remote",
            "add",
            "origin",
            "https://bot:ghp_SECRET123@github.com/octo/real-name?x=1#f",
        ],
    );
    let head = git(&dir, &["rev-parse", "HEAD"]);
    let sub = dir.join("src/deep");
    std::fs::create_dir_all(&sub).unwrap();

    let (info, source) = local_git_info(&sub).unwrap();
    assert_eq!(info.branch, "trunk");
    assert_eq!(info.commit_id, head);
    assert_eq!(
        info.remote_url.as_deref(),
        Some("https://github.com/octo/real-name.git")
    );
    assert_eq!(info.repo_name.as_deref(), Some("real-name"));
    assert!(matches!(source, GitSource::Local { .. }));
    assert!(!serde_json::to_string(&info).unwrap().contains("SECRET"));

    // The plan uses git for name and version and keeps it as metadata.
    let inputs = ReleaseInputs {
        cwd: sub.clone(),
        ..Default::default()
    };
    let p = plan(&inputs, &MapEnv::new()).unwrap().ready().unwrap();
    assert_eq!(
        (p.name.as_str(), p.version.as_str()),
        ("real-name", head.as_str())
    );
    assert_eq!(
        (p.name_source, p.version_source),
        (FieldSource::Git, FieldSource::Git)
    );
    assert_eq!(p.hash_id, symship_release::hash_id("real-name", &head));
}

#[test]
fn no_origin_takes_first_remote_and_no_remote_takes_directory_name() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = repo(tmp.path(), "my-dir");
    let (info, _) = local_git_info(&dir).unwrap();
    assert_eq!(info.remote_url, None);
    assert_eq!(info.repo_name.as_deref(), Some("my-dir"));
    git(
        &dir,
        &["remote", "add", "zeta", "git@gitlab.com:grp/zeta-repo.git"],
    );
    git(&dir, &["remote", "add", "alpha", "https://h/alpha.git"]);
    let (info, _) = local_git_info(&dir).unwrap();
    assert_eq!(
        info.remote_url.as_deref(),
        Some("git@gitlab.com:grp/zeta-repo.git")
    );
    assert_eq!(info.repo_name.as_deref(), Some("zeta-repo"));
    // A URL with '@' left in its path is refused (remote omitted, directory name used).
    git(&dir, &["remote", "add", "origin", "https://h/o/r@x.git"]);
    let (info, _) = local_git_info(&dir).unwrap();
    assert_eq!(info.remote_url, None);
    assert_eq!(info.repo_name.as_deref(), Some("my-dir"));
}

#[test]
fn detached_head() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = repo(tmp.path(), "r");
    let first = git(&dir, &["rev-parse", "HEAD"]);
    std::fs::write(dir.join("b.txt"), "b").unwrap();
    git(&dir, &["add", "b.txt"]);
    git(&dir, &["commit", "-q", "-m", "two"]);
    git(&dir, &["checkout", "-q", "--detach", &first]);
    let (info, _) = local_git_info(&dir).unwrap();
    assert_eq!(info.branch, "HEAD-detached");
    assert_eq!(info.commit_id, first);
}

#[test]
fn packed_refs_after_pack_refs_all() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = repo(tmp.path(), "r");
    git(&dir, &["checkout", "-q", "-b", "feature/x"]);
    let head = git(&dir, &["rev-parse", "HEAD"]);
    git(&dir, &["tag", "-a", "v1", "-m", "annotated"]); // adds a ^peeled line
    git(&dir, &["pack-refs", "--all"]);
    assert!(
        !dir.join(".git/refs/heads/feature/x").exists(),
        "pack-refs --all removed the loose ref"
    );
    let packed = std::fs::read_to_string(dir.join(".git/packed-refs")).unwrap();
    assert!(packed.contains("refs/heads/feature/x"));
    let (info, _) = local_git_info(&dir).unwrap();
    assert_eq!(info.branch, "feature/x");
    assert_eq!(info.commit_id, head);
}

#[test]
fn linked_worktree() {
    let tmp = tempfile::tempdir().unwrap();
    let main = repo(tmp.path(), "main-checkout");
    git(
        &main,
        &["remote", "add", "origin", "https://github.com/octo/shared.git"],
    );
    let wt = tmp.path().join("wt-dir");
    git(
        &main,
        &["worktree", "add", "-q", "-b", "wt-branch", wt.to_str().unwrap()],
    );
    std::fs::write(wt.join("c.txt"), "c").unwrap();
    git(&wt, &["add", "c.txt"]);
    git(&wt, &["commit", "-q", "-m", "in worktree"]);
    let wt_head = git(&wt, &["rev-parse", "HEAD"]);
    assert!(wt.join(".git").is_file(), "a linked worktree has a .git file");

    let (info, source) = local_git_info(&wt).unwrap();
    assert_eq!(info.branch, "wt-branch");
    assert_eq!(info.commit_id, wt_head);
    // The remote lives in the common config.
    assert_eq!(
        info.remote_url.as_deref(),
        Some("https://github.com/octo/shared.git")
    );
    assert_eq!(info.repo_name.as_deref(), Some("shared"));
    match source {
        GitSource::Local { work_dir, git_dir } => {
            assert_eq!(work_dir, wt);
            assert!(git_dir.ends_with("worktrees/wt-dir"), "{}", git_dir.display());
        }
        other => panic!("{other:?}"),
    }
    // Packed refs are found through commondir too.
    git(&main, &["pack-refs", "--all"]);
    let (info, _) = local_git_info(&wt).unwrap();
    assert_eq!(info.commit_id, wt_head);

    // Without a remote, a worktree's repo_name is the worktree directory name.
    git(&main, &["remote", "remove", "origin"]);
    let (info, _) = local_git_info(&wt).unwrap();
    assert_eq!(info.repo_name.as_deref(), Some("wt-dir"));
}

#[test]
fn unborn_branch_and_no_repository_are_explained() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    git(&empty, &["init", "-q", "-b", "main"]);
    let err = local_git_info(&empty).unwrap_err();
    assert!(err.contains("branch main has no commit yet"), "{err}");
    let nothing = tempfile::tempdir().unwrap();
    let err = local_git_info(nothing.path()).unwrap_err();
    assert!(err.contains("no .git found"), "{err}");
}
