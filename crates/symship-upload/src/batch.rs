//! How many symbol sets go into one API call, and why a build of 50,000 chunks stays within
//! PostHog's throttle without a single 429.
//!
//! # The limits (spec §2.6)
//!
//! PostHog throttles every symbol-set endpoint per personal API key with two DRF sliding
//! windows: **1,200 requests per minute** (burst) and **12,000 per hour** (sustained). Transfers
//! to object storage go to presigned URLs, not to the API, and count against neither (nor
//! against the client's `--rate-limit`). So what a run costs is its number of API calls:
//! `bulk_check_upload`, `bulk_start_upload` and `bulk_finish_upload`, one finish per start.
//!
//! # How big a batch may be
//!
//! - `bulk_check_upload` takes at most 1,000 symbol sets (`BULK_CHECK_UPLOAD_MAX_SYMBOL_SETS`,
//!   spec §2.2).
//! - `bulk_start_upload` states no cap, but it validates as check does and creates every row and
//!   presigns every URL in one transaction (spec §3); a start of 1,711 chunks timed out before
//!   PostHog fixed an N+1 (posthog-js#2240, spec §9). [`MAX_BATCH`] keeps it at check's 1,000.
//! - Its presigned URLs expire after 300 s (spec §2.3): a start batch also closes at
//!   [`BATCH_BYTES`] (64 MiB) of input, which even a 1 MB/s uplink sends in about a minute.
//!   (The pipeline starts a batch only when the previous one's chunks are all transferring, and
//!   starts again any chunk whose URL expired before it could be sent.)
//!
//! # The schedule ([`BatchSize::Auto`], the default)
//!
//! Batches grow: the first holds [`FIRST_BATCH`] (50, posthog-cli's `--batch-size`, so a small
//! build's first transfer waits for no more than posthog-cli's would), and each next one twice
//! as many, up to [`MAX_BATCH`]: 50, 100, 200, 400, 800, then 1,000. Checks grow the same way
//! (also closing at [`crate::CHECK_BYTES`] of input). For `n` small chunks that is 5 calls for
//! the first 1,550 and one per 1,000 after, for each of check, start and finish:
//!
//! | chunks | check | start | finish | API calls | posthog-cli 0.19.0 (check 1,000, batch 50) |
//! |---|---|---|---|---|---|
//! | 2,000 | 6 | 6 | 6 | 18 | 2 + 40 + 40 = 82 |
//! | 10,000 | 14 | 14 | 14 | 42 | 10 + 200 + 200 = 410 |
//! | 50,000 | 54 | 54 | 54 | 162 | 50 + 1,000 + 1,000 = 2,050 |
//!
//! (50,000: 5 calls for 1,550 chunks, then ⌈48,450 / 1,000⌉ = 49.) A 50,000-chunk build thus
//! makes 162 calls: 13.5 % of one minute's burst allowance even if the whole run took under a
//! minute, and 1.35 % of the hour's, so the same key can upload 74 such builds an hour.
//! posthog-cli's 2,050 calls are 17 % of the hour and above the burst allowance for any run
//! shorter than two minutes. Chunks larger than 64 MiB / 1,000 = 64 KiB make batches close on
//! bytes: a build of `B` bytes needs about `B / 64 MiB` starts (and finishes) and
//! `B / 32 MiB` checks, so 2,000 API calls only at 32 GiB of symbol sets.
//!
//! # Pacing
//!
//! The client keeps posthog-cli's `--rate-limit` (default 480 per minute, a sliding window over
//! API calls only): a drop-in default, and below the burst with room for a second run of the
//! same key at once (2 × 480 < 1,200). With the schedule above it binds only past
//! 480 calls in a minute, i.e. a build of about 155,000 small chunks; below that, a run of any
//! size never waits for it. A 429 that does come (other clients of the same key) is waited out
//! for its `Retry-After`, on every endpoint, without using an attempt (`symship_api::Client`).

/// Chunks in the first check and start of a run: posthog-cli's default `--batch-size`.
pub const FIRST_BATCH: usize = 50;

/// The most chunks in one `bulk_start_upload` (and so in one `bulk_finish_upload`): the cap
/// PostHog enforces on `bulk_check_upload` (spec §2.2).
pub const MAX_BATCH: usize = 1000;

/// A start batch closes once its chunks read this much input (their containers are smaller),
/// so its presigned URLs (300 s, spec §2.3) are used well before they expire.
pub const BATCH_BYTES: u64 = 64 * 1024 * 1024;

