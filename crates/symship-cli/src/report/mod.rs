//! The final account of a run: text for people ([`text`]), one JSON document (`--output json`,
//! [`json`]) for scripts, and in GitHub Actions annotations, a job summary and step outputs
//! ([`github`]). Rendering is pure (strings); [`print`] writes them through the [`Printer`].

pub mod github;
pub mod json;
pub mod text;

use std::collections::BTreeMap;

use crate::cli::OutputFormat;
use crate::printer::Printer;
use crate::untrusted::neutralize;

use serde::Serialize;

/// Version of the JSON summary's schema; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub schema_version: u32,
    pub command: String,
    pub dry_run: bool,
    /// The release the run's symbol sets are bound to (made or found by this run); null when
    /// none is.
    pub release_id: Option<String>,
    /// `dsym upload`, `symbol-sets upload`, `sourcemap upload --release-mode symbol-set`: the
    /// symbol sets the server already holds bound to another release than `release_id` (a stored
    /// set keeps its release): sent without the run's. Absent when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub already_bound: Vec<AlreadyBound>,
    /// Sets found to upload (the sourcemap commands: chunk and map pairs). Kept for every command;
    /// the others say it in their own terms below.
    pub pairs_found: usize,
    /// `dsym upload`, `symbol-sets upload`: the debug files found with something to upload (a fat
    /// Mach-O counts once). Absent for the other commands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub debug_files_found: Option<usize>,
    /// The commands that upload one kind's symbol sets (`hermes upload`, `proguard upload`, the
    /// native ones): the sets found (native: one per architecture slice). Absent for the
    /// sourcemap commands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol_sets_found: Option<usize>,
    pub injected: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub skipped: Vec<SkippedFile>,
    /// Chunks (or their maps) inject had to write and could not: failures, exit code 1. Absent
    /// when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_written: Vec<FailedChunk>,
    pub chunks: Vec<ChunkEntry>,
    pub exit_code: u8,
    /// Wall time of each phase that ran (`scan`, `inject`, `upload`), in milliseconds.
    pub wall_ms: std::collections::BTreeMap<String, u64>,
    /// The run found nothing to process (for the verdict; not in the JSON document, whose
    /// `exit_code` and counts say it).
    #[serde(skip)]
    pub nothing_found: bool,
    /// The map files of skipped chunks (scan or inject), each with why its chunk was skipped,
    /// for `--delete-after`, which keeps and names them (not in the JSON document: its
    /// `warnings` name them when kept).
    #[serde(skip)]
    pub skipped_maps: Vec<(std::path::PathBuf, String)>,
    /// `sourcemap upload` / `process`: what landed on the server (absent for inject).
    #[serde(flatten)]
    pub upload: Option<UploadSummary>,
}

impl Summary {
    /// Chunks an earlier `--delete-after` run finished (skipped as `map_removed`): counted with
    /// what the run processed, so a re-run of a finished build is not "nothing to process".
    pub fn settled(&self) -> usize {
        let code = symship_core::Code::MapRemoved.as_str();
        self.skipped.iter().filter(|f| f.code == code).count()
    }

    /// Whether a file was skipped for a reason other than `map_removed` (for `--strict`).
    pub fn has_problem_skips(&self) -> bool {
        let code = symship_core::Code::MapRemoved.as_str();
        self.skipped.iter().any(|f| f.code != code)
    }
}

