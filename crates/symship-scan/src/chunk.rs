//! What a chunk already carries: an injected snippet, a `//# chunkId=` comment, a `//# debugId=`;
//! and where a new snippet goes.

use uuid::Uuid;

use crate::lex;
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
    /// The `//# chunkId=` comment's removal range (its line), when present.
    pub comment: Option<std::ops::Range<usize>>,
    /// The id that comment names (another id than the snippet's when it is stale).
    pub comment_id: Option<String>,
}

/// Reads back an injection. The chunk id is what the file registers at runtime (the snippet at
/// its top, whatever a minifier did to it, spec §8); without a snippet, the trailing
/// `//# chunkId=` comment (posthog-cli's reading).
pub fn existing(source: &str) -> Option<Existing> {
    existing_in(source, &lex::outline(source), &lex::head(source))
}

/// [`existing`] with the chunk already read.
pub fn existing_in(source: &str, outline: &lex::Outline, head: &lex::Head) -> Option<Existing> {
    let snippet = snippet::find_in(source, head);
    let comment = snippet::comment_in(source, outline, "//# chunkId=");
    let chunk_id = match (&snippet, &comment) {
        (Some(s), _) => s.chunk_id.clone(),
        (None, Some((id, _))) => id.to_string(),
        (None, None) => return None,
    };
    Some(Existing {
        chunk_id,
        snippet,
        comment_id: comment.as_ref().map(|(id, _)| id.to_string()),
        comment: comment.map(|(_, r)| r),
    })
}

/// A `//# debugId=` comment's value.
pub fn debug_id_comment(source: &str) -> Option<&str> {
    snippet::comment_in(source, &lex::outline(source), "//# debugId=").map(|(v, _)| v)
}

/// Where a new snippet goes: byte offset, and the generated (line, UTF-16 column) there.
/// Normally the very start (as posthog-cli); after a `#!` line, which must stay first for the file
/// to run; after a byte-order mark; and after the whole directive prologue (`"use strict"` and
/// the like, with any comments before and between them), which only works before other code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsertAt {
    pub offset: usize,
    pub line: usize,
    pub column: usize,
}

pub fn insertion_point(source: &str) -> InsertAt {
    insertion_point_in(source, &lex::head(source))
}

/// [`insertion_point`] with the head already read.
pub fn insertion_point_in(source: &str, head: &lex::Head) -> InsertAt {
    let offset = head.insert_at;
    let (line, column) = position_of(source, offset);
    InsertAt { offset, line, column }
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
        assert_eq!(
            insertion_point("/*! banner */\n'use strict';\nf();"),
            InsertAt {
                offset: 27,
                line: 1,
                column: 13
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
        // A stale comment: the snippet (what runs) wins.
        let stale = format!("{snip}a();{}", snippet::comment("other"));
        let e = existing(&stale).unwrap();
        assert_eq!(
            (e.chunk_id.as_str(), e.comment_id.as_deref()),
            (id, Some("other"))
        );
    }
}
