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
    /// The server already holds identical content (check or start said so).
    AlreadyPresent,
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
            Status::Uploaded => "uploaded",
            Status::AlreadyPresent => Code::AlreadyPresent.as_str(),
            Status::TooLarge { .. } => Code::TooLarge.as_str(),
            Status::Duplicate { .. } => Code::Duplicate.as_str(),
            Status::Skipped { code, .. } | Status::Failed { code, .. } => code,
            Status::WouldUpload => "would_upload",
        }
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
#[derive(Debug, Clone)]
pub struct ChunkReport {
    /// Its kind (the container type).
    pub kind: Kind,
    /// The file it was found as ([`symship_core::set::SymbolSet::path`]).
    pub source: PathBuf,
    /// Its separate map (web chunks).
    pub map: Option<MapLocation>,
    /// What `--delete-after` may do to its files once it is verified on the server
    /// ([`symship_core::set::SymbolSet::cleanup`]; nothing for most kinds).
    pub cleanup: Cleanup,
    /// Its ref (chunk id, map id, debug id), once it was read.
    pub chunk_id: Option<String>,
    /// Container bytes (when it was built).
    pub bytes: Option<u64>,
    /// SHA-256 of the chunk's file as read for the upload (for `--delete-after`).
    pub source_digest: Option<[u8; 32]>,
    pub status: Status,
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
    /// `--skip-on-conflict` was in effect: "already present" then only means the server holds
    /// *some* content for the chunk id, maybe not this build's.
    pub presence_unverified: bool,
    /// Content hashes served by the memo of an earlier run instead of computed.
    pub hashes_from_cache: usize,
    /// Object storage hosts that could not be reached: nothing more was sent there.
    pub unreachable_storage: Vec<crate::UnreachableHost>,
    /// What the transfer limit did: fixed or found, the most transfers at once, back-offs.
    pub concurrency: crate::LimitStats,
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