/// The upload part of a summary. A chunk counts as uploaded only once `bulk_finish_upload`
/// succeeded for it.
#[derive(Debug, Default, Serialize)]
pub struct UploadSummary {
    pub uploaded: usize,
    pub skipped_already_present: usize,
    /// `--skip-on-conflict`: chunk ids under which the server kept different content (their
    /// outcome is `kept_different`; this build's maps for them are not on the server).
    pub skipped_kept_different: usize,
    pub skipped_too_large: usize,
    /// Chunks sharing a chunk id with an earlier one (only the first is sent).
    pub skipped_duplicate: usize,
    /// Dry run: chunks that would be checked and sent.
    pub would_upload: usize,
    /// Content hashes taken from the cache of an earlier run (`SYMSHIP_CACHE_DIR`).
    pub hashes_from_cache: usize,
    /// Every chunk that did not land, with why.
    pub failed: Vec<FailedChunk>,
    /// Compressed bytes sent to object storage.
    pub bytes: u64,
    /// Calls per endpoint (`bulk_check_upload`, `bulk_start_upload`, `transfer`, `bulk_finish_upload`).
    pub requests: std::collections::BTreeMap<String, u64>,
    /// Per phase: summed busy time and first-to-last span, in milliseconds (phases overlap).
    pub timings_ms: std::collections::BTreeMap<String, PhaseMillis>,
    pub upload_wall_ms: u64,
    /// How many transfers ran at once: found by the run (`auto`) or `--concurrency N` (`fixed`).
    pub concurrency: ConcurrencySummary,
    /// `--delete-after`: chunks whose sourceMappingURL line was removed, maps deleted.
    pub stripped: Vec<String>,
    pub deleted: Vec<String>,
    pub warnings: Vec<String>,
    /// Run-level errors, each said once (an unreachable object storage host).
    pub errors: Vec<String>,
    /// Refs the server holds bound to another release, found during the upload (sent again
    /// without the run's release; `symship_upload::UploadReport::bound_elsewhere`).
    #[serde(skip)]
    pub bound_elsewhere: Vec<String>,
}

/// The transfer limit of a run (`symship_upload::LimitStats`).
#[derive(Debug, Default, Serialize)]
pub struct ConcurrencySummary {
    /// `auto` (found by the run) or `fixed` (`--concurrency N`).
    pub mode: &'static str,
    /// The most transfers at once the limit could allow (the fixed count when fixed).
    pub ceiling: usize,
    /// The most transfers that ran at once.
    pub reached: usize,
    /// The highest limit found, and the limit at the end.
    pub peak_limit: usize,
    pub final_limit: usize,
    /// Back-offs for overload (429, 503, resets, timeouts) and for risen latency.
    pub overload_backoffs: u64,
    pub latency_backoffs: u64,
}

impl From<symship_upload::LimitStats> for ConcurrencySummary {
    fn from(s: symship_upload::LimitStats) -> Self {
        ConcurrencySummary {
            mode: if s.auto { "auto" } else { "fixed" },
            ceiling: s.ceiling,
            reached: s.peak_in_flight,
            peak_limit: s.peak_limit,
            final_limit: s.final_limit,
            overload_backoffs: s.overload_backoffs,
            latency_backoffs: s.latency_backoffs,
        }
    }
}

/// A symbol set the server already holds bound to another release than the run's.
#[derive(Debug, Serialize)]
pub struct AlreadyBound {
    #[serde(rename = "ref")]
    pub reference: String,
    /// The release's id.
    pub release_id: String,
    /// `<project> <version>` of the release.
    pub release: String,
}

/// The values of the summary's `release` row: the run's release id (or, when it has none but
/// sets are bound elsewhere, `none made`), then one line per other release the run's sets are
/// already bound to, with how many.
pub fn release_lines(s: &Summary) -> Vec<String> {
    let mut lines: Vec<String> = s.release_id.iter().cloned().collect();
    let mut others: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for b in &s.already_bound {
        *others.entry((&b.release, &b.release_id)).or_default() += 1;
    }
    if lines.is_empty() && !others.is_empty() {
        lines.push("none made for this run".into());
    }
    for ((name, id), n) in others {
        lines.push(format!(
            "{n} symbol set{} already bound to {name} ({id})",
            if n == 1 { "" } else { "s" }
        ));
    }
    lines
}

#[derive(Debug, Serialize)]
pub struct FailedChunk {
    pub file: String,
    pub chunk_id: Option<String>,
    pub code: String,
    pub error: String,
}

#[derive(Debug, Serialize)]
pub struct PhaseMillis {
    pub busy: u64,
    pub span: u64,
}

#[derive(Debug, Serialize)]
pub struct SkippedFile {
    pub file: String,
    pub code: String,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct ChunkEntry {
    pub file: String,
    pub map: String,
    pub chunk_id: String,
    /// The outcome's code (`uploaded`, `already_present`, `injected`, ...).
    pub outcome: std::borrow::Cow<'static, str>,
    /// The symbol set's kind (`symship_core::kind::Kind::code`: `source_and_map`, `hermes_map`,
    /// `proguard_mapping`, ...).
    pub kind: &'static str,
    /// The symbol set's ref (the chunk id of web and Hermes sets, the map id of ProGuard ones);
    /// `chunk_id` says the same, under the name the PostHog API gives it.
    #[serde(rename = "ref")]
    pub reference: String,
    /// Why it was not sent and what to do, where the outcome alone does not say it
    /// (`too_large`: its size and the hint of its kind, [`symship_core::kind::Kind::too_large_hint`];
    /// a failure: its `failed` entry's `error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Box<str>>,
}

impl ChunkEntry {
    /// What its ref is called ([`symship_core::kind::Kind::ref_name`]): `chunk`, `map id` or
    /// `debug id`.
    pub fn ref_label(&self) -> &'static str {
        symship_core::kind::Kind::ALL
            .iter()
            .find(|k| k.code() == self.kind)
            .map_or("chunk", |k| k.ref_name())
    }
}

