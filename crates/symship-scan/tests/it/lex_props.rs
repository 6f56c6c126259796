//! Property tests of the JavaScript scan (issue 13, kinds 1 and 2), over generated chunks full of
//! text that looks like what symship looks for: `sourceMappingURL` and `chunkId` comments, `data:`
//! URLs, directives and snippet code inside string literals, template literals (nested), regular
//! expressions and comments.
//!
//! 1. The lexer finds exactly the literals and comments the generator wrote, where it wrote them.
//! 2. inject + strip (`--delete-after`) never changes the program's tokens outside the snippet and
//!    the trailing comments, and a chunk whose snippet a minifier rewrote is adopted, never given
//!    a second registration.

use std::path::Path;

use proptest::prelude::*;
use symship_scan::lex::{self, Kind};
use symship_scan::{chunk, pair, snippet, InjectOptions, MapLocation, Pair};

/// Text that looks like what symship looks for.
fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\n//# sourceMappingURL=data:application/json;base64,e30=\n".to_owned()),
        Just("//# sourceMappingURL=other.js.map".to_owned()),
        Just("\n//# chunkId=00000000-0000-0000-0000-000000000000".to_owned()),
        Just("//@ sourceMappingURL=x.map".to_owned()),
        Just("/*# sourceMappingURL=blk.map */".to_owned()),
        Just("<!--".to_owned()),
        Just("\n-->".to_owned()),
        Just("'use strict';".to_owned()),
        Just("e._posthogChunkIds[n]=\"11111111-1111-1111-1111-111111111111\"".to_owned()),
        Just("/* not */".to_owned()),
        Just("${".to_owned()),
        Just("`".to_owned()),
        Just("'\"\\".to_owned()),
        Just("/".to_owned()),
        Just("\n".to_owned()),
        "[a-z ]{0,6}",
    ]
}

fn nasty_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(nasty(), 0..4).prop_map(|v| v.concat())
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn template_text(s: &str) -> String {
    s.replace('\\', "\\\\").replace('`', "\\`").replace("${", "\\${")
}

fn regex_body(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            c if c.is_ascii_alphanumeric() => out.push(c),
            c => {
                out.push('\\');
                out.push(c);
            }
        }
    }
    if out.is_empty() {
        out.push('x');
    }
    out
}

/// A piece of generated code, and the literal and comment tokens it holds (kind, text), in order.
#[derive(Debug, Clone)]
struct Piece {
    code: String,
    opaque: Vec<(Kind, String)>,
}

fn piece(code: String, opaque: Vec<(Kind, String)>) -> Piece {
    Piece { code, opaque }
}

/// An expression holding literals (strings, templates nested two deep, regexes) or none.
fn expression() -> impl Strategy<Value = Piece> {
    let leaf = prop_oneof![
        nasty_text().prop_map(|t| {
            let s = double_quoted(&t);
            piece(s.clone(), vec![(Kind::Str, s)])
        }),
        nasty_text().prop_map(|t| {
            let s = format!("`{}`", template_text(&t));
            piece(s.clone(), vec![(Kind::Template, s)])
        }),
        nasty_text().prop_map(|t| {
            let s = format!("/{}/g", regex_body(&t));
            piece(s.clone(), vec![(Kind::Regex, s)])
        }),
        (1u32..100).prop_map(|n| piece(format!("a/{n}/b"), vec![])),
        Just(piece("(x)/2/y".to_owned(), vec![])),
        Just(piece("z++/2".to_owned(), vec![])),
    ];
    leaf.prop_recursive(2, 8, 2, |inner| {
        (nasty_text(), inner, nasty_text()).prop_map(|(a, e, b)| {
            let head = format!("`{}${{", template_text(&a));
            let tail = format!("}}{}`", template_text(&b));
            let mut opaque = vec![(Kind::Template, head.clone())];
            opaque.extend(e.opaque);
            opaque.push((Kind::Template, tail.clone()));
            piece(format!("{head} {} {tail}", e.code), opaque)
        })
    })
}

/// A statement, or a comment.
fn statement() -> impl Strategy<Value = Piece> {
    prop_oneof![
        4 => expression().prop_map(|e| piece(format!("v=({});\n", e.code), e.opaque)),
        1 => expression().prop_map(|e| piece(format!("if(v)/re\\/x/.test({});\n", e.code), {
            let mut o = vec![(Kind::Regex, "/re\\/x/".to_owned())];
            o.extend(e.opaque);
            o
        })),
        1 => nasty_text().prop_map(|t| {
            let c = format!("/*{}*/", t.replace("*/", "* /"));
            piece(format!("{c}\n"), vec![(Kind::BlockComment, c)])
        }),
        1 => nasty_text().prop_map(|t| {
            let c = format!("// {}", t.replace(['\n', '\r'], " "));
            piece(format!("{c}\n"), vec![(Kind::LineComment, c)])
        }),
    ]
}

