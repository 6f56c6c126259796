//! The [`SymbolSet`] trait: what the upload pipeline needs from a kind, and nothing more.
//!
//! The pipeline (`symship-upload`) reads every set once on its memory-gated preparation threads
//! ([`SymbolSet::prepare`]: ref, release, content hash, maybe the container), asks the server which
//! it lacks, and builds a container again only when its transfer comes
//! ([`SymbolSet::write_container`], which must refuse input that changed since it was prepared).
//! Everything else (retries, conflicts, the memo, the report, exit codes) is the pipeline's, the
//! same for every kind. A kind lives in its own crate or module and depends on this crate, never
//! on the pipeline (`design.md`, "Target layout"):
//!
//! | kind | where | ref |
//! |---|---|---|
//! | [`Kind::SourceAndMap`] | `symship_scan::Pair` (web chunks) | chunk id |
//! | [`Kind::HermesMap`] | `symship_scan::hermes` | chunk id |
//! | [`Kind::ProguardMapping`] | `symship-proguard` | `--map-id` |
//! | [`Kind::AppleDsym`], [`Kind::ElfDebugInfo`] | `symship_native::NativeSet` | LC_UUID / debug id of the build id |
//!
//! A minimal kind, one file whose text is the payload:
//!
//! ```
//! use std::path::{Path, PathBuf};
//! use symship_core::{container, kind::Kind, set::*};
//!
//! #[derive(Debug)]
//! struct Text { path: PathBuf, reference: String }
//!
//! impl SymbolSet for Text {
//!     fn kind(&self) -> Kind { Kind::ProguardMapping }
//!     fn path(&self) -> &Path { &self.path }
//!     fn input_len(&self) -> u64 { std::fs::metadata(&self.path).map_or(0, |m| m.len()) }
//!     fn prepare(&self, cx: &Context<'_>) -> Result<Prepared, SetError> {
//!         let bytes = std::fs::read(&self.path).map_err(|e| SetError::unreadable(&self.path, &e))?;
//!         let c = container::build(self.kind(), &[&bytes]).map_err(|e| SetError::container(&self.path, &e))?;
//!         Ok(Prepared::of_container(self.reference.clone(), cx.release_id, &bytes, c))
//!     }
//!     fn write_container(&self, p: &Prepared) -> Result<Vec<u8>, SetError> {
//!         let bytes = std::fs::read(&self.path).map_err(|e| SetError::unreadable(&self.path, &e))?;
//!         p.unchanged(&self.path, digest(&bytes), digest(&bytes))?;
//!         container::build(self.kind(), &[&bytes]).map_err(|e| SetError::container(&self.path, &e))
//!     }
//! }
//! ```

use std::path::{Path, PathBuf};

use sha2::Digest as _;
use uuid::Uuid;

use crate::kind::Kind;
use crate::release_mode::ReleaseMode;
use crate::Code;

/// Where a web chunk's map is (reports and `--delete-after` name it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MapLocation {
    /// A separate file.
    File(PathBuf),
    /// A base64 `data:` URL in the chunk's own `sourceMappingURL` comment.
    Inline,
}

/// What `--delete-after` may do to a set's files on this machine once the server verifiably holds
/// it (spec §5.5). Web chunks clean up (their maps must not be deployed with the site); the other
/// kinds keep everything, the default: posthog-cli 0.19.0 has no `--delete-after` for Hermes maps,
/// ProGuard mappings or native debug files, and a build keeps them for its own crash tools.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Cleanup {
    /// Remove the last `sourceMappingURL` comment from [`SymbolSet::path`], only if that file is
    /// unchanged since it was read for the upload.
    pub strip_reference: bool,
    /// Files to delete, each once every set of the run that names it is verified on the server
    /// and had its own file left as it was read (a map several chunks share goes when all landed).
    pub delete: Vec<PathBuf>,
}

