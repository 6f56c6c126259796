//! Atomic file replacement.

use std::fs;
use std::io::Write;
use std::path::Path;

/// Replaces `path` with `bytes` through a temporary file in the same directory and a rename, so a
/// crash or kill leaves either the old or the new file, never a partial one. The file's
/// permissions are kept. Writes nothing when the content is unchanged (mtime stays).
pub fn replace_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    if let Ok(existing) = fs::read(path) {
        if existing == bytes {
            return Ok(false);
        }
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".symship-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_data()?;
    if let Ok(meta) = fs::metadata(path) {
        fs::set_permissions(tmp.path(), meta.permissions())?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(true)
}
