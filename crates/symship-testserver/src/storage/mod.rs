//! Object storage: the real S3 server (s3s-fs, a child process), the S3 front that clients talk
//! to, and the signed requests the API server makes (posthog's `object_storage` module).

pub mod front;
pub mod s3fs;
pub mod sigv4;

use std::net::SocketAddr;

use http::{Method, Request};
use serde_json::json;
use time::OffsetDateTime;

use crate::http::{bodyless, full, BoxError, ClientResponse, Upstream};
use sigv4::Credentials;

/// `ONE_HUNDRED_MEGABYTES` of the server.
pub const MAX_SIZE: u64 = 100 * 1024 * 1024;
/// `PRESIGNED_MULTIPLE_UPLOAD_TIMEOUT`.
pub const UPLOAD_EXPIRY_SECS: u64 = 300;
/// The legacy `start_upload` presigned POST (`get_presigned_post` default).
pub const LEGACY_UPLOAD_EXPIRY_SECS: u64 = 3600;
/// `get_presigned_url(..., expiration=3600)` for downloads.
pub const DOWNLOAD_EXPIRY_SECS: u64 = 3600;
/// `OBJECT_STORAGE_ERROR_TRACKING_SOURCE_MAPS_FOLDER`.
pub const FOLDER: &str = "symbolsets";

/// The signing identity and the endpoints: s3s-fs itself (for the server's own requests), the
/// standard S3 front and, with transfer acceleration, the accelerated front.
#[derive(Debug, Clone)]
pub struct ObjectStorage {
    pub creds: Credentials,
    pub bucket: String,
    /// s3s-fs, through kept connections: the server's own requests and the fronts' forwards.
    pub s3: Upstream,
    pub front: SocketAddr,
    pub accel_front: Option<SocketAddr>,
    /// [`crate::Mode::public_storage_host`]: the host upload URLs name instead of the fronts.
    pub public_host: Option<String>,
}

/// `generate_symbol_set_upload_presigned_urls`: the POST (and fallback), and when the length is
/// declared the PUT (and fallback).
#[derive(Debug, Clone)]
pub struct UploadUrls {
    pub presigned_url: serde_json::Value,
    pub fallback_presigned_url: Option<serde_json::Value>,
    pub presigned_put_url: Option<String>,
    pub fallback_presigned_put_url: Option<String>,
}

impl UploadUrls {
    pub fn into_json(self, symbol_set_id: Option<String>) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("presigned_url".into(), self.presigned_url);
        if let Some(f) = self.fallback_presigned_url {
            m.insert("fallback_presigned_url".into(), f);
        }
        if let Some(p) = self.presigned_put_url {
            m.insert("presigned_put_url".into(), json!(p));
        }
        if let Some(p) = self.fallback_presigned_put_url {
            m.insert("fallback_presigned_put_url".into(), json!(p));
        }
        if let Some(id) = symbol_set_id {
            m.insert("symbol_set_id".into(), json!(id));
        }
        serde_json::Value::Object(m)
    }
}

impl ObjectStorage {
    /// `f"{FOLDER}/{uuid7()}"`
    pub fn new_key() -> String {
        format!("{FOLDER}/{}", uuid::Uuid::now_v7())
    }

    fn object_path(&self, key: &str) -> String {
        format!("/{}/{}", self.bucket, key)
    }

    /// boto3 `generate_presigned_post` with `["content-length-range", 0, 100 MiB]`.
    pub fn presigned_post(
        &self,
        at: &str,
        key: &str,
        expires: u64,
        now: OffsetDateTime,
    ) -> serde_json::Value {
        let fields = self.creds.presign_post(
            &self.bucket,
            key,
            vec![json!(["content-length-range", 0, MAX_SIZE])],
            now,
            expires,
        );
        let fields: serde_json::Map<String, serde_json::Value> =
            fields.into_iter().map(|(k, v)| (k, json!(v))).collect();
        json!({"url": format!("http://{at}/{}", self.bucket), "fields": fields})
    }

    /// A PUT URL signed for exactly `content_length` bytes.
    pub fn presigned_put(
        &self,
        at: &str,
        key: &str,
        content_length: u64,
        expires: u64,
        now: OffsetDateTime,
    ) -> String {
        self.creds.presign_url(
            "PUT",
            at,
            &self.object_path(key),
            &[("content-length", content_length.to_string())],
            now,
            expires,
        )
    }

