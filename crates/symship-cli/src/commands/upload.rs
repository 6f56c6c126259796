//! `symship sourcemap upload` and `symship sourcemap process`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use symship_api::env::{self, Env as _, ProcessEnv};
use symship_api::Client;
use symship_scan::{MapLocation, Outcome, Pair, PairResult, Selection};
use symship_upload::SymbolSet;
use symship_upload::{ChunkReport, DeleteOutcome, Status, UploadOptions, UploadReport};

use crate::cli::{ProcessArgs, ReleaseMode, UploadArgs, UploadOnlyArgs};
use crate::commands::inject::{inject_all, inject_scanned, scan_mode, summarize, Handoff, Stamp};
use crate::exit::{Exit, Run, RunEnd, UsageError};
use crate::files;
use crate::report::{ChunkEntry, FailedChunk, PhaseMillis, SkippedFile, Summary, UploadSummary};
use crate::settings::Settings;

/// Logs progress through `tracing` (stderr).
struct LogReporter;

impl symship_upload::Reporter for LogReporter {
    fn checked(&self, asked: usize, needed: usize) {
        tracing::debug!("checked {asked} chunk(s): {needed} need uploading");
    }
    fn chunk_done(&self, c: &ChunkReport) {
        let id = c.chunk_id();
        let id = id.as_deref().unwrap_or("-");
        match &c.status {
            // Not sent to an unreachable storage host, or refused for the key (401/403): a
            // failure of the whole run, which the summary names with each chunk; a log line per
            // chunk only repeated it (a 401 was printed twice for one chunk).
            Status::Failed { code, reason } if run_level(code) => {
                tracing::debug!("failed {} ({id}): {code}: {reason}", c.source.display())
            }
            Status::Failed { code, reason } => {
                tracing::warn!("failed {} ({id}): {code}: {reason}", c.source.display())
            }
            // most skip reasons open with the file; one that does not is given it
            Status::Skipped { reason, .. } => {
                let path = c.source.display().to_string();
                if reason.starts_with(&path) {
                    tracing::warn!("skipped {reason}")
                } else {
                    tracing::warn!("skipped {path}: {reason}")
                }
            }
            Status::TooLarge { bytes } if c.kind.is_debug_file() => tracing::warn!(
                "skipped debug file {} (debug id {id}): {}",
                c.source.display(),
                too_large(c.kind, *bytes)
            ),
            Status::TooLarge { bytes } => tracing::warn!(
                "skipped {} ({id}): {}",
                c.source.display(),
                too_large(c.kind, *bytes)
            ),
            Status::KeptDifferent => tracing::info!(
                "kept {} ({id}): the server holds different content under this chunk id, and --skip-on-conflict kept it, \
                 so this build's map is not on the server; --force replaces it",
                c.source.display()
            ),
            Status::Duplicate { of } => tracing::info!(
                "skipped {}: chunk id {id} is already sent for {}",
                c.source.display(),
                of.display()
            ),
            other => tracing::debug!("{} {} ({id})", other.code(), c.source.display()),
        }
    }
    fn warning(&self, message: &str) {
        tracing::warn!("{message}");
    }
}

/// Why a set of `kind` whose container is `bytes` long was not sent, and what to do.
pub(crate) fn too_large(kind: symship_upload::Kind, bytes: u64) -> String {
    format!(
        "its symbol set ({}) is {bytes} bytes compressed, over PostHog's 100 MiB limit; {}",
        kind.describe(),
        kind.too_large_hint()
    )
}

/// A failure that is the run's, not the chunk's: every chunk of the run fails the same way.
fn run_level(code: &str) -> bool {
    use symship_core::Code;
    matches!(
        Code::from_code_str(code),
        Some(
            Code::StorageUnreachable
                | Code::AuthenticationFailed
                | Code::NotAuthenticated
                | Code::PermissionDenied
        )
    )
}

pub(crate) fn options(
    mode: ReleaseMode,
    up: &UploadOnlyArgs,
    skip_release_on_fail: bool,
    release_id: Option<&str>,
) -> anyhow::Result<UploadOptions> {
    if up.batch_size == Some(0) {
        return Err(UsageError("--batch-size must be at least 1".into()).into());
    }
    if up.concurrency == Some(0) {
        return Err(UsageError("--concurrency must be at least 1".into()).into());
    }
    let release_id = release_id
        .map(|r| {
            symship_upload::Uuid::parse_str(r).with_context(|| format!("release id {r:?} is not a UUID"))
        })
        .transpose()?;
    let mut tuned = UploadOptions::default();
    // An escape hatch for tight CI machines (and the tests of the re-build path): the memory
    // preparation and waiting containers may use, in MiB.
    if let Some(v) = ProcessEnv.var(env::UPLOAD_MEMORY_MIB) {
        let mib: u64 = v
            .trim()
            .parse()
            .map_err(|_| UsageError(format!("{}={v:?} is not a number of MiB", env::UPLOAD_MEMORY_MIB)))?;
        tuned.prepare_memory = mib.max(1) * 1024 * 1024;
        tuned.held_memory = mib * 1024 * 1024 / 2;
    }
    Ok(UploadOptions {
        memo: hash_memo(),
        prepare_memory: tuned.prepare_memory,
        held_memory: tuned.held_memory,
        mode: scan_mode(mode),
        batch_size: up
            .batch_size
            .map_or(symship_upload::BatchSize::Auto, symship_upload::BatchSize::Fixed),
        concurrency: up.concurrency.map_or_else(
            symship_upload::Concurrency::default,
            symship_upload::Concurrency::Fixed,
        ),
        force: up.force,
        skip_on_conflict: up.skip_on_conflict,
        skip_release_on_fail,
        release_id,
        ..Default::default()
    })
}

