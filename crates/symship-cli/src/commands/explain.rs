//! `symship sourcemap explain EVENT_ID | --event FILE.json | --frame URL:LINE:COL [--chunk-id ID]`:
//! why each in-app frame of an `$exception` event did or did not de-minify (issue 19).
//!
//! For every in-app JavaScript frame of every exception (`$exception_list[i].stacktrace.frames`,
//! kinds-and-explain.md §4.2) it walks the chain PostHog's symbolication service walks (§4.4,
//! protocol §6 "How cymbal reads it") and stops at the first broken link:
//! 1. the frame has a position (`lineno`/`colno`; without one PostHog treats it as not minified,
//!    and explain has nothing to check);
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
//! A processed event (what the events API returns once PostHog's symbolication service ran:
//! `stacktrace.type` "resolved", frames with `resolved`, `resolve_failure` and the raw frame in
//! `junk_drawer.raw_frame`, §4.5) carries PostHog's own verdict for each frame: it is reported
//! (its `resolve_failure` quoted), and the raw frame, when the event kept it, is checked again now.
//!
//! Each frame ends as resolving (`resolved`, `resolved_after_event`), not checked (`other_platform`:
//! Hermes, Java and other frames explain does not resolve; `no_location`), or broken (every other
//! verdict). Exit 0 only when every in-app frame resolves; 1 when one is broken or could not be
//! checked, or when an event has no in-app frame at all (nothing to check); 2 on bad usage.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{anyhow, bail};
use serde::Serialize;
use serde_json::{json, Value};
use symship_api::{ApiError, Client, SymbolSet};
use symship_core::code::Code;
use symship_scan::resolve::{Lookup, Original, ResolveError};

use crate::cli::{ExplainArgs, OutputFormat};
use crate::commands::symbol_sets::fetch_object;
use crate::exit::{Exit, UsageError};
use crate::manage::{print, print_json};
use crate::settings::Settings;

/// The verdict for a frame: its good end, why it was not checked, or its first broken link.
/// Each is a [`Code`] of kind `frame` (the README's table of codes), `no_chunk_id` excepted,
/// which is shared with the upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The frame resolves to an original position.
    Resolved,
    /// PostHog did not resolve the frame when the event arrived; it resolves now.
    ResolvedAfterEvent,
    /// PostHog did not resolve the frame, and the event keeps no raw frame to check again.
    PosthogUnresolved,
    /// No line/column: PostHog keeps the frame as it is (not minified); nothing to check.
    NoLocation,
    /// Not a JavaScript frame (Hermes, Java, Python...): not checked.
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

/// What a verdict means for the stack: the frame resolves, explain could not check it, or a link
/// is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Resolves,
    NotChecked,
    Broken,
}

impl Verdict {
    /// The registered code (`README.md#codes`).
    pub fn code(self) -> Code {
        match self {
            Verdict::Resolved => Code::Resolved,
            Verdict::ResolvedAfterEvent => Code::ResolvedAfterEvent,
            Verdict::PosthogUnresolved => Code::PosthogUnresolved,
            Verdict::NoLocation => Code::NoLocation,
            Verdict::OtherPlatform => Code::OtherPlatform,
            Verdict::NoChunkId => Code::NoChunkId,
            Verdict::LookupFailed => Code::LookupFailed,
            Verdict::NotUploaded => Code::NotUploaded,
            Verdict::NotFinished => Code::NotFinished,
            Verdict::UploadFailed => Code::UploadFailed,
            Verdict::WrongBytes => Code::WrongBytes,
            Verdict::PositionOutsideMap => Code::PositionOutsideMap,
            Verdict::UnreadableSymbolSet => Code::UnreadableSymbolSet,
        }
    }

    pub fn outcome(self) -> Outcome {
        match self {
            Verdict::Resolved | Verdict::ResolvedAfterEvent => Outcome::Resolves,
            Verdict::NoLocation | Verdict::OtherPlatform => Outcome::NotChecked,
            _ => Outcome::Broken,
        }
    }

