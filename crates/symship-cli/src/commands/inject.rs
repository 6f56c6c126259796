//! `symship sourcemap inject` and `symship hermes inject` (posthog-cli 0.19.0's `inject_impl`
//! with its two matchers, spec §5 and `kinds-and-explain.md` §1.4).
use symship_scan::{inject, inject_each, InjectOptions, MapLocation, Matcher, Outcome, PairResult, Reporter};
use symship_upload::Kind;

use crate::cli::{InjectArgs, ReleaseMode};
use crate::exit::{Exit, Run, RunEnd};
use crate::files;
use crate::report::{ChunkEntry, FailedChunk, SkippedFile, Summary};
use crate::settings::Settings;

struct LogReporter;

/// Maps above this size get a warning: they may not fit the server's 100 MiB limit.
const LARGE_MAP: u64 = 100 * 1024 * 1024;

impl Reporter for LogReporter {
    fn pair_done(&self, r: &PairResult) {
        match &r.result {
            Ok(Outcome::Injected { chunk_id }) => {
                tracing::debug!("injected {} ({chunk_id})", r.pair.source.display())
            }
            Ok(Outcome::Updated { chunk_id }) if r.hashbang_moved => tracing::warn!(
                "{}: moved its #! line back to line 1, above the snippet (posthog-cli 0.19.0 had put its snippet \
                 before the hashbang, so the file did not run); chunk id {chunk_id} kept",
                r.pair.source.display()
            ),
            Ok(Outcome::Updated { chunk_id }) => {
                tracing::debug!("updated {} ({chunk_id})", r.pair.source.display())
            }
            Ok(Outcome::Unchanged { chunk_id }) => {
                tracing::debug!("already injected {} ({chunk_id})", r.pair.source.display())
            }
            Err(reason) if reason.is_failure() => tracing::error!("{} {reason}", r.pair.source.display()),
            Err(reason) => tracing::warn!("skipped {}: {reason}", r.pair.source.display()),
        }
        // (the pair's input length, known already, bounds its map's: only a large one is looked at)
        if let (Ok(_), MapLocation::File(map), true) =
            (&r.result, &r.pair.map, r.pair.input_len() > LARGE_MAP)
        {
            let size = std::fs::metadata(map).map_or(0, |m| m.len());
            if size > LARGE_MAP {
                tracing::warn!(
                    "{} is {} MB: PostHog refuses symbol sets over 100 MiB after compression; upload will skip it \
                     if it does not compress below that",
                    map.display(),
                    size / 1_000_000
                );
            }
        }
    }
}

pub fn scan_mode(mode: ReleaseMode) -> symship_scan::ReleaseMode {
    match mode {
        ReleaseMode::Event => symship_scan::ReleaseMode::Event,
        ReleaseMode::SymbolSet => symship_scan::ReleaseMode::SymbolSet,
    }
}

/// Where `process` hands each injected pair to its upload (see [`inject_scanned`]).
pub struct Handoff<'a> {
    /// The memory budget inject shares with the upload's preparation.
    pub memory: std::sync::Arc<dyn symship_core::budget::MemoryGate>,
    /// The room between inject and the upload: inject waits for it before each group.
    pub handover: std::sync::Arc<dyn symship_scan::Handover>,
    /// Called from inject's threads once a pair's files are written, with the pair's position
    /// in the scan.
    pub done: &'a (dyn Fn(usize, &PairResult) + Sync),
    /// Hand each pair's [`symship_scan::OnDisk`] digests with it (worth it when the upload's
    /// memo may know them: it remembers something).
    pub on_disk: bool,
    /// The inject ledger ([`symship_scan::ledger`]): pairs left as recorded are not read.
    pub ledger: Option<std::sync::Arc<symship_scan::ledger::Ledger>>,
}

/// What inject found, counted as each pair finishes (`process`: no result is kept).
#[derive(Default)]
struct Tally {
    injected: usize,
    updated: usize,
    unchanged: usize,
    /// Pairs not written (failures) and skipped, each with its index in the scan.
    not_written: Vec<(usize, FailedChunk)>,
    skipped: Vec<(usize, SkippedFile)>,
    /// The map files of the pairs not injected, with why (for `--delete-after`).
    skipped_maps: Vec<(usize, (std::path::PathBuf, String))>,
}

