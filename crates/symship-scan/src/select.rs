//! Which files to look at: directory roots walked recursively, single files, and paths read from
//! standard input, filtered by `--include`/`--exclude` globs (spec §5.4), picked by the name of
//! the chunks a command injects ([`Matcher`]: web JavaScript, or React Native's Metro bundles).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::{ScanError, SkipReason, Skipped};

/// What the user asked to scan.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Directories (walked) or files (`-d/--directory`, alias `--file`).
    pub roots: Vec<PathBuf>,
    /// Extra paths, e.g. from `--stdin`.
    pub paths: Vec<PathBuf>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

/// A JavaScript file found by the walk, with the root it was found under (map references may not
/// leave it).
#[derive(Debug, Clone)]
pub struct Candidate {
    pub path: PathBuf,
    /// The scanned directory it was found in (resolved), shared by every file found there: a
    /// build of 50,000 files held 50,000 copies of it.
    pub root: Arc<Path>,
    /// Named on its own (`--stdin`, `-d FILE`), not found by walking a directory: its own root
    /// for the map it references.
    pub named: bool,
}

/// File extensions of JavaScript chunks.
pub fn is_javascript(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("js" | "mjs" | "cjs")
    )
}

/// CSS stylesheets (`.css`): not uploaded, but `--delete-after` cleans up their maps within the
/// same selection as the chunks (posthog-cli 0.19.0 `is_stylesheet_file`, spec §5.5).
pub fn is_stylesheet(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()) == Some("css")
}

/// File extensions of Metro's bundles: `index.android.bundle` (Android), `main.jsbundle` (iOS).
/// posthog-cli 0.19.0's `hermes inject` picks exactly these (`hermes/inject.rs::is_metro_bundle`,
/// spec `kinds-and-explain.md` §1.4). A bundle hermesc already compiled (the `.hbc` moved over
/// it) is found too and then skipped as not UTF-8, as posthog-cli skips it.
pub fn is_metro_bundle(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("bundle" | "jsbundle")
    )
}

/// Which files a walk takes as chunks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Matcher {
    /// Web JavaScript, `.js`, `.mjs`, `.cjs` (`sourcemap inject | upload | process`).
    #[default]
    JavaScript,
    /// React Native's Metro bundles, `.bundle` and `.jsbundle` (`hermes inject`), before hermesc
    /// compiles them.
    MetroBundle,
    /// CSS stylesheets, `.css` (`--delete-after`'s cleanup of CSS maps; never uploaded).
    Stylesheet,
}

impl Matcher {
    /// Whether `path` is named as a chunk of this kind (its extension; the file is not read).
    pub fn matches(self, path: &Path) -> bool {
        match self {
            Matcher::JavaScript => is_javascript(path),
            Matcher::MetroBundle => is_metro_bundle(path),
            Matcher::Stylesheet => is_stylesheet(path),
        }
    }
}

fn globset(patterns: &[String], flag: &str) -> Result<GlobSet, ScanError> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let glob = Glob::new(p).map_err(|e| ScanError::BadGlob {
            flag: flag.to_string(),
            pattern: p.clone(),
            reason: e.to_string(),
        })?;
        b.add(glob);
    }
    b.build().map_err(|e| ScanError::BadGlob {
        flag: flag.to_string(),
        pattern: patterns.join(" "),
        reason: e.to_string(),
    })
}

struct Filter {
    include: GlobSet,
    exclude: GlobSet,
    has_include: bool,
    wants_node_modules: bool,
}

impl Filter {
    /// A path passes when it matches an include (if any) and no exclude. Patterns are tried
    /// against the path as walked (as posthog-cli does) and against the path relative to its root.
    fn accepts(&self, walked: &Path, root: &Path) -> bool {
        let rel = walked.strip_prefix(root).unwrap_or(walked);
        let hit = |set: &GlobSet| set.is_match(walked) || set.is_match(rel);
        (!self.has_include || hit(&self.include)) && !hit(&self.exclude)
    }

    /// Whether an exclude leaves out `walked` (a file, or a directory with all it holds: `dir`
    /// or `dir/**`), as [`Filter::accepts`] tries a path.
    fn excludes(&self, walked: &Path, root: &Path) -> bool {
        let rel = walked.strip_prefix(root).unwrap_or(walked);
        [walked, rel]
            .iter()
            .any(|p| self.exclude.is_match(p) || self.exclude.is_match(p.join("-")))
    }

