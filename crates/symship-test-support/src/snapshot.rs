//! Snapshot files: a mismatch fails with a line diff; run the test again with
//! `SYMSHIP_UPDATE_SNAPSHOTS=1` to accept the new output (then review the diff in git). A
//! missing snapshot fails too (it is written when updating).
//!
//! Hand-written rather than `insta`/`snapbox`: the existing files are plain text and pretty JSON
//! that reviewers read in diffs, and this is all the tests need (no new dependency to build).

use std::path::{Path, PathBuf};

/// A directory of snapshot files, e.g. `concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots")`.
#[derive(Debug, Clone)]
pub struct Snapshots {
    dir: PathBuf,
}

/// Whether `SYMSHIP_UPDATE_SNAPSHOTS=1` asks to (re)write snapshots instead of comparing.
#[allow(clippy::disallowed_methods)] // the test harness's own setting, not symship's
pub fn updating() -> bool {
    std::env::var_os("SYMSHIP_UPDATE_SNAPSHOTS").is_some_and(|v| v == "1")
}

impl Snapshots {
    pub fn new(dir: impl Into<PathBuf>) -> Snapshots {
        Snapshots { dir: dir.into() }
    }

    /// The file of snapshot `name` (a relative path).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Compares `actual` with the snapshot `name`; with `SYMSHIP_UPDATE_SNAPSHOTS=1` writes it.
    pub fn assert_text(&self, name: &str, actual: &str) {
        if let Err(msg) = self.check_text(name, actual) {
            panic!("{msg}");
        }
    }

    /// Like [`Snapshots::assert_text`], returning the failure instead (to report several at once).
    pub fn check_text(&self, name: &str, actual: &str) -> Result<(), String> {
        check_file(&self.path(name), actual)
    }

    /// Compares `actual` (already normalised), pretty-printed with a final newline, with the
    /// snapshot `<name>.json`.
    pub fn assert_json(&self, name: &str, actual: &serde_json::Value) {
        let text = format!("{}\n", serde_json::to_string_pretty(actual).unwrap());
        self.assert_text(&format!("{name}.json"), &text);
    }
}

fn check_file(path: &Path, actual: &str) -> Result<(), String> {
    if updating() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let old = std::fs::read_to_string(path).ok();
        if old.as_deref() != Some(actual) {
            std::fs::write(path, actual).unwrap();
        }
        return Ok(());
    }
    let expected = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "snapshot {} missing ({e}); run with SYMSHIP_UPDATE_SNAPSHOTS=1 to create it.\n--- actual ---\n{actual}",
            path.display()
        )
    })?;
    if expected == actual {
        return Ok(());
    }
    Err(format!(
        "snapshot {} differs (- snapshot, + actual); if the change is intended, run the test with \
         SYMSHIP_UPDATE_SNAPSHOTS=1 and review the diff in git\n{}",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_difference_is_shown_as_lines() {
        let d = diff("a\nb\nc\n", "a\nx\nc\n");
        assert_eq!(d, "   a\n+  x\n-  b\n   c\n");
        assert!(diff("a", "a\n").contains("final newline"));
    }

    #[test]
    fn equal_passes_and_a_difference_or_a_missing_file_fails() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("s.txt"), "one\n").unwrap();
        let s = Snapshots::new(dir.path());
        assert!(s.check_text("s.txt", "one\n").is_ok());
        if !updating() {
            assert!(s.check_text("s.txt", "two\n").unwrap_err().contains("+  two"));
            assert!(s.check_text("none.txt", "x").unwrap_err().contains("missing"));
        }
    }
}
