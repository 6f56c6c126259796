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
//! is a second older than the run (a file changed while the run read it is not recorded; file
//! times come from a coarse clock). What is left is
//! a second writer that changes the file within one timestamp tick after symship's own write and
//! keeps its size: on Linux 6.13 and later, ext4, xfs, btrfs and tmpfs give a file whose ctime
//! was queried a distinct, fine-grained ctime on its next change (multigrain timestamps), which
//! closes that too. Git's index trusts the same stamps.
//!
//! The file (`inject-ledger.bin` in the cache directory, beside the hash memo) is a header line
//! and fixed records of [`RECORD`] bytes (paths kept as 128-bit digests). A run indexes the
//! earlier file on a thread of its own while the scan runs and reads a record in place when it
//! needs it: 20 bytes per entry in memory (50,000 entries: 1 MB; held as a table they were
//! about 15 MB, and the 100 MiB bound of a 50,000-chunk run has no room for that). What a run
//! records is streamed to the next file as it goes; the earlier entries worth keeping are copied
//! after them; the file is replaced atomically, and only when something changed. A missing,
//! unreadable or foreign file is an empty ledger; a failure to save only costs the next run time.

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
/// version covers inject's output: a newer symship looks at every file again). Between versions,
/// bump the `/1` when inject would write something else for a file it left before (a hit skips
/// inject's checks of that file); a fix for files inject did not leave needs no bump, since
/// another tool's write changes their stamps.
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

/// The earlier run's file, as this run uses it: open for reading records in place, with an index
/// of its records by key (20 bytes a record in memory, not 208: a file of 50,000 entries held
/// about 15 MB as a table, and a first run of a new build keeps it all run long).
#[derive(Debug, Default)]
struct Earlier {
    file: Option<std::fs::File>,
    /// (key, record number), sorted by key.
    index: Vec<(PathKey, u32)>,
    /// Records this run recorded again (or whose chunk it found changed): not carried over.
    superseded: Vec<bool>,
    /// Records this run answered from: carried over with this run's time.
    hit: Vec<bool>,
}

impl Earlier {
    /// The file at `path`: none when it is missing, unreadable, foreign or cut short.
    fn open(path: &Path) -> Earlier {
        Earlier::try_open(path).unwrap_or_default()
    }

    fn try_open(path: &Path) -> Option<Earlier> {
        use std::io::Read as _;
        // a regular file only: a FIFO in its place would block the run
        let file = symship_fs::open_regular(path).ok()?;
        let len = file.metadata().ok()?.len();
        let records = len.checked_sub(FORMAT.len() as u64)?;
        if records % RECORD as u64 != 0 || records / RECORD as u64 > u64::from(u32::MAX) {
            return None;
        }
        let n = (records / RECORD as u64) as usize;
        let mut r = std::io::BufReader::with_capacity(64 * 1024, &file);
        let mut header = vec![0; FORMAT.len()];
        r.read_exact(&mut header).ok()?;
        if header != FORMAT.as_bytes() {
            return None;
        }
        let mut index = Vec::with_capacity(n);
        let mut record = [0u8; RECORD];
        for i in 0..n {
            r.read_exact(&mut record).ok()?;
            index.push((record[..16].try_into().expect("16 bytes"), i as u32));
        }
        drop(r);
        index.sort_unstable();
        Some(Earlier {
            file: Some(file),
            index,
            superseded: vec![false; n],
            hit: vec![false; n],
        })
    }

    /// The record number of `key`'s entry.
    fn find(&self, key: &PathKey) -> Option<u32> {
        let at = self.index.binary_search_by(|(k, _)| k.cmp(key)).ok()?;
        Some(self.index[at].1)
    }

    /// Every record in file order, read in blocks: `f(record number, key, entry)`.
    fn each(&self, mut f: impl FnMut(u32, PathKey, Entry)) {
        let Some(file) = self.file.as_ref() else { return };
        const BLOCK: usize = 256;
        let n = self.index.len();
        let mut buf = vec![0u8; BLOCK * RECORD];
        let mut i = 0usize;
        while i < n {
            let count = BLOCK.min(n - i);
            let bytes = &mut buf[..count * RECORD];
            if read_at(file, bytes, FORMAT.len() as u64 + (i * RECORD) as u64).is_none() {
                return;
            }
            for (j, record) in bytes.chunks_exact(RECORD).enumerate() {
                let (key, e) = Entry::decode(record);
                f((i + j) as u32, key, e);
            }
            i += count;
        }
    }

    /// Record `n`, as read from the file.
    fn read(&self, n: u32) -> Option<(PathKey, Entry)> {
        let mut record = [0u8; RECORD];
        read_at(
            self.file.as_ref()?,
            &mut record,
            FORMAT.len() as u64 + u64::from(n) * RECORD as u64,
        )?;
        Some(Entry::decode(&record))
    }
}

#[cfg(unix)]
fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> Option<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset).ok()
}

