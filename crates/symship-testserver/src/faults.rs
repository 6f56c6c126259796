//! Fault injection, per route, deterministic with a seed.
//!
//! Route names: the API actions (`bulk_check_upload`, `bulk_start_upload`, `bulk_finish_upload`,
//! `start_upload`, `finish_upload`, `create`, `list`, `retrieve`, `download`, `bulk_delete`,
//! `destroy`, `update`, `releases_list`, `releases_create`, `releases_retrieve`,
//! `releases_hash`, `releases_update`, `releases_destroy`), `*` for every API action, and the S3
//! front's operations `s3_put`, `s3_post`, `s3_get`, `s3_head` (standard endpoint; the
//! fallback when transfer acceleration is on) and `s3_accel_put`, `s3_accel_post`, ... (the
//! accelerated primary endpoint), `s3_*` for every operation of the standard front and
//! `s3_accel_*` for the accelerated one. A rule naming any other route is refused
//! ([`check_route`]: by `--fault`, the admin API and [`crate::TestServer::start`]), since it would
//! match no request.

use std::fmt;
use std::str::FromStr;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde::{Deserialize, Serialize};

/// One fault rule. JSON form (admin API): `{"route":"s3_put","kind":"status","status":503,
/// "rate":1.0,"first_n":2}`; `kind` is one of `status`, `too_many_requests` (with
/// `retry_after`), `latency` (with `ms`), `reset`, `presign_expiry` (with `secs`), `huge_body`
/// (with `mib`, `status`), `drip` (with `ms`), `hostile` (with `status`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    pub route: String,
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Probability that a matching call is hit (0..=1), drawn from the seeded generator.
    #[serde(default = "one")]
    pub rate: f64,
    /// Only the first N matching calls can be hit (deterministic tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_n: Option<u64>,
}

/// The S3 fronts' route prefixes and operations: a front's route is `<front>_<operation>`.
const S3_FRONTS: [&str; 2] = ["s3", "s3_accel"];
const S3_OPERATIONS: [&str; 6] = ["put", "post", "get", "head", "delete", "other"];

/// Every route name a rule may name: `*`, the API actions, `s3_*`, `s3_accel_*` and each
/// front's operations (the module doc says what each one matches).
pub fn known_routes() -> Vec<String> {
    let mut out = vec!["*".to_owned()];
    out.extend(crate::api::routes::ROUTE_NAMES.iter().map(|s| (*s).to_owned()));
    for front in S3_FRONTS {
        out.push(format!("{front}_*"));
        out.extend(S3_OPERATIONS.iter().map(|op| format!("{front}_{op}")));
    }
    out
}

/// `Ok` when `route` is one of [`known_routes`]; else the error a caller prints: the route and
/// every known one (a typo would otherwise match no request, and a test would pass without its
/// fault).
pub fn check_route(route: &str) -> Result<(), String> {
    let known = known_routes();
    if known.iter().any(|k| k == route) {
        return Ok(());
    }
    Err(format!(
        "unknown fault route {route:?}; known routes: {}",
        known.join(", ")
    ))
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this status (500, 502, 503, ...) instead of handling the request.
    Status { status: u16 },
    /// Answer 429 with `Retry-After: retry_after`.
    TooManyRequests { retry_after: u64 },
    /// Wait this long before handling the request (combines with other faults).
    Latency { ms: u64 },
    /// Drop the connection mid-body: on the S3 front after half of the request body was read
    /// (nothing stored); on the API after the request was handled, half-way through the
    /// response body.
    Reset,
    /// Presigned URLs issued by this route expire after `secs` seconds instead of 300.
    PresignExpiry { secs: u64 },
    /// Instead of handling the request, answer `status` with a body of `mib` MiB streamed
    /// without a `Content-Length` (never held in memory); [`crate::TestServer::fault_bytes_sent`]
    /// counts what the client took before it hung up.
    HugeBody {
        mib: u64,
        #[serde(default = "ok")]
        status: u16,
    },
    /// Instead of handling the request, answer 200 and then send the body one byte every `ms`
    /// milliseconds, forever: idle deadlines never fire, only a total deadline ends it.
    Drip { ms: u64 },
    /// Instead of handling the request, answer `status` with a PostHog error whose `code`,
    /// `detail` and `attr` hold terminal escape sequences, control characters, bidi overrides and
    /// GitHub workflow commands on lines of their own ([`HOSTILE_DETAIL`]). On the S3 fronts the
    /// same text is the S3 error `<Message>`.
    Hostile { status: u16 },
}

