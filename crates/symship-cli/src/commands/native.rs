//! Native debug files (`kinds-and-explain.md` §3): `symship dsym upload -d DIR` (posthog-cli
//! 0.19.0 `dsym/upload.rs`) and `symship symbol-sets upload -d DIR` (`debug_symbols/upload.rs`),
//! with the ids read natively by `symship-native` (no `dwarfdump`, no `lipo`: any OS), through the
//! one upload pipeline (`commands::upload::upload_sets`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::anyhow;
use symship_api::Client;
use symship_native::source::SourceOptions;
use symship_native::{Bundle, NativeSet, Reason, Skipped, Slice};
use symship_upload::SymbolSet;

use crate::cli::{
    ConflictArgs, DsymCommand, DsymUploadArgs, ReleaseArgs, ReleaseMode, SymbolSetsUploadArgs, UploadOnlyArgs,
};
use crate::commands::upload::{finish, options, upload_kind, Shared};
use crate::exit::{Exit, Run, RunEnd, UsageError};
use crate::personality::Personality;
use crate::release::Binding;
use crate::report::{SkippedFile, Summary};
use crate::settings::Settings;

pub fn run(cmd: &DsymCommand, settings: &Settings) -> anyhow::Result<Exit> {
    match cmd {
        DsymCommand::Upload(a) => dsym_upload(a, settings),
    }
}

/// posthog-cli's `-d` check: the directory, canonical.
fn directory(dir: &Path) -> anyhow::Result<PathBuf> {
    let d = dir
        .canonicalize()
        .map_err(|e| UsageError(format!("Path {} canonicalization failed: {e}", dir.display())))?;
    if !d.is_dir() {
        return Err(UsageError(format!("Path {} is not a directory", d.display())).into());
    }
    Ok(d)
}

/// Reports what is not uploaded: one entry per file and reason (the fat slices of one file that
/// fail alike are one entry), its `file` the path itself and the slices named in its reason.
fn skips<'a>(summary: &mut Summary, skipped: impl IntoIterator<Item = &'a Skipped>) {
    let mut groups: Vec<(&Path, &Reason, Vec<&str>)> = Vec::new();
    for s in skipped {
        let arch = s.arch.as_deref();
        match groups
            .iter_mut()
            .find(|(p, r, archs)| *p == s.path && *r == &s.reason && !archs.is_empty() && arch.is_some())
        {
            Some((_, _, archs)) => archs.extend(arch),
            None => groups.push((&s.path, &s.reason, arch.into_iter().collect())),
        }
    }
    for (path, reason, archs) in groups {
        let slices = match archs.as_slice() {
            [] => String::new(),
            [one] => format!(" ({one} slice)"),
            [first, rest @ ..] if rest.iter().all(|a| a == first) => {
                format!(" ({} slices, each {first})", archs.len())
            }
            many => format!(" ({} slices)", many.join(", ")),
        };
        let text = format!("{}{slices} {reason}", path.display());
        tracing::warn!("{text} (skipped)");
        summary.skipped.push(SkippedFile {
            file: path.display().to_string(),
            code: reason.code().to_string(),
            reason: text,
        });
    }
}

/// Why a covered file is not uploaded itself, in a few words.
fn covered_what(reason: &Reason) -> &'static str {
    match reason {
        Reason::NoDebugInfo => "has no debug info",
        Reason::ZstdDwarf => "carries DWARF compressed with zstd, which PostHog cannot read",
        Reason::CompressedDwarf => "carries compressed DWARF, which PostHog cannot read",
        _ => "is not uploaded",
    }
}

