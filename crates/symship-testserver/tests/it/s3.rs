//! The real S3 (s3s-fs) does its job: forged, expired and oversized uploads are refused, and
//! `bulk_finish_upload` then fails with `file_not_found`.

use crate::common::*;
use serde_json::{json, Value};
use symship_testserver::{Config, FaultKind, FaultRule, TestServer};

fn start_one(api: &Api, chunk: &str, len: Option<u64>) -> Value {
    let (s, b) = api.start(&[(chunk, None, Some("h"), len)], false, false);
    assert_eq!(s, 201, "{b}");
    b["id_map"][chunk].clone()
}

fn finish_fails_not_found(api: &Api, entry: &Value) {
    let (s, b) = api.finish(&[(entry["symbol_set_id"].as_str().unwrap(), "h")]);
    assert_eq!(s, 400, "{b}");
    hog_error(&b, "file_not_found");
}

fn s3_statuses(server: &TestServer) -> Vec<u16> {
    server
        .requests()
        .iter()
        .filter(|r| r.server == "s3")
        .map(|r| r.status)
        .collect()
}

#[test]
fn forged_signature_is_refused() {
    let server = server();
    let api = Api::new(&server);
    let body = container("forged", "x");
    let entry = start_one(&api, "forged", Some(body.len() as u64));
    // POST with a changed signature
    let mut post = entry["presigned_url"].clone();
    let sig = post["fields"]["x-amz-signature"].as_str().unwrap().to_owned();
    let flipped = format!("{}{}", if sig.starts_with('0') { "1" } else { "0" }, &sig[1..]);
    post["fields"]["x-amz-signature"] = json!(flipped);
    let (s, text) = post_form(&api.client, &post, body.clone());
    assert_eq!(s, 403, "{text}");
    assert!(text.contains("SignatureDoesNotMatch"), "{text}");
    // PUT with a changed signature
    let url = entry["presigned_put_url"].as_str().unwrap();
    let (head, sig) = url.rsplit_once("X-Amz-Signature=").unwrap();
    let forged = format!(
        "{head}X-Amz-Signature={}{}",
        if sig.starts_with('0') { "1" } else { "0" },
        &sig[1..]
    );
    let (s, text) = put(&api.client, &forged, body.clone());
    assert_eq!(s, 403, "{text}");
    // PUT with a different length than signed
    let (s, _) = put(&api.client, url, body[..body.len() - 1].to_vec());
    assert!(
        (400..500).contains(&s),
        "a shorter body than signed is refused: {s}"
    );
    // POST with another key than signed
    let mut other = entry["presigned_url"].clone();
    other["fields"]["key"] = json!("symbolsets/elsewhere");
    let (s, text) = post_form(&api.client, &other, body);
    assert_eq!(s, 400, "{text}");
    let st = s3_statuses(&server);
    assert_eq!(st.len(), 4, "the front saw every attempt");
    assert_eq!([st[0], st[1], st[3]], [403, 403, 400]);
    finish_fails_not_found(&api, &entry);
}

#[test]
fn expired_policy_and_url_are_refused() {
    let server = start(Config {
        faults: vec![FaultRule::new(
            "bulk_start_upload",
            FaultKind::PresignExpiry { secs: 1 },
        )],
        ..Config::default()
    });
    let api = Api::new(&server);
    let body = container("late", "x");
    let entry = start_one(&api, "late", Some(body.len() as u64));
    assert!(entry["presigned_put_url"]
        .as_str()
        .unwrap()
        .contains("X-Amz-Expires=1&"));
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let (s, text) = post_form(&api.client, &entry["presigned_url"], body.clone());
    assert_eq!(s, 403, "expired policy: {text}");
    let (s, text) = put(&api.client, entry["presigned_put_url"].as_str().unwrap(), body);
    assert_eq!(s, 403, "expired URL: {text}");
    finish_fails_not_found(&api, &entry);
}

#[test]
fn body_over_the_content_length_range_is_refused() {
    let server = server();
    let api = Api::new(&server);
    let entry = start_one(&api, "huge", None);
    let policy: Value = {
        use base64::Engine as _;
        let b64 = entry["presigned_url"]["fields"]["policy"].as_str().unwrap();
        serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(b64).unwrap()).unwrap()
    };
    assert!(
        policy["conditions"]
            .as_array()
            .unwrap()
            .contains(&json!(["content-length-range", 0, 104857600])),
        "{policy}"
    );
    // S3 answers 400 EntityTooLarge as soon as the range is exceeded and closes the
    // connection; depending on timing the client reads that answer or sees the reset.
    let fields: std::collections::HashMap<String, String> =
        serde_json::from_value(entry["presigned_url"]["fields"].clone()).unwrap();
    let mut form = reqwest::blocking::multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k, v);
    }
    let file = reqwest::blocking::multipart::Part::bytes(vec![b'x'; 100 * 1024 * 1024 + 1]).file_name("file");
    let sent = api
        .client
        .post(entry["presigned_url"]["url"].as_str().unwrap())
        .multipart(form.part("file", file))
        .send()
        .and_then(|r| Ok((r.status().as_u16(), r.text()?)));
    if let Ok((s, text)) = &sent {
        assert_eq!(*s, 400, "{text}");
        assert!(text.contains("EntityTooLarge"), "{text}");
    }
    let rec = server
        .requests()
        .into_iter()
        .find(|r| r.route == "s3_post")
        .unwrap();
    assert!(rec.status == 400 || rec.status == 0, "{rec:?}");
    finish_fails_not_found(&api, &entry);
}
