//! What a run knows before any command starts, resolved once from the global flags and the
//! environment (as ripgrep's `HiArgs` and uv's `GlobalSettings`): the personality, the printer,
//! the configuration (host, key, project id, network settings), ONE API client and ONE tokio
//! runtime. Commands take `&Settings` instead of rebuilding their context.
//!
//! The configuration, the client and the runtime are made on first use and then kept: `inject`
//! works offline without credentials, `--dry-run` sends nothing, and `completions` starts no
//! runtime, yet a `sourcemap process` that resolves a release and then uploads reads its
//! configuration once, builds one client (one connection pool, one rate limiter) and runs every
//! request on one runtime.

use std::future::Future;
use std::io::IsTerminal as _;
use std::sync::OnceLock;

use anyhow::Context as _;
use symship_api::env::{Env, ProcessEnv};
use symship_api::{Client, Config, ConfigError, ConfigRequest};

use crate::cli::GlobalArgs;
use crate::exit::UsageError;
use crate::personality::Personality;
use crate::printer::{choose_style, Printer, NO_PROGRESS_ENV};
use crate::report::github::GitHub;

/// Worker threads of the runtime: the upload pipeline's network tasks (its CPU work has its own
/// pool), and the release and management calls.
const RUNTIME_WORKERS: usize = 2;

/// The resolved context of one invocation.
pub struct Settings {
    /// The global flags as given.
    pub global: GlobalArgs,
    /// Who the binary is (`symship`, or `posthog-cli` by `argv[0]`).
    pub personality: Personality,
    /// Every terminal write.
    pub printer: Printer,
    config: OnceLock<Result<Config, ConfigError>>,
    client: OnceLock<Client>,
    runtime: OnceLock<tokio::runtime::Runtime>,
    counts: Counts,
}

/// How often the expensive parts were made (read by the tests of this module; one each at most).
#[derive(Default)]
struct Counts {
    configs: std::sync::atomic::AtomicUsize,
    clients: std::sync::atomic::AtomicUsize,
    runtimes: std::sync::atomic::AtomicUsize,
}

impl Settings {
    /// The settings of this process: the printer is chosen from the flags, whether stderr is a
    /// terminal, `SYMSHIP_NO_PROGRESS` and GitHub Actions' variables.
    pub fn resolve(global: GlobalArgs, personality: Personality) -> Settings {
        let style = choose_style(
            std::io::stderr().is_terminal(),
            ProcessEnv.raw(NO_PROGRESS_ENV).as_deref(),
            global.quiet,
            global.verbose,
        );
        let printer = Printer::new(style, GitHub::from_env(&ProcessEnv));
        Settings::with_printer(global, personality, printer)
    }

    /// Settings with a given printer (tests).
    pub fn with_printer(global: GlobalArgs, personality: Personality, printer: Printer) -> Settings {
        Settings {
            global,
            personality,
            printer,
            config: OnceLock::new(),
            client: OnceLock::new(),
            runtime: OnceLock::new(),
            counts: Counts::default(),
        }
    }

    /// The command line's part of the configuration.
    pub fn config_request(&self) -> ConfigRequest {
        let g = &self.global;
        ConfigRequest {
            host: g.host.clone(),
            dotenv_file: g.dotenv_file.clone(),
            ca_cert: g.ca_cert.clone(),
            skip_ssl_verification: g.skip_ssl_verification,
            rate_limit_per_minute: Some(g.rate_limit),
        }
    }

    /// Host, key and project id (spec §1) from the flags and the process environment, resolved
    /// on first call and kept. Its warnings are logged once; where each setting came from is
    /// logged at debug level (never the key itself).
    pub fn config_result(&self) -> Result<&Config, &ConfigError> {
        self.config
            .get_or_init(|| {
                self.counts
                    .configs
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let resolved = Config::resolve(&self.config_request(), &ProcessEnv);
                if let Ok(config) = &resolved {
                    log_config(config);
                }
                resolved
            })
            .as_ref()
    }

    /// [`Settings::config_result`], with a configuration error as a [`UsageError`] (exit 2).
    pub fn config(&self) -> anyhow::Result<&Config> {
        self.config_result().map_err(|e| UsageError(e.to_string()).into())
    }

    /// Whether credentials are configured at all (anything else wrong with the configuration is
    /// reported when the client is asked for).
    pub fn has_credentials(&self) -> bool {
        !matches!(self.config_result(), Err(ConfigError::MissingCredentials { .. }))
    }

    /// The PostHog API client of this run (one connection pool and rate limiter for all calls).
    pub fn client(&self) -> anyhow::Result<&Client> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        let client = Client::new(self.config()?).map_err(|e| UsageError(e.to_string()))?;
        self.counts
            .clients
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(self.client.get_or_init(|| client))
    }

    /// The tokio runtime of this run, started on first use.
    pub fn runtime(&self) -> anyhow::Result<&tokio::runtime::Runtime> {
        if let Some(rt) = self.runtime.get() {
            return Ok(rt);
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_WORKERS)
            .enable_all()
            .build()
            .context("could not start the async runtime")?;
        self.counts
            .runtimes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(self.runtime.get_or_init(|| rt))
    }

    /// Runs a future to completion on the run's runtime (from synchronous command code; not
    /// from inside the runtime).
    pub fn block_on<F: Future>(&self, f: F) -> anyhow::Result<F::Output> {
        Ok(self.runtime()?.block_on(f))
    }

    /// `(configurations resolved, clients built, runtimes started)` so far.
    pub fn made(&self) -> (usize, usize, usize) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.counts.configs.load(Relaxed),
            self.counts.clients.load(Relaxed),
            self.counts.runtimes.load(Relaxed),
        )
    }
}

fn log_config(config: &Config) {
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    tracing::debug!("host {} (from {})", config.host.value, config.host.source);
    tracing::debug!(
        "project id {} (from {}); personal API key from {}",
        config.credentials.project_id.value,
        config.credentials.project_id.source,
        config.credentials.token.source
    );
    if config.network.skip_ssl_verification {
        tracing::warn!("--skip-ssl-verification: TLS certificates are not checked");
    }
}
