//! symship-release: the release a build belongs to, named and hashed exactly as posthog-cli
//! 0.19.0 does (spec §4), from flags, Info.plist, CI variables or the local git repository.

pub mod git;
pub mod plist;

use std::path::PathBuf;

use serde::Serialize;
use sha2::{Digest, Sha512};
use symship_api::env::Env;
use symship_api::{ApiError, Client, CreateRelease, Release};

pub use git::{git_info, GitInfo, GitLookup, GitSource};

/// What the user asked for (flags) and where to look for git.
#[derive(Debug, Clone, Default)]
pub struct ReleaseInputs {
    /// `--release-name` / `--project`.
    pub name: Option<String>,
    /// `--release-version` / `--version`.
    pub version: Option<String>,
    /// `--build`.
    pub build: Option<String>,
    /// `--info-plist`.
    pub info_plist: Option<PathBuf>,
    /// Where to start looking for `.git` (normally the current directory).
    pub cwd: PathBuf,
}

/// Where the name or version came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldSource {
    Flag,
    InfoPlist,
    Git,
}

/// A release ready to be looked up or created.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleasePlan {
    /// The server's `project`.
    pub name: String,
    pub version: String,
    /// `hex(SHA-512(name ‖ version))`.
    pub hash_id: String,
    pub name_source: FieldSource,
    pub version_source: FieldSource,
    /// Stored as `metadata.git` whenever known, even when flags gave name and version.
    pub git: Option<GitInfo>,
    pub git_source: Option<GitSource>,
    /// Why git metadata is missing, or why a CI source was skipped.
    pub notes: Vec<String>,
    /// Metadata the command stores beside `git` (empty from [`plan`]): `dsym upload` adds
    /// `dsym_info` ([`plist::DsymInfo`]), as posthog-cli 0.19.0 does.
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

impl ReleasePlan {
    /// The `POST releases` body: `{"metadata":{"git":{...},...},"hash_id","version","project"}`
    /// (`metadata` left out when empty, as posthog-cli sends it).
    pub fn create_request(&self) -> CreateRelease {
        let mut metadata = self.metadata.clone();
        if let Some(g) = &self.git {
            metadata.insert("git".into(), serde_json::to_value(g).expect("GitInfo serializes"));
        }
        CreateRelease {
            metadata: (!metadata.is_empty()).then_some(metadata),
            hash_id: Some(self.hash_id.clone()),
            version: self.version.clone(),
            project: self.name.clone(),
        }
    }
}

/// The result of planning: a release, or why none can be named.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per run
pub enum Planned {
    Ready(ReleasePlan),
    /// No name or no version (no flags, no Info.plist, no git). posthog-cli's
    /// `release resolve` prints nothing and exits 0 in this case.
    Unavailable {
        reason: String,
    },
}

impl Planned {
    pub fn ready(self) -> Option<ReleasePlan> {
        match self {
            Planned::Ready(p) => Some(p),
            Planned::Unavailable { .. } => None,
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Planned::Ready(_) => None,
            Planned::Unavailable { reason } => Some(reason),
        }
    }
}

/// `content_hash([name, version])`: lowercase hex SHA-512 of the bytes, no separator.
pub fn hash_id(name: &str, version: &str) -> String {
    let mut h = Sha512::new();
    h.update(name.as_bytes());
    h.update(version.as_bytes());
    hex::encode(h.finalize())
}

