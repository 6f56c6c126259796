//! The `__source/` bundle of `--include-source` (`kinds-and-explain.md` §3.5, posthog-cli 0.19.0's
//! `dsym/source_bundle.rs`): the source files a slice's DWARF names, packed beside `dwarf` in its
//! zip so PostHog can show the code around a frame.
//!
//! 1. Paths: the compile units' main files (`DW_AT_comp_dir` joined with `DW_AT_name`) give the
//!    project prefix, their longest common directory; every file of every line table (the unit's
//!    directory, the file's directory and its name joined, `.` and `..` cleaned) that is absolute and under that prefix
//!    is kept (all absolute ones if there is no prefix). Builds that record relative paths
//!    (`-fdebug-prefix-map=...=.`) give none, as posthog-cli 0.19.0 finds none in them.
//!    Go units (`DW_LANG_Go`) are packages, not files: they give no prefix, and a Go binary's
//!    absolute `.go`/`.s` files are kept ([`go_source`]) less the Go toolchain's and the module
//!    cache's ([`drop_go_toolchain`]), as posthog-cli 0.19.0 keeps them (a Go program's own files).
//! 2. Filters: toolchain and SDK paths are dropped ([`dropped`]); `symbol-sets upload` also drops
//!    dependency caches ([`SourceOptions::drop_dependencies`]); `--source-root` keeps only paths
//!    whose canonical form is under it.
//! 3. Each file is read if it is a regular file, not a link, and at most [`MAX_SOURCE_BYTES`];
//!    others are left out with a warning.
//! 4. Names: `__source/<file name>`, extended with parent directories until unique among the
//!    paths that passed the filters (read or not, as posthog-cli names them); then
//!    `__source/manifest.json`, `{"version":1,"files":{"<path as in the DWARF>":"__source/<name>"}}`
//!    (pretty, keys sorted), written first. Verified against posthog-cli 0.19.0's upload of a gcc
//!    build with absolute paths (two `util.c` in different directories: `__source/lib/util.c`,
//!    `__source/src/util.c`).
//!
//! The DWARF sections the paths come from (`.debug_info`, `.debug_abbrev`, `.debug_line`, the
//! string sections) are read into memory while the paths are collected; the rest of the file is
//! not.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use object::{Object, ObjectSection, ReadCache};

use crate::inspect::Slice;

/// Source files larger than this are left out (posthog-cli's limit).
pub const MAX_SOURCE_BYTES: u64 = 64 * 1024 * 1024;

/// What `--include-source` was given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceOptions {
    /// `--source-root`, canonical: only files under it.
    pub root: Option<PathBuf>,
    /// Drop Cargo's and vendored dependencies too (`symbol-sets upload`, not `dsym upload`).
    pub drop_dependencies: bool,
}

/// The bundle of one slice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceBundle {
    /// Zip entries in the order they are written: the manifest, then the files by name.
    pub entries: Vec<(String, Vec<u8>)>,
    /// Paths the DWARF names that were not bundled, and why (for the run's warnings).
    pub warnings: Vec<String>,
}

/// Why a slice's DWARF could not be read for its source paths.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the DWARF of {} for its source paths: {reason}", .path.display())]
    Dwarf { path: PathBuf, reason: String },
}

/// Path prefixes of toolchains and SDKs, never bundled.
const DROPPED_PREFIXES: [&str; 4] = ["/Library/Developer/", "/Applications/Xcode", "/System/", "/usr/"];
/// Substrings of toolchain, SDK and synthetic paths, never bundled.
const DROPPED_PARTS: [&str; 5] = [
    "/Xcode.app/",
    "/SDKs/",
    "<compiler-generated>",
    "<built-in>",
    "/DerivedData/",
];
/// Dependency caches, dropped by `symbol-sets upload`.
const DEPENDENCY_PARTS: [&str; 5] = [
    "/.cargo/registry/",
    "/.cargo/git/",
    "/rustc/",
    "/.rustup/toolchains/",
    "/vendor/",
];

/// Whether a DWARF path is left out by the filters of §3.5 (Go's `.go`/`.s` files under `/usr/`
/// are kept: Go's toolchain lives there but so do GOPATH checkouts).
pub fn dropped(path: &str, drop_dependencies: bool) -> bool {
    let go = path.ends_with(".go") || path.ends_with(".s");
    DROPPED_PREFIXES
        .iter()
        .any(|p| path.starts_with(p) && !(go && *p == "/usr/"))
        || DROPPED_PARTS.iter().any(|p| path.contains(p))
        || (drop_dependencies && DEPENDENCY_PARTS.iter().any(|p| path.contains(p)))
}

