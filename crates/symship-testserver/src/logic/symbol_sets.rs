//! §3 "Server-side validation and state", as `logic/symbol_sets.py` implements it:
//! `_validate_uploads`, `_binds_release`, `_needs_upload`, `refresh_last_used`,
//! `bulk_check_symbol_sets`, `bulk_create_symbol_sets`, the finish checks and the legacy paths.

use std::collections::{BTreeMap, HashMap, HashSet};

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::errors::ApiError;
use crate::state::{State, SymbolSetState};
use crate::storage::{ObjectStorage, MAX_SIZE};

/// `LAST_USED_UPLOAD_REFRESH_INTERVAL`
pub const LAST_USED_REFRESH: Duration = Duration::hours(12);

/// `SymbolSetUpload`
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    pub chunk_id: String,
    pub release_id: Option<String>,
    pub content_hash: Option<String>,
    pub content_length: Option<u64>,
}

/// How `bulk_start_upload` issues URLs.
#[derive(Debug, Clone, Copy)]
pub struct Issue {
    pub expiry_secs: u64,
    pub offer_put: bool,
    /// Servers that know `content_length` refuse declared lengths over 100 MiB.
    pub check_length: bool,
    pub now: OffsetDateTime,
}

/// `_validate_uploads`: duplicate chunk ids, release ids that are not UUIDs or unknown to the
/// team, declared lengths over 100 MiB (the last only on servers that know `content_length`).
pub fn validate_uploads(
    st: &State,
    team: u64,
    uploads: &[Upload],
    check_length: bool,
) -> Result<(), ApiError> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for u in uploads {
        *counts.entry(u.chunk_id.as_str()).or_default() += 1;
    }
    let dups: Vec<&str> = counts.iter().filter(|(_, n)| **n > 1).map(|(c, _)| *c).collect();
    if !dups.is_empty() {
        return Err(ApiError::validation(
            "invalid_chunk_ids",
            format!("Duplicate chunk IDs provided: {}", dups.join(", ")),
        ));
    }

    let release_ids: std::collections::BTreeSet<&str> = uploads
        .iter()
        .filter_map(|u| u.release_id.as_deref())
        .filter(|r| !r.is_empty())
        .collect();
    let malformed: Vec<&str> = release_ids
        .iter()
        .copied()
        .filter(|r| Uuid::parse_str(r).is_err())
        .collect();
    if !malformed.is_empty() {
        return Err(ApiError::validation(
            "invalid_release_id",
            format!("Invalid release ID provided: {}", malformed.join(", ")),
        ));
    }
    // The server compares `str(release.id)` with the string sent, so only the canonical
    // lower-case hyphenated form is known.
    for r in &release_ids {
        if !st
            .releases
            .iter()
            .any(|rel| rel.team_id == team && rel.id.to_string() == *r)
        {
            return Err(ApiError::validation(
                "invalid_release_id",
                format!("Unknown release ID provided: {r}"),
            ));
        }
    }

    if check_length {
        let mut oversized: Vec<&str> = uploads
            .iter()
            .filter(|u| u.content_length.is_some_and(|n| n > MAX_SIZE))
            .map(|u| u.chunk_id.as_str())
            .collect();
        oversized.sort();
        if !oversized.is_empty() {
            return Err(ApiError::validation(
                "file_too_large",
                format!(
                    "Symbol sets larger than 100MB cannot be uploaded: {}",
                    oversized.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// `_binds_release`: an orphan may join a release; a bound set never moves to another one.
pub fn binds_release(existing: &SymbolSetState, upload: &Upload) -> Result<bool, ApiError> {
    let Some(rid) = upload.release_id.as_deref().filter(|r| !r.is_empty()) else {
        return Ok(false);
    };
    match existing.release_id {
        None => Ok(true),
        Some(cur) if cur.to_string() != rid => Err(ApiError::validation(
            "release_id_mismatch",
            format!("Symbol set {} already has a release ID", existing.ref_),
        )),
        Some(_) => Ok(false),
    }
}

/// `_needs_upload`, its seven cases in order.
pub fn needs_upload(
    existing: &SymbolSetState,
    upload: &Upload,
    force: bool,
    skip_on_conflict: bool,
) -> Result<bool, ApiError> {
    match (&upload.content_hash, &existing.content_hash) {
        // 1. an old CLI (no hash) re-uploading a finished set
        (None, Some(_)) => Err(ApiError::validation(
            "content_hash_required",
            format!(
                "Symbol set {} already has content; provide a content_hash to update it.",
                existing.ref_
            ),
        )),
        // 2. both without hash: a pending upload restarted
        (None, None) => Ok(true),
        // 3. the existing upload never finished
        (Some(_), None) => Ok(true),
        // 4. identical
        (Some(a), Some(b)) if a == b => Ok(false),
        // 5. changed, forced
        (Some(_), Some(_)) if force => Ok(true),
        // 6. changed, keep the stored one
        (Some(_), Some(_)) if skip_on_conflict => Ok(false),
        // 7. changed
        (Some(_), Some(_)) => Err(ApiError::validation(
            "content_hash_mismatch",
            format!(
                "Symbol set {} already exists with different content.",
                existing.ref_
            ),
        )),
    }
}

/// The rows of `team` by ref (their places in `st.symbol_sets`). Built once per request, as
/// PostHog's unique (team, ref) index answers each lookup: a scan of every row per chunk made a
/// 50,000-chunk upload cost the server minutes of CPU (quadratic in the build's size).
fn rows_by_ref(st: &State, team: u64) -> HashMap<&str, usize> {
    st.symbol_sets
        .iter()
        .enumerate()
        .filter(|(_, s)| s.team_id == team)
        .map(|(i, s)| (s.ref_.as_str(), i))
        .collect()
}

/// `refresh_last_used`: `last_used = now` where it is NULL or older than 12 h.
pub fn refresh_last_used(st: &mut State, team: u64, chunk_ids: &[String], now: OffsetDateTime) {
    let wanted: HashSet<&str> = chunk_ids.iter().map(String::as_str).collect();
    for s in st
        .symbol_sets
        .iter_mut()
        .filter(|s| s.team_id == team && wanted.contains(s.ref_.as_str()))
    {
        if s.last_used.is_none_or(|t| t < now - LAST_USED_REFRESH) {
            s.last_used = Some(now);
        }
    }
}

fn parse_release(r: &Option<String>) -> Option<Uuid> {
    r.as_deref()
        .filter(|r| !r.is_empty())
        .and_then(|r| Uuid::parse_str(r).ok())
}

/// `bulk_check_symbol_sets`: the chunk ids start would act on, without creating anything; the
/// unchanged ones get their `last_used` refreshed.
pub fn bulk_check(
    st: &mut State,
    team: u64,
    uploads: &[Upload],
    force: bool,
    skip_on_conflict: bool,
    now: OffsetDateTime,
) -> Result<Vec<String>, ApiError> {
    validate_uploads(st, team, uploads, true)?;
    let mut to_upload = Vec::new();
    let mut unchanged = Vec::new();
    let rows = rows_by_ref(st, team);
    for u in uploads {
        let Some(existing) = rows.get(u.chunk_id.as_str()).map(|&i| &st.symbol_sets[i]) else {
            to_upload.push(u.chunk_id.clone());
            continue;
        };
        let binds = binds_release(existing, u)?;
        let needs = needs_upload(existing, u, force, skip_on_conflict)?;
        if binds || needs {
            to_upload.push(u.chunk_id.clone());
        } else {
            unchanged.push(u.chunk_id.clone());
        }
    }
    if !unchanged.is_empty() {
        refresh_last_used(st, team, &unchanged, now);
    }
    Ok(to_upload)
}

/// `bulk_create_symbol_sets`, atomic: on an error nothing changes. Returns the `id_map`.
pub fn bulk_create(
    st: &mut State,
    storage: &ObjectStorage,
    team: u64,
    uploads: &[Upload],
    force: bool,
    skip_on_conflict: bool,
    issue: Issue,
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    validate_uploads(st, team, uploads, issue.check_length)?;
    let urls = |key: &str, u: &Upload| {
        storage.upload_urls(
            key,
            u.content_length,
            issue.expiry_secs,
            issue.offer_put,
            issue.now,
        )
    };
    // What happens to the existing refs is decided first, in the order of `uploads` (the first
    // refusal is the answer), so that a refusal leaves the state as it was.
    let rows = rows_by_ref(st, team);
    let mut existing: Vec<(&Upload, usize, bool, bool)> = Vec::new();
    let mut missing: Vec<&Upload> = Vec::new();
    for u in uploads {
        match rows.get(u.chunk_id.as_str()) {
            Some(&i) => {
                let row = &st.symbol_sets[i];
                let binds = binds_release(row, u)?;
                // `_needs_upload` sees the row after the release was bound, as PostHog does;
                // binding does not touch what it looks at (the hashes).
                let needs = needs_upload(row, u, force, skip_on_conflict)?;
                existing.push((u, i, binds, needs));
            }
            None => missing.push(u),
        }
    }
    drop(rows);
    let mut id_map = serde_json::Map::new();

    // Missing refs: a new row with a new key and content_hash NULL.
    for u in missing {
        let key = ObjectStorage::new_key();
        let row = SymbolSetState {
            id: Uuid::now_v7(),
            team_id: team,
            ref_: u.chunk_id.clone(),
            created_at: issue.now,
            storage_ptr: Some(key.clone()),
            failure_reason: None,
            content_hash: None,
            release_id: parse_release(&u.release_id),
            last_used: None,
        };
        id_map.insert(
            u.chunk_id.clone(),
            urls(&key, u).into_json(Some(row.id.to_string())),
        );
        st.symbol_sets.push(row);
    }

    // Existing refs: bind a release, re-issue an upload.
    for (u, i, binds, needs) in existing {
        let row = &mut st.symbol_sets[i];
        if binds {
            row.release_id = parse_release(&u.release_id);
        }
        if needs {
            let key = ObjectStorage::new_key();
            id_map.insert(
                u.chunk_id.clone(),
                urls(&key, u).into_json(Some(row.id.to_string())),
            );
            row.storage_ptr = Some(key);
            row.content_hash = None;
        }
    }

    let chunk_ids: Vec<String> = uploads.iter().map(|u| u.chunk_id.clone()).collect();
    refresh_last_used(st, team, &chunk_ids, issue.now);
    Ok(id_map)
}

/// The finish checks on one object's HEAD result (§2.5 step 2).
pub fn check_stored_object(head: Option<u64>) -> Result<u64, ApiError> {
    match head {
        None => Err(ApiError::validation(
            "file_not_found",
            "No file has been uploaded for the symbol set.",
        )),
        Some(n) if n == 0 || n > MAX_SIZE => Err(ApiError::validation(
            "file_too_large",
            "The uploaded symbol set file was too large.",
        )),
        Some(n) => Ok(n),
    }
}

pub fn object_storage_required() -> ApiError {
    ApiError::validation(
        "object_storage_required",
        "Object storage must be available to allow source map uploads.",
    )
}

/// Legacy `create_symbol_set`: the row for a legacy `start_upload` or `create`.
pub fn create_symbol_set(
    st: &mut State,
    team: u64,
    chunk_id: &str,
    release_id: Option<&str>,
    storage_ptr: String,
    content_hash: Option<String>,
    now: OffsetDateTime,
) -> Result<Uuid, ApiError> {
    let release = match release_id.filter(|r| !r.is_empty()) {
        Some(r) => match st.release_by_id(team, r) {
            Some(rel) => Some(rel.id),
            // `ValueError("Unknown release")` (or a UUID parse error): a 500
            None => return Err(ApiError::server_error()),
        },
        None => None,
    };
    if let Some(s) = st
        .symbol_sets
        .iter_mut()
        .find(|s| s.team_id == team && s.ref_ == chunk_id)
    {
        if s.release_id.is_none() {
            s.release_id = release;
        } else if s.release_id != release {
            return Err(ApiError::validation(
                "invalid",
                "Symbol set has already been uploaded for a different release",
            ));
        }
        s.storage_ptr = Some(storage_ptr);
        s.content_hash = content_hash;
        return Ok(s.id);
    }
    let row = SymbolSetState {
        id: Uuid::now_v7(),
        team_id: team,
        ref_: chunk_id.to_owned(),
        created_at: now,
        storage_ptr: Some(storage_ptr),
        failure_reason: None,
        content_hash,
        release_id: release,
        last_used: None,
    };
    let id = row.id;
    st.symbol_sets.push(row);
    Ok(id)
}

/// `list_symbol_sets` filters and orderings; returns the page and the count.
#[derive(Debug, Default)]
pub struct ListQuery {
    pub ref_: Option<String>,
    pub search: Option<String>,
    pub status: Option<String>,
    pub order_by: Option<String>,
}

pub fn list<'a>(st: &'a State, team: u64, q: &ListQuery) -> Vec<&'a SymbolSetState> {
    let needle = q
        .search
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(str::to_lowercase);
    let mut rows: Vec<&SymbolSetState> = st
        .symbol_sets
        .iter()
        .filter(|s| s.team_id == team)
        .filter(|s| {
            q.ref_
                .as_deref()
                .filter(|r| !r.is_empty())
                .is_none_or(|r| s.ref_ == r)
        })
        .filter(|s| match &needle {
            None => true,
            Some(n) => {
                s.ref_.to_lowercase().contains(n)
                    || s.release_id
                        .and_then(|id| st.release_by_uuid(id))
                        .is_some_and(|r| {
                            r.version.to_lowercase().contains(n)
                                || r.project.to_lowercase().contains(n)
                                || r.metadata
                                    .as_ref()
                                    .and_then(|m| m.pointer("/git/commit_id"))
                                    .and_then(|c| c.as_str())
                                    .is_some_and(|c| c.to_lowercase().contains(n))
                        })
            }
        })
        .filter(|s| match q.status.as_deref() {
            Some("valid") => s.storage_ptr.is_some(),
            Some("invalid") => s.storage_ptr.is_none(),
            _ => true,
        })
        .collect();
    match q.order_by.as_deref().unwrap_or("-created_at") {
        "created_at" => rows.sort_by_key(|s| (s.created_at, s.id)),
        "last_used" => rows.sort_by(|a, b| nulls_last(a.last_used, b.last_used).then(a.id.cmp(&b.id))),
        "-last_used" => rows.sort_by(|a, b| {
            nulls_last(a.last_used, b.last_used)
                .reverse()
                .then(b.id.cmp(&a.id))
        }),
        "ref" => rows.sort_by(|a, b| a.ref_.cmp(&b.ref_)),
        "-ref" => rows.sort_by(|a, b| b.ref_.cmp(&a.ref_)),
        _ => rows.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.id))),
    }
    rows
}

/// Postgres treats NULL as the largest value: last ascending, first descending.
fn nulls_last(a: Option<OffsetDateTime>, b: Option<OffsetDateTime>) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a, b) {
        (None, None) => Equal,
        (None, Some(_)) => Greater,
        (Some(_), None) => Less,
        (Some(x), Some(y)) => x.cmp(&y),
    }
}
