//! `symship symbol-sets list|get|download|delete` against symship-testserver, with sets put
//! there by `symship sourcemap process`.

use std::collections::BTreeSet;
use std::path::Path;

use symship_test_support::*;

use crate::support::*;
use serde_json::Value;

fn refs(v: &Value) -> Vec<String> {
    v["symbol_sets"]
        .as_array()
        .expect("symbol_sets")
        .iter()
        .map(|s| s["ref"].as_str().unwrap().to_owned())
        .collect()
}

fn list(server: &symship_testserver::TestServer, cwd: &Path, args: &[&str]) -> Value {
    let r = ok(
        symship_for(server, cwd)
            .args(["symbol-sets", "list", "--output", "json"])
            .args(args),
        0,
    );
    let v = r.json();
    assert_eq!(v["count"].as_u64().unwrap() as usize, refs(&v).len());
    v
}

#[test]
fn list_follows_pages_and_applies_every_filter() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    // 120 sets of release app@1.0, and the vite-react fixture as app@2.0 (symbol-set mode binds
    // the sets to the release).
    let many = tmp.path().join("many");
    generate_tiny(&many, 120, "m");
    process(
        &server,
        tmp.path(),
        &many,
        &[
            "--release-mode",
            "symbol-set",
            "--release-name",
            "app",
            "--release-version",
            "1.0",
        ],
    );
    let vite = tmp.path().join("vite");
    copy_dir(&repo_root().join("fixtures/vite-react/dist"), &vite);
    process(
        &server,
        tmp.path(),
        &vite,
        &[
            "--release-mode",
            "symbol-set",
            "--release-name",
            "app",
            "--release-version",
            "2.0",
        ],
    );
    let many_ids: BTreeSet<String> = chunk_ids(&many).into_iter().map(|(id, _)| id).collect();
    let vite_ids: BTreeSet<String> = chunk_ids(&vite).into_iter().map(|(id, _)| id).collect();
    assert_eq!(many_ids.len(), 120);
    assert!(vite_ids.len() >= 3, "{vite_ids:?}");
    let total = 120 + vite_ids.len();
    assert_eq!(server.symbol_sets().len(), total);

    // Everything, across pages of 100.
    let before = server.requests().len();
    let all = list(&server, tmp.path(), &[]);
    let got: BTreeSet<String> = refs(&all).into_iter().collect();
    assert_eq!(got.len(), total, "no duplicates, nothing missing");
    assert_eq!(got, many_ids.union(&vite_ids).cloned().collect());
    let lists: Vec<_> = server.requests()[before..]
        .iter()
        .filter(|r| r.route == "list")
        .cloned()
        .collect();
    assert_eq!(lists.len(), 2, "two pages: {lists:?}");
    assert!(
        lists[1].query.as_deref().unwrap().contains("offset=100"),
        "{lists:?}"
    );
    for s in all["symbol_sets"].as_array().unwrap() {
        assert_eq!(s["has_uploaded_file"], true);
        assert!(s["created_at"].is_string() && s["id"].is_string());
    }

    // --ref: exactly that one.
    let one = many_ids.iter().next().unwrap();
    let v = list(&server, tmp.path(), &["--ref", one]);
    assert_eq!(refs(&v), vec![one.clone()]);
    assert_eq!(v["symbol_sets"][0]["release"]["version"], "1.0");

    // --search matches the release version (no chunk id contains a dot).
    let v = list(&server, tmp.path(), &["--search", "2.0"]);
    assert_eq!(refs(&v).into_iter().collect::<BTreeSet<_>>(), vite_ids);
    // ... and parts of refs.
    let prefix = &one[one.len() - 12..];
    let v = list(&server, tmp.path(), &["--search", prefix]);
    assert!(refs(&v).contains(one));
    assert!(refs(&v).iter().all(|r| r.contains(prefix)));

    // --status: every set here has its bytes.
    assert_eq!(list(&server, tmp.path(), &["--status", "valid"])["count"], total);
    assert_eq!(list(&server, tmp.path(), &["--status", "invalid"])["count"], 0);
    assert!(server
        .requests()
        .iter()
        .any(|r| r.route == "list" && r.query.as_deref().is_some_and(|q| q.contains("status=invalid"))));

    // --order-by, both directions (the hyphen value works after a space, too).
    let asc = refs(&list(&server, tmp.path(), &["--order-by", "ref"]));
    let mut sorted = asc.clone();
    sorted.sort();
    assert_eq!(asc, sorted);
    let desc = refs(&list(&server, tmp.path(), &["--order-by", "-ref"]));
    sorted.reverse();
    assert_eq!(desc, sorted);

    // --release by NAME@VERSION and by id.
    let v = list(&server, tmp.path(), &["--release", "app@2.0", "--order-by=ref"]);
    assert_eq!(refs(&v).into_iter().collect::<BTreeSet<_>>(), vite_ids);
    assert_eq!(v["release"]["version"], "2.0");
    let v1 = server
        .releases()
        .into_iter()
        .find(|r| r.version == "1.0")
        .unwrap();
    let v = list(&server, tmp.path(), &["--release", &v1.id.to_string()]);
    assert_eq!(refs(&v).into_iter().collect::<BTreeSet<_>>(), many_ids);
    // Filters combine: --release with --search.
    let v = list(&server, tmp.path(), &["--release", "app@1.0", "--search", prefix]);
    assert_eq!(refs(&v), vec![one.clone()]);

    // An unknown release fails (1); a malformed one is a usage error (2).
    let r = ok(
        symship_for(&server, tmp.path()).args(["symbol-sets", "list", "--release", "app@9.9"]),
        1,
    );
    assert!(r.stderr.contains("no release 9.9 of app"), "{}", r.stderr);
    ok(
        symship_for(&server, tmp.path()).args(["symbol-sets", "list", "--release", "app"]),
        2,
    );
    ok(
        symship_for(&server, tmp.path()).args(["symbol-sets", "list", "--order-by", "size"]),
        2,
    );

    // The text table: a header, one row per set, a count.
    let r = ok(
        symship_for(&server, tmp.path()).args(["symbol-sets", "list", "--release", "app@2.0"]),
        0,
    );
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("ID") && lines[0].contains("REF") && lines[0].contains("RELEASE"));
    assert_eq!(lines.len(), vite_ids.len() + 2, "{}", r.stdout);
    assert_eq!(lines.last().unwrap(), &format!("{} symbol sets", vite_ids.len()));
    for id in &vite_ids {
        assert!(r.stdout.contains(id.as_str()) && r.stdout.contains("app@2.0"));
    }

    // Snapshot of the JSON (ids and times replaced; refs are content-derived and stable).
    let v = list(
        &server,
        tmp.path(),
        &["--release", "app@2.0", "--order-by", "ref"],
    );
    // Refs are time-based in symbol-set mode: replaced (their order is checked above).
    let literals: Vec<(&str, &str)> = vite_ids.iter().map(|r| (r.as_str(), "<ref>")).collect();
    assert_json_snapshot("list_release", &normalize_ids(&v, &literals));
}

