//! Checks sent ahead: a re-run asks the server about the last run's symbol sets while it scans.
//!
//! A re-run of an unchanged build is all `bulk_check_upload` (spec §2.2): the run scans, finds
//! every chunk id and content hash it sent before, asks, and is told the server has them. Over a
//! network the ask is a round trip after the scan (80 ms of a 110 ms re-run of 2,000 chunks). So
//! each run keeps a record of the entries (chunk id, release id, content hash, content length)
//! that it saw finished or already present, one record per project and set of directories; the
//! next run in the same place sends those entries as checks as soon as its client is up, while
//! it scans, and the pipeline's check stage takes the answer for every chunk whose entry was
//! asked ahead (the same chunk id, release id and content hash; the declared length may differ),
//! with the same `force` and `skip_on_conflict`. The rest are checked as
//! usual. An answer taken is the server's own, from the same run: what a check sent a few
//! milliseconds later would say unless another client changed the set in between, the same race
//! as between any check and the start that follows it. A check ahead that fails is forgotten and
//! its chunks are checked in the run; one whose entry no longer matches (a rebuilt chunk, another
//! release) was a read-only question and costs nothing but its share of a request.
//!
//! The record is a header line and fixed records of [`RECORD`] bytes (ids as UUID bytes, the hash
//! as bytes). A run streams what it keeps to a temporary file beside the record and replaces the
//! record with it at the end ([`CheckAhead::save`]); memory stays a buffer whatever the build's
//! size. A missing, unreadable or foreign record asks nothing ahead; a failure to save only costs
//! the next run a round trip.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::{BoxFuture, FutureExt, Shared};
use futures::StreamExt as _;
use symship_api::{BulkCheckRequest, Client, SymbolSetUpload};
use uuid::Uuid;

/// The record's first line; changes whenever what a record means may change.
const FORMAT: &[u8] = b"symship-checks-ahead/1\n";

/// Bytes per entry: chunk id 16, release flag 1 + 16, hash length 1 + 64, length flag 1 + 8.
pub const RECORD: usize = 107;

/// Entries per check sent ahead (the pipeline's largest check, spec §2.2's `CHECK_BATCH_SIZE`).
const BATCH: usize = crate::pipeline::CHECK_BATCH;

/// Checks ahead in flight at once (as the pipeline's own checks).
const IN_FLIGHT: usize = 8;

/// An entry as the record holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Packed {
    chunk_id: [u8; 16],
    release_id: Option<[u8; 16]>,
    hash_len: u8,
    hash: [u8; 64],
    content_length: Option<u64>,
}

impl Packed {
    /// `None` for an entry the record cannot hold exactly (a chunk id that is not a lower-case
    /// hyphenated UUID, a hash that is not lower-case hex of at most 64 bytes): it is checked in
    /// the run, never ahead.
    fn of(e: &SymbolSetUpload) -> Option<Packed> {
        let chunk_id = crate::memo::uuid_bytes(&e.chunk_id)?;
        let hex_hash = e.content_hash.as_deref()?;
        let bytes = hex::decode(hex_hash).ok()?;
        if bytes.len() > 64 || hex::encode(&bytes) != hex_hash {
            return None;
        }
        let mut hash = [0u8; 64];
        hash[..bytes.len()].copy_from_slice(&bytes);
        Some(Packed {
            chunk_id,
            release_id: e.release_id.map(|r| *r.as_bytes()),
            hash_len: bytes.len() as u8,
            hash,
            content_length: e.content_length,
        })
    }

    /// What the server's answer to a check of this entry depends on (spec §2.2: missing,
    /// unfinished, another hash, a release to bind): all but the declared length, which a run
    /// that took the hash from its memo may not know, and which is only checked against the
    /// 100 MiB limit (a stored set with this hash passed it).
    fn answer_key(&self) -> ([u8; 16], Option<[u8; 16]>, u8, [u8; 64]) {
        (self.chunk_id, self.release_id, self.hash_len, self.hash)
    }

