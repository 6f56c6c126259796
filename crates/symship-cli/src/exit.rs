//! Exit codes (documented in the README), and the one place that decides them: [`decide`] for
//! the end of an inject, upload or process run, [`finish`] for the process as a whole (errors,
//! `--no-fail`).

use std::process::ExitCode;

use crate::personality::Personality;
use crate::settings::Settings;

/// What the process returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything asked for was done.
    Success = 0,
    /// Some chunks failed (or, with --strict, were skipped).
    Failed = 1,
    /// Usage or configuration error.
    Usage = 2,
    /// Nothing was found to process (and --allow-empty was not given).
    Empty = 3,
}

/// An error that should end the process with `Exit::Usage` rather than `Exit::Failed`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Which run ended (the posthog-cli personality's empty-run exit differs between them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    Inject,
    Upload,
    Process,
}

/// How an inject, upload or process run ended, as far as the exit code cares.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunEnd {
    /// A chunk did not land, a file could not be written, or `--delete-after` failed.
    pub failed: bool,
    /// Chunks injected (or already injected) or sent (or would be sent with --dry-run).
    pub processed: usize,
    /// Files or chunks were skipped.
    pub skipped: bool,
    /// `--strict`: a skip fails the run.
    pub strict: bool,
    /// `--allow-empty`: a run that finds nothing succeeds.
    pub allow_empty: bool,
}

impl RunEnd {
    /// Nothing was found to process, nothing failed, and `--allow-empty` was not given.
    pub fn nothing_found(&self) -> bool {
        !self.failed && self.processed == 0 && !self.allow_empty
    }
}

/// The exit code of an inject, upload or process run, in this order: a failure is exit 1; a run
/// that found nothing to process (no chunk with a sourcemap; for upload, no injected chunk) is
/// exit 3 under symship's name, and under the posthog-cli personality what posthog-cli 0.19.0
/// does (`sourcemap upload`: a warning and exit 0, which PostHog's Rollup/Vite plugin relies on;
/// `sourcemap inject` and `process`: "no source files found", exit 1); with `--strict`, a skip
/// is exit 1; anything else succeeded.
pub fn decide(run: Run, end: &RunEnd, personality: Personality) -> Exit {
    if end.failed {
        return Exit::Failed;
    }
    if end.nothing_found() {
        return match (personality, run) {
            (Personality::Symship, _) => Exit::Empty,
            (Personality::PosthogCli, Run::Upload) => {
                tracing::warn!(
                    "nothing found to process: no JavaScript file with a sourcemap and a chunk id under the \
                     given paths; nothing was uploaded"
                );
                Exit::Success
            }
            (Personality::PosthogCli, Run::Inject | Run::Process) => Exit::Failed,
        };
    }
    if end.strict && end.skipped {
        return Exit::Failed;
    }
    Exit::Success
}

/// The process's exit code from what the command returned: an error is printed by the printer
/// (never only through `tracing`: PostHog's bundler plugins set `RUST_LOG=posthog_cli=<level>`,
/// and a log filter must not hide why the run ended) and is exit 2 for a usage or configuration
/// error (1 under the name `posthog-cli`, as posthog-cli 0.19.0), else 1; `--no-fail` turns any
/// non-zero code into 0 and says so.
pub fn finish(result: anyhow::Result<Exit>, settings: &Settings) -> ExitCode {
    let exit = match result {
        Ok(exit) => exit,
        Err(err) => {
            let text = error_text(&err);
            settings.printer.fatal(&text);
            // posthog-cli 0.19.0 ends every error its commands return with exit 1 (only its
            // argument parser exits 2, as symship's does under either name)
            let exit = if err.chain().any(|c| c.is::<UsageError>())
                && settings.personality != crate::personality::Personality::PosthogCli
            {
                Exit::Usage
            } else {
                Exit::Failed
            };
            if settings.global.output == crate::cli::OutputFormat::Json {
                // A run that stops before its summary (a release that cannot be resolved, a key the
                // server refuses) still leaves the document CI keeps: its exit code and why.
                let mut doc = serde_json::json!({
                    "schema_version": crate::report::SCHEMA_VERSION,
                    "exit_code": exit as u8,
                    "errors": [text],
                    "verdict": text,
                });
                // the registry's code, when the error has one (`proguard upload` of a file that
                // is no mapping: `invalid_mapping`)
                if let Some(code) = code_of(&err) {
                    doc["code"] = code.as_str().into();
                }
                let mut out = serde_json::to_string_pretty(&doc).unwrap_or_default();
                out.push('\n');
                let _ = settings.printer.stdout(out.as_bytes());
            }
            exit
        }
    };
    if exit != Exit::Success && settings.global.no_fail {
        settings.printer.no_fail_warning(exit as u8);
        return ExitCode::SUCCESS;
    }
    ExitCode::from(exit as u8)
}

