//! The process environment, behind a trait so tests can inject one.
//!
//! Every environment variable symship reads is declared once here.

use std::collections::HashMap;

/// Personal API key (`phx_...`), canonical name.
pub const API_KEY: &str = "POSTHOG_CLI_API_KEY";
/// Personal API key, legacy alias (loses to [`API_KEY`]).
pub const API_KEY_LEGACY: &str = "POSTHOG_CLI_TOKEN";
/// Project id, canonical name.
pub const PROJECT_ID: &str = "POSTHOG_CLI_PROJECT_ID";
/// Project id, legacy alias (loses to [`PROJECT_ID`]).
pub const PROJECT_ID_LEGACY: &str = "POSTHOG_CLI_ENV_ID";
/// Host, only taken from the source that supplied the key and the project id.
pub const HOST: &str = "POSTHOG_CLI_HOST";
/// Dotenv file path (the CLI also reads it through clap; declared here for messages).
pub const DOTENV_FILE: &str = "POSTHOG_CLI_DOTENV_FILE";
/// Directory of `credentials.json` (default `~/.posthog`).
pub const POSTHOG_HOME: &str = "POSTHOG_HOME";
/// Home directory, to find `~/.posthog`.
pub const HOME: &str = "HOME";
/// Windows home directory, when `HOME` is unset.
pub const USERPROFILE: &str = "USERPROFILE";
/// Extra PEM CA bundle to trust, as in curl and OpenSSL.
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";
/// Proxy for https:// URLs (upper case first, then lower case, as reqwest reads them).
pub const HTTPS_PROXY: [&str; 2] = ["HTTPS_PROXY", "https_proxy"];
/// Proxy for http:// URLs. Ignored when `REQUEST_METHOD` is set (CGI, "httpoxy"), as reqwest does.
pub const HTTP_PROXY: [&str; 2] = ["HTTP_PROXY", "http_proxy"];
/// Proxy for both schemes, when the scheme's own variable is unset.
pub const ALL_PROXY: [&str; 2] = ["ALL_PROXY", "all_proxy"];
/// Hosts that bypass the proxy (comma-separated; `*` for all).
pub const NO_PROXY: [&str; 2] = ["NO_PROXY", "no_proxy"];
/// Connect deadline in seconds (default 10).
pub const CONNECT_TIMEOUT: &str = "SYMSHIP_CONNECT_TIMEOUT";
/// Idle deadline in seconds: the longest silence while waiting for an answer (default 30).
pub const IDLE_TIMEOUT: &str = "SYMSHIP_IDLE_TIMEOUT";
/// Total deadline of one API request attempt in seconds (default 60; transfers get more for
/// their size).
pub const TOTAL_TIMEOUT: &str = "SYMSHIP_TOTAL_TIMEOUT";
/// Set by CGI servers; then `HTTP_PROXY` may come from a request header and is ignored (httpoxy).
pub const REQUEST_METHOD: &str = "REQUEST_METHOD";

/// symship's own: `1` turns the progress bars off (plain lines instead).
pub const NO_PROGRESS: &str = "SYMSHIP_NO_PROGRESS";
/// symship's own: the memory (MiB) prepared and waiting upload containers may use.
pub const UPLOAD_MEMORY_MIB: &str = "SYMSHIP_UPLOAD_MEMORY_MIB";
/// symship's own: where content hashes are remembered between runs.
pub const CACHE_DIR: &str = "SYMSHIP_CACHE_DIR";
/// symship's own: `1` turns the content-hash cache off.
pub const NO_CACHE: &str = "SYMSHIP_NO_CACHE";
/// The user's cache directory (XDG base directory spec), when `SYMSHIP_CACHE_DIR` is unset.
pub const XDG_CACHE_HOME: &str = "XDG_CACHE_HOME";
/// Log filter (tracing-subscriber's `EnvFilter`); `posthog_cli=<level>` sets symship's level.
pub const RUST_LOG: &str = "RUST_LOG";
/// GitHub Actions: the file the job summary's markdown is appended to.
pub const GITHUB_STEP_SUMMARY: &str = "GITHUB_STEP_SUMMARY";
/// GitHub Actions: the file step outputs are appended to.
pub const GITHUB_OUTPUT: &str = "GITHUB_OUTPUT";
/// GitHub Actions: the checkout, to name files relative to it in annotations.
pub const GITHUB_WORKSPACE: &str = "GITHUB_WORKSPACE";

