//! Exit codes (documented in the README).

/// What the process returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything asked for was done.
    Success = 0,
    /// Some chunks failed (or, with --strict, were skipped).
    Failed = 1,
    /// Usage or configuration error.
    Usage = 2,
    /// Nothing was found to process (and --allow-empty was not given).
    Empty = 3,
}

/// An error that should end the process with `Exit::Usage` rather than `Exit::Failed`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The exit of a run that found nothing to process (no chunk with a sourcemap; for upload, no
/// injected chunk) when `--allow-empty` was not given: `Exit::Empty` (3) under symship's name;
/// under the posthog-cli personality a warning and `Exit::Success`, as posthog-cli 0.19.0 does and
/// PostHog's Rollup/Vite plugin expects. The one place this rule is decided.
pub fn nothing_found() -> Exit {
    match crate::personality::Personality::current() {
        crate::personality::Personality::Symship => Exit::Empty,
        crate::personality::Personality::PosthogCli => {
            tracing::warn!(
                "nothing found to process: no JavaScript file with a sourcemap (and, for upload, a chunk id) \
                 under the given paths; nothing was uploaded"
            );
            Exit::Success
        }
    }
}
