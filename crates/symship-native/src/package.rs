//! The payload of an `AppleDsym`/`ElfDebugInfo` container: a zip with the slice's bytes as
//! `dwarf` at the root (`posthog-protocol.md` §6, posthog-cli 0.19.0's `into_upload` and
//! `zip_dwarf_binary`), deflated, written into an anonymous temporary file.
//!
//! The slice is streamed from its file through the deflater in 256 KiB reads, so memory stays
//! flat whatever its size; the zip is read back from the temporary file by the container writer.
//! Entries carry the zip epoch (1980-01-01) as their time, so the same input gives the same zip
//! and the same `content_hash` on every run.
//!
//! The zip is byte for byte the one posthog-cli 0.19.0 writes for the same slice (zip 2.4 with
//! `deflate-zlib`: stock zlib through flate2, level 6, raw Deflate, window 15, memLevel 8, no
//! timestamps; local headers patched in place, no data descriptors), so a set one tool uploaded is
//! `already_present` for the other. Both take zlib from the system (`libz.so.1`) where there is one:
//! on a machine whose libz is not stock zlib (zlib-ng as libz, a patched vendor libz) both tools'
//! streams follow it, and equal each other only when they run on the same machine. zlib's output
//! does not depend on how the input is split into writes, so streaming in 256 KiB reads gives the
//! bytes posthog-cli's one `write_all` of the whole file gives.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::Digest as _;
use zip::write::SimpleFileOptions;

use crate::inspect::Slice;

/// The zip entry holding the object's bytes.
pub const DWARF_ENTRY: &str = "dwarf";

/// A zip written to a temporary file (deleted when dropped).
#[derive(Debug)]
pub struct Zipped {
    /// Positioned anywhere; [`Zipped::reader`] rewinds it.
    file: File,
    /// Bytes of the zip.
    pub len: u64,
    /// SHA-256 of the slice's bytes as read into the zip.
    pub digest: [u8; 32],
}

impl Zipped {
    /// The zip from its first byte.
    pub fn reader(&mut self) -> io::Result<&mut File> {
        self.file.seek(SeekFrom::Start(0))?;
        Ok(&mut self.file)
    }
}

/// Why a slice could not be zipped.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is shorter than when it was inspected (it changed during the run); upload again once the build is done", .path.display())]
    Shrunk { path: PathBuf },
    /// Writing into the temporary file failed (the disk of `dir` is full, or it went away).
    #[error("cannot write the zip of {} into a temporary file in {}: {source}; free space there, or set TMPDIR \
             to a writable directory with room for the debug file", .path.display(), .dir.display())]
    Write {
        path: PathBuf,
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    /// No temporary file could be made in `dir` (missing, not a directory, not writable).
    #[error("cannot create a temporary file in {} for the zip of {}: {source}; set TMPDIR to an existing, \
             writable directory with room for the debug file", .dir.display(), .path.display())]
    TempDir {
        path: PathBuf,
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Where the zip and the spooled container of a debug file go: the temporary directory
/// (`TMPDIR`, else `/tmp`: [`std::env::temp_dir`]).
pub fn temp_dir() -> PathBuf {
    std::env::temp_dir()
}

/// A fresh anonymous temporary file in [`temp_dir`], for the zip of the debug file at `path`;
/// [`PackageError::TempDir`] names the directory when none can be made.
pub fn temp_file(path: &Path) -> Result<File, PackageError> {
    let dir = temp_dir();
    tempfile::tempfile_in(&dir).map_err(|source| PackageError::TempDir {
        path: path.to_path_buf(),
        dir,
        source,
    })
}

fn options(len: u64) -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .large_file(len >= u64::from(u32::MAX))
}

/// Zips `slice` (its byte range of its file) as [`DWARF_ENTRY`], plus `extra` entries (name,
/// bytes: the `__source/` bundle), into a fresh temporary file.
pub fn zip_slice(slice: &Slice, extra: &[(String, Vec<u8>)]) -> Result<Zipped, PackageError> {
    let read_err = |source| PackageError::Read {
        path: slice.path.clone(),
        source,
    };
    let write_err = |source| PackageError::Write {
        path: slice.path.clone(),
        dir: temp_dir(),
        source,
    };
    let zip_err = |e: zip::result::ZipError| write_err(io::Error::other(e));
    let mut input = File::open(&slice.path).map_err(read_err)?;
    input.seek(SeekFrom::Start(slice.offset)).map_err(read_err)?;
    let out = temp_file(&slice.path)?;
    let mut zip = zip::ZipWriter::new(out);
    zip.start_file(DWARF_ENTRY, options(slice.len)).map_err(zip_err)?;
    let mut hasher = sha2::Sha256::new();
    let mut left = slice.len;
    let mut buf = vec![0u8; 256 * 1024];
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = input.read(&mut buf[..want]).map_err(read_err)?;
        if n == 0 {
            return Err(PackageError::Shrunk {
                path: slice.path.clone(),
            });
        }
        hasher.update(&buf[..n]);
        zip.write_all(&buf[..n]).map_err(write_err)?;
        left -= n as u64;
    }
    for (name, bytes) in extra {
        zip.start_file(name.as_str(), options(bytes.len() as u64))
            .map_err(zip_err)?;
        zip.write_all(bytes).map_err(write_err)?;
    }
    let mut file = zip.finish().map_err(zip_err)?;
    let len = file.stream_position().map_err(write_err)?;
    Ok(Zipped {
        file,
        len,
        digest: hasher.finalize().into(),
    })
}

