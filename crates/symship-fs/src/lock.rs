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

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
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
#[derive(Debug, Default)]
pub struct DirLock {
    held: BTreeMap<PathBuf, (File, Mode)>,
}

/// The directories to lock for `roots` (canonical): each root exclusive, its ancestors shared.
fn wanted<P: AsRef<Path>>(roots: &[P]) -> BTreeMap<PathBuf, Mode> {
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
    wanted
}

impl DirLock {
    /// Locks `roots` (directories; a file stands for its parent directory). `on_wait` is called
    /// with a directory another run holds, before waiting for it.
    pub fn acquire<P: AsRef<Path>>(
        roots: &[P],
        wait: Wait,
        on_wait: &mut dyn FnMut(&Path),
    ) -> Result<DirLock, LockError> {
        let mut lock = DirLock::default();
        lock.take(wanted(roots), wait, on_wait)?;
        Ok(lock)
    }

    /// Whether a run holding this lock may write into `dir` (canonical): it is a root locked
    /// exclusive, or inside one (another run writing there would need that root shared).
    pub fn covers(&self, dir: &Path) -> bool {
        dir.ancestors()
            .any(|d| matches!(self.held.get(d), Some((_, Mode::Exclusive))))
    }

    /// Adds `roots` to the lock without waiting: a directory that another run holds gives
    /// [`LockError::Busy`] (locks added before it stay held until the value is dropped). Taking a
    /// lock after others are held could deadlock with a run that takes them the other way round,
    /// so a caller that would rather wait drops this lock and acquires everything again, in order.
    pub fn extend<P: AsRef<Path>>(&mut self, roots: &[P]) -> Result<(), LockError> {
        let want: BTreeMap<PathBuf, Mode> = wanted(roots)
            .into_iter()
            .filter(|(dir, mode)| {
                let held = self.held.get(dir).map(|(_, m)| *m);
                !self.covers(dir) && held < Some(*mode)
            })
            .collect();
        self.take(want, Wait::NoWait, &mut |_| {})
    }

    fn take(
        &mut self,
        wanted: BTreeMap<PathBuf, Mode>,
        wait: Wait,
        on_wait: &mut dyn FnMut(&Path),
    ) -> Result<(), LockError> {
        for (dir, mode) in wanted {
            // A directory held shared and now wanted exclusive is converted on the same handle
            // (flock on another handle of this process would conflict with our own lock).
            let file = match self.held.remove(&dir) {
                Some((f, _)) => f,
                None => match File::open(&dir) {
                    Ok(f) => f,
                    Err(_) if mode == Mode::Shared => continue,
                    Err(source) => return Err(LockError::Io { dir, source }),
                },
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
            self.held.insert(dir, (file, mode));
        }
        Ok(())
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
    fn extend_adds_a_directory_elsewhere_or_says_it_is_busy() {
        let tmp = tempfile::tempdir().unwrap();
        let dist = tmp.path().join("dist");
        let maps = tmp.path().join("maps");
        std::fs::create_dir_all(dist.join("assets")).unwrap();
        std::fs::create_dir_all(&maps).unwrap();
        let mut first = take(&[&dist]).unwrap();
        assert!(first.covers(&dist.canonicalize().unwrap().join("assets")));
        assert!(!first.covers(&maps.canonicalize().unwrap()));
        // A directory inside a held root needs nothing more; one elsewhere is added.
        first.extend(&[dist.join("assets")]).unwrap();
        first.extend(&[&maps]).unwrap();
        assert!(first.covers(&maps.canonicalize().unwrap()));
        assert!(matches!(take(&[&maps]), Err(LockError::Busy { .. })));
        drop(first);
        let other = take(&[&maps]).unwrap();
        let mut second = take(&[&dist]).unwrap();
        assert!(
            matches!(second.extend(&[&maps]), Err(LockError::Busy { dir }) if dir == maps.canonicalize().unwrap())
        );
        drop(other);
        // The parent of held roots, held shared so far, is converted to exclusive.
        second.extend(&[&maps, &tmp.path().to_path_buf()]).unwrap();
        assert!(second.covers(&tmp.path().canonicalize().unwrap()));
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
