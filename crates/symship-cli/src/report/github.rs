//! GitHub Actions: `::error`/`::warning` annotations naming the files, a markdown job summary
//! appended to `$GITHUB_STEP_SUMMARY`, and step outputs (`release-id`, `uploaded`, `skipped`,
//! `failed`, `exit-code`, `summary-json`) appended to `$GITHUB_OUTPUT`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use symship_api::env::{self, Env};

use super::text::{human_bytes, render_times};
use super::{failed_count, found_rows, sets_count, skipped_by_reason, Summary};
use crate::printer::Printer;
use crate::untrusted::neutralize;

/// At most this many annotations of each level per run: GitHub shows only 10 per step and level,
/// so the tenth says how many more there are.
const MAX_ANNOTATIONS: usize = 10;

/// Rows of the job summary's failure and skip tables (the JSON summary has all of them).
const MAX_TABLE_ROWS: usize = 50;

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
    pub fn from_env(e: &dyn Env) -> Option<GitHub> {
        if e.var(env::ci::GITHUB_ACTIONS).as_deref() != Some("true") {
            return None;
        }
        let path = |k: &str| e.var(k).map(PathBuf::from);
        Some(GitHub {
            step_summary: path(env::GITHUB_STEP_SUMMARY),
            output: path(env::GITHUB_OUTPUT),
            workspace: path(env::GITHUB_WORKSPACE),
        })
    }

    /// In GitHub Actions, a `::warning` saying that `--no-fail` hid a non-zero exit code.
    pub fn no_fail_annotation(&self, code: u8) -> String {
        format!(
            "::warning title={}::{}\n",
            escape_property("symship --no-fail"),
            escape_data(&format!(
                "the run did not succeed (exit code would be {code}); --no-fail made the step pass"
            ))
        )
    }

    pub(crate) fn report(&self, s: &Summary, out: &Printer) {
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
                        "{} ({} {}) was not uploaded: {}",
                        self.rel(&f.file),
                        set_word(s),
                        f.chunk_id.as_deref().unwrap_or("-"),
                        f.error
                    ),
                ));
            }
        }
        let mut warnings = Vec::new();
        // (chunks an earlier --delete-after run finished are no problem: no annotation each)
        for f in s
            .skipped
            .iter()
            .filter(|f| f.code != symship_core::Code::MapRemoved.as_str())
        {
            warnings.push((
                self.rel(&f.file),
                format!("symship: skipped ({})", f.code),
                format!("{} was skipped: {}", self.rel(&f.file), f.reason),
            ));
        }
        for c in &s.chunks {
            if c.outcome == symship_core::Code::TooLarge.as_str() {
                warnings.push((
                    self.rel(&c.file),
                    format!("symship: skipped ({})", symship_core::Code::TooLarge),
                    format!(
                        "{} ({} {}) was not uploaded: {}",
                        self.rel(&c.file),
                        c.ref_label(),
                        c.reference,
                        c.reason
                            .as_deref()
                            .unwrap_or("its symbol set is over PostHog's 100 MiB limit")
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

/// What the run's sets are called: "chunk" for the sourcemap commands, "symbol set" for the
/// other kinds (Hermes maps, ProGuard mappings, debug files).
fn set_word(s: &Summary) -> &'static str {
    if s.command.starts_with("sourcemap") {
        "chunk"
    } else {
        "symbol set"
    }
}

/// The markdown job summary; `rel` names files (relative to the workspace in GitHub Actions).
pub fn job_summary(s: &Summary, rel: impl Fn(&str) -> String) -> String {
    let verdict = match s.exit_code {
        0 => "✅ success",
        1 => &format!("❌ some {}s failed", set_word(s)),
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
    for (k, v) in found_rows(s, false) {
        // the sourcemap commands' injected row: the total only
        let v = if k == "injected" {
            (s.injected + s.updated + s.unchanged).to_string()
        } else {
            v
        };
        row(&mut t, k, v);
    }
    if let Some(up) = &s.upload {
        row(&mut t, "uploaded", sets_count(s, up.uploaded));
    }
    for (code, n) in skipped_by_reason(s) {
        row(&mut t, &format!("skipped: {code}"), n.to_string());
    }
    if let Some(up) = &s.upload {
        row(&mut t, "failed", up.failed.len().to_string());
        row(&mut t, "bytes sent", human_bytes(up.bytes));
    }
    for (i, line) in super::release_lines(s).into_iter().enumerate() {
        row(&mut t, if i == 0 { "release" } else { "" }, line);
    }
    row(&mut t, "time", render_times(s));
    if let Some(up) = s.upload.as_ref().filter(|u| !u.failed.is_empty()) {
        t.push_str(&format!(
            "\n#### Not uploaded\n\n| file | {} id | code | error |\n|---|---|---|---|\n",
            set_word(s)
        ));
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
    use crate::report::{FailedChunk, SkippedFile, UploadSummary};

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
    fn native_runs_speak_of_symbol_sets() {
        let mut s = sample();
        s.command = "symbol-sets upload".into();
        let summary = job_summary(&s, str::to_owned);
        assert!(
            summary.contains("❌ some symbol sets failed (exit code 1)"),
            "{summary}"
        );
        assert!(summary.contains("| file | symbol set id |"), "{summary}");
        assert!(!summary.contains("chunk"), "{summary}");
        let a = GitHub::default().annotations(&s);
        assert!(a.contains("(symbol set id-1) was not uploaded"), "{a}");
        let web = job_summary(&sample(), str::to_owned);
        assert!(web.contains("❌ some chunks failed (exit code 1)"), "{web}");
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
}
