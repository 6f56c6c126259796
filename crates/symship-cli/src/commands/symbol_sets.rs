//! `symship symbol-sets list|get|download|delete|prune`: what a project holds on the server
//! (spec §2.10).
//!
//! Every id that comes from the user or the server is a UUID before it goes into a URL (the
//! typed calls take `Uuid`), and downloaded files are named from a sanitised base name inside
//! the output directory only.

use std::io::IsTerminal as _;
use std::path::Path;

use anyhow::{anyhow, bail, Context as _};
use serde_json::json;
use symship_api::{ApiError, Client, Release, SymbolSet, SymbolSetOrder, SymbolSetQuery, SymbolSetStatus};

use crate::cli::{
    OutputFormat, StatusArg, SymbolSetDeleteArgs, SymbolSetDownloadArgs, SymbolSetGetArgs, SymbolSetListArgs,
    SymbolSetPruneArgs, SymbolSetsCommand,
};
use crate::exit::{Exit, UsageError};
use crate::manage::{
    check_uuid, find_release, format_rfc3339, now_unix, parse_age, parse_rfc3339, parse_uuid, print,
    print_json, release_brief, release_label, set_json, short_time, table,
};
use crate::settings::Settings;

/// Ids per `bulk_delete` request.
const DELETE_BATCH: usize = 100;
/// Page size of list requests (the server's maximum).
const PAGE_SIZE: u32 = 100;

/// Runs one `symbol-sets` subcommand.
pub fn run(cmd: &SymbolSetsCommand, settings: &Settings) -> anyhow::Result<Exit> {
    match cmd {
        SymbolSetsCommand::List(a) => list(a, settings),
        SymbolSetsCommand::Get(a) => get(a, settings),
        SymbolSetsCommand::Upload(a) => crate::commands::native::symbol_sets_upload(a, settings),
        SymbolSetsCommand::Download(a) => download(a, settings),
        SymbolSetsCommand::Delete(a) => delete(a, settings),
        SymbolSetsCommand::Prune(a) => prune(a, settings),
        SymbolSetsCommand::Extract(a) => crate::commands::extract::extract(a, settings),
    }
}

// ---- list ----

