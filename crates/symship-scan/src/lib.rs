//! Finds the JavaScript chunks of a build (web chunks, or React Native's Metro bundles before
//! hermesc) and their sourcemaps, gives each chunk a chunk id, injects the snippet posthog-js
//! reads, keeps every map true to its chunk, and computes what an upload sends. No network.
//!
//! Compatibility: the snippet, the `//# chunkId=` comment and the chunk ids are byte-for-byte what
//! posthog-cli 0.19.0 writes (spec §5), so either tool understands the other's output. Where
//! posthog-cli rewrites a whole map, symship edits it in place: only the first segment of the
//! shifted line and the `chunk_id` member change.

use std::path::PathBuf;
pub use symship_core::Code;

pub mod chunk;
pub mod hash;
pub mod hermes;
pub mod inject;
pub mod json;
pub mod ledger;
pub mod lex;
pub mod map;
pub mod pair;
pub mod resolve;
pub mod select;
pub mod set;
pub mod shared_map;
pub mod snippet;
mod vlq;

pub use inject::{
    inject, inject_each, Handover, InjectOptions, OnDisk, Outcome, PairResult, ReleaseMode, Reporter,
};
pub use pair::{pair_all, MapLocation, Pair};
pub use select::{select, select_matching, Candidate, Matcher, Selection};

/// A fatal problem with what the user asked for.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("cannot read {path}: {source}. Check that the build output exists (run the build first) and the path is right")]
    Root { path: PathBuf, source: std::io::Error },
    #[error("{flag} pattern {pattern:?} is not a valid glob: {reason}")]
    BadGlob {
        flag: String,
        pattern: String,
        reason: String,
    },
}

/// A file that was looked at and left alone, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: SkipReason,
}

/// Why a file was skipped.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SkipReason {
    #[error("no sourcemap found{}", match .reference { Some(r) => format!(" (its sourceMappingURL {r:?} names no existing file, nor does <file>.map)"), None => " (no sourceMappingURL comment and no <file>.map next to it)".to_string() })]
    NoMap { reference: Option<String> },
    /// A chunk with a chunk id (`//# chunkId=`), no `sourceMappingURL` comment and no map beside
    /// it: a `--delete-after` run uploaded it and removed its map (not a problem to warn about).
    #[error("carries the chunk id {chunk_id} and has no sourceMappingURL comment and no map: a --delete-after run uploaded it and removed its map; nothing to do")]
    MapRemoved { chunk_id: String },
    #[error("is not UTF-8 text; JavaScript chunks must be UTF-8")]
    NotUtf8,
    /// Hermes bytecode where a Metro bundle was expected (React Native's Android build moves
    /// hermesc's output over the bundle): its code is `not_utf8`, its words say what to do.
    #[error("is Hermes bytecode (hermesc's output), not JavaScript: `symship hermes inject` runs on the Metro bundle before hermesc compiles it (posthog-react-native's Metro serializer does it during bundling); the composed map after hermesc then goes through `symship hermes clone` and `hermes upload`")]
    HermesBytecode,
    #[error("cannot be read: {0}")]
    Unreadable(String),
    #[error("is part of a symbolic-link loop, so it leads to no file; the loop was not followed: remove the loop, or leave the link out with --exclude")]
    SymlinkLoop,
    /// A symbolic link that starts a chain of more links than the system follows (no loop, or a
    /// loop longer than that): `ELOOP` too, so its code is `symlink_loop`.
    #[error("starts a chain of more than {} symbolic links, more than the system follows, so it leads to no file; the chain was not followed: point the link at the file itself (or shorten the chain), or leave it out with --exclude", select::MAX_LINKS)]
    SymlinkChainTooLong,
    /// A symbolic link whose target does not exist.
    #[error("is a symbolic link to {}, which does not exist, so nothing was read: point the link at the file, remove it, or leave it out with --exclude", .target.display())]
    BrokenLink { target: PathBuf },
    #[error("references the sourcemap {map}, which is outside the scanned directory {root}; scan a directory that contains both, or name the file itself (-d FILE or --stdin): it is then its own root for the map it references")]
    MapOutsideRoot { map: PathBuf, root: PathBuf },
    #[error("would pair with {map} by name, but so would {claimants:?}; add a sourceMappingURL comment to say which")]
    AmbiguousMap { map: PathBuf, claimants: Vec<PathBuf> },
    #[error("has a sourcemap {map} that {error}")]
    BadMap { map: String, error: String },
    #[error(
        "has an empty sourcemap {map} (no mappings, sources or names); check the bundler's sourcemap setting"
    )]
    EmptyMap { map: String },
    /// A write that failed: a failure of the run (exit 1), not a skip.
    #[error("could not be written: {0}")]
    Write(String),
    #[error("is not written: {0}")]
    LinkOutsideRoot(String),
    #[error("has a chunk-id snippet that a minifier rewrote after injection, so symship cannot replace it in place (the chunk keeps the chunk id and release it registers); set the release in the bundler plugin, or inject after minifying")]
    SnippetRewritten,
    /// The chunk registers (or its `//# chunkId=` comment names) an id that is not a UUID.
    #[error("registers the chunk id {id:?}, which is not a UUID (posthog-cli and symship only write UUIDs, and PostHog refuses a blank one for the whole request); it is left alone, not given a second registration: rebuild it, or remove the snippet at its top and its //# chunkId= line, then inject again")]
    BadChunkId { id: String },
    /// Different chunks reference one map file, and the map describes another of them (or none
    /// can be told): see [`shared_map`].
    #[error("references the sourcemap {map}, which {}; it is not injected or uploaded, so that no chunk id is uploaded with another file's map: give each generated file its own sourcemap in the bundler, or leave this one out with --exclude", match .owner { Some(o) => format!("describes {} (its \"file\" field or its name), not this file", o.display()), None => "other different files reference too, and neither its \"file\" field nor its name says which one it describes".to_string() })]
    MapOfAnotherFile { map: PathBuf, owner: Option<PathBuf> },
    /// `sourcemap upload` found a chunk that carries no chunk id (no snippet, no `//# chunkId=`,
    /// no debug id): it was never injected.
    #[error("has no chunk id because it was not injected: run `symship sourcemap inject` on it before uploading, or `symship sourcemap process` to inject and upload in one run")]
    NotInjected,
}