impl Cleanup {
    /// Nothing to do.
    pub fn is_none(&self) -> bool {
        !self.strip_reference && self.delete.is_empty()
    }
}

/// A symbol set found on disk, not read yet. Implementations are cheap to hold (paths and sizes):
/// a run holds all of them at once.
pub trait SymbolSet: Send + Sync + std::fmt::Debug + 'static {
    /// Its kind (the container type it is uploaded as).
    fn kind(&self) -> Kind;
    /// The file reports name it by (web: the chunk; Hermes: the composed map; ProGuard: the mapping).
    fn path(&self) -> &Path;
    /// Its separate map, where the kind has one (web chunks); `None` for one-file kinds.
    fn map(&self) -> Option<&MapLocation> {
        None
    }
    /// What `--delete-after` may do to its files once the server holds it ([`Cleanup`]; nothing,
    /// unless the kind says so).
    fn cleanup(&self) -> Cleanup {
        Cleanup::default()
    }
    /// Its ref when it is known without reading the set (native debug files: the debug id read
    /// when the file was found), so reports name a set that fails or is too large before
    /// [`SymbolSet::prepare`] returns it; `None` (the default) for kinds whose ref is in the
    /// content (chunk ids).
    fn reference(&self) -> Option<String> {
        None
    }
    /// Bytes it reads to prepare (sizes the pipeline's memory gate; an estimate is fine).
    fn input_len(&self) -> u64;
    /// Reads it and computes what the check and start calls send: its ref, release and
    /// `content_hash`, and, when that is how the hash is defined or it is cheap
    /// ([`Context::build_small`]), its container. Runs on a blocking thread.
    fn prepare(&self, cx: &Context<'_>) -> Result<Prepared, SetError>;
    /// What [`SymbolSet::prepare`] would return, when the set can tell without reading anything
    /// (it knows its input's digests and the memo knows them: `symship_scan::set::Injected`);
    /// `None` (the default) to be prepared. Runs on the pipeline's async thread, so it must not
    /// touch the file system: a memo hit then costs no hand-off to a preparation thread.
    fn remembered(&self, _cx: &Context<'_>) -> Option<Result<Prepared, SetError>> {
        None
    }
    /// Builds its container again for the transfer (streamed into [`crate::container::Writer`]),
    /// after checking the input is what `prepared` was computed from ([`Prepared::unchanged`]);
    /// a changed input is [`SetError::changed`]. Runs on a blocking thread.
    fn write_container(&self, prepared: &Prepared) -> Result<Vec<u8>, SetError>;
}

/// Why PostHog would refuse `reference` as a symbol set's `chunk_id`, or `None` when it takes it.
/// The field is a DRF `CharField` (spec §2.3): it refuses a blank value (with `blank`, failing the
/// whole `bulk_check_upload` or `bulk_start_upload` request) and a NUL character, and stores the
/// value trimmed, so a ref with spaces around it would be held under another ref than the one
/// the SDK sends and the start call's `id_map` names. Kinds add their own rules (a web chunk's id
/// is a UUID).
pub fn refused_ref(reference: &str) -> Option<&'static str> {
    if reference.trim().is_empty() {
        Some("is blank")
    } else if reference.trim() != reference {
        Some("has spaces around it")
    } else if reference.contains('\0') {
        Some("holds a NUL character")
    } else {
        None
    }
}

/// What preparing a set is given.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// `--release-mode` (kinds without one ignore it).
    pub mode: ReleaseMode,
    /// The run's release (symbol-set mode: for sets that carry none, and stamped into a web map
    /// whose chunk a minifier rewrote; the release the server binds a set to when it holds it
    /// bound to another one, see [`Prepared::names_release`]; ProGuard: the created release).
    pub release_id: Option<Uuid>,
    /// Build the container now if it is small (it would be read again for its transfer otherwise).
    pub build_small: bool,
    /// Content hashes of earlier runs (see `symship_upload::HashMemo`).
    pub memo: Option<&'a dyn HashCache>,
}

