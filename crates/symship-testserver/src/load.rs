//! Load: PostHog's per-key throttles on the symbol-set endpoints (spec §2.6) and counters of the
//! requests in flight, so tests assert on counts (how many transfers the server saw at once)
//! rather than on times.
//!
//! The throttle is DRF's `SimpleRateThrottle`, as PostHog configures it for symbol-set uploads
//! (`posthog/rate_limit.py`): `SymbolSetUploadBurstRateThrottle` (1200/minute) and
//! `SymbolSetUploadSustainedRateThrottle` (12000/hour), each a sliding window of request times
//! per personal API key. Both are evaluated for every request (a request one of them allows is
//! counted by it even when the other refuses it), a refused request is not counted, and the
//! answer is 429 with `Retry-After` of the longest wait, in whole seconds rounded down as DRF
//! writes it (`'%d' % wait`), so a wait under a second is sent as `Retry-After: 0`.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// `N/PERIOD`, DRF's rate syntax: PERIOD's first letter is `s`, `m`, `h` or `d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rate {
    pub requests: u32,
    /// The window, in seconds.
    pub per_secs: u64,
}

impl Rate {
    fn window(&self) -> Duration {
        Duration::from_secs(self.per_secs)
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Rate, String> {
        let (n, period) = s
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("rate {s:?}: expected N/PERIOD, e.g. 1200/minute"))?;
        let requests: u32 = n.parse().map_err(|e| format!("rate {s:?}: {e}"))?;
        let per_secs = match period.chars().next() {
            Some('s') => 1,
            Some('m') => 60,
            Some('h') => 3600,
            Some('d') => 86400,
            _ => return Err(format!("rate {s:?}: the period is s, m, h or d (second ... day)")),
        };
        if requests == 0 {
            return Err(format!("rate {s:?}: at least one request per period"));
        }
        Ok(Rate { requests, per_secs })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let period = match self.per_secs {
            1 => "second",
            60 => "minute",
            3600 => "hour",
            _ => "day",
        };
        write!(f, "{}/{period}", self.requests)
    }
}

/// The throttles of the symbol-set endpoints. JSON form (admin API):
/// `{"rates":[{"requests":1200,"per_secs":60},{"requests":12000,"per_secs":3600}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Throttle {
    /// Every rate applies at once (PostHog: burst, then sustained).
    pub rates: Vec<Rate>,
}

impl Throttle {
    /// PostHog's: 1200/minute burst and 12000/hour sustained, per personal API key (spec §2.6).
    pub fn posthog() -> Throttle {
        Throttle {
            rates: vec![
                Rate {
                    requests: 1200,
                    per_secs: 60,
                },
                Rate {
                    requests: 12000,
                    per_secs: 3600,
                },
            ],
        }
    }
}

/// `posthog` (the spec's rates) or comma-separated DRF rates, e.g. `20/second,100/minute`.
impl FromStr for Throttle {
    type Err = String;

    fn from_str(s: &str) -> Result<Throttle, String> {
        if s.trim() == "posthog" {
            return Ok(Throttle::posthog());
        }
        let rates = s.split(',').map(str::parse).collect::<Result<Vec<Rate>, _>>()?;
        Ok(Throttle { rates })
    }
}

impl fmt::Display for Throttle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.rates.iter().map(Rate::to_string).collect();
        f.write_str(&parts.join(","))
    }
}

/// Whether a route is throttled: every symbol-set action (the releases endpoints are not).
pub fn throttled_route(route: &str) -> bool {
    !route.starts_with("releases_") && route != "unknown"
}

/// Request times per (rate, key).
#[derive(Debug, Default)]
struct Windows {
    throttle: Option<Throttle>,
    history: HashMap<(usize, String), VecDeque<Instant>>,
}

/// A gauge of requests in flight and its high-water mark.
#[derive(Debug, Default)]
struct Gauge {
    now: AtomicU64,
    max: AtomicU64,
    total: AtomicU64,
}

impl Gauge {
    fn enter(&self) -> u64 {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
        self.total.fetch_add(1, Ordering::SeqCst);
        n
    }

    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }

    fn reset(&self) {
        self.max.store(self.now.load(Ordering::SeqCst), Ordering::SeqCst);
        self.total.store(0, Ordering::SeqCst);
    }
}

