//! A minified position resolved to its original one, the way PostHog's symbolication service
//! (cymbal) resolves a JavaScript frame (kinds-and-explain.md §4.4), for `sourcemap resolve` and
//! `sourcemap explain`.
//!
//! cymbal builds a `symbolic` `SourceMapCache` from the uploaded map and looks the frame up there.
//! The conventions this module follows, read from cymbal (`langs/js.rs`, `langs/node.rs`) and
//! symbolic-sourcemapcache (`writer.rs`, `lookup.rs`):
//! - the frame's `lineno` is 1-based (as the engine prints it) and becomes `lineno - 1`; its `colno`
//!   is used **as sent**, as a 0-based column (a 1-based V8 column therefore probes one column to
//!   the right of the throw position);
//! - index maps are flattened; the tokens are indexed by minified (line, column), and a token whose
//!   original location (source, line, column, name) equals the previous token's is dropped;
//! - lookup: the token at the position, else the greatest one before it; none before it, one on an
//!   earlier line, or one without a source, line and column is no result ("Token not found");
//! - the result is the token's source (prefixed with `sourceRoot`), its original line and column
//!   **0-based as stored**, its name, and context lines from `sourcesContent`.
//!
//! What this module does not reproduce: cymbal's `resolved_name` comes from the scope that
//! encloses the position, found by parsing the minified source (js-source-scopes); here the name
//! is the token's own entry in `names` ([`Original::name`]). cymbal's dedup also compares that
//! scope, so two neighbouring tokens with one original location but different scopes are one
//! entry here and two there; they resolve to the same location either way.

use std::path::PathBuf;

use sourcemap::{DecodedMap, SourceMap};

/// Why a map could not be used, or a position has no original.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("{map} is not a sourcemap PostHog can read: {detail}. Check that the file is the map the bundler wrote (JSON with \"version\" 3 and \"mappings\")")]
    BadMap { map: String, detail: String },
    #[error("{path} could not be read: {detail}")]
    Read { path: PathBuf, detail: String },
    #[error("{path} has no sourcemap: no sourceMappingURL comment and no {path}.map next to it; name the .map file itself")]
    NoMap { path: PathBuf },
    #[error("token not found for {lineno}:{colno} in {map}: {why}")]
    TokenNotFound {
        map: String,
        lineno: u32,
        colno: u32,
        why: NoToken,
    },
}

/// Why a lookup found no token (each is cymbal's `Token not found for frame`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoToken {
    /// `lineno` 0: there is no line 0 in a 1-based stack trace.
    #[error("line 0 does not exist (stack trace lines are 1-based)")]
    LineZero,
    /// The position is before the map's first token.
    #[error("the position is before the first mapped token (line {first_line}, column {first_column}, 1-based line)")]
    BeforeFirstToken { first_line: u32, first_column: u32 },
    /// The nearest token before the position is on an earlier line: the map has nothing on this
    /// line up to this column (a line the map does not cover, or a position past the file's end).
    #[error("the map has no token on line {line} at or before column {column}; the nearest is on line {token_line} (1-based lines)")]
    EarlierLine { line: u32, column: u32, token_line: u32 },
    /// The token found maps to no original location (a one-field mapping segment).
    #[error("the token at line {line}, column {column} (1-based line) maps to no original location")]
    Unmapped { line: u32, column: u32 },
}

/// The original location of a position.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Original {
    /// The token's `sources` entry, prefixed with `sourceRoot` when the map has one.
    pub source: Option<String>,
    /// Original line, 0-based (as cymbal stores it; add 1 to read it in an editor).
    pub line: u32,
    /// Original column, 0-based.
    pub column: u32,
    /// The token's `names` entry.
    pub name: Option<String>,
    /// Where the token sits in the minified file: line and column, both 0-based.
    pub token_line: u32,
    pub token_column: u32,
    /// Lines around the original line, when the map has `sourcesContent` for the source.
    pub context: Option<Context>,
}

/// Source lines around a resolved line, numbered 0-based as cymbal numbers them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Context {
    pub before: Vec<ContextLine>,
    pub line: ContextLine,
    pub after: Vec<ContextLine>,
}

/// One source line: its 0-based number and its text (without the line break).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContextLine {
    pub number: u32,
    pub text: String,
}

