//! Atomic replacement with fresh temporary files, and the sweep of leftovers.

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::fault;
use crate::roots::{resolve_inside, OutsideRoot};

const TEMP_PREFIX: &str = ".symship-";
const TEMP_SUFFIX: &str = ".tmp";

/// Whether a file name is one of symship's temporary files, which only a killed run leaves
/// behind: `.symship-` + the 6 random letters and digits `tempfile` draws + `.tmp`, the same shape
/// since symship 0.1.0. A user's `.symship-notes.tmp` does not match.
pub fn is_temp_name(name: &OsStr) -> bool {
    name.to_str().is_some_and(|n| {
        n.strip_prefix(TEMP_PREFIX)
            .and_then(|n| n.strip_suffix(TEMP_SUFFIX))
            .is_some_and(|random| random.len() == 6 && random.bytes().all(|b| b.is_ascii_alphanumeric()))
    })
}

/// A write into a build that did not happen.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    OutsideRoot(#[from] OutsideRoot),
    #[error("cannot write {path}: {source}; check that the directory is writable and the disk is not full")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Atomically replaces (or creates) `path` with `bytes`, after checking that it resolves inside
/// `root` (see [`resolve_inside`]). Permissions of an existing file are kept.
pub fn write_within(root: &Path, path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let io = |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    };
    resolve_inside(path, root).map_err(io)??;
    write(path, bytes).map_err(io)
}

/// Like [`write`], but writes nothing when the file already holds `bytes` (its mtime stays).
/// Returns whether it wrote.
pub fn replace_if_changed(path: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    if fs::read(path).is_ok_and(|existing| existing == bytes) {
        return Ok(false);
    }
    write(path, bytes)?;
    Ok(true)
}

/// Atomically replaces (or creates) `path` with `bytes`: the content goes to a fresh temporary
/// file in the same directory, which then takes `path`'s place, so a crash or kill leaves either
/// the old or the new file under that name (and at worst a `.symship-*.tmp` file that [`sweep`]
/// removes). An existing file's permissions are kept; a symbolic link at `path` is replaced by
/// the file, what it pointed to stays.
///
/// On Linux an existing regular file with one link is swapped with the temporary one in one
/// `renameat2(RENAME_EXCHANGE)` and the old content, now under the temporary name, is unlinked.
/// A plain rename over an existing file makes ext4 (`auto_da_alloc`) start writing the new data
/// out at once, about 5x slower than an exchange with 4,000 files (bench/results/inject-*.md).
/// Elsewhere it is a plain rename. No fsync: build output is reproducible, and surviving a power
/// cut would cost a disk flush per file, which no peer pays; after a power cut or kernel crash
/// (not a killed process) run the build and inject again.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    replace(path, bytes, None)
}

/// The old contents that writes replaced, kept under their temporary names and removed together
/// by [`Replaced::remove_all`] (or when the value is dropped), instead of one by one right after
/// each exchange. Freeing many small files in one burst at the end costs ext4 less than
/// interleaving each free with the next allocation (bench/results/inject-ab-*.md). A kill in
/// between leaves them as `.symship-*.tmp` files, which the next run's [`sweep`] removes, as any
/// leftover; a finished run leaves none. The old contents held at once are bounded by
/// [`Replaced::MAX_HELD_BYTES`]: past that they are removed at once, so a large build never
/// needs twice its size on disk, and by [`Replaced::MAX_HELD_FILES`]: a build of many small files
/// does not hold every replaced file's path in memory (50,000 chunks and their maps held about
/// 8 MB of paths while inject ran).
#[derive(Debug, Default)]
pub struct Replaced {
    held: std::sync::Mutex<(Vec<PathBuf>, u64)>,
}

impl Replaced {
    /// Old contents held before they are removed (bytes, summed over the files).
    pub const MAX_HELD_BYTES: u64 = 256 * 1024 * 1024;
    /// Old contents held before they are removed (files): each removal is still one burst of
    /// this many frees, and their paths take about half a MiB.
    pub const MAX_HELD_FILES: usize = 4096;

