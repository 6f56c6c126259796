//! `sourcemap inject`: stamp each chunk with its chunk id (and release), shift its map, write both
//! atomically, and do nothing at all to what is already right.
//!
//! # Crash consistency
//!
//! The run holds the lock of every directory it writes into (`symship_fs::DirLock`), so no other
//! run writes there meanwhile, and it has swept the temporary files of killed runs. Each file is
//! replaced atomically (`symship_fs::write`), so a kill leaves every file old or new. For one
//! chunk and its map file the order is: **the map first, then the chunk**, and, when the chunk's
//! snippet changes length, **the map a second time** to clear a mark. What a re-run finds after a
//! kill between two writes, and does (the same command line; a kill before the first write or
//! after the last leaves the state of no run or of one whole run):
//!
//! - *First stamp, event mode*: the map carries the `chunk_id` member and is shifted, the chunk
//!   has no snippet. The chunk id is derived from the chunk's bytes, so the re-run computes the
//!   same id; a map that already carries a chunk id is not shifted again. Same bytes as one run.
//! - *First stamp, symbol-set mode*: as above, but the chunk id is random (UUIDv7). A chunk with
//!   no snippet whose map (used by it alone) carries a chunk id adopts that id instead of drawing
//!   a new one, and the map is not shifted again. Same bytes as one run with that id.
//! - *Release restamp, symbol-set mode*: the map holds the new `release_id` and the new chunk id,
//!   the chunk the old snippet. The re-run finds the old snippet's id differs from the map's and
//!   the map's release is already the new one; it adopts the map's chunk id, replaces the snippet
//!   (same length) and does not shift.
//! - *Release restamp, event mode, same length* (a release id replaced by another UUID): the
//!   map does not change, only the chunk is written; nothing to recognise.
//! - *Release restamp, event mode, another length* (a chunk first stamped without a release,
//!   then with one: the snippet grows by 84 bytes and more): the positions after the snippet move,
//!   and the map alone cannot say which snippet it was shifted for. So the first write is the
//!   shifted map with the member `x_symship_pending_snippet: <the new snippet's length>`
//!   (`map::PENDING_SNIPPET`), the second the chunk, the third the map without that member.
//!   - killed after the first write: the map's mark says it is shifted for the new length while
//!     the chunk holds the old snippet; the re-run shifts by the difference between the length it
//!     writes and the mark (none, with the same release), writes the chunk, then clears the mark;
//!   - killed after the second: the chunk holds the snippet of the marked length; the re-run
//!     shifts nothing, and writes the map without the mark.
//!
//!   A re-run with another release (or none) shifts from the marked length to the one it writes,
//!   so the map always ends shifted for the chunk's snippet. `sourcemap upload` refuses a map that
//!   carries the mark (skipped, `bad_map`, "run inject again"): the mark never reaches the server.
//!   Inline maps are written with their chunk in one write and never carry it.
//! - *`--delete-after`*: the chunk's reference is removed first, then the map; a re-run pairs
//!   the chunk with `<file>.map` by name, finds the set already uploaded, and deletes the map.
//!
//! The tests `write_safety::a_run_killed_at_any_write_step_then_run_again_gives_the_clean_runs_files`
//! kill a run after each write step of each of these modes and compare the re-run's files and
//! the server's symbol sets with one clean run's.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use uuid::Uuid;

use crate::chunk::{self, Existing};
use crate::json::Edits;
use crate::lex;
use crate::map::MapDoc;
use crate::pair::{self, MapLocation, Pair};
use crate::{snippet, SkipReason};

pub use symship_core::release_mode::ReleaseMode;

#[derive(Debug, Clone, Default)]
pub struct InjectOptions {
    pub mode: ReleaseMode,
    /// A memory budget shared with a stage that runs at the same time (`process`: the upload
    /// of the chunks already injected); each group of pairs holds twice its input from it while
    /// it is edited. None: inject's own bound (one large group at a time) only.
    pub memory: Option<std::sync::Arc<dyn symship_core::budget::MemoryGate>>,
    /// Room in the hand-over to a slower stage (`process`: the upload): before each group of
    /// pairs, inject waits until that many more fit. None: inject runs at its own pace.
    pub handover: Option<std::sync::Arc<dyn Handover>>,
    /// The resolved release, if any.
    pub release_id: Option<String>,
    /// Compute everything, write nothing.
    pub dry_run: bool,
    /// Worker threads (0 = available parallelism).
    pub threads: usize,
    /// Compute each pair's [`OnDisk`] digests ([`PairResult::on_disk`]; not in a dry run).
    pub on_disk: bool,
    /// The stamps of the pairs an earlier run left ([`crate::ledger`]): a pair whose chunk and
    /// map are as recorded is not read ([`Outcome::Unchanged`], its digests from the ledger), and
    /// what this run leaves is recorded. Used with [`InjectOptions::on_disk`] only.
    pub ledger: Option<std::sync::Arc<crate::ledger::Ledger>>,
}

