//! API error responses in drf-exceptions-hog's shape, `{"type","code","detail","attr"}` (§2.8),
//! and the bare `{"detail": ...}` bodies some views return directly.

use http::StatusCode;
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Value,
    pub headers: Vec<(String, String)>,
}

impl ApiError {
    fn hog(status: StatusCode, typ: &str, code: &str, detail: &str, attr: Option<&str>) -> ApiError {
        ApiError {
            status,
            body: json!({"type": typ, "code": code, "detail": detail, "attr": attr}),
            headers: Vec::new(),
        }
    }

    /// A DRF `ValidationError(code=..., detail=...)`: 400.
    pub fn validation(code: &str, detail: impl AsRef<str>) -> ApiError {
        ApiError::hog(
            StatusCode::BAD_REQUEST,
            "validation_error",
            code,
            detail.as_ref(),
            None,
        )
    }

    /// A serializer field error (`required`, `invalid`, `blank`, `invalid_choice`, ...).
    pub fn field(code: &str, detail: impl AsRef<str>, attr: &str) -> ApiError {
        ApiError::hog(
            StatusCode::BAD_REQUEST,
            "validation_error",
            code,
            detail.as_ref(),
            Some(attr),
        )
    }

    /// A view's own `Response({"detail": ...}, status=...)`.
    pub fn plain(status: StatusCode, detail: &str) -> ApiError {
        ApiError {
            status,
            body: json!({"detail": detail}),
            headers: Vec::new(),
        }
    }

    pub fn not_found() -> ApiError {
        ApiError::hog(
            StatusCode::NOT_FOUND,
            "invalid_request",
            "not_found",
            "Not found.",
            None,
        )
    }

    pub fn project_not_found() -> ApiError {
        ApiError::hog(
            StatusCode::NOT_FOUND,
            "invalid_request",
            "not_found",
            "Project not found.",
            None,
        )
    }

    pub fn method_not_allowed(method: &str) -> ApiError {
        ApiError::hog(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "method_not_allowed",
            &format!("Method \"{method}\" not allowed."),
            None,
        )
    }

    pub fn unsupported_media_type(ct: &str) -> ApiError {
        ApiError::hog(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            "unsupported_media_type",
            &format!("Unsupported media type \"{ct}\" in request."),
            None,
        )
    }

    pub fn parse_error(detail: &str) -> ApiError {
        ApiError::hog(
            StatusCode::BAD_REQUEST,
            "validation_error",
            "parse_error",
            &format!("JSON parse error - {detail}"),
            None,
        )
    }

    pub fn not_authenticated() -> ApiError {
        ApiError::hog(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "not_authenticated",
            "Authentication credentials were not provided.",
            None,
        )
    }

    pub fn authentication_failed() -> ApiError {
        ApiError::hog(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "authentication_failed",
            "Invalid personal API key.",
            None,
        )
    }

    pub fn missing_scope(scope: &str) -> ApiError {
        ApiError::hog(
            StatusCode::FORBIDDEN,
            "authentication_error",
            "permission_denied",
            &format!("API key missing required scope '{scope}'"),
            None,
        )
    }

    pub fn throttled(retry_after: u64) -> ApiError {
        let mut e = ApiError::hog(
            StatusCode::TOO_MANY_REQUESTS,
            "throttled_error",
            "throttled",
            &format!("Request was throttled. Expected available in {retry_after} seconds."),
            None,
        );
        e.headers.push(("retry-after".into(), retry_after.to_string()));
        e
    }

    pub fn server_error() -> ApiError {
        ApiError::hog(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "error",
            "A server error occurred.",
            None,
        )
    }

    pub fn is_code(&self, code: &str) -> bool {
        self.body.get("code").and_then(Value::as_str) == Some(code)
    }
}
