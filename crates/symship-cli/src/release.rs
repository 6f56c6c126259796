//! Which release a command injects or uploads with, and the release inputs from the flags.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use symship_api::ProcessEnv;
use symship_release::ReleaseInputs;

use crate::cli::{ReleaseArgs, ReleaseIdentityArgs, ReleaseMode};
use crate::exit::UsageError;
use crate::report::AlreadyBound;
use crate::settings::Settings;

/// Whether any flag names a release (or where to read one).
pub fn has_release_flags(r: &ReleaseArgs) -> bool {
    let r = &r.identity;
    r.release_name.is_some() || r.release_version.is_some() || r.build.is_some() || r.info_plist.is_some()
}

/// Release inputs from the release flags, with the current directory as the git start.
pub fn release_inputs(
    name: Option<&str>,
    version: Option<&str>,
    build: Option<&str>,
    info_plist: Option<&Path>,
) -> anyhow::Result<ReleaseInputs> {
    let cwd =
        std::env::current_dir().map_err(|e| anyhow::anyhow!("cannot read the current directory: {e}"))?;
    Ok(ReleaseInputs {
        name: name.map(str::to_owned),
        version: version.map(str::to_owned),
        build: build.map(str::to_owned),
        info_plist: info_plist.map(Path::to_owned),
        cwd,
    })
}

/// [`release_inputs`] from the release flags (`--release-name`, `--release-version`, `--build`,
/// `--info-plist`).
pub fn release_inputs_from_args(args: &ReleaseIdentityArgs) -> anyhow::Result<ReleaseInputs> {
    release_inputs(
        args.release_name.as_deref(),
        args.release_version.as_deref(),
        args.build.as_deref(),
        args.info_plist.as_deref(),
    )
}

/// Map a release error to the exit code it deserves: a bad Info.plist is a usage error (2),
/// a server failure is a failure (1).
pub fn release_error(e: symship_release::ReleaseError) -> anyhow::Error {
    match e {
        symship_release::ReleaseError::InfoPlist { .. }
        | symship_release::ReleaseError::Incomplete { .. } => UsageError(e.to_string()).into(),
        other => anyhow::Error::new(other),
    }
}

/// Resolve the release for inject/upload: `Ok(None)` when no flags, no Info.plist and no git
/// name one (the reason is logged at info). In `--dry-run`, no request is made and `Ok(None)`
/// is returned after logging what would be resolved.
pub fn resolve_release(
    args: &ReleaseArgs,
    settings: &Settings,
) -> anyhow::Result<Option<symship_api::Release>> {
    resolve_release_from(args, settings, None)
}

/// [`resolve_release`] with git discovery starting at `git_start` instead of the current
/// directory (posthog-cli starts at the mapping's directory for `proguard upload`, at the
/// packager map for `hermes clone` and at `--directory` for `hermes upload`).
pub fn resolve_release_from(
    args: &ReleaseArgs,
    settings: &Settings,
    git_start: Option<&std::path::Path>,
) -> anyhow::Result<Option<symship_api::Release>> {
    resolve_release_with(args, settings, git_start, serde_json::Map::new())
}

