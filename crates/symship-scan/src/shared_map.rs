//! One generated file per map: when different chunks reference one map file, the map is paired
//! with the one it describes, and the others are skipped.
//!
//! A sourcemap describes one generated file (ECMA-426: its `file` field names it). posthog-cli
//! 0.19.0 injects every chunk that references the map, each with its own chunk id, writes the
//! map's `chunk_id` once per chunk (the last one stays on disk) and uploads the same map under
//! every id: frames of all but one chunk are then resolved with another file's map, wrongly.
//! Byte-identical copies of one chunk (issue 13 kind 4) are one file: they stay paired, take
//! the same chunk id in event mode, and `--delete-after` strips every reference.
//!
//! The file the map describes is, in this order: the chunk its `file` field names (resolved
//! against the map's folder, else by file name when one chunk alone has that name); the chunk
//! named as the map without `.map` (`app.js` for `app.js.map`). Every chunk that differs from
//! that one (comparing their code without an injected snippet and `//# chunkId=` comment) is
//! skipped with [`SkipReason::MapOfAnotherFile`]; when neither rule names one of the chunks,
//! all of them are, since no one can tell which file the map is for.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::pair::{MapLocation, Pair};
use crate::{chunk, SkipReason, Skipped};

/// Skips, in `pairs`, the chunks that share a map file with a different chunk the map
/// describes (see the module documentation). `read` returns a chunk's text.
pub fn one_file_per_map(
    pairs: &mut Vec<Pair>,
    skipped: &mut Vec<Skipped>,
    read: &mut dyn FnMut(&Path) -> Result<String, SkipReason>,
) {
    // Keyed by reference (a build's pairs are thousands, a shared map rare): a map of owned
    // paths in path order cost a copy of every path and component-wise comparisons, about 5 %
    // of a 10,000-chunk re-run. The shared ones are then taken in path order.
    let mut by_map: HashMap<&Path, Vec<usize>> = HashMap::with_capacity(pairs.len());
    for (i, p) in pairs.iter().enumerate() {
        if let MapLocation::File(m) = &p.map {
            by_map.entry(m.as_path()).or_default().push(i);
        }
    }
    let mut shared: Vec<(PathBuf, Vec<usize>)> = by_map
        .into_iter()
        .filter(|(_, u)| u.len() > 1)
        .map(|(m, u)| (m.to_path_buf(), u))
        .collect();
    shared.sort();
    let mut drop = vec![false; pairs.len()];
    for (map, users) in shared {
        // The code of each chunk, without what an injection added.
        let mut code: Vec<Option<String>> = Vec::with_capacity(users.len());
        for &i in &users {
            code.push(read(&pairs[i].source).ok().map(|t| without_injection(&t)));
        }
        if code.iter().all(|c| c.is_some() && *c == code[0]) {
            continue; // copies of one file
        }
        let paths: Vec<&Path> = users.iter().map(|&i| pairs[i].source.as_path()).collect();
        let owner = described_file(&map, &paths);
        let owner_code = owner.and_then(|o| code[o].clone());
        for (k, &i) in users.iter().enumerate() {
            let same_as_owner = owner_code.is_some() && code[k] == owner_code;
            if !same_as_owner {
                drop[i] = true;
                skipped.push(Skipped {
                    path: pairs[i].source.clone(),
                    reason: SkipReason::MapOfAnotherFile {
                        map: map.clone(),
                        owner: owner.map(|o| paths[o].to_path_buf()),
                    },
                });
            }
        }
    }
    let mut k = 0;
    pairs.retain(|_| {
        k += 1;
        !drop[k - 1]
    });
}

/// The chunk's text without an injected snippet and `//# chunkId=` comment.
fn without_injection(text: &str) -> String {
    let Some(e) = chunk::existing(text) else {
        return text.to_owned();
    };
    let mut cut: Vec<std::ops::Range<usize>> =
        e.snippet.map(|s| s.span).into_iter().chain(e.comment).collect();
    cut.sort_by_key(|r| std::cmp::Reverse(r.start));
    let mut t = text.to_owned();
    for r in cut {
        t.replace_range(r, "");
    }
    t
}