/// posthog-cli's `pack_version`: `"v+b"` if both, `v` or `b` alone, else `None`.
pub fn pack_version(version: Option<&str>, build: Option<&str>) -> Option<String> {
    match (version, build) {
        (Some(v), Some(b)) => Some(format!("{v}+{b}")),
        (Some(v), None) => Some(v.to_owned()),
        (None, Some(b)) => Some(b.to_owned()),
        (None, None) => None,
    }
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_ref()
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Decide name, version and hash_id without any network: flags, then Info.plist, then git.
pub fn plan(inputs: &ReleaseInputs, env: &dyn Env) -> Result<Planned, ReleaseError> {
    let mut name = non_empty(&inputs.name).map(|n| (n, FieldSource::Flag));
    let mut version_flag = non_empty(&inputs.version).map(|v| (v, FieldSource::Flag));
    let mut build_flag = non_empty(&inputs.build).map(|b| (b, FieldSource::Flag));

    if let Some(path) = &inputs.info_plist {
        let p = plist::read_info_plist(path, env).map_err(|reason| ReleaseError::InfoPlist {
            path: path.clone(),
            reason,
        })?;
        name = name.or(p.name.map(|n| (n, FieldSource::InfoPlist)));
        version_flag = version_flag.or(p.version.map(|v| (v, FieldSource::InfoPlist)));
        build_flag = build_flag.or(p.build.map(|b| (b, FieldSource::InfoPlist)));
    }
    let packed = pack_version(
        version_flag.as_ref().map(|v| v.0.as_str()),
        build_flag.as_ref().map(|b| b.0.as_str()),
    );
    let packed_source = version_flag.as_ref().or(build_flag.as_ref()).map(|x| x.1);
    let mut version = packed.zip(packed_source);

    let lookup = git_info(env, &inputs.cwd);
    let mut notes = lookup.notes;
    let (git, git_source) = match lookup.found {
        Some((info, source)) => (Some(info), Some(source)),
        None => (None, None),
    };
    if let Some(g) = &git {
        if name.is_none() {
            name = g.repo_name.clone().map(|n| (n, FieldSource::Git));
        }
        if version.is_none() {
            version = Some((g.commit_id.clone(), FieldSource::Git));
        }
    }
    // What the user named (flags, Info.plist) before git filled in anything.
    let named = non_empty(&inputs.name).is_some()
        || non_empty(&inputs.version).is_some()
        || non_empty(&inputs.build).is_some()
        || name.as_ref().is_some_and(|n| n.1 == FieldSource::InfoPlist)
        || version.as_ref().is_some_and(|v| v.1 == FieldSource::InfoPlist);
    let (Some((name, name_source)), Some((version, version_source))) = (name.clone(), version.clone()) else {
        let mut missing = Vec::new();
        if name.is_none() {
            missing.push("a name (--release-name)");
        }
        if version.is_none() {
            missing.push("a version (--release-version or --build)");
        }
        let why_git = if git.is_some() {
            "git gave no repository name".to_owned()
        } else {
            format!("git info is unavailable: {}", notes.join("; "))
        };
        let missing = missing.join(" and ");
        // Half a release is refused, as posthog-cli 0.19.0 refuses it ("Release fields are
        // incomplete and git info is unavailable", exit 1): going on without one would drop the
        // release the user asked for without a word.
        if named {
            return Err(ReleaseError::Incomplete {
                missing,
                why: why_git,
            });
        }
        return Ok(Planned::Unavailable {
            reason: format!("no release: {missing} missing and {why_git}"),
        });
    };
    if git.is_none() {
        notes.push("no git metadata stored with the release".into());
    }
    Ok(Planned::Ready(ReleasePlan {
        hash_id: hash_id(&name, &version),
        name,
        version,
        name_source,
        version_source,
        git,
        git_source,
        notes,
        metadata: serde_json::Map::new(),
    }))
}

/// How a release was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It already existed.
    Found,
    /// This call created it.
    Created,
    /// Another client created it between our lookup and our create (`release_hash_in_use`).
    CreatedConcurrently,
}

/// The result of [`resolve`].
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per run
pub enum Resolution {
    Resolved {
        release: Release,
        plan: ReleasePlan,
        outcome: Outcome,
    },
    Unavailable {
        reason: String,
    },
}

impl Resolution {
    pub fn release(&self) -> Option<&Release> {
        match self {
            Resolution::Resolved { release, .. } => Some(release),
            Resolution::Unavailable { .. } => None,
        }
    }