/// Prints the final account (text on stderr, or JSON on stdout), and in GitHub Actions writes
/// annotations, the job summary and step outputs. Fills `summary.wall_ms` from the phases.
pub fn print(
    summary: &mut Summary,
    printer: &Printer,
    format: OutputFormat,
    quiet: bool,
) -> anyhow::Result<()> {
    summary.wall_ms = printer.phase_millis();
    printer.stop_bars();
    // The verdict (`error: ...` for a run that did not succeed) is printed in every form: the
    // JSON document goes to stdout, and -q keeps only the failures and the verdict.
    match format {
        OutputFormat::Json => {
            printer.stdout(json::render(summary)?.as_bytes())?;
            printer.eprint(&neutralize(&text::render_verdict(summary)));
        }
        OutputFormat::Text if quiet => {
            let failures = text::render_failures(summary) + &text::render_verdict(summary);
            if !failures.is_empty() {
                printer.eprint(&neutralize(&failures));
            }
        }
        OutputFormat::Text => printer.eprint(&neutralize(&text::render_text(summary))),
    }
    if let Some(gh) = printer.github() {
        gh.report(summary, printer);
    }
    Ok(())
}

/// The rows that say what the run found and injected, in its command's terms: `pairs found` and
/// (for inject and process) `injected` for the sourcemap commands; `debug files` (and the symbol
/// sets, one per architecture slice) for the native commands; `symbol sets` for the Hermes and
/// ProGuard uploads, which inject nothing. `dry`: `would inject`.
pub fn found_rows(s: &Summary, dry: bool) -> Vec<(&'static str, String)> {
    match (s.debug_files_found, s.symbol_sets_found) {
        (Some(files), sets) => {
            let sets = sets.unwrap_or(files);
            let slices = if sets == files {
                String::new()
            } else {
                format!(" ({sets} symbol sets: one per architecture)")
            };
            vec![("debug files", format!("{files} found{slices}"))]
        }
        (None, Some(sets)) => vec![("symbol sets", format!("{sets} found"))],
        (None, None) => {
            let mut rows = vec![("pairs found", s.pairs_found.to_string())];
            if s.command != "sourcemap upload" {
                rows.push((
                    if dry { "would inject" } else { "injected" },
                    format!(
                        "{} (new {}, updated {}, already injected {})",
                        s.injected + s.updated + s.unchanged,
                        s.injected,
                        s.updated,
                        s.unchanged
                    ),
                ));
            }
            rows
        }
    }
}

/// `n` uploaded things as the summary names them: a bare count for the sourcemap commands
/// (chunks), `N symbol sets` for the others.
pub fn sets_count(s: &Summary, n: usize) -> String {
    if s.symbol_sets_found.is_some() {
        format!("{n} symbol set{}", if n == 1 { "" } else { "s" })
    } else {
        n.to_string()
    }
}

/// Everything that was skipped, by reason code (file-level skips and the upload's own).
pub fn skipped_by_reason(s: &Summary) -> BTreeMap<String, usize> {
    let mut m: BTreeMap<String, usize> = BTreeMap::new();
    for f in &s.skipped {
        *m.entry(f.code.clone()).or_default() += 1;
    }
    if let Some(up) = &s.upload {
        for (code, n) in [
            (symship_core::Code::AlreadyPresent, up.skipped_already_present),
            (symship_core::Code::KeptDifferent, up.skipped_kept_different),
            (symship_core::Code::TooLarge, up.skipped_too_large),
            (symship_core::Code::Duplicate, up.skipped_duplicate),
        ] {
            if n > 0 {
                *m.entry(code.into()).or_default() += n;
            }
        }
    }
    m
}

pub fn failed_count(s: &Summary) -> usize {
    s.upload.as_ref().map_or(0, |u| u.failed.len())
}
