//! Pairing each JavaScript chunk with its sourcemap (spec §5.4, plus what posthog-cli misses:
//! inline `data:` maps, a name guess, and references that would leave the build directory).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::select::Candidate;
use crate::{SkipReason, Skipped};

/// Where a chunk's map lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MapLocation {
    /// A separate file.
    File(PathBuf),
    /// A base64 `data:` URL in the chunk's own `sourceMappingURL` comment.
    Inline,
}

/// A chunk and its map.
#[derive(Debug, Clone)]
pub struct Pair {
    pub source: PathBuf,
    pub root: PathBuf,
    pub map: MapLocation,
}

impl Pair {
    /// Bytes on disk the pair reads (chunk plus map file; 0 for what cannot be read), for memory
    /// budgets.
    pub fn input_len(&self) -> u64 {
        let len = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
        let map = match &self.map {
            MapLocation::File(m) => len(m),
            MapLocation::Inline => 0,
        };
        len(&self.source) + map
    }
}

const URL_PREFIXES: [&str; 2] = ["//# sourceMappingURL=", "//@ sourceMappingURL="];

/// The value of the last `sourceMappingURL` comment line (trimmed), with the byte range of the
/// value in `source`.
pub fn sourcemap_reference(source: &str) -> Option<(&str, std::ops::Range<usize>)> {
    let mut end = source.len();
    loop {
        let line_start = source[..end].rfind('\n').map_or(0, |i| i + 1);
        let line = &source[line_start..end];
        let trimmed = line.trim();
        for prefix in URL_PREFIXES {
            if let Some(value) = trimmed.strip_prefix(prefix) {
                let value = value.trim();
                let start = value.as_ptr() as usize - source.as_ptr() as usize;
                return Some((value, start..start + value.len()));
            }
        }
        if line_start == 0 {
            return None;
        }
        end = line_start - 1;
    }
}

/// True for a `data:` URL carrying a base64 JSON map.
pub fn is_data_url(value: &str) -> bool {
    value.starts_with("data:")
}

/// Decodes an inline map; `Err` says what is wrong with it.
pub fn decode_data_url(value: &str) -> Result<Vec<u8>, String> {
    let (meta, data) = value.split_once(',').ok_or("a data: URL without a comma")?;
    if meta.ends_with(";base64") {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|e| format!("its base64 does not decode: {e}"))
    } else {
        Ok(percent_encoding::percent_decode_str(data).collect())
    }
}

/// Encodes a map as the same kind of `data:` URL (keeping the media type of `original`).
pub fn encode_data_url(original: &str, map: &[u8]) -> String {
    use base64::Engine;
    let meta = original
        .split_once(',')
        .map_or("data:application/json;charset=utf-8;base64", |(m, _)| m);
    let meta = if meta.ends_with(";base64") {
        meta.to_string()
    } else {
        format!("{meta};base64")
    };
    format!("{meta},{}", base64::engine::general_purpose::STANDARD.encode(map))
}

fn candidates_for(source: &Path, reference: Option<&str>, prefix: Option<&str>) -> Vec<PathBuf> {
    let dir = source.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    if let Some(reference) = reference {
        let decoded = percent_encoding::percent_decode_str(reference)
            .decode_utf8_lossy()
            .into_owned();
        // An absolute URL: only its file name can be looked for next to the chunk.
        let decoded = match decoded.split_once("://") {
            Some((_, rest)) => rest.rsplit('/').next().unwrap_or_default().to_string(),
            None => decoded,
        };
        let decoded = decoded.split(['?', '#']).next().unwrap_or_default().to_string();
        if !decoded.is_empty() {
            out.push(dir.join(&decoded));
            if let Some(prefix) = prefix.filter(|p| !p.is_empty()) {
                let prefix = prefix.trim_end_matches('/');
                for stripped in [
                    decoded.strip_prefix(prefix),
                    decoded.strip_prefix(&format!("{prefix}/")),
                ]
                .into_iter()
                .flatten()
                {
                    out.push(dir.join(stripped.trim_start_matches('/')));
                }
            }
        }
    }
    let mut next_to = source.as_os_str().to_owned();
    next_to.push(".map");
    out.push(PathBuf::from(next_to));
    out
}

/// The name guess: `app.mjs` -> `app.map`.
fn guessed(source: &Path) -> PathBuf {
    source.with_extension("map")
}

