//! How many transfers to object storage run at once: fixed (`--concurrency N`), or found by the
//! run itself (the default), the way TCP finds its window: additive increase, multiplicative
//! decrease (AIMD).
//!
//! - **Start**: 10 at once (posthog-cli's fixed default, so a run is never slower at first).
//! - **Slow start**: each transfer that succeeds while the limit was in use (at least half of the
//!   slots taken) adds one, so the limit doubles per round trip, until the first back-off.
//! - **Congestion avoidance**: after that, one more per `limit` successes (one per round trip).
//! - **Back-off**: a 429, 503 (S3's `SlowDown`), reset or timeout multiplies the limit by 0.7; a
//!   latency rise does too, by 0.9: when the recent mean latency per transfer (per 256 KiB for
//!   large ones) is more than twice the best mean seen since the last back-off and at least
//!   20 ms above it, more transfers no longer add throughput (throughput = in flight /
//!   latency), they only queue. After a back-off the baseline is learned again, so a path that
//!   is simply slower is not cut down step by step.
//!   One back-off per round trip: failures of attempts sent before the last back-off do not
//!   cut again, nor does any failure within one mean latency (at least 50 ms) of it.
//! - **Bounds**: at least 2, at most the ceiling (`Auto { ceiling }`); the memory budget of the
//!   pipeline bounds the bytes held independently of this count.
//!
//! No crate was used: `congestion-limiter` 0.1.0 and `rate_limiter_aimd` 0.1.1 (a
//! reqwest-middleware layer) are young and built around their own service stacks, and neither
//! takes a signal per attempt of a transfer that keeps its slot; this is the policy alone.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// The default ceiling of [`Concurrency::Auto`]: far above what one CI runner's uplink needs for
/// small chunks (64 transfers at once hid 20 ms of latency per request in the issue's
/// measurement), and low enough that presigned URLs issued ahead stay well within their 300 s.
pub const DEFAULT_CEILING: usize = 128;

/// Where [`Concurrency::Auto`] starts: posthog-cli's fixed default.
pub const INITIAL: usize = 10;

/// The least an automatic limit backs off to.
pub const MIN_LIMIT: usize = 2;

const OVERLOAD_FACTOR: f64 = 0.7;
const LATENCY_FACTOR: f64 = 0.9;
/// Latency counts as risen beyond this multiple of the best mean seen ...
const LATENCY_TOLERANCE: f64 = 2.0;
/// ... and by at least this much (loopback latencies of a millisecond or two double on noise).
const LATENCY_FLOOR: Duration = Duration::from_millis(20);
/// Samples before latency is judged at all.
const LATENCY_WARMUP: u64 = 8;
/// The weight of a new latency sample in the recent mean.
const EWMA_ALPHA: f64 = 0.2;
/// The least time between two back-offs, in seconds (a round trip on loopback is far shorter).
const MIN_ROUND_TRIP: f64 = 0.05;
/// A transfer's latency is judged per this many bytes (small chunks: per transfer).
const LATENCY_UNIT: u64 = 256 * 1024;

/// How many transfers run at once (`--concurrency`, `POSTHOG_CLI_SOURCEMAP_UPLOAD_CONCURRENCY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    /// Found by the run (see the module docs), never above `ceiling`.
    Auto { ceiling: usize },
    /// Exactly this many at most (at least 1).
    Fixed(usize),
}

impl Default for Concurrency {
    fn default() -> Self {
        Concurrency::Auto {
            ceiling: DEFAULT_CEILING,
        }
    }
}

impl Concurrency {
    /// The most transfers this setting can ever allow at once.
    pub fn ceiling(&self) -> usize {
        match *self {
            Concurrency::Auto { ceiling } => ceiling.max(MIN_LIMIT),
            Concurrency::Fixed(n) => n.max(1),
        }
    }
}

/// How a transfer (or one attempt of it) ended, for the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Sent, this many bytes.
    Sent { bytes: u64 },
    /// The store or the path is overloaded: 429, 503, a reset, a timeout.
    Overload,
    /// Failed for a reason the load does not explain (403, 400, a bad URL): no signal.
    Other,
}