/// The binary reports the code with an error that stops a run ([`symship_core::code::Coded`]).
impl symship_core::code::HasCode for SkipReason {
    fn code(&self) -> Code {
        SkipReason::code(self)
    }
}

impl SkipReason {
    /// The reason's code in the registry ([`Code`]; its string is the stable one printed).
    pub fn code(&self) -> Code {
        match self {
            SkipReason::NoMap { .. } => Code::NoMap,
            SkipReason::MapRemoved { .. } => Code::MapRemoved,
            SkipReason::NotUtf8 | SkipReason::HermesBytecode => Code::NotUtf8,
            SkipReason::Unreadable(_) => Code::Unreadable,
            SkipReason::SymlinkLoop | SkipReason::SymlinkChainTooLong => Code::SymlinkLoop,
            SkipReason::BrokenLink { .. } => Code::BrokenLink,
            SkipReason::MapOutsideRoot { .. } => Code::MapOutsideRoot,
            SkipReason::AmbiguousMap { .. } => Code::AmbiguousMap,
            SkipReason::BadMap { .. } => Code::BadMap,
            SkipReason::EmptyMap { .. } => Code::EmptyMap,
            SkipReason::Write(_) => Code::WriteFailed,
            SkipReason::LinkOutsideRoot(_) => Code::LinkOutsideRoot,
            SkipReason::SnippetRewritten => Code::SnippetRewritten,
            SkipReason::BadChunkId { .. } => Code::BadChunkId,
            SkipReason::MapOfAnotherFile { .. } => Code::MapOfAnotherFile,
            SkipReason::NotInjected => Code::NoChunkId,
        }
    }

    /// Whether the chunk was finished by an earlier `--delete-after` run ([`SkipReason::MapRemoved`]):
    /// nothing to do, nothing to warn about.
    pub fn is_settled(&self) -> bool {
        matches!(self, SkipReason::MapRemoved { .. })
    }

    /// Whether this is a failure of the run (the file should have been written and was not)
    /// rather than a file left alone on purpose.
    pub fn is_failure(&self) -> bool {
        matches!(self, SkipReason::Write(_))
    }
}

/// Whether `id` can be a web chunk's id: a UUID, as every id posthog-cli and symship write
/// (UUIDv5 of the chunk, UUIDv7, or an ECMA-426 debug id; spec §5.3).
pub fn is_chunk_id(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok()
}

/// Reads a chunk as UTF-8 text.
pub fn read_source(path: &std::path::Path) -> Result<String, SkipReason> {
    read_source_sized(path, None)
}

/// [`read_source`] of a chunk whose length the scan found (`expected`, bytes: a hint for the
/// buffer, [`symship_fs::read_sized`]).
pub fn read_source_sized(path: &std::path::Path, expected: Option<u64>) -> Result<String, SkipReason> {
    let bytes = symship_fs::read_sized(path, expected).map_err(|e| SkipReason::Unreadable(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| {
        if e.as_bytes().starts_with(&HERMES_BYTECODE_MAGIC) {
            SkipReason::HermesBytecode
        } else {
            SkipReason::NotUtf8
        }
    })
}

/// The first 8 bytes of a Hermes bytecode file (hermesc's `-emit-binary` output,
/// `kinds-and-explain.md` §1.7).
const HERMES_BYTECODE_MAGIC: [u8; 8] = [0xc6, 0x1f, 0xbc, 0x03, 0xc1, 0x03, 0x19, 0x1f];

#[cfg(test)]
mod bytecode_tests {
    #[test]
    fn hermes_bytecode_is_named() {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/hermes/plain/index.android.bundle.hbc");
        assert!(matches!(
            super::read_source(&p),
            Err(super::SkipReason::HermesBytecode)
        ));
    }
}
