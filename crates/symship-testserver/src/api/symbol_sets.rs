//! `ErrorTrackingSymbolSetViewSet` (§2): serializers, the bulk upload actions, the legacy
//! actions and the management endpoints.

use std::collections::HashMap;

use http::StatusCode;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::pagination;
use super::{Ctx, Reply, ViewResult};
use crate::errors::ApiError;
use crate::logic::symbol_sets::{self as logic, Issue, ListQuery, Upload};
use crate::state::{fmt_time, now, ReleaseState, State, SymbolSetState};
use crate::storage::{
    ObjectStorage, DOWNLOAD_EXPIRY_SECS, LEGACY_UPLOAD_EXPIRY_SECS, MAX_SIZE, UPLOAD_EXPIRY_SECS,
};

pub fn release_json(r: &ReleaseState) -> Value {
    json!({
        "id": r.id.to_string(),
        "hash_id": r.hash_id,
        "team_id": r.team_id,
        "created_at": fmt_time(r.created_at),
        "metadata": r.metadata,
        "version": r.version,
        "project": r.project,
    })
}

/// `contracts.ErrorTrackingSymbolSet`
fn symbol_set_json(st: &State, s: &SymbolSetState) -> Value {
    json!({
        "id": s.id.to_string(),
        "ref": s.ref_,
        "team_id": s.team_id,
        "created_at": fmt_time(s.created_at),
        "last_used": s.last_used.map(fmt_time),
        "failure_reason": s.failure_reason,
        "has_uploaded_file": s.storage_ptr.is_some(),
        "release": s.release_id.and_then(|id| st.release_by_uuid(id)).map(release_json),
    })
}

// ---- serializer helpers (DRF field semantics) ----

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

fn expect_object<'a>(v: &'a Value, attr: Option<&str>) -> Result<&'a Map<String, Value>, ApiError> {
    v.as_object().ok_or_else(|| {
        let detail = format!("Invalid data. Expected a dictionary, but got {}.", type_name(v));
        match attr {
            Some(a) => ApiError::field("invalid", detail, a),
            None => ApiError::validation("invalid", detail),
        }
    })
}

/// `CharField`: strings (numbers are coerced); `required`, `allow_null` as given; never blank.
fn char_field(
    obj: &Map<String, Value>,
    name: &str,
    attr: &str,
    required: bool,
) -> Result<Option<String>, ApiError> {
    match obj.get(name) {
        None if required => Err(ApiError::field("required", "This field is required.", attr)),
        None => Ok(None),
        Some(Value::Null) if required => Err(ApiError::field("null", "This field may not be null.", attr)),
        Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(ApiError::field("blank", "This field may not be blank.", attr))
        }
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(ApiError::field("invalid", "Not a valid string.", attr)),
    }
}

/// `BooleanField(default=False)`
fn bool_field(obj: &Map<String, Value>, name: &str) -> Result<bool, ApiError> {
    match obj.get(name) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::Null) => Err(ApiError::field("null", "This field may not be null.", name)),
        Some(Value::Number(n)) if n.as_i64() == Some(1) => Ok(true),
        Some(Value::Number(n)) if n.as_i64() == Some(0) => Ok(false),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "on" | "1" => Ok(true),
            "false" | "f" | "no" | "n" | "off" | "0" => Ok(false),
            _ => Err(ApiError::field("invalid", "Must be a valid boolean.", name)),
        },
        Some(_) => Err(ApiError::field("invalid", "Must be a valid boolean.", name)),
    }
}

/// `IntegerField(min_value=0, allow_null=True, required=False)`
fn length_field(obj: &Map<String, Value>, attr: &str) -> Result<Option<u64>, ApiError> {
    match obj.get("content_length") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match (n.as_u64(), n.as_i64()) {
            (Some(v), _) => Ok(Some(v)),
            (None, Some(_)) => Err(ApiError::field(
                "min_value",
                "Ensure this value is greater than or equal to 0.",
                attr,
            )),
            _ => Err(ApiError::field("invalid", "A valid integer is required.", attr)),
        },
        Some(Value::String(s)) => match s.trim().parse::<i64>() {
            Ok(v) if v >= 0 => Ok(Some(v as u64)),
            Ok(_) => Err(ApiError::field(
                "min_value",
                "Ensure this value is greater than or equal to 0.",
                attr,
            )),
            Err(_) => Err(ApiError::field("invalid", "A valid integer is required.", attr)),
        },
        Some(_) => Err(ApiError::field("invalid", "A valid integer is required.", attr)),
    }
}

