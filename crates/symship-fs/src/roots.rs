//! Writes stay inside the scanned roots.

use std::path::{Path, PathBuf};

/// A path that would be written outside the directory it was found under.
#[derive(Debug, thiserror::Error)]
#[error(
    "{path} resolves to {resolved}, outside the scanned directory {root} (through a symbolic link); \
     symship does not write outside the directories it scans: pass the link's target directory \
     instead, or replace the link by the file"
)]
pub struct OutsideRoot {
    pub path: PathBuf,
    pub resolved: PathBuf,
    pub root: PathBuf,
}

/// Where `path` really is: its canonical form (every symbolic link resolved, the last component
/// too), or for a path that does not exist yet, its canonical parent joined with its name.
/// Errors: `Ok(Err(OutsideRoot))` when that place is not inside `root` (itself canonicalised);
/// `Err` when the path's directory cannot be resolved.
///
/// Directories are resolved once per run ([`canonical_dir`]): `realpath` costs a `readlink` per
/// component, and resolving every written file's directory and the root again made path lookups
/// the larger part of inject's CPU time on 4,000 small files (`strace -c`: 46,000 `readlink`s).
/// The file itself is looked at every time (one `lstat`): a symbolic link is resolved in full.
pub fn resolve_inside(path: &Path, root: &Path) -> std::io::Result<Result<PathBuf, OutsideRoot>> {
    let resolved = match canonicalize(path) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let name = path.file_name().ok_or(e)?;
            canonical_dir(parent_of(path))?.join(name)
        }
        Err(e) => return Err(e),
    };
    let root = canonical_dir(root).unwrap_or_else(|_| root.to_path_buf());
    Ok(if resolved.starts_with(&root) {
        Ok(resolved)
    } else {
        Err(OutsideRoot {
            path: path.to_path_buf(),
            resolved,
            root,
        })
    })
}

/// What [`Path::canonicalize`] returns (the file must exist; errors are its errors), with the
/// directories above the file resolved once per run: a file that is not a symbolic link costs one
/// `lstat`, not a `readlink` per component of its path. A symbolic link (or a path that names no
/// file, such as `dir/..`) is resolved in full.
pub fn canonicalize(path: &Path) -> std::io::Result<PathBuf> {
    match last_name(path) {
        Some(name) if !std::fs::symlink_metadata(path)?.file_type().is_symlink() => {
            Ok(canonical_dir(parent_of(path))?.join(name))
        }
        _ => path.canonicalize(),
    }
}

/// [`canonicalize`] of a file its directory listing says is no symbolic link (walkdir's
/// `path_is_symlink`, from the entry's `d_type`): its directory resolved once per run, joined with
/// its name, without the `lstat`. A path whose last component is no plain name (`..`, `.`) is
/// resolved in full.
pub fn canonicalize_listed(path: &Path) -> std::io::Result<PathBuf> {
    match last_name(path) {
        Some(name) => Ok(canonical_dir(parent_of(path))?.join(name)),
        None => canonicalize(path),
    }
}

/// The file name `path` ends with as written: none for `dir/`, `dir/.` and `dir/..` (they name a
/// directory, and `lstat` follows a link there).
fn last_name(path: &Path) -> Option<&std::ffi::OsStr> {
    path.file_name().filter(|n| {
        path.as_os_str()
            .as_encoded_bytes()
            .ends_with(n.as_encoded_bytes())
    })
}

fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// `dir.canonicalize()`, remembered for the rest of the process under the path as given (symship
/// never changes its working directory). Errors are not remembered.
pub fn canonical_dir(dir: &Path) -> std::io::Result<PathBuf> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static DIRS: OnceLock<Mutex<HashMap<PathBuf, PathBuf>>> = OnceLock::new();
    let dirs = DIRS.get_or_init(Default::default);
    if let Some(known) = dirs.lock().unwrap_or_else(|e| e.into_inner()).get(dir) {
        return Ok(known.clone());
    }
    let resolved = dir.canonicalize()?;
    dirs.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(dir.to_path_buf(), resolved.clone());
    Ok(resolved)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// Files that are no links themselves, in linked and plain directories (and names that
    /// are no plain file names), resolve as std resolves them.
    #[test]
    fn canonicalize_listed_agrees_with_std_for_files_that_are_no_links() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        std::fs::create_dir_all(real.join("sub")).unwrap();
        std::fs::write(real.join("sub/a.js"), "x").unwrap();
        std::os::unix::fs::symlink(&real, tmp.path().join("link")).unwrap();
        for p in [
            "real/sub/a.js",
            "link/sub/a.js",
            "real/sub/../sub/a.js",
            "link/sub/..",
            "link/.",
        ] {
            let p = tmp.path().join(p);
            assert_eq!(
                canonicalize_listed(&p).unwrap(),
                p.canonicalize().unwrap(),
                "{}",
                p.display()
            );
        }
    }

    #[test]
    fn canonicalize_agrees_with_std_on_files_links_and_odd_endings() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        std::fs::create_dir_all(real.join("sub")).unwrap();
        std::fs::write(real.join("sub/a.js"), "x").unwrap();
        std::os::unix::fs::symlink(&real, tmp.path().join("link")).unwrap();
        std::os::unix::fs::symlink(real.join("sub/a.js"), tmp.path().join("file-link.js")).unwrap();
        for p in [
            "real/sub/a.js",
            "link/sub/a.js",
            "file-link.js",
            "link",
            "link/",
            "link/.",
            "link/sub/..",
            "real/sub/../sub/a.js",
        ] {
            let p = tmp.path().join(p);
            assert_eq!(
                canonicalize(&p).unwrap(),
                p.canonicalize().unwrap(),
                "{}",
                p.display()
            );
            // asked again: the remembered directories give the same answer
            assert_eq!(
                canonicalize(&p).unwrap(),
                p.canonicalize().unwrap(),
                "{}",
                p.display()
            );
        }
        assert_eq!(
            canonicalize(&tmp.path().join("real/missing.js"))
                .unwrap_err()
                .kind(),
            std::io::ErrorKind::NotFound
        );
    }

    #[test]
    fn a_link_leading_out_of_the_root_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("dist");
        let outside = tmp.path().join("elsewhere");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("lib.js"), "x").unwrap();
        std::os::unix::fs::symlink(outside.join("lib.js"), root.join("lib.js")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("vendor")).unwrap();
        std::fs::write(root.join("app.js"), "x").unwrap();
        std::os::unix::fs::symlink(root.join("app.js"), root.join("alias.js")).unwrap();

        let e = resolve_inside(&root.join("lib.js"), &root).unwrap().unwrap_err();
        assert_eq!(e.resolved, outside.canonicalize().unwrap().join("lib.js"));
        assert!(e.to_string().contains("outside the scanned directory"), "{e}");
        // A directory link: a new file under it would land outside too.
        assert!(resolve_inside(&root.join("vendor/new.js"), &root)
            .unwrap()
            .is_err());
        // Inside the root, links and new files are fine.
        assert!(resolve_inside(&root.join("alias.js"), &root).unwrap().is_ok());
        assert!(resolve_inside(&root.join("new.js.map"), &root).unwrap().is_ok());
    }
}