    fn entry(&self) -> SymbolSetUpload {
        SymbolSetUpload {
            chunk_id: Uuid::from_bytes(self.chunk_id).hyphenated().to_string(),
            release_id: self.release_id.map(Uuid::from_bytes),
            content_hash: Some(hex::encode(&self.hash[..self.hash_len as usize])),
            content_length: self.content_length,
        }
    }

    fn put(&self, out: &mut [u8; RECORD]) {
        out.fill(0);
        out[..16].copy_from_slice(&self.chunk_id);
        if let Some(r) = self.release_id {
            out[16] = 1;
            out[17..33].copy_from_slice(&r);
        }
        out[33] = self.hash_len;
        out[34..98].copy_from_slice(&self.hash);
        if let Some(n) = self.content_length {
            out[98] = 1;
            out[99..107].copy_from_slice(&n.to_le_bytes());
        }
    }

    fn take(r: &[u8]) -> Option<Packed> {
        let flag = |b: u8| match b {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        };
        let hash_len = r[33];
        if hash_len > 64 || hash_len == 0 {
            return None;
        }
        Some(Packed {
            chunk_id: r[..16].try_into().ok()?,
            release_id: if flag(r[16])? {
                Some(r[17..33].try_into().ok()?)
            } else {
                None
            },
            hash_len,
            hash: r[34..98].try_into().ok()?,
            content_length: if flag(r[98])? {
                Some(u64::from_le_bytes(r[99..107].try_into().ok()?))
            } else {
                None
            },
        })
    }
}

/// The file name of the record for runs against `host`'s project `project_id` over
/// `directories` (canonical paths, in the order given): 32 hex digits of a SHA-256 of them, and
/// `.bin`.
pub fn record_name(host: &str, project_id: u64, directories: &[PathBuf]) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(host.as_bytes());
    h.update([0]);
    h.update(project_id.to_le_bytes());
    for d in directories {
        h.update([0]);
        h.update(d.as_os_str().as_encoded_bytes());
    }
    format!("{}.bin", hex::encode(&h.finalize()[..16]))
}

/// The entries of a record, sorted by chunk id (one per chunk id: the last recorded). Empty for a
/// missing, foreign or damaged record.
fn read_record(path: &Path) -> Vec<Packed> {
    // a regular file only: a FIFO in its place would block the run
    let Ok(bytes) = symship_fs::read_regular(path) else {
        return Vec::new();
    };
    if !bytes.starts_with(FORMAT) {
        return Vec::new();
    }
    let body = &bytes[FORMAT.len()..];
    if body.len() % RECORD != 0 {
        return Vec::new();
    }
    let Some(mut out) = body
        .chunks_exact(RECORD)
        .map(Packed::take)
        .collect::<Option<Vec<_>>>()
    else {
        return Vec::new();
    };
    // the last recorded first, so that the stable sort keeps it first among its chunk id's
    out.reverse();
    out.sort_by_key(|p| p.chunk_id);
    out.dedup_by_key(|p| p.chunk_id);
    out
}

/// What the checks ahead were told: for each entry asked in a check that succeeded, whether the
/// server wants its bytes (empty when every check failed).
type Answers = Arc<HashMap<[u8; 16], bool>>;

/// An entry that was asked ahead ([`CheckAhead::asked_about`]).
#[derive(Debug, Clone, Copy)]
pub struct Asked([u8; 16]);