fn ok() -> u16 {
    200
}

/// The detail a `hostile` fault sends: what a compromised or impersonated server could try.
pub const HOSTILE_DETAIL: &str = "bad request\u{1b}[2J\u{1b}]0;pwned\u{7}\r\n::add-mask::phx_forged\n::warning title=forged::forged warning\n  ::error file=forged.js::forged error\n::stop-commands::forged\n##[error]forged legacy\nname\u{202e}sj.exe\u{9b}31m";

/// The code a `hostile` fault sends.
pub const HOSTILE_CODE: &str = "invalid\u{1b}[31m\n::error::forged_code";

impl FaultRule {
    pub fn new(route: &str, kind: FaultKind) -> FaultRule {
        FaultRule {
            route: route.to_owned(),
            kind,
            rate: 1.0,
            first_n: None,
        }
    }

    pub fn first_n(mut self, n: u64) -> FaultRule {
        self.first_n = Some(n);
        self
    }

    pub fn rate(mut self, rate: f64) -> FaultRule {
        self.rate = rate;
        self
    }

    fn matches(&self, route: &str) -> bool {
        if self.route == route {
            return true;
        }
        match self.route.as_str() {
            "*" => !route.starts_with("s3_"),
            "s3_*" => route.starts_with("s3_") && !route.starts_with("s3_accel_"),
            "s3_accel_*" => route.starts_with("s3_accel_"),
            _ => false,
        }
    }
}

/// `ROUTE:KIND[:rate=R][:first_n=N]` with KIND one of `status=503`, `429=RETRY_AFTER`,
/// `latency=MS`, `reset`, `expiry=SECS`, `huge=MIB` (or `huge=MIB/STATUS`), `drip=MS`,
/// `hostile=STATUS`; e.g. `s3_put:status=503:first_n=2`, `bulk_start_upload:huge=2048`.
impl FromStr for FaultRule {
    type Err = String;

    fn from_str(s: &str) -> Result<FaultRule, String> {
        let mut parts = s.split(':');
        let route = parts.next().filter(|r| !r.is_empty()).ok_or("missing route")?;
        check_route(route)?;
        let kind_s = parts
            .next()
            .ok_or("missing fault kind (status=N, 429=SECS, latency=MS, reset, expiry=SECS)")?;
        let (name, arg) = match kind_s.split_once('=') {
            Some((n, a)) => (n, Some(a)),
            None => (kind_s, None),
        };
        let num = |what: &str| -> Result<u64, String> {
            arg.ok_or_else(|| format!("{name} needs ={what}"))?
                .parse::<u64>()
                .map_err(|e| format!("{name}: {e}"))
        };
        let kind = match name {
            "status" => FaultKind::Status {
                status: num("STATUS")? as u16,
            },
            "429" | "too_many_requests" => FaultKind::TooManyRequests {
                retry_after: num("SECS")?,
            },
            "latency" => FaultKind::Latency { ms: num("MS")? },
            "reset" => FaultKind::Reset,
            "expiry" | "presign_expiry" => FaultKind::PresignExpiry { secs: num("SECS")? },
            "huge" | "huge_body" => {
                let a = arg.ok_or("huge needs =MIB or =MIB/STATUS")?;
                let (mib, status) = a.split_once('/').unwrap_or((a, "200"));
                FaultKind::HugeBody {
                    mib: mib.parse().map_err(|e| format!("huge: {e}"))?,
                    status: status.parse().map_err(|e| format!("huge: {e}"))?,
                }
            }
            "drip" => FaultKind::Drip { ms: num("MS")? },
            "hostile" => FaultKind::Hostile {
                status: num("STATUS")? as u16,
            },
            other => return Err(format!("unknown fault kind {other:?}")),
        };
        let mut rule = FaultRule::new(route, kind);
        for opt in parts {
            match opt.split_once('=') {
                Some(("rate", v)) => rule.rate = v.parse().map_err(|e| format!("rate: {e}"))?,
                Some(("first_n", v)) => rule.first_n = Some(v.parse().map_err(|e| format!("first_n: {e}"))?),
                _ => return Err(format!("unknown fault option {opt:?} (rate=R, first_n=N)")),
            }
        }
        if !(0.0..=1.0).contains(&rule.rate) {
            return Err("rate must be within 0..=1".into());
        }
        Ok(rule)
    }
}

