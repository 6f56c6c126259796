//! The JavaScript tokens symship needs, and the one place that decides what in a chunk is a
//! comment, a directive prologue, the injected snippet, or code.
//!
//! A narrower scan than a parser, on purpose: symship only has to know where comments, string
//! literals, template literals (with nested substitutions) and regular expression literals begin
//! and end, because only inside those can text look like a `sourceMappingURL` comment, a `data:`
//! URL or a snippet without being one. Every other token (names, numbers, punctuators) is kept as
//! a coarse token; nothing is parsed.
//!
//! The one context-dependent decision in JavaScript's lexical grammar that matters here is whether
//! a `/` starts a regular expression or is a division. It is made from the previous significant
//! token, as JS readers without a parser do (sweet.js's "read" algorithm):
//! - after a name it is a division, unless the name is a keyword that precedes an expression
//!   (`return`, `typeof`, `case`, `in`, ...); after `.`/`?.` a name is a property (division);
//! - after a number, a string, a regex, a template's end, `]`, `++` or `--`: division;
//! - after `)`: a regex only when the parenthesis opened after `if`, `while`, `for` or `with`;
//! - after `}`: a regex (the end of a block starts a statement; an object literal or a function
//!   expression followed by `/` is never written in practice, by people or minifiers);
//! - after any other punctuator, and at the start: a regex.
//!
//! The property test in `tests/it/lex_props.rs` checks these boundaries on generated code against a
//! generator that knows them, and inject + strip against the token stream.

use std::ops::Range;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `#!...` on the first line.
    Hashbang,
    /// `// ...` up to (not including) the line terminator.
    LineComment,
    /// `/* ... */`.
    BlockComment,
    /// `'...'` or `"..."`.
    Str,
    /// A template literal piece: from `` ` `` or `}` to `` ` `` or `${`, both included.
    Template,
    /// `/.../flags`.
    Regex,
    /// An identifier, keyword or private name.
    Name,
    /// A numeric literal.
    Number,
    /// Anything else: one punctuator character (`++` and `--` are one token).
    Punct,
}

/// A token and its byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

impl Token {
    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }

    pub fn is_comment(&self) -> bool {
        matches!(self.kind, Kind::LineComment | Kind::BlockComment | Kind::Hashbang)
    }

    /// A template piece that ends the literal (`` `...` `` or `` }...` ``).
    fn template_ends(&self, src: &[u8]) -> bool {
        self.kind == Kind::Template && src[self.end - 1] == b'`'
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    /// `(`; true when it follows `if`, `while`, `for` or `with`.
    Paren(bool),
    Brace,
    /// `${` of a template literal.
    Subst,
    Bracket,
}

/// A forward tokenizer over a chunk's text. Whitespace and line terminators are skipped; comments
/// are tokens.
pub struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    regex_ok: bool,
    /// The previous significant token was `.` or `?.` (a following name is a property).
    after_dot: bool,
    /// The previous significant token was `if`, `while`, `for` or `with`.
    after_cond: bool,
    stack: Vec<Open>,
    /// A token other than a comment has been read (HTML-like comments are read only before).
    seen_code: bool,
}

/// Keywords after which an expression (so a regex) may start.
fn keyword_before_expression(name: &[u8]) -> bool {
    matches!(
        name,
        b"return"
            | b"typeof"
            | b"instanceof"
            | b"in"
            | b"new"
            | b"delete"
            | b"void"
            | b"throw"
            | b"case"
            | b"do"
            | b"else"
            | b"yield"
            | b"await"
            | b"extends"
    )
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b == b'\\' || b >= 0x80
}

/// The non-ASCII characters JavaScript treats as white space or line terminators, as the length
/// of their UTF-8 encoding at `s[0..]` (0 when `s` does not start with one).
fn unicode_space(s: &[u8]) -> usize {
    match s {
        [0xC2, 0xA0, ..] => 2,
        [0xEF, 0xBB, 0xBF, ..] => 3,
        [0xE1, 0x9A, 0x80, ..] => 3,
        [0xE2, 0x80, 0x80..=0x8A | 0xA8 | 0xA9 | 0xAF, ..] => 3,
        [0xE2, 0x81, 0x9F, ..] => 3,
        [0xE3, 0x80, 0x80, ..] => 3,
        _ => 0,
    }
}