impl Tally {
    fn add(&mut self, index: usize, r: &PairResult) {
        match &r.result {
            Ok(Outcome::Injected { .. }) => self.injected += 1,
            Ok(Outcome::Updated { .. }) => self.updated += 1,
            Ok(Outcome::Unchanged { .. }) => self.unchanged += 1,
            Err(reason) => {
                if let Some(m) = skipped_map(r, reason) {
                    self.skipped_maps.push((index, m));
                }
                if reason.is_failure() {
                    self.not_written.push((index, not_written(r, reason)));
                } else {
                    self.skipped.push((index, skipped_pair(r, reason)));
                }
            }
        }
    }
}

/// The map file of a pair not injected, with why.
fn skipped_map(r: &PairResult, reason: &symship_scan::SkipReason) -> Option<(std::path::PathBuf, String)> {
    match &r.pair.map {
        MapLocation::File(map) => Some((
            map.clone(),
            crate::commands::upload::skipped_why(&r.pair.source, reason.code().as_str()),
        )),
        MapLocation::Inline => None,
    }
}

fn not_written(r: &PairResult, reason: &symship_scan::SkipReason) -> FailedChunk {
    FailedChunk {
        file: r.pair.source.display().to_string(),
        chunk_id: None,
        code: reason.code().into(),
        error: reason.to_string(),
    }
}

fn skipped_pair(r: &PairResult, reason: &symship_scan::SkipReason) -> SkippedFile {
    SkippedFile {
        file: r.pair.source.display().to_string(),
        code: reason.code().into(),
        reason: reason.to_string(),
    }
}

/// What an inject command stamps.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The summary's `command`.
    pub command: &'static str,
    /// Which files are chunks.
    pub matcher: Matcher,
    /// The kind of the symbol set the chunk id becomes the ref of (the summary's `kind`).
    pub kind: Kind,
}

/// Web chunks (`.js`, `.mjs`, `.cjs`), uploaded with their maps.
pub const WEB: Target = Target {
    command: "sourcemap inject",
    matcher: Matcher::JavaScript,
    kind: Kind::SourceAndMap,
};

/// React Native's Metro bundles (`.bundle`, `.jsbundle`) before hermesc: the chunk id goes into the
/// packager map, `hermes clone` copies it into the composed map, which is uploaded as a HermesMap.
pub const METRO: Target = Target {
    command: "hermes inject",
    matcher: Matcher::MetroBundle,
    kind: Kind::HermesMap,
};

/// Injects web chunks and returns the summary plus the results (for `process --dry-run`).
pub fn inject_all(
    args: &InjectArgs,
    settings: &Settings,
    release_id: Option<String>,
) -> anyhow::Result<(Summary, Vec<PairResult>, Option<symship_fs::DirLock>)> {
    inject_target(args, settings, release_id, WEB)
}

/// Injects the chunks of `target` and returns the summary plus the results.
pub fn inject_target(
    args: &InjectArgs,
    settings: &Settings,
    release_id: Option<String>,
    target: Target,
) -> anyhow::Result<(Summary, Vec<PairResult>, Option<symship_fs::DirLock>)> {
    let scan = scan_matching(args, settings, target.matcher)?;
    let (mut summary, results, lock) = inject_scanned(args, settings, release_id, scan, None);
    summary.command = target.command.into();
    for c in &mut summary.chunks {
        c.kind = target.kind.code();
    }
    Ok((summary, results, lock))
}

/// Finds the pairs (and takes the lock of the directories inject writes into).
pub fn scan(args: &InjectArgs, settings: &Settings) -> anyhow::Result<files::Scan> {
    scan_matching(args, settings, Matcher::JavaScript)
}

/// [`scan`] for the chunks `matcher` names.
fn scan_matching(args: &InjectArgs, settings: &Settings, matcher: Matcher) -> anyhow::Result<files::Scan> {
    let global = &settings.global;
    let printer = &settings.printer;
    let scanning = printer.phase("scan", "pairs", None);
    let writes = if global.dry_run {
        files::Writes::No
    } else {
        files::Writes::Yes {
            no_wait: args.chunks.no_wait,
        }
    };
    let scan = files::scan_matching(
        &args.chunks.files,
        args.chunks.public_path_prefix.as_deref(),
        writes,
        printer,
        matcher,
    )?;
    scanning.finish(&crate::printer::scan_found(scan.pairs.len(), scan.skipped.len()));
    files::log_skipped(&scan.skipped, true);
    Ok(scan)
}

