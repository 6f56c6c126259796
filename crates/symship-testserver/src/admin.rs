//! The admin API for tests and the binary mode, under `/_admin/` (no auth; loopback only):
//!
//! - `GET /_admin/info`: project id, the s3s-fs pid, S3 and front addresses
//! - `GET /_admin/requests`: the recorded requests
//! - `GET /_admin/state`: `{"project_id","symbol_sets":[...],"releases":[...]}` as stored
//! - `GET /_admin/violations`
//! - `POST /_admin/reset`
//! - `GET /_admin/faults`, `POST`/`PUT /_admin/faults` with a JSON list of fault rules
//! - `GET /_admin/load`: requests in flight at most, upload arrivals, throttled requests
//! - `GET /_admin/throttle`, `PUT /_admin/throttle` with `"posthog"`, `"20/second,100/minute"`
//!   (DRF rates) or `null` (off)
//! - `POST /_admin/clock/age` with `{"ref": "...", "last_used": "<rfc3339>"|null, "created_at": "<rfc3339>"}`
//! - `GET /_admin/object?ptr=symbolsets/<uuid>`: the stored bytes

use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::faults::FaultRule;
use crate::http::{collect_body, full, Body, BoxError};
use crate::server::Shared;

pub fn reset(shared: &Shared) {
    shared.mutate(|st| {
        st.symbol_sets.clear();
        st.releases.clear();
        st.events.clear();
    });
    shared.records.lock().expect("records lock").clear();
    shared.violations.lock().expect("violations lock").clear();
    shared.unchecked.lock().expect("unchecked lock").clear();
    shared.fault_bytes.store(0, std::sync::atomic::Ordering::Relaxed);
    shared.load.reset();
    let mut f = shared.faults.lock().expect("faults lock");
    let rules = f.rules();
    f.set(rules);
}

/// Sets `last_used` (when `last_used` is `Some`) and/or `created_at` of the set with this ref.
pub fn age(
    shared: &Shared,
    r: &str,
    last_used: Option<Option<OffsetDateTime>>,
    created_at: Option<OffsetDateTime>,
) -> bool {
    shared.mutate(|st| match st.symbol_sets.iter_mut().find(|s| s.ref_ == r) {
        Some(s) => {
            if let Some(l) = last_used {
                s.last_used = l;
            }
            if let Some(c) = created_at {
                s.created_at = c;
            }
            true
        }
        None => false,
    })
}

fn reply(status: StatusCode, v: Value) -> Result<Response<Body>, BoxError> {
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(full(serde_json::to_vec(&v)?))?)
}

fn parse_time(v: &Value) -> Result<Option<OffsetDateTime>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map(Some)
            .map_err(|e| format!("{s:?}: {e}")),
        other => Err(format!("expected an RFC 3339 string or null, got {other}")),
    }
}

