use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::Digest as _;
use symship_native::{discover, package, Format, Reason};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/native")
}

/// `fixtures/native/refs.txt`: (section, file[, arch]) -> value.
fn refs() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(root().join("refs.txt")).unwrap();
    let mut out = BTreeMap::new();
    let mut section = "";
    for line in text.lines() {
        if let Some(c) = line.strip_prefix("# ") {
            if c.starts_with("readelf") {
                section = "build_id";
            } else if c.starts_with("the ELF debug ids") {
                section = "debug_id";
            } else if c.starts_with("llvm-dwarfdump") {
                section = "uuid";
            } else if c.starts_with("sha256") {
                section = "thin";
            }
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        match section {
            "uuid" => {
                // UUID: <uuid> (<arch>) <path>
                let arch = f[2].trim_matches(['(', ')']);
                out.insert(format!("uuid {} {arch}", f[3]), f[1].to_string());
            }
            "thin" => {
                out.insert(format!("thin {} {}", f[0], f[1]), f[2].to_string());
            }
            s => {
                out.insert(format!("{s} {}", f[0]), f[1].to_string());
            }
        }
    }
    out
}

fn rel(p: &Path) -> String {
    p.strip_prefix(root().canonicalize().unwrap())
        .or_else(|_| p.strip_prefix(root()))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn elf_refs_are_the_build_ids_as_posthog_cli_derives_them() {
    let refs = refs();
    let d = discover(&root().join("elf")).unwrap();
    let found: BTreeMap<String, String> = d
        .slices
        .iter()
        .map(|s| (rel(&s.path), s.debug_id.clone()))
        .collect();
    let want: BTreeMap<String, String> = ["elf/hello", "elf/hello-gz", "elf/split/hello-split"]
        .iter()
        .map(|f| (f.to_string(), refs[&format!("debug_id {f}")].clone()))
        .collect();
    assert_eq!(found, want);
    for s in &d.slices {
        assert_eq!(s.format, Format::Elf);
        assert_eq!(s.arch, "x86_64");
        assert_eq!(
            s.code_id,
            refs[&format!("build_id {}", rel(&s.path))],
            "{}",
            s.path.display()
        );
        assert_eq!((s.offset, s.len), (0, std::fs::metadata(&s.path).unwrap().len()));
    }
}

#[test]
fn every_elf_reason_comes_from_a_real_file() {
    let d = discover(&root().join("elf")).unwrap();
    let got: BTreeMap<String, &'static str> = d
        .skipped
        .iter()
        .map(|s| (rel(&s.path), s.reason.code()))
        .collect();
    let want: BTreeMap<String, &'static str> = [
        ("elf/hello-nobuildid", "no_build_id"),
        // objcopy --only-keep-debug keeps the build id: the binary carries as much DWARF and is larger
        ("elf/hello.debug", "duplicate_debug_id"),
        ("elf/split/hello-split.dwp", "split_dwarf"),
        ("elf/split/util.dwo", "split_dwarf"),
    ]
    .iter()
    .map(|(p, c)| (p.to_string(), *c))
    .collect();
    assert_eq!(got, want);
    // hello-stripped has no debug info, but its debug id is uploaded from elf/hello: nothing to
    // do, not a warning to upload the companion (s9 tester, finding 20); alone it is
    // no_debug_info (symship-cli's nothing_to_upload_exits_as_for_javascript)
    let covered: Vec<(String, String)> = d.covered.iter().map(|c| (rel(&c.path), rel(&c.kept))).collect();
    assert_eq!(
        covered,
        [("elf/hello-stripped".to_string(), "elf/hello".to_string())]
    );
    let dup = d
        .skipped
        .iter()
        .find(|s| s.reason.code() == "duplicate_debug_id")
        .unwrap();
    assert!(
        matches!(&dup.reason, Reason::Duplicate { kept, .. } if kept.ends_with("elf/hello")),
        "{dup:?}"
    );
}