/// Where symship remembers things between runs (the content-hash memo, the inject ledger):
/// `$SYMSHIP_CACHE_DIR`, else `$XDG_CACHE_HOME/symship`, else `~/.cache/symship`; none with
/// `SYMSHIP_NO_CACHE=1`.
fn cache_dir() -> Option<PathBuf> {
    let set = |k: &str| ProcessEnv.var(k);
    if set(env::NO_CACHE).is_some_and(|v| v != "0" && v != "false") {
        return None;
    }
    set(env::CACHE_DIR).map(PathBuf::from).or_else(|| {
        set(env::XDG_CACHE_HOME)
            .map(PathBuf::from)
            // the XDG Base Directory spec: a relative path is invalid and is ignored (a tester's
            // relative value put the cache under each working directory)
            .filter(|p| p.is_absolute())
            .or_else(|| set(env::HOME).map(|h| PathBuf::from(h).join(".cache")))
            .map(|d| d.join("symship"))
    })
}

/// The stamps of the pairs an earlier `process` left ([`symship_scan::ledger`]), read while the
/// scan runs; saved by [`save_ledger`].
fn inject_ledger() -> Option<Arc<symship_scan::ledger::Ledger>> {
    let path = cache_dir()?.join("inject-ledger.bin");
    tracing::debug!("inject ledger in {} (read in the background)", path.display());
    Some(Arc::new(symship_scan::ledger::Ledger::load_in_background(&path)))
}

fn save_ledger(ledger: Option<&symship_scan::ledger::Ledger>) {
    if let Some(ledger) = ledger {
        tracing::debug!(
            "{} pair(s) left as the last run recorded them: not read again (inject ledger)",
            ledger.hits()
        );
        if let Err(e) = ledger.save() {
            tracing::debug!("could not save the inject ledger (the next run reads every file): {e}");
        }
    }
}

/// Where the checks a run over `directories` sends ahead are recorded ([`symship_upload::ahead`]):
/// one record per host, project and set of directories (as canonical paths), in [`cache_dir`].
/// `None` without a cache, a configuration or a directory (`--stdin`).
fn checks_ahead_record(settings: &Settings, directories: &[PathBuf]) -> Option<PathBuf> {
    if directories.is_empty() {
        return None;
    }
    let config = settings.config().ok()?;
    let directories: Vec<PathBuf> = directories
        .iter()
        .map(|d| std::fs::canonicalize(d).unwrap_or_else(|_| d.clone()))
        .collect();
    let key = symship_upload::ahead::record_name(
        config.host.value.as_str(),
        config.credentials.project_id.value,
        &directories,
    );
    Some(cache_dir()?.join("checks-ahead").join(key))
}

/// Sends the checks ahead from the record at `record` ([`checks_ahead_record`]) with the run's
/// `flags`, and starts this run's record. `None` when the runtime cannot start (nothing is asked
/// ahead then; the run checks as usual).
fn start_checks_ahead(
    settings: &Settings,
    record: PathBuf,
    flags: (bool, bool),
) -> anyhow::Result<Option<symship_upload::CheckAhead>> {
    let client = settings.client()?;
    Ok(settings
        .runtime()
        .ok()
        .map(|rt| symship_upload::CheckAhead::start(client, rt.handle(), record, flags)))
}

/// A scan that `waited` for another run's lock on its directories: that run may have changed
/// what the server holds since the checks went out, so their answers are not used.
fn distrust_ahead_after_waiting(waited: bool, ahead: Option<&symship_upload::CheckAhead>) {
    if let Some(a) = ahead.filter(|_| waited) {
        a.discard();
    }
}

/// Saves what this run kept for the next run's checks ahead.
fn save_ahead(opts: &UploadOptions) {
    if let Some(ahead) = &opts.ahead {
        match ahead.save() {
            Ok(n) => tracing::debug!(
                "{} of the last run's symbol set(s) asked ahead in {} call(s){}; {n} kept for the next run",
                ahead.asked(),
                ahead.requests(),
                ahead
                    .answered_in()
                    .map(|d| format!(", answered in {} ms", d.as_millis()))
                    .unwrap_or_default()
            ),
            Err(e) => tracing::debug!(
                "could not save the record of checks ahead (the next run asks after its scan): {e}"
            ),
        }
    }
}

/// Content hashes remembered between runs, in [`cache_dir`].
fn hash_memo() -> Option<Arc<symship_upload::HashMemo>> {
    let path = cache_dir()?.join("content-hashes.json");
    // read while the scan runs: its first use waits for it
    let memo = symship_upload::HashMemo::load_in_background(&path);
    tracing::debug!(
        "content hashes remembered in {} (read in the background)",
        path.display()
    );
    Some(Arc::new(memo))
}

fn save_memo(opts: &UploadOptions) {
    if let Some(memo) = &opts.memo {
        tracing::debug!(
            "{} content hash(es) remembered{}",
            memo.len(),
            if memo.changed() {
                "; saving"
            } else {
                ", none new: the cache file stays as it is"
            }
        );
        if let Err(e) = memo.save() {
            tracing::debug!("could not save the content-hash cache (the next run hashes again): {e}");
        }
    }
}

fn map_name(m: MapLocation) -> String {
    match m {
        MapLocation::File(p) => path_text(p),
        MapLocation::Inline => "inline".into(),
    }
}

/// A path as the report shows it (`Path::display`), without a copy when it is UTF-8.
fn path_text(p: PathBuf) -> String {
    p.into_os_string()
        .into_string()
        .unwrap_or_else(|p| p.to_string_lossy().into_owned())
}