impl Outcome {
    /// How a failed request to object storage reads: 429, 502, 503 (S3's `SlowDown`), 504, a
    /// timeout or a broken connection are load; anything else is not.
    pub fn of_error(e: &symship_api::ApiError) -> Outcome {
        use symship_api::{ApiError, TransportKind};
        match e {
            ApiError::Http(h) if matches!(h.status, 429 | 502 | 503 | 504) => Outcome::Overload,
            ApiError::Transport {
                kind: TransportKind::Timeout | TransportKind::Interrupted,
                ..
            } => Outcome::Overload,
            _ => Outcome::Other,
        }
    }
}

/// What the limiter did over a run (for the summary and the JSON report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LimitStats {
    /// `true` for [`Concurrency::Auto`].
    pub auto: bool,
    /// The ceiling (the fixed count for [`Concurrency::Fixed`]).
    pub ceiling: usize,
    /// The most transfers that ran at once.
    pub peak_in_flight: usize,
    /// The highest limit reached.
    pub peak_limit: usize,
    /// The limit at the end.
    pub final_limit: usize,
    /// Back-offs for overload (429, 503, resets, timeouts).
    pub overload_backoffs: u64,
    /// Back-offs for risen latency.
    pub latency_backoffs: u64,
}

#[derive(Debug, Clone)]
struct State {
    auto: bool,
    ceiling: usize,
    limit: f64,
    in_flight: usize,
    slow_start: bool,
    /// Failures of attempts sent before this do not back off again.
    last_backoff: Option<Instant>,
    /// The mean latency when the last back-off came (seconds): no other back-off within it.
    round_trip: f64,
    recent: Option<f64>,
    best: Option<f64>,
    samples: u64,
    stats: LimitStats,
}

impl State {
    fn new(concurrency: Concurrency) -> State {
        let ceiling = concurrency.ceiling();
        let (auto, start) = match concurrency {
            Concurrency::Auto { .. } => (true, INITIAL.min(ceiling)),
            Concurrency::Fixed(_) => (false, ceiling),
        };
        State {
            auto,
            ceiling,
            limit: start as f64,
            in_flight: 0,
            slow_start: true,
            last_backoff: None,
            round_trip: MIN_ROUND_TRIP,
            recent: None,
            best: None,
            samples: 0,
            stats: LimitStats {
                auto,
                ceiling,
                peak_limit: start,
                final_limit: start,
                ..LimitStats::default()
            },
        }
    }

    fn whole(&self) -> usize {
        (self.limit.floor() as usize).clamp(1, self.ceiling)
    }

    fn backoff(&mut self, factor: f64, began: Instant) -> bool {
        if self
            .last_backoff
            .is_some_and(|t| began < t || t.elapsed().as_secs_f64() < self.round_trip)
        {
            return false;
        }
        self.round_trip = self.recent.unwrap_or(self.round_trip).max(MIN_ROUND_TRIP);
        self.limit = (self.limit * factor).max(MIN_LIMIT as f64);
        self.slow_start = false;
        self.last_backoff = Some(Instant::now());
        // the latency baseline is learned again at the new level: latency that stays high with
        // fewer transfers is the path's, not queueing this run caused
        self.recent = None;
        self.best = None;
        self.samples = 0;
        true
    }

    fn grow(&mut self) {
        // only when the limit is what holds transfers back
        if self.in_flight * 2 < self.whole() {
            return;
        }
        let step = if self.slow_start { 1.0 } else { 1.0 / self.limit };
        self.limit = (self.limit + step).min(self.ceiling as f64);
        self.stats.peak_limit = self.stats.peak_limit.max(self.whole());
    }

