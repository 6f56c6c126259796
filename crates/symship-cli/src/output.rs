//! Everything symship shows a person or a CI system, apart from `tracing` diagnostics:
//!
//! - progress of the scan, inject and upload phases: bars (indicatif) when stderr is a terminal,
//!   plain `INFO` lines at most every [`LINE_INTERVAL`] otherwise, or when `SYMSHIP_NO_PROGRESS=1`,
//!   with `-v` (diagnostics would interleave with the bars) or nothing with `-q`;
//! - the final text summary (stderr) or the JSON summary (stdout, `--output json`);
//! - in GitHub Actions (`GITHUB_ACTIONS=true`): `::error`/`::warning` annotations naming the
//!   files, a markdown job summary appended to `$GITHUB_STEP_SUMMARY`, and step outputs
//!   (`release-id`, `uploaded`, `skipped`, `failed`, `exit-code`, `summary-json`) appended to
//!   `$GITHUB_OUTPUT`.
//!
//! Log lines written while bars are drawn go through [`log_writer`], which hides the bars for
//! the moment of the write, so a warning never tears a bar apart.

use std::collections::{BTreeMap, HashSet};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use symship_api::env::{self, Env as _, ProcessEnv};

use crate::cli::{GlobalArgs, OutputFormat};
use crate::summary::Summary;
use crate::untrusted::neutralize;

/// Plain progress lines are written at most this often per phase (plus one when it ends).
pub const LINE_INTERVAL: Duration = Duration::from_secs(5);

/// `SYMSHIP_NO_PROGRESS=1` turns bars off even on a terminal.
pub const NO_PROGRESS_ENV: &str = symship_api::env::NO_PROGRESS;

/// At most this many annotations of each level per run: GitHub shows only 10 per step and level,
/// so the tenth says how many more there are.
const MAX_ANNOTATIONS: usize = 10;

/// Rows of the job summary's failure and skip tables (the JSON summary has all of them).
const MAX_TABLE_ROWS: usize = 50;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// indicatif bars on stderr.
    Bars,
    /// Plain log lines at a bounded rate.
    Lines,
    /// Nothing (`-q`).
    Silent,
}

/// Bars only for a person at a terminal who did not ask for quiet, verbose or no progress.
pub fn choose_style(stderr_is_terminal: bool, no_progress: Option<&str>, quiet: bool, verbose: u8) -> Style {
    if quiet {
        Style::Silent
    } else if !stderr_is_terminal || verbose > 0 || no_progress.is_some_and(|v| v.trim() == "1") {
        Style::Lines
    } else {
        Style::Bars
    }
}

/// The process-wide output state.
pub struct Output {
    style: Style,
    multi: Option<MultiProgress>,
    github: Option<GitHub>,
    /// Wall time of each finished phase, in the order they ended.
    phases: Mutex<Vec<(&'static str, Duration)>>,
}

static OUTPUT: OnceLock<Output> = OnceLock::new();

/// Sets the output up from the flags and the environment; call once, before logging starts.
pub fn init(global: &GlobalArgs) -> &'static Output {
    OUTPUT.get_or_init(|| {
        let style = choose_style(
            std::io::stderr().is_terminal(),
            ProcessEnv.raw(NO_PROGRESS_ENV).as_deref(),
            global.quiet,
            global.verbose,
        );
        Output::new(style, GitHub::from_env())
    })
}

/// The output set up by [`init`] (plain lines if it was not called).
pub fn get() -> &'static Output {
    OUTPUT.get_or_init(|| Output::new(Style::Lines, None))
}

