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

/// The inject ledger answers for a pair left as recorded without reading it, and for nothing
/// else: a chunk whose content changed while its size and mtime were kept (a tool that restores
/// timestamps) is read again, and so is a map written again with the same bytes.
#[test]
fn the_ledger_answers_only_for_files_left_as_recorded() {
    use std::sync::Arc;
    use symship_scan::ledger::Ledger;
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let file = cache.path().join("ledger.json");
    build(dir.path());
    let opts = |ledger: &Arc<Ledger>| InjectOptions {
        on_disk: true,
        ledger: Some(ledger.clone()),
        ..Default::default()
    };
    let first = Arc::new(Ledger::load_in_background(&file));
    assert_on_disk(&run(dir.path(), &opts(&first)), |o| {
        matches!(o, Outcome::Injected { .. })
    });
    assert_eq!(first.hits(), 0);
    first.save().unwrap();

    // a.js and g.js have maps of their own; i.js's is inline (never in the ledger)
    let again = Arc::new(Ledger::load_in_background(&file));
    assert_eq!(again.len(), 2, "one entry per chunk with a map file of its own");
    assert_on_disk(&run(dir.path(), &opts(&again)), |o| {
        matches!(o, Outcome::Unchanged { .. })
    });
    assert_eq!(again.hits(), 2, "both pairs answered from their stamps");
    assert!(!again.changed(), "nothing new to save");

    // The chunk's code changes, same length, and its mtime is put back: read again (ctime).
    let chunk = dir.path().join("a.js");
    let mtime = fs::metadata(&chunk).unwrap().modified().unwrap();
    let text = fs::read_to_string(&chunk).unwrap().replace("b();", "c();");
    fs::write(&chunk, &text).unwrap();
    fs::File::options()
        .write(true)
        .open(&chunk)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    // and the map is written again with its own bytes (a bundler's second emit)
    let map = dir.path().join("g.js.map");
    let bytes = fs::read(&map).unwrap();
    fs::write(&map, bytes).unwrap();
    let third = Arc::new(Ledger::load_in_background(&file));
    let rs = run(dir.path(), &opts(&third));
    assert_on_disk(&rs, |o| matches!(o, Outcome::Unchanged { .. }));
    assert_eq!(third.hits(), 0, "neither pair is as recorded");
    let a = rs.iter().find(|r| r.pair.source.ends_with("a.js")).unwrap();
    assert_eq!(
        a.on_disk.unwrap().source,
        digest(text.as_bytes()),
        "the new code's digest"
    );

    // Another release: the entries do not hold for it.
    let release = InjectOptions {
        release_id: Some("0191e2a8-3c6f-7cc2-8b1e-6f2a4d5c9e01".into()),
        ..opts(&third)
    };
    third.save().unwrap();
    let fourth = Arc::new(Ledger::load_in_background(&file));
    let restamped = run(
        dir.path(),
        &InjectOptions {
            ledger: Some(fourth.clone()),
            ..release
        },
    );
    assert_on_disk(&restamped, |o| matches!(o, Outcome::Updated { .. }));
    assert_eq!(fourth.hits(), 0);
}
