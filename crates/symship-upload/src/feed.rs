//! Symbol sets handed to a running upload one at a time, and the memory budget it shares with
//! whoever hands them over.
//!
//! `sourcemap process` injects and uploads at once: each chunk goes to the pipeline as soon as
//! inject has written it ([`Feed::send`]), so a large build's first transfer does not wait for
//! its last inject. Inject and the pipeline's preparation take their memory from one
//! [`MemoryBudget`] (inject through [`symship_core::budget::MemoryGate`]), so the two stages
//! together hold no more than the budget (the containers waiting for their transfer have their
//! own budget, `UploadOptions::held_memory`, as before).

use std::sync::atomic::{AtomicUsize, Ordering};
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

/// Room in a bounded feed ([`feed_bounded`]): permits for sets not yet sent or taken.
#[derive(Debug)]
struct Room {
    sem: Semaphore,
    size: usize,
    /// Room reserved ([`Feed::reserve`]) and not yet used by a send or given back.
    reserved: AtomicUsize,
}

impl Room {
    /// Uses one reserved place, if any is left.
    fn use_one(&self) -> bool {
        self.reserved
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| r.checked_sub(1))
            .is_ok()
    }
}

/// The sending end: hands symbol sets to a running [`crate::upload_fed`] / [`crate::plan_fed`].
/// Dropping it (every clone) tells the pipeline no more will come.
#[derive(Clone)]
pub struct Feed {
    /// Each set with whether it used reserved room (returned when the pipeline takes it).
    tx: mpsc::UnboundedSender<(usize, Arc<dyn SymbolSet>, bool)>,
    room: Option<Arc<Room>>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("closed", &self.tx.is_closed())
            .field("room", &self.room.as_ref().map(|r| r.size))
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
    /// caller found them in, whatever order they are sent in). Never blocks (a bounded feed's
    /// sender waits for room beforehand, [`Feed::reserve`]). Returns false if the upload has
    /// already ended.
    pub fn send(&self, position: usize, set: Arc<dyn SymbolSet>) -> bool {
        let reserved = self.room.as_ref().is_some_and(|r| r.use_one());
        self.tx.send((position, set, reserved)).is_ok()
    }

    /// Gives back the room reserved for one set that will not be sent (its inject failed).
    pub fn give_back(&self) {
        if let Some(r) = &self.room {
            if r.use_one() {
                r.sem.add_permits(1);
            }
        }
    }

    /// Blocks the calling thread (never an async task) until `n` more sets fit in a bounded
    /// feed, and keeps room for them (the next `n` sends use it). A request larger than the
    /// whole room waits for all of it. Returns at once for an unbounded feed, or when the
    /// pipeline has ended.
    pub fn reserve(&self, n: usize) {
        let Some(room) = &self.room else { return };
        let n = n.clamp(1, room.size);
        // tokio's semaphore needs no runtime: a plain thread can wait on it. Closed when the
        // pipeline has ended: then nothing is taken any more, and nothing waits.
        if let Ok(permit) = futures::executor::block_on(room.sem.acquire_many(n as u32)) {
            permit.forget();
            room.reserved.fetch_add(n, Ordering::AcqRel);
        }
    }
}

/// The receiving end, for [`crate::upload_fed`] / [`crate::plan_fed`].
pub struct Fed {
    rx: mpsc::UnboundedReceiver<(usize, Arc<dyn SymbolSet>, bool)>,
    room: Option<Arc<Room>>,
    /// How many sets the caller expects to send (for progress; fewer may come).
    pub(crate) expected: usize,
}

impl Fed {
    /// The next set handed over, with its position; frees its room in a bounded feed. None once
    /// every [`Feed`] is dropped and everything sent was taken.
    pub(crate) async fn recv(&mut self) -> Option<(usize, Arc<dyn SymbolSet>)> {
        let (position, set, reserved) = self.rx.recv().await?;
        if let (true, Some(room)) = (reserved, &self.room) {
            room.sem.add_permits(1);
        }
        Some((position, set))
    }
}

impl Drop for Fed {
    fn drop(&mut self) {
        // a sender waiting for room would wait for ever
        if let Some(room) = &self.room {
            room.sem.close();
        }
    }
}

/// A feed for about `expected` symbol sets, of any number at once (the caller has them all).
pub fn feed(expected: usize) -> (Feed, Fed) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        Feed { tx, room: None },
        Fed {
            rx,
            room: None,
            expected,
        },
    )
}

