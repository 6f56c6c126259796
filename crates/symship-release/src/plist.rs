//! The few Info.plist keys a release needs, from an XML or binary property list.
//!
//! Read as posthog-cli 0.19.0 reads `--info-plist` (`utils/xcode.rs`, `PlistInfo`): the `plist`
//! crate parses the file (XML, binary `bplist00` as Xcode builds into apps, or ASCII), the root must
//! be a dictionary, each key counts only as a string value of that dictionary, and a value is
//! either a literal (kept as is when it names no build setting) or exactly one `$(VAR)` / `${VAR}`
//! reference, resolved from the environment.

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

/// Reads an Info.plist (XML, binary or ASCII property list). `Err` says why it cannot be used
/// (unreadable, not a property list, root not a dictionary).
pub fn read_info_plist(path: &Path, env: &dyn Env) -> Result<PlistRelease, String> {
    let dict = dictionary(path)?;
    let get = |key: &str, fallback_var: &str| {
        match dict.get(key).and_then(::plist::Value::as_string) {
            Some(v) => resolve(v, env),
            None => None,
        }
        .or_else(|| env.var(fallback_var).and_then(|v| literal(&v)))
    };
    Ok(PlistRelease {
        name: get("CFBundleIdentifier", "PRODUCT_BUNDLE_IDENTIFIER"),
        version: get("CFBundleShortVersionString", "MARKETING_VERSION"),
        build: get("CFBundleVersion", "CURRENT_PROJECT_VERSION"),
    })
}

/// The `dsym_info` release metadata posthog-cli 0.19.0's `dsym upload` stores (its `PlistInfo`,
/// serialised): four string values of the main dSYM's `Contents/Info.plist` as written there (no
/// build-setting resolution, as posthog-cli reads that file), `null` when absent or not a string.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DsymInfo {
    #[serde(rename = "CFBundleIdentifier")]
    pub bundle_identifier: Option<String>,
    #[serde(rename = "CFBundleShortVersionString")]
    pub short_version: Option<String>,
    #[serde(rename = "CFBundleVersion")]
    pub bundle_version: Option<String>,
    #[serde(rename = "CFBundleDevelopmentRegion")]
    pub development_region: Option<String>,
}

/// Reads [`DsymInfo`] from a dSYM's `Contents/Info.plist`. `Err` says why it cannot be used
/// (unreadable, not a property list, root not a dictionary).
pub fn read_dsym_info(path: &Path) -> Result<DsymInfo, String> {
    let dict = dictionary(path)?;
    let get = |key: &str| {
        dict.get(key)
            .and_then(::plist::Value::as_string)
            .map(str::to_owned)
    };
    Ok(DsymInfo {
        bundle_identifier: get("CFBundleIdentifier"),
        short_version: get("CFBundleShortVersionString"),
        bundle_version: get("CFBundleVersion"),
        development_region: get("CFBundleDevelopmentRegion"),
    })
}

/// The root dictionary of a property list file (XML, binary or ASCII).
fn dictionary(path: &Path) -> Result<::plist::Dictionary, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("could not read it: {e}"))?;
    let value = ::plist::Value::from_reader(std::io::BufReader::new(file))
        .map_err(|e| format!("it is not a valid property list: {e}"))?;
    value
        .into_dictionary()
        .ok_or_else(|| "its root is not a dictionary".to_owned())
}

/// An exact `$(VAR)` or `${VAR}` reference is replaced by the variable (None if unset or not a
/// literal itself); any other value is kept when it is a [`literal`].
fn resolve(value: &str, env: &dyn Env) -> Option<String> {
    let var = value
        .strip_prefix("$(")
        .and_then(|r| r.strip_suffix(')'))
        .or_else(|| value.strip_prefix("${").and_then(|r| r.strip_suffix('}')));
    match var {
        Some(name) if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
            env.var(name).and_then(|v| literal(&v))
        }
        _ => literal(value),
    }
}

/// A value used as it is: not empty and with no (partial) build-setting reference left in it.
fn literal(value: &str) -> Option<String> {
    (!value.is_empty() && !value.contains("$(") && !value.contains("${")).then(|| value.to_owned())
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
  <key>Nested</key><dict><key>CFBundleIdentifier</key><string>not.this</string></dict>
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
    }

    #[test]
    fn reads_a_binary_plist() {
        // fixtures/native/plist/Info-binary.plist: bplist00 by Python's plistlib, as Xcode builds
        // an app's Info.plist; posthog-cli 0.19.0 reads it as com.example.bin 3.1 (77)
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/native/plist/Info-binary.plist");
        assert!(std::fs::read(&p).unwrap().starts_with(b"bplist00"));
        let r = read_info_plist(&p, &MapEnv::new()).unwrap();
        assert_eq!(
            r,
            PlistRelease {
                name: Some("com.example.bin".into()),
                version: Some("3.1".into()),
                build: Some("77".into())
            }
        );
    }

    #[test]
    fn partial_references_and_non_strings_are_not_values() {
        // posthog-cli 0.19.0's resolve_build_setting_value: "v$(VERSION)" is neither a literal
        // nor an exact reference; an integer CFBundleVersion is not a string
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("Info.plist");
        std::fs::write(
            &p,
            r#"<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
  <key>CFBundleShortVersionString</key><string>v$(VERSION)</string>
  <key>CFBundleVersion</key><integer>7</integer>
</dict></plist>"#,
        )
        .unwrap();
        let env = MapEnv::new()
            .with("VERSION", "1")
            .with("MARKETING_VERSION", "3.0");
        let r = read_info_plist(&p, &env).unwrap();
        assert_eq!(r.version.as_deref(), Some("3.0"), "the fallback variable");
        assert_eq!(r.build, None);
    }

    #[test]
    fn refuses_what_is_not_a_dictionary_plist() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("Info.plist");
        std::fs::write(&p, b"bplist00\x01\x02").unwrap();
        let e = read_info_plist(&p, &MapEnv::new()).unwrap_err();
        assert!(e.contains("not a valid property list"), "{e}");
        std::fs::write(
            &p,
            r#"<?xml version="1.0"?><plist version="1.0"><array/></plist>"#,
        )
        .unwrap();
        let e = read_info_plist(&p, &MapEnv::new()).unwrap_err();
        assert!(e.contains("not a dictionary"), "{e}");
        let e = read_info_plist(&dir.path().join("missing.plist"), &MapEnv::new()).unwrap_err();
        assert!(e.contains("could not read it"), "{e}");
    }
}
