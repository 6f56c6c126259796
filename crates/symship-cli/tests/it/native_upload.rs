//! `symship symbol-sets upload`, `symship dsym upload`, `symbol-sets download` and `extract` of
//! native debug files (issue 17), with the real binary against the test server over real S3, on the
//! real files of `fixtures/native`: the refs are what `readelf -n` / `llvm-dwarfdump --uuid` print
//! (`refs.txt`) and what posthog-cli 0.19.0 sent (its recorded uploads,
//! `fixtures/native/posthog-cli-0.19.0`), the zip entries the server stores are posthog-cli's, each
//! skip reason comes from a real file, exit codes are as for JavaScript, and posthog-ios's
//! `upload-symbols.sh` argv runs unchanged.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use symship_test_support::*;
use symship_testserver::{Config, FaultKind, FaultRule, TestServer};
use symship_upload::container::{self, Payload};

type Entries = BTreeMap<String, Vec<u8>>;

fn native(rel: &str) -> PathBuf {
    native_fixture(rel)
}

/// The entries (name -> bytes) of a payload zip, and their names in zip order.
fn entries(zip_bytes: &[u8]) -> (Entries, Vec<String>) {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).unwrap();
    let order: Vec<String> = z.file_names().map(str::to_owned).collect();
    let all = (0..z.len())
        .map(|i| {
            let mut e = z.by_index(i).unwrap();
            let mut v = Vec::new();
            e.read_to_end(&mut v).unwrap();
            (e.name().to_string(), v)
        })
        .collect();
    (all, order)
}

/// What posthog-cli 0.19.0 uploaded in `scenario`: ref -> zip entries.
fn recorded(scenario: &str) -> BTreeMap<String, Entries> {
    let dir = native(&format!("posthog-cli-0.19.0/{scenario}/payloads"));
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let r = p.file_stem().unwrap().to_string_lossy().into_owned();
            (r, entries(&std::fs::read(&p).unwrap()).0)
        })
        .collect()
}

/// What the server finished: ref -> (container type tag, zip entries). Each is finished, without
/// a failure, its `content_hash` the SHA-512 of the stored object.
fn stored(server: &TestServer) -> BTreeMap<String, (u32, Entries)> {
    server
        .symbol_sets()
        .into_iter()
        .filter(|s| s.content_hash.is_some())
        .map(|s| {
            assert!(s.failure_reason.is_none(), "{s:?}");
            let bytes = server.object_bytes(s.storage_ptr.as_deref().unwrap()).unwrap();
            assert_eq!(
                s.content_hash.as_deref(),
                Some(container::content_hash(&bytes).as_str())
            );
            let tag = u32::from_le_bytes(bytes[26..30].try_into().unwrap());
            let zip = match container::read_any(&bytes).unwrap() {
                Payload::AppleDsym(z) | Payload::ElfDebugInfo(z) => z,
                other => panic!("{}: not a native container: {:?}", s.ref_, other.kind()),
            };
            (s.ref_, (tag, entries(&zip).0))
        })
        .collect()
}

/// `(file relative to build/, code)` of the summary's skipped entries, sorted.
fn skipped(summary: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = summary["skipped"]
        .as_array()
        .unwrap_or_else(|| panic!("{summary:#}"))
        .iter()
        .map(|s| {
            let f = s["file"].as_str().unwrap();
            let f = f.rsplit_once("build/").map_or(f, |(_, r)| r);
            (f.to_string(), s["code"].as_str().unwrap().to_string())
        })
        .collect();
    v.sort();
    v
}

fn transfers(server: &TestServer) -> usize {
    server.requests().iter().filter(|r| is_transfer(r)).count()
}

fn refs_txt() -> String {
    std::fs::read_to_string(native("refs.txt")).unwrap()
}

#[test]
fn elf_files_land_as_posthog_cli_sends_them() {
    let b = NativeBuild::of("elf");
    let server = &b.server;
    let up = || run_json(&mut b.symship(&["symbol-sets", "upload"]));
    let (code, summary, stderr) = up();
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    let got = stored(server);
    let want = recorded("elf");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "refs"
    );
    for (r, (tag, e)) in &got {
        assert!(
            refs_txt().contains(&format!(" {r}\n")),
            "{r} is not a debug id of refs.txt"
        );
        assert_eq!(*tag, 6, "{r}: ElfDebugInfo");
        assert!(e == &want[r], "{r}: zip entries differ from posthog-cli's");
    }
    assert_eq!(server.violations(), vec![], "the server accepts every set");
    assert_eq!(
        skipped(&summary),
        [
            ("hello-nobuildid".to_string(), "no_build_id".to_string()),
            // hello-stripped: its debug id is uploaded from hello, nothing to report
            ("hello.debug".into(), "duplicate_debug_id".into()),
            ("split/hello-split.dwp".into(), "split_dwarf".into()),
            ("split/util.dwo".into(), "split_dwarf".into()),
        ]
    );
    for c in summary["chunks"].as_array().unwrap() {
        assert_eq!(c["kind"], "elf_debug_info", "{c}");
    }
    // a re-run sends nothing: the same zip, the same content hash
    let before = transfers(server);
    let (code, summary, stderr) = up();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(transfers(server), before, "{summary:#}");
    assert_eq!(summary["skipped_already_present"], 3, "{summary:#}");
}

#[test]
fn dsym_upload_sends_one_set_per_slice_as_posthog_cli_does() {
    let b = NativeBuild::of("macho");
    let server = &b.server;
    // posthog-cli took the release from thin-arm64.dSYM's Info.plist (the first bundle in its
    // directory order); --main-dsym names it here
    let (code, summary, stderr) = run_json(
        b.symship(&["dsym", "upload"])
            .args(["--main-dsym", "thin-arm64.dSYM"]),
    );
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    let got = stored(server);
    let want = recorded("dsym");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "refs"
    );
    for (r, (tag, e)) in &got {
        assert!(
            refs_txt().contains(&format!("UUID: {r} (")),
            "{r} is not an LC_UUID of refs.txt"
        );
        assert_eq!(*tag, 5, "{r}: AppleDsym");
        assert!(e == &want[r], "{r}: zip entries differ from posthog-cli's");
    }
    assert_eq!(server.violations(), vec![]);
    let releases = server.releases();
    assert_eq!(releases.len(), 1, "{releases:?}");
    let theirs: Value = serde_json::from_str(
        &std::fs::read_to_string(native("posthog-cli-0.19.0/dsym/summary.json")).unwrap(),
    )
    .unwrap();
    let their_release = &theirs["symbol_sets"][0]["release"];
    assert_eq!(releases[0].project, their_release["project"].as_str().unwrap());
    assert_eq!(releases[0].version, their_release["version"].as_str().unwrap());
    // and the release's metadata: the main dSYM's Info.plist fields posthog-cli stores as
    // dsym_info (no git metadata: the build is outside any repository)
    assert_eq!(
        releases[0].metadata.as_ref(),
        Some(&theirs["releases"][0]["metadata"]),
        "the release's metadata is posthog-cli's"
    );
    assert!(theirs["releases"][0]["metadata"]["dsym_info"]["CFBundleDevelopmentRegion"].is_string());
    assert!(server
        .symbol_sets()
        .iter()
        .all(|s| s.release_id == Some(releases[0].id)));
}

#[test]
fn posthog_ios_upload_symbols_argv_runs_unchanged() {
    // build-tools/upload-symbols.sh of posthog-ios: --directory, --main-dsym, --info-plist,
    // --release-name, --release-version, --build, then --include-source and --skip-on-conflict
    // from POSTHOG_INCLUDE_SOURCE=1 / POSTHOG_SKIP_ON_CONFLICT=1
    let b = NativeBuild::of("macho");
    let (server, build) = (&b.server, &b.build);
    let plist = build.join("hello-fat.dSYM/Contents/Info.plist");
    let script_argv = |c: &mut Command| {
        c.args(["dsym", "upload", "--directory"])
            .arg(build)
            .args(["--main-dsym", "hello-fat.dSYM", "--info-plist"])
            .arg(&plist)
            .args([
                "--release-name",
                "com.example.app",
                "--release-version",
                "2.1",
                "--build",
                "7",
                "--include-source",
                "--skip-on-conflict",
            ]);
    };
    let mut ours = symship_for(server, b.dir());
    script_argv(&mut ours);
    let (code, summary, stderr) = run_json(&mut ours);
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    let got = stored(server);
    assert_eq!(got.len(), 3, "{got:?}");
    let releases = server.releases();
    assert_eq!(
        (releases[0].project.as_str(), releases[0].version.as_str()),
        ("com.example.app", "2.1+7")
    );
    // the script runs it as posthog-cli: the same argv under that name, a set already there
    let as_posthog_cli = || on_program(&symship_for(server, b.dir()), symship_as_posthog_cli(b.dir()));
    let version = as_posthog_cli().arg("--version").output().unwrap();
    assert!(
        String::from_utf8_lossy(&version.stdout).starts_with("posthog-cli 0.19.0"),
        "upload-symbols.sh requires posthog-cli >= 0.15.1: {version:?}"
    );
    let mut theirs = as_posthog_cli();
    script_argv(&mut theirs);
    let out = theirs.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stored(server), got, "nothing changed on the server");
    // the deprecated flag is accepted, with a warning, and changes nothing
    let r = run(b.symship(&["dsym", "upload"]).arg("--no-release-bind"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("--no-release-bind is deprecated"),
        "{}",
        r.stderr
    );
}