    /// Whether the file a path resolves to, `canonical`, inside the scanned directory
    /// `canonical_root` (given as `root`), is excluded by its own path: a file reached through a
    /// symbolic link inside the directory (`dist/app.js -> real/main.js`) is excluded when its
    /// real path is, however it is reached (posthog-cli 0.19.0 does not follow links, so it never
    /// finds it there). Tried as the walk would name the real file (`root` joined with its path
    /// in the directory) and relative to the directory, as [`Filter::accepts`] tries a path; never
    /// by the directories above the root, which a link to the root itself may rename.
    fn excludes_real(&self, canonical: &Path, canonical_root: &Path, root: &Path) -> bool {
        if self.exclude.is_empty() {
            return false;
        }
        let Ok(rel) = canonical.strip_prefix(canonical_root) else {
            return false;
        };
        let as_walked = root.join(rel);
        self.exclude.is_match(&as_walked) || self.exclude.is_match(rel)
    }
}

/// `path` with `.` and `..` taken lexically (as written, before any symbolic link is followed).
pub fn lexical(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// The current directory's tree, for paths named on their own: a named path that lies in it as
/// written must resolve inside it, as a file found by walking `-d` must resolve inside `-d`.
struct Tree {
    cwd: Option<PathBuf>,
    /// Lexical parent directory -> whether it lies in the tree through a prefix that resolves
    /// to the current directory (an absolute path through a link to it, such as a logical $PWD).
    through_link: std::collections::HashMap<PathBuf, bool>,
}

impl Tree {
    fn new() -> Tree {
        Tree {
            cwd: std::env::current_dir().ok().and_then(|d| d.canonicalize().ok()),
            through_link: Default::default(),
        }
    }

    /// The current directory, when `path` (as named) lies in its tree.
    fn holding(&mut self, path: &Path) -> Option<PathBuf> {
        let cwd = self.cwd.as_ref()?;
        let abs = lexical(&cwd.join(path));
        if abs.starts_with(cwd) {
            return Some(cwd.clone());
        }
        let parent = abs.parent()?.to_path_buf();
        let inside = *self.through_link.entry(parent).or_insert_with_key(|parent| {
            parent
                .ancestors()
                .any(|a| a.canonicalize().is_ok_and(|c| c == *cwd))
        });
        inside.then(|| cwd.clone())
    }
}

/// Links the system follows at most in one path (Linux's own limit; a longer chain is `ELOOP`,
/// as a loop is).
pub const MAX_LINKS: usize = 40;

/// Why `path`, a symbolic link that leads to no file, cannot be read: its chain of links comes
/// back to a link met before ([`SkipReason::SymlinkLoop`]: a loop of file links `a.js -> b.js ->
/// a.js` never ends; the walk reports it as an I/O error, not as the directory loop it knows), is
/// longer than [`MAX_LINKS`] without coming back ([`SkipReason::SymlinkChainTooLong`]: the system
/// refuses it as it refuses a loop, and a loop of more links is such a chain too), or ends at a
/// path that does not exist ([`SkipReason::BrokenLink`]).
/// `None` when `path` is no symbolic link, or its chain ends at something that exists (an entry
/// that cannot be read for another reason).
pub fn link_to_nothing(path: &Path) -> Option<SkipReason> {
    let mut at = path.to_path_buf();
    // the links met, each as its directory resolved and its own name (one link, however named)
    let mut met = std::collections::HashSet::new();
    loop {
        if !std::fs::symlink_metadata(&at).ok()?.file_type().is_symlink() {
            return None;
        }
        if !met.insert(symship_fs::canonicalize_listed(&at).unwrap_or_else(|_| at.clone())) {
            return Some(SkipReason::SymlinkLoop);
        }
        if met.len() > MAX_LINKS {
            return Some(SkipReason::SymlinkChainTooLong);
        }
        let target = std::fs::read_link(&at).ok()?;
        let next = lexical(&at.parent().unwrap_or(Path::new(".")).join(&target));
        match std::fs::symlink_metadata(&next) {
            Ok(_) => at = next,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Some(SkipReason::BrokenLink { target });
            }
            Err(_) => return None,
        }
    }
}

/// Walks the selection for JavaScript chunks ([`select_matching`] with [`Matcher::JavaScript`]).
pub fn select(selection: &Selection) -> Result<(Vec<Candidate>, Vec<Skipped>), ScanError> {
    select_matching(selection, Matcher::JavaScript)
}

