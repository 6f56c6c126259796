//! What can go wrong talking to PostHog or to object storage.

use std::fmt;
use std::time::Duration;

use url::Url;

use crate::retry::Retryable;

/// Which server answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// The PostHog API (authenticated).
    Api,
    /// Object storage behind a presigned URL (S3 or compatible).
    Storage,
}

/// Why a transport (non-HTTP) failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    Connect,
    Timeout,
    /// The connection broke while sending or receiving (reset, closed early).
    Interrupted,
    /// Anything else reqwest reports (builder, redirect loop, ...); not retried.
    Other,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Connect => "could not connect",
            TransportKind::Timeout => "timed out",
            TransportKind::Interrupted => "connection interrupted",
            TransportKind::Other => "request failed",
        })
    }
}

/// Which deadline of a request ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// No connection in time.
    Connect,
    /// The server was silent for too long.
    Idle,
    /// The whole request, answer included, took too long (a server that trickles).
    Total,
}

impl Deadline {
    /// "connect deadline: no connection within 10 s", ... The duration is rounded for people
    /// (`60 s`, `59.7 s`, `0.5 s`): an attempt cut short by the retry budget has what was left
    /// of it, which is no round number.
    pub fn describe(self, after: Duration) -> String {
        let secs = seconds(after);
        match self {
            Deadline::Connect => format!("connect deadline: no connection within {secs} s"),
            Deadline::Idle => format!("idle deadline: the server sent nothing for {secs} s"),
            Deadline::Total => format!("total deadline: no complete answer within {secs} s"),
        }
    }
}

/// Seconds as people write them: one decimal at most from 1 s up (`60`, `59.7`, `1.5`), two below
/// (`0.5`, `0.25`), no trailing zeros.
fn seconds(d: Duration) -> String {
    let secs = d.as_secs_f64();
    let text = if secs >= 1.0 {
        format!("{secs:.1}")
    } else {
        format!("{secs:.2}")
    };
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

/// An HTTP error answer, with what the server said.
#[derive(Debug, Clone)]
pub struct HttpFailure {
    pub service: Service,
    pub method: String,
    /// The URL without query string for storage (presigned signatures) and never a token.
    pub url: String,
    pub status: u16,
    /// PostHog's `code` (`release_id_mismatch`, ...) or S3's `<Code>` (`SignatureDoesNotMatch`, ...).
    pub code: Option<String>,
    /// PostHog's `detail` or S3's `<Message>`.
    pub detail: Option<String>,
    /// PostHog's `type` (`validation_error`, `authentication_error`, ...).
    pub kind: Option<String>,
    /// PostHog's `attr`.
    pub attr: Option<String>,
    pub retry_after: Option<Duration>,
    /// The start of a body that was neither PostHog JSON nor S3 XML (for diagnosis).
    pub body_excerpt: Option<String>,
}

/// A failed call.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The server answered with a non-2xx status.
    #[error("{}", describe_http(.0))]
    Http(Box<HttpFailure>),
    /// No usable answer: connect error, timeout, reset.
    #[error("{method} {url}: {kind}: {message}")]
    Transport {
        service: Service,
        method: String,
        url: String,
        kind: TransportKind,
        /// reqwest's error chain without the URL.
        message: String,
    },
    /// A 2xx answer whose body was not what the protocol says.
    #[error("{method} {url}: unexpected response body: {reason}")]
    Decode {
        method: String,
        url: String,
        reason: String,
    },
    /// The answer's body is larger than this endpoint's answers can be; the rest was not read.
    #[error("{method} {url}: the answer is larger than {limit} bytes, which no answer of this endpoint can be; refusing to read more (is --host a PostHog instance, or is a proxy in the way?)")]
    TooLarge { method: String, url: String, limit: u64 },
    /// An id from the server (or caller) that is not safe to put into a URL.
    #[error("refusing to use {what} {value:?} in a URL: {reason}")]
    InvalidId {
        what: &'static str,
        value: String,
        reason: &'static str,
    },
}