#[test]
fn mach_o_symbol_sets_upload_reports_every_reason() {
    let b = NativeBuild::of("macho");
    let (code, summary, stderr) = run_json(&mut b.symship(&["symbol-sets", "upload"]));
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    let got = stored(&b.server);
    let want = recorded("macho-symbol-sets");
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
    for (r, (_, e)) in &got {
        assert!(e == &want[r], "{r}: zip entries differ from posthog-cli's");
    }
    // the linked executables hello-fat and thin-arm64 have no DWARF, but each LC_UUID is uploaded
    // from its dSYM in this run: an INFO line, not a skip telling the user to upload the dSYM
    // (s11 tester, D9)
    assert_eq!(
        skipped(&summary),
        [
            ("go-nouuid-arm64".to_string(), "no_uuid".to_string()),
            ("go-zdebug-arm64".into(), "compressed_dwarf".into()),
        ]
    );
    // each reason says what to do
    for s in summary["skipped"].as_array().unwrap() {
        assert!(s["reason"].as_str().unwrap().len() > 40, "{s}");
    }
    for (file, arch, uuid, dsym) in [
        (
            "hello-fat",
            " (x86_64 slice)",
            "4C4C44D1-5555-3144-A1A9-7381C705FC07",
            "hello-fat.dSYM/Contents/Resources/DWARF/hello-fat",
        ),
        (
            "hello-fat",
            " (arm64 slice)",
            "4C4C44D0-5555-3144-A1A6-90248F0DD418",
            "hello-fat.dSYM/Contents/Resources/DWARF/hello-fat",
        ),
        (
            "thin-arm64",
            "",
            "4C4C4482-5555-3144-A114-584C263AC409",
            "thin-arm64.dSYM/Contents/Resources/DWARF/thin-arm64",
        ),
    ] {
        assert!(got.contains_key(uuid), "{uuid} landed");
        let line = format!("build/{file}{arch} has no debug info; its debug id {uuid} is uploaded from ");
        let info = stderr.lines().find(|l| l.contains(&line));
        assert!(
            info.is_some_and(|l| l.contains(" INFO ") && l.ends_with(&format!("build/{dsym}"))),
            "{line}: {stderr}"
        );
    }
    assert!(
        !stderr.lines().any(
            |l| l.contains("WARN") && (l.contains("build/hello-fat ") || l.contains("build/thin-arm64 "))
        ),
        "{stderr}"
    );
}

