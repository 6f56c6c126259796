//! Text that came from outside (a server's error text, file names from the build, ids) made safe
//! to print: every log line, the text summary, annotations and command output go through
//! [`neutralize`], so such text cannot move the cursor, recolour or clear a terminal, hide
//! itself behind bidi overrides, or start a GitHub Actions workflow command (`::add-mask::`,
//! a forged `::error`, `::stop-commands::`) on a line of its own.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` is shown escaped: control characters other than line feed and tab (C0, DEL, C1;
/// ESC starts terminal escape sequences, CR can overwrite a line), and the invisible characters
/// that reorder or hide text (bidi embeddings, overrides and isolates, zero-width and BOM).
fn escaped(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Whether a line would be read by the Actions runner as a workflow command: it trims leading
/// white space and looks for `::` (and the legacy `##[` form).
fn starts_command(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("::") || t.starts_with("##[")
}

/// `s` with control and invisible characters written as `\uXXXX` (as JSON and JavaScript
/// write them, so JSON text stays valid JSON) and every line that could start
/// a workflow command prefixed with `> `. Line feeds and tabs stay; text that needs nothing is
/// returned as it is.
pub fn neutralize(s: &str) -> Cow<'_, str> {
    if !s.chars().any(escaped) && !s.split('\n').any(starts_command) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for (i, line) in s.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let mut cleaned = String::with_capacity(line.len());
        for c in line.chars() {
            if escaped(c) {
                let _ = write!(cleaned, "\\u{:04x}", c as u32);
            } else {
                cleaned.push(c);
            }
        }
        if starts_command(&cleaned) {
            out.push_str("> ");
        }
        out.push_str(&cleaned);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_untouched() {
        let s = "POST http://h/api: HTTP 400 (bad): a: b\n  next line\twith tab";
        assert!(matches!(neutralize(s), Cow::Borrowed(_)));
        assert_eq!(neutralize("déjà vu ✓"), "déjà vu ✓");
    }

    #[test]
    fn escape_sequences_and_control_characters_are_written_out() {
        assert_eq!(
            neutralize("a\u{1b}[2J\u{1b}]0;title\u{7}b\rc\u{0}d\u{7f}\u{9b}e"),
            "a\\u001b[2J\\u001b]0;title\\u0007b\\u000dc\\u0000d\\u007f\\u009be"
        );
        assert_eq!(neutralize("x\u{202E}gpj.js"), "x\\u202egpj.js");
        // JSON stays JSON, with the same value
        let json = serde_json::to_string(&"a\u{202e}b\u{1b}").unwrap();
        let back: String = serde_json::from_str(&neutralize(&json)).unwrap();
        assert_eq!(back, "a\u{202e}b\u{1b}");
        assert!(!neutralize("\u{1b}\u{200b}\u{feff}").chars().any(escaped));
    }

    #[test]
    fn lines_that_could_start_workflow_commands_are_defused() {
        let hostile =
            "bad request\n::add-mask::phx_x\n   ::warning file=a.js::forged\n##[error]old\nfine :: here";
        let n = neutralize(hostile);
        assert_eq!(
            n,
            "bad request\n> ::add-mask::phx_x\n>    ::warning file=a.js::forged\n> ##[error]old\nfine :: here"
        );
        assert!(n.split('\n').all(|l| !starts_command(l)));
        // a CR cannot make a line start over either
        let n = neutralize("x\r::error::forged");
        assert!(!n.contains('\r') && n.split('\n').all(|l| !starts_command(l)));
        assert_eq!(neutralize("::x"), "> ::x");
    }
}