/// The throttle and the in-flight counters, shared by the API and the S3 fronts.
#[derive(Debug, Default)]
pub(crate) struct Load {
    windows: Mutex<Windows>,
    api: Gauge,
    storage: Gauge,
    throttled: AtomicU64,
    /// Per upload (PUT or POST) to storage, in order of arrival.
    arrivals: Mutex<Vec<Arrival>>,
}

/// Leaves its gauge when dropped (the request ended, however it ended).
pub(crate) struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// One upload to an S3 front, as it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arrival {
    /// Requests to the S3 fronts in flight then, this one included.
    pub in_flight: u32,
    /// Whether an injected fault (status, 429, reset, ...) hit it; latency alone is not one.
    pub faulted: bool,
}

/// What the server saw of the load since start or the last reset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadStats {
    /// API requests handled at once, at most.
    pub api_max_in_flight: u64,
    /// API requests.
    pub api_requests: u64,
    /// Requests to the S3 fronts at once (transfers and downloads), at most.
    pub storage_max_in_flight: u64,
    /// Requests to the S3 fronts.
    pub storage_requests: u64,
    /// Each upload (PUT or POST) to an S3 front, in order of arrival.
    pub upload_arrivals: Vec<Arrival>,
    /// API requests answered 429 by the throttle (injected 429 faults not included).
    pub throttled: u64,
    /// The throttle in force, if any (DRF rates, e.g. `1200/minute,12000/hour`).
    pub throttle: Option<String>,
}

impl Load {
    pub fn new(throttle: Option<Throttle>) -> Load {
        Load {
            windows: Mutex::new(Windows {
                throttle,
                history: HashMap::new(),
            }),
            ..Load::default()
        }
    }

    pub fn api_request(&self) -> InFlight<'_> {
        self.api.enter();
        InFlight(&self.api)
    }

    /// A request to an S3 front; `upload` for PUT and POST, `faulted` when a fault hit it.
    pub fn storage_request(&self, upload: bool, faulted: bool) -> InFlight<'_> {
        let n = self.storage.enter();
        if upload {
            self.arrivals.lock().expect("arrivals lock").push(Arrival {
                in_flight: n as u32,
                faulted,
            });
        }
        InFlight(&self.storage)
    }

    pub fn set_throttle(&self, throttle: Option<Throttle>) {
        let mut w = self.windows.lock().expect("throttle lock");
        w.throttle = throttle;
        w.history.clear();
    }

    pub fn throttle(&self) -> Option<Throttle> {
        self.windows.lock().expect("throttle lock").throttle.clone()
    }

    /// DRF's `check_throttles` for one request by `key`: `None` when allowed (and counted), else
    /// the `Retry-After` to send, in whole seconds.
    pub fn check(&self, key: &str) -> Option<u64> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Option<u64> {
        let mut guard = self.windows.lock().expect("throttle lock");
        let w = &mut *guard;
        let rates = w.throttle.as_ref()?.rates.clone();
        let mut waits = Vec::new();
        for (i, rate) in rates.iter().enumerate() {
            let history = w.history.entry((i, key.to_owned())).or_default();
            // newest first, as DRF keeps it
            while history
                .back()
                .is_some_and(|t| now.duration_since(*t) >= rate.window())
            {
                history.pop_back();
            }
            if history.len() >= rate.requests as usize {
                // DRF's wait(): what is left of the oldest entry's window, spread over the
                // requests still available (one, when throttled).
                let remaining = match history.back() {
                    Some(oldest) => rate.window().saturating_sub(now.duration_since(*oldest)),
                    None => rate.window(),
                };
                let available = rate.requests as i64 - history.len() as i64 + 1;
                if available > 0 {
                    waits.push(remaining.as_secs_f64() / available as f64);
                }
            } else {
                history.push_front(now);
            }
        }
        if waits.is_empty() {
            return None;
        }
        self.throttled.fetch_add(1, Ordering::SeqCst);
        Some(waits.into_iter().fold(0.0, f64::max) as u64)
    }

    pub fn stats(&self) -> LoadStats {
        LoadStats {
            api_max_in_flight: self.api.max.load(Ordering::SeqCst),
            api_requests: self.api.total.load(Ordering::SeqCst),
            storage_max_in_flight: self.storage.max.load(Ordering::SeqCst),
            storage_requests: self.storage.total.load(Ordering::SeqCst),
            upload_arrivals: self.arrivals.lock().expect("arrivals lock").clone(),
            throttled: self.throttled.load(Ordering::SeqCst),
            throttle: self.throttle().map(|t| t.to_string()),
        }
    }

    /// Forgets the counts and the throttle's history (the throttle stays).
    pub fn reset(&self) {
        self.api.reset();
        self.storage.reset();
        self.throttled.store(0, Ordering::SeqCst);
        self.arrivals.lock().expect("arrivals lock").clear();
        self.windows.lock().expect("throttle lock").history.clear();
    }
}

