//! Reading a pair, hashing it and (when its turn comes) building its container. Runs on
//! blocking threads; the pipeline bounds how many run at once and how much memory they hold.

use bytes::Bytes;
use sha2::{Digest, Sha256};
use symship_scan::hash::{payload, payload_of, read_pair, sha512_hex, Payload};
use symship_scan::{Pair, ReleaseMode, SkipReason};
use uuid::Uuid;

use crate::container::{self, MAX_SET_BYTES};
use crate::memo::{self, HashMemo};

/// Pairs up to this size get their container built while they are read anyway.
const SMALL_PAIR: usize = 256 * 1024;

/// What the check and start calls need about a chunk, small enough to keep for a whole run.
#[derive(Debug, Clone)]
pub(crate) struct Light {
    pub chunk_id: String,
    pub release_id: Option<Uuid>,
    pub content_hash: String,
    /// Known when the container was built (symbol-set mode builds it to hash it).
    pub content_length: Option<u64>,
    /// The container, when it was built and memory allowed keeping it.
    pub container: Option<Bytes>,
    /// SHA-256 of the chunk as read.
    pub digest: [u8; 32],
    /// SHA-256 of the map as sent (with this chunk's `chunk_id`).
    pub map_digest: [u8; 32],
    /// The hash came from the memo of an earlier run.
    pub cached: bool,
    /// Bytes read: the chunk and its map (decoded, for an inline map).
    pub input_bytes: u64,
}

/// Why a chunk cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PrepError {
    /// Not uploadable as it is (no chunk id, unreadable, bad map).
    Skip { code: String, reason: String },
    /// Over 100 MiB compressed.
    TooLarge { bytes: u64 },
    /// Could be sent before, cannot now (changed during the run, container failed).
    Failed { code: String, reason: String },
    /// The map holds nothing (no mappings, sources or names; an index map without sections): not
    /// sent, but paired, so `--delete-after` removes it. `digest` is the chunk's as read.
    Empty { reason: String, digest: [u8; 32] },
}

fn skip(pair: &Pair, e: SkipReason) -> PrepError {
    PrepError::Skip {
        code: e.code().to_string(),
        reason: format!("{} {e}", pair.source.display()),
    }
}

fn read(pair: &Pair, mode: ReleaseMode) -> Result<(Payload, [u8; 32], [u8; 32]), PrepError> {
    let p = payload(pair, mode).map_err(|e| skip(pair, e))?;
    let digest: [u8; 32] = Sha256::digest(p.source.as_bytes()).into();
    let map_digest: [u8; 32] = Sha256::digest(&p.map).into();
    Ok((p, digest, map_digest))
}

fn build(pair: &Pair, p: &Payload) -> Result<Vec<u8>, PrepError> {
    let c = container::source_and_map(p.source.as_bytes(), &p.map).map_err(|e| PrepError::Failed {
        code: "container_failed".into(),
        reason: format!(
            "could not compress the symbol set of {}: {e}",
            pair.source.display()
        ),
    })?;
    if c.len() as u64 > MAX_SET_BYTES {
        return Err(PrepError::TooLarge {
            bytes: c.len() as u64,
        });
    }
    Ok(c)
}

fn release(
    pair: &Pair,
    map_release: Option<&str>,
    mode: ReleaseMode,
    fallback: Option<Uuid>,
) -> Result<Option<Uuid>, PrepError> {
    if mode == ReleaseMode::Event {
        // posthog-cli strips the release in event mode: it travels with the chunk's snippet.
        return Ok(None);
    }
    match map_release {
        None => Ok(fallback),
        Some(r) => Uuid::parse_str(r).map(Some).map_err(|_| PrepError::Skip {
            code: "invalid_release_id".into(),
            reason: format!(
                "the map of {} has release_id {r:?}, which is not a UUID; inject again (`symship sourcemap inject --release-mode symbol-set`)",
                pair.source.display()
            ),
        }),
    }
}

