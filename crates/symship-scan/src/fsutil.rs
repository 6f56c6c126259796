//! Atomic file replacement.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Replaces files atomically, many at a time: each new content goes to a temporary file in the
/// target's directory, which then takes the target's place, so a crash or kill leaves either the
/// old or the new file under the target's name, never a partial one. Permissions are kept.
///
/// On Linux an existing regular file is swapped with the temporary one in one
/// `renameat2(RENAME_EXCHANGE)`. The old content, now under the temporary name, becomes the
/// temporary file of the next replacement in that directory, and whatever is left is unlinked
/// when the `Replacer` is dropped. (A reader that opened the old file before the swap and is still
/// reading it when its inode is reused may see it change, as with the in-place writes of the
/// peers; whoever opens the name sees a whole file, old or new. [`write_atomically`] reuses
/// nothing.) Two costs of the plain write-then-rename are avoided that way, both measured on ext4
/// with 4,000 files (bench/results/inject-*.md): `auto_da_alloc`, which makes every rename over
/// an existing file start writing the new data out at once (about 5x slower than writing in
/// place), and allocating a fresh inode per file, which on a file system with many recently
/// deleted files scans for free inodes under a lock (about 7x slower than reusing one).
/// Elsewhere (another OS, a file system that cannot exchange, a new file, a symlink or a file
/// with several links) it is a plain rename. No fsync either way: build output is reproducible,
/// and surviving a power cut as well would cost a disk flush per file, which no peer pays. So
/// after a power cut or a kernel crash (not a killed process) a replaced file may hold stale or
/// partial data, as with the peers' in-place writes; run the build and inject again then.
#[derive(Default)]
pub struct Replacer {
    /// Per directory: temporary files holding replaced content, ready to be overwritten.
    spares: Mutex<HashMap<PathBuf, Vec<PathBuf>>>,
}

impl Replacer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Atomically replaces (or creates) `path` with `bytes`.
    pub fn write(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let existing = fs::symlink_metadata(path).ok();
        // The mode the new file gets: the old file's (through a symlink, its target's).
        let mode = match &existing {
            Some(m) if m.file_type().is_symlink() => fs::metadata(path).ok().map(|m| m.permissions()),
            Some(m) => Some(m.permissions()),
            None => None,
        };
        let spare = self.spares.lock().expect("lock").get_mut(dir).and_then(Vec::pop);
        let tmp = match spare {
            // Overwritten, then cut to length: truncating to zero first would make ext4 write
            // the data out when the file is closed (auto_da_alloc again).
            Some(spare) => match fs::OpenOptions::new().write(true).open(&spare) {
                Ok(mut f) => match write_into(&mut f, bytes, mode.clone())
                    .and_then(|()| f.set_len(bytes.len() as u64))
                {
                    Ok(()) => spare,
                    Err(e) => {
                        let _ = fs::remove_file(&spare);
                        return Err(e);
                    }
                },
                Err(_) => {
                    let _ = fs::remove_file(&spare);
                    fresh(dir, bytes, mode.clone())?
                }
            },
            None => fresh(dir, bytes, mode.clone())?,
        };
        let recyclable = existing.as_ref().is_some_and(|m| m.is_file() && nlink(m) == 1);
        if recyclable && exchange(&tmp, path) {
            // `tmp` now holds the old content, in a file no other name links to.
            self.spares
                .lock()
                .expect("lock")
                .entry(dir.to_path_buf())
                .or_default()
                .push(tmp);
            return Ok(());
        }
        fs::rename(&tmp, path).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })
    }
}

impl Drop for Replacer {
    fn drop(&mut self) {
        let spares = std::mem::take(self.spares.get_mut().unwrap_or_else(|e| e.into_inner()));
        for p in spares.into_values().flatten() {
            let _ = fs::remove_file(p);
        }
    }
}

/// Writes the new content into an open temporary file and gives it the target's permissions.
fn write_into(f: &mut fs::File, bytes: &[u8], mode: Option<fs::Permissions>) -> std::io::Result<()> {
    f.write_all(bytes)?;
    if let Some(mode) = mode {
        f.set_permissions(mode)?;
    }
    Ok(())
}

/// A new temporary file in `dir` holding `bytes`; the caller owns (and removes) the path.
fn fresh(dir: &Path, bytes: &[u8], mode: Option<fs::Permissions>) -> std::io::Result<PathBuf> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".symship-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    write_into(tmp.as_file_mut(), bytes, mode)?;
    let (_, path) = tmp.into_parts();
    Ok(path.keep()?)
}

#[cfg(unix)]
fn nlink(m: &fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::nlink(m)
}

#[cfg(not(unix))]
fn nlink(_: &fs::Metadata) -> u64 {
    1
}

/// Swaps two existing paths atomically; false when the system cannot (nothing changed then).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> bool {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).is_ok()
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> bool {
    false
}

/// Replaces one file atomically (see [`Replacer`]).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    Replacer::new().write(path, bytes)
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

    #[test]
    fn many_replacements_in_one_directory_leave_only_the_targets() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        for i in 0..20 {
            fs::write(dir.path().join(format!("{i}.js")), format!("old {i}")).unwrap();
        }
        fs::set_permissions(dir.path().join("3.js"), fs::Permissions::from_mode(0o751)).unwrap();
        // A file with a second name: replacing it must not write through the other name.
        fs::hard_link(dir.path().join("5.js"), dir.path().join("linked.txt")).unwrap();
        // A symlink is replaced by a file; what it pointed to stays.
        std::os::unix::fs::symlink("0.js", dir.path().join("alias.js")).unwrap();
        let r = Replacer::new();
        r.write(&dir.path().join("alias.js"), b"via alias").unwrap();
        for round in 0..3 {
            for i in 0..20 {
                r.write(
                    &dir.path().join(format!("{i}.js")),
                    format!("new {i} {round}").as_bytes(),
                )
                .unwrap();
            }
        }
        drop(r);
        for i in 0..20 {
            assert_eq!(
                fs::read_to_string(dir.path().join(format!("{i}.js"))).unwrap(),
                format!("new {i} 2")
            );
        }
        assert_eq!(
            fs::read_to_string(dir.path().join("linked.txt")).unwrap(),
            "old 5"
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("alias.js")).unwrap(),
            "via alias"
        );
        assert!(!fs::symlink_metadata(dir.path().join("alias.js"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            fs::metadata(dir.path().join("3.js"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o751
        );
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names.len(), 22, "no temporary file left: {names:?}");
        assert!(names.iter().all(|n| !n.ends_with(".tmp")));
    }

    #[test]
    fn a_reader_of_the_old_file_keeps_the_old_content() {
        use std::io::Read;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.js.map");
        fs::write(&p, "old content").unwrap();
        let mut open = fs::File::open(&p).unwrap();
        write_atomically(&p, b"new").unwrap();
        write_atomically(&p, b"newer").unwrap();
        let mut seen = String::new();
        open.read_to_string(&mut seen).unwrap();
        assert_eq!(
            seen, "old content",
            "the file was replaced, not rewritten in place"
        );
        assert_eq!(fs::read(&p).unwrap(), b"newer");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
