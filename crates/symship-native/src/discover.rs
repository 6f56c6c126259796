//! Finding native debug files under a directory (posthog-cli 0.19.0's `debug_symbols::discover`
//! and `dsym::find_dsym_bundles`, `kinds-and-explain.md` §3.3-3.4).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::inspect::{inspect, Finding, Format, Slice};
use crate::reason::Reason;
use symship_core::format::Format as FileFormat;

/// A file or slice that is not uploaded, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: PathBuf,
    /// The fat slice's architecture, if it is one.
    pub arch: Option<String>,
    pub reason: Reason,
}

/// A `.dSYM` bundle and what its `Contents/Resources/DWARF/` files hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The `<Name>.dSYM` directory.
    pub path: PathBuf,
    /// One per architecture slice with an `LC_UUID` and DWARF, in file-name then slice order.
    pub slices: Vec<Slice>,
    /// DWARF files or slices that cannot be uploaded.
    pub skipped: Vec<Skipped>,
}

impl Bundle {
    /// The bundle's file name (`MyApp.app.dSYM`).
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// What a directory holds, sorted by path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovery {
    /// `.dSYM` bundles (their files are not looked at as loose files).
    pub bundles: Vec<Bundle>,
    /// Loose ELF and Mach-O objects to upload, one per debug id (the richer of two files with one
    /// id: more DWARF bytes, then the larger).
    pub slices: Vec<Slice>,
    /// Everything passed over with a reason (split DWARF, no debug info, no id, duplicates, ...).
    pub skipped: Vec<Skipped>,
    /// Files or fat slices that cannot be uploaded themselves but whose debug id is uploaded from
    /// another file found: a stripped ELF beside its `objcopy --only-keep-debug` companion, a
    /// Mach-O executable beside its dSYM, a zstd-compressed ELF beside a decompressed copy.
    /// Nothing to do, so not skips.
    pub covered: Vec<Covered>,
}

/// A file (or fat slice) whose debug id is uploaded from another file ([`Discovery::covered`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Covered {
    pub path: PathBuf,
    /// The fat slice's architecture, if it is one.
    pub arch: Option<String>,
    /// Why it is not uploaded itself ([`Reason::NoDebugInfo`], [`Reason::CompressedDwarf`],
    /// [`Reason::ZstdDwarf`]).
    pub reason: Reason,
    pub debug_id: String,
    /// The file uploaded under that debug id (a dSYM's DWARF file before a loose one).
    pub kept: PathBuf,
}

/// The walk's error: the directory itself cannot be listed.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the directory {}: {source}", .path.display())]
pub struct WalkError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

fn walk(dir: &Path) -> walkdir::IntoIter {
    walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
}

fn is_dsym(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "dSYM")
}

/// Whether a file's name says it is a zipped dSYM: `*.dSYM.zip` (fastlane's gym, Xcode Cloud) or
/// `*dSYMs.zip` (App Store Connect's `appDsyms.zip`), in any case.
pub fn is_zipped_dsym(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    name.ends_with(".dsym.zip") || name.ends_with("dsyms.zip")
}

/// What `dsym upload` finds under a directory ([`find_dsyms`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DsymSearch {
    /// The `.dSYM` bundles, each inspected, sorted by path.
    pub bundles: Vec<Bundle>,
    /// What may hold a dSYM but is not read, in walk order: zipped dSYMs ([`is_zipped_dsym`],
    /// [`Reason::ZippedDsym`]), directories that cannot be listed and `*.dSYM` links that lead
    /// nowhere ([`Reason::Unreadable`]), links back to a directory above ([`Reason::SymlinkLoop`]).
    /// posthog-cli 0.19.0 passes zipped dSYMs over without a word.
    pub skipped: Vec<Skipped>,
    /// Every entry the walk could not follow or list, as the walk names it (`IO error for
    /// operation on <path>: ...`, `File system loop found: ...`), dangling links of any name
    /// included: posthog-cli 0.19.0's `dsym upload` stops at the first with that error (exit 1).
    pub walk_errors: Vec<String>,
}

