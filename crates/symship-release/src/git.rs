//! Git metadata from CI variables or from the local `.git`, read directly (no git binary,
//! no libgit2), as posthog-cli 0.19.0 does (spec §4).

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use symship_api::env::{ci, Env};
use url::Url;

/// What goes into the release's `metadata.git`. Field order is the wire order: posthog-cli
/// 0.19.0 sends these keys sorted (its metadata goes through a `serde_json::Value` map without
/// `preserve_order`), which the conformance test against the real binary checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitInfo {
    pub branch: String,
    pub commit_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_name: Option<String>,
}

/// Where the git metadata came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitSource {
    GithubActions,
    Vercel,
    GitlabCi,
    CircleCi,
    /// A local repository; `git_dir` is the (worktree's) git directory.
    Local {
        work_dir: PathBuf,
        git_dir: PathBuf,
    },
}

impl std::fmt::Display for GitSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GitSource::GithubActions => f.write_str("GitHub Actions variables"),
            GitSource::Vercel => f.write_str("Vercel variables"),
            GitSource::GitlabCi => f.write_str("GitLab CI variables"),
            GitSource::CircleCi => f.write_str("CircleCI variables"),
            GitSource::Local { git_dir, .. } => write!(f, "git repository {}", git_dir.display()),
        }
    }
}

/// The outcome of looking for git metadata: the info, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitLookup {
    pub found: Option<(GitInfo, GitSource)>,
    /// Why a source was skipped (for `--verbose` and for "no release" messages).
    pub notes: Vec<String>,
}

/// CI variables first (GitHub Actions, Vercel, GitLab CI, CircleCI), then the repository that
/// contains `cwd`.
pub fn git_info(env: &dyn Env, cwd: &Path) -> GitLookup {
    let mut notes = Vec::new();
    type Provider = fn(&dyn Env) -> Result<Option<GitInfo>, String>;
    let providers: [(GitSource, Provider); 4] = [
        (GitSource::GithubActions, github_actions),
        (GitSource::Vercel, vercel),
        (GitSource::GitlabCi, gitlab_ci),
        (GitSource::CircleCi, circle_ci),
    ];
    for (source, provider) in providers {
        match provider(env) {
            Ok(Some(info)) => {
                return GitLookup {
                    found: Some((info, source)),
                    notes,
                }
            }
            Ok(None) => {}
            Err(note) => notes.push(note),
        }
    }
    match local_git_info(cwd) {
        Ok((info, source)) => GitLookup {
            found: Some((info, source)),
            notes,
        },
        Err(note) => {
            notes.push(note);
            GitLookup { found: None, notes }
        }
    }
}

fn required(env: &dyn Env, ci: &str, names: &[&str]) -> Result<Vec<String>, String> {
    let missing: Vec<&str> = names.iter().copied().filter(|n| env.var(n).is_none()).collect();
    if !missing.is_empty() {
        return Err(format!("{ci} detected but {} unset; skipped", missing.join(", ")));
    }
    Ok(names.iter().map(|n| env.var(n).unwrap_or_default()).collect())
}

fn last_segment(path: &str) -> Option<String> {
    let seg = path.trim_end_matches('/').rsplit(['/', ':']).next()?;
    let seg = seg.strip_suffix(".git").unwrap_or(seg);
    (!seg.is_empty()).then(|| seg.to_owned())
}

/// `GITHUB_ACTIONS`: `GITHUB_REF_NAME`, `GITHUB_SHA`, `GITHUB_REPOSITORY`, `GITHUB_SERVER_URL`.
pub fn github_actions(env: &dyn Env) -> Result<Option<GitInfo>, String> {
    if env.var(ci::GITHUB_ACTIONS).is_none() {
        return Ok(None);
    }
    let v = required(
        env,
        "GitHub Actions",
        &[
            ci::GITHUB_REF_NAME,
            ci::GITHUB_SHA,
            ci::GITHUB_REPOSITORY,
            ci::GITHUB_SERVER_URL,
        ],
    )?;
    let (branch, sha, repo, server) = (&v[0], &v[1], &v[2], &v[3]);
    Ok(Some(GitInfo {
        remote_url: sanitize_remote_url(&format!("{}/{repo}.git", server.trim_end_matches('/'))),
        repo_name: last_segment(repo),
        branch: branch.clone(),
        commit_id: sha.clone(),
    }))
}

