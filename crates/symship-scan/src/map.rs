//! A sourcemap held as its bytes plus the positions of its top-level members, edited in place.

use std::ops::Range;

use crate::json::{array_elements, Edits, Object, SyntaxError};
use crate::vlq;

/// Why a map could not be read or edited.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    #[error("is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "nests arrays or objects more than {max} levels deep (at byte {at}), deeper than posthog-cli and PostHog read a sourcemap; it is not a map a bundler wrote",
        max = crate::json::MAX_DEPTH,
        at = .0
    )]
    TooDeep(usize),
    #[error("is not a sourcemap object: {0}")]
    Shape(#[from] SyntaxError),
    #[error("has no \"mappings\" string (and no \"sections\")")]
    NoMappings,
    #[error("has a \"mappings\" string this tool cannot edit safely: {0}")]
    Mappings(&'static str),
    #[error("has an index-map section with a \"url\" instead of an inline map, which cannot be shifted")]
    SectionUrl,
}

/// Bytes before a map's JSON that the source map spec allows and readers skip: a UTF-8
/// byte-order mark, and a first line starting with `)]}'` (a guard against cross-site script
/// inclusion).
pub fn preamble_len(bytes: &[u8]) -> usize {
    let mut n = 0;
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        n = 3;
    }
    if bytes[n..].starts_with(b")]}'") {
        n += bytes[n..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len() - n, |i| i + 1);
    }
    n
}

/// The map member that marks an interrupted inject: its value is the length in bytes of the
/// snippet the map's positions were shifted for, while the chunk still holds a snippet of another
/// length. `sourcemap inject` writes it with the map, before the chunk, when a snippet changes
/// length (an event-mode chunk first stamped without a release gets one), and removes it with a
/// third write once the chunk is written; a re-run that finds it shifts from that length instead
/// of the chunk's (see `inject`'s module documentation). An `x_` member, which the source map
/// specification (ECMA-426) reserves for extensions and readers ignore, but symship never uploads
/// a map that carries it: its positions do not fit the chunk until inject has run again.
pub const PENDING_SNIPPET: &str = "x_symship_pending_snippet";

/// A parsed sourcemap document.
#[derive(Debug)]
pub struct MapDoc {
    pub bytes: Vec<u8>,
    pub obj: Object,
    /// Set when an edit changed the bytes since parsing.
    pub dirty: bool,
}

fn string_member(bytes: &[u8], obj: &Object, key: &str) -> Option<String> {
    let m = obj.get(key)?;
    serde_json::from_slice::<String>(&bytes[m.value.clone()]).ok()
}

impl MapDoc {
    /// Validates the JSON completely, then indexes its top level.
    pub fn parse(mut bytes: Vec<u8>) -> Result<MapDoc, MapError> {
        let skip = preamble_len(&bytes);
        if skip > 0 {
            bytes.drain(..skip);
        }
        // serde_json skips an ignored value without recursion; the depth is checked here so that
        // nothing later (the canonical writer of the hash recurses per level) meets a deeper map.
        serde_json::from_slice::<serde::de::IgnoredAny>(&bytes)?;
        if let Some(at) = crate::json::too_deep(&bytes, crate::json::MAX_DEPTH) {
            return Err(MapError::TooDeep(at));
        }
        let obj = Object::parse(&bytes, 0..bytes.len())?;
        Ok(MapDoc {
            bytes,
            obj,
            dirty: false,
        })
    }

    /// Re-indexes bytes this module produced by editing a validated map.
    pub fn reindex(bytes: Vec<u8>) -> Result<MapDoc, MapError> {
        let obj = Object::parse(&bytes, 0..bytes.len())?;
        Ok(MapDoc {
            bytes,
            obj,
            dirty: true,
        })
    }

    /// `chunk_id`, or posthog-cli's accepted alias `chunkId`.
    pub fn chunk_id(&self) -> Option<String> {
        string_member(&self.bytes, &self.obj, "chunk_id")
            .or_else(|| string_member(&self.bytes, &self.obj, "chunkId"))
    }

    pub fn release_id(&self) -> Option<String> {
        string_member(&self.bytes, &self.obj, "release_id")
    }

