//! `symship sourcemap explain EVENT_ID | --event FILE.json | --frame URL:LINE:COL [--chunk-id ID]`:
//! why each in-app frame of an `$exception` event did or did not de-minify (issue 19).
//!
//! For every in-app JavaScript frame of every exception (`$exception_list[i].stacktrace.frames`,
//! kinds-and-explain.md §4.2) it walks the chain PostHog's symbolication service walks (§4.4,
//! protocol §6 "How cymbal reads it") and stops at the first broken link:
//! 1. the frame has a position (`lineno`/`colno`; without one PostHog treats it as not minified);
//! 2. the frame has a `chunk_id` (posthog-js tags frames of injected files only);
//! 3. a symbol set with that ref exists;
//! 4. it has no `failure_reason`, and it is finished: its file is in object storage (a started,
//!    unfinished set has a `storage_ptr` that names no object; protocol §3 "If finish is never
//!    called");
//! 5. its release (shown, never a broken link);
//! 6. its stored chunk is the file that ran (the frame's line and column exist in it, and it
//!    registers the same chunk id);
//! 7. the position resolves in its map exactly as PostHog resolves it (`symship_scan::resolve`).
//!
//! Exit 0 when every in-app frame resolves (or is not minified), 1 when a link is broken, 2 on
//! bad usage.

use std::collections::HashMap;

use anyhow::{anyhow, bail};
use serde::Serialize;
use serde_json::{json, Value};
use symship_api::{Client, SymbolSet};
use symship_scan::resolve::{Lookup, Original, ResolveError};

use crate::cli::{ExplainArgs, OutputFormat};
use crate::commands::symbol_sets::fetch_object;
use crate::exit::{Exit, UsageError};
use crate::manage::{print, print_json};
use crate::settings::Settings;

/// The first broken link of a frame, or its good end. Stable codes for `--output json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The frame resolves to an original position.
    Resolved,
    /// No line/column: PostHog keeps the frame as it is (not minified).
    NoLocation,
    /// Not a JavaScript frame (Hermes, Java, Python...): not explained here.
    OtherPlatform,
    /// The SDK sent no chunk id with the frame.
    NoChunkId,
    /// The server could not be asked about the symbol set (network, key, host).
    LookupFailed,
    /// No symbol set has the frame's chunk id as its ref.
    NotUploaded,
    /// The set exists but its file was never stored (the upload did not finish).
    NotFinished,
    /// PostHog recorded a failure for the set.
    UploadFailed,
    /// The stored chunk is not the file that ran.
    WrongBytes,
    /// The map has no token at the frame's position.
    PositionOutsideMap,
    /// The stored object could not be read as JavaScript and a map.
    UnreadableSymbolSet,
}

