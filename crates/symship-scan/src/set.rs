//! A web chunk and its map as a [`SymbolSet`] of kind SourceAndMap: reading a pair, hashing it
//! and (when its turn comes) building its container (spec §2.7, §6). Runs on the upload
//! pipeline's blocking threads.

use std::path::Path;

use symship_core::container::{self, MAX_SET_BYTES};
use symship_core::kind::Kind;
use symship_core::set::{
    digest, CacheKey, Cached, Cleanup, Context, MapLocation, Prepared, SetError, SymbolSet,
};
use symship_core::Code;
use uuid::Uuid;

use crate::hash::{container_payload_of, payload_of, read_pair, sha512_hex, Payload};
use crate::{OnDisk, Pair, ReleaseMode, SkipReason};

/// Pairs up to this size get their container built while they are read anyway.
const SMALL_PAIR: usize = 256 * 1024;

fn skip(pair: &Pair, e: SkipReason) -> SetError {
    SetError::Skip {
        code: e.code(),
        reason: format!("{} {e}", pair.source.display()),
    }
}

fn build(pair: &Pair, p: &Payload) -> Result<Vec<u8>, SetError> {
    let c = container::source_and_map(p.source.as_bytes(), &p.map)
        .map_err(|e| SetError::container(&pair.source, &e))?;
    if c.len() as u64 > MAX_SET_BYTES {
        return Err(SetError::TooLarge {
            bytes: c.len() as u64,
        });
    }
    Ok(c)
}

/// The release a pair is sent with: none in event mode; in symbol-set mode the run's (the
/// flags'), as posthog-cli 0.19.0 sends it (`set_release_id` over every pair), else the one its
/// map carries. The map is uploaded as it is on disk, with its own `release_id` (but for a chunk
/// whose snippet a minifier rewrote, sent as inject leaves it: `hash::payload_of`).
fn release(
    pair: &Pair,
    map_release: Option<&str>,
    mode: ReleaseMode,
    run: Option<Uuid>,
) -> Result<Option<Uuid>, SetError> {
    if mode == ReleaseMode::Event {
        // posthog-cli strips the release in event mode: it travels with the chunk's snippet.
        return Ok(None);
    }
    match map_release {
        _ if run.is_some() => Ok(run),
        None => Ok(None),
        Some(r) => Uuid::parse_str(r).map(Some).map_err(|_| SetError::Skip {
            code: Code::InvalidReleaseId,
            reason: format!(
                "the map of {} has release_id {r:?}, which is not a UUID; inject again (`symship sourcemap inject --release-mode symbol-set`)",
                pair.source.display()
            ),
        }),
    }
}

/// Whether a map that carries `map_release` as sent names the run's release `run` (symbol-set
/// mode): then its content is the one prepared under that release ([`Prepared::names_release`];
/// a chunk whose snippet a minifier rewrote is stamped with the release it is prepared under).
fn names_release(map_release: Option<&str>, mode: ReleaseMode, run: Option<Uuid>) -> bool {
    mode == ReleaseMode::SymbolSet
        && run.is_some_and(|r| map_release.and_then(|m| Uuid::parse_str(m).ok()) == Some(r))
}

/// What an earlier run computed for a pair whose chunk and map have these digests
/// ([`CacheKey`]), when the memo knows them; `input_bytes`: the two files' lengths.
fn remembered(
    pair: &Pair,
    cx: &Context<'_>,
    key: CacheKey,
    input_bytes: u64,
) -> Option<Result<Prepared, SetError>> {
    let v = cx.memo?.get(&key)?;
    let mode = cx.mode;
    Some(
        release(pair, v.release_id.as_deref(), mode, cx.release_id).map(|release_id| Prepared {
            release_id,
            reference: v.reference,
            content_hash: v.content_hash,
            hash_is_container: mode == ReleaseMode::SymbolSet,
            content_length: v.content_length,
            container: None,
            digest: key.source,
            check: v.check,
            cached: v.earlier_run,
            input_bytes,
            names_release: names_release(v.release_id.as_deref(), mode, cx.release_id),
        }),
    )
}