impl fmt::Display for FaultRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.route)?;
        match &self.kind {
            FaultKind::Status { status } => write!(f, "status={status}")?,
            FaultKind::TooManyRequests { retry_after } => write!(f, "429={retry_after}")?,
            FaultKind::Latency { ms } => write!(f, "latency={ms}")?,
            FaultKind::Reset => write!(f, "reset")?,
            FaultKind::PresignExpiry { secs } => write!(f, "expiry={secs}")?,
            FaultKind::HugeBody { mib, status } => write!(f, "huge={mib}/{status}")?,
            FaultKind::Drip { ms } => write!(f, "drip={ms}")?,
            FaultKind::Hostile { status } => write!(f, "hostile={status}")?,
        }
        if self.rate < 1.0 {
            write!(f, ":rate={}", self.rate)?;
        }
        if let Some(n) = self.first_n {
            write!(f, ":first_n={n}")?;
        }
        Ok(())
    }
}

/// What the faults decided for one call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    pub latency_ms: u64,
    /// The terminal fault, if any (status, 429 or reset).
    pub fault: Option<FaultKind>,
    pub presign_expiry: Option<u64>,
}

impl Decision {
    pub fn label(&self) -> Option<String> {
        self.fault.as_ref().map(|k| match k {
            FaultKind::Status { status } => format!("status={status}"),
            FaultKind::TooManyRequests { retry_after } => format!("429={retry_after}"),
            FaultKind::Reset => "reset".to_owned(),
            FaultKind::Latency { ms } => format!("latency={ms}"),
            FaultKind::PresignExpiry { secs } => format!("expiry={secs}"),
            FaultKind::HugeBody { mib, status } => format!("huge={mib}/{status}"),
            FaultKind::Drip { ms } => format!("drip={ms}"),
            FaultKind::Hostile { status } => format!("hostile={status}"),
        })
    }
}

/// The rules plus their per-rule call counters and the seeded generator.
#[derive(Debug)]
pub struct FaultEngine {
    rules: Vec<(FaultRule, u64)>,
    rng: StdRng,
    seed: u64,
}

impl FaultEngine {
    pub fn new(rules: Vec<FaultRule>, seed: u64) -> FaultEngine {
        FaultEngine {
            rules: rules.into_iter().map(|r| (r, 0)).collect(),
            rng: StdRng::seed_from_u64(seed),
            seed,
        }
    }

    pub fn rules(&self) -> Vec<FaultRule> {
        self.rules.iter().map(|(r, _)| r.clone()).collect()
    }

    /// Replaces the rules and restarts the counters and the generator.
    pub fn set(&mut self, rules: Vec<FaultRule>) {
        *self = FaultEngine::new(rules, self.seed);
    }

