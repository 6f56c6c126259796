//! The models (§3 "Model", §4 "Release JSON") and their persistence.
//!
//! `ErrorTrackingSymbolSet`: id, team, ref (unique per team), created_at, storage_ptr,
//! failure_reason, content_hash, release, last_used. `ErrorTrackingRelease`: id, team, hash_id
//! (unique per team), created_at, metadata, version, project.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Error;

/// A symbol set row, as stored (the admin API and `TestServer::symbol_sets` return it whole).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymbolSetState {
    pub id: Uuid,
    pub team_id: u64,
    #[serde(rename = "ref")]
    pub ref_: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub storage_ptr: Option<String>,
    pub failure_reason: Option<String>,
    pub content_hash: Option<String>,
    pub release_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used: Option<OffsetDateTime>,
}

/// A release row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseState {
    pub id: Uuid,
    pub team_id: u64,
    pub hash_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub metadata: Option<serde_json::Value>,
    pub version: String,
    pub project: String,
}

/// A personal API key and its scopes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    pub key: String,
    pub scopes: Vec<String>,
}

/// A captured event, as the events API returns it (kinds-and-explain.md §4.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub uuid: Uuid,
    pub event: String,
    pub distinct_id: String,
    pub properties: serde_json::Value,
    /// As the client sent it (ISO 8601), else the capture time.
    pub timestamp: String,
}

/// Everything that survives a restart with `--data-dir`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub project_id: u64,
    pub keys: Vec<ApiKey>,
    pub symbol_sets: Vec<SymbolSetState>,
    pub releases: Vec<ReleaseState>,
    /// The project API key (`phc_...`) capture requests carry; empty in a state file written
    /// before events were stored (one is made at start).
    #[serde(default)]
    pub project_token: String,
    #[serde(default)]
    pub events: Vec<StoredEvent>,
}

impl State {
    pub fn set_by_id(&self, team: u64, id: &str) -> Option<&SymbolSetState> {
        let id = Uuid::parse_str(id).ok()?;
        self.symbol_sets.iter().find(|s| s.team_id == team && s.id == id)
    }

    pub fn release_by_id(&self, team: u64, id: &str) -> Option<&ReleaseState> {
        let id = Uuid::parse_str(id).ok()?;
        self.releases.iter().find(|r| r.team_id == team && r.id == id)
    }

    pub fn release_by_uuid(&self, id: Uuid) -> Option<&ReleaseState> {
        self.releases.iter().find(|r| r.id == id)
    }

    pub fn release_by_hash(&self, team: u64, hash_id: &str) -> Option<&ReleaseState> {
        self.releases
            .iter()
            .find(|r| r.team_id == team && r.hash_id == hash_id)
    }

    /// Reads the state file, if there is one.
    pub fn load(path: &Path) -> Result<Option<State>, Error> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::State {
                    path: path.to_path_buf(),
                    detail: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::State {
                path: path.to_path_buf(),
                detail: e.to_string(),
            }),
        }
    }

    /// Writes the state file atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let err = |e: std::io::Error| Error::State {
            path: path.to_path_buf(),
            detail: e.to_string(),
        };
        let tmp: PathBuf = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(self).expect("state serializes");
        std::fs::write(&tmp, bytes).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }
}

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Django REST's datetime format: `2026-11-22T04:48:00.123456Z`.
pub fn fmt_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}
