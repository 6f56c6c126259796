//! The events API, read by `sourcemap explain` (kinds-and-explain.md §4.5):
//! `GET /api/environments/{project_id}/events/{id}/`, which needs the `query:read` scope.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::client::Client;
use crate::error::ApiError;
use crate::urls::join_segments;

/// One event as the events API returns it (`ClickhouseEventSerializer`): `properties` is the
/// parsed JSON object (for `$exception`: `$exception_list`, `$release_id`...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub event: String,
    #[serde(default)]
    pub distinct_id: Option<String>,
    #[serde(default)]
    pub properties: serde_json::Value,
    #[serde(default)]
    pub timestamp: Option<String>,
}

impl Client {
    /// `GET /api/environments/{project_id}/events/{id}/`. A 404 (no such event) is an
    /// [`ApiError::Http`] with status 404; a key without `query:read` gets 403.
    pub async fn get_event(&self, id: Uuid) -> Result<Event, ApiError> {
        let project = self.project_id().to_string();
        let id = id.to_string();
        let url = join_segments(self.host(), &["api", "environments", &project, "events", &id, ""]);
        self.send_json::<(), _>(Method::GET, url, None).await
    }
}