/// One index entry: a token kept after the dedup, by its index in the flattened map.
#[derive(Debug, Clone, Copy)]
struct Entry {
    line: u32,
    column: u32,
    token: u32,
}

/// A parsed map, indexed for lookups as cymbal's cache is.
pub struct Lookup {
    label: String,
    map: SourceMap,
    index: Vec<Entry>,
}

impl std::fmt::Debug for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookup")
            .field("map", &self.label)
            .field("entries", &self.index.len())
            .finish()
    }
}

impl Lookup {
    /// Parses a map (regular, index or Hermes-extended JSON); `label` names it in errors (a path
    /// or a symbol set ref). Errors: [`ResolveError::BadMap`].
    pub fn parse(map: &[u8], label: &str) -> Result<Lookup, ResolveError> {
        let bad = |e: sourcemap::Error| ResolveError::BadMap {
            map: label.to_owned(),
            detail: e.to_string(),
        };
        let map = match sourcemap::decode_slice(map).map_err(bad)? {
            DecodedMap::Regular(sm) => sm,
            DecodedMap::Index(smi) => smi.flatten().map_err(bad)?,
            DecodedMap::Hermes(smh) => (*smh).clone(),
        };
        let mut index = Vec::with_capacity(map.get_token_count() as usize);
        let mut last: Option<(u32, u32, u32, u32)> = None;
        for (i, t) in map.tokens().enumerate() {
            let mut src = t.get_src_id();
            if src >= map.get_source_count() {
                src = u32::MAX;
            }
            let key = (src, t.get_src_line(), t.get_src_col(), t.get_name_id());
            if last == Some(key) {
                continue;
            }
            last = Some(key);
            index.push(Entry {
                line: t.get_dst_line(),
                column: t.get_dst_col(),
                token: i as u32,
            });
        }
        Ok(Lookup {
            label: label.to_owned(),
            map,
            index,
        })
    }

    /// The map as the `sourcemap` crate reads it (for tests and for a map's own facts).
    pub fn map(&self) -> &SourceMap {
        &self.map
    }

    /// Looks up a 0-based (line, column) in the minified file: symbolic's `SourceMapCache::lookup`.
    pub fn lookup(&self, line: u32, column: u32) -> Result<Original, NoToken> {
        // The first entry after (line, column); the one before it is the greatest lower bound
        // (of equal positions, the first).
        let after = self
            .index
            .partition_point(|e| (e.line, e.column) <= (line, column));
        let Some(found) = after.checked_sub(1).map(|i| self.index[i]) else {
            let first = self.index.first();
            return Err(NoToken::BeforeFirstToken {
                first_line: first.map_or(0, |e| e.line + 1),
                first_column: first.map_or(0, |e| e.column),
            });
        };
        // An exact hit on several entries at one position is the first of them (Rust's binary
        // search, which cymbal's cache uses, may return any); between positions it is the last
        // entry before.
        let found = if (found.line, found.column) == (line, column) {
            self.index[..after]
                .iter()
                .rev()
                .take_while(|e| (e.line, e.column) == (line, column))
                .last()
                .copied()
                .unwrap_or(found)
        } else {
            found
        };
        if found.line < line {
            return Err(NoToken::EarlierLine {
                line: line + 1,
                column,
                token_line: found.line + 1,
            });
        }
        let token = self
            .map
            .get_token(found.token as usize)
            .expect("index entries name tokens of the map");
        let src = token.get_src_id();
        let has_file = src < self.map.get_source_count();
        if !has_file && token.get_src_line() == u32::MAX && token.get_src_col() == u32::MAX {
            return Err(NoToken::Unmapped {
                line: found.line + 1,
                column: found.column,
            });
        }
        let source = if has_file {
            self.map.get_source(src).map(str::to_owned)
        } else {
            None
        };
        let context = if has_file {
            self.map
                .get_source_contents(src)
                .and_then(|text| context_lines(text, token.get_src_line() as usize, CONTEXT_LINES))
        } else {
            None
        };
        Ok(Original {
            source,
            line: token.get_src_line(),
            column: token.get_src_col(),
            name: token.get_name().map(str::to_owned),
            token_line: found.line,
            token_column: found.column,
            context,
        })
    }

