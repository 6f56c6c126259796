//! §2.9 legacy endpoints, §2.10 management endpoints (list filters, pagination, retrieve,
//! delete, bulk_delete, download) and §4 releases (CRUD, hash lookup, the create race).

use crate::common::*;
use serde_json::{json, Value};
use symship_testserver::OffsetDateTime;

#[test]
fn list_pagination_shapes() {
    let server = server();
    let api = Api::new(&server);
    for i in 0..5 {
        api.start(&[(&format!("c{i}"), None, Some("h"), None)], false, false);
    }
    let (s, b) = api.get("symbol_sets/?limit=2");
    assert_eq!(s, 200);
    assert_eq!(b["count"], 5);
    assert_eq!(b["results"].as_array().unwrap().len(), 2);
    assert_eq!(b["previous"], Value::Null);
    let next = b["next"].as_str().unwrap();
    assert_eq!(next, format!("{}?limit=2&offset=2", api.url("symbol_sets/")));
    let (_, b2) = parse(api.client.get(next).bearer_auth(&api.key).send().unwrap());
    assert_eq!(
        b2["previous"].as_str().unwrap(),
        format!("{}?limit=2", api.url("symbol_sets/"))
    );
    let (_, b3) = api.get("symbol_sets/?limit=2&offset=4");
    assert_eq!(
        (b3["next"].clone(), b3["results"].as_array().unwrap().len()),
        (Value::Null, 1)
    );
    assert!(b3["previous"].as_str().unwrap().ends_with("limit=2&offset=2"));
    // default ordering -created_at: newest first
    let (_, all) = api.get("symbol_sets");
    let refs: Vec<&str> = all["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ref"].as_str().unwrap())
        .collect();
    assert_eq!(refs, ["c4", "c3", "c2", "c1", "c0"]);
    let (_, b) = api.get("symbol_sets/?limit=500");
    assert_eq!(
        b["results"].as_array().unwrap().len(),
        5,
        "clamped to max_limit, not an error"
    );
    let (_, b) = api.get("symbol_sets/?include_count=false&limit=2");
    assert_eq!(b["count"], Value::Null);
    // a SymbolSet's shape
    let first = &all["results"][0];
    let keys: Vec<&str> = first.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "id",
            "ref",
            "team_id",
            "created_at",
            "last_used",
            "failure_reason",
            "has_uploaded_file",
            "release"
        ]
    );
}

