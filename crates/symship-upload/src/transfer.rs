//! Sending a container to object storage through the presigned target `bulk_start_upload`
//! returned (spec §2.4): PUT when offered, else a multipart POST with the fields first and a last
//! `file` part named `filename="file"`. Rerouting to the fallback URL happens only after two
//! consecutive transport failures on the primary, and a run-wide latch then sends every later
//! chunk straight to the fallback.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use symship_api::{check_storage_response, ApiError, Client, RetryEvent, Retryable, TransportKind};
use symship_api::{PresignedPost, StartedUpload};
use url::Url;

/// One presigned destination.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Put(Url),
    Post { url: Url, fields: Vec<(String, String)> },
}

/// Why a transfer did not land.
#[derive(Debug)]
pub(crate) enum TransferError {
    /// The presigned URL expired (or was about to) before the bytes got there: start again.
    /// `sent` tells whether storage refused it (false: it was never sent).
    Expired { message: String, sent: bool },
    /// Retries are used up or the failure is permanent.
    Failed(ApiError),
    /// The server handed out a URL we refuse to use.
    BadUrl(String),
    /// The object storage host could not be reached ([`UNREACHABLE_AFTER`] connection or name
    /// resolution failures this run, none reached it): nothing more is sent there.
    Unreachable { host: String },
}

/// Connection or name-resolution failures to one object storage host, never reached this run,
/// after which nothing more is sent there.
pub(crate) const UNREACHABLE_AFTER: u32 = 3;

#[derive(Default)]
struct HostState {
    reached: bool,
    failures: u32,
    last_error: String,
    /// Until the host answers once, one transfer at a time tries it, so an unreachable host
    /// costs [`UNREACHABLE_AFTER`] attempts, not one per concurrent transfer.
    gate: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// What a run learned about its object storage hosts.
#[derive(Default)]
pub(crate) struct Hosts {
    hosts: std::sync::Mutex<std::collections::BTreeMap<String, HostState>>,
}

/// An unreachable host: its name, the attempts made, the last error.
#[derive(Debug, Clone)]
pub struct UnreachableHost {
    pub host: String,
    pub attempts: u32,
    pub last_error: String,
}

impl Hosts {
    fn with<T>(&self, host: &str, f: impl FnOnce(&mut HostState) -> T) -> T {
        let mut m = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        f(m.entry(host.to_owned()).or_default())
    }

    fn dead(s: &HostState) -> bool {
        !s.reached && s.failures >= UNREACHABLE_AFTER
    }

    /// The hosts given up on, in name order.
    pub(crate) fn unreachable(&self) -> Vec<UnreachableHost> {
        let m = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        m.iter()
            .filter(|(_, s)| Self::dead(s))
            .map(|(h, s)| UnreachableHost {
                host: h.clone(),
                attempts: s.failures,
                last_error: s.last_error.clone(),
            })
            .collect()
    }
}

/// `host:port` of a target (the port when the URL names one).
fn host_of(t: &Target) -> String {
    let u = match t {
        Target::Put(u) | Target::Post { url: u, .. } => u,
    };
    let host = u.host_str().unwrap_or_default();
    match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    }
}

impl std::fmt::Display for TransferError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransferError::Expired { message, .. } => write!(f, "{message}"),
            TransferError::Failed(e) => write!(f, "{e}"),
            TransferError::BadUrl(m) => write!(f, "{m}"),
            TransferError::Unreachable { host } => {
                write!(
                    f,
                    "not sent: object storage host {host} cannot be reached from this machine"
                )
            }
        }
    }
}