/// Injects the scanned pairs; returns the summary, the results and the lock. With a
/// [`Handoff`], each pair goes to `done` as soon as its files are written, inject takes its
/// memory from the shared budget, and the summary lists no chunks and no results are returned
/// (the upload's report accounts for each pair handed over; counts, skips and failures are kept).
pub fn inject_scanned(
    args: &InjectArgs,
    settings: &Settings,
    release_id: Option<String>,
    scan: files::Scan,
    handoff: Option<Handoff<'_>>,
) -> (Summary, Vec<PairResult>, Option<symship_fs::DirLock>) {
    let global = &settings.global;
    let files::Scan {
        pairs, skipped, lock, ..
    } = scan;
    let opts = InjectOptions {
        mode: scan_mode(args.chunks.release_mode),
        release_id: release_id.clone(),
        dry_run: global.dry_run,
        threads: 0,
        memory: handoff.as_ref().map(|h| h.memory.clone()),
        handover: handoff.as_ref().map(|h| h.handover.clone()),
        on_disk: handoff.as_ref().is_some_and(|h| h.on_disk),
        ledger: handoff.as_ref().and_then(|h| h.ledger.clone()),
    };
    let injecting = settings
        .printer
        .phase("inject", "pairs", Some(pairs.len() as u64));
    let progress = crate::printer::InjectProgress {
        inner: &LogReporter,
        phase: &injecting,
    };
    // With a handoff (`process`), each chunk's entry comes from the upload's report, so inject
    // keeps no results of its own, only counts and what failed or was skipped: on a build of
    // 50,000 chunks its results and copied pairs held tens of MB while it ran ahead of the upload.
    let Some(h) = handoff else {
        let results = inject(&pairs, &opts, &progress);
        injecting.finish(&format!("{} pairs", results.len()));
        let summary = summarize(settings, release_id, pairs.len(), &skipped, &results, false);
        return (summary, results, lock);
    };
    let tally = std::sync::Mutex::new(Tally::default());
    inject_each(&pairs, &opts, &|index, r| {
        progress.pair_done(&r);
        tally.lock().expect("no inject thread panicked").add(index, &r);
        (h.done)(index, &r);
    });
    let tally = tally.into_inner().expect("no inject thread panicked");
    let handled =
        tally.injected + tally.updated + tally.unchanged + tally.not_written.len() + tally.skipped.len();
    injecting.finish(&format!("{handled} pairs"));
    let mut summary = summarize(settings, release_id, pairs.len(), &skipped, &[], true);
    summary.injected = tally.injected;
    summary.updated = tally.updated;
    summary.unchanged = tally.unchanged;
    // in the scan's order, as from inject's sorted results
    let mut failed = tally.not_written;
    failed.sort_by_key(|(i, _)| *i);
    summary.not_written.extend(failed.into_iter().map(|(_, f)| f));
    let mut skips = tally.skipped;
    skips.sort_by_key(|(i, _)| *i);
    summary.skipped.extend(skips.into_iter().map(|(_, s)| s));
    let mut maps = tally.skipped_maps;
    maps.sort_by_key(|(i, _)| *i);
    summary.skipped_maps.extend(maps.into_iter().map(|(_, m)| m));
    (summary, Vec::new(), lock)
}

