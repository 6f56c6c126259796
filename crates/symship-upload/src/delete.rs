//! `--delete-after` (spec §5.5): once a run is over, clean up the files of each symbol set the
//! server verifiably holds, as its kind says ([`symship_core::set::SymbolSet::cleanup`], carried
//! in [`crate::ChunkReport::cleanup`]; sets of kinds that keep their files are not looked at).
//! For web chunks: remove the `sourceMappingURL` line from the chunk, but only if the file is
//! unchanged since it was read for the upload, and delete a map only when every chunk of this run
//! that references it was verified. A map that holds nothing (skipped as `empty_map`: Turbopack's index maps without
//! sections, Nuxt's empty maps) goes too, with its chunk's reference, as posthog-cli does: there is
//! nothing to upload, and it must not be deployed. CSS stylesheets are not uploaded: those the
//! selection picks (the same roots, named files and `--include`/`--exclude` as the chunks, as
//! posthog-cli 0.19.0 does) lose their `sourceMappingURL` comment and their map (the file the
//! comment names, else `<name>.css.map`, inside their root) only after a run with no failure that
//! landed something; otherwise their maps stay, named.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::report::UploadReport;
use sha2::{Digest, Sha256};

/// What `delete_after` did and did not do.
#[derive(Debug, Default, Clone)]
pub struct DeleteOutcome {
    /// Chunks whose `sourceMappingURL` line was removed.
    pub stripped: Vec<PathBuf>,
    /// Files deleted (maps of chunks, and CSS maps).
    pub deleted: Vec<PathBuf>,
    /// Files left alone, and why.
    pub kept: Vec<(PathBuf, String)>,
}

/// A file operation that failed (the run's other files were still handled).
#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    #[error("--delete-after: could not {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl DeleteError {
    /// The registry's code: `read_failed`, `rewrite_failed` or `delete_failed`.
    pub fn code(&self) -> symship_core::Code {
        let DeleteError::Io { action, .. } = self;
        match *action {
            "read" => symship_core::Code::ReadFailed,
            "rewrite" => symship_core::Code::RewriteFailed,
            _ => symship_core::Code::DeleteFailed,
        }
    }
}

/// A JavaScript chunk without its last `sourceMappingURL` comment (the one its map was paired
/// through) and the other references of its trailing comment block (which would become live),
/// or `None` when it has none. Only a real comment is removed (text in a string, template
/// literal or regex is code), and no line that code is on moves: the comment's own line goes only
/// when nothing but comments follows it. The removal says which other references it took out
/// and which one it left (see [`symship_scan::pair::sourcemap_reference_removal`]).
pub fn strip_js_reference(text: &str) -> Option<(String, symship_scan::pair::ReferenceRemoval)> {
    let removal = symship_scan::pair::sourcemap_reference_removal(text)?;
    Some((removal.apply(text), removal))
}