#[test]
fn get_and_download_round_trip() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    let vite = tmp.path().join("vite");
    copy_dir(&repo_root().join("fixtures/vite-react/dist"), &vite);
    process(&server, tmp.path(), &vite, &[]);
    let chunks = chunk_ids(&vite);
    assert!(chunks.len() >= 3);
    let sets = server.symbol_sets();
    assert_eq!(sets.len(), chunks.len());

    for (i, (chunk_id, js_path)) in chunks.iter().enumerate() {
        let set = sets.iter().find(|s| &s.ref_ == chunk_id).unwrap();
        let id = set.id.to_string();
        // get by id and by ref agree.
        let by_id = ok(
            symship_for(&server, tmp.path()).args(["symbol-sets", "get", &id, "--output", "json"]),
            0,
        )
        .json();
        let by_ref = ok(
            symship_for(&server, tmp.path()).args([
                "symbol-sets",
                "get",
                "--ref",
                chunk_id,
                "--output",
                "json",
            ]),
            0,
        )
        .json();
        assert_eq!(by_id, by_ref);
        assert_eq!(by_id["id"], id.as_str());
        assert_eq!(by_id["ref"], chunk_id.as_str());
        if i == 0 {
            assert_json_snapshot("get", &normalize_ids(&by_id, &[(chunk_id, "<ref>")]));
        }

        // Download three ways; the base name is the id, or the ref for --ref.
        let out = tmp.path().join(format!("out{i}"));
        let how: Vec<String> = match i % 3 {
            0 => vec![id.clone()],
            1 => vec!["--id".into(), id.clone()],
            _ => vec!["--ref".into(), chunk_id.clone()],
        };
        if i == 0 {
            // --dry-run names the files it would write, fetches and writes nothing.
            let r = ok(
                symship_for(&server, tmp.path())
                    .args(["symbol-sets", "download", &id, "--dry-run", "-o"])
                    .arg(&out),
                0,
            );
            assert!(r.stdout.contains(&format!("{id}.js.map")), "{}", r.stdout);
            assert!(!out.exists());
            assert!(!server.requests().iter().any(|r| r.route == "download"));
        }
        let base = if i % 3 == 2 { chunk_id.clone() } else { id.clone() };
        let r = ok(
            symship_for(&server, tmp.path())
                .args(["symbol-sets", "download"])
                .args(&how)
                .arg("-o")
                .arg(&out)
                .args(["--output", "json"]),
            0,
        );
        let v = r.json();
        let js = out.join(format!("{base}.js"));
        let map = out.join(format!("{base}.js.map"));
        assert_eq!(v["source"], js.to_str().unwrap());
        assert_eq!(v["map"], map.to_str().unwrap());
        assert_created_mode(&js);
        assert_created_mode(&map);
        // The source is byte-equal to the injected file on disk.
        let downloaded_js = std::fs::read(&js).unwrap();
        assert!(
            downloaded_js == std::fs::read(js_path).unwrap(),
            "{} differs from the injected {}",
            js.display(),
            js_path.display()
        );
        // The map is byte-equal to what was uploaded (the stored object, read with the
        // official reader), and is the map on disk with the chunk id.
        let object = server.object_bytes(set.storage_ptr.as_deref().unwrap()).unwrap();
        let (src, uploaded_map) = symship_upload::container::read(&object).unwrap();
        assert_eq!(src.as_bytes(), downloaded_js.as_slice());
        let downloaded_map = std::fs::read_to_string(&map).unwrap();
        assert_eq!(downloaded_map, uploaded_map);
        let mut on_disk: Value =
            serde_json::from_slice(&std::fs::read(format!("{}.map", js_path.display())).unwrap()).unwrap();
        on_disk["chunk_id"] = Value::String(chunk_id.clone());
        assert_eq!(serde_json::from_str::<Value>(&downloaded_map).unwrap(), on_disk);
        // Nothing else was written (no temporary files left).
        let mut names: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec![format!("{base}.js"), format!("{base}.js.map")]);
    }

    // Ids are checked before any request: nothing is sent, nothing written.
    let before = server.requests().len();
    let out = tmp.path().join("bad");
    for bad in ["../../etc/passwd", "1234", "0192f3a1-8c4e-7d2b-9f60-1a2b3c4d5e6g"] {
        let r = ok(
            symship_for(&server, tmp.path())
                .args(["symbol-sets", "download", bad, "-o"])
                .arg(&out),
            2,
        );
        assert!(r.stderr.contains("is not a UUID"), "{}", r.stderr);
        ok(
            symship_for(&server, tmp.path()).args(["symbol-sets", "get", bad]),
            2,
        );
    }
    assert_eq!(server.requests().len(), before, "no request for malformed ids");
    assert!(!out.exists());
    // Unknown id and unknown ref: 1, nothing written.
    let r = ok(
        symship_for(&server, tmp.path())
            .args([
                "symbol-sets",
                "download",
                "0192f3a1-8c4e-7d2b-9f60-1a2b3c4d5e6f",
                "-o",
            ])
            .arg(&out),
        1,
    );
    assert!(r.stderr.contains("no symbol set with id"), "{}", r.stderr);
    let r = ok(
        symship_for(&server, tmp.path()).args(["symbol-sets", "get", "--ref", "no-such-chunk"]),
        1,
    );
    assert!(r.stderr.contains("no symbol set with ref"), "{}", r.stderr);
    assert!(!out.exists());
}

