//! Fault injection: one test per kind, counting what the client saw.

use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::json;
use symship_testserver::{Config, FaultKind, FaultRule};

fn with_faults(faults: Vec<FaultRule>) -> symship_testserver::TestServer {
    start(Config {
        faults,
        ..Config::default()
    })
}

#[test]
fn error_status_first_n() {
    for status in [500u16, 502, 503] {
        let server = with_faults(vec![FaultRule::new(
            "bulk_start_upload",
            FaultKind::Status { status },
        )
        .first_n(2)]);
        let api = Api::new(&server);
        let seen: Vec<u16> = (0..3)
            .map(|_| api.start(&[("a", None, Some("h"), None)], false, false).0)
            .collect();
        assert_eq!(seen, [status, status, 201]);
        if status == 500 {
            let (_, b) = {
                server.set_faults(vec![FaultRule::new(
                    "bulk_start_upload",
                    FaultKind::Status { status: 500 },
                )]);
                api.start(&[("a", None, Some("h"), None)], false, false)
            };
            assert_eq!(b["type"], "server_error");
        }
        // other routes are untouched
        assert_eq!(
            api.post("symbol_sets/bulk_check_upload", json!({"symbol_sets":[]}))
                .0,
            200
        );
        let faulted: Vec<_> = server
            .requests()
            .into_iter()
            .filter(|r| r.fault.is_some())
            .collect();
        assert!(
            faulted.len() >= 2 && faulted.iter().all(|r| r.status == status),
            "{faulted:?}"
        );
    }
}

#[test]
fn too_many_requests_with_retry_after() {
    let server = with_faults(vec![FaultRule::new(
        "*",
        FaultKind::TooManyRequests { retry_after: 7 },
    )
    .first_n(1)]);
    let api = Api::new(&server);
    let r = api
        .client
        .get(api.url("releases"))
        .bearer_auth(&api.key)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    let (_, b) = parse(r);
    assert_eq!(b["code"], "throttled");
    assert_eq!(api.get("releases").0, 200);
}

#[test]
fn latency_is_added() {
    let server = with_faults(vec![FaultRule::new(
        "releases_list",
        FaultKind::Latency { ms: 1500 },
    )]);
    let api = Api::new(&server);
    let t = Instant::now();
    assert_eq!(api.get("releases").0, 200);
    assert!(t.elapsed() >= Duration::from_millis(1500), "{:?}", t.elapsed());
    // another route is not delayed (a margin for a loaded runner)
    let t = Instant::now();
    assert_eq!(api.get("symbol_sets").0, 200);
    assert!(t.elapsed() < Duration::from_millis(1500), "{:?}", t.elapsed());
}

#[test]
fn slow_s3_hits_a_client_timeout() {
    let server = with_faults(vec![FaultRule::new("s3_put", FaultKind::Latency { ms: 1500 })]);
    let api = Api::new(&server);
    let body = container("slow", "x");
    let (_, b) = api.start(
        &[("slow", None, Some("h"), Some(body.len() as u64))],
        false,
        false,
    );
    let short = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let err = short
        .put(b["id_map"]["slow"]["presigned_put_url"].as_str().unwrap())
        .body(body)
        .send()
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
}

#[test]
fn reset_on_s3_put_drops_the_connection_and_stores_nothing() {
    let server = with_faults(vec![FaultRule::new("s3_put", FaultKind::Reset).first_n(1)]);
    let api = Api::new(&server);
    let body = vec![7u8; 256 * 1024];
    let (_, b) = api.start(&[("r", None, Some("h"), Some(body.len() as u64))], false, false);
    let e = &b["id_map"]["r"];
    let url = e["presigned_put_url"].as_str().unwrap();
    let err = api.client.put(url).body(body.clone()).send();
    assert!(
        err.is_err(),
        "the client sees a transport error, not a status: {err:?}"
    );
    let rec = server
        .requests()
        .into_iter()
        .find(|r| r.route == "s3_put")
        .unwrap();
    assert_eq!(rec.status, 0);
    assert!(rec.bytes.unwrap() < body.len() as u64, "{rec:?}");
    let (s, b) = api.finish(&[(e["symbol_set_id"].as_str().unwrap(), "h")]);
    assert_eq!((s, b["code"].as_str()), (400, Some("file_not_found")));
    // the second attempt goes through
    assert_eq!(put(&api.client, url, body).0, 200);
}