/// Room in the hand-over from inject to a slower stage that takes its pairs one at a time (in
/// `sourcemap process`, the upload): inject waits for room before it works on the next pairs, so
/// it never runs far ahead of that stage, and what waits between the two stays bounded however
/// large the build.
pub trait Handover: Send + Sync + std::fmt::Debug {
    /// Blocks the calling thread (never an async task) until `n` more pairs fit, and keeps room
    /// for them. A request larger than the whole room waits for all of it. Returns at once when
    /// the receiving stage has ended.
    fn reserve(&self, n: usize);
}

/// What happened to one chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A snippet was added.
    Injected { chunk_id: String },
    /// Already injected; the release (or, in symbol-set mode, the chunk id) was replaced, or a
    /// stripped comment restored.
    Updated { chunk_id: String },
    /// Already right; nothing written.
    Unchanged { chunk_id: String },
}

impl Outcome {
    /// Whether the chunk's bytes changed.
    pub fn changed(&self) -> bool {
        !matches!(self, Outcome::Unchanged { .. })
    }

    pub fn chunk_id(&self) -> &str {
        match self {
            Outcome::Injected { chunk_id }
            | Outcome::Updated { chunk_id }
            | Outcome::Unchanged { chunk_id } => chunk_id,
        }
    }
}

/// The result for one pair.
#[derive(Debug, Clone)]
pub struct PairResult {
    pub pair: Pair,
    pub result: Result<Outcome, SkipReason>,
    /// What the pair's files hold once inject is done with them, when inject was asked
    /// ([`InjectOptions::on_disk`], not a dry run) and the pair succeeded.
    pub on_disk: Option<OnDisk>,
    /// The chunk held a snippet above its `#!` line (posthog-cli 0.19.0 puts it there, and node
    /// then refuses the file), and inject put the hashbang back on line 1, keeping the chunk id
    /// ([`Outcome::Updated`]; in a dry run, it would).
    pub hashbang_moved: bool,
}

/// The SHA-256 and length of a pair's chunk and of its map (an inline map: the bytes its data
/// URL decodes into) as they are on disk after inject: the bytes it read when it left them as
/// they were, the bytes it wrote otherwise. The same digests as the upload computes when it reads
/// the pair (`symship_scan::hash::read_pair`), so `process`'s upload finds an unchanged pair's
/// content hash in the memo without reading the files a third time (`crate::set::Injected`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnDisk {
    pub source: [u8; 32],
    pub source_len: u64,
    pub map: [u8; 32],
    pub map_len: u64,
}

/// A file's SHA-256 and length.
type Held = ([u8; 32], u64);

/// SHA-256 and length of `bytes`.
fn on_disk(bytes: &[u8]) -> Held {
    (symship_core::set::digest(bytes), bytes.len() as u64)
}

/// Progress, for the binary's output. Called from worker threads.
pub trait Reporter: Sync {
    fn pair_done(&self, _result: &PairResult) {}
}

impl Reporter for () {}

fn map_name(pair: &Pair) -> String {
    match &pair.map {
        MapLocation::File(p) => p.display().to_string(),
        MapLocation::Inline => format!("{} (inline)", pair.source.display()),
    }
}

/// Why one chunk could not be edited.
enum WorkError {
    /// The map cannot be edited (the message says why).
    Map(String),
    /// The snippet was rewritten by a minifier: it cannot be replaced in place.
    Rewritten,
    /// The chunk registers an id that is not a UUID.
    BadChunkId(String),
}

impl From<String> for WorkError {
    fn from(e: String) -> WorkError {
        WorkError::Map(e)
    }
}

/// A source being edited with its map.
struct Work<'a> {
    text: String,
    map: &'a mut MapDoc,
    opts: &'a InjectOptions,
    /// The map is used by this chunk alone (not a map several chunks share).
    sole_user: bool,
    /// The map is a file of its own, written before the chunk (not inline in the chunk).
    separate_map: bool,
}

