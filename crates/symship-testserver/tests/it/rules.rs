//! §3 rules, one test each, and the §2.8 error codes with their status and body, over HTTP.

use crate::common::*;
use serde_json::json;
use symship_testserver::{Config, Mode, OffsetDateTime};

const H1: &str = "1111";
const H2: &str = "2222";

#[test]
fn duplicate_chunk_ids_are_refused() {
    let server = server();
    let api = Api::new(&server);
    let (s, b) = api.start(
        &[
            ("b", None, Some(H1), None),
            ("a", None, Some(H1), None),
            ("b", None, None, None),
            ("a", None, None, None),
        ],
        false,
        false,
    );
    assert_eq!(s, 400);
    hog_error(&b, "invalid_chunk_ids");
    assert_eq!(b["detail"], "Duplicate chunk IDs provided: a, b");
    assert_eq!(b["attr"], serde_json::Value::Null);
    // the legacy `chunk_ids` count too
    let (s, b) = api.post(
        "symbol_sets/bulk_start_upload",
        json!({"symbol_sets":[{"chunk_id":"c"}],"chunk_ids":["c"]}),
    );
    assert_eq!(s, 400);
    hog_error(&b, "invalid_chunk_ids");
    let (s, b) = api.post(
        "symbol_sets/bulk_check_upload",
        json!({"symbol_sets":[{"chunk_id":"x"},{"chunk_id":"x"}]}),
    );
    assert_eq!(s, 400);
    hog_error(&b, "invalid_chunk_ids");
    assert!(server.symbol_sets().is_empty());
}

#[test]
fn release_ids_must_be_uuids_known_to_the_team() {
    let server = server();
    let api = Api::new(&server);
    let (s, b) = api.start(&[("a", Some("not-a-uuid"), Some(H1), None)], false, false);
    assert_eq!(s, 400);
    hog_error(&b, "invalid_release_id");
    assert_eq!(b["detail"], "Invalid release ID provided: not-a-uuid");
    let unknown = "0190a0a0-0000-7000-8000-000000000000";
    let (s, b) = api.start(&[("a", Some(unknown), Some(H1), None)], false, false);
    assert_eq!(s, 400);
    hog_error(&b, "invalid_release_id");
    assert_eq!(b["detail"], format!("Unknown release ID provided: {unknown}"));
    // the server compares str(uuid): another spelling of a real id is unknown
    let rel = api.create_release("app", "1");
    let (s, b) = api.start(&[("a", Some(&rel.to_uppercase()), Some(H1), None)], false, false);
    assert_eq!(s, 400, "{b}");
    hog_error(&b, "invalid_release_id");
    assert!(server.symbol_sets().is_empty());
}

#[test]
fn declared_length_over_100_mib_is_refused_before_upload() {
    let server = server();
    let api = Api::new(&server);
    let big = 100 * 1024 * 1024 + 1;
    for path in ["symbol_sets/bulk_start_upload", "symbol_sets/bulk_check_upload"] {
        let (s, b) = api.post(
            path,
            json!({"symbol_sets":[{"chunk_id":"z","content_length":big},{"chunk_id":"y","content_length":104857600}]}),
        );
        assert_eq!(s, 400, "{path}");
        hog_error(&b, "file_too_large");
        assert_eq!(b["detail"], "Symbol sets larger than 100MB cannot be uploaded: z");
    }
    let (s, b) = api.post(
        "symbol_sets/bulk_start_upload",
        json!({"symbol_sets":[{"chunk_id":"n","content_length":-1}]}),
    );
    assert_eq!(s, 400);
    assert_eq!(
        (b["code"].as_str(), b["attr"].as_str()),
        (Some("min_value"), Some("symbol_sets__0__content_length"))
    );
}

