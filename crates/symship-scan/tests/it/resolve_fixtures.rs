//! `resolve` against a known-good reference (issue 19): for every mapped token of every map under
//! `fixtures/` (bundler output, posthog-cli's golden output, Hermes maps, the cases), and for
//! generated positions between tokens, [`Lookup::resolve_frame`] gives what the `sourcemap`
//! crate's own `lookup_token` gives under cymbal's conventions (kinds-and-explain.md §4.4):
//! the frame's `lineno` is 1-based and its `colno` is used as the 0-based column; a token on an
//! earlier line, or one mapping nowhere, is no result; and a token whose original location
//! repeats its predecessor's is not in cymbal's index, so its run's first token answers for it.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use sourcemap::{DecodedMap, SourceMap};
use symship_scan::resolve::Lookup;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn maps() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(fixtures())
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "map"))
        .map(|e| e.into_path())
        .collect();
    out.sort();
    out
}

/// The reference map, read by the `sourcemap` crate alone (index maps flattened, as cymbal's cache
/// writer does).
fn reference(bytes: &[u8]) -> Option<SourceMap> {
    match sourcemap::decode_slice(bytes).ok()? {
        DecodedMap::Regular(sm) => Some(sm),
        DecodedMap::Index(smi) => smi.flatten().ok(),
        DecodedMap::Hermes(smh) => Some((*smh).clone()),
    }
}

type Expected = Option<(Option<String>, u32, u32, Option<String>)>;

/// `lookup_token` at the 0-based (line, col) cymbal probes, under cymbal's rules.
fn expected(sm: &SourceMap, line: u32, col: u32) -> Expected {
    let t = sm.lookup_token(line, col)?;
    let key = |t: &sourcemap::Token| {
        let src = if t.get_src_id() < sm.get_source_count() {
            t.get_src_id()
        } else {
            u32::MAX
        };
        (src, t.get_src_line(), t.get_src_col(), t.get_name_id())
    };
    let n = sm.get_token_count() as usize;
    let dst = |i: usize| sm.get_token(i).expect("token").get_dst();
    // The index of the first token at or after `pos` in the sorted token list.
    let start_of = |pos: (u32, u32)| {
        let (mut lo, mut hi) = (0usize, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if dst(mid) < pos {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    };
    let is_dup = |i: usize| {
        i > 0 && key(&sm.get_token(i - 1).expect("token")) == key(&sm.get_token(i).expect("token"))
    };
    let run_start = |mut i: usize| {
        while is_dup(i) {
            i -= 1;
        }
        i
    };
    // cymbal's index keeps a token unless it repeats its predecessor's original location.
    let i = if t.get_dst() == (line, col) {
        // an exact hit: the first kept token at this position, else the run its first token ends
        let lo = start_of(t.get_dst());
        (lo..n)
            .take_while(|&i| dst(i) == t.get_dst())
            .find(|&i| !is_dup(i))
            .unwrap_or_else(|| run_start(lo))
    } else {
        // between positions: the last token before, or the run it ends
        run_start(start_of((line, col + 1)).max(1) - 1)
    };
    let first = sm.get_token(i).expect("token");
    if first.get_dst_line() < line {
        return None;
    }
    if !first.has_source() && first.get_src_line() == u32::MAX {
        return None;
    }
    Some((
        first.get_source().map(str::to_owned),
        first.get_src_line(),
        first.get_src_col(),
        first.get_name().map(str::to_owned),
    ))
}

fn ours(l: &Lookup, lineno: u32, colno: u32) -> Expected {
    l.resolve_frame(lineno, colno)
        .ok()
        .map(|o| (o.source, o.line, o.column, o.name))
}

#[test]
fn every_mapped_token_of_every_fixture_map() {
    let maps = maps();
    assert!(maps.len() >= 40, "fixture maps found: {}", maps.len());
    let (mut tokens, mut resolved, mut checked_maps) = (0usize, 0usize, 0usize);
    for path in &maps {
        let bytes = std::fs::read(path).unwrap();
        let Some(sm) = reference(&bytes) else {
            // a map the sourcemap crate refuses must be refused by resolve too
            assert!(Lookup::parse(&bytes, "x").is_err(), "{} parses", path.display());
            continue;
        };
        let l = Lookup::parse(&bytes, &path.display().to_string()).unwrap();
        checked_maps += 1;
        for t in sm.tokens() {
            if !t.has_source() {
                continue;
            }
            tokens += 1;
            let (line, col) = t.get_dst();
            let want = expected(&sm, line, col);
            let got = ours(&l, line + 1, col);
            assert_eq!(
                got,
                want,
                "{} token at {}:{} (0-based)",
                path.display(),
                line,
                col
            );
            resolved += usize::from(got.is_some());
        }
    }
    assert!(checked_maps >= 40, "maps checked: {checked_maps}");
    assert!(tokens > 10_000, "tokens checked: {tokens}");
    // Nearly every token answers for its own position; the rest are runs that start on an
    // earlier line (cymbal's index drops them).
    assert!(resolved * 100 >= tokens * 99, "{resolved} of {tokens} resolved");
}

#[test]
fn a_1_based_column_probes_one_to_the_right() {
    // V8 prints 1-based columns and cymbal uses them as 0-based: the column V8 prints for the
    // first character of token `a` is `a + 1`, so where the next token `b` starts right there,
    // the frame resolves to `b`, not to `a` (kinds-and-explain.md §4.4 step 4).
    let mut seen = 0;
    for (path, sm, l) in corpus() {
        let toks: Vec<_> = sm.tokens().filter(|t| t.has_source()).collect();
        for w in toks.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            if a.get_dst_line() == b.get_dst_line() && b.get_dst_col() == a.get_dst_col() + 1 {
                let got = l.resolve_frame(a.get_dst_line() + 1, a.get_dst_col() + 1);
                let want = expected(sm, b.get_dst_line(), b.get_dst_col());
                let got = got.ok().map(|o| (o.source, o.line, o.column, o.name));
                assert_eq!(got, want, "{}", path.display());
                if want
                    .is_some_and(|w| w != expected(sm, a.get_dst_line(), a.get_dst_col()).unwrap_or_default())
                {
                    seen += 1;
                }
            }
        }
    }
    assert!(seen > 10, "positions where the two readings differ: {seen}");
}

/// The maps and their reference readings, read once for the generated cases.
fn corpus() -> &'static Vec<(PathBuf, SourceMap, Lookup)> {
    static C: std::sync::OnceLock<Vec<(PathBuf, SourceMap, Lookup)>> = std::sync::OnceLock::new();
    C.get_or_init(|| {
        maps()
            .into_iter()
            .filter_map(|p| {
                let bytes = std::fs::read(&p).ok()?;
                let sm = reference(&bytes)?;
                let l = Lookup::parse(&bytes, "m").ok()?;
                (sm.get_token_count() > 0).then_some((p, sm, l))
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any position, inside the mapped lines or past them, between tokens or before the first.
    #[test]
    fn any_position(which in any::<prop::sample::Index>(), pick in any::<prop::sample::Index>(),
                    dl in 0u32..3, dc in 0u32..40, before in any::<bool>()) {
        let corpus = corpus();
        let (path, sm, l) = &corpus[which.index(corpus.len())];
        let t = sm.get_token(pick.index(sm.get_token_count() as usize)).unwrap();
        let line = t.get_dst_line() + dl;
        let col = if before { t.get_dst_col().saturating_sub(dc) } else { t.get_dst_col() + dc };
        prop_assert_eq!(ours(l, line + 1, col), expected(sm, line, col), "{} at {}:{}", path.display(), line, col);
    }
}