/// Whether `s` starts with a line terminator (`\n`, `\r`, U+2028, U+2029).
fn line_terminator(s: &[u8]) -> bool {
    matches!(s, [b'\n' | b'\r', ..] | [0xE2, 0x80, 0xA8 | 0xA9, ..])
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str) -> Lexer<'a> {
        Lexer {
            src: src.as_bytes(),
            pos: 0,
            regex_ok: true,
            after_dot: false,
            after_cond: false,
            stack: Vec::new(),
            seen_code: false,
        }
    }

    /// Skips white space and line terminators; returns whether a line terminator was crossed.
    fn skip_space(&mut self) -> bool {
        let mut newline = false;
        while let Some(&b) = self.src.get(self.pos) {
            match b {
                b'\n' | b'\r' => {
                    newline = true;
                    self.pos += 1;
                }
                b' ' | b'\t' | 0x0B | 0x0C => self.pos += 1,
                0x80.. => {
                    let rest = &self.src[self.pos..];
                    let n = unicode_space(rest);
                    if n == 0 {
                        break;
                    }
                    newline |= line_terminator(rest);
                    self.pos += n;
                }
                _ => break,
            }
        }
        newline
    }

    /// End of a line comment starting at `from`: the next line terminator or the end.
    fn line_end(&self, from: usize) -> usize {
        let mut i = from;
        loop {
            let rest = &self.src[i..];
            match memchr::memchr3(b'\n', b'\r', 0xE2, rest) {
                None => return self.src.len(),
                Some(k) => {
                    if line_terminator(&rest[k..]) {
                        return i + k;
                    }
                    i += k + 1;
                }
            }
        }
    }

    /// End of a quoted string starting at `from` (the quote). An unterminated string ends at the
    /// line terminator (error recovery).
    fn string_end(&self, from: usize) -> usize {
        let quote = self.src[from];
        let mut i = from + 1;
        while i < self.src.len() {
            match memchr::memchr3(quote, b'\\', b'\n', &self.src[i..]) {
                None => return self.src.len(),
                Some(k) => {
                    i += k;
                    match self.src[i] {
                        b'\\' => i += 2,
                        b'\n' => return i,
                        _ => return i + 1,
                    }
                }
            }
        }
        self.src.len()
    }

    /// Scans a template piece whose opening (`` ` `` or `}`) is at `from`; pushes a substitution
    /// when it ends with `${`.
    fn template(&mut self, from: usize) -> Token {
        let mut i = from + 1;
        while i < self.src.len() {
            match memchr::memchr3(b'`', b'\\', b'$', &self.src[i..]) {
                None => break,
                Some(k) => {
                    i += k;
                    match self.src[i] {
                        b'\\' => i += 2,
                        b'`' => {
                            self.regex_ok = false;
                            return self.token(Kind::Template, from, i + 1);
                        }
                        _ => {
                            if self.src.get(i + 1) == Some(&b'{') {
                                self.stack.push(Open::Subst);
                                self.regex_ok = true;
                                return self.token(Kind::Template, from, i + 2);
                            }
                            i += 1;
                        }
                    }
                }
            }
        }
        self.regex_ok = false;
        self.token(Kind::Template, from, self.src.len())
    }

    fn regex_end(&self, from: usize) -> usize {
        let mut i = from + 1;
        let mut class = false;
        while let Some(&b) = self.src.get(i) {
            match b {
                b'\\' => i += 2,
                b'[' => {
                    class = true;
                    i += 1
                }
                b']' => {
                    class = false;
                    i += 1
                }
                b'/' if !class => {
                    i += 1;
                    while self.src.get(i).is_some_and(|&b| is_name_byte(b)) {
                        i += 1;
                    }
                    return i;
                }
                b'\n' | b'\r' => return i,
                _ => i += 1,
            }
        }
        self.src.len().min(i)
    }

    fn token(&mut self, kind: Kind, start: usize, end: usize) -> Token {
        let end = end.min(self.src.len());
        self.pos = end;
        Token { kind, start, end }
    }

    fn punct(&mut self, start: usize, len: usize, regex_ok: bool) -> Token {
        self.regex_ok = regex_ok;
        self.after_dot = false;
        self.after_cond = false;
        self.token(Kind::Punct, start, start + len)
    }
}

impl Iterator for Lexer<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        let t = self.next_token()?;
        self.seen_code |= !t.is_comment();
        Some(t)
    }
}