impl Verdict {
    pub fn code(self) -> &'static str {
        match self {
            Verdict::Resolved => "resolved",
            Verdict::NoLocation => "no_location",
            Verdict::OtherPlatform => "other_platform",
            Verdict::NoChunkId => "no_chunk_id",
            Verdict::LookupFailed => "lookup_failed",
            Verdict::NotUploaded => "not_uploaded",
            Verdict::NotFinished => "not_finished",
            Verdict::UploadFailed => "upload_failed",
            Verdict::WrongBytes => "wrong_bytes",
            Verdict::PositionOutsideMap => "position_outside_map",
            Verdict::UnreadableSymbolSet => "unreadable_symbol_set",
        }
    }

    /// One line saying what the verdict means.
    pub fn title(self) -> &'static str {
        match self {
            Verdict::Resolved => "resolved",
            Verdict::NoLocation => "no line and column: PostHog shows the frame as it is (not minified)",
            Verdict::OtherPlatform => {
                "not a JavaScript frame; explain reads web and node JavaScript frames only"
            }
            Verdict::NoChunkId => "the SDK sent no chunk id with this frame",
            Verdict::LookupFailed => "the server could not be asked about the symbol set",
            Verdict::NotUploaded => "no symbol set has this chunk id",
            Verdict::NotFinished => "the symbol set's upload never finished",
            Verdict::UploadFailed => "PostHog recorded a failure for this symbol set",
            Verdict::WrongBytes => "the symbol set was uploaded for other bytes than the file that ran",
            Verdict::PositionOutsideMap => "the sourcemap has no token at this position",
            Verdict::UnreadableSymbolSet => {
                "the stored symbol set cannot be read as JavaScript and a sourcemap"
            }
        }
    }

    /// What to do about it (none for a good end).
    pub fn hint(self) -> Option<&'static str> {
        Some(match self {
            Verdict::Resolved | Verdict::NoLocation | Verdict::OtherPlatform => return None,
            Verdict::NoChunkId => {
                "the file that ran carries no chunk-id snippet: it was not injected, or the deployed file is not the injected one (injected after deploy, or rebuilt since), or the SDK is too old to tag frames with chunk ids. Run `symship sourcemap process -d DIR` (inject and upload) on the build output before deploying it, deploy those files unchanged, and use a current posthog-js / @posthog/core"
            }
            Verdict::LookupFailed => {
                "check the host, the project id and the key (it needs error_tracking:read), and the network; `symship doctor` checks them and `-v` shows every request"
            }
            Verdict::NotUploaded => {
                "the file was injected but its symbol set was never uploaded to this project: run `symship sourcemap upload -d DIR` on the exact files you deployed (check the host and project id too)"
            }
            Verdict::NotFinished => {
                "an upload started this symbol set but its file never reached object storage (the upload failed or was interrupted before it finished; PostHog drops such a set at its first lookup): run `symship sourcemap upload -d DIR` on the same files again"
            }
            Verdict::UploadFailed => {
                "fix what the failure says, then upload the chunk again with `symship sourcemap upload -d DIR --force` so PostHog stores a new copy"
            }
            Verdict::WrongBytes => {
                "the deployed file differs from the one uploaded under its chunk id (changed after injection: rebuilt, minified again, or edited by a CDN or another tool). Inject and upload the exact files you deploy, and deploy them unchanged"
            }
            Verdict::PositionOutsideMap => {
                "the position is in code the map does not cover (code added without mappings, such as a banner or the injected snippet, or a map of other code). Check that the bundler writes a full map for this chunk, and resolve the position locally with `symship sourcemap resolve FILE.js LINE:COL`"
            }
            Verdict::UnreadableSymbolSet => {
                "download it with `symship symbol-sets download --ref CHUNK_ID` to inspect it, then upload the chunk again with `--force`"
            }
        })
    }
}