#[test]
fn delete_one_and_many() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("b");
    generate_tiny(&dir, 8, "d");
    process(&server, tmp.path(), &dir, &[]);
    let ids: Vec<String> = {
        let mut v: Vec<String> = server.symbol_sets().iter().map(|s| s.id.to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(ids.len(), 8);
    let remaining = |server: &symship_testserver::TestServer| -> BTreeSet<String> {
        server.symbol_sets().iter().map(|s| s.id.to_string()).collect()
    };

    // One id: DELETE.
    let r = ok(
        symship_for(&server, tmp.path()).args(["symbol-sets", "delete", &ids[0], "--output", "json"]),
        0,
    );
    assert_json_snapshot("delete_one", &normalize_ids(&r.json(), &[(&ids[0], "<id0>")]));
    assert!(!remaining(&server).contains(&ids[0]));
    assert_eq!(remaining(&server).len(), 7);
    assert_eq!(
        server.requests().iter().filter(|r| r.route == "destroy").count(),
        1
    );

    // Three ids (one given twice, one upper-case): one bulk_delete with three ids.
    let upper = ids[3].to_uppercase();
    let r = ok(
        symship_for(&server, tmp.path()).args(["symbol-sets", "delete", &ids[1], &ids[2], &upper, &ids[1]]),
        0,
    );
    assert_eq!(r.stdout.trim(), "deleted 3 of 3 symbol sets");
    let bulk: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.route == "bulk_delete")
        .collect();
    assert_eq!(bulk.len(), 1);
    assert_eq!(bulk[0].body.as_ref().unwrap()["ids"].as_array().unwrap().len(), 3);
    let left = remaining(&server);
    assert_eq!(left, ids[4..].iter().cloned().collect());

    // A missing id among others: the rest is deleted, the run fails (1).
    let gone = ids[0].clone();
    let r = ok(
        symship_for(&server, tmp.path()).args(["symbol-sets", "delete", &ids[4], &gone, "--output", "json"]),
        1,
    );
    let v = r.json();
    assert_eq!(v["requested"], 2);
    assert_eq!(v["deleted"], 1);
    assert!(
        r.stderr.contains("1 of 2 symbol sets were not found"),
        "{}",
        r.stderr
    );
    assert_eq!(remaining(&server), ids[5..].iter().cloned().collect());
    // One missing id alone: 1.
    ok(
        symship_for(&server, tmp.path()).args(["symbol-sets", "delete", &gone]),
        1,
    );

    // A malformed id: usage error before anything is deleted.
    let before = server.requests().len();
    ok(
        symship_for(&server, tmp.path()).args(["symbol-sets", "delete", &ids[5], "not-a-uuid"]),
        2,
    );
    assert_eq!(server.requests().len(), before);
    // --dry-run deletes nothing and sends nothing.
    ok(
        symship_for(&server, tmp.path()).args(["symbol-sets", "delete", &ids[5], &ids[6], "--dry-run"]),
        0,
    );
    assert_eq!(server.requests().len(), before);
    assert_eq!(remaining(&server).len(), 3);
}