/// A pair `sourcemap process` hands from inject to its upload, with what inject left in its files
/// ([`OnDisk`]). Preparing it looks the content hash up in the memo by those digests first: an
/// unchanged build's re-run then reads each chunk and map twice (scan, inject) instead of three
/// times. When the memo does not know them it is prepared as the [`Pair`] is (read, hashed); its
/// container is always built from the files, checked against what was prepared
/// ([`SymbolSet::write_container`]).
///
/// The memo's entry is taken only when it names the chunk id inject found in the chunk: a
/// damaged entry (another chunk's id) is passed over and the pair prepared from its files.
#[derive(Debug)]
pub struct Injected {
    pub pair: Pair,
    pub on_disk: OnDisk,
    /// The chunk id the chunk registers (inject's outcome).
    pub chunk_id: String,
}

impl Injected {
    /// What the memo holds under the pair's on-disk digests.
    fn lookup(&self, cx: &Context<'_>) -> Option<Result<Prepared, SetError>> {
        let d = &self.on_disk;
        let key = CacheKey::new(d.source, d.map, cx.mode, cx.release_id);
        remembered(&self.pair, cx, key, d.source_len + d.map_len)
    }

    /// Whether a memo entry names the chunk id the chunk registers (an error names nothing).
    fn names_the_chunk(&self, found: &Result<Prepared, SetError>) -> bool {
        found.as_ref().map_or(true, |p| p.reference == self.chunk_id)
    }
}

impl SymbolSet for Injected {
    fn kind(&self) -> Kind {
        self.pair.kind()
    }

    fn path(&self) -> &Path {
        self.pair.path()
    }

    fn map(&self) -> Option<&MapLocation> {
        SymbolSet::map(&self.pair)
    }

    fn cleanup(&self) -> Cleanup {
        self.pair.cleanup()
    }

    fn input_len(&self) -> u64 {
        self.on_disk.source_len + self.on_disk.map_len
    }

    fn prepare(&self, cx: &Context<'_>) -> Result<Prepared, SetError> {
        match self.lookup(cx) {
            Some(found) if self.names_the_chunk(&found) => found,
            // the memo's entry names another chunk: not trusted, here or by the pair's prepare
            Some(_) => self.pair.prepare(&Context { memo: None, ..*cx }),
            None => self.pair.prepare(cx),
        }
    }

    fn remembered(&self, cx: &Context<'_>) -> Option<Result<Prepared, SetError>> {
        self.lookup(cx).filter(|found| self.names_the_chunk(found))
    }

    fn write_container(&self, expected: &Prepared) -> Result<Vec<u8>, SetError> {
        self.pair.write_container(expected)
    }
}

impl SymbolSet for Pair {
    fn kind(&self) -> Kind {
        Kind::SourceAndMap
    }

    fn path(&self) -> &Path {
        &self.source
    }

    fn map(&self) -> Option<&MapLocation> {
        Some(&self.map)
    }

    /// The chunk's `sourceMappingURL` comment goes (an inline map with it), and its map file (the
    /// symbolic link, when the chunk reaches its map through one: [`Pair::map_link`]).
    fn cleanup(&self) -> Cleanup {
        Cleanup {
            strip_reference: true,
            // a map reached through a symbolic link: the link goes, never its target
            delete: match &self.map {
                MapLocation::File(m) => vec![self.map_link.clone().unwrap_or_else(|| m.clone())],
                MapLocation::Inline => Vec::new(),
            },
        }
    }

    fn input_len(&self) -> u64 {
        Pair::input_len(self)
    }

