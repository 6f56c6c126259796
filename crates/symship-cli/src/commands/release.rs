//! `symship release resolve`: print the release for a name and version (from flags, Info.plist,
//! CI or git), creating it if needed, as posthog-cli does.

use std::io::Write as _;

use symship_api::ProcessEnv;
use symship_release::{Planned, ReleasePlan};

use crate::api;
use crate::cli::{GlobalArgs, OutputFormat, ReleaseResolveArgs};
use crate::exit::Exit;

pub fn resolve(args: &ReleaseResolveArgs, global: &GlobalArgs) -> anyhow::Result<Exit> {
    let json = args.json || global.output == OutputFormat::Json;
    let inputs = api::release_inputs(
        args.release_name.as_deref(),
        args.release_version.as_deref(),
        args.build.as_deref(),
        args.info_plist.as_deref(),
    )?;
    // Plan first: with nothing to resolve, no credentials are needed and nothing is sent.
    let plan = match symship_release::plan(&inputs, &ProcessEnv).map_err(api::release_error)? {
        Planned::Ready(plan) => plan,
        Planned::Unavailable { reason } => {
            tracing::info!("{reason}");
            if json {
                out("null\n")?;
            }
            return Ok(Exit::Success);
        }
    };
    for note in &plan.notes {
        tracing::debug!("{note}");
    }
    if global.dry_run {
        out(&dry_run_text(&plan, json)?)?;
        return Ok(Exit::Success);
    }
    let client = api::client_from_globals(global)?;
    let (release, outcome) =
        api::block_on(symship_release::fetch_or_create(&client, &plan))?.map_err(api::release_error)?;
    tracing::debug!("release {} ({outcome:?})", release.id);
    if json {
        let v = serde_json::json!({
            "id": release.id,
            "hash_id": release.hash_id,
            "version": release.version,
            "project": release.project,
        });
        out(&format!("{}\n", serde_json::to_string_pretty(&v)?))?;
    } else {
        out(&format!("{}\n", release.id))?;
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

fn out(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}