/// `VERCEL`: `VERCEL_GIT_COMMIT_REF`, `VERCEL_GIT_COMMIT_SHA`, `VERCEL_GIT_REPO_SLUG`, and for the
/// remote `VERCEL_GIT_PROVIDER` (github, gitlab, bitbucket) with `VERCEL_GIT_REPO_OWNER`.
pub fn vercel(env: &dyn Env) -> Result<Option<GitInfo>, String> {
    if env.var(ci::VERCEL).is_none() {
        return Ok(None);
    }
    let v = required(
        env,
        "Vercel",
        &[
            ci::VERCEL_GIT_COMMIT_REF,
            ci::VERCEL_GIT_COMMIT_SHA,
            ci::VERCEL_GIT_REPO_SLUG,
        ],
    )?;
    let (branch, sha, slug) = (&v[0], &v[1], &v[2]);
    let base = match env.var(ci::VERCEL_GIT_PROVIDER).as_deref() {
        Some("github") => Some("https://github.com"),
        Some("gitlab") => Some("https://gitlab.com"),
        Some("bitbucket") => Some("https://bitbucket.org"),
        _ => None,
    };
    let remote_url = match (base, env.var(ci::VERCEL_GIT_REPO_OWNER)) {
        (Some(base), Some(owner)) => sanitize_remote_url(&format!("{base}/{owner}/{slug}.git")),
        _ => None,
    };
    Ok(Some(GitInfo {
        remote_url,
        repo_name: Some(slug.clone()),
        branch: branch.clone(),
        commit_id: sha.clone(),
    }))
}

/// `GITLAB_CI`: `CI_COMMIT_SHA`, `CI_COMMIT_REF_NAME` (branch or tag), `CI_PROJECT_URL`,
/// `CI_PROJECT_NAME`. `CI_REPOSITORY_URL` is never used: it embeds a job token.
pub fn gitlab_ci(env: &dyn Env) -> Result<Option<GitInfo>, String> {
    if env.var(ci::GITLAB_CI).is_none() {
        return Ok(None);
    }
    let v = required(env, "GitLab CI", &[ci::CI_COMMIT_REF_NAME, ci::CI_COMMIT_SHA])?;
    let remote_url = env.var(ci::CI_PROJECT_URL).and_then(|u| sanitize_remote_url(&u));
    let repo_name = env
        .var(ci::CI_PROJECT_NAME)
        .or_else(|| env.var(ci::CI_PROJECT_PATH).and_then(|p| last_segment(&p)))
        .or_else(|| remote_url.as_deref().and_then(repo_name_from_url));
    Ok(Some(GitInfo {
        remote_url,
        repo_name,
        branch: v[0].clone(),
        commit_id: v[1].clone(),
    }))
}

/// `CIRCLECI`: `CIRCLE_SHA1`, `CIRCLE_BRANCH` (or `CIRCLE_TAG`), `CIRCLE_REPOSITORY_URL`,
/// `CIRCLE_PROJECT_REPONAME`.
pub fn circle_ci(env: &dyn Env) -> Result<Option<GitInfo>, String> {
    if env.var(ci::CIRCLECI).is_none() {
        return Ok(None);
    }
    let sha = required(env, "CircleCI", &["CIRCLE_SHA1"])?.remove(0);
    let Some(branch) = env.var(ci::CIRCLE_BRANCH).or_else(|| env.var(ci::CIRCLE_TAG)) else {
        return Err("CircleCI detected but CIRCLE_BRANCH and CIRCLE_TAG unset; skipped".into());
    };
    let remote_url = env
        .var(ci::CIRCLE_REPOSITORY_URL)
        .and_then(|u| sanitize_remote_url(&u));
    let repo_name = env
        .var(ci::CIRCLE_PROJECT_REPONAME)
        .or_else(|| remote_url.as_deref().and_then(repo_name_from_url));
    Ok(Some(GitInfo {
        remote_url,
        repo_name,
        branch,
        commit_id: sha,
    }))
}

