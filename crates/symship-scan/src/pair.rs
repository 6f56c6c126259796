//! Pairing each JavaScript chunk with its sourcemap (spec §5.4, plus what posthog-cli misses:
//! inline `data:` maps, a name guess, and references that would leave the build directory).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::select::Candidate;
use crate::{SkipReason, Skipped};

/// Where a chunk's map lives (the pipeline's vocabulary: `symship_core::set::MapLocation`).
pub use symship_core::set::MapLocation;

/// A chunk and its map.
#[derive(Debug, Clone)]
pub struct Pair {
    pub source: PathBuf,
    /// The scanned directory the chunk was found in, which its writes stay within (shared by the
    /// pairs found there).
    pub root: Arc<Path>,
    pub map: MapLocation,
    /// When the map file the chunk references is a symbolic link: the link itself (its directory
    /// resolved, its own name kept), inside [`Pair::root`]. [`Pair::map`] is the link's target
    /// (what is read, and what inject writes); `--delete-after` removes this link, never the
    /// target, as posthog-cli 0.19.0 does (it unlinks the path the reference names) and as
    /// Sentry's bundler plugins' `filesToDeleteAfterUpload` does (`fs.rm` on the matched path).
    pub map_link: Option<PathBuf>,
    /// The chunk's and the map file's lengths (bytes; 0 for what cannot be read or an inline
    /// map), as the scan found them or as first asked ([`Pair::input_len`]).
    lens: std::sync::OnceLock<(u64, u64)>,
}

impl Pair {
    pub fn new(source: PathBuf, root: impl Into<Arc<Path>>, map: MapLocation) -> Pair {
        Pair {
            source,
            root: root.into(),
            map,
            map_link: None,
            lens: Default::default(),
        }
    }

    /// The pair whose map file is reached through the symbolic link `link` ([`Pair::map_link`]).
    pub fn through_link(mut self, link: PathBuf) -> Pair {
        self.map_link = Some(link);
        self
    }

    /// The pair with its chunk's and map file's lengths known already (the scan read the chunk
    /// and looked at the map file's size), so inject and upload do not `stat` the two files again
    /// ([`Pair::input_len`], and the reads' buffers: [`Pair::lens`]).
    pub(crate) fn knowing_lens(self, chunk: u64, map: u64) -> Pair {
        let _ = self.lens.set((chunk, map));
        self
    }

    /// The chunk's and the map file's lengths in bytes, when known without a `stat` (the scan's,
    /// or [`Pair::input_len`]'s): hints for [`symship_fs::read_sized`], which reads a changed
    /// file whole all the same.
    pub fn lens(&self) -> Option<(u64, u64)> {
        self.lens.get().copied()
    }

    /// Bytes on disk the pair reads (chunk plus map file; 0 for what cannot be read), for memory
    /// budgets: as they were when first asked (inject and upload each ask before they read; the
    /// snippet inject adds is a few hundred bytes), so a pair costs two `stat`s, not two per ask.
    pub fn input_len(&self) -> u64 {
        let (chunk, map) = *self.lens.get_or_init(|| {
            let len = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
            let map = match &self.map {
                MapLocation::File(m) => len(m),
                MapLocation::Inline => 0,
            };
            (len(&self.source), map)
        });
        chunk + map
    }
}

const URL_PREFIXES: [&str; 2] = ["//# sourceMappingURL=", "//@ sourceMappingURL="];

/// The value of the last `sourceMappingURL` comment (a real comment: text inside a string,
/// template literal or regex is not one), trimmed, with the byte range of the value in `source`.
pub fn sourcemap_reference(source: &str) -> Option<(&str, std::ops::Range<usize>)> {
    let outline = crate::lex::outline(source);
    outline.last(source, &URL_PREFIXES).map(|(_, v, r)| (v, r))
}

/// What removing a chunk's `sourceMappingURL` reference takes out, and what it leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceRemoval {
    /// Byte ranges to remove, sorted and disjoint.
    pub ranges: Vec<std::ops::Range<usize>>,
    /// The values of the references removed besides the last (the one the map was paired
    /// through): earlier references in the trailing comment block, which would become the live
    /// one once the last is gone.
    pub earlier: Vec<String>,
    /// The value of a reference left in the file: one that code follows (removing it could move
    /// a line of code), now the file's last reference.
    pub left: Option<String>,
}

/// How to remove the last `sourceMappingURL` comment (the one a map is paired through) without
/// moving a line of code (see [`crate::lex::removal_range`]), with every other reference in the
/// trailing comment block: a browser reads the last reference, so leaving an earlier one would
/// make it live. `None` when the chunk has no reference. Line and one-line block comments
/// (`/*# sourceMappingURL=… */`) both count.
pub fn sourcemap_reference_removal(source: &str) -> Option<ReferenceRemoval> {
    let outline = crate::lex::outline(source);
    let refs = outline.matching(source, &URL_PREFIXES);
    let (last, _, _) = refs.last()?;
    let mut ranges = vec![crate::lex::removal_range(source, last)];
    let mut earlier = Vec::new();
    let mut left = None;
    for (m, value, _) in refs[..refs.len() - 1].iter().rev() {
        if last.trailing && m.trailing {
            ranges.push(crate::lex::removal_range(source, m));
            earlier.push((*value).to_owned());
        } else {
            left = Some((*value).to_owned());
            break;
        }
    }
    ranges.sort_by_key(|r| r.start);
    let mut merged: Vec<std::ops::Range<usize>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match merged.last_mut() {
            Some(prev) if r.start <= prev.end => prev.end = prev.end.max(r.end),
            _ => merged.push(r),
        }
    }
    earlier.reverse();
    Some(ReferenceRemoval {
        ranges: merged,
        earlier,
        left,
    })
}

