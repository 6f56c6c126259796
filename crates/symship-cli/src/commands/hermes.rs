//! `symship hermes clone | upload` (posthog-cli 0.19.0 `sourcemaps/hermes/{clone,upload}.rs`,
//! spec `kinds-and-explain.md` §1.5-1.6): what PostHog's React Native Gradle and Xcode scripts
//! run after a release build composed its Hermes map. `hermes inject` (§1.4) is `sourcemap
//! inject` on Metro bundles: `commands/inject.rs`.

use std::sync::Arc;

use anyhow::anyhow;
use symship_scan::hermes::{self, HermesError, MapContent};
use symship_upload::SymbolSet;

use crate::cli::{HermesCloneArgs, HermesCommand, HermesUploadArgs, ReleaseMode, UploadOnlyArgs};
use crate::commands::upload::{options, upload_kind, Shared};
use crate::exit::Exit;
use crate::personality::Personality;
use crate::report::Summary;
use crate::settings::Settings;

pub fn run(cmd: &HermesCommand, settings: &Settings) -> anyhow::Result<Exit> {
    match cmd {
        HermesCommand::Inject(a) => crate::commands::inject::run_hermes(a, settings),
        HermesCommand::Clone(a) => clone(a, settings),
        HermesCommand::Upload(a) => upload(a, settings),
    }
}

fn load_error(what: &str, e: HermesError) -> anyhow::Error {
    match e {
        HermesError::Read { path, source } => {
            anyhow!("Failed to load {what} map at '{}': {source}", path.display())
        }
        HermesError::NotAMap { path, reason } => {
            anyhow!("Failed to load {what} map at '{}': {reason}", path.display())
        }
        e => e.into(),
    }
}

/// `symship hermes clone -m PACKAGER_MAP -c COMPOSED_MAP`.
pub fn clone(args: &HermesCloneArgs, settings: &Settings) -> anyhow::Result<Exit> {
    let packager = &args.minified_map_path;
    let composed = &args.composed_map_path;
    // Both maps are read before the release is resolved: a wrong path fails without a request.
    let p = MapContent::load(packager).map_err(|e| load_error("minified", e))?;
    MapContent::load(composed).map_err(|e| load_error("composed", e))?;
    // Half a release is refused before anything is written, as by every command that takes the
    // release flags (event mode does not use the release; posthog-cli 0.19.0 takes it there).
    if args.release_mode == ReleaseMode::Event && crate::release::has_release_flags(&args.release) {
        let start = packager.parent().filter(|d| !d.as_os_str().is_empty());
        crate::release::plan_release(&args.release, start)?;
    }
    let Some(id) = p.upload_id().map(str::to_owned) else {
        // The composed map can never be uploaded: no release is created for it (symbol-set
        // mode would have), and the packager map keeps the release it has.
        let not_created = if args.release_mode == ReleaseMode::SymbolSet
            && crate::release::has_release_flags(&args.release)
        {
            "; the release was not created"
        } else {
            ""
        };
        tracing::warn!(
            "{} has no chunk id (no chunk_id, chunkId or debugId): the composed map gets none, and `hermes upload` will skip it{not_created}. \
             Is posthog-react-native's Metro serializer (or Expo's config) set up?",
            packager.display()
        );
        if settings.global.dry_run {
            return Ok(Exit::Success);
        }
        let keep = clone_release(args.release_mode, p.release_id.as_deref());
        hermes::clone(packager, composed, keep).map_err(|e| load_error("composed", e))?;
        return Ok(Exit::Success);
    };
    let release_id = match args.release_mode {
        ReleaseMode::Event => None,
        // Without release flags, a packager map that carries a release (`hermes inject
        // --release-mode symbol-set` stamped it) keeps it, and the composed map gets it: the
        // release was resolved when the bundle was injected (posthog-cli 0.19.0 resolves again
        // and, finding none, removes it from both maps, so the set is bound to no release).
        ReleaseMode::SymbolSet => match &p.release_id {
            Some(own) if !crate::release::has_release_flags(&args.release) => Some(own.clone()),
            own => {
                let start = packager.parent().filter(|d| !d.as_os_str().is_empty());
                crate::release::resolve_release_from(&args.release, settings, start)?
                    .map(|r| r.id.to_string())
                    .or_else(|| own.clone())
            }
        },
    };
    if settings.global.dry_run {
        // a dry run sends no request, so the flags' release has no id yet (a fresh tester: it
        // said "release none" where the run stamps one)
        let release = match (&release_id, args.release_mode) {
            (Some(r), _) => r.clone(),
            (None, ReleaseMode::SymbolSet) if crate::release::has_release_flags(&args.release) => {
                "the flags name, found or created by a run without --dry-run".into()
            }
            _ => "none".into(),
        };
        tracing::info!(
            "--dry-run: would copy chunk id {id} into {} (release {release})",
            composed.display(),
        );
        return Ok(Exit::Success);
    }
    let done = hermes::clone(
        packager,
        composed,
        clone_release(args.release_mode, release_id.as_deref()),
    )?;
    if done.packager_rewritten {
        tracing::info!(
            "set release {} in {}",
            release_id.as_deref().unwrap_or("none"),
            packager.display()
        );
    }
    tracing::info!(
        "Successfully cloned metadata to {} (chunk id {id})",
        composed.display()
    );
    // `--output json`: what was written, as a failed clone's document says why (helper-56 D7)
    if settings.global.output == crate::cli::OutputFormat::Json {
        crate::manage::print_json(
            &settings.printer,
            &serde_json::json!({
                "schema_version": crate::report::SCHEMA_VERSION,
                "command": "hermes clone",
                "exit_code": Exit::Success as u8,
                "composed_map": composed.display().to_string(),
                "packager_map": packager.display().to_string(),
                "chunk_id": done.chunk_id,
                "release_id": done.release_id,
                "packager_rewritten": done.packager_rewritten,
            }),
        )?;
    }
    Ok(Exit::Success)
}