/// Strip credentials from a remote URL: userinfo, query and fragment removed, `.git`
/// appended; `None` if it is not a URL or an `@` is left in its path. scp-like remotes
/// (`git@github.com:o/r.git`) are kept as posthog-cli keeps them: the part before `@` is an
/// SSH login name (scp syntax has no password), only `.git` is appended.
pub fn sanitize_remote_url(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if !raw.contains("://") {
        // scp-like: [user@]host:path, where the host has no '/' before the ':'.
        let (host_part, path) = raw.split_once(':')?;
        let host = host_part.rsplit('@').next()?;
        if host_part.contains('/') || host.len() <= 1 || path.is_empty() || path.starts_with("//") {
            return None; // a local path, or a Windows drive letter (C:\...)
        }
        if path.contains('@') || path.contains('?') || path.contains('#') {
            return None;
        }
        let path = path.trim_end_matches('/');
        if path.is_empty() {
            return None;
        }
        let suffix = if path.ends_with(".git") { "" } else { ".git" };
        return Some(format!("{host_part}:{path}{suffix}"));
    }
    let candidate = raw.to_owned();
    let mut url = Url::parse(&candidate).ok()?;
    if url.cannot_be_a_base() || url.host_str().is_none_or(str::is_empty) {
        return None;
    }
    url.set_username("").ok()?;
    url.set_password(None).ok()?;
    url.set_query(None);
    url.set_fragment(None);
    if url.path().contains('@') || url.path().contains("%40") {
        return None;
    }
    let path = url.path().trim_end_matches('/').to_owned();
    if path.is_empty() {
        return None;
    }
    if !path.ends_with(".git") {
        url.set_path(&format!("{path}.git"));
    } else {
        url.set_path(&path);
    }
    Some(url.to_string())
}

/// The last path segment of a (sanitized) remote URL without `.git`.
pub fn repo_name_from_url(url: &str) -> Option<String> {
    match Url::parse(url) {
        Ok(parsed) => last_segment(parsed.path()),
        Err(_) => last_segment(url.split_once(':')?.1),
    }
}

/// A located repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    /// The directory holding `.git`.
    pub work_dir: PathBuf,
    /// The git directory (for a linked worktree: `.git/worktrees/<name>` of the main repo).
    pub git_dir: PathBuf,
    /// Where shared refs and config live (`commondir`), else `git_dir`.
    pub common_dir: PathBuf,
}

/// Walk up from `start` to the first `.git` directory or `.git` file (`gitdir: ...`).
pub fn find_repo(start: &Path) -> Result<Option<Repo>, String> {
    let mut dir = Some(start);
    while let Some(d) = dir {
        let dot_git = d.join(".git");
        if dot_git.is_dir() {
            return Ok(Some(with_common_dir(d.to_owned(), dot_git)?));
        }
        if dot_git.is_file() {
            let text = fs::read_to_string(&dot_git)
                .map_err(|e| format!("could not read {}: {e}", dot_git.display()))?;
            let target = text
                .lines()
                .find_map(|l| l.strip_prefix("gitdir:"))
                .map(str::trim)
                .ok_or_else(|| format!("{} has no gitdir: line", dot_git.display()))?;
            let git_dir = d.join(target);
            if !git_dir.is_dir() {
                return Err(format!(
                    "{} points to {}, which does not exist",
                    dot_git.display(),
                    git_dir.display()
                ));
            }
            return Ok(Some(with_common_dir(d.to_owned(), git_dir)?));
        }
        dir = d.parent();
    }
    Ok(None)
}

