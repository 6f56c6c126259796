//! Helpers of the upload tests: a test server, running `symship` against it, and checking that
//! what the server holds is exactly what symship built.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use symship_scan::{MapLocation, Pair, ReleaseMode};
use symship_testserver::{Config, RecordedRequest, TestServer};

pub fn start(cfg: Config) -> TestServer {
    match TestServer::start(cfg) {
        Ok(s) => s,
        Err(e) => panic!("symship-testserver did not start ({e}); run scripts/install-tools s3s-fs"),
    }
}

/// A content-hash cache for this test process only (keyed by content, so its tests may share it),
/// never the user's.
pub fn test_cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("symship-cache-{}", std::process::id()))
}

/// `symship` with the server's credentials, run in `cwd` (a temp dir outside any git repository,
/// so no release is resolved from git).
pub fn symship_for(server: &TestServer, cwd: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_symship"));
    for (k, _) in std::env::vars() {
        if k.starts_with("POSTHOG_")
            || k.starts_with("GITHUB_")
            || k == "VERCEL"
            || k == "CI"
            || k == "RUST_LOG"
        {
            c.env_remove(k);
        }
    }
    c.env("SYMSHIP_CACHE_DIR", test_cache_dir())
        .env("POSTHOG_HOME", "/nonexistent-symship-test-home")
        .env("POSTHOG_CLI_HOST", server.base_url())
        .env("POSTHOG_CLI_PROJECT_ID", server.project_id().to_string())
        .env("POSTHOG_CLI_API_KEY", server.api_key())
        .current_dir(cwd);
    c
}

/// Runs and parses the `--output json` summary.
pub fn run_json(cmd: &mut Command) -> (i32, Value, String) {
    cmd.arg("--output").arg("json");
    let out: Output = cmd.output().expect("run symship");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON summary ({e}); stdout: {}\nstderr: {stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().unwrap_or(-1), summary, stderr)
}

pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// (name, dist) of every committed fixture.
pub fn fixtures() -> Vec<(String, PathBuf)> {
    let mut out: Vec<_> = std::fs::read_dir(repo_root().join("fixtures"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().join("dist").is_dir())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.path().join("dist"),
            )
        })
        .collect();
    out.sort();
    assert!(out.len() >= 6, "expected the committed fixtures, found {out:?}");
    out
}

pub fn requests(server: &TestServer, route: &str) -> Vec<RecordedRequest> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.route == route)
        .collect()
}

/// Requests per route (API and S3 fronts).
pub fn route_counts(reqs: &[RecordedRequest]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in reqs {
        *m.entry(r.route.clone()).or_default() += 1;
    }
    m
}

pub fn is_transfer(r: &RecordedRequest) -> bool {
    r.server.starts_with("s3") && matches!(r.method.as_str(), "PUT" | "POST")
}

/// `(file, map, chunk_id, outcome)` of every chunk in a summary.
pub fn chunks(summary: &Value) -> Vec<(String, String, String, String)> {
    summary["chunks"]
        .as_array()
        .expect("chunks")
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
            (s("file"), s("map"), s("chunk_id"), s("outcome"))
        })
        .collect()
}

pub fn pair_of(file: &str, map: &str) -> Pair {
    let source = PathBuf::from(file);
    Pair {
        root: source.parent().unwrap().to_owned(),
        map: if map == "inline" {
            MapLocation::Inline
        } else {
            MapLocation::File(PathBuf::from(map))
        },
        source,
    }
}

