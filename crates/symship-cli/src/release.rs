//! Which release a command injects or uploads with.

use symship_api::{Config, ConfigError, ProcessEnv};

use crate::cli::{GlobalArgs, ReleaseArgs, ReleaseMode};

/// Whether any flag names a release (or where to read one).
pub fn has_release_flags(r: &ReleaseArgs) -> bool {
    let r = &r.identity;
    r.release_name.is_some() || r.release_version.is_some() || r.build.is_some() || r.info_plist.is_some()
}

/// The release id to embed (event mode) or stamp into the maps (symbol-set mode).
///
/// With release flags, the release is resolved on the server and credentials are required, as in
/// posthog-cli. Without flags, a release named by CI or git is resolved when credentials are
/// configured; without credentials, inject works offline and stamps chunk ids only (posthog-cli
/// refuses to inject at all without credentials).
pub fn for_inject(
    release: &ReleaseArgs,
    mode: ReleaseMode,
    global: &GlobalArgs,
) -> anyhow::Result<Option<String>> {
    if !has_release_flags(release) {
        // Anything else than missing credentials (a malformed key, a bad host) is reported by the
        // resolution below.
        if let Err(ConfigError::MissingCredentials { .. }) =
            Config::resolve(&crate::api::config_request(global), &ProcessEnv)
        {
            tracing::info!("no PostHog credentials configured: injecting chunk ids without a release");
            return Ok(None);
        }
    }
    let resolved = crate::api::resolve_release(release, global)?;
    match &resolved {
        Some(r) => tracing::info!("release {}@{} ({})", r.project, r.version, r.id),
        None if mode == ReleaseMode::Event && !global.dry_run => {
            tracing::warn!(
                "no release could be resolved: injecting chunk ids only, events will carry no release"
            )
        }
        None => {}
    }
    Ok(resolved.map(|r| r.id.to_string()))
}