#[test]
fn release_mismatch_is_refused_and_nothing_changes() {
    let server = server();
    let api = Api::new(&server);
    let r1 = api.create_release("app", "1");
    let r2 = api.create_release("app", "2");
    api.upload("c1", Some(&r1), H1);
    let before = server.symbol_sets();
    for force in [false, true] {
        let (s, b) = api.start(&[("c1", Some(&r2), Some(H1), None)], force, false);
        assert_eq!(s, 400);
        hog_error(&b, "release_id_mismatch");
        assert_eq!(b["detail"], "Symbol set c1 already has a release ID");
    }
    let (s, b) = api.post(
        "symbol_sets/bulk_check_upload",
        json!({"symbol_sets":[{"chunk_id":"c1","release_id":r2,"content_hash":H1}]}),
    );
    assert_eq!(s, 400);
    hog_error(&b, "release_id_mismatch");
    // atomic: a new chunk in the same failing request is not created either
    let (s, _) = api.start(
        &[("new", None, Some(H1), None), ("c1", Some(&r2), Some(H1), None)],
        false,
        false,
    );
    assert_eq!(s, 400);
    assert_eq!(server.symbol_sets(), before);
    // the same release, or none, is fine
    assert_eq!(
        api.start(&[("c1", Some(&r1), Some(H1), None)], false, false).0,
        201
    );
    assert_eq!(api.start(&[("c1", None, Some(H1), None)], false, false).0, 201);
}

#[test]
fn orphan_joins_a_release_without_reupload() {
    let server = server();
    let api = Api::new(&server);
    let id = api.upload("orphan", None, H1);
    let rel = api.create_release("app", "1");
    let (s, b) = api.post(
        "symbol_sets/bulk_check_upload",
        json!({"symbol_sets":[{"chunk_id":"orphan","release_id":rel,"content_hash":H1}]}),
    );
    assert_eq!(
        (s, b),
        (200, json!({"chunk_ids_to_upload":["orphan"]})),
        "binding still needed"
    );
    let (s, b) = api.start(&[("orphan", Some(&rel), Some(H1), None)], false, false);
    assert_eq!(
        (s, b),
        (201, json!({"id_map":{}})),
        "bound, identical hash: no upload"
    );
    let set = &server.symbol_sets()[0];
    assert_eq!(set.id.to_string(), id);
    assert_eq!(set.release_id.map(|r| r.to_string()), Some(rel.clone()));
    assert_eq!(set.content_hash.as_deref(), Some(H1));
    let (_, b) = api.get(&format!("symbol_sets/{id}"));
    assert_eq!(b["release"]["id"], rel.as_str());
}

#[test]
fn identical_hash_is_skipped_and_check_omits_it() {
    let server = server();
    let api = Api::new(&server);
    api.upload("same", None, H1);
    let (s, b) = api.post(
        "symbol_sets/bulk_check_upload",
        json!({"symbol_sets":[{"chunk_id":"same","content_hash":H1},{"chunk_id":"other","content_hash":H1}]}),
    );
    assert_eq!((s, b), (200, json!({"chunk_ids_to_upload":["other"]})));
    let (s, b) = api.start(&[("same", None, Some(H1), Some(10))], false, false);
    assert_eq!((s, b), (201, json!({"id_map":{}})));
    let (s, b) = api.post("symbol_sets/bulk_finish_upload", json!({"content_hashes":{}}));
    assert_eq!((s, b), (201, json!({"success":true})));
    assert_eq!(server.symbol_sets()[0].content_hash.as_deref(), Some(H1));
}

#[test]
fn different_hash_is_a_conflict() {
    let server = server();
    let api = Api::new(&server);
    api.upload("c", None, H1);
    let (s, b) = api.start(&[("c", None, Some(H2), None)], false, false);
    assert_eq!(s, 400);
    hog_error(&b, "content_hash_mismatch");
    assert_eq!(b["detail"], "Symbol set c already exists with different content.");
    let (s, b) = api.post(
        "symbol_sets/bulk_check_upload",
        json!({"symbol_sets":[{"chunk_id":"c","content_hash":H2}]}),
    );
    assert_eq!(s, 400);
    hog_error(&b, "content_hash_mismatch");
    assert_eq!(server.symbol_sets()[0].content_hash.as_deref(), Some(H1));
}

