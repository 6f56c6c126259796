//! Which files a selection finds.

use std::path::Path;

use symship_scan::{select, Selection};

fn tree() -> tempfile::TempDir {
    crate::tree_of(&[
        "dist/app.js",
        "dist/app.test.js",
        "dist/chunks/a.mjs",
        "dist/chunks/b.cjs",
        "dist/styles.css",
        "dist/data.json",
        "dist/node_modules/dep/index.js",
        "dist/.next/static/chunks/page.js",
    ])
}

fn names(root: &Path, sel: &Selection) -> Vec<String> {
    let (found, _) = select(sel).unwrap();
    let root = root.canonicalize().unwrap();
    let mut v: Vec<String> = found
        .iter()
        .map(|c| c.path.strip_prefix(&root).unwrap().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn walks_javascript_skips_node_modules_keeps_hidden_directories() {
    let d = tree();
    let sel = Selection {
        roots: vec![d.path().join("dist")],
        ..Default::default()
    };
    assert_eq!(
        names(d.path(), &sel),
        [
            "dist/.next/static/chunks/page.js",
            "dist/app.js",
            "dist/app.test.js",
            "dist/chunks/a.mjs",
            "dist/chunks/b.cjs"
        ]
    );
}

#[test]
fn include_and_exclude_globs() {
    let d = tree();
    let root = d.path().join("dist");
    let sel = Selection {
        roots: vec![root.clone()],
        exclude: vec!["**/*.test.js".into()],
        ..Default::default()
    };
    assert!(!names(d.path(), &sel).contains(&"dist/app.test.js".to_string()));
    let sel = Selection {
        roots: vec![root.clone()],
        include: vec!["**/chunks/**".into()],
        ..Default::default()
    };
    assert_eq!(
        names(d.path(), &sel),
        [
            "dist/.next/static/chunks/page.js",
            "dist/chunks/a.mjs",
            "dist/chunks/b.cjs"
        ]
    );
    // An include that names node_modules walks into it.
    let sel = Selection {
        roots: vec![root.clone()],
        include: vec!["**/node_modules/**".into()],
        ..Default::default()
    };
    assert_eq!(names(d.path(), &sel), ["dist/node_modules/dep/index.js"]);
    // A bad glob is an error naming the flag.
    let err = select(&Selection {
        roots: vec![root],
        include: vec!["a[".into()],
        ..Default::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("--include"), "{err}");
}

#[test]
fn overlapping_roots_files_and_extra_paths_are_found_once() {
    let d = tree();
    let dist = d.path().join("dist");
    let sel = Selection {
        roots: vec![dist.clone(), dist.join("chunks"), dist.join("app.js")],
        paths: vec![dist.join("chunks/a.mjs"), dist.join("missing.js")],
        ..Default::default()
    };
    let (found, skipped) = select(&sel).unwrap();
    assert_eq!(found.len(), 5, "{found:?}");
    assert_eq!(skipped.len(), 1, "the missing path is reported: {skipped:?}");
    // A root that does not exist is an error.
    assert!(select(&Selection {
        roots: vec![d.path().join("nope")],
        ..Default::default()
    })
    .is_err());
}

#[test]
fn an_exclude_applies_to_the_real_path_of_a_file_reached_through_a_link_inside_the_root() {
    let d = crate::tree_of(&["dist/real/main.js", "dist/keep/other.js"]);
    let root = d.path().join("dist");
    // a file link and a directory link to the excluded file, both inside the root
    std::os::unix::fs::symlink("real/main.js", root.join("app.js")).unwrap();
    std::os::unix::fs::symlink("real", root.join("alias")).unwrap();
    // relative to the root, and as the walk names the real file (the root as given, joined
    // with its path in the root)
    let as_walked = format!("{}/real/*.js", root.display());
    for exclude in ["**/real/**", "real/**", as_walked.as_str()] {
        let sel = Selection {
            roots: vec![root.clone()],
            exclude: vec![exclude.into()],
            ..Default::default()
        };
        assert_eq!(
            names(d.path(), &sel),
            ["dist/keep/other.js"],
            "--exclude {exclude}"
        );
        let (_, skipped) = select(&sel).unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
    }
    // without an exclude, the links still lead to the one file, found once
    let sel = Selection {
        roots: vec![root.clone()],
        ..Default::default()
    };
    assert_eq!(names(d.path(), &sel), ["dist/keep/other.js", "dist/real/main.js"]);
}

/// A link loop is a skip (`symlink_loop`) that the codes table says `--exclude` can leave out: a
/// directory link to its own parent (`self -> .`, excluded as `self` or `self/**`) and two file
/// links to each other (`x.js <-> y.js`, excluded by name) are then not reported at all (a fresh
/// tester: they still were). Without the exclude they are.
#[test]
fn an_excluded_link_loop_is_not_reported() {
    let d = crate::tree_of(&["dist/app.js"]);
    let root = d.path().join("dist");
    std::os::unix::fs::symlink(".", root.join("self")).unwrap();
    std::os::unix::fs::symlink("y.js", root.join("x.js")).unwrap();
    std::os::unix::fs::symlink("x.js", root.join("y.js")).unwrap();
    let skipped_with = |exclude: &[&str]| {
        let sel = Selection {
            roots: vec![root.clone()],
            exclude: exclude.iter().map(|e| e.to_string()).collect(),
            ..Default::default()
        };
        let (found, skipped) = select(&sel).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        let mut names: Vec<String> = skipped
            .iter()
            .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(skipped_with(&[]), ["self", "x.js", "y.js"]);
    assert_eq!(skipped_with(&["self", "x.js", "y.js"]), Vec::<String>::new());
    assert_eq!(skipped_with(&["self/**", "*.js.nothing"]), ["x.js", "y.js"]);
}
