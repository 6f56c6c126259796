//! The posthog-symbol-data v2 container (spec §6): a 31-byte header, then one zstd frame
//! (level 3, decompressed size pledged in the frame header) of
//! `u64le len(source) ‖ source ‖ u64le len(map) ‖ map`.
//!
//! The official `posthog-symbol-data` 0.5.2 writer takes owned `String`s and concatenates them
//! before compressing (two extra copies of the largest thing we handle). This writer streams the
//! parts into the encoder instead; the tests check it produces the same bytes as the crate and
//! that the crate's reader reads them back.

use std::io::Write;

/// `posthog_error_tracking`.
pub const MAGIC: &[u8; 22] = b"posthog_error_tracking";
/// Container version written.
pub const VERSION: u32 = 2;
/// Type tag of SourceAndMap.
pub const SOURCE_AND_MAP: u32 = 2;
/// Compression byte: zstd.
pub const COMPRESSION_ZSTD: u8 = 1;
/// zstd level posthog-cli uses.
pub const ZSTD_LEVEL: i32 = 3;
/// Header bytes before the zstd frame.
pub const HEADER_LEN: usize = MAGIC.len() + 4 + 4 + 1;
/// The largest symbol set PostHog accepts (compressed container bytes).
pub const MAX_SET_BYTES: u64 = 100 * 1024 * 1024;

/// Whether the container of a chunk and map of `input` bytes in all could be over
/// [`MAX_SET_BYTES`]: zstd never makes data larger than its compress bound, so below that the
/// size need not be measured before the upload is started.
pub fn could_exceed_limit(input: u64) -> bool {
    let raw = input.saturating_add(16);
    let bound = zstd::zstd_safe::compress_bound(raw.min(usize::MAX as u64) as usize) as u64;
    bound.saturating_add(HEADER_LEN as u64 + 64) > MAX_SET_BYTES
}

/// Builds the SourceAndMap container for an injected chunk and its map.
pub fn source_and_map(source: &[u8], map: &[u8]) -> std::io::Result<Vec<u8>> {
    let raw_len = 8 + source.len() as u64 + 8 + map.len() as u64;
    // Maps compress well; start at a quarter and let the vector grow if needed.
    let mut out = Vec::with_capacity(HEADER_LEN + (raw_len as usize) / 4 + 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&SOURCE_AND_MAP.to_le_bytes());
    out.push(COMPRESSION_ZSTD);
    let mut enc = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)?;
    enc.set_pledged_src_size(Some(raw_len))?;
    enc.write_all(&(source.len() as u64).to_le_bytes())?;
    enc.write_all(source)?;
    enc.write_all(&(map.len() as u64).to_le_bytes())?;
    enc.write_all(map)?;
    let mut out = enc.finish()?;
    out.shrink_to_fit();
    Ok(out)
}

/// The most a downloaded container may decompress to (PostHog's symbolication bounds memory
/// with the same frame header field): a 100 MiB container of maps rarely holds more than a few
/// hundred MiB.
pub const MAX_DECOMPRESSED: u64 = 1024 * 1024 * 1024;

/// Checks, before anything is decompressed, that a v2 zstd container declares its decompressed
/// size in the frame header and that it is at most `max` (a small object that would expand to
/// gigabytes is refused). v1 and uncompressed containers are as large as they are.
pub fn check_declared_size(bytes: &[u8], max: u64) -> Result<(), String> {
    if bytes.len() <= HEADER_LEN || !bytes.starts_with(MAGIC) {
        return Ok(()); // not a v2 container: the reader says what is wrong
    }
    let version = u32::from_le_bytes(bytes[22..26].try_into().expect("4 bytes"));
    if version != VERSION || bytes[30] != COMPRESSION_ZSTD {
        return Ok(());
    }
    match zstd::zstd_safe::get_frame_content_size(&bytes[HEADER_LEN..]) {
        Ok(Some(n)) if n <= max => Ok(()),
        Ok(Some(n)) => Err(format!(
            "it would decompress to {n} bytes, more than the {max} a symbol set can hold; not decompressed"
        )),
        Ok(None) => Err("its zstd frame does not declare its decompressed size (posthog-cli's and symship's always do); not decompressed".into()),
        Err(_) => Err("its zstd frame header is not valid".into()),
    }
}

/// Reads a SourceAndMap container (v1 or v2) with the official `posthog-symbol-data` reader:
/// `(minified source, map)`. For checks and `symbol-sets extract`-like tools.
pub fn read(bytes: &[u8]) -> Result<(String, String), String> {
    posthog_symbol_data::read_symbol_data::<posthog_symbol_data::SourceAndMap>(bytes)
        .map(|s| (s.minified_source, s.sourcemap))
        .map_err(|e| e.to_string())
}

