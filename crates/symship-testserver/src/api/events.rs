//! Events: the capture endpoints posthog-js and @posthog/core post to, and the events API that
//! reads them back (kinds-and-explain.md §4.3 and §4.5), so `sourcemap explain` runs locally.
//!
//! Capture (`POST /e/`, `/i/v0/e/`, `/batch/`, `/capture/`; no personal key, the project token is
//! in the body): a batch `{"api_key","batch":[...],"sent_at"}`, a list of events, or one event;
//! encoded as plain JSON, as gzip (`Content-Encoding: gzip`, the `compression=gzip-js|gzip`
//! query parameter, or gzip's magic bytes: posthog-js drops the parameter), or as the base64
//! form `data=<urlencoded base64 JSON>` (`compression=base64` or a form content type). The token
//! is `api_key`, else the event's `api_key` or `properties.token`; an unknown one is 401.
//!
//! Events API (`query:read`): `GET /api/{projects|environments}/{id}/events/{uuid}/` and the list
//! `GET .../events/?event=&limit=` (newest first, `{"next":null,"results":[...]}`).

use std::io::Read as _;

use http::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{Reply, ViewResult};
use crate::errors::ApiError;
use crate::server::Shared;
use crate::state::{fmt_time, now, StoredEvent};

/// The capture paths this server accepts (posthog-js's default `/e/`, the documented `/i/v0/e/`
/// and `/batch/`, the legacy `/capture/`), with or without a trailing slash.
pub fn is_capture_path(path: &str) -> bool {
    matches!(
        path.trim_end_matches('/'),
        "/e" | "/i/v0/e" | "/batch" | "/capture"
    )
}

/// Largest decompressed capture body (PostHog's ingestion limit is 20 MB per request).
const MAX_CAPTURE_BODY: u64 = 20 * 1024 * 1024;

fn capture_error(status: StatusCode, code: &str, detail: &str) -> ApiError {
    ApiError {
        status,
        body: json!({"type": "authentication_error", "code": code, "detail": detail, "attr": null}),
        headers: Vec::new(),
    }
}

/// Decodes a capture body into its JSON value, as PostHog's capture service reads the
/// encodings posthog-js sends.
pub fn decode_capture(
    query: &[(String, String)],
    content_type: &str,
    content_encoding: &str,
    body: &[u8],
) -> Result<Value, String> {
    let compression = query
        .iter()
        .find(|(k, _)| k == "compression")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    let gzip = content_encoding.eq_ignore_ascii_case("gzip")
        || matches!(compression, "gzip" | "gzip-js")
        || body.starts_with(&[0x1f, 0x8b]);
    let mut bytes = body.to_vec();
    if gzip {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body)
            .take(MAX_CAPTURE_BODY + 1)
            .read_to_end(&mut out)
            .map_err(|e| format!("the gzip body does not decompress: {e}"))?;
        if out.len() as u64 > MAX_CAPTURE_BODY {
            return Err("the decompressed body is over 20 MB".into());
        }
        bytes = out;
    }
    let form = content_type
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded");
    if compression == "base64" || form {
        let data = url::form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == "data")
            .map(|(_, v)| v.into_owned())
            .ok_or("a form body without a data field")?;
        use base64::Engine as _;
        bytes = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|e| format!("the data field is not base64: {e}"))?;
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("the body is not JSON: {e}"))
}

/// Handles one capture request: stores its events and answers `{"status": 1}`.
pub fn capture(
    shared: &Shared,
    query: &[(String, String)],
    content_type: &str,
    content_encoding: &str,
    body: &[u8],
) -> ViewResult {
    let value = decode_capture(query, content_type, content_encoding, body)
        .map_err(|e| ApiError::validation("invalid_payload", format!("Malformed request data: {e}")))?;
    let (api_key, events) = match value {
        Value::Object(mut o) if o.contains_key("batch") => {
            let key = o.get("api_key").and_then(Value::as_str).map(str::to_owned);
            match o.remove("batch") {
                Some(Value::Array(b)) => (key, b),
                _ => return Err(ApiError::validation("invalid_payload", "batch is not a list")),
            }
        }
        Value::Array(a) => (None, a),
        v @ Value::Object(_) => (None, vec![v]),
        _ => {
            return Err(ApiError::validation(
                "invalid_payload",
                "expected an event, a list or a batch",
            ))
        }
    };
    let token = shared.state.lock().expect("state lock").project_token.clone();
    let mut stored = Vec::with_capacity(events.len());
    for e in events {
        let key = api_key
            .clone()
            .or_else(|| e.get("api_key").and_then(Value::as_str).map(str::to_owned))
            .or_else(|| {
                e.pointer("/properties/token")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
        match key {
            None => {
                return Err(capture_error(
                    StatusCode::UNAUTHORIZED,
                    "missing_api_key",
                    "API key not provided. You can find your project API key in PostHog project settings.",
                ))
            }
            Some(k) if k != token => {
                return Err(capture_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_api_key",
                    "Project API key invalid. You can find your project API key in PostHog project settings.",
                ))
            }
            Some(_) => {}
        }
        let Some(name) = e.get("event").and_then(Value::as_str) else {
            return Err(ApiError::validation(
                "invalid_payload",
                "an event without \"event\"",
            ));
        };
        let properties = e.get("properties").cloned().unwrap_or_else(|| json!({}));
        let distinct_id = e
            .get("distinct_id")
            .or_else(|| properties.get("distinct_id"))
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_default();
        let uuid = e
            .get("uuid")
            .and_then(Value::as_str)
            .and_then(|u| Uuid::parse_str(u).ok())
            .unwrap_or_else(Uuid::now_v7);
        let timestamp = e
            .get("timestamp")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| fmt_time(now()));
        stored.push(StoredEvent {
            uuid,
            event: name.to_owned(),
            distinct_id,
            properties,
            timestamp,
        });
    }
    shared.mutate(|st| st.events.extend(stored));
    Ok(Reply::json(StatusCode::OK, json!({"status": 1})))
}

fn event_json(e: &StoredEvent) -> Value {
    json!({
        "id": e.uuid,
        "distinct_id": e.distinct_id,
        "properties": e.properties,
        "event": e.event,
        "timestamp": e.timestamp,
        "person": null,
        "elements": [],
        "elements_chain": "",
    })
}

/// `GET events/{id}/`.
pub fn retrieve(shared: &Shared, id: &str) -> ViewResult {
    let Ok(uuid) = Uuid::parse_str(id) else {
        return Err(ApiError::validation("invalid", "Invalid UUID"));
    };
    let st = shared.state.lock().expect("state lock");
    match st.events.iter().find(|e| e.uuid == uuid) {
        Some(e) => Ok(Reply::json(StatusCode::OK, event_json(e))),
        None => Err(ApiError::plain(
            StatusCode::NOT_FOUND,
            &format!("No events exist for event UUID {id}"),
        )),
    }
}

/// `GET events/?event=&limit=`: newest first.
pub fn list(shared: &Shared, event: Option<&str>, limit: Option<&str>) -> ViewResult {
    let limit = limit
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let st = shared.state.lock().expect("state lock");
    let mut results: Vec<&StoredEvent> = st
        .events
        .iter()
        .filter(|e| event.is_none_or(|n| e.event == n))
        .collect();
    results.sort_by(|a, b| b.timestamp.cmp(&a.timestamp));
    let results: Vec<Value> = results.into_iter().take(limit).map(event_json).collect();
    Ok(Reply::json(
        StatusCode::OK,
        json!({"next": null, "results": results}),
    ))
}
