//! The repository's fixtures copied to temp dirs, generated builds, and listings of files.

use std::path::{Path, PathBuf};

/// The repository's root (the workspace).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// Copies the directory `src` into `dst` (created), recursively.
pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap_or_else(|e| panic!("{}: {e}", src.display())) {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
}

/// A fresh copy of the repository's `fixtures/<rel>` in a new temp dir (outside any git
/// repository): (the temp dir, which removes it when dropped; the copy, named as the last part
/// of `rel`).
pub fn fixture_copy(rel: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let name = Path::new(rel).file_name().expect("a fixture folder");
    let dir = tmp.path().join(name);
    copy_dir(&repo_root().join("fixtures").join(rel), &dir);
    (tmp, dir)
}

/// A fresh temp dir outside any git repository (asserted: no release comes from git) with each
/// `(fixture, destination)` of `files` copied from `fixtures/<fixture>` to `<dir>/<destination>`.
pub fn fixture_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Some(dir.path());
    while let Some(d) = p {
        assert!(
            !d.join(".git").exists(),
            "{} is inside a git repository",
            dir.path().display()
        );
        p = d.parent();
    }
    for (from, to) in files {
        let to = dir.path().join(to);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(repo_root().join("fixtures").join(from), &to)
            .unwrap_or_else(|e| panic!("fixtures/{from}: {e}"));
    }
    dir
}

/// (name, dist dir) of every committed bundler fixture (`fixtures/<name>/dist`), sorted.
pub fn fixtures() -> Vec<(String, PathBuf)> {
    let mut out: Vec<_> = std::fs::read_dir(repo_root().join("fixtures"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().join("dist").is_dir())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.path().join("dist"),
            )
        })
        .collect();
    out.sort();
    assert!(out.len() >= 6, "expected the committed fixtures, found {out:?}");
    out
}

/// Every file below `dir`, relative, sorted.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk(base, &e.path(), out);
            } else {
                out.push(e.path().strip_prefix(base).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Whether `p` names a JavaScript file (`.js`, `.mjs`, `.cjs`).
pub fn is_js(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("js" | "mjs" | "cjs"))
}

/// Writes `n` small distinct JS chunks `c<i>.js` with external maps (about `kib` KiB each) into
/// `dir`; `tag` makes the content (and so the chunk ids) differ between builds.
pub fn generate(dir: &Path, n: usize, kib: usize, tag: &str) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        let body: String = (0..kib * 10)
            .map(|k| format!("function {tag}{i}_{k}(a){{return a*{k}+{i}}}"))
            .collect::<Vec<_>>()
            .join(";");
        let js = format!("{body};\n//# sourceMappingURL=c{i}.js.map\n");
        let original: String = (0..kib * 10)
            .map(|k| format!("export function f{i}_{k}(a: number) {{ return a * {k} + {i}; }}\n"))
            .collect();
        let mappings = (0..kib * 10)
            .map(|k| if k == 0 { "AAAA" } else { "CAAC" })
            .collect::<Vec<_>>()
            .join(",");
        let map = serde_json::json!({
            "version": 3,
            "file": format!("c{i}.js"),
            "sources": [format!("src/c{i}.ts")],
            "sourcesContent": [original],
            "names": [],
            "mappings": mappings,
        });
        std::fs::write(dir.join(format!("c{i}.js")), js).unwrap();
        std::fs::write(
            dir.join(format!("c{i}.js.map")),
            serde_json::to_vec(&map).unwrap(),
        )
        .unwrap();
    }
}

/// Writes `n` tiny distinct JS chunks `c<i>.js` (one function each, sources `src/<tag><i>.ts`)
/// with external maps; `tag` makes their content (and so their chunk ids) differ between builds.
pub fn generate_tiny(dir: &Path, n: usize, tag: &str) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        let js = format!("function {tag}{i}(a){{return a*{i}}}\n//# sourceMappingURL=c{i}.js.map\n");
        let map = serde_json::json!({
            "version": 3,
            "file": format!("c{i}.js"),
            "sources": [format!("src/{tag}{i}.ts")],
            "sourcesContent": [format!("export function {tag}{i}(a: number) {{ return a * {i}; }}\n")],
            "names": [],
            "mappings": "AAAA",
        });
        std::fs::write(dir.join(format!("c{i}.js")), js).unwrap();
        std::fs::write(
            dir.join(format!("c{i}.js.map")),
            serde_json::to_vec(&map).unwrap(),
        )
        .unwrap();
    }
}

/// The chunk ids written into a build's `.js` files (`//# chunkId=`), with their file, sorted.
pub fn chunk_ids(dir: &Path) -> Vec<(String, PathBuf)> {
    fn walk(d: &Path, out: &mut Vec<(String, PathBuf)>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "js") {
                let text = std::fs::read_to_string(&p).unwrap();
                if let Some(line) = text.lines().find(|l| l.starts_with("//# chunkId=")) {
                    out.push((line["//# chunkId=".len()..].trim().to_owned(), p.clone()));
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

/// Writes `text` to `path`, creating its parent directories.
pub fn write(path: &Path, text: &str) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap();
    }
    std::fs::write(path, text).unwrap();
}

/// The process's umask, from `/proc/self/status` (Linux).
pub fn umask() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
    u32::from_str_radix(line["Umask:".len()..].trim(), 8).unwrap()
}

/// `path` has the mode `File::create` gives, 0666 less the umask (posthog-cli 0.19.0 writes its
/// extracted and downloaded files so; they were 0600, tempfile's mode: s9 tester, finding 17).
pub fn assert_created_mode(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666 & !umask(), "{}: {mode:o}", path.display());
}
