//! Request and response bodies (spec §2 and §4). Field order of the request structs is the
//! wire order posthog-cli 0.19.0 sends (Appendix A).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

/// One symbol set in `bulk_check_upload` / `bulk_start_upload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymbolSetUpload {
    pub chunk_id: String,
    pub release_id: Option<Uuid>,
    pub content_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_length: Option<u64>,
}

/// `POST symbol_sets/bulk_check_upload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkCheckRequest {
    pub symbol_sets: Vec<SymbolSetUpload>,
    pub force: bool,
    pub skip_on_conflict: bool,
}

/// `200 {"chunk_ids_to_upload":[...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkCheckResponse {
    pub chunk_ids_to_upload: Vec<String>,
}

/// `POST symbol_sets/bulk_start_upload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkStartRequest {
    pub symbol_sets: Vec<SymbolSetUpload>,
    pub upload_attempt_id: Uuid,
    pub upload_run_id: Uuid,
    pub force: bool,
    pub skip_on_conflict: bool,
}

/// A presigned POST target: `url` plus form `fields` in the server's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresignedPost {
    pub url: String,
    #[serde(deserialize_with = "ordered_string_map", serialize_with = "ser_pairs")]
    pub fields: Vec<(String, String)>,
}

/// Where to send one symbol set's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartedUpload {
    pub symbol_set_id: Uuid,
    pub presigned_url: PresignedPost,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_presigned_url: Option<PresignedPost>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presigned_put_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_presigned_put_url: Option<String>,
}

/// `201 {"id_map":{chunk_id: StartedUpload}}`; chunks absent from it need no upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkStartResponse {
    pub id_map: BTreeMap<String, StartedUpload>,
}

/// `POST symbol_sets/bulk_finish_upload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkFinishRequest {
    /// symbol_set_id -> content_hash.
    pub content_hashes: BTreeMap<Uuid, String>,
    pub upload_attempt_id: Uuid,
    pub upload_run_id: Uuid,
}

/// `201 {"success":true}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkFinishResponse {
    #[serde(default)]
    pub success: bool,
}

/// A release as the server returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    pub id: Uuid,
    pub hash_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    pub version: String,
    pub project: String,
}

/// `POST releases`. Key order as posthog-cli: metadata (omitted when empty), hash_id, version,
/// project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateRelease {
    #[serde(default, skip_serializing_if = "metadata_is_empty")]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_id: Option<String>,
    pub version: String,
    pub project: String,
}

fn metadata_is_empty(m: &Option<serde_json::Map<String, serde_json::Value>>) -> bool {
    m.as_ref().is_none_or(|m| m.is_empty())
}

/// `PATCH releases/{id}`: only the fields that are set are sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateRelease {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

/// A symbol set (newest contract; older servers send `storage_ptr` instead of
/// `has_uploaded_file`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymbolSet {
    pub id: Uuid,
    #[serde(rename = "ref")]
    pub reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_uploaded_file: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_ptr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<Release>,
}

impl SymbolSet {
    /// Whether the bytes are stored (either contract).
    pub fn is_uploaded(&self) -> bool {
        self.has_uploaded_file.unwrap_or(self.storage_ptr.is_some())
    }
}

/// A LimitOffset page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub previous: Option<String>,
    pub results: Vec<T>,
}

/// `status` filter of the symbol set list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SymbolSetStatus {
    All,
    Valid,
    Invalid,
}

impl SymbolSetStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SymbolSetStatus::All => "all",
            SymbolSetStatus::Valid => "valid",
            SymbolSetStatus::Invalid => "invalid",
        }
    }
}

/// `order_by` of the symbol set list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymbolSetOrder {
    CreatedAt,
    CreatedAtDesc,
    Ref,
    RefDesc,
    LastUsed,
    LastUsedDesc,
}

impl SymbolSetOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            SymbolSetOrder::CreatedAt => "created_at",
            SymbolSetOrder::CreatedAtDesc => "-created_at",
            SymbolSetOrder::Ref => "ref",
            SymbolSetOrder::RefDesc => "-ref",
            SymbolSetOrder::LastUsed => "last_used",
            SymbolSetOrder::LastUsedDesc => "-last_used",
        }
    }
}

/// Query of `GET symbol_sets/`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SymbolSetQuery {
    /// Exact chunk id.
    pub reference: Option<String>,
    pub search: Option<String>,
    pub status: Option<SymbolSetStatus>,
    pub order_by: Option<SymbolSetOrder>,
    /// Page size (server max 100).
    pub limit: Option<u32>,
    pub offset: Option<u64>,
    /// `Some(false)` makes the server skip counting (`count` is null).
    pub include_count: Option<bool>,
}

impl SymbolSetQuery {
    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(r) = &self.reference {
            q.push(("ref", r.clone()));
        }
        if let Some(s) = &self.search {
            q.push(("search", s.clone()));
        }
        if let Some(s) = self.status {
            q.push(("status", s.as_str().to_owned()));
        }
        if let Some(o) = self.order_by {
            q.push(("order_by", o.as_str().to_owned()));
        }
        if let Some(c) = self.include_count {
            q.push(("include_count", c.to_string()));
        }
        if let Some(l) = self.limit {
            q.push(("limit", l.to_string()));
        }
        if let Some(o) = self.offset {
            q.push(("offset", o.to_string()));
        }
        q
    }
}