/// One link of the chain and what was found there.
#[derive(Debug, Clone, Serialize)]
pub struct Link {
    pub link: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// The report of one frame.
#[derive(Debug, Clone, Serialize)]
pub struct FrameReport {
    pub exception: usize,
    pub frame: usize,
    pub function: Option<String>,
    pub filename: Option<String>,
    pub lineno: Option<u32>,
    pub colno: Option<u32>,
    pub platform: Option<String>,
    pub chunk_id: Option<String>,
    pub links: Vec<Link>,
    pub verdict: Verdict,
    pub code: &'static str,
    pub title: &'static str,
    pub hint: Option<&'static str>,
    pub resolved: Option<Original>,
}

/// What the command reads: an event's id, timestamp, release id and exceptions.
struct EventIn {
    id: Option<String>,
    timestamp: Option<String>,
    release_id: Option<String>,
    exceptions: Vec<Value>,
}

pub fn run(args: &ExplainArgs, settings: &Settings) -> anyhow::Result<Exit> {
    let mut client: Option<&Client> = None;
    let event = if let Some(spec) = &args.frame {
        frame_event(spec, args.chunk_id.as_deref())?
    } else if let Some(path) = &args.event {
        let text = std::fs::read(path)
            .map_err(|e| UsageError(format!("cannot read the event file {}: {e}", path.display())))?;
        let v: Value = serde_json::from_slice(&text)
            .map_err(|e| UsageError(format!("{} is not JSON: {e}", path.display())))?;
        event_from_json(v).map_err(|e| UsageError(format!("{}: {e}", path.display())))?
    } else {
        let id = args.event_id.as_deref().unwrap_or_default();
        let uuid = crate::manage::parse_uuid(id.trim(), "event id")?;
        let c = settings.client()?;
        let e = settings
            .block_on(c.get_event(uuid))?
            .map_err(|e| match e.status() {
                Some(404) => anyhow!(
                    "no event {id} in project {}: check the id and the project (POSTHOG_CLI_PROJECT_ID)",
                    c.project_id()
                ),
                Some(403) => {
                    anyhow!("{e}: reading events needs a personal API key with the query:read scope")
                }
                _ => anyhow::Error::new(e),
            })?;
        client = Some(c);
        if e.event != "$exception" {
            bail!("event {id} is a {:?} event, not $exception", e.event);
        }
        let v = json!({"id": e.id, "timestamp": e.timestamp, "event": e.event, "properties": e.properties});
        event_from_json(v).map_err(|e| anyhow!("event {id}: {e}"))?
    };

    let frames = collect_frames(&event.exceptions);
    let needs_server = frames.iter().any(|f| !f.ended());
    if needs_server && client.is_none() {
        client = Some(settings.client()?);
    }
    let reports = match &client {
        Some(c) => settings.block_on(walk_all(c, frames))?,
        None => frames.into_iter().map(|f| f.finish_without_server()).collect(),
    };

    let broken = reports
        .iter()
        .filter(|r| {
            !matches!(
                r.verdict,
                Verdict::Resolved | Verdict::NoLocation | Verdict::OtherPlatform
            )
        })
        .count();
    if settings.global.output == OutputFormat::Json {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for r in &reports {
            *counts.entry(r.code).or_default() += 1;
        }
        print_json(
            &settings.printer,
            &json!({
                "event": {"id": event.id, "timestamp": event.timestamp, "release_id": event.release_id},
                "frames": reports,
                "summary": {"in_app_frames": reports.len(), "broken": broken, "verdicts": counts},
            }),
        )?;
    } else {
        print(&settings.printer, &text_report(&event, &reports, broken))?;
    }
    Ok(if broken == 0 { Exit::Success } else { Exit::Failed })
}

/// `--frame URL:LINE:COL [--chunk-id ID]` as a one-frame event.
fn frame_event(spec: &str, chunk_id: Option<&str>) -> anyhow::Result<EventIn> {
    let mut parts = spec.rsplitn(3, ':');
    let (col, line, url) = (parts.next(), parts.next(), parts.next());
    let (Some(col), Some(line), Some(url)) = (col, line, url) else {
        return Err(UsageError(format!("--frame {spec:?} is not URL:LINE:COL")).into());
    };
    let (Ok(line), Ok(col)) = (line.parse::<u32>(), col.parse::<u32>()) else {
        return Err(UsageError(format!("--frame {spec:?}: LINE and COL must be numbers")).into());
    };
    let mut frame = json!({"platform": "web:javascript", "filename": url, "function": "?", "in_app": true, "lineno": line, "colno": col});
    if let Some(id) = chunk_id {
        frame["chunk_id"] = json!(id);
    }
    Ok(EventIn {
        id: None,
        timestamp: None,
        release_id: None,
        exceptions: vec![
            json!({"type": "Error", "value": "(--frame)", "stacktrace": {"type": "raw", "frames": [frame]}}),
        ],
    })
}

/// An event from JSON: the event itself (`{"properties": {"$exception_list": ...}}`, as
/// exported or as captured), or an events API answer (`{"results": [event, ...]}`: the first).
fn event_from_json(v: Value) -> Result<EventIn, String> {
    let v = match v.get("results").and_then(Value::as_array) {
        Some(r) => r.first().cloned().ok_or("the events list is empty")?,
        None => v,
    };
    let props = v.get("properties").ok_or("no \"properties\": not an event")?;
    let exceptions = props
        .get("$exception_list")
        .and_then(Value::as_array)
        .cloned()
        .ok_or("no $exception_list in the properties: not an $exception event")?;
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    Ok(EventIn {
        id: s(v.get("id")).or_else(|| s(v.get("uuid"))),
        timestamp: s(v.get("timestamp")),
        release_id: s(props.get("$release_id")),
        exceptions,
    })
}

/// An in-app frame to walk.
struct FrameIn {
    report: FrameReport,
}

impl FrameIn {
    fn finish_without_server(self) -> FrameReport {
        self.report
    }
}

fn num(v: Option<&Value>) -> Option<u32> {
    v.and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok())
}

