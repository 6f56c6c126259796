//! URL routing (§1 "Request building", §11 "Routes"): `/api/{projects|environments}/{id}/
//! error_tracking/{symbol_sets|releases}/...`, trailing slash optional, as PostHog's
//! `DefaultRouterPlusPlus` registers them.

use http::Method;

use crate::errors::ApiError;

#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    // symbol sets
    List,
    Create,
    Retrieve(String),
    Update(String),
    PartialUpdate(String),
    Destroy(String),
    Download(String),
    FinishUpload(String),
    StartUpload,
    BulkCheckUpload,
    BulkStartUpload,
    BulkFinishUpload,
    BulkDelete,
    // releases
    ReleasesList,
    ReleasesCreate,
    ReleasesRetrieve(String),
    ReleasesUpdate(String),
    ReleasesPartialUpdate(String),
    ReleasesDestroy(String),
    ReleasesByHash(String),
    // events (kinds-and-explain.md §4.5)
    EventsList,
    EventsRetrieve(String),
}

/// Every [`Route::name`], in the order of [`Route`]'s variants: the API's fault route names.
pub const ROUTE_NAMES: &[&str] = &[
    "list",
    "create",
    "retrieve",
    "update",
    "partial_update",
    "destroy",
    "download",
    "finish_upload",
    "start_upload",
    "bulk_check_upload",
    "bulk_start_upload",
    "bulk_finish_upload",
    "bulk_delete",
    "releases_list",
    "releases_create",
    "releases_retrieve",
    "releases_update",
    "releases_partial_update",
    "releases_destroy",
    "releases_hash",
    "events_list",
    "events_retrieve",
];

impl Route {
    /// The action name (DRF's), which is also the fault route name (listed in [`ROUTE_NAMES`]).
    pub fn name(&self) -> &'static str {
        match self {
            Route::List => "list",
            Route::Create => "create",
            Route::Retrieve(_) => "retrieve",
            Route::Update(_) => "update",
            Route::PartialUpdate(_) => "partial_update",
            Route::Destroy(_) => "destroy",
            Route::Download(_) => "download",
            Route::FinishUpload(_) => "finish_upload",
            Route::StartUpload => "start_upload",
            Route::BulkCheckUpload => "bulk_check_upload",
            Route::BulkStartUpload => "bulk_start_upload",
            Route::BulkFinishUpload => "bulk_finish_upload",
            Route::BulkDelete => "bulk_delete",
            Route::ReleasesList => "releases_list",
            Route::ReleasesCreate => "releases_create",
            Route::ReleasesRetrieve(_) => "releases_retrieve",
            Route::ReleasesUpdate(_) => "releases_update",
            Route::ReleasesPartialUpdate(_) => "releases_partial_update",
            Route::ReleasesDestroy(_) => "releases_destroy",
            Route::ReleasesByHash(_) => "releases_hash",
            Route::EventsList => "events_list",
            Route::EventsRetrieve(_) => "events_retrieve",
        }
    }

    /// The events routes, which need `query:read` rather than an error-tracking scope.
    pub fn is_events(&self) -> bool {
        matches!(self, Route::EventsList | Route::EventsRetrieve(_))
    }

    /// `scope_object_read_actions`; everything else needs `error_tracking:write`.
    pub fn is_read(&self) -> bool {
        matches!(
            self,
            Route::List
                | Route::Retrieve(_)
                | Route::Download(_)
                | Route::ReleasesList
                | Route::ReleasesRetrieve(_)
                | Route::ReleasesByHash(_)
        )
    }
}

/// The team id of the path (as written) and the route.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub team: String,
    pub route: Route,
}

/// DRF's default lookup value regex `[^/.]+`.
fn lookup_ok(s: &str) -> bool {
    !s.is_empty() && !s.contains('.')
}