/// Walks the selection for the chunks `matcher` names. Unreadable entries, links that lead to no
/// file (under a name the scan takes) and escaping paths are reported as skipped, not fatal; a
/// directory link to a directory above it is not followed, and not reported (a `-v` line); a root
/// that does not exist is an error.
pub fn select_matching(
    selection: &Selection,
    matcher: Matcher,
) -> Result<(Vec<Candidate>, Vec<Skipped>), ScanError> {
    let filter = Filter {
        include: globset(&selection.include, "--include")?,
        exclude: globset(&selection.exclude, "--exclude")?,
        has_include: !selection.include.is_empty(),
        wants_node_modules: selection.include.iter().any(|p| p.contains("node_modules")),
    };
    // canonical path -> its index in `found`
    let mut seen: HashMap<PathBuf, usize> = HashMap::new();
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    let mut tree = Tree::new();
    // the last root met, shared by the candidates found in it
    let mut shared_root: Option<Arc<Path>> = None;
    // `listed`: the walk's listing says the file is no symbolic link (no `lstat` needed)
    let mut add = |path: &Path,
                   root: &Path,
                   named: bool,
                   listed: bool,
                   found: &mut Vec<Candidate>,
                   skipped: &mut Vec<Skipped>| {
        // with the directories resolved once: `realpath` per file was most of inject's system
        // time on 4,000 small files
        let canonical = if listed {
            symship_fs::canonicalize_listed(path)
        } else {
            symship_fs::canonicalize(path)
        };
        match canonical {
            Ok(canonical) => {
                let given_root = root;
                let root = symship_fs::canonical_dir(root).unwrap_or_else(|_| root.to_path_buf());
                let root: Arc<Path> = match &shared_root {
                    Some(r) if **r == *root => r.clone(),
                    _ => shared_root.insert(Arc::from(root)).clone(),
                };
                if filter.excludes_real(&canonical, &root, given_root) {
                    // reached through a link inside the directory, to a file an exclude names:
                    // excluded as the file itself is
                    return;
                }
                // A path named on its own in the current directory's tree, through a link to a
                // directory outside it (`dist/vendor/lib.js` with `dist/vendor` a link out).
                let tree_left = named
                    .then(|| tree.holding(path))
                    .flatten()
                    .filter(|cwd| !canonical.starts_with(cwd));
                if let Some(cwd) = tree_left {
                    skipped.push(Skipped {
                        path: path.to_path_buf(),
                        reason: SkipReason::LinkOutsideRoot(format!(
                            "it resolves through a symbolic link to {}, outside the current directory {} that the path \
                             is named in; symship does not write through a link out of the tree it is given (name the \
                             link's target instead)",
                            canonical.display(),
                            cwd.display()
                        )),
                    });
                } else if !canonical.starts_with(&root) {
                    // A symbolic link (to the file or a directory above it) leads out of the
                    // scanned directory: inject would write there. Not followed.
                    skipped.push(Skipped {
                            path: path.to_path_buf(),
                            reason: SkipReason::LinkOutsideRoot(format!(
                                "it is a symbolic link to {}, outside the scanned directory {}; symship does not \
                                 write outside the directories it scans (pass the link's target directory instead)",
                                canonical.display(),
                                root.display()
                            )),
                        });
                } else if let Some(&at) = seen.get(&canonical) {
                    // Found twice (a walked root holds a file named on its own too, in either
                    // order): a file named on its own is its own root for the map it references,
                    // whatever else is scanned.
                    let known: &mut Candidate = &mut found[at];
                    if named && !known.named {
                        known.root = root;
                        known.named = true;
                    }
                } else {
                    seen.insert(canonical.clone(), found.len());
                    found.push(Candidate {
                        path: canonical,
                        root,
                        named,
                    });
                }
            }
            Err(e) => skipped.push(Skipped {
                path: path.to_path_buf(),
                reason: SkipReason::Unreadable(e.to_string()),
            }),
        }
    };

    for root in &selection.roots {
        let meta = std::fs::metadata(root).map_err(|e| ScanError::Root {
            path: root.clone(),
            source: e,
        })?;
        if meta.is_file() {
            let parent = root
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            if matcher.matches(root) && filter.accepts(root, parent) {
                add(root, parent, true, false, &mut found, &mut skipped);
            }
            continue;
        }
        let walker = walkdir::WalkDir::new(root)
            .follow_links(true)
            .sort_by(|a, b| entry_name(a).cmp(entry_name(b)));
        let mut it = walker.into_iter();
        while let Some(entry) = it.next() {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let path = e.path().map(Path::to_path_buf).unwrap_or_else(|| root.clone());
                    if let Some(above) = e.loop_ancestor() {
                        // A link to a directory above it (`sub/up -> ..`): no file, and what it
                        // leads to is walked already, so nothing is missed. Not a skip (it would
                        // count against --strict and turn "nothing found" into "every file
                        // skipped"), whatever --include says; -v says it.
                        tracing::debug!(
                            "not following {}: a symbolic link to {}, a directory above it that is scanned already",
                            path.display(),
                            above.display()
                        );
                        continue;
                    }
                    if filter.excludes(&path, root) {
                        // a link loop (or an unreadable entry) the user left out with --exclude,
                        // as the codes table says they may
                        continue;
                    }
                    let reason = if let Some(reason) = link_to_nothing(&path) {
                        // A link that leads to no file holds no chunk: only one whose own name is
                        // a chunk's (the matcher's extension, --include, --exclude) is reported,
                        // as the file it was meant to be would have been taken.
                        if !(matcher.matches(&path) && filter.accepts(&path, root)) {
                            continue;
                        }
                        reason
                    } else {
                        SkipReason::Unreadable(e.to_string())
                    };
                    skipped.push(Skipped { path, reason });
                    continue;
                }
            };
            if entry.file_type().is_dir() {
                if entry.depth() > 0 && entry.file_name() == "node_modules" && !filter.wants_node_modules {
                    it.skip_current_dir();
                }
                continue;
            }
            let path = entry.path();
            if entry.file_type().is_file() && matcher.matches(path) && filter.accepts(path, root) {
                add(
                    path,
                    root,
                    false,
                    !entry.path_is_symlink(),
                    &mut found,
                    &mut skipped,
                );
            }
        }
    }
    for path in &selection.paths {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !path.exists() {
            // A path that leads to no file (a link to a missing file or in a loop, or nothing)
            // is reported only under a name the scan takes, as a file is taken only under one
            // (`notes.txt` on --stdin is passed over, whatever it is).
            if matcher.matches(path) && filter.accepts(path, parent) {
                skipped.push(Skipped {
                    path: path.clone(),
                    reason: link_to_nothing(path)
                        .unwrap_or_else(|| SkipReason::Unreadable("no such file".into())),
                });
            }
        } else if path.is_file() && matcher.matches(path) && filter.accepts(path, parent) {
            add(path, parent, true, false, &mut found, &mut skipped);
        }
    }
    Ok((found, skipped))
}