/// `ErrorTrackingSymbolSetBulkStartUploadSerializer` (also used by check): the uploads of
/// `symbol_sets` plus the legacy `chunk_ids` with the top-level `release_id`, and the flags.
fn parse_bulk(body: &Value, old_server: bool) -> Result<(Vec<Upload>, bool, bool), ApiError> {
    let obj = expect_object(body, None)?;
    let mut uploads = Vec::new();
    match obj.get("symbol_sets") {
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let base = format!("symbol_sets__{i}");
                let o = expect_object(item, Some(&base))?;
                uploads.push(Upload {
                    chunk_id: char_field(o, "chunk_id", &format!("{base}__chunk_id"), true)?
                        .unwrap_or_default(),
                    release_id: char_field(o, "release_id", &format!("{base}__release_id"), false)?,
                    content_hash: char_field(o, "content_hash", &format!("{base}__content_hash"), false)?,
                    // Old servers have no `content_length` field: it is ignored.
                    content_length: if old_server {
                        None
                    } else {
                        length_field(o, &format!("{base}__content_length"))?
                    },
                });
            }
        }
        Some(other) => {
            return Err(ApiError::field(
                "not_a_list",
                format!("Expected a list of items but got type \"{}\".", type_name(other)),
                "symbol_sets",
            ))
        }
    }
    let legacy_release = char_field(obj, "release_id", "release_id", false)?;
    match obj.get("chunk_ids") {
        None | Some(Value::Null) => {}
        Some(Value::Array(ids)) => {
            for (i, id) in ids.iter().enumerate() {
                let attr = format!("chunk_ids__{i}");
                let chunk_id = match id {
                    Value::String(s) if !s.trim().is_empty() => s.trim().to_owned(),
                    Value::String(_) => {
                        return Err(ApiError::field("blank", "This field may not be blank.", &attr))
                    }
                    Value::Number(n) => n.to_string(),
                    _ => return Err(ApiError::field("invalid", "Not a valid string.", &attr)),
                };
                uploads.push(Upload {
                    chunk_id,
                    release_id: legacy_release.clone(),
                    content_hash: None,
                    content_length: None,
                });
            }
        }
        Some(other) => {
            return Err(ApiError::field(
                "not_a_list",
                format!("Expected a list of items but got type \"{}\".", type_name(other)),
                "chunk_ids",
            ))
        }
    }
    let force = bool_field(obj, "force")?;
    let skip = bool_field(obj, "skip_on_conflict")?;
    if force && skip {
        return Err(ApiError::validation(
            "invalid_conflict_handling",
            "Use either force or skip_on_conflict, not both.",
        ));
    }
    Ok((uploads, force, skip))
}

// ---- upload actions ----

/// `POST bulk_check_upload` (§2.2)
pub fn bulk_check_upload(ctx: &Ctx) -> ViewResult {
    let (uploads, force, skip) = parse_bulk(&ctx.json()?, false)?;
    let ids = ctx
        .shared
        .mutate(|st| logic::bulk_check(st, ctx.team, &uploads, force, skip, now()))?;
    Ok(Reply::json(StatusCode::OK, json!({"chunk_ids_to_upload": ids})))
}

/// `POST bulk_start_upload` (§2.3)
pub fn bulk_start_upload(ctx: &Ctx) -> ViewResult {
    let old = ctx.shared.mode.old_server;
    let (uploads, force, skip) = parse_bulk(&ctx.json()?, old)?;
    if ctx.shared.mode.object_storage_disabled {
        return Err(logic::object_storage_required());
    }
    let issue = Issue {
        expiry_secs: ctx.decision.presign_expiry.unwrap_or(UPLOAD_EXPIRY_SECS),
        offer_put: !old,
        check_length: !old,
        now: now(),
    };
    let storage = &ctx.shared.storage;
    let id_map = ctx
        .shared
        .mutate(|st| logic::bulk_create(st, storage, ctx.team, &uploads, force, skip, issue))?;
    Ok(Reply::json(StatusCode::CREATED, json!({"id_map": id_map})))
}

/// HEADs each object (§2.5 step 2); a too-large or empty one deletes its row. Returns the sets
/// that passed, for the container check.
async fn finish_checks(ctx: &Ctx, sets: &[(String, String, Option<String>)]) -> Result<(), ApiError> {
    for (id, _, ptr) in sets {
        let head = match ptr {
            Some(p) => ctx
                .shared
                .storage
                .head(p)
                .await
                .map_err(|_| ApiError::server_error())?,
            None => None,
        };
        if let Err(e) = logic::check_stored_object(head) {
            if e.is_code("file_too_large") {
                ctx.shared
                    .mutate(|st| st.symbol_sets.retain(|s| s.id.to_string() != *id));
            }
            return Err(e);
        }
    }
    Ok(())
}