    fn hold(&self, path: PathBuf, len: u64) {
        let full = {
            let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
            held.0.push(path);
            held.1 += len;
            held.1 > Self::MAX_HELD_BYTES || held.0.len() >= Self::MAX_HELD_FILES
        };
        if full {
            self.remove_all();
        }
    }

    /// Removes every old content held so far (each removal one write step of [`fault`]).
    /// Returns the paths that could not be removed (left for the next run's sweep).
    pub fn remove_all(&self) -> Vec<PathBuf> {
        let paths = {
            let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
            held.1 = 0;
            std::mem::take(&mut held.0)
        };
        let mut left = Vec::new();
        for p in paths {
            let removed = fs::remove_file(&p);
            fault::step();
            if removed.is_err() {
                left.push(p);
            }
        }
        left
    }
}

impl Drop for Replaced {
    fn drop(&mut self) {
        self.remove_all();
    }
}

/// Like [`write_within`], but the replaced content is handed to `replaced` for removal later.
pub fn write_within_deferred(
    root: &Path,
    path: &Path,
    bytes: &[u8],
    replaced: &Replaced,
) -> Result<(), WriteError> {
    let io = |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    };
    resolve_inside(path, root).map_err(io)??;
    replace(path, bytes, Some(replaced)).map_err(io)
}

fn replace(path: &Path, bytes: &[u8], deferred: Option<&Replaced>) -> std::io::Result<()> {
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
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX).suffix(TEMP_SUFFIX);
    // Whether the mode given at creation (less the umask) is not yet the old file's.
    let mut chmod = mode.is_some();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match &mode {
            // a new file gets what `File::create` gives (0666 less the umask: 0644 mostly), not
            // tempfile's 0600 (posthog-cli 0.19.0's downloads are 0644)
            None => {
                builder.permissions(fs::Permissions::from_mode(0o666));
            }
            // the old file's mode at creation: when the umask takes nothing from it, no
            // `fchmod` is needed after (one system call less per file written)
            Some(m) => {
                builder.permissions(m.clone());
                chmod = !created_as(m.mode());
            }
        }
    }
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.as_file_mut().write_all(bytes)?;
    if let Some(mode) = mode.filter(|_| chmod) {
        tmp.as_file().set_permissions(mode)?;
    }
    // From here the temporary file is ours to remove on every path (and the sweep's after a kill).
    let tmp = tmp.into_temp_path().keep().map_err(|e| e.error)?;
    fault::step();
    let swappable = existing.as_ref().is_some_and(|m| m.is_file() && nlink(m) == 1);
    if swappable && exchange(&tmp, path) {
        fault::step();
        // `tmp` now holds the old content, under a name no reader looks for.
        if let Some(later) = deferred {
            later.hold(tmp, existing.as_ref().map_or(0, |m| m.len()));
            return Ok(());
        }
        let removed = fs::remove_file(&tmp);
        fault::step();
        return removed;
    }
    let renamed = fs::rename(&tmp, path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    });
    fault::step();
    renamed
}

/// Whether a file created with `mode` gets exactly `mode`: no special bits (set-user-ID and
/// the like, which creation may drop), none that the umask takes away. The umask is read once
/// from `/proc/self/status` (Linux 4.7 and later); where it cannot be read, `false` (the mode is
/// then set after creation, as before).
#[cfg(unix)]
fn created_as(mode: u32) -> bool {
    static UMASK: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    let umask = UMASK.get_or_init(|| {
        let status = fs::read_to_string("/proc/self/status").ok()?;
        let value = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
        u32::from_str_radix(value.trim(), 8).ok()
    });
    umask.is_some_and(|u| mode & 0o7000 == 0 && mode & u == 0)
}

