//! The human summary on stderr: one aligned block, the failures, and what the exit code means.

use std::time::Duration;

use super::{failed_count, found_rows, sets_count, skipped_by_reason, ChunkEntry, Summary};

/// The human summary: one aligned block, then the failures, then what the exit code means.
pub fn render_text(s: &Summary) -> String {
    let mut t = String::new();
    let dry = if s.dry_run {
        " (dry run: nothing written or sent)"
    } else {
        ""
    };
    t.push_str(&format!("\nsymship {}{dry}\n", s.command));
    let row = |t: &mut String, k: &str, v: String| t.push_str(&format!("  {k:<13} {v}\n"));
    for (k, v) in found_rows(s, s.dry_run) {
        row(&mut t, k, v);
    }
    if let Some(up) = &s.upload {
        if s.dry_run {
            row(&mut t, "would upload", sets_count(s, up.would_upload));
        } else {
            row(&mut t, "uploaded", sets_count(s, up.uploaded));
        }
    }
    let skipped = skipped_by_reason(s);
    let total_skipped: usize = skipped.values().sum();
    let reasons: Vec<String> = skipped.iter().map(|(k, v)| format!("{k} {v}")).collect();
    row(
        &mut t,
        "skipped",
        if reasons.is_empty() {
            "0".into()
        } else {
            format!("{total_skipped} ({})", reasons.join(", "))
        },
    );
    if let Some(up) = &s.upload {
        row(&mut t, "failed", up.failed.len().to_string());
        row(&mut t, "bytes sent", human_bytes(up.bytes));
        if up.concurrency.reached > 0 {
            row(&mut t, "transfers", render_concurrency(&up.concurrency));
        }
    }
    for (i, line) in super::release_lines(s).into_iter().enumerate() {
        row(&mut t, if i == 0 { "release" } else { "" }, line);
    }
    row(&mut t, "time", render_times(s));
    if let Some(up) = &s.upload {
        if !up.deleted.is_empty() || !up.stripped.is_empty() {
            row(
                &mut t,
                "delete-after",
                format!(
                    "{} sourceMappingURL line(s) removed, {} map(s) deleted",
                    up.stripped.len(),
                    up.deleted.len()
                ),
            );
        }
    }
    t.push_str(&render_too_large(s));
    t.push_str(&render_kept_different(s));
    t.push_str(&render_failures(s));
    t.push_str(&render_verdict(s));
    t
}

/// The sets over PostHog's limit, each with its ref and what to do (not failures: skipped and
/// counted, as posthog-cli 0.19.0 does).
fn render_too_large(s: &Summary) -> String {
    let big: Vec<_> = s
        .chunks
        .iter()
        .filter(|c| c.outcome == symship_core::Code::TooLarge.as_str())
        .collect();
    if big.is_empty() {
        return String::new();
    }
    let mut t = format!("not uploaded, too large ({}):\n", big.len());
    for c in big {
        let id: &str = if c.reference.is_empty() { "-" } else { &c.reference };
        t.push_str(&format!(
            "  {} ({} {id}): {}\n",
            c.file,
            c.ref_label(),
            c.reason
                .as_deref()
                .unwrap_or(symship_core::Code::TooLarge.title())
        ));
    }
    t
}

/// Chunks listed under their own heading before the rest are counted.
const MAX_KEPT_LISTED: usize = 10;

/// `--skip-on-conflict`: the chunk ids under which the server kept different content, said plainly
/// (they are not this build's maps), with the first few named.
fn render_kept_different(s: &Summary) -> String {
    let code = symship_core::Code::KeptDifferent.as_str();
    let kept: Vec<_> = s.chunks.iter().filter(|c| c.outcome == code).collect();
    if kept.is_empty() {
        return String::new();
    }
    // the words of the run's kind: a chunk id and its sourcemap, a debug id and its debug file, ...
    let (ref_label, what) = match kept[0].ref_label() {
        "chunk" => ("chunk id", "sourcemaps"),
        "debug id" => ("debug id", "debug files"),
        other => (other, "mappings"),
    };
    let mut t = format!(
        "the server kept different content for {} {ref_label}(s) ({code}, --skip-on-conflict): this build's \
         {what} for them are not on the server; --force replaces them:\n",
        kept.len()
    );
    for c in kept.iter().take(MAX_KEPT_LISTED) {
        t.push_str(&format!("  {} ({} {})\n", c.file, c.ref_label(), c.reference));
    }
    if kept.len() > MAX_KEPT_LISTED {
        t.push_str(&format!(
            "  and {} more (`--output json` lists them all)\n",
            kept.len() - MAX_KEPT_LISTED
        ));
    }
    t
}