/// A prepared set: what the run keeps of it (a few hundred bytes, plus the container while the
/// memory budget allows).
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The symbol set's ref (chunk id, map id, debug id).
    pub reference: String,
    pub release_id: Option<Uuid>,
    /// Hex SHA-512 sent as `content_hash` (spec §2.7).
    pub content_hash: String,
    /// `content_hash` is the SHA-512 of the container (so a rebuilt container is checked against
    /// it); `false` for web event mode, whose hash covers the content, not the container.
    pub hash_is_container: bool,
    /// The container's size, when it was built.
    pub content_length: Option<u64>,
    /// The container, when it was built and is kept.
    pub container: Option<Vec<u8>>,
    /// SHA-256 of [`SymbolSet::path`] as read (reports; `--delete-after` compares it).
    pub digest: [u8; 32],
    /// The kind's SHA-256 of the rest of its input (web: the map as sent), compared again when
    /// the container is rebuilt.
    pub check: [u8; 32],
    /// The hash came from the memo of an earlier run.
    pub cached: bool,
    /// Bytes read.
    pub input_bytes: u64,
    /// Symbol-set mode: the content names the release it was prepared under (a web map that
    /// carries the run's release as sent, as a chunk whose snippet a minifier rewrote is stamped
    /// with it): prepared under another release, the content and its hash differ, so a set the
    /// server holds bound to another release is prepared again under that one before it is
    /// compared with the stored content.
    pub names_release: bool,
}

/// SHA-256 of `bytes`.
pub fn digest(bytes: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(bytes).into()
}

impl Prepared {
    /// A set whose `content_hash` is its container's SHA-512 (Hermes, ProGuard, native, web in
    /// symbol-set mode); `input` is the file at [`SymbolSet::path`] as read.
    pub fn of_container(
        reference: String,
        release_id: Option<Uuid>,
        input: &[u8],
        container: Vec<u8>,
    ) -> Prepared {
        Prepared::of_digested(
            reference,
            release_id,
            digest(input),
            input.len() as u64,
            container,
        )
    }

    /// Like [`Prepared::of_container`], for an input digested as it streamed past (`digest`:
    /// SHA-256 of its `input_bytes` bytes) rather than held whole.
    pub fn of_digested(
        reference: String,
        release_id: Option<Uuid>,
        digest: [u8; 32],
        input_bytes: u64,
        container: Vec<u8>,
    ) -> Prepared {
        Prepared {
            reference,
            release_id,
            content_hash: crate::container::content_hash(&container),
            hash_is_container: true,
            content_length: Some(container.len() as u64),
            container: Some(container),
            digest,
            check: digest,
            cached: false,
            input_bytes,
            names_release: false,
        }
    }

    /// `Ok` if the input read again has the digests it had when prepared.
    pub fn unchanged(&self, path: &Path, digest: [u8; 32], check: [u8; 32]) -> Result<(), SetError> {
        if digest == self.digest && check == self.check {
            Ok(())
        } else {
            Err(SetError::changed(path))
        }
    }
}

/// Why a set is not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetError {
    /// Not uploadable as it is (no chunk id, unreadable, not a valid mapping); the reason says
    /// what to do. The run goes on.
    Skip { code: Code, reason: String },
    /// The container is over [`crate::container::MAX_SET_BYTES`].
    TooLarge { bytes: u64 },
    /// Could be sent before, cannot now (changed during the run, the container failed): a failure.
    Failed { code: Code, reason: String },
    /// Holds nothing (a map without mappings, sources or names): not sent, but found, so
    /// `--delete-after` removes it. `digest` is [`SymbolSet::path`]'s as read.
    Empty { reason: String, digest: [u8; 32] },
}