    pub fn debug_id(&self) -> Option<String> {
        string_member(&self.bytes, &self.obj, "debugId")
    }

    pub fn is_index_map(&self) -> bool {
        self.obj.get("sections").is_some()
    }

    /// No mappings, no sources and no names, recursing into sections (posthog-cli skips these).
    pub fn is_empty(&self) -> bool {
        is_empty_object(&self.bytes, &self.obj)
    }

    /// Whether the map can be used as a sourcemap (what issue 13 calls a usable candidate): a
    /// regular map whose `mappings` is a string of base64 VLQ segments of 1, 4 or 5 fields (the
    /// source map specification, ECMA-426; the `sourcemap` crate PostHog's symbolication reads
    /// maps with refuses other sizes), or an index map whose every section holds such a map
    /// inline. Errors: [`MapError::NoMappings`], [`MapError::Mappings`] (what is wrong),
    /// [`MapError::SectionUrl`], [`MapError::Shape`]. Linear in the map's size, no allocation per
    /// segment.
    pub fn check_usable(&self) -> Result<(), MapError> {
        check_object(&self.bytes, &self.obj)
    }

    /// Edits that shift every generated position at or after (`line`, `column`) on `line` by
    /// `delta` columns. Only the first segment at or after the column changes: later segments of a
    /// line are relative to it.
    pub fn shift_edits(
        &self,
        line: usize,
        column: usize,
        delta: i64,
        edits: &mut Edits,
    ) -> Result<(), MapError> {
        shift_object(&self.bytes, &self.obj, line, column, delta, edits)
    }

    /// The generated column of the first segment on generated line `line` (0-based) at or after
    /// `column`, `Ok(None)` when the line has none there; in an index map, through its sections
    /// (a section's offset plus its map's segment).
    pub fn first_column_from(&self, line: usize, column: usize) -> Result<Option<i64>, MapError> {
        first_column_in(&self.bytes, &self.obj, line, column)
    }

    /// An edit that sets (or adds, as the first member) a top-level string member.
    pub fn set_string_edit(&self, key: &str, aliases: &[&str], value: &str, edits: &mut Edits) {
        let literal = serde_json::to_string(value).expect("strings serialize");
        let member = self
            .obj
            .get(key)
            .or_else(|| aliases.iter().find_map(|a| self.obj.get(a)));
        match member {
            Some(m) if m.key == key => {
                if self.bytes[m.value.clone()] != *literal.as_bytes() {
                    edits.replace(m.value.clone(), literal);
                }
            }
            Some(m) => edits.replace(m.span.clone(), format!("\"{key}\":{literal}")),
            None => {
                let comma = if self.obj.members.is_empty() { "" } else { "," };
                edits.insert(self.obj.open + 1, format!("\"{key}\":{literal}{comma}"));
            }
        }
    }

    /// The snippet length the map's positions were shifted for by an inject that was interrupted
    /// before it wrote the chunk ([`PENDING_SNIPPET`]), if the map carries that mark.
    pub fn pending_snippet_len(&self) -> Option<usize> {
        let m = self.obj.get(PENDING_SNIPPET)?;
        std::str::from_utf8(&self.bytes[m.value.clone()])
            .ok()?
            .parse()
            .ok()
    }

    /// An edit that sets the [`PENDING_SNIPPET`] mark to `len` (added as the first member, as
    /// `"x_symship_pending_snippet":<len>,`, so that [`MapDoc::clear_pending_edit`] restores the
    /// exact bytes it had before).
    pub fn set_pending_edit(&self, len: usize, edits: &mut Edits) {
        match self.obj.get(PENDING_SNIPPET) {
            Some(m) => edits.replace(m.value.clone(), len.to_string()),
            None => {
                let comma = if self.obj.members.is_empty() { "" } else { "," };
                edits.insert(self.obj.open + 1, format!("\"{PENDING_SNIPPET}\":{len}{comma}"));
            }
        }
    }