/// [`resolve_release_from`] with `metadata` stored beside `git` when the release is created
/// (`dsym upload`: `dsym_info`); a release found by its hash id is used as it is.
pub fn resolve_release_with(
    args: &ReleaseArgs,
    settings: &Settings,
    git_start: Option<&std::path::Path>,
    metadata: serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<Option<symship_api::Release>> {
    match plan_release(args, git_start)? {
        Some(mut plan) => {
            plan.metadata = metadata;
            resolve_planned(&plan, settings)
        }
        None => Ok(None),
    }
}

/// The release the flags (or an Info.plist, CI or git, discovered from `git_start` or the current
/// directory) name, planned without a request; `Ok(None)` when nothing names one (the reason is
/// logged at info).
pub fn plan_release(
    args: &ReleaseArgs,
    git_start: Option<&std::path::Path>,
) -> anyhow::Result<Option<symship_release::ReleasePlan>> {
    let mut inputs = release_inputs_from_args(&args.identity)?;
    if let Some(start) = git_start {
        inputs.cwd = start.to_path_buf();
    }
    match symship_release::plan(&inputs, &ProcessEnv).map_err(release_error)? {
        symship_release::Planned::Ready(p) => Ok(Some(p)),
        symship_release::Planned::Unavailable { reason } => {
            tracing::info!("{reason}");
            Ok(None)
        }
    }
}

/// Fetches or creates the planned release; in `--dry-run`, logs it and returns `Ok(None)`
/// without a request.
pub fn resolve_planned(
    plan: &symship_release::ReleasePlan,
    settings: &Settings,
) -> anyhow::Result<Option<symship_api::Release>> {
    if settings.global.dry_run {
        tracing::info!(
            "--dry-run: would resolve release {} of {} (hash_id {})",
            plan.version,
            plan.name,
            plan.hash_id
        );
        return Ok(None);
    }
    let client = settings.client()?;
    let (release, _) = settings
        .block_on(symship_release::fetch_or_create(client, plan))?
        .map_err(release_error)?;
    Ok(Some(release))
}

/// Whether the flags (or CI, or git) name a release (no request is made).
pub fn names_release(args: &ReleaseArgs) -> anyhow::Result<bool> {
    let inputs = release_inputs_from_args(&args.identity)?;
    Ok(matches!(
        symship_release::plan(&inputs, &ProcessEnv).map_err(release_error)?,
        symship_release::Planned::Ready(_)
    ))
}

/// The release the flags (or CI, or git) name, if the server already holds it: looked up by its
/// hash id, never created. `Ok(None)` when nothing names a release, in `--dry-run`, or when the
/// server does not hold it.
pub fn existing_release(
    args: &ReleaseArgs,
    settings: &Settings,
) -> anyhow::Result<Option<symship_api::Release>> {
    let inputs = release_inputs_from_args(&args.identity)?;
    let plan = match symship_release::plan(&inputs, &ProcessEnv).map_err(release_error)? {
        symship_release::Planned::Ready(p) => p,
        symship_release::Planned::Unavailable { .. } => return Ok(None),
    };
    if settings.global.dry_run {
        return Ok(None);
    }
    let client = settings.client()?;
    let found = settings.block_on(client.get_release_by_hash(&plan.hash_id))?;
    found.map_err(|e| {
        anyhow::Error::new(symship_release::ReleaseError::Api {
            name: plan.name.clone(),
            version: plan.version.clone(),
            source: Box::new(e),
        })
    })
}

/// The release id to embed (event mode) or stamp into the maps (symbol-set mode).
///
/// With release flags, the release is resolved on the server and credentials are required, as in
/// posthog-cli. Without flags, a release named by CI or git is resolved when credentials are
/// configured; without credentials, inject works offline and stamps chunk ids only (posthog-cli
/// refuses to inject at all without credentials).
pub fn for_inject(
    release: &ReleaseArgs,
    mode: ReleaseMode,
    settings: &Settings,
) -> anyhow::Result<Option<String>> {
    // Anything else than missing credentials (a malformed key, a bad host) is reported by the
    // resolution below.
    if !has_release_flags(release) && !settings.has_credentials() {
        tracing::info!("no PostHog credentials configured: injecting chunk ids without a release");
        return Ok(None);
    }
    let resolved = resolve_release(release, settings)?;
    match &resolved {
        Some(r) => tracing::info!("release {}@{} ({})", r.project, r.version, r.id),
        None if mode == ReleaseMode::Event && !settings.global.dry_run => {
            tracing::warn!(
                "no release could be resolved: injecting chunk ids only, events will carry no release"
            )
        }
        None => {}
    }
    Ok(resolved.map(|r| r.id.to_string()))
}

/// The release an upload's symbol sets are sent with (made or found by this run; none when
/// nothing names one, or when every set is already bound elsewhere), and the sets the server
/// already holds bound to another release (ref -> that release), which keep it.
#[derive(Debug, Default)]
pub struct Binding {
    pub release_id: Option<String>,
    pub elsewhere: BTreeMap<String, symship_api::Release>,
    /// Why the sets could not be looked up, when they could not (a key without
    /// `error_tracking:read`, a failing server): the summary's warnings say it.
    pub lookup_failed: Option<String>,
}

impl Binding {
    /// The refs sent without the run's release, each with the release the server binds it to
    /// (`UploadOptions::unbound`).
    pub fn unbound(&self) -> HashMap<String, symship_upload::Uuid> {
        self.elsewhere
            .iter()
            .map(|(r, release)| (r.clone(), release.id))
            .collect()
    }

    /// The summary's `already_bound` list (its `release` row names them).
    pub fn already_bound(&self) -> Vec<AlreadyBound> {
        self.elsewhere
            .iter()
            .map(|(reference, r)| AlreadyBound {
                reference: reference.clone(),
                release_id: r.id.to_string(),
                release: format!("{} {}", r.project, r.version),
            })
            .collect()
    }
}

/// Lookups of stored symbol sets in flight at once.
const LOOKUPS_AT_ONCE: usize = 8;

/// Which release an upload's symbol sets are sent with. A stored symbol set never moves between
/// releases (`posthog-protocol.md` §3, `_binds_release`): a set among `lookup` that the server
/// already holds bound to another release than `plan` (an earlier upload under other flags,
/// another build's Info.plist) keeps it and is sent without the run's release, and the planned
/// release is fetched or created only when some set is to be bound to it, never when every set
/// of `every` is already bound elsewhere (posthog-cli 0.19.0 creates it first, and its summary
/// names it although no set carries it). Each ref of `lookup` comes with the release its map
/// carries, when it carries one: the refs that carry one release are found by listing that
/// release's symbol sets ([`listed_under`]) when they are [`LIST_FROM`] or more, the others
/// (and those the listing does not show) by one `GET symbol_sets/?ref=` each
/// ([`LOOKUPS_AT_ONCE`] at a time); a lookup that fails (a key without
/// `error_tracking:read`) leaves the release as planned, and with `--skip-release-on-fail=false`
/// nothing is looked up: such a set fails with `release_id_mismatch`, as asked. Used by
/// `dsym upload` and `symbol-sets upload` (every slice looked up) and by `sourcemap upload
/// --release-mode symbol-set` (the chunks whose maps carry another release).
pub fn bind(
    settings: &Settings,
    client: Option<&symship_api::Client>,
    plan: &symship_release::ReleasePlan,
    skip_release_on_fail: bool,
    lookup: Vec<(String, Option<symship_upload::Uuid>)>,
    every: &[String],
) -> anyhow::Result<Binding> {
    let mut lookup_failed = None;
    let elsewhere = match client {
        Some(c) if skip_release_on_fail && !lookup.is_empty() => {
            let n = lookup.len();
            match settings.block_on(stored_releases(c, lookup))? {
                Ok(found) => found
                    .into_iter()
                    .filter(|(_, r)| r.hash_id != plan.hash_id)
                    .collect(),
                // a refused key: the release cannot be made either, nor the sets sent (as
                // `sourcemap upload` stops its API calls at the first 401)
                Err(e) if e.status() == Some(401) => {
                    return Err(anyhow::Error::new(e).context(format!(
                        "could not look up which release the server binds {n} symbol set(s) to"
                    )));
                }
                Err(e) => {
                    let w = format!(
                        "could not look up which release the server binds {n} symbol set(s) to ({e}): \
                         they are sent with release {} of {}, and one the server holds under another \
                         release keeps it (sent again without a release; which release it is cannot be said)",
                        plan.version, plan.name
                    );
                    tracing::warn!("{w}");
                    lookup_failed = Some(w);
                    BTreeMap::new()
                }
            }
        }
        _ => BTreeMap::new(),
    };
    if !every.is_empty() && every.iter().all(|r| elsewhere.contains_key(r)) {
        tracing::info!(
            "release {} of {} not used, nor made by this run: every symbol set is already bound to another \
             release, and a stored symbol set keeps its release",
            plan.version,
            plan.name
        );
        return Ok(Binding {
            release_id: None,
            elsewhere,
            lookup_failed,
        });
    }
    let release_id = resolve_planned(plan, settings)?.map(|r| r.id.to_string());
    Ok(Binding {
        release_id,
        elsewhere,
        lookup_failed,
    })
}

/// [`bind`] for the commands that send a few sets each named by its ref alone (`dsym upload`,
/// `symbol-sets upload`, `proguard upload`, `hermes upload --release-mode symbol-set`): the
/// release the flags (else an Info.plist, CI or git from `git_start`) name, with `metadata` when
/// it is created, and every ref of `refs` looked up but those the server would refuse
/// ([`symship_core::set::refused_ref`]: they fail without a request). No release named: none.
pub fn bind_every(
    settings: &Settings,
    client: Option<&symship_api::Client>,
    release: &ReleaseArgs,
    git_start: &std::path::Path,
    metadata: serde_json::Map<String, serde_json::Value>,
    refs: &[String],
) -> anyhow::Result<Binding> {
    let Some(mut plan) = plan_release(release, Some(git_start))? else {
        return Ok(Binding::default());
    };
    plan.metadata = metadata;
    let lookup = refs
        .iter()
        .filter(|r| symship_core::set::refused_ref(r).is_none())
        .map(|r| (r.clone(), None))
        .collect();
    bind(
        settings,
        client,
        &plan,
        release.skip_release_on_fail,
        lookup,
        refs,
    )
}

/// The `already_bound` rows of `refs`, sets the server answered `release_id_mismatch` for during
/// the upload (bound to another release, which they keep): one `GET symbol_sets/?ref=` each. A
/// lookup that fails leaves them out (the upload's warning still names them).
pub fn lookup_bound(
    settings: &Settings,
    client: &symship_api::Client,
    refs: Vec<String>,
) -> Vec<AlreadyBound> {
    let refs = refs.into_iter().map(|r| (r, None)).collect();
    match settings.block_on(stored_releases(client, refs)) {
        Ok(Ok(found)) => Binding {
            release_id: None,
            elsewhere: found,
            lookup_failed: None,
        }
        .already_bound(),
        Ok(Err(e)) => {
            tracing::info!("could not look up which release the server binds these symbol sets to ({e})");
            Vec::new()
        }
        Err(e) => {
            tracing::info!("could not look up which release the server binds these symbol sets to ({e:#})");
            Vec::new()
        }
    }
}

/// Refs whose maps carry one release are found by listing that release's symbol sets when they
/// are at least this many: one `GET releases/{id}` and a page of 100 sets per call, where one
/// lookup each (paced by `--rate-limit`, 480 a minute by default) took a minute for 600 chunks.
const LIST_FROM: usize = 8;

/// Pages of a release's listing read beyond those its refs fill (sets of other releases whose
/// version, project, ref or commit contains the search term, [`search_term`]): past them, the
/// refs not seen are looked up one by one.
const EXTRA_PAGES: usize = 3;

/// The server's largest page (`max_limit`, spec §2.10).
const PAGE: usize = 100;

/// The release of each stored symbol set among `refs` that has one (ref -> release). A ref may
/// come with the release its map carries: see [`bind`].
async fn stored_releases(
    client: &symship_api::Client,
    refs: Vec<(String, Option<symship_upload::Uuid>)>,
) -> Result<BTreeMap<String, symship_api::Release>, symship_api::ApiError> {
    let mut carried: BTreeMap<symship_upload::Uuid, BTreeSet<String>> = BTreeMap::new();
    let mut refs: Vec<String> = refs
        .into_iter()
        .filter_map(|(r, release)| match release {
            Some(id) => {
                carried.entry(id).or_default().insert(r);
                None
            }
            None => Some(r),
        })
        .collect();
    let mut found = BTreeMap::new();
    for (release, group) in carried {
        if group.len() < LIST_FROM {
            refs.extend(group);
        } else {
            refs.extend(listed_under(client, release, group, &mut found).await);
        }
    }
    refs.sort();
    refs.dedup();
    refs.retain(|r| !found.contains_key(r));
    for group in refs.chunks(LOOKUPS_AT_ONCE) {
        let mut lookups = tokio::task::JoinSet::new();
        for r in group {
            let (c, r) = (client.clone(), r.clone());
            lookups.spawn(async move {
                let set = c.find_symbol_set(&r).await;
                (r, set)
            });
        }
        while let Some(done) = lookups.join_next().await {
            let (r, set) = done.expect("a lookup task does not panic");
            if let Some(release) = set?.and_then(|s| s.release) {
                found.insert(r, release);
            }
        }
    }
    Ok(found)
}

/// Finds which of `refs` (refs whose maps carry `release`) the server holds, and under which
/// release, from the list of symbol sets whose release is that one: `GET releases/{id}`, then
/// `GET symbol_sets/?search=<term>` a page of [`PAGE`] at a time, the term its version or project
/// ([`search_term`]; the search matches a set's ref, release version, release project and commit,
/// spec §2.10; the rows are matched by ref, and each row says its own release). Those it binds to
/// a release go into `found`; a ref listed without a release is settled too. Returns the refs
/// the list did not show, to be looked up one by one: never uploaded, or bound to a release of
/// other texts (a build injected under A, uploaded under B, now under C: its sets are B's, and
/// taking them for new ones made C, which no set could take, and cost a 400 per set while the
/// upload split its batches; a fresh tester), or not reached when the pages run past what the refs
/// need ([`EXTRA_PAGES`]: the term matches many other sets); all of them when a call fails.
async fn listed_under(
    client: &symship_api::Client,
    release: symship_upload::Uuid,
    mut refs: BTreeSet<String>,
    found: &mut BTreeMap<String, symship_api::Release>,
) -> BTreeSet<String> {
    let term = match client.get_release(release).await {
        Ok(r) => match search_term(&r) {
            Some(term) => term.to_owned(),
            None => return refs,
        },
        Err(e) => {
            tracing::debug!(
                "release {release} could not be read ({e}); its symbol sets are looked up one by one"
            );
            return refs;
        }
    };
    let pages = refs.len().div_ceil(PAGE) + EXTRA_PAGES;
    for page in 0..pages {
        let query = symship_api::SymbolSetQuery {
            search: Some(term.clone()),
            limit: Some(PAGE as u32),
            offset: Some((page * PAGE) as u64),
            include_count: Some(false),
            ..Default::default()
        };
        let listed = match client.list_symbol_sets(&query).await {
            Ok(listed) => listed,
            Err(e) => {
                tracing::debug!(
                    "the symbol sets of release {release} could not be listed ({e}); looked up one by one"
                );
                return refs;
            }
        };
        let last = listed.next.is_none() || listed.results.len() < PAGE;
        for set in listed.results {
            if refs.remove(&set.reference) {
                if let Some(r) = set.release {
                    found.insert(set.reference, r);
                }
            }
        }
        if refs.is_empty() || last {
            break;
        }
    }
    refs
}

/// What a release's symbol sets are searched by: its version, unless the version could be part of
/// any chunk id (only hexadecimal digits and hyphens, like `1` or `2024`: it would match the refs of
/// nearly every set of the project) and the project could not; the longer of the two when both
/// could. `None` when both are empty.
fn search_term(release: &symship_api::Release) -> Option<&str> {
    let in_any_ref = |t: &str| t.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    let (version, project) = (release.version.as_str(), release.project.as_str());
    let term = match (in_any_ref(version), in_any_ref(project)) {
        (false, _) => version,
        (true, false) => project,
        (true, true) if project.len() > version.len() => project,
        (true, true) => version,
    };
    (!term.is_empty()).then_some(term)
}