    pub fn presigned_get(&self, key: &str, expires: u64, now: OffsetDateTime) -> String {
        self.creds.presign_url(
            "GET",
            &self.front.to_string(),
            &self.object_path(key),
            &[],
            now,
            expires,
        )
    }

    /// The host an upload URL names for a front: the front itself, or the configured public
    /// host (which may be unreachable, as a self-hosted server's internal storage name is).
    pub fn upload_host(&self, front: SocketAddr) -> String {
        self.public_host.clone().unwrap_or_else(|| front.to_string())
    }

    /// The URLs `bulk_start_upload` hands out for one key.
    pub fn upload_urls(
        &self,
        key: &str,
        content_length: Option<u64>,
        expires: u64,
        offer_put: bool,
        now: OffsetDateTime,
    ) -> UploadUrls {
        let (primary, fallback) = match self.accel_front {
            Some(accel) => (self.upload_host(accel), Some(self.upload_host(self.front))),
            None => (self.upload_host(self.front), None),
        };
        let (primary, fallback) = (primary.as_str(), fallback.as_deref());
        let put = content_length.filter(|_| offer_put);
        UploadUrls {
            presigned_url: self.presigned_post(primary, key, expires, now),
            fallback_presigned_url: fallback.map(|f| self.presigned_post(f, key, expires, now)),
            presigned_put_url: put.map(|n| self.presigned_put(primary, key, n, expires, now)),
            fallback_presigned_put_url: put
                .and_then(|n| fallback.map(|f| self.presigned_put(f, key, n, expires, now))),
        }
    }

    /// A bodyless request for the object, signed with SigV4 headers, straight to s3s-fs.
    async fn signed(&self, method: Method, key: &str) -> Result<ClientResponse, BoxError> {
        let path = self.object_path(key);
        let host = self.s3.addr().to_string();
        let mut headers = self
            .creds
            .sign_headers(method.as_str(), &host, &path, OffsetDateTime::now_utc());
        headers.push(("host".into(), host));
        self.s3
            .send(bodyless(method, &sigv4::uri_encode(&path, false), &headers))
            .await
    }

    /// `head_object`: the object's `ContentLength`, or `None` when it does not exist.
    pub async fn head(&self, key: &str) -> Result<Option<u64>, BoxError> {
        let resp = self.signed(Method::HEAD, key).await?;
        match resp.status.as_u16() {
            200 => Ok(Some(
                resp.headers
                    .get(http::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .ok_or("HEAD answered without content-length")?,
            )),
            404 => Ok(None),
            s => Err(format!("S3 HEAD {key} answered {s}").into()),
        }
    }

    /// A signed GET of the object, `None` when it does not exist.
    pub async fn get(&self, key: &str) -> Result<Option<bytes::Bytes>, BoxError> {
        let resp = self.signed(Method::GET, key).await?;
        match resp.status.as_u16() {
            200 => Ok(Some(resp.body)),
            404 => Ok(None),
            s => Err(format!(
                "S3 GET {key} answered {s}: {}",
                String::from_utf8_lossy(&resp.body)
            )
            .into()),
        }
    }

    /// `object_storage.write`: the server stores bytes itself (legacy `create`), through a
    /// presigned PUT straight to s3s-fs.
    pub async fn put(&self, key: &str, data: bytes::Bytes) -> Result<(), BoxError> {
        let url = self.presigned_put(
            &self.s3.addr().to_string(),
            key,
            data.len() as u64,
            60,
            OffsetDateTime::now_utc(),
        );
        let pq = url
            .split_once(&self.s3.addr().to_string())
            .map(|(_, r)| r.to_owned())
            .unwrap_or_default();
        let req = Request::builder()
            .method(Method::PUT)
            .uri(pq)
            .header("host", self.s3.addr().to_string())
            .header("content-length", data.len())
            .body(full(data))?;
        let resp = self.s3.send(req).await?;
        if !resp.status.is_success() {
            return Err(format!(
                "S3 PUT {key} answered {}: {}",
                resp.status,
                String::from_utf8_lossy(&resp.body)
            )
            .into());
        }
        Ok(())
    }
}