#[test]
fn force_reissues_a_new_key_and_clears_the_hash() {
    let server = server();
    let api = Api::new(&server);
    let id = api.upload("f", None, H1);
    let old = server.symbol_sets()[0].clone();
    let (s, b) = api.post(
        "symbol_sets/bulk_check_upload",
        json!({"symbol_sets":[{"chunk_id":"f","content_hash":H2}],"force":true}),
    );
    assert_eq!((s, b), (200, json!({"chunk_ids_to_upload":["f"]})));
    let (s, b) = api.start(&[("f", None, Some(H2), None)], true, false);
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["id_map"]["f"]["symbol_set_id"], id.as_str());
    let now = server.symbol_sets()[0].clone();
    assert_eq!(now.id, old.id);
    assert_ne!(now.storage_ptr, old.storage_ptr, "a new key");
    assert_eq!(now.content_hash, None, "NULL until finish");
    assert_eq!(
        b["id_map"]["f"]["presigned_url"]["fields"]["key"],
        now.storage_ptr.clone().unwrap().as_str()
    );
    // the old object is left behind
    assert!(server.object_bytes(old.storage_ptr.as_deref().unwrap()).is_some());
}

#[test]
fn skip_on_conflict_keeps_the_stored_set() {
    let server = server();
    let api = Api::new(&server);
    api.upload("k", None, H1);
    let before = server.symbol_sets();
    let (s, b) = api.start(&[("k", None, Some(H2), None)], false, true);
    assert_eq!((s, b), (201, json!({"id_map":{}})));
    let (s, b) = api.post(
        "symbol_sets/bulk_check_upload",
        json!({"symbol_sets":[{"chunk_id":"k","content_hash":H2}],"skip_on_conflict":true}),
    );
    assert_eq!((s, b), (200, json!({"chunk_ids_to_upload":[]})));
    assert_eq!(server.symbol_sets()[0].storage_ptr, before[0].storage_ptr);
    assert_eq!(server.symbol_sets()[0].content_hash.as_deref(), Some(H1));
}

#[test]
fn force_and_skip_together_are_refused() {
    let server = server();
    let api = Api::new(&server);
    for path in ["symbol_sets/bulk_start_upload", "symbol_sets/bulk_check_upload"] {
        let (s, b) = api.post(
            path,
            json!({"symbol_sets":[{"chunk_id":"a"}],"force":true,"skip_on_conflict":true}),
        );
        assert_eq!(s, 400, "{path}");
        hog_error(&b, "invalid_conflict_handling");
    }
}

#[test]
fn unfinished_upload_is_reissued() {
    let server = server();
    let api = Api::new(&server);
    let (s, b1) = api.start(&[("u", None, Some(H1), None)], false, false);
    assert_eq!(s, 201);
    let key1 = server.symbol_sets()[0].storage_ptr.clone();
    // never finished: content_hash NULL, so the same hash is re-issued under a new key
    let (s, b2) = api.start(&[("u", None, Some(H1), None)], false, false);
    assert_eq!(s, 201);
    assert_eq!(
        b1["id_map"]["u"]["symbol_set_id"],
        b2["id_map"]["u"]["symbol_set_id"]
    );
    assert_ne!(server.symbol_sets()[0].storage_ptr, key1);
    let (_, b) = api.post(
        "symbol_sets/bulk_check_upload",
        json!({"symbol_sets":[{"chunk_id":"u","content_hash":H1}]}),
    );
    assert_eq!(b, json!({"chunk_ids_to_upload":["u"]}));
}

#[test]
fn missing_hash_rules() {
    let server = server();
    let api = Api::new(&server);
    // both NULL: a pending upload restarted
    assert_eq!(api.start(&[("p", None, None, None)], false, false).0, 201);
    let (s, b) = api.start(&[("p", None, None, None)], false, false);
    assert_eq!(s, 201);
    assert!(b["id_map"]["p"].is_object());
    // an old CLI without hash against a finished set
    api.upload("done", None, H1);
    let (s, b) = api.start(&[("done", None, None, None)], false, false);
    assert_eq!(s, 400);
    hog_error(&b, "content_hash_required");
    assert_eq!(
        b["detail"],
        "Symbol set done already has content; provide a content_hash to update it."
    );
    // the legacy body form has no hashes
    let (s, b) = api.post("symbol_sets/bulk_start_upload", json!({"chunk_ids":["done"]}));
    assert_eq!(s, 400);
    hog_error(&b, "content_hash_required");
}

