//! Where the host, key and project id come from (spec §1), and the network settings.
//!
//! Credential sources are tried in order and the first *complete* one (key and project id) wins:
//! 1. the process environment (`POSTHOG_CLI_API_KEY` or legacy `POSTHOG_CLI_TOKEN`,
//!    `POSTHOG_CLI_PROJECT_ID` or legacy `POSTHOG_CLI_ENV_ID`, optional `POSTHOG_CLI_HOST`);
//! 2. the dotenv file given by `--dotenv-file` / `POSTHOG_CLI_DOTENV_FILE` (same names);
//! 3. `$POSTHOG_HOME/credentials.json`, else `~/.posthog/credentials.json`.
//!
//! The host comes from `--host`, else from the source that supplied the key, else the default
//! `https://us.i.posthog.com`. Every setting records its [`Source`] so `doctor` can show it.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use crate::env::{self, Env};
use crate::retry::RetryPolicy;
use crate::token::ApiToken;

/// The host used when no flag or credential source names one (posthog-cli's actual default).
pub const DEFAULT_HOST: &str = "https://us.i.posthog.com";
/// posthog-cli's `--rate-limit` default, requests per minute.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 480;
/// Connect deadline (posthog-cli's upload client uses 5 s; we allow a bit more for proxies).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle deadline: the longest silence on an open connection before the request fails.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Total deadline of one API request attempt, answer body included, however steadily the server
/// trickles (posthog-cli: 30 s per attempt, 3 attempts). The retry policy's `max_total` bounds
/// all attempts of a call together. Transfers to storage get this plus time for their size at
/// [`MIN_TRANSFER_RATE`].
pub const DEFAULT_TOTAL_TIMEOUT: Duration = Duration::from_secs(60);
/// The slowest transfer rate a presigned transfer is given time for (1 Mbit/s): a 100 MiB
/// symbol set may take [`DEFAULT_TOTAL_TIMEOUT`] plus about 13 minutes.
pub const MIN_TRANSFER_RATE: u64 = 128 * 1024;