/// Queues each finished object for the container check (`Shared::check_finished` runs it).
fn queue_container_checks(ctx: &Ctx, sets: &[(String, String, Option<String>)]) {
    let mut unchecked = ctx.shared.unchecked.lock().expect("unchecked lock");
    for (id, r, ptr) in sets {
        if let Some(ptr) = ptr {
            unchecked.push((id.clone(), r.clone(), ptr.clone()));
        }
    }
}

/// `POST bulk_finish_upload` (§2.5)
pub async fn bulk_finish_upload(ctx: &Ctx) -> ViewResult {
    let body = ctx.json()?;
    let hashes = match body.as_object().map(|o| o.get("content_hashes")) {
        // `request.data.get` on a non-dict body
        None => return Err(ApiError::server_error()),
        Some(None) => return Ok(Reply::json(StatusCode::CREATED, json!({"success": true}))),
        Some(Some(Value::Null)) => {
            return Err(ApiError::plain(
                StatusCode::BAD_REQUEST,
                "content_hashes are required",
            ))
        }
        Some(Some(Value::Object(m))) if m.is_empty() => {
            return Ok(Reply::json(StatusCode::CREATED, json!({"success": true})))
        }
        Some(Some(Value::Object(m))) => m.clone(),
        Some(Some(Value::Array(a))) if a.is_empty() => {
            return Ok(Reply::json(StatusCode::CREATED, json!({"success": true})))
        }
        Some(Some(Value::String(s))) if s.is_empty() => {
            return Ok(Reply::json(StatusCode::CREATED, json!({"success": true})))
        }
        // `len()` fails or `.keys()` does: a 500
        Some(Some(_)) => return Err(ApiError::server_error()),
    };
    if ctx.shared.mode.object_storage_disabled {
        return Err(logic::object_storage_required());
    }
    // The team's rows by id, once per request (PostHog looks each up by its primary key; a scan
    // of every row per id made finishing a 50,000-chunk build quadratic).
    let rows_by_id = |st: &State| -> HashMap<Uuid, usize> {
        st.symbol_sets
            .iter()
            .enumerate()
            .filter(|(_, s)| s.team_id == ctx.team)
            .map(|(i, s)| (s.id, i))
            .collect()
    };
    // A key names a row when it parses as the row's id; the row is finished when the key is the
    // id's canonical form (what `str(id)` gives).
    let named =
        |rows: &HashMap<Uuid, usize>, id: &str| Uuid::parse_str(id).ok().and_then(|u| rows.get(&u).copied());
    let sets: Vec<(String, String, Option<String>)> = {
        let st = ctx.shared.state.lock().expect("state lock");
        let rows = rows_by_id(&st);
        let mut missing: Vec<&str> = hashes
            .keys()
            .map(String::as_str)
            .filter(|id| named(&rows, id).is_none())
            .collect();
        if !missing.is_empty() {
            missing.sort();
            return Err(ApiError::validation(
                "symbol_set_not_found",
                format!("Unknown symbol set IDs: {}", missing.join(", ")),
            ));
        }
        // in the order of the rows, as the scan of every row gave them
        let mut found: Vec<usize> = hashes
            .keys()
            .filter_map(|id| named(&rows, id).filter(|&i| st.symbol_sets[i].id.to_string() == *id))
            .collect();
        found.sort_unstable();
        found.dedup();
        found
            .into_iter()
            .map(|i| &st.symbol_sets[i])
            .map(|s| (s.id.to_string(), s.ref_.clone(), s.storage_ptr.clone()))
            .collect()
    };
    finish_checks(ctx, &sets).await?;
    ctx.shared.mutate(|st| {
        let rows = rows_by_id(st);
        for (id, h) in &hashes {
            let Some(i) = named(&rows, id) else { continue };
            let s = &mut st.symbol_sets[i];
            if s.id.to_string() == *id {
                s.content_hash = match h {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                };
            }
        }
    });
    queue_container_checks(ctx, &sets);
    Ok(Reply::json(StatusCode::CREATED, json!({"success": true})))
}

