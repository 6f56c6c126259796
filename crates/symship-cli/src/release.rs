//! Which release a command injects or uploads with.

use crate::cli::{GlobalArgs, ReleaseArgs, ReleaseMode};

/// The release id to embed when injecting. Resolution talks to the server; until the API client
/// is wired in, only runs without release flags are supported.
pub fn for_inject(
    release: &ReleaseArgs,
    _mode: ReleaseMode,
    _global: &GlobalArgs,
) -> anyhow::Result<Option<String>> {
    if release.release_name.is_some() || release.release_version.is_some() || release.build.is_some() {
        anyhow::bail!("release resolution is not wired in yet");
    }
    Ok(None)
}