pub fn resolve(method: &Method, path: &str, old_server: bool) -> Result<Resolved, ApiError> {
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let segs: Vec<&str> = trimmed.split('/').collect();
    // ["", "api", base, id, "events", [id]]
    if segs.len() >= 5
        && segs[0].is_empty()
        && segs[1] == "api"
        && (segs[2] == "projects" || segs[2] == "environments")
        && segs[4] == "events"
    {
        let route = match (&segs[5..], method.as_str()) {
            ([], "GET") => Route::EventsList,
            ([id], "GET") if lookup_ok(id) => Route::EventsRetrieve(id.to_string()),
            ([] | [_], m) if m != "GET" => return Err(ApiError::method_not_allowed(m)),
            _ => return Err(ApiError::not_found()),
        };
        return Ok(Resolved {
            team: segs[3].to_owned(),
            route,
        });
    }
    // ["", "api", base, id, "error_tracking", resource, rest...]
    if segs.len() < 6 || !segs[0].is_empty() || segs[1] != "api" || segs[4] != "error_tracking" {
        return Err(ApiError::not_found());
    }
    if segs[2] != "projects" && segs[2] != "environments" {
        return Err(ApiError::not_found());
    }
    let team = segs[3].to_owned();
    let rest = &segs[6..];
    let m = method.as_str();
    let na = || Err(ApiError::method_not_allowed(m));
    let route = match (segs[5], rest) {
        ("symbol_sets", []) => match m {
            "GET" => Route::List,
            "POST" => Route::Create,
            _ => return na(),
        },
        ("symbol_sets", ["bulk_check_upload"]) if !old_server => match m {
            "POST" => Route::BulkCheckUpload,
            _ => return na(),
        },
        ("symbol_sets", ["bulk_check_upload"]) => return Err(ApiError::not_found()),
        (
            "symbol_sets",
            [action @ ("bulk_start_upload" | "bulk_finish_upload" | "bulk_delete" | "start_upload")],
        ) => {
            if m != "POST" {
                return na();
            }
            match *action {
                "bulk_start_upload" => Route::BulkStartUpload,
                "bulk_finish_upload" => Route::BulkFinishUpload,
                "bulk_delete" => Route::BulkDelete,
                _ => Route::StartUpload,
            }
        }
        ("symbol_sets", [id]) if lookup_ok(id) => match m {
            "GET" => Route::Retrieve(id.to_string()),
            "PUT" => Route::Update(id.to_string()),
            "PATCH" => Route::PartialUpdate(id.to_string()),
            "DELETE" => Route::Destroy(id.to_string()),
            _ => return na(),
        },
        ("symbol_sets", [id, "download"]) if lookup_ok(id) => match m {
            "GET" => Route::Download(id.to_string()),
            _ => return na(),
        },
        ("symbol_sets", [id, "finish_upload"]) if lookup_ok(id) => match m {
            "PUT" => Route::FinishUpload(id.to_string()),
            _ => return na(),
        },
        ("releases", []) => match m {
            "GET" => Route::ReleasesList,
            "POST" => Route::ReleasesCreate,
            _ => return na(),
        },
        ("releases", ["hash", h]) if lookup_ok(h) => match m {
            "GET" => Route::ReleasesByHash(h.to_string()),
            _ => return na(),
        },
        ("releases", [id]) if lookup_ok(id) => match m {
            "GET" => Route::ReleasesRetrieve(id.to_string()),
            "PUT" => Route::ReleasesUpdate(id.to_string()),
            "PATCH" => Route::ReleasesPartialUpdate(id.to_string()),
            "DELETE" => Route::ReleasesDestroy(id.to_string()),
            _ => return na(),
        },
        _ => return Err(ApiError::not_found()),
    };
    Ok(Resolved { team, route })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(m: Method, p: &str) -> Result<Route, ApiError> {
        resolve(&m, p, false).map(|x| x.route)
    }

    #[test]
    fn route_names_lists_every_route() {
        let id = || "x".to_owned();
        let every = [
            Route::List,
            Route::Create,
            Route::Retrieve(id()),
            Route::Update(id()),
            Route::PartialUpdate(id()),
            Route::Destroy(id()),
            Route::Download(id()),
            Route::FinishUpload(id()),
            Route::StartUpload,
            Route::BulkCheckUpload,
            Route::BulkStartUpload,
            Route::BulkFinishUpload,
            Route::BulkDelete,
            Route::ReleasesList,
            Route::ReleasesCreate,
            Route::ReleasesRetrieve(id()),
            Route::ReleasesUpdate(id()),
            Route::ReleasesPartialUpdate(id()),
            Route::ReleasesDestroy(id()),
            Route::ReleasesByHash(id()),
            Route::EventsList,
            Route::EventsRetrieve(id()),
        ];
        // a variant added to Route without a line here fails to compile
        for r in &every {
            match r {
                Route::List
                | Route::Create
                | Route::Retrieve(_)
                | Route::Update(_)
                | Route::PartialUpdate(_)
                | Route::Destroy(_)
                | Route::Download(_)
                | Route::FinishUpload(_)
                | Route::StartUpload
                | Route::BulkCheckUpload
                | Route::BulkStartUpload
                | Route::BulkFinishUpload
                | Route::BulkDelete
                | Route::ReleasesList
                | Route::ReleasesCreate
                | Route::ReleasesRetrieve(_)
                | Route::ReleasesUpdate(_)
                | Route::ReleasesPartialUpdate(_)
                | Route::ReleasesDestroy(_)
                | Route::ReleasesByHash(_)
                | Route::EventsList
                | Route::EventsRetrieve(_) => {}
            }
        }
        let names: Vec<&str> = every.iter().map(Route::name).collect();
        assert_eq!(names, ROUTE_NAMES);
    }

    #[test]
    fn both_prefixes_and_optional_slash() {
        for p in [
            "/api/projects/2/error_tracking/symbol_sets/bulk_start_upload",
            "/api/projects/2/error_tracking/symbol_sets/bulk_start_upload/",
            "/api/environments/2/error_tracking/symbol_sets/bulk_start_upload",
        ] {
            assert_eq!(r(Method::POST, p), Ok(Route::BulkStartUpload), "{p}");
        }
        assert_eq!(
            r(Method::GET, "/api/projects/2/error_tracking/releases/hash/abc/"),
            Ok(Route::ReleasesByHash("abc".into()))
        );
        assert_eq!(
            r(Method::GET, "/api/projects/2/error_tracking/symbol_sets/"),
            Ok(Route::List)
        );
    }

    #[test]
    fn wrong_method_and_unknown_paths() {
        let e = r(
            Method::GET,
            "/api/projects/2/error_tracking/symbol_sets/bulk_start_upload",
        )
        .unwrap_err();
        assert_eq!(e.status.as_u16(), 405);
        assert_eq!(
            r(Method::GET, "/api/projects/2/nope/symbol_sets")
                .unwrap_err()
                .status
                .as_u16(),
            404
        );
        let old = resolve(
            &Method::POST,
            "/api/projects/2/error_tracking/symbol_sets/bulk_check_upload",
            true,
        );
        assert_eq!(old.unwrap_err().status.as_u16(), 404);
    }
}