impl Lexer<'_> {
    fn next_token(&mut self) -> Option<Token> {
        self.skip_space();
        let start = self.pos;
        let b = *self.src.get(start)?;
        let next = self.src.get(start + 1).copied();
        let at_start = start == 0 || (start == 3 && self.src.starts_with("\u{feff}".as_bytes()));
        if at_start && b == b'#' && next == Some(b'!') {
            let end = self.line_end(start);
            return Some(self.token(Kind::Hashbang, start, end));
        }
        // HTML-like comments (ECMA-262 Annex B.1.1, scripts only): `<!--` and, at the start of a
        // line, `-->` begin a comment to the end of the line. Only before the first token of
        // code: there neither can start a module's code (so reading them as comments is exact),
        // and a directive prologue after them must keep its place. Later, `<!--` would be
        // `< ! --` in a module; minifiers never write either.
        if !self.seen_code
            && (self.src[start..].starts_with(b"<!--") || self.src[start..].starts_with(b"-->"))
        {
            let end = self.line_end(start);
            return Some(self.token(Kind::LineComment, start, end));
        }
        match b {
            b'/' if next == Some(b'/') => {
                let end = self.line_end(start);
                Some(self.token(Kind::LineComment, start, end))
            }
            b'/' if next == Some(b'*') => {
                let end = memchr::memmem::find(&self.src[start + 2..], b"*/")
                    .map_or(self.src.len(), |k| start + 2 + k + 2);
                Some(self.token(Kind::BlockComment, start, end))
            }
            b'/' if self.regex_ok => {
                let end = self.regex_end(start);
                self.regex_ok = false;
                self.after_dot = false;
                self.after_cond = false;
                Some(self.token(Kind::Regex, start, end))
            }
            b'\'' | b'"' => {
                let end = self.string_end(start);
                self.regex_ok = false;
                self.after_dot = false;
                self.after_cond = false;
                Some(self.token(Kind::Str, start, end))
            }
            b'`' => {
                self.after_dot = false;
                self.after_cond = false;
                Some(self.template(start))
            }
            b'}' if self.stack.last() == Some(&Open::Subst) => {
                self.stack.pop();
                Some(self.template(start))
            }
            b'0'..=b'9' => {
                let mut i = start + 1;
                while let Some(&c) = self.src.get(i) {
                    if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' {
                        i += 1;
                    } else if (c == b'+' || c == b'-') && matches!(self.src[i - 1], b'e' | b'E') {
                        // an exponent's sign, unless the number is hexadecimal (0xe-1)
                        let hex =
                            self.src[start..i].starts_with(b"0x") || self.src[start..i].starts_with(b"0X");
                        if hex {
                            break;
                        }
                        i += 1;
                    } else {
                        break;
                    }
                }
                self.regex_ok = false;
                self.after_dot = false;
                self.after_cond = false;
                Some(self.token(Kind::Number, start, i))
            }
            b'.' if next.is_some_and(|c| c.is_ascii_digit()) => {
                let mut i = start + 1;
                while let Some(&c) = self.src.get(i) {
                    let exponent_sign = (c == b'+' || c == b'-') && matches!(self.src[i - 1], b'e' | b'E');
                    if c.is_ascii_alphanumeric() || c == b'_' || exponent_sign {
                        i += 1;
                    } else {
                        break;
                    }
                }
                self.regex_ok = false;
                self.after_dot = false;
                self.after_cond = false;
                Some(self.token(Kind::Number, start, i))
            }
            c if is_name_byte(c) || c == b'#' => {
                let mut i = start + 1;
                while let Some(&c) = self.src.get(i) {
                    if c >= 0x80 && unicode_space(&self.src[i..]) > 0 {
                        break;
                    }
                    if is_name_byte(c) {
                        // an escape like \u0061 is part of the name
                        i += if c == b'\\' { 2 } else { 1 };
                    } else {
                        break;
                    }
                }
                let name = &self.src[start..i.min(self.src.len())];
                let property = self.after_dot;
                self.regex_ok = !property && keyword_before_expression(name);
                self.after_cond = !property && matches!(name, b"if" | b"while" | b"for" | b"with");
                self.after_dot = false;
                Some(self.token(Kind::Name, start, i))
            }
            b'(' => {
                self.stack.push(Open::Paren(self.after_cond));
                Some(self.punct(start, 1, true))
            }
            b')' => {
                let cond = match self.stack.last() {
                    Some(Open::Paren(c)) => {
                        let c = *c;
                        self.stack.pop();
                        c
                    }
                    _ => false,
                };
                Some(self.punct(start, 1, cond))
            }
            b'{' => {
                self.stack.push(Open::Brace);
                Some(self.punct(start, 1, true))
            }
            b'}' => {
                if self.stack.last() == Some(&Open::Brace) {
                    self.stack.pop();
                }
                Some(self.punct(start, 1, true))
            }
            b'[' => {
                self.stack.push(Open::Bracket);
                Some(self.punct(start, 1, true))
            }
            b']' => {
                if self.stack.last() == Some(&Open::Bracket) {
                    self.stack.pop();
                }
                Some(self.punct(start, 1, false))
            }
            b'+' | b'-' if next == Some(b) => Some(self.punct(start, 2, false)),
            b'.' => {
                let t = self.punct(start, 1, true);
                self.after_dot = true;
                Some(t)
            }
            b'?' if next == Some(b'.') && !self.src.get(start + 2).is_some_and(|c| c.is_ascii_digit()) => {
                let t = self.punct(start, 2, true);
                self.after_dot = true;
                Some(t)
            }
            _ => Some(self.punct(start, 1, true)),
        }
    }
}

/// The tokens of `src`, comments included.
pub fn tokens(src: &str) -> Lexer<'_> {
    Lexer::new(src)
}

/// A comment that may carry a magic value: `//# key=value` or `//@ key=value` (the source map
/// spec's form; `//@` is the legacy one), or the same in a one-line block comment,
/// `/*# key=value */` (ECMA-426 §11.1.2.1 reads `sourceMappingURL` from multi-line comments
/// too; CoffeeScript, Closure Compiler and CSS tools write this form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MagicComment {
    /// The comment token (from `//` to the end of its line, line terminator excluded; or from
    /// `/*` to `*/`, both included).
    pub span: Range<usize>,
    /// Whether only white space precedes it on its line.
    pub own_line: bool,
    /// Whether only comments and white space follow it (it is in the trailing comment block).
    pub trailing: bool,
}

/// What symship reads from a whole chunk: its magic comments. One pass over the tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outline {
    pub magic: Vec<MagicComment>,
}

