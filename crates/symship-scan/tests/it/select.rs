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

/// A directory link back to a directory above it (`sub/up -> ..`, `self.js -> .`) is no file the
/// scan would take, and what it leads to is walked already: it is not listed, whatever `--include`
/// says (a fresh tester: it was `symlink_loop` under every `--include`, so `--include a.js
/// --strict` failed and `--include '**/*.txt'` said "every file found was skipped"). The files
/// around it are found as before.
#[test]
fn a_directory_link_to_a_directory_above_is_not_listed() {
    let d = crate::tree_of(&["e2/a.js", "e2/sub/b.js"]);
    let root = d.path().join("e2");
    std::os::unix::fs::symlink("..", root.join("sub/up")).unwrap();
    std::os::unix::fs::symlink(".", root.join("self.js")).unwrap();
    for include in [&[][..], &["a.js"], &["**/*.txt"], &["sub/**"], &["**/*.js"]] {
        let sel = Selection {
            roots: vec![root.clone()],
            include: include.iter().map(|e| e.to_string()).collect(),
            ..Default::default()
        };
        let (_, skipped) = select(&sel).unwrap();
        assert!(skipped.is_empty(), "--include {include:?}: {skipped:?}");
    }
    let sel = Selection {
        roots: vec![root.clone()],
        ..Default::default()
    };
    assert_eq!(names(d.path(), &sel), ["e2/a.js", "e2/sub/b.js"]);
}

/// A link loop is a skip (`symlink_loop`) that the codes table says `--exclude` can leave out: two
/// file links to each other (`x.js <-> y.js`, excluded by name) are then not reported at all (a
/// fresh tester: they still were). Without the exclude they are. A directory link to its own
/// parent (`self -> .`) is never reported ([`a_directory_link_to_a_directory_above_is_not_listed`]).
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
    assert_eq!(skipped_with(&[]), ["x.js", "y.js"]);
    assert_eq!(skipped_with(&["x.js", "y.js"]), Vec::<String>::new());
    assert_eq!(skipped_with(&["self/**", "*.js.nothing"]), ["x.js", "y.js"]);
}

/// What `sel`'s walk skipped, sorted: (path below `root`, code, reason).
fn skip_rows(sel: &Selection, root: &std::path::Path) -> Vec<(String, String, String)> {
    let (_, skipped) = select(sel).unwrap();
    let mut got: Vec<(String, String, String)> = skipped
        .iter()
        .map(|s| {
            (
                s.path.strip_prefix(root).unwrap().to_string_lossy().into_owned(),
                s.reason.code().as_str().to_owned(),
                s.reason.to_string(),
            )
        })
        .collect();
    got.sort();
    got
}