/// The `.dSYM` bundles under `dir` (links followed; a bundle's own contents are not searched for
/// more bundles), each inspected, and what is passed over ([`DsymSearch::skipped`]). Only `dir`
/// itself being unreadable is an error.
pub fn find_dsyms(dir: &Path) -> Result<DsymSearch, WalkError> {
    let mut out = DsymSearch::default();
    let mut it = walk(dir);
    while let Some(entry) = it.next() {
        let entry = match entry {
            Ok(e) => e,
            Err(e) if e.depth() == 0 => return Err(walk_error(dir, e)),
            Err(e) => {
                out.walk_errors.push(e.to_string());
                let s = walk_skip(dir, &e);
                // a link that leads nowhere matters only if it names a dSYM; a directory that
                // cannot be listed may hold any number of them
                let dangling = std::fs::read_link(&s.path).is_ok() && std::fs::metadata(&s.path).is_err();
                if !dangling || is_dsym(&s.path) || is_zipped_dsym(&s.path) {
                    out.skipped.push(s);
                }
                continue;
            }
        };
        if entry.file_type().is_dir() && is_dsym(entry.path()) {
            out.bundles.push(bundle(entry.path()));
            it.skip_current_dir();
        } else if entry.file_type().is_file() && is_zipped_dsym(entry.path()) {
            out.skipped.push(Skipped {
                path: entry.path().to_path_buf(),
                arch: None,
                reason: Reason::ZippedDsym,
            });
        } else if entry.file_type().is_file() && is_dsym(entry.path()) {
            // posthog-cli 0.19.0 passes such a file over without a word
            let (_, s) = dsym_file(entry.path());
            out.skipped.push(s);
        }
    }
    Ok(out)
}

/// A regular file named `*.dSYM`, skipped as not a bundle ([`Reason::NotABundle`], saying what
/// it is from its first bytes), and that format (`None` when it cannot be read:
/// [`Reason::Unreadable`]).
fn dsym_file(path: &Path) -> (Option<FileFormat>, Skipped) {
    use std::io::Read as _;
    let mut head = Vec::with_capacity(symship_core::format::SNIFF_LEN);
    let read = std::fs::File::open(path).and_then(|f| {
        f.take(symship_core::format::SNIFF_LEN as u64)
            .read_to_end(&mut head)
    });
    let (format, reason) = match read {
        Ok(_) => {
            let f = symship_core::format::sniff(&head);
            (Some(f), Reason::NotABundle(f))
        }
        Err(e) => (None, Reason::Unreadable(e.to_string())),
    };
    (
        format,
        Skipped {
            path: path.to_path_buf(),
            arch: None,
            reason,
        },
    )
}

/// An entry below the walk's root that cannot be followed or listed: a link loop
/// ([`Reason::SymlinkLoop`]), a link that leads nowhere or a directory that cannot be listed
/// ([`Reason::Unreadable`], saying which).
fn walk_skip(dir: &Path, e: &walkdir::Error) -> Skipped {
    let path = e
        .path()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.to_path_buf());
    let io = e
        .io_error()
        .map(ToString::to_string)
        .unwrap_or_else(|| e.to_string());
    let reason = if e.loop_ancestor().is_some() {
        Reason::SymlinkLoop(e.to_string())
    } else if let Some(target) = std::fs::read_link(&path)
        .ok()
        .filter(|_| std::fs::metadata(&path).is_err())
    {
        Reason::Unreadable(format!(
            "it is a symbolic link to {}, which does not exist or cannot be reached ({io})",
            target.display()
        ))
    } else if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
        Reason::Unreadable(format!(
            "the directory cannot be listed ({io}), so nothing in it is looked at"
        ))
    } else {
        Reason::Unreadable(io)
    };
    Skipped {
        path,
        arch: None,
        reason,
    }
}

fn walk_error(dir: &Path, e: walkdir::Error) -> WalkError {
    let source = e
        .into_io_error()
        .unwrap_or_else(|| std::io::Error::other("a link loop"));
    WalkError {
        path: dir.to_path_buf(),
        source,
    }
}