/// Removes a file (a symbolic link itself, not what it points to) as one write step (counted by
/// [`fault`]). Returns whether it existed: `Ok(false)` when it was already gone, which is fine
/// (a run killed after removing it, run again).
pub fn remove(path: &Path) -> std::io::Result<bool> {
    let r = match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    };
    fault::step();
    r
}

/// Removes the temporary files that killed runs left below `root` ([`is_temp_name`]) and returns
/// their paths. Call it while holding the [`crate::DirLock`] of `root`: then no other run is
/// writing there, and every such file is a leftover. Directories for which `skip_dir` is true
/// (such as `node_modules` when the scan skips it) are not entered; symbolic links are not
/// followed. Entries that cannot be read or removed are passed over.
pub fn sweep(root: &Path, skip_dir: &dyn Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let mut it = walkdir::WalkDir::new(root).into_iter();
    while let Some(entry) = it.next() {
        let Ok(entry) = entry else { continue };
        if entry.file_type().is_dir() {
            if entry.depth() > 0 && skip_dir(entry.path()) {
                it.skip_current_dir();
            }
            continue;
        }
        if entry.file_type().is_file()
            && is_temp_name(entry.file_name())
            && fs::remove_file(entry.path()).is_ok()
        {
            removed.push(entry.into_path());
        }
    }
    removed
}

/// Removes the temporary files that killed runs left in `dir` itself (not below it: the
/// directory of a file named on its own, or of the map it references) and returns their paths.
/// Call it under the [`crate::DirLock`] of `dir`, as [`sweep`].
pub fn sweep_dir(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| is_temp_name(&e.file_name()) && e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| fs::remove_file(p).is_ok())
        .collect()
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