/// The checks of one run sent ahead, and the record the run leaves for the next.
pub struct CheckAhead {
    /// What was asked, sorted by chunk id.
    asked: Arc<Vec<Packed>>,
    /// The `force` and `skip_on_conflict` the checks were sent with.
    flags: (bool, bool),
    answers: Shared<BoxFuture<'static, Answers>>,
    requests: Arc<AtomicUsize>,
    /// How long after [`CheckAhead::start`] the last answer came.
    answered_in: Arc<std::sync::OnceLock<std::time::Duration>>,
    /// The error of a check ahead the server answered 403, 404 or 405: a server without
    /// `bulk_check_upload` (spec §2.2: newer, may not exist on older or self-hosted servers).
    no_endpoint: Arc<std::sync::OnceLock<String>>,
    /// The API's refusal of the key (HTTP 401) to a check ahead: the run sends nothing more.
    key_refused: Arc<std::sync::OnceLock<symship_api::HttpFailure>>,
    record: PathBuf,
    keeping: Mutex<Option<Keeping>>,
    /// The answers are not to be used ([`CheckAhead::discard`]).
    discarded: std::sync::atomic::AtomicBool,
}

/// What the run keeps, streamed to a temporary file beside the record (removed when dropped).
struct Keeping {
    out: std::io::BufWriter<tempfile::NamedTempFile>,
    kept: usize,
}

/// The prefix of the temporary files of records in their directory.
const TEMP_PREFIX: &str = ".checks-ahead-";

/// A temporary file older than this is a killed run's, not another run's save in progress.
const STALE_TEMP: std::time::Duration = std::time::Duration::from_secs(60 * 60);

impl std::fmt::Debug for CheckAhead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckAhead")
            .field("asked", &self.asked.len())
            .field("flags", &self.flags)
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

impl CheckAhead {
    /// Reads the record at `record` (left by the last run in the same place) and, when it holds
    /// entries, sends them on `runtime` as `bulk_check_upload` calls with `flags` (`force`,
    /// `skip_on_conflict`: what the run's own checks send) of up to 1,000 entries, eight at
    /// once. Returns at once; the answers are awaited by [`CheckAhead::answer`]. The record is
    /// read here (the caller runs this beside its scan). What the run keeps streams to a new
    /// temporary file beside `record` (none when it cannot be made: nothing is kept).
    pub fn start(
        client: &Client,
        runtime: &tokio::runtime::Handle,
        record: PathBuf,
        flags: (bool, bool),
    ) -> CheckAhead {
        let started = std::time::Instant::now();
        let asked = Arc::new(read_record(&record));
        let requests = Arc::new(AtomicUsize::new(0));
        let answered_in = Arc::new(std::sync::OnceLock::new());
        let no_endpoint = Arc::new(std::sync::OnceLock::new());
        let key_refused = Arc::new(std::sync::OnceLock::new());
        let answers: BoxFuture<'static, Answers> = if asked.is_empty() {
            futures::future::ready(Answers::default()).boxed()
        } else {
            let all = asked.clone();
            let client = client.clone();
            let sent = requests.clone();
            let done_at = answered_in.clone();
            let refused = no_endpoint.clone();
            let refused_key = key_refused.clone();
            let task = runtime.spawn(async move {
                // each call owns its request (built as it is sent: at most eight at once)
                let calls = (0..all.len()).step_by(BATCH).map(|from| {
                    let all = all.clone();
                    let (client, sent, refused) = (client.clone(), sent.clone(), refused.clone());
                    let refused_key = refused_key.clone();
                    async move {
                        let batch = &all[from..(from + BATCH).min(all.len())];
                        let req = BulkCheckRequest {
                            symbol_sets: batch.iter().map(Packed::entry).collect(),
                            force: flags.0,
                            skip_on_conflict: flags.1,
                        };
                        sent.fetch_add(1, Ordering::Relaxed);
                        match client.bulk_check_upload(&req).await {
                            Ok(resp) => {
                                let wanted: std::collections::HashSet<&str> =
                                    resp.chunk_ids_to_upload.iter().map(String::as_str).collect();
                                batch
                                    .iter()
                                    .zip(&req.symbol_sets)
                                    .map(|(p, e)| (p.chunk_id, wanted.contains(e.chunk_id.as_str())))
                                    .collect::<Vec<_>>()
                            }
                            // its chunks are checked in the run
                            Err(e) => {
                                if crate::pipeline::lacks_check_endpoint(&e) {
                                    let _ = refused.set(e.to_string());
                                }
                                if let Some(h) = e.http().filter(|h| crate::pipeline::is_key_refusal(h)) {
                                    let _ = refused_key.set(h.clone());
                                }
                                Vec::new()
                            }
                        }
                    }
                });
                let answered = futures::stream::iter(calls)
                    .buffer_unordered(IN_FLIGHT)
                    .collect::<Vec<_>>()
                    .await;
                let _ = done_at.set(started.elapsed());
                Arc::new(answered.into_iter().flatten().collect::<HashMap<_, _>>())
            });
            task.map(|r| r.unwrap_or_default()).boxed()
        };
        let keeping = Self::open(&record);
        CheckAhead {
            asked,
            flags,
            answers: answers.shared(),
            requests,
            answered_in,
            no_endpoint,
            key_refused,
            record,
            keeping: Mutex::new(keeping),
            discarded: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn open(record: &Path) -> Option<Keeping> {
        let dir = record.parent()?;
        std::fs::create_dir_all(dir).ok()?;
        let file = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(dir)
            .ok()?;
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, file);
        out.write_all(FORMAT).ok()?;
        Some(Keeping { out, kept: 0 })
    }

