//! Atomic file replacement.

use std::fs;
use std::io::Write;
use std::path::Path;

/// Replaces `path` with `bytes` through a temporary file in the same directory and a rename, so a
/// crash or kill leaves either the old or the new file, never a partial one. The file's
/// permissions are kept. No fsync: the rename is atomic for every reader and against a killed
/// process; surviving a power cut as well would cost a disk flush per file, which no peer pays.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".symship-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    if let Ok(meta) = fs::metadata(path) {
        fs::set_permissions(tmp.path(), meta.permissions())?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Like [`write_atomically`], but writes nothing when the content is unchanged (the mtime stays).
/// Returns whether it wrote.
pub fn replace_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    if let Ok(existing) = fs::read(path) {
        if existing == bytes {
            return Ok(false);
        }
    }
    write_atomically(path, bytes)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_keeps_permissions_and_leaves_no_temporary_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.js");
        fs::write(&p, "old").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        write_atomically(&p, b"new").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o755);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a.js"]);
        // A new file works too.
        write_atomically(&dir.path().join("b.js"), b"b").unwrap();
        assert_eq!(fs::read(dir.path().join("b.js")).unwrap(), b"b");
        assert!(!replace_atomically(&p, b"new").unwrap());
    }
}
