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
