//! The code injected into each chunk (spec §5.1), byte for byte what posthog-cli 0.19.0 writes,
//! and the trailing `//# chunkId=` comment. posthog-js reads `globalThis._posthogChunkIds`, keyed
//! by the stack captured inside the chunk, and `_posthogReleaseId`.

use std::ops::Range;

/// Everything up to the point where the two variants differ.
const HEAD: &str = r#"!function(){try{var e="undefined"!=typeof window?window:"undefined"!=typeof global?global:"undefined"!=typeof globalThis?globalThis:"undefined"!=typeof self?self:{}"#;
/// Chunk-only variant, after HEAD, before the JSON chunk id.
const CHUNK_ONLY_MID: &str =
    r#",n=(new e.Error).stack;n&&(e._posthogChunkIds=e._posthogChunkIds||{},e._posthogChunkIds[n]="#;
/// Release variant, after HEAD, before the JSON release id.
const RELEASE_MID: &str = r#";e._posthogReleaseId=e._posthogReleaseId||"#;
/// Release variant, after the JSON release id, before the JSON chunk id.
const RELEASE_MID2: &str =
    r#";var n=(new e.Error).stack;n&&(e._posthogChunkIds=e._posthogChunkIds||{},e._posthogChunkIds[n]="#;
/// After the JSON chunk id, in both variants.
const TAIL: &str = r#")}catch(e){}}();"#;

/// The comment appended after the code (no trailing newline).
pub const COMMENT_PREFIX: &str = "\n//# chunkId=";

/// The longest JSON string literal taken for an embedded release id, as posthog-cli does.
const MAX_RELEASE_LITERAL: usize = 256;
const MAX_CHUNK_LITERAL: usize = 256;

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

/// The snippet for a chunk id and optional release id.
pub fn render(chunk_id: &str, release_id: Option<&str>) -> String {
    let chunk = json_string(chunk_id);
    match release_id {
        None => format!("{HEAD}{CHUNK_ONLY_MID}{chunk}{TAIL}"),
        Some(release) => {
            format!(
                "{HEAD}{RELEASE_MID}{}{RELEASE_MID2}{chunk}{TAIL}",
                json_string(release)
            )
        }
    }
}

/// The trailing comment for a chunk id.
pub fn comment(chunk_id: &str) -> String {
    format!("{COMMENT_PREFIX}{chunk_id}")
}

/// A snippet found in a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundSnippet {
    pub span: Range<usize>,
    pub chunk_id: String,
    pub release_id: Option<String>,
}

/// Parses a JSON string literal that starts at `s[0]`, of at most `max` bytes.
fn json_literal(s: &str, max: usize) -> Option<(String, usize)> {
    let bytes = s.as_bytes();
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    while i < bytes.len() && i <= max {
        match bytes[i] {
            b'"' => {
                let value: String = serde_json::from_str(&s[..=i]).ok()?;
                return Some((value, i + 1));
            }
            b'\\' => i += 2,
            b'\n' => return None,
            _ => i += 1,
        }
    }
    None
}

fn parse_at(source: &str, start: usize) -> Option<FoundSnippet> {
    let rest = &source[start + HEAD.len()..];
    let (release_id, rest, used) = if let Some(r) = rest.strip_prefix(CHUNK_ONLY_MID) {
        (None, r, HEAD.len() + CHUNK_ONLY_MID.len())
    } else if let Some(r) = rest.strip_prefix(RELEASE_MID) {
        let (release, n) = json_literal(r, MAX_RELEASE_LITERAL)?;
        let r2 = r[n..].strip_prefix(RELEASE_MID2)?;
        (
            Some(release),
            r2,
            HEAD.len() + RELEASE_MID.len() + n + RELEASE_MID2.len(),
        )
    } else {
        return None;
    };
    let (chunk_id, n) = json_literal(rest, MAX_CHUNK_LITERAL)?;
    rest[n..].strip_prefix(TAIL)?;
    let end = start + used + n + TAIL.len();
    Some(FoundSnippet {
        span: start..end,
        chunk_id,
        release_id,
    })
}