    /// An edit that removes the [`PENDING_SNIPPET`] mark: exactly the bytes
    /// [`MapDoc::set_pending_edit`] added (the member and the comma right after it).
    pub fn clear_pending_edit(&self, edits: &mut Edits) {
        let Some(m) = self.obj.get(PENDING_SNIPPET) else {
            return;
        };
        if self.bytes.get(m.value.end) == Some(&b',') {
            edits.replace(m.span.start..m.value.end + 1, Vec::new());
        } else {
            self.remove_edit(PENDING_SNIPPET, edits);
        }
    }

    /// An edit that removes a top-level member, with its separating comma.
    pub fn remove_edit(&self, key: &str, edits: &mut Edits) {
        let Some(idx) = self.obj.members.iter().position(|m| m.key == key) else {
            return;
        };
        let members = &self.obj.members;
        let range = if idx + 1 < members.len() {
            members[idx].span.start..members[idx + 1].span.start
        } else if idx > 0 {
            // Last member: remove from the end of the previous value.
            members[idx - 1].value.end..members[idx].span.end
        } else {
            members[idx].span.clone()
        };
        edits.replace(range, Vec::new());
    }
}

fn check_object(bytes: &[u8], obj: &Object) -> Result<(), MapError> {
    if let Some(sections) = obj.get("sections") {
        for elem in array_elements(bytes, sections.value.clone())? {
            let section = Object::parse(bytes, elem)?;
            if section.get("url").is_some() {
                return Err(MapError::SectionUrl);
            }
            let map = section.get("map").ok_or(MapError::NoMappings)?;
            check_object(bytes, &Object::parse(bytes, map.value.clone())?)?;
        }
        return Ok(());
    }
    let m = obj.get("mappings").ok_or(MapError::NoMappings)?;
    let value = &bytes[m.value.clone()];
    if value.first() != Some(&b'"') || value.len() < 2 {
        return Err(MapError::NoMappings);
    }
    check_mappings(&value[1..value.len() - 1])
}

/// Every segment of a `mappings` string's content decodes, with 1, 4 or 5 fields (an empty
/// segment, as in `;;`, is allowed).
fn check_mappings(s: &[u8]) -> Result<(), MapError> {
    let mut pos = 0;
    let mut fields = 0;
    loop {
        match s.get(pos) {
            end @ (None | Some(b',' | b';')) => {
                if !matches!(fields, 0 | 1 | 4 | 5) {
                    return Err(MapError::Mappings("a segment has 2, 3 or more than 5 fields"));
                }
                if end.is_none() {
                    return Ok(());
                }
                fields = 0;
                pos += 1;
            }
            Some(b'\\') => return Err(MapError::Mappings("escaped characters")),
            Some(_) => {
                let (_, used) = vlq::decode(&s[pos..]).ok_or(MapError::Mappings("invalid base64 VLQ"))?;
                pos += used;
                fields += 1;
            }
        }
    }
}

fn is_empty_object(bytes: &[u8], obj: &Object) -> bool {
    if let Some(sections) = obj.get("sections") {
        let Ok(elems) = array_elements(bytes, sections.value.clone()) else {
            return false;
        };
        return elems.into_iter().all(|e| {
            let Ok(section) = Object::parse(bytes, e) else {
                return false;
            };
            match section
                .get("map")
                .and_then(|m| Object::parse(bytes, m.value.clone()).ok())
            {
                Some(inner) => is_empty_object(bytes, &inner),
                None => section.get("url").is_none(),
            }
        });
    }
    let blank = |key: &str| match obj.get(key) {
        None => true,
        Some(m) => {
            let v = &bytes[m.value.clone()];
            v == b"\"\"" || v == b"null" || array_elements(bytes, m.value.clone()).is_ok_and(|e| e.is_empty())
        }
    };
    blank("mappings") && blank("sources") && blank("names")
}

fn number(bytes: &[u8], obj: &Object, key: &str) -> Option<(i64, Range<usize>)> {
    let m = obj.get(key)?;
    let v: i64 = std::str::from_utf8(&bytes[m.value.clone()])
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some((v, m.value.clone()))
}

