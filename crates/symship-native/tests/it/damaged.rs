//! Damaged inputs (issue 17, defects 3 and 7): truncated or corrupt objects are `unparseable` and
//! never uploaded; a dSYM whose DWARF directory holds nothing usable is reported, not silent.

use std::path::{Path, PathBuf};

use symship_native::discover::{self, Bundle};
use symship_native::{Finding, Reason};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/native")
}

/// The first `n` bytes of the fixture `rel`, written to `to`.
fn head(rel: &str, n: usize, to: &Path) {
    let bytes = std::fs::read(root().join(rel)).unwrap();
    assert!(bytes.len() > n, "{rel} has {} bytes", bytes.len());
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::write(to, &bytes[..n]).unwrap();
}

fn codes(b: &Bundle) -> Vec<(String, &'static str)> {
    b.skipped
        .iter()
        .map(|s| {
            (
                s.path.file_name().unwrap().to_string_lossy().into_owned(),
                s.reason.code(),
            )
        })
        .collect()
}

const THIN_DWARF: &str = "macho/thin-arm64.dSYM/Contents/Resources/DWARF/thin-arm64";

#[test]
fn a_truncated_mach_o_is_unparseable_not_uploaded() {
    // 5000 bytes keep the header and load commands but cut every __debug_* section (they start
    // at 8192), as `head -c 5000` did in the tester's report
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("macho-trunc");
    head(THIN_DWARF, 5000, &cut);
    let found = symship_native::inspect(&cut);
    match found.as_slice() {
        [Finding::Skipped {
            reason: Reason::Unparseable(why),
            ..
        }] => assert!(why.contains("__debug_") && why.contains("5000 bytes"), "{why}"),
        other => panic!("a truncated Mach-O was not refused: {other:?}"),
    }
    let d = discover::discover(dir.path()).unwrap();
    assert!(d.slices.is_empty(), "{:?}", d.slices);
    assert_eq!(d.skipped.len(), 1);
    assert_eq!(d.skipped[0].reason.code(), "unparseable");

    // the same inside a dSYM bundle
    let b = dir.path().join("T.dSYM/Contents/Resources/DWARF/T");
    head(THIN_DWARF, 5000, &b);
    let bundles = discover::find_dsyms(dir.path()).unwrap().bundles;
    assert_eq!(bundles.len(), 1);
    assert!(bundles[0].slices.is_empty());
    assert_eq!(codes(&bundles[0]), [("T".to_string(), "unparseable")]);
}

#[test]
fn a_truncated_elf_is_unparseable_not_uploaded() {
    let dir = tempfile::tempdir().unwrap();
    let len = std::fs::metadata(root().join("elf/hello")).unwrap().len() as usize;
    let cut = dir.path().join("elf-trunc");
    head("elf/hello", len / 2, &cut);
    let d = discover::discover(dir.path()).unwrap();
    assert!(d.slices.is_empty(), "{:?}", d.slices);
    let got: Vec<&str> = d.skipped.iter().map(|s| s.reason.code()).collect();
    assert_eq!(got, ["unparseable"]);
}

#[test]
fn a_dsym_whose_dwarf_file_is_not_an_object_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let dwarf = dir.path().join("G.dSYM/Contents/Resources/DWARF");
    std::fs::create_dir_all(&dwarf).unwrap();
    std::fs::write(dwarf.join("G"), b"garbage\n").unwrap();
    let bundles = discover::find_dsyms(dir.path()).unwrap().bundles;
    assert_eq!(bundles.len(), 1);
    assert!(bundles[0].slices.is_empty());
    assert_eq!(codes(&bundles[0]), [("G".to_string(), "unparseable")]);
    assert!(
        bundles[0].skipped[0]
            .reason
            .to_string()
            .contains("not an object file"),
        "{}",
        bundles[0].skipped[0].reason
    );
    // symbol-sets upload sees it too
    let d = discover::discover(dir.path()).unwrap();
    assert_eq!(d.bundles[0].skipped.len(), 1);
}

#[test]
fn a_dsym_with_an_empty_dwarf_directory_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("E.dSYM/Contents/Resources/DWARF")).unwrap();
    let bundles = discover::find_dsyms(dir.path()).unwrap().bundles;
    assert_eq!(bundles.len(), 1);
    assert_eq!(codes(&bundles[0]), [("DWARF".to_string(), "no_debug_info")]);
}

#[test]
fn a_symlink_loop_is_symlink_loop_not_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::copy(root().join("elf/hello"), sub.join("hello")).unwrap();
    std::os::unix::fs::symlink("..", sub.join("up")).unwrap();
    let d = discover::discover(dir.path()).unwrap();
    assert_eq!(d.slices.len(), 1, "{:?}", d.slices);
    let got: Vec<(String, &str)> = d
        .skipped
        .iter()
        .map(|s| {
            (
                s.path.file_name().unwrap().to_string_lossy().into_owned(),
                s.reason.code(),
            )
        })
        .collect();
    assert_eq!(got, [("up".to_string(), "symlink_loop")]);
}