/// `POST symbol_sets/bulk_delete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkDeleteRequest {
    pub ids: Vec<Uuid>,
}

/// `200 {"deleted":N}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkDeleteResponse {
    pub deleted: u64,
}

/// `200 {"url":"<presigned GET>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadUrl {
    pub url: String,
}

fn ordered_string_map<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    let map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
    map.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k, s)),
            other => Err(serde::de::Error::custom(format!(
                "presigned field {k:?} is not a string: {other}"
            ))),
        })
        .collect()
}

fn ser_pairs<S: serde::Serializer>(pairs: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap as _;
    let mut m = s.serialize_map(Some(pairs.len()))?;
    for (k, v) in pairs {
        m.serialize_entry(k, v)?;
    }
    m.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_key_order_matches_posthog_cli() {
        let set = SymbolSetUpload {
            chunk_id: "c".into(),
            release_id: None,
            content_hash: Some("h".into()),
            content_length: Some(431),
        };
        let check = BulkCheckRequest {
            symbol_sets: vec![set.clone()],
            force: true,
            skip_on_conflict: false,
        };
        assert_eq!(
            serde_json::to_string(&check).unwrap(),
            r#"{"symbol_sets":[{"chunk_id":"c","release_id":null,"content_hash":"h","content_length":431}],"force":true,"skip_on_conflict":false}"#
        );
        let id = Uuid::nil();
        let start = BulkStartRequest {
            symbol_sets: vec![set],
            upload_attempt_id: id,
            upload_run_id: id,
            force: false,
            skip_on_conflict: false,
        };
        let json = serde_json::to_string(&start).unwrap();
        let keys: Vec<_> = [
            "symbol_sets",
            "upload_attempt_id",
            "upload_run_id",
            "force",
            "skip_on_conflict",
        ]
        .iter()
        .map(|k| json.find(&format!("\"{k}\"")).unwrap())
        .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{json}");
        let finish = BulkFinishRequest {
            content_hashes: BTreeMap::from([(id, "h".into())]),
            upload_attempt_id: id,
            upload_run_id: id,
        };
        assert_eq!(
            serde_json::to_string(&finish).unwrap(),
            format!(
                r#"{{"content_hashes":{{"{id}":"h"}},"upload_attempt_id":"{id}","upload_run_id":"{id}"}}"#
            )
        );
    }

    #[test]
    fn create_release_omits_empty_metadata() {
        let mut c = CreateRelease {
            metadata: None,
            hash_id: Some("5f".into()),
            version: "1.0.0".into(),
            project: "my-app".into(),
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"hash_id":"5f","version":"1.0.0","project":"my-app"}"#
        );
        c.metadata = Some(serde_json::Map::new());
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"hash_id":"5f","version":"1.0.0","project":"my-app"}"#
        );
        let mut m = serde_json::Map::new();
        m.insert("git".into(), serde_json::json!({"branch":"main"}));
        c.metadata = Some(m);
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"metadata":{"git":{"branch":"main"}},"hash_id":"5f","version":"1.0.0","project":"my-app"}"#
        );
    }

    #[test]
    fn start_response_old_and_new_shapes() {
        let new = r#"{"id_map":{"c1":{"symbol_set_id":"00000000-0000-0000-0000-000000000001",
            "presigned_url":{"url":"http://s3/","fields":{"key":"symbolsets/x","policy":"p","x-amz-signature":"s"}},
            "presigned_put_url":"http://s3/b/k?sig"}}}"#;
        let r: BulkStartResponse = serde_json::from_str(new).unwrap();
        let up = &r.id_map["c1"];
        assert_eq!(up.presigned_url.fields[0], ("key".into(), "symbolsets/x".into()));
        assert_eq!(up.presigned_url.fields[2].0, "x-amz-signature");
        assert_eq!(up.presigned_put_url.as_deref(), Some("http://s3/b/k?sig"));
        let old = r#"{"id_map":{"c1":{"symbol_set_id":"00000000-0000-0000-0000-000000000001","presigned_url":{"url":"u","fields":{}}}}}"#;
        let r: BulkStartResponse = serde_json::from_str(old).unwrap();
        assert!(
            r.id_map["c1"].presigned_put_url.is_none() && r.id_map["c1"].fallback_presigned_url.is_none()
        );
        let bad = r#"{"id_map":{"c1":{"symbol_set_id":"../etc","presigned_url":{"url":"u","fields":{}}}}}"#;
        assert!(
            serde_json::from_str::<BulkStartResponse>(bad).is_err(),
            "ids from the server are validated as UUIDs"
        );
    }

    #[test]
    fn symbol_set_contracts() {
        let s: SymbolSet = serde_json::from_str(r#"{"id":"00000000-0000-0000-0000-000000000001","ref":"r","storage_ptr":"symbolsets/x","release":null}"#).unwrap();
        assert!(s.is_uploaded());
        let s: SymbolSet = serde_json::from_str(
            r#"{"id":"00000000-0000-0000-0000-000000000001","ref":"r","has_uploaded_file":false}"#,
        )
        .unwrap();
        assert!(!s.is_uploaded());
    }
}
