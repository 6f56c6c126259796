//! A memo of content hashes across runs, keyed by the content itself.
//!
//! Computing a pair's `content_hash` means parsing its map and hashing a canonical form of it
//! (event mode) or compressing the container (symbol-set mode): most of the CPU a re-run of an
//! unchanged build spends. The memo maps the SHA-256 of the chunk and of the map, as read, to
//! what that computation gave, so a run that meets the same bytes again reads and digests them and
//! skips the rest. Keys are digests of the content, never paths or timestamps: a changed file is a
//! miss, whatever its mtime says. Entries carry the version of the code that computed them.
//!
//! The file is JSON under the cache directory, replaced atomically; a missing, unreadable or
//! foreign file is an empty memo, and a failure to save only costs the next run time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Changes whenever what is computed (or how) may change: the crate version covers the hash
/// framing and the container writer (zstd) that this build links.
const FORMAT: &str = concat!("symship-hash-memo/2 symship-upload/", env!("CARGO_PKG_VERSION"));

/// How many entries the file keeps at least (the most recently used): ten builds of 2,000 chunks;
/// about 200 bytes each in memory. Every entry the saving run used is kept too, so a build of
/// more chunks than this is remembered whole (a re-run of 50,000 chunks found only 20,000).
pub const MAX_ENTRIES: usize = 20_000;

pub(crate) use symship_core::set::{CacheKey as Key, Cached as Value};

/// The key in memory and on disk: one SHA-256 of the mode, both digests and the run's release.
fn id(key: &Key) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(if key.symbol_set_mode { b"s" } else { b"e" });
    h.update(key.source);
    h.update(key.map);
    if let Some(r) = key.release_id {
        h.update(r.as_bytes());
    }
    h.finalize().into()
}

/// A [`Value`] in a fixed 140 bytes (ids as UUID bytes, hashes as bytes), so a memo of
/// [`MAX_ENTRIES`] stays a few MiB.
#[derive(Debug, Clone, Copy)]
struct Packed {
    chunk_id: [u8; 16],
    release_id: Option<[u8; 16]>,
    content_hash: [u8; 64],
    map_digest: [u8; 32],
    content_length: Option<u64>,
    /// Unix seconds of the last run that used the entry.
    used: u64,
    /// Read from the memo's file (an earlier run's), not computed by this run.
    earlier: bool,
}

/// A UUID's bytes, when `s` is exactly its lower-case hyphenated form (so it reads back equal).
pub(crate) fn uuid_bytes(s: &str) -> Option<[u8; 16]> {
    let u = Uuid::parse_str(s).ok()?;
    (u.hyphenated().to_string() == s).then(|| *u.as_bytes())
}

impl Packed {
    fn pack(v: &Value, used: u64) -> Option<Packed> {
        Some(Packed {
            chunk_id: uuid_bytes(&v.reference)?,
            release_id: match &v.release_id {
                None => None,
                Some(r) => Some(uuid_bytes(r)?),
            },
            content_hash: hex::decode(&v.content_hash).ok()?.try_into().ok()?,
            map_digest: v.check,
            content_length: v.content_length,
            used,
            earlier: false,
        })
    }

    fn unpack(&self) -> Value {
        Value {
            reference: Uuid::from_bytes(self.chunk_id).hyphenated().to_string(),
            release_id: self
                .release_id
                .map(|r| Uuid::from_bytes(r).hyphenated().to_string()),
            content_hash: hex::encode(self.content_hash),
            content_length: self.content_length,
            check: self.map_digest,
            earlier_run: self.earlier,
        }
    }
}

/// An entry as stored in the file.
#[derive(Serialize, Deserialize)]
struct Stored {
    chunk_id: String,
    release_id: Option<String>,
    content_hash: String,
    content_length: Option<u64>,
    map_digest: String,
    used: u64,
}

#[derive(Deserialize)]
struct File {
    format: String,
    entries: Loaded,
}

/// The entries of the file, packed as they are read (not first as strings: a memo of 50,000
/// entries held about 25 MB of strings while it loaded, more than the packed entries need).
struct Loaded(Table);