/// `24 at once at most (found; limit 26 of 128, 1 back-off)` or `10 at once at most (--concurrency 10)`.
fn render_concurrency(c: &super::ConcurrencySummary) -> String {
    if c.mode == "fixed" {
        return format!("{} at once at most (--concurrency {})", c.reached, c.ceiling);
    }
    let backoffs = c.overload_backoffs + c.latency_backoffs;
    format!(
        "{} at once at most (found; limit {} of {}, {backoffs} back-off{})",
        c.reached,
        c.peak_limit,
        c.ceiling,
        if backoffs == 1 { "" } else { "s" }
    )
}

pub fn render_times(s: &Summary) -> String {
    let parts: Vec<String> = ["scan", "inject", "upload"]
        .iter()
        .filter_map(|p| s.wall_ms.get(*p).map(|ms| format!("{p} {}", human_ms(*ms))))
        .collect();
    if let Some(up) = &s.upload {
        let inner: Vec<String> = ["prepare", "check", "start", "transfer", "finish"]
            .iter()
            .filter_map(|p| up.timings_ms.get(*p).map(|t| format!("{p} {}", human_ms(t.span))))
            .collect();
        if !inner.is_empty() {
            return format!(
                "{} (upload phases, overlapping: {})",
                parts.join(", "),
                inner.join(", ")
            );
        }
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

pub fn render_failures(s: &Summary) -> String {
    let mut t = String::new();
    if !s.not_written.is_empty() {
        t.push_str(&format!("not written ({}):\n", s.not_written.len()));
        for f in &s.not_written {
            t.push_str(&format!("  {}: {}: {}\n", f.file, f.code, f.error));
        }
    }
    let Some(up) = &s.upload else {
        return t;
    };
    if up.failed.is_empty() {
        return t;
    }
    t.push_str(&format!("not uploaded ({}):\n", up.failed.len()));
    for f in &up.failed {
        t.push_str(&format!(
            "  {} ({} {}): {}: {}\n",
            f.file,
            ref_word(s),
            f.chunk_id.as_deref().unwrap_or("-"),
            f.code,
            f.error
        ));
    }
    t
}

fn run_errors(s: &Summary) -> &[String] {
    s.upload.as_ref().map_or(&[], |u| u.errors.as_slice())
}

/// Skipped files named in the exit-3 verdict.
const MAX_VERDICT_FILES: usize = 5;

pub fn render_verdict(s: &Summary) -> String {
    match s.exit_code {
        0 => String::new(),
        1 if !run_errors(s).is_empty() => {
            let mut t = String::new();
            for e in run_errors(s) {
                t.push_str(&format!("error: {e}\n"));
            }
            if failed_count(s) > 0 {
                t.push_str(&format!(
                    "error: {} {} did not land (exit code 1)\n",
                    failed_count(s),
                    units(s)
                ));
            }
            t
        }
        1 if !s.not_written.is_empty() => format!(
            "error: {} file(s) could not be written (exit code 1); fix the cause named above and run again\n",
            s.not_written.len()
        ),
        // a conflict fails the same way on a re-run: only --force or --skip-on-conflict ends it
        1 if failed_count(s) > 0 && conflicts(s) == failed_count(s) => format!(
            "error: {} {} did not land (exit code 1): the server holds different content under their \
             ids, and a re-run alone fails the same way; --force replaces it, --skip-on-conflict keeps it\n",
            failed_count(s),
            units(s)
        ),
        1 if conflicts(s) > 0 => format!(
            "error: {} {} did not land (exit code 1); re-run the same command to send those, adding \
             --force (replace) or --skip-on-conflict (keep) for the {} the server holds with different content\n",
            failed_count(s),
            units(s),
            conflicts(s)
        ),
        // sets bound elsewhere whose release could not be looked up: the key must read first
        1 if failed_count(s) > 0 && lookups_failed(s) == failed_count(s) => format!(
            "error: {} {} did not land (exit code 1): the server holds them bound to another release, which \
             could not be looked up (the failures above say why); let the key read symbol sets \
             (error_tracking:read) and run again, or pass --skip-on-conflict to keep what the server holds\n",
            failed_count(s),
            units(s)
        ),
        // --skip-release-on-fail=false: a set bound to another release keeps it; a re-run alone
        // fails the same way
        1 if failed_count(s) > 0 && bound_elsewhere(s) == failed_count(s) => format!(
            "error: {} {} did not land (exit code 1): the server holds their symbol sets bound to another release{}, \
             and a stored set never moves between releases, so a re-run alone fails the same way; pass \
             --skip-release-on-fail to send them without this run's release (they keep theirs), or {}\n",
            failed_count(s),
            units(s),
            named_releases(s),
            fresh_ids(s)
        ),
        1 if bound_elsewhere(s) > 0 => format!(
            "error: {} {} did not land (exit code 1); re-run the same command to send those, and for the {} the server \
             holds bound to another release (the release row, `already_bound` in JSON, names their releases) pass --skip-release-on-fail, or inject a \
             fresh build\n",
            failed_count(s),
            units(s),
            bound_elsewhere(s)
        ),
        // a re-run fails these the same way (the input or the key must change first)
        1 if failed_count(s) > 0 && !rerun_fails_again(s).is_empty() => {
            let codes = rerun_fails_again(s);
            let all = codes.iter().map(|(_, n)| n).sum::<usize>() == failed_count(s);
            let named = codes.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>().join(", ");
            if all {
                format!(
                    "error: {} {} did not land (exit code 1), and a re-run alone fails the same way ({named}): \
                     fix what each one above names, then run again\n",
                    failed_count(s),
                    units(s)
                )
            } else {
                format!(
                    "error: {} {} did not land (exit code 1); re-run the same command to send only those, after \
                     fixing what the {named} ones above name (a re-run alone fails them the same way)\n",
                    failed_count(s),
                    units(s)
                )
            }
        }
        1 if failed_count(s) > 0 => format!(
            "error: {} {} did not land (exit code 1); re-run the same command to send only those\n",
            failed_count(s),
            units(s)
        ),
        // The posthog-cli personality's inject and process exit 1 on an empty run, as posthog-cli
        // 0.19.0 does ("Oops! no source files found").
        1 if s.nothing_found => "error: no source files found: no JavaScript file with a sourcemap under the given \
              paths; check --directory and that the build writes sourcemaps (exit code 1, as posthog-cli)\n"
            .into(),
        1 => "error: files were skipped and --strict is set (exit code 1)\n".into(),
        // a command that says why it found nothing (`hermes upload`: no map with a chunk id)
        3 if !run_errors(s).is_empty() => {
            let mut t = String::new();
            for e in run_errors(s) {
                t.push_str(&format!("error: {e}\n"));
            }
            t.push_str("nothing was processed (exit code 3)\n");
            t
        }
        3 if !s.skipped.is_empty() || s.chunks.iter().any(is_too_large) => {
            // files skipped when found, then sets over PostHog's limit (listed above with what
            // to do): every one was skipped, nothing was sent
            let lines: Vec<String> = s
                .skipped
                .iter()
                .map(|f| format!("  {}: {}\n", f.file, f.reason))
                .chain(s.chunks.iter().filter(|c| is_too_large(c)).map(|c| {
                    let id: &str = if c.reference.is_empty() { "-" } else { &c.reference };
                    format!(
                        "  {} ({} {id}): {} (listed above with what to do)\n",
                        c.file,
                        c.ref_label(),
                        symship_core::Code::TooLarge.title()
                    )
                }))
                .collect();
            let mut t = format!(
                "error: nothing to process: {} file(s) were found, and every one was skipped (exit code 3):\n",
                lines.len()
            );
            for l in lines.iter().take(MAX_VERDICT_FILES) {
                t.push_str(l);
            }
            if lines.len() > MAX_VERDICT_FILES {
                t.push_str(&format!(
                    "  and {} more (`--output json` lists them all)\n",
                    lines.len() - MAX_VERDICT_FILES
                ));
            }
            if takes_allow_empty(s) {
                t.push_str("fix what each reason says, or pass --allow-empty to accept a run that sends nothing\n");
            } else {
                t.push_str("fix what each reason says\n");
            }
            t
        }
        3 if s.command == "dsym upload" => "error: nothing found to process: no .dSYM bundle under the given \
              directory; check --directory and that the build writes dSYMs (DEBUG_INFORMATION_FORMAT = \
              dwarf-with-dsym) (exit code 3)\n"
            .into(),
        3 if s.command == "symbol-sets upload" => "error: nothing found to process: no ELF or Mach-O file with \
              debug info and no .dSYM bundle under the given directory; check --directory and that the build \
              keeps debug info (-g) (exit code 3)\n"
            .into(),
        3 => "error: nothing found to process: no JavaScript file with a sourcemap (and, for upload, a chunk id) \
              under the given paths; check --directory, run the build (and `symship sourcemap inject`) first, or \
              pass --allow-empty (exit code 3)\n"
            .into(),
        n => format!("error: exit code {n}\n"),
    }
}

/// What the failures count: `chunk(s)` for the sourcemap commands, `symbol set(s)` for the others.
fn units(s: &Summary) -> &'static str {
    if s.symbol_sets_found.is_some() {
        "symbol set(s)"
    } else {
        "chunk(s)"
    }
}

/// What a failure's ref is called: that of the run's kind ([`ChunkEntry::ref_label`]; each command
/// uploads sets of one kind, or native ones, all with debug ids), else `chunk`.
fn ref_word(s: &Summary) -> &'static str {
    s.chunks.first().map_or("chunk", ChunkEntry::ref_label)
}