impl Output {
    fn new(style: Style, github: Option<GitHub>) -> Output {
        let multi = (style == Style::Bars)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)));
        Output {
            style,
            multi,
            github,
            phases: Mutex::new(Vec::new()),
        }
    }

    /// Starts a phase. `unit` names what is counted ("pairs", "chunks"); `total` may come later
    /// through [`Phase::set_total`]; without one the bar is a spinner.
    pub fn phase(&'static self, name: &'static str, unit: &'static str, total: Option<u64>) -> Phase {
        let bar = self.multi.as_ref().map(|m| {
            let bar = match total {
                Some(n) => ProgressBar::new(n).with_style(bar_style(unit)),
                None => ProgressBar::new_spinner().with_style(spinner_style(unit)),
            };
            let bar = m.add(bar);
            bar.set_prefix(name);
            if total.is_none() {
                bar.enable_steady_tick(Duration::from_millis(120));
            }
            bar
        });
        Phase {
            out: self,
            name,
            unit,
            started: Instant::now(),
            bar,
            done: AtomicU64::new(0),
            total: AtomicU64::new(total.unwrap_or(0)),
            bytes: AtomicU64::new(0),
            last_line: Mutex::new(Instant::now()),
            finished: AtomicBool::new(false),
        }
    }

    fn record(&self, name: &'static str, took: Duration) {
        self.phases.lock().expect("lock").push((name, took));
    }

    /// Wall milliseconds per finished phase (for the summary's `wall_ms`).
    pub fn phase_millis(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for (name, took) in self.phases.lock().expect("lock").iter() {
            *m.entry((*name).to_string()).or_default() += took.as_millis() as u64;
        }
        m
    }

    /// Leaves the bars drawn so far on screen and draws no more (the summary goes below them).
    pub fn stop_bars(&self) {
        if let Some(m) = &self.multi {
            m.set_draw_target(ProgressDrawTarget::hidden());
        }
    }

    /// In GitHub Actions, a `::warning` saying that `--no-fail` hid a non-zero exit code.
    pub fn no_fail_annotation(&self, code: u8) {
        if self.github.is_some() {
            self.eprint(&format!(
                "::warning title={}::{}\n",
                escape_property("symship --no-fail"),
                escape_data(&format!(
                    "the run did not succeed (exit code would be {code}); --no-fail made the step pass"
                ))
            ));
        }
    }

    /// Prints the error that ends the run, as `error: …` on stderr. Always: neither `-q` nor any
    /// `RUST_LOG` filter hides it.
    pub fn fatal(&self, message: &str) {
        self.stop_bars();
        self.eprint(&neutralize(&format!("error: {message}\n")));
    }

    /// Writes `text` to stderr without tearing a bar.
    pub fn eprint(&self, text: &str) {
        let write = || {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(text.as_bytes());
            let _ = err.flush();
        };
        match &self.multi {
            Some(m) => m.suspend(write),
            None => write(),
        }
    }
}

fn bar_style(unit: &str) -> ProgressStyle {
    ProgressStyle::with_template(&format!(
        "{{prefix:>7}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{msg}} ETA {{eta}}"
    ))
    .expect("valid template")
    .progress_chars("=> ")
}

fn spinner_style(unit: &str) -> ProgressStyle {
    ProgressStyle::with_template(&format!(
        "{{prefix:>7}} {{spinner}} looking for {unit} {{elapsed}}"
    ))
    .expect("valid template")
}

/// One phase's progress. Thread-safe: the reporters call it from worker threads.
pub struct Phase {
    out: &'static Output,
    name: &'static str,
    unit: &'static str,
    started: Instant,
    bar: Option<ProgressBar>,
    done: AtomicU64,
    total: AtomicU64,
    bytes: AtomicU64,
    last_line: Mutex<Instant>,
    finished: AtomicBool,
}

impl Phase {
    pub fn set_total(&self, n: u64) {
        self.total.store(n, Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.set_length(n);
        }
    }

    pub fn inc(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(b) = &self.bar {
            b.set_position(done);
        } else {
            self.maybe_line();
        }
    }

    /// Bytes sent so far (shown with the rate).
    pub fn add_bytes(&self, n: u64) {
        let bytes = self.bytes.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(b) = &self.bar {
            let secs = self.started.elapsed().as_secs_f64().max(0.001);
            b.set_message(format!(
                "{} sent, {}/s",
                human_bytes(bytes),
                human_bytes((bytes as f64 / secs) as u64)
            ));
        }
    }

    /// A line at most every [`LINE_INTERVAL`] in [`Style::Lines`].
    fn maybe_line(&self) {
        if self.out.style != Style::Lines {
            return;
        }
        let mut last = self.last_line.lock().expect("lock");
        if last.elapsed() < LINE_INTERVAL {
            return;
        }
        *last = Instant::now();
        drop(last);
        tracing::info!("{}: {}", self.name, self.progress_text());
    }

    fn progress_text(&self) -> String {
        let done = self.done.load(Ordering::Relaxed);
        let total = self.total.load(Ordering::Relaxed);
        let mut s = if total > 0 {
            format!("{done}/{total} {} ({}%)", self.unit, done * 100 / total.max(1))
        } else {
            format!("{done} {}", self.unit)
        };
        let bytes = self.bytes.load(Ordering::Relaxed);
        if bytes > 0 {
            s.push_str(&format!(", {} sent", human_bytes(bytes)));
        }
        s
    }