impl Outline {
    /// The last magic comment whose text starts with one of `prefixes` (given in the line form,
    /// `//# key=`; a block comment `/*# key=value */` matches it too), with its value (after the
    /// prefix, trimmed; in a block comment, up to `*/` and without white space inside) and the
    /// value's byte range.
    pub fn last<'s>(
        &self,
        src: &'s str,
        prefixes: &[&str],
    ) -> Option<(&MagicComment, &'s str, Range<usize>)> {
        self.magic
            .iter()
            .rev()
            .find_map(|m| m.value(src, prefixes).map(|(v, r)| (m, v, r)))
    }

    /// Every magic comment whose text starts with one of `prefixes`, in file order, as
    /// [`Outline::last`] reads each.
    pub fn matching<'s>(
        &self,
        src: &'s str,
        prefixes: &[&str],
    ) -> Vec<(&MagicComment, &'s str, Range<usize>)> {
        self.magic
            .iter()
            .filter_map(|m| m.value(src, prefixes).map(|(v, r)| (m, v, r)))
            .collect()
    }
}

impl MagicComment {
    /// The comment's value after the first of `prefixes` it starts with (see [`Outline::last`]).
    fn value<'s>(&self, src: &'s str, prefixes: &[&str]) -> Option<(&'s str, Range<usize>)> {
        let text = &src[self.span.clone()];
        let (body, block) = match text.strip_prefix("/*") {
            Some(b) => (b.strip_suffix("*/")?, true),
            None => (&text[2..], false),
        };
        let rest = prefixes
            .iter()
            .find_map(|p| body.strip_prefix(p.strip_prefix("//").unwrap_or(p)))?;
        let value = rest.trim();
        if block && value.contains(char::is_whitespace) {
            return None;
        }
        let start = value.as_ptr() as usize - src.as_ptr() as usize;
        Some((value, start..start + value.len()))
    }
}

/// Finds every `//#`/`//@` comment and one-line `/*#`/`/*@` comment that is a real comment (not
/// text inside a string, template or regex).
///
/// Most chunks are not tokenized at all: a file without one of the markers has no magic comment,
/// and a file whose markers all sit in its trailing block of plain line comments (the
/// `//# sourceMappingURL=` and `//# chunkId=` lines bundlers and inject append) is read from
/// that block alone (see [`trailing_line_comments`]). Either answer is the tokenizer's for every
/// program that parses; [`outline_by_tokens`] is the tokenizer's.
pub fn outline(src: &str) -> Outline {
    let block = trailing_line_comments(src);
    if !has_marker(&src.as_bytes()[..block]) {
        return Outline {
            magic: magic_lines(src, block),
        };
    }
    outline_by_tokens(src)
}

/// Whether `bytes` hold one of the byte sequences that open a magic comment, `//#`, `//@`, `/*#`
/// or `/*@` (one pass).
fn has_marker(bytes: &[u8]) -> bool {
    memchr::memchr2_iter(b'#', b'@', bytes)
        .any(|i| i >= 2 && bytes[i - 2] == b'/' && matches!(bytes[i - 1], b'/' | b'*'))
}

/// Where the file's trailing block of plain line comments starts (`src.len()` when its last line
/// is something else): the longest run of last lines that are each blank or a `//` comment
/// holding no quote, backtick, `*/` or U+2028/U+2029, with only spaces or tabs before it.
///
/// Each such line is a real comment, whatever comes before it, in every program that parses:
/// `//` opens a comment wherever code may stand (ECMA-262 §12.9.5: a regular expression cannot
/// start with `/`), a regular expression or a string without a line continuation cannot span
/// lines, and a string, template or block comment open above the block could only close with a
/// quote, backtick or `*/` inside it. Nothing but comments follows them, so they are trailing.
fn trailing_line_comments(src: &str) -> usize {
    let bytes = src.as_bytes();
    let mut start = bytes.len();
    loop {
        // the line that ends at `start` (its terminator excluded)
        let line_start = memchr::memrchr2(b'\n', b'\r', &bytes[..start]).map_or(0, |i| i + 1);
        let line = &bytes[line_start..start];
        let text = {
            let lead = line.iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
            &line[lead..]
        };
        let plain = text.is_empty()
            || (text.starts_with(b"//")
                && memchr::memchr3(b'"', b'\'', b'`', text).is_none()
                && memchr::memmem::find(text, b"*/").is_none()
                && memchr::memmem::find(text, "\u{2028}".as_bytes()).is_none()
                && memchr::memmem::find(text, "\u{2029}".as_bytes()).is_none());
        if !plain {
            return start;
        }
        if line_start == 0 {
            return 0;
        }
        start = line_start - 1;
    }
}

/// The magic comments of the trailing block that starts at `block` (see [`trailing_line_comments`]).
fn magic_lines(src: &str, block: usize) -> Vec<MagicComment> {
    let bytes = src.as_bytes();
    let mut magic = Vec::new();
    let mut at = block;
    while at < bytes.len() {
        let end = memchr::memchr2(b'\n', b'\r', &bytes[at..]).map_or(bytes.len(), |i| at + i);
        let lead = bytes[at..end]
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t'))
            .count();
        let start = at + lead;
        if end - start >= 3 && bytes[start] == b'/' && matches!(bytes[start + 2], b'#' | b'@') {
            magic.push(MagicComment {
                span: start..end,
                own_line: true,
                trailing: true,
            });
        }
        at = end + 1;
    }
    magic
}