    /// Resolves a stack frame's position as cymbal does: `lineno` 1-based, `colno` as sent, looked
    /// up at (`lineno - 1`, `colno`). Errors: [`ResolveError::TokenNotFound`].
    pub fn resolve_frame(&self, lineno: u32, colno: u32) -> Result<Original, ResolveError> {
        let not_found = |why| ResolveError::TokenNotFound {
            map: self.label.clone(),
            lineno,
            colno,
            why,
        };
        if lineno == 0 {
            return Err(not_found(NoToken::LineZero));
        }
        self.lookup(lineno - 1, colno).map_err(not_found)
    }
}

/// A local build file opened for `sourcemap resolve`: the chunk, its map and the chunk ids each
/// carries.
#[derive(Debug)]
pub struct LocalMap {
    /// The minified chunk, when there is one (the file named, or the `.map`'s chunk beside it).
    pub chunk: Option<PathBuf>,
    /// The map file; `None` for a map inlined as a `data:` URL in the chunk.
    pub map_path: Option<PathBuf>,
    /// The chunk id the chunk registers at runtime (its snippet, else its `//# chunkId=`).
    pub chunk_id: Option<String>,
    /// The map's `chunk_id` member.
    pub map_chunk_id: Option<String>,
    pub lookup: Lookup,
}

/// Opens a chunk (`.js`, `.mjs`, `.cjs`: its map by its `sourceMappingURL`, a relative file or a
/// `data:` URL, else `<file>.map`) or a map (`.map`: the chunk is the same path without `.map`,
/// when it exists). Errors: [`ResolveError::Read`], [`ResolveError::NoMap`],
/// [`ResolveError::BadMap`].
pub fn open_local(path: &std::path::Path) -> Result<LocalMap, ResolveError> {
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| ResolveError::Read {
            path: p.to_path_buf(),
            detail: e.to_string(),
        })
    };
    let is_map = path.extension().is_some_and(|e| e == "map");
    let (chunk, chunk_text) = if is_map {
        let c = path.with_extension("");
        match std::fs::read(&c) {
            Ok(b) if c.is_file() => (Some(c), Some(String::from_utf8_lossy(&b).into_owned())),
            _ => (None, None),
        }
    } else {
        let b = read(path)?;
        (
            Some(path.to_path_buf()),
            Some(String::from_utf8_lossy(&b).into_owned()),
        )
    };
    let chunk_id = chunk_text
        .as_deref()
        .and_then(crate::chunk::existing)
        .map(|e| e.chunk_id);
    let (map_path, map_bytes) = if is_map {
        (Some(path.to_path_buf()), read(path)?)
    } else {
        let text = chunk_text.as_deref().unwrap_or("");
        let reference = crate::pair::sourcemap_reference(text).map(|(v, _)| v.to_owned());
        match reference {
            Some(r) if crate::pair::is_data_url(&r) => {
                let bytes = crate::pair::decode_data_url(&r).map_err(|detail| ResolveError::BadMap {
                    map: format!("the inline map of {}", path.display()),
                    detail,
                })?;
                (None, bytes)
            }
            other => {
                let dir = path.parent().unwrap_or(std::path::Path::new("."));
                let named = other
                    .map(|r| r.split(['?', '#']).next().unwrap_or("").to_owned())
                    .filter(|r| !r.is_empty() && !r.contains("://"))
                    .map(|r| {
                        dir.join(
                            percent_encoding::percent_decode_str(&r)
                                .decode_utf8_lossy()
                                .as_ref(),
                        )
                    });
                let mut beside = path.as_os_str().to_owned();
                beside.push(".map");
                let beside = PathBuf::from(beside);
                let found = named
                    .into_iter()
                    .chain([beside])
                    .find(|p| p.is_file())
                    .ok_or_else(|| ResolveError::NoMap {
                        path: path.to_path_buf(),
                    })?;
                let bytes = read(&found)?;
                (Some(found), bytes)
            }
        }
    };
    let label = match &map_path {
        Some(p) => p.display().to_string(),
        None => format!("the inline map of {}", path.display()),
    };
    let skip = crate::map::preamble_len(&map_bytes);
    let map_chunk_id = crate::map::MapDoc::parse(map_bytes.clone())
        .ok()
        .and_then(|d| d.chunk_id());
    let lookup = Lookup::parse(&map_bytes[skip..], &label)?;
    Ok(LocalMap {
        chunk,
        map_path,
        chunk_id,
        map_chunk_id,
        lookup,
    })
}

