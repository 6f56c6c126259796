//! The PostHog API server: routing, authentication (§1, §2.8 "Other responses"), fault
//! injection, recording, and the views of `symbol_sets` (§2) and `releases` (§4).

mod events;
mod pagination;
mod releases;
pub mod routes;
mod symbol_sets;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::Value;

use crate::errors::ApiError;
use crate::faults::{Decision, FaultKind};
use crate::http::{collect_body, cut_body, full, Body, BoxError};
use crate::record::RecordedRequest;
use crate::server::{Shared, ALL_SCOPES, SCOPE_QUERY_READ, SCOPE_READ, SCOPE_WRITE};
use routes::Route;

/// What a view answers: a status and an optional JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
}

impl Reply {
    pub fn json(status: StatusCode, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
        }
    }

    pub fn no_content() -> Reply {
        Reply {
            status: StatusCode::NO_CONTENT,
            body: None,
        }
    }
}

pub type ViewResult = Result<Reply, ApiError>;

/// One authenticated request, as the views see it.
pub struct Ctx {
    pub shared: Arc<Shared>,
    pub team: u64,
    pub path: String,
    pub host: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub decision: Decision,
}

impl Ctx {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn content_type(&self) -> Option<&str> {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
    }

    /// DRF's `JSONParser`: an empty body is `{}`; another media type is 415; bad JSON is 400.
    pub fn json(&self) -> Result<Value, ApiError> {
        if self.body.is_empty() {
            return Ok(Value::Object(Default::default()));
        }
        let ct = self.content_type().unwrap_or("");
        let mt = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if mt != "application/json" {
            return Err(ApiError::unsupported_media_type(ct));
        }
        serde_json::from_slice(&self.body).map_err(|e| ApiError::parse_error(&e.to_string()))
    }
}

/// Serves one API (or admin) request.
pub async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, BoxError> {
    if req.uri().path().starts_with("/_admin") {
        return crate::admin::handle(shared, req).await;
    }
    let _in_flight = shared.load.api_request();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let raw_query = req.uri().query().map(str::to_owned);
    let (parts, body) = req.into_parts();
    let body = collect_body(body, None).await.map_err(|(_, e)| e)?.0;

    if events::is_capture_path(&path) && method == http::Method::POST {
        return Ok(capture_response(
            &shared,
            &path,
            raw_query.as_deref(),
            &parts.headers,
            &body,
        ));
    }

    let resolved = routes::resolve(&method, &path, shared.mode.old_server);
    let route_name = resolved.as_ref().map(|r| r.route.name()).unwrap_or("unknown");
    let decision = match &resolved {
        Ok(_) => shared.faults.lock().expect("faults lock").decide(route_name),
        Err(_) => Decision::default(),
    };
    let mut rec = RecordedRequest {
        server: "api".into(),
        route: route_name.into(),
        method: method.to_string(),
        path: path.clone(),
        query: raw_query.clone(),
        body: serde_json::from_slice(&body).ok(),
        status: 0,
        bytes: None,
        fault: decision.label(),
    };
    if decision.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(decision.latency_ms)).await;
    }
    if let Some(resp) = hostile_answer(&shared, decision.fault.as_ref(), false) {
        let resp = resp?;
        rec.status = resp.status().as_u16();
        shared.record(rec);
        return Ok(resp);
    }

    let result = match (&decision.fault, resolved) {
        (Some(FaultKind::Status { status }), _) => Err(injected_status(*status)),
        (Some(FaultKind::TooManyRequests { retry_after }), _) => Err(ApiError::throttled(*retry_after)),
        (_, Err(e)) => Err(e),
        (_, Ok(r)) => {
            let query: Vec<(String, String)> = raw_query
                .as_deref()
                .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default();
            // DRF: authentication and permissions, then the throttles, then the view.
            let auth = authenticate(&shared, &parts.headers, &r.team, &r.route).and_then(|team| {
                let wait = crate::load::bearer(&parts.headers)
                    .filter(|_| crate::load::throttled_route(route_name))
                    .and_then(|key| shared.load.check(key));
                match wait {
                    Some(secs) => Err(ApiError::throttled(secs)),
                    None => Ok(team),
                }
            });
            match auth {
                Err(e) => Err(e),
                Ok(team) => {
                    let host = parts
                        .headers
                        .get(http::header::HOST)
                        .and_then(|h| h.to_str().ok())
                        .unwrap_or("127.0.0.1")
                        .to_owned();
                    let ctx = Ctx {
                        shared: shared.clone(),
                        team,
                        path: path.clone(),
                        host,
                        query,
                        headers: parts.headers.clone(),
                        body: body.clone(),
                        decision: decision.clone(),
                    };
                    dispatch(ctx, r.route).await
                }
            }
        }
    };

    let (status, json, headers) = match result {
        Ok(r) => (r.status, r.body, Vec::new()),
        Err(e) if e.body.is_null() => (e.status, None, e.headers),
        Err(e) => (e.status, Some(e.body), e.headers),
    };
    let injected_5xx = json.is_none() && status.as_u16() >= 502;
    let text = match &json {
        Some(v) => Bytes::from(serde_json::to_vec(v).expect("json")),
        None if injected_5xx => Bytes::from_static(injected_text(status.as_u16()).as_bytes()),
        None => Bytes::new(),
    };
    let mut resp = Response::builder().status(status);
    if json.is_some() {
        resp = resp.header("content-type", "application/json");
    } else if injected_5xx {
        resp = resp.header("content-type", "text/plain");
    }
    for (k, v) in headers {
        resp = resp.header(k, v);
    }
    if matches!(decision.fault, Some(FaultKind::Reset)) {
        // Handled (state changed), but the client only gets half the body, then a reset.
        rec.status = 0;
        shared.record(rec);
        let half = text.len() / 2;
        return Ok(resp
            .header("content-length", text.len())
            .body(cut_body(text.slice(..half)))?);
    }
    rec.status = status.as_u16();
    shared.record(rec);
    Ok(resp.body(full(text))?)
}