/// Where a setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag, e.g. `--host`.
    Flag(&'static str),
    /// A process environment variable.
    Env(&'static str),
    /// A variable in a dotenv file.
    Dotenv { path: PathBuf, var: &'static str },
    /// The credentials file written by `posthog-cli login`.
    CredentialsFile(PathBuf),
    /// The built-in default.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(flag) => write!(f, "the {flag} flag"),
            Source::Env(var) => write!(f, "environment variable {var}"),
            Source::Dotenv { path, var } => write!(f, "{var} in dotenv file {}", path.display()),
            Source::CredentialsFile(path) => write!(f, "credentials file {}", path.display()),
            Source::Default => f.write_str("the default"),
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    pub value: T,
    pub source: Source,
}

impl<T> Sourced<T> {
    pub fn new(value: T, source: Source) -> Sourced<T> {
        Sourced { value, source }
    }
}

/// What the command line contributes (everything else comes from the environment).
#[derive(Debug, Clone, Default)]
pub struct ConfigRequest {
    /// `--host`: overrides every other source.
    pub host: Option<String>,
    /// `--dotenv-file` (clap also reads `POSTHOG_CLI_DOTENV_FILE` into it).
    pub dotenv_file: Option<PathBuf>,
    /// `--ca-cert`: an extra PEM bundle to trust (`SSL_CERT_FILE` is read too).
    pub ca_cert: Option<PathBuf>,
    /// `--skip-ssl-verification`.
    pub skip_ssl_verification: bool,
    /// `--rate-limit` in requests per minute; `None` or 0 disables the client-side limit.
    pub rate_limit_per_minute: Option<u32>,
}

/// The personal API key and project id, from one source.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub token: Sourced<ApiToken>,
    pub project_id: Sourced<u64>,
}

/// Proxy settings read from the environment. `Debug` hides proxy passwords.
#[derive(Clone, Default)]
pub struct ProxyConfig {
    pub https: Option<Sourced<Url>>,
    pub http: Option<Sourced<Url>>,
    pub no_proxy: Option<Sourced<String>>,
}

impl fmt::Debug for ProxyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |p: &Option<Sourced<Url>>| {
            p.as_ref()
                .map(|s| format!("{} ({})", redact_url(&s.value), s.source))
        };
        f.debug_struct("ProxyConfig")
            .field("https", &show(&self.https))
            .field("http", &show(&self.http))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

/// A URL for messages: no userinfo, no query, no fragment.
pub fn redact_url(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// How the HTTP client connects: TLS, proxies, timeouts, retries, rate limit.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// Extra PEM bundles trusted on top of the platform and webpki roots.
    pub ca_certs: Vec<Sourced<PathBuf>>,
    pub skip_ssl_verification: bool,
    pub proxy: ProxyConfig,
    pub connect_timeout: Duration,
    /// Idle/read timeout: the longest wait for the next bytes, not a cap on the whole request.
    pub read_timeout: Duration,
    /// Total deadline of one API request attempt (transfers get more for their size).
    pub total_timeout: Duration,
    pub rate_limit_per_minute: Option<u32>,
    pub retry: RetryPolicy,
    pub user_agent: String,
}

impl NetworkConfig {
    /// Network settings from the command line and environment (no credentials needed).
    pub fn resolve(req: &ConfigRequest, env: &dyn Env) -> Result<NetworkConfig, ConfigError> {
        let mut ca_certs = Vec::new();
        if let Some(path) = &req.ca_cert {
            ca_certs.push(Sourced::new(path.clone(), Source::Flag("--ca-cert")));
        }
        if let Some(path) = env.var(env::SSL_CERT_FILE) {
            ca_certs.push(Sourced::new(PathBuf::from(path), Source::Env(env::SSL_CERT_FILE)));
        }
        Ok(NetworkConfig {
            ca_certs,
            skip_ssl_verification: req.skip_ssl_verification,
            proxy: proxy_from_env(env)?,
            connect_timeout: timeout_from_env(env, env::CONNECT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT)?,
            read_timeout: timeout_from_env(env, env::IDLE_TIMEOUT, DEFAULT_READ_TIMEOUT)?,
            total_timeout: timeout_from_env(env, env::TOTAL_TIMEOUT, DEFAULT_TOTAL_TIMEOUT)?,
            rate_limit_per_minute: req.rate_limit_per_minute.filter(|n| *n > 0),
            retry: RetryPolicy::default(),
            user_agent: user_agent(),
        })
    }
}

impl NetworkConfig {
    /// The deadlines every request gets.
    pub fn deadlines(&self) -> Deadlines {
        Deadlines {
            connect: self.connect_timeout,
            idle: self.read_timeout,
            total: self.total_timeout,
        }
    }
}

/// The connect, idle (read) and total deadlines of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub connect: Duration,
    pub idle: Duration,
    pub total: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            connect: DEFAULT_CONNECT_TIMEOUT,
            idle: DEFAULT_READ_TIMEOUT,
            total: DEFAULT_TOTAL_TIMEOUT,
        }
    }
}

impl Deadlines {
    /// The total deadline of a transfer of `bytes` to or from object storage.
    pub fn transfer_total(&self, bytes: u64) -> Duration {
        self.total + Duration::from_secs(bytes / MIN_TRANSFER_RATE)
    }
}

/// A deadline from the environment in seconds (`2`, `0.5`), else `default`.
fn timeout_from_env(env: &dyn Env, var: &'static str, default: Duration) -> Result<Duration, ConfigError> {
    let Some(v) = env.var(var) else {
        return Ok(default);
    };
    match v.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 && secs <= 86_400.0 => Ok(Duration::from_secs_f64(secs)),
        _ => Err(ConfigError::Timeout { var, value: v }),
    }
}

/// `symship/<version>`.
pub fn user_agent() -> String {
    format!("symship/{}", env!("CARGO_PKG_VERSION"))
}

fn proxy_from_env(env: &dyn Env) -> Result<ProxyConfig, ConfigError> {
    let parse = |found: Option<(&'static str, String)>| -> Result<Option<Sourced<Url>>, ConfigError> {
        let Some((var, value)) = found else {
            return Ok(None);
        };
        // reqwest accepts "host:port" and assumes http://; do the same.
        let with_scheme = if value.contains("://") {
            value.clone()
        } else {
            format!("http://{value}")
        };
        let url = Url::parse(&with_scheme).map_err(|e| ConfigError::Proxy {
            var,
            reason: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https" | "socks5" | "socks5h") || url.host().is_none() {
            return Err(ConfigError::Proxy {
                var,
                reason: "expected http://HOST:PORT or https://HOST:PORT".into(),
            });
        }
        Ok(Some(Sourced::new(url, Source::Env(var))))
    };
    let all = env.first_of(&env::ALL_PROXY);
    let https = parse(env.first_of(&env::HTTPS_PROXY).or_else(|| all.clone()))?;
    let http_var = if env.var(env::REQUEST_METHOD).is_some() {
        None
    } else {
        env.first_of(&env::HTTP_PROXY)
    };
    let http = parse(http_var.or(all))?;
    let no_proxy = env
        .first_of(&env::NO_PROXY)
        .map(|(var, v)| Sourced::new(v, Source::Env(var)));
    Ok(ProxyConfig {
        https,
        http,
        no_proxy,
    })
}

/// Everything the API client needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Base URL; may carry a path prefix (`https://example.com/posthog`).
    pub host: Sourced<Url>,
    pub credentials: Credentials,
    pub network: NetworkConfig,
    /// Non-fatal findings (a missing dotenv file, a partial source that was skipped).
    pub warnings: Vec<String>,
}