/// Entries in blocks of [`Table::BLOCK`], found through an index of the first 8 bytes of their key.
/// A `HashMap` of the entries themselves kept about a quarter of its buckets empty and, each time
/// it grew, held its old and new tables at once and wrote every entry anew: on a cold run of
/// 50,000 chunks, 12.6 MB at the end and a 6.3 MB jump in peak RSS when it doubled at 28,672.
/// Here the entries take 192 bytes each and never move; the index 16 bytes a bucket.
#[derive(Debug, Default)]
struct Table {
    blocks: Vec<Vec<([u8; 32], Packed)>>,
    /// A key's first 8 bytes (it is a SHA-256) -> the place in `blocks` of the first key that
    /// has them (another is looked for one entry after the other).
    index: HashMap<u64, u32>,
}

impl Table {
    const BLOCK: usize = 1024;

    fn short(key: &[u8; 32]) -> u64 {
        u64::from_le_bytes(key[..8].try_into().expect("8 bytes"))
    }

    fn len(&self) -> usize {
        self.blocks.iter().map(Vec::len).sum()
    }

    fn iter(&self) -> impl Iterator<Item = &([u8; 32], Packed)> {
        self.blocks.iter().flatten()
    }

    fn get_mut(&mut self, key: &[u8; 32]) -> Option<&mut Packed> {
        let at = *self.index.get(&Self::short(key))? as usize;
        if self.blocks[at / Self::BLOCK][at % Self::BLOCK].0 != *key {
            // another key with the same first 8 bytes holds the index: looked for one by one
            return self
                .blocks
                .iter_mut()
                .flatten()
                .find(|e| e.0 == *key)
                .map(|e| &mut e.1);
        }
        Some(&mut self.blocks[at / Self::BLOCK][at % Self::BLOCK].1)
    }

    fn insert(&mut self, key: [u8; 32], p: Packed) {
        if let Some(e) = self.get_mut(&key) {
            *e = p;
            return;
        }
        let at = self.len();
        if self.blocks.last().is_none_or(|b| b.len() == Self::BLOCK) {
            self.blocks.push(Vec::with_capacity(Self::BLOCK));
        }
        self.blocks.last_mut().expect("a block").push((key, p));
        self.index.entry(Self::short(&key)).or_insert(at as u32);
    }
}

impl<'de> Deserialize<'de> for Loaded {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Loaded, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = Loaded;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of memo entries")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Loaded, A::Error> {
                let mut out = Table::default();
                while let Some((k, v)) = a.next_entry::<String, Stored>()? {
                    if let Some((k, p)) = from_stored(&k, v) {
                        out.insert(k, p);
                    }
                }
                Ok(Loaded(out))
            }
        }
        d.deserialize_map(Entries)
    }
}

fn from_stored(k: &str, s: Stored) -> Option<([u8; 32], Packed)> {
    let key: [u8; 32] = hex::decode(k).ok()?.try_into().ok()?;
    let v = Value {
        reference: s.chunk_id,
        release_id: s.release_id,
        content_hash: s.content_hash,
        content_length: s.content_length,
        check: hex::decode(&s.map_digest).ok()?.try_into().ok()?,
        earlier_run: true,
    };
    let packed = Packed::pack(&v, s.used)?;
    Some((
        key,
        Packed {
            earlier: true,
            ..packed
        },
    ))
}

/// A save that would only move entries' last use by less than this is skipped (seconds): a
/// re-run of an unchanged build then writes nothing (10,000 entries: a 4 MB file written again
/// for nothing, about 40 ms), and which entries are the most recently used is known to a day,
/// which is all the cap ([`MAX_ENTRIES`], ten builds) needs.
pub const USE_REFRESH_SECS: u64 = 24 * 60 * 60;

/// Content hashes remembered across runs; shared by the preparation threads of one run.
#[derive(Debug, Default)]
pub struct HashMemo {
    path: Option<PathBuf>,
    /// The file being read on another thread ([`HashMemo::load_in_background`]); taken by the
    /// first use of `entries`.
    loading: Mutex<Option<std::thread::JoinHandle<Table>>>,
    entries: OnceLock<Mutex<Table>>,
    /// Unix seconds when this run's memo was loaded: entries used since are this run's.
    since: u64,
    /// Whether saving would change the file: an entry was added, or one was used whose last
    /// use on file is older than [`USE_REFRESH_SECS`].
    changed: AtomicBool,
}

