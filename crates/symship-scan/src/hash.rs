//! What an upload sends for a pair, and its `content_hash` (spec §2.7).
//!
//! Event mode hashes the pair with the injection undone and script file names blanked, so a
//! rebuild that only renames content-hashed files or embeds another release id hashes the same
//! and the server skips it. The framing follows posthog-cli 0.19.0 (pristine source, NUL, map
//! serialized with its members sorted, NUL, snippet variant), so for ordinary maps both tools send
//! the same hash.

use std::io::Write;
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha512};

use crate::chunk;
use crate::inject::ReleaseMode;
use crate::json::Edits;
use crate::map::MapDoc;
use crate::pair::{self, MapLocation, Pair};
use crate::SkipReason;

/// One symbol set, ready to be packed into the upload container.
#[derive(Debug, Clone)]
pub struct Payload {
    pub chunk_id: String,
    /// The map's `release_id` (symbol-set mode).
    pub release_id: Option<String>,
    /// The injected chunk, as on disk.
    pub source: String,
    /// The map, with `chunk_id` set to this chunk's id.
    pub map: Vec<u8>,
    /// Event mode: the pristine hash. Symbol-set mode: `None` (the uploader hashes the container).
    pub content_hash: Option<String>,
    /// Whether the chunk id came from a bundler debug id with no snippet injected.
    pub native_debug_id: bool,
}

/// Lower-case hex SHA-512 of the concatenated parts.
pub fn sha512_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha512::new();
    for p in parts {
        h.update(p);
    }
    hex::encode(h.finalize())
}

const FILE_PATH_TOKEN: &str = "\u{1}file-path\u{1}";

fn is_identifier_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

fn is_path_char(c: char) -> bool {
    is_identifier_char(c) || matches!(c, '-' | '.' | '/' | '\\' | '~' | '@' | '+')
}

/// Replaces each script path (a run of path characters ending in `.js`, `.mjs` or `.cjs`, not
/// followed by an identifier character) by one token.
pub fn without_file_paths(text: &str) -> std::borrow::Cow<'_, str> {
    let mut out: Option<String> = None;
    let mut copied = 0; // bytes of `text` already copied to `out` (or replaced)
    let mut search = 0;
    while let Some(found) = text[search..].find("js") {
        let js = search + found;
        let after = js + 2;
        search = after;
        let b = text.as_bytes();
        let dot = if js >= 1 && b[js - 1] == b'.' {
            js - 1
        } else if js >= 2 && (b[js - 1] == b'm' || b[js - 1] == b'c') && b[js - 2] == b'.' {
            js - 2
        } else {
            continue;
        };
        if text[after..].chars().next().is_some_and(is_identifier_char) {
            continue;
        }
        // The run of path characters that ends at the extension, not reaching back into what was
        // already replaced. It must hold at least one character before the dot.
        let mut start = dot;
        for (i, c) in text[copied..dot].char_indices().rev() {
            if !is_path_char(c) {
                break;
            }
            start = copied + i;
        }
        if start == dot {
            continue;
        }
        let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
        o.push_str(&text[copied..start]);
        o.push_str(FILE_PATH_TOKEN);
        copied = after;
    }
    match out {
        None => std::borrow::Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(&text[copied..]);
            std::borrow::Cow::Owned(o)
        }
    }
}

/// Writes a JSON value compactly with object members sorted by key, as serde_json does for maps
/// without `preserve_order`.
fn write_sorted(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, k).expect("write to vec");
                out.push(b':');
                write_sorted(&m[k], out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_sorted(e, out);
            }
            out.push(b']');
        }
        other => serde_json::to_writer(&mut *out, other).expect("write to vec"),
    }
}

/// The map as posthog-cli serializes its pristine form: `release_id`, `debugId` first (chunk id
/// removed), then the other members in key order, the `file` member's script path blanked.
fn canonical_pristine_map(doc: &MapDoc, out: &mut Vec<u8>) -> Result<(), String> {
    let bytes = &doc.bytes;
    let parse = |key: &str| -> Result<Option<Value>, String> {
        doc.obj
            .get(key)
            .map(|m| serde_json::from_slice::<Value>(&bytes[m.value.clone()]).map_err(|e| e.to_string()))
            .transpose()
    };
    out.push(b'{');
    let mut first = true;
    let mut member = |out: &mut Vec<u8>, key: &str, v: &Value| {
        if !first {
            out.push(b',');
        }
        first = false;
        serde_json::to_writer(&mut *out, key).expect("write to vec");
        out.push(b':');
        write_sorted(v, out);
    };
    for key in ["release_id", "debugId"] {
        if let Some(v) = parse(key)? {
            member(out, key, &v);
        }
    }
    let mut rest: Vec<&str> = doc
        .obj
        .members
        .iter()
        .map(|m| m.key.as_str())
        .filter(|k| !matches!(*k, "release_id" | "debugId" | "chunk_id" | "chunkId"))
        .collect();
    rest.sort_unstable();
    rest.dedup();
    for key in rest {
        let mut v = parse(key)?.expect("listed member");
        if key == "file" {
            if let Value::String(s) = &v {
                v = Value::String(without_file_paths(s).into_owned());
            }
        }
        member(out, key, &v);
    }
    out.push(b'}');
    Ok(())
}