pub async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, BoxError> {
    let method = req.method().clone();
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let body = collect_body(req.into_body(), None).await.map_err(|(_, e)| e)?.0;
    let json_body = || serde_json::from_slice::<Value>(&body).map_err(|e| e.to_string());
    let bad = |m: String| reply(StatusCode::BAD_REQUEST, json!({"error": m}));
    match (method, path.as_str()) {
        (Method::GET, "/_admin/requests") => reply(
            StatusCode::OK,
            serde_json::to_value(&*shared.records.lock().expect("lock"))?,
        ),
        (Method::GET, "/_admin/violations") => {
            shared.check_finished().await;
            reply(
                StatusCode::OK,
                serde_json::to_value(&*shared.violations.lock().expect("lock"))?,
            )
        }
        (Method::GET, "/_admin/state") => {
            let st = shared.state.lock().expect("lock");
            reply(
                StatusCode::OK,
                json!({"project_id": st.project_id, "symbol_sets": st.symbol_sets, "releases": st.releases}),
            )
        }
        (Method::GET, "/_admin/info") => reply(
            StatusCode::OK,
            json!({
                "project_id": shared.project_id(),
                "s3fs_pid": shared.s3fs_pid,
                "s3": shared.storage.s3.addr().to_string(),
                "s3_front": shared.storage.front.to_string(),
                "s3_accel_front": shared.storage.accel_front.map(|a| a.to_string()),
                "bucket": shared.storage.bucket,
            }),
        ),
        (Method::POST, "/_admin/reset") => {
            reset(&shared);
            reply(StatusCode::OK, json!({"ok": true}))
        }
        (Method::GET, "/_admin/faults") => reply(
            StatusCode::OK,
            serde_json::to_value(shared.faults.lock().expect("lock").rules())?,
        ),
        (Method::POST | Method::PUT, "/_admin/faults") => {
            let rules: Vec<FaultRule> =
                match json_body().and_then(|v| serde_json::from_value(v).map_err(|e| e.to_string())) {
                    Ok(r) => r,
                    Err(e) => return bad(format!("expected a JSON list of fault rules: {e}")),
                };
            if let Some(e) = rules.iter().find_map(|r| crate::check_route(&r.route).err()) {
                return bad(e);
            }
            shared.faults.lock().expect("lock").set(rules.clone());
            reply(StatusCode::OK, serde_json::to_value(rules)?)
        }
        (Method::GET, "/_admin/load") => reply(StatusCode::OK, serde_json::to_value(shared.load.stats())?),
        (Method::GET, "/_admin/throttle") => reply(
            StatusCode::OK,
            json!(shared.load.throttle().map(|t| t.to_string())),
        ),
        (Method::POST | Method::PUT, "/_admin/throttle") => {
            let throttle = match json_body() {
                Ok(Value::Null) => None,
                Ok(Value::String(s)) => match s.parse::<crate::load::Throttle>() {
                    Ok(t) => Some(t),
                    Err(e) => return bad(e),
                },
                Ok(other) => {
                    return bad(format!(
                        "expected \"posthog\", \"N/PERIOD,...\" or null, got {other}"
                    ))
                }
                Err(e) => return bad(e),
            };
            shared.load.set_throttle(throttle);
            reply(
                StatusCode::OK,
                json!(shared.load.throttle().map(|t| t.to_string())),
            )
        }
        (Method::POST, "/_admin/clock/age") => {
            let v = match json_body() {
                Ok(v) => v,
                Err(e) => return bad(e),
            };
            let Some(r) = v.get("ref").and_then(Value::as_str) else {
                return bad("missing \"ref\"".into());
            };
            let last_used = match v.get("last_used").map(parse_time).transpose() {
                Ok(l) => l,
                Err(e) => return bad(e),
            };
            let created_at = match v.get("created_at").map(parse_time).transpose() {
                Ok(c) => c.flatten(),
                Err(e) => return bad(e),
            };
            if age(&shared, r, last_used, created_at) {
                reply(StatusCode::OK, json!({"ok": true}))
            } else {
                reply(
                    StatusCode::NOT_FOUND,
                    json!({"error": format!("no symbol set with ref {r:?}")}),
                )
            }
        }
        (Method::GET, "/_admin/object") => {
            let ptr = url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "ptr")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            if !ptr.starts_with("symbolsets/") || ptr.contains("..") {
                return bad("ptr must be symbolsets/<uuid>".into());
            }
            match shared.storage.get(&ptr).await {
                Ok(Some(b)) => Ok(Response::builder()
                    .status(StatusCode::OK)
                    .header("content-type", "application/octet-stream")
                    .body(full(b))?),
                Ok(None) => reply(StatusCode::NOT_FOUND, json!({"error": "no such object"})),
                Err(e) => reply(StatusCode::BAD_GATEWAY, json!({"error": e.to_string()})),
            }
        }
        _ => reply(StatusCode::NOT_FOUND, json!({"error": "unknown admin route"})),
    }
}