/// Fills the upload part of the summary from the report, which it takes apart as it goes: each
/// chunk's entry takes its strings from the chunk's report, so that a large build's report and
/// its summary are not both held whole (50,000 chunks: about 20 MB each).
fn fill(summary: &mut Summary, report: UploadReport, deleted: Option<&DeleteOutcome>) {
    let mut up = UploadSummary {
        uploaded: report.uploaded(),
        skipped_already_present: report.already_present(),
        skipped_kept_different: report.kept_different(),
        skipped_too_large: report.too_large(),
        skipped_duplicate: report.duplicates(),
        would_upload: report.count(|s| *s == Status::WouldUpload),
        hashes_from_cache: report.hashes_from_cache,
        bytes: report.bytes_sent,
        requests: report.requests.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        timings_ms: report
            .timings
            .iter()
            .map(|(p, t)| {
                (
                    p.name().to_string(),
                    PhaseMillis {
                        busy: t.busy.as_millis() as u64,
                        span: t.span.as_millis() as u64,
                    },
                )
            })
            .collect(),
        upload_wall_ms: report.wall.as_millis() as u64,
        concurrency: report.concurrency.into(),
        warnings: report.warnings,
        bound_elsewhere: report.bound_elsewhere,
        errors: (report.unreachable_storage.iter().map(|h| h.message()))
            .chain(report.key_refused.as_ref().map(|k| k.message()))
            .collect(),
        ..Default::default()
    };
    // Converted where they lie: a line takes no more room than a chunk's report, so the
    // report's buffer (150 bytes a chunk) is reused in place instead of a second one being
    // mapped at the end of the run, when it set the peak (+8 MB at 50,000 chunks).
    let skipped = &mut summary.skipped;
    let failed = &mut up.failed;
    summary.chunks = report
        .chunks
        .into_iter()
        .filter_map(|c| {
            let chunk_id = c.chunk_id();
            let map = c.map();
            let file = path_text(c.source.into_path_buf());
            let status = match c.status {
                Status::Skipped { code, reason } => {
                    skipped.push(SkippedFile { file, code, reason });
                    return None;
                }
                status => status,
            };
            if let Status::Failed { code, reason } = &status {
                failed.push(FailedChunk {
                    file: file.clone(),
                    chunk_id: chunk_id.clone(),
                    code: code.clone(),
                    error: reason.clone(),
                });
            }
            let chunk_id = chunk_id.unwrap_or_default();
            Some(ChunkEntry {
                file,
                map: map.map(map_name).unwrap_or_default(),
                kind: c.kind.code(),
                reference: chunk_id.clone(),
                chunk_id,
                outcome: match status.fixed_code() {
                    Some(fixed) => fixed.into(),
                    None => status.code().to_owned().into(),
                },
                reason: match status {
                    Status::TooLarge { bytes } => Some(too_large(c.kind, bytes).into()),
                    // what `failed` says of it, so that its line says why on its own
                    Status::Failed { reason, .. } => Some(reason.into()),
                    _ => None,
                },
            })
        })
        .collect();
    if let Some(d) = deleted {
        up.stripped = d.stripped.iter().map(|p| p.display().to_string()).collect();
        up.deleted = d.deleted.iter().map(|p| p.display().to_string()).collect();
    }
    summary.upload = Some(up);
}

fn print(summary: &mut Summary, settings: &Settings) -> anyhow::Result<()> {
    let g = &settings.global;
    // the warning `exit::finish` prints on stderr, in the JSON summary too
    if g.no_fail && summary.exit_code != 0 && g.output == crate::cli::OutputFormat::Json {
        if let Some(up) = summary.upload.as_mut() {
            up.warnings.push(crate::printer::no_fail_text(summary.exit_code));
        }
    }
    crate::report::print(summary, &settings.printer, g.output, g.quiet)
}

pub(crate) struct Shared<'a> {
    pub settings: &'a Settings,
    pub up: &'a UploadOnlyArgs,
    pub allow_empty: bool,
}

/// Uploads `pairs` (or plans it with --dry-run), applies --delete-after (to the CSS of
/// `selection` too), fills the summary; returns how the run ended (for the exit code).
fn upload_pairs(
    s: &Shared<'_>,
    client: Option<&Client>,
    pairs: Vec<Pair>,
    selection: &Selection,
    opts: &UploadOptions,
    summary: &mut Summary,
) -> anyhow::Result<RunEnd> {
    let sets = pairs
        .into_iter()
        .map(|p| Arc::new(p) as Arc<dyn SymbolSet>)
        .collect();
    upload_sets(s, client, sets, Some(selection), opts, "chunks", summary)
}

/// The upload tail of the commands that send one kind's symbol sets (`hermes upload`, `proguard
/// upload`, `dsym upload`, `symbol-sets upload`): fills the summary's header (command, release,
/// sets found), runs the one pipeline ([`upload_sets`]: the same retries, memo and report as
/// JavaScript) and decides the exit code as for `sourcemap upload`. `summary` may already list
/// the files the command skipped; print it with [`finish`].
pub(crate) fn upload_kind(
    s: &Shared<'_>,
    client: Option<&Client>,
    command: &str,
    sets: Vec<Arc<dyn SymbolSet>>,
    opts: &UploadOptions,
    summary: &mut Summary,
) -> anyhow::Result<Exit> {
    summary.schema_version = crate::report::SCHEMA_VERSION;
    summary.command = command.into();
    summary.dry_run = s.settings.global.dry_run;
    summary.release_id = opts.release_id.map(|r| r.to_string());
    summary.pairs_found = sets.len();
    summary.symbol_sets_found = Some(sets.len());
    let end = upload_sets(s, client, sets, None, opts, "symbol sets", summary)?;
    Ok(crate::exit::decide(Run::Upload, &end, s.settings.personality))
}

