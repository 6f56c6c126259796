//! What happened to every chunk, and the progress callbacks.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use symship_core::kind::Kind;
use symship_core::set::{Cleanup, MapLocation};
use symship_core::Code;

/// The stages of the pipeline (they overlap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Reading, hashing and compressing.
    Prepare,
    /// `bulk_check_upload`.
    Check,
    /// `bulk_start_upload`.
    Start,
    /// Sending bytes to object storage.
    Transfer,
    /// `bulk_finish_upload`.
    Finish,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Prepare => "prepare",
            Phase::Check => "check",
            Phase::Start => "start",
            Phase::Transfer => "transfer",
            Phase::Finish => "finish",
        }
    }
}

/// The code of a chunk skipped because its map holds nothing (no mappings, sources or names, or an
/// index map without sections).
pub const EMPTY_MAP: &str = Code::EmptyMap.as_str();

/// The final state of one chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// `bulk_finish_upload` succeeded for it in this run.
    Uploaded,
    /// The server already holds identical content (check or start said so; with
    /// `--skip-on-conflict`, start's "present" may also be other content: see
    /// [`UploadReport::presence_unverified`]).
    AlreadyPresent,
    /// `--skip-on-conflict`: the server holds different content under this chunk id and kept it
    /// (a check with `force` listed it as needing an upload after one with `skip_on_conflict`
    /// did not). Not verified: `--delete-after` keeps its map.
    KeptDifferent,
    /// The container is larger than PostHog accepts (100 MiB); not sent.
    TooLarge { bytes: u64 },
    /// Another chunk of this run has the same chunk id; only the first is sent.
    Duplicate { of: PathBuf },
    /// Not uploadable (no chunk id, unreadable, bad map); the reason says what to do.
    Skipped { code: String, reason: String },
    /// The upload was attempted and did not land.
    Failed { code: String, reason: String },
    /// `--dry-run`: would be checked and sent.
    WouldUpload,
}

impl Status {
    /// A short stable code for machine-readable output.
    pub fn code(&self) -> &str {
        match self {
            Status::Skipped { code, .. } | Status::Failed { code, .. } => code,
            fixed => fixed.fixed_code().expect("every other status has a fixed code"),
        }
    }

    /// [`Status::code`] where it is one of the fixed codes (all but a skip's or a failure's,
    /// which name their cause), so that a report line need not copy it.
    pub fn fixed_code(&self) -> Option<&'static str> {
        Some(match self {
            Status::Uploaded => "uploaded",
            Status::AlreadyPresent => Code::AlreadyPresent.as_str(),
            Status::KeptDifferent => Code::KeptDifferent.as_str(),
            Status::TooLarge { .. } => Code::TooLarge.as_str(),
            Status::Duplicate { .. } => Code::Duplicate.as_str(),
            Status::WouldUpload => "would_upload",
            Status::Skipped { .. } | Status::Failed { .. } => return None,
        })
    }

    /// Skipped because its map holds nothing ([`EMPTY_MAP`]).
    pub fn empty_map(reason: String) -> Status {
        Status::Skipped {
            code: EMPTY_MAP.into(),
            reason,
        }
    }

    /// Whether the chunk was skipped because its map holds nothing: there is nothing to upload,
    /// and `--delete-after` removes the map as it does an uploaded one.
    pub fn is_empty_map(&self) -> bool {
        matches!(self, Status::Skipped { code, .. } if code == EMPTY_MAP)
    }

    /// Uploaded or already present (with `--skip-on-conflict`, see [`UploadReport::is_verified`]).
    pub fn is_verified(&self) -> bool {
        matches!(self, Status::Uploaded | Status::AlreadyPresent)
    }
}