/// The summary of an inject: the scan's skips and each pair's result (with `handed_off`, no
/// chunk entries: the upload's report gives them).
pub(crate) fn summarize(
    settings: &Settings,
    release_id: Option<String>,
    pairs_found: usize,
    skipped: &[symship_scan::Skipped],
    results: &[PairResult],
    handed_off: bool,
) -> Summary {
    let mut summary = Summary {
        schema_version: crate::report::SCHEMA_VERSION,
        command: "sourcemap inject".into(),
        dry_run: settings.global.dry_run,
        release_id,
        pairs_found,
        ..Default::default()
    };
    summary.skipped = skipped
        .iter()
        .map(|s| SkippedFile {
            file: s.path.display().to_string(),
            code: s.reason.code().into(),
            reason: s.reason.to_string(),
        })
        .collect();
    summary.skipped_maps = skipped
        .iter()
        .filter_map(crate::commands::upload::kept_map)
        .collect();
    for r in results {
        match &r.result {
            Ok(o) => {
                let outcome = match o {
                    Outcome::Injected { .. } => {
                        summary.injected += 1;
                        "injected"
                    }
                    Outcome::Updated { .. } => {
                        summary.updated += 1;
                        "updated"
                    }
                    Outcome::Unchanged { .. } => {
                        summary.unchanged += 1;
                        "unchanged"
                    }
                };
                if handed_off {
                    continue;
                }
                summary.chunks.push(ChunkEntry {
                    file: r.pair.source.display().to_string(),
                    map: match &r.pair.map {
                        MapLocation::File(p) => p.display().to_string(),
                        MapLocation::Inline => "inline".into(),
                    },
                    chunk_id: o.chunk_id().to_string(),
                    outcome: outcome.into(),
                    kind: symship_upload::Kind::SourceAndMap.code(),
                    reference: o.chunk_id().to_string(),
                    reason: None,
                });
            }
            Err(reason) => {
                if let Some(m) = skipped_map(r, reason) {
                    summary.skipped_maps.push(m);
                }
                if reason.is_failure() {
                    summary.not_written.push(not_written(r, reason));
                } else {
                    summary.skipped.push(skipped_pair(r, reason));
                }
            }
        }
    }
    summary
}

/// Whether inject can stamp a release into the chunk: it has no snippet yet, or one it can
/// replace (written by posthog-cli or symship, not rewritten by a minifier) that registers a
/// chunk id, or, in symbol-set mode (the release lives in the map alone), a rewritten one whose
/// own map file carries no release and no other chunk id (`inject` adopts it). Reads only the
/// top of the file, and that map when it comes to it.
fn can_take_release(pair: &symship_scan::Pair, mode: ReleaseMode) -> bool {
    let Ok(text) = symship_scan::read_source(&pair.source) else {
        return false;
    };
    match symship_scan::snippet::find(&text) {
        None => true,
        Some(s) if !symship_scan::is_chunk_id(&s.chunk_id) => false,
        Some(s) if s.canonical => true,
        Some(s) => mode == ReleaseMode::SymbolSet && map_takes_release(pair, &s.chunk_id),
    }
}

/// Whether a rewritten snippet's map file carries no release and names no other chunk id than
/// `chunk_id` (what `inject` checks before it adopts the chunk in symbol-set mode).
fn map_takes_release(pair: &symship_scan::Pair, chunk_id: &str) -> bool {
    let symship_scan::MapLocation::File(path) = &pair.map else {
        return false;
    };
    std::fs::read(path)
        .ok()
        .and_then(|b| symship_scan::map::MapDoc::parse(b).ok())
        .is_some_and(|m| m.release_id().is_none() && m.chunk_id().is_none_or(|id| id == chunk_id))
}

/// The release to stamp, or, when no chunk can take one, the run's results without it.
pub(crate) enum Stamp {
    /// Inject with this release (or none).
    Release(Option<String>),
    /// No chunk can take a release and the server holds none by that name: it was not created,
    /// and these are the run's results (every chunk skipped, saying why).
    NotCreated(Vec<PairResult>),
}

