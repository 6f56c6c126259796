//! Fault points for the crash-consistency tests.
//!
//! With `SYMSHIP_TEST_ABORT_AFTER_WRITE_STEPS=N` in the environment, the process aborts (as if
//! killed with `kill -9`: no destructor runs, nothing is cleaned up) right after the Nth write
//! step of this crate. The steps of one [`crate::write`] are: the temporary file is written and
//! closed; it takes the target's place; on Linux, the old content (swapped under the temporary
//! name) is removed (for a [`crate::Replaced`], in [`crate::Replaced::remove_all`], one step per
//! old content). A file removal by [`crate::remove`] is one step. Unset, each step costs one
//! relaxed atomic increment.
//!
//! With `SYMSHIP_TEST_PAUSE_AFTER_WRITE_STEP=N` and `SYMSHIP_TEST_RESUME_FILE=PATH`, the thread
//! that made the Nth write step waits there until PATH exists (other threads go on), so a test
//! can look at what the rest of the program did while a write is held back (`process`: uploads
//! already under way while inject has files left to write), without any timing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The environment variable that arms the fault point (tests only).
pub const ABORT_AFTER_WRITE_STEPS: &str = "SYMSHIP_TEST_ABORT_AFTER_WRITE_STEPS";

/// The environment variables of the pause (tests only).
pub const PAUSE_AFTER_WRITE_STEP: &str = "SYMSHIP_TEST_PAUSE_AFTER_WRITE_STEP";
pub const RESUME_FILE: &str = "SYMSHIP_TEST_RESUME_FILE";

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

#[allow(clippy::disallowed_methods)] // as above
fn pause() -> Option<&'static (u64, std::path::PathBuf)> {
    static PAUSE: OnceLock<Option<(u64, std::path::PathBuf)>> = OnceLock::new();
    PAUSE
        .get_or_init(|| {
            let n = std::env::var(PAUSE_AFTER_WRITE_STEP).ok()?.trim().parse().ok()?;
            Some((n, std::env::var_os(RESUME_FILE)?.into()))
        })
        .as_ref()
}

/// Counts one write step, and aborts the process if it is the armed one (or waits, if a pause
/// is armed there).
pub fn step() {
    let n = STEPS.fetch_add(1, Ordering::Relaxed) + 1;
    if limit() == Some(n) {
        std::process::abort();
    }
    if let Some((at, resume)) = pause() {
        if *at == n {
            while !resume.exists() {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}