impl SetError {
    /// The file could not be read.
    pub fn unreadable(path: &Path, e: &std::io::Error) -> SetError {
        SetError::Skip {
            code: Code::Unreadable,
            reason: format!("{} cannot be read: {e}", path.display()),
        }
    }

    /// Compressing failed.
    pub fn container(path: &Path, e: &std::io::Error) -> SetError {
        SetError::Failed {
            code: Code::ContainerFailed,
            reason: format!("could not compress the symbol set of {}: {e}", path.display()),
        }
    }

    /// The input changed between its preparation and its transfer.
    pub fn changed(path: &Path) -> SetError {
        SetError::Failed {
            code: Code::ChangedDuringUpload,
            reason: format!(
                "{} changed while it was being uploaded; run the upload again once the build is done",
                path.display()
            ),
        }
    }
}

/// What identifies a content-hash computation: the bytes read, the mode and, in symbol-set mode,
/// the release the set is prepared under ([`Context::release_id`]: the run's, or the one the
/// server binds the set to when that is another; web chunks: the chunk's and the map's SHA-256 as
/// read; a chunk whose snippet a minifier rewrote is sent with that release stamped into its map,
/// so another release is another computation, and an entry never serves a hash computed under
/// another release).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub source: [u8; 32],
    pub map: [u8; 32],
    pub symbol_set_mode: bool,
    /// Symbol-set mode: the release the set is prepared under; always `None` in event mode.
    pub release_id: Option<Uuid>,
}

impl CacheKey {
    pub fn new(source: [u8; 32], map: [u8; 32], mode: ReleaseMode, release_id: Option<Uuid>) -> CacheKey {
        let symbol_set_mode = mode == ReleaseMode::SymbolSet;
        CacheKey {
            source,
            map,
            symbol_set_mode,
            release_id: release_id.filter(|_| symbol_set_mode),
        }
    }
}

/// What a content-hash computation gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cached {
    /// The ref.
    pub reference: String,
    /// The set's own release id as it carries it (a web map's `release_id`).
    pub release_id: Option<String>,
    /// Hex SHA-512.
    pub content_hash: String,
    /// The container's size, where it was built.
    pub content_length: Option<u64>,
    /// [`Prepared::check`].
    pub check: [u8; 32],
    /// Whether an earlier run computed it ([`HashCache::get`] says; [`HashCache::put`] ignores
    /// it): what a run computes and meets again (a byte-identical copy) is no hit from the cache.
    pub earlier_run: bool,
}

/// Content hashes remembered across runs, shared by the preparation threads of one run. A kind
/// may ignore it; a miss costs only time.
pub trait HashCache: Send + Sync {
    fn get(&self, key: &CacheKey) -> Option<Cached>;
    fn put(&self, key: CacheKey, value: Cached);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_compares_both_digests() {
        let c = crate::container::build(Kind::ProguardMapping, &[b"a -> b:\n"]).unwrap();
        let p = Prepared::of_container("m".into(), None, b"a -> b:\n", c.clone());
        assert_eq!(p.content_hash, crate::container::content_hash(&c));
        assert_eq!(p.content_length, Some(c.len() as u64));
        let path = Path::new("mapping.txt");
        assert_eq!(p.unchanged(path, digest(b"a -> b:\n"), p.check), Ok(()));
        let err = p.unchanged(path, digest(b"a -> c:\n"), p.check).unwrap_err();
        assert!(
            matches!(
                &err,
                SetError::Failed {
                    code: Code::ChangedDuringUpload,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn refs_the_server_refuses() {
        for bad in ["", " ", "\t", " 0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee", "a\0b"] {
            assert!(refused_ref(bad).is_some(), "{bad:?}");
        }
        // ProGuard map ids may be the SDK's "<package>@<version>+<code>": the server takes them.
        for good in [
            "0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee",
            "com.example@1.0+3",
            "not-a-uuid",
        ] {
            assert_eq!(refused_ref(good), None, "{good:?}");
        }
    }
}
