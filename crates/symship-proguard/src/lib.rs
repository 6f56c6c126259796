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

use symship_core::code::HasCode;
use symship_core::container;
use symship_core::format::{sniff, Format};
use symship_core::kind::Kind;
use symship_core::set::{Context, Prepared, SetError, SymbolSet};
use symship_core::Code;

/// Why a file is not a usable mapping.
#[derive(Debug, thiserror::Error)]
pub enum ProguardError {
    #[error("cannot read the ProGuard mapping {path}: {source}")]
    Unreadable { path: PathBuf, source: std::io::Error },
    /// Not UTF-8: `what` says what the file is instead ([`not_utf8_what`]).
    #[error("{path} is {what}, but a ProGuard or R8 mapping is plain UTF-8 text: pass the mapping.txt R8 or ProGuard wrote (e.g. app/build/outputs/mapping/release/mapping.txt){}", not_utf8_hint(*.format))]
    NotUtf8 {
        path: PathBuf,
        what: String,
        format: Format,
    },
    #[error("{path} is empty: pass the mapping.txt R8 or ProGuard wrote (e.g. app/build/outputs/mapping/release/mapping.txt), after the minified build that writes it")]
    Empty { path: PathBuf },
    #[error("{path} is not a valid ProGuard mapping file: no class line followed by a field or method line in its first 50 lines (pass the mapping.txt R8 or ProGuard wrote, e.g. app/build/outputs/mapping/release/mapping.txt)")]
    Invalid { path: PathBuf },
}

/// What a file that is not UTF-8 is, in a few words: its format from its first bytes
/// ([`symship_core::format`]: gzip, zip, ELF, Mach-O, UTF-16...), or for text, that it holds
/// bytes that are not UTF-8 (at byte `at` of the file, 0-based).
fn not_utf8_what(head: &[u8], at: u64) -> (String, Format) {
    let format = sniff(&head[..head.len().min(symship_core::format::SNIFF_LEN)]);
    let what = match format {
        Format::Text => format!(
            "text with a byte that is not UTF-8 at byte {at} (saved in another encoding, such as Latin-1 or \
             Windows-1252, or re-encoded by an editor)"
        ),
        other => other.describe().to_string(),
    };
    (what, format)
}

/// What else to do: a compressed file may be a compressed mapping, and text in another encoding
/// converts.
fn not_utf8_hint(format: Format) -> &'static str {
    match format {
        f if f.is_compressed() => {
            "; if it is a compressed mapping, decompress it (gunzip, zstd -d, xz -d) and pass the text"
        }
        Format::Text => {
            "; a mapping saved in another encoding converts with iconv (e.g. iconv -f latin1 -t utf-8)"
        }
        _ => "",
    }
}

