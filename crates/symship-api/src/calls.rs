//! Typed calls for symbol sets (spec §2) and releases (spec §4).

use reqwest::Method;
use serde::de::DeserializeOwned;
use url::Url;
use uuid::Uuid;

use crate::client::Client;
use crate::error::ApiError;
use crate::models::*;
use crate::urls::check_hash_id;

/// Pages followed at most by the `*_all` helpers (a guard against a server that loops).
pub const MAX_PAGES: usize = 10_000;

/// The largest answer of `bulk_check_upload` (1000 refs to upload).
pub const MAX_CHECK_BODY: u64 = 4 * 1024 * 1024;
/// The largest answer about one object (`bulk_finish_upload`, one symbol set or release, a
/// download link).
pub const MAX_SMALL_BODY: u64 = 1024 * 1024;

impl Client {
    // ---- symbol sets: upload protocol ----

    /// `POST symbol_sets/bulk_check_upload`: which chunks still need uploading.
    pub async fn bulk_check_upload(&self, req: &BulkCheckRequest) -> Result<BulkCheckResponse, ApiError> {
        let url = self.project_url(&["symbol_sets", "bulk_check_upload"]);
        self.send_json_capped(Method::POST, url, Some(req), MAX_CHECK_BODY)
            .await
    }

    /// `POST symbol_sets/bulk_start_upload`: presigned targets for the chunks that need bytes.
    pub async fn bulk_start_upload(&self, req: &BulkStartRequest) -> Result<BulkStartResponse, ApiError> {
        let url = self.project_url(&["symbol_sets", "bulk_start_upload"]);
        self.send_json(Method::POST, url, Some(req)).await
    }

    /// `POST symbol_sets/bulk_finish_upload`: record the content hashes of uploaded sets.
    /// A 2xx answer without `"success": true` (`201 {"success":true}`, spec §2.5) is an
    /// [`ApiError::Decode`]: an error object under a 2xx status (a proxy, a broken server) is no
    /// finish, and the caller asks the server what it holds instead of counting the sets done.
    pub async fn bulk_finish_upload(&self, req: &BulkFinishRequest) -> Result<BulkFinishResponse, ApiError> {
        let url = self.project_url(&["symbol_sets", "bulk_finish_upload"]);
        let shown = crate::error::display_url(crate::error::Service::Api, &url);
        let resp: BulkFinishResponse = self
            .send_json_capped(Method::POST, url, Some(req), MAX_SMALL_BODY)
            .await?;
        if !resp.success {
            return Err(ApiError::Decode {
                method: "POST".into(),
                url: shown,
                reason:
                    "the answer does not say {\"success\": true}, so the upload is not known to be finished"
                        .into(),
            });
        }
        Ok(resp)
    }

    // ---- symbol sets: management ----

    /// `GET symbol_sets/?...`: one page.
    pub async fn list_symbol_sets(&self, query: &SymbolSetQuery) -> Result<Page<SymbolSet>, ApiError> {
        let mut url = self.project_url(&["symbol_sets", ""]);
        set_query(&mut url, &query.pairs());
        self.send_json::<(), _>(Method::GET, url, None).await
    }

    /// Every symbol set matching `query`, following `next` links.
    pub async fn list_symbol_sets_all(&self, query: &SymbolSetQuery) -> Result<Vec<SymbolSet>, ApiError> {
        let mut url = self.project_url(&["symbol_sets", ""]);
        set_query(&mut url, &query.pairs());
        self.follow_pages(url).await
    }

    /// The symbol set whose `ref` (chunk id) is `reference`, if any.
    pub async fn find_symbol_set(&self, reference: &str) -> Result<Option<SymbolSet>, ApiError> {
        let q = SymbolSetQuery {
            reference: Some(reference.to_owned()),
            limit: Some(1),
            ..Default::default()
        };
        Ok(self
            .list_symbol_sets(&q)
            .await?
            .results
            .into_iter()
            .find(|s| s.reference == reference))
    }

    /// `GET symbol_sets/{id}/`.
    pub async fn get_symbol_set(&self, id: Uuid) -> Result<SymbolSet, ApiError> {
        let url = self.project_url(&["symbol_sets", &id.to_string(), ""]);
        self.send_json_capped::<(), _>(Method::GET, url, None, MAX_SMALL_BODY)
            .await
    }

    /// `DELETE symbol_sets/{id}/`.
    pub async fn delete_symbol_set(&self, id: Uuid) -> Result<(), ApiError> {
        let url = self.project_url(&["symbol_sets", &id.to_string(), ""]);
        self.send_no_content::<()>(Method::DELETE, url, None)
            .await
            .map(|_| ())
    }

    /// `POST symbol_sets/bulk_delete`.
    pub async fn bulk_delete_symbol_sets(&self, ids: &[Uuid]) -> Result<BulkDeleteResponse, ApiError> {
        let url = self.project_url(&["symbol_sets", "bulk_delete"]);
        self.send_json(Method::POST, url, Some(&BulkDeleteRequest { ids: ids.to_vec() }))
            .await
    }

    /// `GET symbol_sets/{id}/download/`: a presigned GET URL (fetch it with [`Client::http`]).
    pub async fn symbol_set_download_url(&self, id: Uuid) -> Result<DownloadUrl, ApiError> {
        let url = self.project_url(&["symbol_sets", &id.to_string(), "download", ""]);
        self.send_json_capped::<(), _>(Method::GET, url, None, MAX_SMALL_BODY)
            .await
    }

