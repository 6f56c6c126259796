//! [`NativeSet`]: one ELF file or Mach-O slice as a symbol set of the upload pipeline
//! (`symship_core::set::SymbolSet`): kind `AppleDsym` for Mach-O (dSYM DWARF files included),
//! `ElfDebugInfo` for ELF, ref = its debug id ([`crate::id`]), payload = the zip of
//! [`crate::package`], `content_hash` = the container's SHA-512 (as posthog-cli 0.19.0 sends it).
//!
//! Memory stays flat whatever the debug file's size: [`SymbolSet::prepare`] streams the slice
//! through the deflater into a temporary file, then that zip through zstd into a SHA-512 and
//! either memory (containers up to [`KEEP_BYTES`]) or a second temporary file (the spool).
//! [`SymbolSet::write_container`] reads the spool back when there is one (large inputs: no second
//! deflate of a gigabyte), else zips the slice again and refuses it if its bytes changed since
//! they were prepared. Only the container being sent (at most PostHog's 100 MiB) is ever held
//! whole.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Mutex;

use sha2::Digest as _;
use symship_core::container::{self, MAX_SET_BYTES};
use symship_core::kind::Kind;
use symship_core::set::{Context, Prepared, SetError, SymbolSet};

use crate::inspect::{Format, Slice};
use crate::package::{self, PackageError, Zipped};
use crate::source::{self, SourceOptions};

/// Containers up to this size (bytes) are kept in memory from preparation to transfer, when the
/// pipeline asks for small containers ([`Context::build_small`]).
pub const KEEP_BYTES: u64 = 8 * 1024 * 1024;

/// Slices of at least this many bytes keep their container in a temporary file between
/// preparation and transfer instead of being zipped again.
pub const SPOOL_FROM: u64 = 32 * 1024 * 1024;

/// One uploadable slice (see the module documentation).
#[derive(Debug)]
pub struct NativeSet {
    slice: Slice,
    /// Slices of at least this many bytes are spooled ([`SPOOL_FROM`]).
    spool_from: u64,
    /// `--include-source`: the `__source/` bundle goes into the zip.
    sources: Option<SourceOptions>,
    /// Source files the DWARF names that were left out of the bundle, and why.
    source_warnings: Mutex<Vec<String>>,
    /// The container written by `prepare`, for `write_container`: its hex SHA-512, its size and
    /// the file (deleted when dropped).
    spool: Mutex<Option<Spool>>,
}

#[derive(Debug)]
struct Spool {
    content_hash: String,
    len: u64,
    path: tempfile::TempPath,
}

impl NativeSet {
    /// The set of `slice` (as [`crate::discover`] or [`crate::inspect`] found it).
    pub fn new(slice: Slice) -> NativeSet {
        NativeSet {
            slice,
            spool_from: SPOOL_FROM,
            sources: None,
            source_warnings: Mutex::new(Vec::new()),
            spool: Mutex::new(None),
        }
    }

    /// Adds the `__source/` bundle of the files its DWARF names ([`crate::source`]).
    pub fn with_sources(mut self, opts: SourceOptions) -> NativeSet {
        self.sources = Some(opts);
        self
    }

    /// What was left out of its source bundle, and why (one line each; empty without
    /// `--include-source`).
    pub fn source_warnings(&self) -> Vec<String> {
        self.source_warnings.lock().expect("warnings lock").clone()
    }

    /// Spools the container of slices of at least `bytes` bytes (default [`SPOOL_FROM`]).
    pub fn with_spool_from(mut self, bytes: u64) -> NativeSet {
        self.spool_from = bytes;
        self
    }

    /// The slice it uploads.
    pub fn slice(&self) -> &Slice {
        &self.slice
    }

    /// Its kind, from the slice's format.
    pub fn kind_of(format: Format) -> Kind {
        match format {
            Format::Elf => Kind::ElfDebugInfo,
            Format::MachO => Kind::AppleDsym,
        }
    }