impl ApiError {
    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Http(h) => Some(h.status),
            _ => None,
        }
    }

    /// PostHog's error `code`, or the S3 error code for storage failures.
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Http(h) => h.code.as_deref(),
            _ => None,
        }
    }

    /// PostHog's `detail` or S3's message.
    pub fn detail(&self) -> Option<&str> {
        match self {
            ApiError::Http(h) => h.detail.as_deref(),
            _ => None,
        }
    }

    /// The failed HTTP answer, if any.
    pub fn http(&self) -> Option<&HttpFailure> {
        match self {
            ApiError::Http(h) => Some(h),
            _ => None,
        }
    }

    /// True for a PostHog error with this code (checking `detail` too, like posthog-cli's
    /// `has_api_error_code` body fallback, for older servers without codes).
    pub fn has_code(&self, code: &str) -> bool {
        match self {
            ApiError::Http(h) => {
                h.code.as_deref() == Some(code)
                    || h.detail.as_deref().is_some_and(|d| d.contains(code))
                    || h.body_excerpt.as_deref().is_some_and(|b| b.contains(code))
            }
            _ => false,
        }
    }

    /// Transient: connect, reset, timeout, 408, 429, 5xx.
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Http(h) => is_retryable_status(h.status),
            ApiError::Transport { kind, .. } => *kind != TransportKind::Other,
            ApiError::Decode { .. } | ApiError::InvalidId { .. } | ApiError::TooLarge { .. } => false,
        }
    }

    /// Whether the failure was a transport-level one (connect error or reset), as opposed
    /// to an HTTP answer. posthog-cli reroutes to fallback storage URLs only on these.
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            ApiError::Transport {
                kind: TransportKind::Connect | TransportKind::Interrupted | TransportKind::Timeout,
                ..
            }
        )
    }

    /// A reqwest failure. A timeout says which deadline (connect or idle) ran out.
    pub(crate) fn transport(
        service: Service,
        method: &str,
        url: &Url,
        err: reqwest::Error,
        deadlines: &crate::config::Deadlines,
    ) -> ApiError {
        let timeout = err.is_timeout();
        let kind = if err.is_connect() {
            TransportKind::Connect
        } else if timeout {
            TransportKind::Timeout
        } else if err.is_request() || err.is_body() || err.is_decode() {
            TransportKind::Interrupted
        } else {
            TransportKind::Other
        };
        let chain = error_chain(&err.without_url());
        let message = match (timeout, kind) {
            (true, TransportKind::Connect) => {
                format!("{} ({chain})", Deadline::Connect.describe(deadlines.connect))
            }
            (true, _) => format!("{} ({chain})", Deadline::Idle.describe(deadlines.idle)),
            _ => chain,
        };
        ApiError::Transport {
            service,
            method: method.to_owned(),
            url: display_url(service, url),
            kind,
            message,
        }
    }

    /// The total deadline of a request ran out.
    pub fn total_deadline(service: Service, method: &str, url: &Url, after: Duration) -> ApiError {
        ApiError::Transport {
            service,
            method: method.to_owned(),
            url: display_url(service, url),
            kind: TransportKind::Timeout,
            message: Deadline::Total.describe(after),
        }
    }
}

impl Retryable for ApiError {
    fn is_retryable(&self) -> bool {
        ApiError::is_retryable(self)
    }
    fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Http(h) => h.retry_after,
            _ => None,
        }
    }
}

/// 408, 429 and 5xx.
pub fn is_retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..600).contains(&status)
}

/// A URL fit for messages: storage URLs lose their query (it holds the signature).
pub fn display_url(service: Service, url: &Url) -> String {
    match service {
        Service::Api => crate::config::redact_url_keep_query(url),
        Service::Storage => crate::config::redact_url(url),
    }
}

fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