/// Uploads symbol sets of any kind (or plans it with --dry-run), applies --delete-after (to the
/// CSS stylesheets of `selection` too, see [`conclude`]), fills the summary; returns how the run ended (for the exit code). `unit` names the
/// sets in the progress line ("chunks", "symbol sets").
pub(crate) fn upload_sets(
    s: &Shared<'_>,
    client: Option<&Client>,
    sets: Vec<Arc<dyn SymbolSet>>,
    selection: Option<&Selection>,
    opts: &UploadOptions,
    unit: &'static str,
    summary: &mut Summary,
) -> anyhow::Result<RunEnd> {
    let (feed, fed) = symship_upload::feed(sets.len());
    for (position, set) in sets.into_iter().enumerate() {
        feed.send(position, set);
    }
    drop(feed);
    let report = upload_fed(s.settings, client, fed, opts, unit)?;
    Ok(conclude(s, client, report, selection, summary))
}

/// Uploads (or plans, with --dry-run) the symbol sets handed over through the feed, until every
/// sender is dropped; saves the content-hash cache.
fn upload_fed(
    settings: &Settings,
    client: Option<&Client>,
    fed: symship_upload::Fed,
    opts: &UploadOptions,
    unit: &'static str,
) -> anyhow::Result<UploadReport> {
    let reporter = Arc::new(crate::printer::UploadProgress::new(
        &settings.printer,
        unit,
        LogReporter,
    ));
    let report = match client {
        Some(c) => settings.block_on(symship_upload::upload_fed(c, fed, opts, reporter))?,
        None => settings.block_on(symship_upload::plan_fed(fed, opts, reporter))?,
    };
    save_memo(opts);
    Ok(report)
}

/// Applies --delete-after (when something was `sent`), fills the summary; returns how the run
/// ended (for the exit code). The CSS stylesheets it cleans up are picked from `selection` (what
/// the chunks were picked from: the same roots, named files, `--include` and `--exclude`), never
/// from outside it.
fn conclude(
    s: &Shared<'_>,
    client: Option<&Client>,
    report: UploadReport,
    selection: Option<&Selection>,
    summary: &mut Summary,
) -> RunEnd {
    let sent = client.is_some();
    // The sets the server holds bound to another release, which they keep: those sent again
    // without the run's release, and, with --skip-release-on-fail=false, those that failed so
    // (`release_id_mismatch`): both are listed in `already_bound`, with the release.
    let mismatched = report.chunks.iter().filter_map(|c| match &c.status {
        Status::Failed { code, .. } if code == symship_core::Code::ReleaseIdMismatch.as_str() => c.chunk_id(),
        _ => None,
    });
    let elsewhere: Vec<String> = report.bound_elsewhere.iter().cloned().chain(mismatched).collect();
    if let (Some(c), false) = (client, elsewhere.is_empty()) {
        let listed: std::collections::HashSet<String> = summary
            .already_bound
            .iter()
            .map(|b| b.reference.clone())
            .collect();
        let refs = elsewhere.into_iter().filter(|r| !listed.contains(r)).collect();
        let rows = crate::release::lookup_bound(s.settings, c, refs);
        summary.already_bound.extend(rows);
    }
    let deleted = if s.up.delete_after && sent {
        let stylesheets = selection.map(files::stylesheets).unwrap_or_default();
        let (outcome, errors) = symship_upload::delete_after(&report, &stylesheets, &summary.skipped_maps);
        for e in &errors {
            tracing::error!("{e}");
            // A reference that could not be removed or a map that could not be deleted stays in
            // the build: a failure, named in the report (`not written`).
            let symship_upload::DeleteError::Io { path, .. } = e;
            summary.not_written.push(FailedChunk {
                file: path.display().to_string(),
                chunk_id: None,
                code: e.code().into(),
                error: e.to_string(),
            });
        }
        for (path, why) in &outcome.kept {
            tracing::warn!("--delete-after kept {}: {why}", path.display());
        }
        Some((outcome, errors.is_empty()))
    } else {
        if s.up.delete_after {
            tracing::info!("--dry-run: --delete-after changes nothing");
        }
        None
    };
    // a set over PostHog's limit is a skip (README: `too_large`): a run where every set found
    // was skipped or too large sent nothing, exit 3
    let sendable = report
        .chunks
        .iter()
        .filter(|c| !matches!(c.status, Status::Skipped { .. } | Status::TooLarge { .. }))
        .count();
    let failed = report.has_failures();
    fill(summary, report, deleted.as_ref().map(|(d, _)| d));
    if let (Some((outcome, _)), Some(up)) = (&deleted, summary.upload.as_mut()) {
        // Whatever --delete-after left in the build is named, so no deployed map stays silently.
        for (path, why) in &outcome.kept {
            up.warnings
                .push(format!("--delete-after kept {}: {why}", path.display()));
        }
    }
    RunEnd {
        failed: failed || deleted.as_ref().is_some_and(|(_, ok)| !ok),
        processed: sendable,
        allow_empty: s.allow_empty,
        ..Default::default()
    }
}

/// The map a skipped chunk leaves on disk, with why (for `--delete-after`'s warning).
pub(crate) fn kept_map(s: &symship_scan::Skipped) -> Option<(PathBuf, String)> {
    let map = symship_scan::pair::map_of_skipped(s)?;
    Some((map, skipped_why(&s.path, s.reason.code().as_str())))
}

/// Why `--delete-after` keeps the map of a chunk skipped with `code`.
pub(crate) fn skipped_why(chunk: &std::path::Path, code: &str) -> String {
    format!(
        "its chunk {} was skipped ({code}), so nothing of it was uploaded; the map is left on disk",
        chunk.display()
    )
}

