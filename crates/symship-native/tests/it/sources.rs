//! `--include-source` on a real gcc build whose DWARF names absolute paths (built here, in a
//! temporary directory, from `fixtures/native/src`): the `__source/` bundle is what posthog-cli
//! 0.19.0 sends for such a build (names grown until unique, the manifest first, `version` then
//! `files`), `--source-root` narrows it, and a source that is a link is left out.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use symship_core::container;
use symship_core::set::{Context, SymbolSet};
use symship_native::source::{self, SourceOptions};
use symship_native::{Finding, NativeSet, Slice};

fn fixture_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/native/src")
}

fn gcc(args: &[&str], cwd: &Path) {
    let out = Command::new("gcc")
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("gcc is needed (apt-get install gcc; fixtures/native/tools.sh)");
    assert!(
        out.status.success(),
        "gcc {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `proj/src/{hello.c,util.c,util.h}` and `proj/lib/util.c` (the fixture's util.c again, its
/// functions renamed), linked into `proj/build/hello` with absolute paths in its DWARF.
fn build() -> (tempfile::TempDir, PathBuf, Slice) {
    let tmp = tempfile::tempdir().unwrap();
    let proj = tmp.path().canonicalize().unwrap().join("proj");
    for d in ["src", "lib", "build"] {
        std::fs::create_dir_all(proj.join(d)).unwrap();
    }
    for f in ["hello.c", "util.c", "util.h"] {
        std::fs::copy(fixture_src().join(f), proj.join("src").join(f)).unwrap();
    }
    std::fs::copy(fixture_src().join("util.c"), proj.join("lib/util.c")).unwrap();
    let abs = |r: &str| proj.join(r).display().to_string();
    gcc(
        &[
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
        &proj,
    );
    gcc(
        &[
            "-O0",
            "-g",
            "-Wl,--build-id=sha1",
            &abs("src/hello.c"),
            &abs("src/util.c"),
            &abs("build/lib.o"),
            "-o",
            &abs("build/hello"),
        ],
        &proj,
    );
    let slice = match symship_native::inspect(&proj.join("build/hello")).remove(0) {
        Finding::Slice(s) => s,
        other => panic!("{other:?}"),
    };
    (tmp, proj, slice)
}

#[test]
fn the_bundle_is_laid_out_as_posthog_cli_lays_it_out() {
    let (_tmp, proj, slice) = build();
    let b = source::bundle(&slice, &SourceOptions::default()).unwrap();
    assert_eq!(b.warnings, Vec::<String>::new());
    let names: Vec<&str> = b.entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "__source/manifest.json",
            "__source/hello.c",
            "__source/lib/util.c",
            "__source/src/util.c",
            "__source/util.h",
        ]
    );
    let p = |r: &str| proj.join(r).display().to_string();
    let manifest = format!(
        "{{\n  \"version\": 1,\n  \"files\": {{\n    \"{}\": \"__source/lib/util.c\",\n    \"{}\": \"__source/hello.c\",\n    \"{}\": \"__source/src/util.c\",\n    \"{}\": \"__source/util.h\"\n  }}\n}}",
        p("lib/util.c"),
        p("src/hello.c"),
        p("src/util.c"),
        p("src/util.h")
    );
    assert_eq!(String::from_utf8(b.entries[0].1.clone()).unwrap(), manifest);
    for (name, rel) in [
        ("__source/hello.c", "src/hello.c"),
        ("__source/lib/util.c", "lib/util.c"),
        ("__source/src/util.c", "src/util.c"),
        ("__source/util.h", "src/util.h"),
    ] {
        let got = &b.entries.iter().find(|(n, _)| n == name).unwrap().1;
        assert_eq!(got, &std::fs::read(proj.join(rel)).unwrap(), "{name}");
    }
}

#[test]
fn source_root_narrows_and_links_are_left_out() {
    let (_tmp, proj, slice) = build();
    let b = source::bundle(
        &slice,
        &SourceOptions {
            root: Some(proj.join("lib")),
            drop_dependencies: true,
        },
    )
    .unwrap();
    let names: Vec<&str> = b.entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["__source/manifest.json", "__source/util.c"]);
    // a source swapped for a link is not followed
    let util_h = proj.join("src/util.h");
    std::fs::rename(&util_h, proj.join("util.h.real")).unwrap();
    std::os::unix::fs::symlink(proj.join("util.h.real"), &util_h).unwrap();
    let b = source::bundle(&slice, &SourceOptions::default()).unwrap();
    assert!(
        !b.entries.iter().any(|(n, _)| n == "__source/util.h"),
        "{:?}",
        b.entries.iter().map(|e| &e.0).collect::<Vec<_>>()
    );
    assert_eq!(b.warnings.len(), 1, "{:?}", b.warnings);
    assert!(b.warnings[0].contains("symbolic link"), "{:?}", b.warnings);
}