/// Finds an injected snippet (either variant) anywhere in the source: the first complete one.
/// This is what recognises a chunk whose `//# chunkId=` comment a minifier stripped.
pub fn find(source: &str) -> Option<FoundSnippet> {
    let mut from = 0;
    while let Some(offset) = source[from..].find(HEAD) {
        let start = from + offset;
        if let Some(found) = parse_at(source, start) {
            return Some(found);
        }
        from = start + 1;
    }
    None
}

/// The value of the last line that starts with `prefix` (as posthog-cli reads `//# chunkId=` and
/// `//# debugId=`), with its byte range including the preceding newline when there is one.
pub fn last_comment<'a>(source: &'a str, prefix: &str) -> Option<(&'a str, Range<usize>)> {
    let mut end = source.len();
    loop {
        let line_start = source[..end].rfind('\n').map_or(0, |i| i + 1);
        let line = &source[line_start..end];
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(value) = line.strip_prefix(prefix) {
            let range_start = line_start.saturating_sub(1);
            return Some((value, range_start..end));
        }
        if line_start == 0 {
            return None;
        }
        end = line_start - 1;
    }
}

/// The chunk id in the trailing comment, if any.
pub fn comment_chunk_id(source: &str) -> Option<(&str, Range<usize>)> {
    last_comment(source, "//# chunkId=")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_CHUNK_ONLY: &str = r#"!function(){try{var e="undefined"!=typeof window?window:"undefined"!=typeof global?global:"undefined"!=typeof globalThis?globalThis:"undefined"!=typeof self?self:{},n=(new e.Error).stack;n&&(e._posthogChunkIds=e._posthogChunkIds||{},e._posthogChunkIds[n]="__POSTHOG_CHUNK_ID__")}catch(e){}}();"#;
    const SPEC_RELEASE: &str = r#"!function(){try{var e="undefined"!=typeof window?window:"undefined"!=typeof global?global:"undefined"!=typeof globalThis?globalThis:"undefined"!=typeof self?self:{};e._posthogReleaseId=e._posthogReleaseId||__POSTHOG_RELEASE_ID__;var n=(new e.Error).stack;n&&(e._posthogChunkIds=e._posthogChunkIds||{},e._posthogChunkIds[n]="__POSTHOG_CHUNK_ID__")}catch(e){}}();"#;

    #[test]
    fn renders_the_spec_templates_byte_for_byte() {
        let id = "13d676af-fe05-561a-83ab-25e6849639ca";
        let rel = "0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee";
        assert_eq!(
            render(id, None),
            SPEC_CHUNK_ONLY.replace("\"__POSTHOG_CHUNK_ID__\"", &format!("\"{id}\""))
        );
        assert_eq!(
            render(id, Some(rel)),
            SPEC_RELEASE
                .replace("\"__POSTHOG_CHUNK_ID__\"", &format!("\"{id}\""))
                .replace("__POSTHOG_RELEASE_ID__", &format!("\"{rel}\""))
        );
        // Appendix A: 309 bytes chunk-only, 393 with a release.
        assert_eq!(render(id, None).len(), 309);
        assert_eq!(render(id, Some(rel)).len(), 393);
    }

    #[test]
    fn finds_both_variants_and_escaped_ids() {
        for release in [None, Some("r\"1")] {
            let snippet = render("a\"b", release);
            let source = format!("x;{snippet}y();");
            let found = find(&source).unwrap();
            assert_eq!(found.span, 2..2 + snippet.len());
            assert_eq!(found.chunk_id, "a\"b");
            assert_eq!(found.release_id.as_deref(), release);
        }
        assert_eq!(find(&format!("{HEAD};broken")), None);
    }

    #[test]
    fn reads_the_last_comment_line() {
        let s = "a\n//# chunkId=one\nb\n//# chunkId=two";
        let (v, r) = comment_chunk_id(s).unwrap();
        assert_eq!(v, "two");
        assert_eq!(&s[r], "\n//# chunkId=two");
        assert_eq!(comment_chunk_id("  //# chunkId=x"), None);
        let (v, r) = comment_chunk_id("//# chunkId=z\r\n").unwrap();
        assert_eq!((v, r), ("z", 0..14));
    }
}