#[cfg(not(unix))]
fn read_at(_: &std::fs::File, _: &mut [u8], _: u64) -> Option<()> {
    None
}

/// The next file, written as the run records (a temporary file beside the ledger's).
type Pending = std::io::BufWriter<tempfile::NamedTempFile>;

/// The ledger of one run: the earlier run's file, the next file as this run records, and where
/// to save it.
#[derive(Debug, Default)]
pub struct Ledger {
    path: Option<PathBuf>,
    loading: Mutex<Option<std::thread::JoinHandle<Earlier>>>,
    earlier: OnceLock<Mutex<Earlier>>,
    /// This run's records, streamed; None until the first (or when it could not be created).
    pending: Mutex<Option<Pending>>,
    /// How many records `pending` holds.
    recorded: AtomicUsize,
    /// The pending file could not be created or written: nothing is saved.
    broken: AtomicBool,
    /// When this run started, in nanoseconds since the epoch: an unchanged file whose ctime is
    /// not a second older was changed while the run read it, and is not recorded.
    started_ns: i64,
    changed: AtomicBool,
    /// Pairs this run answered from the ledger.
    hits: AtomicUsize,
}

impl Ledger {
    /// The ledger stored at `path`, indexed on a thread of its own (the first lookup waits for
    /// it); [`Ledger::save`] writes it back there.
    pub fn load_in_background(path: &Path) -> Ledger {
        let owned = path.to_path_buf();
        let loading = std::thread::Builder::new()
            .name("ledger-load".into())
            .spawn(move || Earlier::open(&owned))
            .ok();
        let earlier = OnceLock::new();
        if loading.is_none() {
            let _ = earlier.set(Mutex::new(Earlier::open(path)));
        }
        Ledger {
            path: Some(path.to_path_buf()),
            loading: Mutex::new(loading),
            earlier,
            started_ns: now_ns(),
            ..Ledger::default()
        }
    }

    fn earlier(&self) -> &Mutex<Earlier> {
        self.earlier.get_or_init(|| {
            let handle = self.loading.lock().expect("lock").take();
            Mutex::new(handle.and_then(|h| h.join().ok()).unwrap_or_default())
        })
    }

    /// How many entries the earlier run's file holds.
    pub fn len(&self) -> usize {
        self.earlier().lock().expect("lock").index.len()
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
        let (n, e) = {
            let earlier = self.earlier().lock().expect("lock");
            let n = earlier.find(&key)?;
            let (k, e) = earlier.read(n)?;
            (k == key).then_some((n, e))?
        };
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
        if e.used.saturating_add(USE_REFRESH_SECS) <= now_secs() {
            self.changed.store(true, Ordering::Relaxed);
        }
        self.earlier().lock().expect("lock").hit[n as usize] = true;
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
        let key = path_key(chunk);
        {
            // the earlier entry for this chunk, if any, is not carried over (this run saw the
            // chunk again: it is replaced by this record, or by nothing)
            let mut earlier = self.earlier().lock().expect("lock");
            if let Some(n) = earlier.find(&key) {
                earlier.superseded[n as usize] = true;
                self.changed.store(true, Ordering::Relaxed);
            }
        }
        let Some(id) = Uuid::parse_str(chunk_id)
            .ok()
            .filter(|u| u.hyphenated().to_string() == chunk_id)
        else {
            return;
        };
        let (Some(chunk_stamp), Some(map_stamp)) = (Stamp::at(chunk), Stamp::at(map)) else {
            return;
        };
        // A file's ctime comes from a coarse clock that lags the one `started_ns` was read from
        // by up to a tick (10 ms at HZ=100): a second's margin keeps a change made just after the
        // start from passing for an older one.
        let before_start = self.started_ns.saturating_sub(1_000_000_000);
        let settled =
            |s: &Stamp, wrote: bool, len: u64| s.size == len && (wrote || s.ctime_ns < before_start);
        if !settled(&chunk_stamp, wrote.0, on_disk.source_len)
            || !settled(&map_stamp, wrote.1, on_disk.map_len)
        {
            return;
        }
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
            .prefix(TEMP_PREFIX)
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

    /// Writes the ledger back when it changed: this run's records, the entries it answered from
    /// (with this run's time), then the earlier file's other entries, most recently used first,
    /// up to [`MAX_ENTRIES`] in all; atomically, readable by its owner only. The earlier entries
    /// are copied from the earlier file, two passes, none held.
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
        let earlier = self.earlier().lock().expect("lock");
        let n = earlier.index.len();
        let hits = earlier.hit.iter().filter(|h| **h).count();
        let room = MAX_ENTRIES.saturating_sub(self.recorded.load(Ordering::Relaxed) + hits);
        // the others: which to keep, by their last use
        let mut others: Vec<(u64, u32)> = Vec::new();
        earlier.each(|i, _, e| {
            if !earlier.superseded[i as usize] && !earlier.hit[i as usize] {
                others.push((e.used, i));
            }
        });
        others.sort_unstable_by(|a, b| b.cmp(a));
        let mut keep = vec![false; n];
        for &(_, i) in others.iter().take(room) {
            keep[i as usize] = true;
        }
        drop(others);
        let now = now_secs();
        let mut written = Ok(());
        earlier.each(|i, key, mut e| {
            let hit = earlier.hit[i as usize] && !earlier.superseded[i as usize];
            if written.is_err() || (!hit && !keep[i as usize]) {
                return;
            }
            if hit {
                e.used = now;
            }
            written = w.write_all(&e.encode(&key));
        });
        written?;
        let tmp = w.into_inner().map_err(|e| e.into_error())?;
        tmp.persist(path).map_err(|e| e.error)?;
        // what runs killed while saving left (a tester found one per kill -9, never removed)
        if let Some(dir) = self.dir() {
            symship_fs::sweep_stale(&dir, TEMP_PREFIX, STALE_TEMP);
        }
        Ok(())
    }
}