fn describe_http(h: &HttpFailure) -> String {
    let mut out = format!("{} {}: HTTP {}", h.method, h.url, h.status);
    if let Some(code) = &h.code {
        out.push_str(&format!(" ({code})"));
    }
    match (&h.detail, &h.body_excerpt) {
        (Some(d), _) => out.push_str(&format!(": {d}")),
        (None, Some(b)) => out.push_str(&format!(": {b}")),
        _ => {}
    }
    if let Some(attr) = &h.attr {
        out.push_str(&format!(" [field {attr}]"));
    }
    if let Some(hint) = hint(h) {
        out.push_str(" — ");
        out.push_str(hint);
    }
    out
}

fn hint(h: &HttpFailure) -> Option<&'static str> {
    match (h.service, h.status) {
        (Service::Api, 401) => Some(
            "the personal API key was rejected: check POSTHOG_CLI_API_KEY (or the credentials file) holds a valid, unrevoked phx_ key for this host",
        ),
        (Service::Api, 403) => Some(
            "the key is not allowed to do this: give it the error_tracking:write scope (error_tracking:read for listing) and access to this project",
        ),
        (Service::Api, 404) => Some("not found: check the project id (POSTHOG_CLI_PROJECT_ID) and the host (POSTHOG_CLI_HOST or --host)"),
        (Service::Api, 413) => Some("the request is too large for a proxy in front of PostHog"),
        (_, 429) => Some("rate limited by the server"),
        (Service::Storage, 403) => Some("object storage refused the presigned request (expired or tampered URL, or a clock skew)"),
        _ => None,
    }
}

/// The fields of a PostHog error body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PosthogErrorBody {
    pub kind: Option<String>,
    pub code: Option<String>,
    pub detail: Option<String>,
    pub attr: Option<String>,
}

/// Parse a PostHog (drf-exceptions-hog) error body: `{"type","code","detail","attr"}`.
/// Plain DRF `{"detail": "..."}` works too.
pub fn parse_posthog_error(body: &[u8]) -> Option<PosthogErrorBody> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let obj = v.as_object()?;
    let s = |k: &str| match obj.get(k) {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    };
    let (kind, code, detail, attr) = (s("type"), s("code"), s("detail"), s("attr"));
    if kind.is_none() && code.is_none() && detail.is_none() {
        return None;
    }
    Some(PosthogErrorBody {
        kind,
        code,
        detail,
        attr,
    })
}

/// Parse an S3 error body: `<Error><Code>..</Code><Message>..</Message></Error>`.
pub fn parse_s3_error(body: &[u8]) -> Option<(String, Option<String>)> {
    let text = std::str::from_utf8(body).ok()?;
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let start = text.find(&open)? + open.len();
        let end = start + text[start..].find(&close)?;
        Some(xml_unescape(text[start..end].trim()))
    };
    let code = tag("Code")?;
    Some((code, tag("Message")))
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Parse `Retry-After` in either form HTTP allows: delta-seconds, or an HTTP-date (as a proxy or
/// CDN in front of PostHog or the object store may send), counted from now; a date already past
/// means "now".
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    retry_after_at(value, std::time::SystemTime::now())
}