/// The failures' codes a re-run alone cannot fix, with how many failed so: a file that is not
/// what the command sends (`not_hermes_map`), two files under one ref (`conflicting_ref`), a
/// release id the project does not know (`invalid_release_id`), or a key that may not upload
/// (`permission_denied`, `not_authenticated`, `authentication_failed`). Not
/// `release_lookup_failed`: its lookup may have failed for a while (HTTP 5xx), and its reason
/// names the error. Sorted by code.
fn rerun_fails_again(s: &Summary) -> Vec<(String, usize)> {
    use symship_core::Code;
    let mut out: std::collections::BTreeMap<String, usize> = Default::default();
    for f in s.upload.iter().flat_map(|u| &u.failed) {
        if matches!(
            Code::from_code_str(&f.code),
            Some(
                Code::NotHermesMap
                    | Code::ConflictingRef
                    | Code::InvalidReleaseId
                    | Code::PermissionDenied
                    | Code::NotAuthenticated
                    | Code::AuthenticationFailed
            )
        ) {
            *out.entry(f.code.clone()).or_default() += 1;
        }
    }
    out.into_iter().collect()
}

/// How many failed with `code`: `content_hash_mismatch` (conflicts with what the server holds),
/// `release_id_mismatch` (bound to another release, with `--skip-release-on-fail=false`),
/// `release_lookup_failed` (bound elsewhere, the release not found).
fn failed_with(s: &Summary, code: symship_core::Code) -> usize {
    s.upload
        .as_ref()
        .map_or(0, |u| u.failed.iter().filter(|f| f.code == code.as_str()).count())
}