fn parse_url(s: &str) -> Result<Url, TransferError> {
    let u = Url::parse(s)
        .map_err(|e| TransferError::BadUrl(format!("the server sent an unusable presigned URL: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
        return Err(TransferError::BadUrl(format!(
            "the server sent a presigned URL with scheme {:?}; only http(s) URLs are used",
            u.scheme()
        )));
    }
    Ok(u)
}

fn post(p: &PresignedPost) -> Result<Target, TransferError> {
    Ok(Target::Post {
        url: parse_url(&p.url)?,
        fields: p.fields.clone(),
    })
}

/// The primary and fallback targets of a started upload.
pub(crate) fn targets(s: &StartedUpload) -> Result<(Target, Option<Target>), TransferError> {
    match &s.presigned_put_url {
        Some(put) => {
            let fallback = s
                .fallback_presigned_put_url
                .as_deref()
                .map(|f| parse_url(f).map(Target::Put))
                .transpose()?;
            Ok((Target::Put(parse_url(put)?), fallback))
        }
        None => {
            let fallback = s.fallback_presigned_url.as_ref().map(post).transpose()?;
            Ok((post(&s.presigned_url)?, fallback))
        }
    }
}

/// How long a presigned target stays valid after it was issued, read from the URL itself
/// (`X-Amz-Expires` of a PUT; policy `expiration` minus `x-amz-date` of a POST). Durations only,
/// so a skewed local clock does not matter.
pub(crate) fn validity(t: &Target) -> Option<Duration> {
    match t {
        Target::Put(u) => u
            .query_pairs()
            .find(|(k, _)| k.eq_ignore_ascii_case("X-Amz-Expires"))
            .and_then(|(_, v)| v.parse::<u64>().ok())
            .map(Duration::from_secs),
        Target::Post { fields, .. } => {
            let get = |name: &str| {
                fields
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.as_str())
            };
            let date = parse_amz_date(get("x-amz-date")?)?;
            let policy = {
                use base64::Engine;
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(get("policy")?)
                    .ok()?;
                serde_json::from_slice::<serde_json::Value>(&raw).ok()?
            };
            let exp = time::OffsetDateTime::parse(
                policy.get("expiration")?.as_str()?,
                &time::format_description::well_known::Rfc3339,
            )
            .ok()?;
            let secs = (exp - date).whole_milliseconds();
            (secs > 0).then(|| Duration::from_millis(secs as u64))
        }
    }
}

fn parse_amz_date(s: &str) -> Option<time::OffsetDateTime> {
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(s, &fmt)
        .ok()
        .map(|p| p.assume_utc())
}

/// The instant after which a target issued at `issued` should not be used any more. The signing
/// time has a resolution of one second, so up to a second of the validity may be gone already
/// when the URL arrives; a URL valid for less than two seconds gets no deadline (it is tried).
pub(crate) fn deadline(t: &Target, issued: Instant) -> Option<Instant> {
    let usable = validity(t)?.checked_sub(Duration::from_secs(1))?;
    if usable < Duration::from_secs(1) {
        return None;
    }
    let margin = (usable / 4).min(Duration::from_secs(5));
    Some(issued + usable - margin)
}

/// One attempt, within the total deadline of a transfer of this size.
async fn send_once(client: &Client, target: &Target, body: &Bytes) -> Result<(), ApiError> {
    let total = client.deadlines().transfer_total(body.len() as u64);
    match tokio::time::timeout(total, send_once_untimed(client, target, body)).await {
        Ok(r) => r,
        Err(_) => {
            let (method, url) = match target {
                Target::Put(u) => ("PUT", u),
                Target::Post { url, .. } => ("POST", url),
            };
            Err(ApiError::total_deadline(
                symship_api::Service::Storage,
                method,
                url,
                total,
            ))
        }
    }
}

async fn send_once_untimed(client: &Client, target: &Target, body: &Bytes) -> Result<(), ApiError> {
    let http = client.http();
    match target {
        Target::Put(url) => {
            let resp = http
                .put(url.clone())
                .body(reqwest::Body::from(body.clone()))
                .send()
                .await
                .map_err(|e| client.storage_error("PUT", url, e))?;
            check_storage_response("PUT", url, resp).await?;
        }
        Target::Post { url, fields } => {
            let mut form = reqwest::multipart::Form::new();
            for (k, v) in fields {
                form = form.text(k.clone(), v.clone());
            }
            let part = reqwest::multipart::Part::stream_with_length(
                reqwest::Body::from(body.clone()),
                body.len() as u64,
            )
            .file_name("file");
            form = form.part("file", part);
            let resp = http
                .post(url.clone())
                .multipart(form)
                .send()
                .await
                .map_err(|e| client.storage_error("POST", url, e))?;
            check_storage_response("POST", url, resp).await?;
        }
    }
    Ok(())
}

/// Counters the caller keeps per run.
pub(crate) struct TransferContext<'a> {
    pub client: &'a Client,
    /// Set once a fallback succeeded after primary transport failures.
    pub latch: &'a AtomicBool,
    /// Called once per HTTP attempt (for request counts).
    pub on_attempt: &'a (dyn Fn() + Send + Sync),
    /// Called with each failed attempt that will be tried again (for the concurrency limit).
    pub on_retry: &'a (dyn Fn(&ApiError) + Send + Sync),
    pub hosts: &'a Hosts,
}

/// What a transfer does with a 429 from object storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Throttle {
    /// Wait this long and send again, without using an attempt.
    Wait(Duration),
    /// The wait would outlive the presigned URL: start again with a fresh one.
    Refresh,
    /// Not a 429 with a `Retry-After`, or the wait would pass the transfer's `max_throttled`:
    /// the ordinary retry rules decide.
    Retry,
}

