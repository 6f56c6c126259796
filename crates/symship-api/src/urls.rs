//! API URLs that keep the host's path prefix.
//!
//! posthog-cli joins `api/projects/{id}/` onto the host with RFC 3986 reference resolution, so
//! `https://example.com/posthog` loses `posthog`. Here path segments are appended instead:
//! `https://example.com/posthog` + `api/projects/1/error_tracking/releases` =
//! `https://example.com/posthog/api/projects/1/error_tracking/releases`.

use url::Url;

use crate::error::ApiError;

/// Append path segments (each percent-encoded as one segment) to `base`, keeping its path.
/// An empty last segment gives a trailing slash.
pub fn join_segments(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    {
        let mut path = url.path_segments_mut().expect("http(s) URLs have a path");
        path.pop_if_empty();
        path.extend(segments);
    }
    url
}

/// The base of every error-tracking call: `{host}/api/projects/{project_id}/error_tracking/`.
pub fn project_url(host: &Url, project_id: u64, segments: &[&str]) -> Url {
    let id = project_id.to_string();
    let mut all = vec!["api", "projects", id.as_str(), "error_tracking"];
    all.extend_from_slice(segments);
    join_segments(host, &all)
}

/// Check a release `hash_id` before it goes into a path: 1-128 of `[A-Za-z0-9_-]`
/// (the server's route accepts `[^/.]+`; our hashes are hex).
pub fn check_hash_id(hash_id: &str) -> Result<(), ApiError> {
    let ok_chars = hash_id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if hash_id.is_empty() || hash_id.len() > 128 || !ok_chars {
        return Err(ApiError::InvalidId {
            what: "release hash_id",
            value: hash_id.chars().take(140).collect(),
            reason: "expected 1-128 letters, digits, '-' or '_'",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn keeps_path_prefix_with_or_without_trailing_slash() {
        for host in ["https://example.com/posthog", "https://example.com/posthog/"] {
            assert_eq!(
                project_url(&u(host), 1, &["releases", "hash", "abc"]).as_str(),
                "https://example.com/posthog/api/projects/1/error_tracking/releases/hash/abc"
            );
        }
        assert_eq!(
            project_url(&u("https://example.com/a/b/"), 7, &["symbol_sets", ""]).as_str(),
            "https://example.com/a/b/api/projects/7/error_tracking/symbol_sets/"
        );
    }

    #[test]
    fn plain_hosts() {
        assert_eq!(
            project_url(
                &u("https://us.i.posthog.com"),
                2,
                &["symbol_sets", "bulk_start_upload"]
            )
            .as_str(),
            "https://us.i.posthog.com/api/projects/2/error_tracking/symbol_sets/bulk_start_upload"
        );
        assert_eq!(
            project_url(&u("http://127.0.0.1:8080/"), 2, &["releases"]).as_str(),
            "http://127.0.0.1:8080/api/projects/2/error_tracking/releases"
        );
    }

    #[test]
    fn segments_are_encoded_not_interpreted() {
        let url = join_segments(&u("https://h/p"), &["a/b", "c?d", "e#f"]);
        assert_eq!(url.as_str(), "https://h/p/a%2Fb/c%3Fd/e%23f");
    }

    #[test]
    fn hash_ids_are_checked() {
        assert!(check_hash_id(&"a".repeat(128)).is_ok());
        assert!(check_hash_id("5fddd88a65199cea").is_ok());
        for bad in ["", "..", "a/b", "a.b", "a?b", &"a".repeat(129)] {
            assert!(check_hash_id(bad).is_err(), "{bad:?}");
        }
    }
}