    /// Zips the slice (and its sources), refused as `changed_during_upload` if its file was
    /// written to, replaced or resized while it was read ([`Stamp`] before and after), or no
    /// longer has the length it had when inspected: a torn read is never uploaded.
    fn zip(&self) -> Result<Zipped, SetError> {
        let path = &self.slice.path;
        let before = Stamp::of(path).map_err(|e| SetError::unreadable(path, &e))?;
        // offset 0: the object is the whole file (a fat slice starts after the fat header)
        let whole_file = self.slice.offset == 0;
        if before.len < self.slice.offset + self.slice.len || whole_file && before.len != self.slice.len {
            return Err(SetError::changed(path));
        }
        let z = self.zip_unchecked()?;
        match Stamp::of(path) {
            Ok(after) if after == before => Ok(z),
            _ => Err(SetError::changed(path)),
        }
    }

    fn zip_unchecked(&self) -> Result<Zipped, SetError> {
        let extra = match &self.sources {
            None => Vec::new(),
            Some(opts) => {
                // DWARF that cannot be read for its paths is uploaded without sources
                let b = source::bundle(&self.slice, opts).unwrap_or_else(|e| source::SourceBundle {
                    entries: Vec::new(),
                    warnings: vec![format!("{e}; uploaded without its sources")],
                });
                *self.source_warnings.lock().expect("warnings lock") = b.warnings;
                b.entries
            }
        };
        package::zip_slice(&self.slice, &extra).map_err(failed)
    }

    fn container_err(&self, e: io::Error) -> SetError {
        SetError::container(&self.slice.path, &e)
    }
}

/// What changes when a file is written to, replaced or resized: its length, modification time
/// and (Unix) device, inode and status-change time, which a writer cannot set back.
#[derive(Debug, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    node: (u64, u64, i64, i64),
}

impl Stamp {
    fn of(path: &Path) -> io::Result<Stamp> {
        let m = std::fs::metadata(path)?;
        #[cfg(unix)]
        let node = {
            use std::os::unix::fs::MetadataExt as _;
            (m.dev(), m.ino(), m.ctime(), m.ctime_nsec())
        };
        Ok(Stamp {
            len: m.len(),
            modified: m.modified().ok(),
            #[cfg(unix)]
            node,
        })
    }
}

fn failed(e: PackageError) -> SetError {
    match e {
        PackageError::Read { path, source } => SetError::unreadable(&path, &source),
        PackageError::Shrunk { path } => SetError::changed(&path),
        // the message names the temporary directory and what to do
        e @ (PackageError::Write { .. } | PackageError::TempDir { .. }) => SetError::Failed {
            code: symship_core::Code::ContainerFailed,
            reason: e.to_string(),
        },
    }
}

/// Where a container is written: its SHA-512 and length are taken on the way.
struct Hashing<W> {
    out: W,
    hash: sha2::Sha512,
    len: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Writes the container of the zip `z` into `out`; returns `out`, the hex SHA-512 and the size.
fn container_into<W: Write>(kind: Kind, z: &mut Zipped, out: W) -> io::Result<(W, String, u64)> {
    let sink = Hashing {
        out,
        hash: sha2::Sha512::new(),
        len: 0,
    };
    let mut w = container::Writer::new(sink, kind, z.len)?;
    io::copy(z.reader()?, &mut w)?;
    let sink = w.finish()?;
    Ok((sink.out, crate::id::hex(&sink.hash.finalize()), sink.len))
}

impl SymbolSet for NativeSet {
    fn kind(&self) -> Kind {
        NativeSet::kind_of(self.slice.format)
    }

    fn path(&self) -> &Path {
        &self.slice.path
    }

    /// The debug id (known from inspection): a set too large to send is still named by it.
    fn reference(&self) -> Option<String> {
        Some(self.slice.debug_id.clone())
    }

    /// What a build of its container holds in memory at most: the container, which is smaller
    /// than the slice (deflate and zstd) and at most PostHog's limit; the slice itself is
    /// streamed from disk.
    fn input_len(&self) -> u64 {
        self.slice.len.min(MAX_SET_BYTES)
    }