/// Legacy `POST start_upload?chunk_id=&release_id=` (§2.9)
pub fn start_upload(ctx: &Ctx) -> ViewResult {
    let Some(chunk_id) = ctx.param("chunk_id").filter(|c| !c.is_empty()).map(str::to_owned) else {
        return Err(ApiError::plain(
            StatusCode::BAD_REQUEST,
            "chunk_id query parameter is required",
        ));
    };
    if ctx.shared.mode.object_storage_disabled {
        return Err(logic::object_storage_required());
    }
    let release_id = ctx.param("release_id").map(str::to_owned);
    let key = ObjectStorage::new_key();
    let t = now();
    let expiry = ctx.decision.presign_expiry.unwrap_or(LEGACY_UPLOAD_EXPIRY_SECS);
    let presigned = ctx.shared.storage.presigned_post(
        &ctx.shared.storage.upload_host(ctx.shared.storage.front),
        &key,
        expiry,
        t,
    );
    let id = ctx.shared.mutate(|st| {
        logic::create_symbol_set(
            st,
            ctx.team,
            &chunk_id,
            release_id.as_deref(),
            key.clone(),
            None,
            t,
        )
    })?;
    Ok(Reply::json(
        StatusCode::CREATED,
        json!({"presigned_url": presigned, "symbol_set_id": id.to_string()}),
    ))
}

/// Legacy `PUT {id}/finish_upload` (§2.9): the hash is set only if not set yet.
pub async fn finish_upload(ctx: &Ctx, id: &str) -> ViewResult {
    let body = ctx.json()?;
    let content_hash = match body.get("content_hash") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => {
            return Err(ApiError::validation(
                "content_hash_required",
                "A content hash must be provided to complete symbol set upload.",
            ))
        }
    };
    if ctx.shared.mode.object_storage_disabled {
        return Err(logic::object_storage_required());
    }
    let set = {
        let st = ctx.shared.state.lock().expect("state lock");
        let s = st.set_by_id(ctx.team, id).ok_or_else(ApiError::not_found)?;
        (s.id.to_string(), s.ref_.clone(), s.storage_ptr.clone())
    };
    let sets = [set];
    finish_checks(ctx, &sets).await?;
    ctx.shared.mutate(|st| {
        if let Some(s) = st.symbol_sets.iter_mut().find(|s| s.id.to_string() == sets[0].0) {
            if s.content_hash.as_deref().is_none_or(str::is_empty) {
                s.content_hash = Some(content_hash.clone());
            }
        }
    });
    queue_container_checks(ctx, &sets);
    Ok(Reply::json(StatusCode::OK, json!({"success": true})))
}

/// Legacy `POST symbol_sets?chunk_id=&release_id=&multipart=true` (§2.9): the server stores
/// the bytes itself.
pub async fn create(ctx: &Ctx) -> ViewResult {
    let Some(chunk_id) = ctx.param("chunk_id").filter(|c| !c.is_empty()).map(str::to_owned) else {
        return Err(ApiError::plain(
            StatusCode::BAD_REQUEST,
            "chunk_id query parameter is required",
        ));
    };
    let multipart = ctx.param("multipart").is_some_and(|m| !m.is_empty());
    let data = if multipart {
        let ct = ctx.content_type().unwrap_or("");
        multipart_file(ct, &ctx.body).ok_or_else(ApiError::server_error)?
    } else {
        ctx.body.clone()
    };
    if ctx.shared.mode.object_storage_disabled {
        return Err(logic::object_storage_required());
    }
    if data.len() as u64 > MAX_SIZE {
        return Err(ApiError::validation(
            "file_too_large",
            "Combined source map and symbol set must be less than 100MB",
        ));
    }
    use sha2::Digest as _;
    let hash = hex::encode(sha2::Sha512::digest(&data));
    let key = ObjectStorage::new_key();
    ctx.shared
        .storage
        .put(&key, data)
        .await
        .map_err(|_| ApiError::server_error())?;
    let release_id = ctx.param("release_id").map(str::to_owned);
    let t = now();
    let id = ctx.shared.mutate(|st| {
        logic::create_symbol_set(
            st,
            ctx.team,
            &chunk_id,
            release_id.as_deref(),
            key.clone(),
            Some(hash.clone()),
            t,
        )
    })?;
    queue_container_checks(ctx, &[(id.to_string(), chunk_id, Some(key))]);
    Ok(Reply::json(StatusCode::CREATED, json!({"ok": true})))
}

