//! Building the API client and release inputs from the command line, shared by every command
//! that talks to PostHog (`release resolve`, `sourcemap inject/upload/process`).

use std::future::Future;
use std::path::Path;

use symship_api::{Client, Config, ConfigRequest, ProcessEnv};
use symship_release::ReleaseInputs;

use crate::cli::{GlobalArgs, ReleaseArgs, ReleaseIdentityArgs};
use crate::exit::UsageError;

/// The command line's part of the configuration.
pub fn config_request(global: &GlobalArgs) -> ConfigRequest {
    ConfigRequest {
        host: global.host.clone(),
        dotenv_file: global.dotenv_file.clone(),
        ca_cert: global.ca_cert.clone(),
        skip_ssl_verification: global.skip_ssl_verification,
        rate_limit_per_minute: Some(global.rate_limit),
    }
}

/// Resolve host, key and project id (spec §1) from the flags and the process environment.
/// Configuration errors are [`UsageError`]s (exit 2). Warnings are logged; where each
/// setting came from is logged at debug level (never the key itself).
pub fn config_from_globals(global: &GlobalArgs) -> anyhow::Result<Config> {
    let config =
        Config::resolve(&config_request(global), &ProcessEnv).map_err(|e| UsageError(e.to_string()))?;
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
    Ok(config)
}

/// The PostHog API client for this invocation.
pub fn client_from_globals(global: &GlobalArgs) -> anyhow::Result<Client> {
    let config = config_from_globals(global)?;
    Client::new(&config).map_err(|e| UsageError(e.to_string()).into())
}

/// Release inputs from the release flags, with the current directory as the git start.
pub fn release_inputs(
    name: Option<&str>,
    version: Option<&str>,
    build: Option<&str>,
    info_plist: Option<&Path>,
) -> anyhow::Result<ReleaseInputs> {
    let cwd =
        std::env::current_dir().map_err(|e| anyhow::anyhow!("cannot read the current directory: {e}"))?;
    Ok(ReleaseInputs {
        name: name.map(str::to_owned),
        version: version.map(str::to_owned),
        build: build.map(str::to_owned),
        info_plist: info_plist.map(Path::to_owned),
        cwd,
    })
}

/// [`release_inputs`] from the release flags (`--release-name`, `--release-version`, `--build`,
/// `--info-plist`).
pub fn release_inputs_from_args(args: &ReleaseIdentityArgs) -> anyhow::Result<ReleaseInputs> {
    release_inputs(
        args.release_name.as_deref(),
        args.release_version.as_deref(),
        args.build.as_deref(),
        args.info_plist.as_deref(),
    )
}

/// Map a release error to the exit code it deserves: a bad Info.plist is a usage error (2),
/// a server failure is a failure (1).
pub fn release_error(e: symship_release::ReleaseError) -> anyhow::Error {
    match e {
        symship_release::ReleaseError::InfoPlist { .. } => UsageError(e.to_string()).into(),
        other => anyhow::Error::new(other),
    }
}

/// Run a future on a fresh current-thread runtime (for the synchronous command functions;
/// do not call from inside a runtime).
pub fn block_on<F: Future>(f: F) -> anyhow::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("could not start the async runtime: {e}"))?;
    Ok(rt.block_on(f))
}

/// Resolve the release for inject/upload: `Ok(None)` when no flags, no Info.plist and no git
/// name one (the reason is logged at info). In `--dry-run`, no request is made and `Ok(None)`
/// is returned after logging what would be resolved.
pub fn resolve_release(
    args: &ReleaseArgs,
    global: &GlobalArgs,
) -> anyhow::Result<Option<symship_api::Release>> {
    resolve_release_from(args, global, None)
}

/// [`resolve_release`] with git discovery starting at `git_start` instead of the current
/// directory (posthog-cli starts at the mapping's directory for `proguard upload`, at the
/// packager map for `hermes clone` and at `--directory` for `hermes upload`).
pub fn resolve_release_from(
    args: &ReleaseArgs,
    global: &GlobalArgs,
    git_start: Option<&Path>,
) -> anyhow::Result<Option<symship_api::Release>> {
    let mut inputs = release_inputs_from_args(&args.identity)?;
    if let Some(start) = git_start {
        inputs.cwd = start.to_path_buf();
    }
    let plan = match symship_release::plan(&inputs, &ProcessEnv).map_err(release_error)? {
        symship_release::Planned::Ready(p) => p,
        symship_release::Planned::Unavailable { reason } => {
            tracing::info!("{reason}");
            return Ok(None);
        }
    };
    if global.dry_run {
        tracing::info!(
            "--dry-run: would resolve release {} of {} (hash_id {})",
            plan.version,
            plan.name,
            plan.hash_id
        );
        return Ok(None);
    }
    let client = client_from_globals(global)?;
    let (release, _) = block_on(symship_release::fetch_or_create(&client, &plan))?.map_err(release_error)?;
    Ok(Some(release))
}