impl ReferenceRemoval {
    /// `source` without the removed ranges.
    pub fn apply(&self, source: &str) -> String {
        let mut out = String::with_capacity(source.len());
        let mut at = 0;
        for r in &self.ranges {
            out.push_str(&source[at..r.start]);
            at = r.end;
        }
        out.push_str(&source[at..]);
        out
    }
}

/// The file a `sourceMappingURL` value names relative to the chunk's folder `dir` (query and
/// fragment dropped, percent-decoded; an absolute path stays absolute), or `None` for an empty
/// value, a `data:` URL, or a URL with a scheme or host.
pub fn referenced_path(dir: &Path, value: &str) -> Option<PathBuf> {
    let v = value.split(['?', '#']).next().unwrap_or_default();
    if v.is_empty() || is_data_url(v) || !split_url(v).0.is_empty() {
        return None;
    }
    Some(
        dir.join(
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .as_ref(),
        ),
    )
}

/// True for a `data:` URL carrying a base64 JSON map.
pub fn is_data_url(value: &str) -> bool {
    value.starts_with("data:")
}

/// Decodes an inline map; `Err` says what is wrong with it.
pub fn decode_data_url(value: &str) -> Result<Vec<u8>, String> {
    let (meta, data) = value.split_once(',').ok_or("a data: URL without a comma")?;
    if meta.ends_with(";base64") {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|e| format!("its base64 does not decode: {e}"))
    } else {
        Ok(percent_encoding::percent_decode_str(data).collect())
    }
}

/// Encodes a map as the same kind of `data:` URL (keeping the media type of `original`).
pub fn encode_data_url(original: &str, map: &[u8]) -> String {
    use base64::Engine;
    let meta = original
        .split_once(',')
        .map_or("data:application/json;charset=utf-8;base64", |(m, _)| m);
    let meta = if meta.ends_with(";base64") {
        meta.to_string()
    } else {
        format!("{meta};base64")
    };
    format!("{meta},{}", base64::engine::general_purpose::STANDARD.encode(map))
}

/// `root` and the directories between it and `dir` (nearest first); `dir` alone when it is not
/// under `root`.
fn bases(dir: &Path, root: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    if dir.starts_with(root) {
        let mut d = dir;
        while d != root {
            match d.parent() {
                Some(p) => {
                    out.push(p.to_path_buf());
                    d = p;
                }
                None => break,
            }
        }
    }
    out
}

/// Splits a reference into (scheme and authority, path): `https://cdn/a/b.map` gives
/// (`https://cdn`, `/a/b.map`); `//cdn/a.map` gives (`//cdn`, `/a.map`); a path gives ("", path).
fn split_url(r: &str) -> (&str, &str) {
    let after = if let Some((scheme, rest)) = r.split_once("://").filter(|(s, _)| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    }) {
        scheme.len() + 3 + rest.find('/').unwrap_or(rest.len())
    } else if let Some(rest) = r.strip_prefix("//") {
        2 + rest.find('/').unwrap_or(rest.len())
    } else {
        0
    };
    r.split_at(after)
}

/// `to` (a URL path) relative to the folder `from` (a URL path) names: `/static/js` and
/// `/static/maps/a.js.map` give `../maps/a.js.map`. `None` when `to` names no file.
fn relative_url(from: &str, to: &str) -> Option<String> {
    let segments = |p: &str| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in p.split('/') {
            match s {
                "" | "." => {}
                ".." => {
                    out.pop();
                }
                s => out.push(s.to_owned()),
            }
        }
        out
    };
    let from = segments(from);
    let to = segments(to);
    let (file, to_dir) = to.split_last()?;
    let shared = from.iter().zip(to_dir).take_while(|(a, b)| a == b).count();
    let mut rel: Vec<&str> = vec![".."; from.len() - shared];
    rel.extend(to_dir[shared..].iter().map(String::as_str));
    rel.push(file);
    Some(rel.join("/"))
}