/// The `file` part of a multipart/form-data body.
fn multipart_file(content_type: &str, body: &[u8]) -> Option<bytes::Bytes> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))?;
    let boundary = boundary.trim_matches('"');
    let delim = format!("--{boundary}");
    let mut rest = body;
    loop {
        let start = find(rest, delim.as_bytes())? + delim.len();
        rest = &rest[start..];
        if rest.starts_with(b"--") {
            return None;
        }
        let head_end = find(rest, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&rest[..head_end]).to_ascii_lowercase();
        let content = &rest[head_end + 4..];
        let end = find(content, format!("\r\n{delim}").as_bytes())?;
        if head.contains("name=\"file\"") {
            return Some(bytes::Bytes::copy_from_slice(&content[..end]));
        }
        rest = &content[end + 2..];
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---- management ----

/// `GET symbol_sets/` (§2.10)
pub fn list(ctx: &Ctx) -> ViewResult {
    let status = ctx.param("status").unwrap_or("all");
    if !["all", "valid", "invalid"].contains(&status) {
        return Err(ApiError::field(
            "invalid_choice",
            format!("\"{status}\" is not a valid choice."),
            "status",
        ));
    }
    let order_by = ctx.param("order_by").map(str::to_owned);
    if let Some(o) = &order_by {
        if ![
            "created_at",
            "-created_at",
            "ref",
            "-ref",
            "last_used",
            "-last_used",
        ]
        .contains(&o.as_str())
        {
            return Err(ApiError::field(
                "invalid_choice",
                format!("\"{o}\" is not a valid choice."),
                "order_by",
            ));
        }
    }
    let q = ListQuery {
        ref_: ctx.param("ref").map(str::to_owned),
        search: ctx.param("search").map(str::to_owned),
        status: Some(status.to_owned()),
        order_by,
    };
    let include_count = !matches!(ctx.param("include_count"), Some("false" | "0" | "False"));
    let st = ctx.shared.state.lock().expect("state lock");
    let rows: Vec<Value> = logic::list(&st, ctx.team, &q)
        .into_iter()
        .map(|s| symbol_set_json(&st, s))
        .collect();
    Ok(Reply::json(
        StatusCode::OK,
        pagination::page(ctx, rows, include_count),
    ))
}

/// `GET {id}/`, and `PUT`/`PATCH {id}/` which change nothing.
pub fn retrieve(ctx: &Ctx, id: &str) -> ViewResult {
    let st = ctx.shared.state.lock().expect("state lock");
    let s = st.set_by_id(ctx.team, id).ok_or_else(ApiError::not_found)?;
    Ok(Reply::json(StatusCode::OK, symbol_set_json(&st, s)))
}

/// `DELETE {id}/`
pub fn destroy(ctx: &Ctx, id: &str) -> ViewResult {
    let deleted = ctx.shared.mutate(|st| {
        let before = st.symbol_sets.len();
        st.symbol_sets
            .retain(|s| !(s.team_id == ctx.team && s.id.to_string() == id.to_ascii_lowercase()));
        before != st.symbol_sets.len()
    });
    if deleted {
        Ok(Reply::no_content())
    } else {
        Err(ApiError::not_found())
    }
}

/// `POST bulk_delete` with `{"ids":[...]}`
pub fn bulk_delete(ctx: &Ctx) -> ViewResult {
    let body = ctx.json()?;
    let ids = body.get("ids").cloned().unwrap_or(Value::Array(Vec::new()));
    let empty = match &ids {
        Value::Null | Value::Bool(false) => true,
        Value::Array(a) => a.is_empty(),
        Value::String(s) => s.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    if empty {
        return Err(ApiError::plain(StatusCode::BAD_REQUEST, "ids is required"));
    }
    let Value::Array(ids) = ids else {
        return Err(ApiError::plain(StatusCode::BAD_REQUEST, "ids must be a list"));
    };
    let wanted: Vec<uuid::Uuid> = ids
        .iter()
        .filter_map(|v| v.as_str())
        .filter_map(|s| uuid::Uuid::parse_str(s).ok())
        .collect();
    let deleted = ctx.shared.mutate(|st| {
        let before = st.symbol_sets.len();
        st.symbol_sets
            .retain(|s| !(s.team_id == ctx.team && wanted.contains(&s.id)));
        before - st.symbol_sets.len()
    });
    Ok(Reply::json(StatusCode::OK, json!({"deleted": deleted})))
}

/// `GET {id}/download/`: a presigned GET (3600 s) through the S3 front.
pub fn download(ctx: &Ctx, id: &str) -> ViewResult {
    let st = ctx.shared.state.lock().expect("state lock");
    let s = st.set_by_id(ctx.team, id).ok_or_else(ApiError::not_found)?;
    let Some(ptr) = &s.storage_ptr else {
        return Err(ApiError::plain(
            StatusCode::NOT_FOUND,
            "Symbol set has no uploaded file.",
        ));
    };
    let url = ctx.shared.storage.presigned_get(ptr, DOWNLOAD_EXPIRY_SECS, now());
    Ok(Reply::json(StatusCode::OK, json!({"url": url})))
}