    /// Ends the phase: the bar stays with `message`; in plain mode one line says what was done.
    pub fn finish(&self, message: &str) {
        if self.finished.swap(true, Ordering::Relaxed) {
            return;
        }
        let took = self.started.elapsed();
        self.out.record(self.name, took);
        match &self.bar {
            Some(b) => {
                b.disable_steady_tick();
                let template = if b.length().is_none() {
                    "{prefix:>7} {msg}"
                } else {
                    "{prefix:>7} [{bar:30}] {msg}"
                };
                b.set_style(
                    ProgressStyle::with_template(template)
                        .expect("valid template")
                        .progress_chars("=> "),
                );
                b.finish_with_message(format!("{message} in {}", human_duration(took)));
            }
            None if self.out.style == Style::Lines => {
                tracing::info!("{}: {message} in {}", self.name, human_duration(took));
            }
            None => {}
        }
    }
}

impl Drop for Phase {
    fn drop(&mut self) {
        // A phase left by an error still records its time; its bar is left as it was.
        if !self.finished.swap(true, Ordering::Relaxed) {
            self.out.record(self.name, self.started.elapsed());
            if let Some(b) = &self.bar {
                b.abandon();
            }
        }
    }
}

/// Progress of `inject`: counts pairs and passes every result on to `inner`.
pub struct InjectProgress<'a, R> {
    pub inner: &'a R,
    pub phase: &'a Phase,
}

impl<R: symship_scan::Reporter> symship_scan::Reporter for InjectProgress<'_, R> {
    fn pair_done(&self, r: &symship_scan::PairResult) {
        self.inner.pair_done(r);
        self.phase.inc(1);
    }
}

/// Progress of the upload pipeline: chunks done, bytes sent; passes everything on to `inner`.
pub struct UploadProgress<R> {
    inner: R,
    phase: Phase,
    seen: Mutex<HashSet<PathBuf>>,
}

impl<R: symship_upload::Reporter> UploadProgress<R> {
    pub fn new(inner: R) -> UploadProgress<R> {
        UploadProgress {
            inner,
            phase: get().phase("upload", "chunks", Some(0)),
            seen: Mutex::new(HashSet::new()),
        }
    }
}

impl<R> Drop for UploadProgress<R> {
    fn drop(&mut self) {
        let done = self.phase.done.load(Ordering::Relaxed);
        let msg = match self.phase.bytes.load(Ordering::Relaxed) {
            0 => format!("{done} chunks"),
            b => format!("{done} chunks, {} sent", human_bytes(b)),
        };
        self.phase.finish(&msg);
    }
}

impl<R: symship_upload::Reporter> symship_upload::Reporter for UploadProgress<R> {
    fn total(&self, chunks: usize) {
        self.phase.set_total(chunks as u64);
        self.inner.total(chunks);
    }
    fn prepared(&self, source: &Path) {
        self.inner.prepared(source);
    }
    fn checked(&self, asked: usize, needed: usize) {
        self.inner.checked(asked, needed);
    }
    fn transferred(&self, chunk_id: &str, bytes: u64) {
        self.phase.add_bytes(bytes);
        self.inner.transferred(chunk_id, bytes);
    }
    fn chunk_done(&self, chunk: &symship_upload::ChunkReport) {
        // A chunk can change state more than once (a refused URL is started again).
        if self.seen.lock().expect("lock").insert(chunk.source.clone()) {
            self.phase.inc(1);
        }
        self.inner.chunk_done(chunk);
    }
    fn warning(&self, message: &str) {
        self.inner.warning(message);
    }
}

/// The `MakeWriter` of the tracing subscriber: stderr, around the bars.
pub fn log_writer() -> LogWriter {
    LogWriter
}

pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match OUTPUT.get().and_then(|o| o.multi.as_ref()) {
            Some(m) => m.suspend(|| std::io::stderr().lock().write_all(buf))?,
            None => std::io::stderr().lock().write_all(buf)?,
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Prints the final account (text on stderr, or JSON on stdout), and in GitHub Actions writes
/// annotations, the job summary and step outputs. Fills `summary.wall_ms` from the phases.
pub fn report(summary: &mut Summary, global: &GlobalArgs) -> anyhow::Result<()> {
    let out = get();
    summary.wall_ms = out.phase_millis();
    out.stop_bars();
    // The verdict (`error: ...` for a run that did not succeed) is printed in every form: the
    // JSON document goes to stdout, and -q keeps only the failures and the verdict.
    match global.output {
        OutputFormat::Json => {
            summary.print_json()?;
            out.eprint(&neutralize(&render_verdict(summary)));
        }
        OutputFormat::Text if global.quiet => {
            let failures = render_failures(summary) + &render_verdict(summary);
            if !failures.is_empty() {
                out.eprint(&neutralize(&failures));
            }
        }
        OutputFormat::Text => out.eprint(&neutralize(&render_text(summary))),
    }
    if let Some(gh) = &out.github {
        gh.report(summary, out);
    }
    Ok(())
}

/// Everything that was skipped, by reason code (file-level skips and the upload's own).
pub fn skipped_by_reason(s: &Summary) -> BTreeMap<String, usize> {
    let mut m: BTreeMap<String, usize> = BTreeMap::new();
    for f in &s.skipped {
        *m.entry(f.code.clone()).or_default() += 1;
    }
    if let Some(up) = &s.upload {
        for (code, n) in [
            ("already_present", up.skipped_already_present),
            ("too_large", up.skipped_too_large),
            ("duplicate", up.skipped_duplicate),
        ] {
            if n > 0 {
                *m.entry(code.to_string()).or_default() += n;
            }
        }
    }
    m
}

fn failed_count(s: &Summary) -> usize {
    s.upload.as_ref().map_or(0, |u| u.failed.len())
}

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
    row(&mut t, "pairs found", s.pairs_found.to_string());
    if s.command != "sourcemap upload" {
        row(
            &mut t,
            if s.dry_run { "would inject" } else { "injected" },
            format!(
                "{} (new {}, updated {}, already injected {})",
                s.injected + s.updated + s.unchanged,
                s.injected,
                s.updated,
                s.unchanged
            ),
        );
    }
    if let Some(up) = &s.upload {
        if s.dry_run {
            row(&mut t, "would upload", up.would_upload.to_string());
        } else {
            row(&mut t, "uploaded", up.uploaded.to_string());
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
    if let Some(id) = &s.release_id {
        row(&mut t, "release", id.clone());
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
    t.push_str(&render_failures(s));
    t.push_str(&render_verdict(s));
    t
}

/// `24 at once at most (found; limit 26 of 128, 1 back-off)` or `10 at once at most (--concurrency 10)`.
fn render_concurrency(c: &crate::summary::ConcurrencySummary) -> String {
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

fn render_times(s: &Summary) -> String {
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

fn render_failures(s: &Summary) -> String {
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
            "  {} (chunk {}): {}: {}\n",
            f.file,
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

fn render_verdict(s: &Summary) -> String {
    match s.exit_code {
        0 => String::new(),
        1 if !run_errors(s).is_empty() => {
            let mut t = String::new();
            for e in run_errors(s) {
                t.push_str(&format!("error: {e}\n"));
            }
            t.push_str(&format!(
                "error: {} chunk(s) did not land (exit code 1)\n",
                failed_count(s)
            ));
            t
        }
        1 if !s.not_written.is_empty() => format!(
            "error: {} file(s) could not be written (exit code 1); fix the cause named above and run again\n",
            s.not_written.len()
        ),
        1 if failed_count(s) > 0 => format!(
            "error: {} chunk(s) did not land (exit code 1); re-run the same command to send only those\n",
            failed_count(s)
        ),
        1 => "error: files were skipped and --strict is set (exit code 1)\n".into(),
        3 if !s.skipped.is_empty() => {
            let mut t = format!(
                "error: nothing to process: {} file(s) were found, and every one was skipped (exit code 3):\n",
                s.skipped.len()
            );
            for f in s.skipped.iter().take(MAX_VERDICT_FILES) {
                t.push_str(&format!("  {}: {}\n", f.file, f.reason));
            }
            if s.skipped.len() > MAX_VERDICT_FILES {
                t.push_str(&format!(
                    "  and {} more (`--output json` lists them all)\n",
                    s.skipped.len() - MAX_VERDICT_FILES
                ));
            }
            t.push_str("fix what each reason says, or pass --allow-empty to accept a run that sends nothing\n");
            t
        }
        3 => "error: nothing found to process: no JavaScript file with a sourcemap (and, for upload, a chunk id) \
              under the given paths; check --directory, run the build (and `symship sourcemap inject`) first, or \
              pass --allow-empty (exit code 3)\n"
            .into(),
        n => format!("error: exit code {n}\n"),
    }
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

fn human_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.2} s", ms as f64 / 1000.0)
    }
}

fn human_duration(d: Duration) -> String {
    human_ms(d.as_millis() as u64)
}

/// GitHub Actions: where the job summary and step outputs go, and the workspace (annotations name
/// files relative to it so GitHub links them).
#[derive(Debug, Clone, Default)]
pub struct GitHub {
    pub step_summary: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub workspace: Option<PathBuf>,
}

impl GitHub {
    /// `Some` when `GITHUB_ACTIONS=true`.
    pub fn from_env() -> Option<GitHub> {
        if ProcessEnv.var(env::ci::GITHUB_ACTIONS).as_deref() != Some("true") {
            return None;
        }
        let path = |k: &str| ProcessEnv.var(k).map(PathBuf::from);
        Some(GitHub {
            step_summary: path(env::GITHUB_STEP_SUMMARY),
            output: path(env::GITHUB_OUTPUT),
            workspace: path(env::GITHUB_WORKSPACE),
        })
    }

    fn report(&self, s: &Summary, out: &Output) {
        out.eprint(&self.annotations(s));
        if let Some(p) = &self.step_summary {
            if let Err(e) = append(p, &job_summary(s, |f| self.rel(f))) {
                tracing::warn!("could not write the job summary to {}: {e}", p.display());
            }
        }
        if let Some(p) = &self.output {
            if let Err(e) = append(p, &step_outputs(s)) {
                tracing::warn!("could not write step outputs to {}: {e}", p.display());
            }
        }
    }

    /// A file as GitHub should name it: relative to the workspace when inside it.
    fn rel(&self, file: &str) -> String {
        let p = Path::new(file);
        if let Some(ws) = &self.workspace {
            let ws = ws.canonicalize().unwrap_or_else(|_| ws.clone());
            let full = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
            if let Ok(r) = full.strip_prefix(&ws) {
                return r.display().to_string();
            }
        }
        file.to_string()
    }

    /// `::error` for every failed chunk, `::warning` for every skipped file or too-large chunk,
    /// at most [`MAX_ANNOTATIONS`] of each.
    pub fn annotations(&self, s: &Summary) -> String {
        let mut errors = Vec::new();
        for f in &s.not_written {
            errors.push((
                self.rel(&f.file),
                format!("symship: not written ({})", f.code),
                format!("{} was not written: {}", self.rel(&f.file), f.error),
            ));
        }
        if let Some(up) = &s.upload {
            for f in &up.failed {
                errors.push((
                    self.rel(&f.file),
                    format!("symship: not uploaded ({})", f.code),
                    format!(
                        "{} (chunk {}) was not uploaded: {}",
                        self.rel(&f.file),
                        f.chunk_id.as_deref().unwrap_or("-"),
                        f.error
                    ),
                ));
            }
        }
        let mut warnings = Vec::new();
        for f in &s.skipped {
            warnings.push((
                self.rel(&f.file),
                format!("symship: skipped ({})", f.code),
                format!("{} was skipped: {}", self.rel(&f.file), f.reason),
            ));
        }
        for c in &s.chunks {
            if c.outcome == "too_large" {
                warnings.push((
                    self.rel(&c.file),
                    "symship: skipped (too_large)".to_string(),
                    format!(
                        "{} (chunk {}) was not uploaded: its symbol set is over PostHog's 100 MiB limit",
                        self.rel(&c.file),
                        c.chunk_id
                    ),
                ));
            }
        }
        let mut t = String::new();
        for (level, list) in [("error", errors), ("warning", warnings)] {
            let n = list.len();
            for (i, (file, title, msg)) in list.into_iter().enumerate() {
                if i + 1 == MAX_ANNOTATIONS && n > MAX_ANNOTATIONS {
                    t.push_str(&format!(
                        "::{level} title={}::{}\n",
                        escape_property("symship"),
                        escape_data(&format!(
                            "{} more {level}s; the job summary and `--output json` list them all",
                            n - i
                        ))
                    ));
                    break;
                }
                t.push_str(&format!(
                    "::{level} file={},title={}::{}\n",
                    escape_property(&file),
                    escape_property(&title),
                    escape_data(&msg)
                ));
            }
        }
        t
    }
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(text.as_bytes())
}

/// Workflow command message escaping (`%`, CR, LF), as GitHub's toolkit does, of text
/// [`neutralize`]d first (no escape sequences reach the log).
pub fn escape_data(s: &str) -> String {
    neutralize(s)
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Workflow command property escaping: the message's, plus `:` and `,`.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Text for a markdown table cell: no markup, no HTML, no line breaks, no cell breaks.
pub fn escape_markdown(s: &str) -> String {
    let s = neutralize(s);
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' | '\n' => out.push(' '),
            '|' | '`' | '*' | '_' | '[' | ']' | '\\' | '~' | '#' | '!' | '@' | '$' => {
                out.push_str(&format!("&#{};", ch as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// The markdown job summary; `rel` names files (relative to the workspace in GitHub Actions).
pub fn job_summary(s: &Summary, rel: impl Fn(&str) -> String) -> String {
    let verdict = match s.exit_code {
        0 => "✅ success",
        1 => "❌ some chunks failed",
        3 => "⚠️ nothing found to process",
        _ => "❌ error",
    };
    let mut t = format!(
        "### symship {}{}\n\n{verdict} (exit code {})\n\n| | |\n|---|---:|\n",
        s.command,
        if s.dry_run { " (dry run)" } else { "" },
        s.exit_code
    );
    let row =
        |t: &mut String, k: &str, v: String| t.push_str(&format!("| {k} | {} |\n", escape_markdown(&v)));
    row(&mut t, "pairs found", s.pairs_found.to_string());
    if s.command != "sourcemap upload" {
        row(
            &mut t,
            "injected",
            (s.injected + s.updated + s.unchanged).to_string(),
        );
    }
    if let Some(up) = &s.upload {
        row(&mut t, "uploaded", up.uploaded.to_string());
    }
    for (code, n) in skipped_by_reason(s) {
        row(&mut t, &format!("skipped: {code}"), n.to_string());
    }
    if let Some(up) = &s.upload {
        row(&mut t, "failed", up.failed.len().to_string());
        row(&mut t, "bytes sent", human_bytes(up.bytes));
    }
    if let Some(id) = &s.release_id {
        row(&mut t, "release", id.clone());
    }
    row(&mut t, "time", render_times(s));
    if let Some(up) = s.upload.as_ref().filter(|u| !u.failed.is_empty()) {
        t.push_str("\n#### Not uploaded\n\n| file | chunk id | code | error |\n|---|---|---|---|\n");
        for f in up.failed.iter().take(MAX_TABLE_ROWS) {
            t.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                escape_markdown(&rel(&f.file)),
                escape_markdown(f.chunk_id.as_deref().unwrap_or("-")),
                escape_markdown(&f.code),
                escape_markdown(&f.error)
            ));
        }
        if up.failed.len() > MAX_TABLE_ROWS {
            t.push_str(&format!(
                "\n{} more in the JSON summary.\n",
                up.failed.len() - MAX_TABLE_ROWS
            ));
        }
    }
    if !s.skipped.is_empty() {
        t.push_str("\n#### Skipped files\n\n| file | reason |\n|---|---|\n");
        for f in s.skipped.iter().take(MAX_TABLE_ROWS) {
            t.push_str(&format!(
                "| {} | {} |\n",
                escape_markdown(&rel(&f.file)),
                escape_markdown(&f.reason)
            ));
        }
        if s.skipped.len() > MAX_TABLE_ROWS {
            t.push_str(&format!(
                "\n{} more in the JSON summary.\n",
                s.skipped.len() - MAX_TABLE_ROWS
            ));
        }
    }
    t.push('\n');
    t
}

/// `name=value` lines for `$GITHUB_OUTPUT` (every value is one line: the JSON is compact).
pub fn step_outputs(s: &Summary) -> String {
    let skipped: usize = skipped_by_reason(s).values().sum();
    let uploaded = s.upload.as_ref().map_or(0, |u| u.uploaded);
    let json = serde_json::to_string(s).unwrap_or_else(|_| "{}".into());
    format!(
        "release-id={}\nuploaded={uploaded}\nskipped={skipped}\nfailed={}\nexit-code={}\nsummary-json={json}\n",
        s.release_id.as_deref().unwrap_or(""),
        failed_count(s),
        s.exit_code,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::{FailedChunk, SkippedFile, UploadSummary};

    #[test]
    fn bars_only_on_a_terminal_without_opt_out() {
        assert_eq!(choose_style(true, None, false, 0), Style::Bars);
        assert_eq!(choose_style(true, Some("0"), false, 0), Style::Bars);
        assert_eq!(choose_style(true, Some("1"), false, 0), Style::Lines);
        assert_eq!(choose_style(false, None, false, 0), Style::Lines);
        assert_eq!(choose_style(true, None, false, 1), Style::Lines);
        assert_eq!(choose_style(true, None, true, 0), Style::Silent);
        assert_eq!(choose_style(false, Some("1"), true, 0), Style::Silent);
    }

    #[test]
    fn workflow_command_escaping() {
        // a CR is neutralised (written out) first; line feeds are encoded
        assert_eq!(escape_data("50% done\r\nnext"), "50%25 done\\u000d%0Anext");
        assert_eq!(escape_data("a\u{1b}[31mb"), "a\\u001b[31mb");
        assert_eq!(escape_property("a,b:c%\n"), "a%2Cb%3Ac%25%0A");
        // a message cannot end the command or start another one
        let m = escape_data("x\n::error::forged");
        assert!(!m.contains('\n'));
    }

    #[test]
    fn markdown_escaping_keeps_cells_and_drops_markup() {
        let e = escape_markdown("a|b <script>`x` *y* [l](u)\nnext & @team");
        assert!(!e.contains('|') && !e.contains('<') && !e.contains('`') && !e.contains('\n'));
        assert!(!e.contains('@') && !e.contains('[') && !e.contains('*'));
        assert_eq!(escape_markdown("plain/path-1.js"), "plain/path-1.js");
    }

    fn sample() -> Summary {
        Summary {
            schema_version: 1,
            command: "sourcemap process".into(),
            pairs_found: 3,
            injected: 3,
            skipped: vec![SkippedFile {
                file: "/ws/dist/a,b.js".into(),
                code: "no_map".into(),
                reason: "no sourcemap found".into(),
            }],
            exit_code: 1,
            upload: Some(UploadSummary {
                uploaded: 2,
                failed: vec![FailedChunk {
                    file: "/ws/dist/c:1.js".into(),
                    chunk_id: Some("id-1".into()),
                    code: "finish_failed".into(),
                    error: "HTTP 400\n100% bad".into(),
                }],
                bytes: 2048,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn annotations_name_files_relative_to_the_workspace() {
        let gh = GitHub {
            workspace: Some("/ws".into()),
            ..Default::default()
        };
        let a = gh.annotations(&sample());
        assert_eq!(
            a,
            "::error file=dist/c%3A1.js,title=symship%3A not uploaded (finish_failed)::dist/c:1.js (chunk id-1) \
             was not uploaded: HTTP 400%0A100%25 bad\n\
             ::warning file=dist/a%2Cb.js,title=symship%3A skipped (no_map)::dist/a,b.js was skipped: no sourcemap found\n"
        );
    }

    #[test]
    fn annotations_are_capped_per_level() {
        let mut s = sample();
        s.skipped = (0..25)
            .map(|i| SkippedFile {
                file: format!("f{i}.js"),
                code: "no_map".into(),
                reason: "r".into(),
            })
            .collect();
        let a = GitHub::default().annotations(&s);
        let warnings: Vec<&str> = a.lines().filter(|l| l.starts_with("::warning")).collect();
        assert_eq!(warnings.len(), MAX_ANNOTATIONS);
        assert!(warnings[MAX_ANNOTATIONS - 1].contains("16 more warnings"), "{a}");
    }

    #[test]
    fn step_outputs_are_single_lines() {
        let o = step_outputs(&sample());
        let lines: Vec<&str> = o.lines().collect();
        assert_eq!(lines.len(), 6, "{o}");
        assert_eq!(
            &lines[..5],
            [
                "release-id=",
                "uploaded=2",
                "skipped=1",
                "failed=1",
                "exit-code=1"
            ]
        );
        let json: serde_json::Value =
            serde_json::from_str(lines[5].strip_prefix("summary-json=").unwrap()).unwrap();
        assert_eq!(json["failed"][0]["error"], "HTTP 400\n100% bad");
    }

    #[test]
    fn human_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(human_ms(999), "999 ms");
        assert_eq!(human_ms(1500), "1.50 s");
    }
}
