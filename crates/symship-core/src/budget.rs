//! One memory budget shared by the stages of a run that overlap (in `sourcemap process`, inject
//! writing chunks while the upload reads, hashes and compresses the chunks already written), so
//! that together they hold no more than either would alone.
//!
//! The upload pipeline owns the budget (`symship_upload::MemoryBudget`); a stage running on
//! plain threads (inject) takes its share through [`MemoryGate`], which knows nothing of the
//! async runtime the pipeline runs on.

use std::any::Any;
use std::fmt;

/// Memory a stage holds while it works on one input, returned when the guard is dropped.
pub type Hold = Box<dyn Any + Send>;

/// A budget of bytes held at once, shared between stages.
pub trait MemoryGate: Send + Sync + fmt::Debug {
    /// Blocks the calling thread (never an async task) until `bytes` fit, then holds them until
    /// the returned guard is dropped. A request larger than the whole budget waits for, and
    /// holds, the whole budget: one input too large for the budget still goes through, alone.
    fn hold(&self, bytes: u64) -> Hold;
}