fn with_common_dir(work_dir: PathBuf, git_dir: PathBuf) -> Result<Repo, String> {
    let common_file = git_dir.join("commondir");
    let common_dir = match fs::read_to_string(&common_file) {
        Ok(text) => git_dir.join(text.trim()),
        Err(_) => git_dir.clone(),
    };
    Ok(Repo {
        work_dir,
        git_dir,
        common_dir,
    })
}

fn is_hex_id(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Branch and commit from `HEAD`: `("HEAD-detached", sha)` for a detached HEAD.
pub fn head(repo: &Repo) -> Result<(String, String), String> {
    let head_path = repo.git_dir.join("HEAD");
    let text =
        fs::read_to_string(&head_path).map_err(|e| format!("could not read {}: {e}", head_path.display()))?;
    let text = text.trim();
    if is_hex_id(text) {
        return Ok(("HEAD-detached".to_owned(), text.to_ascii_lowercase()));
    }
    let Some(refname) = text.strip_prefix("ref:").map(str::trim) else {
        return Err(format!("unrecognised HEAD format in {}", head_path.display()));
    };
    let branch = refname.strip_prefix("refs/heads/").unwrap_or(refname).to_owned();
    let commit = resolve_ref(repo, refname, 0)?.ok_or_else(|| {
        format!("branch {branch} has no commit yet (no {refname} in loose refs or packed-refs)")
    })?;
    Ok((branch, commit))
}

/// A ref's commit: a loose ref (in the worktree's git dir, then the common dir), then
/// `packed-refs`; symbolic refs are followed.
fn resolve_ref(repo: &Repo, refname: &str, depth: u32) -> Result<Option<String>, String> {
    if depth > 5 || refname.split('/').any(|c| c == ".." || c.is_empty()) {
        return Err(format!("refusing to follow ref {refname:?}"));
    }
    for dir in [&repo.git_dir, &repo.common_dir] {
        if let Ok(text) = fs::read_to_string(dir.join(refname)) {
            let text = text.trim();
            if let Some(target) = text.strip_prefix("ref:") {
                return resolve_ref(repo, target.trim(), depth + 1);
            }
            if is_hex_id(text) {
                return Ok(Some(text.to_ascii_lowercase()));
            }
            return Err(format!("unrecognised ref file {}", dir.join(refname).display()));
        }
    }
    let packed = repo.common_dir.join("packed-refs");
    if let Ok(text) = fs::read_to_string(&packed) {
        for line in text.lines() {
            if line.starts_with('#') || line.starts_with('^') {
                continue;
            }
            if let Some((sha, name)) = line.split_once(' ') {
                if name.trim() == refname && is_hex_id(sha) {
                    return Ok(Some(sha.to_ascii_lowercase()));
                }
            }
        }
    }
    Ok(None)
}

/// The remotes of a git config text, in file order: (name, url).
pub fn config_remotes(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let Some(end) = rest.find(']') else {
                current = None;
                continue;
            };
            let header = rest[..end].trim();
            current = parse_remote_section(header);
            continue;
        }
        let Some(name) = &current else { continue };
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim().eq_ignore_ascii_case("url") {
            let value = config_value(value);
            if !value.is_empty() {
                out.push((name.clone(), value));
            }
        }
    }
    out
}

fn parse_remote_section(header: &str) -> Option<String> {
    // [remote "origin"] (subsection case-sensitive) or the old [remote.origin].
    if let Some((section, sub)) = header.split_once(char::is_whitespace) {
        if !section.eq_ignore_ascii_case("remote") {
            return None;
        }
        let sub = sub.trim();
        let sub = sub.strip_prefix('"')?.strip_suffix('"')?;
        return Some(sub.replace("\\\"", "\"").replace("\\\\", "\\"));
    }
    let (section, sub) = header.split_once('.')?;
    section
        .eq_ignore_ascii_case("remote")
        .then(|| sub.to_ascii_lowercase())
}

