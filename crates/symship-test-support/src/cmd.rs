//! The `symship` command under test, with one environment scrub.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use symship_api::env;
use symship_testserver::TestServer;

/// A `POSTHOG_HOME` that does not exist: no credentials file of the developer is read.
pub const NO_HOME: &str = "/nonexistent-symship-test-home";

/// Variables removed by exact name (besides the prefixes and `*_proxy` in [`is_scrubbed`]).
const SCRUBBED: &[&str] = &[
    // CI providers' switches (their other variables go by prefix); symship_api::env::ci.
    "CI",
    env::ci::VERCEL,
    env::ci::GITLAB_CI,
    env::ci::CIRCLECI,
    // TLS: an extra CA bundle or directory changes what the client trusts.
    env::SSL_CERT_FILE,
    "SSL_CERT_DIR",
    // CGI guard of proxy variables (reqwest ignores HTTP_PROXY when it is set).
    env::REQUEST_METHOD,
    // Log filter and colour switches change what is printed.
    env::RUST_LOG,
    "NO_COLOR",
    "CLICOLOR",
    "CLICOLOR_FORCE",
    "FORCE_COLOR",
];

/// Prefixes of removed variables: PostHog's and symship's settings and the CI providers' metadata
/// (symship_api::env, env::ci: GITHUB_*, GITLAB_*, CI_* of GitLab, CIRCLE_*, VERCEL_*).
const SCRUBBED_PREFIXES: &[&str] = &[
    "POSTHOG_", "SYMSHIP_", "GITHUB_", "GITLAB_", "CI_", "CIRCLE_", "VERCEL_",
];

/// Whether [`scrub`] removes the variable `name`: every `POSTHOG_*` and `SYMSHIP_*`, the CI
/// providers' variables, every proxy variable in either case (`HTTP_PROXY`, `https_proxy`,
/// `ALL_PROXY`, `NO_PROXY`, ...), `SSL_CERT_FILE`/`SSL_CERT_DIR`, `RUST_LOG` and the colour
/// switches. `HOME`, `PATH` and `TMPDIR` stay.
pub fn is_scrubbed(name: &str) -> bool {
    SCRUBBED.contains(&name)
        || SCRUBBED_PREFIXES.iter().any(|p| name.starts_with(p))
        || name.to_ascii_lowercase().ends_with("_proxy")
}