/// The in-app frames of every exception, in the order the event lists them (outermost first).
/// A frame already resolved by PostHog is read from the raw frame it keeps (`junk_drawer`).
fn collect_frames(exceptions: &[Value]) -> Vec<FrameIn> {
    let mut out = Vec::new();
    for (ei, exc) in exceptions.iter().enumerate() {
        let frames = exc
            .pointer("/stacktrace/frames")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (fi, f) in frames.iter().enumerate() {
            let f = f.pointer("/junk_drawer/raw_frame").unwrap_or(f);
            if f.get("in_app").and_then(Value::as_bool) == Some(false) {
                continue;
            }
            let s = |k: &str| f.get(k).and_then(Value::as_str).map(str::to_owned);
            let report = FrameReport {
                exception: ei + 1,
                frame: fi + 1,
                function: s("function"),
                filename: s("filename"),
                lineno: num(f.get("lineno")),
                colno: num(f.get("colno")),
                platform: s("platform"),
                chunk_id: s("chunk_id").or_else(|| s("chunkId")),
                links: Vec::new(),
                verdict: Verdict::Resolved,
                code: "",
                title: "",
                hint: None,
                resolved: None,
            };
            let mut fr = FrameIn { report };
            fr.precheck();
            out.push(fr);
        }
    }
    out
}

/// A downloaded, readable symbol set.
struct Stored {
    source: String,
    lookup: Result<Lookup, ResolveError>,
}

impl FrameIn {
    fn link(&mut self, link: &'static str, ok: bool, detail: impl Into<String>) {
        self.report.links.push(Link {
            link,
            ok,
            detail: detail.into(),
        });
    }

    fn end(&mut self, v: Verdict) {
        self.report.verdict = v;
        self.report.code = v.code();
        self.report.title = v.title();
        self.report.hint = v.hint();
    }

    fn ended(&self) -> bool {
        !self.report.code.is_empty()
    }

    /// The links that need no server: platform, position, chunk id.
    fn precheck(&mut self) {
        let platform = self.report.platform.clone().unwrap_or_default();
        if !matches!(
            platform.as_str(),
            "web:javascript" | "javascript" | "node:javascript" | ""
        ) {
            self.link("platform", false, platform);
            return self.end(Verdict::OtherPlatform);
        }
        let (Some(l), Some(c)) = (self.report.lineno, self.report.colno) else {
            self.link("position", false, "no lineno/colno");
            return self.end(Verdict::NoLocation);
        };
        self.link(
            "position",
            true,
            format!("line {l}, column {c} (as the engine printed them)"),
        );
        match self.report.chunk_id.clone() {
            Some(id) => self.link("chunk id", true, id),
            None => {
                self.link("chunk id", false, "none sent with the frame");
                self.end(Verdict::NoChunkId)
            }
        }
    }
}

async fn walk_all(client: &Client, frames: Vec<FrameIn>) -> Vec<FrameReport> {
    let mut sets: HashMap<String, Result<Option<SymbolSet>, String>> = HashMap::new();
    let mut stored: HashMap<String, Result<Stored, Fetch>> = HashMap::new();
    let mut out = Vec::new();
    for mut f in frames {
        if !f.ended() {
            walk(client, &mut f, &mut sets, &mut stored).await;
        }
        if !f.ended() {
            f.end(Verdict::Resolved);
        }
        out.push(f.report);
    }
    out
}

