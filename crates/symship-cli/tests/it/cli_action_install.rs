//! The Action's install path (scripts/action-install.sh `download`, then `build`): the released
//! archive is fetched from a local file server on 127.0.0.1 standing in for the release host, and
//! used only when its SHA-256 matches the release's `.sha256` file. A wrong checksum and a missing
//! one are refused, nothing is installed, and `build` then builds from source (a fake `cargo` on
//! PATH records that it was asked to, and installs a marker binary).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use symship_test_support::*;

const VERSION: &str = "0.1.0";
const ARCHIVE: &str = "symship-x86_64-unknown-linux-musl.tar.gz";

/// Serves the files under `root` (GET only; 404 for anything else) on 127.0.0.1, recording the
/// paths asked for. Returns the base URL.
fn file_server(root: PathBuf) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = asked.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
            log.lock().unwrap().push(path.clone());
            let file = root.join(path.trim_start_matches('/'));
            let body = if !path.contains("..") && file.is_file() {
                Some(std::fs::read(&file).unwrap())
            } else {
                None
            };
            let head = match &body {
                Some(b) => format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    b.len()
                ),
                None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned(),
            };
            let _ = stream.write_all(head.as_bytes());
            if let Some(b) = body {
                let _ = stream.write_all(&b);
            }
        }
    });
    (base, asked)
}

fn executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The release `v0.1.0/`: the archive (a `symship` that says it was released) and, per `checksum`,
/// its right `.sha256`, a wrong one, or none.
fn release(root: &Path, checksum: &str) {
    let dir = root.join(format!("v{VERSION}"));
    let stage = root.join("stage");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&stage).unwrap();
    executable(
        &stage.join("symship"),
        "#!/bin/sh\necho 'symship 0.1.0 (released)'\n",
    );
    let st = Command::new("tar")
        .arg("-czf")
        .arg(dir.join(ARCHIVE))
        .arg("-C")
        .arg(&stage)
        .arg("symship")
        .status()
        .unwrap();
    assert!(st.success());
    let sum = Command::new("sha256sum")
        .arg(ARCHIVE)
        .current_dir(&dir)
        .output()
        .unwrap();
    let sum = String::from_utf8(sum.stdout).unwrap();
    assert!(sum.ends_with(&format!("  {ARCHIVE}\n")), "{sum}");
    match checksum {
        "good" => std::fs::write(dir.join(format!("{ARCHIVE}.sha256")), &sum).unwrap(),
        "bad" => {
            let wrong = format!("{}{}", "0".repeat(64), &sum[64..]);
            std::fs::write(dir.join(format!("{ARCHIVE}.sha256")), wrong).unwrap()
        }
        "missing" => {}
        other => panic!("{other}"),
    }
}

/// Runs `action-install.sh <step>` as action.yml does on a Linux x64 runner, with a fake `cargo`
/// first on PATH.
#[allow(clippy::disallowed_methods)] // the test's own PATH, extended
fn step(tmp: &Path, base: &str, step: &str) -> Output {
    let fake = tmp.join("fakecargo");
    std::fs::create_dir_all(&fake).unwrap();
    executable(
        &fake.join("cargo"),
        "#!/usr/bin/env bash\n# records the call; installs a marker binary under --root\nprintf '%s\\n' \"$*\" >> \"$FAKE_CARGO_LOG\"\nwhile [ $# -gt 0 ]; do [ \"$1\" = --root ] && root=$2; shift; done\nmkdir -p \"$root/bin\"\nprintf '#!/bin/sh\\necho \"symship 0.1.0 (built from source)\"\\n' > \"$root/bin/symship\"\nchmod 755 \"$root/bin/symship\"\n",
    );
    let path = format!("{}:{}", fake.display(), std::env::var("PATH").unwrap_or_default());
    let mut cmd = Command::new("bash");
    scrub(&mut cmd);
    cmd.arg(repo_root().join("scripts/action-install.sh"))
        .arg(step)
        .env("GITHUB_ACTION_PATH", repo_root())
        .env("SYMSHIP_BIN_DIR", tmp.join("cache/bin"))
        .env("SYMSHIP_VERSION", VERSION)
        .env("SYMSHIP_RELEASE_BASE_URL", base)
        .env("RUNNER_OS", "Linux")
        .env("RUNNER_ARCH", "X64")
        .env("FAKE_CARGO_LOG", tmp.join("cargo.log"))
        .env("PATH", path)
        .output()
        .unwrap()
}

fn installed_version(tmp: &Path) -> String {
    let out = Command::new(tmp.join("cache/bin/symship"))
        .arg("--version")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Runs download then build; returns download's stderr and whether cargo was called.
fn install(checksum: &str) -> (String, bool, String, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let host = tmp.path().join("host");
    release(&host, checksum);
    let (base, asked) = file_server(host);
    let out = step(tmp.path(), &base, "download");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "download never fails the job: {stderr}");
    assert!(
        asked.lock().unwrap().contains(&format!("/v{VERSION}/{ARCHIVE}")),
        "the archive was asked for: {:?}\n{stderr}",
        asked.lock().unwrap()
    );
    if checksum != "good" {
        assert!(
            !tmp.path().join("cache/bin/symship").exists(),
            "nothing is installed when the checksum is {checksum}"
        );
    }
    let out = step(tmp.path(), &base, "build");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cargo_called = tmp.path().join("cargo.log").exists();
    let version = installed_version(tmp.path());
    (stderr, cargo_called, version, tmp)
}

#[test]
fn a_release_whose_checksum_matches_is_installed_and_nothing_is_built() {
    let (stderr, cargo_called, version, _tmp) = install("good");
    assert_eq!(version, "symship 0.1.0 (released)", "{stderr}");
    assert!(stderr.contains("verified"), "{stderr}");
    assert!(!cargo_called, "no build after a verified download");
}

#[test]
fn a_wrong_checksum_is_refused_then_symship_is_built_from_source() {
    let (stderr, cargo_called, version, tmp) = install("bad");
    assert!(
        stderr.contains("::warning") && stderr.contains("refused"),
        "{stderr}"
    );
    assert!(cargo_called, "fell back to building: {stderr}");
    let log = std::fs::read_to_string(tmp.path().join("cargo.log")).unwrap();
    assert!(log.starts_with("install --locked --path "), "{log}");
    assert_eq!(version, "symship 0.1.0 (built from source)");
}

#[test]
fn a_missing_checksum_is_refused_then_symship_is_built_from_source() {
    let (stderr, cargo_called, version, _tmp) = install("missing");
    assert!(
        stderr.contains("::warning") && stderr.contains("not used unverified"),
        "{stderr}"
    );
    assert!(cargo_called, "fell back to building: {stderr}");
    assert_eq!(version, "symship 0.1.0 (built from source)");
}