/// [`outline`] by tokenizing the whole file.
pub fn outline_by_tokens(src: &str) -> Outline {
    let bytes = src.as_bytes();
    if !has_marker(bytes) {
        return Outline::default();
    }
    let mut magic: Vec<MagicComment> = Vec::new();
    // index into `magic` from which comments are still trailing (no code after them yet)
    let mut trailing_from = 0;
    for t in tokens(src) {
        match t.kind {
            Kind::LineComment | Kind::BlockComment => {
                let magic_marker = matches!(bytes.get(t.start + 2), Some(b'#' | b'@'));
                let one_line = t.kind == Kind::LineComment
                    || !src[t.range()].contains(['\n', '\r', '\u{2028}', '\u{2029}']);
                if magic_marker && one_line {
                    let line_start = src[..t.start]
                        .rfind(['\n', '\r', '\u{2028}', '\u{2029}'])
                        .map_or(0, |i| i + src[i..].chars().next().map_or(1, char::len_utf8));
                    let own_line = src[line_start..t.start].trim().is_empty();
                    magic.push(MagicComment {
                        span: t.range(),
                        own_line,
                        trailing: false,
                    });
                }
            }
            Kind::Hashbang => {}
            _ => trailing_from = magic.len(),
        }
    }
    for m in &mut magic[trailing_from..] {
        m.trailing = true;
    }
    Outline { magic }
}

/// The range to remove to delete a magic comment without moving any line that code is on: its own
/// line (with one line terminator) when it stands alone on a line of the trailing comment block,
/// otherwise only the comment's text.
pub fn removal_range(src: &str, m: &MagicComment) -> Range<usize> {
    let rest_of_line = src[m.span.end..]
        .split(['\n', '\r', '\u{2028}', '\u{2029}'])
        .next()
        .unwrap_or("");
    if !(m.own_line && m.trailing && rest_of_line.trim().is_empty()) {
        // (a block comment can have another comment after it on its line)
        return m.span.clone();
    }
    let line_start = src[..m.span.start]
        .rfind(['\n', '\r', '\u{2028}', '\u{2029}'])
        .map_or(0, |i| i + src[i..].chars().next().map_or(1, char::len_utf8));
    let end = m.span.end;
    let rest = &src[end..];
    let lt = if rest.starts_with("\r\n") {
        2
    } else {
        rest.chars()
            .next()
            .filter(|c| matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}'))
            .map_or(0, char::len_utf8)
    };
    if lt > 0 {
        line_start..end + lt
    } else {
        // the last line: take the line terminator before it instead
        let before = &src[..line_start];
        let lt_before = if before.ends_with("\r\n") {
            2
        } else {
            before.chars().next_back().map_or(0, char::len_utf8)
        };
        line_start - lt_before..end
    }
}

/// The top of a chunk: where a snippet goes, and the first statement after the prologue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// After a hashbang line, a byte-order mark, and the directive prologue (comments between
    /// directives included). Where a new snippet goes.
    pub insert_at: usize,
    /// The first expression of the first statement after the prologue (up to the first `,` or
    /// `;` outside brackets; the `;` included), as tokens. Empty when there is no statement.
    pub first: Vec<Token>,
}

/// Tokens of one statement's first expression are read up to this many (a snippet has about 100).
const FIRST_LIMIT: usize = 400;

