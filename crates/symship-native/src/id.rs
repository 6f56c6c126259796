//! Debug ids: the `ref` PostHog stores a native symbol set under (`kinds-and-explain.md` §3.2).
//!
//! - ELF: the debug id symbolic derives from the GNU build id, which posthog-cli 0.19.0 sends:
//!   the build id's first 16 bytes (zero-padded if shorter) read as a GUID, so on a little-endian
//!   ELF bytes 0–3, 4–5 and 6–7 are each reversed; hyphenated, lower-case. Build id
//!   `3c8734f7cd9dd104273ad1a45db9639b345efd01` → `f734873c-9dcd-04d1-273a-d1a45db9639b`.
//! - Mach-O: the `LC_UUID`, hyphenated, upper-case (as `dwarfdump --uuid` prints it, and as the
//!   Apple SDK and posthog-cli's `dsym upload` send it).

use std::fmt::Write as _;

/// Formats 16 bytes as a hyphenated UUID (`8-4-4-4-12` hex digits).
fn hyphenated(b: &[u8; 16], upper: bool) -> String {
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        if upper {
            let _ = write!(s, "{byte:02X}");
        } else {
            let _ = write!(s, "{byte:02x}");
        }
    }
    s
}

/// The ref of an ELF file from its GNU build id (`NT_GNU_BUILD_ID` note bytes), or `None` for an
/// empty or all-zero build id (symbolic's nil debug id, which posthog-cli rejects).
/// `little_endian` is the ELF's data encoding (`EI_DATA`).
pub fn elf_debug_id(build_id: &[u8], little_endian: bool) -> Option<String> {
    let mut b = [0u8; 16];
    let n = build_id.len().min(16);
    b[..n].copy_from_slice(&build_id[..n]);
    if b == [0; 16] {
        return None;
    }
    if little_endian {
        b[0..4].reverse();
        b[4..6].reverse();
        b[6..8].reverse();
    }
    Some(hyphenated(&b, false))
}

/// The ref of a Mach-O slice from its `LC_UUID`, or `None` for the nil UUID.
pub fn macho_debug_id(uuid: &[u8; 16]) -> Option<String> {
    (*uuid != [0; 16]).then(|| hyphenated(uuid, true))
}

/// Lower-case hex of a build id, as `readelf -n` prints it (reports).
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn elf_ids_are_guids_of_the_build_id() {
        // kinds-and-explain.md §3.2's worked example and issue 17's.
        let id = elf_debug_id(&unhex("84d24cbc96a2332d234a63ee70551fc2c4a491ec"), true);
        assert_eq!(id.as_deref(), Some("bc4cd284-a296-2d33-234a-63ee70551fc2"));
        let id = elf_debug_id(&unhex("9f2cc4b2b9bfabf0408fb3ad00112233"), true).unwrap();
        assert!(id.starts_with("b2c42c9f-bfb9-f0ab-408f-b3ad"), "{id}");
        // big-endian ELF: no swap; short build ids are zero-padded
        assert_eq!(
            elf_debug_id(&unhex("0102030405060708"), false).as_deref(),
            Some("01020304-0506-0708-0000-000000000000")
        );
        assert_eq!(elf_debug_id(&[0; 20], true), None);
        assert_eq!(elf_debug_id(&[], true), None);
    }

    #[test]
    fn macho_ids_are_upper_case() {
        let uuid: [u8; 16] = unhex("4c4c446c55553144a1d9daa576af6d79").try_into().unwrap();
        assert_eq!(
            macho_debug_id(&uuid).as_deref(),
            Some("4C4C446C-5555-3144-A1D9-DAA576AF6D79")
        );
        assert_eq!(macho_debug_id(&[0; 16]), None);
    }
}
