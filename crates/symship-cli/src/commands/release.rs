//! `symship release resolve`: print the release for a name and version (from flags, Info.plist,
//! CI or git), creating it if needed, as posthog-cli does.

use symship_api::ProcessEnv;
use symship_release::{Planned, ReleasePlan};

use crate::cli::{OutputFormat, ReleaseCreateArgs, ReleaseDeleteArgs, ReleaseGetArgs, ReleaseResolveArgs};
use crate::exit::Exit;
use crate::manage::find_release;
use crate::release as api;
use crate::settings::Settings;

pub fn resolve(args: &ReleaseResolveArgs, settings: &Settings) -> anyhow::Result<Exit> {
    let json = args.json || settings.global.output == OutputFormat::Json;
    let inputs = api::release_inputs_from_args(&args.identity)?;
    // Plan first: with nothing to resolve, no credentials are needed and nothing is sent.
    let plan = match symship_release::plan(&inputs, &ProcessEnv).map_err(api::release_error)? {
        Planned::Ready(plan) => plan,
        Planned::Unavailable { reason } => {
            tracing::info!("{reason}");
            if json {
                out(settings, "null\n")?;
            }
            return Ok(Exit::Success);
        }
    };
    for note in &plan.notes {
        tracing::debug!("{note}");
    }
    if settings.global.dry_run {
        out(settings, &dry_run_text(&plan, json)?)?;
        return Ok(Exit::Success);
    }
    let client = settings.client()?;
    let (release, outcome) = settings
        .block_on(symship_release::fetch_or_create(client, &plan))?
        .map_err(api::release_error)?;
    tracing::debug!("release {} ({outcome:?})", release.id);
    if json {
        let v = serde_json::json!({
            "id": release.id,
            "hash_id": release.hash_id,
            "version": release.version,
            "project": release.project,
        });
        out(settings, &format!("{}\n", serde_json::to_string_pretty(&v)?))?;
    } else {
        out(settings, &format!("{}\n", release.id))?;
    }
    Ok(Exit::Success)
}

fn dry_run_text(plan: &ReleasePlan, json: bool) -> anyhow::Result<String> {
    if json {
        let v = serde_json::json!({
            "id": null,
            "hash_id": plan.hash_id,
            "version": plan.version,
            "project": plan.name,
            "dry_run": true,
        });
        return Ok(format!("{}\n", serde_json::to_string_pretty(&v)?));
    }
    Ok(format!(
        "name: {}\nversion: {}\nhash_id: {}\n",
        plan.name, plan.version, plan.hash_id
    ))
}

fn out(settings: &Settings, text: &str) -> anyhow::Result<()> {
    settings
        .printer
        .stdout(crate::untrusted::neutralize(text).as_bytes())
}

// ---- release list | get | delete | create ----

/// A release with a fixed set of keys.
fn release_json(r: &symship_api::Release) -> serde_json::Value {
    serde_json::json!({
        "id": r.id,
        "hash_id": r.hash_id,
        "project": r.project,
        "version": r.version,
        "created_at": r.created_at,
        "metadata": r.metadata,
    })
}

pub fn list(settings: &Settings) -> anyhow::Result<Exit> {
    use crate::manage::{print, print_json, short_time, table};
    let client = settings.client()?;
    let releases = settings.block_on(client.list_releases_all(Some(100)))??;
    if settings.global.output == OutputFormat::Json {
        print_json(
            &settings.printer,
            &serde_json::json!({
                "count": releases.len(),
                "releases": releases.iter().map(release_json).collect::<Vec<_>>(),
            }),
        )?;
    } else {
        let mut text = table(
            &["ID", "NAME", "VERSION", "CREATED"],
            releases
                .iter()
                .map(|r| {
                    vec![
                        r.id.to_string(),
                        r.project.clone(),
                        r.version.clone(),
                        short_time(r.created_at.as_deref()),
                    ]
                })
                .collect(),
        );
        text.push_str(&format!(
            "{} release{}\n",
            releases.len(),
            if releases.len() == 1 { "" } else { "s" }
        ));
        print(&settings.printer, &text)?;
    }
    Ok(Exit::Success)
}