#[test]
fn finish_with_unknown_id() {
    let server = server();
    let api = Api::new(&server);
    let a = "0190a0a0-0000-7000-8000-00000000000b";
    let b_ = "0190a0a0-0000-7000-8000-00000000000a";
    let (s, b) = api.finish(&[(a, H1), (b_, H1)]);
    assert_eq!(s, 400);
    hog_error(&b, "symbol_set_not_found");
    assert_eq!(b["detail"], format!("Unknown symbol set IDs: {b_}, {a}"));
}

#[test]
fn finish_with_missing_object() {
    let server = server();
    let api = Api::new(&server);
    let (_, b) = api.start(&[("m", None, Some(H1), None)], false, false);
    let id = b["id_map"]["m"]["symbol_set_id"].as_str().unwrap();
    let (s, b) = api.finish(&[(id, H1)]);
    assert_eq!(s, 400);
    hog_error(&b, "file_not_found");
    assert_eq!(b["detail"], "No file has been uploaded for the symbol set.");
    assert_eq!(server.symbol_sets().len(), 1, "the row stays");
    assert_eq!(server.symbol_sets()[0].content_hash, None);
}

#[test]
fn finish_with_empty_object_deletes_the_row() {
    let server = server();
    let api = Api::new(&server);
    let (_, b) = api.start(&[("e", None, Some(H1), Some(0))], false, false);
    let entry = &b["id_map"]["e"];
    assert_eq!(
        put(
            &api.client,
            entry["presigned_put_url"].as_str().unwrap(),
            Vec::new()
        )
        .0,
        200
    );
    let (s, b) = api.finish(&[(entry["symbol_set_id"].as_str().unwrap(), H1)]);
    assert_eq!(s, 400);
    hog_error(&b, "file_too_large");
    assert_eq!(b["detail"], "The uploaded symbol set file was too large.");
    assert!(server.symbol_sets().is_empty(), "row deleted");
}

#[test]
fn finish_with_object_over_100_mib_deletes_the_row() {
    let server = server();
    let api = Api::new(&server);
    let (_, b) = api.start(&[("big", None, Some(H1), None)], false, false);
    let id = b["id_map"]["big"]["symbol_set_id"].as_str().unwrap().to_owned();
    // An object S3 holds but no presigned upload could produce: a sparse file in s3s-fs's store.
    let ptr = server.symbol_sets()[0].storage_ptr.clone().unwrap();
    let path = server.data_dir().join("s3/posthog").join(&ptr);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::File::create(&path)
        .unwrap()
        .set_len(100 * 1024 * 1024 + 1)
        .unwrap();
    let (s, b) = api.finish(&[(&id, H1)]);
    assert_eq!(s, 400, "{b}");
    hog_error(&b, "file_too_large");
    assert!(server.symbol_sets().is_empty());
}

#[test]
fn refresh_last_used_only_after_12_hours() {
    let server = server();
    let api = Api::new(&server);
    api.upload("old", None, H1);
    api.upload("recent", None, H1);
    let t0 = server
        .symbol_sets()
        .iter()
        .find(|s| s.ref_ == "old")
        .unwrap()
        .last_used
        .expect("set on start");
    let long_ago = OffsetDateTime::now_utc() - time_hours(13);
    let lately = OffsetDateTime::now_utc() - time_hours(11);
    assert!(server.set_last_used("old", Some(long_ago)));
    assert!(server.set_last_used("recent", Some(lately)));
    let (s, _) = api.post(
        "symbol_sets/bulk_check_upload",
        json!({"symbol_sets":[{"chunk_id":"old","content_hash":H1},{"chunk_id":"recent","content_hash":H1}]}),
    );
    assert_eq!(s, 200);
    let sets = server.symbol_sets();
    let lu = |r: &str| sets.iter().find(|s| s.ref_ == r).unwrap().last_used.unwrap();
    assert!(lu("old") >= t0, "older than 12 h: refreshed");
    assert_eq!(lu("recent"), lately, "younger than 12 h: untouched");
    // start refreshes every referenced chunk the same way, NULL included
    server.set_last_used("recent", None);
    api.start(&[("recent", None, Some(H1), None)], false, false);
    assert!(server
        .symbol_sets()
        .iter()
        .find(|s| s.ref_ == "recent")
        .unwrap()
        .last_used
        .is_some());
}