/// What `hermes clone` writes in `mode`: in symbol-set mode `release` (in both maps), in event
/// mode no release (the packager map is left as it is).
fn clone_release(mode: ReleaseMode, release: Option<&str>) -> hermes::CloneRelease<'_> {
    match mode {
        ReleaseMode::Event => hermes::CloneRelease::Event,
        ReleaseMode::SymbolSet => hermes::CloneRelease::Set(release),
    }
}

/// `symship hermes upload --directory DIR`.
pub fn upload(args: &HermesUploadArgs, settings: &Settings) -> anyhow::Result<Exit> {
    let client = if settings.global.dry_run {
        None
    } else {
        Some(settings.client()?)
    };
    let identity = &args.release.identity;
    if args.release_mode == ReleaseMode::Event
        && (identity.release_name.is_none() || identity.release_version.is_none() || identity.build.is_none())
        && identity.info_plist.is_none()
    {
        tracing::warn!(
            "--release-mode=event resolves each exception's release from the app's namespace and version. \
             Pass --release-name, --release-version and --build matching the app's bundle identifier or \
             applicationId, its version and its build number, or exceptions will report no release."
        );
    }
    let dir = args.directory.canonicalize().map_err(|e| {
        crate::exit::UsageError(format!(
            "Directory '{}' not found or inaccessible: {e}",
            args.directory.display()
        ))
    })?;
    tracing::info!("Processing directory: {}", dir.display());
    // Half a release is refused before anything is read or sent (exit 2), also when no map can
    // be sent (a fresh tester: exit 3, nothing found, where a map with a chunk id gave 2).
    if crate::release::has_release_flags(&args.release) {
        crate::release::plan_release(&args.release, Some(&dir))?;
    }
    let candidates = hermes::candidates(&dir)?;
    // The release is resolved (created) in both modes, as posthog-cli does, but only once a map
    // can be sent (posthog-cli creates it before reading the maps, also when none can); event
    // mode does not send it (the app reports its release with each event). In symbol-set mode a
    // map the server holds bound to another release keeps it (prepared under it, so that its
    // content is what was stored), and when every map is, the release is not made
    // (`crate::release::bind`, as `dsym upload` does).
    let sendable: Vec<String> = candidates
        .iter()
        .filter_map(hermes::HermesMap::sendable_ref)
        .collect();
    let mut binding = crate::release::Binding::default();
    if sendable.is_empty() {
        if crate::release::has_release_flags(&args.release) {
            tracing::warn!(
                "the release was not created: no map under {} can be uploaded",
                dir.display()
            );
        }
    } else if args.release_mode == ReleaseMode::SymbolSet {
        binding = crate::release::bind_every(
            settings,
            client,
            &args.release,
            &dir,
            serde_json::Map::new(),
            &sendable,
        )?;
    } else {
        crate::release::resolve_release_from(&args.release, settings, Some(&dir))?;
    }
    let up = UploadOnlyArgs::for_kind(args.batch_size, &args.conflict);
    let mut opts = options(
        args.release_mode,
        &up,
        args.release.skip_release_on_fail,
        binding.release_id.as_deref(),
    )?;
    opts.unbound = binding.unbound();
    let sets: Vec<Arc<dyn SymbolSet>> = candidates
        .into_iter()
        .map(|m| Arc::new(m) as Arc<dyn SymbolSet>)
        .collect();
    let shared = Shared {
        settings,
        up: &up,
        allow_empty: true,
    };
    let mut summary = Summary {
        already_bound: binding.already_bound(),
        ..Summary::default()
    };
    let exit = upload_kind(&shared, client, "hermes upload", sets, &opts, &mut summary)?;
    if let Some(up) = summary.upload.as_mut() {
        up.warnings.extend(binding.lookup_failed.clone());
    }
    // No map with a chunk id: nothing to process, exit 3 as the README's table says (and as the
    // other upload commands do under symship's name); under the name posthog-cli, exit 1, as
    // posthog-cli 0.19.0 fails the run. The summary's verdict says why (its run error), once.
    if summary.chunks.is_empty() {
        let exit = match settings.personality {
            Personality::Symship => Exit::Empty,
            Personality::PosthogCli => Exit::Failed,
        };
        summary
            .upload
            .get_or_insert_with(Default::default)
            .errors
            .push(format!(
            "No hermes sourcemaps with a chunk id found under {} — nothing was uploaded. Check that bundling \
             produced .map files and that they carry a chunk id or debugId (`symship hermes clone` copies it \
             from Metro's packager map).",
            dir.display()
        ));
        return crate::commands::upload::finish(&mut summary, exit, settings);
    }
    crate::commands::upload::finish(&mut summary, exit, settings)
}
