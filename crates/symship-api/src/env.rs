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
/// Set by CGI servers; then `HTTP_PROXY` may come from a request header and is ignored (httpoxy).
pub const REQUEST_METHOD: &str = "REQUEST_METHOD";

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