/// Why a payload could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("the symbol set's payload is not a valid zip: {0}")]
    Zip(String),
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Unpacks a native payload zip into `dir` (created), as posthog-cli 0.19.0's `extract_dsym_zip`
/// does: each entry at its name with every component other than a normal one (`..`, `.`, a
/// root) dropped; entries left empty are skipped. Entries are streamed to disk. Returns the
/// files written, in zip order.
pub fn unzip_into<R: Read + Seek>(zip_bytes: R, dir: &Path) -> Result<Vec<PathBuf>, ExtractError> {
    let mut archive = zip::ZipArchive::new(zip_bytes).map_err(|e| ExtractError::Zip(e.to_string()))?;
    let mut written = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| ExtractError::Zip(e.to_string()))?;
        let safe: PathBuf = Path::new(entry.name())
            .components()
            .filter_map(|c| match c {
                std::path::Component::Normal(p) => Some(p),
                _ => None,
            })
            .collect();
        if safe.as_os_str().is_empty() || entry.is_dir() {
            continue;
        }
        let path = dir.join(&safe);
        let werr = |source| ExtractError::Write {
            path: path.clone(),
            source,
        };
        let parent = path.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent).map_err(werr)?;
        let mut builder = tempfile::Builder::new();
        builder.prefix(".symship-").suffix(".tmp");
        // what `File::create` gives (0666 less the umask), as posthog-cli 0.19.0's extract
        // writes, not tempfile's 0600
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let mut tmp = builder.tempfile_in(parent).map_err(werr)?;
        io::copy(&mut entry, tmp.as_file_mut()).map_err(|e| match e.kind() {
            io::ErrorKind::InvalidData => ExtractError::Zip(e.to_string()),
            _ => werr(e),
        })?;
        tmp.persist(&path).map_err(|e| werr(e.error))?;
        written.push(path);
    }
    Ok(written)
}

/// What PostHog needs of a native payload (the test server's check): a zip whose `dwarf` entry is
/// one object of `format` (ELF, or one thin Mach-O slice) whose own debug id is `reference`.
/// `Err` says what is wrong. `dwarf` is unpacked into a temporary file to be inspected.
pub fn verify_payload(zip_bytes: &[u8], format: crate::Format, reference: &str) -> Result<(), String> {
    let mut archive =
        zip::ZipArchive::new(io::Cursor::new(zip_bytes)).map_err(|e| format!("not a zip: {e}"))?;
    let mut entry = archive
        .by_name(DWARF_ENTRY)
        .map_err(|_| format!("the zip has no `{DWARF_ENTRY}` entry at its root"))?;
    let mut tmp = tempfile::NamedTempFile::new().map_err(|e| format!("temporary file: {e}"))?;
    io::copy(&mut entry, tmp.as_file_mut()).map_err(|e| format!("cannot unpack `{DWARF_ENTRY}`: {e}"))?;
    let found = crate::inspect(tmp.path());
    match &found[..] {
        [crate::Finding::Slice(s)] if s.format != format => Err(format!(
            "`{DWARF_ENTRY}` is a {:?} file, not {format:?}",
            s.format
        )),
        [crate::Finding::Slice(s)] if s.offset != 0 => {
            Err(format!("`{DWARF_ENTRY}` is a fat Mach-O, not one slice"))
        }
        [crate::Finding::Slice(s)] if s.debug_id == reference => Ok(()),
        [crate::Finding::Slice(s)] => Err(format!(
            "`{DWARF_ENTRY}` has the debug id {}, not the ref {reference}",
            s.debug_id
        )),
        [] => Err(format!(
            "`{DWARF_ENTRY}` is not an ELF or Mach-O executable, library or debug file"
        )),
        [crate::Finding::Skipped { reason, .. }] => Err(format!("`{DWARF_ENTRY}` {reason}")),
        more => Err(format!(
            "`{DWARF_ENTRY}` holds {} objects (a fat Mach-O), not one slice",
            more.len()
        )),
    }
}