/// Where a chunk's map may be, in order: what its reference names (relative to the chunk; an
/// absolute URL or path through the public path prefix, which may itself be a full URL, or when
/// it is outside the prefix, relative to the folder the prefix names; then by the URL's trailing
/// path segments under the chunk's directory and its parents up to the root), then `<file>.map`.
fn candidates_for(source: &Path, root: &Path, reference: Option<&str>, prefix: Option<&str>) -> Vec<PathBuf> {
    let dir = source.parent().unwrap_or(Path::new("."));
    let mut out: Vec<PathBuf> = Vec::new();
    let push = |p: PathBuf, out: &mut Vec<PathBuf>| {
        if !out.contains(&p) {
            out.push(p);
        }
    };
    if let Some(reference) = reference {
        let reference = reference.split(['?', '#']).next().unwrap_or_default();
        let decoded = percent_encoding::percent_decode_str(reference)
            .decode_utf8_lossy()
            .into_owned();
        let (origin, path) = split_url(&decoded);
        if !decoded.is_empty() && origin.is_empty() && !path.starts_with('/') {
            push(dir.join(&decoded), &mut out);
        } else if !decoded.is_empty() {
            if origin.is_empty() {
                // an absolute path, as it is on this machine
                push(dir.join(path), &mut out);
            } else if origin.eq_ignore_ascii_case("file://")
                || origin.eq_ignore_ascii_case("file://localhost")
            {
                // a file URL names a path on this machine (RFC 8089); the roots rule still holds
                push(PathBuf::from(path), &mut out);
            }
            let bases = bases(dir, root);
            if let Some(prefix) = prefix.filter(|p| !p.is_empty()) {
                let prefix = prefix.trim_end_matches('/');
                let (p_origin, p_path) = split_url(prefix);
                let rest = if p_origin.is_empty() {
                    path.strip_prefix(p_path)
                } else {
                    decoded.strip_prefix(prefix)
                };
                match rest.filter(|r| r.is_empty() || r.starts_with('/')) {
                    Some(rest) => {
                        let rest = rest.trim_start_matches('/');
                        if !rest.is_empty() {
                            for base in &bases {
                                push(base.join(rest), &mut out);
                            }
                        }
                    }
                    // Outside the prefix but on its host (or a path, for a path prefix): the URL
                    // relative to the folder the prefix names, as a browser resolves it from the
                    // chunk's own URL (`../maps/a.js.map` from `https://cdn/static/js/`).
                    None if p_origin.is_empty() || p_origin.eq_ignore_ascii_case(origin) => {
                        if let Some(rel) = relative_url(p_path, path) {
                            for base in &bases {
                                push(crate::select::lexical(&base.join(&rel)), &mut out);
                            }
                        }
                    }
                    None => {}
                }
            }
            // Without a matching prefix: the URL's trailing path segments, longest first.
            let segments: Vec<&str> = path
                .split('/')
                .filter(|s| !s.is_empty() && *s != "." && *s != "..")
                .collect();
            for k in (1..=segments.len()).rev() {
                let tail = segments[segments.len() - k..].join("/");
                for base in &bases {
                    push(base.join(&tail), &mut out);
                }
            }
        }
    }
    let mut next_to = source.as_os_str().to_owned();
    next_to.push(".map");
    push(PathBuf::from(next_to), &mut out);
    out
}

/// Whether `bytes` are a sourcemap inject can read and PostHog can use (BOM and `)]}'` guard
/// allowed): JSON whose `mappings` decode ([`crate::map::MapDoc::check_usable`]).
fn parses(bytes: Vec<u8>) -> Result<(), String> {
    crate::map::MapDoc::parse(bytes)
        .and_then(|doc| doc.check_usable())
        .map_err(|e| e.to_string())
}

/// The name guess: `app.mjs` -> `app.map`.
fn guessed(source: &Path) -> PathBuf {
    source.with_extension("map")
}

/// Whether a map file can be used: a regular file that opens for reading.
fn usable(p: &Path) -> bool {
    usable_len(p).is_some()
}

/// A usable map file ([`usable`]): its length, and whether `p` itself is a symbolic link (one
/// `lstat` tells both for the usual file that is none; [`accept`] then needs no other).
fn usable_len(p: &Path) -> Option<(u64, bool)> {
    let own = std::fs::symlink_metadata(p).ok()?;
    let link = own.file_type().is_symlink();
    let meta = if link { std::fs::metadata(p).ok()? } else { own };
    if !meta.is_file() {
        return None;
    }
    symship_fs::readable(p).then_some((meta.len(), link))
}

/// A pair, if its map lies inside the scanned root (or the chunk was named on its own, by
/// `--stdin` or `-d FILE`: then it is its own root for the map it references).
/// `no_link`: `map` is known to be no symbolic link itself (its directories may be).
/// A map that is a symbolic link is read (and written by inject) as its target, and both the
/// link and its target must lie inside the root: `--delete-after` removes the link
/// ([`Pair::map_link`]), so a link outside the root is refused as a map outside it.
fn accept(path: PathBuf, root: Arc<Path>, named: bool, map: &Path, no_link: bool) -> Result<Pair, Skipped> {
    // Where the reference leads as written (`..` taken lexically), before any link is followed.
    let as_named = crate::select::lexical(map);
    // The link itself, when the map file is one (its directory resolved, its name kept).
    let link = if no_link {
        None
    } else {
        match std::fs::symlink_metadata(map) {
            Ok(m) if m.file_type().is_symlink() => symship_fs::canonicalize_listed(map).ok(),
            _ => None,
        }
    };
    let canonical = if no_link {
        symship_fs::canonicalize_listed(map)
    } else {
        symship_fs::canonicalize(map)
    };
    let pair = |root: Arc<Path>, map: PathBuf| {
        let pair = Pair::new(path.clone(), root, MapLocation::File(map));
        match &link {
            Some(l) => pair.through_link(l.clone()),
            None => pair,
        }
    };
    let link_inside = |root: &Path| link.as_ref().is_none_or(|l| l.starts_with(root));
    match canonical {
        Ok(map) if map.starts_with(&root) && link_inside(&root) => Ok(pair(root, map)),
        // A named file's root grows to the closest directory that holds its map too, as the
        // reference names it (inject writes both, and writes nothing outside a pair's root); a
        // symbolic link on the way must not lead out of that directory.
        Ok(map)
            if named
                && map.starts_with(common_ancestor(&root, &as_named))
                && link_inside(&common_ancestor(&root, &as_named)) =>
        {
            let grown = common_ancestor(&root, &map);
            let grown = match &link {
                Some(l) => common_ancestor(&grown, l),
                None => grown,
            };
            Ok(pair(grown.into(), map))
        }
        Ok(map) if named => Err(Skipped {
            reason: SkipReason::LinkOutsideRoot(format!(
                "its sourcemap {} resolves through a symbolic link to {}, outside {}; symship does not write \
                 through a link out of the directory a file is named in (name the link's target instead)",
                as_named.display(),
                map.display(),
                common_ancestor(&root, &as_named).display()
            )),
            path,
        }),
        Ok(map) => Err(Skipped {
            path,
            // a link outside the root to a map inside it: the link is the build's file
            reason: SkipReason::MapOutsideRoot {
                map: match &link {
                    Some(l) if map.starts_with(&root) => l.clone(),
                    _ => map,
                },
                root: root.to_path_buf(),
            },
        }),
        Err(e) => Err(Skipped {
            path,
            reason: SkipReason::Unreadable(e.to_string()),
        }),
    }
}