    fn prepare(&self, cx: &Context<'_>) -> Result<Prepared, SetError> {
        let mut z = self.zip()?;
        let (container, content_hash, len) = if cx.build_small && z.len <= KEEP_BYTES {
            let cap = usize::try_from(z.len).unwrap_or(0) + container::HEADER_LEN + 1024;
            let (c, hash, len) = container_into(self.kind(), &mut z, Vec::with_capacity(cap))
                .map_err(|e| self.container_err(e))?;
            (Some(c), hash, len)
        } else if self.slice.len >= self.spool_from {
            let dir = package::temp_dir();
            let tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|source| {
                failed(PackageError::TempDir {
                    path: self.slice.path.clone(),
                    dir: dir.clone(),
                    source,
                })
            })?;
            let spool_err = |source| {
                failed(PackageError::Write {
                    path: self.slice.path.clone(),
                    dir: dir.clone(),
                    source,
                })
            };
            let (file, hash, len) =
                container_into(self.kind(), &mut z, io::BufWriter::new(tmp)).map_err(spool_err)?;
            let tmp = file.into_inner().map_err(|e| spool_err(e.into_error()))?;
            if len <= MAX_SET_BYTES {
                *self.spool.lock().expect("spool lock") = Some(Spool {
                    content_hash: hash.clone(),
                    len,
                    path: tmp.into_temp_path(),
                });
            }
            (None, hash, len)
        } else {
            let (_, hash, len) =
                container_into(self.kind(), &mut z, io::sink()).map_err(|e| self.container_err(e))?;
            (None, hash, len)
        };
        if len > MAX_SET_BYTES {
            return Err(SetError::TooLarge { bytes: len });
        }
        let container = container.filter(|c| c.len() as u64 <= KEEP_BYTES);
        Ok(Prepared {
            reference: self.slice.debug_id.clone(),
            release_id: cx.release_id,
            content_hash,
            hash_is_container: true,
            content_length: Some(len),
            container,
            digest: z.digest,
            check: z.digest,
            cached: false,
            input_bytes: self.slice.len,
            names_release: false,
        })
    }

