//! Retries of transient failures: exponential backoff with full jitter, `Retry-After`
//! honoured, bounded attempts and total time. Shared by the API calls and the presigned
//! transfers of `symship-upload`.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng as _;

/// An error that knows whether trying again could help.
pub trait Retryable: fmt::Display {
    /// Connect errors, resets, timeouts, 408, 429 and 5xx are; other 4xx and decode errors are not.
    fn is_retryable(&self) -> bool;
    /// The server's `Retry-After`, if it sent one.
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

/// How often and how long to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 = never retry).
    pub max_attempts: u32,
    /// The backoff ceiling of the first retry; doubled per retry.
    pub base_delay: Duration,
    /// The backoff ceiling never exceeds this.
    pub max_delay: Duration,
    /// No new attempt starts when the time since the first one, plus the wait, would exceed this.
    pub max_total: Duration,
    /// A `Retry-After` longer than this ends the retries (the error is returned) instead of
    /// blocking the run.
    pub max_retry_after: Duration,
    /// How long one API call may spend waiting out 429s (PostHog's per-key throttle, spec §2.6),
    /// in all: each 429's `Retry-After` is waited for while the call's waits stay within this,
    /// whatever [`RetryPolicy::max_retry_after`] says (the hourly limit asks for minutes). These
    /// waits are not attempts and do not count against [`RetryPolicy::max_total`].
    pub max_throttled: Duration,
}

impl Default for RetryPolicy {
    /// 4 attempts, 0.5 s / 1 s / 2 s ceilings (posthog-cli's schedule, with full jitter), at most
    /// 2 minutes in all, a `Retry-After` up to 60 s honoured; 429s waited out for up to 10
    /// minutes per API call.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_total: Duration::from_secs(120),
            max_retry_after: Duration::from_secs(60),
            max_throttled: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The backoff ceiling before retry number `retry` (1 for the first retry):
    /// `min(max_delay, base_delay * 2^(retry-1))`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let exp = retry.saturating_sub(1).min(30);
        self.base_delay.saturating_mul(1u32 << exp).min(self.max_delay)
    }

    /// The wait before retry number `retry`, given a uniform `unit` in `[0, 1)`: full jitter
    /// (`unit * ceiling`), or the server's `Retry-After` when it sent one. `None` when the
    /// `Retry-After` is longer than [`RetryPolicy::max_retry_after`].
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, unit: f64) -> Option<Duration> {
        match retry_after {
            Some(ra) if ra > self.max_retry_after => None,
            Some(ra) => Some(ra),
            None => Some(self.ceiling(retry).mul_f64(unit.clamp(0.0, 1.0))),
        }
    }
}

/// One retry about to happen (for logs and progress).
#[derive(Debug)]
pub struct RetryEvent<'a> {
    /// What is being retried, e.g. `POST .../bulk_start_upload`.
    pub what: &'a str,
    /// The attempt that failed (1-based).
    pub attempt: u32,
    pub max_attempts: u32,
    /// How long we wait before the next attempt.
    pub delay: Duration,
    /// Whether the wait comes from the server's `Retry-After`.
    pub from_retry_after: bool,
    /// A 429 waited out (the server's throttle): the request is sent again without using an
    /// attempt.
    pub throttled: bool,
    /// The failure, already free of secrets.
    pub error: &'a str,
}