impl Work<'_> {
    fn shift(&mut self, line: usize, column: usize, delta: i64) -> Result<(), String> {
        let mut edits = Edits::default();
        self.map
            .shift_edits(line, column, delta, &mut edits)
            .map_err(|e| e.to_string())?;
        self.apply_map(edits);
        Ok(())
    }

    /// The snippet length a map naming no chunk id is shifted for, beside a chunk whose snippet of
    /// `held` bytes starts at `line`:`column`. Such a map is either the bundler's own, written
    /// again beside a chunk injected before (its positions are for the code without the snippet:
    /// 0), or this chunk's shifted map written again by a tool that dropped the members it does
    /// not know, `chunk_id` among them (a fresh tester: `SourceMapGenerator.fromSourceMap`; it was
    /// shifted a second time, and every position on the line was wrong: `held`). The snippet's
    /// span tells them apart: a map for the code without it maps the code that starts at
    /// `column` (a segment inside the span), a shifted map has nothing there. Without a segment
    /// after `column` on that line there is nothing to shift either way.
    fn unmarked_basis(&self, line: usize, column: usize, held: usize) -> usize {
        match self.map.first_column_from(line, column) {
            Ok(Some(first)) if first >= (column + held) as i64 => held,
            _ => 0,
        }
    }

    /// The snippet length the map's positions are for, beside a chunk whose snippet of `held`
    /// bytes starts at `line`:`column`: the one an interrupted run marked it shifted for, else,
    /// for a map that names no chunk id (`named` false), what its segments tell
    /// ([`Work::unmarked_basis`]), else `held`.
    fn map_basis(&self, named: bool, line: usize, column: usize, held: usize) -> usize {
        match self.map.pending_snippet_len() {
            Some(len) => len,
            None if !named => self.unmarked_basis(line, column, held),
            None => held,
        }
    }

    /// Marks the map as shifted for a snippet of `len` bytes that the chunk does not hold yet
    /// (`map::PENDING_SNIPPET`), or clears that mark.
    fn set_pending(&mut self, len: Option<usize>) {
        let mut edits = Edits::default();
        match len {
            Some(len) => self.map.set_pending_edit(len, &mut edits),
            None => self.map.clear_pending_edit(&mut edits),
        }
        self.apply_map(edits);
    }

    fn apply_map(&mut self, edits: Edits) {
        if edits.is_empty() {
            return;
        }
        let bytes = edits.apply(&self.map.bytes);
        *self.map = MapDoc::reindex(bytes).expect("edits keep the map's shape");
    }

    fn set_member(&mut self, key: &str, aliases: &[&str], value: Option<&str>) {
        let mut edits = Edits::default();
        match value {
            Some(v) => self.map.set_string_edit(key, aliases, v, &mut edits),
            None => {
                for k in std::iter::once(key).chain(aliases.iter().copied()) {
                    self.map.remove_edit(k, &mut edits);
                }
            }
        }
        self.apply_map(edits);
    }

    /// Removes an existing snippet and comment; the map is shifted back when it belongs to this chunk.
    fn remove(&mut self, existing: &Existing, owns_map: bool) -> Result<(), String> {
        if let Some(c) = &existing.comment {
            self.text.replace_range(c.clone(), "");
        }
        if let Some(s) = &existing.snippet {
            let (line, column) = chunk::position_of(&self.text, s.span.start);
            self.text.replace_range(s.span.clone(), "");
            if owns_map {
                // The map may have been shifted for another snippet by an interrupted run; one
                // that names no chunk id is told apart by its segments (see `unmarked_basis`).
                let basis = self.map_basis(self.map.chunk_id().is_some(), line, column, s.span.len());
                if basis != 0 {
                    self.shift(line, column, -(basis as i64))?;
                }
                self.set_pending(None);
            }
        }
        Ok(())
    }

    /// Adds a snippet and comment; the map is shifted when it does not carry a chunk id yet.
    /// `head`: the text's head when [`Work::run`] read it and nothing has changed the text since.
    /// A map used by this chunk alone takes its chunk id even when it is not shifted: it may name
    /// the id of a run killed between its map and its chunk, or of another release (the chunk and
    /// the server then named one id, the map on disk another: a tester's finding).
    fn add(
        &mut self,
        chunk_id: &str,
        release_id: Option<&str>,
        shift_map: bool,
        head: Option<&lex::Head>,
    ) -> Result<(), String> {
        let renamed = !shift_map && self.sole_user && self.map.chunk_id().as_deref() != Some(chunk_id);
        let at = match head {
            Some(head) => chunk::insertion_point_in(&self.text, head),
            None => chunk::insertion_point(&self.text),
        };
        let snip = snippet::render(chunk_id, release_id);
        if shift_map {
            self.shift(at.line, at.column, snip.len() as i64)?;
        }
        if shift_map || renamed {
            self.set_member("chunk_id", &["chunkId"], Some(chunk_id));
        }
        self.text.insert_str(at.offset, &snip);
        self.text.push_str(&snippet::comment(chunk_id));
        Ok(())
    }

    /// posthog-cli 0.19.0 puts its snippet at the very start of a chunk, above a `#!` line, which
    /// is then no hashbang (one is only at the start of a file), so node refuses the file. When
    /// the chunk starts with a snippet (its own or symship's) right before `#!`, the snippet moves
    /// to where a fresh stamp puts it in the chunk without it ([`chunk::insertion_point`]: after
    /// the hashbang line and any directive prologue), unchanged, so the chunk id stays: the chunk
    /// is then byte for byte what inject writes for the chunk as the bundler wrote it. The map,
    /// when it is this chunk's, is shifted back on line 1 (by what it was shifted for, as
    /// [`Work::remove`] reads it) and forward at the snippet's new place. Returns whether it moved.
    fn move_hashbang_back(&mut self) -> Result<bool, String> {
        let first_line = match memchr::memchr(b'\n', self.text.as_bytes()) {
            Some(end) => &self.text[..end],
            None => return Ok(false),
        };
        // a first line without `#!` after its start (nearly every chunk) is read no further
        if first_line.starts_with("#!") || memchr::memmem::find(first_line.as_bytes(), b"#!").is_none() {
            return Ok(false);
        }
        let Some(found) = snippet::find(&self.text) else {
            return Ok(false);
        };
        if found.span.start != 0 || !self.text[found.span.end..].starts_with("#!") {
            return Ok(false);
        }
        let map_id = self.map.chunk_id();
        let owns_map = self.sole_user || map_id.as_deref().is_none_or(|m| m == found.chunk_id);
        let snip = self.text[found.span.clone()].to_owned();
        self.text.replace_range(found.span.clone(), "");
        let at = chunk::insertion_point(&self.text);
        self.text.insert_str(at.offset, &snip);
        if owns_map {
            let basis = match self.map.pending_snippet_len() {
                Some(len) => len,
                None if map_id.is_none() => 0,
                None => snip.len(),
            };
            if basis != 0 {
                self.shift(0, 0, -(basis as i64))?;
            }
            self.set_pending(None);
            self.shift(at.line, at.column, snip.len() as i64)?;
            if map_id.as_deref() != Some(found.chunk_id.as_str()) {
                self.set_member("chunk_id", &["chunkId"], Some(&found.chunk_id));
            }
        }
        Ok(true)
    }

    /// Stamps the chunk; `.1`: whether the hashbang was moved back first
    /// ([`Work::move_hashbang_back`]).
    fn run(&mut self) -> Result<(Outcome, bool), WorkError> {
        let moved = self.move_hashbang_back()?;
        let outcome = match self.stamp()? {
            Outcome::Unchanged { chunk_id } if moved => Outcome::Updated { chunk_id },
            other => other,
        };
        Ok((outcome, moved))
    }

    fn stamp(&mut self) -> Result<Outcome, WorkError> {
        // The chunk's tokens are read once here: the outline (its magic comments) is the whole
        // file's, so it is not read again for the debug id.
        let outline = lex::outline(&self.text);
        let head = lex::head(&self.text);
        let existing = chunk::existing_in(&self.text, &outline, &head);
        if let Some(e) = existing.as_ref().filter(|e| !crate::is_chunk_id(&e.chunk_id)) {
            // Not adopted (it would fail the upload, and posthog-js tags frames with it), and no
            // second registration added (the first would still run): left alone, named.
            return Err(WorkError::BadChunkId(e.chunk_id.clone()));
        }
        let map_id = self.map.chunk_id();
        match self.opts.mode {
            ReleaseMode::Event => self.run_event(existing, map_id, &outline, &head),
            ReleaseMode::SymbolSet => self.run_symbol_set(existing, map_id),
        }
    }

    fn run_event(
        &mut self,
        existing: Option<Existing>,
        map_id: Option<String>,
        outline: &lex::Outline,
        head: &lex::Head,
    ) -> Result<Outcome, WorkError> {
        let Some(existing) = existing else {
            let chunk_id = self
                .adopted_debug_id(outline)
                .unwrap_or_else(|| chunk::stable_chunk_id(&self.text));
            let release = self.opts.release_id.as_deref();
            self.add(&chunk_id, release, map_id.is_none(), Some(head))?;
            return Ok(Outcome::Injected { chunk_id });
        };
        let id = existing.chunk_id.clone();
        let mut changed = false;
        // A map used by this chunk alone is this chunk's whatever `chunk_id` it carries (a stale
        // one, from another build or tool, is corrected below); a shared map is the chunk's only
        // when it names it.
        let owns_map = self.sole_user || map_id.as_deref().is_none_or(|m| m == id);
        if let Some(found) = &existing.snippet {
            let (line, column) = chunk::position_of(&self.text, found.span.start);
            let held = found.span.len();
            let mut wanted = held;
            if let Some(release) = self.opts.release_id.as_deref() {
                if found.release_id.as_deref() != Some(release) {
                    if !found.canonical {
                        return Err(WorkError::Rewritten);
                    }
                    // Swap only the snippet: the chunk id stays, the map moves by the length change.
                    let new = snippet::render(&id, Some(release));
                    wanted = new.len();
                    self.text.replace_range(found.span.clone(), &new);
                    changed = true;
                }
            }
            if owns_map {
                // The map's positions are for the chunk's snippet, or for the one an interrupted
                // run shifted it for (its mark says which length), or, when it names no chunk id,
                // for the code without any snippet: every stamp writes the id with its shift (and
                // posthog-cli writes it too), so such a map is the bundler's own, written again
                // beside a chunk injected before (a tester's finding: it was sent unshifted).
                let basis = self.map_basis(map_id.is_some(), line, column, held);
                if wanted != basis {
                    self.shift(line, column, wanted as i64 - basis as i64)?;
                }
                // Until the chunk is written, the map runs ahead of it: say so in the map.
                let pending = (self.separate_map && wanted != held).then_some(wanted);
                self.set_pending(pending);
            }
        }
        if existing.snippet.is_some() && existing.comment_id.as_deref() != Some(id.as_str()) {
            // A minifier stripped the comment (or it names another id than the snippet
            // registers): write the registered id, so every tool reads what posthog-js reads.
            if let Some(stale) = existing.comment.clone() {
                self.text.replace_range(stale, "");
            }
            self.text.push_str(&snippet::comment(&id));
            changed = true;
        }
        if owns_map && map_id.as_deref() != Some(id.as_str()) && existing.snippet.is_some() {
            // The map must name the id the chunk registers (what posthog-js tags frames with),
            // as a fresh stamp would write it: the upload sends that id, and so must the map
            // left on disk for other tools. In event mode a differing map id is never a state an
            // interrupted run leaves (a restamp keeps the chunk id).
            self.set_member("chunk_id", &["chunkId"], Some(&id));
            changed = true;
        }
        Ok(if changed {
            Outcome::Updated { chunk_id: id }
        } else {
            Outcome::Unchanged { chunk_id: id }
        })
    }

    fn run_symbol_set(
        &mut self,
        existing: Option<Existing>,
        map_id: Option<String>,
    ) -> Result<Outcome, WorkError> {
        let release = self.opts.release_id.as_deref();
        if let Some(e) = &existing {
            let map_is_this_chunks = !self.sole_user || map_id.as_deref().is_none_or(|m| m == e.chunk_id);
            if self.map.release_id().as_deref() == release && map_is_this_chunks {
                if e.snippet.is_some() && e.comment_id.as_deref() != Some(e.chunk_id.as_str()) {
                    // A minifier stripped the comment (or it names another id than the
                    // snippet registers): write the registered id back, as event mode does;
                    // the comment follows the code, so the map does not move.
                    if let Some(stale) = e.comment.clone() {
                        self.text.replace_range(stale, "");
                    }
                    self.text.push_str(&snippet::comment(&e.chunk_id));
                    return Ok(Outcome::Updated {
                        chunk_id: e.chunk_id.clone(),
                    });
                }
                return Ok(Outcome::Unchanged {
                    chunk_id: e.chunk_id.clone(),
                });
            }
        }
        if let Some((e, found)) = existing
            .as_ref()
            .and_then(|e| e.snippet.as_ref().map(|s| (e, s)))
            .filter(|(_, s)| !s.canonical)
        {
            // In this mode the release lives in the map alone, so a rewritten snippet can take
            // one when its map is the chunk's and carries none: the minifier that rewrote the
            // snippet wrote the map again from the injected one and dropped the members it does
            // not know (terser: chunk_id, release_id). The chunk keeps the id it registers, the
            // map names it and the run's release, as `upload` sends it (a fresh tester: process
            // skipped such a chunk as snippet_rewritten while upload sent it).
            let adoptable = self.sole_user
                && map_id.as_deref().is_none_or(|m| m == e.chunk_id)
                && self.map.release_id().is_none();
            if !adoptable {
                return Err(WorkError::Rewritten);
            }
            let (line, column) = chunk::position_of(&self.text, found.span.start);
            let held = found.span.len();
            let basis = self.map_basis(map_id.is_some(), line, column, held);
            if basis != held {
                self.shift(line, column, held as i64 - basis as i64)?;
            }
            self.set_pending(None);
            if e.comment_id.as_deref() != Some(e.chunk_id.as_str()) {
                if let Some(stale) = e.comment.clone() {
                    self.text.replace_range(stale, "");
                }
                self.text.push_str(&snippet::comment(&e.chunk_id));
            }
            self.set_member("chunk_id", &["chunkId"], Some(&e.chunk_id));
            self.set_member("release_id", &[], release);
            return Ok(Outcome::Updated {
                chunk_id: e.chunk_id.clone(),
            });
        }
        // A map used by this chunk alone that already carries a chunk id and the release asked
        // for was written by a run killed before it wrote the chunk: finish that run's work
        // with its id (the map is already shifted for it).
        let resumed = map_id
            .as_deref()
            .filter(|id| {
                self.sole_user
                    && Uuid::parse_str(id).is_ok()
                    && self.map.release_id().as_deref() == release
                    && existing.as_ref().is_none_or(|e| e.chunk_id != *id)
            })
            .map(str::to_string);
        if let Some(chunk_id) = resumed {
            if let Some(e) = &existing {
                // The old snippet goes; the map already holds the new one's positions.
                self.remove(e, false)?;
            }
            self.add(&chunk_id, None, false, None)?;
            return Ok(Outcome::Updated { chunk_id });
        }
        let chunk_id = Uuid::now_v7().to_string();
        let mut shift_map = map_id.is_none();
        if let Some(e) = &existing {
            let owns_map = map_id.as_deref().is_none_or(|m| m == e.chunk_id);
            self.remove(e, owns_map)?;
            shift_map = owns_map;
        }
        self.set_member("release_id", &[], release);
        // A shared map owned by another chunk keeps its positions: it is already shifted.
        self.add(&chunk_id, None, shift_map, None)?;
        Ok(if existing.is_some() {
            Outcome::Updated { chunk_id }
        } else {
            Outcome::Injected { chunk_id }
        })
    }

    /// A bundler's ECMA-426 debug id (the chunk's comment first, then the map's), if a UUID.
    fn adopted_debug_id(&self, outline: &lex::Outline) -> Option<String> {
        let id = snippet::comment_in(&self.text, outline, "//# debugId=")
            .map(|(v, _)| v.to_string())
            .or_else(|| self.map.debug_id())?;
        Uuid::parse_str(&id).ok().map(|_| id)
    }
}