pub fn list(args: &SymbolSetListArgs, settings: &Settings) -> anyhow::Result<Exit> {
    let order_by = args.order_by.as_deref().map(parse_order).transpose()?;
    let client = settings.client()?;
    let (release, sets) = settings.block_on(async {
        let release = match &args.release {
            Some(spec) => Some(find_release(client, spec).await?),
            None => None,
        };
        let query = SymbolSetQuery {
            reference: args.reference.clone(),
            search: args.search.clone(),
            status: args.status.map(status_of),
            order_by,
            limit: Some(PAGE_SIZE),
            ..Default::default()
        };
        let sets = list_sets(client, query, release.as_ref()).await?;
        anyhow::Ok((release, sets))
    })??;
    if settings.global.output == OutputFormat::Json {
        let v = json!({
            "count": sets.len(),
            "release": release.as_ref().map(release_brief),
            "symbol_sets": sets.iter().map(set_json).collect::<Vec<_>>(),
        });
        print_json(&settings.printer, &v)?;
    } else {
        let mut text = table(
            &["ID", "REF", "CREATED", "LAST USED", "STORED", "RELEASE"],
            sets.iter()
                .map(|s| {
                    vec![
                        s.id.to_string(),
                        s.reference.clone(),
                        short_time(s.created_at.as_deref()),
                        short_time(s.last_used.as_deref()),
                        if s.is_uploaded() { "yes" } else { "no" }.to_owned(),
                        s.release
                            .as_ref()
                            .map(release_label)
                            .unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect(),
        );
        text.push_str(&format!(
            "{} symbol set{}\n",
            sets.len(),
            if sets.len() == 1 { "" } else { "s" }
        ));
        print(&settings.printer, &text)?;
    }
    Ok(Exit::Success)
}

/// Every set matching `query` (all pages). With a release, the server has no filter for it:
/// the release's version narrows the search (when no other search was asked for) and the
/// release id decides.
async fn list_sets(
    client: &Client,
    mut query: SymbolSetQuery,
    release: Option<&Release>,
) -> anyhow::Result<Vec<SymbolSet>> {
    if let Some(r) = release {
        if query.search.is_none() {
            query.search = Some(r.version.clone());
        }
    }
    let sets = client.list_symbol_sets_all(&query).await?;
    Ok(match release {
        Some(r) => sets
            .into_iter()
            .filter(|s| s.release.as_ref().is_some_and(|sr| sr.id == r.id))
            .collect(),
        None => sets,
    })
}

fn status_of(s: StatusArg) -> SymbolSetStatus {
    match s {
        StatusArg::Valid => SymbolSetStatus::Valid,
        StatusArg::Invalid => SymbolSetStatus::Invalid,
        StatusArg::All => SymbolSetStatus::All,
    }
}

/// The server's `order_by` values.
pub const ORDER_VALUES: [&str; 6] = [
    "created_at",
    "-created_at",
    "ref",
    "-ref",
    "last_used",
    "-last_used",
];

fn parse_order(s: &str) -> anyhow::Result<SymbolSetOrder> {
    Ok(match s {
        "created_at" => SymbolSetOrder::CreatedAt,
        "-created_at" => SymbolSetOrder::CreatedAtDesc,
        "ref" => SymbolSetOrder::Ref,
        "-ref" => SymbolSetOrder::RefDesc,
        "last_used" => SymbolSetOrder::LastUsed,
        "-last_used" => SymbolSetOrder::LastUsedDesc,
        other => {
            return Err(UsageError(format!(
                "--order-by {other:?} is not one of {}",
                ORDER_VALUES.join(", ")
            ))
            .into())
        }
    })
}

// ---- get ----

pub fn get(args: &SymbolSetGetArgs, settings: &Settings) -> anyhow::Result<Exit> {
    let target = Target::from_args(args.id.as_deref(), args.reference.as_deref())?;
    let client = settings.client()?;
    let set = settings.block_on(target.fetch(client))??;
    if settings.global.output == OutputFormat::Json {
        print_json(&settings.printer, &set_json(&set))?;
    } else {
        let mut text = String::new();
        let mut line = |k: &str, v: &str| text.push_str(&format!("{k:<13}{v}\n"));
        line("id:", &set.id.to_string());
        line("ref:", &set.reference);
        line("created:", set.created_at.as_deref().unwrap_or("-"));
        line("last used:", set.last_used.as_deref().unwrap_or("never"));
        // PostHog's `has_uploaded_file` (storage_ptr set) is true from the start of an upload on,
        // and its answer has no content hash: a set whose bytes reached storage but whose finish
        // failed looks stored to both `get` and `download` (a fresh tester)
        line(
            "stored:",
            if set.is_uploaded() {
                "yes, or an upload was started and never finished (PostHog's answer does not tell them apart; `download` fails when no file reached storage)"
            } else {
                "no"
            },
        );
        if let Some(f) = &set.failure_reason {
            line("failure:", f);
        }
        match &set.release {
            Some(r) => line("release:", &format!("{} ({})", release_label(r), r.id)),
            None => line("release:", "-"),
        }
        print(&settings.printer, &text)?;
    }
    Ok(Exit::Success)
}

/// A symbol set named on the command line: by id (validated as a UUID before any request) or
/// by ref.
enum Target {
    Id(String),
    Ref(String),
}

impl Target {
    fn from_args(id: Option<&str>, reference: Option<&str>) -> anyhow::Result<Target> {
        match (id, reference) {
            (Some(id), None) => {
                check_uuid(id, "symbol set id")?;
                Ok(Target::Id(id.to_ascii_lowercase()))
            }
            (None, Some(r)) if !r.is_empty() => Ok(Target::Ref(r.to_owned())),
            (None, Some(_)) => Err(UsageError("--ref must not be empty".into()).into()),
            (Some(_), Some(_)) => Err(UsageError("give a symbol set id or --ref, not both".into()).into()),
            (None, None) => Err(UsageError("give a symbol set id or --ref REF".into()).into()),
        }
    }

    async fn fetch(&self, client: &Client) -> anyhow::Result<SymbolSet> {
        match self {
            Target::Id(id) => {
                let uuid = parse_uuid(id, "symbol set id")?;
                client.get_symbol_set(uuid).await.map_err(|e| {
                    if e.status() == Some(404) {
                        anyhow!(
                            "no symbol set with id {id} in this project (if that is a ref, a chunk id, LC_UUID or debug id, pass it with --ref)"
                        )
                    } else {
                        e.into()
                    }
                })
            }
            Target::Ref(r) => {
                if let Some(set) = client.find_symbol_set(r).await? {
                    return Ok(set);
                }
                // PostHog matches refs exactly: web chunk ids are stored in lower case, Mach-O
                // LC_UUIDs in upper case, and a ref copied from elsewhere may be in either
                for other in [r.to_ascii_uppercase(), r.to_ascii_lowercase()] {
                    if other != *r {
                        if let Some(set) = client.find_symbol_set(&other).await? {
                            tracing::info!("no symbol set with ref {r:?}; found it as {other:?}");
                            return Ok(set);
                        }
                    }
                }
                Err(anyhow!(
                    "no symbol set with ref {r:?} in this project, in any letter case (was it uploaded?)"
                ))
            }
        }
    }
}

// ---- download ----

pub fn download(args: &SymbolSetDownloadArgs, settings: &Settings) -> anyhow::Result<Exit> {
    let id = match (&args.id, &args.id_flag) {
        (Some(_), Some(_)) => {
            return Err(UsageError("give the id once (positionally or with --id)".into()).into())
        }
        (a, b) => a.as_deref().or(b.as_deref()),
    };
    let target = Target::from_args(id, args.reference.as_deref())?;
    let dir = args.out_dir.clone();
    let client = settings.client()?;
    let set = settings.block_on(target.fetch(client))??;
    if !set.is_uploaded() {
        bail!(
            "symbol set {} (ref {}) has no uploaded file: its upload never finished; upload the build again",
            set.id,
            set.reference
        );
    }
    // posthog-cli's names: the id for a download by id, the ref's last path segment for a
    // download by ref.
    let base = match &target {
        Target::Id(_) => set.id.to_string(),
        Target::Ref(r) => safe_base_name(r).unwrap_or_else(|| set.id.to_string()),
    };
    let js = dir.join(format!("{base}.js"));
    let js_map = dir.join(format!("{base}.js.map"));
    if settings.global.dry_run {
        print(
            &settings.printer,
            &format!(
                "--dry-run: would write {} and {}\n",
                js.display(),
                js_map.display()
            ),
        )?;
        return Ok(Exit::Success);
    }
    let bytes = settings.block_on(async {
        let url = client.symbol_set_download_url(set.id).await?.url;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            bail!(
                "the server's download link for symbol set {} is not an http(s) URL",
                set.id
            );
        }
        match fetch_object(client, &url).await {
            Ok(bytes) => Ok(bytes),
            // PostHog lists a set as uploaded once its upload started (storage_ptr set); the
            // object exists only once the transfer finished
            Err(e) if e.status() == Some(404) => bail!(
                "symbol set {} (ref {}) has no file in object storage ({e}): its upload was started and never finished; upload it again",
                set.id,
                set.reference
            ),
            Err(e) => Err(e.into()),
        }
    })??;
    symship_upload::container::check_declared_size(&bytes, symship_upload::container::MAX_DECOMPRESSED)
        .map_err(|e| anyhow!("symbol set {} (ref {}): {e}", set.id, set.reference))?;
    use symship_upload::container::Payload;
    let problem = |e: symship_upload::container::ReadError| {
        anyhow!(
            "symbol set {} (ref {}): {}",
            set.id,
            set.reference,
            container_problem(&e)
        )
    };
    // posthog-cli's `symbol-sets download` names: HermesMap -> <base>.hbc.map, ProguardMapping ->
    // <base>.txt, AppleDsym and ElfDebugInfo -> <base>/ with the zip's entries (spec
    // kinds-and-explain.md §3.6), as `symbol-sets extract` writes them.
    let single = match symship_upload::container::read_any(&bytes).map_err(problem)? {
        Payload::SourceAndMap { .. } => None,
        Payload::HermesMap(text) => Some((dir.join(format!("{base}.hbc.map")), text)),
        Payload::ProguardMapping(text) => Some((dir.join(format!("{base}.txt")), text)),
        Payload::AppleDsym(zip) | Payload::ElfDebugInfo(zip) => {
            drop(bytes);
            let into = dir.join(&base);
            let written = symship_native::package::unzip_into(std::io::Cursor::new(zip), &into)
                .map_err(|e| anyhow!("symbol set {} (ref {}): {e}", set.id, set.reference))?;
            for f in &written {
                tracing::info!("symbol set {}: wrote {}", set.reference, f.display());
            }
            if settings.global.output == OutputFormat::Json {
                print_json(
                    &settings.printer,
                    &json!({ "id": set.id, "ref": set.reference, "dir": into, "written": written }),
                )?;
            } else {
                print(&settings.printer, &format!("{}\n", into.display()))?;
            }
            return Ok(Exit::Success);
        }
    };
    if let Some((path, text)) = single {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("could not create the output directory {}", dir.display()))?;
        write_replacing(&path, text.as_bytes())?;
        tracing::info!(
            "symbol set {} ({} bytes): wrote {}",
            set.reference,
            bytes.len(),
            path.display()
        );
        if settings.global.output == OutputFormat::Json {
            print_json(
                &settings.printer,
                &json!({
                    "id": set.id,
                    "ref": set.reference,
                    "file": path,
                    "bytes": text.len(),
                }),
            )?;
        } else {
            print(&settings.printer, &format!("{}\n", path.display()))?;
        }
        return Ok(Exit::Success);
    }
    let (source, map) = symship_upload::container::read(&bytes).map_err(problem)?;
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("could not create the output directory {}", dir.display()))?;
    write_replacing(&js, source.as_bytes())?;
    write_replacing(&js_map, map.as_bytes())?;
    tracing::info!(
        "symbol set {} ({} bytes): wrote {} and {}",
        set.reference,
        bytes.len(),
        js.display(),
        js_map.display()
    );
    if settings.global.output == OutputFormat::Json {
        print_json(
            &settings.printer,
            &json!({
                "id": set.id,
                "ref": set.reference,
                "source": js,
                "map": js_map,
                "source_bytes": source.len(),
                "map_bytes": map.len(),
            }),
        )?;
    } else {
        print(
            &settings.printer,
            &format!("{}\n{}\n", js.display(), js_map.display()),
        )?;
    }
    Ok(Exit::Success)
}