    /// One line saying what the verdict means.
    pub fn title(self) -> &'static str {
        match self {
            Verdict::NoChunkId => "the SDK sent no chunk id with this frame",
            v => v.code().title(),
        }
    }

    /// What to do about it (none for a frame that resolves).
    pub fn hint(self) -> Option<&'static str> {
        Some(match self {
            Verdict::Resolved => return None,
            Verdict::NoChunkId => {
                "the file that ran carries no chunk-id snippet: it was not injected, or the deployed file is not the injected one (injected after deploy, or rebuilt since), or the SDK is too old to tag frames with chunk ids. Run `symship sourcemap process -d DIR` (inject and upload) on the build output before deploying it, deploy those files unchanged, and use a current posthog-js / @posthog/core"
            }
            v => v.code().hint(),
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

/// PostHog's own result for a frame of a processed event (cymbal's `Frame`, §4.5).
#[derive(Debug, Clone, Serialize)]
pub struct PosthogResult {
    pub resolved: bool,
    pub resolve_failure: Option<String>,
    pub source: Option<String>,
    /// As stored: the original 0-based line when resolved, the raw `lineno` when not.
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub resolved_name: Option<String>,
    /// Whether the event kept the raw frame (`junk_drawer.raw_frame`), which explain checks again.
    pub raw_frame: bool,
}

impl PosthogResult {
    /// Resolved, with no failure: cymbal also keeps `resolved: true` with a `resolve_failure`
    /// for a frame it treats as not minified (no sourcemap and a column up to 300, §4.4).
    fn ok(&self) -> bool {
        self.resolved && self.resolve_failure.is_none()
    }
}

/// The report of one frame.
#[derive(Debug, Clone, Serialize)]
pub struct FrameReport {
    #[serde(skip)]
    pub event: usize,
    pub exception: usize,
    pub frame: usize,
    pub function: Option<String>,
    pub filename: Option<String>,
    pub lineno: Option<u32>,
    pub colno: Option<u32>,
    pub platform: Option<String>,
    pub chunk_id: Option<String>,
    /// PostHog's result, for a frame of a processed event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub posthog: Option<PosthogResult>,
    pub links: Vec<Link>,
    pub verdict: Verdict,
    pub outcome: Outcome,
    pub code: &'static str,
    pub title: &'static str,
    pub hint: Option<&'static str>,
    pub resolved: Option<Original>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Where an event came from, for the report's header.
enum Origin {
    CommandLine,
    File(String),
    Api,
}

/// What the command reads: an event's id, timestamp, release id and exceptions.
struct EventIn {
    origin: Origin,
    id: Option<String>,
    timestamp: Option<String>,
    release_id: Option<String>,
    exceptions: Vec<Value>,
}

pub fn run(args: &ExplainArgs, settings: &Settings) -> anyhow::Result<Exit> {
    let mut client: Option<&Client> = None;
    let events = if let Some(spec) = &args.frame {
        vec![frame_event(spec, args.chunk_id.as_deref())?]
    } else if let Some(path) = &args.event {
        let text = std::fs::read(path)
            .map_err(|e| UsageError(format!("cannot read the event file {}: {e}", path.display())))?;
        let v: Value = serde_json::from_slice(&text)
            .map_err(|e| UsageError(format!("{} is not JSON: {e}", path.display())))?;
        events_from_json(v, path).map_err(|e| UsageError(format!("{}: {e}", path.display())))?
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
                Some(403) => anyhow!(
                    "the key may not read events: give the personal API key the query:read scope (explain also needs error_tracking:read to look up symbol sets) and access to project {} ({})",
                    c.project_id(),
                    refused(&e)
                ),
                _ => anyhow::Error::new(e),
            })?;
        client = Some(c);
        if e.event != "$exception" {
            bail!("event {id} is a {:?} event, not $exception", e.event);
        }
        let v = json!({"id": e.id, "timestamp": e.timestamp, "event": e.event, "properties": e.properties});
        let mut ev = event_from_json(&v).map_err(|e| anyhow!("event {id}: {e}"))?;
        ev.origin = Origin::Api;
        vec![ev]
    };

    let mut frames = Vec::new();
    for (i, e) in events.iter().enumerate() {
        frames.extend(collect_frames(i, e));
    }
    let needs_server = frames.iter().any(|f| !f.ended());
    if needs_server && client.is_none() {
        client = Some(settings.client()?);
    }
    let reports = match &client {
        Some(c) => settings.block_on(walk_all(c, frames))?,
        None => frames.into_iter().map(FrameIn::finish).collect(),
    };
    // an event without an in-app frame has nothing to check: not a success (exit 1, as a frame
    // that could not be checked), said plainly rather than "0 of 0 in-app frames resolve"
    let unchecked_events: Vec<usize> = (0..events.len())
        .filter(|i| !reports.iter().any(|r| r.event == *i))
        .collect();
    let all_resolve = reports.iter().all(|r| r.outcome == Outcome::Resolves) && unchecked_events.is_empty();

    if settings.global.output == OutputFormat::Json {
        let per_event: Vec<Value> = events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let rs: Vec<&FrameReport> = reports.iter().filter(|r| r.event == i).collect();
                let mut summary = summary_json(&rs);
                if rs.is_empty() {
                    summary["nothing_to_check"] = json!(nothing_to_check(e));
                }
                json!({
                    "event": {"id": e.id, "timestamp": e.timestamp, "release_id": e.release_id},
                    "frames": rs,
                    "summary": summary,
                })
            })
            .collect();
        let v = if per_event.len() == 1 {
            per_event.into_iter().next().expect("one")
        } else {
            let all: Vec<&FrameReport> = reports.iter().collect();
            let mut summary = summary_json(&all);
            summary["events_without_in_app_frames"] = json!(unchecked_events.len());
            json!({"events": per_event, "summary": summary})
        };
        print_json(&settings.printer, &v)?;
    } else {
        let mut out = String::new();
        for (i, e) in events.iter().enumerate() {
            let rs: Vec<&FrameReport> = reports.iter().filter(|r| r.event == i).collect();
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&text_report(e, &rs));
        }
        if events.len() > 1 {
            let all: Vec<&FrameReport> = reports.iter().collect();
            let mut line = summary_line(&all);
            if !unchecked_events.is_empty() {
                line.push_str(&format!(
                    "; {} event{} without an in-app frame (nothing to check)",
                    unchecked_events.len(),
                    if unchecked_events.len() == 1 { "" } else { "s" }
                ));
            }
            out.push_str(&format!("\n{} events: {line}\n", events.len()));
        }
        print(&settings.printer, &out)?;
    }
    Ok(if all_resolve { Exit::Success } else { Exit::Failed })
}