/// The closest directory above (or at) `dir` that contains `path`.
fn common_ancestor(dir: &Path, path: &Path) -> PathBuf {
    let mut d = dir;
    while !path.starts_with(d) {
        match d.parent() {
            Some(p) => d = p,
            None => break,
        }
    }
    d.to_path_buf()
}

/// The map file a skipped chunk has on disk, as far as the run knows it: the map the reason names
/// (`bad_map`, `empty_map`, `map_outside_root`, `ambiguous_map`), else, for a chunk skipped before
/// or after pairing (`not_utf8`, `bad_chunk_id`, ...), the file its last `sourceMappingURL`
/// comment names as a relative path (read as lossy UTF-8) or `<file>.map` beside it. `None` for an
/// inline map, `no_map`, and a file that does not exist. For `--delete-after`, which names every
/// map it keeps (issue 13, kind 4).
pub fn map_of_skipped(skipped: &Skipped) -> Option<PathBuf> {
    let named = match &skipped.reason {
        SkipReason::NoMap { .. } => return None,
        SkipReason::BadMap { map, .. } | SkipReason::EmptyMap { map } => {
            Some(PathBuf::from(map)).filter(|_| !map.ends_with(" (inline)"))
        }
        SkipReason::MapOutsideRoot { map, .. }
        | SkipReason::AmbiguousMap { map, .. }
        | SkipReason::MapOfAnotherFile { map, .. } => Some(map.clone()),
        _ => {
            let bytes = std::fs::read(&skipped.path).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            let dir = skipped.path.parent().unwrap_or(Path::new("."));
            let referenced = sourcemap_reference(&text)
                .filter(|(v, _)| !v.starts_with('/'))
                .and_then(|(v, _)| referenced_path(dir, v));
            let mut beside = skipped.path.as_os_str().to_owned();
            beside.push(".map");
            referenced.filter(|p| p.is_file()).or(Some(PathBuf::from(beside)))
        }
    };
    named.filter(|p| p.is_file())
}

/// What one chunk says and what its candidate maps are, found before pairing decides: the
/// files are read and looked at on several threads, the decisions stay in order on one.
struct Looked {
    /// The chunk's `sourceMappingURL` value, or why the chunk cannot be read. A `data:` URL's is
    /// not kept (it is the whole map): [`Looked::inline`] says what it held.
    reference: Result<Option<String>, SkipReason>,
    /// The chunk's length as read.
    chunk_len: u64,
    /// What an inline (`data:`) map decodes into.
    inline: Option<Inline>,
    /// Its file candidates that are usable ([`candidates_for`], [`usable`]), in order, with
    /// their lengths and whether each is a symbolic link itself.
    found: Vec<(PathBuf, u64, bool)>,
    /// Whether the name guess is usable and not among `found`.
    guess_left: bool,
    /// The chunk id of its `//# chunkId=` comment, when it has no `sourceMappingURL` comment
    /// (what `--delete-after` leaves: [`SkipReason::MapRemoved`] when no map is found either).
    stripped: Option<String>,
}

/// An inline map's verdict.
enum Inline {
    /// It decodes into a usable map.
    Usable,
    /// JSON, but not usable (`{}`, mappings that do not decode).
    Unusable,
    /// Not a sourcemap at all: why.
    Bad(String),
}