fn retry_after_at(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Build the error for a non-2xx answer.
pub(crate) fn http_failure(
    service: Service,
    method: &str,
    url: &Url,
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> ApiError {
    let mut f = HttpFailure {
        service,
        method: method.to_owned(),
        url: display_url(service, url),
        status,
        code: None,
        detail: None,
        kind: None,
        attr: None,
        retry_after,
        body_excerpt: None,
    };
    if let Some(p) = parse_posthog_error(body) {
        (f.kind, f.code, f.detail, f.attr) = (p.kind, p.code, p.detail, p.attr);
    } else if let Some((code, message)) = parse_s3_error(body) {
        (f.code, f.detail) = (Some(code), message);
    } else if !body.is_empty() {
        let text = String::from_utf8_lossy(body);
        let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let excerpt: String = one_line.chars().take(300).collect();
        f.body_excerpt = Some(excerpt);
    }
    ApiError::Http(Box::new(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_printed_in_round_seconds() {
        // An attempt cut short by the retry budget once printed "59.689311673 s".
        assert_eq!(
            Deadline::Total.describe(Duration::from_secs_f64(59.689_311_673)),
            "total deadline: no complete answer within 59.7 s"
        );
        assert_eq!(
            Deadline::Total.describe(Duration::from_secs(60)),
            "total deadline: no complete answer within 60 s"
        );
        assert_eq!(
            Deadline::Connect.describe(Duration::from_secs(10)),
            "connect deadline: no connection within 10 s"
        );
        assert_eq!(
            Deadline::Idle.describe(Duration::from_millis(500)),
            "idle deadline: the server sent nothing for 0.5 s"
        );
        assert_eq!(
            Deadline::Total.describe(Duration::from_millis(1_500)),
            "total deadline: no complete answer within 1.5 s"
        );
        assert_eq!(seconds(Duration::from_millis(250)), "0.25");
        assert_eq!(seconds(Duration::ZERO), "0");
    }

    #[test]
    fn parses_posthog_error_bodies() {
        let body = br#"{"type":"validation_error","code":"release_id_mismatch","detail":"Symbol set x already has a release ID","attr":null}"#;
        let url = Url::parse("http://127.0.0.1:1/api/projects/1/x").unwrap();
        let e = http_failure(Service::Api, "POST", &url, 400, None, body);
        assert_eq!(e.code(), Some("release_id_mismatch"));
        assert_eq!(e.detail(), Some("Symbol set x already has a release ID"));
        assert_eq!(e.status(), Some(400));
        assert!(!e.is_retryable());
        assert!(e.has_code("release_id_mismatch"));
        let msg = e.to_string();
        assert!(
            msg.contains("HTTP 400 (release_id_mismatch): Symbol set x already has a release ID"),
            "{msg}"
        );
    }

    #[test]
    fn parses_s3_error_and_hides_the_signature() {
        let body = b"<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error>";
        let url =
            Url::parse("http://127.0.0.1:9/bucket/key?X-Amz-Signature=abcdef&X-Amz-Credential=AKID").unwrap();
        let e = http_failure(Service::Storage, "PUT", &url, 403, None, body);
        assert_eq!(e.code(), Some("SignatureDoesNotMatch"));
        let msg = e.to_string();
        assert!(!msg.contains("abcdef") && !msg.contains("AKID"), "{msg}");
        assert!(msg.contains("http://127.0.0.1:9/bucket/key"), "{msg}");
    }

    #[test]
    fn retryable_statuses() {
        for s in [408, 429, 500, 502, 503, 504, 599] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [400, 401, 403, 404, 409, 413, 422] {
            assert!(!is_retryable_status(s), "{s}");
        }
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        // the HTTP-date form, in the three formats HTTP readers accept, counted from "now"
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        for later in [
            "Wed, 21 Oct 2015 07:28:30 GMT",
            "Wednesday, 21-Oct-15 07:28:30 GMT",
            "Wed Oct 21 07:28:30 2015",
        ] {
            assert_eq!(
                retry_after_at(later, now),
                Some(Duration::from_secs(30)),
                "{later}"
            );
        }
        assert_eq!(
            retry_after_at("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO),
            "a date already past: retry now"
        );
        assert_eq!(retry_after_at("soon", now), None);
        assert_eq!(retry_after_at("-5", now), None);
    }

    #[test]
    fn unknown_bodies_are_excerpted() {
        let url = Url::parse("http://h/x").unwrap();
        let e = http_failure(
            Service::Api,
            "GET",
            &url,
            502,
            None,
            b"<html>\n<body>Bad   gateway</body></html>",
        );
        assert_eq!(e.code(), None);
        assert!(e.is_retryable());
        assert!(e.to_string().contains("<html> <body>Bad gateway</body></html>"));
    }
}