/// Removes from `cmd`'s environment every variable of this process that [`is_scrubbed`]: what a
/// developer's shell or a CI job would otherwise leak into the child. Call it before setting the
/// child's own variables (it removes names, so it would undo them).
pub fn scrub(cmd: &mut Command) -> &mut Command {
    for (k, _) in std::env::vars_os() {
        if k.to_str().is_some_and(is_scrubbed) {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// The `symship` binary of this build: cargo builds a package's binaries next to the `deps/`
/// directory its integration tests run from (where `CARGO_BIN_EXE_symship` points), so only
/// symship-cli's tests have an up-to-date one. Panics, naming the path, if it is missing.
pub fn bin() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut dir = exe.parent().expect("the test binary's directory").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join(format!("symship{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is missing: the symship binary is built for symship-cli's tests (cargo test -p symship-cli)",
        bin.display()
    );
    bin
}

/// A content-hash cache for this test process only (keyed by content, so its tests may share
/// it; a re-run within a test exercises it), never the user's: `<target>/tmp/symship-cache-<pid>`.
pub fn test_cache_dir() -> PathBuf {
    let bin = bin();
    let target = bin
        .parent()
        .and_then(Path::parent)
        .expect("the binary sits in <target>/<profile>/");
    target
        .join("tmp")
        .join(format!("symship-cache-{}", std::process::id()))
}

/// The binary under test with the scrubbed environment, no credentials file (`POSTHOG_HOME`
/// points nowhere), this process's hash cache, and stdin closed (as in CI).
pub fn symship() -> Command {
    let mut c = Command::new(bin());
    scrub(&mut c);
    c.env(env::POSTHOG_HOME, NO_HOME)
        .env(env::CACHE_DIR, test_cache_dir())
        .stdin(Stdio::null());
    c
}

/// [`symship`] run in `cwd` (give it a temp dir outside any git repository, so no release is
/// resolved from git).
pub fn symship_in(cwd: &Path) -> Command {
    let mut c = symship();
    c.current_dir(cwd);
    c
}

/// [`symship_in`] with the server's host, project id and full-scope key.
pub fn symship_for(server: &TestServer, cwd: &Path) -> Command {
    let mut c = symship_in(cwd);
    c.env(env::HOST, server.base_url())
        .env(env::PROJECT_ID, server.project_id().to_string())
        .env(env::API_KEY, server.api_key());
    c
}

/// `program` with `template`'s environment changes (set and removed variables) and working
/// directory, without its program and arguments: the scrubbed environment of [`symship_for`] on
/// `sh`, `script` or the binary under another name.
pub fn on_program(template: &Command, program: impl AsRef<OsStr>) -> Command {
    let mut c = Command::new(program);
    for (k, v) in template.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    if let Some(dir) = template.get_current_dir() {
        c.current_dir(dir);
    }
    c
}

/// `cmd` (program and arguments, environment, working directory) run by `sh` under `ulimit -f
/// <blocks>` (512-byte blocks), with SIGXFSZ ignored so a write past the limit fails with EFBIG
/// instead of killing the process. Unix only.
pub fn file_size_limited(cmd: &Command, blocks: u64) -> Command {
    let mut c = on_program(cmd, "sh");
    c.arg("-c")
        .arg(format!("trap '' XFSZ; ulimit -f {blocks}; exec \"$0\" \"$@\""))
        .arg(cmd.get_program())
        .args(cmd.get_args());
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variable of symship_api::env that changes what symship does is scrubbed; the ones
    /// that locate the user's files stay (HOME, USERPROFILE, XDG_CACHE_HOME).
    #[test]
    fn the_scrub_covers_the_declared_variables() {
        let mut declared = vec![
            env::API_KEY,
            env::API_KEY_LEGACY,
            env::PROJECT_ID,
            env::PROJECT_ID_LEGACY,
            env::HOST,
            env::DOTENV_FILE,
            env::POSTHOG_HOME,
            env::SSL_CERT_FILE,
            env::CONNECT_TIMEOUT,
            env::IDLE_TIMEOUT,
            env::TOTAL_TIMEOUT,
            env::REQUEST_METHOD,
            env::NO_PROGRESS,
            env::UPLOAD_MEMORY_MIB,
            env::CACHE_DIR,
            env::NO_CACHE,
            env::RUST_LOG,
            env::GITHUB_STEP_SUMMARY,
            env::GITHUB_OUTPUT,
            env::GITHUB_WORKSPACE,
            env::ci::GITHUB_ACTIONS,
            env::ci::GITHUB_REF_NAME,
            env::ci::GITHUB_SHA,
            env::ci::GITHUB_REPOSITORY,
            env::ci::GITHUB_SERVER_URL,
            env::ci::VERCEL,
            env::ci::VERCEL_GIT_COMMIT_REF,
            env::ci::VERCEL_GIT_COMMIT_SHA,
            env::ci::VERCEL_GIT_REPO_SLUG,
            env::ci::VERCEL_GIT_PROVIDER,
            env::ci::VERCEL_GIT_REPO_OWNER,
            env::ci::GITLAB_CI,
            env::ci::CI_COMMIT_REF_NAME,
            env::ci::CI_COMMIT_SHA,
            env::ci::CI_PROJECT_URL,
            env::ci::CI_PROJECT_NAME,
            env::ci::CI_PROJECT_PATH,
            env::ci::CI_REPOSITORY_URL,
            env::ci::CIRCLECI,
            env::ci::CIRCLE_BRANCH,
            env::ci::CIRCLE_TAG,
            env::ci::CIRCLE_REPOSITORY_URL,
            env::ci::CIRCLE_PROJECT_REPONAME,
        ];
        for names in [env::HTTPS_PROXY, env::HTTP_PROXY, env::ALL_PROXY, env::NO_PROXY] {
            declared.extend(names);
        }
        declared.extend([
            "CI",
            "SSL_CERT_DIR",
            "NO_COLOR",
            "CLICOLOR",
            "FORCE_COLOR",
            "ftp_proxy",
        ]);
        let missed: Vec<_> = declared.iter().filter(|n| !is_scrubbed(n)).collect();
        assert!(missed.is_empty(), "not scrubbed: {missed:?}");
        for kept in [
            env::HOME,
            env::USERPROFILE,
            env::XDG_CACHE_HOME,
            "PATH",
            "TMPDIR",
            "TERM",
        ] {
            assert!(!is_scrubbed(kept), "{kept} is kept");
        }
    }

    #[test]
    fn on_program_carries_set_and_removed_variables_and_the_directory() {
        let mut t = Command::new("x");
        t.env("A", "1").env_remove("B").current_dir("/tmp").arg("ignored");
        let c = on_program(&t, "y");
        let envs: Vec<_> = c.get_envs().collect();
        assert!(envs.contains(&(OsStr::new("A"), Some(OsStr::new("1")))));
        assert!(envs.contains(&(OsStr::new("B"), None)));
        assert_eq!(c.get_current_dir(), Some(Path::new("/tmp")));
        assert_eq!(c.get_args().count(), 0);
        assert_eq!(c.get_program(), "y");
    }

    #[test]
    fn file_size_limited_execs_the_command_with_its_arguments() {
        let mut t = Command::new("prog");
        t.args(["a b", "c"]).env("K", "v");
        let c = file_size_limited(&t, 4);
        let args: Vec<_> = c.get_args().collect();
        assert_eq!(
            args,
            [
                "-c",
                "trap '' XFSZ; ulimit -f 4; exec \"$0\" \"$@\"",
                "prog",
                "a b",
                "c"
            ]
        );
        assert_eq!(c.get_program(), "sh");
        assert!(c.get_envs().any(|(k, v)| k == "K" && v == Some(OsStr::new("v"))));
    }
}