/// The last `/*# sourceMappingURL=… */` (or legacy `/*@`) comment of a stylesheet: its byte range
/// (the comment, `/*` to `*/`) and its value, trimmed. Read as posthog-cli 0.19.0 reads CSS
/// (`content.rs`, `css_sourcemap_reference_range`): text in a quoted string (escapes followed) or
/// inside another comment is no reference, wherever on the line the comment is (a one-line,
/// minified stylesheet ends with it, without a line break before it). `None` when there is none,
/// or when a comment is never closed.
pub fn css_reference(text: &str) -> Option<(std::ops::Range<usize>, &str)> {
    const PREFIXES: [&str; 2] = ["/*# sourceMappingURL=", "/*@ sourceMappingURL="];
    let bytes = text.as_bytes();
    let (mut i, mut quote, mut found) = (0, None, None);
    while i < bytes.len() {
        match (quote, bytes[i]) {
            (_, b'\\') => i += 2,
            (Some(q), b) => {
                if b == q {
                    quote = None;
                }
                i += 1;
            }
            (None, b @ (b'"' | b'\'')) => {
                quote = Some(b);
                i += 1;
            }
            (None, b'/') if bytes.get(i + 1) == Some(&b'*') => {
                let end = i + 2 + text[i + 2..].find("*/")? + 2;
                if let Some(p) = PREFIXES.iter().find(|p| text[i..end].starts_with(*p)) {
                    found = Some((i..end, text[i + p.len()..end - 2].trim()));
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    found
}

/// A stylesheet without its `sourceMappingURL` comment ([`css_reference`]), or `None` when it has
/// none. A comment alone on its line goes with that line and its line break; one that shares its
/// line with code or another comment (the end of a minified stylesheet) goes alone: no other byte
/// changes (posthog-cli 0.19.0's `css_sourcemap_reference_removal_range`).
pub fn strip_css_reference(text: &str) -> Option<String> {
    let (comment, _) = css_reference(text)?;
    let line_start = text[..comment.start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[comment.end..]
        .find('\n')
        .map_or(text.len(), |i| comment.end + i + 1);
    let range = if text[line_start..comment.start].trim().is_empty()
        && text[comment.end..line_end].trim().is_empty()
    {
        line_start..line_end
    } else {
        comment
    };
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..range.start]);
    out.push_str(&text[range.end..]);
    Some(out)
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Applies `--delete-after` to the result of a run. `stylesheets` are the CSS files the
/// selection picked (each with the root its map may not leave; [`symship_scan::Matcher::Stylesheet`]):
/// cleaned up only when no set failed and at least one was verified on the server (or had an empty
/// map), else their maps are named in [`DeleteOutcome::kept`]. `skipped` are the maps of chunks the run skipped before the upload (scan or inject:
/// `bad_map`, `not_utf8`, ...), each with why its chunk was skipped: such a map is never deleted
/// (its chunk still references it, and nothing of it was uploaded), and each is named in
/// [`DeleteOutcome::kept`] (issue 13 kind 4: they stayed without a word).
pub fn delete_after(
    report: &UploadReport,
    stylesheets: &[symship_scan::Candidate],
    skipped: &[(PathBuf, String)],
) -> (DeleteOutcome, Vec<DeleteError>) {
    let mut out = DeleteOutcome::default();
    let mut errors = Vec::new();
    // file to delete -> every set naming it is verified and unchanged
    let mut files: BTreeMap<PathBuf, bool> = BTreeMap::new();
    // some set of the run is on the server (CSS is cleaned up only then)
    let mut landed = false;
    for c in report.chunks.iter().filter(|c| c.has_cleanup()) {
        let cleanup = c.cleanup();
        let mut ok = report.is_verified(c) || c.status.is_empty_map() || is_verified_copy(report, c);
        landed |= ok;
        if !ok {
            out.kept.push((
                c.source.to_path_buf(),
                format!(
                    "not verified on the server ({}{})",
                    c.status.code(),
                    match c.status {
                        crate::Status::AlreadyPresent if report.presence_unverified => " with --skip-on-conflict",
                        crate::Status::KeptDifferent => {
                            ": the server holds different content under its chunk id, and --skip-on-conflict kept it"
                        }
                        _ => "",
                    }
                ),
            ));
        } else if cleanup.strip_reference {
            match strip_one(&c.source, c.source_digest) {
                Ok(Some(Some(removal))) => {
                    out.stripped.push(c.source.to_path_buf());
                    name_other_references(&c.source, &cleanup.delete, &removal, &mut out);
                }
                Ok(Some(None)) => {}
                Ok(None) => {
                    ok = false;
                    out.kept.push((
                        c.source.to_path_buf(),
                        "changed since it was read for the upload; left as it is".into(),
                    ));
                }
                Err(e) => {
                    ok = false;
                    errors.push(e);
                }
            }
        }
        for file in cleanup.delete {
            *files.entry(file).or_insert(true) &= ok;
        }
    }
    for (map, why) in skipped {
        for (file, ok) in files.iter_mut() {
            if same_file(file, map) {
                *ok = false;
            }
        }
        if !out.kept.iter().any(|(k, _)| same_file(k, map)) {
            out.kept.push((map.clone(), why.clone()));
        }
    }
    let mut link_targets = Vec::new();
    for (file, ok) in files {
        if !ok {
            // (a kind that deletes its own file has it named once, with the set's reason)
            if !out.kept.iter().any(|(k, _)| same_file(k, &file)) {
                out.kept
                    .push((file, "a chunk referencing it was not verified uploaded".into()));
            }
            continue;
        }
        // A map reached through a symbolic link: the link is the set's file and goes (`remove`
        // unlinks it, never its target); the target stays, named, as it may be in the build.
        let target = std::fs::symlink_metadata(&file)
            .is_ok_and(|m| m.file_type().is_symlink())
            .then(|| symship_fs::canonicalize(&file).ok())
            .flatten();
        match symship_fs::remove(&file) {
            Ok(true) => {
                if let Some(target) = target {
                    link_targets.push((file.clone(), target));
                }
                out.deleted.push(file)
            }
            // Already gone (a run killed after deleting it): nothing deleted by this run.
            Ok(false) => {}
            Err(source) => errors.push(DeleteError::Io {
                action: "delete",
                path: file,
                source,
            }),
        }
    }
    for (link, target) in link_targets {
        if target.exists() {
            out.kept.push((
                target,
                format!(
                    "the symbolic link {} to it was deleted (the file the chunk referenced); the file a link points to is never deleted",
                    link.display()
                ),
            ));
        }
    }
    let css_blocked = if report.has_failures() {
        Some("the run had failures; CSS maps are deleted only after a run whose uploads all succeeded")
    } else if !landed {
        Some("the run uploaded nothing; CSS maps are deleted only after a run that uploaded its chunks")
    } else {
        None
    };
    css_cleanup(stylesheets, css_blocked, &mut out, &mut errors);
    (out, errors)
}

/// A byte-identical copy of a verified chunk (a build that writes one chunk under two names): the
/// server holds its symbol set under the same chunk id, so its reference can go too.
fn is_verified_copy(report: &UploadReport, c: &crate::ChunkReport) -> bool {
    let crate::Status::Duplicate { of } = &c.status else {
        return false;
    };
    report.chunks.iter().any(|o| {
        *o.source == **of
            && report.is_verified(o)
            && o.same_chunk_id(c)
            && o.source_digest.is_some()
            && o.source_digest == c.source_digest
    })
}

/// Names in `out.kept` what a chunk's removal left behind: a reference still in the file, and
/// the files of earlier references it removed (this run did not upload them, so it does not
/// delete them, but they may be deployed).
fn name_other_references(
    chunk: &Path,
    deleting: &[PathBuf],
    removal: &symship_scan::pair::ReferenceRemoval,
    out: &mut DeleteOutcome,
) {
    if let Some(left) = &removal.left {
        out.kept.push((
            chunk.to_owned(),
            format!("its reference `{left}` stays: code follows that sourceMappingURL comment, so removing it could move lines of code; browsers now read that reference"),
        ));
    }
    let dir = chunk.parent().unwrap_or(Path::new(""));
    for value in &removal.earlier {
        let Some(file) = symship_scan::pair::referenced_path(dir, value) else {
            continue;
        };
        if file.is_file() && !deleting.iter().any(|d| same_file(d, &file)) {
            out.kept.push((
                file,
                format!(
                    "an earlier sourceMappingURL comment of {} named it (removed with the one the map was paired through); this run did not upload it, so it is left on disk",
                    chunk.display()
                ),
            ));
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b || symship_fs::canonicalize(a).ok() == symship_fs::canonicalize(b).ok()
}

/// `Ok(Some(removal))` when stripped (`None` inside: nothing to strip), `Ok(None)` when the file
/// changed.
#[allow(clippy::option_option, reason = "changed file vs. nothing to strip")]
fn strip_one(
    path: &Path,
    expected: Option<[u8; 32]>,
) -> Result<Option<Option<symship_scan::pair::ReferenceRemoval>>, DeleteError> {
    let bytes = std::fs::read(path).map_err(|source| DeleteError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })?;
    if expected != Some(digest(&bytes)) {
        return Ok(None);
    }
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(None);
    };
    match strip_js_reference(text) {
        None => Ok(Some(None)),
        Some((new, removal)) => {
            symship_fs::replace_if_changed(path, new.as_bytes()).map_err(|source| DeleteError::Io {
                action: "rewrite",
                path: path.to_owned(),
                source,
            })?;
            Ok(Some(Some(removal)))
        }
    }
}

/// The map of a CSS stylesheet whose text is `text`, as posthog-cli 0.19.0 finds it
/// (`get_sourcemap_path`): the file its `sourceMappingURL` comment names, else `<name>.css.map`
/// next to it; the first that exists decides. Only a relative path is followed (never a URL, a
/// `data:` URI or an absolute path). `Ok(None)`: no map, or a file that is no JSON sourcemap.
/// `Err((map, why))`: the map resolves outside the stylesheet's root (by `..` or a link), so it
/// stays, and so does the comment.
fn css_map(css: &symship_scan::Candidate, text: &str) -> Result<Option<PathBuf>, (PathBuf, String)> {
    let dir = css.path.parent().unwrap_or(Path::new("."));
    let referenced = css_reference(text)
        .map(|(_, value)| value)
        .filter(|value| !value.starts_with(['/', '\\']))
        .and_then(|value| symship_scan::pair::referenced_path(dir, value));
    let mut next_to = css.path.as_os_str().to_owned();
    next_to.push(".map");
    let Some(map) = referenced
        .into_iter()
        .chain([PathBuf::from(next_to)])
        .find(|p| p.is_file())
    else {
        return Ok(None);
    };
    if !symship_fs::canonicalize(&map).is_ok_and(|m| m.starts_with(&css.root)) {
        let why = format!(
            "the sourcemap of {}, outside the selected directory {}: a stylesheet's map is deleted only inside it",
            css.path.display(),
            css.root.display()
        );
        return Err((map, why));
    }
    let is_map = std::fs::read(&map)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v.get("mappings").is_some() || v.get("sections").is_some());
    Ok(is_map.then_some(map))
}

/// Strips each stylesheet's `sourceMappingURL` comment and deletes its map; with `blocked`, names
/// each map as kept for that reason instead.
fn css_cleanup(
    stylesheets: &[symship_scan::Candidate],
    blocked: Option<&str>,
    out: &mut DeleteOutcome,
    errors: &mut Vec<DeleteError>,
) {
    for css in stylesheets {
        let p = &css.path;
        let Ok(text) = std::fs::read_to_string(p) else {
            continue;
        };
        let map = match css_map(css, &text) {
            Ok(Some(map)) => map,
            Ok(None) => continue,
            Err((map, why)) => {
                out.kept.push((map, why));
                continue;
            }
        };
        if let Some(why) = blocked {
            out.kept.push((map, why.to_owned()));
            continue;
        }
        if let Some(new) = strip_css_reference(&text) {
            match symship_fs::replace_if_changed(p, new.as_bytes()) {
                Ok(_) => out.stripped.push(p.to_owned()),
                Err(source) => errors.push(DeleteError::Io {
                    action: "rewrite",
                    path: p.to_owned(),
                    source,
                }),
            }
        }
        match symship_fs::remove(&map) {
            Ok(true) => out.deleted.push(map),
            Ok(false) => {}
            Err(source) => errors.push(DeleteError::Io {
                action: "delete",
                path: map,
                source,
            }),
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "tests build fixtures in temporary directories"
)]
mod tests {
    use super::*;
    use symship_core::set::{Cleanup, MapLocation, SymbolSet};

    #[test]
    fn strips_only_the_css_reference() {
        for (css, stripped) in [
            ("a{}\n/*# sourceMappingURL=a.css.map */\n", Some("a{}\n")),
            (
                "a{}\r\n/*# sourceMappingURL=a.css.map */\r\n/* l */\r\n",
                Some("a{}\r\n/* l */\r\n"),
            ),
            ("a{}\n/*# sourceMappingURL=a.css.map */", Some("a{}\n")),
            // minified, one line: only the comment goes
            (
                "a{color:red}/*# sourceMappingURL=a.css.map */",
                Some("a{color:red}"),
            ),
            (
                "a{color:red}/*# sourceMappingURL=a.css.map*/\n",
                Some("a{color:red}\n"),
            ),
            (
                ".a{}/*# sourceMappingURL=a.css.map */ /* license */\n",
                Some(".a{} /* license */\n"),
            ),
            ("a{}/*@ sourceMappingURL=a.css.map */", Some("a{}")),
            // text in a string or another comment is no reference
            (".a::after{content:\"/*# sourceMappingURL=x.map */\"}\n", None),
            (".a\\'b{content:\"x'/*# sourceMappingURL=x.map*/\"}", None),
            ("/* a /*# sourceMappingURL=x.map */\na{}", None),
            ("a{}\n// sourceMappingURL in no comment\n", None),
            ("a{}/* not /*# sourceMappingURL=a.css.map */", None),
            ("a{}/*# sourceMappingURL=a.css.map */ b{}/* open", None),
        ] {
            assert_eq!(strip_css_reference(css).as_deref(), stripped, "{css:?}");
        }
        assert_eq!(
            css_reference("a{}/*# sourceMappingURL= maps/a.css.map */"),
            Some((3..3 + 39, "maps/a.css.map"))
        );
    }

    fn chunk(
        dir: &Path,
        name: &str,
        map: &str,
        status: crate::Status,
        changed_after_read: bool,
    ) -> crate::ChunkReport {
        let src = dir.join(name);
        let text = format!("{name};\n//# sourceMappingURL={map}\n\n//# chunkId=x");
        std::fs::write(&src, &text).unwrap();
        std::fs::write(dir.join(map), "{}").unwrap();
        let digest = digest(text.as_bytes());
        if changed_after_read {
            std::fs::write(&src, format!("{text}\n// rebuilt")).unwrap();
        }
        let pair = symship_scan::Pair::new(src, dir.to_owned(), MapLocation::File(dir.join(map)));
        report_of(&pair, name, digest, status)
    }

    /// The report the pipeline makes of `set`.
    fn report_of(
        set: &dyn SymbolSet,
        id: &str,
        digest: [u8; 32],
        status: crate::Status,
    ) -> crate::ChunkReport {
        let mut c =
            crate::ChunkReport::new(set.kind(), set.path(), set.map(), set.cleanup(), Some(id), status);
        c.source_digest = Some(digest);
        c
    }

    /// A kind that deletes its own file once uploaded (no kind of symship does; the rule is the
    /// kind's, not the pipeline's).
    #[derive(Debug)]
    struct SelfDeleting(PathBuf);

    impl SymbolSet for SelfDeleting {
        fn kind(&self) -> symship_core::kind::Kind {
            symship_core::kind::Kind::ProguardMapping
        }
        fn path(&self) -> &Path {
            &self.0
        }
        fn cleanup(&self) -> Cleanup {
            Cleanup {
                strip_reference: false,
                delete: vec![self.0.clone()],
            }
        }
        fn input_len(&self) -> u64 {
            0
        }
        fn prepare(
            &self,
            _: &symship_core::set::Context<'_>,
        ) -> Result<symship_core::set::Prepared, symship_core::set::SetError> {
            unreachable!("not uploaded here")
        }
        fn write_container(
            &self,
            _: &symship_core::set::Prepared,
        ) -> Result<Vec<u8>, symship_core::set::SetError> {
            unreachable!("not uploaded here")
        }
    }

    #[test]
    fn each_kind_says_what_goes_and_kinds_that_keep_their_files_are_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        // A composed Hermes map (sent as a HermesMap set): it stays, and is not listed as kept.
        let composed = d.join("index.android.bundle.map");
        let text = r#"{"chunk_id":"x","version":3,"sources":["a.js"],"names":[],"mappings":"AAAA","x_hermes_function_offsets":{}}"#;
        std::fs::write(&composed, text).unwrap();
        let hermes = symship_scan::hermes::candidates(d).unwrap();
        assert_eq!(hermes.len(), 1);
        assert_eq!(hermes[0].cleanup(), Cleanup::default());
        // A kind whose rule is to delete its own file.
        let own = d.join("mapping.txt");
        std::fs::write(&own, "a -> b:\n").unwrap();
        let web = chunk(d, "a.js", "a.js.map", crate::Status::Uploaded, false);
        let report = UploadReport {
            chunks: vec![
                report_of(&hermes[0], "x", digest(text.as_bytes()), crate::Status::Uploaded),
                report_of(&SelfDeleting(own.clone()), "m", [0; 32], crate::Status::Uploaded),
                web,
            ],
            ..Default::default()
        };
        let (out, errors) = delete_after(&report, &[], &[]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(std::fs::read_to_string(&composed).unwrap(), text);
        assert_eq!(out.deleted, vec![d.join("a.js.map"), own.clone()]);
        assert!(!own.exists());
        assert_eq!(out.stripped, vec![d.join("a.js")]);
        assert!(out.kept.is_empty(), "{:?}", out.kept);
        // Not verified: the kind's files stay, and are named.
        std::fs::write(&own, "a -> b:\n").unwrap();
        let failed = crate::Status::Failed {
            code: "x".into(),
            reason: "y".into(),
        };
        let report = UploadReport {
            chunks: vec![report_of(&SelfDeleting(own.clone()), "m", [0; 32], failed)],
            ..Default::default()
        };
        let (out, _) = delete_after(&report, &[], &[]);
        assert!(own.exists());
        assert!(out.deleted.is_empty());
        assert_eq!(out.kept.iter().map(|(p, _)| p).collect::<Vec<_>>(), [&own]);
    }

    #[test]
    fn only_verified_unchanged_chunks_are_stripped_and_shared_maps_need_all() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let failed = crate::Status::Failed {
            code: "x".into(),
            reason: "y".into(),
        };
        let report = UploadReport {
            chunks: vec![
                chunk(d, "a.js", "a.js.map", crate::Status::Uploaded, false),
                chunk(d, "b.js", "b.js.map", crate::Status::AlreadyPresent, true),
                // c and e share a map; e failed
                chunk(d, "c.js", "shared.map", crate::Status::Uploaded, false),
                chunk(d, "e.js", "shared.map", failed, false),
            ],
            ..Default::default()
        };
        let (out, errors) = delete_after(&report, &[], &[]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(out.stripped, vec![d.join("a.js"), d.join("c.js")]);
        assert_eq!(out.deleted, vec![d.join("a.js.map")]);
        assert!(!std::fs::read_to_string(d.join("a.js"))
            .unwrap()
            .contains("sourceMappingURL"));
        // b changed after it was read: left alone, its map too
        assert!(std::fs::read_to_string(d.join("b.js"))
            .unwrap()
            .ends_with("// rebuilt"));
        assert!(d.join("b.js.map").exists());
        // the shared map stays while one of its chunks is not verified
        assert!(d.join("shared.map").exists());
        assert!(std::fs::read_to_string(d.join("e.js"))
            .unwrap()
            .contains("sourceMappingURL"));
    }
    /// Maps of chunks skipped before the upload stay (also one an uploaded chunk shares) and are
    /// named with why.
    #[test]
    fn maps_of_skipped_chunks_stay_and_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let report = UploadReport {
            chunks: vec![chunk(d, "a.js", "shared.map", crate::Status::Uploaded, false)],
            ..Default::default()
        };
        std::fs::write(d.join("b.js.map"), "{}").unwrap();
        let skipped = [
            (
                d.join("b.js.map"),
                "its chunk b.js was skipped (not_utf8)".to_owned(),
            ),
            (
                d.join("shared.map"),
                "its chunk c.js was skipped (bad_chunk_id)".to_owned(),
            ),
        ];
        let (out, errors) = delete_after(&report, &[], &skipped);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(out.deleted.is_empty(), "{:?}", out.deleted);
        assert!(d.join("b.js.map").exists() && d.join("shared.map").exists());
        assert_eq!(out.kept.len(), 2, "{:?}", out.kept);
        for (map, why) in &skipped {
            assert!(out.kept.contains(&(map.clone(), why.clone())), "{:?}", out.kept);
        }
        // the verified chunk's own reference still goes
        assert_eq!(out.stripped, vec![d.join("a.js")]);
    }
}