fn shift_object(
    bytes: &[u8],
    obj: &Object,
    line: usize,
    column: usize,
    delta: i64,
    edits: &mut Edits,
) -> Result<(), MapError> {
    if delta == 0 {
        return Ok(());
    }
    if let Some(sections) = obj.get("sections") {
        return shift_sections(bytes, sections.value.clone(), line, column, delta, edits);
    }
    let m = obj.get("mappings").ok_or(MapError::NoMappings)?;
    let value = m.value.clone();
    if bytes.get(value.start) != Some(&b'"') || value.len() < 2 {
        return Err(MapError::NoMappings);
    }
    let inner = value.start + 1..value.end - 1;
    shift_mappings(bytes, inner, line, column, delta, edits)
}

/// Shifts within a `mappings` string whose content is `bytes[range]`.
fn shift_mappings(
    bytes: &[u8],
    range: Range<usize>,
    line: usize,
    column: usize,
    delta: i64,
    edits: &mut Edits,
) -> Result<(), MapError> {
    let s = &bytes[range.clone()];
    let Some(found) = first_segment_from(s, line, column)? else {
        return Ok(()); // the map has no mappings there
    };
    let (pos, used, d, col) = (found.pos, found.used, found.delta, found.column);
    let new = d + delta;
    if col + delta >= column as i64 {
        let mut enc = Vec::new();
        vlq::encode(new, &mut enc);
        edits.replace(range.start + pos..range.start + pos + used, enc);
        return Ok(());
    }
    // A removal over segments (a composed map maps the snippet too): those segments
    // move to where the removed text began; the first one after it keeps its place.
    clamp_removed(s, range.start, pos, col - d, column as i64, delta, edits)
}

/// The first segment of generated line `line` (0-based) at or after `column` in the content of a
/// `mappings` string: where its generated-column field starts in `s`, its length in bytes, the
/// relative value it holds and the absolute column it gives.
struct Segment {
    pos: usize,
    used: usize,
    delta: i64,
    column: i64,
}

fn first_segment_from(s: &[u8], line: usize, column: usize) -> Result<Option<Segment>, MapError> {
    let mut pos = 0;
    for _ in 0..line {
        match memchr_semicolon(&s[pos..]) {
            Some(i) => pos += i + 1,
            None => return Ok(None),
        }
    }
    let mut col: i64 = 0;
    loop {
        match s.get(pos) {
            None | Some(b';') => return Ok(None),
            Some(b',') => {
                pos += 1;
                continue;
            }
            Some(b'\\') => return Err(MapError::Mappings("escaped characters")),
            _ => {}
        }
        let (d, used) = vlq::decode(&s[pos..]).ok_or(MapError::Mappings("invalid base64 VLQ"))?;
        col += d;
        if col >= column as i64 {
            return Ok(Some(Segment {
                pos,
                used,
                delta: d,
                column: col,
            }));
        }
        // Skip the rest of this segment.
        pos += used;
        while let Some(&b) = s.get(pos) {
            if b == b',' || b == b';' {
                break;
            }
            pos += 1;
        }
    }
}

/// Rewrites the generated columns of one line's segments from `pos` on (the first at or after
/// `column`, which lies in the removed `column..column - delta`): segments in the removed range
/// go to `column`, the first segment after it to its column plus `delta`.
fn clamp_removed(
    s: &[u8],
    offset: usize,
    mut pos: usize,
    mut prev_abs: i64,
    column: i64,
    delta: i64,
    edits: &mut Edits,
) -> Result<(), MapError> {
    let removed_end = column - delta;
    let mut new_prev = prev_abs;
    loop {
        match s.get(pos) {
            None | Some(b';') => return Ok(()),
            Some(b',') => {
                pos += 1;
                continue;
            }
            _ => {}
        }
        let (d, used) = vlq::decode(&s[pos..]).ok_or(MapError::Mappings("invalid base64 VLQ"))?;
        let abs = prev_abs + d;
        let (new_abs, done) = if abs < removed_end {
            (column, false)
        } else {
            (abs + delta, true)
        };
        let mut enc = Vec::new();
        vlq::encode(new_abs - new_prev, &mut enc);
        edits.replace(offset + pos..offset + pos + used, enc);
        if done {
            return Ok(());
        }
        prev_abs = abs;
        new_prev = new_abs;
        pos += used;
        while let Some(&b) = s.get(pos) {
            if b == b',' || b == b';' {
                break;
            }
            pos += 1;
        }
    }
}