fn conflicts(s: &Summary) -> usize {
    failed_with(s, symship_core::Code::ContentHashMismatch)
}

fn bound_elsewhere(s: &Summary) -> usize {
    failed_with(s, symship_core::Code::ReleaseIdMismatch)
}

fn lookups_failed(s: &Summary) -> usize {
    failed_with(s, symship_core::Code::ReleaseLookupFailed)
}

/// Where the summary names the releases sets are bound to, when it does (the lookups after the
/// upload may have failed).
fn named_releases(s: &Summary) -> &'static str {
    if s.already_bound.is_empty() {
        ""
    } else {
        " (the release row, `already_bound` in JSON, names their releases)"
    }
}

/// How a build gets new refs: inject gives web chunks new chunk ids; a native or ProGuard build
/// gets new debug or map ids only when it is built again.
fn fresh_ids(s: &Summary) -> &'static str {
    match ref_word(s) {
        "chunk" => "inject a fresh build to give them new chunk ids",
        _ => "build again to give them new ids",
    }
}

/// `dsym upload` and `symbol-sets upload`: native debug files, not JavaScript (and they take no
/// `--allow-empty`).
/// Whether the run's command accepts `--allow-empty` (the sourcemap commands; not the Hermes,
/// ProGuard and native ones, whose flags are posthog-cli's).
fn takes_allow_empty(s: &Summary) -> bool {
    s.command.starts_with("sourcemap ")
}

fn is_too_large(c: &super::ChunkEntry) -> bool {
    c.outcome == symship_core::Code::TooLarge.as_str()
}

pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if b < 1024 {
        return format!("{b} B");
    }
    let mut v = b as f64 / 1024.0;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.1} {}", UNITS[i])
}

pub fn human_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.2} s", ms as f64 / 1000.0)
    }
}

pub fn human_duration(d: Duration) -> String {
    human_ms(d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(human_ms(999), "999 ms");
        assert_eq!(human_ms(1500), "1.50 s");
    }
}