/// What `sourcemap inject --release-mode symbol-set` with the release `release_id` leaves of a
/// chunk whose chunk-id snippet a minifier rewrote after an inject (terser run on the injected
/// chunk: the snippet reformatted, the `//# chunkId=` comment dropped, the map written again
/// without `chunk_id` and `release_id`), and of its map (inline or a file of its own): the chunk
/// keeps the id it registers, the comment is restored, and the map names that id and the release
/// ([`Work::run`], the same edits as inject writes; an `inline` map is written back into the
/// chunk's data URL, as inject writes it). `Ok(true)` when `text` and `map` now hold
/// that form; `Ok(false)`, both left as they were, when the chunk holds no rewritten snippet, or
/// inject would leave it unchanged (its map already carries this release) or skip it
/// (`snippet_rewritten`: its map carries another release or chunk id); `Err`: why the map cannot
/// be edited. `sourcemap upload` sends a symbol-set chunk in this form, so that what it sends is
/// what a later `process` of the same files sends (a fresh tester: the two differed, and the
/// second failed with `content_hash_mismatch`).
pub fn adopt_rewritten(
    text: &mut String,
    map: &mut MapDoc,
    release_id: Option<&str>,
    inline: bool,
) -> Result<bool, String> {
    if snippet::find(text).is_none_or(|s| s.canonical) {
        return Ok(false);
    }
    // the data URL as read, which inject writes the edited map back into
    let url = match inline {
        true => pair::sourcemap_reference(text).map(|(v, _)| v.to_owned()),
        false => None,
    };
    let opts = InjectOptions {
        mode: ReleaseMode::SymbolSet,
        release_id: release_id.map(str::to_owned),
        ..Default::default()
    };
    // edited apart, so that a chunk inject would not change keeps its map as it is
    let mut edited = MapDoc::reindex(map.bytes.clone()).map_err(|e| e.to_string())?;
    // as read: only the edits below make it dirty
    edited.dirty = false;
    let mut work = Work {
        text: text.clone(),
        map: &mut edited,
        opts: &opts,
        // the upload sends each chunk with its own copy of the map
        sole_user: true,
        // the pending mark is event mode's, never set here
        separate_map: false,
    };
    match work.run() {
        Ok((outcome, _)) if outcome.changed() => {
            let mut changed = work.text;
            if let Some(url) = url.filter(|_| edited.dirty) {
                write_inline(&mut changed, &url, &edited.bytes);
            }
            *text = changed;
            *map = edited;
            Ok(true)
        }
        Ok(_) | Err(WorkError::Rewritten | WorkError::BadChunkId(_)) => Ok(false),
        Err(WorkError::Map(e)) => Err(e),
    }
}