fn look(
    c: &Candidate,
    prefix: Option<&str>,
    read: &(impl Fn(&Path) -> Result<String, SkipReason> + Sync),
) -> Looked {
    let chunk_len;
    let mut stripped = None;
    let reference = match read(&c.path) {
        Ok(text) => {
            chunk_len = text.len() as u64;
            let reference = sourcemap_reference(&text).map(|(v, _)| v.to_string());
            if reference.is_none() {
                stripped = crate::snippet::comment_chunk_id(&text)
                    .map(|(id, _)| id.to_owned())
                    .filter(|id| crate::is_chunk_id(id));
            }
            reference
        }
        Err(reason) => {
            return Looked {
                reference: Err(reason),
                chunk_len: 0,
                inline: None,
                found: Vec::new(),
                guess_left: false,
                stripped: None,
            }
        }
    };
    let looked = |reference, chunk_len, inline, found, guess_left| Looked {
        reference,
        chunk_len,
        inline,
        found,
        guess_left,
        stripped: stripped.clone(),
    };
    let inline = reference.as_deref().filter(|r| is_data_url(r)).map(|r| {
        let decoded = decode_data_url(r).and_then(|bytes| {
            crate::map::MapDoc::parse(bytes).map_err(|e| format!("its data is not a sourcemap: {e}"))
        });
        match decoded.map(|doc| doc.check_usable()) {
            Ok(Ok(())) => Inline::Usable,
            Ok(Err(_)) => Inline::Unusable,
            Err(error) => Inline::Bad(error),
        }
    });
    let reference = reference.filter(|r| !is_data_url(r));
    if matches!(inline, Some(Inline::Usable)) {
        return looked(Ok(reference), chunk_len, inline, Vec::new(), false);
    }
    let found: Vec<(PathBuf, u64, bool)> = candidates_for(&c.path, &c.root, reference.as_deref(), prefix)
        .into_iter()
        .filter_map(|c| usable_len(&c).map(|(len, link)| (c, len, link)))
        .collect();
    let guess = guessed(&c.path);
    let guess_left = !found.iter().any(|(p, _, _)| *p == guess) && usable(&guess);
    looked(Ok(reference), chunk_len, inline, found, guess_left)
}

/// Candidates looked at together, on up to [`LOOK_THREADS`] threads: a window bounds the chunk
/// references held at once (an inline map's is the whole map).
const LOOK_WINDOW: usize = 512;
const LOOK_THREADS: usize = 4;

/// [`look`] at every candidate of `window`, in order.
fn look_all(
    window: &[Candidate],
    prefix: Option<&str>,
    read: &(impl Fn(&Path) -> Result<String, SkipReason> + Sync),
) -> Vec<Looked> {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(LOOK_THREADS)
        .min(window.len());
    if threads <= 1 {
        return window.iter().map(|c| look(c, prefix, read)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::OnceLock<Looked>> = window.iter().map(|_| std::sync::OnceLock::new()).collect();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(c) = window.get(i) else { break };
                let _ = slots[i].set(look(c, prefix, read));
            });
        }
    });
    slots
        .into_iter()
        .map(|s| s.into_inner().expect("every candidate looked at"))
        .collect()
}