/// CI providers' variables, read for release metadata (name, version, branch, remote).
pub mod ci {
    /// `true` in GitHub Actions: release metadata from `GITHUB_*`; annotations, job summary and step outputs.
    pub const GITHUB_ACTIONS: &str = "GITHUB_ACTIONS";
    /// GitHub Actions: the branch or tag.
    pub const GITHUB_REF_NAME: &str = "GITHUB_REF_NAME";
    /// GitHub Actions: the commit.
    pub const GITHUB_SHA: &str = "GITHUB_SHA";
    /// GitHub Actions: `owner/name`.
    pub const GITHUB_REPOSITORY: &str = "GITHUB_REPOSITORY";
    /// GitHub Actions: the server, e.g. `https://github.com`.
    pub const GITHUB_SERVER_URL: &str = "GITHUB_SERVER_URL";
    /// Set in Vercel builds.
    pub const VERCEL: &str = "VERCEL";
    /// Vercel: the branch.
    pub const VERCEL_GIT_COMMIT_REF: &str = "VERCEL_GIT_COMMIT_REF";
    /// Vercel: the commit.
    pub const VERCEL_GIT_COMMIT_SHA: &str = "VERCEL_GIT_COMMIT_SHA";
    /// Vercel: the repository name.
    pub const VERCEL_GIT_REPO_SLUG: &str = "VERCEL_GIT_REPO_SLUG";
    /// Vercel: `github`, `gitlab` or `bitbucket`.
    pub const VERCEL_GIT_PROVIDER: &str = "VERCEL_GIT_PROVIDER";
    /// Vercel: the repository owner.
    pub const VERCEL_GIT_REPO_OWNER: &str = "VERCEL_GIT_REPO_OWNER";
    /// Set in GitLab CI jobs.
    pub const GITLAB_CI: &str = "GITLAB_CI";
    /// GitLab CI: the branch or tag.
    pub const CI_COMMIT_REF_NAME: &str = "CI_COMMIT_REF_NAME";
    /// GitLab CI: the commit.
    pub const CI_COMMIT_SHA: &str = "CI_COMMIT_SHA";
    /// GitLab CI: the project's web URL.
    pub const CI_PROJECT_URL: &str = "CI_PROJECT_URL";
    /// GitLab CI: the project's name.
    pub const CI_PROJECT_NAME: &str = "CI_PROJECT_NAME";
    /// GitLab CI: `group/project`.
    pub const CI_PROJECT_PATH: &str = "CI_PROJECT_PATH";
    /// GitLab CI: the clone URL (holds a job token; never printed).
    pub const CI_REPOSITORY_URL: &str = "CI_REPOSITORY_URL";
    /// Set in CircleCI jobs.
    pub const CIRCLECI: &str = "CIRCLECI";
    /// CircleCI: the branch.
    pub const CIRCLE_BRANCH: &str = "CIRCLE_BRANCH";
    /// CircleCI: the tag.
    pub const CIRCLE_TAG: &str = "CIRCLE_TAG";
    /// CircleCI: the repository URL.
    pub const CIRCLE_REPOSITORY_URL: &str = "CIRCLE_REPOSITORY_URL";
    /// CircleCI: the repository name.
    pub const CIRCLE_PROJECT_REPONAME: &str = "CIRCLE_PROJECT_REPONAME";
}

/// Read access to environment variables. Empty values count as unset.
pub trait Env: Send + Sync {
    /// The raw value, `None` if unset or not valid UTF-8.
    fn raw(&self, name: &str) -> Option<String>;

    /// The value, `None` if unset or empty (after trimming whitespace).
    fn var(&self, name: &str) -> Option<String> {
        self.raw(name).filter(|v| !v.trim().is_empty())
    }

    /// The first of `names` that is set and non-empty, with its name.
    fn first_of(&self, names: &[&'static str]) -> Option<(&'static str, String)> {
        names.iter().find_map(|n| self.var(n).map(|v| (*n, v)))
    }
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    #[allow(clippy::disallowed_methods)] // the one reader of the process environment
    fn raw(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// An environment held in a map (tests, or a snapshot).
#[derive(Debug, Clone, Default)]
pub struct MapEnv(pub HashMap<String, String>);

impl MapEnv {
    /// An empty environment.
    pub fn new() -> MapEnv {
        MapEnv::default()
    }

    /// Builder-style setter.
    pub fn with(mut self, name: &str, value: &str) -> MapEnv {
        self.0.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Set a variable.
    pub fn set(&mut self, name: &str, value: &str) {
        self.0.insert(name.to_owned(), value.to_owned());
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for MapEnv {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        MapEnv(iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

impl Env for MapEnv {
    fn raw(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_count_as_unset() {
        let env = MapEnv::new().with("A", "").with("B", "  ").with("C", "x");
        assert_eq!(env.var("A"), None);
        assert_eq!(env.var("B"), None);
        assert_eq!(env.var("C").as_deref(), Some("x"));
        assert_eq!(env.first_of(&["A", "B", "C"]), Some(("C", "x".to_owned())));
    }
}