async fn walk(
    client: &Client,
    f: &mut FrameIn,
    sets: &mut HashMap<String, Result<Option<SymbolSet>, String>>,
    stored: &mut HashMap<String, Result<Stored, Fetch>>,
) {
    let id = f.report.chunk_id.clone().expect("checked");
    let (lineno, colno) = (
        f.report.lineno.expect("checked"),
        f.report.colno.expect("checked"),
    );
    if !sets.contains_key(&id) {
        let r = client.find_symbol_set(&id).await.map_err(|e| e.to_string());
        sets.insert(id.clone(), r);
    }
    let set = match &sets[&id] {
        Err(e) => {
            f.link("symbol set", false, format!("could not ask the server: {e}"));
            return f.end(Verdict::LookupFailed);
        }
        Ok(None) => {
            f.link(
                "symbol set",
                false,
                format!("no symbol set with ref {id} in project {}", client.project_id()),
            );
            return f.end(Verdict::NotUploaded);
        }
        Ok(Some(s)) => s.clone(),
    };
    f.link("symbol set", true, format!("{} (ref {})", set.id, set.reference));
    if let Some(reason) = &set.failure_reason {
        f.link("finished", false, format!("failure reason: {reason}"));
        return f.end(Verdict::UploadFailed);
    }
    if !set.is_uploaded() {
        f.link("finished", false, "no stored file (storage_ptr is empty)");
        return f.end(Verdict::NotFinished);
    }
    f.link(
        "finished",
        true,
        match &set.storage_ptr {
            Some(p) => format!("stored at {p}"),
            None => "stored".to_owned(),
        },
    );
    f.link(
        "release",
        true,
        match &set.release {
            Some(r) => format!("{} {} ({})", r.project, r.version, r.id),
            None => "none on the symbol set (in event mode the event carries it as $release_id)".to_owned(),
        },
    );
    if !stored.contains_key(&id) {
        let r = download(client, &set).await;
        stored.insert(id.clone(), r);
    }
    let s = match &stored[&id] {
        Err(Fetch::Missing(e)) => {
            f.link("download", false, e.clone());
            return f.end(Verdict::NotFinished);
        }
        Err(Fetch::Other(e)) => {
            f.link("download", false, e.clone());
            return f.end(Verdict::UnreadableSymbolSet);
        }
        Ok(s) => s,
    };
    f.link(
        "download",
        true,
        format!("{} bytes of JavaScript and its map", s.source.len()),
    );
    if let Some(problem) = wrong_bytes(&s.source, &id, lineno, colno) {
        f.link("same bytes", false, problem);
        return f.end(Verdict::WrongBytes);
    }
    f.link(
        "same bytes",
        true,
        format!("the stored chunk registers {id} and has line {lineno} up to column {colno}"),
    );
    let lookup = match &s.lookup {
        Ok(l) => l,
        Err(e) => {
            f.link("resolve", false, e.to_string());
            return f.end(Verdict::UnreadableSymbolSet);
        }
    };
    match lookup.resolve_frame(lineno, colno) {
        Ok(o) => {
            f.link(
                "resolve",
                true,
                format!(
                    "{}:{}:{}",
                    o.source.as_deref().unwrap_or("<no source>"),
                    o.line + 1,
                    o.column + 1
                ),
            );
            f.report.resolved = Some(o);
            f.end(Verdict::Resolved)
        }
        Err(ResolveError::TokenNotFound { why, .. }) => {
            f.link(
                "resolve",
                false,
                format!("token not found for {lineno}:{colno}: {why}"),
            );
            f.end(Verdict::PositionOutsideMap)
        }
        Err(e) => {
            f.link("resolve", false, e.to_string());
            f.end(Verdict::UnreadableSymbolSet)
        }
    }
}

/// Why the stored chunk cannot be the file that ran at (lineno, colno), if it cannot.
fn wrong_bytes(source: &str, id: &str, lineno: u32, colno: u32) -> Option<String> {
    if let Some(e) = symship_scan::chunk::existing(source) {
        if e.chunk_id != id {
            return Some(format!(
                "the stored chunk registers chunk id {}, not {id}",
                e.chunk_id
            ));
        }
    }
    let lines = source.lines().count() as u32;
    let Some(line) = source.lines().nth(lineno.saturating_sub(1) as usize) else {
        return Some(format!(
            "the stored chunk has {lines} lines; the frame is on line {lineno}"
        ));
    };
    // V8 counts columns in UTF-16 units, 1-based.
    let width = line.encode_utf16().count() as u32;
    if colno > width + 1 {
        return Some(format!(
            "line {lineno} of the stored chunk is {width} characters long; the frame is at column {colno}"
        ));
    }
    None
}

/// Why a set's file could not be had.
enum Fetch {
    /// There is no file: the set was started, its upload never reached object storage.
    Missing(String),
    Other(String),
}

