//! The few Info.plist keys a release needs, from an XML property list.

use std::collections::HashMap;
use std::path::Path;

use symship_api::env::Env;

/// Name, version and build from an Info.plist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlistRelease {
    /// `CFBundleIdentifier`, else `$PRODUCT_BUNDLE_IDENTIFIER`.
    pub name: Option<String>,
    /// `CFBundleShortVersionString`, else `$MARKETING_VERSION`.
    pub version: Option<String>,
    /// `CFBundleVersion`, else `$CURRENT_PROJECT_VERSION`.
    pub build: Option<String>,
}

/// Read an XML Info.plist. Binary plists are refused with a message saying how to convert.
pub fn read_info_plist(path: &Path, env: &dyn Env) -> Result<PlistRelease, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("could not read it: {e}"))?;
    if bytes.starts_with(b"bplist") {
        return Err(
            "binary property lists are not supported yet; convert it with `plutil -convert xml1 <file>`"
                .into(),
        );
    }
    let text = String::from_utf8(bytes).map_err(|_| "it is not UTF-8 XML".to_owned())?;
    if !text.contains("<plist") {
        return Err("it is not an XML property list (no <plist> element)".into());
    }
    let strings = top_level_strings(&text);
    let get = |key: &str, fallback_var: &str| {
        strings
            .get(key)
            .and_then(|v| expand(v, env))
            .or_else(|| env.var(fallback_var))
            .filter(|v| !v.trim().is_empty())
    };
    Ok(PlistRelease {
        name: get("CFBundleIdentifier", "PRODUCT_BUNDLE_IDENTIFIER"),
        version: get("CFBundleShortVersionString", "MARKETING_VERSION"),
        build: get("CFBundleVersion", "CURRENT_PROJECT_VERSION"),
    })
}

/// An exact `$(VAR)` or `${VAR}` reference is replaced by the variable (None if unset);
/// anything else is kept as is.
fn expand(value: &str, env: &dyn Env) -> Option<String> {
    let v = value.trim();
    let var = v
        .strip_prefix("$(")
        .and_then(|r| r.strip_suffix(')'))
        .or_else(|| v.strip_prefix("${").and_then(|r| r.strip_suffix('}')));
    match var {
        Some(name) if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
            env.var(name)
        }
        _ => Some(v.to_owned()),
    }
}

/// `<key>K</key><string>V</string>` pairs (first occurrence wins, as the top-level dict
/// comes first in an Info.plist).
fn top_level_strings(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = text;
    while let Some(k) = rest.find("<key>") {
        let after = &rest[k + 5..];
        let Some(kend) = after.find("</key>") else { break };
        let key = unescape(after[..kend].trim());
        let tail = after[kend + 6..].trim_start();
        if let Some(val) = tail.strip_prefix("<string>") {
            if let Some(vend) = val.find("</string>") {
                out.entry(key).or_insert_with(|| unescape(&val[..vend]));
            }
        }
        rest = &after[kend + 6..];
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "tests build fixtures in temporary directories"
)]
mod tests {
    use super::*;
    use symship_api::env::MapEnv;

    #[test]
    fn reads_xml_plist_with_variable_references() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("Info.plist");
        std::fs::write(
            &p,
            r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
  <key>CFBundleIdentifier</key>
  <string>$(PRODUCT_BUNDLE_IDENTIFIER)</string>
  <key>CFBundleShortVersionString</key><string>2.1&amp;x</string>
  <key>CFBundleVersion</key>
  <string>${CURRENT_PROJECT_VERSION}</string>
</dict></plist>"#,
        )
        .unwrap();
        let env = MapEnv::new()
            .with("PRODUCT_BUNDLE_IDENTIFIER", "com.example.app")
            .with("CURRENT_PROJECT_VERSION", "42");
        let r = read_info_plist(&p, &env).unwrap();
        assert_eq!(
            r,
            PlistRelease {
                name: Some("com.example.app".into()),
                version: Some("2.1&x".into()),
                build: Some("42".into())
            }
        );
        let r = read_info_plist(&p, &MapEnv::new()).unwrap();
        assert_eq!(r.name, None);
        assert_eq!(r.build, None);
        std::fs::write(&p, b"bplist00\x01\x02").unwrap();
        assert!(read_info_plist(&p, &env)
            .unwrap_err()
            .contains("not supported yet"));
    }
}