/// Which of `chunks` (all referencing `map`) the map describes, by its `file` field, then by
/// its name.
fn described_file(map: &Path, chunks: &[&Path]) -> Option<usize> {
    let dir = map.parent().unwrap_or(Path::new(""));
    let same = |a: &Path, b: &Path| match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    if let Some(file) = file_field(map) {
        if let Some(i) = chunks.iter().position(|c| same(c, &dir.join(&file))) {
            return Some(i);
        }
        let name = Path::new(&file).file_name();
        let named: Vec<usize> = (0..chunks.len())
            .filter(|&i| name.is_some() && chunks[i].file_name() == name)
            .collect();
        if let [i] = named[..] {
            return Some(i);
        }
    }
    let stem = map.to_str()?.strip_suffix(".map")?;
    chunks.iter().position(|c| same(c, Path::new(stem)))
}

/// The map's `file` member, when it is a string.
fn file_field(map: &Path) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct File {
        file: Option<String>,
    }
    let bytes = std::fs::read(map).ok()?;
    let body = &bytes[crate::map::preamble_len(&bytes)..];
    serde_json::from_slice::<File>(body)
        .ok()?
        .file
        .filter(|f| !f.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::disallowed_methods)] // test fixtures
    fn pairs_in(dir: &Path, files: &[(&str, &str)], map: (&str, &str)) -> Vec<Pair> {
        std::fs::write(dir.join(map.0), map.1).unwrap();
        files
            .iter()
            .map(|(name, text)| {
                std::fs::write(dir.join(name), text).unwrap();
                Pair::new(
                    dir.join(name),
                    dir.to_path_buf(),
                    MapLocation::File(dir.join(map.0)),
                )
            })
            .collect()
    }

    fn run(mut pairs: Vec<Pair>) -> (Vec<String>, Vec<(String, Option<String>)>) {
        let mut skipped = Vec::new();
        one_file_per_map(&mut pairs, &mut skipped, &mut |p| crate::read_source(p));
        let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
        (
            pairs.iter().map(|p| name(&p.source)).collect(),
            skipped
                .iter()
                .map(|s| match &s.reason {
                    SkipReason::MapOfAnotherFile { owner, .. } => (name(&s.path), owner.as_deref().map(name)),
                    r => panic!("{r:?}"),
                })
                .collect(),
        )
    }

    const A: &str = "a();\n//# sourceMappingURL=m.js.map\n";
    const B: &str = "b();\n//# sourceMappingURL=m.js.map\n";

    #[test]
    fn the_file_field_names_the_owner() {
        let t = tempfile::tempdir().unwrap();
        let p = pairs_in(
            t.path(),
            &[("a.js", A), ("b.js", B)],
            ("m.js.map", r#"{"version":3,"file":"b.js","mappings":""}"#),
        );
        assert_eq!(
            run(p),
            (vec!["b.js".into()], vec![("a.js".into(), Some("b.js".into()))])
        );
    }

    #[test]
    fn else_the_maps_name() {
        let t = tempfile::tempdir().unwrap();
        let p = pairs_in(
            t.path(),
            &[("m.js", A), ("b.js", B)],
            ("m.js.map", r#"{"version":3,"mappings":""}"#),
        );
        assert_eq!(
            run(p),
            (vec!["m.js".into()], vec![("b.js".into(), Some("m.js".into()))])
        );
    }

    #[test]
    fn else_every_differing_chunk_is_skipped() {
        let t = tempfile::tempdir().unwrap();
        let p = pairs_in(
            t.path(),
            &[("a.js", A), ("b.js", B)],
            ("m.js.map", r#"{"version":3,"file":"gone.js","mappings":""}"#),
        );
        assert_eq!(
            run(p),
            (vec![], vec![("a.js".into(), None), ("b.js".into(), None)])
        );
    }

    #[test]
    fn copies_of_one_file_stay_paired_also_once_injected() {
        let t = tempfile::tempdir().unwrap();
        let injected = |id: &str| {
            format!(
                "{}{A}{}",
                crate::snippet::render(id, None),
                crate::snippet::comment(id)
            )
        };
        let a = injected("0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee");
        let b = injected("0190aaaa-bbbb-7ccc-8ddd-ffffffffffff");
        let p = pairs_in(
            t.path(),
            &[("a.js", &a), ("b.js", &b), ("c.js", A)],
            ("m.js.map", r#"{"version":3,"mappings":""}"#),
        );
        assert_eq!(
            run(p),
            (vec!["a.js".into(), "b.js".into(), "c.js".into()], vec![])
        );
    }
}