type R<'a> = gimli::EndianSlice<'a, gimli::RunTimeEndian>;

fn dwarf_err(slice: &Slice, e: impl std::fmt::Display) -> SourceError {
    SourceError::Dwarf {
        path: slice.path.clone(),
        reason: e.to_string(),
    }
}

/// A DWARF section's bytes, decompressed when the ELF stores it compressed (`SHF_COMPRESSED`, as
/// `gcc -gz=zlib` writes, or a GNU `.zdebug_*` section): zlib through flate2, as symbolic reads
/// them for posthog-cli 0.19.0.
fn section_data<'d, S: ObjectSection<'d>>(slice: &Slice, s: &S) -> Result<Cow<'d, [u8]>, SourceError> {
    let c = s.compressed_data().map_err(|e| dwarf_err(slice, e))?;
    match c.format {
        object::CompressionFormat::None => Ok(Cow::Borrowed(c.data)),
        object::CompressionFormat::Zlib => {
            let mut out = Vec::with_capacity(usize::try_from(c.uncompressed_size).unwrap_or(0).min(1 << 30));
            std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(c.data), &mut out)
                .map_err(|e| dwarf_err(slice, format!("a zlib-compressed DWARF section: {e}")))?;
            if out.len() as u64 != c.uncompressed_size {
                return Err(dwarf_err(
                    slice,
                    format!(
                        "a compressed DWARF section holds {} bytes, its header says {}",
                        out.len(),
                        c.uncompressed_size
                    ),
                ));
            }
            Ok(Cow::Owned(out))
        }
        other => Err(dwarf_err(
            slice,
            format!("a DWARF section is compressed as {other:?}, which is not read; rebuild with -gz=zlib or -gz=none"),
        )),
    }
}

/// The absolute source paths of the slice's DWARF (step 1 above), before the filters, sorted.
pub fn dwarf_paths(slice: &Slice) -> Result<Vec<String>, SourceError> {
    Ok(collect_paths(slice)?.kept)
}

/// [`dwarf_paths`], and how many line-table files had a relative path (not bundled).
fn collect_paths(slice: &Slice) -> Result<Paths, SourceError> {
    let file = File::open(&slice.path).map_err(|source| SourceError::Read {
        path: slice.path.clone(),
        source,
    })?;
    let cache = ReadCache::new(file);
    let data = cache.range(slice.offset, slice.len);
    let obj = object::File::parse(data).map_err(|e| dwarf_err(slice, e))?;
    let endian = if obj.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    let load = |id: gimli::SectionId| -> Result<Cow<'_, [u8]>, SourceError> {
        match obj.section_by_name(id.name()) {
            Some(s) => section_data(slice, &s),
            None => Ok(Cow::Borrowed(&[])),
        }
    };
    let sections = gimli::DwarfSections::load(load)?;
    let dwarf = sections.borrow(|s| gimli::EndianSlice::new(s, endian));
    let mut units = Vec::new();
    let mut headers = dwarf.units();
    while let Some(h) = headers.next().map_err(|e| dwarf_err(slice, e))? {
        units.push(dwarf.unit(h).map_err(|e| dwarf_err(slice, e))?);
    }
    let text = |r: R<'_>| String::from_utf8_lossy(r.slice()).into_owned();
    let mut mains = Vec::new();
    let mut files = BTreeSet::new();
    let mut any_go = false;
    let mut relative = BTreeSet::new();
    for unit in &units {
        let comp_dir = unit.comp_dir.map(text);
        if is_go(unit) {
            // a Go unit is a package ("main", "internal/cpu") in comp dir ".", not a file: it
            // gives no prefix (posthog-cli 0.19.0 skips DW_LANG_Go units in its first pass)
            any_go = true;
        } else if let Some(name) = unit.name.map(text) {
            let main = join(comp_dir.as_deref(), &name);
            mains.push(if main.starts_with('/') { clean(&main) } else { main });
        }
        let Some(program) = &unit.line_program else {
            continue;
        };
        let header = program.header();
        for entry in header.file_names() {
            let name = dwarf
                .attr_string(unit, entry.path_name())
                .map(text)
                .map_err(|e| dwarf_err(slice, e))?;
            let dir = match entry.directory(header) {
                Some(d) => Some(
                    dwarf
                        .attr_string(unit, d)
                        .map(text)
                        .map_err(|e| dwarf_err(slice, e))?,
                ),
                None => None,
            };
            // a relative directory is under the compile unit's directory (symbolic's absolute
            // path of a line-table file)
            let path = join(comp_dir.as_deref(), &join(dir.as_deref(), &name));
            if path.starts_with('/') {
                files.insert(clean(&path));
            } else if !path.starts_with('<') {
                relative.insert(path);
            }
        }
    }
    let prefix = common_dir(&mains);
    let kept: Vec<String> = files
        .into_iter()
        .filter(|f| {
            let under = prefix.as_ref().is_some_and(|p| Path::new(f).starts_with(p));
            match (&prefix, any_go) {
                (_, true) => under || go_source(f),
                (Some(_), false) => under,
                (None, false) => true,
            }
        })
        .collect();
    let kept = if any_go { drop_go_toolchain(kept) } else { kept };
    Ok(Paths {
        kept,
        relative: relative.len(),
        go: any_go,
    })
}

