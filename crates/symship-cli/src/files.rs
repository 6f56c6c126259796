//! Turning `FileSelection` flags into what the scanner walks, and pairing.

use std::io::BufRead;
use std::path::{Path, PathBuf};

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

/// Whether the run will write into the scanned directories (inject, process, `--delete-after`),
/// and so must hold their lock while it scans and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writes {
    No,
    Yes { no_wait: bool },
}

/// What a scan found. `lock` keeps the scanned directories locked until it is dropped.
pub struct Scan {
    pub pairs: Vec<Pair>,
    pub skipped: Vec<Skipped>,
    pub lock: Option<symship_fs::DirLock>,
}

/// Takes the lock of every directory the run writes into, then removes what killed runs left
/// there (`symship_fs::sweep`), before anything is read.
fn lock_and_sweep(selection: &Selection, no_wait: bool) -> anyhow::Result<symship_fs::DirLock> {
    let dirs: Vec<PathBuf> = selection.roots.iter().chain(&selection.paths).cloned().collect();
    let wait = if no_wait {
        symship_fs::Wait::NoWait
    } else {
        symship_fs::Wait::Block
    };
    let lock = symship_fs::DirLock::acquire(&dirs, wait, &mut |dir| {
        crate::output::get().eprint(&crate::untrusted::neutralize(&format!(
            "Blocking: waiting for another symship run to finish with {} (--no-wait fails instead)\n",
            dir.display()
        )));
    })?;
    let wants_node_modules = selection.include.iter().any(|p| p.contains("node_modules"));
    for root in selection.roots.iter().filter(|r| r.is_dir()) {
        let removed = symship_fs::sweep(root, &|d| !wants_node_modules && d.ends_with("node_modules"));
        for p in &removed {
            tracing::info!("removed {}, left by an interrupted symship run", p.display());
        }
    }
    // A named file: its own directory only, not below it; each directory once, however many
    // files of it are named (the plugins name every chunk on --stdin or with --file).
    let named_dirs: std::collections::BTreeSet<&Path> = selection
        .roots
        .iter()
        .filter(|r| !r.is_dir())
        .chain(&selection.paths)
        .filter_map(|p| p.parent().filter(|d| !d.as_os_str().is_empty()))
        .collect();
    for dir in named_dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            if symship_fs::is_temp_name(&e.file_name()) && std::fs::remove_file(e.path()).is_ok() {
                tracing::info!(
                    "removed {}, left by an interrupted symship run",
                    e.path().display()
                );
            }
        }
    }
    Ok(lock)
}

/// Walks the selection and pairs chunks with maps; with `Writes::Yes`, under the lock.
pub fn scan(files: &FileSelection, public_path_prefix: Option<&str>, writes: Writes) -> anyhow::Result<Scan> {
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
    let lock = match writes {
        Writes::No => None,
        Writes::Yes { no_wait } => Some(lock_and_sweep(&selection, no_wait)?),
    };
    let (candidates, mut skipped) = select(&selection).map_err(|e| UsageError(e.to_string()))?;
    let (pairs, more) = pair_all(candidates, public_path_prefix, symship_scan::read_source);
    skipped.extend(more);
    Ok(Scan { pairs, skipped, lock })
}
