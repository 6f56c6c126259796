//! `ErrorTrackingReleaseViewSet` (§4).

use http::StatusCode;
use serde_json::{json, Value};

use super::pagination;
use super::symbol_sets::release_json;
use super::{Ctx, Reply, ViewResult};
use crate::errors::ApiError;
use crate::logic::releases as logic;
use crate::state::now;

/// `GET releases` (paginated, newest first)
pub fn list(ctx: &Ctx) -> ViewResult {
    let st = ctx.shared.state.lock().expect("state lock");
    let mut rows: Vec<_> = st.releases.iter().filter(|r| r.team_id == ctx.team).collect();
    rows.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.id)));
    let rows: Vec<Value> = rows.into_iter().map(release_json).collect();
    Ok(Reply::json(StatusCode::OK, pagination::page(ctx, rows, true)))
}

/// `POST releases`: 201, or `release_hash_in_use` when the hash id is taken (the create race).
pub fn create(ctx: &Ctx) -> ViewResult {
    let body = ctx.json()?;
    if !body.is_object() {
        return Err(ApiError::server_error());
    }
    let rel = ctx
        .shared
        .mutate(|st| logic::create(st, ctx.team, &body, now()))?;
    Ok(Reply::json(StatusCode::CREATED, release_json(&rel)))
}

pub fn retrieve(ctx: &Ctx, id: &str) -> ViewResult {
    let st = ctx.shared.state.lock().expect("state lock");
    let r = st.release_by_id(ctx.team, id).ok_or_else(ApiError::not_found)?;
    Ok(Reply::json(StatusCode::OK, release_json(r)))
}

/// `PUT`/`PATCH {id}`: `204 {"ok": true}`
pub fn update(ctx: &Ctx, id: &str) -> ViewResult {
    let body = ctx.json()?;
    if !body.is_object() {
        return Err(ApiError::server_error());
    }
    if ctx.shared.mutate(|st| logic::update(st, ctx.team, id, &body))? {
        Ok(Reply::json(StatusCode::NO_CONTENT, json!({"ok": true})))
    } else {
        Err(ApiError::not_found())
    }
}

pub fn destroy(ctx: &Ctx, id: &str) -> ViewResult {
    if ctx.shared.mutate(|st| logic::delete(st, ctx.team, id)) {
        Ok(Reply::no_content())
    } else {
        Err(ApiError::not_found())
    }
}

/// `GET releases/hash/{hash_id}`
pub fn by_hash(ctx: &Ctx, hash_id: &str) -> ViewResult {
    let st = ctx.shared.state.lock().expect("state lock");
    let r = st
        .release_by_hash(ctx.team, hash_id)
        .ok_or_else(ApiError::not_found)?;
    Ok(Reply::json(StatusCode::OK, release_json(r)))
}