/// A feed for about `expected` symbol sets produced while the upload runs, of which at most
/// `room` (at least 1) wait between the sender and the pipeline: a sender that reserves room
/// first ([`Feed::reserve`]) waits while the pipeline is behind, instead of running ahead of
/// it with everything it produced waiting (`process` on a build of 50,000 chunks injected 95 %
/// of them when 7 % were uploaded).
pub fn feed_bounded(expected: usize, room: usize) -> (Feed, Fed) {
    let (tx, rx) = mpsc::unbounded_channel();
    let size = room.clamp(1, Semaphore::MAX_PERMITS);
    let room = Arc::new(Room {
        sem: Semaphore::new(size),
        size,
        reserved: AtomicUsize::new(0),
    });
    (
        Feed {
            tx,
            room: Some(room.clone()),
        },
        Fed {
            rx,
            room: Some(room),
            expected,
        },
    )
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

    fn set(name: &str) -> Arc<dyn SymbolSet> {
        Arc::new(Named(std::path::PathBuf::from(name)))
    }

    /// A set that is only a path (the feed never reads it).
    #[derive(Debug)]
    struct Named(std::path::PathBuf);

    impl SymbolSet for Named {
        fn kind(&self) -> symship_core::kind::Kind {
            symship_core::kind::Kind::SourceAndMap
        }
        fn path(&self) -> &std::path::Path {
            &self.0
        }
        fn input_len(&self) -> u64 {
            0
        }
        fn prepare(
            &self,
            _: &symship_core::set::Context<'_>,
        ) -> Result<symship_core::set::Prepared, symship_core::set::SetError> {
            unreachable!("the feed never prepares a set")
        }
        fn write_container(
            &self,
            _: &symship_core::set::Prepared,
        ) -> Result<Vec<u8>, symship_core::set::SetError> {
            unreachable!("the feed never builds a container")
        }
    }

    fn room(feed: &Feed) -> usize {
        feed.room.as_ref().expect("bounded").sem.available_permits()
    }

    #[test]
    fn a_bounded_feed_has_room_for_what_the_pipeline_has_not_taken_yet() {
        let (feed, mut fed) = feed_bounded(10, 3);
        feed.reserve(2);
        assert!(feed.send(0, set("a")));
        assert!(feed.send(1, set("b")));
        assert_eq!(room(&feed), 1, "two sent and not taken");
        // a group larger than the whole room waits for all of it
        let waiting = std::thread::scope(|s| {
            let t = s.spawn(|| feed.reserve(5));
            for expect in [0, 1] {
                let (position, _) = fed.recv().now_or_never().flatten().expect("sent");
                assert_eq!(position, expect);
            }
            t.join().expect("reserve returns once the pipeline took the two");
            room(&feed)
        });
        assert_eq!(waiting, 0, "the whole room is reserved");
        for p in 2..5 {
            assert!(feed.send(p, set("c")));
        }
        // a set reserved for and not sent gives its room back; beyond what was reserved, nothing
        feed.give_back();
        assert_eq!(room(&feed), 0);
        for _ in 2..5 {
            fed.recv().now_or_never().flatten().expect("sent");
        }
        assert_eq!(room(&feed), 3, "all taken: the room is whole again");
        // sends beyond the reserved room (a group larger than the room) return nothing they
        // did not take
        assert!(feed.send(5, set("d")));
        fed.recv().now_or_never().flatten().expect("sent");
        assert_eq!(room(&feed), 3);
    }

    #[test]
    fn a_sender_waiting_for_room_goes_on_once_the_pipeline_has_ended() {
        let (feed, fed) = feed_bounded(10, 1);
        feed.reserve(1);
        assert!(feed.send(0, set("a")));
        std::thread::scope(|s| {
            let t = s.spawn(|| feed.reserve(1));
            drop(fed);
            t.join().expect("reserve returns");
        });
        assert!(!feed.send(1, set("b")), "the pipeline has ended");
    }

    #[test]
    fn an_unbounded_feed_never_waits() {
        let (feed, mut fed) = feed(3);
        feed.reserve(1000);
        for p in 0..3 {
            assert!(feed.send(p, set("a")));
        }
        feed.give_back();
        for p in 0..3 {
            assert_eq!(fed.recv().now_or_never().flatten().expect("sent").0, p);
        }
    }
}