    /// Records a latency sample; `true` when latency has risen beyond tolerance.
    fn latency_risen(&mut self, per_unit: f64) -> bool {
        let recent = match self.recent {
            Some(r) => r + EWMA_ALPHA * (per_unit - r),
            None => per_unit,
        };
        self.recent = Some(recent);
        self.samples += 1;
        if self.samples < LATENCY_WARMUP {
            return false;
        }
        let best = self.best.map_or(recent, |b| b.min(recent));
        self.best = Some(best);
        recent > best * LATENCY_TOLERANCE && recent - best > LATENCY_FLOOR.as_secs_f64()
    }
}

/// The transfer limit of one run. Shared (`Arc`); [`Limiter::acquire`] waits for a slot.
#[derive(Debug)]
pub struct Limiter {
    state: Mutex<State>,
    freed: Notify,
}

impl Limiter {
    pub fn new(concurrency: Concurrency) -> Arc<Limiter> {
        Arc::new(Limiter {
            state: Mutex::new(State::new(concurrency)),
            freed: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("limiter lock")
    }

    /// Waits until fewer transfers than the limit run, and takes a slot.
    pub async fn acquire(self: &Arc<Self>) -> Permit {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(p) = self.try_acquire() {
                return p;
            }
            freed.await;
        }
    }

    /// A slot, if one is free now.
    pub fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
        let mut s = self.lock();
        if s.in_flight >= s.whole() {
            return None;
        }
        s.in_flight += 1;
        s.stats.peak_in_flight = s.stats.peak_in_flight.max(s.in_flight);
        Some(Permit {
            limiter: self.clone(),
            began: Mutex::new(Instant::now()),
            done: false,
        })
    }

    /// The current limit.
    pub fn limit(&self) -> usize {
        self.lock().whole()
    }

    pub fn stats(&self) -> LimitStats {
        let s = self.lock();
        LimitStats {
            final_limit: s.whole(),
            ..s.stats
        }
    }

    fn signal(&self, began: Instant, outcome: Outcome) {
        let mut s = self.lock();
        if !s.auto {
            return;
        }
        match outcome {
            Outcome::Sent { bytes } => {
                let units = bytes.div_ceil(LATENCY_UNIT).max(1) as f64;
                let per_unit = began.elapsed().as_secs_f64() / units;
                if s.latency_risen(per_unit) {
                    if s.backoff(LATENCY_FACTOR, began) {
                        s.stats.latency_backoffs += 1;
                    }
                } else {
                    s.grow();
                }
            }
            Outcome::Overload => {
                if s.backoff(OVERLOAD_FACTOR, began) {
                    s.stats.overload_backoffs += 1;
                }
            }
            Outcome::Other => {}
        }
    }

    fn release(&self) {
        self.lock().in_flight -= 1;
    }

    /// Wakes one waiter per free slot, first come first served (a grown limit can free more than
    /// the one slot a finished transfer gives back). Waking every waiter instead made each
    /// finished transfer poll every transfer still waiting for a slot: with batches of 1,000
    /// that was a million wake-ups per 2,000 chunks. A waiter woken whose slot was taken first
    /// waits again; a wake-up that finds no waiter is kept for the next one (`Notify`).
    fn wake(&self) {
        let free = {
            let s = self.lock();
            s.whole().saturating_sub(s.in_flight)
        };
        for _ in 0..free {
            self.freed.notify_one();
        }
    }
}

/// One transfer's slot. Report each failed attempt with [`Permit::attempt_failed`] and the end
/// with [`Permit::finish`]; dropped without `finish`, the slot is freed with no signal.
#[derive(Debug)]
pub struct Permit {
    limiter: Arc<Limiter>,
    /// When the current attempt was sent.
    began: Mutex<Instant>,
    done: bool,
}

impl Permit {
    /// An attempt is being sent now: its latency counts from here (building a large container
    /// after taking the slot, or a retry's wait, is not the network's time), and its failure
    /// may back off again even when an earlier attempt's did.
    pub fn sending(&self) {
        *self.began.lock().expect("permit lock") = Instant::now();
    }

    fn began(&self) -> Instant {
        *self.began.lock().expect("permit lock")
    }

