//! What a chunk already carries: an injected snippet, a `//# chunkId=` comment, a `//# debugId=`;
//! and where a new snippet goes.

use uuid::Uuid;

use crate::snippet::{self, FoundSnippet};

/// posthog-cli's namespace for content-derived chunk ids (spec §5.3).
pub const CHUNK_ID_NAMESPACE: Uuid = Uuid::from_u128(0x0e9b3c7a_5d1f_42a8_b6c4_e2d0f8a17593);

/// The event-mode chunk id of a pristine chunk: UUIDv5 over its bytes.
pub fn stable_chunk_id(source: &str) -> String {
    Uuid::new_v5(&CHUNK_ID_NAMESPACE, source.as_bytes()).to_string()
}

/// The injection found in a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub chunk_id: String,
    pub snippet: Option<FoundSnippet>,
    /// The exact `\n//# chunkId=<id>` comment, when present.
    pub comment: Option<std::ops::Range<usize>>,
}

/// Reads back an injection: the trailing comment is authoritative (as in posthog-cli); without it,
/// the snippet itself identifies the chunk (minifiers strip comments, posthog-js#4596).
pub fn existing(source: &str) -> Option<Existing> {
    if let Some((id, _)) = snippet::comment_chunk_id(source) {
        let id = id.to_string();
        let comment_text = snippet::comment(&id);
        let comment = source.find(&comment_text).map(|s| s..s + comment_text.len());
        let snippet = snippet::find(source).filter(|s| s.chunk_id == id);
        return Some(Existing {
            chunk_id: id,
            snippet,
            comment,
        });
    }
    let found = snippet::find(source)?;
    Some(Existing {
        chunk_id: found.chunk_id.clone(),
        snippet: Some(found),
        comment: None,
    })
}

/// A `//# debugId=` comment's value.
pub fn debug_id_comment(source: &str) -> Option<&str> {
    snippet::last_comment(source, "//# debugId=").map(|(v, _)| v.trim())
}

/// Where a new snippet goes: byte offset, and the generated (line, UTF-16 column) there.
/// Normally the very start (as posthog-cli); after a `#!` line, which must stay first for the file
/// to run; after a byte-order mark; and after a `"use strict"` directive, which only works as the
/// first statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsertAt {
    pub offset: usize,
    pub line: usize,
    pub column: usize,
}

pub fn insertion_point(source: &str) -> InsertAt {
    let mut at = InsertAt {
        offset: 0,
        line: 0,
        column: 0,
    };
    if source.starts_with("#!") {
        match source.find('\n') {
            Some(nl) => {
                at = InsertAt {
                    offset: nl + 1,
                    line: 1,
                    column: 0,
                };
            }
            None => {
                return InsertAt {
                    offset: source.len(),
                    line: 0,
                    column: source.encode_utf16().count(),
                }
            }
        }
    } else if source.starts_with('\u{feff}') {
        at = InsertAt {
            offset: 3,
            line: 0,
            column: 1,
        };
    }
    for directive in ["\"use strict\";", "'use strict';"] {
        if source[at.offset..].starts_with(directive) {
            at.offset += directive.len();
            at.column += directive.len();
            break;
        }
    }
    at
}

/// The (line, UTF-16 column) of a byte offset.
pub fn position_of(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].encode_utf16().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appendix_a_chunk_id() {
        assert_eq!(
            stable_chunk_id("console.log(1);\n//# sourceMappingURL=app.js.map\n"),
            "13d676af-fe05-561a-83ab-25e6849639ca"
        );
    }

    #[test]
    fn insertion_points() {
        assert_eq!(
            insertion_point("a();"),
            InsertAt {
                offset: 0,
                line: 0,
                column: 0
            }
        );
        assert_eq!(
            insertion_point("#!/usr/bin/env node\na();"),
            InsertAt {
                offset: 20,
                line: 1,
                column: 0
            }
        );
        assert_eq!(
            insertion_point("\"use strict\";a();"),
            InsertAt {
                offset: 13,
                line: 0,
                column: 13
            }
        );
        assert_eq!(
            insertion_point("#!/bin/node\n'use strict';a();"),
            InsertAt {
                offset: 25,
                line: 1,
                column: 13
            }
        );
        assert_eq!(
            insertion_point("\u{feff}a();"),
            InsertAt {
                offset: 3,
                line: 0,
                column: 1
            }
        );
        assert_eq!(position_of("ab\né𝄞x", 9), (1, 3));
    }

    #[test]
    fn reads_back_injections() {
        let id = "13d676af-fe05-561a-83ab-25e6849639ca";
        let snip = snippet::render(id, None);
        let full = format!("{snip}a();{}", snippet::comment(id));
        let e = existing(&full).unwrap();
        assert_eq!(e.chunk_id, id);
        assert_eq!(e.snippet.unwrap().span, 0..snip.len());
        assert_eq!(e.comment, Some(snip.len() + 4..full.len()));
        // Comment stripped by a minifier: the snippet still identifies the chunk.
        let stripped = format!("{snip}a();");
        let e = existing(&stripped).unwrap();
        assert_eq!((e.chunk_id.as_str(), e.comment), (id, None));
        assert!(existing("a();").is_none());
    }
}
