//! Events (kinds-and-explain.md §4.3, §4.5): the capture paths accept the encodings posthog-js and
//! @posthog/core send (plain JSON, the base64 form, gzip by header, by query parameter and by
//! magic bytes alone), refuse an unknown project token, and the events API serves what was
//! stored, to a key with `query:read` only.

use std::io::Write as _;

use base64::Engine as _;
use reqwest::blocking::Client;
use serde_json::{json, Value};

fn event(token: &str, uuid: &str, name: &str) -> Value {
    json!({"uuid": uuid, "event": name, "distinct_id": "u1", "timestamp": format!("2026-11-30T10:00:0{}Z", &uuid[35..36]),
           "properties": {"token": token, "$exception_list": [{"type": "Error", "value": uuid}]}})
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn capture_encodings_and_the_events_api() {
    let server = crate::common::server();
    let base = server.base_url();
    let token = server.project_token();
    assert!(token.starts_with("phc_"), "{token}");
    let http = Client::new();
    let ids = [
        "01930000-0000-7000-8000-000000000001",
        "01930000-0000-7000-8000-000000000002",
        "01930000-0000-7000-8000-000000000003",
        "01930000-0000-7000-8000-000000000004",
    ];
    // plain JSON, one event, to /e/ (posthog-js without compression)
    let r = http
        .post(format!("{base}/e/"))
        .header("content-type", "application/json")
        .body(event(&token, ids[0], "$exception").to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().unwrap(), json!({"status": 1}));
    // the base64 form (posthog-js's `compression=base64`, sendBeacon)
    let batch = json!({"api_key": token, "batch": [event(&token, ids[1], "$exception")], "sent_at": "x"});
    let b64 = base64::engine::general_purpose::STANDARD.encode(batch.to_string());
    let form: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("data", &b64)
        .finish();
    let r = http
        .post(format!("{base}/e/?compression=base64&ver=1.449.2"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    // gzip-js as posthog-js sends it: text/plain, no compression parameter, only the magic bytes
    let batch = json!({"api_key": token, "batch": [event(&token, ids[2], "$pageview")]});
    let r = http
        .post(format!("{base}/i/v0/e/"))
        .header("content-type", "text/plain")
        .body(gzip(batch.to_string().as_bytes()))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    // @posthog/core: /batch/ with Content-Encoding: gzip
    let batch = json!({"api_key": token, "batch": [event(&token, ids[3], "$exception")]});
    let r = http
        .post(format!("{base}/batch/"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gzip(batch.to_string().as_bytes()))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    // an unknown project token stores nothing
    let r = http
        .post(format!("{base}/batch/"))
        .header("content-type", "application/json")
        .body(
            json!({"api_key": "phc_other", "batch": [event("phc_other", ids[0], "$exception")]}).to_string(),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().unwrap()["code"], "invalid_api_key");

    let stored = server.events();
    assert_eq!(
        stored.iter().map(|e| e.uuid.to_string()).collect::<Vec<_>>(),
        ids,
        "each encoding stored its event once"
    );
    assert_eq!(stored[2].event, "$pageview");
    assert_eq!(stored[1].properties["$exception_list"][0]["value"], ids[1]);

    // the events API: retrieve, 404, 400 on a non-UUID, the list filtered by event, newest first
    let get = |path: &str, key: &str| {
        http.get(format!(
            "{base}/api/environments/{}/events/{path}",
            server.project_id()
        ))
        .bearer_auth(key)
        .send()
        .unwrap()
    };
    let key = server.api_key();
    let r = get(&format!("{}/", ids[1]), &key);
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(v["id"], ids[1]);
    assert_eq!(v["event"], "$exception");
    assert_eq!(v["distinct_id"], "u1");
    assert_eq!(v["properties"]["$exception_list"][0]["value"], ids[1]);
    let r = get("01930000-0000-7000-8000-0000000000ff/", &key);
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().unwrap()["detail"],
        "No events exist for event UUID 01930000-0000-7000-8000-0000000000ff"
    );
    let r = get("not-a-uuid/", &key);
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().unwrap()["detail"], "Invalid UUID");
    let list: Value = get("?event=$exception", &key).json().unwrap();
    let listed: Vec<&str> = list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [ids[3], ids[1], ids[0]]);
    // error_tracking:read is not query:read
    let r = get(&format!("{}/", ids[0]), &server.read_only_key());
    assert_eq!(r.status(), 403);
}