/// What [`collect_paths`] found in a slice's line tables.
struct Paths {
    /// The absolute paths to bundle (before the filters).
    kept: Vec<String>,
    /// How many paths are relative (nothing says where they are).
    relative: usize,
    /// Whether some compile unit is Go's.
    go: bool,
}

/// Whether the unit's root DIE says `DW_AT_language: DW_LANG_Go`.
fn is_go(unit: &gimli::Unit<R<'_>>) -> bool {
    let mut entries = unit.entries();
    let Ok(Some((_, root))) = entries.next_dfs() else {
        return false;
    };
    matches!(
        root.attr_value(gimli::DW_AT_language),
        Ok(Some(gimli::AttributeValue::Language(gimli::DW_LANG_Go)))
    )
}

/// A Go line-table path that may be read and bundled: absolute, without `.`/`..` components, a
/// `.go` or `.s` file (Go's `//line` directives can name any file; posthog-cli 0.19.0 keeps the
/// same set).
fn go_source(path: &str) -> bool {
    path.starts_with('/')
        && !path.split('/').any(|c| c == "." || c == "..")
        && (path.ends_with(".go") || path.ends_with(".s"))
}

/// Drops the Go toolchain's sources and the module cache from a Go binary's paths: a directory
/// whose `runtime/` holds `proc.go`, `malloc.go`, `mgc.go` and `runtime2.go` (compiled into every
/// Go binary) is a GOROOT `src/`, wherever Go is installed, and all under it is the standard
/// library; paths containing `/pkg/mod/` are dependencies (posthog-cli 0.19.0's filter).
fn drop_go_toolchain(paths: Vec<String>) -> Vec<String> {
    const WITNESSES: [&str; 4] = ["proc.go", "malloc.go", "mgc.go", "runtime2.go"];
    let all: BTreeSet<&str> = paths.iter().map(String::as_str).collect();
    let roots: Vec<String> = paths
        .iter()
        .filter_map(|p| {
            p.find("/src/runtime/proc.go")
                .map(|i| p[..i + "/src/".len()].to_string())
        })
        .filter(|root| {
            WITNESSES
                .iter()
                .all(|w| all.contains(format!("{root}runtime/{w}").as_str()))
        })
        .collect();
    paths
        .into_iter()
        .filter(|p| !p.contains("/pkg/mod/") && !roots.iter().any(|r| p.starts_with(r.as_str())))
        .collect()
}

/// `dir` joined with `name` as text (an absolute `name` stands alone).
fn join(dir: Option<&str>, name: &str) -> String {
    match dir {
        Some(d) if !d.is_empty() && !name.starts_with('/') => {
            format!("{}/{name}", d.trim_end_matches('/'))
        }
        _ => name.to_string(),
    }
}

