//! `symship symbol-sets extract FILE -o DIR`, offline: every container kind into the files
//! posthog-cli 0.19.0's `extract` writes (`kinds-and-explain.md` §3.6); the native payloads are
//! the zips posthog-cli uploaded for `fixtures/native` (`posthog-cli-0.19.0/<scenario>/payloads`).

use std::path::Path;

use posthog_symbol_data::{
    write_symbol_data, AppleDsym, ElfDebugInfo, HermesMap, ProguardMapping, SourceAndMap,
};
use symship_test_support::*;

fn extract(file: &Path, out: &Path) -> std::process::Output {
    symship()
        .args(["symbol-sets", "extract"])
        .arg(file)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap()
}

fn native_payload(scenario: &str, reference: &str) -> Vec<u8> {
    std::fs::read(repo_root().join(format!(
        "fixtures/native/posthog-cli-0.19.0/{scenario}/payloads/{reference}.bin"
    )))
    .unwrap()
}

#[test]
fn native_containers_unpack_into_a_directory_of_the_zip_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let dsym_ref = "4C4C44D0-5555-3144-A1A6-90248F0DD418";
    let elf_ref = "f734873c-9dcd-04d1-273a-d1a45db9639b";
    let dsym = write_symbol_data(AppleDsym {
        data: native_payload("dsym", dsym_ref),
    })
    .unwrap();
    let elf = write_symbol_data(ElfDebugInfo {
        data: native_payload("elf", elf_ref),
    })
    .unwrap();
    // posthog-cli's base names: the file name with .dSYM stripped (and nothing for a bare id)
    let f1 = tmp.path().join(format!("{dsym_ref}.dSYM"));
    let f2 = tmp.path().join(elf_ref);
    std::fs::write(&f1, dsym).unwrap();
    std::fs::write(&f2, elf).unwrap();
    let out = tmp.path().join("out");
    for f in [&f1, &f2] {
        let o = extract(f, &out);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    // the dwarf of the fat dSYM's arm64 slice, as lipo -thin writes it; the ELF file itself
    let thin = std::fs::read(out.join(dsym_ref).join("dwarf")).unwrap();
    let refs = std::fs::read_to_string(repo_root().join("fixtures/native/refs.txt")).unwrap();
    let want = refs
        .lines()
        .find(|l| l.starts_with("macho/hello-fat.dSYM/Contents/Resources/DWARF/hello-fat arm64 "))
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap();
    assert_eq!(symship_native::id::hex(&sha256(&thin)), want);
    assert_eq!(
        std::fs::read(out.join(elf_ref).join("dwarf")).unwrap(),
        std::fs::read(repo_root().join("fixtures/native/elf/hello")).unwrap()
    );
    assert_eq!(
        files(&out).len(),
        2,
        "only the two dwarf files: {:?}",
        files(&out)
    );
    for f in files(&out) {
        assert_created_mode(&out.join(f));
    }
}

fn sha256(b: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(b).to_vec()
}

#[test]
fn text_kinds_unpack_as_posthog_cli_names_them() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    // (file name, container, files written with their text)
    type Case = (&'static str, Vec<u8>, Vec<(&'static str, &'static str)>);
    let cases: Vec<Case> = vec![
        (
            "chunk.js.map",
            write_symbol_data(SourceAndMap {
                minified_source: "a()".into(),
                sourcemap: "{\"version\":3}".into(),
            })
            .unwrap(),
            vec![("chunk.js", "a()"), ("chunk.js.map", "{\"version\":3}")],
        ),
        (
            "bundle.hbc.map",
            write_symbol_data(HermesMap {
                sourcemap: "{\"x_hermes_function_offsets\":{}}".into(),
            })
            .unwrap(),
            vec![("bundle.hbc.map", "{\"x_hermes_function_offsets\":{}}")],
        ),
        (
            "mapping.txt",
            write_symbol_data(ProguardMapping {
                content: "a.B -> c:\n".into(),
            })
            .unwrap(),
            vec![("mapping.txt", "a.B -> c:\n")],
        ),
    ];
    for (name, container, want) in cases {
        let f = tmp.path().join(name);
        std::fs::write(&f, container).unwrap();
        let o = extract(&f, &out);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        for (file, text) in want {
            assert_eq!(
                std::fs::read_to_string(out.join(file)).unwrap(),
                text,
                "{name}: {file}"
            );
            assert_created_mode(&out.join(file));
        }
    }
}

#[test]
fn what_is_not_a_container_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("x.bin");
    std::fs::write(&f, b"hello").unwrap();
    let o = extract(&f, &tmp.path().join("out"));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not a PostHog symbol-set container"),
        "{}",
        stderr(&o)
    );
    let mut unknown = b"posthog_error_tracking".to_vec();
    unknown.extend_from_slice(&2u32.to_le_bytes());
    unknown.extend_from_slice(&9u32.to_le_bytes());
    unknown.push(0);
    std::fs::write(&f, unknown).unwrap();
    let o = extract(&f, &tmp.path().join("out"));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("Unknown symbol data type: 9"),
        "{}",
        stderr(&o)
    );
    assert!(!tmp.path().join("out").exists(), "nothing written");
}
