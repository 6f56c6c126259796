//! A scanner for the top level of a JSON object that records where each value sits, so a
//! sourcemap can be edited in place: only the bytes that change are touched, the rest of the
//! file (formatting, key order, `sourcesContent`) is copied as it was.

use std::ops::Range;

/// One `"key": value` member of an object.
#[derive(Debug, Clone)]
pub struct Member {
    pub key: String,
    /// From the opening quote of the key to the end of the value.
    pub span: Range<usize>,
    pub value: Range<usize>,
}

/// The members of the object that starts at the first non-blank byte of `text[range]`.
#[derive(Debug, Clone)]
pub struct Object {
    /// Offset of the `{`.
    pub open: usize,
    /// Offset of the `}`.
    pub close: usize,
    pub members: Vec<Member>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0} at byte {1}")]
pub struct SyntaxError(pub &'static str, pub usize);

impl Object {
    pub fn get(&self, key: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.key == key)
    }

    /// Parses the object at `text[range]`. The caller validated the whole document first, so
    /// this only has to find boundaries; it still refuses anything it cannot follow.
    pub fn parse(text: &[u8], range: Range<usize>) -> Result<Object, SyntaxError> {
        let end = range.end;
        let mut i = skip_ws(text, range.start, end);
        if text.get(i) != Some(&b'{') {
            return Err(SyntaxError("expected an object", i));
        }
        let open = i;
        i += 1;
        let mut members = Vec::new();
        loop {
            i = skip_ws(text, i, end);
            match text.get(i) {
                Some(b'}') => {
                    return Ok(Object {
                        open,
                        close: i,
                        members,
                    });
                }
                Some(b'"') => {}
                _ => return Err(SyntaxError("expected a key", i)),
            }
            let key_start = i;
            let key_end = skip_string(text, i, end)?;
            let key: String = serde_json::from_slice(&text[key_start..key_end])
                .map_err(|_| SyntaxError("bad key", key_start))?;
            i = skip_ws(text, key_end, end);
            if text.get(i) != Some(&b':') {
                return Err(SyntaxError("expected ':'", i));
            }
            i = skip_ws(text, i + 1, end);
            let value_start = i;
            let value_end = skip_value(text, i, end)?;
            members.push(Member {
                key,
                span: key_start..value_end,
                value: value_start..value_end,
            });
            i = skip_ws(text, value_end, end);
            match text.get(i) {
                Some(b',') => i += 1,
                Some(b'}') => {
                    return Ok(Object {
                        open,
                        close: i,
                        members,
                    })
                }
                _ => return Err(SyntaxError("expected ',' or '}'", i)),
            }
        }
    }
}

/// The elements of the array at `text[range]`, as value ranges.
pub fn array_elements(text: &[u8], range: Range<usize>) -> Result<Vec<Range<usize>>, SyntaxError> {
    let end = range.end;
    let mut i = skip_ws(text, range.start, end);
    if text.get(i) != Some(&b'[') {
        return Err(SyntaxError("expected an array", i));
    }
    i += 1;
    let mut out = Vec::new();
    loop {
        i = skip_ws(text, i, end);
        if text.get(i) == Some(&b']') {
            return Ok(out);
        }
        let start = i;
        i = skip_value(text, i, end)?;
        out.push(start..i);
        i = skip_ws(text, i, end);
        match text.get(i) {
            Some(b',') => i += 1,
            Some(b']') => return Ok(out),
            _ => return Err(SyntaxError("expected ',' or ']'", i)),
        }
    }
}

/// How deep arrays and objects may nest in a map: serde_json's limit, which posthog-cli and
/// PostHog's symbolication (cymbal, through the `sourcemap` crate) parse maps with, so a deeper
/// map could not be used by the server anyway. A real map nests 5 levels at most (index map,
/// sections, section, map, sources).
pub const MAX_DEPTH: usize = 128;