#[test]
fn mach_o_refs_are_the_lc_uuids_per_slice_upper_case() {
    let refs = refs();
    let d = discover(&root().join("macho")).unwrap();
    let names: Vec<String> = d.bundles.iter().map(|b| b.name()).collect();
    assert_eq!(names, ["hello-fat.dSYM", "thin-arm64.dSYM"]);
    let mut n = 0;
    for b in &d.bundles {
        assert!(b.skipped.is_empty(), "{:?}", b.skipped);
        for s in &b.slices {
            assert_eq!(s.format, Format::MachO);
            let key = format!("uuid {} {}", rel(&s.path), s.arch);
            assert_eq!(s.debug_id, refs[&key], "{key}");
            n += 1;
        }
    }
    assert_eq!(n, 3, "two fat slices and one thin file");
    let fat = &d.bundles[0].slices;
    assert_eq!(
        fat.iter().map(|s| s.arch.as_str()).collect::<Vec<_>>(),
        ["x86_64", "arm64"]
    );
    assert!(
        fat.iter().all(|s| s.offset > 0),
        "fat slices start after the fat header"
    );
    // the thin dSYM is one whole file
    let thin = &d.bundles[1].slices[0];
    assert_eq!(
        (thin.offset, thin.len),
        (0, std::fs::metadata(&thin.path).unwrap().len())
    );
}

#[test]
fn every_mach_o_reason_comes_from_a_real_file() {
    let d = discover(&root().join("macho")).unwrap();
    assert!(
        d.slices.is_empty(),
        "linked Mach-O executables carry no DWARF: {:?}",
        d.slices
    );
    let got: Vec<(String, Option<String>, &'static str)> = d
        .skipped
        .iter()
        .map(|s| (rel(&s.path), s.arch.clone(), s.reason.code()))
        .collect();
    let want = [
        ("macho/go-nouuid-arm64", None, "no_uuid"),
        ("macho/go-zdebug-arm64", None, "compressed_dwarf"),
    ];
    let want: Vec<(String, Option<String>, &'static str)> = want
        .iter()
        .map(|(p, a, c)| (p.to_string(), a.map(str::to_string), *c))
        .collect();
    assert_eq!(got, want);
    // the linked executables have no DWARF, but each slice's LC_UUID is uploaded from its dSYM:
    // nothing to do, not a warning to upload the dSYM (s11 tester, D9)
    let refs = refs();
    let covered: Vec<(String, Option<String>, String, String)> = d
        .covered
        .iter()
        .map(|c| {
            assert_eq!(c.reason, Reason::NoDebugInfo, "{c:?}");
            (rel(&c.path), c.arch.clone(), c.debug_id.clone(), rel(&c.kept))
        })
        .collect();
    let fat_dwarf = "macho/hello-fat.dSYM/Contents/Resources/DWARF/hello-fat";
    let want: Vec<(String, Option<String>, String, String)> = [
        ("macho/hello-fat", Some("x86_64"), fat_dwarf),
        ("macho/hello-fat", Some("arm64"), fat_dwarf),
        (
            "macho/thin-arm64",
            None,
            "macho/thin-arm64.dSYM/Contents/Resources/DWARF/thin-arm64",
        ),
    ]
    .iter()
    .map(|(p, a, k)| {
        let arch = a.unwrap_or("arm64");
        (
            p.to_string(),
            a.map(str::to_string),
            refs[&format!("uuid {p} {arch}")].clone(),
            k.to_string(),
        )
    })
    .collect();
    assert_eq!(covered, want);
}

#[test]
fn the_zip_holds_the_slice_lipo_thins_out_as_dwarf() {
    let refs = refs();
    let b = symship_native::discover::bundle(&root().join("macho/hello-fat.dSYM"));
    for s in &b.slices {
        let mut z = package::zip_slice(s, &[]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let files = package::unzip_into(z.reader().unwrap(), dir.path()).unwrap();
        assert_eq!(files, [dir.path().join("dwarf")]);
        let dwarf = std::fs::read(&files[0]).unwrap();
        let sha = hex(&sha2::Sha256::digest(&dwarf));
        assert_eq!(
            sha,
            refs[&format!("thin {} {}", rel(&s.path), s.arch)],
            "{}",
            s.arch
        );
        assert_eq!(z.digest, <[u8; 32]>::from(sha2::Sha256::digest(&dwarf)));
        // the extracted slice is itself a thin Mach-O with the same UUID
        let again = symship_native::inspect(&files[0]);
        assert!(
            matches!(&again[..], [symship_native::Finding::Slice(t)] if t.debug_id == s.debug_id && t.offset == 0),
            "{again:?}"
        );
    }
}

#[test]
fn the_same_input_gives_the_same_zip() {
    let d = discover(&root().join("elf")).unwrap();
    let s = &d.slices[0];
    let read = |mut z: package::Zipped| {
        let mut v = Vec::new();
        std::io::Read::read_to_end(z.reader().unwrap(), &mut v).unwrap();
        v
    };
    let a = read(package::zip_slice(s, &[]).unwrap());
    let b = read(package::zip_slice(s, &[]).unwrap());
    assert_eq!(a, b);
    assert_eq!(&a[..4], b"PK\x03\x04");
}

#[test]
fn unzip_drops_path_components_that_leave_the_directory() {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut buf);
        let o = zip::write::SimpleFileOptions::default();
        for name in ["../../evil", "/abs/x", "__source/./a.c", "dwarf"] {
            w.start_file(name, o).unwrap();
            std::io::Write::write_all(&mut w, name.as_bytes()).unwrap();
        }
        w.finish().unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    buf.set_position(0);
    let files = package::unzip_into(buf, &dir.path().join("out")).unwrap();
    let rels: Vec<String> = files
        .iter()
        .map(|f| f.strip_prefix(dir.path()).unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(rels, ["out/evil", "out/abs/x", "out/__source/a.c", "out/dwarf"]);
}

fn hex(b: &[u8]) -> String {
    symship_native::id::hex(b)
}

/// The zip entries (name, bytes) of a payload zip.
fn entries(mut zip: zip::ZipArchive<impl std::io::Read + std::io::Seek>) -> Vec<(String, Vec<u8>)> {
    (0..zip.len())
        .map(|i| {
            let mut e = zip.by_index(i).unwrap();
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut v).unwrap();
            (e.name().to_string(), v)
        })
        .collect()
}

#[test]
fn zips_hold_what_posthog_cli_sends() {
    // fixtures/native/posthog-cli-0.19.0/<scenario>/payloads/<ref>.bin: the zips posthog-cli
    // 0.19.0 uploaded (record-reference.sh), one per ref it sent.
    let recorded = root().join("posthog-cli-0.19.0");
    let elf = discover(&root().join("elf")).unwrap().slices;
    let dsyms: Vec<_> = discover(&root().join("macho"))
        .unwrap()
        .bundles
        .into_iter()
        .flat_map(|b| b.slices)
        .collect();
    for (scenario, ours) in [("elf", &elf), ("dsym", &dsyms), ("macho-symbol-sets", &dsyms)] {
        let dir = recorded.join(scenario).join("payloads");
        let mut refs: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .trim_end_matches(".bin")
                    .to_string()
            })
            .collect();
        refs.sort();
        let mut mine: Vec<String> = ours.iter().map(|s| s.debug_id.clone()).collect();
        mine.sort();
        assert_eq!(mine, refs, "{scenario}: the refs posthog-cli sent");
        for s in ours.iter() {
            let theirs = entries(
                zip::ZipArchive::new(std::fs::File::open(dir.join(format!("{}.bin", s.debug_id))).unwrap())
                    .unwrap(),
            );
            let mut z = package::zip_slice(s, &[]).unwrap();
            let ours = entries(zip::ZipArchive::new(z.reader().unwrap()).unwrap());
            assert!(
                ours == theirs,
                "{scenario} {}: zip entries differ from posthog-cli's",
                s.debug_id
            );
        }
    }
}