    // ---- releases ----

    /// `GET releases/hash/{hash_id}`; `Ok(None)` on 404.
    pub async fn get_release_by_hash(&self, hash_id: &str) -> Result<Option<Release>, ApiError> {
        check_hash_id(hash_id)?;
        let url = self.project_url(&["releases", "hash", hash_id]);
        match self.send_json::<(), Release>(Method::GET, url, None).await {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST releases`. A taken `hash_id` fails with code `release_hash_in_use`.
    pub async fn create_release(&self, req: &CreateRelease) -> Result<Release, ApiError> {
        if let Some(h) = &req.hash_id {
            check_hash_id(h)?;
        }
        let url = self.project_url(&["releases"]);
        self.send_json(Method::POST, url, Some(req)).await
    }

    /// `GET releases/{id}`.
    pub async fn get_release(&self, id: Uuid) -> Result<Release, ApiError> {
        let url = self.project_url(&["releases", &id.to_string()]);
        self.send_json::<(), _>(Method::GET, url, None).await
    }

    /// `PATCH releases/{id}` with the fields that are set.
    pub async fn update_release(&self, id: Uuid, req: &UpdateRelease) -> Result<(), ApiError> {
        let url = self.project_url(&["releases", &id.to_string()]);
        self.send_no_content(Method::PATCH, url, Some(req))
            .await
            .map(|_| ())
    }

    /// `DELETE releases/{id}`.
    pub async fn delete_release(&self, id: Uuid) -> Result<(), ApiError> {
        let url = self.project_url(&["releases", &id.to_string()]);
        self.send_no_content::<()>(Method::DELETE, url, None)
            .await
            .map(|_| ())
    }

    /// `GET releases?limit=&offset=`: one page.
    pub async fn list_releases(
        &self,
        limit: Option<u32>,
        offset: Option<u64>,
    ) -> Result<Page<Release>, ApiError> {
        let mut url = self.project_url(&["releases"]);
        let mut q = Vec::new();
        if let Some(l) = limit {
            q.push(("limit", l.to_string()));
        }
        if let Some(o) = offset {
            q.push(("offset", o.to_string()));
        }
        set_query(&mut url, &q);
        self.send_json::<(), _>(Method::GET, url, None).await
    }

    /// Every release, following `next` links (`page_size` per request, server default if None).
    pub async fn list_releases_all(&self, page_size: Option<u32>) -> Result<Vec<Release>, ApiError> {
        let mut url = self.project_url(&["releases"]);
        if let Some(l) = page_size {
            set_query(&mut url, &[("limit", l.to_string())]);
        }
        self.follow_pages(url).await
    }

    /// Fetch `first` and every page its `next` links lead to. Only the query of a `next`
    /// link is used, applied to our own URL: a server behind a proxy may advertise an internal
    /// origin, and the API key must not travel to another host.
    pub async fn follow_pages<T: DeserializeOwned>(&self, first: Url) -> Result<Vec<T>, ApiError> {
        let mut out = Vec::new();
        let mut url = first.clone();
        for _ in 0..MAX_PAGES {
            let page: Page<T> = self.send_json::<(), _>(Method::GET, url.clone(), None).await?;
            let n = page.results.len();
            out.extend(page.results);
            let Some(next) = page.next.filter(|_| n > 0) else {
                return Ok(out);
            };
            let next_query = next_page_query(&next).ok_or_else(|| ApiError::Decode {
                method: "GET".into(),
                url: crate::error::display_url(crate::error::Service::Api, &url),
                reason: format!("unusable `next` link {next:?}"),
            })?;
            let mut following = first.clone();
            following.set_query(Some(&next_query));
            if following == url {
                return Ok(out);
            }
            url = following;
        }
        Ok(out)
    }
}

/// The query string of a `next` link (absolute or relative).
fn next_page_query(next: &str) -> Option<String> {
    let parsed = Url::parse(next)
        .or_else(|_| Url::parse("http://placeholder.invalid/").and_then(|b| b.join(next)))
        .ok()?;
    parsed.query().map(str::to_owned)
}

fn set_query(url: &mut Url, pairs: &[(&str, String)]) {
    if pairs.is_empty() {
        url.set_query(None);
        return;
    }
    let mut q = url.query_pairs_mut();
    q.clear();
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links_give_their_query() {
        assert_eq!(
            next_page_query(
                "http://internal:8000/api/projects/1/error_tracking/symbol_sets/?limit=2&offset=2"
            )
            .as_deref(),
            Some("limit=2&offset=2")
        );
        assert_eq!(next_page_query("/x?offset=4").as_deref(), Some("offset=4"));
        assert_eq!(next_page_query("http://h/x"), None);
    }

    #[test]
    fn query_pairs_are_encoded() {
        let mut url = Url::parse("http://h/p/").unwrap();
        set_query(
            &mut url,
            &SymbolSetQuery {
                reference: Some("a b&c".into()),
                limit: Some(1),
                ..Default::default()
            }
            .pairs(),
        );
        assert_eq!(url.as_str(), "http://h/p/?ref=a+b%26c&limit=1");
    }
}