fn time_hours(h: i64) -> std::time::Duration {
    std::time::Duration::from_secs(h as u64 * 3600)
}

#[test]
fn object_storage_disabled() {
    let server = start(Config {
        mode: Mode {
            object_storage_disabled: true,
            ..Mode::default()
        },
        ..Config::default()
    });
    let api = Api::new(&server);
    let (s, b) = api.start(&[("a", None, Some(H1), None)], false, false);
    assert_eq!(s, 400);
    hog_error(&b, "object_storage_required");
    let (s, b) = api.finish(&[("0190a0a0-0000-7000-8000-00000000000a", H1)]);
    assert_eq!(s, 400);
    hog_error(&b, "object_storage_required");
    let (s, b) = api.post("symbol_sets/start_upload?chunk_id=a", json!({}));
    assert_eq!(s, 400);
    hog_error(&b, "object_storage_required");
}

#[test]
fn finish_body_shapes() {
    let server = server();
    let api = Api::new(&server);
    let (s, b) = api.post("symbol_sets/bulk_finish_upload", json!({"content_hashes": null}));
    assert_eq!((s, b), (400, json!({"detail":"content_hashes are required"})));
    let (s, b) = api.post("symbol_sets/bulk_finish_upload", json!({}));
    assert_eq!((s, b), (201, json!({"success":true})));
}

#[test]
fn serializer_errors_and_bad_json() {
    let server = server();
    let api = Api::new(&server);
    let (s, b) = api.post(
        "symbol_sets/bulk_start_upload",
        json!({"symbol_sets":[{"release_id":null}]}),
    );
    assert_eq!(s, 400);
    assert_eq!(
        b,
        json!({"type":"validation_error","code":"required","detail":"This field is required.","attr":"symbol_sets__0__chunk_id"})
    );
    let (s, b) = api.post(
        "symbol_sets/bulk_start_upload",
        json!({"symbol_sets":[{"chunk_id":"a"}],"force":"maybe"}),
    );
    assert_eq!((s, b["code"].as_str()), (400, Some("invalid")));
    let r = api
        .client
        .post(api.url("symbol_sets/bulk_start_upload"))
        .bearer_auth(&api.key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .unwrap();
    let (s, b) = parse(r);
    assert_eq!((s, b["code"].as_str()), (400, Some("parse_error")));
    let r = api
        .client
        .post(api.url("symbol_sets/bulk_start_upload"))
        .bearer_auth(&api.key)
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 415, "no JSON content type");
}