    /// How many entries were asked ahead.
    pub fn asked(&self) -> usize {
        self.asked.len()
    }

    /// `bulk_check_upload` calls sent ahead so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// How long the checks ahead took, from [`CheckAhead::start`] to the last answer (`None`
    /// while they run, or when nothing was asked).
    pub fn answered_in(&self) -> Option<std::time::Duration> {
        self.answered_in.get().copied()
    }

    /// Once the checks ahead were answered: the error of one the server answered 403, 404 or
    /// 405, as a server without `bulk_check_upload` does (the run then lets `bulk_start_upload`
    /// decide, as after its own check met that answer).
    pub async fn no_endpoint(&self) -> Option<String> {
        self.answers.clone().await;
        self.no_endpoint.get().cloned()
    }

    /// The API's refusal of the key (HTTP 401) to a check ahead, once it came (no wait): the
    /// run then sends no further API call, as after its own first 401.
    pub fn key_refused(&self) -> Option<&symship_api::HttpFailure> {
        self.key_refused.get()
    }

    /// Drops the answers: every chunk is checked in the run. For a run that waited for another
    /// run on the same directories after the checks went out (that run may have changed what the
    /// server holds meanwhile: a fresh tester's run reported a set deleted during its wait as
    /// present). What this run keeps for the next is still recorded.
    pub fn discard(&self) {
        self.discarded.store(true, Ordering::Relaxed);
    }

    /// `entry`, checked with `flags`, as it was asked ahead (the same chunk id, release id and
    /// content hash; the declared length may differ): its [`CheckAhead::answer`] is then worth
    /// waiting for. `None` when it was not, or the answers were discarded.
    pub fn asked_about(&self, entry: &SymbolSetUpload, flags: (bool, bool)) -> Option<Asked> {
        if flags != self.flags || self.discarded.load(Ordering::Relaxed) {
            return None;
        }
        let p = Packed::of(entry)?;
        let at = self
            .asked
            .binary_search_by_key(&p.chunk_id, |a| a.chunk_id)
            .ok()?;
        (self.asked[at].answer_key() == p.answer_key()).then_some(Asked(p.chunk_id))
    }

    /// The answer of the checks ahead for an entry [`CheckAhead::asked_about`] found, once they
    /// came: `Some(true)` when the server wants its bytes, `Some(false)` when it holds it, `None`
    /// when its check failed.
    pub async fn answer(&self, asked: Asked) -> Option<bool> {
        self.answers.clone().await.get(&asked.0).copied()
    }

