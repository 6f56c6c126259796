//! The inject ledger: which chunks and maps are exactly as an earlier `process` left them, told
//! by their file stamps, so that a re-run of an unchanged build does not read them again.
//!
//! After inject is done with a chunk whose map is its own (one chunk, one map file), it records
//! both files' stamps (device, inode, size, mtime and ctime in nanoseconds), the chunk id, and
//! the digests of what the files hold ([`OnDisk`]: what the upload's hash memo is keyed by). A
//! later run with the same options (release mode, release id; the file names the symship
//! version) whose chunk and map still carry those stamps knows inject's answer without reading
//! either file: the pair is [`Outcome::Unchanged`](crate::Outcome::Unchanged) with that chunk id
//! (inject is idempotent: a second run over the files it left changes nothing), and the upload
//! finds the content hash in its memo from the digests. A re-run of 10,000 chunks read and parsed
//! 37 MB of chunks and maps for that answer.
//!
//! Soundness. A file's ctime cannot be set from user space and changes on every write, rename or
//! `chmod`; a replaced file is a new inode. A stamp is taken once inject is done with the file:
//! after its own atomic replace when it wrote it, and when it did not, only if the file's ctime
//! is older than the run (a file changed while the run read it is not recorded). What is left is
//! a second writer that changes the file within one timestamp tick after symship's own write and
//! keeps its size: on Linux 6.13 and later, ext4, xfs, btrfs and tmpfs give a file whose ctime
//! was queried a distinct, fine-grained ctime on its next change (multigrain timestamps), which
//! closes that too. Git's index trusts the same stamps.
//!
//! The file (`inject-ledger.bin` in the cache directory, beside the hash memo) is a header line
//! and fixed records of [`RECORD`] bytes: paths are kept as 128-bit digests, so an entry is
//! 208 bytes in memory and on disk whatever the path's length (50,000 chunks: about 10 MB,
//! within the run's memory bound). It is read on a thread of its own while the scan runs;
//! what a run records is streamed to the next file as it goes, not held; the file is replaced
//! atomically, and only when something changed. A missing, unreadable or foreign file is an
//! empty ledger; a failure to save only costs the next run time.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::inject::OnDisk;
use crate::ReleaseMode;

/// The file's first line; changes whenever what a recorded entry means may change (the crate
/// version covers inject's output: a newer symship looks at every file again).
const FORMAT: &str = concat!(
    "symship-inject-ledger/1 symship-scan/",
    env!("CARGO_PKG_VERSION"),
    "\n"
);

/// Bytes per entry in the file.
pub const RECORD: usize = 208;

/// How many entries the file keeps at least (the most recently used): ten builds of 2,000
/// chunks. Every entry the saving run used or recorded is kept too, whatever the build's size.
pub const MAX_ENTRIES: usize = 20_000;

/// A save that would only move entries' last use by less than this is skipped (seconds).
const USE_REFRESH_SECS: u64 = 24 * 60 * 60;

/// What identifies one version of a file without reading it: device, inode, size, and the
/// modification and change times in nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
}

impl Stamp {
    #[cfg(unix)]
    fn of(meta: &std::fs::Metadata) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt;
        if !meta.is_file() {
            return None;
        }
        let ns = |s: i64, n: i64| s.checked_mul(1_000_000_000)?.checked_add(n);
        Some(Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec())?,
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec())?,
        })
    }

    /// No ctime to trust elsewhere: the ledger records nothing.
    #[cfg(not(unix))]
    fn of(_: &std::fs::Metadata) -> Option<Stamp> {
        None
    }

    /// The stamp of the file at `path` (its target, for a symbolic link).
    fn at(path: &Path) -> Option<Stamp> {
        std::fs::metadata(path).ok().as_ref().and_then(Stamp::of)
    }

    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.dev.to_le_bytes());
        out.extend_from_slice(&self.ino.to_le_bytes());
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&self.mtime_ns.to_le_bytes());
        out.extend_from_slice(&self.ctime_ns.to_le_bytes());
    }

    fn take(r: &mut Reader<'_>) -> Stamp {
        Stamp {
            dev: r.u64(),
            ino: r.u64(),
            size: r.u64(),
            mtime_ns: r.u64() as i64,
            ctime_ns: r.u64() as i64,
        }
    }
}

