//! The personal API key, which must never be printed.

use std::fmt;

/// A PostHog personal API key. `Debug` and `Display` print `phx_…(redacted)`; the only way to
/// read it is [`ApiToken::expose`], used when building the `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(String);

impl ApiToken {
    /// Wrap a key. No validation here; see [`crate::config`] for the checks.
    pub fn new(value: impl Into<String>) -> ApiToken {
        ApiToken(value.into())
    }

    /// The secret itself. Only for the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The key's kind, from its prefix: `phx` (personal API key), `phc` (project token), ...
    /// Safe to print: it is at most the 3 characters before the first `_`.
    pub fn kind(&self) -> Option<&str> {
        let (prefix, _) = self.0.split_once('_')?;
        (prefix.len() <= 3 && prefix.bytes().all(|b| b.is_ascii_alphabetic())).then_some(prefix)
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind() {
            Some(kind) => write!(f, "{kind}_…(redacted)"),
            None => f.write_str("…(redacted)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let t = ApiToken::new("phx_SECRETSECRET");
        assert_eq!(format!("{t}"), "phx_…(redacted)");
        assert_eq!(format!("{t:?}"), "phx_…(redacted)");
        assert!(!format!("{:#?}", Some(&t)).contains("SECRET"));
        assert_eq!(t.expose(), "phx_SECRETSECRET");
        let odd = ApiToken::new("longprefix_SECRET");
        assert_eq!(format!("{odd}"), "…(redacted)");
        assert_eq!(ApiToken::new("nounderscore").kind(), None);
    }
}