async fn download(client: &Client, set: &SymbolSet) -> Result<Stored, Fetch> {
    let url = match client.symbol_set_download_url(set.id).await {
        Ok(u) => u.url,
        Err(e) if e.status() == Some(404) => {
            return Err(Fetch::Missing(format!("the server has no file for it: {e}")))
        }
        Err(e) => return Err(Fetch::Other(format!("no download link: {e}"))),
    };
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(Fetch::Other(
            "the server's download link is not an http(s) URL".into(),
        ));
    }
    let bytes = match fetch_object(client, &url).await {
        Ok(b) => b,
        Err(e) if e.status() == Some(404) => {
            return Err(Fetch::Missing(format!(
                "its storage_ptr names no object in object storage ({e}): the upload never finished"
            )))
        }
        Err(e) => return Err(Fetch::Other(format!("download failed: {e}"))),
    };
    symship_upload::container::check_declared_size(&bytes, symship_upload::container::MAX_DECOMPRESSED)
        .map_err(Fetch::Other)?;
    let (source, map) = symship_upload::container::read(&bytes)
        .map_err(|e| Fetch::Other(format!("not a JavaScript symbol set: {e}")))?;
    let label = format!("the map of symbol set {}", set.reference);
    let lookup = Lookup::parse(map.as_bytes(), &label);
    Ok(Stored { source, lookup })
}

fn text_report(event: &EventIn, reports: &[FrameReport], broken: usize) -> String {
    let mut out = String::new();
    match &event.id {
        Some(id) => out.push_str(&format!(
            "event {id}{}{}\n",
            event
                .timestamp
                .as_deref()
                .map(|t| format!(" at {t}"))
                .unwrap_or_default(),
            event
                .release_id
                .as_deref()
                .map(|r| format!(", $release_id {r}"))
                .unwrap_or_default()
        )),
        None => out.push_str("frame given on the command line\n"),
    }
    for r in reports {
        let exc = &event.exceptions[r.exception - 1];
        let name = format!(
            "{}: {}",
            exc.get("type").and_then(Value::as_str).unwrap_or("?"),
            exc.get("value").and_then(Value::as_str).unwrap_or("")
        );
        out.push_str(&format!(
            "\nexception {} ({}) frame {}: {} at {}:{}:{}\n",
            r.exception,
            name.chars().take(120).collect::<String>(),
            r.frame,
            r.function.as_deref().unwrap_or("?"),
            r.filename.as_deref().unwrap_or("<no file>"),
            r.lineno.map(|n| n.to_string()).unwrap_or("-".into()),
            r.colno.map(|n| n.to_string()).unwrap_or("-".into()),
        ));
        for l in &r.links {
            out.push_str(&format!(
                "  {} {:<11} {}\n",
                if l.ok { "ok  " } else { "FAIL" },
                l.link,
                l.detail
            ));
        }
        if let Some(o) = &r.resolved {
            out.push_str(&crate::commands::resolve::original_text(o, "    "));
        } else {
            out.push_str(&format!("  => {}: {}\n", r.code, r.title));
        }
        if let Some(h) = r.hint {
            out.push_str(&format!("  hint: {h}\n"));
        }
    }
    let n = reports.len();
    out.push_str(&format!(
        "\n{} of {n} in-app frame{} resolve{}{}\n",
        n - broken,
        if n == 1 { "" } else { "s" },
        if n - broken == 1 { "s" } else { "" },
        if broken > 0 {
            format!("; {broken} broken")
        } else {
            String::new()
        }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_spec_keeps_colons_in_the_url() {
        let e = frame_event("https://app.example:8443/a.js:1:234", Some("x")).unwrap();
        let f = &e.exceptions[0]["stacktrace"]["frames"][0];
        assert_eq!(f["filename"], "https://app.example:8443/a.js");
        assert_eq!((f["lineno"].as_u64(), f["colno"].as_u64()), (Some(1), Some(234)));
        assert_eq!(f["chunk_id"], "x");
        assert!(frame_event("a.js:x:1", None).is_err());
    }

    #[test]
    fn wrong_bytes_reads_lines_and_registration() {
        let src = "line one\nshort\n";
        assert!(wrong_bytes(src, "id", 3, 1).unwrap().contains("has 2 lines"));
        assert!(wrong_bytes(src, "id", 2, 9)
            .unwrap()
            .contains("5 characters long"));
        assert_eq!(wrong_bytes(src, "id", 2, 6), None);
    }
}