    /// An attempt failed and will be tried again (the slot is kept).
    pub fn attempt_failed(&self, outcome: Outcome) {
        self.limiter.signal(self.began(), outcome);
        self.limiter.wake();
    }

    /// The transfer ended.
    pub fn finish(mut self, outcome: Outcome) {
        self.done = true;
        self.limiter.signal(self.began(), outcome);
        self.limiter.release();
        self.limiter.wake();
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.done {
            self.limiter.release();
            self.limiter.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    fn auto(ceiling: usize) -> Arc<Limiter> {
        Limiter::new(Concurrency::Auto { ceiling })
    }

    /// Keeps every slot busy, as a run with many chunks does: `n` times, the oldest transfer
    /// ends with `outcome` and the freed slots are taken again.
    fn steady(l: &Arc<Limiter>, held: &mut VecDeque<Permit>, n: usize, outcome: Outcome) {
        let top_up = |held: &mut VecDeque<Permit>| {
            while let Some(p) = l.try_acquire() {
                held.push_back(p);
            }
        };
        top_up(held);
        for _ in 0..n {
            held.pop_front().expect("a transfer in flight").finish(outcome);
            top_up(held);
        }
    }

    const SENT: Outcome = Outcome::Sent { bytes: 1000 };
    /// Longer than the least time between two back-offs.
    const ROUND_TRIP: Duration = Duration::from_millis(60);

    #[tokio::test]
    async fn fixed_never_moves_and_caps_in_flight() {
        let l = Limiter::new(Concurrency::Fixed(3));
        let a = l.acquire().await;
        let _b = l.acquire().await;
        let _c = l.acquire().await;
        assert!(
            tokio::time::timeout(Duration::from_millis(50), l.acquire())
                .await
                .is_err(),
            "a fourth waits"
        );
        a.finish(Outcome::Overload);
        let _d = l.acquire().await;
        assert_eq!(l.limit(), 3);
        let s = l.stats();
        assert_eq!(
            (s.auto, s.ceiling, s.peak_in_flight, s.overload_backoffs),
            (false, 3, 3, 0)
        );
    }

    #[tokio::test]
    async fn a_waiter_gets_the_slot_freed() {
        let l = Limiter::new(Concurrency::Fixed(1));
        let a = l.acquire().await;
        let l2 = l.clone();
        let waiter = tokio::spawn(async move { l2.acquire().await.finish(SENT) });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(a);
        waiter.await.unwrap();
    }

    /// 2,000 transfers wait for slots at once (a batch); each holds its slot for a moment. Every
    /// one gets a slot (a slot freed, or grown, always wakes a waiter), the limit is never
    /// exceeded, and the waiters are woken about once each, not once per freed slot.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_waiters_each_get_a_slot_and_are_woken_about_once() {
        use std::future::Future;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let l = auto(64);
        let polls = Arc::new(AtomicUsize::new(0));
        let now = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..2000)
            .map(|_| {
                let (l, polls, now, most) = (l.clone(), polls.clone(), now.clone(), most.clone());
                tokio::spawn(async move {
                    // counts the times this waiter is polled while it waits
                    let acquire = l.acquire();
                    tokio::pin!(acquire);
                    let p = std::future::poll_fn(|cx| {
                        polls.fetch_add(1, Ordering::Relaxed);
                        acquire.as_mut().poll(cx)
                    })
                    .await;
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(n, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_micros(200)).await;
                    now.fetch_sub(1, Ordering::SeqCst);
                    p.finish(SENT);
                })
            })
            .collect();
        tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(tasks))
            .await
            .expect("every waiter got a slot");
        assert!(most.load(Ordering::SeqCst) <= 64);
        let polls = polls.load(Ordering::Relaxed);
        assert!(polls < 2000 * 4, "{polls} polls of 2,000 waiters");
    }

    #[test]
    fn slow_start_grows_by_one_per_success_up_to_the_ceiling() {
        let l = auto(64);
        let mut held = VecDeque::new();
        assert_eq!(l.limit(), INITIAL);
        steady(&l, &mut held, 10, SENT);
        assert_eq!(l.limit(), 20);
        steady(&l, &mut held, 20, SENT);
        assert_eq!(l.limit(), 40);
        steady(&l, &mut held, 40, SENT);
        assert_eq!(l.limit(), 64);
        assert_eq!(held.len(), 64);
        let s = l.stats();
        assert_eq!((s.peak_in_flight, s.peak_limit, s.final_limit), (64, 64, 64));
    }

    #[test]
    fn an_idle_limit_does_not_grow() {
        let l = auto(64);
        for _ in 0..50 {
            l.try_acquire().unwrap().finish(SENT);
        }
        assert_eq!(l.limit(), INITIAL, "one at a time never used the limit");
    }

    #[test]
    fn overload_cuts_once_per_round_then_growth_is_additive() {
        let l = auto(128);
        let mut held = VecDeque::new();
        steady(&l, &mut held, 30, SENT);
        assert_eq!(l.limit(), 40);
        // the whole round in flight fails: one cut, not forty
        steady(&l, &mut held, 40, Outcome::Overload);
        assert_eq!(l.limit(), 28);
        assert_eq!(l.stats().overload_backoffs, 1);
        // congestion avoidance: about one more per round of successes
        steady(&l, &mut held, 28, SENT);
        assert_eq!(l.limit(), 28, "28 + 28/28.x rounds down");
        steady(&l, &mut held, 28, SENT);
        assert_eq!(l.limit(), 29);
        // a failure of a transfer begun after the cut, a round trip later, cuts again
        std::thread::sleep(ROUND_TRIP);
        steady(&l, &mut held, 1, Outcome::Overload);
        assert_eq!(l.limit(), 20);
        // other failures are not load
        held.clear();
        steady(&l, &mut held, 20, Outcome::Other);
        assert_eq!(l.limit(), 20);
        held.clear();
        for _ in 0..20 {
            std::thread::sleep(ROUND_TRIP);
            l.try_acquire().unwrap().finish(Outcome::Overload);
        }
        // within a round trip of the last cut, nothing cuts
        l.try_acquire().unwrap().finish(Outcome::Overload);
        assert_eq!(l.limit(), MIN_LIMIT);
        let s = l.stats();
        assert_eq!(
            (s.peak_limit, s.final_limit, s.overload_backoffs),
            (40, MIN_LIMIT, 2 + 20)
        );
    }

    #[test]
    fn a_failed_attempt_backs_off_while_the_slot_is_kept() {
        let l = auto(128);
        let p = l.try_acquire().unwrap();
        p.attempt_failed(Outcome::Overload);
        assert_eq!(l.limit(), 7);
        // the same attempt failing for good does not cut twice
        p.finish(Outcome::Overload);
        assert_eq!(l.limit(), 7);
        // a retry sent after the cut that fails again does
        std::thread::sleep(ROUND_TRIP);
        let p = l.try_acquire().unwrap();
        p.attempt_failed(Outcome::Overload);
        std::thread::sleep(ROUND_TRIP);
        p.sending();
        p.finish(Outcome::Overload);
        assert_eq!(l.limit(), 3);
        assert_eq!(l.stats().peak_in_flight, 1);
    }

    #[test]
    fn latency_rising_beyond_tolerance_is_congestion() {
        let mut s = State::new(Concurrency::default());
        for _ in 0..20 {
            assert!(!s.latency_risen(0.020));
        }
        // a little noise is not
        assert!(!s.latency_risen(0.030));
        // a sustained rise to 5x is
        let risen = (0..10).any(|_| s.latency_risen(0.100));
        assert!(risen);
        // on loopback, 1 ms -> 3 ms is not (under the 20 ms floor)
        let mut s = State::new(Concurrency::default());
        for _ in 0..20 {
            s.latency_risen(0.001);
        }
        for _ in 0..20 {
            assert!(!s.latency_risen(0.003));
        }
    }
}
