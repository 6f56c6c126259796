//! Turning `FileSelection` flags into what the scanner walks, and pairing.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::Context;
use symship_scan::{pair_all, select, Pair, Selection, Skipped};

use crate::cli::FileSelection;
use crate::exit::UsageError;

/// Paths from `--stdin`, read once (posthog-cli read stdin twice in `process`, posthog#51885).
fn stdin_paths() -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line.context("reading paths from standard input")?;
        let line = line.trim();
        if !line.is_empty() {
            out.push(PathBuf::from(line));
        }
    }
    Ok(out)
}

/// Walks the selection and pairs chunks with maps.
pub fn scan(
    files: &FileSelection,
    public_path_prefix: Option<&str>,
) -> anyhow::Result<(Vec<Pair>, Vec<Skipped>)> {
    if files.directories.is_empty() && !files.stdin {
        return Err(UsageError(
            "give at least one --directory (or --stdin with paths on standard input)".into(),
        )
        .into());
    }
    let mut selection = Selection {
        roots: Vec::new(),
        paths: Vec::new(),
        include: files.include.clone(),
        exclude: files.exclude.clone(),
    };
    for d in &files.directories {
        if !d.exists() {
            return Err(UsageError(format!(
                "--directory {} does not exist; run the build first or check the path",
                d.display()
            ))
            .into());
        }
        selection.roots.push(d.clone());
    }
    if files.stdin {
        for p in stdin_paths()? {
            if p.is_dir() {
                selection.roots.push(p);
            } else {
                selection.paths.push(p);
            }
        }
    }
    let (candidates, mut skipped) = select(&selection).map_err(|e| UsageError(e.to_string()))?;
    let (pairs, more) = pair_all(candidates, public_path_prefix, symship_scan::read_source);
    skipped.extend(more);
    Ok((pairs, skipped))
}