/// Stores `bytes` as the symbol set `reference` through the upload protocol (no checks on the
/// content: the server records a violation for anything but JavaScript, and stores it).
fn store_raw(server: &symship_testserver::TestServer, reference: &str, bytes: Vec<u8>) {
    store(server, reference, bytes, true)
}

/// [`store_raw`], or with `finish` false only its start: the set then has a storage pointer
/// and no object (an upload that never finished).
fn store(server: &symship_testserver::TestServer, reference: &str, bytes: Vec<u8>, finish: bool) {
    use symship_api::{BulkFinishRequest, BulkStartRequest, Config, ConfigRequest, MapEnv, SymbolSetUpload};
    let env = MapEnv::new()
        .with("POSTHOG_CLI_HOST", &server.base_url())
        .with("POSTHOG_CLI_PROJECT_ID", &server.project_id().to_string())
        .with("POSTHOG_CLI_API_KEY", &server.api_key());
    let config = Config::resolve(&ConfigRequest::default(), &env).unwrap();
    let client = symship_api::Client::new(&config).unwrap();
    let hash = symship_scan::hash::sha512_hex(&[&bytes]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let run = "0192f3a1-8c4e-7d2b-9f60-1a2b3c4d5e6f".parse().unwrap();
        let started = client
            .bulk_start_upload(&BulkStartRequest {
                symbol_sets: vec![SymbolSetUpload {
                    chunk_id: reference.into(),
                    release_id: None,
                    content_hash: Some(hash.clone()),
                    content_length: Some(bytes.len() as u64),
                }],
                upload_attempt_id: run,
                upload_run_id: run,
                force: false,
                skip_on_conflict: false,
            })
            .await
            .unwrap();
        if !finish {
            return;
        }
        let target = &started.id_map[reference];
        let put = target
            .presigned_put_url
            .as_deref()
            .expect("presigned PUT offered");
        let resp = client.http().put(put).body(bytes).send().await.unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
        client
            .bulk_finish_upload(&BulkFinishRequest {
                content_hashes: [(target.symbol_set_id, hash)].into_iter().collect(),
                upload_attempt_id: run,
                upload_run_id: run,
            })
            .await
            .unwrap();
    });
}