/// The largest object a download reads: PostHog stores symbol sets up to 100 MiB; anything
/// larger is refused as it arrives (the container is decoded in memory, so this bounds it).
const MAX_OBJECT_BYTES: u64 = symship_upload::container::MAX_SET_BYTES + 1024 * 1024;

/// GET a presigned object URL (no API key), with the client's retry policy, a body of at most
/// [`MAX_OBJECT_BYTES`] and the total deadline of a transfer of that size.
pub(crate) async fn fetch_object(client: &Client, url: &str) -> Result<Vec<u8>, ApiError> {
    let shown = url.split('?').next().unwrap_or_default().to_owned();
    let total = client.deadlines().transfer_total(MAX_OBJECT_BYTES);
    symship_api::retry(
        client.retry_policy(),
        client.observer(),
        &format!("GET {shown}"),
        |_| {
            let shown = shown.clone();
            let shown_in = shown.clone();
            let attempt = async move {
                let resp = client
                    .http()
                    .get(url)
                    .send()
                    .await
                    .map_err(|e| match e.url().cloned() {
                        Some(u) => client.storage_error("GET", &u, e),
                        None => ApiError::Transport {
                            service: symship_api::Service::Storage,
                            method: "GET".into(),
                            url: shown_in.clone(),
                            kind: symship_api::TransportKind::Other,
                            message: e.to_string(),
                        },
                    })?;
                let u = resp.url().clone();
                let resp = symship_api::check_storage_response("GET", &u, resp).await?;
                let body = symship_api::read_body(resp, MAX_OBJECT_BYTES)
                    .await
                    .map_err(|e| match e {
                        symship_api::BodyError::Transport(e) => client.storage_error("GET", &u, e),
                        symship_api::BodyError::TooLarge => ApiError::TooLarge {
                            method: "GET".into(),
                            url: symship_api::config::redact_url(&u),
                            limit: MAX_OBJECT_BYTES,
                        },
                    })?;
                Ok(body.to_vec())
            };
            async move {
                match tokio::time::timeout(total, attempt).await {
                    Ok(r) => r,
                    Err(_) => Err(ApiError::Transport {
                        service: symship_api::Service::Storage,
                        method: "GET".into(),
                        url: shown.clone(),
                        kind: symship_api::TransportKind::Timeout,
                        message: symship_api::Deadline::Total.describe(total),
                    }),
                }
            }
        },
    )
    .await
}