/// The byte offset of the first `[` or `{` nested deeper than `limit` in the JSON `text`, found
/// without recursion (strings are skipped, so brackets inside them do not count).
pub fn too_deep(text: &[u8], limit: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'"' => match skip_string(text, i, text.len()) {
                Ok(j) => {
                    i = j;
                    continue;
                }
                Err(_) => return None,
            },
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Some(i);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

fn skip_ws(text: &[u8], mut i: usize, end: usize) -> usize {
    while i < end && matches!(text[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// `text[i]` is a quote; returns the offset just past the closing quote.
fn skip_string(text: &[u8], i: usize, end: usize) -> Result<usize, SyntaxError> {
    let mut j = i + 1;
    while j < end {
        // Maps are mostly long strings (`mappings`, `sourcesContent`): jump to the next quote
        // or backslash.
        match memchr::memchr2(b'"', b'\\', &text[j..end]) {
            None => break,
            Some(k) => {
                j += k;
                if text[j] == b'"' {
                    return Ok(j + 1);
                }
                j += 2;
            }
        }
    }
    Err(SyntaxError("unterminated string", i))
}

fn skip_value(text: &[u8], i: usize, end: usize) -> Result<usize, SyntaxError> {
    match text.get(i) {
        Some(b'"') => skip_string(text, i, end),
        Some(b'{') | Some(b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while j < end {
                match text[j] {
                    b'"' => {
                        j = skip_string(text, j, end)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            Err(SyntaxError("unterminated object or array", i))
        }
        Some(_) => {
            let mut j = i;
            while j < end && !matches!(text[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                j += 1;
            }
            if j == i {
                Err(SyntaxError("expected a value", i))
            } else {
                Ok(j)
            }
        }
        None => Err(SyntaxError("unexpected end", i)),
    }
}

/// A list of replacements applied in one pass.
#[derive(Debug, Default)]
pub struct Edits {
    edits: Vec<(Range<usize>, Vec<u8>)>,
}

impl Edits {
    pub fn replace(&mut self, range: Range<usize>, with: impl Into<Vec<u8>>) {
        self.edits.push((range, with.into()));
    }

    pub fn insert(&mut self, at: usize, with: impl Into<Vec<u8>>) {
        self.edits.push((at..at, with.into()));
    }

    pub fn is_empty(&self) -> bool {
        self.edits.is_empty()
    }

    /// Whether an edit falls inside `range`.
    pub fn touches(&self, range: &Range<usize>) -> bool {
        self.edits
            .iter()
            .any(|(r, _)| r.start >= range.start && r.end <= range.end)
    }

    /// `text[range]` with the edits that fall inside it applied; the rest of `text` is not copied.
    pub fn apply_within(&self, text: &[u8], range: Range<usize>) -> Vec<u8> {
        let mut inside: Vec<&(Range<usize>, Vec<u8>)> = self
            .edits
            .iter()
            .filter(|(r, _)| r.start >= range.start && r.end <= range.end)
            .collect();
        inside.sort_by_key(|(r, _)| (r.start, r.end));
        let mut out = Vec::with_capacity(range.len());
        let mut at = range.start;
        for (r, with) in inside {
            out.extend_from_slice(&text[at..r.start]);
            out.extend_from_slice(with);
            at = r.end;
        }
        out.extend_from_slice(&text[at..range.end]);
        out
    }

    pub fn apply(mut self, text: &[u8]) -> Vec<u8> {
        self.edits.sort_by_key(|(r, _)| (r.start, r.end));
        let extra: usize = self.edits.iter().map(|(_, w)| w.len()).sum();
        let mut out = Vec::with_capacity(text.len() + extra);
        let mut at = 0;
        for (range, with) in self.edits {
            debug_assert!(range.start >= at, "overlapping edits");
            out.extend_from_slice(&text[at..range.start]);
            out.extend_from_slice(&with);
            at = range.end;
        }
        out.extend_from_slice(&text[at..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_members_and_their_values() {
        let text =
            br#" { "version" : 3, "sources":["a\"b.ts",{"x":[1,2]}], "mappings":"AAAA;AACA", "n":null } "#;
        let obj = Object::parse(text, 0..text.len()).unwrap();
        let keys: Vec<_> = obj.members.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(keys, ["version", "sources", "mappings", "n"]);
        let m = obj.get("mappings").unwrap();
        assert_eq!(&text[m.value.clone()], br#""AAAA;AACA""#);
        assert_eq!(&text[obj.get("version").unwrap().value.clone()], b"3");
        assert_eq!(text[obj.close], b'}');
        let s = obj.get("sources").unwrap();
        assert_eq!(array_elements(text, s.value.clone()).unwrap().len(), 2);
    }

    #[test]
    fn refuses_what_it_cannot_follow() {
        assert!(Object::parse(b"[1]", 0..3).is_err());
        assert!(Object::parse(br#"{"a":"#, 0..5).is_err());
        assert!(Object::parse(br#"{"a" 1}"#, 0..7).is_err());
    }

    #[test]
    fn nesting_depth_is_found_without_recursion() {
        let nested = |n: usize| format!("{{\"a\":{}1{}}}", "[".repeat(n - 1), "]".repeat(n - 1));
        assert_eq!(too_deep(nested(128).as_bytes(), MAX_DEPTH), None);
        assert_eq!(too_deep(nested(129).as_bytes(), MAX_DEPTH), Some(5 + 127));
        let deep = nested(100_000);
        assert_eq!(too_deep(deep.as_bytes(), MAX_DEPTH), Some(5 + 127));
        // brackets in strings do not count
        let s = format!("{{\"a\":\"{}\"}}", "[{".repeat(1000));
        assert_eq!(too_deep(s.as_bytes(), 2), None);
    }

    #[test]
    fn edits_apply_in_order() {
        let mut e = Edits::default();
        e.replace(4..5, "X");
        e.insert(0, "<");
        e.insert(6, ">");
        assert_eq!(e.apply(b"abcdefg"), b"<abcdXf>g");
    }
}
