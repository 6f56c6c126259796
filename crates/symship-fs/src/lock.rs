//! One writer per build directory: advisory locks (`flock`) on the directories themselves, so no
//! lock file is ever added to a build.

use std::collections::BTreeMap;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

/// What to do when another run holds a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Wait for it to finish (the default; `on_wait` is told once per directory).
    Block,
    /// Fail at once with [`LockError::Busy`] (`--no-wait`).
    NoWait,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another symship run is writing to {dir}; wait for it to finish, or run again without --no-wait to wait for it"
    )]
    Busy { dir: PathBuf },
    #[error("cannot lock {dir}: {source}")]
    Io { dir: PathBuf, source: std::io::Error },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Shared,
    Exclusive,
}

/// Locks held for the life of the value: exclusive on each root directory, shared on each of its
/// ancestors. A run on `dist` and one on `dist/assets` thus exclude each other (both would write
/// `dist/assets`), while runs on `app1/dist` and `app2/dist` do not. Every run takes its locks in
/// the same order (by path, ancestors first), so two runs cannot deadlock.
///
/// The lock is `flock(2)` (through `std::fs::File::lock`) on the directory itself: advisory,
/// released by the kernel when the process ends however it ends, and honoured by other symship
/// runs only. Directories that cannot be opened (an ancestor without read permission) are not
/// locked; a root that cannot be opened is an error.
#[derive(Debug)]
pub struct DirLock {
    _held: Vec<File>,
}

impl DirLock {
    /// Locks `roots` (directories; a file stands for its parent directory). `on_wait` is called
    /// with a directory another run holds, before waiting for it.
    pub fn acquire<P: AsRef<Path>>(
        roots: &[P],
        wait: Wait,
        on_wait: &mut dyn FnMut(&Path),
    ) -> Result<DirLock, LockError> {
        let mut wanted: BTreeMap<PathBuf, Mode> = BTreeMap::new();
        for root in roots {
            let Ok(mut dir) = root.as_ref().canonicalize() else {
                // A root that does not exist is reported by the scan, which comes next.
                continue;
            };
            if !dir.is_dir() {
                dir.pop();
            }
            for ancestor in dir.ancestors().skip(1) {
                wanted.entry(ancestor.to_path_buf()).or_insert(Mode::Shared);
            }
            wanted.insert(dir, Mode::Exclusive);
        }
        let mut held = Vec::with_capacity(wanted.len());
        for (dir, mode) in wanted {
            let file = match File::open(&dir) {
                Ok(f) => f,
                Err(_) if mode == Mode::Shared => continue,
                Err(source) => return Err(LockError::Io { dir, source }),
            };
            let tried = match mode {
                Mode::Shared => file.try_lock_shared(),
                Mode::Exclusive => file.try_lock(),
            };
            match tried {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    if wait == Wait::NoWait {
                        return Err(LockError::Busy { dir });
                    }
                    on_wait(&dir);
                    let locked = match mode {
                        Mode::Shared => file.lock_shared(),
                        Mode::Exclusive => file.lock(),
                    };
                    locked.map_err(|source| LockError::Io {
                        dir: dir.clone(),
                        source,
                    })?;
                }
                // A file system without locks (some network mounts): go on unlocked, as a run
                // before the lock existed did.
                Err(TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => continue,
                Err(TryLockError::Error(source)) => return Err(LockError::Io { dir, source }),
            }
            held.push(file);
        }
        Ok(DirLock { _held: held })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(roots: &[&Path]) -> Result<DirLock, LockError> {
        DirLock::acquire(roots, Wait::NoWait, &mut |_| panic!("NoWait never waits"))
    }

    #[test]
    fn a_root_held_by_one_run_is_busy_for_another_and_free_again_after() {
        let tmp = tempfile::tempdir().unwrap();
        let dist = tmp.path().join("dist");
        let assets = dist.join("assets");
        let other = tmp.path().join("other");
        std::fs::create_dir_all(&assets).unwrap();
        std::fs::create_dir_all(&other).unwrap();

        let first = take(&[&dist]).unwrap();
        let busy = take(&[&dist]).unwrap_err();
        assert!(
            matches!(&busy, LockError::Busy { dir } if *dir == dist.canonicalize().unwrap()),
            "{busy}"
        );
        // A directory inside a held one is held too; an unrelated one is not.
        assert!(matches!(take(&[&assets]), Err(LockError::Busy { .. })));
        let unrelated = take(&[&other]).unwrap();
        drop(first);
        let inner = take(&[&assets]).unwrap();
        // The outer directory waits for the inner run now.
        assert!(matches!(take(&[&dist]), Err(LockError::Busy { .. })));
        drop((inner, unrelated));
        take(&[&dist, &assets.join("x.js")]).unwrap();
    }

    #[test]
    fn a_blocked_run_says_so_then_waits_for_the_lock() {
        let tmp = tempfile::tempdir().unwrap();
        let dist = tmp.path().join("dist");
        std::fs::create_dir_all(&dist).unwrap();
        let first = take(&[&dist]).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let d = dist.clone();
        let waiter = std::thread::spawn(move || {
            let mut told = Vec::new();
            let lock = DirLock::acquire(&[&d], Wait::Block, &mut |dir| {
                told.push(dir.to_path_buf());
                tx.send(()).unwrap();
            });
            (lock.is_ok(), told)
        });
        rx.recv().unwrap();
        drop(first);
        let (ok, told) = waiter.join().unwrap();
        assert!(ok);
        assert_eq!(told, [dist.canonicalize().unwrap()]);
    }
}