    /// Adds the `bulk_check_upload` calls sent ahead to a report's request counts.
    pub fn count_into(&self, requests: &mut std::collections::BTreeMap<&'static str, u64>) {
        let n = self.requests() as u64;
        if n > 0 {
            *requests.entry("bulk_check_upload").or_default() += n;
        }
    }

    /// Keeps `entry` (finished or present on the server) for the next run's checks ahead.
    pub fn keep(&self, entry: &SymbolSetUpload) {
        let Some(p) = Packed::of(entry) else {
            return;
        };
        let mut buf = [0u8; RECORD];
        p.put(&mut buf);
        let mut keeping = self.keeping.lock().expect("lock");
        if let Some(k) = keeping.as_mut() {
            if k.out.write_all(&buf).is_ok() {
                k.kept += 1;
            } else {
                // nothing is kept (the temporary file goes with it)
                *keeping = None;
            }
        }
    }

    /// Replaces the record with what this run kept (an empty record when it kept nothing).
    /// Returns how many entries the record now holds.
    pub fn save(&self) -> std::io::Result<usize> {
        let Some(k) = self.keeping.lock().expect("lock").take() else {
            return Ok(0);
        };
        let Keeping { out, kept } = k;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        if let Some(dir) = self.record.parent() {
            // what runs killed while saving left
            symship_fs::sweep_stale(dir, TEMP_PREFIX, STALE_TEMP);
        }
        file.persist(&self.record).map_err(|e| e.error)?;
        Ok(kept)
    }
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "tests build records in temporary directories"
)]
mod tests {
    use super::*;

    fn entry(id: &str, release: Option<&str>, hash: &str, len: Option<u64>) -> SymbolSetUpload {
        SymbolSetUpload {
            chunk_id: id.into(),
            release_id: release.map(|r| Uuid::parse_str(r).unwrap()),
            content_hash: Some(hash.into()),
            content_length: len,
        }
    }

    #[test]
    fn a_record_reads_back_the_entries_it_was_given() {
        let e = entry(
            "0b1e7c2a-5f4e-4e5b-9d3c-2a1b0c9d8e7f",
            Some("11111111-2222-4333-8444-555555555555"),
            &"ab".repeat(64),
            Some(1234),
        );
        let p = Packed::of(&e).unwrap();
        let mut buf = [0u8; RECORD];
        p.put(&mut buf);
        let back = Packed::take(&buf).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.entry(), e);
        let short = entry(
            "0b1e7c2a-5f4e-4e5b-9d3c-2a1b0c9d8e7f",
            None,
            &"cd".repeat(32),
            None,
        );
        let p = Packed::of(&short).unwrap();
        p.put(&mut buf);
        assert_eq!(Packed::take(&buf).unwrap().entry(), short);
    }

    #[test]
    fn entries_the_record_cannot_hold_exactly_are_not_kept() {
        // upper-case UUID: would read back in another spelling
        assert!(Packed::of(&entry("0B1E7C2A-5F4E-4E5B-9D3C-2A1B0C9D8E7F", None, "ab", None)).is_none());
        assert!(Packed::of(&entry("not-a-uuid", None, "ab", None)).is_none());
        assert!(Packed::of(&entry("0b1e7c2a-5f4e-4e5b-9d3c-2a1b0c9d8e7f", None, "AB", None)).is_none());
        assert!(Packed::of(&entry(
            "0b1e7c2a-5f4e-4e5b-9d3c-2a1b0c9d8e7f",
            None,
            &"ab".repeat(65),
            None
        ))
        .is_none());
    }

    #[test]
    fn a_foreign_or_cut_record_asks_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.bin");
        std::fs::write(&path, b"something else\n").unwrap();
        assert!(read_record(&path).is_empty());
        let mut bytes = FORMAT.to_vec();
        bytes.extend_from_slice(&[0u8; RECORD - 1]);
        std::fs::write(&path, &bytes).unwrap();
        assert!(read_record(&path).is_empty());
        assert!(read_record(&dir.path().join("missing")).is_empty());
    }
}