/// A 429 with a `Retry-After` is storage pacing this key: waited out (at least 1 s) without using
/// an attempt while the transfer's throttled time stays within `max_throttled` (10 minutes by
/// default), as an API call's is (`symship_api::Client::execute_capped`; issue 18: honour
/// `Retry-After` on every endpoint). Before, a transfer refused any `Retry-After` over the 60 s a
/// failed attempt may wait. `deadline`: when the presigned URL stops being usable.
fn throttle(
    status: Option<u16>,
    retry_after: Option<Duration>,
    throttled: Duration,
    max_throttled: Duration,
    now: Instant,
    deadline: Option<Instant>,
) -> Throttle {
    let (Some(429), Some(ra)) = (status, retry_after) else {
        return Throttle::Retry;
    };
    let wait = ra.max(Duration::from_secs(1));
    if throttled + wait > max_throttled {
        Throttle::Retry
    } else if deadline.is_some_and(|d| now + wait >= d) {
        Throttle::Refresh
    } else {
        Throttle::Wait(wait)
    }
}

fn is_expired(e: &ApiError) -> bool {
    // S3 answers 403 AccessDenied ("Request has expired", "Invalid according to Policy: Policy
    // expired") to a presigned request whose time is up. A fresh URL is the cure; a fresh URL
    // that is refused again fails the chunk (the caller limits re-starts).
    e.status() == Some(403)
}

/// Sends `body` to the started upload's target, with retries, rerouting and the latch.
pub(crate) async fn send(
    ctx: &TransferContext<'_>,
    started: &StartedUpload,
    issued: Instant,
    body: &Bytes,
    what: &str,
) -> Result<(), TransferError> {
    let (primary, fallback) = targets(started)?;
    let policy = ctx.client.retry_policy().clone();
    let mut on_fallback = fallback.is_some() && ctx.latch.load(Ordering::Relaxed);
    let mut primary_transport_failures = 0u32;
    let mut fallback_attempts = 0u32;
    let mut attempt = 0u32;
    let mut throttled = Duration::ZERO;
    loop {
        attempt += 1;
        let target = if on_fallback {
            fallback.as_ref().expect("only set with a fallback")
        } else {
            &primary
        };
        let host = host_of(target);
        let (reached, gate) = ctx.hosts.with(&host, |h| (h.reached, h.gate.clone()));
        let _first_contact = if reached {
            None
        } else {
            Some(gate.lock_owned().await)
        };
        if ctx.hosts.with(&host, |h| Hosts::dead(h)) {
            if !on_fallback && fallback.is_some() {
                on_fallback = true;
                primary_transport_failures = primary_transport_failures.max(2);
                continue;
            }
            return Err(TransferError::Unreachable { host });
        }
        if deadline(target, issued).is_some_and(|d| Instant::now() >= d) {
            return Err(TransferError::Expired {
                message: format!("the presigned URL for {what} expired before its transfer could start"),
                sent: false,
            });
        }
        (ctx.on_attempt)();
        if on_fallback {
            fallback_attempts += 1;
        }
        let err = match send_once(ctx.client, target, body).await {
            Ok(()) => {
                ctx.hosts.with(&host, |h| h.reached = true);
                if on_fallback && primary_transport_failures >= 2 {
                    ctx.latch.store(true, Ordering::Relaxed);
                }
                return Ok(());
            }
            Err(e) => e,
        };
        match throttle(
            err.status(),
            err.retry_after(),
            throttled,
            policy.max_throttled,
            Instant::now(),
            deadline(target, issued),
        ) {
            Throttle::Wait(wait) => {
                throttled += wait;
                attempt -= 1;
                if on_fallback {
                    fallback_attempts -= 1;
                }
                wait_again(ctx, what, attempt, policy.max_attempts, wait, true, &err).await;
                continue;
            }
            Throttle::Refresh => {
                return Err(TransferError::Expired {
                    message: format!("{err}; its Retry-After outlives the presigned URL"),
                    sent: false,
                });
            }
            Throttle::Retry => {}
        }
        if matches!(
            err,
            ApiError::Transport {
                kind: TransportKind::Connect,
                ..
            }
        ) {
            let dead = ctx.hosts.with(&host, |h| {
                h.failures += 1;
                h.last_error = err.to_string();
                Hosts::dead(h)
            });
            if dead && (fallback.is_none() || on_fallback) {
                return Err(TransferError::Unreachable { host });
            }
        }
        // Storage may refuse an expired URL by closing the connection before its 403 is read
        // (seen under load): a transport failure once the URL's validity has run out is treated
        // as the refusal it most likely is, so the chunk gets a fresh URL instead of retries of
        // a dead one.
        let outlived = || validity(target).is_some_and(|v| issued.elapsed() >= v);
        if is_expired(&err) || (err.is_transport() && outlived()) {
            return Err(TransferError::Expired {
                message: err.to_string(),
                sent: true,
            });
        }
        if !err.is_retryable() {
            return Err(TransferError::Failed(err));
        }
        if !on_fallback {
            if err.is_transport() {
                primary_transport_failures += 1;
            } else {
                primary_transport_failures = 0;
            }
            if fallback.is_some() && primary_transport_failures >= 2 {
                on_fallback = true;
            }
        }
        // Attempts: the policy's, but a switch to the fallback always gets two tries there.
        let done = if on_fallback && fallback.is_some() && primary_transport_failures >= 2 {
            fallback_attempts >= 2 && attempt >= policy.max_attempts
        } else {
            attempt >= policy.max_attempts
        };
        if done {
            return Err(TransferError::Failed(err));
        }
        let unit: f64 = rand::random();
        let Some(delay) = policy.delay(attempt, err.retry_after(), unit) else {
            return Err(TransferError::Failed(err));
        };
        wait_again(ctx, what, attempt, policy.max_attempts, delay, false, &err).await;
    }
}

