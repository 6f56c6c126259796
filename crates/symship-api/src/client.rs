//! The HTTP client: one connection pool for the API and for presigned transfers.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use url::Url;

use crate::config::{Config, ConfigError, Deadlines, NetworkConfig};
use crate::error::{display_url, http_failure, parse_retry_after, ApiError, Service};
use crate::retry::{retry, RetryObserver, RetryPolicy, TracingRetryObserver};
use crate::urls::project_url;

/// The largest answer body read from a JSON endpoint of the API (a `bulk_start_upload` answer
/// for 1000 chunks with fallback URLs is about 4 MiB); more is refused, not read.
pub const MAX_API_BODY: u64 = 16 * 1024 * 1024;
/// The part of an error answer read (for its code and detail); the rest is not read.
pub const MAX_ERROR_BODY: u64 = 64 * 1024;

/// Build the reqwest client every symship request goes through: user agent, connect and
/// read (idle) timeouts (the total deadline is applied per request, as it depends on the
/// request), platform + webpki roots plus extra CA bundles,
/// `--skip-ssl-verification`, and the proxies from the environment. It never carries an
/// `Authorization` header by itself, so it is safe for presigned URLs.
pub fn build_http_client(net: &NetworkConfig) -> Result<reqwest::Client, ConfigError> {
    let mut b = reqwest::Client::builder()
        .user_agent(net.user_agent.clone())
        .connect_timeout(net.connect_timeout)
        .read_timeout(net.read_timeout)
        .tls_built_in_root_certs(true)
        .danger_accept_invalid_certs(net.skip_ssl_verification)
        // Proxies come from our own (injectable) reading of the environment, below.
        .no_proxy();
    for ca in &net.ca_certs {
        let err = |reason: String| ConfigError::CaCert {
            path: ca.value.clone(),
            origin: ca.source.clone(),
            reason,
        };
        let pem = std::fs::read(&ca.value).map_err(|e| err(e.to_string()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| err(e.to_string()))?;
        if certs.is_empty() {
            return Err(err(
                "it holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into()
            ));
        }
        for cert in certs {
            b = b.add_root_certificate(cert);
        }
    }
    let no_proxy = || {
        net.proxy
            .no_proxy
            .as_ref()
            .and_then(|n| reqwest::NoProxy::from_string(&n.value))
    };
    let proxy_err = |var: &'static str, e: reqwest::Error| ConfigError::Proxy {
        var,
        reason: e.to_string(),
    };
    if let Some(p) = &net.proxy.https {
        let var = env_name(&p.source);
        b = b.proxy(
            reqwest::Proxy::https(p.value.as_str())
                .map_err(|e| proxy_err(var, e))?
                .no_proxy(no_proxy()),
        );
    }
    if let Some(p) = &net.proxy.http {
        let var = env_name(&p.source);
        b = b.proxy(
            reqwest::Proxy::http(p.value.as_str())
                .map_err(|e| proxy_err(var, e))?
                .no_proxy(no_proxy()),
        );
    }
    b.build().map_err(|e| ConfigError::HttpClient(e.to_string()))
}

fn env_name(source: &crate::config::Source) -> &'static str {
    match source {
        crate::config::Source::Env(v) => v,
        _ => "proxy setting",
    }
}

/// A sliding-window limit of requests per minute (posthog-cli's `--rate-limit`).
#[derive(Debug)]
pub struct RateLimiter {
    limit: usize,
    window: Duration,
    sent: tokio::sync::Mutex<VecDeque<Instant>>,
}

impl RateLimiter {
    /// `per_minute` requests in any 60 s window.
    pub fn per_minute(per_minute: u32) -> RateLimiter {
        RateLimiter::new(per_minute, Duration::from_secs(60))
    }

    /// `limit` requests in any `window`.
    pub fn new(limit: u32, window: Duration) -> RateLimiter {
        RateLimiter {
            limit: limit.max(1) as usize,
            window,
            sent: tokio::sync::Mutex::new(VecDeque::new()),
        }
    }

    /// Wait until one more request fits in the window, and count it. Waiters are served in order.
    pub async fn acquire(&self) {
        let mut sent = self.sent.lock().await;
        loop {
            let now = Instant::now();
            while sent
                .front()
                .is_some_and(|t| now.duration_since(*t) >= self.window)
            {
                sent.pop_front();
            }
            if sent.len() < self.limit {
                sent.push_back(now);
                return;
            }
            let oldest = *sent.front().expect("full window is not empty");
            let wait = self.window.saturating_sub(now.duration_since(oldest));
            tracing::debug!(
                "client-side rate limit reached; waiting {:.1} s",
                wait.as_secs_f64()
            );
            tokio::time::sleep(wait).await;
        }
    }
}