#[test]
fn list_filters_and_orderings() {
    let server = server();
    let api = Api::new(&server);
    let rel = api.create_release("shop-web", "9.9.9");
    api.upload("alpha", Some(&rel), "h");
    api.upload("beta", None, "h");
    api.upload("gamma", None, "h");
    server.set_created_at(
        "alpha",
        OffsetDateTime::now_utc() - std::time::Duration::from_secs(60),
    );
    let refs = |q: &str| -> Vec<String> {
        let (s, b) = api.get(&format!("symbol_sets/?{q}"));
        assert_eq!(s, 200, "{q}: {b}");
        b["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["ref"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(refs("ref=beta"), ["beta"]);
    assert_eq!(refs("ref=bet"), Vec::<String>::new(), "ref is exact");
    assert_eq!(refs("search=ET"), ["beta"], "icontains on ref");
    assert_eq!(refs("search=9.9"), ["alpha"], "release version");
    assert_eq!(refs("search=SHOP"), ["alpha"], "release project");
    assert_eq!(refs("order_by=ref"), ["alpha", "beta", "gamma"]);
    assert_eq!(refs("order_by=-ref"), ["gamma", "beta", "alpha"]);
    assert_eq!(refs("order_by=created_at")[0], "alpha");
    assert_eq!(refs("status=valid").len(), 3);
    assert_eq!(refs("status=invalid").len(), 0);
    server.set_last_used("beta", None);
    assert_eq!(refs("order_by=-last_used")[0], "beta", "NULL first descending");
    assert_eq!(refs("order_by=last_used")[2], "beta", "NULL last ascending");
    let (s, b) = api.get("symbol_sets/?status=broken");
    assert_eq!(
        (s, b["code"].as_str(), b["attr"].as_str()),
        (400, Some("invalid_choice"), Some("status"))
    );
    let (s, b) = api.get("symbol_sets/?order_by=size");
    assert_eq!((s, b["attr"].as_str()), (400, Some("order_by")));
}

#[test]
fn retrieve_update_delete_bulk_delete_download() {
    let server = server();
    let api = Api::new(&server);
    let a = api.upload("a", None, "h");
    let b_ = api.upload("b", None, "h");
    let c = api.upload("c", None, "h");
    let (s, b) = api.get(&format!("symbol_sets/{a}/"));
    assert_eq!(
        (s, b["ref"].as_str(), b["has_uploaded_file"].as_bool()),
        (200, Some("a"), Some(true))
    );
    let (s, b2) = api.put(&format!("symbol_sets/{a}"), json!({"ref":"changed"}));
    assert_eq!((s, b2["ref"].as_str()), (200, Some("a")), "update is a no-op");
    let missing = "0190a0a0-0000-7000-8000-0000000000ff";
    assert_eq!(api.get(&format!("symbol_sets/{missing}")).0, 404);
    assert_eq!(api.get(&format!("symbol_sets/{missing}/download/")).0, 404);
    let (s, d) = api.get(&format!("symbol_sets/{c}/download/"));
    assert_eq!(s, 200);
    assert!(d["url"].as_str().unwrap().contains("X-Amz-Expires=3600"));
    assert_eq!(api.delete(&format!("symbol_sets/{a}")).0, 204);
    assert_eq!(api.delete(&format!("symbol_sets/{a}")).0, 404);
    let (s, b) = api.post("symbol_sets/bulk_delete", json!({"ids":[b_, c, missing]}));
    assert_eq!((s, b), (200, json!({"deleted":2})));
    let (s, b) = api.post("symbol_sets/bulk_delete", json!({}));
    assert_eq!((s, b), (400, json!({"detail":"ids is required"})));
    let (s, b) = api.post("symbol_sets/bulk_delete", json!({"ids":"x"}));
    assert_eq!((s, b), (400, json!({"detail":"ids must be a list"})));
    assert!(server.symbol_sets().is_empty());
}

#[test]
fn legacy_start_and_finish_upload() {
    let server = server();
    let api = Api::new(&server);
    let (s, b) = api.post("symbol_sets/start_upload", json!({}));
    assert_eq!(
        (s, b),
        (400, json!({"detail":"chunk_id query parameter is required"}))
    );
    let (s, b) = api.post("symbol_sets/start_upload?chunk_id=legacy", json!({}));
    assert_eq!(s, 201, "{b}");
    let id = b["symbol_set_id"].as_str().unwrap();
    let (s, b2) = api.put(
        &format!("symbol_sets/{id}/finish_upload"),
        json!({"content_hash":"lh"}),
    );
    assert_eq!(s, 400);
    hog_error(&b2, "file_not_found");
    let body = container("legacy", "x");
    assert_eq!(post_form(&api.client, &b["presigned_url"], body).0, 204);
    let (s, b3) = api.put(&format!("symbol_sets/{id}/finish_upload"), json!({}));
    assert_eq!(s, 400);
    hog_error(&b3, "content_hash_required");
    let (s, b4) = api.put(
        &format!("symbol_sets/{id}/finish_upload"),
        json!({"content_hash":"lh"}),
    );
    assert_eq!((s, b4), (200, json!({"success":true})));
    // the hash is only set once
    api.put(
        &format!("symbol_sets/{id}/finish_upload"),
        json!({"content_hash":"other"}),
    );
    assert_eq!(server.symbol_sets()[0].content_hash.as_deref(), Some("lh"));
    let violations = server.violations();
    assert!(violations.is_empty(), "{violations:?}");
}

#[test]
fn legacy_create_stores_the_bytes_itself() {
    let server = server();
    let api = Api::new(&server);
    let body = container("made", "x");
    let form = reqwest::blocking::multipart::Form::new().part(
        "file",
        reqwest::blocking::multipart::Part::bytes(body.clone()).file_name("file"),
    );
    let r = api
        .client
        .post(api.url("symbol_sets?chunk_id=made&multipart=true"))
        .bearer_auth(&api.key)
        .multipart(form)
        .send()
        .unwrap();
    let (s, b) = parse(r);
    assert_eq!((s, b), (201, json!({"ok":true})));
    let set = &server.symbol_sets()[0];
    use sha2::Digest as _;
    assert_eq!(
        set.content_hash.as_deref(),
        Some(hex::encode(sha2::Sha512::digest(&body)).as_str())
    );
    assert_eq!(
        server.object_bytes(set.storage_ptr.as_deref().unwrap()),
        Some(body)
    );
}

#[test]
fn releases_crud_and_hash_lookup() {
    let server = server();
    let api = Api::new(&server);
    let (s, b) = api.post("releases", json!({"project":"p"}));
    assert_eq!(
        (s, b["code"].as_str(), b["detail"].as_str()),
        (400, Some("invalid"), Some("Version is required"))
    );
    let (s, b) = api.post("releases", json!({"version":"1"}));
    assert_eq!((s, b["detail"].as_str()), (400, Some("Project is required")));
    let (s, b) = api.post(
        "releases",
        json!({"version":"1","project":"p","hash_id":"x".repeat(129)}),
    );
    assert_eq!(s, 400, "{b}");
    let (s, rel) = api.post(
        "releases",
        json!({"version":"1","project":"p","hash_id":"h1","metadata":{"git":{"commit_id":"abc"}}}),
    );
    assert_eq!(s, 201);
    let keys: Vec<&str> = rel.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "id",
            "hash_id",
            "team_id",
            "created_at",
            "metadata",
            "version",
            "project"
        ]
    );
    let id = rel["id"].as_str().unwrap();
    let (s, b) = api.post("releases", json!({"version":"2","project":"p","hash_id":"h1"}));
    assert_eq!(s, 400);
    hog_error(&b, "release_hash_in_use");
    assert_eq!(b["detail"], "Hash id h1 already in use");
    assert_eq!(api.get("releases/hash/h1").1["id"], id);
    assert_eq!(api.get("releases/hash/h1/").0, 200);
    assert_eq!(api.get("releases/hash/nope").0, 404);
    assert_eq!(api.get(&format!("releases/{id}")).1["version"], "1");
    let (s, _) = api.put(&format!("releases/{id}"), json!({"version":"1.1"}));
    assert_eq!(s, 204);
    assert_eq!(api.get(&format!("releases/{id}/")).1["version"], "1.1");
    let (s, b) = api.get("releases");
    assert_eq!((s, b["count"].as_u64()), (200, Some(1)));
    let (_, gen) = api.post("releases", json!({"version":"3","project":"p"}));
    assert!(
        gen["hash_id"].as_str().is_some_and(|h| !h.is_empty()),
        "generated when omitted"
    );
    assert_eq!(api.delete(&format!("releases/{id}")).0, 204);
    assert_eq!(api.get(&format!("releases/{id}")).0, 404);
}

#[test]
fn concurrent_release_creates_race_on_the_hash() {
    let server = server();
    let statuses: Vec<(u16, Value)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let server = &server;
                s.spawn(move || {
                    Api::new(server).post(
                        "releases",
                        json!({"project":"p","version":format!("{i}"),"hash_id":"same"}),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|(s, _)| *s == 201).count(),
        1,
        "{statuses:?}"
    );
    for (s, b) in statuses.iter().filter(|(s, _)| *s != 201) {
        assert_eq!(*s, 400);
        hog_error(b, "release_hash_in_use");
    }
    assert_eq!(server.releases().len(), 1);
}