/// The prefix of the ledger's temporary files in the cache directory.
const TEMP_PREFIX: &str = ".inject-ledger-";

/// A temporary file in the cache directory older than this is a killed run's, not another run's
/// save in progress.
const STALE_TEMP: std::time::Duration = std::time::Duration::from_secs(60 * 60);

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

    /// What a save carries over: this run's records, the entries it answered from, the earlier
    /// file's others; a chunk seen again that could not be recorded loses its entry.
    #[test]
    #[allow(
        clippy::disallowed_methods,
        reason = "the test's own files in a temporary directory"
    )]
    fn a_save_keeps_records_hits_and_others_and_drops_what_was_seen_again() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cache").join("ledger.bin");
        let mode = ReleaseMode::Event;
        let files = |name: &str, text: &str| {
            let chunk = dir.path().join(format!("{name}.js"));
            let map = dir.path().join(format!("{name}.js.map"));
            std::fs::write(&chunk, text).unwrap();
            std::fs::write(&map, "{}").unwrap();
            let on_disk = OnDisk {
                source: symship_core::set::digest(text.as_bytes()),
                source_len: text.len() as u64,
                map: symship_core::set::digest(b"{}"),
                map_len: 2,
            };
            (chunk, map, on_disk)
        };
        let id = |n: u8| format!("0191e2a8-3c6f-7cc2-8b1e-6f2a4d5c9e0{n}");
        let pairs: Vec<_> = (1..=3u8)
            .map(|n| (n, files(&format!("c{n}"), &format!("f{n}();"))))
            .collect();
        let first = Ledger::load_in_background(&file);
        for (n, (chunk, map, on_disk)) in &pairs {
            first.record(chunk, map, &id(*n), on_disk, (true, true), mode, None);
        }
        first.save().unwrap();

        let second = Ledger::load_in_background(&file);
        assert_eq!(second.len(), 3);
        let (c1, m1, d1) = &pairs[0].1;
        assert_eq!(second.unchanged(c1, m1, mode, None), Some((id(1), *d1)));
        assert_eq!(second.unchanged(c1, m1, mode, Some("another release")), None);
        let (c2, m2, _) = files("c2", "g2();");
        let d2 = OnDisk {
            source: symship_core::set::digest(b"g2();"),
            ..pairs[1].1 .2
        };
        assert_eq!(second.unchanged(&c2, &m2, mode, None), None, "c2 changed");
        // (its map was written again too: a file this run did not write that changed since
        // the run started is not recorded)
        second.record(&c2, &m2, &id(2), &d2, (true, false), mode, None);
        second.save().unwrap();
        let again = Ledger::load_in_background(&file);
        assert_eq!(again.len(), 2, "c2 seen again, not recorded: its entry is gone");
        assert_eq!(again.unchanged(&c2, &m2, mode, None), None);
        again.record(&c2, &m2, &id(2), &d2, (true, true), mode, None);
        again.unchanged(c1, m1, mode, None).unwrap();
        let second = again;
        second.save().unwrap();

        let third = Ledger::load_in_background(&file);
        assert_eq!(
            third.len(),
            3,
            "c1 (answered from), c2 (recorded again), c3 (carried over)"
        );
        assert_eq!(third.unchanged(c1, m1, mode, None), Some((id(1), *d1)));
        assert_eq!(third.unchanged(&c2, &m2, mode, None), Some((id(2), d2)));
        let (c3, m3, d3) = &pairs[2].1;
        assert_eq!(third.unchanged(c3, m3, mode, None), Some((id(3), *d3)));
        // c3 seen again with an id that cannot be recorded: its entry goes
        third.record(c3, m3, "not-a-uuid", d3, (false, false), mode, None);
        third.save().unwrap();
        let fourth = Ledger::load_in_background(&file);
        assert_eq!(fourth.len(), 2);
        assert_eq!(fourth.unchanged(c3, m3, mode, None), None);
        assert_eq!(fourth.hits(), 0);
        assert!(fourth.unchanged(c1, m1, mode, None).is_some());
        assert_eq!(fourth.hits(), 1);
    }
}