    pub fn decide(&mut self, route: &str) -> Decision {
        let mut d = Decision::default();
        for (rule, count) in self.rules.iter_mut() {
            if !rule.matches(route) {
                continue;
            }
            *count += 1;
            if rule.first_n.is_some_and(|n| *count > n) {
                continue;
            }
            let hit = rule.rate >= 1.0 || (rule.rate > 0.0 && self.rng.random::<f64>() < rule.rate);
            if !hit {
                continue;
            }
            match &rule.kind {
                FaultKind::Latency { ms } => d.latency_ms += ms,
                FaultKind::PresignExpiry { secs } => d.presign_expiry = Some(*secs),
                other => {
                    if d.fault.is_none() {
                        d.fault = Some(other.clone());
                    }
                }
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_cli_syntax() {
        let r: FaultRule = "s3_put:status=503:first_n=2".parse().unwrap();
        assert_eq!(
            r,
            FaultRule::new("s3_put", FaultKind::Status { status: 503 }).first_n(2)
        );
        assert_eq!(r.to_string(), "s3_put:status=503:first_n=2");
        let r: FaultRule = "bulk_start_upload:429=7:rate=0.5".parse().unwrap();
        assert_eq!(r.kind, FaultKind::TooManyRequests { retry_after: 7 });
        assert_eq!(r.rate, 0.5);
        assert!("list:bogus".parse::<FaultRule>().is_err());
        for (text, kind) in [
            (
                "bulk_start_upload:huge=2048",
                FaultKind::HugeBody {
                    mib: 2048,
                    status: 200,
                },
            ),
            ("s3_get:huge=10/502", FaultKind::HugeBody { mib: 10, status: 502 }),
            ("list:drip=1000", FaultKind::Drip { ms: 1000 }),
            ("*:hostile=400", FaultKind::Hostile { status: 400 }),
        ] {
            let r: FaultRule = text.parse().unwrap();
            assert_eq!(r.kind, kind, "{text}");
            assert_eq!(r.to_string().parse::<FaultRule>().unwrap(), r);
        }
        let j: FaultRule =
            serde_json::from_value(serde_json::json!({"route":"list","kind":"huge_body","mib":3})).unwrap();
        assert_eq!(j.kind, FaultKind::HugeBody { mib: 3, status: 200 });
        assert!("list:status".parse::<FaultRule>().is_err());
    }

    #[test]
    fn an_unknown_route_is_refused_naming_the_known_ones() {
        for ok in [
            "*",
            "bulk_finish_upload",
            "releases_hash",
            "s3_*",
            "s3_put",
            "s3_accel_*",
            "s3_accel_post",
        ] {
            assert!(format!("{ok}:reset").parse::<FaultRule>().is_ok(), "{ok}");
        }
        for typo in ["bulk_finish", "s3_putt", "s3", "S3_PUT", "s3_accel", "**"] {
            let e = format!("{typo}:status=503").parse::<FaultRule>().unwrap_err();
            assert!(
                e.starts_with(&format!("unknown fault route {typo:?}; known routes: *, list,")),
                "{e}"
            );
            assert!(
                e.contains("bulk_finish_upload") && e.contains("s3_accel_head"),
                "{e}"
            );
        }
    }

    #[test]
    fn json_form_round_trips() {
        let r = FaultRule::new("s3_post", FaultKind::Latency { ms: 40 });
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"route":"s3_post","kind":"latency","ms":40,"rate":1.0})
        );
        let back: FaultRule =
            serde_json::from_value(serde_json::json!({"route":"*","kind":"reset","first_n":1})).unwrap();
        assert_eq!(back, FaultRule::new("*", FaultKind::Reset).first_n(1));
    }

    #[test]
    fn first_n_and_rate_are_deterministic() {
        let mut e = FaultEngine::new(vec![FaultRule::new("a", FaultKind::Reset).first_n(2)], 1);
        let hits: Vec<bool> = (0..4).map(|_| e.decide("a").fault.is_some()).collect();
        assert_eq!(hits, [true, true, false, false]);
        assert!(e.decide("b").fault.is_none());

        let run = |seed| {
            let mut e = FaultEngine::new(
                vec![FaultRule::new("*", FaultKind::Status { status: 500 }).rate(0.5)],
                seed,
            );
            (0..64)
                .map(|_| e.decide("list").fault.is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        let n = run(7).iter().filter(|h| **h).count();
        assert!((16..=48).contains(&n), "rate 0.5 hit {n} of 64");
        // `*` is the API only
        let mut e = FaultEngine::new(vec![FaultRule::new("*", FaultKind::Reset)], 0);
        assert!(e.decide("s3_put").fault.is_none());
    }
}