/// Inspects one `.dSYM` bundle: every file in `Contents/Resources/DWARF/`, sorted by name.
pub fn bundle(path: &Path) -> Bundle {
    let mut b = Bundle {
        path: path.to_path_buf(),
        slices: Vec::new(),
        skipped: Vec::new(),
    };
    let dwarf_dir = path.join("Contents/Resources/DWARF");
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dwarf_dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect(),
        Err(e) => {
            let (path, reason) = if e.kind() == std::io::ErrorKind::NotFound && !dwarf_dir.exists() {
                (path.to_path_buf(), Reason::NoDwarfFolder)
            } else {
                (
                    dwarf_dir,
                    Reason::Unreadable(format!("a dSYM bundle needs Contents/Resources/DWARF/: {e}")),
                )
            };
            b.skipped.push(Skipped {
                path,
                arch: None,
                reason,
            });
            return b;
        }
    };
    files.sort();
    for f in files {
        let findings = inspect(&f);
        if findings.is_empty() {
            // every file in a dSYM's DWARF directory is meant to be its Mach-O debug file
            // (posthog-cli warns "Failed to process dSYM ... not recognized as a valid object file")
            let what = match crate::inspect::is_native(&f) {
                Ok(false) => "a dSYM's DWARF file must be a Mach-O file, this is not an object file".into(),
                Ok(true) => {
                    "a dSYM's DWARF file must be a Mach-O debug file (MH_DSYM), this is an object of \
                             another kind"
                        .into()
                }
                Err(e) => e.to_string(),
            };
            b.skipped.push(Skipped {
                path: f,
                arch: None,
                reason: Reason::Unparseable(what),
            });
            continue;
        }
        for finding in findings {
            match finding {
                Finding::Slice(s) if s.format == Format::MachO => b.slices.push(s),
                Finding::Slice(s) => b.skipped.push(Skipped {
                    path: s.path,
                    arch: None,
                    reason: Reason::Unparseable(
                        "a dSYM's DWARF file must be a Mach-O file, this is an ELF file".into(),
                    ),
                }),
                Finding::Skipped { path, arch, reason } => b.skipped.push(Skipped { path, arch, reason }),
            }
        }
    }
    if b.slices.is_empty() && b.skipped.is_empty() {
        b.skipped.push(Skipped {
            path: dwarf_dir,
            arch: None,
            reason: Reason::NoDebugInfo,
        });
    }
    b
}

/// Everything under `dir` for `symbol-sets upload`: dSYM bundles, loose ELF/Mach-O objects
/// (deduplicated by debug id, keeping the richer), and what is skipped. Unreadable entries below
/// `dir` are skipped with [`Reason::Unreadable`].
pub fn discover(dir: &Path) -> Result<Discovery, WalkError> {
    let mut d = Discovery::default();
    let mut it = walk(dir);
    while let Some(entry) = it.next() {
        let entry = match entry {
            Ok(e) => e,
            Err(e) if e.depth() == 0 => return Err(walk_error(dir, e)),
            Err(e) => {
                d.skipped.push(walk_skip(dir, &e));
                continue;
            }
        };
        let path = entry.path();
        if entry.file_type().is_dir() {
            if is_dsym(path) {
                d.bundles.push(bundle(path));
                it.skip_current_dir();
            }
            continue;
        }
        if path.extension().is_some_and(|e| e == "dwo" || e == "dwp") {
            d.skipped.push(Skipped {
                path: path.to_path_buf(),
                arch: None,
                reason: Reason::SplitDwarf,
            });
            continue;
        }
        if !entry.file_type().is_file() {
            continue;
        }
        if is_zipped_dsym(path) {
            d.skipped.push(Skipped {
                path: path.to_path_buf(),
                arch: None,
                reason: Reason::ZippedDsym,
            });
            continue;
        }
        if is_dsym(path) {
            // a file named like a bundle: a Mach-O (a dSYM's DWARF file out of its bundle) or
            // ELF file is read as any loose file, as posthog-cli 0.19.0 reads it; anything else
            // is named (posthog-cli passes it over without a word)
            match dsym_file(path) {
                (Some(FileFormat::MachO | FileFormat::FatMachO | FileFormat::Elf), _) => {}
                (_, skipped) => {
                    d.skipped.push(skipped);
                    continue;
                }
            }
        }
        for finding in inspect(path) {
            match finding {
                Finding::Slice(s) => d.slices.push(s),
                Finding::Skipped { path, arch, reason } => d.skipped.push(Skipped { path, arch, reason }),
            }
        }
    }
    let (slices, dupes) = dedupe(std::mem::take(&mut d.slices));
    d.slices = slices;
    d.skipped.extend(dupes);
    // a stripped binary beside its debug companion, an executable beside its dSYM: its debug id
    // is uploaded, so telling the user to upload the companion is wrong (s9 tester, finding 20;
    // s11 tester, D9). A dSYM's slice wins over a loose file (`dedupe_keep_first`).
    let mut ids: HashMap<&str, &Path> = HashMap::new();
    for s in d.bundles.iter().flat_map(|b| &b.slices).chain(&d.slices) {
        ids.entry(s.debug_id.as_str()).or_insert(s.path.as_path());
    }
    let mut covered = Vec::new();
    d.skipped.retain(|s| {
        if !matches!(
            s.reason,
            Reason::NoDebugInfo | Reason::CompressedDwarf | Reason::ZstdDwarf
        ) {
            return true;
        }
        let Some(id) = crate::inspect::debug_id(&s.path, s.arch.as_deref()) else {
            return true;
        };
        match ids.get(id.as_str()) {
            Some(kept) => {
                covered.push(Covered {
                    path: s.path.clone(),
                    arch: s.arch.clone(),
                    reason: s.reason.clone(),
                    debug_id: id,
                    kept: kept.to_path_buf(),
                });
                false
            }
            None => true,
        }
    });
    d.covered = covered;
    Ok(d)
}