fn memchr_semicolon(s: &[u8]) -> Option<usize> {
    s.iter().position(|&b| b == b';')
}

/// [`MapDoc::first_column_from`] for a map object (the whole map, or a section's).
fn first_column_in(bytes: &[u8], obj: &Object, line: usize, column: usize) -> Result<Option<i64>, MapError> {
    if let Some(sections) = obj.get("sections") {
        let sections = parse_sections(bytes, sections.value.clone())?;
        for (i, (l, c, _, section)) in sections.iter().enumerate() {
            let next_starts_after = sections
                .get(i + 1)
                .is_none_or(|(nl, nc, _, _)| (*nl, *nc) > (line, column));
            let (inner_line, inner_col) = if *l == line && *c >= column {
                (0, 0)
            } else if (*l, *c) <= (line, column) && next_starts_after {
                if *l == line {
                    (0, column - c)
                } else {
                    (line - l, column)
                }
            } else {
                continue;
            };
            let Some(map) = section.get("map") else { continue };
            let inner = Object::parse(bytes, map.value.clone())?;
            if let Some(found) = first_column_in(bytes, &inner, inner_line, inner_col)? {
                return Ok(Some(if *l == line { found + *c as i64 } else { found }));
            }
        }
        return Ok(None);
    }
    let m = obj.get("mappings").ok_or(MapError::NoMappings)?;
    let value = m.value.clone();
    if bytes.get(value.start) != Some(&b'"') || value.len() < 2 {
        return Err(MapError::NoMappings);
    }
    Ok(first_segment_from(&bytes[value.start + 1..value.end - 1], line, column)?.map(|f| f.column))
}

/// A section of an index map: its offset line and column, the byte range of its column number,
/// and the section object.
type Section = (usize, usize, Range<usize>, Object);

/// The sections of an index map (`bytes[range]` is the array).
fn parse_sections(bytes: &[u8], range: Range<usize>) -> Result<Vec<Section>, MapError> {
    let mut sections = Vec::new();
    for elem in array_elements(bytes, range)? {
        let section = Object::parse(bytes, elem)?;
        let offset = section
            .get("offset")
            .ok_or(MapError::Shape(SyntaxError("section without offset", 0)))?;
        let off = Object::parse(bytes, offset.value.clone())?;
        let (l, _) = number(bytes, &off, "line").ok_or(MapError::Shape(SyntaxError("bad offset", 0)))?;
        let (c, c_range) =
            number(bytes, &off, "column").ok_or(MapError::Shape(SyntaxError("bad offset", 0)))?;
        sections.push((l as usize, c as usize, c_range, section));
    }
    Ok(sections)
}