/// Whether `sourcemap upload` can send this pair (so a release with it): its chunk names a chunk
/// id (a snippet or `//# chunkId=` registering a UUID, or a `//# debugId=` comment), or its map
/// file has a `debugId`; an inline map is taken to be able to. Otherwise the upload skips it
/// (`no_chunk_id`, `bad_chunk_id`, unreadable). Reads the chunk, and its map only when the chunk
/// names no id.
fn names_chunk_id(pair: &Pair) -> bool {
    let Ok(text) = symship_scan::read_source(&pair.source) else {
        return false;
    };
    if let Some(e) = symship_scan::chunk::existing(&text) {
        return symship_scan::is_chunk_id(&e.chunk_id);
    }
    if symship_scan::chunk::debug_id_comment(&text).is_some() {
        return true;
    }
    match &pair.map {
        MapLocation::Inline => true,
        MapLocation::File(m) => std::fs::read(m)
            .ok()
            .and_then(|b| symship_scan::map::MapDoc::parse(b).ok())
            .is_some_and(|d| d.debug_id().is_some()),
    }
}

/// The chunk id a pair's chunk registers (a snippet or `//# chunkId=` naming a UUID) and the
/// `release_id` its map carries; `None` when the chunk names no chunk id or cannot be read.
fn carried_release(pair: &Pair) -> Option<(String, Option<String>)> {
    let (source, map) = symship_scan::hash::read_pair(pair).ok()?;
    let id = symship_scan::chunk::existing(&source)?.chunk_id;
    if !symship_scan::is_chunk_id(&id) {
        return None;
    }
    let release = symship_scan::map::MapDoc::parse(map)
        .ok()
        .and_then(|d| d.release_id());
    Some((id, release))
}

/// At most this many files are named in a warning that counts them (`-v` names each).
const NAMED_IN_A_LINE: usize = 3;

/// Chunks whose map carries another release than the flags' (`release_id`, stamped by an inject
/// or process under other flags), sent bound to the flags' release: a warning names them once
/// the upload is done ([`OtherRelease::warning`]).
#[derive(Debug, Default)]
struct OtherRelease {
    /// `name@version (id)` of the flags' release.
    flags: String,
    /// Each chunk, its map and the release that map carries.
    moved: Vec<(PathBuf, MapLocation, String)>,
}

impl OtherRelease {
    /// The warning (for the summary), logged: which chunks' maps carry another release, that
    /// their symbol sets are bound to the flags' release, and that the maps keep theirs. A chunk
    /// that failed with `release_id_mismatch` is left out: the server holds its set bound to
    /// another release, which it keeps (`--skip-release-on-fail=false`; the summary lists it in
    /// `already_bound`); it was not bound to the flags' release.
    fn warning(&self, not_bound: &std::collections::HashSet<&str>) -> Option<String> {
        let moved: Vec<_> = self
            .moved
            .iter()
            .filter(|(p, _, _)| !p.to_str().is_some_and(|p| not_bound.contains(p)))
            .collect();
        if moved.is_empty() {
            return None;
        }
        for (p, _, r) in &moved {
            tracing::debug!(
                "{}: its map carries release {r}; its symbol set is bound to {}",
                p.display(),
                self.flags
            );
        }
        let named: Vec<String> = moved
            .iter()
            .take(NAMED_IN_A_LINE)
            .map(|(p, m, r)| format!("{} (map {}, release {r})", p.display(), map_label(m)))
            .collect();
        let more = moved.len().saturating_sub(NAMED_IN_A_LINE);
        let w = format!(
            "{} chunk{} whose map carries another release than the flags' {}: {} symbol set{} bound to the flags' release \
             (as posthog-cli binds them); the map keeps its release_id \
             (inject again with these flags to stamp it): {}{}",
            moved.len(),
            if moved.len() == 1 { "" } else { "s" },
            self.flags,
            if moved.len() == 1 { "its" } else { "their" },
            if moved.len() == 1 { " is" } else { "s are" },
            named.join(", "),
            if more > 0 {
                format!(" and {more} more (-v names each)")
            } else {
                String::new()
            }
        );
        tracing::warn!("{w}");
        Some(w)
    }
}

/// `sourcemap upload --release-mode symbol-set` with release flags: which release the chunks are
/// sent with ([`crate::release::bind`]). The flags win, as posthog-cli 0.19.0 sends them: a new
/// symbol set is bound to their release even when its map carries another (`release_id`, stamped
/// by an inject or process under other flags), and a warning names those maps once the upload is
/// done ([`OtherRelease`]). A set the server already holds bound to another release keeps it: the
/// chunks whose map carries another release than the flags' are looked up (the sets of that
/// release listed, or one `GET symbol_sets/?ref=` each: [`crate::release::bind`]; chunks whose
/// map carries the flags' release, or none, are not), and
/// those the server holds bound elsewhere are sent without a release and named in the summary
/// (`already_bound`); with `--skip-release-on-fail=false` nothing is looked up, and such a set
/// fails with `release_id_mismatch`. Reads each chunk and its map once more.
fn bind_pairs(
    settings: &Settings,
    client: Option<&Client>,
    release: &crate::cli::ReleaseArgs,
    pairs: &[Pair],
) -> anyhow::Result<(crate::release::Binding, OtherRelease)> {
    let Some(plan) = crate::release::plan_release(release, None)? else {
        return Ok(Default::default());
    };
    let carried: Vec<(&Pair, String, Option<String>)> = pairs
        .iter()
        .filter_map(|p| carried_release(p).map(|(id, r)| (p, id, r)))
        .collect();
    // the flags' release as the server holds it (looked up, not made): a map that carries it
    // needs no lookup
    let known = if carried.iter().any(|(_, _, r)| r.is_some()) {
        crate::release::existing_release(release, settings)?.map(|r| r.id.to_string())
    } else {
        None
    };
    let other = |r: &Option<String>| r.is_some() && *r != known;
    // with the release each map carries: the sets of one release are listed, not looked up
    // one by one
    let lookup: Vec<(String, Option<symship_upload::Uuid>)> = carried
        .iter()
        .filter(|(_, _, r)| other(r))
        .map(|(_, id, r)| {
            (
                id.clone(),
                r.as_deref().and_then(|r| symship_upload::Uuid::parse_str(r).ok()),
            )
        })
        .collect();
    let every: Vec<String> = carried.iter().map(|(_, id, _)| id.clone()).collect();
    let binding = crate::release::bind(
        settings,
        client,
        &plan,
        release.skip_release_on_fail,
        lookup,
        &every,
    )?;
    if let Some(id) = &binding.release_id {
        tracing::info!("release {}@{} ({id})", plan.name, plan.version);
    }
    // new sets (or sets the server holds without a release) whose map names another release:
    // bound to the flags' release
    let other_release = match &binding.release_id {
        Some(id) => OtherRelease {
            flags: format!("{}@{} ({id})", plan.name, plan.version),
            moved: carried
                .iter()
                .filter(|(_, id, r)| other(r) && !binding.elsewhere.contains_key(id))
                .filter_map(|(p, _, r)| r.as_deref().map(|r| (*p, r)))
                .filter(|(_, r)| binding.release_id.as_deref() != Some(*r))
                .map(|(p, r)| (p.source.clone(), p.map.clone(), r.to_owned()))
                .collect(),
        },
        None => OtherRelease::default(),
    };
    Ok((binding, other_release))
}

