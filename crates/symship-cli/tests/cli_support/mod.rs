//! Snapshot files and output normalisation for the `cli_*` tests.
//!
//! A snapshot lives in `tests/snapshots/cli/<name>`. A mismatch fails with a line diff; run the
//! test again with `SYMSHIP_UPDATE_SNAPSHOTS=1` to accept the new output (then review the diff
//! in git). A missing snapshot fails too (it is written when updating).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn snapshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/cli")
}

#[allow(clippy::disallowed_methods)] // test harness settings from the environment
pub fn updating() -> bool {
    std::env::var("SYMSHIP_UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1")
}

/// Compares `actual` with the snapshot `name`; with `SYMSHIP_UPDATE_SNAPSHOTS=1` writes it.
pub fn assert_snapshot(name: &str, actual: &str) {
    if let Err(msg) = check_snapshot(name, actual) {
        panic!("{msg}");
    }
}

/// Like [`assert_snapshot`], returning the failure instead (to report several at once).
pub fn check_snapshot(name: &str, actual: &str) -> Result<(), String> {
    let path = snapshot_dir().join(name);
    if updating() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let old = std::fs::read_to_string(&path).ok();
        if old.as_deref() != Some(actual) {
            std::fs::write(&path, actual).unwrap();
        }
        return Ok(());
    }
    let expected = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "snapshot {} missing ({e}); run with SYMSHIP_UPDATE_SNAPSHOTS=1 to create it.\n--- actual ---\n{actual}",
            path.display()
        )
    })?;
    if expected == actual {
        return Ok(());
    }
    Err(format!(
        "snapshot {} differs (- snapshot, + actual); if the change is intended, run \
         SYMSHIP_UPDATE_SNAPSHOTS=1 cargo test -p symship-cli --test <this test> and review the diff in git\n{}",
        path.display(),
        diff(&expected, actual)
    ))
}

/// A unified-style line diff (LCS), with two lines of context.
pub fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            ops.push(('+', b[j]));
            j += 1;
        } else {
            ops.push(('-', a[i]));
            i += 1;
        }
    }
    let near = |k: usize| {
        let lo = k.saturating_sub(2);
        let hi = (k + 3).min(ops.len());
        ops[lo..hi].iter().any(|(c, _)| *c != ' ')
    };
    let mut out = String::new();
    let mut skipped = false;
    for (k, (c, line)) in ops.iter().enumerate() {
        if *c == ' ' && !near(k) {
            skipped = true;
            continue;
        }
        if skipped {
            out.push_str("   ...\n");
            skipped = false;
        }
        out.push_str(&format!("{c}  {line}\n"));
    }
    if expected.ends_with('\n') != actual.ends_with('\n') {
        out.push_str("(the final newline differs)\n");
    }
    out
}

/// Replaces what changes from run to run: the temp dir, ports, durations.
pub fn normalize(text: &str, tmp: &Path) -> String {
    let mut t = text.to_string();
    for p in [tmp.canonicalize().ok(), Some(tmp.to_path_buf())]
        .into_iter()
        .flatten()
    {
        t = t.replace(&p.display().to_string(), "[TMP]");
    }
    t = replace_after(&t, "127.0.0.1:", |c| c.is_ascii_digit(), "[PORT]");
    // "12 ms", "1.50 s" durations
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

/// The JSON summary with volatile values replaced: every number under a `*_ms` key (or inside
/// `wall_ms`/`timings_ms`) becomes "[MS]", strings are [`normalize`]d.
pub fn normalize_json(v: &serde_json::Value, tmp: &Path) -> serde_json::Value {
    use serde_json::Value;
    fn walk(v: &Value, tmp: &Path, timing: bool) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| {
                        if k == "hashes_from_cache" {
                            // Depends on what other tests of this process hashed before.
                            return (k.clone(), Value::String("[CACHE HITS]".into()));
                        }
                        let t = timing || k.ends_with("_ms");
                        (k.clone(), walk(v, tmp, t))
                    })
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(|x| walk(x, tmp, timing)).collect()),
            Value::Number(_) if timing => Value::String("[MS]".into()),
            Value::String(s) => Value::String(normalize(s, tmp)),
            other => other.clone(),
        }
    }
    walk(v, tmp, false)
}

/// The path of a tool the tests need, or a loud failure naming how to get it.
#[allow(clippy::disallowed_methods)] // test harness settings from the environment
pub fn require_tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("`{name}` is not installed; it comes with util-linux / bash (apt-get install util-linux bsdutils)")
    })
}

/// Single-quotes a string for `sh -c`.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