impl Config {
    /// Resolve host, credentials and network settings as spec §1 describes.
    pub fn resolve(req: &ConfigRequest, env: &dyn Env) -> Result<Config, ConfigError> {
        let network = NetworkConfig::resolve(req, env)?;
        let found = resolve_credentials(req, env)?;
        let host = resolve_host(req.host.as_deref(), found.host)?;
        let mut warnings = found.warnings;
        if host.value.scheme() == "http" && !is_loopback(&host.value) {
            warnings.push(format!(
                "host {} (from {}) uses plain http: the API key is sent unencrypted",
                host.value, host.source
            ));
        }
        Ok(Config {
            host,
            credentials: found.credentials,
            network,
            warnings,
        })
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The host from `--host`, else the credential source, else the default.
pub fn resolve_host(
    flag: Option<&str>,
    from_credentials: Option<Sourced<String>>,
) -> Result<Sourced<Url>, ConfigError> {
    let chosen = match (flag.filter(|h| !h.trim().is_empty()), from_credentials) {
        (Some(h), _) => Sourced::new(h.to_owned(), Source::Flag("--host")),
        (None, Some(h)) => h,
        (None, None) => Sourced::new(DEFAULT_HOST.to_owned(), Source::Default),
    };
    let url = parse_host(&chosen.value).map_err(|reason| ConfigError::BadHost {
        value: redact_host_text(&chosen.value),
        origin: chosen.source.clone(),
        reason,
    })?;
    Ok(Sourced::new(url, chosen.source))
}

/// A host as typed, fit for messages whatever it holds, parsed or not: a user name or password
/// (`user:pw@`) becomes `***@`, a query or fragment (`?token=...`) becomes `?***`.
pub fn redact_host_text(value: &str) -> String {
    let value = value.trim();
    let (scheme, rest) = match value.find("://") {
        Some(i) => value.split_at(i + 3),
        None => ("", value),
    };
    let (rest, tail) = match rest.find(['?', '#']) {
        Some(i) => (&rest[..i], "?***"),
        None => (rest, ""),
    };
    let authority_end = rest.find(['/', '\\']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(i) => format!("***@{}", &authority[i + 1..]),
        None => authority.to_owned(),
    };
    format!("{scheme}{authority}{path}{tail}")
}

/// Parse and check a host URL (http or https, a host name, no query or fragment). The reasons
/// never repeat a user name, password or query.
pub fn parse_host(value: &str) -> Result<Url, String> {
    let value = value.trim();
    if !value.contains("://") {
        return Err(format!(
            "it has no scheme; did you mean https://{}?",
            redact_host_text(value)
        ));
    }
    let url = Url::parse(value).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("the scheme must be http or https, not {}", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("it has no host name".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("it must not contain a user name or password".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("it must not contain a query (?...) or fragment (#...)".into());
    }
    Ok(url)
}

/// Credentials plus the host named by the same source.
#[derive(Debug, Clone)]
pub struct FoundCredentials {
    pub credentials: Credentials,
    pub host: Option<Sourced<String>>,
    pub warnings: Vec<String>,
}

/// Where `credentials.json` is looked for: `$POSTHOG_HOME/credentials.json`, else
/// `$HOME/.posthog/credentials.json` (or `%USERPROFILE%`).
pub fn credentials_path(env: &dyn Env) -> Option<PathBuf> {
    if let Some(home) = env.var(env::POSTHOG_HOME) {
        return Some(PathBuf::from(home).join("credentials.json"));
    }
    let home = env.var(env::HOME).or_else(|| env.var(env::USERPROFILE))?;
    Some(PathBuf::from(home).join(".posthog").join("credentials.json"))
}

/// What one source held, before validation.
struct Candidate {
    key: Option<(String, Source)>,
    id: Option<(String, Source)>,
    host: Option<(String, Source)>,
}

impl Candidate {
    fn from_lookup(
        lookup: impl Fn(&'static str) -> Option<String>,
        source: impl Fn(&'static str) -> Source,
    ) -> Candidate {
        let pick = |names: &[&'static str]| names.iter().find_map(|n| lookup(n).map(|v| (v, source(n))));
        Candidate {
            key: pick(&[env::API_KEY, env::API_KEY_LEGACY]),
            id: pick(&[env::PROJECT_ID, env::PROJECT_ID_LEGACY]),
            host: pick(&[env::HOST]),
        }
    }

    fn complete(&self) -> bool {
        self.key.is_some() && self.id.is_some()
    }

    /// "POSTHOG_CLI_API_KEY set, POSTHOG_CLI_PROJECT_ID (or POSTHOG_CLI_ENV_ID) not set"
    fn describe(&self) -> String {
        let part = |have: bool, a: &str, b: &str| {
            if have {
                format!("{a} (or {b}) set")
            } else {
                format!("{a} (or {b}) not set")
            }
        };
        format!(
            "{}, {}",
            part(self.key.is_some(), env::API_KEY, env::API_KEY_LEGACY),
            part(self.id.is_some(), env::PROJECT_ID, env::PROJECT_ID_LEGACY)
        )
    }

    fn into_found(self, warnings: Vec<String>) -> Result<FoundCredentials, ConfigError> {
        let (key, key_source) = self.key.expect("complete");
        let (id, id_source) = self.id.expect("complete");
        let token = validate_token(key, &key_source)?;
        let project_id = validate_project_id(&id, &id_source)?;
        Ok(FoundCredentials {
            credentials: Credentials {
                token: Sourced::new(token, key_source),
                project_id: Sourced::new(project_id, id_source),
            },
            host: self.host.map(|(h, s)| Sourced::new(h, s)),
            warnings,
        })
    }
}

/// Check the key is a personal API key (`phx_...`).
pub fn validate_token(key: String, source: &Source) -> Result<ApiToken, ConfigError> {
    let key = key.trim().to_owned();
    let token = ApiToken::new(key);
    match token.kind() {
        Some("phx") => Ok(token),
        Some("phc") => Err(ConfigError::ProjectToken {
            origin: source.clone(),
        }),
        _ => Err(ConfigError::NotPersonalKey {
            origin: source.clone(),
        }),
    }
}

/// Check the project id is a positive integer.
pub fn validate_project_id(id: &str, source: &Source) -> Result<u64, ConfigError> {
    match id.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ConfigError::BadProjectId {
            value: id.to_owned(),
            origin: source.clone(),
        }),
    }
}

/// Find the key and project id (spec §1 order), without the host default or network settings.
pub fn resolve_credentials(req: &ConfigRequest, env: &dyn Env) -> Result<FoundCredentials, ConfigError> {
    let mut looked = Vec::new();
    let mut warnings = Vec::new();

    // 1. The process environment.
    let from_env = Candidate::from_lookup(|n| env.var(n), Source::Env);
    if from_env.complete() {
        return from_env.into_found(warnings);
    }
    looked.push(format!("the process environment: {}", from_env.describe()));
    let env_partial = from_env.key.is_some() || from_env.id.is_some();

    // 2. The dotenv file, if one was named.
    match &req.dotenv_file {
        Some(path) => match read_dotenv(path)? {
            Some(vars) => {
                let cand = Candidate::from_lookup(
                    |n| vars.get(n).filter(|v| !v.trim().is_empty()).cloned(),
                    |var| Source::Dotenv {
                        path: path.clone(),
                        var,
                    },
                );
                if cand.complete() {
                    if env_partial {
                        warnings.push(format!(
                            "the process environment has only part of the credentials ({}); using dotenv file {}",
                            from_env.describe(),
                            path.display()
                        ));
                    }
                    return cand.into_found(warnings);
                }
                looked.push(format!("dotenv file {}: {}", path.display(), cand.describe()));
            }
            None => {
                let msg = format!(
                    "dotenv file {} not found; trying the credentials file",
                    path.display()
                );
                tracing::warn!("{msg}");
                warnings.push(msg);
                looked.push(format!("dotenv file {}: not found", path.display()));
            }
        },
        None => looked.push(format!("no dotenv file (--dotenv-file or {})", env::DOTENV_FILE)),
    }

    // 3. The credentials file.
    match credentials_path(env) {
        Some(path) => match read_credentials_file(&path)? {
            Some(cand) => {
                if cand.complete() {
                    if env_partial {
                        warnings.push(format!(
                            "the process environment has only part of the credentials ({}); using {}",
                            from_env.describe(),
                            path.display()
                        ));
                    }
                    return cand.into_found(warnings);
                }
                looked.push(format!(
                    "credentials file {}: it lacks \"token\" or \"env_id\"",
                    path.display()
                ));
            }
            None => looked.push(format!("credentials file {}: not found", path.display())),
        },
        None => looked.push(format!(
            "no credentials file ({} and {} are both unset)",
            env::POSTHOG_HOME,
            env::HOME
        )),
    }
    Err(ConfigError::MissingCredentials { looked })
}

/// Read a dotenv file: `KEY=VALUE` lines, `#` comments, optional `export `, matching quotes
/// stripped, no interpolation. `Ok(None)` when the file does not exist.
pub fn read_dotenv(path: &Path) -> Result<Option<HashMap<String, String>>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ConfigError::DotenvRead {
                path: path.to_owned(),
                source: e,
            })
        }
    };
    parse_dotenv(&text)
        .map(Some)
        .map_err(|(line, reason)| ConfigError::DotenvSyntax {
            path: path.to_owned(),
            line,
            reason,
        })
}

/// Parse dotenv text; the error is (1-based line, reason). Values never appear in errors.
pub fn parse_dotenv(text: &str) -> Result<HashMap<String, String>, (usize, String)> {
    let mut map = HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map(str::trim_start).unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err((i + 1, "expected KEY=VALUE".into()));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err((i + 1, "empty key".into()));
        }
        map.insert(key.to_owned(), unquote(value.trim()).to_owned());
    }
    Ok(map)
}