/// The registry code of the first error in the chain that has one: a library error that
/// implements [`symship_core::code::HasCode`], put into the chain as a
/// [`symship_core::code::Coded`] (`.map_err(Coded::from)?`).
fn code_of(err: &anyhow::Error) -> Option<symship_core::Code> {
    use symship_core::Code;
    err.chain()
        .find_map(|c| c.downcast_ref::<symship_core::code::Coded>().map(|e| e.code()))
        .or_else(|| {
            // a server's answer that ended the run (a refused key while the release is resolved
            // or the sets looked up): PostHog's code when the registry knows it, else by status
            let e = err
                .chain()
                .find_map(|c| c.downcast_ref::<symship_api::ApiError>())?;
            e.code().and_then(Code::from_code_str).or(match e.status()? {
                401 => Some(Code::AuthenticationFailed),
                403 => Some(Code::PermissionDenied),
                429 => Some(Code::Throttled),
                _ => None,
            })
        })
}

/// The error and its causes as one line (`outer: cause: cause`), leaving out a cause whose text
/// is already there: a library error that names its source in its own message (`could not
/// resolve release 1 of app: GET ...: HTTP 401 ...`) printed the server's answer twice.
pub fn error_text(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let c = cause.to_string();
        if c.is_empty() || text.contains(&c) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&c);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("HTTP 401: Invalid personal API key.")]
    struct Unauthorized;

    #[derive(Debug, thiserror::Error)]
    #[error("could not resolve release 1 of app: {source}")]
    struct NamesItsSource {
        #[source]
        source: Unauthorized,
    }

    #[test]
    fn the_code_of_a_coded_error_is_found_anywhere_in_the_chain() {
        let err = anyhow::Error::new(symship_core::code::Coded::from(
            symship_scan::SkipReason::SymlinkLoop,
        ))
        .context("reading dist/app.js");
        assert_eq!(code_of(&err), Some(symship_core::Code::SymlinkLoop));
        // the chain's text is the error's own, said once
        assert_eq!(
            error_text(&err),
            format!("reading dist/app.js: {}", symship_scan::SkipReason::SymlinkLoop)
        );
        assert_eq!(code_of(&anyhow::Error::new(Unauthorized)), None);
    }

    #[test]
    fn a_cause_is_printed_once() {
        let err = anyhow::Error::new(NamesItsSource { source: Unauthorized });
        assert_eq!(
            error_text(&err),
            "could not resolve release 1 of app: HTTP 401: Invalid personal API key."
        );
        let err = anyhow::Error::new(Unauthorized).context("reading the release");
        assert_eq!(
            error_text(&err),
            "reading the release: HTTP 401: Invalid personal API key."
        );
    }

    #[test]
    fn an_empty_run_exits_as_each_personality_says() {
        let empty = RunEnd::default();
        for run in [Run::Inject, Run::Upload, Run::Process] {
            assert_eq!(decide(run, &empty, Personality::Symship), Exit::Empty);
            let allowed = RunEnd {
                allow_empty: true,
                ..empty
            };
            assert_eq!(decide(run, &allowed, Personality::PosthogCli), Exit::Success);
        }
        // posthog-cli 0.19.0 on an empty directory: inject and process exit 1, upload 0.
        assert_eq!(decide(Run::Inject, &empty, Personality::PosthogCli), Exit::Failed);
        assert_eq!(
            decide(Run::Process, &empty, Personality::PosthogCli),
            Exit::Failed
        );
        assert_eq!(
            decide(Run::Upload, &empty, Personality::PosthogCli),
            Exit::Success
        );
    }

    #[test]
    fn failures_come_first_and_strict_fails_skips() {
        let failed = RunEnd {
            failed: true,
            ..Default::default()
        };
        assert_eq!(decide(Run::Process, &failed, Personality::Symship), Exit::Failed);
        let skipped = RunEnd {
            processed: 1,
            skipped: true,
            ..Default::default()
        };
        assert_eq!(decide(Run::Inject, &skipped, Personality::Symship), Exit::Success);
        let strict = RunEnd {
            strict: true,
            ..skipped
        };
        assert_eq!(decide(Run::Inject, &strict, Personality::Symship), Exit::Failed);
    }
}
