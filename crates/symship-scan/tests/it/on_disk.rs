//! What inject says its pairs' files hold afterwards (`PairResult::on_disk`, handed to
//! `process`'s upload in place of reading the files again) is what the upload would read:
//! the digests `hash::read_pair` gives, after every kind of write inject makes.

use std::fs;
use std::path::Path;
use std::sync::Mutex;

use symship_core::set::digest;
use symship_scan::{inject_each, InjectOptions, OnDisk, Outcome, PairResult, ReleaseMode};

fn run(dir: &Path, opts: &InjectOptions) -> Vec<PairResult> {
    let out = Mutex::new(Vec::new());
    inject_each(&crate::pairs_in(dir), opts, &|_, r| out.lock().unwrap().push(r));
    out.into_inner().unwrap()
}

/// What the upload reads of `r`'s pair now.
fn read_now(r: &PairResult) -> OnDisk {
    let (source, map) = symship_scan::hash::read_pair(&r.pair).unwrap();
    OnDisk {
        source: digest(source.as_bytes()),
        source_len: source.len() as u64,
        map: digest(&map),
        map_len: map.len() as u64,
    }
}

fn assert_on_disk(rs: &[PairResult], expect: fn(&Outcome) -> bool) {
    assert!(!rs.is_empty());
    for r in rs {
        let outcome = r
            .result
            .as_ref()
            .unwrap_or_else(|e| panic!("{}: {e}", r.pair.source.display()));
        assert!(expect(outcome), "{}: {outcome:?}", r.pair.source.display());
        assert_eq!(
            r.on_disk,
            Some(read_now(r)),
            "{} ({outcome:?}): inject's digests are not the files'",
            r.pair.source.display()
        );
    }
}

const MAP: &str = r#"{"version":3,"sources":["s.ts"],"names":[],"mappings":"AAAA;AACA"}"#;

/// A build with every way a pair's map can be stored: its own file, one with the `)]}'` guard
/// (inject keeps it when it leaves the file alone), inline, and a file two copies share.
fn build(dir: &Path) {
    use base64::Engine as _;
    fs::write(dir.join("a.js"), "a();\nb();\n//# sourceMappingURL=a.js.map\n").unwrap();
    fs::write(dir.join("a.js.map"), MAP).unwrap();
    fs::write(dir.join("g.js"), "g();\nh();\n//# sourceMappingURL=g.js.map\n").unwrap();
    fs::write(dir.join("g.js.map"), format!(")]}}'\n{MAP}")).unwrap();
    let data = base64::engine::general_purpose::STANDARD.encode(MAP);
    fs::write(
        dir.join("i.js"),
        format!("i();\nj();\n//# sourceMappingURL=data:application/json;base64,{data}\n"),
    )
    .unwrap();
}

#[test]
fn event_mode_first_stamp_unchanged_re_run_and_a_release_restamp_of_another_length() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let opts = InjectOptions {
        on_disk: true,
        ..Default::default()
    };
    assert_on_disk(&run(dir.path(), &opts), |o| matches!(o, Outcome::Injected { .. }));
    // The guard again, as a tool that writes it might put it back: nothing to change, and the
    // file, guard and all, is what the upload reads.
    let guarded = dir.path().join("g.js.map");
    let stamped = fs::read_to_string(&guarded).unwrap();
    fs::write(&guarded, format!(")]}}'\n{stamped}")).unwrap();
    assert_on_disk(&run(dir.path(), &opts), |o| {
        matches!(o, Outcome::Unchanged { .. })
    });
    // A release makes the snippet longer: the map is written, then the chunk, then the map
    // again without its pending mark.
    let restamp = InjectOptions {
        release_id: Some("0191e2a8-3c6f-7cc2-8b1e-6f2a4d5c9e01".into()),
        ..opts.clone()
    };
    assert_on_disk(&run(dir.path(), &restamp), |o| {
        matches!(o, Outcome::Updated { .. })
    });
    assert_on_disk(&run(dir.path(), &restamp), |o| {
        matches!(o, Outcome::Unchanged { .. })
    });
}

#[test]
fn symbol_set_mode_and_a_map_two_copies_share() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    for name in ["c", "d"] {
        fs::write(
            dir.path().join(format!("{name}.js")),
            "f();\n//# sourceMappingURL=shared.map\n",
        )
        .unwrap();
    }
    fs::write(dir.path().join("shared.map"), MAP).unwrap();
    let opts = InjectOptions {
        mode: ReleaseMode::SymbolSet,
        release_id: Some("0191e2a8-3c6f-7cc2-8b1e-6f2a4d5c9e01".into()),
        on_disk: true,
        ..Default::default()
    };
    let first = run(dir.path(), &opts);
    assert_eq!(first.len(), 5);
    assert_on_disk(&first, |o| matches!(o, Outcome::Injected { .. }));
    assert_on_disk(&run(dir.path(), &opts), |o| {
        matches!(o, Outcome::Unchanged { .. })
    });
}

#[test]
fn no_digests_in_a_dry_run_or_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let dry = InjectOptions {
        on_disk: true,
        dry_run: true,
        ..Default::default()
    };
    let rs = run(dir.path(), &dry);
    assert_eq!(rs.len(), 3);
    assert!(
        rs.iter().all(|r| r.result.is_ok() && r.on_disk.is_none()),
        "{rs:?}"
    );
    let rs = run(dir.path(), &InjectOptions::default());
    assert!(
        rs.iter().all(|r| r.result.is_ok() && r.on_disk.is_none()),
        "{rs:?}"
    );
}
