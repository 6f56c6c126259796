//! DRF's `LimitOffsetPagination` (PostHog's default, `PAGE_SIZE` 100; symbol sets set
//! `max_limit = 100`): `{"count","next","previous","results"}` with absolute next/previous URLs.

use serde_json::{json, Value};

use super::Ctx;

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 100;

/// `_positive_int(..., strict=True, cutoff=max_limit)`, falling back to the default.
pub fn limit_offset(ctx: &Ctx) -> (usize, usize) {
    let limit = ctx
        .param("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .map(|l| l.min(MAX_LIMIT))
        .unwrap_or(DEFAULT_LIMIT);
    let offset = ctx
        .param("offset")
        .and_then(|o| o.parse::<usize>().ok())
        .unwrap_or(0);
    (limit, offset)
}

fn url_with(ctx: &Ctx, set: &[(&str, Option<String>)]) -> String {
    let mut pairs: Vec<(String, String)> = ctx
        .query
        .iter()
        .filter(|(k, _)| !set.iter().any(|(s, _)| s == k))
        .cloned()
        .collect();
    for (k, v) in set {
        if let Some(v) = v {
            pairs.push((k.to_string(), v.clone()));
        }
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("http://{}{}?{q}", ctx.host, ctx.path)
}

/// Pages `rows` (already filtered and ordered). `count_known = false` gives `count: null`.
pub fn page(ctx: &Ctx, rows: Vec<Value>, count_known: bool) -> Value {
    let (limit, offset) = limit_offset(ctx);
    let count = rows.len();
    let results: Vec<Value> = rows.into_iter().skip(offset).take(limit).collect();
    let has_next = offset + limit < count;
    let next = has_next.then(|| {
        url_with(
            ctx,
            &[
                ("limit", Some(limit.to_string())),
                ("offset", Some((offset + limit).to_string())),
            ],
        )
    });
    let previous = if offset == 0 {
        None
    } else if offset <= limit {
        Some(url_with(
            ctx,
            &[("limit", Some(limit.to_string())), ("offset", None)],
        ))
    } else {
        Some(url_with(
            ctx,
            &[
                ("limit", Some(limit.to_string())),
                ("offset", Some((offset - limit).to_string())),
            ],
        ))
    };
    json!({
        "count": if count_known { json!(count) } else { Value::Null },
        "next": next,
        "previous": previous,
        "results": results,
    })
}
