//! Where the release id lives (`--release-mode`, env `POSTHOG_RELEASE_MODE`; spec §7).

/// Where the release id lives (`--release-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReleaseMode {
    /// Content-derived chunk ids; the release id is embedded in the chunk's snippet (web) or
    /// reported by the app (Hermes). Uploads send no release and always force (posthog-cli).
    #[default]
    Event,
    /// Random UUIDv7 chunk ids; the release id is stamped into the map and sent with the set.
    SymbolSet,
}