/// One slice per debug id: the one with more DWARF bytes, then the larger (posthog-cli keeps the
/// larger file), then a file over a symbolic link, then the first found. The others are [`Reason::Duplicate`].
pub fn dedupe(slices: Vec<Slice>) -> (Vec<Slice>, Vec<Skipped>) {
    let mut kept: Vec<Slice> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    let mut losers = Vec::new();
    for s in slices {
        match at.get(&s.debug_id) {
            None => {
                at.insert(s.debug_id.clone(), kept.len());
                kept.push(s);
            }
            Some(&i) => {
                // as rich: the file itself rather than a symbolic link to it (or to a copy), so
                // the report names the link, not the file, as the one passed over (s11 tester D16)
                let real = |p: &Path| !std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink());
                let richer = (s.debug_bytes, s.len, real(&s.path))
                    > (kept[i].debug_bytes, kept[i].len, real(&kept[i].path));
                let loser = if richer {
                    std::mem::replace(&mut kept[i], s)
                } else {
                    s
                };
                losers.push(loser);
            }
        }
    }
    let dupes = losers
        .into_iter()
        .map(|l| {
            let winner = &kept[at[&l.debug_id]];
            Skipped {
                arch: (l.offset != 0).then(|| l.arch.clone()),
                reason: Reason::Duplicate {
                    debug_id: l.debug_id.clone(),
                    kept: winner.path.clone(),
                },
                path: l.path,
            }
        })
        .collect();
    (kept, dupes)
}

/// One slice per debug id, the first one found winning (`symbol-sets upload` lists dSYM slices
/// before loose files, so a dSYM wins over its executable, as posthog-cli's
/// `merge_uploads_prefer_dsym` does). The others are [`Reason::Duplicate`].
pub fn dedupe_keep_first(slices: Vec<Slice>) -> (Vec<Slice>, Vec<Skipped>) {
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    let mut kept = Vec::new();
    let mut dupes = Vec::new();
    for s in slices {
        if let Some(first) = seen.get(&s.debug_id) {
            dupes.push(Skipped {
                arch: (s.offset != 0).then(|| s.arch.clone()),
                reason: Reason::Duplicate {
                    debug_id: s.debug_id.clone(),
                    kept: first.clone(),
                },
                path: s.path,
            });
        } else {
            seen.insert(s.debug_id.clone(), s.path.clone());
            kept.push(s);
        }
    }
    (kept, dupes)
}
