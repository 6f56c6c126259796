//! `symship sourcemap resolve FILE.js|FILE.map LINE:COL`: the original position of a minified
//! one, resolved offline on a local build exactly as PostHog's symbolication service resolves a
//! frame (`symship_scan::resolve`, kinds-and-explain.md §4.4), with the chunk id the file
//! carries. Exit 0 when the position resolves, 1 when it does not (the reason is printed), 2 on
//! bad usage.

use serde_json::json;
use symship_scan::resolve::{self, Original, ResolveError};

use crate::cli::{OutputFormat, ResolveArgs};
use crate::exit::{Exit, UsageError};
use crate::manage::{print, print_json};
use crate::settings::Settings;

pub fn run(args: &ResolveArgs, settings: &Settings) -> anyhow::Result<Exit> {
    let (lineno, colno) = resolve::parse_position(&args.position).ok_or_else(|| {
        UsageError(format!(
            "position {:?} is not LINE:COL (the line and column a stack trace prints, e.g. 1:1234)",
            args.position
        ))
    })?;
    let local = match resolve::open_local(&args.file) {
        Ok(l) => l,
        Err(e @ (ResolveError::Read { .. } | ResolveError::NoMap { .. })) => {
            return Err(UsageError(e.to_string()).into())
        }
        Err(e) => return Err(e.into()),
    };
    let result = local.lookup.resolve_frame(lineno, colno);
    if settings.global.output == OutputFormat::Json {
        print_json(
            &settings.printer,
            &json!({
                "file": args.file,
                "chunk": local.chunk,
                "map": local.map_path,
                "chunk_id": local.chunk_id,
                "map_chunk_id": local.map_chunk_id,
                "lineno": lineno,
                "colno": colno,
                "lookup": {"line": lineno.saturating_sub(1), "column": colno},
                "resolved": result.as_ref().ok(),
                "error": result.as_ref().err().map(|e| e.to_string()),
            }),
        )?;
    } else {
        let mut out = String::new();
        let map = match &local.map_path {
            Some(p) => p.display().to_string(),
            None => "inline (data: URL)".to_owned(),
        };
        out.push_str(&format!("{}:{lineno}:{colno}\n", args.file.display()));
        out.push_str(&format!("  map       {map}\n"));
        out.push_str(&format!(
            "  chunk id  {}\n",
            describe_ids(
                local.chunk_id.as_deref(),
                local.map_chunk_id.as_deref(),
                local.chunk.is_some()
            )
        ));
        match &result {
            Ok(o) => out.push_str(&original_text(o, "  ")),
            Err(e) => out.push_str(&format!("  not resolved: {e}\n")),
        }
        print(&settings.printer, &out)?;
    }
    Ok(if result.is_ok() {
        Exit::Success
    } else {
        Exit::Failed
    })
}

/// The chunk ids of a local pair in words.
fn describe_ids(chunk: Option<&str>, map: Option<&str>, has_chunk: bool) -> String {
    match (chunk, map) {
        (Some(c), Some(m)) if c == m => c.to_owned(),
        (Some(c), Some(m)) => format!(
            "{c} (the map says {m}: the pair was injected twice or mixed up; upload the chunk's own map)"
        ),
        (Some(c), None) => format!("{c} (the map has no chunk_id: run `symship sourcemap inject` on both)"),
        (None, Some(m)) if has_chunk => {
            format!("none in the chunk (the map says {m}: the chunk was rebuilt or copied after injection)")
        }
        (None, Some(m)) => format!("{m} (from the map; the chunk is not beside it)"),
        (None, None) => "none: not injected (run `symship sourcemap inject` before deploying)".to_owned(),
    }
}

/// An original position as text lines: file:line:column (1-based, as an editor shows them; what
/// PostHog stores is 0-based), the name, and the context lines with the resolved one marked.
pub fn original_text(o: &Original, indent: &str) -> String {
    let mut out = format!(
        "{indent}original  {}:{}:{}{}\n",
        o.source.as_deref().unwrap_or("<no source>"),
        o.line + 1,
        o.column + 1,
        match &o.name {
            Some(n) => format!(" ({n})"),
            None => String::new(),
        }
    );
    out.push_str(&format!(
        "{indent}          (1-based; PostHog stores line {} column {}, 0-based; token at minified {}:{})\n",
        o.line,
        o.column,
        o.token_line + 1,
        o.token_column
    ));
    if let Some(ctx) = &o.context {
        let width = (ctx.after.last().map_or(ctx.line.number, |l| l.number) + 1)
            .to_string()
            .len();
        let line = |l: &resolve::ContextLine, mark: &str| {
            format!("{indent}  {mark} {:>width$} | {}\n", l.number + 1, l.text)
        };
        for l in &ctx.before {
            out.push_str(&line(l, " "));
        }
        out.push_str(&line(&ctx.line, ">"));
        for l in &ctx.after {
            out.push_str(&line(l, " "));
        }
    }
    out
}
