//! ProGuard and R8 mappings (`mapping.txt`) as symbol sets of kind ProguardMapping (spec
//! `kinds-and-explain.md` §2).
//!
//! - [`check`]: is a file a mapping PostHog can use? The test is `proguard::ProguardMapping::is_valid`
//!   (proguard 5.7, the parser posthog-cli 0.19.0 and PostHog's symbolication, cymbal, both gate
//!   on): among the first 50 records, a class line followed by a field or method line. R8's
//!   header lines (`# compiler: R8`, `# {"id":"com.android.tools.r8.mapping",...}`,
//!   `# pg_map_hash: ...`) are records and count toward the 50.
//! - [`Mapping`]: one mapping file under its map id, the [`SymbolSet`] the upload pipeline sends
//!   (payload: the file's text; ref: the map id verbatim, as posthog-cli sends `--map-id`).

use std::path::{Path, PathBuf};

use symship_core::container;
use symship_core::kind::Kind;
use symship_core::set::{digest, Context, Prepared, SetError, SymbolSet};
use symship_core::Code;

/// Why a file is not a usable mapping.
#[derive(Debug, thiserror::Error)]
pub enum ProguardError {
    #[error("cannot read the ProGuard mapping {path}: {source}")]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("{path} is not UTF-8 text, which a ProGuard or R8 mapping is: pass the mapping.txt R8 or ProGuard wrote (e.g. app/build/outputs/mapping/release/mapping.txt), not a copy re-encoded by an editor")]
    NotUtf8 { path: PathBuf },
    #[error("{path} is not a valid ProGuard mapping file: no class line followed by a field or method line in its first 50 lines (pass the mapping.txt R8 or ProGuard wrote, e.g. app/build/outputs/mapping/release/mapping.txt)")]
    Invalid { path: PathBuf },
}

impl ProguardError {
    /// Its code in symship's registry (title and hint there).
    pub fn code(&self) -> Code {
        match self {
            ProguardError::Unreadable { .. } => Code::Unreadable,
            ProguardError::NotUtf8 { .. } => Code::NotUtf8,
            ProguardError::Invalid { .. } => Code::InvalidMapping,
        }
    }
}

/// What [`check`] learned about a mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Bytes.
    pub len: u64,
    /// Whether it has R8's header (`# compiler: R8` within its first 20 records).
    pub r8: bool,
    /// Whether some method carries line numbers (without them PostHog maps names only).
    pub line_info: bool,
}

/// Reads `path` and checks it is a mapping (see the crate docs). Returns its text.
pub fn read(path: &Path) -> Result<(String, Summary), ProguardError> {
    let bytes = std::fs::read(path).map_err(|source| ProguardError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    let summary = check_bytes(path, &bytes)?;
    let text = String::from_utf8(bytes).map_err(|_| ProguardError::NotUtf8 {
        path: path.to_path_buf(),
    })?;
    Ok((text, summary))
}

/// Checks a mapping already read (see [`read`]).
pub fn check_bytes(path: &Path, bytes: &[u8]) -> Result<Summary, ProguardError> {
    if std::str::from_utf8(bytes).is_err() {
        return Err(ProguardError::NotUtf8 {
            path: path.to_path_buf(),
        });
    }
    let mapping = proguard::ProguardMapping::new(bytes);
    if !mapping.is_valid() {
        return Err(ProguardError::Invalid {
            path: path.to_path_buf(),
        });
    }
    // R8 writes `# compiler: R8` first (ProguardMapSupplier); the proguard crate reads it as a
    // plain header.
    let r8 = mapping.iter().take(20).any(|r| {
        matches!(
            r,
            Ok(proguard::ProguardRecord::Header {
                key: "compiler",
                value: Some("R8")
            })
        )
    });
    Ok(Summary {
        len: bytes.len() as u64,
        r8,
        line_info: mapping.has_line_info(),
    })
}

/// Checks a file is a mapping without keeping its text.
pub fn check(path: &Path) -> Result<Summary, ProguardError> {
    read(path).map(|(_, s)| s)
}

/// One mapping file and the map id it is uploaded under.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub path: PathBuf,
    /// The ref: `--map-id`, verbatim (posthog-android's Gradle plugin derives it; the app reports
    /// it as each Java frame's `map_id`).
    pub map_id: String,
}