/// A config value: quotes removed, `\"` and `\\` unescaped, trailing `#`/`;` comment dropped.
fn config_value(raw: &str) -> String {
    let mut out = String::new();
    let mut in_quotes = false;
    let mut chars = raw.trim().chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => in_quotes = !in_quotes,
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            },
            '#' | ';' if !in_quotes => break,
            c => out.push(c),
        }
    }
    out.trim().to_owned()
}

/// The remote URL as posthog-cli picks it: `origin`, else the first remote, looked up in
/// `config.worktree`, then the common `config`, then the worktree's own `config`.
pub fn remote_url(repo: &Repo) -> Option<String> {
    let mut files = vec![
        repo.git_dir.join("config.worktree"),
        repo.common_dir.join("config"),
    ];
    if repo.common_dir != repo.git_dir {
        files.push(repo.git_dir.join("config"));
    }
    let remotes: Vec<(String, String)> = files
        .iter()
        .filter_map(|f| fs::read_to_string(f).ok())
        .flat_map(|t| config_remotes(&t))
        .collect();
    remotes
        .iter()
        .find(|(n, _)| n == "origin")
        .or_else(|| remotes.first())
        .map(|(_, u)| u.clone())
}

/// Git metadata of the repository containing `cwd`, or why there is none.
pub fn local_git_info(cwd: &Path) -> Result<(GitInfo, GitSource), String> {
    let repo = find_repo(cwd)?.ok_or_else(|| format!("no .git found in {} or above", cwd.display()))?;
    let (branch, commit_id) = head(&repo)?;
    let raw_remote = remote_url(&repo);
    let remote = raw_remote.as_deref().and_then(sanitize_remote_url);
    if raw_remote.is_some() && remote.is_none() {
        tracing::debug!("the git remote URL is not a URL symship can store safely; omitted");
    }
    let repo_name = remote.as_deref().and_then(repo_name_from_url).or_else(|| {
        repo.work_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
    });
    let info = GitInfo {
        remote_url: remote,
        repo_name,
        branch,
        commit_id,
    };
    Ok((
        info,
        GitSource::Local {
            work_dir: repo.work_dir,
            git_dir: repo.git_dir,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use symship_api::env::MapEnv;

    #[test]
    fn sanitizes_remote_urls() {
        let cases = [
            ("https://github.com/o/r.git", Some("https://github.com/o/r.git")),
            ("https://github.com/o/r", Some("https://github.com/o/r.git")),
            ("https://github.com/o/r/", Some("https://github.com/o/r.git")),
            (
                "https://user:ghp_SECRET@github.com/o/r.git",
                Some("https://github.com/o/r.git"),
            ),
            (
                "https://x-access-token:tok@github.com/o/r?token=abc#frag",
                Some("https://github.com/o/r.git"),
            ),
            ("git@github.com:o/r.git", Some("git@github.com:o/r.git")),
            ("git@github.com:o/r", Some("git@github.com:o/r.git")),
            ("git@github.com:o/r@x.git", None),
            ("ssh://git@host:2222/o/r.git", Some("ssh://host:2222/o/r.git")),
            ("https://github.com/o/r@evil.git", None),
            ("https://github.com/", None),
            ("/srv/repos/r.git", None),
            ("../r", None),
            ("C:\\repos\\r", None),
        ];
        for (raw, want) in cases {
            assert_eq!(sanitize_remote_url(raw).as_deref(), want, "{raw}");
        }
        assert_eq!(
            repo_name_from_url("ssh://github.com/o/r.git").as_deref(),
            Some("r")
        );
    }

    #[test]
    fn parses_git_config_remotes() {
        let text = "[core]\n\tbare = false\n[remote \"upstream\"]\n\turl = https://a/u.git\n[Remote \"origin\"]\n\tURL = \"https://a/o.git\" ; comment\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n[remote.legacy]\n url = x\n";
        assert_eq!(
            config_remotes(text),
            vec![
                ("upstream".into(), "https://a/u.git".into()),
                ("origin".into(), "https://a/o.git".into()),
                ("legacy".into(), "x".into())
            ]
        );
    }

    fn gha() -> MapEnv {
        MapEnv::new()
            .with("GITHUB_ACTIONS", "true")
            .with("GITHUB_REF_NAME", "main")
            .with("GITHUB_SHA", "a".repeat(40).as_str())
            .with("GITHUB_REPOSITORY", "octo/app")
            .with("GITHUB_SERVER_URL", "https://github.com")
    }

    #[test]
    fn ci_providers_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let l = git_info(
            &gha().with("GITLAB_CI", "true").with("CI_COMMIT_SHA", "b"),
            dir.path(),
        );
        let (info, source) = l.found.unwrap();
        assert_eq!(source, GitSource::GithubActions);
        assert_eq!(
            serde_json::to_string(&info).unwrap(),
            format!(
                r#"{{"branch":"main","commit_id":"{}","remote_url":"https://github.com/octo/app.git","repo_name":"app"}}"#,
                "a".repeat(40)
            )
        );

        // GitHub detected but incomplete: noted and skipped; empty values count as unset.
        let env = gha()
            .with("GITHUB_SHA", "")
            .with("VERCEL", "1")
            .with("VERCEL_GIT_COMMIT_REF", "feat")
            .with("VERCEL_GIT_COMMIT_SHA", "c1")
            .with("VERCEL_GIT_REPO_SLUG", "site")
            .with("VERCEL_GIT_PROVIDER", "gitlab")
            .with("VERCEL_GIT_REPO_OWNER", "grp");
        let l = git_info(&env, dir.path());
        assert!(l.notes[0].contains("GITHUB_SHA"), "{:?}", l.notes);
        let (info, source) = l.found.unwrap();
        assert_eq!(source, GitSource::Vercel);
        assert_eq!(
            info.remote_url.as_deref(),
            Some("https://gitlab.com/grp/site.git")
        );
        assert_eq!(
            (
                info.repo_name.as_deref(),
                info.branch.as_str(),
                info.commit_id.as_str()
            ),
            (Some("site"), "feat", "c1")
        );
    }

    #[test]
    fn gitlab_never_leaks_the_job_token() {
        let dir = tempfile::tempdir().unwrap();
        let env = MapEnv::new()
            .with("GITLAB_CI", "true")
            .with("CI_COMMIT_REF_NAME", "main")
            .with("CI_COMMIT_SHA", "d".repeat(40).as_str())
            .with("CI_PROJECT_URL", "https://gitlab.example.com/grp/sub/proj")
            .with("CI_PROJECT_NAME", "proj")
            .with(
                "CI_REPOSITORY_URL",
                "https://gitlab-ci-token:glcbt-SECRET@gitlab.example.com/grp/sub/proj.git",
            );
        let (info, source) = git_info(&env, dir.path()).found.unwrap();
        assert_eq!(source, GitSource::GitlabCi);
        assert_eq!(
            info.remote_url.as_deref(),
            Some("https://gitlab.example.com/grp/sub/proj.git")
        );
        assert_eq!(info.repo_name.as_deref(), Some("proj"));
        assert!(!serde_json::to_string(&info).unwrap().contains("SECRET"));
    }

    #[test]
    fn circleci_with_scp_remote() {
        let dir = tempfile::tempdir().unwrap();
        let env = MapEnv::new()
            .with("CIRCLECI", "true")
            .with("CIRCLE_TAG", "v1.2.0")
            .with("CIRCLE_SHA1", "e".repeat(40).as_str())
            .with("CIRCLE_REPOSITORY_URL", "git@github.com:octo/app.git")
            .with("CIRCLE_PROJECT_REPONAME", "app");
        let (info, source) = git_info(&env, dir.path()).found.unwrap();
        assert_eq!(source, GitSource::CircleCi);
        assert_eq!(info.branch, "v1.2.0");
        assert_eq!(info.remote_url.as_deref(), Some("git@github.com:octo/app.git"));
    }
}
