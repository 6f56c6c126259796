//! Reading a build's files with as few system calls as their known sizes allow.

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Room left past an expected length, so a file that grew a little since it was measured (inject
/// adds a snippet of a few hundred bytes to a chunk and a `chunk_id` to its map) still fits the
/// first allocation.
fn slack(len: u64) -> usize {
    1024 + (len / 64) as usize
}

/// A file read through [`Read::read`] alone: `read_to_end` then asks the file for nothing but
/// its bytes (`File`'s own `read_to_end` first asks its size and position).
struct Plain<'a>(&'a File);

impl Read for Plain<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        (&mut &*self.0).read(buf)
    }
}

/// The whole content of `path`, like [`std::fs::read`]. With `expected` (bytes: the file's length
/// when the scan looked at it), the buffer is sized from it instead of from an `fstat` of the
/// open file: a file read whole takes `openat`, `read` until end of file and `close`. The length
/// is only a hint: a file that changed size since is read whole all the same.
pub fn read_sized(path: &Path, expected: Option<u64>) -> std::io::Result<Vec<u8>> {
    let Some(len) = expected.filter(|&l| l > 0 && l < usize::MAX as u64 / 2) else {
        return std::fs::read(path);
    };
    let file = File::open(path)?;
    let mut buf = Vec::with_capacity(len as usize + slack(len));
    Plain(&file).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Opens `path` for reading only when it is a regular file (after following links). A FIFO,
/// socket or device in its place is refused (`InvalidInput`) instead of read: opening a FIFO
/// waits for a writer, and a cache file replaced by one hung a run (a fresh tester). On Linux the
/// open itself does not block (`O_NONBLOCK`, which a regular file's reads ignore).
pub fn open_regular(path: &Path) -> std::io::Result<File> {
    #[cfg(target_os = "linux")]
    let file = {
        use std::os::unix::fs::OpenOptionsExt as _;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(path)?
    };
    #[cfg(not(target_os = "linux"))]
    let file = {
        if !std::fs::metadata(path)?.is_file() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        File::open(path)?
    };
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", path.display()),
        ));
    }
    Ok(file)
}

/// The whole content of `path` when it is a regular file ([`open_regular`]).
pub fn read_regular(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    Plain(&open_regular(path)?).read_to_end(&mut out)?;
    Ok(out)
}

/// Whether this process may read `path` (`access(R_OK)`: one system call, where opening and
/// closing the file takes two).
pub fn readable(path: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        rustix::fs::access(path, rustix::fs::Access::READ_OK).is_ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        File::open(path).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A FIFO where a file is expected is refused at once (no writer ever comes); a regular
    /// file, also through a link, opens.
    #[cfg(target_os = "linux")]
    #[test]
    fn open_regular_refuses_a_fifo_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("content-hashes.json");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
            0,
        )
        .unwrap();
        let err = open_regular(&fifo).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
        let file = dir.path().join("a.bin");
        std::fs::write(&file, b"x").unwrap();
        let link = dir.path().join("link.bin");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let mut s = String::new();
        open_regular(&link).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "x");
        assert!(open_regular(dir.path()).is_err(), "a directory");
    }

    /// Whatever the hint (none, exact, too small, too large), the bytes read are the file's.
    #[test]
    fn reads_the_whole_file_whatever_the_hint() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.js");
        let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &content).unwrap();
        for hint in [
            None,
            Some(0),
            Some(1),
            Some(4096),
            Some(200_000),
            Some(199_999),
            Some(10_000_000),
        ] {
            assert_eq!(read_sized(&p, hint).unwrap(), content, "hint {hint:?}");
        }
        std::fs::write(&p, b"").unwrap();
        assert!(read_sized(&p, Some(100)).unwrap().is_empty());
        assert!(read_sized(&dir.path().join("gone"), Some(5)).is_err());
        assert!(readable(&p));
        assert!(!readable(&dir.path().join("gone")));
    }
}