/// Told about every retry. The default ([`TracingRetryObserver`]) logs a warning.
pub trait RetryObserver: Send + Sync {
    fn on_retry(&self, event: &RetryEvent<'_>);
}

/// Logs each retry at warn level through `tracing`.
#[derive(Debug, Default, Clone, Copy)]
pub struct TracingRetryObserver;

/// Throttled waits logged at warn level at most this often (the others at debug): a throttle
/// that lasts minutes asks for a wait every second or so.
const THROTTLED_WARN_EVERY: Duration = Duration::from_secs(30);

impl RetryObserver for TracingRetryObserver {
    fn on_retry(&self, e: &RetryEvent<'_>) {
        if e.throttled {
            static LAST_WARN: std::sync::Mutex<Option<Instant>> = std::sync::Mutex::new(None);
            let mut last = LAST_WARN.lock().unwrap_or_else(|p| p.into_inner());
            let warn = last.is_none_or(|t| t.elapsed() >= THROTTLED_WARN_EVERY);
            if warn {
                *last = Some(Instant::now());
                tracing::warn!(
                    "{} was throttled by the server: {}; waiting {:.1} s as its Retry-After asks (not counted as \
                     an attempt; further waits are logged at debug level for {} s)",
                    e.what,
                    e.error,
                    e.delay.as_secs_f64(),
                    THROTTLED_WARN_EVERY.as_secs()
                );
            } else {
                tracing::debug!(
                    "{} was throttled by the server: {}; waiting {:.1} s (Retry-After)",
                    e.what,
                    e.error,
                    e.delay.as_secs_f64()
                );
            }
            return;
        }
        tracing::warn!(
            "{} failed (attempt {}/{}): {}; retrying in {:.1} s{}",
            e.what,
            e.attempt,
            e.max_attempts,
            e.error,
            e.delay.as_secs_f64(),
            if e.from_retry_after { " (Retry-After)" } else { "" }
        );
    }
}

impl<F: Fn(&RetryEvent<'_>) + Send + Sync> RetryObserver for F {
    fn on_retry(&self, event: &RetryEvent<'_>) {
        self(event)
    }
}

/// A shared observer.
pub type SharedRetryObserver = Arc<dyn RetryObserver>;

/// Run `op` (given the 1-based attempt number) until it succeeds, fails with a non-retryable
/// error, or the policy's attempts or total time run out; the last error is returned.
pub async fn retry<T, E, F, Fut>(
    policy: &RetryPolicy,
    observer: &dyn RetryObserver,
    what: &str,
    mut op: F,
) -> Result<T, E>
where
    E: Retryable,
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let started = Instant::now();
    let mut attempt = 1u32;
    loop {
        let err = match op(attempt).await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if !err.is_retryable() || attempt >= policy.max_attempts.max(1) {
            return Err(err);
        }
        let retry_after = err.retry_after();
        let unit: f64 = rand::rng().random();
        let Some(delay) = policy.delay(attempt, retry_after, unit) else {
            return Err(err);
        };
        if started.elapsed() + delay > policy.max_total {
            return Err(err);
        }
        let msg = err.to_string();
        observer.on_retry(&RetryEvent {
            throttled: false,
            what,
            attempt,
            max_attempts: policy.max_attempts,
            delay,
            from_retry_after: retry_after.is_some(),
            error: &msg,
        });
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Mutex;

    #[derive(Debug)]
    struct E {
        retryable: bool,
        after: Option<Duration>,
    }
    impl fmt::Display for E {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "e(retryable={})", self.retryable)
        }
    }
    impl Retryable for E {
        fn is_retryable(&self) -> bool {
            self.retryable
        }
        fn retry_after(&self) -> Option<Duration> {
            self.after
        }
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(4),
            max_delay: Duration::from_millis(10),
            max_total: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(1),
            max_throttled: Duration::from_secs(5),
        }
    }

    #[test]
    fn ceilings_double_and_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.ceiling(1), Duration::from_millis(500));
        assert_eq!(p.ceiling(2), Duration::from_millis(1000));
        assert_eq!(p.ceiling(3), Duration::from_millis(2000));
        assert_eq!(p.ceiling(7), Duration::from_secs(30));
        assert_eq!(p.ceiling(1000), Duration::from_secs(30));
    }

    #[test]
    fn full_jitter_spans_zero_to_ceiling_and_retry_after_wins() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(2, None, 0.0), Some(Duration::ZERO));
        assert_eq!(p.delay(2, None, 0.5), Some(Duration::from_millis(500)));
        assert_eq!(
            p.delay(2, None, 0.999_999),
            Some(Duration::from_millis(1000).mul_f64(0.999_999))
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(3)), 0.1),
            Some(Duration::from_secs(3))
        );
        assert_eq!(p.delay(1, Some(Duration::from_secs(61)), 0.1), None);
    }

    #[tokio::test]
    async fn retries_transient_until_success_and_reports_each_retry() {
        let calls = AtomicU32::new(0);
        let seen = Mutex::new(Vec::new());
        let obs = |e: &RetryEvent<'_>| seen.lock().unwrap().push((e.attempt, e.delay));
        let r: Result<u32, E> = retry(&fast(), &obs, "op", |n| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 3 {
                    Err(E {
                        retryable: true,
                        after: None,
                    })
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(r.unwrap(), 3);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), vec![1, 2]);
        assert!(seen[0].1 <= Duration::from_millis(4) && seen[1].1 <= Duration::from_millis(8));
    }

    #[tokio::test]
    async fn stops_at_max_attempts_and_never_retries_permanent_errors() {
        let calls = AtomicU32::new(0);
        let r: Result<(), E> = retry(&fast(), &TracingRetryObserver, "op", |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async {
                Err(E {
                    retryable: true,
                    after: None,
                })
            }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 4);

        let calls = AtomicU32::new(0);
        let r: Result<(), E> = retry(&fast(), &TracingRetryObserver, "op", |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async {
                Err(E {
                    retryable: false,
                    after: None,
                })
            }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn honours_retry_after_and_gives_up_when_too_long() {
        let started = Instant::now();
        let calls = AtomicU32::new(0);
        let r: Result<u32, E> = retry(&fast(), &TracingRetryObserver, "op", |n| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 1 {
                    Err(E {
                        retryable: true,
                        after: Some(Duration::from_millis(300)),
                    })
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(r.unwrap(), 2);
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "waited {:?}",
            started.elapsed()
        );

        let calls = AtomicU32::new(0);
        let r: Result<(), E> = retry(&fast(), &TracingRetryObserver, "op", |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async {
                Err(E {
                    retryable: true,
                    after: Some(Duration::from_secs(5)),
                })
            }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "a Retry-After beyond max_retry_after is not waited for"
        );
    }

    #[tokio::test]
    async fn total_time_bounds_retries() {
        let p = RetryPolicy {
            max_attempts: 100,
            max_total: Duration::from_millis(50),
            max_delay: Duration::from_millis(20),
            ..fast()
        };
        let started = Instant::now();
        let r: Result<(), E> = retry(&p, &TracingRetryObserver, "op", |_| async {
            Err(E {
                retryable: true,
                after: None,
            })
        })
        .await;
        assert!(r.is_err());
        assert!(started.elapsed() < Duration::from_millis(500));
    }
}