/// One symbol set's account (a "chunk" for web builds, where the pipeline began).
///
/// A run keeps one for every set it was handed, until it ends (a build of 50,000 chunks: 50,000),
/// so it is kept small: the chunk's path once, its map as "the chunk's name with `.map`, beside
/// it" where it is one, a chunk id in canonical form as its 16 bytes, and `--delete-after`'s files
/// as "the map" where that is all they are. Copies of the map's path (twice) and of the chunk id
/// held about 10 MB at 50,000 chunks. [`ChunkReport::map`], [`ChunkReport::cleanup`] and
/// [`ChunkReport::chunk_id`] give them back whole.
#[derive(Debug, Clone)]
pub struct ChunkReport {
    /// Its kind (the container type).
    pub kind: Kind,
    /// [`flags`] bits.
    flags: u8,
    /// The file it was found as ([`symship_core::set::SymbolSet::path`]).
    pub source: Box<std::path::Path>,
    /// Its chunk id's bytes, when it is a lower-case hyphenated UUID ([`flags::REF_UUID`]).
    uuid: [u8; 16],
    /// What does not fit the common forms above (rare: a map named otherwise or elsewhere, other
    /// files to delete, a ref that is not a canonical UUID).
    extra: Option<Box<Extra>>,
    /// Container bytes (when it was built).
    pub bytes: Option<u64>,
    /// SHA-256 of the chunk's file as read for the upload (for `--delete-after`).
    pub source_digest: Option<[u8; 32]>,
    pub status: Status,
}

/// The bits of [`ChunkReport::flags`].
mod flags {
    /// Its map is a separate file: `<source>.map` unless [`super::Extra::map`] names it.
    pub const MAP_FILE: u8 = 1;
    /// Its map is inline (a `data:` URL in the chunk).
    pub const MAP_INLINE: u8 = 1 << 1;
    /// `--delete-after` removes its `sourceMappingURL` comment.
    pub const STRIP: u8 = 1 << 2;
    /// `--delete-after` deletes its map file (and nothing else of it).
    pub const DELETES_MAP: u8 = 1 << 3;
    /// Its ref is [`super::ChunkReport::uuid`].
    pub const REF_UUID: u8 = 1 << 4;
}

/// The parts of a [`ChunkReport`] that most chunks do not have.
#[derive(Debug, Clone, Default)]
struct Extra {
    /// A separate map that is not `<source>.map`.
    map: Option<std::path::PathBuf>,
    /// Files `--delete-after` deletes, when they are not just the map.
    delete: Vec<PathBuf>,
    /// A ref that is not a lower-case hyphenated UUID.
    reference: Option<String>,
}

/// Whether `map` is `source` with `.map` appended (how bundlers name a chunk's map).
fn beside(source: &std::path::Path, map: &std::path::Path) -> bool {
    let (s, m) = (
        source.as_os_str().as_encoded_bytes(),
        map.as_os_str().as_encoded_bytes(),
    );
    m.len() == s.len() + 4 && m.starts_with(s) && m.ends_with(b".map")
}

/// A UUID's bytes, when `s` is exactly its lower-case hyphenated form (so it reads back equal).
fn canonical_uuid(s: &str) -> Option<[u8; 16]> {
    let u = uuid::Uuid::try_parse(s).ok()?;
    (u.hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()) == s).then(|| *u.as_bytes())
}

impl ChunkReport {
    /// The account of a set: its kind, file, map, what `--delete-after` may do to its files
    /// ([`symship_core::set::SymbolSet::cleanup`]), its ref when known, and its state.
    pub fn new(
        kind: Kind,
        source: &std::path::Path,
        map: Option<&MapLocation>,
        cleanup: Cleanup,
        chunk_id: Option<&str>,
        status: Status,
    ) -> ChunkReport {
        let mut c = ChunkReport {
            kind,
            flags: 0,
            source: source.into(),
            uuid: [0; 16],
            extra: None,
            bytes: None,
            source_digest: None,
            status,
        };
        let mut extra = Extra::default();
        match map {
            None => {}
            Some(MapLocation::Inline) => c.flags |= flags::MAP_INLINE,
            Some(MapLocation::File(m)) => {
                c.flags |= flags::MAP_FILE;
                if !beside(source, m) {
                    extra.map = Some(m.clone());
                }
            }
        }
        if cleanup.strip_reference {
            c.flags |= flags::STRIP;
        }
        match (map, cleanup.delete.as_slice()) {
            (Some(MapLocation::File(m)), [only]) if only == m => c.flags |= flags::DELETES_MAP,
            _ => extra.delete = cleanup.delete,
        }
        if extra.map.is_some() || !extra.delete.is_empty() {
            c.extra = Some(Box::new(extra));
        }
        if let Some(id) = chunk_id {
            c.set_chunk_id(id);
        }
        c
    }