/// Why a stored object is not a SourceAndMap container, in words.
fn container_problem(e: &symship_upload::container::ReadError) -> String {
    use symship_upload::container::ReadError;
    match e {
        ReadError::OtherKind { .. } => format!("{e}; `posthog-cli symbol-sets download` unpacks other kinds"),
        ReadError::Payload { reason, .. } => {
            format!("the JavaScript container could not be read: {reason}")
        }
        e => e.to_string(),
    }
}

/// posthog-cli's `derive_base_name` (last path segment, known extensions stripped), then made
/// safe: only `[A-Za-z0-9._-]`, no leading dot, at most 120 bytes. `None` if nothing is left.
pub fn safe_base_name(reference: &str) -> Option<String> {
    let last = reference.rsplit(['/', '\\']).next().unwrap_or(reference);
    let mut name = last;
    for ext in [".js.map", ".hbc.map", ".map", ".js", ".txt", ".dSYM"] {
        if let Some(s) = name.strip_suffix(ext) {
            name = s;
            break;
        }
    }
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches('.');
    let cleaned: String = cleaned.chars().take(120).collect();
    (!cleaned.is_empty() && cleaned.chars().any(|c| c != '_')).then_some(cleaned)
}

/// Writes `bytes` to a fresh temporary file next to `path` and renames it over `path`
/// (`symship_fs::write`), so a symbolic link at `path` is replaced rather than followed and a
/// crash leaves no half file.
fn write_replacing(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    symship_fs::write(path, bytes).map_err(|e| anyhow!("could not write {}: {e}", path.display()))
}

