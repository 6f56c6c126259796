//! The throttle (PostHog's per-key 429s, spec §2.6) and the in-flight counters.

use crate::common::*;
use serde_json::{json, Value};
use symship_testserver::{Config, FaultKind, FaultRule, Throttle};

fn check_body() -> Value {
    json!({"symbol_sets": []})
}

#[test]
fn throttle_refuses_beyond_the_rate_per_key_with_retry_after() {
    let server = start(Config {
        throttle: Some("3/minute".parse().unwrap()),
        ..Config::default()
    });
    let api = Api::new(&server);
    for i in 0..3 {
        assert_eq!(
            api.post("symbol_sets/bulk_check_upload", check_body()).0,
            200,
            "call {i}"
        );
    }
    let r = api
        .client
        .post(api.url("symbol_sets/bulk_start_upload"))
        .bearer_auth(&api.key)
        .json(&json!({"symbol_sets": []}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    let after: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((55..=60).contains(&after), "Retry-After {after}");
    let (_, b) = parse(r);
    assert_eq!(b["code"], "throttled", "{b}");
    // releases are not throttled
    assert_eq!(api.get("releases").0, 200);
    // another key has its own window
    let ro = Api {
        key: server.read_only_key(),
        ..Api::new(&server)
    };
    assert_eq!(ro.get("symbol_sets").0, 200);
    let load = server.load();
    assert_eq!(load.throttled, 1);
    assert_eq!(load.throttle.as_deref(), Some("3/minute"));
    assert_eq!(server.requests().iter().filter(|r| r.status == 429).count(), 1);
    // switched off: allowed again
    server.set_throttle(None);
    assert_eq!(api.post("symbol_sets/bulk_check_upload", check_body()).0, 200);
}

#[test]
fn throttle_is_switched_through_the_admin_api() {
    let server = server();
    let c = client();
    let admin = |body: Value| {
        let r = c
            .put(format!("{}/_admin/throttle", server.base_url()))
            .json(&body)
            .send()
            .unwrap();
        parse(r)
    };
    assert_eq!(admin(json!("posthog")), (200, json!("1200/minute,12000/hour")));
    assert_eq!(server.load().throttle, Some(Throttle::posthog().to_string()));
    assert_eq!(admin(json!("1/second")).0, 200);
    let api = Api::new(&server);
    assert_eq!(api.post("symbol_sets/bulk_check_upload", check_body()).0, 200);
    assert_eq!(api.post("symbol_sets/bulk_check_upload", check_body()).0, 429);
    assert_eq!(admin(json!("5/fortnight")).0, 400);
    assert_eq!(admin(Value::Null), (200, Value::Null));
    assert_eq!(api.post("symbol_sets/bulk_check_upload", check_body()).0, 200);
    let (s, load) = parse(
        c.get(format!("{}/_admin/load", server.base_url()))
            .send()
            .unwrap(),
    );
    assert_eq!(s, 200);
    assert_eq!(load["throttled"], 1, "{load}");
    assert_eq!(load["api_requests"], 3, "{load}");
}

#[test]
fn requests_in_flight_are_counted() {
    // Every call waits 300 ms in the server, so the four sent at once overlap there.
    let server = start(Config {
        faults: vec![
            FaultRule::new("bulk_check_upload", FaultKind::Latency { ms: 300 }),
            FaultRule::new("s3_put", FaultKind::Latency { ms: 300 }),
        ],
        ..Config::default()
    });
    let api = Api::new(&server);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| assert_eq!(api.post("symbol_sets/bulk_check_upload", check_body()).0, 200));
        }
    });
    assert_eq!(server.load().api_max_in_flight, 4);

    let sets: Vec<(String, Vec<u8>)> = (0..3)
        .map(|i| (format!("c{i}"), container(&format!("c{i}"), "x")))
        .collect();
    let entries: Vec<Set<'_>> = sets
        .iter()
        .map(|(c, b)| (c.as_str(), None, Some("h"), Some(b.len() as u64)))
        .collect();
    let (st, resp) = api.start(&entries, false, false);
    assert_eq!(st, 201, "{resp}");
    std::thread::scope(|s| {
        for (c, b) in &sets {
            let url = resp["id_map"][c]["presigned_put_url"]
                .as_str()
                .unwrap()
                .to_owned();
            let client = &api.client;
            s.spawn(move || assert_eq!(put(client, &url, b.clone()).0, 200));
        }
    });
    let load = server.load();
    assert_eq!(load.storage_max_in_flight, 3, "{load:?}");
    assert_eq!(load.storage_requests, 3);
    assert_eq!(load.upload_arrivals.len(), 3);
    assert_eq!(load.upload_arrivals.iter().map(|a| a.in_flight).max(), Some(3));
    assert!(load.upload_arrivals.iter().all(|a| !a.faulted));
    server.reset();
    let load = server.load();
    assert_eq!((load.api_max_in_flight, load.storage_requests), (0, 0));
}