/// Reads the top of a chunk.
pub fn head(src: &str) -> Head {
    let bytes = src.as_bytes();
    let mut lx = tokens(src);
    let mut insert_at = 0;
    if src.starts_with('\u{feff}') {
        insert_at = 3;
    }
    // The directive prologue: string-literal statements, each ended by `;` or by a line
    // terminator before a token that cannot continue the expression.
    let mut first_code: Option<Token> = None;
    while let Some(t) = lx.next() {
        match t.kind {
            Kind::Hashbang => {
                let rest = &src[t.end..];
                insert_at = t.end
                    + if rest.starts_with("\r\n") {
                        2
                    } else {
                        usize::from(!rest.is_empty())
                    };
            }
            Kind::LineComment | Kind::BlockComment => {}
            Kind::Str => {
                // Look at what follows the string.
                let mut after = None;
                let mut newline = false;
                let mut lookahead = tokens(src);
                lookahead.pos = t.end;
                lookahead.regex_ok = false;
                lookahead.seen_code = true;
                for n in lookahead.by_ref() {
                    if n.is_comment() {
                        if n.kind == Kind::LineComment || src[n.range()].contains(['\n', '\r']) {
                            newline = true;
                        }
                        continue;
                    }
                    after = Some(n);
                    break;
                }
                newline |=
                    after.is_some_and(|n| src[t.end..n.start].contains(['\n', '\r', '\u{2028}', '\u{2029}']));
                match after {
                    Some(n) if n.kind == Kind::Punct && bytes[n.start] == b';' => {
                        insert_at = n.end;
                        lx.pos = n.end;
                        lx.regex_ok = true;
                    }
                    None => {
                        // nothing but comments after the prologue: the snippet goes after the
                        // line break that ends the directive (right after a directive with no
                        // `;`, the snippet would join its statement); without one, before it
                        if let Some(at) = line_break_after(src, t.end) {
                            insert_at = at;
                        }
                        lx.pos = src.len();
                    }
                    Some(n)
                        if newline
                            && ((matches!(n.kind, Kind::Name | Kind::Str | Kind::Number)
                                // `in` and `instanceof` continue the expression: `"length"\nin o`
                                // is one statement, not a directive (no automatic semicolon)
                                && !(n.kind == Kind::Name && matches!(&src[n.range()], "in" | "instanceof")))
                                || (n.kind == Kind::Punct
                                    && (matches!(bytes[n.start], b'{' | b'}' | b'~')
                                        // `!` starts a new statement; `!=` and `!==` continue this one
                                        || (bytes[n.start] == b'!' && bytes.get(n.start + 1) != Some(&b'='))))) =>
                    {
                        // ended by a line break (automatic semicolon insertion): the snippet goes
                        // before the next token, after that line break, where the snippet's `!`
                        // cannot continue the directive; right after the string it would
                        // (`"use strict"!function…` is a syntax error)
                        insert_at = n.start;
                        lx.pos = t.end;
                        lx.regex_ok = true;
                    }
                    _ => {
                        // the string is the start of an expression, not a directive
                        first_code = Some(t);
                        break;
                    }
                }
            }
            _ => {
                first_code = Some(t);
                break;
            }
        }
    }
    let mut first = Vec::new();
    if let Some(t) = first_code {
        let mut depth: i32 = 0;
        let mut tok = Some(t);
        while let Some(t) = tok {
            if !t.is_comment() {
                first.push(t);
                if first.len() > FIRST_LIMIT {
                    first.clear();
                    break;
                }
                if t.kind == Kind::Punct {
                    match bytes[t.start] {
                        b'(' | b'[' | b'{' => depth += 1,
                        b')' | b']' | b'}' => depth -= 1,
                        b';' | b',' if depth <= 0 => {
                            if bytes[t.start] == b',' {
                                first.pop();
                            }
                            break;
                        }
                        _ => {}
                    }
                } else if t.kind == Kind::Template {
                    // `${` opens a substitution, a leading `}` closes one
                    depth += i32::from(!t.template_ends(bytes)) - i32::from(bytes[t.start] == b'}');
                }
            }
            tok = lx.next();
        }
    }
    Head { insert_at, first }
}

/// Pieces of `src`'s top level that may each be a statement of their own, holding the name
/// `name`: from each token at bracket depth 0 that may start a called function (`!`, `(`, `~`,
/// `+`, `-`, `void`) or a `try` statement, and follows the start of the file, a `;` or `,` at
/// depth 0 or a `}` back to depth 0 (the end of a declaration or block), its tokens up to the
/// next `;` (included) or `,` at depth 0, as [`Head::first`] reads the first statement. For a
/// snippet a minifier left below other top-level code (terser puts function declarations
/// first). Tokenizes the whole file: call it only when `name` occurs outside the first statement.
pub fn top_level_pieces(src: &str, name: &str) -> Vec<Vec<Token>> {
    let bytes = src.as_bytes();
    let toks: Vec<Token> = tokens(src).filter(|t| !t.is_comment()).collect();
    let mut depth_before = Vec::with_capacity(toks.len());
    let mut depth: i32 = 0;
    for t in &toks {
        depth_before.push(depth);
        match t.kind {
            Kind::Punct => match bytes[t.start] {
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => depth -= 1,
                _ => {}
            },
            Kind::Template => {
                depth += i32::from(!t.template_ends(bytes)) - i32::from(bytes[t.start] == b'}');
            }
            _ => {}
        }
    }
    let punct = |t: &Token, set: &[u8]| t.kind == Kind::Punct && set.contains(&bytes[t.start]);
    let mut out = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        let starter =
            punct(t, b"!(~+-") || (t.kind == Kind::Name && matches!(&src[t.range()], "void" | "try"));
        if depth_before[i] != 0 || !starter {
            continue;
        }
        let follows_boundary = i == 0
            || (punct(&toks[i - 1], b";,") && depth_before[i - 1] == 0)
            || (punct(&toks[i - 1], b"}") && depth_before[i - 1] == 1);
        if !follows_boundary {
            continue;
        }
        let mut piece = Vec::new();
        let mut holds_name = false;
        for (k, u) in toks.iter().enumerate().skip(i) {
            if depth_before[k] == 0 && punct(u, b",") && k > i {
                break;
            }
            holds_name |= u.kind == Kind::Name && &src[u.range()] == name;
            piece.push(*u);
            if piece.len() > FIRST_LIMIT || (depth_before[k] == 0 && punct(u, b";")) {
                break;
            }
        }
        if holds_name && piece.len() <= FIRST_LIMIT {
            out.push(piece);
        }
    }
    out
}

