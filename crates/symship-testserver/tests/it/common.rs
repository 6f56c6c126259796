//! Helpers of the test server's own tests: a started server (symship-test-support), an HTTP client that speaks to it
//! like posthog-cli does, containers built with posthog-symbol-data, and S3 uploads.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use posthog_symbol_data::{write_symbol_data, SourceAndMap};
use reqwest::blocking::{multipart, Client, Response};
use serde_json::{json, Value};
use symship_test_support::posthog_cli;
pub use symship_test_support::{server, start};
use symship_testserver::TestServer;

/// posthog-cli 0.19.0 in `cwd`, with an environment of its own: only `PATH`, `HOME=cwd`, the
/// server's host, project id and key, and `DO_NOT_TRACK=1` (no developer's settings leak in).
#[allow(clippy::disallowed_methods)] // test harness settings from the environment
pub fn posthog_cli_for(server: &TestServer, cwd: &Path) -> Command {
    let mut c = Command::new(posthog_cli());
    c.current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", cwd)
        .env("POSTHOG_CLI_HOST", server.base_url())
        .env("POSTHOG_CLI_PROJECT_ID", server.project_id().to_string())
        .env("POSTHOG_CLI_API_KEY", server.api_key())
        .env("DO_NOT_TRACK", "1");
    c
}

/// (chunk_id, release_id, content_hash, content_length)
pub type Set<'s> = (&'s str, Option<&'s str>, Option<&'s str>, Option<u64>);

pub struct Api<'a> {
    pub server: &'a TestServer,
    pub client: Client,
    pub key: String,
}

pub fn client() -> Client {
    Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("client")
}

impl<'a> Api<'a> {
    pub fn new(server: &'a TestServer) -> Api<'a> {
        Api {
            server,
            client: client(),
            key: server.api_key(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!(
            "{}/api/projects/{}/error_tracking/{path}",
            self.server.base_url(),
            self.server.project_id()
        )
    }

    pub fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .client
            .post(self.url(path))
            .bearer_auth(&self.key)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .expect("request");
        parse(r)
    }

    pub fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .client
            .put(self.url(path))
            .bearer_auth(&self.key)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .expect("request");
        parse(r)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(self.url(path))
            .bearer_auth(&self.key)
            .send()
            .expect("request");
        parse(r)
    }

    pub fn delete(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .delete(self.url(path))
            .bearer_auth(&self.key)
            .send()
            .expect("request");
        parse(r)
    }

    pub fn create_release(&self, project: &str, version: &str) -> String {
        let (s, b) = self.post(
            "releases",
            json!({"project": project, "version": version, "hash_id": format!("{project}@{version}")}),
        );
        assert_eq!(s, 201, "{b}");
        b["id"].as_str().unwrap().to_owned()
    }

    /// bulk_start_upload with one entry per (chunk_id, release, hash, length).
    pub fn start(&self, sets: &[Set<'_>], force: bool, skip: bool) -> (u16, Value) {
        let sets: Vec<Value> = sets
            .iter()
            .map(|(c, r, h, l)| {
                let mut v = json!({"chunk_id": c, "release_id": r, "content_hash": h});
                if let Some(l) = l {
                    v["content_length"] = json!(l);
                }
                v
            })
            .collect();
        self.post(
            "symbol_sets/bulk_start_upload",
            json!({"symbol_sets": sets, "upload_attempt_id": "a", "upload_run_id": "r", "force": force, "skip_on_conflict": skip}),
        )
    }

    pub fn finish(&self, hashes: &[(&str, &str)]) -> (u16, Value) {
        let m: serde_json::Map<String, Value> =
            hashes.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        self.post("symbol_sets/bulk_finish_upload", json!({"content_hashes": m}))
    }

    /// start + PUT + finish of one valid container; returns the symbol set id.
    pub fn upload(&self, chunk_id: &str, release: Option<&str>, hash: &str) -> String {
        let body = container(chunk_id, "console.log(1)");
        let (s, b) = self.start(
            &[(chunk_id, release, Some(hash), Some(body.len() as u64))],
            false,
            false,
        );
        assert_eq!(s, 201, "{b}");
        let entry = &b["id_map"][chunk_id];
        let (st, text) = put(&self.client, entry["presigned_put_url"].as_str().unwrap(), body);
        assert_eq!(st, 200, "{text}");
        let id = entry["symbol_set_id"].as_str().unwrap().to_owned();
        let (s, b) = self.finish(&[(&id, hash)]);
        assert_eq!(s, 201, "{b}");
        id
    }
}

pub fn parse(r: Response) -> (u16, Value) {
    let s = r.status().as_u16();
    let text = r.text().unwrap_or_default();
    (s, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// A v2 SourceAndMap container whose map carries `chunk_id`.
pub fn container(chunk_id: &str, src: &str) -> Vec<u8> {
    let map =
        json!({"version": 3, "chunk_id": chunk_id, "sources": ["a.ts"], "names": [], "mappings": "AAAA"});
    write_symbol_data(SourceAndMap {
        minified_source: src.into(),
        sourcemap: map.to_string(),
    })
    .unwrap()
}

pub fn put(client: &Client, url: &str, body: Vec<u8>) -> (u16, String) {
    let r = client.put(url).body(body).send().expect("PUT");
    (r.status().as_u16(), r.text().unwrap_or_default())
}

/// posthog-cli's presigned POST: every field as a text part, then `file` with filename="file".
pub fn post_form(client: &Client, presigned: &Value, body: Vec<u8>) -> (u16, String) {
    let fields: HashMap<String, String> = serde_json::from_value(presigned["fields"].clone()).unwrap();
    let mut form = multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k, v);
    }
    form = form.part("file", multipart::Part::bytes(body).file_name("file"));
    let r = client
        .post(presigned["url"].as_str().unwrap())
        .multipart(form)
        .send()
        .expect("POST");
    (r.status().as_u16(), r.text().unwrap_or_default())
}

pub fn hog_error(v: &Value, code: &str) {
    assert_eq!(v["type"], "validation_error", "{v}");
    assert_eq!(v["code"], code, "{v}");
    assert!(v["detail"].is_string(), "{v}");
    assert!(v.get("attr").is_some(), "{v}");
}