/// The container as the official `posthog-symbol-data` writer builds it (for comparisons).
pub fn official(source: &str, map: &str) -> Vec<u8> {
    posthog_symbol_data::write_symbol_data(posthog_symbol_data::SourceAndMap {
        minified_source: source.to_owned(),
        sourcemap: map.to_owned(),
    })
    .expect("writing to memory does not fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use posthog_symbol_data::{read_symbol_data, write_symbol_data, SourceAndMap};

    fn both(source: &str, map: &str) -> (Vec<u8>, Vec<u8>) {
        let ours = source_and_map(source.as_bytes(), map.as_bytes()).unwrap();
        let theirs = write_symbol_data(SourceAndMap {
            minified_source: source.into(),
            sourcemap: map.into(),
        })
        .unwrap();
        (ours, theirs)
    }

    #[test]
    fn equals_the_official_writer_and_reads_back() {
        let big_map = format!(
            r#"{{"version":3,"chunk_id":"c","mappings":"{}","sources":["a.ts"]}}"#,
            "AAAA,CAAC;".repeat(300_000)
        );
        let big_src: String = (0..200_000).map(|i| format!("var a{i}={i};")).collect();
        for (src, map) in [
            (
                "console.log(1);\n",
                r#"{"version":3,"chunk_id":"x","mappings":"AAAA"}"#,
            ),
            ("", "{}"),
            (big_src.as_str(), big_map.as_str()),
        ] {
            let (ours, theirs) = both(src, map);
            assert_eq!(ours, theirs, "byte-identical to posthog-symbol-data 0.5.2");
            let back: SourceAndMap = read_symbol_data(&ours).unwrap();
            assert_eq!(back.minified_source, src);
            assert_eq!(back.sourcemap, map);
        }
    }

    #[test]
    fn the_size_bound_is_safe() {
        assert!(!could_exceed_limit(1024));
        assert!(!could_exceed_limit(99 * 1024 * 1024));
        assert!(could_exceed_limit(MAX_SET_BYTES));
        // incompressible input right under the line still fits
        let n = 64 * 1024;
        let data: Vec<u8> = (0..n as u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let c = source_and_map(&data, b"{}").unwrap();
        let bound = zstd::zstd_safe::compress_bound(n + 2 + 16) + HEADER_LEN;
        assert!(c.len() <= bound, "{} <= {bound}", c.len());
    }

    #[test]
    fn a_container_declaring_more_than_the_limit_is_refused_before_decompression() {
        let ok = source_and_map(b"x", b"{}").unwrap();
        assert_eq!(check_declared_size(&ok, MAX_DECOMPRESSED), Ok(()));
        // zeros compress to almost nothing: a bomb (64 MiB against a 16 MiB limit here; the
        // real limit is MAX_DECOMPRESSED)
        let mut bomb = Vec::new();
        bomb.extend_from_slice(MAGIC);
        bomb.extend_from_slice(&VERSION.to_le_bytes());
        bomb.extend_from_slice(&SOURCE_AND_MAP.to_le_bytes());
        bomb.push(COMPRESSION_ZSTD);
        let n = 64u64 << 20;
        let mut enc = zstd::stream::write::Encoder::new(bomb, 1).unwrap();
        enc.set_pledged_src_size(Some(n)).unwrap();
        std::io::copy(&mut std::io::Read::take(std::io::repeat(0), n), &mut enc).unwrap();
        let bomb = enc.finish().unwrap();
        assert!(bomb.len() < 1024 * 1024, "{}", bomb.len());
        let err = check_declared_size(&bomb, 16 << 20).unwrap_err();
        assert!(err.contains(&n.to_string()), "{err}");
        assert_eq!(check_declared_size(&bomb, n), Ok(()));
        // a frame without a declared size
        let mut enc = zstd::stream::write::Encoder::new(ok[..HEADER_LEN].to_vec(), 3).unwrap();
        std::io::Write::write_all(&mut enc, b"abc").unwrap();
        let unknown = enc.finish().unwrap();
        assert!(matches!(
            zstd::zstd_safe::get_frame_content_size(&unknown[HEADER_LEN..]),
            Ok(None)
        ));
        assert!(check_declared_size(&unknown, MAX_DECOMPRESSED).is_err());
    }

    #[test]
    fn header_and_pledged_size() {
        let src = "console.log(1);";
        let map = r#"{"chunk_id":"x"}"#;
        let c = source_and_map(src.as_bytes(), map.as_bytes()).unwrap();
        assert_eq!(&c[..22], MAGIC);
        assert_eq!(u32::from_le_bytes(c[22..26].try_into().unwrap()), 2);
        assert_eq!(u32::from_le_bytes(c[26..30].try_into().unwrap()), 2);
        assert_eq!(c[30], 1);
        let frame = &c[HEADER_LEN..];
        let size = zstd::zstd_safe::get_frame_content_size(frame).unwrap();
        assert_eq!(size, Some((16 + src.len() + map.len()) as u64));
    }
}