/// Loads a map that lives in its own file, with the digest of its bytes as read when `digest`.
/// `expected`: the file's length as the scan found it (a hint for the buffer).
fn load_map(path: &Path, expected: Option<u64>, digest: bool) -> Result<(MapDoc, Option<Held>), SkipReason> {
    let bytes = symship_fs::read_sized(path, expected)
        .map_err(|e| SkipReason::Unreadable(format!("{}: {e}", path.display())))?;
    let read = digest.then(|| on_disk(&bytes));
    let doc = MapDoc::parse(bytes).map_err(|e| SkipReason::BadMap {
        map: path.display().to_string(),
        error: e.to_string(),
    })?;
    Ok((doc, read))
}

/// An inline map, the data URL it came from, and the digest of the bytes it decodes into.
fn inline_map(text: &str, source: &Path) -> Result<(MapDoc, String, Held), SkipReason> {
    let name = format!("{} (inline)", source.display());
    let (value, _) = pair::sourcemap_reference(text).ok_or(SkipReason::NoMap { reference: None })?;
    let bytes = pair::decode_data_url(value).map_err(|error| SkipReason::BadMap {
        map: name.clone(),
        error,
    })?;
    let read = on_disk(&bytes);
    let doc = MapDoc::parse(bytes).map_err(|e| SkipReason::BadMap {
        map: name,
        error: e.to_string(),
    })?;
    Ok((doc, value.to_string(), read))
}