pub fn get(args: &ReleaseGetArgs, settings: &Settings) -> anyhow::Result<Exit> {
    use crate::manage::{print, print_json, release_label};
    let client = settings.client()?;
    let release = settings.block_on(find_release(client, &args.release))??;
    if settings.global.output == OutputFormat::Json {
        print_json(&settings.printer, &release_json(&release))?;
    } else {
        let mut text = format!(
            "id:          {}\nrelease:     {}\nhash_id:     {}\ncreated:     {}\n",
            release.id,
            release_label(&release),
            release.hash_id,
            release.created_at.as_deref().unwrap_or("-")
        );
        if let Some(git) = release.metadata.as_ref().and_then(|m| m.get("git")) {
            for key in ["repo_name", "branch", "commit_id", "remote_url"] {
                if let Some(v) = git.get(key).and_then(|v| v.as_str()) {
                    text.push_str(&format!("{:<13}{v}\n", format!("git {key}:")));
                }
            }
        }
        print(&settings.printer, &text)?;
    }
    Ok(Exit::Success)
}

pub fn delete(args: &ReleaseDeleteArgs, settings: &Settings) -> anyhow::Result<Exit> {
    use crate::manage::{print, print_json, release_brief, release_label};
    // Malformed specs are usage errors before anything is sent.
    for spec in &args.releases {
        if crate::manage::check_uuid(spec, "release id").is_err()
            && !spec
                .rsplit_once('@')
                .is_some_and(|(n, v)| !n.is_empty() && !v.is_empty())
        {
            return Err(crate::exit::UsageError(format!(
                "release {spec:?}: expected a release id (UUID) or NAME@VERSION"
            ))
            .into());
        }
    }
    let client = settings.client()?;
    let mut deleted = Vec::new();
    let mut failed = 0usize;
    settings.block_on(async {
        for spec in &args.releases {
            let outcome = async {
                let r = find_release(client, spec).await?;
                if !settings.global.dry_run {
                    client.delete_release(r.id).await?;
                }
                anyhow::Ok(r)
            }
            .await;
            match outcome {
                Ok(r) => {
                    tracing::info!(
                        "{} release {} ({})",
                        if settings.global.dry_run {
                            "--dry-run: would delete"
                        } else {
                            "deleted"
                        },
                        release_label(&r),
                        r.id
                    );
                    deleted.push(r);
                }
                Err(e) => {
                    tracing::error!("{e:#}");
                    failed += 1;
                }
            }
        }
    })?;
    if settings.global.output == OutputFormat::Json {
        print_json(
            &settings.printer,
            &serde_json::json!({
                "dry_run": settings.global.dry_run,
                "deleted": deleted.iter().map(release_brief).collect::<Vec<_>>(),
                "failed": failed,
            }),
        )?;
    } else {
        let text: String = deleted.iter().map(|r| format!("{}\n", r.id)).collect();
        print(&settings.printer, &text)?;
    }
    Ok(if failed > 0 { Exit::Failed } else { Exit::Success })
}

pub fn create(args: &ReleaseCreateArgs, settings: &Settings) -> anyhow::Result<Exit> {
    use crate::manage::{print, print_json};
    let json = settings.global.output == OutputFormat::Json;
    let inputs = api::release_inputs(Some(&args.name), Some(&args.version), args.build.as_deref(), None)?;
    let plan = match symship_release::plan(&inputs, &ProcessEnv).map_err(api::release_error)? {
        Planned::Ready(plan) => plan,
        Planned::Unavailable { reason } => {
            return Err(
                crate::exit::UsageError(format!("--name and --version must not be empty ({reason})")).into(),
            )
        }
    };
    for note in &plan.notes {
        tracing::debug!("{note}");
    }
    if settings.global.dry_run {
        out(settings, &dry_run_text(&plan, json)?)?;
        return Ok(Exit::Success);
    }
    let client = settings.client()?;
    let (release, outcome) = settings
        .block_on(symship_release::fetch_or_create(client, &plan))?
        .map_err(api::release_error)?;
    let created = outcome == symship_release::Outcome::Created;
    // `fetch_or_create` says so when it creates one
    if !created {
        tracing::info!(
            "found existing release {} of {} ({})",
            release.version,
            release.project,
            release.id
        );
    }
    if json {
        let mut v = release_json(&release);
        v["created"] = serde_json::Value::Bool(created);
        print_json(&settings.printer, &v)?;
    } else {
        print(&settings.printer, &format!("{}\n", release.id))?;
    }
    Ok(Exit::Success)
}