    /// Its separate map (web chunks).
    pub fn map(&self) -> Option<MapLocation> {
        if self.flags & flags::MAP_INLINE != 0 {
            return Some(MapLocation::Inline);
        }
        (self.flags & flags::MAP_FILE != 0).then(|| MapLocation::File(self.map_path()))
    }

    /// The path of its map file (only called when it has one).
    fn map_path(&self) -> PathBuf {
        match self.extra.as_ref().and_then(|e| e.map.clone()) {
            Some(m) => m,
            None => {
                let mut m = self.source.as_os_str().to_owned();
                m.push(".map");
                m.into()
            }
        }
    }

    /// What `--delete-after` may do to its files once it is verified on the server
    /// ([`symship_core::set::SymbolSet::cleanup`]; nothing for most kinds).
    pub fn cleanup(&self) -> Cleanup {
        let mut delete = self.extra.as_ref().map(|e| e.delete.clone()).unwrap_or_default();
        if self.flags & flags::DELETES_MAP != 0 {
            delete.push(self.map_path());
        }
        Cleanup {
            strip_reference: self.flags & flags::STRIP != 0,
            delete,
        }
    }

    /// Whether `--delete-after` has anything to do for it ([`Cleanup::is_none`], without a copy).
    pub fn has_cleanup(&self) -> bool {
        self.flags & (flags::STRIP | flags::DELETES_MAP) != 0
            || self.extra.as_ref().is_some_and(|e| !e.delete.is_empty())
    }

    /// Its ref (chunk id, map id, debug id), once it was read.
    pub fn chunk_id(&self) -> Option<String> {
        if self.flags & flags::REF_UUID != 0 {
            return Some(uuid::Uuid::from_bytes(self.uuid).hyphenated().to_string());
        }
        self.extra.as_ref().and_then(|e| e.reference.clone())
    }

    /// Whether both have the same ref (or neither has one).
    pub fn same_chunk_id(&self, other: &ChunkReport) -> bool {
        match (
            self.flags & flags::REF_UUID != 0,
            other.flags & flags::REF_UUID != 0,
        ) {
            (true, true) => self.uuid == other.uuid,
            (false, false) => {
                self.extra.as_ref().and_then(|e| e.reference.as_ref())
                    == other.extra.as_ref().and_then(|e| e.reference.as_ref())
            }
            _ => false,
        }
    }

    /// Records its ref.
    pub fn set_chunk_id(&mut self, id: &str) {
        match canonical_uuid(id) {
            Some(u) => {
                self.flags |= flags::REF_UUID;
                self.uuid = u;
                if let Some(e) = self.extra.as_mut() {
                    e.reference = None;
                }
            }
            None => {
                self.flags &= !flags::REF_UUID;
                self.extra.get_or_insert_default().reference = Some(id.to_owned());
            }
        }
    }
}

/// Time spent per phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhaseTiming {
    /// Summed over concurrent work (can exceed the wall time).
    pub busy: Duration,
    /// From the first start to the last end of this phase.
    pub span: Duration,
}