/// A refused events request, without the upload-oriented scope hint [`ApiError`]'s text adds.
fn refused(e: &ApiError) -> String {
    match e {
        ApiError::Http(h) => {
            let mut s = format!("{} {}: HTTP {}", h.method, h.url, h.status);
            if let Some(c) = &h.code {
                s.push_str(&format!(" ({c})"));
            }
            if let Some(d) = &h.detail {
                s.push_str(&format!(": {d}"));
            }
            s
        }
        other => other.to_string(),
    }
}

fn count(rs: &[&FrameReport], o: Outcome) -> usize {
    rs.iter().filter(|r| r.outcome == o).count()
}

fn summary_json(rs: &[&FrameReport]) -> Value {
    let mut verdicts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in rs {
        *verdicts.entry(r.code).or_default() += 1;
    }
    json!({
        "in_app_frames": rs.len(),
        "resolving": count(rs, Outcome::Resolves),
        "broken": count(rs, Outcome::Broken),
        "not_checked": count(rs, Outcome::NotChecked),
        "verdicts": verdicts,
    })
}

/// "1 of 3 in-app frames resolve; 1 broken; 1 not checked (other_platform 1)".
fn summary_line(rs: &[&FrameReport]) -> String {
    let n = rs.len();
    let good = count(rs, Outcome::Resolves);
    let broken = count(rs, Outcome::Broken);
    let mut out = format!(
        "{good} of {n} in-app frame{} resolve{}",
        if n == 1 { "" } else { "s" },
        if good == 1 { "s" } else { "" },
    );
    if broken > 0 {
        out.push_str(&format!("; {broken} broken"));
    }
    let mut unchecked: BTreeMap<&str, usize> = BTreeMap::new();
    for r in rs.iter().filter(|r| r.outcome == Outcome::NotChecked) {
        *unchecked.entry(r.code).or_default() += 1;
    }
    if !unchecked.is_empty() {
        let total: usize = unchecked.values().sum();
        let parts: Vec<String> = unchecked.iter().map(|(c, n)| format!("{c} {n}")).collect();
        out.push_str(&format!("; {total} not checked ({})", parts.join(", ")));
    }
    let late = rs
        .iter()
        .filter(|r| r.verdict == Verdict::ResolvedAfterEvent)
        .count();
    if late > 0 {
        out.push_str(&format!(
            "; PostHog could not resolve {late} of them when the event arrived"
        ));
    }
    out
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
        origin: Origin::CommandLine,
        id: None,
        timestamp: None,
        release_id: None,
        exceptions: vec![
            json!({"type": "Error", "value": "(--frame)", "stacktrace": {"type": "raw", "frames": [frame]}}),
        ],
    })
}