    /// The spooled container if `prepared` is what was spooled (the bytes hashed are the bytes
    /// sent), else the slice zipped again, refused if it changed since it was prepared.
    fn write_container(&self, prepared: &Prepared) -> Result<Vec<u8>, SetError> {
        let spooled = self.spool.lock().expect("spool lock");
        if let Some(s) = spooled
            .as_ref()
            .filter(|s| s.content_hash == prepared.content_hash)
        {
            let mut out = Vec::with_capacity(usize::try_from(s.len).unwrap_or(0));
            File::open(&s.path)
                .and_then(|mut f| f.read_to_end(&mut out))
                .map_err(|e| self.container_err(e))?;
            return Ok(out);
        }
        drop(spooled);
        let mut z = self.zip()?;
        prepared.unchanged(&self.slice.path, z.digest, z.digest)?;
        let cap = prepared.content_length.unwrap_or(z.len) as usize + 64;
        let (c, _, _) = container_into(self.kind(), &mut z, Vec::with_capacity(cap))
            .map_err(|e| self.container_err(e))?;
        Ok(c)
    }
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "tests build fixtures in temporary directories"
)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use symship_core::release_mode::ReleaseMode;

    fn fixture(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/native")
            .join(rel)
    }

    fn slices(rel: &str) -> Vec<Slice> {
        slices_at(&fixture(rel))
    }

    fn slices_at(path: &Path) -> Vec<Slice> {
        crate::inspect(path)
            .into_iter()
            .filter_map(|f| match f {
                crate::Finding::Slice(s) => Some(s),
                crate::Finding::Skipped { .. } => None,
            })
            .collect()
    }

    fn cx(build_small: bool) -> Context<'static> {
        Context {
            mode: ReleaseMode::SymbolSet,
            release_id: Some(uuid::Uuid::from_u128(7)),
            build_small,
            memo: None,
        }
    }

    /// The zip inside a container, and its `dwarf` entry.
    fn dwarf_of(c: &[u8]) -> Vec<u8> {
        let payload = match container::read_any(c).unwrap() {
            container::Payload::AppleDsym(z) | container::Payload::ElfDebugInfo(z) => z,
            other => panic!("not a native payload: {other:?}"),
        };
        let mut zip = zip::ZipArchive::new(io::Cursor::new(payload)).unwrap();
        let names: Vec<String> = zip.file_names().map(str::to_owned).collect();
        assert_eq!(names, ["dwarf"]);
        let mut out = Vec::new();
        zip.by_name("dwarf").unwrap().read_to_end(&mut out).unwrap();
        out
    }

    fn refs() -> String {
        std::fs::read_to_string(fixture("refs.txt")).unwrap()
    }

    #[test]
    fn an_elf_file_is_sent_whole_under_its_debug_id() {
        let s = slices("elf/hello").remove(0);
        let set = NativeSet::new(s.clone());
        assert_eq!(set.kind(), Kind::ElfDebugInfo);
        let p = set.prepare(&cx(true)).unwrap();
        assert_eq!(p.reference, s.debug_id);
        assert!(refs().contains(&p.reference), "{} not in refs.txt", p.reference);
        assert_eq!(p.release_id, Some(uuid::Uuid::from_u128(7)));
        let c = p.container.clone().expect("a small container is kept");
        assert_eq!(container::describe(&c).unwrap().kind(), Some(Kind::ElfDebugInfo));
        assert_eq!(p.content_hash, container::content_hash(&c));
        assert_eq!(p.content_length, Some(c.len() as u64));
        assert_eq!(dwarf_of(&c), std::fs::read(&s.path).unwrap());
        // built again for the transfer: the same bytes
        assert_eq!(set.write_container(&p).unwrap(), c);
    }

    #[test]
    fn each_fat_slice_is_its_own_set_holding_only_its_bytes() {
        let fat = slices("macho/hello-fat.dSYM/Contents/Resources/DWARF/hello-fat");
        assert_eq!(fat.len(), 2);
        let file = std::fs::read(&fat[0].path).unwrap();
        for s in fat {
            let set = NativeSet::new(s.clone());
            assert_eq!(set.kind(), Kind::AppleDsym);
            let p = set.prepare(&cx(true)).unwrap();
            assert_eq!(p.reference, s.debug_id);
            assert_eq!(p.reference, p.reference.to_uppercase());
            assert!(refs().contains(&p.reference), "{} not in refs.txt", p.reference);
            let dwarf = dwarf_of(p.container.as_ref().unwrap());
            assert_eq!(dwarf, file[s.offset as usize..(s.offset + s.len) as usize]);
            // the thin slice lipo -thin gives (refs.txt records its SHA-256)
            let sha = crate::id::hex(&sha2::Sha256::digest(&dwarf));
            assert!(
                refs().contains(&sha),
                "{} ({}) {sha} not in refs.txt",
                s.debug_id,
                s.arch
            );
        }
    }

    #[test]
    fn without_build_small_or_when_large_the_container_is_not_held() {
        let s = slices("elf/hello").remove(0);
        let kept = NativeSet::new(s.clone()).prepare(&cx(true)).unwrap();
        // not kept, zipped again at transfer time
        let set = NativeSet::new(s.clone());
        let p = set.prepare(&cx(false)).unwrap();
        assert!(p.container.is_none());
        assert_eq!(p.content_hash, kept.content_hash);
        assert_eq!(set.write_container(&p).unwrap(), kept.container.clone().unwrap());
        // spooled: read back from the temporary file
        let set = NativeSet::new(s).with_spool_from(0);
        let p = set.prepare(&cx(false)).unwrap();
        assert!(p.container.is_none());
        assert!(set.spool.lock().unwrap().is_some());
        assert_eq!(p.content_hash, kept.content_hash);
        assert_eq!(set.write_container(&p).unwrap(), kept.container.unwrap());
    }

    #[test]
    fn a_slice_changed_after_preparing_is_refused_unless_spooled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hello");
        std::fs::copy(fixture("elf/hello"), &path).unwrap();
        let s = slices_at(&path).remove(0);
        let set = NativeSet::new(s.clone());
        let p = set.prepare(&cx(false)).unwrap();
        let spooled = NativeSet::new(s).with_spool_from(0);
        let sp = spooled.prepare(&cx(false)).unwrap();
        // same length, one byte different
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let e = set.write_container(&p).unwrap_err();
        assert!(
            matches!(&e, SetError::Failed { code, .. } if code == "changed_during_upload"),
            "{e:?}"
        );
        // the spool holds what was hashed: it is sent as it was prepared
        let c = spooled.write_container(&sp).unwrap();
        assert_eq!(container::content_hash(&c), sp.content_hash);
        // a file cut short while it is zipped is a change too
        std::fs::write(&path, &bytes[..100]).unwrap();
        let e = set.write_container(&p).unwrap_err();
        assert!(
            matches!(&e, SetError::Failed { code, .. } if code == "changed_during_upload"),
            "{e:?}"
        );
    }

    #[test]
    fn a_file_written_to_while_it_is_read_is_changed_during_upload() {
        // The ELF fixture with 24 MiB of pseudo-random bytes after its own (trailing bytes keep it
        // a valid ELF): reading and deflating it lasts long enough for the writer below, which
        // changes one byte every millisecond, to write while it is read.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hello-big");
        let mut bytes = std::fs::read(fixture("elf/hello")).unwrap();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..(24 << 20) / 8 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        std::fs::write(&path, &bytes).unwrap();
        let s = slices_at(&path).remove(0);
        assert_eq!(s.len, bytes.len() as u64);
        let set = NativeSet::new(s);
        let stop = std::sync::atomic::AtomicBool::new(false);
        let at = bytes.len() as u64 - 4096;
        let r = std::thread::scope(|sc| {
            sc.spawn(|| {
                use std::io::{Seek, SeekFrom};
                let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
                let mut i = 0u8;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    f.seek(SeekFrom::Start(at)).unwrap();
                    f.write_all(&[i]).unwrap();
                    i = i.wrapping_add(1);
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            });
            // let the writer start first
            std::thread::sleep(std::time::Duration::from_millis(20));
            let r = set.prepare(&cx(false));
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            r
        });
        match r {
            Err(SetError::Failed { code, reason }) => {
                assert_eq!(code, "changed_during_upload");
                assert!(reason.contains("hello-big"), "{reason}");
            }
            other => panic!("a torn read was not refused: {other:?}"),
        }
    }

    #[test]
    fn a_file_that_grew_since_it_was_inspected_is_changed_during_upload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hello");
        std::fs::copy(fixture("elf/hello"), &path).unwrap();
        let s = slices_at(&path).remove(0);
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"more").unwrap();
        drop(f);
        match NativeSet::new(s).prepare(&cx(true)) {
            Err(SetError::Failed { code, .. }) => assert_eq!(code, "changed_during_upload"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_container_over_the_limit_is_too_large() {
        // 120 MiB of random bytes: neither deflate nor zstd shrinks them below 100 MiB.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        let mut f = io::BufWriter::new(File::create(&path).unwrap());
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut block = vec![0u8; 1 << 20];
        for _ in 0..120 {
            for b in block.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b.copy_from_slice(&x.to_le_bytes());
            }
            f.write_all(&block).unwrap();
        }
        drop(f);
        let mut s = slices("elf/hello").remove(0);
        s.path = path;
        s.len = 120 << 20;
        let set = NativeSet::new(s);
        match set.prepare(&cx(true)) {
            Err(SetError::TooLarge { bytes }) => assert!(bytes > MAX_SET_BYTES, "{bytes}"),
            other => panic!("{other:?}"),
        }
        assert!(
            set.spool.lock().unwrap().is_none(),
            "nothing over the limit is spooled"
        );
    }
}