/// Replaces the inline map's data URL in `text`.
fn write_inline(text: &mut String, original_url: &str, map: &[u8]) {
    if let Some((_, range)) = pair::sourcemap_reference(text) {
        let url = pair::encode_data_url(original_url, map);
        text.replace_range(range, &url);
    }
}

/// Injects one chunk's text against its (possibly shared) map; returns the new text.
fn run_one(
    pair: &Pair,
    text: String,
    map: &mut MapDoc,
    opts: &InjectOptions,
    sole_user: bool,
) -> Result<(String, Outcome, bool), SkipReason> {
    let separate_map = matches!(pair.map, MapLocation::File(_));
    let mut work = Work {
        text,
        map,
        opts,
        sole_user,
        separate_map,
    };
    let (outcome, moved) = work.run().map_err(|e| match e {
        WorkError::Map(error) => SkipReason::BadMap {
            map: map_name(pair),
            error,
        },
        WorkError::Rewritten => SkipReason::SnippetRewritten,
        WorkError::BadChunkId(id) => SkipReason::BadChunkId { id },
    })?;
    Ok((work.text, outcome, moved))
}

/// Handles one group: the chunks that share one map file (usually one chunk), given by their
/// indices in `pairs`; each result goes to `each` with its index.
fn process_group(
    pairs: &[Pair],
    indices: &[usize],
    opts: &InjectOptions,
    each: &(dyn Fn(usize, PairResult) + Sync),
    replaced: &symship_fs::Replaced,
) {
    let write = |pair: &Pair, path: &Path, bytes: &[u8]| write(pair, path, bytes, replaced);
    let group = || indices.iter().map(|&i| (i, &pairs[i]));
    // the digests of what is on disk after this group, for the stage inject hands pairs to
    let digests = opts.on_disk && !opts.dry_run;
    let moved_at = Mutex::new(Vec::new());
    let done = |i: usize, result: Result<Outcome, SkipReason>, on_disk: Option<OnDisk>| {
        let hashbang_moved = result.is_ok() && moved_at.lock().expect("not poisoned").contains(&i);
        each(
            i,
            PairResult {
                pair: pairs[i].clone(),
                on_disk: on_disk.filter(|_| result.is_ok()),
                result,
                hashbang_moved,
            },
        )
    };
    let first = &pairs[indices[0]];
    match &first.map {
        MapLocation::Inline => {
            for (i, pair) in group() {
                let mut found = None;
                let r = (|| {
                    let text = crate::read_source_sized(&pair.source, pair.lens().map(|l| l.0))?;
                    let (mut map, url, read) = inline_map(&text, &pair.source)?;
                    // The data URL sits after the code; the snippet goes before it.
                    let (mut text, outcome, moved) = run_one(pair, text, &mut map, opts, true)?;
                    if moved {
                        moved_at.lock().expect("not poisoned").push(i);
                    }
                    let map_now = if map.dirty {
                        write_inline(&mut text, &url, &map.bytes);
                        // a data URL decodes into exactly the bytes encoded into it
                        on_disk(&map.bytes)
                    } else {
                        read
                    };
                    if !opts.dry_run && outcome.changed() {
                        write(pair, &pair.source, text.as_bytes())?;
                    }
                    if digests {
                        found = Some(both(on_disk(text.as_bytes()), map_now));
                    }
                    Ok(outcome)
                })();
                done(i, r, found);
            }
        }
        MapLocation::File(map_path) => {
            // the ledger speaks for a chunk with a map of its own, in a run that digests
            let ledger = opts.ledger.as_deref().filter(|_| digests && indices.len() == 1);
            if let Some(ledger) = ledger {
                let release = opts.release_id.as_deref();
                if let Some((chunk_id, found)) = ledger.unchanged(&first.source, map_path, opts.mode, release)
                {
                    done(indices[0], Ok(Outcome::Unchanged { chunk_id }), Some(found));
                    return;
                }
            }
            let (mut map, read) = match load_map(map_path, first.lens().map(|l| l.1), digests) {
                Ok(m) => m,
                Err(reason) => {
                    for &i in indices {
                        done(i, Err(reason.clone()), None);
                    }
                    return;
                }
            };
            let mut texts = Vec::new();
            let mut outcomes = Vec::new();
            for (i, pair) in group() {
                let sole_user = indices.len() == 1;
                let r = crate::read_source_sized(&pair.source, pair.lens().map(|l| l.0))
                    .and_then(|text| run_one(pair, text, &mut map, opts, sole_user));
                match r {
                    Ok((text, outcome, moved)) => {
                        if moved {
                            moved_at.lock().expect("not poisoned").push(i);
                        }
                        texts.push(Some(text));
                        outcomes.push(Ok(outcome));
                    }
                    Err(e) => {
                        texts.push(None);
                        outcomes.push(Err(e));
                    }
                }
            }
            // What the map file holds (its digest), as each write below leaves it.
            let mut map_now = read;
            // The map first: if the run dies before the chunk is written, the next run finds a
            // map that already carries the chunk id (or the pending mark) and does not shift it
            // twice.
            let mut map_error = None;
            let mut map_written = false;
            if !opts.dry_run && map.dirty {
                if let Err(e) = write(first, map_path, &map.bytes) {
                    map_error = Some(e);
                } else {
                    map_written = true;
                    if digests {
                        map_now = Some(on_disk(&map.bytes));
                    }
                }
            }
            let mut rs = Vec::with_capacity(indices.len());
            let mut chunks_now = Vec::with_capacity(indices.len());
            for (((_, pair), text), outcome) in group().zip(texts).zip(outcomes) {
                chunks_now.push(text.as_ref().filter(|_| digests).map(|t| on_disk(t.as_bytes())));
                rs.push(match (&map_error, outcome, text) {
                    (Some(e), Ok(_), _) => Err(e.clone()),
                    (None, Ok(outcome), Some(text)) => {
                        if opts.dry_run || !outcome.changed() {
                            Ok(outcome)
                        } else {
                            write(pair, &pair.source, text.as_bytes()).map(|_| outcome)
                        }
                    }
                    (_, Err(e), _) => Err(e),
                    (None, Ok(_), None) => unreachable!("a text exists for every successful chunk"),
                });
            }
            // Every chunk holds what the map was shifted for: the third write clears the mark.
            // A chunk that could not be written keeps it, for the next run.
            let all_written = rs
                .iter()
                .all(|r| !matches!(r, Err(SkipReason::Write(_) | SkipReason::LinkOutsideRoot(_))));
            if !opts.dry_run && map_error.is_none() && all_written && map.pending_snippet_len().is_some() {
                let mut edits = Edits::default();
                map.clear_pending_edit(&mut edits);
                let bytes = edits.apply(&map.bytes);
                if let Err(e) = write(first, map_path, &bytes) {
                    for r in rs.iter_mut().filter(|r| r.is_ok()) {
                        *r = Err(e.clone());
                    }
                } else {
                    map_written = true;
                    if digests {
                        map_now = Some(on_disk(&bytes));
                    }
                }
            }
            for ((&i, r), chunk_now) in indices.iter().zip(rs).zip(chunks_now) {
                let found = chunk_now.zip(map_now).map(|(c, m)| both(c, m));
                if let (Some(ledger), Ok(outcome), Some(found)) = (ledger, &r, &found) {
                    let wrote = (outcome.changed(), map_written);
                    let release = opts.release_id.as_deref();
                    ledger.record(
                        &pairs[i].source,
                        map_path,
                        outcome.chunk_id(),
                        found,
                        wrote,
                        opts.mode,
                        release,
                    );
                }
                done(i, r, found);
            }
        }
    }
}