#[test]
fn posthog_cli_payloads_verify_and_wrong_ones_do_not() {
    let recorded = root().join("posthog-cli-0.19.0");
    for (scenario, format) in [("elf", Format::Elf), ("dsym", Format::MachO)] {
        for e in std::fs::read_dir(recorded.join(scenario).join("payloads")).unwrap() {
            let p = e.unwrap().path();
            let r = p.file_stem().unwrap().to_string_lossy().into_owned();
            let zip = std::fs::read(&p).unwrap();
            assert_eq!(
                package::verify_payload(&zip, format, &r),
                Ok(()),
                "{}",
                p.display()
            );
            let other = if format == Format::Elf {
                Format::MachO
            } else {
                Format::Elf
            };
            assert!(package::verify_payload(&zip, other, &r).is_err());
            let wrong =
                package::verify_payload(&zip, format, "00000000-0000-0000-0000-000000000000").unwrap_err();
            assert!(wrong.contains(&r), "{wrong}");
        }
    }
    // a whole fat DWARF file as `dwarf` is not one slice; a file without debug info says so
    let zip_of = |path: &Path| {
        let mut buf = std::io::Cursor::new(Vec::new());
        let mut w = zip::ZipWriter::new(&mut buf);
        w.start_file("dwarf", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut w, &std::fs::read(path).unwrap()).unwrap();
        w.finish().unwrap();
        buf.into_inner()
    };
    let fat = zip_of(&root().join("macho/hello-fat.dSYM/Contents/Resources/DWARF/hello-fat"));
    let e = package::verify_payload(&fat, Format::MachO, "4C4C44D0-5555-3144-A1A6-90248F0DD418").unwrap_err();
    assert!(e.contains("not one slice"), "{e}");
    let stripped = zip_of(&root().join("elf/hello-stripped"));
    let e =
        package::verify_payload(&stripped, Format::Elf, "f734873c-9dcd-04d1-273a-d1a45db9639b").unwrap_err();
    assert!(e.contains("no debug info"), "{e}");
}