/// The events of a JSON file: one event (`{"properties": {"$exception_list": ...}}`, as exported
/// or as captured), an events API answer (`{"results": [event, ...]}`), a capture batch
/// (`{"batch": [...]}`) or a list of events. Every event is explained.
fn events_from_json(v: Value, path: &Path) -> Result<Vec<EventIn>, String> {
    let list = ["results", "batch"]
        .iter()
        .find_map(|k| v.get(k).and_then(Value::as_array))
        .or_else(|| v.as_array());
    let Some(list) = list else {
        let mut e = event_from_json(&v)?;
        e.origin = Origin::File(path.display().to_string());
        return Ok(vec![e]);
    };
    if list.is_empty() {
        return Err("the events list is empty".into());
    }
    let n = list.len();
    list.iter()
        .enumerate()
        .map(|(i, item)| {
            let mut e = event_from_json(item).map_err(|e| {
                let id = item
                    .get("id")
                    .or_else(|| item.get("uuid"))
                    .and_then(Value::as_str)
                    .map(|id| format!(" ({id})"))
                    .unwrap_or_default();
                format!("event {} of {n}{id}: {e}", i + 1)
            })?;
            e.origin = Origin::File(if n == 1 {
                path.display().to_string()
            } else {
                format!("{}, event {} of {n}", path.display(), i + 1)
            });
            Ok(e)
        })
        .collect()
}

/// One event from its JSON. `properties` may be a JSON string (as some exports write it).
fn event_from_json(v: &Value) -> Result<EventIn, String> {
    let props = v.get("properties").ok_or("no \"properties\": not an event")?;
    let parsed;
    let props = match props {
        Value::String(text) => {
            parsed = serde_json::from_str::<Value>(text).map_err(|e| {
                format!("\"properties\" is a string that is not JSON ({e}); export the event with its properties as a JSON object")
            })?;
            &parsed
        }
        p => p,
    };
    if !props.is_object() {
        return Err("\"properties\" is not a JSON object".into());
    }
    let exceptions = props
        .get("$exception_list")
        .and_then(Value::as_array)
        .cloned()
        .ok_or("no $exception_list in the properties: not an $exception event")?;
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    Ok(EventIn {
        origin: Origin::CommandLine,
        id: s(v.get("id")).or_else(|| s(v.get("uuid"))),
        timestamp: s(v.get("timestamp")),
        release_id: s(props.get("$release_id")),
        exceptions,
    })
}