/// The position just after the first line terminator after `from` that is not inside a comment,
/// when only comments and white space follow `from`.
fn line_break_after(src: &str, from: usize) -> Option<usize> {
    let mut lx = tokens(src);
    lx.pos = from;
    lx.seen_code = true;
    let mut gap_start = from;
    loop {
        let next = lx.next();
        let gap_end = next.map_or(src.len(), |t| t.start);
        let gap = &src[gap_start..gap_end];
        if let Some(i) = gap.find(['\n', '\r', '\u{2028}', '\u{2029}']) {
            let lt = if gap[i..].starts_with("\r\n") {
                2
            } else {
                gap[i..].chars().next().map_or(1, char::len_utf8)
            };
            return Some(gap_start + i + lt);
        }
        let t = next?;
        if !t.is_comment() {
            return None;
        }
        gap_start = t.end;
    }
}

/// The value of a string literal or of a template literal without substitutions; `None` for
/// anything else or an escape this reader does not know.
pub fn literal_value(src: &str, t: &Token) -> Option<String> {
    let raw = &src[t.range()];
    let inner = match t.kind {
        Kind::Str if raw.len() >= 2 && raw.ends_with(&raw[..1]) => &raw[1..raw.len() - 1],
        Kind::Template if raw.len() >= 2 && raw.starts_with('`') && raw.ends_with('`') => {
            &raw[1..raw.len() - 1]
        }
        _ => return None,
    };
    if !inner.contains('\\') {
        return Some(inner.to_string());
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            '0' => out.push('\0'),
            'x' => {
                let h: String = chars.by_ref().take(2).collect();
                out.push(char::from_u32(u32::from_str_radix(&h, 16).ok()?)?);
            }
            'u' => {
                let rest = chars.as_str();
                let (hex, used) = if let Some(r) = rest.strip_prefix('{') {
                    let close = r.find('}')?;
                    (&r[..close], close + 2)
                } else {
                    (rest.get(..4)?, 4)
                };
                let v = u32::from_str_radix(hex, 16).ok()?;
                out.push(char::from_u32(v)?);
                chars = rest[used..].chars();
            }
            c @ ('\'' | '"' | '`' | '\\' | '$' | '/') => out.push(c),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trailing_block_gives_the_tokenizers_outline() {
        for (src, block) in [
            ("f();\n//# sourceMappingURL=a.js.map", 4),
            (
                "f();\r\n//# chunkId=x\r\n//# sourceMappingURL=a.js.map\r\n\r\n",
                4,
            ),
            (
                "f();\r//# sourceMappingURL=a.js.map\n  \t//@ sourceMappingURL=b.map  ",
                4,
            ),
            ("//# sourceMappingURL=a.js.map", 0),
            ("", 0),
            // a template, a string continuation and a block comment close inside their last line:
            // that line is not part of the block, and the markers above are tokenized
            ("x=`\n//# sourceMappingURL=in-template.map\n`", usize::MAX),
            ("x='\\\n//# sourceMappingURL=in-string.map'", usize::MAX),
            ("/*\n//# sourceMappingURL=in-comment.map */", usize::MAX),
            ("f();\n//# sourceMappingURL=a.js.map\u{2028}g()", usize::MAX),
            ("f();\n/*# sourceMappingURL=a.js.map */", usize::MAX),
        ] {
            // (usize::MAX: the last line is not in a block, which is empty)
            assert_eq!(trailing_line_comments(src), block.min(src.len()), "{src:?}");
            assert_eq!(outline(src), outline_by_tokens(src), "{src:?}");
        }
    }

    fn kinds(src: &str) -> Vec<(Kind, &str)> {
        tokens(src).map(|t| (t.kind, &src[t.range()])).collect()
    }

    #[test]
    fn regex_or_division() {
        use Kind::*;
        assert_eq!(
            kinds("a/b/c"),
            [(Name, "a"), (Punct, "/"), (Name, "b"), (Punct, "/"), (Name, "c")]
        );
        assert_eq!(
            kinds("x=/a\\/[/]b/g"),
            [(Name, "x"), (Punct, "="), (Regex, "/a\\/[/]b/g")]
        );
        assert_eq!(kinds("if(a)/re/.test(b)")[4], (Regex, "/re/"));
        assert_eq!(kinds("f(a)/2")[4], (Punct, "/"));
        assert_eq!(kinds("return/re/")[1], (Regex, "/re/"));
        assert_eq!(kinds("a.return/2")[3], (Punct, "/"));
        assert_eq!(kinds("}/re/")[1], (Regex, "/re/"));
        assert_eq!(kinds("a++/2")[2], (Punct, "/"));
        assert_eq!(kinds("1e-5/2")[1], (Punct, "/"));
    }

    #[test]
    fn templates_nest() {
        let src = "`a ${ {b:`c ${d}`} } e`/2;//# x";
        let k = kinds(src);
        assert_eq!(k[0], (Kind::Template, "`a ${"));
        assert!(k.contains(&(Kind::Template, "`c ${")));
        assert!(k.contains(&(Kind::Template, "} e`")));
        assert_eq!(k[k.len() - 1], (Kind::LineComment, "//# x"));
        assert!(k.contains(&(Kind::Punct, "/")));
    }

    #[test]
    fn magic_comments_are_only_real_comments() {
        let src = "var s=`\n//# sourceMappingURL=no.map\n`, r=/\\/\\/# x/;\n// plain\n//# sourceMappingURL=yes.map\n//# chunkId=1";
        let o = outline(src);
        assert_eq!(o.magic.len(), 2);
        let (m, v, _) = o.last(src, &["//# sourceMappingURL="]).unwrap();
        assert_eq!(v, "yes.map");
        assert!(m.trailing && m.own_line);
        assert_eq!(o.last(src, &["//# chunkId="]).unwrap().1, "1");
        assert!(outline("a='//# sourceMappingURL=x'").magic.is_empty());
    }

    #[test]
    fn removal_keeps_code_lines_in_place() {
        let src = "a;\n//# sourceMappingURL=a.js.map\n\n//# chunkId=x";
        let o = outline(src);
        let r = removal_range(src, &o.magic[0]);
        assert_eq!(
            format!("{}{}", &src[..r.start], &src[r.end..]),
            "a;\n\n//# chunkId=x"
        );
        let src = "a;\n//# sourceMappingURL=a.js.map";
        let r = removal_range(src, &outline(src).magic[0]);
        assert_eq!(&src[..r.start], "a;");
        // code after it: only the comment's text goes, the line stays
        let src = "a;\n//# sourceMappingURL=a.js.map\nb;";
        let r = removal_range(src, &outline(src).magic[0]);
        assert_eq!(format!("{}{}", &src[..r.start], &src[r.end..]), "a;\n\nb;");
    }

    #[test]
    fn prologue_and_first_statement() {
        let src = "/*! banner */\n'use strict';\n\nfunction f(){}";
        let h = head(src);
        assert_eq!(&src[..h.insert_at], "/*! banner */\n'use strict';");
        assert_eq!(&src[h.first[0].range()], "function");
        // directives ended by line breaks: the snippet goes before the next statement, after the
        // line break, never right after a string, where it would continue the directive's
        // statement (`"use strict"!function…`, a syntax error; issue 13's tester)
        let src = "#!/usr/bin/env node\n\"use strict\"\n'use asm'\nx()";
        assert_eq!(
            &src[..head(src).insert_at],
            "#!/usr/bin/env node\n\"use strict\"\n'use asm'\n"
        );
        for (src, before) in [
            ("\"use strict\"\nconsole.log(1)", "\"use strict\"\n"),
            ("\"use strict\" /* x */\nf()", "\"use strict\" /* x */\n"),
            ("\"use strict\"\n// x\nf()", "\"use strict\"\n// x\n"),
            ("'use strict'\r\nf()", "'use strict'\r\n"),
            ("\"use strict\"\u{2028}f()", "\"use strict\"\u{2028}"),
            (
                "// c\n\"use client\"\n\"use strict\"\nf()",
                "// c\n\"use client\"\n\"use strict\"\n",
            ),
            (
                "#!/usr/bin/env node\n/*! x */\n\"use strict\"\nf()",
                "#!/usr/bin/env node\n/*! x */\n\"use strict\"\n",
            ),
        ] {
            assert_eq!(&src[..head(src).insert_at], before, "{src:?}");
        }
        // a file that is only a directive: the snippet goes after the line break that ends it,
        // so the directive stays first; without a line break, before it (nothing runs after it)
        assert_eq!(head("'use strict'").insert_at, 0);
        assert_eq!(head("#!x\n'use strict'\n").insert_at, 17);
        assert_eq!(head("'a' /* x\n */ // y\n\n").insert_at, 18);
        assert_eq!(head("'a'\r\n//# sourceMappingURL=a.map").insert_at, 5);
        assert_eq!(head("'a'+b").insert_at, 0);
        // a string and a line break before an operator that continues its expression is no
        // directive (a fresh tester: the snippet went between `"length"` and `in`, a syntax error)
        for src in [
            "\"length\"\nin{length:1}&&f()",
            "\"a\"\ninstanceof String||f()",
            "\"a\"\n!==\"b\"&&f()",
            "\"a\"\n!=\"b\"&&f()",
            "'a' // x\nin o",
        ] {
            assert_eq!(head(src).insert_at, 0, "{src:?}");
        }
        // a name that merely begins with `in`, and `!` alone, still start the next statement
        assert_eq!(head("\"use strict\"\ninit()").insert_at, 13);
        assert_eq!(head("\"use strict\"\n!function(){}()").insert_at, 13);
        assert_eq!(head("a();").insert_at, 0);
        assert_eq!(head("\u{feff}a();").insert_at, 3);
        assert_eq!(head("#!x").insert_at, 3);
        let src = "(function(){x()})(),y();";
        let h = head(src);
        assert_eq!(
            &src[h.first[0].start..h.first.last().unwrap().end],
            "(function(){x()})()"
        );
    }

    #[test]
    fn literal_values() {
        let v = |s: &str| {
            let t = tokens(s).next().unwrap();
            literal_value(s, &t)
        };
        assert_eq!(v("'a\\'b'").as_deref(), Some("a'b"));
        assert_eq!(v("`x`").as_deref(), Some("x"));
        assert_eq!(v("\"\\u0041\\x42\\u{43}\"").as_deref(), Some("ABC"));
        assert_eq!(v("`a${b}`"), None);
    }
}