/// Links that lead to no file. A loop of file links (`a.js -> b.js -> a.js`, and `self.js ->
/// self.js`) is `symlink_loop`, and a link whose target is missing (beside it, or through a
/// directory that is missing) is `broken_link`, naming the target: both were `unreadable` (the
/// walk reports them as I/O errors, not as the directory loop it knows). A link whose name is no
/// chunk's (`logo.png`, `theme.css`), or that `--include` leaves out, holds no chunk and is not
/// listed at all (each was listed, a fresh tester's `--include 'lib/**'` run among them). A link
/// named on its own (`--stdin`) is said the same way, and passed over under a name the scan does
/// not take (`logo.png` named on `--stdin` was `broken_link`).
#[test]
fn links_to_nothing_say_why_and_only_under_names_the_scan_takes() {
    use std::os::unix::fs::symlink;
    let d = crate::tree_of(&["dist/app.js", "dist/lib/keep.js"]);
    let root = d.path().join("dist");
    symlink("b.js", root.join("a.js")).unwrap();
    symlink("a.js", root.join("b.js")).unwrap();
    symlink("self.js", root.join("self.js")).unwrap();
    symlink("gone.js", root.join("dangling.js")).unwrap();
    symlink("../nowhere/x.js", root.join("lib/far.js")).unwrap();
    symlink("missing.png", root.join("logo.png")).unwrap();
    symlink("theme.css", root.join("theme.css")).unwrap();
    let skipped_with = |include: &[&str], paths: Vec<std::path::PathBuf>| {
        let sel = Selection {
            roots: if paths.is_empty() {
                vec![root.clone()]
            } else {
                Vec::new()
            },
            paths,
            include: include.iter().map(|e| e.to_string()).collect(),
            ..Default::default()
        };
        skip_rows(&sel, &root)
    };
    let got = skipped_with(&[], Vec::new());
    let codes: Vec<(&str, &str)> = got.iter().map(|(p, c, _)| (p.as_str(), c.as_str())).collect();
    assert_eq!(
        codes,
        [
            ("a.js", "symlink_loop"),
            ("b.js", "symlink_loop"),
            ("dangling.js", "broken_link"),
            ("lib/far.js", "broken_link"),
            ("self.js", "symlink_loop"),
        ]
    );
    let dangling = &got[2].2;
    assert!(
        dangling.contains("symbolic link to gone.js, which does not exist") && dangling.contains("--exclude"),
        "{dangling}"
    );
    assert!(got[0].2.contains("remove the loop"), "{}", got[0].2);
    // --include: the links it leaves out are not listed
    let got = skipped_with(&["lib/**"], Vec::new());
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        (got[0].0.as_str(), got[0].1.as_str()),
        ("lib/far.js", "broken_link")
    );
    // named on their own (--stdin): the same, so a link whose name is no chunk's is passed over as
    // a file of that name is (it was listed, and failed --strict), as is a missing path
    let got = skipped_with(
        &[],
        vec![
            root.join("dangling.js"),
            root.join("a.js"),
            root.join("logo.png"),
            root.join("theme.css"),
            root.join("missing.txt"),
        ],
    );
    let codes: Vec<(&str, &str)> = got.iter().map(|(p, c, _)| (p.as_str(), c.as_str())).collect();
    assert_eq!(codes, [("a.js", "symlink_loop"), ("dangling.js", "broken_link")]);
}

/// A chain of more than 40 links with no loop (`c0.js -> c1.js -> ... -> c44.js -> real.js`): the
/// system follows 40 links at most (`ELOOP`), so the first links of the chain lead to no file, but
/// they are no loop: the reason says the chain is too long to follow, not "part of a symbolic-link
/// loop ... remove the loop" (a fresh tester). Its code stays `symlink_loop` (the system's `ELOOP`).
/// The links at most 40 from the file are found; a real loop is still said to be one.
#[test]
fn a_chain_of_over_40_links_is_said_to_be_too_long_not_a_loop() {
    use std::os::unix::fs::symlink;
    let d = crate::tree_of(&["dist/real.js"]);
    let root = d.path().join("dist");
    let links = 45;
    for i in 0..links {
        let next = if i + 1 == links {
            "real.js".to_string()
        } else {
            format!("c{}.js", i + 1)
        };
        symlink(next, root.join(format!("c{i}.js"))).unwrap();
    }
    symlink("loop.js", root.join("loop.js")).unwrap();
    let reasons = |sel: Selection| skip_rows(&sel, &root);
    let walked = reasons(Selection {
        roots: vec![root.clone()],
        ..Default::default()
    });
    let named = reasons(Selection {
        paths: vec![root.join("c0.js"), root.join("loop.js")],
        ..Default::default()
    });
    let names: Vec<&str> = walked.iter().map(|(p, _, _)| p.as_str()).collect();
    // c0..c4 start chains of 45..41 links; c5 (40 links) is read as the file it leads to
    assert_eq!(names, ["c0.js", "c1.js", "c2.js", "c3.js", "c4.js", "loop.js"]);
    for got in [&walked, &named] {
        let (chain, looped) = (&got[0], got.last().unwrap());
        assert_eq!((chain.0.as_str(), chain.1.as_str()), ("c0.js", "symlink_loop"));
        assert!(
            chain.2.contains("more than 40 symbolic links") && !chain.2.contains("loop"),
            "{}",
            chain.2
        );
        assert_eq!(
            (looped.0.as_str(), looped.1.as_str()),
            ("loop.js", "symlink_loop")
        );
        assert!(looped.2.contains("remove the loop"), "{}", looped.2);
    }
}