/// An in-app frame to walk.
struct FrameIn {
    report: FrameReport,
    /// The `$release_id` of its event.
    release_id: Option<String>,
}

fn num(v: Option<&Value>) -> Option<u32> {
    v.and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok())
}

/// The in-app frames of every exception of event `ei`, in the order the event lists them
/// (outermost first). A frame of a processed event carries PostHog's result; its raw frame
/// (`junk_drawer.raw_frame`), when kept, is walked again.
fn collect_frames(ei: usize, event: &EventIn) -> Vec<FrameIn> {
    let mut out = Vec::new();
    for (xi, exc) in event.exceptions.iter().enumerate() {
        let processed_stack = exc.pointer("/stacktrace/type").and_then(Value::as_str) == Some("resolved");
        let frames = exc
            .pointer("/stacktrace/frames")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (fi, f) in frames.iter().enumerate() {
            if f.get("in_app").and_then(Value::as_bool) == Some(false) {
                continue;
            }
            let s = |f: &Value, k: &str| f.get(k).and_then(Value::as_str).map(str::to_owned);
            let processed = processed_stack
                || (f.get("resolved").is_some_and(Value::is_boolean) && f.get("mangled_name").is_some());
            let raw = f.pointer("/junk_drawer/raw_frame").filter(|r| r.is_object());
            let posthog = processed.then(|| PosthogResult {
                resolved: f.get("resolved").and_then(Value::as_bool).unwrap_or(false),
                resolve_failure: s(f, "resolve_failure"),
                source: s(f, "source"),
                line: num(f.get("line")),
                column: num(f.get("column")),
                resolved_name: s(f, "resolved_name"),
                raw_frame: raw.is_some(),
            });
            let mut report = FrameReport {
                event: ei,
                exception: xi + 1,
                frame: fi + 1,
                function: None,
                filename: None,
                lineno: None,
                colno: None,
                platform: None,
                chunk_id: None,
                posthog: posthog.clone(),
                links: Vec::new(),
                verdict: Verdict::Resolved,
                outcome: Outcome::Resolves,
                code: "",
                title: "",
                hint: None,
                resolved: None,
                notes: Vec::new(),
            };
            match (&posthog, raw.or((!processed).then_some(f))) {
                (_, Some(r)) => {
                    report.function = s(r, "function");
                    report.filename = s(r, "filename");
                    report.lineno = num(r.get("lineno"));
                    report.colno = num(r.get("colno"));
                    report.platform = s(r, "platform");
                    report.chunk_id = s(r, "chunk_id").or_else(|| s(r, "chunkId"));
                }
                (Some(p), None) => {
                    // only PostHog's frame: its line/column are the raw position when unresolved
                    report.function = s(f, "mangled_name");
                    report.filename = p.source.clone();
                    if !p.resolved {
                        report.lineno = p.line;
                        report.colno = p.column;
                    }
                }
                (None, None) => unreachable!("a raw frame is its own raw frame"),
            }
            let mut fr = FrameIn {
                report,
                release_id: event.release_id.clone(),
            };
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
        self.report.outcome = v.outcome();
        self.report.code = v.code().as_str();
        self.report.title = v.title();
        self.report.hint = v.hint();
    }

    fn ended(&self) -> bool {
        !self.report.code.is_empty()
    }

    /// The report once the walk is over: a frame PostHog did not resolve that resolves now is
    /// `resolved_after_event`.
    fn finish(mut self) -> FrameReport {
        if !self.ended() {
            self.end(Verdict::Resolved);
        }
        let late = self.report.posthog.as_ref().is_some_and(|p| !p.ok());
        if late && self.report.verdict == Verdict::Resolved {
            self.end(Verdict::ResolvedAfterEvent);
        }
        self.report
    }

    /// The links that need no server: PostHog's result, platform, position, chunk id.
    fn precheck(&mut self) {
        if let Some(p) = self.report.posthog.clone() {
            self.posthog_link(&p);
            if !p.raw_frame {
                return self.end_as_posthog(p.ok());
            }
        }
        let platform = self.report.platform.clone().unwrap_or_default();
        if !matches!(
            platform.as_str(),
            "web:javascript" | "javascript" | "node:javascript" | ""
        ) {
            let id = self
                .report
                .chunk_id
                .as_deref()
                .map(|id| format!(", chunk id {id}"))
                .unwrap_or_default();
            if let Some(ok) = self.posthog_ok() {
                self.link(
                    "platform",
                    ok,
                    format!("{platform}{id}: explain does not resolve this platform again; PostHog's result stands"),
                );
                return self.end_as_posthog(ok);
            }
            self.link(
                "platform",
                false,
                format!("{platform}{id}: explain resolves web and node JavaScript frames only, so this frame was not checked"),
            );
            return self.end(Verdict::OtherPlatform);
        }
        let (Some(l), Some(c)) = (self.report.lineno, self.report.colno) else {
            if let Some(ok) = self.posthog_ok() {
                self.link(
                    "position",
                    ok,
                    "the raw frame has no lineno/colno: nothing to look up again; PostHog's result stands",
                );
                return self.end_as_posthog(ok);
            }
            self.link(
                "position",
                false,
                "no lineno/colno: nothing to look up, so the frame was not checked",
            );
            return self.end(Verdict::NoLocation);
        };
        self.link(
            "position",
            true,
            if l == 0 {
                format!("line 0, column {c} (as sent; there is no line 0 in a 1-based stack trace, so the lookup below finds no token)")
            } else {
                format!("line {l}, column {c} (as the engine printed them)")
            },
        );
        match self.report.chunk_id.clone() {
            Some(id) => self.link("chunk id", true, id),
            None => {
                self.link("chunk id", false, "none sent with the frame");
                self.end(Verdict::NoChunkId)
            }
        }
    }

    /// For a frame of a processed event: whether PostHog resolved it.
    fn posthog_ok(&self) -> Option<bool> {
        self.report.posthog.as_ref().map(PosthogResult::ok)
    }

    /// Ends with PostHog's verdict, for a frame explain cannot check again.
    fn end_as_posthog(&mut self, ok: bool) {
        self.end(if ok {
            Verdict::Resolved
        } else {
            Verdict::PosthogUnresolved
        })
    }

    /// PostHog's result as the first link, quoting its `resolve_failure`; with no raw frame to
    /// check again and a failure naming a chunk id, a note with the `--frame` command that does.
    fn posthog_link(&mut self, p: &PosthogResult) {
        if p.ok() {
            let at = format!(
                "{}:{}:{}",
                p.source.as_deref().unwrap_or("<no source>"),
                p.line.map(|n| (n + 1).to_string()).unwrap_or("-".into()),
                p.column.map(|n| (n + 1).to_string()).unwrap_or("-".into()),
            );
            self.link(
                "posthog",
                true,
                format!(
                    "resolved when the event arrived, to {at}{}",
                    if p.raw_frame {
                        ""
                    } else {
                        " (1-based); the event keeps no raw frame, so it is not checked again"
                    }
                ),
            );
            return;
        }
        let why = match &p.resolve_failure {
            Some(f) => format!("resolve_failure {f:?}"),
            None => "resolved: false, no resolve_failure given".to_owned(),
        };
        self.link(
            "posthog",
            false,
            format!(
                "not resolved when the event arrived: {why}{}",
                if p.raw_frame {
                    "; checking the raw frame again now"
                } else {
                    "; the event keeps no raw frame to check again"
                }
            ),
        );
        if p.raw_frame {
            return;
        }
        let chunk = p
            .resolve_failure
            .as_deref()
            .and_then(|f| f.split_once("chunk id: "))
            .map(|(_, id)| id.trim().to_owned())
            .filter(|id| !id.is_empty() && !id.contains(char::is_whitespace));
        if let (Some(id), Some(src), Some(l), Some(c)) = (chunk, &p.source, p.line, p.column) {
            self.report.notes.push(format!(
                "check it now: symship sourcemap explain --frame {src}:{l}:{c} --chunk-id {id}"
            ));
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
        out.push(f.finish());
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
    if let (Some(r), Some(event_release)) = (&set.release, f.release_id.clone()) {
        if !r.id.to_string().eq_ignore_ascii_case(event_release.trim()) {
            f.report.notes.push(format!(
                "the event's $release_id {event_release} is not the symbol set's release {} ({} {}): PostHog finds the set by chunk id, so this does not stop the frame resolving, but the event reports another release than the set was uploaded with (a set uploaded for another build, or an app that sets $release_id itself)",
                r.id, r.project, r.version
            ));
        }
    }
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
        if lineno == 0 {
            format!("the stored chunk registers {id} (its lines cannot be checked against line 0)")
        } else {
            format!("the stored chunk registers {id} and has line {lineno} up to column {colno}")
        },
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
    if lineno == 0 {
        // no line to compare: the lookup says why line 0 finds nothing
        return None;
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

fn text_report(event: &EventIn, reports: &[&FrameReport]) -> String {
    let mut out = String::new();
    let when = event
        .timestamp
        .as_deref()
        .map(|t| format!(" at {t}"))
        .unwrap_or_default();
    let release = event
        .release_id
        .as_deref()
        .map(|r| format!(", $release_id {r}"))
        .unwrap_or_default();
    let id = event.id.as_deref().unwrap_or("(no id)");
    match &event.origin {
        Origin::CommandLine => out.push_str("frame given on the command line\n"),
        Origin::Api => out.push_str(&format!("event {id}{when}{release}\n")),
        Origin::File(f) => out.push_str(&format!("event {id}{when}{release} (from {f})\n")),
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
            let mark = match (l.ok, r.outcome) {
                (true, _) => "ok  ",
                (false, Outcome::NotChecked) => "skip",
                (false, _) => "FAIL",
            };
            out.push_str(&format!("  {mark} {:<11} {}\n", l.link, l.detail));
        }
        match &r.resolved {
            Some(o) => {
                out.push_str(&crate::commands::resolve::original_text(o, "    "));
                if r.verdict != Verdict::Resolved {
                    out.push_str(&format!("  => {}: {}\n", r.code, r.title));
                }
            }
            None => out.push_str(&format!("  => {}: {}\n", r.code, r.title)),
        }
        for n in &r.notes {
            out.push_str(&format!("  note: {n}\n"));
        }
        if let Some(h) = r.hint {
            out.push_str(&format!("  hint: {h}\n"));
        }
    }
    if reports.is_empty() {
        out.push_str(&format!("\n{}\n", nothing_to_check(event)));
    } else {
        out.push_str(&format!("\n{}\n", summary_line(reports)));
    }
    out
}

/// Why an event has no in-app frame to walk: its exceptions carry no frames, or every frame is
/// marked `in_app: false` (posthog-js marks so `<anonymous>` frames and URLs of other schemes
/// than http(s), file, blob, app, webpack..., kinds-and-explain.md §4.2).
fn nothing_to_check(event: &EventIn) -> String {
    let frames: usize = event
        .exceptions
        .iter()
        .map(|x| {
            x.pointer("/stacktrace/frames")
                .and_then(Value::as_array)
                .map_or(0, Vec::len)
        })
        .sum();
    let exceptions = event.exceptions.len();
    let s = |n: usize| if n == 1 { "" } else { "s" };
    if frames == 0 {
        format!(
            "nothing to check: the event's {exceptions} exception{} carr{} no stack frame, so there is no in-app \
             frame to resolve (the SDK sent none: check that it captures stack traces)",
            s(exceptions),
            if exceptions == 1 { "ies" } else { "y" }
        )
    } else {
        format!(
            "nothing to check: none of the event's {frames} frame{} is in-app (each has in_app: false; the SDK \
             marks so frames of <anonymous> code, browser extensions and other non-web URLs), and explain \
             checks in-app frames only",
            s(frames),
        )
    }
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
