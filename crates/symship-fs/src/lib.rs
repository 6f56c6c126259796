//! Reading and writing a user's build safely. Every write symship makes into a build directory (inject's
//! chunks and maps, `--delete-after`'s stripped chunks), into its cache and into a download
//! directory goes through this crate.
//!
//! # The write protocol
//!
//! - **One writer per build directory** ([`DirLock`]): `inject`, `process` and `upload
//!   --delete-after` hold an advisory lock (`flock`) on each directory they write into (the
//!   scanned ones, and the folder of a named file's map elsewhere, added with
//!   [`DirLock::extend`]), exclusive, and a shared one on each of its ancestors, taken outermost
//!   first. So two runs on one directory, or on a directory and one inside it, never interleave
//!   their writes: the second waits (or fails at once with `--no-wait`). Runs on unrelated
//!   directories do not wait for each other.
//! - **Atomic replacement with fresh files** ([`write`]): the new content goes to a new temporary
//!   file in the target's directory, named `.symship-<random>.tmp` ([`is_temp_name`]), created
//!   for this write alone (never an inode that held another file), and then takes the target's
//!   name in one rename. A kill at any point leaves the target either old or new, never partial.
//!   Inject hands the replaced contents to a [`Replaced`], which removes them together at the end
//!   of the run rather than one by one after each exchange (faster on ext4).
//! - **Leftovers are swept** ([`sweep`]): a run killed between creating a temporary file and
//!   renaming it (or, on Linux, between exchanging it with the target and unlinking the old
//!   content, at once or at the end of the run) leaves a `.symship-*.tmp` file, which may hold a whole sourcemap. Every writing run
//!   removes such files from its directories under the lock, before it reads anything, so after
//!   any run that finished, none is left to be deployed.
//! - **Writes stay inside the roots** ([`write_within`]): the path written must resolve (through
//!   any symbolic link) to a place inside the scanned directory it was found under.
//! - **Fault points for tests** ([`fault`]): `SYMSHIP_TEST_ABORT_AFTER_WRITE_STEPS=N` aborts the
//!   process after the Nth write step (temporary file written, renamed, old content removed), as
//!   a `kill -9` would at that moment. The crash-consistency tests use it; `process`'s overlap test
//!   holds one write step back instead (`SYMSHIP_TEST_PAUSE_AFTER_WRITE_STEP`).
//!
//! What a killed inject leaves, and how the next run recognises it, is stated in
//! `symship_scan::inject`'s module documentation.
#![allow(
    clippy::disallowed_methods,
    reason = "symship-fs is the owner of file writes the workspace lint routes here"
)]

mod atomic;
pub mod fault;
mod lock;
mod read;
mod roots;

pub use atomic::{
    is_temp_name, remove, replace_if_changed, sweep, sweep_dir, sweep_stale, write, write_within,
    write_within_deferred, Replaced, WriteError,
};
pub use lock::{DirLock, LockError, Wait};
pub use read::{open_regular, read_regular, read_sized, readable};
pub use roots::{canonical_dir, canonicalize, canonicalize_listed, resolve_inside, OutsideRoot};