/// Reads and hashes a pair. In symbol-set mode the hash covers the container, so it is built
/// here; in event mode it is not (a re-run of an unchanged build never compresses anything).
/// With a memo, bytes met before are only read and digested.
pub(crate) fn light(
    pair: &Pair,
    mode: ReleaseMode,
    fallback_release: Option<Uuid>,
    build_small: bool,
    memo: Option<&HashMemo>,
) -> Result<Light, PrepError> {
    let (source, map_bytes) = read_pair(pair).map_err(|e| skip(pair, e))?;
    let input_bytes = (source.len() + map_bytes.len()) as u64;
    let digest: [u8; 32] = Sha256::digest(source.as_bytes()).into();
    let raw_map_digest: Option<[u8; 32]> = memo.map(|_| Sha256::digest(&map_bytes).into());
    let key = raw_map_digest.map(|m| memo::Key::new(digest, m, mode));
    if let (Some(memo), Some(key)) = (memo, &key) {
        if let Some(v) = memo.get(key) {
            return Ok(Light {
                release_id: release(pair, v.release_id.as_deref(), mode, fallback_release)?,
                chunk_id: v.chunk_id,
                content_hash: v.content_hash,
                content_length: v.content_length,
                container: None,
                digest,
                map_digest: v.map_digest,
                cached: true,
                input_bytes,
            });
        }
    }
    let p = payload_of(pair, source, map_bytes, mode).map_err(|e| match e {
        SkipReason::EmptyMap { .. } => PrepError::Empty {
            reason: format!("{} {e}", pair.source.display()),
            digest,
        },
        e => skip(pair, e),
    })?;
    let map_digest: [u8; 32] = match raw_map_digest {
        Some(d) if p.map_as_read => d,
        _ => Sha256::digest(&p.map).into(),
    };
    let release_id = release(pair, p.release_id.as_deref(), mode, fallback_release)?;
    let light = match mode {
        ReleaseMode::Event => {
            let content_hash = p.content_hash.clone().ok_or_else(|| PrepError::Failed {
                code: "no_content_hash".into(),
                reason: format!("no event-mode content hash for {}", pair.source.display()),
            })?;
            // A small pair is compressed now (cheap) rather than read again for its transfer;
            // a large one only when it is known to be needed.
            let container = if build_small && p.source.len() + p.map.len() <= SMALL_PAIR {
                Some(Bytes::from(build(pair, &p)?))
            } else {
                None
            };
            Light {
                chunk_id: p.chunk_id.clone(),
                release_id,
                content_hash,
                content_length: container.as_ref().map(|c| c.len() as u64),
                container,
                digest,
                map_digest,
                cached: false,
                input_bytes,
            }
        }
        ReleaseMode::SymbolSet => {
            let c = build(pair, &p)?;
            Light {
                chunk_id: p.chunk_id.clone(),
                release_id,
                content_hash: sha512_hex(&[&c]),
                content_length: Some(c.len() as u64),
                container: Some(Bytes::from(c)),
                digest,
                map_digest,
                cached: false,
                input_bytes,
            }
        }
    };
    if let (Some(memo), Some(key)) = (memo, key) {
        memo.put(
            key,
            memo::Value {
                chunk_id: light.chunk_id.clone(),
                release_id: p.release_id.clone(),
                content_hash: light.content_hash.clone(),
                content_length: light.content_length,
                map_digest: light.map_digest,
            },
        );
    }
    Ok(light)
}

/// Builds the container of a chunk checked earlier, and makes sure it is still what was hashed
/// and checked (the file may have changed in between): the chunk and the map must have the
/// digests they had then. The event-mode hash is not computed again (equal bytes hash equal).
pub(crate) fn heavy(pair: &Pair, mode: ReleaseMode, expected: &Light) -> Result<Bytes, PrepError> {
    // Symbol-set mode's payload skips the event hash; the bytes are the same in both modes.
    let (p, digest, map_digest) = read(pair, ReleaseMode::SymbolSet)?;
    let changed = || PrepError::Failed {
        code: "changed_during_upload".into(),
        reason: format!(
            "{} changed while it was being uploaded; run the upload again once the build is done",
            pair.source.display()
        ),
    };
    if digest != expected.digest || map_digest != expected.map_digest || p.chunk_id != expected.chunk_id {
        return Err(changed());
    }
    let c = build(pair, &p)?;
    drop(p);
    if mode == ReleaseMode::SymbolSet && sha512_hex(&[&c]) != expected.content_hash {
        return Err(changed());
    }
    if let Some(len) = expected.content_length {
        if len != c.len() as u64 {
            return Err(changed());
        }
    }
    Ok(Bytes::from(c))
}