/// The entries of the memo file at `path`: none when it is missing, unreadable or of another
/// version.
fn read_table(path: &Path) -> Table {
    // a regular file only: a FIFO in its place would block the run
    symship_fs::read_regular(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<File>(&b).ok())
        .filter(|f| f.format == FORMAT)
        .map(|f| f.entries.0)
        .unwrap_or_default()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl HashMemo {
    /// The memo stored at `path` (empty when there is none, or it is unreadable or of another
    /// version); [`HashMemo::save`] writes it back there.
    pub fn load(path: &Path) -> HashMemo {
        HashMemo {
            path: Some(path.to_path_buf()),
            entries: OnceLock::from(Mutex::new(read_table(path))),
            since: now(),
            ..HashMemo::default()
        }
    }

    /// [`HashMemo::load`], with the file read and parsed on a thread of its own while the caller
    /// goes on (a re-run's scan): the first use of the memo waits for it. 10,000 entries are a
    /// 4 MB file, about 40 ms to parse, which the scan of the same build hides.
    pub fn load_in_background(path: &Path) -> HashMemo {
        let owned = path.to_path_buf();
        let loading = std::thread::Builder::new()
            .name("memo-load".into())
            .spawn(move || read_table(&owned));
        match loading {
            Ok(handle) => HashMemo {
                path: Some(path.to_path_buf()),
                loading: Mutex::new(Some(handle)),
                since: now(),
                ..HashMemo::default()
            },
            // no thread to spare: read it here
            Err(_) => HashMemo::load(path),
        }
    }

    /// The entries, once the file is read (waiting for [`HashMemo::load_in_background`]'s thread).
    fn table(&self) -> &Mutex<Table> {
        self.entries.get_or_init(|| {
            let handle = self.loading.lock().expect("lock").take();
            // a loader that panicked leaves an empty memo, as an unreadable file does
            Mutex::new(handle.and_then(|h| h.join().ok()).unwrap_or_default())
        })
    }

    pub fn len(&self) -> usize {
        self.table().lock().expect("lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn get(&self, key: &Key) -> Option<Value> {
        let mut entries = self.table().lock().expect("lock");
        let p = entries.get_mut(&id(key))?;
        let now = now();
        if p.used.saturating_add(USE_REFRESH_SECS) <= now {
            self.changed.store(true, Ordering::Relaxed);
        }
        p.used = now;
        Some(p.unpack())
    }

    /// Remembers a result (one whose ids are not canonical UUIDs is not remembered).
    pub(crate) fn put(&self, key: Key, value: Value) {
        if let Some(p) = Packed::pack(&value, now()) {
            self.table().lock().expect("lock").insert(id(&key), p);
            self.changed.store(true, Ordering::Relaxed);
        }
    }

    /// Whether [`HashMemo::save`] would write the file (see [`USE_REFRESH_SECS`]).
    pub fn changed(&self) -> bool {
        self.changed.load(Ordering::Relaxed)
    }

    /// Writes the memo back (the [`MAX_ENTRIES`] most recently used entries), atomically, with
    /// the file readable by its owner only, when it [`changed`](HashMemo::changed); streamed from
    /// the entries in place.
    pub fn save(&self) -> std::io::Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        if !self.changed() {
            return Ok(());
        }
        let entries = self.table().lock().expect("lock");
        let mut kept: Vec<(&[u8; 32], &Packed)> = entries.iter().map(|(k, p)| (k, p)).collect();
        kept.sort_by_key(|e| std::cmp::Reverse(e.1.used));
        let this_run = kept.iter().filter(|e| e.1.used >= self.since).count();
        kept.truncate(MAX_ENTRIES.max(this_run));
        let file = FileOut {
            format: FORMAT,
            entries: Entries(&kept),
        };
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        create_private_dir(dir)?;
        // Streamed to a temporary file, then renamed over the old memo.
        let tmp = tempfile::Builder::new()
            .prefix(".content-hashes-")
            .tempfile_in(dir)?;
        let mut w = std::io::BufWriter::new(tmp);
        serde_json::to_writer(&mut w, &file).map_err(std::io::Error::other)?;
        let tmp = w.into_inner().map_err(|e| e.into_error())?;
        tmp.persist(path).map_err(|e| e.error)?;
        // what runs killed while saving left (an hour old: not another run's save in progress)
        symship_fs::sweep_stale(dir, ".content-hashes-", std::time::Duration::from_secs(60 * 60));
        Ok(())
    }
}

impl symship_core::set::HashCache for HashMemo {
    fn get(&self, key: &Key) -> Option<Value> {
        HashMemo::get(self, key)
    }
    fn put(&self, key: Key, value: Value) {
        HashMemo::put(self, key, value)
    }
}

#[derive(Serialize)]
struct FileOut<'a> {
    format: &'a str,
    entries: Entries<'a>,
}