fn unquote(value: &str) -> &str {
    let b = value.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        &value[1..value.len() - 1]
    } else {
        value
    }
}

fn read_credentials_file(path: &Path) -> Result<Option<Candidate>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ConfigError::CredentialsFile {
                path: path.to_owned(),
                reason: e.to_string(),
            });
        }
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| ConfigError::CredentialsFile {
        path: path.to_owned(),
        // serde_json's message names a line and column, never the content.
        reason: format!("not valid JSON ({e})"),
    })?;
    let field = |name: &str| match value.get(name) {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let src = || Source::CredentialsFile(path.to_owned());
    Ok(Some(Candidate {
        key: field("token").map(|v| (v, src())),
        id: field("env_id").map(|v| (v, src())),
        host: field("host").map(|v| (v, src())),
    }))
}

/// A configuration problem: what is wrong, where it was looked for, what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no PostHog credentials found: symship needs a personal API key and a project id.\nLooked in:\n{}\nSet {} (a personal API key, phx_...) and {}, pass --dotenv-file, or run `posthog-cli login`",
        looked.iter().map(|l| format!("  - {l}")).collect::<Vec<_>>().join("\n"),
        env::API_KEY, env::PROJECT_ID
    )]
    MissingCredentials { looked: Vec<String> },
    #[error(
        "the key from {origin} is a project token (phc_...), which can only send events; symship needs a personal API key (phx_...) with the error_tracking:write scope (PostHog: Settings > Personal API keys)"
    )]
    ProjectToken { origin: Source },
    #[error(
        "the key from {origin} is not a personal API key: it must start with phx_ (PostHog: Settings > Personal API keys)"
    )]
    NotPersonalKey { origin: Source },
    #[error("the project id {value:?} from {origin} is not a positive number (it is the number in /project/<id>/ in PostHog's URLs)")]
    BadProjectId { value: String, origin: Source },
    #[error("the host {value:?} from {origin} is not usable: {reason}")]
    BadHost {
        value: String,
        origin: Source,
        reason: String,
    },
    #[error("could not read dotenv file {}: {source}", path.display())]
    DotenvRead { path: PathBuf, source: std::io::Error },
    #[error("dotenv file {} line {line}: {reason}", path.display())]
    DotenvSyntax {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("could not use credentials file {}: {reason}; fix it or run `posthog-cli login` again", path.display())]
    CredentialsFile { path: PathBuf, reason: String },
    #[error("could not use the CA bundle {} (from {origin}): {reason}", path.display())]
    CaCert {
        path: PathBuf,
        origin: Source,
        reason: String,
    },
    #[error("the proxy in {var} is not usable: {reason}")]
    Proxy { var: &'static str, reason: String },
    #[error("could not build the HTTP client: {0}")]
    HttpClient(String),
    #[error("{var}={value:?} is not a number of seconds between 0 and 86400 (e.g. 30 or 0.5)")]
    Timeout { var: &'static str, value: String },
}

impl ConfigError {
    /// The registry's code of this problem; its hint says what to do (`symship doctor` prints it).
    pub fn code(&self) -> symship_core::Code {
        use symship_core::Code;
        match self {
            ConfigError::MissingCredentials { .. } => Code::MissingCredentials,
            ConfigError::ProjectToken { .. } => Code::ProjectToken,
            ConfigError::NotPersonalKey { .. } => Code::NotPersonalKey,
            ConfigError::BadProjectId { .. } => Code::BadProjectId,
            ConfigError::BadHost { .. } => Code::BadHost,
            ConfigError::DotenvRead { .. } | ConfigError::DotenvSyntax { .. } => Code::DotenvFile,
            ConfigError::CredentialsFile { .. } => Code::CredentialsFile,
            ConfigError::CaCert { .. } => Code::CaCert,
            ConfigError::Proxy { .. } => Code::Proxy,
            ConfigError::HttpClient(_) => Code::HttpClient,
            ConfigError::Timeout { .. } => Code::Timeout,
        }
    }
}

/// A URL for messages keeping its query (API URLs carry no secrets in queries), minus userinfo.
pub fn redact_url_keep_query(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_fragment(None);
    u.to_string()
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "tests build fixtures in temporary directories"
)]
mod tests {
    use super::*;
    use crate::env::MapEnv;