/// Tells the limiter and the log that `err` is tried again after `delay` (`throttled`: storage's
/// 429 asked for it), then waits.
async fn wait_again(
    ctx: &TransferContext<'_>,
    what: &str,
    attempt: u32,
    max_attempts: u32,
    delay: Duration,
    throttled: bool,
    err: &ApiError,
) {
    (ctx.on_retry)(err);
    let msg = err.to_string();
    ctx.client.observer().on_retry(&RetryEvent {
        throttled,
        what,
        attempt,
        max_attempts,
        delay,
        from_retry_after: err.retry_after().is_some(),
        error: &msg,
    });
    tokio::time::sleep(delay).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storage_429_is_waited_out_within_max_throttled_or_gets_a_fresh_url() {
        let s = Duration::from_secs;
        let now = Instant::now();
        let max = s(600);
        // over the 60 s a failed attempt may wait, within the 10 minutes: waited
        assert_eq!(
            throttle(Some(429), Some(s(120)), s(0), max, now, None),
            Throttle::Wait(s(120))
        );
        assert_eq!(
            throttle(Some(429), Some(s(0)), s(0), max, now, None),
            Throttle::Wait(s(1))
        );
        assert_eq!(
            throttle(Some(429), Some(s(120)), s(480), max, now, None),
            Throttle::Wait(s(120))
        );
        // past the transfer's throttled time, no Retry-After, or not a 429: the retry rules
        assert_eq!(
            throttle(Some(429), Some(s(121)), s(480), max, now, None),
            Throttle::Retry
        );
        assert_eq!(throttle(Some(429), None, s(0), max, now, None), Throttle::Retry);
        assert_eq!(
            throttle(Some(503), Some(s(5)), s(0), max, now, None),
            Throttle::Retry
        );
        assert_eq!(throttle(None, None, s(0), max, now, None), Throttle::Retry);
        // a wait the presigned URL would not outlast: a fresh URL
        assert_eq!(
            throttle(Some(429), Some(s(120)), s(0), max, now, Some(now + s(60))),
            Throttle::Refresh
        );
        assert_eq!(
            throttle(Some(429), Some(s(30)), s(0), max, now, Some(now + s(60))),
            Throttle::Wait(s(30))
        );
    }

    #[test]
    fn put_validity_from_query() {
        let t = Target::Put(
            Url::parse(
                "http://127.0.0.1:9/b/k?X-Amz-Date=20261122T120000Z&X-Amz-Expires=300&X-Amz-Signature=x",
            )
            .unwrap(),
        );
        assert_eq!(validity(&t), Some(Duration::from_secs(300)));
        let now = Instant::now();
        assert_eq!(
            deadline(&t, now),
            Some(now + Duration::from_secs(294)),
            "a second of signing resolution and a 5 s margin"
        );
    }

    #[test]
    fn post_validity_from_policy() {
        use base64::Engine;
        let policy = base64::engine::general_purpose::STANDARD
            .encode(br#"{"expiration":"2026-11-22T12:00:02.000Z","conditions":[]}"#);
        let t = Target::Post {
            url: Url::parse("http://127.0.0.1:9/b").unwrap(),
            fields: vec![
                ("key".into(), "k".into()),
                ("x-amz-date".into(), "20261122T120000Z".into()),
                ("policy".into(), policy),
            ],
        };
        assert_eq!(validity(&t), Some(Duration::from_secs(2)));
        assert!(validity(&Target::Post {
            url: Url::parse("http://h/").unwrap(),
            fields: vec![]
        })
        .is_none());
    }

    #[test]
    fn refuses_non_http_urls() {
        let s: StartedUpload = serde_json::from_value(serde_json::json!({
            "symbol_set_id": "00000000-0000-0000-0000-000000000001",
            "presigned_url": {"url": "file:///etc/passwd", "fields": {}}
        }))
        .unwrap();
        assert!(matches!(targets(&s), Err(TransferError::BadUrl(_))));
    }
}