/// A path's key: the first 16 bytes of the SHA-256 of its bytes.
type PathKey = [u8; 16];

fn path_key(path: &Path) -> PathKey {
    let mut h = Sha256::new();
    h.update(path.as_os_str().as_encoded_bytes());
    let d: [u8; 32] = h.finalize().into();
    d[..16].try_into().expect("16 bytes")
}

/// The options an entry holds for (inject's answer for the same bytes depends on them): the
/// first 8 bytes of a SHA-256 of the release mode and the release id.
fn fingerprint(mode: ReleaseMode, release_id: Option<&str>) -> [u8; 8] {
    let mut h = Sha256::new();
    h.update(format!("{mode:?}\n{}", release_id.unwrap_or("")));
    let d: [u8; 32] = h.finalize().into();
    d[..8].try_into().expect("8 bytes")
}

/// One chunk's entry (keyed by its path's [`PathKey`]).
#[derive(Debug, Clone, Copy)]
struct Entry {
    options: [u8; 8],
    chunk: Stamp,
    map_key: PathKey,
    map: Stamp,
    chunk_id: [u8; 16],
    chunk_sha256: [u8; 32],
    map_sha256: [u8; 32],
    /// Unix seconds of the last run that used it.
    used: u64,
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let (head, rest) = self.0.split_at(N);
        self.0 = rest;
        head.try_into().expect("N bytes")
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
}

impl Entry {
    fn encode(&self, key: &PathKey) -> Vec<u8> {
        let mut out = Vec::with_capacity(RECORD);
        out.extend_from_slice(key);
        out.extend_from_slice(&self.options);
        self.chunk.put(&mut out);
        out.extend_from_slice(&self.map_key);
        self.map.put(&mut out);
        out.extend_from_slice(&self.chunk_id);
        out.extend_from_slice(&self.chunk_sha256);
        out.extend_from_slice(&self.map_sha256);
        out.extend_from_slice(&self.used.to_le_bytes());
        debug_assert_eq!(out.len(), RECORD);
        out
    }

    fn decode(record: &[u8]) -> (PathKey, Entry) {
        let mut r = Reader(record);
        let key = r.take();
        let entry = Entry {
            options: r.take(),
            chunk: Stamp::take(&mut r),
            map_key: r.take(),
            map: Stamp::take(&mut r),
            chunk_id: r.take(),
            chunk_sha256: r.take(),
            map_sha256: r.take(),
            used: r.u64(),
        };
        (key, entry)
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_nanos()).ok())
        .unwrap_or(i64::MAX)
}

/// The entries of the file at `path`: none when it is missing, unreadable, foreign or cut short.
fn read_entries(path: &Path) -> HashMap<PathKey, Entry> {
    let Ok(bytes) = std::fs::read(path) else {
        return HashMap::new();
    };
    let Some(records) = bytes.strip_prefix(FORMAT.as_bytes()) else {
        return HashMap::new();
    };
    if records.len() % RECORD != 0 {
        return HashMap::new();
    }
    records.chunks_exact(RECORD).map(Entry::decode).collect()
}

/// The next file, written as the run records (a temporary file beside the ledger's).
type Pending = std::io::BufWriter<tempfile::NamedTempFile>;

/// The ledger of one run: the file's entries, the next file as this run records, and where to
/// save it.
#[derive(Debug, Default)]
pub struct Ledger {
    path: Option<PathBuf>,
    loading: Mutex<Option<std::thread::JoinHandle<HashMap<PathKey, Entry>>>>,
    /// The entries read from the file: the ones this run recorded again are removed.
    entries: OnceLock<Mutex<HashMap<PathKey, Entry>>>,
    /// This run's records, streamed; None until the first (or when it could not be created).
    pending: Mutex<Option<Pending>>,
    /// How many records `pending` holds.
    recorded: AtomicUsize,
    /// The pending file could not be created or written: nothing is saved.
    broken: AtomicBool,
    /// When this run started, in nanoseconds since the epoch: an unchanged file whose ctime is
    /// not older was changed while the run read it, and is not recorded.
    started_ns: i64,
    /// Unix seconds when this run started: entries used since are this run's.
    since: u64,
    changed: AtomicBool,
    /// Pairs this run answered from the ledger.
    hits: AtomicUsize,
}