#[test]
fn auth_401_403_and_unknown_project() {
    let server = server();
    let c = client();
    let api = Api::new(&server);
    let url = api.url("symbol_sets/bulk_start_upload");
    let (s, b) = parse(
        c.post(&url)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .unwrap(),
    );
    assert_eq!(
        (s, b["type"].as_str(), b["code"].as_str()),
        (401, Some("authentication_error"), Some("not_authenticated"))
    );
    let (s, b) = parse(
        c.post(&url)
            .bearer_auth("phx_wrong")
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .unwrap(),
    );
    assert_eq!((s, b["code"].as_str()), (401, Some("authentication_failed")));
    let ro = server.read_only_key();
    assert!(ro.starts_with("phx_") && ro != server.api_key());
    let (s, b) = parse(
        c.post(&url)
            .bearer_auth(&ro)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .unwrap(),
    );
    assert_eq!((s, b["code"].as_str()), (403, Some("permission_denied")));
    assert_eq!(
        b["detail"],
        "API key missing required scope 'error_tracking:write'"
    );
    // read actions work with the read scope
    let r = c.get(api.url("symbol_sets/")).bearer_auth(&ro).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = c
        .post(api.url("releases"))
        .bearer_auth(&ro)
        .json(&json!({"project":"a","version":"1"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let other = format!(
        "{}/api/projects/999/error_tracking/symbol_sets/",
        server.base_url()
    );
    let r = c.get(other).bearer_auth(server.api_key()).send().unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

#[test]
fn both_prefixes_and_optional_trailing_slash() {
    let server = server();
    let api = Api::new(&server);
    api.upload("p1", None, H1);
    let c = client();
    for prefix in ["projects", "environments"] {
        for slash in ["", "/"] {
            let url = format!(
                "{}/api/{prefix}/{}/error_tracking/symbol_sets{slash}",
                server.base_url(),
                server.project_id()
            );
            let (s, b) = parse(c.get(url).bearer_auth(server.api_key()).send().unwrap());
            assert_eq!((s, b["count"].as_u64()), (200, Some(1)), "{prefix}{slash}");
            let url = format!(
                "{}/api/{prefix}/{}/error_tracking/symbol_sets/bulk_check_upload{slash}",
                server.base_url(),
                server.project_id()
            );
            let r = c
                .post(url)
                .bearer_auth(server.api_key())
                .json(&json!({"symbol_sets":[]}))
                .send()
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
        }
    }
    let r = c
        .get(api.url("symbol_sets/bulk_start_upload"))
        .bearer_auth(server.api_key())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
}

#[test]
fn old_server_mode_has_no_check_and_no_put() {
    let server = start(Config {
        mode: Mode {
            old_server: true,
            ..Mode::default()
        },
        ..Config::default()
    });
    let api = Api::new(&server);
    let (s, _) = api.post("symbol_sets/bulk_check_upload", json!({"symbol_sets":[]}));
    assert_eq!(s, 404);
    let (s, b) = api.start(&[("o", None, Some(H1), Some(200 * 1024 * 1024))], false, false);
    assert_eq!(s, 201, "content_length is unknown to it: {b}");
    let entry = b["id_map"]["o"].as_object().unwrap();
    assert!(
        entry.contains_key("presigned_url") && !entry.contains_key("presigned_put_url"),
        "{entry:?}"
    );
}

#[test]
fn transfer_acceleration_offers_fallbacks_on_another_endpoint() {
    let server = start(Config {
        mode: Mode {
            transfer_acceleration: true,
            ..Mode::default()
        },
        ..Config::default()
    });
    let api = Api::new(&server);
    let body = container("acc", "x");
    let (s, b) = api.start(&[("acc", None, Some(H1), Some(body.len() as u64))], false, false);
    assert_eq!(s, 201);
    let e = &b["id_map"]["acc"];
    let accel = server.s3_accel_addr().unwrap().to_string();
    let std_ = server.s3_front_addr().to_string();
    assert!(e["presigned_url"]["url"].as_str().unwrap().contains(&accel));
    assert!(e["fallback_presigned_url"]["url"]
        .as_str()
        .unwrap()
        .contains(&std_));
    assert!(e["presigned_put_url"].as_str().unwrap().contains(&accel));
    let fb = e["fallback_presigned_put_url"].as_str().unwrap();
    assert!(fb.contains(&std_));
    // each URL is signed for its own host
    assert_eq!(put(&api.client, fb, body.clone()).0, 200);
    assert_eq!(
        put(&api.client, e["presigned_put_url"].as_str().unwrap(), body).0,
        200
    );
    let reqs = server.requests();
    assert_eq!(
        reqs.iter()
            .filter(|r| r.route == "s3_put" && r.server == "s3")
            .count(),
        1
    );
    assert_eq!(
        reqs.iter()
            .filter(|r| r.route == "s3_accel_put" && r.server == "s3_accel")
            .count(),
        1
    );
}