    struct Fixture {
        dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new() -> Fixture {
            Fixture {
                dir: tempfile::tempdir().unwrap(),
            }
        }
        fn dotenv(&self, text: &str) -> PathBuf {
            let p = self.dir.path().join(".env");
            std::fs::write(&p, text).unwrap();
            p
        }
        fn home(&self) -> String {
            self.dir.path().join("ph").to_string_lossy().into_owned()
        }
        fn credentials(&self, json: &str) -> PathBuf {
            let dir = self.dir.path().join("ph");
            std::fs::create_dir_all(&dir).unwrap();
            let p = dir.join("credentials.json");
            std::fs::write(&p, json).unwrap();
            p
        }
        fn env(&self) -> MapEnv {
            MapEnv::new().with(env::POSTHOG_HOME, &self.home())
        }
    }

    fn req(dotenv: Option<PathBuf>) -> ConfigRequest {
        ConfigRequest {
            dotenv_file: dotenv,
            ..Default::default()
        }
    }

    #[test]
    fn env_wins_over_dotenv_and_credentials_file() {
        let f = Fixture::new();
        let dotenv = f.dotenv("POSTHOG_CLI_API_KEY=phx_dotenv\nPOSTHOG_CLI_PROJECT_ID=2\nPOSTHOG_CLI_HOST=http://dotenv.example\n");
        f.credentials(r#"{"host":"http://file.example","token":"phx_file","env_id":"3"}"#);
        let env = f.env().with(env::API_KEY, "phx_env").with(env::PROJECT_ID, "1");
        let c = Config::resolve(&req(Some(dotenv.clone())), &env).unwrap();
        assert_eq!(c.credentials.token.value.expose(), "phx_env");
        assert_eq!(c.credentials.token.source, Source::Env(env::API_KEY));
        assert_eq!(c.credentials.project_id.value, 1);
        // The host is only taken from the source of the key: env has none, so the default.
        assert_eq!(c.host.value.as_str(), "https://us.i.posthog.com/");
        assert_eq!(c.host.source, Source::Default);

        // Without the env, the dotenv file wins over the credentials file, host included.
        let c = Config::resolve(&req(Some(dotenv.clone())), &f.env()).unwrap();
        assert_eq!(c.credentials.token.value.expose(), "phx_dotenv");
        assert_eq!(c.credentials.project_id.value, 2);
        assert_eq!(c.host.value.as_str(), "http://dotenv.example/");
        assert_eq!(
            c.host.source,
            Source::Dotenv {
                path: dotenv,
                var: env::HOST
            }
        );

        // Without either, the credentials file.
        let c = Config::resolve(&req(None), &f.env()).unwrap();
        assert_eq!(c.credentials.token.value.expose(), "phx_file");
        assert_eq!(c.credentials.project_id.value, 3);
        assert_eq!(c.host.value.as_str(), "http://file.example/");
        assert!(matches!(c.credentials.token.source, Source::CredentialsFile(_)));
    }

    #[test]
    fn canonical_names_win_over_legacy_ones() {
        let env = MapEnv::new()
            .with(env::API_KEY, "phx_new")
            .with(env::API_KEY_LEGACY, "phx_old")
            .with(env::PROJECT_ID, "10")
            .with(env::PROJECT_ID_LEGACY, "20");
        let c = Config::resolve(&req(None), &env).unwrap();
        assert_eq!(c.credentials.token.value.expose(), "phx_new");
        assert_eq!(c.credentials.project_id.value, 10);
        let legacy = MapEnv::new()
            .with(env::API_KEY_LEGACY, "phx_old")
            .with(env::PROJECT_ID_LEGACY, "20");
        let c = Config::resolve(&req(None), &legacy).unwrap();
        assert_eq!(c.credentials.token.value.expose(), "phx_old");
        assert_eq!(c.credentials.token.source, Source::Env(env::API_KEY_LEGACY));
        assert_eq!(
            c.credentials.project_id.source,
            Source::Env(env::PROJECT_ID_LEGACY)
        );
    }

    #[test]
    fn host_flag_overrides_every_source() {
        let env = MapEnv::new()
            .with(env::API_KEY, "phx_k")
            .with(env::PROJECT_ID, "1")
            .with(env::HOST, "http://env.example");
        let r = ConfigRequest {
            host: Some("https://example.com/posthog".into()),
            ..Default::default()
        };
        let c = Config::resolve(&r, &env).unwrap();
        assert_eq!(c.host.value.as_str(), "https://example.com/posthog");
        assert_eq!(c.host.source, Source::Flag("--host"));
        let c = Config::resolve(&req(None), &env).unwrap();
        assert_eq!(c.host.source, Source::Env(env::HOST));
    }

    #[test]
    fn partial_env_falls_through_with_a_warning_and_empty_values_are_unset() {
        let f = Fixture::new();
        f.credentials(r#"{"host":null,"token":"phx_file","env_id":"3"}"#);
        let env = f.env().with(env::API_KEY, "phx_env").with(env::PROJECT_ID, "");
        let c = Config::resolve(&req(None), &env).unwrap();
        assert_eq!(c.credentials.token.value.expose(), "phx_file");
        assert!(
            c.warnings
                .iter()
                .any(|w| w.contains("only part of the credentials")),
            "{:?}",
            c.warnings
        );
        assert_eq!(c.host.source, Source::Default);
    }

    #[test]
    fn missing_everything_says_where_it_looked() {
        let f = Fixture::new();
        let missing_dotenv = f.dir.path().join("nope.env");
        let env = f.env().with(env::API_KEY, "phx_secret_value");
        let err = Config::resolve(&req(Some(missing_dotenv.clone())), &env).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ConfigError::MissingCredentials { .. }));
        assert!(
            msg.contains("POSTHOG_CLI_API_KEY (or POSTHOG_CLI_TOKEN) set"),
            "{msg}"
        );
        assert!(
            msg.contains("POSTHOG_CLI_PROJECT_ID (or POSTHOG_CLI_ENV_ID) not set"),
            "{msg}"
        );
        assert!(
            msg.contains(&format!("dotenv file {}: not found", missing_dotenv.display())),
            "{msg}"
        );
        assert!(msg.contains("credentials.json: not found"), "{msg}");
        assert!(!msg.contains("phx_secret_value"), "{msg}");
    }