fn bundle_slices(b: &Bundle, summary: &mut Summary) -> Vec<Slice> {
    skips(summary, &b.skipped);
    tracing::info!(
        "dSYM {}: {}",
        b.path.display(),
        if b.slices.is_empty() {
            "nothing to upload".to_string()
        } else {
            b.slices
                .iter()
                .map(|s| format!("{} ({})", s.debug_id, s.arch))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    b.slices.clone()
}

/// What the two commands send: the slices, with or without their sources, under a release, with
/// the conflict flags.
struct Batch<'a> {
    command: &'static str,
    batch_size: usize,
    slices: Vec<Slice>,
    sources: Option<SourceOptions>,
    binding: Binding,
    release: &'a ReleaseArgs,
    conflict: &'a ConflictArgs,
}

/// Which release the slices are sent with ([`crate::release::bind_every`]): the release of the
/// flags, else the Info.plist, CI or git, with `metadata`; every slice is looked up.
fn bind(
    settings: &Settings,
    client: Option<&Client>,
    release: &ReleaseArgs,
    git_start: &Path,
    metadata: serde_json::Map<String, serde_json::Value>,
    slices: &[Slice],
) -> anyhow::Result<Binding> {
    let refs: Vec<String> = slices.iter().map(|s| s.debug_id.clone()).collect();
    crate::release::bind_every(settings, client, release, git_start, metadata, &refs)
}

/// Uploads the slices in symbol-set mode (the release is sent with each set), in batches of
/// `--batch-size` (posthog-cli's 10),
/// with posthog-cli's conflict rule (`--include-source` implies `--force` unless
/// `--skip-on-conflict`), through the upload tail every kind shares; prints the summary.
fn send(
    settings: &Settings,
    client: Option<&Client>,
    b: Batch<'_>,
    mut summary: Summary,
) -> anyhow::Result<Exit> {
    let mut up = UploadOnlyArgs::for_kind(Some(b.batch_size), b.conflict);
    up.force |= b.sources.is_some() && !b.conflict.skip_on_conflict;
    let mut opts = options(
        ReleaseMode::SymbolSet,
        &up,
        b.release.skip_release_on_fail,
        b.binding.release_id.as_deref(),
    )?;
    opts.unbound = b.binding.unbound();
    let native: Vec<Arc<NativeSet>> = b
        .slices
        .into_iter()
        .map(|s| {
            let set = NativeSet::new(s);
            Arc::new(match &b.sources {
                Some(o) => set.with_sources(o.clone()),
                None => set,
            })
        })
        .collect();
    summary.already_bound = b.binding.already_bound();
    let sets: Vec<Arc<dyn SymbolSet>> = native.iter().map(|s| s.clone() as Arc<dyn SymbolSet>).collect();
    let files: std::collections::BTreeSet<&Path> = native.iter().map(|s| s.slice().path.as_path()).collect();
    summary.debug_files_found = Some(files.len());
    let shared = Shared {
        settings,
        up: &up,
        allow_empty: false,
    };
    let exit = upload_kind(&shared, client, b.command, sets, &opts, &mut summary)?;
    if let Some(up) = summary.upload.as_mut() {
        up.warnings.extend(b.binding.lookup_failed.clone());
    }
    for s in &native {
        for w in s.source_warnings() {
            tracing::warn!("{w}");
        }
    }
    finish(&mut summary, exit, settings)
}

/// Nothing to upload: the summary with what was skipped; exit 3 (symship) or, under the name
/// posthog-cli, what posthog-cli 0.19.0 does (`posthog_cli_error`: its error and exit 1; `None`:
/// its info line and exit 0).
fn nothing(
    settings: &Settings,
    command: &str,
    message: String,
    posthog_cli_error: bool,
    mut summary: Summary,
) -> anyhow::Result<Exit> {
    if settings.personality == Personality::PosthogCli {
        if posthog_cli_error {
            return Err(anyhow!(message));
        }
        tracing::info!("{message}");
        return Ok(Exit::Success);
    }
    tracing::warn!("{message}");
    summary.schema_version = crate::report::SCHEMA_VERSION;
    summary.command = command.into();
    summary.dry_run = settings.global.dry_run;
    summary.nothing_found = true;
    summary.debug_files_found = Some(0);
    summary.symbol_sets_found = Some(0);
    let exit = crate::exit::decide(Run::Upload, &RunEnd::default(), settings.personality);
    finish(&mut summary, exit, settings)
}

/// `symship dsym upload -d DIR`: every `.dSYM` bundle under DIR, one symbol set per architecture
/// slice of each DWARF file (ref: its `LC_UUID`, upper-case), bound to the release of the flags,
/// else of `--info-plist`, else of the main dSYM's `Info.plist` (`--main-dsym NAME`, else the
/// first `*.app.dSYM`, else the first bundle), with the main dSYM's `Info.plist` fields as its
/// `dsym_info` metadata; the release is made only once a slice is to be sent.
pub fn dsym_upload(args: &DsymUploadArgs, settings: &Settings) -> anyhow::Result<Exit> {
    if args.no_release_bind {
        tracing::warn!(
            "--no-release-bind is deprecated and does nothing: dSYMs are uploaded bound to the release this build \
             creates. Remove the flag."
        );
    }
    // credentials first: a configuration problem ends the run before any work
    let client = if settings.global.dry_run {
        None
    } else {
        Some(settings.client()?)
    };
    let dir = directory(&args.directory)?;
    // a bad --info-plist is a usage error before any work, as in posthog-cli (no request is made)
    crate::release::names_release(&args.release)?;
    let found = symship_native::discover::find_dsyms(&dir)?;
    if settings.personality == Personality::PosthogCli {
        // posthog-cli 0.19.0 stops at the first entry its walk cannot follow, before any
        // upload: "IO error for operation on <path>: ...", exit 1
        if let Some(first) = found.walk_errors.first() {
            return Err(anyhow!(
                "{first} (posthog-cli 0.19.0 stops here too; fix or remove it, or run symship under its own name, \
                 which skips it and uploads the rest)"
            ));
        }
    }
    let bundles = found.bundles;
    // zipped dSYMs (fastlane's gym writes App.app.dSYM.zip beside the IPA), directories that
    // cannot be listed and dangling *.dSYM links are named with what to do, bundles or not
    // (posthog-cli passes them over without a word: stack traces that never resolve)
    let mut summary = Summary::default();
    skips(&mut summary, &found.skipped);
    if bundles.is_empty() {
        let zips = found
            .skipped
            .iter()
            .filter(|s| s.reason == Reason::ZippedDsym)
            .count();
        let files = found
            .skipped
            .iter()
            .filter(|s| matches!(s.reason, Reason::NotABundle(_)))
            .count();
        let mut only = Vec::new();
        if zips > 0 {
            only.push(format!(
                "{zips} zipped dSYM(s), which are not read: unzip them and upload the unzipped folder"
            ));
        }
        if files > 0 {
            only.push(format!(
                "{files} file(s) named .dSYM, which are not bundle folders (each is listed above with what it is)"
            ));
        }
        let message = if only.is_empty() {
            format!("No dSYM bundles found in {}", dir.display())
        } else {
            format!(
                "No dSYM bundles found in {}, only {}",
                dir.display(),
                only.join("; and ")
            )
        };
        return nothing(settings, "dsym upload", message, false, summary);
    }
    let main = match &args.main_dsym {
        Some(name) => bundles.iter().find(|b| &b.name() == name).or_else(|| {
            tracing::warn!(
                "--main-dsym {name}: no such bundle under {}; using the first",
                dir.display()
            );
            None
        }),
        None => bundles.iter().find(|b| b.name().ends_with(".app.dSYM")),
    }
    .or(bundles.first());
    let mut slices = Vec::new();
    for b in &bundles {
        slices.extend(bundle_slices(b, &mut summary));
    }
    // two bundles with one LC_UUID (a copy of a dSYM): the first by path is sent, the other is a
    // duplicate_debug_id skip naming it, as in symbol-sets upload (was the pipeline's `duplicate`)
    let (slices, dupes) = symship_native::discover::dedupe_keep_first(slices);
    skips(&mut summary, &dupes);
    if slices.is_empty() {
        return nothing(
            settings,
            "dsym upload",
            "No dSYMs to upload".into(),
            false,
            summary,
        );
    }
    // The release is made once a slice is to be sent (posthog-cli makes it before reading the
    // bundles, also when none can be sent).
    let mut release = args.release.clone();
    // posthog-cli stores the main dSYM's Info.plist fields with the release it creates
    // (`dsym_info`), whichever flags named it
    let mut metadata = serde_json::Map::new();
    if let Some(b) = main {
        let plist = b.path.join("Contents/Info.plist");
        if release.identity.info_plist.is_none() && plist.is_file() {
            // (no --info-plist here: has_release_flags asks of name, version and build)
            if crate::release::has_release_flags(&release) {
                tracing::info!(
                    "release from {} where the flags name none (the flags win)",
                    plist.display()
                );
            } else {
                tracing::info!("release from {}", plist.display());
            }
            release.identity.info_plist = Some(plist.clone());
        }
        match symship_release::plist::read_dsym_info(&plist) {
            Ok(info) => {
                metadata.insert(
                    "dsym_info".into(),
                    serde_json::to_value(info).expect("DsymInfo serializes"),
                );
            }
            Err(e) => tracing::debug!("no dsym_info from {}: {e}", plist.display()),
        }
    }
    let binding = bind(settings, client, &release, &dir, metadata, &slices)?;
    let batch = Batch {
        command: "dsym upload",
        batch_size: args.batch_size,
        slices,
        sources: args.include_source.then(SourceOptions::default),
        binding,
        release: &args.release,
        conflict: &args.conflict,
    };
    send(settings, client, batch, summary)
}

/// `symship symbol-sets upload -d DIR`: ELF and Mach-O files with debug info and `.dSYM` bundles
/// under DIR; a dSYM's slice wins over a loose Mach-O with the same `LC_UUID`, and of two loose
/// files with one debug id the one with more DWARF; files that cannot be uploaded are reported
/// with their reason. The release is made only once something is to be sent.
pub fn symbol_sets_upload(args: &SymbolSetsUploadArgs, settings: &Settings) -> anyhow::Result<Exit> {
    let root = match &args.source_root {
        Some(root) => {
            let r = root.canonicalize().map_err(|e| {
                UsageError(format!(
                    "Source root {} canonicalization failed: {e}",
                    root.display()
                ))
            })?;
            if !r.is_dir() {
                return Err(UsageError(format!("Source root {} is not a directory", r.display())).into());
            }
            Some(r)
        }
        None => None,
    };
    let client = if settings.global.dry_run {
        None
    } else {
        Some(settings.client()?)
    };
    let dir = directory(&args.directory)?;
    let found = symship_native::discover(&dir)?;
    for c in &found.covered {
        tracing::info!(
            "{}{} {}; its debug id {} is uploaded from {}",
            c.path.display(),
            c.arch
                .as_deref()
                .map(|a| format!(" ({a} slice)"))
                .unwrap_or_default(),
            covered_what(&c.reason),
            c.debug_id,
            c.kept.display()
        );
    }
    let mut summary = Summary::default();
    skips(&mut summary, &found.skipped);
    let mut slices: Vec<Slice> = Vec::new();
    for b in &found.bundles {
        slices.extend(bundle_slices(b, &mut summary));
    }
    // dSYM slices first: a loose Mach-O with the same LC_UUID is its duplicate (posthog-cli's
    // merge_uploads_prefer_dsym)
    slices.extend(found.slices);
    let (slices, dupes) = symship_native::discover::dedupe_keep_first(slices);
    skips(&mut summary, &dupes);
    if slices.is_empty() {
        return nothing(
            settings,
            "symbol-sets upload",
            format!(
                "No ELF or Mach-O files with debug info or dSYM bundles found in {}",
                dir.display()
            ),
            true,
            summary,
        );
    }
    let binding = bind(
        settings,
        client,
        &args.release,
        &dir,
        serde_json::Map::new(),
        &slices,
    )?;
    let batch = Batch {
        command: "symbol-sets upload",
        batch_size: args.batch_size,
        slices,
        sources: args.include_source.then_some(SourceOptions {
            root,
            drop_dependencies: true,
        }),
        binding,
        release: &args.release,
        conflict: &args.conflict,
    };
    send(settings, client, batch, summary)
}