/// An absolute path with its `.` components dropped and each `..` taken back lexically (`/`
/// stays `/`), as symbolic's `clean_path` gives posthog-cli 0.19.0 its line-table paths: a
/// header included as `../../ext/ext.h` is outside the compile units' common directory and not
/// bundled, as posthog-cli leaves it out (s11 tester D12).
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The longest common directory of `files`; `None` without files or when they share nothing.
fn common_dir(files: &[String]) -> Option<PathBuf> {
    let mut it = files
        .iter()
        .map(|f| Path::new(f).parent().unwrap_or(Path::new("")));
    let first: Vec<Component<'_>> = it.next()?.components().collect();
    let mut n = first.len();
    for p in it {
        n = n.min(p.components().zip(&first).take_while(|(a, b)| a == *b).count());
    }
    let prefix: PathBuf = first[..n].iter().collect();
    (!prefix.as_os_str().is_empty()).then_some(prefix)
}

/// Zip names for `paths`: the file name, extended with parent directories until no two paths
/// share one (`.` and `..` left out).
fn names(paths: &[String]) -> BTreeMap<String, String> {
    let parts: Vec<Vec<String>> = paths
        .iter()
        .map(|p| {
            Path::new(p)
                .components()
                .filter_map(|c| match c {
                    Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                    _ => None,
                })
                .collect()
        })
        .collect();
    let mut depth = vec![1usize; paths.len()];
    let name = |i: usize, d: usize| {
        let p = &parts[i];
        p[p.len().saturating_sub(d)..].join("/")
    };
    loop {
        let mut by: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, d) in depth.iter().enumerate() {
            by.entry(name(i, *d)).or_default().push(i);
        }
        let mut grew = false;
        for group in by.values().filter(|g| g.len() > 1) {
            for &i in group {
                if depth[i] < parts[i].len() {
                    depth[i] += 1;
                    grew = true;
                }
            }
        }
        if !grew {
            break;
        }
    }
    (0..paths.len())
        .map(|i| (paths[i].clone(), format!("__source/{}", name(i, depth[i]))))
        .collect()
}