#[test]
fn a_fat_file_is_one_skipped_entry_named_by_its_path() {
    // s11 tester D10: a fat file's slices were listed as files "hello-fat (x86_64)", which no
    // tool can open (JSON skipped[].file, annotation file=), and a fat file whose slices are all
    // unreadable was listed once per slice. The file is its path; its slices are named in the
    // reason. The fat executable without its dSYM, and a copy cut after its fat header (the
    // slices it lists are missing).
    let b = NativeBuild::of_files(&["macho/hello-fat"]);
    let whole = std::fs::read(native("macho/hello-fat")).unwrap();
    std::fs::write(b.build.join("hello-fat-cut"), &whole[..48]).unwrap();
    let (code, summary, stderr) = run_json(&mut b.symship(&["symbol-sets", "upload"]));
    assert_eq!(code, 3, "{stderr}\n{summary:#}");
    assert_eq!(
        skipped(&summary),
        [
            ("hello-fat".to_string(), "no_debug_info".to_string()),
            ("hello-fat-cut".into(), "unparseable".into()),
        ]
    );
    for s in summary["skipped"].as_array().unwrap() {
        let file = Path::new(s["file"].as_str().unwrap());
        assert!(file.is_file(), "{s}: a real path");
        let reason = s["reason"].as_str().unwrap();
        assert!(
            reason.starts_with(&format!("{} (x86_64, arm64 slices) ", file.display())),
            "{reason}"
        );
    }
    let r = run(b
        .symship(&["symbol-sets", "upload"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_WORKSPACE", b.dir()));
    assert_eq!(r.code, 3, "{}", r.stderr);
    let files: Vec<&str> = r
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("::warning file="))
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(files, ["build/hello-fat", "build/hello-fat-cut"], "{}", r.stderr);
    assert!(b.server.symbol_sets().is_empty());
}

#[test]
fn nothing_to_upload_exits_as_for_javascript() {
    let b = NativeBuild::of_files(&["elf/hello-stripped"]);
    let (code, summary, stderr) = run_json(&mut b.symship(&["symbol-sets", "upload"]));
    assert_eq!(code, 3, "nothing found: {stderr}\n{summary:#}");
    assert_eq!(
        skipped(&summary),
        [("hello-stripped".to_string(), "no_debug_info".to_string())]
    );
    let (code, _, stderr) = run_json(&mut b.symship(&["dsym", "upload"]));
    assert_eq!(code, 3, "no dSYM bundles: {stderr}");
    assert!(b.server.symbol_sets().is_empty());
    // under the name posthog-cli: dsym upload without bundles is posthog-cli's info and exit 0
    let out = b.as_posthog_cli(&["dsym", "upload"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // and symbol-sets upload with nothing to send is posthog-cli's error, exit 1
    let out = b.as_posthog_cli(&["symbol-sets", "upload"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("No ELF or Mach-O files with debug info or dSYM bundles found in"),
        "{err}"
    );
}

#[test]
fn a_failed_finish_of_one_set_exits_1_naming_it_and_the_rerun_sends_only_it() {
    // one set per batch; the first batch's finish is refused (400: not retried): that set fails,
    // the others land
    let b = NativeBuild::with_server(
        Config {
            faults: vec![FaultRule::new("bulk_finish_upload", FaultKind::Status { status: 400 }).first_n(1)],
            ..Default::default()
        },
        "macho",
    );
    let server = &b.server;
    let up = || run_json(b.symship(&["dsym", "upload"]).args(["--batch-size", "1"]));
    let (code, summary, stderr) = up();
    assert_eq!(code, 1, "{stderr}\n{summary:#}");
    let failed = summary["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{summary:#}");
    let failed_ref = failed[0]["chunk_id"].as_str().unwrap().to_owned();
    assert!(
        failed[0]["code"].as_str().unwrap().starts_with("finish_failed"),
        "{summary:#}"
    );
    assert!(stderr.contains(&failed_ref), "the failure is named: {stderr}");
    assert_eq!(summary["uploaded"], 2, "{summary:#}");
    let before = transfers(server);
    let (code, summary, stderr) = up();
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    assert_eq!(transfers(server) - before, 1, "the re-run sends one set");
    let uploaded: Vec<&str> = summary["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["outcome"] == "uploaded")
        .map(|c| c["ref"].as_str().unwrap())
        .collect();
    assert_eq!(uploaded, [failed_ref.as_str()]);
    assert_eq!(stored(server).len(), 3);
}

#[test]
fn download_and_extract_give_back_the_slice() {
    let b = NativeBuild::of("macho");
    let (server, tmp) = (&b.server, &b.tmp);
    ok(&mut b.symship(&["dsym", "upload"]), 0);
    let arm64 = "4C4C44D0-5555-3144-A1A6-90248F0DD418";
    let want = &recorded("dsym")[arm64]["dwarf"];
    // download by ref: <ref>/dwarf, as posthog-cli's download writes it
    ok(
        symship_for(server, tmp.path())
            .args(["symbol-sets", "download", "--ref", arm64, "-o"])
            .arg(tmp.path().join("dl")),
        0,
    );
    let dwarf = std::fs::read(tmp.path().join("dl").join(arm64).join("dwarf")).unwrap();
    assert!(
        &dwarf == want,
        "the downloaded dwarf is the slice posthog-cli sent"
    );
    // extract of the stored object, offline: <base>/dwarf
    let set = server
        .symbol_sets()
        .into_iter()
        .find(|s| s.ref_ == arm64)
        .unwrap();
    let file = tmp.path().join("arm64.dSYM");
    std::fs::write(
        &file,
        server.object_bytes(set.storage_ptr.as_deref().unwrap()).unwrap(),
    )
    .unwrap();
    ok(
        symship()
            .args(["symbol-sets", "extract"])
            .arg(&file)
            .arg("-o")
            .arg(tmp.path().join("out")),
        0,
    );
    let dwarf = std::fs::read(tmp.path().join("out/arm64/dwarf")).unwrap();
    assert!(
        &dwarf == want,
        "the extracted dwarf is the slice posthog-cli sent"
    );
}

/// `proj/src/{hello.c,util.c,util.h}` and `proj/lib/util.c` (util.c again, renamed), linked into
/// `proj/build/hello` by gcc with absolute paths in its DWARF, in `tmp`.
fn gcc_project(tmp: &Path) -> PathBuf {
    let proj = tmp.canonicalize().unwrap().join("proj");
    for d in ["src", "lib", "build"] {
        std::fs::create_dir_all(proj.join(d)).unwrap();
    }
    for f in ["hello.c", "util.c", "util.h"] {
        std::fs::copy(native("src").join(f), proj.join("src").join(f)).unwrap();
    }
    std::fs::copy(native("src/util.c"), proj.join("lib/util.c")).unwrap();
    let abs = |r: &str| proj.join(r).display().to_string();
    for args in [
        vec![
            "-O0",
            "-g",
            "-c",
            "-Dadd=lib_add",
            "-Dscale=lib_scale",
            "-I",
            &abs("src"),
            &abs("lib/util.c"),
            "-o",
            &abs("build/lib.o"),
        ],
        vec![
            "-O0",
            "-g",
            "-Wl,--build-id=sha1",
            &abs("src/hello.c"),
            &abs("src/util.c"),
            &abs("build/lib.o"),
            "-o",
            &abs("build/hello"),
        ],
    ] {
        let out = Command::new("gcc")
            .args(&args)
            .output()
            .expect("gcc is needed (fixtures/native/tools.sh installs it)");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    std::fs::remove_file(proj.join("build/lib.o")).unwrap();
    proj
}

/// posthog-cli 0.19.0 and symship run `argv` (`-d build --include-source`) in `proj`, each
/// against its own server: the stored containers are equal byte for byte, and each zip holds
/// the `__source/` entries `sources`.
fn include_source_equals_posthog_cli(proj: &Path, argv: &[&str], sources: &[&str]) {
    let theirs = server();
    let out = posthog_cli_with_apple_tools(&theirs, proj)
        .args(argv)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ours = server();
    let (code, summary, stderr) = run_json(symship_for(&ours, proj).args(argv));
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    assert!(
        stored_bytes(&ours) == stored_bytes(&theirs),
        "the containers are posthog-cli's, byte for byte"
    );
    let (theirs, ours) = (stored(&theirs), stored(&ours));
    assert_eq!(ours.keys().collect::<Vec<_>>(), theirs.keys().collect::<Vec<_>>());
    for (r, (_, e)) in &ours {
        assert_eq!(
            e.keys().collect::<Vec<_>>(),
            theirs[r].1.keys().collect::<Vec<_>>(),
            "{r}: zip entry names"
        );
        assert!(e == &theirs[r].1, "{r}: zip entries differ from posthog-cli's");
        for name in sources {
            assert!(e.contains_key(*name), "{name} in {:?}", e.keys());
        }
    }
}

#[test]
fn include_source_sends_the_zip_posthog_cli_sends() {
    let tmp = tempfile::tempdir().unwrap();
    let proj = gcc_project(tmp.path());
    include_source_equals_posthog_cli(
        &proj,
        &["symbol-sets", "upload", "-d", "build", "--include-source"],
        &["__source/lib/util.c", "__source/src/util.c"],
    );
}

#[test]
fn include_source_cleans_dotdot_paths_as_posthog_cli_does() {
    // s11 tester D12: a header included as "../../ext/ext.h" from src/a/util.c is named
    // <proj>/src/a/../../ext/ext.h in the line table; symship bundled it (the path starts with the
    // units' common directory <proj>/src component by component), posthog-cli 0.19.0 cleans the
    // path to <proj>/ext/ext.h, outside that directory, and leaves it out: the content hashes
    // differed. A "../b/inb.h" that stays inside is bundled by both, under its clean path.
    let tmp = tempfile::tempdir().unwrap();
    let proj = tmp.path().canonicalize().unwrap().join("proj");
    for (file, text) in [
        ("src/main.c", "int ua(int);\nint uc(int);\nint ub(int);\nint main(int c, char **v) { return ua(c) + ub(c) + uc(c); }\n"),
        ("src/a/util.c", "#include \"../../ext/ext.h\"\nint ua(int x) { return ext(x) + 1; }\n"),
        ("src/a/util2.c", "#include \"../b/inb.h\"\nint uc(int x) { return inb(x); }\n"),
        ("src/b/util.c", "int ub(int x) { return x + 2; }\n"),
        ("src/b/inb.h", "static inline int inb(int x) { return x * 3; }\n"),
        ("ext/ext.h", "static inline int ext(int x) { return x - 1; }\n"),
    ] {
        std::fs::create_dir_all(proj.join(file).parent().unwrap()).unwrap();
        std::fs::write(proj.join(file), text).unwrap();
    }
    std::fs::create_dir_all(proj.join("build")).unwrap();
    let abs = |r: &str| proj.join(r).display().to_string();
    let out = Command::new("gcc")
        .args(["-O0", "-g", "-Wl,--build-id=sha1"])
        .args(["src/main.c", "src/a/util.c", "src/a/util2.c", "src/b/util.c"].map(abs))
        .arg("-o")
        .arg(abs("build/prog"))
        .output()
        .expect("gcc is needed (fixtures/native/tools.sh installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    include_source_equals_posthog_cli(
        &proj,
        &["symbol-sets", "upload", "-d", "build", "--include-source"],
        &[
            "__source/a/util.c",
            "__source/b/util.c",
            "__source/inb.h",
            "__source/manifest.json",
        ],
    );
    let server = server();
    ok(
        symship_for(&server, &proj).args(["symbol-sets", "upload", "-d", "build", "--include-source"]),
        0,
    );
    for (r, (_, e)) in stored(&server) {
        assert!(!e.contains_key("__source/ext.h"), "{r}: {:?}", e.keys());
        let manifest = String::from_utf8(e["__source/manifest.json"].clone()).unwrap();
        assert!(!manifest.contains(".."), "{manifest}");
        assert!(
            manifest.contains(&format!("\"{}\"", abs("src/b/inb.h"))),
            "{manifest}"
        );
    }
}

/// A thin arm64 Mach-O of `fixtures/native/src` (`thin.c`, `util.c`) built by clang 14 and
/// ld64.lld 14 with absolute paths, and its dSYM by dsymutil 14 (whose line tables name
/// directories relative to the compile unit's), in `tmp/proj/build/app.dSYM`.
fn dsym_project(tmp: &Path) -> PathBuf {
    let proj = tmp.canonicalize().unwrap().join("proj");
    for d in ["src", "obj", "build"] {
        std::fs::create_dir_all(proj.join(d)).unwrap();
    }
    for f in ["thin.c", "util.c", "util.h"] {
        std::fs::copy(native("src").join(f), proj.join("src").join(f)).unwrap();
    }
    let abs = |r: &str| proj.join(r).display().to_string();
    let tool = |name: &str, args: &[&str]| {
        let out = Command::new(name)
            .args(args)
            .current_dir(&proj)
            .output()
            .unwrap_or_else(|e| {
                panic!("{name}: {e} (fixtures/native/tools.sh installs clang-14, lld-14, llvm-14)")
            });
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    for f in ["thin", "util"] {
        let (c, o) = (abs(&format!("src/{f}.c")), abs(&format!("obj/{f}.o")));
        tool(
            "clang-14",
            &[
                "-g",
                "-O0",
                "-I",
                &abs("src"),
                "-target",
                "arm64-apple-macos11",
                "-c",
                &c,
                "-o",
                &o,
            ],
        );
    }
    tool(
        "ld64.lld-14",
        &[
            "-arch",
            "arm64",
            "-platform_version",
            "macos",
            "11.0",
            "11.0",
            "-e",
            "_main",
            "-o",
            &abs("obj/app"),
            &abs("obj/thin.o"),
            &abs("obj/util.o"),
        ],
    );
    tool("dsymutil-14", &[&abs("obj/app"), "-o", &abs("build/app.dSYM")]);
    proj
}

#[test]
fn dsym_include_source_sends_the_zip_posthog_cli_sends() {
    // posthog-cli 0.19.0 runs Apple's dwarfdump and lipo: LLVM's play them here
    let tmp = tempfile::tempdir().unwrap();
    let proj = dsym_project(tmp.path());
    include_source_equals_posthog_cli(
        &proj,
        &["dsym", "upload", "-d", "build", "--include-source"],
        &["__source/thin.c", "__source/util.c"],
    );
}

#[test]
fn a_corrupt_dsym_is_reported_unparseable_and_nothing_found_names_native_files() {
    let b = NativeBuild::empty();
    let (server, tmp, build) = (&b.server, &b.tmp, &b.build);
    let dwarf = build.join("G.dSYM/Contents/Resources/DWARF");
    std::fs::create_dir_all(&dwarf).unwrap();
    std::fs::write(dwarf.join("G"), b"garbage\n").unwrap();
    // a truncated copy of a real dSYM's DWARF file: its __debug_* sections are cut
    let t = build.join("T.dSYM/Contents/Resources/DWARF");
    std::fs::create_dir_all(&t).unwrap();
    let real = std::fs::read(native(
        "macho/thin-arm64.dSYM/Contents/Resources/DWARF/thin-arm64",
    ))
    .unwrap();
    std::fs::write(t.join("T"), &real[..5000]).unwrap();
    for command in ["dsym", "symbol-sets"] {
        let (code, summary, stderr) = run_json(&mut b.symship(&[command, "upload"]));
        assert_eq!(code, 3, "{command}: {stderr}\n{summary:#}");
        assert_eq!(
            skipped(&summary),
            [
                (
                    "G.dSYM/Contents/Resources/DWARF/G".to_string(),
                    "unparseable".to_string()
                ),
                ("T.dSYM/Contents/Resources/DWARF/T".into(), "unparseable".into()),
            ],
            "{command}"
        );
        // the text verdict names native files and no flag these commands reject
        let out = b.symship(&[command, "upload"]).output().unwrap();
        let text = combined(&out);
        assert_eq!(out.status.code(), Some(3), "{text}");
        assert!(
            text.contains("unparseable") || text.contains("not a valid"),
            "{text}"
        );
        assert!(!text.contains("JavaScript"), "{command}: {text}");
        assert!(!text.contains("--allow-empty"), "{command}: {text}");
    }
    assert!(server.symbol_sets().is_empty());
    // an empty directory: the verdict says what these commands look for
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    for (command, what) in [("dsym", ".dSYM bundle"), ("symbol-sets", "ELF or Mach-O file")] {
        let out = symship_for(server, tmp.path())
            .args([command, "upload", "-d"])
            .arg(&empty)
            .output()
            .unwrap();
        let text = combined(&out);
        assert_eq!(out.status.code(), Some(3), "{text}");
        assert!(text.contains(what), "{command}: {text}");
        assert!(!text.contains("JavaScript"), "{command}: {text}");
        assert!(!text.contains("--allow-empty"), "{command}: {text}");
    }
}

#[test]
fn dsym_upload_creates_no_release_when_no_slice_can_be_sent() {
    // a real dSYM bundle (its Info.plist names a release) whose DWARF file was cut short: nothing
    // can be uploaded (unparseable, exit 3), so no release is created (symship made it before
    // looking at the slices, as posthog-cli does); with the whole file it is, bound to the set
    let b = NativeBuild::empty();
    let bundle = b.build.join("thin-arm64.dSYM");
    copy_dir(&native("macho/thin-arm64.dSYM"), &bundle);
    let dwarf = bundle.join("Contents/Resources/DWARF/thin-arm64");
    let real = std::fs::read(&dwarf).unwrap();
    std::fs::write(&dwarf, &real[..5000]).unwrap();
    let (code, summary, stderr) = run_json(&mut b.symship(&["dsym", "upload"]));
    assert_eq!(code, 3, "{stderr}\n{summary:#}");
    assert_eq!(
        skipped(&summary),
        [(
            "thin-arm64.dSYM/Contents/Resources/DWARF/thin-arm64".to_string(),
            "unparseable".to_string()
        )]
    );
    assert!(
        b.server.releases().is_empty(),
        "no release created: {:?}",
        b.server.releases()
    );
    assert!(
        b.server.requests().iter().all(|r| r.method == "GET"),
        "{:?}",
        b.server.requests()
    );
    std::fs::write(&dwarf, &real).unwrap();
    let (code, summary, stderr) = run_json(&mut b.symship(&["dsym", "upload"]));
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    let releases = b.server.releases();
    assert_eq!(releases.len(), 1, "{releases:?}");
    assert_eq!(releases[0].project, "com.apple.xcode.dsym.thin-arm64");
    let sets = b.server.symbol_sets();
    assert_eq!(sets.len(), 1, "{sets:?}");
    assert_eq!(sets[0].release_id, Some(releases[0].id));
}

#[test]
fn dsym_upload_makes_no_release_for_sets_already_bound_to_another() {
    // s11 tester D19: thin-arm64.dSYM first uploaded under --release-name; a run without flags
    // (its Info.plist names another release) made that release although the set stays bound to
    // the first (a stored set keeps its release), and its summary named it
    let b = NativeBuild::empty();
    copy_dir(&native("macho/thin-arm64.dSYM"), &b.build.join("thin-arm64.dSYM"));
    let flags = [
        "dsym",
        "upload",
        "--release-name",
        "app",
        "--release-version",
        "1",
    ];
    let (code, summary, stderr) = run_json(&mut b.symship(&flags));
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    let first = b.server.releases();
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].project, "app");
    let (code, summary, stderr) = run_json(&mut b.symship(&["dsym", "upload"]));
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    assert_eq!(
        b.server.releases().len(),
        1,
        "no release made: {:?}",
        b.server.releases()
    );
    assert_eq!(summary["release_id"], Value::Null, "{summary:#}");
    let thin = "4C4C4482-5555-3144-A114-584C263AC409";
    let bound = &summary["already_bound"];
    assert_eq!(bound.as_array().map(Vec::len), Some(1), "{summary:#}");
    assert_eq!(bound[0]["ref"], thin);
    assert_eq!(bound[0]["release_id"], first[0].id.to_string());
    assert_eq!(bound[0]["release"], format!("app {}", first[0].version));
    assert_eq!(summary["skipped_already_present"], 1, "{summary:#}");
    let text = combined(&b.symship(&["dsym", "upload"]).output().unwrap());
    assert!(
        text.contains(&format!(
            "1 symbol set already bound to app {} ({})",
            first[0].version, first[0].id
        )),
        "{text}"
    );
    assert!(!text.contains("release_id_mismatch"), "{text}");
    // a new bundle beside it: its release (hello-fat.dSYM's Info.plist, the first bundle) is
    // made and binds its two slices; the stored set keeps its release, and no release_id_mismatch
    // sends the new slices without one
    copy_dir(&native("macho/hello-fat.dSYM"), &b.build.join("hello-fat.dSYM"));
    let (code, summary, stderr) = run_json(&mut b.symship(&["dsym", "upload"]));
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    let releases = b.server.releases();
    assert_eq!(releases.len(), 2, "{releases:?}");
    let made = releases.iter().find(|r| r.id != first[0].id).unwrap();
    assert_eq!(made.project, "com.apple.xcode.dsym.hello-fat");
    assert_eq!(summary["release_id"], made.id.to_string(), "{summary:#}");
    assert_eq!(summary["already_bound"][0]["ref"], thin, "{summary:#}");
    let sets: BTreeMap<String, Option<String>> = b
        .server
        .symbol_sets()
        .into_iter()
        .map(|s| (s.ref_, s.release_id.map(|r| r.to_string())))
        .collect();
    assert_eq!(sets.len(), 3, "{sets:?}");
    for (r, release) in &sets {
        let want = if r == thin { first[0].id } else { made.id };
        assert_eq!(
            release.as_deref(),
            Some(want.to_string().as_str()),
            "{r}: {sets:?}"
        );
    }
}

#[test]
fn a_fat_dsym_without_sources_is_warned_about_once_per_slice_with_its_arch() {
    // s11 tester D20: hello-fat.dSYM's DWARF names its sources by relative paths; the "no source
    // bundled" warning came twice, the same text, without saying which slice each was about
    let b = NativeBuild::empty();
    copy_dir(&native("macho/hello-fat.dSYM"), &b.build.join("hello-fat.dSYM"));
    let out = b
        .symship(&["dsym", "upload", "--include-source"])
        .output()
        .unwrap();
    let text = combined(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for arch in ["x86_64", "arm64"] {
        let said = format!("hello-fat ({arch} slice): no source bundled");
        assert_eq!(text.matches(&said).count(), 1, "{said}: {text}");
    }
    assert_eq!(text.matches("no source bundled").count(), 2, "{text}");
    let stored = stored(&b.server);
    assert_eq!(stored.len(), 2, "{:?}", stored.keys());
    assert!(stored.values().all(|(_, e)| e.keys().eq(["dwarf"])));
}

#[test]
fn a_go_build_with_trimpath_is_told_about_trimpath() {
    // s11 tester D20: Go records absolute source paths, or module and package paths with
    // -trimpath; such a build was asked whether it used -fdebug-prefix-map, a C compiler's flag
    let b = NativeBuild::empty();
    let proj = b.dir().join("goapp");
    std::fs::create_dir_all(&proj).unwrap();
    for f in ["main.go", "go.mod"] {
        std::fs::copy(native(&format!("go/{f}")), proj.join(f)).unwrap();
    }
    // fixtures/native/tools.sh installs golang-1.19-go, whose `go` is not on PATH by itself
    let go = Command::new("/usr/lib/go-1.19/bin/go")
        .args([
            "build",
            "-trimpath",
            "-ldflags=-B=0x11223344556677889900aabbccddeeff00112299",
            "-o",
        ])
        .arg(b.build.join("goapp"))
        .arg(".")
        .current_dir(&proj)
        .env("GOOS", "linux")
        .env("GOARCH", "amd64")
        .env("CGO_ENABLED", "0")
        .env("GOCACHE", b.dir().join("gocache"))
        .output()
        .expect("go 1.19 is needed (fixtures/native/tools.sh installs golang-1.19-go)");
    assert!(go.status.success(), "{}", String::from_utf8_lossy(&go.stderr));
    let out = b
        .symship(&["symbol-sets", "upload", "--include-source"])
        .output()
        .unwrap();
    let text = combined(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let warning = text
        .lines()
        .find(|l| l.contains("no source bundled"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        warning.contains("Go line tables") && warning.contains("build without -trimpath"),
        "{warning}"
    );
    assert!(!warning.contains("-fdebug-prefix-map"), "{warning}");
    let stored = stored(&b.server);
    assert_eq!(
        stored.keys().collect::<Vec<_>>(),
        ["44332211-6655-8877-9900-aabbccddeeff"]
    );
    assert!(stored.values().all(|(_, e)| e.keys().eq(["dwarf"])));
}

#[test]
fn a_conflict_verdict_points_at_the_conflict_flags_not_a_rerun() {
    let b = NativeBuild::of_files(&["elf/hello"]);
    let (code, _, stderr) = run_json(&mut b.symship(&["symbol-sets", "upload"]));
    assert_eq!(code, 0, "{stderr}");
    // the same build id, other bytes (trailing bytes keep it a valid ELF): a conflict
    let mut bytes = std::fs::read(native("elf/hello")).unwrap();
    bytes.extend_from_slice(b"rebuilt");
    std::fs::write(b.build.join("hello"), &bytes).unwrap();
    let out = b.symship(&["symbol-sets", "upload"]).output().unwrap();
    let text = combined(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("content_hash_mismatch"), "{text}");
    let verdict = text
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(!verdict.contains("re-run the same command"), "{verdict}");
    assert!(
        verdict.contains("--force") && verdict.contains("--skip-on-conflict"),
        "{verdict}"
    );
    // in the words of debug files (a fresh tester: "for chunk <debug id>", "this build's
    // sourcemaps")
    assert!(text.contains("different content for debug id "), "{text}");
    let out = b
        .symship(&["symbol-sets", "upload", "--skip-on-conflict"])
        .output()
        .unwrap();
    let text = combined(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("kept different content for 1 debug id(s)")
            && text.contains("this build's debug files"),
        "{text}"
    );
    assert!(!text.contains("sourcemap"), "{text}");
}

/// The stored objects of the finished sets: ref -> container bytes.
fn stored_bytes(server: &TestServer) -> BTreeMap<String, Vec<u8>> {
    server
        .symbol_sets()
        .into_iter()
        .filter(|s| s.content_hash.is_some())
        .map(|s| {
            let bytes = server.object_bytes(s.storage_ptr.as_deref().unwrap()).unwrap();
            (s.ref_, bytes)
        })
        .collect()
}

#[test]
fn switching_between_posthog_cli_and_symship_finds_the_sets_already_present() {
    // posthog-ios's upload-symbols.sh fails the Xcode build on any non-zero exit: a re-run after
    // switching tools must find posthog-cli's sets already there (the same zip, byte for byte, so
    // the same content_hash), and the other way round
    for (fixture, command) in [
        ("elf", ["symbol-sets", "upload"]),
        ("macho", ["symbol-sets", "upload"]),
        ("macho", ["dsym", "upload"]),
    ] {
        let what = format!("{} on {fixture}", command.join(" "));
        // each order of the two tools against a server of its own
        let b = NativeBuild::of(fixture);
        let mut args: Vec<&str> = command.to_vec();
        if command[0] == "dsym" {
            args.extend(["--main-dsym", "thin-arm64.dSYM"]);
        }
        let posthog_cli_run = |server: &TestServer| b.posthog_cli(server, &args).output().unwrap();
        let symship_run = |server: &TestServer| run_json(&mut b.symship_against(server, &args));

        // posthog-cli first, then symship
        let srv = server();
        let out = posthog_cli_run(&srv);
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs = stored_bytes(&srv);
        assert!(theirs.len() >= 2, "{what}: {theirs:?}");
        let before = transfers(&srv);
        let (code, summary, stderr) = symship_run(&srv);
        assert_eq!(code, 0, "{what}: {stderr}\n{summary:#}");
        assert_eq!(
            summary["skipped_already_present"],
            theirs.len(),
            "{what}: {summary:#}"
        );
        assert_eq!(transfers(&srv), before, "{what}: nothing sent again");
        assert_eq!(stored_bytes(&srv), theirs, "{what}: the server is unchanged");

        // symship first, then posthog-cli
        let srv = server();
        let (code, summary, stderr) = symship_run(&srv);
        assert_eq!(code, 0, "{what}: {stderr}\n{summary:#}");
        let ours = stored_bytes(&srv);
        assert!(
            ours == theirs,
            "{what}: symship's containers are not posthog-cli's, byte for byte"
        );
        let before = transfers(&srv);
        let out = posthog_cli_run(&srv);
        assert!(
            out.status.success(),
            "{what}: posthog-cli after symship: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(transfers(&srv), before, "{what}: posthog-cli sent nothing again");
        assert_eq!(stored_bytes(&srv), ours, "{what}: the server is unchanged");
    }
}

#[test]
fn a_binary_info_plist_gives_the_release_posthog_cli_gives() {
    // Xcode builds an app's Info.plist as a binary property list (here one by Python's plistlib)
    let plist = native("plist/Info-binary.plist");
    assert!(std::fs::read(&plist).unwrap().starts_with(b"bplist00"));
    let b = NativeBuild::of("macho");
    let theirs = server();
    let out = b
        .posthog_cli(&theirs, &["dsym", "upload"])
        .arg("--info-plist")
        .arg(&plist)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ours = &b.server;
    let (code, summary, stderr) = run_json(b.symship(&["dsym", "upload"]).arg("--info-plist").arg(&plist));
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    let release = |s: &TestServer| {
        let r = s.releases();
        assert_eq!(r.len(), 1, "{r:?}");
        (r[0].project.clone(), r[0].version.clone())
    };
    assert_eq!(
        release(&theirs),
        ("com.example.bin".to_string(), "3.1+77".to_string())
    );
    assert_eq!(release(ours), release(&theirs));
    assert!(ours
        .symbol_sets()
        .iter()
        .all(|s| s.release_id == Some(ours.releases()[0].id)));
}

#[test]
fn an_unusable_tmpdir_is_named_with_what_to_do() {
    // the zip of a debug file is written into the temporary directory: a TMPDIR that does not
    // exist, or is a file, fails each set with an error naming it and the fix
    let b = NativeBuild::of_files(&["elf/hello"]);
    let a_file = b.dir().join("a-file");
    std::fs::write(&a_file, b"").unwrap();
    for dir in [b.dir().join("missing"), a_file] {
        let shown = dir.display().to_string();
        let (code, summary, stderr) = run_json(b.symship(&["symbol-sets", "upload"]).env("TMPDIR", &dir));
        assert_eq!(code, 1, "{shown}: {stderr}\n{summary:#}");
        let failed = summary["failed"].as_array().unwrap();
        assert_eq!(failed.len(), 1, "{summary:#}");
        assert_eq!(failed[0]["code"], "container_failed", "{summary:#}");
        let error = failed[0]["error"].as_str().unwrap();
        assert!(
            error.contains(&format!("temporary file in {shown}")) && error.contains("set TMPDIR to"),
            "{error}"
        );
        assert!(stderr.contains(&shown), "{stderr}");
    }
    assert!(b.server.symbol_sets().is_empty(), "nothing was started");
}

/// Writes `mib` MiB of xorshift bytes (neither deflate nor zstd shrinks them) to `w`.
fn incompressible(w: &mut impl std::io::Write, mib: usize) {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for b in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.copy_from_slice(&x.to_le_bytes());
        }
        w.write_all(&block).unwrap();
    }
}

#[test]
fn a_debug_file_over_the_limit_is_named_with_a_hint_for_debug_files() {
    // the ELF fixture with 110 MiB of incompressible bytes after it (still a valid ELF, same build
    // id): its container is over PostHog's 100 MiB; hello-gz beside it lands
    let b = NativeBuild::of_files(&["elf/hello-gz"]);
    let big = b.build.join("big");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
    std::io::Write::write_all(&mut f, &std::fs::read(native("elf/hello")).unwrap()).unwrap();
    incompressible(&mut f, 110);
    drop(f);
    let debug_id = "f734873c-9dcd-04d1-273a-d1a45db9639b";
    assert!(refs_txt().contains(&format!("elf/hello {debug_id}\n")));
    let (code, summary, stderr) = run_json(&mut b.symship(&["symbol-sets", "upload"]));
    // as a too-large JavaScript chunk: skipped and counted, not a failure
    // (hostile_input::a_chunk_too_large_for_posthog_is_found_out_before_the_start)
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    assert_eq!(summary["skipped_too_large"], 1, "{summary:#}");
    assert_eq!(summary["uploaded"], 1, "{summary:#}");
    let entry = summary["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["outcome"] == "too_large")
        .unwrap_or_else(|| panic!("{summary:#}"));
    assert!(entry["file"].as_str().unwrap().ends_with("build/big"), "{entry}");
    assert_eq!(entry["ref"], debug_id, "{entry}");
    assert_eq!(entry["chunk_id"], debug_id, "{entry}");
    let reason = entry["reason"].as_str().unwrap();
    assert!(reason.contains("objcopy --only-keep-debug"), "{reason}");
    assert!(reason.contains("--include-source"), "{reason}");
    assert!(!reason.contains("bundler"), "{reason}");
    // the log line names the file and its debug id, with the same hint
    let line = stderr
        .lines()
        .find(|l| l.contains("build/big"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.contains(debug_id) && line.contains("objcopy"), "{line}");
    assert!(!stderr.contains("split the chunk"), "{stderr}");
    assert!(
        b.server.symbol_sets().iter().all(|s| s.ref_ != debug_id),
        "never started"
    );
    // the text summary lists it with its debug id and the hint
    let r = run(&mut b.symship(&["symbol-sets", "upload"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let listed = r
        .stderr
        .lines()
        .skip_while(|l| !l.starts_with("not uploaded, too large (1)"))
        .nth(1)
        .unwrap_or_else(|| panic!("{}", r.stderr));
    assert!(
        listed.contains("build/big (debug id f734873c-9dcd-04d1-273a-d1a45db9639b)")
            && listed.contains("objcopy"),
        "{listed}"
    );
    // under the name posthog-cli, exit 0 as well (posthog-cli 0.19.0 counts it as too large)
    let out = b.as_posthog_cli(&["symbol-sets", "upload"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // the big file alone: every set found was skipped (too_large is a skip, README), nothing was
    // sent: exit 3 naming its debug id, not exit 0 as if all went well (s9 tester, finding 5)
    std::fs::remove_file(b.build.join("hello-gz")).unwrap();
    let (code, summary, stderr) = run_json(&mut b.symship(&["symbol-sets", "upload"]));
    assert_eq!(code, 3, "{stderr}\n{summary:#}");
    assert_eq!(summary["exit_code"], 3, "{summary:#}");
    assert_eq!(summary["uploaded"], 0, "{summary:#}");
    assert_eq!(summary["skipped_too_large"], 1, "{summary:#}");
    let chunks = summary["chunks"].as_array().unwrap();
    assert_eq!(chunks.len(), 1, "{summary:#}");
    assert_eq!(chunks[0]["outcome"], "too_large", "{summary:#}");
    assert_eq!(chunks[0]["ref"], debug_id, "{summary:#}");
    let verdict = summary["verdict"]
        .as_str()
        .unwrap_or_else(|| panic!("{summary:#}"));
    assert!(
        verdict.contains("exit code 3") && verdict.contains(&format!("build/big (debug id {debug_id})")),
        "{verdict}"
    );
    let r = run(&mut b.symship(&["symbol-sets", "upload"]));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("every one was skipped (exit code 3)")
            && r.stderr.contains(&format!(
                "build/big (debug id {debug_id}): over PostHog's 100 MiB limit"
            )),
        "{}",
        r.stderr
    );
    assert!(
        b.server.symbol_sets().iter().all(|s| s.ref_ != debug_id),
        "never started"
    );
    // posthog-cli 0.19.0 exits 0 with the set "too large": its personality keeps that
    let out = b.as_posthog_cli(&["symbol-sets", "upload"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_summaries_speak_of_debug_files_and_symbol_sets() {
    // the macho fixture's dSYMs: 2 debug files with something to upload, 3 symbol sets (the fat
    // one has two architecture slices)
    let b = NativeBuild::of("macho");
    let (code, summary, stderr) = run_json(&mut b.symship(&["symbol-sets", "upload"]));
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    assert_eq!(summary["debug_files_found"], 2, "{summary:#}");
    assert_eq!(summary["symbol_sets_found"], 3, "{summary:#}");
    // the fields scripts already read stay
    assert_eq!(summary["pairs_found"], 3, "{summary:#}");
    assert_eq!(summary["uploaded"], 3, "{summary:#}");
    // the progress line counts each slice of the fat file, not each file
    assert!(stderr.contains("upload: 3 symbol sets"), "{stderr}");
    for command in [["symbol-sets", "upload"], ["dsym", "upload"]] {
        let r = run(&mut b.symship(&command));
        assert_eq!(r.code, 0, "{}", r.stderr);
        let block: Vec<&str> = r
            .stderr
            .lines()
            .skip_while(|l| !l.starts_with("symship "))
            .collect();
        let text = block.join("\n");
        assert!(
            text.contains("debug files   2 found (3 symbol sets: one per architecture)"),
            "{command:?}: {text}"
        );
        assert!(
            text.contains("uploaded      0 symbol sets"),
            "{command:?}: {text}"
        );
        assert!(!text.contains("pairs"), "{command:?}: {text}");
        assert!(!text.contains("inject"), "{command:?}: {text}");
        assert!(!r.stderr.contains(" chunks"), "{command:?}: {}", r.stderr);
    }
}

#[test]
fn a_zipped_dsym_is_named_with_what_to_do() {
    // fastlane's gym writes App.app.dSYM.zip beside the IPA; `dsym upload` found "no .dSYM
    // bundle" and never said the zip was there (s9 tester, finding 14). The dSYM fixture zipped
    // here with its folder at the top, as `zip -r App.app.dSYM.zip App.app.dSYM` lays it out.
    let b = NativeBuild::empty();
    zip_fat_dsym(&b.build.join("App.app.dSYM.zip"));
    for command in [["dsym", "upload"], ["symbol-sets", "upload"]] {
        let (code, summary, stderr) = run_json(&mut b.symship(&command));
        assert_eq!(code, 3, "{command:?}: {stderr}\n{summary:#}");
        let skipped = summary["skipped"].as_array().unwrap();
        assert_eq!(skipped.len(), 1, "{command:?}: {summary:#}");
        assert_eq!(skipped[0]["code"], "zipped_dsym", "{summary:#}");
        assert!(
            skipped[0]["file"]
                .as_str()
                .unwrap()
                .ends_with("build/App.app.dSYM.zip"),
            "{summary:#}"
        );
        let verdict = summary["verdict"].as_str().unwrap();
        assert!(
            verdict.contains("App.app.dSYM.zip") && verdict.contains("unzip it"),
            "{command:?}: {verdict}"
        );
    }
    assert!(b.server.symbol_sets().is_empty());
}

#[test]
fn a_file_named_dsym_is_named_as_not_a_bundle() {
    // s11 tester: a regular file named X.dSYM (a zipped dSYM renamed, a note) was passed over
    // without a word by both commands, as posthog-cli 0.19.0 passes it over
    let b = NativeBuild::empty();
    zip_fat_dsym(&b.build.join("App.dSYM"));
    std::fs::write(b.build.join("Notes.dSYM"), "not a bundle\n").unwrap();
    let both = vec![
        ("App.dSYM".to_string(), "not_a_bundle".to_string()),
        ("Notes.dSYM".to_string(), "not_a_bundle".to_string()),
    ];
    for command in [["dsym", "upload"], ["symbol-sets", "upload"]] {
        let (code, summary, stderr) = run_json(&mut b.symship(&command));
        assert_eq!(code, 3, "{command:?}: {stderr}\n{summary:#}");
        assert_eq!(skipped(&summary), both, "{command:?}: {summary:#}");
        let reasons: Vec<&str> = summary["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["reason"].as_str().unwrap())
            .collect();
        assert!(reasons[0].contains("is a file, not a dSYM bundle"), "{reasons:?}");
        assert!(
            reasons[0].contains("a zip archive") && reasons[0].contains("unzip it"),
            "{reasons:?}"
        );
        assert!(reasons[1].contains("it is text"), "{reasons:?}");
        // under the name posthog-cli, the exit code posthog-cli 0.19.0 gives on this directory
        // (dsym upload: 0, "No dSYM bundles found"; symbol-sets upload: 1, "No ELF or Mach-O
        // files ..."), with the files still named
        let theirs = b.posthog_cli(&b.server, &command).output().unwrap();
        let ours = b.as_posthog_cli(&command).output().unwrap();
        assert_eq!(
            ours.status.code(),
            theirs.status.code(),
            "{command:?}: {}\n{}",
            combined(&ours),
            combined(&theirs)
        );
        assert!(combined(&ours).contains("Notes.dSYM"), "{}", combined(&ours));
    }
    assert!(b.server.symbol_sets().is_empty());
    // beside a real bundle, and with a dSYM's DWARF file copied out as Loose.dSYM: dsym upload
    // sends the bundle and names the three files; symbol-sets upload reads the Mach-O file as
    // any loose file (as posthog-cli does) and names the other two
    copy_dir(&native("macho/thin-arm64.dSYM"), &b.build.join("thin-arm64.dSYM"));
    std::fs::copy(
        native("macho/hello-fat.dSYM/Contents/Resources/DWARF/hello-fat"),
        b.build.join("Loose.dSYM"),
    )
    .unwrap();
    let (code, summary, stderr) = run_json(&mut b.symship(&["dsym", "upload"]));
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    let mut three = both.clone();
    three.insert(1, ("Loose.dSYM".into(), "not_a_bundle".into()));
    assert_eq!(skipped(&summary), three, "{summary:#}");
    let loose = &summary["skipped"][1]["reason"];
    assert!(
        loose.as_str().unwrap().contains("a fat Mach-O file")
            && loose.as_str().unwrap().contains("symbol-sets upload"),
        "{loose}"
    );
    assert_eq!(stored(&b.server).len(), 1);
    let (code, summary, stderr) = run_json(&mut b.symship(&["symbol-sets", "upload"]));
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    assert_eq!(skipped(&summary), both, "{summary:#}");
    assert_eq!(
        stored(&b.server).len(),
        3,
        "the two slices of Loose.dSYM, and thin-arm64"
    );
}

/// `to`: the fixture `macho/hello-fat.dSYM` zipped with its folder at the top, named
/// `App.app.dSYM`, as `zip -r App.app.dSYM.zip App.app.dSYM` lays it out.
fn zip_fat_dsym(to: &Path) {
    let dsym = native("macho/hello-fat.dSYM");
    let mut z = zip::ZipWriter::new(std::fs::File::create(to).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    for rel in ["Contents/Info.plist", "Contents/Resources/DWARF/hello-fat"] {
        z.start_file(format!("App.app.dSYM/{rel}"), options).unwrap();
        std::io::Write::write_all(&mut z, &std::fs::read(dsym.join(rel)).unwrap()).unwrap();
    }
    z.finish().unwrap();
}

/// `cmd` run so that a directory of mode 000 cannot be listed: as it is, or, when the tests run
/// as root (CI), by an unprivileged user (`setpriv`, util-linux) running a copy of the binary in
/// `b`'s temp dir, which is opened to it (mode 0755, the hash cache 0777 inside it).
fn unprivileged(b: &NativeBuild, cmd: &Command) -> Command {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let probe = b.dir().join("uid-probe");
    std::fs::write(&probe, b"").unwrap();
    if std::fs::metadata(&probe).unwrap().uid() != 0 {
        let mut c = on_program(cmd, cmd.get_program());
        c.args(cmd.get_args());
        return c;
    }
    let open =
        |p: &Path, mode: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    open(b.dir(), 0o755);
    let bin = b.dir().join("nobody-bin");
    std::fs::create_dir_all(&bin).unwrap();
    open(&bin, 0o755);
    // the copy keeps the program's name: run as posthog-cli, symship is posthog-cli 0.19.0
    let copy = bin.join(Path::new(cmd.get_program()).file_name().unwrap());
    std::fs::copy(cmd.get_program(), &copy).unwrap();
    open(&copy, 0o755);
    let cache = b.dir().join("nobody-cache");
    std::fs::create_dir_all(&cache).unwrap();
    open(&cache, 0o777);
    let mut c = on_program(cmd, "setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&copy)
        .args(cmd.get_args())
        .env(symship_api::env::CACHE_DIR, &cache)
        .env("HOME", &cache);
    c
}

#[test]
fn dsym_upload_names_what_it_cannot_read_beside_real_bundles() {
    // s11 tester D1/D2: beside a real bundle, dsym upload passed over a zipped dSYM, a directory
    // it could not list and a *.dSYM link leading nowhere without a word (exit 0, "skipped": []):
    // their crashes never resolve. symbol-sets upload named them already; both do now, in text,
    // JSON and GitHub annotations, and upload the rest (skips are not failures: exit 0).
    let b = NativeBuild::empty();
    copy_dir(&native("macho/thin-arm64.dSYM"), &b.build.join("thin-arm64.dSYM"));
    zip_fat_dsym(&b.build.join("App.app.dSYM.zip"));
    std::os::unix::fs::symlink("/nonexistent/Gone.dSYM", b.build.join("Gone.dSYM")).unwrap();
    let locked = b.build.join("locked");
    copy_dir(&native("macho/hello-fat.dSYM"), &locked.join("hello-fat.dSYM"));
    let mode = |p: &Path, m: u32| {
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(m)).unwrap()
    };
    mode(&locked, 0o000);
    let thin_uuid = "4C4C4482-5555-3144-A114-584C263AC409";
    assert!(refs_txt().contains(&format!("UUID: {thin_uuid} (arm64)")));
    let want = [
        ("App.app.dSYM.zip".to_string(), "zipped_dsym".to_string()),
        ("Gone.dSYM".into(), "unreadable".into()),
        ("locked".into(), "unreadable".into()),
    ];
    for command in [["dsym", "upload"], ["symbol-sets", "upload"]] {
        let (code, summary, stderr) = run_json(&mut unprivileged(&b, &b.symship(&command)));
        assert_eq!(code, 0, "{command:?}: {stderr}\n{summary:#}");
        assert_eq!(skipped(&summary), want, "{command:?}: {summary:#}");
        let reasons: Vec<&str> = summary["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["reason"].as_str().unwrap())
            .collect();
        assert!(reasons.iter().any(|r| r.contains("unzip it")), "{reasons:?}");
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("Gone.dSYM") && r.contains("symbolic link to /nonexistent/Gone.dSYM")),
            "{reasons:?}"
        );
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("locked") && r.contains("cannot be listed")),
            "{reasons:?}"
        );
        assert_eq!(
            stored(&b.server).keys().collect::<Vec<_>>(),
            [thin_uuid],
            "{command:?}: the readable bundle landed"
        );
        // the text report warns of each, and GitHub annotations name each file
        let r = run(unprivileged(&b, &b.symship(&command))
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_WORKSPACE", b.dir()));
        assert_eq!(r.code, 0, "{command:?}: {}", r.stderr);
        for (file, code) in &want {
            assert!(
                r.stderr.contains(&format!(
                    "::warning file=build/{file},title=symship%3A skipped ({code})"
                )),
                "{command:?} {file}: {}",
                r.stderr
            );
            assert!(
                r.stderr
                    .lines()
                    .any(|l| l.contains("WARN") && l.contains(&format!("build/{file} "))),
                "{command:?} {file}: {}",
                r.stderr
            );
        }
    }
    // under the name posthog-cli, dsym upload stops at what it cannot follow before sending
    // anything, exit 1, as posthog-cli 0.19.0 does ("Oops! IO error for operation on ...")
    let other = start(Config::default());
    let mut c = on_program(
        &b.symship_against(&other, &["dsym", "upload"]),
        symship_as_posthog_cli(b.dir()),
    );
    c.args(["dsym", "upload", "-d"]).arg(&b.build);
    let r = run(&mut unprivileged(&b, &c));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("IO error for operation on"), "{}", r.stderr);
    assert!(other.symbol_sets().is_empty() && other.releases().is_empty());
    // and with only the zip beside the bundle, it uploads the bundle and exits 0, as posthog-cli
    // does, naming the zip
    mode(&locked, 0o755);
    std::fs::remove_dir_all(&locked).unwrap();
    std::fs::remove_file(b.build.join("Gone.dSYM")).unwrap();
    let r = run(&mut c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("App.app.dSYM.zip is a zipped dSYM"),
        "{}",
        r.stderr
    );
    assert_eq!(stored(&other).keys().collect::<Vec<_>>(), [thin_uuid]);
}

#[test]
fn copies_links_and_incomplete_dsyms_are_named_for_what_they_are() {
    // s11 tester D16/D17: a copy of a dSYM was `duplicate` in dsym upload (the pipeline's code) and
    // `duplicate_debug_id` in symbol-sets upload, with 2 vs 1 debug files found; a bundle without
    // Contents/Resources/DWARF/ was `unreadable`; an all-zero LC_UUID was "no LC_UUID"; and of a
    // file and a symbolic link to it the link was uploaded and the file called the duplicate.
    let b = NativeBuild::empty();
    let thin = native("macho/thin-arm64.dSYM");
    copy_dir(&thin, &b.build.join("thin-arm64.dSYM"));
    copy_dir(&thin, &b.build.join("thin-copy.dSYM"));
    // a bundle copied without its DWARF folder
    let partial = b.build.join("NoDwarf.dSYM/Contents");
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::copy(thin.join("Contents/Info.plist"), partial.join("Info.plist")).unwrap();
    // the real dSYM with its LC_UUID's 16 bytes zeroed (the UUID occurs once in the file)
    copy_dir(&thin, &b.build.join("Nil.dSYM"));
    let nil = b.build.join("Nil.dSYM/Contents/Resources/DWARF/thin-arm64");
    let uuid = "4C4C4482-5555-3144-A114-584C263AC409";
    let raw: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&uuid.replace('-', "")[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let mut bytes = std::fs::read(&nil).unwrap();
    let at: Vec<usize> = (0..bytes.len() - 16)
        .filter(|&i| bytes[i..i + 16] == raw[..])
        .collect();
    assert_eq!(at.len(), 1, "the LC_UUID occurs once");
    bytes[at[0]..at[0] + 16].fill(0);
    std::fs::write(&nil, &bytes).unwrap();
    let dwarf = "Contents/Resources/DWARF/thin-arm64";
    let want = [
        (format!("Nil.dSYM/{dwarf}"), "no_uuid".to_string()),
        ("NoDwarf.dSYM".into(), "no_debug_info".into()),
        (format!("thin-copy.dSYM/{dwarf}"), "duplicate_debug_id".into()),
    ];
    for command in [["dsym", "upload"], ["symbol-sets", "upload"]] {
        let (code, summary, stderr) = run_json(&mut b.symship(&command));
        assert_eq!(code, 0, "{command:?}: {stderr}\n{summary:#}");
        assert_eq!(skipped(&summary), want, "{command:?}: {summary:#}");
        assert_eq!(summary["debug_files_found"], 1, "{command:?}: {summary:#}");
        assert_eq!(summary["skipped_duplicate"], 0, "{command:?}: {summary:#}");
        let reason = |file: &str| {
            summary["skipped"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["file"].as_str().unwrap().ends_with(file))
                .unwrap()["reason"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert!(
            reason(&format!("Nil.dSYM/{dwarf}")).contains("LC_UUID is all zeros"),
            "{summary:#}"
        );
        assert!(
            reason("NoDwarf.dSYM").contains("no Contents/Resources/DWARF/ folder"),
            "{summary:#}"
        );
        assert!(
            reason(&format!("thin-copy.dSYM/{dwarf}")).contains(&format!(
                "{uuid} of {}",
                b.build.join("thin-arm64.dSYM").join(dwarf).display()
            )),
            "{summary:#}"
        );
        assert_eq!(stored(&b.server).keys().collect::<Vec<_>>(), [uuid]);
    }

    // a file and a symbolic link to it in one directory: the file is uploaded, the link is the
    // duplicate (it sorts first, and both carry the same DWARF)
    let e = NativeBuild::of_files(&["elf/hello"]);
    std::os::unix::fs::symlink("hello", e.build.join("hello-link")).unwrap();
    let (code, summary, stderr) = run_json(&mut e.symship(&["symbol-sets", "upload"]));
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    assert_eq!(
        skipped(&summary),
        [("hello-link".to_string(), "duplicate_debug_id".to_string())]
    );
    let r = summary["skipped"][0]["reason"].as_str().unwrap();
    assert!(
        r.contains(&format!(
            "of {}, which carries at least as much debug info and is uploaded instead",
            e.build.join("hello").display()
        )),
        "{r}"
    );
    assert_eq!(stored(&e.server).len(), 1);
    // the reason does not call a shared id harmless: two programs given one build id by hand
    // resolve against each other (s11 tester D11)
    assert!(
        r.contains("another program") && r.contains("--build-id=sha1"),
        "{r}"
    );
}

/// A key the server refuses (401) on the lookups before the release is made: the run stops there,
/// with no further API call and no warning about how the sets would be sent (a fresh tester: three
/// lookups answered 401, then `releases_hash` was still asked, and a warning said the sets were
/// sent with the release though nothing was sent). As the README says of `sourcemap upload`: when
/// the API refuses the key, no further API call is sent.
#[test]
fn a_refused_key_stops_native_uploads_at_the_lookups() {
    for (fixture, command) in [
        ("elf", &["symbol-sets", "upload"][..]),
        ("macho", &["dsym", "upload"][..]),
    ] {
        let b = NativeBuild::of(fixture);
        let before = b.server.requests().len();
        let (code, summary, stderr) = run_json(
            b.symship(command)
                .env("POSTHOG_CLI_API_KEY", "phx_wrongwrongwrongwrongwrong")
                .args(["--release-name", "a", "--release-version", "1"]),
        );
        assert_eq!(code, 1, "{command:?}: {stderr}\n{summary:#}");
        let after: Vec<String> = b.server.requests()[before..]
            .iter()
            .map(|r| r.route.clone())
            .collect();
        assert!(!after.is_empty(), "{command:?}: the lookups were asked");
        assert!(after.iter().all(|r| r == "list"), "{command:?}: {after:?}");
        assert!(
            !stderr.contains("they are sent with release"),
            "{command:?}: {stderr}"
        );
        assert!(stderr.contains("401"), "{command:?}: {stderr}");
        assert_eq!(
            summary["code"], "authentication_failed",
            "{command:?}: {summary:#}"
        );
        assert!(b.server.releases().is_empty());
    }
}
