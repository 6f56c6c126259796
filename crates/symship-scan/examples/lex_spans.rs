//! Prints, per JavaScript file, the byte ranges symship's lexer takes for string literals,
//! template literal text (backticks included, `${`/`}` excluded), regular expressions and
//! comments: `bench/lex-diff.sh` compares them with acorn's tokenizer on real builds.
#![allow(clippy::print_stdout)]

use symship_scan::lex::{self, Kind};

fn main() {
    for path in std::env::args().skip(1) {
        let Ok(src) = std::fs::read_to_string(&path) else {
            continue;
        };
        let b = src.as_bytes();
        let mut spans: Vec<(usize, usize)> = Vec::new();
        for t in lex::tokens(&src) {
            let (mut s, mut e) = (t.start, t.end);
            match t.kind {
                Kind::Str | Kind::Regex | Kind::LineComment | Kind::BlockComment | Kind::Hashbang => {}
                Kind::Template => {
                    if b[s] == b'}' {
                        s += 1;
                    }
                    if e >= 2 && &b[e - 2..e] == b"${" && e - 2 >= s {
                        e -= 2;
                    }
                }
                _ => continue,
            }
            if s < e {
                match spans.last_mut() {
                    Some(last) if last.1 == s => last.1 = e,
                    _ => spans.push((s, e)),
                }
            }
        }
        let list: Vec<String> = spans.iter().map(|(s, e)| format!("{s}-{e}")).collect();
        println!("{path}\t{}", list.join(","));
    }
}