/// The PostHog API client. Cheap to clone (shared pool, limiter and observer).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    host: Url,
    project_id: u64,
    auth: HeaderValue,
    retry: RetryPolicy,
    observer: Arc<dyn RetryObserver>,
    limiter: Option<Arc<RateLimiter>>,
    /// No API request goes out before this instant: the end of the last `Retry-After` a 429
    /// asked for, shared by every clone so that concurrent calls wait together.
    paused_until: Arc<std::sync::Mutex<Option<Instant>>>,
    deadlines: Deadlines,
}

/// The least wait after a 429: DRF writes `Retry-After` in whole seconds rounded down, so `0`
/// means "within a second".
const MIN_THROTTLE_WAIT: Duration = Duration::from_secs(1);

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("host", &self.host.as_str())
            .field("project_id", &self.project_id)
            .field("auth", &"Bearer phx_…(redacted)")
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for the resolved configuration.
    pub fn new(config: &Config) -> Result<Client, ConfigError> {
        let http = build_http_client(&config.network)?;
        Client::with_http(config, http)
    }

    /// A client over an existing reqwest client (its TLS and proxy settings are kept).
    pub fn with_http(config: &Config, http: reqwest::Client) -> Result<Client, ConfigError> {
        let token = &config.credentials.token;
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.value.expose())).map_err(|_| {
            ConfigError::NotPersonalKey {
                origin: token.source.clone(),
            }
        })?;
        auth.set_sensitive(true);
        Ok(Client {
            http,
            host: config.host.value.clone(),
            project_id: config.credentials.project_id.value,
            auth,
            retry: config.network.retry.clone(),
            observer: Arc::new(TracingRetryObserver),
            limiter: config
                .network
                .rate_limit_per_minute
                .map(|n| Arc::new(RateLimiter::per_minute(n))),
            paused_until: Arc::default(),
            deadlines: config.network.deadlines(),
        })
    }

    /// The connect, idle and total deadlines of this client's requests.
    pub fn deadlines(&self) -> Deadlines {
        self.deadlines
    }

    /// A transport error on a presigned-storage request (URL query, which holds the signature,
    /// dropped), naming the deadline that ran out, if one did.
    pub fn storage_error(&self, method: &str, url: &Url, err: reqwest::Error) -> ApiError {
        ApiError::transport(Service::Storage, method, url, err, &self.deadlines)
    }

    /// Replace the retry observer (progress bars, tests).
    pub fn with_observer(mut self, observer: Arc<dyn RetryObserver>) -> Client {
        self.observer = observer;
        self
    }

    /// Replace the retry policy.
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Client {
        self.retry = policy;
        self
    }

    /// The unauthenticated HTTP client (same pool, TLS and proxies) for presigned URLs.
    /// Requests built on it never carry the API key.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn host(&self) -> &Url {
        &self.host
    }

    pub fn project_id(&self) -> u64 {
        self.project_id
    }

    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    pub fn observer(&self) -> &dyn RetryObserver {
        self.observer.as_ref()
    }

    /// A shared handle on the observer, for other crates' retries.
    pub fn observer_arc(&self) -> Arc<dyn RetryObserver> {
        self.observer.clone()
    }

    /// `{host}/api/projects/{id}/error_tracking/{segments...}` (host path prefix kept).
    pub fn project_url(&self, segments: &[&str]) -> Url {
        project_url(&self.host, self.project_id, segments)
    }

    /// Send one API request with retries; returns the status and body of a 2xx answer (at most
    /// [`MAX_API_BODY`] bytes).
    pub async fn execute(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, bytes::Bytes), ApiError> {
        self.execute_capped(method, url, body, MAX_API_BODY).await
    }

    /// [`Client::execute`] with the largest answer body this endpoint can send. Every attempt
    /// has the total deadline, shortened to what is left of the retry policy's `max_total`.
    ///
    /// A 429 with a `Retry-After` is waited out (at least [`MIN_THROTTLE_WAIT`]) and sent again
    /// without using an attempt, while the call's waits stay within the policy's
    /// `max_throttled` (10 minutes by default: a throttled call is paced, not failed; PostHog
    /// throttles symbol-set endpoints per key, spec §2.6); every API call of this client (and
    /// its clones) waits until then too. A 429 without `Retry-After`, or asking for more than is
    /// left of that time, is the answer. The client-side `--rate-limit` counts each request sent.
    pub async fn execute_capped(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        max_body: u64,
    ) -> Result<(u16, bytes::Bytes), ApiError> {
        let shown = display_url(Service::Api, &url);
        let what = format!("{method} {shown}");
        let body = body.map(bytes::Bytes::from);
        let started = Instant::now();
        let throttled = std::sync::Mutex::new(Duration::ZERO);
        let throttled = &throttled;
        let what = &what;
        retry(&self.retry, self.observer.as_ref(), what, |attempt| {
            let (method, url, body) = (method.clone(), url.clone(), body.clone());
            async move {
                loop {
                    self.wait_for_pause().await;
                    if let Some(limiter) = &self.limiter {
                        limiter.acquire().await;
                    }
                    let waited = *throttled.lock().expect("lock");
                    let left = self
                        .retry
                        .max_total
                        .saturating_sub(started.elapsed().saturating_sub(waited));
                    let total = self.deadlines.total.min(left.max(Duration::from_secs(1)));
                    let m = method.as_str().to_owned();
                    let r = match tokio::time::timeout(
                        total,
                        self.attempt(method.clone(), url.clone(), body.clone(), attempt, max_body),
                    )
                    .await
                    {
                        Ok(r) => r,
                        Err(_) => Err(ApiError::total_deadline(Service::Api, &m, &url, total)),
                    };
                    let (err, retry_after) = match r {
                        Err(ApiError::Http(h)) if h.status == 429 => {
                            let ra = h.retry_after;
                            (ApiError::Http(h), ra)
                        }
                        other => return other,
                    };
                    let wait = match retry_after {
                        Some(ra) => ra.max(MIN_THROTTLE_WAIT),
                        None => return Err(err),
                    };
                    {
                        let mut t = throttled.lock().expect("lock");
                        if *t + wait > self.retry.max_throttled {
                            return Err(err);
                        }
                        *t += wait;
                    }
                    self.pause_for(wait);
                    let msg = err.to_string();
                    self.observer.on_retry(&crate::retry::RetryEvent {
                        throttled: true,
                        what,
                        attempt,
                        max_attempts: self.retry.max_attempts,
                        delay: wait,
                        from_retry_after: true,
                        error: &msg,
                    });
                }
            }
        })
        .await
    }

    /// Holds every API call of this client back for `wait` from now (or longer, if a pause
    /// already runs longer).
    fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut p = self.paused_until.lock().expect("pause lock");
        if p.is_none_or(|t| t < until) {
            *p = Some(until);
        }
    }

    async fn wait_for_pause(&self) {
        let until = *self.paused_until.lock().expect("pause lock");
        if let Some(t) = until {
            tokio::time::sleep_until(t.into()).await;
        }
    }

    async fn attempt(
        &self,
        method: Method,
        url: Url,
        body: Option<bytes::Bytes>,
        attempt: u32,
        max_body: u64,
    ) -> Result<(u16, bytes::Bytes), ApiError> {
        let m = method.as_str().to_owned();
        let mut req = self
            .http
            .request(method, url.clone())
            .header(AUTHORIZATION, self.auth.clone())
            .header(ACCEPT, "application/json");
        if let Some(b) = body {
            req = req.header(CONTENT_TYPE, "application/json").body(b);
        }
        let started = Instant::now();
        let resp = req
            .send()
            .await
            .map_err(|e| ApiError::transport(Service::Api, &m, &url, e, &self.deadlines))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let ok = (200..300).contains(&status);
        let read = if ok {
            read_body(resp, max_body).await
        } else {
            read_prefix(resp, MAX_ERROR_BODY)
                .await
                .map_err(BodyError::Transport)
        };
        let bytes = read.map_err(|e| match e {
            BodyError::Transport(e) => ApiError::transport(Service::Api, &m, &url, e, &self.deadlines),
            BodyError::TooLarge => ApiError::TooLarge {
                method: m.clone(),
                url: display_url(Service::Api, &url),
                limit: max_body,
            },
        })?;
        tracing::debug!(
            "{m} {} -> {status} ({} bytes, {} ms, attempt {attempt})",
            display_url(Service::Api, &url),
            bytes.len(),
            started.elapsed().as_millis()
        );
        if !ok {
            return Err(http_failure(Service::Api, &m, &url, status, retry_after, &bytes));
        }
        Ok((status, bytes))
    }

    /// Send JSON, decode JSON (an answer of at most [`MAX_API_BODY`] bytes).
    pub async fn send_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<T, ApiError> {
        self.send_json_capped(method, url, body, MAX_API_BODY).await
    }

    /// Send JSON, decode JSON of an answer of at most `max_body` bytes.
    pub async fn send_json_capped<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
        max_body: u64,
    ) -> Result<T, ApiError> {
        let m = method.as_str().to_owned();
        let bytes = match body {
            Some(b) => Some(serde_json::to_vec(b).map_err(|e| ApiError::Decode {
                method: m.clone(),
                url: display_url(Service::Api, &url),
                reason: format!("could not serialize the request: {e}"),
            })?),
            None => None,
        };
        let (_, resp) = self.execute_capped(method, url.clone(), bytes, max_body).await?;
        decode(&m, &url, &resp)
    }

    /// Send a request whose answer body is ignored (204 and friends).
    pub async fn send_no_content<B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<u16, ApiError> {
        let bytes = body.map(|b| serde_json::to_vec(b).expect("request bodies serialize"));
        let (status, _) = self.execute_capped(method, url, bytes, MAX_ERROR_BODY).await?;
        Ok(status)
    }
}