/// A chunk: an optional banner (a license comment, or HTML-like comments) and directive (ended
/// by `;` or by a line break), statements, and the real reference at the end as a line or block
/// comment, perhaps after an earlier one (or none: a hidden map found as `<file>.map`).
fn chunk_text() -> impl Strategy<Value = (String, Vec<(Kind, String)>)> {
    (0..4u8, proptest::collection::vec(statement(), 0..12), 0..5u8).prop_map(
        |(prologue, stmts, reference)| {
            let mut code = String::new();
            let mut opaque = Vec::new();
            let comment = |(code, opaque): (&mut String, &mut Vec<(Kind, String)>),
                           kind: Kind,
                           c: &str,
                           after: &str| {
                code.push_str(c);
                code.push_str(after);
                opaque.push((kind, c.to_owned()));
            };
            match prologue {
                1 => comment(
                    (&mut code, &mut opaque),
                    Kind::BlockComment,
                    "/*! banner //# sourceMappingURL=no.map */",
                    "\n",
                ),
                2 => {
                    comment(
                        (&mut code, &mut opaque),
                        Kind::LineComment,
                        "<!-- banner //# sourceMappingURL=no.map",
                        "\n",
                    );
                    comment(
                        (&mut code, &mut opaque),
                        Kind::LineComment,
                        "--> 'use strict'",
                        "\n",
                    );
                }
                _ => {}
            }
            match prologue {
                1 | 2 => comment((&mut code, &mut opaque), Kind::Str, "'use strict'", ";\n"),
                3 => comment((&mut code, &mut opaque), Kind::Str, "'use strict'", "\n"),
                _ => {}
            }
            for s in stmts {
                code.push_str(&s.code);
                opaque.extend(s.opaque);
            }
            if reference == 3 {
                comment(
                    (&mut code, &mut opaque),
                    Kind::LineComment,
                    "//# sourceMappingURL=earlier.js.map",
                    "\n",
                );
            }
            match reference {
                0 => {}
                1 => comment(
                    (&mut code, &mut opaque),
                    Kind::BlockComment,
                    "/*# sourceMappingURL=app.js.map */",
                    "\n",
                ),
                _ => comment(
                    (&mut code, &mut opaque),
                    Kind::LineComment,
                    "//# sourceMappingURL=app.js.map",
                    "\n",
                ),
            }
            (code, opaque)
        },
    )
}

fn opaque_tokens(src: &str) -> Vec<(Kind, String)> {
    lex::tokens(src)
        .filter(|t| matches!(t.kind, Kind::Str | Kind::Template | Kind::Regex) || t.is_comment())
        .map(|t| (t.kind, src[t.range()].to_owned()))
        .collect()
}

/// Every token as (kind, text), except those inside `skip` ranges.
fn program(src: &str, skip: &[std::ops::Range<usize>]) -> Vec<(Kind, String)> {
    lex::tokens(src)
        .filter(|t| !skip.iter().any(|r| r.start <= t.start && t.end <= r.end))
        .map(|t| (t.kind, src[t.range()].to_owned()))
        .collect()
}

/// A snippet as a minifier (Vite 8 / Oxc) leaves it: other names, backticks, no comment.
fn minified_snippet(id: &str) -> String {
    format!(
        "(function(){{try{{var e=typeof window<`u`?window:typeof global<`u`?global:typeof globalThis<`u`?globalThis:typeof self<`u`?self:{{}},t=new e.Error().stack;t&&(e._posthogChunkIds=e._posthogChunkIds||{{}},e._posthogChunkIds[t]=`{id}`)}}catch{{}}}})();"
    )
}

fn registrations(src: &str) -> usize {
    let toks: Vec<_> = lex::tokens(src).filter(|t| !t.is_comment()).collect();
    toks.windows(2)
        .filter(|w| &src[w[0].range()] == "_posthogChunkIds" && &src[w[1].range()] == "[")
        .count()
}