/// Its code in symship's registry (title and hint there): the binary reports it with the error
/// that stops a run ([`symship_core::code::Coded`]).
impl HasCode for ProguardError {
    fn code(&self) -> Code {
        match self {
            ProguardError::Unreadable { .. } => Code::Unreadable,
            ProguardError::NotUtf8 { .. } => Code::NotUtf8,
            ProguardError::Invalid { .. } | ProguardError::Empty { .. } => Code::InvalidMapping,
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

/// Bytes read at a time by [`stream`].
const BLOCK: usize = 1 << 20;

/// Reads `path` once, in blocks of whole lines of about `block` bytes, checking it is a mapping
/// as [`check_bytes`] does (UTF-8, `is_valid` on its head, R8's header, line info) and handing
/// each block to `sink` in order: memory stays one block whatever the mapping's size (a 200 MiB
/// mapping was read whole, and then its text held beside its container). The head `is_valid`
/// and the R8 check look at holds at least their 50 records (or the whole file). A block ends
/// after a `\n` (ASCII, so each block is valid UTF-8 on its own exactly when the file is).
fn stream(path: &Path, block: usize, sink: &mut dyn FnMut(&[u8])) -> Result<Summary, ProguardError> {
    use std::io::Read as _;
    let unreadable = |source| ProguardError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    let mut buf: Vec<u8> = Vec::with_capacity(block + 4096);
    let mut len = 0u64;
    let mut head_checked = false;
    let mut summary = Summary {
        len: 0,
        r8: false,
        line_info: false,
    };
    let mut eof = false;
    while !eof {
        // fill up to a block, then on to the end of its last line
        let start = buf.len();
        buf.resize(start.max(block) + 4096, 0);
        let mut filled = start;
        loop {
            let n = file.read(&mut buf[filled..]).map_err(unreadable)?;
            filled += n;
            if n == 0 {
                eof = true;
                break;
            }
            if filled == buf.len() {
                buf.resize(buf.len() * 2, 0);
            }
            if filled >= block && buf[..filled].contains(&b'\n') {
                break;
            }
        }
        buf.truncate(filled);
        let cut = if eof {
            buf.len()
        } else {
            buf.iter().rposition(|&b| b == b'\n').map_or(buf.len(), |i| i + 1)
        };
        let lines = &buf[..cut];
        if !head_checked {
            // the head must hold the records `is_valid` reads, unless the file ends first
            if !eof && lines.iter().filter(|&&b| b == b'\n').count() <= 50 {
                continue;
            }
            // (check_bytes checks the head is UTF-8)
            let head = check_bytes(path, lines)?;
            summary.r8 = head.r8;
            summary.line_info = head.line_info;
            head_checked = true;
        } else {
            std::str::from_utf8(lines).map_err(|e| {
                // the head was UTF-8 text: this is text in another encoding
                let (what, format) = not_utf8_what(b"", len + e.valid_up_to() as u64);
                ProguardError::NotUtf8 {
                    path: path.to_path_buf(),
                    what,
                    format,
                }
            })?;
            if !summary.line_info {
                summary.line_info = proguard::ProguardMapping::new(lines).has_line_info();
            }
        }
        len += lines.len() as u64;
        sink(lines);
        buf.drain(..cut);
    }
    summary.len = len;
    Ok(summary)
}

/// Checks a mapping held in memory (see the crate docs; a file: [`check`]).
pub fn check_bytes(path: &Path, bytes: &[u8]) -> Result<Summary, ProguardError> {
    if bytes.is_empty() {
        return Err(ProguardError::Empty {
            path: path.to_path_buf(),
        });
    }
    if let Err(e) = std::str::from_utf8(bytes) {
        let (what, format) = not_utf8_what(bytes, e.valid_up_to() as u64);
        return Err(ProguardError::NotUtf8 {
            path: path.to_path_buf(),
            what,
            format,
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

/// Checks a file is a mapping without keeping its text (read in blocks: [`stream`]).
pub fn check(path: &Path) -> Result<Summary, ProguardError> {
    stream(path, BLOCK, &mut |_| {})
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
        let (c, d, len) = build(&self.path, BLOCK)?;
        Ok(Prepared::of_digested(
            self.map_id.clone(),
            cx.release_id,
            d,
            len,
            c,
        ))
    }

    fn write_container(&self, prepared: &Prepared) -> Result<Vec<u8>, SetError> {
        let (c, d, _) = build(&self.path, BLOCK)?;
        prepared.unchanged(&self.path, d, d)?;
        Ok(c)
    }
}

/// The mapping's container, built as the file is read in blocks ([`stream`]), and the SHA-256
/// of the file as read, and its length (bytes). The payload length pledged in the zstd frame is the file's size when
/// opened: a file that changes size meanwhile fails the frame (refused, not sent).
fn build(path: &Path, block: usize) -> Result<(Vec<u8>, [u8; 32], u64), SetError> {
    use sha2::Digest as _;
    use std::io::Write as _;
    let len = std::fs::metadata(path)
        .map_err(|e| SetError::unreadable(path, &e))?
        .len();
    let mut w = container::Writer::new(container::out_for(len), Kind::ProguardMapping, len)
        .map_err(|e| SetError::container(path, &e))?;
    let mut hash = sha2::Sha256::new();
    let mut written: std::io::Result<()> = Ok(());
    stream(path, block, &mut |lines| {
        hash.update(lines);
        if written.is_ok() {
            written = w.write_all(lines);
        }
    })
    .map_err(skip)?;
    written.map_err(|e| SetError::container(path, &e))?;
    let c = w.finish().map_err(|e| SetError::container(path, &e))?;
    if c.len() as u64 > container::MAX_SET_BYTES {
        return Err(SetError::TooLarge {
            bytes: c.len() as u64,
        });
    }
    Ok((c, hash.finalize().into(), len))
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
            // an empty file is said to be empty, not to lack class lines
            assert_eq!(e.to_string().contains(" is empty"), bytes.is_empty(), "{e}");
        }
        let e = check(&dir.path().join("missing.txt")).unwrap_err();
        assert_eq!(e.code(), "unreadable");
    }

    /// Read in blocks of any size, a mapping gives what reading it whole gives: the same
    /// verdicts, the same container (byte for byte) and digest; a bad byte or the first line
    /// numbers far past the head are still found.
    #[test]
    fn reading_in_blocks_equals_reading_whole() {
        let dir = tempfile::tempdir().unwrap();
        let late = dir.path().join("late.txt");
        let mut text = String::from("com.a.B -> a:\n");
        for i in 0..300 {
            text.push_str(&format!("    int field{i} -> f{i}\n"));
        }
        text.push_str("    void run() -> b\n    3:4:void go():10:11 -> c\n");
        std::fs::write(&late, &text).unwrap();
        let bad = dir.path().join("bad.txt");
        let mut bytes = text.clone().into_bytes();
        bytes.extend_from_slice(b"    int \xe9 -> z\n");
        std::fs::write(&bad, &bytes).unwrap();
        for path in [
            fixture("proguard-6.2.2/mapping.txt"),
            fixture("r8-derived/mapping.txt"),
            late.clone(),
        ] {
            let whole = std::fs::read(&path).unwrap();
            let expected = check_bytes(&path, &whole).unwrap();
            let container = container::build(Kind::ProguardMapping, &[&whole]).unwrap();
            for block in [1, 7, 64, 4096, BLOCK] {
                assert_eq!(
                    stream(&path, block, &mut |_| {}).unwrap(),
                    expected,
                    "{} / {block}",
                    path.display()
                );
                let (c, d, len) = build(&path, block).unwrap();
                assert_eq!(c, container, "{} / {block}", path.display());
                assert_eq!(d, symship_core::set::digest(&whole));
                assert_eq!(len, whole.len() as u64);
            }
        }
        assert!(check(&late).unwrap().line_info);
        for block in [1, 64, BLOCK] {
            let e = stream(&bad, block, &mut |_| {}).unwrap_err();
            assert_eq!(e.code(), "not_utf8", "{block}: {e}");
        }
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
            container::Payload::ProguardMapping(text.clone())
        );
        assert_eq!(p.content_hash, container::content_hash(&c));
        // the memory budget and batch sizes count the mapping's bytes
        assert_eq!(p.input_bytes, text.len() as u64);
        assert_eq!(p.digest, symship_core::set::digest(text.as_bytes()));
        assert_eq!(m.write_container(&p).unwrap(), c);
    }
}