/// Symbol sets per `bulk_start_upload` (`--batch-size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BatchSize {
    /// Growing from [`FIRST_BATCH`] to [`MAX_BATCH`] chunks, at most [`BATCH_BYTES`] of input
    /// (see the module docs).
    #[default]
    Auto,
    /// Exactly this many (at least 1), whatever their size: posthog-cli's `--batch-size N`.
    Fixed(usize),
}

impl BatchSize {
    /// The largest batch this setting makes.
    pub fn max(&self) -> usize {
        match *self {
            BatchSize::Auto => MAX_BATCH,
            BatchSize::Fixed(n) => n.max(1),
        }
    }
}

/// The size of the next batch: doubles from `first` up to `max` per batch taken.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    next: usize,
    max: usize,
    /// Input bytes at which a batch closes, whatever its count.
    bytes: Option<u64>,
}

impl Schedule {
    /// The start batches of `size`.
    pub(crate) fn starts(size: BatchSize) -> Schedule {
        match size {
            BatchSize::Auto => Schedule {
                next: FIRST_BATCH,
                max: MAX_BATCH,
                bytes: Some(BATCH_BYTES),
            },
            BatchSize::Fixed(n) => Schedule {
                next: n.max(1),
                max: n.max(1),
                bytes: None,
            },
        }
    }

    /// The check groups: growing from [`FIRST_BATCH`] to `max` chunks, closing at `bytes`.
    pub(crate) fn checks(max: usize, bytes: u64) -> Schedule {
        Schedule {
            next: FIRST_BATCH.min(max),
            max,
            bytes: Some(bytes),
        }
    }

    /// How many chunks the next batch holds at most.
    pub(crate) fn size(&self) -> usize {
        self.next
    }

    /// Whether a batch of `count` chunks reading `bytes` is full.
    pub(crate) fn full(&self, count: usize, bytes: u64) -> bool {
        count >= self.next || self.bytes.is_some_and(|b| bytes >= b)
    }

    /// How many of `sizes` (input bytes of the waiting chunks, in order) the next batch takes:
    /// at least one, at most [`Schedule::size`], and no more once the byte bound is reached.
    pub(crate) fn take(&self, sizes: impl IntoIterator<Item = u64>) -> usize {
        let mut n = 0;
        let mut bytes = 0u64;
        for s in sizes.into_iter().take(self.next) {
            if n > 0 && self.bytes.is_some_and(|b| bytes + s > b) {
                break;
            }
            n += 1;
            bytes += s;
        }
        n
    }

    /// A batch was sent: the next may be twice as large.
    pub(crate) fn advance(&mut self) {
        self.next = self.next.saturating_mul(2).min(self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls of one kind for `n` chunks of `each` bytes under the schedule.
    fn calls(mut s: Schedule, n: usize, each: u64) -> usize {
        let (mut left, mut calls) = (n, 0);
        while left > 0 {
            let k = s.take(std::iter::repeat_n(each, left));
            assert!(k >= 1);
            left -= k;
            calls += 1;
            s.advance();
        }
        calls
    }

    #[test]
    fn the_docstring_table_holds() {
        for (n, want) in [(2_000, 6), (10_000, 14), (50_000, 54)] {
            assert_eq!(calls(Schedule::starts(BatchSize::Auto), n, 5_000), want, "{n}");
            assert_eq!(
                calls(Schedule::checks(MAX_BATCH, 32 << 20), n, 5_000),
                want,
                "{n}"
            );
        }
        assert_eq!(
            calls(Schedule::starts(BatchSize::Fixed(50)), 50_000, 5_000),
            1_000
        );
    }

    #[test]
    fn grows_from_fifty_to_a_thousand() {
        let mut s = Schedule::starts(BatchSize::Auto);
        let mut seen = Vec::new();
        for _ in 0..7 {
            seen.push(s.size());
            s.advance();
        }
        assert_eq!(seen, [50, 100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn large_chunks_close_a_batch_on_bytes_and_one_always_goes() {
        let s = Schedule::starts(BatchSize::Auto);
        assert_eq!(s.take(std::iter::repeat_n(20 << 20, 10)), 3);
        assert_eq!(s.take([200 << 20]), 1);
        assert_eq!(s.take(std::iter::empty()), 0);
        // a fixed size ignores bytes, as posthog-cli's --batch-size does
        let f = Schedule::starts(BatchSize::Fixed(7));
        assert_eq!(f.take(std::iter::repeat_n(200 << 20, 10)), 7);
    }
}