/// A pair, if its map lies inside the scanned root.
fn accept(path: PathBuf, root: PathBuf, map: &Path) -> Result<Pair, Skipped> {
    match map.canonicalize() {
        Ok(map) if map.starts_with(&root) => Ok(Pair {
            source: path,
            root,
            map: MapLocation::File(map),
        }),
        Ok(map) => Err(Skipped {
            path,
            reason: SkipReason::MapOutsideRoot { map, root },
        }),
        Err(e) => Err(Skipped {
            path,
            reason: SkipReason::Unreadable(e.to_string()),
        }),
    }
}

/// Pairs every candidate with its map. `read` returns a chunk's text (or why it cannot).
pub fn pair_all(
    candidates: Vec<Candidate>,
    prefix: Option<&str>,
    mut read: impl FnMut(&Path) -> Result<String, SkipReason>,
) -> (Vec<Pair>, Vec<Skipped>) {
    let mut pairs = Vec::new();
    let mut skipped = Vec::new();
    let mut guesses: HashMap<PathBuf, Vec<(PathBuf, PathBuf)>> = HashMap::new();
    for Candidate { path, root } in candidates {
        let text = match read(&path) {
            Ok(t) => t,
            Err(reason) => {
                skipped.push(Skipped { path, reason });
                continue;
            }
        };
        let reference = sourcemap_reference(&text).map(|(v, _)| v.to_string());
        drop(text);
        if reference.as_deref().is_some_and(is_data_url) {
            pairs.push(Pair {
                source: path,
                root,
                map: MapLocation::Inline,
            });
            continue;
        }
        let found = candidates_for(&path, reference.as_deref(), prefix)
            .into_iter()
            .find(|p| p.is_file());
        match found {
            Some(map) => match accept(path, root, &map) {
                Ok(p) => pairs.push(p),
                Err(s) => skipped.push(s),
            },
            None => {
                let guess = guessed(&path);
                if guess.is_file() {
                    guesses.entry(guess.clone()).or_default().push((path, root));
                } else {
                    skipped.push(Skipped {
                        path,
                        reason: SkipReason::NoMap { reference },
                    });
                }
            }
        }
    }
    for (map, claimants) in guesses {
        if claimants.len() == 1 {
            let (path, root) = claimants.into_iter().next().expect("one");
            match accept(path, root, &map) {
                Ok(p) => pairs.push(p),
                Err(s) => skipped.push(s),
            }
        } else {
            let others: Vec<PathBuf> = claimants.iter().map(|(p, _)| p.clone()).collect();
            for (path, _) in claimants {
                skipped.push(Skipped {
                    path,
                    reason: SkipReason::AmbiguousMap {
                        map: map.clone(),
                        claimants: others.clone(),
                    },
                });
            }
        }
    }
    pairs.sort_by(|a, b| a.source.cmp(&b.source));
    (pairs, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_last_reference_line() {
        let s =
            "a();\n//# sourceMappingURL=one.js.map\nb();\n  //@ sourceMappingURL=two.js.map  \n//# chunkId=x";
        let (v, r) = sourcemap_reference(s).unwrap();
        assert_eq!(v, "two.js.map");
        assert_eq!(&s[r], "two.js.map");
        assert!(sourcemap_reference("x();").is_none());
    }

    #[test]
    fn candidate_paths() {
        let c = candidates_for(
            Path::new("/b/js/app.js"),
            Some("/static/js/app%20x.js.map?v=1"),
            Some("/static/js"),
        );
        assert_eq!(
            c,
            [
                PathBuf::from("/static/js/app x.js.map"),
                PathBuf::from("/b/js/app x.js.map"),
                PathBuf::from("/b/js/app x.js.map"),
                PathBuf::from("/b/js/app.js.map")
            ]
        );
        let c = candidates_for(
            Path::new("/b/app.js"),
            Some("https://cdn.example.com/a/app.js.map"),
            None,
        );
        assert_eq!(c[0], PathBuf::from("/b/app.js.map"));
    }

    #[test]
    fn data_urls_round_trip() {
        let url = encode_data_url("data:application/json;base64,e30=", br#"{"version":3}"#);
        assert!(url.starts_with("data:application/json;base64,"));
        assert_eq!(decode_data_url(&url).unwrap(), br#"{"version":3}"#);
        assert!(decode_data_url("data:application/json;base64,@@@").is_err());
    }
}
