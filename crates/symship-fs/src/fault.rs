//! Fault points for the crash-consistency tests.
//!
//! With `SYMSHIP_TEST_ABORT_AFTER_WRITE_STEPS=N` in the environment, the process aborts (as if
//! killed with `kill -9`: no destructor runs, nothing is cleaned up) right after the Nth write
//! step of this crate. The steps of one [`crate::write`] are: the temporary file is written and
//! closed; it takes the target's place; on Linux, the old content (swapped under the temporary
//! name) is removed (for a [`crate::Replaced`], in [`crate::Replaced::remove_all`], one step per
//! old content). A file removal by [`crate::remove`] is one step. Unset, each step costs one
//! relaxed atomic increment.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The environment variable that arms the fault point (tests only).
pub const ABORT_AFTER_WRITE_STEPS: &str = "SYMSHIP_TEST_ABORT_AFTER_WRITE_STEPS";

static STEPS: AtomicU64 = AtomicU64::new(0);

#[allow(clippy::disallowed_methods)] // symship-fs depends on no other symship crate; declared here
fn limit() -> Option<u64> {
    static LIMIT: OnceLock<Option<u64>> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::env::var(ABORT_AFTER_WRITE_STEPS)
            .ok()
            .and_then(|v| v.trim().parse().ok())
    })
}

/// Counts one write step, and aborts the process if it is the armed one.
pub fn step() {
    let n = STEPS.fetch_add(1, Ordering::Relaxed) + 1;
    if limit() == Some(n) {
        std::process::abort();
    }
}
