//! Turning `FileSelection` flags into what the scanner walks, and pairing.

use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::Context;
use symship_scan::{pair_all, select_matching, MapLocation, Matcher, Pair, Selection, Skipped};

use crate::cli::FileSelection;
use crate::exit::UsageError;
use crate::printer::Printer;

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

/// Files named in the one line that says how many JavaScript files have no sourcemap.
const NO_MAP_NAMED: usize = 3;

/// Logs each skipped file (a warning; `info` for `sourcemap upload`, whose chunks may not be
/// injected yet), except:
/// - the chunks an earlier `--delete-after` run finished (`map_removed`): those are not a problem,
///   and are said in one line (a fresh tester's D11: a re-run warned "no sourcemap found" for each);
/// - JavaScript files without a sourcemap (`no_map`), when there are several: one line says how
///   many and names the first few, and `-v` names each (a Next.js build has a dozen runtime files
///   and manifests without maps, `webpack-*.js`, `_buildManifest.js`, ..., and printed a warning
///   for each; posthog-cli 0.19.0 passes them over without a word). The JSON summary's `skipped`
///   lists every one.
pub fn log_skipped(skipped: &[Skipped], warn: bool) {
    let mut settled = 0usize;
    let no_map: Vec<&Skipped> = skipped
        .iter()
        .filter(|s| s.reason.code() == symship_core::Code::NoMap)
        .collect();
    let summarize_no_map = no_map.len() > 1;
    for s in skipped {
        if s.reason.is_settled() {
            tracing::debug!("skipped {}: {}", s.path.display(), s.reason);
            settled += 1;
        } else if summarize_no_map && s.reason.code() == symship_core::Code::NoMap {
            tracing::debug!("skipped {}: {}", s.path.display(), s.reason);
        } else if warn {
            tracing::warn!("skipped {}: {}", s.path.display(), s.reason);
        } else {
            tracing::info!("skipped {}: {}", s.path.display(), s.reason);
        }
    }
    if summarize_no_map {
        let mut names = no_map
            .iter()
            .take(NO_MAP_NAMED)
            .map(|s| s.path.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        if no_map.len() > NO_MAP_NAMED {
            names.push_str(&format!(" and {} more", no_map.len() - NO_MAP_NAMED));
        }
        let line = format!(
            "{} JavaScript files have no sourcemap ({}: no sourceMappingURL comment naming an existing file, and no \
             <file>.map next to them), so they are not injected or uploaded: {names} (-v names each; the JSON \
             summary's skipped lists them all)",
            no_map.len(),
            symship_core::Code::NoMap
        );
        if warn {
            tracing::warn!("{line}");
        } else {
            tracing::info!("{line}");
        }
    }
    if settled > 0 {
        tracing::info!(
            "{settled} chunk(s) carry a chunk id and have no sourceMappingURL comment and no map ({}): a --delete-after \
             run uploaded them and removed their maps; nothing to do for them",
            symship_core::Code::MapRemoved
        );
    }
}

/// Why `path`, given to `-d`/`--directory`/`--file` (one argument: clap does not say which name
/// was used), names nothing to scan: a symbolic link that leads to no file (to a missing file, in
/// a loop, or a chain too long to follow) is said as such, else the path does not exist.
fn leads_to_nothing(path: &Path) -> String {
    use symship_scan::SkipReason;
    let flag = "-d/--file";
    let shown = path.display();
    match symship_scan::select::link_to_nothing(path) {
        Some(SkipReason::BrokenLink { target }) => format!(
            "{flag} {shown} is a symbolic link to {}, which does not exist; point the link at the build's output, or \
             check the path",
            target.display()
        ),
        Some(SkipReason::SymlinkLoop) => format!(
            "{flag} {shown} is part of a loop of symbolic links, so it leads to no file; remove the loop, or check \
             the path"
        ),
        Some(SkipReason::SymlinkChainTooLong) => format!(
            "{flag} {shown} starts a chain of more than {} symbolic links, more than the system follows, so it \
             leads to no file; point the link at the file itself, or check the path",
            symship_scan::select::MAX_LINKS
        ),
        _ => format!("{flag} {shown} does not exist; run the build first or check the path"),
    }
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
    /// The run waited for another run's lock on a directory: whatever it asked the server before
    /// (its checks ahead) may be out of date, since that run may have changed what the server
    /// holds meanwhile.
    pub waited: bool,
    /// What was walked (`--stdin` read once): `--delete-after` picks the CSS stylesheets it cleans
    /// up with the same roots and `--include`/`--exclude` ([`stylesheets`]).
    pub selection: Selection,
}

/// The CSS stylesheets of `selection` (the same roots, named files and `--include`/`--exclude` as
/// the chunks; posthog-cli 0.19.0 picks them the same way after its upload), for `--delete-after`.
/// A walk error (the selection was walked already) leaves the CSS alone, with a warning.
pub fn stylesheets(selection: &Selection) -> Vec<symship_scan::Candidate> {
    match select_matching(selection, Matcher::Stylesheet) {
        Ok((found, _)) => found,
        Err(e) => {
            tracing::warn!("--delete-after left CSS maps alone: {e}");
            Vec::new()
        }
    }
}

/// Takes the lock of the scanned directories and of the directories of named files, plus
/// `more` (directories found to be written into by an earlier attempt), then removes what killed
/// runs left there (`symship_fs::sweep`), before anything is read.
fn lock_and_sweep(
    selection: &Selection,
    more: &BTreeSet<PathBuf>,
    no_wait: bool,
    printer: &Printer,
    waited: &mut bool,
) -> anyhow::Result<symship_fs::DirLock> {
    let dirs: Vec<PathBuf> = selection
        .roots
        .iter()
        .chain(&selection.paths)
        .chain(more)
        .cloned()
        .collect();
    let wait = if no_wait {
        symship_fs::Wait::NoWait
    } else {
        symship_fs::Wait::Block
    };
    let lock = symship_fs::DirLock::acquire(&dirs, wait, &mut |dir| {
        *waited = true;
        printer.eprint(&crate::untrusted::neutralize(&format!(
            "Blocking: waiting for another symship run to finish with {} (--no-wait fails instead)\n",
            dir.display()
        )));
    })?;
    let wants_node_modules = selection.include.iter().any(|p| p.contains("node_modules"));
    let mut removed = Vec::new();
    for root in selection.roots.iter().filter(|r| r.is_dir()) {
        removed.extend(symship_fs::sweep(root, &|d| {
            !wants_node_modules && d.ends_with("node_modules")
        }));
    }
    // A named file: its own directory only, not below it; each directory once, however many
    // files of it are named (the plugins name every chunk on --stdin or with --file).
    let named_dirs: BTreeSet<&Path> = selection
        .roots
        .iter()
        .filter(|r| !r.is_dir())
        .chain(&selection.paths)
        .filter_map(|p| p.parent().filter(|d| !d.as_os_str().is_empty()))
        .chain(more.iter().map(PathBuf::as_path))
        .collect();
    for dir in named_dirs {
        removed.extend(symship_fs::sweep_dir(dir));
    }
    log_removed(&removed);
    Ok(lock)
}

fn log_removed(removed: &[PathBuf]) {
    for p in removed {
        tracing::info!("removed {}, left by an interrupted symship run", p.display());
    }
}

/// The directories the pairs' files are in (where inject and `--delete-after` write) that `lock`
/// does not cover: a named file's map in another folder (`--stdin` naming `dist/a.js` whose map
/// is `maps/a.js.map`).
fn uncovered_dirs(pairs: &[Pair], lock: &symship_fs::DirLock) -> BTreeSet<PathBuf> {
    let mut dirs = BTreeSet::new();
    for p in pairs {
        let map = match &p.map {
            MapLocation::File(m) => Some(m.as_path()),
            MapLocation::Inline => None,
        };
        for file in std::iter::once(p.source.as_path())
            .chain(map)
            .chain(p.map_link.as_deref())
        {
            if let Some(dir) = file.parent() {
                if !lock.covers(dir) {
                    dirs.insert(dir.to_path_buf());
                }
            }
        }
    }
    dirs
}

/// Walks the selection and pairs chunks with maps; with `Writes::Yes`, under the lock.
pub fn scan(
    files: &FileSelection,
    public_path_prefix: Option<&str>,
    writes: Writes,
    printer: &Printer,
) -> anyhow::Result<Scan> {
    scan_matching(files, public_path_prefix, writes, printer, Matcher::JavaScript)
}

/// [`scan`] for the chunks `matcher` names (web JavaScript, or Metro bundles for `hermes inject`).
pub fn scan_matching(
    files: &FileSelection,
    public_path_prefix: Option<&str>,
    writes: Writes,
    printer: &Printer,
    matcher: Matcher,
) -> anyhow::Result<Scan> {
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
            return Err(UsageError(leads_to_nothing(d)).into());
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
    let walk = || -> anyhow::Result<(Vec<Pair>, Vec<Skipped>)> {
        let (candidates, mut skipped) =
            select_matching(&selection, matcher).map_err(|e| UsageError(e.to_string()))?;
        let (pairs, more) = pair_all(candidates, public_path_prefix, symship_scan::read_source);
        skipped.extend(more);
        Ok((pairs, skipped))
    };
    let Writes::Yes { no_wait } = writes else {
        let (pairs, skipped) = walk()?;
        return Ok(Scan {
            pairs,
            skipped,
            lock: None,
            waited: false,
            selection,
        });
    };
    // Which directories a run writes into is known only once it has paired (a named file's map
    // may sit in another folder). Those are added to the lock without waiting; when another run
    // holds one, everything is released and locked again in order (waiting then cannot
    // deadlock), and the scan is repeated, since the files may have changed meanwhile.
    let mut more = BTreeSet::new();
    let mut waited = false;
    loop {
        let mut lock = lock_and_sweep(&selection, &more, no_wait, printer, &mut waited)?;
        let (pairs, skipped) = walk()?;
        let missing = uncovered_dirs(&pairs, &lock);
        if missing.is_empty() {
            return Ok(Scan {
                pairs,
                skipped,
                lock: Some(lock),
                waited,
                selection,
            });
        }
        match lock.extend(&missing.iter().collect::<Vec<_>>()) {
            Ok(()) => {
                let removed: Vec<PathBuf> = missing.iter().flat_map(|d| symship_fs::sweep_dir(d)).collect();
                log_removed(&removed);
                return Ok(Scan {
                    pairs,
                    skipped,
                    lock: Some(lock),
                    waited,
                    selection,
                });
            }
            Err(symship_fs::LockError::Busy { .. }) if !no_wait && !missing.is_subset(&more) => {
                more.extend(missing);
            }
            Err(e) => return Err(e.into()),
        }
    }
}
