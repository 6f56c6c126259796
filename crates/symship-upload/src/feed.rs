//! Symbol sets handed to a running upload one at a time, and the memory budget it shares with
//! whoever hands them over.
//!
//! `sourcemap process` injects and uploads at once: each chunk goes to the pipeline as soon as
//! inject has written it ([`Feed::send`]), so a large build's first transfer does not wait for
//! its last inject. Inject and the pipeline's preparation take their memory from one
//! [`MemoryBudget`] (inject through [`symship_core::budget::MemoryGate`]), so the two stages
//! together hold no more than the budget (the containers waiting for their transfer have their
//! own budget, `UploadOptions::held_memory`, as before).

use std::sync::Arc;

use symship_core::budget::{Hold, MemoryGate};
use symship_core::set::SymbolSet;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// Bytes held at once by preparation (and by inject, when it shares the budget), counted in KiB.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    sem: Arc<Semaphore>,
    kib: u32,
}

impl MemoryBudget {
    /// A budget of `bytes` (at least 1 MiB).
    pub fn new(bytes: u64) -> MemoryBudget {
        let kib = (bytes / 1024).clamp(1024, u32::MAX as u64 / 2) as u32;
        MemoryBudget {
            sem: Arc::new(Semaphore::new(kib as usize)),
            kib,
        }
    }

    /// The whole budget, in KiB.
    pub(crate) fn kib(&self) -> u32 {
        self.kib
    }

    /// `bytes`, in KiB, as much as the budget can ever give.
    fn share(&self, bytes: u64) -> u32 {
        (bytes / 1024).clamp(1, self.kib as u64) as u32
    }

    /// Waits (async) until `bytes` fit, and holds them until the permit is dropped.
    pub(crate) async fn acquire(&self, bytes: u64) -> OwnedSemaphorePermit {
        self.sem
            .clone()
            .acquire_many_owned(self.share(bytes))
            .await
            .expect("the budget is never closed")
    }
}

impl MemoryGate for MemoryBudget {
    fn hold(&self, bytes: u64) -> Hold {
        // tokio's semaphore needs no runtime: a plain thread can wait on it.
        let permit = futures::executor::block_on(self.sem.clone().acquire_many_owned(self.share(bytes)))
            .expect("the budget is never closed");
        Box::new(permit)
    }
}

/// The sending end: hands symbol sets to a running [`crate::upload_fed`] / [`crate::plan_fed`].
/// Dropping it (every clone) tells the pipeline no more will come.
#[derive(Clone)]
pub struct Feed {
    tx: mpsc::UnboundedSender<(usize, Arc<dyn SymbolSet>)>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("closed", &self.tx.is_closed())
            .finish()
    }
}

impl std::fmt::Debug for Fed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fed")
            .field("expected", &self.expected)
            .finish_non_exhaustive()
    }
}

impl Feed {
    /// Hands over `set`; `position` is its place in the report's list of chunks (the order the
    /// caller found them in, whatever order they are sent in). Never blocks. Returns false if
    /// the upload has already ended.
    pub fn send(&self, position: usize, set: Arc<dyn SymbolSet>) -> bool {
        self.tx.send((position, set)).is_ok()
    }
}

/// The receiving end, for [`crate::upload_fed`] / [`crate::plan_fed`].
pub struct Fed {
    pub(crate) rx: mpsc::UnboundedReceiver<(usize, Arc<dyn SymbolSet>)>,
    /// How many sets the caller expects to send (for progress; fewer may come).
    pub(crate) expected: usize,
}

/// A feed for about `expected` symbol sets.
pub fn feed(expected: usize) -> (Feed, Fed) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Feed { tx }, Fed { rx, expected })
}

#[cfg(test)]
mod tests {
    use futures::FutureExt as _;

    use super::*;

    #[test]
    fn a_stage_on_threads_and_preparation_share_one_budget() {
        let budget = MemoryBudget::new(4 << 20);
        let gate: &dyn MemoryGate = &budget;
        let inject = gate.hold(3 << 20);
        // preparation's 2 MiB do not fit beside inject's 3 MiB ...
        assert!(budget.acquire(2 << 20).now_or_never().is_none());
        // ... 1 MiB does
        assert!(budget.acquire(1 << 20).now_or_never().is_some());
        drop(inject);
        assert!(budget.acquire(2 << 20).now_or_never().is_some());
        // more than the whole budget waits for all of it, and then goes through alone
        let all = gate.hold(64 << 20);
        assert!(budget.acquire(1024).now_or_never().is_none());
        drop(all);
        assert!(budget.acquire(1024).now_or_never().is_some());
    }
}
