//! The code injected into each chunk (spec §5.1), byte for byte what posthog-cli 0.19.0 writes,
//! and the trailing `//# chunkId=` comment. posthog-js reads `globalThis._posthogChunkIds`, keyed
//! by the stack captured inside the chunk, and `_posthogReleaseId`.

use std::ops::Range;

use crate::lex::{self, Kind, Token};

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
    /// The snippet statement (its `;` included).
    pub span: Range<usize>,
    pub chunk_id: String,
    pub release_id: Option<String>,
    /// The span is byte for byte what [`render`] writes for these ids (not rewritten by a
    /// minifier), so it can be replaced in place.
    pub canonical: bool,
}

fn is_punct(src: &str, t: &Token, c: u8) -> bool {
    t.kind == Kind::Punct && src.as_bytes()[t.start] == c
}

fn is_name(src: &str, t: &Token, name: &str) -> bool {
    t.kind == Kind::Name && &src[t.range()] == name
}

/// Index of the token that closes the bracket opened at `toks[open]` (`{`/`}` punctuators only:
/// a template literal's `${ … }` is part of its template tokens).
fn closing(src: &str, toks: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in toks.iter().enumerate().skip(open) {
        if is_punct(src, t, b'{') {
            depth += 1;
        } else if is_punct(src, t, b'}') {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// The tokens of the snippet's body that are not nested in braces, when the statement has the
/// snippet's shape whatever a minifier did to it: a function called at once (`!function(){…}()`,
/// `(function(){…})()`, `(()=>{…})()`, …); when its body is one `try { … } catch … { … }`, as
/// the snippet's is, the tokens of the `try` block. A registration anywhere else in the first
/// statement (inside a bundle's wrapper, a nested function, a block, an `if`, a function never
/// called) is a bundled library's own, which registers nothing for this chunk, or not at load
/// time (issue 13: the id is what the file registers at runtime).
fn snippet_body(src: &str, toks: &[Token]) -> Option<Vec<Token>> {
    let body = toks.iter().position(|t| is_punct(src, t, b'{'))?;
    let before = &toks[..body];
    let arrow = before
        .windows(2)
        .any(|w| is_punct(src, &w[0], b'=') && is_punct(src, &w[1], b'>'));
    let function = before.iter().any(|t| is_name(src, t, "function"));
    let only_the_call = before.iter().enumerate().all(|(i, t)| match t.kind {
        Kind::Punct => matches!(
            src.as_bytes()[t.start],
            b'!' | b'(' | b')' | b'=' | b'>' | b'~' | b'+' | b'-'
        ),
        Kind::Name => {
            matches!(&src[t.range()], "function" | "void" | "async")
                || (i > 0 && is_name(src, &before[i - 1], "function"))
        }
        _ => false,
    });
    if !(only_the_call && (arrow || function)) {
        return None;
    }
    let body_end = closing(src, toks, body)?;
    // ... and is called: `}()`, `})()`, `}())`
    let after: Vec<u8> = toks[body_end + 1..]
        .iter()
        .take(3)
        .filter(|t| t.kind == Kind::Punct)
        .map(|t| src.as_bytes()[t.start])
        .collect();
    if !(after.starts_with(b"()") || after.starts_with(b")()")) {
        return None;
    }
    let mut inner = body + 1..body_end;
    if toks.get(body + 1).is_some_and(|t| is_name(src, t, "try"))
        && toks.get(body + 2).is_some_and(|t| is_punct(src, t, b'{'))
    {
        let try_end = closing(src, toks, body + 2)?;
        // `catch (e) { … }` or `catch { … }`, and then the function's body ends
        let mut k = try_end + 1;
        if !toks.get(k).is_some_and(|t| is_name(src, t, "catch")) {
            return None;
        }
        k += 1;
        if toks.get(k).is_some_and(|t| is_punct(src, t, b'(')) {
            k = k + toks[k..].iter().position(|t| is_punct(src, t, b')'))? + 1;
        }
        if !toks.get(k).is_some_and(|t| is_punct(src, t, b'{')) || closing(src, toks, k)? + 1 != body_end {
            return None;
        }
        inner = body + 3..try_end;
    }
    let mut depth = 0usize;
    let mut out = Vec::new();
    for t in &toks[inner] {
        if is_punct(src, t, b'{') {
            depth += 1;
        } else if is_punct(src, t, b'}') {
            depth = depth.saturating_sub(1);
        } else if depth == 0 {
            out.push(*t);
        }
    }
    Some(out)
}

/// The chunk id the statement registers: `_posthogChunkIds[<key>] = <literal>`.
fn registered_chunk_id(src: &str, toks: &[Token]) -> Option<String> {
    let mut i = 0;
    while i + 1 < toks.len() {
        if is_name(src, &toks[i], "_posthogChunkIds") && is_punct(src, &toks[i + 1], b'[') {
            let mut depth = 0;
            let mut j = i + 1;
            while j < toks.len() {
                if is_punct(src, &toks[j], b'[') {
                    depth += 1;
                } else if is_punct(src, &toks[j], b']') {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                j += 1;
            }
            let assign = toks.get(j + 1).filter(|t| is_punct(src, t, b'='));
            let not_compare = toks.get(j + 2).is_some_and(|t| !is_punct(src, t, b'='));
            if assign.is_some() && not_compare {
                if let Some(v) = toks.get(j + 2).and_then(|t| lex::literal_value(src, t)) {
                    return Some(v);
                }
            }
        }
        i += 1;
    }
    None
}

/// The release id the statement registers: the first literal after `_posthogReleaseId`, in the
/// same assignment.
fn registered_release_id(src: &str, toks: &[Token]) -> Option<String> {
    let k = toks.iter().position(|t| is_name(src, t, "_posthogReleaseId"))?;
    for t in &toks[k + 1..] {
        if is_punct(src, t, b';') || is_punct(src, t, b',') {
            return None;
        }
        if matches!(t.kind, Kind::Str | Kind::Template) {
            return lex::literal_value(src, t);
        }
    }
    None
}

/// The snippet of a chunk, recognised by what it does, not by its bytes: a top-level statement
/// that registers `_posthogChunkIds[...] = "<id>"` when the file loads (what posthog-js reads,
/// spec §8), whatever a minifier did to its code. Normally the first statement after the
/// directive prologue; a minifier may put other top-level code first (terser moves function
/// declarations above it). When several top-level statements register, the last one is the
/// chunk's: it runs last, and posthog-js keeps the last id registered for a file. A registration
/// inside a function, a block or a bundle's wrapper (a bundled library's own) registers nothing
/// for this chunk at load time, and is not its snippet.
pub fn find(source: &str) -> Option<FoundSnippet> {
    find_in(source, &lex::head(source))
}

/// [`find`] with the head already read.
pub fn find_in(source: &str, head: &lex::Head) -> Option<FoundSnippet> {
    let first = found_in(source, &head.first);
    // Only a file that indexes `_posthogChunkIds[` outside a snippet at its top is read whole
    // (posthog-js bundled into a chunk names it too, but never indexes it so).
    let searched_from = first.as_ref().map_or(head.insert_at, |f| f.span.end);
    if !indexes_registry(&source.as_bytes()[searched_from..]) {
        return first;
    }
    let later = lex::top_level_pieces(source, "_posthogChunkIds")
        .iter()
        .filter(|piece| piece.first().is_some_and(|t| t.start >= searched_from))
        .filter_map(|piece| found_in(source, piece))
        .next_back();
    later.or(first)
}

/// Whether `text` holds `_posthogChunkIds` followed by `[` (white space between allowed).
fn indexes_registry(text: &[u8]) -> bool {
    memchr::memmem::find_iter(text, b"_posthogChunkIds").any(|i| {
        text[i + b"_posthogChunkIds".len()..]
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            == Some(&b'[')
    })
}

/// The snippet whose statement is `toks` (the tokens of one top-level statement's first
/// expression), if it is one.
fn found_in(source: &str, toks: &[Token]) -> Option<FoundSnippet> {
    let body = snippet_body(source, toks)?;
    let chunk_id = registered_chunk_id(source, &body)?;
    let release_id = registered_release_id(source, &body);
    let span = toks.first()?.start..toks.last()?.end;
    let canonical = source[span.clone()] == render(&chunk_id, release_id.as_deref());
    Some(FoundSnippet {
        span,
        chunk_id,
        release_id,
        canonical,
    })
}

/// The value of the last `//# chunkId=` comment (a real comment, not text in a string), with
/// the range that removes it without moving a line of code.
pub fn comment_chunk_id(source: &str) -> Option<(&str, Range<usize>)> {
    comment_in(source, &lex::outline(source), "//# chunkId=")
}

/// The value of the last magic comment starting with `prefix`, with its removal range.
pub fn comment_in<'s>(
    source: &'s str,
    outline: &lex::Outline,
    prefix: &str,
) -> Option<(&'s str, Range<usize>)> {
    let (m, value, _) = outline.last(source, &[prefix])?;
    Some((value, lex::removal_range(source, m)))
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
            let source = format!("{snippet}y();");
            let found = find(&source).unwrap();
            assert_eq!(found.span, 0..snippet.len());
            assert_eq!(found.chunk_id, "a\"b");
            assert_eq!(found.release_id.as_deref(), release);
            assert!(found.canonical);
            // below other top-level code it still runs at load, and is the chunk's
            let later = format!("function f(){{}}{snippet}y();");
            assert_eq!(find(&later).unwrap().span, 14..14 + snippet.len());
            // inside a function, a block or a call's arguments it registers nothing at load
            for nested in [
                format!("function f(){{{snippet}}}y();"),
                format!("if(x){{{snippet}}}"),
                format!("define(function(){{{snippet}}});"),
            ] {
                assert_eq!(find(&nested), None, "{nested}");
            }
        }
        assert_eq!(find(&format!("{HEAD};broken")), None);
    }

    #[test]
    fn the_last_top_level_registration_is_the_chunks() {
        // posthog-js keeps the last id a file registers: a library's injected build concatenated
        // after the chunk's own snippet (scope hoisting) wins at runtime
        let own = render("11111111-1111-4111-8111-111111111111", None);
        let library = render("22222222-2222-4222-8222-222222222222", None);
        let src = format!("{own}a();{library}b();");
        assert_eq!(
            find(&src).unwrap().chunk_id,
            "22222222-2222-4222-8222-222222222222"
        );
        // terser's order: function declarations first, then the snippet, in a sequence
        let src = format!(
            "\"use strict\";function fmt(e){{return e}}{},exports.a=1;",
            &own[..own.len() - 1]
        );
        let f = find(&src).unwrap();
        assert_eq!(f.chunk_id, "11111111-1111-4111-8111-111111111111");
        assert_eq!(&src[f.span.end..], ",exports.a=1;");
    }

    #[test]
    fn recognises_a_minifier_rewritten_snippet() {
        let src = "(function(){try{var e=typeof window<`u`?window:{},t=new e.Error().stack;t&&(e._posthogChunkIds=e._posthogChunkIds||{},e._posthogChunkIds[t]=`7d1e0b7a-3c2f-4b8e-9a55-2f1c8e4d6b10`)}catch{}})();function lazy(){}";
        let f = find(src).unwrap();
        assert_eq!(f.chunk_id, "7d1e0b7a-3c2f-4b8e-9a55-2f1c8e4d6b10");
        assert_eq!(&src[f.span.end..], "function lazy(){}");
        assert!(!f.canonical);
        let src = "'use strict';!function(){var e=globalThis;e._posthogReleaseId||=\"r1\";e._posthogChunkIds[(new Error).stack]=\"c1\"}(),main();";
        let f = find(src).unwrap();
        assert_eq!((f.chunk_id.as_str(), f.release_id.as_deref()), ("c1", Some("r1")));
        assert_eq!(&src[f.span.end..], ",main();");
        assert_eq!(find("var s='_posthogChunkIds[n]=\"x\"';"), None);
    }

    /// A registration that is not the snippet's (issue 13's tester: a library's snippet bundled
    /// inside the first statement) is not this chunk's id.
    #[test]
    fn a_registration_nested_in_the_first_statement_is_not_the_snippet() {
        let reg = |id: &str| {
            format!(
                r#"!function(){{try{{var e=globalThis,n=(new e.Error).stack;n&&(e._posthogChunkIds=e._posthogChunkIds||{{}},e._posthogChunkIds[n]="{id}")}}catch(e){{}}}}();"#
            )
        };
        let lib = reg("11111111-2222-5333-8444-555555555555");
        for src in [
            format!("function lib(){{{lib}}}console.log(\"a\");"),
            format!("(()=>{{var x=1;{lib}console.log(x)}})();"),
            format!("(()=>{{function never(){{{lib}}}console.log(1)}})();"),
            format!("{{{lib}}}console.log(1);"),
            format!("if(1){lib}"),
            format!("!function(){{try{{if(0){{{lib}}}}}catch(e){{}}}}();"),
        ] {
            assert_eq!(find(&src), None, "{src}");
        }
        // the snippet itself, and forms a minifier writes, are
        assert!(find(&lib).is_some());
        let arrow = lib
            .replacen("!function(){", "(()=>{", 1)
            .replacen("}}();", "}})();", 1);
        assert!(find(&arrow).is_some(), "{arrow}");
    }

    #[test]
    fn reads_the_last_comment() {
        let s = "a\n//# chunkId=one\nb\n//# chunkId=two";
        let (v, r) = comment_chunk_id(s).unwrap();
        assert_eq!(v, "two");
        assert_eq!(&s[r], "\n//# chunkId=two");
        let (v, r) = comment_chunk_id("//# chunkId=z\r\n").unwrap();
        assert_eq!((v, r), ("z", 0..15));
        assert_eq!(comment_chunk_id("x=`\n//# chunkId=z`"), None);
    }
}