#[test]
fn download_unpacks_hermes_and_refuses_what_it_cannot_unpack() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    // A v2 Hermes container (type 3, uncompressed): unpacked as posthog-cli does, to <ref>.hbc.map.
    let map = br#"{"version":3,"mappings":"","x_hermes_function_offsets":{}}"#;
    let container = |kind: u32, payload: &[u8]| {
        let mut c = b"posthog_error_tracking".to_vec();
        c.extend(2u32.to_le_bytes());
        c.extend(kind.to_le_bytes());
        c.push(0);
        c.extend(payload);
        c
    };
    store_raw(&server, "hermes-chunk", container(3, map));
    // An ElfDebugInfo container (type 6) whose payload is no zip; and bytes that are no container.
    store_raw(&server, "elf-set", container(6, b"PK\x05\x06"));
    store_raw(&server, "garbage-chunk", b"not a container".to_vec());
    let out = tmp.path().join("out");
    let r = ok(
        symship_for(&server, tmp.path())
            .args(["symbol-sets", "download", "--ref", "hermes-chunk", "-o"])
            .arg(&out),
        0,
    );
    assert_eq!(
        std::fs::read(out.join("hermes-chunk.hbc.map")).unwrap(),
        map,
        "{}",
        r.stderr
    );
    let elsewhere = tmp.path().join("elsewhere");
    let r = ok(
        symship_for(&server, tmp.path())
            .args(["symbol-sets", "download", "--ref", "elf-set", "-o"])
            .arg(&elsewhere),
        1,
    );
    assert!(r.stderr.contains("payload is not a valid zip"), "{}", r.stderr);
    let r = ok(
        symship_for(&server, tmp.path())
            .args(["symbol-sets", "download", "--ref", "garbage-chunk", "-o"])
            .arg(&elsewhere),
        1,
    );
    assert!(
        r.stderr.contains("is not a PostHog symbol-set container"),
        "{}",
        r.stderr
    );
    assert!(!elsewhere.exists(), "nothing written for what was refused");
}

/// A set whose upload was started and never finished: PostHog lists it as having a file
/// (`storage_ptr` set) and object storage has none. `download` says so (a fresh tester's D8: it
/// ended on the raw storage 404), and `get` does not claim the bytes are stored for sure.
#[test]
fn download_of_a_set_whose_upload_never_finished_says_so() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    let reference = "0192f3a1-8c4e-7d2b-9f60-00000000d008";
    store(&server, reference, b"never sent".to_vec(), false);
    let r = run(symship_for(&server, tmp.path()).args(["symbol-sets", "get", "--ref", reference]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("never finished"), "{}", r.stdout);
    let out = tmp.path().join("out");
    let r = run(symship_for(&server, tmp.path())
        .args(["symbol-sets", "download", "--ref", reference, "-o"])
        .arg(&out));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("its upload was started and never finished"),
        "{}",
        r.stderr
    );
    assert!(!out.join(format!("{reference}.js")).exists());
}

/// posthog-cli 0.19.0's `symbol-sets download` and `extract` take `-o/--output <DIR>`; symship's
/// `--output` is the summary format, so after those subcommands a value that is no format is the
/// directory, and under the name `posthog-cli` any value is (a fresh tester's D7: refused, exit 2).
#[test]
fn download_and_extract_take_posthog_clis_output_dir() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    let vite = tmp.path().join("vite");
    copy_dir(&repo_root().join("fixtures/vite-react/dist"), &vite);
    process(&server, tmp.path(), &vite, &[]);
    let (chunk_id, _) = chunk_ids(&vite).into_iter().next().unwrap();
    let posthog_cli = symship_as_posthog_cli(tmp.path());
    for (name, out) in [("symship", "dl"), ("posthog-cli", "json")] {
        let base = symship_for(&server, tmp.path());
        let mut c = if name == "symship" {
            base
        } else {
            on_program(&base, &posthog_cli)
        };
        let r = run(c.args(["symbol-sets", "download", "--ref", &chunk_id, "--output", out]));
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        let js = tmp.path().join(out).join(format!("{chunk_id}.js"));
        assert!(js.is_file(), "{name}: {}", js.display());
        let map = tmp.path().join(out).join(format!("{chunk_id}.js.map"));
        assert!(map.is_file(), "{name}: {}", map.display());
    }
}

/// PostHog matches refs exactly, and Mach-O LC_UUIDs are stored in upper case: a ref given in
/// the other letter case is found all the same (a fresh tester's D18: "no symbol set"), and an
/// id that is no set's says a ref goes with --ref.
#[test]
fn a_ref_is_found_in_either_letter_case() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    let upper = "4C4C4482-5555-3144-A1B2-0123456789AB";
    store_raw(&server, upper, b"not a container".to_vec());
    let lower = upper.to_ascii_lowercase();
    let r = ok(
        symship_for(&server, tmp.path()).args(["symbol-sets", "get", "--ref", &lower, "--output", "json"]),
        0,
    );
    assert_eq!(r.json()["ref"], upper);
    let r = run(symship_for(&server, tmp.path()).args(["symbol-sets", "get", &lower]));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("pass it with --ref"), "{}", r.stderr);
}