/// A pair's [`OnDisk`] from its chunk's and its map's digest and length.
fn both((source, source_len): Held, (map, map_len): Held) -> OnDisk {
    OnDisk {
        source,
        source_len,
        map,
        map_len,
    }
}

/// Replaces `path` (the pair's chunk or map) atomically, if it resolves inside the pair's root;
/// the old content goes to `replaced`, removed at the end of the run.
fn write(pair: &Pair, path: &Path, bytes: &[u8], replaced: &symship_fs::Replaced) -> Result<(), SkipReason> {
    symship_fs::write_within_deferred(&pair.root, path, bytes, replaced).map_err(|e| match e {
        symship_fs::WriteError::OutsideRoot(e) => SkipReason::LinkOutsideRoot(e.to_string()),
        symship_fs::WriteError::Io { .. } => SkipReason::Write(e.to_string()),
    })
}

/// Inputs (map plus chunks) from this size on are injected one at a time.
const LARGE_GROUP: u64 = 8 * 1024 * 1024;

/// Injects every pair, several groups at once. Results come back in the order of `pairs`.
pub fn inject(pairs: &[Pair], opts: &InjectOptions, reporter: &dyn Reporter) -> Vec<PairResult> {
    let collected = Mutex::new(Vec::with_capacity(pairs.len()));
    inject_each(pairs, opts, &|i, r| {
        reporter.pair_done(&r);
        collected.lock().expect("no worker panicked").push((i, r));
    });
    let mut results = collected.into_inner().expect("no worker panicked");
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Injects every pair as [`inject`] does, and hands each result to `each` (from inject's threads,
/// in the order they finish) with the pair's index in `pairs`, keeping none: what the run holds
/// per pair is its index (`process` hands each result to its upload, and a build of 50,000
/// chunks held tens of MB of results and copied pairs while inject ran ahead of the upload).
pub fn inject_each(pairs: &[Pair], opts: &InjectOptions, each: &(dyn Fn(usize, PairResult) + Sync)) {
    // The groups: the pairs that share a map file, in the order of their map's path, then each
    // pair with an inline map alone; each group the indices of its pairs, in their order.
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    let map_file = |i: usize| match &pairs[i].map {
        MapLocation::File(m) => Some(m.as_path()),
        MapLocation::Inline => None,
    };
    // files first (by path), inline maps last; a stable sort keeps the pairs' order within each
    order.sort_by(|&a, &b| match (map_file(a), map_file(b)) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    let mut work: Vec<&[usize]> = Vec::new();
    let mut rest = order.as_slice();
    while let Some(&first) = rest.first() {
        let len = match map_file(first) {
            Some(m) => rest.iter().take_while(|&&i| map_file(i) == Some(m)).count(),
            None => 1,
        };
        let (group, tail) = rest.split_at(len);
        work.push(group);
        rest = tail;
    }
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        opts.threads
    }
    .min(work.len().max(1));
    let next = AtomicUsize::new(0);
    // The old contents of replaced files, removed together once every group is written (a
    // leftover of a kill in between is swept by the next run).
    let replaced = symship_fs::Replaced::default();
    // A group holds about twice its input while it is edited (the map and its edited copy), so
    // large groups take turns: memory stays bounded by one large group, whatever the build.
    let large = Mutex::new(());
    let input = |group: &[usize]| {
        let more_chunks: u64 = group[1..]
            .iter()
            .map(|&i| std::fs::metadata(&pairs[i].source).map_or(0, |m| m.len()))
            .sum();
        pairs[group[0]].input_len() + more_chunks
    };
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(group) = work.get(i) else { break };
                // before the memory: a wait for room holds nothing the receiving stage needs
                if let Some(h) = &opts.handover {
                    h.reserve(group.len());
                }
                let bytes = input(group);
                let _turn = (bytes >= LARGE_GROUP).then(|| large.lock().unwrap_or_else(|e| e.into_inner()));
                let _memory = opts.memory.as_ref().map(|m| m.hold(bytes.saturating_mul(2)));
                process_group(pairs, group, opts, each, &replaced);
            });
        }
    });
    // What cannot be removed now stays a `.symship-*.tmp` file for the next run's sweep.
    replaced.remove_all();
}