struct Entries<'a>(&'a [(&'a [u8; 32], &'a Packed)]);

impl Serialize for Entries<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, p)| {
            let v = p.unpack();
            (
                hex::encode(k),
                Stored {
                    chunk_id: v.reference,
                    release_id: v.release_id,
                    content_hash: v.content_hash,
                    content_length: v.content_length,
                    map_digest: hex::encode(v.check),
                    used: p.used,
                },
            )
        }))
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
#[allow(
    clippy::disallowed_methods,
    reason = "tests build fixtures in temporary directories"
)]
mod tests {
    use super::*;
    use symship_core::release_mode::ReleaseMode;

    fn value(hash_byte: u8) -> Value {
        Value {
            reference: "0192d8a0-0000-7000-8000-000000000001".into(),
            release_id: Some("0192d8a0-0000-7000-8000-0000000000ff".into()),
            content_hash: hex::encode([hash_byte; 64]),
            content_length: Some(7),
            check: [0xab; 32],
            earlier_run: false,
        }
    }

    #[test]
    fn saved_entries_load_again_and_foreign_files_are_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/memo.json");
        let memo = HashMemo::load(&path);
        assert!(memo.is_empty());
        let k = Key::new([1; 32], [2; 32], ReleaseMode::Event, None);
        let k2 = Key::new([1; 32], [2; 32], ReleaseMode::SymbolSet, None);
        memo.put(k, value(1));
        // Ids that would not read back equal are not remembered.
        let upper = Value {
            reference: "0192D8A0-0000-7000-8000-000000000001".into(),
            ..value(2)
        };
        memo.put(Key::new([9; 32], [9; 32], ReleaseMode::Event, None), upper);
        assert_eq!(memo.len(), 1);
        // what this run computed is no earlier run's (a byte-identical copy meets it again)
        assert_eq!(memo.get(&k), Some(value(1)));
        memo.save().unwrap();
        let again = HashMemo::load(&path);
        let earlier = Value {
            earlier_run: true,
            ..value(1)
        };
        assert_eq!(again.get(&k), Some(earlier));
        assert_eq!(again.get(&k2), None, "the mode is part of the key");
        // symbol-set mode: so is the run's release (a rewritten snippet's map is sent with it);
        // event mode sends none
        let release = Some(Uuid::from_u128(7));
        again.put(k2, value(3));
        assert_eq!(
            again.get(&k2).map(|v| v.content_hash),
            Some(value(3).content_hash)
        );
        assert_eq!(
            again.get(&Key::new([1; 32], [2; 32], ReleaseMode::SymbolSet, release)),
            None
        );
        assert_eq!(Key::new([1; 32], [2; 32], ReleaseMode::Event, release), k);
        assert_eq!(
            again.get(&Key::new([1; 32], [3; 32], ReleaseMode::Event, None)),
            None
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the cache directory is private");
        }
        // Another version's file, garbage and a missing file all read as empty.
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace(FORMAT, "symship-hash-memo/0");
        std::fs::write(&path, text).unwrap();
        assert!(HashMemo::load(&path).is_empty());
        std::fs::write(&path, "{not json").unwrap();
        assert!(HashMemo::load(&path).is_empty());
        assert!(HashMemo::load(&dir.path().join("missing.json")).is_empty());
    }

    #[test]
    fn the_table_finds_every_key_even_when_keys_share_their_first_bytes() {
        let mut t = Table::default();
        let a = [1u8; 32];
        let mut b = a;
        b[31] = 2;
        t.insert(a, Packed::pack(&value(1), 1).unwrap());
        t.insert(b, Packed::pack(&value(2), 2).unwrap());
        assert_eq!(t.len(), 2);
        assert_eq!(t.get_mut(&a).map(|p| p.unpack()), Some(value(1)));
        assert_eq!(t.get_mut(&b).map(|p| p.unpack()), Some(value(2)));
        t.insert(b, Packed::pack(&value(3), 3).unwrap());
        assert_eq!(t.len(), 2, "a key stored again replaces its entry");
        assert_eq!(t.get_mut(&b).map(|p| p.unpack()), Some(value(3)));
        let key = |i: u32| {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_le_bytes());
            k[4] = 9;
            k
        };
        let n = Table::BLOCK as u32 * 2 + 5;
        for i in 0..n {
            t.insert(key(i), Packed::pack(&value(4), u64::from(i)).unwrap());
        }
        assert_eq!(t.len(), 2 + n as usize);
        assert_eq!(t.blocks.len(), 3);
        for i in [0, Table::BLOCK as u32, n - 1] {
            assert_eq!(t.get_mut(&key(i)).map(|p| p.used), Some(u64::from(i)));
        }
        let mut absent = key(n);
        absent[0] = 0xff;
        assert!(t.get_mut(&absent).is_none());
        assert_eq!(t.get_mut(&a).map(|p| p.unpack()), Some(value(1)));
    }

    #[test]
    fn keeps_every_entry_this_run_used_beyond_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memo.json");
        let memo = HashMemo::load(&path);
        let key = |i: u32, old: bool| {
            let mut source = [0u8; 32];
            source[..4].copy_from_slice(&i.to_le_bytes());
            source[4] = u8::from(old);
            Key::new(source, [0; 32], ReleaseMode::Event, None)
        };
        // entries of an earlier run, then more than MAX_ENTRIES used by this one
        for i in 0..10u32 {
            let mut p = Packed::pack(&value(4), 0).unwrap();
            p.used = 1 + u64::from(i);
            memo.table().lock().unwrap().insert(id(&key(i, true)), p);
        }
        let n = MAX_ENTRIES as u32 + 5;
        for i in 0..n {
            memo.put(key(i, false), value(5));
        }
        memo.save().unwrap();
        let again = HashMemo::load(&path);
        assert_eq!(again.len(), n as usize, "this run's entries, and no older one");
        assert!(again.get(&key(0, false)).is_some() && again.get(&key(n - 1, false)).is_some());
        assert!(again.get(&key(9, true)).is_none());
    }

    #[test]
    fn keeps_the_most_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memo.json");
        let memo = HashMemo::load(&path);
        for i in 0..(MAX_ENTRIES + 10) as u32 {
            let mut source = [0u8; 32];
            source[..4].copy_from_slice(&i.to_le_bytes());
            let mut p = Packed::pack(&value(3), 0).unwrap();
            p.used = u64::from(i) + 1;
            memo.table()
                .lock()
                .unwrap()
                .insert(id(&Key::new(source, [0; 32], ReleaseMode::Event, None)), p);
        }
        memo.changed.store(true, Ordering::Relaxed);
        memo.save().unwrap();
        let again = HashMemo::load(&path);
        assert_eq!(again.len(), MAX_ENTRIES);
        let oldest = Key::new([0; 32], [0; 32], ReleaseMode::Event, None);
        assert_eq!(
            again.get(&oldest),
            None,
            "the least recently used entries are dropped"
        );
        let mut newest = [0u8; 32];
        newest[..4].copy_from_slice(&((MAX_ENTRIES + 9) as u32).to_le_bytes());
        assert!(again
            .get(&Key::new(newest, [0; 32], ReleaseMode::Event, None))
            .is_some());
    }

    #[test]
    fn a_memo_read_in_the_background_is_the_file_and_an_unchanged_one_is_not_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memo.json");
        let k = Key::new([1; 32], [2; 32], ReleaseMode::Event, None);
        let memo = HashMemo::load_in_background(&path);
        assert!(memo.is_empty(), "no file yet");
        assert!(!memo.changed());
        memo.save().unwrap();
        assert!(!path.exists(), "nothing to save: no file written");
        memo.put(k, value(1));
        memo.save().unwrap();
        let written = std::fs::read(&path).unwrap();

        let again = HashMemo::load_in_background(&path);
        assert_eq!(again.len(), 1);
        assert!(again.get(&k).is_some());
        assert!(!again.changed(), "used within a day: the file's use time stands");
        // a stand-in for the file: were it written again, it would be the memo's JSON
        std::fs::write(&path, b"kept").unwrap();
        again.save().unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"kept",
            "an unchanged memo is not written"
        );

        // an entry last used over a day ago is written back with its new use
        let stale = HashMemo::load(&dir.path().join("none.json"));
        let mut p = Packed::pack(&value(2), 0).unwrap();
        p.used = now() - USE_REFRESH_SECS - 1;
        stale.table().lock().unwrap().insert(id(&k), p);
        assert!(stale.get(&k).is_some());
        assert!(stale.changed());
        assert!(!written.is_empty());
    }
}