    pub fn into_release(self) -> Option<Release> {
        match self {
            Resolution::Resolved { release, .. } => Some(release),
            Resolution::Unavailable { .. } => None,
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Resolution::Resolved { .. } => None,
            Resolution::Unavailable { reason } => Some(reason),
        }
    }
}

/// Fetch or create the planned release: `GET releases/hash/{hash_id}`, `POST releases` on 404,
/// and on `release_hash_in_use` (a concurrent create) `GET` again.
pub async fn fetch_or_create(
    client: &Client,
    plan: &ReleasePlan,
) -> Result<(Release, Outcome), ReleaseError> {
    let ctx = |e: ApiError| ReleaseError::Api {
        name: plan.name.clone(),
        version: plan.version.clone(),
        source: Box::new(e),
    };
    if let Some(r) = client.get_release_by_hash(&plan.hash_id).await.map_err(ctx)? {
        tracing::debug!("found release {} of {} ({})", plan.version, plan.name, r.id);
        return Ok((r, Outcome::Found));
    }
    match client.create_release(&plan.create_request()).await {
        Ok(r) => {
            tracing::info!("created release {} of {} ({})", plan.version, plan.name, r.id);
            Ok((r, Outcome::Created))
        }
        Err(e) if e.has_code("release_hash_in_use") || is_older_server_hash_conflict(&e) => {
            tracing::debug!(
                "release {} of {} was created concurrently; fetching it",
                plan.version,
                plan.name
            );
            match client.get_release_by_hash(&plan.hash_id).await.map_err(ctx)? {
                Some(r) => Ok((r, Outcome::CreatedConcurrently)),
                None => Err(ReleaseError::Vanished {
                    hash_id: plan.hash_id.clone(),
                }),
            }
        }
        Err(e) => Err(ctx(e)),
    }
}

/// Older servers answer a taken hash_id with 400 and no code, detail "Hash id ... already in use".
fn is_older_server_hash_conflict(e: &ApiError) -> bool {
    e.status() == Some(400) && e.code().is_none() && e.detail().is_some_and(|d| d.contains("already in use"))
}

/// Plan, then fetch or create. `Resolution::Unavailable` (not an error) when nothing names a
/// release.
pub async fn resolve(
    client: &Client,
    inputs: &ReleaseInputs,
    env: &dyn Env,
) -> Result<Resolution, ReleaseError> {
    match plan(inputs, env)? {
        Planned::Unavailable { reason } => Ok(Resolution::Unavailable { reason }),
        Planned::Ready(plan) => {
            let (release, outcome) = fetch_or_create(client, &plan).await?;
            Ok(Resolution::Resolved {
                release,
                plan,
                outcome,
            })
        }
    }
}

