//! What the server saw: every API request and S3 transfer, and the upload violations.

use serde::{Deserialize, Serialize};

/// One request, as the API server or an S3 front saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// `api`, `s3` (standard S3 front) or `s3_accel` (accelerated front).
    pub server: String,
    /// The fault route name (`bulk_start_upload`, `s3_put`, ...); `unknown` for unrouted paths.
    pub route: String,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// The JSON body, when the request had one that parsed.
    pub body: Option<serde_json::Value>,
    /// The status returned; 0 when the connection was dropped (injected reset).
    pub status: u16,
    /// S3 front: request body bytes received.
    pub bytes: Option<u64>,
    /// The injected fault, if one hit this request (`status=503`, `429=5`, `reset`).
    pub fault: Option<String>,
}

/// A finished upload that breaks the contract (§6): it is recorded, never hidden, and the
/// server still answers as PostHog would.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    pub symbol_set_id: String,
    #[serde(rename = "ref")]
    pub ref_: String,
    pub storage_ptr: String,
    /// Which check failed: `container` (not a posthog-symbol-data SourceAndMap), `map_json`
    /// (the map is not a JSON object). The map's `chunk_id` is not checked: PostHog never reads it.
    pub kind: String,
    pub detail: String,
}