/// The answer of a `huge_body`, `drip` or `hostile` fault (the request is not handled), as the
/// API (`s3: false`: a PostHog JSON error) or an S3 front (an S3 XML error) would send it.
pub(crate) fn hostile_answer(
    shared: &Shared,
    fault: Option<&FaultKind>,
    s3: bool,
) -> Option<Result<Response<Body>, BoxError>> {
    let build = |status: u16, content_type: &str, body: Body| -> Result<Response<Body>, BoxError> {
        Ok(Response::builder()
            .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
            .header("content-type", content_type)
            .body(body)?)
    };
    let ct = if s3 { "application/xml" } else { "application/json" };
    match fault? {
        FaultKind::HugeBody { mib, status } => Some(build(
            *status,
            ct,
            crate::http::huge_body(mib * 1024 * 1024, shared.fault_bytes.clone()),
        )),
        FaultKind::Drip { ms } => Some(build(
            200,
            ct,
            crate::http::drip_body(Duration::from_millis(*ms), shared.fault_bytes.clone()),
        )),
        FaultKind::Hostile { status } => {
            let body = if s3 {
                let esc = |t: &str| t.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
                Bytes::from(format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message></Error>",
                    esc(crate::faults::HOSTILE_CODE),
                    esc(crate::faults::HOSTILE_DETAIL)
                ))
            } else {
                Bytes::from(
                    serde_json::to_vec(&serde_json::json!({
                        "type": "validation_error",
                        "code": crate::faults::HOSTILE_CODE,
                        "detail": crate::faults::HOSTILE_DETAIL,
                        "attr": "chunk\u{1b}[8m\n::add-mask::attr",
                    }))
                    .expect("json"),
                )
            };
            Some(build(*status, ct, full(body)))
        }
        _ => None,
    }
}

/// An injected 5xx: DRF's JSON 500, or what a proxy in front of Django says for 502/503/504.
fn injected_status(status: u16) -> ApiError {
    match status {
        500 => ApiError::server_error(),
        s => ApiError {
            status: StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body: Value::Null,
            headers: Vec::new(),
        },
    }
}

fn injected_text(status: u16) -> &'static str {
    match status {
        502 => "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
        503 => "no healthy upstream",
        504 => "upstream request timeout",
        _ => "injected fault",
    }
}

