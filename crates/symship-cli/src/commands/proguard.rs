//! `symship proguard upload` (posthog-cli 0.19.0 `proguard/upload.rs`, spec `kinds-and-explain.md`
//! §2.3): one ProGuard or R8 mapping, checked with the proguard parser, sent as a ProguardMapping
//! symbol set under `--map-id`, bound to the release the flags (or git) name.

use std::sync::Arc;

use symship_upload::SymbolSet;

use crate::cli::{ProguardCommand, ProguardUploadArgs, ReleaseMode, UploadOnlyArgs};
use crate::commands::upload::{options, upload_kind, Shared};
use crate::exit::Exit;
use crate::report::Summary;
use crate::settings::Settings;

pub fn run(cmd: &ProguardCommand, settings: &Settings) -> anyhow::Result<Exit> {
    match cmd {
        ProguardCommand::Upload(a) => upload(a, settings),
    }
}

/// `symship proguard upload --path FILE --map-id ID`.
pub fn upload(args: &ProguardUploadArgs, settings: &Settings) -> anyhow::Result<Exit> {
    if args.release_mode.is_some() {
        tracing::warn!(
            "--release-mode is deprecated and does nothing for ProGuard mappings: the mapping is uploaded \
             bound to the release this build resolves. Remove the flag."
        );
    }
    let client = if settings.global.dry_run {
        None
    } else {
        Some(settings.client()?)
    };
    let path = args.path.canonicalize().map_err(|e| {
        crate::exit::UsageError(format!(
            "Path {} canonicalization failed: {e}",
            args.path.display()
        ))
    })?;
    // with its registry code (invalid_mapping, not_utf8, ...) for the stopped run's JSON
    let checked = symship_proguard::check(&path).map_err(symship_core::code::Coded::from)?;
    tracing::info!(
        "{}: {} mapping of {} bytes{}",
        path.display(),
        if checked.r8 { "an R8" } else { "a ProGuard" },
        checked.len,
        if checked.line_info {
            ""
        } else {
            " without line numbers (stack traces will map names only)"
        }
    );
    // The release the build resolves (flags, else git from the mapping's directory); its id is
    // stamped on the upload whatever the release mode, as posthog-cli does.
    // A mapping the server holds bound to another release keeps it, and then the release is
    // not made (`crate::release::bind`, as `dsym upload` does; posthog-cli makes it first).
    let git_start = path.parent().unwrap_or(&path);
    let binding = crate::release::bind_every(
        settings,
        client,
        &args.release,
        git_start,
        serde_json::Map::new(),
        std::slice::from_ref(&args.map_id),
    )?;
    let up = UploadOnlyArgs::for_kind(args.batch_size, &args.conflict);
    // Symbol-set mode in the pipeline: the conflict flags as given, the release sent.
    let mut opts = options(
        ReleaseMode::SymbolSet,
        &up,
        args.release.skip_release_on_fail,
        binding.release_id.as_deref(),
    )?;
    opts.unbound = binding.unbound();
    let sets: Vec<Arc<dyn SymbolSet>> = vec![Arc::new(symship_proguard::Mapping {
        path,
        map_id: args.map_id.clone(),
    })];
    let shared = Shared {
        settings,
        up: &up,
        allow_empty: false,
    };
    let mut summary = Summary {
        already_bound: binding.already_bound(),
        ..Summary::default()
    };
    let exit = upload_kind(&shared, client, "proguard upload", sets, &opts, &mut summary)?;
    if let Some(up) = summary.upload.as_mut() {
        up.warnings.extend(binding.lookup_failed.clone());
    }
    crate::commands::upload::finish(&mut summary, exit, settings)
}