/// Removes the temporary files named `<prefix>` + 6 random letters and digits (what `tempfile`
/// draws) in `dir` itself whose last change is over `older_than` ago, and returns their paths:
/// what a run killed while saving a cache file there left (the cache directory has no lock, so a
/// younger one may be another run's save in progress and is left). Entries that cannot be read
/// or removed are passed over.
pub fn sweep_stale(dir: &Path, prefix: &str, older_than: std::time::Duration) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let stale = |e: &fs::DirEntry| {
        let named = e.file_name().to_str().is_some_and(|n| {
            n.strip_prefix(prefix)
                .is_some_and(|random| random.len() == 6 && random.bytes().all(|b| b.is_ascii_alphanumeric()))
        });
        named
            && e.metadata().is_ok_and(|m| {
                m.is_file()
                    && m.modified()
                        .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > older_than))
            })
    };
    entries
        .flatten()
        .filter(stale)
        .map(|e| e.path())
        .filter(|p| fs::remove_file(p).is_ok())
        .collect()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn replaces_content_keeps_permissions_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.js");
        fs::write(&p, "old").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        write(&p, b"new").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o755);
        write(&dir.path().join("b.js"), b"b").unwrap();
        assert_eq!(fs::read(dir.path().join("b.js")).unwrap(), b"b");
        assert!(!replace_if_changed(&p, b"new").unwrap());
        assert!(replace_if_changed(&p, b"newer").unwrap());
        assert_eq!(names(dir.path()), ["a.js", "b.js"]);
        // modes the umask leaves whole (set at creation) and others (set after it): 0666 and
        // 0777 lose bits to the usual umask, 0o4755 and 0o1777 carry special bits
        for mode in [0o644, 0o600, 0o400, 0o666, 0o777, 0o4755, 0o1777] {
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
            write(&p, format!("{mode:o}").as_bytes()).unwrap();
            assert_eq!(fs::read(&p).unwrap(), format!("{mode:o}").as_bytes());
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
                mode,
                "{mode:o}"
            );
        }
        assert_eq!(names(dir.path()), ["a.js", "b.js"]);
    }

    /// Each write gets an inode of its own: the file that held the old content is never reused
    /// as another file's next content (two concurrent runs corrupted each other that way).
    #[test]
    fn every_write_gets_a_fresh_inode_and_old_inodes_are_not_reused() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.js");
        let b = dir.path().join("b.js");
        fs::write(&a, "a0").unwrap();
        fs::write(&b, "b0").unwrap();
        let mut open_old_a = fs::File::open(&a).unwrap();
        let old_a = fs::metadata(&a).unwrap().ino();
        write(&a, b"a1").unwrap();
        write(&b, b"b1").unwrap();
        assert_ne!(fs::metadata(&b).unwrap().ino(), old_a, "b took a's old inode");
        let mut seen = String::new();
        std::io::Read::read_to_string(&mut open_old_a, &mut seen).unwrap();
        assert_eq!(seen, "a0", "a reader of the old file keeps the old content");
        assert_eq!(names(dir.path()), ["a.js", "b.js"]);
    }

    #[test]
    fn deferred_old_contents_stay_until_removed_together() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.js");
        fs::write(&a, "a0").unwrap();
        let replaced = Replaced::default();
        write_within_deferred(dir.path(), &a, b"a1", &replaced).unwrap();
        write_within_deferred(dir.path(), &dir.path().join("new.js"), b"n", &replaced).unwrap();
        assert_eq!(fs::read(&a).unwrap(), b"a1");
        let names_now = names(dir.path());
        assert_eq!(names_now.len(), 3, "{names_now:?}");
        assert!(is_temp_name(names_now[0].as_ref()), "{names_now:?}");
        assert!(replaced.remove_all().is_empty());
        assert_eq!(names(dir.path()), ["a.js", "new.js"]);
        write_within_deferred(dir.path(), &a, b"a2", &replaced).unwrap();
        drop(replaced);
        assert_eq!(names(dir.path()), ["a.js", "new.js"]);
    }

    #[test]
    fn deferred_old_contents_are_removed_once_as_many_files_are_held_as_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.js");
        fs::write(&a, "a").unwrap();
        let replaced = Replaced::default();
        let temps = || {
            names(dir.path())
                .iter()
                .filter(|n| is_temp_name(n.as_ref()))
                .count()
        };
        for i in 1..Replaced::MAX_HELD_FILES {
            write_within_deferred(dir.path(), &a, format!("a{i}").as_bytes(), &replaced).unwrap();
        }
        assert_eq!(temps(), Replaced::MAX_HELD_FILES - 1, "held below the bound");
        write_within_deferred(dir.path(), &a, b"last", &replaced).unwrap();
        assert_eq!(temps(), 0, "removed together at the bound");
        assert_eq!(fs::read(&a).unwrap(), b"last");
        write_within_deferred(dir.path(), &a, b"after", &replaced).unwrap();
        assert_eq!(temps(), 1, "held again after the removal");
        drop(replaced);
        assert_eq!(names(dir.path()), ["a.js"]);
    }

    #[test]
    fn a_file_with_a_second_name_and_a_symlink_are_replaced_by_the_new_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("5.js"), "old 5").unwrap();
        fs::hard_link(dir.path().join("5.js"), dir.path().join("linked.txt")).unwrap();
        std::os::unix::fs::symlink("5.js", dir.path().join("alias.js")).unwrap();
        write(&dir.path().join("5.js"), b"new 5").unwrap();
        write(&dir.path().join("alias.js"), b"via alias").unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("linked.txt")).unwrap(),
            "old 5"
        );
        assert_eq!(fs::read_to_string(dir.path().join("5.js")).unwrap(), "new 5");
        assert_eq!(
            fs::read_to_string(dir.path().join("alias.js")).unwrap(),
            "via alias"
        );
        assert_eq!(names(dir.path()), ["5.js", "alias.js", "linked.txt"]);
    }

    #[test]
    fn sweep_removes_leftovers_only() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("assets");
        let nm = dir.path().join("node_modules");
        fs::create_dir_all(&sub).unwrap();
        fs::create_dir_all(&nm).unwrap();
        fs::write(sub.join(".symship-Ab12Cd.tmp"), "{\"sourcesContent\":[]}").unwrap();
        fs::write(dir.path().join(".symship-x9y8z7.tmp"), "").unwrap();
        fs::write(nm.join(".symship-q1w2e3.tmp"), "").unwrap();
        fs::write(sub.join("app.js"), "").unwrap();
        fs::write(sub.join(".symship.tmp"), "not ours: too short").unwrap();
        fs::write(sub.join(".symship-notes.tmp"), "a user's file").unwrap();
        fs::write(sub.join(".symship-ab_def.tmp"), "not tempfile's letters").unwrap();
        fs::write(sub.join("x.symship-abcdef.tmp"), "not ours").unwrap();
        let mut removed = sweep(dir.path(), &|p| p.ends_with("node_modules"));
        removed.sort();
        assert_eq!(
            removed,
            [
                dir.path().join(".symship-x9y8z7.tmp"),
                sub.join(".symship-Ab12Cd.tmp")
            ]
        );
        assert_eq!(
            names(&sub),
            [
                ".symship-ab_def.tmp",
                ".symship-notes.tmp",
                ".symship.tmp",
                "app.js",
                "x.symship-abcdef.tmp"
            ]
        );
        assert_eq!(names(&nm), [".symship-q1w2e3.tmp"]);
        // One directory, not below it.
        fs::write(sub.join(".symship-Zz9Yy8.tmp"), "").unwrap();
        assert_eq!(sweep_dir(&nm), [nm.join(".symship-q1w2e3.tmp")]);
        assert!(sweep_dir(dir.path()).is_empty());
        assert_eq!(names(&nm), Vec::<String>::new());
    }

    #[test]
    fn remove_says_whether_the_file_existed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.js.map");
        fs::write(&p, "{}").unwrap();
        assert!(remove(&p).unwrap());
        assert!(!remove(&p).unwrap());
        assert!(remove(dir.path()).is_err(), "a directory is not removed");
    }

    #[test]
    fn write_within_refuses_a_link_out_of_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("dist");
        fs::create_dir_all(&root).unwrap();
        fs::write(tmp.path().join("outside.js"), "outside").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("outside.js"), root.join("linked.js")).unwrap();
        let e = write_within(&root, &root.join("linked.js"), b"injected").unwrap_err();
        assert!(matches!(e, WriteError::OutsideRoot(_)), "{e}");
        assert_eq!(
            fs::read_to_string(tmp.path().join("outside.js")).unwrap(),
            "outside"
        );
        write_within(&root, &root.join("ok.js"), b"ok").unwrap();
        assert_eq!(fs::read_to_string(root.join("ok.js")).unwrap(), "ok");
    }
}

#[cfg(test)]
mod stale_tests {
    use super::*;

    #[test]
    fn only_old_temporaries_of_the_prefix_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 60 * 60);
        let make = |name: &str, old: bool| {
            let p = dir.path().join(name);
            fs::File::options().write(true).create_new(true).open(&p).unwrap();
            if old {
                fs::File::options()
                    .write(true)
                    .open(&p)
                    .unwrap()
                    .set_modified(hour_ago)
                    .unwrap();
            }
            p
        };
        let stale = make(".inject-ledger-Ab12cD", true);
        let young = make(".inject-ledger-Xy34zW", false);
        let other = make(".inject-ledger-notes", true);
        let kept = make("inject-ledger.bin", true);
        let removed = sweep_stale(
            dir.path(),
            ".inject-ledger-",
            std::time::Duration::from_secs(3600),
        );
        assert_eq!(removed, vec![stale.clone()]);
        assert!(!stale.exists());
        assert!(young.exists() && other.exists() && kept.exists());
    }
}