impl Ledger {
    /// The ledger stored at `path`, read on a thread of its own (the first lookup waits for it);
    /// [`Ledger::save`] writes it back there.
    pub fn load_in_background(path: &Path) -> Ledger {
        let owned = path.to_path_buf();
        let loading = std::thread::Builder::new()
            .name("ledger-load".into())
            .spawn(move || read_entries(&owned))
            .ok();
        let entries = OnceLock::new();
        if loading.is_none() {
            let _ = entries.set(Mutex::new(read_entries(path)));
        }
        Ledger {
            path: Some(path.to_path_buf()),
            loading: Mutex::new(loading),
            entries,
            started_ns: now_ns(),
            since: now_secs(),
            ..Ledger::default()
        }
    }

    fn table(&self) -> &Mutex<HashMap<PathKey, Entry>> {
        self.entries.get_or_init(|| {
            let handle = self.loading.lock().expect("lock").take();
            Mutex::new(handle.and_then(|h| h.join().ok()).unwrap_or_default())
        })
    }

    /// How many entries were read from the file (and not recorded again since).
    pub fn len(&self) -> usize {
        self.table().lock().expect("lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The chunk id and the digests of a pair whose chunk and map carry the stamps recorded under
    /// the same options, without reading either; None when anything differs or is unknown.
    pub(crate) fn unchanged(
        &self,
        chunk: &Path,
        map: &Path,
        mode: ReleaseMode,
        release_id: Option<&str>,
    ) -> Option<(String, OnDisk)> {
        let key = path_key(chunk);
        let e = *self.table().lock().expect("lock").get(&key)?;
        if e.options != fingerprint(mode, release_id) || e.map_key != path_key(map) {
            return None;
        }
        if Stamp::at(chunk)? != e.chunk || Stamp::at(map)? != e.map {
            return None;
        }
        let on_disk = OnDisk {
            source: e.chunk_sha256,
            source_len: e.chunk.size,
            map: e.map_sha256,
            map_len: e.map.size,
        };
        let now = now_secs();
        if let Some(e) = self.table().lock().expect("lock").get_mut(&key) {
            if e.used.saturating_add(USE_REFRESH_SECS) <= now {
                self.changed.store(true, Ordering::Relaxed);
            }
            e.used = now;
        }
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some((Uuid::from_bytes(e.chunk_id).hyphenated().to_string(), on_disk))
    }

    /// Records what inject left of a pair: `on_disk` is what the chunk and the map hold, and
    /// `wrote` whether this run replaced each. Nothing is recorded for a chunk id that is not a
    /// UUID in its canonical form, a file whose length is not the digested one, or a file this
    /// run did not write that changed while it ran.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record(
        &self,
        chunk: &Path,
        map: &Path,
        chunk_id: &str,
        on_disk: &OnDisk,
        wrote: (bool, bool),
        mode: ReleaseMode,
        release_id: Option<&str>,
    ) {
        let Some(id) = Uuid::parse_str(chunk_id)
            .ok()
            .filter(|u| u.hyphenated().to_string() == chunk_id)
        else {
            return;
        };
        let (Some(chunk_stamp), Some(map_stamp)) = (Stamp::at(chunk), Stamp::at(map)) else {
            return;
        };
        let settled =
            |s: &Stamp, wrote: bool, len: u64| s.size == len && (wrote || s.ctime_ns < self.started_ns);
        if !settled(&chunk_stamp, wrote.0, on_disk.source_len)
            || !settled(&map_stamp, wrote.1, on_disk.map_len)
        {
            return;
        }
        let key = path_key(chunk);
        let entry = Entry {
            options: fingerprint(mode, release_id),
            chunk: chunk_stamp,
            map_key: path_key(map),
            map: map_stamp,
            chunk_id: *id.as_bytes(),
            chunk_sha256: on_disk.source,
            map_sha256: on_disk.map,
            used: now_secs(),
        };
        // the file's entry for this chunk, if any, is replaced by this record
        self.table().lock().expect("lock").remove(&key);
        self.changed.store(true, Ordering::Relaxed);
        let mut pending = self.pending.lock().expect("lock");
        if self.broken.load(Ordering::Relaxed) {
            return;
        }
        if pending.is_none() {
            *pending = self.start_pending();
        }
        let written = pending
            .as_mut()
            .is_some_and(|w| w.write_all(&entry.encode(&key)).is_ok());
        if written {
            self.recorded.fetch_add(1, Ordering::Relaxed);
        } else {
            self.broken.store(true, Ordering::Relaxed);
            *pending = None;
        }
    }

    /// A temporary file beside the ledger's, with the header written.
    fn start_pending(&self) -> Option<Pending> {
        let dir = self.dir()?;
        create_private_dir(&dir).ok()?;
        let tmp = tempfile::Builder::new()
            .prefix(".inject-ledger-")
            .tempfile_in(&dir)
            .ok()?;
        let mut w = std::io::BufWriter::new(tmp);
        w.write_all(FORMAT.as_bytes()).ok()?;
        Some(w)
    }

    fn dir(&self) -> Option<PathBuf> {
        let path = self.path.as_ref()?;
        Some(
            path.parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf(),
        )
    }

    /// How many pairs this run answered from the ledger, without reading them.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }

    /// Whether [`Ledger::save`] would write the file.
    pub fn changed(&self) -> bool {
        self.changed.load(Ordering::Relaxed)
    }

    /// Writes the ledger back when it changed: this run's records, then the file's other entries,
    /// most recently used first, up to [`MAX_ENTRIES`] in all (every one this run used is kept);
    /// atomically, readable by its owner only.
    pub fn save(&self) -> std::io::Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        if !self.changed() {
            return Ok(());
        }
        if self.broken.load(Ordering::Relaxed) {
            return Err(std::io::Error::other(
                "the ledger's new file could not be written",
            ));
        }
        let mut w = match self.pending.lock().expect("lock").take() {
            Some(w) => w,
            None => self
                .start_pending()
                .ok_or_else(|| std::io::Error::other("the ledger's new file could not be created"))?,
        };
        let table = self.table().lock().expect("lock");
        let mut kept: Vec<(&PathKey, &Entry)> = table.iter().collect();
        kept.sort_by_key(|(_, e)| std::cmp::Reverse(e.used));
        let recorded = self.recorded.load(Ordering::Relaxed);
        let used_now = kept.iter().filter(|(_, e)| e.used >= self.since).count();
        kept.truncate(MAX_ENTRIES.saturating_sub(recorded).max(used_now));
        for (key, e) in kept {
            w.write_all(&e.encode(key))?;
        }
        let tmp = w.into_inner().map_err(|e| e.into_error())?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_reads_back_as_written() {
        let e = Entry {
            options: [1; 8],
            chunk: Stamp {
                dev: 2,
                ino: 3,
                size: 4,
                mtime_ns: -5,
                ctime_ns: 6,
            },
            map_key: [7; 16],
            map: Stamp {
                dev: 8,
                ino: 9,
                size: 10,
                mtime_ns: 11,
                ctime_ns: i64::MAX,
            },
            chunk_id: [12; 16],
            chunk_sha256: [13; 32],
            map_sha256: [14; 32],
            used: 15,
        };
        let bytes = e.encode(&[16; 16]);
        assert_eq!(bytes.len(), RECORD);
        let (key, back) = Entry::decode(&bytes);
        assert_eq!(key, [16; 16]);
        assert_eq!(back.encode(&key), bytes);
        assert_eq!(back.map.ctime_ns, i64::MAX);
        assert_eq!(back.chunk.mtime_ns, -5);
    }
}