/// Injects `src` as `app.js` with a one-line-per-line map; returns the injected text.
fn inject_file(dir: &Path, src: &str) -> String {
    let js = dir.join("app.js");
    let map = dir.join("app.js.map");
    let lines = src.lines().count().max(1);
    let mappings = vec!["AAAA"; 1]
        .into_iter()
        .chain(vec!["AACA"; lines - 1])
        .collect::<Vec<_>>()
        .join(";");
    std::fs::write(&js, src).unwrap();
    std::fs::write(
        &map,
        format!(r#"{{"version":3,"sources":["app.ts"],"names":[],"mappings":"{mappings}"}}"#),
    )
    .unwrap();
    let pairs = vec![Pair::new(js.clone(), dir.to_owned(), MapLocation::File(map))];
    let results = symship_scan::inject(&pairs, &InjectOptions::default(), &());
    assert!(results[0].result.is_ok(), "{:?}", results[0].result);
    std::fs::read_to_string(&js).unwrap()
}

/// The text with the reference removed as `--delete-after` does.
fn strip(src: &str) -> String {
    match pair::sourcemap_reference_removal(src) {
        Some(r) => r.apply(src),
        None => src.to_owned(),
    }
}

/// The ranges `--delete-after` removes: the references of the trailing comments (none left).
fn reference(src: &str) -> Vec<std::ops::Range<usize>> {
    pair::sourcemap_reference_removal(src).map_or(Vec::new(), |r| {
        assert_eq!(r.left, None, "{r:?}");
        r.ranges
    })
}

/// The first token that is not a comment.
fn first_code(src: &str) -> Option<(Kind, String)> {
    lex::tokens(src)
        .find(|t| !t.is_comment())
        .map(|t| (t.kind, src[t.range()].to_owned()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn the_lexer_finds_exactly_the_literals_and_comments_written((src, opaque) in chunk_text()) {
        let real = opaque.last().is_some_and(|(_, t)| {
            t.starts_with("//# sourceMappingURL=app") || t.starts_with("/*# sourceMappingURL=app")
        });
        prop_assert_eq!(opaque_tokens(&src), opaque);
        // the outline read from the trailing comment block is the tokenizer's
        prop_assert_eq!(lex::outline(&src), lex::outline_by_tokens(&src));
        let value = pair::sourcemap_reference(&src).map(|(v, _)| v);
        prop_assert_eq!(value, real.then_some("app.js.map"));
        prop_assert_eq!(chunk::existing(&src), None);
    }

    #[test]
    fn inject_and_strip_change_no_token_outside_the_snippet((src, _) in chunk_text()) {
        let tmp = tempfile::tempdir().unwrap();
        let injected = inject_file(tmp.path(), &src);
        prop_assert_eq!(lex::outline(&injected), lex::outline_by_tokens(&injected));
        let existing = chunk::existing(&injected).expect("injected");
        let snip = existing.snippet.clone().expect("a snippet");
        prop_assert!(snip.canonical);
        prop_assert_eq!(registrations(&injected), 1);
        let stripped = strip(&injected);
        // the chunkId comment and the snippet are the injection; everything else is the program
        let e = chunk::existing(&stripped).unwrap();
        let mut skip = vec![e.snippet.unwrap().span];
        skip.extend(e.comment);
        prop_assert_eq!(program(&stripped, &skip), program(&src, &reference(&src)));
        // a directive prologue stays first (the chunk keeps strict mode)
        if let Some(first @ (Kind::Str, _)) = first_code(&src) {
            prop_assert_eq!(first_code(&injected), Some(first));
        }
        // every line of code keeps its number
        let code_lines = |s: &str, skip: &[std::ops::Range<usize>]| -> Vec<usize> {
            lex::tokens(s)
                .filter(|t| !t.is_comment() && !skip.iter().any(|r| r.start <= t.start && t.end <= r.end))
                .map(|t| s[..t.start].matches('\n').count())
                .collect()
        };
        prop_assert_eq!(code_lines(&stripped, &skip), code_lines(&src, &[]));
        // a second inject changes nothing
        prop_assert_eq!(inject_file(tmp.path(), &injected), injected);
    }

    #[test]
    fn a_minifier_rewritten_snippet_is_adopted_never_doubled((src, _) in chunk_text()) {
        let id = "7d1e0b7a-3c2f-4b8e-9a55-2f1c8e4d6b10";
        // where a plugin puts it: after the directive prologue
        let at = lex::head(&src).insert_at;
        // a minifier ends a directive with `;` before code that starts with `(`
        let code: Vec<_> = lex::tokens(&src).filter(|t| !t.is_comment()).take(2).collect();
        let src = match code.as_slice() {
            [d, n, ..] if d.kind == Kind::Str && &src[n.range()] != ";" && n.start >= at => {
                format!("{};{}", &src[..d.end], &src[d.end..])
            }
            [d] if d.kind == Kind::Str => format!("{};{}", &src[..d.end], &src[d.end..]),
            _ => src,
        };
        let at = lex::head(&src).insert_at;
        let minified = format!("{}{}{}", &src[..at], minified_snippet(id), &src[at..]);
        let tmp = tempfile::tempdir().unwrap();
        let injected = inject_file(tmp.path(), &minified);
        prop_assert_eq!(registrations(&injected), 1);
        let e = chunk::existing(&injected).unwrap();
        prop_assert_eq!(e.chunk_id.as_str(), id);
        prop_assert_eq!(snippet::comment_chunk_id(&injected).map(|(v, _)| v), Some(id));
        let stripped = strip(&injected);
        let e = chunk::existing(&stripped).unwrap();
        let comment = e.comment.clone().unwrap();
        prop_assert_eq!(program(&stripped, &[comment]), program(&minified, &reference(&minified)));
    }
}