    #[test]
    fn project_tokens_and_other_keys_get_their_own_messages() {
        let env = MapEnv::new()
            .with(env::API_KEY, "phc_projecttoken")
            .with(env::PROJECT_ID, "1");
        let err = Config::resolve(&req(None), &env).unwrap_err();
        assert!(matches!(err, ConfigError::ProjectToken { .. }));
        let msg = err.to_string();
        assert!(
            msg.contains("project token (phc_") && msg.contains("environment variable POSTHOG_CLI_API_KEY"),
            "{msg}"
        );
        assert!(!msg.contains("projecttoken"));
        let env = MapEnv::new()
            .with(env::API_KEY, "sk_live_whatever")
            .with(env::PROJECT_ID, "1");
        let err = Config::resolve(&req(None), &env).unwrap_err();
        assert!(matches!(err, ConfigError::NotPersonalKey { .. }));
        assert!(!err.to_string().contains("whatever"));
    }

    #[test]
    fn bad_project_id_and_host_name_their_source() {
        let env = MapEnv::new()
            .with(env::API_KEY, "phx_k")
            .with(env::PROJECT_ID, "proj-1");
        let msg = Config::resolve(&req(None), &env).unwrap_err().to_string();
        assert!(
            msg.contains("\"proj-1\"") && msg.contains("POSTHOG_CLI_PROJECT_ID"),
            "{msg}"
        );
        let env = MapEnv::new()
            .with(env::API_KEY, "phx_k")
            .with(env::PROJECT_ID, "1")
            .with(env::HOST, "eu.posthog.com");
        let msg = Config::resolve(&req(None), &env).unwrap_err().to_string();
        assert!(msg.contains("did you mean https://eu.posthog.com"), "{msg}");
    }