/// The bearer token of a request (the throttle's key), if it has one.
pub fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    let auth = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    match auth.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => Some(t.trim()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_as_drf_does() {
        assert_eq!(
            "1200/minute".parse::<Rate>().unwrap(),
            Rate {
                requests: 1200,
                per_secs: 60
            }
        );
        assert_eq!("5/s".parse::<Rate>().unwrap().per_secs, 1);
        assert_eq!("7/hour".parse::<Rate>().unwrap().per_secs, 3600);
        assert!("5/fortnight".parse::<Rate>().is_err());
        assert!("0/s".parse::<Rate>().is_err());
        assert!("five/s".parse::<Rate>().is_err());
        let t: Throttle = "posthog".parse().unwrap();
        assert_eq!(t, Throttle::posthog());
        assert_eq!(t.to_string(), "1200/minute,12000/hour");
        assert_eq!(t.to_string().parse::<Throttle>().unwrap(), t);
    }

    #[test]
    fn burst_window_refuses_then_frees_as_the_oldest_expires() {
        let load = Load::new(Some("3/minute".parse().unwrap()));
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(
                load.check_at("k", t0 + Duration::from_secs(i)),
                None,
                "request {i}"
            );
        }
        // full: the oldest (t0) frees its place at t0 + 60 s
        assert_eq!(load.check_at("k", t0 + Duration::from_secs(10)), Some(50));
        // a refused request is not counted; another key has its own window
        assert_eq!(load.check_at("other", t0 + Duration::from_secs(10)), None);
        assert_eq!(load.check_at("k", t0 + Duration::from_millis(59_500)), Some(0));
        assert_eq!(load.check_at("k", t0 + Duration::from_secs(60)), None);
        assert_eq!(load.stats().throttled, 2);
    }

    #[test]
    fn every_rate_applies_and_the_longest_wait_is_sent() {
        let load = Load::new(Some("2/second,3/minute".parse().unwrap()));
        let t0 = Instant::now();
        assert_eq!(load.check_at("k", t0), None);
        assert_eq!(load.check_at("k", t0), None);
        // the second's window is full (0.9 s left, sent as 0); the minute's counts this one
        assert_eq!(load.check_at("k", t0 + Duration::from_millis(100)), Some(0));
        // so the minute is full now: wait for t0 + 60 s
        assert_eq!(load.check_at("k", t0 + Duration::from_secs(2)), Some(58));
    }

    #[test]
    fn gauges_count_what_is_in_flight() {
        let load = Load::new(None);
        {
            let _a = load.storage_request(true, false);
            let _b = load.storage_request(true, true);
            let _c = load.storage_request(false, false);
        }
        let _d = load.storage_request(true, false);
        let s = load.stats();
        assert_eq!(s.storage_max_in_flight, 3);
        assert_eq!(s.storage_requests, 4);
        let seen: Vec<(u32, bool)> = s
            .upload_arrivals
            .iter()
            .map(|a| (a.in_flight, a.faulted))
            .collect();
        assert_eq!(seen, vec![(1, false), (2, true), (1, false)]);
        assert_eq!(load.check("k"), None, "no throttle, nothing refused");
    }
}