/// The whole run.
#[derive(Debug, Clone, Default)]
pub struct UploadReport {
    /// In the order of the input pairs.
    pub chunks: Vec<ChunkReport>,
    /// Compressed bytes sent to object storage (successful transfers only).
    pub bytes_sent: u64,
    /// Requests sent per endpoint (`bulk_check_upload`, `bulk_start_upload`, `transfer`,
    /// `bulk_finish_upload`), retries included.
    pub requests: BTreeMap<&'static str, u64>,
    pub timings: BTreeMap<Phase, PhaseTiming>,
    pub wall: Duration,
    /// Things the user should know (old server, release dropped, ...).
    pub warnings: Vec<String>,
    /// `--skip-on-conflict` was in effect and the check that tells kept content from present
    /// content failed: "already present" then only means the server holds *some* content for the
    /// chunk id, maybe not this build's. (When that check answered, a chunk it found different is
    /// `kept_different` and "already present" means this very content.)
    pub presence_unverified: bool,
    /// Content hashes served by the memo of an earlier run instead of computed.
    pub hashes_from_cache: usize,
    /// Object storage hosts that could not be reached: nothing more was sent there.
    pub unreachable_storage: Vec<crate::UnreachableHost>,
    /// The API refused the key (its first HTTP 401 this run): no API call was sent after it,
    /// and every chunk not done by then failed with `authentication_failed`.
    pub key_refused: Option<KeyRefused>,
    /// What the transfer limit did: fixed or found, the most transfers at once, back-offs.
    pub concurrency: crate::LimitStats,
    /// Refs the server answered `release_id_mismatch` for (bound to another release, which
    /// they keep): sent without the run's release, the rest with it (spec §3 `_binds_release`).
    pub bound_elsewhere: Vec<String>,
}

/// The API's answer refusing the key (HTTP 401), said once for the run rather than per chunk.
#[derive(Debug, Clone)]
pub struct KeyRefused {
    pub answer: symship_api::HttpFailure,
}

impl KeyRefused {
    /// The one error a run prints for it: the call, the server's code and text, that nothing more
    /// was sent, and what to do (the README's hint for the code, `authentication_failed`'s by
    /// default).
    pub fn message(&self) -> String {
        use symship_core::Code;
        let h = &self.answer;
        let hint = (h.code.as_deref())
            .and_then(Code::from_code_str)
            .filter(|c| matches!(c, Code::AuthenticationFailed | Code::NotAuthenticated))
            .unwrap_or(Code::AuthenticationFailed)
            .hint();
        let said = h
            .detail
            .as_deref()
            .or(h.body_excerpt.as_deref())
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        format!(
            "the server refused the API key ({} {}: HTTP 401{}{said}); nothing more was sent, as every \
             call would be refused the same way: {hint}",
            h.method,
            h.url,
            h.code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default()
        )
    }
}

impl crate::UnreachableHost {
    /// The one error a run prints for this host: what failed, why, and what to do.
    pub fn message(&self) -> String {
        format!(
            "object storage host {} could not be reached from this machine ({} attempts; last: {}). \
             The upload URLs come from the PostHog server's object storage settings (self-hosted: the \
             public endpoint of its S3 or MinIO storage), and that host must be reachable from where \
             symship runs; nothing more was sent there",
            self.host, self.attempts, self.last_error
        )
    }
}

impl UploadReport {
    pub fn count(&self, pred: impl Fn(&Status) -> bool) -> usize {
        self.chunks.iter().filter(|c| pred(&c.status)).count()
    }
    pub fn uploaded(&self) -> usize {
        self.count(|s| *s == Status::Uploaded)
    }
    pub fn already_present(&self) -> usize {
        self.count(|s| *s == Status::AlreadyPresent)
    }
    /// `--skip-on-conflict`: chunk ids under which the server kept different content.
    pub fn kept_different(&self) -> usize {
        self.count(|s| *s == Status::KeptDifferent)
    }
    pub fn too_large(&self) -> usize {
        self.count(|s| matches!(s, Status::TooLarge { .. }))
    }
    pub fn duplicates(&self) -> usize {
        self.count(|s| matches!(s, Status::Duplicate { .. }))
    }
    pub fn failed(&self) -> impl Iterator<Item = &ChunkReport> {
        self.chunks
            .iter()
            .filter(|c| matches!(c.status, Status::Failed { .. }))
    }
    pub fn has_failures(&self) -> bool {
        self.failed().next().is_some()
    }
    /// Whether the server verifiably holds this chunk's content.
    pub fn is_verified(&self, c: &ChunkReport) -> bool {
        match c.status {
            Status::Uploaded => true,
            Status::AlreadyPresent => !self.presence_unverified,
            _ => false,
        }
    }
}