    #[test]
    fn a_password_or_query_in_the_host_is_never_shown() {
        for (host, shown) in [
            (
                "https://user:hunter2@eu.posthog.com",
                "https://***@eu.posthog.com",
            ),
            (
                "https://eu.posthog.com/?token=phx_sekrit",
                "https://eu.posthog.com/?***",
            ),
            ("https://eu.posthog.com#phx_sekrit", "https://eu.posthog.com?***"),
            (
                "https://a:hunter2@h:99999/p?token=phx_sekrit",
                "https://***@h:99999/p?***",
            ),
            (
                "user:hunter2@eu.posthog.com?token=phx_sekrit",
                "***@eu.posthog.com?***",
            ),
            ("ftp://u:hunter2@h", "ftp://***@h"),
        ] {
            assert_eq!(redact_host_text(host), shown);
            let env = MapEnv::new()
                .with(env::API_KEY, "phx_k")
                .with(env::PROJECT_ID, "1");
            let r = ConfigRequest {
                host: Some(host.into()),
                ..Default::default()
            };
            let msg = Config::resolve(&r, &env).unwrap_err().to_string();
            assert!(
                !msg.contains("hunter2") && !msg.contains("sekrit") && !msg.contains("user:"),
                "{msg}"
            );
            assert!(msg.contains("--host"), "{msg}");
        }
    }

