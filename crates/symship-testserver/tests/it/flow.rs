//! The upload flow end to end against the real S3 (s3s-fs): presigned PUT and POST round trips,
//! finish, download, and what the server recorded.

use crate::common::*;
use posthog_symbol_data::{write_symbol_data, SourceAndMap};
use serde_json::json;

#[test]
fn presigned_put_round_trip_is_stored_finished_and_valid() {
    let server = server();
    let api = Api::new(&server);
    let body = container("chunk-put", "console.log('put')");
    let len = body.len() as u64;
    let (s, b) = api.start(&[("chunk-put", None, Some("h1"), Some(len))], false, false);
    assert_eq!(s, 201, "{b}");
    let entry = &b["id_map"]["chunk-put"];
    let put_url = entry["presigned_put_url"]
        .as_str()
        .expect("PUT offered when content_length sent");
    assert!(
        put_url.contains("X-Amz-SignedHeaders=content-length%3Bhost"),
        "{put_url}"
    );
    assert!(entry.get("fallback_presigned_url").is_none());
    assert_eq!(
        entry["presigned_url"]["fields"]["key"]
            .as_str()
            .unwrap()
            .split('/')
            .next(),
        Some("symbolsets")
    );
    let (st, text) = put(&api.client, put_url, body.clone());
    assert_eq!(st, 200, "{text}");
    let id = entry["symbol_set_id"].as_str().unwrap();
    let (s, b) = api.finish(&[(id, "h1")]);
    assert_eq!((s, b), (201, json!({"success": true})));

    let sets = server.symbol_sets();
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].content_hash.as_deref(), Some("h1"));
    let ptr = sets[0].storage_ptr.clone().unwrap();
    assert_eq!(server.object_bytes(&ptr), Some(body.clone()));
    assert!(server.violations().is_empty(), "{:?}", server.violations());

    // the S3 front recorded the transfer with its byte count
    let reqs = server.requests();
    let s3: Vec<_> = reqs.iter().filter(|r| r.server == "s3").collect();
    assert_eq!(s3.len(), 1);
    assert_eq!(
        (s3[0].method.as_str(), s3[0].status, s3[0].bytes),
        ("PUT", 200, Some(len))
    );
    let api_routes: Vec<_> = reqs
        .iter()
        .filter(|r| r.server == "api")
        .map(|r| r.route.as_str())
        .collect();
    assert_eq!(api_routes, ["bulk_start_upload", "bulk_finish_upload"]);
    assert_eq!(
        reqs[0].body.as_ref().unwrap()["symbol_sets"][0]["chunk_id"],
        "chunk-put"
    );

    // download: the presigned GET gives back the same bytes, without auth
    let (s, b) = api.get(&format!("symbol_sets/{id}/download/"));
    assert_eq!(s, 200, "{b}");
    let got = api.client.get(b["url"].as_str().unwrap()).send().unwrap();
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(got.bytes().unwrap().to_vec(), body);
}

#[test]
fn presigned_post_round_trip_without_content_length() {
    let server = server();
    let api = Api::new(&server);
    let body = container("chunk-post", "console.log('post')");
    let (s, b) = api.start(&[("chunk-post", None, Some("h"), None)], false, false);
    assert_eq!(s, 201, "{b}");
    let entry = &b["id_map"]["chunk-post"];
    assert!(
        entry.get("presigned_put_url").is_none(),
        "no PUT without content_length: {entry}"
    );
    let fields = entry["presigned_url"]["fields"].as_object().unwrap();
    for f in [
        "key",
        "policy",
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
        "x-amz-signature",
    ] {
        assert!(fields.contains_key(f), "missing {f}");
    }
    let (st, text) = post_form(&api.client, &entry["presigned_url"], body.clone());
    assert_eq!(st, 204, "{text}");
    let id = entry["symbol_set_id"].as_str().unwrap();
    assert_eq!(api.finish(&[(id, "h")]).0, 201);
    let ptr = server.symbol_sets()[0].storage_ptr.clone().unwrap();
    assert_eq!(server.object_bytes(&ptr), Some(body));
    let violations = server.violations();
    assert!(violations.is_empty(), "{violations:?}");
}

#[test]
fn invalid_container_is_recorded_as_violation_but_finish_succeeds() {
    let server = server();
    let api = Api::new(&server);
    let map_without_chunk_id = write_symbol_data(SourceAndMap {
        minified_source: "x".into(),
        sourcemap: r#"{"version":3,"sources":["a.ts"],"names":[],"mappings":"AAAA"}"#.into(),
    })
    .unwrap();
    let map_not_an_object = write_symbol_data(SourceAndMap {
        minified_source: "x".into(),
        sourcemap: "[1,2]".into(),
    })
    .unwrap();
    // (chunk, body, the violation recorded or None): cymbal reads the container and hands the
    // map to its sourcemap parser; it never reads the map's `chunk_id` member, so a map without
    // one (as @posthog/rollup-plugin uploads through posthog-cli: it injects in memory) or with
    // another chunk's (a map shared by several chunks, as posthog-cli uploads it) is fine.
    let cases: [(&str, Vec<u8>, Option<&str>); 5] = [
        ("bad-container", b"just some bytes".to_vec(), Some("container")),
        ("not-an-object", map_not_an_object, Some("map_json")),
        ("no-chunk-id", map_without_chunk_id, None),
        ("other-chunk-id", container("another-chunk", "x"), None),
        ("own-chunk-id", container("own-chunk-id", "x"), None),
    ];
    for (chunk, body, kind) in cases {
        let before = server.violations().len();
        let (s, b) = api.start(&[(chunk, None, Some("h"), Some(body.len() as u64))], false, false);
        assert_eq!(s, 201, "{b}");
        let entry = &b["id_map"][chunk];
        assert_eq!(
            put(&api.client, entry["presigned_put_url"].as_str().unwrap(), body).0,
            200
        );
        let id = entry["symbol_set_id"].as_str().unwrap();
        assert_eq!(
            api.finish(&[(id, "h")]).0,
            201,
            "the real server does not look inside"
        );
        let v = server.violations();
        match kind {
            Some(kind) => {
                let last = v.last().expect("violation recorded");
                assert_eq!(
                    (last.ref_.as_str(), last.kind.as_str()),
                    (chunk, kind),
                    "{last:?}"
                );
            }
            None => assert_eq!(v.len(), before, "{chunk} is not a violation: {v:?}"),
        }
    }
    assert_eq!(server.violations().len(), 2);
}
