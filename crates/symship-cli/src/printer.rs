//! Every write to the terminal, in one value passed to the commands (as uv's `Printer` and
//! cargo's `Shell`):
//!
//! - progress of the scan, inject and upload phases: bars (indicatif) when stderr is a terminal,
//!   plain `INFO` lines at most every [`LINE_INTERVAL`] otherwise, or when `SYMSHIP_NO_PROGRESS=1`,
//!   with `-v` (diagnostics would interleave with the bars) or nothing with `-q`;
//! - messages on stderr ([`Printer::eprint`]) and the error that ends a run ([`Printer::fatal`]),
//!   which neither `-q` nor any `RUST_LOG` filter hides;
//! - the log writer of the `tracing` subscriber ([`Printer`] is its `MakeWriter`): log lines hide
//!   the bars for the moment of the write, so a warning never tears a bar apart;
//! - stdout ([`Printer::stdout`]): the JSON summary, tables, completion scripts; a closed pipe
//!   (`| head`) ends the output quietly instead of failing the run.
//!
//! The final account (text, JSON, GitHub) is rendered in `crate::report` and written here.

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher as _, BuildHasherDefault, DefaultHasher};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::report::github::GitHub;
use crate::report::text::{human_bytes, human_duration};
use crate::untrusted::neutralize;

/// Plain progress lines are written at most this often per phase (plus one when it ends).
pub const LINE_INTERVAL: Duration = Duration::from_secs(5);

/// `SYMSHIP_NO_PROGRESS=1` turns bars off even on a terminal.
pub const NO_PROGRESS_ENV: &str = symship_api::env::NO_PROGRESS;

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

/// `n` and the noun in the number it takes: `1 pair`, `2 pairs`.
pub fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A scan's phase line: `3 pairs found, 1 file skipped`.
pub fn scan_found(pairs: usize, skipped: usize) -> String {
    format!(
        "{} found, {} skipped",
        counted(pairs, "pair", "pairs"),
        counted(skipped, "file", "files")
    )
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

/// The terminal of this run; cheap to clone (one shared state).
#[derive(Clone)]
pub struct Printer(Arc<Inner>);

struct Inner {
    style: Style,
    multi: Option<MultiProgress>,
    github: Option<GitHub>,
    /// Wall time of each finished phase, in the order they ended.
    phases: Mutex<Vec<(&'static str, Duration)>>,
}

impl Printer {
    /// A printer with this progress style; `github` when running in GitHub Actions.
    pub fn new(style: Style, github: Option<GitHub>) -> Printer {
        let multi = (style == Style::Bars)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)));
        Printer(Arc::new(Inner {
            style,
            multi,
            github,
            phases: Mutex::new(Vec::new()),
        }))
    }

    /// GitHub Actions' files (job summary, step outputs, workspace), when running there.
    pub fn github(&self) -> Option<&GitHub> {
        self.0.github.as_ref()
    }

    /// Starts a phase. `unit` names what is counted ("pairs", "chunks"); `total` may come later
    /// through [`Phase::set_total`]; without one the bar is a spinner.
    pub fn phase(&self, name: &'static str, unit: &'static str, total: Option<u64>) -> Phase {
        let bar = self.0.multi.as_ref().map(|m| {
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
            out: self.clone(),
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
        self.0.phases.lock().expect("lock").push((name, took));
    }

    /// Wall milliseconds per finished phase (for the summary's `wall_ms`).
    pub fn phase_millis(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for (name, took) in self.0.phases.lock().expect("lock").iter() {
            *m.entry((*name).to_string()).or_default() += took.as_millis() as u64;
        }
        m
    }

    /// Leaves the bars drawn so far on screen and draws no more (the summary goes below them).
    pub fn stop_bars(&self) {
        if let Some(m) = &self.0.multi {
            m.set_draw_target(ProgressDrawTarget::hidden());
        }
    }

    /// `--no-fail` turned a failed run into exit 0: says so on stderr (neither -q nor a
    /// `RUST_LOG` filter hides it) and, in GitHub Actions, as a `::warning`.
    pub fn no_fail_warning(&self, code: u8) {
        self.eprint(&format!("warning: {}\n", no_fail_text(code)));
        if let Some(gh) = self.github() {
            self.eprint(&gh.no_fail_annotation(code));
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
        match &self.0.multi {
            Some(m) => m.suspend(write),
            None => write(),
        }
    }

    /// Writes `text` to stdout as it is (callers neutralise what came from outside, or write
    /// JSON, whose escapes must stay). A closed pipe (`| head`) is not an error: the reader has
    /// what it wanted.
    pub fn stdout(&self, text: &[u8]) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        match out.write_all(text).and_then(|_| out.flush()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => Ok(other?),
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Printer {
    type Writer = LogWriter;
    fn make_writer(&'a self) -> LogWriter {
        LogWriter(self.clone())
    }
}

/// The `tracing` subscriber's writer: stderr, around the bars.
pub struct LogWriter(Printer);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &self.0 .0.multi {
            Some(m) => m.suspend(|| std::io::stderr().lock().write_all(buf))?,
            None => std::io::stderr().lock().write_all(buf)?,
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
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
    out: Printer,
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
        if self.out.0.style != Style::Lines {
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
            None if self.out.0.style == Style::Lines => {
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

/// Progress of the upload pipeline: sets done (`unit`: "chunks" for the sourcemap commands,
/// "symbol sets" for the others), bytes sent; passes everything on to `inner`.
pub struct UploadProgress<R> {
    inner: R,
    phase: Phase,
    unit: &'static str,
    /// The sets counted: by file, and for native debug files by file and debug id (the slices
    /// of a fat Mach-O share one file); a 64-bit hash of that, not a copy of the path (on a build
    /// of 50,000 chunks the copies held several MB for the whole run; a collision would only
    /// leave one set out of the progress count).
    seen: Mutex<HashSet<u64>>,
}

impl<R: symship_upload::Reporter> UploadProgress<R> {
    pub fn new(printer: &Printer, unit: &'static str, inner: R) -> UploadProgress<R> {
        UploadProgress {
            inner,
            phase: printer.phase("upload", unit, Some(0)),
            unit,
            seen: Mutex::new(HashSet::new()),
        }
    }
}

impl<R> Drop for UploadProgress<R> {
    fn drop(&mut self) {
        let done = self.phase.done.load(Ordering::Relaxed);
        let msg = match self.phase.bytes.load(Ordering::Relaxed) {
            0 => format!("{done} {}", self.unit),
            b => format!("{done} {}, {} sent", self.unit, human_bytes(b)),
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
        // A chunk can change state more than once (a refused URL is started again). A native
        // set's ref is known from the start, so it tells the slices of one file apart.
        let slice = chunk.kind.is_debug_file().then(|| chunk.chunk_id()).flatten();
        let key = BuildHasherDefault::<DefaultHasher>::default().hash_one((&chunk.source, slice));
        if self.seen.lock().expect("lock").insert(key) {
            self.phase.inc(1);
        }
        self.inner.chunk_done(chunk);
    }
    fn warning(&self, message: &str) {
        self.inner.warning(message);
    }
}

/// The warning `--no-fail` gives when it turns exit code `code` into 0 (on stderr, and in the
/// JSON summary's `warnings`).
pub fn no_fail_text(code: u8) -> String {
    format!("--no-fail: exiting 0 although the run did not succeed (exit code would be {code})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_lines_count_in_the_right_number() {
        assert_eq!(scan_found(1, 0), "1 pair found, 0 files skipped");
        assert_eq!(scan_found(2, 1), "2 pairs found, 1 file skipped");
    }

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
}