/// Resolves the release only once a chunk is known to be able to take it (issue 13 kind 2:
/// `inject --release-*` on chunks whose snippets a minifier rewrote created the release on the
/// server, then skipped every chunk with `snippet_rewritten` and exited 3). The first chunk
/// that can take it settles it, so a build that is not all rewritten costs one file's head.
/// When none can, the release is looked up, never created: a chunk whose rewritten snippet
/// already registers it keeps it (the summary reports it); otherwise nothing is stamped and
/// nothing is created, and each chunk is skipped with its reason.
pub(crate) fn stamp_for(
    args: &InjectArgs,
    settings: &Settings,
    pairs: &[symship_scan::Pair],
) -> anyhow::Result<Stamp> {
    let release = &args.chunks.release;
    let mode = args.chunks.release_mode;
    let resolves = crate::release::has_release_flags(release) || settings.has_credentials();
    if !resolves
        || settings.global.dry_run
        || !crate::release::names_release(release)?
        || pairs.iter().any(|p| can_take_release(p, mode))
    {
        return Ok(Stamp::Release(crate::release::for_inject(
            release, mode, settings,
        )?));
    }
    if let Some(r) = crate::release::existing_release(release, settings)? {
        tracing::info!("release {}@{} ({})", r.project, r.version, r.id);
        return Ok(Stamp::Release(Some(r.id.to_string())));
    }
    let results: Vec<PairResult> = pairs
        .iter()
        .map(|pair| {
            let text = symship_scan::read_source(&pair.source);
            let reason = match text.as_deref().map(symship_scan::snippet::find) {
                Err(e) => e.clone(),
                Ok(Some(s)) if !symship_scan::is_chunk_id(&s.chunk_id) => {
                    symship_scan::SkipReason::BadChunkId { id: s.chunk_id }
                }
                Ok(_) => symship_scan::SkipReason::SnippetRewritten,
            };
            PairResult {
                pair: pair.clone(),
                result: Err(reason),
                on_disk: None,
                hashbang_moved: false,
            }
        })
        .collect();
    if !pairs.is_empty() {
        tracing::warn!(
            "the release was not created: no chunk can take it (each one's snippet was rewritten by a minifier, or registers no usable chunk id), and the server holds no such release"
        );
    }
    Ok(Stamp::NotCreated(results))
}

/// `symship sourcemap inject`: scans first, then resolves the release ([`stamp_for`]).
pub fn run(args: &InjectArgs, settings: &Settings) -> anyhow::Result<Exit> {
    stamp_and_inject(args, settings, WEB)
}

/// Scans the chunks of `target`, then resolves the release only once one can take it
/// ([`stamp_for`]), and injects.
fn stamp_and_inject(args: &InjectArgs, settings: &Settings, target: Target) -> anyhow::Result<Exit> {
    let scan = scan_matching(args, settings, target.matcher)?;
    let (mut summary, _lock) = match stamp_for(args, settings, &scan.pairs)? {
        Stamp::Release(release_id) => {
            let (summary, _, lock) = inject_scanned(args, settings, release_id, scan, None);
            (summary, lock)
        }
        Stamp::NotCreated(results) => {
            let s = summarize(settings, None, scan.pairs.len(), &scan.skipped, &results, false);
            for r in &results {
                if let Err(reason) = &r.result {
                    tracing::warn!("skipped {}: {reason}", r.pair.source.display());
                }
            }
            (s, scan.lock)
        }
    };
    summary.command = target.command.into();
    for c in &mut summary.chunks {
        c.kind = target.kind.code();
    }
    end_run(args, settings, summary)
}

/// `symship hermes inject`: as `sourcemap inject` on Metro bundles, except that event mode resolves
/// no release and injects none (posthog-cli 0.19.0's `EventReleaseSource::AppMetadata`: the app
/// reports its release with each event, and no SDK reads one out of Hermes bytecode); symbol-set
/// mode resolves (creates) the release once a bundle can take it, as `sourcemap inject` does
/// ([`stamp_for`]; posthog-cli creates it before scanning), and stamps it into the packager map.
pub fn run_hermes(args: &InjectArgs, settings: &Settings) -> anyhow::Result<Exit> {
    match args.chunks.release_mode {
        ReleaseMode::Event => finish_run(args, settings, None, METRO),
        ReleaseMode::SymbolSet => stamp_and_inject(args, settings, METRO),
    }
}

fn finish_run(
    args: &InjectArgs,
    settings: &Settings,
    release_id: Option<String>,
    target: Target,
) -> anyhow::Result<Exit> {
    let (summary, _, _lock) = inject_target(args, settings, release_id, target)?;
    end_run(args, settings, summary)
}

/// Decides the exit code and prints the summary.
fn end_run(args: &InjectArgs, settings: &Settings, mut summary: Summary) -> anyhow::Result<Exit> {
    let end = RunEnd {
        failed: !summary.not_written.is_empty(),
        processed: summary.injected + summary.updated + summary.unchanged + summary.settled(),
        skipped: summary.has_problem_skips(),
        strict: args.strict,
        allow_empty: args.allow_empty,
    };
    let exit = crate::exit::decide(Run::Inject, &end, settings.personality);
    summary.nothing_found = end.nothing_found();
    summary.exit_code = exit as u8;
    let g = &settings.global;
    crate::report::print(&mut summary, &settings.printer, g.output, g.quiet)?;
    Ok(exit)
}