/// A map as a warning names it.
fn map_label(m: &MapLocation) -> String {
    match m {
        MapLocation::File(p) => p.display().to_string(),
        MapLocation::Inline => "inline".into(),
    }
}

/// `symship sourcemap upload`.
pub fn upload(args: &UploadArgs, settings: &Settings) -> anyhow::Result<Exit> {
    let global = &settings.global;
    // Credentials first: a configuration problem ends the run before any work.
    let client = if global.dry_run {
        None
    } else {
        Some(settings.client()?)
    };
    // The release is resolved after the scan (below); the flags are checked first.
    let mut opts = options(
        args.chunks.release_mode,
        &args.upload,
        args.chunks.release.skip_release_on_fail,
        None,
    )?;
    // a re-run's one round trip goes out now, while the scan runs (see `process`)
    if !global.dry_run {
        if let Some(record) = checks_ahead_record(settings, &args.chunks.files.directories) {
            opts.ahead = start_checks_ahead(settings, record, opts.effective_conflict())?.map(Arc::new);
        }
    }
    let scanning = settings.printer.phase("scan", "pairs", None);
    let writes = if args.upload.delete_after && !global.dry_run {
        files::Writes::Yes {
            no_wait: args.chunks.no_wait,
        }
    } else {
        files::Writes::No
    };
    let files::Scan {
        pairs,
        skipped,
        lock: _lock,
        waited,
        selection,
    } = files::scan(
        &args.chunks.files,
        args.chunks.public_path_prefix.as_deref(),
        writes,
        &settings.printer,
    )?;
    scanning.finish(&crate::printer::scan_found(pairs.len(), skipped.len()));
    files::log_skipped(&skipped, false);
    distrust_ahead_after_waiting(waited, opts.ahead.as_deref());
    // Symbol-set mode sends the release the flags name with each set: it is resolved (created)
    // only once a chunk found can be uploaded (as inject, e93a0d0); a build never injected, or a
    // wrong directory, creates none. A set the server holds bound to another release keeps it.
    let (binding, other_release) = if args.chunks.release_mode == ReleaseMode::SymbolSet
        && crate::release::has_release_flags(&args.chunks.release)
    {
        if pairs.iter().any(names_chunk_id) {
            bind_pairs(settings, client, &args.chunks.release, &pairs)?
        } else {
            if !pairs.is_empty() {
                tracing::warn!(
                    "the release was not created: no chunk found has a chunk id to upload it with"
                );
            }
            Default::default()
        }
    } else {
        Default::default()
    };
    opts.release_id = binding
        .release_id
        .as_deref()
        .map(|r| {
            symship_upload::Uuid::parse_str(r).with_context(|| format!("release id {r:?} is not a UUID"))
        })
        .transpose()?;
    opts.unbound = binding.unbound();
    let mut summary = Summary {
        schema_version: crate::report::SCHEMA_VERSION,
        command: "sourcemap upload".into(),
        dry_run: global.dry_run,
        release_id: binding.release_id.clone(),
        already_bound: binding.already_bound(),
        pairs_found: pairs.len(),
        skipped: skipped
            .iter()
            .map(|s| SkippedFile {
                file: s.path.display().to_string(),
                code: s.reason.code().into(),
                reason: s.reason.to_string(),
            })
            .collect(),
        skipped_maps: skipped.iter().filter_map(kept_map).collect(),
        ..Default::default()
    };
    let shared = Shared {
        settings,
        up: &args.upload,
        allow_empty: args.allow_empty,
    };
    let mut end = upload_pairs(&shared, client, pairs, &selection, &opts, &mut summary)?;
    save_ahead(&opts);
    if let Some(up) = summary.upload.as_mut() {
        up.warnings.extend(binding.lookup_failed.clone());
        // bound to the flags' release: the chunks that landed (or would, in a dry run), but for
        // those the server answered were bound elsewhere (sent again without it); not those that
        // failed (a fresh tester: a refused start counted 5 chunks whose sets the server never
        // got), were too large, duplicates, or kept as other content
        let elsewhere: HashSet<&str> = up.bound_elsewhere.iter().map(String::as_str).collect();
        let landed = |c: &crate::report::ChunkEntry| {
            ["uploaded", "already_present", "would_upload"].contains(&&*c.outcome)
                && !elsewhere.contains(c.chunk_id.as_str())
        };
        let not_bound = up
            .failed
            .iter()
            .map(|f| f.file.as_str())
            .chain(
                summary
                    .chunks
                    .iter()
                    .filter(|c| !landed(c))
                    .map(|c| c.file.as_str()),
            )
            .collect();
        if let Some(w) = other_release.warning(&not_bound) {
            up.warnings.push(w);
        }
    }
    // chunks a --delete-after run finished are done, not "nothing found"
    end.processed += summary.settled();
    let exit = crate::exit::decide(Run::Upload, &end, settings.personality);
    summary.nothing_found = end.nothing_found();
    summary.exit_code = exit as u8;
    print(&mut summary, settings)?;
    Ok(exit)
}