/// Builds the payload of an injected pair.
pub fn payload(pair: &Pair, mode: ReleaseMode) -> Result<Payload, SkipReason> {
    let source = crate::read_source(&pair.source)?;
    let map_name = match &pair.map {
        MapLocation::File(p) => p.display().to_string(),
        MapLocation::Inline => format!("{} (inline)", pair.source.display()),
    };
    let bad = |error: String| SkipReason::BadMap {
        map: map_name.clone(),
        error,
    };
    let map_bytes = match &pair.map {
        MapLocation::File(p) => {
            std::fs::read(p).map_err(|e| SkipReason::Unreadable(format!("{}: {e}", p.display())))?
        }
        MapLocation::Inline => {
            let (v, _) = pair::sourcemap_reference(&source).ok_or(SkipReason::NoMap { reference: None })?;
            pair::decode_data_url(v).map_err(bad)?
        }
    };
    let doc = MapDoc::parse(map_bytes).map_err(|e| bad(e.to_string()))?;
    if doc.is_empty() {
        // Uploads nothing a frame could be resolved with (posthog-cli skips these too).
        return Err(SkipReason::EmptyMap { map: map_name });
    }
    payload_from(&pair.source, source, doc, mode).map_err(bad)
}

/// Builds the payload from an injected chunk's text and its map.
pub fn payload_from(path: &Path, source: String, doc: MapDoc, mode: ReleaseMode) -> Result<Payload, String> {
    let existing = chunk::existing(&source);
    let (chunk_id, native) = match &existing {
        Some(e) => (e.chunk_id.clone(), false),
        None => {
            let id = chunk::debug_id_comment(&source).map(str::to_string).or_else(|| doc.debug_id()).ok_or_else(|| {
                format!(
                    "{} has no chunk id: run `symship sourcemap inject` first, or `sourcemap process` to do both",
                    path.display()
                )
            })?;
            (id, true)
        }
    };
    // The uploaded map names this chunk, also when several chunks share it.
    let mut edits = Edits::default();
    doc.set_string_edit("chunk_id", &["chunkId"], &chunk_id, &mut edits);
    let map = edits.apply(&doc.bytes);
    let release_id = doc.release_id();

    let content_hash = match mode {
        ReleaseMode::SymbolSet => None,
        ReleaseMode::Event => {
            let mut pristine = source.clone();
            let mut pristine_map = doc;
            let variant: &[u8] = match &existing {
                None => b"native-debug-id",
                Some(e) => {
                    let variant: &[u8] = match &e.snippet {
                        Some(s) if s.release_id.is_some() => b"with-release",
                        _ => b"chunk-id-only",
                    };
                    if let Some(c) = &e.comment {
                        pristine.replace_range(c.clone(), "");
                    }
                    if let Some(s) = &e.snippet {
                        let (line, column) = chunk::position_of(&pristine, s.span.start);
                        pristine.replace_range(s.span.clone(), "");
                        let mut edits = Edits::default();
                        pristine_map
                            .shift_edits(line, column, -(s.span.len() as i64), &mut edits)
                            .map_err(|e| e.to_string())?;
                        let bytes = edits.apply(&pristine_map.bytes);
                        pristine_map = MapDoc::reindex(bytes).map_err(|e| e.to_string())?;
                    }
                    variant
                }
            };
            let mut canonical = Vec::with_capacity(pristine_map.bytes.len());
            canonical_pristine_map(&pristine_map, &mut canonical)?;
            let normalized = without_file_paths(&pristine);
            let mut h = Sha512::new();
            h.write_all(normalized.as_bytes()).expect("hash");
            h.update(b"\0");
            h.update(&canonical);
            h.update(b"\0");
            h.update(variant);
            Some(hex::encode(h.finalize()))
        }
    };
    Ok(Payload {
        chunk_id,
        release_id,
        source,
        map,
        content_hash,
        native_debug_id: native,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalize(s: &str) -> String {
        without_file_paths(s).replace(FILE_PATH_TOKEN, "<p>")
    }

    #[test]
    fn blanks_script_paths() {
        assert_eq!(
            normalize(r#"import("./one-BrAf3own.js");x="https://cdn.example.com/a/b-X_1.mjs";"#),
            r#"import("<p>");x="https:<p>";"#
        );
        assert_eq!(
            normalize("//# sourceMappingURL=index-C3e2.js.map"),
            "//# sourceMappingURL=<p>.map"
        );
        let keep = r#"["index.json","index.jsx","a.js_b",".js","js"]"#;
        assert_eq!(normalize(keep), keep);
        assert_eq!(normalize("a.jsx.js x.js.map"), "<p> <p>.map");
        assert_eq!(normalize("é日.js 😀 é.mjs"), "<p> 😀 <p>");
    }
}