/// Why an answer body was not read whole.
#[derive(Debug)]
pub enum BodyError {
    Transport(reqwest::Error),
    /// Over the cap (declared in `Content-Length`, or counted while reading).
    TooLarge,
}

/// The whole body, refused once it is over `cap` bytes (before reading anything when the
/// server declares a larger `Content-Length`): memory stays bounded whatever the server sends.
pub async fn read_body(mut resp: reqwest::Response, cap: u64) -> Result<bytes::Bytes, BodyError> {
    if resp.content_length().is_some_and(|n| n > cap) {
        return Err(BodyError::TooLarge);
    }
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transport)? {
        if (buf.len() + chunk.len()) as u64 > cap {
            return Err(BodyError::TooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// At most the first `cap` bytes of the body (an error answer: its start says what went
/// wrong); the rest is not read.
pub async fn read_prefix(mut resp: reqwest::Response, cap: u64) -> Result<bytes::Bytes, reqwest::Error> {
    let mut buf = bytes::BytesMut::new();
    while (buf.len() as u64) < cap {
        match resp.chunk().await? {
            Some(chunk) => {
                let room = (cap as usize).saturating_sub(buf.len());
                buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            None => break,
        }
    }
    Ok(buf.freeze())
}

/// Decode a JSON body, naming the URL on failure.
pub fn decode<T: DeserializeOwned>(method: &str, url: &Url, body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::Decode {
        method: method.to_owned(),
        url: display_url(Service::Api, url),
        reason: e.to_string(),
    })
}

/// Turn a presigned-storage answer into an error unless it is 2xx (S3 XML error code parsed).
pub async fn check_storage_response(
    method: &str,
    url: &Url,
    resp: reqwest::Response,
) -> Result<reqwest::Response, ApiError> {
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(resp);
    }
    let retry_after = resp
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let body = read_prefix(resp, MAX_ERROR_BODY).await.unwrap_or_default();
    Err(http_failure(
        Service::Storage,
        method,
        url,
        status,
        retry_after,
        &body,
    ))
}

/// A transport error on a presigned-storage request (URL query, which holds the signature,
/// dropped). [`Client::storage_error`] names the client's own deadlines; this one the defaults.
pub fn storage_transport_error(method: &str, url: &Url, err: reqwest::Error) -> ApiError {
    ApiError::transport(Service::Storage, method, url, err, &Deadlines::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_nested_absurdly_deep_are_refused_without_recursion() {
        // serde_json stops at 128 levels; a crash here would be a stack overflow.
        let deep = format!(r#"{{"id_map":{}{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
        let url = Url::parse("http://h/api/x").unwrap();
        let r: Result<crate::models::BulkStartResponse, _> = decode("POST", &url, deep.as_bytes());
        assert!(matches!(r, Err(ApiError::Decode { .. })), "{r:?}");
        let r: Result<serde_json::Value, _> = decode("POST", &url, deep.as_bytes());
        assert!(r.is_err());
        assert!(crate::error::parse_posthog_error(deep.as_bytes()).is_none());
        let e = http_failure(Service::Api, "POST", &url, 400, None, deep.as_bytes());
        assert!(e.to_string().len() < 1000, "only an excerpt is kept");
    }

    #[tokio::test]
    async fn rate_limiter_spaces_requests_beyond_the_limit() {
        let l = RateLimiter::new(3, Duration::from_millis(200));
        let start = Instant::now();
        for _ in 0..3 {
            l.acquire().await;
        }
        assert!(
            start.elapsed() < Duration::from_millis(100),
            "first 3 pass at once"
        );
        l.acquire().await;
        assert!(
            start.elapsed() >= Duration::from_millis(200),
            "4th waits for the window: {:?}",
            start.elapsed()
        );
    }
}