/// The name of a walked entry: its path's bytes after the last `/` (walkdir joins each entry's
/// name to its directory's path). The same order as `sort_by_file_name`, whose `Path::file_name`
/// parsed the path's components again at every comparison: 8 % of a re-run's CPU on a build of
/// 10,000 chunks, on the thread every later stage waits for.
fn entry_name(e: &walkdir::DirEntry) -> &[u8] {
    let b = e.path().as_os_str().as_encoded_bytes();
    #[cfg(unix)]
    let cut = memchr::memrchr(b'/', b);
    #[cfg(not(unix))]
    let cut = memchr::memrchr2(b'/', b'\\', b);
    match cut {
        Some(i) if i + 1 < b.len() => &b[i + 1..],
        _ => e.file_name().as_encoded_bytes(),
    }
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "the test builds a directory tree in a temporary directory"
)]
mod tests {
    use super::*;

    /// The walk's order by [`entry_name`] is walkdir's `sort_by_file_name` order.
    #[test]
    fn entries_sort_by_name_as_sort_by_file_name_does() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "b.js", "a.js", "a", "a-b.js", "A.js", "é.js", "a.b", "_x.js", "10.js", "9.js",
        ] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        for sub in ["a.d", "a_d"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
            std::fs::write(dir.path().join(sub).join("z.js"), "").unwrap();
            std::fs::write(dir.path().join(sub).join("y.js"), "").unwrap();
        }
        let walk =
            |w: walkdir::WalkDir| -> Vec<PathBuf> { w.into_iter().map(|e| e.unwrap().into_path()).collect() };
        let ours = walk(walkdir::WalkDir::new(dir.path()).sort_by(|a, b| entry_name(a).cmp(entry_name(b))));
        let theirs = walk(walkdir::WalkDir::new(dir.path()).sort_by_file_name());
        assert_eq!(ours, theirs);
        assert_eq!(ours.len(), 17);
    }
}