    /// Reads and hashes a pair. In symbol-set mode the hash covers the container, so it is
    /// built here; in event mode it is not (a re-run of an unchanged build never compresses
    /// anything). With a memo, bytes met before are only read and digested.
    fn prepare(&self, cx: &Context<'_>) -> Result<Prepared, SetError> {
        let pair = self;
        let mode = cx.mode;
        let (source, map_bytes) = read_pair(pair).map_err(|e| skip(pair, e))?;
        let input_bytes = (source.len() + map_bytes.len()) as u64;
        let source_digest = digest(source.as_bytes());
        let raw_map_digest: Option<[u8; 32]> = cx.memo.map(|_| digest(&map_bytes));
        let key = raw_map_digest.map(|m| CacheKey::new(source_digest, m, mode, cx.release_id));
        if let Some(found) = key.and_then(|key| remembered(pair, cx, key, input_bytes)) {
            return found;
        }
        // a symbol-set chunk whose snippet a minifier rewrote is sent as inject with the run's
        // release leaves it (`hash::payload_of`)
        let run_release = cx.release_id.map(|r| r.to_string());
        let p = payload_of(pair, source, map_bytes, mode, run_release.as_deref()).map_err(|e| match e {
            SkipReason::EmptyMap { .. } => SetError::Empty {
                reason: format!("{} {e}", pair.source.display()),
                digest: source_digest,
            },
            e => skip(pair, e),
        })?;
        let map_digest: [u8; 32] = match raw_map_digest {
            Some(d) if p.map_as_read => d,
            _ => digest(&p.map),
        };
        let release_id = release(pair, p.release_id.as_deref(), mode, cx.release_id)?;
        let prepared = match mode {
            ReleaseMode::Event => {
                let content_hash = p.content_hash.clone().ok_or_else(|| SetError::Failed {
                    code: Code::NoContentHash,
                    reason: format!("no event-mode content hash for {}", pair.source.display()),
                })?;
                // A small pair is compressed now (cheap) rather than read again for its
                // transfer; a large one only when it is known to be needed.
                let container = if cx.build_small && p.source.len() + p.map.len() <= SMALL_PAIR {
                    Some(build(pair, &p)?)
                } else {
                    None
                };
                Prepared {
                    reference: p.chunk_id.clone(),
                    release_id,
                    content_hash,
                    hash_is_container: false,
                    content_length: container.as_ref().map(|c| c.len() as u64),
                    container,
                    digest: source_digest,
                    check: map_digest,
                    cached: false,
                    input_bytes,
                    names_release: false,
                }
            }
            ReleaseMode::SymbolSet => {
                let c = build(pair, &p)?;
                Prepared {
                    reference: p.chunk_id.clone(),
                    release_id,
                    content_hash: sha512_hex(&[&c]),
                    hash_is_container: true,
                    content_length: Some(c.len() as u64),
                    container: Some(c),
                    digest: source_digest,
                    check: map_digest,
                    cached: false,
                    input_bytes,
                    names_release: names_release(p.release_id.as_deref(), mode, cx.release_id),
                }
            }
        };
        if let (Some(memo), Some(key)) = (cx.memo, key) {
            memo.put(
                key,
                Cached {
                    reference: prepared.reference.clone(),
                    release_id: p.release_id.clone(),
                    content_hash: prepared.content_hash.clone(),
                    content_length: prepared.content_length,
                    check: prepared.check,
                    earlier_run: false,
                },
            );
        }
        Ok(prepared)
    }