#[test]
fn names_count_a_source_that_could_not_be_read_as_posthog_cli_does() {
    // lib/util.c deleted after the build: posthog-cli 0.19.0 grows the names over every path
    // that passed its filters before reading, so src/util.c stays __source/src/util.c (symship
    // named it __source/util.c: s9 tester, finding 12)
    let (_tmp, proj, slice) = build();
    std::fs::remove_file(proj.join("lib/util.c")).unwrap();
    let b = source::bundle(&slice, &SourceOptions::default()).unwrap();
    let names: Vec<&str> = b.entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "__source/manifest.json",
            "__source/hello.c",
            "__source/src/util.c",
            "__source/util.h",
        ]
    );
    let manifest = String::from_utf8(b.entries[0].1.clone()).unwrap();
    assert!(!manifest.contains("lib/util.c"), "{manifest}");
    assert_eq!(b.warnings.len(), 1, "{:?}", b.warnings);
    assert!(b.warnings[0].contains("lib/util.c"), "{:?}", b.warnings);
}

#[test]
fn the_set_zips_dwarf_then_the_bundle() {
    let (_tmp, _proj, slice) = build();
    let set = NativeSet::new(slice.clone()).with_sources(SourceOptions::default());
    let cx = Context {
        mode: symship_core::release_mode::ReleaseMode::SymbolSet,
        release_id: None,
        build_small: true,
        memo: None,
    };
    let p = set.prepare(&cx).unwrap();
    let zip = match container::read_any(p.container.as_ref().unwrap()).unwrap() {
        container::Payload::ElfDebugInfo(z) => z,
        other => panic!("{other:?}"),
    };
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let names: Vec<String> = z.file_names().map(str::to_owned).collect();
    assert_eq!(names[0], "dwarf");
    assert_eq!(names[1], "__source/manifest.json");
    assert_eq!(names.len(), 6, "{names:?}");
    let mut dwarf = Vec::new();
    z.by_name("dwarf").unwrap().read_to_end(&mut dwarf).unwrap();
    assert_eq!(dwarf, std::fs::read(&slice.path).unwrap());
    // without the flag: dwarf alone
    let p = NativeSet::new(slice).prepare(&cx).unwrap();
    let zip = match container::read_any(p.container.as_ref().unwrap()).unwrap() {
        container::Payload::ElfDebugInfo(z) => z,
        other => panic!("{other:?}"),
    };
    let z = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    assert_eq!(z.file_names().collect::<Vec<_>>(), ["dwarf"]);
}

#[test]
fn relative_dwarf_paths_give_no_bundle_as_with_posthog_cli() {
    // fixtures/native/elf/hello names ./src/... relative to the build directory: posthog-cli
    // 0.19.0 found 0 source paths in it (posthog-cli-0.19.0/elf-include-source)
    let slice = match symship_native::inspect(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/native/elf/hello"),
    )
    .remove(0)
    {
        Finding::Slice(s) => s,
        other => panic!("{other:?}"),
    };
    let b = source::bundle(&slice, &SourceOptions::default()).unwrap();
    assert_eq!(b.entries, Vec::<(String, Vec<u8>)>::new());
    // and it is said, not silent (s9 tester, finding 16)
    assert_eq!(b.warnings.len(), 1, "{:?}", b.warnings);
    assert!(
        b.warnings[0].contains("relative paths") && b.warnings[0].contains("-fdebug-prefix-map"),
        "{:?}",
        b.warnings
    );
}