fn skip(e: ProguardError) -> SetError {
    SetError::Skip {
        code: e.code(),
        reason: e.to_string(),
    }
}

impl SymbolSet for Mapping {
    fn kind(&self) -> Kind {
        Kind::ProguardMapping
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// The map id (`--map-id`, known before the mapping is read): a mapping too large to send
    /// is still named by it, as posthog-cli 0.19.0 names it.
    fn reference(&self) -> Option<String> {
        Some(self.map_id.clone())
    }

    fn input_len(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }

    /// Reads and checks the mapping and builds its container: the content hash is the
    /// container's SHA-512, as posthog-cli sends it. The release is the run's (the release the
    /// build resolved), as posthog-cli binds it.
    fn prepare(&self, cx: &Context<'_>) -> Result<Prepared, SetError> {
        let (text, _) = read(&self.path).map_err(skip)?;
        let c = build(&self.path, &text)?;
        Ok(Prepared::of_container(
            self.map_id.clone(),
            cx.release_id,
            text.as_bytes(),
            c,
        ))
    }

    fn write_container(&self, prepared: &Prepared) -> Result<Vec<u8>, SetError> {
        let (text, _) = read(&self.path).map_err(skip)?;
        let d = digest(text.as_bytes());
        prepared.unchanged(&self.path, d, d)?;
        build(&self.path, &text)
    }
}

fn build(path: &Path, text: &str) -> Result<Vec<u8>, SetError> {
    let c = container::build(Kind::ProguardMapping, &[text.as_bytes()])
        .map_err(|e| SetError::container(path, &e))?;
    if c.len() as u64 > container::MAX_SET_BYTES {
        return Err(SetError::TooLarge {
            bytes: c.len() as u64,
        });
    }
    Ok(c)
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "tests build fixtures in temporary directories"
)]
mod tests {
    use super::*;

    fn fixture(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/proguard")
            .join(rel)
    }

    #[test]
    fn the_fixtures_are_valid_and_r8_is_recognised() {
        let pg = check(&fixture("proguard-6.2.2/mapping.txt")).unwrap();
        assert!(!pg.r8 && pg.line_info, "{pg:?}");
        let r8 = check(&fixture("r8-derived/mapping.txt")).unwrap();
        assert!(r8.r8 && r8.line_info, "{r8:?}");
    }

    #[test]
    fn what_is_not_a_mapping_is_refused_with_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&str, &[u8], &str); 4] = [
            ("empty.txt", b"", "invalid_mapping"),
            // a class with no member: proguard's is_valid wants a member after a class
            ("class-only.txt", b"com.a.B -> a:\n", "invalid_mapping"),
            ("json.txt", b"{\"version\":3}", "invalid_mapping"),
            ("latin1.txt", b"com.a.B -> a:\n    int \xe9 -> a\n", "not_utf8"),
        ];
        for (name, bytes, code) in cases {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            let e = check(&p).unwrap_err();
            assert_eq!(e.code(), code, "{name}: {e}");
            assert!(e.to_string().contains(name), "{e}");
        }
        let e = check(&dir.path().join("missing.txt")).unwrap_err();
        assert_eq!(e.code(), "unreadable");
    }

    #[test]
    fn the_set_sends_the_text_under_the_map_id() {
        let m = Mapping {
            path: fixture("proguard-6.2.2/mapping.txt"),
            map_id: "6322fcf1-2071-3e2c-be64-68917a9cfecf".into(),
        };
        let cx = Context {
            mode: symship_core::release_mode::ReleaseMode::Event,
            release_id: None,
            build_small: true,
            memo: None,
        };
        let p = m.prepare(&cx).unwrap();
        assert_eq!(p.reference, m.map_id);
        let c = p.container.clone().unwrap();
        let text = std::fs::read_to_string(&m.path).unwrap();
        assert_eq!(
            container::read_any(&c).unwrap(),
            container::Payload::ProguardMapping(text)
        );
        assert_eq!(p.content_hash, container::content_hash(&c));
        assert_eq!(m.write_container(&p).unwrap(), c);
    }
}