/// Pairs every candidate with its map. `read` returns a chunk's text (or why it cannot); it is
/// called from several threads.
pub fn pair_all(
    candidates: Vec<Candidate>,
    prefix: Option<&str>,
    read: impl Fn(&Path) -> Result<String, SkipReason> + Sync,
) -> (Vec<Pair>, Vec<Skipped>) {
    let mut pairs = Vec::new();
    let mut skipped = Vec::new();
    let mut guesses: HashMap<PathBuf, Vec<(PathBuf, Arc<Path>, bool)>> = HashMap::new();
    let mut candidates = candidates.into_iter();
    let mut looked = std::collections::VecDeque::new();
    loop {
        if looked.is_empty() {
            let window: Vec<Candidate> = candidates.by_ref().take(LOOK_WINDOW).collect();
            if window.is_empty() {
                break;
            }
            looked = look_all(&window, prefix, &read).into_iter().zip(window).collect();
        }
        let (
            Looked {
                reference,
                chunk_len,
                inline,
                found,
                guess_left,
                stripped,
            },
            Candidate { path, root, named },
        ) = looked.pop_front().expect("not empty");
        let reference = match reference {
            Ok(r) => r,
            Err(reason) => {
                skipped.push(Skipped { path, reason });
                continue;
            }
        };
        // An inline map is used when its data decodes into a usable map; a bad one falls
        // through to the files. One that is JSON but not usable (`{}`, mappings that do not
        // decode) is still the chunk's when nothing else is found, as a lone file candidate is:
        // inject then says what is wrong with it (or that it is empty).
        let mut bad_inline = None;
        let mut inline_last = false;
        match inline {
            Some(Inline::Usable) => {
                pairs.push(Pair::new(path, root, MapLocation::Inline).knowing_lens(chunk_len, 0));
                continue;
            }
            Some(Inline::Unusable) => inline_last = true,
            Some(Inline::Bad(error)) => {
                bad_inline = Some(SkipReason::BadMap {
                    map: format!("{} (inline)", path.display()),
                    error,
                })
            }
            None => {}
        }
        let mut first_refusal = None;
        let mut bad_file = None;
        let mut paired = false;
        let guess = guessed(&path);
        for (i, (candidate, map_len, link)) in found.iter().enumerate() {
            // A map that cannot be used falls through to the next candidate (issue 13: an empty
            // or truncated referenced map, `"mappings":"@@@"`, `<file>.map` beside it). Read only
            // when there is a next one: most chunks have one candidate, and inject reads it anyway.
            if i + 1 < found.len() || guess_left || inline_last {
                if let Err(error) = std::fs::read(candidate)
                    .map_err(|e| e.to_string())
                    .and_then(parses)
                {
                    bad_file.get_or_insert(SkipReason::BadMap {
                        map: candidate.display().to_string(),
                        error,
                    });
                    continue;
                }
            }
            match accept(path.clone(), root.clone(), named, candidate, !link) {
                Ok(p) => {
                    pairs.push(p.knowing_lens(chunk_len, *map_len));
                    paired = true;
                    break;
                }
                Err(s) => {
                    first_refusal.get_or_insert(s);
                }
            }
        }
        if paired {
            continue;
        }
        if inline_last && !guess_left {
            pairs.push(Pair::new(path, root, MapLocation::Inline).knowing_lens(chunk_len, 0));
            continue;
        }
        if guess_left {
            guesses
                .entry(guess.clone())
                .or_default()
                .push((path, root, named));
        } else if let Some(s) = first_refusal {
            skipped.push(s);
        } else {
            let nothing = match (reference, stripped) {
                (None, Some(chunk_id)) => SkipReason::MapRemoved { chunk_id },
                (reference, _) => SkipReason::NoMap { reference },
            };
            skipped.push(Skipped {
                path,
                reason: bad_file.or(bad_inline).unwrap_or(nothing),
            });
        }
    }
    for (map, claimants) in guesses {
        if claimants.len() == 1 {
            let (path, root, named) = claimants.into_iter().next().expect("one");
            match accept(path, root, named, &map, false) {
                Ok(p) => pairs.push(p),
                Err(s) => skipped.push(s),
            }
        } else {
            let others: Vec<PathBuf> = claimants.iter().map(|(p, _, _)| p.clone()).collect();
            for (path, _, _) in claimants {
                skipped.push(Skipped {
                    path,
                    reason: SkipReason::AmbiguousMap {
                        map: map.clone(),
                        claimants: others.clone(),
                    },
                });
            }
        }
    }
    crate::shared_map::one_file_per_map(&mut pairs, &mut skipped, &mut |p: &Path| read(p));
    pairs.sort_by(|a, b| a.source.cmp(&b.source));
    // held for the whole run: grown by doubling, up to a third of it was never used (50,000
    // pairs: 1.9 MB)
    pairs.shrink_to_fit();
    (pairs, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_comment_references() {
        let s = "f();\n/*# sourceMappingURL=a.js.map */\n";
        let (v, r) = sourcemap_reference(s).unwrap();
        assert_eq!((v, &s[r]), ("a.js.map", "a.js.map"));
        assert_eq!(sourcemap_reference_removal(s).unwrap().apply(s), "f();\n");
        // not a reference: a value with white space, a comment over several lines, a license
        // comment, an unterminated comment
        for not in [
            "f();\n/*# sourceMappingURL=a.js.map b */",
            "f();\n/*# sourceMappingURL=a.js.map\n*/",
            "f();\n/*! sourceMappingURL=a.js.map */",
            "f();\n/*# sourceMappingURL=a.js.map",
        ] {
            assert_eq!(sourcemap_reference(not), None, "{not:?}");
        }
        // another comment after it on its line stays, and no line moves
        let s = "f();\n/*# sourceMappingURL=a.js.map */ //# chunkId=x";
        assert_eq!(
            sourcemap_reference_removal(s).unwrap().apply(s),
            "f();\n //# chunkId=x"
        );
    }

    #[test]
    fn removal_takes_the_trailing_references_and_names_what_it_leaves() {
        let s = "f();\n//# sourceMappingURL=old.js.map\n/*# sourceMappingURL=a.js.map */\n//# chunkId=x";
        let r = sourcemap_reference_removal(s).unwrap();
        assert_eq!(r.apply(s), "f();\n//# chunkId=x");
        assert_eq!((r.earlier, r.left), (vec!["old.js.map".to_owned()], None));
        // at the end of the file, the two removals meet
        let s = "f();\n//# sourceMappingURL=old.js.map\n//# sourceMappingURL=a.js.map";
        let r = sourcemap_reference_removal(s).unwrap();
        assert_eq!((r.apply(s).as_str(), r.ranges.len()), ("f();\n", 1));
        // a reference that code follows stays, and is named
        let s = "//# sourceMappingURL=lib.js.map\nf();\n//# sourceMappingURL=a.js.map\n";
        let r = sourcemap_reference_removal(s).unwrap();
        assert_eq!(r.apply(s), "//# sourceMappingURL=lib.js.map\nf();\n");
        assert_eq!((r.earlier.len(), r.left.as_deref()), (0, Some("lib.js.map")));
    }

    #[test]
    fn finds_the_last_reference_line() {
        let s =
            "a();\n//# sourceMappingURL=one.js.map\nb();\n  //@ sourceMappingURL=two.js.map  \n//# chunkId=x";
        let (v, r) = sourcemap_reference(s).unwrap();
        assert_eq!(v, "two.js.map");
        assert_eq!(&s[r], "two.js.map");
        assert!(sourcemap_reference("x();").is_none());
    }

    #[test]
    fn candidate_paths() {
        let c = candidates_for(
            Path::new("/b/js/app.js"),
            Path::new("/b"),
            Some("/static/js/app%20x.js.map?v=1"),
            Some("/static/js"),
        );
        assert_eq!(
            &c[..3],
            [
                PathBuf::from("/static/js/app x.js.map"),
                PathBuf::from("/b/js/app x.js.map"),
                PathBuf::from("/b/app x.js.map"),
            ]
        );
        assert_eq!(c.last().unwrap(), &PathBuf::from("/b/js/app.js.map"));
        // A full URL prefix: the rest of the URL under the chunk's directory first.
        let c = candidates_for(
            Path::new("/b/static/js/480.js"),
            Path::new("/b"),
            Some("https://cdn.example.com/static/js/maps/480.js.map"),
            Some("https://cdn.example.com/static/js/"),
        );
        assert_eq!(c[0], PathBuf::from("/b/static/js/maps/480.js.map"));
        // Outside the prefix, on its host: relative to the folder the prefix names (the
        // chunk's), as a browser resolves it; the same for a path prefix.
        for prefix in ["https://cdn.example.com/static/js/", "/static/js"] {
            let c = candidates_for(
                Path::new("/b/static/js/480.js"),
                Path::new("/b/static/js"),
                Some("https://cdn.example.com/static/maps/480.js.map"),
                Some(prefix),
            );
            assert_eq!(c[0], PathBuf::from("/b/static/maps/480.js.map"), "{prefix}");
        }
        // another host: not the prefix's
        let c = candidates_for(
            Path::new("/b/static/js/480.js"),
            Path::new("/b/static/js"),
            Some("https://other.example.com/static/maps/480.js.map"),
            Some("https://cdn.example.com/static/js/"),
        );
        assert!(!c.contains(&PathBuf::from("/b/static/maps/480.js.map")), "{c:?}");
        assert_eq!(relative_url("/a/b/", "/a/b/c/d.map").as_deref(), Some("c/d.map"));
        assert_eq!(relative_url("", "/x/../d.map").as_deref(), Some("d.map"));
        assert_eq!(relative_url("/a", "/"), None);
        // A file URL is its path.
        let c = candidates_for(
            Path::new("/b/app.js"),
            Path::new("/b"),
            Some("file:///b/maps/app%20x.js.map"),
            None,
        );
        assert_eq!(c[0], PathBuf::from("/b/maps/app x.js.map"));
        // No prefix: the URL's trailing segments, longest first, up to the root.
        let c = candidates_for(
            Path::new("/b/app.js"),
            Path::new("/b"),
            Some("https://cdn.example.com/a/app.js.map"),
            None,
        );
        assert_eq!(c[0], PathBuf::from("/b/a/app.js.map"));
        assert_eq!(c[1], PathBuf::from("/b/app.js.map"));
        assert!(c.iter().all(|p| p.starts_with("/b")));
    }

    #[test]
    fn references_in_strings_are_not_references() {
        let s = "f(`\n//# sourceMappingURL=data:application/json;base64,`+x);";
        assert_eq!(sourcemap_reference(s), None);
    }

    /// A map that is a symbolic link is paired as its target (and refused when that lies outside
    /// the root); one that is no link is paired as found. The input length is the scan's.
    #[test]
    #[allow(clippy::disallowed_methods)] // test fixtures
    fn a_map_that_is_a_link_is_resolved_and_kept_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().canonicalize().unwrap();
        let (root, outside) = (base.join("build"), base.join("outside"));
        std::fs::create_dir_all(root.join("maps")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let map = r#"{"version":3,"sources":["a.ts"],"names":[],"mappings":"AAAA"}"#;
        for name in ["plain", "inside", "out"] {
            std::fs::write(
                root.join(format!("{name}.js")),
                format!("x();\n//# sourceMappingURL={name}.js.map\n"),
            )
            .unwrap();
        }
        std::fs::write(root.join("plain.js.map"), map).unwrap();
        std::fs::write(root.join("maps/real.map"), map).unwrap();
        std::os::unix::fs::symlink(root.join("maps/real.map"), root.join("inside.js.map")).unwrap();
        std::fs::write(outside.join("o.map"), map).unwrap();
        std::os::unix::fs::symlink(outside.join("o.map"), root.join("out.js.map")).unwrap();
        let cands = ["inside.js", "out.js", "plain.js"]
            .iter()
            .map(|n| crate::select::Candidate {
                path: root.join(n),
                root: root.clone().into(),
                named: false,
            })
            .collect();
        let (pairs, skipped) = pair_all(cands, None, crate::read_source);
        let paired: Vec<_> = pairs.iter().map(|p| (p.source.clone(), p.map.clone())).collect();
        assert_eq!(
            paired,
            [
                (
                    root.join("inside.js"),
                    MapLocation::File(root.join("maps/real.map"))
                ),
                (
                    root.join("plain.js"),
                    MapLocation::File(root.join("plain.js.map"))
                ),
            ]
        );
        // --delete-after removes the link the chunk references, never its target
        let links: Vec<_> = pairs.iter().map(|p| p.map_link.clone()).collect();
        assert_eq!(links, [Some(root.join("inside.js.map")), None]);
        for p in &pairs {
            let on_disk = std::fs::metadata(&p.source).unwrap().len() + map.len() as u64;
            assert_eq!(p.input_len(), on_disk, "{}", p.source.display());
        }
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert_eq!(skipped[0].path, root.join("out.js"));
        assert!(
            matches!(&skipped[0].reason, SkipReason::MapOutsideRoot { map, .. } if *map == outside.join("o.map")),
            "{skipped:?}"
        );
    }

    /// A chunk with a chunk id and neither a reference nor a map is what `--delete-after` leaves:
    /// `map_removed`, not `no_map`; one without a chunk id (or with one that is no UUID), or
    /// whose reference names a missing file, is still `no_map`.
    #[test]
    #[allow(clippy::disallowed_methods)] // test fixtures
    fn a_chunk_delete_after_finished_is_map_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().canonicalize().unwrap();
        let id = "01a22fb0-fd36-760d-ae8e-d3635bba2d39";
        let files = [
            ("done.js", format!("x();\n\n//# chunkId={id}\n")),
            ("plain.js", "x();\n".to_owned()),
            ("not-uuid.js", "x();\n//# chunkId=abc\n".to_owned()),
            (
                "gone.js",
                format!("x();\n//# sourceMappingURL=gone.js.map\n//# chunkId={id}\n"),
            ),
        ];
        let cands = files
            .iter()
            .map(|(name, text)| {
                std::fs::write(dir.join(name), text).unwrap();
                crate::select::Candidate {
                    path: dir.join(name),
                    root: dir.clone().into(),
                    named: false,
                }
            })
            .collect();
        let (pairs, mut skipped) = pair_all(cands, None, crate::read_source);
        assert!(pairs.is_empty());
        skipped.sort_by(|a, b| a.path.cmp(&b.path));
        let codes: Vec<_> = skipped
            .iter()
            .map(|s| {
                (
                    s.path.file_name().unwrap().to_str().unwrap(),
                    s.reason.code().as_str(),
                )
            })
            .collect();
        assert_eq!(
            codes,
            [
                ("done.js", "map_removed"),
                ("gone.js", "no_map"),
                ("not-uuid.js", "no_map"),
                ("plain.js", "no_map")
            ]
        );
        assert!(skipped[0].reason.is_settled());
    }

    /// A referenced map that cannot be read as a sourcemap (empty, truncated JSON, an inline
    /// map whose data is not JSON) falls through to `<file>.map` when that is there (issue 13's
    /// tester: these were skipped as `bad_map`); with nothing to fall to, it is still the pair's,
    /// and inject says what is wrong with it.
    #[test]
    #[allow(clippy::disallowed_methods)] // test fixtures
    fn an_unusable_map_falls_through_to_the_next_candidate() {
        use base64::Engine as _;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().canonicalize().unwrap();
        let good = r#"{"version":3,"sources":["a.ts"],"names":[],"mappings":"AAAA"}"#;
        let inline = format!(
            "data:application/json;base64,{}",
            base64::engine::general_purpose::STANDARD.encode("{not json")
        );
        let cases = [
            ("empty.map", ""),
            ("cut.map", r#"{"version":3,"mappings":"#),
            ("inline", ""),
            // JSON, but not a usable map
            (
                "vlq.map",
                r#"{"version":3,"sources":["a.ts"],"names":[],"mappings":"@@@"}"#,
            ),
            ("nomap.map", r#"{"version":3}"#),
            ("inline-empty-object", ""),
        ];
        for (i, (reference, content)) in cases.iter().enumerate() {
            let js = dir.join(format!("c{i}.js"));
            let reference = if *reference == "inline" {
                inline.clone()
            } else if *reference == "inline-empty-object" {
                "data:application/json;base64,e30=".to_owned()
            } else {
                format!("c{i}-{reference}")
            };
            std::fs::write(&js, format!("x();\n//# sourceMappingURL={reference}\n")).unwrap();
            if !reference.starts_with("data:") {
                std::fs::write(dir.join(&reference), content).unwrap();
            }
            std::fs::write(dir.join(format!("c{i}.js.map")), good).unwrap();
        }
        // without a fallback: the referenced (bad) map is the pair's, inline too
        std::fs::write(dir.join("lone.js"), "x();\n//# sourceMappingURL=lone-cut.map\n").unwrap();
        std::fs::write(dir.join("lone-cut.map"), "{").unwrap();
        std::fs::write(
            dir.join("lone-inline.js"),
            "x();\n//# sourceMappingURL=data:application/json;base64,e30=\n",
        )
        .unwrap();
        let cands = [
            "c0.js",
            "c1.js",
            "c2.js",
            "c3.js",
            "c4.js",
            "c5.js",
            "lone.js",
            "lone-inline.js",
        ]
        .iter()
        .map(|n| crate::select::Candidate {
            path: dir.join(n),
            root: dir.clone().into(),
            named: false,
        })
        .collect();
        let (pairs, skipped) = pair_all(cands, None, crate::read_source);
        assert!(skipped.is_empty(), "{skipped:?}");
        let maps: Vec<_> = pairs
            .iter()
            .map(|p| match &p.map {
                MapLocation::File(m) => m.file_name().unwrap().to_string_lossy().into_owned(),
                MapLocation::Inline => "inline".to_owned(),
            })
            .collect();
        assert_eq!(
            maps,
            [
                "c0.js.map",
                "c1.js.map",
                "c2.js.map",
                "c3.js.map",
                "c4.js.map",
                "c5.js.map",
                "inline", // lone-inline.js
                "lone-cut.map",
            ]
        );
    }

    #[test]
    fn data_urls_round_trip() {
        let url = encode_data_url("data:application/json;base64,e30=", br#"{"version":3}"#);
        assert!(url.starts_with("data:application/json;base64,"));
        assert_eq!(decode_data_url(&url).unwrap(), br#"{"version":3}"#);
        assert!(decode_data_url("data:application/json;base64,@@@").is_err());
    }
}