#[test]
fn compressed_elf_debug_sections_are_read_decompressed() {
    // gcc -gz=zlib: the .debug_* sections are SHF_COMPRESSED (issue 17, defect 6: their
    // compressed bytes were parsed as DWARF, "Hit the end of input", and no source was sent)
    let (_tmp, proj, _) = build();
    let abs = |r: &str| proj.join(r).display().to_string();
    gcc(
        &[
            "-O0",
            "-g",
            "-gz=zlib",
            "-Wl,--build-id=sha1",
            &abs("src/hello.c"),
            &abs("src/util.c"),
            "-o",
            &abs("build/hello-gz"),
        ],
        &proj,
    );
    let bytes = std::fs::read(proj.join("build/hello-gz")).unwrap();
    let elf = object::read::elf::ElfFile64::<object::Endianness>::parse(&*bytes).unwrap();
    let info = object::Object::section_by_name(&elf, ".debug_info").unwrap();
    assert_ne!(
        object::ObjectSection::compressed_data(&info).unwrap().format,
        object::CompressionFormat::None,
        "gcc -gz=zlib wrote no compressed section"
    );
    let slice = match symship_native::inspect(&proj.join("build/hello-gz")).remove(0) {
        Finding::Slice(s) => s,
        other => panic!("{other:?}"),
    };
    let b = source::bundle(&slice, &SourceOptions::default()).unwrap();
    assert_eq!(b.warnings, Vec::<String>::new());
    let names: Vec<&str> = b.entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "__source/manifest.json",
            "__source/hello.c",
            "__source/util.c",
            "__source/util.h"
        ]
    );
    let got = &b.entries.iter().find(|(n, _)| n == "__source/util.c").unwrap().1;
    assert_eq!(got, &std::fs::read(proj.join("src/util.c")).unwrap());
}

#[test]
fn a_go_binary_bundles_its_own_go_files_as_posthog_cli_does() {
    // Go units are packages in comp dir "." (DW_AT_name "main", "internal/cpu"): taken as main
    // files they gave the prefix ".", which no absolute line-table path is under, and a Go
    // binary got no bundle (s9 tester, finding 11). posthog-cli 0.19.0 sends
    // __source/manifest.json and __source/main.go for this build: the program's own file, not
    // the toolchain's runtime sources.
    let tmp = tempfile::tempdir().unwrap();
    let proj = tmp.path().canonicalize().unwrap().join("goapp");
    std::fs::create_dir_all(&proj).unwrap();
    let go_src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/native/go");
    for f in ["main.go", "go.mod"] {
        std::fs::copy(go_src.join(f), proj.join(f)).unwrap();
    }
    // fixtures/native/tools.sh installs golang-1.19-go, whose `go` is not on PATH by itself
    let go_build = |ldflags: &str, out: &str| {
        let r = Command::new("/usr/lib/go-1.19/bin/go")
            .args(["build", ldflags, "-o", out, "."])
            .current_dir(&proj)
            .env("GOOS", "linux")
            .env("GOARCH", "amd64")
            .env("CGO_ENABLED", "0")
            .output()
            .expect("go 1.19 is needed (fixtures/native/tools.sh installs golang-1.19-go)");
        (
            r.status.success(),
            String::from_utf8_lossy(&r.stderr).into_owned(),
        )
    };
    let (ok, stderr) = go_build("-ldflags=-B=0x11223344556677889900aabbccddeeff00112233", "goapp");
    assert!(ok, "go build: {stderr}");
    // without -B Go writes no GNU build id: the no_build_id advice must be one Go 1.19 takes; it
    // gave only -B=gobuildid, which Go 1.19 refuses (s9 tester, finding 19)
    let (ok, _) = go_build("-ldflags=-B=gobuildid", "refused");
    assert!(!ok, "Go 1.19 took -B=gobuildid");
    let (ok, stderr) = go_build("-ldflags=", "noid");
    assert!(ok, "go build: {stderr}");
    match &symship_native::inspect(&proj.join("noid"))[..] {
        [Finding::Skipped { reason, .. }] => {
            assert_eq!(reason.code(), "no_build_id");
            assert!(reason.to_string().contains("-ldflags=-B=0x"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    std::fs::remove_file(proj.join("noid")).unwrap();
    let slice = match symship_native::inspect(&proj.join("goapp")).remove(0) {
        Finding::Slice(s) => s,
        other => panic!("{other:?}"),
    };
    let paths = source::dwarf_paths(&slice).unwrap();
    let main_go = proj.join("main.go").display().to_string();
    assert_eq!(paths, [main_go.as_str()]);
    let b = source::bundle(&slice, &SourceOptions::default()).unwrap();
    assert_eq!(b.warnings, Vec::<String>::new());
    let names: Vec<&str> = b.entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["__source/manifest.json", "__source/main.go"]);
    assert_eq!(
        String::from_utf8(b.entries[0].1.clone()).unwrap(),
        format!("{{\n  \"version\": 1,\n  \"files\": {{\n    \"{main_go}\": \"__source/main.go\"\n  }}\n}}")
    );
    assert_eq!(b.entries[1].1, std::fs::read(proj.join("main.go")).unwrap());
}