    #[test]
    fn dotenv_syntax() {
        let m =
            parse_dotenv("# c\n\nA=1\nexport B = \"two words\"\nC='x'\nD=\"unbalanced'\nE=${A}\n").unwrap();
        assert_eq!(m["A"], "1");
        assert_eq!(m["B"], "two words");
        assert_eq!(m["C"], "x");
        assert_eq!(m["D"], "\"unbalanced'");
        assert_eq!(m["E"], "${A}", "no interpolation");
        assert_eq!(parse_dotenv("A=1\nnonsense\n").unwrap_err().0, 2);
        assert_eq!(parse_dotenv("=1\n").unwrap_err().0, 1);
    }

    #[test]
    fn unreadable_credentials_file_is_an_error_naming_it() {
        let f = Fixture::new();
        let p = f.credentials("{not json phx_leak");
        let err = Config::resolve(&req(None), &f.env()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&p.display().to_string()) && !msg.contains("phx_leak"),
            "{msg}"
        );
    }

    #[test]
    fn proxies_and_ca_from_env() {
        let env = MapEnv::new()
            .with("HTTPS_PROXY", "http://user:pw@127.0.0.1:3128")
            .with("http_proxy", "127.0.0.1:3129")
            .with("NO_PROXY", "localhost,.internal")
            .with(env::SSL_CERT_FILE, "/etc/extra.pem");
        let r = ConfigRequest {
            ca_cert: Some("/x/ca.pem".into()),
            ..Default::default()
        };
        let n = NetworkConfig::resolve(&r, &env).unwrap();
        assert_eq!(
            n.proxy.https.as_ref().unwrap().value.as_str(),
            "http://user:pw@127.0.0.1:3128/"
        );
        assert_eq!(
            n.proxy.http.as_ref().unwrap().value.as_str(),
            "http://127.0.0.1:3129/"
        );
        assert_eq!(n.proxy.http.as_ref().unwrap().source, Source::Env("http_proxy"));
        assert_eq!(n.proxy.no_proxy.as_ref().unwrap().value, "localhost,.internal");
        assert!(
            !format!("{:?}", n.proxy).contains("pw"),
            "proxy passwords are not in Debug"
        );
        assert_eq!(n.ca_certs.len(), 2);
        assert_eq!(n.ca_certs[0].source, Source::Flag("--ca-cert"));
        // CGI: HTTP_PROXY may come from a request header; ignored.
        let cgi = MapEnv::new()
            .with("HTTP_PROXY", "http://evil:1")
            .with(env::REQUEST_METHOD, "GET");
        assert!(NetworkConfig::resolve(&ConfigRequest::default(), &cgi)
            .unwrap()
            .proxy
            .http
            .is_none());
        let all = MapEnv::new().with("ALL_PROXY", "http://127.0.0.1:9");
        let n = NetworkConfig::resolve(&ConfigRequest::default(), &all).unwrap();
        assert!(n.proxy.http.is_some() && n.proxy.https.is_some());
    }
}
