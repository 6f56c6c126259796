//! The S3 front: a small reverse proxy on its own loopback port between clients and s3s-fs.
//! Presigned URLs point at it; it forwards each request byte-for-byte (method, path, query,
//! headers including the original `Host`, which SigV4 signs, and body) and s3s-fs verifies it.
//! It records every transfer and is where S3 faults are injected.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::faults::FaultKind;
use crate::http::{chunked, collect_body, cut_body, full, Body, BoxError};
use crate::record::RecordedRequest;
use crate::server::Shared;

/// Handles one request on the front called `name` (`s3` or `s3_accel`).
pub async fn handle(
    shared: Arc<Shared>,
    name: &'static str,
    req: Request<Incoming>,
) -> Result<Response<Body>, BoxError> {
    let method = req.method().clone();
    let op = match method {
        Method::PUT => "put",
        Method::POST => "post",
        Method::GET => "get",
        Method::HEAD => "head",
        Method::DELETE => "delete",
        _ => "other",
    };
    let route = format!("{name}_{op}");
    let decision = shared.faults.lock().expect("faults lock").decide(&route);
    let _in_flight = shared
        .load
        .storage_request(matches!(op, "put" | "post"), decision.fault.is_some());
    let label = decision.label();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let mut rec = RecordedRequest {
        server: name.to_owned(),
        route: route.clone(),
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        body: None,
        status: 0,
        bytes: None,
        fault: label,
    };
    if decision.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(decision.latency_ms)).await;
    }
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let has_body =
        declared.is_some_and(|n| n > 0) || parts.headers.contains_key(http::header::TRANSFER_ENCODING);

    let reset = matches!(decision.fault, Some(FaultKind::Reset));
    if reset && has_body {
        // Read about half of the body, then drop the connection: nothing reaches S3.
        let cut = declared.map(|n| n / 2).unwrap_or(1);
        let got = match collect_body(body, Some(cut)).await {
            Ok((_, n)) => n,
            Err((n, _)) => n,
        };
        rec.bytes = Some(got);
        shared.record(rec);
        return Err("fault injection: connection reset mid-body".into());
    }

    let (data, n) = match collect_body(body, None).await {
        Ok(x) => x,
        Err((n, e)) => {
            rec.bytes = Some(n);
            shared.record(rec);
            return Err(e);
        }
    };
    rec.bytes = Some(n);
    if let Some(resp) = crate::api::hostile_answer(&shared, decision.fault.as_ref(), true) {
        let resp = resp?;
        rec.status = resp.status().as_u16();
        shared.record(rec);
        return Ok(resp);
    }

    match decision.fault {
        Some(FaultKind::Status { status }) => {
            let code = match status {
                503 => "SlowDown",
                500 => "InternalError",
                _ => "ServiceUnavailable",
            };
            rec.status = status;
            shared.record(rec);
            return Ok(Response::builder()
                .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
                .header("content-type", "application/xml")
                .body(full(format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>injected fault</Message></Error>"
                )))?);
        }
        Some(FaultKind::TooManyRequests { retry_after }) => {
            rec.status = 429;
            shared.record(rec);
            return Ok(Response::builder()
                .status(StatusCode::TOO_MANY_REQUESTS)
                .header("retry-after", retry_after.to_string())
                .header("content-type", "application/xml")
                .body(full(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
                ))?);
        }
        _ => {}
    }

    // Forward byte-for-byte.
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let mut fwd = Request::builder()
        .method(method.clone())
        .uri(pq)
        .version(http::Version::HTTP_11);
    for (k, v) in parts.headers.iter() {
        fwd = fwd.header(k, v);
    }
    let fwd_body = if declared.is_some() || !has_body {
        full(data)
    } else {
        chunked(data)
    };
    let upstream = match shared.storage.s3.send(fwd.body(fwd_body)?).await {
        Ok(r) => r,
        Err(e) => {
            // S3 answered early and closed while the body was still being sent (s3s-fs does so
            // for a body over the policy's range): the client sees the reset it would see
            // from S3 itself.
            rec.status = 0;
            shared.record(rec);
            return Err(e);
        }
    };
    rec.status = upstream.status.as_u16();
    shared.record(rec);
    let mut resp = Response::builder().status(upstream.status);
    for (k, v) in upstream.headers.iter() {
        if k == http::header::TRANSFER_ENCODING || k == http::header::CONNECTION {
            continue;
        }
        resp = resp.header(k, v);
    }
    let body = if reset {
        // A bodyless request (download): cut the response body half-way.
        let half = upstream.body.len() / 2;
        cut_body(Bytes::copy_from_slice(&upstream.body[..half]))
    } else if method == Method::HEAD {
        crate::http::empty()
    } else {
        full(upstream.body)
    };
    Ok(resp.body(body)?)
}
