//! AWS Signature Version 4, written out by hand (HMAC-SHA256 chains), for the four kinds of
//! S3 request the PostHog server makes: a presigned POST policy (browser-style upload), a
//! query-signed (presigned) URL for PUT and GET, and a header-signed request (the finish HEAD).
//! s3s-fs is the verifier, so the tests that upload through these prove the signing.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

type HmacSha256 = Hmac<Sha256>;

/// SHA-256 of the empty string, the payload hash of a bodyless signed request.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The credentials and scope every signature uses.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
}

/// `20261122T044800Z`
pub fn amz_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `2026-11-22T04:53:00.000Z`, the policy document's `expiration`.
pub fn iso8601_millis(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

impl Credentials {
    fn scope(&self, date: &str) -> String {
        format!("{date}/{}/s3/aws4_request", self.region)
    }

    fn credential(&self, date: &str) -> String {
        format!("{}/{}", self.access_key, self.scope(date))
    }

    fn signing_key(&self, date: &str) -> Vec<u8> {
        let k_date = hmac(format!("AWS4{}", self.secret_key).as_bytes(), date.as_bytes());
        let k_region = hmac(&k_date, self.region.as_bytes());
        let k_service = hmac(&k_region, b"s3");
        hmac(&k_service, b"aws4_request")
    }

    fn sign(&self, date: &str, string_to_sign: &str) -> String {
        hex::encode(hmac(&self.signing_key(date), string_to_sign.as_bytes()))
    }

    fn string_to_sign(&self, amz_date: &str, canonical_request: &str) -> String {
        format!(
            "{ALGORITHM}\n{amz_date}\n{}\n{}",
            self.scope(&amz_date[..8]),
            sha256_hex(canonical_request.as_bytes())
        )
    }

    /// A presigned POST (as boto3's `generate_presigned_post`): the policy document with the
    /// bucket, the exact key, the `x-amz-*` fields and the given extra conditions, and the form
    /// fields a client must send before the `file` part.
    pub fn presign_post(
        &self,
        bucket: &str,
        key: &str,
        conditions: Vec<serde_json::Value>,
        now: OffsetDateTime,
        expires_secs: u64,
    ) -> Vec<(String, String)> {
        let amz = amz_date(now);
        let date = &amz[..8];
        let credential = self.credential(date);
        let expiration = now + time::Duration::seconds(expires_secs as i64);
        let mut all = vec![
            serde_json::json!({"bucket": bucket}),
            serde_json::json!({"key": key}),
            serde_json::json!({"x-amz-algorithm": ALGORITHM}),
            serde_json::json!({"x-amz-credential": credential}),
            serde_json::json!({"x-amz-date": amz}),
        ];
        all.extend(conditions);
        let policy = serde_json::json!({"expiration": iso8601_millis(expiration), "conditions": all});
        let policy_b64 = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
        let signature = self.sign(date, &policy_b64);
        vec![
            ("key".to_owned(), key.to_owned()),
            ("x-amz-algorithm".to_owned(), ALGORITHM.to_owned()),
            ("x-amz-credential".to_owned(), credential),
            ("x-amz-date".to_owned(), amz),
            ("policy".to_owned(), policy_b64),
            ("x-amz-signature".to_owned(), signature),
        ]
    }

    /// A query-signed URL: `{scheme_host}{path}?X-Amz-...&X-Amz-Signature=...`. `host` is the
    /// `host:port` the client will send (the S3 front), `extra_headers` are further signed
    /// headers (for a PUT: `content-length`, which pins the body length).
    pub fn presign_url(
        &self,
        method: &str,
        host: &str,
        path: &str,
        extra_headers: &[(&str, String)],
        now: OffsetDateTime,
        expires_secs: u64,
    ) -> String {
        let amz = amz_date(now);
        let date = &amz[..8];
        let mut headers: Vec<(String, String)> = extra_headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        headers.push(("host".to_owned(), host.to_owned()));
        headers.sort();
        let signed_headers = headers
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(";");
        let mut query = vec![
            ("X-Amz-Algorithm".to_owned(), ALGORITHM.to_owned()),
            ("X-Amz-Credential".to_owned(), self.credential(date)),
            ("X-Amz-Date".to_owned(), amz.clone()),
            ("X-Amz-Expires".to_owned(), expires_secs.to_string()),
            ("X-Amz-SignedHeaders".to_owned(), signed_headers.clone()),
        ];
        query.sort();
        let canonical_query = canonical_query(&query);
        let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let canonical_request = format!(
            "{method}\n{}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\nUNSIGNED-PAYLOAD",
            uri_encode(path, false)
        );
        let signature = self.sign(date, &self.string_to_sign(&amz, &canonical_request));
        format!(
            "http://{host}{}?{canonical_query}&X-Amz-Signature={signature}",
            uri_encode(path, false)
        )
    }

    /// Header signing for a bodyless request (HEAD or GET) made by the server itself. Returns the
    /// headers to send besides `host`.
    pub fn sign_headers(
        &self,
        method: &str,
        host: &str,
        path: &str,
        now: OffsetDateTime,
    ) -> Vec<(String, String)> {
        let amz = amz_date(now);
        let date = &amz[..8];
        let signed_headers = "host;x-amz-content-sha256;x-amz-date";
        let canonical_request = format!(
            "{method}\n{}\n\nhost:{host}\nx-amz-content-sha256:{EMPTY_SHA256}\nx-amz-date:{amz}\n\n{signed_headers}\n{EMPTY_SHA256}",
            uri_encode(path, false)
        );
        let signature = self.sign(date, &self.string_to_sign(&amz, &canonical_request));
        vec![
            (
                "authorization".to_owned(),
                format!(
                    "{ALGORITHM} Credential={}, SignedHeaders={signed_headers}, Signature={signature}",
                    self.credential(date)
                ),
            ),
            ("x-amz-content-sha256".to_owned(), EMPTY_SHA256.to_owned()),
            ("x-amz-date".to_owned(), amz),
        ]
    }
}

fn canonical_query(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", uri_encode(k, true), uri_encode(v, true)))
        .collect::<Vec<_>>()
        .join("&")
}

/// AWS URI encoding: everything but `A-Za-z0-9-_.~` is percent-encoded (upper-case hex); `/`
/// too unless it separates path segments.
pub fn uri_encode(s: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b'/' if !encode_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signing-key example of the AWS SigV4 documentation ("Deriving the signing key").
    #[test]
    fn signing_key_matches_aws_example() {
        let c = Credentials {
            access_key: "AKIDEXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            region: "us-east-1".into(),
        };
        // kSigning for 20120215/us-east-1/iam is documented; for s3 we check the chain shape
        // against the iam value by recomputing it the same way.
        let k_date = hmac(b"AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", b"20120215");
        let k_region = hmac(&k_date, b"us-east-1");
        let k_service = hmac(&k_region, b"iam");
        let k_signing = hmac(&k_service, b"aws4_request");
        assert_eq!(
            hex::encode(k_signing),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
        assert_eq!(c.signing_key("20120215").len(), 32);
    }

    #[test]
    fn uri_encoding_follows_aws_rules() {
        assert_eq!(uri_encode("a b/c~d", false), "a%20b/c~d");
        assert_eq!(uri_encode("AK/2026/us-east-1", true), "AK%2F2026%2Fus-east-1");
        assert_eq!(uri_encode("content-length;host", true), "content-length%3Bhost");
    }
}