/// Progress callbacks, called from the pipeline's tasks (keep them cheap). Every method has a
/// no-op default.
pub trait Reporter: Send + Sync {
    /// The number of chunks the run looks at.
    fn total(&self, _chunks: usize) {}
    /// A chunk was read and hashed.
    fn prepared(&self, _source: &std::path::Path) {}
    /// A check answered: `needed` of `asked` chunks need bytes.
    fn checked(&self, _asked: usize, _needed: usize) {}
    /// A transfer completed (`bytes` sent).
    fn transferred(&self, _chunk_id: &str, _bytes: u64) {}
    /// A chunk reached its final state.
    fn chunk_done(&self, _chunk: &ChunkReport) {}
    /// Something the user should know; the run goes on.
    fn warning(&self, _message: &str) {}
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoReporter;

impl Reporter for NoReporter {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Whatever form a set's map, files and ref take, the report gives them back as the set said.
    #[test]
    fn a_chunk_report_gives_back_what_it_was_made_of() {
        let chunk = Path::new("/b/assets/a.js");
        let beside = MapLocation::File("/b/assets/a.js.map".into());
        let elsewhere = MapLocation::File("/b/maps/a.map".into());
        let uuid = "0192a4b5-6c7d-7e8f-9a0b-1c2d3e4f5a6b";
        let cases: Vec<(Option<MapLocation>, Cleanup, Option<&str>)> = vec![
            (
                Some(beside.clone()),
                Cleanup {
                    strip_reference: true,
                    delete: vec!["/b/assets/a.js.map".into()],
                },
                Some(uuid),
            ),
            (
                Some(elsewhere.clone()),
                Cleanup {
                    strip_reference: true,
                    delete: vec!["/b/maps/a.map".into()],
                },
                Some("0192A4B5-6C7D-7E8F-9A0B-1C2D3E4F5A6B"),
            ),
            (
                Some(MapLocation::Inline),
                Cleanup {
                    strip_reference: true,
                    delete: vec![],
                },
                Some(""),
            ),
            (
                Some(beside.clone()),
                Cleanup {
                    strip_reference: false,
                    delete: vec!["/b/other".into(), "/b/assets/a.js.map".into()],
                },
                Some("0192a4b56c7d7e8f9a0b1c2d3e4f5a6b"),
            ),
            (None, Cleanup::default(), None),
            (
                None,
                Cleanup {
                    strip_reference: false,
                    delete: vec![chunk.into()],
                },
                Some("map id"),
            ),
            (
                Some(MapLocation::File("/b/assets/a.js.mapx".into())),
                Cleanup::default(),
                Some(uuid),
            ),
        ];
        for (map, cleanup, id) in cases {
            let c = ChunkReport::new(
                Kind::SourceAndMap,
                chunk,
                map.as_ref(),
                cleanup.clone(),
                id,
                Status::Uploaded,
            );
            assert_eq!(&*c.source, chunk);
            assert_eq!(c.map(), map);
            assert_eq!(c.cleanup(), cleanup);
            assert_eq!(c.has_cleanup(), !cleanup.is_none());
            assert_eq!(c.chunk_id().as_deref(), id);
            let same = ChunkReport::new(
                Kind::HermesMap,
                Path::new("x"),
                None,
                Cleanup::default(),
                id,
                Status::Uploaded,
            );
            assert!(c.same_chunk_id(&same));
        }
        let mut c = ChunkReport::new(
            Kind::SourceAndMap,
            chunk,
            None,
            Cleanup::default(),
            Some("text"),
            Status::Uploaded,
        );
        let other = ChunkReport::new(
            Kind::SourceAndMap,
            chunk,
            None,
            Cleanup::default(),
            Some(uuid),
            Status::Uploaded,
        );
        assert!(!c.same_chunk_id(&other));
        c.set_chunk_id(uuid);
        assert_eq!(c.chunk_id().as_deref(), Some(uuid));
        assert!(c.same_chunk_id(&other));
    }
}