    /// Builds the container of a chunk checked earlier, and makes sure it is still what was
    /// hashed and checked (the file may have changed in between): the chunk as read and the map
    /// as sent must have the digests they had then. The event-mode hash is not computed again
    /// (equal bytes hash equal). A symbol-set chunk whose snippet a minifier rewrote is put in
    /// inject's form with the release it was prepared with, as [`SymbolSet::prepare`] did.
    fn write_container(&self, expected: &Prepared) -> Result<Vec<u8>, SetError> {
        let (source, map_bytes) = read_pair(self).map_err(|e| skip(self, e))?;
        let source_digest = digest(source.as_bytes());
        let mode = if expected.hash_is_container {
            ReleaseMode::SymbolSet
        } else {
            ReleaseMode::Event
        };
        let release = expected.release_id.map(|r| r.to_string());
        let p = container_payload_of(self, source, map_bytes, mode, release.as_deref())
            .map_err(|e| skip(self, e))?;
        expected.unchanged(&self.source, source_digest, digest(&p.map))?;
        if p.chunk_id != expected.reference {
            return Err(SetError::changed(&self.source));
        }
        build(self, &p)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use symship_core::set::HashCache;

    use super::*;

    #[derive(Default)]
    struct Memo(Mutex<HashMap<CacheKey, Cached>>);

    impl HashCache for Memo {
        fn get(&self, key: &CacheKey) -> Option<Cached> {
            self.0.lock().unwrap().get(key).cloned()
        }
        fn put(&self, key: CacheKey, value: Cached) {
            self.0.lock().unwrap().insert(key, value);
        }
    }

    /// An injected pair the memo knows is prepared from the memo alone (its files are gone
    /// here, so a read would fail); one it does not know is read and hashed as a [`Pair`] is.
    #[test]
    #[allow(
        clippy::disallowed_methods,
        reason = "the test writes and removes its own fixture"
    )]
    fn an_injected_pair_the_memo_knows_is_not_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let chunk = dir.path().join("a.js");
        let map = dir.path().join("a.js.map");
        std::fs::write(
            &chunk,
            "a();\n//# chunkId=0191e2a8-3c6f-7cc2-8b1e-6f2a4d5c9e01\n//# sourceMappingURL=a.js.map\n",
        )
        .unwrap();
        std::fs::write(&map, r#"{"version":3,"sources":["s.ts"],"names":[],"mappings":"AAAA","chunk_id":"0191e2a8-3c6f-7cc2-8b1e-6f2a4d5c9e01"}"#).unwrap();
        let pair = Pair::new(
            chunk.clone(),
            dir.path().to_path_buf(),
            MapLocation::File(map.clone()),
        );
        let memo = Memo::default();
        let cx = Context {
            mode: ReleaseMode::Event,
            release_id: None,
            build_small: false,
            memo: Some(&memo),
        };
        let (source, map_bytes) = crate::hash::read_pair(&pair).unwrap();
        let on_disk = OnDisk {
            source: digest(source.as_bytes()),
            source_len: source.len() as u64,
            map: digest(&map_bytes),
            map_len: map_bytes.len() as u64,
        };
        let injected = Injected {
            pair,
            on_disk,
            chunk_id: "0191e2a8-3c6f-7cc2-8b1e-6f2a4d5c9e01".into(),
        };
        assert!(injected.remembered(&cx).is_none());
        // not known yet: read, hashed and remembered
        let first = injected.prepare(&cx).unwrap();
        assert!(!first.cached);
        assert_eq!(memo.0.lock().unwrap().len(), 1);
        // this run's entry: found, but no earlier run's hash
        assert!(!injected.prepare(&cx).unwrap().cached);
        // a later run: the memo read back from its file says the entry is an earlier run's
        for v in memo.0.lock().unwrap().values_mut() {
            v.earlier_run = true;
        }
        std::fs::remove_file(&chunk).unwrap();
        std::fs::remove_file(&map).unwrap();
        let known = injected.remembered(&cx).expect("the memo knows it").unwrap();
        assert_eq!(known.content_hash, first.content_hash);
        let again = injected.prepare(&cx).unwrap();
        assert!(again.cached);
        assert_eq!(again.content_hash, first.content_hash);
        assert_eq!(again.reference, "0191e2a8-3c6f-7cc2-8b1e-6f2a4d5c9e01");
        assert_eq!(again.digest, first.digest);
        assert_eq!(again.input_bytes, first.input_bytes);
        // another pair's digests miss the memo: read (and here, gone, refused)
        let other = Injected {
            pair: injected.pair.clone(),
            on_disk: OnDisk {
                source: [7; 32],
                ..on_disk
            },
            chunk_id: injected.chunk_id.clone(),
        };
        assert!(other.prepare(&cx).is_err());
        // an entry that names another chunk id (a damaged memo) is not taken: read again
        let damaged = Injected {
            chunk_id: "0191e2a8-3c6f-7cc2-8b1e-000000000000".into(),
            ..other
        };
        let damaged = Injected { on_disk, ..damaged };
        assert!(damaged.remembered(&cx).is_none());
        assert!(
            damaged.prepare(&cx).is_err(),
            "read from the files (gone here), not the memo"
        );
    }
}