/// Why a release could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("could not read Info.plist {}: {reason}", path.display())]
    InfoPlist { path: PathBuf, reason: String },
    #[error("could not resolve release {version} of {name}: {source}")]
    Api {
        name: String,
        version: String,
        #[source]
        source: Box<ApiError>,
    },
    #[error("the server said release hash {hash_id} is in use, but looking it up found nothing")]
    Vanished { hash_id: String },
    /// A release was named in part (a name without a version, or the reverse) and git cannot
    /// give the rest (spec §4, "When a release is needed").
    #[error(
        "release fields are incomplete: {missing} missing and {why}; pass both --release-name and --release-version, or run from a git repository or a supported CI environment"
    )]
    Incomplete { missing: String, why: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use symship_api::env::MapEnv;

    #[test]
    fn hash_id_matches_posthog_cli_vector() {
        let h = hash_id("my-app", "1.0.0");
        assert_eq!(h.len(), 128);
        assert!(h.starts_with("5fddd88a65199cea"), "{h}");
        assert!(h.ends_with("c5773e6"), "{h}");
        assert_ne!(hash_id("my-ap", "p1.0.0"), hash_id("my-app", "1.0.0x"));
    }

    #[test]
    fn packs_version_like_posthog_cli() {
        assert_eq!(pack_version(Some("1.0"), Some("7")).as_deref(), Some("1.0+7"));
        assert_eq!(pack_version(Some("1.0"), None).as_deref(), Some("1.0"));
        assert_eq!(pack_version(None, Some("7")).as_deref(), Some("7"));
        assert_eq!(pack_version(None, None), None);
    }

    #[test]
    fn flags_without_git_plan_a_release_without_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = ReleaseInputs {
            name: Some("my-app".into()),
            version: Some("1.0.0".into()),
            cwd: dir.path().to_owned(),
            ..Default::default()
        };
        let p = plan(&inputs, &MapEnv::new()).unwrap().ready().unwrap();
        assert_eq!(p.hash_id, hash_id("my-app", "1.0.0"));
        assert_eq!(
            serde_json::to_string(&p.create_request()).unwrap(),
            format!(
                r#"{{"hash_id":"{}","version":"1.0.0","project":"my-app"}}"#,
                p.hash_id
            )
        );
    }

    #[test]
    fn nothing_to_go_on_is_unavailable_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = ReleaseInputs {
            cwd: dir.path().to_owned(),
            ..Default::default()
        };
        let planned = plan(&inputs, &MapEnv::new()).unwrap();
        let reason = planned.reason().unwrap();
        assert!(
            reason.contains("a name (--release-name)") && reason.contains("no .git found"),
            "{reason}"
        );
    }

    /// A version without a name (or the reverse) outside git is an error, as posthog-cli's
    /// "Release fields are incomplete and git info is unavailable".
    #[test]
    fn half_a_release_without_git_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        for inputs in [
            ReleaseInputs {
                version: Some("1".into()),
                cwd: dir.path().to_owned(),
                ..Default::default()
            },
            ReleaseInputs {
                name: Some("web".into()),
                cwd: dir.path().to_owned(),
                ..Default::default()
            },
            ReleaseInputs {
                build: Some("7".into()),
                cwd: dir.path().to_owned(),
                ..Default::default()
            },
        ] {
            let e = plan(&inputs, &MapEnv::new()).unwrap_err();
            assert!(matches!(e, ReleaseError::Incomplete { .. }), "{e}");
            assert!(e.to_string().contains("no .git found"), "{e}");
        }
        // blank flags name nothing
        let blank = ReleaseInputs {
            name: Some("  ".into()),
            cwd: dir.path().to_owned(),
            ..Default::default()
        };
        assert!(plan(&blank, &MapEnv::new()).unwrap().reason().is_some());
    }

    #[test]
    fn ci_fills_name_and_version_and_metadata_is_always_git() {
        let dir = tempfile::tempdir().unwrap();
        let env = MapEnv::new()
            .with("GITHUB_ACTIONS", "true")
            .with("GITHUB_REF_NAME", "main")
            .with("GITHUB_SHA", "abc123")
            .with("GITHUB_REPOSITORY", "octo/app")
            .with("GITHUB_SERVER_URL", "https://github.com");
        let inputs = ReleaseInputs {
            cwd: dir.path().to_owned(),
            build: Some("9".into()),
            ..Default::default()
        };
        let p = plan(&inputs, &env).unwrap().ready().unwrap();
        assert_eq!((p.name.as_str(), p.version.as_str()), ("app", "9"));
        assert_eq!(
            (p.name_source, p.version_source),
            (FieldSource::Git, FieldSource::Flag)
        );
        let json = serde_json::to_string(&p.create_request()).unwrap();
        assert!(json.starts_with(r#"{"metadata":{"git":{"branch":"main","commit_id":"abc123","remote_url":"https://github.com/octo/app.git","repo_name":"app"}},"hash_id":""#), "{json}");
    }
}