#[test]
fn a_dsym_slice_wins_over_its_executable_when_listed_first() {
    // Both hello-fat.dSYM and the loose ELF hello share no ids; make two lists of one id.
    let d = discover(&root().join("elf")).unwrap();
    let hello = d
        .slices
        .iter()
        .find(|s| s.path.ends_with("elf/hello"))
        .unwrap()
        .clone();
    let mut companion = hello.clone();
    companion.path = root().join("elf/hello.debug");
    let (kept, dupes) = symship_native::discover::dedupe_keep_first(vec![companion.clone(), hello.clone()]);
    assert_eq!(kept, vec![companion.clone()]);
    assert_eq!(dupes.len(), 1);
    assert_eq!(dupes[0].path, hello.path);
    assert!(matches!(&dupes[0].reason, Reason::Duplicate { kept, .. } if kept == &companion.path));
}

/// `objcopy <args> fixtures/native/elf/hello <dir>/<name>` (binutils 2.40, fixtures/native/tools.sh).
fn objcopy(args: &[&str], dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(name);
    let r = std::process::Command::new("objcopy")
        .args(args)
        .arg(root().join("elf/hello"))
        .arg(&out)
        .output()
        .expect("objcopy is needed (binutils; fixtures/native/tools.sh)");
    assert!(
        r.status.success(),
        "objcopy {args:?}: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    out
}

#[test]
fn zstd_compressed_elf_dwarf_is_skipped_and_its_zlib_twin_uploaded() {
    // objcopy --compress-debug-sections=zstd writes SHF_COMPRESSED sections with ch_type 2, which
    // symbolic (PostHog's reader) cannot decompress: it was uploaded as if readable, and preferred
    // over its zlib twin (s9 tester, finding 13)
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().canonicalize().unwrap();
    let zstd = objcopy(&["--compress-debug-sections=zstd"], &dir, "hello-zstd");
    let zlib = objcopy(&["--compress-debug-sections=zlib-gabi"], &dir, "hello-zlib");
    let bytes = std::fs::read(&zstd).unwrap();
    let elf = object::read::elf::ElfFile64::<object::Endianness>::parse(&*bytes).unwrap();
    let info = object::Object::section_by_name(&elf, ".debug_info").unwrap();
    assert_eq!(
        object::ObjectSection::compressed_data(&info).unwrap().format,
        object::CompressionFormat::Zstandard,
        "objcopy wrote no zstd section"
    );
    match &symship_native::inspect(&zstd)[..] {
        [symship_native::Finding::Skipped { reason, .. }] => {
            assert_eq!(reason.code(), "compressed_dwarf");
            let text = reason.to_string();
            assert!(
                text.contains("zstd") && text.contains("objcopy --decompress-debug-sections"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    // the two in one directory: the zlib one is uploaded, under the debug id they share
    let d = discover(&dir).unwrap();
    let refs = refs();
    assert_eq!(d.slices.len(), 1, "{:?}", d.slices);
    assert_eq!(d.slices[0].path, zlib);
    assert_eq!(d.slices[0].debug_id, refs["debug_id elf/hello"]);
    // and the zstd one is not a skip: its debug id is uploaded from its twin (s11 tester, D9)
    assert_eq!(d.skipped, [], "{:?}", d.skipped);
    assert_eq!(d.covered.len(), 1, "{:?}", d.covered);
    assert_eq!(
        (&d.covered[0].path, &d.covered[0].kept, &d.covered[0].reason),
        (&zstd, &zlib, &Reason::ZstdDwarf)
    );
    assert_eq!(d.covered[0].debug_id, refs["debug_id elf/hello"]);
}