// ---- delete ----

pub fn delete(args: &SymbolSetDeleteArgs, settings: &Settings) -> anyhow::Result<Exit> {
    let mut ids: Vec<String> = Vec::new();
    for id in &args.ids {
        check_uuid(id, "symbol set id")?;
        let id = id.to_ascii_lowercase();
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if settings.global.dry_run {
        report_deleted(settings, &ids, None, true)?;
        return Ok(Exit::Success);
    }
    let client = settings.client()?;
    let deleted = settings.block_on(delete_ids(client, &ids))??;
    report_deleted(settings, &ids, Some(deleted), false)?;
    if deleted < ids.len() as u64 {
        tracing::error!(
            "{} of {} symbol sets were not found (already deleted, ids of another project, or refs: delete takes ids, and `symbol-sets get --ref REF` shows a set's id)",
            ids.len() as u64 - deleted,
            ids.len()
        );
        return Ok(Exit::Failed);
    }
    Ok(Exit::Success)
}

/// Deletes the (checked) ids: one `DELETE` for a single id, `bulk_delete` in batches otherwise.
/// Returns how many the server deleted.
async fn delete_ids(client: &Client, ids: &[String]) -> anyhow::Result<u64> {
    if let [id] = ids {
        return match client.delete_symbol_set(parse_uuid(id, "symbol set id")?).await {
            Ok(()) => Ok(1),
            Err(e) if e.status() == Some(404) => Ok(0),
            Err(e) => Err(e.into()),
        };
    }
    let mut deleted = 0;
    for batch in ids.chunks(DELETE_BATCH) {
        let uuids = batch
            .iter()
            .map(|s| parse_uuid(s, "symbol set id"))
            .collect::<anyhow::Result<Vec<_>>>()?;
        deleted += client.bulk_delete_symbol_sets(&uuids[..]).await?.deleted;
    }
    Ok(deleted)
}

fn report_deleted(
    settings: &Settings,
    ids: &[String],
    deleted: Option<u64>,
    dry_run: bool,
) -> anyhow::Result<()> {
    if settings.global.output == OutputFormat::Json {
        print_json(
            &settings.printer,
            &json!({
                "dry_run": dry_run,
                "requested": ids.len(),
                "deleted": deleted,
                "ids": ids,
            }),
        )
    } else if dry_run {
        print(
            &settings.printer,
            &format!(
                "--dry-run: would delete {} symbol set{}\n",
                ids.len(),
                if ids.len() == 1 { "" } else { "s" }
            ),
        )
    } else {
        print(
            &settings.printer,
            &format!(
                "deleted {} of {} symbol set{}\n",
                deleted.unwrap_or(0),
                ids.len(),
                if ids.len() == 1 { "" } else { "s" }
            ),
        )
    }
}

// ---- prune ----

pub fn prune(args: &SymbolSetPruneArgs, settings: &Settings) -> anyhow::Result<Exit> {
    let age = parse_age(&args.unused_for)?;
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !settings.global.dry_run && !args.yes && !interactive {
        return Err(UsageError(
            "prune deletes symbol sets: pass --yes to confirm (standard input is not a terminal to ask on), or --dry-run to only list them"
                .into(),
        )
        .into());
    }
    let now = now_unix();
    let cutoff = now - age;
    let client = settings.client()?;
    let (release, sets) = settings.block_on(async {
        let release = match &args.release {
            Some(spec) => Some(find_release(client, spec).await?),
            None => None,
        };
        let query = SymbolSetQuery {
            order_by: Some(SymbolSetOrder::CreatedAt),
            limit: Some(PAGE_SIZE),
            ..Default::default()
        };
        let sets = list_sets(client, query, release.as_ref()).await?;
        anyhow::Ok((release, sets))
    })??;
    let mut stale = Vec::new();
    for s in sets {
        let stamp = s.last_used.as_deref().or(s.created_at.as_deref());
        match stamp.map(parse_rfc3339) {
            Some(Some(t)) if t < cutoff => stale.push((s, t)),
            Some(Some(_)) => {}
            Some(None) | None => tracing::warn!(
                "symbol set {} ({}) has no readable last_used or created_at; kept",
                s.id,
                s.reference
            ),
        }
    }
    // Longest idle first.
    stale.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.reference.cmp(&b.0.reference)));
    let cutoff_text = format_rfc3339(cutoff);
    let json = settings.global.output == OutputFormat::Json;
    if !json {
        let mut text = format!(
            "{} symbol set{} unused since {cutoff_text}{}:\n",
            stale.len(),
            if stale.len() == 1 { "" } else { "s" },
            release
                .as_ref()
                .map(|r| format!(" in release {}", release_label(r)))
                .unwrap_or_default()
        );
        text.push_str(&table(
            &["ID", "REF", "LAST USED", "CREATED", "IDLE DAYS"],
            stale
                .iter()
                .map(|(s, t)| {
                    vec![
                        s.id.to_string(),
                        s.reference.clone(),
                        short_time(s.last_used.as_deref()),
                        short_time(s.created_at.as_deref()),
                        ((now - t) / 86_400).to_string(),
                    ]
                })
                .collect(),
        ));
        print(&settings.printer, &text)?;
    }
    let ids: Vec<String> = stale.iter().map(|(s, _)| s.id.to_string()).collect();
    let mut deleted = None;
    let mut exit = Exit::Success;
    if !settings.global.dry_run && !ids.is_empty() {
        let question = match ids.len() {
            1 => "Delete this symbol set? [y/N] ".to_owned(),
            n => format!("Delete these {n} symbol sets? [y/N] "),
        };
        let go = args.yes || confirm(&settings.printer, &question)?;
        if go {
            let n = settings.block_on(delete_ids(client, &ids))??;
            if n < ids.len() as u64 {
                tracing::warn!(
                    "{} of {} symbol sets were already gone",
                    ids.len() as u64 - n,
                    ids.len()
                );
            }
            deleted = Some(n);
        } else {
            tracing::info!("nothing deleted");
            exit = Exit::Failed;
        }
    }
    if json {
        print_json(
            &settings.printer,
            &json!({
                "dry_run": settings.global.dry_run,
                "unused_for": args.unused_for,
                "cutoff": cutoff_text,
                "release": release.as_ref().map(release_brief),
                "candidates": stale.iter().map(|(s, _)| set_json(s)).collect::<Vec<_>>(),
                "deleted": deleted.unwrap_or(0),
            }),
        )?;
    } else if settings.global.dry_run {
        print(&settings.printer, "--dry-run: nothing deleted\n")?;
    } else if let Some(n) = deleted {
        print(
            &settings.printer,
            &format!("deleted {n} symbol set{}\n", if n == 1 { "" } else { "s" }),
        )?;
    }
    Ok(exit)
}

/// Asks on the terminal (stderr), reads one line from stdin.
fn confirm(printer: &crate::printer::Printer, question: &str) -> anyhow::Result<bool> {
    printer.eprint(&crate::untrusted::neutralize(question));
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_names_are_safe() {
        assert_eq!(
            safe_base_name("0192f3a1-8c4e-7d2b-9f60-1a2b3c4d5e6f").as_deref(),
            Some("0192f3a1-8c4e-7d2b-9f60-1a2b3c4d5e6f")
        );
        assert_eq!(safe_base_name("assets/app.js.map").as_deref(), Some("app"));
        assert_eq!(safe_base_name("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(safe_base_name("..").as_deref(), None);
        assert_eq!(safe_base_name("a\\..\\b c").as_deref(), Some("b_c"));
        assert_eq!(safe_base_name(".hidden").as_deref(), Some("hidden"));
        assert_eq!(safe_base_name("/").as_deref(), None);
        assert_eq!(safe_base_name("\u{0}\n").as_deref(), None);
        assert_eq!(safe_base_name(&"x".repeat(500)).map(|s| s.len()), Some(120));
    }
}