fn shift_sections(
    bytes: &[u8],
    range: Range<usize>,
    line: usize,
    column: usize,
    delta: i64,
    edits: &mut Edits,
) -> Result<(), MapError> {
    let sections = parse_sections(bytes, range)?;
    // The section that covers (line, column) and every later section starting on the same line.
    for (i, (l, c, c_range, section)) in sections.iter().enumerate() {
        let next_starts_after = sections
            .get(i + 1)
            .is_none_or(|(nl, nc, _, _)| (*nl, *nc) > (line, column));
        if *l == line && *c >= column {
            // Starts on the line at or after the insertion: move the whole section. Text taken
            // out (delta < 0) over its start leaves it starting where the text was taken out.
            let moved = (*c as i64 + delta).max(column as i64);
            edits.replace(c_range.clone(), moved.to_string());
        } else if (*l, *c) <= (line, column) && next_starts_after {
            // Covers the insertion point: shift inside its map.
            if section.get("url").is_some() {
                return Err(MapError::SectionUrl);
            }
            let map = section.get("map").ok_or(MapError::NoMappings)?;
            let inner = Object::parse(bytes, map.value.clone())?;
            let (inner_line, inner_col) = if *l == line {
                (0, column - c)
            } else {
                (line - l, column)
            };
            shift_object(bytes, &inner, inner_line, inner_col, delta, edits)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shifted(map: &str, line: usize, col: usize, delta: i64) -> String {
        let doc = MapDoc::parse(map.as_bytes().to_vec()).unwrap();
        let mut e = Edits::default();
        doc.shift_edits(line, col, delta, &mut e).unwrap();
        String::from_utf8(e.apply(map.as_bytes())).unwrap()
    }

    #[test]
    fn shifts_the_first_segment_of_line_one() {
        assert_eq!(
            shifted(r#"{"mappings":"AAAA"}"#, 0, 0, 309),
            r#"{"mappings":"qTAAA"}"#
        );
        assert_eq!(
            shifted(r#"{"mappings":"AAAA,EAAE;AACA"}"#, 0, 0, 393),
            r#"{"mappings":"yYAAA,EAAE;AACA"}"#
        );
        // Line two (after a hashbang): only that line changes.
        assert_eq!(
            shifted(r#"{"mappings":"AAAA;AACA"}"#, 1, 0, 1),
            r#"{"mappings":"AAAA;CACA"}"#
        );
        // An empty line has nothing to shift.
        assert_eq!(
            shifted(r#"{"mappings":";;AACA"}"#, 0, 0, 5),
            r#"{"mappings":";;AACA"}"#
        );
        // A column inside the line: the first segment at or after it moves.
        assert_eq!(
            shifted(r#"{"mappings":"AAAA,YAAC,CAAC"}"#, 0, 13, 2),
            r#"{"mappings":"AAAA,YAAC,GAAC"}"#
        );
    }

    #[test]
    fn shifts_index_map_sections() {
        let map = r#"{"version":3,"sections":[{"offset":{"line":0,"column":0},"map":{"mappings":"AAAA"}},{"offset":{"line":0,"column":50},"map":{"mappings":"AAAA"}},{"offset":{"line":3,"column":0},"map":{"mappings":"AAAA"}}]}"#;
        let out = shifted(map, 0, 0, 309);
        assert!(
            out.contains(r#"{"offset":{"line":0,"column":309},"map":{"mappings":"AAAA"}}"#),
            "{out}"
        );
        assert!(out.contains(r#""column":359"#), "{out}");
        assert!(out.contains(r#"{"offset":{"line":3,"column":0}"#), "{out}");
    }

    /// Text taken out (a negative delta) at a section's start, or over it, leaves the section
    /// starting where the text was taken out, never before it (a fresh tester: posthog-react-native's
    /// `__chunkid__` section on line 2, whose snippet `hermes inject` replaced, was moved to column
    /// -309, which ECMA-426 does not allow).
    #[test]
    fn a_section_in_removed_text_starts_where_it_was_removed() {
        let map = r#"{"version":3,"sections":[{"offset":{"line":0,"column":0},"map":{"mappings":"AAAA"}},{"offset":{"line":1,"column":0},"map":{"mappings":"AAAA"}},{"offset":{"line":2,"column":0},"map":{"mappings":"AAAA"}}]}"#;
        let out = shifted(map, 1, 0, -309);
        assert!(out.contains(r#"{"offset":{"line":1,"column":0}"#), "{out}");
        assert!(!out.contains('-'), "{out}");
        // 10 columns taken out from column 5: a section at 8 (inside) starts at 5, one at 20 at 10
        let map = r#"{"version":3,"sections":[{"offset":{"line":0,"column":0},"map":{"mappings":"AAAA"}},{"offset":{"line":0,"column":8},"map":{"mappings":"AAAA"}},{"offset":{"line":0,"column":20},"map":{"mappings":"AAAA"}}]}"#;
        let out = shifted(map, 0, 5, -10);
        assert!(out.contains(r#"{"offset":{"line":0,"column":5}"#), "{out}");
        assert!(out.contains(r#"{"offset":{"line":0,"column":10}"#), "{out}");
    }

    #[test]
    fn sets_and_removes_members() {
        let map = r#"{"version":3,"chunkId":"old","mappings":""}"#;
        let doc = MapDoc::parse(map.as_bytes().to_vec()).unwrap();
        assert_eq!(doc.chunk_id().as_deref(), Some("old"));
        let mut e = Edits::default();
        doc.set_string_edit("chunk_id", &["chunkId"], "new", &mut e);
        assert_eq!(
            e.apply(map.as_bytes()),
            br#"{"version":3,"chunk_id":"new","mappings":""}"#
        );

        let map = r#"{ "version":3 }"#;
        let doc = MapDoc::parse(map.as_bytes().to_vec()).unwrap();
        let mut e = Edits::default();
        doc.set_string_edit("chunk_id", &[], "x", &mut e);
        let out = e.apply(map.as_bytes());
        assert_eq!(out, br#"{"chunk_id":"x", "version":3 }"#);
        let doc = MapDoc::parse(out.clone()).unwrap();
        let mut e = Edits::default();
        doc.remove_edit("chunk_id", &mut e);
        assert_eq!(e.apply(&out), br#"{"version":3 }"#);
    }

    #[test]
    fn emptiness() {
        let empty = |s: &str| MapDoc::parse(s.as_bytes().to_vec()).unwrap().is_empty();
        assert!(empty(r#"{"version":3,"mappings":"","sources":[],"names":[]}"#));
        assert!(!empty(
            r#"{"version":3,"mappings":"AAAA","sources":[],"names":[]}"#
        ));
        assert!(empty(r#"{"version":3,"sections":[]}"#));
        assert!(!empty(
            r#"{"sections":[{"offset":{"line":0,"column":0},"map":{"mappings":"A","sources":["a"]}}]}"#
        ));
    }

    #[test]
    fn refuses_malformed_json() {
        assert!(matches!(
            MapDoc::parse(b"{\"a\":".to_vec()),
            Err(MapError::Json(_))
        ));
        assert!(matches!(MapDoc::parse(b"[1]".to_vec()), Err(MapError::Shape(_))));
    }

    #[test]
    fn refuses_maps_nested_deeper_than_serde_json_reads() {
        for depth in [129usize, 10_000, 100_000] {
            let map = format!(
                r#"{{"version":3,"mappings":"AAAA","sources":["a.js"],"x_deep":{}0{}}}"#,
                "[".repeat(depth - 1),
                "]".repeat(depth - 1)
            );
            let err = MapDoc::parse(map.into_bytes()).unwrap_err();
            assert!(matches!(err, MapError::TooDeep(_)), "{err}");
            assert!(err.to_string().contains("128 levels"), "{err}");
        }
        let ok = format!(
            r#"{{"version":3,"mappings":"AAAA","sources":["a.js"],"x_deep":{}0{}}}"#,
            "[".repeat(127),
            "]".repeat(127)
        );
        assert!(MapDoc::parse(ok.into_bytes()).is_ok());
    }
    #[test]
    fn usable_maps_have_mappings_that_decode() {
        let usable = |m: &str| MapDoc::parse(m.as_bytes().to_vec()).unwrap().check_usable();
        for ok in [
            r#"{"version":3,"mappings":"AAAA,CAAC;;AACAA","sources":["a"]}"#,
            r#"{"version":3,"mappings":"","sources":[],"names":[]}"#,
            r#"{"version":3,"sections":[]}"#,
            r#"{"version":3,"sections":[{"offset":{"line":0,"column":0},"map":{"mappings":"A"}}]}"#,
        ] {
            assert!(usable(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("{}", "no \"mappings\""),
            (r#"{"mappings":null}"#, "no \"mappings\""),
            (r#"{"mappings":"@@@"}"#, "invalid base64 VLQ"),
            (r#"{"mappings":"AAAA,g"}"#, "invalid base64 VLQ"),
            (r#"{"mappings":"AA"}"#, "fields"),
            (r#"{"mappings":"AAAAAA"}"#, "fields"),
            (
                r#"{"sections":[{"offset":{"line":0,"column":0},"map":{}}]}"#,
                "no \"mappings\"",
            ),
            (
                r#"{"sections":[{"offset":{"line":0,"column":0},"url":"a.map"}]}"#,
                "\"url\"",
            ),
        ] {
            let e = usable(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