/// Records the exit code in the summary and prints it.
pub(crate) fn finish(summary: &mut Summary, exit: Exit, settings: &Settings) -> anyhow::Result<Exit> {
    summary.exit_code = exit as u8;
    print(summary, settings)?;
    Ok(exit)
}

/// The room between `process`'s inject and its upload.
#[derive(Debug)]
struct Room(symship_upload::Feed);

impl symship_scan::Handover for Room {
    fn reserve(&self, n: usize) {
        self.0.reserve(n)
    }
}

/// `symship sourcemap process`: inject, then upload exactly the pairs inject handled (one walk).
pub fn process(args: &ProcessArgs, settings: &Settings) -> anyhow::Result<Exit> {
    let global = &settings.global;
    let inject = &args.inject;
    if !global.dry_run {
        // Credentials first: a configuration problem ends the run before any work. The client
        // itself (its TLS roots: ~12 ms of CPU) is built while the scan runs, below.
        settings.config()?;
    }
    // read while the scan runs; inject consults it (not in a dry run, which writes nothing)
    let ledger = if global.dry_run { None } else { inject_ledger() };
    let opts = options(
        inject.chunks.release_mode,
        &args.upload,
        inject.chunks.release.skip_release_on_fail,
        None,
    )?;
    // The release is resolved once and shared by inject and upload; outside --dry-run, only once
    // the scan found a chunk that can take it (`inject::stamp_for`: a release no chunk can take
    // is not created).
    let mut scanned = None;
    let mut not_created = None;
    let mut ahead = None;
    let release_id = if global.dry_run {
        crate::release::for_inject(&inject.chunks.release, inject.chunks.release_mode, settings)?
    } else {
        // The scan only reads; the client is ready (or its error stops the run) before anything
        // is written or sent. With it, the last run's symbol sets in these directories are asked
        // about (checks ahead).
        let record = checks_ahead_record(settings, &inject.chunks.files.directories);
        let flags = opts.effective_conflict();
        // With a record, its checks go out first: on a re-run they, not the scan, are the
        // longest part (a round trip); the scan then runs while they are answered.
        let early = match record.clone().filter(|r| r.is_file()) {
            Some(r) => start_checks_ahead(settings, r, flags)?,
            None => None,
        };
        let (found, built) = std::thread::scope(|s| {
            let building = s.spawn(|| match (&early, record) {
                (None, Some(record)) => start_checks_ahead(settings, record, flags),
                _ => settings.client().map(|_| None),
            });
            let found = crate::commands::inject::scan(inject, settings);
            (found, building.join())
        });
        let built = built.unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        ahead = early.or(built);
        distrust_ahead_after_waiting(found.as_ref().is_ok_and(|f| f.waited), ahead.as_ref());
        let found = found?;
        let stamp = crate::commands::inject::stamp_for(inject, settings, &found.pairs)?;
        scanned = Some(found);
        match stamp {
            Stamp::Release(r) => r,
            Stamp::NotCreated(results) => {
                not_created = Some(results);
                None
            }
        }
    };
    let client = if global.dry_run {
        None
    } else {
        Some(settings.client()?)
    };
    let mut opts = opts;
    opts.ahead = ahead.map(Arc::new);
    if inject.chunks.release_mode == ReleaseMode::SymbolSet {
        opts.release_id = release_id
            .as_deref()
            .map(|r| {
                symship_upload::Uuid::parse_str(r).with_context(|| format!("release id {r:?} is not a UUID"))
            })
            .transpose()?;
    }
    let shared = Shared {
        settings,
        up: &args.upload,
        allow_empty: inject.allow_empty,
    };
    // The lock is held through the upload, so that `--delete-after` writes under it too.
    let (mut summary, mut end, _lock) = if let Some(results) = not_created {
        let found = scanned.take().expect("scanned outside --dry-run");
        for r in &results {
            if let Err(reason) = &r.result {
                tracing::warn!("skipped {}: {reason}", r.pair.source.display());
            }
        }
        let mut summary = summarize(settings, None, found.pairs.len(), &found.skipped, &results, false);
        let skipped = std::mem::take(&mut summary.skipped);
        // nothing was uploaded; the checks sent ahead were sent all the same
        let mut report = UploadReport::default();
        if let Some(a) = &opts.ahead {
            a.count_into(&mut report.requests);
        }
        fill(&mut summary, report, None);
        summary.skipped = skipped;
        let end = RunEnd {
            allow_empty: inject.allow_empty,
            ..Default::default()
        };
        (summary, end, found.lock)
    } else if global.dry_run {
        let (mut summary, results, lock) = inject_all(inject, settings, release_id.clone())?;
        // Nothing was written, so the files on disk are not injected: report from inject's results.
        let chunks: Vec<ChunkReport> = results
            .iter()
            .filter_map(|r| {
                r.result.as_ref().ok().map(|o: &Outcome| {
                    ChunkReport::new(
                        symship_upload::Kind::SourceAndMap,
                        &r.pair.source,
                        Some(&r.pair.map),
                        r.pair.cleanup(),
                        Some(o.chunk_id()),
                        Status::WouldUpload,
                    )
                })
            })
            .collect();
        let n = chunks.len();
        let report = UploadReport {
            chunks,
            ..Default::default()
        };
        let skipped = std::mem::take(&mut summary.skipped);
        fill(&mut summary, report, None);
        summary.skipped = skipped;
        let end = RunEnd {
            processed: n,
            allow_empty: inject.allow_empty,
            ..Default::default()
        };
        (summary, end, lock)
    } else {
        // Inject and upload at once: each pair goes to the upload as soon as inject has written
        // it (and its map), and both take their memory from one budget.
        let scanned = scanned.take().expect("scanned outside --dry-run");
        let selection = scanned.selection.clone();
        let budget = symship_upload::MemoryBudget::new(opts.prepare_memory);
        opts.memory = Some(budget.clone());
        // Inject waits while this many injected pairs wait for the upload: it does not run
        // ahead of a slower upload with everything it injected waiting (bounded hand-over).
        let (feed, fed) = symship_upload::feed_bounded(scanned.pairs.len(), symship_upload::CHECK_BATCH);
        let memo_knows = opts.memo.as_ref().is_some_and(|m| !m.is_empty());
        let (injected, report) = std::thread::scope(|scope| {
            let injecting = scope.spawn(|| {
                let handover = Arc::new(Room(feed.clone()));
                // dropped with this thread's closure (and the handover with inject's options):
                // the upload then ends once it has sent what it was handed
                let done = move |position: usize, r: &PairResult| {
                    if r.result.is_ok() {
                        // with what inject left on disk, so an unchanged pair is not read again
                        // (only when the memo may know them: on a first run the digests are
                        // the ledger's alone, and 50,000 waiting sets held ~4 MB more with them)
                        let on_disk = r.on_disk.filter(|_| memo_knows);
                        let set: Arc<dyn symship_upload::SymbolSet> = match (on_disk, &r.result) {
                            (Some(on_disk), Ok(outcome)) => Arc::new(symship_scan::set::Injected {
                                pair: r.pair.clone(),
                                on_disk,
                                chunk_id: outcome.chunk_id().to_owned(),
                            }),
                            _ => Arc::new(r.pair.clone()),
                        };
                        feed.send(position, set);
                    } else {
                        feed.give_back();
                    }
                };
                let handoff = Handoff {
                    memory: Arc::new(budget),
                    handover,
                    done: &done,
                    // a memo that remembers nothing (a first run) finds no digest; the
                    // ledger records them for the next run
                    on_disk: ledger.is_some() || memo_knows,
                    ledger: ledger.clone(),
                };
                inject_scanned(inject, settings, release_id.clone(), scanned, Some(handoff))
            });
            let report = upload_fed(settings, client, fed, &opts, "chunks");
            (injecting.join(), report)
        });
        let (mut summary, _, lock) = injected.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        save_ledger(ledger.as_deref());
        let report = report?;
        save_ahead(&opts);
        // Saved: their tables (a few hundred bytes a chunk) go before the report's lines are
        // built, which took their place at the end of a 50,000-chunk run (peak RSS +8 MB).
        drop(ledger);
        opts.memo = None;
        opts.ahead = None;
        let end = conclude(&shared, client, report, Some(&selection), &mut summary);
        (summary, end, lock)
    };
    summary.command = "sourcemap process".into();
    // A chunk that could not be injected was not uploaded either: a failure, not "empty".
    end.failed |= !summary.not_written.is_empty();
    end.skipped = summary.has_problem_skips();
    // chunks a --delete-after run finished are done, not "nothing found"
    end.processed += summary.settled();
    end.strict = inject.strict;
    let exit = crate::exit::decide(Run::Process, &end, settings.personality);
    summary.nothing_found = end.nothing_found();
    summary.exit_code = exit as u8;
    print(&mut summary, settings)?;
    Ok(exit)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The report's lines are built in the buffer of its chunks (no second buffer of 50,000
    /// lines at the end of a large run): a line must not outgrow a chunk's report.
    #[test]
    fn the_report_lines_reuse_the_chunks_buffer() {
        let chunk = |i: usize, status: Status| {
            ChunkReport::new(
                symship_upload::Kind::SourceAndMap,
                std::path::Path::new(&format!("/build/assets/chunk-{i}.js")),
                Some(&symship_core::set::MapLocation::File(
                    format!("/build/assets/chunk-{i}.js.map").into(),
                )),
                symship_core::set::Cleanup::default(),
                Some("0b1e7c2a-5f4e-4e5b-9d3c-2a1b0c9d8e7f"),
                status,
            )
        };
        let chunks: Vec<ChunkReport> = (0..1000)
            .map(|i| match i % 100 {
                7 => chunk(i, Status::TooLarge { bytes: 200 << 20 }),
                8 => chunk(
                    i,
                    Status::Failed {
                        code: "http_500".into(),
                        reason: "the server failed".into(),
                    },
                ),
                9 => chunk(
                    i,
                    Status::Skipped {
                        code: "no_chunk_id".into(),
                        reason: "no chunk id".into(),
                    },
                ),
                _ => chunk(i, Status::Uploaded),
            })
            .collect();
        let buffer = chunks.as_ptr() as usize;
        let report = UploadReport {
            chunks,
            ..Default::default()
        };
        let mut summary = Summary::default();
        fill(&mut summary, report, None);
        assert_eq!(
            summary.chunks.as_ptr() as usize,
            buffer,
            "the lines were built in a new buffer"
        );
        assert_eq!(summary.chunks.len(), 990);
        assert_eq!(summary.skipped.len(), 10);
        let upload = summary.upload.as_ref().unwrap();
        assert_eq!(upload.failed.len(), 10);
        assert_eq!(summary.chunks[7].outcome, "too_large");
        assert!(summary.chunks[7].reason.as_deref().unwrap().contains("MiB"));
        assert_eq!(summary.chunks[8].outcome, "http_500");
        assert_eq!(summary.chunks[8].reason.as_deref(), Some("the server failed"));
        assert_eq!(summary.chunks[0].reason, None);
        assert_eq!(summary.chunks[0].outcome, "uploaded");
        assert_eq!(
            summary.chunks[0].reference,
            "0b1e7c2a-5f4e-4e5b-9d3c-2a1b0c9d8e7f"
        );
    }
}