/// Checks the server's state against the files: every finished symbol set (content hash set)
/// has a stored object that is exactly the container of the chunk as it is on disk (decoded
/// with the official reader: the source is the file's bytes, the map is the file's map with
/// `chunk_id` = the ref; re-encoded with the official writer: the same bytes), and the server
/// recorded no violation. Returns the refs of finished sets.
pub fn assert_server_holds_exactly(
    server: &TestServer,
    summary_chunks: &[(String, String, String, String)],
    mode: ReleaseMode,
) -> BTreeSet<String> {
    assert!(
        server.violations().is_empty(),
        "container violations: {:?}",
        server.violations()
    );
    let by_id: BTreeMap<&str, (&str, &str)> = summary_chunks
        .iter()
        .map(|(f, m, id, _)| (id.as_str(), (f.as_str(), m.as_str())))
        .collect();
    let mut finished = BTreeSet::new();
    for set in server.symbol_sets() {
        let Some(hash) = set.content_hash.as_deref() else {
            continue;
        };
        let ptr = set
            .storage_ptr
            .as_deref()
            .unwrap_or_else(|| panic!("finished set {} without storage_ptr", set.ref_));
        let object = server
            .object_bytes(ptr)
            .unwrap_or_else(|| panic!("finished set {} has no object at {ptr}", set.ref_));
        let (file, map) = by_id
            .get(set.ref_.as_str())
            .copied()
            .unwrap_or_else(|| panic!("server holds {} which no summary chunk names", set.ref_));
        let (src, map_json) = symship_upload::container::read(&object)
            .unwrap_or_else(|e| panic!("object of {} is not a SourceAndMap: {e}", set.ref_));
        assert_eq!(
            src.as_bytes(),
            std::fs::read(file).unwrap(),
            "uploaded source of {file} is the injected file"
        );
        let mut on_disk: Value = match map {
            "inline" => {
                let text = std::fs::read_to_string(file).unwrap();
                let (v, _) = symship_scan::pair::sourcemap_reference(&text).unwrap();
                serde_json::from_slice(&symship_scan::pair::decode_data_url(v).unwrap()).unwrap()
            }
            m => serde_json::from_slice(&std::fs::read(m).unwrap()).unwrap(),
        };
        on_disk["chunk_id"] = Value::String(set.ref_.clone());
        let sent: Value = serde_json::from_str(&map_json).unwrap();
        assert_eq!(sent, on_disk, "uploaded map of {file}");
        let payload = symship_scan::hash::payload(&pair_of(file, map), mode).unwrap();
        let expected =
            symship_upload::container::official(&payload.source, std::str::from_utf8(&payload.map).unwrap());
        assert!(
            object == expected,
            "object of {} is byte-equal to the official encoding of what symship built",
            set.ref_
        );
        match mode {
            ReleaseMode::Event => assert_eq!(Some(hash), payload.content_hash.as_deref()),
            ReleaseMode::SymbolSet => assert_eq!(hash, symship_scan::hash::sha512_hex(&[&object])),
        }
        finished.insert(set.ref_.clone());
    }
    finished
}

/// Writes `n` small distinct JS chunks with external maps (about `kib` KiB each) into `dir`;
/// `tag` makes the content (and so the chunk ids) differ between builds.
pub fn generate(dir: &Path, n: usize, kib: usize, tag: &str) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        let body: String = (0..kib * 10)
            .map(|k| format!("function {tag}{i}_{k}(a){{return a*{k}+{i}}}"))
            .collect::<Vec<_>>()
            .join(";");
        let js = format!("{body};\n//# sourceMappingURL=c{i}.js.map\n");
        let original: String = (0..kib * 10)
            .map(|k| format!("export function f{i}_{k}(a: number) {{ return a * {k} + {i}; }}\n"))
            .collect();
        let mappings = (0..kib * 10)
            .map(|k| {
                if k == 0 {
                    "AAAA".to_owned()
                } else {
                    "CAAC".to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(",");
        let map = serde_json::json!({
            "version": 3,
            "file": format!("c{i}.js"),
            "sources": [format!("src/c{i}.ts")],
            "sourcesContent": [original],
            "names": [],
            "mappings": mappings,
        });
        std::fs::write(dir.join(format!("c{i}.js")), js).unwrap();
        std::fs::write(
            dir.join(format!("c{i}.js.map")),
            serde_json::to_vec(&map).unwrap(),
        )
        .unwrap();
    }
}

/// Runs the command, sampling the child's VmHWM (peak RSS) from /proc; returns (exit code, KiB).
pub fn run_peak_kib(cmd: &mut Command) -> (i32, u64, Output) {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn symship");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    // Drain the pipes on threads so the child never blocks on a full pipe.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut so, &mut b).unwrap();
        b
    });
    let t_err = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut se, &mut b).unwrap();
        b
    });
    let status = loop {
        if let Ok(s) = std::fs::read_to_string(&status_path) {
            if let Some(line) = s.lines().find(|l| l.starts_with("VmHWM:")) {
                let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
                peak = peak.max(kib);
            }
        }
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        std::thread::sleep(std::time::Duration::from_millis(3));
    };
    let out = Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    };
    (status.code().unwrap_or(-1), peak, out)
}
