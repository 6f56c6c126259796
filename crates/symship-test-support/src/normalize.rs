//! What changes from run to run, replaced by placeholders before comparing with a snapshot.

use std::path::Path;

use serde_json::Value;

/// Replaces the temp dir `tmp` (as given and canonical) by `[TMP]`, loopback ports
/// (`127.0.0.1:<n>`) by `[PORT]`, and durations (`12 ms`, `1.50 s`) by `[TIME]`.
pub fn normalize_text(text: &str, tmp: &Path) -> String {
    let mut t = text.to_string();
    for p in [tmp.canonicalize().ok(), Some(tmp.to_path_buf())]
        .into_iter()
        .flatten()
    {
        t = t.replace(&p.display().to_string(), "[TMP]");
    }
    t = replace_after(&t, "127.0.0.1:", |c| c.is_ascii_digit(), "[PORT]");
    let mut out = String::with_capacity(t.len());
    let chars: Vec<char> = t.chars().collect();
    let mut k = 0;
    while k < chars.len() {
        let start_ok = k == 0 || !(chars[k - 1].is_alphanumeric() || chars[k - 1] == '.');
        if start_ok && chars[k].is_ascii_digit() {
            let mut e = k;
            while e < chars.len() && (chars[e].is_ascii_digit() || chars[e] == '.') {
                e += 1;
            }
            let rest: String = chars[e..chars.len().min(e + 4)].iter().collect();
            let unit_end = if rest.starts_with(" ms") {
                Some(e + 3)
            } else if rest.starts_with(" s") && !rest[2..].starts_with(|c: char| c.is_alphanumeric()) {
                Some(e + 2)
            } else {
                None
            };
            if let Some(u) = unit_end {
                out.push_str("[TIME]");
                k = u;
                continue;
            }
            out.extend(&chars[k..e]);
            k = e;
            continue;
        }
        out.push(chars[k]);
        k += 1;
    }
    out
}

fn replace_after(t: &str, marker: &str, keep: impl Fn(char) -> bool, with: &str) -> String {
    let mut out = String::new();
    let mut rest = t;
    while let Some(pos) = rest.find(marker) {
        out.push_str(&rest[..pos + marker.len()]);
        rest = &rest[pos + marker.len()..];
        let end = rest.find(|c: char| !keep(c)).unwrap_or(rest.len());
        if end > 0 {
            out.push_str(with);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A JSON summary with volatile values replaced: every number under a `*_ms` key (or inside
/// `wall_ms`/`timings_ms`) becomes "[MS]", `hashes_from_cache` "[CACHE HITS]" (it depends on
/// what other tests of this process hashed before), strings are [`normalize_text`]ed.
pub fn normalize_json(v: &Value, tmp: &Path) -> Value {
    fn walk(v: &Value, tmp: &Path, timing: bool) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| {
                        if k == "hashes_from_cache" {
                            return (k.clone(), Value::String("[CACHE HITS]".into()));
                        }
                        let t = timing || k.ends_with("_ms");
                        (k.clone(), walk(v, tmp, t))
                    })
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(|x| walk(x, tmp, timing)).collect()),
            Value::Number(_) if timing => Value::String("[MS]".into()),
            Value::String(s) => Value::String(normalize_text(s, tmp)),
            other => other.clone(),
        }
    }
    walk(v, tmp, false)
}

/// A management answer with what changes between runs replaced: `id` strings by `<id>`,
/// `created_at`/`last_used`/`cutoff` strings by `<time>`, and each `(from, to)` of `literals`
/// (hosts, temp dirs) inside strings.
pub fn normalize_ids(v: &Value, literals: &[(&str, &str)]) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let nv = match (k.as_str(), v) {
                        ("id", Value::String(_)) => Value::String("<id>".into()),
                        ("created_at" | "last_used" | "cutoff", Value::String(_)) => {
                            Value::String("<time>".into())
                        }
                        _ => normalize_ids(v, literals),
                    };
                    (k.clone(), nv)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|x| normalize_ids(x, literals)).collect()),
        Value::String(s) => {
            let mut s = s.clone();
            for (from, to) in literals {
                s = s.replace(from, to);
            }
            Value::String(s)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_dirs_ports_and_durations_are_replaced() {
        let t = normalize_text(
            "/tmp/x/a.js at http://127.0.0.1:41234/api in 12 ms and 1.50 s, 3 sets",
            Path::new("/tmp/x"),
        );
        assert_eq!(
            t,
            "[TMP]/a.js at http://127.0.0.1:[PORT]/api in [TIME] and [TIME], 3 sets"
        );
    }

    #[test]
    fn ids_and_times_are_replaced_in_json() {
        let v = serde_json::json!({"id": "u1", "created_at": "t", "n": 1, "s": "http://h/x"});
        assert_eq!(
            normalize_ids(&v, &[("http://h", "<host>")]),
            serde_json::json!({"id": "<id>", "created_at": "<time>", "n": 1, "s": "<host>/x"})
        );
        let s = serde_json::json!({"wall_ms": 5, "timings_ms": {"scan": 3}, "hashes_from_cache": 2, "n": 1});
        assert_eq!(
            normalize_json(&s, Path::new("/nowhere")),
            serde_json::json!({"wall_ms": "[MS]", "timings_ms": {"scan": "[MS]"}, "hashes_from_cache": "[CACHE HITS]", "n": 1})
        );
    }
}