/// Lines of context on each side of a resolved line.
pub const CONTEXT_LINES: usize = 3;

/// `n` lines before and after line `line` (0-based) of `text`; `None` past the end.
fn context_lines(text: &str, line: usize, n: usize) -> Option<Context> {
    let lines: Vec<&str> = text.lines().collect();
    let at = |i: usize| ContextLine {
        number: i as u32,
        text: lines[i].to_owned(),
    };
    if line >= lines.len() {
        return None;
    }
    Some(Context {
        before: (line.saturating_sub(n)..line).map(at).collect(),
        line: at(line),
        after: (line + 1..(line + 1 + n).min(lines.len())).map(at).collect(),
    })
}

/// A position as `LINE:COL` on the command line: 1-based line, column as a stack trace prints it.
pub fn parse_position(text: &str) -> Option<(u32, u32)> {
    let (l, c) = text.split_once(':')?;
    Some((l.trim().parse().ok()?, c.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    // "AAAA,KAAK;;AACA" : line 0 col 0 -> src 0:0, line 0 col 5 -> 0:5, line 2 col 0 -> 1:0
    const MAP: &str = r#"{"version":3,"sources":["a.js"],"names":["boom"],"sourcesContent":["l0\nl1\nl2\nl3\nl4\nl5\nl6"],"mappings":"AAAA,KAAKA;;AACA,CAAA"}"#;

    #[test]
    fn greatest_token_on_the_same_line_and_none_across_lines() {
        let l = Lookup::parse(MAP.as_bytes(), "t.map").unwrap();
        let o = l.resolve_frame(1, 7).unwrap();
        assert_eq!((o.line, o.column, o.name.as_deref()), (0, 5, Some("boom")));
        assert_eq!(o.source.as_deref(), Some("a.js"));
        let o = l.resolve_frame(1, 4).unwrap();
        assert_eq!((o.line, o.column, o.name), (0, 0, None));
        // line 2 (0-based 1) has no token: the nearest is on line 1
        assert!(matches!(
            l.resolve_frame(2, 3),
            Err(ResolveError::TokenNotFound {
                why: NoToken::EarlierLine { token_line: 1, .. },
                ..
            })
        ));
        assert!(matches!(
            l.resolve_frame(0, 3),
            Err(ResolveError::TokenNotFound {
                why: NoToken::LineZero,
                ..
            })
        ));
    }

    #[test]
    fn an_equal_original_location_is_one_entry() {
        // line 2 col 0 -> 1:5 and col 1 -> 1:5 again ("CAAA" repeats the location): the second
        // is dropped, so the first answers for column 1 too, with the same location.
        let l = Lookup::parse(MAP.as_bytes(), "t.map").unwrap();
        assert_eq!(l.index.len(), 3);
        let o = l.resolve_frame(3, 9).unwrap();
        assert_eq!((o.line, o.column, o.token_column), (1, 5, 0));
        let ctx = o.context.unwrap();
        assert_eq!(ctx.line.text, "l1");
        assert_eq!(ctx.before.len(), 1);
        assert_eq!(ctx.after.iter().map(|c| c.number).collect::<Vec<_>>(), [2, 3, 4]);
    }

    #[test]
    fn before_the_first_token_and_unmapped() {
        // first token at line 0 col 4; then an unmapped one-field segment at col 8
        let m = r#"{"version":3,"sources":["a.js"],"names":[],"mappings":"IAAA,I"}"#;
        let l = Lookup::parse(m.as_bytes(), "t.map").unwrap();
        assert!(matches!(
            l.lookup(0, 2),
            Err(NoToken::BeforeFirstToken {
                first_line: 1,
                first_column: 4
            })
        ));
        assert!(l.lookup(0, 5).is_ok());
        assert!(matches!(l.lookup(0, 9), Err(NoToken::Unmapped { .. })));
    }

    #[test]
    fn bad_map_names_the_map() {
        let e = Lookup::parse(b"{\"version\":3", "dist/x.js.map").unwrap_err();
        assert!(e.to_string().contains("dist/x.js.map"), "{e}");
    }
}
