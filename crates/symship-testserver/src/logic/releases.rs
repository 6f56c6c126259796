//! §4 releases: create with the `(team, hash_id)` uniqueness (`release_hash_in_use`), update,
//! delete, lookups.

use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::errors::ApiError;
use crate::state::{ReleaseState, State};

/// `MAX_HASH_ID_LENGTH`
pub const MAX_HASH_ID_LENGTH: usize = 128;

fn str_field(v: Option<&Value>) -> Option<String> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Bool(false)) => None,
        Some(Value::Number(n)) if n.as_f64() == Some(0.0) => None,
        Some(other) => Some(other.to_string()),
    }
}

/// `_validated_hash_id`
fn validated_hash_id(v: Option<&Value>) -> Result<Option<String>, ApiError> {
    match str_field(v) {
        Some(h) if h.len() > MAX_HASH_ID_LENGTH => Err(ApiError::validation(
            "invalid",
            "Hash id length cannot exceed 128 bytes",
        )),
        other => Ok(other),
    }
}

fn hash_in_use(hash_id: &str) -> ApiError {
    ApiError::validation("release_hash_in_use", format!("Hash id {hash_id} already in use"))
}

/// `create`: version and project required; hash_id optional (generated when omitted).
pub fn create(
    st: &mut State,
    team: u64,
    body: &Value,
    now: OffsetDateTime,
) -> Result<ReleaseState, ApiError> {
    let version = str_field(body.get("version"))
        .ok_or_else(|| ApiError::validation("invalid", "Version is required"))?;
    let project = str_field(body.get("project"))
        .ok_or_else(|| ApiError::validation("invalid", "Project is required"))?;
    let hash_id = validated_hash_id(body.get("hash_id"))?.unwrap_or_else(|| Uuid::new_v4().to_string());
    if st.release_by_hash(team, &hash_id).is_some() {
        return Err(hash_in_use(&hash_id));
    }
    let rel = ReleaseState {
        id: Uuid::now_v7(),
        team_id: team,
        hash_id,
        created_at: now,
        metadata: body.get("metadata").cloned().filter(|m| !m.is_null()),
        version,
        project,
    };
    st.releases.push(rel.clone());
    Ok(rel)
}

/// `update_release`: the given fields change; `Ok(false)` when the release does not exist.
pub fn update(st: &mut State, team: u64, id: &str, body: &Value) -> Result<bool, ApiError> {
    let hash_id = validated_hash_id(body.get("hash_id"))?;
    let Some(rid) = st.release_by_id(team, id).map(|r| r.id) else {
        return Ok(false);
    };
    if let Some(h) = &hash_id {
        if st
            .releases
            .iter()
            .any(|r| r.team_id == team && r.hash_id == *h && r.id != rid)
        {
            return Err(hash_in_use(h));
        }
    }
    let rel = st
        .releases
        .iter_mut()
        .find(|r| r.id == rid)
        .expect("release exists");
    if let Some(h) = hash_id {
        rel.hash_id = h;
    }
    if let Some(m) = body.get("metadata").filter(|m| !m.is_null()) {
        rel.metadata = Some(m.clone());
    }
    if let Some(v) = str_field(body.get("version")) {
        rel.version = v;
    }
    if let Some(p) = str_field(body.get("project")) {
        rel.project = p;
    }
    Ok(true)
}

/// `delete_release`; symbol sets bound to it become orphans (SET_NULL; unsure).
pub fn delete(st: &mut State, team: u64, id: &str) -> bool {
    let Some(rid) = st.release_by_id(team, id).map(|r| r.id) else {
        return false;
    };
    st.releases.retain(|r| r.id != rid);
    for s in st.symbol_sets.iter_mut().filter(|s| s.release_id == Some(rid)) {
        s.release_id = None;
    }
    true
}