#[test]
fn s3_error_status_and_429() {
    let server = with_faults(vec![
        FaultRule::new("s3_post", FaultKind::Status { status: 503 }).first_n(1),
        FaultRule::new("s3_post", FaultKind::TooManyRequests { retry_after: 2 }).first_n(2),
    ]);
    let api = Api::new(&server);
    let body = container("p", "x");
    let (_, b) = api.start(&[("p", None, Some("h"), None)], false, false);
    let seen: Vec<u16> = (0..3)
        .map(|_| post_form(&api.client, &b["id_map"]["p"]["presigned_url"], body.clone()).0)
        .collect();
    assert_eq!(
        seen,
        [503, 429, 204],
        "first terminal fault wins, then the counters run out"
    );
}

#[test]
fn reset_on_the_api_after_handling() {
    let server = with_faults(vec![
        FaultRule::new("bulk_start_upload", FaultKind::Reset).first_n(1)
    ]);
    let api = Api::new(&server);
    let r = api
        .client
        .post(api.url("symbol_sets/bulk_start_upload"))
        .bearer_auth(&api.key)
        .json(&json!({"symbol_sets":[{"chunk_id":"x","content_hash":"h"}]}))
        .send()
        .and_then(|r| r.text());
    assert!(r.is_err(), "the response body is cut: {r:?}");
    assert_eq!(server.symbol_sets().len(), 1, "the request was handled");
    let (s, b) = api.start(&[("x", None, Some("h"), None)], false, false);
    assert_eq!(s, 201, "the retry re-issues the unfinished upload: {b}");
}

#[test]
fn rate_is_deterministic_with_the_seed() {
    let run = |seed| {
        let server = start(Config {
            faults: vec![FaultRule::new("releases_list", FaultKind::Status { status: 502 }).rate(0.5)],
            seed,
            ..Config::default()
        });
        let api = Api::new(&server);
        (0..24).map(|_| api.get("releases").0).collect::<Vec<_>>()
    };
    let a = run(42);
    assert_eq!(a, run(42));
    let failures = a.iter().filter(|s| **s == 502).count();
    assert!((4..=20).contains(&failures), "{a:?}");
    assert!(a.iter().all(|s| *s == 502 || *s == 200));
}

#[test]
fn faults_can_be_set_over_the_admin_api() {
    let server = server();
    let api = Api::new(&server);
    let admin = format!("{}/_admin/faults", server.base_url());
    let r = api
        .client
        .post(&admin)
        .json(&json!([{"route":"releases_create","kind":"status","status":503,"first_n":1}]))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        server.faults(),
        vec![FaultRule::new("releases_create", FaultKind::Status { status: 503 }).first_n(1)]
    );
    let body = json!({"project":"a","version":"1"});
    assert_eq!(api.post("releases", body.clone()).0, 503);
    assert_eq!(api.post("releases", body).0, 201);
    let r = api
        .client
        .post(&admin)
        .json(&json!({"route":"x"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // a route no request has (a typo) is refused, naming the known ones; the rules stay
    let r = api
        .client
        .post(&admin)
        .json(&json!([{"route":"s3_putt","kind":"status","status":503}]))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let err = r.json::<serde_json::Value>().unwrap()["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        err.starts_with(r#"unknown fault route "s3_putt"; known routes: *, list,"#),
        "{err}"
    );
    assert!(err.contains("s3_put"), "{err}");
    assert_eq!(
        server.faults(),
        vec![FaultRule::new("releases_create", FaultKind::Status { status: 503 }).first_n(1)]
    );
}

#[test]
fn an_unknown_fault_route_stops_the_start() {
    let err = match symship_testserver::TestServer::start(Config {
        faults: vec![FaultRule::new("bulk_finish", FaultKind::Reset)],
        ..Config::default()
    }) {
        Ok(_) => panic!("started with a fault on route bulk_finish"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.starts_with(r#"--fault bulk_finish:reset: unknown fault route "bulk_finish"; known routes: *,"#),
        "{err}"
    );
}
