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
pub fn resolve_inside(path: &Path, root: &Path) -> std::io::Result<Result<PathBuf, OutsideRoot>> {
    let resolved = match path.canonicalize() {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let name = path.file_name().ok_or(e)?;
            parent.canonicalize()?.join(name)
        }
        Err(e) => return Err(e),
    };
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
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

#[cfg(all(test, unix))]
mod tests {
    use super::*;

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