/// `Authorization: Bearer phx_...`, the team of the path, and the scope the action needs.
fn authenticate(shared: &Shared, headers: &HeaderMap, team: &str, route: &Route) -> Result<u64, ApiError> {
    let auth = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(ApiError::not_authenticated)?;
    let token = match auth.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
        _ => return Err(ApiError::not_authenticated()),
    };
    if token.is_empty() {
        return Err(ApiError::not_authenticated());
    }
    let st = shared.state.lock().expect("state lock");
    let key = st
        .keys
        .iter()
        .find(|k| k.key == token)
        .ok_or_else(ApiError::authentication_failed)?;
    let team_id: u64 = team.parse().map_err(|_| ApiError::project_not_found())?;
    if team_id != st.project_id {
        return Err(ApiError::project_not_found());
    }
    if route.is_events() {
        let ok = key
            .scopes
            .iter()
            .any(|k| k == ALL_SCOPES || k == SCOPE_QUERY_READ);
        return if ok {
            Ok(team_id)
        } else {
            Err(ApiError::missing_scope(SCOPE_QUERY_READ))
        };
    }
    let needed = if route.is_read() { SCOPE_READ } else { SCOPE_WRITE };
    let has = |s: &str| key.scopes.iter().any(|k| k == s);
    let ok = has(ALL_SCOPES) || has(needed) || (needed == SCOPE_READ && has(SCOPE_WRITE));
    if !ok {
        return Err(ApiError::missing_scope(needed));
    }
    Ok(team_id)
}

async fn dispatch(ctx: Ctx, route: Route) -> ViewResult {
    match route {
        Route::List => symbol_sets::list(&ctx),
        Route::Create => symbol_sets::create(&ctx).await,
        Route::Retrieve(id) | Route::Update(id) | Route::PartialUpdate(id) => {
            symbol_sets::retrieve(&ctx, &id)
        }
        Route::Destroy(id) => symbol_sets::destroy(&ctx, &id),
        Route::Download(id) => symbol_sets::download(&ctx, &id),
        Route::FinishUpload(id) => symbol_sets::finish_upload(&ctx, &id).await,
        Route::StartUpload => symbol_sets::start_upload(&ctx),
        Route::BulkCheckUpload => symbol_sets::bulk_check_upload(&ctx),
        Route::BulkStartUpload => symbol_sets::bulk_start_upload(&ctx),
        Route::BulkFinishUpload => symbol_sets::bulk_finish_upload(&ctx).await,
        Route::BulkDelete => symbol_sets::bulk_delete(&ctx),
        Route::ReleasesList => releases::list(&ctx),
        Route::ReleasesCreate => releases::create(&ctx),
        Route::ReleasesRetrieve(id) => releases::retrieve(&ctx, &id),
        Route::ReleasesUpdate(id) | Route::ReleasesPartialUpdate(id) => releases::update(&ctx, &id),
        Route::ReleasesDestroy(id) => releases::destroy(&ctx, &id),
        Route::ReleasesByHash(h) => releases::by_hash(&ctx, &h),
        Route::EventsList => events::list(&ctx.shared, ctx.param("event"), ctx.param("limit")),
        Route::EventsRetrieve(id) => events::retrieve(&ctx.shared, &id),
    }
}

/// Answers a capture request (no personal key: the project token is in the body), recorded as
/// route `capture`.
fn capture_response(
    shared: &Shared,
    path: &str,
    raw_query: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response<Body> {
    let query: Vec<(String, String)> = raw_query
        .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let header = |name: http::header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let result = events::capture(
        shared,
        &query,
        &header(http::header::CONTENT_TYPE),
        &header(http::header::CONTENT_ENCODING),
        body,
    );
    let (status, json) = match result {
        Ok(r) => (r.status, r.body.unwrap_or(Value::Null)),
        Err(e) => (e.status, e.body),
    };
    shared.record(RecordedRequest {
        server: "api".into(),
        route: "capture".into(),
        method: "POST".into(),
        path: path.to_owned(),
        query: raw_query.map(str::to_owned),
        body: None,
        status: status.as_u16(),
        bytes: Some(body.len() as u64),
        fault: None,
    });
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(full(Bytes::from(serde_json::to_vec(&json).expect("json"))))
        .expect("a valid response")
}