/// Reads one source file: a regular file, not a link, at most [`MAX_SOURCE_BYTES`].
fn read_source(path: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    if meta.file_type().is_symlink() {
        return Err("it is a symbolic link".into());
    }
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    if meta.len() > MAX_SOURCE_BYTES {
        return Err(format!("it is over {} MiB", MAX_SOURCE_BYTES >> 20));
    }
    let mut f = open_no_follow(path).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(meta.len() as usize);
    f.by_ref()
        .take(MAX_SOURCE_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    if out.len() as u64 > MAX_SOURCE_BYTES {
        return Err(format!("it is over {} MiB", MAX_SOURCE_BYTES >> 20));
    }
    Ok(out)
}

#[cfg(unix)]
fn open_no_follow(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // a link swapped in after the check is refused, not followed
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

#[cfg(not(unix))]
fn open_no_follow(path: &Path) -> std::io::Result<File> {
    File::open(path)
}

/// The slice as a warning names it: its file, and for a slice of a fat file its architecture
/// (`hello-fat (arm64 slice)`: each slice of a fat file is warned about on its own).
fn slice_name(slice: &Slice) -> String {
    if slice.offset > 0 {
        format!("{} ({} slice)", slice.path.display(), slice.arch)
    } else {
        slice.path.display().to_string()
    }
}

/// The `__source/` bundle of `slice` (see the module documentation). A slice whose DWARF names no
/// source that passes the filters and can be read gets no entries at all (no manifest), as
/// posthog-cli sends it.
pub fn bundle(slice: &Slice, opts: &SourceOptions) -> Result<SourceBundle, SourceError> {
    let mut out = SourceBundle::default();
    let mut candidates: Vec<String> = Vec::new();
    let Paths {
        kept: paths,
        relative,
        go,
    } = collect_paths(slice)?;
    if paths.is_empty() && relative > 0 {
        // nothing says where the files are (posthog-cli 0.19.0 bundles none either); say so,
        // and why, rather than send dwarf alone silently
        let why = if go {
            // Go records a file's absolute path, or with -trimpath its module path
            // (example.com/app/main.go) and the toolchain's package path (runtime/proc.go)
            format!(
                "its Go line tables name its {relative} source file(s) by module and package paths (built \
                 with -trimpath?), which do not say where they are on disk; build without -trimpath to bundle \
                 them"
            )
        } else {
            // -fdebug-prefix-map / -ffile-prefix-map / Bazel
            format!(
                "its DWARF names its {relative} source file(s) by relative paths (built with \
                 -fdebug-prefix-map or -ffile-prefix-map?), which do not say where they are; build with \
                 absolute paths to bundle them"
            )
        };
        out.warnings
            .push(format!("{}: no source bundled: {why}", slice_name(slice)));
    }
    for p in paths {
        if dropped(&p, opts.drop_dependencies) {
            continue;
        }
        if let Some(root) = &opts.root {
            match Path::new(&p).canonicalize() {
                Ok(c) if c.starts_with(root) => {}
                Ok(_) => continue,
                Err(e) => {
                    out.warnings.push(format!("{p}: source not bundled: {e}"));
                    continue;
                }
            }
        }
        candidates.push(p);
    }
    // names are grown over every path that passed the filters, read or not, as posthog-cli
    // 0.19.0 names them before reading: a util.rs beside a missing src/util.rs is
    // __source/src/util.rs with both tools
    let names = names(&candidates);
    let mut kept: Vec<(String, Vec<u8>)> = Vec::new();
    for p in candidates {
        match read_source(Path::new(&p)) {
            Ok(bytes) => kept.push((p, bytes)),
            Err(e) => out.warnings.push(format!("{p}: source not bundled: {e}")),
        }
    }
    if kept.is_empty() {
        return Ok(out);
    }
    let read: BTreeMap<String, String> = kept.iter().map(|(p, _)| (p.clone(), names[p].clone())).collect();
    let manifest = manifest(&read);
    out.entries
        .push(("__source/manifest.json".into(), manifest.into_bytes()));
    let mut files: Vec<(String, Vec<u8>)> = kept
        .into_iter()
        .map(|(p, bytes)| (names[&p].clone(), bytes))
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    out.entries.extend(files);
    Ok(out)
}

/// The manifest as posthog-cli writes it: serde_json's pretty form, `version` then `files`, the
/// files' keys sorted.
fn manifest(files: &BTreeMap<String, String>) -> String {
    // serde_json's preserve_order keeps `version` first, as posthog-cli's struct has it
    serde_json::to_string_pretty(&serde_json::json!({ "version": 1, "files": files }))
        .expect("strings serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_lexically() {
        assert_eq!(clean("/w/cn/src/a/../../ext/ext.h"), "/w/cn/ext/ext.h");
        assert_eq!(clean("/w/src/./a/../b/inb.h"), "/w/src/b/inb.h");
        assert_eq!(clean("/../x//y/"), "/x/y");
        assert_eq!(clean("/"), "/");
    }

    #[test]
    fn names_grow_until_unique() {
        let paths = [
            "/p/src/hello.c".to_string(),
            "/p/src/util.c".into(),
            "/p/lib/util.c".into(),
            "/p/include/util.h".into(),
        ];
        let n = names(&paths);
        assert_eq!(n["/p/src/hello.c"], "__source/hello.c");
        assert_eq!(n["/p/src/util.c"], "__source/src/util.c");
        assert_eq!(n["/p/lib/util.c"], "__source/lib/util.c");
        assert_eq!(n["/p/include/util.h"], "__source/util.h");
    }

    #[test]
    fn filters_and_prefix() {
        assert!(dropped("/usr/include/stdio.h", false));
        assert!(!dropped("/usr/src/app/main.go", false));
        assert!(dropped("/Applications/Xcode.app/x.h", false));
        assert!(dropped("/home/u/.cargo/registry/src/x/lib.rs", true));
        assert!(!dropped("/home/u/.cargo/registry/src/x/lib.rs", false));
        assert!(!dropped("/home/u/app/src/main.rs", true));
        assert_eq!(
            common_dir(&["/p/src/a.c".into(), "/p/lib/b.c".into()]),
            Some(PathBuf::from("/p"))
        );
        assert_eq!(common_dir(&["./src/a.c".into()]), Some(PathBuf::from("./src")));
        assert_eq!(common_dir(&[]), None);
    }

    #[test]
    fn manifest_is_pretty_json_with_sorted_keys() {
        let mut m = BTreeMap::new();
        m.insert("/p/b \"q\".c".to_string(), "__source/b.c".to_string());
        m.insert("/p/a.c".to_string(), "__source/a.c".to_string());
        let s = manifest(&m);
        assert_eq!(
            s,
            "{\n  \"version\": 1,\n  \"files\": {\n    \"/p/a.c\": \"__source/a.c\",\n    \"/p/b \\\"q\\\".c\": \"__source/b.c\"\n  }\n}"
        );
    }
}
